//! The crate's one error type. Each variant is one CloudWatch exception of the query
//! operations; the front ends map them to their wire errors.

use logsight_engine::EngineError;
use logsight_storage::StorageError;

/// Why a query operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The query does not compile (`MalformedQueryException`): the message and the character
    /// offsets `start..end` of the offending text.
    #[error("{message}")]
    Malformed {
        /// What is wrong, as the engine's checks say it.
        message: String,
        /// First character of the offending text.
        start: usize,
        /// One past its last character.
        end: usize,
    },
    /// A log group, query or query definition does not exist (`ResourceNotFoundException`).
    #[error("{0}")]
    NotFound(String),
    /// A request parameter broke a rule (`InvalidParameterException`).
    #[error("{0}")]
    InvalidParameter(String),
    /// A limit was reached (`LimitExceededException`): saved queries only; queries are
    /// queued, never refused.
    #[error("{0}")]
    LimitExceeded(String),
    /// Reading stored data or the saved queries' file failed.
    #[error("{0}")]
    Storage(String),
}

/// `Result` with [`QueryError`].
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

impl From<EngineError> for QueryError {
    fn from(e: EngineError) -> Self {
        if let Some(q) = e.query_error() {
            // The bare message: clients render it under a caret, as `ParseError::render`.
            return QueryError::Malformed {
                message: q.message.clone(),
                start: q.start,
                end: q.end,
            };
        }
        match e {
            EngineError::GroupNotFound(g) => {
                QueryError::NotFound(format!("The specified log group does not exist: {g:?}"))
            }
            EngineError::InvalidArgument(m) => QueryError::InvalidParameter(m),
            other => QueryError::Storage(other.to_string()),
        }
    }
}

impl From<StorageError> for QueryError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::GroupNotFound(g) => {
                QueryError::NotFound(format!("The specified log group does not exist: {g:?}"))
            }
            StorageError::StreamNotFound { group, stream } => QueryError::NotFound(format!(
                "The specified log stream does not exist: {stream:?} in {group:?}"
            )),
            other => QueryError::Storage(other.to_string()),
        }
    }
}
