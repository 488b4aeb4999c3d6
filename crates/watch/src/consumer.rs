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

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use logsight_metrics::{Aggregate, Delta, MetricKey, MetricStore, Resolution, Write};
use parking_lot::Mutex;

use crate::error::{Result, WatchError};
use crate::filter::{LentDimensions, MetricFilter};
use crate::filter_set::{FilterSet, Scratch};
use crate::filters::FilterRegistry;
use crate::log::{CommittedLog, Lsn};

/// The consumer's name for the log's hold.
pub const CONSUMER_NAME: &str = "metric-filters";
/// Events read per step, at most (about).
pub const MAX_EVENTS_PER_STEP: usize = 20_000;
/// How long [`Consumer::run`] goes on reading after a step's first batch: metric data becomes
/// visible up to this much later, in exchange for one fsynced record per this many ms of ingest.
pub const LINGER: Duration = Duration::from_millis(50);
/// A lingering step stops reading when no batch came for this long.
pub const QUIET: Duration = Duration::from_millis(5);
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

/// Per filter (by address; the entry keeps it alive, so the address is not reused): the hour
/// and the dimension combinations seen in it. A replaced filter is a new one, with a new budget.
type DimensionBudget = HashMap<usize, (Arc<MetricFilter>, i64, HashSet<MetricKey>)>;

/// The log's hold is raised at most this often while batches keep coming (each raise rewrites
/// the store's catalog); an idle step raises it at once.
const HOLD_INTERVAL: Duration = Duration::from_secs(1);

/// The consumer. Drive it with [`Consumer::step`] or [`Consumer::run`].
pub struct Consumer {
    log: Arc<dyn CommittedLog>,
    filters: Arc<FilterRegistry>,
    metrics: Arc<MetricStore>,
    position: Lsn,
    recorded: Lsn,
    last_record: Instant,
    held: Lsn,
    last_hold: Instant,
    budget: DimensionBudget,
    /// Filters disabled for too many dimension combinations: (group, name) → the filter's
    /// creation LSN (a replaced filter starts afresh).
    disabled: HashMap<(String, String), Lsn>,
    /// Disabled during this step, to be saved once its data is recorded.
    newly_disabled: Vec<((String, String), Lsn)>,
    scratch: Scratch,
    status: Arc<Mutex<ConsumerStatus>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("position", &self.position).finish_non_exhaustive()
    }
}

/// What one step's matches add up to, before they become [`Delta`]s.
#[derive(Default)]
struct StepData {
    deltas: Deltas,
    /// Per filter with a default value (by address, alive for the step): its series, value
    /// and unit, the minutes with events and the minutes with a match.
    defaults: HashMap<usize, DefaultTrack>,
}

struct DefaultTrack {
    filter: Arc<MetricFilter>,
    event_minutes: BTreeSet<i64>,
    matched_minutes: BTreeSet<i64>,
}

impl StepData {
    fn add(&mut self, key: &MetricKey, unit: &Option<String>, bucket: i64, agg: Aggregate) {
        // Look up by reference first: cloning a key per add would cost more than the add.
        let series = match self.deltas.get_mut(key) {
            Some(s) => s,
            None => {
                self.deltas.entry(key.clone()).or_insert_with(|| (unit.clone(), HashMap::new()))
            }
        };
        match series.1.entry(bucket) {
            std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(&agg),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(agg);
            }
        }
    }

    fn into_deltas(mut self) -> Vec<Delta> {
        for track in std::mem::take(&mut self.defaults).into_values() {
            let (Some(default), Some(key)) =
                (track.filter.spec().default_value, track.filter.fixed_key())
            else {
                continue;
            };
            for minute in track.event_minutes.difference(&track.matched_minutes) {
                self.add(key, &track.filter.spec().unit, *minute, Aggregate::of(default));
            }
        }
        self.deltas
            .into_iter()
            .flat_map(|(key, (unit, buckets))| {
                buckets.into_iter().map(move |(timestamp_ms, aggregate)| Delta {
                    key: key.clone(),
                    timestamp_ms,
                    aggregate,
                    unit: unit.clone(),
                })
            })
            .collect()
    }
}

/// Samples of a filter whose series is fixed, per 10-second bucket, for one batch: events of a
/// batch share few buckets, so a short list searched from its end beats hashing the key.
#[derive(Default)]
struct FixedBuckets(Vec<(i64, Aggregate)>);

/// One series of a filter with dimensions within a batch.
struct Series {
    key: MetricKey,
    buckets: FixedBuckets,
}

