use std::collections::BTreeMap;

use logsight_alarms::{
    AlarmSpec, ComparisonOperator, LowSampleCount, MetricRef, Period, TreatMissingData,
};
use logsight_metrics::{Delta, MetricStoreOptions, Write};

use super::*;

const T: i64 = 1_700_000_040_000; // a minute boundary

fn spec(name: &str) -> AlarmSpec {
    AlarmSpec {
        name: name.into(),
        description: "errors".into(),
        metric: MetricRef {
            namespace: "App".into(),
            name: "Errors".into(),
            dimensions: BTreeMap::new(),
        },
        statistic: Statistic::Sum,
        period: Period::new(10).unwrap(),
        evaluation_periods: 1,
        datapoints_to_alarm: 1,
        threshold: 1.0,
        comparison: ComparisonOperator::GreaterThanOrEqualToThreshold,
        treat_missing_data: TreatMissingData::NotBreaching,
        evaluate_low_sample_count_percentile: LowSampleCount::Evaluate,
        alarm_actions: vec!["webhook:http://127.0.0.1:9/hook".parse().unwrap()],
        ok_actions: vec![],
        insufficient_data_actions: vec![],
        actions_enabled: true,
    }
}

fn errors(metrics: &MetricStore, t: i64, n: usize) {
    let key = MetricKey::new("App", "Errors", BTreeMap::new()).unwrap();
    let mut aggregate = Aggregate::default();
    (0..n).for_each(|_| aggregate.add(1.0));
    metrics
        .apply(Write {
            position: None,
            deltas: vec![Delta { key, timestamp_ms: t, aggregate, unit: None }],
        })
        .unwrap();
}

#[test]
fn a_metric_alarm_goes_to_alarm_and_back_and_keeps_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = MetricStore::open(&dir.path().join("m"), MetricStoreOptions::default()).unwrap();
    let book = AlarmRegistry::open(dir.path()).unwrap();
    book.put_metric_alarm(MetricAlarm::new(spec("high-errors")).unwrap(), T).unwrap();
    assert_eq!(book.describe(&AlarmQuery::default())[0].state.value, AlarmState::InsufficientData);

    errors(&metrics, T, 3);
    // At T+10 s the period [T, T+10 s) is complete: 3 >= 1.
    let t = book.evaluate_due(&metrics, T + 10_000).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].new.value, AlarmState::Alarm);
    assert_eq!(t[0].old.value, AlarmState::InsufficientData);
    assert_eq!(t[0].actions.len(), 1);
    let event: serde_json::Value = serde_json::from_str(&t[0].event).unwrap();
    assert_eq!(event["detail-type"], "CloudWatch Alarm State Change");
    assert_eq!(event["detail"]["state"]["value"], "ALARM");
    assert_eq!(event["detail"]["previousState"]["value"], "INSUFFICIENT_DATA");
    // Not due again within the same 10 s.
    assert!(book.evaluate_due(&metrics, T + 15_000).unwrap().is_empty());

    // Updating keeps the state; a restart keeps it too.
    book.put_metric_alarm(MetricAlarm::new(spec("high-errors")).unwrap(), T + 16_000).unwrap();
    let book = AlarmRegistry::open(dir.path()).unwrap();
    assert_eq!(book.describe(&AlarmQuery::default())[0].state.value, AlarmState::Alarm);

    // The errors stop: notBreaching brings it back to OK once the point leaves the range (N+2).
    let t = book.evaluate_due(&metrics, T + 40_000).unwrap();
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(t[0].new.value, AlarmState::Ok);
    assert!(t[0].actions.is_empty(), "no OK actions configured");

    book.delete(&["high-errors".to_owned()], T + 50_000).unwrap();
    assert!(book.describe(&AlarmQuery::default()).is_empty());
    let summaries: Vec<_> =
        book.history(&HistoryQuery::default()).into_iter().map(|h| h.summary).collect();
    assert_eq!(
        summaries,
        [
            "Alarm \"high-errors\" deleted",
            "Alarm updated from ALARM to OK",
            "Alarm \"high-errors\" updated",
            "Alarm updated from INSUFFICIENT_DATA to ALARM",
            "Alarm \"high-errors\" created",
        ]
    );
    let q = HistoryQuery { item_type: Some(HistoryItemType::StateUpdate), ..Default::default() };
    let data: serde_json::Value = serde_json::from_str(&book.history(&q)[1].data).unwrap();
    assert_eq!(data["newState"]["stateValue"], "ALARM");
    assert_eq!(data["newState"]["stateReasonData"]["recentDatapoints"], serde_json::json!([3.0]));
}

