//! The template variant: messages split into templates and typed variable columns.
//!
//! See the module docs of [`super`] for the layout and the reasons.

use std::collections::HashMap;

use super::{CodecError, Messages, Piece, Template, Templates};
use crate::varint;

/// Template marker: a numeric slot.
const NUM: u8 = 1;
/// Template marker: a string slot.
const STR: u8 = 2;
/// Template escape: the next byte is literal text (only bytes 1..=3 are escaped).
const ESC: u8 = 3;

/// Longest digit run stored as a number: 19 digits always fit in a `u64`.
const MAX_DIGITS: usize = 19;

/// Upper bound on the uncompressed payload for a block of `count` messages and `raw_bytes`
/// bytes. The encoder falls back to a plain variant above it, so the decoder can refuse to
/// allocate more.
pub(super) fn payload_limit(count: usize, raw_bytes: usize) -> usize {
    raw_bytes.saturating_mul(2).saturating_add(count.saturating_mul(8)).saturating_add(64)
}

/// Whether `b` continues a token. Bytes of multi-byte UTF-8 characters count as word bytes so
/// that non-ASCII words stay whole (and in the template).
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Appends `value` in decimal, zero-padded to `width` digits.
fn push_number_text(out: &mut Vec<u8>, value: u64, width: u8) {
    let digits = value.to_string();
    out.extend(std::iter::repeat_n(b'0', usize::from(width).saturating_sub(digits.len())));
    out.extend_from_slice(digits.as_bytes());
}

/// One variable of one message, as found by [`tokenize`].
#[derive(Clone, Copy, PartialEq)]
enum Var {
    /// A digit run: its value and, when it has leading zeros, its width (else 0).
    Num { value: u64, width: u8 },
    /// Any other token with a digit, as a range of the message.
    Str { start: u32, end: u32 },
}

/// Appends `m`'s template to `tpl` and its variables to `vars`.
///
/// Tokens are maximal runs of word bytes (`[A-Za-z0-9_]` and non-ASCII). A token without digits
/// is template text. A token of digits is a number; a token of non-digits followed by digits
/// (`blk_123`, `R02`) is template text plus a number; any other token with a digit (hex, UUID
/// parts, `0x1f`) is a string variable.
fn tokenize<const LENGTHS: bool>(m: &[u8], tpl: &mut Vec<u8>, vars: &mut Vec<Var>) {
    let mut i = 0;
    while i < m.len() {
        let b = m[i];
        if !is_word(b) {
            if (NUM..=ESC).contains(&b) {
                tpl.push(ESC);
            }
            tpl.push(b);
            i += 1;
            continue;
        }
        let start = i;
        let mut first_digit = usize::MAX;
        let mut last_non_digit = usize::MAX;
        while i < m.len() && is_word(m[i]) {
            if m[i].is_ascii_digit() {
                first_digit = first_digit.min(i);
            } else {
                last_non_digit = i;
            }
            i += 1;
        }
        let tok = &m[start..i];
        if first_digit == usize::MAX {
            tpl.extend_from_slice(tok);
        } else if (last_non_digit == usize::MAX || last_non_digit < first_digit)
            && i - first_digit <= MAX_DIGITS
        {
            tpl.extend_from_slice(&m[start..first_digit]);
            tpl.push(NUM);
            let digits = &m[first_digit..i];
            let value = digits.iter().fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
            let width = if LENGTHS || (digits.len() > 1 && digits[0] == b'0') {
                digits.len() as u8
            } else {
                0
            };
            vars.push(Var::Num { value, width });
        } else {
            tpl.push(STR);
            vars.push(Var::Str { start: start as u32, end: i as u32 });
        }
    }
}

