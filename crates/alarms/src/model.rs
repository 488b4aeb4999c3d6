//! The alarm model: states, statistics, operators, missing-data treatment, actions and the
//! validated [`MetricAlarm`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::AlarmError;

/// At most this many actions per state, as CloudWatch.
pub const MAX_ACTIONS_PER_STATE: usize = 5;
/// At most this many dimensions on an alarm's metric, as CloudWatch.
pub const MAX_DIMENSIONS: usize = 30;
/// `EvaluationPeriods × Period` may not exceed one day, in seconds.
pub const MAX_EVALUATION_SECONDS: u64 = 86_400;

/// The three states of an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlarmState {
    /// The metric is within the threshold.
    #[serde(rename = "OK")]
    Ok,
    /// The metric breached the threshold.
    #[serde(rename = "ALARM")]
    Alarm,
    /// Just created, or not enough data to decide.
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    /// The name CloudWatch uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlarmState {
    type Err = AlarmError;
    fn from_str(s: &str) -> Result<Self, AlarmError> {
        match s {
            "OK" => Ok(AlarmState::Ok),
            "ALARM" => Ok(AlarmState::Alarm),
            "INSUFFICIENT_DATA" => Ok(AlarmState::InsufficientData),
            _ => Err(AlarmError::invalid(
                "StateValue",
                format!("{s:?} is not one of OK, ALARM, INSUFFICIENT_DATA"),
            )),
        }
    }
}

/// The statistic an alarm compares: one of the five basic ones or a percentile `pNN`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Statistic {
    /// Number of samples.
    SampleCount,
    /// Sum / SampleCount.
    Average,
    /// Sum of the samples.
    Sum,
    /// Smallest sample.
    Minimum,
    /// Largest sample.
    Maximum,
    /// A percentile, `0 < p < 100` (`p99` is 99.0).
    Percentile(f64),
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statistic::SampleCount => f.write_str("SampleCount"),
            Statistic::Average => f.write_str("Average"),
            Statistic::Sum => f.write_str("Sum"),
            Statistic::Minimum => f.write_str("Minimum"),
            Statistic::Maximum => f.write_str("Maximum"),
            Statistic::Percentile(p) => write!(f, "p{p}"),
        }
    }
}

impl FromStr for Statistic {
    type Err = AlarmError;
    fn from_str(s: &str) -> Result<Self, AlarmError> {
        Ok(match s {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            _ => {
                let p = s
                    .strip_prefix('p')
                    .and_then(|p| p.parse::<f64>().ok())
                    .filter(|p| *p > 0.0 && *p < 100.0)
                    .ok_or_else(|| {
                        AlarmError::invalid(
                            "Statistic",
                            format!(
                                "{s:?} is not SampleCount, Average, Sum, Minimum, Maximum or a percentile pNN (0 < NN < 100)"
                            ),
                        )
                    })?;
                Statistic::Percentile(p)
            }
        })
    }
}

impl From<Statistic> for String {
    fn from(s: Statistic) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Statistic {
    type Error = AlarmError;
    fn try_from(s: String) -> Result<Self, AlarmError> {
        s.parse()
    }
}

/// How a datapoint is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ComparisonOperator {
    /// `value >= threshold` breaches.
    GreaterThanOrEqualToThreshold,
    /// `value > threshold` breaches.
    GreaterThanThreshold,
    /// `value < threshold` breaches.
    LessThanThreshold,
    /// `value <= threshold` breaches.
    LessThanOrEqualToThreshold,
}

impl ComparisonOperator {
    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => value >= threshold,
            ComparisonOperator::GreaterThanThreshold => value > threshold,
            ComparisonOperator::LessThanThreshold => value < threshold,
            ComparisonOperator::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    /// The words CloudWatch's state reasons use (`greater than or equal to`).
    pub fn phrase(self) -> &'static str {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => "greater than or equal to",
            ComparisonOperator::GreaterThanThreshold => "greater than",
            ComparisonOperator::LessThanThreshold => "less than",
            ComparisonOperator::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }

    /// The name CloudWatch uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ComparisonOperator::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            ComparisonOperator::GreaterThanThreshold => "GreaterThanThreshold",
            ComparisonOperator::LessThanThreshold => "LessThanThreshold",
            ComparisonOperator::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }
}

