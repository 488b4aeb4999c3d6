//! The store: one data directory, its catalog, WAL, buffered events and segments.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender};
use parking_lot::{Condvar, Mutex, RwLock};

use logsight_model::{LogEvent, LogGroupName, LogStreamName, ProducerId, RetentionDays, TimeRange};

use crate::catalog::{Catalog, CatalogChange, GroupEntry, SegmentEntry, StreamEntry};
use crate::clock::{Clock, SystemClock};
use crate::describe::Description;
use crate::directory::{Directory, MmapDirectory};
use crate::error::{IoContext, Result, StorageError};
use crate::fsutil::Perms;
use crate::layout::{BlockBuilder, OwnedBlock};
use crate::memtable::{MemEvent, MemTable};
use crate::producers::{ProducerMark, Producers};
use crate::read::{Page, ReadOptions};
use crate::scan::ScanPlan;
use crate::segment::{self, BlockInput, BlockMeta, Segment};
use crate::stats::StreamStats;
use crate::wal::{self, Wal, WalRecord};

mod artifacts;
mod background;
mod committed;
mod compact;
mod derive;
#[cfg(test)]
mod disk_full;
mod open;
mod repair;
mod retention;
mod seal;
mod snapshot;
mod verify;
pub use artifacts::{ArtifactKind, SegmentChange};
pub use committed::{CommittedBatch, CommittedEvent, Lsn};
pub use compact::{CompactionPolicy, CompactionReport};
pub use derive::{Derivation, DeriveError, DeriveReport, DeriveStats, Deriver};
pub use repair::RepairReport;
pub use snapshot::Snapshot;

use background::{background_loop, compaction_loop};
use open::DirLock;
use retention::{LiveGroups, rewrite_segments};
use seal::{Checkpoint, seal};
pub use verify::VerifyReport;

/// Tuning of a [`Store`]. The defaults suit a server; tests shrink the thresholds.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Seal buffered events into a segment once they reach this many message bytes.
    pub seal_bytes: usize,
    /// Seal buffered events once the oldest has waited this long.
    pub seal_age: Duration,
    /// Appenders wait (backpressure) while this many message bytes are buffered, so memory
    /// stays bounded when ingest outruns sealing.
    pub max_buffer_bytes: usize,
    /// Target message bytes per block. Larger blocks compress better; smaller ones let reads
    /// skip more precisely.
    pub block_bytes: usize,
    /// Fsync the WAL before acknowledging appends. Only tests of other things turn it off.
    pub sync: bool,
    /// Run the background sealer and retention thread.
    pub background: bool,
    /// The clock used for retention.
    pub clock: Arc<dyn Clock>,
    /// When segments are merged (see `compact`).
    pub compaction: CompactionPolicy,
    /// Merge segments in the background (with `background`).
    pub background_compaction: bool,
    /// Where segment files are kept. `None`: `DIR/segments` on disk, memory-mapped.
    pub segments: Option<Arc<dyn Directory>>,
    /// Modes of the files and directories the store creates.
    pub perms: Perms,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            seal_bytes: 32 << 20,
            seal_age: Duration::from_secs(300),
            max_buffer_bytes: 64 << 20,
            block_bytes: 1 << 20,
            sync: true,
            background: true,
            clock: Arc::new(SystemClock),
            compaction: CompactionPolicy::default(),
            background_compaction: true,
            segments: None,
            perms: Perms::default(),
        }
    }
}

/// The producer of an idempotent append: who sent the batch, and the batch's place in that
/// producer's sequence. Sequences must grow from batch to batch (gaps are fine).
#[derive(Debug, Clone, Copy)]
pub struct Producer<'a> {
    /// The producer's id.
    pub id: &'a ProducerId,
    /// This batch's sequence number.
    pub sequence: u64,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events are stored durably.
    Appended,
    /// The producer's batch with this sequence (or a later one) was stored already, so
    /// nothing was written. A caller retrying after a lost acknowledgement treats this as
    /// success.
    Duplicate {
        /// The producer's highest stored sequence.
        last_sequence: u64,
    },
}

