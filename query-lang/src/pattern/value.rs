//! The right-hand side of a comparison, shared by JSON and space-delimited patterns: an exact
//! string, a `*` wildcard, a `%regex%` or a number, and the operator that applies it.

use memchr::memmem;

use super::parse::{PResult, fail, found, ws};
use super::regex::{Re, parse_regex};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Applies the operator to two numbers.
    pub(crate) fn numbers(self, x: f64, y: f64) -> bool {
        match self {
            CmpOp::Eq => x == y,
            CmpOp::Ne => x != y,
            CmpOp::Lt => x < y,
            CmpOp::Le => x <= y,
            CmpOp::Gt => x > y,
            CmpOp::Ge => x >= y,
        }
    }
}

/// What a value is compared with.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// `*`: any value.
    Any,
    /// A string without wildcards: equality.
    Exact(String),
    /// A string with `*` wildcards, matched against the whole value.
    Glob(Glob),
    /// `%regex%`, searched anywhere in the value.
    Regex(Re),
    /// A numeric literal such as `200`, `-1.5` or `1e-3`.
    Number(f64),
}

/// `op value`.
#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    pub(crate) op: CmpOp,
    pub(crate) value: Value,
}

impl Comparison {
    /// Tests a textual value (a space-delimited field, a JSON string, the text of a JSON number
    /// or boolean). Ordering operators, and `=`/`!=` with a number, compare numerically and a
    /// value that is not a number fails `=` and passes `!=`.
    pub(crate) fn test_text(&self, text: &str) -> bool {
        match self.op {
            CmpOp::Eq => self.equals(text),
            CmpOp::Ne => !self.equals(text),
            op => match self.value {
                Value::Number(n) => parse_number(text).is_some_and(|x| op.numbers(x, n)),
                // The parser only accepts numbers after an ordering operator.
                _ => false,
            },
        }
    }

    fn equals(&self, text: &str) -> bool {
        match &self.value {
            Value::Any => true,
            Value::Exact(s) => s == text,
            Value::Glob(g) => g.is_match(text),
            Value::Regex(re) => re.regex.is_match(text),
            Value::Number(n) => parse_number(text).is_some_and(|x| x == *n),
        }
    }

    /// Tests a number; only stringifies it when compared with a string, wildcard or regex.
    pub(crate) fn test_number(&self, x: f64, text: impl FnOnce() -> String) -> bool {
        match (&self.value, self.op) {
            (Value::Number(n), op) => op.numbers(x, *n),
            (Value::Any, CmpOp::Eq) => true,
            (Value::Any, _) => false,
            _ => self.test_text(&text()),
        }
    }

    /// The regex in this comparison, if any.
    pub(crate) fn regex(&self) -> Option<&Re> {
        match &self.value {
            Value::Regex(re) => Some(re),
            _ => None,
        }
    }
}

/// A `*` wildcard pattern: a prefix, a suffix and literal pieces that must appear in order
/// between them. Matching is linear (each piece is found leftmost, which is optimal for `*`).
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    prefix: String,
    suffix: String,
    middle: Vec<memmem::Finder<'static>>,
}

impl Glob {
    /// Builds a glob from the literal pieces between stars (`pieces.len() >= 2`).
    fn value(pieces: Vec<String>) -> Value {
        if pieces.iter().all(String::is_empty) {
            return Value::Any;
        }
        let n = pieces.len();
        let middle = pieces[1..n - 1]
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| memmem::Finder::new(p.as_bytes()).into_owned())
            .collect();
        Value::Glob(Glob { prefix: pieces[0].clone(), suffix: pieces[n - 1].clone(), middle })
    }

    /// The literal pieces a matching value contains.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        [self.prefix.as_bytes(), self.suffix.as_bytes()]
            .into_iter()
            .chain(self.middle.iter().map(|f| f.needle()))
    }

    pub(crate) fn is_match(&self, s: &str) -> bool {
        let s = s.as_bytes();
        if s.len() < self.prefix.len() + self.suffix.len()
            || !s.starts_with(self.prefix.as_bytes())
            || !s.ends_with(self.suffix.as_bytes())
        {
            return false;
        }
        let mut rest = &s[self.prefix.len()..s.len() - self.suffix.len()];
        for piece in &self.middle {
            match piece.find(rest) {
                Some(i) => rest = &rest[i + piece.needle().len()..],
                None => return false,
            }
        }
        true
    }
}

/// Parses a number the way patterns write them: optional sign, digits with an optional
/// fraction, optional exponent. `inf`, `NaN` and hex are not numbers.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let (rest, _) =
        nom::number::complete::recognize_float::<_, nom::error::Error<&str>>(text).ok()?;
    if rest.is_empty() { text.parse().ok() } else { None }
}

