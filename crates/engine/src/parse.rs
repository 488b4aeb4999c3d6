//! The `parse` command (§1.3.2): glob, regex with named groups (or `as` names for its
//! groups), `logfmt`, `csv`, and `multi` (one row per match).
//!
//! A glob `*` captures as little as it can, except a `*` that ends the glob, which takes the
//! rest of the text; the glob may match anywhere in the text. Rows that don't match keep their
//! other fields and get none of the extracted ones.

use std::sync::Arc;

use logsight_query_lang::insights::ParsePattern;

use crate::expr::CExpr;
use crate::row::{EvalCtx, FieldId, Row, Symbols};
use crate::value::Value;

/// A compiled `parse`.
#[derive(Clone, Debug)]
pub(crate) struct ParseOp {
    source: CExpr,
    kind: Kind,
    multi: bool,
}

#[derive(Clone, Debug)]
enum Kind {
    /// Capture group `i + 1` (or the named group) goes to `targets[i]`.
    Regex {
        re: regex::Regex,
        targets: Vec<(usize, FieldId)>,
    },
    /// Into a map field, or into the fields named like the keys.
    Logfmt {
        into: Option<FieldId>,
    },
    Csv {
        targets: Vec<FieldId>,
    },
}

impl ParseOp {
    pub(crate) fn new(
        source: CExpr,
        pattern: &ParsePattern,
        targets: Vec<FieldId>,
        multi: bool,
        symbols: &mut Symbols,
    ) -> Result<ParseOp, String> {
        let kind = match pattern {
            ParsePattern::Glob(glob) => {
                let mut re = String::from("(?s)");
                let parts: Vec<&str> = glob.split('*').collect();
                for (i, part) in parts.iter().enumerate() {
                    re.push_str(&regex::escape(part));
                    if i + 1 < parts.len() {
                        let last = i + 2 == parts.len() && parts[i + 1].is_empty();
                        re.push_str(if last { "(.*)" } else { "(.*?)" });
                    }
                }
                let re = regex::Regex::new(&re).map_err(|e| format!("invalid glob: {e}"))?;
                Kind::Regex {
                    re,
                    targets: targets.into_iter().enumerate().map(|(i, t)| (i + 1, t)).collect(),
                }
            }
            ParsePattern::Regex(r) => {
                let re = regex::Regex::new(&r.pattern)
                    .map_err(|e| format!("invalid regex /{}/: {e}", r.pattern))?;
                let targets = if targets.is_empty() {
                    let named: Vec<(usize, FieldId)> = re
                        .capture_names()
                        .enumerate()
                        .filter_map(|(i, n)| n.map(|n| (i, symbols.intern(n))))
                        .collect();
                    if named.is_empty() {
                        return Err(
                            "a parse regex needs named groups `(?<name>...)` or `as` names".into(),
                        );
                    }
                    named
                } else {
                    if targets.len() > re.captures_len() - 1 {
                        return Err(format!(
                            "the regex has {} groups but {} names follow `as`",
                            re.captures_len() - 1,
                            targets.len()
                        ));
                    }
                    targets.into_iter().enumerate().map(|(i, t)| (i + 1, t)).collect()
                };
                Kind::Regex { re, targets }
            }
            ParsePattern::Logfmt => {
                if targets.len() > 1 {
                    return Err("`logfmt` takes at most one name after `as`".into());
                }
                Kind::Logfmt { into: targets.first().copied() }
            }
            ParsePattern::Csv => {
                if targets.is_empty() {
                    return Err("`csv` needs names after `as`".into());
                }
                Kind::Csv { targets }
            }
        };
        if multi && !matches!(kind, Kind::Regex { .. }) {
            return Err("`multi` applies to glob and regex patterns".into());
        }
        Ok(ParseOp { source, kind, multi })
    }

    pub(crate) fn reads(&self, out: &mut Vec<FieldId>) {
        self.source.fields(out);
    }

    /// Runs on `row`, calling `emit` with each resulting row (one, or one per match with
    /// `multi`).
    pub(crate) fn apply<'a>(
        &self,
        mut row: Row<'a>,
        ctx: &EvalCtx<'_>,
        emit: &mut dyn FnMut(Row<'a>),
    ) {
        let Some(text) = crate::expr::text(&self.source, &mut row, ctx, &[]) else {
            emit(row);
            return;
        };
        let mut sets: Vec<Vec<(FieldId, Value)>> = Vec::new();
        match &self.kind {
            Kind::Regex { re, targets } => {
                let capture = |caps: regex::Captures<'_>| {
                    targets
                        .iter()
                        .filter_map(|(g, id)| caps.get(*g).map(|m| (*id, Value::str(m.as_str()))))
                        .collect::<Vec<_>>()
                };
                if self.multi {
                    sets.extend(re.captures_iter(&text).map(capture));
                } else if let Some(caps) = re.captures(&text) {
                    sets.push(capture(caps));
                }
            }
            Kind::Logfmt { into } => {
                let pairs = logfmt(&text);
                match into {
                    Some(id) => {
                        let map = pairs.into_iter().map(|(k, v)| (k, Value::str(&v))).collect();
                        sets.push(vec![(*id, Value::Map(Arc::new(map)))]);
                    }
                    None => sets.push(
                        pairs
                            .into_iter()
                            .filter_map(|(k, v)| ctx.symbols.get(&k).map(|id| (id, Value::str(&v))))
                            .collect(),
                    ),
                }
            }
            Kind::Csv { targets } => {
                let values = csv_fields(&text);
                sets.push(
                    targets.iter().zip(values).map(|(id, v)| (*id, Value::str(&v))).collect(),
                );
            }
        }
        drop(text);
        match sets.len() {
            0 => emit(row),
            1 => {
                for (id, v) in sets.pop().unwrap_or_default() {
                    row.set(id, v);
                }
                emit(row);
            }
            _ => {
                for set in sets {
                    let mut r = row.clone();
                    for (id, v) in set {
                        r.set(id, v);
                    }
                    emit(r);
                }
            }
        }
    }
}

/// `key=value key2="quoted value"` pairs; a key without `=` gets an empty value.
pub(crate) fn logfmt(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        if !key.is_empty() {
            out.push((key, value));
        } else {
            chars.next();
        }
    }
    out
}

/// Comma-separated values; double quotes group commas, `""` inside quotes is a quote.
pub(crate) fn csv_fields(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let cur = out.last_mut().expect("never empty");
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => cur.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_pairs() {
        let got = logfmt(r#"level=info msg="hello \"you\" there" took=12ms flag"#);
        let want =
            [("level", "info"), ("msg", "hello \"you\" there"), ("took", "12ms"), ("flag", "")];
        let want: Vec<(String, String)> =
            want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(csv_fields(r#"a,"b,c",,"d""e""#), ["a", "b,c", "", "d\"e"]);
    }
}
