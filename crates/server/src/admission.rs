//! The in-flight byte budget, and its admission of request bodies before they are buffered.
//!
//! One [`Admission`] budget (`max_inflight_bytes`) bounds what clients can make the server
//! hold. It is charged twice in a request's life, never at once for the same bytes:
//! - while a request body arrives, [`AdmittedBody`] reads each gRPC message's 5-byte header
//!   and reserves the message's declared length before passing on any of its bytes, so tonic
//!   buffers only what was admitted. A message longer than the largest accepted is refused
//!   from its header, before any of it is read. A client that claims 16 MiB and stalls holds
//!   16 MiB of budget, never more than the budget in total, and the h2 window stops it from
//!   sending what was not admitted. The reservation ends once the message has been decoded
//!   (for a unary call, when tonic drops the body; for a stream, when tonic asks for more);
//! - while a decoded batch is stored, the ingest handler holds a reservation for its messages'
//!   bytes (see `grpc`).
//!
//! [`Framing`] is the pure part: it follows the gRPC length-prefixed framing through chunks of
//! any size and says where each message starts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ServiceError;

/// Bytes per permit of the budget's semaphore.
const PERMIT_BYTES: usize = 1024;
/// Bytes of a gRPC message header: a compression flag and a big-endian u32 length.
const HEADER_BYTES: usize = 5;

/// The in-flight byte budget.
#[derive(Debug, Clone)]
pub struct Admission {
    sem: Arc<Semaphore>,
    total: u32,
    wait: Duration,
}

/// A reservation of budget, returned when dropped.
#[derive(Debug)]
pub struct Reservation(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    /// A budget of `bytes` (at least 1 KiB); a reservation waits up to `wait` for room.
    pub fn new(bytes: usize, wait: Duration) -> Self {
        let total = u32::try_from((bytes / PERMIT_BYTES).max(1)).unwrap_or(u32::MAX);
        let sem = Arc::new(Semaphore::new(total as usize));
        Admission { sem, total, wait }
    }

    /// Bytes in flight now (reserved).
    pub fn inflight_bytes(&self) -> usize {
        (self.total as usize - self.sem.available_permits()) * PERMIT_BYTES
    }

    /// Bytes of budget free now.
    pub fn available_bytes(&self) -> usize {
        self.sem.available_permits() * PERMIT_BYTES
    }

    /// Reserves `bytes`, waiting up to the admission wait for room; refuses with a retry hint
    /// when the server stays full. More than the whole budget waits for all of it.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation, ServiceError> {
        let want =
            u32::try_from(bytes.div_ceil(PERMIT_BYTES).max(1)).unwrap_or(u32::MAX).min(self.total);
        match tokio::time::timeout(self.wait, self.sem.clone().acquire_many_owned(want)).await {
            Ok(Ok(p)) => Ok(Reservation(p)),
            _ => Err(ServiceError::Unavailable {
                message: "the server is overloaded: requests in flight are at the memory \
                          limit; retry after 200 ms"
                    .into(),
                retry_after_ms: 200,
            }),
        }
    }
}

/// Follows gRPC's length-prefixed message framing across chunks.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Framing {
    header: [u8; HEADER_BYTES],
    /// Header bytes seen of the next message; [`HEADER_BYTES`] while inside a message.
    header_len: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
}

/// What [`Framing::advance`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `n` bytes of the chunk belong to headers or messages already announced.
    Consumed(usize),
    /// A header ended after `n` bytes of the chunk: a message of `len` bytes follows.
    Message {
        /// Bytes of the chunk up to the end of the header.
        n: usize,
        /// The message's declared length.
        len: usize,
    },
}

