//! Producer ids of idempotent ingest.
//!
//! A producer tags each batch with its id and a sequence number that grows with every batch;
//! the store keeps the highest sequence it acknowledged per producer and stream, so a batch
//! resent after a lost acknowledgement is recognised and not stored twice.

use std::fmt;

use crate::{ModelError, shown};

/// Longest producer id, in characters. Ids are kept per stream in the WAL and the catalog,
/// so they are short.
pub const MAX_PRODUCER_ID_LEN: usize = 128;

/// A producer id: 1 to 128 characters of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProducerId(String);

impl ProducerId {
    /// Validates `id` as a producer id.
    pub fn new(id: impl Into<String>) -> Result<Self, ModelError> {
        let id = id.into();
        let rule = if id.is_empty() {
            Some("must not be empty")
        } else if id.len() > MAX_PRODUCER_ID_LEN {
            Some("must be at most 128 characters")
        } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)) {
            Some("may contain only letters, digits and . _ : -")
        } else {
            None
        };
        match rule {
            Some(rule) => Err(ModelError::InvalidProducerId { id: shown(&id), rule }),
            None => Ok(Self(id)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_ids() {
        for ok in ["a", "0f3a9c", "host-1:ingest.2_x", &"x".repeat(128)] {
            assert_eq!(ProducerId::new(ok).unwrap().as_str(), ok);
        }
        for (id, want) in [
            ("", "must not be empty"),
            (&*"x".repeat(129), "must be at most 128 characters"),
            ("a b", "may contain only letters, digits and . _ : -"),
            ("a/b", "may contain only letters, digits and . _ : -"),
            ("é", "may contain only letters, digits and . _ : -"),
        ] {
            match ProducerId::new(id) {
                Err(ModelError::InvalidProducerId { rule, .. }) => assert_eq!(rule, want, "{id}"),
                other => panic!("{id}: {other:?}"),
            }
        }
        assert_eq!(
            ProducerId::new("a b").unwrap_err().to_string(),
            "invalid producer id \"a b\": may contain only letters, digits and . _ : -"
        );
    }
}
