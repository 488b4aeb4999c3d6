//! The one place the engine touches storage.
//!
//! The executor sees only this module's types: a [`DataSource`] that lists groups and plans a
//! scan into [`Unit`]s, a per-worker [`Decoder`], and the columnar [`Batch`] a unit decodes
//! into (timestamps, ingestion times, messages, runs of rows of one stream each, indexed into
//! the query's names table, and the group). A sealed block holds many streams of its group,
//! sorted by stream then time; a unit decodes only the columns the plan reads. All of a
//! query's groups are planned on one storage snapshot, so the query sees one consistent state
//! whatever is appended, sealed or merged while it runs.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use logsight_columns::{Cell, Column, ColumnsError, FieldMeta, SegmentColumns};
use logsight_index::{Lookup, Requirement, TextIndex};
use logsight_model::TimeRange;
use logsight_storage::{Columns as StorageColumns, DecodedBlock, ScanUnit, StorageError, Store};

use crate::bins::{BinIds, BinSpec};
use crate::cache::BlockCache;
use crate::error::EngineError;
use crate::plan::{Columns, FieldPrune, FieldStats};
use crate::row::{FieldId, Names};
use crate::value::Value;

/// Where queries read events: a store, and the full-text index of its segments.
#[derive(Clone)]
pub struct DataSource {
    store: Arc<Store>,
    index: Option<Arc<TextIndex>>,
    cache: BlockCache,
    opened: Arc<OpenedColumns>,
}

/// Segments' JSON field columns opened by earlier queries: a directory is parsed (one map
/// per block) once, not per query. Entries leave when their artifact is found damaged,
/// dropped or replaced, and when their segment is no longer live (so an old file is not
/// kept mapped).
#[derive(Default)]
struct OpenedColumns {
    segments: parking_lot::Mutex<HashMap<u64, Arc<SegmentFields>>>,
}

impl std::fmt::Debug for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataSource({})", self.store.dir().display())
    }
}

/// The units of a query's scan, after time and stream pruning.
#[derive(Debug, Default)]
pub(crate) struct ScanSet {
    pub(crate) units: Vec<Unit>,
    pub(crate) names: Names,
    /// The ids of `names.streams`, in the same order.
    pub(crate) stream_ids: Vec<u64>,
    /// Sealed blocks in the store before pruning, and units after.
    pub(crate) blocks_total: usize,
}

/// What the full-text index (or the JSON field columns) ruled out of a scan.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pruned {
    /// Units skipped, their events and message bytes.
    pub(crate) units: u64,
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    /// Segments scanned whole because their artifact was damaged (dropped for rebuild).
    pub(crate) damaged: u64,
    /// Segments scanned whole because they have no artifact yet.
    pub(crate) unindexed: u64,
}

/// The JSON fields of a group's events over a time range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldCounts {
    /// Events in the range.
    pub events: u64,
    /// Each field with the number of events that have it, most frequent first, then by name.
    pub fields: Vec<FieldCount>,
}

/// One field of [`FieldCounts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCount {
    /// The flattened name, as queries see it.
    pub name: String,
    /// Events that have it.
    pub events: u64,
}

/// One independently decodable piece of the scan.
#[derive(Clone, Debug)]
pub(crate) struct Unit {
    inner: ScanUnit,
    range: TimeRange,
    group: u32,
    /// Where the plan's streams start in the query's names table (a row's stream index is
    /// this plus its index in the plan).
    streams_base: u32,
    /// The JSON field columns of the unit's segment, when built and the query reads JSON.
    fields: Option<Arc<SegmentFields>>,
    cache: BlockCache,
}

/// A segment's JSON field columns, opened (directory checked) once.
struct SegmentFields {
    columns: SegmentColumns,
    segment: u64,
    store: Arc<Store>,
    opened: std::sync::Weak<OpenedColumns>,
}

impl std::fmt::Debug for SegmentFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SegmentFields({:016x})", self.segment)
    }
}

impl SegmentFields {
    fn drop_damaged(&self, error: &dyn std::fmt::Display) {
        if let Some(opened) = self.opened.upgrade() {
            opened.segments.lock().remove(&self.segment);
        }
        drop_damaged(&self.store, self.segment, error);
    }
}