/// Builds the uncompressed payload of `messages`, or `None` if it would exceed
/// [`payload_limit`] (then a plain variant is smaller anyway).
pub(super) fn build<const LENGTHS: bool, S: AsRef<[u8]>>(
    messages: &[S],
    raw_bytes: usize,
) -> Option<Vec<u8>> {
    let limit = payload_limit(messages.len(), raw_bytes);
    let mut ids: HashMap<Box<[u8]>, u32> = HashMap::new();
    let mut templates: Vec<Box<[u8]>> = Vec::new();
    let mut templates_len = 0usize;
    let mut tpl = Vec::with_capacity(256);
    let mut msg_template = Vec::with_capacity(messages.len());
    let mut vars = Vec::with_capacity(messages.len() * 8);
    let mut var_starts = Vec::with_capacity(messages.len() + 1);
    for m in messages {
        tpl.clear();
        var_starts.push(vars.len() as u32);
        tokenize::<LENGTHS>(m.as_ref(), &mut tpl, &mut vars);
        let id = match ids.get(tpl.as_slice()) {
            Some(&id) => id,
            None => {
                let id = templates.len() as u32;
                templates_len += tpl.len() + 5;
                if templates_len > limit {
                    return None;
                }
                let t: Box<[u8]> = tpl.as_slice().into();
                templates.push(t.clone());
                ids.insert(t, id);
                id
            }
        };
        msg_template.push(id);
    }
    var_starts.push(vars.len() as u32);

    // Group messages by template (stable), so each (template, slot) column is contiguous.
    let mut group_start = vec![0u32; templates.len() + 1];
    for &t in &msg_template {
        group_start[t as usize + 1] += 1;
    }
    for t in 0..templates.len() {
        group_start[t + 1] += group_start[t];
    }
    let mut fill = group_start.clone();
    let mut order = vec![0u32; messages.len()];
    for (m, &t) in msg_template.iter().enumerate() {
        order[fill[t as usize] as usize] = m as u32;
        fill[t as usize] += 1;
    }

    let mut tsec = Vec::with_capacity(templates_len);
    let mut idsec = Vec::with_capacity(messages.len());
    for &t in &msg_template {
        varint::put_u64(&mut idsec, u64::from(t));
    }
    let mut nums = Vec::new();
    let mut widths = Vec::new();
    let mut strs = Vec::new();
    let mut folded = Vec::new();
    let mut constant = Vec::new();
    for (t, template) in templates.iter().enumerate() {
        let group = &order[group_start[t] as usize..group_start[t + 1] as usize];
        let first = group[0] as usize;
        let vars_of = |m: u32| {
            let m = m as usize;
            &vars[var_starts[m] as usize..var_starts[m + 1] as usize]
        };
        let text_of = |m: u32, v: Var| match v {
            Var::Str { start, end } => &messages[m as usize].as_ref()[start as usize..end as usize],
            Var::Num { .. } => &[],
        };
        // A column with one value throughout the block goes into the template: the decoder
        // then never touches it.
        let first_vars = vars_of(first as u32);
        constant.clear();
        constant.extend(first_vars.iter().enumerate().map(|(slot, &v)| {
            group.iter().all(|&m| {
                let w = vars_of(m)[slot];
                match (v, w) {
                    (Var::Num { .. }, Var::Num { .. }) => v == w,
                    (Var::Str { .. }, Var::Str { .. }) => text_of(first as u32, v) == text_of(m, w),
                    _ => false,
                }
            })
        }));
        folded.clear();
        let mut slot = 0;
        let mut i = 0;
        while i < template.len() {
            let b = template[i];
            match b {
                ESC => {
                    folded.extend_from_slice(&template[i..i + 2]);
                    i += 2;
                    continue;
                }
                NUM | STR if constant[slot] => match first_vars[slot] {
                    Var::Num { value, width } => push_number_text(&mut folded, value, width),
                    v => folded.extend_from_slice(text_of(first as u32, v)),
                },
                _ => folded.push(b),
            }
            if b == NUM || b == STR {
                slot += 1;
            }
            i += 1;
        }
        varint::put_u64(&mut tsec, folded.len() as u64);
        tsec.extend_from_slice(&folded);

        for slot in (0..first_vars.len()).filter(|&slot| !constant[slot]) {
            let mut prev = 0u64;
            for &m in group {
                match vars_of(m)[slot] {
                    Var::Num { value, width } => {
                        varint::put_u64(&mut nums, varint::zigzag(value.wrapping_sub(prev) as i64));
                        widths.push(width);
                        prev = value;
                    }
                    v => {
                        strs.extend_from_slice(text_of(m, v));
                        strs.push(0);
                    }
                }
            }
        }
        if tsec.len() + idsec.len() + nums.len() + widths.len() + strs.len() > limit {
            return None;
        }
    }

    let mut payload =
        Vec::with_capacity(32 + tsec.len() + idsec.len() + nums.len() + widths.len() + strs.len());
    varint::put_u64(&mut payload, templates.len() as u64);
    for sec in [&tsec, &idsec, &nums, &widths] {
        varint::put_u64(&mut payload, sec.len() as u64);
    }
    for sec in [&tsec, &idsec, &nums, &widths, &strs] {
        payload.extend_from_slice(sec);
    }
    (payload.len() <= limit).then_some(payload)
}

