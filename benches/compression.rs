//! Message column codec: compression ratio, encode and decode throughput on the Loghub 2k
//! samples, next to plain zstd -3.
//!
//! ```text
//! cargo bench --bench compression                 # table + all benchmarks
//! cargo bench --bench compression -- all          # only the 16-sample aggregates
//! ```
//!
//! Each sample file is one block; each line (without its newline) is one message. Ratios
//! divide the file size (newlines included, as `zstd -3 file` is usually quoted) by the
//! encoded size plus 100 bytes for the block's directory entry and timestamp columns.
//! Throughput is raw message bytes per second; decoding includes visiting every message's
//! bytes.

#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_storage::msgcodec::{self, Messages};

/// Bytes the store keeps per block besides the message column.
const BLOCK_OVERHEAD: usize = 100;

struct Sample {
    name: String,
    file_bytes: usize,
    lines: Vec<String>,
    raw_bytes: usize,
    encoded: Vec<u8>,
    zstd3: Vec<u8>,
}

fn samples() -> Vec<Sample> {
    let paths = common::loghub_files();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("UTF-8 sample");
            let lines: Vec<String> = text.lines().map(String::from).collect();
            let mut encoded = Vec::new();
            msgcodec::encode(&lines, &mut encoded);
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            Sample {
                name: name.trim_end_matches("_2k.log").to_string(),
                file_bytes: text.len(),
                raw_bytes: lines.iter().map(|l| l.len()).sum(),
                lines,
                encoded,
                zstd3: zstd::bulk::compress(text.as_bytes(), 3).expect("zstd"),
            }
        })
        .collect()
}

fn print_table(samples: &[Sample]) {
    println!(
        "\n{:<12} {:>8} {:>9} {:>8} {:>9} {:>9} {:>6}",
        "sample", "file B", "encoded B", "zstd-3", "zstd-3+o", "logsight", "gain"
    );
    let (mut z, mut zo, mut l) = (0.0, 0.0, 0.0);
    for s in samples {
        let rz = s.file_bytes as f64 / s.zstd3.len() as f64;
        let rzo = s.file_bytes as f64 / (s.zstd3.len() + BLOCK_OVERHEAD) as f64;
        let rl = s.file_bytes as f64 / (s.encoded.len() + BLOCK_OVERHEAD) as f64;
        (z, zo, l) = (z + rz.ln(), zo + rzo.ln(), l + rl.ln());
        println!(
            "{:<12} {:>8} {:>9} {:>7.1}x {:>8.1}x {:>8.1}x {:>5.2}x",
            s.name,
            s.file_bytes,
            s.encoded.len(),
            rz,
            rzo,
            rl,
            rl / rzo
        );
    }
    let n = samples.len() as f64;
    println!(
        "{:<12} {:>8} {:>9} {:>7.1}x {:>8.1}x {:>8.1}x {:>5.2}x\n",
        "geomean",
        "",
        "",
        (z / n).exp(),
        (zo / n).exp(),
        (l / n).exp(),
        ((l - zo) / n).exp()
    );
    println!(
        "zstd-3: file / zstd -3 of the file; zstd-3+o and logsight add {BLOCK_OVERHEAD} B/block\n"
    );
}

/// Visits every decoded message's bytes, as a scan for an absent byte would: 0xff never occurs
/// in UTF-8, so `memchr` reads each message to its end.
fn visit_one(msg: &[u8]) -> usize {
    msg.len() + usize::from(memchr::memchr(0xff, msg).is_some())
}

fn visit(m: &Messages) -> usize {
    m.iter().map(visit_one).sum()
}

fn bench(c: &mut Criterion) {
    let samples = samples();
    if samples.is_empty() {
        return;
    }
    print_table(&samples);
    let total: usize = samples.iter().map(|s| s.raw_bytes).sum();
    let mut out = Messages::default();
    let mut buf = Vec::new();

    let mut all = c.benchmark_group("all");
    all.throughput(Throughput::Bytes(total as u64));
    all.bench_function("encode", |b| {
        b.iter(|| {
            for s in &samples {
                buf.clear();
                msgcodec::encode(black_box(&s.lines), &mut buf);
            }
            buf.len()
        })
    });
    all.bench_function("decode_visit", |b| {
        b.iter(|| {
            let mut n = 0;
            for s in &samples {
                msgcodec::decode(black_box(&s.encoded), s.lines.len(), s.raw_bytes, &mut out)
                    .expect("decodes");
                n += visit(&out);
            }
            n
        })
    });
    // Baseline: zstd -3 of the file, then splitting it into lines and visiting them.
    let mut dctx = zstd::bulk::Decompressor::new().expect("zstd context");
    let mut raw = Vec::with_capacity(1 << 20);
    all.bench_function("zstd3_decode_visit", |b| {
        b.iter(|| {
            let mut n = 0;
            for s in &samples {
                raw.clear();
                dctx.decompress_to_buffer(black_box(&s.zstd3), &mut raw).expect("decompresses");
                n += raw.split(|&b| b == b'\n').map(visit_one).sum::<usize>();
            }
            n
        })
    });
    all.finish();

    let mut each = c.benchmark_group("sample");
    for s in &samples {
        each.throughput(Throughput::Bytes(s.raw_bytes as u64));
        each.bench_function(format!("encode/{}", s.name), |b| {
            b.iter(|| {
                buf.clear();
                msgcodec::encode(black_box(&s.lines), &mut buf);
                buf.len()
            })
        });
        each.bench_function(format!("decode_visit/{}", s.name), |b| {
            b.iter(|| {
                msgcodec::decode(black_box(&s.encoded), s.lines.len(), s.raw_bytes, &mut out)
                    .expect("decodes");
                visit(&out)
            })
        });
    }
    each.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
