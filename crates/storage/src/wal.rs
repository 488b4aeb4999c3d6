//! The write-ahead log: every acknowledged batch is here, fsynced, until a segment holds it
//! and no consumer of committed batches still needs it.
//!
//! ```text
//! file     := magic:"LSWAL001" record*
//! record   := len:u32le crc32c(payload):u32le payload
//! payload  := kind:u8(=3) lsn:u64le stream_id:varint producer events
//!           | kind:u8(=4) lsn:u64le change:json
//!           | kind:u8(=1) stream_id:varint events                        (read only)
//!           | kind:u8(=2) stream_id:varint producer_body events          (read only)
//! producer := 0 | 1 producer_body
//! producer_body := producer_len:varint producer sequence:varint updated:zigzag
//! events   := count:varint (ts:zigzag ingest:zigzag len:varint bytes)*
//! ```
//! **Log sequence numbers.** Every record written carries its LSN, assigned when the record is
//! queued, under the same lock that orders records in the file: LSNs grow by one from record
//! to record, across files and restarts (the catalog keeps the next one at each checkpoint,
//! and replay raises it past every record it sees). The LSN is the ticket an appender waits
//! on, so "durable up to N" and "every record with an LSN at most N is on disk" are the same
//! statement. Consumers read "everything committed after N" from the files ([`Wal::read_after`]).
//!
//! **Catalog changes** (kind 4: a group or stream created or deleted, a retention set) are
//! logged like batches, so creating a stream costs one shared fsync whatever the catalog's
//! size; the catalog file is rewritten only at seals, which checkpoint it (see `catalog`).
//! They take LSNs in the same sequence, so a stream's creation precedes its first batch in the
//! log, but consumers of committed batches never see them.
//!
//! A producer's new highest sequence travels in the same record as its events, so the
//! deduplication state is exactly as durable as the data, and replay rebuilds it. Kinds 1 and
//! 2 (written before LSNs existed) are still replayed, but carry no LSN and are never handed to
//! consumers; a binary older than kind 3 treats it as corruption, so downgrading is not
//! supported.
//!
//! Files are named `<id:016x>.wal` and only ever appended to. **Group commit**: appenders queue
//! their framed record in a shared buffer; whichever arrives while no flush is running becomes
//! the leader, writes everything queued and fsyncs once, and all appenders whose records were in
//! that write return together. A failed write or fsync poisons the log: the OS may have dropped
//! the dirty pages, so no later fsync can vouch for them, and every later append fails.
//!
//! **Recovery** keeps every whole record. Bytes that are short or fail their CRC are copied to
//! `<file>.corrupt-<offset>` for inspection, and the scan resumes at the next offset where a
//! record's framing proves it whole (its length fits, its CRC-32C matches, its payload decodes,
//! and its LSN is above the last one kept and within what the rest of the file could hold);
//! the file is then rewritten with its whole records only. So a flipped bit costs the one
//! record it hit, not every record after it. What was lost is reported exactly: the damaged
//! byte ranges, and the LSNs of the records lost in them, which the LSNs of the records around
//! them bound. LSNs absent without damage (a file deleted or cut short, a missing checkpoint
//! file) are reported against the catalog's next LSN. A damaged tail with nothing after it is
//! a write that never completed, which was never acknowledged. Records written before LSNs
//! (kinds 1 and 2) are only found in unbroken sequence.
//!
//! The newest file, if it holds no record, is reused by the next start rather than left
//! beside a new one; older empty files are removed.
//!
//! **Retention.** A file may be deleted once its batches are sealed (its id is below the
//! checkpoint) and every record in it is at or below the lowest consumer hold.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::ops::RangeInclusive;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{IoContext, Result, StorageError};
use crate::fsutil::{self, Perms};
use crate::varint::{self, Reader};

const MAGIC: &[u8; 8] = b"LSWAL001";
const KIND_APPEND: u8 = 1;
const KIND_APPEND_PRODUCER: u8 = 2;
const KIND_BATCH: u8 = 3;
const KIND_CATALOG: u8 = 4;
/// Where a kind 3 or 4 payload keeps its LSN, patched in by [`Wal::enqueue`].
const LSN_AT: std::ops::Range<usize> = 1..9;
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

/// One event as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalEvent {
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub message: String,
}

/// One batch as logged: events of one stream, and the producer if the append was idempotent.
/// `lsn` is `None` only for records written before LSNs existed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalBatch {
    pub lsn: Option<u64>,
    pub stream_id: u64,
    pub producer: Option<WalProducer>,
    pub events: Vec<WalEvent>,
}

