//! The message column codec: how the messages of one block are compressed.
//!
//! A block holds the messages of one stream, in timestamp order. [`encode`] turns them into
//! bytes; [`decode`] restores them into a [`Messages`] buffer that can be reused across blocks,
//! so a scan decodes without allocating per event.
//!
//! # Scheme: templates and typed columns, then zstd
//!
//! Each message is cut into tokens (maximal runs of `[A-Za-z0-9_]` and non-ASCII bytes). A
//! token without a digit is *template* text, like all punctuation and spaces. A digit run of
//! at most 19 digits (alone, or after a digit-free prefix as in `blk_123` or `R02`) is a
//! *number*; any other token with a digit (hex, UUID parts, `0x1f`) is a *string* variable. The
//! template is the message with each variable replaced by a slot marker. Distinct templates
//! form a dictionary; every (template, slot) pair is a column. Numbers are stored as zigzag
//! varint deltas from the previous value in their column (timestamps, counters and sequence
//! ids turn into small deltas), with a byte for their digit count. A column with a single
//! value throughout the block is folded back into its template text (dates, host names, IP
//! octets, ports), so it costs neither bytes nor decode work. The whole payload then goes
//! through one zstd frame at level 3.
//!
//! # Byte layout
//!
//! ```text
//! encoding  = variant:u8 body
//! EMPTY    (0): no body; only for zero messages.
//! LINES    (1): zstd frame of the messages joined by '\n' (no message contains one).
//! PREFIXED (2): zstd frame of the messages back to back, then each length as a varint.
//! TEMPLATE (4): zstd frame of the payload:
//!   payload   = n_templates len_templates len_ids len_numbers len_widths   (varints)
//!               templates ids numbers widths strings
//!   templates = n_templates × (len:varint, text): text with 0x01 = number slot,
//!               0x02 = string slot, 0x03 b = literal byte b (b in 1..=3)
//!   ids       = per message, its template index (varint; first appearance order)
//!   columns   = template by template, slot by slot, the column's values in message order:
//!     numbers = varint zigzag(value - previous value in the column; 0 before the first)
//!     widths  = per number: its digit count, leading zeros included
//!     strings = per string: its bytes then 0x00
//! TEMPLATE_V1 (3): as TEMPLATE, but widths = per number: 0, or its digit count when it has
//!   leading zeros. Read, no longer written.
//! ```
//!
//! The frames carry their content size, so the decoder can refuse a frame larger than the
//! directory's `count` and `raw_bytes` allow before it allocates. [`encode`] uses TEMPLATE
//! unless its payload would exceed `2 × raw_bytes + 8 × count + 64` (adversarial input), and
//! then LINES, or PREFIXED when a message contains a newline. The variant byte lets future
//! encoders add schemes while old blocks stay readable.
//!
//! Decoding finds where each column starts, then writes the messages template by template,
//! each straight into place: template pieces with fixed 32-byte overlapping copies (the next
//! piece overwrites the excess) instead of a `memcpy` call per piece, numbers formatted two
//! digits at a time where they land. Storing every number's digit count (TEMPLATE rather
//! than TEMPLATE_V1) costs 0.35% of the compressed size and saves computing it, which was a
//! quarter of the decode time: the next write position no longer waits on the value.
//! Messages of one template have the same shape, so the decoder's branches repeat a pattern
//! the CPU predicts; the price is that messages are not in order in the output buffer, which
//! [`Messages`] hides behind per-message spans.
//!
//! # Why this scheme: measured on the Loghub 2k samples (one file = one block)
//!
//! Ratios are file bytes (newlines included) over encoded bytes plus 100 bytes per block for
//! the directory entry and timestamp columns. zstd -3 of each whole file gives 10.9x
//! (geometric mean). Throughputs are raw message bytes per second on one core of this 2-core
//! box, measured while other builds were running. Plain zstd decompressed at about
//! 1.4–1.9 GB/s when the box was quieter.
//!
//! | scheme | geomean | encode | decode |
//! |---|---|---|---|
//! | plain zstd -1 / -3 | 11.1x / 10.8x | 550 / 370 MB/s | ~1.5 GB/s |
//! | plain zstd -6 / -9 | 12.5x / 13.2x | 117 / 70 MB/s | ~1.6–1.9 GB/s |
//! | plain zstd -19 | 14.8x | 1 MB/s | ~1.8 GB/s |
//! | templates, numbers as text, no folding, zstd -3 | 13.9x | | |
//! | templates, typed delta numbers, no folding, zstd -3 | 16.5x | 110 MB/s | |
//! | + constant columns folded (TEMPLATE_V1) | 17.2x | 170–180 MB/s | ≈ zstd -3 + split |
//! | + every number's digit count, one-pass decoder (**chosen**, TEMPLATE) | **17.1x** | same | scan 1.34x faster |
//! | same, zstd -6 | 18.3x | 118 MB/s | |
//!
//! Plain zstd reaches the 12x target only at levels 6–9, where encoding falls to
//! 70–117 MB/s, too close to the 60–80 MB/s that sealing 42 MB/s of ingest needs on a box
//! whose other core is busy. Templates with typed columns reach 17.2x at 170+ MB/s. Decode
//! cost is about the same as zstd -3 of the same data plus splitting it into lines: 760 vs
//! 790 MB/s in the same loaded benchmark run. The payload zstd inflates is smaller than
//! the messages (often several times smaller), which pays for the stitching. Level 6 would
//! add 6% ratio for 50% more encode CPU. Because the decoder does not care which level was
//! used, a later compaction could recompress cold blocks that way.
//!
//! Per-block zstd dictionaries were not tried. A dictionary stored in the block is just
//! earlier text, so within one block it cannot beat zstd's own window, and this per-block API
//! has no place for a dictionary shared per segment. Bigger blocks do help: cutting the
//! samples into 64 KiB and 256 KiB blocks gives 13.4x and 16.4x, against 17.2x for whole
//! files (152–595 KB), because the template dictionary and zstd's history are amortised.
//! So blocks should be about 1 MiB of raw messages. 4 MiB would add a little more ratio
//! but coarsens time pruning and quadruples decode buffers. Blocks must stay below 4 GiB
//! (`u32` offsets).
//!
//! Mac, OpenStack and Proxifier gain least (1.08–1.14x over zstd -3). Their messages have
//! many distinct templates in 2,000 lines (hundreds), so the dictionary is a large share of
//! the block.

