//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong in the metric store.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A metric name, namespace, dimension or value breaks a rule; the message names it.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field, as CloudWatch names it.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A file failed its checksum or does not parse.
    #[error("corrupt metric data in {file} at offset {offset}: {message}")]
    Corruption {
        /// The file.
        file: PathBuf,
        /// Where.
        offset: u64,
        /// What.
        message: String,
    },
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A failed write left the store unusable until reopened.
    #[error("the metric store failed a write earlier and refuses writes until reopened")]
    Poisoned,
}

/// The crate's result type.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> MetricsError {
    let context = context.into();
    move |source| MetricsError::Io { context, source }
}

impl MetricsError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        MetricsError::Invalid { field, message: message.into() }
    }
}