#[test]
fn set_state_disabled_actions_and_composites() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = MetricStore::open(&dir.path().join("m"), MetricStoreOptions::default()).unwrap();
    let book = AlarmRegistry::open(dir.path()).unwrap();
    book.put_metric_alarm(MetricAlarm::new(spec("a")).unwrap(), T).unwrap();
    book.put_metric_alarm(MetricAlarm::new(spec("b")).unwrap(), T).unwrap();
    let composite = CompositeSpec {
        name: "both".into(),
        description: String::new(),
        rule: "ALARM(a) AND NOT OK(b)".into(),
        alarm_actions: vec!["exec:/bin/true".parse().unwrap()],
        ok_actions: vec![],
        insufficient_data_actions: vec![],
        actions_enabled: true,
    };
    let mut bad = composite.clone();
    bad.rule = "ALARM(nope)".into();
    assert!(matches!(book.put_composite_alarm(bad, T), Err(WatchError::Invalid { .. })));
    book.put_composite_alarm(composite, T).unwrap();

    book.set_actions_enabled(&["a".to_owned()], false, T).unwrap();
    let t = book.set_state("a", AlarmState::Alarm, "testing", "", T).unwrap().unwrap();
    assert!(t.actions.is_empty(), "actions disabled");
    assert_eq!(
        book.describe(&AlarmQuery { state: Some(AlarmState::Alarm), ..Default::default() }).len(),
        1
    );
    assert!(book.set_state("nope", AlarmState::Ok, "x", "", T).is_err());
    assert!(book.set_state("a", AlarmState::Ok, "x", "not json", T).is_err());

    // b is INSUFFICIENT_DATA (not OK), a is ALARM: the rule holds. Evaluated at T+5 s the metric
    // alarms are due too, but their window has no data: notBreaching sends both to OK.
    let ts = book.evaluate_due(&metrics, T + 5_000).unwrap();
    let composite_state =
        |ts: &[Transition]| ts.iter().find(|t| t.alarm_name == "both").map(|t| t.new.value);
    assert_eq!(composite_state(&ts), Some(AlarmState::Ok), "{ts:?}");
    book.set_state("a", AlarmState::Alarm, "forced", "", T + 6_000).unwrap();
    book.set_state("b", AlarmState::InsufficientData, "forced", "", T + 6_000).unwrap();
    let ts = book.evaluate_due(&metrics, T + 7_000).unwrap();
    let t = ts.iter().find(|t| t.alarm_name == "both").unwrap();
    assert_eq!(t.new.value, AlarmState::Alarm);
    assert_eq!(t.actions.len(), 1);
    assert!(t.new.reason.contains("ALARM(a) AND NOT OK(b)"));
}

#[test]
fn alarms_for_a_metric_match_its_exact_dimensions_statistic_and_period() {
    let dir = tempfile::tempdir().unwrap();
    let book = AlarmRegistry::open(dir.path()).unwrap();
    let with = |name: &str, change: fn(&mut AlarmSpec)| {
        let mut s = spec(name);
        change(&mut s);
        book.put_metric_alarm(MetricAlarm::new(s).unwrap(), T).unwrap();
    };
    with("plain", |_| {});
    with("p99", |s| s.statistic = Statistic::Percentile(99.0));
    with("minute", |s| s.period = Period::new(60).unwrap());
    with("host-a", |s| {
        s.metric.dimensions.insert("Host".into(), "a".into());
    });
    with("other-metric", |s| s.metric.name = "Warnings".into());
    book.put_composite_alarm(
        CompositeSpec {
            name: "both".into(),
            description: String::new(),
            rule: "ALARM(plain) AND ALARM(p99)".into(),
            alarm_actions: vec![],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
            actions_enabled: true,
        },
        T,
    )
    .unwrap();
    let names = |q: MetricAlarmQuery| -> Vec<String> {
        book.for_metric(&q).iter().map(|v| v.definition.name().to_owned()).collect()
    };
    let metric = MetricRef { namespace: "App".into(), name: "Errors".into(), ..Default::default() };
    let q = MetricAlarmQuery { metric: metric.clone(), ..Default::default() };
    assert_eq!(names(q.clone()), ["minute", "p99", "plain"], "no dimensions means none");
    assert_eq!(
        names(MetricAlarmQuery { statistic: Some(Statistic::Sum), ..q.clone() }),
        ["minute", "plain"]
    );
    assert_eq!(
        names(MetricAlarmQuery { period: Some(Period::new(60).unwrap()), ..q.clone() }),
        ["minute"]
    );
    let mut host = metric;
    host.dimensions.insert("Host".into(), "a".into());
    assert_eq!(names(MetricAlarmQuery { metric: host, ..q }), ["host-a"]);
}
