//! Compiled expressions and their evaluation over a row.

use std::collections::HashSet;
use std::sync::Arc;

use logsight_query_lang::insights::{BinaryOp, Period};
use memchr::memmem;

use crate::functions::Scalar;
use crate::row::{EvalCtx, FieldId, Row};
use crate::value::{Value, compare, equals};

/// An expression with fields interned, regexes compiled and functions resolved.
#[derive(Clone, Debug)]
pub(crate) enum CExpr {
    /// A field. `path` is the map-access reading of a dotted name (`lf.level` when `lf`
    /// is a map from `logfmt`), tried when the flat name has no value.
    Field {
        id: FieldId,
        path: Option<(FieldId, Vec<String>)>,
    },
    Lit(Value),
    /// A period argument of `bin`, `datefloor`, `dateceil`.
    Period(Period),
    List(Vec<CExpr>),
    Call(Scalar, Vec<CExpr>),
    Neg(Box<CExpr>),
    Not(Box<CExpr>),
    Binary(BinaryOp, Box<CExpr>, Box<CExpr>),
    /// `like "text"` (substring) and `not like`.
    Contains {
        expr: Box<CExpr>,
        needle: Arc<memmem::Finder<'static>>,
        negated: bool,
    },
    /// `like /re/`, `=~ /re/`, `not like /re/`.
    Regex {
        expr: Box<CExpr>,
        re: regex::Regex,
        negated: bool,
    },
    /// `in [...]` / `in (subquery)`; the set holds [`Value::set_key`]s.
    In {
        expr: Box<CExpr>,
        set: InSet,
        negated: bool,
    },
    Member(Box<CExpr>, String),
    Index(Box<CExpr>, Box<CExpr>),
    /// The result of aggregation `i` of the enclosing `stats`.
    Agg(usize),
}

/// The members of an `in`.
#[derive(Clone, Debug)]
pub(crate) enum InSet {
    Ready(Arc<HashSet<String>>),
    /// Subquery `i`, run before the query; replaced by `Ready` then.
    Pending(usize),
}

impl CExpr {
    /// Calls `f` on every sub-expression, this one included.
    pub(crate) fn walk(&self, f: &mut dyn FnMut(&CExpr)) {
        f(self);
        match self {
            CExpr::List(items) | CExpr::Call(_, items) => items.iter().for_each(|e| e.walk(f)),
            CExpr::Neg(e)
            | CExpr::Not(e)
            | CExpr::Contains { expr: e, .. }
            | CExpr::Regex { expr: e, .. }
            | CExpr::In { expr: e, .. }
            | CExpr::Member(e, _) => e.walk(f),
            CExpr::Binary(_, a, b) | CExpr::Index(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            CExpr::Field { .. } | CExpr::Lit(_) | CExpr::Period(_) | CExpr::Agg(_) => {}
        }
    }

    pub(crate) fn walk_mut(&mut self, f: &mut dyn FnMut(&mut CExpr)) {
        f(self);
        match self {
            CExpr::List(items) | CExpr::Call(_, items) => {
                items.iter_mut().for_each(|e| e.walk_mut(f))
            }
            CExpr::Neg(e)
            | CExpr::Not(e)
            | CExpr::Contains { expr: e, .. }
            | CExpr::Regex { expr: e, .. }
            | CExpr::In { expr: e, .. }
            | CExpr::Member(e, _) => e.walk_mut(f),
            CExpr::Binary(_, a, b) | CExpr::Index(a, b) => {
                a.walk_mut(f);
                b.walk_mut(f);
            }
            CExpr::Field { .. } | CExpr::Lit(_) | CExpr::Period(_) | CExpr::Agg(_) => {}
        }
    }

    /// The fields it reads.
    pub(crate) fn fields(&self, out: &mut Vec<FieldId>) {
        self.walk(&mut |e| {
            if let CExpr::Field { id, path } = e {
                out.push(*id);
                if let Some((base, _)) = path {
                    out.push(*base);
                }
            }
        });
    }
}

/// Evaluates `e` on `row`. `aggs` holds the finished aggregations for `stats` outputs.
pub(crate) fn eval(e: &CExpr, row: &mut Row<'_>, ctx: &EvalCtx<'_>, aggs: &[Value]) -> Value {
    match e {
        CExpr::Field { id, path } => {
            let v = row.get(*id, ctx);
            if !v.is_null() {
                return v;
            }
            match path {
                Some((base, keys)) => {
                    let mut v = row.get(*base, ctx);
                    for k in keys {
                        v = member(&v, k);
                    }
                    v
                }
                None => Value::Null,
            }
        }
        CExpr::Lit(v) => v.clone(),
        CExpr::Period(p) => Value::Int(crate::functions::fixed_period_ms(*p).unwrap_or(0)),
        CExpr::List(items) => {
            Value::List(Arc::new(items.iter().map(|i| eval(i, row, ctx, aggs)).collect()))
        }
        CExpr::Call(f, args) => crate::functions::call(*f, args, row, ctx, aggs),
        CExpr::Neg(x) => match eval(x, row, ctx, aggs).as_number() {
            Some(Value::Int(i)) => i.checked_neg().map_or(Value::Float(-(i as f64)), Value::Int),
            Some(Value::Float(f)) => Value::Float(-f),
            _ => Value::Null,
        },
        CExpr::Not(x) => Value::Bool(!eval(x, row, ctx, aggs).truthy()),
        CExpr::Binary(op, a, b) => binary(*op, a, b, row, ctx, aggs),
        CExpr::Contains { expr, needle, negated } => {
            let found = text(expr, row, ctx, aggs).map(|t| needle.find(t.as_bytes()).is_some());
            match found {
                Some(f) => Value::Bool(f != *negated),
                None => Value::Bool(false),
            }
        }
        CExpr::Regex { expr, re, negated } => match text(expr, row, ctx, aggs) {
            Some(t) => Value::Bool(re.is_match(&t) != *negated),
            None => Value::Bool(false),
        },
        CExpr::In { expr, set, negated } => {
            let InSet::Ready(set) = set else {
                return Value::Null;
            };
            Value::Bool(in_set(&eval(expr, row, ctx, aggs), set, *negated))
        }
        CExpr::Member(base, key) => member(&eval(base, row, ctx, aggs), key),
        CExpr::Index(base, index) => {
            let b = eval(base, row, ctx, aggs);
            let i = eval(index, row, ctx, aggs);
            match (&b, i.as_i64()) {
                (Value::List(items), Some(i)) if i >= 0 => {
                    items.get(i as usize).cloned().unwrap_or_default()
                }
                (Value::Map(_), _) => member(&b, &i.as_text().unwrap_or_default()),
                _ => Value::Null,
            }
        }
        CExpr::Agg(i) => aggs.get(*i).cloned().unwrap_or_default(),
    }
}

/// Evaluates `e` as text, borrowing `@message` instead of copying it.
pub(crate) fn text<'r>(
    e: &CExpr,
    row: &'r mut Row<'_>,
    ctx: &EvalCtx<'_>,
    aggs: &[Value],
) -> Option<std::borrow::Cow<'r, str>> {
    if let CExpr::Field { id, path: None } = e {
        return row.text(*id, ctx);
    }
    eval(e, row, ctx, aggs).as_text().map(|t| std::borrow::Cow::Owned(t.into_owned()))
}

