//! Unstructured patterns: terms, quoted phrases, `%regex%`, `?` alternatives, `-` exclusions.
//!
//! Each term is compiled once: words and phrases into a prebuilt `memchr::memmem::Finder`,
//! regexes into a `regex::Regex`. Matching an event allocates nothing.

use memchr::memmem::Finder;

use super::parse::{PResult, fail, ws};
use super::regex::{Re, parse_regex};

/// One searchable term.
#[derive(Debug, Clone)]
pub(crate) enum Needle {
    /// An unquoted term: its text must occur with no letter or digit directly before it (if it
    /// starts with one) or directly after it (if it ends with one).
    Word { finder: Finder<'static>, check_before: bool, check_after: bool },
    /// A quoted phrase: its exact text anywhere.
    Phrase(Finder<'static>),
    /// `%regex%`, searched anywhere.
    Regex(Re),
    /// A blank phrase (`" "`), which CloudWatch documents as matching everything.
    Always,
}

impl Needle {
    fn word(text: &str) -> Needle {
        Needle::Word {
            finder: Finder::new(text.as_bytes()).into_owned(),
            check_before: text.chars().next().is_some_and(char::is_alphanumeric),
            check_after: text.chars().next_back().is_some_and(char::is_alphanumeric),
        }
    }

    /// Literals one of which every message this needle matches contains; `None` when there
    /// is no such set (a blank phrase, a regex without usable literals).
    fn literals(&self) -> Option<Vec<String>> {
        match self {
            Needle::Word { finder, .. } | Needle::Phrase(finder) => {
                Some(vec![std::str::from_utf8(finder.needle()).ok()?.to_owned()])
            }
            Needle::Regex(re) => re.literals(),
            Needle::Always => None,
        }
    }

    pub(crate) fn is_match(&self, message: &str) -> bool {
        match self {
            Needle::Word { finder, check_before, check_after } => {
                let bytes = message.as_bytes();
                let len = finder.needle().len();
                let mut from = 0;
                // A hit that fails the boundary check may be followed by one that passes
                // (`ab.ab` in `xab.ab.ab`), so the search resumes one byte later.
                while let Some(pos) = finder.find(&bytes[from..]) {
                    let start = from + pos;
                    let end = start + len;
                    let glued = (*check_before && alnum_before(message, start))
                        || (*check_after && alnum_after(message, end));
                    if !glued {
                        return true;
                    }
                    from = start + 1;
                }
                false
            }
            Needle::Phrase(finder) => finder.find(message.as_bytes()).is_some(),
            Needle::Regex(re) => re.regex.is_match(message),
            Needle::Always => true,
        }
    }
}

/// Whether the character ending at byte `i` is a letter or digit. `i` is a char boundary
/// because the needle is valid UTF-8 found in valid UTF-8.
fn alnum_before(s: &str, i: usize) -> bool {
    match s.as_bytes()[..i].last() {
        None => false,
        Some(&b) if b.is_ascii() => b.is_ascii_alphanumeric(),
        Some(_) => s[..i].chars().next_back().is_some_and(char::is_alphanumeric),
    }
}

/// Whether the character starting at byte `i` is a letter or digit.
fn alnum_after(s: &str, i: usize) -> bool {
    match s.as_bytes().get(i) {
        None => false,
        Some(&b) if b.is_ascii() => b.is_ascii_alphanumeric(),
        Some(_) => s[i..].chars().next().is_some_and(char::is_alphanumeric),
    }
}

/// A compiled unstructured pattern.
#[derive(Debug, Clone, Default)]
pub(crate) struct Terms {
    /// All must match.
    pub(crate) required: Vec<Needle>,
    /// At least one must match; empty when there are required terms (CloudWatch then ignores
    /// the `?` terms) or none were given.
    pub(crate) any: Vec<Needle>,
    /// None may match.
    pub(crate) excluded: Vec<Needle>,
    /// Text of the required words and phrases, for index pruning.
    pub(crate) required_text: Vec<String>,
    /// Where every `%regex%` written starts (as bytes left of the input), counted while
    /// parsing: `?` regexes dropped beside required terms count against the limit too.
    pub(crate) regex_starts: Vec<usize>,
}

impl Terms {
    pub(crate) fn is_match(&self, message: &str) -> bool {
        self.required.iter().all(|n| n.is_match(message))
            && (self.any.is_empty() || self.any.iter().any(|n| n.is_match(message)))
            && !self.excluded.iter().any(|n| n.is_match(message))
    }

    /// Groups of literals, one of each group in every matching message: one group per required
    /// term, and one for the `?` terms together when each of them has literals.
    pub(crate) fn literal_groups(&self) -> Vec<Vec<String>> {
        let mut groups: Vec<Vec<String>> =
            self.required.iter().filter_map(Needle::literals).collect();
        if !self.any.is_empty()
            && let Some(any) = self.any.iter().map(Needle::literals).collect::<Option<Vec<_>>>()
        {
            groups.push(any.concat());
        }
        groups
    }

    /// Whether every message matches (the empty pattern, `" "`).
    pub(crate) fn matches_everything(&self) -> bool {
        self.required.iter().all(|n| matches!(n, Needle::Always))
            && (self.any.is_empty() || self.any.iter().any(|n| matches!(n, Needle::Always)))
            && self.excluded.is_empty()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Required,
    Optional,
    Excluded,
}

/// Parses a whole unstructured pattern.
pub(crate) fn parse(input: &str) -> PResult<'_, Terms> {
    let mut terms = Terms::default();
    let mut optional = Vec::new();
    let mut rest = ws(input);
    while !rest.is_empty() {
        let (role, body) = match rest.as_bytes()[0] {
            b'?' => (Role::Optional, &rest[1..]),
            b'-' => (Role::Excluded, &rest[1..]),
            _ => (Role::Required, rest),
        };
        if body.is_empty() || body.starts_with(char::is_whitespace) {
            let sign = &rest[..1];
            return fail(
                body,
                format!("expected a term, a quoted phrase or a regex after `{sign}`"),
            );
        }
        let (after, needle, text) = match body.as_bytes()[0] {
            b'"' => {
                let (after, phrase) = quoted(body)?;
                if phrase.trim().is_empty() {
                    (after, Needle::Always, None)
                } else {
                    (
                        after,
                        Needle::Phrase(Finder::new(phrase.as_bytes()).into_owned()),
                        Some(phrase),
                    )
                }
            }
            b'%' => {
                let (after, re) = parse_regex(body)?;
                terms.regex_starts.push(re.rest_len);
                (after, Needle::Regex(re), None)
            }
            _ => {
                let end = body.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(body.len());
                let word = &body[..end];
                (&body[end..], Needle::word(word), Some(word.to_owned()))
            }
        };
        match role {
            Role::Required => {
                terms.required_text.extend(text);
                terms.required.push(needle);
            }
            Role::Optional => optional.push(needle),
            Role::Excluded => terms.excluded.push(needle),
        }
        rest = ws(after);
    }
    if terms.required.is_empty() {
        terms.any = optional;
    }
    Ok((rest, terms))
}

/// Parses a quoted phrase; `\"` and `\\` escape themselves, other backslashes are literal.
fn quoted(input: &str) -> PResult<'_, String> {
    let mut out = String::new();
    let mut chars = input.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((&input[i + 1..], out)),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                Some((_, e)) => {
                    out.push('\\');
                    out.push(e);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    fail(input, "expected `\"` to close the quoted phrase")
}
