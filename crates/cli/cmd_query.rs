//! `logsight query`: check a Logs Insights query offline, or run it (once the engine exists).

use std::process::ExitCode;

use anyhow::bail;
use logsight_query_lang::insights;

/// Exit code for a malformed query, as `rg` and compilers use for bad input.
const EXIT_MALFORMED: u8 = 2;

/// Check or run a Logs Insights query.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Only check the query, without a server: print its canonical form and exit 0, or print
    /// the error with a caret under it and exit 2.
    #[arg(long)]
    pub check: bool,
    /// The query, e.g. 'fields @timestamp, @message | sort @timestamp desc | limit 20'.
    pub query: String,
}

/// Runs `logsight query`.
pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    if !args.check {
        bail!(
            "running queries needs the query engine, which is not built yet; \
             use --check to check a query"
        );
    }
    match insights::parse(&args.query) {
        // Blank or only comments: nothing to run, which is never what was meant.
        Ok(query) if query.to_string().is_empty() => {
            eprintln!(
                "error: the query is empty: give at least one command, e.g. 'fields @message'"
            );
            Ok(ExitCode::from(EXIT_MALFORMED))
        }
        Ok(query) => {
            println!("{query}");
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprint!("{}", err.render(&args.query));
            Ok(ExitCode::from(EXIT_MALFORMED))
        }
    }
}
