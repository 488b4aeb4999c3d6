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

use crate::block::{Columns, DecodedBlock};
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

/// Where a paged read stopped: a cut in the order of events, opaque to clients.
///
/// The cut lies before the event `(timestamp, stream, ordinal)`, where `ordinal` counts a
/// stream's events at one timestamp in arrival order (0 first). A forward read resumes at the
/// events at or after the cut, a backward read at the events before it, so the same cut read
/// the other way ([`Position::reversed`]) continues from the same boundary. Seals and
/// compactions keep each stream's order among equal timestamps and appends land after the
/// events already there, so a cut stays exact across all three: no event is returned twice or
/// skipped. Resuming locates the cut from block directories (decoding at most the few blocks
/// where that timestamp starts or ends), so a page costs the same however many events share
/// the timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The direction the read was going.
    pub direction: Direction,
    /// Timestamp of the cut.
    pub timestamp: i64,
    /// Stream id of the cut (ids are never reused).
    pub stream: u64,
    /// How many of that stream's events at that timestamp lie before the cut.
    pub ordinal: u64,
}

impl Position {
    /// The start of `[t, ..)` for a forward read; the end of `[.., t)` for a backward one.
    pub fn at_time(direction: Direction, t: i64) -> Self {
        Position { direction, timestamp: t, stream: 0, ordinal: 0 }
    }

    /// The position just past `ev` for a read going `direction`.
    pub fn after(direction: Direction, ev: &Event) -> Self {
        let ordinal = match direction {
            Direction::Forward => ev.ordinal + 1,
            Direction::Backward => ev.ordinal,
        };
        Position { direction, timestamp: ev.timestamp, stream: ev.stream_id, ordinal }
    }

    /// The same cut, read the other way.
    pub fn reversed(self) -> Self {
        let direction = match self.direction {
            Direction::Forward => Direction::Backward,
            Direction::Backward => Direction::Forward,
        };
        Position { direction, ..self }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self.direction {
            Direction::Forward => 'f',
            Direction::Backward => 'b',
        };
        write!(f, "{d}/{}/{}/{}", self.timestamp, self.stream, self.ordinal)
    }
}

impl FromStr for Position {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || StorageError::InvalidArgument(format!("invalid position token {s:?}"));
        let mut parts = s.split('/');
        let direction = match parts.next() {
            Some("f") => Direction::Forward,
            Some("b") => Direction::Backward,
            _ => return Err(bad()),
        };
        let timestamp = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        let stream = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        let ordinal = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Position { direction, timestamp, stream, ordinal })
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
    /// That stream's id.
    pub stream_id: u64,
    /// Event time, epoch ms.
    pub timestamp: i64,
    /// Its place among its stream's events at its timestamp, in arrival order (0 first); with
    /// the stream id and the timestamp it names the event for as long as the event is stored.
    pub ordinal: u64,
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
    /// Blocks decoded (wholly or in part) to read the page: the cost of a page, which does not
    /// grow with how deep into a run of one timestamp the page starts.
    pub blocks_decoded: usize,
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

impl Source {
    /// The lowest and highest stream id the source may hold.
    fn streams(&self) -> (u64, u64) {
        match &self.data {
            SourceData::Block { seg, index, .. } => {
                let m = &seg.blocks()[*index];
                (m.min_stream, m.max_stream)
            }
            SourceData::Memory { stream_id, .. } => (*stream_id, *stream_id),
        }
    }

    /// A bound on the order key of every event of the source: no event comes before it in
    /// the walk's direction, so the merge opens (decodes) the source only when it is due.
    fn bound(&self, dir: Direction) -> Key {
        let (lo, hi) = self.streams();
        match dir {
            Direction::Forward => (self.min_ts, lo, self.rank, 0),
            Direction::Backward => (!self.max_ts, !hi, !self.rank, 0),
        }
    }

    /// Whether every event of the source is of stream `s` at time `t`, known from its
    /// directory entry alone.
    fn only(&self, t: i64, s: u64) -> bool {
        self.min_ts == t && self.max_ts == t && self.streams() == (s, s)
    }

