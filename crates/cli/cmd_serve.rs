//! `logsight serve`: the gRPC API and the CloudWatch-compatible HTTP API over a data
//! directory, sharing one service, access control and audit trail.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use logsight_server::ServerOptions;
use serde::Deserialize;

use crate::client::{DEFAULT_LISTEN, runtime};

/// The address of the HTTP API by default.
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:7071";
use crate::common::{DEFAULT_DATA_DIR, open_store_with, parse_mode};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory of the store (created if missing). Default: ./logsight-data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (HOST:PORT; port 0 picks a free port). Default: 127.0.0.1:7070.
    #[arg(long)]
    listen: Option<String>,
    /// Address of the CloudWatch Logs HTTP API (JSON 1.1, SigV4) and /metrics.
    /// Default: 127.0.0.1:7071.
    #[arg(long)]
    http_listen: Option<String>,
    /// JSON file of principals: [{"name", "access_key_id", "secret_access_key", "policy"}].
    /// Every call must then be signed (SigV4) by one of them and allowed by its policy.
    #[arg(long)]
    auth: Option<PathBuf>,
    /// Allow listening on a non-loopback address without --auth (anyone who can connect can
    /// read, write and delete every log group).
    #[arg(long)]
    insecure_no_auth: bool,
    /// PEM file of the server's TLS certificate chain (leaf first): both APIs then speak TLS
    /// only (clients use https://). Needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM file of the TLS certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// JSON config file: {"data_dir": "...", "listen": "...", "http_listen": "...",
    /// "auth": "FILE", "max_inflight_bytes": N,
    /// "admission_wait_ms": N, "live_tail_update_interval_ms": N (default 1000),
    /// "live_tail_timeout_ms": N (default 3 h), and the limits on clients (README, "Limits"):
    /// "max_concurrent_streams", "stream_window_bytes", "connection_window_bytes",
    /// "request_timeout_ms", "max_connections", "fd_reserve", "idle_timeout_ms",
    /// "filter_scan_time_ms"}, the modes of data files and directories in octal, "file_mode"
    /// (default "0600") and "dir_mode" (default "0700"), and "tls_cert": "FILE",
    /// "tls_key": "FILE". Flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The config file's keys; every one is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    http_listen: Option<String>,
    auth: Option<PathBuf>,
    max_inflight_bytes: Option<usize>,
    admission_wait_ms: Option<u64>,
    live_tail_update_interval_ms: Option<u64>,
    live_tail_timeout_ms: Option<u64>,
    max_concurrent_streams: Option<u32>,
    stream_window_bytes: Option<u32>,
    connection_window_bytes: Option<u32>,
    request_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    fd_reserve: Option<usize>,
    idle_timeout_ms: Option<u64>,
    filter_scan_time_ms: Option<u64>,
    file_mode: Option<String>,
    dir_mode: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let config: Config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("parsing config {}", path.display()))?
        }
        None => Config::default(),
    };
    let data_dir =
        args.data_dir.or(config.data_dir.clone()).unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let listen = args.listen.or(config.listen.clone()).unwrap_or_else(|| DEFAULT_LISTEN.into());
    let http_listen = args
        .http_listen
        .or(config.http_listen.clone())
        .unwrap_or_else(|| DEFAULT_HTTP_LISTEN.into());
    let mut opts = ServerOptions { audit: true, ..ServerOptions::default() };
    if let Some(path) = args.auth.or(config.auth.clone()) {
        let principals = logsight_auth::Principals::load(&path)?;
        anyhow::ensure!(!principals.is_empty(), "{} lists no principals", path.display());
        opts.principals = Some(principals);
    }
    if let Some(n) = config.max_inflight_bytes {
        opts.max_inflight_bytes = n;
    }
    if let Some(ms) = config.admission_wait_ms {
        opts.admission_wait = std::time::Duration::from_millis(ms);
    }
    if let Some(ms) = config.live_tail_update_interval_ms {
        anyhow::ensure!(ms > 0, "live_tail_update_interval_ms must be at least 1");
        opts.live_tail_update_interval = std::time::Duration::from_millis(ms);
    }
    if let Some(ms) = config.live_tail_timeout_ms {
        opts.live_tail_timeout = std::time::Duration::from_millis(ms);
    }
    apply_limits(&config, &mut opts)?;
    match (args.tls_cert.or(config.tls_cert.clone()), args.tls_key.or(config.tls_key.clone())) {
        (Some(cert), Some(key)) => {
            opts.tls = Some(logsight_server::tls::TlsConfig::from_pem_files(&cert, &key)?);
        }
        (None, None) => {}
        _ => anyhow::bail!("TLS needs both a certificate (tls_cert) and its key (tls_key)"),
    }
    // Listen before opening the store: a taken port must leave no data directory behind.
    let listener = bind(&listen, "gRPC")?;
    let http_listener = bind(&http_listen, "HTTP")?;
    let mut perms = logsight_storage::Perms::default();
    if let Some(m) = &config.file_mode {
        perms.file = parse_mode(m).context("config file_mode")?;
    }
    if let Some(m) = &config.dir_mode {
        perms.dir = parse_mode(m).context("config dir_mode")?;
    }
    let store = Arc::new(open_store_with(&data_dir, true, perms)?);
    let rt = runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let http_listener = tokio::net::TcpListener::from_std(http_listener)?;
        let (addr, http_addr) = (listener.local_addr()?, http_listener.local_addr()?);
        if opts.principals.is_none() && !args.insecure_no_auth {
            for a in [addr, http_addr] {
                anyhow::ensure!(
                    a.ip().is_loopback(),
                    "refusing to listen on {a} without --auth: anyone who can reach it could \
                     read, write and delete every log group. Give --auth FILE (principals and \
                     their policies), or --insecure-no-auth if every client on that network is \
                     trusted"
                );
            }
        }
        // Tests and scripts read the bound addresses from these lines. A reader may close
        // stdout after the first: that is no reason to stop.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "listening on {addr}");
        let _ = writeln!(out, "http listening on {http_addr}");
        let _ = out.flush();
        tracing::info!(%addr, %http_addr, data_dir = %data_dir.display(), auth = opts.principals.is_some(), "logsight server started");
        let shared = logsight_server::Shared::start(store, &opts)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let http_opts = logsight_http::HttpOptions::from_server(&opts);
        let (grpc, http) = tokio::join!(
            logsight_server::serve_grpc(listener, shared.clone(), &opts, stopped(stop_rx.clone())),
            logsight_http::serve_with(
                http_listener,
                shared.clone(),
                &http_opts,
                stopped(stop_rx)
            ),
        );
        let closed = shared.close().await;
        grpc?;
        http?;
        closed?;
        tracing::info!("server stopped; store flushed");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn bind(addr: &str, what: &str) -> Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)
        .with_context(|| format!("listening for the {what} API on {addr}"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The limits on clients from the config file, checked.
fn apply_limits(config: &Config, opts: &mut ServerOptions) -> Result<()> {
    use std::time::Duration;
    let ms = Duration::from_millis;
    if let Some(n) = config.max_concurrent_streams {
        anyhow::ensure!(n > 0, "max_concurrent_streams must be at least 1");
        opts.max_concurrent_streams = n;
    }
    // HTTP/2 allows windows from 65,535 bytes to 2^31 - 1.
    for (key, value, field) in [
        ("stream_window_bytes", config.stream_window_bytes, &mut opts.stream_window_bytes),
        (
            "connection_window_bytes",
            config.connection_window_bytes,
            &mut opts.connection_window_bytes,
        ),
    ] {
        if let Some(n) = value {
            anyhow::ensure!(
                (65_535..=i32::MAX as u32).contains(&n),
                "{key} must be 65535 to 2147483647 bytes, not {n}"
            );
            *field = n;
        }
    }
    if let Some(n) = config.request_timeout_ms {
        anyhow::ensure!(n > 0, "request_timeout_ms must be at least 1");
        opts.request_timeout = ms(n);
    }
    if let Some(n) = config.max_connections {
        anyhow::ensure!(n > 0, "max_connections must be at least 1");
        opts.max_connections = n;
    }
    if let Some(n) = config.fd_reserve {
        opts.fd_reserve = n;
    }
    if let Some(n) = config.idle_timeout_ms {
        anyhow::ensure!(n > 0, "idle_timeout_ms must be at least 1");
        opts.idle_timeout = ms(n);
    }
    if let Some(n) = config.filter_scan_time_ms {
        opts.filter_scan_time = ms(n);
    }
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
