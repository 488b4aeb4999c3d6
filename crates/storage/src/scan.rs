//! The block-level scan API of the query engine.
//!
//! [`crate::Store::plan_scan`] prunes by stream and time from segment directories alone and
//! returns a [`ScanPlan`]: a list of independent [`ScanUnit`]s (sealed blocks and snapshots of
//! buffered events). Units carry no locks, so worker threads can decode them in any order, and
//! decode only the columns a query needs ([`ScanUnit::decode_columns`]). A block may hold
//! streams the scan does not want; [`ScanUnit::rows_in`] gives the wanted streams' rows.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use logsight_model::TimeRange;
use parking_lot::Mutex;

use crate::block::{Columns, DecodedBlock};
use crate::error::Result;
use crate::memtable::MemEvent;
use crate::msgcodec::{Template, Templates};
use crate::read::{Source, SourceData};

/// One independently decodable piece of a scan: a sealed block (which may hold several of
/// the wanted streams, and others) or one stream's buffered events.
#[derive(Clone)]
pub struct ScanUnit {
    /// Earliest timestamp in the unit (before range filtering).
    pub min_ts: i64,
    /// Latest timestamp in the unit.
    pub max_ts: i64,
    /// Its place among sources holding one stream's events at one timestamp: those events
    /// are ordered by this rank, then row (what makes a [`crate::Position`]'s ordinal).
    rank: u64,
    data: SourceData,
}

/// The rows of one wanted stream in a decoded unit, inside the plan's time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRows {
    /// The stream's place in [`ScanPlan::streams`] (which names it).
    pub index: usize,
    /// Row indices in the decoded block, sorted by timestamp.
    pub rows: Range<usize>,
}

impl std::fmt::Debug for ScanUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.data {
            SourceData::Block { seg, index, .. } => {
                write!(f, "ScanUnit(block {index} of segment {})", seg.id())
            }
            SourceData::Memory { stream, rows, .. } => {
                write!(f, "ScanUnit({} buffered events of {stream})", rows.len())
            }
        }
    }
}

impl From<Source> for ScanUnit {
    fn from(s: Source) -> Self {
        ScanUnit { min_ts: s.min_ts, max_ts: s.max_ts, rank: s.rank, data: s.data }
    }
}

impl ScanUnit {
    /// Number of events in the unit (of every stream it holds).
    pub fn count(&self) -> usize {
        match &self.data {
            SourceData::Block { seg, index, .. } => seg.blocks()[*index].count as usize,
            SourceData::Memory { rows, .. } => rows.len(),
        }
    }

    /// Message bytes in the unit.
    pub fn raw_bytes(&self) -> u64 {
        match &self.data {
            SourceData::Block { seg, index, .. } => seg.blocks()[*index].raw_bytes,
            SourceData::Memory { events, rows, .. } => {
                events[rows.clone()].iter().map(|e| e.message.len() as u64).sum()
            }
        }
    }

    /// The unit's rank: events of one stream at one timestamp are ordered by the rank of
    /// the unit holding them, then by row, in every read.
    pub fn rank(&self) -> u64 {
        self.rank
    }

    /// The lowest and highest stream id the unit may hold, from its directory entry.
    pub fn stream_span(&self) -> (u64, u64) {
        match &self.data {
            SourceData::Block { seg, index, .. } => {
                let m = &seg.blocks()[*index];
                (m.min_stream, m.max_stream)
            }
            SourceData::Memory { stream_id, .. } => (*stream_id, *stream_id),
        }
    }

    /// Whether the unit is a sealed block (as opposed to buffered events).
    pub fn is_sealed(&self) -> bool {
        matches!(self.data, SourceData::Block { .. })
    }

    /// Where a sealed unit lives: its segment id and block index, which index hits map to.
    pub fn location(&self) -> Option<(u64, usize)> {
        match &self.data {
            SourceData::Block { seg, index, .. } => Some((seg.id(), *index)),
            SourceData::Memory { .. } => None,
        }
    }

    /// Decodes every column of the unit into `out`. A block that fails its checksum yields
    /// [`crate::StorageError::Corruption`] naming the file and offset.
    pub fn decode(&self, out: &mut DecodedBlock) -> Result<()> {
        self.decode_columns(Columns::ALL, out)
    }

    /// Decodes only the columns in `cols` (and the stream runs) into `out`.
    pub fn decode_columns(&self, cols: Columns, out: &mut DecodedBlock) -> Result<()> {
        match &self.data {
            SourceData::Block { seg, index, .. } => seg.decode_columns(*index, cols, out),
            SourceData::Memory { stream_id, events, rows, .. } => {
                fill_from_memory(*stream_id, &events[rows.clone()], cols, out);
                Ok(())
            }
        }
    }