use std::cell::RefCell;

use crate::varint;

mod template;
#[cfg(test)]
mod tests;

/// Why a message column could not be decoded. Only corrupt or foreign bytes cause this:
/// blocks are checksummed before they are decoded, so in practice it means a bug or a format
/// mismatch.
#[derive(Debug, thiserror::Error)]
#[error("message column: {0}")]
pub struct CodecError(pub String);

/// Decoded messages of one block, each a span of one shared buffer.
///
/// Messages need not lie in order in the buffer: the template decoder writes them template by
/// template, which lets it decode every column straight into place in one pass. Consumers
/// only ever see messages by index.
#[derive(Debug, Default, Clone)]
pub struct Messages {
    /// Message bytes; the first `used` are live (messages, and separators for some
    /// variants). The decoder may leave stale bytes after them, so that reusing the buffer
    /// does not cost zeroing it.
    data: Vec<u8>,
    used: usize,
    /// Per message, in message order: its range in `data`.
    spans: Vec<(u32, u32)>,
    /// Decoder buffers, kept so that decoding the next block reuses their memory.
    scratch: template::Scratch,
    /// Whether `scratch.payload` holds the template payload these messages were decoded
    /// from (so [`Templates::from_decoded`] need not decompress again).
    from_payload: bool,
    /// After [`decode_screened`] of a block stored as templates: per template, whether its
    /// messages were written. Empty: every message was.
    kept: Vec<bool>,
}

