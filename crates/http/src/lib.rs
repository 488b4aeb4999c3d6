//! logsight's HTTP API: the CloudWatch Logs JSON 1.1 protocol (`POST /` with
//! `X-Amz-Target: Logs_20140328.<Operation>`), so the AWS SDKs and CLI, Fluent Bit, Vector and
//! the CloudWatch agent work unchanged; and the Prometheus exposition at `GET /metrics`.
//!
//! A thin front end over [`logsight_server::Shared`], the same state the gRPC API uses: the
//! same service calls, rules, error table, ingest admission, access control and audit trail.
//! Each request: SigV4 authentication (with `--auth`) → operation lookup in [`ops::TABLE`] →
//! JSON body into the operation's request shape → authorization of `logs:<Operation>` on the
//! log group → the service call on a blocking thread → the response shape, or
//! `{"__type", "message"}` with the error table's HTTP status. Every call, allowed or not, is
//! counted and audited.

pub mod live_tail;
pub mod metric_filters;
pub mod ops;
pub mod queries;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use logsight_auth::sigv4;
use logsight_server::audit::{Call, Failure, Protocol};
use logsight_server::conn::{self, Conn, ConnInfo, ConnLimits};
use logsight_server::tail::{Timing, new_id};
use logsight_server::tls::TlsConfig;
use logsight_server::{ServiceError, Shared, error_code, http_status};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The `X-Amz-Target` prefix of CloudWatch Logs operations.
pub const TARGET_PREFIX: &str = "Logs_20140328.";
/// The protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The content type of an event stream (StartLiveTail's answer).
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Why the HTTP server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Accepting or serving failed.
    #[error("HTTP server: {0}")]
    Io(#[from] std::io::Error),
}

/// The API's state: the shared state of both front ends, and what live tail sessions need.
#[derive(Debug, Clone)]
pub struct Api {
    shared: Arc<Shared>,
    tail_timing: Timing,
    stopping: watch::Receiver<bool>,
}

impl Api {
    /// The API over `shared`; live tails run on `tail_timing` and end when `stopping` turns
    /// true (so that a graceful shutdown does not wait for them).
    pub fn new(shared: Arc<Shared>, tail_timing: Timing, stopping: watch::Receiver<bool>) -> Api {
        Api { shared, tail_timing, stopping }
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Live tail sessions' update interval and length.
    pub fn tail_timing(&self) -> Timing {
        self.tail_timing
    }

    /// Turns true when the server shuts down.
    pub fn stopping(&self) -> &watch::Receiver<bool> {
        &self.stopping
    }
}

/// The router: the API at `POST /`, metrics at `GET /metrics`. Bodies up to `max_body_bytes`.
pub fn router(api: Api, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/", post(serve_api))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(api)
}

/// How the HTTP listener serves.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Bounds on connections (the same accept loop as the gRPC listener's).
    pub limits: ConnLimits,
    /// Serve TLS with this certificate; `None`: plain TCP.
    pub tls: Option<TlsConfig>,
    /// Live tail sessions' update interval and length.
    pub tail_timing: Timing,
}

impl HttpOptions {
    /// The HTTP listener's options within a server's: its connection limits and TLS.
    pub fn from_server(opts: &logsight_server::ServerOptions) -> Self {
        HttpOptions {
            max_body_bytes: opts.max_message_bytes,
            limits: opts.conn_limits(),
            tls: opts.tls.clone(),
            tail_timing: Timing {
                update_interval: opts.live_tail_update_interval,
                timeout: opts.live_tail_timeout,
            },
        }
    }
}

/// Serves the HTTP API on `listener` until `shutdown` completes and in-flight requests finish,
/// with the default connection limits and no TLS.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    max_body_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    let opts = HttpOptions {
        max_body_bytes,
        ..HttpOptions::from_server(&logsight_server::ServerOptions::default())
    };
    serve_with(listener, shared, &opts, shutdown).await
}

