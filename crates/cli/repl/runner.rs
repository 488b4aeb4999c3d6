//! Where the REPL's queries run: on a server over the Queries API (RunQuery, StopQuery,
//! GetLogGroupFields, saved queries), or in-process on a data directory with the engine (the
//! path `logsight query --data-dir` takes). The session sees one [`Runner`] either way.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use logsight_engine::{
    BlockCache, CancelToken, DataSource, Engine, EngineConfig, EngineError, Progress, QueryRequest,
};
use logsight_proto::v1 as pb;
use logsight_proto::v1::queries_client::QueriesClient;
use logsight_queries::{Definitions, PutDefinition};
use logsight_storage::Store;

use crate::client::{Client, background_runtime, client_runtime, status_error};
use crate::cmd_query::Stats;
use crate::common::{now_ms, open_store};
use crate::repl::render::ResultSet;
use crate::signing::Signing;

/// One query to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// The query text.
    pub query: String,
    /// Log groups (none when the query names them with `SOURCE`).
    pub groups: Vec<String>,
    /// First millisecond, inclusive.
    pub start_ms: i64,
    /// Last millisecond, inclusive.
    pub end_ms: i64,
}

/// A finished query.
#[derive(Debug)]
pub struct Done {
    /// Its rows.
    pub result: ResultSet,
    /// Its final statistics.
    pub stats: Stats,
    /// Wall time from start to the last row.
    pub elapsed: Duration,
}

/// Why a query gave no rows.
#[derive(Debug)]
pub enum Failure {
    /// The query is malformed: the query with a caret under the offending text, and why.
    Malformed(String),
    /// Ctrl-C stopped it.
    Cancelled,
    /// Anything else (a missing group, the server gone, ...).
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Failed(e)
    }
}

/// A saved query (query definition).
#[derive(Debug, Clone)]
pub struct Saved {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The query text.
    pub query: String,
    /// The groups it runs on.
    pub groups: Vec<String>,
}

/// Runs queries and the calls around them, on a server or in-process.
pub struct Runner {
    rt: tokio::runtime::Runtime,
    backend: Backend,
}

// One per session: boxing the clients would save nothing worth an indirection.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Remote {
        queries: QueriesClient<Signing>,
        logs: Client,
    },
    Local {
        engine: Arc<Engine>,
        source: DataSource,
        store: Arc<Store>,
        definitions: Arc<Definitions>,
    },
}