/// Forgets an artifact of an earlier format version so the builder makes it again (not
/// damage: only noted); the query reads messages meanwhile.
fn drop_outdated(store: &Store, segment: u64, why: &ColumnsError) {
    tracing::info!(segment, %why, "JSON field columns of an earlier format; rebuilding");
    if let Err(e) = store.drop_artifacts(&logsight_columns::kind(), Some(segment)) {
        tracing::warn!(segment, error = %e, "outdated columns not dropped");
    }
}

/// Forgets a damaged artifact so the builder makes it again; the query reads messages.
fn drop_damaged(store: &Store, segment: u64, error: &dyn std::fmt::Display) {
    tracing::warn!(segment, %error, "JSON field columns damaged; rebuilding");
    if let Err(e) = store.drop_artifacts(&logsight_columns::kind(), Some(segment)) {
        tracing::warn!(segment, error = %e, "damaged columns not dropped");
    }
}

impl Pruned {
    /// Counts `unit` as skipped.
    fn skip(&mut self, unit: &Unit) {
        self.units += 1;
        self.records += unit.events();
        self.bytes += unit.bytes();
    }
}

impl Unit {
    /// Events in the unit (before range filtering).
    pub(crate) fn events(&self) -> u64 {
        self.inner.count() as u64
    }

    /// Message bytes in the unit.
    pub(crate) fn bytes(&self) -> u64 {
        self.inner.raw_bytes()
    }

