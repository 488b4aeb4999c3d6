//! The message column codec: how the messages of one block are compressed.
//!
//! A block holds the messages of one stream, in timestamp order. [`encode`] turns them into
//! bytes; [`decode`] restores them into a [`Messages`] buffer that can be reused across blocks,
//! so a scan decodes without allocating per event.

/// Why a message column could not be decoded. Only corrupt or foreign bytes cause this:
/// blocks are checksummed before they are decoded, so in practice it means a bug or a format
/// mismatch.
#[derive(Debug, thiserror::Error)]
#[error("message column: {0}")]
pub struct CodecError(pub String);

/// Decoded messages of one block: every message's bytes back to back, with end offsets.
#[derive(Debug, Default, Clone)]
pub struct Messages {
    data: Vec<u8>,
    ends: Vec<u32>,
}

impl Messages {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no messages.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The `i`th message's bytes (UTF-8: messages are validated before they are stored).
    pub fn get_bytes(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.data[start..self.ends[i] as usize]
    }

    /// All message bytes, back to back.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Iterates over the messages' bytes in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.get_bytes(i))
    }

    /// Appends one message.
    pub fn push(&mut self, message: &[u8]) {
        self.data.extend_from_slice(message);
        self.ends.push(self.data.len() as u32);
    }

    /// Empties the buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }
}

/// Appends the encoding of `messages` to `out`.
pub fn encode<S: AsRef<[u8]>>(messages: &[S], out: &mut Vec<u8>) {
    let mut raw = Vec::new();
    for m in messages {
        let m = m.as_ref();
        let mut len = m.len() as u64;
        while len >= 0x80 {
            raw.push((len as u8) | 0x80);
            len >>= 7;
        }
        raw.push(len as u8);
        raw.extend_from_slice(m);
    }
    out.extend_from_slice(&zstd::bulk::compress(&raw, 3).expect("in-memory zstd cannot fail"));
}

/// Decodes `count` messages of `raw_bytes` total length from `buf` into `out` (cleared first).
/// The counts come from the block directory and bound the work and memory a corrupt block can
/// cause.
pub fn decode(
    buf: &[u8],
    count: usize,
    raw_bytes: usize,
    out: &mut Messages,
) -> Result<(), CodecError> {
    out.clear();
    let raw = zstd::bulk::decompress(buf, raw_bytes + count * 10 + 64)
        .map_err(|e| CodecError(e.to_string()))?;
    let mut pos = 0;
    while pos < raw.len() {
        let mut len = 0u64;
        let mut shift = 0;
        loop {
            let b = *raw.get(pos).ok_or_else(|| CodecError("truncated length".into()))?;
            pos += 1;
            len |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        let end = pos + len as usize;
        let m = raw.get(pos..end).ok_or_else(|| CodecError("truncated message".into()))?;
        out.data.extend_from_slice(m);
        out.ends.push(out.data.len() as u32);
        pos = end;
    }
    if out.len() != count || out.data.len() != raw_bytes {
        return Err(CodecError("count or size mismatch".into()));
    }
    Ok(())
}
