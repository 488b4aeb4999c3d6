//! One block: the events of one stream, sorted by timestamp, stored as columns.
//!
//! ```text
//! block   := ncols:u8 (kind:u8 len:u32le)*ncols column*ncols
//! kind 1  := timestamps      mode:u8 payload   (zigzag varint of the first, then of deltas)
//! kind 2  := ingestion times mode:u8 payload   (same encoding)
//! kind 3  := messages        (see msgcodec)
//! mode    := 0 raw | 1 zstd of the raw payload
//! ```
//! Unknown column kinds are skipped by readers, so later versions can add columns (fields
//! extracted from JSON, token summaries) without breaking older data.

use crate::msgcodec::{self, Messages};
use crate::varint::{self, Reader};

const COL_TIMESTAMPS: u8 = 1;
const COL_INGESTION: u8 = 2;
const COL_MESSAGES: u8 = 3;
const MODE_RAW: u8 = 0;
const MODE_ZSTD: u8 = 1;

/// A decoded block, reusable across blocks so that scans allocate only when a block is larger
/// than any seen before.
#[derive(Debug, Default, Clone)]
pub struct DecodedBlock {
    /// Event timestamps, ascending.
    pub timestamps: Vec<i64>,
    /// Ingestion times, in event order.
    pub ingestion_times: Vec<i64>,
    /// Messages, in event order.
    pub messages: Messages,
    /// Decompressed time column, kept to reuse its memory.
    times: Vec<u8>,
}

impl DecodedBlock {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// Whether the block has no events.
    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// The `i`th message as text.
    pub fn message(&self, i: usize) -> &str {
        // Messages are validated UTF-8 on ingest and the block passed its checksum, so a
        // failure here means a codec bug; degrade to an empty message rather than panic.
        std::str::from_utf8(self.messages.get_bytes(i)).unwrap_or_default()
    }
}

/// Encodes a block from parallel slices (same length, sorted by timestamp).
pub(crate) fn encode<S: AsRef<[u8]>>(
    timestamps: &[i64],
    ingestion: &[i64],
    messages: &[S],
) -> Vec<u8> {
    debug_assert!(timestamps.len() == ingestion.len() && ingestion.len() == messages.len());
    let ts = encode_times(timestamps);
    let ing = encode_times(ingestion);
    let mut msgs = Vec::new();
    msgcodec::encode(messages, &mut msgs);
    let cols = [(COL_TIMESTAMPS, &ts), (COL_INGESTION, &ing), (COL_MESSAGES, &msgs)];
    let mut out = Vec::with_capacity(1 + 5 * cols.len() + ts.len() + ing.len() + msgs.len());
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

/// Decodes a block of `count` events with `raw_bytes` message bytes into `out`.
pub(crate) fn decode(
    buf: &[u8],
    count: usize,
    raw_bytes: usize,
    out: &mut DecodedBlock,
) -> Result<(), String> {
    let mut r = Reader::new(buf);
    let ncols = r.bytes(1).ok_or("empty block")?[0] as usize;
    let header = r.bytes(5 * ncols).ok_or("truncated column header")?;
    let (mut ts, mut ing, mut msgs) = (None, None, None);
    for h in header.chunks_exact(5) {
        let (kind, len) = (h[0], u32::from_le_bytes([h[1], h[2], h[3], h[4]]) as usize);
        let col = r.bytes(len).ok_or("column runs past the block")?;
        match kind {
            COL_TIMESTAMPS => ts = Some(col),
            COL_INGESTION => ing = Some(col),
            COL_MESSAGES => msgs = Some(col),
            _ => {}
        }
    }
    let ts = ts.ok_or("no timestamp column")?;
    decode_times(ts, count, &mut out.times, &mut out.timestamps)?;
    let ing = ing.ok_or("no ingestion time column")?;
    decode_times(ing, count, &mut out.times, &mut out.ingestion_times)?;
    msgcodec::decode(msgs.ok_or("no message column")?, count, raw_bytes, &mut out.messages)
        .map_err(|e| e.to_string())?;
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
            let buf = encode(&ts, &ing, &msgs);
            let mut out = DecodedBlock::default();
            decode(&buf, msgs.len(), raw, &mut out).unwrap();
            prop_assert_eq!(&out.timestamps, &ts);
            prop_assert_eq!(&out.ingestion_times, &ing);
            for (i, m) in msgs.iter().enumerate() {
                prop_assert_eq!(out.message(i), *m);
            }
        }

        #[test]
        fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..300), count in 0usize..50) {
            let mut out = DecodedBlock::default();
            let _ = decode(&buf, count, count * 10, &mut out);
        }
    }

    #[test]
    fn constant_timestamps_cost_almost_nothing() {
        let ts = vec![1_700_000_000_000i64; 2000];
        assert!(encode_times(&ts).len() < 40, "{}", encode_times(&ts).len());
    }

    #[test]
    fn wrong_count_is_an_error() {
        let buf = encode(&[1, 2], &[3, 4], &["a", "b"]);
        let mut out = DecodedBlock::default();
        assert!(decode(&buf, 3, 2, &mut out).is_err());
        assert!(decode(&buf, 2, 2, &mut out).is_ok());
    }
}
