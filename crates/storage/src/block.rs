//! One block: events of one log group, sorted by (stream, timestamp), stored as columns.
//!
//! ```text
//! block   := ncols:u8 (kind:u8 len:u32le)*ncols column*ncols
//! kind 1  := timestamps      mode:u8 payload   (zigzag varint of the first, then of deltas)
//! kind 2  := ingestion times mode:u8 payload   (same encoding)
//! kind 3  := messages        (see msgcodec)
//! kind 4  := streams         mode:u8(=0) (stream_id_delta:varint count:varint raw_bytes:varint)*
//! mode    := 0 raw | 1 zstd of the raw payload
//! ```
//! The streams column lists the block's streams in ascending id order (each id as the
//! difference from the previous one, the first from 0), with how many consecutive rows each
//! has and their message bytes. Blocks written before it existed (segment format 1) hold one
//! stream, named by their directory entry. Unknown column kinds are skipped by readers, so
//! later versions can add columns (fields extracted from JSON, token summaries) without
//! breaking older data; and a reader decodes only the columns it is asked for.

use std::ops::Range;

use crate::msgcodec::{self, Messages, Template, Templates};
use crate::varint::{self, Reader};

const COL_TIMESTAMPS: u8 = 1;
const COL_INGESTION: u8 = 2;
const COL_MESSAGES: u8 = 3;
const COL_STREAMS: u8 = 4;
const MODE_RAW: u8 = 0;
const MODE_ZSTD: u8 = 1;

/// The rows of one stream in a block: consecutive, sorted by timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRun {
    /// The stream's id.
    pub stream_id: u64,
    /// Its rows.
    pub rows: Range<usize>,
    /// Message bytes of those rows.
    pub raw_bytes: u64,
}

/// Which columns a decode fills. The stream runs are always decoded: they are tiny and every
/// reader needs them to know whose rows it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    /// Event timestamps.
    pub timestamps: bool,
    /// Ingestion times.
    pub ingestion_times: bool,
    /// Messages (the expensive one).
    pub messages: bool,
}

impl Columns {
    /// Every column.
    pub const ALL: Columns = Columns { timestamps: true, ingestion_times: true, messages: true };
    /// Timestamps only (a `count(*) by bin(5m)`).
    pub const TIMESTAMPS: Columns =
        Columns { timestamps: true, ingestion_times: false, messages: false };
    /// Timestamps and ingestion times: everything but the messages.
    pub const TIMES: Columns = Columns { timestamps: true, ingestion_times: true, messages: false };
}

/// A decoded block, reusable across blocks so that scans allocate only when a block is larger
/// than any seen before. Columns not asked for are left empty.
#[derive(Debug, Default, Clone)]
pub struct DecodedBlock {
    /// The streams' row runs, in ascending stream id order.
    pub streams: Vec<StreamRun>,
    /// Event timestamps, ascending within each stream's run.
    pub timestamps: Vec<i64>,
    /// Ingestion times, in row order.
    pub ingestion_times: Vec<i64>,
    /// Messages, in row order.
    pub messages: Messages,
    /// Each row's message template, when asked for (`ScanUnit::decode_templates`).
    pub templates: Templates,
    /// Rows in the block.
    rows: usize,
    /// Decompressed time column, kept to reuse its memory.
    times: Vec<u8>,
}

impl DecodedBlock {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the block has no events.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The `i`th message as text.
    pub fn message(&self, i: usize) -> &str {
        // Messages are validated UTF-8 on ingest and the block passed its checksum, so a
        // failure here means a codec bug; degrade to an empty message rather than panic.
        std::str::from_utf8(self.messages.get_bytes(i)).unwrap_or_default()
    }

    /// Whether row `i`'s message was left out by a screened decode
    /// ([`crate::ScanUnit::decode_screened`]): its text is then not there to read.
    pub fn is_skipped(&self, i: usize) -> bool {
        self.messages.is_skipped(i)
    }

    /// The run of `stream_id`, if the block holds it.
    pub fn run(&self, stream_id: u64) -> Option<&StreamRun> {
        self.streams
            .binary_search_by_key(&stream_id, |r| r.stream_id)
            .ok()
            .map(|i| &self.streams[i])
    }

