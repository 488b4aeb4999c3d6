//! The physical plan: what to read (groups, time range, streams, columns, index predicates)
//! and how to run the pipeline (per-row operations on the scan workers, a sink that keeps
//! partial results per worker, then single-threaded operations on the merged rows).
//!
//! The pipeline splits at its first *barrier* (`stats`, `sort`, `limit`, `dedup`): everything
//! before it runs per row on the workers; the barrier becomes the sink:
//! - `stats` → per-worker partial aggregates merged at the end (a timestamps-only counting
//!   kernel when the query is `stats count(*) [by bin(p)]` with nothing before it);
//! - `sort` followed only by `limit`/`fields`/`display` → per-worker top-k;
//! - `limit any N` → stop scanning once N rows are found;
//! - `limit N` or no barrier → top-k newest first (the default order);
//! - anything else → collect every row, newest first, then run the rest.

use std::fmt;

use logsight_index::Requirement;
use logsight_model::TimeRange;
use logsight_query_lang::insights::{BinaryOp, Period};

use crate::bind::{Bound, RowOp, SortSpec, Stage, StatsPlan};
use crate::expr::CExpr;
use crate::functions::Scalar;
use crate::row::{FieldId, SystemField};
use crate::value::Value;

/// Which stored columns the query reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Columns {
    /// `@timestamp` (always: the time range filters on it).
    pub timestamps: bool,
    /// `@ingestionTime`.
    pub ingestion_times: bool,
    /// `@message` for its text (`@message`, `parse`, functions over it).
    pub messages: bool,
    /// Fields discovered in JSON messages: read from the JSON field columns where a
    /// segment has them, else from the messages.
    pub json: bool,
    /// `@logStream` (also for `@ptr`).
    pub streams: bool,
    /// Each row's message template (`pattern @message`), instead of the message text.
    pub templates: bool,
}

/// A condition on a JSON field that every matching row meets, from the filters that run
/// first: a block whose JSON field columns show no row can meet it is skipped.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldPrune {
    /// The field (never a system field).
    pub(crate) field: String,
    /// What its value must satisfy.
    pub(crate) test: PruneTest,
}

/// The value tests pruning understands. Each keeps every value the row path's
/// [`crate::expr::comparison`] or [`crate::expr::in_set`] could let through: pruning only
/// skips blocks where no row can pass.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PruneTest {
    /// Present (any comparison or `in` is false on a missing field).
    Present,
    /// A number in `[lo, hi]` (bounds inclusive or not), stored as a number or as text that
    /// reads as one (whose value the block statistics do not bound). A comparison with a
    /// number is false on other text, null and booleans.
    Range { lo: Option<(f64, bool)>, hi: Option<(f64, bool)> },
    /// Equal to one of some values: `f = "text"`, `f in [...]`.
    Values(ValueTest),
}

/// The values a `=` or `in` matches, by the type a row's value has.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ValueTest {
    /// Numbers: stored as numbers (compared with the block's min/max), or as text that reads
    /// as one (any such text keeps the block).
    numbers: Numbers,
    /// Text that does not read as a number, matched exactly (the blocks' value sets);
    /// sorted.
    texts: Vec<String>,
    /// Whether a boolean may match.
    bools: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Numbers {
    None,
    /// These, sorted (each is also matched by numbers that print the same: see
    /// [`PruneTest::may_match`]).
    Some(Vec<f64>),
    /// Any number (one of them is beyond what the statistics' `f64` holds exactly).
    Any,
}

/// What a block's JSON field columns say about one field (`source.rs` reads them).
pub(crate) trait FieldStats {
    /// The smallest and largest number stored as a number, if any.
    fn numeric(&self) -> Option<(f64, f64)>;
    /// Whether some row holds text that may read as a number.
    fn numeric_text(&self) -> bool;
    /// Whether some row holds `null` or a boolean.
    fn has_other(&self) -> bool;
    /// Whether some row may hold exactly the text `s` (never false when one does).
    fn may_hold_text(&self, s: &str) -> bool;
}

/// How the scan workers keep their share of the result.
#[derive(Clone, Debug)]
pub(crate) enum Sink {
    /// `pattern`: counts per pattern merged at the end; `from_templates` when rows are
    /// counted by their stored message template (`pattern @message` after only filters).
    Pattern {
        spec: crate::pattern::PatternSpec,
        from_templates: bool,
    },
    /// `stats count(*) [by bin(p)]` with no per-row work: counts from timestamps alone.
    CountBins {
        stats: StatsPlan,
        bin: Option<(Period, i64)>,
    },
    Aggregate(StatsPlan),
    /// The best `k` rows by `order` then newest first (`order` empty: newest first).
    TopK {
        order: Vec<SortSpec>,
        k: usize,
    },
    /// `limit any N`.
    Any {
        n: usize,
    },
    /// Every row, newest first.
    Collect,
}

/// A planned query.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) bound: Bound,
    pub(crate) groups: Vec<String>,
    pub(crate) range: TimeRange,
    pub(crate) streams: Option<Vec<String>>,
    pub(crate) columns: Columns,
    /// When `columns.json`: every field of the query that JSON could supply (all but the
    /// system fields), with its id.
    pub(crate) json_fields: Vec<(FieldId, String)>,
    /// Block pruning from JSON field columns' statistics and value sets: the field index
    /// pushdown of `filter`/`filterIndex` conditions `f = v`, `f in [...]`, `f < n`, ...
    pub(crate) prunes: Vec<FieldPrune>,
    /// Terms every matching message contains, for the full-text index to prune blocks.
    pub(crate) text: Requirement,
    pub(crate) scan_ops: Vec<RowOp>,
    pub(crate) scan_texts: Vec<String>,
    pub(crate) sink: Sink,
    pub(crate) post: Vec<Stage>,
    /// Rows returned at most.
    pub(crate) cap: usize,
}