/// A log group as the catalog and statistics describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Name.
    pub name: String,
    /// Creation time, epoch ms.
    pub creation_time: i64,
    /// Retention, if any.
    pub retention_days: Option<u32>,
    /// Number of streams.
    pub streams: usize,
    /// Events stored.
    pub events: u64,
    /// Message bytes stored.
    pub raw_bytes: u64,
    /// Bytes on disk for the group's sealed events (blocks, their directory entries, and a share
    /// of each segment's header and footer).
    pub stored_bytes: u64,
    /// Sealed blocks.
    pub blocks: u64,
    /// Segments holding at least one of the group's blocks.
    pub segments: u64,
    /// Message bytes of events not sealed yet (in the write-ahead log and the buffer, so in
    /// no segment's `stored_bytes`).
    pub buffered_bytes: u64,
}

/// A log stream as the catalog and statistics describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Name.
    pub name: String,
    /// Creation time, epoch ms.
    pub creation_time: i64,
    /// Earliest event timestamp.
    pub first_event_timestamp: Option<i64>,
    /// Latest event timestamp.
    pub last_event_timestamp: Option<i64>,
    /// Latest ingestion time.
    pub last_ingestion_time: Option<i64>,
    /// Events stored.
    pub events: u64,
    /// Message bytes stored.
    pub raw_bytes: u64,
    /// Bytes on disk for the stream's sealed events.
    pub stored_bytes: u64,
    /// Sealed blocks.
    pub blocks: u64,
}

/// A page of a group's streams, in name order ([`Store::streams_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPage {
    /// The streams.
    pub streams: Vec<StreamInfo>,
    /// Whether more streams follow the last one.
    pub more: bool,
}

/// Store-wide figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Live segments.
    pub segments: u64,
    /// Blocks in them.
    pub blocks: u64,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of WAL files.
    pub wal_bytes: u64,
    /// Events buffered, not yet sealed.
    pub buffered_events: u64,
    /// Segments that failed their checks on open and are not served.
    pub damaged_segments: Vec<String>,
    /// What recovery found lost or damaged in the write-ahead log at open: damaged byte ranges
    /// and the LSNs of the records lost in them, and records missing.
    pub wal_losses: Vec<String>,
    /// Bytes written by seals since the store was opened.
    pub sealed_bytes: u64,
    /// Bytes written by compactions since the store was opened: with `sealed_bytes`, the
    /// write amplification is `(sealed + compacted) / sealed`.
    pub compacted_bytes: u64,
}

/// One live segment, as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its id (the file is `segments/<id:016x>.seg`).
    pub id: u64,
    /// File size.
    pub bytes: u64,
    /// Blocks.
    pub blocks: u64,
    /// Events (of every stream, deleted ones included until compaction drops them).
    pub events: u64,
    /// Earliest and latest event timestamps.
    pub min_ts: i64,
    /// Latest event timestamp.
    pub max_ts: i64,
    /// The UTC day (days since the epoch) all its events fall in, if they do.
    pub partition_day: Option<i64>,
    /// File format version.
    pub format: u32,
}

struct State {
    catalog: Catalog,
    /// stream id → (group, stream) for the live streams.
    names: HashMap<u64, (Arc<str>, Arc<str>)>,
    /// stream id → group id for the live streams.
    group_of: HashMap<u64, u64>,
    segments: BTreeMap<u64, Arc<Segment>>,
    /// Sealing in progress: buffered events already out of the active table.
    frozen: Option<Arc<MemTable>>,
    damaged: Vec<String>,
    wal_losses: Vec<String>,
}

