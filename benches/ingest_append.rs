//! Durable appends: 4 threads appending batches of Loghub lines with fsync on, group commit
//! sharing fsyncs, and the background sealer running. Reports events/s and peak RSS.
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

const APPENDERS: usize = 4;

fn bench_append(c: &mut Criterion) {
    let lines = Arc::new(common::loghub_lines());
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), StoreOptions::default()).expect("store opens");
    let group = LogGroupName::new("bench").expect("valid");
    store.create_group(&group).expect("new group");
    for t in 0..APPENDERS {
        store
            .create_stream(&group, &LogStreamName::new(format!("s{t}")).expect("valid"))
            .expect("new stream");
    }
    let clock = AtomicI64::new(1_700_000_000_000);
    let mut g = c.benchmark_group("logsight_storage::Store::append");
    g.measurement_time(Duration::from_secs(15)).sample_size(10);
    for batch in [100usize, 1000] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("{APPENDERS} appenders, fsync, batch {batch}"), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(APPENDERS as u64);
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..APPENDERS {
                        let (store, lines, clock) = (&store, &lines, &clock);
                        s.spawn(move || {
                            let stream = format!("s{t}");
                            for _ in 0..per_thread {
                                let ts = clock.fetch_add(1, Ordering::Relaxed);
                                let at = (ts as usize * 7919) % (lines.len() - batch);
                                let events: Vec<LogEvent> = lines[at..at + batch]
                                    .iter()
                                    .map(|m| LogEvent::new(ts, ts, m.clone()).expect("valid event"))
                                    .collect();
                                store.append("bench", &stream, &events).expect("append");
                            }
                        });
                    }
                });
                // Report time per batch as if `iters` batches were appended.
                start.elapsed().mul_f64(iters as f64 / (per_thread * APPENDERS as u64) as f64)
            });
        });
    }
    g.finish();
    let stats = store.stats();
    eprintln!(
        "after the run: {} segments, {} buffered events, WAL {} bytes",
        stats.segments, stats.buffered_events, stats.wal_bytes
    );
}

criterion_group!(benches, bench_append);

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
    if let Some(peak) = common::peak_rss_bytes() {
        eprintln!("peak resident memory (VmHWM): {:.1} MiB", peak as f64 / (1 << 20) as f64);
    }
}
