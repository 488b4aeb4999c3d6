//! CloudWatch Logs filter patterns: the language of `FilterLogEvents`, metric filters,
//! subscription filters and Live Tail, compiled into fast matchers.
//!
//! ```
//! use logsight_query_lang::pattern::FilterPattern;
//!
//! let p = FilterPattern::compile(r#"[ip, user, username, timestamp, request = *.html*, status_code = 4*, bytes]"#)?;
//! let line = r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
//! let values = p.extract(line).expect("matches");
//! assert_eq!(values.get("$status_code").as_deref(), Some("404"));
//!
//! let p = FilterPattern::compile("{ $.latency > 100 && $.path = \"/api/*\" }")?;
//! assert!(p.matches(r#"{"path": "/api/users", "latency": 250}"#));
//! # Ok::<(), logsight_query_lang::pattern::PatternError>(())
//! ```
//!
//! # The language, as implemented
//!
//! A pattern is at most 1,024 characters. Its first non-blank character picks the form: `{` is
//! a JSON pattern, `[` a space-delimited pattern, anything else an unstructured pattern.
//! Matching is case-sensitive everywhere. A pattern may contain at most two `%regex%`.
//!
//! **Unstructured** (`ERROR ?WARN -DEBUG "exact phrase" %regex%`):
//! - Terms are separated by whitespace. An unquoted term runs to the next whitespace or `"`.
//! - A term matches a *whole term* of the message: its text must occur with no letter or digit
//!   directly before it (when the term starts with a letter or digit) or directly after it (when
//!   it ends with one). So `ERROR` matches `[ERROR 400]` and `ERROR:` but not `ERRORS`;
//!   `%ERROR%` or `"ERROR"` find it inside a word. Letters and digits are Unicode's.
//! - A quoted phrase matches that exact text anywhere. `\"` and `\\` escape inside quotes. A
//!   blank phrase (`" "`) matches everything, as does the empty pattern.
//! - `%regex%` matches if the regex is found anywhere in the message.
//! - All plain terms must match. `-term` must not match. `?term`s match if at least one does,
//!   but as in CloudWatch they are **ignored** when the pattern also has plain terms
//!   (`?ERROR ?ARGUMENTS REQUEST` is just `REQUEST`). `?` and `-` apply to phrases and regexes
//!   too.
//!
//! **Regex** (`%...%`, standalone or as a value): CloudWatch's restricted syntax:
//! alphanumerics, space, `: _ # = @ / ; , -`, the
//! operators `^ $ ? [ ] { } | \ * + .`, the ASCII classes `\d \D \s \S \w \W` and `\xhh`.
//! Parentheses, other punctuation (escape it as `\xhh` or `\.`) and multi-byte characters are
//! rejected at the offending character. Matching is the `regex` crate's, in linear time.
//!
//! **JSON** (`{ $.a.b = "x" && ($.n > 1e3 || $.flag IS TRUE) }`):
//! - Messages whose first non-blank character is not `{` or `[`, or that are not valid JSON,
//!   match no JSON pattern.
//! - Selectors: `$.key`, `$.a.b`, `$.a[0]`, `$.a[*]`, `$.*`, `$.['key.with.dots']` (or
//!   `$['k']`, `["k"]`). A wildcard applies the test to every element or member and matches if
//!   any one passes. At most one wildcard per selector and three wildcard selectors per pattern.
//! - Values: `"quoted"` or bare strings (`123.123.*`), where `*` is a wildcard over the whole
//!   value (`\*` in quotes is a literal star); `%regex%`; numbers (`200`, `-1.5`, `1e-3`).
//!   `=` and `!=` take any value; `<`, `<=`, `>`, `>=` need a number.
//! - A comparison applies to strings, numbers and booleans (compared as their text, or
//!   numerically against a number: `{ $.n = 1e3 }` matches `1000`, and a numeric string such as
//!   `"503"` compares as a number). Null, objects and arrays satisfy no comparison, **not even
//!   `!=`**, and neither does a missing field: use `NOT EXISTS` or `IS NULL` for those.
//!   `= *` tests presence of a non-null value (as in `{ $.latency = * }`).
//! - `IS NULL`, `IS TRUE`, `IS FALSE` test the value; `NOT EXISTS` is true when the selector
//!   finds nothing (a field that is `null` exists). `IS NOT` and `EXISTS` are rejected as in
//!   CloudWatch. Keywords are case-insensitive.
//! - `&&` binds tighter than `||`; parentheses group.
//!
//! **Space-delimited** (`[ip, user, ..., status = 4* || status = 5*, bytes > 1000]`):
//! - The message is split into fields on spaces and tabs; a field starting with `"` or `[`
//!   runs to the closing `"` or `]` and its value is the text inside.
//! - Pattern fields bind message fields left to right. `...` binds any number of fields
//!   (including none). A named field that ends the pattern binds the rest of the line when more
//!   fields remain, so `[w1=ERROR, w2]` matches any line whose first field is `ERROR` and that
//!   has a second field; a line with fewer fields than the pattern needs does not match.
//! - A field may carry a condition on its own value, built from `=`, `!=`, `<`, `<=`, `>`, `>=`
//!   with the same values as JSON (a field that is not a number fails an ordering test and `=`
//!   with a number), combined with `&&`, `||` and parentheses.
//! - Every named field is extracted as `$name`.
//!
//! # Extraction for metric filters
//!
//! [`FilterPattern::extract`] returns an [`Extracted`] for a matching message. A metric filter
//! whose `metricValue` or dimension is `$name` (space-delimited) or `$.path` (JSON) reads it
//! with [`Extracted::get`]; JSON paths that the pattern itself does not mention are resolved on
//! the parsed message on demand. A constant `metricValue` such as `1` needs no lookup.
//!
//! # Design
//!
//! Parsing (nom 8, one module per form) produces matchers directly: words and phrases become
//! prebuilt `memmem` finders, regexes `regex::Regex`, wildcards prefix/suffix/finder triples.
//! Unstructured matching never allocates; JSON matching parses the message once with
//! `serde_json` after a one-byte pre-check, keeping only the paths the selectors read. A [`FilterPattern`] is an `Arc`, so clones are
//! cheap and it is `Send + Sync`.

