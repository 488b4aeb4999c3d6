//! The query manager: StartQuery, GetQueryResults, StopQuery and DescribeQueries over the
//! engine, without any transport.
//!
//! A query is checked and planned when it is started (a malformed query or a missing group
//! fails StartQuery, as CloudWatch's does), then queued. `slots` coordinator threads take
//! queries from the queue in order; each runs one query at a time with
//! [`Engine::run_with_ptr`], whose scan runs on the engine's own pool, and blocks meanwhile. So
//! at most `slots` queries run at once and the rest wait as `Scheduled`: queued, never refused
//! (CloudWatch answers LimitExceededException instead).
//!
//! Finished queries are kept `retention` (default 7 days, as CloudWatch) after they end, and
//! the rows of all kept results are bounded by `max_retained_bytes`: past it, the queries that
//! ended first are forgotten first (the newest result is always kept). Forgotten queries answer
//! ResourceNotFoundException.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Sender};
use logsight_engine::{
    BlockCache, CancelToken, DataSource, Engine, EngineConfig, EngineError, MAX_GROUPS, MAX_LIMIT,
    Progress, QueryRequest, QueryResult, Statistics,
};
use logsight_storage::{Clock, Store};
use parking_lot::{Condvar, Mutex};

use crate::error::{QueryError, Result};

/// Longest query text, in characters (CloudWatch: 10,000).
pub const MAX_QUERY_CHARS: usize = 10_000;

/// Most rows of one GetQueryResults page (CloudWatch: 10,000).
pub const MAX_PAGE_ROWS: usize = 10_000;

/// Most queries of one DescribeQueries page (CloudWatch: 1,000).
pub const MAX_DESCRIBE_RESULTS: usize = 1_000;

/// Tuning of a [`QueryManager`].
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Queries running at once; the rest wait as `Scheduled`.
    pub slots: usize,
    /// How long a finished query's results are kept.
    pub retention: Duration,
    /// Most bytes (estimated) of kept results; past it, the oldest finished are forgotten.
    pub max_retained_bytes: usize,
    /// The engine's pool, per-query memory budget and timeout.
    pub engine: EngineConfig,
    /// Bytes of decoded timestamps and JSON columns kept for the next queries (0: none).
    pub block_cache_bytes: u64,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            slots: std::thread::available_parallelism().map_or(2, |n| n.get()),
            retention: Duration::from_secs(7 * 24 * 3600),
            max_retained_bytes: 256 << 20,
            engine: EngineConfig::default(),
            block_cache_bytes: logsight_engine::DEFAULT_BLOCK_CACHE_BYTES,
        }
    }
}

/// A query's status, as `GetQueryResults` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryStatus {
    /// Queued behind the running queries.
    Scheduled,
    /// Running; statistics grow as it goes.
    Running,
    /// Finished; the rows are there.
    Complete,
    /// Failed (storage error, memory budget); the reason is in `error`.
    Failed,
    /// Stopped by StopQuery (or the server shutting down).
    Cancelled,
    /// Ran past the engine's timeout.
    Timeout,
}

