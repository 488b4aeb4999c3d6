//! The one place the engine touches storage.
//!
//! The executor sees only this module's types: a [`DataSource`] that lists groups and plans a
//! scan into [`Unit`]s, a per-worker [`Decoder`], and the columnar [`Batch`] a unit decodes
//! into (timestamps, ingestion times, messages, runs of rows of one stream each, indexed into
//! the query's names table, and the group). A sealed block holds many streams of its group,
//! sorted by stream then time; a unit decodes only the columns the plan reads. All of a
//! query's groups are planned on one storage snapshot, so the query sees one consistent state
//! whatever is appended, sealed or merged while it runs.

use std::ops::Range;
use std::sync::Arc;

use logsight_index::{Lookup, Requirement, TextIndex};
use logsight_model::TimeRange;
use logsight_storage::{Columns as StorageColumns, DecodedBlock, ScanUnit, StorageError, Store};

use crate::error::EngineError;
use crate::plan::Columns;
use crate::row::Names;

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
    /// Sealed blocks in the store before pruning, and units after.
    pub(crate) blocks_total: usize,
}

/// What the full-text index ruled out of a scan.
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

/// One independently decodable piece of the scan.
#[derive(Clone, Debug)]
pub(crate) struct Unit {
    inner: ScanUnit,
    range: TimeRange,
    group: u32,
    /// Where the plan's streams start in the query's names table (a row's stream index is
    /// this plus its index in the plan).
    streams_base: u32,
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
        // Timestamps always: the time range is cut on them.
        let cols = StorageColumns {
            timestamps: true,
            ingestion_times: columns.ingestion_times,
            messages: columns.messages,
        };
        self.inner.decode_columns(cols, &mut decoder.block).map_err(storage_error)?;
        let runs = self
            .inner
            .rows_in(&decoder.block, self.range)
            .into_iter()
            .map(|r| Run { stream: self.streams_base + r.index as u32, rows: r.rows })
            .collect();
        Ok(Batch { block: &decoder.block, runs, group: self.group })
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
}

/// The decoded rows of one unit that fall in the query's range, as columns: runs of rows of
/// one stream each. Row indices are the columns' (a unit may hold rows of streams the query
/// does not read, which no run covers).
pub(crate) struct Batch<'d> {
    block: &'d DecodedBlock,
    runs: Vec<Run>,
    group: u32,
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

    /// Only when the plan reads messages.
    pub(crate) fn message(&self, row: usize) -> &'d str {
        self.block.message(row)
    }

    pub(crate) fn group(&self) -> u32 {
        self.group
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
            for unit in plan.units {
                set.units.push(Unit {
                    inner: unit,
                    range: plan.range,
                    group: gi as u32,
                    streams_base,
                });
            }
        }
        Ok(set)
    }
}
