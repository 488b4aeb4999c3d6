use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the storage engine.
///
/// Expected outcomes a caller can act on (a missing group, a name already taken, a bad
/// position token) are kept apart from damage ([`StorageError::Corruption`]) and from failures
/// of the machine ([`StorageError::Io`], [`StorageError::Poisoned`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The log group does not exist.
    #[error("log group {0:?} does not exist")]
    GroupNotFound(String),
    /// The log stream does not exist in the group.
    #[error("log stream {stream:?} does not exist in log group {group:?}")]
    StreamNotFound {
        /// The group searched.
        group: String,
        /// The missing stream.
        stream: String,
    },
    /// A log group of that name exists already.
    #[error("log group {0:?} already exists")]
    GroupExists(String),
    /// A log stream of that name exists already in the group.
    #[error("log stream {stream:?} already exists in log group {group:?}")]
    StreamExists {
        /// The group.
        group: String,
        /// The stream name taken.
        stream: String,
    },
    /// The segment is no longer live (a compaction merged it, or retention deleted it).
    #[error("segment {0} is no longer live")]
    SegmentGone(u64),
    /// A caller-supplied argument was not valid (for example a position token).
    #[error("{0}")]
    InvalidArgument(String),
    /// Stored bytes failed a check. The damaged part is never served as data.
    #[error("corruption in {}, at offset {offset}: {reason}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged part in that file.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// An operating-system I/O error.
    #[error("{context}: {source}")]
    Io {
        /// What the store was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An earlier write or fsync of the WAL failed (a full disk), so the store refuses writes
    /// until it has re-opened the log, which it retries on its own: retrying later helps.
    #[error("writes are paused until the store can write its log again: {0}")]
    Poisoned(String),
    /// Committed batches after this LSN are no longer kept (no consumer held them).
    #[error(
        "committed batches after LSN {requested} are no longer kept; the oldest kept follow LSN {oldest}"
    )]
    LsnUnavailable {
        /// The LSN asked to read after.
        requested: u64,
        /// Batches after this LSN are still kept.
        oldest: u64,
    },
    /// The data directory is in use by another process.
    #[error("data directory {} is locked by another logsight process", .0.display())]
    Locked(PathBuf),
    /// The catalog is missing while segments or log records are there: opening the directory
    /// as a new, empty store would lose them.
    #[error(
        "data directory {} has no catalog.json but holds data ({}); refusing to start empty \
         over it. Restore catalog.json, or rebuild it from the segments with \
         `logsight repair --data-dir {}`",
        dir.display(), list_files(files), dir.display()
    )]
    CatalogMissing {
        /// The data directory.
        dir: PathBuf,
        /// The segment and log files found.
        files: Vec<PathBuf>,
    },
}

/// Names up to five files, then how many more there are.
fn list_files(files: &[PathBuf]) -> String {
    let mut out: Vec<String> = files.iter().take(5).map(|f| f.display().to_string()).collect();
    if files.len() > 5 {
        out.push(format!("and {} more", files.len() - 5));
    }
    out.join(", ")
}

impl StorageError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        StorageError::Io { context: context.into(), source }
    }

    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        StorageError::Corruption { file: file.into(), offset, reason: reason.into() }
    }

    /// Whether this is a file that does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// Result with [`StorageError`].
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Adds a description of what was being done to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| StorageError::io(what(), e))
    }
}
