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

use crate::catalog::{Catalog, GroupEntry, SegmentEntry, StreamEntry};
use crate::clock::{Clock, SystemClock};
use crate::error::{IoContext, Result, StorageError};
use crate::layout::{BlockBuilder, OwnedBlock};
use crate::memtable::{MemEvent, MemTable};
use crate::producers::{ProducerMark, Producers};
use crate::read::{Page, ReadOptions};
use crate::scan::ScanPlan;
use crate::segment::{self, BlockInput, BlockMeta, Segment};
use crate::stats::StreamStats;
use crate::wal::{self, Wal};

mod committed;
mod compact;
mod snapshot;
pub use committed::{CommittedBatch, CommittedEvent, Lsn};
pub use compact::{CompactionPolicy, CompactionReport};
pub use snapshot::Snapshot;

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
}

impl State {
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
    /// The next segment id; the catalog saves it, and files with ids it never saved are
    /// orphans of a crash.
    next_segment: AtomicU64,
    /// Bytes written by seals and by compactions since open: their ratio is the write
    /// amplification.
    sealed_bytes: AtomicU64,
    compacted_bytes: AtomicU64,
    _lock: File,
}

impl Inner {
    fn alloc_segment_id(&self) -> u64 {
        self.next_segment.fetch_add(1, Ordering::Relaxed)
    }

