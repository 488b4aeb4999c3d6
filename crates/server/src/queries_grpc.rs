//! The tonic adapter of the `Queries` service (`proto/queries.proto`): wire types in,
//! `logsight-queries` calls on blocking threads (they take locks, read storage, fsync), wire
//! types out. Queries themselves run on the engine's pool, never on the runtime.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use logsight_proto::v1 as pb;
use logsight_proto::v1::queries_server::Queries as QueriesRpc;
use logsight_queries::{
    Definitions, DescribeFilter, PutDefinition, QueryError, QueryManager, ResultsPage, StartQuery,
    Statistics,
};
use logsight_storage::Clock;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::ServiceError;
use crate::query_rules::{count, fields_time_ms, start_request, status_filter};

type Reply<T> = Result<Response<T>, Status>;
type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// How often RunQuery reports a running query's status and statistics.
pub const RUN_QUERY_PROGRESS: Duration = Duration::from_millis(250);

/// Rows per RunQuery message.
pub const RUN_QUERY_ROWS_PER_MESSAGE: usize = 1_000;

impl From<QueryError> for ServiceError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Malformed { message, start, end } => {
                ServiceError::MalformedQuery { message, start, end }
            }
            QueryError::NotFound(m) => ServiceError::NotFound(m),
            QueryError::InvalidParameter(m) => ServiceError::InvalidParameter(m),
            QueryError::LimitExceeded(m) => {
                ServiceError::LimitExceeded { message: m, retry_after_ms: 0 }
            }
            other => {
                tracing::error!(error = %other, "query operation failed");
                ServiceError::Internal(other.to_string())
            }
        }
    }
}

/// The `Queries` gRPC service.
#[derive(Clone)]
pub struct QueriesService {
    manager: Arc<QueryManager>,
    definitions: Arc<Definitions>,
    clock: Arc<dyn Clock>,
    /// Becomes true when the server shuts down: RunQuery streams stop their query and end.
    stop: tokio::sync::watch::Receiver<bool>,
}

impl QueriesService {
    /// A service over the server's query manager and saved queries; `stop` turns true when
    /// the server shuts down.
    pub fn new(
        manager: Arc<QueryManager>,
        definitions: Arc<Definitions>,
        clock: Arc<dyn Clock>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> QueriesService {
        QueriesService { manager, definitions, clock, stop }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&QueryManager, &Definitions) -> Result<T, QueryError> + Send + 'static,
    ) -> Result<T> {
        let d = self.definitions.clone();
        crate::service::on_blocking_thread(self.manager.clone(), move |m| {
            f(m, &d).map_err(ServiceError::from)
        })
        .await
    }
}

fn start_query(r: pb::StartQueryRequest) -> Result<StartQuery> {
    start_request(r.query_string, r.log_group_names, r.start_time, r.end_time, r.limit)
}

fn statistics(s: Statistics) -> pb::QueryStatistics {
    pb::QueryStatistics {
        records_matched: s.records_matched as f64,
        records_scanned: s.records_scanned as f64,
        bytes_scanned: s.bytes_scanned as f64,
        log_groups_scanned: s.log_groups_scanned as f64,
        estimated_records_skipped: s.estimated_records_skipped as f64,
        estimated_bytes_skipped: s.estimated_bytes_skipped as f64,
    }
}

/// Rows as `{field, value}` lists: only the fields a row has.
fn rows(columns: &[String], rows: &[Vec<Option<String>>]) -> Vec<pb::ResultRow> {
    rows.iter()
        .map(|row| pb::ResultRow {
            fields: columns
                .iter()
                .zip(row)
                .filter_map(|(c, v)| {
                    v.as_ref().map(|v| pb::ResultField { field: c.clone(), value: v.clone() })
                })
                .collect(),
        })
        .collect()
}

fn token(t: &str) -> Option<&str> {
    (!t.is_empty()).then_some(t)
}

