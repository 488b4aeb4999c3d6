//! Alarms at run time: definitions, states and history, persisted in `alarms.json`, and the
//! evaluation round that turns metric data into state changes.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use logsight_alarms::{
    AlarmAction, AlarmRule, AlarmState, Datapoint, MetricAlarm, MetricRef, Period, StateLookup,
    Statistic, evaluate, evaluation_window,
};
use logsight_metrics::{Aggregate, MetricKey, MetricStore, durable};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Result, WatchError};

/// History is kept this long (CloudWatch: two weeks), also for deleted alarms.
pub const HISTORY_RETENTION_MS: i64 = 14 * 86_400_000;
/// And at most this many items.
pub const MAX_HISTORY_ITEMS: usize = 100_000;

/// A PutCompositeAlarm request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompositeSpec {
    /// 1..255 characters, unique among all alarms.
    pub name: String,
    /// At most 1024 characters.
    pub description: String,
    /// The rule, e.g. `ALARM(a) AND NOT OK(b)`.
    pub rule: String,
    /// Actions on entering ALARM.
    pub alarm_actions: Vec<AlarmAction>,
    /// Actions on entering OK.
    pub ok_actions: Vec<AlarmAction>,
    /// Actions on entering INSUFFICIENT_DATA.
    pub insufficient_data_actions: Vec<AlarmAction>,
    /// Whether actions run.
    pub actions_enabled: bool,
}

/// Metric or composite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmKind {
    /// A metric alarm.
    MetricAlarm,
    /// A composite alarm.
    CompositeAlarm,
}

/// An alarm's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlarmDefinition {
    /// A metric alarm.
    Metric(MetricAlarm),
    /// A composite alarm.
    Composite(CompositeSpec),
}

impl AlarmDefinition {
    /// The alarm's name.
    pub fn name(&self) -> &str {
        match self {
            AlarmDefinition::Metric(a) => a.name(),
            AlarmDefinition::Composite(c) => &c.name,
        }
    }

    /// Which kind.
    pub fn kind(&self) -> AlarmKind {
        match self {
            AlarmDefinition::Metric(_) => AlarmKind::MetricAlarm,
            AlarmDefinition::Composite(_) => AlarmKind::CompositeAlarm,
        }
    }

    /// Whether actions run.
    pub fn actions_enabled(&self) -> bool {
        match self {
            AlarmDefinition::Metric(a) => a.spec().actions_enabled,
            AlarmDefinition::Composite(c) => c.actions_enabled,
        }
    }

    fn actions_for(&self, state: AlarmState) -> Vec<AlarmAction> {
        match self {
            AlarmDefinition::Metric(a) => a.actions_for(state).to_vec(),
            AlarmDefinition::Composite(c) => match state {
                AlarmState::Ok => c.ok_actions.clone(),
                AlarmState::Alarm => c.alarm_actions.clone(),
                AlarmState::InsufficientData => c.insufficient_data_actions.clone(),
            },
        }
    }

    fn with_actions_enabled(&self, enabled: bool) -> Result<AlarmDefinition> {
        Ok(match self {
            AlarmDefinition::Metric(a) => {
                let mut spec = a.spec().clone();
                spec.actions_enabled = enabled;
                AlarmDefinition::Metric(MetricAlarm::new(spec)?)
            }
            AlarmDefinition::Composite(c) => {
                AlarmDefinition::Composite(CompositeSpec { actions_enabled: enabled, ..c.clone() })
            }
        })
    }
}

/// An alarm's state, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateInfo {
    /// OK, ALARM or INSUFFICIENT_DATA.
    pub value: AlarmState,
    /// Why, in CloudWatch's wording.
    pub reason: String,
    /// The reason's data, JSON (may be empty).
    pub reason_data: String,
    /// When the state or reason last changed, epoch ms.
    pub updated_ms: i64,
    /// When the state value last changed, epoch ms.
    pub transitioned_ms: i64,
}

/// An alarm as DescribeAlarms shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmView {
    /// Its definition.
    pub definition: AlarmDefinition,
    /// Its state.
    pub state: StateInfo,
    /// When the definition last changed, epoch ms.
    pub configuration_updated_ms: i64,
    /// When it was last evaluated, epoch ms (`i64::MIN` before the first time).
    pub last_evaluated_ms: i64,
}

/// What a history item records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryItemType {
    /// Created, updated, deleted.
    ConfigurationUpdate,
    /// A state change.
    StateUpdate,
    /// An action ran (or failed).
    Action,
}