    /// Sets the block's contents from one stream's rows (buffered events take this shape).
    pub(crate) fn reset_single(&mut self, stream_id: u64, rows: usize, raw_bytes: u64) {
        self.streams.clear();
        self.streams.push(StreamRun { stream_id, rows: 0..rows, raw_bytes });
        self.rows = rows;
    }
}

/// One stream's share of a block to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunInput {
    pub stream_id: u64,
    pub count: usize,
    pub raw_bytes: u64,
}

/// Encodes a block from parallel slices (same length, sorted by stream then timestamp), whose
/// streams are `runs` (ascending ids, counts adding up to the rows).
pub(crate) fn encode<S: AsRef<[u8]>>(
    runs: &[RunInput],
    timestamps: &[i64],
    ingestion: &[i64],
    messages: &[S],
) -> Vec<u8> {
    debug_assert!(timestamps.len() == ingestion.len() && ingestion.len() == messages.len());
    debug_assert_eq!(runs.iter().map(|r| r.count).sum::<usize>(), timestamps.len());
    let mut streams = vec![MODE_RAW];
    let mut prev = 0;
    for r in runs {
        varint::put_u64(&mut streams, r.stream_id - prev);
        varint::put_u64(&mut streams, r.count as u64);
        varint::put_u64(&mut streams, r.raw_bytes);
        prev = r.stream_id;
    }
    let ts = encode_times(timestamps);
    let ing = encode_times(ingestion);
    let mut msgs = Vec::new();
    msgcodec::encode(messages, &mut msgs);
    let cols = [
        (COL_STREAMS, &streams),
        (COL_TIMESTAMPS, &ts),
        (COL_INGESTION, &ing),
        (COL_MESSAGES, &msgs),
    ];
    let total: usize = cols.iter().map(|(_, c)| c.len()).sum();
    let mut out = Vec::with_capacity(1 + 5 * cols.len() + total);
    out.push(cols.len() as u8);
    for (kind, col) in &cols {
        out.push(*kind);
        out.extend_from_slice(&(col.len() as u32).to_le_bytes());
    }
    for (_, col) in &cols {
        out.extend_from_slice(col);
    }
    out
}

fn encode_times(values: &[i64]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(values.len() + 8);
    let mut prev = 0i64;
    for &v in values {
        varint::put_i64(&mut raw, v.wrapping_sub(prev));
        prev = v;
    }
    // The thread's compression context, shared with the message column.
    let mut out = vec![MODE_ZSTD];
    msgcodec::compress_into(&raw, 3, &mut out);
    if out.len() > raw.len() {
        out.clear();
        out.push(MODE_RAW);
        out.extend_from_slice(&raw);
    }
    out
}

fn decode_times(
    col: &[u8],
    count: usize,
    scratch: &mut Vec<u8>,
    out: &mut Vec<i64>,
) -> Result<(), String> {
    out.clear();
    let (&mode, payload) = col.split_first().ok_or("empty time column")?;
    let raw = match mode {
        MODE_RAW => payload,
        MODE_ZSTD => {
            // A varint is at most 10 bytes, which bounds the decompressed size.
            msgcodec::decompress_into(payload, count.saturating_mul(10), scratch)
                .map_err(|e| format!("time column: {e}"))?;
            scratch.as_slice()
        }
        m => return Err(format!("unknown time column mode {m}")),
    };
    let mut pos = 0;
    let mut prev = 0i64;
    // Each value takes at least a byte, so a short column fails before this allocates much.
    if raw.len() < count {
        return Err("time column shorter than the event count".into());
    }
    out.resize(count, 0);
    for slot in out.iter_mut() {
        let d = varint::get(raw, &mut pos).ok_or("time column shorter than the event count")?;
        prev = prev.wrapping_add(varint::unzigzag(d));
        *slot = prev;
    }
    if pos != raw.len() {
        return Err("time column longer than the event count".into());
    }
    Ok(())
}