impl FromStr for ComparisonOperator {
    type Err = AlarmError;
    fn from_str(s: &str) -> Result<Self, AlarmError> {
        [
            ComparisonOperator::GreaterThanOrEqualToThreshold,
            ComparisonOperator::GreaterThanThreshold,
            ComparisonOperator::LessThanThreshold,
            ComparisonOperator::LessThanOrEqualToThreshold,
        ]
        .into_iter()
        .find(|op| op.as_str() == s)
        .ok_or_else(|| {
            AlarmError::invalid(
                "ComparisonOperator",
                format!(
                    "{s:?} is not one of GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold, LessThanOrEqualToThreshold"
                ),
            )
        })
    }
}

/// What missing datapoints count as (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TreatMissingData {
    /// Not considered; all missing gives INSUFFICIENT_DATA.
    #[default]
    #[serde(rename = "missing")]
    Missing,
    /// Good, within the threshold.
    #[serde(rename = "notBreaching")]
    NotBreaching,
    /// Bad, breaching the threshold.
    #[serde(rename = "breaching")]
    Breaching,
    /// The current state is kept when the real points cannot decide.
    #[serde(rename = "ignore")]
    Ignore,
}

impl TreatMissingData {
    /// The name CloudWatch uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TreatMissingData::Missing => "missing",
            TreatMissingData::NotBreaching => "notBreaching",
            TreatMissingData::Breaching => "breaching",
            TreatMissingData::Ignore => "ignore",
        }
    }
}

impl FromStr for TreatMissingData {
    type Err = AlarmError;
    fn from_str(s: &str) -> Result<Self, AlarmError> {
        match s {
            "missing" => Ok(TreatMissingData::Missing),
            "notBreaching" => Ok(TreatMissingData::NotBreaching),
            "breaching" => Ok(TreatMissingData::Breaching),
            "ignore" => Ok(TreatMissingData::Ignore),
            _ => Err(AlarmError::invalid(
                "TreatMissingData",
                format!("{s:?} is not one of missing, notBreaching, breaching, ignore"),
            )),
        }
    }
}

/// What a percentile alarm does with datapoints of too few samples
/// (`EvaluateLowSampleCountPercentile`, §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LowSampleCount {
    /// Evaluated as any datapoint, however few samples it has (CloudWatch's default).
    #[default]
    #[serde(rename = "evaluate")]
    Evaluate,
    /// The state does not change while a datapoint the evaluation uses has too few samples.
    #[serde(rename = "ignore")]
    Ignore,
}

impl LowSampleCount {
    /// The name CloudWatch uses.
    pub fn as_str(self) -> &'static str {
        match self {
            LowSampleCount::Evaluate => "evaluate",
            LowSampleCount::Ignore => "ignore",
        }
    }
}

impl FromStr for LowSampleCount {
    type Err = AlarmError;
    fn from_str(s: &str) -> Result<Self, AlarmError> {
        match s {
            "evaluate" => Ok(LowSampleCount::Evaluate),
            "ignore" => Ok(LowSampleCount::Ignore),
            _ => Err(AlarmError::invalid(
                "EvaluateLowSampleCountPercentile",
                format!("{s:?} is not one of evaluate, ignore"),
            )),
        }
    }
}

