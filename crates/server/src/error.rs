//! The service's one error type and the one table that maps it to CloudWatch exception names
//! and gRPC codes.

use logsight_model::ModelError;
use logsight_storage::StorageError;

/// Everything a call can fail with. Each variant is one CloudWatch exception; the text says
/// what was wrong and with which value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A group or stream does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A group or stream of that name exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// A request parameter broke a rule.
    #[error("{0}")]
    InvalidParameter(String),
    /// A limit was reached; retrying later may help.
    #[error("{message}")]
    LimitExceeded {
        /// What limit.
        message: String,
        /// Suggested wait before retrying, in milliseconds.
        retry_after_ms: u64,
    },
    /// The server can not take the call now (overloaded, shutting down, storage refusing
    /// writes); retrying later may help.
    #[error("{message}")]
    Unavailable {
        /// Why.
        message: String,
        /// Suggested wait before retrying, in milliseconds.
        retry_after_ms: u64,
    },
    /// A fault of the server (a bug). Never the caller's mistake.
    #[error("{0}")]
    Internal(String),
    /// Stored data the call needs failed its checksums: it is not served, and retrying will
    /// not help until an operator restores it (`logsight verify` finds every damaged block).
    #[error("{0}")]
    DataCorruption(String),
    /// A live tail session reached its maximum duration; the client starts a new one to go on.
    #[error("{0}")]
    SessionTimeout(String),
    /// The caller is authenticated but its policy does not allow the action on the resource,
    /// or the action would break the audit group's append-only rule.
    #[error("{0}")]
    AccessDenied(String),
    /// The request names an access key id no principal has.
    #[error("{0}")]
    UnrecognizedClient(String),
    /// The request's signature does not match, or its timestamp is outside the skew window.
    #[error("{0}")]
    InvalidSignature(String),
    /// The request carries no credentials, and the server requires them.
    #[error("{0}")]
    MissingAuthentication(String),
    /// The request's signature is malformed (a missing part, an unsigned required header).
    #[error("{0}")]
    IncompleteSignature(String),
    /// The request names no operation, or one logsight does not have.
    #[error("{0}")]
    UnknownOperation(String),
    /// The request body is not the operation's JSON shape.
    #[error("{0}")]
    Serialization(String),
    /// A Logs Insights query does not compile: the message and the character offsets of the
    /// offending text.
    #[error("{message}")]
    MalformedQuery {
        /// What is wrong.
        message: String,
        /// First character of the offending text.
        start: usize,
        /// One past its last character.
        end: usize,
    },
}

/// The error table: each variant's CloudWatch exception name and gRPC code. This is the only
/// place the mapping is written down.
pub fn error_code(e: &ServiceError) -> (&'static str, tonic::Code) {
    match e {
        ServiceError::NotFound(_) => ("ResourceNotFoundException", tonic::Code::NotFound),
        ServiceError::AlreadyExists(_) => {
            ("ResourceAlreadyExistsException", tonic::Code::AlreadyExists)
        }
        ServiceError::InvalidParameter(_) => {
            ("InvalidParameterException", tonic::Code::InvalidArgument)
        }
        ServiceError::LimitExceeded { .. } => {
            ("LimitExceededException", tonic::Code::ResourceExhausted)
        }
        ServiceError::Unavailable { .. } => {
            ("ServiceUnavailableException", tonic::Code::Unavailable)
        }
        ServiceError::Internal(_) => ("InternalServerException", tonic::Code::Internal),
        ServiceError::DataCorruption(_) => ("DataCorruptionException", tonic::Code::DataLoss),
        ServiceError::SessionTimeout(_) => {
            ("SessionTimeoutException", tonic::Code::DeadlineExceeded)
        }
        ServiceError::AccessDenied(_) => ("AccessDeniedException", tonic::Code::PermissionDenied),
        ServiceError::UnrecognizedClient(_) => {
            ("UnrecognizedClientException", tonic::Code::Unauthenticated)
        }
        ServiceError::InvalidSignature(_) => {
            ("InvalidSignatureException", tonic::Code::Unauthenticated)
        }
        ServiceError::MissingAuthentication(_) => {
            ("MissingAuthenticationTokenException", tonic::Code::Unauthenticated)
        }
        ServiceError::IncompleteSignature(_) => {
            ("IncompleteSignatureException", tonic::Code::Unauthenticated)
        }
        ServiceError::UnknownOperation(_) => {
            ("UnknownOperationException", tonic::Code::Unimplemented)
        }
        ServiceError::Serialization(_) => ("SerializationException", tonic::Code::InvalidArgument),
        ServiceError::MalformedQuery { .. } => {
            ("MalformedQueryException", tonic::Code::InvalidArgument)
        }
    }
}

