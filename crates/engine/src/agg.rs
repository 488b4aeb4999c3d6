//! Aggregations of `stats` (§1.5.8): per-unit partial states that merge.
//!
//! - `count_distinct` is exact up to [`DISTINCT_EXACT_LIMIT`] distinct values per group; past
//!   that it switches to HyperLogLog++ with 2^14 registers (standard error about 0.81%).
//! - `pct` is exact: it keeps every numeric value of the group (counted against the query's
//!   memory budget) and returns the nearest-rank percentile.
//! - `stddev` is the sample standard deviation (n - 1), merged with Chan's formula.
//! - Time series: `countOverTime(f)` and `sumOverTime(x)` are `count(f)` and `sum(x)` over the
//!   group's window (its `bin`, else the query's range); `rate(x, interval)` is the change of
//!   `x` from the group's earliest to its latest event, per `interval` of the time between
//!   them (null with fewer than two events or none of elapsed time; 1 s when no interval is
//!   given), as a counter's rate; `histogram(x, n)` cuts the group's values into `n` equal
//!   ranges from their minimum to their maximum and maps each range (`"lo-hi"`) to its count
//!   (values kept, and charged, as for `pct`).
//! - `min`/`max` are over values that read as numbers or times; `earliest`/`latest` take the
//!   value of the event with the smallest/largest `@timestamp` (ties: the smaller value in
//!   natural order); `sortsFirst`/`sortsLast` the value first/last in natural sort order.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};

use crate::expr::CExpr;
use crate::value::{Key, Value, natural_cmp};

/// Distinct values kept exactly per group before `count_distinct` turns approximate.
pub const DISTINCT_EXACT_LIMIT: usize = 10_000;

/// HyperLogLog precision (2^14 registers: standard error 1.04 / 128 ≈ 0.81%).
const HLL_PRECISION: u8 = 14;

type Hll = HyperLogLogPlus<String, BuildHasherDefault<std::collections::hash_map::DefaultHasher>>;

/// Which aggregation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum AggKind {
    /// `count(*)` / `count()`.
    CountAll,
    /// `count(f)`: rows where f is present.
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    Stddev,
    /// `pct(f, p)`.
    Pct(f64),
    Earliest,
    Latest,
    SortsFirst,
    SortsLast,
    /// `rate(x, interval)`, the interval in ms.
    Rate(i64),
    /// `histogram(x, buckets)`.
    Histogram(u32),
}

/// One aggregation of a `stats`.
#[derive(Clone, Debug)]
pub(crate) struct AggSpec {
    pub(crate) kind: AggKind,
    /// The argument; `None` for `count(*)`.
    pub(crate) arg: Option<CExpr>,
}

/// A number a JSON field column holds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

/// The running state of one aggregation in one group.
#[derive(Clone, Debug)]
pub(crate) enum Acc {
    Count(u64),
    Sum {
        int: i64,
        float: f64,
        any_float: bool,
        n: u64,
    },
    MinMax(Option<Value>),
    /// Welford's running mean and sum of squared deviations.
    Moments {
        n: u64,
        mean: f64,
        m2: f64,
    },
    Exact(HashSet<Key>),
    Approx(Box<Hll>),
    Values(Vec<f64>),
    ByTime(Option<(i64, Value)>),
    /// The earliest and latest numeric values with their timestamps.
    Span(Option<((i64, f64), (i64, f64))>),
}

impl AggKind {
    pub(crate) fn init(self) -> Acc {
        match self {
            AggKind::CountAll | AggKind::Count => Acc::Count(0),
            AggKind::Sum | AggKind::Avg => Acc::Sum { int: 0, float: 0.0, any_float: false, n: 0 },
            AggKind::Min | AggKind::Max | AggKind::SortsFirst | AggKind::SortsLast => {
                Acc::MinMax(None)
            }
            AggKind::Stddev => Acc::Moments { n: 0, mean: 0.0, m2: 0.0 },
            AggKind::CountDistinct => Acc::Exact(HashSet::new()),
            AggKind::Pct(_) | AggKind::Histogram(_) => Acc::Values(Vec::new()),
            AggKind::Rate(_) => Acc::Span(None),
            AggKind::Earliest | AggKind::Latest => Acc::ByTime(None),
        }
    }
}

fn new_hll() -> Hll {
    HyperLogLogPlus::new(HLL_PRECISION, BuildHasherDefault::default())
        .expect("precision 14 is within HyperLogLog++'s range")
}

