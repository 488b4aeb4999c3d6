//! `=` and `in` on JSON fields pushed down to the columns' per-block value sets: blocks
//! holding no matching value are skipped (counted in the statistics, exactly the blocks a
//! naive scan of the stored blocks finds without a match), and the rows are the same as with
//! the columns off and as a naive oracle's, for every kind of value (numbers, text reading as
//! numbers, booleans, near-unique strings summarised by a Bloom filter, absent fields,
//! non-JSON lines, buffered events).

use std::sync::Arc;

mod common;

use logsight_columns::{ColumnsDeriver, ValueSetPolicy};
use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryResult};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Columns, DecodedBlock, Deriver, Store, StoreOptions};

const BASE: i64 = 1_714_521_600_000;
const STREAMS: usize = 8;
const ROUNDS: usize = 4;
const PER_ROUND: usize = 1000;
const STEP_MS: i64 = 500;

/// One generated event, the oracle's view of it.
#[derive(Debug, Clone)]
struct Ev {
    plain: bool,
    level: &'static str,
    region: &'static str,
    user: String,
    code: Code,
    trace: String,
    flag: Flag,
}

#[derive(Debug, Clone, Copy)]
enum Code {
    Num(i64),
    Text(&'static str),
}

#[derive(Debug, Clone, Copy)]
enum Flag {
    Bool(bool),
    Text(&'static str),
    Absent,
}

const REGIONS: [&str; 5] = ["us-east-1", "us-west-2", "ap-south-1", "sa-east-1", "ca-central-1"];

/// Event `i` (stream `i % STREAMS`, round `i / PER_ROUND`): values chosen so that blocks
/// hold different subsets of them.
fn event(i: usize) -> Ev {
    let (stream, round) = (i % STREAMS, i / PER_ROUND);
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    Ev {
        plain: i % 53 == 7,
        level: if stream == 2 && round == 1 && i.is_multiple_of(3) {
            "ERROR"
        } else {
            ["INFO", "WARN"][i % 2]
        },
        region: if i.is_multiple_of(997) || i == BUFFERED_EU {
            "eu-west-1"
        } else {
            REGIONS[(stream + round) % 5]
        },
        // A stream's user changes every 40 of its events: a block sees a few users.
        user: format!("u{}", (i / (40 * STREAMS) * 7 + stream) % 60),
        code: match (stream, i % 3) {
            // Text alone in the last round: its blocks hold no number, only text reading as one.
            (3, _) if round == 3 => Code::Text(" 404.0"),
            (3, 0) => Code::Num(404),
            (3, 1) => Code::Text("404"),
            (3, _) => Code::Text(" 404.0"),
            (_, 0) if round == 2 => Code::Text("n/a"),
            (_, 0 | 1) => Code::Text("OK"),
            _ => Code::Num(200 + (i % 50) as i64),
        },
        trace: format!("t{x:016x}"),
        flag: match stream {
            5 => Flag::Bool(i % 4 == 1),
            6 => Flag::Text(["true", "no"][i % 2]),
            7 => Flag::Absent,
            _ => Flag::Text(["yes", "no"][i % 2]),
        },
    }
}

fn message(e: &Ev) -> String {
    if e.plain {
        return format!("plain line region={} user={}", e.region, e.user);
    }
    let code = match e.code {
        Code::Num(n) => n.to_string(),
        Code::Text(t) => format!("\"{t}\""),
    };
    let flag = match e.flag {
        Flag::Bool(b) => format!(",\"flag\":{b}"),
        Flag::Text(t) => format!(",\"flag\":\"{t}\""),
        Flag::Absent => String::new(),
    };
    format!(
        r#"{{"level":"{}","region":"{}","user":"{}","code":{code},"trace":"{}"{flag}}}"#,
        e.level, e.region, e.user, e.trace
    )
}

fn ts(i: usize) -> i64 {
    BASE + i as i64 * STEP_MS
}

/// The event at timestamp `t` (timestamps are unique).
fn at(t: i64) -> Ev {
    event(((t - BASE) / STEP_MS) as usize)
}

/// Rounds of events, each sealed into a segment of small blocks, then 300 events buffered.
fn store(dir: &std::path::Path) -> Arc<Store> {
    let opts =
        StoreOptions { sync: false, background: false, block_bytes: 8 << 10, ..Default::default() };
    let store = Store::open(dir, opts).unwrap();
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    for s in 0..STREAMS {
        store.create_stream(&g, &LogStreamName::new(format!("s{s}")).unwrap()).unwrap();
    }
    let append = |range: std::ops::Range<usize>| {
        let mut by_stream: Vec<Vec<LogEvent>> = vec![Vec::new(); STREAMS];
        for i in range {
            by_stream[i % STREAMS].push(LogEvent::new(ts(i), ts(i), message(&event(i))).unwrap());
        }
        for (s, events) in by_stream.iter().enumerate() {
            store.append("g", &format!("s{s}"), events).unwrap();
        }
    };
    for round in 0..ROUNDS {
        append(round * PER_ROUND..(round + 1) * PER_ROUND);
        store.flush().unwrap();
    }
    append(ROUNDS * PER_ROUND..ROUNDS * PER_ROUND + 300);
    Arc::new(store)
}

const EVENTS: usize = ROUNDS * PER_ROUND + 300;

/// A query, with the oracle's verdict on an event (`None`: no pushdown, nothing is skipped).
struct Case {
    query: &'static str,
    matches: Option<fn(&Ev) -> bool>,
    /// Whether the field's value sets are exact (few distinct values per block), so the
    /// skipped count is exactly that of the blocks without a match; else (Bloom) at most.
    exact: bool,
}

/// `code = '404'` as CloudWatch compares: the number 404 and text reading as 404.
fn code_is_404(e: &Ev) -> bool {
    !e.plain && matches!(e.code, Code::Num(404) | Code::Text("404" | " 404.0"))
}

const NEEDLE: usize = 2345;
/// A buffered event (never in a block, so never pruned) holding the rare region.
const BUFFERED_EU: usize = ROUNDS * PER_ROUND + 150;

fn cases() -> Vec<Case> {
    vec![
        Case {
            query: "filter level = 'ERROR' | stats count(*) as n by bin(5m)",
            matches: Some(|e| !e.plain && e.level == "ERROR"),
            exact: true,
        },
        Case {
            query: "filterIndex region = 'eu-west-1' | fields @timestamp, region, user",
            matches: Some(|e| !e.plain && e.region == "eu-west-1"),
            exact: true,
        },
        Case {
            query: "filter user in ['u3', 'u17'] | stats count(*) as n by user",
            matches: Some(|e| !e.plain && (e.user == "u3" || e.user == "u17")),
            exact: true,
        },
        Case {
            query: "filterIndex user in ['u3', 'u17'] and level = 'WARN' | stats count(*) as n",
            matches: Some(|e| !e.plain && (e.user == "u3" || e.user == "u17") && e.level == "WARN"),
            exact: false, // two conditions: a block may hold each but no row both
        },
        Case {
            query: "filter code = '404' | stats count(*) as n by code",
            matches: Some(code_is_404),
            exact: true,
        },
        Case {
            query: "filter code > 300 | stats count(*) as n",
            matches: Some(|e| {
                !e.plain
                    && match e.code {
                        Code::Num(n) => n > 300,
                        Code::Text(t) => t.trim().parse::<f64>().is_ok_and(|x| x > 300.0),
                    }
            }),
            exact: true,
        },
        Case {
            query: "filter code in [404, 'n/a'] | stats count(*) as n",
            matches: Some(|e| code_is_404(e) || (!e.plain && matches!(e.code, Code::Text("n/a")))),
            exact: true,
        },
        Case {
            query: "filter flag in ['true'] | stats count(*) as n by flag",
            matches: Some(|e| !e.plain && matches!(e.flag, Flag::Bool(true) | Flag::Text("true"))),
            exact: true,
        },
        Case {
            query: "filter trace = 'NEEDLE' | fields @timestamp, @message",
            matches: Some(|e| !e.plain && e.trace == event(NEEDLE).trace),
            exact: false, // near-unique: a Bloom filter per block
        },
        Case {
            query: "filter region = 'nowhere' | fields @timestamp",
            matches: Some(|_| false),
            exact: true,
        },
        Case {
            query: "filter region != 'eu-west-1' | stats count(*) as n",
            matches: None,
            exact: true,
        },
        Case {
            query: "filter user not in ['u3'] | stats count(*) as n by user",
            matches: None,
            exact: true,
        },
        Case {
            query: "filter level = 'ERROR' or region = 'eu-west-1' | stats count(*) as n",
            matches: None,
            exact: true,
        },
    ]
}

fn query_text(c: &Case) -> String {
    c.query.replace("NEEDLE", &event(NEEDLE).trace)
}

fn run(engine: &Engine, source: &DataSource, query: &str) -> QueryResult {
    let req = common::request("g", query);
    let mut r =
        engine.run(source, &req, &CancelToken::new()).unwrap_or_else(|e| panic!("{query}: {e}"));
    r.rows.sort();
    r
}

/// Events in sealed blocks where no event matches: what pruning may skip at most.
fn skippable(store: &Store, matches: fn(&Ev) -> bool) -> u64 {
    let mut block = DecodedBlock::default();
    let cols = Columns { timestamps: true, ingestion_times: false, messages: false };
    let mut total = 0;
    for info in store.segments() {
        let seg = store.segment(info.id).unwrap();
        for b in 0..seg.blocks().len() {
            seg.decode_columns(b, cols, &mut block).unwrap();
            if !block.timestamps.iter().any(|&t| matches(&at(t))) {
                total += block.len() as u64;
            }
        }
    }
    total
}

/// The oracle's count of matching events.
fn count(matches: fn(&Ev) -> bool) -> u64 {
    (0..EVENTS).filter(|&i| matches(&event(i))).count() as u64
}

#[test]
fn value_sets_skip_blocks_without_the_value_and_never_change_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let source = DataSource::new(store.clone());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let cases = cases();
    // Columns off: every message parsed, nothing skipped.
    let off: Vec<QueryResult> =
        cases.iter().map(|c| run(&engine, &source, &query_text(c))).collect();
    for (c, r) in cases.iter().zip(&off) {
        assert_eq!(r.statistics.estimated_records_skipped, 0, "{}", c.query);
    }

