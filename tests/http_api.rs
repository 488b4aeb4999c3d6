//! The CloudWatch Logs HTTP API driven by the official AWS SDK for Rust
//! (`aws-sdk-cloudwatchlogs`) over plain HTTP on 127.0.0.1: every operation, the errors,
//! paging, SigV4 refusals, per-group policies and the audit trail.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatchlogs as cwl;
use cwl::error::{ProvideErrorMetadata, SdkError};
use cwl::types::InputLogEvent;

use crate::support::now_ms;

/// The HTTP and gRPC APIs over one shared state and a fresh store, on their own runtime.
pub(crate) struct Server {
    pub(crate) http: String,
    pub(crate) grpc: String,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts both APIs with the audit trail on; with `principals` (a principals file's JSON)
    /// calls must be signed. The server's clock runs `skew_ms` ahead of the real one.
    pub(crate) fn start(principals: Option<&str>, skew_ms: i64) -> Server {
        Server::start_with(principals, skew_ms, |_| {})
    }

    /// [`Server::start`] with the options `tune` sets (live tail timing, idle timeout, ...).
    pub(crate) fn start_with(
        principals: Option<&str>,
        skew_ms: i64,
        tune: impl FnOnce(&mut logsight_server::ServerOptions),
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(logsight_storage::Store::open(dir.path(), Default::default()).unwrap());
        let mut opts = logsight_server::ServerOptions { audit: true, ..Default::default() };
        tune(&mut opts);
        opts.principals = principals.map(|p| logsight_auth::Principals::from_json(p).unwrap());
        if skew_ms != 0 {
            opts.clock = Arc::new(logsight_storage::ManualClock::new(now_ms() + skew_ms));
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send((http.local_addr().unwrap(), grpc.local_addr().unwrap())).unwrap();
                let shared = logsight_server::Shared::start(store, &opts).unwrap();
                let http_opts = logsight_http::HttpOptions {
                    max_body_bytes: 16 << 20,
                    ..logsight_http::HttpOptions::from_server(&opts)
                };
                let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                let (g, h) = tokio::join!(
                    logsight_server::serve_grpc(
                        grpc,
                        shared.clone(),
                        &opts,
                        until(stopped.clone())
                    ),
                    logsight_http::serve_with(http, shared.clone(), &http_opts, until(stopped)),
                );
                shared.close().await.unwrap();
                g.unwrap();
                h.unwrap();
            });
        });
        let (http, grpc) = addr_rx.recv().unwrap();
        Server {
            http: format!("http://{http}"),
            grpc: format!("http://{grpc}"),
            _dir: dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// An SDK client signing with this key pair, region us-east-1, no retries.
    pub(crate) fn client(&self, akid: &str, secret: &str) -> cwl::Client {
        let conf = cwl::Config::builder()
            .behavior_version(cwl::config::BehaviorVersion::latest())
            .region(cwl::config::Region::new("us-east-1"))
            .endpoint_url(&self.http)
            .credentials_provider(cwl::config::Credentials::new(akid, secret, None, None, "test"))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .retry_config(cwl::config::retry::RetryConfig::disabled())
            .build();
        cwl::Client::from_conf(conf)
    }

    /// A raw HTTP/1.1 request; returns (status, body).
    pub(crate) fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let addr = self.http.strip_prefix("http://").unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out[9..12].parse().unwrap();
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// The exception name and message of a failed call.
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<T, SdkError<E, R>>,
) -> (String, String) {
    let e = r.expect_err("the call should fail");
    (e.code().unwrap_or("<no code>").to_owned(), e.message().unwrap_or("").to_owned())
}