/// The HTTP status of each error on the CloudWatch JSON protocol: 400 for the caller's
/// mistakes (as CloudWatch, also for authentication and permission errors), 500 for the
/// server's faults, 503 when retrying later may help.
pub fn http_status(e: &ServiceError) -> u16 {
    match e {
        ServiceError::Internal(_) | ServiceError::DataCorruption(_) => 500,
        ServiceError::Unavailable { .. } => 503,
        ServiceError::NotFound(_)
        | ServiceError::AlreadyExists(_)
        | ServiceError::InvalidParameter(_)
        | ServiceError::LimitExceeded { .. }
        | ServiceError::SessionTimeout(_)
        | ServiceError::AccessDenied(_)
        | ServiceError::UnrecognizedClient(_)
        | ServiceError::InvalidSignature(_)
        | ServiceError::MissingAuthentication(_)
        | ServiceError::IncompleteSignature(_)
        | ServiceError::UnknownOperation(_)
        | ServiceError::Serialization(_)
        | ServiceError::MalformedQuery { .. } => 400,
    }
}

/// Most characters of a client's value quoted in an error message (as names are cut).
const SHOWN_CHARS: usize = 80;

/// Most characters of an error message sent to a client. Every value a message quotes is cut
/// already; this bounds the whole, so no answer exceeds what clients accept as metadata.
const MAX_MESSAGE_CHARS: usize = 1024;

/// A client's value cut for quoting in an error message: its first 80 characters, then `…`.
pub fn shown(value: &str) -> String {
    cut(value, SHOWN_CHARS)
}

fn cut(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &value[..i]),
        None => value.to_owned(),
    }
}

/// Metadata key carrying the retry hint of LIMIT_EXCEEDED and UNAVAILABLE answers.
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// Metadata keys carrying a MalformedQueryException's character offsets (start, end).
pub const QUERY_ERROR_START: &str = "query-error-start";
/// See [`QUERY_ERROR_START`].
pub const QUERY_ERROR_END: &str = "query-error-end";

impl ServiceError {
    /// Shorthand for [`ServiceError::InvalidParameter`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        ServiceError::InvalidParameter(msg.into())
    }

    /// The suggested wait before retrying, for errors where retrying helps.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            ServiceError::LimitExceeded { retry_after_ms, .. }
            | ServiceError::Unavailable { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }

    /// The status sent to the client: `"<ExceptionName>: <message>"` and the table's code.
    pub fn to_status(&self) -> tonic::Status {
        let (name, code) = error_code(self);
        let mut status =
            tonic::Status::new(code, cut(&format!("{name}: {self}"), MAX_MESSAGE_CHARS));
        if let Some(ms) = self.retry_after_ms()
            && let Ok(v) = ms.to_string().parse()
        {
            status.metadata_mut().insert(RETRY_AFTER_MS, v);
        }
        if let ServiceError::MalformedQuery { start, end, .. } = self {
            for (key, at) in [(QUERY_ERROR_START, start), (QUERY_ERROR_END, end)] {
                if let Ok(v) = at.to_string().parse() {
                    status.metadata_mut().insert(key, v);
                }
            }
        }
        status
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(e: ServiceError) -> Self {
        e.to_status()
    }
}

impl From<ModelError> for ServiceError {
    fn from(e: ModelError) -> Self {
        ServiceError::InvalidParameter(e.to_string())
    }
}

impl From<crate::filter::PatternError> for ServiceError {
    fn from(e: crate::filter::PatternError) -> Self {
        ServiceError::InvalidParameter(e.to_string())
    }
}

