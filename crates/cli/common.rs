//! Helpers shared by the subcommands.

use std::path::PathBuf;

use anyhow::{Context, Result};
use logsight_storage::{Perms, Store, StoreOptions};

/// The data directory used when `--data-dir` is not given.
pub const DEFAULT_DATA_DIR: &str = "./logsight-data";

/// Opens the store in `dir` for an offline command.
pub fn open_store(dir: &PathBuf, background: bool) -> Result<Store> {
    open_store_with(dir, background, Perms::default())
}

/// Opens the store in `dir`, creating files and directories with `perms`.
pub fn open_store_with(dir: &PathBuf, background: bool, perms: Perms) -> Result<Store> {
    Store::open(dir, StoreOptions { background, perms, ..Default::default() })
        .with_context(|| format!("opening data directory {}", dir.display()))
}

/// Parses a file mode written in octal (`"0640"`, `"640"`).
pub fn parse_mode(s: &str) -> Result<u32> {
    let mode = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .with_context(|| format!("{s:?} is not an octal file mode"))?;
    anyhow::ensure!(mode <= 0o777, "{s:?} is not a file mode (at most 0777)");
    Ok(mode)
}

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses a `--start`/`--end`/`--since`/`--timestamp` value.
pub fn parse_time_arg(s: &str) -> Result<i64, String> {
    logsight_model::parse_time(s, now_ms()).map_err(|e| e.to_string())
}

/// Refuses a window that can hold nothing (`--start` at or after `--end`), which would
/// otherwise print nothing and look like an empty result.
pub fn check_window(start: Option<i64>, end: Option<i64>) -> Result<()> {
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        anyhow::bail!(
            "--start ({}) is after --end ({}): the window holds nothing",
            crate::client::fmt_ts(s),
            crate::client::fmt_ts(e)
        );
    }
    Ok(())
}

/// Formats a byte count for people (binary units: KiB, MiB, ...).
pub fn human_bytes(n: u64) -> String {
    bytesize::ByteSize(n).display().iec().to_string()
}

/// `n noun` with the noun in the plural unless `n` is 1: "1 group", "2 groups".
pub fn count(n: u64, noun: &str) -> String {
    let plural = if ["s", "x", "ch", "sh"].iter().any(|e| noun.ends_with(e)) { "es" } else { "s" };
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}{plural}") }
}

/// `raw / stored`, or 0 when nothing is stored yet.
pub fn ratio(raw: u64, stored: u64) -> f64 {
    if stored == 0 { 0.0 } else { raw as f64 / stored as f64 }
}

/// A table for people: columns as wide as their widest cell, two spaces apart, no borders,
/// the columns from `right_aligned_from` on aligned right (numbers).
pub fn table(header: &[&str], right_aligned_from: usize) -> comfy_table::Table {
    use comfy_table::{CellAlignment, ContentArrangement, presets};
    let mut t = comfy_table::Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    for (i, c) in t.column_iter_mut().enumerate() {
        c.set_padding((0, 2));
        if i >= right_aligned_from {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
}

/// Writes `table` with no trailing spaces on its lines.
pub fn write_table(
    out: &mut impl std::io::Write,
    table: &comfy_table::Table,
) -> std::io::Result<()> {
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Whether `err` comes from writing to a closed pipe (`| head`), a normal way to stop.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sizes_read_as_english() {
        assert_eq!(count(1, "group"), "1 group");
        assert_eq!(count(0, "group"), "0 groups");
        assert_eq!(count(2, "event"), "2 events");
        assert_eq!(count(0, "batch"), "0 batches");
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn an_empty_window_is_refused() {
        assert!(check_window(Some(5), Some(5)).is_err());
        assert!(check_window(Some(6), Some(5)).is_err());
        assert!(check_window(Some(4), Some(5)).is_ok());
        assert!(check_window(None, Some(5)).is_ok());
    }
}