impl Statistic {
    /// For a percentile, the fewest samples a datapoint needs to be statistically significant:
    /// `10 / (1 - p)` for p in [0.5, 1) (1,000 for p99), and `10 / p` below 0.5, as CloudWatch
    /// documents; `None` for the other statistics.
    pub fn low_sample_threshold(self) -> Option<f64> {
        let Statistic::Percentile(p) = self else { return None };
        // In percent, 10 / (1 - p/100) is 1000 / (100 - p); rounded to a millionth so that
        // p99.9 gives 10,000 and not 10,000.0000000006 (100 - 99.9 is not exact).
        let min = if p >= 50.0 { 1000.0 / (100.0 - p) } else { 1000.0 / p };
        Some((min * 1e6).round() / 1e6)
    }
}

/// An alarm period in seconds: 10, 20, 30 or a multiple of 60.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Period(u32);

impl Period {
    /// Checks CloudWatch's rule for periods.
    pub fn new(seconds: u32) -> Result<Period, AlarmError> {
        if matches!(seconds, 10 | 20 | 30) || (seconds > 0 && seconds.is_multiple_of(60)) {
            Ok(Period(seconds))
        } else {
            Err(AlarmError::invalid(
                "Period",
                format!("{seconds} s; a period is 10, 20, 30 or a multiple of 60 seconds"),
            ))
        }
    }

    /// In seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }

    /// In milliseconds.
    pub fn millis(self) -> i64 {
        i64::from(self.0) * 1000
    }
}

impl From<Period> for u32 {
    fn from(p: Period) -> u32 {
        p.0
    }
}

impl TryFrom<u32> for Period {
    type Error = AlarmError;
    fn try_from(s: u32) -> Result<Self, AlarmError> {
        Period::new(s)
    }
}

/// What happens when an alarm enters a state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum AlarmAction {
    /// `webhook:URL`: POST the state-change event as JSON.
    Webhook(String),
    /// `exec:PROGRAM`: run a local program with the event on stdin.
    Exec(String),
}

impl fmt::Display for AlarmAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlarmAction::Webhook(url) => write!(f, "webhook:{url}"),
            AlarmAction::Exec(program) => write!(f, "exec:{program}"),
        }
    }
}

impl FromStr for AlarmAction {
    type Err = AlarmError;
    fn from_str(s: &str) -> Result<Self, AlarmError> {
        let bad = |m: &str| AlarmError::invalid("AlarmActions", format!("{s:?}: {m}"));
        if let Some(url) = s.strip_prefix("webhook:") {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(bad("a webhook URL starts with http:// or https://"));
            }
            Ok(AlarmAction::Webhook(url.to_owned()))
        } else if let Some(program) = s.strip_prefix("exec:") {
            if program.trim().is_empty() {
                return Err(bad("exec: needs a program"));
            }
            Ok(AlarmAction::Exec(program.to_owned()))
        } else {
            Err(bad("an action is webhook:URL or exec:PROGRAM"))
        }
    }
}

impl From<AlarmAction> for String {
    fn from(a: AlarmAction) -> String {
        a.to_string()
    }
}

impl TryFrom<String> for AlarmAction {
    type Error = AlarmError;
    fn try_from(s: String) -> Result<Self, AlarmError> {
        s.parse()
    }
}

/// The metric an alarm watches: namespace, name and the exact dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct MetricRef {
    /// The metric's namespace.
    pub namespace: String,
    /// The metric's name.
    pub name: String,
    /// Dimension name → value; the series must have exactly these.
    pub dimensions: BTreeMap<String, String>,
}

/// A PutMetricAlarm request before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSpec {
    /// 1..255 characters, unique.
    pub name: String,
    /// At most 1024 characters.
    pub description: String,
    /// The metric watched.
    pub metric: MetricRef,
    /// The statistic compared.
    pub statistic: Statistic,
    /// Seconds per datapoint.
    pub period: Period,
    /// N: how many recent datapoints are considered.
    pub evaluation_periods: u32,
    /// M: how many of those N must breach (1..=N).
    pub datapoints_to_alarm: u32,
    /// The value compared with.
    pub threshold: f64,
    /// How.
    pub comparison: ComparisonOperator,
    /// What missing datapoints count as.
    pub treat_missing_data: TreatMissingData,
    /// For percentile statistics: what datapoints with too few samples do.
    #[serde(default)]
    pub evaluate_low_sample_count_percentile: LowSampleCount,
    /// Actions on entering ALARM.
    pub alarm_actions: Vec<AlarmAction>,
    /// Actions on entering OK.
    pub ok_actions: Vec<AlarmAction>,
    /// Actions on entering INSUFFICIENT_DATA.
    pub insufficient_data_actions: Vec<AlarmAction>,
    /// Whether actions run at all.
    pub actions_enabled: bool,
}

