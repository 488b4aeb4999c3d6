//! Counters of API calls (per operation and outcome, with latency histograms) and ingest, on
//! both protocols, rendered in the Prometheus text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const LATENCY_BUCKETS_S: [f64; 10] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0];

#[derive(Debug, Default, Clone)]
struct OpStats {
    /// Calls by outcome: "ok" or the exception name.
    by_outcome: BTreeMap<String, u64>,
    /// Cumulative counts per bucket (Prometheus `le`).
    buckets: [u64; LATENCY_BUCKETS_S.len()],
    count: u64,
    sum_s: f64,
}

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    ops: Mutex<BTreeMap<(&'static str, String), OpStats>>,
    ingest_events: AtomicU64,
    ingest_bytes: AtomicU64,
}

/// Gauges read at exposition time from their owners.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Bytes of ingest in flight.
    pub ingest_inflight_bytes: u64,
    /// Audit records queued.
    pub audit_queue_depth: u64,
    /// Audit records written, dropped (queue full), failed (store refused).
    pub audit_written: u64,
    /// See `audit_written`.
    pub audit_dropped: u64,
    /// See `audit_written`.
    pub audit_failed: u64,
    /// Live segments, blocks, segment bytes, WAL bytes, buffered events, damaged segments.
    pub segments: u64,
    /// See `segments`.
    pub blocks: u64,
    /// See `segments`.
    pub segment_bytes: u64,
    /// See `segments`.
    pub wal_bytes: u64,
    /// See `segments`.
    pub buffered_events: u64,
    /// See `segments`.
    pub damaged_segments: u64,
    /// Log groups.
    pub groups: u64,
    /// Bytes written by seals since the store opened.
    pub sealed_bytes: u64,
    /// Bytes written by compactions since the store opened.
    pub compacted_bytes: u64,
    /// Logs Insights queries waiting for a slot (`Scheduled`).
    pub queries_scheduled: u64,
    /// Logs Insights queries running.
    pub queries_running: u64,
    /// Metric filters, over every group.
    pub metric_filters: u64,
    /// Committed batches the metric-filter consumer has not applied yet.
    pub metric_filter_lag: u64,
    /// Batches the log dropped before the consumer read them.
    pub metric_filter_lost_batches: u64,
    /// Alarm actions dropped because their queue was full.
    pub alarm_actions_dropped: u64,
}

impl Metrics {
    /// Counts one call of `operation` on `protocol` ("http", "grpc") that ended with
    /// `outcome` ("ok" or an exception name) after `elapsed`.
    pub fn observe(
        &self,
        protocol: &'static str,
        operation: &str,
        outcome: &str,
        elapsed: Duration,
    ) {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        let s = ops.entry((protocol, operation.to_owned())).or_default();
        *s.by_outcome.entry(outcome.to_owned()).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        for (i, le) in LATENCY_BUCKETS_S.iter().enumerate() {
            if secs <= *le {
                s.buckets[i] += 1;
            }
        }
        s.count += 1;
        s.sum_s += secs;
    }