/// The pieces of one template's bytes. A dangling escape (only in bytes that never passed
/// [`read_templates`]) reads as text.
pub(super) fn pieces(t: &[u8]) -> impl Iterator<Item = Piece<'_>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let rest = t.get(i..).filter(|r| !r.is_empty())?;
        Some(match rest[0] {
            NUM => {
                i += 1;
                Piece::Number
            }
            STR => {
                i += 1;
                Piece::Variable
            }
            ESC => {
                let lit = &rest[1.min(rest.len() - 1)..2.min(rest.len())];
                i += 2;
                Piece::Text(lit)
            }
            _ => {
                let n = memchr::memchr3(NUM, STR, ESC, rest).unwrap_or(rest.len());
                i += n;
                Piece::Text(&rest[..n])
            }
        })
    })
}

/// Reads the templates and the template id of each of `count` messages from a template
/// payload into `out` (the variable columns are not read).
pub(super) fn read_templates(
    payload: &[u8],
    count: usize,
    out: &mut Templates,
) -> Result<(), CodecError> {
    out.clear();
    let Sections { ntemplates, templates: tsec, ids: idsec, .. } = Sections::parse(payload)?;
    let mut tpos = 0;
    for _ in 0..ntemplates {
        let len = varint::get(tsec, &mut tpos).ok_or_else(|| err("template length"))?;
        let t = section(&mut &tsec[tpos..], len)?;
        tpos += t.len();
        // Every escape must be followed by its byte, so pieces never read past a template.
        let mut i = 0;
        while let Some(j) = memchr::memchr(ESC, &t[i..]) {
            if i + j + 1 >= t.len() {
                return Err(err("dangling escape"));
            }
            i += j + 2;
        }
        out.bytes.extend_from_slice(t);
        out.ends.push(u32::try_from(out.bytes.len()).map_err(|_| err("templates too long"))?);
    }
    if tpos != tsec.len() {
        return Err(err("template section length"));
    }
    if count > idsec.len() {
        return Err(err("template id section too short"));
    }
    out.ids.reserve(count);
    let mut ipos = 0;
    for _ in 0..count {
        let id = varint::get(idsec, &mut ipos)
            .filter(|&id| id < ntemplates as u64)
            .ok_or_else(|| err("template id"))?;
        out.ids.push(id as u32);
    }
    if ipos != idsec.len() {
        return Err(err("template id section length"));
    }
    Ok(())
}

/// Templates without constant folding, for messages [`build`] refuses (its payload would
/// exceed the limit).
pub(super) fn unfolded<S: AsRef<[u8]>>(messages: &[S], out: &mut Templates) {
    let mut index: HashMap<Vec<u8>, u32> = HashMap::new();
    let (mut tpl, mut vars) = (Vec::new(), Vec::new());
    for m in messages {
        tpl.clear();
        vars.clear();
        tokenize::<true>(m.as_ref(), &mut tpl, &mut vars);
        let next = index.len() as u32;
        let id = *index.entry(tpl.clone()).or_insert_with(|| {
            out.bytes.extend_from_slice(&tpl);
            out.ends.push(out.bytes.len() as u32);
            next
        });
        out.ids.push(id);
    }
}

