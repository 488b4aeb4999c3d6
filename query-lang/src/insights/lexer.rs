//! Tokens, parsed on demand straight from the text (there is no token vector).
//!
//! Every parser here expects to start on a token, not on whitespace, and skips the whitespace
//! and comments after what it reads. So a failure always points at the start of the
//! offending token, and failed attempts never rescan whitespace.
//!
//! Reading tokens on demand is what lets `/` be division after an operand but a regex after
//! `like`, `=~` or a `parse` field, without the lexer guessing from the previous token.

use nom::Err;

use super::ast::{Field, Literal, Period, Regex, TimeUnit};
use super::error::{Error, Label};

/// Result of a parser in this module and in the grammar.
pub(crate) type PResult<'a, T> = nom::IResult<&'a str, T, Error<'a>>;

/// Words that can't be a bare field name where an expression is expected, because they are
/// operators there. Backticks make them names again: `` `in` ``.
pub(crate) const RESERVED: [&str; 5] = ["and", "or", "not", "in", "like"];

/// Skips whitespace and `#` comments (which run to the end of the line).
pub(crate) fn ws(mut i: &str) -> &str {
    loop {
        let trimmed = i.trim_start();
        match trimmed.strip_prefix('#') {
            Some(comment) => {
                i = comment.find('\n').map_or("", |newline| &comment[newline..]);
            }
            None => return trimmed,
        }
    }
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits a leading run of characters matching `pred`.
fn split_while(i: &str, pred: impl Fn(char) -> bool) -> (&str, &str) {
    let end = i.find(|c: char| !pred(c)).unwrap_or(i.len());
    i.split_at(end)
}

/// A bare identifier `[A-Za-z_][A-Za-z0-9_]*`, without skipping whitespace after it.
pub(crate) fn ident_raw(i: &str) -> Option<(&str, &str)> {
    if !i.starts_with(is_ident_start) {
        return None;
    }
    Some(split_while(i, is_ident_char))
}

/// A bare identifier, then whitespace.
pub(crate) fn ident(i: &str) -> Option<(&str, &str)> {
    ident_raw(i).map(|(word, rest)| (word, ws(rest)))
}

/// The bare word at `i` if it is a whole token: not the first segment of a dotted name
/// such as `logfmt.level`.
fn word(i: &str) -> Option<(&str, &str)> {
    let (w, rest) = ident_raw(i)?;
    let continues_name = rest
        .strip_prefix('.')
        .is_some_and(|after| after.starts_with(|c: char| is_ident_char(c) || c == '`'));
    if continues_name { None } else { Some((w, rest)) }
}

/// Returns true if the next token is the keyword `word` (ASCII case ignored).
pub(crate) fn at_keyword(i: &str, word: &str) -> bool {
    self::word(i).is_some_and(|(w, _)| w.eq_ignore_ascii_case(word))
}

/// The keyword `word` (ASCII case ignored), then whitespace.
pub(crate) fn keyword<'a>(i: &'a str, word: &'static str) -> PResult<'a, &'a str> {
    match self::word(i) {
        Some((w, rest)) if w.eq_ignore_ascii_case(word) => Ok((ws(rest), w)),
        _ => Err(Err::Error(Error::expected(i, Label::Token(word)))),
    }
}

/// The symbol `sym`, then whitespace.
pub(crate) fn punct<'a>(i: &'a str, sym: &'static str) -> PResult<'a, ()> {
    match i.strip_prefix(sym) {
        Some(rest) => Ok((ws(rest), ())),
        None => Err(Err::Error(Error::expected(i, Label::Token(sym)))),
    }
}

/// The contents of a backtick-quoted name starting at `i` (on the opening backtick), and
/// the text after the closing one. A doubled backtick stands for one backtick.
fn backticked(i: &str) -> PResult<'_, String> {
    let body = &i[1..];
    let mut name = String::new();
    let mut chars = body.char_indices();
    while let Some((pos, c)) = chars.next() {
        if c != '`' {
            name.push(c);
            continue;
        }
        if body[pos + 1..].starts_with('`') {
            name.push('`');
            chars.next();
            continue;
        }
        if name.is_empty() {
            return Err(Err::Failure(Error::message(i, pos + 2, "empty name in backticks")));
        }
        return Ok((&body[pos + 1..], name));
    }
    Err(Err::Failure(Error::message(i, i.len(), "unterminated name: missing closing backtick")))
}

/// One segment after a dot: `[A-Za-z0-9_]+` or a backtick name. No whitespace is skipped.
fn segment_raw(i: &str) -> PResult<'_, String> {
    if i.starts_with('`') {
        return backticked(i);
    }
    let (seg, rest) = split_while(i, is_ident_char);
    if seg.is_empty() {
        return Err(Err::Error(Error::expected(i, Label::Thing("a name"))));
    }
    Ok((rest, seg.to_string()))
}

/// A key after `.` in `expr.key`, then whitespace.
pub(crate) fn key(i: &str) -> PResult<'_, String> {
    let (rest, seg) = segment_raw(i)?;
    Ok((ws(rest), seg))
}

