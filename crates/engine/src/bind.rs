//! The binder: semantic checks after parsing, and the AST compiled into stages.
//!
//! Checks (each failing with the character span of the offending command, like the
//! parser's errors):
//! - at most two `stats`; with two, `sort` and `limit` only after the second, and the second
//!   reads only fields the first produced (or fields created after it);
//! - only `limit` may follow `dedup`;
//! - a glob's `*` count equals its aliases (the parser checks it too);
//! - `bin` periods: `ms` ≤ 1000, `s` ≤ 60, `m` ≤ 60, `h` ≤ 24 (§1.5.5). CloudWatch silently
//!   runs a longer period as the cap (`bin(300s)` as 60 s); this engine **rejects** it
//!   instead, naming the equivalent period to write (`5m`), so a query never means
//!   something other than what it says. A zero period is rejected too;
//! - aggregations only inside `stats`, and every `stats` item holds one;
//! - `limit` is 1..=100,000.
//!
//! Unknown fields are not errors: they are null.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use logsight_query_lang::insights::{
    self, Command, Expr, Field, InSet as AstInSet, Literal, MatchOp, ParseError, ParsePattern,
    Pattern, Period, Projection, SortOrder, SourceSelector, TimeUnit, UnaryOp,
    functions::{self, FunctionKind},
};

use crate::agg::{AggKind, AggSpec};
use crate::error::{EngineError, Result};
use crate::expr::{CExpr, InSet};
use crate::functions::Scalar;
use crate::parse::ParseOp;
use crate::row::{FieldId, Symbols};

/// The most rows a query may ask for (§1.3.5).
pub const MAX_LIMIT: u64 = 100_000;

/// A per-row command: runs on the scan workers when it comes before the first barrier.
#[derive(Clone, Debug)]
pub(crate) enum RowOp {
    Filter(CExpr),
    Fields(Vec<(FieldId, CExpr)>),
    Parse(ParseOp),
    Unnest { source: CExpr, into: FieldId },
}

/// A sort key.
#[derive(Clone, Debug)]
pub(crate) struct SortSpec {
    pub(crate) expr: CExpr,
    pub(crate) desc: bool,
}

/// A compiled `stats`.
#[derive(Clone, Debug)]
pub(crate) struct StatsPlan {
    pub(crate) aggs: Vec<AggSpec>,
    pub(crate) by: Vec<(FieldId, CExpr)>,
    /// Output fields and their expressions over the finished aggregations.
    pub(crate) outputs: Vec<(FieldId, CExpr)>,
    /// The canonical text, for `--explain`.
    pub(crate) text: String,
}

/// One compiled command.
#[derive(Clone, Debug)]
pub(crate) enum Stage {
    Row(RowOp, String),
    Stats(StatsPlan),
    Sort(Vec<SortSpec>, String),
    Limit { rows: usize, any: bool },
    Dedup(Vec<FieldId>, String),
    Pattern(crate::pattern::PatternSpec),
}

/// Where `SOURCE` says to read.
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceSpec {
    pub(crate) names: Vec<String>,
    pub(crate) prefixes: Vec<String>,
}

/// A bound query.
#[derive(Clone, Debug)]
pub(crate) struct Bound {
    pub(crate) symbols: Symbols,
    pub(crate) stages: Vec<Stage>,
    pub(crate) subqueries: Vec<Bound>,
    pub(crate) output: Vec<FieldId>,
    pub(crate) source: Option<SourceSpec>,
    /// Whether the query has its own `limit`.
    pub(crate) has_limit: bool,
}

/// Parses and binds a query.
pub(crate) fn bind_text(text: &str) -> Result<Bound> {
    let spanned = insights::parse_spanned(text).map_err(EngineError::Malformed)?;
    let mut b = Binder { symbols: Symbols::default(), subqueries: Vec::new(), span: 0..0 };
    b.symbols.intern("@timestamp");
    b.symbols.intern("@message");
    b.bind(&spanned.query, &spanned.spans)
}

struct Binder {
    symbols: Symbols,
    subqueries: Vec<Bound>,
    span: Range<usize>,
}

impl Binder {
    fn invalid(&self, message: impl Into<String>) -> EngineError {
        EngineError::Invalid(ParseError::new(self.span.start, self.span.end, message))
    }

    fn unsupported(&self, what: &str) -> EngineError {
        EngineError::NotSupported(ParseError::new(
            self.span.start,
            self.span.end,
            format!("not supported yet: {what}"),
        ))
    }

