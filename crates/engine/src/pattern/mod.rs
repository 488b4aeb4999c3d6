//! The `pattern` command (reference §1.2): rows grouped by the pattern of a field, as
//! `@pattern`, `@ratio`, `@sampleCount` and `@severityLabel`.
//!
//! Logs Insights clusters messages at query time. Here the clustering was done when the data
//! was sealed: the message codec splits every message into a template and variables, and a
//! sealed block can hand out each row's template without writing any message
//! (`logsight_storage::ScanUnit::decode_templates`). `pattern @message` after nothing but
//! `filter`s therefore runs like a `stats count(*) by` a column: per block, a count per
//! template id (the filters see the rows as usual; with no filter, the ids are counted
//! directly); per template, its pattern ([`normalise`], module docs), computed once per
//! worker and query for each distinct template (cached by the template's bytes, so a wide
//! time range does not normalise the same template again for every block); per pattern, the
//! counts, merged across workers like `stats` partials; at the end,
//! [`normalise::merge_variants`] over the distinct patterns, then the rows.
//!
//! Any other case (`pattern` of another field, or after a command that may change
//! `@message`, or after a barrier) reads the field's values and splits them into templates
//! exactly as sealing would (`Templates::build`, per scan unit), then goes the same way.
//! Buffered (not yet sealed) events take that path too, so their patterns agree with
//! sealed ones.
//!
//! Output, one row per pattern, most frequent first (then by pattern text):
//! - `@pattern`: the pattern, dynamic tokens written `<Token-1>`, `<Token-2>`, ... (the
//!   reference also shows typed tokens such as `<Time-1>`; tokens are not typed here);
//! - `@sampleCount`: rows with the pattern; `@ratio`: that over all rows that reached
//!   `pattern` with a value of the field (missing values, maps and lists are not counted);
//! - `@severityLabel`: from the level word in the pattern (`normalise` docs).
//!
//! Not produced: the console's `@visualization` and `@tokens` (token value distributions)
//! and `@regexString`, which the reference does not list.

mod normalise;

use std::collections::HashMap;
use std::ops::Range;

use logsight_storage::Templates;

use crate::row::{EvalCtx, FieldId, Row};
use crate::value::Value;
use normalise::Shape;

/// A bound `pattern <field>`: the field and the output fields.
#[derive(Clone, Debug)]
pub(crate) struct PatternSpec {
    pub(crate) field: FieldId,
    pub(crate) pattern: FieldId,
    pub(crate) ratio: FieldId,
    pub(crate) count: FieldId,
    pub(crate) severity: FieldId,
    /// The command's text (for `--explain`).
    pub(crate) text: String,
}

impl PatternSpec {
    /// The output fields, in the order results show them.
    pub(crate) fn outputs(&self) -> Vec<FieldId> {
        vec![self.pattern, self.ratio, self.count, self.severity]
    }
}

/// One worker's share of a `pattern`: counts per pattern, and the current unit's rows.
#[derive(Clone, Default)]
pub(crate) struct PatternPartial {
    /// Distinct patterns seen, and their counts.
    shapes: Vec<Shape>,
    counts: Vec<u64>,
    index: HashMap<Shape, u32>,
    /// Template bytes → pattern index: each distinct template is normalised once.
    cache: HashMap<Box<[u8]>, u32>,
    /// The current unit: rows kept (by row index in its block), or the field's values.
    rows: Vec<u32>,
    values: Vec<String>,
    /// Scratch: per template of the current unit, its rows.
    per_template: Vec<u64>,
    built: Templates,
}

impl PatternPartial {
    /// Adds a row that reached `pattern`. With `by_row`, the row is counted by its block
    /// row's template; else by its value of the field. Returns the bytes held.
    pub(crate) fn add_row(
        &mut self,
        spec: &PatternSpec,
        by_row: bool,
        mut row: Row<'_>,
        ctx: &EvalCtx<'_>,
    ) -> isize {
        if let (true, Some(base)) = (by_row, &row.base) {
            self.rows.push(base.pos.1);
            return 4;
        }
        match row.get(spec.field, ctx) {
            Value::Null | Value::List(_) | Value::Map(_) => 0,
            v => {
                let text = v.render().map(|t| t.into_owned()).unwrap_or_default();
                let bytes = text.len() as isize + 24;
                self.values.push(text);
                bytes
            }
        }
    }