/// Characters that end an unquoted value.
fn ends_bare(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | ')' | '(' | ']' | '}' | '&' | '|' | '"')
}

/// Parses `op value` (after optional whitespace), or returns `None` if no operator follows.
pub(crate) fn parse_comparison(input: &str) -> Option<PResult<'_, Comparison>> {
    let input = ws(input);
    let (op, len) = if input.starts_with("==") {
        return Some(fail(input, "`==` is not an operator: use `=`"));
    } else if input.starts_with("!=") {
        (CmpOp::Ne, 2)
    } else if input.starts_with("<=") {
        (CmpOp::Le, 2)
    } else if input.starts_with(">=") {
        (CmpOp::Ge, 2)
    } else if input.starts_with('=') {
        (CmpOp::Eq, 1)
    } else if input.starts_with('<') {
        (CmpOp::Lt, 1)
    } else if input.starts_with('>') {
        (CmpOp::Gt, 1)
    } else {
        return None;
    };
    Some(parse_value(&input[len..], op).map(|(rest, value)| (rest, Comparison { op, value })))
}

/// Parses the value after `op`.
fn parse_value(input: &str, op: CmpOp) -> PResult<'_, Value> {
    let input = ws(input);
    let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
    let (rest, value) = match input.chars().next() {
        Some('%') => {
            let (rest, re) = parse_regex(input)?;
            (rest, Value::Regex(re))
        }
        Some('"') => parse_quoted(input)?,
        Some(c) if !ends_bare(c) => {
            let end = input.find(ends_bare).unwrap_or(input.len());
            let bare = &input[..end];
            let value = match parse_number(bare) {
                Some(n) => Value::Number(n),
                None if bare.contains('*') => {
                    Glob::value(bare.split('*').map(str::to_owned).collect())
                }
                None => Value::Exact(bare.to_owned()),
            };
            (&input[end..], value)
        }
        _ => {
            return fail(
                input,
                format!("expected a value after `{}` but found {}", op.symbol(), found(input)),
            );
        }
    };
    if ordering && !matches!(value, Value::Number(_)) {
        return fail(input, format!("`{}` compares numbers: expected a number", op.symbol()));
    }
    Ok((rest, value))
}

/// Parses a double-quoted string. `\"` and `\\` escape themselves, `\*` is a literal star and
/// an unescaped `*` is a wildcard; any other backslash is kept as is.
fn parse_quoted(input: &str) -> PResult<'_, Value> {
    let mut pieces = vec![String::new()];
    let mut chars = input.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let value = if pieces.len() == 1 {
                    Value::Exact(pieces.remove(0))
                } else {
                    Glob::value(pieces)
                };
                return Ok((&input[i + 1..], value));
            }
            '*' => pieces.push(String::new()),
            _ => {
                let Some(cur) = pieces.last_mut() else { break };
                if c == '\\' {
                    match chars.next() {
                        Some((_, e @ ('"' | '\\' | '*'))) => cur.push(e),
                        Some((_, e)) => {
                            cur.push('\\');
                            cur.push(e);
                        }
                        None => break,
                    }
                } else {
                    cur.push(c);
                }
            }
        }
    }
    fail(input, "expected `\"` to close the string")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(src: &str) -> Comparison {
        parse_comparison(src).unwrap().unwrap().1
    }

    #[test]
    fn numbers() {
        for (s, n) in [("1", 1.0), ("-1.5", -1.5), ("1e-3", 0.001), ("2E+2", 200.0), (".5", 0.5)] {
            assert_eq!(parse_number(s), Some(n), "{s}");
        }
        for s in ["", "-", "e3", "1e", "inf", "NaN", "0x10", "1.2.3", "12a", "."] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }

    #[test]
    fn values() {
        assert!(cmp("= 4*").test_text("404"));
        assert!(!cmp("= 4*").test_text("504"));
        assert!(cmp("= *.html*").test_text("GET /index.html HTTP/1.0"));
        assert!(cmp("= \"a*b*c\"").test_text("aXbYc"));
        assert!(!cmp("= \"a*b*c\"").test_text("acb"));
        assert!(cmp("= \"a\\*\"").test_text("a*"));
        assert!(!cmp("= \"a\\*\"").test_text("ab"));
        assert!(cmp("= *").test_text(""));
        assert!(cmp("= 404").test_text("404.0"));
        assert!(cmp("!= 404").test_text("abc"));
        assert!(cmp("> 1e3").test_text("1001"));
        assert!(!cmp("> 1e3").test_text("abc"));
        assert!(cmp("= ab*ab").test_text("abab"));
        assert!(!cmp("= ab*ab").test_text("aba"));
    }
}