/// The default number of rows returned (§1.3.5).
pub const DEFAULT_LIMIT: usize = 10_000;

impl Plan {
    pub(crate) fn new(
        bound: Bound,
        groups: Vec<String>,
        range: TimeRange,
        request_limit: Option<usize>,
    ) -> Plan {
        let cap = request_limit.unwrap_or(if bound.has_limit { usize::MAX } else { DEFAULT_LIMIT });
        let mut stages = bound.stages.clone().into_iter().peekable();
        let mut scan_ops = Vec::new();
        let mut scan_texts = Vec::new();
        while let Some(Stage::Row(..)) = stages.peek() {
            if let Some(Stage::Row(op, text)) = stages.next() {
                scan_ops.push(op);
                scan_texts.push(text);
            }
        }
        let rest: Vec<Stage> = stages.collect();
        let (sink, post) = match rest.first() {
            None => (Sink::TopK { order: Vec::new(), k: cap }, Vec::new()),
            Some(Stage::Stats(s)) => {
                let sink = match count_bins(s) {
                    Some(bin) if scan_ops.is_empty() => Sink::CountBins { stats: s.clone(), bin },
                    _ => Sink::Aggregate(s.clone()),
                };
                (sink, rest[1..].to_vec())
            }
            Some(Stage::Sort(keys, _)) => {
                let after = &rest[1..];
                let preserves = after.iter().all(|s| {
                    matches!(s, Stage::Limit { any: false, .. } | Stage::Row(RowOp::Fields(_), _))
                });
                let limit = after.iter().find_map(|s| match s {
                    Stage::Limit { rows, .. } => Some(*rows),
                    _ => None,
                });
                if preserves {
                    let k = limit.unwrap_or(cap).min(cap);
                    (Sink::TopK { order: keys.clone(), k }, after.to_vec())
                } else {
                    (Sink::Collect, rest.clone())
                }
            }
            Some(Stage::Pattern(spec)) => {
                let message = bound.symbols.get("@message") == Some(spec.field);
                let from_templates =
                    message && scan_ops.iter().all(|op| matches!(op, RowOp::Filter(_)));
                (Sink::Pattern { spec: spec.clone(), from_templates }, rest[1..].to_vec())
            }
            Some(Stage::Limit { rows, any: true }) => (Sink::Any { n: *rows }, rest[1..].to_vec()),
            Some(Stage::Limit { rows, any: false }) => {
                (Sink::TopK { order: Vec::new(), k: (*rows).min(cap) }, rest[1..].to_vec())
            }
            Some(_) => (Sink::Collect, rest.clone()),
        };
        let columns = columns(&bound, &sink);
        let json_fields = if columns.json { bound.symbols.json_candidates() } else { Vec::new() };
        let streams = stream_pruning(&bound, &scan_ops);
        let prunes = if columns.json { field_prunes(&bound, &scan_ops) } else { Vec::new() };
        let text = text_requirement(&bound, &scan_ops);
        Plan {
            bound,
            groups,
            range,
            streams,
            columns,
            json_fields,
            prunes,
            text,
            scan_ops,
            scan_texts,
            sink,
            post,
            cap,
        }
    }
}

/// `Some(bin)` when every aggregation is `count(*)` and the only `by` is at most one `bin`.
fn count_bins(s: &StatsPlan) -> Option<Option<(Period, i64)>> {
    if !s.aggs.iter().all(|a| a.kind == crate::agg::AggKind::CountAll) {
        return None;
    }
    match s.by.as_slice() {
        [] => Some(None),
        [(_, CExpr::Call(Scalar::Bin, args))] => match args.as_slice() {
            [CExpr::Period(p)] => Some(Some((*p, 0))),
            [CExpr::Period(p), CExpr::Lit(Value::Int(off))] => Some(Some((*p, *off))),
            _ => None,
        },
        _ => None,
    }
}

fn columns(bound: &Bound, sink: &Sink) -> Columns {
    let mut read: Vec<FieldId> = Vec::new();
    let mut needs_ts_only = matches!(sink, Sink::CountBins { .. });
    for stage in &bound.stages {
        match stage {
            Stage::Row(op, _) => op_reads(op, &mut read),
            Stage::Stats(s) => {
                for a in &s.aggs {
                    if let Some(arg) = &a.arg {
                        arg.fields(&mut read);
                    }
                }
                for (_, e) in &s.by {
                    e.fields(&mut read);
                }
            }
            Stage::Sort(keys, _) => keys.iter().for_each(|k| k.expr.fields(&mut read)),
            Stage::Dedup(ids, _) => read.extend(ids),
            Stage::Limit { .. } => {}
            Stage::Pattern(p) => match sink {
                Sink::Pattern { spec, from_templates: true } if spec.field == p.field => {}
                _ => read.push(p.field),
            },
        }
    }
    let has_stats = bound.stages.iter().any(|s| matches!(s, Stage::Stats(_) | Stage::Pattern(_)));
    if !has_stats {
        read.extend(&bound.output);
        needs_ts_only = false;
    }
    let templates = matches!(sink, Sink::Pattern { from_templates: true, .. });
    let mut c = Columns { timestamps: true, templates, ..Columns::default() };
    if needs_ts_only {
        return c;
    }
    for id in read {
        match bound.symbols.system(id) {
            Some(SystemField::Timestamp) | Some(SystemField::Log) => {}
            Some(SystemField::IngestionTime) => c.ingestion_times = true,
            Some(SystemField::Message) => c.messages = true,
            Some(SystemField::LogStream) => c.streams = true,
            // A pointer names its event exactly: by ingestion time and message checksum too.
            Some(SystemField::Ptr) => {
                c.streams = true;
                c.ingestion_times = true;
                c.messages = true;
            }
            // Any other field may come from the message's JSON.
            None => c.json = true,
        }
    }
    c
}

