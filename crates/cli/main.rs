//! The `logsight` command: offline tools over a data directory today; the server and its
//! clients join as they are built. Every subcommand lives in its own module with a clap
//! `Args` struct and a `run` function; this file only parses and dispatches. This binary is
//! the only place `anyhow` is used.

mod client;
mod cmd_events;
mod cmd_export;
mod cmd_groups;
mod cmd_import;
mod cmd_ingest;
mod cmd_inspect;
mod cmd_query;
mod cmd_serve;
mod cmd_streams;
mod cmd_tail;
mod cmd_test_pattern;
mod common;
mod lines;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// logsight: a self-hosted log store and query engine with CloudWatch Logs semantics.
#[derive(Debug, Parser)]
#[command(name = "logsight", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import log files into a data directory (no server needed).
    Import(cmd_import::ImportArgs),
    /// Export a log group's events as JSON lines, in timestamp order.
    Export(cmd_export::ExportArgs),
    /// Show groups, streams, event counts, stored bytes and compression.
    Inspect(cmd_inspect::InspectArgs),
    /// Check a Logs Insights query (`--check`): print its canonical form or a precise error.
    Query(cmd_query::QueryArgs),
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
    /// Follow new events of log groups (a live tail session) until Ctrl-C.
    Tail(cmd_tail::TailArgs),
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
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOGSIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Import(args) => cmd_import::run(args),
        Command::Export(args) => cmd_export::run(args),
        Command::Inspect(args) => cmd_inspect::run(args),
        Command::Query(args) => cmd_query::run(args),
        Command::TestPattern(args) => cmd_test_pattern::run(args),
        Command::Serve(args) => cmd_serve::run(args),
        Command::Groups(args) => cmd_groups::run(args),
        Command::Streams(args) => cmd_streams::run(args),
        Command::Ingest(args) => cmd_ingest::run(args),
        Command::Events(args) => cmd_events::run(args),
        Command::Tail(args) => cmd_tail::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Catches clashing flag names and other definition mistakes in every subcommand.
    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
