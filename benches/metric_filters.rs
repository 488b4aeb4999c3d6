//! Metric filters keeping up with ingest. Shape: Loghub lines (16 systems) in 10 copies whose
//! digits are rotated (`common::rotate_digits`), so no line repeats verbatim within 320,000
//! events; 4 appender threads over 64 streams, batches of 1,000 events, fsync on, with the
//! metric-filter consumer running on its own thread.
//! An iteration appends its batches and then waits until the consumer has applied all of them,
//! so the time covers ingest and metric extraction end to end; compare 0 and 10 filters.
//! A second group measures the consumer alone (events/s through 10 filters vs none).
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use logsight_metrics::{MetricStore, MetricStoreOptions};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};
use logsight_watch::{
    CommittedEvent, CommittedLog, Consumer, FilterRegistry, FilterSpec, MemoryLog, MetricFilter,
};

const APPENDERS: usize = 4;
const STREAMS: usize = 64;
/// Copies of the Loghub lines, each with its digits rotated by a different amount.
const COPIES: u32 = 10;
const BATCH: usize = 1_000;

/// Ten filters of every form a team would write over these logs.
fn filters() -> Vec<FilterSpec> {
    let spec = |name: &str, pattern: &str, value: &str, dims: &[(&str, &str)]| FilterSpec {
        group: "bench".into(),
        name: name.into(),
        pattern: pattern.into(),
        metric_name: name.into(),
        namespace: "Bench".into(),
        value: value.into(),
        default_value: None,
        dimensions: dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        unit: None,
    };
    vec![
        spec("errors", "ERROR", "1", &[]),
        spec("warnings", "?WARN ?WARNING", "1", &[]),
        spec("exceptions", "%Exception%", "1", &[]),
        spec("failed", "failed", "1", &[]),
        spec("refused", "\"Connection refused\"", "1", &[]),
        spec("info", "INFO", "1", &[]),
        spec("auth", "%authentication failure|Invalid user%", "1", &[]),
        spec("by-level", "[date, time, level, ...]", "1", &[("Level", "$level")]),
        spec("json-errors", "{ $.level = \"error\" }", "1", &[]),
        spec("blocks", "%blk_-?[0-9]+%", "1", &[]),
    ]
}

/// The Loghub lines in [`COPIES`] digit-rotated copies, one after the other.
fn distinct_lines() -> Vec<String> {
    let lines = common::loghub_lines();
    (0..COPIES).flat_map(|by| lines.iter().map(move |l| common::rotate_digits(l, by))).collect()
}

fn bench_ingest(c: &mut Criterion) {
    let lines = Arc::new(distinct_lines());
    let mut g = c.benchmark_group("ingest with the metric-filter consumer");
    g.measurement_time(Duration::from_secs(15)).sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    for n_filters in [0usize, 10] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(
            Store::open(dir.path().join("data"), StoreOptions::default()).expect("store opens"),
        );
        let group = LogGroupName::new("bench").expect("valid");
        store.create_group(&group).expect("new group");
        for s in 0..STREAMS {
            store
                .create_stream(&group, &LogStreamName::new(format!("s{s}")).expect("valid"))
                .expect("new stream");
        }
        let registry = Arc::new(FilterRegistry::open(dir.path()).expect("registry"));
        for spec in filters().into_iter().take(n_filters) {
            registry
                .put(MetricFilter::new(spec, 0, store.committed_lsn()).expect("valid filter"))
                .expect("put");
        }
        let metrics = Arc::new(
            MetricStore::open(&dir.path().join("metrics"), MetricStoreOptions::default())
                .expect("metrics"),
        );
        let log: Arc<dyn CommittedLog> = store.clone();
        let consumer = Consumer::new(log, registry, metrics).expect("consumer");
        let status = consumer.status();
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let stop = stop.clone();
            std::thread::spawn(move || consumer.run(stop))
        };
        let clock = AtomicI64::new(1_700_000_000_000);
        g.bench_function(
            format!("{n_filters} filters, {APPENDERS} appenders, batch {BATCH}"),
            |b| {
                b.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(APPENDERS as u64);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..APPENDERS {
                            let (store, lines, clock) = (&store, &lines, &clock);
                            s.spawn(move || {
                                for i in 0..per_thread {
                                    let ts = clock.fetch_add(1, Ordering::Relaxed);
                                    // Consecutive batches take consecutive slices: a line
                                    // comes back only after every other line was sent.
                                    let at = (ts as usize % (lines.len() / BATCH)) * BATCH;
                                    let events: Vec<LogEvent> = lines[at..at + BATCH]
                                        .iter()
                                        .map(|m| {
                                            LogEvent::new(ts, ts, m.clone()).expect("valid event")
                                        })
                                        .collect();
                                    let stream = format!(
                                        "s{}",
                                        (t * (STREAMS / APPENDERS) + i as usize) % STREAMS
                                    );
                                    store.append("bench", &stream, &events).expect("append");
                                }
                            });
                        }
                    });
                    let target = store.committed_lsn();
                    while status.lock().position < target {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    start.elapsed().mul_f64(iters as f64 / (per_thread * APPENDERS as u64) as f64)
                });
            },
        );
        stop.store(true, Ordering::Release);
        runner.join().expect("consumer thread");
    }
    g.finish();
}

fn bench_consumer(c: &mut Criterion) {
    let lines = distinct_lines();
    let mut g = c.benchmark_group("logsight_watch::Consumer::step");
    g.measurement_time(Duration::from_secs(5)).sample_size(10);
    g.throughput(Throughput::Elements(lines.len() as u64));
    for n_filters in [0usize, 10] {
        g.bench_function(format!("{n_filters} filters, all Loghub lines"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let log = Arc::new(MemoryLog::new());
                    let registry = Arc::new(FilterRegistry::open(dir.path()).expect("registry"));
                    for spec in filters().into_iter().take(n_filters) {
                        registry
                            .put(MetricFilter::new(spec, 0, log.committed_lsn()).expect("valid"))
                            .expect("put");
                    }
                    let metrics = Arc::new(
                        MetricStore::open(dir.path(), MetricStoreOptions::default())
                            .expect("metrics"),
                    );
                    let as_log: Arc<dyn CommittedLog> = log.clone();
                    let mut consumer = Consumer::new(as_log, registry, metrics).expect("consumer");
                    for (i, chunk) in lines.chunks(BATCH).enumerate() {
                        let events: Vec<CommittedEvent> = chunk
                            .iter()
                            .map(|m| CommittedEvent {
                                timestamp: 1_700_000_000_000 + i as i64 * 1000,
                                ingestion_time: 0,
                                message: m.as_str().into(),
                            })
                            .collect();
                        log.append("bench", &format!("s{}", i % STREAMS), &events);
                    }
                    let start = Instant::now();
                    while consumer.step(Duration::ZERO).expect("step") > 0 {}
                    total += start.elapsed();
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_ingest, bench_consumer);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
