//! Live tail sessions (StartLiveTail) against an in-process server on 127.0.0.1:0: the session
//! start, updates at the configured interval even when idle, sampling to 500, a slow client's
//! dropped updates, the session timeout, filters, and the request rules.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use logsight_proto::v1 as pb;
use logsight_proto::v1::logs_client::LogsClient;
use logsight_server::ServerOptions;
use pb::start_live_tail_response::ResponseStream;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::{TestServer, create, now_ms};

type Client = LogsClient<Channel>;
type Tail = tonic::Streaming<pb::StartLiveTailResponse>;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A server whose sessions update every `interval_ms` and last `timeout`.
fn server(interval_ms: u64, timeout: Duration) -> TestServer {
    TestServer::start_with(ServerOptions {
        live_tail_update_interval: Duration::from_millis(interval_ms),
        live_tail_timeout: timeout,
        ..Default::default()
    })
}

const HOUR: Duration = Duration::from_secs(3600);

async fn put(c: &mut Client, group: &str, stream: &str, messages: Vec<String>) {
    let now = now_ms();
    c.put_log_events(pb::PutLogEventsRequest {
        log_group_name: group.into(),
        log_stream_name: stream.into(),
        log_events: messages
            .into_iter()
            .map(|message| pb::InputLogEvent { timestamp: now, message })
            .collect(),
        sequence_token: None,
    })
    .await
    .unwrap();
}

fn request(groups: &[&str], pattern: &str) -> pb::StartLiveTailRequest {
    pb::StartLiveTailRequest {
        log_group_names: groups.iter().map(|g| g.to_string()).collect(),
        log_event_filter_pattern: pattern.into(),
        ..Default::default()
    }
}

/// Starts a session and checks that its first message is the session start.
async fn start(c: &mut Client, req: pb::StartLiveTailRequest) -> (pb::LiveTailSessionStart, Tail) {
    let mut tail = c.start_live_tail(req).await.unwrap().into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), tail.next()).await.unwrap();
    match first.unwrap().unwrap().response_stream {
        Some(ResponseStream::SessionStart(s)) => (s, tail),
        other => panic!("the first message is not the session start: {other:?}"),
    }
}

async fn next_update(tail: &mut Tail) -> pb::LiveTailSessionUpdate {
    let m = tokio::time::timeout(Duration::from_secs(10), tail.next()).await.expect("an update");
    match m.expect("the session goes on").expect("no error").response_stream {
        Some(ResponseStream::SessionUpdate(u)) => u,
        other => panic!("expected an update, got {other:?}"),
    }
}

/// `group/stream: message` of every event in updates until `last` has been seen.
async fn collect_until(tail: &mut Tail, last: &str) -> Vec<String> {
    let mut got = Vec::new();
    while !got.iter().any(|g: &String| g.ends_with(last)) {
        let u = next_update(tail).await;
        assert!(u.session_results.len() <= 500);
        got.extend(
            u.session_results
                .into_iter()
                .map(|e| format!("{}/{}: {}", e.log_group_name, e.log_stream_name, e.message)),
        );
    }
    got.sort();
    got
}

#[track_caller]
fn assert_err<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, starts: &str) {
    let s = r.expect_err("expected an error");
    assert_eq!(s.code(), code, "{}", s.message());
    assert!(s.message().starts_with(starts), "{:?} does not start with {starts:?}", s.message());
}

#[test]
fn the_session_starts_first_then_updates_every_interval_even_when_idle() {
    let server = server(100, HOUR);
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["web-1"]).await;
        let (start, mut tail) = start(
            &mut c,
            pb::StartLiveTailRequest {
                log_stream_name_prefixes: vec!["web-".into()],
                ..request(&["g"], "ERROR")
            },
        )
        .await;
        assert_eq!(start.log_group_names, ["g"]);
        assert_eq!(start.log_stream_name_prefixes, ["web-"]);
        assert!(start.log_stream_names.is_empty());
        assert_eq!(start.log_event_filter_pattern, "ERROR");
        assert_eq!((start.session_id.len(), start.request_id.len()), (36, 36));
        assert_ne!(start.session_id, start.request_id);
        let began = Instant::now();
        for _ in 0..10 {
            let u = next_update(&mut tail).await;
            assert!(u.session_results.is_empty());
            let meta = u.session_metadata.unwrap();
            assert!(!meta.sampled && meta.dropped_events == 0);
        }
        // Ten 100 ms intervals; generous above for a loaded machine.
        let took = began.elapsed();
        assert!(
            took >= Duration::from_millis(850) && took < Duration::from_secs(4),
            "10 updates took {took:?}"
        );
    });
}