/// One DescribeAlarmHistory item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// The alarm.
    pub alarm_name: String,
    /// Its kind.
    pub alarm_kind: AlarmKind,
    /// When, epoch ms.
    pub timestamp_ms: i64,
    /// What.
    pub item_type: HistoryItemType,
    /// A sentence.
    pub summary: String,
    /// JSON details.
    pub data: String,
}

/// A state change, for the action dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The alarm.
    pub alarm_name: String,
    /// Its kind.
    pub alarm_kind: AlarmKind,
    /// Before.
    pub old: StateInfo,
    /// After.
    pub new: StateInfo,
    /// Actions to run (empty when the alarm's actions are disabled).
    pub actions: Vec<AlarmAction>,
    /// The state-change event, shaped like CloudWatch's EventBridge event.
    pub event: String,
}

/// DescribeAlarms' criteria.
#[derive(Debug, Clone, Default)]
pub struct AlarmQuery {
    /// Only these names (all when empty).
    pub names: Vec<String>,
    /// Only names starting with this.
    pub name_prefix: Option<String>,
    /// Only alarms in this state.
    pub state: Option<AlarmState>,
    /// Only this kind.
    pub kind: Option<AlarmKind>,
}

/// DescribeAlarmsForMetric's criteria: the metric (namespace, name and exactly these
/// dimensions), and optionally the statistic and period the alarms use.
#[derive(Debug, Clone, Default)]
pub struct MetricAlarmQuery {
    /// The metric.
    pub metric: MetricRef,
    /// Only alarms on this statistic (a percentile included).
    pub statistic: Option<Statistic>,
    /// Only alarms with this period.
    pub period: Option<Period>,
}

/// DescribeAlarmHistory's criteria.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    /// Only this alarm's.
    pub alarm_name: Option<String>,
    /// Only this type.
    pub item_type: Option<HistoryItemType>,
    /// From, epoch ms, inclusive.
    pub start_ms: Option<i64>,
    /// To, epoch ms, inclusive.
    pub end_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    view: AlarmView,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Book {
    alarms: BTreeMap<String, Entry>,
    history: VecDeque<HistoryItem>,
}

impl StateLookup for Book {
    fn state(&self, name: &str) -> Option<AlarmState> {
        self.alarms.get(name).map(|e| e.view.state.value)
    }
}

/// Every alarm's definition, state and history.
#[derive(Debug)]
pub struct AlarmRegistry {
    path: PathBuf,
    book: Mutex<Book>,
}

/// `2024-10-26T18:59:00.000+0000`, as CloudWatch's events.
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
}

impl AlarmRegistry {
    /// Loads `dir/alarms.json` (or starts empty); alarms resume in their saved states.
    pub fn open(dir: &Path) -> Result<AlarmRegistry> {
        let path = dir.join("alarms.json");
        let book = durable::read_json(&path)?.unwrap_or_default();
        Ok(AlarmRegistry { path, book: Mutex::new(book) })
    }

    /// PutMetricAlarm: creates the alarm in INSUFFICIENT_DATA, or replaces the definition of an
    /// existing one and keeps its state.
    pub fn put_metric_alarm(&self, alarm: MetricAlarm, now_ms: i64) -> Result<()> {
        self.put(AlarmDefinition::Metric(alarm), now_ms)
    }

    /// PutCompositeAlarm: the rule must parse and name only existing alarms, not itself.
    pub fn put_composite_alarm(&self, spec: CompositeSpec, now_ms: i64) -> Result<()> {
        logsight_alarms::model::check_alarm_name(&spec.name)?;
        let rule = AlarmRule::parse(&spec.rule)?;
        {
            let book = self.book.lock();
            for name in rule.alarm_names() {
                if name == spec.name {
                    return Err(WatchError::invalid(
                        "AlarmRule",
                        "a composite alarm cannot refer to itself",
                    ));
                }
                if !book.alarms.contains_key(name) {
                    return Err(WatchError::invalid(
                        "AlarmRule",
                        format!("alarm {name:?} does not exist"),
                    ));
                }
            }
        }
        for actions in [&spec.alarm_actions, &spec.ok_actions, &spec.insufficient_data_actions] {
            if actions.len() > logsight_alarms::model::MAX_ACTIONS_PER_STATE {
                return Err(WatchError::invalid("AlarmActions", "at most 5 actions per state"));
            }
        }
        self.put(AlarmDefinition::Composite(spec), now_ms)
    }

