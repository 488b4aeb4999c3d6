//! JSON patterns: `{ selector op value && ... || ... }`.
//!
//! A message is parsed only if its first non-blank character is `{` or `[`; anything else fails
//! every JSON pattern without being parsed. The parse keeps only the paths the pattern's
//! selectors read (see `project.rs`).

use memchr::memmem::Finder;
use serde_json::Value as Json;

use super::parse::{Expr, PResult, fail, found, parse_expr, token, ws};
use super::project::Projection;
use super::regex::Re;
use super::value::{CmpOp, Comparison, Value, parse_comparison};

/// At most this many selectors with a wildcard in one pattern (CloudWatch's quota).
const MAX_WILDCARD_SELECTORS: usize = 3;

/// One step of a selector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
    /// `[*]` or `.*`: every element of an array or member of an object.
    Wildcard,
}

/// A parsed `$.a.b[0]` selector and its text as written.
#[derive(Debug, Clone)]
pub(crate) struct Selector {
    pub(crate) steps: Vec<Step>,
    pub(crate) text: String,
    /// Length of the remaining pattern at the `$`, to point errors at it.
    pub(crate) rest_len: usize,
}

impl Selector {
    /// Parses a selector used outside a pattern (a metric value such as `$.latency`).
    pub(crate) fn parse_standalone(text: &str) -> Option<Selector> {
        if !text.starts_with('$') {
            return None;
        }
        match parse_selector(text) {
            Ok((rest, sel)) if rest.trim().is_empty() => Some(sel),
            _ => None,
        }
    }

    fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::Wildcard)
    }

    /// Calls `f` on each value the selector points at until it returns true; returns whether
    /// it did.
    pub(crate) fn any<'v>(&self, doc: &'v Json, f: &mut impl FnMut(&'v Json) -> bool) -> bool {
        resolve(doc, &self.steps, f)
    }
}

fn resolve<'v>(v: &'v Json, steps: &[Step], f: &mut impl FnMut(&'v Json) -> bool) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return f(v);
    };
    match (step, v) {
        (Step::Key(k), Json::Object(map)) => map.get(k).is_some_and(|c| resolve(c, rest, f)),
        (Step::Index(i), Json::Array(items)) => items.get(*i).is_some_and(|c| resolve(c, rest, f)),
        (Step::Wildcard, Json::Array(items)) => items.iter().any(|c| resolve(c, rest, f)),
        (Step::Wildcard, Json::Object(map)) => map.values().any(|c| resolve(c, rest, f)),
        _ => false,
    }
}

/// What is tested at a selector.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Cmp(Comparison),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

/// `selector test`.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub(crate) selector: Selector,
    pub(crate) test: Test,
}

impl Condition {
    fn eval(&self, doc: &Json) -> bool {
        let sel = &self.selector;
        match &self.test {
            Test::NotExists => !sel.any(doc, &mut |_| true),
            Test::IsNull => sel.any(doc, &mut Json::is_null),
            Test::IsTrue => sel.any(doc, &mut |v| v.as_bool() == Some(true)),
            Test::IsFalse => sel.any(doc, &mut |v| v.as_bool() == Some(false)),
            Test::Cmp(cmp) => sel.any(doc, &mut |v| match v {
                Json::String(s) => cmp.test_text(s),
                Json::Number(n) => n.as_f64().is_some_and(|x| cmp.test_number(x, || n.to_string())),
                Json::Bool(b) => cmp.test_text(if *b { "true" } else { "false" }),
                // Null, objects and arrays never satisfy a comparison, not even `!=`.
                Json::Null | Json::Object(_) | Json::Array(_) => false,
            }),
        }
    }
}

/// A compiled JSON pattern.
#[derive(Debug, Clone)]
pub(crate) struct JsonPattern {
    pub(crate) expr: Expr<Condition>,
    projection: Projection,
    /// Text that every matching message contains verbatim unless it uses a backslash escape.
    prefilter: Vec<Finder<'static>>,
    /// The selectors named in the pattern (without wildcards), in order, without repeats.
    pub(crate) selectors: Vec<Selector>,
}

impl JsonPattern {
    /// Parses the message, down to the paths the pattern reads, if it is JSON.
    pub(crate) fn parse_message(&self, message: &str) -> Option<Json> {
        let bytes = message.as_bytes();
        if !self.prefilter.is_empty()
            && self.prefilter.iter().any(|f| f.find(bytes).is_none())
            && memchr::memchr(b'\\', bytes).is_none()
        {
            return None;
        }
        parse_projected(&self.projection, message)
    }

