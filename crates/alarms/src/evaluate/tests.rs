//! The two tables of the reference (§4.3), row by row, and the premature-alarm examples.
//!
//! Points are written oldest → newest as in the reference: `0` within the threshold, `X`
//! breaching, `-` missing. Each expected cell is copied from the reference's tables; `retain`
//! is checked from both OK and ALARM.

use super::*;
use crate::model::{AlarmSpec, ComparisonOperator, LowSampleCount, MetricRef, Period, Statistic};

const T0: i64 = 1_700_000_040_000; // a minute boundary
const PERIOD_MS: i64 = 60_000;

fn alarm(n: u32, m: u32, treat: TreatMissingData) -> MetricAlarm {
    MetricAlarm::new(AlarmSpec {
        name: "a".into(),
        description: String::new(),
        metric: MetricRef { namespace: "App".into(), name: "Errors".into(), ..Default::default() },
        statistic: Statistic::Sum,
        period: Period::new(60).unwrap(),
        evaluation_periods: n,
        datapoints_to_alarm: m,
        threshold: 1.0,
        comparison: ComparisonOperator::GreaterThanOrEqualToThreshold,
        treat_missing_data: treat,
        evaluate_low_sample_count_percentile: LowSampleCount::Evaluate,
        alarm_actions: vec![],
        ok_actions: vec![],
        insufficient_data_actions: vec![],
        actions_enabled: true,
    })
    .unwrap()
}

/// Evaluates at the time whose window is exactly the written points.
fn run(a: &MetricAlarm, points: &str, current: AlarmState) -> Outcome {
    let cells: Vec<&str> = points.split_whitespace().collect();
    let now = T0 + cells.len() as i64 * PERIOD_MS + 5_000;
    let window = evaluation_window(a, now);
    assert_eq!(
        window.periods as usize,
        cells.len(),
        "the range of N={} has N+2 periods",
        a.spec().evaluation_periods
    );
    assert_eq!(window.start_ms, T0);
    let data: Vec<Datapoint> = cells
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let value = match *c {
                "0" => 0.0,
                "X" => 5.0,
                "-" => return None,
                other => panic!("bad cell {other}"),
            };
            Some(Datapoint { timestamp: T0 + i as i64 * PERIOD_MS, value, sample_count: 1.0 })
        })
        .collect();
    evaluate(a, current, &window, &data, now)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Want {
    S(AlarmState),
    Retain,
}
use AlarmState::{Alarm as A, InsufficientData as I, Ok as O};
use Want::{Retain as R, S};

fn check_table(n: u32, m: u32, rows: &[(&str, u32, [Want; 4])]) {
    let treats = [
        TreatMissingData::Missing,
        TreatMissingData::Ignore,
        TreatMissingData::Breaching,
        TreatMissingData::NotBreaching,
    ];
    for (points, must_fill, wants) in rows {
        for (treat, want) in treats.iter().zip(wants) {
            let a = alarm(n, m, *treat);
            for current in [O, A, I] {
                let out = run(&a, points, current);
                let ctx = format!("N={n} M={m} `{points}` {treat:?} from {current}: {out:?}");
                match want {
                    S(s) => assert_eq!(out.state, *s, "{ctx}"),
                    R => {
                        assert_eq!(out.state, current, "{ctx}");
                        assert!(!out.decided, "{ctx}");
                    }
                }
                if matches!(treat, TreatMissingData::Breaching | TreatMissingData::NotBreaching) {
                    assert_eq!(out.filled, *must_fill, "must-fill column: {ctx}");
                }
            }
        }
    }
}

#[test]
fn table_1_three_of_three() {
    check_table(
        3,
        3,
        &[
            ("0 - X - X", 0, [S(O), S(O), S(O), S(O)]),
            ("0 - - - -", 2, [S(O), S(O), S(O), S(O)]),
            ("- - - - -", 3, [S(I), R, S(A), S(O)]),
            ("0 X X - X", 0, [S(A), S(A), S(A), S(A)]),
            ("- - X - -", 2, [S(A), R, S(A), S(O)]),
        ],
    );
}