fn op_reads(op: &RowOp, out: &mut Vec<FieldId>) {
    match op {
        RowOp::Filter(e) => e.fields(out),
        RowOp::Fields(ps) => ps.iter().for_each(|(_, e)| e.fields(out)),
        RowOp::Parse(p) => p.reads(out),
        RowOp::Unnest { source, .. } => source.fields(out),
    }
}

/// Streams named by `@logStream = "x"` or `@logStream in [...]` in a filter that runs
/// before anything can change `@logStream`; the filter still runs, so this is only pruning.
fn stream_pruning(bound: &Bound, scan_ops: &[RowOp]) -> Option<Vec<String>> {
    let id = bound.symbols.get("@logStream")?;
    for op in scan_ops {
        match op {
            RowOp::Filter(e) => {
                if let Some(names) = streams_in(e, id) {
                    return Some(names);
                }
            }
            RowOp::Fields(ps) if ps.iter().any(|(f, _)| *f == id) => return None,
            RowOp::Parse(_) | RowOp::Unnest { .. } | RowOp::Fields(_) => {}
        }
    }
    None
}

/// Conditions on JSON fields from the filters that run before anything can set a field.
fn field_prunes(bound: &Bound, scan_ops: &[RowOp]) -> Vec<FieldPrune> {
    let mut out = Vec::new();
    for op in scan_ops {
        let RowOp::Filter(e) = op else { break };
        conjuncts(e, &mut |c| {
            if let Some((id, test)) = prune_test(c)
                && bound.symbols.system(id).is_none()
            {
                out.push(FieldPrune { field: bound.symbols.name(id).to_owned(), test });
            }
        });
    }
    out
}

fn conjuncts<'e>(e: &'e CExpr, f: &mut dyn FnMut(&'e CExpr)) {
    match e {
        CExpr::Binary(BinaryOp::And, a, b) => {
            conjuncts(a, f);
            conjuncts(b, f);
        }
        other => f(other),
    }
}

/// Numbers beyond 2^53 do not survive the statistics' `f64`: no bound from them.
const EXACT: f64 = 9_007_199_254_740_992.0;

fn number(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => return None,
    };
    (x.abs() < EXACT).then_some(x)
}

/// `field op literal` (either side), `field in [...]`: the field and what a matching value
/// must satisfy. A field read through a map path (`a.b` of a map `a`) is still the JSON leaf
/// `a.b` here: nothing before the first filters sets a field, and JSON leaves are not maps.
fn prune_test(e: &CExpr) -> Option<(FieldId, PruneTest)> {
    match e {
        CExpr::Binary(op, a, b) => {
            let (id, lit, op) = match (a.as_ref(), b.as_ref()) {
                (CExpr::Field { id, .. }, CExpr::Lit(v)) => (*id, v, *op),
                (CExpr::Lit(v), CExpr::Field { id, .. }) => (*id, v, flip(*op)?),
                _ => return None,
            };
            let ordered =
                matches!(op, BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq);
            if op != BinaryOp::Eq && !ordered {
                return None;
            }
            let test = match lit {
                Value::Null => return None,
                Value::Str(s) if op == BinaryOp::Eq => PruneTest::Values(ValueTest::equal_text(s)),
                // Text orders against text of any kind (`"abc" > "404"`): only presence.
                Value::Str(_) => PruneTest::Present,
                v => match number(v) {
                    Some(n) => range(op, n),
                    None => PruneTest::Present,
                },
            };
            Some((id, test))
        }
        CExpr::In { expr, set: crate::expr::InSet::Ready(set), negated: false } => {
            let CExpr::Field { id, .. } = expr.as_ref() else { return None };
            Some((*id, PruneTest::Values(ValueTest::members(set.iter().map(String::as_str)))))
        }
        _ => None,
    }
}

fn range(op: BinaryOp, n: f64) -> PruneTest {
    match op {
        BinaryOp::Eq => PruneTest::Range { lo: Some((n, true)), hi: Some((n, true)) },
        BinaryOp::Gt => PruneTest::Range { lo: Some((n, false)), hi: None },
        BinaryOp::GtEq => PruneTest::Range { lo: Some((n, true)), hi: None },
        BinaryOp::Lt => PruneTest::Range { lo: None, hi: Some((n, false)) },
        _ => PruneTest::Range { lo: None, hi: Some((n, true)) },
    }
}

impl ValueTest {
    /// `f = "s"`: text that reads as a number equals numbers and numeric text of the same
    /// value (`"404" = 404`, `"404" = "404.0"`); other text equals the same text only.
    fn equal_text(s: &str) -> ValueTest {
        match crate::value::parse_number(s) {
            Some(v) => {
                ValueTest { numbers: Numbers::of([number(&v)]), texts: Vec::new(), bools: false }
            }
            None => ValueTest { numbers: Numbers::None, texts: vec![s.to_owned()], bools: false },
        }
    }

