//! logsight's Logs Insights query engine: bind, plan and run a query over a store.
//!
//! ```text
//! text ──parse_spanned──▶ AST ──bind──▶ Bound ──plan──▶ Plan ──run──▶ QueryResult
//!                        (query-lang)  (checks,   (range, streams,  (pool: per-unit
//!                                       compiled   columns, index    partials, merge,
//!                                       exprs)     slot, sink)       post stages)
//! ```
//!
//! - [`Engine`] owns a CPU pool (plain threads; never an async runtime). [`Engine::run`]
//!   blocks its caller; [`Engine::start`] runs a query on a thread of its own and returns a
//!   [`RunningQuery`] a server can poll (statistics so far), cancel or wait on.
//! - All storage access is in `source` ([`DataSource`]); the executor sees columnar batches.
//! - Guards: a [`CancelToken`] checked between units, a per-query memory budget (estimated
//!   bytes of rows, groups and sets held) and a timeout, each failing the query with its own
//!   [`EngineError`].
//!
//! Semantics follow `cloudwatch-reference.md` §1; where the reference leaves a choice, the
//! module that makes it says which (`bind` for `bin` periods, `agg` for `count_distinct`,
//! `pct` and `stddev`, `parse` for globs, `value` for comparisons and printing).

mod agg;
mod bind;
mod bins;
mod cache;
mod error;
mod events;
mod exec;
mod expr;
mod functions;
mod kernel;
mod parse;
mod pattern;
mod plan;
mod pool;
mod row;
mod screen;
mod source;
pub mod value;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use logsight_model::TimeRange;

pub use agg::DISTINCT_EXACT_LIMIT;
pub use bind::MAX_LIMIT;
pub use cache::{BlockCache, CacheStats, DEFAULT_BLOCK_CACHE_BYTES};
pub use error::{EngineError, Result};
pub use events::{
    EventCut, EventsPage, EventsStatistics, FilterEventsPlan, FoundEvent, ScanBudget,
    StreamSelection, TIME_CHECK_EVERY, pattern_requirement,
};
pub use plan::{Columns, DEFAULT_LIMIT, Plan};
pub use row::{ACCOUNT_ID, MAX_JSON_FIELDS};
pub use source::{DataSource, FieldCount, FieldCounts};

/// Log groups one query may name (`StartQuery`).
pub const MAX_GROUPS: usize = 50;

/// Tuning of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads of the pool.
    pub threads: usize,
    /// Per-query memory budget in (estimated) bytes.
    pub memory_budget: usize,
    /// Per-query timeout.
    pub timeout: Duration,
    /// How often a running query publishes its rows so far ([`Progress::partial`]); `None`:
    /// never.
    pub partial_every: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_budget: 512 << 20,
            timeout: Duration::from_secs(60 * 60),
            partial_every: Some(Duration::from_secs(1)),
        }
    }
}

/// One query to run.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// The Logs Insights query text.
    pub query: String,
    /// Log groups (1 to 50), unless the query names them with `SOURCE`.
    pub groups: Vec<String>,
    /// First millisecond of the range (inclusive).
    pub start_ms: i64,
    /// Last millisecond of the range (inclusive, like `StartQuery`).
    pub end_ms: i64,
    /// Rows returned at most; `None`: the query's own `limit`, else 10,000.
    pub limit: Option<usize>,
}

/// Stops a running query; checked between scan units.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks the query to stop; it fails with [`EngineError::Cancelled`].
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of a query, updated while it runs, and its rows so far.
#[derive(Debug, Default)]
pub struct Progress {
    scanned: AtomicU64,
    matched: AtomicU64,
    bytes: AtomicU64,
    groups: AtomicU64,
    partial: parking_lot::Mutex<Option<Arc<QueryResult>>>,
    skipped_records: AtomicU64,
    skipped_bytes: AtomicU64,
    index_damaged: AtomicU64,
}