impl Messages {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no messages.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`th message's bytes (UTF-8: messages are validated before they are stored).
    pub fn get_bytes(&self, i: usize) -> &[u8] {
        let (start, end) = self.spans[i];
        &self.data[start as usize..end as usize]
    }

    /// Whether message `i` was left out by [`decode_screened`] (its bytes are then empty,
    /// not its text).
    pub fn is_skipped(&self, i: usize) -> bool {
        !self.kept.is_empty() && !self.kept[self.scratch.ids[i] as usize]
    }

    /// Total bytes of all messages.
    pub fn total_bytes(&self) -> usize {
        self.spans.iter().map(|&(start, end)| (end - start) as usize).sum()
    }

    /// Iterates over the messages' bytes in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.get_bytes(i))
    }

    /// Appends one message.
    pub fn push(&mut self, message: &[u8]) {
        self.data.truncate(self.used);
        self.data.extend_from_slice(message);
        self.spans.push((self.used as u32, self.data.len() as u32));
        self.used = self.data.len();
    }

    /// Empties the buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.used = 0;
        self.from_payload = false;
        self.kept.clear();
    }
}

/// The template of every message of a block: what `pattern` queries read instead of the
/// messages.
///
/// A template is the message's text with each variable replaced by a slot (see the module
/// docs: tokens with digits are variables, and a variable with one value throughout the block
/// is folded back into the text). Templates are numbered per block; [`Template::key`] is the
/// template's identity across blocks (equal keys are equal templates, whichever block they
/// come from), so a reader can cache work per template rather than per block.
#[derive(Debug, Default, Clone)]
pub struct Templates {
    /// Every template's bytes in the codec's template encoding, back to back.
    bytes: Vec<u8>,
    /// Per template: its end in `bytes`.
    ends: Vec<u32>,
    /// Per message: its template.
    ids: Vec<u32>,
}

/// One template of a [`Templates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Template<'a>(&'a [u8]);

/// A piece of a template, in text order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text (whole UTF-8 characters: slots never split one).
    Text(&'a [u8]),
    /// A number that varies within the block: a run of up to 19 digits.
    Number,
    /// Another variable that varies within the block: a token holding a digit.
    Variable,
}

impl<'a> Template<'a> {
    /// The template's identity: equal keys are equal templates, in any block.
    pub fn key(&self) -> &'a [u8] {
        self.0
    }

    /// The template's pieces in order.
    pub fn pieces(&self) -> impl Iterator<Item = Piece<'a>> + 'a {
        template::pieces(self.0)
    }
}

impl Templates {
    /// Number of distinct templates.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no templates (no messages).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Template `t` (`t < len()`).
    pub fn get(&self, t: usize) -> Template<'_> {
        let start = if t == 0 { 0 } else { self.ends[t - 1] as usize };
        Template(&self.bytes[start..self.ends[t] as usize])
    }

    /// Per message, in message order: its template's index.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Empties the set, keeping its capacity.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.ids.clear();
    }

    /// Splits `messages` into templates exactly as [`encode`] would (constants folded the
    /// same way), for messages that are not stored as templates: buffered events, blocks of
    /// a plain variant.
    pub fn build<S: AsRef<[u8]>>(messages: &[S], out: &mut Templates) {
        out.clear();
        let raw_bytes: usize = messages.iter().map(|m| m.as_ref().len()).sum();
        let payload = template::build::<true, S>(messages, raw_bytes);
        if let Some(p) = payload
            && template::read_templates(&p, messages.len(), out).is_ok()
        {
            return;
        }
        // Only for adversarial input (the encoder would have fallen back to a plain
        // variant): templates without folding.
        out.clear();
        template::unfolded(messages, out);
    }

    /// The templates of messages just decoded by [`decode`], from the payload they were
    /// decoded from when the block was stored as templates, else built from the messages.
    pub fn from_decoded(messages: &Messages, out: &mut Templates) -> Result<(), CodecError> {
        out.clear();
        if messages.from_payload {
            return template::read_templates(&messages.scratch.payload, messages.len(), out);
        }
        let all: Vec<&[u8]> = messages.iter().collect();
        Templates::build(&all, out);
        Ok(())
    }
}

/// No messages; nothing follows the variant byte.
const EMPTY: u8 = 0;
/// A zstd frame of the messages joined by `\n` (only when no message contains one).
const LINES: u8 = 1;
/// A zstd frame of the messages back to back, then their lengths as varints.
const PREFIXED: u8 = 2;
/// A zstd frame of the template payload (see [`template`]), widths only for numbers with
/// leading zeros. Still read; no longer written.
const TEMPLATE_V1: u8 = 3;
/// A zstd frame of the template payload, with every number's digit count in `widths`.
const TEMPLATE: u8 = 4;

/// zstd level for the template payload.
const TEMPLATE_LEVEL: i32 = 3;
/// zstd level for the plain variants.
const PLAIN_LEVEL: i32 = 3;

