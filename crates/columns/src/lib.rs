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
//!
//! ## Value sets: what they cost
//!
//! Each block's directory entry of a string field carries a [`ValueSet`] of its strings, so
//! `f = "x"` and `f in [...]` skip blocks that lack every value without decompressing a
//! column. Measured with the compression test (`cargo test --test integration compression
//! -- --nocapture`): 32,000 generated JSON request logs (100 streams, compacted into blocks
//! of about 1 MiB of messages; fields with 3 to 11 values, paths and user ids with thousands,
//! a unique trace id per event), columns 245,809 bytes without value sets beside 688,631
//! segment bytes:
//!
//! | policy | bytes added | of the segment bytes | stored ratio with columns |
//! |---|---|---|---|
//! | none | 0 | 0 | 5.77x |
//! | exact sets up to 32 strings only | 516 | 0.1% | 5.77x |
//! | + Bloom 10 bits per string up to 1,024 | 9,634 | 1.4% | 5.71x |
//! | **+ Bloom 10 bits per string up to 8,192** | **70,898** | **10.3%** | **5.36x** |
//! | + Bloom 8 bits per string up to 8,192 | 56,820 | 8.3% | 5.44x |
//! | exact sets up to 64, Bloom 10 bits up to 8,192 | 70,898 | 10.3% | 5.36x |
//!
//! The server builds the bold row: exact sets cost nearly nothing and have no false
//! positives (a 64-bit hash collision aside); the Bloom filters cost 10 bits per distinct
//! string, nearly all of it for near-unique fields (trace and request ids), which are the
//! needles an equality filter is most often written for (`filter requestId = "..."`), and
//! the ones whose column is not stored, so without a filter every message of every block is
//! parsed. At 10 bits and 7 probes about 0.8% of the blocks lacking a value are kept anyway
//! (measured in `values.rs`); 8 bits would save two points of size for about 2% kept. The
//! cap (8,192 strings: more than a 1 MiB block holds of 128-byte messages) bounds a block's
//! filter at 10 KiB. On the fleet shape (the Loghub samples: text, no JSON) the columns are
//! 89 bytes with or without value sets: every stored ratio is unchanged (12.28x data only,
//! 12.03x with the index and columns).

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
