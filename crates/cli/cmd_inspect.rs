//! `logsight inspect`: what a data directory holds and how well it compresses.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::common::{DEFAULT_DATA_DIR, human_bytes, open_store, ratio};

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
        rows.push(row(
            &g.name,
            "",
            g.events,
            g.raw_bytes,
            g.stored_bytes,
            g.segments.to_string(),
            g.blocks,
        ));
        for s in &streams {
            rows.push(row(
                "",
                &s.name,
                s.events,
                s.raw_bytes,
                s.stored_bytes,
                String::new(),
                s.blocks,
            ));
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
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Output::Table => {
            let header =
                ["GROUP", "STREAM", "EVENTS", "RAW", "STORED", "RATIO", "SEGMENTS", "BLOCKS"];
            rows.push(row("TOTAL", "", events, raw, stored, stats.segments.to_string(), blocks));
            print_table(&header, &rows);
            if stats.buffered_events > 0 {
                println!(
                    "{} events are buffered in the write-ahead log ({}) and not yet sealed",
                    stats.buffered_events,
                    human_bytes(stats.wal_bytes)
                );
            }
            for d in &stats.damaged_segments {
                println!("damaged, not served: {d}");
            }
            print_partitions(&store.segments());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Segments per time partition (UTC day), as compaction sees them.
fn print_partitions(segments: &[logsight_storage::SegmentInfo]) {
    let mut days: std::collections::BTreeMap<Option<i64>, (u64, u64, u64)> = Default::default();
    for s in segments {
        let d = days.entry(s.partition_day).or_default();
        d.0 += 1;
        d.1 += s.bytes;
        d.2 += s.events;
    }
    if days.is_empty() {
        return;
    }
    println!();
    let rows: Vec<Vec<String>> = days
        .iter()
        .map(|(day, (n, bytes, events))| {
            let day = match day {
                Some(d) => chrono::DateTime::from_timestamp(d * 86_400, 0)
                    .map_or_else(|| d.to_string(), |t| t.format("%Y-%m-%d").to_string()),
                None => "spanning days".into(),
            };
            vec![day, String::new(), events.to_string(), n.to_string(), human_bytes(*bytes)]
        })
        .collect();
    print_table(&["PARTITION", "", "EVENTS", "SEGMENTS", "BYTES"], &rows);
}

fn row(
    group: &str,
    stream: &str,
    events: u64,
    raw: u64,
    stored: u64,
    segments: String,
    blocks: u64,
) -> Vec<String> {
    let r = ratio(raw, stored);
    vec![
        group.to_owned(),
        stream.to_owned(),
        events.to_string(),
        human_bytes(raw),
        human_bytes(stored),
        if r > 0.0 { format!("{r:.1}x") } else { "-".into() },
        segments,
        blocks.to_string(),
    ]
}

fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i < 2 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
