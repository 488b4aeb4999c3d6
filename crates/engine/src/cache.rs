//! A bounded cache of decoded block parts, shared by every query over one store.
//!
//! Reading a sealed block's timestamps means checking the CRC of the whole block and
//! decompressing its time column; reading a JSON field column means a CRC, a zstd frame and
//! a cell decode. Someone exploring one time range repeats that work on every run: on the
//! 2,000,000-event JSON group of `benches/compare_duckdb.py` it was about 55% of the CPU of
//! `filter level = "ERROR" | stats count(*) by bin(5m)`. The cache keeps those decoded
//! parts, keyed by segment and block.
//!
//! Why it can never serve stale or unverified data:
//! - segments are immutable and a store never reuses a segment id while it is open, so a
//!   key always names the same bytes (a merged-away segment's entries are simply no longer
//!   asked for, and age out);
//! - an entry is inserted only after its decode passed every check (block CRC, column CRC,
//!   row counts), so what it serves was verified when it was read;
//! - JSON columns are derived from their segment deterministically, so a rebuilt artifact
//!   holds what a cached column of the old one held.
//!
//! Bounded by bytes (`quick_cache`, S3-FIFO eviction): a scan of more than fits only keeps
//! cycling entries, so a cold scan costs what it cost without the cache plus an insert per
//! block. The bytes are the server's, not a query's: they do not count against a query's
//! memory budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use logsight_storage::{DecodedBlock, StreamRun};

use crate::bins::{BinIds, BinSpec};
use crate::source::ColumnData;

/// The default bound of a server's cache.
pub const DEFAULT_BLOCK_CACHE_BYTES: u64 = 256 << 20;

/// Which part of a block an entry holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    /// Stream runs and timestamps.
    Times,
    /// One JSON field's column, by flattened name.
    Field(Arc<str>),
    /// Every row's bin for one `bin(...)`.
    Bins(BinSpec),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    segment: u64,
    block: u32,
    part: Part,
}

#[derive(Clone)]
enum Entry {
    Times(Arc<DecodedBlock>),
    Field(Arc<ColumnData>),
    /// `None`: the block spans too many bins to have them.
    Bins(Option<Arc<BinIds>>),
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<Key, Entry> for Weigh {
    fn weight(&self, key: &Key, entry: &Entry) -> u64 {
        let key = match &key.part {
            Part::Times | Part::Bins(_) => 0,
            Part::Field(name) => name.len(),
        };
        let value = match entry {
            Entry::Times(block) => {
                block.timestamps.capacity() * 8
                    + block.streams.capacity() * std::mem::size_of::<StreamRun>()
            }
            Entry::Field(column) => column.heap_bytes(),
            Entry::Bins(bins) => bins.as_ref().map_or(0, |b| b.heap_bytes()),
        };
        (64 + key + value) as u64
    }
}

/// Decoded block parts, bounded by bytes. Cloning shares the cache.
#[derive(Clone)]
pub struct BlockCache {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    cache: quick_cache::sync::Cache<Key, Entry, Weigh>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => write!(f, "BlockCache(off)"),
            Some(i) => {
                write!(f, "BlockCache({} of {} bytes)", i.cache.weight(), i.cache.capacity())
            }
        }
    }
}

/// Hits and misses so far, and the bytes held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that decoded.
    pub misses: u64,
    /// Estimated bytes held.
    pub bytes: u64,
}

/// Roughly how many bytes an entry takes (sizes the table up front).
const TYPICAL_ENTRY: u64 = 256 << 10;

impl BlockCache {
    /// A cache holding at most about `bytes` of decoded parts; `0` turns it off.
    pub fn new(bytes: u64) -> BlockCache {
        if bytes == 0 {
            return BlockCache::off();
        }
        let items = (bytes / TYPICAL_ENTRY).clamp(16, 1 << 16) as usize;
        let cache = quick_cache::sync::Cache::with_weighter(items, bytes, Weigh);
        BlockCache {
            inner: Some(Arc::new(Inner {
                cache,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })),
        }
    }

    /// No cache: every read decodes.
    pub fn off() -> BlockCache {
        BlockCache { inner: None }
    }

    /// Whether it keeps anything.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Hits, misses and bytes held.
    pub fn stats(&self) -> CacheStats {
        self.inner.as_ref().map_or_else(CacheStats::default, |i| CacheStats {
            hits: i.hits.load(Ordering::Relaxed),
            misses: i.misses.load(Ordering::Relaxed),
            bytes: i.cache.weight(),
        })
    }

