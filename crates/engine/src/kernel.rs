//! The columnar kernel: `filter`s and `stats` evaluated over a block's JSON field columns
//! without building a row per event.
//!
//! A scan qualifies when every operation before `stats` is a `filter` whose `and`-ed parts
//! each read one JSON field and nothing of the event itself (no system field, no `bin`),
//! and the `stats` groups by nothing or by one `bin` and aggregates plain fields (or
//! `count(*)`). Such a condition's truth depends on its field's value alone, so per block
//! it is decided once per dictionary string and once for null, true and false; numbers are
//! tested per row, directly when the condition compares with a literal, else through a
//! memo of the values seen. The aggregations are then fed exactly the values the row path
//! would give them.
//!
//! The kernel owns no semantics: it calls the row path's own `comparison`, `in_set`,
//! `eval`, `Acc::update`, `floor_to` and `next_bin`, so the two cannot drift apart, and the
//! columns tests run every query with columns (this kernel) and without (rows parsed from
//! the messages). Units without columns take the row path.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use logsight_columns::Cell;
use logsight_query_lang::insights::{BinaryOp, Period};

use crate::agg::{Acc, AggKind, Number};
use crate::bind::{RowOp, StatsPlan};
use crate::bins::{BinIds, BinSpec};
use crate::exec::AggTable;
use crate::expr::{CExpr, InSet, comparison, eval, in_set};
use crate::functions::{Scalar, floor_to, next_bin};
use crate::plan::Sink;
use crate::row::{EvalCtx, FieldId, Row, Symbols};
use crate::source::{Batch, Cells, JsonColumn, Postings, Run};
use crate::value::Value;

/// A `filter* | stats` scan compiled for JSON field columns.
#[derive(Debug)]
pub(crate) struct Kernel {
    conds: Vec<Cond>,
    bin: Option<(Period, i64)>,
    /// Per aggregation of the `stats`, the field it reads (`None`: `count(*)`).
    args: Vec<Option<FieldId>>,
}

/// One `and`-ed part of a filter, over one field.
#[derive(Debug)]
struct Cond {
    field: FieldId,
    test: Test,
}

#[derive(Debug)]
enum Test {
    /// `field op lit`, or `lit op field` when `lit_first`.
    Cmp { op: BinaryOp, lit: Value, lit_first: bool },
    /// `field in [...]` / `not in`.
    In { set: Arc<HashSet<String>>, negated: bool },
    /// Any other expression of the one field, evaluated on a row holding only that field.
    Expr(CExpr),
}

/// Numbers a memoised condition keeps at most per block (beyond that, it evaluates).
const MEMO: usize = 4096;

impl Kernel {
    /// The kernel for a scan of `scan_ops` into `sink`, when the shape qualifies.
    pub(crate) fn compile(scan_ops: &[RowOp], sink: &Sink, symbols: &Symbols) -> Option<Kernel> {
        let Sink::Aggregate(stats) = sink else { return None };
        let bin = match stats.by.as_slice() {
            [] => None,
            [(_, CExpr::Call(Scalar::Bin, args))] => match args.as_slice() {
                [CExpr::Period(p)] => Some((*p, 0)),
                [CExpr::Period(p), CExpr::Lit(Value::Int(off))] => Some((*p, *off)),
                _ => return None,
            },
            _ => return None,
        };
        let args = stats
            .aggs
            .iter()
            .map(|a| match &a.arg {
                None => Some(None),
                Some(e) => json_field(e, symbols).map(Some),
            })
            .collect::<Option<Vec<_>>>()?;
        let mut conds = Vec::new();
        for op in scan_ops {
            let RowOp::Filter(e) = op else { return None };
            let mut parts = Vec::new();
            conjuncts(e, &mut parts);
            for part in parts {
                conds.push(Cond::compile(part, symbols)?);
            }
        }
        Some(Kernel { conds, bin, args })
    }

    /// The `bin(...)` it groups by, if any.
    pub(crate) fn bin(&self) -> Option<BinSpec> {
        self.bin
    }

