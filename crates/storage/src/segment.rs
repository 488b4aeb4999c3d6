//! Immutable segment files.
//!
//! ```text
//! segment   := magic:"LSSEGMNT" block* directory footer
//! directory := entry_size:u32le count:u32le entry*count
//! entry     := group_id:u64 min_stream:u64 max_stream:u64 min_ts:i64 max_ts:i64
//!              min_ingest:i64 max_ingest:i64 offset:u64 raw_bytes:u64 len:u32 count:u32
//!              crc32c:u32 reserved:u32                                               (88 bytes)
//! footer    := dir_offset:u64 dir_len:u64 dir_crc32c:u32 version:u32 flags:u32
//!              footer_crc32c:u32 magic:"LSSEGEND"                                   (40 bytes)
//! ```
//! All integers are little-endian. A block holds the events of one log group, sorted by
//! (stream, timestamp); its entry names the group and the range of stream ids in it, so group,
//! stream and time pruning need no decompression. Blocks are written in (group, stream, time)
//! order, so one stream's events are in consecutive blocks.
//!
//! Format 1 (still read; compaction rewrites it) had 72-byte entries
//! `stream_id min_ts max_ts min_ingest max_ingest offset raw_bytes len count crc32c reserved`
//! and one stream per block; its entries carry no group, which the store fills in from its
//! catalog on open.
//!
//! Opening a segment reads only the footer and the directory; a block's bytes are checked
//! against its CRC each time they are read, so a damaged block is reported (file and offset)
//! and never decoded. `entry_size` lets a later version append fields to entries while this
//! reader still reads the prefix it knows.
//!
//! A segment may carry a description trailer between its last block and its directory (footer
//! flag bit 0; see `describe`): the names of its groups and streams and the WAL checkpoint it
//! was written at, from which `Store::repair` rebuilds a lost catalog. Readers that do not know
//! the flag skip those bytes, as they lie outside every block, so the format stays 2.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::block::{self, Columns, DecodedBlock, RunInput, Shape};
use crate::directory::{Directory, FileBytes, FileWriter};
use crate::error::{IoContext, Result, StorageError};
use crate::msgcodec::Template;
use crate::stats::StreamStats;

const MAGIC: &[u8; 8] = b"LSSEGMNT";
const END_MAGIC: &[u8; 8] = b"LSSEGEND";
/// The segment format this build writes.
pub const FORMAT_VERSION: u32 = 2;
const ENTRY_LEN_V1: usize = 72;
const ENTRY_LEN: usize = 88;
const FOOTER_LEN: usize = 40;
/// Milliseconds in a day: segments are partitioned by UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Where a block is and what it holds, read from the segment directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// The log group whose events the block holds (0: not known, for a format 1 block of a
    /// stream deleted since).
    pub group_id: u64,
    /// Lowest stream id in the block.
    pub min_stream: u64,
    /// Highest stream id in the block.
    pub max_stream: u64,
    /// Earliest event timestamp.
    pub min_ts: i64,
    /// Latest event timestamp.
    pub max_ts: i64,
    /// Earliest ingestion time.
    pub min_ingest: i64,
    /// Latest ingestion time.
    pub max_ingest: i64,
    /// Byte offset of the block in the file.
    pub offset: u64,
    /// Sum of the UTF-8 lengths of the messages.
    pub raw_bytes: u64,
    /// Encoded length in bytes.
    pub len: u32,
    /// Number of events.
    pub count: u32,
    /// CRC-32C of the encoded bytes.
    pub crc: u32,
}

impl BlockMeta {
    /// Whether the block may hold events of a stream with an id in `ids` (sorted).
    pub fn may_hold_any(&self, ids: &[u64]) -> bool {
        let i = ids.partition_point(|&id| id < self.min_stream);
        ids.get(i).is_some_and(|&id| id <= self.max_stream)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        for v in [self.group_id, self.min_stream, self.max_stream] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.min_ts, self.max_ts, self.min_ingest, self.max_ingest] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.raw_bytes.to_le_bytes());
        for v in [self.len, self.count, self.crc, 0] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn decode(b: &[u8], version: u32) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let (group_id, min_stream, max_stream, at) = match version {
            1 => (0, u64_at(0), u64_at(0), 8),
            _ => (u64_at(0), u64_at(8), u64_at(16), 24),
        };
        BlockMeta {
            group_id,
            min_stream,
            max_stream,
            min_ts: u64_at(at) as i64,
            max_ts: u64_at(at + 8) as i64,
            min_ingest: u64_at(at + 16) as i64,
            max_ingest: u64_at(at + 24) as i64,
            offset: u64_at(at + 32),
            raw_bytes: u64_at(at + 40),
            len: u32_at(at + 48),
            count: u32_at(at + 52),
            crc: u32_at(at + 56),
        }
    }
}

