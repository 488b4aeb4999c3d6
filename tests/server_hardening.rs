//! Hostile and careless clients (issue 16, items 8-13 and 15): raw HTTP/2 bodies that lie,
//! stall or do not decode, huge echoed values, tokens replayed elsewhere, pages that must stay
//! short, idle connections, and live tails of a deleted group. Each test fails on the server
//! before its fix (stated per test).

use std::collections::BTreeSet;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use logsight_proto::v1 as pb;
use logsight_server::ServerOptions;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::Code;
use tower::ServiceExt;

use crate::support::{FedBody, TestServer, create, now_ms};

type Client = pb::logs_client::LogsClient<tonic::transport::Channel>;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A gRPC frame header announcing `len` bytes of message.
fn header(len: u32) -> Vec<u8> {
    let mut h = vec![0];
    h.extend(len.to_be_bytes());
    h
}

/// A whole gRPC frame holding `message`.
fn framed(message: &[u8]) -> Bytes {
    let mut f = header(message.len() as u32);
    f.extend_from_slice(message);
    f.into()
}

/// Sends `chunks` as the body of a raw call to `method` and returns the call's status, keeping
/// the body open (stalled) after the chunks unless `end` is set.
async fn raw_call(
    channel: tonic::transport::Channel,
    method: &str,
    chunks: Vec<Bytes>,
    end: bool,
) -> tonic::Status {
    let (tx, rx) = mpsc::channel(chunks.len() + 1);
    for c in chunks {
        tx.send(c).await.unwrap();
    }
    let keep = if end { None } else { Some(tx) };
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost/logsight.v1.Logs/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(FedBody(rx)))
        .unwrap();
    let resp = channel.oneshot(req).await.expect("the call is answered");
    drop(keep);
    let (parts, mut body) = resp.into_parts();
    if let Some(s) = tonic::Status::from_header_map(&parts.headers) {
        return s;
    }
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(trailers) = frame.expect("a response frame").into_trailers() {
            return tonic::Status::from_header_map(&trailers).expect("a grpc-status trailer");
        }
    }
    panic!("no grpc-status in the response");
}