impl Acc {
    /// [`Acc::update`] with a number, without making a [`Value`] for the common states
    /// (the columnar kernel's path; same result as `update(kind, Value::Int/Float, ts)`).
    pub(crate) fn update_number(&mut self, kind: AggKind, x: Number, ts: Option<i64>) -> isize {
        match (self, x) {
            (Acc::Count(n), _) => {
                *n += 1;
                0
            }
            (Acc::Sum { int, float, any_float, n }, Number::Int(i)) => {
                match int.checked_add(i) {
                    Some(s) => *int = s,
                    None => {
                        *float += i as f64;
                        *any_float = true;
                    }
                }
                *n += 1;
                0
            }
            (Acc::Sum { float, any_float, n, .. }, Number::Float(f)) => {
                *float += f;
                *any_float = true;
                *n += 1;
                0
            }
            (Acc::Values(values), x) => {
                values.push(x.as_f64());
                8
            }
            (acc, Number::Int(i)) => acc.update(kind, Value::Int(i), ts),
            (acc, Number::Float(f)) => acc.update(kind, Value::Float(f), ts),
        }
    }

    /// Adds integers as [`Acc::update_number`] would one by one, in one loop, for the
    /// states that need no timestamp; `None` (nothing added) for the others.
    pub(crate) fn add_ints(&mut self, values: impl ExactSizeIterator<Item = i64>) -> Option<isize> {
        match self {
            Acc::Count(n) => *n += values.len() as u64,
            Acc::Sum { int, float, any_float, n } => {
                *n += values.len() as u64;
                for i in values {
                    match int.checked_add(i) {
                        Some(s) => *int = s,
                        None => {
                            *float += i as f64;
                            *any_float = true;
                        }
                    }
                }
            }
            Acc::Values(v) => {
                let k = values.len();
                v.extend(values.map(|i| i as f64));
                return Some(8 * k as isize);
            }
            _ => return None,
        }
        Some(0)
    }

    /// Adds `k` rows whose argument is null (or `count(*)` rows) as [`Acc::update`] would
    /// one by one, for the states where that needs no timestamp; `None` for the others.
    pub(crate) fn add_nulls(&mut self, kind: AggKind, k: u64) -> Option<isize> {
        match self {
            Acc::Count(n) => {
                if kind == AggKind::CountAll {
                    *n += k;
                }
            }
            Acc::Sum { .. } | Acc::Values(_) => {}
            _ => return None,
        }
        Some(0)
    }

    /// Adds one row's value; returns the change in estimated heap bytes.
    pub(crate) fn update(&mut self, kind: AggKind, v: Value, ts: Option<i64>) -> isize {
        match self {
            Acc::Count(n) => {
                if kind == AggKind::CountAll || !v.is_null() {
                    *n += 1;
                }
                0
            }
            Acc::Sum { int, float, any_float, n } => {
                match v.as_number() {
                    Some(Value::Int(i)) => match int.checked_add(i) {
                        Some(s) => *int = s,
                        None => {
                            *float += i as f64;
                            *any_float = true;
                        }
                    },
                    Some(other) => {
                        *float += other.as_f64().unwrap_or(0.0);
                        *any_float = true;
                    }
                    None => return 0,
                }
                *n += 1;
                0
            }
            Acc::MinMax(best) => {
                let candidate = match kind {
                    AggKind::Min | AggKind::Max => match v {
                        Value::Time(_) => v,
                        other => match other.as_number() {
                            Some(n) => n,
                            None => return 0,
                        },
                    },
                    _ if v.is_null() || matches!(v, Value::List(_) | Value::Map(_)) => return 0,
                    _ => v,
                };
                let want = if matches!(kind, AggKind::Min | AggKind::SortsFirst) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                let replace = best.as_ref().is_none_or(|b| natural_cmp(&candidate, b) == want);
                if replace {
                    let delta = candidate.heap_bytes() as isize
                        - best.as_ref().map_or(0, Value::heap_bytes) as isize;
                    *best = Some(candidate);
                    return delta;
                }
                0
            }
            Acc::Moments { n, mean, m2 } => {
                if let Some(x) = v.as_f64() {
                    *n += 1;
                    let d = x - *mean;
                    *mean += d / *n as f64;
                    *m2 += d * (x - *mean);
                }
                0
            }
            Acc::Exact(set) => {
                if v.is_null() {
                    return 0;
                }
                let bytes = v.heap_bytes() as isize + 48;
                if !set.insert(Key(v)) {
                    return 0;
                }
                if set.len() > DISTINCT_EXACT_LIMIT {
                    let mut hll = new_hll();
                    let freed: usize = set.iter().map(|k| k.0.heap_bytes() + 48).sum();
                    for k in set.drain() {
                        hll.insert(&k.0.set_key().unwrap_or_default());
                    }
                    *self = Acc::Approx(Box::new(hll));
                    return (1 << HLL_PRECISION) as isize - freed as isize;
                }
                bytes
            }
            Acc::Approx(hll) => {
                if let Some(k) = v.set_key() {
                    hll.insert(&k);
                }
                0
            }
            Acc::Values(values) => match v.as_f64() {
                Some(x) => {
                    values.push(x);
                    8
                }
                None => 0,
            },
            Acc::Span(span) => {
                let (Some(ts), Some(x)) = (ts, v.as_f64()) else { return 0 };
                *span = Some(match *span {
                    None => ((ts, x), (ts, x)),
                    Some((first, last)) => (
                        if ts < first.0 { (ts, x) } else { first },
                        if ts >= last.0 { (ts, x) } else { last },
                    ),
                });
                0
            }
            Acc::ByTime(best) => {
                let (Some(ts), false) = (ts, v.is_null()) else { return 0 };
                let want =
                    if kind == AggKind::Earliest { Ordering::Less } else { Ordering::Greater };
                let replace = best.as_ref().is_none_or(|(bt, bv)| {
                    let o = ts.cmp(bt);
                    o == want || (o == Ordering::Equal && natural_cmp(&v, bv) == Ordering::Less)
                });
                if replace {
                    let delta = v.heap_bytes() as isize
                        - best.as_ref().map_or(0, |(_, b)| b.heap_bytes()) as isize;
                    *best = Some((ts, v));
                    return delta;
                }
                0
            }
        }
    }