impl State {
    /// Applies a logged catalog change, keeping the name maps in step; returns the ids of the
    /// streams it removed.
    fn apply_change(&mut self, lsn: u64, change: CatalogChange) -> Vec<u64> {
        let applied = self.catalog.apply(lsn, change);
        for a in applied.added {
            self.names.insert(a.id, (a.group.into(), a.name.into()));
            self.group_of.insert(a.id, a.group_id);
        }
        for id in &applied.removed {
            self.names.remove(id);
            self.group_of.remove(id);
        }
        applied.removed
    }

    fn rebuild_names(&mut self) {
        self.names.clear();
        self.group_of.clear();
        for (g, group) in &self.catalog.groups {
            let name: Arc<str> = g.as_str().into();
            for (s, entry) in &group.streams {
                self.names.insert(entry.id, (name.clone(), s.as_str().into()));
                self.group_of.insert(entry.id, group.id);
            }
        }
    }

    /// What the segments hold of each stream, summed (a damaged segment's part is left out).
    fn sealed_stats(&self, ids: &HashSet<u64>) -> HashMap<u64, StreamStats> {
        let mut out: HashMap<u64, StreamStats> = HashMap::new();
        for seg in self.segments.values() {
            match seg.stream_stats() {
                Ok(stats) => {
                    for (id, s) in stats.iter().filter(|(id, _)| ids.contains(id)) {
                        out.entry(*id).or_default().merge(s);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "statistics leave out a damaged segment"),
            }
        }
        if let Some(frozen) = &self.frozen {
            add_buffered(&mut out, frozen, ids);
        }
        out
    }
}

/// Adds a buffer's streams in `ids` to `out`.
fn add_buffered(out: &mut HashMap<u64, StreamStats>, mt: &MemTable, ids: &HashSet<u64>) {
    for (id, buf) in mt.streams.iter().filter(|(id, _)| ids.contains(id)) {
        out.entry(*id).or_default().merge(&buf.stats);
    }
}

struct Inner {
    dir: PathBuf,
    opts: StoreOptions,
    segments: Arc<dyn Directory>,
    wal: Wal,
    /// Appends hold it shared for WAL write plus buffer insert; a seal holds it exclusively to
    /// rotate the WAL and swap the buffer, so each WAL file's batches are in exactly one buffer.
    gate: RwLock<()>,
    active: Mutex<MemTable>,
    room: Condvar,
    /// Idempotent producers' marks. An append checks and raises a mark and queues its WAL
    /// record under this lock, so racing batches of one producer are ordered and only one of
    /// them passes.
    producers: Mutex<Producers>,
    state: RwLock<State>,
    /// Serialises seals, segment rewrites and the commits of compactions, which all replace
    /// the segment list.
    maintenance: Mutex<()>,
    /// Orders catalog changes: logged ones (their WAL order is their apply order) and the
    /// checkpoints that rewrite the file from a copy (no change may land between the copy
    /// and its install).
    catalog_writes: Mutex<()>,
    /// Logged catalog changes since the last seal: enough of them, or old enough, make a seal
    /// due even with no events buffered, so the WAL does not keep them forever.
    unsaved_changes: AtomicU64,
    last_seal: Mutex<std::time::Instant>,
    /// Who follows segment changes (builders of derived artifacts).
    watchers: artifacts::Watchers,
    /// The next segment id; the catalog saves it, and files with ids it never saved are
    /// orphans of a crash.
    next_segment: AtomicU64,
    /// Bytes written by seals and by compactions since open: their ratio is the write
    /// amplification.
    sealed_bytes: AtomicU64,
    compacted_bytes: AtomicU64,
    /// A seal whose write failed (a full disk): retried before any later seal, so the WAL
    /// checkpoint never moves past its events.
    unsealed: Mutex<Option<UnsealedBuffer>>,
    /// Test seam: this many seals fail with ENOSPC before writing anything.
    #[cfg(test)]
    fail_seals: AtomicU64,
    _lock: DirLock,
}

/// A frozen buffer not yet in a segment, and what its seal commits.
struct UnsealedBuffer {
    frozen: Arc<MemTable>,
    checkpoint: Checkpoint,
    marks: HashMap<u64, BTreeMap<String, ProducerMark>>,
}

impl Inner {
    fn alloc_segment_id(&self) -> u64 {
        self.next_segment.fetch_add(1, Ordering::Relaxed)
    }