/// One record as replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WalRecord {
    /// A batch of events.
    Batch(WalBatch),
    /// A catalog change, as the catalog encoded it.
    Catalog {
        /// Its LSN.
        lsn: u64,
        /// The encoded change.
        change: Vec<u8>,
    },
}

impl WalRecord {
    fn lsn(&self) -> Option<u64> {
        match self {
            WalRecord::Batch(b) => b.lsn,
            WalRecord::Catalog { lsn, .. } => Some(*lsn),
        }
    }
}

/// An encoded record payload, its LSN not yet assigned.
#[derive(Debug, Clone)]
pub(crate) struct Record(Vec<u8>);

/// Encodes a catalog change record (kind 4); [`Wal::enqueue`] assigns its LSN.
pub(crate) fn encode_catalog(change: &[u8]) -> Record {
    let mut p = Vec::with_capacity(9 + change.len());
    p.push(KIND_CATALOG);
    p.extend_from_slice(&0u64.to_le_bytes());
    p.extend_from_slice(change);
    Record(p)
}

/// Decodes any record payload.
fn decode_record(payload: &[u8]) -> Option<WalRecord> {
    match payload.first()? {
        &KIND_CATALOG => {
            let lsn = u64::from_le_bytes(payload.get(LSN_AT)?.try_into().ok()?);
            Some(WalRecord::Catalog { lsn, change: payload[LSN_AT.end..].to_vec() })
        }
        _ => decode_batch(payload).map(WalRecord::Batch),
    }
}

/// Encodes a batch record payload (kind 3); [`Wal::enqueue`] assigns its LSN.
pub(crate) fn encode_batch<'a>(
    stream_id: u64,
    producer: Option<(&str, u64, i64)>,
    events: impl ExactSizeIterator<Item = (i64, i64, &'a str)>,
) -> Record {
    let mut p = Vec::with_capacity(24 + events.len() * 160);
    p.push(KIND_BATCH);
    p.extend_from_slice(&0u64.to_le_bytes());
    varint::put_u64(&mut p, stream_id);
    match producer {
        None => p.push(0),
        Some((id, sequence, updated)) => {
            p.push(1);
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
    Record(p)
}

fn decode_producer(r: &mut Reader<'_>) -> Option<WalProducer> {
    let len = r.u64()? as usize;
    let id = std::str::from_utf8(r.bytes(len)?).ok()?.to_owned();
    Some(WalProducer { id, sequence: r.u64()?, updated: r.i64()? })
}

fn decode_batch(payload: &[u8]) -> Option<WalBatch> {
    let mut r = Reader::new(payload);
    let kind = r.bytes(1)?[0];
    let (lsn, stream_id, producer) = match kind {
        KIND_BATCH => {
            let lsn = u64::from_le_bytes(r.bytes(8)?.try_into().ok()?);
            let stream_id = r.u64()?;
            let producer = match r.bytes(1)?[0] {
                0 => None,
                1 => Some(decode_producer(&mut r)?),
                _ => return None,
            };
            (Some(lsn), stream_id, producer)
        }
        KIND_APPEND => (None, r.u64()?, None),
        KIND_APPEND_PRODUCER => {
            let stream_id = r.u64()?;
            (None, stream_id, Some(decode_producer(&mut r)?))
        }
        _ => return None,
    };
    let count = r.u64()? as usize;
    let mut events = Vec::with_capacity(count.min(payload.len()));
    for _ in 0..count {
        let timestamp = r.i64()?;
        let ingestion_time = r.i64()?;
        let len = r.u64()? as usize;
        let message = std::str::from_utf8(r.bytes(len)?).ok()?.to_owned();
        events.push(WalEvent { timestamp, ingestion_time, message });
    }
    r.is_empty().then_some(WalBatch { lsn, stream_id, producer, events })
}

/// The LSN of a payload without decoding it, if it has one.
fn peek_lsn(payload: &[u8]) -> Option<u64> {
    matches!(payload.first(), Some(&KIND_BATCH | &KIND_CATALOG))
        .then(|| payload.get(LSN_AT).map(|b| u64::from_le_bytes(b.try_into().expect("8"))))
        .flatten()
}

/// One whole, checksummed record at `pos` of `data`: its payload and framed length.
fn record_at(data: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let h = data.get(pos..pos + 8)?;
    let len = u32::from_le_bytes(h[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(h[4..8].try_into().ok()?);
    if len > MAX_RECORD {
        return None;
    }
    let payload = data.get(pos + 8..(pos + 8).checked_add(len)?)?;
    (crc32c::crc32c(payload) == crc).then_some((payload, 8 + len))
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
    /// Highest LSN seen in any kept file (0 if none).
    pub last_lsn: u64,
    /// Highest LSN of a batch replayed (0 if none).
    pub last_batch_lsn: u64,
    /// The first LSN of each kept file that has LSN records.
    pub first_lsns: BTreeMap<u64, u64>,
    /// Byte ranges that failed their checks and were set aside, in file order.
    pub damage: Vec<Damage>,
    /// Records known to be missing without damaged bytes to show for it: their LSNs are
    /// absent between records found (a file deleted or cut short) or before the first one the
    /// catalog expected.
    pub missing: Vec<Missing>,
    /// The newest file, when it holds no record and no damage: appending may continue in it
    /// rather than in a new file, so restarts do not leave empty files behind.
    pub reusable: Option<u64>,
}

/// Bytes of a log file that failed their checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// The file.
    pub file: PathBuf,
    /// Where the damaged bytes start, and how many there are.
    pub offset: u64,
    pub bytes: u64,
    /// The LSNs of the records lost in them, when records on both sides bound them.
    pub lost_lsns: Option<RangeInclusive<u64>>,
    /// Nothing whole follows in the file: the tail of a write that never completed (which was
    /// never acknowledged) unless a later file or the catalog shows records missing.
    pub tail: bool,
}

/// Records absent from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Missing {
    /// The first missing LSN.
    pub first: u64,
    /// The last one, when a record after them was found.
    pub last: Option<u64>,
    /// The file where they were expected: the first one found after them, or the checkpoint
    /// file, absent, when no record after the checkpoint was found.
    pub file: PathBuf,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} damaged bytes at offset {}",
            self.file.display(),
            self.bytes,
            self.offset
        )?;
        match (&self.lost_lsns, self.tail) {
            (Some(l), _) => write!(f, ", records with LSNs {}..={} lost", l.start(), l.end()),
            (None, true) => write!(f, " at the end of the file (a write that never completed)"),
            (None, false) => write!(f, " (no whole record lost)"),
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.file.display();
        match self.last {
            Some(last) => {
                write!(f, "records with LSNs {}..={last} are missing before {file}", self.first)
            }
            None if self.file.exists() => write!(
                f,
                "{file} holds no records although a later log file exists: the records from \
                 LSN {} on are missing from it (unless a version before 0.1 left it empty)",
                self.first
            ),
            None => write!(
                f,
                "{file} is missing: it held the records from LSN {} on, if there were any",
                self.first
            ),
        }
    }
}

