//! Canonical text: `Display` for the syntax tree.
//!
//! Rules (the module docs of [`super`] list them for users):
//! - one line, commands joined by ` | `, single spaces, `, ` between items;
//! - keywords and operators lowercase; command names as documented (`filterIndex`, `SOURCE`);
//!   function names as in the registry; time periods with the shortest unit (`5m`);
//! - strings in double quotes, escaping `"`, newline, tab, carriage return, and a backslash
//!   only where it would otherwise start an escape;
//! - names in backticks only when they need them;
//! - the fewest parentheses that keep the tree: an operand gets parentheses only when its
//!   operator binds more loosely than the place it sits in.
//!
//! Left-associative chains (`a or b or c ...`) are printed with a loop, not recursion, so a
//! long chain can't overflow the stack.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{
    BinaryOp, Call, Command, Expr, Field, FillRule, InSet, Limit, Literal, NamedArg, Parse,
    ParsePattern, Pattern, Period, Projection, Query, Regex, SortKey, SortOrder, Source,
    SourceSelector, Stats, UnaryOp,
};
use super::lexer::{RESERVED, is_ident_char, is_ident_start};

/// Binding strength, loosest first. The parser's grammar has the same levels.
mod prec {
    pub const OR: u8 = 1;
    pub const AND: u8 = 2;
    pub const NOT: u8 = 3;
    pub const COMPARE: u8 = 4;
    pub const ADD: u8 = 5;
    pub const MUL: u8 = 6;
    pub const NEG: u8 = 7;
    pub const POW: u8 = 8;
    pub const ATOM: u8 = 9;
}

fn binary_prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => prec::OR,
        BinaryOp::And => prec::AND,
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => prec::COMPARE,
        BinaryOp::Add | BinaryOp::Sub => prec::ADD,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => prec::MUL,
        BinaryOp::Pow => prec::POW,
    }
}

fn expr_prec(e: &Expr) -> u8 {
    match e {
        Expr::Binary { op, .. } => binary_prec(*op),
        Expr::Unary { op: UnaryOp::Not, .. } => prec::NOT,
        Expr::Unary { op: UnaryOp::Neg, .. } => prec::NEG,
        Expr::Match { .. } | Expr::In { .. } => prec::COMPARE,
        _ => prec::ATOM,
    }
}

/// Writes `e`, in parentheses if it binds more loosely than `min`.
fn operand(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if expr_prec(e) < min { write!(f, "({e})") } else { write!(f, "{e}") }
}

fn comma_separated<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    separated(f, items, ", ")
}

fn separated<T: Display>(f: &mut Formatter<'_>, items: &[T], sep: &str) -> fmt::Result {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        separated(f, &self.commands, " | ")
    }
}

impl Display for Command {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Command::Fields(items) => {
                f.write_str(" ")?;
                comma_separated(f, items)
            }
            Command::Display(fields) | Command::Dedup(fields) => {
                f.write_str(" ")?;
                comma_separated(f, fields)
            }
            Command::Filter(e) | Command::FilterIndex(e) => write!(f, " {e}"),
            Command::Stats(stats) => write!(f, " {stats}"),
            Command::Sort(keys) => {
                f.write_str(" ")?;
                comma_separated(f, keys)
            }
            Command::Limit(Limit { any, rows }) => {
                if *any {
                    f.write_str(" any")?;
                }
                write!(f, " {rows}")
            }
            Command::Parse(parse) => write!(f, " {parse}"),
            Command::Unnest { source, into } => write!(f, " {source} into {into}"),
            Command::Expand(field) | Command::Pattern(field) => write!(f, " {field}"),
            Command::Unmask | Command::Anomaly => Ok(()),
            Command::Diff(baseline) => match baseline {
                Some(b) => write!(f, " {}", b.keyword()),
                None => Ok(()),
            },
            Command::FillMissing(rules) => {
                if !rules.is_empty() {
                    f.write_str(" ")?;
                }
                comma_separated(f, rules)
            }
            Command::Source(source) => write!(f, " {source}"),
        }
    }
}

