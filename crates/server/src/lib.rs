//! logsight's gRPC service: the CloudWatch Logs API (`logsight.v1.Logs`) over the storage
//! engine, plus the standard gRPC health service.
//!
//! This is the only crate that knows tonic or tokio networking. The rules live in plain Rust
//! ([`rules`], [`service`], [`filter`]); [`grpc`] is a thin adapter that converts wire types by
//! hand and runs every storage call on a blocking thread.
//!
//! # Layout
//! - [`error`]: [`ServiceError`] and the one table mapping it to CloudWatch exception names and
//!   gRPC codes.
//! - [`rules`]: the PutLogEvents rules as pure functions.
//! - [`service`]: groups, streams, events: validation, paging and tokens; idempotent
//!   ingest (an IngestStream batch tagged with a producer id and sequence is stored once).
//! - [`filter`]: CloudWatch filter patterns, through `logsight-query-lang`.
//! - [`tail`]: live tail sessions (StartLiveTail): fan-out of durable appends, per-session
//!   sampling to 500 events per update and a bounded queue for slow clients.
//! - [`token`]: paging tokens bound by an HMAC to their operation, group and streams.
//! - [`grpc`]: the tonic service.
//! - [`watch_grpc`]: the `Watch` service (metric filters, metrics, alarms) over
//!   `logsight-watch`, served on the same port.
//! - [`queries_grpc`]: the `Queries` service (Logs Insights queries, saved queries) over
//!   `logsight-queries`, served on the same port.
//! - [`shared`]: what every protocol shares ([`Shared`]): the service, the ingest
//!   [`admission`] budget, [`access`] control (SigV4 and policies through `logsight-auth`),
//!   the [`audit`] trail (CloudTrail-shaped records in `/logsight/audit`) and [`metrics`]. The
//!   HTTP API (`logsight-http`) is another front end over the same [`Shared`].
//! - [`admission`], [`limits`], [`conn`]: what a client can make the server hold: the in-flight
//!   byte budget charged before request bodies are buffered, the connection cap with a
//!   descriptor reserve for the store, idle connections closed, an accept loop that backs off.
//!
//! - [`tls`]: the listeners' TLS configuration (rustls), from PEM files.
//!
//! Start a server with [`run`]; it returns after `shutdown` completes and in-flight calls finish,
//! having flushed the store.

pub mod access;
pub mod admission;
pub mod audit;
pub mod conn;
pub mod error;
pub mod filter;
pub mod grpc;
pub mod grpc_calls;
pub mod grpc_gate;
pub mod limits;
pub mod metrics;
pub mod queries_grpc;
pub mod query_rules;
pub mod rules;
pub mod service;
pub mod shared;
pub mod tail;
pub mod tls;
pub mod token;
pub mod watch_grpc;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use logsight_proto::v1::logs_server::LogsServer;
use logsight_proto::v1::queries_server::QueriesServer;
use logsight_proto::v1::watch_server::WatchServer;
use logsight_storage::{Clock, Store, SystemClock};

use tokio::net::TcpListener;

pub use error::{ServiceError, error_code, http_status};
pub use shared::Shared;

/// Tuning of the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Most bytes of request messages being received or processed at once: a message's
    /// declared length is reserved from its header, before its body is buffered, and a decoded
    /// ingest batch holds its size while it is stored. Beyond it, a call waits up to
    /// `admission_wait`, then answers UNAVAILABLE with a retry hint.
    pub max_inflight_bytes: usize,
    /// How long a call waits for room before it is refused.
    pub admission_wait: Duration,
    /// Largest request message accepted, in bytes; a larger one is refused from its header
    /// with InvalidParameterException.
    pub max_message_bytes: usize,
    /// Most calls open at once on one HTTP/2 connection (MAX_CONCURRENT_STREAMS).
    pub max_concurrent_streams: u32,
    /// HTTP/2 flow-control window of one call, in bytes: what a client may send ahead of
    /// what the server has taken in.
    pub stream_window_bytes: u32,
    /// HTTP/2 flow-control window of a whole connection, in bytes.
    pub connection_window_bytes: u32,
    /// Largest block of request headers accepted, in bytes.
    pub max_header_list_bytes: u32,
    /// Longest a unary call may take, receiving its request included; streaming calls are
    /// bounded by their own rules (live tail's timeout, ingest's flow control).
    pub request_timeout: Duration,
    /// Interval of HTTP/2 keepalive pings, which find dead peers of long calls.
    pub keepalive_interval: Duration,
    /// Most connections open at once; lowered to keep `fd_reserve` descriptors free under the
    /// process's descriptor limit.
    pub max_connections: usize,
    /// Descriptors kept free for the store's files.
    pub fd_reserve: usize,
    /// How long a connection may stay open with no call in progress before it is closed.
    pub idle_timeout: Duration,
    /// Most time one FilterLogEvents call scans before returning a page and a token.
    pub filter_scan_time: Duration,
    /// The clock for PutLogEvents' time rules.
    pub clock: Arc<dyn Clock>,
    /// Time between a live tail session's updates (CloudWatch: 1 s).
    pub live_tail_update_interval: Duration,
    /// How long a live tail session lasts before it ends with SessionTimeoutException
    /// (CloudWatch: 3 h).
    pub live_tail_timeout: Duration,
    /// Metric filters, metrics and alarms; their state lives in `<data dir>/watch/`. Alarms
    /// run on `clock`.
    pub watch: logsight_watch::WatchOptions,
    /// Write every API call to the audit group `/logsight/audit` (created if missing).
    pub audit: bool,
    /// The principals that may call; `None`: calls need no credentials.
    pub principals: Option<logsight_auth::Principals>,
    /// Serve TLS (on both listeners) with this certificate; `None`: plain TCP.
    pub tls: Option<tls::TlsConfig>,
    /// Logs Insights queries: slots, result retention, the engine's pool and guards.
    pub queries: logsight_queries::ManagerConfig,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_inflight_bytes: 128 << 20,
            admission_wait: Duration::from_secs(2),
            max_message_bytes: 16 << 20,
            max_concurrent_streams: 128,
            stream_window_bytes: 1 << 20,
            connection_window_bytes: 4 << 20,
            max_header_list_bytes: 64 << 10,
            request_timeout: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(30),
            max_connections: 4096,
            fd_reserve: 256,
            idle_timeout: Duration::from_secs(120),
            filter_scan_time: service::FilterBudget::default().time,
            clock: Arc::new(SystemClock),
            live_tail_update_interval: tail::Timing::default().update_interval,
            live_tail_timeout: tail::Timing::default().timeout,
            watch: logsight_watch::WatchOptions::default(),
            audit: false,
            principals: None,
            tls: None,
            queries: logsight_queries::ManagerConfig::default(),
        }
    }
}

