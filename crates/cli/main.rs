//! The `logsight` command.

mod cmd_query;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A self-hosted CloudWatch Logs + Logs Insights.
#[derive(Parser)]
#[command(name = "logsight", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check or run a Logs Insights query.
    Query(cmd_query::QueryArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Cmd::Query(args) => cmd_query::run(args),
    }
}
