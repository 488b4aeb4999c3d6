//! `logsight compact`: merges a data directory's segments to completion, offline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::common::{DEFAULT_DATA_DIR, human_bytes, open_store};

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Data directory of the store (no server may be using it).
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub fn run(args: CompactArgs) -> Result<ExitCode> {
    let store = open_store(&args.data_dir, false)?;
    let before = store.stats();
    // Buffered events become a segment first, so they are compacted too.
    store.flush()?;
    let start = std::time::Instant::now();
    let report = store.compact_all(|r| {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rmerge {}: {} segments in, {} out; read {}, wrote {}   ",
            r.merges,
            r.inputs,
            r.outputs,
            human_bytes(r.bytes_read),
            human_bytes(r.bytes_written)
        );
        let _ = err.flush();
    })?;
    if report.merges > 0 {
        eprintln!();
    }
    let after = store.stats();
    println!(
        "compacted {} segments into {} in {:.1}s: {} -> {} on disk; {} rows of deleted streams \
         or past retention dropped",
        before.segments,
        after.segments,
        start.elapsed().as_secs_f64(),
        human_bytes(before.segment_bytes),
        human_bytes(after.segment_bytes),
        report.rows_dropped
    );
    Ok(ExitCode::SUCCESS)
}