mod delimited;
mod error;
mod json;
mod parse;
mod project;
mod regex;
mod terms;
mod value;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

pub use error::PatternError;

use delimited::Delimited;
use json::{JsonPattern, Selector};
use parse::PErr;
use project::Projection;
use terms::Terms;

/// Patterns longer than this many characters are rejected, as by CloudWatch.
pub const MAX_PATTERN_CHARS: usize = 1024;

/// At most this many `%regex%` in one pattern.
pub const MAX_REGEXES: usize = 2;

/// Which of the syntactic forms a pattern uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatternKind {
    /// Terms, quoted phrases and/or `%regex%` (including the empty pattern).
    Unstructured,
    /// `{ $.selector op value ... }`.
    Json,
    /// `[field, field = value, ...]`.
    SpaceDelimited,
}

#[derive(Debug)]
enum Matcher {
    Terms(Terms),
    Json(JsonPattern),
    Delimited(Delimited),
}

#[derive(Debug)]
struct Compiled {
    source: String,
    matcher: Matcher,
}

/// A compiled filter pattern. Cheap to clone (one `Arc`) and safe to share across threads.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    inner: Arc<Compiled>,
}

/// Compiles a filter pattern; shorthand for [`FilterPattern::compile`].
pub fn compile(pattern: &str) -> Result<FilterPattern, PatternError> {
    FilterPattern::compile(pattern)
}