async fn channel(server: &TestServer) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(server.endpoint.clone())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn put(c: &mut Client, group: &str, stream: &str, messages: &[String]) {
    let now = now_ms();
    let log_events =
        messages.iter().map(|m| pb::InputLogEvent { timestamp: now, message: m.clone() }).collect();
    c.put_log_events(pb::PutLogEventsRequest {
        log_group_name: group.into(),
        log_stream_name: stream.into(),
        log_events,
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Before: INTERNAL ("failed to decode Protobuf message") and OUT_OF_RANGE with no exception.
#[test]
fn malformed_and_oversized_messages_are_invalid_parameter() {
    let server = TestServer::start();
    rt().block_on(async {
        let ch = channel(&server).await;
        // A varint where a string belongs; invalid UTF-8; a length past the end.
        for message in [&b"\x08\x05"[..], b"\x0a\x02\xff\xfe", b"\x0a\x09ab"] {
            let s = raw_call(ch.clone(), "CreateLogGroup", vec![framed(message)], true).await;
            assert_eq!(s.code(), Code::InvalidArgument, "{message:?}: {s:?}");
            assert!(
                s.message().starts_with("InvalidParameterException: malformed protobuf message"),
                "{s:?}"
            );
        }
        // 17 MiB announced: refused from the header, before the body is read.
        let mut chunk = header(17 << 20);
        chunk.extend(vec![0x0a; 1024]);
        let s = raw_call(ch.clone(), "CreateLogGroup", vec![chunk.into()], false).await;
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert_eq!(
            s.message(),
            "InvalidParameterException: the request message is 17825792 bytes, more than the \
             limit of 16777216 bytes"
        );
        let mut c = Client::new(ch);
        let groups = c.describe_log_groups(pb::DescribeLogGroupsRequest::default()).await.unwrap();
        assert!(groups.into_inner().log_groups.is_empty());
    });
}

/// Before: the values came back whole, and a 1 MiB one failed in the client ("metadata size
/// exceeds hard limit") instead of reading as InvalidParameterException.
#[test]
fn error_messages_cut_what_they_quote() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
        let huge_token = "t".repeat(1 << 20);
        let calls: Vec<(&str, Result<(), tonic::Status>)> = vec![
            (
                "GetLogEvents token",
                c.get_log_events(pb::GetLogEventsRequest {
                    log_group_name: "g".into(),
                    log_stream_name: "s".into(),
                    next_token: Some(huge_token.clone()),
                    ..Default::default()
                })
                .await
                .map(drop),
            ),
            (
                "DescribeLogGroups token",
                c.describe_log_groups(pb::DescribeLogGroupsRequest {
                    next_token: Some(huge_token.clone()),
                    ..Default::default()
                })
                .await
                .map(drop),
            ),
            (
                "FilterLogEvents pattern",
                c.filter_log_events(pb::FilterLogEventsRequest {
                    log_group_name: "g".into(),
                    filter_pattern: format!("{{ $.a = {}", "x".repeat(100_000)),
                    ..Default::default()
                })
                .await
                .map(drop),
            ),
            (
                "DescribeLogStreams prefix",
                c.describe_log_streams(pb::DescribeLogStreamsRequest {
                    log_group_name: "g".into(),
                    log_stream_name_prefix: "p".repeat(20_000),
                    order_by: pb::OrderBy::LastEventTime as i32,
                    ..Default::default()
                })
                .await
                .map(drop),
            ),
        ];
        for (what, r) in calls {
            let s = r.expect_err(what);
            let head: String = s.message().chars().take(200).collect();
            assert_eq!(s.code(), Code::InvalidArgument, "{what}: {head}");
            assert!(s.message().starts_with("InvalidParameterException: "), "{what}");
            assert!(s.message().len() < 1200, "{what}: {} bytes", s.message().len());
        }
    });
}

async fn get_page(
    c: &mut Client,
    group: &str,
    token: Option<String>,
) -> Result<pb::GetLogEventsResponse, tonic::Status> {
    c.get_log_events(pb::GetLogEventsRequest {
        log_group_name: group.into(),
        log_stream_name: "s".into(),
        next_token: token,
        start_from_head: Some(true),
        limit: Some(2),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

async fn filter_page(
    c: &mut Client,
    group: &str,
    streams: &[&str],
    token: Option<String>,
) -> Result<pb::FilterLogEventsResponse, tonic::Status> {
    c.filter_log_events(pb::FilterLogEventsRequest {
        log_group_name: group.into(),
        log_stream_names: streams.iter().map(|s| s.to_string()).collect(),
        next_token: token,
        limit: Some(2),
        ..Default::default()
    })
    .await
    .map(|r| r.into_inner())
}

/// Before: tokens were plain `f/<ts>/<skip>`, read another group's events from that position.
#[test]
fn paging_tokens_work_only_where_they_were_issued() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        for g in ["a", "b"] {
            create(&mut c, g, &["s", "t"]).await;
            let msgs: Vec<String> = (0..5).map(|i| format!("{g}-{i}")).collect();
            put(&mut c, g, "s", &msgs).await;
            put(&mut c, g, "t", &msgs).await;
        }
        let first = get_page(&mut c, "a", None).await.unwrap();
        let token = first.next_forward_token.clone();
        assert!(!token.contains("f/"), "{token}");
        // In its place it pages on.
        let next = get_page(&mut c, "a", Some(token.clone())).await.unwrap();
        assert_eq!(
            next.events.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["a-2", "a-3"]
        );
        let refused = |r: Result<(), tonic::Status>, what: &str| {
            let s = r.expect_err(what);
            assert_eq!(s.code(), Code::InvalidArgument, "{what}");
            assert!(s.message().contains("not issued for this operation"), "{what}: {s:?}");
        };
        refused(get_page(&mut c, "b", Some(token.clone())).await.map(drop), "another group");
        refused(
            filter_page(&mut c, "a", &[], Some(token.clone())).await.map(drop),
            "another operation",
        );
        let f = filter_page(&mut c, "a", &["s"], None).await.unwrap();
        let ftoken = f.next_token.expect("more pages");
        assert!(filter_page(&mut c, "a", &["s"], Some(ftoken.clone())).await.is_ok());
        refused(
            filter_page(&mut c, "a", &["s", "t"], Some(ftoken.clone())).await.map(drop),
            "other streams",
        );
        refused(
            filter_page(&mut c, "b", &["s"], Some(ftoken.clone())).await.map(drop),
            "other group",
        );
        // The old plain form is no token at all.
        let s = get_page(&mut c, "a", Some("f/0/0".into())).await.unwrap_err();
        assert_eq!(s.message(), "InvalidParameterException: invalid next_token \"f/0/0\"");
    });
}

