//! `pattern @message` from stored templates against `stats count(*) by` a column, on the
//! query benchmarks' data set (`dataset.rs`): 2 million events by default
//! (`LOGSIGHT_BENCH_EVENTS` sets another size), of which the half in the 16 Loghub text
//! groups (digits scrambled per copy, 8 streams each, 24 hours, sealed every 100,000 events
//! and compacted) is queried. Every query runs over all 16 groups, on both cores of the pool;
//! throughput in text events per run, and (printed) CPU-seconds per run:
//! - `stats count(*) by @logStream`: reads timestamps and stream runs only (the column
//!   baseline);
//! - `pattern @message`: counts per stored template, no message written;
//! - `filter @message like "block" | pattern @message`: the filter needs the messages;
//! - `parse @message "*" as m | pattern m`: the same patterns from message text split at
//!   query time (what clustering without stored templates costs at the least).
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;
mod dataset;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_storage::{Store, StoreOptions};

use dataset::{DAY_MS, START};

fn bench(c: &mut Criterion) {
    let events = dataset::events_from_env(2_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir.path(), opts).expect("store opens");
    let loaded = dataset::load(&store, events);
    eprintln!("loaded {} text events ({} MiB)", loaded.text_events, loaded.text_bytes >> 20);
    let source = DataSource::new(Arc::new(store));
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let req = |query: &str| QueryRequest {
        query: query.into(),
        groups: dataset::text_groups(),
        start_ms: START,
        end_ms: START + DAY_MS,
        limit: None,
    };
    let run = |r: &QueryRequest| engine.run(&source, r, &CancelToken::new()).expect("query runs");

    let mut g = c.benchmark_group("pattern");
    g.sample_size(10);
    g.throughput(Throughput::Elements(loaded.text_events));
    for (name, query) in [
        ("stats_count_by_log_stream", "stats count(*) by @logStream"),
        ("pattern_message", "pattern @message"),
        ("filter_then_pattern", "filter @message like \"block\" | pattern @message"),
        ("pattern_of_parsed_text", "parse @message \"*\" as m | pattern m"),
    ] {
        let q = req(query);
        let rows = run(&q).rows.len();
        // CPU time per run over runs adding up to at least 3 CPU-seconds: the per-core
        // figure, which holds up on a shared machine where wall time does not.
        if let Some(before) = common::cpu_seconds() {
            let (mut runs, mut cpu) = (0u32, 0.0);
            while cpu < 3.0 && runs < 1_000 {
                run(&q);
                runs += 1;
                cpu = common::cpu_seconds().unwrap_or(before) - before;
            }
            let per_run = cpu / f64::from(runs);
            eprintln!(
                "{name}: {rows} rows, {per_run:.4} CPU-s per run ({runs} runs), {:.1} M events/s per core",
                loaded.text_events as f64 / 1e6 / per_run
            );
        }
        g.bench_function(name, |b| b.iter(|| run(&q)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