    /// Persists `cat` (the commit point of whatever changed it) with the segment ids handed
    /// out so far.
    fn save_catalog(&self, cat: &mut Catalog) -> Result<()> {
        cat.next_segment_id = cat.next_segment_id.max(self.next_segment.load(Ordering::Relaxed));
        cat.save(&self.dir, self.opts.perms)
    }
}

/// A durable log store in one directory. Cheap to share: clone the `Arc` it lives in.
pub struct Store {
    inner: Arc<Inner>,
    stop: Option<Sender<()>>,
    kick: Sender<()>,
    worker: Option<JoinHandle<()>>,
    compactor: Option<JoinHandle<()>>,
}

/// Logged catalog changes that make a seal due (a checkpoint of the catalog), events or not.
const CHECKPOINT_CHANGES: u64 = 100_000;

const SEGMENTS: &str = "segments";

/// Where segment `id` is in the default on-disk layout (for offline tools).
fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(SEGMENTS).join(segment::file_name(id))
}
const WAL: &str = "wal";

impl Store {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Creates a log group.
    pub fn create_group(&self, name: &LogGroupName) -> Result<()> {
        let created = self.inner.opts.clock.now_ms();
        self.change_catalog(|cat| CatalogChange::CreateGroup {
            name: name.to_string(),
            id: cat.next_group_id,
            created,
        })
        .map(drop)
    }

    /// Creates a log stream in a group. Its cost does not grow with the number of streams:
    /// the creation is one WAL record (see `catalog`).
    pub fn create_stream(&self, group: &LogGroupName, stream: &LogStreamName) -> Result<()> {
        let created = self.inner.opts.clock.now_ms();
        self.change_catalog(|cat| CatalogChange::CreateStream {
            group: group.to_string(),
            name: stream.to_string(),
            id: cat.next_stream_id,
            created,
        })
        .map(drop)
    }

    /// Sets or clears (`None`) a group's retention.
    pub fn set_retention(&self, group: &LogGroupName, days: Option<RetentionDays>) -> Result<()> {
        self.change_catalog(|_| CatalogChange::SetRetention {
            group: group.to_string(),
            days: days.map(RetentionDays::days),
        })?;
        self.enforce_retention()
    }

    /// Deletes a group and all its events (and forgets its streams' producers).
    pub fn delete_group(&self, group: &LogGroupName) -> Result<()> {
        let removed =
            self.change_catalog(|_| CatalogChange::DeleteGroup { name: group.to_string() })?;
        self.forget_streams(&removed)
    }

    /// Deletes a stream and all its events (and forgets its producers).
    pub fn delete_stream(&self, group: &LogGroupName, stream: &LogStreamName) -> Result<()> {
        let removed = self.change_catalog(|_| CatalogChange::DeleteStream {
            group: group.to_string(),
            name: stream.to_string(),
        })?;
        self.forget_streams(&removed)
    }

    fn forget_streams(&self, ids: &[u64]) -> Result<()> {
        {
            let mut active = self.inner.active.lock();
            ids.iter().for_each(|id| active.remove_stream(*id));
        }
        self.inner.producers.lock().forget(ids);
        // The WAL may still hold the streams' batches; replay skips them (their ids are gone
        // from the catalog), and the next seal drops the files.
        self.rewrite_segments()
    }

