//! Throughput of compiled filter patterns, in events per second on one core.
//!
//! - `loghub`: unstructured patterns over the 16 Loghub 2k samples (32k real lines). The
//!   samples are found through `LOGSIGHT_LOGHUB`, else `../shared/datasets/loghub` next to the
//!   repository; the group is skipped if they are missing.
//! - `json`: a synthetic JSON web-request log (seeded), with a pattern most events match and a
//!   selective one.
//! - `space_delimited`: a synthetic Apache access log (seeded).
//!
//! Run: `cargo bench --bench filter_pattern`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logsight_query_lang::pattern::FilterPattern;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const PATHS: &[&str] = &[
    "/api/users",
    "/api/orders",
    "/api/orders/items",
    "/health",
    "/static/app.js",
    "/api/login",
    "/",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
];

fn status(rng: &mut StdRng) -> u16 {
    match rng.random_range(0..100) {
        0..85 => 200,
        85..90 => 304,
        90..95 => 404,
        95..98 => 500,
        _ => 503,
    }
}

/// A JSON web-request log like an application's access logs (about 330 bytes per line).
fn json_log(n: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..n)
        .map(|i| {
            let path = PATHS[rng.random_range(0..PATHS.len())];
            format!(
                r#"{{"timestamp":"2025-03-01T12:{:02}:{:02}.{:03}Z","level":"info","requestId":"{:016x}","method":"{}","path":"{}","status":{},"latencyMs":{:.3},"bytes":{},"userAgent":"{}","client":{{"ip":"10.{}.{}.{}","country":"DE"}},"tags":["web","v2"]}}"#,
                (i / 60) % 60,
                i % 60,
                rng.random_range(0..1000),
                rng.random::<u64>(),
                METHODS[rng.random_range(0..METHODS.len())],
                path,
                status(&mut rng),
                rng.random_range(0.2..900.0f64),
                rng.random_range(0..50_000),
                AGENTS[rng.random_range(0..AGENTS.len())],
                rng.random_range(0..256),
                rng.random_range(0..256),
                rng.random_range(0..256),
            )
        })
        .collect()
}

/// An Apache combined-format access log.
fn apache_log(n: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(11);
    (0..n)
        .map(|i| {
            format!(
                r#"192.168.{}.{} - user{} [10/Oct/2000:13:{:02}:{:02} -0700] "{} {} HTTP/1.1" {} {} "-" "{}""#,
                rng.random_range(0..256),
                rng.random_range(0..256),
                rng.random_range(0..50),
                (i / 60) % 60,
                i % 60,
                METHODS[rng.random_range(0..METHODS.len())],
                PATHS[rng.random_range(0..PATHS.len())],
                status(&mut rng),
                rng.random_range(0..50_000),
                AGENTS[rng.random_range(0..AGENTS.len())],
            )
        })
        .collect()
}

fn bench_patterns(c: &mut Criterion, group: &str, lines: &[String], patterns: &[(&str, &str)]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for (name, pattern) in patterns {
        let p = FilterPattern::compile(pattern).expect("benchmark patterns compile");
        let hits = lines.iter().filter(|l| p.matches(l)).count();
        eprintln!("{group}/{name}: `{pattern}` matches {hits} of {} events", lines.len());
        g.bench_function(*name, |b| {
            b.iter(|| lines.iter().filter(|l| p.matches(black_box(l))).count())
        });
    }
    g.finish();
}

fn loghub(c: &mut Criterion) {
    let lines = common::loghub_lines();
    bench_patterns(
        c,
        "logsight_query_lang::pattern::FilterPattern::matches/loghub",
        &lines,
        &[
            ("term_rare", "error"),
            ("term_common", "INFO"),
            ("terms_and_exclusion", "ERROR -INFO ?x"),
            ("phrase", "\"Connection closed\""),
            ("regex", "%fail[a-z]*%"),
        ],
    );
}

fn json(c: &mut Criterion) {
    let lines = json_log(20_000);
    bench_patterns(
        c,
        "logsight_query_lang::pattern::FilterPattern::matches/json",
        &lines,
        &[
            ("matching_heavy", "{ $.status < 500 && $.latencyMs >= 0 }"),
            ("selective", r#"{ $.status = 503 && $.path = "/api/orders*" }"#),
            ("nested_wildcard", r#"{ $.client.country = "DE" && $.tags[*] = "v2" }"#),
        ],
    );
}

fn space_delimited(c: &mut Criterion) {
    let lines = apache_log(20_000);
    bench_patterns(
        c,
        "logsight_query_lang::pattern::FilterPattern::matches/space_delimited",
        &lines,
        &[
            (
                "positional",
                "[ip, id, user, timestamp, request = *orders*, status = 5*, bytes > 1000, referrer, agent]",
            ),
            ("ellipsis", "[..., status = 404, bytes, referrer, agent]"),
        ],
    );
}

criterion_group!(benches, loghub, json, space_delimited);
criterion_main!(benches);