/// Smallest framed kind 3 record: header, kind, LSN, and a byte each for the stream id, the
/// producer flag and the event count.
const MIN_RECORD: usize = 8 + 1 + 8 + 3;

/// Where recovery starts, as the catalog says.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Recovery {
    /// Files below this id are sealed.
    pub checkpoint: u64,
    /// The lowest consumer position, if any consumer holds records.
    pub hold: Option<u64>,
    /// The LSN the first record after the checkpoint has at least (0: unknown).
    pub next_lsn: u64,
    /// Modes of the files recovery writes.
    pub perms: Perms,
    /// Only look: remove, cut and rewrite nothing (for `verify`).
    pub read_only: bool,
}

/// Replays every log file with id ≥ `checkpoint` in order, keeping every whole record, and
/// sets damaged bytes aside. Records are looked for against `next_lsn`: LSNs absent between
/// the ones found are reported as missing. Older files hold sealed batches: they are deleted
/// unless a consumer `hold` (the lowest consumer position) still needs one of their records.
pub(crate) fn replay(
    dir: &Path,
    from: &Recovery,
    mut apply: impl FnMut(WalRecord),
) -> Result<Replay> {
    let Recovery { checkpoint, hold, next_lsn, perms, read_only } = *from;
    let drop_file = |path: &Path| if read_only { Ok(()) } else { remove(path) };
    let mut out = Replay::default();
    let mut sealed = Vec::new();
    // The LSN the next record should have, once known.
    let mut expected = (next_lsn > 0).then_some(next_lsn);
    // The damage report just before the next record, which a gap in LSNs is charged to.
    let mut pending: Option<usize> = None;
    // An empty checkpoint file beside later ones, reported as missing records unless the next
    // record found carries on the LSNs (a flush that failed and was cut back, then recovered).
    let mut suspect: Option<usize> = None;
    let ids = list(dir)?;
    let newest = ids.last().copied();
    for id in ids {
        out.last_id = out.last_id.max(id);
        let path = dir.join(file_name(id));
        if id < checkpoint {
            if hold.is_some() {
                let first = first_lsn(&path)?;
                sealed.push((id, first));
                if let Some(first) = first {
                    out.first_lsns.insert(id, first);
                }
            } else {
                drop_file(&path)?;
            }
            continue;
        }
        let data = fs::read(&path).context(|| format!("reading {}", path.display()))?;
        let scan = scan_file(&data, out.last_lsn.max(expected.unwrap_or(1) - 1));
        let mut damaged = scan.damaged.iter().peekable();
        let mut records = 0;
        for (at, range) in &scan.records {
            while let Some(d) = damaged.next_if(|d| d.end() <= *at) {
                pending = Some(out.damage.len());
                out.damage.push(d.report(&path, false));
            }
            let record = decode_record(&data[range.clone()]).expect("scan_file checked it");
            if let WalRecord::Batch(b) = &record {
                out.last_batch_lsn = out.last_batch_lsn.max(b.lsn.unwrap_or(0));
            }
            if let Some(lsn) = record.lsn() {
                if let Some(i) = suspect.take() {
                    match expected {
                        Some(e) if lsn > e => {
                            out.missing[i].last = Some(lsn - 1);
                            expected = Some(lsn);
                        }
                        _ => drop(out.missing.remove(i)),
                    }
                }
                out.first_lsns.entry(id).or_insert(lsn);
                out.last_lsn = out.last_lsn.max(lsn);
                if let Some(e) = expected.filter(|e| lsn > *e) {
                    // Damage just before this record lost them; without any, they are missing.
                    match pending {
                        Some(i) => out.damage[i].lost_lsns = Some(e..=lsn - 1),
                        None => out.missing.push(Missing {
                            first: e,
                            last: Some(lsn - 1),
                            file: path.clone(),
                        }),
                    }
                }
                expected = Some(lsn + 1);
            }
            pending = None;
            apply(record);
            out.records += 1;
            records += 1;
        }
        for d in damaged {
            pending = Some(out.damage.len());
            out.damage.push(d.report(&path, d.end() == data.len()));
        }
        if !scan.damaged.is_empty() {
            if !read_only {
                set_aside_damage(&path, &data, &scan, perms)?;
            }
        } else if records == 0 && data.len() <= MAGIC.len() {
            if Some(id) == newest {
                out.reusable = Some(id);
            } else if id == checkpoint && next_lsn > 0 {
                // A start reuses an empty checkpoint file, so a later file beside an empty one
                // means it held records that are gone (or an older version left it empty).
                suspect = Some(out.missing.len());
                out.missing.push(Missing { first: next_lsn, last: None, file: path.clone() });
            } else {
                // An empty file left by an earlier start: nothing in it to keep.
                drop_file(&path)?;
            }
        }
    }
    if let Some(e) = expected.filter(|_| next_lsn > 0 && out.records == 0 && checkpoint > 0) {
        let file = dir.join(file_name(checkpoint));
        if !file.exists() && out.reusable.is_none() {
            out.missing.push(Missing { first: e, last: None, file });
        }
    }
    for d in out.damage.iter().filter(|_| !read_only) {
        match (&d.lost_lsns, d.tail) {
            (None, true) => tracing::warn!("write-ahead log {d}; cut there"),
            (None, false) => tracing::warn!("write-ahead log {d}"),
            (Some(_), _) => tracing::error!("write-ahead log {d}"),
        }
    }
    for m in out.missing.iter().filter(|_| !read_only) {
        tracing::error!("write-ahead log: {m}; acknowledged events in them are lost");
    }
    // A sealed file is still needed while it holds a record above the hold: its last record
    // is just below the next file's first.
    if let Some(hold) = hold {
        for (id, first) in &sealed {
            let next_first = out.first_lsns.range(id + 1..).next().map(|(_, f)| *f);
            let needed = first.is_some() && next_first.is_none_or(|n| n > hold + 1);
            if !needed {
                out.first_lsns.remove(id);
                drop_file(&dir.join(file_name(*id)))?;
            }
        }
    }
    Ok(out)
}

