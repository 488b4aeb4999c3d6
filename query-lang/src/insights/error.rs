//! Parse errors: the public [`ParseError`] and the parser-internal error that nom threads
//! through its combinators.

use std::fmt;

/// A malformed query: where it went wrong and why.
///
/// Offsets count characters (Unicode scalar values), not bytes, like CloudWatch's
/// `queryCompileError.location.startCharOffset` / `endCharOffset`. `end` is exclusive and
/// equals `start` only when the problem is the end of the query.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {start})")]
#[non_exhaustive]
pub struct ParseError {
    /// First character of the offending text.
    pub start: usize,
    /// One past its last character.
    pub end: usize,
    /// What was expected and what was found, lowercase, without trailing period.
    pub message: String,
}

impl ParseError {
    /// Returns an error over characters `start..end` of the query. The query engine uses it
    /// for semantic errors found after parsing, so they render like syntax errors.
    pub fn new(start: usize, end: usize, message: impl Into<String>) -> ParseError {
        ParseError { start, end: end.max(start), message: message.into() }
    }

    /// Returns the 1-based line and column (in characters) of `start` within `query`.
    pub fn line_col(&self, query: &str) -> (usize, usize) {
        let mut line = 1;
        let mut col = 1;
        for c in query.chars().take(self.start) {
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        (line, col)
    }

    /// Renders the error for people: the message, the offending line, and carets under the
    /// offending text (only its part on that line).
    ///
    /// ```text
    /// error: unknown function `coutn`, did you mean `count`?
    ///  --> line 1, column 7
    ///   |
    /// 1 | stats coutn(*) by bin(5m)
    ///   |       ^^^^^
    /// ```
    pub fn render(&self, query: &str) -> String {
        let (line_no, col) = self.line_col(query);
        let line = query.split('\n').nth(line_no - 1).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        // Keep tabs in the gutter so the caret lines up however the terminal expands them.
        let pad: String =
            line.chars().take(col - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        let rest_of_line = line.chars().count().saturating_sub(col - 1);
        let width = (self.end - self.start).min(rest_of_line).max(1);
        let number = line_no.to_string();
        let gutter = " ".repeat(number.len());
        format!(
            "error: {msg}\n{gutter}--> line {line_no}, column {col}\n{gutter} |\n{number} | {line}\n{gutter} | {pad}{carets}\n",
            msg = self.message,
            carets = "^".repeat(width),
        )
    }
}

/// Something the parser looked for, for "expected ..." messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Label {
    /// Literal text, shown in backticks: `` `|` ``.
    Token(&'static str),
    /// A description: "an expression".
    Thing(&'static str),
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Token(t) => write!(f, "`{t}`"),
            Label::Thing(t) => f.write_str(t),
        }
    }
}

/// The labels of what the parser looked for at one place. The first one is kept inline so
/// that a failed attempt on the happy path doesn't allocate (the parser fails and moves on
/// thousands of times per query); only merging alternatives, which happens on the way to
/// reporting an error, does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    first: Option<Label>,
    more: Vec<Label>,
}

impl Expected {
    const NONE: Expected = Expected { first: None, more: Vec::new() };

    pub(crate) fn one(label: Label) -> Expected {
        Expected { first: Some(label), more: Vec::new() }
    }

    fn labels(&self) -> impl Iterator<Item = Label> + '_ {
        self.first.into_iter().chain(self.more.iter().copied())
    }

    fn merge(mut self, other: Expected) -> Expected {
        for label in other.labels() {
            if self.first.is_none() {
                self.first = Some(label);
            } else if !self.labels().any(|l| l == label) {
                self.more.push(label);
            }
        }
        self
    }

    /// "`a`", "`a` or `b`", "`a`, `b` or `c`".
    fn describe(&self) -> Option<String> {
        let labels: Vec<String> = self.labels().map(|l| l.to_string()).collect();
        match labels.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            [init @ .., last] => Some(format!("{} or {last}", init.join(", "))),
        }
    }
}

/// What went wrong, inside the parser.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Problem {
    /// The next token is not one of these.
    Expected(Expected),
    /// A precise message; the span is the offending text.
    Message(String),
}

/// The parser's error: a position in the input (the remaining text) and a problem.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Error<'a> {
    /// The input from the offending text on.
    pub(crate) at: &'a str,
    /// Byte length of the offending text, when known; otherwise the token at `at` is used.
    pub(crate) len: Option<usize>,
    pub(crate) problem: Problem,
}

impl<'a> Error<'a> {
    pub(crate) fn expected(at: &'a str, label: Label) -> Error<'a> {
        Error { at, len: None, problem: Problem::Expected(Expected::one(label)) }
    }

    pub(crate) fn message(at: &'a str, len: usize, message: impl Into<String>) -> Error<'a> {
        Error { at, len: Some(len), problem: Problem::Message(message.into()) }
    }

    /// Converts to the public error, given the whole query and a function that measures
    /// the token at a position (for "found ..." and the end offset).
    pub(crate) fn into_parse_error(
        self,
        query: &str,
        token_at: impl Fn(&str) -> (usize, String),
    ) -> ParseError {
        let offset = query.len() - self.at.len();
        let start = query[..offset].chars().count();
        let (token_len, found) = token_at(self.at);
        let mut len = self.len.unwrap_or(token_len).min(self.at.len());
        while !self.at.is_char_boundary(len) {
            len += 1;
        }
        let end = start + self.at[..len].chars().count();
        let message = match self.problem {
            Problem::Message(message) => message,
            Problem::Expected(expected) => match expected.describe() {
                Some(what) => format!("expected {what}, found {found}"),
                None => format!("unexpected {found}"),
            },
        };
        ParseError { start, end, message }
    }
}

impl<'a> nom::error::ParseError<&'a str> for Error<'a> {
    fn from_error_kind(input: &'a str, _kind: nom::error::ErrorKind) -> Self {
        Error { at: input, len: None, problem: Problem::Expected(Expected::NONE) }
    }

    fn append(_input: &'a str, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    /// Keeps the error that got furthest; at the same place, merges what was expected.
    fn or(self, other: Self) -> Self {
        match self.at.len().cmp(&other.at.len()) {
            std::cmp::Ordering::Less => self,
            std::cmp::Ordering::Greater => other,
            std::cmp::Ordering::Equal => match (self.problem, other.problem) {
                (Problem::Expected(a), Problem::Expected(b)) => {
                    Error { at: self.at, len: None, problem: Problem::Expected(a.merge(b)) }
                }
                (message @ Problem::Message(_), _) => {
                    Error { at: self.at, len: self.len, problem: message }
                }
                (_, message) => Error { at: other.at, len: other.len, problem: message },
            },
        }
    }
}
