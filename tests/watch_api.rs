//! The Watch side end to end, on an in-process server on 127.0.0.1:0 whose clock the test
//! moves: ERROR events through a metric filter push a 10 s alarm to ALARM, a loopback webhook
//! receives the change, the alarm returns to OK under notBreaching when the errors stop, the
//! metric's sum is the number of matching events, history shows the transitions, every change
//! is an event in `/logsight/alarms`, and a restart keeps state and data.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use logsight_proto::v1 as pb;
use logsight_proto::v1::watch_client::WatchClient;
use logsight_storage::ManualClock;
use tonic::transport::Channel;

use crate::support::{TestServer, create, now_ms, read_all};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn options(clock: &Arc<ManualClock>) -> logsight_server::ServerOptions {
    let mut opts = logsight_server::ServerOptions { clock: clock.clone(), ..Default::default() };
    opts.watch.tick = Duration::from_millis(20);
    opts.watch.actions.retry_backoff = Duration::from_millis(20);
    opts
}

/// A loopback HTTP receiver: every POST body goes to the channel, answered 200.
fn webhook_receiver() -> (String, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alarm", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// The next webhook body whose new state is `state`.
fn next_state(rx: &mpsc::Receiver<serde_json::Value>, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let body = rx.recv_timeout(left).unwrap_or_else(|_| panic!("no webhook for {state}"));
        if body["detail"]["state"]["value"] == state {
            return body;
        }
    }
}

