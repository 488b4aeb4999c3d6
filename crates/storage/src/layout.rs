//! How events are laid out in blocks: the rows of one log group, sorted by (stream, time),
//! cut into blocks of about `block_bytes` message bytes.
//!
//! Many streams share a block, so a fleet's hundreds of small, short-lived streams cost what
//! one stream of the same events costs, while a stream's events stay consecutive (a read of
//! one stream decodes only the blocks whose stream range holds it). ClickHouse's
//! `ORDER BY (stream, ts)` inside a part is the model. The alternative, a block per stream (the
//! first format, and Loki's and VictoriaLogs' chunks per stream), was measured on the fleet
//! shape: blocks of a handful of events, whose fixed costs (column headers, the template
//! dictionary, the directory entry) outweighed the data — see `docs/benchmarks.md`.

use crate::block::RunInput;
use crate::segment::BlockInput;

/// One finished block's columns, owned.
#[derive(Debug)]
pub(crate) struct OwnedBlock<M> {
    pub group_id: u64,
    pub runs: Vec<RunInput>,
    pub timestamps: Vec<i64>,
    pub ingestion_times: Vec<i64>,
    pub messages: Vec<M>,
}

impl<M: AsRef<[u8]>> OwnedBlock<M> {
    /// The block as the segment writer takes it.
    pub(crate) fn input(&self) -> BlockInput<'_, M> {
        BlockInput {
            group_id: self.group_id,
            runs: &self.runs,
            timestamps: &self.timestamps,
            ingestion_times: &self.ingestion_times,
            messages: &self.messages,
        }
    }
}

/// Cuts rows arriving in (group, stream, time) order into blocks.
pub(crate) struct BlockBuilder<M> {
    block_bytes: usize,
    current: Option<OwnedBlock<M>>,
    bytes: usize,
    done: Vec<OwnedBlock<M>>,
}

impl<M: AsRef<[u8]>> BlockBuilder<M> {
    pub(crate) fn new(block_bytes: usize) -> Self {
        BlockBuilder { block_bytes, current: None, bytes: 0, done: Vec::new() }
    }

    /// Adds one row. Rows must come sorted by group, then stream, then timestamp.
    pub(crate) fn push(&mut self, group_id: u64, stream_id: u64, ts: i64, ingest: i64, msg: M) {
        let full = self.bytes >= self.block_bytes;
        if full || self.current.as_ref().is_some_and(|b| b.group_id != group_id) {
            self.cut();
        }
        let b = self.current.get_or_insert_with(|| OwnedBlock {
            group_id,
            runs: Vec::new(),
            timestamps: Vec::new(),
            ingestion_times: Vec::new(),
            messages: Vec::new(),
        });
        let len = msg.as_ref().len();
        match b.runs.last_mut() {
            Some(run) if run.stream_id == stream_id => {
                run.count += 1;
                run.raw_bytes += len as u64;
            }
            last => {
                debug_assert!(last.is_none_or(|r| r.stream_id < stream_id), "rows out of order");
                b.runs.push(RunInput { stream_id, count: 1, raw_bytes: len as u64 });
            }
        }
        b.timestamps.push(ts);
        b.ingestion_times.push(ingest);
        b.messages.push(msg);
        self.bytes += len;
    }

    fn cut(&mut self) {
        if let Some(b) = self.current.take() {
            self.done.push(b);
        }
        self.bytes = 0;
    }

    /// Blocks finished so far, taken out of the builder.
    pub(crate) fn take_done(&mut self) -> Vec<OwnedBlock<M>> {
        std::mem::take(&mut self.done)
    }

    /// How many finished blocks wait to be taken.
    pub(crate) fn done_len(&self) -> usize {
        self.done.len()
    }

    /// Finishes the last block and returns every block not yet taken.
    pub(crate) fn finish(mut self) -> Vec<OwnedBlock<M>> {
        self.cut();
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_one_group_and_many_streams() {
        let mut b = BlockBuilder::new(8);
        for (g, s, ts, m) in
            [(1, 1, 5, "aaaa"), (1, 1, 6, "bb"), (1, 2, 1, "cc"), (1, 3, 0, "dddd"), (2, 4, 9, "e")]
        {
            b.push(g, s, ts, ts + 1, m);
        }
        let blocks = b.finish();
        // Group 1 fills a block at 8 bytes (streams 1 and 2 share it), then stream 3 starts
        // the next; group 2 gets its own block.
        let shape: Vec<(u64, Vec<(u64, usize)>)> = blocks
            .iter()
            .map(|b| (b.group_id, b.runs.iter().map(|r| (r.stream_id, r.count)).collect()))
            .collect();
        assert_eq!(shape, [(1, vec![(1, 2), (2, 1)]), (1, vec![(3, 1)]), (2, vec![(4, 1)])]);
        assert_eq!(blocks[0].runs[0].raw_bytes, 6);
        assert_eq!(blocks[0].timestamps, [5, 6, 1]);
    }
}
