//! CloudWatch's evaluation of a metric alarm (reference §4.3), as a pure function.
//!
//! The evaluation range holds more periods than N (N + 2: five for N = 3, as in the reference's
//! example) and ends at the last complete period before `now`. Then:
//! 1. with at least N real datapoints in the range, the most recent N real ones decide
//!    (M of them breaching → ALARM, else OK); missing ones play no part;
//! 2. with fewer, all real points are used and the gaps filled as `TreatMissingData` says, with
//!    as few fills as possible (N − real):
//!    - `breaching` / `notBreaching`: each fill counts as breaching / not breaching;
//!    - `missing`: no real point → INSUFFICIENT_DATA; M breaching → ALARM; fewer real points
//!      than M, all breaching → ALARM if the premature-alarm rule holds, else the state is
//!      kept; otherwise OK;
//!    - `ignore`: as `missing`, but the state is kept where `missing` would give
//!      INSUFFICIENT_DATA or a premature ALARM.
//!
//! Percentile alarms with `EvaluateLowSampleCountPercentile = ignore` keep their state while a
//! datapoint the evaluation uses holds fewer samples than [`Statistic::low_sample_threshold`]
//! (1,000 for p99); with `evaluate` (the default) sample counts play no part.
//!
//! The premature-alarm rule: within the last N periods the oldest breaching datapoint is at
//! least M datapoints old (the newest is 1 old) and every newer point is breaching or missing.

use chrono::DateTime;

#[cfg(doc)]
use crate::model::Statistic;
use serde_json::json;

use crate::model::{AlarmState, LowSampleCount, MetricAlarm, TreatMissingData};

/// How many more periods than N the evaluation range holds.
pub const EXTRA_PERIODS: u32 = 2;

/// One period's value of the alarm's statistic; periods without data are simply absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    /// Start of the period, epoch ms.
    pub timestamp: i64,
    /// The statistic's value for the period.
    pub value: f64,
    /// How many samples the period holds (for the low-sample rule of percentile alarms).
    pub sample_count: f64,
}

/// The periods an evaluation at some time looks at: `[start_ms, end_ms)`, `periods` long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvaluationWindow {
    /// Start of the oldest period, epoch ms.
    pub start_ms: i64,
    /// End of the newest period (exclusive), epoch ms.
    pub end_ms: i64,
    /// Number of periods.
    pub periods: u32,
    /// Length of a period, ms.
    pub period_ms: i64,
}

/// The range an evaluation at `now_ms` fetches: N + 2 complete periods ending at or before now.
pub fn evaluation_window(alarm: &MetricAlarm, now_ms: i64) -> EvaluationWindow {
    let period_ms = alarm.spec().period.millis();
    let periods = alarm.spec().evaluation_periods + EXTRA_PERIODS;
    let end_ms = now_ms.div_euclid(period_ms) * period_ms;
    EvaluationWindow {
        start_ms: end_ms - i64::from(periods) * period_ms,
        end_ms,
        periods,
        period_ms,
    }
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The state the alarm should be in (the current one when the data cannot decide).
    pub state: AlarmState,
    /// Whether the data decided (false: the state was kept).
    pub decided: bool,
    /// How many missing datapoints were filled by `TreatMissingData`.
    pub filled: u32,
    /// The state reason, in CloudWatch's wording.
    pub reason: String,
    /// The state reason data, a JSON document as CloudWatch's.
    pub reason_data: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Missing,
    Good(i64, f64),
    Bad(i64, f64),
}

