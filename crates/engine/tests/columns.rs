//! JSON field columns change speed, never results: every query runs over the same events
//! with JSON fields parsed from the messages and read from the columns, including mixed
//! types, non-JSON events, name collisions, the 200-field cut and a damaged artifact.

use std::sync::Arc;

mod common;

use logsight_columns::ColumnsDeriver;
use logsight_engine::{BlockCache, CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

const BASE: i64 = 1_714_521_600_000;

/// Messages of every shape a JSON field can take, cycled over many blocks.
fn message(i: usize) -> String {
    let wide: Vec<String> = (0..210).map(|k| format!("\"w{k:03}\":{k}")).collect();
    match i % 12 {
        0 => format!(
            r#"{{"latency_ms": {}, "level": "INFO", "path": "/a/{}", "trace": "t{i:06x}"}}"#,
            i % 97,
            i % 5
        ),
        1 => format!(r#"{{"latency_ms": {}.5, "level": "ERROR", "ok": true}}"#, i % 13),
        2 => format!(r#"{{"latency_ms": "{}", "level": "WARN"}}"#, i % 31),
        3 => r#"{"latency_ms": "slow", "level": null, "ok": false}"#.to_string(),
        4 => format!("plain text line {i} latency_ms=5"),
        5 => format!(r#"  {{"req": {{"tags": ["a", "b{}"], "n": [1, {{"x": {i}}}]}}}}"#, i % 3),
        6 => format!(r#"{{"@timestamp": "fake", "@x": {i}, "level": "INFO"}}"#),
        7 => r#"{"a.b": 1, "a": {"b": 2}, "latency_ms": 18446744073709551615}"#.to_string(),
        8 => format!("{{{}}}", wide.join(",")),
        9 => "[1, 2, 3]".to_string(),
        10 => r#"{"broken": "#.to_string(),
        _ => format!(r#"{{"latency_ms": -{}, "level": "INFO", "status": {}}}"#, i % 7, 200 + i % 4),
    }
}

const QUERIES: &[&str] = &[
    "stats avg(latency_ms) as a, pct(latency_ms, 99) as p, count(latency_ms) as c by bin(1m)",
    "stats count(*) as n, sum(latency_ms) as s, min(latency_ms) as lo, max(latency_ms) as hi by level",
    "filter latency_ms > 20 | stats count(*) as n by level",
    "filter level = 'ERROR' or ok = 1 | fields latency_ms, ok, level | sort latency_ms desc | limit 50",
    "filter ispresent(latency_ms) and not ispresent(status) | stats count(*) as n",
    "fields req.tags.1, req.n.1.x, `@@x`, @timestamp | filter ispresent(req.tags.0) or ispresent(`@@x`) | limit 40",
    "stats count(*) as n by a.b, w000, w199, w209",
    "filter level in ['INFO', 'WARN'] | stats count_distinct(path) as d, count(*) as n by level",
    "fields latency_ms as l | filter l > 3 | stats sum(l) as s",
    "filter @message like 'plain' | stats count(*) as n by latency_ms",
    "fields strlen(level) as k, latency_ms * 2 as d | sort d asc | limit 30",
    "parse @message 'latency_ms=*' as latency_ms | stats count(*) as n by latency_ms",
    // `trace` is near-unique: statistics only, its units parse messages.
    "filter ispresent(trace) | stats count(*) as n, count_distinct(trace) as d by level",
    // Pruned by the columns' statistics: only some streams' blocks have these fields.
    "filter status = 203 | stats count(*) as n by bin(1m)",
    "filter w005 >= 5 and level != 'x' | stats count(*) as n",
    "filter 100 > latency_ms and status in [203, 7] | fields latency_ms, status | limit 20",
    "filter level = 'ERROR' and ok = 1 | stats count(*) as n",
    // The columnar kernel's shapes: conditions on one field each, `stats` by nothing or a bin.
    "filter level = 'ERROR' | stats count(*) as n by bin(1m)",
    "filter 'INFO' = level and latency_ms >= 3 | stats count(*) as n, avg(latency_ms) as a by bin(30s)",
    "filter latency_ms > 2.5 and latency_ms <= 60 | stats sum(latency_ms) as s, min(latency_ms) as lo, max(latency_ms) as hi, stddev(latency_ms) as sd, pct(latency_ms, 90) as p",
    "filter level in ['INFO', 'ERROR'] and status not in [201] | stats count(*) as n, count(status) as c, count_distinct(level) as d by bin(5m)",
    "filter level like /RR/ and strlen(level) > 2 | stats earliest(latency_ms) as e, latest(latency_ms) as l, sortsFirst(level) as f, sortsLast(level) as z by bin(2m)",
    "filter ok = 1 | stats count(*) as n, sum(latency_ms) as s",
    "filter level != 'WARN' and latency_ms != 3 | stats count(*) as n by bin(1m)",
    "filter not ispresent(level) | stats count(*) as n, avg(latency_ms) as a",
    "filter abs(latency_ms) % 2 = 1 | stats count(*) as n, histogram(latency_ms, 4) as h",
    "filter nosuchfield = 1 | stats count(*) as n",
    "filter latency_ms < 1e30 | stats count(*) as n, max(latency_ms) as m by bin(1m)",
    "filter w005 >= 5 | stats count(*) as n, rate(w007, 1s) as r",
    // Dotted names through the kernel: flattened leaves, and `a.b` twice in one event.
    "filter a.b = 1 or a.b = 2 | stats count(*) as n, sum(a.b) as s by bin(1m)",
    "filter req.tags.0 = 'a' and req.n.0 >= 1 | stats count(*) as n, sum(req.n.1.x) as s",
];

fn store(dir: &std::path::Path) -> Arc<Store> {
    let opts = StoreOptions {
        sync: false,
        background: false,
        block_bytes: 32 << 10,
        ..Default::default()
    };
    let store = Store::open(dir, opts).unwrap();
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    for s in 0..3 {
        store.create_stream(&g, &LogStreamName::new(format!("s{s}")).unwrap()).unwrap();
    }
    for i in 0..3000 {
        let ts = BASE + i as i64 * 250;
        let ev = LogEvent::new(ts, ts, message(i)).unwrap();
        store.append("g", &format!("s{}", i % 3), &[ev]).unwrap();
        if i == 1800 {
            store.flush().unwrap();
        }
    }
    store.flush().unwrap();
    // A few buffered events too: they never have columns.
    for i in 3000..3100 {
        let ts = BASE + i as i64 * 250;
        store.append("g", "s0", &[LogEvent::new(ts, ts, message(i)).unwrap()]).unwrap();
    }
    Arc::new(store)
}

fn run_all(engine: &Engine, source: &DataSource) -> Vec<Vec<Vec<Option<String>>>> {
    run_in(engine, source, "g", QUERIES)
}

fn run_in(
    engine: &Engine,
    source: &DataSource,
    group: &str,
    queries: &[&str],
) -> Vec<Vec<Vec<Option<String>>>> {
    queries
        .iter()
        .map(|q| {
            let req = common::request(group, q);
            let r = engine
                .run(source, &req, &CancelToken::new())
                .unwrap_or_else(|e| panic!("{q}: {e}"));
            assert!(!r.rows.is_empty(), "{q}: no rows, a weak comparison");
            let mut rows = r.rows;
            // `stats` orders groups whose keys print alike (text "5", number 5) arbitrarily.
            if q.contains("stats") {
                rows.sort();
            }
            rows
        })
        .collect()
}

fn explain(engine: &Engine, source: &DataSource, q: &str) -> String {
    let req = common::request("g", q);
    engine.explain(source, &req).unwrap()
}

#[test]
fn columns_on_and_off_give_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let source = DataSource::new(store.clone());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let parsed = run_all(&engine, &source);
    let q = QUERIES[0];
    assert!(explain(&engine, &source, q).contains("JSON fields from columns in 0 of"));

    let report = store.derive_missing(&ColumnsDeriver::default()).unwrap();
    assert!(report.built >= 2 && report.failed.is_empty(), "{report:?}");
    let text = explain(&engine, &source, q);
    assert!(text.contains("columns: timestamps, JSON fields\n"), "{text}");
    assert!(text.contains("JSON fields: latency_ms"), "{text}");
    let units = store.segments().len();
    assert!(units >= 2);
    let from_columns = text.lines().find(|l| l.starts_with("JSON fields from columns")).unwrap();
    let n: usize = from_columns.split(" ").nth(5).unwrap().parse().unwrap();
    assert!(n >= 3, "{from_columns}");
    let pruning = explain(&engine, &source, "filter status = 203 | stats count(*)");
    assert!(pruning.contains("block pruning from JSON field columns: status in [203, 203]"));
    let line = pruning.lines().find(|l| l.contains("units pruned")).unwrap();
    let pruned: usize =
        line.split("; ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(pruned >= 2, "{line}");
    for q in &QUERIES[QUERIES.len() - 2..] {
        assert!(explain(&engine, &source, q).contains("columnar kernel"), "{q}");
    }
    // Some blocks keep `trace` as statistics only (near-unique strings).
    let kind = logsight_columns::kind();
    let not_stored = store.segments().iter().any(|seg| {
        let cols =
            logsight_columns::SegmentColumns::open(store.artifact(seg.id, &kind).unwrap().unwrap())
                .unwrap();
        (0..cols.blocks()).any(|b| cols.block(b).unwrap().field("trace").is_some_and(|f| !f.stored))
    });
    assert!(not_stored);
    let columnar = run_all(&engine, &source);
    for (i, q) in QUERIES.iter().enumerate() {
        assert_eq!(parsed[i], columnar[i], "{q}");
    }
    // Through the cache of decoded blocks: a first run fills it, a second reads from it.
    let cached = DataSource::new(store.clone()).with_cache(BlockCache::new(64 << 20));
    assert_eq!(parsed, run_all(&engine, &cached));
    let filled = cached.cache().stats();
    assert!(filled.misses > 0 && filled.bytes > 0, "{filled:?}");
    assert_eq!(parsed, run_all(&engine, &cached));
    assert!(cached.cache().stats().hits > filled.hits);

    // A damaged artifact is noticed, never served: the query reads messages and gets the
    // same rows, and the artifact is dropped for the builder to make again.
    let seg = store.segments()[0].id;
    let path = tmp.path().join("segments").join(format!("{seg:016x}.columns"));
    let good = std::fs::read(&path).unwrap();
    // Damage the column blobs (every 97th byte, so the queried ones are hit): found when read.
    let dir_offset = u64::from_le_bytes(good[good.len() - 32..good.len() - 24].try_into().unwrap());
    let mut bytes = good.clone();
    for i in (8..dir_offset as usize).step_by(97) {
        bytes[i] ^= 0xff;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(parsed, run_all(&engine, &source));
    assert_eq!(store.segments_without(&kind), [seg]);
    store.derive_missing(&ColumnsDeriver::default()).unwrap();
    assert!(store.segments_without(&kind).is_empty());
    // Damage the directory: found when the artifact is opened.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[dir_offset as usize + 3] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let damaged = run_all(&engine, &source);
    assert_eq!(parsed, damaged);
    assert_eq!(store.segments_without(&kind), [seg]);
    store.derive_missing(&ColumnsDeriver::default()).unwrap();
    assert!(store.segments_without(&kind).is_empty());
    assert_eq!(parsed, run_all(&engine, &source));
}

#[test]
fn field_counts_from_column_directories_equal_counts_from_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let source = DataSource::new(store.clone());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let whole = logsight_model::TimeRange::new(Some(0), Some(i64::MAX / 2));
    // A range that cuts blocks: those units parse their in-range messages.
    let cut = logsight_model::TimeRange::new(Some(BASE + 100_000), Some(BASE + 600_000));
    let counts = |r| engine.field_counts(&source, "g", r).unwrap();
    let parsed = (counts(whole), counts(cut));
    store.derive_missing(&ColumnsDeriver::default()).unwrap();
    let columnar = (counts(whole), counts(cut));
    for (p, c) in [(&parsed.0, &columnar.0), (&parsed.1, &columnar.1)] {
        assert_eq!(p.events, c.events);
        let differ: Vec<_> = p.fields.iter().filter(|f| !c.fields.contains(f)).collect();
        assert!(differ.is_empty() && p.fields.len() == c.fields.len(), "{differ:?}");
    }

    // Independently: `message(i)` has a `level` key (null included) when i % 12 is one of
    // 0, 1, 2, 3, 6, 11; 3,100 events in all, one every 250 ms from BASE.
    let level = |range: std::ops::Range<usize>| {
        range.filter(|i| [0, 1, 2, 3, 6, 11].contains(&(i % 12))).count() as u64
    };
    let (all, part) = columnar;
    assert_eq!(all.events, 3100);
    let count = |c: &logsight_engine::FieldCounts, name: &str| {
        c.fields.iter().find(|f| f.name == name).map(|f| f.events)
    };
    assert_eq!(count(&all, "level"), Some(level(0..3100)));
    // [BASE + 100 s, BASE + 600 s): events 400 to 2399.
    assert_eq!(part.events, 2000);
    assert_eq!(count(&part, "level"), Some(level(400..2400)));
    assert_eq!(count(&all, "w209"), None, "the 200-field cut");
    assert_eq!(count(&all, "w199"), Some(level_free_wide(0..3100)));
}

/// Events with the 210-key message (i % 12 == 8): `w199` is their 200th field.
fn level_free_wide(range: std::ops::Range<usize>) -> u64 {
    range.filter(|i| i % 12 == 8).count() as u64
}

/// Request logs as most services write them: `latency_ms` an integer in every event,
/// `level` a string or missing (whole blocks of one stream without it), `status` an
/// integer where present. Their columns take the compact forms (integers, codes).
fn clean_message(i: usize) -> String {
    let latency = (i * 7919) % 1000;
    match (i % 3, i % 10) {
        // Stream 2 never logs a level.
        (2, _) => format!(r#"{{"latency_ms": {latency}, "path": "/p{}"}}"#, i % 4),
        (_, 0) => format!(r#"{{"latency_ms": {latency}, "level": "ERROR", "status": 500}}"#),
        (_, 1 | 2) => format!(r#"{{"latency_ms": {latency}, "level": "WARN", "status": 404}}"#),
        _ => format!(r#"{{"latency_ms": {latency}, "level": "INFO", "status": {}}}"#, 200 + i % 2),
    }
}

const CLEAN_QUERIES: &[&str] = &[
    // Counted per block from its bins (whole blocks) or its timestamps (cut ones).
    "stats count(*) as n by bin(1m)",
    "stats avg(latency_ms) as a, pct(latency_ms, 99) as p, count(latency_ms) as c by bin(1m)",
    "filter level = 'ERROR' | stats count(*) as n by bin(5m)",
    "filter level in ['WARN', 'ERROR'] and latency_ms > 500 | stats count(*) as n, sum(latency_ms) as s, pct(latency_ms, 50) as m by bin(2m)",
    "filter level != 'INFO' | stats count(*) as n, count(level) as c, min(latency_ms) as lo, max(latency_ms) as hi",
    "filter not ispresent(level) | stats count(*) as n, avg(latency_ms) as a by bin(10m)",
    "filter latency_ms <= 100 and status = 200 | stats count(*) as n, stddev(latency_ms) as sd by bin(1m)",
    "filter latency_ms % 3 = 0 | stats count(*) as n, earliest(latency_ms) as e, latest(level) as l by bin(1m)",
    "filter level like /AR/ | stats count(*) as n, histogram(latency_ms, 5) as h",
];

/// 6,000 [`clean_message`]s in group `h` over three streams, one every 97 ms from [`BASE`],
/// sealed in small blocks.
fn clean_store(dir: &std::path::Path) -> Arc<Store> {
    let opts = StoreOptions {
        sync: false,
        background: false,
        block_bytes: 16 << 10,
        ..Default::default()
    };
    let store = Arc::new(Store::open(dir, opts).unwrap());
    let g = LogGroupName::new("h").unwrap();
    store.create_group(&g).unwrap();
    for s in 0..3 {
        store.create_stream(&g, &LogStreamName::new(format!("s{s}")).unwrap()).unwrap();
    }
    for i in 0..6000 {
        let ts = BASE + i as i64 * 97;
        let ev = LogEvent::new(ts, ts, clean_message(i)).unwrap();
        store.append("h", &format!("s{}", i % 3), &[ev]).unwrap();
    }
    store.flush().unwrap();
    store
}

#[test]
fn compact_columns_and_the_cache_give_the_row_paths_results() {
    let tmp = tempfile::tempdir().unwrap();
    let store = clean_store(tmp.path());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let plain = DataSource::new(store.clone());
    let parsed = run_in(&engine, &plain, "h", CLEAN_QUERIES);
    store.derive_missing(&ColumnsDeriver::default()).unwrap();
    let req = common::request("h", CLEAN_QUERIES[1]);
    let text = engine.explain(&plain, &req).unwrap();
    assert!(text.contains("columnar kernel"), "{text}");
    assert_eq!(parsed, run_in(&engine, &plain, "h", CLEAN_QUERIES));
    let cached = DataSource::new(store.clone()).with_cache(BlockCache::new(64 << 20));
    for _ in 0..2 {
        assert_eq!(parsed, run_in(&engine, &cached, "h", CLEAN_QUERIES));
    }
    assert!(cached.cache().stats().hits > 0);
    // Hundreds of groups: merged and finished on the pool's two threads, as on one.
    let one = Engine::new(EngineConfig { threads: 1, ..Default::default() });
    let many = [
        "stats count(*) as n, pct(latency_ms, 50) as m, count_distinct(level) as d by latency_ms",
        "filter level != 'WARN' | stats count(*) as n, pct(latency_ms, 90) as p by bin(1s)",
    ];
    let reference = run_in(&one, &plain, "h", &many);
    assert!(reference.iter().all(|rows| rows.len() > 300), "too few groups to split");
    assert_eq!(reference, run_in(&engine, &cached, "h", &many));
    assert_eq!(reference, run_in(&engine, &plain, "h", &many));
    // A cache too small to hold a block's parts still answers right.
    let tiny = DataSource::new(store.clone()).with_cache(BlockCache::new(4 << 10));
    assert_eq!(parsed, run_in(&engine, &tiny, "h", CLEAN_QUERIES));
}

/// A cached column selects a rare value's rows from its postings; over a range that cuts
/// blocks it must keep only the rows in range.
#[test]
fn cached_columns_over_ranges_that_cut_blocks_count_what_is_in_range() {
    let tmp = tempfile::tempdir().unwrap();
    let store = clean_store(tmp.path());
    store.derive_missing(&ColumnsDeriver::default()).unwrap();
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let plain = DataSource::new(store.clone());
    let cached = DataSource::new(store.clone()).with_cache(BlockCache::new(64 << 20));
    // Bounds fall between events (every 97 ms): inclusive or not, the same events.
    for (first, last) in [(1234, 4321), (0, 17), (2999, 3001), (5000, 5999), (0, 5999)] {
        let (start_ms, end_ms) = (BASE + first * 97 - 40, BASE + last * 97 + 40);
        let ask = |source: &DataSource, q: &str| {
            let req = QueryRequest { start_ms, end_ms, ..common::request("h", q) };
            let mut rows = engine.run(source, &req, &CancelToken::new()).unwrap().rows;
            rows.sort();
            rows
        };
        let count = |q: &str, source: &DataSource| -> u64 {
            ask(source, q).first().and_then(|r| r[0].as_ref()).map_or(0, |n| n.parse().unwrap())
        };
        // Counted from the generator: ERROR is (i % 3 != 2, i % 10 == 0); no level, i % 3 == 2.
        let range = first as usize..=last as usize;
        let errors = range.clone().filter(|i| i % 3 != 2 && i % 10 == 0).count() as u64;
        let no_level = range.filter(|i| i % 3 == 2).count() as u64;
        for _ in 0..2 {
            let q = "filter level = 'ERROR' | stats count(*) as n";
            assert_eq!(count(q, &cached), errors, "{q} over {first}..={last}");
            let q = "filter not ispresent(level) | stats count(*) as n";
            assert_eq!(count(q, &cached), no_level, "{q} over {first}..={last}");
            for q in CLEAN_QUERIES {
                assert_eq!(ask(&cached, q), ask(&plain, q), "{q} over {first}..={last}");
            }
        }
    }
}
