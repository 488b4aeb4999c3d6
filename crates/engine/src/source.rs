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

use crate::error::EngineError;
use crate::plan::{Columns, FieldPrune, FieldStats};
use crate::row::{FieldId, Names};
use crate::value::Value;

/// Where queries read events: a store, and the full-text index of its segments.
#[derive(Clone)]
pub struct DataSource {
    store: Arc<Store>,
    index: Option<Arc<TextIndex>>,
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
}

/// A segment's JSON field columns, opened (directory checked) once per query.
struct SegmentFields {
    columns: SegmentColumns,
    segment: u64,
    store: Arc<Store>,
}

impl std::fmt::Debug for SegmentFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SegmentFields({:016x})", self.segment)
    }
}

impl SegmentFields {
    fn drop_damaged(&self, error: &dyn std::fmt::Display) {
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
        if columns.templates {
            self.inner.decode_templates(cols, &mut decoder.block).map_err(storage_error)?;
        } else {
            self.inner.decode_columns(cols, &mut decoder.block).map_err(storage_error)?;
        }
        let runs = self
            .inner
            .rows_in(&decoder.block, self.range)
            .into_iter()
            .map(|r| Run { stream: self.streams_base + r.index as u32, rows: r.rows })
            .collect();
        Ok(Batch { block: &decoder.block, runs, group: self.group, messages, json: None })
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
        let Some(block) = self.inner.location().and_then(|(_, i)| seg.columns.block(i)) else {
            return self.decode(decoder, columns);
        };
        decoder.json.clear();
        for (id, name) in fields {
            let Some(meta) = block.field(name) else { continue };
            if !meta.stored {
                // Statistics only (near-unique strings): this unit parses its messages.
                return self.decode(decoder, columns);
            }
            match seg.columns.read(block, meta) {
                Ok(column) => decoder.json.push(JsonColumn::new(*id, column)),
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
        self.inner.decode_columns(cols, &mut decoder.block).map_err(storage_error)?;
        if decoder.block.len() != block.rows() {
            seg.drop_damaged(&"row count differs from the block's");
            return self.decode(decoder, columns);
        }
        let runs = self
            .inner
            .rows_in(&decoder.block, self.range)
            .into_iter()
            .map(|r| Run { stream: self.streams_base + r.index as u32, rows: r.rows })
            .collect();
        Ok(Batch {
            block: &decoder.block,
            runs,
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

/// One field's column of a block, with its dictionary as values (built once per block).
#[derive(Debug)]
pub(crate) struct JsonColumn {
    id: FieldId,
    column: Column,
    dict: Vec<Value>,
}

impl JsonColumn {
    fn new(id: FieldId, column: Column) -> JsonColumn {
        let dict = column.dict().iter().map(|s| Value::str(s)).collect();
        JsonColumn { id, column, dict }
    }

    /// The field it holds.
    pub(crate) fn id(&self) -> FieldId {
        self.id
    }

    /// The dictionary's strings as values, in index order.
    pub(crate) fn dict(&self) -> &[Value] {
        &self.dict
    }

    pub(crate) fn cell(&self, row: usize) -> Cell {
        self.column.cell(row)
    }

    /// Row `row`'s value as JSON discovery would find it: `None` when the row lacks it.
    pub(crate) fn value(&self, row: usize) -> Option<Value> {
        Some(match self.column.cell(row) {
            Cell::Absent => return None,
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::Int(i) => Value::Int(i),
            Cell::Float(f) => Value::Float(f),
            Cell::Str(i) => self.dict.get(i as usize).cloned().unwrap_or(Value::Null),
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
    json: Vec<JsonColumn>,
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

    /// Only when [`Batch::has_messages`].
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
    /// Queries over `store`, pruned by the full-text index where segments have one.
    pub fn new(store: Arc<Store>) -> DataSource {
        let index = Some(Arc::new(TextIndex::new(store.clone())));
        DataSource { store, index }
    }

    /// Queries over `store` that scan every block (the index's differential tests).
    pub fn without_index(store: Arc<Store>) -> DataSource {
        DataSource { store, index: None }
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
                pruned.units += 1;
                pruned.records += unit.events();
                pruned.bytes += unit.bytes();
            }
            keep
        });
        pruned
    }

    /// How many of `group`'s events in `range` have each JSON field (GetLogGroupFields):
    /// a sealed block wholly inside the range answers from its JSON field columns'
    /// directory (no decoding); other units (blocks the range cuts, blocks without columns,
    /// buffered events) have their in-range messages parsed.
    pub fn field_counts(&self, group: &str, range: TimeRange) -> Result<FieldCounts, EngineError> {
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
        for unit in &mut set.units {
            let Some((segment, _)) = unit.inner.location() else { continue };
            unit.fields = open
                .entry(segment)
                .or_insert_with(|| {
                    let bytes = match self.store.artifact(segment, &kind) {
                        Ok(Some(b)) => b,
                        Ok(None) => return None,
                        Err(e) => {
                            tracing::warn!(segment, error = %e, "JSON field columns unreadable");
                            return None;
                        }
                    };
                    match SegmentColumns::open(bytes) {
                        Ok(columns) => Some(Arc::new(SegmentFields {
                            columns,
                            segment,
                            store: self.store.clone(),
                        })),
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
                pruned.units += 1;
                pruned.records += unit.events();
                pruned.bytes += unit.bytes();
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
