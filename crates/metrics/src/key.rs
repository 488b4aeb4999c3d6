//! The identity of a metric series.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};

/// At most this many dimensions per metric, as CloudWatch.
pub const MAX_DIMENSIONS: usize = 30;

/// Namespace, name and dimensions of a metric series. Ordered, so listings are stable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawKey", into = "RawKey")]
pub struct MetricKey {
    namespace: String,
    name: String,
    dimensions: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct RawKey {
    #[serde(rename = "ns")]
    namespace: String,
    name: String,
    #[serde(rename = "dims", default, skip_serializing_if = "BTreeMap::is_empty")]
    dimensions: BTreeMap<String, String>,
}

impl MetricKey {
    /// Checks CloudWatch's rules: namespace and name 1..255 characters, no `:` in the namespace,
    /// at most 30 dimensions with names 1..255 and values 1..1024 characters.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        dimensions: BTreeMap<String, String>,
    ) -> Result<MetricKey> {
        let (namespace, name) = (namespace.into(), name.into());
        let len_ok = |s: &str, max: usize| (1..=max).contains(&s.chars().count());
        if !len_ok(&namespace, 255) || namespace.contains(':') || namespace.starts_with("AWS/") {
            return Err(MetricsError::invalid(
                "Namespace",
                format!("{namespace:?}: 1..255 characters, no `:`, not starting with AWS/"),
            ));
        }
        if !len_ok(&name, 255) {
            return Err(MetricsError::invalid(
                "MetricName",
                format!("{name:?}: 1..255 characters"),
            ));
        }
        if dimensions.len() > MAX_DIMENSIONS {
            return Err(MetricsError::invalid(
                "Dimensions",
                format!("at most {MAX_DIMENSIONS}, got {}", dimensions.len()),
            ));
        }
        for (k, v) in &dimensions {
            if !len_ok(k, 255) || !len_ok(v, 1024) {
                return Err(MetricsError::invalid(
                    "Dimensions",
                    format!("{k:?}={v:?}: names are 1..255 characters, values 1..1024"),
                ));
            }
        }
        Ok(MetricKey { namespace, name, dimensions })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Dimension name → value.
    pub fn dimensions(&self) -> &BTreeMap<String, String> {
        &self.dimensions
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        for (k, v) in &self.dimensions {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

impl TryFrom<RawKey> for MetricKey {
    type Error = MetricsError;
    fn try_from(r: RawKey) -> Result<Self> {
        MetricKey::new(r.namespace, r.name, r.dimensions)
    }
}

impl From<MetricKey> for RawKey {
    fn from(k: MetricKey) -> RawKey {
        RawKey { namespace: k.namespace, name: k.name, dimensions: k.dimensions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_validated() {
        assert!(MetricKey::new("App", "Errors", BTreeMap::new()).is_ok());
        assert!(MetricKey::new("", "Errors", BTreeMap::new()).is_err());
        assert!(MetricKey::new("a:b", "Errors", BTreeMap::new()).is_err());
        assert!(MetricKey::new("App", "", BTreeMap::new()).is_err());
        let many = (0..31).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(MetricKey::new("App", "E", many).is_err());
        let empty_value = BTreeMap::from([("k".to_owned(), String::new())]);
        assert!(MetricKey::new("App", "E", empty_value).is_err());
    }
}
