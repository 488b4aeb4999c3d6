//! A tower layer in front of the gRPC `Logs` service: every call is counted and audited like
//! an HTTP one (operation, caller, source address, user agent, outcome from the gRPC status).
//!
//! The gRPC API does not verify principals' signatures yet, so with `--auth` it refuses every
//! call (UNAUTHENTICATED) rather than serve unauthenticated callers; the HTTP API is then the
//! way in.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use percent_encoding::percent_decode_str;
use tonic::codegen::Service;
use tonic::transport::server::TcpConnectInfo;

use crate::Shared;
use crate::access::DEFAULT_REGION;
use crate::audit::{Call, Caller, Failure, Protocol};
use crate::error::ServiceError;
use crate::tail::new_id;

/// The path prefix of the `Logs` service's methods.
const LOGS_PREFIX: &str = "/logsight.v1.Logs/";

/// Wraps a service in a [`Gate`].
#[derive(Clone)]
pub struct GateLayer {
    shared: Arc<Shared>,
}

impl GateLayer {
    /// A layer over `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        GateLayer { shared }
    }
}

impl<S> tower_layer::Layer<S> for GateLayer {
    type Service = Gate<S>;
    fn layer(&self, inner: S) -> Gate<S> {
        Gate { inner, shared: self.shared.clone() }
    }
}

/// Counts, audits and (with principals) refuses `Logs` calls; other services pass.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    shared: Arc<Shared>,
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
    // Statuses read "<Exception>: <message>" (error.rs).
    Some(match message.split_once(": ") {
        Some((name, rest)) if name.ends_with("Exception") => Failure::new(name, rest),
        _ => Failure::new(format!("GrpcStatus{code}"), message),
    })
}

impl<S, B> Service<http::Request<B>> for Gate<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let Some(operation) = req.uri().path().strip_prefix(LOGS_PREFIX).map(str::to_owned) else {
            return Box::pin(self.inner.call(req));
        };
        // The ready service is the one to call; leave a fresh clone in its place.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let shared = self.shared.clone();
        let call = Call {
            operation,
            protocol: Protocol::Grpc,
            caller: if shared.access().required() {
                Caller::Unauthenticated { access_key_id: None }
            } else {
                Caller::Anonymous
            },
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
            region: DEFAULT_REGION.into(),
            request_id: new_id(),
            read_only: false,
            request_parameters: serde_json::Value::Null,
        };
        Box::pin(async move {
            let started = Instant::now();
            if shared.access().required() {
                let e = ServiceError::MissingAuthentication(
                    "the gRPC API does not take --auth principals yet: use the HTTP API, or \
                     run serve without --auth"
                        .into(),
                );
                shared.finish(&call, Err(&Failure::from(&e)), started).await;
                return Ok(e.to_status().into_http());
            }
            let resp = inner.call(req).await?;
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