impl Display for Projection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        match &self.alias {
            Some(alias) => write!(f, " as {alias}"),
            None => Ok(()),
        }
    }
}

impl Display for Stats {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        comma_separated(f, &self.aggregations)?;
        if !self.by.is_empty() {
            f.write_str(" by ")?;
            comma_separated(f, &self.by)?;
        }
        match &self.offset {
            Some(offset) => write!(f, " offset {offset}"),
            None => Ok(()),
        }
    }
}

impl Display for SortKey {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        match self.order {
            Some(SortOrder::Asc) => f.write_str(" asc"),
            Some(SortOrder::Desc) => f.write_str(" desc"),
            None => Ok(()),
        }
    }
}

impl Display for Parse {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.field)?;
        match &self.pattern {
            ParsePattern::Glob(glob) => write_string(f, glob)?,
            ParsePattern::Regex(re) => write!(f, "{re}")?,
            ParsePattern::Logfmt => f.write_str("logfmt")?,
            ParsePattern::Csv => f.write_str("csv")?,
        }
        if !self.aliases.is_empty() {
            f.write_str(" as ")?;
            comma_separated(f, &self.aliases)?;
        }
        if self.multi {
            f.write_str(" multi")?;
        }
        Ok(())
    }
}

impl Display for FillRule {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "with {} for ", self.value)?;
        comma_separated(f, &self.fields)
    }
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.selector {
            SourceSelector::LogGroups(args) => {
                f.write_str("logGroups(")?;
                for (n, arg) in args.iter().enumerate() {
                    if n > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: ", arg.name)?;
                    operand(f, &arg.value, prec::ADD)?;
                }
                f.write_str(")")?;
            }
            SourceSelector::Names(names) => {
                for (n, name) in names.iter().enumerate() {
                    if n > 0 {
                        f.write_str(", ")?;
                    }
                    write_string(f, name)?;
                }
            }
        }
        for NamedArg { name, value } in &self.options {
            write!(f, " {name}=")?;
            operand(f, value, prec::ADD)?;
        }
        Ok(())
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (n, segment) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(".")?;
                write_segment(f, segment)?;
                continue;
            }
            match segment.strip_prefix('@') {
                Some(rest) if !rest.is_empty() => {
                    f.write_str("@")?;
                    write_segment(f, rest)?;
                }
                _ => {
                    let plain = segment.starts_with(is_ident_start)
                        && segment.chars().all(is_ident_char)
                        && !RESERVED
                            .iter()
                            .chain(&["with"])
                            .any(|r| r.eq_ignore_ascii_case(segment));
                    if plain { f.write_str(segment)? } else { write_backticked(f, segment)? }
                }
            }
        }
        Ok(())
    }
}

/// A name segment after a dot or `@`: bare if it is `[A-Za-z0-9_]+`, else in backticks.
fn write_segment(f: &mut Formatter<'_>, segment: &str) -> fmt::Result {
    if !segment.is_empty() && segment.chars().all(is_ident_char) {
        f.write_str(segment)
    } else {
        write_backticked(f, segment)
    }
}

fn write_backticked(f: &mut Formatter<'_>, name: &str) -> fmt::Result {
    f.write_char('`')?;
    for c in name.chars() {
        if c == '`' {
            f.write_str("``")?;
        } else {
            f.write_char(c)?;
        }
    }
    f.write_char('`')
}

/// Writes a double-quoted string that the lexer reads back as `value`.
fn write_string(f: &mut Formatter<'_>, value: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            // A lone backslash reads back as itself unless it would start an escape with
            // what is printed after it (including the escapes printed for `"`, newline...).
            '\\' => match chars.peek() {
                None | Some('\\' | '"' | '\'' | 'n' | 't' | 'r' | '\n' | '\t' | '\r') => {
                    f.write_str("\\\\")?
                }
                Some(_) => f.write_char('\\')?,
            },
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl Display for Regex {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('/')?;
        // Keep escape pairs as written; escape a bare `/` so it doesn't end the literal.
        let mut chars = self.pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    f.write_char('\\')?;
                    if let Some(next) = chars.next() {
                        f.write_char(next)?;
                    }
                }
                '/' => f.write_str("\\/")?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('/')
    }
}

