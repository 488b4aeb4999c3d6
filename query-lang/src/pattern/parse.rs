//! Parsing plumbing shared by the pattern forms: the nom error type, whitespace and a
//! boolean-expression parser (`&&`, `||`, parentheses) generic over its leaves.
//!
//! Every parser works on a suffix of the whole pattern, so the remaining input at an error tells
//! the byte offset (`pattern.len() - rest.len()`).

use std::borrow::Cow;

use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

/// A parse failure: where (the remaining input) and what was expected.
#[derive(Debug)]
pub(crate) struct PErr<'a> {
    pub(crate) input: &'a str,
    pub(crate) message: Cow<'static, str>,
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, kind: ErrorKind) -> Self {
        PErr { input, message: Cow::Owned(format!("unexpected input ({})", kind.description())) }
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a str, T, PErr<'a>>;

/// Fails without backtracking: every caller has already committed to a construct.
pub(crate) fn fail<'a, T>(input: &'a str, message: impl Into<Cow<'static, str>>) -> PResult<'a, T> {
    Err(nom::Err::Failure(PErr { input, message: message.into() }))
}

/// Describes the next character for "expected X but found Y" messages.
pub(crate) fn found(input: &str) -> String {
    match input.chars().next() {
        Some(c) => format!("`{c}`"),
        None => "the end of the pattern".to_owned(),
    }
}

/// Skips whitespace.
pub(crate) fn ws(input: &str) -> &str {
    input.trim_start()
}

/// Consumes `tag` after optional whitespace, or returns `None` without consuming anything.
pub(crate) fn token<'a>(input: &'a str, tag: &'static str) -> Option<&'a str> {
    let res: IResult<&str, &str, PErr<'_>> = nom::bytes::complete::tag(tag).parse(ws(input));
    res.ok().map(|(rest, _)| rest)
}

/// A boolean combination of leaves. `&&` binds tighter than `||`; parentheses group.
#[derive(Debug, Clone)]
pub(crate) enum Expr<T> {
    Leaf(T),
    And(Vec<Expr<T>>),
    Or(Vec<Expr<T>>),
}

impl<T> Expr<T> {
    /// Evaluates with short-circuiting, deciding each leaf with `f`.
    pub(crate) fn eval(&self, f: &mut impl FnMut(&T) -> bool) -> bool {
        match self {
            Expr::Leaf(leaf) => f(leaf),
            Expr::And(all) => all.iter().all(|e| e.eval(f)),
            Expr::Or(any) => any.iter().any(|e| e.eval(f)),
        }
    }

    /// Visits every leaf in source order.
    pub(crate) fn for_each_leaf<'s>(&'s self, f: &mut impl FnMut(&'s T)) {
        match self {
            Expr::Leaf(leaf) => f(leaf),
            Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| e.for_each_leaf(f)),
        }
    }
}

/// Parses `or := and ("||" and)*`, `and := atom ("&&" atom)*`, `atom := "(" or ")" | leaf`.
///
/// Stops before anything that is not `&&` or `||`; the caller checks what follows.
pub(crate) fn parse_expr<'a, T>(
    input: &'a str,
    leaf: &mut impl FnMut(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Expr<T>> {
    let (mut rest, first) = parse_and(input, leaf)?;
    let mut terms = vec![first];
    while let Some(after) = token(rest, "||") {
        let (r, e) = parse_and(after, leaf)?;
        terms.push(e);
        rest = r;
    }
    Ok((rest, if terms.len() == 1 { terms.remove(0) } else { Expr::Or(terms) }))
}

fn parse_and<'a, T>(
    input: &'a str,
    leaf: &mut impl FnMut(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Expr<T>> {
    let (mut rest, first) = parse_atom(input, leaf)?;
    let mut terms = vec![first];
    while let Some(after) = token(rest, "&&") {
        let (r, e) = parse_atom(after, leaf)?;
        terms.push(e);
        rest = r;
    }
    Ok((rest, if terms.len() == 1 { terms.remove(0) } else { Expr::And(terms) }))
}

fn parse_atom<'a, T>(
    input: &'a str,
    leaf: &mut impl FnMut(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Expr<T>> {
    let input = ws(input);
    if let Some(inner) = input.strip_prefix('(') {
        let (rest, e) = parse_expr(inner, leaf)?;
        match token(rest, ")") {
            Some(rest) => Ok((rest, e)),
            None => {
                let rest = ws(rest);
                fail(rest, format!("expected `)`, `&&` or `||` but found {}", found(rest)))
            }
        }
    } else {
        let (rest, l) = leaf(input)?;
        Ok((rest, Expr::Leaf(l)))
    }
}
