//! The block-level scan API of the query engine.
//!
//! [`crate::Store::plan_scan`] prunes by stream and time from segment directories alone and
//! returns a [`ScanPlan`]: a list of independent [`ScanUnit`]s (sealed blocks and snapshots of
//! buffered events). Units carry no locks, so worker threads can decode them in any order;
//! [`ScanPlan::run`] does exactly that over a crossbeam scope, one reusable
//! [`DecodedBlock`] per worker.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use logsight_model::TimeRange;
use parking_lot::Mutex;

use crate::block::DecodedBlock;
use crate::error::Result;
use crate::memtable::MemEvent;
use crate::read::{Source, SourceData};

/// One independently decodable piece of a scan.
#[derive(Clone)]
pub struct ScanUnit {
    /// The stream's name.
    pub stream: Arc<str>,
    /// Earliest timestamp in the unit (before range filtering).
    pub min_ts: i64,
    /// Latest timestamp in the unit.
    pub max_ts: i64,
    data: SourceData,
}

impl std::fmt::Debug for ScanUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.data {
            SourceData::Block(seg, i) => format!("block {i} of segment {}", seg.id()),
            SourceData::Memory(m) => format!("{} buffered events", m.len()),
        };
        write!(f, "ScanUnit({}, {kind})", self.stream)
    }
}

impl From<Source> for ScanUnit {
    fn from(s: Source) -> Self {
        ScanUnit { stream: s.stream, min_ts: s.min_ts, max_ts: s.max_ts, data: s.data }
    }
}

impl ScanUnit {
    /// Number of events in the unit.
    pub fn count(&self) -> usize {
        match &self.data {
            SourceData::Block(seg, i) => seg.blocks()[*i].count as usize,
            SourceData::Memory(m) => m.len(),
        }
    }

    /// Message bytes in the unit.
    pub fn raw_bytes(&self) -> u64 {
        match &self.data {
            SourceData::Block(seg, i) => seg.blocks()[*i].raw_bytes,
            SourceData::Memory(m) => m.iter().map(|e| e.message.len() as u64).sum(),
        }
    }

    /// Whether the unit is a sealed block (as opposed to buffered events).
    pub fn is_sealed(&self) -> bool {
        matches!(self.data, SourceData::Block(..))
    }

    /// Decodes the unit into `out`. A block that fails its checksum yields
    /// [`crate::StorageError::Corruption`] naming the file and offset.
    pub fn decode(&self, out: &mut DecodedBlock) -> Result<()> {
        match &self.data {
            SourceData::Block(seg, i) => seg.decode_block(*i, out),
            SourceData::Memory(m) => {
                fill_from_memory(m, out);
                Ok(())
            }
        }
    }

    /// The index range of a decoded unit's events that fall in `range` (timestamps are sorted).
    pub fn rows_in(block: &DecodedBlock, range: TimeRange) -> Range<usize> {
        let ts = &block.timestamps;
        let lo = range.start.map_or(0, |s| ts.partition_point(|&t| t < s));
        let hi = range.end.map_or(ts.len(), |e| ts.partition_point(|&t| t < e));
        lo..hi.max(lo)
    }
}

fn fill_from_memory(events: &[MemEvent], out: &mut DecodedBlock) {
    out.timestamps.clear();
    out.ingestion_times.clear();
    out.messages.clear();
    for e in events {
        out.timestamps.push(e.timestamp);
        out.ingestion_times.push(e.ingestion_time);
        out.messages.push(e.message.as_bytes());
    }
}

/// The units of a scan, after pruning.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    /// Units to scan.
    pub units: Vec<ScanUnit>,
    /// The effective time range (after retention); rows outside it must be skipped.
    pub range: TimeRange,
    /// Sealed blocks in the store, before pruning.
    pub blocks_total: usize,
}

impl ScanPlan {
    pub(crate) fn new(units: Vec<ScanUnit>, range: TimeRange, blocks_total: usize) -> Self {
        ScanPlan { units, range, blocks_total }
    }

    /// Sealed blocks left after pruning.
    pub fn blocks_scanned(&self) -> usize {
        self.units.iter().filter(|u| u.is_sealed()).count()
    }

    /// Decodes every unit on `threads` worker threads and calls `visit` with each decoded unit
    /// and the rows inside the plan's range. Stops at the first error, which it returns.
    pub fn run<F>(&self, threads: usize, visit: F) -> Result<()>
    where
        F: Fn(&ScanUnit, &DecodedBlock, Range<usize>) -> Result<()> + Sync,
    {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let error = Mutex::new(None);
        let work = || {
            let mut block = DecodedBlock::default();
            while !failed.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(unit) = self.units.get(i) else { break };
                let result = unit.decode(&mut block).and_then(|()| {
                    let rows = ScanUnit::rows_in(&block, self.range);
                    visit(unit, &block, rows)
                });
                if let Err(e) = result {
                    failed.store(true, Ordering::Relaxed);
                    error.lock().get_or_insert(e);
                }
            }
        };
        let threads = threads.clamp(1, self.units.len().max(1));
        crossbeam::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(|_| work());
            }
            work();
        })
        .expect("scan workers do not panic");
        error.into_inner().map_or(Ok(()), Err)
    }
}