    /// Merges another partial state of the same aggregation.
    pub(crate) fn merge(&mut self, kind: AggKind, other: Acc) {
        match (&mut *self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (
                Acc::Sum { int, float, any_float, n },
                Acc::Sum { int: i2, float: f2, any_float: a2, n: n2 },
            ) => {
                match int.checked_add(i2) {
                    Some(s) => *int = s,
                    None => {
                        *float += i2 as f64;
                        *any_float = true;
                    }
                }
                *float += f2;
                *any_float |= a2;
                *n += n2;
            }
            (Acc::MinMax(_), Acc::MinMax(Some(v))) => {
                self.update(kind, v, None);
            }
            (Acc::Moments { n, mean, m2 }, Acc::Moments { n: n2, mean: mean2, m2: m22 }) => {
                if n2 == 0 {
                    return;
                }
                let total = *n + n2;
                let d = mean2 - *mean;
                *m2 += m22 + d * d * (*n as f64) * (n2 as f64) / total as f64;
                *mean += d * n2 as f64 / total as f64;
                *n = total;
            }
            (Acc::Exact(_), Acc::Exact(set)) => {
                for k in set {
                    self.update(kind, k.0, None);
                }
            }
            (Acc::Exact(mine), Acc::Approx(mut hll)) => {
                for k in mine.drain() {
                    hll.insert(&k.0.set_key().unwrap_or_default());
                }
                *self = Acc::Approx(hll);
            }
            (Acc::Approx(hll), Acc::Exact(set)) => {
                for k in set {
                    hll.insert(&k.0.set_key().unwrap_or_default());
                }
            }
            (Acc::Approx(a), Acc::Approx(b)) => {
                // Same precision and hasher on both sides, so merging cannot fail.
                let _ = a.merge(&b);
            }
            (Acc::Values(a), Acc::Values(b)) => a.extend(b),
            (Acc::Span(_), Acc::Span(Some((first, last)))) => {
                self.update(kind, Value::float(first.1), Some(first.0));
                self.update(kind, Value::float(last.1), Some(last.0));
            }
            (Acc::ByTime(_), Acc::ByTime(Some((ts, v)))) => {
                self.update(kind, v, Some(ts));
            }
            _ => {}
        }
    }

    /// The aggregation's result.
    pub(crate) fn finish(&mut self, kind: AggKind) -> Value {
        match self {
            Acc::Count(n) => Value::Int(*n as i64),
            Acc::Sum { int, float, any_float, n } => {
                if *n == 0 {
                    return Value::Null;
                }
                let total =
                    if *any_float { Value::float(*int as f64 + *float) } else { Value::Int(*int) };
                if kind == AggKind::Avg {
                    Value::float(total.as_f64().unwrap_or(0.0) / *n as f64)
                } else {
                    total
                }
            }
            Acc::MinMax(v) => v.clone().unwrap_or_default(),
            Acc::Moments { n, m2, .. } => {
                if *n < 2 {
                    return if *n == 1 { Value::Int(0) } else { Value::Null };
                }
                Value::float((*m2 / (*n - 1) as f64).sqrt())
            }
            Acc::Exact(set) => Value::Int(set.len() as i64),
            Acc::Approx(hll) => Value::Int(hll.count().round() as i64),
            Acc::Values(values) => {
                if values.is_empty() {
                    return Value::Null;
                }
                match kind {
                    AggKind::Pct(p) => {
                        // Selection, not a sort: linear in the group's values.
                        let k = nearest_rank(values.len(), p);
                        let (_, x, _) = values.select_nth_unstable_by(k, f64::total_cmp);
                        Value::float(*x)
                    }
                    AggKind::Histogram(buckets) => histogram(values, buckets),
                    _ => Value::Null,
                }
            }
            Acc::Span(span) => match *span {
                Some(((t0, x0), (t1, x1))) if t1 > t0 => {
                    let AggKind::Rate(interval) = kind else { return Value::Null };
                    Value::float((x1 - x0) * interval as f64 / (t1 - t0) as f64)
                }
                _ => Value::Null,
            },
            Acc::ByTime(v) => v.as_ref().map(|(_, v)| v.clone()).unwrap_or_default(),
        }
    }
}

