//! Log events.

use crate::ModelError;
use crate::limits::MAX_MESSAGE_BYTES;
use crate::time::Timestamp;

/// One log event as stored: when it happened, when it arrived, and its text. Built only by
/// [`LogEvent::new`], so every event holds a valid message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogEvent {
    timestamp: Timestamp,
    ingestion_time: Timestamp,
    message: String,
}

impl LogEvent {
    /// Builds an event, checking the message rules.
    pub fn new(
        timestamp: Timestamp,
        ingestion_time: Timestamp,
        message: impl Into<String>,
    ) -> Result<Self, ModelError> {
        let message = message.into();
        validate_message(&message)?;
        Ok(Self { timestamp, ingestion_time, message })
    }

    /// When the event happened, epoch milliseconds (supplied by the sender).
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// When logsight received it, epoch milliseconds.
    pub fn ingestion_time(&self) -> Timestamp {
        self.ingestion_time
    }

    /// The message: UTF-8, 1 byte to 1 MiB.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, taken out of the event.
    pub fn into_message(self) -> String {
        self.message
    }
}

/// Checks that a message is 1 byte to [`MAX_MESSAGE_BYTES`] long.
pub fn validate_message(message: &str) -> Result<(), ModelError> {
    if message.is_empty() {
        return Err(ModelError::InvalidMessage { rule: "must not be empty".into() });
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(ModelError::InvalidMessage {
            rule: format!(
                "is {} bytes, more than the limit of {MAX_MESSAGE_BYTES} bytes",
                message.len()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_rules() {
        assert!(LogEvent::new(1, 2, "x").is_ok());
        assert!(LogEvent::new(1, 2, "x".repeat(MAX_MESSAGE_BYTES)).is_ok());
        assert_eq!(
            LogEvent::new(1, 2, "").unwrap_err().to_string(),
            "invalid log event message: must not be empty"
        );
        let err = LogEvent::new(1, 2, "x".repeat(MAX_MESSAGE_BYTES + 1)).unwrap_err();
        assert!(err.to_string().contains("1048577 bytes"), "{err}");
    }
}