/// A field name (`a.b.c`, `@timestamp`, `` `foo-bar` ``, ``@`a:b` ``, ``m.`k.x` ``), then
/// whitespace. Also returns the bare identifier when the name is a single one, for the
/// callers that treat those specially (function calls, reserved words).
pub(crate) fn field_name(i: &str) -> PResult<'_, (Field, Option<&str>)> {
    let (mut rest, first, bare) = if let Some(after_at) = i.strip_prefix('@') {
        if after_at.starts_with('`') {
            let (rest, name) = backticked(after_at)?;
            (rest, format!("@{name}"), None)
        } else {
            let (name, rest) = split_while(after_at, is_ident_char);
            if name.is_empty() {
                return Err(Err::Failure(Error::message(
                    i,
                    1,
                    "expected a name after `@`, such as `@message`",
                )));
            }
            (rest, format!("@{name}"), None)
        }
    } else if i.starts_with('`') {
        let (rest, name) = backticked(i)?;
        (rest, name, None)
    } else if let Some((word, rest)) = ident_raw(i) {
        (rest, word.to_string(), Some(word))
    } else {
        return Err(Err::Error(Error::expected(i, Label::Thing("a field name"))));
    };
    let mut segments = vec![first];
    let mut bare = bare;
    // A dot continues the name only when a segment follows right after it; otherwise it is
    // left for the caller (`(a).b`, or an error there).
    while let Some(after_dot) = rest.strip_prefix('.') {
        match segment_raw(after_dot) {
            Ok((after, seg)) => {
                segments.push(seg);
                rest = after;
                bare = None;
            }
            Err(Err::Error(_)) => break,
            Err(e) => return Err(e),
        }
    }
    Ok((ws(rest), (Field(segments), bare)))
}

/// A number or a time period (`42`, `1.5`, `2e10`, `5m`, `30secs`), then whitespace.
pub(crate) fn number(i: &str) -> PResult<'_, Literal> {
    let (digits, mut rest) = split_while(i, |c| c.is_ascii_digit());
    if digits.is_empty() {
        return Err(Err::Error(Error::expected(i, Label::Thing("a number"))));
    }
    let mut is_float = false;
    if let Some(frac) = rest.strip_prefix('.')
        && frac.starts_with(|c: char| c.is_ascii_digit())
    {
        rest = split_while(frac, |c| c.is_ascii_digit()).1;
        is_float = true;
    }
    if let Some(exp) = rest.strip_prefix(['e', 'E']) {
        let exp_digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if exp_digits.starts_with(|c: char| c.is_ascii_digit()) {
            rest = split_while(exp_digits, |c| c.is_ascii_digit()).1;
            is_float = true;
        }
    }
    let number_len = i.len() - rest.len();
    let text = &i[..number_len];
    let (unit, after) = split_while(rest, is_ident_char);
    let token_len = number_len + unit.len();
    if !unit.is_empty() {
        let Some(unit) = TimeUnit::from_spelling(unit) else {
            return Err(Err::Failure(Error::message(
                i,
                token_len,
                format!(
                    "unknown time unit `{unit}`, expected one of ms, s, m, h, d, w, mo, q, y \
                     (or a spelling such as `min`, `hours`)"
                ),
            )));
        };
        let amount = match (is_float, text.parse::<u64>()) {
            (false, Ok(amount)) => amount,
            (true, _) => {
                return Err(Err::Failure(Error::message(
                    i,
                    token_len,
                    "a time period needs a whole number, such as `90s`",
                )));
            }
            (false, Err(_)) => return Err(too_large(i, token_len)),
        };
        return Ok((ws(after), Literal::Period(Period { amount, unit })));
    }
    let literal = if is_float {
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Literal::Float(value),
            _ => return Err(too_large(i, token_len)),
        }
    } else {
        match text.parse::<u64>() {
            Ok(value) => Literal::Int(value),
            Err(_) => return Err(too_large(i, token_len)),
        }
    };
    Ok((ws(after), literal))
}

fn too_large(i: &str, len: usize) -> Err<Error<'_>> {
    Err::Failure(Error::message(i, len, "number too large"))
}

/// A single- or double-quoted string, then whitespace.
///
/// Escapes: `\\`, `\"`, `\'`, `\n`, `\t`, `\r`. Any other backslash is kept as written, so
/// `"\d+"` means backslash-d-plus, as users of regex-taking functions expect.
pub(crate) fn string(i: &str) -> PResult<'_, String> {
    let Some(quote) = i.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return Err(Err::Error(Error::expected(i, Label::Thing("a string"))));
    };
    let mut value = String::new();
    let mut chars = i[1..].char_indices();
    while let Some((pos, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, e @ ('\\' | '"' | '\''))) => value.push(e),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => break,
            },
            c if c == quote => return Ok((ws(&i[1 + pos + 1..]), value)),
            c => value.push(c),
        }
    }
    Err(Err::Failure(Error::message(
        i,
        i.len(),
        format!("unterminated string: missing closing {quote}"),
    )))
}