    pub(crate) fn eval(&self, doc: &Json) -> bool {
        self.expr.eval(&mut |c: &Condition| c.eval(doc))
    }

    pub(crate) fn regexes(&self) -> Vec<&Re> {
        let mut out = Vec::new();
        self.expr.for_each_leaf(&mut |c: &Condition| {
            if let Test::Cmp(cmp) = &c.test {
                out.extend(cmp.regex());
            }
        });
        out
    }
}

/// Parses a whole JSON pattern (input starts with `{`).
pub(crate) fn parse(input: &str) -> PResult<'_, JsonPattern> {
    let body = ws(&input[1..]);
    if body.starts_with('}') {
        return fail(body, "expected a condition such as `$.field = value` inside `{ }`");
    }
    let (rest, expr) = parse_expr(body, &mut parse_condition)?;
    let Some(rest) = token(rest, "}") else {
        let rest = ws(rest);
        return fail(rest, format!("expected `&&`, `||` or `}}` but found {}", found(rest)));
    };
    let mut wildcards = Vec::new();
    expr.for_each_leaf(&mut |c: &Condition| {
        if c.selector.has_wildcard() {
            wildcards.push(c);
        }
    });
    if wildcards.len() > MAX_WILDCARD_SELECTORS {
        // Point at the fourth selector with a wildcard.
        let at = wildcards[MAX_WILDCARD_SELECTORS].selector.rest_len;
        return fail(
            &input[input.len() - at..],
            format!("at most {MAX_WILDCARD_SELECTORS} selectors may use a wildcard in one pattern"),
        );
    }
    let mut projection = Projection::default();
    expr.for_each_leaf(&mut |c: &Condition| projection.insert(&c.selector.steps));
    let mut prefilter = Vec::new();
    required_literals(&expr, &mut prefilter);
    let mut selectors: Vec<Selector> = Vec::new();
    expr.for_each_leaf(&mut |c: &Condition| {
        if !c.selector.has_wildcard() && !selectors.iter().any(|s| s.text == c.selector.text) {
            selectors.push(c.selector.clone());
        }
    });
    Ok((rest, JsonPattern { expr, projection, prefilter, selectors }))
}

/// Collects literals that a matching message must contain: from conditions every match
/// satisfies (top-level `&&`), string equalities and wildcard pieces that cannot be the text of
/// a number (a number's text is reformatted, `1e3` compares as `1000`). A JSON string holds
/// them verbatim unless escaped, which the caller checks for.
fn required_literals(expr: &Expr<Condition>, out: &mut Vec<Finder<'static>>) {
    let not_numeric = |s: &[u8]| s.iter().any(|b| !b"0123456789.eE+-".contains(b));
    match expr {
        Expr::And(all) => all.iter().for_each(|e| required_literals(e, out)),
        Expr::Or(_) => {}
        Expr::Leaf(c) => {
            let lit: Option<&[u8]> = match &c.test {
                Test::Cmp(Comparison { op: CmpOp::Eq, value: Value::Exact(s) }) => {
                    Some(s.as_bytes())
                }
                Test::Cmp(Comparison { op: CmpOp::Eq, value: Value::Glob(g) }) => {
                    g.pieces().filter(|p| not_numeric(p)).max_by_key(|p| p.len())
                }
                _ => None,
            };
            if let Some(lit) = lit.filter(|l| not_numeric(l)) {
                out.push(Finder::new(lit).into_owned());
            }
        }
    }
}

/// Parses `message` through `projection` after the one-byte check that it can be JSON.
pub(crate) fn parse_projected(projection: &Projection, message: &str) -> Option<Json> {
    let trimmed = message.trim_start();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return None;
    }
    projection.parse(trimmed)
}

