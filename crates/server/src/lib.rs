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
//! - [`grpc`]: the tonic service.
//! - [`watch_grpc`]: the `Watch` service (metric filters, metrics, alarms) over
//!   `logsight-watch`, served on the same port.
//! - [`shared`]: what every protocol shares ([`Shared`]): the service, the ingest
//!   [`admission`] budget, [`access`] control (SigV4 and policies through `logsight-auth`),
//!   the [`audit`] trail (CloudTrail-shaped records in `/logsight/audit`) and [`metrics`]. The
//!   HTTP API (`logsight-http`) is another front end over the same [`Shared`].
//!
//! Start a server with [`run`]; it returns after `shutdown` completes and in-flight calls finish,
//! having flushed the store.

pub mod access;
pub mod admission;
pub mod audit;
pub mod error;
pub mod filter;
pub mod grpc;
pub mod grpc_gate;
pub mod metrics;
pub mod rules;
pub mod service;
pub mod shared;
pub mod tail;
pub mod watch_grpc;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use logsight_proto::v1::logs_server::LogsServer;
use logsight_proto::v1::watch_server::WatchServer;
use logsight_storage::{Clock, Store, SystemClock};

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

pub use error::{ServiceError, error_code, http_status};
pub use shared::Shared;

/// Tuning of the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Most bytes of PutLogEvents / IngestStream batches being processed at once. Beyond it,
    /// ingest waits up to `admission_wait`, then answers UNAVAILABLE with a retry hint.
    pub max_inflight_bytes: usize,
    /// How long an ingest call waits for room before it is refused.
    pub admission_wait: Duration,
    /// Largest request message accepted, in bytes.
    pub max_message_bytes: usize,
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
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_inflight_bytes: 128 << 20,
            admission_wait: Duration::from_secs(2),
            max_message_bytes: 16 << 20,
            clock: Arc::new(SystemClock),
            live_tail_update_interval: tail::Timing::default().update_interval,
            live_tail_timeout: tail::Timing::default().timeout,
            watch: logsight_watch::WatchOptions::default(),
            audit: false,
            principals: None,
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
    .with_watch(shared.watch().clone());
    let store = shared.service().store().clone();
    let watch_service =
        WatchServer::new(watch_grpc::WatchService::new(shared.watch().clone(), store))
            .max_decoding_message_size(opts.max_message_bytes)
            .max_encoding_message_size(opts.max_message_bytes);
    let logs = LogsServer::new(logs)
        .max_decoding_message_size(opts.max_message_bytes)
        .max_encoding_message_size(opts.max_message_bytes);
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<LogsServer<grpc::LogsService>>().await;
    let incoming = TcpListenerStream::new(listener).map(|s| {
        if let Ok(s) = &s {
            let _ = s.set_nodelay(true);
        }
        s
    });
    tonic::transport::Server::builder()
        .layer(grpc_gate::GateLayer::new(shared.clone()))
        .add_service(health)
        .add_service(logs)
        .add_service(watch_service)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing in-flight calls");
            reporter.set_not_serving::<LogsServer<grpc::LogsService>>().await;
            let _ = stop_tx.send(true);
        })
        .await?;
    Ok(())
}
