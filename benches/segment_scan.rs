//! Block scans: message bytes decompressed and visited per second on one core, the floor of
//! every query that has to look inside messages.
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_model::{LogEvent, LogGroupName, LogStreamName, TimeRange};
use logsight_storage::{Store, StoreOptions};

const COPIES: i64 = 8;

fn bench_scan(c: &mut Criterion) {
    let lines = common::loghub_lines();
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir.path(), opts).expect("store opens");
    let group = LogGroupName::new("bench").expect("valid");
    store.create_group(&group).expect("new group");
    // One stream per Loghub system, each sample repeated so blocks reach their full size.
    for (f, chunk) in lines.chunks(2000).enumerate() {
        let stream = format!("system{f:02}");
        store
            .create_stream(&group, &LogStreamName::new(stream.as_str()).expect("valid"))
            .expect("new");
        for copy in 0..COPIES {
            let events: Vec<LogEvent> = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let ts = 1_700_000_000_000 + copy * 10_000_000 + i as i64 * 1000;
                    LogEvent { timestamp: ts, ingestion_time: ts, message: m.clone() }
                })
                .collect();
            store.append("bench", &stream, &events).expect("append");
        }
    }
    store.flush().expect("seal");
    let plan = store.plan_scan("bench", None, TimeRange::ALL).expect("plan");
    let raw: u64 = plan.units.iter().map(|u| u.raw_bytes()).sum();
    let finder = memchr::memmem::Finder::new("error");
    let mut g = c.benchmark_group("logsight_storage::ScanPlan::run");
    g.throughput(Throughput::Bytes(raw));
    g.bench_function(format!("1 thread, {} blocks, substring visit", plan.units.len()), |b| {
        b.iter(|| {
            let hits = AtomicU64::new(0);
            plan.run(1, |_, block, rows| {
                let mut n = 0;
                for i in rows {
                    n += u64::from(finder.find(block.messages.get_bytes(i)).is_some());
                }
                hits.fetch_add(n, Ordering::Relaxed);
                Ok(())
            })
            .expect("scan");
            hits.into_inner()
        });
    });
    g.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
