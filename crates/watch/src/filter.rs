//! Metric filter definitions (reference §3): validation, and what one event emits.

use std::borrow::Cow;
use std::collections::BTreeMap;

use logsight_metrics::MetricKey;
use logsight_query_lang::pattern::{FilterPattern, PatternKind};
use serde::{Deserialize, Serialize};

use crate::error::{Result, WatchError};
use crate::log::Lsn;

/// At most this many dimensions per metric filter.
pub const MAX_FILTER_DIMENSIONS: usize = 3;

/// CloudWatch's StandardUnit values.
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// A PutMetricFilter request before validation (one metric transformation, as CloudWatch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterSpec {
    /// The log group.
    pub group: String,
    /// The filter's name, 1..512 characters without `:` or `*`.
    pub name: String,
    /// The filter pattern.
    pub pattern: String,
    /// The metric's name.
    pub metric_name: String,
    /// The metric's namespace.
    pub namespace: String,
    /// `"1"`, a number, `$.field` or `$name`.
    pub value: String,
    /// Emitted for a minute with events but no match; not with dimensions.
    pub default_value: Option<f64>,
    /// Dimension name → `$.field` or `$name`; at most 3.
    pub dimensions: BTreeMap<String, String>,
    /// The unit; `None` if not given.
    pub unit: Option<String>,
}

/// Where a metric value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// The same number for every match.
    Constant(f64),
    /// An extracted field (`$.latency`, `$bytes`), parsed as a number.
    Field(String),
}

/// A validated metric filter, with when it was created.
#[derive(Debug, Clone)]
pub struct MetricFilter {
    spec: FilterSpec,
    pattern: FilterPattern,
    value: MetricValue,
    created_ms: i64,
    created_after: Lsn,
    /// The metric key when it has no dimensions (the same for every match).
    fixed_key: Option<MetricKey>,
    /// For a space-delimited pattern, where the value and dimensions are among its fields.
    lent: Option<LentFields>,
    /// Switched off for making too many dimension combinations, until replaced.
    disabled: bool,
}

/// What one matching event contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Emission<'a> {
    /// The series.
    pub key: Cow<'a, MetricKey>,
    /// The value.
    pub value: f64,
}

/// The pattern's field indexes ([`FilterPattern::field_index`]) of a space-delimited filter's
/// value (if it is a field) and dimensions (in the order of [`FilterSpec::dimensions`]).
#[derive(Debug, Clone)]
struct LentFields {
    value: Option<usize>,
    dimensions: Vec<usize>,
}

/// The dimension values of one match, borrowed from the message, in the order of
/// [`FilterSpec::dimensions`]: what identifies a series before its [`MetricKey`] is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LentDimensions<'m> {
    values: [&'m str; MAX_FILTER_DIMENSIONS],
}

/// What one matching event of a space-delimited filter contributes, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LentEmission<'m> {
    /// The dimension values.
    pub dimensions: LentDimensions<'m>,
    /// The value.
    pub value: f64,
}

fn is_field(s: &str) -> bool {
    s.len() > 1 && s.starts_with('$')
}