impl Display for Period {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(n) => write!(f, "{n}"),
            // `{:?}` always shows a `.` or an exponent (`1.0`, `1e21`), so it reads back as
            // a float, and it is the shortest text that round-trips.
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::String(s) => write_string(f, s),
            Literal::Period(p) => write!(f, "{p}"),
        }
    }
}

impl Display for Pattern {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::String(s) => write_string(f, s),
            Pattern::Regex(re) => write!(f, "{re}"),
        }
    }
}

impl Display for Call {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        comma_separated(f, &self.args)?;
        f.write_str(")")
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Field(field) => write!(f, "{field}"),
            Expr::Literal(lit) => write!(f, "{lit}"),
            Expr::List(items) => {
                f.write_str("[")?;
                comma_separated(f, items)?;
                f.write_str("]")
            }
            Expr::Call(call) => write!(f, "{call}"),
            Expr::Star => f.write_str("*"),
            Expr::Unary { op: UnaryOp::Not, expr } => {
                f.write_str("not ")?;
                operand(f, expr, prec::NOT)
            }
            Expr::Unary { op: UnaryOp::Neg, expr } => {
                f.write_str("-")?;
                operand(f, expr, prec::NEG)
            }
            Expr::Binary { op: BinaryOp::Pow, lhs, rhs } => {
                operand(f, lhs, prec::ATOM)?;
                f.write_str(" ^ ")?;
                operand(f, rhs, prec::NEG)
            }
            Expr::Binary { op, lhs, rhs } if binary_prec(*op) == prec::COMPARE => {
                operand(f, lhs, prec::ADD)?;
                write!(f, " {} ", op.symbol())?;
                operand(f, rhs, prec::ADD)
            }
            Expr::Binary { op, .. } => write_chain(f, self, binary_prec(*op)),
            Expr::Match { expr, op, pattern } => {
                operand(f, expr, prec::ADD)?;
                write!(f, " {} {pattern}", op.symbol())
            }
            Expr::In { expr, negated, set } => {
                operand(f, expr, prec::ADD)?;
                f.write_str(if *negated { " not in " } else { " in " })?;
                match set {
                    InSet::List(items) => {
                        f.write_str("[")?;
                        comma_separated(f, items)?;
                        f.write_str("]")
                    }
                    InSet::Subquery(query) => write!(f, "({query})"),
                }
            }
            Expr::Member { base, key } => {
                // A plain field or a literal as base would read back differently (`a.b` is
                // one field name; `1.5` a number), so those get parentheses.
                if matches!(**base, Expr::Call(_) | Expr::Member { .. } | Expr::Index { .. }) {
                    write!(f, "{base}.")?;
                } else {
                    write!(f, "({base}).")?;
                }
                write_segment(f, key)
            }
            Expr::Index { base, index } => {
                operand(f, base, prec::ATOM)?;
                write!(f, "[{index}]")
            }
        }
    }
}

/// Writes a left-associative chain of operators of one level without recursing down its
/// left spine.
fn write_chain(f: &mut Formatter<'_>, e: &Expr, level: u8) -> fmt::Result {
    let mut tail = Vec::new();
    let mut leftmost = e;
    while let Expr::Binary { op, lhs, rhs } = leftmost {
        if binary_prec(*op) != level {
            break;
        }
        tail.push((*op, &**rhs));
        leftmost = lhs;
    }
    operand(f, leftmost, level)?;
    for (op, rhs) in tail.into_iter().rev() {
        write!(f, " {} ", op.symbol())?;
        operand(f, rhs, level + 1)?;
    }
    Ok(())
}
