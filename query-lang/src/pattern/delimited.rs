//! Space-delimited patterns: `[ip, user, ..., status = 4*, bytes > 1000]`.
//!
//! The message is split into fields on runs of spaces and tabs. A field that starts with `"` or
//! `[` runs to the next `"` or `]` and its value is the text inside (an unclosed one is an
//! ordinary word). Pattern fields bind message fields left to right: a named field takes one
//! message field, `...` takes any number (even none), and a named field that ends the pattern
//! takes the rest of the line when more fields remain, which is why CloudWatch's `[w1=ERROR, w2]`
//! matches `ERROR 09/25/2014 12:00:02 Failed to process request`.

use super::parse::{Expr, PResult, fail, found, parse_expr, token, ws};
use super::regex::Re;
use super::value::{Comparison, parse_comparison};

/// One pattern field.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// `...`
    Ellipsis,
    /// A named field with an optional condition on its value.
    Field { name: String, cond: Option<Expr<Comparison>> },
}

impl Slot {
    fn accepts(&self, value: &str) -> bool {
        match self {
            Slot::Field { cond: Some(cond), .. } => {
                cond.eval(&mut |c: &Comparison| c.test_text(value))
            }
            _ => true,
        }
    }
}

/// A compiled space-delimited pattern.
#[derive(Debug, Clone)]
pub(crate) struct Delimited {
    pub(crate) slots: Vec<Slot>,
    has_ellipsis: bool,
    /// The only `...` ends the pattern (`[date, time, level, ...]`, the common form).
    trailing_ellipsis: bool,
}

/// One message field: the raw start (for "the rest of the line") and its value.
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    start: usize,
    value: &'a str,
}

/// Iterates the fields of a message without allocating.
struct Fields<'a> {
    msg: &'a str,
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let bytes = self.msg.as_bytes();
        while self.pos < bytes.len() && matches!(bytes[self.pos], b' ' | b'\t') {
            self.pos += 1;
        }
        let start = self.pos;
        let close = match bytes.get(start)? {
            b'"' => Some(b'"'),
            b'[' => Some(b']'),
            _ => None,
        };
        if let Some(close) = close
            && let Some(len) = memchr::memchr(close, &bytes[start + 1..])
        {
            self.pos = start + 1 + len + 1;
            return Some(Field { start, value: &self.msg[start + 1..start + 1 + len] });
        }
        let len = memchr::memchr2(b' ', b'\t', &bytes[start..]).unwrap_or(bytes.len() - start);
        self.pos = start + len;
        Some(Field { start, value: &self.msg[start..start + len] })
    }
}

impl<'a> Fields<'a> {
    fn new(msg: &'a str) -> Self {
        Fields { msg, pos: 0 }
    }

    /// Whether any field follows.
    fn at_end(&self) -> bool {
        self.msg.as_bytes()[self.pos..].iter().all(|b| matches!(b, b' ' | b'\t'))
    }
}

/// The value of a final field that takes `first` and everything after it.
fn rest_of_line<'a>(msg: &'a str, first: Field<'a>, more: bool) -> &'a str {
    if more { msg[first.start..].trim_end_matches([' ', '\t']) } else { first.value }
}

impl Delimited {
    /// Matches `message`; on success calls `bind(slot_index, value)` for each field, if given.
    /// Without `bind` (plain matching) nothing is collected.
    pub(crate) fn run<'m>(
        &self,
        message: &'m str,
        bind: Option<&mut dyn FnMut(usize, &'m str)>,
    ) -> bool {
        if self.trailing_ellipsis {
            self.run_prefix(message, bind)
        } else if self.has_ellipsis {
            self.run_with_ellipsis(message, bind)
        } else {
            self.run_linear(message, bind)
        }
    }

    /// Without `...` fields bind one to one: each slot takes the next field (the last slot the
    /// rest of the line), `None` past the last field.
    fn linear_values<'s, 'm>(
        &'s self,
        message: &'m str,
    ) -> impl Iterator<Item = (&'s Slot, Option<&'m str>)> + use<'s, 'm> {
        let mut fields = Fields::new(message);
        let last = self.slots.len() - 1;
        self.slots.iter().enumerate().map(move |(i, slot)| {
            let value = fields.next().map(|field| {
                if i == last { rest_of_line(message, field, !fields.at_end()) } else { field.value }
            });
            (slot, value)
        })
    }