    /// Decodes the columns the plan reads into `decoder` and returns the wanted streams' rows
    /// inside the query's range.
    pub(crate) fn decode<'d>(
        &self,
        decoder: &'d mut Decoder,
        columns: Columns,
    ) -> Result<Batch<'d>, EngineError> {
        // Timestamps always: the time range is cut on them. JSON fields come from the
        // messages here (`decode_fields` reads them from columns).
        let messages = columns.messages || columns.json;
        let cols =
            StorageColumns { timestamps: true, ingestion_times: columns.ingestion_times, messages };
        self.decode_block(decoder, cols, columns.templates)?;
        let block = decoder.current();
        Ok(Batch { block, runs: self.runs(block), group: self.group, messages, json: None })
    }

    /// Decodes `cols` (and templates if asked) into `decoder`: from the cache when only
    /// timestamps are asked of a sealed block, else into the decoder's own buffers.
    fn decode_block(
        &self,
        decoder: &mut Decoder,
        cols: StorageColumns,
        templates: bool,
    ) -> Result<(), EngineError> {
        decoder.shared = None;
        let times_only = !cols.ingestion_times && !cols.messages && !templates;
        if let (true, true, Some((segment, block))) =
            (times_only, self.cache.is_on(), self.inner.location())
        {
            let shared = self.cache.times(segment, block, || {
                let mut b = DecodedBlock::default();
                self.inner.decode_columns(cols, &mut b).map_err(storage_error)?;
                b.timestamps.shrink_to_fit();
                b.streams.shrink_to_fit();
                Ok::<_, EngineError>(b)
            })?;
            decoder.shared = Some(shared);
            return Ok(());
        }
        if templates {
            self.inner.decode_templates(cols, &mut decoder.block).map_err(storage_error)
        } else {
            self.inner.decode_columns(cols, &mut decoder.block).map_err(storage_error)
        }
    }

    /// Every row's bin for `bin` of the block `batch` holds, when the unit is a sealed
    /// block and the cache is on (computed once, then shared by the queries that follow).
    pub(crate) fn bins(&self, batch: &Batch<'_>, bin: BinSpec) -> Option<Arc<BinIds>> {
        let (segment, block) = self.inner.location().filter(|_| self.cache.is_on())?;
        let bins =
            self.cache.bins(segment, block, bin, || BinIds::new(&batch.block.timestamps, bin))?;
        // A batch always holds its whole block's timestamps; checked all the same.
        (bins.len() == batch.block.timestamps.len()).then_some(bins)
    }

    /// The wanted streams' rows of `block` inside the query's range.
    fn runs(&self, block: &DecodedBlock) -> Vec<Run> {
        self.inner
            .rows_in(block, self.range)
            .into_iter()
            .map(|r| Run { stream: self.streams_base + r.index as u32, rows: r.rows })
            .collect()
    }

    /// Like [`Unit::decode`] for a plan that reads messages and no JSON fields, writing
    /// only the messages of templates `keep` accepts ([`Batch::is_skipped`] tells the rest).
    pub(crate) fn decode_screened<'d>(
        &self,
        decoder: &'d mut Decoder,
        columns: Columns,
        keep: &mut dyn FnMut(logsight_storage::Template<'_>) -> bool,
    ) -> Result<Batch<'d>, EngineError> {
        let cols = StorageColumns {
            timestamps: true,
            ingestion_times: columns.ingestion_times,
            messages: true,
        };
        decoder.shared = None;
        self.inner.decode_screened(cols, keep, &mut decoder.block).map_err(storage_error)?;
        let block = decoder.current();
        Ok(Batch { block, runs: self.runs(block), group: self.group, messages: true, json: None })
    }

    /// Like [`Unit::decode`], but when the unit's segment has JSON field columns, `fields`
    /// are read from them and messages only if the plan reads their text; a damaged column
    /// is dropped for rebuild and the unit read from its messages instead.
    pub(crate) fn decode_fields<'d>(
        &self,
        decoder: &'d mut Decoder,
        columns: Columns,
        fields: &[(FieldId, String)],
    ) -> Result<Batch<'d>, EngineError> {
        let Some(seg) = self.fields.as_ref().filter(|_| columns.json) else {
            return self.decode(decoder, columns);
        };
        let Some((segment, index)) = self.inner.location() else {
            return self.decode(decoder, columns);
        };
        let Some(block) = seg.columns.block(index) else {
            return self.decode(decoder, columns);
        };
        decoder.json.clear();
        for (id, name) in fields {
            let Some(meta) = block.field(name) else { continue };
            if !meta.stored {
                // Statistics only (near-unique strings): this unit parses its messages.
                return self.decode(decoder, columns);
            }
            // A column kept for reuse is worth indexing by value (see `Postings`).
            let keep = self.cache.is_on();
            let read = || seg.columns.read(block, meta).map(|c| ColumnData::new(c, keep));
            match self.cache.field(segment, index, name, read) {
                Ok(data) => decoder.json.push(JsonColumn { id: *id, data }),
                Err(e) => {
                    seg.drop_damaged(&e);
                    return self.decode(decoder, columns);
                }
            }
        }
        let cols = StorageColumns {
            timestamps: true,
            ingestion_times: columns.ingestion_times,
            messages: columns.messages,
        };
        self.decode_block(decoder, cols, false)?;
        if decoder.current().len() != block.rows() {
            seg.drop_damaged(&"row count differs from the block's");
            return self.decode(decoder, columns);
        }
        let block = decoder.current();
        Ok(Batch {
            block,
            runs: self.runs(block),
            group: self.group,
            messages: columns.messages,
            json: Some(&decoder.json),
        })
    }

    /// The unit's rank among sources of one stream's events at one timestamp.
    pub(crate) fn rank(&self) -> u64 {
        self.inner.rank()
    }

    /// The lowest and highest stream id the unit may hold.
    pub(crate) fn stream_span(&self) -> (u64, u64) {
        self.inner.stream_span()
    }

    /// Its earliest and latest timestamp (before range filtering).
    pub(crate) fn time_span(&self) -> (i64, i64) {
        (self.inner.min_ts, self.inner.max_ts)
    }

    /// Whether the unit is a sealed block.
    pub(crate) fn is_sealed(&self) -> bool {
        self.inner.is_sealed()
    }

    /// Whether the unit's JSON fields come from columns.
    pub(crate) fn has_fields(&self) -> bool {
        self.fields.is_some()
    }
}

/// One field's column of a block, with its dictionary as values (built once per block,
/// then shared through the [`BlockCache`]).
#[derive(Debug)]
pub(crate) struct ColumnData {
    cells: Cells,
    dict: Vec<Value>,
    /// For string cells of a column kept for reuse: its rows by value.
    postings: Option<Postings>,
}

/// The rows of a [`Cells::Codes`] column grouped by code: a selective condition on a
/// string field reads the rows of the values it accepts instead of every row's code. On
/// `filter level = "ERROR"` (2% of the rows) that is 2% of the work. Built in two passes over
/// the codes (a counting sort), so only for columns the [`BlockCache`] keeps: a column read
/// once would pay more to build it than it saves.
///
/// [`BlockCache`]: crate::BlockCache
#[derive(Debug)]
pub(crate) struct Postings {
    /// `rows[starts[c]..starts[c + 1]]` hold code `c`; the last bucket (`c` = the
    /// dictionary's length) the rows without the field.
    starts: Vec<u32>,
    /// Row indices, ascending within each bucket.
    rows: Vec<u32>,
}