fn decode_streams(col: &[u8], count: usize, out: &mut Vec<StreamRun>) -> Result<(), String> {
    out.clear();
    let (&mode, payload) = col.split_first().ok_or("empty streams column")?;
    if mode != MODE_RAW {
        return Err(format!("unknown streams column mode {mode}"));
    }
    let (mut pos, mut prev, mut row) = (0, 0u64, 0usize);
    while pos < payload.len() {
        let bad = "truncated streams column";
        let delta = varint::get(payload, &mut pos).ok_or(bad)?;
        let n = varint::get(payload, &mut pos).ok_or(bad)? as usize;
        let raw_bytes = varint::get(payload, &mut pos).ok_or(bad)?;
        let stream_id = prev.checked_add(delta).ok_or("stream id overflow")?;
        if (!out.is_empty() && delta == 0) || n == 0 {
            return Err("streams column is not ascending".into());
        }
        let end = row.checked_add(n).filter(|&e| e <= count).ok_or("streams exceed the rows")?;
        out.push(StreamRun { stream_id, rows: row..end, raw_bytes });
        (prev, row) = (stream_id, end);
    }
    if row != count {
        return Err("streams column does not cover the rows".into());
    }
    Ok(())
}

/// The shape of a block from its directory entry, which decoding checks it against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub count: usize,
    pub raw_bytes: usize,
    /// The one stream of a block written without a streams column (format 1).
    pub single_stream: u64,
}

/// Decodes the `cols` of a block of the given shape into `out`.
pub(crate) fn decode(
    buf: &[u8],
    shape: Shape,
    cols: Columns,
    out: &mut DecodedBlock,
) -> Result<(), String> {
    decode_with(buf, shape, cols, false, None, out)
}