impl QueryStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [QueryStatus; 6] = [
        QueryStatus::Scheduled,
        QueryStatus::Running,
        QueryStatus::Complete,
        QueryStatus::Failed,
        QueryStatus::Cancelled,
        QueryStatus::Timeout,
    ];

    /// Whether the query has ended (nothing will change any more).
    pub fn is_done(self) -> bool {
        !matches!(self, QueryStatus::Scheduled | QueryStatus::Running)
    }

    /// CloudWatch's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryStatus::Scheduled => "Scheduled",
            QueryStatus::Running => "Running",
            QueryStatus::Complete => "Complete",
            QueryStatus::Failed => "Failed",
            QueryStatus::Cancelled => "Cancelled",
            QueryStatus::Timeout => "Timeout",
        }
    }

    /// The status of a CloudWatch name.
    pub fn from_name(name: &str) -> Option<QueryStatus> {
        QueryStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A checked StartQuery request.
#[derive(Debug, Clone)]
pub struct StartQuery {
    query: String,
    groups: Vec<String>,
    start_ms: i64,
    end_ms: i64,
    limit: Option<usize>,
}

impl StartQuery {
    /// Checks a request: `start_s` and `end_s` are epoch seconds, both inclusive (the range
    /// ends at the last millisecond of `end_s`); 0 to 50 groups (none only with `SOURCE`,
    /// which the engine checks); the query up to 10,000 characters; `limit` 1 to 100,000.
    pub fn new(
        query: impl Into<String>,
        groups: Vec<String>,
        start_s: i64,
        end_s: i64,
        limit: Option<usize>,
    ) -> Result<StartQuery> {
        let query = query.into();
        let chars = query.chars().count();
        if query.trim().is_empty() {
            return Err(QueryError::InvalidParameter("queryString must not be empty".into()));
        }
        if chars > MAX_QUERY_CHARS {
            return Err(QueryError::InvalidParameter(format!(
                "queryString must be at most {MAX_QUERY_CHARS} characters, found {chars}"
            )));
        }
        if groups.len() > MAX_GROUPS {
            return Err(QueryError::InvalidParameter(format!(
                "a query may name at most {MAX_GROUPS} log groups, found {}",
                groups.len()
            )));
        }
        if start_s < 0 || end_s < 0 {
            return Err(QueryError::InvalidParameter(
                "startTime and endTime must not be negative".into(),
            ));
        }
        if end_s < start_s {
            return Err(QueryError::InvalidParameter(format!(
                "endTime ({end_s}) must not be before startTime ({start_s})"
            )));
        }
        if let Some(l) = limit
            && (l == 0 || l as u64 > MAX_LIMIT)
        {
            return Err(QueryError::InvalidParameter(format!(
                "limit must be between 1 and {MAX_LIMIT}, found {l}"
            )));
        }
        let to_ms = |s: i64| s.saturating_mul(1000);
        Ok(StartQuery {
            query,
            groups,
            start_ms: to_ms(start_s),
            end_ms: to_ms(end_s).saturating_add(999),
            limit,
        })
    }

    fn request(&self) -> QueryRequest {
        QueryRequest {
            query: self.query.clone(),
            groups: self.groups.clone(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            limit: self.limit,
        }
    }
}

/// One page of a query's results (`GetQueryResults`).
#[derive(Debug, Clone)]
pub struct ResultsPage {
    /// The status now.
    pub status: QueryStatus,
    /// Field names of the rows, in the query's order (`@ptr` last when the rows are events).
    pub columns: Vec<String>,
    /// The page's rows: one cell per column, `None` where the row has no such field. While
    /// the query runs, the rows of the part scanned so far (see `Progress::partial`).
    pub rows: Vec<Vec<Option<String>>>,
    /// Statistics so far (final once the query ended).
    pub statistics: Statistics,
    /// Resumes after this page when more rows remain.
    pub next_token: Option<String>,
    /// Why the query failed, when it did.
    pub error: Option<String>,
    /// Whether `@ptr` is a column the query did not ask for (the last one).
    pub ptr_added: bool,
}

/// A query as `DescribeQueries` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryInfo {
    /// The query id.
    pub id: String,
    /// The query text.
    pub query: String,
    /// The status now.
    pub status: QueryStatus,
    /// When it was started, epoch ms.
    pub create_time_ms: i64,
    /// The log groups of the request (empty with `SOURCE`).
    pub groups: Vec<String>,
    /// Milliseconds from start to end, or to now while it has not ended.
    pub duration_ms: i64,
    /// Message bytes scanned so far.
    pub bytes_scanned: u64,
}

/// Which queries `DescribeQueries` lists.
#[derive(Debug, Clone, Default)]
pub struct DescribeFilter {
    /// Only queries that name this log group.
    pub group: Option<String>,
    /// Only queries with this status.
    pub status: Option<QueryStatus>,
}

/// One page of `DescribeQueries`, newest first.
#[derive(Debug, Clone)]
pub struct QueryList {
    /// The queries.
    pub queries: Vec<QueryInfo>,
    /// Resumes after this page when more remain.
    pub next_token: Option<String>,
}

struct Entry {
    start: StartQuery,
    create_ms: i64,
    finished_ms: Option<i64>,
    status: QueryStatus,
    cancel: CancelToken,
    progress: Arc<Progress>,
    result: Option<Arc<QueryResult>>,
    error: Option<String>,
    /// Estimated bytes of the kept result.
    bytes: usize,
}

#[derive(Default)]
struct State {
    queries: HashMap<String, Entry>,
    retained_bytes: usize,
    /// Started queries, for the newest-first listing's tie-break.
    started: u64,
    seq: HashMap<String, u64>,
}

struct Inner {
    state: Mutex<State>,
    /// Signalled whenever a query changes status.
    changed: Condvar,
    clock: Arc<dyn Clock>,
    config: ManagerConfig,
}

/// Runs queries for the Queries API. Dropping it cancels what is queued or running and waits
/// for the coordinator threads.
pub struct QueryManager {
    inner: Arc<Inner>,
    engine: Arc<Engine>,
    source: DataSource,
    store: Arc<Store>,
    sender: Option<Sender<String>>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for QueryManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryManager").field("config", &self.inner.config).finish()
    }
}

