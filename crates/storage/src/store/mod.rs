//! The store: one data directory, its catalog, WAL, buffered events and segments.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender};
use parking_lot::{Condvar, Mutex, RwLock};

use logsight_model::{LogEvent, LogGroupName, LogStreamName, ProducerId, RetentionDays, TimeRange};

use crate::catalog::{Catalog, GroupEntry, SegmentEntry, StreamEntry};
use crate::clock::{Clock, SystemClock};
use crate::error::{IoContext, Result, StorageError};
use crate::memtable::{MemEvent, MemTable};
use crate::producers::{ProducerMark, Producers};
use crate::read::{self, Page, ReadOptions, Source, SourceData};
use crate::scan::{ScanPlan, ScanUnit};
use crate::segment::{self, BlockInput, BlockMeta, Segment};
use crate::wal::{self, Wal};

mod committed;
pub use committed::{CommittedBatch, CommittedEvent, Lsn};

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
}

#[derive(Debug, Default, Clone, Copy)]
struct StreamStats {
    first: Option<i64>,
    last: Option<i64>,
    last_ingest: Option<i64>,
    events: u64,
    raw_bytes: u64,
    stored_bytes: u64,
    blocks: u64,
}

impl StreamStats {
    fn add_events(&mut self, min_ts: i64, max_ts: i64, max_ingest: i64, count: u64, raw: u64) {
        self.first = Some(self.first.map_or(min_ts, |f| f.min(min_ts)));
        self.last = Some(self.last.map_or(max_ts, |l| l.max(max_ts)));
        self.last_ingest = Some(self.last_ingest.map_or(max_ingest, |l| l.max(max_ingest)));
        self.events += count;
        self.raw_bytes += raw;
    }
}

struct State {
    catalog: Catalog,
    /// stream id → (group, stream) for the live streams.
    names: HashMap<u64, (Arc<str>, Arc<str>)>,
    segments: BTreeMap<u64, Arc<Segment>>,
    /// Sealing in progress: buffered events already out of the active table.
    frozen: Option<Arc<MemTable>>,
    stats: HashMap<u64, StreamStats>,
    damaged: Vec<String>,
}

impl State {
    fn rebuild_names(&mut self) {
        self.names.clear();
        for (g, group) in &self.catalog.groups {
            let g: Arc<str> = g.as_str().into();
            for (s, entry) in &group.streams {
                self.names.insert(entry.id, (g.clone(), s.as_str().into()));
            }
        }
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
    /// Serialises seals and segment rewrites, which both replace the segment list.
    maintenance: Mutex<()>,
    _lock: File,
}

/// A durable log store in one directory. Cheap to share: clone the `Arc` it lives in.
pub struct Store {
    inner: Arc<Inner>,
    stop: Option<Sender<()>>,
    kick: Sender<()>,
    worker: Option<JoinHandle<()>>,
}

const SEGMENTS: &str = "segments";
const WAL: &str = "wal";

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(SEGMENTS).join(format!("{id:016x}.seg"))
}