    fn bind(&mut self, query: &insights::Query, spans: &[Range<usize>]) -> Result<Bound> {
        let mut stages = Vec::new();
        let mut source = None;
        let mut stats_seen = 0;
        let mut after_dedup = false;
        let mut cols: Vec<FieldId> = Vec::new();
        let mut display: Option<Vec<FieldId>> = None;
        let mut has_limit = false;
        // With two stats: the fields the first produced (and later commands created).
        let mut stats1_fields: Option<HashSet<String>> = None;
        let count_stats = query.commands.iter().filter(|c| matches!(c, Command::Stats(_))).count();
        for (i, cmd) in query.commands.iter().enumerate() {
            self.span = spans.get(i).cloned().unwrap_or(0..0);
            if after_dedup && !matches!(cmd, Command::Limit(_)) {
                return Err(self.invalid(format!(
                    "only `limit` may follow `dedup`, found `{}`",
                    cmd.keyword()
                )));
            }
            if count_stats == 2
                && stats_seen == 1
                && matches!(cmd, Command::Sort(_) | Command::Limit(_))
            {
                return Err(
                    self.invalid(format!("`{}` must come after the second `stats`", cmd.keyword()))
                );
            }
            if stats_seen == 2 && matches!(cmd, Command::Stats(_)) {
                return Err(self.invalid("a query may have at most two `stats` commands"));
            }
            if let Some(allowed) = &mut stats1_fields {
                if let Command::Stats(s) = cmd {
                    let mut used = Vec::new();
                    for p in s.aggregations.iter().chain(&s.by) {
                        ast_fields(&p.expr, &mut used);
                    }
                    if let Some(bad) = used.iter().find(|f| !allowed.contains(*f)) {
                        return Err(self.invalid(format!(
                            "the second `stats` may only use fields the first one produced; `{bad}` is not one of them"
                        )));
                    }
                } else if let Command::Fields(ps) = cmd {
                    for p in ps {
                        allowed.insert(projection_name(p));
                    }
                } else if let Command::Parse(p) = cmd {
                    allowed.extend(p.aliases.iter().map(Field::flat_name));
                }
            }
            match cmd {
                Command::Fields(ps) => {
                    let mut out = Vec::new();
                    for p in ps {
                        let id = self.symbols.intern(&projection_name(p));
                        let e = self.expr(&p.expr)?;
                        if !cols.contains(&id) {
                            cols.push(id);
                        }
                        out.push((id, e));
                    }
                    stages.push(Stage::Row(RowOp::Fields(out), cmd.to_string()));
                }
                Command::Display(fs) => {
                    display =
                        Some(fs.iter().map(|f| self.symbols.intern(&f.flat_name())).collect());
                }
                Command::Filter(e) | Command::FilterIndex(e) => {
                    let e = self.expr(e)?;
                    stages.push(Stage::Row(RowOp::Filter(e), cmd.to_string()));
                }
                Command::Stats(s) => {
                    stats_seen += 1;
                    if stats_seen > 2 {
                        return Err(self.invalid("a query may have at most two `stats` commands"));
                    }
                    let plan = self.stats(s)?;
                    cols = plan
                        .by
                        .iter()
                        .map(|(id, _)| *id)
                        .chain(plan.outputs.iter().map(|(id, _)| *id))
                        .collect();
                    display = None;
                    if stats_seen == 1 {
                        stats1_fields = Some(
                            cols.iter().map(|id| self.symbols.name(*id).to_string()).collect(),
                        );
                    }
                    stages.push(Stage::Stats(plan));
                }
                Command::Sort(keys) => {
                    let mut specs = Vec::new();
                    for k in keys {
                        specs.push(SortSpec {
                            expr: self.expr(&k.expr)?,
                            desc: k.order == Some(SortOrder::Desc),
                        });
                    }
                    stages.push(Stage::Sort(specs, cmd.to_string()));
                }
                Command::Limit(l) => {
                    if l.rows == 0 || l.rows > MAX_LIMIT {
                        return Err(self.invalid(format!(
                            "`limit` must be between 1 and {MAX_LIMIT}, found {}",
                            l.rows
                        )));
                    }
                    has_limit = true;
                    stages.push(Stage::Limit { rows: l.rows as usize, any: l.any });
                }
                Command::Parse(p) => {
                    if let ParsePattern::Glob(g) = &p.pattern {
                        let stars = g.matches('*').count();
                        if stars != p.aliases.len() {
                            return Err(self.invalid(format!(
                                "the glob has {stars} `*` but {} names follow `as`",
                                p.aliases.len()
                            )));
                        }
                    }
                    let field = self.field(&p.field);
                    let targets: Vec<FieldId> =
                        p.aliases.iter().map(|a| self.symbols.intern(&a.flat_name())).collect();
                    let op = ParseOp::new(field, &p.pattern, targets, p.multi, &mut self.symbols)
                        .map_err(|m| self.invalid(m))?;
                    stages.push(Stage::Row(RowOp::Parse(op), cmd.to_string()));
                }
                Command::Dedup(fs) => {
                    after_dedup = true;
                    let ids = fs.iter().map(|f| self.symbols.intern(&f.flat_name())).collect();
                    stages.push(Stage::Dedup(ids, cmd.to_string()));
                }
                Command::Unnest { source: src, into } => {
                    let source = self.expr(src)?;
                    let into = self.symbols.intern(&into.flat_name());
                    stages.push(Stage::Row(RowOp::Unnest { source, into }, cmd.to_string()));
                }
                Command::Source(s) => {
                    if i != 0 {
                        return Err(self.invalid("`SOURCE` must be the first command"));
                    }
                    if !s.options.is_empty() {
                        return Err(self.unsupported("SOURCE options (start=, end=)"));
                    }
                    let mut spec = SourceSpec::default();
                    match &s.selector {
                        SourceSelector::Names(names) => spec.names = names.clone(),
                        SourceSelector::LogGroups(args) => {
                            for a in args {
                                match (a.name.as_str(), &a.value) {
                                    ("namePrefix", Expr::List(items)) => {
                                        for item in items {
                                            match item {
                                                Expr::Literal(Literal::String(s)) => {
                                                    spec.prefixes.push(s.clone())
                                                }
                                                _ => {
                                                    return Err(self.invalid(
                                                        "namePrefix takes a list of strings",
                                                    ));
                                                }
                                            }
                                        }
                                    }
                                    ("namePrefix", _) => {
                                        return Err(
                                            self.invalid("namePrefix takes a list of strings")
                                        );
                                    }
                                    (other, _) => {
                                        return Err(
                                            self.unsupported(&format!("logGroups({other}: ...)"))
                                        );
                                    }
                                }
                            }
                            if spec.prefixes.len() > 5 {
                                return Err(
                                    self.invalid("`logGroups` takes at most 5 name prefixes")
                                );
                            }
                        }
                    }
                    source = Some(spec);
                }
                Command::Pattern(f) => {
                    let spec = crate::pattern::PatternSpec {
                        field: self.symbols.intern(&f.flat_name()),
                        pattern: self.symbols.intern("@pattern"),
                        ratio: self.symbols.intern("@ratio"),
                        count: self.symbols.intern("@sampleCount"),
                        severity: self.symbols.intern("@severityLabel"),
                        text: cmd.to_string(),
                    };
                    cols = spec.outputs();
                    display = None;
                    stages.push(Stage::Pattern(spec));
                }
                Command::Expand(_)
                | Command::Unmask
                | Command::Diff(_)
                | Command::Anomaly
                | Command::FillMissing(_) => return Err(self.unsupported(cmd.keyword())),
            }
        }
        let mut output = display.unwrap_or(cols);
        if output.is_empty() && stats_seen == 0 {
            output = vec![self.symbols.intern("@timestamp"), self.symbols.intern("@message")];
        }
        Ok(Bound {
            symbols: std::mem::take(&mut self.symbols),
            stages,
            subqueries: std::mem::take(&mut self.subqueries),
            output,
            source,
            has_limit,
        })
    }