thread_local! {
    static CCTX: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Appends a zstd frame of `src` at `level` to `out`.
pub(crate) fn compress_into(src: &[u8], level: i32, out: &mut Vec<u8>) {
    let fast = CCTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(level).ok();
        }
        let c = c.as_mut()?;
        c.set_compression_level(level).ok()?;
        out.reserve(zstd::zstd_safe::compress_bound(src.len()));
        let start = out.len();
        let mut cursor = std::io::Cursor::new(&mut *out);
        cursor.set_position(start as u64);
        c.compress_to_buffer(src, &mut cursor).ok()
    });
    if fast.is_none() {
        // Only reachable if zstd cannot allocate a context. Compressing in memory into a
        // buffer of `compress_bound` bytes cannot fail otherwise, and writing a block that
        // could not be read back would be worse than stopping.
        let frame = zstd::bulk::compress(src, level).expect("zstd cannot allocate a context");
        out.extend_from_slice(&frame);
    }
}

/// Decompresses the single zstd frame `src` into `dst` (replacing its contents), refusing
/// frames whose declared size is above `limit`, with this thread's reused zstd context (also
/// what derived artifacts decompress their blobs with).
pub fn decompress_into(src: &[u8], limit: usize, dst: &mut Vec<u8>) -> Result<(), CodecError> {
    let size = zstd::zstd_safe::get_frame_content_size(src)
        .ok()
        .flatten()
        .ok_or_else(|| CodecError("zstd frame without a readable content size".into()))?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= limit)
        .ok_or_else(|| CodecError(format!("zstd frame of {size} bytes, limit {limit}")))?;
    dst.clear();
    dst.reserve(size);
    DCTX.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().map_err(|e| CodecError(e.to_string()))?);
        }
        let d = d.as_mut().ok_or_else(|| CodecError("no zstd context".into()))?;
        d.decompress_to_buffer(src, dst).map_err(|e| CodecError(e.to_string()))
    })?;
    if dst.len() != size {
        return Err(CodecError("zstd frame shorter than declared".into()));
    }
    Ok(())
}

/// Appends the encoding of `messages` to `out`.
pub fn encode<S: AsRef<[u8]>>(messages: &[S], out: &mut Vec<u8>) {
    if messages.is_empty() {
        out.push(EMPTY);
        return;
    }
    let raw_bytes: usize = messages.iter().map(|m| m.as_ref().len()).sum();
    if let Some(payload) = template::build::<true, S>(messages, raw_bytes) {
        out.push(TEMPLATE);
        compress_into(&payload, TEMPLATE_LEVEL, out);
        return;
    }
    encode_plain(messages, raw_bytes, out);
}

/// Appends the best plain variant of `messages`.
fn encode_plain<S: AsRef<[u8]>>(messages: &[S], raw_bytes: usize, out: &mut Vec<u8>) {
    let lines = !messages.iter().any(|m| memchr::memchr(b'\n', m.as_ref()).is_some());
    let mut raw = Vec::with_capacity(raw_bytes + messages.len() * if lines { 1 } else { 3 });
    for (i, m) in messages.iter().enumerate() {
        if lines && i > 0 {
            raw.push(b'\n');
        }
        raw.extend_from_slice(m.as_ref());
    }
    if !lines {
        for m in messages {
            varint::put_u64(&mut raw, m.as_ref().len() as u64);
        }
    }
    out.push(if lines { LINES } else { PREFIXED });
    compress_into(&raw, PLAIN_LEVEL, out);
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
    decode_inner(buf, count, raw_bytes, out, None)
}