/// Serves the HTTP API on `listener` with `opts` until `shutdown` completes and in-flight
/// requests finish. Connections come from the server's accept loop (`logsight_server::conn`):
/// a connection cap, idle connections closed, TLS handshakes off the loop.
pub async fn serve_with(
    listener: TcpListener,
    shared: Arc<Shared>,
    opts: &HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    let local = listener.local_addr()?;
    let tls = opts.tls.as_ref().map(|t| t.acceptor(b"http/1.1"));
    let accepted = Accepted { conns: conn::incoming_with(listener, opts.limits, tls), local };
    let (stop, stopping) = watch::channel(false);
    let app = router(Api::new(shared, opts.tail_timing, stopping), opts.max_body_bytes)
        .layer(axum::middleware::from_fn(count_call))
        .into_make_service_with_connect_info::<Peer>();
    let shutdown = async move {
        shutdown.await;
        // Live tails end, so the in-flight requests the graceful shutdown waits for finish.
        let _ = stop.send(true);
    };
    axum::serve(accepted, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// A client of the HTTP listener: its address, and its connection (whose open requests keep it
/// from being closed as idle).
#[derive(Debug, Clone)]
pub struct Peer {
    remote: Option<SocketAddr>,
    conn: Option<ConnInfo>,
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Accepted>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Accepted>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The connections of the accept loop, as axum's listener.
struct Accepted {
    conns: tokio_stream::wrappers::ReceiverStream<std::io::Result<Conn>>,
    local: SocketAddr,
}

impl axum::serve::Listener for Accepted {
    type Io = Conn;
    type Addr = Peer;

    async fn accept(&mut self) -> (Conn, Peer) {
        loop {
            match tokio_stream::StreamExt::next(&mut self.conns).await {
                Some(Ok(c)) => {
                    let info = c.info().clone();
                    return (c, Peer { remote: info.remote, conn: Some(info) });
                }
                Some(Err(e)) => tracing::debug!(error = %e, "accepting an HTTP connection failed"),
                // The loop only ends once this listener is dropped.
                None => std::future::pending().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer { remote: Some(self.local), conn: None })
    }
}

/// Counts a request as a call on its connection while it runs (the idle timeout spares it);
/// an event stream (a live tail) is a call until its body ends.
async fn count_call(
    ConnectInfo(peer): ConnectInfo<Peer>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let call = peer.conn.as_ref().map(ConnInfo::call);
    let response = next.run(req).await;
    let streamed = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == EVENT_STREAM);
    match call {
        Some(call) if streamed => {
            let (parts, body) = response.into_parts();
            let chunks = tokio_stream::StreamExt::map(body.into_data_stream(), move |chunk| {
                let _busy = &call;
                chunk
            });
            Response::from_parts(parts, axum::body::Body::from_stream(chunks))
        }
        _ => response,
    }
}

async fn serve_api(
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&api, peer.remote, &method, &uri, &headers, body).await
}

/// Handles one API request; never panics on any input, and answers every failure with a
/// CloudWatch error. Public for the request-parser property tests.
pub async fn handle(
    api: &Api,
    peer: Option<SocketAddr>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let shared = api.shared();
    let request_id = new_id();
    let sig_req = sigv4::Request::new(method, uri, headers);
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let operation = target.strip_prefix(TARGET_PREFIX).unwrap_or(target);
    let mut call = Call {
        operation: if operation.is_empty() {
            "Unknown".into()
        } else {
            operation.chars().take(128).collect()
        },
        protocol: Protocol::Http,
        caller: shared.access().claimed(&sig_req).caller,
        source_ip: peer.map(|p| p.ip()),
        user_agent: headers
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(1024).collect())
            .unwrap_or_default(),
        region: shared.access().claimed(&sig_req).region,
        request_id: request_id.clone(),
        read_only: false,
        request_parameters: serde_json::Value::Null,
    };
    let now_s = shared.now_ms().div_euclid(1000);
    let result =
        match shared.access().authenticate(&sig_req, &sigv4::sha256_hex(&body), now_s, false) {
            Err(e) => Err(e),
            Ok(identity) => {
                call.caller = identity.caller.clone();
                call.region = identity.region.clone();
                match (
                    target.strip_prefix(TARGET_PREFIX),
                    target.strip_prefix(TARGET_PREFIX).and_then(ops::lookup),
                ) {
                    (Some(_), Some(handler)) => {
                        let handled = handler(api.clone(), identity, body).await;
                        call.request_parameters = handled.parameters;
                        call.read_only = handled.read_only;
                        handled.result
                    }
                    (Some(op), None) => Err(ServiceError::UnknownOperation(format!(
                        "logsight does not support the operation {op:?}"
                    ))),
                    (None, _) => Err(ServiceError::UnknownOperation(format!(
                        "the X-Amz-Target header must be {TARGET_PREFIX}<Operation>, got {target:?}"
                    ))),
                }
            }
        };
    let failure = result.as_ref().err().map(Failure::from);
    shared.finish(&call, failure.as_ref().map_or(Ok(()), Err), started).await;
    match result {
        Ok(ops::Answer::Json(body)) => json_response(StatusCode::OK, &request_id, body),
        Ok(ops::Answer::EventStream(body)) => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                r.headers_mut().insert("x-amzn-requestid", v);
            }
            r
        }
        Err(e) => error_response(&e, &request_id),
    }
}

