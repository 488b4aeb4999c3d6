//! The Logs Insights, saved-query, metric-filter and live tail operations of the HTTP API,
//! driven by the official AWS SDK for Rust against the real server on 127.0.0.1: results
//! checked against counts computed here from the events sent, the errors, paging, per-group
//! Allow/Deny under `--auth` with their audit records, and a StartLiveTail session read through
//! the SDK's event-stream client.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_cloudwatchlogs as cwl;
use cwl::error::{ProvideErrorMetadata, SdkError};
use cwl::types::{InputLogEvent, MetricTransformation, StartLiveTailResponseStream};

use crate::http_api::{Server, audit_records, rt};
use crate::support::now_ms;

fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    r: Result<T, SdkError<E, R>>,
) -> (String, String) {
    let e = r.expect_err("the call should fail");
    (e.code().unwrap_or("<no code>").to_owned(), e.message().unwrap_or("").to_owned())
}

fn event(ts: i64, msg: &str) -> InputLogEvent {
    InputLogEvent::builder().timestamp(ts).message(msg).build().unwrap()
}

async fn put(c: &cwl::Client, group: &str, stream: &str, events: Vec<InputLogEvent>) {
    let r = c
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
    assert!(r.rejected_log_events_info().is_none());
}

async fn group_with_stream(c: &cwl::Client, group: &str, stream: &str) {
    c.create_log_group().log_group_name(group).send().await.unwrap();
    c.create_log_stream().log_group_name(group).log_stream_name(stream).send().await.unwrap();
}