    /// Runs the batch's rows through the filters into `table`, reading its JSON columns;
    /// returns the rows that matched and the estimated bytes added. `bins`, when given, are
    /// its block's rows' bins for [`Kernel::bin`].
    pub(crate) fn run(
        &self,
        batch: &Batch<'_>,
        bins: Option<&BinIds>,
        stats: &StatsPlan,
        table: &mut AggTable,
        ctx: &EvalCtx<'_>,
        buffers: &mut Selection,
    ) -> (u64, isize) {
        let columns = batch.json_columns().unwrap_or_default();
        let column = |id: FieldId| columns.iter().find(|c| c.id() == id);
        let rows = &mut buffers.rows;
        rows.clear();
        let mut conds = self.conds.iter();
        match conds.next() {
            Some(first) => first.select_from(column(first.field), batch, rows, ctx),
            None => {
                for run in batch.runs() {
                    rows.extend(run.rows.start as u32..run.rows.end as u32);
                }
            }
        }
        for cond in conds {
            if rows.is_empty() {
                break;
            }
            cond.select(column(cond.field), rows, ctx);
        }
        let args: Vec<Option<&JsonColumn>> = self.args.iter().map(|a| a.and_then(column)).collect();
        if let (Some(_), Some(bins)) = (self.bin, bins) {
            let mut delta = 0;
            for (id, rows) in by_bin(bins, rows, &mut buffers.by_bin) {
                let (group, d) = table.time_group(stats, bins.start(id));
                delta += d;
                for ((acc, spec), col) in group.accs.iter_mut().zip(&stats.aggs).zip(&args) {
                    delta += feed(acc, spec.kind, *col, rows, batch);
                }
            }
            return (buffers.rows.len() as u64, delta);
        }
        if self.bin.is_some() && rows.len() * SPARSE < batch.len() {
            stream_in_timestamps(batch);
        }
        let mut delta = 0;
        let mut i = 0;
        while i < rows.len() {
            // Rows of one bin come in runs (each stream's rows are in time order): one group
            // lookup per run.
            let ts = batch.timestamp(rows[i] as usize);
            let (lo, hi) = match self.bin {
                None => (i64::MIN, i64::MAX),
                Some((p, off)) => {
                    let lo = floor_to(ts - off, p) + off;
                    (lo, next_bin(lo - off, p) + off)
                }
            };
            let mut j = i + 1;
            while j < rows.len() && (lo..hi).contains(&batch.timestamp(rows[j] as usize)) {
                j += 1;
            }
            let (group, d) = match self.bin {
                None => table.group(stats, Vec::new()),
                Some(_) => table.time_group(stats, lo),
            };
            delta += d;
            for ((acc, spec), col) in group.accs.iter_mut().zip(&stats.aggs).zip(&args) {
                delta += feed(acc, spec.kind, *col, &rows[i..j], batch);
            }
            i = j;
        }
        (rows.len() as u64, delta)
    }

    /// What `--explain` says of it.
    pub(crate) fn describe(&self, symbols: &Symbols) -> String {
        let mut fields: Vec<&str> = self.conds.iter().map(|c| symbols.name(c.field)).collect();
        fields.extend(self.args.iter().flatten().map(|id| symbols.name(*id)));
        fields.sort_unstable();
        fields.dedup();
        let fields = fields.join(", ");
        format!("columnar kernel over JSON columns [{fields}] (units without columns read rows)")
    }
}

/// A worker's buffers for [`Kernel::run`].
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// The rows that pass the filters, ascending.
    rows: Vec<u32>,
    /// The same rows ordered by bin.
    by_bin: Vec<u32>,
}

/// `rows` grouped by bin (a counting sort into `out`, ascending within each bin): one
/// group lookup per bin of the block instead of one per change of bin between rows, which
/// alternate between bins as they go from one stream's run to the next.
fn by_bin<'o>(
    bins: &BinIds,
    rows: &[u32],
    out: &'o mut Vec<u32>,
) -> impl Iterator<Item = (u8, &'o [u32])> {
    let mut ends = [0usize; 256];
    for &r in rows {
        ends[bins.id(r) as usize] += 1;
    }
    let mut at = 0;
    for n in ends.iter_mut() {
        at += *n;
        *n = at;
    }
    out.clear();
    out.resize(rows.len(), 0);
    let mut next = ends;
    for &r in rows.iter().rev() {
        let slot = &mut next[bins.id(r) as usize];
        *slot -= 1;
        out[*slot] = r;
    }
    let out: &'o [u32] = out;
    (0..256usize).filter_map(move |id| {
        let start = if id == 0 { 0 } else { ends[id - 1] };
        (start < ends[id]).then(|| (id as u8, &out[start..ends[id]]))
    })
}