    fn field(&mut self, f: &Field) -> CExpr {
        let id = self.symbols.intern(&f.flat_name());
        let path = if f.0.len() > 1 {
            Some((self.symbols.intern(&f.0[0]), f.0[1..].to_vec()))
        } else {
            None
        };
        CExpr::Field { id, path }
    }

    fn stats(&mut self, s: &insights::Stats) -> Result<StatsPlan> {
        let offset_ms = match s.offset {
            Some(p) => Some(self.fixed_period(p)?),
            None => None,
        };
        let mut aggs = Vec::new();
        let mut outputs = Vec::new();
        for p in &s.aggregations {
            let before = aggs.len();
            let e = self.agg_expr(&p.expr, &mut aggs, false)?;
            if aggs.len() == before {
                return Err(self.invalid(format!(
                    "`{}` in `stats` needs an aggregation such as count(*) or avg(x)",
                    p.expr
                )));
            }
            outputs.push((self.symbols.intern(&projection_name(p)), e));
        }
        let mut by = Vec::new();
        for p in &s.by {
            let mut e = self.expr(&p.expr)?;
            if let (Some(off), CExpr::Call(Scalar::Bin, args)) = (offset_ms, &mut e) {
                args.push(CExpr::Lit(crate::value::Value::Int(off)));
            }
            by.push((self.symbols.intern(&projection_name(p)), e));
        }
        let text = Command::Stats(s.clone()).to_string();
        Ok(StatsPlan { aggs, by, outputs, text })
    }

