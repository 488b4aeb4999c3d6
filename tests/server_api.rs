//! Every RPC of the gRPC API against an in-process server on 127.0.0.1:0: results, paging to
//! the end, each documented error, and the PutLogEvents rejection rules. Live tail sessions
//! have their own module, `live_tail`.

use std::collections::HashSet;
use std::time::Duration;

use logsight_proto::v1 as pb;
use logsight_proto::v1::logs_client::LogsClient;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::{TestServer, now_ms, read_all};

type Client = LogsClient<Channel>;

const H: i64 = 3_600_000;
const D: i64 = 24 * H;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[track_caller]
fn assert_err<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, starts: &str) {
    let s = r.expect_err("expected an error");
    assert_eq!(s.code(), code, "{}", s.message());
    assert!(s.message().starts_with(starts), "{:?} does not start with {starts:?}", s.message());
}

async fn group(c: &mut Client, name: &str) {
    c.create_log_group(pb::CreateLogGroupRequest { log_group_name: name.into() }).await.unwrap();
}

async fn stream(c: &mut Client, g: &str, s: &str) {
    c.create_log_stream(pb::CreateLogStreamRequest {
        log_group_name: g.into(),
        log_stream_name: s.into(),
    })
    .await
    .unwrap();
}

fn ev(timestamp: i64, message: impl Into<String>) -> pb::InputLogEvent {
    pb::InputLogEvent { timestamp, message: message.into() }
}

async fn put(
    c: &mut Client,
    g: &str,
    s: &str,
    events: Vec<pb::InputLogEvent>,
) -> Result<pb::PutLogEventsResponse, tonic::Status> {
    c.put_log_events(pb::PutLogEventsRequest {
        log_group_name: g.into(),
        log_stream_name: s.into(),
        log_events: events,
        sequence_token: Some("ignored".into()),
    })
    .await
    .map(|r| r.into_inner())
}