impl Progress {
    /// The rows of the scanned part of the data, as the whole query would answer over it
    /// (`stats` over what was scanned, the best rows so far of a `sort`), published while
    /// the query runs (every [`EngineConfig::partial_every`]); `None` before the first.
    pub fn partial(&self) -> Option<Arc<QueryResult>> {
        self.partial.lock().clone()
    }

    /// The counters now.
    pub fn snapshot(&self) -> Statistics {
        Statistics {
            records_scanned: self.scanned.load(Ordering::Relaxed),
            records_matched: self.matched.load(Ordering::Relaxed),
            bytes_scanned: self.bytes.load(Ordering::Relaxed),
            log_groups_scanned: self.groups.load(Ordering::Relaxed),
            estimated_records_skipped: self.skipped_records.load(Ordering::Relaxed),
            estimated_bytes_skipped: self.skipped_bytes.load(Ordering::Relaxed),
            index_segments_damaged: self.index_damaged.load(Ordering::Relaxed),
        }
    }
}

/// A query's statistics (`GetQueryResults.statistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statistics {
    /// Events in the time range of the scanned groups.
    pub records_scanned: u64,
    /// Events that passed the per-row commands (filters) before the first `stats`, `sort`,
    /// `limit` or `dedup`.
    pub records_matched: u64,
    /// Message bytes of the blocks decoded.
    pub bytes_scanned: u64,
    /// Log groups scanned.
    pub log_groups_scanned: u64,
    /// Events in blocks the full-text index or the JSON field columns' statistics and value
    /// sets ruled out (not decoded; counted before the time range is applied, hence an
    /// estimate, as CloudWatch calls it).
    pub estimated_records_skipped: u64,
    /// Message bytes of those blocks.
    pub estimated_bytes_skipped: u64,
    /// Segments whose index artifact was found damaged: scanned whole (results stay right)
    /// and rebuilt in the background; a warning.
    pub index_segments_damaged: u64,
}

/// A query's result: named columns and rows of text (every value a string, as
/// `GetQueryResults` returns them), plus statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Field names, in the query's order.
    pub columns: Vec<String>,
    /// Rows; each has one cell per column, `None` where the row has no such field.
    pub rows: Vec<Vec<Option<String>>>,
    /// Counters.
    pub statistics: Statistics,
    /// Whether [`Engine::run_with_ptr`] added `@ptr` as the last column (the query itself
    /// does not show it).
    pub ptr_added: bool,
}