    /// `f in [...]` by the members' set keys ([`Value::set_key`]): a number's key, or the
    /// key of text reading as one, is a number key; `true`/`false` are the keys of booleans
    /// and of that text; any other text is its own key.
    fn members<'k>(keys: impl Iterator<Item = &'k str>) -> ValueTest {
        let (mut numbers, mut texts, mut bools) = (Vec::new(), Vec::new(), false);
        for k in keys {
            match crate::value::parse_number(k) {
                Some(v) => numbers.push(number(&v)),
                None => {
                    bools |= k == "true" || k == "false";
                    texts.push(k.to_owned());
                }
            }
        }
        texts.sort();
        ValueTest { numbers: Numbers::of(numbers), texts, bools }
    }
}

impl Numbers {
    /// `None` items are numbers the statistics cannot bound.
    fn of(items: impl IntoIterator<Item = Option<f64>>) -> Numbers {
        let items: Option<Vec<f64>> = items.into_iter().collect();
        match items {
            None => Numbers::Any,
            Some(ns) if ns.is_empty() => Numbers::None,
            Some(mut ns) => {
                ns.sort_by(f64::total_cmp);
                ns.dedup();
                Numbers::Some(ns)
            }
        }
    }
}

fn flip(op: BinaryOp) -> Option<BinaryOp> {
    Some(match op {
        BinaryOp::Eq => BinaryOp::Eq,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        _ => return None,
    })
}

impl PruneTest {
    /// Whether some row of a block may pass, from the field's block statistics (`None`
    /// when no row has the field).
    pub(crate) fn may_match(&self, stats: Option<&dyn FieldStats>) -> bool {
        let Some(stats) = stats else { return false };
        match self {
            PruneTest::Present => true,
            PruneTest::Range { lo, hi } => {
                let Some((min, max)) = stats.numeric() else { return stats.numeric_text() };
                let above = lo.is_none_or(|(l, inc)| if inc { max >= l } else { max > l });
                let below = hi.is_none_or(|(h, inc)| if inc { min <= h } else { min < h });
                (above && below) || stats.numeric_text()
            }
            PruneTest::Values(v) => {
                let numbers = match &v.numbers {
                    Numbers::None => false,
                    _ if stats.numeric_text() => true,
                    Numbers::Any => stats.numeric().is_some(),
                    // `in` matches a float by its printed key, rounded to 15 significant
                    // digits: a float that prints as `n` lies within this margin of it.
                    Numbers::Some(ns) => stats.numeric().is_some_and(|(min, max)| {
                        ns.iter().any(|&n| {
                            let margin = n.abs() * 1e-14;
                            n + margin >= min && n - margin <= max
                        })
                    }),
                };
                numbers
                    || (v.bools && stats.has_other())
                    || v.texts.iter().any(|t| stats.may_hold_text(t))
            }
        }
    }
}

/// What the `like` and regex conditions on `@message` in the filters that run before
/// anything can change `@message` require of every matching message. The filters still run:
/// the index only skips blocks that cannot match.
fn text_requirement(bound: &Bound, scan_ops: &[RowOp]) -> Requirement {
    let Some(id) = bound.symbols.get("@message") else { return Requirement::none() };
    let mut req = Requirement::none();
    for op in scan_ops {
        match op {
            RowOp::Filter(e) => req = req.and(message_requirement(e, id)),
            RowOp::Fields(ps) if ps.iter().any(|(f, _)| *f == id) => break,
            RowOp::Fields(_) => {}
            RowOp::Parse(_) | RowOp::Unnest { .. } => break,
        }
    }
    req
}

fn message_requirement(e: &CExpr, id: FieldId) -> Requirement {
    let is_message = |x: &CExpr| matches!(x, CExpr::Field { id: f, path: None } if *f == id);
    match e {
        CExpr::Binary(BinaryOp::And, a, b) => {
            message_requirement(a, id).and(message_requirement(b, id))
        }
        CExpr::Binary(BinaryOp::Or, a, b) => {
            message_requirement(a, id).or(message_requirement(b, id))
        }
        CExpr::Contains { expr, needle, negated: false } if is_message(expr) => {
            Requirement::substring(needle.needle())
        }
        CExpr::Regex { expr, re, negated: false } if is_message(expr) => {
            Requirement::regex(re.as_str())
        }
        _ => Requirement::none(),
    }
}

