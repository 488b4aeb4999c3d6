//! The `logsight` command: offline tools over a data directory today; the server and its
//! clients join as they are built. Every subcommand lives in its own module with a clap
//! `Args` struct and a `run` function; this file only parses and dispatches. This binary is
//! the only place `anyhow` is used.

mod client;
mod cmd_alarms;
mod cmd_compact;
mod cmd_completions;
mod cmd_events;
mod cmd_export;
mod cmd_groups;
mod cmd_import;
mod cmd_ingest;
mod cmd_inspect;
mod cmd_metric_filters;
mod cmd_metrics;
mod cmd_queries;
mod cmd_query;
mod cmd_reindex;
mod cmd_repair;
mod cmd_serve;
mod cmd_streams;
mod cmd_tail;
mod cmd_test_pattern;
mod cmd_verify;
mod common;
mod lines;
mod print;
mod repl;
mod signing;

use std::process::ExitCode;

use std::io::IsTerminal;

use clap::{CommandFactory, Parser, Subcommand};

/// logsight: a self-hosted log store and query engine with CloudWatch Logs semantics.
#[derive(Debug, Parser)]
#[command(name = "logsight", version, about, long_about = None)]
struct Cli {
    /// PEM file of a CA certificate to trust for https:// endpoints (a self-signed server's),
    /// besides the system's.
    #[arg(long, global = true, env = client::CA_CERT_ENV, value_name = "FILE")]
    ca_cert: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import log files into a data directory (no server needed).
    Import(cmd_import::ImportArgs),
    /// Export a log group's events as JSON lines, in timestamp order.
    Export(cmd_export::ExportArgs),
    /// Merge a data directory's segments to completion (offline; the server merges in the
    /// background on its own).
    Compact(cmd_compact::CompactArgs),
    /// Drop and rebuild every full-text index artifact (offline; the server builds missing
    /// ones in the background on its own).
    Reindex(cmd_reindex::ReindexArgs),
    /// Show groups, streams, event counts, stored bytes and compression.
    Inspect(cmd_inspect::InspectArgs),
    /// Check every checksum of a data directory (offline); exits 2 if anything is damaged.
    Verify(cmd_verify::VerifyArgs),
    /// Rebuild a missing or damaged catalog.json from the segments (offline).
    Repair(cmd_repair::RepairArgs),
    /// Run a Logs Insights query on a server or a data directory, or check one (`--check`).
    Query(cmd_query::QueryArgs),
    /// An interactive query console: line editing, history, completion, charts; Ctrl-C
    /// stops a query. With piped stdin, runs each query read from it.
    Repl(repl::ReplArgs),
    /// List and stop a server's queries; put, list and delete saved queries.
    Queries(cmd_queries::QueriesArgs),
    /// Test a filter pattern against log lines, like TestMetricFilter.
    TestPattern(cmd_test_pattern::TestPatternArgs),
    /// Run the gRPC server over a data directory until SIGINT/SIGTERM.
    Serve(cmd_serve::ServeArgs),
    /// Create, list and delete log groups; set retention (over the API).
    Groups(cmd_groups::GroupsArgs),
    /// Create, list and delete log streams (over the API).
    Streams(cmd_streams::StreamsArgs),
    /// Ship files or stdin to a server, optionally following a growing file.
    Ingest(cmd_ingest::IngestArgs),
    /// Read a stream's events or search a group's (over the API).
    Events(cmd_events::EventsArgs),
    /// Follow new events of log groups (a live tail session) until Ctrl-C; `--since 1h` shows
    /// recent history first.
    Tail(cmd_tail::TailArgs),
    /// Put, list, delete and test metric filters (over the API).
    MetricFilters(cmd_metric_filters::MetricFiltersArgs),
    /// List, get and put metrics (over the API).
    Metrics(cmd_metrics::MetricsArgs),
    /// Put, list, delete alarms; history, set-state, enable/disable actions (over the API).
    Alarms(cmd_alarms::AlarmsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd_completions::CompletionsArgs),
    /// Print the man page (roff) of logsight and its subcommands.
    Man(cmd_completions::ManArgs),
}