type RunStream = Pin<Box<dyn Stream<Item = Result<pb::RunQueryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl QueriesRpc for QueriesService {
    async fn start_query(
        &self,
        r: Request<pb::StartQueryRequest>,
    ) -> Reply<pb::StartQueryResponse> {
        let start = start_query(r.into_inner())?;
        let query_id = self.blocking(move |m, _| m.start(start)).await?;
        Ok(Response::new(pb::StartQueryResponse { query_id }))
    }

    async fn get_query_results(
        &self,
        r: Request<pb::GetQueryResultsRequest>,
    ) -> Reply<pb::GetQueryResultsResponse> {
        let r = r.into_inner();
        let max = count(r.max_items, "maxItems")?;
        let page =
            self.blocking(move |m, _| m.results(&r.query_id, token(&r.next_token), max)).await?;
        Ok(Response::new(pb::GetQueryResultsResponse {
            status: page.status.as_str().to_string(),
            results: rows(&page.columns, &page.rows),
            statistics: Some(statistics(page.statistics)),
            next_token: page.next_token.unwrap_or_default(),
            error: page.error.unwrap_or_default(),
        }))
    }

    async fn stop_query(&self, r: Request<pb::StopQueryRequest>) -> Reply<pb::StopQueryResponse> {
        let id = r.into_inner().query_id;
        self.blocking(move |m, _| m.stop(&id)).await?;
        Ok(Response::new(pb::StopQueryResponse { success: true }))
    }

    async fn describe_queries(
        &self,
        r: Request<pb::DescribeQueriesRequest>,
    ) -> Reply<pb::DescribeQueriesResponse> {
        let r = r.into_inner();
        let status = status_filter(&r.status)?;
        let filter = DescribeFilter { group: token(&r.log_group_name).map(str::to_string), status };
        let max = count(r.max_results, "maxResults")?;
        let list =
            self.blocking(move |m, _| m.describe(&filter, max, token(&r.next_token))).await?;
        Ok(Response::new(pb::DescribeQueriesResponse {
            queries: list
                .queries
                .into_iter()
                .map(|q| pb::QueryInfo {
                    query_id: q.id,
                    query_string: q.query,
                    status: q.status.as_str().to_string(),
                    create_time: q.create_time_ms,
                    log_group_name: q.groups.first().cloned().unwrap_or_default(),
                    log_group_names: q.groups,
                    query_duration: q.duration_ms,
                    bytes_scanned: q.bytes_scanned as f64,
                })
                .collect(),
            next_token: list.next_token.unwrap_or_default(),
        }))
    }

    async fn get_log_record(
        &self,
        r: Request<pb::GetLogRecordRequest>,
    ) -> Reply<pb::GetLogRecordResponse> {
        let ptr = r.into_inner().log_record_pointer;
        let fields =
            self.blocking(move |m, _| logsight_queries::log_record(m.store(), &ptr)).await?;
        let log_record: HashMap<String, String> =
            fields.into_iter().map(|f| (f.name, f.value)).collect();
        Ok(Response::new(pb::GetLogRecordResponse { log_record }))
    }

    async fn get_log_group_fields(
        &self,
        r: Request<pb::GetLogGroupFieldsRequest>,
    ) -> Reply<pb::GetLogGroupFieldsResponse> {
        let r = r.into_inner();
        let time_ms = fields_time_ms(r.time, self.clock.now_ms());
        let fields = self.blocking(move |m, _| m.group_fields(&r.log_group_name, time_ms)).await?;
        Ok(Response::new(pb::GetLogGroupFieldsResponse {
            log_group_fields: fields
                .into_iter()
                .map(|f| pb::LogGroupField { name: f.name, percent: f.percent as i32 })
                .collect(),
        }))
    }

    type RunQueryStream = RunStream;

    async fn run_query(&self, r: Request<pb::StartQueryRequest>) -> Reply<Self::RunQueryStream> {
        let start = start_query(r.into_inner())?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let guard = StopOnDrop { manager: self.manager.clone(), id: Default::default() };
        let (manager, stop, id) = (self.manager.clone(), self.stop.clone(), guard.id.clone());
        // One blocking thread starts the query and follows it (it waits on the manager's
        // condition variable); the query itself runs on the engine's pool. Started on that
        // thread, a query whose call is dropped while it starts (a client's Ctrl-C) is still
        // followed: its first message finds the stream gone, and it is stopped.
        tokio::task::spawn_blocking(move || {
            let query_id = match manager.start(start) {
                Ok(query_id) => query_id,
                Err(e) => {
                    let _ = started_tx.send(Err(ServiceError::from(e)));
                    return;
                }
            };
            *id.lock() = Some(query_id.clone());
            let _ = started_tx.send(Ok(()));
            if let Err(e) = follow(&manager, &query_id, &tx, &stop) {
                let _ = tx.blocking_send(Err(ServiceError::from(e).to_status()));
            }
        });
        started.await.map_err(|_| ServiceError::Internal("the query's thread ended".into()))??;
        Ok(Response::new(
            Box::pin(Guarded { rows: ReceiverStream::new(rx), _guard: guard }) as RunStream
        ))
    }

    async fn put_query_definition(
        &self,
        r: Request<pb::PutQueryDefinitionRequest>,
    ) -> Reply<pb::PutQueryDefinitionResponse> {
        let r = r.into_inner();
        let id = token(&r.query_definition_id).map(str::to_string);
        let put = PutDefinition::new(id, r.name, r.query_string, r.log_group_names)
            .map_err(ServiceError::from)?;
        let now = self.clock.now_ms();
        let query_definition_id = self.blocking(move |_, d| d.put(put, now)).await?;
        Ok(Response::new(pb::PutQueryDefinitionResponse { query_definition_id }))
    }

    async fn describe_query_definitions(
        &self,
        r: Request<pb::DescribeQueryDefinitionsRequest>,
    ) -> Reply<pb::DescribeQueryDefinitionsResponse> {
        let r = r.into_inner();
        let max = count(r.max_results, "maxResults")?;
        let list = self
            .blocking(move |_, d| {
                d.describe(token(&r.query_definition_name_prefix), max, token(&r.next_token))
            })
            .await?;
        Ok(Response::new(pb::DescribeQueryDefinitionsResponse {
            query_definitions: list
                .definitions
                .into_iter()
                .map(|d| pb::QueryDefinition {
                    query_definition_id: d.id,
                    name: d.name,
                    query_string: d.query,
                    last_modified: d.last_modified_ms,
                    log_group_names: d.log_group_names,
                })
                .collect(),
            next_token: list.next_token.unwrap_or_default(),
        }))
    }

    async fn delete_query_definition(
        &self,
        r: Request<pb::DeleteQueryDefinitionRequest>,
    ) -> Reply<pb::DeleteQueryDefinitionResponse> {
        let id = r.into_inner().query_definition_id;
        self.blocking(move |_, d| d.delete(&id)).await?;
        Ok(Response::new(pb::DeleteQueryDefinitionResponse { success: true }))
    }
}