#[test]
fn log_groups_create_describe_page_retention_delete() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        for name in ["b", "a/x", "a/y", "a.z", "c", "A"] {
            group(&mut c, name).await;
        }
        assert_err(
            c.create_log_group(pb::CreateLogGroupRequest { log_group_name: "a/x".into() }).await,
            Code::AlreadyExists,
            "ResourceAlreadyExistsException: log group \"a/x\" already exists",
        );
        assert_err(
            c.create_log_group(pb::CreateLogGroupRequest { log_group_name: "bad name".into() })
                .await,
            Code::InvalidArgument,
            "InvalidParameterException: invalid log group name \"bad name\"",
        );
        // ASCII order, paged two at a time to the end.
        let mut names = Vec::new();
        let mut token = None;
        let mut pages = 0;
        loop {
            let r = c
                .describe_log_groups(pb::DescribeLogGroupsRequest {
                    log_group_name_prefix: String::new(),
                    limit: Some(2),
                    next_token: token.take(),
                })
                .await
                .unwrap()
                .into_inner();
            pages += 1;
            assert!(r.log_groups.len() <= 2);
            names.extend(r.log_groups.into_iter().map(|g| g.log_group_name));
            match r.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(names, ["A", "a.z", "a/x", "a/y", "b", "c"]);
        assert_eq!(pages, 3);
        let r = c
            .describe_log_groups(pb::DescribeLogGroupsRequest {
                log_group_name_prefix: "a/".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let got: Vec<_> = r.log_groups.iter().map(|g| g.log_group_name.as_str()).collect();
        assert_eq!(got, ["a/x", "a/y"]);
        assert!(r.next_token.is_none());
        assert!(r.log_groups[0].creation_time > 0 && r.log_groups[0].retention_in_days.is_none());
        for limit in [0, 51] {
            assert_err(
                c.describe_log_groups(pb::DescribeLogGroupsRequest {
                    limit: Some(limit),
                    ..Default::default()
                })
                .await,
                Code::InvalidArgument,
                &format!("InvalidParameterException: limit {limit} is out of range"),
            );
        }
        assert_err(
            c.describe_log_groups(pb::DescribeLogGroupsRequest {
                next_token: Some("garbage".into()),
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "InvalidParameterException: invalid next_token \"garbage\"",
        );
        // Retention.
        c.put_retention_policy(pb::PutRetentionPolicyRequest {
            log_group_name: "b".into(),
            retention_in_days: 30,
        })
        .await
        .unwrap();
        let r = c
            .describe_log_groups(pb::DescribeLogGroupsRequest {
                log_group_name_prefix: "b".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.log_groups[0].retention_in_days, Some(30));
        assert_err(
            c.put_retention_policy(pb::PutRetentionPolicyRequest {
                log_group_name: "b".into(),
                retention_in_days: 31,
            })
            .await,
            Code::InvalidArgument,
            "InvalidParameterException: invalid retention 31 days",
        );
        assert_err(
            c.put_retention_policy(pb::PutRetentionPolicyRequest {
                log_group_name: "nope".into(),
                retention_in_days: 30,
            })
            .await,
            Code::NotFound,
            "ResourceNotFoundException: log group \"nope\" does not exist",
        );
        c.delete_retention_policy(pb::DeleteRetentionPolicyRequest { log_group_name: "b".into() })
            .await
            .unwrap();
        let r = c
            .describe_log_groups(pb::DescribeLogGroupsRequest {
                log_group_name_prefix: "b".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.log_groups[0].retention_in_days, None);
        assert_err(
            c.delete_retention_policy(pb::DeleteRetentionPolicyRequest {
                log_group_name: "nope".into(),
            })
            .await,
            Code::NotFound,
            "ResourceNotFoundException",
        );
        // Delete.
        c.delete_log_group(pb::DeleteLogGroupRequest { log_group_name: "c".into() }).await.unwrap();
        assert_err(
            c.delete_log_group(pb::DeleteLogGroupRequest { log_group_name: "c".into() }).await,
            Code::NotFound,
            "ResourceNotFoundException: log group \"c\" does not exist",
        );
    });
}

#[test]
fn create_log_group_refuses_the_reserved_aws_prefix() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        assert_err(
            c.create_log_group(pb::CreateLogGroupRequest { log_group_name: "aws/foo".into() })
                .await,
            Code::InvalidArgument,
            "InvalidParameterException: invalid log group name \"aws/foo\": must not start with \"aws/\"",
        );
        group(&mut c, "/aws/foo").await;
    });
}

#[test]
fn log_streams_create_describe_order_page_delete() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        group(&mut c, "g").await;
        assert_err(
            c.create_log_stream(pb::CreateLogStreamRequest {
                log_group_name: "missing".into(),
                log_stream_name: "s".into(),
            })
            .await,
            Code::NotFound,
            "ResourceNotFoundException: log group \"missing\" does not exist",
        );
        assert_err(
            c.create_log_stream(pb::CreateLogStreamRequest {
                log_group_name: "g".into(),
                log_stream_name: "a:b".into(),
            })
            .await,
            Code::InvalidArgument,
            "InvalidParameterException: invalid log stream name \"a:b\": must not contain ':' or '*'",
        );
        let now = now_ms();
        for (i, name) in ["web-3", "web-1", "db-1", "web-2"].iter().enumerate() {
            stream(&mut c, "g", name).await;
            // Last event times: web-3 newest ... in reverse creation order.
            put(&mut c, "g", name, vec![ev(now - 1000 * i as i64, "x")]).await.unwrap();
        }
        assert_err(
            c.create_log_stream(pb::CreateLogStreamRequest {
                log_group_name: "g".into(),
                log_stream_name: "web-1".into(),
            })
            .await,
            Code::AlreadyExists,
            "ResourceAlreadyExistsException: log stream \"web-1\" already exists",
        );
        let base = c.clone();
        let list = move |order: pb::OrderBy, descending: bool, prefix: &str, limit: i32| {
            let mut c = base.clone();
            let prefix = prefix.to_owned();
            async move {
                let mut names = Vec::new();
                let mut token = None;
                loop {
                    let r = c
                        .describe_log_streams(pb::DescribeLogStreamsRequest {
                            log_group_name: "g".into(),
                            log_stream_name_prefix: prefix.clone(),
                            order_by: order as i32,
                            descending,
                            limit: Some(limit),
                            next_token: token.take(),
                        })
                        .await
                        .unwrap()
                        .into_inner();
                    names.extend(r.log_streams.into_iter().map(|s| s.log_stream_name));
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => return names,
                    }
                }
            }
        };
        assert_eq!(list(pb::OrderBy::LogStreamName, false, "", 1).await, ["db-1", "web-1", "web-2", "web-3"]);
        assert_eq!(list(pb::OrderBy::LogStreamName, true, "", 3).await, ["web-3", "web-2", "web-1", "db-1"]);
        assert_eq!(list(pb::OrderBy::LogStreamName, false, "web-", 2).await, ["web-1", "web-2", "web-3"]);
        assert_eq!(list(pb::OrderBy::LastEventTime, false, "", 3).await, ["web-2", "db-1", "web-1", "web-3"]);
        assert_eq!(list(pb::OrderBy::LastEventTime, true, "", 1).await, ["web-3", "web-1", "db-1", "web-2"]);
        assert_err(
            c.describe_log_streams(pb::DescribeLogStreamsRequest {
                log_group_name: "g".into(),
                log_stream_name_prefix: "web".into(),
                order_by: pb::OrderBy::LastEventTime as i32,
                ..Default::default()
            })
            .await,
            Code::InvalidArgument,
            "InvalidParameterException: Cannot order by LastEventTime with a logStreamNamePrefix",
        );
        assert_err(
            c.describe_log_streams(pb::DescribeLogStreamsRequest {
                log_group_name: "nope".into(),
                ..Default::default()
            })
            .await,
            Code::NotFound,
            "ResourceNotFoundException",
        );
        let r = c
            .describe_log_streams(pb::DescribeLogStreamsRequest {
                log_group_name: "g".into(),
                log_stream_name_prefix: "web-3".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let s = &r.log_streams[0];
        assert_eq!((s.first_event_timestamp, s.last_event_timestamp), (Some(now), Some(now)));
        assert!(s.last_ingestion_time.is_some_and(|t| t >= now - 3000));
        c.delete_log_stream(pb::DeleteLogStreamRequest {
            log_group_name: "g".into(),
            log_stream_name: "web-3".into(),
        })
        .await
        .unwrap();
        assert_err(
            c.delete_log_stream(pb::DeleteLogStreamRequest {
                log_group_name: "g".into(),
                log_stream_name: "web-3".into(),
            })
            .await,
            Code::NotFound,
            "ResourceNotFoundException: log stream \"web-3\" does not exist in log group \"g\"",
        );
        assert_eq!(list(pb::OrderBy::LogStreamName, false, "", 50).await.len(), 3);
    });
}

