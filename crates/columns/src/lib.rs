//! JSON field columns: the fields of JSON messages (flattened as CloudWatch does, reference
//! §1.6) stored as typed columns per block, a derived artifact of each segment.
//!
//! [`ColumnsDeriver`] builds the artifact (kind [`KIND`]) from a sealed segment; the store's
//! one builder loop (`Store::derive`) runs it after seals and compactions, never on the
//! ingest path. [`SegmentColumns`] reads it: a block's fields with their statistics (rows
//! holding the field, numeric min/max, whether strings or other types occur) and each
//! field's [`Column`] of typed cells (numbers as numbers, strings through a per-column
//! dictionary, a tag per row for absent and other-typed values). Every blob is checksummed,
//! so a damaged artifact is detected and the reader falls back to the messages.
//!
//! [`flatten`] is the one copy of the flattening rules; the engine's JSON discovery uses it
//! too, so columns and messages always yield the same fields.

mod error;
mod flatten;
mod format;
mod values;

use std::collections::HashMap;

use logsight_storage::segment::Segment;
use logsight_storage::{ArtifactKind, Columns, DecodedBlock, DeriveError, Deriver};

pub use error::ColumnsError;
pub use flatten::{MAX_JSON_FIELDS, flatten, parse_object};
pub use format::{BlockFields, Cell, Column, FieldMeta, SegmentColumns};
pub use values::{ValueSet, ValueSetPolicy, may_read_as_number};

/// The artifact kind: `<segment>.columns`.
pub const KIND: &str = "columns";

/// The artifact kind as the store names it.
pub fn kind() -> ArtifactKind {
    // A constant that satisfies the kind rules; checked by a test.
    ArtifactKind::new(KIND).unwrap_or_else(|_| unreachable!("`columns` is a valid kind"))
}

/// Builds a segment's JSON field columns.
#[derive(Debug)]
pub struct ColumnsDeriver {
    kind: ArtifactKind,
    policy: ValueSetPolicy,
}

impl Default for ColumnsDeriver {
    fn default() -> Self {
        ColumnsDeriver::with_policy(ValueSetPolicy::default())
    }
}

impl ColumnsDeriver {
    /// A deriver summarising string values under `policy` (for measurements).
    pub fn with_policy(policy: ValueSetPolicy) -> ColumnsDeriver {
        ColumnsDeriver { kind: kind(), policy }
    }
}

impl Deriver for ColumnsDeriver {
    fn kind(&self) -> &ArtifactKind {
        &self.kind
    }

    fn build(&self, segment: &Segment) -> Result<Vec<u8>, DeriveError> {
        Ok(build(segment, self.policy)?)
    }
}

const MESSAGES: Columns = Columns { timestamps: false, ingestion_times: false, messages: true };

/// The artifact's bytes for every block of `segment`, string values summarised under
/// `policy`.
pub fn build(segment: &Segment, policy: ValueSetPolicy) -> Result<Vec<u8>, ColumnsError> {
    let mut writer = format::Writer::new(policy);
    let mut block = DecodedBlock::default();
    for i in 0..segment.blocks().len() {
        segment.decode_columns(i, MESSAGES, &mut block)?;
        let messages = (0..block.len()).map(|r| block.message(r));
        writer.block(block.len(), columns_of(messages))?;
    }
    Ok(writer.finish())
}

/// One block's columns from its messages, in row order.
fn columns_of<'m>(
    messages: impl Iterator<Item = &'m str>,
) -> HashMap<String, format::ColumnBuilder> {
    let mut columns: HashMap<String, format::ColumnBuilder> = HashMap::new();
    for (row, message) in messages.enumerate() {
        let Some(object) = parse_object(message) else { continue };
        flatten(&object, |name, leaf| match columns.get_mut(name) {
            Some(c) => c.set(row, leaf),
            None => columns.entry(name.to_owned()).or_default().set(row, leaf),
        });
    }
    columns
}

#[cfg(test)]
mod tests;