/// Evaluates `alarm` over `points` (the datapoints of `window`; others are ignored), given its
/// `current` state, at `now_ms`.
pub fn evaluate(
    alarm: &MetricAlarm,
    current: AlarmState,
    window: &EvaluationWindow,
    points: &[Datapoint],
    now_ms: i64,
) -> Outcome {
    let spec = alarm.spec();
    let (n, m) = (spec.evaluation_periods as usize, spec.datapoints_to_alarm as usize);
    let mut slots = vec![Slot::Missing; window.periods as usize];
    // Per slot: whether it has too few samples for a significant percentile.
    let mut low = vec![false; window.periods as usize];
    let low_threshold = spec.statistic.low_sample_threshold();
    for p in points {
        if p.timestamp < window.start_ms || p.timestamp >= window.end_ms || !p.value.is_finite() {
            continue;
        }
        let i = ((p.timestamp - window.start_ms) / window.period_ms) as usize;
        slots[i] = if spec.comparison.breaches(p.value, spec.threshold) {
            Slot::Bad(p.timestamp, p.value)
        } else {
            Slot::Good(p.timestamp, p.value)
        };
        low[i] = low_threshold.is_some_and(|min| p.sample_count < min);
    }
    let real_low: Vec<bool> =
        slots.iter().zip(&low).filter(|(s, _)| **s != Slot::Missing).map(|(_, l)| *l).collect();
    let real: Vec<Slot> = slots.iter().copied().filter(|s| *s != Slot::Missing).collect();
    let bad = |s: &[Slot]| s.iter().filter(|s| matches!(s, Slot::Bad(..))).count();
    let text = Reason { alarm, current, n, m };
    let data = reason_data(alarm, window, &real, now_ms);
    let outcome = |state, decided, filled: usize, reason| Outcome {
        state,
        decided,
        filled: filled as u32,
        reason,
        reason_data: data.clone(),
    };

    // The low-sample rule: the points the evaluation uses are the latest N real ones, or all
    // real ones when there are fewer; under `ignore` one of them with too few samples keeps
    // the state.
    let used_low = real_low.iter().rev().take(n).filter(|l| **l).count();
    if spec.evaluate_low_sample_count_percentile == LowSampleCount::Ignore && used_low > 0 {
        let min = low_threshold.unwrap_or_default();
        let reason = format!(
            "Unchecked: {} had fewer than {} samples, too few for {}; the state is kept.",
            count_phrase(used_low, "datapoint"),
            number(min.ceil()),
            spec.statistic
        );
        return outcome(current, false, 0, reason);
    }
    if real.len() >= n {
        let used = &real[real.len() - n..];
        let state = if bad(used) >= m { AlarmState::Alarm } else { AlarmState::Ok };
        return outcome(state, true, 0, text.threshold(state, used, 0, None));
    }
    let fill = n - real.len();
    let breaching = bad(&real);
    match spec.treat_missing_data {
        TreatMissingData::Breaching | TreatMissingData::NotBreaching => {
            let as_bad = spec.treat_missing_data == TreatMissingData::Breaching;
            let count = breaching + if as_bad { fill } else { 0 };
            let state = if count >= m { AlarmState::Alarm } else { AlarmState::Ok };
            outcome(state, true, fill, text.threshold(state, &real, fill, Some(as_bad)))
        }
        TreatMissingData::Missing | TreatMissingData::Ignore => {
            let ignore = spec.treat_missing_data == TreatMissingData::Ignore;
            if breaching >= m {
                let state = AlarmState::Alarm;
                return outcome(state, true, 0, text.threshold(state, &real, 0, None));
            }
            let only_breaching_few = real.len() < m && breaching == real.len();
            if real.is_empty() && !ignore {
                let verb = if n == 1 { "was" } else { "were" };
                let reason =
                    format!("Insufficient Data: {} {verb} unknown.", count_phrase(n, "datapoint"));
                return outcome(AlarmState::InsufficientData, true, 0, reason);
            }
            if only_breaching_few {
                if !ignore && premature(&slots[slots.len() - n..], m) {
                    let state = AlarmState::Alarm;
                    let reason = text.threshold(state, &real, 0, None);
                    return outcome(state, true, 0, reason);
                }
                let reason = format!(
                    "Unchecked: {} of the last {n} datapoints received; the state is kept.",
                    real.len()
                );
                return outcome(current, false, 0, reason);
            }
            let state = AlarmState::Ok;
            outcome(state, true, 0, text.threshold(state, &real, 0, None))
        }
    }
}

/// The premature-alarm rule over the last N slots (oldest first).
fn premature(last_n: &[Slot], m: usize) -> bool {
    let Some(oldest_bad) = last_n.iter().position(|s| matches!(s, Slot::Bad(..))) else {
        return false;
    };
    let age = last_n.len() - oldest_bad;
    age >= m && last_n[oldest_bad..].iter().all(|s| !matches!(s, Slot::Good(..)))
}