fn event(ts: i64, msg: &str) -> InputLogEvent {
    InputLogEvent::builder().timestamp(ts).message(msg).build().unwrap()
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn every_operation_through_the_aws_sdk() {
    let server = Server::start(None, 0);
    let c = server.client("AKIDANY", "any-secret");
    rt().block_on(async {
        for g in ["/app/a", "/app/b", "/app/c", "other"] {
            c.create_log_group().log_group_name(g).send().await.unwrap();
        }
        let (code, msg) = refused(c.create_log_group().log_group_name("/app/a").send().await);
        assert_eq!(code, "ResourceAlreadyExistsException", "{msg}");
        let (code, _) = refused(c.create_log_group().log_group_name("bad name!").send().await);
        assert_eq!(code, "InvalidParameterException");

        // DescribeLogGroups pages with nextToken, ASCII order, prefix.
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let r = c
                .describe_log_groups()
                .log_group_name_prefix("/app/")
                .limit(2)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            names.extend(r.log_groups().iter().map(|g| g.log_group_name().unwrap().to_owned()));
            assert!(r.log_groups().iter().all(|g| g.arn().unwrap().ends_with(":*")));
            token = r.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(names, ["/app/a", "/app/b", "/app/c"]);

        // Retention.
        c.put_retention_policy()
            .log_group_name("/app/a")
            .retention_in_days(30)
            .send()
            .await
            .unwrap();
        let g = c.describe_log_groups().log_group_name_prefix("/app/a").send().await.unwrap();
        assert_eq!(g.log_groups()[0].retention_in_days(), Some(30));
        let (code, _) = refused(
            c.put_retention_policy().log_group_name("/app/a").retention_in_days(2).send().await,
        );
        assert_eq!(code, "InvalidParameterException");
        c.delete_retention_policy().log_group_name("/app/a").send().await.unwrap();
        let g = c.describe_log_groups().log_group_name_prefix("/app/a").send().await.unwrap();
        assert_eq!(g.log_groups()[0].retention_in_days(), None);

        // Streams.
        for s in ["web-1", "web-2", "db"] {
            c.create_log_stream().log_group_name("/app/a").log_stream_name(s).send().await.unwrap();
        }
        let (code, _) = refused(
            c.create_log_stream().log_group_name("/app/zz").log_stream_name("s").send().await,
        );
        assert_eq!(code, "ResourceNotFoundException");
        let r = c
            .describe_log_streams()
            .log_group_name("/app/a")
            .log_stream_name_prefix("web")
            .limit(1)
            .send()
            .await
            .unwrap();
        assert_eq!(r.log_streams()[0].log_stream_name(), Some("web-1"));
        let r = c
            .describe_log_streams()
            .log_group_name("/app/a")
            .log_stream_name_prefix("web")
            .set_next_token(r.next_token().map(str::to_owned))
            .send()
            .await
            .unwrap();
        assert_eq!(r.log_streams().len(), 1);
        assert_eq!(r.log_streams()[0].log_stream_name(), Some("web-2"));
        assert_eq!(r.next_token(), None);
        let (code, msg) = refused(
            c.describe_log_streams()
                .log_group_name("/app/a")
                .log_stream_name_prefix("web")
                .order_by(cwl::types::OrderBy::LastEventTime)
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException");
        assert!(msg.contains("LastEventTime"), "{msg}");

        // PutLogEvents: accepted, rejected by index, refused whole when out of order.
        let now = now_ms();
        let batch: Vec<_> = (0..25)
            .map(|i| {
                event(
                    now - 25_000 + i * 1000,
                    &format!("line {i} {}", if i % 5 == 0 { "ERROR" } else { "ok" }),
                )
            })
            .collect();
        let r = c
            .put_log_events()
            .log_group_name("/app/a")
            .log_stream_name("web-1")
            .set_log_events(Some(batch))
            .send()
            .await
            .unwrap();
        assert!(r.rejected_log_events_info().is_none());
        let old = now - 15 * 24 * 3600 * 1000;
        let r = c
            .put_log_events()
            .log_group_name("/app/a")
            .log_stream_name("web-2")
            .log_events(event(old, "too old"))
            .log_events(event(now, "fresh ERROR"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.rejected_log_events_info().unwrap().too_old_log_event_end_index(), Some(1));
        let (code, msg) = refused(
            c.put_log_events()
                .log_group_name("/app/a")
                .log_stream_name("web-2")
                .log_events(event(now, "b"))
                .log_events(event(now - 1, "a"))
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException", "{msg}");
        let (code, _) = refused(
            c.put_log_events()
                .log_group_name("/app/a")
                .log_stream_name("nope")
                .log_events(event(now, "x"))
                .send()
                .await,
        );
        assert_eq!(code, "ResourceNotFoundException");

        // GetLogEvents pages forward until the token repeats.
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let r = c
                .get_log_events()
                .log_group_name("/app/a")
                .log_stream_name("web-1")
                .start_from_head(true)
                .limit(10)
                .set_next_token(token.clone())
                .send()
                .await
                .unwrap();
            seen.extend(r.events().iter().map(|e| e.message().unwrap().to_owned()));
            let next = r.next_forward_token().unwrap().to_owned();
            assert!(r.next_backward_token().is_some());
            if token.as_deref() == Some(next.as_str()) {
                break;
            }
            token = Some(next);
        }
        assert_eq!(
            seen,
            (0..25)
                .map(|i| format!("line {i} {}", if i % 5 == 0 { "ERROR" } else { "ok" }))
                .collect::<Vec<_>>()
        );
        // Newest first by default: the last page.
        let r = c
            .get_log_events()
            .log_group_name("/app/a")
            .log_stream_name("web-1")
            .limit(3)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.events().iter().map(|e| e.message().unwrap()).collect::<Vec<_>>(),
            ["line 22 ok", "line 23 ok", "line 24 ok"]
        );
        let (code, _) = refused(
            c.get_log_events()
                .log_group_name("/app/a")
                .log_stream_name("web-1")
                .limit(0)
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException");

        // FilterLogEvents across streams with a pattern, paged.
        let mut matched = Vec::new();
        let mut token = None;
        loop {
            let r = c
                .filter_log_events()
                .log_group_name("/app/a")
                .filter_pattern("ERROR")
                .limit(2)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            matched.extend(r.events().iter().map(|e| {
                (e.log_stream_name().unwrap().to_owned(), e.message().unwrap().to_owned())
            }));
            assert!(
                r.events().iter().all(|e| e.event_id().is_some() && e.ingestion_time().is_some())
            );
            token = r.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let mut want: Vec<(String, String)> =
            (0..25).step_by(5).map(|i| ("web-1".to_owned(), format!("line {i} ERROR"))).collect();
        want.push(("web-2".into(), "fresh ERROR".into()));
        assert_eq!(matched, want);
        let (code, _) = refused(
            c.filter_log_events()
                .log_group_name("/app/a")
                .log_stream_names("web-1")
                .log_stream_name_prefix("web")
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException");
        let (code, _) = refused(
            c.filter_log_events().log_group_name("/app/a").filter_pattern("{ $.x = ").send().await,
        );
        assert_eq!(code, "InvalidParameterException");

        // The same store through gRPC: one service layer.
        let mut g = logsight_proto::v1::logs_client::LogsClient::connect(server.grpc.clone())
            .await
            .unwrap();
        let got = crate::support::read_all(&mut g, "/app/a", "web-1").await;
        assert_eq!(got.len(), 25);

        // Deletes.
        c.delete_log_stream().log_group_name("/app/a").log_stream_name("db").send().await.unwrap();
        let (code, _) = refused(
            c.delete_log_stream().log_group_name("/app/a").log_stream_name("db").send().await,
        );
        assert_eq!(code, "ResourceNotFoundException");
        c.delete_log_group().log_group_name("/app/a").send().await.unwrap();
        let (code, _) = refused(c.delete_log_group().log_group_name("/app/a").send().await);
        assert_eq!(code, "ResourceNotFoundException");
        let (code, _) = refused(
            c.get_log_events().log_group_name("/app/a").log_stream_name("web-1").send().await,
        );
        assert_eq!(code, "ResourceNotFoundException");

        // Operations logsight does not have yet answer UnknownOperationException.
        let (code, _) = refused(
            c.create_export_task()
                .log_group_name("other")
                .from(0)
                .to(1)
                .destination("bucket")
                .send()
                .await,
        );
        assert_eq!(code, "UnknownOperationException");
    });
}

#[test]
fn protocol_errors_are_cloudwatch_errors() {
    let server = Server::start(None, 0);
    let json = ("Content-Type", "application/x-amz-json-1.1");
    let (status, body) = server.raw("POST", "/", &[json], "{}");
    assert_eq!(status, 400);
    assert!(body.contains("\"__type\":\"UnknownOperationException\""), "{body}");
    let target = ("X-Amz-Target", "Logs_20140328.CreateLogGroup");
    let (status, body) = server.raw("POST", "/", &[json, target], "{not json");
    assert_eq!(status, 400);
    assert!(body.contains("SerializationException"), "{body}");
    let (status, body) = server.raw("POST", "/", &[json, target], "{\"logGroupName\": 5}");
    assert_eq!(status, 400);
    assert!(body.contains("SerializationException"), "{body}");
    let (status, body) = server.raw("POST", "/", &[json, target], "{\"logGroupName\": \"raw\"}");
    assert_eq!((status, body.as_str()), (200, "{}"));
    let (status, body) = server.raw("GET", "/nowhere", &[], "");
    assert_eq!(status, 404);
    assert!(body.contains("UnknownOperationException"), "{body}");
    let (status, body) = server.raw("GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    assert!(
        body.lines().any(|l| l == "logsight_api_calls_total{protocol=\"http\",operation=\"CreateLogGroup\",outcome=\"ok\"} 1"),
        "{body}"
    );
    assert!(body.contains("logsight_api_calls_total{protocol=\"http\",operation=\"CreateLogGroup\",outcome=\"SerializationException\"} 2"), "{body}");
    assert!(body.contains("# TYPE logsight_api_call_seconds histogram"), "{body}");
}

pub(crate) const PRINCIPALS: &str = r#"[
  {"name": "admin", "access_key_id": "AKIDADMIN", "secret_access_key": "admin-secret-key",
   "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}},
  {"name": "app-writer", "access_key_id": "AKIDWRITER", "secret_access_key": "writer-secret-key",
   "policy": {"Statement": [
     {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:Describe*", "logs:DeleteLogGroup"], "Resource": "arn:aws:logs:*:*:log-group:/app/*"},
     {"Effect": "Deny", "Action": "logs:DeleteLogGroup", "Resource": "arn:aws:logs:*:*:log-group:/app/prod*"}]}},
  {"name": "reader", "access_key_id": "AKIDREADER", "secret_access_key": "reader-secret-key",
   "policy": {"Statement": [{"Effect": "Allow", "Action": ["logs:Get*", "logs:Filter*", "logs:Describe*"], "Resource": "*"},
                            {"Effect": "Deny", "Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:/logsight/audit:*"}]}}
]"#;

#[test]
fn sigv4_refusals() {
    let server = Server::start(Some(PRINCIPALS), 0);
    rt().block_on(async {
        let ok = server.client("AKIDADMIN", "admin-secret-key");
        ok.create_log_group().log_group_name("g").send().await.unwrap();
        let (code, msg) =
            refused(server.client("AKIDADMIN", "wrong-secret").describe_log_groups().send().await);
        assert_eq!(code, "InvalidSignatureException", "{msg}");
        assert!(msg.contains("signature"), "{msg}");
        let (code, msg) =
            refused(server.client("AKIDNOBODY", "whatever-key").describe_log_groups().send().await);
        assert_eq!(code, "UnrecognizedClientException", "{msg}");
    });
    // No signature at all.
    let (status, body) = server.raw(
        "POST",
        "/",
        &[
            ("X-Amz-Target", "Logs_20140328.DescribeLogGroups"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        "{}",
    );
    assert_eq!(status, 400);
    assert!(body.contains("MissingAuthenticationTokenException"), "{body}");
    drop(server);

    // The server's clock is an hour ahead: the SDK's signature is outside the 15 min window.
    let late = Server::start(Some(PRINCIPALS), 3_600_000);
    rt().block_on(async {
        let (code, msg) = refused(
            late.client("AKIDADMIN", "admin-secret-key").describe_log_groups().send().await,
        );
        assert_eq!(code, "InvalidSignatureException", "{msg}");
        assert!(msg.starts_with("Signature expired"), "{msg}");
    });
}

/// Reads every audit record as JSON, waiting (up to 20 s) until `done` holds for them.
pub(crate) async fn audit_records(
    c: &cwl::Client,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    for _ in 0..200 {
        let r = c
            .get_log_events()
            .log_group_name("/logsight/audit")
            .log_stream_name("trail")
            .start_from_head(true)
            .send()
            .await
            .unwrap();
        let records: Vec<serde_json::Value> = r
            .events()
            .iter()
            .map(|e| serde_json::from_str(e.message().unwrap()).unwrap())
            .collect();
        if done(&records) {
            return records;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the audit records never arrived");
}

#[test]
fn policies_per_group_and_the_audit_trail() {
    let server = Server::start(Some(PRINCIPALS), 0);
    rt().block_on(async {
        let admin = server.client("AKIDADMIN", "admin-secret-key");
        let writer = server.client("AKIDWRITER", "writer-secret-key");
        let reader = server.client("AKIDREADER", "reader-secret-key");
        let now = now_ms();

        // The writer may create and write under /app/, nowhere else.
        writer.create_log_group().log_group_name("/app/web").send().await.unwrap();
        writer.create_log_stream().log_group_name("/app/web").log_stream_name("s").send().await.unwrap();
        writer
            .put_log_events()
            .log_group_name("/app/web")
            .log_stream_name("s")
            .log_events(event(now, "secret payload 1"))
            .log_events(event(now, "secret payload 2"))
            .send()
            .await
            .unwrap();
        let (code, msg) = refused(writer.create_log_group().log_group_name("/db/main").send().await);
        assert_eq!(code, "AccessDeniedException", "{msg}");
        assert!(msg.contains("user/app-writer is not authorized to perform: logs:CreateLogGroup"), "{msg}");
        let (code, _) = refused(
            writer.get_log_events().log_group_name("/app/web").log_stream_name("s").send().await,
        );
        assert_eq!(code, "AccessDeniedException");
        // Explicit Deny wins over the Allow on /app/*.
        writer.create_log_group().log_group_name("/app/prod-x").send().await.unwrap();
        let (code, msg) = refused(writer.delete_log_group().log_group_name("/app/prod-x").send().await);
        assert_eq!(code, "AccessDeniedException");
        assert!(msg.contains("explicit deny"), "{msg}");
        writer.create_log_group().log_group_name("/app/tmp").send().await.unwrap();
        writer.delete_log_group().log_group_name("/app/tmp").send().await.unwrap();

        // The reader reads any group but the audit group, and writes nothing.
        let r = reader.get_log_events().log_group_name("/app/web").log_stream_name("s").send().await.unwrap();
        assert_eq!(r.events().len(), 2);
        let (code, _) = refused(
            reader.get_log_events().log_group_name("/logsight/audit").log_stream_name("trail").send().await,
        );
        assert_eq!(code, "AccessDeniedException");
        let (code, _) = refused(
            reader.put_log_events().log_group_name("/app/web").log_stream_name("s").log_events(event(now, "x")).send().await,
        );
        assert_eq!(code, "AccessDeniedException");

        // The audit group is append-only, even for the admin.
        let (code, msg) = refused(admin.delete_log_group().log_group_name("/logsight/audit").send().await);
        assert_eq!(code, "AccessDeniedException");
        assert!(msg.contains("append-only"), "{msg}");
        let (code, _) = refused(
            admin.put_log_events().log_group_name("/logsight/audit").log_stream_name("trail").log_events(event(now, "{}")).send().await,
        );
        assert_eq!(code, "AccessDeniedException");
        let (code, _) = refused(
            admin.delete_log_stream().log_group_name("/logsight/audit").log_stream_name("trail").send().await,
        );
        assert_eq!(code, "AccessDeniedException");
        let (code, _) = refused(
            admin.put_retention_policy().log_group_name("/logsight/audit").retention_in_days(30).send().await,
        );
        assert_eq!(code, "AccessDeniedException");
        admin.put_retention_policy().log_group_name("/logsight/audit").retention_in_days(365).send().await.unwrap();
        let (code, _) = refused(server.client("AKIDGHOST", "ghost-secret").describe_log_groups().send().await);
        assert_eq!(code, "UnrecognizedClientException");

        // The admin reads the trail: allowed and refused calls, who, what, from where.
        let records = audit_records(&admin, |r| {
            r.iter().any(|e| e["userIdentity"]["accessKeyId"] == "AKIDGHOST")
        })
        .await;
        let find = |name: &str, user: &str, error: Option<&str>| {
            records
                .iter()
                .find(|r| {
                    r["eventName"] == name
                        && r["userIdentity"]["userName"] == user
                        && r.get("errorCode").and_then(|e| e.as_str()) == error
                })
                .unwrap_or_else(|| panic!("no record of {name} by {user} ({error:?}) in {records:#?}"))
        };
        let put = find("PutLogEvents", "app-writer", None);
        assert_eq!(put["requestParameters"]["eventCount"], 2);
        assert_eq!(put["requestParameters"]["logGroupName"], "/app/web");
        assert_eq!(put["readOnly"], false);
        assert_eq!(put["sourceIPAddress"], "127.0.0.1");
        assert_eq!(put["awsRegion"], "us-east-1");
        assert_eq!(put["userIdentity"]["accessKeyId"], "AKIDWRITER");
        assert_eq!(put["userIdentity"]["type"], "IAMUser");
        assert!(put["userAgent"].as_str().unwrap().contains("aws-sdk-rust"), "{put}");
        assert!(put["eventTime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(put["additionalEventData"]["protocol"], "http");
        let denied = find("CreateLogGroup", "app-writer", Some("AccessDeniedException"));
        assert_eq!(denied["requestParameters"]["logGroupName"], "/db/main");
        assert!(denied["errorMessage"].as_str().unwrap().contains("not authorized"));
        let read = find("GetLogEvents", "reader", None);
        assert_eq!(read["readOnly"], true);
        find("DeleteLogGroup", "admin", Some("AccessDeniedException"));
        find("PutRetentionPolicy", "admin", None);
        let ghost = records.iter().find(|r| r["userIdentity"]["accessKeyId"] == "AKIDGHOST").unwrap();
        assert_eq!(ghost["errorCode"], "UnrecognizedClientException");
        assert_eq!(ghost["eventName"], "DescribeLogGroups");
        assert_eq!(ghost["userIdentity"]["type"], "Unknown");
        // Event bodies never reach the trail; ids are unique.
        assert!(records.iter().all(|r| !r.to_string().contains("secret payload")));
        let mut ids: Vec<&str> = records.iter().map(|r| r["eventID"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), records.len());

        // The trail is searchable with filter patterns like any group.
        let r = admin
            .filter_log_events()
            .log_group_name("/logsight/audit")
            .filter_pattern("{ $.errorCode = \"AccessDeniedException\" && $.userIdentity.userName = \"reader\" }")
            .send()
            .await
            .unwrap();
        assert_eq!(r.events().len(), 2, "{:?}", r.events());
    });
}

#[test]
fn grpc_calls_are_audited_and_refused_under_auth() {
    use logsight_proto::v1 as pb;
    let server = Server::start(None, 0);
    rt().block_on(async {
        let mut g = pb::logs_client::LogsClient::connect(server.grpc.clone()).await.unwrap();
        g.create_log_group(pb::CreateLogGroupRequest { log_group_name: "viagrpc".into() })
            .await
            .unwrap();
        let e = g
            .create_log_group(pb::CreateLogGroupRequest { log_group_name: "viagrpc".into() })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::AlreadyExists);
        let c = server.client("AKIDANY", "any-secret");
        let records = audit_records(&c, |r| {
            r.iter().filter(|e| e["additionalEventData"]["protocol"] == "grpc").count() >= 2
        })
        .await;
        let grpc: Vec<_> =
            records.iter().filter(|e| e["additionalEventData"]["protocol"] == "grpc").collect();
        assert_eq!(grpc[0]["eventName"], "CreateLogGroup");
        assert!(grpc[0].get("errorCode").is_none(), "{}", grpc[0]);
        assert_eq!(grpc[0]["requestParameters"]["logGroupName"], "viagrpc");
        assert_eq!(grpc[0]["sourceIPAddress"], "127.0.0.1");
        assert_eq!(grpc[1]["errorCode"], "ResourceAlreadyExistsException");
        assert_eq!(grpc[1]["errorMessage"], "log group \"viagrpc\" already exists");
    });
    drop(server);

    // With principals, an unsigned gRPC call is refused.
    let server = Server::start(Some(PRINCIPALS), 0);
    rt().block_on(async {
        let mut g = pb::logs_client::LogsClient::connect(server.grpc.clone()).await.unwrap();
        let e = g.describe_log_groups(pb::DescribeLogGroupsRequest::default()).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert!(
            e.message().starts_with("MissingAuthenticationTokenException: "),
            "{}",
            e.message()
        );
    });
}

#[test]
fn serve_refuses_open_non_loopback_listeners_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = crate::support::logsight(
        &["serve", "--listen", "0.0.0.0:0", "--http-listen", "127.0.0.1:0", "--data-dir", data],
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0:") && err.contains("--auth"), "{err}");
    let out = crate::support::logsight(
        &[
            "serve",
            "--http-listen",
            "0.0.0.0:0",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--auth",
            "/nonexistent/principals.json",
        ],
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("principals file /nonexistent/principals.json"), "{err}");
}
