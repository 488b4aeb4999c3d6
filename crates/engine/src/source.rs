//! The one place the engine touches storage.
//!
//! The executor sees only this module's types: a [`DataSource`] that lists groups and plans a
//! scan into [`Unit`]s, a per-worker [`Decoder`], and the columnar [`Batch`] a unit decodes
//! into (timestamps, ingestion times, messages, a per-row stream index into the query's names
//! table, the group). Today's storage holds one stream per block, so the stream column is
//! constant per batch; storage v2 (many streams per block, projected decoding) changes only
//! this file.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use logsight_model::TimeRange;
use logsight_storage::{DecodedBlock, ScanUnit, StorageError, Store};

use crate::error::EngineError;
use crate::plan::Columns;
use crate::row::Names;

/// Where queries read events: a store.
#[derive(Clone)]
pub struct DataSource {
    store: Arc<Store>,
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

/// One independently decodable piece of the scan.
#[derive(Clone, Debug)]
pub(crate) struct Unit {
    inner: ScanUnit,
    range: TimeRange,
    group: u32,
    stream: u32,
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

    /// Decodes the unit into `decoder` and returns the rows inside the query's range.
    /// `columns` says which columns the plan reads; today's blocks decode whole.
    pub(crate) fn decode<'d>(
        &self,
        decoder: &'d mut Decoder,
        _columns: Columns,
    ) -> Result<Batch<'d>, EngineError> {
        self.inner.decode(&mut decoder.block).map_err(storage_error)?;
        let rows = ScanUnit::rows_in(&decoder.block, self.range);
        Ok(Batch { block: &decoder.block, rows, group: self.group, stream: self.stream })
    }
}

/// A worker's reusable decode buffers.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    block: DecodedBlock,
}

/// The decoded rows of one unit that fall in the query's range, as columns.
pub(crate) struct Batch<'d> {
    block: &'d DecodedBlock,
    rows: Range<usize>,
    group: u32,
    stream: u32,
}

impl<'d> Batch<'d> {
    /// Rows in the batch.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Timestamps, ascending within a stream.
    pub(crate) fn timestamps(&self) -> &'d [i64] {
        &self.block.timestamps[self.rows.clone()]
    }

    pub(crate) fn ingestion_time(&self, i: usize) -> i64 {
        self.block.ingestion_times[self.rows.start + i]
    }

    pub(crate) fn message(&self, i: usize) -> &'d str {
        self.block.message(self.rows.start + i)
    }

    /// The row's stream, as an index into the query's stream names.
    pub(crate) fn stream(&self, _i: usize) -> u32 {
        self.stream
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
    /// Queries over `store`.
    pub fn new(store: Arc<Store>) -> DataSource {
        DataSource { store }
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
        let mut stream_ids: HashMap<Arc<str>, u32> = HashMap::new();
        for (gi, group) in groups.iter().enumerate() {
            set.names.groups.push(Arc::from(group.as_str()));
            // Streams named in the query but absent from this group select nothing here.
            let wanted: Option<Vec<String>> = streams.map(|names| {
                names
                    .iter()
                    .filter(|s| self.store.has_stream(group, s).unwrap_or(false))
                    .cloned()
                    .collect()
            });
            if wanted.as_ref().is_some_and(Vec::is_empty) {
                self.check_group(group)?;
                continue;
            }
            let plan =
                self.store.plan_scan(group, wanted.as_deref(), range).map_err(storage_error)?;
            set.blocks_total = plan.blocks_total;
            for unit in plan.units {
                let next = stream_ids.len() as u32;
                let stream = *stream_ids.entry(unit.stream.clone()).or_insert_with(|| {
                    set.names.streams.push(unit.stream.clone());
                    next
                });
                set.units.push(Unit { inner: unit, range: plan.range, group: gi as u32, stream });
            }
        }
        Ok(set)
    }
}