#[test]
fn the_filter_pattern_and_stream_filters_apply() {
    let server = server(100, HOUR);
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s", "web-1", "web-2", "db"]).await;
        create(&mut c, "h", &["t"]).await;
        put(&mut c, "g", "s", vec!["ERROR before the session".into()]).await;
        let (_, mut tail) = start(&mut c, request(&["g", "h"], "ERROR")).await;
        put(&mut c, "g", "s", vec!["INFO skipped".into(), "ERROR one".into()]).await;
        put(&mut c, "h", "t", vec!["ERROR two".into()]).await;
        put(&mut c, "g", "s", vec!["ERROR last".into()]).await;
        assert_eq!(
            collect_until(&mut tail, "ERROR last").await,
            ["g/s: ERROR last", "g/s: ERROR one", "h/t: ERROR two"]
        );

        let (_, mut tail) = start(
            &mut c,
            pb::StartLiveTailRequest {
                log_stream_name_prefixes: vec!["web-".into()],
                ..request(&["g"], "")
            },
        )
        .await;
        put(&mut c, "g", "db", vec!["db".into()]).await;
        put(&mut c, "g", "web-1", vec!["w1".into()]).await;
        put(&mut c, "g", "web-2", vec!["w2".into()]).await;
        assert_eq!(collect_until(&mut tail, "w2").await, ["g/web-1: w1", "g/web-2: w2"]);

        let (start, mut tail) = start(
            &mut c,
            pb::StartLiveTailRequest { log_stream_names: vec!["db".into()], ..request(&["g"], "") },
        )
        .await;
        assert_eq!(start.log_stream_names, ["db"]);
        put(&mut c, "g", "web-1", vec!["w1".into()]).await;
        put(&mut c, "g", "db", vec!["db".into()]).await;
        assert_eq!(collect_until(&mut tail, "db").await, ["g/db: db"]);
    });
}

#[test]
fn more_than_500_events_in_one_interval_are_sampled_to_500() {
    let server = server(200, HOUR);
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
        let (_, mut tail) = start(&mut c, request(&["g"], "ERROR")).await;
        // One batch is published at once, so all of it falls in one interval.
        let batch: Vec<String> = (0..1300)
            .map(|i| if i % 13 == 0 { format!("INFO {i:04}") } else { format!("ERROR {i:04}") })
            .collect();
        put(&mut c, "g", "s", batch).await;
        let u = loop {
            let u = next_update(&mut tail).await;
            if !u.session_results.is_empty() {
                break u;
            }
        };
        assert!(u.session_metadata.unwrap().sampled);
        let got: Vec<usize> = u
            .session_results
            .iter()
            .map(|e| e.message.strip_prefix("ERROR ").expect("matched").parse().unwrap())
            .collect();
        assert_eq!(got.len(), 500);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "distinct, in arrival order");
        assert!(*got.last().unwrap() >= 600, "a sample of all 1200, not the first 500: {got:?}");
        let next = next_update(&mut tail).await;
        assert!(next.session_results.is_empty() && !next.session_metadata.unwrap().sampled);
        // Within the limit, an update holds everything and is not marked.
        put(&mut c, "g", "s", (0..500).map(|i| format!("ERROR {i}")).collect()).await;
        let u = loop {
            let u = next_update(&mut tail).await;
            if !u.session_results.is_empty() {
                break u;
            }
        };
        assert_eq!(u.session_results.len(), 500);
        assert!(!u.session_metadata.unwrap().sampled);
    });
}