/// `values` in `buckets` equal ranges from their minimum to their maximum (the last range
/// includes the maximum), as a map from `"lo-hi"` to the count; one range when all are equal.
fn histogram(values: &[f64], buckets: u32) -> Value {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let n = if hi > lo { buckets.max(1) as usize } else { 1 };
    let width = (hi - lo) / n as f64;
    let mut counts = vec![0i64; n];
    for &x in values {
        let i = if width > 0.0 { ((x - lo) / width) as usize } else { 0 };
        counts[i.min(n - 1)] += 1;
    }
    let bound = |i: usize| {
        if i == n { hi } else { lo + width * i as f64 }
    };
    let map = counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let range = format!(
                "{}-{}",
                Value::float(bound(i)).render().unwrap_or_default(),
                Value::float(bound(i + 1)).render().unwrap_or_default()
            );
            (range, Value::Int(c))
        })
        .collect();
    Value::Map(std::sync::Arc::new(map))
}

/// The 0-based index of the nearest-rank `p`th percentile of `n` sorted values.
pub(crate) fn nearest_rank(n: usize, p: f64) -> usize {
    let rank = (p.clamp(0.0, 100.0) / 100.0 * n as f64).ceil() as usize;
    rank.clamp(1, n) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KINDS: [AggKind; 16] = [
        AggKind::CountAll,
        AggKind::Count,
        AggKind::CountDistinct,
        AggKind::Sum,
        AggKind::Avg,
        AggKind::Min,
        AggKind::Max,
        AggKind::Stddev,
        AggKind::Pct(99.0),
        AggKind::Earliest,
        AggKind::Latest,
        AggKind::SortsFirst,
        AggKind::SortsLast,
        AggKind::Rate(60_000),
        AggKind::Histogram(10),
        AggKind::Pct(50.0),
    ];

    fn ints() -> impl Strategy<Value = Vec<i64>> {
        // Near the ends of i64 too, so that sums overflow into floats.
        proptest::collection::vec(
            prop_oneof![-1000i64..1000, Just(i64::MAX - 3), Just(i64::MIN + 3), any::<i64>()],
            0..40,
        )
    }

    proptest! {
        /// The bulk paths the columnar kernel takes give what the row path gives row by row.
        #[test]
        fn bulk_adds_match_one_by_one(first in ints(), then in ints()) {
            for kind in KINDS {
                let mut one = kind.init();
                let mut bulk = kind.init();
                let (mut d1, mut d2) = (0, 0);
                for (i, &x) in first.iter().chain(&then).enumerate() {
                    d1 += one.update_number(kind, Number::Int(x), Some(i as i64));
                }
                let Some(a) = bulk.add_ints(first.iter().copied()) else { continue };
                let Some(b) = bulk.add_ints(then.iter().copied()) else { continue };
                d2 += a + b;
                prop_assert_eq!(d1, d2, "{:?}", kind);
                let (x, y) = (one.finish(kind), bulk.finish(kind));
                prop_assert_eq!(format!("{x:?}"), format!("{y:?}"), "{:?}", kind);
            }
        }

        #[test]
        fn bulk_nulls_match_one_by_one(n in 0u64..50, before in ints()) {
            for kind in KINDS {
                let mut one = kind.init();
                let mut bulk = kind.init();
                for &x in &before {
                    one.update_number(kind, Number::Int(x), Some(0));
                    bulk.update_number(kind, Number::Int(x), Some(0));
                }
                for i in 0..n {
                    one.update(kind, Value::Null, Some(i as i64));
                }
                if bulk.add_nulls(kind, n).is_none() {
                    continue;
                }
                let (x, y) = (one.finish(kind), bulk.finish(kind));
                prop_assert_eq!(format!("{x:?}"), format!("{y:?}"), "{:?}", kind);
            }
        }
    }

    #[test]
    fn bulk_paths_cover_the_kernels_common_states() {
        for kind in
            [AggKind::CountAll, AggKind::Count, AggKind::Sum, AggKind::Avg, AggKind::Pct(99.0)]
        {
            assert!(kind.init().add_ints([1, 2].into_iter()).is_some(), "{kind:?}");
            assert!(kind.init().add_nulls(kind, 2).is_some(), "{kind:?}");
        }
    }
}
