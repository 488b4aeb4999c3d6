//! The crate's one error type.

use logsight_alarms::AlarmError;
use logsight_metrics::MetricsError;
use logsight_storage::StorageError;

/// What can go wrong on the Watch side.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A request breaks a rule; the message names it.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field, as CloudWatch names it.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A named filter or alarm does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A quota is reached (filters per group, regex filters per group).
    #[error("{0}")]
    LimitExceeded(String),
    /// The log no longer retains the batches after the consumer's position.
    #[error("the log no longer holds the batches after LSN {after}")]
    LsnUnavailable {
        /// The position asked for.
        after: u64,
    },
    /// An alarm definition error.
    #[error(transparent)]
    Alarm(#[from] AlarmError),
    /// A metric store error.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A log store error.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl WatchError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        WatchError::Invalid { field, message: message.into() }
    }
}

/// The crate's result type.
pub type Result<T, E = WatchError> = std::result::Result<T, E>;
