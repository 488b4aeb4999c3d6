//! The grammar: commands and expressions, as nom parsers over the query text.
//!
//! Conventions:
//! - Every parser starts on a token and skips the whitespace after what it reads (see
//!   [`super::lexer`]).
//! - `Err::Error` means "not here, the caller may try something else"; `Err::Failure` means
//!   the input is certainly wrong here. Once a command keyword, an operator or an opening
//!   bracket has been read, what follows is required, so its errors are turned into
//!   failures with [`commit`]. That keeps messages at the real problem instead of at the
//!   start of the command.
//! - `depth` counts nesting (brackets, prefix operators, `^`, subqueries) so that hostile
//!   input fails with an error instead of overflowing the stack. Long flat chains such as
//!   `a or b or c ...` don't nest and are not limited.

use nom::Err;

use super::ast::{
    BinaryOp, Call, Command, DiffBaseline, Expr, Field, FillRule, InSet, Limit, Literal, MatchOp,
    NamedArg, Parse, ParsePattern, Pattern, Projection, Query, SortKey, SortOrder, Source,
    SourceSelector, Stats, UnaryOp,
};
use super::error::{Error, Label};
use super::functions::{self, closest};
use super::lexer::{
    PResult, RESERVED, at_keyword, field_name, ident, key, keyword, number, punct, regex, string,
    ws,
};

/// Deepest nesting accepted. Real queries nest a handful of levels.
pub(crate) const MAX_DEPTH: usize = 64;

/// The commands of the language, as written in canonical text.
pub const COMMANDS: [&str; 18] = [
    "fields",
    "display",
    "filter",
    "where",
    "stats",
    "sort",
    "limit",
    "parse",
    "dedup",
    "unnest",
    "expand",
    "unmask",
    "pattern",
    "diff",
    "anomaly",
    "fillmissing",
    "filterIndex",
    "SOURCE",
];

/// Commands of the newest CloudWatch documentation that this parser does not read yet.
pub const NOT_SUPPORTED_COMMANDS: [&str; 15] = [
    "json",
    "lookup",
    "cidrlookup",
    "join",
    "appendcols",
    "addtotals",
    "autoregress",
    "accum",
    "filldown",
    "outlier",
    "sessionize",
    "countFrequent",
    "count_frequent",
    "logcompare",
    "relevantfields",
];

/// Turns a soft error into a failure: the input is committed to this alternative.
fn commit<T>(result: PResult<'_, T>) -> PResult<'_, T> {
    result.map_err(|e| match e {
        Err::Error(e) => Err::Failure(e),
        other => other,
    })
}

fn fail<'a, T>(at: &'a str, len: usize, message: impl Into<String>) -> PResult<'a, T> {
    Err(Err::Failure(Error::message(at, len, message)))
}

fn expected<'a, T>(at: &'a str, label: Label) -> PResult<'a, T> {
    Err(Err::Error(Error::expected(at, label)))
}

/// Replaces what a failed parser said it expected by one label, when it failed without
/// reading anything. "expected an expression" reads better than a list of every token an
/// expression may start with.
fn label<'a, T>(i: &'a str, label: Label, result: PResult<'a, T>) -> PResult<'a, T> {
    match result {
        Err(Err::Error(e)) if e.at.len() == i.len() => expected(i, label),
        other => other,
    }
}

/// Parses `item (, item)*`.
fn comma_list<'a, T>(
    i: &'a str,
    item: impl FnMut(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    separated(i, ",", item)
}

/// Parses `item (sep item)*`; everything after a separator is required.
fn separated<'a, T>(
    i: &'a str,
    sep: &'static str,
    mut item: impl FnMut(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let (mut i, first) = item(i)?;
    let mut items = vec![first];
    while let Ok((rest, ())) = punct(i, sep) {
        let (rest, next) = commit(item(rest))?;
        items.push(next);
        i = rest;
    }
    Ok((i, items))
}

fn check_depth(i: &str, depth: usize) -> PResult<'_, ()> {
    if depth > MAX_DEPTH {
        return fail(i, 1, format!("query nested too deeply (more than {MAX_DEPTH} levels)"));
    }
    Ok((i, ()))
}

/// A whole pipeline: one or more commands separated by `|`. The caller checks what
/// follows (end of query, or `)` for a subquery).
pub(crate) fn pipeline(i: &str, depth: usize) -> PResult<'_, Query> {
    let (i, commands) = separated(i, "|", |i| command(i, depth))?;
    Ok((i, Query { commands }))
}

