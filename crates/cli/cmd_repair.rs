//! `logsight repair`: rebuilds a lost or damaged catalog from the segments, offline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use logsight_storage::{Perms, Store};

use crate::common::DEFAULT_DATA_DIR;

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Data directory whose catalog.json is missing or damaged (no server may be using it).
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub fn run(args: RepairArgs) -> Result<ExitCode> {
    let r = Store::repair(&args.data_dir, Perms::default())
        .with_context(|| format!("repairing data directory {}", args.data_dir.display()))?;
    println!(
        "rebuilt {}/catalog.json from {} segments ({} described): {} groups, {} streams; the \
         write-ahead log is replayed from file {:016x}.wal",
        args.data_dir.display(),
        r.segments,
        r.described_segments,
        r.groups,
        r.streams,
        r.wal_checkpoint
    );
    if r.unnamed_groups + r.unnamed_streams > 0 {
        println!(
            "{} groups and {} streams had no recorded name and are called recovered-group-<id> \
             and recovered-stream-<id>",
            r.unnamed_groups, r.unnamed_streams
        );
    }
    for f in &r.set_aside {
        println!("set aside (damaged): {}", f.display());
    }
    for b in &r.damaged_blocks {
        println!("damaged block, kept but not readable: {b}");
    }
    Ok(ExitCode::SUCCESS)
}