/// Below one selected row in this many, the selection is sparse (see
/// [`stream_in_timestamps`]).
const SPARSE: usize = 8;

/// Reads the batch's timestamps once, in order, so that the bins of a sparse selection find
/// them in cache. Read at random, each selected row's timestamp was a cache miss: on
/// `filter level = "ERROR" | stats count(*) by bin(5m)` (2% of 2,000,000 rows) that one load
/// was 90% of the kernel's time, and the server's CPU per query fell from 8.7–10 ms to
/// 6.3 ms with this pass, which the hardware prefetcher streams (no safe prefetch hint
/// exists, and the workspace forbids `unsafe`).
fn stream_in_timestamps(batch: &Batch<'_>) {
    let mut x = 0i64;
    for run in batch.runs() {
        x ^= batch.timestamps(run).iter().fold(0, |a, &t| a ^ t);
    }
    std::hint::black_box(x);
}

/// Fills `rows` with the rows in `runs` (disjoint) holding one of the codes `accepted`,
/// ascending; `block_rows` is the length of the column (and block) the postings index.
fn select_postings(
    postings: &Postings,
    accepted: &[usize],
    runs: &[Run],
    block_rows: usize,
    rows: &mut Vec<u32>,
) {
    let whole = runs.iter().map(|r| r.rows.len()).sum::<usize>() == block_rows;
    let mut runs: Vec<Range<u32>> =
        runs.iter().map(|r| r.rows.start as u32..r.rows.end as u32).collect();
    runs.sort_unstable_by_key(|r| r.start);
    for &code in accepted {
        let found = postings.rows(code);
        if whole {
            rows.extend_from_slice(found);
            continue;
        }
        // The batch is part of the block (a time range cuts it): keep the rows in its runs.
        let mut at = 0;
        for run in &runs {
            at += found[at..].partition_point(|&r| r < run.start);
            let len = found[at..].partition_point(|&r| r < run.end);
            rows.extend_from_slice(&found[at..at + len]);
            at += len;
        }
    }
    if accepted.len() > 1 {
        rows.sort_unstable();
    }
}

/// Feeds one group's rows `rows` into one of its aggregations: an integer column (or
/// `count(*)`) in one call for the states that allow it, anything else row by row. Every
/// path is the row path's own (`Acc::add_ints`, `add_nulls`, `update_number`, `update`).
fn feed(
    acc: &mut Acc,
    kind: AggKind,
    col: Option<&JsonColumn>,
    rows: &[u32],
    batch: &Batch<'_>,
) -> isize {
    let bulk = match col.map(JsonColumn::cells) {
        None => acc.add_nulls(kind, rows.len() as u64),
        Some(Cells::Ints(ints)) => acc.add_ints(rows.iter().map(|&r| ints[r as usize])),
        Some(_) => None,
    };
    if let Some(delta) = bulk {
        return delta;
    }
    let mut delta = 0;
    for &r in rows {
        let ts = Some(batch.timestamp(r as usize));
        let Some(col) = col else {
            delta += acc.update(kind, Value::Null, ts);
            continue;
        };
        delta += match col.cell(r as usize) {
            Cell::Int(i) => acc.update_number(kind, Number::Int(i), ts),
            Cell::Float(f) => acc.update_number(kind, Number::Float(f), ts),
            _ => acc.update(kind, col.value(r as usize).unwrap_or(Value::Null), ts),
        };
    }
    delta
}

/// The JSON field `e` reads, if it is one (not a system field). A dotted name's map-access
/// reading (`path`) is tried only when the flat name has no value, and only a map or a list
/// (made by `parse` or a function, never by a JSON column) has members: over columns, every
/// value a scalar, it reads null exactly when the flat name does, so the flat name decides.
fn json_field(e: &CExpr, symbols: &Symbols) -> Option<FieldId> {
    match e {
        CExpr::Field { id, .. } if symbols.system(*id).is_none() => Some(*id),
        _ => None,
    }
}

