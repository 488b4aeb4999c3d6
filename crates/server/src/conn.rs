//! Connections: the accept loop, the connection cap and idle connections.
//!
//! - At most [`ConnLimits::max_connections`] connections are open at once, fewer when the
//!   process's descriptor limit would leave less than [`ConnLimits::fd_reserve`] descriptors to
//!   the store (its WAL and segment files). Past the cap the loop stops accepting, and new
//!   connections wait in the kernel's backlog rather than take the store's descriptors.
//! - An accept error such as "too many open files" backs off (10 ms doubling to 1 s) instead of
//!   retrying at once: a listener that stays readable would otherwise spin a core.
//! - A connection with no call open for [`ConnLimits::idle_timeout`] is closed; so is one that
//!   never sends a request at all. Each connection counts its open calls through the
//!   [`ConnInfo`] that tonic puts in every request's extensions ([`ConnInfo::call`]).
//! - With TLS ([`incoming_with`]), each accepted connection's handshake runs on a task of its
//!   own, holding its connection slot, for at most [`crate::tls::HANDSHAKE_TIMEOUT`]; a client
//!   that stalls or fails it is dropped without delaying other accepts.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;

use crate::tls::HANDSHAKE_TIMEOUT;

/// Bounds on connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections open at once (before the descriptor reserve is taken into account).
    pub max_connections: usize,
    /// Descriptors kept free for the store.
    pub fd_reserve: usize,
    /// How long a connection may stay open with no call in progress.
    pub idle_timeout: Duration,
}

/// The effective connection cap: `max_connections`, lowered so that `fd_reserve` descriptors
/// (and a few for the process itself) stay free under a descriptor limit of `fd_limit`.
pub fn connection_cap(max_connections: usize, fd_reserve: usize, fd_limit: Option<u64>) -> usize {
    /// The process's own descriptors: stdio, the listener, the runtime's.
    const OWN: usize = 16;
    let by_fds = fd_limit.map_or(usize::MAX, |l| {
        usize::try_from(l).unwrap_or(usize::MAX).saturating_sub(fd_reserve + OWN)
    });
    max_connections.min(by_fds).max(1)
}

/// The process's soft limit on open descriptors, if it has one.
pub fn fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[derive(Debug)]
struct ConnState {
    calls: AtomicUsize,
    /// When the last call ended (or the connection opened).
    idle_since: Mutex<Instant>,
}

/// A connection, as request handlers see it (tonic's connect info).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The client's address.
    pub remote: Option<SocketAddr>,
    state: Arc<ConnState>,
}

/// A call in progress on a connection; the connection is not idle while one exists.
#[derive(Debug)]
pub struct CallGuard(Arc<ConnState>);

impl ConnInfo {
    /// Marks a call in progress until the guard is dropped.
    pub fn call(&self) -> CallGuard {
        self.state.calls.fetch_add(1, Ordering::SeqCst);
        CallGuard(self.state.clone())
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        // Set the time before the count reaches zero, so an idle check never sees an old time.
        let mut since = self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        *since = Instant::now();
        self.0.calls.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ConnState {
    /// When the connection will have been idle for `timeout`; `None` while a call is open.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        (self.calls.load(Ordering::SeqCst) == 0).then(|| since + timeout)
    }
}

/// The bytes of a connection: plain TCP, or TLS over it.
#[derive(Debug)]
enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Io {
    fn tcp(&self) -> &TcpStream {
        match self {
            Io::Plain(t) => t,
            Io::Tls(t) => t.get_ref().0,
        }
    }
}

macro_rules! on_io {
    ($io:expr, $s:ident => $e:expr) => {
        match $io {
            Io::Plain($s) => $e,
            Io::Tls($s) => $e,
        }
    };
}

/// An accepted connection: a TCP stream (or a TLS session over one) that fails its reads once
/// it has been idle too long, and that holds one of the connection slots until it is dropped.
#[derive(Debug)]
pub struct Conn {
    io: Io,
    info: ConnInfo,
    idle_timeout: Duration,
    timer: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    fn new(io: Io, slot: OwnedSemaphorePermit, idle_timeout: Duration) -> Self {
        let state = Arc::new(ConnState {
            calls: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        });
        let info = ConnInfo { remote: io.tcp().peer_addr().ok(), state };
        let timer = Box::pin(tokio::time::sleep(idle_timeout));
        Conn { io, info, idle_timeout, timer, _slot: slot }
    }

    /// Whether the connection has been idle too long, arming the timer for the next look.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            match self.info.state.idle_deadline(self.idle_timeout) {
                Some(deadline) if deadline <= now => return Poll::Ready(()),
                Some(deadline) => self.timer.as_mut().reset(deadline),
                None => self.timer.as_mut().reset(now + self.idle_timeout),
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match on_io!(&mut this.io, io => Pin::new(io).poll_read(cx, buf)) {
            Poll::Pending => match this.poll_idle(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    tracing::debug!(remote = ?this.info.remote, "closing an idle connection");
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle for too long",
                    )))
                }
            },
            ready => ready,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        on_io!(&mut self.get_mut().io, io => Pin::new(io).poll_write(cx, b))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        on_io!(&mut self.get_mut().io, io => Pin::new(io).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        on_io!(&self.io, io => io.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_io!(&mut self.get_mut().io, io => Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_io!(&mut self.get_mut().io, io => Pin::new(io).poll_shutdown(cx))
    }
}

impl Conn {
    /// The connection as request handlers see it.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.info.clone()
    }
}