/// Like [`decode`], but a block stored as templates writes only the messages whose template
/// `keep` accepts (asked once per template, in index order, before any message is written);
/// [`Messages::is_skipped`] tells the others, whose bytes are left empty. A reader that
/// knows which templates cannot hold what it looks for so skips writing the rest. Blocks of
/// a plain variant are decoded whole (`keep` is not asked).
pub fn decode_screened(
    buf: &[u8],
    count: usize,
    raw_bytes: usize,
    out: &mut Messages,
    keep: &mut dyn FnMut(Template<'_>) -> bool,
) -> Result<(), CodecError> {
    decode_inner(buf, count, raw_bytes, out, Some(keep))
}

fn decode_inner(
    buf: &[u8],
    count: usize,
    raw_bytes: usize,
    out: &mut Messages,
    keep: Option<&mut dyn FnMut(Template<'_>) -> bool>,
) -> Result<(), CodecError> {
    out.clear();
    if u32::try_from(raw_bytes).is_err() || u32::try_from(count).is_err() {
        return Err(CodecError(format!(
            "block of {count} messages, {raw_bytes} bytes is too large"
        )));
    }
    let (&variant, frame) = buf.split_first().ok_or_else(|| CodecError("empty encoding".into()))?;
    let result = match variant {
        EMPTY if count == 0 && raw_bytes == 0 && frame.is_empty() => Ok(()),
        EMPTY => Err(CodecError("unexpected empty block".into())),
        _ if count == 0 => Err(CodecError("no messages but a non-empty variant".into())),
        LINES => decode_lines(frame, count, raw_bytes, out),
        PREFIXED => decode_prefixed(frame, count, raw_bytes, out),
        TEMPLATE_V1 | TEMPLATE => {
            let limit = template::payload_limit(count, raw_bytes);
            decompress_into(frame, limit, &mut out.scratch.payload)?;
            if variant == TEMPLATE {
                template::decode::<true>(count, raw_bytes, out, keep)
            } else {
                template::decode::<false>(count, raw_bytes, out, keep)
            }
        }
        v => Err(CodecError(format!("unknown variant {v}"))),
    };
    // Skipped messages are empty, so only a whole decode can be checked against the size.
    let whole = out.kept.iter().all(|&k| k);
    if result.is_ok() && (out.len() != count || (whole && out.total_bytes() != raw_bytes)) {
        out.clear();
        return Err(CodecError("count or size mismatch".into()));
    }
    if result.is_err() {
        out.clear();
    }
    out.from_payload = result.is_ok() && matches!(variant, TEMPLATE_V1 | TEMPLATE);
    result
}

/// Reads only the templates of the `count` messages of `raw_bytes` in `buf` into `out`,
/// without writing the messages when the block is stored as templates (`scratch` lends its
/// buffers and is left empty). Blocks of a plain variant are decoded and split as
/// [`Templates::build`] does.
pub fn decode_templates(
    buf: &[u8],
    count: usize,
    raw_bytes: usize,
    scratch: &mut Messages,
    out: &mut Templates,
) -> Result<(), CodecError> {
    out.clear();
    match buf.first() {
        Some(&(TEMPLATE_V1 | TEMPLATE)) if count > 0 && u32::try_from(raw_bytes).is_ok() => {
            scratch.clear();
            let limit = template::payload_limit(count, raw_bytes);
            decompress_into(&buf[1..], limit, &mut scratch.scratch.payload)?;
            let read = template::read_templates(&scratch.scratch.payload, count, out);
            if read.is_err() {
                out.clear();
            }
            read
        }
        _ => {
            decode(buf, count, raw_bytes, scratch)?;
            let read = Templates::from_decoded(scratch, out);
            scratch.clear();
            read
        }
    }
}

/// Decodes [`LINES`]: decompresses straight into `out.data`; the spans skip the separators.
fn decode_lines(
    frame: &[u8],
    count: usize,
    raw_bytes: usize,
    out: &mut Messages,
) -> Result<(), CodecError> {
    let joined = raw_bytes + count - 1;
    decompress_into(frame, joined, &mut out.data)?;
    if out.data.len() != joined {
        return Err(CodecError("lines: size mismatch".into()));
    }
    out.spans.reserve(count);
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', &out.data) {
        out.spans.push((start as u32, nl as u32));
        start = nl + 1;
    }
    if out.spans.len() != count - 1 {
        return Err(CodecError("lines: count mismatch".into()));
    }
    out.spans.push((start as u32, joined as u32));
    out.used = joined;
    Ok(())
}

/// Decodes [`PREFIXED`]: decompresses straight into `out.data`, then reads the lengths from
/// the tail.
fn decode_prefixed(
    frame: &[u8],
    count: usize,
    raw_bytes: usize,
    out: &mut Messages,
) -> Result<(), CodecError> {
    let limit = raw_bytes.saturating_add(count.saturating_mul(10));
    decompress_into(frame, limit, &mut out.data)?;
    let lens = out.data.get(raw_bytes..).ok_or_else(|| CodecError("prefixed: short".into()))?;
    let mut pos = 0;
    let mut end = 0u64;
    out.spans.reserve(count);
    for _ in 0..count {
        let len =
            varint::get(lens, &mut pos).ok_or_else(|| CodecError("prefixed: lengths".into()))?;
        let start = end;
        end = end.saturating_add(len);
        if end > raw_bytes as u64 {
            return Err(CodecError("prefixed: lengths exceed size".into()));
        }
        out.spans.push((start as u32, end as u32));
    }
    if pos != lens.len() || end != raw_bytes as u64 {
        return Err(CodecError("prefixed: length section mismatch".into()));
    }
    out.used = raw_bytes;
    Ok(())
}