impl QueryManager {
    /// A manager running queries over `store` on an engine of its own, timed by `clock`.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>, config: ManagerConfig) -> QueryManager {
        let engine = Arc::new(Engine::new(config.engine.clone()));
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            clock,
            config,
        });
        let cache = BlockCache::new(inner.config.block_cache_bytes);
        let source = DataSource::new(store.clone()).with_cache(cache);
        let (sender, receiver) = channel::unbounded::<String>();
        let workers = (0..inner.config.slots.max(1))
            .map(|i| {
                let (inner, engine, source) = (inner.clone(), engine.clone(), source.clone());
                let receiver = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("query-slot-{i}"))
                    .spawn(move || {
                        for id in receiver {
                            run_one(&inner, &engine, &source, &id);
                        }
                    })
                    .expect("the OS can start a query coordinator thread")
            })
            .collect();
        QueryManager { inner, engine, source, store, sender: Some(sender), workers }
    }

    /// The store queries read.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The engine queries run on (its pool is the server's one executor: FilterLogEvents
    /// runs on it too).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Where queries read, with the full-text index's cache.
    pub fn source(&self) -> &DataSource {
        &self.source
    }

    /// GetLogGroupFields over the source queries read, on the engine's pool (see
    /// [`crate::group_fields`]).
    pub fn group_fields(&self, group: &str, time_ms: i64) -> Result<Vec<crate::FieldShare>> {
        crate::group_fields(&self.engine, &self.source, group, time_ms)
    }

    /// Checks and plans the query, then queues it; returns its id. Fails with `Malformed`
    /// (with offsets) or `NotFound` (a group) at once, as CloudWatch's StartQuery does.
    pub fn start(&self, start: StartQuery) -> Result<String> {
        self.engine.plan(&self.source, &start.request())?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.inner.clock.now_ms();
        {
            let mut st = self.inner.state.lock();
            purge(&mut st, &self.inner.config, now);
            st.started += 1;
            let n = st.started;
            st.seq.insert(id.clone(), n);
            st.queries.insert(
                id.clone(),
                Entry {
                    start,
                    create_ms: now,
                    finished_ms: None,
                    status: QueryStatus::Scheduled,
                    cancel: CancelToken::new(),
                    progress: Arc::new(Progress::default()),
                    result: None,
                    error: None,
                    bytes: 0,
                },
            );
        }
        if let Some(s) = &self.sender {
            // The receivers live as long as the workers, which live as long as `self`.
            let _ = s.send(id.clone());
        }
        Ok(id)
    }

    /// The query's status, statistics and, once complete, one page of its rows (at most
    /// `max_rows`, itself at most 10,000) after `token`.
    pub fn results(
        &self,
        id: &str,
        token: Option<&str>,
        max_rows: Option<usize>,
    ) -> Result<ResultsPage> {
        let max = max_rows.unwrap_or(MAX_PAGE_ROWS);
        if max > MAX_PAGE_ROWS {
            return Err(QueryError::InvalidParameter(format!(
                "maxItems must be at most {MAX_PAGE_ROWS}, found {max}"
            )));
        }
        let mut st = self.inner.state.lock();
        purge(&mut st, &self.inner.config, self.inner.clock.now_ms());
        let e = entry(&st, id)?;
        let mut page = ResultsPage {
            status: e.status,
            columns: Vec::new(),
            rows: Vec::new(),
            statistics: e.progress.snapshot(),
            next_token: None,
            error: e.error.clone(),
            ptr_added: false,
        };
        // While it runs, the rows of what it scanned so far, as CloudWatch shows partial
        // results; they may change from one call to the next until it is Complete.
        let rows = match (&e.result, e.status) {
            (Some(r), _) => Some(r.clone()),
            (None, QueryStatus::Running) => e.progress.partial(),
            (None, _) => None,
        };
        if let Some(r) = &rows {
            let from = parse_token(token, r.rows.len())?;
            let to = (from + max).min(r.rows.len());
            page.columns = r.columns.clone();
            page.rows = r.rows[from..to].to_vec();
            if e.result.is_some() {
                page.statistics = r.statistics;
            }
            page.ptr_added = r.ptr_added;
            page.next_token = (to < r.rows.len()).then(|| format!("{id}/{to}"));
        }
        Ok(page)
    }

    /// Stops a scheduled or running query. Stopping a query that has ended is an error
    /// (InvalidParameterException), as CloudWatch's.
    pub fn stop(&self, id: &str) -> Result<()> {
        let now = self.inner.clock.now_ms();
        let mut st = self.inner.state.lock();
        let e = st.queries.get_mut(id).ok_or_else(|| not_found(id))?;
        match e.status {
            QueryStatus::Scheduled | QueryStatus::Running => {
                // A running query's coordinator sees the token between scan units and keeps
                // the status; its slot frees then.
                e.cancel.cancel();
                e.status = QueryStatus::Cancelled;
                e.finished_ms = Some(now);
                self.inner.changed.notify_all();
                Ok(())
            }
            done => Err(QueryError::InvalidParameter(format!(
                "query {id} has already ended ({})",
                done.as_str()
            ))),
        }
    }

    /// The kept queries, newest first, filtered; one page of at most `max_results`.
    pub fn describe(
        &self,
        filter: &DescribeFilter,
        max_results: Option<usize>,
        token: Option<&str>,
    ) -> Result<QueryList> {
        let max = max_results.unwrap_or(MAX_DESCRIBE_RESULTS);
        if max == 0 || max > MAX_DESCRIBE_RESULTS {
            return Err(QueryError::InvalidParameter(format!(
                "maxResults must be between 1 and {MAX_DESCRIBE_RESULTS}, found {max}"
            )));
        }
        let now = self.inner.clock.now_ms();
        let mut st = self.inner.state.lock();
        purge(&mut st, &self.inner.config, now);
        let mut all: Vec<(u64, QueryInfo)> = st
            .queries
            .iter()
            .filter(|(_, e)| filter.status.is_none_or(|s| e.status == s))
            .filter(|(_, e)| filter.group.as_ref().is_none_or(|g| e.start.groups.contains(g)))
            .map(|(id, e)| {
                let seq = st.seq.get(id).copied().unwrap_or(0);
                let info = QueryInfo {
                    id: id.clone(),
                    query: e.start.query.clone(),
                    status: e.status,
                    create_time_ms: e.create_ms,
                    groups: e.start.groups.clone(),
                    duration_ms: e.finished_ms.unwrap_or(now) - e.create_ms,
                    bytes_scanned: e.progress.snapshot().bytes_scanned,
                };
                (seq, info)
            })
            .collect();
        drop(st);
        all.sort_by_key(|q| std::cmp::Reverse(q.0));
        let from = match token {
            None | Some("") => 0,
            Some(t) => {
                t.parse::<usize>().ok().filter(|n| *n <= all.len()).ok_or_else(|| {
                    QueryError::InvalidParameter(format!("invalid nextToken {t:?}"))
                })?
            }
        };
        let to = (from + max).min(all.len());
        let next_token = (to < all.len()).then(|| to.to_string());
        let queries = all.drain(from..to).map(|(_, q)| q).collect();
        Ok(QueryList { queries, next_token })
    }

    /// Waits until the query has ended or `timeout` passed; returns the status then.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<QueryStatus> {
        let deadline = Instant::now() + timeout;
        let mut st = self.inner.state.lock();
        loop {
            let status = entry(&st, id)?.status;
            if status.is_done() {
                return Ok(status);
            }
            if self.inner.changed.wait_until(&mut st, deadline).timed_out() {
                return Ok(entry(&st, id)?.status);
            }
        }
    }

    /// Queries waiting and running now.
    pub fn load(&self) -> Load {
        let st = self.inner.state.lock();
        let count = |s| st.queries.values().filter(|e| e.status == s).count();
        Load { scheduled: count(QueryStatus::Scheduled), running: count(QueryStatus::Running) }
    }

    /// Bytes (estimated) of the results kept now.
    pub fn retained_bytes(&self) -> usize {
        self.inner.state.lock().retained_bytes
    }
}

