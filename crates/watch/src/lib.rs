//! The Watch side at run time: metric filters turn log events into metrics, alarms watch
//! metrics and act.
//!
//! # Layout
//! - [`log`]: the seam to the log store ([`CommittedLog`]: durable batches by LSN) and an
//!   in-memory [`MemoryLog`].
//! - [`filter`]: a metric filter's definition and what an event emits; TestMetricFilter.
//! - [`filter_set`]: a group's filters matched together behind one literal pre-filter.
//! - [`filters`]: every group's filters, persisted.
//! - [`consumer`]: the exactly-once consumer from the log into the metric store.
//! - [`alarm_book`]: alarm definitions, states and history, persisted; the evaluation round.
//! - [`actions`]: the bounded action queue: `/logsight/alarms`, webhooks, programs.
//! - [`watch`]: [`Watch`], which runs all of it on its own threads with an injected clock.
pub mod actions;
pub mod alarm_book;
pub mod consumer;
pub mod error;
pub mod filter;
pub mod filter_set;
pub mod filters;
pub mod log;
pub mod watch;

pub use consumer::{Consumer, ConsumerStatus};
pub use error::{Result, WatchError};
pub use filter::{FilterSpec, MetricFilter, TestMatch, test_metric_filter};
pub use filters::{FilterQuery, FilterRegistry};
pub use log::{CommittedBatch, CommittedEvent, CommittedLog, Lsn, MemoryLog};
pub use watch::{MetricDatum, Watch, WatchOptions};