    /// Logs the change `make` builds from the current catalog, applies it in memory and
    /// returns once it is durable, with the ids of the streams it removed. Checked, logged and
    /// applied under one lock, so changes apply in their WAL order; under the append gate, so
    /// a seal's rotation finds every change in the closed files applied (and in the catalog
    /// copy it checkpoints).
    ///
    /// The change is visible before its fsync completes, as a batch is to its own appender; if
    /// the fsync fails, the WAL refuses every later write (nothing after it can be
    /// acknowledged or checkpointed) and a restart forgets the change.
    fn change_catalog(&self, make: impl FnOnce(&Catalog) -> CatalogChange) -> Result<Vec<u64>> {
        let (ticket, removed) = {
            let _gate = self.inner.gate.read();
            let _w = self.inner.catalog_writes.lock();
            let change = {
                let st = self.inner.state.read();
                let change = make(&st.catalog);
                st.catalog.check(&change)?;
                change
            };
            let ticket = self.inner.wal.enqueue(&wal::encode_catalog(&change.encode()))?;
            let removed = self.inner.state.write().apply_change(ticket, change);
            (ticket, removed)
        };
        self.inner.unsaved_changes.fetch_add(1, Ordering::Relaxed);
        self.inner.wal.wait_durable(ticket)?;
        Ok(removed)
    }

    /// Appends events to a stream and returns once they are durable. Events may be in any
    /// order; reads return them sorted by timestamp.
    pub fn append(&self, group: &str, stream: &str, events: &[LogEvent]) -> Result<()> {
        self.append_idempotent(group, stream, events, None).map(|_| ())
    }

    /// Appends like [`Store::append`]; with a producer, a batch whose sequence is not above
    /// the producer's highest stored one in this stream is a duplicate and nothing is
    /// written. The new highest sequence is logged in the same WAL record as the events, so
    /// it survives exactly when they do. An empty batch stores and records nothing.
    pub fn append_idempotent(
        &self,
        group: &str,
        stream: &str,
        events: &[LogEvent],
        producer: Option<Producer<'_>>,
    ) -> Result<AppendOutcome> {
        if events.is_empty() {
            return Ok(AppendOutcome::Appended);
        }
        let id = self.inner.state.read().catalog.stream(group, stream)?.id;
        let now = self.inner.opts.clock.now_ms();
        let record = wal::encode_batch(
            id,
            producer.map(|p| (p.id.as_str(), p.sequence, now)),
            events.iter().map(|e| (e.timestamp(), e.ingestion_time(), e.message())),
        );
        let raw: usize = events.iter().map(|e| e.message().len()).sum();
        self.wait_for_room(raw);
        let _gate = self.inner.gate.read();
        let ticket = match producer {
            None => self.inner.wal.enqueue(&record)?,
            Some(p) => {
                let mut producers = self.inner.producers.lock();
                if let Some((last, ticket)) = producers.duplicate(id, p.id.as_str(), p.sequence) {
                    drop(producers);
                    // The batch that set the mark may still be on its way to disk; vouch for
                    // it only once it is there.
                    self.inner.wal.wait_durable(ticket)?;
                    return Ok(AppendOutcome::Duplicate { last_sequence: last });
                }
                let ticket = self.inner.wal.enqueue(&record)?;
                producers.record(id, p.id.as_str(), p.sequence, now, ticket);
                ticket
            }
        };
        self.inner.wal.wait_durable(ticket)?;
        let mem = events.iter().map(|e| MemEvent {
            timestamp: e.timestamp(),
            ingestion_time: e.ingestion_time(),
            message: e.message().into(),
        });
        let full = {
            let mut active = self.inner.active.lock();
            active.insert(id, mem);
            active.raw_bytes >= self.inner.opts.seal_bytes
        };
        if full {
            let _ = self.kick.try_send(());
        }
        Ok(AppendOutcome::Appended)
    }

    /// Backpressure: blocks while the buffer is over its cap and a seal is draining it.
    fn wait_for_room(&self, incoming: usize) {
        let cap = self.inner.opts.max_buffer_bytes;
        let mut active = self.inner.active.lock();
        while active.raw_bytes > 0 && active.raw_bytes + incoming > cap {
            let _ = self.kick.try_send(());
            if self.worker.is_none() {
                // No sealer thread: seal inline rather than wait forever.
                drop(active);
                let _ = self.flush();
                active = self.inner.active.lock();
                continue;
            }
            self.inner.room.wait_for(&mut active, Duration::from_millis(50));
        }
    }