    /// Block `block` of segment `segment`'s runs and timestamps, decoded by `decode` on a
    /// miss (and kept only if it succeeds).
    pub(crate) fn times<E>(
        &self,
        segment: u64,
        block: usize,
        decode: impl FnOnce() -> Result<DecodedBlock, E>,
    ) -> Result<Arc<DecodedBlock>, E> {
        let key = Key { segment, block: block as u32, part: Part::Times };
        let got = self.get_or(key, || decode().map(|b| Entry::Times(Arc::new(b))))?;
        match got {
            Entry::Times(b) => Ok(b),
            _ => unreachable!("a Times key holds a Times entry"),
        }
    }

    /// One JSON field's column of a block, decoded by `decode` on a miss.
    pub(crate) fn field<E>(
        &self,
        segment: u64,
        block: usize,
        name: &str,
        decode: impl FnOnce() -> Result<ColumnData, E>,
    ) -> Result<Arc<ColumnData>, E> {
        let key = Key { segment, block: block as u32, part: Part::Field(Arc::from(name)) };
        let got = self.get_or(key, || decode().map(|c| Entry::Field(Arc::new(c))))?;
        match got {
            Entry::Field(c) => Ok(c),
            _ => unreachable!("a Field key holds a Field entry"),
        }
    }

    /// The bins of block `block` of segment `segment`'s rows for `bin`, computed by `make`
    /// on a miss; `None` when the block spans too many.
    pub(crate) fn bins(
        &self,
        segment: u64,
        block: usize,
        bin: BinSpec,
        make: impl FnOnce() -> Option<BinIds>,
    ) -> Option<Arc<BinIds>> {
        let key = Key { segment, block: block as u32, part: Part::Bins(bin) };
        let got = self
            .get_or(key, || Ok::<_, std::convert::Infallible>(Entry::Bins(make().map(Arc::new))));
        match got {
            Ok(Entry::Bins(b)) => b,
            _ => unreachable!("a Bins key holds a Bins entry"),
        }
    }

    fn get_or<E>(&self, key: Key, make: impl FnOnce() -> Result<Entry, E>) -> Result<Entry, E> {
        let Some(inner) = &self.inner else { return make() };
        if let Some(e) = inner.cache.get(&key) {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(e);
        }
        inner.misses.fetch_add(1, Ordering::Relaxed);
        // Two workers missing the same key both decode; the second insert replaces the
        // first with equal contents. Cheaper than holding a placeholder across a decode.
        let e = make()?;
        inner.cache.insert(key, e.clone());
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(n: usize) -> DecodedBlock {
        let mut b = DecodedBlock::default();
        b.timestamps = (0..n as i64).collect();
        b
    }

    #[test]
    fn hits_after_a_miss_and_failed_decodes_are_not_kept() {
        let cache = BlockCache::new(1 << 20);
        let a = cache.times(7, 0, || Ok::<_, ()>(times(10))).unwrap();
        let b = cache.times(7, 0, || -> Result<DecodedBlock, ()> { panic!("decoded twice") });
        assert!(Arc::ptr_eq(&a, &b.unwrap()));
        assert_eq!(cache.times(7, 1, || Err::<DecodedBlock, _>("corrupt")).unwrap_err(), "corrupt");
        let c = cache.times(7, 1, || Ok::<_, ()>(times(3))).unwrap();
        assert_eq!(c.timestamps.len(), 3, "a failed decode left nothing behind");
        let s = cache.stats();
        assert_eq!((s.hits, s.misses), (1, 3));
        assert!(s.bytes > 0);
    }

    #[test]
    fn parts_of_one_block_are_distinct_keys() {
        let cache = BlockCache::new(1 << 20);
        let a = cache.times(1, 2, || Ok::<_, ()>(times(5))).unwrap();
        let b = cache.times(2, 2, || Ok::<_, ()>(times(6))).unwrap();
        let c = cache.times(1, 3, || Ok::<_, ()>(times(7))).unwrap();
        assert_eq!((a.timestamps.len(), b.timestamps.len(), c.timestamps.len()), (5, 6, 7));
    }

    #[test]
    fn stays_within_its_bound() {
        let cache = BlockCache::new(1 << 20);
        for block in 0..200 {
            // About 80 KiB each: 200 of them are 16 MiB, sixteen times the bound.
            cache.times(1, block, || Ok::<_, ()>(times(10_000))).unwrap();
        }
        assert!(cache.stats().bytes <= 1 << 20, "{:?}", cache.stats());
    }

    #[test]
    fn off_decodes_every_time() {
        let cache = BlockCache::off();
        let mut n = 0;
        for _ in 0..3 {
            cache
                .times(1, 0, || {
                    n += 1;
                    Ok::<_, ()>(times(1))
                })
                .unwrap();
        }
        assert_eq!(n, 3);
        assert_eq!(cache.stats(), CacheStats::default());
    }
}