#[test]
fn table_2_two_of_three() {
    check_table(
        3,
        2,
        &[
            ("0 - X - X", 0, [S(A), S(A), S(A), S(A)]),
            ("0 0 X 0 X", 0, [S(A), S(A), S(A), S(A)]),
            ("0 - X - -", 1, [S(O), S(O), S(A), S(O)]),
            ("- - - - 0", 2, [S(O), S(O), S(A), S(O)]),
            ("- - - X -", 2, [S(A), R, S(A), S(O)]),
        ],
    );
}

#[test]
fn premature_alarm_needs_the_breach_to_be_m_old() {
    let a = alarm(3, 3, TreatMissingData::Missing);
    assert_eq!(run(&a, "- - X - -", I).state, A);
    for points in ["- - - - X", "- - - X -"] {
        let out = run(&a, points, I);
        assert_ne!(out.state, A, "{points}");
        assert!(!out.decided, "{points}");
    }
}

#[test]
fn only_complete_periods_are_evaluated() {
    let a = alarm(1, 1, TreatMissingData::Missing);
    let w = evaluation_window(&a, T0 + 59_999);
    assert_eq!(w.end_ms, T0);
    let w = evaluation_window(&a, T0 + 60_000);
    assert_eq!(w.end_ms, T0 + 60_000);
    assert_eq!(w.periods, 3);
}

#[test]
fn reasons_use_cloudwatch_wording() {
    let a = alarm(1, 1, TreatMissingData::Missing);
    let w = evaluation_window(&a, T0 + 3 * PERIOD_MS);
    // 2023-11-14 22:16:00 UTC is T0 + 2 minutes.
    let p = Datapoint { timestamp: T0 + 2 * PERIOD_MS, value: 3.0, sample_count: 3.0 };
    let out = evaluate(&a, I, &w, &[p], T0 + 3 * PERIOD_MS);
    assert_eq!(
        out.reason,
        "Threshold Crossed: 1 datapoint [3.0 (14/11/23 22:16:00)] was greater than or equal to the threshold (1.0)."
    );
    let data: serde_json::Value = serde_json::from_str(&out.reason_data).unwrap();
    assert_eq!(data["recentDatapoints"], serde_json::json!([3.0]));
    assert_eq!(data["statistic"], "Sum");
    assert_eq!(data["period"], 60);

    let out = evaluate(&a, A, &w, &[], T0 + 3 * PERIOD_MS);
    assert_eq!(out.reason, "Insufficient Data: 1 datapoint was unknown.");

    let a = alarm(3, 2, TreatMissingData::Breaching);
    let out = run(&a, "0 - X - -", O);
    assert_eq!(
        out.reason,
        "Threshold Crossed: 1 out of the last 3 datapoints [5.0 (14/11/23 22:16:00)] was greater than or equal to the threshold (1.0) and 1 missing datapoint was treated as [Breaching] (minimum 2 datapoints for OK -> ALARM transition)."
    );
    let a = alarm(3, 3, TreatMissingData::Missing);
    let out = run(&a, "X 0 0 0 X", A);
    assert_eq!(
        out.reason,
        "Threshold Crossed: 2 out of the last 3 datapoints [0.0 (14/11/23 22:17:00), 0.0 (14/11/23 22:16:00)] were not greater than or equal to the threshold (1.0) (minimum 1 datapoint for ALARM -> OK transition)."
    );
}

#[test]
fn points_outside_the_window_are_ignored() {
    let a = alarm(1, 1, TreatMissingData::Missing);
    let now = T0 + 3 * PERIOD_MS;
    let w = evaluation_window(&a, now);
    let late = Datapoint { timestamp: now, value: 9.0, sample_count: 1.0 };
    let early = Datapoint { timestamp: T0 - PERIOD_MS, value: 9.0, sample_count: 1.0 };
    assert_eq!(evaluate(&a, O, &w, &[late, early], now).state, I);
}

