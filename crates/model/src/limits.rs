//! Service limits, as CloudWatch Logs defines them.

/// Largest message, in UTF-8 bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most events in one PutLogEvents batch.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Largest PutLogEvents batch: the sum of message bytes plus [`EVENT_OVERHEAD_BYTES`] per event.
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// Bytes CloudWatch adds to each event when sizing a batch.
pub const EVENT_OVERHEAD_BYTES: usize = 26;
/// Longest time span of the events in one batch, in milliseconds (24 h).
pub const MAX_BATCH_SPAN_MS: i64 = 24 * 3600 * 1000;
/// How far in the future an event may be, in milliseconds (2 h).
pub const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;
/// How old an event may be when it arrives, in milliseconds (14 days).
pub const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