impl FilterPattern {
    /// Compiles `pattern`, or returns where and why it is not a valid filter pattern.
    pub fn compile(pattern: &str) -> Result<FilterPattern, PatternError> {
        let chars = pattern.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(PatternError {
                offset: MAX_PATTERN_CHARS,
                message: format!(
                    "a filter pattern is at most {MAX_PATTERN_CHARS} characters long, this one has {chars}"
                ),
            });
        }
        let to_error = |e: nom::Err<PErr<'_>>| match e {
            nom::Err::Error(e) | nom::Err::Failure(e) => {
                PatternError::at_byte(pattern, pattern.len() - e.input.len(), e.message)
            }
            nom::Err::Incomplete(_) => {
                PatternError::at_byte(pattern, pattern.len(), "unexpected end of pattern")
            }
        };
        let body = pattern.trim_start();
        let (rest, matcher) = match body.as_bytes().first() {
            Some(b'{') => json::parse(body).map(|(r, m)| (r, Matcher::Json(m))),
            Some(b'[') => delimited::parse(body).map(|(r, m)| (r, Matcher::Delimited(m))),
            _ => terms::parse(body).map(|(r, m)| (r, Matcher::Terms(m))),
        }
        .map_err(to_error)?;
        let rest = rest.trim_start();
        if !rest.is_empty() {
            let what = if matches!(matcher, Matcher::Json(_)) { "`}`" } else { "`]`" };
            return Err(PatternError::at_byte(
                pattern,
                pattern.len() - rest.len(),
                format!("unexpected text after the closing {what}"),
            ));
        }
        let mut regexes: Vec<usize> = match &matcher {
            Matcher::Terms(t) => t.regex_starts.clone(),
            Matcher::Json(j) => j.regexes().iter().map(|r| r.rest_len).collect(),
            Matcher::Delimited(d) => d.regexes().iter().map(|r| r.rest_len).collect(),
        };
        if regexes.len() > MAX_REGEXES {
            regexes.sort_unstable_by(|a, b| b.cmp(a));
            return Err(PatternError::at_byte(
                pattern,
                pattern.len() - regexes[MAX_REGEXES],
                format!("a filter pattern may contain at most {MAX_REGEXES} regular expressions"),
            ));
        }
        Ok(FilterPattern { inner: Arc::new(Compiled { source: pattern.to_owned(), matcher }) })
    }

    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        match &self.inner.matcher {
            Matcher::Terms(t) => t.is_match(message),
            Matcher::Json(j) => j.parse_message(message).is_some_and(|doc| j.eval(&doc)),
            Matcher::Delimited(d) => d.run(message, None),
        }
    }

    /// Returns the values a metric filter can use if `message` matches, `None` otherwise.
    ///
    /// Space-delimited patterns extract every named field as `$name`. JSON patterns extract
    /// each selector the pattern names (without a wildcard) that points at a string, number or
    /// boolean, keyed as written (`$.latency`), and keep the message so that
    /// [`Extracted::get`] can resolve any other `$.path`. Unstructured patterns extract nothing.
    pub fn extract(&self, message: &str) -> Option<Extracted> {
        match &self.inner.matcher {
            Matcher::Terms(t) => t.is_match(message).then(Extracted::default),
            Matcher::Json(j) => {
                let doc = j.parse_message(message)?;
                if !j.eval(&doc) {
                    return None;
                }
                let values = j
                    .selectors
                    .iter()
                    .filter_map(|sel| {
                        Some((sel.text.clone(), scalar_text(sel, &doc)?.into_owned()))
                    })
                    .collect();
                Some(Extracted { values, json_message: Some(message.to_owned()) })
            }
            Matcher::Delimited(d) => {
                let mut values = Vec::new();
                let mut bind = |i, v: &str| values.push((format!("${}", d.name(i)), v.to_owned()));
                d.run(message, Some(&mut bind)).then_some(Extracted { values, json_message: None })
            }
        }
    }

    /// The index of the field `$name` of a space-delimited pattern, as
    /// [`FilterPattern::match_fields`] lends it; `None` for other keys and other forms.
    pub fn field_index(&self, key: &str) -> Option<usize> {
        let Matcher::Delimited(d) = &self.inner.matcher else { return None };
        let name = key.strip_prefix('$').filter(|n| !n.is_empty() && !n.starts_with('.'))?;
        (0..d.slots.len()).find(|&i| d.name(i) == name)
    }

    /// Whether `message` matches; on a match of a space-delimited pattern, lends each named
    /// field's value to `bind` with the field's index ([`FilterPattern::field_index`]). What
    /// [`FilterPattern::extract`] finds, without building owned names and values: the metric
    /// filter consumer's path for every matching line.
    pub fn match_fields<'m>(&self, message: &'m str, bind: &mut dyn FnMut(usize, &'m str)) -> bool {
        match &self.inner.matcher {
            Matcher::Delimited(d) => d.run(message, Some(bind)),
            _ => self.matches(message),
        }
    }

    /// Which form the pattern uses.
    pub fn kind(&self) -> PatternKind {
        match &self.inner.matcher {
            Matcher::Terms(_) => PatternKind::Unstructured,
            Matcher::Json(_) => PatternKind::Json,
            Matcher::Delimited(_) => PatternKind::SpaceDelimited,
        }
    }

    /// Whether the pattern matches every message (the empty pattern, `" "`).
    pub fn matches_everything(&self) -> bool {
        matches!(&self.inner.matcher, Matcher::Terms(t) if t.matches_everything())
    }

    /// For unstructured patterns, the words and phrases that every matching message contains
    /// (words on term boundaries, phrases anywhere). An index can skip blocks lacking any of
    /// them. Empty for other forms, and when only `?` terms or regexes are given.
    pub fn required_terms(&self) -> &[String] {
        match &self.inner.matcher {
            Matcher::Terms(t) => &t.required_text,
            _ => &[],
        }
    }

    /// Literal text that every matching message contains, for checking many patterns against
    /// a message in one pass (see [`LiteralHint`]). Unstructured patterns give one group per
    /// required term (a word, a phrase, or a regex's literal prefixes) and one for their `?`
    /// terms together; JSON and space-delimited patterns give none.
    pub fn literal_hint(&self) -> LiteralHint {
        match &self.inner.matcher {
            Matcher::Terms(t) => LiteralHint { groups: t.literal_groups() },
            _ => LiteralHint::default(),
        }
    }

    /// How many `%regex%` the pattern contains (CloudWatch allows at most 5 patterns with a
    /// regex per log group).
    pub fn regex_count(&self) -> usize {
        match &self.inner.matcher {
            Matcher::Terms(t) => t.regex_starts.len(),
            Matcher::Json(j) => j.regexes().len(),
            Matcher::Delimited(d) => d.regexes().len(),
        }
    }

    /// The pattern as given to [`FilterPattern::compile`].
    pub fn as_str(&self) -> &str {
        &self.inner.source
    }
}