fn json_response(status: StatusCode, request_id: &str, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// `{"__type": "<Exception>", "message": "..."}` with the error table's status.
pub fn error_response(e: &ServiceError, request_id: &str) -> Response {
    let (name, _) = error_code(e);
    let status = StatusCode::from_u16(http_status(e)).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = serde_json::json!({"__type": name, "message": e.to_string()});
    if let ServiceError::MalformedQuery { message, start, end } = e {
        // CloudWatch's MalformedQueryException member: where the query fails to compile.
        body["queryCompileError"] = serde_json::json!({
            "location": {"startCharOffset": start, "endCharOffset": end},
            "message": message,
        });
    }
    let mut r = json_response(status, request_id, body.to_string().into_bytes());
    if let Some(ms) = e.retry_after_ms() {
        // Whole seconds, rounded up, as HTTP's Retry-After.
        if let Ok(v) = HeaderValue::from_str(&ms.div_ceil(1000).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

async fn metrics(State(api): State<Api>) -> Response {
    let text = api.shared.metrics().render(&api.shared.gauges());
    let mut r = text.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let e = ServiceError::UnknownOperation(format!(
        "no such endpoint: {method} {}; the API is POST / and metrics are GET /metrics",
        uri.path()
    ));
    let mut r = error_response(&e, &new_id());
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PRINCIPALS: &str = r#"[{"name": "a", "access_key_id": "AKID", "secret_access_key": "secret-key",
        "policy": {"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}}]"#;

    fn shared(auth: bool) -> (tempfile::TempDir, tokio::runtime::Runtime, Api) {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let store =
            Arc::new(logsight_storage::Store::open(dir.path(), Default::default()).unwrap());
        let opts = logsight_server::ServerOptions {
            audit: true,
            principals: auth.then(|| logsight_auth::Principals::from_json(PRINCIPALS).unwrap()),
            ..Default::default()
        };
        let shared = rt.block_on(async { Shared::start(store, &opts).unwrap() });
        let (_, stopping) = watch::channel(false);
        (dir, rt, Api::new(shared, Timing::default(), stopping))
    }

    fn target() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(
                ops::TABLE.iter().map(|(n, _)| format!("{TARGET_PREFIX}{n}")).collect::<Vec<_>>()
            ),
            ".{0,40}",
        ]
    }

    /// JSON-ish bodies: arbitrary bytes, and objects with the members the operations use set
    /// to values of any type.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let key = proptest::sample::select(vec![
            "logGroupName",
            "logStreamName",
            "logEvents",
            "limit",
            "nextToken",
            "startTime",
            "endTime",
            "filterPattern",
            "retentionInDays",
            "logGroupIdentifier",
            "orderBy",
            "logStreamNames",
            "startFromHead",
            "logGroupNamePrefix",
        ]);
        let value = prop_oneof![
            Just("null".to_owned()),
            any::<i64>().prop_map(|v| v.to_string()),
            "[a-z/]{0,12}".prop_map(|s| format!("\"{s}\"")),
            Just("[{\"timestamp\": 1, \"message\": \"m\"}]".to_owned()),
            Just("{}".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
        ];
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            proptest::collection::vec((key, value), 0..5).prop_map(|kv| {
                let members: Vec<String> =
                    kv.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                format!("{{{}}}", members.join(", ")).into_bytes()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// Whatever arrives, the answer is a response: 200 with JSON, or a CloudWatch error
        /// with `__type` and `message`; never a panic.
        #[test]
        fn any_request_gets_a_cloudwatch_answer(
            auth in any::<bool>(),
            target in target(),
            body in body(),
            authorization in proptest::option::of(".{0,80}"),
            amz_date in proptest::option::of("[0-9TZ]{0,16}"),
        ) {
            let (_dir, rt, api) = shared(auth);
            let mut headers = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&target) {
                headers.insert("x-amz-target", v);
            }
            for (name, value) in [("authorization", authorization), ("x-amz-date", amz_date)] {
                if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    headers.insert(name, v);
                }
            }
            let r = rt.block_on(handle(&api, None, &Method::POST, &Uri::from_static("/"), &headers, Bytes::from(body)));
            let status = r.status();
            let bytes = rt.block_on(axum::body::to_bytes(r.into_body(), usize::MAX)).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            if status == StatusCode::OK {
                prop_assert!(!auth, "an unsigned request passed authentication");
                prop_assert!(v.is_object());
            } else {
                prop_assert!(status.is_client_error() || status.is_server_error());
                prop_assert!(v["__type"].as_str().is_some_and(|t| t.ends_with("Exception")), "{v}");
                prop_assert!(v["message"].is_string(), "{v}");
            }
            rt.block_on(api.shared().close()).unwrap();
        }
    }
}
