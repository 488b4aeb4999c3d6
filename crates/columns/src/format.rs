//! The artifact's bytes: one checksummed, zstd-compressed blob per (block, field), then a
//! directory naming each block's fields with their statistics.
//!
//! ```text
//! "LSCOLS01" blob* directory footer
//! blob       zstd(tags[rows] ints floats dict strs), tags: 0 absent, 1 null, 2 false,
//!            3 true, 4 integer (zigzag varint in `ints`), 5 float (f64 le in `floats`),
//!            6 string (varint index into `dict`, in `strs`); dict: count (len bytes)*
//! directory  blocks:varint (rows:varint fields:varint field*)*, field: name_len name
//!            offset len crc32c:u32le present:varint flags:u8 [min:f64le max:f64le]
//!            [value set (`values.rs`)]
//! footer     dir_offset:u64le dir_len:u64le dir_crc32c:u32le version:u32le "LSCOLEND"
//! ```
//! A blob's CRC-32C is checked each time it is read, the directory's when it is opened, so
//! a damaged artifact is reported, never read as data. Version 2 added the value sets and the
//! flag for text that may read as a number; an artifact of version 1 is reported as
//! outdated (dropped and rebuilt, never read).

use std::collections::HashMap;

use crate::error::ColumnsError;
use crate::values::{ValueSet, ValueSetPolicy, may_read_as_number};

const MAGIC: &[u8; 8] = b"LSCOLS01";
const END: &[u8; 8] = b"LSCOLEND";
const VERSION: u32 = 2;
/// Versions of earlier builds: what they hold is valid, but this version does not read it.
const OUTDATED: &[u32] = &[1];
const FOOTER: usize = 8 + 8 + 4 + 4 + 8;
const ZSTD_LEVEL: i32 = 3;

const TAG_ABSENT: u8 = 0;
const TAG_NULL: u8 = 1;
const TAG_FALSE: u8 = 2;
const TAG_TRUE: u8 = 3;
const TAG_INT: u8 = 4;
const TAG_FLOAT: u8 = 5;
const TAG_STR: u8 = 6;

const FLAG_NUMERIC: u8 = 1;
const FLAG_TEXT: u8 = 2;
const FLAG_OTHER: u8 = 4;
const FLAG_NOT_STORED: u8 = 8;
const FLAG_NUMERIC_TEXT: u8 = 16;
const FLAG_VALUES: u8 = 32;

/// A string column with more distinct values than this share of its rows (and more than
/// [`MIN_DISTINCT`]) is not stored: ids and trace ids would be a second, no smaller copy of
/// what the messages hold. Its statistics still are; readers parse messages for it.
const MAX_DISTINCT_SHARE: f64 = 0.5;
const MIN_DISTINCT: usize = 64;

/// One row's value of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// The row has no such field (not JSON, or no such key).
    Absent,
    /// JSON `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number that fits an `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string: an index into the column's dictionary.
    Str(u32),
}

impl Cell {
    /// The cell of a flattened JSON leaf, typed as the engine types JSON (an integer when it
    /// fits an `i64`, else a float); strings are interned by `intern`.
    pub fn from_json(v: &serde_json::Value, intern: impl FnOnce(&str) -> u32) -> Cell {
        use serde_json::Value as J;
        match v {
            J::Null => Cell::Null,
            J::Bool(b) => Cell::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => n.as_f64().map_or(Cell::Null, Cell::Float),
            },
            J::String(s) => Cell::Str(intern(s)),
            // Flattening never yields containers; keep the row readable if it ever did.
            J::Array(_) | J::Object(_) => Cell::Null,
        }
    }
}

/// A field's values over one block's rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Column {
    cells: Vec<Cell>,
    dict: Vec<String>,
}

impl Column {
    /// Row `row`'s cell (absent past the end).
    pub fn cell(&self, row: usize) -> Cell {
        self.cells.get(row).copied().unwrap_or(Cell::Absent)
    }

    /// The string of a [`Cell::Str`].
    pub fn text(&self, index: u32) -> &str {
        self.dict.get(index as usize).map_or("", String::as_str)
    }