/// Queries waiting and running ([`QueryManager::load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Queued as `Scheduled`.
    pub scheduled: usize,
    /// `Running`.
    pub running: usize,
}

impl QueryManager {
    /// Cancels every scheduled and running query (the server is shutting down).
    pub fn cancel_all(&self) {
        let now = self.inner.clock.now_ms();
        let mut st = self.inner.state.lock();
        for e in st.queries.values_mut().filter(|e| !e.status.is_done()) {
            e.cancel.cancel();
            e.status = QueryStatus::Cancelled;
            e.finished_ms = Some(now);
        }
        self.inner.changed.notify_all();
    }
}

impl Drop for QueryManager {
    fn drop(&mut self) {
        self.cancel_all();
        self.sender.take();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn not_found(id: &str) -> QueryError {
    QueryError::NotFound(format!("query {id:?} does not exist (or its results expired)"))
}

fn entry<'s>(st: &'s State, id: &str) -> Result<&'s Entry> {
    st.queries.get(id).ok_or_else(|| not_found(id))
}

/// A GetQueryResults token is `<query id>/<row offset>`; a token of another query is refused.
fn parse_token(token: Option<&str>, rows: usize) -> Result<usize> {
    let Some(t) = token.filter(|t| !t.is_empty()) else { return Ok(0) };
    t.rsplit_once('/')
        .and_then(|(_, n)| n.parse::<usize>().ok())
        .filter(|n| *n <= rows)
        .ok_or_else(|| QueryError::InvalidParameter(format!("invalid nextToken {t:?}")))
}