/// Like [`pipeline`], and also returns each command's byte range within `i` (without the
/// whitespace and comments that follow it).
pub(crate) fn pipeline_spanned(i: &str) -> PResult<'_, (Query, Vec<std::ops::Range<usize>>)> {
    let whole = i.len();
    let mut spans = Vec::new();
    let (mut rest, first) = command(i, 0)?;
    spans.push(0..text_len(i, rest));
    let mut commands = vec![first];
    while let Ok((after, ())) = punct(rest, "|") {
        let start = whole - after.len();
        let (next_rest, next) = commit(command(after, 0))?;
        spans.push(start..start + text_len(after, next_rest));
        commands.push(next);
        rest = next_rest;
    }
    Ok((rest, (Query { commands }, spans)))
}

fn command(i: &str, depth: usize) -> PResult<'_, Command> {
    let Some((word, rest)) = ident(i) else {
        return expected(i, Label::Thing("a command"));
    };
    let body = match word.to_ascii_lowercase().as_str() {
        "fields" => {
            comma_list(rest, |i| projection(i, depth)).map(|(i, p)| (i, Command::Fields(p)))
        }
        "display" => comma_list(rest, field).map(|(i, f)| (i, Command::Display(f))),
        "filter" | "where" => expr(rest, depth).map(|(i, e)| (i, Command::Filter(e))),
        "stats" => stats(rest, depth),
        "sort" => comma_list(rest, |i| sort_key(i, depth)).map(|(i, k)| (i, Command::Sort(k))),
        "limit" => limit(rest),
        "parse" => parse_command(rest),
        "dedup" => comma_list(rest, field).map(|(i, f)| (i, Command::Dedup(f))),
        "unnest" => unnest(rest, depth),
        "expand" => field(rest).map(|(i, f)| (i, Command::Expand(f))),
        "unmask" => Ok((rest, Command::Unmask)),
        "pattern" => field(rest).map(|(i, f)| (i, Command::Pattern(f))),
        "diff" => diff(rest),
        "anomaly" => Ok((rest, Command::Anomaly)),
        "fillmissing" => fill_missing(rest, depth),
        "filterindex" => expr(rest, depth).map(|(i, e)| (i, Command::FilterIndex(e))),
        "source" => source(rest, depth),
        _ => return unknown_command(i, word),
    };
    commit(body)
}

fn unknown_command<'a, T>(at: &'a str, word: &str) -> PResult<'a, T> {
    if let Some(name) = NOT_SUPPORTED_COMMANDS.iter().find(|c| c.eq_ignore_ascii_case(word)) {
        return fail(at, word.len(), format!("the `{name}` command is not supported yet"));
    }
    let message = match closest(word, COMMANDS) {
        Some(guess) => format!("unknown command `{word}`, did you mean `{guess}`?"),
        None => format!("unknown command `{word}`"),
    };
    fail(at, word.len(), message)
}

fn field(i: &str) -> PResult<'_, Field> {
    let (rest, (f, _)) = field_name(i)?;
    Ok((rest, f))
}

/// `as <name>`, if present.
fn alias(i: &str) -> PResult<'_, Option<Field>> {
    match keyword(i, "as") {
        Ok((rest, _)) => commit(field(rest)).map(|(i, f)| (i, Some(f))),
        Err(Err::Error(_)) => Ok((i, None)),
        Err(e) => Err(e),
    }
}

fn projection(i: &str, depth: usize) -> PResult<'_, Projection> {
    let (i, expr) = expr(i, depth)?;
    let (i, alias) = alias(i)?;
    Ok((i, Projection { expr, alias }))
}

fn stats(i: &str, depth: usize) -> PResult<'_, Command> {
    let (i, aggregations) = comma_list(i, |i| projection(i, depth))?;
    let (i, by) = match keyword(i, "by") {
        Ok((rest, _)) => commit(comma_list(rest, |i| projection(i, depth)))?,
        Err(_) => (i, Vec::new()),
    };
    let (i, offset) = match keyword(i, "offset") {
        Ok((rest, _)) => {
            let (after, lit) = label(rest, Label::Thing("a time period"), number(rest))?;
            match lit {
                Literal::Period(p) => (after, Some(p)),
                _ => {
                    return fail(
                        rest,
                        rest.len() - after.len(),
                        "expected a time period such as `1h`",
                    );
                }
            }
        }
        Err(_) => (i, None),
    };
    Ok((i, Command::Stats(Stats { aggregations, by, offset })))
}

