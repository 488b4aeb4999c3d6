//! Compaction: small segments merged into large ones, one output segment per UTC day.
//!
//! **Why.** A seal writes what arrived in the last few minutes: a fleet's groups then hold a
//! few events per stream per seal, and their blocks are small. Merging segments re-encodes
//! their rows into full blocks, so a group's streams share blocks as if they had arrived in one
//! bulk import (the ratio is in `docs/benchmarks.md`), and a query touches a few large blocks
//! instead of thousands of small ones.
//!
//! **Policy: size-tiered within time partitions.** A segment's partition is the UTC day its
//! events fall in (`None`, "mixed", for a segment spanning days: a seal writes one segment per
//! day, but stores written before it did may hold such seals). Within a partition, segments are
//! taken in rank order (the order their events arrived in); a segment's tier is its size class
//! (`< base`, `< 4·base`, `< 16·base`, ...). A run of at least `fan_in` consecutive segments of
//! one tier is merged (at most `max_inputs` at once), so each event is rewritten about once per
//! tier: the write amplification is logarithmic in the final size over the seal size. A day
//! that is over (nothing new has arrived for `cold_after`) has its small segments merged
//! whatever their number. A merge writes one output per day its rows fall in, so retention
//! mostly deletes whole files, and segments of the first format are always rewritten.
//! [`Store::compact_all`] (`logsight compact`) instead merges every partition into one segment.
//!
//! **Ordering.** Inputs are merged by (group, stream, time), ties in input rank order, and an
//! output takes the lowest rank of its inputs; merging only consecutive segments of a
//! partition keeps the order of events that share a timestamp, which read positions count on.
//!
//! **Crash safety.** Outputs are written under new ids and fsynced; the catalog write that
//! swaps inputs for outputs is the commit point (before it, the outputs are orphans that the
//! next open deletes; after it, the inputs are); input files are unlinked after the commit.
//! Seals and appends never wait for a merge: only the commit takes the maintenance lock, and a
//! merge whose inputs changed meanwhile (retention rewrote one) is discarded.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Inner, LiveGroups, SegmentChange, Store};
use crate::block::{Columns, DecodedBlock};
use crate::catalog::SegmentEntry;
use crate::describe::Description;
use crate::error::Result;
use crate::layout::{BlockBuilder, OwnedBlock};
use crate::segment::{self, DAY_MS, Segment, SegmentWriter};

/// When segments are merged.
#[derive(Debug, Clone, Copy)]
pub struct CompactionPolicy {
    /// Segments smaller than this are tier 0; each tier above is 4 times larger.
    pub base_bytes: u64,
    /// Consecutive segments of one tier that trigger a merge.
    pub fan_in: usize,
    /// Most segments merged at once.
    pub max_inputs: usize,
    /// A day is quiet once its newest segment is this old (nothing new has arrived since);
    /// its small segments are then merged whatever their number.
    pub cold_after_ms: i64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy {
            base_bytes: 8 << 20,
            fan_in: 4,
            max_inputs: 10,
            cold_after_ms: 3_600_000,
        }
    }
}

/// What the policy knows of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    pub id: u64,
    pub rank: u64,
    pub bytes: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    /// When its newest data was written (epoch ms).
    pub created: i64,
    /// Written in the first format (always rewritten).
    pub old_format: bool,
}

impl Facts {
    fn of(seg: &Segment, created: i64) -> Facts {
        let (min_ts, max_ts) = seg.time_span();
        Facts {
            id: seg.id(),
            rank: seg.rank(),
            bytes: seg.file_len(),
            min_ts,
            max_ts,
            created,
            old_format: seg.version() < segment::FORMAT_VERSION,
        }
    }

    /// The UTC day (days since the epoch) all its events fall in, if they do.
    fn partition(&self) -> Option<i64> {
        let day = self.min_ts.div_euclid(DAY_MS);
        (self.max_ts.div_euclid(DAY_MS) == day).then_some(day)
    }

    /// Whether it may hold an event at a timestamp `other` holds one at.
    fn overlaps(&self, other: &Facts) -> bool {
        self.min_ts <= other.max_ts && other.min_ts <= self.max_ts
    }

