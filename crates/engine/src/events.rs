//! FilterLogEvents as a plan of the engine: one page of a group's events that match a filter
//! pattern, in CloudWatch's order (timestamp, then stream, then arrival), from an exact cut.
//!
//! ```text
//! FilterEventsPlan ──▶ units (time, streams) ──▶ cut: drop units wholly before it
//!                  ──▶ index: drop blocks lacking the pattern's required terms (DataSource::prune)
//!                  ──▶ pool: decode + match each unit ──▶ caller: ordered merge of timestamps,
//!                      ordinals, budget ──▶ EventsPage (events, next cut)
//! ```
//!
//! - The CPU work (decompressing messages, running the pattern) runs on the engine's pool, one
//!   unit per claim, in order of the units' first key and at most a few units ahead of the
//!   merge. The caller's thread merges the decoded units' *timestamps* (integers only) in order
//!   and keeps only matching messages. It also takes a unit itself when the pool has not
//!   claimed the one the merge waits for (an Insights scan may hold every pool thread for
//!   minutes; a page must stay interactive).
//! - Order and cuts are storage's ([`logsight_storage::Position`]): events by (timestamp,
//!   stream id, unit rank, row); an [`EventCut`] lies before `(timestamp, stream, ordinal)`,
//!   the ordinal counting that stream's events at that timestamp in arrival order. A unit the
//!   index ruled out still holds events that count in ordinals: when a neighbouring unit of
//!   lower rank (from directories: overlapping time and stream span) may hold the same stream
//!   and timestamp, its timestamps alone are decoded to count them (and counted for free when
//!   the unit holds nothing else). So event ids and tokens do not depend on the index.
//! - The scan budget is the events examined in order (those of units the index ruled out are
//!   never examined) and the time, looked at every [`TIME_CHECK_EVERY`] events: when spent,
//!   the page ends after the last event examined, as the read path it replaces did.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam::channel;
use logsight_index::Requirement;
use logsight_model::TimeRange;
use logsight_query_lang::pattern::FilterPattern;

use crate::Engine;
use crate::error::{EngineError, Result};
use crate::plan::Columns;
use crate::pool::Pool;
use crate::source::{DataSource, Decoder, ScanSet, Unit};

/// Events examined between looks at the clock.
pub const TIME_CHECK_EVERY: usize = 256;

/// Which streams of the group a FilterLogEvents plan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSelection {
    /// Every stream.
    All,
    /// These streams (names that do not exist match nothing).
    Names(Vec<String>),
    /// Streams whose names start with this prefix.
    Prefix(String),
}

/// A cut in the order of a group's events: before the event `(timestamp, stream, ordinal)`,
/// where `ordinal` counts that stream's events at that timestamp in arrival order. The same
/// cut as storage's forward `Position`, so paging tokens carry either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCut {
    /// Timestamp of the cut.
    pub timestamp: i64,
    /// Stream id of the cut.
    pub stream: u64,
    /// How many of that stream's events at that timestamp lie before the cut.
    pub ordinal: u64,
}

/// How much one page may scan before it returns (possibly empty) with a cut to continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanBudget {
    /// Most events examined.
    pub events: usize,
    /// Most time spent (looked at every [`TIME_CHECK_EVERY`] events).
    pub time: Duration,
}

impl Default for ScanBudget {
    fn default() -> Self {
        ScanBudget { events: 500_000, time: Duration::from_secs(1) }
    }
}

/// One FilterLogEvents page to compute.
#[derive(Debug, Clone)]
pub struct FilterEventsPlan {
    /// The log group.
    pub group: String,
    /// Its streams to read.
    pub streams: StreamSelection,
    /// Time range `[start, end)`.
    pub range: TimeRange,
    /// The filter pattern every returned event matches.
    pub pattern: FilterPattern,
    /// Most events in the page.
    pub limit: usize,
    /// The page ends once its messages reach this many bytes.
    pub max_bytes: usize,
    /// Where the page starts (`None`: at the start of the range).
    pub from: Option<EventCut>,
    /// What the page may scan.
    pub budget: ScanBudget,
}

/// An event of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundEvent {
    /// Its stream's name.
    pub stream: Arc<str>,
    /// Its stream's id.
    pub stream_id: u64,
    /// Event time, epoch ms.
    pub timestamp: i64,
    /// Its place among its stream's events at its timestamp (0 first).
    pub ordinal: u64,
    /// Arrival time, epoch ms.
    pub ingestion_time: i64,
    /// The message.
    pub message: String,
}