/// Decoder state kept in [`Messages`] so that decoding a block does not allocate once the
/// buffers have grown.
#[derive(Debug, Default, Clone)]
pub(super) struct Scratch {
    /// The decompressed payload.
    pub(super) payload: Vec<u8>,
    /// Static text of all templates, unescaped, back to back.
    statics: Vec<u8>,
    /// Per template and piece: end of the piece in `statics`. A template with `n` slots has
    /// `n + 1` pieces: text before each slot, then the text after the last.
    piece_ends: Vec<u32>,
    /// Per template: index of its first piece (and of its first column, minus the template
    /// index); one extra entry at the end.
    template_pieces: Vec<u32>,
    /// Per column (template slot): [`NUM`] or [`STR`].
    kinds: Vec<u8>,
    /// Per message: its template.
    pub(super) ids: Vec<u32>,
    /// Per template: where its messages start in `order`; one extra entry at the end.
    group_start: Vec<u32>,
    /// Message indexes grouped by template, in message order within a template.
    order: Vec<u32>,
    /// Per template: the next free place in `order`, while filling it.
    fill: Vec<u32>,
    /// Per column: where its next value is read.
    cols: Vec<Column>,
}

/// Read position of one column while decoding.
#[derive(Debug, Default, Clone, Copy)]
struct Column {
    /// Next value in the numbers section, or next string in the strings section.
    pos: usize,
    /// Next width byte (numbers only).
    wpos: usize,
    /// The previous number (numbers are deltas).
    prev: u64,
}

fn err(what: &str) -> CodecError {
    CodecError(format!("template variant: {what}"))
}

/// Splits a section of `len` bytes off the front of `rest`.
/// A template payload split into its sections (header: the template count, then the
/// lengths of the template, id, number and width sections; the strings take the rest).
struct Sections<'a> {
    ntemplates: usize,
    templates: &'a [u8],
    ids: &'a [u8],
    numbers: &'a [u8],
    widths: &'a [u8],
    strings: &'a [u8],
}

impl<'a> Sections<'a> {
    fn parse(payload: &'a [u8]) -> Result<Sections<'a>, CodecError> {
        let mut pos = 0;
        let mut header = [0u64; 5];
        for h in &mut header {
            *h = varint::get(payload, &mut pos).ok_or_else(|| err("header"))?;
        }
        let mut rest = &payload[pos..];
        let templates = section(&mut rest, header[1])?;
        let ids = section(&mut rest, header[2])?;
        let numbers = section(&mut rest, header[3])?;
        let widths = section(&mut rest, header[4])?;
        // Each template takes at least its length byte, which bounds their number.
        let ntemplates = usize::try_from(header[0])
            .ok()
            .filter(|&n| n <= templates.len())
            .ok_or_else(|| err("template count"))?;
        Ok(Sections { ntemplates, templates, ids, numbers, widths, strings: rest })
    }
}

fn section<'a>(rest: &mut &'a [u8], len: u64) -> Result<&'a [u8], CodecError> {
    let len = usize::try_from(len)
        .ok()
        .filter(|&len| len <= rest.len())
        .ok_or_else(|| err("section overruns payload"))?;
    let (sec, tail) = rest.split_at(len);
    *rest = tail;
    Ok(sec)
}

/// Position after `n` varints starting at `pos`. A varint ends at each byte below 0x80, so
/// whole words are skipped by counting those, as long as the `n`th end lies beyond the word.
fn skip_varints(buf: &[u8], mut pos: usize, n: usize) -> Result<usize, CodecError> {
    let mut left = n;
    while let Some(word) = buf.get(pos..).and_then(|rest| rest.first_chunk::<8>()) {
        let ends = (!u64::from_le_bytes(*word) & 0x8080_8080_8080_8080).count_ones() as usize;
        if ends >= left {
            break;
        }
        left -= ends;
        pos += 8;
    }
    while left > 0 {
        let b = *buf.get(pos).ok_or_else(|| err("numbers"))?;
        pos += 1;
        left -= usize::from(b < 0x80);
    }
    Ok(pos)
}

/// Position after `n` NUL-terminated strings starting at `pos`.
fn skip_strings(buf: &[u8], mut pos: usize, n: usize) -> Result<usize, CodecError> {
    for _ in 0..n {
        pos += memchr::memchr(0, &buf[pos..]).ok_or_else(|| err("strings"))? + 1;
    }
    Ok(pos)
}

