//! The metric-filter consumer: follows the log's durable batches in LSN order and turns
//! matching events into metric data, exactly once across crashes.
//!
//! Each step reads the batches after its position, applies every filter of the batch's group
//! that existed before the batch (`batch.lsn > filter.created_after`), and writes the resulting
//! deltas together with the new position as one fsynced record of the metric store. After a
//! crash the consumer resumes at the recorded position: a batch is either in a record (and not
//! read again) or not (and read again). Steps that produce no data only move the position in
//! memory; it is recorded at most once a second (re-reading such batches after a crash emits
//! nothing either, since no filter older than them exists). The log is asked to hold batches
//! after the recorded position only.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use logsight_metrics::{Aggregate, Delta, MetricKey, MetricStore, Resolution, Write};
use parking_lot::Mutex;

use crate::error::{Result, WatchError};
use crate::filter::MetricFilter;
use crate::filters::FilterRegistry;
use crate::log::{CommittedLog, Lsn};

/// The consumer's name for the log's hold.
pub const CONSUMER_NAME: &str = "metric-filters";
/// Events read per step, at most (about).
pub const MAX_EVENTS_PER_STEP: usize = 20_000;
/// CloudWatch may disable a filter that makes this many dimension combinations in an hour.
pub const MAX_DIMENSION_COMBINATIONS_PER_HOUR: usize = 1_000;

/// The consumer's progress, for operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumerStatus {
    /// The last LSN applied.
    pub position: Lsn,
    /// The last LSN recorded durably with the metric data.
    pub recorded: Lsn,
    /// The log's committed LSN when last looked at.
    pub committed: Lsn,
    /// Batches the log had dropped before they were read (never expected; see the log).
    pub lost_batches: u64,
}

impl ConsumerStatus {
    /// Committed batches not yet applied.
    pub fn lag(&self) -> u64 {
        self.committed.get().saturating_sub(self.position.get())
    }
}

/// One step's data: series → (unit, 10-second bucket → samples).
type Deltas = HashMap<MetricKey, (Option<String>, HashMap<i64, Aggregate>)>;

/// Per filter: the hour and the dimension combinations seen in it.
type DimensionBudget = HashMap<(String, String), (i64, HashSet<MetricKey>)>;

/// The consumer. Drive it with [`Consumer::step`] or [`Consumer::run`].
pub struct Consumer {
    log: Arc<dyn CommittedLog>,
    filters: Arc<FilterRegistry>,
    metrics: Arc<MetricStore>,
    position: Lsn,
    recorded: Lsn,
    last_record: Instant,
    budget: DimensionBudget,
    /// Filters disabled for too many dimension combinations: (group, name) → the filter's
    /// creation LSN (a replaced filter starts afresh).
    disabled: HashMap<(String, String), Lsn>,
    status: Arc<Mutex<ConsumerStatus>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("position", &self.position).finish_non_exhaustive()
    }
}

impl Consumer {
    /// Resumes at the position recorded in `metrics`; a store that never recorded one starts
    /// before the oldest filter, or at the log's end when there is none. Holds the log there.
    pub fn new(
        log: Arc<dyn CommittedLog>,
        filters: Arc<FilterRegistry>,
        metrics: Arc<MetricStore>,
    ) -> Result<Consumer> {
        let mut position = Lsn::new(metrics.position());
        if position == Lsn::ZERO {
            position = filters.earliest_created_after().unwrap_or_else(|| log.committed_lsn());
            metrics.apply(Write { position: Some(position.get()), deltas: Vec::new() })?;
        }
        log.hold_committed(CONSUMER_NAME, position)?;
        let status = ConsumerStatus {
            position,
            recorded: position,
            committed: log.committed_lsn(),
            lost_batches: 0,
        };
        Ok(Consumer {
            log,
            filters,
            metrics,
            position,
            recorded: position,
            last_record: Instant::now(),
            budget: HashMap::new(),
            disabled: HashMap::new(),
            status: Arc::new(Mutex::new(status)),
        })
    }

    /// A handle on the consumer's status.
    pub fn status(&self) -> Arc<Mutex<ConsumerStatus>> {
        Arc::clone(&self.status)
    }