impl MetricFilter {
    /// Checks the rules of §3.1/§3.2. `created_after` is the log's committed LSN when the filter
    /// is put: it applies to batches after it only.
    pub fn new(spec: FilterSpec, created_ms: i64, created_after: Lsn) -> Result<MetricFilter> {
        let chars = spec.name.chars().count();
        if chars == 0 || chars > 512 || spec.name.contains([':', '*']) {
            return Err(WatchError::invalid("filterName", "1..512 characters, no `:` or `*`"));
        }
        let pattern = FilterPattern::compile(&spec.pattern)
            .map_err(|e| WatchError::invalid("filterPattern", e.render(&spec.pattern)))?;
        for (field, v) in [("metricName", &spec.metric_name), ("metricNamespace", &spec.namespace)]
        {
            let n = v.chars().count();
            if n == 0 || n > 255 || v.contains([':', '*', '$']) {
                return Err(WatchError::invalid(
                    field,
                    format!("{v:?}: 1..255 characters, no `:`, `*` or `$`"),
                ));
            }
        }
        if spec.value.is_empty() || spec.value.chars().count() > 100 {
            return Err(WatchError::invalid("metricValue", "1..100 characters"));
        }
        let value = if is_field(&spec.value) {
            MetricValue::Field(spec.value.clone())
        } else {
            match spec.value.parse::<f64>() {
                Ok(v) if v.is_finite() => MetricValue::Constant(v),
                _ => {
                    return Err(WatchError::invalid(
                        "metricValue",
                        format!("{:?} is neither a number nor a `$.field` / `$name`", spec.value),
                    ));
                }
            }
        };
        if spec.dimensions.len() > MAX_FILTER_DIMENSIONS {
            return Err(WatchError::invalid(
                "dimensions",
                format!("at most {MAX_FILTER_DIMENSIONS}"),
            ));
        }
        if !spec.dimensions.is_empty() {
            if pattern.kind() == PatternKind::Unstructured {
                return Err(WatchError::invalid(
                    "dimensions",
                    "dimensions need a JSON or space-delimited pattern",
                ));
            }
            if spec.default_value.is_some() {
                return Err(WatchError::invalid(
                    "defaultValue",
                    "a default value cannot be set when the filter has dimensions",
                ));
            }
        }
        for (k, v) in &spec.dimensions {
            if k.is_empty() || k.chars().count() > 255 || !is_field(v) {
                return Err(WatchError::invalid(
                    "dimensions",
                    format!("{k:?}: {v:?}; a dimension maps a name to `$.field` or `$name`"),
                ));
            }
        }
        if spec.default_value.is_some_and(|v| !v.is_finite()) {
            return Err(WatchError::invalid("defaultValue", "must be a finite number"));
        }
        if let Some(unit) = &spec.unit
            && !UNITS.contains(&unit.as_str())
        {
            return Err(WatchError::invalid("unit", format!("{unit:?} is not a CloudWatch unit")));
        }
        let fixed_key = if spec.dimensions.is_empty() {
            Some(
                MetricKey::new(&spec.namespace, &spec.metric_name, BTreeMap::new())
                    .map_err(|e| WatchError::invalid("metricNamespace", e.to_string()))?,
            )
        } else {
            None
        };
        let lent = lent_fields(&pattern, &value, &spec);
        Ok(MetricFilter {
            spec,
            pattern,
            value,
            created_ms,
            created_after,
            fixed_key,
            lent,
            disabled: false,
        })
    }

    /// The same filter, switched off: it emits nothing until it is replaced.
    pub fn into_disabled(self) -> MetricFilter {
        MetricFilter { disabled: true, ..self }
    }

    /// Whether it was switched off for making too many dimension combinations.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// The definition.
    pub fn spec(&self) -> &FilterSpec {
        &self.spec
    }

    /// The compiled pattern.
    pub fn pattern(&self) -> &FilterPattern {
        &self.pattern
    }

    /// When it was put, epoch ms.
    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    /// It applies to batches with an LSN above this.
    pub fn created_after(&self) -> Lsn {
        self.created_after
    }

    /// The series a dimensionless filter writes to.
    pub fn fixed_key(&self) -> Option<&MetricKey> {
        self.fixed_key.as_ref()
    }

    /// Whether [`MetricFilter::emit_lent`] applies: a space-delimited filter with
    /// dimensions, all of them fields of its pattern.
    pub fn lends_dimensions(&self) -> bool {
        self.lent.as_ref().is_some_and(|l| !l.dimensions.is_empty())
    }

    /// What `message` emits, borrowed from it (no allocation); `None` as for
    /// [`MetricFilter::emit`], and also when the filter does not lend its fields. The series is
    /// [`MetricFilter::key_of`] the dimensions.
    pub fn emit_lent<'m>(&self, message: &'m str) -> Option<LentEmission<'m>> {
        let lent = self.lent.as_ref()?;
        let mut fields: [Option<&'m str>; MAX_FILTER_DIMENSIONS + 1] = Default::default();
        let wanted = lent.dimensions.iter().copied().chain(lent.value);
        let matched = self.pattern.match_fields(message, &mut |i, v| {
            for (slot, w) in fields.iter_mut().zip(wanted.clone()) {
                if w == i {
                    *slot = Some(v);
                }
            }
        });
        if !matched {
            return None;
        }
        let value = match (&self.value, lent.value) {
            (MetricValue::Constant(v), _) => *v,
            (MetricValue::Field(_), Some(_)) => number(fields[lent.dimensions.len()]?)?,
            (MetricValue::Field(_), None) => return None,
        };
        let mut dimensions = LentDimensions { values: [""; MAX_FILTER_DIMENSIONS] };
        for (d, v) in dimensions.values.iter_mut().zip(&fields[..lent.dimensions.len()]) {
            *d = v.filter(|v| !v.is_empty())?;
        }
        Some(LentEmission { dimensions, value })
    }

    /// The series of a lent emission's dimensions; `None` if they do not make a valid key
    /// (such an event emits nothing, as with [`MetricFilter::emit`]).
    pub fn key_of(&self, dimensions: &LentDimensions<'_>) -> Option<MetricKey> {
        let dims = self.spec.dimensions.keys().zip(dimensions.values);
        let dims = dims.map(|(name, v)| (name.clone(), v.to_owned())).collect();
        MetricKey::new(&self.spec.namespace, &self.spec.metric_name, dims).ok()
    }

    /// What `message` emits: `None` if it does not match, or a field the value or a dimension
    /// needs is missing or (for the value) not a number.
    pub fn emit(&self, message: &str) -> Option<Emission<'_>> {
        if let (Some(key), MetricValue::Constant(value)) = (&self.fixed_key, &self.value) {
            return self
                .pattern
                .matches(message)
                .then_some(Emission { key: Cow::Borrowed(key), value: *value });
        }
        if let Some(lent) = self.emit_lent(message) {
            let key = match &self.fixed_key {
                Some(k) => Cow::Borrowed(k),
                None => Cow::Owned(self.key_of(&lent.dimensions)?),
            };
            return Some(Emission { key, value: lent.value });
        }
        if self.lent.is_some() {
            return None;
        }
        let x = self.pattern.extract(message)?;
        let value = match &self.value {
            MetricValue::Constant(v) => *v,
            MetricValue::Field(f) => number(&x.get(f)?)?,
        };
        let key = match &self.fixed_key {
            Some(k) => Cow::Borrowed(k),
            None => {
                let mut dims = BTreeMap::new();
                for (name, field) in &self.spec.dimensions {
                    let v = x.get(field)?;
                    if v.is_empty() {
                        return None;
                    }
                    dims.insert(name.clone(), v.into_owned());
                }
                Cow::Owned(MetricKey::new(&self.spec.namespace, &self.spec.metric_name, dims).ok()?)
            }
        };
        Some(Emission { key, value })
    }
}

