//! JSON field columns: building them, and queries reading them instead of parsing messages.
//!
//! Data: 250,000 generated JSON request logs (`common::json_messages`: values from a fixed
//! xorshift, nothing repeats in a pattern) in one group of 64 streams over 24 hours, sealed
//! into one segment. Benchmarks:
//! - `build`: the `ColumnsDeriver` over the whole segment (elements = events), the work the
//!   builder thread does after a seal or compaction;
//! - `avg_pct_by_bin_1m/{messages,columns}`: `stats avg(latency_ms), pct(latency_ms, 99) by
//!   bin(1m)`, JSON parsed from every message, then read from the `latency_ms` column;
//! - `filter_status_count/{messages,columns}`: `filter status >= 500 | stats count(*) by bin(5m)`;
//! - `eq_rare_region/{no_value_sets,value_sets}`: `filter user.region = "eu-rare" | stats
//!   count(*) by bin(5m)`, a region only two of the 64 streams log (so a few blocks hold it),
//!   with columns built without and with the per-block value sets of strings;
//! - `eq_request_id/{no_value_sets,value_sets}`: `filter request_id = "<one id>" | fields
//!   @timestamp, @message`, a needle in a near-unique field (its column is not stored: without
//!   value sets every message is parsed; with them, blocks whose Bloom filter lacks it are
//!   skipped).
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_columns::{ColumnsDeriver, ValueSetPolicy};
use logsight_engine::{
    BlockCache, CancelToken, DEFAULT_BLOCK_CACHE_BYTES, DataSource, Engine, EngineConfig,
    QueryRequest,
};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Deriver, Store, StoreOptions};

const STREAMS: usize = 64;
const DAY_MS: i64 = 86_400_000;
const START: i64 = 1_714_521_600_000;
const EVENTS: usize = 250_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Arc::new(Store::open(dir.path(), opts).expect("store opens"));
    let g = LogGroupName::new("json").expect("valid");
    store.create_group(&g).expect("new group");
    for s in 0..STREAMS {
        let name = LogStreamName::new(format!("stream-{s:02}")).expect("valid");
        store.create_stream(&g, &name).expect("new");
    }
    let mut per_stream: Vec<Vec<LogEvent>> = vec![Vec::new(); STREAMS];
    let mut needle = String::new();
    for (i, mut m) in common::json_messages(EVENTS).into_iter().enumerate() {
        let ts = START + (i as i64) * DAY_MS / EVENTS as i64;
        // Two streams (instances) log from a region no other does.
        if i % STREAMS < 2 {
            let at = m.find(r#""region":"r"#).expect("a region") + 10;
            m.replace_range(at..at + 2, "eu-rare");
        }
        if i == EVENTS / 3 {
            let at = m.find(r#""request_id":""#).expect("an id") + 14;
            needle = m[at..at + 16].to_string();
        }
        per_stream[i % STREAMS].push(LogEvent::new(ts, ts, m).expect("valid event"));
    }
    for (s, events) in per_stream.iter().enumerate() {
        for chunk in events.chunks(5_000) {
            store.append("json", &format!("stream-{s:02}"), chunk).expect("append");
        }
    }
    store.flush().expect("seal");
    store.compact_all(|_| ()).expect("compact");

    let mut g = c.benchmark_group("columns");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS as u64));
    let deriver = ColumnsDeriver::default();
    let segment = store.segment(store.segments()[0].id).expect("live segment");
    g.bench_function("build", |b| b.iter(|| deriver.build(&segment).expect("builds")));

    let source = DataSource::new(store.clone());
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let queries = [
        ("avg_pct_by_bin_1m", "stats avg(latency_ms), pct(latency_ms, 99) by bin(1m)"),
        ("filter_status_count", "filter status >= 500 | stats count(*) by bin(5m)"),
        ("filter_region_count", "filter user.region = 'r3' | stats count(*) by bin(5m)"),
    ];
    let needle_query = format!("filter request_id = '{needle}' | fields @timestamp, @message");
    let selective = [
        ("eq_rare_region", "filter user.region = 'eu-rare' | stats count(*) by bin(5m)"),
        ("eq_request_id", needle_query.as_str()),
    ];
    let req = |query: &str| QueryRequest {
        query: query.into(),
        groups: vec!["json".into()],
        start_ms: START,
        end_ms: START + DAY_MS,
        limit: None,
    };
    let run = |r: &QueryRequest| engine.run(&source, r, &CancelToken::new()).expect("query runs");
    let mut from_messages = Vec::new();
    for (name, q) in queries {
        let r = req(q);
        from_messages.push(run(&r).rows);
        g.bench_function(format!("{name}/messages"), |b| b.iter(|| run(&r)));
    }
    let report = store.derive_missing(&deriver).expect("columns built");
    let segment_bytes = store.stats().segment_bytes;
    eprintln!(
        "columns: {} bytes beside {segment_bytes} segment bytes ({:.1}%)",
        report.bytes,
        100.0 * report.bytes as f64 / segment_bytes as f64
    );
    for ((name, q), want) in queries.iter().zip(&from_messages) {
        let r = req(q);
        assert_eq!(&run(&r).rows, want, "{q}: columns answer as messages do");
        eprintln!("{name}: {} rows", want.len());
        g.bench_function(format!("{name}/columns"), |b| b.iter(|| run(&r)));
    }
    // The server's way: decoded timestamps and columns kept between runs.
    let cached =
        DataSource::new(store.clone()).with_cache(BlockCache::new(DEFAULT_BLOCK_CACHE_BYTES));
    for ((name, q), want) in queries.iter().zip(&from_messages) {
        let r = req(q);
        let run = || engine.run(&cached, &r, &CancelToken::new()).expect("query runs");
        assert_eq!(&run().rows, want, "{q}: cached columns answer as messages do");
        g.bench_function(format!("{name}/columns_cached"), |b| b.iter(run));
    }
    for (variant, policy) in
        [("no_value_sets", ValueSetPolicy::NONE), ("value_sets", ValueSetPolicy::default())]
    {
        let kind = logsight_columns::kind();
        store.drop_artifacts(&kind, None).expect("dropped");
        let report = store.derive_missing(&ColumnsDeriver::with_policy(policy)).expect("built");
        for (name, q) in selective {
            let r = req(q);
            let first = run(&r);
            eprintln!(
                "{name}/{variant}: columns {} bytes; {} rows, {} events skipped of {EVENTS}",
                report.bytes,
                first.rows.len(),
                first.statistics.estimated_records_skipped
            );
            g.bench_function(format!("{name}/{variant}"), |b| b.iter(|| run(&r)));
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