impl Postings {
    pub(crate) fn new(codes: &[u32], dict_len: usize) -> Postings {
        // `ABSENT` (and any code past the dictionary, which reads as absent) go last.
        let bucket = |c: u32| (c as usize).min(dict_len);
        let mut starts = vec![0u32; dict_len + 2];
        for &c in codes {
            starts[bucket(c) + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut rows = vec![0u32; codes.len()];
        for (r, &c) in codes.iter().enumerate() {
            let at = &mut next[bucket(c)];
            rows[*at as usize] = r as u32;
            *at += 1;
        }
        Postings { starts, rows }
    }

    /// The rows holding code `code`, ascending; `code` = the dictionary's length: the rows
    /// without the field.
    pub(crate) fn rows(&self, code: usize) -> &[u32] {
        &self.rows[self.starts[code] as usize..self.starts[code + 1] as usize]
    }

    fn heap_bytes(&self) -> usize {
        (self.starts.len() + self.rows.len()) * 4
    }
}

/// A column's cells in the smallest form that holds them: most fields are integers in
/// every row, or strings where present. A scan over them then reads 8 or 4 bytes a row
/// instead of a 16-byte [`Cell`] (they are memory-bound).
#[derive(Debug)]
pub(crate) enum Cells {
    /// An integer in every row.
    Ints(Vec<i64>),
    /// A string or nothing in every row: dictionary indices, [`ABSENT`] where absent.
    Codes(Vec<u32>),
    /// Anything else.
    Mixed(Vec<Cell>),
}

/// The code of a row without the field in [`Cells::Codes`].
pub(crate) const ABSENT: u32 = u32::MAX;

impl ColumnData {
    /// The column's cells; `keep`: it will be reused (cached), so index string cells.
    fn new(column: Column, keep: bool) -> ColumnData {
        let (cells, dict) = column.into_parts();
        // One pass tells the form: integers in every row, or strings where present.
        let (mut ints, mut codes) = (!cells.is_empty(), true);
        for c in &cells {
            match c {
                Cell::Int(_) => codes = false,
                Cell::Str(i) if *i != ABSENT => ints = false,
                Cell::Absent => ints = false,
                _ => (ints, codes) = (false, false),
            }
            if !ints && !codes {
                break;
            }
        }
        let cells = if ints {
            Cells::Ints(cells.iter().map(|c| if let Cell::Int(i) = c { *i } else { 0 }).collect())
        } else if codes {
            Cells::Codes(
                cells.iter().map(|c| if let Cell::Str(i) = c { *i } else { ABSENT }).collect(),
            )
        } else {
            Cells::Mixed(cells)
        };
        let postings = match &cells {
            Cells::Codes(codes) if keep => Some(Postings::new(codes, dict.len())),
            _ => None,
        };
        let dict = dict.iter().map(|s| Value::str(s)).collect();
        ColumnData { cells, dict, postings }
    }

    /// Estimated heap bytes (the cache's weight).
    pub(crate) fn heap_bytes(&self) -> usize {
        let cells = match &self.cells {
            Cells::Ints(v) => v.len() * 8,
            Cells::Codes(v) => v.len() * 4,
            Cells::Mixed(v) => v.len() * std::mem::size_of::<Cell>(),
        };
        let dict: usize = self
            .dict
            .iter()
            .map(|v| if let Value::Str(s) = v { 2 * s.len() + 64 } else { 64 })
            .sum();
        cells + dict + self.postings.as_ref().map_or(0, Postings::heap_bytes)
    }

    fn cell(&self, row: usize) -> Cell {
        match &self.cells {
            Cells::Ints(v) => v.get(row).map_or(Cell::Absent, |&i| Cell::Int(i)),
            Cells::Codes(v) => match v.get(row) {
                Some(&i) if i != ABSENT => Cell::Str(i),
                _ => Cell::Absent,
            },
            Cells::Mixed(v) => v.get(row).copied().unwrap_or(Cell::Absent),
        }
    }
}

/// A query's view of one field's column of a block.
#[derive(Debug)]
pub(crate) struct JsonColumn {
    id: FieldId,
    data: Arc<ColumnData>,
}

impl JsonColumn {
    /// The field it holds.
    pub(crate) fn id(&self) -> FieldId {
        self.id
    }

    /// The dictionary's strings as values, in index order.
    pub(crate) fn dict(&self) -> &[Value] {
        &self.data.dict
    }

    pub(crate) fn cell(&self, row: usize) -> Cell {
        self.data.cell(row)
    }

    /// The cells in their compact form (the kernel's typed loops).
    pub(crate) fn cells(&self) -> &Cells {
        &self.data.cells
    }

    /// The rows by value, for string cells of a cached column.
    pub(crate) fn postings(&self) -> Option<&Postings> {
        self.data.postings.as_ref()
    }

    /// Row `row`'s value as JSON discovery would find it: `None` when the row lacks it.
    pub(crate) fn value(&self, row: usize) -> Option<Value> {
        Some(match self.data.cell(row) {
            Cell::Absent => return None,
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::Int(i) => Value::Int(i),
            Cell::Float(f) => Value::Float(f),
            Cell::Str(i) => self.data.dict.get(i as usize).cloned().unwrap_or(Value::Null),
        })
    }
}

/// Consecutive rows of one stream in a batch.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The stream, as an index into the query's stream names.
    pub(crate) stream: u32,
    /// Row indices in the batch's columns.
    pub(crate) rows: Range<usize>,
}

/// A worker's reusable decode buffers.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    block: DecodedBlock,
    /// The unit's block from the cache, when it came from there (then `block` is stale).
    shared: Option<Arc<DecodedBlock>>,
    json: Vec<JsonColumn>,
}