/// What computing a page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventsStatistics {
    /// Units (sealed blocks and buffered runs) in the range and streams.
    pub units: u64,
    /// Units wholly before the start cut (not decoded).
    pub units_passed: u64,
    /// Sealed blocks the full-text index ruled out (not decoded).
    pub blocks_pruned: u64,
    /// Sealed blocks decoded with their messages (the page's real cost).
    pub blocks_decoded: u64,
    /// Units whose timestamps alone were decoded to count ordinals.
    pub timestamp_reads: u64,
    /// Events examined in order (the budget's measure).
    pub events_examined: u64,
    /// Segments whose index artifact was damaged (scanned whole, rebuilt in the background).
    pub index_segments_damaged: u64,
}

/// One page of FilterLogEvents.
#[derive(Debug, Clone)]
pub struct EventsPage {
    /// Matching events, in order.
    pub events: Vec<FoundEvent>,
    /// The streams searched (those selected that exist): the given names in their order, or
    /// the group's streams (with the prefix) in name order.
    pub searched: Vec<String>,
    /// Where the next page starts; `None` once the search is complete.
    pub next: Option<EventCut>,
    /// What it cost.
    pub statistics: EventsStatistics,
    /// What the full-text index was asked for (empty: nothing pushed down).
    pub pushed_down: String,
}

/// What every matching message contains, from the pattern's literal hint: each group of
/// literals (one of which every match contains, case-sensitively) becomes a clause. Only
/// unstructured patterns give any; an empty requirement prunes nothing.
pub fn pattern_requirement(pattern: &FilterPattern) -> Requirement {
    pattern.literal_hint().groups().iter().fold(Requirement::none(), |req, group| {
        let literals: Vec<Vec<u8>> = group.iter().map(|l| l.as_bytes().to_vec()).collect();
        req.and(Requirement::any_of_substrings(&literals))
    })
}

impl Engine {
    /// Computes one FilterLogEvents page; blocks the caller, the scan runs on the pool.
    pub fn filter_events(
        &self,
        source: &DataSource,
        plan: &FilterEventsPlan,
    ) -> Result<EventsPage> {
        run(&self.pool, source, plan)
    }
}

/// What directories tell of a unit.
#[derive(Debug, Clone, Copy)]
struct Span {
    min_ts: i64,
    max_ts: i64,
    lo: u64,
    hi: u64,
    rank: u64,
    count: u64,
}

impl Span {
    fn of(u: &Unit) -> Span {
        let (min_ts, max_ts) = u.time_span();
        let (lo, hi) = u.stream_span();
        Span { min_ts, max_ts, lo, hi, rank: u.rank(), count: u.events() }
    }

    /// The smallest key any of its events may have.
    fn bound(&self) -> Key {
        (self.min_ts, self.lo, self.rank, 0)
    }

    fn may_hold(&self, t: i64, s: u64) -> bool {
        self.min_ts <= t && t <= self.max_ts && self.lo <= s && s <= self.hi
    }

    /// Whether every event is of stream `s` at time `t`.
    fn only(&self, t: i64, s: u64) -> bool {
        self.min_ts == t && self.max_ts == t && self.lo == s && self.hi == s
    }
}

/// Order key of an event: timestamp, stream id, unit rank, row.
type Key = (i64, u64, u64, u64);

/// A matching row of a decoded run.
struct Hit {
    row: usize,
    ingestion_time: i64,
    message: String,
}

/// One stream's rows of a decoded unit, inside the range.
struct RunOut {
    stream: usize,
    ts: Arc<[i64]>,
    hits: Vec<Hit>,
}

/// A decoded, matched unit.
struct UnitOut {
    runs: Vec<RunOut>,
    sealed: bool,
}

/// What the pool's jobs for one page share.
struct Work {
    units: Vec<Unit>,
    pattern: FilterPattern,
    all: bool,
    next: AtomicUsize,
    allow: AtomicUsize,
    stop: AtomicBool,
    sender: channel::Sender<(usize, Result<UnitOut>)>,
}

