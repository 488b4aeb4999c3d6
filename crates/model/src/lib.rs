//! Domain values of logsight: validated names, log events, retention, service limits and times.
//!
//! Every value here is checked once, at construction, so the rest of the system can take a
//! [`LogGroupName`] or a [`LogEvent`] and trust it. The crate does no I/O and knows nothing of
//! storage, gRPC or the query engine: it is the vocabulary the other crates share.
//!
//! # Layout
//! - [`names`]: log group and stream names with CloudWatch's character rules.
//! - [`event`]: [`LogEvent`] and message validation.
//! - [`producer`]: [`ProducerId`], which tags batches of idempotent ingest.
//! - [`retention`]: the retention periods CloudWatch accepts.
//! - [`limits`]: service limits (batch sizes, clock skew windows).
//! - [`time`]: epoch-millisecond times, half-open ranges and parsing of user-written times.
//! - [`time_format`]: finding and reading the timestamp inside a log line.
//!
//! ```
//! use logsight_model::{LogGroupName, RetentionDays};
//! let group = LogGroupName::new("/aws/lambda/checkout").unwrap();
//! assert_eq!(group.as_str(), "/aws/lambda/checkout");
//! assert!(RetentionDays::new(30).is_ok());
//! assert!(RetentionDays::new(31).is_err());
//! ```

pub mod event;
pub mod limits;
pub mod names;
pub mod producer;
pub mod retention;
pub mod time;
pub mod time_format;

pub use event::LogEvent;
pub use names::{LogGroupName, LogStreamName};
pub use producer::ProducerId;
pub use retention::RetentionDays;
pub use time::{TimeRange, Timestamp, parse_rfc3339, parse_time};
pub use time_format::TimestampFormat;

/// Why a value was rejected. Each variant names the rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A log group name broke a naming rule.
    #[error("invalid log group name {name:?}: {rule}")]
    InvalidGroupName {
        /// The rejected name (truncated to 80 characters).
        name: String,
        /// The rule it broke.
        rule: &'static str,
    },
    /// A log stream name broke a naming rule.
    #[error("invalid log stream name {name:?}: {rule}")]
    InvalidStreamName {
        /// The rejected name (truncated to 80 characters).
        name: String,
        /// The rule it broke.
        rule: &'static str,
    },
    /// A producer id broke a rule.
    #[error("invalid producer id {id:?}: {rule}")]
    InvalidProducerId {
        /// The rejected id (truncated to 80 characters).
        id: String,
        /// The rule it broke.
        rule: &'static str,
    },
    /// A message was empty or too large.
    #[error("invalid log event message: {rule}")]
    InvalidMessage {
        /// The rule it broke.
        rule: String,
    },
    /// A retention period that CloudWatch does not offer.
    #[error(
        "invalid retention {days} days: must be one of {}",
        retention::VALID_DAYS.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
    )]
    InvalidRetention {
        /// The rejected number of days.
        days: i64,
    },
    /// A time that could not be parsed.
    #[error(
        "invalid time {input:?}: expected a duration ago (15m, 2h, 7d), a date (2026-11-26, \"2026-11-26 08:00\", UTC), RFC 3339 (2024-05-01T12:00:00Z), epoch milliseconds, or `now`"
    )]
    InvalidTime {
        /// The rejected text.
        input: String,
    },
    /// A `--timestamp-format` that is neither a preset nor a usable strftime format.
    #[error(
        "invalid timestamp format {format:?}: {why} (presets: {}; or a strftime format such as \"%Y-%m-%d %H:%M:%S\")",
        time_format::PRESETS.join(", ")
    )]
    InvalidTimestampFormat {
        /// The rejected format.
        format: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Truncates a user-supplied value for inclusion in an error message.
fn shown(value: &str) -> String {
    const MAX: usize = 80;
    match value.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}