fn streams_in(e: &CExpr, id: FieldId) -> Option<Vec<String>> {
    match e {
        CExpr::Binary(BinaryOp::And, a, b) => streams_in(a, id).or_else(|| streams_in(b, id)),
        CExpr::Binary(BinaryOp::Eq, a, b) => match (a.as_ref(), b.as_ref()) {
            (CExpr::Field { id: f, .. }, CExpr::Lit(Value::Str(s)))
            | (CExpr::Lit(Value::Str(s)), CExpr::Field { id: f, .. })
                if *f == id && crate::value::parse_number(s).is_none() =>
            {
                Some(vec![s.to_string()])
            }
            _ => None,
        },
        CExpr::In { expr, set: crate::expr::InSet::Ready(set), negated: false } => {
            match expr.as_ref() {
                // Keys of number-like names are normalised (`01` is `1`): no pruning then.
                CExpr::Field { id: f, .. }
                    if *f == id && set.iter().all(|k| crate::value::parse_number(k).is_none()) =>
                {
                    let mut names: Vec<String> = set.iter().cloned().collect();
                    names.sort();
                    Some(names)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

impl fmt::Display for PruneTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = crate::value::format_float;
        match self {
            PruneTest::Present => f.write_str("present"),
            PruneTest::Range { lo, hi } => {
                let lo = lo.map_or("(-inf".to_string(), |(l, inc)| {
                    format!("{}{}", if inc { "[" } else { "(" }, num(l))
                });
                let hi = hi.map_or("inf)".to_string(), |(h, inc)| {
                    format!("{}{}", num(h), if inc { "]" } else { ")" })
                });
                write!(f, "in {lo}, {hi} (or text reading as a number)")
            }
            PruneTest::Values(v) => {
                let mut parts = Vec::new();
                if !v.texts.is_empty() {
                    let ts: Vec<String> = v.texts.iter().map(|t| format!("{t:?}")).collect();
                    parts.push(format!("the text {} (block value sets)", ts.join(" or ")));
                }
                match &v.numbers {
                    Numbers::None => {}
                    Numbers::Some(ns) => {
                        let ns: Vec<String> = ns.iter().map(|&n| num(n)).collect();
                        parts.push(format!("the number {} or text reading as it", ns.join(" or ")));
                    }
                    Numbers::Any => parts.push("a number or text reading as one".into()),
                }
                if v.bools {
                    parts.push("a boolean".into());
                }
                if parts.is_empty() {
                    parts.push("nothing (no value matches)".into());
                }
                write!(f, "is {}", parts.join("; or "))
            }
        }
    }
}

impl fmt::Display for Columns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = vec!["timestamps"];
        if self.ingestion_times {
            names.push("ingestion times");
        }
        if self.messages {
            names.push("messages");
        }
        if self.json {
            names.push("JSON fields");
        }
        if self.streams {
            names.push("streams");
        }
        if self.templates {
            names.push("message templates");
        }
        f.write_str(&names.join(", "))
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = |t: Option<i64>| t.map_or("open".to_string(), crate::value::format_time);
        writeln!(f, "groups: {}", self.groups.join(", "))?;
        writeln!(
            f,
            "time range: {} .. {} (end exclusive)",
            time(self.range.start),
            time(self.range.end)
        )?;
        match &self.streams {
            Some(s) => writeln!(f, "streams: only {}", s.join(", "))?,
            None => writeln!(f, "streams: all")?,
        }
        writeln!(f, "columns: {}", self.columns)?;
        for p in &self.prunes {
            writeln!(f, "block pruning from JSON field columns: {} {}", p.field, p.test)?;
        }
        if self.columns.json {
            let names: Vec<&str> = self.json_fields.iter().map(|(_, n)| n.as_str()).collect();
            writeln!(
                f,
                "JSON fields: {} (from the JSON field columns where built, else parsed from messages)",
                names.join(", ")
            )?;
        }
        if self.text.is_empty() {
            writeln!(f, "index pushdown: none")?;
        } else {
            writeln!(f, "index pushdown: @message tokens {}", self.text)?;
        }
        if !self.bound.subqueries.is_empty() {
            writeln!(
                f,
                "subqueries: {} (run first, results held as sets)",
                self.bound.subqueries.len()
            )?;
        }
        if self.columns.json
            && let Some(k) =
                crate::kernel::Kernel::compile(&self.scan_ops, &self.sink, &self.bound.symbols)
        {
            writeln!(f, "{}", k.describe(&self.bound.symbols))?;
        }
        if let Some(s) = crate::screen::Screen::for_plan(self) {
            writeln!(f, "{}", s.describe())?;
        }
        writeln!(f, "per row, on the scan workers:")?;
        if self.scan_texts.is_empty() {
            writeln!(f, "  (nothing)")?;
        }
        for t in &self.scan_texts {
            writeln!(f, "  {t}")?;
        }
        let sink = match &self.sink {
            Sink::CountBins { stats, .. } => {
                format!("count from timestamps alone, partial counts merged: {}", stats.text)
            }
            Sink::Aggregate(s) => format!("partial aggregates per worker, merged: {}", s.text),
            Sink::Pattern { spec, from_templates: true } => {
                format!("counts per stored message template, patterns merged: {}", spec.text)
            }
            Sink::Pattern { spec, from_templates: false } => {
                format!("values split into templates per unit, patterns merged: {}", spec.text)
            }
            Sink::TopK { order, k } if order.is_empty() => format!("top {k} newest first"),
            Sink::TopK { k, .. } => format!("top {k} by the sort keys, then newest first"),
            Sink::Any { n } => format!("stop once {n} rows are found (limit any)"),
            Sink::Collect => "collect every row, newest first".to_string(),
        };
        writeln!(f, "sink: {sink}")?;
        if !self.post.is_empty() {
            writeln!(f, "then, on the merged rows:")?;
            for s in &self.post {
                let text = match s {
                    Stage::Row(_, t) | Stage::Sort(_, t) | Stage::Dedup(_, t) => t.clone(),
                    Stage::Stats(s) => s.text.clone(),
                    Stage::Pattern(p) => p.text.clone(),
                    Stage::Limit { rows, any } => {
                        format!("limit {}{rows}", if *any { "any " } else { "" })
                    }
                };
                writeln!(f, "  {text}")?;
            }
        }
        let cols: Vec<&str> =
            self.bound.output.iter().map(|id| self.bound.symbols.name(*id)).collect();
        write!(f, "output: {}", cols.join(", "))?;
        if self.cap != usize::MAX {
            write!(f, " (at most {} rows)", self.cap)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind::bind_text;

    fn plan(q: &str) -> Plan {
        Plan::new(bind_text(q).unwrap(), vec!["g".into()], TimeRange::ALL, None)
    }

    #[test]
    fn streams_are_pruned_from_filters_on_log_stream() {
        assert_eq!(
            plan("filter @logStream = 'web' | fields @message").streams,
            Some(vec!["web".into()])
        );
        let p = plan("filter x = 1 and @logStream in ['b', 'a'] | stats count(*)");
        assert_eq!(p.streams, Some(vec!["a".into(), "b".into()]));
        // Names that read as numbers compare as numbers (`01` = `1`): no pruning.
        assert_eq!(plan("filter @logStream = '01'").streams, None);
        assert_eq!(plan("filter @logStream in ['a', '7']").streams, None);
        // Not when something may have changed @logStream first, nor under `or`.
        assert_eq!(plan("fields 'x' as @logStream | filter @logStream = 'x'").streams, None);
        assert_eq!(plan("filter @logStream = 'a' or y = 2").streams, None);
    }

    #[test]
    fn message_conditions_are_pushed_to_the_index() {
        let text = |q: &str| plan(q).text.to_string();
        assert_eq!(
            text("filter @message like 'Failed password for'"),
            "*failed AND password AND for*"
        );
        assert_eq!(text("filter @message like /port [0-9]+ ssh2/ and x = 1"), "*port AND ssh2*");
        assert_eq!(
            text("filter @message =~ /disk full/ or @message like ' oom '"),
            "(oom | full*)"
        );
        assert_eq!(
            text("filter @message like 'a b c' | fields @timestamp | filter @message like /x y/"),
            "*a AND b AND c* AND *x AND y*"
        );
        // Nothing when the condition is negated, under `or` with an unindexable side, or after
        // something may have changed @message.
        assert_eq!(text("filter @message not like 'error'"), "");
        assert_eq!(text("filter @message like 'error' or x = 1"), "");
        assert_eq!(text("fields 'x' as @message | filter @message like 'error'"), "");
        assert_eq!(text("parse @message 'a * b' as c | filter @message like 'error'"), "");
        assert_eq!(text("filter other like 'error'"), "");
        assert!(
            plan("filter @message like 'Failed password for'")
                .to_string()
                .contains("index pushdown: @message tokens *failed AND password AND for*")
        );
    }

    #[test]
    fn counting_by_bin_reads_timestamps_only() {
        let p = plan("stats count(*) by bin(5m)");
        assert!(matches!(p.sink, Sink::CountBins { .. }));
        assert_eq!(p.columns, Columns { timestamps: true, ..Columns::default() });
        let p = plan("filter status = 500 | stats count(*) by bin(5m)");
        assert!(matches!(p.sink, Sink::Aggregate(_)));
        assert!(p.columns.json && !p.columns.messages);
        // Every non-system name: JSON may hold a key spelled like an output name too.
        assert!(p.json_fields.iter().any(|(_, n)| n == "status"));
        assert!(p.json_fields.iter().all(|(_, n)| !n.starts_with("@timestamp")));
    }

    #[test]
    fn json_fields_need_no_message_text_unless_the_query_reads_it() {
        let p = plan("stats avg(latency_ms) by bin(1m)");
        assert_eq!(p.columns, Columns { timestamps: true, json: true, ..Columns::default() });
        let p = plan("filter @message like 'x' | stats avg(latency_ms)");
        assert!(p.columns.json && p.columns.messages);
        let p = plan("parse @message 'a=*' as a | stats count(*) by a");
        assert!(p.columns.messages);
        assert!(p.to_string().contains("JSON fields: a, "), "{p}");
    }

    fn texts(ts: &[&str]) -> Vec<String> {
        ts.iter().map(|t| t.to_string()).collect()
    }

    fn values(numbers: Numbers, ts: &[&str], bools: bool) -> PruneTest {
        PruneTest::Values(ValueTest { numbers, texts: texts(ts), bools })
    }

    #[test]
    fn first_filters_give_block_prunes() {
        let p = plan(
            "filter latency_ms > 100 and level = 'ERROR' and 5 >= n and code = '404' \
             and region > 'eu' | stats count(*)",
        );
        let tests: Vec<(&str, &PruneTest)> =
            p.prunes.iter().map(|f| (f.field.as_str(), &f.test)).collect();
        assert_eq!(
            tests,
            [
                ("latency_ms", &PruneTest::Range { lo: Some((100.0, false)), hi: None }),
                ("level", &values(Numbers::None, &["ERROR"], false)),
                ("n", &PruneTest::Range { lo: None, hi: Some((5.0, true)) }),
                ("code", &values(Numbers::Some(vec![404.0]), &[], false)),
                ("region", &PruneTest::Present),
            ]
        );
        let p = plan("filter status in [503, 500, '500.0'] | stats count(*)");
        assert_eq!(p.prunes[0].test, values(Numbers::Some(vec![500.0, 503.0]), &[], false));
        let p = plan("filterIndex user in ['b', 'a', 7, 'true', 'false'] | stats count(*)");
        assert_eq!(
            p.prunes[0].test,
            values(Numbers::Some(vec![7.0]), &["a", "b", "false", "true"], true)
        );
        let p = plan("filter id in [9007199254740993, 'x']");
        assert_eq!(p.prunes[0].test, values(Numbers::Any, &["x"], false));
        // Not under `or`, `!=`, `not in`, after something that sets fields, or on `@` fields.
        for q in [
            "filter a > 1 or b > 2",
            "filter a != 1",
            "filter a != 'x'",
            "filter a not in [1]",
            "filter a not in ['x']",
            "filterIndex a not in ['x']",
            "fields 1 as a | filter a > 1",
            "fields 'x' as a | filter a = 'x'",
            "filter @timestamp > 5",
            "filter @logStream = 'x'",
            "filter a = null",
        ] {
            assert!(plan(q).prunes.is_empty(), "{q}");
        }
    }

    /// A block as its JSON field columns describe one field.
    #[derive(Default)]
    struct Block {
        numeric: Option<(f64, f64)>,
        numeric_text: bool,
        other: bool,
        /// `None`: no value set (too many strings); `Some(ts)`: exactly these strings.
        texts: Option<Vec<&'static str>>,
        has_text: bool,
    }

    impl FieldStats for Block {
        fn numeric(&self) -> Option<(f64, f64)> {
            self.numeric
        }
        fn numeric_text(&self) -> bool {
            self.numeric_text
        }
        fn has_other(&self) -> bool {
            self.other
        }
        fn may_hold_text(&self, s: &str) -> bool {
            self.has_text && self.texts.as_ref().is_none_or(|ts| ts.contains(&s))
        }
    }

    fn numbers(lo: f64, hi: f64) -> Block {
        Block { numeric: Some((lo, hi)), ..Block::default() }
    }

    fn strings(ts: &[&'static str]) -> Block {
        Block { texts: Some(ts.to_vec()), has_text: true, ..Block::default() }
    }

    fn may(test: &PruneTest, block: &Block) -> bool {
        test.may_match(Some(block))
    }

    #[test]
    fn prune_tests_keep_blocks_that_may_match() {
        let gt = PruneTest::Range { lo: Some((10.0, false)), hi: None };
        assert!(!gt.may_match(None), "no row has the field");
        assert!(!may(&gt, &numbers(1.0, 10.0)));
        assert!(may(&gt, &numbers(1.0, 10.5)));
        let numeric_text = Block { numeric_text: true, ..numbers(1.0, 2.0) };
        assert!(may(&gt, &numeric_text), "text may read as a larger number");
        assert!(!may(&gt, &strings(&["abc"])), "other text never compares with a number");
        assert!(!may(&gt, &Block { other: true, ..Block::default() }), "nor null or booleans");
        let ge = PruneTest::Range { lo: Some((10.0, true)), hi: None };
        assert!(may(&ge, &numbers(1.0, 10.0)));
        let eq = PruneTest::Range { lo: Some((7.0, true)), hi: Some((7.0, true)) };
        assert!(may(&eq, &numbers(7.0, 7.0)));
        assert!(!may(&eq, &numbers(8.0, 9.0)));
        assert!(PruneTest::Present.may_match(Some(&strings(&[]))));
    }

    #[test]
    fn value_tests_keep_blocks_that_may_hold_a_value() {
        let error = plan("filter level = 'ERROR'").prunes[0].test.clone();
        assert!(!error.may_match(None));
        assert!(may(&error, &strings(&["INFO", "ERROR"])));
        assert!(!may(&error, &strings(&["INFO", "WARN", "error"])));
        assert!(!may(&error, &numbers(0.0, 1e9)), "text never equals a number");
        assert!(!may(&error, &Block { other: true, numeric_text: true, ..strings(&["x"]) }));
        let unsummarised = Block { texts: None, has_text: true, ..Block::default() };
        assert!(may(&error, &unsummarised), "no value set: keep");

        // `"404"` equals the number 404 and text reading as 404 ("404.0", " 404").
        let code = plan("filter code = '404'").prunes[0].test.clone();
        assert!(may(&code, &numbers(400.0, 410.0)));
        assert!(!may(&code, &numbers(405.0, 410.0)));
        assert!(!may(&code, &strings(&["404x", "n/a"])));
        assert!(may(&code, &Block { numeric_text: true, ..strings(&["404.0"]) }));

        let any = plan("filter user in ['alice', 'bob', 7, 'true']").prunes[0].test.clone();
        assert!(may(&any, &strings(&["carol", "bob"])));
        assert!(!may(&any, &strings(&["carol", "dave"])));
        assert!(may(&any, &numbers(6.0, 8.0)) && !may(&any, &numbers(8.0, 9.0)));
        assert!(may(&any, &Block { other: true, ..Block::default() }), "a boolean true");
        assert!(may(&any, &Block { numeric_text: true, ..strings(&["carol"]) }), "text '7.0'");
        assert!(may(&any, &strings(&["true"])), "the text 'true' has the key of true");
        let names = plan("filter user in ['alice', 'bob']").prunes[0].test.clone();
        assert!(!may(&names, &Block { other: true, ..numbers(0.0, 9.0) }));

        // A float matches an `in` key by its 15-digit print: 0.30000000000000004 is "0.3".
        let tenth = plan("filter x in [0.3]").prunes[0].test.clone();
        assert!(may(&tenth, &numbers(0.300_000_000_000_000_04, 0.300_000_000_000_000_04)));
        assert!(!may(&tenth, &numbers(0.300_000_1, 0.4)));
        let huge = plan("filter x in [9007199254740993]").prunes[0].test.clone();
        assert!(may(&huge, &numbers(1.0, 2.0)), "beyond f64's exact integers: any number");
        let none = plan("filter x in []").prunes[0].test.clone();
        assert!(!may(&none, &Block { numeric_text: true, other: true, ..strings(&["a"]) }));
    }

    /// A block's cells of one field, with the statistics the columns builder keeps of them
    /// (numbers' min/max, text that may read as a number, null/booleans, exact text).
    #[derive(Debug)]
    struct Cells(Vec<Value>);

    impl FieldStats for Cells {
        fn numeric(&self) -> Option<(f64, f64)> {
            let ns = self.0.iter().filter_map(|v| match v {
                Value::Int(i) => Some(*i as f64),
                Value::Float(f) => Some(*f),
                _ => None,
            });
            ns.fold(None, |acc, x| {
                Some(acc.map_or((x, x), |(lo, hi): (f64, f64)| (lo.min(x), hi.max(x))))
            })
        }
        fn numeric_text(&self) -> bool {
            self.0
                .iter()
                .any(|v| matches!(v, Value::Str(s) if logsight_columns::may_read_as_number(s)))
        }
        fn has_other(&self) -> bool {
            self.0.iter().any(|v| matches!(v, Value::Null | Value::Bool(_)))
        }
        fn may_hold_text(&self, t: &str) -> bool {
            self.0.iter().any(|v| matches!(v, Value::Str(s) if s.as_ref() == t))
        }
    }

    /// Text that reads as a number or nearly, and text that does not.
    const TEXTS: &[&str] = &[
        "404",
        "404.0",
        " 404",
        "404 ",
        "4.04e2",
        "-0",
        "0",
        "+5",
        ".5",
        "5.",
        "0.3",
        "1e400",
        "12abc",
        "-",
        "ERROR",
        "error",
        "true",
        "false",
        "",
        " ",
        "x",
        "eu-west-1",
        "9007199254740993",
    ];

    fn cell() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-3i64..410).prop_map(Value::Int),
            Just(Value::Int(9_007_199_254_740_993)),
            prop_oneof![
                Just(0.3),
                Just(0.300_000_000_000_000_04),
                Just(2.5),
                Just(-0.0),
                Just(404.0)
            ]
            .prop_map(Value::Float),
            proptest::sample::select(TEXTS).prop_map(Value::str),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ]
    }

    /// A literal and its query text.
    fn literal() -> impl Strategy<Value = (Value, String)> {
        prop_oneof![
            (-3i64..410).prop_map(|i| (Value::Int(i), i.to_string())),
            Just((Value::Int(9_007_199_254_740_993), "9007199254740993".to_string())),
            prop_oneof![Just(0.3), Just(2.5), Just(404.5)]
                .prop_map(|f| (Value::Float(f), f.to_string())),
            proptest::sample::select(TEXTS).prop_map(|t| (Value::str(t), format!("'{t}'"))),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        // Cheap cases, and the rare ones (a float that prints like a member) need many.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Soundness against the row path's own code: whenever some cell of a block passes
        /// `f op literal` or `f in [...]` as [`crate::expr::comparison`] and
        /// [`crate::expr::in_set`] decide it, the prune test keeps the block.
        #[test]
        fn prune_tests_never_drop_a_block_with_a_match(
            cells in proptest::collection::vec(cell(), 0..6),
            op in proptest::sample::select(vec!["=", "<", "<=", ">", ">=", "!="]),
            (lit, text) in literal(),
            members in proptest::collection::vec(literal(), 0..4),
        ) {
            let block = Cells(cells);
            let stats = (!block.0.is_empty()).then_some(&block as &dyn FieldStats);
            let binop = match op {
                "=" => BinaryOp::Eq, "<" => BinaryOp::Lt, "<=" => BinaryOp::LtEq,
                ">" => BinaryOp::Gt, ">=" => BinaryOp::GtEq, _ => BinaryOp::NotEq,
            };
            for (q, flipped) in [(format!("filter f {op} {text}"), false), (format!("filter {text} {op} f"), true)] {
                let p = plan(&q);
                let passes = block.0.iter().any(|c| {
                    if flipped { crate::expr::comparison(binop, &lit, c) } else { crate::expr::comparison(binop, c, &lit) }
                });
                if passes && let Some(pr) = p.prunes.first() {
                    prop_assert!(pr.test.may_match(stats), "{q} dropped {block:?} ({})", pr.test);
                }
            }
            let list: Vec<&str> = members.iter().map(|(_, t)| t.as_str()).collect();
            let q = format!("filter f in [{}]", list.join(", "));
            let keys: std::collections::HashSet<String> =
                members.iter().filter_map(|(v, _)| v.set_key()).collect();
            let p = plan(&q);
            let passes = block.0.iter().any(|c| crate::expr::in_set(c, &keys, false));
            if passes {
                prop_assert!(p.prunes[0].test.may_match(stats), "{q} dropped {block:?}");
            }
        }
    }

    #[test]
    fn explain_shows_the_pushed_down_tests() {
        let text = plan(
            "filterIndex region = 'eu-west-1' | filter user in ['a', 'b', 3] and code = '5' \
             and ok in ['false'] | stats count(*)",
        )
        .to_string();
        for line in [
            "block pruning from JSON field columns: region is the text \"eu-west-1\" (block value sets)",
            "block pruning from JSON field columns: user is the text \"a\" or \"b\" (block value sets); or the number 3 or text reading as it",
            "block pruning from JSON field columns: code is the number 5 or text reading as it",
            "block pruning from JSON field columns: ok is the text \"false\" (block value sets); or a boolean",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }

    #[test]
    fn sort_then_limit_is_a_top_k() {
        assert!(matches!(plan("sort a desc | limit 7").sink, Sink::TopK { k: 7, .. }));
        assert!(matches!(plan("sort a | filter b = 1 | limit 7").sink, Sink::Collect));
        assert!(matches!(plan("limit any 3").sink, Sink::Any { n: 3 }));
        assert!(matches!(plan("fields a").sink, Sink::TopK { k: DEFAULT_LIMIT, .. }));
    }
}
