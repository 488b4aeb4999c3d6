//! The per-request CPU work the HTTP API adds in front of the service, on one core:
//!
//! - `sigv4_verify`: verifying the SigV4 signature of a PutLogEvents request whose body holds
//!   1,000 or 5,000 real Loghub lines (about 190 KB and 950 KB of JSON): the body's SHA-256,
//!   the canonical request and the HMAC chain. Throughput in body bytes.
//! - `policy`: evaluating a five-statement policy with wildcards for one action and group ARN.
//! - `parse_put_log_events`: decoding the same bodies into the PutLogEvents request shape.
//!
//! Run: `cargo bench --bench http_auth`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, Method, Uri};
use logsight_auth::sigv4::{self, Credentials};
use logsight_auth::{Policy, Principals};

const PRINCIPALS: &str = r#"[{"name": "agent", "access_key_id": "AKIDAGENT", "secret_access_key": "agent-secret-key",
  "policy": {"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}}]"#;

/// A PutLogEvents body of `n` Loghub lines (distinct, in file order) with rising timestamps.
fn body(lines: &[String], n: usize) -> Vec<u8> {
    let events: Vec<serde_json::Value> = lines
        .iter()
        .cycle()
        .take(n)
        .enumerate()
        .map(|(i, l)| serde_json::json!({"timestamp": 1_714_564_800_000i64 + i as i64, "message": l}))
        .collect();
    serde_json::to_vec(&serde_json::json!({"logGroupName": "/app/web", "logStreamName": "host-1", "logEvents": events}))
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let lines = common::loghub_lines();
    let principals = Principals::from_json(PRINCIPALS).unwrap();
    let creds = Credentials::new("AKIDAGENT", "agent-secret-key");
    let (method, uri) = (Method::POST, Uri::from_static("/"));
    let amz_date = "20240501T120000Z";
    let now = sigv4::parse_amz_date(amz_date).unwrap();

    let mut g = c.benchmark_group("sigv4_verify");
    for n in [1_000, 5_000] {
        let body = body(&lines, n);
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:7071".parse().unwrap());
        headers.insert("x-amz-date", amz_date.parse().unwrap());
        headers.insert("x-amz-target", "Logs_20140328.PutLogEvents".parse().unwrap());
        headers.insert("content-type", "application/x-amz-json-1.1".parse().unwrap());
        let auth = sigv4::sign(
            &sigv4::Request::new(&method, &uri, &headers),
            &sigv4::sha256_hex(&body),
            &creds,
            "us-east-1",
            "logs",
            amz_date,
        )
        .unwrap();
        headers.insert("authorization", auth.parse().unwrap());
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("{n}_events"), |b| {
            b.iter(|| {
                let req = sigv4::Request::new(&method, &uri, &headers);
                let v = principals
                    .verify(&req, &sigv4::sha256_hex(black_box(&body)), now, 900)
                    .unwrap();
                black_box(v.principal.name().len())
            })
        });
    }
    g.finish();

    let policy = Policy::from_value(serde_json::json!({"Statement": [
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "arn:aws:logs:*:*:log-group:/app/*"},
        {"Effect": "Allow", "Action": "logs:Describe*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["logs:Get*", "logs:Filter*"], "Resource": ["arn:aws:logs:*:*:log-group:/app/*:*", "arn:aws:logs:*:*:log-group:/web/*"]},
        {"Effect": "Deny", "Action": "logs:Delete*", "Resource": "*"},
        {"Effect": "Deny", "Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:/logsight/audit*"}
    ]}))
    .unwrap();
    let arn = "arn:aws:logs:us-east-1:000000000000:log-group:/app/web-frontend-production";
    let all = format!("{arn}:*");
    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(1));
    g.bench_function("evaluate_5_statements", |b| {
        b.iter(|| black_box(policy.evaluate(black_box("logs:PutLogEvents"), &[arn, &all])))
    });
    g.finish();

    let mut g = c.benchmark_group("parse_put_log_events");
    for n in [1_000, 5_000] {
        let body = body(&lines, n);
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("{n}_events"), |b| {
            b.iter(|| {
                let r: logsight_http::ops::PutLogEvents =
                    serde_json::from_slice(black_box(&body)).unwrap();
                black_box(r)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