/// Runs one queued query on a coordinator thread.
fn run_one(inner: &Inner, engine: &Engine, source: &DataSource, id: &str) {
    let (req, cancel, progress) = {
        let mut st = inner.state.lock();
        let Some(e) = st.queries.get_mut(id) else { return };
        if e.status != QueryStatus::Scheduled {
            return; // stopped while queued
        }
        e.status = QueryStatus::Running;
        inner.changed.notify_all();
        (e.start.request(), e.cancel.clone(), e.progress.clone())
    };
    let outcome = engine.run_with_ptr(source, &req, &cancel, &progress);
    let now = inner.clock.now_ms();
    let mut st = inner.state.lock();
    let Some(e) = st.queries.get_mut(id) else { return };
    let mut added = 0;
    if e.status == QueryStatus::Running {
        e.finished_ms = Some(now);
        match outcome {
            Ok(r) => {
                e.bytes = result_bytes(&r);
                added = e.bytes;
                e.result = Some(Arc::new(r));
                e.status = QueryStatus::Complete;
            }
            Err(EngineError::Cancelled) => e.status = QueryStatus::Cancelled,
            Err(EngineError::Timeout(_)) => e.status = QueryStatus::Timeout,
            Err(err) => {
                tracing::warn!(query = id, error = %err, "query failed");
                e.error = Some(err.to_string());
                e.status = QueryStatus::Failed;
            }
        }
    }
    st.retained_bytes += added;
    purge(&mut st, &inner.config, now);
    inner.changed.notify_all();
}

