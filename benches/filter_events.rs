//! FilterLogEvents with a selective term over many streams: a whole search (every page of
//! 10,000, the CLI's `events filter`) for a word 16 of 128,000 events hold.
//!
//! Data that does not repeat: the 16 Loghub samples (32,000 lines) in `COPIES` copies with
//! their digits rotated per copy, one group of `STREAMS` streams (line i to stream i %
//! `STREAMS`), timestamps spread over 24 hours, appended in `SEALS` rounds each sealed into a
//! segment (default block size), every segment indexed.
//!
//! - `storage_merge`: the read path FilterLogEvents used before it became an engine plan,
//!   reproduced here as it was (storage's k-way merge of the group, 4,096 events a read, the
//!   pattern run on each event, one thread);
//! - `engine_index_off`: the engine's plan scanning every block (decode and match on the pool);
//! - `engine_index_on`: the same plan with the full-text index ruling out blocks that lack the
//!   pattern's required term (what the server runs).
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use logsight_engine::{
    DataSource, Engine, EngineConfig, FilterEventsPlan, ScanBudget, StreamSelection,
};
use logsight_index::IndexDeriver;
use logsight_model::{LogEvent, LogGroupName, LogStreamName, TimeRange};
use logsight_query_lang::pattern::FilterPattern;
use logsight_storage::{Direction, Position, ReadOptions, Store, StoreOptions};

const STREAMS: usize = 200;
const COPIES: u32 = 4;
const SEALS: usize = 8;
const START: i64 = 1_714_521_600_000;
const DAY_MS: i64 = 86_400_000;
const TERM: &str = "Netfilter";

fn build(dir: &std::path::Path) -> Arc<Store> {
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Arc::new(Store::open(dir, opts).expect("store opens"));
    let g = LogGroupName::new("app").expect("valid");
    store.create_group(&g).expect("new group");
    for s in 0..STREAMS {
        let name = LogStreamName::new(format!("host-{s:03}").as_str()).expect("valid");
        store.create_stream(&g, &name).expect("new stream");
    }
    let lines = common::loghub_lines();
    let messages: Vec<String> =
        (0..COPIES).flat_map(|c| lines.iter().map(move |l| common::rotate_digits(l, c))).collect();
    let n = messages.len();
    for round in
        messages.chunks(n.div_ceil(SEALS)).enumerate().map(|(r, m)| (r * n.div_ceil(SEALS), m))
    {
        let (offset, part) = round;
        let mut by_stream: Vec<Vec<LogEvent>> = vec![Vec::new(); STREAMS];
        for (j, m) in part.iter().enumerate() {
            let i = offset + j;
            let ts = START + i as i64 * (DAY_MS / n as i64);
            by_stream[i % STREAMS].push(LogEvent::new(ts, ts, m.as_str()).expect("valid event"));
        }
        for (s, events) in by_stream.iter().enumerate() {
            store.append("app", &format!("host-{s:03}"), events).expect("append");
        }
        store.flush().expect("seal");
    }
    store.derive_missing(&IndexDeriver::new()).expect("index built");
    store
}

fn plan(pattern: &FilterPattern) -> FilterEventsPlan {
    FilterEventsPlan {
        group: "app".into(),
        streams: StreamSelection::All,
        range: TimeRange::ALL,
        pattern: pattern.clone(),
        limit: 10_000,
        max_bytes: 1 << 20,
        from: None,
        budget: ScanBudget { events: usize::MAX, time: Duration::from_secs(3600) },
    }
}

/// Every page of the search through the engine; the events found.
fn search(engine: &Engine, source: &DataSource, pattern: &FilterPattern) -> usize {
    let (mut p, mut found) = (plan(pattern), 0);
    loop {
        let page = engine.filter_events(source, &p).expect("page");
        found += page.events.len();
        match page.next {
            Some(c) => p.from = Some(c),
            None => return found,
        }
    }
}

/// The read path before: storage's merge of the group, the pattern on each event.
fn storage_merge(store: &Store, pattern: &FilterPattern) -> usize {
    let (mut from, mut found) = (None, 0);
    loop {
        let opts = ReadOptions {
            range: TimeRange::ALL,
            direction: Direction::Forward,
            from,
            limit: 4096,
            max_bytes: 4 << 20,
        };
        let page = store.read_group("app", None, &opts).expect("page");
        for ev in &page.events {
            from = Some(Position::after(Direction::Forward, ev));
            if pattern.matches(&ev.message) {
                found += 1;
            }
        }
        if page.events.is_empty() || !page.more {
            return found;
        }
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = build(dir.path());
    let pattern = FilterPattern::compile(TERM).expect("valid pattern");
    let engine = Engine::new(EngineConfig::default());
    let on = DataSource::new(store.clone());
    let off = DataSource::without_index(store.clone());
    let want = storage_merge(&store, &pattern);
    assert!(want > 0 && want < 100, "a selective term: {want} events");
    assert_eq!(search(&engine, &on, &pattern), want);
    assert_eq!(search(&engine, &off, &pattern), want);
    let page = engine.filter_events(&on, &plan(&pattern)).expect("page");
    println!(
        "{} events match; {} blocks; with the index {} decoded, {} pruned",
        want,
        store.stats().blocks,
        page.statistics.blocks_decoded,
        page.statistics.blocks_pruned
    );
    let mut g = c.benchmark_group("filter_events/selective_term_200_streams");
    g.sample_size(10);
    g.bench_function("storage_merge", |b| b.iter(|| storage_merge(&store, &pattern)));
    g.bench_function("engine_index_off", |b| b.iter(|| search(&engine, &off, &pattern)));
    g.bench_function("engine_index_on", |b| b.iter(|| search(&engine, &on, &pattern)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
