//! `logsight query`: check a Logs Insights query offline (`--check`), run it on a server
//! (`--endpoint`, the default: the Queries API's RunQuery stream), or run it in-process on a
//! data directory with the query engine (`--data-dir`). Both runs print the same formats and
//! exit with the same codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, EngineError, QueryRequest};
use logsight_query_lang::insights;

use crate::client::{DEFAULT_ENDPOINT, ENDPOINT_ENV};
use crate::common::{now_ms, open_store, parse_time_arg};

/// Exit code for a malformed query, as `rg` and compilers use for bad input.
pub const EXIT_MALFORMED: u8 = 2;

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// A JSON array of objects, field name to string value, in the query's field order.
    Json,
    /// CSV with a header row.
    Csv,
}

/// Check or run a Logs Insights query.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Only check the query, without a server: print its canonical form and exit 0, or print
    /// the error with a caret under it and exit 2.
    #[arg(long)]
    pub check: bool,
    /// Run the query in-process on this data directory (no server).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Run the query on this server (http://HOST:PORT or HOST:PORT); the default unless
    /// --data-dir is given.
    #[arg(long, env = ENDPOINT_ENV)]
    pub endpoint: Option<String>,
    /// Log group to query (repeatable; 1 to 50), unless the query starts with SOURCE.
    #[arg(long)]
    pub group: Vec<String>,
    /// Start of the range, inclusive: RFC 3339, epoch ms, or relative (-15m); default -1h.
    #[arg(long, value_parser = parse_time_arg)]
    pub start: Option<i64>,
    /// End of the range, inclusive; default now.
    #[arg(long, value_parser = parse_time_arg)]
    pub end: Option<i64>,
    /// Rows returned at most (1 to 100,000); default the query's limit, else 10,000.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output format: table by default (the REPL on piped stdin: json).
    #[arg(long, value_enum)]
    pub output: Option<Output>,
    /// Print the plan instead of running the query (with --data-dir).
    #[arg(long)]
    pub explain: bool,
    /// The history file of the REPL (opened when no query is given).
    #[arg(long, env = crate::repl::HISTORY_ENV, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// The query, e.g. 'fields @timestamp, @message | sort @timestamp desc | limit 20'.
    /// Without it, the interactive REPL opens (`logsight repl`), or on piped stdin each query
    /// read from it runs in turn.
    pub query: Option<String>,
}