/// A damaged byte range of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DamagedRange {
    start: usize,
    len: usize,
}

impl DamagedRange {
    fn end(&self) -> usize {
        self.start + self.len
    }

    fn report(&self, file: &Path, tail: bool) -> Damage {
        let (offset, bytes) = (self.start as u64, self.len as u64);
        Damage { file: file.to_owned(), offset, bytes, lost_lsns: None, tail }
    }
}

/// What one file holds: its whole records (offset and payload range) and damaged ranges.
#[derive(Debug, Default)]
struct FileScan {
    records: Vec<(usize, std::ops::Range<usize>)>,
    damaged: Vec<DamagedRange>,
}

/// Finds every whole record of a file. After bytes that fail their checks, the scan resumes at
/// the next offset where a record's framing proves it whole: a length that fits, a matching
/// CRC-32C, a payload that decodes, and an LSN above `last_lsn` and within what the rest of
/// the file could hold. Records written before LSNs are only found in unbroken sequence.
fn scan_file(data: &[u8], last_lsn: u64) -> FileScan {
    let mut out = FileScan::default();
    let mut pos = MAGIC.len().min(data.len());
    if data[..pos] != MAGIC[..pos] || pos < MAGIC.len() {
        out.damaged.push(DamagedRange { start: 0, len: pos });
    }
    let mut last = last_lsn;
    let whole = |at: usize| -> Option<(std::ops::Range<usize>, Option<u64>)> {
        let (payload, n) = record_at(data, at)?;
        let record = decode_record(payload)?;
        Some((at + 8..at + n, record.lsn()))
    };
    while pos < data.len() {
        if let Some((range, lsn)) = whole(pos) {
            last = last.max(lsn.unwrap_or(0));
            let end = range.end;
            out.records.push((pos, range));
            pos = end;
            continue;
        }
        let start = pos;
        let next = (start + 1..data.len().saturating_sub(MIN_RECORD - 1)).find(|&q| {
            let Some(lsn) = data.get(q + 8..q + 8 + 9).and_then(peek_lsn) else { return false };
            let room = ((data.len() - q) / MIN_RECORD) as u64;
            lsn > last && lsn <= last + room && whole(q).is_some()
        });
        let end = next.unwrap_or(data.len());
        out.damaged.push(DamagedRange { start, len: end - start });
        pos = end;
    }
    // A damaged header followed directly by damage is one range.
    if let [a, b, ..] = out.damaged[..]
        && a.end() == b.start
    {
        out.damaged.splice(0..2, [DamagedRange { start: a.start, len: a.len + b.len }]);
    }
    out
}