    /// Reads and applies one round of batches (waiting up to `wait` for one). Returns how many
    /// batches were applied.
    pub fn step(&mut self, wait: Duration) -> Result<usize> {
        let batches = match self.log.read_committed(self.position, MAX_EVENTS_PER_STEP, wait) {
            Ok(b) => b,
            Err(WatchError::LsnUnavailable { after }) => {
                // Retention removed batches we held: report it loudly and go on from the end.
                let committed = self.log.committed_lsn();
                tracing::error!(after, %committed, "metric filters skip batches the log no longer holds");
                self.status.lock().lost_batches += committed.get().saturating_sub(after);
                self.position = committed;
                self.record(true)?;
                self.publish();
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let Some(last) = batches.last().map(|b| b.lsn) else {
            self.record(false)?;
            self.publish();
            return Ok(0);
        };
        let mut deltas = Deltas::new();
        let filters = self.filters.snapshot();
        for batch in &batches {
            let Some(group_filters) = filters.get(&*batch.group) else { continue };
            for f in group_filters.iter().filter(|f| batch.lsn > f.created_after()) {
                if self.disabled.get(&id(f)).is_some_and(|at| *at == f.created_after()) {
                    continue;
                }
                self.apply_filter(f, batch, &mut deltas);
            }
        }
        self.position = last;
        if deltas.is_empty() {
            self.record(false)?;
        } else {
            let deltas = deltas
                .into_iter()
                .flat_map(|(key, (unit, buckets))| {
                    buckets.into_iter().map(move |(timestamp_ms, aggregate)| Delta {
                        key: key.clone(),
                        timestamp_ms,
                        aggregate,
                        unit: unit.clone(),
                    })
                })
                .collect();
            self.metrics.apply(Write { position: Some(last.get()), deltas })?;
            self.recorded = last;
            self.hold()?;
        }
        self.publish();
        Ok(batches.len())
    }

    fn publish(&self) {
        let mut s = self.status.lock();
        s.position = self.position;
        s.recorded = self.recorded;
        s.committed = self.log.committed_lsn();
    }

    fn apply_filter(
        &mut self,
        f: &Arc<MetricFilter>,
        batch: &crate::log::CommittedBatch,
        deltas: &mut Deltas,
    ) {
        let unit = &f.spec().unit;
        let mut add = |key: &MetricKey, t: i64, v: f64| {
            let bucket = Resolution::TenSeconds.bucket_of(t);
            // Look up by reference first: cloning a key per event would dominate the cost.
            let series = match deltas.get_mut(key) {
                Some(s) => s,
                None => deltas.entry(key.clone()).or_insert_with(|| (unit.clone(), HashMap::new())),
            };
            series.1.entry(bucket).or_default().add(v);
        };
        // Minutes with events, and with matches, for the default value.
        let mut minutes: HashMap<i64, bool> = HashMap::new();
        let track_default = f.spec().default_value.is_some();
        for e in &batch.events {
            let emitted = f.emit(&e.message);
            if track_default {
                *minutes.entry(Resolution::Minute.bucket_of(e.timestamp)).or_default() |=
                    emitted.is_some();
            }
            let Some(em) = emitted else { continue };
            if f.fixed_key().is_none() && !self.within_budget(f, &em.key, e.ingestion_time) {
                continue;
            }
            add(&em.key, e.timestamp, em.value);
        }
        if let (Some(default), Some(key)) = (f.spec().default_value, f.fixed_key()) {
            for (minute, _) in minutes.into_iter().filter(|(_, matched)| !matched) {
                add(key, minute, default);
            }
        }
    }

    /// Counts a dimension combination against the filter's hourly budget; past it the filter is
    /// disabled, as CloudWatch may do.
    fn within_budget(&mut self, f: &Arc<MetricFilter>, key: &MetricKey, now_ms: i64) -> bool {
        let hour = now_ms.div_euclid(3_600_000);
        let entry = self.budget.entry(id(f)).or_insert_with(|| (hour, HashSet::new()));
        if entry.0 != hour {
            *entry = (hour, HashSet::new());
        }
        if entry.1.contains(key) {
            return true;
        }
        if entry.1.len() >= MAX_DIMENSION_COMBINATIONS_PER_HOUR {
            tracing::warn!(group = %f.spec().group, filter = %f.spec().name, "metric filter disabled: over {MAX_DIMENSION_COMBINATIONS_PER_HOUR} dimension combinations in an hour");
            self.disabled.insert(id(f), f.created_after());
            return false;
        }
        entry.1.insert(key.clone());
        true
    }

    /// Records the in-memory position when it moved, at most once a second unless `now`.
    fn record(&mut self, now: bool) -> Result<()> {
        if self.position == self.recorded
            || (!now && self.last_record.elapsed() < Duration::from_secs(1))
        {
            return Ok(());
        }
        self.metrics.apply(Write { position: Some(self.position.get()), deltas: Vec::new() })?;
        self.recorded = self.position;
        self.hold()
    }

    fn hold(&mut self) -> Result<()> {
        self.last_record = Instant::now();
        self.log.hold_committed(CONSUMER_NAME, self.recorded)
    }

    /// Steps until `stop` is set; an error is logged and retried after a pause.
    pub fn run(mut self, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Acquire) {
            if let Err(e) = self.step(Duration::from_millis(200)) {
                tracing::error!(error = %e, "metric filter consumer step failed; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        if let Err(e) = self.record(true) {
            tracing::warn!(error = %e, "recording the metric filter position at shutdown");
        }
    }
}

fn id(f: &MetricFilter) -> (String, String) {
    (f.spec().group.clone(), f.spec().name.clone())
}

#[cfg(test)]
mod tests;