    fn tier(&self, policy: &CompactionPolicy) -> u32 {
        let mut tier = 0;
        let mut limit = policy.base_bytes.max(1);
        while self.bytes >= limit && tier < 32 {
            tier += 1;
            limit = limit.saturating_mul(4);
        }
        tier
    }
}

/// The segments (ids) to merge next, if any. `full` merges every partition with more than one
/// segment into one.
pub(crate) fn pick(
    segments: &[Facts],
    policy: &CompactionPolicy,
    now_ms: i64,
    full: bool,
) -> Option<Vec<u64>> {
    let mut partitions: BTreeMap<Option<i64>, Vec<Facts>> = BTreeMap::new();
    for f in segments {
        partitions.entry(f.partition()).or_default().push(*f);
    }
    for segs in partitions.values_mut() {
        segs.sort_by_key(|f| f.rank);
    }
    // A partition holding a segment of the first format is merged whole (it is small: the
    // first format had no compaction), which also keeps the merge to consecutive segments.
    for segs in partitions.values() {
        if segs.iter().any(|f| f.old_format) {
            return Some(segs.iter().map(|f| f.id).collect());
        }
    }
    if full {
        return pick_full(&partitions);
    }
    for (day, segs) in &partitions {
        if segs.len() < 2 {
            continue;
        }
        // Quiet: no segment arrived for a while, so waiting for `fan_in` may wait forever.
        let newest = segs.iter().map(|f| f.created).max().unwrap_or(0);
        let cold = day.is_some() && newest + policy.cold_after_ms <= now_ms;
        // Runs of consecutive segments of one tier, which no segment of another partition
        // reorders (see `interloper`).
        let mut start = 0;
        while start < segs.len() {
            let tier = segs[start].tier(policy);
            let mut end = start + 1;
            while end < segs.len()
                && segs[end].tier(policy) == tier
                && !interloper(segments, segs[start].rank, &segs[end])
            {
                end += 1;
            }
            let run = &segs[start..end];
            let due = run.len() >= policy.fan_in || (cold && tier == 0 && run.len() >= 2);
            if due {
                return Some(run.iter().take(policy.max_inputs).map(|f| f.id).collect());
            }
            start = end;
        }
    }
    None
}

/// Whether joining `next` to a run starting at rank `from` would reorder events: a merge's
/// output takes the run's lowest rank, so a segment ranked between `from` and `next` that
/// may share a timestamp with `next` would then read after `next`'s events instead of before.
/// Within a partition such a segment is part of the run (runs are consecutive); across
/// partitions, only a segment spanning days can share a timestamp with another partition's.
fn interloper(segments: &[Facts], from: u64, next: &Facts) -> bool {
    segments.iter().any(|f| {
        from < f.rank && f.rank < next.rank && f.partition() != next.partition() && f.overlaps(next)
    })
}

/// Compaction to completion: first each segment spanning days, with every segment of the
/// days it spans (so its rows join their days' segments), then each day with several segments.
/// The days grow to those of every segment taken (another segment spanning days may reach
/// further): a segment left out that shares a day with one taken could share a timestamp,
/// and the output's lower rank would move the taken one's events ahead of it.
fn pick_full(partitions: &BTreeMap<Option<i64>, Vec<Facts>>) -> Option<Vec<u64>> {
    let day = |t: i64| t.div_euclid(DAY_MS);
    if let Some(mixed) = partitions.get(&None).and_then(|m| m.first()) {
        let (mut first, mut last) = (day(mixed.min_ts), day(mixed.max_ts));
        loop {
            let overlaps = |f: &&Facts| day(f.min_ts) <= last && day(f.max_ts) >= first;
            let taken: Vec<&Facts> = partitions.values().flatten().filter(overlaps).collect();
            let reach = |f: &&Facts| (day(f.min_ts), day(f.max_ts));
            let lo = taken.iter().map(|f| reach(f).0).min().unwrap_or(first);
            let hi = taken.iter().map(|f| reach(f).1).max().unwrap_or(last);
            if (lo, hi) == (first, last) {
                return Some(taken.iter().map(|f| f.id).collect());
            }
            (first, last) = (lo, hi);
        }
    }
    partitions.values().find(|segs| segs.len() > 1).map(|segs| segs.iter().map(|f| f.id).collect())
}

