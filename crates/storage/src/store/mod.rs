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
mod committed;
mod compact;
#[cfg(test)]
mod disk_full;
mod repair;
mod snapshot;
mod verify;
pub use artifacts::{ArtifactKind, SegmentChange};
pub use committed::{CommittedBatch, CommittedEvent, Lsn};
pub use compact::{CompactionPolicy, CompactionReport};
pub use repair::RepairReport;
pub use snapshot::Snapshot;
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
    /// Opens (creating if needed) the store in `dir`, recovering from the WAL.
    ///
    /// Refuses ([`StorageError::CatalogMissing`]) a directory whose catalog is gone while
    /// segments or log records are there: starting empty would drop them. `Store::repair`
    /// rebuilds the catalog.
    pub fn open(dir: impl AsRef<Path>, opts: StoreOptions) -> Result<Store> {
        let dir = dir.as_ref().to_owned();
        let perms = opts.perms;
        perms.create_dir_all(&dir)?;
        perms.restrict_dir(&dir)?;
        let lock = DirLock::acquire(&dir)?;
        let has_catalog = dir.join(crate::catalog::FILE).exists();
        if !has_catalog {
            let files = data_files(&dir)?;
            if !files.is_empty() {
                return Err(StorageError::CatalogMissing { dir, files });
            }
            // A new store: its catalog exists from the start, so one that only logged catalog
            // changes so far is never taken for a store whose catalog was lost.
            Catalog::default().save(&dir, perms)?;
        }
        let wal_gone = has_catalog && !dir.join(WAL).exists();
        perms.create_dir_all(&dir.join(WAL))?;
        let mut catalog = Catalog::load(&dir)?;
        catalog.load_holds(&dir)?;
        let mut state = State {
            catalog,
            names: HashMap::new(),
            group_of: HashMap::new(),
            segments: BTreeMap::new(),
            frozen: None,
            damaged: Vec::new(),
            wal_losses: Vec::new(),
        };
        state.rebuild_names();
        let segments: Arc<dyn Directory> = match &opts.segments {
            Some(d) => d.clone(),
            None => Arc::new(MmapDirectory::open(dir.join(SEGMENTS), perms)?),
        };
        set_aside_unknown_segments(&*segments, &state.catalog)?;
        for entry in state.catalog.segments.clone() {
            match Segment::open(&*segments, entry.id) {
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
        if wal_gone {
            let why = format!(
                "the write-ahead log directory {} is missing: events acknowledged since the last \
                 seal (records from LSN {} on, in files from {:016x}.wal on) are lost, if there \
                 were any",
                dir.join(WAL).display(),
                state.catalog.next_lsn,
                state.catalog.wal_checkpoint
            );
            tracing::error!("{why}");
            state.wal_losses.push(why);
        }
        let mut producers = Producers::default();
        for g in state.catalog.groups.values() {
            for s in g.streams.values() {
                producers.load(s.id, &s.producers);
            }
        }
        let mut active = MemTable::default();
        let recovery = wal::Recovery {
            checkpoint: state.catalog.wal_checkpoint,
            hold: state.catalog.lowest_hold(),
            // Reported already when the whole directory is gone.
            next_lsn: if wal_gone { 0 } else { state.catalog.next_lsn },
            perms,
            read_only: false,
        };
        let mut bad_change = None;
        let mut unsaved = 0;
        let replay = wal::replay(&dir.join(WAL), &recovery, |record| {
            let batch = match record {
                WalRecord::Batch(batch) => batch,
                WalRecord::Catalog { lsn, change } => {
                    if lsn <= state.catalog.catalog_lsn {
                        return; // the checkpoint includes it
                    }
                    match CatalogChange::decode(&change) {
                        Ok(change) => {
                            let removed = state.apply_change(lsn, change);
                            removed.iter().for_each(|id| active.remove_stream(*id));
                            producers.forget(&removed);
                            unsaved += 1;
                        }
                        Err(why) => {
                            bad_change.get_or_insert((lsn, why));
                        }
                    }
                    return;
                }
            };
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
        if let Some((lsn, why)) = bad_change {
            // Its checksum held, so it is what was written: a newer binary's change, or a bug.
            // Going on without it would serve a catalog that differs from the acknowledged one.
            return Err(StorageError::corrupt(dir.join(WAL), lsn, why));
        }
        tracing::info!(
            records = replay.records,
            buffered = active.events,
            "write-ahead log replayed"
        );
        state.wal_losses.extend(replay.damage.iter().map(ToString::to_string));
        state.wal_losses.extend(replay.missing.iter().map(ToString::to_string));
        if replay.damage.is_empty() {
            // Damage found by an earlier start: its bytes are still kept aside.
            for f in wal::set_aside_files(&dir.join(WAL)) {
                state.wal_losses.push(format!("damaged bytes set aside earlier: {}", f.display()));
            }
        }
        let wal_id = replay
            .reusable
            .unwrap_or_else(|| (replay.last_id + 1).max(state.catalog.wal_checkpoint));
        let last_lsn = replay.last_lsn.max(state.catalog.next_lsn.saturating_sub(1));
        let sealed_batch = state.catalog.last_batch_lsn.unwrap_or(last_lsn);
        let last =
            wal::LastLsns { record: last_lsn, batch: replay.last_batch_lsn.max(sealed_batch) };
        let wal = Wal::create(&dir.join(WAL), wal_id, opts.sync, last, replay.first_lsns, perms)?;
        let background = opts.background;
        let next_segment = state.catalog.next_segment_id;
        let inner = Arc::new(Inner {
            dir,
            opts,
            segments,
            wal,
            gate: RwLock::new(()),
            active: Mutex::new(active),
            room: Condvar::new(),
            producers: Mutex::new(producers),
            state: RwLock::new(state),
            maintenance: Mutex::new(()),
            catalog_writes: Mutex::new(()),
            unsaved_changes: AtomicU64::new(unsaved),
            last_seal: Mutex::new(std::time::Instant::now()),
            watchers: artifacts::Watchers::default(),
            next_segment: AtomicU64::new(next_segment),
            sealed_bytes: AtomicU64::new(0),
            compacted_bytes: AtomicU64::new(0),
            unsealed: Mutex::new(None),
            #[cfg(test)]
            fail_seals: AtomicU64::new(0),
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

/// Handles segment files the catalog does not list (unfinished writes are removed when the
/// directory is opened). Any other file is moved to `lost+found` with a warning, never deleted: it is most
/// likely the output of a seal or merge interrupted before its commit (its events then are in
/// the WAL or the merge's inputs too), or one removed by a rewrite whose unlink did not happen,
/// but with a catalog restored from elsewhere it may hold acknowledged events found nowhere
/// else.
fn set_aside_unknown_segments(dir: &dyn Directory, cat: &Catalog) -> Result<()> {
    let mut live: HashSet<String> = cat.segments.iter().map(|s| segment::file_name(s.id)).collect();
    for s in &cat.segments {
        live.extend(s.artifacts.keys().map(|kind| artifacts::file_name(s.id, kind)));
    }
    for name in dir.list()? {
        if !live.contains(&name) && !name.ends_with(".seg") {
            // Derived data whose registration did not commit: rebuildable, so not kept.
            tracing::info!(file = %name, "removing an artifact the catalog does not list");
            dir.delete(&name)?;
        } else if !live.contains(&name) {
            let to = dir.set_aside(&name)?;
            tracing::warn!(file = %name, moved_to = %to.display(),
                "segment file not in the catalog set aside (most likely from a seal or merge \
                 interrupted before its commit, whose events are also kept elsewhere)");
        }
    }
    Ok(())
}

/// The segment files and non-empty WAL files in `dir`: what a directory without a catalog
/// must not be opened empty over.
fn data_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (sub, ext) in [(SEGMENTS, "seg"), (WAL, "wal")] {
        let sub = dir.join(sub);
        let Ok(entries) = fs::read_dir(&sub) else { continue };
        for entry in entries {
            let path = entry.context(|| format!("listing {}", sub.display()))?.path();
            let len = fs::metadata(&path).map_or(0, |m| m.len());
            // An empty log file (its 8-byte header alone) holds nothing.
            if path.extension().is_some_and(|e| e == ext) && (ext == "seg" || len > 8) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// An exclusive lock on the data directory itself (`flock` on the directory), held while the
/// store is open. Locking the directory rather than a file in it means deleting a file cannot
/// let a second process in, and the kernel drops the lock when the process dies.
struct DirLock(#[allow(dead_code)] File);

impl DirLock {
    fn acquire(dir: &Path) -> Result<DirLock> {
        let f = File::open(dir).context(|| format!("opening {}", dir.display()))?;
        match f.try_lock() {
            Ok(()) => Ok(DirLock(f)),
            Err(std::fs::TryLockError::WouldBlock) => Err(StorageError::Locked(dir.to_owned())),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(StorageError::io(format!("locking {}", dir.display()), e))
            }
        }
    }
}

/// Seals the active buffer into a new segment. The catalog write that adds the segment and
/// moves the WAL checkpoint past the buffer's files is the commit point.
///
/// After a failure (a full disk) nothing is lost and nothing needs a restart: a failed seal
/// keeps its frozen buffer readable and is retried first by the next seal, and a WAL that
/// failed a write is re-opened here (see `recover_wal`). The background thread calls this
/// every tick while either is pending.
fn seal(inner: &Inner) -> Result<()> {
    let _m = inner.maintenance.lock();
    retry_unsealed(inner)?;
    let (frozen, closed_wal, marks) = {
        let _gate = inner.gate.write();
        recover_wal(inner)?;
        let mut active = inner.active.lock();
        if active.is_empty() && inner.unsaved_changes.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let closed = inner.wal.rotate()?;
        // Every record up to here is in the closed files.
        let next_lsn = inner.wal.queued_lsn() + 1;
        let last_batch_lsn = inner.wal.durable_batch_lsn();
        // No append is in flight, so the marks are exactly those of the closed WAL files:
        // the catalog must hold them once those files are gone.
        let marks = inner.producers.lock().snapshot();
        let mt = Arc::new(std::mem::take(&mut *active));
        inner.state.write().frozen = Some(mt.clone());
        (mt, Checkpoint { wal_file: closed + 1, next_lsn, last_batch_lsn }, marks)
    };
    inner.room.notify_all();
    let unsealed = UnsealedBuffer { frozen, checkpoint: closed_wal, marks };
    *inner.unsealed.lock() = Some(unsealed);
    retry_unsealed(inner)
}

/// Writes the pending frozen buffer, if any, into a segment. On failure it stays pending (and
/// readable, and in the WAL, whose checkpoint did not move).
fn retry_unsealed(inner: &Inner) -> Result<()> {
    let Some(u) = inner.unsealed.lock().take() else { return Ok(()) };
    match write_frozen(inner, &u.frozen, u.checkpoint, u.marks.clone()) {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "sealing failed; it is retried until it succeeds");
            *inner.unsealed.lock() = Some(u);
            Err(e)
        }
    }
}

/// Re-opens the WAL after a failed write, if the disk lets it, and rebuilds the producers'
/// marks from what is durable (a failed record may have raised one). The caller holds the
/// seal gate, so no append is in flight.
fn recover_wal(inner: &Inner) -> Result<()> {
    let mut producers = inner.producers.lock();
    if !inner.wal.recover()? {
        return Ok(());
    }
    let st = inner.state.read();
    let mut rebuilt = Producers::default();
    for s in st.catalog.groups.values().flat_map(|g| g.streams.values()) {
        rebuilt.load(s.id, &s.producers);
    }
    let recovery = wal::Recovery {
        checkpoint: st.catalog.wal_checkpoint,
        read_only: true,
        ..Default::default()
    };
    wal::replay(&inner.dir.join(WAL), &recovery, |r| {
        let WalRecord::Batch(b) = r else { return };
        if let Some(p) = b.producer.filter(|_| st.names.contains_key(&b.stream_id)) {
            rebuilt.record(b.stream_id, &p.id, p.sequence, p.updated, 0);
        }
    })?;
    *producers = rebuilt;
    Ok(())
}

/// Where a seal moves the WAL checkpoint: the first WAL file not sealed, and the LSN its
/// first record has at least.
#[derive(Debug, Clone, Copy)]
struct Checkpoint {
    wal_file: u64,
    next_lsn: u64,
    last_batch_lsn: u64,
}

fn write_frozen(
    inner: &Inner,
    mt: &MemTable,
    checkpoint: Checkpoint,
    mut marks: HashMap<u64, BTreeMap<String, ProducerMark>>,
) -> Result<()> {
    #[cfg(test)]
    if inner.fail_seals.load(Ordering::Relaxed) > 0 {
        inner.fail_seals.fetch_sub(1, Ordering::Relaxed);
        return Err(StorageError::io("writing a segment", std::io::Error::from_raw_os_error(28)));
    }
    // Streams deleted after this look leave rows that reads skip and compaction drops.
    let mut streams: Vec<(u64, u64, &crate::memtable::StreamBuf)> = {
        let st = inner.state.read();
        mt.streams.iter().filter_map(|(id, buf)| Some((*st.group_of.get(id)?, *id, buf))).collect()
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
    let created = inner.opts.clock.now_ms();
    let seg = if inputs.is_empty() {
        None
    } else {
        let cat = inner.state.read().catalog.clone();
        let describe = |spans: &segment::GroupSpans| {
            let mut d = Description::of(&cat, spans, id, created);
            (d.wal_checkpoint, d.next_lsn) = (checkpoint.wal_file, checkpoint.next_lsn);
            d.encode()
        };
        let (bytes, _) = segment::write(&*inner.segments, id, &inputs, describe)?;
        inner.sealed_bytes.fetch_add(bytes, Ordering::Relaxed);
        Some((Segment::open(&*inner.segments, id)?, bytes))
    };
    // The commit point: a checkpoint of the catalog as it is now (every change logged in the
    // closed WAL files is applied, see `change_catalog`) with the new segment.
    let _w = inner.catalog_writes.lock();
    let mut cat = inner.state.read().catalog.clone();
    cat.wal_checkpoint = checkpoint.wal_file;
    cat.next_lsn = checkpoint.next_lsn;
    cat.last_batch_lsn = Some(checkpoint.last_batch_lsn);
    for s in cat.groups.values_mut().flat_map(|g| g.streams.values_mut()) {
        s.producers = marks.remove(&s.id).unwrap_or_default();
    }
    if let Some((_, bytes)) = &seg {
        cat.segments.push(SegmentEntry {
            id,
            bytes: *bytes,
            rank: None,
            created,
            artifacts: Default::default(),
        });
    }
    inner.save_catalog(&mut cat)?;
    let seg_added = seg.is_some();
    inner.unsaved_changes.store(0, Ordering::Relaxed);
    *inner.last_seal.lock() = std::time::Instant::now();
    let hold = cat.lowest_hold();
    {
        let mut st = inner.state.write();
        st.catalog = cat;
        if let Some((seg, _)) = seg {
            st.segments.insert(id, Arc::new(seg));
        }
        st.frozen = None;
    }
    if seg_added {
        inner.watchers.send(&[SegmentChange::Added(id)]);
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
            let raw: Result<Vec<_>> =
                keep.iter().map(|&i| Ok((seg.blocks()[i], seg.block_bytes(i)?))).collect();
            let raw = match raw {
                Ok(raw) => raw,
                Err(e) => {
                    // A damaged block it would keep: leave the segment whole (its expired part
                    // stays hidden by reads) rather than fail the open or drop the block.
                    tracing::error!(error = %e, "segment not rewritten: it has a damaged block");
                    continue;
                }
            };
            let cat = inner.state.read().catalog.clone();
            let created = cat.segments.iter().find(|s| s.id == seg.id()).map_or(0, |s| s.created);
            let describe = |spans: &segment::GroupSpans| {
                Description::of(&cat, spans, seg.rank(), created).encode()
            };
            let bytes = segment::write_raw(&*inner.segments, id, &raw, describe)?;
            Some((Segment::open(&*inner.segments, id)?.with_rank(seg.rank()), bytes))
        };
        let w = inner.catalog_writes.lock();
        let mut cat = inner.state.read().catalog.clone();
        let old = cat.segments.iter().find(|s| s.id == seg.id());
        let created = old.map_or(0, |s| s.created);
        let old_artifacts: Vec<String> =
            old.map(|s| s.artifacts.keys().cloned().collect()).unwrap_or_default();
        cat.segments.retain(|s| s.id != seg.id());
        if let Some((new, bytes)) = &replacement {
            let rank = Some(seg.rank());
            cat.segments.push(SegmentEntry {
                id: new.id(),
                bytes: *bytes,
                rank,
                created,
                artifacts: Default::default(),
            });
        }
        inner.save_catalog(&mut cat)?;
        let replacement_id = replacement.as_ref().map(|(new, _)| new.id());
        {
            let mut st = inner.state.write();
            st.catalog = cat;
            st.segments.remove(&seg.id());
            if let Some((new, _)) = replacement {
                st.segments.insert(new.id(), Arc::new(new));
            }
        }
        drop(w);
        inner.segments.delete(&segment::file_name(seg.id()))?;
        inner.delete_artifacts(seg.id(), old_artifacts);
        let mut changes = vec![SegmentChange::Removed(seg.id())];
        changes.extend(replacement_id.map(SegmentChange::Added));
        inner.watchers.send(&changes);
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
            let changes = inner.unsaved_changes.load(Ordering::Relaxed);
            (!active.is_empty()
                && (active.raw_bytes >= inner.opts.seal_bytes
                    || active.created.elapsed() >= inner.opts.seal_age))
                || changes >= CHECKPOINT_CHANGES
                || (changes > 0 && inner.last_seal.lock().elapsed() >= inner.opts.seal_age)
        };
        // After a failure (a full disk), retry until space returns.
        let due = due || inner.wal.is_poisoned() || inner.unsealed.lock().is_some();
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