#[test]
fn put_log_events_rules() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        group(&mut c, "g").await;
        stream(&mut c, "g", "s").await;
        let now = now_ms();
        // Too old, ok, too new: the rest is stored and indexes reported.
        let r = put(
            &mut c,
            "g",
            "s",
            vec![ev(now - 15 * D, "old"), ev(now - 1000, "kept-1"), ev(now, "kept-2"), ev(now + 3 * H, "new")],
        )
        .await
        .unwrap();
        let info = r.rejected_log_events_info.unwrap();
        assert_eq!(info.too_old_log_event_end_index, Some(1));
        assert_eq!(info.too_new_log_event_start_index, Some(3));
        assert_eq!(info.expired_log_event_end_index, None);
        let got: Vec<_> = read_all(&mut c, "g", "s").await.into_iter().map(|e| e.message).collect();
        assert_eq!(got, ["kept-1", "kept-2"]);
        // A clean batch reports nothing.
        assert!(put(&mut c, "g", "s", vec![ev(now, "a")]).await.unwrap().rejected_log_events_info.is_none());
        // Retention: older than the group's retention is expired.
        c.put_retention_policy(pb::PutRetentionPolicyRequest { log_group_name: "g".into(), retention_in_days: 1 })
            .await
            .unwrap();
        let r = put(&mut c, "g", "s", vec![ev(now - 2 * D, "expired"), ev(now - 2 * D + 1, "expired too"), ev(now, "b")])
            .await
            .unwrap();
        assert_eq!(r.rejected_log_events_info.unwrap().expired_log_event_end_index, Some(2));
        c.delete_retention_policy(pb::DeleteRetentionPolicyRequest { log_group_name: "g".into() })
            .await
            .unwrap();
        // Whole-call failures store nothing.
        let before = read_all(&mut c, "g", "s").await.len();
        assert_err(
            put(&mut c, "g", "s", vec![ev(now, "b"), ev(now - 1, "a")]).await,
            Code::InvalidArgument,
            "InvalidParameterException: Log events in a single PutLogEvents request must be in chronological order",
        );
        assert_err(
            put(&mut c, "g", "s", vec![ev(now - 25 * H, "a"), ev(now, "b")]).await,
            Code::InvalidArgument,
            "InvalidParameterException: the log events in the batch span",
        );
        assert_err(
            put(&mut c, "g", "s", (0..10_001).map(|_| ev(now, "x")).collect()).await,
            Code::InvalidArgument,
            "InvalidParameterException: log_events holds 10001 events, more than the limit of 10000",
        );
        assert_err(
            put(&mut c, "g", "s", vec![ev(now, "x".repeat(700_000)), ev(now, "y".repeat(700_000))]).await,
            Code::InvalidArgument,
            "InvalidParameterException: the batch is 1400052 bytes",
        );
        assert_err(put(&mut c, "g", "s", vec![]).await, Code::InvalidArgument, "InvalidParameterException: log_events must hold at least 1 event");
        assert_err(put(&mut c, "g", "s", vec![ev(now, "")]).await, Code::InvalidArgument, "InvalidParameterException: log_events[0].message must not be empty");
        assert_eq!(read_all(&mut c, "g", "s").await.len(), before);
        // 10,000 events of 26 + 78 bytes fit exactly in... less than the byte limit: accepted.
        let r = put(&mut c, "g", "s", (0..10_000).map(|i| ev(now, format!("{i:>78}"))).collect()).await;
        assert!(r.is_ok(), "{r:?}");
        // Missing group or stream.
        assert_err(put(&mut c, "nope", "s", vec![ev(now, "x")]).await, Code::NotFound, "ResourceNotFoundException: log group \"nope\" does not exist");
        assert_err(put(&mut c, "g", "nope", vec![ev(now, "x")]).await, Code::NotFound, "ResourceNotFoundException: log stream \"nope\" does not exist in log group \"g\"");
        // Even when every event is rejected, the stream must exist.
        assert_err(put(&mut c, "g", "nope", vec![ev(now + 5 * H, "x")]).await, Code::NotFound, "ResourceNotFoundException");
    });
}