    fn put(&self, definition: AlarmDefinition, now_ms: i64) -> Result<()> {
        let mut book = self.book.lock();
        let name = definition.name().to_owned();
        let kind = definition.kind();
        let summary = match book.alarms.get_mut(&name) {
            Some(e) if e.view.definition.kind() != kind => {
                return Err(WatchError::invalid(
                    "AlarmName",
                    format!("{name:?} is already a {:?}", e.view.definition.kind()),
                ));
            }
            Some(e) => {
                e.view.definition = definition;
                e.view.configuration_updated_ms = now_ms;
                format!("Alarm \"{name}\" updated")
            }
            None => {
                let state = StateInfo {
                    value: AlarmState::InsufficientData,
                    reason: "Unchecked: Initial alarm creation".into(),
                    reason_data: String::new(),
                    updated_ms: now_ms,
                    transitioned_ms: now_ms,
                };
                let view = AlarmView {
                    definition,
                    state,
                    configuration_updated_ms: now_ms,
                    last_evaluated_ms: i64::MIN,
                };
                book.alarms.insert(name.clone(), Entry { view });
                format!("Alarm \"{name}\" created")
            }
        };
        let data = json!({"version": "1.0", "type": "Update"}).to_string();
        push_history(
            &mut book,
            HistoryItem {
                alarm_name: name,
                alarm_kind: kind,
                timestamp_ms: now_ms,
                item_type: HistoryItemType::ConfigurationUpdate,
                summary,
                data,
            },
            now_ms,
        );
        self.save(&book)
    }

    /// DeleteAlarms: every name must exist, or nothing is deleted. History stays.
    pub fn delete(&self, names: &[String], now_ms: i64) -> Result<()> {
        let mut book = self.book.lock();
        if let Some(missing) = names.iter().find(|n| !book.alarms.contains_key(*n)) {
            return Err(WatchError::NotFound(format!("Alarm {missing} does not exist")));
        }
        for name in names {
            if let Some(e) = book.alarms.remove(name) {
                let item = HistoryItem {
                    alarm_name: name.clone(),
                    alarm_kind: e.view.definition.kind(),
                    timestamp_ms: now_ms,
                    item_type: HistoryItemType::ConfigurationUpdate,
                    summary: format!("Alarm \"{name}\" deleted"),
                    data: json!({"version": "1.0", "type": "Delete"}).to_string(),
                };
                push_history(&mut book, item, now_ms);
            }
        }
        self.save(&book)
    }

    /// The alarms matching `q`, by name.
    pub fn describe(&self, q: &AlarmQuery) -> Vec<AlarmView> {
        let book = self.book.lock();
        book.alarms
            .iter()
            .filter(|(n, _)| q.names.is_empty() || q.names.contains(n))
            .filter(|(n, _)| q.name_prefix.as_ref().is_none_or(|p| n.starts_with(p.as_str())))
            .filter(|(_, e)| q.state.is_none_or(|s| e.view.state.value == s))
            .filter(|(_, e)| q.kind.is_none_or(|k| e.view.definition.kind() == k))
            .map(|(_, e)| e.view.clone())
            .collect()
    }

    /// DescribeAlarmsForMetric: the metric alarms watching `q.metric`, by name.
    pub fn for_metric(&self, q: &MetricAlarmQuery) -> Vec<AlarmView> {
        let book = self.book.lock();
        book.alarms
            .values()
            .filter(|e| match &e.view.definition {
                AlarmDefinition::Metric(a) => {
                    let s = a.spec();
                    s.metric == q.metric
                        && q.statistic.is_none_or(|st| s.statistic == st)
                        && q.period.is_none_or(|p| s.period == p)
                }
                AlarmDefinition::Composite(_) => false,
            })
            .map(|e| e.view.clone())
            .collect()
    }

    /// SetAlarmState: forces a state (the next evaluation returns the alarm to its real one).
    pub fn set_state(
        &self,
        name: &str,
        value: AlarmState,
        reason: &str,
        reason_data: &str,
        now_ms: i64,
    ) -> Result<Option<Transition>> {
        if reason.chars().count() > 1023 {
            return Err(WatchError::invalid("StateReason", "at most 1023 characters"));
        }
        if !reason_data.is_empty()
            && serde_json::from_str::<serde_json::Value>(reason_data).is_err()
        {
            return Err(WatchError::invalid("StateReasonData", "must be JSON"));
        }
        let mut book = self.book.lock();
        if !book.alarms.contains_key(name) {
            return Err(WatchError::NotFound(format!("Alarm {name} does not exist")));
        }
        let t =
            change_state(&mut book, name, value, reason.to_owned(), reason_data.to_owned(), now_ms);
        self.save(&book)?;
        Ok(t)
    }