/// The events of one block to be written: one group's rows as parallel columns sorted by
/// (stream, timestamp), and the streams' runs.
pub(crate) struct BlockInput<'a, S> {
    pub group_id: u64,
    pub runs: &'a [RunInput],
    pub timestamps: &'a [i64],
    pub ingestion_times: &'a [i64],
    pub messages: &'a [S],
}

impl<S: AsRef<[u8]>> BlockInput<'_, S> {
    /// Encodes the block and describes it (its offset is assigned when it is written).
    pub(crate) fn encode(&self) -> (BlockMeta, Vec<u8>) {
        let bytes = block::encode(self.runs, self.timestamps, self.ingestion_times, self.messages);
        let minmax = |v: &[i64]| (v.iter().copied().min(), v.iter().copied().max());
        let (min_ts, max_ts) = minmax(self.timestamps);
        let (min_ing, max_ing) = minmax(self.ingestion_times);
        let meta = BlockMeta {
            group_id: self.group_id,
            min_stream: self.runs.first().map_or(0, |r| r.stream_id),
            max_stream: self.runs.last().map_or(0, |r| r.stream_id),
            min_ts: min_ts.unwrap_or(0),
            max_ts: max_ts.unwrap_or(0),
            min_ingest: min_ing.unwrap_or(0),
            max_ingest: max_ing.unwrap_or(0),
            offset: 0,
            raw_bytes: self.runs.iter().map(|r| r.raw_bytes).sum(),
            len: bytes.len() as u32,
            count: self.timestamps.len() as u32,
            crc: crc32c::crc32c(&bytes),
        };
        (meta, bytes)
    }
}

/// The file name of segment `id` in its directory.
pub fn file_name(id: u64) -> String {
    format!("{id:016x}.seg")
}

/// The segment id a file name stands for, if it names a segment.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let id = u64::from_str_radix(name.strip_suffix(".seg")?, 16).ok()?;
    (file_name(id) == name).then_some(id)
}