/// Before: one call scanned up to 500,000 events whatever the time (28 s p99 under load); with
/// no time to scan, the call below returned every match in one page.
#[test]
fn filter_pages_are_bounded_in_time_and_together_find_every_match() {
    let server = TestServer::start_with(ServerOptions {
        filter_scan_time: Duration::ZERO,
        ..ServerOptions::default()
    });
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s0", "s1", "s2"]).await;
        let mut want = BTreeSet::new();
        for s in 0..3 {
            let msgs: Vec<String> = (0..1500)
                .map(|i| {
                    let kind = if (i * 7 + s) % 97 == 0 { "hit" } else { "miss" };
                    format!("event {s}-{i} {kind}")
                })
                .collect();
            want.extend(msgs.iter().filter(|m| m.ends_with("hit")).cloned());
            put(&mut c, "g", &format!("s{s}"), &msgs).await;
        }
        let (mut got, mut token, mut pages) = (Vec::new(), None, 0);
        loop {
            let r = c
                .filter_log_events(pb::FilterLogEventsRequest {
                    log_group_name: "g".into(),
                    filter_pattern: "hit".into(),
                    next_token: token.take(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            pages += 1;
            got.extend(r.events.into_iter().map(|e| e.message));
            match r.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        // 4,500 events, a look at the clock every 256: a page per 256 events scanned.
        assert!(pages >= 4500 / 256, "{pages} pages");
        let unique: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(unique.len(), got.len(), "a match was returned twice");
        assert_eq!(unique, want);
    });
}

/// Before: no budget applied until a message was decoded, so stalled bodies were held without
/// bound and these calls were never answered (the test's guard fails them).
#[test]
fn stalled_bodies_hold_no_more_than_the_budget() {
    let server = TestServer::start_with(ServerOptions {
        max_inflight_bytes: 4 << 20,
        admission_wait: Duration::from_millis(300),
        // Far past the admission wait, so no refused call could be admitted after a timeout.
        request_timeout: Duration::from_secs(5),
        ..ServerOptions::default()
    });
    rt().block_on(async {
        let ch = channel(&server).await;
        // Eight PutLogEvents that announce 1 MiB, send 1 KiB, and stall. Three fit the 4 MiB
        // budget (each holds 1 MiB + 5 bytes, rounded to 1025 KiB); five are refused.
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let mut chunk = header(1 << 20);
                chunk.extend(vec![0x0a; 1024]);
                tokio::spawn(raw_call(ch.clone(), "PutLogEvents", vec![chunk.into()], false))
            })
            .collect();
        let mut codes = Vec::new();
        for call in calls {
            let s = tokio::time::timeout(Duration::from_secs(60), call)
                .await
                .expect("a stalled call was never answered")
                .unwrap();
            if s.code() == Code::Unavailable {
                assert_eq!(s.metadata().get("retry-after-ms").unwrap(), "200");
                assert!(s.message().starts_with("ServiceUnavailableException: "), "{s:?}");
            }
            codes.push(s.code());
        }
        let refused = codes.iter().filter(|c| **c == Code::Unavailable).count();
        assert_eq!(refused, 5, "{codes:?}");
        // The admitted three were ended by the request timeout, and their budget returned.
        assert!(
            codes.iter().all(|c| matches!(c, Code::Unavailable | Code::Cancelled)),
            "{codes:?}"
        );
        let mut c = Client::new(ch);
        create(&mut c, "g", &["s"]).await;
        put(&mut c, "g", "s", &["after".into()]).await;
    });
}