/// Estimated bytes a result holds.
fn result_bytes(r: &QueryResult) -> usize {
    let cells: usize = r
        .rows
        .iter()
        .map(|row| 24 + row.iter().map(|c| 24 + c.as_ref().map_or(0, String::len)).sum::<usize>())
        .sum();
    cells + r.columns.iter().map(|c| 24 + c.len()).sum::<usize>() + 256
}

/// Forgets queries that ended more than `retention` ago, then, while the kept results pass
/// their byte bound, those that ended first.
fn purge(st: &mut State, config: &ManagerConfig, now: i64) {
    let keep_ms = i64::try_from(config.retention.as_millis()).unwrap_or(i64::MAX);
    let expired: Vec<String> = st
        .queries
        .iter()
        .filter(|(_, e)| e.finished_ms.is_some_and(|f| now.saturating_sub(f) >= keep_ms))
        .map(|(id, _)| id.clone())
        .collect();
    for id in expired {
        forget(st, &id);
    }
    // The newest result is always kept, so a query that alone passes the bound can still
    // be read once.
    while st.retained_bytes > config.max_retained_bytes {
        let mut kept: Vec<(Option<i64>, u64, String)> = st
            .queries
            .iter()
            .filter(|(_, e)| e.bytes > 0)
            .map(|(id, e)| (e.finished_ms, st.seq.get(id).copied().unwrap_or(0), id.clone()))
            .collect();
        if kept.len() < 2 {
            break;
        }
        kept.sort();
        forget(st, &kept[0].2);
    }
}

fn forget(st: &mut State, id: &str) {
    if let Some(e) = st.queries.remove(id) {
        st.retained_bytes -= e.bytes;
    }
    st.seq.remove(id);
}

#[cfg(test)]
mod tests {
    use logsight_model::{LogEvent, LogGroupName, LogStreamName};
    use logsight_storage::{ManualClock, StoreOptions};

    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    /// A store with `n` events in group `g` (stream `s`), one per second from 0.
    fn store(dir: &std::path::Path, n: i64) -> Arc<Store> {
        let opts = StoreOptions { sync: false, background: false, ..Default::default() };
        let store = Store::open(dir, opts).unwrap();
        let g = LogGroupName::new("g").unwrap();
        store.create_group(&g).unwrap();
        store.create_stream(&g, &LogStreamName::new("s").unwrap()).unwrap();
        let events: Vec<LogEvent> = (0..n)
            .map(|i| {
                LogEvent::new(i * 1000, i * 1000, format!("line {i} status={}", i % 7)).unwrap()
            })
            .collect();
        store.append("g", "s", &events).unwrap();
        Arc::new(store)
    }

    fn manager(store: Arc<Store>, clock: Arc<ManualClock>, config: ManagerConfig) -> QueryManager {
        let engine = EngineConfig { threads: 2, ..Default::default() };
        QueryManager::new(store, clock, ManagerConfig { engine, ..config })
    }

    fn start(m: &QueryManager, q: &str) -> String {
        m.start(StartQuery::new(q, vec!["g".into()], 0, 1_000_000, None).unwrap()).unwrap()
    }