    store.derive_missing(&ColumnsDeriver::default()).unwrap();
    let blocks: usize =
        store.segments().iter().map(|s| store.segment(s.id).unwrap().blocks().len()).sum();
    assert!(blocks >= 40, "{blocks} blocks: too few to tell pruning apart");
    for (c, off) in cases.iter().zip(&off) {
        let q = query_text(c);
        let on = run(&engine, &source, &q);
        assert_eq!(on.rows, off.rows, "{q}: rows differ with the value sets");
        assert_eq!(on.statistics.records_matched, off.statistics.records_matched, "{q}");
        let skipped = on.statistics.estimated_records_skipped;
        let Some(matches) = c.matches else {
            assert_eq!(skipped, 0, "{q}: a negation or `or` never prunes");
            continue;
        };
        // The oracle: the same count as a naive scan of the generated events.
        assert_eq!(on.statistics.records_matched, count(matches), "{q}");
        let can = skippable(&store, matches);
        assert!(can > 0, "{q}: the data leaves nothing to skip, a weak case");
        if c.exact {
            assert_eq!(skipped, can, "{q}: skipped events");
        } else {
            assert!(skipped > 0 && skipped <= can, "{q}: skipped {skipped} of {can}");
        }
        assert!(on.statistics.estimated_bytes_skipped > 0, "{q}");
    }
    // The needle is one event; most blocks are ruled out by their Bloom filters.
    let needle = &cases.iter().find(|c| c.query.contains("NEEDLE")).unwrap();
    let on = run(&engine, &source, &query_text(needle));
    assert_eq!(on.rows.len(), 1);
    assert!(on.statistics.estimated_records_skipped as f64 >= 0.9 * (EVENTS - 300) as f64);
    // The eu-west-1 events: five sealed ones (0, 997, 1994, 2991, 3988) and a buffered one.
    let eu = run(&engine, &source, "filterIndex region = 'eu-west-1' | fields @timestamp");
    assert_eq!(eu.rows.len(), 6);
    let buffered = chrono::DateTime::from_timestamp_millis(ts(BUFFERED_EU)).unwrap();
    let buffered = buffered.format("%Y-%m-%d %H:%M:%S%.3f").to_string();
    assert!(eu.rows.contains(&vec![Some(buffered)]), "{:?}", eu.rows);
}

#[test]
fn without_value_sets_string_tests_skip_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let source = DataSource::new(store.clone());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    store.derive_missing(&ColumnsDeriver::with_policy(ValueSetPolicy::NONE)).unwrap();
    for c in cases() {
        let q = query_text(&c);
        let r = run(&engine, &source, &q);
        if q.contains("level = 'ERROR'") || q.contains("region = '") || q.contains("user in") {
            assert_eq!(r.statistics.estimated_records_skipped, 0, "{q}");
        }
        if let Some(m) = c.matches {
            assert_eq!(r.statistics.records_matched, count(m), "{q}");
        }
    }
}

