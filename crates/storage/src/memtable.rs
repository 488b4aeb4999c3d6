//! Events not yet sealed: appended here once durable in the WAL, readable at once.

use std::collections::HashMap;
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

/// A stream's buffered events. Appends are usually in timestamp order; when one is not, the
/// buffer is marked unsorted and sorted (stably, keeping arrival order among equal timestamps)
/// before the next read or seal.
#[derive(Debug, Default)]
pub(crate) struct StreamBuf {
    pub events: Vec<MemEvent>,
    sorted: bool,
    /// What the buffer holds, kept as events arrive.
    pub stats: StreamStats,
}

impl StreamBuf {
    pub(crate) fn ensure_sorted(&mut self) {
        if !self.sorted {
            self.events.sort_by_key(|e| e.timestamp);
            self.sorted = true;
        }
    }

    /// The sorted events within `range`.
    pub(crate) fn range(&self, range: TimeRange) -> &[MemEvent] {
        debug_assert!(self.sorted);
        let lo = range.start.map_or(0, |s| self.events.partition_point(|e| e.timestamp < s));
        let hi = range
            .end
            .map_or(self.events.len(), |end| self.events.partition_point(|e| e.timestamp < end));
        &self.events[lo..hi.max(lo)]
    }
}

/// All buffered events of one generation of the WAL.
#[derive(Debug)]
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
        if self.events == 0 {
            self.created = Instant::now();
        }
        let buf = self
            .streams
            .entry(stream_id)
            .or_insert_with(|| StreamBuf { sorted: true, ..Default::default() });
        for e in events {
            if buf.events.last().is_some_and(|last| last.timestamp > e.timestamp) {
                buf.sorted = false;
            }
            self.raw_bytes += e.message.len();
            self.events += 1;
            buf.stats.add_event(e.timestamp, e.ingestion_time, e.message.len());
            buf.events.push(e);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.events == 0
    }

    pub(crate) fn sort_all(&mut self) {
        self.streams.values_mut().for_each(StreamBuf::ensure_sorted);
    }

    pub(crate) fn remove_stream(&mut self, stream_id: u64) {
        if let Some(buf) = self.streams.remove(&stream_id) {
            self.events -= buf.events.len();
            self.raw_bytes -= buf.events.iter().map(|e| e.message.len()).sum::<usize>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, m: &str) -> MemEvent {
        MemEvent { timestamp: ts, ingestion_time: 0, message: m.into() }
    }

    #[test]
    fn out_of_order_inserts_sort_stably() {
        let mut mt = MemTable::default();
        mt.insert(1, [ev(5, "a"), ev(3, "b"), ev(5, "c"), ev(3, "d")]);
        let buf = mt.streams.get_mut(&1).unwrap();
        buf.ensure_sorted();
        let order: Vec<&str> = buf.events.iter().map(|e| &*e.message).collect();
        assert_eq!(order, ["b", "d", "a", "c"]);
        assert_eq!(buf.range(TimeRange::new(Some(4), None)).len(), 2);
        assert_eq!(buf.range(TimeRange::new(Some(3), Some(4))).len(), 2);
        assert_eq!(buf.range(TimeRange::new(Some(6), Some(4))).len(), 0);
        assert_eq!((mt.events, mt.raw_bytes), (4, 4));
        mt.remove_stream(1);
        assert!(mt.is_empty() && mt.raw_bytes == 0);
    }
}