#[test]
fn get_log_events_pages_both_ways_to_the_end() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        group(&mut c, "g").await;
        stream(&mut c, "g", "s").await;
        let t0 = now_ms() - 10 * 60_000;
        // 25 events, with runs of equal timestamps that straddle page boundaries.
        let events: Vec<_> = (0..25).map(|i| ev(t0 + (i / 3) as i64, format!("e{i:02}"))).collect();
        put(&mut c, "g", "s", events).await.unwrap();
        let base = c.clone();
        let get = move |token: Option<String>,
                        head: Option<bool>,
                        limit: i32,
                        start: Option<i64>,
                        end: Option<i64>| {
            let mut c = base.clone();
            async move {
                c.get_log_events(pb::GetLogEventsRequest {
                    log_group_name: "g".into(),
                    log_stream_name: "s".into(),
                    start_time: start,
                    end_time: end,
                    next_token: token,
                    limit: Some(limit),
                    start_from_head: head,
                })
                .await
                .map(|r| r.into_inner())
            }
        };
        // Forward from the head, 10 at a time, to the end: the end repeats the token sent.
        let mut seen = Vec::new();
        let mut token = None;
        let mut last_page = None;
        for _ in 0..10 {
            let r = get(token.clone(), Some(true), 10, None, None).await.unwrap();
            seen.extend(r.events.iter().map(|e| e.message.clone()));
            if token.as_deref() == Some(r.next_forward_token.as_str()) {
                assert!(r.events.is_empty());
                break;
            }
            token = Some(r.next_forward_token.clone());
            last_page = Some(r);
        }
        let expected: Vec<_> = (0..25).map(|i| format!("e{i:02}")).collect();
        assert_eq!(seen, expected);
        // Going back from the last page's backward token returns the page before it.
        let last = last_page.unwrap();
        assert_eq!(last.events.len(), 5);
        let back = get(Some(last.next_backward_token), None, 10, None, None).await.unwrap();
        let msgs: Vec<_> = back.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(msgs, expected[10..20].iter().map(String::as_str).collect::<Vec<_>>());
        // Default (no start_from_head): the newest page first, oldest-first within it.
        let r = get(None, None, 10, None, None).await.unwrap();
        let msgs: Vec<_> = r.events.iter().map(|e| e.message.clone()).collect();
        assert_eq!(msgs, expected[15..]);
        // Backward to the end.
        let mut token = Some(r.next_backward_token);
        let mut back_seen = msgs;
        loop {
            let r = get(token.clone(), None, 7, None, None).await.unwrap();
            let mut page: Vec<_> = r.events.iter().map(|e| e.message.clone()).collect();
            page.extend(back_seen);
            back_seen = page;
            if token.as_deref() == Some(r.next_backward_token.as_str()) {
                break;
            }
            token = Some(r.next_backward_token);
        }
        assert_eq!(back_seen, expected);
        // start inclusive, end exclusive.
        let r = get(None, Some(true), 100, Some(t0 + 2), Some(t0 + 4)).await.unwrap();
        let msgs: Vec<_> = r.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(msgs, ["e06", "e07", "e08", "e09", "e10", "e11"]);
        assert!(r.events.iter().all(|e| e.ingestion_time >= t0));
        // An empty stream still gives tokens, and they repeat.
        stream(&mut c, "g", "empty").await;
        let r = c
            .get_log_events(pb::GetLogEventsRequest {
                log_group_name: "g".into(),
                log_stream_name: "empty".into(),
                start_from_head: Some(true),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(
            r.events.is_empty()
                && !r.next_forward_token.is_empty()
                && !r.next_backward_token.is_empty()
        );
        // Errors.
        assert_err(
            get(Some("zzz".into()), None, 10, None, None).await,
            Code::InvalidArgument,
            "InvalidParameterException: invalid next_token \"zzz\"",
        );
        assert_err(
            get(None, None, 10_001, None, None).await,
            Code::InvalidArgument,
            "InvalidParameterException: limit 10001 is out of range",
        );
        assert_err(
            c.get_log_events(pb::GetLogEventsRequest {
                log_group_name: "g".into(),
                log_stream_name: "nope".into(),
                ..Default::default()
            })
            .await,
            Code::NotFound,
            "ResourceNotFoundException",
        );
    });
}