/// Like [`decode`], and every row's message template into `out.templates` when `templates`
/// (without writing the messages unless `cols` asks for them). With `keep`, messages are
/// decoded by [`msgcodec::decode_screened`].
pub(crate) fn decode_with(
    buf: &[u8],
    shape: Shape,
    cols: Columns,
    templates: bool,
    keep: Option<&mut dyn FnMut(Template<'_>) -> bool>,
    out: &mut DecodedBlock,
) -> Result<(), String> {
    let count = shape.count;
    let mut r = Reader::new(buf);
    let ncols = r.bytes(1).ok_or("empty block")?[0] as usize;
    let header = r.bytes(5 * ncols).ok_or("truncated column header")?;
    let (mut ts, mut ing, mut msgs, mut streams) = (None, None, None, None);
    for h in header.chunks_exact(5) {
        let (kind, len) = (h[0], u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize);
        let col = r.bytes(len).ok_or("column runs past the block")?;
        match kind {
            COL_TIMESTAMPS => ts = Some(col),
            COL_INGESTION => ing = Some(col),
            COL_MESSAGES => msgs = Some(col),
            COL_STREAMS => streams = Some(col),
            _ => {}
        }
    }
    match streams {
        Some(col) => decode_streams(col, count, &mut out.streams)?,
        None => out.reset_single(shape.single_stream, count, shape.raw_bytes as u64),
    }
    out.rows = count;
    let ts = ts.ok_or("no timestamp column")?;
    let ing = ing.ok_or("no ingestion time column")?;
    let msgs = msgs.ok_or("no message column")?;
    out.timestamps.clear();
    out.ingestion_times.clear();
    out.messages.clear();
    if cols.timestamps {
        decode_times(ts, count, &mut out.times, &mut out.timestamps)?;
    }
    if cols.ingestion_times {
        decode_times(ing, count, &mut out.times, &mut out.ingestion_times)?;
    }
    out.templates.clear();
    if cols.messages {
        match keep {
            Some(keep) => {
                msgcodec::decode_screened(msgs, count, shape.raw_bytes, &mut out.messages, keep)
            }
            None => msgcodec::decode(msgs, count, shape.raw_bytes, &mut out.messages),
        }
        .map_err(|e| e.to_string())?;
        if templates {
            Templates::from_decoded(&out.messages, &mut out.templates)
                .map_err(|e| e.to_string())?;
        }
    } else if templates {
        msgcodec::decode_templates(
            msgs,
            count,
            shape.raw_bytes,
            &mut out.messages,
            &mut out.templates,
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(
            mut events in proptest::collection::vec(
                (any::<i64>(), any::<i64>(), "\\PC{1,40}"), 0..200)
        ) {
            events.sort_by_key(|e| e.0);
            let ts: Vec<i64> = events.iter().map(|e| e.0).collect();
            let ing: Vec<i64> = events.iter().map(|e| e.1).collect();
            let msgs: Vec<&str> = events.iter().map(|e| e.2.as_str()).collect();
            let raw: usize = msgs.iter().map(|m| m.len()).sum();
            let runs = [RunInput { stream_id: 9, count: msgs.len(), raw_bytes: raw as u64 }];
            let runs = if msgs.is_empty() { &runs[..0] } else { &runs[..] };
            let buf = encode(runs, &ts, &ing, &msgs);
            let mut out = DecodedBlock::default();
            let shape = Shape { count: msgs.len(), raw_bytes: raw, single_stream: 0 };
            decode(&buf, shape, Columns::ALL, &mut out).unwrap();
            prop_assert_eq!(out.streams.len(), runs.len());
            prop_assert_eq!(&out.timestamps, &ts);
            prop_assert_eq!(&out.ingestion_times, &ing);
            for (i, m) in msgs.iter().enumerate() {
                prop_assert_eq!(out.message(i), *m);
            }
        }

        #[test]
        fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..300), count in 0usize..50) {
            let mut out = DecodedBlock::default();
            let shape = Shape { count, raw_bytes: count * 10, single_stream: 0 };
            let _ = decode(&buf, shape, Columns::ALL, &mut out);
        }
    }

    #[test]
    fn constant_timestamps_cost_almost_nothing() {
        let ts = vec![1_700_000_000_000i64; 2000];
        assert!(encode_times(&ts).len() < 40, "{}", encode_times(&ts).len());
    }

    #[test]
    fn wrong_count_is_an_error() {
        let runs = [RunInput { stream_id: 1, count: 2, raw_bytes: 2 }];
        let buf = encode(&runs, &[1, 2], &[3, 4], &["a", "b"]);
        let mut out = DecodedBlock::default();
        let shape = |count| Shape { count, raw_bytes: 2, single_stream: 0 };
        assert!(decode(&buf, shape(3), Columns::ALL, &mut out).is_err());
        assert!(decode(&buf, shape(2), Columns::ALL, &mut out).is_ok());
    }

    #[test]
    fn streams_share_a_block_and_projection_skips_columns() {
        let runs = [
            RunInput { stream_id: 3, count: 2, raw_bytes: 6 },
            RunInput { stream_id: 40, count: 1, raw_bytes: 1 },
        ];
        let buf = encode(&runs, &[5, 9, 1], &[6, 10, 2], &["abc", "def", "g"]);
        let shape = Shape { count: 3, raw_bytes: 7, single_stream: 0 };
        let mut out = DecodedBlock::default();
        decode(&buf, shape, Columns::TIMESTAMPS, &mut out).unwrap();
        assert_eq!(
            out.streams,
            [
                StreamRun { stream_id: 3, rows: 0..2, raw_bytes: 6 },
                StreamRun { stream_id: 40, rows: 2..3, raw_bytes: 1 },
            ]
        );
        assert_eq!(out.run(40).unwrap().rows, 2..3);
        assert!(out.run(4).is_none());
        assert_eq!(out.timestamps, [5, 9, 1]);
        assert!(out.ingestion_times.is_empty() && out.messages.is_empty());
        decode(&buf, shape, Columns::ALL, &mut out).unwrap();
        assert_eq!((out.message(2), out.ingestion_times[1]), ("g", 10));
    }

    #[test]
    fn blocks_without_a_streams_column_hold_their_entry_stream() {
        // A format 1 block: timestamps, ingestion times, messages.
        let runs = [RunInput { stream_id: 1, count: 1, raw_bytes: 2 }];
        let v2 = encode(&runs, &[7], &[8], &["hi"]);
        // Drop the streams column (the first) from the header and the body.
        let streams_len = u32::from_le_bytes(v2[2..6].try_into().unwrap()) as usize;
        let mut v1 = vec![3u8];
        v1.extend_from_slice(&v2[6..21]);
        v1.extend_from_slice(&v2[21 + streams_len..]);
        let mut out = DecodedBlock::default();
        let shape = Shape { count: 1, raw_bytes: 2, single_stream: 77 };
        decode(&v1, shape, Columns::ALL, &mut out).unwrap();
        assert_eq!(out.streams, [StreamRun { stream_id: 77, rows: 0..1, raw_bytes: 2 }]);
        assert_eq!(out.message(0), "hi");
    }
}
