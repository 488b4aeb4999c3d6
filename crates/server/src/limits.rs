//! The tower layer in front of every call: it admits request bodies against the in-flight
//! budget before they are buffered ([`crate::admission`]) and counts each connection's open
//! calls, from the request's arrival to the end of its response, for the idle timeout
//! ([`crate::conn`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};

use crate::admission::{Admission, AdmittedBody};
use crate::conn::{CallGuard, ConnInfo};

/// The layer.
#[derive(Debug, Clone)]
pub struct RequestLimitsLayer {
    admission: Admission,
    max_message: usize,
}

impl RequestLimitsLayer {
    /// Admits request messages of at most `max_message` bytes against `admission`.
    pub fn new(admission: Admission, max_message: usize) -> Self {
        RequestLimitsLayer { admission, max_message }
    }
}

impl<S> Layer<S> for RequestLimitsLayer {
    type Service = RequestLimits<S>;

    fn layer(&self, inner: S) -> RequestLimits<S> {
        RequestLimits { inner, layer: self.clone() }
    }
}

/// The service the layer makes.
#[derive(Debug, Clone)]
pub struct RequestLimits<S> {
    inner: S,
    layer: RequestLimitsLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<http::Request<tonic::body::Body>> for RequestLimits<S>
where
    S: Service<http::Request<tonic::body::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let call = req.extensions().get::<ConnInfo>().map(ConnInfo::call);
        let (admission, max) = (self.layer.admission.clone(), self.layer.max_message);
        let req = req.map(|b| tonic::body::Body::new(AdmittedBody::new(b, admission, max)));
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|inner| tonic::body::Body::new(CallBody { inner, _call: call })))
        })
    }
}

/// A response body that keeps its call counted until it ends or is dropped.
struct CallBody<B> {
    inner: B,
    _call: Option<CallGuard>,
}

impl<B: Body + Unpin> Body for CallBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