#[test]
fn filter_log_events_interleaves_matches_and_pages() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        group(&mut c, "g").await;
        let t0 = now_ms() - 60_000;
        for (k, s) in ["a", "b", "c"].iter().enumerate() {
            stream(&mut c, "g", s).await;
            let events = (0..20)
                .map(|i| {
                    let level = if i % 4 == 0 { "ERROR" } else { "INFO" };
                    ev(t0 + i * 10 + k as i64, format!("{level} user {i} from {s}"))
                })
                .collect();
            put(&mut c, "g", s, events).await.unwrap();
        }
        let base = c.clone();
        let filter = move |pattern: &str, names: Vec<&str>, prefix: Option<&str>, limit: Option<i32>, token: Option<String>| {
            let mut c = base.clone();
            let req = pb::FilterLogEventsRequest {
                log_group_name: "g".into(),
                log_stream_names: names.into_iter().map(String::from).collect(),
                log_stream_name_prefix: prefix.map(String::from),
                filter_pattern: pattern.into(),
                limit,
                next_token: token,
                ..Default::default()
            };
            async move { c.filter_log_events(req).await.map(|r| r.into_inner()) }
        };
        let r = filter("", vec![], None, None, None).await.unwrap();
        assert_eq!(r.events.len(), 60);
        assert!(r.next_token.is_none());
        assert!(r.events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "interleaved by time");
        assert_eq!(&r.events[0].log_stream_name, "a");
        assert_eq!(&r.events[1].log_stream_name, "b");
        assert_eq!(r.searched_log_streams.len(), 3);
        assert!(r.searched_log_streams.iter().all(|s| s.searched_completely));
        // Terms and a quoted phrase, paged 4 at a time to the end.
        let mut got = Vec::new();
        let mut ids = HashSet::new();
        let mut token = None;
        loop {
            let r = filter("ERROR \"from b\"", vec![], None, Some(4), token.take()).await.unwrap();
            for e in r.events {
                assert!(ids.insert(e.event_id.clone()), "duplicate id {}", e.event_id);
                got.push(e.message);
            }
            match r.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        let want: Vec<_> = (0..20).step_by(4).map(|i| format!("ERROR user {i} from b")).collect();
        assert_eq!(got, want);
        // Stream names, or a prefix.
        let r = filter("ERROR", vec!["a", "c", "missing"], None, None, None).await.unwrap();
        assert_eq!(r.events.len(), 10);
        assert!(r.events.iter().all(|e| e.log_stream_name != "b"));
        let searched: Vec<_> = r.searched_log_streams.iter().map(|s| s.log_stream_name.as_str()).collect();
        assert_eq!(searched, ["a", "c"]);
        let r = filter("", vec![], Some("b"), None, None).await.unwrap();
        assert_eq!(r.events.len(), 20);
        // Time range.
        let r = c
            .filter_log_events(pb::FilterLogEventsRequest {
                log_group_name: "g".into(),
                start_time: Some(t0 + 10),
                end_time: Some(t0 + 20),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.events.len(), 3);
        // Errors.
        assert_err(filter("", vec!["a"], Some("b"), None, None).await, Code::InvalidArgument, "InvalidParameterException: log_stream_names and log_stream_name_prefix can not both be given");
        assert_err(filter("\"open", vec![], None, None, None).await, Code::InvalidArgument, "InvalidParameterException: invalid filter pattern");
        assert_err(filter("", vec![], None, Some(0), None).await, Code::InvalidArgument, "InvalidParameterException: limit 0 is out of range");
        assert_err(filter("", vec![], None, None, Some("x/y".into())).await, Code::InvalidArgument, "InvalidParameterException: invalid next_token");
        assert_err(
            c.filter_log_events(pb::FilterLogEventsRequest { log_group_name: "nope".into(), ..Default::default() }).await,
            Code::NotFound,
            "ResourceNotFoundException",
        );
    });
}