    fn finish(m: &QueryManager, id: &str) -> QueryStatus {
        m.wait(id, Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn a_ptr_names_its_event_among_events_of_the_same_millisecond() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions { sync: false, background: false, ..Default::default() };
        let store = Store::open(dir.path(), opts).unwrap();
        let g = LogGroupName::new("g").unwrap();
        store.create_group(&g).unwrap();
        store.create_stream(&g, &LogStreamName::new("s").unwrap()).unwrap();
        // Five events in one millisecond, over two batches (two ingestion times) and a seal,
        // two of them identical in every field.
        let ev = |ingest: i64, m: &str| LogEvent::new(5_000, ingest, m).unwrap();
        store.append("g", "s", &[ev(1, "a"), ev(1, "b"), ev(1, "b")]).unwrap();
        store.flush().unwrap();
        store.append("g", "s", &[ev(2, "a"), ev(2, "c")]).unwrap();
        let m = manager(Arc::new(store), Arc::new(ManualClock::new(0)), Default::default());
        let id = start(&m, "fields @message, @ingestionTime");
        assert_eq!(finish(&m, &id), QueryStatus::Complete);
        let page = m.results(&id, None, None).unwrap();
        assert_eq!(page.columns, vec!["@message", "@ingestionTime", "@ptr"]);
        assert_eq!(page.rows.len(), 5);
        for row in &page.rows {
            let rec = crate::log_record(m.store(), row[2].as_deref().unwrap()).unwrap();
            let get = |name: &str| rec.iter().find(|f| f.name == name).unwrap().value.clone();
            assert_eq!(Some(get("@message")), row[0]);
            // The row prints `1970-01-01 00:00:00.00N`; the record gives epoch ms.
            let printed: i64 = row[1].as_deref().unwrap()[20..].parse().unwrap();
            assert_eq!(get("@ingestionTime").parse::<i64>().unwrap(), printed);
        }
    }

    #[test]
    fn results_page_with_tokens_and_ptr() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(store(dir.path(), 25), Arc::new(ManualClock::new(0)), Default::default());
        let id = start(&m, "fields @message | filter @message like /status=3/");
        assert_eq!(finish(&m, &id), QueryStatus::Complete);
        // Events 3, 10, 17, 24 have status=3 (i % 7 == 3); newest first.
        let p1 = m.results(&id, None, Some(3)).unwrap();
        assert_eq!(p1.columns, vec!["@message", "@ptr"]);
        let msgs: Vec<_> = p1.rows.iter().map(|r| r[0].clone().unwrap()).collect();
        assert_eq!(msgs, vec!["line 24 status=3", "line 17 status=3", "line 10 status=3"]);
        assert_eq!(p1.statistics.records_matched, 4);
        assert_eq!(p1.statistics.records_scanned, 25);
        let p2 = m.results(&id, p1.next_token.as_deref(), Some(3)).unwrap();
        assert_eq!(p2.rows.len(), 1);
        assert!(p2.next_token.is_none());
        // The @ptr of a row leads back to its event.
        let ptr = p2.rows[0][1].clone().unwrap();
        let rec = crate::log_record(m.store(), &ptr).unwrap();
        let msg = rec.iter().find(|f| f.name == "@message").unwrap();
        assert_eq!(msg.value, "line 3 status=3");
        // Aggregates have no @ptr.
        let id = start(&m, "stats count(*) as n");
        assert_eq!(finish(&m, &id), QueryStatus::Complete);
        let p = m.results(&id, None, None).unwrap();
        assert_eq!(
            (p.columns.clone(), p.rows.clone()),
            (vec!["n".to_string()], vec![vec![Some("25".to_string())]])
        );
        assert!(matches!(
            m.results(&id, Some("x/999"), None),
            Err(QueryError::InvalidParameter(_))
        ));
    }