type Sender = tokio::sync::mpsc::Sender<Result<pb::RunQueryResponse, Status>>;

/// Stops a RunQuery's query when dropped: with the call, if the client dropped it before it
/// answered, or with the response stream, when the client went away (stopping a query that
/// ended, its rows all sent, does nothing). At once: the thread following the query only
/// looks between progress messages, and a queued query could start and finish unseen
/// meanwhile.
struct StopOnDrop {
    manager: Arc<QueryManager>,
    /// The query, once started.
    id: Arc<parking_lot::Mutex<Option<String>>>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.id.lock().take() else { return };
        let manager = self.manager.clone();
        // Dropped on the runtime (with a call or a stream): the manager's lock is taken on a
        // blocking thread, as every other manager call here is.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || manager.stop(&id))),
            Err(_) => drop(manager.stop(&id)),
        }
    }
}

/// A RunQuery response stream that stops its query when dropped.
struct Guarded {
    rows: ReceiverStream<Result<pb::RunQueryResponse, Status>>,
    _guard: StopOnDrop,
}

impl Stream for Guarded {
    type Item = Result<pb::RunQueryResponse, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        Pin::new(&mut self.rows).poll_next(cx)
    }
}

/// Streams a query's progress, then its rows, then its final status. A client that goes
/// away, or the server shutting down, stops the query (which then ends `Cancelled`).
fn follow(
    manager: &QueryManager,
    id: &str,
    tx: &Sender,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), QueryError> {
    // The first message names the query.
    let mut query_id = Some(id.to_string());
    let mut send = |mut msg: pb::RunQueryResponse| {
        msg.query_id = query_id.take().unwrap_or_default();
        tx.blocking_send(Ok(msg)).is_ok()
    };
    // At once, so that a client can stop a query still waiting for a slot.
    if !send(progress(&manager.results(id, None, Some(0))?)) {
        let _ = manager.stop(id);
        return Ok(());
    }
    while !manager.wait(id, RUN_QUERY_PROGRESS)?.is_done() {
        if tx.is_closed() {
            // The client went away: nobody will read this query's rows.
            let _ = manager.stop(id);
            return Ok(());
        }
        if *stop.borrow() {
            let _ = manager.stop(id);
            continue;
        }
        if !send(progress(&manager.results(id, None, Some(0))?)) {
            let _ = manager.stop(id);
            return Ok(());
        }
    }
    // Rows, a page of the manager's at a time, cut into messages; the first carries the
    // query's own columns.
    let mut token: Option<String> = None;
    let mut columns_sent = false;
    let last = loop {
        let page = manager.results(id, token.as_deref(), None)?;
        for chunk in page.rows.chunks(RUN_QUERY_ROWS_PER_MESSAGE) {
            let mut msg = progress(&page);
            if !columns_sent {
                msg.columns = shown_columns(&page);
                columns_sent = true;
            }
            msg.results = rows(&page.columns, chunk);
            if !send(msg) {
                return Ok(());
            }
        }
        match page.next_token.clone() {
            Some(t) => token = Some(t),
            None => break page,
        }
    };
    let mut msg = progress(&last);
    if !columns_sent {
        msg.columns = shown_columns(&last);
    }
    msg.done = true;
    send(msg);
    Ok(())
}

/// The query's own columns: without the `@ptr` the engine added.
fn shown_columns(page: &ResultsPage) -> Vec<String> {
    page.columns[..page.columns.len() - usize::from(page.ptr_added)].to_vec()
}

fn progress(page: &ResultsPage) -> pb::RunQueryResponse {
    pb::RunQueryResponse {
        status: page.status.as_str().to_string(),
        statistics: Some(statistics(page.statistics)),
        error: page.error.clone().unwrap_or_default(),
        ..Default::default()
    }
}
