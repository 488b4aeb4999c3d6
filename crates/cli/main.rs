//! The `logsight` command: offline tools over a data directory today; the server and its
//! clients join as they are built. Every subcommand lives in its own module with a clap
//! `Args` struct and a `run` function; this file only parses and dispatches. This binary is
//! the only place `anyhow` is used.

mod cmd_export;
mod cmd_import;
mod cmd_inspect;
mod cmd_query;
mod cmd_test_pattern;
mod common;

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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOGSIGHT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(args) => cmd_import::run(args),
        Command::Export(args) => cmd_export::run(args),
        Command::Inspect(args) => cmd_inspect::run(args),
        Command::Query(args) => cmd_query::run(args),
        Command::TestPattern(args) => cmd_test_pattern::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
