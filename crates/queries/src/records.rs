//! `GetLogRecord` (one event, from a result row's `@ptr`) and `GetLogGroupFields` (the fields
//! of a group's recent events and how often each occurs).

use base64::Engine as _;
use logsight_engine::{ACCOUNT_ID, DataSource, Engine};
use logsight_model::TimeRange;
use logsight_storage::{Event, ReadOptions, Store};

use crate::error::{QueryError, Result};

/// A field of a log record or of a group's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordField {
    /// The field name (`@message`, `user.id`, ...).
    pub name: String,
    /// Its value, as text.
    pub value: String,
}

/// A field name and the share of events that have it (`GetLogGroupFields`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldShare {
    /// The field name.
    pub name: String,
    /// Percent of the events (0 to 100) that have it.
    pub percent: u32,
}

/// How far back `GetLogGroupFields` looks (CloudWatch: 15 minutes before `time`).
pub const FIELDS_WINDOW_MS: i64 = 15 * 60 * 1000;

/// The event a `@ptr` names, with every field: the system fields (`@timestamp` and
/// `@ingestionTime` as epoch milliseconds, as CloudWatch's GetLogRecord returns them) and the
/// fields discovered in a JSON message.
///
/// A `@ptr` names the group, stream, millisecond, ingestion time and message checksum of the
/// event (see the engine's `@ptr`), so the record returned is the event the query saw, or one
/// identical to it in every field. Pointers of the first form (group, stream, millisecond and
/// a scan position) resolve to the first event stored at that millisecond.
pub fn log_record(store: &Store, ptr: &str) -> Result<Vec<RecordField>> {
    let bad = || QueryError::InvalidParameter(format!("invalid logRecordPointer {ptr:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(ptr).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let parts: Vec<&str> = raw.split('\n').collect();
    let (group, stream, ts, exact) = match parts[..] {
        ["2", group, stream, ts, ingest, crc] => {
            let ingest: i64 = ingest.parse().map_err(|_| bad())?;
            let crc = u32::from_str_radix(crc, 16).map_err(|_| bad())?;
            (group, stream, ts, Some((ingest, crc)))
        }
        [group, stream, ts, _unit, _row] => (group, stream, ts, None),
        _ => return Err(bad()),
    };
    let ts: i64 = ts.parse().map_err(|_| bad())?;
    let opts = ReadOptions {
        range: TimeRange::new(Some(ts), Some(ts.saturating_add(1))),
        ..ReadOptions::default()
    };
    let gone = || QueryError::NotFound(format!("the log record {ptr:?} no longer exists"));
    let mut page = store.read_stream(group, stream, &opts)?;
    // The events of one millisecond can span pages (a page is bounded in events and bytes).
    let event = loop {
        let found = page.events.into_iter().find(|e| {
            exact.is_none_or(|(ingest, crc)| {
                e.ingestion_time == ingest && crc32c::crc32c(e.message.as_bytes()) == crc
            })
        });
        match (found, page.next) {
            (Some(e), _) => break e,
            (None, Some(next)) if page.more => {
                let opts = ReadOptions { from: Some(next), ..opts.clone() };
                page = store.read_stream(group, stream, &opts)?;
            }
            _ => return Err(gone()),
        }
    };
    Ok(fields_of(group, &event))
}

fn fields_of(group: &str, e: &Event) -> Vec<RecordField> {
    let mut out = vec![
        field("@timestamp", e.timestamp.to_string()),
        field("@ingestionTime", e.ingestion_time.to_string()),
        field("@log", format!("{ACCOUNT_ID}:{group}")),
        field("@logStream", e.stream.to_string()),
        field("@message", e.message.clone()),
    ];
    out.extend(json_fields(&e.message));
    out
}

fn field(name: &str, value: String) -> RecordField {
    RecordField { name: name.to_string(), value }
}

/// The fields of `group`'s events in the 15 minutes up to `time_ms`, most frequent first,
/// then by name: every event counted, JSON fields from the JSON field columns' block
/// directories where a sealed block lies wholly in the window (no decoding), else from the
/// messages, on `engine`'s pool. The system fields count for every event. `source` is the
/// one queries read (a server's keeps its opened column directories from query to query).
pub fn group_fields(
    engine: &Engine,
    source: &DataSource,
    group: &str,
    time_ms: i64,
) -> Result<Vec<FieldShare>> {
    let range = TimeRange::new(
        Some(time_ms.saturating_sub(FIELDS_WINDOW_MS)),
        Some(time_ms.saturating_add(1)),
    );
    let counts = engine.field_counts(source, group, range)?;
    let n = counts.events;
    let percent = |c: u64| (c * 100 + n / 2).checked_div(n).unwrap_or(0) as u32;
    let mut out: Vec<FieldShare> = Vec::new();
    if n > 0 {
        for name in ["@ingestionTime", "@log", "@logStream", "@message", "@timestamp"] {
            out.push(FieldShare { name: name.to_string(), percent: 100 });
        }
    }
    out.extend(
        counts.fields.into_iter().map(|f| FieldShare { name: f.name, percent: percent(f.events) }),
    );
    out.sort_by(|a, b| b.percent.cmp(&a.percent).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// The leaves of a JSON message flattened as Logs Insights discovers them (§1.6), through
/// the one copy of the rules (`logsight_columns::flatten`).
fn json_fields(message: &str) -> Vec<RecordField> {
    let Some(object) = logsight_columns::parse_object(message) else { return Vec::new() };
    let mut out = Vec::new();
    logsight_columns::flatten(&object, |name, leaf| {
        let value = match leaf {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push(RecordField { name: name.to_owned(), value });
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_flattening_as_insights() {
        let got = json_fields(r#"{"a":{"b":[1,{"c":"x"}]},"@t":true,"s":"v","n":null}"#);
        let pairs: Vec<(&str, &str)> =
            got.iter().map(|f| (f.name.as_str(), f.value.as_str())).collect();
        assert_eq!(
            pairs,
            vec![("@@t", "true"), ("a.b.0", "1"), ("a.b.1.c", "x"), ("n", "null"), ("s", "v")]
        );
        assert!(json_fields("plain text {\"a\":1}").is_empty());
        assert!(json_fields("{not json").is_empty());
    }
}
