//! Checking every checksum of a data directory: the catalog, each segment's footer, directory,
//! description and every block, and every WAL record. Nothing is changed.

use std::path::Path;

use super::{DirLock, SEGMENTS, Store, WAL, segment_path};
use crate::block::{Columns, DecodedBlock};
use crate::catalog::Catalog;
use crate::describe;
use crate::error::Result;
use crate::segment::Segment;
use crate::wal;

/// What [`Store::verify`] checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segments checked.
    pub segments: u64,
    /// Blocks checked (checksum and decode).
    pub blocks: u64,
    /// WAL records found whole.
    pub wal_records: u64,
    /// Every problem found, one line each (empty: all is well).
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing was found wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every block of `seg`: its checksum, and that it decodes. Returns the problems.
fn check_blocks(seg: &Segment, out: &mut DecodedBlock) -> Vec<String> {
    let mut problems = Vec::new();
    for i in 0..seg.blocks().len() {
        if let Err(e) = seg.decode_columns(i, Columns::ALL, out) {
            let b = seg.blocks()[i];
            problems.push(format!("block {i} ({} events, group {}): {e}", b.count, b.group_id));
        }
    }
    problems
}

impl Store {
    /// Checks every checksum in `dir` without changing anything: the catalog, each listed
    /// segment (footer, directory, description, every block, decoded), and every WAL record
    /// after the checkpoint, reporting damaged ranges and missing records as recovery would.
    /// Takes the directory's lock, so it refuses a directory a server has open.
    pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport> {
        let dir = dir.as_ref();
        let _lock = DirLock::acquire(dir)?;
        let mut report = VerifyReport::default();
        let cat = match Catalog::load(dir) {
            Ok(c) => c,
            Err(e) => {
                report.problems.push(format!("catalog: {e}"));
                Catalog::default()
            }
        };
        if !dir.join(crate::catalog::FILE).exists() {
            report.problems.push("catalog.json is missing".into());
        }
        let mut decoded = DecodedBlock::default();
        for entry in &cat.segments {
            let path = segment_path(dir, entry.id);
            report.segments += 1;
            let seg = match Segment::open_file(entry.id, &path) {
                Ok(seg) => seg,
                Err(e) => {
                    report.problems.push(e.to_string());
                    continue;
                }
            };
            report.blocks += seg.blocks().len() as u64;
            for p in check_blocks(&seg, &mut decoded) {
                report.problems.push(format!("{}: {p}", path.display()));
            }
            if let Err(e) = describe::read(&path) {
                report.problems.push(e.to_string());
            }
        }
        let listed: std::collections::HashSet<_> =
            cat.segments.iter().map(|e| segment_path(dir, e.id)).collect();
        if let Ok(entries) = std::fs::read_dir(dir.join(SEGMENTS)) {
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                if !listed.contains(&path) {
                    report.problems.push(format!("{}: not in the catalog", path.display()));
                }
            }
        }
        let wal_dir = dir.join(WAL);
        if wal_dir.exists() {
            let recovery = wal::Recovery {
                checkpoint: cat.wal_checkpoint,
                hold: cat.lowest_hold(),
                next_lsn: cat.next_lsn,
                read_only: true,
                ..Default::default()
            };
            let replay = wal::replay(&wal_dir, &recovery, |_| ())?;
            report.wal_records = replay.records as u64;
            report.problems.extend(replay.damage.iter().map(|d| format!("write-ahead log {d}")));
            report.problems.extend(replay.missing.iter().map(|m| format!("write-ahead log: {m}")));
        } else if !cat.groups.is_empty() {
            report.problems.push(format!("{} is missing", wal_dir.display()));
        }
        Ok(report)
    }

    /// Checks every block of every live segment (checksum and decode) and returns one line per
    /// damaged block: what `inspect` shows beside the segments that failed on open.
    pub fn damaged_blocks(&self) -> Vec<String> {
        let segments: Vec<_> = self.inner.state.read().segments.values().cloned().collect();
        let mut decoded = DecodedBlock::default();
        segments
            .iter()
            .flat_map(|seg| {
                check_blocks(seg, &mut decoded)
                    .into_iter()
                    .map(|p| format!("{}: {p}", seg.path().display()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