impl From<logsight_auth::AuthError> for ServiceError {
    fn from(e: logsight_auth::AuthError) -> Self {
        use logsight_auth::AuthError as A;
        let m = e.to_string();
        match e {
            A::MissingToken => ServiceError::MissingAuthentication(m),
            A::UnknownKey(_) => ServiceError::UnrecognizedClient(m),
            A::BadSignature | A::Expired { .. } | A::Replayed => ServiceError::InvalidSignature(m),
            A::Malformed(_) => ServiceError::IncompleteSignature(m),
            _ => ServiceError::Internal(m),
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::GroupNotFound(_) | StorageError::StreamNotFound { .. } => {
                ServiceError::NotFound(e.to_string())
            }
            StorageError::GroupExists(_) | StorageError::StreamExists { .. } => {
                ServiceError::AlreadyExists(e.to_string())
            }
            StorageError::InvalidArgument(m) => ServiceError::InvalidParameter(m),
            StorageError::Io { .. } | StorageError::Poisoned(_) => {
                tracing::error!(error = %e, "storage failure");
                ServiceError::Unavailable { message: e.to_string(), retry_after_ms: 1000 }
            }
            StorageError::Corruption { .. } => {
                tracing::error!(error = %e, "stored data is damaged");
                ServiceError::DataCorruption(format!("stored data is damaged and not served: {e}"))
            }
            _ => {
                tracing::error!(error = %e, "storage fault");
                ServiceError::Internal(e.to_string())
            }
        }
    }
}

impl From<logsight_watch::WatchError> for ServiceError {
    fn from(e: logsight_watch::WatchError) -> Self {
        use logsight_watch::WatchError as W;
        match e {
            W::Invalid { .. }
            | W::Alarm(_)
            | W::Metrics(logsight_metrics::MetricsError::Invalid { .. }) => {
                ServiceError::InvalidParameter(e.to_string())
            }
            W::NotFound(m) => ServiceError::NotFound(m),
            W::LimitExceeded(message) => ServiceError::LimitExceeded { message, retry_after_ms: 0 },
            W::Storage(s) => s.into(),
            W::Metrics(
                logsight_metrics::MetricsError::Io { .. }
                | logsight_metrics::MetricsError::Poisoned,
            ) => {
                tracing::error!(error = %e, "metric store failure");
                ServiceError::Unavailable { message: e.to_string(), retry_after_ms: 1000 }
            }
            W::Metrics(_) | W::LsnUnavailable { .. } => {
                tracing::error!(error = %e, "watch fault");
                ServiceError::Internal(e.to_string())
            }
        }
    }
}

/// Result with [`ServiceError`].
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_cuts_at_80_characters() {
        assert_eq!(shown("short"), "short");
        assert_eq!(shown(&"é".repeat(80)), "é".repeat(80));
        assert_eq!(shown(&"é".repeat(81)), format!("{}…", "é".repeat(80)));
    }

    fn corruption() -> ServiceError {
        ServiceError::from(StorageError::Corruption {
            file: "/data/segments/0000000000000001.seg".into(),
            offset: 8,
            reason: "block checksum mismatch".into(),
        })
    }

    #[test]
    fn table_and_message() {
        let s = ServiceError::from(StorageError::GroupNotFound("g".into())).to_status();
        assert_eq!(s.code(), tonic::Code::NotFound);
        assert_eq!(s.message(), "ResourceNotFoundException: log group \"g\" does not exist");
        let s = ServiceError::from(StorageError::StreamExists {
            group: "g".into(),
            stream: "s".into(),
        })
        .to_status();
        assert_eq!(s.code(), tonic::Code::AlreadyExists);
        assert!(s.message().starts_with("ResourceAlreadyExistsException: "));
        let s =
            ServiceError::Unavailable { message: "busy".into(), retry_after_ms: 250 }.to_status();
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert_eq!(s.metadata().get(RETRY_AFTER_MS).unwrap(), "250");
        let s = ServiceError::LimitExceeded { message: "x".into(), retry_after_ms: 5 }.to_status();
        assert_eq!(
            (s.code(), s.message()),
            (tonic::Code::ResourceExhausted, "LimitExceededException: x")
        );
        let s = ServiceError::from(ModelError::InvalidRetention { days: 2 }).to_status();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().starts_with("InvalidParameterException: invalid retention 2 days"));
        let s = ServiceError::invalid("x".repeat(100_000)).to_status();
        assert_eq!(s.message().chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(s.message().ends_with("xx…"));
        // Damaged stored data is named as such, not an internal error.
        let e = ServiceError::from(StorageError::InvalidArgument("x".into()));
        assert!(matches!(e, ServiceError::InvalidParameter(_)));
        let s = corruption().to_status();
        assert_eq!(s.code(), tonic::Code::DataLoss);
        assert!(s.message().starts_with("DataCorruptionException: stored data is damaged"));
        assert!(s.message().contains("block checksum mismatch"), "{}", s.message());
        assert_eq!(http_status(&corruption()), 500);
        let s = ServiceError::SessionTimeout("over".into()).to_status();
        assert_eq!(
            (s.code(), s.message()),
            (tonic::Code::DeadlineExceeded, "SessionTimeoutException: over")
        );
    }
}