    /// Seals every buffered event into a segment now.
    pub fn flush(&self) -> Result<()> {
        seal(&self.inner)
    }

    /// Deletes what retention no longer keeps: segments whose every block is expired or belongs
    /// to a deleted stream are removed, and segments with some such blocks are rewritten
    /// without them.
    pub fn enforce_retention(&self) -> Result<()> {
        self.rewrite_segments()
    }

    fn rewrite_segments(&self) -> Result<()> {
        rewrite_segments(&self.inner)
    }

    /// The groups, in name order.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let active = self.inner.active.lock();
        let st = self.inner.state.read();
        st.catalog.groups.iter().map(|(name, g)| group_info(&st, &active, name, g)).collect()
    }

    /// One group.
    pub fn group(&self, name: &str) -> Result<GroupInfo> {
        let active = self.inner.active.lock();
        let st = self.inner.state.read();
        let g = st.catalog.group(name)?;
        Ok(group_info(&st, &active, name, g))
    }

    /// A group's retention in days, from the catalog alone: cheaper than [`Store::group`],
    /// which adds up the group's statistics.
    pub fn retention_days(&self, group: &str) -> Result<Option<u32>> {
        Ok(self.inner.state.read().catalog.group(group)?.retention_days)
    }

    /// Whether the group has this stream (an error if the group does not exist).
    pub fn has_stream(&self, group: &str, stream: &str) -> Result<bool> {
        Ok(self.inner.state.read().catalog.group(group)?.streams.contains_key(stream))
    }

    /// A group's streams, in name order.
    pub fn streams(&self, group: &str) -> Result<Vec<StreamInfo>> {
        self.stream_infos(group, |streams| streams.iter().collect())
    }

    /// Up to `limit` of a group's streams whose names start with `prefix`, in name order, after
    /// the name `after` if given. Its cost grows with the page, not with the group's streams.
    pub fn streams_page(
        &self,
        group: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<StreamPage> {
        use std::ops::Bound;
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_owned()),
            _ => Bound::Included(prefix.to_owned()),
        };
        let mut more = false;
        let streams = self.stream_infos(group, |streams| {
            let mut page: Vec<_> = streams
                .range((start, Bound::Unbounded))
                .take_while(|(name, _)| name.starts_with(prefix))
                .take(limit.saturating_add(1))
                .collect();
            more = page.len() > limit;
            page.truncate(limit);
            page
        })?;
        Ok(StreamPage { streams, more })
    }

    /// The streams `pick` chooses from a group's, with their statistics.
    fn stream_infos(
        &self,
        group: &str,
        pick: impl for<'a> FnOnce(
            &'a BTreeMap<String, StreamEntry>,
        ) -> Vec<(&'a String, &'a StreamEntry)>,
    ) -> Result<Vec<StreamInfo>> {
        let active = self.inner.active.lock();
        let st = self.inner.state.read();
        let g = st.catalog.group(group)?;
        let picked = pick(&g.streams);
        let ids: HashSet<u64> = picked.iter().map(|(_, e)| e.id).collect();
        let mut stats = st.sealed_stats(&ids);
        add_buffered(&mut stats, &active, &ids);
        drop(active);
        Ok(picked
            .into_iter()
            .map(|(name, e)| {
                let s = stats.get(&e.id).copied().unwrap_or_default();
                StreamInfo {
                    name: name.clone(),
                    creation_time: e.created,
                    first_event_timestamp: s.first,
                    last_event_timestamp: s.last,
                    last_ingestion_time: s.last_ingest,
                    events: s.events,
                    raw_bytes: s.raw_bytes,
                    stored_bytes: s.stored_bytes,
                    blocks: s.blocks,
                }
            })
            .collect())
    }

    /// Store-wide figures.
    pub fn stats(&self) -> StoreStats {
        let st = self.inner.state.read();
        StoreStats {
            segments: st.segments.len() as u64,
            blocks: st.segments.values().map(|s| s.blocks().len() as u64).sum(),
            segment_bytes: st.segments.values().map(|s| s.file_len()).sum(),
            wal_bytes: self.inner.wal.disk_bytes(),
            buffered_events: self.inner.active.lock().events as u64
                + st.frozen.as_ref().map_or(0, |f| f.events as u64),
            damaged_segments: st.damaged.clone(),
            wal_losses: st.wal_losses.clone(),
            sealed_bytes: self.inner.sealed_bytes.load(Ordering::Relaxed),
            compacted_bytes: self.inner.compacted_bytes.load(Ordering::Relaxed),
        }
    }

    /// The live segments, oldest rank first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let st = self.inner.state.read();
        let mut out: Vec<(u64, SegmentInfo)> = st
            .segments
            .values()
            .map(|seg| {
                let b = seg.blocks();
                let (min_ts, max_ts) = seg.time_span();
                let info = SegmentInfo {
                    id: seg.id(),
                    bytes: seg.file_len(),
                    blocks: b.len() as u64,
                    events: b.iter().map(|b| u64::from(b.count)).sum(),
                    min_ts,
                    max_ts,
                    partition_day: seg.partition_day(),
                    format: seg.version(),
                };
                (seg.rank(), info)
            })
            .collect();
        out.sort_by_key(|(rank, info)| (*rank, info.min_ts));
        out.into_iter().map(|(_, info)| info).collect()
    }

    /// Reads one page of a stream's events.
    pub fn read_stream(&self, group: &str, stream: &str, opts: &ReadOptions) -> Result<Page> {
        self.snapshot(&[group])?.read_stream(group, stream, opts)
    }

    /// Reads one page of a group's events across `streams` (all if `None`), merged in
    /// timestamp order. Unknown stream names match nothing.
    pub fn read_group(
        &self,
        group: &str,
        streams: Option<&[String]>,
        opts: &ReadOptions,
    ) -> Result<Page> {
        self.snapshot(&[group])?.read_group(group, streams, opts)
    }

    /// Plans a scan of one group on a snapshot of it; see [`Snapshot::plan_scan`].
    pub fn plan_scan(
        &self,
        group: &str,
        streams: Option<&[String]>,
        range: TimeRange,
    ) -> Result<ScanPlan> {
        self.snapshot(&[group])?.plan_scan(group, streams, range)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        drop(self.stop.take());
        for w in [self.worker.take(), self.compactor.take()].into_iter().flatten() {
            let _ = w.join();
        }
    }
}

fn group_info(st: &State, active: &MemTable, name: &str, g: &GroupEntry) -> GroupInfo {
    let mut info = GroupInfo {
        name: name.to_owned(),
        creation_time: g.created,
        retention_days: g.retention_days,
        streams: g.streams.len(),
        events: 0,
        raw_bytes: 0,
        stored_bytes: 0,
        blocks: 0,
        segments: 0,
        buffered_bytes: 0,
    };
    let ids: HashSet<u64> = g.streams.values().map(|s| s.id).collect();
    let mut stats = st.sealed_stats(&ids);
    info.buffered_bytes = active
        .streams
        .iter()
        .filter(|(id, _)| ids.contains(id))
        .map(|(_, buf)| buf.stats.raw_bytes)
        .sum();
    add_buffered(&mut stats, active, &ids);
    for s in stats.values() {
        info.events += s.events;
        info.raw_bytes += s.raw_bytes;
        info.stored_bytes += s.stored_bytes;
    }
    for seg in st.segments.values() {
        let blocks = seg.blocks().iter().filter(|b| b.group_id == g.id).count() as u64;
        info.blocks += blocks;
        info.segments += u64::from(blocks > 0);
    }
    info
}
