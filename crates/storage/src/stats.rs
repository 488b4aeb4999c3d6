//! Statistics of streams, derived from what holds their events: each segment's blocks
//! (computed once per segment, when first asked) and the buffers of unsealed events. Nothing
//! is patched when data moves; a figure is the sum over the places the events are now.

use std::collections::HashMap;

use crate::block::{Columns, DecodedBlock};
use crate::error::Result;
use crate::segment::Segment;

/// What one place holds of one stream.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamStats {
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub last_ingest: Option<i64>,
    pub events: u64,
    pub raw_bytes: u64,
    /// Bytes on disk: each block's cost shared among its streams by message bytes.
    pub stored_bytes: u64,
    pub blocks: u64,
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

impl StreamStats {
    /// Counts one event.
    pub(crate) fn add_event(&mut self, timestamp: i64, ingestion_time: i64, bytes: usize) {
        self.first = min_opt(self.first, Some(timestamp));
        self.last = max_opt(self.last, Some(timestamp));
        self.last_ingest = max_opt(self.last_ingest, Some(ingestion_time));
        self.events += 1;
        self.raw_bytes += bytes as u64;
    }

    /// Adds what another place holds.
    pub(crate) fn merge(&mut self, o: &StreamStats) {
        self.first = min_opt(self.first, o.first);
        self.last = max_opt(self.last, o.last);
        self.last_ingest = max_opt(self.last_ingest, o.last_ingest);
        self.events += o.events;
        self.raw_bytes += o.raw_bytes;
        self.stored_bytes += o.stored_bytes;
        self.blocks += o.blocks;
    }
}

/// Splits a segment's file bytes over its blocks: each block's bytes, its directory entry, and
/// an even share of the header and footer. The shares add up to the file size exactly.
pub(crate) fn block_costs(seg: &Segment) -> Vec<u64> {
    let n = seg.blocks().len() as u64;
    if n == 0 {
        return Vec::new();
    }
    let per_block_overhead = seg.overhead_bytes() / n;
    let remainder = seg.overhead_bytes() % n;
    seg.blocks()
        .iter()
        .enumerate()
        .map(|(i, b)| u64::from(b.len) + per_block_overhead + u64::from(i == 0) * remainder)
        .collect()
}

/// Per stream, what a segment holds: decodes every block's stream runs and time columns
/// (never the messages).
pub(crate) fn segment_stream_stats(seg: &Segment) -> Result<HashMap<u64, StreamStats>> {
    let mut out: HashMap<u64, StreamStats> = HashMap::new();
    let mut block = DecodedBlock::default();
    for (i, cost) in block_costs(seg).into_iter().enumerate() {
        seg.decode_columns(i, Columns::TIMES, &mut block)?;
        let meta = seg.blocks()[i];
        // Shares by message bytes (by rows for empty messages), rounded down; the first run
        // takes the remainder, so the shares add up to the block's cost exactly.
        let share = |run: &crate::block::StreamRun| match meta.raw_bytes {
            0 => cost * run.rows.len() as u64 / u64::from(meta.count.max(1)),
            raw => cost * run.raw_bytes / raw,
        };
        let remainder = cost - block.streams.iter().map(share).sum::<u64>();
        for (k, run) in block.streams.iter().enumerate() {
            let s = out.entry(run.stream_id).or_default();
            let rows = run.rows.clone();
            let n = rows.len() as u64;
            let ts = &block.timestamps[rows.clone()];
            s.first = min_opt(s.first, ts.first().copied());
            s.last = max_opt(s.last, ts.last().copied());
            s.last_ingest =
                max_opt(s.last_ingest, block.ingestion_times[rows].iter().copied().max());
            s.events += n;
            s.raw_bytes += run.raw_bytes;
            s.stored_bytes += share(run) + if k == 0 { remainder } else { 0 };
            s.blocks += 1;
        }
    }
    Ok(out)
}
