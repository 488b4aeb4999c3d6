//! The engine's one error type.

use std::time::Duration;

use logsight_query_lang::insights::ParseError;

/// Why a query failed. Each variant is one CloudWatch outcome: a malformed query
/// (`MalformedQueryException`, with character offsets), a missing group
/// (`ResourceNotFoundException`), a bad argument, or a query that ran and was stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The query does not parse.
    #[error("malformed query: {0}")]
    Malformed(ParseError),
    /// The query parses but means nothing valid (a third `stats`, `sort` after `dedup`, ...).
    #[error("invalid query: {0}")]
    Invalid(ParseError),
    /// The query uses a command or function this engine does not run yet.
    #[error("{0}")]
    NotSupported(ParseError),
    /// A log group of the request does not exist.
    #[error("ResourceNotFoundException: log group {0:?} does not exist")]
    GroupNotFound(String),
    /// A request argument is out of range (limit, groups, time range).
    #[error("InvalidParameterException: {0}")]
    InvalidArgument(String),
    /// The query was cancelled through its token.
    #[error("query cancelled")]
    Cancelled,
    /// The query ran longer than its timeout.
    #[error("query timed out after {0:?}")]
    Timeout(Duration),
    /// The query's working memory (rows held, groups, distinct sets) passed its budget.
    #[error(
        "query exceeded its memory budget of {budget} bytes (estimated); narrow the time range, \
         filter earlier, or use fewer groups or a smaller limit"
    )]
    MemoryBudgetExceeded {
        /// The budget in bytes.
        budget: usize,
    },
    /// Reading stored data failed (corruption is reported, never served).
    #[error("storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A worker of the engine's pool stopped without delivering its share (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// The error with character offsets into the query, for errors that have them.
    pub fn query_error(&self) -> Option<&ParseError> {
        match self {
            EngineError::Malformed(e) | EngineError::Invalid(e) | EngineError::NotSupported(e) => {
                Some(e)
            }
            _ => None,
        }
    }

    /// Renders the error for people: with a caret under the offending text when it has one.
    pub fn render(&self, query: &str) -> String {
        match self.query_error() {
            Some(e) => e.render(query),
            None => format!("error: {self}\n"),
        }
    }
}

/// `Result` with [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