impl Decoder {
    /// The block the last decode filled.
    fn current(&self) -> &DecodedBlock {
        self.shared.as_deref().unwrap_or(&self.block)
    }
}

/// The decoded rows of one unit that fall in the query's range, as columns: runs of rows of
/// one stream each. Row indices are the columns' (a unit may hold rows of streams the query
/// does not read, which no run covers).
pub(crate) struct Batch<'d> {
    block: &'d DecodedBlock,
    runs: Vec<Run>,
    group: u32,
    messages: bool,
    /// The query's JSON fields from columns (`None`: discover them in the messages).
    json: Option<&'d [JsonColumn]>,
}

impl<'d> Batch<'d> {
    /// Rows in the batch.
    pub(crate) fn len(&self) -> usize {
        self.runs.iter().map(|r| r.rows.len()).sum()
    }

    /// Whether it holds every row of its block (no range or stream left any out).
    pub(crate) fn is_whole(&self) -> bool {
        self.len() == self.block.timestamps.len()
    }

    /// The runs of rows, one stream each.
    pub(crate) fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// A run's timestamps, ascending.
    pub(crate) fn timestamps(&self, run: &Run) -> &'d [i64] {
        &self.block.timestamps[run.rows.clone()]
    }

    pub(crate) fn timestamp(&self, row: usize) -> i64 {
        self.block.timestamps[row]
    }

    /// Only when the plan reads ingestion times.
    pub(crate) fn ingestion_time(&self, row: usize) -> i64 {
        self.block.ingestion_times[row]
    }

    /// Whether messages were decoded (else [`Batch::message`] is not to be called).
    pub(crate) fn has_messages(&self) -> bool {
        self.messages
    }

    /// Whether a screened decode left row `row`'s message out: no message of its template
    /// can pass the scan's first filter.
    pub(crate) fn is_skipped(&self, row: usize) -> bool {
        self.block.is_skipped(row)
    }

    /// Only when [`Batch::has_messages`] and not [`Batch::is_skipped`].
    pub(crate) fn message(&self, row: usize) -> &'d str {
        self.block.message(row)
    }

    /// Row `row`'s JSON fields from columns, or `None` when they are to be discovered in
    /// the message.
    pub(crate) fn json_fields(
        &self,
        row: usize,
    ) -> Option<impl Iterator<Item = (FieldId, Value)> + 'd> {
        self.json.map(|cols| cols.iter().filter_map(move |c| Some((c.id, c.value(row)?))))
    }

    pub(crate) fn group(&self) -> u32 {
        self.group
    }

    /// The query's JSON fields as columns, when this batch reads them from columns.
    pub(crate) fn json_columns(&self) -> Option<&'d [JsonColumn]> {
        self.json
    }

    /// Each row's message template; empty unless the plan reads `templates`.
    pub(crate) fn templates(&self) -> &'d logsight_storage::Templates {
        &self.block.templates
    }
}