    fn fixed_period(&self, p: Period) -> Result<i64> {
        crate::functions::fixed_period_ms(p)
            .ok_or_else(|| self.invalid(format!("the offset must be a fixed period, found {p}")))
    }

    /// A `stats` item: aggregations become [`CExpr::Agg`] slots.
    fn agg_expr(&mut self, e: &Expr, aggs: &mut Vec<AggSpec>, inside: bool) -> Result<CExpr> {
        if let Expr::Call(call) = e
            && let Some(f) = functions::lookup(&call.name)
            && f.kind == FunctionKind::Aggregate
        {
            if inside {
                return Err(self.invalid(format!("aggregation `{e}` inside another aggregation")));
            }
            let kind = match f.name {
                "count" if call.args.is_empty() || matches!(call.args[0], Expr::Star) => {
                    AggKind::CountAll
                }
                "count" => AggKind::Count,
                "count_distinct" => AggKind::CountDistinct,
                "sum" => AggKind::Sum,
                "avg" => AggKind::Avg,
                "min" => AggKind::Min,
                "max" => AggKind::Max,
                "stddev" => AggKind::Stddev,
                "pct" => {
                    let p = match &call.args[1] {
                        Expr::Literal(Literal::Int(i)) => *i as f64,
                        Expr::Literal(Literal::Float(f)) => *f,
                        _ => {
                            return Err(self.invalid(
                                "`pct` takes a number from 0 to 100 as its second argument",
                            ));
                        }
                    };
                    if !(0.0..=100.0).contains(&p) {
                        return Err(
                            self.invalid(format!("`pct` percentile must be 0 to 100, found {p}"))
                        );
                    }
                    AggKind::Pct(p)
                }
                "earliest" => AggKind::Earliest,
                "latest" => AggKind::Latest,
                "sortsFirst" => AggKind::SortsFirst,
                "sortsLast" => AggKind::SortsLast,
                "countOverTime" | "count_over_time" => AggKind::Count,
                "sumOverTime" | "sum_over_time" => AggKind::Sum,
                "rate" => match call.args.get(1) {
                    None => AggKind::Rate(1_000),
                    Some(Expr::Literal(Literal::Period(p))) => {
                        AggKind::Rate(crate::functions::fixed_period_ms(*p).ok_or_else(|| {
                            self.invalid(format!(
                                "the `rate` interval must be a fixed period, found {p}"
                            ))
                        })?)
                    }
                    Some(_) => {
                        return Err(self.invalid(
                            "`rate` takes a period as its interval, as in rate(bytes, 1m)",
                        ));
                    }
                },
                "histogram" => match &call.args[1] {
                    Expr::Literal(Literal::Int(n)) if (1..=1_000).contains(n) => {
                        AggKind::Histogram(*n as u32)
                    }
                    _ => {
                        return Err(self.invalid(
                            "`histogram` takes 1 to 1000 buckets as its second argument",
                        ));
                    }
                },
                other => return Err(self.unsupported(other)),
            };
            let arg = match kind {
                AggKind::CountAll => None,
                _ => Some(self.scalar_only(&call.args[0])?),
            };
            aggs.push(AggSpec { kind, arg });
            return Ok(CExpr::Agg(aggs.len() - 1));
        }
        // A scalar expression around aggregations: rebuild it with the slots.
        let mut sub = |x: &Expr, b: &mut Self| b.agg_expr(x, aggs, inside);
        Ok(match e {
            Expr::Binary { op, lhs, rhs } => {
                let l = sub(lhs, self)?;
                let r = sub(rhs, self)?;
                CExpr::Binary(*op, Box::new(l), Box::new(r))
            }
            Expr::Unary { op: UnaryOp::Neg, expr } => CExpr::Neg(Box::new(sub(expr, self)?)),
            Expr::Call(call) if contains_agg(e) => {
                let f = self.scalar_fn(&call.name)?;
                let mut args = Vec::new();
                for a in &call.args {
                    args.push(sub(a, self)?);
                }
                CExpr::Call(f, args)
            }
            other => self.expr(other)?,
        })
    }

