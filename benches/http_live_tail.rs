//! What the HTTP API's StartLiveTail adds per session and update interval, on one core: an
//! update of 500 real Loghub lines (distinct, in file order; CloudWatch's most per update)
//! or of 50, as a `sessionUpdate` event: the AWS JSON shape and the event-stream frame
//! (prelude, headers, both CRC-32s). Throughput in message bytes.
//!
//! Run: `cargo bench --bench http_live_tail`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_server::tail::{TailEvent, Update};

/// An update of `n` Loghub lines spread over 8 streams of one group.
fn update(lines: &[String], n: usize) -> Update {
    Update {
        events: lines
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, l)| TailEvent {
                group: "/app/web".into(),
                stream: format!("host-{}", i % 8),
                timestamp: 1_714_564_800_000 + i as i64,
                ingestion_time: 1_714_564_800_100 + i as i64,
                message: l.clone(),
            })
            .collect(),
        sampled: false,
        dropped_events: 0,
    }
}

fn bench(c: &mut Criterion) {
    let lines = common::loghub_lines();
    let identifiers = HashMap::from([(
        "/app/web".to_owned(),
        "arn:aws:logs:us-east-1:000000000000:log-group:/app/web".to_owned(),
    )]);
    let mut g = c.benchmark_group("live_tail_update");
    g.measurement_time(Duration::from_secs(5));
    for n in [50, 500] {
        let u = update(&lines, n);
        let bytes: usize = u.events.iter().map(|e| e.message.len()).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(format!("{n}_events"), |b| {
            b.iter_batched(
                || u.clone(),
                |u| black_box(logsight_http::live_tail::session_update(u, &identifiers)),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
