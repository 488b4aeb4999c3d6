//! Idempotent producers: per stream, the highest sequence acknowledged for each producer id.
//!
//! An idempotent append is refused as a duplicate when its sequence is at most the producer's
//! highest; otherwise its events and the new sequence go into one WAL record, so the mark is
//! exactly as durable as the data. WAL replay rebuilds the marks, and each seal copies them
//! into the catalog (as of the WAL rotation) before the WAL files that held them are deleted.
//!
//! **Bound:** at most [`MAX_PRODUCERS_PER_STREAM`] producers per stream. Recording a new one in
//! a full stream forgets the one updated longest ago; if that producer resends a batch, it is
//! stored again. Deleting a stream or group forgets its producers.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Most producers remembered per stream (see the module docs for what eviction means).
pub const MAX_PRODUCERS_PER_STREAM: usize = 1_000;

/// A producer's state as the catalog keeps it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ProducerMark {
    /// Highest sequence acknowledged.
    pub sequence: u64,
    /// When it was last updated, epoch ms; the least recent is evicted first.
    pub updated: i64,
}

#[derive(Debug, Clone, Copy)]
struct Live {
    mark: ProducerMark,
    /// WAL ticket of the record that set `mark.sequence` (0 once known durable): a duplicate
    /// is answered only once that record is durable.
    ticket: u64,
}

/// The marks of every live stream, by stream id then producer id.
#[derive(Debug, Default)]
pub(crate) struct Producers {
    streams: HashMap<u64, HashMap<String, Live>>,
}

impl Producers {
    /// If `sequence` is not above the producer's highest, the highest and the WAL ticket of
    /// the record that set it.
    pub(crate) fn duplicate(&self, stream: u64, id: &str, sequence: u64) -> Option<(u64, u64)> {
        let live = self.streams.get(&stream)?.get(id)?;
        (sequence <= live.mark.sequence).then_some((live.mark.sequence, live.ticket))
    }

    /// Raises the producer's mark to `sequence` (never lowers it), evicting the least recently
    /// updated other producer when the stream is over its bound.
    pub(crate) fn record(
        &mut self,
        stream: u64,
        id: &str,
        sequence: u64,
        updated: i64,
        ticket: u64,
    ) {
        let marks = self.streams.entry(stream).or_default();
        match marks.get_mut(id) {
            Some(live) => {
                if sequence >= live.mark.sequence {
                    *live = Live { mark: ProducerMark { sequence, updated }, ticket };
                }
            }
            None => {
                marks.insert(
                    id.to_owned(),
                    Live { mark: ProducerMark { sequence, updated }, ticket },
                );
            }
        }
        while marks.len() > MAX_PRODUCERS_PER_STREAM {
            let oldest = marks
                .iter()
                .filter(|(k, _)| k.as_str() != id)
                .min_by(|(ka, a), (kb, b)| (a.mark.updated, ka).cmp(&(b.mark.updated, kb)))
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => marks.remove(&k),
                None => break,
            };
        }
    }

    /// Installs a stream's marks as loaded from the catalog.
    pub(crate) fn load(&mut self, stream: u64, marks: &BTreeMap<String, ProducerMark>) {
        if !marks.is_empty() {
            let live = marks.iter().map(|(k, &mark)| (k.clone(), Live { mark, ticket: 0 }));
            self.streams.insert(stream, live.collect());
        }
    }

    /// Forgets the producers of deleted streams.
    pub(crate) fn forget(&mut self, streams: &[u64]) {
        for id in streams {
            self.streams.remove(id);
        }
    }

    /// Every stream's marks, for the catalog.
    pub(crate) fn snapshot(&self) -> HashMap<u64, BTreeMap<String, ProducerMark>> {
        self.streams
            .iter()
            .map(|(&s, marks)| (s, marks.iter().map(|(k, l)| (k.clone(), l.mark)).collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_at_or_below_the_highest_sequence() {
        let mut p = Producers::default();
        assert_eq!(p.duplicate(1, "a", 0), None);
        p.record(1, "a", 10, 100, 3);
        assert_eq!(p.duplicate(1, "a", 10), Some((10, 3)));
        assert_eq!(p.duplicate(1, "a", 4), Some((10, 3)));
        assert_eq!(p.duplicate(1, "a", 11), None);
        // Other streams and producers are independent.
        assert_eq!(p.duplicate(2, "a", 10), None);
        assert_eq!(p.duplicate(1, "b", 10), None);
        // Replaying an older record never lowers the mark.
        p.record(1, "a", 5, 200, 0);
        assert_eq!(p.duplicate(1, "a", 6), Some((10, 3)));
        p.forget(&[1]);
        assert_eq!(p.duplicate(1, "a", 10), None);
    }

    #[test]
    fn the_least_recently_updated_producer_is_evicted_at_the_bound() {
        let mut p = Producers::default();
        for i in 0..MAX_PRODUCERS_PER_STREAM {
            p.record(1, &format!("p{i}"), 1, i as i64, 0);
        }
        // p0 is refreshed, so p1 is now the least recently updated.
        p.record(1, "p0", 2, 10_000, 0);
        p.record(1, "new", 1, 10_001, 0);
        let snap = p.snapshot();
        assert_eq!(snap[&1].len(), MAX_PRODUCERS_PER_STREAM);
        assert!(!snap[&1].contains_key("p1"));
        assert!(snap[&1].contains_key("p0") && snap[&1].contains_key("new"));
        assert_eq!(p.duplicate(1, "p1", 1), None);
    }

    #[test]
    fn snapshot_and_load_round_trip() {
        let mut p = Producers::default();
        p.record(4, "a", 7, 1, 9);
        p.record(4, "b", 8, 2, 0);
        let snap = p.snapshot();
        let mut q = Producers::default();
        q.load(4, &snap[&4]);
        assert_eq!(q.snapshot(), snap);
        assert_eq!(q.duplicate(4, "a", 7), Some((7, 0)));
    }
}