/// Copies each damaged range of `path` to `<file>.corrupt-<offset>` and rewrites the file with
/// its whole records only, atomically, so appending after the last one is safe.
fn set_aside_damage(path: &Path, data: &[u8], scan: &FileScan, perms: Perms) -> Result<()> {
    for d in &scan.damaged {
        let aside = path.with_extension(format!("wal.corrupt-{}", d.start));
        let mut f = perms.create(&aside)?;
        f.write_all(&data[d.start..d.end()])
            .and_then(|()| f.sync_all())
            .context(|| format!("saving {}", aside.display()))?;
    }
    let mut kept = MAGIC.to_vec();
    for (at, range) in &scan.records {
        kept.extend_from_slice(&data[*at..range.end]);
    }
    // Not named `*.wal` until whole, so a crash here leaves the damaged original to retry.
    fsutil::write_atomic(&path.with_extension("wal.rewrite"), &kept, perms)?;
    fs::rename(path.with_extension("wal.rewrite"), path)
        .context(|| format!("replacing {}", path.display()))?;
    fsutil::sync_parent(path)
}

/// The ids of the streams with whole records in the files with id ≥ `checkpoint` that no
/// catalog change in those files creates, read without changing anything: a rebuilt catalog
/// must name them, or replay would skip their batches as those of deleted streams. (Streams
/// created in those files get their names when replay applies the change.)
pub(crate) fn stream_ids(dir: &Path, checkpoint: u64) -> Result<std::collections::BTreeSet<u64>> {
    let mut out = std::collections::BTreeSet::new();
    let mut created = std::collections::BTreeSet::new();
    if !dir.exists() {
        return Ok(out);
    }
    for id in list(dir)?.into_iter().filter(|&id| id >= checkpoint) {
        let path = dir.join(file_name(id));
        let data = fs::read(&path).context(|| format!("reading {}", path.display()))?;
        for (_, range) in scan_file(&data, 0).records {
            match decode_record(&data[range]) {
                Some(WalRecord::Batch(b)) => drop(out.insert(b.stream_id)),
                Some(WalRecord::Catalog { change, .. }) => created.extend(
                    crate::catalog::CatalogChange::decode(&change)
                        .ok()
                        .and_then(|c| c.created_stream()),
                ),
                None => {}
            }
        }
    }
    out.retain(|id| !created.contains(id));
    Ok(out)
}

/// The `*.wal.corrupt-<offset>` files recovery left in `dir`: damaged bytes kept for an
/// operator, who deletes them once looked at.
pub(crate) fn set_aside_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.to_string_lossy().starts_with("corrupt-")))
        .collect();
    out.sort();
    out
}

fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).context(|| format!("removing sealed {}", path.display()))
}

