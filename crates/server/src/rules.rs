//! The PutLogEvents rules, exactly as CloudWatch applies them, as pure functions.
//!
//! A batch is refused whole when it is empty, too large, holds a bad message, is not in
//! chronological order, or its valid events span more than 24 h. Otherwise events too far in
//! the future, too old, or older than the group's retention are rejected and reported by index,
//! and the rest are stored.

use logsight_model::limits::{
    EVENT_OVERHEAD_BYTES, MAX_AGE_MS, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_BATCH_SPAN_MS,
    MAX_FUTURE_MS,
};
use logsight_model::{LogEvent, ModelError, RetentionDays};

use crate::error::{Result, ServiceError};

/// Which events of a batch were rejected (CloudWatch's `rejectedLogEventsInfo`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Events from this index on were more than 2 h in the future.
    pub too_new_start: Option<usize>,
    /// Events before this index were older than 14 days.
    pub too_old_end: Option<usize>,
    /// Events before this index were older than the group's retention.
    pub expired_end: Option<usize>,
}

impl Rejected {
    /// Whether any event was rejected.
    pub fn any(&self) -> bool {
        self.too_new_start.is_some() || self.too_old_end.is_some() || self.expired_end.is_some()
    }
}

/// A checked batch: the events to store and what was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The accepted events, in batch order, stamped with the ingestion time.
    pub accepted: Vec<LogEvent>,
    /// The rejected ones.
    pub rejected: Rejected,
}

/// The size CloudWatch charges a batch: UTF-8 message bytes plus 26 per event.
pub fn batch_bytes<'a>(messages: impl IntoIterator<Item = &'a str>) -> usize {
    messages.into_iter().map(|m| m.len() + EVENT_OVERHEAD_BYTES).sum()
}

