//! The Queries API's own cost around the engine (`logsight_queries::QueryManager`):
//! - `start_to_complete`: StartQuery (check and plan), the queue, a slot's coordinator, and
//!   the wait, for a small `stats` query over 20,000 events (the engine's scan included: the
//!   figure to compare with the engine alone is `engine_alone`);
//! - `results_page`: one GetQueryResults page of 10,000 event rows (`@message`, `@ptr`)
//!   copied out of a kept result (elements = rows).
//!
//! Data: one group of 16 streams, 20,000 JSON request-log events over an hour whose values
//! come from an xorshift generator (no repeating pattern), buffered (not sealed).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_queries::{ManagerConfig, QueryManager, QueryStatus, StartQuery};
use logsight_storage::{Store, StoreOptions, SystemClock};

const EVENTS: i64 = 20_000;
const STREAMS: i64 = 16;
const START_MS: i64 = 1_714_521_600_000;

fn store(dir: &std::path::Path) -> Arc<Store> {
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir, opts).expect("open");
    let g = LogGroupName::new("app").expect("valid");
    store.create_group(&g).expect("new group");
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for s in 0..STREAMS {
        let name = format!("s{s:02}");
        store.create_stream(&g, &LogStreamName::new(name.clone()).expect("valid")).expect("new");
        let events: Vec<LogEvent> = (0..EVENTS / STREAMS)
            .map(|i| {
                let ts = START_MS + (i * STREAMS + s) * 3_600_000 / EVENTS;
                let msg = format!(
                    r#"{{"status":{},"path":"/api/v{}/items/{}","latency_ms":{},"user":"u{}"}}"#,
                    [200, 201, 404, 500][next(4) as usize],
                    next(3),
                    next(100_000),
                    next(2_000),
                    next(50_000)
                );
                LogEvent::new(ts, ts, msg).expect("valid")
            })
            .collect();
        store.append("app", &name, &events).expect("append");
    }
    Arc::new(store)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store(dir.path());
    let engine = EngineConfig { threads: 2, ..Default::default() };
    let manager = QueryManager::new(
        store.clone(),
        Arc::new(SystemClock),
        ManagerConfig { slots: 2, engine: engine.clone(), ..Default::default() },
    );
    let (from_s, to_s) = (START_MS / 1000, START_MS / 1000 + 3_600);
    let stats = "stats count(*) as n, avg(latency_ms) by status";
    let mut g = c.benchmark_group("query_manager");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("start_to_complete", |b| {
        b.iter(|| {
            let start = StartQuery::new(stats, vec!["app".into()], from_s, to_s, None).expect("ok");
            let id = manager.start(start).expect("started");
            let status = manager.wait(&id, Duration::from_secs(60)).expect("known");
            assert_eq!(status, QueryStatus::Complete);
        })
    });
    let alone = Engine::new(engine);
    let source = DataSource::new(store.clone());
    let req = QueryRequest {
        query: stats.into(),
        groups: vec!["app".into()],
        start_ms: START_MS,
        end_ms: START_MS + 3_600_999,
        limit: None,
    };
    g.bench_function("engine_alone", |b| {
        b.iter(|| alone.run(&source, &req, &CancelToken::new()).expect("ran"))
    });
    let start =
        StartQuery::new("fields @message", vec!["app".into()], from_s, to_s, None).expect("ok");
    let id = manager.start(start).expect("started");
    assert_eq!(manager.wait(&id, Duration::from_secs(60)).expect("known"), QueryStatus::Complete);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("results_page", |b| {
        b.iter(|| {
            let page = manager.results(&id, None, None).expect("kept");
            assert_eq!(page.rows.len(), 10_000);
            page
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
