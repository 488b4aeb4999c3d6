//! The `logsight` command.

mod cmd_test_pattern;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// logsight: a self-hosted CloudWatch Logs + Logs Insights.
#[derive(Debug, Parser)]
#[command(name = "logsight", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Tests a filter pattern against log lines, like TestMetricFilter.
    TestPattern(cmd_test_pattern::TestPatternArgs),
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::TestPattern(args) => cmd_test_pattern::run(args),
    }
}