    /// Matches in one scan of the message; values are bound only after the whole line
    /// matched, in a second scan that plain matching skips.
    fn run_linear<'m>(
        &self,
        message: &'m str,
        bind: Option<&mut dyn FnMut(usize, &'m str)>,
    ) -> bool {
        let matched =
            self.linear_values(message).all(|(slot, value)| value.is_some_and(|v| slot.accepts(v)));
        if matched && let Some(bind) = bind {
            for (i, (_, value)) in self.linear_values(message).enumerate() {
                if let Some(value) = value {
                    bind(i, value);
                }
            }
        }
        matched
    }

    /// A trailing `...` takes whatever follows (even nothing), so the named fields take the
    /// first fields one to one, none of them the rest of the line: what the backtracking
    /// search finds, in one scan and without allocating.
    fn run_prefix<'m>(
        &self,
        message: &'m str,
        bind: Option<&mut dyn FnMut(usize, &'m str)>,
    ) -> bool {
        let named = &self.slots[..self.slots.len() - 1];
        let mut fields = Fields::new(message);
        let matched = named.iter().all(|slot| fields.next().is_some_and(|f| slot.accepts(f.value)));
        if matched && let Some(bind) = bind {
            for (i, f) in Fields::new(message).take(named.len()).enumerate() {
                bind(i, f.value);
            }
        }
        matched
    }

