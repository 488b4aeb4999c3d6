//! The Logs Insights query language: text in, a typed [`Query`] or a precise [`ParseError`]
//! out, and the tree printed back as canonical text.
//!
//! ```
//! use logsight_query_lang::insights::{self, Command};
//!
//! let query = insights::parse(
//!     "FIELDS @timestamp, @message # newest first\n| filter level = 'ERROR' | sort @timestamp DESC",
//! )?;
//! assert!(matches!(query.commands[1], Command::Filter(_)));
//! assert_eq!(
//!     query.to_string(),
//!     r#"fields @timestamp, @message | filter level = "ERROR" | sort @timestamp desc"#,
//! );
//!
//! let err = insights::parse("stats coutn(*) by bin(5m)").unwrap_err();
//! assert_eq!((err.start, err.end), (6, 11));
//! assert_eq!(err.message, "unknown function `coutn`, did you mean `count`?");
//! # Ok::<(), insights::ParseError>(())
//! ```
//!
//! This module checks syntax only. It knows no storage, schema or engine: whether a field
//! exists, whether `stats` holds an aggregation or whether the engine runs `pattern` yet is
//! for the planner. It does know every function's name and arity ([`functions`]), so typos
//! and wrong argument counts fail here with the exact place.
//!
//! # Layout
//! - [`ast`]: the tree. No spans, so layout, comments and quoting don't affect equality.
//! - `lexer`: tokens read on demand from the text (so `/` can be division or a regex
//!   depending on where it is), whitespace and `#` comments.
//! - `parser`: the grammar, as nom parsers.
//! - `printer`: `Display` for the tree, producing canonical text.
//! - [`functions`]: the function registry.
//! - `error`: [`ParseError`] and its rendering with a caret.
//!
//! # Precedence
//! From loosest to tightest; all binary operators are left-associative except `^` (right)
//! and the comparisons (which don't chain: `a < b < c` is an error).
//!
//! | Level | Operators |
//! |---|---|
//! | 1 | `or` |
//! | 2 | `and` |
//! | 3 | `not` (prefix) |
//! | 4 | `=` `!=` `<` `<=` `>` `>=`, `in`, `not in`, `like`, `not like`, `=~` |
//! | 5 | `+` `-` |
//! | 6 | `*` `/` `%` |
//! | 7 | `-` (prefix) |
//! | 8 | `^` (so `-2 ^ 2` is `-(2 ^ 2)`, and `2 ^ -1` is allowed) |
//! | 9 | `f(...)`, `x.key`, `x[i]`, literals, names, `( )` |
//!
//! # Canonical form
//! - One line: commands joined by ` | `, items by `, `, single spaces around operators.
//! - Keywords and operators lowercase (`filter`, `and`, `desc`, `as`); `where` prints as
//!   `filter`; command names that the documentation writes in camel or upper case keep it
//!   (`filterIndex`, `SOURCE`, `logGroups`, `previousDay`); functions use the registry's
//!   spelling (`toMillis`).
//! - Time periods use the shortest unit: `5minutes` prints as `5m`.
//! - Strings use double quotes. Escapes: `\"`, `\n`, `\t`, `\r`, and `\\` only where a
//!   backslash would otherwise start an escape (so `"\d+"` stays `"\d+"`).
//! - Names use backticks only when needed: when they contain characters other than letters,
//!   digits and `_`, start with a digit, or are one of the words `and`, `or`, `not`, `in`,
//!   `like`, `with`. A literal backtick inside backticks is doubled.
//! - `parse` always names its field (`parse @message ...` when the query left it out).
//! - Parentheses only where the tree needs them: around an operand whose operator binds more
//!   loosely than its place, and around a plain name or a literal that takes a `.key`
//!   (`(a).b`, since `a.b` is the single field `a.b`).
//!
//! `parse(&query.to_string()) == Ok(query)` holds for every tree the parser produces and for
//! every tree that keeps the invariants documented on the [`ast`] types (non-empty names,
//! non-negative numbers, regexes without a bare `/`); a property test checks it.
//!
//! # Errors
//! A [`ParseError`] has character offsets (`start..end`) and a message naming what was
//! expected and what was found, like CloudWatch's `MalformedQueryException`.
//! [`ParseError::render`] shows the query line with carets under the offending text. No
//! input makes the parser panic; nesting deeper than 64 levels is an error.

pub mod ast;
mod error;
pub mod functions;
mod lexer;
mod parser;
mod printer;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use ast::*;
pub use error::ParseError;
pub use parser::{COMMANDS, NOT_SUPPORTED_COMMANDS};

use error::{Error, Label};

/// The longest query CloudWatch accepts (`StartQuery.queryString`), in characters. The parser
/// itself takes any length; the API layer enforces this.
pub const MAX_QUERY_CHARS: usize = 10_000;

/// Parses a query.
///
/// An empty query (only whitespace and comments) has no commands.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    parse_spanned(query).map(|spanned| spanned.query)
}

/// A parsed query with the character span of each of its top-level commands, so that checks
/// made after parsing (by the query engine) can point at the offending command.
#[derive(Clone, Debug, PartialEq)]
pub struct SpannedQuery {
    /// The tree.
    pub query: Query,
    /// `spans[i]` is the character range (`start..end`, end exclusive) of `query.commands[i]`.
    pub spans: Vec<std::ops::Range<usize>>,
}

/// Parses a query like [`parse`], also returning where each top-level command is.
pub fn parse_spanned(query: &str) -> Result<SpannedQuery, ParseError> {
    let start = lexer::ws(query);
    if start.is_empty() {
        return Ok(SpannedQuery { query: Query { commands: Vec::new() }, spans: Vec::new() });
    }
    let result = parser::pipeline_spanned(start).and_then(|(rest, parsed)| {
        if rest.is_empty() {
            return Ok(parsed);
        }
        let e = Error::expected(rest, Label::Token("|"));
        let e = nom::error::ParseError::or(e, Error::expected(rest, Label::Thing("end of query")));
        Err(nom::Err::Failure(e))
    });
    match result {
        Ok((parsed, byte_spans)) => {
            let base = query.len() - start.len();
            let chars = |b: usize| query[..base + b].chars().count();
            let spans = byte_spans.into_iter().map(|r| chars(r.start)..chars(r.end)).collect();
            Ok(SpannedQuery { query: parsed, spans })
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            Err(e.into_parse_error(query, lexer::describe_token))
        }
        // Only streaming parsers report missing input; these are all complete parsers.
        Err(nom::Err::Incomplete(_)) => {
            Err(Error::expected(&query[query.len()..], Label::Thing("more input"))
                .into_parse_error(query, lexer::describe_token))
        }
    }
}

#[cfg(test)]
mod span_tests {
    use super::*;

    #[test]
    fn command_spans_are_character_offsets() {
        let q = "  fields `é`, b # c\n| stats count(*) by x |limit 3";
        let s = parse_spanned(q).unwrap();
        let texts: Vec<String> = s
            .spans
            .iter()
            .map(|r| q.chars().skip(r.start).take(r.end - r.start).collect())
            .collect();
        assert_eq!(texts, ["fields `é`, b", "stats count(*) by x", "limit 3"]);
        assert_eq!(parse_spanned("").unwrap().spans, Vec::<std::ops::Range<usize>>::new());
    }
}