impl Work {
    /// The next unit in order, if it may be taken yet.
    fn claim(&self) -> Option<usize> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            let i = self.next.load(Ordering::SeqCst);
            if i >= self.allow.load(Ordering::SeqCst) {
                return None;
            }
            if self.next.compare_exchange(i, i + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                return Some(i);
            }
        }
    }

    fn process(&self, i: usize, decoder: &mut Decoder) -> Result<UnitOut> {
        let unit = &self.units[i];
        let columns = Columns {
            timestamps: true,
            ingestion_times: true,
            messages: true,
            ..Columns::default()
        };
        let batch = unit.decode(decoder, columns)?;
        let mut runs = Vec::with_capacity(batch.runs().len());
        for run in batch.runs() {
            let ts: Arc<[i64]> = batch.timestamps(run).into();
            let mut hits = Vec::new();
            for (k, row) in run.rows.clone().enumerate() {
                let message = batch.message(row);
                if self.all || self.pattern.matches(message) {
                    hits.push(Hit {
                        row: k,
                        ingestion_time: batch.ingestion_time(row),
                        message: message.to_owned(),
                    });
                }
            }
            runs.push(RunOut { stream: run.stream as usize, ts, hits });
        }
        Ok(UnitOut { runs, sealed: unit.is_sealed() })
    }

    /// A pool job: takes units in order while it may.
    fn job(self: Arc<Self>) {
        let mut decoder = Decoder::default();
        while let Some(i) = self.claim() {
            let out = self.process(i, &mut decoder);
            if self.sender.send((i, out)).is_err() {
                return;
            }
        }
    }
}

/// One stream's timestamps in a unit.
struct StreamTimes {
    stream: u64,
    ts: Arc<[i64]>,
}

/// Counts of one stream's events at one timestamp in units, from their decoded timestamps
/// (a decoded unit's, or its timestamps alone).
struct Counts<'a> {
    spans: &'a [Span],
    units: &'a [Unit],
    ids: &'a [u64],
    /// Per unit: each run's stream id and timestamps.
    known: HashMap<usize, Vec<StreamTimes>>,
    decoder: Decoder,
    reads: u64,
}

impl Counts<'_> {
    fn learn(&mut self, unit: usize, runs: Vec<StreamTimes>) {
        self.known.insert(unit, runs);
    }

    /// Events of stream `s` at time `t` in unit `u`.
    fn count(&mut self, u: usize, t: i64, s: u64) -> Result<u64> {
        let span = self.spans[u];
        if !span.may_hold(t, s) {
            return Ok(0);
        }
        if span.only(t, s) {
            return Ok(span.count);
        }
        if !self.known.contains_key(&u) {
            let columns = Columns { timestamps: true, ..Columns::default() };
            let batch = self.units[u].decode(&mut self.decoder, columns)?;
            let runs = batch
                .runs()
                .iter()
                .map(|r| StreamTimes {
                    stream: self.ids[r.stream as usize],
                    ts: batch.timestamps(r).into(),
                })
                .collect();
            self.reads += 1;
            self.known.insert(u, runs);
        }
        let runs = &self.known[&u];
        Ok(runs.iter().find(|r| r.stream == s).map_or(0, |StreamTimes { ts, .. }| {
            (ts.partition_point(|&x| x <= t) - ts.partition_point(|&x| x < t)) as u64
        }))
    }
}

/// A decoded run in the merge.
struct RunState {
    stream: usize,
    stream_id: u64,
    rank: u64,
    ts: Arc<[i64]>,
    hits: Vec<Hit>,
    next: usize,
    hit: usize,
    /// Units of lower rank that may hold this stream in the run's time span.
    neighbours: Vec<usize>,
    /// The ordinal of the row before `next`, when it was computed.
    last: Option<u64>,
}

/// Resolves the stream selection: the names to plan (`None`: all) and the streams searched.
fn select(
    source: &DataSource,
    plan: &FilterEventsPlan,
) -> Result<(Option<Vec<String>>, Vec<String>)> {
    Ok(match &plan.streams {
        StreamSelection::Names(names) => {
            let all: std::collections::HashSet<String> =
                source.stream_names(&plan.group)?.into_iter().collect();
            let searched = names.iter().filter(|n| all.contains(*n)).cloned().collect();
            (Some(names.clone()), searched)
        }
        StreamSelection::Prefix(p) => {
            let names: Vec<String> = source
                .stream_names(&plan.group)?
                .into_iter()
                .filter(|n| n.starts_with(p.as_str()))
                .collect();
            (Some(names.clone()), names)
        }
        StreamSelection::All => (None, source.stream_names(&plan.group)?),
    })
}

/// Marks the units wholly before `cut`: every key at most the cut's (timestamp, stream), and
/// those at it among the first `ordinal` in rank order (counted as storage's cut does).
fn passed(spans: &[Span], counts: &mut Counts<'_>, cut: EventCut) -> Result<Vec<bool>> {
    let (t, s) = (cut.timestamp, cut.stream);
    let mut out: Vec<bool> =
        spans.iter().map(|u| u.max_ts < t || (u.max_ts == t && u.hi < s)).collect();
    let mut holding: Vec<usize> = (0..spans.len()).filter(|&i| spans[i].may_hold(t, s)).collect();
    holding.sort_unstable_by_key(|&i| (spans[i].rank, spans[i].lo));
    let mut before = 0u64;
    for i in holding {
        let n = counts.count(i, t, s)?;
        if before + n > cut.ordinal {
            break;
        }
        before += n;
        if spans[i].max_ts == t && spans[i].hi == s {
            out[i] = true;
        }
    }
    Ok(out)
}

