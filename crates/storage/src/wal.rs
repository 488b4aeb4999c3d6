//! The write-ahead log: every acknowledged batch is here, fsynced, until a segment holds it.
//!
//! ```text
//! file   := magic:"LSWAL001" record*
//! record := len:u32le crc32c(payload):u32le payload
//! payload:= kind:u8(=1) stream_id:varint events
//!          | kind:u8(=2) stream_id:varint producer_len:varint producer sequence:varint
//!            updated:zigzag events
//! events := count:varint (ts:zigzag ingest:zigzag len:varint bytes)*
//! ```
//! Kind 2 is an idempotent append: the producer's new highest sequence travels in the same
//! record as its events, so the deduplication state is exactly as durable as the data, and
//! replay rebuilds it. Kind 1 records (without a producer) are still written and read; a
//! binary older than kind 2 treats a kind 2 record as corruption, so downgrading is not
//! supported once idempotent appends were made.
//! Files are named `<id:016x>.wal` and only ever appended to. **Group commit**: appenders queue
//! their framed record in a shared buffer; whichever arrives while no flush is running becomes
//! the leader, writes everything queued and fsyncs once, and all appenders whose records were in
//! that write return together. A failed write or fsync poisons the log: the OS may have dropped
//! the dirty pages, so no later fsync can vouch for them, and every later append fails.
//!
//! **Recovery** reads records until the first one that is short or fails its CRC, cuts the file
//! there (copying the cut bytes to `<file>.corrupt-<offset>` for inspection), and keeps every
//! whole record before it: exactly the batches that could have been acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{IoContext, Result, StorageError};
use crate::fsutil;
use crate::varint::{self, Reader};

const MAGIC: &[u8; 8] = b"LSWAL001";
const KIND_APPEND: u8 = 1;
const KIND_APPEND_PRODUCER: u8 = 2;
/// Largest record accepted on replay; larger lengths are treated as corruption.
const MAX_RECORD: usize = 64 << 20;

/// The producer of an idempotent batch: its id, the batch's sequence, and when (epoch ms) the
/// append was made, which orders producers for eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalProducer {
    pub id: String,
    pub sequence: u64,
    pub updated: i64,
}

/// One batch as logged: events of one stream, and the producer if the append was idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalBatch {
    pub stream_id: u64,
    pub producer: Option<WalProducer>,
    pub events: Vec<(i64, i64, String)>,
}

/// Encodes a batch record payload: kind 1, or kind 2 when there is a producer.
pub(crate) fn encode_batch<'a>(
    stream_id: u64,
    producer: Option<(&str, u64, i64)>,
    events: impl ExactSizeIterator<Item = (i64, i64, &'a str)>,
) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + events.len() * 160);
    match producer {
        None => {
            p.push(KIND_APPEND);
            varint::put_u64(&mut p, stream_id);
        }
        Some((id, sequence, updated)) => {
            p.push(KIND_APPEND_PRODUCER);
            varint::put_u64(&mut p, stream_id);
            varint::put_u64(&mut p, id.len() as u64);
            p.extend_from_slice(id.as_bytes());
            varint::put_u64(&mut p, sequence);
            varint::put_i64(&mut p, updated);
        }
    }
    varint::put_u64(&mut p, events.len() as u64);
    for (ts, ing, msg) in events {
        varint::put_i64(&mut p, ts);
        varint::put_i64(&mut p, ing);
        varint::put_u64(&mut p, msg.len() as u64);
        p.extend_from_slice(msg.as_bytes());
    }
    p
}

fn decode_batch(payload: &[u8]) -> Option<WalBatch> {
    let mut r = Reader::new(payload);
    let kind = r.bytes(1)?[0];
    let stream_id = r.u64()?;
    let producer = match kind {
        KIND_APPEND => None,
        KIND_APPEND_PRODUCER => {
            let len = r.u64()? as usize;
            let id = std::str::from_utf8(r.bytes(len)?).ok()?.to_owned();
            Some(WalProducer { id, sequence: r.u64()?, updated: r.i64()? })
        }
        _ => return None,
    };
    let count = r.u64()? as usize;
    let mut events = Vec::with_capacity(count.min(payload.len()));
    for _ in 0..count {
        let ts = r.i64()?;
        let ing = r.i64()?;
        let len = r.u64()? as usize;
        let msg = std::str::from_utf8(r.bytes(len)?).ok()?;
        events.push((ts, ing, msg.to_owned()));
    }
    r.is_empty().then_some(WalBatch { stream_id, producer, events })
}

