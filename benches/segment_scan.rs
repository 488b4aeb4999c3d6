//! Block scans: message bytes decompressed and visited per second on one core, the floor of
//! every query that has to look inside messages.
//!
//! Two stores of the 16 Loghub samples, each sample repeated 8 times so that blocks reach
//! their full 1 MiB: `repeated` stores the copies verbatim (the variables repeat, as
//! constants like hosts and years do in a real stream, which flatters zstd and folds many
//! columns into templates); `rotated` shifts every digit by the copy's index, so no copy
//! repeats another's numbers and columns that were constant are not (a pessimistic bound:
//! years and hosts do not change every few thousand lines).
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_model::{LogEvent, LogGroupName, LogStreamName, TimeRange};
use logsight_storage::{Store, StoreOptions};

const COPIES: i64 = 8;

/// A store holding the samples `COPIES` times, one stream per sample, sealed.
fn build_store(dir: &std::path::Path, lines: &[String], rotate: bool) -> Store {
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir, opts).expect("store opens");
    let group = LogGroupName::new("bench").expect("valid");
    store.create_group(&group).expect("new group");
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
                    let message =
                        if rotate { common::rotate_digits(m, copy as u32) } else { m.clone() };
                    LogEvent::new(ts, ts, message).expect("valid event")
                })
                .collect();
            store.append("bench", &stream, &events).expect("append");
        }
    }
    store.flush().expect("seal");
    store
}

fn bench_scan(c: &mut Criterion) {
    let lines = common::loghub_lines();
    let finder = memchr::memmem::Finder::new("error");
    let mut g = c.benchmark_group("logsight_storage::ScanPlan::run");
    for (name, rotate) in [("repeated", false), ("rotated", true)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = build_store(dir.path(), &lines, rotate);
        let plan = store.plan_scan("bench", None, TimeRange::ALL).expect("plan");
        let raw: u64 = plan.units.iter().map(|u| u.raw_bytes()).sum();
        g.throughput(Throughput::Bytes(raw));
        let id = format!("{name}, 1 thread, {} blocks, substring visit", plan.units.len());
        g.bench_function(id, |b| {
            b.iter(|| {
                let hits = AtomicU64::new(0);
                plan.run(1, |_, block, runs| {
                    let mut n = 0;
                    for i in runs.iter().flat_map(|r| r.rows.clone()) {
                        n += u64::from(finder.find(block.messages.get_bytes(i)).is_some());
                    }
                    hits.fetch_add(n, Ordering::Relaxed);
                    Ok(())
                })
                .expect("scan");
                hits.into_inner()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