/// Runs `logsight query`.
pub fn run(args: QueryArgs) -> Result<ExitCode> {
    let Some(query) = args.query.clone() else {
        if args.check || args.explain || args.limit.is_some() {
            bail!("--check, --explain and --limit need a query");
        }
        return crate::repl::run(crate::repl::ReplArgs::from_query(args));
    };
    if args.check {
        return check(&query);
    }
    let Some(dir) = &args.data_dir else {
        if args.explain {
            bail!("--explain reads the store's layout: give --data-dir DIR");
        }
        let endpoint = args.endpoint.clone().unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        return crate::cmd_queries::run_remote(&args, &query, &endpoint);
    };
    let store = Arc::new(open_store(dir, false)?);
    let source = DataSource::new(store);
    let engine = Engine::new(EngineConfig::default());
    let end = args.end.unwrap_or_else(now_ms);
    let req = QueryRequest {
        query: query.clone(),
        groups: args.group.clone(),
        start_ms: args.start.unwrap_or(end - 3_600_000),
        end_ms: end,
        limit: args.limit,
    };
    if args.explain {
        return match engine.explain(&source, &req) {
            Ok(text) => {
                println!("{text}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => failed(&e, &query),
        };
    }
    let started = std::time::Instant::now();
    let result = match engine.run(&source, &req, &CancelToken::new()) {
        Ok(r) => r,
        Err(e) => return failed(&e, &query),
    };
    let stats = Stats::from(result.statistics);
    print_results(
        args.output.unwrap_or(Output::Table),
        &result.columns,
        &result.rows,
        &stats,
        started,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A query's counters, as both runs report them on stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Records that passed the filters.
    pub matched: u64,
    /// Records in the range of the scanned groups.
    pub scanned: u64,
    /// Message bytes scanned.
    pub bytes: u64,
    /// Log groups scanned.
    pub groups: u64,
    /// Records in blocks the full-text index ruled out.
    pub skipped: u64,
}

impl From<logsight_engine::Statistics> for Stats {
    fn from(s: logsight_engine::Statistics) -> Stats {
        Stats {
            matched: s.records_matched,
            scanned: s.records_scanned,
            bytes: s.bytes_scanned,
            groups: s.log_groups_scanned,
            skipped: s.estimated_records_skipped,
        }
    }
}

impl From<&logsight_proto::v1::QueryStatistics> for Stats {
    fn from(s: &logsight_proto::v1::QueryStatistics) -> Stats {
        Stats {
            matched: s.records_matched as u64,
            scanned: s.records_scanned as u64,
            bytes: s.bytes_scanned as u64,
            groups: s.log_groups_scanned as u64,
            skipped: s.estimated_records_skipped as u64,
        }
    }
}

/// Prints rows in `output`'s format on stdout and the statistics on stderr.
pub fn print_results(
    output: Output,
    columns: &[String],
    rows: &[Vec<Option<String>>],
    s: &Stats,
    started: std::time::Instant,
) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match output {
        Output::Table => print_table(&mut out, columns, rows)?,
        Output::Json => print_json(&mut out, columns, rows)?,
        Output::Csv => print_csv(&mut out, columns, rows)?,
    }
    out.flush().context("writing results")?;
    let skipped = if s.skipped > 0 {
        format!(", ~{} skipped by the index", s.skipped)
    } else {
        String::new()
    };
    eprintln!(
        "{} rows; {} records matched, {} scanned{skipped}, {} bytes scanned, {} log groups, {:.3} s",
        rows.len(),
        s.matched,
        s.scanned,
        s.bytes,
        s.groups,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn check(query: &str) -> Result<ExitCode> {
    match insights::parse(query) {
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
            eprint!("{}", err.render(query));
            Ok(ExitCode::from(EXIT_MALFORMED))
        }
    }
}

fn failed(e: &EngineError, query: &str) -> Result<ExitCode> {
    if e.query_error().is_some() {
        eprint!("{}", e.render(query));
        return Ok(ExitCode::from(EXIT_MALFORMED));
    }
    Err(anyhow::anyhow!("{e}"))
}

fn print_table(
    out: &mut impl Write,
    columns: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<()> {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            let len = cell.as_deref().map_or(0, |c| one_line(c).chars().count());
            *w = (*w).max(len.min(120));
        }
    }
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> =
            cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join(" | ").trim_end().to_string()
    };
    writeln!(out, "{}", line(columns.to_vec()))?;
    writeln!(out, "{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-+-"))?;
    for row in rows {
        let cells = row.iter().map(|c| c.as_deref().map(one_line).unwrap_or_default()).collect();
        writeln!(out, "{}", line(cells))?;
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// Objects are written by hand so that keys keep the query's field order.
pub fn print_json(
    out: &mut impl Write,
    columns: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<()> {
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    writeln!(out, "[")?;
    for (i, row) in rows.iter().enumerate() {
        let pairs: Vec<String> = columns
            .iter()
            .zip(row)
            .filter_map(|(c, v)| v.as_deref().map(|v| format!("{}: {}", quote(c), quote(v))))
            .collect();
        let comma = if i + 1 < rows.len() { "," } else { "" };
        writeln!(out, "  {{{}}}{comma}", pairs.join(", "))?;
    }
    writeln!(out, "]")?;
    Ok(())
}

/// CSV with a header row; a cell with a comma, quote or line break is quoted.
pub fn print_csv(
    out: &mut impl Write,
    columns: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<()> {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    writeln!(out, "{}", columns.iter().map(|c| field(c)).collect::<Vec<_>>().join(","))?;
    for row in rows {
        let cells: Vec<String> =
            row.iter().map(|c| c.as_deref().map(field).unwrap_or_default()).collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}