impl Framing {
    /// Reads from the start of `chunk` up to the end of the current message or of the next
    /// header, or all of it. Reads at least one byte of a non-empty chunk.
    pub fn advance(&mut self, chunk: &[u8]) -> Step {
        let mut n = 0;
        while n < chunk.len() {
            if self.header_len == HEADER_BYTES {
                let take = self.remaining.min(chunk.len() - n);
                self.remaining -= take;
                n += take;
                if self.remaining == 0 {
                    // Stop at the message's end, so a caller sees where the next one starts.
                    self.header_len = 0;
                    return Step::Consumed(n);
                }
                continue;
            }
            self.header[self.header_len] = chunk[n];
            self.header_len += 1;
            n += 1;
            if self.header_len == HEADER_BYTES {
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                self.remaining = len;
                if len == 0 {
                    self.header_len = 0;
                }
                return Step::Message { n, len };
            }
        }
        Step::Consumed(n)
    }

    /// Whether the stream is between messages (no header or body begun).
    pub fn at_boundary(&self) -> bool {
        self.header_len == 0
    }
}

type Reserving = Pin<Box<dyn Future<Output = Result<Reservation, ServiceError>> + Send>>;

/// A request body whose messages are admitted against the budget before they are passed on.
pub struct AdmittedBody<B> {
    inner: B,
    admission: Admission,
    max_message: usize,
    framing: Framing,
    /// Data polled from `inner` and not yet passed on.
    pending: Bytes,
    /// The reservation being waited for, for the message whose header ends the scanned part
    /// of `pending`.
    reserving: Option<Reserving>,
    /// Bytes at the front of `pending` that are scanned and admitted.
    ready: usize,
    /// The current (incomplete) message's reservation.
    current: Option<Reservation>,
    /// Reservations of messages passed on whole; returned when tonic asks for more data,
    /// which it does only once it has decoded every whole message it holds.
    done: Vec<Reservation>,
}

impl<B> AdmittedBody<B> {
    /// Wraps `inner`, refusing messages over `max_message` bytes.
    pub fn new(inner: B, admission: Admission, max_message: usize) -> Self {
        AdmittedBody {
            inner,
            admission,
            max_message,
            framing: Framing::default(),
            pending: Bytes::new(),
            reserving: None,
            ready: 0,
            current: None,
            done: Vec::new(),
        }
    }
}

