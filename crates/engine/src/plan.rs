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
    /// `@message` (also for JSON discovery and `parse`).
    pub messages: bool,
    /// `@logStream` (also for `@ptr`).
    pub streams: bool,
}

/// A predicate a field index could answer (`f = v`, `f in [...]`); the index issue fills it.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexPredicate {
    /// The field.
    pub field: String,
    /// Values any of which match.
    pub values: Vec<String>,
}

/// How the scan workers keep their share of the result.
#[derive(Clone, Debug)]
pub(crate) enum Sink {
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
    pub(crate) index: Vec<IndexPredicate>,
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
            Some(Stage::Limit { rows, any: true }) => (Sink::Any { n: *rows }, rest[1..].to_vec()),
            Some(Stage::Limit { rows, any: false }) => {
                (Sink::TopK { order: Vec::new(), k: (*rows).min(cap) }, rest[1..].to_vec())
            }
            Some(_) => (Sink::Collect, rest.clone()),
        };
        let columns = columns(&bound, &sink);
        let streams = stream_pruning(&bound, &scan_ops);
        let text = text_requirement(&bound, &scan_ops);
        Plan {
            bound,
            groups,
            range,
            streams,
            columns,
            index: Vec::new(),
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
        }
    }
    let has_stats = bound.stages.iter().any(|s| matches!(s, Stage::Stats(_)));
    if !has_stats {
        read.extend(&bound.output);
        needs_ts_only = false;
    }
    let mut c = Columns { timestamps: true, ..Columns::default() };
    if needs_ts_only {
        return c;
    }
    for id in read {
        match bound.symbols.system(id) {
            Some(SystemField::Timestamp) | Some(SystemField::Log) => {}
            Some(SystemField::IngestionTime) => c.ingestion_times = true,
            Some(SystemField::Message) => c.messages = true,
            Some(SystemField::LogStream) | Some(SystemField::Ptr) => c.streams = true,
            // Any other field may come from the message's JSON.
            None => c.messages = true,
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

impl fmt::Display for Columns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = vec!["timestamps"];
        if self.ingestion_times {
            names.push("ingestion times");
        }
        if self.messages {
            names.push("messages");
        }
        if self.streams {
            names.push("streams");
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
        if self.text.is_empty() {
            writeln!(f, "index pushdown: none")?;
        } else {
            writeln!(f, "index pushdown: @message tokens {}", self.text)?;
        }
        if !self.index.is_empty() {
            for p in &self.index {
                writeln!(f, "index pushdown: {} in [{}]", p.field, p.values.join(", "))?;
            }
        }
        if !self.bound.subqueries.is_empty() {
            writeln!(
                f,
                "subqueries: {} (run first, results held as sets)",
                self.bound.subqueries.len()
            )?;
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
        assert!(p.columns.messages);
    }

    #[test]
    fn sort_then_limit_is_a_top_k() {
        assert!(matches!(plan("sort a desc | limit 7").sink, Sink::TopK { k: 7, .. }));
        assert!(matches!(plan("sort a | filter b = 1 | limit 7").sink, Sink::Collect));
        assert!(matches!(plan("limit any 3").sink, Sink::Any { n: 3 }));
        assert!(matches!(plan("fields a").sink, Sink::TopK { k: DEFAULT_LIMIT, .. }));
    }
}
