//! The store on the fleet shape: one log group of 1,000 streams, its events arriving in 10
//! seals, then compacted in the background's way. Data that does not repeat: the 32,000
//! Loghub lines, in 4 copies whose digits are shifted by the copy's index (so no copy repeats
//! another's numbers), 128,000 events in all, one event every 100 ms over 3.5 hours.
//!
//! Measures what the storage issue asks of this shape:
//! - `get_log_events`: a page of 100 events of one stream, oldest first (GetLogEvents);
//! - `scan`: every block decoded on one core, messages searched for a substring (the floor of
//!   a query that looks inside messages);
//! - `scan_projected`: the same blocks decoded for timestamps only, counted into 5-minute bins
//!   (what `stats count(*) by bin(5m)` needs).
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logsight_model::{LogEvent, LogGroupName, LogStreamName, TimeRange};
use logsight_storage::{Columns, DecodedBlock, ReadOptions, Store, StoreOptions};

const STREAMS: usize = 1000;
const COPIES: usize = 4;
const SEALS: usize = 10;

fn build_store(dir: &std::path::Path) -> Store {
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir, opts).expect("store opens");
    let group = LogGroupName::new("fleet").expect("valid");
    store.create_group(&group).expect("new group");
    for s in 0..STREAMS {
        let name = format!("i-{s:04}");
        store
            .create_stream(&group, &LogStreamName::new(name.as_str()).expect("valid"))
            .expect("new");
    }
    let lines = common::loghub_lines();
    let events: Vec<String> = (0..COPIES)
        .flat_map(|c| lines.iter().map(move |l| common::rotate_digits(l, c as u32)))
        .collect();
    let per_seal = events.len().div_ceil(SEALS);
    for (seal, chunk) in events.chunks(per_seal).enumerate() {
        let mut by_stream: Vec<Vec<LogEvent>> = vec![Vec::new(); STREAMS];
        for (j, m) in chunk.iter().enumerate() {
            let i = seal * per_seal + j;
            let ts = 1_700_000_000_000 + i as i64 * 100;
            by_stream[i % STREAMS].push(LogEvent::new(ts, ts, m.as_str()).expect("valid event"));
        }
        for (s, evs) in by_stream.iter().enumerate() {
            store.append("fleet", &format!("i-{s:04}"), evs).expect("append");
        }
        store.flush().expect("seal");
        while store.compact_once().expect("compaction").is_some() {}
    }
    store
}

fn bench_fleet(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = build_store(dir.path());
    let stats = store.stats();
    eprintln!("fleet store: {} segments, {} blocks", stats.segments, stats.blocks);

    let mut g = c.benchmark_group("fleet_store");
    let mut n = 0usize;
    g.bench_function("get_log_events/100 of one stream among 1000", |b| {
        b.iter(|| {
            n = (n + 7919) % STREAMS;
            let opts = ReadOptions { limit: 100, ..Default::default() };
            let page = store.read_stream("fleet", &format!("i-{n:04}"), &opts).expect("read");
            assert!(!page.events.is_empty());
            page.events.len()
        });
    });

    let plan = store.plan_scan("fleet", None, TimeRange::ALL).expect("plan");
    let raw: u64 = plan.units.iter().map(|u| u.raw_bytes()).sum();
    let events: u64 = plan.units.iter().map(|u| u.count() as u64).sum();
    let finder = memchr::memmem::Finder::new("error");
    g.throughput(Throughput::Bytes(raw));
    g.bench_function(BenchmarkId::new("scan", "all columns, substring, 1 thread"), |b| {
        let mut block = DecodedBlock::default();
        b.iter(|| {
            let mut hits = 0u64;
            for unit in &plan.units {
                unit.decode(&mut block).expect("decode");
                hits += block.messages.iter().filter(|m| finder.find(m).is_some()).count() as u64;
            }
            hits
        });
    });
    g.throughput(Throughput::Elements(events));
    g.bench_function(BenchmarkId::new("scan_projected", "timestamps, 5m bins, 1 thread"), |b| {
        let mut block = DecodedBlock::default();
        let bins: Vec<AtomicU64> = (0..64).map(|_| AtomicU64::new(0)).collect();
        b.iter(|| {
            for unit in &plan.units {
                unit.decode_columns(Columns::TIMESTAMPS, &mut block).expect("decode");
                for t in &block.timestamps {
                    let bin = ((t - 1_700_000_000_000) / 300_000) as usize;
                    bins[bin % 64].fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    });
    g.finish();
}

criterion_group!(benches, bench_fleet);
criterion_main!(benches);