/// Applies the PutLogEvents rules to `events` (timestamp, message) arriving at `now`.
pub fn check_batch(
    events: Vec<(i64, String)>,
    now: i64,
    retention: Option<RetentionDays>,
) -> Result<Checked> {
    if events.is_empty() {
        return Err(ServiceError::invalid("log_events must hold at least 1 event, got 0"));
    }
    if events.len() > MAX_BATCH_EVENTS {
        return Err(ServiceError::invalid(format!(
            "log_events holds {} events, more than the limit of {MAX_BATCH_EVENTS}",
            events.len()
        )));
    }
    let size = batch_bytes(events.iter().map(|(_, m)| m.as_str()));
    if size > MAX_BATCH_BYTES {
        return Err(ServiceError::invalid(format!(
            "the batch is {size} bytes (message bytes + {EVENT_OVERHEAD_BYTES} per event), more than the limit of {MAX_BATCH_BYTES} bytes"
        )));
    }
    // The message rule is the model's, the one every `LogEvent` is built by.
    let events = events
        .into_iter()
        .enumerate()
        .map(|(i, (t, m))| {
            LogEvent::new(t, now, m).map_err(|e| match e {
                ModelError::InvalidMessage { rule } => {
                    ServiceError::invalid(format!("log_events[{i}].message {rule}"))
                }
                other => other.into(),
            })
        })
        .collect::<Result<Vec<LogEvent>>>()?;
    if let Some(i) = events.windows(2).position(|w| w[1].timestamp() < w[0].timestamp()) {
        return Err(ServiceError::invalid(format!(
            "Log events in a single PutLogEvents request must be in chronological order: log_events[{}].timestamp {} is before log_events[{i}].timestamp {}",
            i + 1,
            events[i + 1].timestamp(),
            events[i].timestamp()
        )));
    }
    let n = events.len();
    let too_old = events.partition_point(|e| e.timestamp() < now.saturating_sub(MAX_AGE_MS));
    let expired = retention.map_or(0, |r| {
        events.partition_point(|e| e.timestamp() < now.saturating_sub(r.as_millis()))
    });
    let too_new = events.partition_point(|e| e.timestamp() <= now.saturating_add(MAX_FUTURE_MS));
    let rejected = Rejected {
        too_new_start: (too_new < n).then_some(too_new),
        too_old_end: (too_old > 0).then_some(too_old),
        expired_end: (expired > 0).then_some(expired),
    };
    let lo = too_old.max(expired).min(too_new);
    let valid = &events[lo..too_new];
    if let (Some(first), Some(last)) = (valid.first(), valid.last())
        && last.timestamp() - first.timestamp() > MAX_BATCH_SPAN_MS
    {
        return Err(ServiceError::invalid(format!(
            "the log events in the batch span {} ms (from {} to {}), more than the limit of 24 hours",
            last.timestamp() - first.timestamp(),
            first.timestamp(),
            last.timestamp()
        )));
    }
    let accepted = events.into_iter().skip(lo).take(too_new - lo).collect();
    Ok(Checked { accepted, rejected })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    fn batch(ts: &[i64]) -> Vec<(i64, String)> {
        ts.iter().map(|t| (*t, format!("m{t}"))).collect()
    }

    fn msg(r: Result<Checked>) -> String {
        match r {
            Err(ServiceError::InvalidParameter(m)) => m,
            other => panic!("expected InvalidParameter, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_plain_batch() {
        let c = check_batch(batch(&[NOW - 5, NOW, NOW]), NOW, None).unwrap();
        assert_eq!(c.accepted.len(), 3);
        assert_eq!(c.rejected, Rejected::default());
        assert!(c.accepted.iter().all(|e| e.ingestion_time() == NOW));
    }

    #[test]
    fn refuses_whole_batches() {
        assert!(msg(check_batch(vec![], NOW, None)).contains("at least 1 event"));
        assert!(msg(check_batch(batch(&[NOW; 10_001]), NOW, None)).contains("10001 events"));
        let big = vec![(NOW, "x".repeat(600_000)), (NOW, "y".repeat(600_000))];
        assert!(msg(check_batch(big, NOW, None)).contains("1200052 bytes"));
        // Exactly at the limit is fine: 1,048,576 = (1,048,550 + 26).
        assert!(check_batch(vec![(NOW, "x".repeat(1_048_550))], NOW, None).is_ok());
        assert!(check_batch(vec![(NOW, "x".repeat(1_048_551))], NOW, None).is_err());
        assert!(msg(check_batch(vec![(NOW, String::new())], NOW, None)).contains("[0].message"));
        let m = msg(check_batch(batch(&[NOW, NOW - 1]), NOW, None));
        assert!(
            m.starts_with(
                "Log events in a single PutLogEvents request must be in chronological order"
            ),
            "{m}"
        );
        assert!(m.contains("log_events[1].timestamp"), "{m}");
        let m = msg(check_batch(batch(&[NOW - 25 * H, NOW]), NOW, None));
        assert!(m.contains("more than the limit of 24 hours"), "{m}");
        // The span counts valid events only.
        let c = check_batch(batch(&[NOW - 15 * D, NOW]), NOW, None).unwrap();
        assert_eq!(c.accepted.len(), 1);
    }

    #[test]
    fn rejects_by_index() {
        let ts = [NOW - 15 * D, NOW - 14 * D - 1, NOW - 14 * D, NOW - 14 * D + 5];
        let c = check_batch(batch(&ts), NOW, None).unwrap();
        assert_eq!(
            c.rejected,
            Rejected { too_new_start: None, too_old_end: Some(2), expired_end: None }
        );
        let kept: Vec<i64> = c.accepted.iter().map(|e| e.timestamp()).collect();
        assert_eq!(kept, vec![NOW - 14 * D, NOW - 14 * D + 5]);
        let ts = [NOW - 15 * D, NOW, NOW + 2 * H, NOW + 2 * H + 1, NOW + 3 * H];
        let c = check_batch(batch(&ts), NOW, None).unwrap();
        assert_eq!(
            c.rejected,
            Rejected { too_new_start: Some(3), too_old_end: Some(1), expired_end: None }
        );
        let kept: Vec<i64> = c.accepted.iter().map(|e| e.timestamp()).collect();
        assert_eq!(kept, vec![NOW, NOW + 2 * H]);
    }

    #[test]
    fn retention_expires_events() {
        let r = RetentionDays::new(1).unwrap();
        let ts = [NOW - 15 * D, NOW - 2 * D, NOW - D - 1, NOW - H];
        let c = check_batch(batch(&ts), NOW, Some(r)).unwrap();
        assert_eq!(
            c.rejected,
            Rejected { too_new_start: None, too_old_end: Some(1), expired_end: Some(3) }
        );
        assert_eq!(c.accepted.len(), 1);
        // Everything rejected: nothing to store, and no span error.
        let c = check_batch(batch(&[NOW + 3 * H, NOW + 30 * H]), NOW, None).unwrap();
        assert!(c.accepted.is_empty());
        assert_eq!(c.rejected.too_new_start, Some(0));
    }
}
