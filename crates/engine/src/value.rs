//! Values as Logs Insights types them, their comparisons, natural sort order (§1.3.4) and
//! their text form in results.
//!
//! Text that looks like a number compares with a number as a number (`parse ... as status |
//! filter status >= 400`), JSON numbers stay numbers, timestamps are epoch milliseconds
//! that print as `yyyy-MM-dd HH:mm:ss.SSS` (UTC). Maps and lists come from `jsonParse`,
//! `split` and `logfmt`; every comparison involving one is false.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One value of a field or an expression.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Missing field, or a function's "no result".
    #[default]
    Null,
    /// `true`/`false` (comparisons, `ispresent`).
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction (always finite).
    Float(f64),
    /// Text.
    Str(Arc<str>),
    /// A point in time, epoch milliseconds (`@timestamp`, `bin()`, `fromMillis`).
    Time(i64),
    /// A JSON array or a `split` result.
    List(Arc<Vec<Value>>),
    /// A JSON object or `logfmt` result.
    Map(Arc<BTreeMap<String, Value>>),
}

impl Value {
    /// Text.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// A number from a float, kept whole when it is one (so `2.0 * 3` prints `6`).
    pub fn float(f: f64) -> Value {
        if !f.is_finite() {
            return Value::Null;
        }
        if f.fract() == 0.0 && f.abs() < 9.0e15 { Value::Int(f as i64) } else { Value::Float(f) }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The number this value stands for: numbers and times as they are, text that parses
    /// as a number (after trimming spaces), nothing else.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Time(t) => Some(*t as f64),
            Value::Str(s) => parse_number(s).and_then(|v| v.as_f64()),
            _ => None,
        }
    }

    /// The value as a number value (`Int` or `Float`), if it stands for one.
    pub fn as_number(&self) -> Option<Value> {
        match self {
            Value::Int(_) | Value::Float(_) => Some(self.clone()),
            Value::Time(t) => Some(Value::Int(*t)),
            Value::Str(s) => parse_number(s),
            _ => None,
        }
    }

    /// A whole number, truncating fractions.
    pub fn as_i64(&self) -> Option<i64> {
        match self.as_number()? {
            Value::Int(i) => Some(i),
            Value::Float(f) if f.abs() < 9.2e18 => Some(f.trunc() as i64),
            _ => None,
        }
    }

    /// Text for string functions: strings, and numbers and times in their result form.
    /// Maps and lists act as null in string functions (§1.5.4).
    pub fn as_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Value::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
            Value::Null | Value::List(_) | Value::Map(_) => None,
            other => other.render(),
        }
    }

    /// Whether a `filter` keeps a row with this value.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            _ => false,
        }
    }

    /// The value as results show it; `None` for null (the field is absent from the row).
    pub fn render(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Float(f) => Cow::Owned(format_float(*f)),
            Value::Str(s) => Cow::Borrowed(s),
            Value::Time(t) => Cow::Owned(format_time(*t)),
            Value::List(_) | Value::Map(_) => Cow::Owned(self.to_json().to_string()),
        })
    }

    /// The value as JSON (for `jsonStringify` and printing maps and lists).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Time(t) => J::String(format_time(*t)),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(map) => {
                J::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// Converts parsed JSON, keeping numbers numbers.
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => n.as_f64().map_or(Value::Null, Value::Float),
            },
            J::String(s) => Value::str(s),
            J::Array(items) => Value::List(Arc::new(items.iter().map(Value::from_json).collect())),
            J::Object(map) => Value::Map(Arc::new(
                map.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect(),
            )),
        }
    }

    /// The key under which `in` looks a value up: numbers (and text that reads as one) by
    /// their printed number, so `404`, `"404"` and `404.0` are one key; text as itself.
    /// Null, maps and lists have none (they are never members).
    pub fn set_key(&self) -> Option<String> {
        match self {
            Value::Null | Value::List(_) | Value::Map(_) => None,
            Value::Bool(b) => Some(b.to_string()),
            other => match other.as_number() {
                Some(Value::Int(i)) => Some(i.to_string()),
                Some(Value::Float(f)) => Some(format_float(f)),
                _ => other.as_text().map(|t| t.into_owned()),
            },
        }
    }

    /// Estimated heap bytes, for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.len() + 16,
            Value::List(items) => items.iter().map(|v| v.heap_bytes() + 32).sum::<usize>() + 16,
            Value::Map(map) => map.iter().map(|(k, v)| k.len() + v.heap_bytes() + 64).sum(),
            _ => 0,
        }
    }
}

/// Reads text as a number: an integer when it is one, else a finite float. Spaces around it
/// are allowed; hex, `inf` and `nan` are not numbers.
pub fn parse_number(text: &str) -> Option<Value> {
    let t = text.trim();
    let first = t.bytes().next()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(Value::Int(i));
    }
    if !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')) {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float)
}

/// Prints a float without binary noise: rounded to 15 significant digits, then as short as
/// possible (`0.1 + 0.2` prints `0.3`, `2.0` prints `2`).
pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return (f as i64).to_string();
    }
    let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
    let mut s = String::new();
    let _ = write!(s, "{rounded}");
    s
}

/// `yyyy-MM-dd HH:mm:ss.SSS`, UTC.
pub fn format_time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}