/// Splits a segment's file bytes over its blocks: each block's bytes, its directory entry, and
/// an even share of the header and footer. The shares add up to the file size exactly.
fn block_costs(seg: &Segment) -> Vec<u64> {
    let n = seg.blocks().len() as u64;
    if n == 0 {
        return Vec::new();
    }
    let per_block_overhead = seg.overhead_bytes() / n;
    let remainder = seg.overhead_bytes() % n;
    seg.blocks()
        .iter()
        .enumerate()
        .map(|(i, b)| u64::from(b.len) + per_block_overhead + u64::from(i == 0) * remainder)
        .collect()
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
            segments: BTreeMap::new(),
            frozen: None,
            stats: HashMap::new(),
            damaged: Vec::new(),
        };
        state.rebuild_names();
        remove_orphans(&dir, &state.catalog)?;
        for entry in state.catalog.segments.clone() {
            let path = segment_path(&dir, entry.id);
            match Segment::open(entry.id, &path) {
                Ok(seg) => {
                    count_segment_events(&mut state, &seg);
                    count_segment(&mut state, &seg);
                    state.segments.insert(entry.id, Arc::new(seg));
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
            let events: Vec<MemEvent> = events.collect();
            note_append(&mut state.stats, batch.stream_id, &events);
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
            _lock: lock,
        });
        let (kick, kicked) = channel::bounded(1);
        let (stop, stopped) = channel::bounded(1);
        let worker = background.then(|| {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("logsight-sealer".into())
                .spawn(move || background_loop(&inner, &kicked, &stopped))
                .expect("spawning the sealer thread")
        });
        let store = Store { inner, stop: Some(stop), kick, worker };
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
            let entry = GroupEntry { created: now, retention_days: None, streams: BTreeMap::new() };
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
        {
            let mut st = self.inner.state.write();
            ids.iter().for_each(|id| {
                st.stats.remove(id);
            });
        }
        // The WAL may still hold the streams' batches; replay skips them (their ids are gone
        // from the catalog), and the next seal drops the files.
        self.rewrite_segments()
    }

    /// Applies `f` to a copy of the catalog and, if it succeeds, persists and installs it.
    fn update_catalog(&self, f: impl FnOnce(&mut Catalog) -> Result<()>) -> Result<()> {
        let _m = self.inner.maintenance.lock();
        let mut cat = self.inner.state.read().catalog.clone();
        f(&mut cat)?;
        cat.save(&self.inner.dir)?;
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
        let mem: Vec<MemEvent> = events
            .iter()
            .map(|e| MemEvent {
                timestamp: e.timestamp,
                ingestion_time: e.ingestion_time,
                message: e.message.as_str().into(),
            })
            .collect();
        note_append(&mut self.inner.state.write().stats, id, &mem);
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
        let st = self.inner.state.read();
        st.catalog.groups.iter().map(|(name, g)| group_info(&st, name, g)).collect()
    }

    /// One group.
    pub fn group(&self, name: &str) -> Result<GroupInfo> {
        let st = self.inner.state.read();
        let g = st.catalog.group(name)?;
        Ok(group_info(&st, name, g))
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
        let st = self.inner.state.read();
        let g = st.catalog.group(group)?;
        Ok(g.streams
            .iter()
            .map(|(name, e)| {
                let s = st.stats.get(&e.id).copied().unwrap_or_default();
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
        }
    }

    /// Reads one page of a stream's events.
    pub fn read_stream(&self, group: &str, stream: &str, opts: &ReadOptions) -> Result<Page> {
        let (ids, range) = self.resolve(group, opts.range, |g| {
            let s = g.streams.get(stream).ok_or_else(|| StorageError::StreamNotFound {
                group: group.to_owned(),
                stream: stream.to_owned(),
            })?;
            Ok(vec![s.id])
        })?;
        let sources = self.sources(&ids, range);
        read::read_page(sources, &ReadOptions { range, ..opts.clone() })
    }

    /// Reads one page of a group's events across `streams` (all if `None`), merged in
    /// timestamp order. Unknown stream names match nothing.
    pub fn read_group(
        &self,
        group: &str,
        streams: Option<&[String]>,
        opts: &ReadOptions,
    ) -> Result<Page> {
        let (ids, range) = self.resolve(group, opts.range, |g| Ok(stream_ids(g, streams)))?;
        let sources = self.sources(&ids, range);
        read::read_page(sources, &ReadOptions { range, ..opts.clone() })
    }

    /// Plans a scan for the query engine: every block and buffered run of events of the chosen
    /// streams that may hold events in `range`, found from directories alone (nothing is
    /// decompressed). Blocks outside the range or of other streams are pruned.
    pub fn plan_scan(
        &self,
        group: &str,
        streams: Option<&[String]>,
        range: TimeRange,
    ) -> Result<ScanPlan> {
        let (ids, range) = self.resolve(group, range, |g| Ok(stream_ids(g, streams)))?;
        let total_blocks: usize = {
            let st = self.inner.state.read();
            st.segments.values().map(|s| s.blocks().len()).sum()
        };
        let units: Vec<ScanUnit> =
            self.sources(&ids, range).into_iter().map(ScanUnit::from).collect();
        Ok(ScanPlan::new(units, range, total_blocks))
    }

    /// The stream ids a read covers (`pick` chooses them from the group) and `range` with its
    /// start raised to the group's retention cutoff, both from one look at the catalog.
    fn resolve(
        &self,
        group: &str,
        range: TimeRange,
        pick: impl FnOnce(&GroupEntry) -> Result<Vec<u64>>,
    ) -> Result<(Vec<u64>, TimeRange)> {
        let st = self.inner.state.read();
        let g = st.catalog.group(group)?;
        let ids = pick(g)?;
        let cutoff = g.retention_cutoff(self.inner.opts.clock.now_ms());
        Ok((ids, range.clamp_start(cutoff)))
    }

    /// Every block and buffered run of the given streams overlapping `range`.
    fn sources(&self, ids: &[u64], range: TimeRange) -> Vec<Source> {
        // The buffer and the segment list are read under both locks at once (in the same
        // order a seal takes them), so an event is seen exactly once: in the active buffer,
        // in the frozen one, or in its new segment.
        let (runs, segments, frozen, names) = {
            let mut active = self.inner.active.lock();
            let mut runs = Vec::new();
            for id in ids {
                if let Some(buf) = active.streams.get_mut(id) {
                    buf.ensure_sorted();
                    let evs = buf.range(range);
                    if !evs.is_empty() {
                        runs.push((*id, Arc::<[MemEvent]>::from(evs)));
                    }
                }
            }
            let st = self.inner.state.read();
            let segments: Vec<Arc<Segment>> = st.segments.values().cloned().collect();
            // Names of the wanted streams only; a deleted stream has none and is skipped.
            let names: HashMap<u64, Arc<str>> = ids
                .iter()
                .filter_map(|id| st.names.get(id).map(|(_, name)| (*id, name.clone())))
                .collect();
            (runs, segments, st.frozen.clone(), names)
        };
        let name = |id: u64| names.get(&id).cloned();
        let mut out = Vec::new();
        for seg in &segments {
            for (i, b) in seg.blocks().iter().enumerate() {
                if range.overlaps(b.min_ts, b.max_ts)
                    && let Some(stream) = name(b.stream_id)
                {
                    out.push(block_source(seg, i, b, stream));
                }
            }
        }
        if let Some(frozen) = &frozen {
            for id in ids {
                if let (Some(buf), Some(stream)) = (frozen.streams.get(id), name(*id)) {
                    let evs = buf.range(range);
                    if !evs.is_empty() {
                        out.push(mem_source(*id, stream, u64::MAX - 1, evs.into()));
                    }
                }
            }
        }
        for (id, evs) in runs {
            if let Some(stream) = name(id) {
                out.push(mem_source(id, stream, u64::MAX, evs));
            }
        }
        out
    }
}

/// The ids of `names` in `g` (all its streams if `None`); unknown names match nothing.
fn stream_ids(g: &GroupEntry, names: Option<&[String]>) -> Vec<u64> {
    match names {
        None => g.streams.values().map(|s| s.id).collect(),
        Some(names) => names.iter().filter_map(|n| g.streams.get(n)).map(|s| s.id).collect(),
    }
}

fn block_source(seg: &Arc<Segment>, i: usize, b: &BlockMeta, stream: Arc<str>) -> Source {
    Source {
        stream_id: b.stream_id,
        stream,
        // Blocks of a stream within a segment are consecutive runs of its sorted events, so
        // segment id then block index is their order among equal timestamps.
        rank: (seg.id() << 24) | i as u64,
        min_ts: b.min_ts,
        max_ts: b.max_ts,
        data: SourceData::Block(seg.clone(), i),
    }
}

fn mem_source(id: u64, stream: Arc<str>, rank: u64, evs: Arc<[MemEvent]>) -> Source {
    let (min_ts, max_ts) = (evs[0].timestamp, evs[evs.len() - 1].timestamp);
    Source { stream_id: id, stream, rank, min_ts, max_ts, data: SourceData::Memory(evs) }
}

impl Drop for Store {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn group_info(st: &State, name: &str, g: &GroupEntry) -> GroupInfo {
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
    };
    let ids: HashSet<u64> = g.streams.values().map(|s| s.id).collect();
    for id in &ids {
        let s = st.stats.get(id).copied().unwrap_or_default();
        info.events += s.events;
        info.raw_bytes += s.raw_bytes;
        info.stored_bytes += s.stored_bytes;
        info.blocks += s.blocks;
    }
    info.segments = st
        .segments
        .values()
        .filter(|s| s.blocks().iter().any(|b| ids.contains(&b.stream_id)))
        .count() as u64;
    info
}

fn note_append(stats: &mut HashMap<u64, StreamStats>, id: u64, events: &[MemEvent]) {
    let s = stats.entry(id).or_default();
    for e in events {
        s.add_events(e.timestamp, e.timestamp, e.ingestion_time, 1, e.message.len() as u64);
    }
}

/// Adds a segment's blocks to the stream statistics. Only the stored bytes and block counts
/// change when buffered events are sealed; events and raw bytes were counted on append.
fn count_segment(st: &mut State, seg: &Segment) {
    for (b, cost) in seg.blocks().iter().zip(block_costs(seg)) {
        if st.names.contains_key(&b.stream_id) {
            let s = st.stats.entry(b.stream_id).or_default();
            s.stored_bytes += cost;
            s.blocks += 1;
        }
    }
}

/// Counts a recovered segment's events (on open, when no append counted them).
fn count_segment_events(st: &mut State, seg: &Segment) {
    for b in seg.blocks() {
        if st.names.contains_key(&b.stream_id) {
            st.stats.entry(b.stream_id).or_default().add_events(
                b.min_ts,
                b.max_ts,
                b.max_ingest,
                u64::from(b.count),
                b.raw_bytes,
            );
        }
    }
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
        let mut mt = std::mem::take(&mut *active);
        mt.sort_all();
        let mt = Arc::new(mt);
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
        let live: Vec<(&u64, &crate::memtable::StreamBuf)> =
            mt.streams.iter().filter(|(id, _)| st.names.contains_key(id)).collect();
        (st.catalog.clone(), live)
    };
    let id = cat.next_segment_id;
    // Columns per stream, then blocks of about `block_bytes` message bytes each.
    streams.sort_by_key(|(id, _)| **id);
    let mut cols = Vec::new();
    for (sid, buf) in streams {
        let mut start = 0;
        while start < buf.events.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < buf.events.len() && (end == start || bytes < inner.opts.block_bytes) {
                bytes += buf.events[end].message.len();
                end += 1;
            }
            let evs = &buf.events[start..end];
            let ts: Vec<i64> = evs.iter().map(|e| e.timestamp).collect();
            let ing: Vec<i64> = evs.iter().map(|e| e.ingestion_time).collect();
            let msgs: Vec<&str> = evs.iter().map(|e| &*e.message).collect();
            cols.push((*sid, ts, ing, msgs));
            start = end;
        }
    }
    let inputs: Vec<BlockInput<'_, &str>> = cols
        .iter()
        .map(|(sid, ts, ing, msgs)| BlockInput {
            stream_id: *sid,
            timestamps: ts,
            ingestion_times: ing,
            messages: msgs,
        })
        .collect();
    let seg = if inputs.is_empty() {
        None
    } else {
        let path = segment_path(&inner.dir, id);
        let (bytes, _) = segment::write(&path, &inputs)?;
        Some((Segment::open(id, &path)?, bytes))
    };
    cat.wal_checkpoint = checkpoint.wal_file;
    cat.next_lsn = checkpoint.next_lsn;
    for s in cat.groups.values_mut().flat_map(|g| g.streams.values_mut()) {
        s.producers = marks.remove(&s.id).unwrap_or_default();
    }
    if let Some((_, bytes)) = &seg {
        cat.next_segment_id = id + 1;
        cat.segments.push(SegmentEntry { id, bytes: *bytes });
    }
    cat.save(&inner.dir)?;
    let hold = cat.lowest_hold();
    {
        let mut st = inner.state.write();
        st.catalog = cat;
        if let Some((seg, _)) = seg {
            count_segment(&mut st, &seg);
            st.segments.insert(id, Arc::new(seg));
        }
        st.frozen = None;
    }
    inner.wal.remove_below(checkpoint.wal_file, hold)?;
    tracing::debug!(segment = id, events = mt.events, "sealed");
    Ok(())
}

