//! The Queries API end to end on an in-process server on 127.0.0.1:0: StartQuery to Complete
//! with numbers computed independently here, the Scheduled queue, StopQuery, retention,
//! saved queries across a restart, RunQuery's stream, GetLogRecord and GetLogGroupFields, and
//! queries during concurrent ingest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use logsight_proto::v1 as pb;
use logsight_proto::v1::queries_client::QueriesClient;
use logsight_storage::{Clock, ManualClock};
use tonic::transport::Channel;

use crate::support::{TestServer, create, now_ms};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn queries(server: &TestServer) -> QueriesClient<Channel> {
    QueriesClient::connect(server.endpoint.clone()).await.unwrap()
}

/// One generated event: stream, timestamp, message.
struct Ev {
    stream: &'static str,
    ts: i64,
    status: u32,
    path: String,
    has_user: bool,
    message: String,
}

/// `n` JSON request-log events over streams `a` (even i) and `b` (odd i), one per 10 ms from
/// `base`: status 500 when i % 3 == 0, else 200; path /p{i % 5}; a `user` object unless
/// i % 4 == 0.
fn events(n: usize, base: i64) -> Vec<Ev> {
    (0..n)
        .map(|i| {
            let status = if i % 3 == 0 { 500 } else { 200 };
            let path = format!("/p{}", i % 5);
            let has_user = i % 4 != 0;
            let user = if has_user { format!(r#","user":{{"id":{i}}}"#) } else { String::new() };
            Ev {
                stream: if i % 2 == 0 { "a" } else { "b" },
                ts: base + i as i64 * 10,
                status,
                message: format!(r#"{{"status":{status},"path":"{path}","seq":{i}{user}}}"#),
                path,
                has_user,
            }
        })
        .collect()
}

async fn ingest(server: &TestServer, group: &str, evs: &[Ev]) {
    let mut c = server.client().await;
    create(&mut c, group, &["a", "b"]).await;
    for stream in ["a", "b"] {
        let mine: Vec<pb::InputLogEvent> = evs
            .iter()
            .filter(|e| e.stream == stream)
            .map(|e| pb::InputLogEvent { timestamp: e.ts, message: e.message.clone() })
            .collect();
        for chunk in mine.chunks(5_000) {
            let r = c
                .put_log_events(pb::PutLogEventsRequest {
                    log_group_name: group.into(),
                    log_stream_name: stream.into(),
                    log_events: chunk.to_vec(),
                    sequence_token: None,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(r.rejected_log_events_info.is_none(), "{r:?}");
        }
    }
}

fn start_req(groups: &[&str], query: &str, from_ms: i64, to_ms: i64) -> pb::StartQueryRequest {
    pb::StartQueryRequest {
        log_group_names: groups.iter().map(|g| g.to_string()).collect(),
        start_time: from_ms.div_euclid(1000),
        end_time: to_ms.div_euclid(1000),
        query_string: query.into(),
        limit: None,
    }
}

/// Polls GetQueryResults until the status is final (no timing is asserted).
async fn until_done(c: &mut QueriesClient<Channel>, id: &str) -> pb::GetQueryResultsResponse {
    loop {
        let r = c
            .get_query_results(pb::GetQueryResultsRequest {
                query_id: id.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if !matches!(r.status.as_str(), "Scheduled" | "Running") {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn field<'r>(row: &'r pb::ResultRow, name: &str) -> Option<&'r str> {
    row.fields.iter().find(|f| f.field == name).map(|f| f.value.as_str())
}

fn exception(s: &tonic::Status) -> &str {
    s.message().split(':').next().unwrap_or("")
}

#[test]
fn start_query_to_complete_with_independently_counted_numbers() {
    let server = TestServer::start();
    let base = (now_ms() / 1000 - 600) * 1000;
    let evs = events(3_000, base);
    rt().block_on(async {
        ingest(&server, "app", &evs).await;
        let mut c = queries(&server).await;
        let (from, to) = (base - 60_000, base + 120_000);

        // Per stream count of 500s, computed here with a plain loop.
        let mut want = std::collections::BTreeMap::<&str, u64>::new();
        for e in evs.iter().filter(|e| e.status == 500) {
            *want.entry(e.stream).or_default() += 1;
        }
        let q = "filter status = 500 | stats count(*) as n by @logStream | sort @logStream";
        let id =
            c.start_query(start_req(&["app"], q, from, to)).await.unwrap().into_inner().query_id;
        let r = until_done(&mut c, &id).await;
        assert_eq!(r.status, "Complete");
        let got: Vec<(String, u64)> = r
            .results
            .iter()
            .map(|row| {
                // Aggregate rows carry no @ptr.
                assert!(field(row, "@ptr").is_none());
                (
                    field(row, "@logStream").unwrap().into(),
                    field(row, "n").unwrap().parse().unwrap(),
                )
            })
            .collect();
        let want: Vec<(String, u64)> = want.into_iter().map(|(k, v)| (k.into(), v)).collect();
        assert_eq!(got, want);
        let s = r.statistics.unwrap();
        assert_eq!(s.records_scanned, 3_000.0);
        assert_eq!(s.records_matched, 1_000.0);
        assert_eq!(s.log_groups_scanned, 1.0);
        let bytes: usize = evs.iter().map(|e| e.message.len()).sum();
        assert!(s.bytes_scanned >= bytes as f64, "{} < {bytes}", s.bytes_scanned);

        // Rows as events: newest first, @ptr on each, pages of at most max_items with a token.
        let q = "fields @timestamp, path | filter status = 500 and path = '/p3'";
        let id =
            c.start_query(start_req(&["app"], q, from, to)).await.unwrap().into_inner().query_id;
        let first = until_done(&mut c, &id).await;
        let mut want: Vec<&Ev> =
            evs.iter().filter(|e| e.status == 500 && e.path == "/p3").collect();
        want.sort_by_key(|e| std::cmp::Reverse(e.ts));
        assert_eq!(first.results.len(), want.len());
        let mut rows = Vec::new();
        let mut token = String::new();
        loop {
            let r = c
                .get_query_results(pb::GetQueryResultsRequest {
                    query_id: id.clone(),
                    next_token: token.clone(),
                    max_items: 70,
                })
                .await
                .unwrap()
                .into_inner();
            assert!(r.results.len() <= 70);
            rows.extend(r.results);
            if r.next_token.is_empty() {
                break;
            }
            token = r.next_token;
        }
        assert_eq!(rows.len(), want.len());
        for (row, e) in rows.iter().zip(&want) {
            assert_eq!(field(row, "path"), Some("/p3"));
            let names: Vec<&str> = row.fields.iter().map(|f| f.field.as_str()).collect();
            assert_eq!(names, vec!["@timestamp", "path", "@ptr"]);
            // The pointer leads back to the very event.
            let rec = c
                .get_log_record(pb::GetLogRecordRequest {
                    log_record_pointer: field(row, "@ptr").unwrap().into(),
                })
                .await
                .unwrap()
                .into_inner()
                .log_record;
            assert_eq!(rec["@message"], e.message);
            assert_eq!(rec["@timestamp"], e.ts.to_string());
            assert_eq!(rec["@logStream"], e.stream);
            assert_eq!(rec["status"], "500");
        }

        // Fields of the group: `user.id` in 3 of 4 events of the 15 minutes up to `time`.
        let fields = c
            .get_log_group_fields(pb::GetLogGroupFieldsRequest {
                log_group_name: "app".into(),
                time: (base + 30_000) / 1000,
            })
            .await
            .unwrap()
            .into_inner()
            .log_group_fields;
        let pct = |n: &str| fields.iter().find(|f| f.name == n).map(|f| f.percent);
        let time_ms = (base + 30_000) / 1000 * 1000;
        let sampled: Vec<&Ev> =
            evs.iter().filter(|e| (time_ms - 15 * 60_000..=time_ms).contains(&e.ts)).collect();
        let with_user = sampled.iter().filter(|e| e.has_user).count();
        let want_pct = ((with_user * 100 + sampled.len() / 2) / sampled.len()) as i32;
        assert_eq!(pct("user.id"), Some(want_pct));
        assert_eq!(pct("status"), Some(100));
        assert_eq!(pct("@message"), Some(100));

        // Errors as CloudWatch names them.
        let e = c.start_query(start_req(&["nope"], "fields a", from, to)).await.unwrap_err();
        assert_eq!(exception(&e), "ResourceNotFoundException");
        let e = c.start_query(start_req(&["app"], "stats coutn(*)", from, to)).await.unwrap_err();
        assert_eq!(exception(&e), "MalformedQueryException");
        assert_eq!(e.metadata().get("query-error-start").unwrap(), "6");
        let long = format!("fields @message {}", " ".repeat(10_000));
        let e = c.start_query(start_req(&["app"], &long, from, to)).await.unwrap_err();
        assert_eq!(exception(&e), "InvalidParameterException");
        let e = c
            .get_query_results(pb::GetQueryResultsRequest {
                query_id: "no-such-query".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(exception(&e), "ResourceNotFoundException");
    });
}

/// 60,000 events, for queries that take a while to scan.
fn big(server: &TestServer, base: i64) {
    rt().block_on(ingest(server, "big", &events(60_000, base)));
}

/// A server running one query at a time, with [`big`] in group `big` from the returned base.
fn one_slot_server() -> (TestServer, i64) {
    let mut opts = logsight_server::ServerOptions::default();
    opts.queries.slots = 1;
    let server = TestServer::start_with(opts);
    let base = (now_ms() / 1000 - 900) * 1000;
    big(&server, base);
    (server, base)
}

/// `query` over all of group `big` from `base`.
fn big_req(query: &str, base: i64) -> pb::StartQueryRequest {
    start_req(&["big"], query, base, base + 700_000)
}

/// Starts `query` over all of group `big` from `base`; its id.
async fn start_big(c: &mut QueriesClient<Channel>, query: &str, base: i64) -> String {
    c.start_query(big_req(query, base)).await.unwrap().into_inner().query_id
}

const SLOW_QUERY: &str = "parse @message /\"path\":\"(?<p>[^\"]*)\"/ \
                          | stats count_distinct(@message) as d, count(*) as n by p, bin(1s)";

#[test]
fn more_queries_than_slots_wait_as_scheduled_and_all_complete() {
    let (server, base) = one_slot_server();
    rt().block_on(async {
        let mut c = queries(&server).await;
        let mut ids = Vec::new();
        for _ in 0..8 {
            // Queued, never refused.
            ids.push(start_big(&mut c, SLOW_QUERY, base).await);
        }
        let mut max_scheduled = 0;
        loop {
            let list = c
                .describe_queries(pb::DescribeQueriesRequest::default())
                .await
                .unwrap()
                .into_inner()
                .queries;
            let running = list.iter().filter(|q| q.status == "Running").count();
            let scheduled = list.iter().filter(|q| q.status == "Scheduled").count();
            assert!(running <= 1, "{running} queries running with one slot");
            max_scheduled = max_scheduled.max(scheduled);
            if running + scheduled == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // All eight queued behind the first at some point (the first describe saw most).
        assert!(max_scheduled >= 1, "no query was ever seen waiting");
        for id in &ids {
            let r = until_done(&mut c, id).await;
            assert_eq!(r.status, "Complete");
            let n: u64 =
                r.results.iter().map(|row| field(row, "n").unwrap().parse::<u64>().unwrap()).sum();
            assert_eq!(n, 60_000);
        }
        // Newest first.
        let list =
            c.describe_queries(pb::DescribeQueriesRequest::default()).await.unwrap().into_inner();
        let listed: Vec<&str> = list.queries.iter().map(|q| q.query_id.as_str()).collect();
        let mut newest_first: Vec<&str> = ids.iter().map(String::as_str).collect();
        newest_first.reverse();
        assert_eq!(listed, newest_first);
    });
}

#[test]
fn stop_query_cancels_a_running_query_and_frees_its_slot() {
    let (server, base) = one_slot_server();
    rt().block_on(async {
        let mut c = queries(&server).await;
        let long = start_big(&mut c, SLOW_QUERY, base).await;
        let queued = start_big(&mut c, SLOW_QUERY, base).await;
        // Stop the queued one while it waits, and the first once it runs.
        c.stop_query(pb::StopQueryRequest { query_id: queued.clone() }).await.unwrap();
        loop {
            let r = c
                .get_query_results(pb::GetQueryResultsRequest {
                    query_id: long.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            match r.status.as_str() {
                "Running" => break,
                "Scheduled" => tokio::time::sleep(Duration::from_millis(1)).await,
                other => panic!("the query ended ({other}) before it could be stopped"),
            }
        }
        let ok = c.stop_query(pb::StopQueryRequest { query_id: long.clone() }).await.unwrap();
        assert!(ok.into_inner().success);
        for id in [&long, &queued] {
            let r = until_done(&mut c, id).await;
            assert_eq!(r.status, "Cancelled");
            assert!(r.results.is_empty());
        }
        // Stopping an ended query is an error, as CloudWatch's.
        let e = c.stop_query(pb::StopQueryRequest { query_id: long.clone() }).await.unwrap_err();
        assert_eq!(exception(&e), "InvalidParameterException");
        // The slot is free again.
        let next = start_big(&mut c, "stats count(*) as n", base).await;
        let r = until_done(&mut c, &next).await;
        assert_eq!(r.status, "Complete");
        assert_eq!(field(&r.results[0], "n"), Some("60000"));
    });
}

#[test]
fn results_expire_after_the_retention_time() {
    let clock = Arc::new(ManualClock::new(now_ms()));
    let mut opts = logsight_server::ServerOptions { clock: clock.clone(), ..Default::default() };
    opts.queries.retention = Duration::from_secs(3_600);
    let server = TestServer::start_with(opts);
    let base = (now_ms() / 1000 - 600) * 1000;
    rt().block_on(async {
        ingest(&server, "app", &events(10, base)).await;
        let mut c = queries(&server).await;
        let id = c
            .start_query(start_req(&["app"], "stats count(*) as n", base, base + 60_000))
            .await
            .unwrap()
            .into_inner()
            .query_id;
        let r = until_done(&mut c, &id).await;
        assert_eq!(field(&r.results[0], "n"), Some("10"));
        clock.set(clock.now_ms() + 3_599_000);
        assert!(
            c.get_query_results(pb::GetQueryResultsRequest {
                query_id: id.clone(),
                ..Default::default()
            })
            .await
            .is_ok()
        );
        clock.set(clock.now_ms() + 1_000);
        let e = c
            .get_query_results(pb::GetQueryResultsRequest {
                query_id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(exception(&e), "ResourceNotFoundException");
        let listed =
            c.describe_queries(pb::DescribeQueriesRequest::default()).await.unwrap().into_inner();
        assert!(listed.queries.is_empty());
    });
}

#[test]
fn saved_queries_survive_a_restart() {
    let mut server = TestServer::start();
    let (kept, changed) = rt().block_on(async {
        let mut c = queries(&server).await;
        let put = |name: &str, query: &str, id: &str| pb::PutQueryDefinitionRequest {
            name: name.into(),
            query_string: query.into(),
            log_group_names: vec!["app".into()],
            query_definition_id: id.into(),
        };
        let kept = c
            .put_query_definition(put("errors", "filter status >= 500", ""))
            .await
            .unwrap()
            .into_inner()
            .query_definition_id;
        let changed = c
            .put_query_definition(put("slow", "filter ms > 100", ""))
            .await
            .unwrap()
            .into_inner()
            .query_definition_id;
        let gone = c
            .put_query_definition(put("tmp", "fields a", ""))
            .await
            .unwrap()
            .into_inner()
            .query_definition_id;
        c.put_query_definition(put("slow-v2", "filter ms > 250", &changed)).await.unwrap();
        c.delete_query_definition(pb::DeleteQueryDefinitionRequest {
            query_definition_id: gone.clone(),
        })
        .await
        .unwrap();
        let e = c
            .delete_query_definition(pb::DeleteQueryDefinitionRequest { query_definition_id: gone })
            .await
            .unwrap_err();
        assert_eq!(exception(&e), "ResourceNotFoundException");
        let e = c.put_query_definition(put("", "fields a", "")).await.unwrap_err();
        assert_eq!(exception(&e), "InvalidParameterException");
        (kept, changed)
    });
    server.restart();
    rt().block_on(async {
        let mut c = queries(&server).await;
        let list = c
            .describe_query_definitions(pb::DescribeQueryDefinitionsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .query_definitions;
        let got: Vec<(&str, &str, &str)> = list
            .iter()
            .map(|d| (d.query_definition_id.as_str(), d.name.as_str(), d.query_string.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (kept.as_str(), "errors", "filter status >= 500"),
                (changed.as_str(), "slow-v2", "filter ms > 250")
            ]
        );
        let only = c
            .describe_query_definitions(pb::DescribeQueryDefinitionsRequest {
                query_definition_name_prefix: "slow".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .query_definitions;
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].log_group_names, vec!["app".to_string()]);
    });
}

/// A RunQuery call dropped at any moment (a client's Ctrl-C) stops its query: queued behind
/// a long query, none of them may later run to completion unseen.
#[test]
fn run_query_calls_dropped_at_any_moment_stop_their_queries() {
    let (server, base) = one_slot_server();
    rt().block_on(async {
        let mut c = queries(&server).await;
        // Several, so that the queue stays blocked through the drops on a loaded machine.
        let mut blockers = Vec::new();
        for _ in 0..8 {
            blockers.push(start_big(&mut c, SLOW_QUERY, base).await);
        }
        // Dropped before the call is sent, while the server starts the query, after it
        // answers, and after the first message.
        let dropped = "stats count(*) as dropped";
        for wait_us in (0..400).step_by(20) {
            let mut own = queries(&server).await;
            let call = own.run_query(big_req(dropped, base));
            let _ = tokio::time::timeout(Duration::from_micros(wait_us), call).await;
        }
        let mut own = queries(&server).await;
        let mut stream = own.run_query(big_req(dropped, base)).await.unwrap().into_inner();
        assert!(!stream.message().await.unwrap().unwrap().query_id.is_empty());
        drop((stream, own));
        for query_id in blockers {
            // One may have ended already: fine.
            let _ = c.stop_query(pb::StopQueryRequest { query_id }).await;
        }
        // Every dropped query ends, and none of them by running.
        loop {
            let list = c
                .describe_queries(pb::DescribeQueriesRequest::default())
                .await
                .unwrap()
                .into_inner()
                .queries;
            let mine: Vec<&str> = list
                .iter()
                .filter(|q| q.query_string == dropped)
                .map(|q| q.status.as_str())
                .collect();
            assert!(!mine.contains(&"Complete"), "{mine:?}");
            if mine.iter().all(|s| *s == "Cancelled") {
                assert!(!mine.is_empty());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn run_query_streams_progress_then_rows_then_the_final_status() {
    let server = TestServer::start();
    let base = (now_ms() / 1000 - 600) * 1000;
    let evs = events(2_500, base);
    rt().block_on(async {
        ingest(&server, "app", &evs).await;
        let mut c = queries(&server).await;
        let mut stream = c
            .run_query(start_req(
                &["app"],
                "fields seq, path | filter status = 200",
                base,
                base + 60_000,
            ))
            .await
            .unwrap()
            .into_inner();
        let mut messages = Vec::new();
        while let Some(m) = stream.message().await.unwrap() {
            messages.push(m);
        }
        assert!(!messages[0].query_id.is_empty());
        assert!(messages[1..].iter().all(|m| m.query_id.is_empty()));
        let last = messages.last().unwrap();
        assert!(last.done && last.status == "Complete");
        assert_eq!(messages.iter().filter(|m| m.done).count(), 1);
        // The query's own columns, without the @ptr every row carries.
        let with_columns: Vec<_> = messages.iter().filter(|m| !m.columns.is_empty()).collect();
        assert_eq!(with_columns.len(), 1);
        assert_eq!(with_columns[0].columns, vec!["seq", "path"]);
        let rows: Vec<&pb::ResultRow> = messages.iter().flat_map(|m| &m.results).collect();
        assert!(messages.iter().all(|m| m.results.len() <= 1_000));
        let want: Vec<String> = evs
            .iter()
            .rev()
            .filter(|e| e.status == 200)
            .map(|e| {
                e.message
                    .split("\"seq\":")
                    .nth(1)
                    .unwrap()
                    .split([',', '}'])
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let got: Vec<String> = rows.iter().map(|r| field(r, "seq").unwrap().to_string()).collect();
        assert_eq!(got, want);
        assert!(rows.iter().all(|r| field(r, "@ptr").is_some()));
        let s = last.statistics.unwrap();
        assert_eq!(s.records_matched as usize, want.len());
        // A malformed query fails the call itself.
        let e = c
            .run_query(start_req(&["app"], "fields a | dedup a | sort a", base, base))
            .await
            .unwrap_err();
        assert_eq!(exception(&e), "MalformedQueryException");
    });
}

#[test]
fn queries_during_ingest_see_whole_batches_and_never_go_backwards() {
    let server = TestServer::start();
    let base = (now_ms() / 1000 - 600) * 1000;
    const BATCH: i64 = 250;
    rt().block_on(async {
        let mut logs = server.client().await;
        create(&mut logs, "live", &["w"]).await;
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, endpoint) = (stop.clone(), server.endpoint.clone());
            tokio::spawn(async move {
                let mut c =
                    logsight_proto::v1::logs_client::LogsClient::connect(endpoint).await.unwrap();
                let mut batches = 0i64;
                while !stop.load(Ordering::Relaxed) || batches < 4 {
                    let log_events = (0..BATCH)
                        .map(|i| pb::InputLogEvent {
                            timestamp: base + batches * BATCH + i,
                            message: format!("batch {batches} event {i}"),
                        })
                        .collect();
                    c.put_log_events(pb::PutLogEventsRequest {
                        log_group_name: "live".into(),
                        log_stream_name: "w".into(),
                        log_events,
                        sequence_token: None,
                    })
                    .await
                    .unwrap();
                    batches += 1;
                }
                batches
            })
        };
        let mut c = queries(&server).await;
        let mut last = 0u64;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..30 {
            let mut stream = c
                .run_query(start_req(&["live"], "stats count(*) as n", base, base + 300_000))
                .await
                .unwrap()
                .into_inner();
            let mut n = 0u64;
            while let Some(m) = stream.message().await.unwrap() {
                if let Some(r) = m.results.first() {
                    n = field(r, "n").unwrap().parse().unwrap();
                }
            }
            assert_eq!(n % BATCH as u64, 0, "a query saw part of a batch: {n}");
            assert!(n >= last, "the count went backwards: {last} then {n}");
            last = n;
            seen.insert(n);
        }
        stop.store(true, Ordering::Relaxed);
        let batches = writer.await.unwrap();
        let id = c
            .start_query(start_req(&["live"], "stats count(*) as n", base, base + 300_000))
            .await
            .unwrap()
            .into_inner()
            .query_id;
        let r = until_done(&mut c, &id).await;
        assert_eq!(field(&r.results[0], "n").unwrap(), (batches * BATCH).to_string());
        // The queries ran while the writer wrote.
        assert!(seen.len() > 1, "every query saw the same count: {seen:?}");
    });
}

/// `logsight query --endpoint` prints what `--data-dir` prints over the same data, and fails
/// the same way.
#[test]
fn cli_over_the_api_matches_the_in_process_run() {
    let mut server = TestServer::start();
    let base = (now_ms() / 1000 - 600) * 1000;
    rt().block_on(ingest(&server, "app", &events(500, base)));
    let (from, to) = (base.to_string(), (base + 60_000).to_string());
    let query = "fields seq, path, @timestamp | filter status = 500 | limit 40";
    let stats = "stats count(*) as n by path | sort path";
    let run = |target: &[&str], output: &str, q: &str| {
        let mut args = vec!["query"];
        args.extend_from_slice(target);
        args.extend_from_slice(&[
            "--group", "app", "--start", &from, "--end", &to, "--output", output, q,
        ]);
        crate::support::logsight(&args, b"")
    };
    let endpoint = server.endpoint.clone();
    let remote: Vec<_> = ["table", "json", "csv"]
        .iter()
        .flat_map(|o| {
            [run(&["--endpoint", &endpoint], o, query), run(&["--endpoint", &endpoint], o, stats)]
        })
        .collect();
    let bad = run(&["--endpoint", &endpoint], "table", "stats coutn(*)");
    let missing = crate::support::logsight(
        &["query", "--endpoint", &endpoint, "--group", "nope", "fields @message"],
        b"",
    );
    // Through the CLI: list, saved put/list/delete, stop of an ended query.
    let listed = crate::support::logsight_ok(
        &["queries", "--endpoint", &endpoint, "list", "--output", "json"],
        b"",
    );
    assert_eq!(listed.lines().count(), 6, "{listed}");
    let id = crate::support::logsight_ok(
        &[
            "queries",
            "--endpoint",
            &endpoint,
            "saved",
            "put",
            "--name",
            "e",
            "--group",
            "app",
            "filter status = 500",
        ],
        b"",
    );
    let saved =
        crate::support::logsight_ok(&["queries", "--endpoint", &endpoint, "saved", "list"], b"");
    assert!(saved.contains(id.trim()) && saved.contains("filter status = 500"), "{saved}");
    crate::support::logsight_ok(
        &["queries", "--endpoint", &endpoint, "saved", "delete", id.trim()],
        b"",
    );
    let first = listed.lines().next().unwrap();
    let qid = serde_json::from_str::<serde_json::Value>(first).unwrap()["queryId"]
        .as_str()
        .unwrap()
        .to_string();
    let stop = crate::support::logsight(&["queries", "--endpoint", &endpoint, "stop", &qid], b"");
    assert_eq!(stop.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stop.stderr).contains("InvalidParameterException"));

    server.shutdown();
    let dir = server.dir.path().to_string_lossy().into_owned();
    let local: Vec<_> = ["table", "json", "csv"]
        .iter()
        .flat_map(|o| [run(&["--data-dir", &dir], o, query), run(&["--data-dir", &dir], o, stats)])
        .collect();
    for (r, l) in remote.iter().zip(&local) {
        assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
        assert_eq!(String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&l.stdout));
        assert!(!r.stdout.is_empty());
    }
    let bad_local = run(&["--data-dir", &dir], "table", "stats coutn(*)");
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&bad.stderr), String::from_utf8_lossy(&bad_local.stderr));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ResourceNotFoundException"));
}