    /// Persists `cat` (the commit point of whatever changed it) with the segment ids handed
    /// out so far.
    fn save_catalog(&self, cat: &mut Catalog) -> Result<()> {
        cat.next_segment_id = cat.next_segment_id.max(self.next_segment.load(Ordering::Relaxed));
        cat.save(&self.dir)
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

const SEGMENTS: &str = "segments";
const WAL: &str = "wal";

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(SEGMENTS).join(format!("{id:016x}.seg"))
}

impl Store {
    /// Opens (creating if needed) the store in `dir`, recovering from the WAL.
    pub fn open(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref().to_owned();
        for sub in [dir.clone(), dir.join(SEGMENTS), dir.join(WAL)] {
            fs::create_dir_all(&sub).context(|| format!("creating {}", sub.display()))?;
        }
        let lock = File::create(dir.join("LOCK")).context(|| "creating LOCK file".into())?;
        if lock.try_lock().is_err() {
            return Err(StorageError::Locked(dir));
        }
        let catalog = Catalog::load(&dir)?;
        let mut state = State {
            catalog,
            names: HashMap::new(),
            group_of: HashMap::new(),
            segments: BTreeMap::new(),
            frozen: None,
            damaged: Vec::new(),
        };
        state.rebuild_names();
        remove_orphans(&dir, &state.catalog)?;
        for entry in state.catalog.segments.clone() {
            let path = segment_path(&dir, entry.id);
            match Segment::open(entry.id, &path) {
                Ok(mut seg) => {
                    seg.assign_groups(|stream| state.group_of.get(&stream).copied());
                    state.segments.insert(entry.id, Arc::new(seg.with_rank(entry.rank())));
                }
                Err(e) => {
                    tracing::error!(error = %e, "segment is damaged; its events are not served");
                    state.damaged.push(e.to_string());
                }
            }
        }
        let mut producers = Producers::default();
        for g in state.catalog.groups.values() {
            for s in g.streams.values() {
                producers.load(s.id, &s.producers);
            }
        }
        let mut active = MemTable::default();
        let (checkpoint, hold) = (state.catalog.wal_checkpoint, state.catalog.lowest_hold());
        let replay = wal::replay(&dir.join(WAL), checkpoint, hold, |batch| {
            if !state.names.contains_key(&batch.stream_id) {
                return; // the stream was deleted after this batch was logged
            }
            if let Some(p) = &batch.producer {
                producers.record(batch.stream_id, &p.id, p.sequence, p.updated, 0);
            }
            let events = batch.events.into_iter().map(|e| MemEvent {
                timestamp: e.timestamp,
                ingestion_time: e.ingestion_time,
                message: e.message.into(),
            });
            active.insert(batch.stream_id, events);
        })?;
        tracing::info!(
            records = replay.records,
            buffered = active.events,
            "write-ahead log replayed"
        );
        let wal_id = (replay.last_id + 1).max(state.catalog.wal_checkpoint);
        let last_lsn = replay.last_lsn.max(state.catalog.next_lsn.saturating_sub(1));
        let wal = Wal::create(&dir.join(WAL), wal_id, opts.sync, last_lsn, replay.first_lsns)?;
        let background = opts.background;
        let next_segment = state.catalog.next_segment_id;
        let inner = Arc::new(Inner {
            dir,
            opts,
            wal,
            gate: RwLock::new(()),
            active: Mutex::new(active),
            room: Condvar::new(),
            producers: Mutex::new(producers),
            state: RwLock::new(state),
            maintenance: Mutex::new(()),
            next_segment: AtomicU64::new(next_segment),
            sealed_bytes: AtomicU64::new(0),
            compacted_bytes: AtomicU64::new(0),
            _lock: lock,
        });
        let (kick, kicked) = channel::bounded(1);
        let (stop, stopped) = channel::bounded(1);
        let worker = background.then(|| {
            let inner = inner.clone();
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name("logsight-sealer".into())
                .spawn(move || background_loop(&inner, &kicked, &stopped))
                .expect("spawning the sealer thread")
        });
        // Merges run on their own thread, so a long one never delays a seal.
        let compactor = (background && inner.opts.background_compaction).then(|| {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("logsight-compactor".into())
                .spawn(move || compaction_loop(&inner, &stopped))
                .expect("spawning the compactor thread")
        });
        let store = Store { inner, stop: Some(stop), kick, worker, compactor };
        store.enforce_retention()?;
        Ok(store)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Creates a log group.
    pub fn create_group(&self, name: &LogGroupName) -> Result<()> {
        let now = self.inner.opts.clock.now_ms();
        self.update_catalog(|cat| {
            if cat.groups.contains_key(name.as_str()) {
                return Err(StorageError::GroupExists(name.to_string()));
            }
            let id = cat.next_group_id;
            cat.next_group_id += 1;
            let entry =
                GroupEntry { id, created: now, retention_days: None, streams: BTreeMap::new() };
            cat.groups.insert(name.to_string(), entry);
            Ok(())
        })
    }

    /// Creates a log stream in a group.
    pub fn create_stream(&self, group: &LogGroupName, stream: &LogStreamName) -> Result<()> {
        let now = self.inner.opts.clock.now_ms();
        self.update_catalog(|cat| {
            let id = cat.next_stream_id;
            let g = cat
                .groups
                .get_mut(group.as_str())
                .ok_or_else(|| StorageError::GroupNotFound(group.to_string()))?;
            if g.streams.contains_key(stream.as_str()) {
                return Err(StorageError::StreamExists {
                    group: group.to_string(),
                    stream: stream.to_string(),
                });
            }
            let entry = StreamEntry { id, created: now, producers: BTreeMap::new() };
            g.streams.insert(stream.to_string(), entry);
            cat.next_stream_id += 1;
            Ok(())
        })
    }

    /// Sets or clears (`None`) a group's retention.
    pub fn set_retention(&self, group: &LogGroupName, days: Option<RetentionDays>) -> Result<()> {
        self.update_catalog(|cat| {
            let g = cat
                .groups
                .get_mut(group.as_str())
                .ok_or_else(|| StorageError::GroupNotFound(group.to_string()))?;
            g.retention_days = days.map(RetentionDays::days);
            Ok(())
        })?;
        self.enforce_retention()
    }

    /// Deletes a group and all its events (and forgets its streams' producers).
    pub fn delete_group(&self, group: &LogGroupName) -> Result<()> {
        let mut removed = Vec::new();
        self.update_catalog(|cat| {
            let g = cat
                .groups
                .remove(group.as_str())
                .ok_or_else(|| StorageError::GroupNotFound(group.to_string()))?;
            removed.extend(g.streams.values().map(|s| s.id));
            Ok(())
        })?;
        self.forget_streams(&removed)
    }

    /// Deletes a stream and all its events (and forgets its producers).
    pub fn delete_stream(&self, group: &LogGroupName, stream: &LogStreamName) -> Result<()> {
        let mut removed = Vec::new();
        self.update_catalog(|cat| {
            let g = cat
                .groups
                .get_mut(group.as_str())
                .ok_or_else(|| StorageError::GroupNotFound(group.to_string()))?;
            let s =
                g.streams.remove(stream.as_str()).ok_or_else(|| StorageError::StreamNotFound {
                    group: group.to_string(),
                    stream: stream.to_string(),
                })?;
            removed.push(s.id);
            Ok(())
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

    /// Applies `f` to a copy of the catalog and, if it succeeds, persists and installs it.
    fn update_catalog(&self, f: impl FnOnce(&mut Catalog) -> Result<()>) -> Result<()> {
        let _m = self.inner.maintenance.lock();
        let mut cat = self.inner.state.read().catalog.clone();
        f(&mut cat)?;
        self.inner.save_catalog(&mut cat)?;
        let mut st = self.inner.state.write();
        st.catalog = cat;
        st.rebuild_names();
        Ok(())
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
            events.iter().map(|e| (e.timestamp, e.ingestion_time, e.message.as_str())),
        );
        let raw: usize = events.iter().map(|e| e.message.len()).sum();
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
            timestamp: e.timestamp,
            ingestion_time: e.ingestion_time,
            message: e.message.as_str().into(),
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
        let active = self.inner.active.lock();
        let st = self.inner.state.read();
        let g = st.catalog.group(group)?;
        let ids: HashSet<u64> = g.streams.values().map(|s| s.id).collect();
        let mut stats = st.sealed_stats(&ids);
        add_buffered(&mut stats, &active, &ids);
        drop(active);
        Ok(g.streams
            .iter()
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

/// Removes segment files the catalog does not list (a seal or rewrite that crashed before its
/// commit point) and leftover temporary files.
fn remove_orphans(dir: &Path, cat: &Catalog) -> Result<()> {
    let live: HashSet<String> = cat.segments.iter().map(|s| format!("{:016x}.seg", s.id)).collect();
    let seg_dir = dir.join(SEGMENTS);
    for entry in fs::read_dir(&seg_dir).context(|| format!("listing {}", seg_dir.display()))? {
        let entry = entry.context(|| format!("listing {}", seg_dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !live.contains(&name) {
            tracing::info!(file = %name, "removing segment file not in the catalog");
            fs::remove_file(entry.path()).context(|| format!("removing {name}"))?;
        }
    }
    Ok(())
}

/// Seals the active buffer into a new segment. The catalog write that adds the segment and
/// moves the WAL checkpoint past the buffer's files is the commit point.
fn seal(inner: &Inner) -> Result<()> {
    let _m = inner.maintenance.lock();
    let (frozen, closed_wal, marks) = {
        let _gate = inner.gate.write();
        let mut active = inner.active.lock();
        if active.is_empty() {
            return Ok(());
        }
        let closed = inner.wal.rotate()?;
        // Every record up to here is in the closed files.
        let next_lsn = inner.wal.queued_lsn() + 1;
        // No append is in flight, so the marks are exactly those of the closed WAL files:
        // the catalog must hold them once those files are gone.
        let marks = inner.producers.lock().snapshot();
        let mt = Arc::new(std::mem::take(&mut *active));
        inner.state.write().frozen = Some(mt.clone());
        (mt, Checkpoint { wal_file: closed + 1, next_lsn }, marks)
    };
    inner.room.notify_all();
    let result = write_frozen(inner, &frozen, closed_wal, marks);
    if let Err(e) = &result {
        // The frozen events stay readable and stay in the WAL, whose checkpoint did not move.
        // Refusing further writes keeps a later seal from moving it past them; a restart
        // replays and seals them again.
        inner.wal.poison(format!("sealing failed: {e}"));
    }
    result
}

/// Where a seal moves the WAL checkpoint: the first WAL file not sealed, and the LSN its
/// first record has at least.
#[derive(Debug, Clone, Copy)]
struct Checkpoint {
    wal_file: u64,
    next_lsn: u64,
}

fn write_frozen(
    inner: &Inner,
    mt: &MemTable,
    checkpoint: Checkpoint,
    mut marks: HashMap<u64, BTreeMap<String, ProducerMark>>,
) -> Result<()> {
    // The catalog and the stream names change only under the maintenance lock, which the
    // seal holds throughout, so one look serves the whole seal.
    let (mut cat, mut streams) = {
        let st = inner.state.read();
        let live: Vec<(u64, u64, &crate::memtable::StreamBuf)> = mt
            .streams
            .iter()
            .filter_map(|(id, buf)| Some((*st.group_of.get(id)?, *id, buf)))
            .collect();
        (st.catalog.clone(), live)
    };
    // Rows in (group, stream, time) order, cut into blocks of about `block_bytes`.
    streams.sort_unstable_by_key(|(gid, sid, _)| (*gid, *sid));
    let mut builder = BlockBuilder::new(inner.opts.block_bytes);
    for (gid, sid, buf) in streams {
        for e in buf.sorted() {
            builder.push(gid, sid, e.timestamp, e.ingestion_time, e);
        }
    }
    let blocks = builder.finish();
    let inputs: Vec<BlockInput<'_, MemEvent>> = blocks.iter().map(OwnedBlock::input).collect();
    let id = inner.alloc_segment_id();
    let seg = if inputs.is_empty() {
        None
    } else {
        let path = segment_path(&inner.dir, id);
        let (bytes, _) = segment::write(&path, &inputs)?;
        inner.sealed_bytes.fetch_add(bytes, Ordering::Relaxed);
        Some((Segment::open(id, &path)?, bytes))
    };
    cat.wal_checkpoint = checkpoint.wal_file;
    cat.next_lsn = checkpoint.next_lsn;
    for s in cat.groups.values_mut().flat_map(|g| g.streams.values_mut()) {
        s.producers = marks.remove(&s.id).unwrap_or_default();
    }
    if let Some((_, bytes)) = &seg {
        cat.segments.push(SegmentEntry {
            id,
            bytes: *bytes,
            rank: None,
            created: inner.opts.clock.now_ms(),
        });
    }
    inner.save_catalog(&mut cat)?;
    let hold = cat.lowest_hold();
    {
        let mut st = inner.state.write();
        st.catalog = cat;
        if let Some((seg, _)) = seg {
            st.segments.insert(id, Arc::new(seg));
        }
        st.frozen = None;
    }
    inner.wal.remove_below(checkpoint.wal_file, hold)?;
    tracing::debug!(segment = id, events = mt.events, "sealed");
    Ok(())
}

/// What retention and deletion keep: per live group, its retention cutoff and its live
/// stream ids (sorted).
struct LiveGroups(HashMap<u64, (Option<i64>, Vec<u64>)>);

impl LiveGroups {
    fn new(cat: &Catalog, now: i64) -> Self {
        let groups = cat.groups.values().map(|g| {
            let mut ids: Vec<u64> = g.streams.values().map(|s| s.id).collect();
            ids.sort_unstable();
            (g.id, (g.retention_cutoff(now), ids))
        });
        LiveGroups(groups.collect())
    }

    /// Whether a block may hold an event still kept: of a live group, not wholly expired, and
    /// with a live stream in its range. (A kept block may still hold some dead rows; reads skip
    /// them and compaction drops them.)
    fn holds(&self, b: &BlockMeta) -> bool {
        self.0.get(&b.group_id).is_some_and(|(cutoff, ids)| {
            cutoff.is_none_or(|c| b.max_ts >= c) && b.may_hold_any(ids)
        })
    }

    /// Whether one row is still kept.
    fn keeps(&self, group_id: u64, stream_id: u64, ts: i64) -> bool {
        self.0.get(&group_id).is_some_and(|(cutoff, ids)| {
            cutoff.is_none_or(|c| ts >= c) && ids.binary_search(&stream_id).is_ok()
        })
    }
}

/// Drops expired blocks and blocks of deleted streams: whole segments are deleted, partly
/// dead ones are rewritten by copying their live blocks (no recompression).
fn rewrite_segments(inner: &Inner) -> Result<()> {
    let _m = inner.maintenance.lock();
    let now = inner.opts.clock.now_ms();
    let (segments, groups) = {
        let st = inner.state.read();
        (st.segments.values().cloned().collect::<Vec<_>>(), LiveGroups::new(&st.catalog, now))
    };
    let live = |b: &BlockMeta| groups.holds(b);
    for seg in segments {
        let keep: Vec<usize> =
            (0..seg.blocks().len()).filter(|&i| live(&seg.blocks()[i])).collect();
        if keep.len() == seg.blocks().len() {
            continue;
        }
        let replacement = if keep.is_empty() {
            None
        } else {
            let id = inner.alloc_segment_id();
            let path = segment_path(&inner.dir, id);
            let mut raw = Vec::with_capacity(keep.len());
            for &i in &keep {
                raw.push((seg.blocks()[i], seg.block_bytes(i)?));
            }
            let bytes = segment::write_raw(&path, &raw)?;
            Some((Segment::open(id, &path)?.with_rank(seg.rank()), bytes))
        };
        let mut cat = inner.state.read().catalog.clone();
        let created = cat.segments.iter().find(|s| s.id == seg.id()).map_or(0, |s| s.created);
        cat.segments.retain(|s| s.id != seg.id());
        if let Some((new, bytes)) = &replacement {
            let rank = Some(seg.rank());
            cat.segments.push(SegmentEntry { id: new.id(), bytes: *bytes, rank, created });
        }
        inner.save_catalog(&mut cat)?;
        {
            let mut st = inner.state.write();
            st.catalog = cat;
            st.segments.remove(&seg.id());
            if let Some((new, _)) = replacement {
                st.segments.insert(new.id(), Arc::new(new));
            }
        }
        fs::remove_file(seg.path()).context(|| format!("removing {}", seg.path().display()))?;
        crate::fsutil::sync_parent(seg.path())?;
        tracing::info!(
            segment = seg.id(),
            kept_blocks = keep.len(),
            "segment rewritten by retention or deletion"
        );
    }
    Ok(())
}

/// Merges segments while the policy wants it, then waits a while; a failed merge is logged
/// and retried later (its outputs were discarded, its inputs are untouched).
fn compaction_loop(inner: &Inner, stopped: &Receiver<()>) {
    let idle = (inner.opts.seal_age / 2).clamp(Duration::from_millis(50), Duration::from_secs(30));
    loop {
        let wait = match compact::compact_step(inner, false) {
            Ok(Some(_)) => Duration::ZERO,
            Ok(None) => idle,
            Err(e) => {
                tracing::error!(error = %e, "background compaction failed");
                idle
            }
        };
        crossbeam::select! {
            recv(stopped) -> _ => return,
            default(wait) => {}
        }
    }
}

fn background_loop(inner: &Inner, kicked: &Receiver<()>, stopped: &Receiver<()>) {
    let tick = (inner.opts.seal_age / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut last_retention = std::time::Instant::now();
    loop {
        crossbeam::select! {
            recv(kicked) -> _ => {}
            recv(stopped) -> _ => return,
            default(tick) => {}
        }
        let due = {
            let active = inner.active.lock();
            !active.is_empty()
                && (active.raw_bytes >= inner.opts.seal_bytes
                    || active.created.elapsed() >= inner.opts.seal_age)
        };
        if due && let Err(e) = seal(inner) {
            tracing::error!(error = %e, "background seal failed");
        }
        if last_retention.elapsed() >= Duration::from_secs(60) {
            last_retention = std::time::Instant::now();
            if let Err(e) = rewrite_segments(inner) {
                tracing::error!(error = %e, "retention pass failed");
            }
        }
    }
}