/// The LSN of a file's first record, if it is whole and has one.
fn first_lsn(path: &Path) -> Result<Option<u64>> {
    let mut head = vec![0u8; MAGIC.len() + 8 + LSN_AT.end];
    let f = File::open(path).context(|| format!("opening {}", path.display()))?;
    let n = read_full_at(&f, &mut head, 0).context(|| format!("reading {}", path.display()))?;
    let body = head.get(MAGIC.len() + 8..n).unwrap_or_default();
    Ok(peek_lsn(body))
}

/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read.
fn read_full_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

struct State {
    /// Shared with the flush that writes outside the lock.
    file: Arc<File>,
    id: u64,
    /// Framed records waiting for the next flush.
    pending: Vec<u8>,
    /// LSN of the last record queued, and of the last one durable.
    queued: u64,
    durable: u64,
    /// The same for batches only.
    queued_batch: u64,
    durable_batch: u64,
    /// Bytes of the current file that are durable: a failed flush is cut back to here.
    written: u64,
    flushing: bool,
    poisoned: Option<String>,
    /// First LSN of every file on disk that has records with LSNs.
    first_lsns: BTreeMap<u64, u64>,
}

/// Where LSNs stand when a log is created: the last record's, and the last batch's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LastLsns {
    pub record: u64,
    pub batch: u64,
}

/// Where the log continues after an LSN: lets a consumer's next read start where its last
/// one stopped instead of at the top of the file.
#[derive(Debug, Clone, Copy)]
struct ReadHint {
    after: u64,
    file: u64,
    offset: u64,
}

/// Most read hints kept (about one per consumer).
const READ_HINTS: usize = 8;

/// The log being appended to.
pub(crate) struct Wal {
    dir: PathBuf,
    sync: bool,
    perms: Perms,
    state: Mutex<State>,
    flushed: Condvar,
    hints: Mutex<Vec<ReadHint>>,
    /// Test seam: the next flush fails with this OS error (as a full disk would).
    #[cfg(test)]
    pub(crate) fail_next_flush: Mutex<Option<i32>>,
}

/// Why [`Wal::read_after`] could not serve a read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Records after `after` were deleted; the oldest still readable follows `oldest`.
    Unavailable { oldest: u64 },
    /// Another storage error.
    Storage(StorageError),
}

impl From<StorageError> for ReadError {
    fn from(e: StorageError) -> Self {
        ReadError::Storage(e)
    }
}

impl Wal {
    /// Starts a new log file with id `id` in `dir` (or restarts an empty one), continuing after
    /// LSN `last_lsn`, beside the kept files whose first LSNs are `first_lsns`. `sync: false`
    /// skips fsync (for tests and benchmarks of everything else; never for real data).
    pub(crate) fn create(
        dir: &Path,
        id: u64,
        sync: bool,
        last: LastLsns,
        first_lsns: BTreeMap<u64, u64>,
        perms: Perms,
    ) -> Result<Wal> {
        let file = new_file(dir, id, perms)?;
        Ok(Wal {
            dir: dir.to_owned(),
            sync,
            perms,
            state: Mutex::new(State {
                file: Arc::new(file),
                id,
                pending: Vec::new(),
                queued: last.record,
                durable: last.record,
                queued_batch: last.batch,
                durable_batch: last.batch,
                written: MAGIC.len() as u64,
                flushing: false,
                poisoned: None,
                first_lsns,
            }),
            flushed: Condvar::new(),
            hints: Mutex::new(Vec::new()),
            #[cfg(test)]
            fail_next_flush: Mutex::new(None),
        })
    }

    /// Appends one record and returns its LSN once it is durable.
    #[cfg(test)]
    pub(crate) fn append(&self, record: &Record) -> Result<u64> {
        let lsn = self.enqueue(record)?;
        self.wait_durable(lsn)?;
        Ok(lsn)
    }