    /// The column's dictionary, in index order.
    pub fn dict(&self) -> &[String] {
        &self.dict
    }

    /// Rows in the column.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Its cells (row order) and dictionary, taken apart without copying.
    pub fn into_parts(self) -> (Vec<Cell>, Vec<String>) {
        (self.cells, self.dict)
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// Builds one field's column over a block, row by row.
#[derive(Debug, Default)]
pub(crate) struct ColumnBuilder {
    cells: Vec<Cell>,
    dict: Vec<String>,
    ids: HashMap<String, u32>,
}

impl ColumnBuilder {
    /// Sets row `row`'s value (rows come in ascending order). When two paths flatten to
    /// one name in a row, the first is kept, as the engine's discovery does.
    pub(crate) fn set(&mut self, row: usize, v: &serde_json::Value) {
        if self.cells.len() > row {
            return;
        }
        let cell = Cell::from_json(v, |s| match self.ids.get(s) {
            Some(&id) => id,
            None => {
                let id = self.dict.len() as u32;
                self.dict.push(s.to_owned());
                self.ids.insert(s.to_owned(), id);
                id
            }
        });
        self.cells.resize(row, Cell::Absent);
        self.cells.push(cell);
    }

    fn finish(mut self, rows: usize) -> Column {
        self.cells.resize(rows, Cell::Absent);
        Column { cells: self.cells, dict: self.dict }
    }
}

/// What a block's directory says about one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    offset: u64,
    len: u64,
    crc: u32,
    /// Rows that have the field.
    pub present: u32,
    /// Smallest and largest number stored as a number (not text), if any.
    pub numeric: Option<(f64, f64)>,
    /// Whether some row holds a string.
    pub has_text: bool,
    /// Whether some row holds a string that may read as a number
    /// ([`crate::may_read_as_number`]): else no string of the block compares as one.
    pub numeric_text: bool,
    /// The block's strings of the field, summarised (`None`: no strings, or too many).
    pub values: Option<ValueSet>,
    /// Whether some row holds `null` or a boolean.
    pub has_other: bool,
    /// Whether the column itself is stored (else only these statistics: read the messages).
    pub stored: bool,
}

/// One block's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockFields {
    rows: u32,
    fields: HashMap<String, FieldMeta>,
}

impl BlockFields {
    /// Rows in the block.
    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    /// The field's entry, if some row of the block has it.
    pub fn field(&self, name: &str) -> Option<&FieldMeta> {
        self.fields.get(name)
    }

    /// Every field of the block with its entry.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &FieldMeta)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Writes an artifact block by block.
#[derive(Debug)]
pub(crate) struct Writer {
    out: Vec<u8>,
    blocks: Vec<(u32, Vec<(String, FieldMeta)>)>,
    policy: ValueSetPolicy,
}

impl Writer {
    pub(crate) fn new(policy: ValueSetPolicy) -> Writer {
        Writer { out: MAGIC.to_vec(), blocks: Vec::new(), policy }
    }