/// What one merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Merges done.
    pub merges: u64,
    /// Segments merged away.
    pub inputs: u64,
    /// Segments written.
    pub outputs: u64,
    /// Bytes of the inputs.
    pub bytes_read: u64,
    /// Bytes of the outputs.
    pub bytes_written: u64,
    /// Rows dropped because their stream or group was deleted or retention expired them.
    pub rows_dropped: u64,
}

impl CompactionReport {
    fn add(&mut self, o: &CompactionReport) {
        self.merges += o.merges;
        self.inputs += o.inputs;
        self.outputs += o.outputs;
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.rows_dropped += o.rows_dropped;
    }
}

impl Store {
    /// Runs one merge if the policy wants one; `None` when there is nothing to do.
    pub fn compact_once(&self) -> Result<Option<CompactionReport>> {
        compact_step(&self.inner, false)
    }

    /// Compacts to completion: every day's segments (and the mixed ones) become one segment,
    /// and segments of the first format are rewritten. `progress` is called after each merge
    /// with the running totals.
    pub fn compact_all(
        &self,
        mut progress: impl FnMut(&CompactionReport),
    ) -> Result<CompactionReport> {
        let mut total = CompactionReport::default();
        while let Some(r) = compact_step(&self.inner, true)? {
            total.add(&r);
            progress(&total);
        }
        Ok(total)
    }
}

/// Picks and runs one merge.
pub(super) fn compact_step(inner: &Inner, full: bool) -> Result<Option<CompactionReport>> {
    let (inputs, created, live) = {
        let st = inner.state.read();
        let created: std::collections::HashMap<u64, i64> =
            st.catalog.segments.iter().map(|e| (e.id, e.created)).collect();
        let facts: Vec<Facts> = st
            .segments
            .values()
            .map(|s| Facts::of(s, created.get(&s.id()).copied().unwrap_or(0)))
            .collect();
        let now = inner.opts.clock.now_ms();
        let Some(ids) = pick(&facts, &inner.opts.compaction, now, full) else {
            return Ok(None);
        };
        let inputs: Vec<Arc<Segment>> = ids.iter().map(|id| st.segments[id].clone()).collect();
        // The outputs hold the inputs' newest data.
        let newest = facts.iter().filter(|f| ids.contains(&f.id)).map(|f| f.created).max();
        (inputs, newest.unwrap_or(0), LiveGroups::new(&st.catalog, now))
    };
    merge(inner, inputs, created, &live).map(Some)
}

/// The merge order of rows: group, stream, timestamp.
type RowKey = (u64, u64, i64);

/// One input's rows in (group, stream, time) order.
struct Cursor {
    seg: Arc<Segment>,
    /// Block indices in (group, stream, time) order (format 1 files are in stream order).
    order: Vec<usize>,
    at: usize,
    block: DecodedBlock,
    group: u64,
    run: usize,
    row: usize,
}

impl Cursor {
    fn new(seg: Arc<Segment>) -> Result<Option<Cursor>> {
        // Format 2 files are in this order already; format 1 ones hold one stream per block,
        // in stream order, whose groups interleave.
        let mut order: Vec<usize> = (0..seg.blocks().len()).collect();
        if seg.version() == 1 {
            order.sort_by_key(|&i| {
                let b = &seg.blocks()[i];
                (b.group_id, b.min_stream, b.min_ts, i)
            });
        }
        let mut c =
            Cursor { seg, order, at: 0, block: DecodedBlock::default(), group: 0, run: 0, row: 0 };
        Ok(c.load()?.then_some(c))
    }

    /// Decodes the block at `at` (skipping empty ones); false when there is none left.
    fn load(&mut self) -> Result<bool> {
        while let Some(&i) = self.order.get(self.at) {
            self.seg.decode_columns(i, Columns::ALL, &mut self.block)?;
            if !self.block.is_empty() {
                self.group = self.seg.blocks()[i].group_id;
                (self.run, self.row) = (0, 0);
                return Ok(true);
            }
            self.at += 1;
        }
        Ok(false)
    }

