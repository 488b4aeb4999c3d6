//! `logsight inspect`: what a data directory holds and how well it compresses.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::common::{DEFAULT_DATA_DIR, count, human_bytes, open_store, ratio, table, write_table};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// One JSON document for programs.
    Json,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Data directory of the store.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Show only this log group.
    #[arg(long)]
    group: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

pub fn run(args: InspectArgs) -> Result<ExitCode> {
    let store = open_store(&args.data_dir, false)?;
    let groups = match &args.group {
        Some(g) => vec![store.group(g)?],
        None => store.groups(),
    };
    let stats = store.stats();
    // Every block's checksum: a block damaged inside a whole segment shows here, not on open.
    let damaged_blocks = store.damaged_blocks();
    let (mut events, mut raw, mut stored, mut blocks) = (0u64, 0u64, 0u64, 0u64);
    let mut json_groups = Vec::new();
    let mut rows = Vec::new();
    for g in &groups {
        events += g.events;
        raw += g.raw_bytes;
        stored += g.stored_bytes;
        blocks += g.blocks;
        let streams = store.streams(&g.name)?;
        json_groups.push(json!({
            "name": g.name,
            "creation_time": g.creation_time,
            "retention_days": g.retention_days,
            "events": g.events,
            "raw_bytes": g.raw_bytes,
            "stored_bytes": g.stored_bytes,
            "compression_ratio": ratio(g.raw_bytes, g.stored_bytes),
            "segments": g.segments,
            "blocks": g.blocks,
            "streams": streams.iter().map(|s| json!({
                "name": s.name,
                "creation_time": s.creation_time,
                "first_event_timestamp": s.first_event_timestamp,
                "last_event_timestamp": s.last_event_timestamp,
                "last_ingestion_time": s.last_ingestion_time,
                "events": s.events,
                "raw_bytes": s.raw_bytes,
                "stored_bytes": s.stored_bytes,
                "compression_ratio": ratio(s.raw_bytes, s.stored_bytes),
                "blocks": s.blocks,
            })).collect::<Vec<_>>(),
        }));
        rows.push(row(&g.name, "", g.events, g.raw_bytes, g.stored_bytes, g.blocks));
        for s in &streams {
            rows.push(row("", &s.name, s.events, s.raw_bytes, s.stored_bytes, s.blocks));
        }
    }
    match args.output {
        Output::Json => {
            let doc = json!({
                "groups": json_groups,
                "totals": {
                    "events": events,
                    "raw_bytes": raw,
                    "stored_bytes": stored,
                    "compression_ratio": ratio(raw, stored),
                    "segments": stats.segments,
                    "blocks": blocks,
                    "wal_bytes": stats.wal_bytes,
                    "buffered_events": stats.buffered_events,
                },
                "damaged_segments": stats.damaged_segments,
                "damaged_blocks": damaged_blocks,
                "wal_losses": stats.wal_losses,
                "segments": store.segments().iter().map(|s| json!({
                    "id": s.id,
                    "bytes": s.bytes,
                    "blocks": s.blocks,
                    "events": s.events,
                    "min_timestamp": s.min_ts,
                    "max_timestamp": s.max_ts,
                    "partition_day": s.partition_day,
                    "format": s.format,
                })).collect::<Vec<_>>(),
            });
            writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Output::Table => {
            // Segments are shared by groups: one count for the store, not a column whose
            // per-group figures would not add up to the total.
            let mut t =
                table(&["GROUP", "STREAM", "EVENTS", "RAW", "STORED", "RATIO", "BLOCKS"], 2);
            rows.push(row("TOTAL", "", events, raw, stored, blocks));
            for r in rows {
                t.add_row(r);
            }
            let mut out = std::io::stdout().lock();
            write_table(&mut out, &t)?;
            let noun = if stats.segments == 1 { "segment file" } else { "segment files" };
            writeln!(
                out,
                "{} {noun} ({}) hold the sealed blocks of {}",
                stats.segments,
                human_bytes(stats.segment_bytes),
                count(groups.len() as u64, "group")
            )?;
            if stats.buffered_events > 0 {
                writeln!(
                    out,
                    "{} buffered in the write-ahead log ({}) and not yet sealed",
                    count(stats.buffered_events, "event"),
                    human_bytes(stats.wal_bytes)
                )?;
            }
            for d in stats.damaged_segments.iter().chain(&damaged_blocks) {
                writeln!(out, "damaged, not served: {d}")?;
            }
            for l in &stats.wal_losses {
                writeln!(out, "write-ahead log: {l}")?;
            }
            drop(out);
            print_partitions(&store.segments())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Segments per time partition (UTC day), as compaction sees them.
fn print_partitions(segments: &[logsight_storage::SegmentInfo]) -> std::io::Result<()> {
    let mut days: std::collections::BTreeMap<Option<i64>, (u64, u64, u64)> = Default::default();
    for s in segments {
        let d = days.entry(s.partition_day).or_default();
        d.0 += 1;
        d.1 += s.bytes;
        d.2 += s.events;
    }
    if days.is_empty() {
        return Ok(());
    }
    let mut t = table(&["PARTITION (UTC DAY)", "EVENTS", "SEGMENT FILES", "BYTES"], 1);
    for row in days.iter().map(|(day, (n, bytes, events))| {
        let day = match day {
            Some(d) => chrono::DateTime::from_timestamp(d * 86_400, 0)
                .map_or_else(|| d.to_string(), |t| t.format("%Y-%m-%d").to_string()),
            None => "spanning days".into(),
        };
        vec![day, events.to_string(), n.to_string(), human_bytes(*bytes)]
    }) {
        t.add_row(row);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out)?;
    write_table(&mut out, &t)
}

fn row(group: &str, stream: &str, events: u64, raw: u64, stored: u64, blocks: u64) -> Vec<String> {
    let r = ratio(raw, stored);
    vec![
        group.to_owned(),
        stream.to_owned(),
        events.to_string(),
        human_bytes(raw),
        human_bytes(stored),
        if r > 0.0 { format!("{r:.1}x") } else { "-".into() },
        blocks.to_string(),
    ]
}