fn file_name(id: u64) -> String {
    format!("{id:016x}.wal")
}

/// The WAL file ids in `dir`, ascending.
fn list(dir: &Path) -> Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).context(|| format!("listing {}", dir.display()))? {
        let entry = entry.context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".wal").and_then(|h| u64::from_str_radix(h, 16).ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// What recovery found.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Highest file id seen (0 if none).
    pub last_id: u64,
    /// Whole records replayed.
    pub records: usize,
    /// Files that were cut, and where.
    pub cut: Vec<(PathBuf, u64)>,
}

/// Replays every log file with id ≥ `checkpoint` in order, deleting older ones (their batches
/// are in segments already), and cuts torn or corrupt tails.
pub(crate) fn replay(
    dir: &Path,
    checkpoint: u64,
    mut apply: impl FnMut(WalBatch),
) -> Result<Replay> {
    let mut out = Replay::default();
    for id in list(dir)? {
        out.last_id = out.last_id.max(id);
        let path = dir.join(file_name(id));
        if id < checkpoint {
            fs::remove_file(&path).context(|| format!("removing sealed {}", path.display()))?;
            continue;
        }
        let data = fs::read(&path).context(|| format!("reading {}", path.display()))?;
        let mut pos = MAGIC.len();
        let mut good = data.len() >= MAGIC.len() && &data[..MAGIC.len()] == MAGIC;
        while good && pos < data.len() {
            let rec = data.get(pos..pos + 8).and_then(|h| {
                let len = u32::from_le_bytes(h[0..4].try_into().ok()?) as usize;
                let crc = u32::from_le_bytes(h[4..8].try_into().ok()?);
                let payload = data.get(pos + 8..(pos + 8).checked_add(len)?)?;
                (len <= MAX_RECORD && crc32c::crc32c(payload) == crc)
                    .then(|| decode_batch(payload))
                    .flatten()
                    .map(|b| (b, 8 + len))
            });
            match rec {
                Some((batch, n)) => {
                    apply(batch);
                    out.records += 1;
                    pos += n;
                }
                None => good = false,
            }
        }
        if !good {
            let cut_at =
                if data.len() >= MAGIC.len() && &data[..MAGIC.len()] == MAGIC { pos } else { 0 };
            cut(&path, &data, cut_at)?;
            out.cut.push((path, cut_at as u64));
        }
    }
    Ok(out)
}

/// Cuts `path` at `at`, keeping the removed bytes beside it for inspection.
fn cut(path: &Path, data: &[u8], at: usize) -> Result<()> {
    tracing::warn!(file = %path.display(), offset = at, dropped_bytes = data.len() - at,
        "write-ahead log has a torn or corrupt tail; cutting it");
    let aside = path.with_extension(format!("wal.corrupt-{at}"));
    fs::write(&aside, &data[at..]).context(|| format!("saving {}", aside.display()))?;
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .context(|| format!("opening {}", path.display()))?;
    if at == 0 {
        f.set_len(0).context(|| format!("truncating {}", path.display()))?;
        (&f).write_all(MAGIC).context(|| format!("writing {}", path.display()))?;
    } else {
        f.set_len(at as u64).context(|| format!("truncating {}", path.display()))?;
    }
    f.sync_all().context(|| format!("fsync of {}", path.display()))?;
    fsutil::sync_parent(path)
}

struct State {
    /// Shared with the flush that writes outside the lock.
    file: Arc<File>,
    id: u64,
    /// Framed records waiting for the next flush.
    pending: Vec<u8>,
    /// Sequence number of the last record queued, and of the last one durable.
    queued: u64,
    durable: u64,
    flushing: bool,
    poisoned: Option<String>,
}

/// The log being appended to.
pub(crate) struct Wal {
    dir: PathBuf,
    sync: bool,
    state: Mutex<State>,
    flushed: Condvar,
}

