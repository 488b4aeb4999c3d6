//! The gRPC API under `--auth`: calls signed by the `logsight` client with keys from the
//! environment or a credentials profile, signatures checked (wrong secret, unknown key,
//! expired, replayed, another body), policies applied per group and per action on both
//! services, and the callers in the audit trail.

use std::process::{Command, Output, Stdio};

use logsight_auth::Credentials;
use logsight_auth::sigv4::sha256_hex;
use logsight_proto::v1 as pb;

use crate::http_api::{Server, audit_records, rt};
use crate::support::now_ms;

const PRINCIPALS: &str = r#"[
  {"name": "admin", "access_key_id": "AKIDADMIN", "secret_access_key": "admin-secret-key",
   "policy": {"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}},
  {"name": "app-writer", "access_key_id": "AKIDWRITER", "secret_access_key": "writer-secret-key",
   "policy": {"Statement": [
     {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:Describe*"], "Resource": "arn:aws:logs:*:*:log-group:/app/*"}]}},
  {"name": "reader", "access_key_id": "AKIDREADER", "secret_access_key": "reader-secret-key",
   "policy": {"Statement": [{"Effect": "Allow", "Action": ["logs:Get*", "logs:Filter*", "logs:Describe*"], "Resource": "*"}]}},
  {"name": "ops", "access_key_id": "AKIDOPS", "secret_access_key": "ops-secret-key",
   "policy": {"Statement": [{"Effect": "Allow", "Action": ["cloudwatch:*", "logs:PutMetricFilter"], "Resource": "*"}]}}
]"#;

/// Runs `logsight` with only the given AWS settings (a home without `~/.aws`).
fn cli(home: &std::path::Path, env: &[(&str, &str)], args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logsight"));
    cmd.args(args).env("HOME", home).stdin(Stdio::piped()).stdout(Stdio::piped());
    cmd.stderr(Stdio::piped());
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "LOGSIGHT_ENDPOINT",
    ] {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn keys<'a>(id: &'a str, secret: &'a str) -> [(&'a str, &'a str); 2] {
    [("AWS_ACCESS_KEY_ID", id), ("AWS_SECRET_ACCESS_KEY", secret)]
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn cli_calls_are_signed_authorized_and_audited() {
    let server = Server::start(Some(PRINCIPALS), 0);
    let home = tempfile::tempdir().unwrap();
    let ep = server.grpc.as_str();
    let writer = keys("AKIDWRITER", "writer-secret-key");
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--endpoint", ep]);
        cli(home.path(), env, &all, b"")
    };

    // Signed and allowed.
    let o = run(&writer, &["groups", "create", "/app/web"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Signed, refused by the policy (another group).
    let o = run(&writer, &["groups", "create", "/db/main"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("AccessDeniedException"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not authorized to perform: logs:CreateLogGroup"),
        "{}",
        stderr(&o)
    );
    // Unsigned, a wrong secret, an unknown key.
    let o = run(&[], &["groups", "list"]);
    assert!(stderr(&o).contains("MissingAuthenticationTokenException"), "{}", stderr(&o));
    let o = run(&keys("AKIDWRITER", "not-the-secret"), &["groups", "list"]);
    assert!(stderr(&o).contains("InvalidSignatureException"), "{}", stderr(&o));
    let o = run(&keys("AKIDGHOST", "ghost-secret-key"), &["groups", "list"]);
    assert!(stderr(&o).contains("UnrecognizedClientException"), "{}", stderr(&o));

    // Ingest (PutLogEvents).
    let lines = b"first line\nsecond line\n";
    let ingest = |env: &[(&str, &str)], group: &str| {
        let args = ["ingest", "--group", group, "--stream", "s", "--create", "--endpoint", ep, "-"];
        cli(home.path(), env, &args, lines)
    };
    let o = ingest(&writer, "/app/web");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ingest(&keys("AKIDREADER", "reader-secret-key"), "/app/web");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("AccessDenied"), "{}", stderr(&o));

    // Keys from a credentials profile; the reader reads what the writer wrote.
    let creds = home.path().join("credentials");
    std::fs::write(
        &creds,
        "[team]\naws_access_key_id = AKIDREADER\naws_secret_access_key = reader-secret-key\n",
    )
    .unwrap();
    let profile =
        [("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()), ("AWS_PROFILE", "team")];
    let o = run(&profile, &["events", "get", "--group", "/app/web", "--stream", "s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("first line") && out.contains("second line"), "{out}");
    // Queries are signed like every call: allowed for logs:*, refused without logs:StartQuery.
    let query = ["query", "--group", "/app/web", "--output", "json", "stats count(*) as n"];
    let o = run(&keys("AKIDADMIN", "admin-secret-key"), &query);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows, serde_json::json!([{"n": "2"}]));
    let o = run(&writer, &query);
    assert!(stderr(&o).contains("not authorized to perform: logs:StartQuery"), "{}", stderr(&o));
    // The reader may not tail (StartLiveTail is not in its policy).
    let o = run(&profile, &["tail", "--group", "/app/web"]);
    assert!(stderr(&o).contains("AccessDeniedException"), "{}", stderr(&o));

    // The Watch service: metric filters are logs: actions on their group, alarms cloudwatch:.
    let alarm = [
        "alarms",
        "put",
        "--name",
        "a1",
        "--namespace",
        "App",
        "--metric-name",
        "Errors",
        "--statistic",
        "Sum",
        "--period",
        "60",
        "--evaluation-periods",
        "1",
        "--threshold",
        "1",
        "--alarm-action",
        "exec:/bin/true",
    ];
    let o = run(&keys("AKIDADMIN", "admin-secret-key"), &alarm);
    assert!(
        stderr(&o).contains("not authorized to perform: cloudwatch:PutMetricAlarm"),
        "{}",
        stderr(&o)
    );
    let o = run(&[], &alarm);
    assert!(stderr(&o).contains("MissingAuthenticationTokenException"), "{}", stderr(&o));
    let o = run(&keys("AKIDOPS", "ops-secret-key"), &alarm);
    assert!(o.status.success(), "{}", stderr(&o));

    rt().block_on(async {
        let admin = server.client("AKIDADMIN", "admin-secret-key");
        let records = audit_records(&admin, |r| {
            r.iter().any(|e| e["eventName"] == "PutMetricAlarm" && e.get("errorCode").is_none())
        })
        .await;
        let grpc: Vec<&serde_json::Value> =
            records.iter().filter(|e| e["additionalEventData"]["protocol"] == "grpc").collect();
        let find = |name: &str, user: Option<&str>, error: Option<&str>| {
            grpc.iter()
                .find(|r| {
                    r["eventName"] == name
                        && r["userIdentity"]["userName"].as_str() == user
                        && r.get("errorCode").and_then(|e| e.as_str()) == error
                })
                .unwrap_or_else(|| {
                    panic!("no record of {name} by {user:?} ({error:?}) in {grpc:#?}")
                })
        };
        let created = find("CreateLogGroup", Some("app-writer"), None);
        assert_eq!(created["requestParameters"]["logGroupName"], "/app/web");
        assert_eq!(created["userIdentity"]["accessKeyId"], "AKIDWRITER");
        assert_eq!(created["sourceIPAddress"], "127.0.0.1");
        let denied = find("CreateLogGroup", Some("app-writer"), Some("AccessDeniedException"));
        assert_eq!(denied["requestParameters"]["logGroupName"], "/db/main");
        let unsigned = find("DescribeLogGroups", None, Some("MissingAuthenticationTokenException"));
        assert_eq!(unsigned["userIdentity"]["type"], "Unknown");
        let ghost = find("DescribeLogGroups", None, Some("UnrecognizedClientException"));
        assert_eq!(ghost["userIdentity"]["accessKeyId"], "AKIDGHOST");
        find("DescribeLogGroups", None, Some("InvalidSignatureException"));
        let put = find("PutLogEvents", Some("app-writer"), None);
        assert_eq!(put["requestParameters"]["eventCount"], 2);
        let read = find("GetLogEvents", Some("reader"), None);
        assert_eq!(read["readOnly"], true);
        assert_eq!(read["requestParameters"]["logStreamName"], "s");
        find("StartLiveTail", Some("reader"), Some("AccessDeniedException"));
        let alarm = find("PutMetricAlarm", Some("ops"), None);
        assert_eq!(alarm["requestParameters"]["alarmActions"][0], "exec:/bin/true");
        find("PutMetricAlarm", Some("admin"), Some("AccessDeniedException"));
        // Event bodies never reach the trail.
        assert!(records.iter().all(|r| !r.to_string().contains("first line")));
    });
}

/// The body of a `DescribeLogGroupsRequest::default()` call: an empty message's header.
const EMPTY_MESSAGE: [u8; 5] = [0; 5];

#[test]
fn grpc_signatures_are_checked_and_used_once() {
    let server = Server::start(Some(PRINCIPALS), 0);
    let path = "/logsight.v1.Logs/DescribeLogGroups";
    let uri: http::Uri = format!("{}{path}", server.grpc).parse().unwrap();
    let admin = Credentials::new("AKIDADMIN", "admin-secret-key");
    // The metadata of a call signed at `at_ms` over `body`.
    let sign = |creds: &Credentials, at_ms: i64, body: &[u8], nonce: &str| {
        logsight_auth::grpc::sign_call(
            &uri,
            &sha256_hex(body),
            creds,
            "us-east-1",
            at_ms / 1000,
            nonce,
        )
        .unwrap()
    };
    rt().block_on(async {
        let channel = tonic::transport::Channel::from_shared(server.grpc.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let call = |headers: http::HeaderMap| {
            let channel = channel.clone();
            async move {
                let mut c = pb::logs_client::LogsClient::with_interceptor(
                    channel,
                    move |mut req: tonic::Request<()>| {
                        *req.metadata_mut() =
                            tonic::metadata::MetadataMap::from_headers(headers.clone());
                        Ok(req)
                    },
                );
                c.describe_log_groups(pb::DescribeLogGroupsRequest::default()).await
            }
        };
        let exception =
            |r: Result<tonic::Response<pb::DescribeLogGroupsResponse>, tonic::Status>| {
                let s = r.expect_err("the call should be refused");
                s.message().split_once(": ").map(|(e, m)| (e.to_owned(), m.to_owned())).unwrap()
            };

        let good = sign(&admin, now_ms(), &EMPTY_MESSAGE, "nonce-1");
        call(good.clone()).await.unwrap();
        // The same signed call again: a replay.
        let (e, m) = exception(call(good).await);
        assert_eq!(e, "InvalidSignatureException");
        assert!(m.contains("already used"), "{m}");
        // Signed 20 minutes ago: outside the 15 minute window.
        let (e, m) =
            exception(call(sign(&admin, now_ms() - 20 * 60_000, &EMPTY_MESSAGE, "n2")).await);
        assert_eq!(e, "InvalidSignatureException");
        assert!(m.starts_with("Signature expired"), "{m}");
        // Signed over another body than the one sent.
        let other = [0, 0, 0, 0, 2, 0x0a, 0];
        let (e, _) = exception(call(sign(&admin, now_ms(), &other, "n3")).await);
        assert_eq!(e, "InvalidSignatureException");
        // The wrong secret, an unknown key.
        let wrong = Credentials::new("AKIDADMIN", "not-the-secret");
        let (e, _) = exception(call(sign(&wrong, now_ms(), &EMPTY_MESSAGE, "n4")).await);
        assert_eq!(e, "InvalidSignatureException");
        let ghost = Credentials::new("AKIDGHOST", "ghost-secret-key");
        let (e, _) = exception(call(sign(&ghost, now_ms(), &EMPTY_MESSAGE, "n5")).await);
        assert_eq!(e, "UnrecognizedClientException");
        // Unsigned.
        let (e, _) = exception(call(http::HeaderMap::new()).await);
        assert_eq!(e, "MissingAuthenticationTokenException");
        // IngestStream signs its headers only; each batch is authorized on its own group.
        let ingest = "/logsight.v1.Logs/IngestStream";
        let uri: http::Uri = format!("{}{ingest}", server.grpc).parse().unwrap();
        let writer = Credentials::new("AKIDWRITER", "writer-secret-key");
        let headers = logsight_auth::grpc::sign_call(
            &uri,
            logsight_auth::sigv4::UNSIGNED_PAYLOAD,
            &writer,
            "us-east-1",
            now_ms() / 1000,
            "n6",
        )
        .unwrap();
        let mut c = pb::logs_client::LogsClient::with_interceptor(
            channel.clone(),
            move |mut req: tonic::Request<()>| {
                *req.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers.clone());
                Ok(req)
            },
        );
        let batch = |id: u64, group: &str| pb::IngestStreamRequest {
            batch_id: id,
            log_group_name: group.into(),
            log_stream_name: "s".into(),
            log_events: vec![pb::InputLogEvent { timestamp: now_ms(), message: "m".into() }],
            ..Default::default()
        };
        let admin_c = server.client("AKIDADMIN", "admin-secret-key");
        for g in ["/app/ingest", "/db/ingest"] {
            admin_c.create_log_group().log_group_name(g).send().await.unwrap();
            admin_c
                .create_log_stream()
                .log_group_name(g)
                .log_stream_name("s")
                .send()
                .await
                .unwrap();
        }
        let batches = tokio_stream::iter([batch(1, "/app/ingest"), batch(2, "/db/ingest")]);
        let mut acks = c.ingest_stream(batches).await.unwrap().into_inner();
        let first = acks.message().await.unwrap().unwrap();
        assert_eq!((first.batch_id, first.accepted, first.error_type.as_str()), (1, 1, ""));
        let second = acks.message().await.unwrap().unwrap();
        assert_eq!((second.batch_id, second.error_type.as_str()), (2, "AccessDeniedException"));
        assert!(second.error_message.contains("logs:PutLogEvents"), "{}", second.error_message);

        // The health service needs no signature.
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let r = health
            .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
            .await
            .unwrap();
        assert_eq!(r.into_inner().status, 1);
    });
}