    /// Counts accepted ingest.
    pub fn ingested(&self, events: u64, bytes: u64) {
        self.ingest_events.fetch_add(events, Ordering::Relaxed);
        self.ingest_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let ops = self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone();
        out.push_str("# HELP logsight_api_calls_total API calls by protocol, operation and outcome.\n# TYPE logsight_api_calls_total counter\n");
        for ((proto, op), s) in &ops {
            for (outcome, n) in &s.by_outcome {
                let _ = writeln!(
                    out,
                    "logsight_api_calls_total{{protocol=\"{proto}\",operation=\"{op}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP logsight_api_call_seconds API call latency.\n# TYPE logsight_api_call_seconds histogram\n");
        for ((proto, op), s) in &ops {
            let labels = format!("protocol=\"{proto}\",operation=\"{op}\"");
            for (le, n) in LATENCY_BUCKETS_S.iter().zip(s.buckets) {
                let _ =
                    writeln!(out, "logsight_api_call_seconds_bucket{{{labels},le=\"{le}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "logsight_api_call_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(out, "logsight_api_call_seconds_sum{{{labels}}} {}", s.sum_s);
            let _ = writeln!(out, "logsight_api_call_seconds_count{{{labels}}} {}", s.count);
        }
        let counters = [
            (
                "logsight_ingest_events_total",
                "Events accepted by PutLogEvents and IngestStream.",
                self.ingest_events.load(Ordering::Relaxed),
            ),
            (
                "logsight_ingest_bytes_total",
                "Message bytes accepted.",
                self.ingest_bytes.load(Ordering::Relaxed),
            ),
            ("logsight_audit_records_written_total", "Audit records written.", g.audit_written),
            (
                "logsight_audit_records_dropped_total",
                "Audit records dropped because the queue stayed full.",
                g.audit_dropped,
            ),
            (
                "logsight_audit_records_failed_total",
                "Audit records the store refused.",
                g.audit_failed,
            ),
            ("logsight_sealed_bytes_total", "Bytes written by seals.", g.sealed_bytes),
            ("logsight_compacted_bytes_total", "Bytes written by compactions.", g.compacted_bytes),
            (
                "logsight_metric_filter_lost_batches_total",
                "Committed batches the metric-filter consumer never read.",
                g.metric_filter_lost_batches,
            ),
            (
                "logsight_alarm_actions_dropped_total",
                "Alarm actions dropped because their queue was full.",
                g.alarm_actions_dropped,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        let gauges = [
            (
                "logsight_ingest_inflight_bytes",
                "Bytes of ingest admitted and not yet stored.",
                g.ingest_inflight_bytes,
            ),
            (
                "logsight_audit_queue_depth",
                "Audit records waiting to be written.",
                g.audit_queue_depth,
            ),
            ("logsight_segments", "Live segment files.", g.segments),
            ("logsight_blocks", "Blocks in live segments.", g.blocks),
            ("logsight_segment_bytes", "Bytes of segment files.", g.segment_bytes),
            ("logsight_wal_bytes", "Bytes of write-ahead log files.", g.wal_bytes),
            (
                "logsight_buffered_events",
                "Events buffered, not yet sealed into a segment.",
                g.buffered_events,
            ),
            (
                "logsight_damaged_segments",
                "Segments quarantined after failing their checks.",
                g.damaged_segments,
            ),
            ("logsight_log_groups", "Log groups.", g.groups),
            (
                "logsight_queries_scheduled",
                "Logs Insights queries waiting for a slot.",
                g.queries_scheduled,
            ),
            ("logsight_queries_running", "Logs Insights queries running.", g.queries_running),
            ("logsight_metric_filters", "Metric filters.", g.metric_filters),
            (
                "logsight_metric_filter_lag_batches",
                "Committed batches the metric-filter consumer has not applied yet.",
                g.metric_filter_lag,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counts_add_up() {
        let m = Metrics::default();
        m.observe("http", "PutLogEvents", "ok", Duration::from_micros(700));
        m.observe("http", "PutLogEvents", "ok", Duration::from_millis(20));
        m.observe("http", "PutLogEvents", "AccessDeniedException", Duration::from_secs(20));
        m.ingested(3, 30);
        let text = m.render(&Gauges { audit_queue_depth: 7, ..Default::default() });
        for line in [
            "logsight_api_calls_total{protocol=\"http\",operation=\"PutLogEvents\",outcome=\"ok\"} 2",
            "logsight_api_calls_total{protocol=\"http\",operation=\"PutLogEvents\",outcome=\"AccessDeniedException\"} 1",
            "logsight_api_call_seconds_bucket{protocol=\"http\",operation=\"PutLogEvents\",le=\"0.0005\"} 0",
            "logsight_api_call_seconds_bucket{protocol=\"http\",operation=\"PutLogEvents\",le=\"0.001\"} 1",
            "logsight_api_call_seconds_bucket{protocol=\"http\",operation=\"PutLogEvents\",le=\"0.025\"} 2",
            "logsight_api_call_seconds_bucket{protocol=\"http\",operation=\"PutLogEvents\",le=\"10\"} 2",
            "logsight_api_call_seconds_bucket{protocol=\"http\",operation=\"PutLogEvents\",le=\"+Inf\"} 3",
            "logsight_api_call_seconds_count{protocol=\"http\",operation=\"PutLogEvents\"} 3",
            "logsight_ingest_events_total 3",
            "logsight_ingest_bytes_total 30",
            "logsight_audit_queue_depth 7",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