/// glibc's malloc gives each thread that allocates under contention its own arena and keeps
/// what those arenas free: under sustained ingest (a blocking thread per storage call) the
/// server's anonymous memory settled near 285 MiB with glibc, and stayed within 90-146 MiB with
/// jemalloc, which returns what its arenas free after a short decay (docs/benchmarks.md,
/// "Server memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs its lifecycle at info; other commands stay quiet unless asked.
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("LOGSIGHT_LOG").ok().as_deref(), default_level))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    client::trust_ca_cert(cli.ca_cert);
    let result = match cli.command {
        Command::Import(args) => cmd_import::run(args),
        Command::Export(args) => cmd_export::run(args),
        Command::Compact(args) => cmd_compact::run(args),
        Command::Reindex(args) => cmd_reindex::run(args),
        Command::Inspect(args) => cmd_inspect::run(args),
        Command::Verify(args) => cmd_verify::run(args),
        Command::Repair(args) => cmd_repair::run(args),
        Command::Query(args) => cmd_query::run(args),
        Command::Repl(args) => repl::run(args),
        Command::Queries(args) => cmd_queries::run(args),
        Command::TestPattern(args) => cmd_test_pattern::run(args),
        Command::Serve(args) => cmd_serve::run(args),
        Command::Groups(args) => cmd_groups::run(args),
        Command::Streams(args) => cmd_streams::run(args),
        Command::Ingest(args) => cmd_ingest::run(args),
        Command::Events(args) => cmd_events::run(args),
        Command::Tail(args) => cmd_tail::run(args),
        Command::MetricFilters(args) => cmd_metric_filters::run(args),
        Command::Metrics(args) => cmd_metrics::run(args),
        Command::Alarms(args) => cmd_alarms::run(args),
        Command::Completions(args) => cmd_completions::completions(args, Cli::command()),
        Command::Man(args) => cmd_completions::man(args, Cli::command()),
    };
    match result {
        Ok(code) => code,
        // `| head` closed the pipe: stop quietly, as Unix tools do.
        Err(e) if common::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The HTTP/2 and gRPC plumbing logs every frame at debug: these keep it at `warn` unless
/// `LOGSIGHT_LOG` names the crate itself (`LOGSIGHT_LOG=debug,h2=trace`).
const QUIET_DEPENDENCIES: [&str; 5] = ["h2", "hyper", "hyper_util", "tower", "tonic"];

/// The log filter: `LOGSIGHT_LOG` if set and valid, else `default_level`, with the
/// dependencies' chatter kept down.
fn log_filter(env: Option<&str>, default_level: &str) -> tracing_subscriber::EnvFilter {
    let spec = env.unwrap_or(default_level);
    let mut filter = tracing_subscriber::EnvFilter::try_new(spec).unwrap_or_else(|e| {
        eprintln!("warning: ignoring LOGSIGHT_LOG={spec:?}: {e}");
        tracing_subscriber::EnvFilter::new(default_level)
    });
    for dep in QUIET_DEPENDENCIES {
        let named =
            spec.split(',').any(|d| d.split('=').next().is_some_and(|t| t.starts_with(dep)));
        if !named && let Ok(d) = format!("{dep}=warn").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Catches clashing flag names and other definition mistakes in every subcommand.
    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn dependencies_stay_quiet_unless_named() {
        let f = super::log_filter(Some("debug"), "warn").to_string();
        assert!(f.contains("h2=warn") && f.contains("hyper=warn"), "{f}");
        let f = super::log_filter(Some("debug,h2=trace"), "warn").to_string();
        assert!(f.contains("h2=trace") && !f.contains("h2=warn"), "{f}");
    }
}