#[test]
fn ingest_stream_acknowledges_each_batch() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        group(&mut c, "g").await;
        stream(&mut c, "g", "s").await;
        let now = now_ms();
        let mut reqs: Vec<pb::IngestStreamRequest> = (0..20u64)
            .map(|b| pb::IngestStreamRequest {
                batch_id: b,
                log_group_name: "g".into(),
                log_stream_name: "s".into(),
                log_events: (0..100).map(|i| ev(now, format!("b{b}-{i}"))).collect(),
                ..Default::default()
            })
            .collect();
        // One batch out of order, one to a missing stream, one with a too-new event.
        reqs[5].log_events.swap(0, 1);
        reqs[5].log_events[0].timestamp = now + 1;
        reqs[7].log_stream_name = "nope".into();
        reqs[9].log_events.push(ev(now + 3 * H, "too new"));
        let mut acks = c.ingest_stream(tokio_stream::iter(reqs)).await.unwrap().into_inner();
        let mut by_id = std::collections::HashMap::new();
        while let Some(a) = acks.next().await {
            let a = a.unwrap();
            by_id.insert(a.batch_id, a);
        }
        assert_eq!(by_id.len(), 20);
        assert_eq!(by_id[&5].error_type, "InvalidParameterException");
        assert_eq!(by_id[&5].error_code, Code::InvalidArgument as i32);
        assert!(by_id[&5].error_message.contains("chronological order"));
        assert_eq!(by_id[&7].error_type, "ResourceNotFoundException");
        assert_eq!(by_id[&9].accepted, 100);
        assert_eq!(
            by_id[&9].rejected_log_events_info.unwrap().too_new_log_event_start_index,
            Some(100)
        );
        let ok = by_id.values().filter(|a| a.error_type.is_empty()).count();
        assert_eq!(ok, 18);
        assert_eq!(read_all(&mut c, "g", "s").await.len(), 1800);
    });
}