fn storage_error(e: StorageError) -> EngineError {
    match e {
        StorageError::GroupNotFound(g) => EngineError::GroupNotFound(g),
        other => EngineError::Storage(Box::new(other)),
    }
}

impl DataSource {
    /// Queries over `store`, pruned by the full-text index where segments have one, with
    /// no cache of decoded blocks (see [`DataSource::with_cache`]).
    pub fn new(store: Arc<Store>) -> DataSource {
        let index = Some(Arc::new(TextIndex::new(store.clone())));
        DataSource { store, index, cache: BlockCache::off(), opened: Arc::default() }
    }

    /// Queries over `store` that scan every block (the index's differential tests).
    pub fn without_index(store: Arc<Store>) -> DataSource {
        DataSource { store, index: None, cache: BlockCache::off(), opened: Arc::default() }
    }

    /// Keeps decoded timestamps and JSON columns in `cache` for the next queries (a server's
    /// or a REPL's source; a one-shot query has no next query).
    pub fn with_cache(mut self, cache: BlockCache) -> DataSource {
        self.cache = cache;
        self
    }

    /// The cache of decoded blocks (off unless [`DataSource::with_cache`]).
    pub fn cache(&self) -> &BlockCache {
        &self.cache
    }

    /// Drops the units of sealed blocks that the index says cannot hold a message meeting
    /// `req`. Buffered events and segments without a usable artifact are kept.
    pub(crate) fn prune(&self, set: &mut ScanSet, req: &Requirement) -> Pruned {
        let mut pruned = Pruned::default();
        let Some(index) = &self.index else { return pruned };
        if req.is_empty() {
            return pruned;
        }
        let mut answers: std::collections::HashMap<u64, Option<logsight_index::Candidates>> =
            std::collections::HashMap::new();
        set.units.retain(|unit| {
            let Some((segment, block)) = unit.inner.location() else { return true };
            let answer = answers.entry(segment).or_insert_with(|| {
                // Merged away since the snapshot: its artifact went with it; scan.
                let blocks = self.store.segment(segment)?.blocks().len();
                match index.lookup(segment, blocks, req) {
                    Lookup::Candidates(c) => Some(c),
                    Lookup::Unindexed => {
                        pruned.unindexed += 1;
                        None
                    }
                    Lookup::Corrupt(_) => {
                        pruned.damaged += 1;
                        None
                    }
                }
            });
            let keep = answer.as_ref().is_none_or(|c| c.contains(block));
            if !keep {
                pruned.skip(unit);
            }
            keep
        });
        pruned
    }