fn sort_key(i: &str, depth: usize) -> PResult<'_, SortKey> {
    let (i, expr) = expr(i, depth)?;
    let (i, order) = if let Ok((rest, _)) = keyword(i, "asc") {
        (rest, Some(SortOrder::Asc))
    } else if let Ok((rest, _)) = keyword(i, "desc") {
        (rest, Some(SortOrder::Desc))
    } else {
        (i, None)
    };
    Ok((i, SortKey { expr, order }))
}

fn limit(i: &str) -> PResult<'_, Command> {
    let (i, any) = match keyword(i, "any") {
        Ok((rest, _)) => (rest, true),
        Err(_) => (i, false),
    };
    match number(i) {
        Ok((rest, Literal::Int(rows))) => Ok((rest, Command::Limit(Limit { any, rows }))),
        Ok((rest, _)) => fail(i, i.len() - rest.len(), "expected a whole number of rows"),
        Err(Err::Error(_)) => expected(i, Label::Thing("a number of rows")),
        Err(e) => Err(e),
    }
}

/// The pattern of `parse`, if the next token is one.
fn parse_pattern(i: &str) -> PResult<'_, ParsePattern> {
    if i.starts_with(['"', '\'']) {
        let (rest, glob) = string(i)?;
        return Ok((rest, ParsePattern::Glob(glob)));
    }
    if i.starts_with('/') {
        let (rest, re) = regex(i)?;
        return Ok((rest, ParsePattern::Regex(re)));
    }
    if let Ok((rest, _)) = keyword(i, "logfmt") {
        return Ok((rest, ParsePattern::Logfmt));
    }
    if let Ok((rest, _)) = keyword(i, "csv") {
        return Ok((rest, ParsePattern::Csv));
    }
    let e = Error::expected(i, Label::Thing("a glob string"));
    let e = nom::error::ParseError::or(e, Error::expected(i, Label::Thing("a regex")));
    let e = nom::error::ParseError::or(e, Error::expected(i, Label::Token("logfmt")));
    Err(Err::Error(nom::error::ParseError::or(e, Error::expected(i, Label::Token("csv")))))
}

fn parse_command(i: &str) -> PResult<'_, Command> {
    // `parse logfmt as x` reads `logfmt` as the mode; `parse logfmt csv` reads it as the
    // field. So a mode word is the pattern only when no other pattern follows it.
    let (source, pattern_at) = match parse_pattern(i) {
        Ok((_, p)) if !matches!(p, ParsePattern::Logfmt | ParsePattern::Csv) => {
            (Field::new("@message"), i)
        }
        Ok((rest, _)) if matches!(parse_pattern(rest), Err(Err::Error(_))) => {
            (Field::new("@message"), i)
        }
        Err(Err::Failure(e)) => return Err(Err::Failure(e)),
        _ => {
            let (rest, f) = label(i, Label::Thing("a field or a pattern"), field(i))?;
            (f, rest)
        }
    };
    let (after_pattern, pattern) = commit(parse_pattern(pattern_at))?;
    let (rest, aliases) = match keyword(after_pattern, "as") {
        Ok((rest, _)) => commit(comma_list(rest, field))?,
        Err(_) => (after_pattern, Vec::new()),
    };
    if let ParsePattern::Glob(glob) = &pattern {
        let pattern_len = token_len(pattern_at, after_pattern);
        let stars = glob.matches('*').count();
        if stars == 0 {
            return fail(pattern_at, pattern_len, "a glob pattern needs at least one `*`");
        }
        if aliases.is_empty() {
            return Err(Err::Failure(Error::expected(after_pattern, Label::Token("as"))));
        }
        if stars != aliases.len() {
            let names = if aliases.len() == 1 { "name follows" } else { "names follow" };
            let message = format!("the glob has {stars} `*` but {} {names} `as`", aliases.len());
            return fail(pattern_at, pattern_len, message);
        }
    }
    let (rest, multi) = match keyword(rest, "multi") {
        Ok((rest, _)) => (rest, true),
        Err(_) => (rest, false),
    };
    Ok((rest, Command::Parse(Parse { field: source, pattern, aliases, multi })))
}

