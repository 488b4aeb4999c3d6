//! Helpers shared by the integration tests.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the `logsight` binary with `args`, feeding `stdin`.
pub fn logsight(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the logsight binary runs");
    // A command that fails early may exit before reading its input: that is not a test failure.
    match child.stdin.take().expect("piped").write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r.expect("stdin accepted"),
    }
    child.wait_with_output().expect("logsight finishes")
}

/// Like [`logsight`], asserting success and returning stdout.
pub fn logsight_ok(args: &[&str], stdin: &[u8]) -> String {
    let out = logsight(args, stdin);
    assert!(
        out.status.success(),
        "logsight {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The Loghub samples shipped beside the repository.
/// (`shared/datasets/loghub` in the nearest ancestor that has it, so worktrees nested deeper
/// than the main checkout find it too).
pub fn loghub_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        root.ancestors()
            .skip(1)
            .map(|a| a.join("shared/datasets/loghub"))
            .find(|p| p.is_dir())
            .unwrap_or_else(|| root.join("../shared/datasets/loghub"))
    })
}

/// A server running in-process on `127.0.0.1:0`, on its own runtime thread.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The data directory (kept alive with the server).
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with default options over a fresh data directory.
    pub fn start() -> TestServer {
        Self::start_with(logsight_server::ServerOptions::default())
    }

    /// Starts a server with `opts` over a fresh data directory.
    pub fn start_with(opts: logsight_server::ServerOptions) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let (endpoint, stop, thread) = Self::spawn(dir.path(), opts);
        TestServer { endpoint, dir, stop: Some(stop), thread: Some(thread) }
    }

    /// Shuts the server down gracefully and starts a new one (on a new port) over the same
    /// data directory.
    pub fn restart(&mut self) {
        self.shutdown();
        let (endpoint, stop, thread) =
            Self::spawn(self.dir.path(), logsight_server::ServerOptions::default());
        (self.endpoint, self.stop, self.thread) = (endpoint, Some(stop), Some(thread));
    }

    /// Like [`TestServer::restart`], with `opts`.
    pub fn restart_with(&mut self, opts: logsight_server::ServerOptions) {
        self.shutdown();
        let (endpoint, stop, thread) = Self::spawn(self.dir.path(), opts);
        (self.endpoint, self.stop, self.thread) = (endpoint, Some(stop), Some(thread));
    }

    fn spawn(
        dir: &Path,
        opts: logsight_server::ServerOptions,
    ) -> (String, tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>) {
        let store =
            std::sync::Arc::new(logsight_storage::Store::open(dir, Default::default()).unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                logsight_server::run(listener, store, opts, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        (format!("http://{addr}"), stop, thread)
    }

    /// Connects a client.
    pub async fn client(
        &self,
    ) -> logsight_proto::v1::logs_client::LogsClient<tonic::transport::Channel> {
        logsight_proto::v1::logs_client::LogsClient::connect(self.endpoint.clone()).await.unwrap()
    }

    /// Shuts the server down gracefully and waits for it (the store is flushed and closed).
    pub fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Every event of a stream, oldest first, read with GetLogEvents to the end.
/// Creates `group` and its `streams` through the API.
pub async fn create(
    c: &mut logsight_proto::v1::logs_client::LogsClient<tonic::transport::Channel>,
    group: &str,
    streams: &[&str],
) {
    use logsight_proto::v1 as pb;
    c.create_log_group(pb::CreateLogGroupRequest { log_group_name: group.into() }).await.unwrap();
    for s in streams {
        c.create_log_stream(pb::CreateLogStreamRequest {
            log_group_name: group.into(),
            log_stream_name: (*s).into(),
        })
        .await
        .unwrap();
    }
}

pub async fn read_all(
    c: &mut logsight_proto::v1::logs_client::LogsClient<tonic::transport::Channel>,
    group: &str,
    stream: &str,
) -> Vec<logsight_proto::v1::OutputLogEvent> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let r = c
            .get_log_events(logsight_proto::v1::GetLogEventsRequest {
                log_group_name: group.into(),
                log_stream_name: stream.into(),
                next_token: token.clone(),
                start_from_head: Some(true),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(r.events);
        if token.as_deref() == Some(r.next_forward_token.as_str()) {
            return out;
        }
        token = Some(r.next_forward_token);
    }
}

/// Now, epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A request body fed by the test, chunk by chunk; it stays open (stalled) while the sender
/// lives, as a slow or hostile client's does.
pub struct FedBody(pub tokio::sync::mpsc::Receiver<bytes::Bytes>);

impl http_body::Body for FedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(http_body::Frame::data(b))))
    }
}