/// The `and`-ed parts of a condition.
fn conjuncts<'e>(e: &'e CExpr, out: &mut Vec<&'e CExpr>) {
    match e {
        CExpr::Binary(BinaryOp::And, a, b) => {
            conjuncts(a, out);
            conjuncts(b, out);
        }
        other => out.push(other),
    }
}

impl Cond {
    /// A condition over exactly one JSON field and nothing else of the event.
    fn compile(e: &CExpr, symbols: &Symbols) -> Option<Cond> {
        let mut field = None;
        let mut ok = true;
        e.walk(&mut |x| match (x, json_field(x, symbols)) {
            (_, Some(id)) => {
                ok &= field.is_none_or(|f| f == id);
                field = Some(id);
            }
            // Reads the event's timestamp, another row's result, or a subquery not yet run.
            (CExpr::Field { .. }, None)
            | (CExpr::Agg(_), _)
            | (CExpr::Call(Scalar::Bin, _), _)
            | (CExpr::In { set: InSet::Pending(_), .. }, _) => ok = false,
            _ => {}
        });
        let field = field.filter(|_| ok)?;
        let is_field = |x: &CExpr| json_field(x, symbols) == Some(field);
        let test = match e {
            CExpr::Binary(op, a, b) if is_cmp(*op) => match (a.as_ref(), b.as_ref()) {
                (f, CExpr::Lit(lit)) if is_field(f) => {
                    Test::Cmp { op: *op, lit: lit.clone(), lit_first: false }
                }
                (CExpr::Lit(lit), f) if is_field(f) => {
                    Test::Cmp { op: *op, lit: lit.clone(), lit_first: true }
                }
                _ => Test::Expr(e.clone()),
            },
            CExpr::In { expr, set: InSet::Ready(set), negated } if is_field(expr) => {
                Test::In { set: set.clone(), negated: *negated }
            }
            _ => Test::Expr(e.clone()),
        };
        Some(Cond { field, test })
    }

    /// The condition on one value of its field.
    fn holds(&self, v: &Value, ctx: &EvalCtx<'_>) -> bool {
        match &self.test {
            Test::Cmp { op, lit, lit_first: false } => comparison(*op, v, lit),
            Test::Cmp { op, lit, lit_first: true } => comparison(*op, lit, v),
            Test::In { set, negated } => in_set(v, set, *negated),
            Test::Expr(e) => {
                let mut row = Row::derived();
                row.set(self.field, v.clone());
                eval(e, &mut row, ctx, &[]).truthy()
            }
        }
    }

    /// Keeps the rows of `rows` whose value in `column` (absent: every row's is null)
    /// meets the condition.
    /// Fills `rows` with the batch's rows that meet the condition: a string column is
    /// filtered as it is read, instead of listing every row and then dropping most.
    fn select_from(
        &self,
        column: Option<&JsonColumn>,
        batch: &Batch<'_>,
        rows: &mut Vec<u32>,
        ctx: &EvalCtx<'_>,
    ) {
        if let Some(col) = column
            && let Cells::Codes(codes) = col.cells()
        {
            let null = self.holds(&Value::Null, ctx);
            let dict: Vec<bool> = col.dict().iter().map(|v| self.holds(v, ctx)).collect();
            if let Some(postings) = col.postings() {
                // The accepted codes, then the rows without the field when null is.
                let mut accepted: Vec<usize> = (0..dict.len()).filter(|&c| dict[c]).collect();
                if null {
                    accepted.push(dict.len());
                }
                let total: usize = accepted.iter().map(|&c| postings.rows(c).len()).sum();
                // One value's rows are copied as they are; several need a sort (by row, so
                // that the rows of a bin stay together), worth it while they are few.
                if accepted.len() <= 1 || total * SPARSE < codes.len() {
                    select_postings(postings, &accepted, batch.runs(), codes.len(), rows);
                    return;
                }
            }
            // `ABSENT` is past the dictionary's end: null's truth.
            let keep = |r: &u32| dict.get(codes[*r as usize] as usize).copied().unwrap_or(null);
            for run in batch.runs() {
                rows.extend((run.rows.start as u32..run.rows.end as u32).filter(keep));
            }
            return;
        }
        for run in batch.runs() {
            rows.extend(run.rows.start as u32..run.rows.end as u32);
        }
        self.select(column, rows, ctx);
    }