/// The length of the text from `start` to `after`, without the whitespace and comments that
/// follow it.
fn text_len(start: &str, after: &str) -> usize {
    let consumed = start.len() - after.len();
    let target = ws(after).len();
    // The first place from which only whitespace and comments remain; each check stops at
    // the first other character, so this stays linear in practice.
    start[..consumed]
        .char_indices()
        .find(|&(p, c)| (c.is_whitespace() || c == '#') && ws(&start[p..]).len() == target)
        .map_or(consumed, |(p, _)| p)
}

/// The length of the text from `start` to `after`, without the whitespace that follows it.
fn token_len(start: &str, after: &str) -> usize {
    start[..start.len() - after.len()].trim_end().len()
}

fn unnest(i: &str, depth: usize) -> PResult<'_, Command> {
    let (i, source) = expr(i, depth)?;
    let (i, _) = keyword(i, "into")?;
    let (i, into) = field(i)?;
    Ok((i, Command::Unnest { source, into }))
}

fn diff(i: &str) -> PResult<'_, Command> {
    let options = [
        ("previousDay", DiffBaseline::PreviousDay),
        ("previousWeek", DiffBaseline::PreviousWeek),
        ("previousMonth", DiffBaseline::PreviousMonth),
    ];
    for (word, baseline) in options {
        if let Ok((rest, _)) = keyword(i, word) {
            return Ok((rest, Command::Diff(Some(baseline))));
        }
    }
    Ok((i, Command::Diff(None)))
}

fn fill_missing(mut i: &str, depth: usize) -> PResult<'_, Command> {
    let mut rules = Vec::new();
    while let Ok((rest, _)) = keyword(i, "with") {
        let (rest, value) = commit(expr(rest, depth))?;
        let (rest, _) = commit(keyword(rest, "for"))?;
        let (mut rest, first) = commit(field(rest))?;
        let mut fields = vec![first];
        // `, name` adds a field; `, with` starts the next rule.
        while let Ok((after_comma, ())) = punct(rest, ",") {
            if at_keyword(after_comma, "with") {
                rest = after_comma;
                break;
            }
            let (after, f) = commit(field(after_comma))?;
            fields.push(f);
            rest = after;
        }
        rules.push(FillRule { value, fields });
        i = rest;
    }
    Ok((i, Command::FillMissing(rules)))
}

fn source(i: &str, depth: usize) -> PResult<'_, Command> {
    let (i, selector) = if let Ok((rest, _)) = keyword(i, "logGroups") {
        let (rest, ()) = punct(rest, "(")?;
        let (rest, args) = if rest.starts_with(')') {
            (rest, Vec::new())
        } else {
            comma_list(rest, |i| named_arg(i, ":", depth))?
        };
        let (rest, ()) = punct(rest, ")")?;
        (rest, SourceSelector::LogGroups(args))
    } else {
        let (rest, names) = label(
            i,
            Label::Thing("`logGroups(...)` or a log group name"),
            comma_list(i, log_group_name),
        )?;
        (rest, SourceSelector::Names(names))
    };
    let mut i = i;
    let mut options = Vec::new();
    while is_option_start(i) {
        let (rest, arg) = named_arg(i, "=", depth)?;
        options.push(arg);
        i = rest;
    }
    Ok((i, Command::Source(Source { selector, options })))
}

/// A quoted log group name, or a bare one (`SOURCE lg`), kept as its text.
fn log_group_name(i: &str) -> PResult<'_, String> {
    if i.starts_with(['"', '\'']) {
        return string(i);
    }
    let (rest, f) = label(i, Label::Thing("a log group name"), field(i))?;
    Ok((rest, f.flat_name()))
}

fn is_option_start(i: &str) -> bool {
    match ident(i) {
        Some((_, rest)) => rest.starts_with('=') && !rest.starts_with("=~"),
        None => false,
    }
}

/// `name: value` (in `logGroups(...)`) or `name=value` (an option of `SOURCE`).
fn named_arg<'a>(i: &'a str, sep: &'static str, depth: usize) -> PResult<'a, NamedArg> {
    let Some((name, rest)) = ident(i) else {
        return expected(i, Label::Thing("an argument name"));
    };
    let (rest, ()) = punct(rest, sep)?;
    let (rest, value) = commit(additive(rest, depth))?;
    Ok((rest, NamedArg { name: name.to_string(), value }))
}

