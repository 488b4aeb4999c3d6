//! Every row's time bin in a sealed block, for one `bin(...)`, kept in the block cache.
//!
//! A `stats ... by bin(5m)` needs each selected row's timestamp only to find its bin. When
//! a filter selects a few rows of each stream run (2% for `level = "ERROR"`), those reads
//! land at random in 8 bytes a row of timestamps: on the 2,000,000-event JSON group of
//! `benches/compare_duckdb.py` the query either missed the cache on each one or streamed
//! all 16 MB of timestamps through it first (the faster of the two). A block spans few
//! bins, so its rows' bins fit one byte each: the same reads touch an eighth of the memory.
//! With the rows of each bin counted once per block, a `count(*)` over whole blocks reads
//! none at all.
//!
//! The bins are derived from the block's verified timestamps with the row path's own
//! `floor_to` and `next_bin`, so they are the bins the row path computes.

use logsight_query_lang::insights::Period;

use crate::functions::{floor_to, next_bin};

/// A `bin(period)` with its offset in milliseconds, as the kernels take it.
pub(crate) type BinSpec = (Period, i64);

/// The most bins a block may span to be given [`BinIds`] (one byte a row).
const MAX_BINS: usize = 256;

/// The bin of every row of a block, as an index into the bins' start times.
#[derive(Debug)]
pub(crate) struct BinIds {
    /// Each bin's start (the row path's `bin()` value), in order of first appearance.
    starts: Vec<i64>,
    /// Rows in each bin, over the whole block.
    counts: Vec<u64>,
    /// Each row's bin.
    ids: Vec<u8>,
}

impl BinIds {
    /// The bins of rows with timestamps `timestamps` (ascending within each stream's
    /// run); `None` when they span more than [`MAX_BINS`] bins.
    pub(crate) fn new(timestamps: &[i64], (p, off): BinSpec) -> Option<BinIds> {
        let mut starts: Vec<i64> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        let mut ids = Vec::with_capacity(timestamps.len());
        let (mut lo, mut hi, mut id) = (i64::MAX, i64::MIN, 0usize);
        for &t in timestamps {
            if t < lo || t >= hi {
                lo = floor_to(t - off, p) + off;
                hi = next_bin(lo - off, p) + off;
                id = match starts.iter().position(|&s| s == lo) {
                    Some(at) => at,
                    None if starts.len() == MAX_BINS => return None,
                    None => {
                        starts.push(lo);
                        counts.push(0);
                        starts.len() - 1
                    }
                };
            }
            counts[id] += 1;
            ids.push(id as u8);
        }
        Some(BinIds { starts, counts, ids })
    }

    /// Row `row`'s bin.
    pub(crate) fn id(&self, row: u32) -> u8 {
        self.ids[row as usize]
    }

    /// Bin `id`'s start.
    pub(crate) fn start(&self, id: u8) -> i64 {
        self.starts[id as usize]
    }

    /// Each bin's start and its rows in the whole block.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.starts.iter().copied().zip(self.counts.iter().copied())
    }

    /// Rows it covers.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Estimated heap bytes (the cache's weight).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ids.capacity() + self.starts.capacity() * 16
    }
}

#[cfg(test)]
mod tests {
    use logsight_query_lang::insights::TimeUnit;
    use proptest::prelude::*;

    use super::*;

    fn period(amount: u64, unit: TimeUnit) -> Period {
        Period { amount, unit }
    }

    proptest! {
        /// Each row's bin is the one the row path computes, and the counts add up.
        #[test]
        fn every_row_gets_the_row_paths_bin(
            runs in proptest::collection::vec(
                (0i64..3_600_000, proptest::collection::vec(0i64..20_000, 0..60)),
                0..6,
            ),
            which in 0usize..4,
            off in -30_000i64..30_000,
        ) {
            let p = [
                period(1, TimeUnit::Second),
                period(5, TimeUnit::Minute),
                period(1, TimeUnit::Hour),
                period(1, TimeUnit::Month),
            ][which];
            // Runs ascending in time each, as a block's stream runs are.
            let mut ts = Vec::new();
            for (start, steps) in &runs {
                let mut t = 1_714_521_600_000 + start;
                for s in steps {
                    t += s;
                    ts.push(t);
                }
            }
            let Some(bins) = BinIds::new(&ts, (p, off)) else {
                // Only a block spanning more bins than ids goes without.
                let distinct: std::collections::HashSet<i64> =
                    ts.iter().map(|&t| floor_to(t - off, p) + off).collect();
                prop_assert!(distinct.len() > MAX_BINS);
                return Ok(());
            };
            prop_assert_eq!(bins.len(), ts.len());
            for (r, &t) in ts.iter().enumerate() {
                prop_assert_eq!(bins.start(bins.id(r as u32)), floor_to(t - off, p) + off);
            }
            for (start, n) in bins.counts() {
                let want = ts.iter().filter(|&&t| floor_to(t - off, p) + off == start).count();
                prop_assert_eq!(n, want as u64);
            }
        }
    }

    #[test]
    fn a_block_spanning_too_many_bins_has_none() {
        let ts: Vec<i64> = (0..=MAX_BINS as i64).map(|i| i * 1000).collect();
        assert!(BinIds::new(&ts, (period(1, TimeUnit::Second), 0)).is_none());
        assert!(BinIds::new(&ts[1..], (period(1, TimeUnit::Second), 0)).is_some());
    }
}