#[test]
fn a_slow_client_loses_the_oldest_updates_and_is_told_how_many_events() {
    let server = server(50, HOUR);
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
        let (_, mut tail) = start(&mut c, request(&["g"], "")).await;
        // 40 updates of 500 events of 1 KB (one batch per interval), written while the client
        // reads nothing: about 20 MB against 10 buffered updates plus what HTTP/2 holds (a few
        // MB).
        let pad = "x".repeat(1000);
        for b in 0..40 {
            put(&mut c, "g", "s", (0..500).map(|i| format!("{b:02} {i:03} {pad}")).collect()).await;
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let (mut delivered, mut dropped, mut newest_seen) = (0u64, 0u64, false);
        for _ in 0..200 {
            let u = next_update(&mut tail).await;
            let meta = u.session_metadata.unwrap();
            delivered += u.session_results.len() as u64;
            dropped += meta.dropped_events;
            if u.session_results.iter().any(|e| e.message.starts_with("39 ")) {
                newest_seen = true;
                break;
            }
        }
        assert!(newest_seen, "the newest events are kept");
        assert!(dropped > 0, "nothing dropped ({delivered} delivered)");
        assert!(delivered + dropped <= 20_000, "{delivered} + {dropped}");
    });
}

#[test]
fn the_session_times_out_with_session_timeout_exception() {
    let server = server(100, Duration::from_secs(2));
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
        let began = Instant::now();
        let (start, mut tail) = start(&mut c, request(&["g"], "")).await;
        let mut updates = 0;
        let status = loop {
            let m = tokio::time::timeout(Duration::from_secs(10), tail.next()).await.unwrap();
            match m.expect("the stream ends with a status") {
                Ok(m) => {
                    assert!(matches!(m.response_stream, Some(ResponseStream::SessionUpdate(_))));
                    updates += 1;
                }
                Err(s) => break s,
            }
        };
        let took = began.elapsed();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{}", status.message());
        assert_eq!(
            status.message(),
            format!(
                "SessionTimeoutException: live tail session {} reached the maximum session \
                 duration of 2s; start a new session to go on",
                start.session_id
            )
        );
        assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(6), "{took:?}");
        assert!((10..=21).contains(&updates), "{updates} updates in 2 s at 100 ms");
        assert!(tail.next().await.is_none(), "nothing after the status");
    });
}

#[test]
fn requests_breaking_the_rules_are_refused() {
    let server = server(100, HOUR);
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
        create(&mut c, "h", &[]).await;
        let eleven: Vec<String> = (0..11).map(|i| format!("g{i}")).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        let invalid = "InvalidParameterException: ";
        let cases = [
            (request(&[], ""), "log_group_names holds 0 names: must be 1 to 10"),
            (request(&eleven, ""), "log_group_names holds 11 names: must be 1 to 10"),
            (request(&["g", "g"], ""), "log_group_names holds \"g\" more than once"),
            (request(&["aws/x"], ""), "invalid log group name \"aws/x\": must not start with"),
            (
                pb::StartLiveTailRequest {
                    log_stream_names: vec!["s".into()],
                    ..request(&["g", "h"], "")
                },
                "log_stream_names can only be given with exactly one log group",
            ),
            (
                pb::StartLiveTailRequest {
                    log_stream_name_prefixes: vec!["s".into()],
                    ..request(&["g", "h"], "")
                },
                "log_stream_name_prefixes can only be given with exactly one log group",
            ),
            (
                pb::StartLiveTailRequest {
                    log_stream_names: vec!["s".into()],
                    log_stream_name_prefixes: vec!["s".into()],
                    ..request(&["g"], "")
                },
                "give log_stream_names or log_stream_name_prefixes, not both",
            ),
            (request(&["g"], "%(a)%"), "invalid filter pattern \"%(a)%\""),
        ];
        let mut seen = HashSet::new();
        for (req, want) in cases {
            assert!(seen.insert(want));
            assert_err(
                c.start_live_tail(req).await,
                Code::InvalidArgument,
                &format!("{invalid}{want}"),
            );
        }
        assert_err(
            c.start_live_tail(request(&["g", "nope"], "")).await,
            Code::NotFound,
            "ResourceNotFoundException: log group \"nope\" does not exist",
        );
    });
}