    /// How many events of stream `s` at time `t` the source holds. Buffered events and
    /// blocks holding only those events are counted for free; other blocks are decoded
    /// (their times only).
    fn count_at(&self, t: i64, s: u64, decoded: &mut usize) -> Result<usize> {
        let (lo, hi) = self.streams();
        if t < self.min_ts || t > self.max_ts || s < lo || s > hi {
            return Ok(0);
        }
        match &self.data {
            SourceData::Memory { events, rows, .. } => {
                let run = &events[rows.clone()];
                Ok(run.partition_point(|e| e.timestamp <= t)
                    - run.partition_point(|e| e.timestamp < t))
            }
            SourceData::Block { seg, index, .. } => {
                if self.only(t, s) {
                    return Ok(seg.blocks()[*index].count as usize);
                }
                let mut b = DecodedBlock::default();
                seg.decode_columns(*index, Columns::TIMESTAMPS, &mut b)?;
                *decoded += 1;
                Ok(b.run(s).map_or(0, |run| {
                    let ts = &b.timestamps[run.rows.clone()];
                    ts.partition_point(|&x| x <= t) - ts.partition_point(|&x| x < t)
                }))
            }
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
        Event {
            stream: self.stream.clone(),
            stream_id: self.stream_id,
            timestamp: self.ts(i),
            ordinal: 0,
            ingestion_time,
            message,
        }
    }
    /// The rows `lo..hi` (ascending indices) at timestamp `t`.
    fn rows_at(&self, lo: usize, hi: usize, t: i64) -> Range<usize> {
        let a = lo + partition_point(hi - lo, |i| self.ts(lo + i) < t);
        let b = a + partition_point(hi - a, |i| self.ts(a + i) <= t);
        a..b
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

/// Where a resumed read's cut falls among the events of its stream at its timestamp: those
/// events are ordered by source rank, then row; the cut lies `rows` rows into the source
/// ranked `rank`, or after all of them (`rank` `None`).
struct Cut {
    at: Position,
    rank: Option<u64>,
    rows: usize,
    /// How many of the stream's events at the timestamp lie before the cut (the position's
    /// ordinal, unless fewer are stored).
    before: u64,
}

impl Cut {
    /// Finds the cut of `at` among `sources`: the sources holding its stream at its timestamp,
    /// in rank order, counted until the ordinal is reached.
    fn locate(at: Position, sources: &[Source], decoded: &mut usize) -> Result<Cut> {
        let (t, s) = (at.timestamp, at.stream);
        let mut holding: Vec<&Source> = sources
            .iter()
            .filter(|src| {
                let (lo, hi) = src.streams();
                src.min_ts <= t && t <= src.max_ts && lo <= s && s <= hi
            })
            .collect();
        holding.sort_unstable_by_key(|src| src.rank);
        let mut before = 0u64;
        for src in holding {
            let n = src.count_at(t, s, decoded)? as u64;
            if before + n > at.ordinal {
                let rows = (at.ordinal - before) as usize;
                return Ok(Cut { at, rank: Some(src.rank), rows, before: at.ordinal });
            }
            before += n;
        }
        Ok(Cut { at, rank: None, rows: 0, before })
    }

    /// How many of the rows at the cut's timestamp of a stream `sid` run in the source ranked
    /// `rank` (`n` rows) lie before the cut.
    fn rows_before(&self, sid: u64, rank: u64, n: usize) -> usize {
        match sid.cmp(&self.at.stream) {
            std::cmp::Ordering::Less => n,
            std::cmp::Ordering::Greater => 0,
            std::cmp::Ordering::Equal => match self.rank {
                None => n,
                Some(r) if rank < r => n,
                Some(r) if rank == r => self.rows.min(n),
                Some(_) => 0,
            },
        }
    }

    /// Whether the source lies wholly on the side of the cut the read has passed, known from
    /// its directory entry alone (so it need not be decoded). The range already starts (ends)
    /// at the cut's timestamp.
    fn passed(&self, src: &Source) -> bool {
        let (t, s) = (self.at.timestamp, self.at.stream);
        let (lo, hi) = src.streams();
        match self.at.direction {
            // Its events from `t` on are at `t`, of streams up to `s`, and those of `s` rank
            // before the cut.
            Direction::Forward => {
                src.max_ts < t
                    || (src.max_ts == t
                        && (hi < s || (hi == s && self.rank.is_none_or(|r| src.rank < r))))
            }
            // Its events up to `t` are at `t`, of streams from `s` on, and those of `s` rank
            // after the cut.
            Direction::Backward => {
                src.min_ts > t
                    || (src.min_ts == t
                        && (lo > s || (lo == s && self.rank.is_some_and(|r| src.rank > r))))
            }
        }
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
    sources.retain(|s| range.overlaps(s.min_ts, s.max_ts));
    let mut decoded = 0;
    let cut = opts.from.map(|p| Cut::locate(p, &sources, &mut decoded)).transpose()?;
    if let Some(cut) = &cut {
        sources.retain(|s| !cut.passed(s));
    }
    // Backward pages number their last stream's events from the total at that time.
    let all = (dir == Direction::Backward).then(|| sources.clone());
    // Pending sources, popped from the back in bound order.
    sources.sort_by_key(|s| Reverse(s.bound(dir)));

    let mut opened: Vec<Open> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(Key, usize)>> = BinaryHeap::new();
    let mut events: Vec<Event> = Vec::new();
    let mut bytes = 0usize;

    loop {
        // Open every source that could hold the next event in order.
        while let Some(src) = sources.last() {
            let top = heap.peek().map(|Reverse((k, _))| *k);
            if top.is_some_and(|t| src.bound(dir) > t) {
                break;
            }
            let src = sources.pop().expect("peeked");
            if matches!(src.data, SourceData::Block { .. }) {
                decoded += 1;
            }
            for mut o in open(src)? {
                // Restrict to the range: timestamps are sorted within a stream's rows.
                let (start, end) = (o.next, o.stop);
                let mut lo = start
                    + partition_point(end - start, |i| {
                        range.start.is_some_and(|s| o.ts(start + i) < s)
                    });
                let mut hi = start
                    + partition_point(end - start, |i| {
                        range.end.is_none_or(|e| o.ts(start + i) < e)
                    });
                hi = hi.max(lo);
                // And to the events past the cut.
                if let Some(cut) = &cut {
                    let at = o.rows_at(lo, hi, cut.at.timestamp);
                    let before = cut.rows_before(o.stream_id, o.rank, at.len());
                    match dir {
                        Direction::Forward => lo = lo.max(at.start + before),
                        Direction::Backward => hi = hi.min(at.start + before).max(lo),
                    }
                }
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
        match dir {
            Direction::Forward => o.next += 1,
            Direction::Backward => o.next -= 1,
        }
        if o.next != o.stop {
            let j = first_index(dir, o.next);
            heap.push(Reverse((key(dir, o.ts(j), o.stream_id, o.rank, j as u64), at)));
        }
        let mut ev = o.event(i);
        if dir == Direction::Forward {
            // A stream's events at one timestamp come together, from the cut's on.
            ev.ordinal = match events.last() {
                Some(p) if (p.timestamp, p.stream_id) == (ev.timestamp, ev.stream_id) => {
                    p.ordinal + 1
                }
                _ => cut
                    .as_ref()
                    .filter(|c| (c.at.timestamp, c.at.stream) == (ev.timestamp, ev.stream_id))
                    .map_or(0, |c| c.before),
            };
        }
        bytes += ev.message.len();
        events.push(ev);
        if events.len() >= opts.limit || bytes >= opts.max_bytes {
            break;
        }
    }
    let more = !heap.is_empty() || !sources.is_empty();
    if let Some(all) = all {
        number_backward(&mut events, cut.as_ref(), more, &all, &mut decoded)?;
    }
    let next = events.last().map(|ev| Position::after(dir, ev)).or(opts.from);
    Ok(Page { events, next, more, blocks_decoded: decoded })
}

/// Numbers the events of a backward page, which meets each stream's events at a timestamp
/// last first: a run resumed at the cut counts down from it; a run the page holds whole
/// counts down from its length; only a run the page may have cut short (the last, when more
/// may follow) needs its stream's total at that timestamp.
fn number_backward(
    events: &mut [Event],
    cut: Option<&Cut>,
    more: bool,
    all: &[Source],
    decoded: &mut usize,
) -> Result<()> {
    let mut start = 0;
    while start < events.len() {
        let (t, s) = (events[start].timestamp, events[start].stream_id);
        let len =
            events[start..].iter().take_while(|e| (e.timestamp, e.stream_id) == (t, s)).count();
        let end = start + len;
        let top = match cut {
            Some(c) if start == 0 && (c.at.timestamp, c.at.stream) == (t, s) => c.before,
            _ if end < events.len() || !more => len as u64,
            _ => {
                let mut total = 0;
                for src in all {
                    total += src.count_at(t, s, decoded)? as u64;
                }
                total
            }
        };
        for (k, ev) in events[start..end].iter_mut().enumerate() {
            ev.ordinal = top - 1 - k as u64;
        }
        start = end;
    }
    Ok(())
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