    /// With `...` the fields are collected and matched with memoised backtracking: each
    /// (slot, field) pair is tried at most once, so the cost is O(slots x fields).
    pub(super) fn run_with_ellipsis<'m>(
        &self,
        message: &'m str,
        bind: Option<&mut dyn FnMut(usize, &'m str)>,
    ) -> bool {
        let fields: Vec<Field<'m>> = Fields::new(message).collect();
        let mut failed = vec![false; (self.slots.len() + 1) * (fields.len() + 1)];
        let mut chosen: Vec<(usize, &'m str)> = Vec::with_capacity(self.slots.len());
        let ok = self.search(message, &fields, 0, 0, &mut failed, &mut chosen);
        if ok && let Some(bind) = bind {
            chosen.into_iter().for_each(|(i, v)| bind(i, v));
        }
        ok
    }

    fn search<'m>(
        &self,
        message: &'m str,
        fields: &[Field<'m>],
        si: usize,
        fi: usize,
        failed: &mut [bool],
        chosen: &mut Vec<(usize, &'m str)>,
    ) -> bool {
        let memo = si * (fields.len() + 1) + fi;
        if failed[memo] {
            return false;
        }
        let ok = match self.slots.get(si) {
            None => fi == fields.len(),
            Some(Slot::Ellipsis) => {
                (fi..=fields.len()).any(|k| self.search(message, fields, si + 1, k, failed, chosen))
            }
            Some(slot) => match fields.get(fi) {
                None => false,
                Some(&field) => {
                    let last = si + 1 == self.slots.len();
                    let value = if last {
                        rest_of_line(message, field, fi + 1 < fields.len())
                    } else {
                        field.value
                    };
                    let next = if last { fields.len() } else { fi + 1 };
                    slot.accepts(value) && {
                        chosen.push((si, value));
                        let ok = self.search(message, fields, si + 1, next, failed, chosen);
                        if !ok {
                            chosen.pop();
                        }
                        ok
                    }
                }
            },
        };
        if !ok {
            failed[memo] = true;
        }
        ok
    }

    pub(crate) fn regexes(&self) -> Vec<&Re> {
        let mut out = Vec::new();
        for slot in &self.slots {
            if let Slot::Field { cond: Some(cond), .. } = slot {
                cond.for_each_leaf(&mut |c: &Comparison| out.extend(c.regex()));
            }
        }
        out
    }

    /// The name of the field in slot `i` (empty for `...`).
    pub(crate) fn name(&self, i: usize) -> &str {
        match &self.slots[i] {
            Slot::Field { name, .. } => name,
            Slot::Ellipsis => "",
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parses a whole space-delimited pattern (input starts with `[`).
pub(crate) fn parse(input: &str) -> PResult<'_, Delimited> {
    let mut rest = &input[1..];
    let mut slots: Vec<Slot> = Vec::new();
    loop {
        let at = ws(rest);
        let (after, slot) = parse_slot(at)?;
        if let Slot::Field { name, .. } = &slot
            && slots.iter().any(|s| matches!(s, Slot::Field { name: n, .. } if n == name))
        {
            return fail(at, format!("field `{name}` is named twice"));
        }
        // Consecutive `...` mean the same as one.
        if !(matches!(slot, Slot::Ellipsis) && matches!(slots.last(), Some(Slot::Ellipsis))) {
            slots.push(slot);
        }
        if let Some(r) = token(after, ",") {
            rest = r;
        } else if let Some(r) = token(after, "]") {
            rest = r;
            break;
        } else {
            let after = ws(after);
            return fail(after, format!("expected `,` or `]` but found {}", found(after)));
        }
    }
    let ellipses = slots.iter().filter(|s| matches!(s, Slot::Ellipsis)).count();
    let trailing_ellipsis = ellipses == 1 && matches!(slots.last(), Some(Slot::Ellipsis));
    Ok((rest, Delimited { slots, has_ellipsis: ellipses > 0, trailing_ellipsis }))
}

/// Parses `...`, `name`, or a condition such as `name = value || name = other`.
fn parse_slot(input: &str) -> PResult<'_, Slot> {
    if let Some(r) = input.strip_prefix("...") {
        return Ok((r, Slot::Ellipsis));
    }
    let name_end = input.find(|c| !is_name_char(c)).unwrap_or(input.len());
    if name_end > 0 {
        let after = ws(&input[name_end..]);
        if after.is_empty() || after.starts_with([',', ']']) {
            return Ok((
                &input[name_end..],
                Slot::Field { name: input[..name_end].to_owned(), cond: None },
            ));
        }
    } else if !input.starts_with('(') {
        return fail(input, format!("expected a field name or `...` but found {}", found(input)));
    }
    let (rest, cond) = parse_expr(input, &mut parse_leaf)?;
    let mut name: Option<&str> = None;
    let mut mismatch: Option<(usize, String)> = None;
    cond.for_each_leaf(&mut |leaf: &(String, usize, Comparison)| match name {
        None => name = Some(&leaf.0),
        Some(n) if n != leaf.0 && mismatch.is_none() => {
            mismatch =
                Some((leaf.1, format!("this condition must test field `{n}`, not `{}`", leaf.0)));
        }
        Some(_) => {}
    });
    if let Some((rest_len, message)) = mismatch {
        return fail(&input[input.len() - rest_len..], message);
    }
    let name = name.unwrap_or_default().to_owned();
    Ok((rest, Slot::Field { name, cond: Some(map_leaves(cond)) }))
}

fn map_leaves(e: Expr<(String, usize, Comparison)>) -> Expr<Comparison> {
    match e {
        Expr::Leaf((_, _, c)) => Expr::Leaf(c),
        Expr::And(es) => Expr::And(es.into_iter().map(map_leaves).collect()),
        Expr::Or(es) => Expr::Or(es.into_iter().map(map_leaves).collect()),
    }
}

/// Parses `name op value`, returning the name, the remaining length at the name, and the test.
fn parse_leaf(input: &str) -> PResult<'_, (String, usize, Comparison)> {
    let input = ws(input);
    let end = input.find(|c| !is_name_char(c)).unwrap_or(input.len());
    if end == 0 {
        return fail(input, format!("expected a field name but found {}", found(input)));
    }
    let name = input[..end].to_owned();
    match parse_comparison(&input[end..]) {
        Some(res) => {
            let (rest, cmp) = res?;
            Ok((rest, (name, input.len(), cmp)))
        }
        None => {
            let after = ws(&input[end..]);
            fail(
                after,
                format!(
                    "expected an operator (`=`, `!=`, `<`, `<=`, `>`, `>=`), `,` or `]` after `{name}` but found {}",
                    found(after)
                ),
            )
        }
    }
}