fn run(pool: &Pool, source: &DataSource, plan: &FilterEventsPlan) -> Result<EventsPage> {
    let started = Instant::now();
    let (selected, searched) = select(source, plan)?;
    let set = source.plan(std::slice::from_ref(&plan.group), selected.as_deref(), plan.range)?;
    let ScanSet { units: all_units, names, stream_ids, .. } = set;
    let spans: Vec<Span> = all_units.iter().map(Span::of).collect();
    let mut stats = EventsStatistics { units: spans.len() as u64, ..Default::default() };
    let mut counts = Counts {
        spans: &spans,
        units: &all_units,
        ids: &stream_ids,
        known: HashMap::new(),
        decoder: Decoder::default(),
        reads: 0,
    };

    // Units before the cut, then units the index rules out.
    let mut keep = match plan.from {
        Some(cut) => passed(&spans, &mut counts, cut)?.into_iter().map(|p| !p).collect(),
        None => vec![true; spans.len()],
    };
    stats.units_passed = keep.iter().filter(|k| !**k).count() as u64;
    let requirement = pattern_requirement(&plan.pattern);
    let candidates: Vec<usize> = (0..spans.len()).filter(|&i| keep[i]).collect();
    let mut probe = ScanSet {
        units: candidates.iter().map(|&i| all_units[i].clone()).collect(),
        ..ScanSet::default()
    };
    let pruned = source.prune(&mut probe, &requirement);
    stats.blocks_pruned = pruned.units;
    stats.index_segments_damaged = pruned.damaged;
    if pruned.units > 0 {
        let left: std::collections::HashSet<(u64, u64)> =
            probe.units.iter().map(|u| (u.rank(), u.stream_span().0)).collect();
        for &i in &candidates {
            keep[i] = left.contains(&(spans[i].rank, spans[i].lo));
        }
    }
    let mut todo: Vec<usize> = (0..spans.len()).filter(|&i| keep[i]).collect();
    todo.sort_unstable_by_key(|&i| spans[i].bound());
    // Units by first timestamp, to find a unit's neighbours without a pass over all.
    let mut by_start: Vec<usize> = (0..spans.len()).collect();
    by_start.sort_unstable_by_key(|&i| spans[i].min_ts);

    let (sender, results) = channel::unbounded();
    let ahead = pool.threads() * 2;
    let work = Arc::new(Work {
        units: todo.iter().map(|&i| all_units[i].clone()).collect(),
        all: plan.pattern.matches_everything(),
        pattern: plan.pattern.clone(),
        next: AtomicUsize::new(0),
        allow: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        sender,
    });
    let n = todo.len();
    let mut done: Vec<bool> = vec![false; n];
    let mut frontier = 0; // the first unit not merged in yet
    let mut runs: Vec<RunState> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(Key, usize)>> = BinaryHeap::new();
    let mut events = Vec::new();
    let (mut bytes, mut scanned) = (0usize, 0usize);
    let mut local = Decoder::default();
    let finish = |events: Vec<FoundEvent>,
                  next: Option<EventCut>,
                  mut stats: EventsStatistics,
                  reads: u64,
                  scanned: usize|
     -> Result<EventsPage> {
        work.stop.store(true, Ordering::Relaxed);
        stats.timestamp_reads = reads;
        stats.events_examined = scanned as u64;
        Ok(EventsPage {
            events,
            searched: searched.clone(),
            next,
            statistics: stats,
            pushed_down: requirement.to_string(),
        })
    };
    loop {
        // Merge every event known to come before any unit not merged in yet.
        let bound = (frontier < n).then(|| spans[todo[frontier]].bound());
        while let Some(Reverse((key, r))) = heap.peek().copied() {
            if bound.is_some_and(|b| key >= b) {
                break;
            }
            heap.pop();
            let run = &mut runs[r];
            let i = run.next;
            run.next += 1;
            if run.next < run.ts.len() {
                let k = (run.ts[run.next], run.stream_id, run.rank, run.next as u64);
                heap.push(Reverse((k, r)));
            }
            let t = run.ts[i];
            let ordinal = match run.last {
                Some(prev) if i > 0 && run.ts[i - 1] == t => prev + 1,
                _ => {
                    let first = run.ts[..i].partition_point(|&x| x < t);
                    let mut base = (i - first) as u64;
                    for &u in &run.neighbours {
                        base += counts.count(u, t, run.stream_id)?;
                    }
                    base
                }
            };
            run.last = Some(ordinal);
            let is_hit = run.hits.get(run.hit).is_some_and(|h| h.row == i);
            if is_hit {
                run.hit += 1;
            }
            if let Some(c) = plan.from
                && (t, run.stream_id) == (c.timestamp, c.stream)
                && ordinal < c.ordinal
            {
                continue;
            }
            scanned += 1;
            let pos = Some(EventCut { timestamp: t, stream: run.stream_id, ordinal: ordinal + 1 });
            if is_hit {
                let h = &mut run.hits[run.hit - 1];
                let message = std::mem::take(&mut h.message);
                bytes += message.len();
                events.push(FoundEvent {
                    stream: names.streams[run.stream].clone(),
                    stream_id: run.stream_id,
                    timestamp: t,
                    ordinal,
                    ingestion_time: h.ingestion_time,
                    message,
                });
                if events.len() >= plan.limit || bytes >= plan.max_bytes {
                    return finish(events, pos, stats, counts.reads, scanned);
                }
            }
            let out_of_time =
                scanned.is_multiple_of(TIME_CHECK_EVERY) && started.elapsed() >= plan.budget.time;
            if out_of_time || scanned >= plan.budget.events {
                // CloudWatch's way: a short (maybe empty) page and a token to go on.
                return finish(events, pos, stats, counts.reads, scanned);
            }
        }
        if frontier >= n {
            return finish(events, None, stats, counts.reads, scanned);
        }
        // The merge waits for unit `frontier`: let the pool take it and a few beyond.
        let allow = (frontier + ahead).min(n);
        let before = work.allow.fetch_max(allow, Ordering::SeqCst);
        for _ in 0..allow.saturating_sub(before).min(pool.threads()) {
            let w = work.clone();
            pool.spawn(Box::new(move || w.job()));
        }
        let (i, out) = match results.recv_timeout(Duration::from_millis(1)) {
            Ok(got) => got,
            // The pool is busy (or slow to start): take the next unit here.
            Err(_) => match work.claim() {
                Some(i) => (i, work.process(i, &mut local)),
                None => results.recv().map_err(|_| {
                    EngineError::Storage("the FilterLogEvents workers stopped".into())
                })?,
            },
        };
        let out = out?;
        if out.sealed {
            stats.blocks_decoded += 1;
        }
        let u = todo[i];
        let span = spans[u];
        // Lower-ranked units overlapping in time and streams: their events at a run's
        // timestamps count in its ordinals.
        let reach = by_start.partition_point(|&v| spans[v].min_ts <= span.max_ts);
        let near: Vec<usize> = by_start[..reach]
            .iter()
            .copied()
            .filter(|&v| {
                let o = spans[v];
                v != u
                    && o.rank < span.rank
                    && o.max_ts >= span.min_ts
                    && o.lo <= span.hi
                    && o.hi >= span.lo
            })
            .collect();
        let mut known = Vec::with_capacity(out.runs.len());
        for r in out.runs {
            let stream_id = stream_ids[r.stream];
            known.push(StreamTimes { stream: stream_id, ts: r.ts.clone() });
            let (Some(&first), Some(&last)) = (r.ts.first(), r.ts.last()) else { continue };
            let neighbours = near
                .iter()
                .copied()
                .filter(|&v| {
                    let o = spans[v];
                    o.lo <= stream_id && stream_id <= o.hi && o.min_ts <= last && o.max_ts >= first
                })
                .collect();
            // Rows before the cut's timestamp and stream are skipped outright.
            let start = match plan.from {
                Some(c) if stream_id < c.stream => r.ts.partition_point(|&x| x <= c.timestamp),
                Some(c) => r.ts.partition_point(|&x| x < c.timestamp),
                None => 0,
            };
            if start >= r.ts.len() {
                continue;
            }
            let hit = r.hits.partition_point(|h| h.row < start);
            let key = (r.ts[start], stream_id, span.rank, start as u64);
            heap.push(Reverse((key, runs.len())));
            runs.push(RunState {
                stream: r.stream,
                stream_id,
                rank: span.rank,
                ts: r.ts,
                hits: r.hits,
                next: start,
                hit,
                neighbours,
                last: None,
            });
        }
        counts.learn(u, known);
        done[i] = true;
        while frontier < n && done[frontier] {
            frontier += 1;
        }
    }
}