    /// How many of `group`'s events in `range` have each JSON field (GetLogGroupFields):
    /// a sealed block wholly inside the range answers from its JSON field columns'
    /// directory (no decoding); other units (blocks the range cuts, blocks without columns,
    /// buffered events) have their in-range messages parsed.
    /// Runs on the caller's thread: [`crate::Engine::field_counts`] runs it on the pool.
    pub(crate) fn field_counts(
        &self,
        group: &str,
        range: TimeRange,
    ) -> Result<FieldCounts, EngineError> {
        let mut set = self.plan(&[group.to_string()], None, range)?;
        self.attach_fields(&mut set, &[]);
        let inside = |u: &Unit| {
            range.start.is_none_or(|s| u.inner.min_ts >= s)
                && range.end.is_none_or(|e| u.inner.max_ts < e)
        };
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut events = 0u64;
        let mut decoder = Decoder::default();
        let mut names: Vec<String> = Vec::new();
        for unit in &set.units {
            let meta = unit
                .fields
                .as_ref()
                .filter(|_| inside(unit))
                .and_then(|seg| unit.inner.location().and_then(|(_, i)| seg.columns.block(i)));
            if let Some(block) = meta {
                events += block.rows() as u64;
                for (name, m) in block.fields() {
                    *counts.entry(name.to_string()).or_default() += u64::from(m.present);
                }
                continue;
            }
            let batch =
                unit.decode(&mut decoder, Columns { messages: true, ..Columns::default() })?;
            for run in batch.runs() {
                for r in run.rows.clone() {
                    events += 1;
                    let Some(object) = logsight_columns::parse_object(batch.message(r)) else {
                        continue;
                    };
                    // A name can occur twice in one event (`"a.b"` beside `"a": {"b"}`):
                    // an event counts once per name, as the columns' `present` does.
                    names.clear();
                    logsight_columns::flatten(&object, |name, _| names.push(name.to_string()));
                    names.sort_unstable();
                    names.dedup();
                    for name in names.drain(..) {
                        *counts.entry(name).or_default() += 1;
                    }
                }
            }
        }
        let mut fields: Vec<FieldCount> =
            counts.into_iter().map(|(name, events)| FieldCount { name, events }).collect();
        fields.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.name.cmp(&b.name)));
        Ok(FieldCounts { events, fields })
    }

    /// The names of a group's streams, in name order.
    pub(crate) fn stream_names(&self, group: &str) -> Result<Vec<String>, EngineError> {
        let streams = self.store.streams(group).map_err(storage_error)?;
        Ok(streams.into_iter().map(|s| s.name).collect())
    }

    /// Every log group's name.
    pub(crate) fn group_names(&self) -> Vec<String> {
        self.store.groups().into_iter().map(|g| g.name).collect()
    }

    /// Fails with [`EngineError::GroupNotFound`] unless the group exists.
    pub(crate) fn check_group(&self, group: &str) -> Result<(), EngineError> {
        self.store.group(group).map(|_| ()).map_err(storage_error)
    }

    /// Plans the scan of `groups` over `range`, pruning blocks by time and, when `streams`
    /// is given, by stream.
    pub(crate) fn plan(
        &self,
        groups: &[String],
        streams: Option<&[String]>,
        range: TimeRange,
    ) -> Result<ScanSet, EngineError> {
        let mut set = ScanSet::default();
        // One snapshot for every group: the query sees one consistent state.
        let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
        let snapshot = self.store.snapshot(&refs).map_err(storage_error)?;
        for (gi, group) in groups.iter().enumerate() {
            set.names.groups.push(Arc::from(group.as_str()));
            let plan = snapshot.plan_scan(group, streams, range).map_err(storage_error)?;
            set.blocks_total = plan.blocks_total;
            let streams_base = set.names.streams.len() as u32;
            set.names.streams.extend(plan.streams.iter().cloned());
            set.stream_ids.extend(plan.stream_ids.iter().copied());
            for unit in plan.units {
                set.units.push(Unit {
                    inner: unit,
                    range: plan.range,
                    group: gi as u32,
                    streams_base,
                    fields: None,
                    cache: self.cache.clone(),
                });
            }
        }
        Ok(set)
    }

    /// Gives each sealed unit its segment's JSON field columns, where built (each
    /// segment's artifact is opened once; a damaged one is dropped for rebuild and its units
    /// read messages, as are those of an outdated one), then drops the units whose columns
    /// show that no row meets `prunes` (numbers by min/max, strings by the blocks' value
    /// sets). Returns what was dropped.
    pub(crate) fn attach_fields(&self, set: &mut ScanSet, prunes: &[FieldPrune]) -> Pruned {
        let kind = logsight_columns::kind();
        let mut open: HashMap<u64, Option<Arc<SegmentFields>>> = HashMap::new();
        let mut opened = self.opened.segments.lock();
        // Forget artifacts dropped or replaced since, and segments merged away or deleted:
        // their old files are not kept mapped. (A replacement of the very same length is
        // derived from the same segment, so reading the old one gives the same answers.)
        if !opened.is_empty() {
            let current = self.store.artifact_lengths(&kind);
            opened.retain(|id, seg| current.get(id) == Some(&(seg.columns.byte_len() as u64)));
        }
        for unit in &mut set.units {
            let Some((segment, _)) = unit.inner.location() else { continue };
            unit.fields = open
                .entry(segment)
                .or_insert_with(|| {
                    if let Some(seg) = opened.get(&segment) {
                        return Some(seg.clone());
                    }
                    let bytes = match self.store.artifact(segment, &kind) {
                        Ok(Some(b)) => b,
                        Ok(None) => return None,
                        Err(e) => {
                            tracing::warn!(segment, error = %e, "JSON field columns unreadable");
                            return None;
                        }
                    };
                    match SegmentColumns::open(bytes) {
                        Ok(columns) => {
                            let seg = Arc::new(SegmentFields {
                                columns,
                                segment,
                                store: self.store.clone(),
                                opened: Arc::downgrade(&self.opened),
                            });
                            opened.insert(segment, seg.clone());
                            Some(seg)
                        }
                        Err(e @ ColumnsError::Outdated(_)) => {
                            drop_outdated(&self.store, segment, &e);
                            None
                        }
                        Err(e) => {
                            drop_damaged(&self.store, segment, &e);
                            None
                        }
                    }
                })
                .clone();
        }
        drop(opened);
        let mut pruned = Pruned::default();
        if prunes.is_empty() {
            return pruned;
        }
        set.units.retain(|unit| {
            let Some(seg) = &unit.fields else { return true };
            let Some(block) = unit.inner.location().and_then(|(_, i)| seg.columns.block(i)) else {
                return true;
            };
            let keep = prunes
                .iter()
                .all(|p| p.test.may_match(block.field(&p.field).map(|m| m as &dyn FieldStats)));
            if !keep {
                pruned.skip(unit);
            }
            keep
        });
        pruned
    }
}