/// Any expression.
pub(crate) fn expr(i: &str, depth: usize) -> PResult<'_, Expr> {
    label(i, Label::Thing("an expression"), or_expr(i, depth))
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }
}

/// A left-associative chain `operand (op operand)*`; `op` says which operator comes next.
fn chain<'a>(
    i: &'a str,
    depth: usize,
    operand: fn(&'a str, usize) -> PResult<'a, Expr>,
    op: fn(&'a str) -> Option<(&'a str, BinaryOp)>,
) -> PResult<'a, Expr> {
    let (mut i, mut lhs) = operand(i, depth)?;
    while let Some((rest, op)) = op(i) {
        let (rest, rhs) = commit(label(rest, Label::Thing("an expression"), operand(rest, depth)))?;
        lhs = binary(op, lhs, rhs);
        i = rest;
    }
    Ok((i, lhs))
}

fn or_expr(i: &str, depth: usize) -> PResult<'_, Expr> {
    chain(i, depth, and_expr, |i| keyword(i, "or").ok().map(|(r, _)| (r, BinaryOp::Or)))
}

fn and_expr(i: &str, depth: usize) -> PResult<'_, Expr> {
    chain(i, depth, not_expr, |i| keyword(i, "and").ok().map(|(r, _)| (r, BinaryOp::And)))
}

fn not_expr(i: &str, depth: usize) -> PResult<'_, Expr> {
    check_depth(i, depth)?;
    match keyword(i, "not") {
        Ok((rest, _)) => {
            let (rest, operand) =
                commit(label(rest, Label::Thing("an expression"), not_expr(rest, depth + 1)))?;
            Ok((rest, Expr::Unary { op: UnaryOp::Not, expr: Box::new(operand) }))
        }
        Err(_) => comparison(i, depth),
    }
}

/// A comparison operator symbol at the start of `i`, longest first.
fn comparison_op(i: &str) -> Option<(&str, BinaryOp, usize)> {
    let ops = [
        ("!=", BinaryOp::NotEq),
        ("<=", BinaryOp::LtEq),
        (">=", BinaryOp::GtEq),
        ("=", BinaryOp::Eq),
        ("<", BinaryOp::Lt),
        (">", BinaryOp::Gt),
    ];
    if i.starts_with("=~") {
        return None;
    }
    ops.into_iter()
        .find(|(sym, _)| i.starts_with(sym))
        .map(|(sym, op)| (&i[sym.len()..], op, sym.len()))
}

fn comparison(i: &str, depth: usize) -> PResult<'_, Expr> {
    let (i, lhs) = additive(i, depth)?;
    let (rest, result) = if let Some((after, op, _)) = comparison_op(i) {
        let after = super::lexer::ws(after);
        let (rest, rhs) =
            commit(label(after, Label::Thing("an expression"), additive(after, depth)))?;
        (rest, binary(op, lhs, rhs))
    } else if let Ok((after, ())) = punct(i, "=~") {
        let (rest, pattern) = commit(match_pattern(after))?;
        (rest, Expr::Match { expr: Box::new(lhs), op: MatchOp::RegexMatch, pattern })
    } else if let Ok((after, _)) = keyword(i, "like") {
        let (rest, pattern) = commit(match_pattern(after))?;
        (rest, Expr::Match { expr: Box::new(lhs), op: MatchOp::Like, pattern })
    } else if let Ok((after, _)) = keyword(i, "in") {
        let (rest, set) = commit(in_set(after, depth))?;
        (rest, Expr::In { expr: Box::new(lhs), negated: false, set })
    } else if let Ok((after, _)) = keyword(i, "not") {
        if let Ok((after, _)) = keyword(after, "in") {
            let (rest, set) = commit(in_set(after, depth))?;
            (rest, Expr::In { expr: Box::new(lhs), negated: true, set })
        } else if let Ok((after, _)) = keyword(after, "like") {
            let (rest, pattern) = commit(match_pattern(after))?;
            (rest, Expr::Match { expr: Box::new(lhs), op: MatchOp::NotLike, pattern })
        } else {
            let e = Error::expected(after, Label::Token("in"));
            let e = nom::error::ParseError::or(e, Error::expected(after, Label::Token("like")));
            return Err(Err::Failure(e));
        }
    } else {
        return Ok((i, lhs));
    };
    // Comparisons don't chain: `a < b < c` is almost always a mistake.
    let next = comparison_op(rest).map(|(_, _, len)| len).or_else(|| {
        let words = ["like", "in"];
        if rest.starts_with("=~") {
            Some(2)
        } else {
            words.iter().find(|w| at_keyword(rest, w)).map(|w| w.len())
        }
    });
    if let Some(len) = next {
        return fail(rest, len, "comparisons can't be chained; add parentheses");
    }
    Ok((rest, result))
}

