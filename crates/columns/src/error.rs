/// What can go wrong building or reading JSON field columns.
#[derive(Debug, thiserror::Error)]
pub enum ColumnsError {
    /// The artifact's bytes are damaged (a checksum, a bound or a tag is wrong).
    #[error("corrupt columns artifact: {0}")]
    Corrupt(String),
    /// The artifact was written by an earlier version of the format: valid, but not read by
    /// this one; dropped and rebuilt.
    #[error("columns artifact of format version {0}, an earlier one")]
    Outdated(u32),
    /// The block keeps only statistics for this field (too many distinct strings).
    #[error("column not stored: read the messages")]
    NotStored,
    /// zstd refused to compress a column.
    #[error("compressing a column: {0}")]
    Compress(std::io::Error),
    /// Reading the segment failed.
    #[error(transparent)]
    Storage(#[from] logsight_storage::StorageError),
}
