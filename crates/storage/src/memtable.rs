//! Events not yet sealed: appended here once durable in the WAL, readable at once.
//!
//! Each append's events become one immutable, timestamp-sorted chunk of their stream, so a
//! reader takes a snapshot by cloning chunk pointers: it never copies or sorts events under
//! the buffer's lock, and appenders are held up only for that pointer copy. Small chunks are
//! merged into larger ones as they arrive (stably), so a stream has about log2(events) chunks
//! and readers walk few runs per stream.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use logsight_model::TimeRange;

use crate::stats::StreamStats;

/// One buffered event. The message is shared so that reads copy a pointer, not the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemEvent {
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub message: Arc<str>,
}

impl AsRef<[u8]> for MemEvent {
    /// The message, as the block builder takes it.
    fn as_ref(&self) -> &[u8] {
        self.message.as_bytes()
    }
}

/// A run of one stream's events, sorted by timestamp (arrival order among equal ones).
pub(crate) type Chunk = Arc<[MemEvent]>;

/// A stream's buffered events: chunks in arrival order, each sorted.
#[derive(Debug, Default, Clone)]
pub(crate) struct StreamBuf {
    pub chunks: Vec<Chunk>,
    /// What the buffer holds, kept as events arrive.
    pub stats: StreamStats,
}

impl StreamBuf {
    fn push(&mut self, mut events: Vec<MemEvent>) {
        events.sort_by_key(|e| e.timestamp); // stable: arrival order among equal timestamps
        for e in &events {
            self.stats.add_event(e.timestamp, e.ingestion_time, e.message.len());
        }
        self.chunks.push(events.into());
        // Like a binary counter: merge the newest chunk into the one before while it is at
        // least half that size, so sizes halve from oldest to newest, a stream has about
        // log2(events) chunks, and each event is merged about log2 times in all.
        while let [.., older, newer] = self.chunks.as_slice()
            && newer.len() * 2 >= older.len()
        {
            let merged: Chunk = merge_chunks(&self.chunks[self.chunks.len() - 2..]).into();
            self.chunks.truncate(self.chunks.len() - 2);
            self.chunks.push(merged);
        }
    }

    /// The stream's events in timestamp order (arrival order among equal ones).
    pub(crate) fn sorted(&self) -> Vec<MemEvent> {
        merge_chunks(&self.chunks)
    }
}

/// The rows of a sorted chunk within `range`.
pub(crate) fn rows_in(chunk: &[MemEvent], range: TimeRange) -> Range<usize> {
    let lo = range.start.map_or(0, |s| chunk.partition_point(|e| e.timestamp < s));
    let hi = range.end.map_or(chunk.len(), |end| chunk.partition_point(|e| e.timestamp < end));
    lo..hi.max(lo)
}

/// Merges sorted chunks into one sorted run; ties keep chunk order.
fn merge_chunks(chunks: &[Chunk]) -> Vec<MemEvent> {
    let mut out: Vec<MemEvent> = chunks.iter().flat_map(|c| c.iter().cloned()).collect();
    // A stable sort of concatenated sorted runs is a merge (the standard library detects the
    // runs), and keeps earlier chunks first among equal timestamps.
    out.sort_by_key(|e| e.timestamp);
    out
}

/// All buffered events of one generation of the WAL.
#[derive(Debug, Clone)]
pub(crate) struct MemTable {
    pub streams: HashMap<u64, StreamBuf>,
    pub raw_bytes: usize,
    pub events: usize,
    pub created: Instant,
}

impl Default for MemTable {
    fn default() -> Self {
        MemTable { streams: HashMap::new(), raw_bytes: 0, events: 0, created: Instant::now() }
    }
}

impl MemTable {
    pub(crate) fn insert(&mut self, stream_id: u64, events: impl IntoIterator<Item = MemEvent>) {
        let events: Vec<MemEvent> = events.into_iter().collect();
        if events.is_empty() {
            return;
        }
        if self.events == 0 {
            self.created = Instant::now();
        }
        self.raw_bytes += events.iter().map(|e| e.message.len()).sum::<usize>();
        self.events += events.len();
        self.streams.entry(stream_id).or_default().push(events);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events == 0
    }

    pub(crate) fn remove_stream(&mut self, stream_id: u64) {
        if let Some(buf) = self.streams.remove(&stream_id) {
            self.events -= buf.stats.events as usize;
            self.raw_bytes -= buf.stats.raw_bytes as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, m: &str) -> MemEvent {
        MemEvent { timestamp: ts, ingestion_time: 0, message: m.into() }
    }

    fn order(events: &[MemEvent]) -> Vec<&str> {
        events.iter().map(|e| &*e.message).collect()
    }

    #[test]
    fn out_of_order_inserts_sort_stably() {
        let mut mt = MemTable::default();
        mt.insert(1, [ev(5, "a"), ev(3, "b"), ev(5, "c"), ev(3, "d")]);
        mt.insert(1, [ev(3, "e")]);
        let buf = &mt.streams[&1];
        assert_eq!(order(&buf.sorted()), ["b", "d", "e", "a", "c"]);
        let (first, second) = (&buf.chunks[0], &buf.chunks[1]);
        assert_eq!(rows_in(first, TimeRange::new(Some(4), None)), 2..4);
        assert!(rows_in(second, TimeRange::new(Some(4), None)).is_empty());
        assert_eq!(rows_in(first, TimeRange::new(Some(3), Some(4))), 0..2);
        assert!(rows_in(first, TimeRange::new(Some(6), Some(4))).is_empty());
        assert_eq!((mt.events, mt.raw_bytes), (5, 5));
        mt.remove_stream(1);
        assert!(mt.is_empty() && mt.raw_bytes == 0);
    }

    #[test]
    fn many_small_appends_are_merged_in_arrival_order() {
        let mut mt = MemTable::default();
        for i in 0..40 {
            mt.insert(7, [ev(100 - (i % 3), &format!("{i}"))]);
        }
        let buf = &mt.streams[&7];
        assert!(buf.chunks.len() <= 6, "{} chunks", buf.chunks.len());
        let all = buf.sorted();
        assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        // Among equal timestamps, arrival order.
        let at_100: Vec<usize> =
            all.iter().filter(|e| e.timestamp == 100).map(|e| e.message.parse().unwrap()).collect();
        assert!(at_100.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(buf.stats.events, 40);
    }
}