/// Drops expired blocks and blocks of deleted streams: whole segments are deleted, partly
/// dead ones are rewritten by copying their live blocks (no recompression).
fn rewrite_segments(inner: &Inner) -> Result<()> {
    let _m = inner.maintenance.lock();
    let now = inner.opts.clock.now_ms();
    let (segments, cutoffs) = {
        let st = inner.state.read();
        let mut cutoffs: HashMap<u64, Option<i64>> = HashMap::new();
        for g in st.catalog.groups.values() {
            let cutoff = g.retention_cutoff(now);
            for s in g.streams.values() {
                cutoffs.insert(s.id, cutoff);
            }
        }
        (st.segments.values().cloned().collect::<Vec<_>>(), cutoffs)
    };
    let live = |b: &BlockMeta| match cutoffs.get(&b.stream_id) {
        None => false,
        Some(cutoff) => cutoff.is_none_or(|c| b.max_ts >= c),
    };
    for seg in segments {
        let keep: Vec<usize> =
            (0..seg.blocks().len()).filter(|&i| live(&seg.blocks()[i])).collect();
        if keep.len() == seg.blocks().len() {
            continue;
        }
        let replacement = if keep.is_empty() {
            None
        } else {
            let id = inner.state.read().catalog.next_segment_id;
            let path = segment_path(&inner.dir, id);
            let mut raw = Vec::with_capacity(keep.len());
            for &i in &keep {
                raw.push((seg.blocks()[i], seg.block_bytes(i)?));
            }
            let bytes = segment::write_raw(&path, &raw)?;
            Some((Segment::open(id, &path)?, bytes))
        };
        let mut cat = inner.state.read().catalog.clone();
        cat.segments.retain(|s| s.id != seg.id());
        if let Some((new, bytes)) = &replacement {
            cat.next_segment_id = new.id() + 1;
            cat.segments.push(SegmentEntry { id: new.id(), bytes: *bytes });
        }
        cat.save(&inner.dir)?;
        {
            let mut st = inner.state.write();
            st.catalog = cat;
            remove_segment_counts(&mut st, &seg);
            st.segments.remove(&seg.id());
            if let Some((new, _)) = replacement {
                count_segment(&mut st, &new);
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

/// Takes a segment's blocks out of the statistics entirely (events included).
fn remove_segment_counts(st: &mut State, seg: &Segment) {
    for (b, cost) in seg.blocks().iter().zip(block_costs(seg)) {
        let live = st.names.contains_key(&b.stream_id);
        if let Some(s) = st.stats.get_mut(&b.stream_id) {
            if live {
                s.stored_bytes = s.stored_bytes.saturating_sub(cost);
                s.blocks = s.blocks.saturating_sub(1);
            }
            s.events = s.events.saturating_sub(u64::from(b.count));
            s.raw_bytes = s.raw_bytes.saturating_sub(b.raw_bytes);
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