/// The low-sample rule for percentile alarms (reference §4.3: fewer than `10/(1-p)` samples for
/// p in [0.5, 1); `10/p` below 0.5 as CloudWatch's documentation adds). Each row: statistic,
/// N, points oldest → newest as `value/samples` (`-` missing; threshold 1, so 5 breaches and
/// 0 does not), the mode, and the state expected from OK. The minimum counts are worked out by
/// hand: p99 1,000, p50 20, p90 100, p99.9 10,000, p10 100, p25 40.
#[test]
fn low_sample_percentiles() {
    use LowSampleCount::{Evaluate as E, Ignore as G};
    let rows: &[(Statistic, u32, &str, LowSampleCount, Want)] = &[
        (Statistic::Percentile(99.0), 1, "- - 5/999", G, R),
        (Statistic::Percentile(99.0), 1, "- - 5/1000", G, S(A)),
        (Statistic::Percentile(99.0), 1, "- - 5/3", E, S(A)),
        (Statistic::Percentile(50.0), 1, "- - 5/19", G, R),
        (Statistic::Percentile(50.0), 1, "- - 5/20", G, S(A)),
        (Statistic::Percentile(90.0), 1, "- - 5/99", G, R),
        (Statistic::Percentile(90.0), 1, "- - 5/100", G, S(A)),
        (Statistic::Percentile(99.9), 1, "- - 5/9999", G, R),
        (Statistic::Percentile(99.9), 1, "- - 5/10000", G, S(A)),
        (Statistic::Percentile(10.0), 1, "- - 5/99", G, R),
        (Statistic::Percentile(10.0), 1, "- - 5/100", G, S(A)),
        (Statistic::Percentile(25.0), 1, "- - 5/39", G, R),
        (Statistic::Percentile(25.0), 1, "- - 5/40", G, S(A)),
        // Only percentiles have the rule.
        (Statistic::Sum, 1, "- - 5/1", G, S(A)),
        (Statistic::Maximum, 1, "- - 5/1", G, S(A)),
        // Only the points the evaluation uses count: the latest N real ones.
        (Statistic::Percentile(99.0), 1, "5/3 - 5/1000", G, S(A)),
        (Statistic::Percentile(99.0), 1, "5/1000 - 5/3", G, R),
        (Statistic::Percentile(99.0), 2, "5/3 5/1000 - 5/1000", G, S(A)),
        (Statistic::Percentile(99.0), 2, "5/1000 5/1000 - 5/3", G, R),
        // With fewer real points than N, all of them are used.
        (Statistic::Percentile(99.0), 3, "5/3 - - - 5/1000", G, R),
        // No points: the missing-data rules decide, as for any alarm.
        (Statistic::Percentile(99.0), 1, "- - -", G, S(I)),
    ];
    for (statistic, n, points, mode, want) in rows {
        let mut spec = alarm(*n, 1, TreatMissingData::Missing).spec().clone();
        spec.statistic = *statistic;
        spec.evaluate_low_sample_count_percentile = *mode;
        let a = MetricAlarm::new(spec).unwrap();
        let cells: Vec<&str> = points.split_whitespace().collect();
        let now = T0 + cells.len() as i64 * PERIOD_MS + 5_000;
        let window = evaluation_window(&a, now);
        assert_eq!(window.periods as usize, cells.len(), "{points}: N + 2 cells");
        let data: Vec<Datapoint> = cells
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != "-")
            .map(|(i, c)| {
                let (value, samples) = c.split_once('/').unwrap();
                Datapoint {
                    timestamp: T0 + i as i64 * PERIOD_MS,
                    value: value.parse().unwrap(),
                    sample_count: samples.parse().unwrap(),
                }
            })
            .collect();
        let out = evaluate(&a, O, &window, &data, now);
        let ctx = format!("{statistic} N={n} `{points}` {mode:?}: {out:?}");
        match want {
            S(s) => assert_eq!(out.state, *s, "{ctx}"),
            R => {
                assert_eq!(out.state, O, "{ctx}");
                assert!(!out.decided, "{ctx}");
                assert!(out.reason.starts_with("Unchecked: "), "{ctx}");
            }
        }
    }
}