/// A validated metric alarm definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AlarmSpec", into = "AlarmSpec")]
pub struct MetricAlarm {
    spec: AlarmSpec,
}

impl MetricAlarm {
    /// Checks CloudWatch's rules for PutMetricAlarm.
    pub fn new(spec: AlarmSpec) -> Result<MetricAlarm, AlarmError> {
        check_alarm_name(&spec.name)?;
        if spec.description.chars().count() > 1024 {
            return Err(AlarmError::invalid("AlarmDescription", "at most 1024 characters"));
        }
        if spec.metric.namespace.is_empty() || spec.metric.namespace.chars().count() > 255 {
            return Err(AlarmError::invalid("Namespace", "1..255 characters"));
        }
        if spec.metric.name.is_empty() || spec.metric.name.chars().count() > 255 {
            return Err(AlarmError::invalid("MetricName", "1..255 characters"));
        }
        if spec.metric.dimensions.len() > MAX_DIMENSIONS {
            return Err(AlarmError::invalid(
                "Dimensions",
                format!("at most {MAX_DIMENSIONS}, got {}", spec.metric.dimensions.len()),
            ));
        }
        if spec.evaluation_periods == 0 {
            return Err(AlarmError::invalid("EvaluationPeriods", "at least 1"));
        }
        if spec.datapoints_to_alarm == 0 || spec.datapoints_to_alarm > spec.evaluation_periods {
            return Err(AlarmError::invalid(
                "DatapointsToAlarm",
                format!(
                    "{} must be between 1 and EvaluationPeriods ({})",
                    spec.datapoints_to_alarm, spec.evaluation_periods
                ),
            ));
        }
        let seconds = u64::from(spec.evaluation_periods) * u64::from(spec.period.seconds());
        if seconds > MAX_EVALUATION_SECONDS {
            return Err(AlarmError::invalid(
                "EvaluationPeriods",
                format!("EvaluationPeriods × Period is {seconds} s; at most one day (86400 s)"),
            ));
        }
        if !spec.threshold.is_finite() {
            return Err(AlarmError::invalid("Threshold", "must be a finite number"));
        }
        for (field, actions) in [
            ("AlarmActions", &spec.alarm_actions),
            ("OKActions", &spec.ok_actions),
            ("InsufficientDataActions", &spec.insufficient_data_actions),
        ] {
            if actions.len() > MAX_ACTIONS_PER_STATE {
                return Err(AlarmError::invalid(
                    field,
                    format!("at most {MAX_ACTIONS_PER_STATE} actions, got {}", actions.len()),
                ));
            }
        }
        Ok(MetricAlarm { spec })
    }

    /// The definition.
    pub fn spec(&self) -> &AlarmSpec {
        &self.spec
    }

    /// The alarm's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The actions for entering `state`.
    pub fn actions_for(&self, state: AlarmState) -> &[AlarmAction] {
        match state {
            AlarmState::Ok => &self.spec.ok_actions,
            AlarmState::Alarm => &self.spec.alarm_actions,
            AlarmState::InsufficientData => &self.spec.insufficient_data_actions,
        }
    }

    /// How often the alarm is evaluated: every 10 s for periods under a minute, else every minute.
    pub fn evaluation_interval_ms(&self) -> i64 {
        if self.spec.period.seconds() < 60 { 10_000 } else { 60_000 }
    }
}