impl<B> Body for AdmittedBody<B>
where
    B: Body<Data = Bytes, Error = tonic::Status> + Unpin,
{
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        this.done.clear();
        loop {
            if let Some(r) = this.reserving.as_mut() {
                let reservation = ready!(r.as_mut().poll(cx));
                this.reserving = None;
                this.current = Some(reservation.map_err(|e| e.to_status())?);
            }
            if this.ready < this.pending.len() {
                match this.framing.advance(&this.pending[this.ready..]) {
                    Step::Consumed(n) => this.ready += n,
                    Step::Message { n, len } => {
                        if len > this.max_message {
                            return Poll::Ready(Some(Err(ServiceError::invalid(format!(
                                "the request message is {len} bytes, more than the limit of {} \
                                 bytes",
                                this.max_message
                            ))
                            .to_status())));
                        }
                        // The message before this header is whole.
                        this.done.extend(this.current.take());
                        let before = this.ready;
                        this.ready += n;
                        let (admission, bytes) = (this.admission.clone(), len + HEADER_BYTES);
                        this.reserving =
                            Some(Box::pin(async move { admission.reserve(bytes).await }));
                        if before > 0 {
                            // Pass on the admitted bytes before this header first, so the
                            // messages they end are decoded while this one waits for room.
                            this.ready -= before;
                            return Poll::Ready(Some(Ok(Frame::data(
                                this.pending.split_to(before),
                            ))));
                        }
                    }
                }
                continue;
            }
            if !this.pending.is_empty() {
                // Everything polled is scanned and admitted: pass it on.
                this.ready = 0;
                let data = std::mem::take(&mut this.pending);
                if this.framing.at_boundary()
                    && let Some(finished) = this.current.take()
                {
                    this.done.push(finished);
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => this.pending = data.copy_to_bytes(data.remaining()),
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32) -> Vec<u8> {
        let mut v = vec![0];
        v.extend(len.to_be_bytes());
        v.extend(std::iter::repeat_n(7u8, len as usize));
        v
    }

    /// Every message start and length, feeding `bytes` in chunks of `chunk` bytes.
    fn messages(bytes: &[u8], chunk: usize) -> Vec<(usize, usize)> {
        let mut f = Framing::default();
        let (mut out, mut at) = (vec![], 0);
        for c in bytes.chunks(chunk) {
            let mut i = 0;
            while i < c.len() {
                match f.advance(&c[i..]) {
                    Step::Consumed(n) => i += n,
                    Step::Message { n, len } => {
                        i += n;
                        out.push((at + i - HEADER_BYTES, len));
                    }
                }
            }
            at += c.len();
        }
        out
    }

    #[test]
    fn framing_finds_every_message_whatever_the_chunking() {
        let lens = [3u32, 0, 1, 300, 2, 0];
        let bytes: Vec<u8> = lens.iter().flat_map(|&l| frame(l)).collect();
        // The oracle: starts computed from the lengths alone.
        let mut want = vec![];
        let mut at = 0;
        for &l in &lens {
            want.push((at, l as usize));
            at += HEADER_BYTES + l as usize;
        }
        for chunk in [1, 2, 4, 5, 6, 7, 64, 1000] {
            assert_eq!(messages(&bytes, chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn framing_knows_when_it_is_between_messages() {
        let mut f = Framing::default();
        assert!(f.at_boundary());
        assert_eq!(f.advance(&[0, 0, 0]), Step::Consumed(3));
        assert!(!f.at_boundary());
        assert_eq!(f.advance(&[0, 2, 9]), Step::Message { n: 2, len: 2 });
        assert!(!f.at_boundary());
        assert_eq!(f.advance(&[9, 9]), Step::Consumed(2));
        assert!(f.at_boundary());
    }

    struct Chunks(Vec<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = tonic::Status;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
            Poll::Ready((!self.0.is_empty()).then(|| Ok(Frame::data(self.0.remove(0)))))
        }
    }

    async fn next(b: &mut AdmittedBody<Chunks>) -> Option<Result<Frame<Bytes>, tonic::Status>> {
        std::future::poll_fn(|cx| Pin::new(&mut *b).poll_frame(cx)).await
    }

    #[tokio::test]
    async fn a_body_passes_on_only_what_was_admitted_and_returns_it_when_asked_for_more() {
        let admission = Admission::new(64 << 10, Duration::from_millis(50));
        let bytes = [frame(10 << 10), frame(20 << 10)].concat();
        let chunks = bytes.chunks(4096).map(Bytes::copy_from_slice).collect();
        let mut body = AdmittedBody::new(Chunks(chunks), admission.clone(), 1 << 20);
        let mut seen = Vec::new();
        while let Some(f) = next(&mut body).await {
            seen.extend_from_slice(&f.unwrap().into_data().unwrap());
            // Never more budget taken than the two messages (rounded up to whole KiB).
            assert!(admission.available_bytes() >= (64 - 11 - 21) << 10);
        }
        assert_eq!(seen, bytes);
        drop(body);
        assert_eq!(admission.available_bytes(), 64 << 10);
    }

    #[tokio::test]
    async fn an_oversized_message_is_refused_from_its_header() {
        let admission = Admission::new(1 << 20, Duration::from_millis(50));
        let mut head = vec![0];
        head.extend((20u32 << 20).to_be_bytes());
        let mut body = AdmittedBody::new(Chunks(vec![head.into()]), admission, 16 << 20);
        let e = next(&mut body).await.unwrap().unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message()
                .starts_with("InvalidParameterException: the request message is 20971520 bytes"),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn a_full_budget_refuses_with_a_retry_hint() {
        let admission = Admission::new(8 << 10, Duration::from_millis(20));
        let held = admission.reserve(8 << 10).await.unwrap();
        let mut body =
            AdmittedBody::new(Chunks(vec![frame(100).into()]), admission.clone(), 1 << 20);
        let e = next(&mut body).await.unwrap().unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable);
        assert_eq!(e.metadata().get(crate::error::RETRY_AFTER_MS).unwrap(), "200");
        drop(held);
    }
}