/// Decodes the payload in `out.scratch.payload` into `out`'s messages.
///
/// The columns are stored column by column, but messages are written row by row, so the
/// decoder first finds where each column starts (a cheap skim over the varints and
/// strings). It then writes the messages template by template: each message's pieces and
/// variables go straight into place, numbers formatted where they land, with no
/// intermediate text. Within one template every message has the same shape, so the
/// branches of the inner loop follow a pattern the CPU predicts. Messages therefore lie in
/// the output in template order; [`Messages`] maps them back to their indexes. With
/// `keep`, only the messages of the templates it accepts are written (the columns of the
/// others are skimmed, not read).
pub(super) fn decode<const LENGTHS: bool>(
    count: usize,
    raw_bytes: usize,
    out: &mut Messages,
    mut keep: Option<&mut dyn FnMut(Template<'_>) -> bool>,
) -> Result<(), CodecError> {
    let Messages { data, used, spans, scratch: s, kept, .. } = out;
    let Sections {
        ntemplates,
        templates: tsec,
        ids: idsec,
        numbers: numsec,
        widths,
        strings: strsec,
    } = Sections::parse(s.payload.as_slice())?;

    // Templates.
    s.statics.clear();
    s.piece_ends.clear();
    s.template_pieces.clear();
    s.kinds.clear();
    let mut tpos = 0;
    for _ in 0..ntemplates {
        let len = varint::get(tsec, &mut tpos).ok_or_else(|| err("template length"))?;
        let t = section(&mut &tsec[tpos..], len)?;
        tpos += t.len();
        s.template_pieces.push(s.piece_ends.len() as u32);
        let mut i = 0;
        while let Some(j) = memchr::memchr3(NUM, STR, ESC, &t[i..]) {
            s.statics.extend_from_slice(&t[i..i + j]);
            i += j;
            if t[i] == ESC {
                s.statics.push(*t.get(i + 1).ok_or_else(|| err("dangling escape"))?);
                i += 2;
            } else {
                s.piece_ends.push(s.statics.len() as u32);
                s.kinds.push(t[i]);
                i += 1;
            }
        }
        s.statics.extend_from_slice(&t[i..]);
        s.piece_ends.push(s.statics.len() as u32);
        if let Some(keep) = keep.as_mut() {
            kept.push(keep(Template(t)));
        }
    }
    if tpos != tsec.len() {
        return Err(err("template section length"));
    }
    s.template_pieces.push(s.piece_ends.len() as u32);

    // Template ids, then the messages grouped by template (a counting sort). Each id takes
    // at least a byte.
    if count > idsec.len() {
        return Err(err("template id section too short"));
    }
    s.ids.clear();
    s.group_start.clear();
    s.group_start.resize(ntemplates + 1, 0);
    let mut ipos = 0;
    for _ in 0..count {
        let id = varint::get(idsec, &mut ipos)
            .and_then(|id| usize::try_from(id).ok())
            .filter(|&id| id < ntemplates)
            .ok_or_else(|| err("template id"))?;
        s.group_start[id + 1] += 1;
        s.ids.push(id as u32);
    }
    if ipos != idsec.len() {
        return Err(err("template id section length"));
    }
    for t in 0..ntemplates {
        s.group_start[t + 1] += s.group_start[t];
    }
    s.order.clear();
    s.order.resize(count, 0);
    s.fill.clear();
    s.fill.extend_from_slice(&s.group_start[..ntemplates]);
    for (m, &t) in s.ids.iter().enumerate() {
        let fill = &mut s.fill[t as usize];
        s.order[*fill as usize] = m as u32;
        *fill += 1;
    }

    // Where each column starts, in storage order: template by template, slot by slot.
    s.cols.clear();
    let (mut npos, mut wpos, mut spos) = (0, 0, 0);
    for t in 0..ntemplates {
        let n = (s.group_start[t + 1] - s.group_start[t]) as usize;
        let first = s.template_pieces[t] as usize - t;
        let last = s.template_pieces[t + 1] as usize - t - 1;
        for &kind in &s.kinds[first..last] {
            if kind == NUM {
                s.cols.push(Column { pos: npos, wpos, prev: 0 });
                npos = skip_varints(numsec, npos, n)?;
                wpos += n;
            } else {
                s.cols.push(Column { pos: spos, wpos: 0, prev: 0 });
                spos = skip_strings(strsec, spos, n)?;
            }
        }
    }
    if npos != numsec.len() || wpos != widths.len() || spos != strsec.len() {
        return Err(err("section lengths"));
    }

    // The messages, template by template. Pieces are copied with fixed-size overlapping
    // copies (the next piece overwrites the excess), which needs slack after the output
    // and the sources.
    s.statics.resize(s.statics.len() + SLACK, 0);
    // `Messages` tolerates stale bytes after the last message, so this need not zero.
    if data.len() < raw_bytes + SLACK {
        data.resize(raw_bytes + SLACK, 0);
    }
    spans.clear();
    spans.resize(count, (0, 0));
    let mut w = 0;
    for t in 0..ntemplates {
        if kept.get(t) == Some(&false) {
            continue;
        }
        let first = s.template_pieces[t] as usize;
        let last = s.template_pieces[t + 1] as usize - 1;
        let cols = &mut s.cols[first - t..last - t];
        let kinds = &s.kinds[first - t..last - t];
        let piece_ends = &s.piece_ends[first..=last];
        let static_start = if first == 0 { 0 } else { s.piece_ends[first - 1] as usize };
        let group = &s.order[s.group_start[t] as usize..s.group_start[t + 1] as usize];
        for &m in group {
            let begin = w;
            let mut start = static_start;
            for ((col, &kind), &end) in cols.iter_mut().zip(kinds).zip(piece_ends) {
                let end = end as usize;
                w = copy(data, w, raw_bytes, &s.statics, start, end - start)?;
                start = end;
                if kind == NUM {
                    let z = varint::get(numsec, &mut col.pos).ok_or_else(|| err("numbers"))?;
                    let width = *widths.get(col.wpos).ok_or_else(|| err("widths"))?;
                    col.wpos += 1;
                    col.prev = col.prev.wrapping_add(varint::unzigzag(z) as u64);
                    w += write_number::<LENGTHS>(data, w, raw_bytes, col.prev, width)?;
                } else {
                    let len = memchr::memchr(0, strsec.get(col.pos..).unwrap_or_default())
                        .ok_or_else(|| err("strings"))?;
                    w = copy(data, w, raw_bytes, strsec, col.pos, len)?;
                    col.pos += len + 1;
                }
            }
            let end = piece_ends[last - first] as usize;
            w = copy(data, w, raw_bytes, &s.statics, start, end - start)?;
            spans[m as usize] = (begin as u32, w as u32);
        }
    }
    *used = w;
    Ok(())
}

/// Number of decimal digits of `v` (1 for 0).
#[inline(always)]
fn decimal_len(v: u64) -> usize {
    const POW10: [u64; 20] = {
        let mut p = [1u64; 20];
        let mut i = 1;
        while i < 20 {
            p[i] = p[i - 1] * 10;
            i += 1;
        }
        p
    };
    // floor(log10(2) * bits) is the digit count or one more than it.
    let v = v | 1;
    let t = (((64 - v.leading_zeros()) * 1233) >> 12) as usize;
    t + 1 - usize::from(v < POW10[t])
}

/// Writes `v` in decimal at `dst[w..]` and returns its length. With `LENGTHS` (the current
/// format) `width` is the digit count the encoder stored, so the write position never waits
/// on formatting the value; the oldest format stored a width only for numbers with leading
/// zeros, and the length has to be computed. Digits are stored straight into place, two at
/// a time: a temporary buffer would cost a copy call and a store-forwarding stall per
/// number.
#[inline(always)]
fn write_number<const LENGTHS: bool>(
    dst: &mut [u8],
    w: usize,
    limit: usize,
    mut v: u64,
    width: u8,
) -> Result<usize, CodecError> {
    let width = usize::from(width);
    if width > MAX_DIGITS || (LENGTHS && width == 0) {
        return Err(err("number width"));
    }
    let len = if LENGTHS { width } else { decimal_len(v).max(width) };
    if w + len > limit {
        return Err(err("variables longer than the block"));
    }
    let out = &mut dst[w..w + len];
    let mut i = len;
    // Four digits per step: the steps form a chain of dependent divisions, so fewer, wider
    // steps shorten it; the two pairs inside a step are independent.
    while i >= 4 {
        let rest = (v % 10_000) as usize;
        v /= 10_000;
        let (high, low) = (rest / 100 * 2, rest % 100 * 2);
        out[i - 4..i - 2].copy_from_slice(&DIGIT_PAIRS[high..high + 2]);
        out[i - 2..i].copy_from_slice(&DIGIT_PAIRS[low..low + 2]);
        i -= 4;
    }
    if i >= 2 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        out[i - 2..i].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        i -= 2;
    }
    if i == 1 {
        out[0] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    if v != 0 {
        return Err(err("number wider than its width"));
    }
    Ok(len)
}

/// Two-digit decimal strings "00".."99", for [`write_number`].
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Bytes of slack after decoder buffers, for [`copy`]'s fixed-size copies.
const SLACK: usize = 32;

/// Copies `src[from..from + len]` to `dst[w..]` and returns the new end. `dst` must have
/// [`SLACK`] bytes after `limit`; pieces up to [`SLACK`] bytes long are copied as a whole
/// [`SLACK`]-byte chunk, which is much cheaper than a `memcpy` call for the short pieces
/// messages are made of.
#[inline(always)]
fn copy(
    dst: &mut [u8],
    w: usize,
    limit: usize,
    src: &[u8],
    from: usize,
    len: usize,
) -> Result<usize, CodecError> {
    let end = w + len;
    if end > limit {
        return Err(err("messages longer than the directory says"));
    }
    if len <= SLACK && from + SLACK <= src.len() {
        let chunk: &[u8; SLACK] = src[from..from + SLACK].try_into().map_err(|_| err("copy"))?;
        dst[w..w + SLACK].copy_from_slice(chunk);
    } else {
        dst[w..end].copy_from_slice(&src[from..from + len]);
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_len_matches_formatting() {
        let mut values = vec![0, 1, 9, u64::MAX, u64::MAX - 1];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            values.extend([p - 1, p, p + 1]);
            p = next;
        }
        values.extend([p - 1, p, p + 1]);
        for v in values {
            assert_eq!(decimal_len(v), v.to_string().len(), "{v}");
        }
    }

    #[test]
    fn write_number_pads_and_bounds() {
        let mut dst = [0u8; 64];
        assert_eq!(write_number::<false>(&mut dst, 0, 32, 42, 5).ok(), Some(5));
        assert_eq!(&dst[..5], b"00042");
        assert_eq!(write_number::<false>(&mut dst, 0, 32, 1234567, 0).ok(), Some(7));
        assert_eq!(&dst[..7], b"1234567");
        assert!(write_number::<false>(&mut dst, 30, 32, 1234, 0).is_err());
        assert!(write_number::<false>(&mut dst, 0, 32, 1, 200).is_err());
        assert_eq!(write_number::<true>(&mut dst, 0, 32, 42, 5).ok(), Some(5));
        assert_eq!(&dst[..5], b"00042");
        assert_eq!(write_number::<true>(&mut dst, 0, 32, 1234567, 7).ok(), Some(7));
        assert_eq!(&dst[..7], b"1234567");
        assert_eq!(write_number::<true>(&mut dst, 0, 32, 7, 1).ok(), Some(1));
        assert_eq!(&dst[..1], b"7");
        assert!(write_number::<true>(&mut dst, 0, 32, 1234, 3).is_err(), "too wide");
        assert!(write_number::<true>(&mut dst, 0, 32, 0, 0).is_err(), "no width");
    }

    #[test]
    fn tokenizes_into_template_and_typed_variables() {
        let (mut tpl, mut vars) = (Vec::new(), Vec::new());
        tokenize::<false>(b"blk_0042 at 10.2 id=1a2b \x01", &mut tpl, &mut vars);
        assert_eq!(tpl, b"blk_\x01 at \x01.\x01 id=\x02 \x03\x01");
        assert!(vars[0] == Var::Num { value: 42, width: 4 });
        assert!(vars[1] == Var::Num { value: 10, width: 0 });
        assert!(vars[2] == Var::Num { value: 2, width: 0 });
        assert!(vars[3] == Var::Str { start: 20, end: 24 });
    }
}