/// A `/regex/` literal, then whitespace. The regex is checked with the `regex` crate's
/// syntax, so a bad one fails here with a span inside it.
pub(crate) fn regex(i: &str) -> PResult<'_, Regex> {
    let Some(body) = i.strip_prefix('/') else {
        return Err(Err::Error(Error::expected(i, Label::Thing("a regex"))));
    };
    let mut chars = body.char_indices();
    let mut close = None;
    while let Some((pos, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '/' => {
                close = Some(pos);
                break;
            }
            _ => {}
        }
    }
    let Some(close) = close else {
        return Err(Err::Failure(Error::message(
            i,
            i.len(),
            "unterminated regex: missing closing /",
        )));
    };
    let pattern = &body[..close];
    if let Err(err) = regex_syntax::Parser::new().parse(pattern) {
        let (span, kind) = match &err {
            regex_syntax::Error::Parse(e) => (*e.span(), e.kind().to_string()),
            regex_syntax::Error::Translate(e) => (*e.span(), e.kind().to_string()),
            _ => (
                regex_syntax::ast::Span::splat(regex_syntax::ast::Position::new(0, 1, 1)),
                err.to_string(),
            ),
        };
        let start = (1 + span.start.offset).min(i.len());
        let len = span.end.offset.saturating_sub(span.start.offset).max(1);
        return Err(Err::Failure(Error::message(
            &i[start..],
            len,
            format!("invalid regex: {kind}"),
        )));
    }
    Ok((ws(&body[close + 1..]), Regex { pattern: pattern.to_string() }))
}

/// Measures the token at `i` for error messages: its byte length and how to name it.
pub(crate) fn describe_token(i: &str) -> (usize, String) {
    let Some(first) = i.chars().next() else {
        return (0, "end of query".to_string());
    };
    let len = if first == '"' || first == '\'' {
        let len = string(i).map_or(i.len(), |(rest, _)| token_len(i, rest));
        return (len, "a string".to_string());
    } else if first == '@' || first == '`' || is_ident_start(first) {
        match field_name(i) {
            Ok((rest, _)) => i.len() - rest.len(),
            Err(_) => i.len(),
        }
    } else if first.is_ascii_digit() {
        split_while(i, |c| is_ident_char(c) || c == '.').0.len()
    } else {
        ["!=", "<=", ">=", "=~"]
            .iter()
            .find(|op| i.starts_with(**op))
            .map_or(first.len_utf8(), |op| op.len())
    };
    let text = i[..len].trim_end();
    let shown: String = text.chars().take(40).collect();
    let ellipsis = if shown.len() < text.len() { "..." } else { "" };
    (text.len(), format!("`{shown}{ellipsis}`"))
}

/// The length of the token from `start` to `after`, without the whitespace that follows it.
pub(crate) fn token_len(start: &str, after: &str) -> usize {
    start[..start.len() - after.len()].trim_end().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_and_comments() {
        assert_eq!(ws("  # note\n  # more\nfields"), "fields");
        assert_eq!(ws("# only a comment"), "");
        assert_eq!(ws("\t\r\n x"), "x");
    }

    #[test]
    fn field_names() {
        let name = |s| field_name(s).map(|(rest, (f, _))| (f.0, rest.len()));
        assert_eq!(name("a.b.c x"), Ok((vec!["a".into(), "b".into(), "c".into()], 1)));
        assert_eq!(name("@`a:b`"), Ok((vec!["@a:b".into()], 0)));
        assert_eq!(name("m.`k.x`"), Ok((vec!["m".into(), "k.x".into()], 0)));
        assert_eq!(name("items.0.id"), Ok((vec!["items".into(), "0".into(), "id".into()], 0)));
        assert_eq!(name("`a``b`"), Ok((vec!["a`b".into()], 0)));
        assert_eq!(name("a. b"), Ok((vec!["a".into()], 3)));
    }

    #[test]
    fn numbers() {
        let num = |s| number(s).map(|(_, l)| l);
        assert_eq!(num("42"), Ok(Literal::Int(42)));
        assert_eq!(num("1.5"), Ok(Literal::Float(1.5)));
        assert_eq!(num("2e3"), Ok(Literal::Float(2000.0)));
        assert_eq!(num("2E-1"), Ok(Literal::Float(0.2)));
        assert_eq!(num("5m"), Ok(Literal::Period(Period { amount: 5, unit: TimeUnit::Minute })));
        assert_eq!(num("3hrs"), Ok(Literal::Period(Period { amount: 3, unit: TimeUnit::Hour })));
        assert!(num("5x").is_err());
        assert!(num("1.5h").is_err());
        assert!(num("99999999999999999999").is_err());
    }

    #[test]
    fn strings() {
        let s = |s| string(s).map(|(_, v)| v);
        assert_eq!(s(r#""a\"b""#), Ok("a\"b".to_string()));
        assert_eq!(s(r"'it\'s'"), Ok("it's".to_string()));
        assert_eq!(s(r#""\d+\n""#), Ok("\\d+\n".to_string()));
        assert!(s("\"open").is_err());
    }
}