    fn select(&self, column: Option<&JsonColumn>, rows: &mut Vec<u32>, ctx: &EvalCtx<'_>) {
        let null = self.holds(&Value::Null, ctx);
        let Some(col) = column else {
            if !null {
                rows.clear();
            }
            return;
        };
        let dict: Vec<bool> = col.dict().iter().map(|v| self.holds(v, ctx)).collect();
        let (yes, no) = (self.holds(&Value::Bool(true), ctx), self.holds(&Value::Bool(false), ctx));
        let direct = matches!(self.test, Test::Cmp { .. });
        let mut memo: HashMap<(bool, u64), bool> = HashMap::new();
        let mut number = |v: Value, key: (bool, u64)| {
            if direct {
                return self.holds(&v, ctx);
            }
            if let Some(&t) = memo.get(&key) {
                return t;
            }
            let t = self.holds(&v, ctx);
            if memo.len() < MEMO {
                memo.insert(key, t);
            }
            t
        };
        match col.cells() {
            Cells::Codes(codes) => {
                // `ABSENT` is past the dictionary's end: null's truth.
                rows.retain(|&r| dict.get(codes[r as usize] as usize).copied().unwrap_or(null));
                return;
            }
            Cells::Ints(ints) => {
                rows.retain(|&r| {
                    let i = ints[r as usize];
                    number(Value::Int(i), (false, i as u64))
                });
                return;
            }
            Cells::Mixed(_) => {}
        }
        rows.retain(|&r| match col.cell(r as usize) {
            Cell::Absent | Cell::Null => null,
            Cell::Bool(b) => {
                if b {
                    yes
                } else {
                    no
                }
            }
            Cell::Str(i) => dict.get(i as usize).copied().unwrap_or(null),
            Cell::Int(i) => number(Value::Int(i), (false, i as u64)),
            Cell::Float(f) => number(Value::Float(f), (true, f.to_bits())),
        });
    }
}

fn is_cmp(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Eq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::source::ABSENT;

    const DICT: usize = 4;

    proptest! {
        /// The rows postings select are exactly, and in order, the rows of the runs whose
        /// code is accepted (a code past the dictionary reads as absent, as in the scan).
        #[test]
        fn postings_select_what_a_scan_of_the_runs_selects(
            picks in proptest::collection::vec(0u32..7, 0..300),
            accepted in proptest::collection::btree_set(0..=DICT, 0..=DICT + 1),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
            keep in proptest::collection::vec(any::<bool>(), 9),
        ) {
            let codes: Vec<u32> = picks
                .iter()
                .map(|&p| match p {
                    5 => ABSENT,
                    6 => 9, // past the dictionary
                    c => c,
                })
                .collect();
            let n = codes.len();
            // Disjoint runs: the block cut at `cuts`, some pieces kept, in shuffled order.
            let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(n + 1)).collect();
            bounds.extend([0, n]);
            bounds.sort_unstable();
            bounds.dedup();
            let mut runs: Vec<Run> = bounds
                .windows(2)
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(w, _)| Run { stream: 0, rows: w[0]..w[1] })
                .collect();
            runs.reverse();
            let accepted: Vec<usize> = accepted.into_iter().collect();
            let postings = Postings::new(&codes, DICT);
            let mut got = Vec::new();
            select_postings(&postings, &accepted, &runs, n, &mut got);
            let bucket = |c: u32| (c as usize).min(DICT);
            let mut want: Vec<u32> = runs
                .iter()
                .flat_map(|r| r.rows.clone())
                .filter(|&r| accepted.contains(&bucket(codes[r])))
                .map(|r| r as u32)
                .collect();
            want.sort_unstable();
            prop_assert_eq!(got, want);
        }
    }
}
