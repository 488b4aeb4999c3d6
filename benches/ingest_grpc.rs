//! End-to-end ingest over loopback gRPC: the server in-process (fsync on, sealer running) and
//! several concurrent tonic clients sending PutLogEvents batches of Loghub lines (1,000 and
//! 4,000 events: 10,000 Loghub lines exceed the 1 MiB batch limit), on one
//! machine. Reports acknowledged events/s, the p99 latency of a PutLogEvents call under that
//! load, and peak resident memory (server and clients share the process, so it bounds both).
//! The server builds its derived artifacts (full-text index, JSON field columns) in the
//! background as it does in production, so the figures include indexing; after each sustained
//! run the bench reports how far indexing lagged: the sealed segments still without an index
//! when the last call was acknowledged, and how long until every one had it.
#![allow(missing_docs)] // criterion's macros generate undocumented items

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group};
use logsight_proto::v1 as pb;
use logsight_proto::v1::logs_client::LogsClient;
use logsight_storage::{Store, StoreOptions};
use tonic::transport::Channel;

const CLIENTS: usize = 4;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

struct Bench {
    rt: tokio::runtime::Runtime,
    clients: Vec<LogsClient<Channel>>,
    lines: Arc<Vec<String>>,
    seq: Arc<AtomicU64>,
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

fn setup() -> Bench {
    let lines = Arc::new(common::loghub_lines());
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(Store::open(dir.path(), StoreOptions::default()).expect("store opens"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let clients = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(logsight_server::run(
            listener,
            store.clone(),
            Default::default(),
            std::future::pending(),
        ));
        let mut clients = Vec::new();
        for k in 0..CLIENTS {
            // One connection per client, as separate agents would have.
            let mut c = LogsClient::connect(format!("http://{addr}")).await.expect("connect");
            if k == 0 {
                c.create_log_group(pb::CreateLogGroupRequest { log_group_name: "bench".into() })
                    .await
                    .expect("group");
            }
            c.create_log_stream(pb::CreateLogStreamRequest {
                log_group_name: "bench".into(),
                log_stream_name: format!("s{k}"),
            })
            .await
            .expect("stream");
            clients.push(c);
        }
        clients
    });
    Bench { rt, clients, lines, seq: Arc::new(AtomicU64::new(0)), store, _dir: dir }
}

/// Sends `per_client` batches of `batch` events from every client at once; returns the
/// latency of each call.
fn load(b: &Bench, batch: usize, per_client: u64) -> Vec<Duration> {
    b.rt.block_on(async {
        let tasks: Vec<_> = b
            .clients
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let (mut c, lines, seq) = (c.clone(), b.lines.clone(), b.seq.clone());
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per_client as usize);
                    for _ in 0..per_client {
                        let n = seq.fetch_add(1, Ordering::Relaxed) as usize;
                        let at = (n * 7919) % (lines.len() - batch);
                        let ts = now_ms();
                        let req = pb::PutLogEventsRequest {
                            log_group_name: "bench".into(),
                            log_stream_name: format!("s{k}"),
                            log_events: lines[at..at + batch]
                                .iter()
                                .map(|m| pb::InputLogEvent { timestamp: ts, message: m.clone() })
                                .collect(),
                            sequence_token: None,
                        };
                        let t = Instant::now();
                        c.put_log_events(req).await.expect("put");
                        lat.push(t.elapsed());
                    }
                    lat
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        all
    })
}

fn bench_ingest(c: &mut Criterion) {
    let b = setup();
    // A sustained run first, for the figures criterion does not give: events/s, p99, RSS.
    for batch in [1000usize, 4000] {
        let per_client = (300_000 / batch) as u64; // 1.2M events in all
        let start = Instant::now();
        let mut lat = load(&b, batch, per_client);
        let secs = start.elapsed().as_secs_f64();
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        eprintln!(
            "sustained: {CLIENTS} clients x {per_client} batches of {batch}: {:.0} events/s acknowledged; PutLogEvents p50 {:?}, p99 {:?}, max {:?}",
            (CLIENTS as u64 * per_client * batch as u64) as f64 / secs,
            p(0.50),
            p(0.99),
            lat[lat.len() - 1]
        );
        // Indexing lag: seal what is buffered, then wait for the background builders.
        let kinds = [logsight_index::kind(), logsight_columns::kind()];
        let behind = |b: &Bench| kinds.iter().map(|k| b.store.segments_without(k).len()).max();
        let at_end = behind(&b).unwrap_or(0);
        b.store.flush().expect("flush");
        let waited = Instant::now();
        while behind(&b).unwrap_or(0) > 0 && waited.elapsed() < Duration::from_secs(600) {
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "indexing lag: {at_end} sealed segments without index or columns at the last ack; all built {:.2} s after it (the last, flushed segment included)",
            waited.elapsed().as_secs_f64()
        );
    }
    let mut g = c.benchmark_group("logsight_server::PutLogEvents");
    g.measurement_time(Duration::from_secs(10)).sample_size(10);
    for batch in [1000usize, 4000] {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(format!("{CLIENTS} clients, loopback gRPC, fsync, batch {batch}"), |bn| {
            bn.iter_custom(|iters| {
                let per_client = iters.div_ceil(CLIENTS as u64);
                let start = Instant::now();
                load(&b, batch, per_client);
                start.elapsed().mul_f64(iters as f64 / (per_client * CLIENTS as u64) as f64)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench_ingest);

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
    if let Some(peak) = common::peak_rss_bytes() {
        eprintln!("peak resident memory (VmHWM): {:.1} MiB", peak as f64 / (1 << 20) as f64);
    }
}
