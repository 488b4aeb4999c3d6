//! `logsight serve`: the gRPC server over a data directory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use logsight_server::ServerOptions;
use serde::Deserialize;

use crate::client::{DEFAULT_LISTEN, runtime};
use crate::common::{DEFAULT_DATA_DIR, open_store};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory of the store (created if missing). Default: ./logsight-data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on (HOST:PORT; port 0 picks a free port). Default: 127.0.0.1:7070.
    #[arg(long)]
    listen: Option<String>,
    /// JSON config file: {"data_dir": "...", "listen": "...", "max_inflight_bytes": N,
    /// "admission_wait_ms": N, "live_tail_update_interval_ms": N (default 1000),
    /// "live_tail_timeout_ms": N (default 3 h)}. Flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The config file's keys; every one is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    max_inflight_bytes: Option<usize>,
    admission_wait_ms: Option<u64>,
    live_tail_update_interval_ms: Option<u64>,
    live_tail_timeout_ms: Option<u64>,
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
    let data_dir = args.data_dir.or(config.data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let listen = args.listen.or(config.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
    let mut opts = ServerOptions::default();
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
    // Listen before opening the store: a taken port must leave no data directory behind.
    let listener =
        std::net::TcpListener::bind(&listen).with_context(|| format!("listening on {listen}"))?;
    listener.set_nonblocking(true)?;
    let store = Arc::new(open_store(&data_dir, true)?);
    let rt = runtime()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        // Tests and scripts read the bound address from this line.
        println!("listening on {addr}");
        tracing::info!(%addr, data_dir = %data_dir.display(), "logsight server started");
        logsight_server::run(listener, store, opts, shutdown_signal()).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
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
