//! The query engine end to end (plan, parallel scan, merge) on both cores of the pool.
//!
//! Data: two groups of 64 streams each over 24 hours, sealed. `text`: the 16 Loghub samples
//! repeated with every digit rotated per copy, so no copy repeats another's numbers (the
//! pessimistic shape of `segment_scan`); `json`: generated request logs (method, path,
//! status, latency, bytes, user) whose values come from a fixed LCG, so they do not repeat in
//! a pattern zstd could fold. Queries:
//! - `stats count(*) by bin(5m)` on `text`: reads timestamps only (elements = events);
//! - a regex filter on `@message` no index can answer, counted (bytes = message bytes);
//! - `stats avg(latency_ms), pct(latency_ms, 95) by bin(1h)` on `json` (JSON discovery on
//!   every event; elements = events).
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

const STREAMS: usize = 64;
const DAY_MS: i64 = 86_400_000;
const START: i64 = 1_714_521_600_000;
/// Copies of the Loghub samples (about 32,000 lines each).
const TEXT_COPIES: i64 = 8;
const JSON_EVENTS: usize = 250_000;

/// Appends `messages` to `group` spread over 64 streams and 24 hours, in time order.
fn load(store: &Store, group: &str, messages: Vec<String>) -> u64 {
    let g = LogGroupName::new(group).expect("valid");
    store.create_group(&g).expect("new group");
    for s in 0..STREAMS {
        store
            .create_stream(&g, &LogStreamName::new(format!("stream-{s:02}")).expect("valid"))
            .expect("new");
    }
    let n = messages.len() as i64;
    let bytes = messages.iter().map(|m| m.len() as u64).sum();
    let mut per_stream: Vec<Vec<LogEvent>> = vec![Vec::new(); STREAMS];
    for (i, m) in messages.into_iter().enumerate() {
        let ts = START + (i as i64) * DAY_MS / n;
        per_stream[i % STREAMS].push(LogEvent::new(ts, ts, m).expect("valid event"));
    }
    for (s, events) in per_stream.iter().enumerate() {
        for chunk in events.chunks(5_000) {
            store.append(group, &format!("stream-{s:02}"), chunk).expect("append");
        }
    }
    bytes
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir.path(), opts).expect("store opens");
    let lines = common::loghub_lines();
    let text: Vec<String> = (0..TEXT_COPIES)
        .flat_map(|k| lines.iter().map(move |l| common::rotate_digits(l, k as u32)))
        .collect();
    let text_events = text.len() as u64;
    let text_bytes = load(&store, "text", text);
    load(&store, "json", common::json_messages(JSON_EVENTS));
    store.flush().expect("seal");
    let source = DataSource::new(Arc::new(store));
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let req = |group: &str, query: &str| QueryRequest {
        query: query.into(),
        groups: vec![group.into()],
        start_ms: START,
        end_ms: START + DAY_MS,
        limit: None,
    };
    let run = |r: &QueryRequest| engine.run(&source, r, &CancelToken::new()).expect("query runs");

    let mut g = c.benchmark_group("query_engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(text_events));
    let q = req("text", "stats count(*) by bin(5m)");
    g.bench_function("count_by_bin_5m", |b| b.iter(|| run(&q)));

    g.throughput(Throughput::Bytes(text_bytes));
    let q = req("text", r"filter @message like /ERROR.*\d{4}7$/ | stats count(*)");
    g.bench_function("regex_filter_message", |b| b.iter(|| run(&q)));

    g.throughput(Throughput::Elements(JSON_EVENTS as u64));
    let q = req("json", "stats avg(latency_ms), pct(latency_ms, 95) by bin(1h)");
    g.bench_function("json_avg_pct_by_bin_1h", |b| b.iter(|| run(&q)));
    g.finish();
    if let Some(rss) = common::peak_rss_bytes() {
        eprintln!("peak RSS of the benchmark process: {} MiB", rss >> 20);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