impl FixedBuckets {
    fn add(&mut self, bucket: i64, value: f64) {
        match self.0.iter_mut().rev().find(|(b, _)| *b == bucket) {
            Some((_, agg)) => agg.add(value),
            None => self.0.push((bucket, Aggregate::of(value))),
        }
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
            held: position,
            last_hold: Instant::now(),
            budget: HashMap::new(),
            disabled: HashMap::new(),
            newly_disabled: Vec::new(),
            scratch: Scratch::default(),
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
        self.step_lingering(wait, Duration::ZERO)
    }

    /// Like [`Consumer::step`], but after the first batch goes on reading for up to `linger`
    /// (until [`MAX_EVENTS_PER_STEP`], or until no batch comes for [`QUIET`]), so that under
    /// steady ingest one fsynced record covers many appends instead of one or two.
    pub fn step_lingering(&mut self, wait: Duration, linger: Duration) -> Result<usize> {
        let mut batches = match self.log.read_committed(self.position, MAX_EVENTS_PER_STEP, wait) {
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
        let Some(mut last) = batches.last().map(|b| b.lsn) else {
            self.record(false)?;
            self.raise_hold(true)?;
            self.publish();
            return Ok(0);
        };
        let deadline = Instant::now() + linger;
        let mut events: usize = batches.iter().map(|b| b.events.len()).sum();
        while events < MAX_EVENTS_PER_STEP {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // A log quiet for a moment has nothing more to coalesce: apply what there is.
            let more =
                self.log.read_committed(last, MAX_EVENTS_PER_STEP - events, left.min(QUIET))?;
            let Some(l) = more.last().map(|b| b.lsn) else { break };
            last = l;
            events += more.iter().map(|b| b.events.len()).sum::<usize>();
            batches.extend(more);
        }
        let sets = self.filters.sets();
        // Forget the budgets of filters that were replaced or deleted (only we hold them).
        self.budget.retain(|_, (f, ..)| Arc::strong_count(f) > 1);
        let mut data = StepData::default();
        for batch in &batches {
            if let Some(set) = sets.get(&*batch.group) {
                self.apply_batch(set, batch, &mut data);
            }
        }
        self.position = last;
        let deltas = data.into_deltas();
        if deltas.is_empty() {
            self.record(false)?;
        } else {
            self.metrics.apply(Write { position: Some(last.get()), deltas })?;
            self.recorded = last;
            self.last_record = Instant::now();
            self.raise_hold(false)?;
        }
        self.persist_disabled()?;
        self.publish();
        Ok(batches.len())
    }

    fn publish(&self) {
        let mut s = self.status.lock();
        s.position = self.position;
        s.recorded = self.recorded;
        s.committed = self.log.committed_lsn();
    }

    /// Applies a group's filters to one batch: one pre-filter pass per event picks the
    /// filters that may match, and only those run their pattern.
    fn apply_batch(
        &mut self,
        set: &FilterSet,
        batch: &crate::log::CommittedBatch,
        data: &mut StepData,
    ) {
        let filters = set.filters();
        let mut active: Vec<bool> = filters
            .iter()
            .map(|f| {
                batch.lsn > f.created_after()
                    && !f.is_disabled()
                    && self.disabled.get(&id(f)).is_none_or(|at| *at != f.created_after())
            })
            .collect();
        if !active.contains(&true) {
            return;
        }
        // Minutes with events, for the filters with a default value.
        for (f, _) in
            filters.iter().zip(&active).filter(|(f, a)| **a && f.spec().default_value.is_some())
        {
            let track = data.defaults.entry(addr(f)).or_insert_with(|| DefaultTrack {
                filter: Arc::clone(f),
                event_minutes: BTreeSet::new(),
                matched_minutes: BTreeSet::new(),
            });
            let mut previous = None;
            for e in &batch.events {
                let minute = Resolution::Minute.bucket_of(e.timestamp);
                if previous != Some(minute) {
                    track.event_minutes.insert(minute);
                    previous = Some(minute);
                }
            }
        }
        let mut fixed: Vec<FixedBuckets> = Vec::new();
        fixed.resize_with(filters.len(), FixedBuckets::default);
        // Series of filters with dimensions, by the values borrowed from the batch's messages:
        // a match looks its series up without building a key; each combination (per filter and
        // hour) builds its key and meets the dimension budget once per batch.
        let mut lent: HashMap<(usize, LentDimensions<'_>, i64), Option<Series>> = HashMap::new();
        let mut scratch = std::mem::take(&mut self.scratch);
        for e in &batch.events {
            set.candidates(&e.message, &active, &mut scratch);
            for &i in scratch.candidates() {
                let f = &filters[i];
                if !active[i] {
                    continue; // disabled by an earlier event of this batch
                }
                if f.lends_dimensions() {
                    let Some(em) = f.emit_lent(&e.message) else { continue };
                    let hour = e.ingestion_time.div_euclid(3_600_000);
                    let series = match lent.entry((i, em.dimensions, hour)) {
                        Entry::Occupied(o) => o.into_mut(),
                        Entry::Vacant(v) => {
                            let key = f.key_of(&em.dimensions);
                            if let Some(key) = &key
                                && !self.within_budget(f, key, e.ingestion_time)
                            {
                                active[i] = false;
                                continue;
                            }
                            v.insert(
                                key.map(|key| Series { key, buckets: FixedBuckets::default() }),
                            )
                        }
                    };
                    if let Some(series) = series {
                        series.buckets.add(Resolution::TenSeconds.bucket_of(e.timestamp), em.value);
                    }
                    continue;
                }
                let Some(em) = f.emit(&e.message) else { continue };
                if f.spec().default_value.is_some()
                    && let Some(track) = data.defaults.get_mut(&addr(f))
                {
                    track.matched_minutes.insert(Resolution::Minute.bucket_of(e.timestamp));
                }
                let bucket = Resolution::TenSeconds.bucket_of(e.timestamp);
                if f.fixed_key().is_some() {
                    fixed[i].add(bucket, em.value);
                } else if self.within_budget(f, &em.key, e.ingestion_time) {
                    data.add(&em.key, &f.spec().unit, bucket, Aggregate::of(em.value));
                } else {
                    active[i] = false;
                }
            }
        }
        self.scratch = scratch;
        for ((i, _, _), series) in lent {
            if let Some(Series { key, buckets }) = series {
                for (bucket, agg) in buckets.0 {
                    data.add(&key, &filters[i].spec().unit, bucket, agg);
                }
            }
        }
        for (f, buckets) in filters.iter().zip(fixed) {
            if let Some(key) = f.fixed_key() {
                for (bucket, agg) in buckets.0 {
                    data.add(key, &f.spec().unit, bucket, agg);
                }
            }
        }
    }

    /// Counts a dimension combination against the filter's hourly budget; past it the filter is
    /// disabled, as CloudWatch may do, and this returns false.
    fn within_budget(&mut self, f: &Arc<MetricFilter>, key: &MetricKey, now_ms: i64) -> bool {
        let hour = now_ms.div_euclid(3_600_000);
        let entry =
            self.budget.entry(addr(f)).or_insert_with(|| (Arc::clone(f), hour, HashSet::new()));
        if entry.1 != hour {
            (entry.1, entry.2) = (hour, HashSet::new());
        }
        if entry.2.contains(key) {
            return true;
        }
        if entry.2.len() >= MAX_DIMENSION_COMBINATIONS_PER_HOUR {
            tracing::warn!(group = %f.spec().group, filter = %f.spec().name, "metric filter disabled: over {MAX_DIMENSION_COMBINATIONS_PER_HOUR} dimension combinations in an hour");
            self.disabled.insert(id(f), f.created_after());
            self.newly_disabled.push((id(f), f.created_after()));
            return false;
        }
        entry.2.insert(key.clone());
        true
    }

    /// Saves the filters disabled in memory into the registry, so they stay disabled across a
    /// restart. Called after the step's data is recorded: saving first would, after a crash,
    /// skip the filter for the step's events that were still within its budget.
    fn persist_disabled(&mut self) -> Result<()> {
        for ((group, name), created_after) in std::mem::take(&mut self.newly_disabled) {
            self.filters.disable(&group, &name, created_after)?;
        }
        Ok(())
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
        self.last_record = Instant::now();
        self.raise_hold(true)
    }

    /// Raises the log's hold to the recorded position: when `now`, or once
    /// [`HOLD_INTERVAL`] has passed since the last raise. A hold below the recorded position
    /// only keeps some WAL longer; it never loses a batch.
    fn raise_hold(&mut self, now: bool) -> Result<()> {
        if self.held == self.recorded || (!now && self.last_hold.elapsed() < HOLD_INTERVAL) {
            return Ok(());
        }
        self.log.hold_committed(CONSUMER_NAME, self.recorded)?;
        self.held = self.recorded;
        self.last_hold = Instant::now();
        Ok(())
    }

    /// Steps until `stop` is set; an error is logged and retried after a pause.
    pub fn run(mut self, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Acquire) {
            if let Err(e) = self.step_lingering(Duration::from_millis(200), LINGER) {
                tracing::error!(error = %e, "metric filter consumer step failed; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        if let Err(e) = self.record(true).and_then(|()| self.raise_hold(true)) {
            tracing::warn!(error = %e, "recording the metric filter position at shutdown");
        }
    }
}

/// A filter's identity while an `Arc` to it is held.
fn addr(f: &Arc<MetricFilter>) -> usize {
    Arc::as_ptr(f) as usize
}

fn id(f: &MetricFilter) -> (String, String) {
    (f.spec().group.clone(), f.spec().name.clone())
}

#[cfg(test)]
mod tests;