/// Compares two values for `<`, `>` and friends: as numbers when both stand for numbers,
/// as text when both are text, and not at all otherwise (the comparison is false).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => None,
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => {
            match (parse_number(x), parse_number(y)) {
                // Two numeric texts (from parse) compare as numbers too.
                (Some(p), Some(q)) => compare(&p, &q),
                _ => Some(x.as_ref().cmp(y.as_ref())),
            }
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => {
            let (x, y) = (a.as_number()?, b.as_number()?);
            match (x, y) {
                (Value::Int(x), Value::Int(y)) => Some(x.cmp(&y)),
                (x, y) => x.as_f64()?.partial_cmp(&y.as_f64()?),
            }
        }
    }
}

/// `=`: like [`compare`], and text equal to text exactly.
pub fn equals(a: &Value, b: &Value) -> bool {
    compare(a, b) == Some(Ordering::Equal)
}

/// CloudWatch's natural sort (§1.3.4), ascending: null first, then every non-number value,
/// then numbers by value. Non-numbers compare chunk by chunk: digit runs by length then
/// value, other runs by Unicode value.
pub fn natural_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Int(_) | Value::Float(_) | Value::Time(_) => 2,
            Value::Str(s) if parse_number(s).is_some() => 2,
            _ => 1,
        }
    }
    match (rank(a), rank(b)) {
        (2, 2) => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal).then_with(|| text_of(a).cmp(&text_of(b)))
        }
        (1, 1) => natural_text_cmp(&text_of(a), &text_of(b)),
        (ra, rb) => ra.cmp(&rb),
    }
}

fn text_of(v: &Value) -> String {
    v.render().map(|c| c.into_owned()).unwrap_or_default()
}

/// Chunk-wise comparison of non-number text (§1.3.4).
pub fn natural_text_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (chunk(x), chunk(y)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((cx, rx)), Some((cy, ry))) => {
                let digits = |c: &str| c.starts_with(|ch: char| ch.is_ascii_digit());
                let ord = if digits(cx) && digits(cy) {
                    cx.len().cmp(&cy.len()).then_with(|| cx.cmp(cy))
                } else {
                    cx.cmp(cy)
                };
                if ord != Ordering::Equal {
                    return ord;
                }
                x = rx;
                y = ry;
            }
        }
    }
}

/// Splits off the first chunk: a run of ASCII digits or a run of anything else.
fn chunk(s: &str) -> Option<(&str, &str)> {
    let first = s.chars().next()?;
    let digit = first.is_ascii_digit();
    let end = s.find(|c: char| c.is_ascii_digit() != digit).unwrap_or(s.len());
    Some(s.split_at(end))
}

/// A value as a grouping or dedup key: hashable, with numbers compared exactly.
#[derive(Clone, Debug)]
pub struct Key(pub Value);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Time(a), Value::Time(b)) => a == b,
            (a @ (Value::List(_) | Value::Map(_)), b @ (Value::List(_) | Value::Map(_))) => {
                a.to_json() == b.to_json()
            }
            _ => false,
        }
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Value::Null => 0u8.hash(state),
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Float(f) => f.to_bits().hash(state),
            Value::Str(s) => s.hash(state),
            Value::Time(t) => t.hash(state),
            Value::List(_) | Value::Map(_) => self.0.to_json().to_string().hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_natural_sort_example() {
        // §1.3.4, ascending, verbatim.
        let expected = [
            "!:",
            "#",
            "*%04",
            "0#",
            "5A",
            "111A",
            "2345_",
            "@",
            "@_",
            "A",
            "A9876fghj",
            "a12345hfh",
            "0",
            "01",
            "1",
            "2",
            "3",
        ];
        let mut values: Vec<Value> = expected.iter().rev().map(|s| Value::str(s)).collect();
        values.sort_by(natural_cmp);
        let got: Vec<String> = values.iter().map(text_of).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn numbers_print_without_noise() {
        assert_eq!(format_float(0.1 + 0.2), "0.3");
        assert_eq!(format_float(2.0), "2");
        assert_eq!(format_float(1.0 / 3.0), "0.333333333333333");
        assert_eq!(format_float(-12.5), "-12.5");
    }

    #[test]
    fn times_print_like_cloudwatch() {
        assert_eq!(format_time(1_651_406_440_913), "2022-05-01 12:00:40.913");
        assert_eq!(format_time(0), "1970-01-01 00:00:00.000");
    }

    #[test]
    fn text_numbers_compare_as_numbers() {
        assert!(equals(&Value::str("404"), &Value::Int(404)));
        assert!(equals(&Value::Int(404), &Value::str(" 404")));
        assert_eq!(compare(&Value::str("500"), &Value::Int(404)), Some(Ordering::Greater));
        assert_eq!(compare(&Value::str("9"), &Value::str("10")), Some(Ordering::Less));
        assert!(!equals(&Value::str("abc"), &Value::Int(1)));
        assert!(!equals(&Value::Null, &Value::Null));
        let list = Value::List(Arc::new(vec![Value::Int(1)]));
        assert_eq!(compare(&list, &list), None);
        assert_eq!(Value::str("404").set_key(), Value::Float(404.0).set_key());
    }

    #[test]
    fn number_parsing() {
        assert!(matches!(parse_number("12"), Some(Value::Int(12))));
        assert!(matches!(parse_number("-1.5e3"), Some(Value::Float(f)) if f == -1500.0));
        assert!(parse_number("nan").is_none());
        assert!(parse_number("12abc").is_none());
        assert!(parse_number("").is_none());
    }
}
