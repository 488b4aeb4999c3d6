//! Helpers shared by the subcommands.

use std::path::PathBuf;

use anyhow::{Context, Result};
use logsight_storage::{Store, StoreOptions};

/// The data directory used when `--data-dir` is not given.
pub const DEFAULT_DATA_DIR: &str = "./logsight-data";

/// Opens the store in `dir` for an offline command.
pub fn open_store(dir: &PathBuf, background: bool) -> Result<Store> {
    Store::open(dir, StoreOptions { background, ..Default::default() })
        .with_context(|| format!("opening data directory {}", dir.display()))
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses a `--start`/`--end`/`--timestamp` value.
pub fn parse_time_arg(s: &str) -> Result<i64, String> {
    logsight_model::parse_time(s, now_ms()).map_err(|e| e.to_string())
}

/// Formats a byte count for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// `raw / stored`, or 0 when nothing is stored yet.
pub fn ratio(raw: u64, stored: u64) -> f64 {
    if stored == 0 { 0.0 } else { raw as f64 / stored as f64 }
}
