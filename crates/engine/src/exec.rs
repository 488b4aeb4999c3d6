//! The executor: scan units on the engine's pool, per-worker partial results, the merge, and
//! the single-threaded rest of the pipeline.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering as AO};
use std::time::Instant;

use crossbeam::channel;

use crate::agg::Acc;
use crate::bind::{RowOp, SortSpec, Stage, StatsPlan};
use crate::error::{EngineError, Result};
use crate::expr::eval;
use crate::functions::floor_to;
use crate::kernel::{Kernel, Selection};
use crate::pattern::PatternPartial;
use crate::plan::{Plan, Sink};
use crate::pool::Pool;
use crate::row::{Base, EvalCtx, Names, Row};
use crate::screen::{Screen, Screener};
use crate::source::{Decoder, ScanSet, Unit};
use crate::value::{Key, Value, natural_cmp};
use crate::{CancelToken, Progress};

/// Limits of one run.
pub(crate) struct Limits {
    pub(crate) budget: usize,
    pub(crate) deadline: Instant,
    pub(crate) timeout: std::time::Duration,
    /// When the query started, epoch ms (`now()`).
    pub(crate) now_ms: i64,
}

/// Partial results of a running scan: every `every`, the workers' partial results so far are
/// merged (as the end of the scan merges them) and handed to `publish`, which a query manager
/// shows as GetQueryResults' partial rows. Best effort: a snapshot never changes the result.
pub(crate) struct Snapshots<'a> {
    pub(crate) every: std::time::Duration,
    pub(crate) publish: &'a dyn Fn(Vec<Row<'static>>, &Plan, &EvalCtx<'_>),
}

/// What every scan task of one query shares.
struct Shared {
    plan: Arc<Plan>,
    units: Vec<Unit>,
    names: Names,
    next: AtomicUsize,
    stop: AtomicBool,
    cancel: CancelToken,
    progress: Arc<Progress>,
    used: AtomicIsize,
    budget: usize,
    deadline: Instant,
    timeout: std::time::Duration,
    found: AtomicUsize,
    now_ms: i64,
    /// Each worker's latest copy of its partial result, when snapshots are wanted.
    copies: Vec<parking_lot::Mutex<Option<Partial>>>,
    copy_every: Option<std::time::Duration>,
    /// Template screening of the first filter, when it qualifies.
    screen: Option<Arc<Screen>>,
}

impl Shared {
    fn ctx(&self) -> EvalCtx<'_> {
        ctx(&self.plan, &self.names, self.now_ms)
    }

    fn charge(&self, delta: isize) -> Result<()> {
        let used = self.used.fetch_add(delta, AO::Relaxed) + delta;
        if used > self.budget as isize {
            return Err(EngineError::MemoryBudgetExceeded { budget: self.budget });
        }
        Ok(())
    }
}

pub(crate) fn ctx<'q>(plan: &'q Plan, names: &'q Names, now_ms: i64) -> EvalCtx<'q> {
    EvalCtx {
        symbols: &plan.bound.symbols,
        names,
        start_ms: plan.range.start.unwrap_or(0),
        end_ms: plan.range.end.map_or(i64::MAX, |e| e - 1),
        now_ms,
    }
}

