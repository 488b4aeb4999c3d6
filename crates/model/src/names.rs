//! Log group and log stream names.

use std::borrow::Borrow;
use std::fmt;

use crate::{ModelError, shown};

/// Longest group or stream name, in characters.
pub const MAX_NAME_LEN: usize = 512;

/// A log group name: 1 to 512 characters of `[.\-_/#A-Za-z0-9]`, not starting with `aws/`
/// (CloudWatch reserves that prefix for groups AWS services create).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogGroupName(String);

impl LogGroupName {
    /// Validates `name` as a log group name.
    pub fn new(name: impl Into<String>) -> Result<Self, ModelError> {
        let name = name.into();
        let rule = if name.is_empty() {
            Some("must not be empty")
        } else if name.len() > MAX_NAME_LEN {
            Some("must be at most 512 characters")
        } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b)) {
            Some("may contain only letters, digits and . - _ / #")
        } else if name.starts_with("aws/") {
            Some("must not start with \"aws/\"")
        } else {
            None
        };
        match rule {
            Some(rule) => Err(ModelError::InvalidGroupName { name: shown(&name), rule }),
            None => Ok(Self(name)),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A log stream name: 1 to 512 characters, none of them `:` or `*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogStreamName(String);

impl LogStreamName {
    /// Validates `name` as a log stream name.
    pub fn new(name: impl Into<String>) -> Result<Self, ModelError> {
        let name = name.into();
        let rule = if name.is_empty() {
            Some("must not be empty")
        } else if name.chars().count() > MAX_NAME_LEN {
            Some("must be at most 512 characters")
        } else if name.contains([':', '*']) {
            Some("must not contain ':' or '*'")
        } else if name.chars().any(char::is_control) {
            Some("must not contain control characters")
        } else {
            None
        };
        match rule {
            Some(rule) => Err(ModelError::InvalidStreamName { name: shown(&name), rule }),
            None => Ok(Self(name)),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! name_traits {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<&str> for $ty {
            type Error = ModelError;
            fn try_from(s: &str) -> Result<Self, ModelError> {
                Self::new(s)
            }
        }
        impl std::str::FromStr for $ty {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, ModelError> {
                Self::new(s)
            }
        }
    };
}
name_traits!(LogGroupName);
name_traits!(LogStreamName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names() {
        for ok in [
            "a",
            "/aws/lambda/x",
            "aws",
            "aws-x/y",
            "AWS/x",
            "my/aws/x",
            "A.b-c_d/e#f9",
            &"x".repeat(512),
        ] {
            assert!(LogGroupName::new(ok).is_ok(), "{ok}");
        }
        let cases = [
            ("", "must not be empty"),
            (&*"x".repeat(513), "must be at most 512 characters"),
            ("a b", "may contain only letters, digits and . - _ / #"),
            ("é", "may contain only letters, digits and . - _ / #"),
            ("a:b", "may contain only letters, digits and . - _ / #"),
            ("aws/foo", "must not start with \"aws/\""),
            ("aws/", "must not start with \"aws/\""),
        ];
        for (name, want) in cases {
            match LogGroupName::new(name) {
                Err(ModelError::InvalidGroupName { rule, .. }) => assert_eq!(rule, want, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn stream_names() {
        for ok in ["i-0abc/app", "2024/05/01/[$LATEST]abc", "é ü", &"é".repeat(512)] {
            assert!(LogStreamName::new(ok).is_ok(), "{ok}");
        }
        for (name, want) in [
            ("", "must not be empty"),
            ("a:b", "must not contain ':' or '*'"),
            ("a*", "must not contain ':' or '*'"),
            ("a\nb", "must not contain control characters"),
        ] {
            match LogStreamName::new(name) {
                Err(ModelError::InvalidStreamName { rule, .. }) => assert_eq!(rule, want),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(LogStreamName::new("x".repeat(513)).is_err());
    }

    #[test]
    fn error_names_the_value_and_rule() {
        let err = LogGroupName::new("bad name").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid log group name \"bad name\": may contain only letters, digits and . - _ / #"
        );
    }
}