    /// Enable/DisableAlarmActions.
    pub fn set_actions_enabled(&self, names: &[String], enabled: bool, now_ms: i64) -> Result<()> {
        let mut book = self.book.lock();
        for name in names {
            let Some(e) = book.alarms.get_mut(name) else { continue };
            e.view.definition = e.view.definition.with_actions_enabled(enabled)?;
            e.view.configuration_updated_ms = now_ms;
        }
        self.save(&book)
    }

    /// DescribeAlarmHistory: newest first.
    pub fn history(&self, q: &HistoryQuery) -> Vec<HistoryItem> {
        let book = self.book.lock();
        book.history
            .iter()
            .rev()
            .filter(|h| q.alarm_name.as_ref().is_none_or(|n| h.alarm_name == *n))
            .filter(|h| q.item_type.is_none_or(|t| h.item_type == t))
            .filter(|h| q.start_ms.is_none_or(|s| h.timestamp_ms >= s))
            .filter(|h| q.end_ms.is_none_or(|e| h.timestamp_ms <= e))
            .cloned()
            .collect()
    }

    /// Records that an action ran or failed.
    pub fn record_action(
        &self,
        alarm_name: &str,
        alarm_kind: AlarmKind,
        summary: String,
        now_ms: i64,
    ) -> Result<()> {
        let mut book = self.book.lock();
        let item = HistoryItem {
            alarm_name: alarm_name.to_owned(),
            alarm_kind,
            timestamp_ms: now_ms,
            item_type: HistoryItemType::Action,
            summary,
            data: String::new(),
        };
        push_history(&mut book, item, now_ms);
        self.save(&book)
    }

    /// One evaluation round at `now_ms`: every metric alarm whose interval came (every 10 s for
    /// periods under a minute, else every minute), then every composite alarm. Returns the
    /// state changes.
    pub fn evaluate_due(&self, metrics: &MetricStore, now_ms: i64) -> Result<Vec<Transition>> {
        let mut book = self.book.lock();
        let mut out = Vec::new();
        let names: Vec<String> = book.alarms.keys().cloned().collect();
        for name in &names {
            let entry = &book.alarms[name];
            let AlarmDefinition::Metric(alarm) = &entry.view.definition else { continue };
            let interval = alarm.evaluation_interval_ms();
            let last = entry.view.last_evaluated_ms;
            if last != i64::MIN && now_ms.div_euclid(interval) <= last.div_euclid(interval) {
                continue;
            }
            let alarm = alarm.clone();
            let current = entry.view.state.value;
            let window = evaluation_window(&alarm, now_ms);
            let spec = alarm.spec();
            let key = MetricKey::new(
                &spec.metric.namespace,
                &spec.metric.name,
                spec.metric.dimensions.clone(),
            )?;
            let points: Vec<Datapoint> = metrics
                .statistics(&key, window.start_ms, window.end_ms, window.period_ms)?
                .into_iter()
                .filter_map(|p| {
                    Some(Datapoint {
                        timestamp: p.timestamp_ms,
                        value: statistic(spec.statistic, &p.aggregate)?,
                        sample_count: p.aggregate.sample_count(),
                    })
                })
                .collect();
            let outcome = evaluate(&alarm, current, &window, &points, now_ms);
            if let Some(e) = book.alarms.get_mut(name) {
                e.view.last_evaluated_ms = now_ms;
            }
            if outcome.decided
                && let Some(t) = change_state(
                    &mut book,
                    name,
                    outcome.state,
                    outcome.reason,
                    outcome.reason_data,
                    now_ms,
                )
            {
                out.push(t);
            }
        }
        for name in &names {
            let AlarmDefinition::Composite(c) = &book.alarms[name].view.definition else {
                continue;
            };
            let Ok(rule) = AlarmRule::parse(&c.rule) else { continue };
            let holds = rule.eval(&*book);
            let (value, verb) =
                if holds { (AlarmState::Alarm, "TRUE") } else { (AlarmState::Ok, "FALSE") };
            let members: serde_json::Map<String, serde_json::Value> = rule
                .alarm_names()
                .into_iter()
                .map(|n| (n.to_owned(), json!(book.state(n).map(AlarmState::as_str))))
                .collect();
            let reason = format!("Composite alarm rule {} evaluated to {verb}", c.rule);
            let data = json!({"triggeringAlarms": members}).to_string();
            if let Some(e) = book.alarms.get_mut(name) {
                e.view.last_evaluated_ms = now_ms;
            }
            if let Some(t) = change_state(&mut book, name, value, reason, data, now_ms) {
                out.push(t);
            }
        }
        if !out.is_empty() {
            self.save(&book)?;
        }
        Ok(out)
    }

