//! Throughput of `--timestamp-format`: finding and reading the time in each text line, on one
//! core, in lines per second. Real lines of the Loghub samples, each file with the format its
//! lines are written in (Apache error log, HDFS, Linux syslog, Zookeeper ISO 8601, Spark), and
//! the same lines with a format that finds nothing (the cost of a miss).
//!
//! Run: `cargo bench --bench timestamp_format`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_model::TimestampFormat;

/// (sample file, its timestamp format).
const SAMPLES: [(&str, &str); 5] = [
    ("Apache_2k.log", "apache-error"),
    ("HDFS_2k.log", "%y%m%d %H%M%S"),
    ("Linux_2k.log", "syslog"),
    ("Zookeeper_2k.log", "rfc3339"),
    ("Spark_2k.log", "%y/%m/%d %H:%M:%S"),
];

/// 2026-11-26T12:00:00Z, for formats without a year.
const NOW: i64 = 1_795_694_400_000;

fn lines(file: &str) -> Vec<String> {
    std::fs::read_to_string(common::loghub_dir().join(file))
        .expect("readable sample")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn find(c: &mut Criterion) {
    let mut g = c.benchmark_group("logsight_model::TimestampFormat::find");
    for (file, format) in SAMPLES {
        let lines = lines(file);
        let f = TimestampFormat::new(format).expect("valid format");
        assert!(lines.iter().all(|l| f.find(l, NOW).is_some()), "{file}: every line has a time");
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function(file, |b| {
            b.iter(|| lines.iter().filter_map(|l| f.find(black_box(l), NOW)).max())
        });
    }
    // Every line searched to its end without a match.
    let lines = lines("Linux_2k.log");
    let miss = TimestampFormat::new("epoch-ms").expect("valid format");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("miss/Linux_2k.log", |b| {
        b.iter(|| lines.iter().filter(|l| miss.find(black_box(l), NOW).is_none()).count())
    });
    g.finish();
}

criterion_group!(benches, find);
criterion_main!(benches);