/// One IngestStream call with the given batches; the acknowledgements by batch id.
async fn ingest(
    c: &mut Client,
    reqs: Vec<pb::IngestStreamRequest>,
) -> std::collections::HashMap<u64, pb::IngestStreamResponse> {
    let mut acks = c.ingest_stream(tokio_stream::iter(reqs)).await.unwrap().into_inner();
    let mut by_id = std::collections::HashMap::new();
    while let Some(a) = acks.next().await {
        let a = a.unwrap();
        by_id.insert(a.batch_id, a);
    }
    by_id
}

fn idempotent(batch_id: u64, producer: &str, sequence: u64, msg: &str) -> pb::IngestStreamRequest {
    pb::IngestStreamRequest {
        batch_id,
        log_group_name: "g".into(),
        log_stream_name: "s".into(),
        log_events: vec![ev(now_ms(), msg)],
        producer_id: producer.into(),
        sequence,
    }
}

#[test]
fn ingest_stream_stores_a_producers_batch_once_across_restarts() {
    let mut server = TestServer::start();
    let runtime = rt();
    runtime.block_on(async {
        let mut c = server.client().await;
        group(&mut c, "g").await;
        stream(&mut c, "g", "s").await;
        // Sequential calls: the window would let batches of one call race.
        let first = ingest(&mut c, vec![idempotent(1, "p-1", 100, "a")]).await;
        assert_eq!((first[&1].accepted, first[&1].duplicate), (1, false));
        let again = ingest(&mut c, vec![idempotent(2, "p-1", 100, "a")]).await;
        assert!(again[&2].error_type.is_empty(), "{:?}", again[&2]);
        assert_eq!((again[&2].accepted, again[&2].duplicate), (0, true));
        let lower = ingest(&mut c, vec![idempotent(3, "p-1", 50, "older")]).await;
        assert!(lower[&3].duplicate);
        // Another producer, and no producer at all, are independent.
        let other = ingest(&mut c, vec![idempotent(4, "p-2", 50, "b")]).await;
        assert!(!other[&4].duplicate);
        let plain = ingest(&mut c, vec![idempotent(5, "", 0, "c")]).await;
        assert_eq!((plain[&5].accepted, plain[&5].duplicate), (1, false));
        // A bad producer id, or a sequence without one, refuses the batch.
        let bad =
            ingest(&mut c, vec![idempotent(6, "no spaces", 1, "x"), idempotent(7, "", 9, "y")])
                .await;
        for id in [6, 7] {
            assert_eq!(bad[&id].error_code, Code::InvalidArgument as i32, "{:?}", bad[&id]);
            assert_eq!(bad[&id].error_type, "InvalidParameterException");
        }
        assert!(bad[&6].error_message.contains("invalid producer id"), "{:?}", bad[&6]);
        let got: Vec<String> =
            read_all(&mut c, "g", "s").await.into_iter().map(|e| e.message).collect();
        assert_eq!(got.len(), 3, "{got:?}");
    });
    // The graceful shutdown seals the buffer, so the marks come back from the catalog.
    server.restart();
    runtime.block_on(async {
        let mut c = server.client().await;
        let again = ingest(&mut c, vec![idempotent(8, "p-1", 100, "a")]).await;
        assert!(again[&8].duplicate);
        let next = ingest(&mut c, vec![idempotent(9, "p-1", 101, "d")]).await;
        assert!(!next[&9].duplicate);
        let got: Vec<String> =
            read_all(&mut c, "g", "s").await.into_iter().map(|e| e.message).collect();
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, ["a", "b", "c", "d"]);
    });
}