impl Wal {
    /// Starts a new log file with id `id` in `dir`. `sync: false` skips fsync (for tests and
    /// benchmarks of everything else; never for real data).
    pub(crate) fn create(dir: &Path, id: u64, sync: bool) -> Result<Wal> {
        let file = new_file(dir, id)?;
        Ok(Wal {
            dir: dir.to_owned(),
            sync,
            state: Mutex::new(State {
                file: Arc::new(file),
                id,
                pending: Vec::new(),
                queued: 0,
                durable: 0,
                flushing: false,
                poisoned: None,
            }),
            flushed: Condvar::new(),
        })
    }

    /// Appends one record and returns once it is durable.
    #[cfg(test)]
    pub(crate) fn append(&self, payload: &[u8]) -> Result<()> {
        let ticket = self.enqueue(payload)?;
        self.wait_durable(ticket)
    }

    /// Queues one record for the next flush and returns its ticket for
    /// [`Wal::wait_durable`]. Records reach the file in the order they are queued, so a caller
    /// holding its own lock across `enqueue` orders its records in the log by that lock.
    pub(crate) fn enqueue(&self, payload: &[u8]) -> Result<u64> {
        let mut st = self.state.lock();
        if let Some(why) = &st.poisoned {
            return Err(StorageError::Poisoned(why.clone()));
        }
        st.pending.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        st.pending.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        st.pending.extend_from_slice(payload);
        st.queued += 1;
        Ok(st.queued)
    }

    /// Returns once the record with `ticket`, and so every record queued before it, is
    /// durable; leads a flush if none is running.
    pub(crate) fn wait_durable(&self, ticket: u64) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.durable >= ticket {
                return Ok(());
            }
            if let Some(why) = &st.poisoned {
                return Err(StorageError::Poisoned(why.clone()));
            }
            if st.flushing {
                self.flushed.wait(&mut st);
                continue;
            }
            // Lead a flush of everything queued so far.
            st.flushing = true;
            let buf = std::mem::take(&mut st.pending);
            let upto = st.queued;
            let file = st.file.clone();
            let id = st.id;
            drop(st);
            let result = (&*file)
                .write_all(&buf)
                .and_then(|()| if self.sync { file.sync_data() } else { Ok(()) });
            st = self.state.lock();
            st.flushing = false;
            match result {
                Ok(()) => st.durable = upto,
                Err(e) => {
                    let why = format!("write-ahead log {} failed: {e}", file_name(id));
                    tracing::error!("{why}");
                    st.poisoned = Some(why);
                }
            }
            if st.pending.is_empty() {
                let mut buf = buf;
                buf.clear();
                st.pending = buf;
            }
            self.flushed.notify_all();
        }
    }

    /// Switches appends to a new file and returns the id of the file closed. The caller makes
    /// sure no append is in flight.
    pub(crate) fn rotate(&self) -> Result<u64> {
        let mut st = self.state.lock();
        debug_assert!(!st.flushing && st.pending.is_empty());
        if let Some(why) = &st.poisoned {
            return Err(StorageError::Poisoned(why.clone()));
        }
        let next = st.id + 1;
        st.file = Arc::new(new_file(&self.dir, next)?);
        let closed = st.id;
        st.id = next;
        Ok(closed)
    }

    /// Refuses all further appends with `why`.
    pub(crate) fn poison(&self, why: String) {
        tracing::error!("{why}");
        self.state.lock().poisoned = Some(why);
    }

    /// Deletes the files with ids below `checkpoint`, whose batches are sealed in segments.
    pub(crate) fn remove_below(&self, checkpoint: u64) -> Result<()> {
        for id in list(&self.dir)?.into_iter().filter(|&id| id < checkpoint) {
            let path = self.dir.join(file_name(id));
            fs::remove_file(&path).context(|| format!("removing sealed {}", path.display()))?;
        }
        fsutil::sync_dir(&self.dir)
    }

    /// Bytes in the log files on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        list(&self.dir)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| fs::metadata(self.dir.join(file_name(id))).ok())
            .map(|m| m.len())
            .sum()
    }
}

fn new_file(dir: &Path, id: u64) -> Result<File> {
    let path = dir.join(file_name(id));
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .context(|| format!("creating {}", path.display()))?;
    f.write_all(MAGIC).context(|| format!("writing {}", path.display()))?;
    f.sync_all().context(|| format!("fsync of {}", path.display()))?;
    fsutil::sync_dir(dir)?;
    Ok(f)
}

#[cfg(test)]
mod tests;
