//! A tower layer in front of the gRPC services (`logsight.*`): every call is authenticated,
//! authorized, counted and audited like an HTTP one.
//!
//! A call whose request is one message (every method but IngestStream) has that message read
//! (already admitted against the in-flight budget by the limits layer outside this one, and
//! bounded by the largest message) before it runs: its SHA-256 is the payload hash of the
//! SigV4 signature, and the message says what the call asks for (`grpc_calls`: the IAM action,
//! the log groups, the audit parameters). With `--auth` the call must be signed
//! (`logsight_auth::grpc`: path, host, timestamp, nonce, body hash) by a principal whose
//! policy allows the action on those groups; a signature is accepted once within the
//! clock-skew window. IngestStream's signature covers its headers only (`UNSIGNED-PAYLOAD`);
//! its batches are authorized one by one (`logs:PutLogEvents` on each batch's group) with the
//! [`Identity`] this layer puts in the request's extensions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use logsight_auth::sigv4;
use percent_encoding::percent_decode_str;
use tonic::codegen::Service;
use tonic::transport::server::TcpConnectInfo;

use crate::Shared;
use crate::access::Identity;
use crate::audit::{Call, Failure, Protocol};
use crate::error::ServiceError;
use crate::grpc_calls::{self, STREAMING_REQUESTS};
use crate::tail::new_id;

/// The path prefix of logsight's services (the health service is not gated).
const GATED_PREFIX: &str = "/logsight.";

/// Wraps a service in a [`Gate`].
#[derive(Clone)]
pub struct GateLayer {
    shared: Arc<Shared>,
    max_message: usize,
}

impl GateLayer {
    /// A layer over `shared`, for request messages of at most `max_message` bytes.
    pub fn new(shared: Arc<Shared>, max_message: usize) -> Self {
        GateLayer { shared, max_message }
    }
}

impl<S> tower_layer::Layer<S> for GateLayer {
    type Service = Gate<S>;
    fn layer(&self, inner: S) -> Gate<S> {
        Gate { inner, shared: self.shared.clone(), max_message: self.max_message }
    }
}

/// Authenticates, authorizes, counts and audits `logsight.*` calls; others pass.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    shared: Arc<Shared>,
    max_message: usize,
}

/// The outcome of a gRPC response: its status, when the response carries it in its headers
/// (a trailers-only error response). A status that comes in trailers is a success, as far as
/// the start of the call goes.
fn outcome(headers: &http::HeaderMap) -> Option<Failure> {
    let code = headers.get("grpc-status")?.to_str().ok()?;
    if code == "0" {
        return None;
    }
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .map(|m| percent_decode_str(m).decode_utf8_lossy().into_owned())
        .unwrap_or_default();
    Some(failure(code, &message))
}

/// The failure of a status with `code` (its number) and `message`.
fn failure(code: &str, message: &str) -> Failure {
    // Statuses read "<Exception>: <message>" (error.rs).
    match message.split_once(": ") {
        Some((name, rest)) if name.ends_with("Exception") => Failure::new(name, rest),
        _ => Failure::new(format!("GrpcStatus{code}"), message),
    }
}

/// Reads a one-message request's message: its body up to the end of the first length-prefixed
/// message (or the end of the body, if sooner), without waiting for the client to end the
/// stream, as tonic does not. At most `max_message` bytes and the header.
async fn read_message(
    body: &mut tonic::body::Body,
    max_message: usize,
) -> Result<Bytes, tonic::Status> {
    let mut buf = BytesMut::new();
    let whole = |buf: &BytesMut| {
        buf.len() >= 5
            && buf.len() - 5 >= u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize
    };
    while !whole(&buf) {
        let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
        else {
            break;
        };
        if let Ok(data) = frame?.into_data() {
            buf.extend_from_slice(&data);
            if buf.len() > max_message + 5 {
                return Err(ServiceError::invalid(format!(
                    "the request is more than one message of at most {max_message} bytes"
                ))
                .to_status());
            }
        }
    }
    Ok(buf.freeze())
}

/// A body whose start the gate has read, given to the service: the bytes read, then the rest
/// of the body they came from. The source body keeps the admission of its bytes for as long
/// as the service holds this one.
struct Replayed {
    read: Option<Bytes>,
    rest: tonic::body::Body,
}

impl Body for Replayed {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        match this.read.take() {
            Some(d) => Poll::Ready(Some(Ok(Frame::data(d)))),
            None => Pin::new(&mut this.rest).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let read = self.read.as_ref().map_or(0, |d| d.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + read);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + read);
        }
        hint
    }
}

