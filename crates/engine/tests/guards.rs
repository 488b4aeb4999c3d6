//! The per-query guards, each built to trip: memory budget, timeout, cancellation; and the
//! background API a server polls.

use std::sync::Arc;
use std::time::Duration;

use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, EngineError, QueryRequest};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

fn source(dir: &std::path::Path) -> DataSource {
    let opts =
        StoreOptions { sync: false, background: false, block_bytes: 4 << 10, ..Default::default() };
    let store = Store::open(dir, opts).unwrap();
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    store.create_stream(&g, &LogStreamName::new("s").unwrap()).unwrap();
    // 5,000 distinct messages of ~100 bytes: about 500 KB held if every row is kept.
    let events: Vec<LogEvent> = (0..5000)
        .map(|i| {
            LogEvent::new(i * 10, i * 10, format!("event number {i:06} {}", "x".repeat(80)))
                .unwrap()
        })
        .collect();
    store.append("g", "s", &events).unwrap();
    store.flush().unwrap();
    DataSource::new(Arc::new(store))
}

fn req(query: &str) -> QueryRequest {
    QueryRequest {
        query: query.into(),
        groups: vec!["g".into()],
        start_ms: 0,
        end_ms: 1 << 40,
        limit: None,
    }
}

#[test]
fn memory_budget_fails_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    // `dedup` keeps every row until the merge: far more than 64 KiB.
    let small =
        Engine::new(EngineConfig { threads: 2, memory_budget: 64 << 10, ..Default::default() });
    let e =
        small.run(&src, &req("fields @message | dedup @message"), &CancelToken::new()).unwrap_err();
    assert!(matches!(e, EngineError::MemoryBudgetExceeded { budget } if budget == 64 << 10), "{e}");
    // The same query fits the default budget.
    let normal = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let r =
        normal.run(&src, &req("fields @message | dedup @message"), &CancelToken::new()).unwrap();
    assert_eq!(r.rows.len(), 5000);
    // Group state counts too: a distinct group per event.
    let e = small.run(&src, &req("stats count(*) by @message"), &CancelToken::new()).unwrap_err();
    assert!(matches!(e, EngineError::MemoryBudgetExceeded { .. }), "{e}");
}

#[test]
fn timeout_fails_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let engine =
        Engine::new(EngineConfig { threads: 2, timeout: Duration::ZERO, ..Default::default() });
    let e = engine.run(&src, &req("stats count(*)"), &CancelToken::new()).unwrap_err();
    assert!(matches!(e, EngineError::Timeout(_)), "{e}");
}

#[test]
fn cancellation_fails_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let token = CancelToken::new();
    token.cancel();
    let e = engine.run(&src, &req("filter @message like 'x'"), &token).unwrap_err();
    assert!(matches!(e, EngineError::Cancelled), "{e}");
}

#[test]
fn a_background_query_reports_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let engine = Arc::new(Engine::new(EngineConfig { threads: 2, ..Default::default() }));
    let running = engine.start(src, req("filter @message like '000' | stats count(*) as n"));
    let r = running.wait().unwrap();
    // Numbers 000000..004999 contain "000" at 00000x..., counted naively here.
    let expected = (0..5000).filter(|i| format!("{i:06}").contains("000")).count();
    assert_eq!(r.rows, vec![vec![Some(expected.to_string())]]);
    assert_eq!(r.statistics.records_scanned, 5000);
    assert_eq!(r.statistics.records_matched, expected as u64);
    assert_eq!(r.statistics.log_groups_scanned, 1);
}

#[test]
fn unknown_groups_are_resource_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let engine = Engine::new(EngineConfig { threads: 1, ..Default::default() });
    let mut r = req("limit 1");
    r.groups = vec!["nope".into()];
    let e = engine.run(&src, &r, &CancelToken::new()).unwrap_err();
    assert!(e.to_string().contains("ResourceNotFoundException"), "{e}");
}

#[test]
fn a_running_query_publishes_its_rows_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let opts =
        StoreOptions { sync: false, background: false, block_bytes: 8 << 10, ..Default::default() };
    let store = Store::open(dir.path(), opts).unwrap();
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    store.create_stream(&g, &LogStreamName::new("s").unwrap()).unwrap();
    let n = 200_000i64;
    let events: Vec<LogEvent> = (0..n)
        .map(|i| LogEvent::new(i, i, format!("request {} took {} ms", i % 1000, i % 97)).unwrap())
        .collect();
    for chunk in events.chunks(20_000) {
        store.append("g", "s", chunk).unwrap();
    }
    store.flush().unwrap();
    let src = DataSource::new(Arc::new(store));
    let engine = Arc::new(Engine::new(EngineConfig {
        threads: 2,
        partial_every: Some(Duration::from_millis(1)),
        ..Default::default()
    }));
    let q = r"parse @message /took (?<ms>\d+) ms/ | stats count(*) as n, sum(ms) as total";
    let running = engine.start(src, QueryRequest { end_ms: n, ..req(q) });
    let mut seen: Vec<i64> = Vec::new();
    while !running.is_finished() {
        if let Some(p) = running.partial() {
            assert_eq!(p.columns, ["n", "total"]);
            let count: i64 = p.rows[0][0].as_deref().unwrap().parse().unwrap();
            if seen.last() != Some(&count) {
                seen.push(count);
            }
        }
        std::thread::yield_now();
    }
    let done = running.wait().unwrap();
    let total: i64 = (0..n).map(|i| i % 97).sum();
    assert_eq!(done.rows, [[Some(n.to_string()), Some(total.to_string())]]);
    // Snapshots only grow, never past the end, and some came before it.
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen.iter().all(|&c| c <= n), "{seen:?}");
    assert!(seen.iter().any(|&c| c < n), "no partial result seen before the end: {seen:?}");
}