    /// Appends the next block's columns (`rows` rows).
    pub(crate) fn block(
        &mut self,
        rows: usize,
        columns: HashMap<String, ColumnBuilder>,
    ) -> Result<(), ColumnsError> {
        let mut names: Vec<(String, ColumnBuilder)> = columns.into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let mut metas = Vec::with_capacity(names.len());
        for (name, builder) in names {
            let column = builder.finish(rows);
            let mut meta = stats(&column);
            meta.values = ValueSet::build(&column.dict, self.policy);
            let distinct = column.dict.len();
            if distinct > MIN_DISTINCT && distinct as f64 > MAX_DISTINCT_SHARE * meta.present as f64
            {
                meta.stored = false;
                metas.push((name, meta));
                continue;
            }
            let raw = encode_column(&column);
            let blob = zstd::bulk::compress(&raw, ZSTD_LEVEL).map_err(ColumnsError::Compress)?;
            meta.offset = self.out.len() as u64;
            meta.len = blob.len() as u64;
            meta.crc = crc32c::crc32c(&blob);
            self.out.extend_from_slice(&blob);
            metas.push((name, meta));
        }
        self.blocks.push((rows as u32, metas));
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        let mut dir = Vec::new();
        put_varint(&mut dir, self.blocks.len() as u64);
        for (rows, fields) in &self.blocks {
            put_varint(&mut dir, u64::from(*rows));
            put_varint(&mut dir, fields.len() as u64);
            for (name, m) in fields {
                put_varint(&mut dir, name.len() as u64);
                dir.extend_from_slice(name.as_bytes());
                put_varint(&mut dir, m.offset);
                put_varint(&mut dir, m.len);
                dir.extend_from_slice(&m.crc.to_le_bytes());
                put_varint(&mut dir, u64::from(m.present));
                let flags = if m.numeric.is_some() { FLAG_NUMERIC } else { 0 }
                    | if m.has_text { FLAG_TEXT } else { 0 }
                    | if m.has_other { FLAG_OTHER } else { 0 }
                    | if m.stored { 0 } else { FLAG_NOT_STORED }
                    | if m.numeric_text { FLAG_NUMERIC_TEXT } else { 0 }
                    | if m.values.is_some() { FLAG_VALUES } else { 0 };
                dir.push(flags);
                if let Some((lo, hi)) = m.numeric {
                    dir.extend_from_slice(&lo.to_le_bytes());
                    dir.extend_from_slice(&hi.to_le_bytes());
                }
                if let Some(v) = &m.values {
                    v.write(&mut dir);
                }
            }
        }
        let dir_offset = self.out.len() as u64;
        let crc = crc32c::crc32c(&dir);
        self.out.extend_from_slice(&dir);
        self.out.extend_from_slice(&dir_offset.to_le_bytes());
        self.out.extend_from_slice(&(dir.len() as u64).to_le_bytes());
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out.extend_from_slice(&VERSION.to_le_bytes());
        self.out.extend_from_slice(END);
        self.out
    }
}

fn stats(column: &Column) -> FieldMeta {
    let mut m = FieldMeta {
        offset: 0,
        len: 0,
        crc: 0,
        present: 0,
        numeric: None,
        has_text: false,
        numeric_text: false,
        values: None,
        has_other: false,
        stored: true,
    };
    let mut widen = |x: f64| {
        m.numeric = Some(match m.numeric {
            None => (x, x),
            Some((lo, hi)) => (lo.min(x), hi.max(x)),
        })
    };
    let mut present = 0;
    let (mut text, mut other) = (false, false);
    for cell in &column.cells {
        match *cell {
            Cell::Absent => continue,
            Cell::Null | Cell::Bool(_) => other = true,
            Cell::Int(i) => widen(i as f64),
            Cell::Float(f) => widen(f),
            Cell::Str(_) => text = true,
        }
        present += 1;
    }
    m.present = present;
    m.has_text = text;
    // The dictionary holds only strings some row has.
    m.numeric_text = column.dict.iter().any(|s| may_read_as_number(s));
    m.has_other = other;
    m
}

fn encode_column(c: &Column) -> Vec<u8> {
    let mut out = Vec::with_capacity(c.cells.len() * 3);
    for cell in &c.cells {
        out.push(match cell {
            Cell::Absent => TAG_ABSENT,
            Cell::Null => TAG_NULL,
            Cell::Bool(false) => TAG_FALSE,
            Cell::Bool(true) => TAG_TRUE,
            Cell::Int(_) => TAG_INT,
            Cell::Float(_) => TAG_FLOAT,
            Cell::Str(_) => TAG_STR,
        });
    }
    for cell in &c.cells {
        if let Cell::Int(i) = cell {
            put_varint(&mut out, ((i << 1) ^ (i >> 63)) as u64);
        }
    }
    for cell in &c.cells {
        if let Cell::Float(f) = cell {
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
    put_varint(&mut out, c.dict.len() as u64);
    for s in &c.dict {
        put_varint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    for cell in &c.cells {
        if let Cell::Str(i) = cell {
            put_varint(&mut out, u64::from(*i));
        }
    }
    out
}

fn decode_column(raw: &[u8], rows: usize) -> Result<Column, ColumnsError> {
    let bad = |what: &str| ColumnsError::Corrupt(format!("column: {what}"));
    let tags = raw.get(..rows).ok_or_else(|| bad("short tags"))?;
    let mut r = Reader { buf: raw, pos: rows };
    let mut cells = Vec::with_capacity(rows);
    // Integers follow the tags in row order, so they are read in the same pass; floats and
    // string indices come after them and take a pass each, only when the column has any.
    let (mut floats, mut strs) = (false, false);
    for &t in tags {
        cells.push(match t {
            TAG_ABSENT => Cell::Absent,
            TAG_NULL => Cell::Null,
            TAG_FALSE => Cell::Bool(false),
            TAG_TRUE => Cell::Bool(true),
            TAG_INT => {
                let z = r.varint()?;
                Cell::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            TAG_FLOAT => {
                floats = true;
                Cell::Float(0.0)
            }
            TAG_STR => {
                strs = true;
                Cell::Str(0)
            }
            _ => return Err(bad("unknown tag")),
        });
    }
    if floats {
        for cell in cells.iter_mut() {
            if let Cell::Float(f) = cell {
                *f = f64::from_le_bytes(r.take(8)?.try_into().map_err(|_| bad("float"))?);
            }
        }
    }
    let n = r.varint()? as usize;
    let mut dict = Vec::with_capacity(n.min(rows));
    for _ in 0..n {
        let len = r.varint()? as usize;
        let s = std::str::from_utf8(r.take(len)?).map_err(|_| bad("string not UTF-8"))?;
        dict.push(s.to_owned());
    }
    if strs {
        for cell in cells.iter_mut() {
            if let Cell::Str(i) = cell {
                let idx = r.varint()?;
                if idx >= dict.len() as u64 {
                    return Err(bad("string index out of range"));
                }
                *i = idx as u32;
            }
        }
    }
    if r.pos != raw.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(Column { cells, dict })
}

/// An opened artifact: its directory parsed and checked; blobs are checked when read.
#[derive(Debug, Clone)]
pub struct SegmentColumns {
    bytes: logsight_storage::FileBytes,
    blocks: Vec<BlockFields>,
}

impl SegmentColumns {
    /// Opens an artifact, checking its footer and directory.
    pub fn open(bytes: logsight_storage::FileBytes) -> Result<SegmentColumns, ColumnsError> {
        let bad = |what: &str| ColumnsError::Corrupt(what.to_owned());
        if bytes.len() < MAGIC.len() + FOOTER || &bytes[..8] != MAGIC {
            return Err(bad("not a columns artifact"));
        }
        let foot = &bytes[bytes.len() - FOOTER..];
        if &foot[24..] != END {
            return Err(bad("footer magic"));
        }
        let u64_at = |i: usize| u64::from_le_bytes(foot[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_le_bytes(foot[i..i + 4].try_into().unwrap_or([0; 4]));
        let (dir_offset, dir_len, crc, version) = (u64_at(0), u64_at(8), u32_at(16), u32_at(20));
        if OUTDATED.contains(&version) {
            return Err(ColumnsError::Outdated(version));
        }
        if version != VERSION {
            return Err(ColumnsError::Corrupt(format!("unknown version {version}")));
        }
        let end = bytes.len() - FOOTER;
        let start = usize::try_from(dir_offset).map_err(|_| bad("directory offset"))?;
        if start < MAGIC.len() || start.checked_add(dir_len as usize) != Some(end) {
            return Err(bad("directory bounds"));
        }
        let dir = &bytes[start..end];
        if crc32c::crc32c(dir) != crc {
            return Err(bad("directory checksum"));
        }
        let mut r = Reader::new(dir);
        let n = r.varint()? as usize;
        let mut blocks = Vec::with_capacity(n.min(dir.len()));
        for _ in 0..n {
            let rows = u32::try_from(r.varint()?).map_err(|_| bad("rows"))?;
            let nf = r.varint()? as usize;
            let mut fields = HashMap::with_capacity(nf.min(dir.len()));
            for _ in 0..nf {
                let len = r.varint()? as usize;
                let name = std::str::from_utf8(r.take(len)?).map_err(|_| bad("name"))?.to_owned();
                let offset = r.varint()?;
                let blen = r.varint()?;
                let crc = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| bad("crc"))?);
                let present = u32::try_from(r.varint()?).map_err(|_| bad("present"))?;
                let flags = r.take(1)?[0];
                let stored = flags & FLAG_NOT_STORED == 0;
                if stored
                    && (offset < MAGIC.len() as u64 || offset.saturating_add(blen) > dir_offset)
                {
                    return Err(bad("blob bounds"));
                }
                let numeric = if flags & FLAG_NUMERIC != 0 {
                    let lo = f64::from_le_bytes(r.take(8)?.try_into().map_err(|_| bad("min"))?);
                    let hi = f64::from_le_bytes(r.take(8)?.try_into().map_err(|_| bad("max"))?);
                    Some((lo, hi))
                } else {
                    None
                };
                let values =
                    if flags & FLAG_VALUES != 0 { Some(ValueSet::read(&mut r)?) } else { None };
                let has_text = flags & FLAG_TEXT != 0;
                if (values.is_some() || flags & FLAG_NUMERIC_TEXT != 0) && !has_text {
                    return Err(bad("strings summarised in a field without strings"));
                }
                let meta = FieldMeta {
                    offset,
                    len: blen,
                    crc,
                    present,
                    numeric,
                    has_text,
                    numeric_text: flags & FLAG_NUMERIC_TEXT != 0,
                    values,
                    has_other: flags & FLAG_OTHER != 0,
                    stored,
                };
                fields.insert(name, meta);
            }
            blocks.push(BlockFields { rows, fields });
        }
        if r.pos != dir.len() {
            return Err(bad("directory trailing bytes"));
        }
        Ok(SegmentColumns { bytes, blocks })
    }

    /// Block `index`'s fields (`None` past the last block).
    pub fn block(&self, index: usize) -> Option<&BlockFields> {
        self.blocks.get(index)
    }

    /// Blocks the artifact covers.
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes of the artifact.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Reads and checks one field's column of a block (an error for a column not stored).
    pub fn read(&self, block: &BlockFields, field: &FieldMeta) -> Result<Column, ColumnsError> {
        if !field.stored {
            return Err(ColumnsError::NotStored);
        }
        let (start, end) = (field.offset as usize, (field.offset + field.len) as usize);
        let blob = self
            .bytes
            .get(start..end)
            .ok_or_else(|| ColumnsError::Corrupt(format!("column at {start} past the end")))?;
        if crc32c::crc32c(blob) != field.crc {
            return Err(ColumnsError::Corrupt(format!("column at {start}: checksum")));
        }
        RAW.with(|raw| {
            let mut raw = raw.borrow_mut();
            logsight_storage::msgcodec::decompress_into(blob, MAX_RAW, &mut raw)
                .map_err(|e| ColumnsError::Corrupt(format!("column at {start}: {}", e.0)))?;
            decode_column(&raw, block.rows())
        })
    }
}

/// Decompressed column bytes at most (a blob's frame declares its size; the CRC vouches for
/// the blob, this bounds a writer's bug).
const MAX_RAW: usize = 1 << 30;

thread_local! {
    /// Each thread's buffer for a decompressed column, reused from read to read.
    static RAW: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    #[cfg(test)]
    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], ColumnsError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| ColumnsError::Corrupt("truncated".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn varint(&mut self) -> Result<u64, ColumnsError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let mut v = 0u64;
        for (i, &b) in rest.iter().take(10).enumerate() {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(v);
            }
        }
        Err(ColumnsError::Corrupt(
            if rest.len() < 10 { "truncated" } else { "varint too long" }.into(),
        ))
    }
}