/// How long a Ctrl-C waits for the query's id (RunQuery's first message) to stop it by id.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// How often the in-process run reports its counters (RunQuery's own pace is 250 ms).
const LOCAL_PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Runner {
    /// A runner over the server at `endpoint`; fails when it cannot be reached.
    pub fn connect(endpoint: &str) -> Result<Runner> {
        let rt = background_runtime()?;
        let (queries, logs) = rt.block_on(crate::client::connect_queries_and_logs(endpoint))?;
        Ok(Runner { rt, backend: Backend::Remote { queries, logs } })
    }

    /// A runner over the data directory `dir`, with the engine in this process.
    pub fn open(dir: &Path) -> Result<Runner> {
        let store = Arc::new(open_store(&dir.to_path_buf(), false)?);
        // The server keeps its saved queries in the same place.
        let definitions = Definitions::open(&dir.join("queries"))
            .map_err(|e| anyhow!("{e}"))
            .context("opening the saved queries")?;
        Ok(Runner {
            rt: client_runtime()?,
            backend: Backend::Local {
                engine: Arc::new(Engine::new(EngineConfig::default())),
                // An exploring session reruns queries over one range: keep what it decoded.
                source: DataSource::new(store.clone())
                    .with_cache(BlockCache::new(logsight_engine::DEFAULT_BLOCK_CACHE_BYTES)),
                store,
                definitions: Arc::new(definitions),
            },
        })
    }

    /// Runs `req` to its end, calling `progress` with the statistics as they grow (first with
    /// zeros, once Ctrl-C is being listened for). With
    /// `interruptible`, Ctrl-C (SIGINT) stops the query (StopQuery, or the engine's cancel
    /// token) and the call returns [`Failure::Cancelled`].
    pub fn run(
        &mut self,
        req: &Request,
        interruptible: bool,
        progress: &mut dyn FnMut(&Stats),
    ) -> Result<Done, Failure> {
        let started = Instant::now();
        let (result, stats) = match &mut self.backend {
            Backend::Remote { queries, .. } => {
                self.rt.block_on(run_remote(queries, req, interruptible, progress))?
            }
            Backend::Local { engine, source, .. } => {
                let (engine, source) = (engine.clone(), source.clone());
                self.rt.block_on(run_local(engine, source, req, interruptible, progress))?
            }
        };
        Ok(Done { result, stats, elapsed: started.elapsed() })
    }

    /// The plan of `req` with the scan it would do (in-process); on a server, which has no
    /// such call, the query's canonical form.
    pub fn explain(&mut self, req: &Request) -> Result<String, Failure> {
        match &self.backend {
            Backend::Local { engine, source, .. } => engine
                .explain(source, &engine_request(req))
                .map_err(|e| engine_failure(e, &req.query)),
            Backend::Remote { .. } => match logsight_query_lang::insights::parse(&req.query) {
                Ok(q) => Ok(format!(
                    "{q}\n(the scan plan is shown in-process only: start the REPL with --data-dir)"
                )),
                Err(e) => Err(Failure::Malformed(e.render(&req.query))),
            },
        }
    }

    /// The names of the fields discovered in `groups` (the 15 minutes before `time_ms`, as
    /// GetLogGroupFields samples), most frequent first, each once.
    pub fn fields(&mut self, groups: &[String], time_ms: i64) -> Result<Vec<(String, u32)>> {
        let mut all: Vec<(String, u32)> = Vec::new();
        for g in groups {
            let found: Vec<(String, u32)> = match &mut self.backend {
                Backend::Remote { queries, .. } => self
                    .rt
                    .block_on(queries.get_log_group_fields(pb::GetLogGroupFieldsRequest {
                        log_group_name: g.clone(),
                        time: time_ms.div_euclid(1000),
                    }))
                    .map_err(status_error)?
                    .into_inner()
                    .log_group_fields
                    .into_iter()
                    .map(|f| (f.name, f.percent.max(0) as u32))
                    .collect(),
                Backend::Local { engine, source, .. } => {
                    logsight_queries::group_fields(engine, source, g, time_ms)
                        .map_err(|e| anyhow!("{e}"))?
                        .into_iter()
                        .map(|f| (f.name, f.percent))
                        .collect()
                }
            };
            for (name, pct) in found {
                match all.iter_mut().find(|(n, _)| *n == name) {
                    Some(seen) => seen.1 = seen.1.max(pct),
                    None => all.push((name, pct)),
                }
            }
        }
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(all)
    }

    /// Every log group's name.
    pub fn groups(&mut self) -> Result<Vec<String>> {
        match &mut self.backend {
            Backend::Local { store, .. } => {
                Ok(store.groups().into_iter().map(|g| g.name).collect())
            }
            Backend::Remote { logs, .. } => self.rt.block_on(async {
                let mut names = Vec::new();
                let mut token = None;
                loop {
                    let r = logs
                        .describe_log_groups(pb::DescribeLogGroupsRequest {
                            log_group_name_prefix: String::new(),
                            limit: None,
                            next_token: token.take(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    names.extend(r.log_groups.into_iter().map(|g| g.log_group_name));
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => return Ok(names),
                    }
                }
            }),
        }
    }

    /// The saved queries, by name.
    pub fn saved(&mut self) -> Result<Vec<Saved>> {
        match &mut self.backend {
            Backend::Local { definitions, .. } => {
                let list = definitions.describe(None, None, None).map_err(|e| anyhow!("{e}"))?;
                Ok(list
                    .definitions
                    .into_iter()
                    .map(|d| Saved {
                        id: d.id,
                        name: d.name,
                        query: d.query,
                        groups: d.log_group_names,
                    })
                    .collect())
            }
            Backend::Remote { queries, .. } => self.rt.block_on(async {
                let mut all = Vec::new();
                let mut next_token = String::new();
                loop {
                    let r = queries
                        .describe_query_definitions(pb::DescribeQueryDefinitionsRequest {
                            query_definition_name_prefix: String::new(),
                            max_results: 0,
                            next_token: next_token.clone(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    all.extend(r.query_definitions.into_iter().map(|d| Saved {
                        id: d.query_definition_id,
                        name: d.name,
                        query: d.query_string,
                        groups: d.log_group_names,
                    }));
                    if r.next_token.is_empty() {
                        return Ok(all);
                    }
                    next_token = r.next_token;
                }
            }),
        }
    }

    /// Saves `query` as `name`, replacing the saved query of that name if there is one;
    /// returns its id.
    pub fn save(&mut self, name: &str, query: &str, groups: &[String]) -> Result<String> {
        let existing = self.saved()?.into_iter().find(|s| s.name == name).map(|s| s.id);
        match &mut self.backend {
            Backend::Local { definitions, .. } => {
                let put = PutDefinition::new(existing, name, query, groups.to_vec())
                    .map_err(|e| anyhow!("{e}"))?;
                definitions.put(put, now_ms()).map_err(|e| anyhow!("{e}"))
            }
            Backend::Remote { queries, .. } => Ok(self
                .rt
                .block_on(queries.put_query_definition(pb::PutQueryDefinitionRequest {
                    name: name.to_string(),
                    query_string: query.to_string(),
                    log_group_names: groups.to_vec(),
                    query_definition_id: existing.unwrap_or_default(),
                }))
                .map_err(status_error)?
                .into_inner()
                .query_definition_id),
        }
    }
}

fn engine_request(req: &Request) -> QueryRequest {
    QueryRequest {
        query: req.query.clone(),
        groups: req.groups.clone(),
        start_ms: req.start_ms,
        end_ms: req.end_ms,
        limit: None,
    }
}

fn engine_failure(e: EngineError, query: &str) -> Failure {
    match e {
        EngineError::Cancelled => Failure::Cancelled,
        e if e.query_error().is_some() => Failure::Malformed(e.render(query)),
        e => Failure::Failed(anyhow!("{e}")),
    }
}

/// Resolves on the next Ctrl-C (SIGINT) after it was made, when made `on`; never otherwise.
struct Interrupt(Option<tokio::signal::unix::Signal>);

impl Interrupt {
    /// Listens from now on (inside the runtime): a SIGINT that comes later is seen even before
    /// the first await. The process keeps tokio's handler once one was made, so a Ctrl-C
    /// between queries (the editor reads it as a key anyway) never kills the session.
    fn new(on: bool) -> Interrupt {
        use tokio::signal::unix::{SignalKind, signal};
        Interrupt(if on { signal(SignalKind::interrupt()).ok() } else { None })
    }

    async fn wait(&mut self) {
        match &mut self.0 {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
}

async fn run_local(
    engine: Arc<Engine>,
    source: DataSource,
    req: &Request,
    interruptible: bool,
    progress: &mut dyn FnMut(&Stats),
) -> Result<(ResultSet, Stats), Failure> {
    let cancel = CancelToken::new();
    let counters = Arc::new(Progress::default());
    let (c, p, r) = (cancel.clone(), counters.clone(), engine_request(req));
    // The coordinator blocks until the pool's workers finish: never on the async runtime.
    let mut task = tokio::task::spawn_blocking(move || engine.run_with(&source, &r, &c, &p));
    let mut tick = tokio::time::interval(LOCAL_PROGRESS_EVERY);
    let mut ctrl_c = Interrupt::new(interruptible);
    // Reported once the interrupt listens, so whoever shows progress knows Ctrl-C works.
    progress(&Stats::default());
    let outcome = loop {
        tokio::select! {
            joined = &mut task => break joined.map_err(|e| anyhow!("the query thread failed: {e}"))?,
            _ = tick.tick() => progress(&Stats::from(counters.snapshot())),
            _ = ctrl_c.wait() => {
                cancel.cancel();
                // The scan checks the token between units; wait for it to stop.
                let _ = (&mut task).await;
                return Err(Failure::Cancelled);
            }
        }
    };
    let result = outcome.map_err(|e| engine_failure(e, &req.query))?;
    let stats = Stats::from(result.statistics);
    Ok((ResultSet { columns: result.columns, rows: result.rows }, stats))
}

async fn run_remote(
    client: &mut QueriesClient<Signing>,
    req: &Request,
    interruptible: bool,
    progress: &mut dyn FnMut(&Stats),
) -> Result<(ResultSet, Stats), Failure> {
    let start = pb::StartQueryRequest {
        log_group_names: req.groups.clone(),
        // The API takes whole seconds, both inclusive.
        start_time: req.start_ms.div_euclid(1000),
        end_time: req.end_ms.div_euclid(1000),
        query_string: req.query.clone(),
        limit: None,
    };
    let remote_failure = |s: tonic::Status| match crate::cmd_queries::malformed(&s, &req.query) {
        Some(rendered) => Failure::Malformed(rendered),
        None => Failure::Failed(status_error(s)),
    };
    let mut ctrl_c = Interrupt::new(interruptible);
    progress(&Stats::default());
    let call = async {
        match client.run_query(start.clone()).await {
            // The channel connects afresh for the second try; running a query twice is harmless.
            Err(s) if crate::client::connection_lost(&s) => client.run_query(start).await,
            r => r,
        }
    };
    let mut stream = tokio::select! {
        r = call => r.map_err(remote_failure)?.into_inner(),
        // Dropping the call before it answers cancels it; the server stops the query.
        _ = ctrl_c.wait() => return Err(Failure::Cancelled),
    };
    let mut query_id = String::new();
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    let last = loop {
        let msg = tokio::select! {
            m = stream.message() => m,
            _ = ctrl_c.wait() => {
                if query_id.is_empty() {
                    // The first message names the query and comes at once; without it the
                    // server would stop the query only when it notices the stream gone.
                    if let Ok(Ok(Some(m))) = tokio::time::timeout(STOP_WAIT, stream.message()).await {
                        query_id = m.query_id;
                    }
                }
                if !query_id.is_empty() {
                    // Stopped at once rather than when the server notices the stream gone;
                    // an error here (it just ended) changes nothing.
                    let _ = client.stop_query(pb::StopQueryRequest { query_id: query_id.clone() }).await;
                }
                return Err(Failure::Cancelled);
            }
        };
        let msg = match msg {
            Ok(Some(m)) => m,
            Ok(None) => {
                return Err(anyhow!("the server ended the query's stream before its end").into());
            }
            Err(s) => return Err(remote_failure(s)),
        };
        if !msg.query_id.is_empty() {
            query_id = msg.query_id.clone();
        }
        if let Some(s) = &msg.statistics {
            progress(&Stats::from(s));
        }
        if !msg.columns.is_empty() {
            columns = msg.columns.clone();
        }
        crate::cmd_queries::push_rows(&columns, &msg.results, &mut rows);
        if msg.done {
            break msg;
        }
    };
    match last.status.as_str() {
        "Complete" => {}
        "Cancelled" => return Err(Failure::Cancelled),
        other => {
            let why =
                if last.error.is_empty() { String::new() } else { format!(": {}", last.error) };
            return Err(anyhow!("the query ended {other}{why}").into());
        }
    }
    let stats = Stats::from(&last.statistics.unwrap_or_default());
    Ok((ResultSet { columns, rows }, stats))
}
