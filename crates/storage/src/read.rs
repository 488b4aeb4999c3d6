//! Ordered reads: a lazy k-way merge over blocks and buffered events, resumable by position.
//!
//! Every event has a place in one total order: timestamp, then stream id, then source rank
//! (a block by segment id then block index, then buffered events, oldest first), then position
//! in the source. Sealing moves buffered events into a segment newer than every other segment,
//! so the order of events already readable never changes. That is what makes a [`Position`] (a timestamp and how many
//! events at that timestamp were already returned) a stable place to resume from.
//!
//! Blocks are decoded only when the merge reaches their first timestamp, so a page of 100
//! events near the start of a long range decodes a handful of blocks, not the range.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::ops::Range;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::Arc;

use logsight_model::TimeRange;

use crate::block::DecodedBlock;
use crate::error::{Result, StorageError};
use crate::memtable::{Chunk, MemEvent};
use crate::segment::Segment;

/// Which way a read walks through time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// Where a paged read stopped: opaque to clients, stable across seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The direction the read was going.
    pub direction: Direction,
    /// Timestamp of the last event returned.
    pub timestamp: i64,
    /// How many events with that timestamp were returned so far.
    pub skip: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self.direction {
            Direction::Forward => 'f',
            Direction::Backward => 'b',
        };
        write!(f, "{d}/{}/{}", self.timestamp, self.skip)
    }
}

impl FromStr for Position {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || StorageError::InvalidArgument(format!("invalid position token {s:?}"));
        let mut parts = s.splitn(3, '/');
        let direction = match parts.next() {
            Some("f") => Direction::Forward,
            Some("b") => Direction::Backward,
            _ => return Err(bad()),
        };
        let timestamp = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        let skip = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        Ok(Position { direction, timestamp, skip })
    }
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Time range `[start, end)`.
    pub range: TimeRange,
    /// Walk direction.
    pub direction: Direction,
    /// Resume after this position (from an earlier page in the same direction).
    pub from: Option<Position>,
    /// Most events per page.
    pub limit: usize,
    /// Most message bytes per page (at least one event is always returned if there is one).
    pub max_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            range: TimeRange::ALL,
            direction: Direction::Forward,
            from: None,
            limit: 10_000,
            max_bytes: 1 << 20,
        }
    }
}

/// A stored event, as reads return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The stream it belongs to.
    pub stream: Arc<str>,
    /// Event time, epoch ms.
    pub timestamp: i64,
    /// Arrival time, epoch ms.
    pub ingestion_time: i64,
    /// The message.
    pub message: String,
}

/// One page of a read.
#[derive(Debug, Clone)]
pub struct Page {
    /// The events, in the read's direction.
    pub events: Vec<Event>,
    /// Where to resume; equal to the position sent when the page is empty.
    pub next: Option<Position>,
    /// Whether events may remain past this page.
    pub more: bool,
}

/// The wanted streams of a read: id → name, sorted by id.
pub(crate) type StreamNames = Arc<[(u64, Arc<str>)]>;

/// Something the merge reads from: one block (for each wanted stream it holds), or one
/// stream's buffered events.
#[derive(Clone)]
pub(crate) struct Source {
    pub rank: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub data: SourceData,
}

#[derive(Clone)]
pub(crate) enum SourceData {
    Block {
        seg: Arc<Segment>,
        index: usize,
        streams: StreamNames,
    },
    /// Buffered events of one stream: `rows` of a sorted chunk. `index` is the stream's
    /// place among the read's wanted streams.
    Memory {
        stream_id: u64,
        index: usize,
        stream: Arc<str>,
        events: Chunk,
        rows: Range<usize>,
    },
}

impl SourceData {
    /// The id of the one stream of a buffered source (blocks may hold several).
    fn single_stream(&self) -> u64 {
        match self {
            SourceData::Block { .. } => 0,
            SourceData::Memory { stream_id, .. } => *stream_id,
        }
    }
}

enum Rows {
    Block(Rc<DecodedBlock>),
    Memory(Arc<[MemEvent]>),
}

/// One stream's rows of an opened source, walked from `next` toward `stop`.
struct Open {
    stream_id: u64,
    stream: Arc<str>,
    rank: u64,
    rows: Rows,
    next: usize,
    stop: usize,
}

impl Open {
    fn ts(&self, i: usize) -> i64 {
        match &self.rows {
            Rows::Block(b) => b.timestamps[i],
            Rows::Memory(m) => m[i].timestamp,
        }
    }
    fn event(&self, i: usize) -> Event {
        let (ingestion_time, message) = match &self.rows {
            Rows::Block(b) => (b.ingestion_times[i], b.message(i).to_owned()),
            Rows::Memory(m) => (m[i].ingestion_time, m[i].message.to_string()),
        };
        Event { stream: self.stream.clone(), timestamp: self.ts(i), ingestion_time, message }
    }
}

/// Order key of an event; for backward reads every part is bit-inverted, which reverses the
/// order without overflow, so one min-heap serves both directions.
type Key = (i64, u64, u64, u64);

fn key(dir: Direction, ts: i64, sid: u64, rank: u64, idx: u64) -> Key {
    match dir {
        Direction::Forward => (ts, sid, rank, idx),
        Direction::Backward => (!ts, !sid, !rank, !idx),
    }
}