#[test]
fn health_reports_serving_and_shutdown_flushes() {
    let mut server = TestServer::start();
    rt().block_on(async {
        let channel = tonic::transport::Channel::from_shared(server.endpoint.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let r = health
            .check(tonic_health::pb::HealthCheckRequest { service: "logsight.v1.Logs".into() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        let mut c = server.client().await;
        group(&mut c, "g").await;
        stream(&mut c, "g", "s").await;
        put(&mut c, "g", "s", vec![ev(now_ms(), "kept")]).await.unwrap();
        // A live tail must not hold the shutdown up.
        let _tail = c
            .start_live_tail(pb::StartLiveTailRequest {
                log_group_names: vec!["g".into()],
                ..Default::default()
            })
            .await
            .unwrap();
    });
    server.shutdown();
    let store = logsight_storage::Store::open(server.dir.path(), Default::default()).unwrap();
    assert_eq!(store.stats().buffered_events, 0, "shutdown sealed the buffer");
    let page = store.read_stream("g", "s", &Default::default()).unwrap();
    assert_eq!(page.events[0].message, "kept");
}

#[test]
fn overload_answers_unavailable_with_a_retry_hint() {
    let server = TestServer::start_with(logsight_server::ServerOptions {
        max_inflight_bytes: 1024,
        admission_wait: Duration::ZERO,
        ..Default::default()
    });
    rt().block_on(async {
        let mut c = server.client().await;
        group(&mut c, "g").await;
        stream(&mut c, "g", "s").await;
        let now = now_ms();
        let calls = (0..16).map(|_| {
            let mut c = c.clone();
            tokio::spawn(async move {
                put(&mut c, "g", "s", (0..2000).map(|i| ev(now, format!("{i:>200}"))).collect())
                    .await
            })
        });
        let mut refused = 0;
        for call in calls.collect::<Vec<_>>() {
            match call.await.unwrap() {
                Ok(_) => {}
                Err(s) => {
                    assert_eq!(s.code(), Code::Unavailable, "{}", s.message());
                    assert!(
                        s.message()
                            .starts_with("ServiceUnavailableException: the server is overloaded")
                    );
                    assert_eq!(s.metadata().get("retry-after-ms").unwrap(), "200");
                    refused += 1;
                }
            }
        }
        assert!(refused > 0, "16 concurrent batches over a 1 KiB budget with no wait");
    });
}
