//! `logsight serve`: the gRPC API and the CloudWatch-compatible HTTP API over a data
//! directory, sharing one service, access control and audit trail.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use figment::providers::{Env, Format, Json, Serialized};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use logsight_server::ServerOptions;
use serde::{Deserialize, Serialize};

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
    /// "filter_scan_time_ms", "block_cache_mib" (default 256; 0: off)}, the modes of data files and directories in octal, "file_mode"
    /// (default "0600") and "dir_mode" (default "0700"), and "tls_cert": "FILE",
    /// "tls_key": "FILE". Environment variables LOGSIGHT_SERVE_<KEY> (e.g.
    /// LOGSIGHT_SERVE_MAX_CONNECTIONS=64) override the file, and flags override both.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The prefix of the environment variables that set config keys.
const ENV_PREFIX: &str = "LOGSIGHT_SERVE_";

/// The config keys; every one is optional. An unknown key, in the file or the environment, is
/// an error naming it.
#[derive(Debug, Default, Deserialize, PartialEq)]
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
    block_cache_mib: Option<u64>,
    file_mode: Option<String>,
    dir_mode: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

/// The keys flags can set, as a figment layer: only the flags given.
#[derive(Serialize)]
struct Flags<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<&'a PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_listen: Option<&'a String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<&'a PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cert: Option<&'a PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_key: Option<&'a PathBuf>,
}

/// The `LOGSIGHT_SERVE_*` variables as config keys, their values kept as text: figment's
/// `Env` would read `0750` as the number 750, which a mode or an address must not become.
/// Numbers are read from the text when the config is extracted (lossily).
struct EnvText(Env);

impl Provider for EnvText {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> std::result::Result<Map<Profile, Dict>, figment::Error> {
        let dict = self.0.iter().map(|(k, v)| (k.as_str().to_owned(), Value::from(v))).collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// The config from its sources, later ones winning: the file (`--config`), the
/// `LOGSIGHT_SERVE_*` environment variables, then the flags.
fn load_config(args: &ServeArgs) -> Result<Config> {
    let mut figment = Figment::new();
    if let Some(path) = &args.config {
        // Read here rather than by figment, which skips a missing file silently.
        std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        figment = figment.merge(Json::file_exact(path));
    }
    let flags = Flags {
        data_dir: args.data_dir.as_ref(),
        listen: args.listen.as_ref(),
        http_listen: args.http_listen.as_ref(),
        auth: args.auth.as_ref(),
        tls_cert: args.tls_cert.as_ref(),
        tls_key: args.tls_key.as_ref(),
    };
    let figment =
        figment.merge(EnvText(Env::prefixed(ENV_PREFIX))).merge(Serialized::defaults(flags));
    let file = args.config.as_ref().map(|p| format!(" (config {})", p.display()));
    // Lossy: a number may come as text (from the environment); text stays text.
    figment.extract_lossy().map_err(|e| {
        anyhow::anyhow!("invalid serve configuration{}: {e}", file.unwrap_or_default())
    })
}

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let config = load_config(&args)?;
    let data_dir = config.data_dir.clone().unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let listen = config.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into());
    let http_listen = config.http_listen.clone().unwrap_or_else(|| DEFAULT_HTTP_LISTEN.into());
    let mut opts = ServerOptions { audit: true, ..ServerOptions::default() };
    if let Some(path) = &config.auth {
        let principals = logsight_auth::Principals::load(path)?;
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
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            opts.tls = Some(logsight_server::tls::TlsConfig::from_pem_files(cert, key)?);
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
    if let Some(mib) = config.block_cache_mib {
        opts.queries.block_cache_bytes =
            mib.checked_mul(1 << 20).context("block_cache_mib is too large")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    fn args(config: Option<&str>, listen: Option<&str>) -> ServeArgs {
        ServeArgs {
            data_dir: None,
            listen: listen.map(str::to_owned),
            http_listen: None,
            auth: None,
            insecure_no_auth: false,
            tls_cert: None,
            tls_key: None,
            config: config.map(PathBuf::from),
        }
    }

    /// Runs `f` with the environment and working directory isolated (figment's jail); `f`'s
    /// error message fails the test.
    #[allow(clippy::result_large_err)] // figment's Jail takes closures returning its own error
    fn jailed(f: impl FnOnce(&mut Jail) -> Result<()>) {
        Jail::expect_with(|jail| f(jail).map_err(|e| format!("{e:#}").into()));
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        jailed(|jail| {
            jail.create_file(
                "serve.json",
                r#"{"listen": "127.0.0.1:1", "data_dir": "from-file", "max_connections": 10,
                    "file_mode": "0640", "http_listen": "127.0.0.1:2"}"#,
            )?;
            jail.set_env("LOGSIGHT_SERVE_LISTEN", "127.0.0.1:3");
            jail.set_env("LOGSIGHT_SERVE_MAX_CONNECTIONS", "20");
            jail.set_env("LOGSIGHT_SERVE_DIR_MODE", "0750");
            // Other LOGSIGHT_ variables (the client's) are not config keys.
            jail.set_env("LOGSIGHT_ENDPOINT", "http://127.0.0.1:9");
            let c = load_config(&args(Some("serve.json"), Some("127.0.0.1:4")))?;
            assert_eq!(c.listen.as_deref(), Some("127.0.0.1:4"), "flag");
            assert_eq!(c.max_connections, Some(20), "environment over file");
            assert_eq!(c.dir_mode.as_deref(), Some("0750"), "environment, a string kept whole");
            assert_eq!(c.data_dir, Some(PathBuf::from("from-file")), "file");
            assert_eq!(c.file_mode.as_deref(), Some("0640"), "file");
            assert_eq!(c.http_listen.as_deref(), Some("127.0.0.1:2"), "file");
            assert_eq!(c.request_timeout_ms, None, "unset");
            let c = load_config(&args(Some("serve.json"), None))?;
            assert_eq!(c.listen.as_deref(), Some("127.0.0.1:3"), "environment over file");
            Ok(())
        });
    }

    #[test]
    fn nothing_given_is_every_default() {
        jailed(|_| {
            assert_eq!(load_config(&args(None, None))?, Config::default());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        jailed(|jail| {
            jail.create_file("typo.json", r#"{"max_conections": 5}"#)?;
            let e = format!("{:#}", load_config(&args(Some("typo.json"), None)).unwrap_err());
            assert!(e.contains("max_conections") && e.contains("typo.json"), "{e}");
            jail.create_file("bad.json", r#"{"max_connections": "many"}"#)?;
            let e = format!("{:#}", load_config(&args(Some("bad.json"), None)).unwrap_err());
            assert!(e.contains("max_connections") && e.contains("bad.json"), "{e}");
            jail.create_file("broken.json", r#"{"listen": "#)?;
            let e = format!("{:#}", load_config(&args(Some("broken.json"), None)).unwrap_err());
            assert!(e.contains("broken.json"), "{e}");
            let e = format!("{:#}", load_config(&args(Some("missing.json"), None)).unwrap_err());
            assert!(e.contains("reading config missing.json"), "{e}");
            jail.set_env("LOGSIGHT_SERVE_LISTN", "127.0.0.1:1");
            let e = format!("{:#}", load_config(&args(None, None)).unwrap_err());
            assert!(e.contains("listn"), "{e}");
            Ok(())
        });
    }
}
