//! The full-text index: build cost per segment, what each filter size costs, the lookups
//! (a phrase, an exact rare token, a 32-hex identifier inside a token) on a whole segment,
//! and a needle query with and without the index.
//!
//! Data: the 16 Loghub samples, `COPIES` copies with every digit rotated per copy (nothing
//! repeats verbatim), one group per sample with 64 streams each (line i to stream i % 64),
//! spread over 24 hours, sealed in `ROUNDS` seals and compacted to completion, as the fleet
//! shape of the compression test is. One event in one group carries a unique token.
//!
//! Before the timed runs, a table of the granularities (document per block or per event,
//! numbers indexed or not) is printed: artifact bytes against segment and message bytes,
//! one build of every segment, and the needle's candidate blocks.
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_index::{BuildOptions, Requirement, SegmentIndex, TokenPolicy};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

const STREAMS: usize = 64;
const COPIES: u32 = 4;
const ROUNDS: usize = 4;
const DAY_MS: i64 = 86_400_000;
const START: i64 = 1_714_521_600_000;
const NEEDLE: &str = "trace-id=f3c9a1d7e2b84c60 ";
const HEX: &str = "9afb2e53f18d12ab9b4a1c3d13e3c24e";

struct Data {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    groups: Vec<String>,
    raw_bytes: u64,
}

fn data() -> Data {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Arc::new(Store::open(dir.path(), opts).expect("store"));
    let mut samples = Vec::new();
    for f in common::loghub_files() {
        let name = f.file_name().expect("name").to_string_lossy().replace("_2k.log", "");
        let text = std::fs::read_to_string(&f).expect("sample");
        let mut lines = Vec::new();
        for copy in 0..COPIES {
            lines.extend(
                text.lines().filter(|l| !l.is_empty()).map(|l| common::rotate_digits(l, copy)),
            );
        }
        let g = LogGroupName::new(name.as_str()).expect("valid");
        store.create_group(&g).expect("group");
        for s in 0..STREAMS {
            store
                .create_stream(&g, &LogStreamName::new(format!("i-{s:02}")).expect("valid"))
                .expect("stream");
        }
        samples.push((name, lines));
    }
    // The needle: one event, in the middle of one group.
    let mid = samples[7].1.len() / 2;
    samples[7].1[mid] = format!("{NEEDLE}{} span={HEX}", samples[7].1[mid]);
    let mut raw_bytes = 0;
    for round in 0..ROUNDS {
        for (name, lines) in &samples {
            let n = lines.len();
            let per = n.div_ceil(ROUNDS);
            let mut by_stream: Vec<Vec<LogEvent>> = vec![Vec::new(); STREAMS];
            for (i, l) in lines.iter().enumerate().skip(round * per).take(per) {
                let ts = START + i as i64 * DAY_MS / n as i64;
                raw_bytes += l.len() as u64;
                by_stream[i % STREAMS].push(LogEvent::new(ts, ts, l.clone()).expect("event"));
            }
            for (s, events) in by_stream.iter().enumerate().filter(|(_, e)| !e.is_empty()) {
                store.append(name, &format!("i-{s:02}"), events).expect("append");
            }
        }
        store.flush().expect("seal");
    }
    store.compact_all(|_| ()).expect("compact");
    let groups = samples.into_iter().map(|(n, _)| n).collect();
    Data { _dir: dir, store, groups, raw_bytes }
}

/// One build of every segment under `opts`: artifact bytes, seconds, needle candidates.
fn measure(d: &Data, opts: BuildOptions) -> (u64, f64, usize) {
    let mut bytes = 0;
    let mut secs = 0.0;
    let mut candidates = 0;
    let req = Requirement::substring(NEEDLE.as_bytes());
    for info in d.store.segments() {
        let seg = d.store.segment(info.id).expect("live");
        let t = Instant::now();
        let artifact = logsight_index::segment_index::build(&seg, opts).expect("build");
        secs += t.elapsed().as_secs_f64();
        bytes += artifact.len() as u64;
        let ix = SegmentIndex::open(&artifact).expect("open");
        candidates += ix.candidates(&req).expect("lookup").count();
    }
    (bytes, secs, candidates)
}

fn bench(c: &mut Criterion) {
    let d = data();
    let segments = d.store.segments();
    let seg_bytes: u64 = segments.iter().map(|s| s.bytes).sum();
    let blocks: u64 = segments.iter().map(|s| s.blocks).sum();
    let events: u64 = segments.iter().map(|s| s.events).sum();
    eprintln!(
        "data: {events} events, {} MB of messages, {} segments, {blocks} blocks, {:.1} MB stored \
         ({:.2}x)",
        d.raw_bytes / 1_000_000,
        segments.len(),
        seg_bytes as f64 / 1e6,
        d.raw_bytes as f64 / seg_bytes as f64
    );
    eprintln!(
        "| short bits/key | long bits/key | numbers | index bytes | of stored | ratio with index | build MB/s | needle blocks |"
    );
    for (short_bits, long_bits, numbers) in [(3, 8, false), (4, 10, false), (4, 10, true)] {
        let opts = BuildOptions { policy: TokenPolicy { numbers }, short_bits, long_bits };
        let (bytes, secs, cand) = measure(&d, opts);
        eprintln!(
            "| {short_bits} | {long_bits} | {numbers} | {bytes} | {:.1}% | {:.2}x | {:.1} | {cand} of {blocks} |",
            bytes as f64 * 100.0 / seg_bytes as f64,
            d.raw_bytes as f64 / (seg_bytes + bytes) as f64,
            d.raw_bytes as f64 / 1e6 / secs,
        );
    }

    let mut g = c.benchmark_group("index");
    let biggest = segments.iter().max_by_key(|s| s.events).expect("a segment").id;
    let seg = d.store.segment(biggest).expect("live");
    let seg_raw: u64 = seg.blocks().iter().map(|b| b.raw_bytes).sum();
    g.throughput(Throughput::Bytes(seg_raw));
    g.bench_function("build_segment", |b| {
        b.iter(|| {
            logsight_index::segment_index::build(&seg, BuildOptions::default()).expect("build")
        })
    });

    let ix = SegmentIndex::open(
        &logsight_index::segment_index::build(&seg, BuildOptions::default()).expect("build"),
    )
    .expect("open");
    for (name, literal) in [
        ("lookup_phrase", "Failed password for"),
        ("lookup_exact_rare", " f3c9a1d7e2b84c60 "),
        ("lookup_hex_infix", HEX),
    ] {
        let req = Requirement::substring(literal.as_bytes());
        g.throughput(Throughput::Elements(seg.blocks().len() as u64));
        g.bench_function(name, |b| b.iter(|| ix.candidates(&req).expect("lookup")));
    }

    d.store.derive_missing(&logsight_index::IndexDeriver::new()).expect("index");
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let req = QueryRequest {
        query: format!(
            "filter @message like \"{}\" | fields @timestamp, @message | limit 100",
            NEEDLE.trim()
        ),
        groups: d.groups.clone(),
        start_ms: START,
        end_ms: START + DAY_MS,
        limit: None,
    };
    let with = DataSource::new(d.store.clone());
    let without = DataSource::without_index(d.store.clone());
    let hits = |s: &DataSource| engine.run(s, &req, &CancelToken::new()).expect("query");
    assert_eq!(hits(&with).rows.len(), 1);
    assert_eq!(hits(&with).rows, hits(&without).rows);
    g.throughput(Throughput::Bytes(d.raw_bytes));
    g.bench_function("needle_with_index", |b| b.iter(|| hits(&with)));
    g.bench_function("needle_without_index", |b| b.iter(|| hits(&without)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