impl fmt::Display for FilterPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.source)
    }
}

impl std::str::FromStr for FilterPattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FilterPattern::compile(s)
    }
}

/// What a message must contain to match a pattern: for each group, at least one of its
/// literals, anywhere (as bytes). A necessary condition only: a message that satisfies it may
/// still not match. A hint without groups rules nothing out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiteralHint {
    groups: Vec<Vec<String>>,
}

impl LiteralHint {
    /// The groups; every literal is non-empty.
    pub fn groups(&self) -> &[Vec<String>] {
        &self.groups
    }

    /// Whether the hint rules nothing out.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether `message` satisfies every group (searching each literal separately: a
    /// reference for one pattern; many patterns are better served by one multi-literal search).
    pub fn admits(&self, message: &str) -> bool {
        self.groups.iter().all(|g| {
            g.iter().any(|l| memchr::memmem::find(message.as_bytes(), l.as_bytes()).is_some())
        })
    }
}

/// The first string, number or boolean a selector points at, as text.
fn scalar_text<'d>(sel: &Selector, doc: &'d serde_json::Value) -> Option<Cow<'d, str>> {
    let mut found = None;
    sel.any(doc, &mut |v| {
        found = match v {
            serde_json::Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
            serde_json::Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        };
        found.is_some()
    });
    found
}

/// Values extracted from a matching message, for metric values and dimensions.
///
/// Keys are written as in a metric filter: `$name` for a space-delimited field, `$.path` for
/// a JSON selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    values: Vec<(String, String)>,
    /// The message, when it matched a JSON pattern, to resolve paths the pattern did not name.
    json_message: Option<String>,
}

impl Extracted {
    /// Returns the value for `$name` or `$.path`: first among the values the pattern named,
    /// then, for a JSON message, by resolving the selector on the message (the first string,
    /// number or boolean it points at; this parses the message again, down to that path).
    /// `None` if absent or not a scalar.
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        if let Some((_, v)) = self.values.iter().find(|(k, _)| k == key) {
            return Some(Cow::Borrowed(v));
        }
        let message = self.json_message.as_deref()?;
        let selector = Selector::parse_standalone(key)?;
        let mut projection = Projection::default();
        projection.insert(&selector.steps);
        let doc = json::parse_projected(&projection, message)?;
        scalar_text(&selector, &doc).map(|v| Cow::Owned(v.into_owned()))
    }

    /// The values the pattern named, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many values the pattern named.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the pattern named no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