/// Authenticates the call and, for a one-message request (`body`), authorizes what it asks
/// for, filling in the audit record as it learns who and what.
fn admit(
    shared: &Shared,
    parts: &http::request::Parts,
    body: Option<&Bytes>,
    call: &mut Call,
) -> Result<Identity, ServiceError> {
    let access = shared.access();
    let payload_hash =
        body.map_or_else(|| sigv4::UNSIGNED_PAYLOAD.to_owned(), |b| sigv4::sha256_hex(b));
    let req = sigv4::Request::new(&parts.method, &parts.uri, &parts.headers);
    let identity =
        access.authenticate(&req, &payload_hash, shared.now_ms().div_euclid(1000), true)?;
    call.caller = identity.caller.clone();
    call.region = identity.region.clone();
    let Some(body) = body else { return Ok(identity) };
    let described = match grpc_calls::describe(parts.uri.path(), body) {
        Ok(d) => d,
        // Without principals a malformed message is the service's to report, as it always was.
        Err(_) if !access.required() => return Ok(identity),
        Err(e) => return Err(e),
    };
    call.request_parameters = described.parameters;
    call.read_only = described.read_only;
    match described.action.strip_prefix("logs:") {
        Some(op) if described.groups.is_empty() => access.authorize(&identity, op, None)?,
        Some(op) => {
            for group in &described.groups {
                access.authorize(&identity, op, Some(group))?;
            }
        }
        None => access.authorize_action(&identity, &described.action, &["*"])?,
    }
    Ok(identity)
}

impl<S> Service<http::Request<tonic::body::Body>> for Gate<S>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        if !req.uri().path().starts_with(GATED_PREFIX) {
            return Box::pin(self.inner.call(req));
        }
        // The ready service is the one to call; leave a fresh clone in its place.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let (shared, max_message) = (self.shared.clone(), self.max_message);
        let path = req.uri().path().to_owned();
        let claimed =
            shared.access().claimed(&sigv4::Request::new(req.method(), req.uri(), req.headers()));
        let mut call = Call {
            operation: path.rsplit('/').next().unwrap_or_default().chars().take(128).collect(),
            protocol: Protocol::Grpc,
            caller: claimed.caller,
            // The server's accept loop (`conn`) records each connection's address.
            source_ip: req
                .extensions()
                .get::<crate::conn::ConnInfo>()
                .and_then(|c| c.remote)
                .or_else(|| {
                    req.extensions().get::<TcpConnectInfo>().and_then(TcpConnectInfo::remote_addr)
                })
                .map(|a| a.ip()),
            user_agent: req
                .headers()
                .get(http::header::USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).chars().take(1024).collect())
                .unwrap_or_default(),
            region: claimed.region,
            request_id: new_id(),
            read_only: false,
            request_parameters: serde_json::Value::Null,
        };
        Box::pin(async move {
            let started = Instant::now();
            let (mut parts, mut body) = req.into_parts();
            let bytes = if STREAMING_REQUESTS.contains(&path.as_str()) {
                None
            } else {
                match read_message(&mut body, max_message).await {
                    Ok(b) => Some(b),
                    Err(status) => {
                        let code = (status.code() as i32).to_string();
                        let failure = failure(&code, status.message());
                        shared.finish(&call, Err(&failure), started).await;
                        return Ok(status.into_http());
                    }
                }
            };
            let resp = match admit(&shared, &parts, bytes.as_ref(), &mut call) {
                Ok(identity) => {
                    parts.extensions.insert(identity);
                    let body = match bytes {
                        Some(data) => {
                            tonic::body::Body::new(Replayed { read: Some(data), rest: body })
                        }
                        None => body,
                    };
                    inner.call(http::Request::from_parts(parts, body)).await?
                }
                Err(e) => e.to_status().into_http(),
            };
            let failure = outcome(resp.headers());
            shared.finish(&call, failure.as_ref().map_or(Ok(()), Err), started).await;
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_come_from_trailers_only_statuses() {
        let mut h = http::HeaderMap::new();
        assert_eq!(outcome(&h), None);
        h.insert("grpc-status", "0".parse().unwrap());
        assert_eq!(outcome(&h), None);
        h.insert("grpc-status", "5".parse().unwrap());
        h.insert(
            "grpc-message",
            "ResourceNotFoundException: log group %22g%22 does not exist".parse().unwrap(),
        );
        assert_eq!(
            outcome(&h),
            Some(Failure::new("ResourceNotFoundException", "log group \"g\" does not exist"))
        );
        h.insert("grpc-message", "h2 protocol error".parse().unwrap());
        assert_eq!(outcome(&h), Some(Failure::new("GrpcStatus5", "h2 protocol error")));
    }
}