#[test]
fn explain_shows_the_pushdown_and_what_it_skips() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let source = DataSource::new(store.clone());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    store.derive_missing(&ColumnsDeriver::default()).unwrap();
    let req = common::request("g", "filterIndex region = 'eu-west-1' | stats count(*)");
    let text = engine.explain(&source, &req).unwrap();
    assert!(
        text.contains(
            "block pruning from JSON field columns: region is the text \"eu-west-1\" (block value sets)"
        ),
        "{text}"
    );
    let line = text.lines().find(|l| l.contains("units pruned")).unwrap();
    let pruned: usize =
        line.split("; ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(pruned > 30, "{line}");
}

/// Serves a fixed artifact as a segment's columns: here, one of the format's first version.
struct Fixed(logsight_storage::ArtifactKind, &'static [u8]);

impl Deriver for Fixed {
    fn kind(&self) -> &logsight_storage::ArtifactKind {
        &self.0
    }

    fn build(
        &self,
        _: &logsight_storage::segment::Segment,
    ) -> Result<Vec<u8>, logsight_storage::DeriveError> {
        Ok(self.1.to_vec())
    }
}

/// `testdata/v1.columns` was written by the first version's writer for exactly these six
/// events in one block: an old artifact is detected, never read, dropped and rebuilt.
#[test]
fn a_version_1_artifact_is_rebuilt_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Arc::new(Store::open(tmp.path(), opts).unwrap());
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    store.create_stream(&g, &LogStreamName::new("s").unwrap()).unwrap();
    let events: Vec<LogEvent> = (0..6)
        .map(|i| {
            let m = format!(r#"{{"level":"{}","status":{}}}"#, ["INFO", "ERROR"][i % 2], 200 + i);
            LogEvent::new(BASE + i as i64, BASE + i as i64, m).unwrap()
        })
        .collect();
    store.append("g", "s", &events).unwrap();
    store.flush().unwrap();
    let kind = logsight_columns::kind();
    let v1 = include_bytes!("../../columns/testdata/v1.columns");
    assert_eq!(store.derive_missing(&Fixed(kind.clone(), v1)).unwrap().built, 1);
    let source = DataSource::new(store.clone());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let q = "filter level = 'ERROR' | stats count(*) as n, sum(status) as s";
    let r = run(&engine, &source, q);
    assert_eq!(r.rows, [[Some("3".to_string()), Some("609".to_string())]]);
    assert_eq!(r.statistics.index_segments_damaged, 0);
    // Dropped for the builder, which makes a current one; the same answer from it.
    assert_eq!(store.segments_without(&kind).len(), 1);
    store.derive_missing(&ColumnsDeriver::default()).unwrap();
    assert!(store.segments_without(&kind).is_empty());
    let req = common::request("g", q);
    assert!(engine.explain(&source, &req).unwrap().contains("JSON fields from columns in 1 of 1"));
    assert_eq!(run(&engine, &source, q).rows, r.rows);
}
