//! The crate's one error type.

/// An alarm definition or rule that breaks one of CloudWatch's rules; the message names it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlarmError {
    /// A field has a value CloudWatch would reject.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field, as CloudWatch names it (`Period`, `Threshold`, ...).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A composite alarm rule that does not parse.
    #[error("invalid AlarmRule at offset {offset}: {message}")]
    Rule {
        /// Byte offset in the rule.
        offset: usize,
        /// What was expected.
        message: String,
    },
}

impl AlarmError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        AlarmError::Invalid { field, message: message.into() }
    }
}