/// Before: connections were never closed, however long they stayed silent.
#[test]
fn a_silent_connection_is_closed() {
    let server = TestServer::start_with(ServerOptions {
        idle_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    rt().block_on(async {
        let addr = server.endpoint.trim_start_matches("http://");
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = vec![0; 1024];
        // The server may send its HTTP/2 settings first; then it closes.
        let closed = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the idle connection was still open after 30 s");
        // A client on a fresh connection is served as usual.
        let mut c = server.client().await;
        create(&mut c, "g", &[]).await;
    });
}

/// Before: a live tail of a deleted group went on, silent, until its 3 h timeout.
#[test]
fn deleting_a_group_ends_its_live_tails() {
    let server = TestServer::start_with(ServerOptions {
        live_tail_update_interval: Duration::from_millis(50),
        ..ServerOptions::default()
    });
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
        let mut tail = c
            .start_live_tail(pb::StartLiveTailRequest {
                log_group_names: vec!["g".into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        tail.message().await.unwrap().expect("the session start");
        c.delete_log_group(pb::DeleteLogGroupRequest { log_group_name: "g".into() }).await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match tail.message().await {
                    Ok(Some(_update)) => {}
                    Ok(None) => panic!("the session ended without saying why"),
                    Err(s) => return s,
                }
            }
        })
        .await
        .expect("the session outlived its group");
        assert_eq!(end.code(), Code::NotFound, "{end:?}");
        assert!(
            end.message().starts_with("ResourceNotFoundException: log group \"g\" was deleted"),
            "{end:?}"
        );
    });
}

/// Acknowledgements come back in the order the batches were sent, so a retried batch's
/// `duplicate` never arrives before the original's acknowledgement.
#[test]
fn ingest_acknowledgements_keep_the_order_of_the_batches() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
        let now = now_ms();
        let batches: Vec<pb::IngestStreamRequest> = (0..64u64)
            .map(|i| pb::IngestStreamRequest {
                batch_id: i,
                log_group_name: "g".into(),
                log_stream_name: "s".into(),
                // Every batch twice in a row: the original, then its retry.
                producer_id: format!("p{}", i / 2),
                sequence: 1,
                log_events: vec![pb::InputLogEvent {
                    timestamp: now,
                    message: format!("m{} {}", i / 2, "x".repeat(((i * 7919) % 20_000) as usize)),
                }],
            })
            .collect();
        let acks: Vec<pb::IngestStreamResponse> = c
            .ingest_stream(tokio_stream::iter(batches))
            .await
            .unwrap()
            .into_inner()
            .map(|a| a.unwrap())
            .collect::<Vec<_>>()
            .await;
        let ids: Vec<u64> = acks.iter().map(|a| a.batch_id).collect();
        assert_eq!(ids, (0..64).collect::<Vec<_>>());
        // Of each pair one was stored and one found to be a duplicate (which one is a race).
        for pair in acks.chunks(2) {
            assert!(pair.iter().all(|a| a.error_type.is_empty()), "{pair:?}");
            assert_eq!(pair.iter().filter(|a| a.duplicate).count(), 1, "{pair:?}");
        }
    });
}