    /// Decodes `cols` like [`ScanUnit::decode_columns`], but writes only the messages whose
    /// template `keep` accepts (see [`crate::msgcodec::decode_screened`];
    /// [`DecodedBlock::is_skipped`] tells the others). Buffered events and blocks of a plain
    /// variant are decoded whole.
    pub fn decode_screened(
        &self,
        cols: Columns,
        keep: &mut dyn FnMut(Template<'_>) -> bool,
        out: &mut DecodedBlock,
    ) -> Result<()> {
        match &self.data {
            SourceData::Block { seg, index, .. } => seg.decode_screened(*index, cols, keep, out),
            SourceData::Memory { .. } => self.decode_columns(cols, out),
        }
    }

    /// Decodes `cols` like [`ScanUnit::decode_columns`], and each row's message template into
    /// `out.templates`: read from a sealed block without writing its messages (unless `cols`
    /// asks for them), split from buffered messages as sealing would split them.
    pub fn decode_templates(&self, cols: Columns, out: &mut DecodedBlock) -> Result<()> {
        match &self.data {
            SourceData::Block { seg, index, .. } => seg.decode_templates(*index, cols, out),
            SourceData::Memory { stream_id, events, rows, .. } => {
                let events = &events[rows.clone()];
                fill_from_memory(*stream_id, events, Columns { messages: false, ..cols }, out);
                let messages: Vec<&[u8]> = events.iter().map(|e| e.message.as_bytes()).collect();
                Templates::build(&messages, &mut out.templates);
                if cols.messages {
                    for m in messages {
                        out.messages.push(m);
                    }
                }
                Ok(())
            }
        }
    }

    /// The rows of the wanted streams in a unit decoded with timestamps, restricted to
    /// `range`.
    pub fn rows_in(&self, block: &DecodedBlock, range: TimeRange) -> Vec<StreamRows> {
        let ts = &block.timestamps;
        // A unit wholly inside the range keeps every row (most units of a long range).
        let inside = range.start.is_none_or(|s| s <= self.min_ts)
            && range.end.is_none_or(|e| self.max_ts < e);
        let clip = |rows: Range<usize>| {
            if inside {
                return rows;
            }
            let run = &ts[rows.clone()];
            let lo = range.start.map_or(0, |s| run.partition_point(|&t| t < s));
            let hi = range.end.map_or(run.len(), |e| run.partition_point(|&t| t < e));
            rows.start + lo..rows.start + hi.max(lo)
        };
        match &self.data {
            SourceData::Block { streams, .. } => block
                .streams
                .iter()
                .filter_map(|run| {
                    let at = streams.binary_search_by_key(&run.stream_id, |(id, _)| *id).ok()?;
                    let rows = clip(run.rows.clone());
                    (!rows.is_empty()).then_some(StreamRows { index: at, rows })
                })
                .collect(),
            SourceData::Memory { index, .. } => {
                let rows = clip(0..block.len());
                if rows.is_empty() { vec![] } else { vec![StreamRows { index: *index, rows }] }
            }
        }
    }
}

fn fill_from_memory(stream_id: u64, events: &[MemEvent], cols: Columns, out: &mut DecodedBlock) {
    out.templates.clear();
    out.timestamps.clear();
    out.ingestion_times.clear();
    out.messages.clear();
    let raw: u64 = events.iter().map(|e| e.message.len() as u64).sum();
    out.reset_single(stream_id, events.len(), raw);
    for e in events {
        if cols.timestamps {
            out.timestamps.push(e.timestamp);
        }
        if cols.ingestion_times {
            out.ingestion_times.push(e.ingestion_time);
        }
        if cols.messages {
            out.messages.push(e.message.as_bytes());
        }
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
    /// The streams the plan reads (those of its group it was asked for that exist), by id;
    /// [`StreamRows::index`] points into it.
    pub streams: Vec<Arc<str>>,
    /// Their ids, in the same order.
    pub stream_ids: Vec<u64>,
}

impl ScanPlan {
    pub(crate) fn new(
        units: Vec<ScanUnit>,
        range: TimeRange,
        blocks_total: usize,
        streams: Vec<Arc<str>>,
        stream_ids: Vec<u64>,
    ) -> Self {
        ScanPlan { units, range, blocks_total, streams, stream_ids }
    }

    /// Sealed blocks left after pruning.
    pub fn blocks_scanned(&self) -> usize {
        self.units.iter().filter(|u| u.is_sealed()).count()
    }

    /// Decodes every unit on `threads` worker threads and calls `visit` with each decoded unit
    /// and its wanted streams' rows inside the plan's range. Stops at the first error, which it
    /// returns. A convenience for tests and tools: the query engine runs units on its own pool.
    pub fn run<F>(&self, threads: usize, visit: F) -> Result<()>
    where
        F: Fn(&ScanUnit, &DecodedBlock, &[StreamRows]) -> Result<()> + Sync,
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
                    let rows = unit.rows_in(&block, self.range);
                    visit(unit, &block, &rows)
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