/// Whether an accept error means the process or system ran out of something, so retrying at
/// once would fail again.
fn exhausted(e: &io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
        || e.kind() == io::ErrorKind::OutOfMemory
}

/// The next wait after an accept failed for lack of resources.
fn next_backoff(current: Duration) -> Duration {
    (current * 2).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Accepts connections from `listener` within `limits` until the returned stream is dropped.
pub fn incoming(listener: TcpListener, limits: ConnLimits) -> ReceiverStream<io::Result<Conn>> {
    incoming_with(listener, limits, None)
}

/// Like [`incoming`], and with `tls`, completes each connection's TLS handshake before
/// handing it on.
pub fn incoming_with(
    listener: TcpListener,
    limits: ConnLimits,
    tls: Option<TlsAcceptor>,
) -> ReceiverStream<io::Result<Conn>> {
    let cap = connection_cap(limits.max_connections, limits.fd_reserve, fd_limit());
    tracing::info!(
        max_connections = cap,
        idle_timeout_s = limits.idle_timeout.as_secs_f64(),
        "accepting connections"
    );
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(accept_loop(listener, cap, limits.idle_timeout, tls, tx));
    ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: TcpListener,
    cap: usize,
    idle_timeout: Duration,
    tls: Option<TlsAcceptor>,
    tx: mpsc::Sender<io::Result<Conn>>,
) {
    let slots = Arc::new(Semaphore::new(cap));
    let mut backoff = Duration::ZERO;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                tracing::warn!(
                    max_connections = cap,
                    "connection limit reached: new connections wait"
                );
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("never closed"),
                    _ = tx.closed() => return,
                }
            }
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tx.closed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                let _ = stream.set_nodelay(true);
                let Some(tls) = &tls else {
                    if tx.send(Ok(Conn::new(Io::Plain(stream), slot, idle_timeout))).await.is_err()
                    {
                        return;
                    }
                    continue;
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    let peer = stream.peer_addr().ok();
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let conn = Conn::new(Io::Tls(Box::new(s)), slot, idle_timeout);
                            let _ = tx.send(Ok(conn)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(?peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(?peer, "TLS handshake timed out"),
                    }
                });
            }
            Err(e) if exhausted(&e) => {
                backoff = next_backoff(backoff);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "accepting a connection failed for lack of resources; backing off");
                tokio::time::sleep(backoff).await;
            }
            // The peer gave up before we accepted (ECONNABORTED and the like): go on.
            Err(e) => tracing::debug!(error = %e, "accepting a connection failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_reserve() {
        assert_eq!(connection_cap(4096, 256, None), 4096);
        assert_eq!(connection_cap(4096, 256, Some(1024)), 1024 - 256 - 16);
        assert_eq!(connection_cap(100, 256, Some(1024)), 100);
        assert_eq!(connection_cap(4096, 256, Some(200)), 1);
        assert_eq!(connection_cap(4096, 0, Some(u64::MAX)), 4096);
    }

    #[test]
    fn backoff_doubles_to_a_second() {
        let mut d = Duration::ZERO;
        let mut seen = vec![];
        for _ in 0..10 {
            d = next_backoff(d);
            seen.push(d.as_millis());
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
    }

    #[test]
    fn resource_errors_are_told_apart() {
        assert!(exhausted(&io::Error::from_raw_os_error(24)));
        assert!(exhausted(&io::Error::from_raw_os_error(23)));
        assert!(!exhausted(&io::Error::from_raw_os_error(103))); // ECONNABORTED
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_calls_times_out_and_one_with_a_call_does_not() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits =
            ConnLimits { max_connections: 4, fd_reserve: 0, idle_timeout: Duration::from_secs(30) };
        let mut accepted = incoming(listener, limits);
        use tokio::io::AsyncReadExt;
        use tokio_stream::StreamExt;
        let _busy_client = TcpStream::connect(addr).await.unwrap();
        let mut busy = accepted.next().await.unwrap().unwrap();
        let _idle_client = TcpStream::connect(addr).await.unwrap();
        let mut idle = accepted.next().await.unwrap().unwrap();
        let call = busy.info.call();
        let mut buf = [0u8; 8];
        let e = idle.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // The busy one is still open after far longer; once its call ends, it times out too.
        let read = tokio::time::timeout(Duration::from_secs(300), busy.read(&mut buf)).await;
        assert!(read.is_err(), "a connection with a call open was closed: {read:?}");
        drop(call);
        let started = Instant::now();
        let e = busy.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn past_the_cap_connections_wait_for_a_slot() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits =
            ConnLimits { max_connections: 2, fd_reserve: 0, idle_timeout: Duration::from_secs(60) };
        let mut accepted = incoming(listener, limits);
        use tokio_stream::StreamExt;
        let clients = connect(addr, 3).await;
        let first = accepted.next().await.unwrap().unwrap();
        let _second = accepted.next().await.unwrap().unwrap();
        // The third is connected (the kernel's backlog) but not accepted while two are open.
        let third = tokio::time::timeout(Duration::from_millis(200), accepted.next()).await;
        assert!(third.is_err(), "a third connection was accepted past a cap of 2");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(10), accepted.next()).await;
        assert!(matches!(third, Ok(Some(Ok(_)))), "the freed slot was not reused");
        drop(clients);
    }

    async fn connect(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
        let mut out = vec![];
        for _ in 0..n {
            out.push(TcpStream::connect(addr).await.unwrap());
        }
        out
    }
}