impl TryFrom<AlarmSpec> for MetricAlarm {
    type Error = AlarmError;
    fn try_from(spec: AlarmSpec) -> Result<Self, AlarmError> {
        MetricAlarm::new(spec)
    }
}

impl From<MetricAlarm> for AlarmSpec {
    fn from(a: MetricAlarm) -> AlarmSpec {
        a.spec
    }
}

/// CloudWatch's rule for alarm names: 1..255 characters, no control characters.
pub fn check_alarm_name(name: &str) -> Result<(), AlarmError> {
    let chars = name.chars().count();
    if chars == 0 || chars > 255 {
        return Err(AlarmError::invalid(
            "AlarmName",
            format!("{chars} characters; 1..255 allowed"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AlarmError::invalid("AlarmName", "control characters are not allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> AlarmSpec {
        AlarmSpec {
            name: "errors".into(),
            description: String::new(),
            metric: MetricRef {
                namespace: "App".into(),
                name: "Errors".into(),
                ..Default::default()
            },
            statistic: Statistic::Sum,
            period: Period::new(60).unwrap(),
            evaluation_periods: 3,
            datapoints_to_alarm: 3,
            threshold: 1.0,
            comparison: ComparisonOperator::GreaterThanOrEqualToThreshold,
            treat_missing_data: TreatMissingData::Missing,
            evaluate_low_sample_count_percentile: LowSampleCount::Evaluate,
            alarm_actions: vec![],
            ok_actions: vec![],
            insufficient_data_actions: vec![],
            actions_enabled: true,
        }
    }

    #[test]
    fn periods_follow_cloudwatch() {
        for ok in [10, 20, 30, 60, 120, 3600] {
            assert!(Period::new(ok).is_ok(), "{ok}");
        }
        for bad in [0, 5, 15, 40, 59, 61, 90] {
            assert!(Period::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statistics_parse_and_print() {
        for s in ["SampleCount", "Average", "Sum", "Minimum", "Maximum", "p99", "p99.9", "p50"] {
            assert_eq!(s.parse::<Statistic>().unwrap().to_string(), s);
        }
        for bad in ["sum", "p0", "p100", "p", "pX", "tm90"] {
            assert!(bad.parse::<Statistic>().is_err(), "{bad}");
        }
    }

    #[test]
    fn actions_parse() {
        assert_eq!(
            "webhook:http://127.0.0.1:9/x".parse::<AlarmAction>().unwrap(),
            AlarmAction::Webhook("http://127.0.0.1:9/x".into())
        );
        assert_eq!(
            "exec:/bin/cat".parse::<AlarmAction>().unwrap(),
            AlarmAction::Exec("/bin/cat".into())
        );
        for bad in ["webhook:ftp://x", "exec:", "sns:arn", "http://x"] {
            assert!(bad.parse::<AlarmAction>().is_err(), "{bad}");
        }
    }

    #[test]
    fn alarm_rules_are_checked() {
        assert!(MetricAlarm::new(spec()).is_ok());
        type Change = fn(&mut AlarmSpec);
        let cases: Vec<(Change, &str)> = vec![
            (|s| s.name.clear(), "AlarmName"),
            (|s| s.datapoints_to_alarm = 4, "DatapointsToAlarm"),
            (|s| s.datapoints_to_alarm = 0, "DatapointsToAlarm"),
            (|s| s.evaluation_periods = 0, "EvaluationPeriods"),
            (|s| s.evaluation_periods = 1441, "EvaluationPeriods"),
            (|s| s.threshold = f64::NAN, "Threshold"),
            (|s| s.metric.namespace.clear(), "Namespace"),
            (|s| s.ok_actions = vec![AlarmAction::Exec("x".into()); 6], "OKActions"),
        ];
        for (change, field) in cases {
            let mut s = spec();
            change(&mut s);
            match MetricAlarm::new(s) {
                Err(AlarmError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn alarms_round_trip_through_json() {
        let a = MetricAlarm::new(spec()).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<MetricAlarm>(&json).unwrap(), a);
    }
}