/// Polls `f` until it returns `Some`, for at most 20 s (the server works on its own threads).
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(Instant::now() < deadline, "condition not reached in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn errors_sum(w: &mut WatchClient<Channel>, t: i64) -> Option<f64> {
    let r = w
        .get_metric_statistics(pb::GetMetricStatisticsRequest {
            namespace: "App".into(),
            metric_name: "Errors".into(),
            start_time: t,
            end_time: t + 10_000,
            period: 10,
            statistics: vec!["Sum".into(), "SampleCount".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    r.datapoints.first().and_then(|d| d.sum)
}

async fn alarm_state(w: &mut WatchClient<Channel>) -> pb::AlarmState {
    let r = w.describe_alarms(pb::DescribeAlarmsRequest {
        alarm_names: vec!["errors".into()],
        ..Default::default()
    });
    r.await.unwrap().into_inner().metric_alarms[0].state.clone().unwrap()
}

#[test]
fn errors_through_a_metric_filter_raise_an_alarm_that_calls_a_webhook() {
    // A 10-second boundary a minute ago, so the events' period is complete when the clock says.
    let t0 = (now_ms() - 60_000).div_euclid(10_000) * 10_000;
    let clock = Arc::new(ManualClock::new(t0));
    let mut server = TestServer::start_with(options(&clock));
    let (url, hooks) = webhook_receiver();
    rt().block_on(async {
        let mut logs = server.client().await;
        let mut w = WatchClient::connect(server.endpoint.clone()).await.unwrap();
        create(&mut logs, "app", &["web-1"]).await;
        w.put_metric_filter(pb::PutMetricFilterRequest {
            log_group_name: "app".into(),
            filter_name: "errors".into(),
            filter_pattern: "ERROR".into(),
            metric_transformations: vec![pb::MetricTransformation {
                metric_name: "Errors".into(),
                metric_namespace: "App".into(),
                metric_value: "1".into(),
                unit: "Count".into(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
        let groups = logs
            .describe_log_groups(pb::DescribeLogGroupsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            groups
                .log_groups
                .iter()
                .find(|g| g.log_group_name == "app")
                .unwrap()
                .metric_filter_count,
            1
        );

        w.put_metric_alarm(pb::PutMetricAlarmRequest {
            alarm_name: "errors".into(),
            metric_name: "Errors".into(),
            namespace: "App".into(),
            statistic: "Sum".into(),
            period: 10,
            evaluation_periods: 1,
            threshold: 1.0,
            comparison_operator: "GreaterThanOrEqualToThreshold".into(),
            treat_missing_data: "notBreaching".into(),
            alarm_actions: vec![format!("webhook:{url}")],
            ok_actions: vec![format!("webhook:{url}")],
            ..Default::default()
        })
        .await
        .unwrap();
        // Evaluated at once: no data, notBreaching.
        next_state(&hooks, "OK");

        let messages =
            ["ERROR a", "INFO b", "ERROR c", "ERROR d", "DEBUG e", "ERROR f", "INFO g", "ERROR h"];
        let events = messages
            .iter()
            .enumerate()
            .map(|(i, m)| pb::InputLogEvent { timestamp: t0 + 1 + i as i64, message: (*m).into() })
            .collect();
        logs.put_log_events(pb::PutLogEventsRequest {
            log_group_name: "app".into(),
            log_stream_name: "web-1".into(),
            log_events: events,
            ..Default::default()
        })
        .await
        .unwrap();
        let matching = messages.iter().filter(|m| m.starts_with("ERROR")).count() as f64;
        let sum = eventually(|| {
            let mut w = w.clone();
            async move { errors_sum(&mut w, t0).await }
        })
        .await;
        assert_eq!(sum, matching);

        clock.set(t0 + 10_000);
        let alarm = next_state(&hooks, "ALARM");
        assert_eq!(alarm["detail-type"], "CloudWatch Alarm State Change");
        assert_eq!(alarm["detail"]["alarmName"], "errors");
        assert_eq!(alarm["detail"]["previousState"]["value"], "OK");
        let state = alarm_state(&mut w).await;
        assert_eq!(state.state_value, "ALARM");
        assert!(
            state.state_reason.starts_with("Threshold Crossed: 1 datapoint [5.0 ("),
            "{}",
            state.state_reason
        );

        // The errors stop: once the datapoint leaves the range, notBreaching means OK.
        clock.set(t0 + 40_000);
        let ok = next_state(&hooks, "OK");
        assert_eq!(ok["detail"]["previousState"]["value"], "ALARM");

        let history = w
            .describe_alarm_history(pb::DescribeAlarmHistoryRequest {
                alarm_name: "errors".into(),
                history_item_type: "StateUpdate".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let summaries: Vec<_> =
            history.alarm_history_items.iter().map(|h| h.history_summary.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "Alarm updated from ALARM to OK",
                "Alarm updated from OK to ALARM",
                "Alarm updated from INSUFFICIENT_DATA to OK"
            ]
        );
        let logged = eventually(|| {
            let mut logs = logs.clone();
            async move {
                let events = read_all(&mut logs, "/logsight/alarms", "state-changes").await;
                (events.len() == 3).then_some(events)
            }
        })
        .await;
        assert!(logged[1].message.contains("\"value\":\"ALARM\""), "{}", logged[1].message);
    });

    // A restart keeps the alarm's state and the metric, and counts nothing twice.
    server.restart_with(options(&clock));
    rt().block_on(async {
        let mut w = WatchClient::connect(server.endpoint.clone()).await.unwrap();
        assert_eq!(alarm_state(&mut w).await.state_value, "OK");
        assert_eq!(errors_sum(&mut w, t0).await, Some(5.0));
        let status = eventually(|| {
            let mut w = w.clone();
            async move {
                let s =
                    w.get_watch_status(pb::GetWatchStatusRequest {}).await.unwrap().into_inner();
                (s.lag_batches == 0).then_some(s)
            }
        })
        .await;
        assert_eq!(status.lost_batches, 0);
        assert_eq!(errors_sum(&mut w, t0).await, Some(5.0));
    });
}

#[test]
fn metric_filter_and_metric_apis_validate_and_page() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut logs = server.client().await;
        let mut w = WatchClient::connect(server.endpoint.clone()).await.unwrap();
        let put = |group: &str, name: &str, pattern: &str| pb::PutMetricFilterRequest {
            log_group_name: group.into(),
            filter_name: name.into(),
            filter_pattern: pattern.into(),
            metric_transformations: vec![pb::MetricTransformation {
                metric_name: "M".into(),
                metric_namespace: "N".into(),
                metric_value: "1".into(),
                ..Default::default()
            }],
        };
        let e = w.put_metric_filter(put("nope", "f", "ERROR")).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        create(&mut logs, "g", &[]).await;
        let e = w.put_metric_filter(put("g", "f", "{ $.a = ")).await.unwrap_err();
        assert!(
            e.message().starts_with("InvalidParameterException: invalid filterPattern"),
            "{}",
            e.message()
        );
        for i in 0..3 {
            w.put_metric_filter(put("g", &format!("f{i}"), "ERROR")).await.unwrap();
        }
        let page = w
            .describe_metric_filters(pb::DescribeMetricFiltersRequest {
                log_group_name: Some("g".into()),
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            page.metric_filters.iter().map(|f| f.filter_name.as_str()).collect::<Vec<_>>(),
            ["f0", "f1"]
        );
        let rest = w
            .describe_metric_filters(pb::DescribeMetricFiltersRequest {
                log_group_name: Some("g".into()),
                next_token: page.next_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rest.metric_filters.len(), 1);
        assert!(rest.next_token.is_none());
        w.delete_metric_filter(pb::DeleteMetricFilterRequest {
            log_group_name: "g".into(),
            filter_name: "f0".into(),
        })
        .await
        .unwrap();
        let e = w
            .delete_metric_filter(pb::DeleteMetricFilterRequest {
                log_group_name: "g".into(),
                filter_name: "f0".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);

        let t = w
            .test_metric_filter(pb::TestMetricFilterRequest {
                filter_pattern: "[w1=ERROR, w2]".into(),
                log_event_messages: vec!["INFO x".into(), "ERROR y".into()],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(t.matches.len(), 1);
        assert_eq!(t.matches[0].event_number, 2);
        assert_eq!(t.matches[0].extracted_values["$w2"], "y");

        // PutMetricData, then statistics and several series at once.
        let t0 = (now_ms() - 600_000).div_euclid(60_000) * 60_000;
        let datum = |host: &str, ts: i64, values: Vec<f64>| pb::MetricDatum {
            metric_name: "Latency".into(),
            dimensions: vec![pb::Dimension { name: "host".into(), value: host.into() }],
            timestamp: ts,
            values,
            unit: "Milliseconds".into(),
            ..Default::default()
        };
        w.put_metric_data(pb::PutMetricDataRequest {
            namespace: "Web".into(),
            metric_data: vec![
                datum("a", t0, vec![10.0, 20.0, 30.0]),
                datum("a", t0 + 60_000, vec![5.0]),
                datum("b", t0, vec![1.0]),
            ],
        })
        .await
        .unwrap();
        let e = w
            .put_metric_data(pb::PutMetricDataRequest {
                namespace: "Web".into(),
                metric_data: vec![datum("a", t0, vec![f64::NAN])],
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        let stats = w
            .get_metric_statistics(pb::GetMetricStatisticsRequest {
                namespace: "Web".into(),
                metric_name: "Latency".into(),
                dimensions: vec![pb::Dimension { name: "host".into(), value: "a".into() }],
                start_time: t0,
                end_time: t0 + 120_000,
                period: 60,
                statistics: vec!["Average".into(), "Maximum".into(), "SampleCount".into()],
                extended_statistics: vec!["p50".into()],
            })
            .await
            .unwrap()
            .into_inner();
        let d = &stats.datapoints;
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].timestamp, d[0].average, d[0].maximum, d[0].sample_count),
            (t0, Some(20.0), Some(30.0), Some(3.0))
        );
        assert!((d[0].extended_statistics["p50"] - 20.0).abs() <= 0.2 + 1e-9);
        assert_eq!(d[0].unit, "Milliseconds");
        let metric = |host: &str| pb::Metric {
            namespace: "Web".into(),
            metric_name: "Latency".into(),
            dimensions: vec![pb::Dimension { name: "host".into(), value: host.into() }],
        };
        let data = w
            .get_metric_data(pb::GetMetricDataRequest {
                metric_data_queries: ["a", "b"]
                    .iter()
                    .map(|h| pb::MetricDataQuery {
                        id: format!("m_{h}"),
                        metric_stat: Some(pb::MetricStat {
                            metric: Some(metric(h)),
                            period: 60,
                            stat: "Sum".into(),
                        }),
                        label: String::new(),
                    })
                    .collect(),
                start_time: t0,
                end_time: t0 + 120_000,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(data.metric_data_results[0].values, [5.0, 60.0], "newest first");
        assert_eq!(data.metric_data_results[0].timestamps, [t0 + 60_000, t0]);
        assert_eq!(data.metric_data_results[1].values, [1.0]);
        let listed = w
            .list_metrics(pb::ListMetricsRequest {
                namespace: "Web".into(),
                dimensions: vec![pb::DimensionFilter {
                    name: "host".into(),
                    value: Some("b".into()),
                }],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.metrics, [metric("b")]);

        let e = w
            .put_metric_alarm(pb::PutMetricAlarmRequest {
                alarm_name: "x".into(),
                metric_name: "Latency".into(),
                namespace: "Web".into(),
                statistic: "Sum".into(),
                period: 45,
                evaluation_periods: 1,
                comparison_operator: "GreaterThanThreshold".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(e.message().contains("Period"), "{}", e.message());
    });
}

#[test]
fn statistic_sets_and_alarms_for_a_metric() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut w = WatchClient::connect(server.endpoint.clone()).await.unwrap();
        let t0 = (now_ms() - 600_000).div_euclid(60_000) * 60_000;
        let set = |n: f64, sum: f64, min: f64, max: f64| pb::MetricDatum {
            metric_name: "Latency".into(),
            timestamp: t0,
            statistic_values: Some(pb::StatisticSet {
                sample_count: n,
                sum,
                minimum: min,
                maximum: max,
            }),
            ..Default::default()
        };
        // Two sets and one plain value in one minute: 10 + 5 + 1 samples.
        let plain = pb::MetricDatum {
            metric_name: "Latency".into(),
            timestamp: t0,
            value: Some(7.0),
            ..Default::default()
        };
        w.put_metric_data(pb::PutMetricDataRequest {
            namespace: "Web".into(),
            metric_data: vec![set(10.0, 200.0, 2.0, 90.0), set(5.0, 25.0, 1.0, 9.0), plain],
        })
        .await
        .unwrap();
        for (bad, field) in [
            (set(0.0, 0.0, 0.0, 0.0), "SampleCount"),
            (set(2.0, 3.0, 5.0, 1.0), "Minimum"),
            (pb::MetricDatum { value: Some(1.0), ..set(1.0, 1.0, 1.0, 1.0) }, "StatisticValues"),
        ] {
            let e = w
                .put_metric_data(pb::PutMetricDataRequest {
                    namespace: "Web".into(),
                    metric_data: vec![bad],
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{field}");
            assert!(e.message().contains(field), "{field}: {}", e.message());
        }
        let stats = w
            .get_metric_statistics(pb::GetMetricStatisticsRequest {
                namespace: "Web".into(),
                metric_name: "Latency".into(),
                start_time: t0,
                end_time: t0 + 60_000,
                period: 60,
                statistics: ["SampleCount", "Sum", "Minimum", "Maximum", "Average"]
                    .map(String::from)
                    .to_vec(),
                extended_statistics: vec!["p50".into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let d = &stats.datapoints[..];
        assert_eq!(d.len(), 1, "the rejected datums changed nothing");
        assert_eq!(
            (d[0].sample_count, d[0].sum, d[0].minimum, d[0].maximum, d[0].average),
            (Some(16.0), Some(232.0), Some(1.0), Some(90.0), Some(14.5))
        );
        assert!(
            !d[0].extended_statistics.contains_key("p50"),
            "no percentile over statistic sets: {:?}",
            d[0].extended_statistics
        );

        let alarm =
            |name: &str, stat: &str, period: i32, host: Option<&str>| pb::PutMetricAlarmRequest {
                alarm_name: name.into(),
                metric_name: "Latency".into(),
                namespace: "Web".into(),
                statistic: if stat.starts_with('p') { String::new() } else { stat.into() },
                extended_statistic: if stat.starts_with('p') { stat.into() } else { String::new() },
                dimensions: host
                    .map(|h| vec![pb::Dimension { name: "host".into(), value: h.into() }])
                    .unwrap_or_default(),
                period,
                evaluation_periods: 1,
                threshold: 100.0,
                comparison_operator: "GreaterThanThreshold".into(),
                evaluate_low_sample_count_percentile: "ignore".into(),
                ..Default::default()
            };
        for a in [
            alarm("avg", "Average", 60, None),
            alarm("p99", "p99", 60, None),
            alarm("avg-5m", "Average", 300, None),
            alarm("host-a", "Average", 60, Some("a")),
        ] {
            w.put_metric_alarm(a).await.unwrap();
        }
        let e = w
            .put_metric_alarm(pb::PutMetricAlarmRequest {
                evaluate_low_sample_count_percentile: "sometimes".into(),
                ..alarm("bad", "p99", 60, None)
            })
            .await
            .unwrap_err();
        assert!(e.message().contains("EvaluateLowSampleCountPercentile"), "{}", e.message());
        let for_metric = |statistic: &str, extended: &str, period: i32, host: Option<&str>| {
            pb::DescribeAlarmsForMetricRequest {
                metric_name: "Latency".into(),
                namespace: "Web".into(),
                dimensions: host
                    .map(|h| vec![pb::Dimension { name: "host".into(), value: h.into() }])
                    .unwrap_or_default(),
                statistic: statistic.into(),
                extended_statistic: extended.into(),
                period,
            }
        };
        let mut names = Vec::new();
        for q in [
            for_metric("", "", 0, None),
            for_metric("Average", "", 0, None),
            for_metric("", "p99", 0, None),
            for_metric("Average", "", 300, None),
            for_metric("", "", 0, Some("a")),
            for_metric("", "", 0, Some("b")),
        ] {
            let r = w.describe_alarms_for_metric(q).await.unwrap().into_inner();
            names.push(r.metric_alarms.iter().map(|a| a.alarm_name.clone()).collect::<Vec<_>>());
        }
        assert_eq!(
            names,
            [
                vec!["avg", "avg-5m", "p99"],
                vec!["avg", "avg-5m"],
                vec!["p99"],
                vec!["avg-5m"],
                vec!["host-a"],
                vec![],
            ]
        );
        let p99 = w
            .describe_alarms_for_metric(for_metric("", "p99", 0, None))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(p99.metric_alarms[0].evaluate_low_sample_count_percentile, "ignore");
        let e =
            w.describe_alarms_for_metric(for_metric("Average", "p99", 0, None)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    });
}

#[test]
fn the_command_line_drives_filters_alarms_and_metrics() {
    use crate::support::logsight_ok;
    let server = TestServer::start();
    rt().block_on(async {
        let mut logs = server.client().await;
        create(&mut logs, "app", &[]).await;
    });
    let ep = server.endpoint.as_str();
    let out = logsight_ok(
        &[
            "metric-filters",
            "put",
            "--endpoint",
            ep,
            "--group",
            "app",
            "--name",
            "bytes",
            "--pattern",
            "[ip, user, status, bytes]",
            "--metric-name",
            "Bytes",
            "--namespace",
            "Web",
            "--metric-value",
            "$bytes",
            "--dimension",
            "Status=$status",
            "--unit",
            "Bytes",
        ],
        b"",
    );
    assert!(out.contains("metric filter bytes on app"), "{out}");
    let listed =
        logsight_ok(&["metric-filters", "list", "--endpoint", ep, "--output", "json"], b"");
    let f: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(
        (f["filter_name"].as_str(), f["dimensions"]["Status"].as_str()),
        (Some("bytes"), Some("$status"))
    );
    let tested = logsight_ok(
        &[
            "metric-filters",
            "test",
            "--endpoint",
            ep,
            "--pattern",
            "[ip, user, status, bytes]",
            "--output",
            "json",
        ],
        b"INFO\n1.2.3.4 bob 404 12\n",
    );
    let m: serde_json::Value = serde_json::from_str(tested.trim()).unwrap();
    assert_eq!(
        (m["event_number"].as_i64(), m["extracted_values"]["$bytes"].as_str()),
        (Some(2), Some("12"))
    );

    let t0 = (now_ms() - 600_000).div_euclid(60_000) * 60_000;
    for (offset, value) in [(0, "3"), (1_000, "4"), (60_000, "10")] {
        let ts = (t0 + offset).to_string();
        logsight_ok(
            &[
                "metrics",
                "put",
                "--endpoint",
                ep,
                "--namespace",
                "Web",
                "--metric-name",
                "Queue",
                "--value",
                value,
                "--timestamp",
                &ts,
            ],
            b"",
        );
    }
    let (start, end) = (t0.to_string(), (t0 + 120_000).to_string());
    let got = logsight_ok(
        &[
            "metrics",
            "get",
            "--endpoint",
            ep,
            "--namespace",
            "Web",
            "--metric-name",
            "Queue",
            "--statistic",
            "Sum",
            "--period",
            "60",
            "--start",
            &start,
            "--end",
            &end,
            "--output",
            "json",
        ],
        b"",
    );
    let got: serde_json::Value = serde_json::from_str(got.trim()).unwrap();
    assert_eq!(
        got,
        serde_json::json!([{"timestamp": t0, "sum": 7.0}, {"timestamp": t0 + 60_000, "sum": 10.0}])
    );
    let table = logsight_ok(
        &[
            "metrics",
            "get",
            "--endpoint",
            ep,
            "--namespace",
            "Web",
            "--metric-name",
            "Queue",
            "--period",
            "60",
            "--start",
            &start,
            "--end",
            &end,
        ],
        b"",
    );
    assert!(table.starts_with("▁█\n"), "{table}");
    let listed = logsight_ok(&["metrics", "list", "--endpoint", ep, "--namespace", "Web"], b"");
    assert!(listed.contains("Queue"), "{listed}");

    logsight_ok(
        &[
            "alarms",
            "put",
            "--endpoint",
            ep,
            "--name",
            "queue-high",
            "--namespace",
            "Web",
            "--metric-name",
            "Queue",
            "--statistic",
            "Maximum",
            "--period",
            "60",
            "--threshold",
            "100",
            "--comparison-operator",
            "GreaterThanThreshold",
        ],
        b"",
    );
    logsight_ok(
        &[
            "alarms",
            "set-state",
            "--endpoint",
            ep,
            "--name",
            "queue-high",
            "--state",
            "ALARM",
            "--reason",
            "drill",
        ],
        b"",
    );
    // The evaluator runs beside these commands (the alarm has no data: an evaluation may move
    // it back to INSUFFICIENT_DATA at any time), so the forced change is checked in the history.
    let listed = logsight_ok(&["alarms", "list", "--endpoint", ep, "--output", "json"], b"");
    let a: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(
        (a["alarm_name"].as_str(), a["alarm_type"].as_str()),
        (Some("queue-high"), Some("MetricAlarm"))
    );
    assert_eq!(a["actions_enabled"], true);
    logsight_ok(&["alarms", "disable", "--endpoint", ep, "queue-high"], b"");
    let listed = logsight_ok(&["alarms", "list", "--endpoint", ep, "--output", "json"], b"");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(listed.trim()).unwrap()["actions_enabled"],
        false
    );
    let history = logsight_ok(
        &[
            "alarms",
            "history",
            "--endpoint",
            ep,
            "--name",
            "queue-high",
            "--type",
            "StateUpdate",
            "--output",
            "json",
        ],
        b"",
    );
    let forced = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|h| h["history_summary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM")
        .expect("the forced change is in the history");
    let data: serde_json::Value =
        serde_json::from_str(forced["history_data"].as_str().unwrap()).unwrap();
    assert_eq!(data["newState"]["stateReason"], "drill");
    logsight_ok(&["alarms", "delete", "--endpoint", ep, "queue-high"], b"");
    let empty = logsight_ok(&["alarms", "list", "--endpoint", ep], b"");
    assert!(empty.trim().is_empty(), "{empty}");
}

#[test]
fn the_command_line_puts_statistic_sets_and_lists_alarms_for_a_metric() {
    use crate::support::{logsight, logsight_ok};
    let server = TestServer::start();
    let ep = server.endpoint.as_str();
    let t0 = (now_ms() - 600_000).div_euclid(60_000) * 60_000;
    let put = |extra: &[&str], ts: i64| {
        let ts = ts.to_string();
        let mut args = vec![
            "metrics",
            "put",
            "--endpoint",
            ep,
            "--namespace",
            "Web",
            "--metric-name",
            "Queue",
            "--dimension",
            "Host=a",
            "--timestamp",
            &ts,
        ];
        args.extend_from_slice(extra);
        logsight(&args, b"")
    };
    // Four samples summing to 20, from 1 to 9, then one plain sample of 5.
    assert!(put(&["--statistic-values", "4,20,1,9"], t0).status.success());
    assert!(put(&["--value", "5"], t0 + 1_000).status.success());
    let bad = put(&["--statistic-values", "4,20,1"], t0);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SAMPLECOUNT,SUM,MIN,MAX"));
    let both = put(&["--statistic-values", "1,1,1,1", "--value", "1"], t0);
    assert!(!both.status.success(), "a set and a value at once are refused");
    let (start, end) = (t0.to_string(), (t0 + 60_000).to_string());
    for (statistic, key, want) in [
        ("SampleCount", "sample_count", 5.0),
        ("Sum", "sum", 25.0),
        ("Minimum", "minimum", 1.0),
        ("Maximum", "maximum", 9.0),
        ("Average", "average", 5.0),
    ] {
        let got = logsight_ok(
            &[
                "metrics",
                "get",
                "--endpoint",
                ep,
                "--namespace",
                "Web",
                "--metric-name",
                "Queue",
                "--dimension",
                "Host=a",
                "--statistic",
                statistic,
                "--period",
                "60",
                "--start",
                &start,
                "--end",
                &end,
                "--output",
                "json",
            ],
            b"",
        );
        let got: serde_json::Value = serde_json::from_str(got.trim()).unwrap();
        assert_eq!(got, serde_json::json!([{"timestamp": t0, key: want}]), "{statistic}");
    }

    for (name, metric, host, statistic, period) in [
        ("queue-a-max", "Queue", "Host=a", "Maximum", "60"),
        ("queue-a-sum", "Queue", "Host=a", "Sum", "300"),
        ("queue-a-p99", "Queue", "Host=a", "p99", "60"),
        ("queue-b-max", "Queue", "Host=b", "Maximum", "60"),
        ("other-a-max", "Other", "Host=a", "Maximum", "60"),
    ] {
        logsight_ok(
            &[
                "alarms",
                "put",
                "--endpoint",
                ep,
                "--name",
                name,
                "--namespace",
                "Web",
                "--metric-name",
                metric,
                "--dimension",
                host,
                "--statistic",
                statistic,
                "--period",
                period,
                "--threshold",
                "100",
            ],
            b"",
        );
    }
    let for_metric = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "alarms",
            "for-metric",
            "--endpoint",
            ep,
            "--namespace",
            "Web",
            "--metric-name",
            "Queue",
            "--dimension",
            "Host=a",
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = logsight_ok(&args, b"");
        let mut names: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|a| {
                assert_eq!(a["alarm_type"], "MetricAlarm");
                a["alarm_name"].as_str().unwrap().to_owned()
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(for_metric(&[]), ["queue-a-max", "queue-a-p99", "queue-a-sum"]);
    assert_eq!(for_metric(&["--statistic", "Maximum"]), ["queue-a-max"]);
    assert_eq!(for_metric(&["--statistic", "p99"]), ["queue-a-p99"]);
    assert_eq!(for_metric(&["--period", "300"]), ["queue-a-sum"]);
    assert!(for_metric(&["--statistic", "Minimum"]).is_empty());
    let table = logsight_ok(
        &[
            "alarms",
            "for-metric",
            "--endpoint",
            ep,
            "--namespace",
            "Web",
            "--metric-name",
            "Queue",
            "--dimension",
            "Host=b",
        ],
        b"",
    );
    assert!(table.starts_with("queue-b-max") && table.contains("Maximum(Web/Queue)"), "{table}");
    let bad = logsight(
        &[
            "alarms",
            "for-metric",
            "--endpoint",
            ep,
            "--namespace",
            "Web",
            "--metric-name",
            "Queue",
            "--dimension",
            "nohost",
        ],
        b"",
    );
    assert!(!bad.status.success());
}

/// Every stored event is counted once, also across a kill -9 of the server during ingest.
#[test]
fn a_kill_9_during_ingest_neither_loses_nor_double_counts() {
    use crate::server_cli::spawn_server;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, ep) = spawn_server(&data);
    let t0 = now_ms();
    let acked = rt().block_on(async {
        let mut logs =
            logsight_proto::v1::logs_client::LogsClient::connect(ep.clone()).await.unwrap();
        let mut w = WatchClient::connect(ep.clone()).await.unwrap();
        create(&mut logs, "app", &["s1", "s2"]).await;
        w.put_metric_filter(pb::PutMetricFilterRequest {
            log_group_name: "app".into(),
            filter_name: "errors".into(),
            filter_pattern: "ERROR".into(),
            metric_transformations: vec![pb::MetricTransformation {
                metric_name: "Errors".into(),
                metric_namespace: "App".into(),
                metric_value: "1".into(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
        // Two writers; the server is killed while they send.
        let mut tasks = Vec::new();
        for s in ["s1", "s2"] {
            let mut logs = logs.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked: usize = 0;
                for b in 0..10_000 {
                    let events = (0..40)
                        .map(|i| pb::InputLogEvent {
                            timestamp: t0 + b,
                            message: format!(
                                "{} {s} {b} {i}",
                                if i % 4 == 0 { "ERROR" } else { "INFO" }
                            ),
                        })
                        .collect();
                    let r = logs.put_log_events(pb::PutLogEventsRequest {
                        log_group_name: "app".into(),
                        log_stream_name: s.into(),
                        log_events: events,
                        ..Default::default()
                    });
                    match r.await {
                        Ok(_) => acked += 10,
                        Err(_) => break,
                    }
                }
                acked
            }));
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let ok = std::process::Command::new("kill")
            .args(["-9", &server.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let mut acked: usize = 0;
        for t in tasks {
            acked += t.await.unwrap();
        }
        acked
    });
    server.wait().unwrap();
    assert!(acked > 0, "some batches were acknowledged before the kill");

    let (mut server, ep) = spawn_server(&data);
    rt().block_on(async {
        let mut logs =
            logsight_proto::v1::logs_client::LogsClient::connect(ep.clone()).await.unwrap();
        let mut w = WatchClient::connect(ep.clone()).await.unwrap();
        let mut stored = 0;
        for s in ["s1", "s2"] {
            stored += read_all(&mut logs, "app", s)
                .await
                .iter()
                .filter(|e| e.message.starts_with("ERROR"))
                .count();
        }
        assert!(stored >= acked, "acknowledged events survive: {stored} < {acked}");
        eventually(|| {
            let mut w = w.clone();
            async move {
                let s =
                    w.get_watch_status(pb::GetWatchStatusRequest {}).await.unwrap().into_inner();
                (s.lag_batches == 0).then_some(())
            }
        })
        .await;
        let r = w
            .get_metric_statistics(pb::GetMetricStatisticsRequest {
                namespace: "App".into(),
                metric_name: "Errors".into(),
                start_time: t0 - 3_600_000,
                end_time: t0 + 3_600_000,
                period: 3600,
                statistics: vec!["Sum".into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let sum: f64 = r.datapoints.iter().filter_map(|d| d.sum).sum();
        assert_eq!(sum, stored as f64, "every stored ERROR event counted exactly once");
    });
    let _ = server.kill();
    server.wait().unwrap();
}