fn parse_condition(input: &str) -> PResult<'_, Condition> {
    let input = ws(input);
    if !input.starts_with('$') {
        return fail(
            input,
            format!("expected a selector starting with `$.` but found {}", found(input)),
        );
    }
    let (rest, selector) = parse_selector(input)?;
    let after = ws(rest);
    if let Some(r) = keyword(after, "IS") {
        let r2 = ws(r);
        for (kw, test) in [("NULL", Test::IsNull), ("TRUE", Test::IsTrue), ("FALSE", Test::IsFalse)]
        {
            if let Some(r3) = keyword(r2, kw) {
                return Ok((r3, Condition { selector, test }));
            }
        }
        if keyword(r2, "NOT").is_some() {
            return fail(
                r2,
                "`IS NOT` is not supported: use `!=`, or `NOT EXISTS` for a missing field",
            );
        }
        return fail(
            r2,
            format!("expected `NULL`, `TRUE` or `FALSE` after `IS` but found {}", found(r2)),
        );
    }
    if let Some(r) = keyword(after, "NOT") {
        let r2 = ws(r);
        return match keyword(r2, "EXISTS") {
            Some(r3) => Ok((r3, Condition { selector, test: Test::NotExists })),
            None => fail(r2, format!("expected `EXISTS` after `NOT` but found {}", found(r2))),
        };
    }
    if keyword(after, "EXISTS").is_some() {
        return fail(
            after,
            "`EXISTS` is not supported: use `= *` to require a field, or `NOT EXISTS`",
        );
    }
    match parse_comparison(after) {
        Some(res) => {
            let (rest, cmp) = res?;
            Ok((rest, Condition { selector, test: Test::Cmp(cmp) }))
        }
        None => fail(
            after,
            format!(
                "expected an operator (`=`, `!=`, `<`, `<=`, `>`, `>=`), `IS` or `NOT EXISTS` after the selector but found {}",
                found(after)
            ),
        ),
    }
}

/// Matches a keyword, case-insensitively, followed by a non-word character.
fn keyword<'a>(input: &'a str, kw: &str) -> Option<&'a str> {
    let head = input.get(..kw.len())?;
    let rest = &input[kw.len()..];
    (head.eq_ignore_ascii_case(kw) && !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        .then_some(rest)
}

/// Characters that end a key in dot notation.
fn ends_key(c: char) -> bool {
    c.is_whitespace() || ".[]=!<>&|()}\"'%,".contains(c)
}

/// Parses `$` followed by `.key`, `.*`, `[n]`, `[*]`, `['key']` or `.['key']` steps.
pub(crate) fn parse_selector(input: &str) -> PResult<'_, Selector> {
    let mut rest = &input[1..];
    let mut steps = Vec::new();
    let mut wildcards = 0;
    loop {
        let step_at = rest;
        let step = if let Some(r) = rest.strip_prefix('.') {
            if let Some(r2) = r.strip_prefix('*') {
                rest = r2;
                Step::Wildcard
            } else if r.starts_with('[') {
                let (r2, step) = bracket(r)?;
                rest = r2;
                step
            } else {
                let end = r.find(ends_key).unwrap_or(r.len());
                if end == 0 {
                    return fail(r, format!("expected a key after `.` but found {}", found(r)));
                }
                rest = &r[end..];
                Step::Key(r[..end].to_owned())
            }
        } else if rest.starts_with('[') {
            let (r2, step) = bracket(rest)?;
            rest = r2;
            step
        } else {
            break;
        };
        if step == Step::Wildcard {
            wildcards += 1;
            if wildcards > 1 {
                return fail(step_at, "a selector may contain at most one wildcard");
            }
        }
        steps.push(step);
    }
    if steps.is_empty() {
        return fail(rest, format!("expected `.` or `[` after `$` but found {}", found(rest)));
    }
    let text = input[..input.len() - rest.len()].to_owned();
    Ok((rest, Selector { steps, text, rest_len: input.len() }))
}

/// Parses `[n]`, `[*]`, `['key']` or `["key"]`.
fn bracket(input: &str) -> PResult<'_, Step> {
    let inner = &input[1..];
    let (rest, step) = if let Some(r) = inner.strip_prefix('*') {
        (r, Step::Wildcard)
    } else if let Some(q @ ('\'' | '"')) = inner.chars().next() {
        let Some(end) = inner[1..].find(q) else {
            return fail(inner, format!("expected `{q}` to close the key"));
        };
        (&inner[end + 2..], Step::Key(inner[1..end + 1].to_owned()))
    } else {
        let end = inner.find(|c: char| !c.is_ascii_digit()).unwrap_or(inner.len());
        let Ok(i) = inner[..end].parse::<usize>() else {
            return fail(
                inner,
                format!(
                    "expected an index, `*` or a quoted key after `[` but found {}",
                    found(inner)
                ),
            );
        };
        (&inner[end..], Step::Index(i))
    };
    match rest.strip_prefix(']') {
        Some(r) => Ok((r, step)),
        None => fail(rest, format!("expected `]` but found {}", found(rest))),
    }
}