    fn scalar_only(&mut self, e: &Expr) -> Result<CExpr> {
        if contains_agg(e) {
            return Err(self.invalid(format!("aggregation inside another aggregation: `{e}`")));
        }
        self.expr(e)
    }

    fn scalar_fn(&self, name: &str) -> Result<Scalar> {
        Scalar::from_name(name).ok_or_else(|| self.unsupported(name))
    }

    fn expr(&mut self, e: &Expr) -> Result<CExpr> {
        Ok(match e {
            Expr::Field(f) => self.field(f),
            Expr::Literal(l) => match l {
                Literal::Int(i) => match i64::try_from(*i) {
                    Ok(i) => CExpr::Lit(crate::value::Value::Int(i)),
                    Err(_) => CExpr::Lit(crate::value::Value::Float(*i as f64)),
                },
                Literal::Float(f) => CExpr::Lit(crate::value::Value::Float(*f)),
                Literal::String(s) => CExpr::Lit(crate::value::Value::str(s)),
                Literal::Period(p) => CExpr::Period(*p),
            },
            Expr::List(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push(self.expr(i)?);
                }
                CExpr::List(out)
            }
            Expr::Star => return Err(self.invalid("`*` is only allowed in count(*)")),
            Expr::Call(call) => {
                let f = functions::lookup(&call.name);
                if f.is_some_and(|f| f.kind == FunctionKind::Aggregate) {
                    return Err(self.invalid(format!(
                        "aggregation `{}` is only allowed in `stats`",
                        call.name
                    )));
                }
                let scalar = self.scalar_fn(&call.name)?;
                let mut args = Vec::new();
                for a in &call.args {
                    args.push(self.expr(a)?);
                }
                match scalar {
                    Scalar::Bin => match args.first() {
                        Some(CExpr::Period(p)) => self.check_bin(*p)?,
                        _ => return Err(self.invalid("`bin` takes a time period such as 5m")),
                    },
                    Scalar::DateFloor | Scalar::DateCeil if !matches!(args.get(1), Some(CExpr::Period(p)) if p.amount > 0) =>
                    {
                        return Err(self.invalid(format!(
                            "`{}` takes a time period such as 1h as its second argument",
                            call.name
                        )));
                    }
                    _ => {}
                }
                CExpr::Call(scalar, args)
            }
            Expr::Unary { op: UnaryOp::Neg, expr } => CExpr::Neg(Box::new(self.expr(expr)?)),
            Expr::Unary { op: UnaryOp::Not, expr } => CExpr::Not(Box::new(self.expr(expr)?)),
            Expr::Binary { op, lhs, rhs } => {
                CExpr::Binary(*op, Box::new(self.expr(lhs)?), Box::new(self.expr(rhs)?))
            }
            Expr::Match { expr, op, pattern } => {
                let x = Box::new(self.expr(expr)?);
                let negated = *op == MatchOp::NotLike;
                match (op, pattern) {
                    (MatchOp::RegexMatch, Pattern::String(_)) => {
                        return Err(self.invalid("`=~` takes a /regex/"));
                    }
                    (_, Pattern::String(s)) => CExpr::Contains {
                        expr: x,
                        needle: Arc::new(memchr::memmem::Finder::new(s.as_bytes()).into_owned()),
                        negated,
                    },
                    (_, Pattern::Regex(r)) => {
                        let re = regex::Regex::new(&r.pattern).map_err(|err| {
                            self.invalid(format!("invalid regex /{}/: {err}", r.pattern))
                        })?;
                        CExpr::Regex { expr: x, re, negated }
                    }
                }
            }
            Expr::In { expr, negated, set } => {
                let x = Box::new(self.expr(expr)?);
                let set = match set {
                    AstInSet::List(items) => {
                        let mut keys = HashSet::new();
                        for item in items {
                            match self.expr(item)? {
                                CExpr::Lit(v) => keys.extend(v.set_key()),
                                CExpr::Neg(inner) => match *inner {
                                    CExpr::Lit(v) => keys.extend(
                                        crate::expr::arithmetic(
                                            insights::BinaryOp::Sub,
                                            &crate::value::Value::Int(0),
                                            &v,
                                        )
                                        .set_key(),
                                    ),
                                    _ => {
                                        return Err(self.unsupported("expressions in an `in` list"));
                                    }
                                },
                                _ => return Err(self.unsupported("expressions in an `in` list")),
                            }
                        }
                        InSet::Ready(Arc::new(keys))
                    }
                    AstInSet::Subquery(q) => {
                        if q.commands.iter().any(|c| {
                            matches!(
                                c,
                                Command::Filter(Expr::In { set: AstInSet::Subquery(_), .. })
                            )
                        }) {
                            return Err(self.invalid("subqueries cannot be nested"));
                        }
                        let spans = vec![self.span.clone(); q.commands.len()];
                        let mut inner = Binder {
                            symbols: Symbols::default(),
                            subqueries: Vec::new(),
                            span: self.span.clone(),
                        };
                        inner.symbols.intern("@timestamp");
                        inner.symbols.intern("@message");
                        let bound = inner.bind(q, &spans)?;
                        if bound.output.is_empty() {
                            return Err(self.invalid("a subquery must select a field"));
                        }
                        self.subqueries.push(bound);
                        InSet::Pending(self.subqueries.len() - 1)
                    }
                };
                CExpr::In { expr: x, set, negated: *negated }
            }
            Expr::Member { base, key } => CExpr::Member(Box::new(self.expr(base)?), key.clone()),
            Expr::Index { base, index } => {
                CExpr::Index(Box::new(self.expr(base)?), Box::new(self.expr(index)?))
            }
        })
    }

    fn check_bin(&self, p: Period) -> Result<()> {
        let cap = match p.unit {
            TimeUnit::Millisecond => Some((1000, "1s")),
            TimeUnit::Second => Some((60, "1m")),
            TimeUnit::Minute => Some((60, "1h")),
            TimeUnit::Hour => Some((24, "1d")),
            _ => None,
        };
        if p.amount == 0 {
            return Err(self.invalid("a `bin` period must be more than zero"));
        }
        if let Some((max, next)) = cap
            && p.amount > max
        {
            let hint =
                crate::functions::fixed_period_ms(p).map(shortest_period).unwrap_or_default();
            return Err(self.invalid(format!(
                "`bin({p})`: periods in {} are at most {max} (CloudWatch would run this as bin({max}{})); \
                 write it in a larger unit{hint} (the next unit up is {next})",
                unit_name(p.unit),
                p.unit.suffix(),
            )));
        }
        Ok(())
    }
}

