//! `logsight export`: a group's events as JSON lines, in timestamp order.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use logsight_model::TimeRange;
use logsight_storage::ReadOptions;
use serde::Serialize;

use crate::common::{DEFAULT_DATA_DIR, check_window, open_store, parse_time_arg};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Data directory of the store.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Log group to export.
    #[arg(long)]
    group: String,
    /// Export only these streams (repeatable); default all.
    #[arg(long)]
    stream: Vec<String>,
    /// Start of the time range, inclusive: a duration ago (15m, 2h, 7d), a date (2026-11-26,
    /// "2026-11-26 08:00", UTC), RFC 3339, epoch ms, or now.
    #[arg(long, value_parser = parse_time_arg, allow_hyphen_values = true)]
    start: Option<i64>,
    /// End of the time range, exclusive; same forms as --start.
    #[arg(long, value_parser = parse_time_arg, allow_hyphen_values = true)]
    end: Option<i64>,
}

#[derive(Serialize)]
struct Line<'a> {
    group: &'a str,
    stream: &'a str,
    timestamp: i64,
    ingestion_time: i64,
    message: &'a str,
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    check_window(args.start, args.end)?;
    let store = open_store(&args.data_dir, false)?;
    store.group(&args.group)?;
    if !args.stream.is_empty() {
        let known: std::collections::HashSet<String> =
            store.streams(&args.group)?.into_iter().map(|s| s.name).collect();
        if let Some(missing) = args.stream.iter().find(|s| !known.contains(*s)) {
            anyhow::bail!("log stream {missing:?} does not exist in log group {:?}", args.group);
        }
    }
    let streams = (!args.stream.is_empty()).then_some(args.stream.as_slice());
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut opts =
        ReadOptions { range: TimeRange::new(args.start, args.end), ..Default::default() };
    loop {
        let page = store.read_group(&args.group, streams, &opts)?;
        for e in &page.events {
            let line = Line {
                group: &args.group,
                stream: &e.stream,
                timestamp: e.timestamp,
                ingestion_time: e.ingestion_time,
                message: &e.message,
            };
            let written = serde_json::to_writer(&mut out, &line)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            if let Err(e) = written {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(e.into());
            }
        }
        if !page.more {
            break;
        }
        opts.from = page.next;
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
