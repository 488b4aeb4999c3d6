//! The per-request work the hardening added on hot paths: following the gRPC framing of every
//! request body chunk by chunk (admission before buffering), and issuing and checking an HMAC
//! paging token (every GetLogEvents / FilterLogEvents page). Shapes: a 1 MiB PutLogEvents body
//! arriving in 16 KiB HTTP/2 DATA frames (the default frame size), and an IngestStream body of
//! 256 batches of varied size (1 to 64 KiB) in the same frames; tokens for a group and a
//! 100-stream selection.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_server::admission::{Framing, Step};
use logsight_server::token::{Scope, Streams, TokenKey};
use logsight_storage::{Direction, Position};

fn framed(lens: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        out.push(0);
        out.extend((len as u32).to_be_bytes());
        out.extend((0..len).map(|j| (i * 31 + j) as u8));
    }
    out
}

/// Messages found in `body` fed in 16 KiB chunks.
fn follow(body: &[u8]) -> usize {
    let mut f = Framing::default();
    let mut found = 0;
    for chunk in body.chunks(16 << 10) {
        let mut i = 0;
        while i < chunk.len() {
            match f.advance(&chunk[i..]) {
                Step::Consumed(n) => i += n,
                Step::Message { n, .. } => {
                    i += n;
                    found += 1;
                }
            }
        }
    }
    found
}

fn framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_framing");
    let one = framed(&[1 << 20]);
    g.throughput(Throughput::Bytes(one.len() as u64));
    g.bench_function("put_1MiB_in_16KiB_frames", |b| b.iter(|| follow(&one)));
    let lens: Vec<usize> = (0..256).map(|i| 1024 + (i * 7919) % (63 << 10)).collect();
    let many = framed(&lens);
    g.throughput(Throughput::Bytes(many.len() as u64));
    g.bench_function("ingest_256_batches_in_16KiB_frames", |b| b.iter(|| follow(&many)));
    g.finish();
}

fn tokens(c: &mut Criterion) {
    let key = TokenKey::random();
    let names: Vec<String> = (0..100).map(|i| format!("stream-{i:04}")).collect();
    let mut g = c.benchmark_group("paging_token");
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_events_issue_and_open", |b| {
        let scope = Scope::get_events("app/prod", "web-01");
        let mut ts = 1_700_000_000_000i64;
        b.iter(|| {
            ts += 1;
            let pos =
                Position { direction: Direction::Forward, timestamp: ts, stream: 7, ordinal: 3 };
            let t = key.issue(&scope, pos);
            key.open(&scope, &t).unwrap()
        })
    });
    g.bench_function("filter_100_streams_scope_issue_and_open", |b| {
        let mut ts = 1_700_000_000_000i64;
        b.iter(|| {
            ts += 1;
            let scope = Scope::filter_events("app/prod", Streams::Names(&names));
            let pos =
                Position { direction: Direction::Forward, timestamp: ts, stream: 7, ordinal: 0 };
            let t = key.issue(&scope, pos);
            key.open(&scope, &t).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, framing, tokens);
criterion_main!(benches);
