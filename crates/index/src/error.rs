//! The crate's error type.

/// Why an index could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The artifact's bytes fail their checksum or do not parse: never served, rebuilt.
    #[error("corrupt index artifact: {0}")]
    Corrupt(String),
    /// tantivy failed while building or opening an index.
    #[error("index: {0}")]
    Build(String),
    /// Reading the segment or the artifact failed.
    #[error(transparent)]
    Storage(#[from] logsight_storage::StorageError),
}

impl From<tantivy::TantivyError> for IndexError {
    fn from(e: tantivy::TantivyError) -> Self {
        IndexError::Build(e.to_string())
    }
}

impl From<std::io::Error> for IndexError {
    fn from(e: std::io::Error) -> Self {
        IndexError::Build(e.to_string())
    }
}