/// Polls GetQueryResults until the query ended; its rows as `field → value` maps.
async fn results(
    c: &cwl::Client,
    id: &str,
) -> (String, Vec<BTreeMap<String, String>>, cwl::types::QueryStatistics) {
    for _ in 0..600 {
        let r = c.get_query_results().query_id(id).send().await.unwrap();
        let status = r.status().unwrap().as_str().to_owned();
        if !["Scheduled", "Running"].contains(&status.as_str()) {
            let rows = r
                .results()
                .iter()
                .map(|row| {
                    row.iter()
                        .map(|f| (f.field().unwrap().to_owned(), f.value().unwrap().to_owned()))
                        .collect()
                })
                .collect();
            return (status, rows, r.statistics().unwrap().clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("query {id} never ended");
}

/// `n` JSON events, newest last, over the last `n` seconds: status cycles 200, 404, 500, 200,
/// 503; path `/p<i mod 4>`.
fn json_events(n: i64, now: i64) -> Vec<(i64, String)> {
    let statuses = [200, 404, 500, 200, 503];
    (0..n)
        .map(|i| {
            let status = statuses[(i % 5) as usize];
            (
                now - (n - i) * 1000,
                format!(r#"{{"status": {status}, "path": "/p{}", "i": {i}}}"#, i % 4),
            )
        })
        .collect()
}

#[test]
fn insights_queries_through_the_aws_sdk() {
    let server = Server::start(None, 0);
    let c = server.client("AKIDANY", "any-secret");
    rt().block_on(async {
        group_with_stream(&c, "/q/web", "host-1").await;
        group_with_stream(&c, "/q/db", "host-1").await;
        let now = now_ms();
        let web = json_events(60, now);
        let db = json_events(15, now);
        put(&c, "/q/web", "host-1", web.iter().map(|(t, m)| event(*t, m)).collect()).await;
        put(&c, "/q/db", "host-1", db.iter().map(|(t, m)| event(*t, m)).collect()).await;
        let (start, end) = ((now - 3_600_000) / 1000, now / 1000 + 60);

        // stats over two groups, expected counts computed from what was sent.
        let mut want: BTreeMap<String, usize> = BTreeMap::new();
        for (_, m) in web.iter().chain(&db) {
            let v: serde_json::Value = serde_json::from_str(m).unwrap();
            *want.entry(v["status"].to_string()).or_default() += 1;
        }
        let id = c
            .start_query()
            .log_group_names("/q/web")
            .log_group_names("/q/db")
            .start_time(start)
            .end_time(end)
            .query_string("stats count(*) as n by status | sort status asc")
            .send()
            .await
            .unwrap()
            .query_id()
            .unwrap()
            .to_owned();
        let (status, rows, stats) = results(&c, &id).await;
        assert_eq!(status, "Complete");
        let got: BTreeMap<String, usize> =
            rows.iter().map(|r| (r["status"].clone(), r["n"].parse().unwrap())).collect();
        assert_eq!(got, want);
        assert_eq!(stats.records_scanned(), (web.len() + db.len()) as f64);
        assert_eq!(stats.records_matched(), (web.len() + db.len()) as f64);

        // Rows of events carry @ptr; GetLogRecord returns the whole event. logGroupIdentifiers
        // may be ARNs.
        let arn = "arn:aws:logs:us-east-1:000000000000:log-group:/q/web:*";
        let id = c
            .start_query()
            .log_group_identifiers(arn)
            .start_time(start)
            .end_time(end)
            .query_string(
                "filter status = 404 | fields @timestamp, @message | sort @timestamp asc | limit 3",
            )
            .send()
            .await
            .unwrap()
            .query_id()
            .unwrap()
            .to_owned();
        let (status, rows, _) = results(&c, &id).await;
        assert_eq!(status, "Complete");
        let want: Vec<&str> = web
            .iter()
            .filter(|(_, m)| m.contains("404"))
            .take(3)
            .map(|(_, m)| m.as_str())
            .collect();
        assert_eq!(rows.iter().map(|r| r["@message"].as_str()).collect::<Vec<_>>(), want);
        let record =
            c.get_log_record().log_record_pointer(rows[0]["@ptr"].clone()).send().await.unwrap();
        assert_eq!(record.log_record().unwrap()["@message"], want[0]);
        let (code, _) =
            refused(c.get_log_record().log_record_pointer("not-a-pointer").send().await);
        assert_eq!(code, "InvalidParameterException");

        // GetLogGroupFields: every event has status and path.
        let fields = c.get_log_group_fields().log_group_name("/q/db").send().await.unwrap();
        let pct = |n: &str| {
            fields.log_group_fields().iter().find(|f| f.name() == Some(n)).map(|f| f.percent())
        };
        assert_eq!(
            (pct("status"), pct("path"), pct("@message")),
            (Some(100), Some(100), Some(100))
        );

        // Errors: a query that does not compile says where; unknown groups and ids; two ways
        // of naming groups at once; stopping an ended query.
        let e = c
            .start_query()
            .log_group_name("/q/web")
            .start_time(start)
            .end_time(end)
            .query_string("fields @message | stats count(* by")
            .send()
            .await
            .unwrap_err();
        let e = e.into_service_error();
        let cwl::operation::start_query::StartQueryError::MalformedQueryException(m) = &e else {
            panic!("{e:?}")
        };
        let loc = m.query_compile_error().unwrap().location().unwrap();
        assert!(loc.start_char_offset().unwrap() >= "fields @message | ".len() as i32, "{m:?}");
        let (code, _) = refused(
            c.start_query()
                .log_group_name("/q/nope")
                .start_time(start)
                .end_time(end)
                .query_string("fields @message")
                .send()
                .await,
        );
        assert_eq!(code, "ResourceNotFoundException");
        let (code, _) = refused(
            c.start_query()
                .log_group_name("/q/web")
                .log_group_names("/q/db")
                .start_time(start)
                .end_time(end)
                .query_string("fields @message")
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException");
        let (code, _) = refused(c.get_query_results().query_id("no-such-query").send().await);
        assert_eq!(code, "ResourceNotFoundException");
        let (code, _) = refused(c.stop_query().query_id(&id).send().await);
        assert_eq!(code, "InvalidParameterException");

        // DescribeQueries pages through every query, newest first.
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let r = c.describe_queries().max_results(1).set_next_token(token).send().await.unwrap();
            assert!(r.queries().len() <= 1);
            seen.extend(r.queries().iter().map(|q| q.query_id().unwrap().to_owned()));
            token = r.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0], id);
        let r = c
            .describe_queries()
            .log_group_name("/q/db")
            .status(cwl::types::QueryStatus::Complete)
            .send()
            .await
            .unwrap();
        assert_eq!(r.queries().len(), 1);
        assert_eq!(
            r.queries()[0].query_string(),
            Some("stats count(*) as n by status | sort status asc")
        );
    });
}

#[test]
fn saved_queries_through_the_aws_sdk() {
    let server = Server::start(None, 0);
    let c = server.client("AKIDANY", "any-secret");
    rt().block_on(async {
        let mut ids = BTreeMap::new();
        for (name, q) in [
            ("errors/web", "filter @message like /ERROR/"),
            ("errors/db", "filter level = 'error'"),
            ("slow", "filter ms > 500"),
        ] {
            let id = c
                .put_query_definition()
                .name(name)
                .query_string(q)
                .log_group_names("/app/web")
                .send()
                .await
                .unwrap()
                .query_definition_id()
                .unwrap()
                .to_owned();
            ids.insert(name, id);
        }
        // A prefix, one per page.
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let r = c
                .describe_query_definitions()
                .query_definition_name_prefix("errors/")
                .max_results(1)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            names.extend(r.query_definitions().iter().map(|d| d.name().unwrap().to_owned()));
            token = r.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        names.sort();
        assert_eq!(names, ["errors/db", "errors/web"]);

        // A put with an id overwrites that definition.
        c.put_query_definition()
            .query_definition_id(&ids["slow"])
            .name("slow")
            .query_string("filter ms > 1000")
            .send()
            .await
            .unwrap();
        let r = c
            .describe_query_definitions()
            .query_definition_name_prefix("slow")
            .send()
            .await
            .unwrap();
        let d = &r.query_definitions()[0];
        assert_eq!(
            (d.query_definition_id(), d.query_string()),
            (Some(ids["slow"].as_str()), Some("filter ms > 1000"))
        );
        assert!(d.log_group_names().is_empty());

        let r = c.delete_query_definition().query_definition_id(&ids["slow"]).send().await.unwrap();
        assert!(r.success());
        let (code, _) =
            refused(c.delete_query_definition().query_definition_id(&ids["slow"]).send().await);
        assert_eq!(code, "ResourceNotFoundException");
        let (code, _) = refused(
            c.put_query_definition()
                .query_definition_id("no-such-id")
                .name("x")
                .query_string("fields @message")
                .send()
                .await,
        );
        assert_eq!(code, "ResourceNotFoundException");
        let (code, _) =
            refused(c.put_query_definition().name("").query_string("fields @message").send().await);
        assert_eq!(code, "InvalidParameterException");
        let all = c.describe_query_definitions().send().await.unwrap();
        assert_eq!(all.query_definitions().len(), 2);
    });
}

fn transformation(name: &str, value: &str) -> MetricTransformation {
    MetricTransformation::builder()
        .metric_name(name)
        .metric_namespace("App")
        .metric_value(value)
        .build()
        .unwrap()
}

#[test]
fn metric_filters_through_the_aws_sdk() {
    let server = Server::start(None, 0);
    let c = server.client("AKIDANY", "any-secret");
    rt().block_on(async {
        group_with_stream(&c, "/mf/web", "s").await;
        c.create_log_group().log_group_name("/mf/db").send().await.unwrap();
        for (group, name, metric) in [
            ("/mf/web", "errors", "Errors"),
            ("/mf/web", "errors-5xx", "ServerErrors"),
            ("/mf/web", "latency", "Latency"),
            ("/mf/db", "errors", "DbErrors"),
        ] {
            c.put_metric_filter()
                .log_group_name(group)
                .filter_name(name)
                .filter_pattern("ERROR")
                .metric_transformations(transformation(metric, "1"))
                .send()
                .await
                .unwrap();
        }
        // Replace by name: the count stays, the transformation changes.
        c.put_metric_filter()
            .log_group_name("/mf/web")
            .filter_name("latency")
            .filter_pattern("[ip, user, status, ms]")
            .metric_transformations(
                MetricTransformation::builder()
                    .metric_name("Latency")
                    .metric_namespace("App")
                    .metric_value("$ms")
                    .dimensions("status", "$status")
                    .unit(cwl::types::StandardUnit::Milliseconds)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();

        let groups = c.describe_log_groups().log_group_name_prefix("/mf/").send().await.unwrap();
        let counts: BTreeMap<&str, i32> = groups
            .log_groups()
            .iter()
            .map(|g| (g.log_group_name().unwrap(), g.metric_filter_count().unwrap()))
            .collect();
        assert_eq!(counts, BTreeMap::from([("/mf/db", 1), ("/mf/web", 3)]));

        // One per page, in name order.
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let r = c
                .describe_metric_filters()
                .log_group_name("/mf/web")
                .limit(1)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            names.extend(r.metric_filters().iter().map(|f| f.filter_name().unwrap().to_owned()));
            token = r.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(names, ["errors", "errors-5xx", "latency"]);
        let r = c
            .describe_metric_filters()
            .log_group_name("/mf/web")
            .filter_name_prefix("lat")
            .send()
            .await
            .unwrap();
        let f = &r.metric_filters()[0];
        let t = &f.metric_transformations()[0];
        assert_eq!(f.filter_pattern(), Some("[ip, user, status, ms]"));
        assert_eq!(
            (t.metric_value(), t.unit()),
            ("$ms", Some(&cwl::types::StandardUnit::Milliseconds))
        );
        assert_eq!(t.dimensions().unwrap()["status"], "$status");
        assert!(f.creation_time().unwrap() > 0);
        let r = c
            .describe_metric_filters()
            .metric_namespace("App")
            .metric_name("DbErrors")
            .send()
            .await
            .unwrap();
        assert_eq!(r.metric_filters().len(), 1);
        assert_eq!(r.metric_filters()[0].log_group_name(), Some("/mf/db"));

        // TestMetricFilter: matches numbered from 1 with the fields extracted.
        let messages = ["1.2.3.4 bob 404 12", "INFO nothing", "5.6.7.8 amy 500 300"];
        let r = c
            .test_metric_filter()
            .filter_pattern("[ip, user, status >= 400, ms]")
            .set_log_event_messages(Some(messages.iter().map(|m| m.to_string()).collect()))
            .send()
            .await
            .unwrap();
        let got: Vec<(i64, String, String)> = r
            .matches()
            .iter()
            .map(|m| {
                let x = m.extracted_values().unwrap();
                (m.event_number(), x["$user"].clone(), x["$ms"].clone())
            })
            .collect();
        assert_eq!(
            got,
            [(1, "bob".to_owned(), "12".to_owned()), (3, "amy".to_owned(), "300".to_owned())]
        );

        // Errors.
        let (code, _) = refused(
            c.put_metric_filter()
                .log_group_name("/mf/nope")
                .filter_name("x")
                .filter_pattern("ERROR")
                .metric_transformations(transformation("M", "1"))
                .send()
                .await,
        );
        assert_eq!(code, "ResourceNotFoundException");
        let (code, _) = refused(
            c.put_metric_filter()
                .log_group_name("/mf/web")
                .filter_name("two")
                .filter_pattern("ERROR")
                .metric_transformations(transformation("A", "1"))
                .metric_transformations(transformation("B", "1"))
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException");
        let (code, _) = refused(
            c.put_metric_filter()
                .log_group_name("/mf/web")
                .filter_name("bad")
                .filter_pattern("[unclosed")
                .metric_transformations(transformation("A", "1"))
                .send()
                .await,
        );
        assert_eq!(code, "InvalidParameterException");
        let (code, _) = refused(c.test_metric_filter().filter_pattern("ERROR").send().await);
        assert_eq!(code, "InvalidParameterException");
        let (code, _) = refused(
            c.delete_metric_filter().log_group_name("/mf/web").filter_name("nope").send().await,
        );
        assert_eq!(code, "ResourceNotFoundException");

        c.delete_metric_filter()
            .log_group_name("/mf/web")
            .filter_name("errors")
            .send()
            .await
            .unwrap();
        let r = c.describe_metric_filters().log_group_name("/mf/web").send().await.unwrap();
        assert_eq!(r.metric_filters().len(), 2);

        // Deleting a group over HTTP deletes its filters, as over gRPC: a new group of that
        // name starts with none.
        c.delete_log_group().log_group_name("/mf/db").send().await.unwrap();
        c.create_log_group().log_group_name("/mf/db").send().await.unwrap();
        let r = c.describe_metric_filters().log_group_name("/mf/db").send().await.unwrap();
        assert!(r.metric_filters().is_empty(), "{r:?}");
    });
    // The exposition counts the filters left: errors-5xx and latency on /mf/web.
    let (status, body) = server.raw("GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    assert!(body.lines().any(|l| l == "logsight_metric_filters 2"), "{body}");
    assert!(body.lines().any(|l| l == "logsight_queries_running 0"), "{body}");
    assert!(body.contains("# TYPE logsight_metric_filter_lag_batches gauge"), "{body}");
}

/// Allows the Insights and metric-filter actions on `/app/*` but denies all on `/app/secret*`.
const QUERY_PRINCIPALS: &str = r#"[
  {"name": "analyst", "access_key_id": "AKIDANALYST", "secret_access_key": "analyst-secret",
   "policy": {"Statement": [
     {"Effect": "Allow", "Action": ["logs:StartQuery", "logs:GetQueryResults", "logs:GetLogGroupFields",
        "logs:*MetricFilter*", "logs:StartLiveTail", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
      "Resource": "arn:aws:logs:*:*:log-group:/app/*"},
     {"Effect": "Allow", "Action": "logs:GetQueryResults", "Resource": "*"},
     {"Effect": "Deny", "Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:/app/secret*"}]}},
  {"name": "admin", "access_key_id": "AKIDADMIN", "secret_access_key": "admin-secret",
   "policy": {"Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}}
]"#;

#[test]
fn queries_filters_and_tails_are_authorized_per_group_and_audited() {
    let server = Server::start(Some(QUERY_PRINCIPALS), 0);
    let analyst = server.client("AKIDANALYST", "analyst-secret");
    let admin = server.client("AKIDADMIN", "admin-secret");
    rt().block_on(async {
        for g in ["/app/web", "/app/secret", "/other"] {
            admin.create_log_group().log_group_name(g).send().await.unwrap();
        }
        let now = now_ms() / 1000;
        let query = |groups: &[&str], q: &str| {
            analyst
                .start_query()
                .set_log_group_names(Some(groups.iter().map(|g| g.to_string()).collect()))
                .start_time(now - 3600)
                .end_time(now + 60)
                .query_string(q)
                .send()
        };
        let id =
            query(&["/app/web"], "fields @message").await.unwrap().query_id().unwrap().to_owned();
        let (status, _, _) = results(&analyst, &id).await;
        assert_eq!(status, "Complete");
        for groups in [&["/app/secret"][..], &["/app/web", "/app/secret"], &["/other"]] {
            let (code, msg) = refused(query(groups, "fields @message").await);
            assert_eq!(code, "AccessDeniedException", "{groups:?}: {msg}");
            assert!(msg.contains("logs:StartQuery"), "{msg}");
        }
        // SOURCE names the groups in the query: it needs the action on every group.
        let (code, _) = refused(
            query(&[], r#"SOURCE logGroups(namePrefix: ["/app/"]) | fields @message"#).await,
        );
        assert_eq!(code, "AccessDeniedException");
        let (code, _) = refused(analyst.describe_queries().send().await);
        assert_eq!(code, "AccessDeniedException");

        let fields = |g: &str| analyst.get_log_group_fields().log_group_name(g).send();
        fields("/app/web").await.unwrap();
        assert_eq!(refused(fields("/app/secret").await).0, "AccessDeniedException");

        let put_filter = |g: &str| {
            analyst
                .put_metric_filter()
                .log_group_name(g)
                .filter_name("errors")
                .filter_pattern("ERROR")
                .metric_transformations(transformation("Errors", "1"))
                .send()
        };
        put_filter("/app/web").await.unwrap();
        assert_eq!(refused(put_filter("/app/secret").await).0, "AccessDeniedException");
        assert_eq!(refused(put_filter("/other").await).0, "AccessDeniedException");
        let tailer = tail_client(&server, "AKIDANALYST", "analyst-secret");
        let tail = |g: &str| tailer.start_live_tail().log_group_identifiers(g).send();
        let mut session = tail("/app/web").await.unwrap();
        let first = session.response_stream.recv().await.unwrap().unwrap();
        assert!(first.is_session_start(), "{first:?}");
        drop(session);
        let (code, msg) = refused(tail("/app/secret").await);
        assert_eq!(code, "AccessDeniedException", "{msg}");

        // Both outcomes are in the trail, with the groups the query named.
        let records = audit_records(&admin, |rs| {
            rs.iter().filter(|r| r["eventName"] == "StartQuery").count() >= 5
                && rs.iter().filter(|r| r["eventName"] == "StartLiveTail").count() >= 2
        })
        .await;
        let starts: Vec<&serde_json::Value> =
            records.iter().filter(|r| r["eventName"] == "StartQuery").collect();
        assert!(starts.iter().any(|r| r["errorCode"].is_null()
            && r["requestParameters"]["logGroupNames"] == serde_json::json!(["/app/web"])
            && r["userIdentity"]["userName"] == "analyst"));
        assert!(starts.iter().any(|r| r["errorCode"] == "AccessDeniedException"
            && r["requestParameters"]["logGroupNames"] == serde_json::json!(["/app/secret"])));
        let put = records.iter().find(|r| {
            r["eventName"] == "PutMetricFilter" && r["errorCode"] == "AccessDeniedException"
        });
        assert!(put.is_some(), "{records:#?}");
        let tails: Vec<_> = records.iter().filter(|r| r["eventName"] == "StartLiveTail").collect();
        assert!(tails[0]["errorCode"].is_null(), "{:?}", tails[0]);
        assert_eq!(
            tails[0]["requestParameters"]["logGroupIdentifiers"],
            serde_json::json!(["/app/web"])
        );
        assert_eq!(tails[1]["errorCode"], "AccessDeniedException");
        assert!(tails.iter().all(|t| t["readOnly"] == true));
    });
}

/// Rewrites the SDK's `streaming-` host prefix away: the SDK sends StartLiveTail to
/// `streaming-<host>`, which loopback addresses can not be.
#[derive(Debug)]
struct NoHostPrefix;

impl cwl::config::Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "NoHostPrefix"
    }

    fn modify_before_signing(
        &self,
        context: &mut cwl::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _: &cwl::config::RuntimeComponents,
        _: &mut cwl::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let uri = context.request().uri().replace("://streaming-", "://");
        context.request_mut().set_uri(uri)?;
        Ok(())
    }
}

/// An SDK client as [`Server::client`]'s, whose StartLiveTail reaches the server.
fn tail_client(server: &Server, akid: &str, secret: &str) -> cwl::Client {
    let conf = cwl::Config::builder()
        .behavior_version(cwl::config::BehaviorVersion::latest())
        .region(cwl::config::Region::new("us-east-1"))
        .endpoint_url(&server.http)
        .credentials_provider(cwl::config::Credentials::new(akid, secret, None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(cwl::config::retry::RetryConfig::disabled())
        .interceptor(NoHostPrefix)
        .build();
    cwl::Client::from_conf(conf)
}

#[test]
fn live_tail_through_the_aws_sdk_event_stream() {
    let server = Server::start_with(None, 0, |o| {
        o.live_tail_update_interval = Duration::from_millis(200);
        // Shorter than the session: a streaming answer keeps its connection from being idle.
        o.idle_timeout = Duration::from_millis(500);
    });
    let c = tail_client(&server, "AKIDANY", "any-secret");
    rt().block_on(async {
        group_with_stream(&c, "/tail/web", "host-1").await;
        c.create_log_stream()
            .log_group_name("/tail/web")
            .log_stream_name("host-2")
            .send()
            .await
            .unwrap();
        let arn = "arn:aws:logs:us-east-1:000000000000:log-group:/tail/web";
        let mut session = c
            .start_live_tail()
            .log_group_identifiers(arn)
            .log_event_filter_pattern("ERROR")
            .send()
            .await
            .unwrap();
        let first = session.response_stream.recv().await.unwrap().unwrap();
        let StartLiveTailResponseStream::SessionStart(start) = first else { panic!("{first:?}") };
        assert_eq!(start.log_group_identifiers(), [arn]);
        assert_eq!(start.log_event_filter_pattern(), Some("ERROR"));
        assert!(start.session_id().is_some_and(|s| !s.is_empty()));

        let now = now_ms();
        let lines: Vec<(String, String)> = (0..40)
            .map(|i| {
                let stream = if i % 2 == 0 { "host-1" } else { "host-2" };
                let level = if i % 3 == 0 { "ERROR" } else { "INFO" };
                (stream.to_owned(), format!("{level} request {i}"))
            })
            .collect();
        for stream in ["host-1", "host-2"] {
            let events = lines
                .iter()
                .enumerate()
                .filter(|(_, (s, _))| s == stream)
                .map(|(i, (_, m))| event(now - 40_000 + i as i64 * 1000, m))
                .collect();
            put(&c, "/tail/web", stream, events).await;
        }
        let want: BTreeSet<(String, String)> =
            lines.iter().filter(|(_, m)| m.contains("ERROR")).cloned().collect();

        let mut got = BTreeSet::new();
        let mut updates = 0;
        while got.len() < want.len() {
            let next =
                tokio::time::timeout(Duration::from_secs(20), session.response_stream.recv())
                    .await
                    .expect("no update within 20 s")
                    .unwrap()
                    .unwrap();
            let StartLiveTailResponseStream::SessionUpdate(u) = next else { panic!("{next:?}") };
            updates += 1;
            assert_eq!(u.session_metadata().map(|m| m.sampled()), Some(false));
            for e in u.session_results() {
                assert_eq!(e.log_group_identifier(), Some(arn));
                assert!(e.ingestion_time().unwrap() >= now - 1000);
                got.insert((
                    e.log_stream_name().unwrap().to_owned(),
                    e.message().unwrap().to_owned(),
                ));
            }
        }
        assert_eq!(got, want);
        assert!(updates >= 1);

        // Deleting the group ends the session with the stream's modeled exception.
        c.delete_log_group().log_group_name("/tail/web").send().await.unwrap();
        let end = loop {
            match tokio::time::timeout(Duration::from_secs(20), session.response_stream.recv())
                .await
                .expect("the session did not end")
            {
                Ok(Some(StartLiveTailResponseStream::SessionUpdate(u))) => {
                    assert!(u.session_results().is_empty())
                }
                other => break other,
            }
        };
        let err = end.expect_err("the session should end with an exception");
        let err = err.into_service_error();
        assert!(err.is_session_streaming_exception(), "{err:?}");
        assert!(
            ProvideErrorMetadata::message(&err).unwrap().contains("ResourceNotFoundException"),
            "{err:?}"
        );

        // Refused before any stream: a missing group, or too many groups.
        let (code, _) =
            refused(c.start_live_tail().log_group_identifiers("/tail/none").send().await);
        assert_eq!(code, "ResourceNotFoundException");
        let eleven = (0..11).map(|i| format!("g{i}")).collect();
        let (code, _) =
            refused(c.start_live_tail().set_log_group_identifiers(Some(eleven)).send().await);
        assert_eq!(code, "InvalidParameterException");
    });
}

#[test]
fn live_tail_sessions_time_out_with_session_timeout_exception() {
    let server = Server::start_with(None, 0, |o| {
        o.live_tail_update_interval = Duration::from_millis(100);
        o.live_tail_timeout = Duration::from_millis(1500);
        o.idle_timeout = Duration::from_millis(400);
    });
    let c = tail_client(&server, "AKIDANY", "any-secret");
    rt().block_on(async {
        c.create_log_group().log_group_name("short").send().await.unwrap();
        let mut session = c.start_live_tail().log_group_identifiers("short").send().await.unwrap();
        let mut empty_updates = 0;
        let end = loop {
            match tokio::time::timeout(Duration::from_secs(20), session.response_stream.recv())
                .await
                .expect("the session did not end")
            {
                Ok(Some(StartLiveTailResponseStream::SessionStart(_))) => {}
                Ok(Some(StartLiveTailResponseStream::SessionUpdate(u))) => {
                    assert!(u.session_results().is_empty());
                    empty_updates += 1;
                }
                other => break other,
            }
        };
        // An update every interval, also when nothing matched, until the end, on a connection
        // open longer than the idle timeout.
        assert!(empty_updates >= 10, "{empty_updates}");
        let err = end.expect_err("the session should end with an exception").into_service_error();
        assert!(err.is_session_timeout_exception(), "{err:?}");
    });
}