fn member(v: &Value, key: &str) -> Value {
    match v {
        Value::Map(m) => m.get(key).cloned().unwrap_or_default(),
        Value::List(items) => {
            key.parse::<usize>().ok().and_then(|i| items.get(i).cloned()).unwrap_or_default()
        }
        _ => Value::Null,
    }
}

fn binary(
    op: BinaryOp,
    a: &CExpr,
    b: &CExpr,
    row: &mut Row<'_>,
    ctx: &EvalCtx<'_>,
    aggs: &[Value],
) -> Value {
    match op {
        BinaryOp::And => {
            Value::Bool(eval(a, row, ctx, aggs).truthy() && eval(b, row, ctx, aggs).truthy())
        }
        BinaryOp::Or => {
            Value::Bool(eval(a, row, ctx, aggs).truthy() || eval(b, row, ctx, aggs).truthy())
        }
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => {
            Value::Bool(comparison(op, &eval(a, row, ctx, aggs), &eval(b, row, ctx, aggs)))
        }
        _ => arithmetic(op, &eval(a, row, ctx, aggs), &eval(b, row, ctx, aggs)),
    }
}

/// `a op b` for the six comparison operators (false for any other operator): the one
/// definition the row evaluator and the columnar kernels share.
pub(crate) fn comparison(op: BinaryOp, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering::*;
    match op {
        BinaryOp::Eq => equals(a, b),
        BinaryOp::NotEq => matches!(compare(a, b), Some(Less | Greater)),
        BinaryOp::Lt => compare(a, b) == Some(Less),
        BinaryOp::LtEq => matches!(compare(a, b), Some(Less | Equal)),
        BinaryOp::Gt => compare(a, b) == Some(Greater),
        BinaryOp::GtEq => matches!(compare(a, b), Some(Greater | Equal)),
        _ => false,
    }
}

/// `value in set` (negated for `not in`): false when the value has no set key (null).
pub(crate) fn in_set(value: &Value, set: &HashSet<String>, negated: bool) -> bool {
    match value.set_key() {
        Some(k) => set.contains(&k) != negated,
        None => false,
    }
}

/// `+ - * / % ^` on numbers (text that reads as a number included); null otherwise.
pub(crate) fn arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Value {
    let (Some(x), Some(y)) = (a.as_number(), b.as_number()) else {
        return Value::Null;
    };
    if let (Value::Int(x), Value::Int(y)) = (&x, &y) {
        let exact = match op {
            BinaryOp::Add => x.checked_add(*y),
            BinaryOp::Sub => x.checked_sub(*y),
            BinaryOp::Mul => x.checked_mul(*y),
            BinaryOp::Mod if *y != 0 => x.checked_rem(*y),
            BinaryOp::Div if *y != 0 && x % y == 0 => x.checked_div(*y),
            _ => None,
        };
        if let Some(v) = exact {
            return Value::Int(v);
        }
    }
    let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
    let r = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div if y != 0.0 => x / y,
        BinaryOp::Mod if y != 0.0 => x % y,
        BinaryOp::Pow => x.powf(y),
        _ => return Value::Null,
    };
    Value::float(r)
}
