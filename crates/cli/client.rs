//! Connecting to a server, printing its errors, and retrying what may succeed later.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use logsight_proto::v1::logs_client::LogsClient;
use logsight_proto::v1::queries_client::QueriesClient;
use logsight_proto::v1::watch_client::WatchClient;
use tonic::transport::Channel;

use crate::signing::{Signer, Signing};

/// The address `serve` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";
/// The endpoint client commands use by default (the server's default address).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7070";

/// A connected API client; it signs its calls when keys are configured (`signing`).
pub type Client = LogsClient<Signing>;

/// A multi-threaded runtime for a client or server command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A runtime on the calling thread, for a client that waits on one call at a time: no
/// worker threads to start (a `logsight query` process is over in milliseconds).
pub fn client_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// A runtime with one worker thread, for a client that holds a connection while it waits on
/// something else (a person at a prompt): the worker answers the server's keepalive pings and
/// sees the connection close, which a runtime on the calling thread would do only during a
/// call, too late.
pub fn background_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The environment variable that sets `--endpoint` for every client command.
pub const ENDPOINT_ENV: &str = "LOGSIGHT_ENDPOINT";

/// The environment variable that sets `--ca-cert`.
pub const CA_CERT_ENV: &str = "LOGSIGHT_CA_CERT";

/// The `--ca-cert` of this process, set once by `main`.
static CA_CERT: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Trusts the CA certificate in `path` (PEM) for https:// endpoints, besides the system's.
pub fn trust_ca_cert(path: Option<std::path::PathBuf>) {
    let _ = CA_CERT.set(path);
}

/// The TLS settings of an https:// endpoint: the `--ca-cert` if given, else the system's roots.
fn tls_config() -> Result<tonic::transport::ClientTlsConfig> {
    let tls = tonic::transport::ClientTlsConfig::new();
    Ok(match CA_CERT.get().and_then(Option::as_ref) {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the CA certificate {}", path.display()))?;
            tls.ca_certificate(tonic::transport::Certificate::from_pem(pem))
        }
        None => tls.with_native_roots(),
    })
}

/// `HOST:PORT` as `http://HOST:PORT`; a URL with a scheme is kept as it is.
fn endpoint_url(endpoint: &str) -> String {
    if endpoint.contains("://") { endpoint.to_owned() } else { format!("http://{endpoint}") }
}

/// Connects to `endpoint` (`http://HOST:PORT`, or `HOST:PORT`).
pub async fn connect(endpoint: &str) -> Result<Client> {
    Ok(logs_client(channel(endpoint).await?))
}

fn logs_client(channel: Signing) -> Client {
    LogsClient::new(channel).max_decoding_message_size(16 << 20).max_encoding_message_size(16 << 20)
}

/// A channel to `endpoint` that signs calls with the keys of the environment, if any.
async fn channel(endpoint: &str) -> Result<Signing> {
    let signer = Signer::from_env()?;
    let url = endpoint_url(endpoint);
    // tonic nests the same words in its error's sources: say it once, with the root cause.
    let mut ep = Channel::from_shared(url.clone())
        .map_err(|_| anyhow::anyhow!("invalid endpoint {endpoint:?}: expected http://HOST:PORT"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    if url.starts_with("https://") {
        ep = ep.tls_config(tls_config()?).context("setting up TLS")?;
    }
    let channel = ep.connect().await.map_err(|e| {
        let root = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .last()
            .map_or_else(|| e.to_string(), ToString::to_string);
        anyhow::anyhow!(
            "cannot connect to {url}: {root}\n\
                 hint: is the server running? Start it with `logsight serve`, or point \
                 --endpoint (or {ENDPOINT_ENV}) at it"
        )
    })?;
    let origin = url.parse().with_context(|| format!("invalid endpoint {endpoint:?}"))?;
    Ok(Signing::new(channel, origin, signer))
}

/// Connects a client of the `Watch` service (metric filters, metrics, alarms) to `endpoint`.
pub async fn connect_watch(endpoint: &str) -> Result<WatchClient<Signing>> {
    Ok(WatchClient::new(channel(endpoint).await?))
}

/// Connects a client of the `Queries` service (Logs Insights queries, saved queries).
pub async fn connect_queries(endpoint: &str) -> Result<QueriesClient<Signing>> {
    Ok(queries_client(channel(endpoint).await?))
}

fn queries_client(channel: Signing) -> QueriesClient<Signing> {
    QueriesClient::new(channel)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20)
}

/// Clients of the `Queries` and `Logs` services over one connection.
pub async fn connect_queries_and_logs(endpoint: &str) -> Result<(QueriesClient<Signing>, Client)> {
    let channel = channel(endpoint).await?;
    Ok((queries_client(channel.clone()), logs_client(channel)))
}

/// Turns a status into an error that reads well: the server's message, or the code; for a
/// failure of the connection itself, what failed (`transport error` alone says nothing).
pub fn status_error(s: tonic::Status) -> anyhow::Error {
    if s.message().is_empty() {
        return anyhow::anyhow!("server error: {:?}", s.code());
    }
    let mut text = s.message().to_owned();
    let mut cause = std::error::Error::source(&s);
    while let Some(e) = cause {
        let said = e.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = e.source();
    }
    anyhow::anyhow!("{text}")
}

/// Whether `s` is a failure of the connection rather than the server's answer: the call may
/// not have reached the server, and a new connection may carry it (a server closes
/// connections it finds idle, and one may close just as a call goes out on it).
pub fn connection_lost(s: &tonic::Status) -> bool {
    let mut cause = std::error::Error::source(s);
    while let Some(e) = cause {
        if e.is::<tonic::transport::Error>() {
            return true;
        }
        cause = e.source();
    }
    s.code() == tonic::Code::Unavailable
}

/// How long to wait before retrying after `s`, if retrying can help (UNAVAILABLE,
/// RESOURCE_EXHAUSTED): the server's `retry-after-ms` hint, else `fallback`.
pub fn retry_delay(s: &tonic::Status, fallback: Duration) -> Option<Duration> {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => {
            let hint = s
                .metadata()
                .get(logsight_server::error::RETRY_AFTER_MS)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis);
            Some(hint.unwrap_or(fallback).max(fallback))
        }
        _ => None,
    }
}

/// Calls `f` until it succeeds, fails for good, or `attempts` run out, backing off
/// exponentially (100 ms doubling to 5 s, with jitter, or the server's longer hint) on
/// retryable errors.
pub async fn with_retry<T, F, Fut>(attempts: u32, f: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, tonic::Status>>,
{
    use backon::Retryable;
    let backoff = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .with_max_times(attempts.saturating_sub(1) as usize);
    f.retry(backoff)
        .when(|s| retry_delay(s, Duration::ZERO).is_some())
        .adjust(|s, wait| wait.map(|w| retry_delay(s, w).unwrap_or(w)))
        .notify(|s, wait| tracing::debug!(status = %s.message(), ?wait, "retrying"))
        .await
}

/// Formats epoch milliseconds as RFC 3339 UTC.
pub fn fmt_ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Output formats of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// One JSON object per line.
    Json,
}

/// Output formats of commands that print events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// Time and message (and the stream, where events come from several).
    Short,
    /// Time, ingestion time, group, stream and message.
    Detailed,
    /// One JSON object per line.
    Json,
    /// The message only, as it was ingested.
    Raw,
}