fn unit_name(u: TimeUnit) -> &'static str {
    match u {
        TimeUnit::Millisecond => "milliseconds",
        TimeUnit::Second => "seconds",
        TimeUnit::Minute => "minutes",
        _ => "hours",
    }
}

/// ", such as 5m" for a period that a larger unit expresses exactly.
fn shortest_period(ms: i64) -> String {
    for (len, suffix) in [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")] {
        if ms % len == 0 {
            return format!(", such as {}{suffix}", ms / len);
        }
    }
    String::new()
}

/// The output name of a projection: its alias, or its canonical text (`count(*)`).
fn projection_name(p: &Projection) -> String {
    match (&p.alias, &p.expr) {
        (Some(a), _) => a.flat_name(),
        (None, Expr::Field(f)) => f.flat_name(),
        (None, e) => e.to_string(),
    }
}

fn contains_agg(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => {
            functions::lookup(&c.name).is_some_and(|f| f.kind == FunctionKind::Aggregate)
                || c.args.iter().any(contains_agg)
        }
        Expr::Unary { expr, .. } | Expr::Member { base: expr, .. } => contains_agg(expr),
        Expr::Binary { lhs, rhs, .. } => contains_agg(lhs) || contains_agg(rhs),
        Expr::Index { base, index } => contains_agg(base) || contains_agg(index),
        Expr::List(items) => items.iter().any(contains_agg),
        Expr::Match { expr, .. } | Expr::In { expr, .. } => contains_agg(expr),
        Expr::Field(_) | Expr::Literal(_) | Expr::Star => false,
    }
}

