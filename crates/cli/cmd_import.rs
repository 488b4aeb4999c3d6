//! `logsight import`: files or stdin into a data directory, without a server.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use logsight_model::limits::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{StorageError, Store};

use crate::common::{DEFAULT_DATA_DIR, count, human_bytes, now_ms, open_store};
use crate::lines::{InputArgs, open_inputs, total_size};
use crate::print::progress;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Data directory of the store (created if missing).
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    /// Abort on the first malformed line instead of reporting and skipping it.
    #[arg(long)]
    strict: bool,
}

/// Events waiting to be appended, per (group, stream), flushed at the PutLogEvents limits.
#[derive(Default)]
struct Batches {
    pending: BTreeMap<(String, String), (Vec<LogEvent>, usize)>,
    known: BTreeSet<(String, String)>,
    groups: BTreeSet<String>,
    events: u64,
    bytes: u64,
}

impl Batches {
    fn push(&mut self, store: &Store, group: &str, stream: &str, event: LogEvent) -> Result<()> {
        let key = (group.to_owned(), stream.to_owned());
        if !self.known.contains(&key) {
            ensure_stream(store, group, stream)?;
            self.groups.insert(key.0.clone());
            self.known.insert(key.clone());
        }
        let (batch, bytes) = self.pending.entry(key).or_default();
        *bytes += event.message().len() + logsight_model::limits::EVENT_OVERHEAD_BYTES;
        batch.push(event);
        if batch.len() >= MAX_BATCH_EVENTS || *bytes >= MAX_BATCH_BYTES {
            self.flush_one(store, group, stream)?;
        }
        Ok(())
    }

    fn flush_one(&mut self, store: &Store, group: &str, stream: &str) -> Result<()> {
        if let Some((batch, _)) = self.pending.remove(&(group.to_owned(), stream.to_owned())) {
            store.append(group, stream, &batch)?;
            self.events += batch.len() as u64;
            self.bytes += batch.iter().map(|e| e.message().len() as u64).sum::<u64>();
        }
        Ok(())
    }

    fn flush_all(&mut self, store: &Store) -> Result<()> {
        for (group, stream) in self.pending.keys().cloned().collect::<Vec<_>>() {
            self.flush_one(store, &group, &stream)?;
        }
        Ok(())
    }
}

/// Creates the group and stream if they do not exist yet.
fn ensure_stream(store: &Store, group: &str, stream: &str) -> Result<()> {
    let g = LogGroupName::new(group)?;
    let s = LogStreamName::new(stream)?;
    match store.create_group(&g) {
        Ok(()) | Err(StorageError::GroupExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match store.create_stream(&g, &s) {
        Ok(()) | Err(StorageError::StreamExists { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub fn run(args: ImportArgs) -> Result<ExitCode> {
    args.input.validate()?;
    let mut inputs = open_inputs(&args.input.files, args.strict)?;
    let ingestion = now_ms();
    let text_ts = args.input.timestamp.unwrap_or(ingestion);
    if args.strict {
        // Check every line before touching the store, so a bad line changes nothing.
        args.input.for_each_event(&mut inputs, text_ts, ingestion, |at, parsed| {
            parsed.map(drop).map_err(|why| {
                anyhow::anyhow!("{}:{}: {why} (nothing imported: --strict)", at.label, at.lineno)
            })
        })?;
        inputs = open_inputs(&args.input.files, true)?;
    }
    let store = open_store(&args.data_dir, true)?;
    let started = Instant::now();
    let progress = progress(total_size(&inputs));
    let mut batches = Batches::default();
    let (mut skipped, mut lossy, mut undated) = (0u64, 0u64, 0u64);
    const SHOWN_ERRORS: u64 = 20;
    args.input.for_each_event(&mut inputs, text_ts, ingestion, |at, parsed| {
        match parsed {
            Ok(Some(p)) => {
                lossy += u64::from(p.replaced_invalid_utf8);
                undated += u64::from(at.undated);
                batches.push(&store, &p.group, &p.stream, p.event)?;
            }
            Ok(None) => {}
            Err(why) => {
                skipped += 1;
                if skipped <= SHOWN_ERRORS {
                    let line = format!("{}:{}: skipped: {why}", at.label, at.lineno);
                    match &progress {
                        Some(bar) => bar.println(line),
                        None => eprintln!("{line}"),
                    }
                }
            }
        }
        if let Some(bar) = &progress
            && at.lineno % 1024 == 0
        {
            bar.set_position(at.bytes_done);
        }
        Ok(())
    })?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    batches.flush_all(&store)?;
    store.flush().context("sealing imported events")?;
    if skipped > SHOWN_ERRORS {
        eprintln!("... and {} more skipped lines", skipped - SHOWN_ERRORS);
    }
    let secs = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "imported {} ({}) into {} of {} in {:.2}s ({:.0} events/s); skipped {}",
        count(batches.events, "event"),
        human_bytes(batches.bytes),
        count(batches.known.len() as u64, "stream"),
        count(batches.groups.len() as u64, "group"),
        secs,
        batches.events as f64 / secs.max(1e-9),
        count(skipped, "malformed line"),
    )?;
    if lossy > 0 {
        write!(out, "; {} not valid UTF-8, kept with U+FFFD", count(lossy, "line"))?;
    }
    if undated > 0 {
        write!(out, "; {} without a timestamp took the one before", count(undated, "line"))?;
    }
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
