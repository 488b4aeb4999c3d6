//! Paging through GetLogEvents (issue 15, defect 3) on one stream whose events all share one
//! timestamp (what text `ingest` writes for lines read in the same millisecond), against the
//! same events with distinct timestamps. Data that does not repeat: the 32,000 Loghub lines in
//! 7 copies with their digits shifted by the copy's index, 200,000 events (~28 MB of
//! messages), appended in batches of 10,000 and sealed in 4 segments (default block size).
//!
//! - `page_1000`: one GetLogEvents call of 1,000 events, oldest first, from a token at the
//!   start, the middle and near the end of the stream: the cost of page k must not depend on k.
//! - `read_all`: every event by pages of 10,000, as `events get` piped does.
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logsight_engine::{DataSource, Engine, EngineConfig};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_server::service::{FilterBudget, GetEvents, Service};
use logsight_server::tail::TailHub;
use logsight_server::token::TokenKey;
use logsight_storage::{Store, StoreOptions, SystemClock};

const EVENTS: usize = 200_000;
const SEALS: usize = 4;

fn build(dir: &std::path::Path, same_timestamp: bool) -> Service {
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir, opts).expect("store opens");
    store.create_group(&LogGroupName::new("app").expect("valid")).expect("new group");
    let stream = LogStreamName::new("host.log").expect("valid");
    store.create_stream(&LogGroupName::new("app").expect("valid"), &stream).expect("new");
    let lines = common::loghub_lines();
    let messages: Vec<String> = (0..)
        .flat_map(|c| lines.iter().map(move |l| common::rotate_digits(l, c as u32)))
        .take(EVENTS)
        .collect();
    let t0 = 1_700_000_000_000i64;
    for (b, batch) in messages.chunks(10_000).enumerate() {
        let events: Vec<LogEvent> = batch
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let ts = if same_timestamp { t0 } else { t0 + (b * 10_000 + j) as i64 };
                LogEvent::new(ts, ts, m.as_str()).expect("valid event")
            })
            .collect();
        store.append("app", "host.log", &events).expect("append");
        if (b + 1) % (EVENTS / 10_000 / SEALS) == 0 {
            store.flush().expect("seal");
        }
    }
    let store = Arc::new(store);
    Service::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(TailHub::default()),
        TokenKey::random(),
        FilterBudget::default(),
        Arc::new(Engine::new(EngineConfig::default())),
        DataSource::new(store),
    )
}

fn request(token: Option<String>, limit: i32) -> GetEvents {
    GetEvents {
        group: "app".into(),
        stream: "host.log".into(),
        start: None,
        end: None,
        token,
        limit: Some(limit),
        start_from_head: true,
    }
}

/// Every event by pages of `limit`; the number read.
fn read_all(service: &Service, limit: i32) -> usize {
    let (mut n, mut token) = (0, None);
    loop {
        let page = service.get_events(&request(token, limit)).expect("page");
        if page.events.is_empty() {
            return n;
        }
        n += page.events.len();
        token = Some(page.forward);
    }
}

fn bench_paging(c: &mut Criterion) {
    for (shape, same) in [("same_timestamp", true), ("distinct_timestamps", false)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let service = build(dir.path(), same);
        // Tokens at 0%, 50% and 95% of the stream, by paging there once.
        let mut tokens = vec![(0usize, None)];
        let mut token = None;
        for k in 1..=(EVENTS * 95 / 100 / 1000) {
            token = Some(service.get_events(&request(token, 1000)).expect("page").forward);
            if k == EVENTS / 2 / 1000 || k == EVENTS * 95 / 100 / 1000 {
                tokens.push((k * 1000, token.clone()));
            }
        }
        let mut g = c.benchmark_group(format!("paging/{shape}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(1000));
        for (at, token) in &tokens {
            g.bench_function(BenchmarkId::new("page_1000_from_event", at), |b| {
                b.iter(|| service.get_events(&request(token.clone(), 1000)).expect("page"))
            });
        }
        g.throughput(Throughput::Elements(EVENTS as u64));
        g.bench_function("read_all_pages_of_10000", |b| {
            b.iter(|| assert_eq!(read_all(&service, 10_000), EVENTS))
        });
        g.finish();
    }
}

criterion_group!(benches, bench_paging);
criterion_main!(benches);
