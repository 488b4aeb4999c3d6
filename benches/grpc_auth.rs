//! The per-call CPU work that authentication adds to the gRPC API, on one core, for
//! PutLogEvents calls holding 1,000 or 4,000 real Loghub lines (distinct, in file order; about
//! 130 KB and 520 KB of protobuf):
//!
//! - `grpc_describe`: what the gate reads from the request message before the call runs (the
//!   group, the event count and bytes for the audit record), next to `grpc_decode`, the full
//!   decode tonic does for the service anyway.
//! - `grpc_sign`: the client's work, the body's SHA-256 and the signature.
//! - `grpc_verify`: the server's, the body's SHA-256 and the signature check.
//!
//! Run: `cargo bench --bench grpc_auth`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{Method, Uri};
use logsight_auth::Principals;
use logsight_auth::sigv4::{self, Credentials};
use logsight_proto::v1 as pb;
use prost::Message;

const PRINCIPALS: &str = r#"[{"name": "agent", "access_key_id": "AKIDAGENT", "secret_access_key": "agent-secret-key",
  "policy": {"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}}]"#;
const PATH: &str = "/logsight.v1.Logs/PutLogEvents";

/// A PutLogEvents call's body (the length-prefixed message) of `n` Loghub lines.
fn body(lines: &[String], n: usize) -> Bytes {
    let req = pb::PutLogEventsRequest {
        log_group_name: "/app/web".into(),
        log_stream_name: "host-1".into(),
        log_events: lines
            .iter()
            .cycle()
            .take(n)
            .enumerate()
            .map(|(i, l)| pb::InputLogEvent {
                timestamp: 1_714_564_800_000 + i as i64,
                message: l.clone(),
            })
            .collect(),
        sequence_token: None,
    };
    let msg = req.encode_to_vec();
    let mut out = vec![0];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(&msg);
    out.into()
}

fn bench(c: &mut Criterion) {
    let lines = common::loghub_lines();
    let principals = Principals::from_json(PRINCIPALS).unwrap();
    let creds = Credentials::new("AKIDAGENT", "agent-secret-key");
    let uri: Uri = format!("http://127.0.0.1:7070{PATH}").parse().unwrap();
    let now = 1_714_564_800;
    let bodies: Vec<(usize, Bytes)> = [1_000, 4_000].map(|n| (n, body(&lines, n))).to_vec();

    for (name, decode) in [("grpc_describe", false), ("grpc_decode", true)] {
        let mut g = c.benchmark_group(name);
        for (n, body) in &bodies {
            g.throughput(Throughput::Bytes(body.len() as u64));
            g.bench_function(format!("{n}_events"), |b| {
                b.iter(|| {
                    if decode {
                        let r = pb::PutLogEventsRequest::decode(black_box(body).slice(5..));
                        black_box(r.unwrap().log_events.len())
                    } else {
                        let d = logsight_server::grpc_calls::describe(PATH, black_box(body));
                        black_box(d.unwrap().groups.len())
                    }
                })
            });
        }
        g.finish();
    }

    let mut g = c.benchmark_group("grpc_sign");
    for (n, body) in &bodies {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("{n}_events"), |b| {
            b.iter(|| {
                let hash = sigv4::sha256_hex(black_box(body));
                let h = logsight_auth::grpc::sign_call(&uri, &hash, &creds, "us-east-1", now, "n")
                    .unwrap();
                black_box(h.len())
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("grpc_verify");
    for (n, body) in &bodies {
        let hash = sigv4::sha256_hex(body);
        let headers =
            logsight_auth::grpc::sign_call(&uri, &hash, &creds, "us-east-1", now, "n").unwrap();
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("{n}_events"), |b| {
            b.iter(|| {
                let req = sigv4::Request::new(&Method::POST, &uri, &headers);
                let v = principals.verify(&req, &sigv4::sha256_hex(black_box(body)), now, 900);
                black_box(v.unwrap().principal.name().len())
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
