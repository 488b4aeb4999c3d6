//! The crate's error type.

/// Why an index could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The artifact's bytes fail their checksum or do not parse: never served, rebuilt.
    #[error("corrupt index artifact: {0}")]
    Corrupt(String),
    /// The artifact was written by an earlier version of the index: dropped and rebuilt.
    #[error("index artifact of an earlier version")]
    Outdated,
    /// An index could not be built.
    #[error("index: {0}")]
    Build(String),
    /// Reading the segment or the artifact failed.
    #[error(transparent)]
    Storage(#[from] logsight_storage::StorageError),
}