    fn key(&self) -> RowKey {
        let stream = self.block.streams[self.run].stream_id;
        (self.group, stream, self.block.timestamps[self.row])
    }

    /// Moves to the next row; false at the end of the input.
    fn advance(&mut self) -> Result<bool> {
        self.row += 1;
        if self.row < self.block.len() {
            if self.row >= self.block.streams[self.run].rows.end {
                self.run += 1;
            }
            return Ok(true);
        }
        self.at += 1;
        self.load()
    }
}

/// One output segment: a UTC day's rows.
struct Output {
    id: u64,
    builder: BlockBuilder<String>,
    writer: SegmentWriter,
}

impl Output {
    /// Encodes and writes the finished blocks (on both cores).
    fn drain(&mut self, blocks: Vec<OwnedBlock<String>>) -> Result<()> {
        let inputs: Vec<_> = blocks.iter().map(OwnedBlock::input).collect();
        for (meta, bytes) in segment::encode_parallel(&inputs) {
            self.writer.append(meta, &bytes)?;
        }
        Ok(())
    }
}

/// Blocks encoded together: enough to keep both cores busy, few enough to bound memory.
const ENCODE_BATCH: usize = 4;

fn merge(
    inner: &Inner,
    inputs: Vec<Arc<Segment>>,
    created: i64,
    live: &LiveGroups,
) -> Result<CompactionReport> {
    let mut report = CompactionReport {
        merges: 1,
        inputs: inputs.len() as u64,
        bytes_read: inputs.iter().map(|s| s.file_len()).sum(),
        ..Default::default()
    };
    let rank = inputs.iter().map(|s| s.rank()).min().unwrap_or(0);
    let mut cursors = Vec::new();
    for seg in &inputs {
        if let Some(c) = Cursor::new(seg.clone())? {
            cursors.push(c);
        }
    }
    // Ties go to the lower-ranked input, so events sharing a timestamp keep their order.
    cursors.sort_by_key(|c| c.seg.rank());
    let mut heap: BinaryHeap<Reverse<(RowKey, usize)>> =
        cursors.iter().enumerate().map(|(i, c)| Reverse((c.key(), i))).collect();
    let mut outputs: BTreeMap<i64, Output> = BTreeMap::new();
    let result = (|| -> Result<()> {
        while let Some(Reverse(((group, stream, ts), i))) = heap.pop() {
            let c = &mut cursors[i];
            if live.keeps(group, stream, ts) {
                let day = ts.div_euclid(DAY_MS);
                let out = match outputs.entry(day) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        let id = inner.alloc_segment_id();
                        let writer = SegmentWriter::create(&*inner.segments, id)?;
                        let builder = BlockBuilder::new(inner.opts.block_bytes);
                        v.insert(Output { id, builder, writer })
                    }
                };
                let (row, b) = (c.row, &c.block);
                out.builder.push(group, stream, ts, b.ingestion_times[row], b.message(row).into());
                if out.builder.done_len() >= ENCODE_BATCH {
                    let done = out.builder.take_done();
                    out.drain(done)?;
                }
            } else {
                report.rows_dropped += 1;
            }
            if c.advance()? {
                heap.push(Reverse((c.key(), i)));
            }
        }
        Ok(())
    })();
    let mut written = Vec::new();
    let mut failed = result.err();
    for (_, mut out) in outputs {
        if failed.is_none() {
            let blocks = std::mem::replace(&mut out.builder, BlockBuilder::new(1)).finish();
            let finished = out.drain(blocks).and_then(|()| {
                // Names read under the state lock, released before the write and its fsync.
                let spans = out.writer.group_spans();
                let d = Description::of(&inner.state.read().catalog, spans, rank, created);
                out.writer.finish(&d.encode())
            });
            match finished {
                Ok(bytes) => written.push((out.id, bytes)),
                Err(e) => failed = Some(e),
            }
        }
    }
    let discard = |written: &[(u64, u64)]| {
        for (id, _) in written {
            let _ = inner.segments.delete(&segment::file_name(*id));
        }
    };
    if let Some(e) = failed {
        discard(&written);
        return Err(e);
    }
    // Commit: swap the inputs for the outputs in one catalog write.
    let _m = inner.maintenance.lock();
    let still_there = {
        let st = inner.state.read();
        inputs.iter().all(|s| st.segments.contains_key(&s.id()))
    };
    if !still_there {
        discard(&written);
        tracing::info!("compaction discarded: its inputs changed meanwhile");
        return Ok(CompactionReport::default());
    }
    let mut opened = Vec::new();
    for (id, bytes) in &written {
        let seg = Segment::open(&*inner.segments, *id)?.with_rank(rank);
        opened.push((Arc::new(seg), *bytes));
    }
    let w = inner.catalog_writes.lock();
    let mut cat = inner.state.read().catalog.clone();
    let input_artifacts: Vec<(u64, Vec<String>)> = cat
        .segments
        .iter()
        .filter(|e| inputs.iter().any(|s| s.id() == e.id))
        .map(|e| (e.id, e.artifacts.keys().cloned().collect()))
        .collect();
    cat.segments.retain(|e| !inputs.iter().any(|s| s.id() == e.id));
    for (seg, bytes) in &opened {
        let entry = SegmentEntry {
            id: seg.id(),
            bytes: *bytes,
            rank: Some(rank),
            created,
            artifacts: Default::default(),
        };
        cat.segments.push(entry);
    }
    inner.save_catalog(&mut cat)?;
    {
        let mut st = inner.state.write();
        st.catalog = cat;
        for s in &inputs {
            st.segments.remove(&s.id());
        }
        for (seg, _) in &opened {
            st.segments.insert(seg.id(), seg.clone());
        }
    }
    drop(w);
    for s in &inputs {
        inner.segments.delete(&segment::file_name(s.id()))?;
    }
    for (id, kinds) in input_artifacts {
        inner.delete_artifacts(id, kinds);
    }
    let removed = inputs.iter().map(|s| SegmentChange::Removed(s.id()));
    let added = opened.iter().map(|(s, _)| SegmentChange::Added(s.id()));
    inner.watchers.send(&removed.chain(added).collect::<Vec<_>>());
    report.outputs = opened.len() as u64;
    report.bytes_written = written.iter().map(|(_, b)| b).sum();
    inner.compacted_bytes.fetch_add(report.bytes_written, Ordering::Relaxed);
    tracing::debug!(?report, "compacted");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A segment of `day`, written at the end of that day.
    fn seg(id: u64, bytes: u64, day: i64) -> Facts {
        let t = day * DAY_MS + 1000;
        let created = (day + 1) * DAY_MS;
        Facts { id, rank: id, bytes, min_ts: t, max_ts: t + 10, created, old_format: false }
    }

    const P: CompactionPolicy =
        CompactionPolicy { base_bytes: 100, fan_in: 4, max_inputs: 10, cold_after_ms: 1000 };

    #[test]
    fn merges_runs_of_one_tier_within_a_day() {
        // Three small segments of day 5: not yet; the fourth makes a run.
        let mut segs: Vec<Facts> = (1..=3).map(|i| seg(i, 10, 5)).collect();
        assert_eq!(pick(&segs, &P, 0, false), None);
        segs.push(seg(4, 10, 5));
        assert_eq!(pick(&segs, &P, 0, false), Some(vec![1, 2, 3, 4]));
        // Four small segments spread over days do not merge across days.
        let spread: Vec<Facts> = (1..=4).map(|i| seg(i, 10, i as i64)).collect();
        assert_eq!(pick(&spread, &P, 0, false), None);
        // A large segment between small ones breaks the run: merging around it would reorder.
        let broken =
            vec![seg(1, 10, 5), seg(2, 10, 5), seg(3, 1000, 5), seg(4, 10, 5), seg(5, 10, 5)];
        assert_eq!(pick(&broken, &P, 0, false), None);
        // Tier 1 (100..400 bytes) runs merge like tier 0 ones.
        let t1: Vec<Facts> = (1..=4).map(|i| seg(i, 150, 5)).collect();
        assert_eq!(pick(&t1, &P, 0, false), Some(vec![1, 2, 3, 4]));
    }

    #[test]
    fn a_segment_spanning_days_breaks_the_runs_it_sits_in() {
        // Rank 2 spans days 5 and 6: merging 1, 3, 4, 5 of day 5 would move 3-5 ahead of it.
        let mut mixed = seg(2, 10, 5);
        mixed.max_ts = 6 * DAY_MS + 10;
        let mut segs = vec![seg(1, 10, 5), mixed, seg(3, 10, 5), seg(4, 10, 5), seg(5, 10, 5)];
        assert_eq!(pick(&segs, &P, 0, false), None);
        segs.push(seg(6, 10, 5));
        assert_eq!(pick(&segs, &P, 0, false), Some(vec![3, 4, 5, 6]));
        // A day it does not reach is not affected.
        let elsewhere: Vec<Facts> =
            [seg(1, 10, 7), mixed, seg(3, 10, 7), seg(4, 10, 7), seg(5, 10, 7)].into();
        assert_eq!(pick(&elsewhere, &P, 0, false), Some(vec![1, 3, 4, 5]));
        // Nor are spanning segments merged around a day's segment they overlap.
        let spans = |id: u64| Facts { id, rank: id, ..mixed };
        let around = vec![spans(1), seg(2, 10, 5), spans(3), spans(4), spans(5)];
        assert_eq!(pick(&around, &P, 0, false), None);
    }

    #[test]
    fn cold_days_merge_their_small_segments_and_full_merges_everything() {
        let segs = vec![seg(1, 10, 5), seg(2, 10, 5), seg(3, 1000, 6)];
        assert_eq!(pick(&segs, &P, 6 * DAY_MS, false), None, "day 5 just ended");
        assert_eq!(pick(&segs, &P, 6 * DAY_MS + 1000, false), Some(vec![1, 2]));
        assert_eq!(pick(&segs, &P, 0, true), Some(vec![1, 2]));
        assert_eq!(pick(&segs[2..], &P, 0, true), None, "one segment is compact already");
    }

    #[test]
    fn first_format_segments_are_always_rewritten() {
        let mut old = seg(7, 10, 5);
        old.old_format = true;
        assert_eq!(pick(&[old], &P, 0, false), Some(vec![7]));
    }

    #[test]
    fn full_compaction_folds_segments_spanning_days_into_their_days() {
        let mut mixed = seg(9, 10, 5);
        mixed.max_ts += DAY_MS; // days 5 and 6
        let segs = vec![seg(1, 10, 4), seg(2, 10, 5), mixed, seg(3, 10, 6), seg(4, 10, 7)];
        let mut got = pick(&segs, &P, 0, true).unwrap();
        got.sort_unstable();
        assert_eq!(got, [2, 3, 9]);
    }

    #[test]
    fn a_full_merge_takes_every_day_its_segments_reach() {
        // 1 spans days 5-6, 3 spans days 6-7; 2 is day 7's. Taking 1 takes 3 (day 6), and so
        // day 7's 2, ranked between them.
        let span = |id: u64, from: i64, to: i64| Facts {
            min_ts: from * DAY_MS + 1000,
            max_ts: to * DAY_MS + 1000,
            ..seg(id, 10, from)
        };
        let segs = vec![span(1, 5, 6), seg(2, 10, 7), span(3, 6, 7), seg(4, 10, 9)];
        let mut taken = pick(&segs, &P, 0, true).unwrap();
        taken.sort_unstable();
        assert_eq!(taken, [1, 2, 3]);
    }

    #[test]
    fn segments_spanning_days_form_their_own_partition() {
        let mut mixed: Vec<Facts> = (1..=4).map(|i| seg(i, 10, 5)).collect();
        for m in &mut mixed {
            m.max_ts += DAY_MS;
        }
        assert_eq!(pick(&mixed, &P, 0, false), Some(vec![1, 2, 3, 4]));
    }
}