fn match_pattern(i: &str) -> PResult<'_, Pattern> {
    if i.starts_with(['"', '\'']) {
        let (rest, s) = string(i)?;
        return Ok((rest, Pattern::String(s)));
    }
    if i.starts_with('/') {
        let (rest, re) = regex(i)?;
        return Ok((rest, Pattern::Regex(re)));
    }
    let e = Error::expected(i, Label::Thing("a string"));
    Err(Err::Error(nom::error::ParseError::or(e, Error::expected(i, Label::Thing("a /regex/")))))
}

fn in_set(i: &str, depth: usize) -> PResult<'_, InSet> {
    if let Ok((rest, ())) = punct(i, "[") {
        let (rest, items) = list_items(rest, depth)?;
        return Ok((rest, InSet::List(items)));
    }
    if let Ok((rest, ())) = punct(i, "(") {
        check_depth(i, depth + 1)?;
        let (rest, query) = commit(pipeline(rest, depth + 1))?;
        let (rest, ()) = commit(punct(rest, ")"))?;
        return Ok((rest, InSet::Subquery(Box::new(query))));
    }
    let e = Error::expected(i, Label::Thing("a list `[...]`"));
    Err(Err::Error(nom::error::ParseError::or(
        e,
        Error::expected(i, Label::Thing("a subquery `(...)`")),
    )))
}

/// The items of a list after its `[`, and the closing `]`.
fn list_items(i: &str, depth: usize) -> PResult<'_, Vec<Expr>> {
    if let Ok((rest, ())) = punct(i, "]") {
        return Ok((rest, Vec::new()));
    }
    let (rest, items) = commit(comma_list(i, |i| expr(i, depth + 1)))?;
    let (rest, ()) = commit(closing(rest, "]"))?;
    Ok((rest, items))
}

/// A closing bracket; on failure also says a `,` would have been fine.
fn closing<'a>(i: &'a str, sym: &'static str) -> PResult<'a, ()> {
    punct(i, sym).map_err(|e| {
        e.map(|e| nom::error::ParseError::or(e, Error::expected(i, Label::Token(","))))
    })
}

fn additive(i: &str, depth: usize) -> PResult<'_, Expr> {
    chain(i, depth, multiplicative, |i| {
        let op = match i.chars().next() {
            Some('+') => BinaryOp::Add,
            Some('-') => BinaryOp::Sub,
            _ => return None,
        };
        Some((super::lexer::ws(&i[1..]), op))
    })
}

fn multiplicative(i: &str, depth: usize) -> PResult<'_, Expr> {
    chain(i, depth, unary, |i| {
        let op = match i.chars().next() {
            Some('*') => BinaryOp::Mul,
            Some('/') => BinaryOp::Div,
            Some('%') => BinaryOp::Mod,
            _ => return None,
        };
        Some((super::lexer::ws(&i[1..]), op))
    })
}

fn unary(i: &str, depth: usize) -> PResult<'_, Expr> {
    check_depth(i, depth)?;
    match punct(i, "-") {
        Ok((rest, ())) => {
            let (rest, operand) =
                commit(label(rest, Label::Thing("an expression"), unary(rest, depth + 1)))?;
            Ok((rest, Expr::Unary { op: UnaryOp::Neg, expr: Box::new(operand) }))
        }
        Err(_) => power(i, depth),
    }
}

/// `base ^ exponent`, right-associative and tighter than unary minus: `-2 ^ 2` is `-(2 ^ 2)`
/// and `2 ^ -1` is allowed.
fn power(i: &str, depth: usize) -> PResult<'_, Expr> {
    let (i, base) = postfix(i, depth)?;
    match punct(i, "^") {
        Ok((rest, ())) => {
            let (rest, exponent) =
                commit(label(rest, Label::Thing("an expression"), unary(rest, depth + 1)))?;
            Ok((rest, binary(BinaryOp::Pow, base, exponent)))
        }
        Err(_) => Ok((i, base)),
    }
}