    fn save(&self, book: &Book) -> Result<()> {
        Ok(durable::write_json(&self.path, book)?)
    }
}

/// The value of `statistic` for one period (`None` when it has no samples).
pub fn statistic(statistic: Statistic, a: &Aggregate) -> Option<f64> {
    if a.sample_count() == 0.0 {
        return None;
    }
    match statistic {
        Statistic::SampleCount => Some(a.sample_count()),
        Statistic::Sum => Some(a.sum()),
        Statistic::Average => a.average(),
        Statistic::Minimum => a.minimum(),
        Statistic::Maximum => a.maximum(),
        Statistic::Percentile(p) => a.percentile(p),
    }
}

fn push_history(book: &mut Book, item: HistoryItem, now_ms: i64) {
    book.history.push_back(item);
    while book.history.front().is_some_and(|h| h.timestamp_ms < now_ms - HISTORY_RETENTION_MS)
        || book.history.len() > MAX_HISTORY_ITEMS
    {
        book.history.pop_front();
    }
}

fn state_json(s: &StateInfo) -> serde_json::Value {
    let data: serde_json::Value =
        serde_json::from_str(&s.reason_data).unwrap_or(serde_json::Value::Null);
    json!({"stateValue": s.value.as_str(), "stateReason": s.reason, "stateReasonData": data})
}

/// Moves `name` to `value`; a transition (with history and an event) only if the value changed.
fn change_state(
    book: &mut Book,
    name: &str,
    value: AlarmState,
    reason: String,
    reason_data: String,
    now_ms: i64,
) -> Option<Transition> {
    let entry = book.alarms.get_mut(name)?;
    let old = entry.view.state.clone();
    if old.value == value {
        return None;
    }
    let new = StateInfo { value, reason, reason_data, updated_ms: now_ms, transitioned_ms: now_ms };
    entry.view.state = new.clone();
    let definition = &entry.view.definition;
    let kind = definition.kind();
    let actions =
        if definition.actions_enabled() { definition.actions_for(value) } else { Vec::new() };
    let state_doc = |s: &StateInfo| {
        let data: serde_json::Value =
            serde_json::from_str(&s.reason_data).unwrap_or(serde_json::Value::Null);
        json!({"value": s.value.as_str(), "reason": s.reason, "reasonData": data, "timestamp": iso(s.updated_ms)})
    };
    let configuration = match definition {
        AlarmDefinition::Metric(a) => {
            let s = a.spec();
            json!({"description": s.description, "metrics": [{"metricStat": {"metric": {"namespace": s.metric.namespace, "name": s.metric.name, "dimensions": s.metric.dimensions}, "period": s.period.seconds(), "stat": s.statistic.to_string()}}]})
        }
        AlarmDefinition::Composite(c) => json!({"description": c.description, "alarmRule": c.rule}),
    };
    let event = json!({
        "version": "0",
        "id": format!("{name}/{now_ms}"),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "time": iso(now_ms),
        "resources": [name],
        "detail": {
            "alarmName": name,
            "state": state_doc(&new),
            "previousState": state_doc(&old),
            "configuration": configuration,
        }
    })
    .to_string();
    let data =
        json!({"version": "1.0", "oldState": state_json(&old), "newState": state_json(&new)})
            .to_string();
    let summary = format!("Alarm updated from {} to {}", old.value, new.value);
    push_history(
        book,
        HistoryItem {
            alarm_name: name.to_owned(),
            alarm_kind: kind,
            timestamp_ms: now_ms,
            item_type: HistoryItemType::StateUpdate,
            summary,
            data,
        },
        now_ms,
    );
    Some(Transition { alarm_name: name.to_owned(), alarm_kind: kind, old, new, actions, event })
}

#[cfg(test)]
mod tests;