/// A worker's share of the result.
#[derive(Clone)]
enum Partial {
    Count(HashMap<i64, u64>),
    Agg(AggTable),
    TopK(TopK),
    Rows(Vec<Row<'static>>),
    Pattern(PatternPartial),
}

impl Partial {
    /// Groups of a `stats` partial (0 for the others).
    fn groups(&self) -> usize {
        match self {
            Partial::Agg(t) => t.groups.len(),
            _ => 0,
        }
    }
}

/// Runs the scan phase on the pool and merges the partial results into rows.
pub(crate) fn scan(
    pool: &Pool,
    plan: Arc<Plan>,
    set: ScanSet,
    cancel: &CancelToken,
    progress: &Arc<Progress>,
    limits: &Limits,
    snapshots: Option<&Snapshots<'_>>,
) -> Result<(Vec<Row<'static>>, isize)> {
    let now_ms = limits.now_ms;
    let ScanSet { units, names, .. } = set;
    let tasks = pool.threads().min(units.len()).max(1);
    let screen = Screen::for_plan(&plan).map(Arc::new);
    let shared = Arc::new(Shared {
        plan,
        units,
        names,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        cancel: cancel.clone(),
        progress: progress.clone(),
        used: AtomicIsize::new(0),
        budget: limits.budget,
        deadline: limits.deadline,
        timeout: limits.timeout,
        found: AtomicUsize::new(0),
        now_ms,
        copies: (0..tasks).map(|_| parking_lot::Mutex::new(None)).collect(),
        // Workers copy their partials twice as often as they are published, so a snapshot
        // is at most one period behind.
        copy_every: snapshots.map(|s| s.every / 2),
        screen,
    });
    let (tx, rx) = channel::unbounded::<Result<Partial>>();
    for task in 0..tasks {
        let shared = shared.clone();
        let tx = tx.clone();
        pool.spawn(Box::new(move || {
            let result = work(&shared, task);
            if result.is_err() {
                shared.stop.store(true, AO::Relaxed);
            }
            let _ = tx.send(result);
        }));
    }
    drop(tx);
    let mut partials = Vec::new();
    let mut error = None;
    let mut next_snapshot = snapshots.map(|s| Instant::now() + s.every);
    let mut done = 0;
    while done < tasks {
        let mut wait = limits.deadline.saturating_duration_since(Instant::now());
        if let (Some(s), Some(at)) = (snapshots, next_snapshot) {
            let now = Instant::now();
            let every = s.every.max(std::time::Duration::from_millis(1));
            let at = if now >= at {
                publish_snapshot(&shared, s, limits);
                now + every
            } else {
                at
            };
            next_snapshot = Some(at);
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        match rx.recv_timeout(wait) {
            Ok(Ok(p)) => {
                done += 1;
                partials.push(p);
            }
            Ok(Err(e)) => {
                done += 1;
                error.get_or_insert(e);
            }
            Err(channel::RecvTimeoutError::Timeout) if Instant::now() < limits.deadline => {}
            Err(channel::RecvTimeoutError::Timeout) => {
                shared.stop.store(true, AO::Relaxed);
                error.get_or_insert(EngineError::Timeout(limits.timeout));
                // The workers notice the stop flag at their next unit.
                while rx.recv().is_ok() {}
                break;
            }
            Err(channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    if cancel.is_cancelled() {
        return Err(EngineError::Cancelled);
    }
    if let Some(e) = error {
        return Err(e);
    }
    let used = shared.used.load(AO::Relaxed);
    if let Sink::Aggregate(s) = &shared.plan.sink {
        let groups: usize = partials.iter().map(Partial::groups).sum();
        if pool.threads() > 1 && groups >= PARALLEL_FINISH_GROUPS {
            return Ok((finish_on_pool(pool, &shared, s, partials)?, used));
        }
    }
    Ok((merge(&shared, partials)?, used))
}

/// Groups at which a `stats` is merged and finished on the pool rather than on the calling
/// thread. Finishing is where `pct` selects and `count_distinct` counts: with many groups it
/// can outweigh the scan (`stats pct(x, 99) by bin(1m)` over a day).
const PARALLEL_FINISH_GROUPS: usize = 256;

/// Merges and finishes the workers' `stats` tables on the pool: the groups are split by
/// the hash of their `by` values into one share per thread, each share is merged and
/// finished by one job, and the rows are ordered here.
fn finish_on_pool(
    pool: &Pool,
    shared: &Shared,
    s: &StatsPlan,
    partials: Vec<Partial>,
) -> Result<Vec<Row<'static>>> {
    let parts = pool.threads();
    let mut shares: Vec<Vec<AggTable>> = (0..parts).map(|_| Vec::new()).collect();
    for p in partials {
        if let Partial::Agg(t) = p {
            for (share, piece) in shares.iter_mut().zip(t.split(parts)) {
                share.push(piece);
            }
        }
    }
    let (tx, rx) = channel::unbounded::<Vec<Finished>>();
    for tables in shares {
        let (plan, tx) = (shared.plan.clone(), tx.clone());
        pool.spawn(Box::new(move || {
            let Sink::Aggregate(s) = &plan.sink else { return };
            let mut table = AggTable::default();
            for t in tables {
                table.merge(s, t);
            }
            let _ = tx.send(table.finish_groups(s));
        }));
    }
    drop(tx);
    let finished: Vec<Vec<Finished>> = rx.iter().collect();
    if finished.len() != parts {
        return Err(EngineError::Internal("a worker stopped while finishing a stats".into()));
    }
    // Many groups, so `by` is not empty: no row of zeros to add.
    let groups: Vec<Finished> = finished.into_iter().flatten().collect();
    Ok(AggTable::rows(groups, s, &shared.ctx()))
}

/// Merges the workers' latest copies and publishes the rows.
fn publish_snapshot(shared: &Shared, snapshots: &Snapshots<'_>, limits: &Limits) {
    let copies: Vec<Partial> = shared.copies.iter().filter_map(|c| c.lock().clone()).collect();
    if copies.is_empty() {
        return;
    }
    if let Ok(rows) = merge(shared, copies) {
        let rows = post(rows, &shared.plan.post, &shared.ctx(), limits.budget, 0);
        // A snapshot past the memory budget is skipped; the query itself goes on.
        if let Ok(rows) = rows {
            (snapshots.publish)(rows, &shared.plan, &shared.ctx());
        }
    }
}

fn work(shared: &Shared, task: usize) -> Result<Partial> {
    let plan = &shared.plan;
    let ctx = shared.ctx();
    let mut partial = match &plan.sink {
        Sink::CountBins { .. } => Partial::Count(HashMap::new()),
        Sink::Aggregate(_) => Partial::Agg(AggTable::default()),
        Sink::TopK { order, k } => Partial::TopK(TopK::new(order.clone(), *k)),
        Sink::Any { .. } | Sink::Collect => Partial::Rows(Vec::new()),
        Sink::Pattern { .. } => Partial::Pattern(PatternPartial::default()),
    };
    let mut decoder = Decoder::default();
    // A worker's own copy of the operations: each compiled regex then has a match cache
    // owned by this thread, instead of one pool the workers contend for.
    let scan_ops = plan.scan_ops.clone();
    let kernel = Kernel::compile(&scan_ops, &plan.sink, &plan.bound.symbols);
    let mut selected = Selection::default();
    let mut screener = shared.screen.clone().map(Screener::new);
    let mut copied = Instant::now();
    loop {
        if let Some(every) = shared.copy_every
            && copied.elapsed() >= every
        {
            *shared.copies[task].lock() = Some(partial.clone());
            copied = Instant::now();
        }
        if shared.stop.load(AO::Relaxed) {
            break;
        }
        if shared.cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        if Instant::now() >= shared.deadline {
            return Err(EngineError::Timeout(shared.timeout));
        }
        let i = shared.next.fetch_add(1, AO::Relaxed);
        let Some(unit) = shared.units.get(i) else { break };
        let batch = if plan.columns.templates {
            // JSON fields a filter reads then come from the messages.
            unit.decode(&mut decoder, plan.columns)?
        } else if let Some(s) = screener.as_mut() {
            unit.decode_screened(&mut decoder, plan.columns, &mut |t| s.keep(t))?
        } else {
            unit.decode_fields(&mut decoder, plan.columns, &plan.json_fields)?
        };
        shared.progress.scanned.fetch_add(batch.len() as u64, AO::Relaxed);
        shared.progress.bytes.fetch_add(unit.bytes(), AO::Relaxed);
        let mut matched = 0u64;
        let mut delta = 0isize;
        if let (Sink::CountBins { bin, .. }, Partial::Count(counts)) = (&plan.sink, &mut partial) {
            // A whole block counts from its bins' counts; a cut one by its timestamps.
            match bin.filter(|_| batch.is_whole()).and_then(|b| unit.bins(&batch, b)) {
                Some(bins) => {
                    for (start, n) in bins.counts() {
                        *counts.entry(start).or_default() += n;
                    }
                }
                None => {
                    for run in batch.runs() {
                        count_kernel(batch.timestamps(run), *bin, counts);
                    }
                }
            }
            matched = batch.len() as u64;
        } else if let (Some(k), true, Sink::Aggregate(s), Partial::Agg(table)) =
            (&kernel, batch.json_columns().is_some(), &plan.sink, &mut partial)
        {
            let bins = k.bin().and_then(|b| unit.bins(&batch, b));
            (matched, delta) = k.run(&batch, bins.as_deref(), s, table, &ctx, &mut selected);
        } else if let (Sink::Pattern { from_templates: true, .. }, Partial::Pattern(p), true) =
            (&plan.sink, &mut partial, scan_ops.is_empty())
        {
            let runs = batch.runs().iter().map(|r| r.rows.clone());
            matched = p.add_runs(batch.templates().ids(), runs);
        } else {
            'runs: for run in batch.runs() {
                for r in run.rows.clone() {
                    if batch.is_skipped(r) {
                        continue;
                    }
                    let base = Base {
                        ts: batch.timestamp(r),
                        ingest: if plan.columns.ingestion_times {
                            batch.ingestion_time(r)
                        } else {
                            0
                        },
                        stream: run.stream,
                        group: batch.group(),
                        message: if batch.has_messages() {
                            Cow::Borrowed(batch.message(r))
                        } else {
                            Cow::Borrowed("")
                        },
                        pos: (i as u32, r as u32),
                    };
                    let mut sink_row = |row: Row<'_>| {
                        matched += 1;
                        delta += add(&mut partial, row, plan, &ctx, shared);
                    };
                    let mut row = Row::from_event(base);
                    if let Some(fields) = batch.json_fields(r) {
                        row.set_json(fields);
                    }
                    run_ops(&scan_ops, row, &ctx, &mut sink_row);
                    if matches!(plan.sink, Sink::Any { n } if shared.found.load(AO::Relaxed) >= n) {
                        shared.stop.store(true, AO::Relaxed);
                        break 'runs;
                    }
                }
            }
        }
        if let Partial::Pattern(p) = &mut partial {
            delta += p.finish_unit(batch.templates());
        }
        shared.progress.matched.fetch_add(matched, AO::Relaxed);
        shared.charge(delta)?;
    }
    Ok(partial)
}

/// Counts timestamps per bin without building rows: each run of timestamps in one bin costs
/// a compare and an add.
fn count_kernel(
    ts: &[i64],
    bin: Option<(logsight_query_lang::insights::Period, i64)>,
    counts: &mut HashMap<i64, u64>,
) {
    let Some((p, off)) = bin else {
        *counts.entry(0).or_default() += ts.len() as u64;
        return;
    };
    let (mut lo, mut hi, mut n) = (i64::MAX, i64::MIN, 0u64);
    for &t in ts {
        if t >= lo && t < hi {
            n += 1;
            continue;
        }
        if n > 0 {
            *counts.entry(lo).or_default() += n;
        }
        lo = floor_to(t - off, p) + off;
        hi = crate::functions::next_bin(lo - off, p) + off;
        n = 1;
    }
    if n > 0 {
        *counts.entry(lo).or_default() += n;
    }
}

/// Runs per-row operations, calling `emit` with every row that comes out.
pub(crate) fn run_ops<'a>(
    ops: &[RowOp],
    mut row: Row<'a>,
    ctx: &EvalCtx<'_>,
    emit: &mut dyn FnMut(Row<'a>),
) {
    let Some((op, rest)) = ops.split_first() else {
        emit(row);
        return;
    };
    match op {
        RowOp::Filter(e) => {
            if eval(e, &mut row, ctx, &[]).truthy() {
                run_ops(rest, row, ctx, emit);
            }
        }
        RowOp::Fields(ps) => {
            for (id, e) in ps {
                let v = eval(e, &mut row, ctx, &[]);
                row.set(*id, v);
            }
            run_ops(rest, row, ctx, emit);
        }
        RowOp::Parse(p) => p.apply(row, ctx, &mut |r| run_ops(rest, r, ctx, emit)),
        RowOp::Unnest { source, into } => match eval(source, &mut row, ctx, &[]) {
            Value::List(items) => {
                for item in items.iter() {
                    let mut r = row.clone();
                    r.set(*into, item.clone());
                    run_ops(rest, r, ctx, emit);
                }
            }
            other => {
                row.set(*into, other);
                run_ops(rest, row, ctx, emit);
            }
        },
    }
}

/// Adds a row to a partial result; returns the change in estimated bytes.
fn add(
    partial: &mut Partial,
    row: Row<'_>,
    plan: &Plan,
    ctx: &EvalCtx<'_>,
    shared: &Shared,
) -> isize {
    match (partial, &plan.sink) {
        (Partial::Agg(t), Sink::Aggregate(s)) => t.add(s, row, ctx),
        (Partial::TopK(t), _) => t.add(row, ctx),
        (Partial::Pattern(p), Sink::Pattern { spec, from_templates }) => {
            p.add_row(spec, *from_templates, row, ctx)
        }
        (Partial::Rows(rows), Sink::Any { n }) => {
            if shared.found.fetch_add(1, AO::Relaxed) >= *n {
                return 0;
            }
            let row = row.into_owned();
            let bytes = row.heap_bytes() as isize;
            rows.push(row);
            bytes
        }
        (Partial::Rows(rows), _) => {
            let row = row.into_owned();
            let bytes = row.heap_bytes() as isize;
            rows.push(row);
            bytes
        }
        _ => 0,
    }
}

/// Groups of a `stats` and their running aggregations.
#[derive(Default, Clone)]
pub(crate) struct AggTable {
    groups: Vec<Group>,
    /// Where each group's `by` values are in `groups`.
    index: HashMap<Vec<Key>, usize>,
    /// The groups of one time value (`by bin(...)`) by that value: the columnar kernel's
    /// lookup, once per run of rows in one bin, without building a key (a subset of
    /// `index`; foldhash: a SipHash per run was a tenth of `stats ... by bin(1m)`).
    by_time: foldhash::HashMap<i64, usize>,
}

/// A group's `by` values and its finished aggregations.
struct Finished {
    by: Vec<Value>,
    done: Vec<Value>,
}

#[derive(Clone)]
pub(crate) struct Group {
    pub(crate) accs: Vec<Acc>,
    /// The `by` values as first seen (for the output row).
    by: Vec<Value>,
}

impl AggTable {
    pub(crate) fn add(&mut self, s: &StatsPlan, mut row: Row<'_>, ctx: &EvalCtx<'_>) -> isize {
        let by: Vec<Value> = s.by.iter().map(|(_, e)| eval(e, &mut row, ctx, &[])).collect();
        let (group, mut delta) = self.group(s, by);
        let ts = row.ts();
        for (acc, spec) in group.accs.iter_mut().zip(&s.aggs) {
            let v = match &spec.arg {
                Some(e) => eval(e, &mut row, ctx, &[]),
                None => Value::Null,
            };
            delta += acc.update(spec.kind, v, ts);
        }
        delta
    }

    /// The group of the `by` values `by`, created when new; returns it with the estimated
    /// bytes a new group adds.
    pub(crate) fn group(&mut self, s: &StatsPlan, by: Vec<Value>) -> (&mut Group, isize) {
        let (i, delta) = self.group_index(s, by);
        (&mut self.groups[i], delta)
    }

    /// [`AggTable::group`] for a stats grouped by one time value alone, the value `t`.
    pub(crate) fn time_group(&mut self, s: &StatsPlan, t: i64) -> (&mut Group, isize) {
        let (i, delta) = match self.by_time.get(&t) {
            Some(&i) => (i, 0),
            None => {
                let (i, delta) = self.group_index(s, vec![Value::Time(t)]);
                self.by_time.insert(t, i);
                (i, delta)
            }
        };
        (&mut self.groups[i], delta)
    }

    fn group_index(&mut self, s: &StatsPlan, by: Vec<Value>) -> (usize, isize) {
        use std::collections::hash_map::Entry;
        let key: Vec<Key> = by.iter().cloned().map(Key).collect();
        match self.index.entry(key) {
            Entry::Occupied(i) => (*i.get(), 0),
            Entry::Vacant(v) => {
                let delta = 64
                    + by.iter().map(|v| 2 * v.heap_bytes() + 32).sum::<usize>() as isize
                    + 56 * s.aggs.len() as isize;
                let accs = s.aggs.iter().map(|a| a.kind.init()).collect();
                self.groups.push(Group { accs, by });
                v.insert(self.groups.len() - 1);
                (self.groups.len() - 1, delta)
            }
        }
    }

    /// Whether no group exists yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    fn merge(&mut self, s: &StatsPlan, other: AggTable) {
        for g in other.groups {
            let key: Vec<Key> = g.by.iter().cloned().map(Key).collect();
            match self.index.get(&key) {
                Some(&i) => {
                    let mine = &mut self.groups[i];
                    for ((a, b), spec) in mine.accs.iter_mut().zip(g.accs).zip(&s.aggs) {
                        a.merge(spec.kind, b);
                    }
                }
                None => {
                    self.groups.push(g);
                    self.index.insert(key, self.groups.len() - 1);
                }
            }
        }
    }

    /// The result rows, ordered by their `by` values (natural order, ascending).
    pub(crate) fn finish(self, s: &StatsPlan, ctx: &EvalCtx<'_>) -> Vec<Row<'static>> {
        let mut table = self;
        if s.by.is_empty() && table.is_empty() {
            // `stats count(*)` over nothing is one row of zeros, not no rows.
            table.group(s, Vec::new());
        }
        AggTable::rows(table.finish_groups(s), s, ctx)
    }

    /// Each group's `by` values and finished aggregations, in no order.
    fn finish_groups(self, s: &StatsPlan) -> Vec<Finished> {
        self.groups
            .into_iter()
            .map(|mut g| Finished {
                done: g.accs.iter_mut().zip(&s.aggs).map(|(a, spec)| a.finish(spec.kind)).collect(),
                by: g.by,
            })
            .collect()
    }

    /// Splits the groups into `parts` tables by the hash of their `by` values: the same
    /// group of two tables lands in the same part.
    fn split(mut self, parts: usize) -> Vec<AggTable> {
        use std::hash::BuildHasher;
        let hasher = foldhash::fast::FixedState::with_seed(0x1095_1647);
        let mut out: Vec<AggTable> = (0..parts).map(|_| AggTable::default()).collect();
        for (key, i) in self.index {
            let part = (hasher.hash_one(&key) % parts as u64) as usize;
            let g = &mut self.groups[i];
            let g = Group { accs: std::mem::take(&mut g.accs), by: std::mem::take(&mut g.by) };
            let t = &mut out[part];
            t.groups.push(g);
            t.index.insert(key, t.groups.len() - 1);
        }
        out
    }

    /// The result rows of finished groups, ordered by their `by` values (natural order,
    /// ascending).
    fn rows(mut groups: Vec<Finished>, s: &StatsPlan, ctx: &EvalCtx<'_>) -> Vec<Row<'static>> {
        groups.sort_by(|a, b| {
            a.by.iter()
                .zip(&b.by)
                .map(|(x, y)| natural_cmp(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        groups
            .into_iter()
            .map(|g| {
                let done = g.done;
                let mut row = Row::derived();
                for ((id, _), v) in s.by.iter().zip(g.by) {
                    row.set(*id, v);
                }
                for (id, e) in &s.outputs {
                    let v = eval(e, &mut row, ctx, &done);
                    row.set(*id, v);
                }
                row
            })
            .collect()
    }
}

/// The best `k` rows seen so far.
#[derive(Clone)]
struct TopK {
    order: Vec<SortSpec>,
    k: usize,
    rows: Vec<(Vec<Value>, Row<'static>)>,
    /// The worst row kept at the last trim; rows not better are skipped before copying.
    bar: Option<(Vec<Value>, Row<'static>)>,
}

/// Newest first; then the scan position, so ties are broken the same way every run.
pub(crate) fn default_cmp(a: &Row<'_>, b: &Row<'_>) -> Ordering {
    match (&a.base, &b.base) {
        (Some(x), Some(y)) => {
            y.ts.cmp(&x.ts).then(x.pos.0.cmp(&y.pos.0)).then(y.pos.1.cmp(&x.pos.1))
        }
        _ => Ordering::Equal,
    }
}

fn keys_cmp(order: &[SortSpec], a: &[Value], b: &[Value]) -> Ordering {
    for ((x, y), spec) in a.iter().zip(b).zip(order) {
        let o = natural_cmp(x, y);
        let o = if spec.desc { o.reverse() } else { o };
        if o.is_ne() {
            return o;
        }
    }
    Ordering::Equal
}

impl TopK {
    fn new(order: Vec<SortSpec>, k: usize) -> TopK {
        TopK { order, k, rows: Vec::new(), bar: None }
    }

    fn add(&mut self, mut row: Row<'_>, ctx: &EvalCtx<'_>) -> isize {
        if self.k == 0 {
            return 0;
        }
        let keys: Vec<Value> =
            self.order.iter().map(|s| eval(&s.expr, &mut row, ctx, &[])).collect();
        if let Some((bk, br)) = &self.bar
            && keys_cmp(&self.order, &keys, bk).then_with(|| default_cmp(&row, br)).is_ge()
        {
            return 0;
        }
        let row = row.into_owned();
        let mut delta =
            (row.heap_bytes() + keys.iter().map(Value::heap_bytes).sum::<usize>()) as isize;
        self.rows.push((keys, row));
        if self.rows.len() >= self.k.max(512).saturating_mul(2) {
            delta -= self.trim();
        }
        delta
    }

    /// Sorts and keeps the best `k`; returns the bytes freed.
    fn trim(&mut self) -> isize {
        let order = &self.order;
        self.rows.sort_by(|(ka, ra), (kb, rb)| {
            keys_cmp(order, ka, kb).then_with(|| default_cmp(ra, rb))
        });
        let freed: usize = self.rows[self.k.min(self.rows.len())..]
            .iter()
            .map(|(k, r)| r.heap_bytes() + k.iter().map(Value::heap_bytes).sum::<usize>())
            .sum();
        self.rows.truncate(self.k);
        if self.rows.len() == self.k {
            self.bar = self.rows.last().cloned();
        }
        freed as isize
    }
}

fn merge(shared: &Shared, partials: Vec<Partial>) -> Result<Vec<Row<'static>>> {
    let plan = &shared.plan;
    let ctx = shared.ctx();
    Ok(match &plan.sink {
        Sink::CountBins { stats, bin } => {
            let mut counts: HashMap<i64, u64> = HashMap::new();
            for p in partials {
                if let Partial::Count(c) = p {
                    for (k, v) in c {
                        *counts.entry(k).or_default() += v;
                    }
                }
            }
            let mut bins: Vec<(i64, u64)> = counts.into_iter().collect();
            bins.sort_unstable();
            if bin.is_none() && bins.is_empty() {
                bins.push((0, 0));
            }
            bins.into_iter()
                .map(|(b, n)| {
                    let mut row = Row::derived();
                    if let (Some(_), Some((id, _))) = (bin, stats.by.first()) {
                        row.set(*id, Value::Time(b));
                    }
                    let done = vec![Value::Int(n as i64); stats.aggs.len()];
                    for (id, e) in &stats.outputs {
                        let v = eval(e, &mut row, &ctx, &done);
                        row.set(*id, v);
                    }
                    row
                })
                .collect()
        }
        Sink::Aggregate(s) => {
            let mut table = AggTable::default();
            for p in partials {
                if let Partial::Agg(t) = p {
                    table.merge(s, t);
                }
            }
            table.finish(s, &ctx)
        }
        Sink::TopK { order, k } => {
            let mut all = TopK::new(order.clone(), *k);
            for p in partials {
                if let Partial::TopK(t) = p {
                    all.rows.extend(t.rows);
                }
            }
            all.trim();
            all.rows.into_iter().map(|(_, r)| r).collect()
        }
        Sink::Any { n } => {
            let mut rows: Vec<Row<'static>> = Vec::new();
            for p in partials {
                if let Partial::Rows(r) = p {
                    rows.extend(r);
                }
            }
            rows.truncate(*n);
            rows
        }
        Sink::Pattern { spec, .. } => {
            let parts = partials.into_iter().filter_map(|p| match p {
                Partial::Pattern(p) => Some(p),
                _ => None,
            });
            crate::pattern::finish(spec, parts.collect())
        }
        Sink::Collect => {
            let mut rows: Vec<Row<'static>> = Vec::new();
            for p in partials {
                if let Partial::Rows(r) = p {
                    rows.extend(r);
                }
            }
            rows.sort_by(default_cmp);
            rows
        }
    })
}

/// Runs the stages after the barrier on the merged rows.
pub(crate) fn post(
    mut rows: Vec<Row<'static>>,
    stages: &[Stage],
    ctx: &EvalCtx<'_>,
    budget: usize,
    mut used: isize,
) -> Result<Vec<Row<'static>>> {
    let over = |used: isize| {
        if used > budget as isize {
            Err(EngineError::MemoryBudgetExceeded { budget })
        } else {
            Ok(())
        }
    };
    for stage in stages {
        match stage {
            Stage::Row(op, _) => {
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    run_ops(std::slice::from_ref(op), row, ctx, &mut |r| out.push(r));
                }
                used += out.iter().map(|r| r.heap_bytes() as isize).sum::<isize>() / 4;
                over(used)?;
                rows = out;
            }
            Stage::Stats(s) => {
                let mut table = AggTable::default();
                for row in rows {
                    used += table.add(s, row, ctx);
                }
                over(used)?;
                rows = table.finish(s, ctx);
            }
            Stage::Sort(keys, _) => {
                let mut keyed: Vec<(Vec<Value>, Row<'static>)> = rows
                    .into_iter()
                    .map(|mut r| {
                        (keys.iter().map(|k| eval(&k.expr, &mut r, ctx, &[])).collect(), r)
                    })
                    .collect();
                keyed.sort_by(|(a, _), (b, _)| keys_cmp(keys, a, b));
                rows = keyed.into_iter().map(|(_, r)| r).collect();
            }
            Stage::Limit { rows: n, .. } => rows.truncate(*n),
            Stage::Pattern(p) => rows = crate::pattern::over_rows(p, rows, ctx),
            Stage::Dedup(ids, _) => {
                let mut seen: HashSet<Vec<Key>> = HashSet::new();
                rows.retain_mut(|r| {
                    let vals: Vec<Value> = ids.iter().map(|id| r.get(*id, ctx)).collect();
                    // Rows with a null key are kept, never treated as duplicates.
                    if vals.iter().any(Value::is_null) {
                        return true;
                    }
                    seen.insert(vals.into_iter().map(Key).collect())
                });
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agg::{AggKind, AggSpec, Number};

    fn plan() -> StatsPlan {
        let agg = |kind| AggSpec { kind, arg: None };
        StatsPlan {
            aggs: vec![agg(AggKind::CountAll), agg(AggKind::Pct(50.0)), agg(AggKind::Sum)],
            by: Vec::new(),
            outputs: Vec::new(),
            text: String::new(),
        }
    }

    /// A worker's table: groups `k * step % modulo`, so two tables share many groups.
    fn table(s: &StatsPlan, step: i64, modulo: i64) -> AggTable {
        let mut t = AggTable::default();
        for k in 0..500 {
            let (g, _) = t.group(s, vec![Value::Int(k * step % modulo)]);
            g.accs[0].update(AggKind::CountAll, Value::Null, None);
            g.accs[1].update_number(AggKind::Pct(50.0), Number::Int(k), None);
            g.accs[2].update_number(AggKind::Sum, Number::Int(k * step), None);
        }
        t
    }

    fn printed(groups: Vec<Finished>) -> Vec<String> {
        let mut out: Vec<String> =
            groups.into_iter().map(|g| format!("{:?} {:?}", g.by, g.done)).collect();
        out.sort();
        out
    }

    #[test]
    fn shares_split_by_group_finish_as_the_whole() {
        let s = plan();
        let (a, b) = (table(&s, 7, 300), table(&s, 11, 250));
        let mut whole = a.clone();
        whole.merge(&s, b.clone());
        let expected = printed(whole.finish_groups(&s));
        assert_eq!(expected.len(), 300);
        for parts in [1, 2, 3, 8] {
            let mut got = Vec::new();
            for (x, y) in a.clone().split(parts).into_iter().zip(b.clone().split(parts)) {
                assert!(parts == 1 || x.index.len() < 300);
                let mut t = x;
                t.merge(&s, y);
                got.extend(t.finish_groups(&s));
            }
            assert_eq!(printed(got), expected, "{parts} parts");
        }
    }

    #[test]
    fn time_groups_are_the_groups_of_their_time_value() {
        let s = plan();
        let mut t = AggTable::default();
        t.group(&s, vec![Value::Time(60_000)]).0.accs[0].update(
            AggKind::CountAll,
            Value::Null,
            None,
        );
        t.time_group(&s, 60_000).0.accs[0].update(AggKind::CountAll, Value::Null, None);
        t.time_group(&s, 120_000).0.accs[0].update(AggKind::CountAll, Value::Null, None);
        let rows = printed(t.finish_groups(&s));
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows.iter().any(|r| r.starts_with("[Time(60000)] [Int(2)")), "{rows:?}");
    }
}