    #[test]
    fn start_checks_like_cloudwatch() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(store(dir.path(), 1), Arc::new(ManualClock::new(0)), Default::default());
        let bad =
            m.start(StartQuery::new("fields a | stats", vec!["g".into()], 0, 1, None).unwrap());
        assert!(matches!(bad, Err(QueryError::Malformed { .. })), "{bad:?}");
        let missing =
            m.start(StartQuery::new("fields a", vec!["nope".into()], 0, 1, None).unwrap());
        assert!(matches!(missing, Err(QueryError::NotFound(_))), "{missing:?}");
        let too_long = "x".repeat(MAX_QUERY_CHARS + 1);
        for r in [
            StartQuery::new(too_long.as_str(), vec!["g".into()], 0, 1, None),
            StartQuery::new("fields a", vec!["g".into()], 5, 4, None),
            StartQuery::new("fields a", vec!["g".into()], 0, 1, Some(0)),
            StartQuery::new("fields a", vec!["g".into()], 0, 1, Some(100_001)),
            StartQuery::new("fields a", (0..51).map(|i| format!("g{i}")).collect(), 0, 1, None),
        ] {
            assert!(matches!(r, Err(QueryError::InvalidParameter(_))), "{r:?}");
        }
        assert!(matches!(m.stop("nope"), Err(QueryError::NotFound(_))));
        let id = start(&m, "fields @message");
        finish(&m, &id);
        assert!(matches!(m.stop(&id), Err(QueryError::InvalidParameter(_))));
    }

    #[test]
    fn results_expire_after_retention() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10 * HOUR_MS));
        let config = ManagerConfig { retention: Duration::from_secs(3600), ..Default::default() };
        let m = manager(store(dir.path(), 10), clock.clone(), config);
        let old = start(&m, "fields @message");
        finish(&m, &old);
        clock.set(10 * HOUR_MS + HOUR_MS / 2);
        let newer = start(&m, "fields @message");
        finish(&m, &newer);
        // One millisecond short of the first query's hour: both kept.
        clock.set(11 * HOUR_MS - 1);
        assert!(m.results(&old, None, None).is_ok());
        clock.set(11 * HOUR_MS);
        assert!(matches!(m.results(&old, None, None), Err(QueryError::NotFound(_))));
        assert_eq!(m.results(&newer, None, None).unwrap().rows.len(), 10);
        let listed = m.describe(&DescribeFilter::default(), None, None).unwrap();
        assert_eq!(listed.queries.iter().map(|q| q.id.clone()).collect::<Vec<_>>(), vec![newer]);
    }

    #[test]
    fn kept_results_bounded_in_bytes_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let config = ManagerConfig { max_retained_bytes: 6_000, ..Default::default() };
        let m = manager(store(dir.path(), 20), Arc::new(ManualClock::new(0)), config);
        let ids: Vec<String> = (0..4)
            .map(|_| {
                let id = start(&m, "fields @message");
                finish(&m, &id);
                id
            })
            .collect();
        // Each result holds 20 rows of two cells (~2.4 KB): two fit under 6,000 bytes.
        assert!(m.retained_bytes() <= 6_000, "{}", m.retained_bytes());
        assert!(matches!(m.results(&ids[0], None, None), Err(QueryError::NotFound(_))));
        assert!(matches!(m.results(&ids[1], None, None), Err(QueryError::NotFound(_))));
        assert!(m.results(&ids[3], None, None).is_ok());
    }

    #[test]
    fn describe_filters_and_pages_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(store(dir.path(), 5), Arc::new(ManualClock::new(0)), Default::default());
        let ids: Vec<String> = (0..5)
            .map(|i| {
                let id = start(&m, &format!("fields @message | limit {}", i + 1));
                finish(&m, &id);
                id
            })
            .collect();
        let p1 = m.describe(&DescribeFilter::default(), Some(2), None).unwrap();
        assert_eq!(p1.queries[0].id, ids[4]);
        assert_eq!(p1.queries[1].id, ids[3]);
        let p3 = m.describe(&DescribeFilter::default(), Some(2), Some("4")).unwrap();
        assert_eq!(p3.queries.len(), 1);
        assert!(p3.next_token.is_none());
        let f = DescribeFilter { group: Some("other".into()), status: None };
        assert!(m.describe(&f, None, None).unwrap().queries.is_empty());
        let f = DescribeFilter { group: Some("g".into()), status: Some(QueryStatus::Complete) };
        assert_eq!(m.describe(&f, None, None).unwrap().queries.len(), 5);
        assert!(m.describe(&DescribeFilter::default(), Some(0), None).is_err());
    }
}
