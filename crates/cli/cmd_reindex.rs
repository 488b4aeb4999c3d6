//! `logsight reindex`: drops every full-text index artifact of a data directory and builds
//! them again, offline (for a damaged or outdated index; a running server rebuilds missing
//! ones by itself).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;

use crate::common::{DEFAULT_DATA_DIR, human_bytes, open_store};

#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Data directory of the store (no server may be using it).
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
}

pub fn run(args: ReindexArgs) -> Result<ExitCode> {
    let store = Arc::new(open_store(&args.data_dir, false)?);
    let kind = logsight_index::kind();
    let dropped = store.drop_artifacts(&kind, None)?;
    let total = store.segments_without(&kind).len() as u64;
    eprintln!("dropped {dropped} index artifacts; building {total}");
    let start = Instant::now();
    // The store's own builder does the work; this only watches its counters.
    let builder = store.derive(Arc::new(logsight_index::IndexDeriver::new()))?;
    let stats = builder.stats().clone();
    loop {
        let done = stats.built() + stats.failed();
        {
            let mut err = std::io::stderr().lock();
            let _ =
                write!(err, "\rindexed {done}/{total} segments, {}   ", human_bytes(stats.bytes()));
            let _ = err.flush();
        }
        if done >= total || store.segments_without(&kind).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(builder);
    eprintln!();
    let failed = stats.failed();
    println!(
        "built {} index artifacts ({}) in {:.1}s{}",
        stats.built(),
        human_bytes(stats.bytes()),
        start.elapsed().as_secs_f64(),
        if failed > 0 { format!("; {failed} segments failed") } else { String::new() }
    );
    if failed > 0 {
        if let Some(e) = stats.last_error() {
            eprintln!("last failure: {e}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
