//! logsight's metric store: per-period aggregates of metric samples, keyed by namespace, name
//! and dimensions, persisted crash-safely.
//!
//! Each sample lands in a 10-second bucket by its timestamp; the bucket's [`Aggregate`] keeps
//! sample count, sum, minimum, maximum and a DDSketch (relative error 1% on percentiles). Each
//! write also merges into 1-minute, 5-minute and 1-hour buckets, and each resolution is kept
//! for its own time ([`Resolution::retention_ms`]: 3 hours, 15 days, 63 days, 455 days, as
//! CloudWatch downsamples), so downsampling is a merge and retention a cut.
//!
//! Durability: a write is one checksummed record appended to the log and fsynced before it is
//! applied in memory; it may carry the writer's position in its source (the metric-filter
//! consumer's LSN), so that position and data are durable together. A checkpoint writes the
//! whole state to `snapshot.json` atomically and starts a new log file.
//!
//! # Layout
//! - [`key`]: [`MetricKey`], validated.
//! - [`aggregate`]: [`Aggregate`] and [`Resolution`].
//! - [`store`]: [`MetricStore`]: writes, recovery, checkpoints and queries.
//! - [`durable`]: small files written whole (JSON + CRC, atomic replace), for other crates too.
//! - `log`: the record framing.

pub mod aggregate;
pub mod durable;
pub mod error;
pub mod key;
mod log;
pub mod store;

pub use aggregate::{Aggregate, Resolution, StatisticSet};
pub use error::{MetricsError, Result};
pub use key::MetricKey;
pub use store::{Delta, MetricStore, MetricStoreOptions, PeriodStats, Write};