/// Reads one page from `sources` (already restricted to the wanted streams and range).
pub(crate) fn read_page(mut sources: Vec<Source>, opts: &ReadOptions) -> Result<Page> {
    let dir = opts.direction;
    if let Some(p) = opts.from
        && p.direction != dir
    {
        return Err(StorageError::InvalidArgument(
            "position token belongs to a read in the other direction".into(),
        ));
    }
    // Narrow the range to resume at the position's timestamp.
    let mut range = opts.range;
    if let Some(p) = opts.from {
        match dir {
            Direction::Forward => range = range.clamp_start(Some(p.timestamp)),
            Direction::Backward => {
                let end = p.timestamp.saturating_add(1);
                range.end = Some(range.end.map_or(end, |e| e.min(end)));
            }
        }
    }
    let bound = |s: &Source| match dir {
        Direction::Forward => s.min_ts,
        Direction::Backward => !s.max_ts,
    };
    sources.retain(|s| range.overlaps(s.min_ts, s.max_ts));
    // Pending sources, popped from the back in bound order.
    sources.sort_by_key(|s| Reverse((bound(s), s.data.single_stream(), s.rank)));

    let mut opened: Vec<Open> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(Key, usize)>> = BinaryHeap::new();
    let mut events = Vec::new();
    let mut bytes = 0usize;
    let (mut skip_ts, mut to_skip) = opts.from.map_or((0, 0), |p| (p.timestamp, p.skip));
    let mut last: Option<(i64, u64)> = opts.from.map(|p| (p.timestamp, p.skip));

    loop {
        // Open every source that could hold the next event in order.
        while let Some(src) = sources.last() {
            let top = heap.peek().map(|Reverse((k, _))| k.0);
            if top.is_some_and(|t| bound(src) > t) {
                break;
            }
            let src = sources.pop().expect("peeked");
            for mut o in open(src)? {
                // Restrict to the range: timestamps are sorted within a stream's rows.
                let (start, end) = (o.next, o.stop);
                let lo = start
                    + partition_point(end - start, |i| {
                        range.start.is_some_and(|s| o.ts(start + i) < s)
                    });
                let hi = start
                    + partition_point(end - start, |i| {
                        range.end.is_none_or(|e| o.ts(start + i) < e)
                    });
                let hi = hi.max(lo);
                (o.next, o.stop) = match dir {
                    Direction::Forward => (lo, hi),
                    Direction::Backward => (hi, lo),
                };
                if o.next != o.stop {
                    let i = first_index(dir, o.next);
                    heap.push(Reverse((
                        key(dir, o.ts(i), o.stream_id, o.rank, i as u64),
                        opened.len(),
                    )));
                    opened.push(o);
                }
            }
        }
        let Some(Reverse((_, at))) = heap.pop() else { break };
        let o = &mut opened[at];
        let i = first_index(dir, o.next);
        let ts = o.ts(i);
        // Resuming inside a timestamp: this run's rows at it come before any other run's
        // (the order is timestamp, stream, rank, row), so they are skipped together, found
        // by binary search: paging through a long run of one timestamp costs what paging
        // through distinct ones does.
        let skipping = to_skip > 0 && ts == skip_ts;
        let take = if skipping {
            let k = (same_ts_rows(o, dir, ts) as u64).min(to_skip);
            to_skip -= k;
            k as usize
        } else {
            1
        };
        match dir {
            Direction::Forward => o.next += take,
            Direction::Backward => o.next -= take,
        }
        if o.next != o.stop {
            let j = first_index(dir, o.next);
            heap.push(Reverse((key(dir, o.ts(j), o.stream_id, o.rank, j as u64), at)));
        }
        if skipping {
            continue;
        }
        to_skip = 0;
        skip_ts = i64::MIN;
        let ev = o.event(i);
        bytes += ev.message.len();
        last = Some(match last {
            Some((t, k)) if t == ts => (t, k + 1),
            _ => (ts, 1),
        });
        events.push(ev);
        if events.len() >= opts.limit || bytes >= opts.max_bytes {
            break;
        }
    }
    let more = !heap.is_empty() || !sources.is_empty();
    let next = last.map(|(timestamp, skip)| Position { direction: dir, timestamp, skip });
    Ok(Page { events, next, more })
}

/// How many of `o`'s remaining rows, from its next one on in the walk's direction, are at
/// `ts` (timestamps are sorted within a run).
fn same_ts_rows(o: &Open, dir: Direction, ts: i64) -> usize {
    match dir {
        Direction::Forward => {
            let n = o.stop - o.next;
            partition_point(n, |k| o.ts(o.next + k) <= ts)
        }
        Direction::Backward => {
            let n = o.next - o.stop;
            partition_point(n, |k| o.ts(o.next - 1 - k) >= ts)
        }
    }
}

/// The first index in `0..n` for which `pred` is false (`pred` must be true then false).
fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) { lo = mid + 1 } else { hi = mid }
    }
    lo
}

/// Index of the next event to take: forward walks `next` up; backward keeps `next` one past.
fn first_index(dir: Direction, next: usize) -> usize {
    match dir {
        Direction::Forward => next,
        Direction::Backward => next - 1,
    }
}

/// Opens a source: one [`Open`] per wanted stream it holds, over that stream's rows.
fn open(src: Source) -> Result<Vec<Open>> {
    match src.data {
        SourceData::Block { seg, index, streams } => {
            let mut b = DecodedBlock::default();
            seg.decode_block(index, &mut b)?;
            let b = Rc::new(b);
            let mut out = Vec::new();
            for run in &b.streams {
                if let Ok(at) = streams.binary_search_by_key(&run.stream_id, |(id, _)| *id) {
                    out.push(Open {
                        stream_id: run.stream_id,
                        stream: streams[at].1.clone(),
                        rank: src.rank,
                        rows: Rows::Block(b.clone()),
                        next: run.rows.start,
                        stop: run.rows.end,
                    });
                }
            }
            Ok(out)
        }
        SourceData::Memory { stream_id, stream, events, rows, .. } => {
            let (next, stop) = (rows.start, rows.end);
            let rows = Rows::Memory(events);
            Ok(vec![Open { stream_id, stream, rank: src.rank, rows, next, stop }])
        }
    }
}
