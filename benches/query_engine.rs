//! The query engine end to end (plan, parallel scan, merge) on both cores of the pool, over
//! the issue's data set (`dataset.rs`): 10 million events by default (`LOGSIGHT_BENCH_EVENTS`
//! sets another size), half JSON request logs in group `app` (100 streams), half Loghub lines
//! with scrambled digits in 16 groups, 24 hours, sealed every 100,000 events and compacted.
//! Queries (throughput per run; divide by 2 for per core):
//! - `stats count(*) by bin(5m)` on `app`: reads timestamps only (elements = events);
//! - a regex on `@message` no index can answer (an IP and port), over the 16 text groups,
//!   counted (bytes = their message bytes): most templates cannot hold a match, so most
//!   messages are screened out before decoding;
//! - a regex whose match can lie in a number (`\d{3}7 `), the same way: nearly every
//!   template is kept, so this is the screen's worst case (its cost, no saving);
//! - `stats avg(latency_ms), pct(latency_ms, 95) by bin(1h)` on `app` (elements = events).
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;
mod dataset;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_storage::{Store, StoreOptions};

use dataset::{DAY_MS, JSON_GROUP, START};

fn bench(c: &mut Criterion) {
    let events = dataset::events_from_env(10_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir.path(), opts).expect("store opens");
    let built = std::time::Instant::now();
    let loaded = dataset::load(&store, events);
    eprintln!(
        "loaded {} events ({} MiB of messages) in {:.1?}",
        loaded.events,
        (loaded.json_bytes + loaded.text_bytes) >> 20,
        built.elapsed()
    );
    // The derived artifacts the server builds after each seal and compaction.
    let built = std::time::Instant::now();
    let columns =
        store.derive_missing(&logsight_columns::ColumnsDeriver::default()).expect("columns");
    eprintln!("JSON columns: {} MiB in {:.1?}", columns.bytes >> 20, built.elapsed());
    let source = DataSource::new(Arc::new(store));
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let req = |groups: Vec<String>, query: &str| QueryRequest {
        query: query.into(),
        groups,
        start_ms: START,
        end_ms: START + DAY_MS,
        limit: None,
    };
    let run = |r: &QueryRequest| engine.run(&source, r, &CancelToken::new()).expect("query runs");
    // Throughput per CPU-second (per core), from the process's CPU time over runs adding up
    // to at least 3 CPU-seconds (the kernel counts in 10 ms ticks).
    let per_core = |name: &str, r: &QueryRequest, units: f64, unit: &str| {
        run(r);
        let Some(before) = common::cpu_seconds() else { return };
        let (mut runs, mut cpu) = (0u32, 0.0);
        while cpu < 3.0 && runs < 1_000 {
            run(r);
            runs += 1;
            cpu = common::cpu_seconds().unwrap_or(before) - before;
        }
        let per_run = cpu / f64::from(runs);
        eprintln!(
            "{name}: {per_run:.4} CPU-s per run ({runs} runs), {:.1} {unit} per core",
            units / per_run
        );
    };

    let mut g = c.benchmark_group("query_engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(loaded.json_events));
    let q = req(vec![JSON_GROUP.into()], "stats count(*) by bin(5m)");
    per_core("count_by_bin_5m", &q, loaded.json_events as f64 / 1e6, "M events/s");
    g.bench_function("count_by_bin_5m", |b| b.iter(|| run(&q)));

    g.throughput(Throughput::Bytes(loaded.text_bytes));
    let q = req(
        dataset::text_groups(),
        r"filter @message like /\d+\.\d+\.\d+\.\d+:\d{4,5}/ | stats count(*)",
    );
    per_core("regex_filter_message", &q, loaded.text_bytes as f64 / (1 << 20) as f64, "MiB/s");
    g.bench_function("regex_filter_message", |b| b.iter(|| run(&q)));
    let q = req(dataset::text_groups(), r"filter @message like /\d{3}7 / | stats count(*)");
    per_core("regex_in_numbers", &q, loaded.text_bytes as f64 / (1 << 20) as f64, "MiB/s");
    g.bench_function("regex_in_numbers", |b| b.iter(|| run(&q)));

    g.throughput(Throughput::Elements(loaded.json_events));
    let q = req(vec![JSON_GROUP.into()], "stats avg(latency_ms), pct(latency_ms, 95) by bin(1h)");
    per_core("json_avg_pct_by_bin_1h", &q, loaded.json_events as f64 / 1e6, "M events/s");
    g.bench_function("json_avg_pct_by_bin_1h", |b| b.iter(|| run(&q)));
    g.finish();
    if let Some(rss) = common::peak_rss_bytes() {
        eprintln!("peak RSS of the benchmark process: {} MiB", rss >> 20);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
