//! The catalog as a fleet grows it: one log group holding 1,000 or 1,000,000 streams (names
//! like an instance fleet's, `i-0123abcd/app`), no events, the catalog checkpointed once.
//!
//! - `create_stream/N`: creating one more stream, with fsync on (what CreateLogStream costs);
//!   before the catalog changes were logged, this rewrote and fsynced the whole catalog.
//! - `restart/N`: opening the store (loading the checkpoint and replaying the WAL).
//! - `describe_page/N`: a page of 50 streams in name order from the middle of the group
//!   (DescribeLogStreams with a token).
//!
//! Building the 1,000,000-stream store takes a while; its time is printed as it is built.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use logsight_model::{LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

const SIZES: [usize; 2] = [1_000, 1_000_000];

fn stream_name(i: usize) -> String {
    // Spread over the name space like instance ids, not in creation order.
    format!("i-{:08x}/app", (i as u32).wrapping_mul(2_654_435_761))
}

fn opts(sync: bool) -> StoreOptions {
    StoreOptions { sync, background: false, ..Default::default() }
}

fn build(dir: &std::path::Path, n: usize) {
    let started = Instant::now();
    let store = Store::open(dir, opts(false)).expect("store opens");
    let group = LogGroupName::new("fleet").expect("valid");
    store.create_group(&group).expect("new group");
    for i in 0..n {
        let name = LogStreamName::new(stream_name(i)).expect("valid");
        store.create_stream(&group, &name).expect("new stream");
    }
    let created = started.elapsed();
    store.flush().expect("checkpoint");
    eprintln!(
        "catalog_scale: {n} streams created in {created:.2?} without fsync, checkpointed in {:.2?}",
        started.elapsed() - created
    );
}

fn bench_catalog(c: &mut Criterion) {
    let mut g = c.benchmark_group("catalog");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for n in SIZES {
        let dir = tempfile::tempdir().expect("temp dir");
        build(dir.path(), n);
        let group = LogGroupName::new("fleet").expect("valid");

        g.bench_function(BenchmarkId::new("restart", n), |b| {
            b.iter(|| Store::open(dir.path(), opts(true)).expect("store opens"));
        });

        let store = Store::open(dir.path(), opts(true)).expect("store opens");
        let next = AtomicU64::new(0);
        g.bench_function(BenchmarkId::new("create_stream", n), |b| {
            b.iter(|| {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let name = LogStreamName::new(format!("new-{i:08}")).expect("valid");
                store.create_stream(&group, &name).expect("new stream");
            });
        });

        let middle = stream_name(n / 2);
        g.bench_function(BenchmarkId::new("describe_page", n), |b| {
            b.iter(|| {
                let page = store.streams_page("fleet", "i-", Some(&middle), 50).expect("page");
                assert_eq!(page.streams.len(), 50);
                page
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_catalog);
criterion_main!(benches);