/// Encodes `blocks` and writes them as segment `id`; see [`write_raw`].
pub(crate) fn write<S: AsRef<[u8]> + Sync>(
    dir: &dyn Directory,
    id: u64,
    blocks: &[BlockInput<'_, S>],
    describe: impl FnOnce(&GroupSpans) -> Vec<u8>,
) -> Result<(u64, Vec<BlockMeta>)> {
    // Blocks compress independently, so both cores share the work.
    let encoded: Vec<(BlockMeta, Vec<u8>)> = encode_parallel(blocks);
    let raw: Vec<(BlockMeta, &[u8])> = encoded.iter().map(|(m, b)| (*m, b.as_slice())).collect();
    let size = write_raw(dir, id, &raw, describe)?;
    Ok((size, encoded.into_iter().map(|(m, _)| m).collect()))
}

/// Writes already-encoded blocks as segment `id`, atomically and durably (see
/// [`Directory::create`]). Offsets in the metas are assigned here; `describe` gives the
/// description trailer for the groups and stream ids written. Returns the size.
pub(crate) fn write_raw(
    dir: &dyn Directory,
    id: u64,
    blocks: &[(BlockMeta, &[u8])],
    describe: impl FnOnce(&GroupSpans) -> Vec<u8>,
) -> Result<u64> {
    let mut w = SegmentWriter::create(dir, id)?;
    for (meta, bytes) in blocks {
        w.append(*meta, bytes)?;
    }
    let description = describe(w.group_spans());
    w.finish(&description)
}

/// Per group id, the lowest and highest stream id of the blocks written so far.
pub(crate) type GroupSpans = BTreeMap<u64, (u64, u64)>;

/// Writes a segment block by block, so a compaction never holds more than a few blocks. The
/// file appears under its name only when [`SegmentWriter::finish`] has made it durable.
pub(crate) struct SegmentWriter {
    path: PathBuf,
    w: Box<dyn FileWriter>,
    offset: u64,
    dir: Vec<u8>,
    count: u32,
    spans: GroupSpans,
}

impl SegmentWriter {
    /// Starts segment `id` in `dir`; it appears there only when finished.
    pub(crate) fn create(dir: &dyn Directory, id: u64) -> Result<SegmentWriter> {
        let name = file_name(id);
        let path = dir.location(&name);
        let mut w = dir.create(&name)?;
        w.write_all(MAGIC).context(|| format!("writing {}", path.display()))?;
        let mut entries = Vec::new();
        entries.extend_from_slice(&(ENTRY_LEN as u32).to_le_bytes());
        entries.extend_from_slice(&0u32.to_le_bytes());
        let offset = MAGIC.len() as u64;
        let spans = GroupSpans::new();
        Ok(SegmentWriter { path, w, offset, dir: entries, count: 0, spans })
    }

    /// Appends one encoded block; its offset in `meta` is assigned here.
    pub(crate) fn append(&mut self, meta: BlockMeta, bytes: &[u8]) -> Result<()> {
        BlockMeta { offset: self.offset, ..meta }.encode(&mut self.dir);
        let span = self.spans.entry(meta.group_id).or_insert((meta.min_stream, meta.max_stream));
        *span = (span.0.min(meta.min_stream), span.1.max(meta.max_stream));
        self.w.write_all(bytes).context(|| format!("writing {}", self.path.display()))?;
        self.offset += bytes.len() as u64;
        self.count += 1;
        Ok(())
    }

    /// The groups and stream-id spans of the blocks appended so far.
    pub(crate) fn group_spans(&self) -> &GroupSpans {
        &self.spans
    }

    /// Writes the description trailer (see `describe`; none if `description` is empty), the
    /// directory and the footer, and commits the file durably; returns its size.
    pub(crate) fn finish(mut self, description: &[u8]) -> Result<u64> {
        let path = self.path.clone();
        let wctx = || format!("writing {}", path.display());
        let mut flags = 0u32;
        if !description.is_empty() {
            let trailer = crate::describe::trailer(description);
            self.w.write_all(&trailer).context(wctx)?;
            self.offset += trailer.len() as u64;
            flags |= crate::describe::FLAG_DESCRIBED;
        }
        self.dir[4..8].copy_from_slice(&self.count.to_le_bytes());
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(&self.offset.to_le_bytes());
        footer.extend_from_slice(&(self.dir.len() as u64).to_le_bytes());
        footer.extend_from_slice(&crc32c::crc32c(&self.dir).to_le_bytes());
        footer.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        footer.extend_from_slice(&flags.to_le_bytes());
        footer.extend_from_slice(&crc32c::crc32c(&footer).to_le_bytes());
        footer.extend_from_slice(END_MAGIC);
        self.w.write_all(&self.dir).context(wctx)?;
        self.w.write_all(&footer).context(wctx)?;
        let size = self.offset + (self.dir.len() + footer.len()) as u64;
        self.w.commit()?;
        Ok(size)
    }
}

pub(crate) fn encode_parallel<S: AsRef<[u8]> + Sync>(
    blocks: &[BlockInput<'_, S>],
) -> Vec<(BlockMeta, Vec<u8>)> {
    let encode_one = |b: &BlockInput<'_, S>| b.encode();
    if blocks.len() < 2 {
        return blocks.iter().map(encode_one).collect();
    }
    let mid = blocks.len() / 2;
    let (left, right) = blocks.split_at(mid);
    crossbeam::thread::scope(|s| {
        let handle = s.spawn(|_| right.iter().map(encode_one).collect::<Vec<_>>());
        let mut out: Vec<_> = left.iter().map(encode_one).collect();
        out.extend(handle.join().expect("block encoding does not panic"));
        out
    })
    .expect("block encoding does not panic")
}

/// An open segment: its directory decoded, its bytes (memory-mapped on disk) read on demand.
#[derive(Debug)]
pub struct Segment {
    id: u64,
    path: PathBuf,
    map: FileBytes,
    blocks: Vec<BlockMeta>,
    version: u32,
    rank: u64,
    /// Per-stream statistics, derived from the blocks when first asked for.
    stats: OnceLock<std::result::Result<Arc<HashMap<u64, StreamStats>>, String>>,
}

impl Segment {
    /// Opens and checks segment `id` of `dir`: reads the footer and the directory, nothing
    /// else.
    pub fn open(dir: &dyn Directory, id: u64) -> Result<Segment> {
        let name = file_name(id);
        Segment::from_bytes(id, &dir.location(&name), dir.open_read(&name)?)
    }

    /// Opens and checks the segment file at `path` directly, memory-mapped (for offline tools
    /// such as `verify` and `repair`, which look at a directory's files as they are).
    pub fn open_file(id: u64, path: &Path) -> Result<Segment> {
        Segment::from_bytes(id, path, crate::directory::map_file(path)?)
    }

    /// Checks a segment's bytes (read from `path`, named in errors) and decodes its directory.
    pub fn from_bytes(id: u64, path: &Path, map: FileBytes) -> Result<Segment> {
        let bad = |offset: usize, why: &str| StorageError::corrupt(path, offset as u64, why);
        let n = map.len();
        if n < MAGIC.len() + FOOTER_LEN || &map[..MAGIC.len()] != MAGIC {
            return Err(bad(0, "not a logsight segment (bad magic or too short)"));
        }
        let f = &map[n - FOOTER_LEN..];
        let foot_at = n - FOOTER_LEN;
        if &f[32..40] != END_MAGIC {
            return Err(bad(foot_at, "footer magic missing (file truncated?)"));
        }
        if crc32c::crc32c(&f[..28]) != u32::from_le_bytes(f[28..32].try_into().expect("4")) {
            return Err(bad(foot_at, "footer checksum mismatch"));
        }
        let version = u32::from_le_bytes(f[20..24].try_into().expect("4"));
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(bad(foot_at, &format!("unsupported segment format version {version}")));
        }
        let dir_off = u64::from_le_bytes(f[0..8].try_into().expect("8")) as usize;
        let dir_len = u64::from_le_bytes(f[8..16].try_into().expect("8")) as usize;
        let dir_crc = u32::from_le_bytes(f[16..20].try_into().expect("4"));
        if dir_off.checked_add(dir_len) != Some(foot_at) || dir_len < 8 {
            return Err(bad(foot_at, "directory bounds do not fit the file"));
        }
        let dir = &map[dir_off..foot_at];
        if crc32c::crc32c(dir) != dir_crc {
            return Err(bad(dir_off, "directory checksum mismatch"));
        }
        let entry_len = u32::from_le_bytes(dir[0..4].try_into().expect("4")) as usize;
        let count = u32::from_le_bytes(dir[4..8].try_into().expect("4")) as usize;
        let known = if version == 1 { ENTRY_LEN_V1 } else { ENTRY_LEN };
        if entry_len < known || count.checked_mul(entry_len) != Some(dir_len - 8) {
            return Err(bad(dir_off, "directory size does not match its entry count"));
        }
        let mut blocks = Vec::with_capacity(count);
        for i in 0..count {
            let at = 8 + i * entry_len;
            let meta = BlockMeta::decode(&dir[at..at + known], version);
            let end = meta.offset.checked_add(u64::from(meta.len));
            if meta.offset < MAGIC.len() as u64 || end.is_none_or(|e| e > dir_off as u64) {
                return Err(bad(dir_off + at, "block entry points outside the data area"));
            }
            blocks.push(meta);
        }
        let path = path.to_owned();
        Ok(Segment { id, path, map, blocks, version, rank: id, stats: OnceLock::new() })
    }

    /// What the segment holds of each stream, derived from its blocks on first use (decoding
    /// their stream runs and time columns). A damaged block makes it an error, every time.
    pub(crate) fn stream_stats(&self) -> Result<Arc<HashMap<u64, StreamStats>>> {
        self.stats
            .get_or_init(|| {
                crate::stats::segment_stream_stats(self).map(Arc::new).map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|why| StorageError::corrupt(&self.path, 0, why))
    }

    /// The earliest and latest event timestamps, from the directory (0, 0 when empty).
    pub fn time_span(&self) -> (i64, i64) {
        let min = self.blocks.iter().map(|b| b.min_ts).min().unwrap_or(0);
        let max = self.blocks.iter().map(|b| b.max_ts).max().unwrap_or(0);
        (min, max)
    }

    /// The UTC day (days since the epoch) all its events fall in, if they do: its partition
    /// for compaction and retention.
    pub fn partition_day(&self) -> Option<i64> {
        let (min, max) = self.time_span();
        let day = |t: i64| t.div_euclid(DAY_MS);
        (day(min) == day(max)).then(|| day(min))
    }

    /// Sets the rank that orders this segment's events among equal timestamps (see the
    /// catalog's segment entries).
    pub(crate) fn with_rank(mut self, rank: u64) -> Self {
        self.rank = rank;
        self
    }

    /// The segment's rank: lower ranks hold events that arrived earlier.
    pub fn rank(&self) -> u64 {
        self.rank
    }

    /// The format version the file was written in.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Fills in the groups of a format 1 segment's blocks, whose entries do not name them.
    pub(crate) fn assign_groups(&mut self, group_of: impl Fn(u64) -> Option<u64>) {
        if self.version == 1 {
            for b in &mut self.blocks {
                b.group_id = group_of(b.min_stream).unwrap_or(0);
            }
        }
    }

    /// The segment's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where the file is (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.map.len() as u64
    }

    /// The block directory.
    pub fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }

    /// Bytes of the file not inside any block: magic, directory and footer.
    pub fn overhead_bytes(&self) -> u64 {
        self.file_len() - self.blocks.iter().map(|b| u64::from(b.len)).sum::<u64>()
    }

    /// The encoded bytes of block `i`, after checking its CRC.
    pub fn block_bytes(&self, i: usize) -> Result<&[u8]> {
        let m = &self.blocks[i];
        let bytes = &self.map[m.offset as usize..(m.offset + u64::from(m.len)) as usize];
        if crc32c::crc32c(bytes) != m.crc {
            return Err(StorageError::corrupt(&self.path, m.offset, "block checksum mismatch"));
        }
        Ok(bytes)
    }

    /// Block `i`'s directory entry, its bytes (CRC checked) and the shape decoding needs.
    fn checked_block(&self, i: usize) -> Result<(BlockMeta, &[u8], Shape)> {
        let m = self.blocks[i];
        let bytes = self.block_bytes(i)?;
        let shape = Shape {
            count: m.count as usize,
            raw_bytes: m.raw_bytes as usize,
            single_stream: m.min_stream,
        };
        Ok((m, bytes, shape))
    }

    /// Decodes block `i` into `out`.
    pub fn decode_block(&self, i: usize, out: &mut DecodedBlock) -> Result<()> {
        self.decode_columns(i, Columns::ALL, out)
    }

    /// Decodes only the `cols` of block `i` (and its stream runs) into `out`.
    pub fn decode_columns(&self, i: usize, cols: Columns, out: &mut DecodedBlock) -> Result<()> {
        let (m, bytes, shape) = self.checked_block(i)?;
        block::decode(bytes, shape, cols, out)
            .map_err(|why| StorageError::corrupt(&self.path, m.offset, why))
    }

    /// Like [`Segment::decode_columns`], and every row's message template into
    /// `out.templates`.
    pub fn decode_templates(&self, i: usize, cols: Columns, out: &mut DecodedBlock) -> Result<()> {
        let (m, bytes, shape) = self.checked_block(i)?;
        block::decode_with(bytes, shape, cols, true, None, out)
            .map_err(|why| StorageError::corrupt(&self.path, m.offset, why))
    }

    /// Like [`Segment::decode_columns`], with the messages decoded by
    /// [`crate::msgcodec::decode_screened`]: only those whose template `keep` accepts.
    pub fn decode_screened(
        &self,
        i: usize,
        cols: Columns,
        keep: &mut dyn FnMut(Template<'_>) -> bool,
        out: &mut DecodedBlock,
    ) -> Result<()> {
        let (m, bytes, shape) = self.checked_block(i)?;
        block::decode_with(bytes, shape, cols, false, Some(keep), out)
            .map_err(|why| StorageError::corrupt(&self.path, m.offset, why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{MmapDirectory, RamDirectory};
    use proptest::prelude::*;
    use std::fs;

    type Sample = (u64, Vec<i64>, Vec<i64>, Vec<String>);

    fn one_run(stream_id: u64, msgs: &[String]) -> [RunInput; 1] {
        let raw_bytes = msgs.iter().map(|m| m.len() as u64).sum();
        [RunInput { stream_id, count: msgs.len(), raw_bytes }]
    }

    fn sample_blocks() -> Vec<Sample> {
        (0..3u64)
            .map(|s| {
                let ts: Vec<i64> = (0..100).map(|i| 1000 + i * 7 + s as i64).collect();
                let ing: Vec<i64> = ts.iter().map(|t| t + 5).collect();
                let msgs = (0..100).map(|i| format!("stream {s} event {i} status=200")).collect();
                (s, ts, ing, msgs)
            })
            .collect()
    }

    fn write_sample(dir: &MmapDirectory) -> PathBuf {
        let data = sample_blocks();
        let runs: Vec<_> = data.iter().map(|(s, _, _, m)| one_run(*s, m)).collect();
        let inputs: Vec<_> = data
            .iter()
            .zip(&runs)
            .map(|((_, ts, ing, m), runs)| BlockInput {
                group_id: 1,
                runs,
                timestamps: ts,
                ingestion_times: ing,
                messages: m.as_slice(),
            })
            .collect();
        let path = dir.location(&file_name(1));
        let (size, metas) = write(dir, 1, &inputs, |_| Vec::new()).unwrap();
        assert_eq!(size, fs::metadata(&path).unwrap().len());
        assert_eq!(metas.len(), 3);
        path
    }

    #[test]
    fn write_open_decode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = MmapDirectory::open(tmp.path(), crate::Perms::default()).unwrap();
        write_sample(&dir);
        let seg = Segment::open(&dir, 1).unwrap();
        let data = sample_blocks();
        let mut out = DecodedBlock::default();
        for (i, (s, ts, ing, msgs)) in data.iter().enumerate() {
            let m = seg.blocks()[i];
            assert_eq!((m.min_stream, m.max_stream, m.min_ts, m.max_ts), (*s, *s, ts[0], ts[99]));
            assert_eq!((m.group_id, m.count), (1, 100));
            seg.decode_block(i, &mut out).unwrap();
            assert_eq!(&out.timestamps, ts);
            assert_eq!(&out.ingestion_times, ing);
            assert_eq!(out.message(42), msgs[42]);
        }
        assert_eq!(dir.list().unwrap(), [file_name(1)]);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = MmapDirectory::open(tmp.path(), crate::Perms::default()).unwrap();
        let path = write_sample(&dir);
        let good = fs::read(&path).unwrap();
        let mut out = DecodedBlock::default();
        for pos in 0..good.len() {
            let mut bad = good.clone();
            bad[pos] ^= 0x10;
            fs::write(&path, &bad).unwrap();
            let result = Segment::open(&dir, 1).and_then(|seg| {
                (0..seg.blocks().len()).try_for_each(|i| seg.decode_block(i, &mut out))
            });
            match result {
                Err(StorageError::Corruption { file, .. }) => assert_eq!(file, path),
                other => panic!("flip at {pos} not detected: {other:?}"),
            }
        }
    }

    #[test]
    fn truncation_is_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = MmapDirectory::open(tmp.path(), crate::Perms::default()).unwrap();
        let path = write_sample(&dir);
        let good = fs::read(&path).unwrap();
        for len in 0..good.len() {
            fs::write(&path, &good[..len]).unwrap();
            assert!(matches!(Segment::open(&dir, 1), Err(StorageError::Corruption { .. })));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn segment_round_trip(
            streams in proptest::collection::vec(
                proptest::collection::vec((any::<i32>(), "\\PC{1,60}"), 1..50), 1..6)
        ) {
            let mut data = Vec::new();
            for (sid, events) in streams.iter().enumerate() {
                let mut events = events.clone();
                events.sort_by_key(|e| e.0);
                let ts: Vec<i64> = events.iter().map(|e| i64::from(e.0)).collect();
                let msgs: Vec<String> = events.into_iter().map(|e| e.1).collect();
                data.push((sid as u64, ts, msgs));
            }
            let runs: Vec<_> = data.iter().map(|(s, _, m)| one_run(*s, m)).collect();
            let inputs: Vec<_> = data.iter().zip(&runs).map(|((_, ts, m), runs)| BlockInput {
                group_id: 2, runs, timestamps: ts, ingestion_times: ts, messages: m.as_slice(),
            }).collect();
            let dir = RamDirectory::new();
            write(&dir, 7, &inputs, |_| Vec::new()).unwrap();
            let seg = Segment::open(&dir, 7).unwrap();
            let mut out = DecodedBlock::default();
            for (i, (s, ts, msgs)) in data.iter().enumerate() {
                prop_assert_eq!(seg.blocks()[i].min_stream, *s);
                seg.decode_block(i, &mut out).unwrap();
                prop_assert_eq!(&out.timestamps, ts);
                let got: Vec<&str> = (0..out.len()).map(|j| out.message(j)).collect();
                prop_assert_eq!(got, msgs.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
    }
}
