//! Rows as the pipeline sees them: the event's system columns (borrowed from the decoded
//! batch while scanning) plus the fields the query sets, looked up by interned id.
//!
//! A field is looked up in this order: set by the pipeline (`fields`, `parse`, `unnest`,
//! `stats`), a system field (`@timestamp`, ...), then a field discovered in the message's JSON
//! (§1.6), which is parsed at most once per row and only for names the query mentions.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::value::Value;

/// An interned field name.
pub(crate) type FieldId = usize;

/// The system fields of §1.6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SystemField {
    Timestamp,
    Message,
    LogStream,
    Log,
    IngestionTime,
    Ptr,
}

impl SystemField {
    fn from_name(name: &str) -> Option<SystemField> {
        Some(match name {
            "@timestamp" => SystemField::Timestamp,
            "@message" => SystemField::Message,
            "@logStream" => SystemField::LogStream,
            "@log" => SystemField::Log,
            "@ingestionTime" => SystemField::IngestionTime,
            "@ptr" => SystemField::Ptr,
            _ => return None,
        })
    }
}

/// Every field name the query mentions, interned.
#[derive(Debug, Default, Clone)]
pub(crate) struct Symbols {
    names: Vec<String>,
    system: Vec<Option<SystemField>>,
    ids: HashMap<String, FieldId>,
}

impl Symbols {
    pub(crate) fn intern(&mut self, name: &str) -> FieldId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name.to_string());
        self.system.push(SystemField::from_name(name));
        self.ids.insert(name.to_string(), id);
        id
    }

    pub(crate) fn get(&self, name: &str) -> Option<FieldId> {
        self.ids.get(name).copied()
    }

    pub(crate) fn name(&self, id: FieldId) -> &str {
        &self.names[id]
    }

    pub(crate) fn system(&self, id: FieldId) -> Option<SystemField> {
        self.system[id]
    }

    /// Every field a JSON message could supply (all but the system fields), by id.
    pub(crate) fn json_candidates(&self) -> Vec<(FieldId, String)> {
        (0..self.names.len())
            .filter(|&id| self.system[id].is_none())
            .map(|id| (id, self.names[id].clone()))
            .collect()
    }
}

/// Names of streams and groups, shared by every row of a query.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    pub(crate) streams: Vec<Arc<str>>,
    pub(crate) groups: Vec<Arc<str>>,
}

/// What evaluation needs besides the row.
pub(crate) struct EvalCtx<'q> {
    pub(crate) symbols: &'q Symbols,
    pub(crate) names: &'q Names,
    /// Query range, epoch ms: `queryStartTime()` and friends.
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) now_ms: i64,
}

/// The stored event behind a row.
#[derive(Clone, Debug)]
pub(crate) struct Base<'a> {
    pub(crate) ts: i64,
    pub(crate) ingest: i64,
    pub(crate) stream: u32,
    pub(crate) group: u32,
    /// Empty when the plan does not read messages.
    pub(crate) message: Cow<'a, str>,
    /// Position in the scan (unit, row): the last tie-break of "newest first".
    pub(crate) pos: (u32, u32),
}

/// One row of the pipeline.
#[derive(Clone, Debug)]
pub(crate) struct Row<'a> {
    pub(crate) base: Option<Base<'a>>,
    fields: Vec<Option<Value>>,
    json_done: bool,
}

/// Account id in `@log` (`account-id:log-group-name`); a single-tenant store has one.
pub const ACCOUNT_ID: &str = "000000000000";

/// At most this many fields are extracted from one JSON event (§1.6).
pub use logsight_columns::MAX_JSON_FIELDS;

impl<'a> Row<'a> {
    pub(crate) fn from_event(base: Base<'a>) -> Row<'a> {
        Row { base: Some(base), fields: Vec::new(), json_done: false }
    }

    /// A row with no stored event behind it (a `stats` result).
    pub(crate) fn derived() -> Row<'static> {
        Row { base: None, fields: Vec::new(), json_done: true }
    }