struct Reason<'a> {
    alarm: &'a MetricAlarm,
    current: AlarmState,
    n: usize,
    m: usize,
}

impl Reason<'_> {
    /// `Threshold Crossed: 2 out of the last 3 datapoints [5.0 (26/10/24 18:59:00), ...] were
    /// greater than or equal to the threshold (1.0) ...`, listing (newest first) the points that
    /// made the state: the breaching ones for ALARM, the others for OK.
    fn threshold(
        &self,
        state: AlarmState,
        used: &[Slot],
        fill: usize,
        fill_bad: Option<bool>,
    ) -> String {
        let spec = self.alarm.spec();
        let to_alarm = state == AlarmState::Alarm;
        let listed: Vec<(i64, f64)> = used
            .iter()
            .rev()
            .filter_map(|s| match *s {
                Slot::Bad(t, v) if to_alarm => Some((t, v)),
                Slot::Good(t, v) if !to_alarm => Some((t, v)),
                _ => None,
            })
            .collect();
        let list = listed.iter().map(|(t, v)| format!("{} ({})", number(*v), short_time(*t)));
        let list = list.collect::<Vec<_>>().join(", ");
        let verb = if listed.len() == 1 { "was" } else { "were" };
        let not = if to_alarm { "" } else { "not " };
        let threshold = number(spec.threshold);
        let phrase = spec.comparison.phrase();
        let mut out = if listed.is_empty() {
            let periods = count_phrase(fill.max(1), "period");
            format!("Threshold Crossed: no datapoints were received for {periods}")
        } else if self.n == 1 {
            format!(
                "Threshold Crossed: 1 datapoint [{list}] {verb} {not}{phrase} the threshold ({threshold})"
            )
        } else {
            format!(
                "Threshold Crossed: {} out of the last {} datapoints [{list}] {verb} {not}{phrase} the threshold ({threshold})",
                listed.len(),
                self.n
            )
        };
        if let Some(bad) = fill_bad.filter(|_| fill > 0) {
            let how = if bad { "Breaching" } else { "NotBreaching" };
            let verb = if fill == 1 { "was" } else { "were" };
            out.push_str(&format!(
                " and {} {verb} treated as [{how}]",
                count_phrase(fill, "missing datapoint")
            ));
        }
        if state != self.current && self.n > 1 {
            let needed = if to_alarm { self.m } else { self.n - self.m + 1 };
            out.push_str(&format!(
                " (minimum {} for {} -> {} transition)",
                count_phrase(needed, "datapoint"),
                self.current,
                state
            ));
        }
        out.push('.');
        out
    }
}

/// `1 datapoint`, `3 datapoints`.
fn count_phrase(k: usize, noun: &str) -> String {
    if k == 1 { format!("1 {noun}") } else { format!("{k} {noun}s") }
}

/// A value as CloudWatch prints it: always with a fractional part (`3.0`).
fn number(v: f64) -> String {
    format!("{v:?}")
}

/// `26/10/24 18:59:00`, UTC.
fn short_time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| t.format("%d/%m/%y %H:%M:%S").to_string())
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
}

/// The StateReasonData document, shaped like CloudWatch's.
fn reason_data(
    alarm: &MetricAlarm,
    window: &EvaluationWindow,
    real: &[Slot],
    now_ms: i64,
) -> String {
    let spec = alarm.spec();
    let points: Vec<(i64, f64)> = real
        .iter()
        .filter_map(|s| match *s {
            Slot::Good(t, v) | Slot::Bad(t, v) => Some((t, v)),
            Slot::Missing => None,
        })
        .collect();
    let recent: Vec<f64> = points.iter().rev().map(|(_, v)| *v).collect();
    let evaluated: Vec<_> =
        points.iter().rev().map(|(t, v)| json!({"timestamp": iso(*t), "value": v})).collect();
    json!({
        "version": "1.0",
        "queryDate": iso(now_ms),
        "startDate": iso(window.start_ms),
        "statistic": spec.statistic.to_string(),
        "period": spec.period.seconds(),
        "recentDatapoints": recent,
        "threshold": spec.threshold,
        "evaluatedDatapoints": evaluated,
    })
    .to_string()
}

#[cfg(test)]
mod tests;