impl ServerOptions {
    /// The bounds on each listener's connections.
    pub fn conn_limits(&self) -> conn::ConnLimits {
        conn::ConnLimits {
            max_connections: self.max_connections,
            fd_reserve: self.fd_reserve,
            idle_timeout: self.idle_timeout,
        }
    }
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Flushing the store at shutdown failed.
    #[error("flushing the store at shutdown: {0}")]
    Flush(String),
    /// The Watch side (metric filters, metrics, alarms) could not start.
    #[error("starting metric filters and alarms: {0}")]
    Watch(String),
    /// The audit group could not be prepared.
    #[error("preparing the audit log group: {0}")]
    Audit(String),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The saved queries could not be loaded.
    #[error("loading saved queries: {0}")]
    Queries(String),
    /// A derived-artifact builder's thread could not start.
    #[error("starting the {kind} builder: {source}")]
    Deriver {
        /// The artifact kind.
        kind: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight calls finish (live tails and ingest streams are ended), writes the queued audit
/// records and flushes the store.
pub async fn run(
    listener: TcpListener,
    store: Arc<Store>,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let shared = Shared::start(store, &opts)?;
    let result = serve_grpc(listener, shared.clone(), &opts, shutdown).await;
    let closed = shared.close().await;
    result?;
    closed?;
    tracing::info!("server stopped; store flushed");
    Ok(())
}

/// Serves the gRPC API over `shared` on `listener` until `shutdown` completes and in-flight
/// calls finish. The caller closes `shared` afterwards ([`Shared::close`]).
pub async fn serve_grpc(
    listener: TcpListener,
    shared: Arc<Shared>,
    opts: &ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let queries_stop = stop_rx.clone();
    let tail_timing = tail::Timing {
        update_interval: opts.live_tail_update_interval,
        timeout: opts.live_tail_timeout,
    };
    let logs = grpc::LogsService::new(
        shared.service().clone(),
        shared.admission().clone(),
        tail_timing,
        stop_rx,
    )
    .with_watch(shared.watch().clone())
    .with_access(shared.clone());
    let store = shared.service().store().clone();
    let watch_service =
        WatchServer::new(watch_grpc::WatchService::new(shared.watch().clone(), store))
            .max_decoding_message_size(opts.max_message_bytes)
            .max_encoding_message_size(opts.max_message_bytes);
    let queries_service = QueriesServer::new(queries_grpc::QueriesService::new(
        shared.queries().clone(),
        shared.query_definitions().clone(),
        opts.clock.clone(),
        queries_stop,
    ))
    .max_decoding_message_size(opts.max_message_bytes)
    .max_encoding_message_size(opts.max_message_bytes);
    // Under --auth the gate (`grpc_gate`) authenticates, authorizes and audits these calls
    // like every other `logsight.` service's.
    let logs = LogsServer::new(logs)
        .max_decoding_message_size(opts.max_message_bytes)
        .max_encoding_message_size(opts.max_message_bytes);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<LogsServer<grpc::LogsService>>().await;
    let incoming = conn::incoming_with(
        listener,
        opts.conn_limits(),
        opts.tls.as_ref().map(|t| t.acceptor(b"h2")),
    );
    tonic::transport::Server::builder()
        .max_concurrent_streams(opts.max_concurrent_streams)
        .initial_stream_window_size(opts.stream_window_bytes)
        .initial_connection_window_size(opts.connection_window_bytes)
        .http2_max_header_list_size(opts.max_header_list_bytes)
        .timeout(opts.request_timeout)
        .http2_keepalive_interval(Some(opts.keepalive_interval))
        .http2_keepalive_timeout(Some(opts.keepalive_interval))
        // Outermost first: bodies are admitted before the gate reads a unary call's whole.
        .layer(limits::RequestLimitsLayer::new(shared.admission().clone(), opts.max_message_bytes))
        .layer(grpc_gate::GateLayer::new(shared.clone(), opts.max_message_bytes))
        .add_service(health)
        .add_service(logs)
        .add_service(watch_service)
        .add_service(queries_service)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing in-flight calls");
            reporter.set_not_serving::<LogsServer<grpc::LogsService>>().await;
            let _ = stop_tx.send(true);
        })
        .await?;
    Ok(())
}