/// The query engine. Cheap to share behind an `Arc`; its pool lives as long as it does.
pub struct Engine {
    pool: pool::Pool,
    config: EngineConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("config", &self.config).finish()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Engine {
    /// Starts the pool.
    pub fn new(config: EngineConfig) -> Engine {
        Engine { pool: pool::Pool::new(config.threads), config }
    }

    /// Checks and plans a query without running it.
    pub fn plan(&self, source: &DataSource, req: &QueryRequest) -> Result<Plan> {
        let bound = bind::bind_text(&req.query)?;
        self.plan_bound(source, req, bound)
    }

    fn plan_bound(
        &self,
        source: &DataSource,
        req: &QueryRequest,
        bound: bind::Bound,
    ) -> Result<Plan> {
        if let Some(limit) = req.limit
            && (limit == 0 || limit as u64 > MAX_LIMIT)
        {
            return Err(EngineError::InvalidArgument(format!(
                "limit must be between 1 and {MAX_LIMIT}, found {limit}"
            )));
        }
        if req.end_ms < req.start_ms {
            return Err(EngineError::InvalidArgument(
                "the end of the time range is before its start".into(),
            ));
        }
        let groups = match &bound.source {
            Some(spec) => {
                if !req.groups.is_empty() {
                    return Err(EngineError::InvalidArgument(
                        "name log groups either in the request or with SOURCE, not both".into(),
                    ));
                }
                let mut groups: Vec<String> = spec.names.clone();
                if !spec.prefixes.is_empty() {
                    for g in source.group_names() {
                        if spec.prefixes.iter().any(|p| g.starts_with(p.as_str()))
                            && !groups.contains(&g)
                        {
                            groups.push(g);
                        }
                    }
                }
                groups
            }
            None => req.groups.clone(),
        };
        if groups.is_empty() && bound.source.is_none() {
            return Err(EngineError::InvalidArgument(
                "a query needs at least one log group".into(),
            ));
        }
        if groups.len() > MAX_GROUPS && bound.source.is_none() {
            return Err(EngineError::InvalidArgument(format!(
                "a query may name at most {MAX_GROUPS} log groups, found {}",
                groups.len()
            )));
        }
        for g in &groups {
            source.check_group(g)?;
        }
        let range = TimeRange::new(Some(req.start_ms), Some(req.end_ms.saturating_add(1)));
        Ok(Plan::new(bound, groups, range, req.limit))
    }

    /// The plan as text, with the scan it would do (`logsight query --explain`).
    pub fn explain(&self, source: &DataSource, req: &QueryRequest) -> Result<String> {
        let plan = self.plan(source, req)?;
        let mut set = source.plan(&plan.groups, plan.streams.as_deref(), plan.range)?;
        let pruned = source.prune(&mut set, &plan.text);
        let events: u64 = set.units.iter().map(|u| u.events()).sum();
        let mut text = format!(
            "{plan}\nscan: {} units ({} events) after pruning; {} sealed blocks in the store\n\
             index: {} blocks ({} events, {} message bytes) skipped; {} segments not indexed \
             yet, {} with a damaged index (scanned)",
            set.units.len(),
            events,
            set.blocks_total,
            pruned.units,
            pruned.records,
            pruned.bytes,
            pruned.unindexed,
            pruned.damaged,
        );
        if plan.columns.json {
            let pruned = source.attach_fields(&mut set, &plan.prunes);
            let with = set.units.iter().filter(|u| u.has_fields()).count();
            text.push_str(&format!(
                "\nJSON fields from columns in {with} of {} units (the rest parse messages); \
                 {} units pruned by their columns' statistics and value sets ({} events, {} \
                 message bytes)",
                set.units.len(),
                pruned.units,
                pruned.records,
                pruned.bytes,
            ));
        }
        Ok(text)
    }

    /// How many of `group`'s events in `range` have each JSON field (GetLogGroupFields),
    /// counted on the pool: units without columns have their messages parsed.
    pub fn field_counts(
        &self,
        source: &DataSource,
        group: &str,
        range: TimeRange,
    ) -> Result<FieldCounts> {
        let (source, group) = (source.clone(), group.to_string());
        let (tx, rx) = crossbeam::channel::bounded(1);
        self.pool.spawn(Box::new(move || {
            let _ = tx.send(source.field_counts(&group, range));
        }));
        rx.recv().map_err(|_| EngineError::Internal("a worker stopped counting fields".into()))?
    }

    /// Runs a query to the end on the caller's thread (the scan itself runs on the pool).
    pub fn run(
        &self,
        source: &DataSource,
        req: &QueryRequest,
        cancel: &CancelToken,
    ) -> Result<QueryResult> {
        self.run_with(source, req, cancel, &Arc::new(Progress::default()))
    }

    /// Like [`Engine::run`], updating `progress` as it goes.
    pub fn run_with(
        &self,
        source: &DataSource,
        req: &QueryRequest,
        cancel: &CancelToken,
        progress: &Arc<Progress>,
    ) -> Result<QueryResult> {
        self.run_inner(source, req, cancel, progress, false)
    }

    /// Like [`Engine::run_with`], but as `GetQueryResults` answers: when the rows are events
    /// (no `stats`), `@ptr` is added as the last column unless the query shows it already.
    pub fn run_with_ptr(
        &self,
        source: &DataSource,
        req: &QueryRequest,
        cancel: &CancelToken,
        progress: &Arc<Progress>,
    ) -> Result<QueryResult> {
        self.run_inner(source, req, cancel, progress, true)
    }

    fn run_inner(
        &self,
        source: &DataSource,
        req: &QueryRequest,
        cancel: &CancelToken,
        progress: &Arc<Progress>,
        with_ptr: bool,
    ) -> Result<QueryResult> {
        let started = Instant::now();
        let now = now_ms();
        let limits = exec::Limits {
            budget: self.config.memory_budget,
            deadline: started + self.config.timeout,
            timeout: self.config.timeout,
            now_ms: now,
        };
        let mut bound = bind::bind_text(&req.query)?;
        // Subqueries run first; their results become sets for `in`.
        let mut sets = Vec::new();
        for sub in std::mem::take(&mut bound.subqueries) {
            let sub_req = QueryRequest { limit: None, ..req.clone() };
            let plan = self.plan_bound(source, &sub_req, sub)?;
            let (rows, names, plan) = self.scan(source, plan, cancel, progress, &limits, None)?;
            let ctx = exec::ctx(&plan, &names, now);
            let first = plan.bound.output[0];
            let mut set = std::collections::HashSet::new();
            for mut r in rows {
                if let Some(k) = r.get(first, &ctx).set_key() {
                    set.insert(k);
                }
            }
            sets.push(Arc::new(set));
        }
        resolve_subqueries(&mut bound, &sets);
        let mut ptr_added = false;
        if with_ptr && !bound.stages.iter().any(|s| matches!(s, bind::Stage::Stats(_))) {
            let ptr = bound.symbols.intern("@ptr");
            if !bound.output.contains(&ptr) {
                bound.output.push(ptr);
                ptr_added = true;
            }
        }
        let plan = self.plan_bound(source, req, bound)?;
        let publish = |rows: Vec<row::Row<'static>>, plan: &Plan, ctx: &row::EvalCtx<'_>| {
            let (columns, rows) = render(plan, ctx, rows);
            let partial = QueryResult { columns, rows, statistics: progress.snapshot(), ptr_added };
            *progress.partial.lock() = Some(Arc::new(partial));
        };
        let snapshots =
            self.config.partial_every.map(|every| exec::Snapshots { every, publish: &publish });
        let (rows, names, plan) =
            self.scan(source, plan, cancel, progress, &limits, snapshots.as_ref())?;
        let ctx = exec::ctx(&plan, &names, now);
        let (columns, rows) = render(&plan, &ctx, rows);
        Ok(QueryResult { columns, rows, statistics: progress.snapshot(), ptr_added })
    }

    #[allow(clippy::type_complexity)]
    fn scan(
        &self,
        source: &DataSource,
        plan: Plan,
        cancel: &CancelToken,
        progress: &Arc<Progress>,
        limits: &exec::Limits,
        snapshots: Option<&exec::Snapshots<'_>>,
    ) -> Result<(Vec<row::Row<'static>>, row::Names, Arc<Plan>)> {
        let now = limits.now_ms;
        let mut set = source.plan(&plan.groups, plan.streams.as_deref(), plan.range)?;
        let pruned = source.prune(&mut set, &plan.text);
        progress.skipped_records.fetch_add(pruned.records, Ordering::Relaxed);
        progress.skipped_bytes.fetch_add(pruned.bytes, Ordering::Relaxed);
        progress.index_damaged.fetch_add(pruned.damaged, Ordering::Relaxed);
        if plan.columns.json {
            let pruned = source.attach_fields(&mut set, &plan.prunes);
            progress.skipped_records.fetch_add(pruned.records, Ordering::Relaxed);
            progress.skipped_bytes.fetch_add(pruned.bytes, Ordering::Relaxed);
        }
        progress.groups.fetch_add(plan.groups.len() as u64, Ordering::Relaxed);
        let plan = Arc::new(plan);
        let names = set.names.clone();
        let (rows, used) =
            exec::scan(&self.pool, plan.clone(), set, cancel, progress, limits, snapshots)?;
        let ctx = exec::ctx(&plan, &names, now);
        let rows = exec::post(rows, &plan.post, &ctx, limits.budget, used)?;
        if Instant::now() > limits.deadline {
            return Err(EngineError::Timeout(limits.timeout));
        }
        Ok((rows, names, plan))
    }

    /// Runs a query on a thread of its own; the returned handle polls, cancels or waits.
    pub fn start(self: &Arc<Self>, source: DataSource, req: QueryRequest) -> RunningQuery {
        let cancel = CancelToken::new();
        let progress = Arc::new(Progress::default());
        let engine = self.clone();
        let (c, p) = (cancel.clone(), progress.clone());
        let handle = std::thread::Builder::new()
            .name("query".into())
            .spawn(move || engine.run_with(&source, &req, &c, &p))
            .expect("the OS can start a query thread");
        RunningQuery { handle, cancel, progress }
    }
}

/// The plan's output columns and the first `plan.cap` rows as text.
#[allow(clippy::type_complexity)]
fn render(
    plan: &Plan,
    ctx: &row::EvalCtx<'_>,
    rows: Vec<row::Row<'static>>,
) -> (Vec<String>, Vec<Vec<Option<String>>>) {
    let columns =
        plan.bound.output.iter().map(|id| plan.bound.symbols.name(*id).to_string()).collect();
    let rows = rows
        .into_iter()
        .take(plan.cap)
        .map(|mut r| {
            plan.bound
                .output
                .iter()
                .map(|id| r.get(*id, ctx).render().map(|c| c.into_owned()))
                .collect()
        })
        .collect();
    (columns, rows)
}

/// Puts the subqueries' result sets into every `in (subquery)` of every stage.
fn resolve_subqueries(bound: &mut bind::Bound, sets: &[Arc<std::collections::HashSet<String>>]) {
    let mut fix = |e: &mut expr::CExpr| {
        if let expr::CExpr::In { set, .. } = e
            && let expr::InSet::Pending(i) = set
            && let Some(s) = sets.get(*i)
        {
            *set = expr::InSet::Ready(s.clone());
        }
    };
    for stage in &mut bound.stages {
        match stage {
            bind::Stage::Row(bind::RowOp::Filter(e), _) => e.walk_mut(&mut fix),
            bind::Stage::Row(bind::RowOp::Fields(ps), _) => {
                ps.iter_mut().for_each(|(_, e)| e.walk_mut(&mut fix))
            }
            bind::Stage::Row(bind::RowOp::Unnest { source, .. }, _) => source.walk_mut(&mut fix),
            bind::Stage::Row(bind::RowOp::Parse(_), _) => {}
            bind::Stage::Stats(st) => {
                st.aggs
                    .iter_mut()
                    .filter_map(|a| a.arg.as_mut())
                    .for_each(|e| e.walk_mut(&mut fix));
                st.by.iter_mut().for_each(|(_, e)| e.walk_mut(&mut fix));
                st.outputs.iter_mut().for_each(|(_, e)| e.walk_mut(&mut fix));
            }
            bind::Stage::Sort(keys, _) => keys.iter_mut().for_each(|k| k.expr.walk_mut(&mut fix)),
            bind::Stage::Limit { .. } | bind::Stage::Dedup(..) | bind::Stage::Pattern(_) => {}
        }
    }
}

/// A query running on a thread of its own ([`Engine::start`]).
#[derive(Debug)]
pub struct RunningQuery {
    handle: JoinHandle<Result<QueryResult>>,
    cancel: CancelToken,
    progress: Arc<Progress>,
}

impl RunningQuery {
    /// Statistics so far.
    pub fn statistics(&self) -> Statistics {
        self.progress.snapshot()
    }

    /// Its rows so far ([`Progress::partial`]).
    pub fn partial(&self) -> Option<Arc<QueryResult>> {
        self.progress.partial()
    }

    /// Asks the query to stop.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether the query has finished (completed or failed).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the result.
    pub fn wait(self) -> Result<QueryResult> {
        self.handle.join().unwrap_or_else(|_| {
            Err(EngineError::Storage("the query thread panicked".to_string().into()))
        })
    }
}