    /// Queues one record for the next flush, assigning its LSN, which is also the ticket for
    /// [`Wal::wait_durable`]. Records reach the file in the order they are queued, so a caller
    /// holding its own lock across `enqueue` orders its records in the log by that lock.
    pub(crate) fn enqueue(&self, record: &Record) -> Result<u64> {
        let payload = &record.0;
        let mut st = self.state.lock();
        if let Some(why) = &st.poisoned {
            return Err(StorageError::Poisoned(why.clone()));
        }
        let lsn = st.queued + 1;
        let at = st.pending.len();
        st.pending.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        st.pending.extend_from_slice(&[0; 4]);
        st.pending.extend_from_slice(payload);
        let body = at + 8..st.pending.len();
        st.pending[body.start + LSN_AT.start..body.start + LSN_AT.end]
            .copy_from_slice(&lsn.to_le_bytes());
        let crc = crc32c::crc32c(&st.pending[body]);
        st.pending[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        st.queued = lsn;
        if payload[0] == KIND_BATCH {
            st.queued_batch = lsn;
        }
        let id = st.id;
        st.first_lsns.entry(id).or_insert(lsn);
        Ok(lsn)
    }

    /// Returns once the record with LSN `ticket`, and so every record queued before it, is
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
            let (upto, upto_batch) = (st.queued, st.queued_batch);
            let file = st.file.clone();
            let id = st.id;
            drop(st);
            #[cfg(test)]
            let injected = self.fail_next_flush.lock().take();
            #[cfg(not(test))]
            let injected: Option<i32> = None;
            let result = match injected {
                Some(code) => Err(std::io::Error::from_raw_os_error(code)),
                None => (&*file)
                    .write_all(&buf)
                    .and_then(|()| if self.sync { file.sync_data() } else { Ok(()) }),
            };
            st = self.state.lock();
            st.flushing = false;
            match result {
                Ok(()) => {
                    (st.durable, st.durable_batch) = (upto, upto_batch);
                    st.written += buf.len() as u64;
                }
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

    /// The LSN of the last durable record (0 before the first).
    pub(crate) fn durable_lsn(&self) -> u64 {
        self.state.lock().durable
    }

    /// The LSN of the last durable batch (0 before the first).
    pub(crate) fn durable_batch_lsn(&self) -> u64 {
        self.state.lock().durable_batch
    }

    /// The LSN of the last record queued: after a seal's rotation, with no append in flight,
    /// every record up to it is in the closed files.
    pub(crate) fn queued_lsn(&self) -> u64 {
        self.state.lock().queued
    }

    /// Waits up to `timeout` until a record after `after` is durable; returns the durable LSN.
    pub(crate) fn wait_beyond(&self, after: u64, timeout: std::time::Duration) -> u64 {
        let deadline = std::time::Instant::now() + timeout;
        let mut st = self.state.lock();
        while st.durable <= after && st.poisoned.is_none() {
            if self.flushed.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
        st.durable
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
        st.file = Arc::new(new_file(&self.dir, next, self.perms)?);
        let closed = st.id;
        st.id = next;
        st.written = MAGIC.len() as u64;
        Ok(closed)
    }

    /// Whether a failed write or fsync stopped appends.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.state.lock().poisoned.is_some()
    }

    /// After a failed write or fsync, makes the log usable again if the disk lets it: cuts
    /// the current file back to its durable bytes (the failed flush's records were never
    /// acknowledged, and their pages may be half on disk), fsyncs that, and continues in a new
    /// file from the last durable LSN. Returns whether it recovered; fails, staying poisoned,
    /// while the disk still refuses. The caller makes sure no append is in flight.
    pub(crate) fn recover(&self) -> Result<bool> {
        let mut st = self.state.lock();
        if st.poisoned.is_none() {
            return Ok(false);
        }
        debug_assert!(!st.flushing);
        let path = self.dir.join(file_name(st.id));
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(st.written).and_then(|()| f.sync_all()))
            .context(|| format!("cutting {} back to its durable records", path.display()))?;
        let next = st.id + 1;
        st.file = Arc::new(new_file(&self.dir, next, self.perms)?);
        st.id = next;
        st.written = MAGIC.len() as u64;
        st.pending.clear();
        st.queued = st.durable;
        st.queued_batch = st.durable_batch;
        let durable = st.durable;
        st.first_lsns.retain(|_, first| *first <= durable);
        let why = st.poisoned.take().unwrap_or_default();
        tracing::warn!(after = %why, durable_lsn = durable, "write-ahead log writable again");
        Ok(true)
    }

    /// Deletes the files with ids below `checkpoint`, whose batches are sealed in segments,
    /// except those holding a record above `hold` (the lowest consumer position).
    pub(crate) fn remove_below(&self, checkpoint: u64, hold: Option<u64>) -> Result<()> {
        let doomed: Vec<u64> = {
            let mut st = self.state.lock();
            let ids = list(&self.dir)?;
            let doomed: Vec<u64> = ids
                .into_iter()
                .filter(|&id| id < checkpoint)
                .filter(|&id| match (hold, st.first_lsns.get(&id)) {
                    (None, _) | (_, None) => true,
                    (Some(hold), Some(_)) => {
                        // The file's last record is just below the next file's first.
                        let next = st.first_lsns.range(id + 1..).next().map(|(_, f)| *f);
                        next.is_some_and(|n| n <= hold + 1)
                    }
                })
                .collect();
            doomed.iter().for_each(|id| {
                st.first_lsns.remove(id);
            });
            doomed
        };
        if doomed.is_empty() {
            return Ok(());
        }
        for id in doomed {
            remove(&self.dir.join(file_name(id)))?;
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

    /// Durable batches with an LSN above `after`, in LSN order: at least one batch if there is
    /// any, then more while their events stay within `max_events`; and the LSN of the last
    /// record looked at, batch or not (catalog records are passed over). Records written before
    /// LSNs existed are skipped. Reads the files, so it never holds appenders up.
    pub(crate) fn read_after(
        &self,
        after: u64,
        max_events: usize,
    ) -> std::result::Result<(Vec<WalBatch>, u64), ReadError> {
        let (durable, files, current) = {
            let st = self.state.lock();
            (st.durable, st.first_lsns.clone(), st.id)
        };
        if durable <= after {
            return Ok((Vec::new(), after));
        }
        let oldest = files.values().next().copied();
        if oldest.is_none_or(|o| o > after + 1) {
            return Err(ReadError::Unavailable { oldest: oldest.map_or(durable, |o| o - 1) });
        }
        // Start where this consumer's last read stopped if that file is still there, else at
        // the top of the file holding `after + 1`.
        let hint = self.hints.lock().iter().find(|h| h.after == after).copied();
        let (mut file, mut offset) = match hint {
            Some(h) if files.contains_key(&h.file) => (h.file, h.offset),
            _ => {
                let file = files.iter().rev().find(|(_, f)| **f <= after + 1).map(|(id, _)| *id);
                (file.expect("oldest is at most after + 1"), MAGIC.len() as u64)
            }
        };
        let mut out: Vec<WalBatch> = Vec::new();
        let mut events = 0;
        let mut last = after;
        'files: loop {
            let path = self.dir.join(file_name(file));
            let f = File::open(&path).context(|| format!("opening {}", path.display()))?;
            let len = f.metadata().context(|| format!("reading {}", path.display()))?.len();
            let mut chunk = 4 << 20;
            let mut buf = Vec::new();
            while offset < len {
                buf.resize((len - offset).min(chunk) as usize, 0);
                let n = read_full_at(&f, &mut buf, offset)
                    .context(|| format!("reading {}", path.display()))?;
                buf.truncate(n);
                let mut pos = 0;
                while let Some((payload, n)) = record_at(&buf, pos) {
                    let Some(lsn) = peek_lsn(payload) else {
                        pos += n; // written before LSNs
                        continue;
                    };
                    if payload[0] == KIND_CATALOG && lsn <= durable {
                        // Not a batch: consumers pass over it.
                        last = lsn;
                        pos += n;
                        continue;
                    }
                    if lsn > durable || (lsn > after && !out.is_empty() && events >= max_events) {
                        offset += pos as u64;
                        break 'files;
                    }
                    if lsn > after {
                        let batch = decode_batch(payload).ok_or_else(|| {
                            StorageError::corrupt(&path, offset + pos as u64, "undecodable record")
                        })?;
                        events += batch.events.len();
                        out.push(batch);
                    }
                    last = lsn;
                    pos += n;
                }
                if pos == 0 {
                    let need = buf
                        .get(..4)
                        .map_or(0, |h| 8 + u32::from_le_bytes(h.try_into().expect("4")) as u64);
                    if need > chunk && need <= (len - offset).min(8 + MAX_RECORD as u64) {
                        chunk = need; // one record larger than a chunk: read it whole
                        continue;
                    }
                    if file == current {
                        break 'files; // the tail a flush is still writing
                    }
                    return Err(StorageError::corrupt(&path, offset, "damaged record").into());
                }
                offset += pos as u64;
            }
            match files.range(file + 1..).next() {
                Some((next, _)) if last < durable => {
                    file = *next;
                    offset = MAGIC.len() as u64;
                }
                _ => break,
            }
        }
        let mut hints = self.hints.lock();
        hints.retain(|h| h.after != after && h.after != last);
        if hints.len() >= READ_HINTS {
            hints.remove(0);
        }
        hints.push(ReadHint { after: last, file, offset });
        Ok((out, last))
    }
}

fn new_file(dir: &Path, id: u64, perms: Perms) -> Result<File> {
    let path = dir.join(file_name(id));
    let mut f = perms.create(&path)?;
    f.write_all(MAGIC).context(|| format!("writing {}", path.display()))?;
    f.sync_all().context(|| format!("fsync of {}", path.display()))?;
    fsutil::sync_dir(dir)?;
    Ok(f)
}

#[cfg(test)]
mod tests;