    pub(crate) fn into_owned(self) -> Row<'static> {
        Row {
            base: self.base.map(|b| Base {
                ts: b.ts,
                ingest: b.ingest,
                stream: b.stream,
                group: b.group,
                message: Cow::Owned(b.message.into_owned()),
                pos: b.pos,
            }),
            fields: self.fields,
            json_done: self.json_done,
        }
    }

    pub(crate) fn set(&mut self, id: FieldId, value: Value) {
        if self.fields.len() <= id {
            self.fields.resize(id + 1, None);
        }
        self.fields[id] = Some(value);
    }

    pub(crate) fn ts(&self) -> Option<i64> {
        self.base.as_ref().map(|b| b.ts)
    }

    /// The field's text without copying, when it is text (the fast path of `like`, regexes
    /// and `parse` on `@message`).
    pub(crate) fn text(&mut self, id: FieldId, ctx: &EvalCtx<'_>) -> Option<Cow<'_, str>> {
        let pipeline_set = matches!(self.fields.get(id), Some(Some(_)));
        if !pipeline_set
            && ctx.symbols.system(id) == Some(SystemField::Message)
            && self.base.is_some()
        {
            return self.base.as_ref().map(|b| Cow::Borrowed(b.message.as_ref()));
        }
        match self.get(id, ctx) {
            Value::Str(s) => Some(Cow::Owned(s.to_string())),
            other => other.as_text().map(|t| Cow::Owned(t.into_owned())),
        }
    }

    pub(crate) fn get(&mut self, id: FieldId, ctx: &EvalCtx<'_>) -> Value {
        if let Some(Some(v)) = self.fields.get(id) {
            return v.clone();
        }
        let Some(base) = &self.base else { return Value::Null };
        if let Some(sys) = ctx.symbols.system(id) {
            return match sys {
                SystemField::Timestamp => Value::Time(base.ts),
                SystemField::IngestionTime => Value::Time(base.ingest),
                SystemField::Message => Value::str(&base.message),
                SystemField::LogStream => {
                    Value::Str(ctx.names.streams[base.stream as usize].clone())
                }
                SystemField::Log => Value::Str(
                    format!("{ACCOUNT_ID}:{}", ctx.names.groups[base.group as usize]).into(),
                ),
                SystemField::Ptr => Value::Str(ptr(base, ctx).into()),
            };
        }
        if !self.json_done {
            self.json_done = true;
            self.discover_json(ctx);
            if let Some(Some(v)) = self.fields.get(id) {
                return v.clone();
            }
        }
        Value::Null
    }

    /// Flattens the message's JSON (§1.6) into the fields the query mentions and the
    /// pipeline has not set.
    fn discover_json(&mut self, ctx: &EvalCtx<'_>) {
        let Some(base) = &self.base else { return };
        let Some(object) = logsight_columns::parse_object(&base.message) else { return };
        let mut found = Vec::new();
        logsight_columns::flatten(&object, |name, leaf| {
            if let Some(id) = ctx.symbols.get(name) {
                found.push((id, Value::from_json(leaf)));
            }
        });
        for (id, v) in found {
            if !matches!(self.fields.get(id), Some(Some(_))) {
                self.set(id, v);
            }
        }
    }

    /// Sets the row's JSON fields from stored columns instead of discovering them in the
    /// message: `fields` are every field of the query the row's JSON has (the same values
    /// discovery would find), so discovery is off for this row. Called before any pipeline
    /// operation, so nothing set by the pipeline is overwritten.
    pub(crate) fn set_json(&mut self, fields: impl Iterator<Item = (FieldId, Value)>) {
        for (id, v) in fields {
            self.set(id, v);
        }
        self.json_done = true;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let base = self.base.as_ref().map_or(0, |b| match &b.message {
            Cow::Owned(s) => s.len(),
            Cow::Borrowed(_) => 0,
        });
        let fields: usize =
            self.fields.iter().map(|f| f.as_ref().map_or(0, Value::heap_bytes) + 24).sum();
        96 + base + fields
    }
}

/// `@ptr`: an opaque token naming the event: group, stream, timestamp, ingestion time and
/// the CRC-32C of the message. Events of one stream that share all of these are identical, so
/// the token resolves to exactly this event's record whatever seals and merges happen since
/// (see `logsight_queries::log_record`).
fn ptr(base: &Base<'_>, ctx: &EvalCtx<'_>) -> String {
    use base64::Engine as _;
    let raw = format!(
        "2\n{}\n{}\n{}\n{}\n{:08x}",
        ctx.names.groups[base.group as usize],
        ctx.names.streams[base.stream as usize],
        base.ts,
        base.ingest,
        crc32c::crc32c(base.message.as_bytes()),
    );
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}