/// A field's value as a metric value: a finite number, spaces around it ignored.
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Where a space-delimited filter finds its value and dimensions, if every one it needs is a
/// field of its pattern (a filter naming another field never emits; the general path says so).
fn lent_fields(
    pattern: &FilterPattern,
    value: &MetricValue,
    spec: &FilterSpec,
) -> Option<LentFields> {
    if pattern.kind() != PatternKind::SpaceDelimited {
        return None;
    }
    let value = match value {
        MetricValue::Constant(_) => None,
        MetricValue::Field(f) => Some(pattern.field_index(f)?),
    };
    let dimensions =
        spec.dimensions.values().map(|f| pattern.field_index(f)).collect::<Option<Vec<_>>>()?;
    Some(LentFields { value, dimensions })
}

/// One match of TestMetricFilter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMatch {
    /// 1-based position of the message in the request.
    pub event_number: u64,
    /// The message.
    pub message: String,
    /// `$name` / `$.path` → value, as the pattern extracted them.
    pub extracted: BTreeMap<String, String>,
}

/// TestMetricFilter: which of 1..50 messages match, with the values extracted.
pub fn test_metric_filter(pattern: &str, messages: &[String]) -> Result<Vec<TestMatch>> {
    if messages.is_empty() || messages.len() > 50 {
        return Err(WatchError::invalid("logEventMessages", "1..50 messages"));
    }
    let p = FilterPattern::compile(pattern)
        .map_err(|e| WatchError::invalid("filterPattern", e.render(pattern)))?;
    Ok(messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let x = p.extract(m)?;
            Some(TestMatch {
                event_number: i as u64 + 1,
                message: m.clone(),
                extracted: x.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            })
        })
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn spec(pattern: &str, value: &str) -> FilterSpec {
        FilterSpec {
            group: "app".into(),
            name: "f".into(),
            pattern: pattern.into(),
            metric_name: "Errors".into(),
            namespace: "App".into(),
            value: value.into(),
            default_value: None,
            dimensions: BTreeMap::new(),
            unit: Some("Count".into()),
        }
    }

    const LINE_A: &str =
        "127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] \"GET /index.html HTTP/1.0\" 404 1534";

    #[test]
    fn values_and_dimensions_come_from_extracted_fields() {
        let mut s =
            spec("[ip, user, username, timestamp, request, status_code = 4*, bytes]", "$bytes");
        s.dimensions.insert("status".into(), "$status_code".into());
        let f = MetricFilter::new(s, 0, Lsn::ZERO).unwrap();
        let e = f.emit(LINE_A).unwrap();
        assert_eq!(e.value, 1534.0);
        assert_eq!(e.key.dimensions().get("status").map(String::as_str), Some("404"));
        assert!(f.emit(&LINE_A.replace(" 404 ", " 200 ")).is_none());

        let f = MetricFilter::new(spec("{ $.latency = * }", "$.latency"), 0, Lsn::ZERO).unwrap();
        assert_eq!(f.emit(r#"{"latency":50}"#).unwrap().value, 50.0);
        assert!(
            f.emit(r#"{"latency":"slow"}"#).is_none(),
            "a value that is not a number emits nothing"
        );

        let f = MetricFilter::new(spec("ERROR", "1"), 0, Lsn::ZERO).unwrap();
        assert_eq!(f.emit("[ERROR 500] x").unwrap().value, 1.0);
        assert!(f.emit("INFO ok").is_none());
    }

    /// The lent path (fields borrowed by index) against the oracle: the owned values
    /// `FilterPattern::extract` finds, made into a key by hand.
    #[test]
    fn lent_emissions_agree_with_extracted_values() {
        let lines = [
            LINE_A,
            "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1",
            "2015-10-18 18:01:47,978 ERROR [main] org.apache.hadoop: x",
            "a b",
            "a b c",
            "  spaced   out\tline  with \"quoted words\" and [brackets here] 7 ",
            "1.2.3.4 bob \"GET /\" 404 12.5",
            "1.2.3.4 bob \"GET /\" 404 many",
            "",
        ];
        /// Pattern, value, dimensions.
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            ("[date, time, level, ...]", "1", &[("Level", "$level")]),
            ("[date, time, level, ...]", "$time", &[("Level", "$level"), ("Date", "$date")]),
            ("[ip, user, ..., status, bytes]", "$bytes", &[("Status", "$status")]),
            ("[ip, user, request, status=4*, bytes]", "$bytes", &[("User", "$user")]),
            ("[a, b, c]", "$c", &[]),
            ("[a, b]", "1", &[("B", "$b")]),
        ];
        for (pattern, value, dims) in cases {
            let mut s = spec(pattern, value);
            s.unit = None;
            s.dimensions = dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let f = MetricFilter::new(s.clone(), 0, Lsn::ZERO).unwrap();
            assert_eq!(f.lends_dimensions(), !dims.is_empty(), "{pattern}");
            for line in lines {
                let want = f.pattern().extract(line).and_then(|x| {
                    let v = if *value == "1" { 1.0 } else { x.get(value)?.trim().parse().ok()? };
                    let mut key = BTreeMap::new();
                    for (k, field) in &s.dimensions {
                        let d = x.get(field)?;
                        if d.is_empty() {
                            return None;
                        }
                        key.insert(k.clone(), d.into_owned());
                    }
                    Some((MetricKey::new("App", "Errors", key).ok()?, v))
                });
                let got = f.emit(line).map(|e| (e.key.into_owned(), e.value));
                assert_eq!(got, want, "{pattern} on {line:?}");
                if f.lends_dimensions() {
                    let lent =
                        f.emit_lent(line).and_then(|e| Some((f.key_of(&e.dimensions)?, e.value)));
                    assert_eq!(lent, want, "{pattern} on {line:?}");
                }
            }
        }
    }

    #[test]
    fn cloudwatch_rules_are_checked() {
        type Change = fn(&mut FilterSpec);
        let cases: Vec<(Change, &str)> = vec![
            (|s| s.name = "a:b".into(), "filterName"),
            (|s| s.name.clear(), "filterName"),
            (|s| s.pattern = "{ $.a = ".into(), "filterPattern"),
            (|s| s.metric_name = "a$b".into(), "metricName"),
            (|s| s.namespace.clear(), "metricNamespace"),
            (|s| s.value = "abc".into(), "metricValue"),
            (|s| s.unit = Some("Parsecs".into()), "unit"),
            (
                |s| {
                    s.dimensions.insert("k".into(), "$.k".into());
                },
                "dimensions",
            ),
            (
                |s| {
                    s.pattern = "{ $.k = * }".into();
                    s.dimensions.insert("k".into(), "$.k".into());
                    s.default_value = Some(0.0);
                },
                "defaultValue",
            ),
            (
                |s| {
                    s.pattern = "{ $.k = * }".into();
                    s.dimensions.insert("k".into(), "literal".into());
                },
                "dimensions",
            ),
            (
                |s| {
                    s.pattern = "[a, b]".into();
                    for k in ["a", "b", "c", "d"] {
                        s.dimensions.insert(k.into(), "$a".into());
                    }
                },
                "dimensions",
            ),
        ];
        for (change, field) in cases {
            let mut s = spec("ERROR", "1");
            change(&mut s);
            match MetricFilter::new(s.clone(), 0, Lsn::ZERO) {
                Err(WatchError::Invalid { field: f, .. }) => assert_eq!(f, field, "{s:?}"),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn test_metric_filter_numbers_matches_from_one() {
        let msgs = vec!["INFO a".to_owned(), LINE_A.to_owned()];
        let m = test_metric_filter(
            "[ip, user, username, timestamp, request, status_code, bytes]",
            &msgs,
        )
        .unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].event_number, 2);
        assert_eq!(m[0].extracted["$status_code"], "404");
        assert_eq!(m[0].extracted["$request"], "GET /index.html HTTP/1.0");
        assert!(test_metric_filter("ERROR", &[]).is_err());
    }
}