impl FieldStats for FieldMeta {
    fn numeric(&self) -> Option<(f64, f64)> {
        self.numeric
    }

    fn numeric_text(&self) -> bool {
        self.numeric_text
    }

    fn has_other(&self) -> bool {
        self.has_other
    }

    fn may_hold_text(&self, s: &str) -> bool {
        // No value set: too many distinct strings to summarise; any may be there.
        self.has_text && self.values.as_ref().is_none_or(|v| v.may_contain(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logsight_model::{LogEvent, LogGroupName, LogStreamName};
    use logsight_storage::StoreOptions;

    fn opened(source: &DataSource) -> Vec<u64> {
        let mut ids: Vec<u64> = source.opened.segments.lock().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    fn attach(source: &DataSource) {
        let mut set = source.plan(&["g".to_string()], None, TimeRange::default()).unwrap();
        source.attach_fields(&mut set, &[]);
    }

    #[test]
    fn opened_columns_follow_the_live_segments() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions { sync: false, background: false, ..Default::default() };
        let store = Arc::new(Store::open(dir.path(), opts).unwrap());
        store.create_group(&LogGroupName::new("g").unwrap()).unwrap();
        let s = LogStreamName::new("s").unwrap();
        store.create_stream(&LogGroupName::new("g").unwrap(), &s).unwrap();
        for i in 0..2 {
            let ev =
                LogEvent::new(1000 + i, 1000 + i, format!(r#"{{"n": {i}, "s": "v{i}"}}"#)).unwrap();
            store.append("g", "s", &[ev]).unwrap();
            store.flush().unwrap();
        }
        let deriver = logsight_columns::ColumnsDeriver::default();
        store.derive_missing(&deriver).unwrap();
        let before: Vec<u64> = store.segments().iter().map(|s| s.id).collect();
        assert_eq!(before.len(), 2);
        let source = DataSource::new(store.clone());
        attach(&source);
        assert_eq!(opened(&source), before, "opened once, kept for the next query");
        store.compact_all(|_| ()).unwrap();
        store.derive_missing(&deriver).unwrap();
        let after: Vec<u64> = store.segments().iter().map(|s| s.id).collect();
        assert!(after.iter().all(|id| !before.contains(id)), "{before:?} {after:?}");
        attach(&source);
        assert_eq!(opened(&source), after, "merged-away segments released");
        let kind = logsight_columns::kind();
        store.drop_artifacts(&kind, None).unwrap();
        attach(&source);
        assert!(opened(&source).is_empty(), "dropped artifacts released");
        let other =
            logsight_columns::ColumnsDeriver::with_policy(logsight_columns::ValueSetPolicy::NONE);
        store.derive_missing(&other).unwrap();
        attach(&source);
        let len = |s: &DataSource| s.opened.segments.lock()[&after[0]].columns.byte_len() as u64;
        assert_eq!(Some(&len(&source)), store.artifact_lengths(&kind).get(&after[0]));
        let without_sets = len(&source);
        // Replaced by one of another length behind the source's back: opened again.
        store.drop_artifacts(&kind, None).unwrap();
        store.derive_missing(&deriver).unwrap();
        attach(&source);
        assert_ne!(len(&source), without_sets, "the test needs lengths that differ");
        assert_eq!(Some(&len(&source)), store.artifact_lengths(&kind).get(&after[0]));
    }
}
