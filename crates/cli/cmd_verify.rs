//! `logsight verify`: checks every checksum of a data directory, offline, changing nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use logsight_storage::Store;

use crate::common::DEFAULT_DATA_DIR;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Data directory to check (no server may be using it).
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

/// Exit code when damage is found (1 is left to errors that stopped the check).
const DAMAGED: u8 = 2;

pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let r = Store::verify(&args.data_dir)
        .with_context(|| format!("verifying data directory {}", args.data_dir.display()))?;
    for p in &r.problems {
        println!("damaged: {p}");
    }
    println!(
        "checked {} segments ({} blocks) and {} write-ahead log records: {}",
        r.segments,
        r.blocks,
        r.wal_records,
        if r.is_clean() {
            "no damage".to_string()
        } else {
            format!("{} problems", r.problems.len())
        }
    );
    Ok(if r.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(DAMAGED) })
}