/// A primary followed by any number of `.key` and `[index]`.
fn postfix(i: &str, depth: usize) -> PResult<'_, Expr> {
    let (mut i, mut e) = primary(i, depth)?;
    loop {
        if let Ok((rest, ())) = punct(i, ".") {
            let (rest, k) = commit(label(rest, Label::Thing("a key after `.`"), key(rest)))?;
            e = Expr::Member { base: Box::new(e), key: k };
            i = rest;
        } else if let Ok((rest, ())) = punct(i, "[") {
            check_depth(i, depth + 1)?;
            let (rest, index) = commit(expr(rest, depth + 1))?;
            let (rest, ()) = commit(punct(rest, "]"))?;
            e = Expr::Index { base: Box::new(e), index: Box::new(index) };
            i = rest;
        } else {
            return Ok((i, e));
        }
    }
}

fn primary(i: &str, depth: usize) -> PResult<'_, Expr> {
    let Some(first) = i.chars().next() else {
        return expected(i, Label::Thing("an expression"));
    };
    match first {
        '(' => {
            let (rest, ()) = punct(i, "(")?;
            check_depth(i, depth + 1)?;
            let (rest, inner) = commit(expr(rest, depth + 1))?;
            let (rest, ()) = commit(punct(rest, ")"))?;
            Ok((rest, inner))
        }
        '[' => {
            let (rest, ()) = punct(i, "[")?;
            check_depth(i, depth + 1)?;
            let (rest, items) = list_items(rest, depth)?;
            Ok((rest, Expr::List(items)))
        }
        '"' | '\'' => string(i).map(|(rest, s)| (rest, Expr::Literal(Literal::String(s)))),
        '0'..='9' => number(i).map(|(rest, n)| (rest, Expr::Literal(n))),
        '/' => fail(i, 1, "a regex is only allowed after `like`, `not like`, `=~` and in `parse`"),
        _ => {
            let (rest, (name, bare)) = field_name(i)?;
            match bare {
                Some(word) if rest.starts_with('(') => call(i, word, &rest[1..], depth),
                Some(word) if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word)) => {
                    expected(i, Label::Thing("an expression"))
                }
                _ => Ok((rest, Expr::Field(name))),
            }
        }
    }
}

/// A function call; `start` is at its name, `args` just after the `(`.
fn call<'a>(start: &'a str, name: &str, args: &'a str, depth: usize) -> PResult<'a, Expr> {
    let Some(func) = functions::lookup(name) else {
        let message = match functions::suggest(name) {
            Some(guess) => format!("unknown function `{name}`, did you mean `{guess}`?"),
            None => format!("unknown function `{name}`"),
        };
        return fail(start, name.len(), message);
    };
    check_depth(start, depth + 1)?;
    let args = super::lexer::ws(args);
    let (rest, list) = if args.starts_with(')') {
        (args, Vec::new())
    } else if let Some(after_star) = args.strip_prefix('*') {
        let after_star = super::lexer::ws(after_star);
        if !func.accepts_star() || !after_star.starts_with(')') {
            return fail(args, 1, "`*` is only allowed as in `count(*)`");
        }
        (after_star, vec![Expr::Star])
    } else {
        commit(comma_list(args, |i| expr(i, depth + 1)))?
    };
    let (after_ws, ()) = commit(closing(rest, ")"))?;
    // Just after the `)`, before any whitespace: the end of the call's span.
    let after = &rest[1..];
    if !func.accepts_arity(list.len()) {
        let found = list.len();
        return fail(
            start,
            start.len() - after.len(),
            format!("`{}` takes {}, found {found}", func.name, func.arity_text()),
        );
    }
    Ok((after_ws, Expr::Call(Call { name: func.name.to_string(), args: list })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lists_match_the_dispatcher() {
        for name in COMMANDS {
            let message = match command(name, 0) {
                Err(Err::Failure(e) | Err::Error(e)) => format!("{:?}", e.problem),
                Ok(_) | Err(Err::Incomplete(_)) => String::new(),
            };
            assert!(!message.contains("unknown command"), "{name} is not dispatched");
        }
        for name in NOT_SUPPORTED_COMMANDS {
            let message = match command(name, 0) {
                Err(Err::Failure(e)) => format!("{:?}", e.problem),
                other => panic!("{name}: {other:?}"),
            };
            assert!(message.contains("is not supported yet"), "{name}: {message}");
        }
    }
}