    /// Counts every row of `runs` by its template: the no-filter path. Returns the rows.
    pub(crate) fn add_runs(
        &mut self,
        ids: &[u32],
        runs: impl Iterator<Item = Range<usize>>,
    ) -> u64 {
        let mut n = 0;
        for rows in runs {
            for &id in &ids[rows.clone()] {
                let id = id as usize;
                if id >= self.per_template.len() {
                    self.per_template.resize(id + 1, 0);
                }
                self.per_template[id] += 1;
            }
            n += rows.len() as u64;
        }
        n
    }

    /// Ends a unit: turns its rows (by template of `templates`, the unit's) or values into
    /// pattern counts. Returns the change in bytes held.
    pub(crate) fn finish_unit(&mut self, templates: &Templates) -> isize {
        let mut delta = 0;
        let ids = templates.ids();
        for &r in &self.rows {
            if let Some(&id) = ids.get(r as usize) {
                let id = id as usize;
                if id >= self.per_template.len() {
                    self.per_template.resize(id + 1, 0);
                }
                self.per_template[id] += 1;
            }
        }
        delta -= 4 * self.rows.len() as isize;
        self.rows.clear();
        delta += self.fold(templates);
        if !self.values.is_empty() {
            let mut built = std::mem::take(&mut self.built);
            Templates::build(&self.values, &mut built);
            delta -= self.values.iter().map(|v| v.len() as isize + 24).sum::<isize>();
            self.values.clear();
            for &id in built.ids() {
                let id = id as usize;
                if id >= self.per_template.len() {
                    self.per_template.resize(id + 1, 0);
                }
                self.per_template[id] += 1;
            }
            delta += self.fold(&built);
            self.built = built;
        }
        delta
    }

    /// Adds `per_template` (counts by template of `templates`) to the pattern counts and
    /// clears it.
    fn fold(&mut self, templates: &Templates) -> isize {
        let mut delta = 0;
        let mut per = std::mem::take(&mut self.per_template);
        for (t, n) in per.iter_mut().enumerate() {
            if *n == 0 || t >= templates.len() {
                *n = 0;
                continue;
            }
            let template = templates.get(t);
            let at = match self.cache.get(template.key()) {
                Some(&at) => at,
                None => {
                    let shape = normalise::normalise(template.pieces());
                    let next = self.shapes.len() as u32;
                    let at = *self.index.entry(shape.clone()).or_insert_with(|| {
                        delta += 48 + shape_bytes(&shape);
                        next
                    });
                    if at == next {
                        self.shapes.push(shape);
                        self.counts.push(0);
                    }
                    delta += 32 + template.key().len() as isize;
                    self.cache.insert(template.key().into(), at);
                    at
                }
            };
            self.counts[at as usize] += *n;
            *n = 0;
        }
        self.per_template = per;
        delta
    }
}

fn shape_bytes(shape: &Shape) -> isize {
    2 * shape
        .iter()
        .map(|t| match t {
            normalise::Tok::Word(w) | normalise::Tok::Sep(w) => w.len() + 24,
            normalise::Tok::Var => 24,
        })
        .sum::<usize>() as isize
}

/// Merges the workers' partials into the result rows (module docs).
pub(crate) fn finish(spec: &PatternSpec, partials: Vec<PatternPartial>) -> Vec<Row<'static>> {
    let mut all: Vec<(Shape, u64)> = Vec::new();
    for p in partials {
        all.extend(p.shapes.into_iter().zip(p.counts).filter(|(_, n)| *n > 0));
    }
    let total: u64 = all.iter().map(|(_, n)| n).sum();
    let mut merged: Vec<(String, u64, &'static str)> = normalise::merge_variants(all)
        .into_iter()
        .map(|(s, n)| (normalise::render(&s), n, normalise::severity(&s)))
        .collect();
    merged.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    merged
        .into_iter()
        .map(|(text, n, severity)| {
            let mut row = Row::derived();
            row.set(spec.pattern, Value::str(&text));
            row.set(spec.ratio, Value::float(n as f64 / total as f64));
            row.set(spec.count, Value::Int(n as i64));
            row.set(spec.severity, Value::str(severity));
            row
        })
        .collect()
}

/// `pattern` over rows already in memory (after a barrier): their values split into
/// templates as one unit.
pub(crate) fn over_rows(
    spec: &PatternSpec,
    rows: Vec<Row<'static>>,
    ctx: &EvalCtx<'_>,
) -> Vec<Row<'static>> {
    let mut partial = PatternPartial::default();
    for row in rows {
        partial.add_row(spec, false, row, ctx);
    }
    partial.finish_unit(&Templates::default());
    finish(spec, vec![partial])
}