fn ast_fields(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Field(f) => out.push(f.flat_name()),
        Expr::Call(c) => c.args.iter().for_each(|a| ast_fields(a, out)),
        Expr::Unary { expr, .. } | Expr::Member { base: expr, .. } => ast_fields(expr, out),
        Expr::Binary { lhs, rhs, .. } => {
            ast_fields(lhs, out);
            ast_fields(rhs, out);
        }
        Expr::Index { base, index } => {
            ast_fields(base, out);
            ast_fields(index, out);
        }
        Expr::List(items) => items.iter().for_each(|i| ast_fields(i, out)),
        Expr::Match { expr, .. } | Expr::In { expr, .. } => ast_fields(expr, out),
        Expr::Literal(_) | Expr::Star => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> (usize, usize, String) {
        let e = bind_text(q).unwrap_err();
        let pe = e.query_error().expect("has offsets").clone();
        (pe.start, pe.end, pe.message)
    }

    #[test]
    fn third_stats_is_pointed_at() {
        let q = "stats count(*) as c by x | stats sum(c) as s | stats max(s)";
        let (s, e, m) = err(q);
        assert_eq!(&q[s..e], "stats max(s)");
        assert!(m.contains("at most two"), "{m}");
    }

    #[test]
    fn only_limit_follows_dedup() {
        let q = "fields a | dedup a | sort a";
        let (s, e, m) = err(q);
        assert_eq!(&q[s..e], "sort a");
        assert!(m.contains("only `limit`"), "{m}");
        assert!(bind_text("dedup a | limit 3").is_ok());
    }

    #[test]
    fn second_stats_reads_only_the_first_ones_fields() {
        let q = "stats count(*) as c by x | stats avg(y)";
        let (s, e, m) = err(q);
        assert_eq!(&q[s..e], "stats avg(y)");
        assert!(m.contains("`y`"), "{m}");
        assert!(bind_text("stats count(*) as c by x | stats avg(c) as a").is_ok());
        let q = "stats count(*) as c by x | sort c | stats avg(c)";
        let (s, e, _) = err(q);
        assert_eq!(&q[s..e], "sort c");
    }

    #[test]
    fn bin_periods_over_the_cap_are_rejected_with_a_hint() {
        let q = "stats count(*) by bin(300s)";
        let (s, e, m) = err(q);
        assert_eq!(&q[s..e], q);
        assert!(m.contains("5m"), "{m}");
        assert!(bind_text("stats count(*) by bin(60s)").is_ok());
        assert!(bind_text("stats count(*) by bin(25h)").is_err());
        assert!(bind_text("stats count(*) by bin(2d)").is_ok());
    }

    #[test]
    fn aggregations_belong_in_stats() {
        assert!(bind_text("fields count(*)").is_err());
        assert!(bind_text("stats x by y").is_err());
        assert!(bind_text("stats sum(count(*))").is_err());
        assert!(bind_text("stats sum(x) / count(*) as mean").is_ok());
    }

    #[test]
    fn unsupported_commands_say_so() {
        let q = "fields a | pattern @message | anomaly";
        let e = bind_text(q).unwrap_err();
        assert!(matches!(e, EngineError::NotSupported(_)));
        assert_eq!(e.query_error().unwrap().message, "not supported yet: anomaly");
        let e = bind_text("fields parseDate(x, 'yyyy')").unwrap_err();
        assert_eq!(e.query_error().unwrap().message, "not supported yet: parseDate");
    }

    #[test]
    fn time_series_aggregations_check_their_arguments() {
        assert!(bind_text("stats rate(x, 5m), rate(x), countOverTime(f) by bin(1m)").is_ok());
        assert!(bind_text("stats sum_over_time(x), count_over_time(x), histogram(x, 10)").is_ok());
        let e = bind_text("stats rate(x, 1mo)").unwrap_err();
        assert!(e.query_error().unwrap().message.contains("fixed period"), "{e}");
        let e = bind_text("stats rate(x, y)").unwrap_err();
        assert!(e.query_error().unwrap().message.contains("takes a period"), "{e}");
        for bad in ["stats histogram(x, 0)", "stats histogram(x, 1001)", "stats histogram(x, y)"] {
            let e = bind_text(bad).unwrap_err();
            assert!(e.query_error().unwrap().message.contains("1 to 1000 buckets"), "{bad}: {e}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert!(bind_text("limit 100000").is_ok());
        assert!(bind_text("limit 100001").is_err());
    }
}
