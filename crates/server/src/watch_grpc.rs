//! The tonic adapter of the `Watch` service: metric filters, metrics and alarms. Wire types in,
//! `logsight-watch` calls on blocking threads (they fsync), wire types out.

use std::collections::BTreeMap;
use std::sync::Arc;

use logsight_alarms::{
    AlarmAction, AlarmSpec, AlarmState, LowSampleCount, MetricAlarm, MetricRef, Period, Statistic,
};
use logsight_metrics::{Aggregate, MetricKey, StatisticSet};
use logsight_proto::v1 as pb;
use logsight_proto::v1::watch_server::Watch as WatchRpc;
use logsight_storage::Store;
use logsight_watch::alarm_book::{
    AlarmDefinition, AlarmKind, AlarmQuery, AlarmView, CompositeSpec, HistoryItemType,
    HistoryQuery, MetricAlarmQuery, StateInfo,
};
use logsight_watch::{
    FilterQuery, FilterSpec, MetricDatum, MetricFilter, Watch, test_metric_filter,
};
use tonic::{Request, Response, Status};

use crate::error::ServiceError;

type Reply<T> = Result<Response<T>, Status>;
type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// At most this many datapoints per GetMetricStatistics series, as CloudWatch.
pub const MAX_DATAPOINTS: i64 = 1_440;

/// The `Watch` gRPC service.
#[derive(Clone)]
pub struct WatchService {
    watch: Arc<Watch>,
    store: Arc<Store>,
}

impl WatchService {
    /// A service over a running Watch side and the log store it follows.
    pub fn new(watch: Arc<Watch>, store: Arc<Store>) -> WatchService {
        WatchService { watch, store }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Watch) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        crate::service::on_blocking_thread(self.watch.clone(), f).await
    }
}

/// Any error of the Watch side's crates, as the service's error.
fn werr(e: impl Into<logsight_watch::WatchError>) -> ServiceError {
    ServiceError::from(e.into())
}

fn ok<T>(t: T) -> Reply<T> {
    Ok(Response::new(t))
}

/// A page of `items` from an offset token; the next token if more remain.
pub fn page<T>(
    items: Vec<T>,
    token: Option<&str>,
    limit: usize,
) -> Result<(Vec<T>, Option<String>)> {
    let start: usize = match token {
        None | Some("") => 0,
        Some(t) => {
            t.parse().map_err(|_| ServiceError::invalid(format!("invalid nextToken {t:?}")))?
        }
    };
    let total = items.len();
    let out: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = (start + out.len() < total).then(|| (start + out.len()).to_string());
    Ok((out, next))
}

fn limit(value: i32, default: usize, max: usize, field: &str) -> Result<usize> {
    match value {
        0 => Ok(default),
        v if v < 0 || v as usize > max => {
            Err(ServiceError::invalid(format!("{field} must be between 1 and {max}, got {v}")))
        }
        v => Ok(v as usize),
    }
}

fn dims(d: &[pb::Dimension]) -> BTreeMap<String, String> {
    d.iter().map(|d| (d.name.clone(), d.value.clone())).collect()
}

fn dims_pb(d: &BTreeMap<String, String>) -> Vec<pb::Dimension> {
    d.iter()
        .map(|(name, value)| pb::Dimension { name: name.clone(), value: value.clone() })
        .collect()
}

fn metric_key(namespace: &str, name: &str, d: &[pb::Dimension]) -> Result<MetricKey> {
    MetricKey::new(namespace, name, dims(d)).map_err(werr)
}

fn statistic(s: &str) -> Result<Statistic> {
    s.parse::<Statistic>().map_err(werr)
}

fn actions(list: &[String]) -> Result<Vec<AlarmAction>> {
    list.iter().map(|a| a.parse::<AlarmAction>().map_err(werr)).collect()
}

fn action_strings(list: &[AlarmAction]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

fn filter_pb(f: &MetricFilter) -> pb::MetricFilter {
    let s = f.spec();
    pb::MetricFilter {
        filter_name: s.name.clone(),
        filter_pattern: s.pattern.clone(),
        metric_transformations: vec![pb::MetricTransformation {
            metric_name: s.metric_name.clone(),
            metric_namespace: s.namespace.clone(),
            metric_value: s.value.clone(),
            default_value: s.default_value,
            dimensions: s.dimensions.clone().into_iter().collect(),
            unit: s.unit.clone().unwrap_or_default(),
        }],
        creation_time: f.created_ms(),
        log_group_name: s.group.clone(),
    }
}

fn state_pb(s: &StateInfo) -> pb::AlarmState {
    pb::AlarmState {
        state_value: s.value.to_string(),
        state_reason: s.reason.clone(),
        state_reason_data: s.reason_data.clone(),
        state_updated_timestamp: s.updated_ms,
        state_transitioned_timestamp: s.transitioned_ms,
    }
}

fn kind_name(k: AlarmKind) -> &'static str {
    match k {
        AlarmKind::MetricAlarm => "MetricAlarm",
        AlarmKind::CompositeAlarm => "CompositeAlarm",
    }
}

fn kinds(types: &[String]) -> Result<Option<AlarmKind>> {
    let mut metric = false;
    let mut composite = false;
    for t in types {
        match t.as_str() {
            "MetricAlarm" => metric = true,
            "CompositeAlarm" => composite = true,
            other => return Err(ServiceError::invalid(format!("unknown alarm type {other:?}"))),
        }
    }
    Ok(match (metric, composite) {
        (true, false) => Some(AlarmKind::MetricAlarm),
        (false, true) => Some(AlarmKind::CompositeAlarm),
        _ => None,
    })
}

/// The requested statistics of one period.
fn datapoint(p: &Aggregate, timestamp: i64, stats: &[Statistic], unit: &str) -> pb::Datapoint {
    let mut d = pb::Datapoint { timestamp, unit: unit.to_owned(), ..Default::default() };
    for s in stats {
        let v = logsight_watch::alarm_book::statistic(*s, p);
        match s {
            Statistic::SampleCount => d.sample_count = v,
            Statistic::Average => d.average = v,
            Statistic::Sum => d.sum = v,
            Statistic::Minimum => d.minimum = v,
            Statistic::Maximum => d.maximum = v,
            Statistic::Percentile(_) => {
                if let Some(v) = v {
                    d.extended_statistics.insert(s.to_string(), v);
                }
            }
        }
    }
    d
}

/// PutMetricFilter's `metricTransformations`: exactly one, as CloudWatch.
pub fn one_transformation<T>(list: Vec<T>) -> Result<T> {
    let [t] = <[T; 1]>::try_from(list).map_err(|_| {
        ServiceError::invalid("metricTransformations must hold exactly one transformation")
    })?;
    Ok(t)
}

/// PutMetricFilter: the group must exist, then the Watch side's rules and quotas. Blocking (it
/// fsyncs `filters.json`).
pub fn put_metric_filter(watch: &Watch, store: &Store, spec: FilterSpec) -> Result<()> {
    store.group(&spec.group)?;
    Ok(watch.put_metric_filter(spec)?)
}

/// DescribeMetricFilters: a page (`limit` 1..50, 0: 50) of the filters `q` selects, in
/// CloudWatch's order, from an offset token.
pub fn describe_metric_filters(
    watch: &Watch,
    q: &FilterQuery,
    limit_: i32,
    token: Option<&str>,
) -> Result<(Vec<Arc<MetricFilter>>, Option<String>)> {
    let n = limit(limit_, 50, 50, "limit")?;
    page(watch.filters().describe(q), token, n)
}

fn check_range(start: i64, end: i64, period: i32) -> Result<i64> {
    if period <= 0 {
        return Err(ServiceError::invalid("Period must be a positive number of seconds"));
    }
    if end <= start {
        return Err(ServiceError::invalid(format!(
            "StartTime {start} must be before EndTime {end}"
        )));
    }
    let period_ms = i64::from(period) * 1000;
    if (end - start) / period_ms > MAX_DATAPOINTS {
        return Err(ServiceError::invalid(format!(
            "the range holds more than {MAX_DATAPOINTS} periods of {period} s; use a larger period"
        )));
    }
    Ok(period_ms)
}

#[tonic::async_trait]
impl WatchRpc for WatchService {
    async fn put_metric_filter(
        &self,
        req: Request<pb::PutMetricFilterRequest>,
    ) -> Reply<pb::PutMetricFilterResponse> {
        let r = req.into_inner();
        let t = one_transformation(r.metric_transformations)?;
        let spec = FilterSpec {
            group: r.log_group_name,
            name: r.filter_name,
            pattern: r.filter_pattern,
            metric_name: t.metric_name,
            namespace: t.metric_namespace,
            value: t.metric_value,
            default_value: t.default_value,
            dimensions: t.dimensions.into_iter().collect(),
            unit: (!t.unit.is_empty()).then_some(t.unit),
        };
        let store = self.store.clone();
        self.blocking(move |w| put_metric_filter(w, &store, spec)).await?;
        ok(pb::PutMetricFilterResponse {})
    }

    async fn describe_metric_filters(
        &self,
        req: Request<pb::DescribeMetricFiltersRequest>,
    ) -> Reply<pb::DescribeMetricFiltersResponse> {
        let r = req.into_inner();
        let q = FilterQuery {
            group: r.log_group_name,
            name_prefix: (!r.filter_name_prefix.is_empty()).then_some(r.filter_name_prefix),
            metric_name: (!r.metric_name.is_empty()).then_some(r.metric_name),
            namespace: (!r.metric_namespace.is_empty()).then_some(r.metric_namespace),
        };
        let (items, next_token) =
            describe_metric_filters(&self.watch, &q, r.limit, r.next_token.as_deref())?;
        ok(pb::DescribeMetricFiltersResponse {
            metric_filters: items.iter().map(|f| filter_pb(f)).collect(),
            next_token,
        })
    }

    async fn delete_metric_filter(
        &self,
        req: Request<pb::DeleteMetricFilterRequest>,
    ) -> Reply<pb::DeleteMetricFilterResponse> {
        let r = req.into_inner();
        self.blocking(move |w| Ok(w.filters().delete(&r.log_group_name, &r.filter_name)?)).await?;
        ok(pb::DeleteMetricFilterResponse {})
    }

    async fn test_metric_filter(
        &self,
        req: Request<pb::TestMetricFilterRequest>,
    ) -> Reply<pb::TestMetricFilterResponse> {
        let r = req.into_inner();
        let matches = self
            .blocking(move |_| Ok(test_metric_filter(&r.filter_pattern, &r.log_event_messages)?))
            .await?
            .into_iter()
            .map(|m| pb::MetricFilterMatchRecord {
                event_number: m.event_number as i64,
                event_message: m.message,
                extracted_values: m.extracted.into_iter().collect(),
            })
            .collect();
        ok(pb::TestMetricFilterResponse { matches })
    }

    async fn put_metric_data(
        &self,
        req: Request<pb::PutMetricDataRequest>,
    ) -> Reply<pb::PutMetricDataResponse> {
        let r = req.into_inner();
        if r.metric_data.is_empty() || r.metric_data.len() > 1000 {
            return Err(ServiceError::invalid("MetricData holds 1..1000 datums").into());
        }
        let now = self.watch.now_ms();
        let mut data = Vec::with_capacity(r.metric_data.len());
        for d in r.metric_data {
            let mut values = d.values;
            values.extend(d.value);
            let statistic_values = match d.statistic_values {
                Some(s) => Some(
                    StatisticSet::new(s.sample_count, s.sum, s.minimum, s.maximum).map_err(werr)?,
                ),
                None => None,
            };
            data.push(MetricDatum {
                key: metric_key(&r.namespace, &d.metric_name, &d.dimensions)?,
                timestamp_ms: if d.timestamp == 0 { now } else { d.timestamp },
                values,
                statistic_values,
                unit: (!d.unit.is_empty()).then_some(d.unit),
            });
        }
        self.blocking(move |w| Ok(w.put_metric_data(data)?)).await?;
        ok(pb::PutMetricDataResponse {})
    }

    async fn get_metric_statistics(
        &self,
        req: Request<pb::GetMetricStatisticsRequest>,
    ) -> Reply<pb::GetMetricStatisticsResponse> {
        let r = req.into_inner();
        let key = metric_key(&r.namespace, &r.metric_name, &r.dimensions)?;
        let period_ms = check_range(r.start_time, r.end_time, r.period)?;
        let mut stats = Vec::new();
        for s in &r.statistics {
            match statistic(s)? {
                Statistic::Percentile(_) => {
                    return Err(
                        ServiceError::invalid(format!("{s} goes in ExtendedStatistics")).into()
                    );
                }
                st => stats.push(st),
            }
        }
        for s in &r.extended_statistics {
            match statistic(s)? {
                st @ Statistic::Percentile(_) => stats.push(st),
                _ => return Err(ServiceError::invalid(format!("{s} goes in Statistics")).into()),
            }
        }
        if stats.is_empty() {
            return Err(ServiceError::invalid(
                "give at least one of Statistics or ExtendedStatistics",
            )
            .into());
        }
        let (start, end) = (r.start_time, r.end_time);
        let datapoints = self
            .blocking(move |w| {
                let unit = w.metrics().unit(&key).unwrap_or_default();
                let periods = w.metrics().statistics(&key, start, end, period_ms).map_err(werr)?;
                Ok(periods
                    .iter()
                    .map(|p| datapoint(&p.aggregate, p.timestamp_ms, &stats, &unit))
                    .collect())
            })
            .await?;
        ok(pb::GetMetricStatisticsResponse { label: r.metric_name, datapoints })
    }

    async fn get_metric_data(
        &self,
        req: Request<pb::GetMetricDataRequest>,
    ) -> Reply<pb::GetMetricDataResponse> {
        let r = req.into_inner();
        if r.metric_data_queries.is_empty() || r.metric_data_queries.len() > 500 {
            return Err(ServiceError::invalid("MetricDataQueries holds 1..500 queries").into());
        }
        let mut queries = Vec::new();
        for q in r.metric_data_queries {
            let ms = q.metric_stat.ok_or_else(|| {
                ServiceError::invalid(format!("query {} needs a MetricStat", q.id))
            })?;
            let m = ms.metric.unwrap_or_default();
            let key = metric_key(&m.namespace, &m.metric_name, &m.dimensions)?;
            let period_ms = check_range(r.start_time, r.end_time, ms.period)?;
            let label = if q.label.is_empty() { m.metric_name.clone() } else { q.label };
            queries.push((q.id, label, key, period_ms, statistic(&ms.stat)?));
        }
        let (start, end) = (r.start_time, r.end_time);
        let results = self
            .blocking(move |w| {
                let mut out = Vec::new();
                for (id, label, key, period_ms, stat) in queries {
                    let periods =
                        w.metrics().statistics(&key, start, end, period_ms).map_err(werr)?;
                    let points: Vec<(i64, f64)> = periods
                        .iter()
                        .rev()
                        .filter_map(|p| {
                            Some((
                                p.timestamp_ms,
                                logsight_watch::alarm_book::statistic(stat, &p.aggregate)?,
                            ))
                        })
                        .collect();
                    out.push(pb::MetricDataResult {
                        id,
                        label,
                        timestamps: points.iter().map(|p| p.0).collect(),
                        values: points.iter().map(|p| p.1).collect(),
                        status_code: "Complete".into(),
                    });
                }
                Ok(out)
            })
            .await?;
        ok(pb::GetMetricDataResponse { metric_data_results: results })
    }

    async fn list_metrics(
        &self,
        req: Request<pb::ListMetricsRequest>,
    ) -> Reply<pb::ListMetricsResponse> {
        let r = req.into_inner();
        let filter: BTreeMap<String, Option<String>> =
            r.dimensions.into_iter().map(|d| (d.name, d.value)).collect();
        let ns = (!r.namespace.is_empty()).then_some(r.namespace.as_str());
        let name = (!r.metric_name.is_empty()).then_some(r.metric_name.as_str());
        let keys = self.watch.metrics().list(ns, name, &filter);
        let (keys, next_token) = page(keys, r.next_token.as_deref(), 500)?;
        let metrics = keys
            .iter()
            .map(|k| pb::Metric {
                namespace: k.namespace().to_owned(),
                metric_name: k.name().to_owned(),
                dimensions: dims_pb(k.dimensions()),
            })
            .collect();
        ok(pb::ListMetricsResponse { metrics, next_token })
    }

    async fn put_metric_alarm(
        &self,
        req: Request<pb::PutMetricAlarmRequest>,
    ) -> Reply<pb::PutMetricAlarmResponse> {
        let r = req.into_inner();
        let stat = match (r.statistic.is_empty(), r.extended_statistic.is_empty()) {
            (false, true) => match statistic(&r.statistic)? {
                Statistic::Percentile(_) => {
                    return Err(
                        ServiceError::invalid("a percentile goes in ExtendedStatistic").into()
                    );
                }
                s => s,
            },
            (true, false) => match statistic(&r.extended_statistic)? {
                s @ Statistic::Percentile(_) => s,
                _ => {
                    return Err(
                        ServiceError::invalid("ExtendedStatistic takes a percentile pNN").into()
                    );
                }
            },
            _ => {
                return Err(ServiceError::invalid(
                    "give exactly one of Statistic and ExtendedStatistic",
                )
                .into());
            }
        };
        let period = u32::try_from(r.period)
            .map_err(|_| ServiceError::invalid("Period must be positive"))?;
        let n = u32::try_from(r.evaluation_periods)
            .map_err(|_| ServiceError::invalid("EvaluationPeriods must be positive"))?;
        let m = match r.datapoints_to_alarm {
            Some(m) => u32::try_from(m)
                .map_err(|_| ServiceError::invalid("DatapointsToAlarm must be positive"))?,
            None => n,
        };
        let treat = if r.treat_missing_data.is_empty() { "missing" } else { &r.treat_missing_data };
        let spec = AlarmSpec {
            name: r.alarm_name,
            description: r.alarm_description,
            metric: MetricRef {
                namespace: r.namespace,
                name: r.metric_name,
                dimensions: dims(&r.dimensions),
            },
            statistic: stat,
            period: Period::new(period).map_err(werr)?,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold: r.threshold,
            comparison: r.comparison_operator.parse().map_err(werr)?,
            treat_missing_data: treat.parse().map_err(werr)?,
            evaluate_low_sample_count_percentile: match r
                .evaluate_low_sample_count_percentile
                .as_str()
            {
                "" => LowSampleCount::default(),
                s => s.parse().map_err(werr)?,
            },
            alarm_actions: actions(&r.alarm_actions)?,
            ok_actions: actions(&r.ok_actions)?,
            insufficient_data_actions: actions(&r.insufficient_data_actions)?,
            actions_enabled: r.actions_enabled.unwrap_or(true),
        };
        let alarm = MetricAlarm::new(spec).map_err(werr)?;
        self.blocking(move |w| Ok(w.alarms().put_metric_alarm(alarm, w.now_ms())?)).await?;
        ok(pb::PutMetricAlarmResponse {})
    }

    async fn put_composite_alarm(
        &self,
        req: Request<pb::PutCompositeAlarmRequest>,
    ) -> Reply<pb::PutCompositeAlarmResponse> {
        let r = req.into_inner();
        let spec = CompositeSpec {
            name: r.alarm_name,
            description: r.alarm_description,
            rule: r.alarm_rule,
            alarm_actions: actions(&r.alarm_actions)?,
            ok_actions: actions(&r.ok_actions)?,
            insufficient_data_actions: actions(&r.insufficient_data_actions)?,
            actions_enabled: r.actions_enabled.unwrap_or(true),
        };
        self.blocking(move |w| Ok(w.alarms().put_composite_alarm(spec, w.now_ms())?)).await?;
        ok(pb::PutCompositeAlarmResponse {})
    }

    async fn describe_alarms(
        &self,
        req: Request<pb::DescribeAlarmsRequest>,
    ) -> Reply<pb::DescribeAlarmsResponse> {
        let r = req.into_inner();
        let n = limit(r.max_records, 50, 100, "MaxRecords")?;
        let q = AlarmQuery {
            names: r.alarm_names,
            name_prefix: (!r.alarm_name_prefix.is_empty()).then_some(r.alarm_name_prefix),
            state: if r.state_value.is_empty() {
                None
            } else {
                Some(r.state_value.parse::<AlarmState>().map_err(werr)?)
            },
            kind: kinds(&r.alarm_types)?,
        };
        let views = self.watch.alarms().describe(&q);
        let (views, next_token) = page(views, r.next_token.as_deref(), n)?;
        let mut out = pb::DescribeAlarmsResponse { next_token, ..Default::default() };
        for v in views {
            push_alarm(&mut out, v);
        }
        ok(out)
    }

    async fn describe_alarms_for_metric(
        &self,
        req: Request<pb::DescribeAlarmsForMetricRequest>,
    ) -> Reply<pb::DescribeAlarmsForMetricResponse> {
        let r = req.into_inner();
        // Checked as a metric key, so a bad name or dimension is an error, not an empty list.
        let key = metric_key(&r.namespace, &r.metric_name, &r.dimensions)?;
        let statistic = match (r.statistic.as_str(), r.extended_statistic.as_str()) {
            ("", "") => None,
            (s, "") | ("", s) => Some(statistic(s)?),
            _ => {
                return Err(ServiceError::invalid(
                    "give at most one of Statistic and ExtendedStatistic",
                )
                .into());
            }
        };
        let period = match r.period {
            0 => None,
            p => Some(
                u32::try_from(p)
                    .map_err(|_| ServiceError::invalid("Period must be positive"))
                    .and_then(|p| Period::new(p).map_err(werr))?,
            ),
        };
        let q = MetricAlarmQuery {
            metric: MetricRef {
                namespace: key.namespace().to_owned(),
                name: key.name().to_owned(),
                dimensions: key.dimensions().clone(),
            },
            statistic,
            period,
        };
        let mut out = pb::DescribeAlarmsResponse::default();
        for v in self.watch.alarms().for_metric(&q) {
            push_alarm(&mut out, v);
        }
        ok(pb::DescribeAlarmsForMetricResponse { metric_alarms: out.metric_alarms })
    }

    async fn delete_alarms(
        &self,
        req: Request<pb::DeleteAlarmsRequest>,
    ) -> Reply<pb::DeleteAlarmsResponse> {
        let r = req.into_inner();
        self.blocking(move |w| Ok(w.alarms().delete(&r.alarm_names, w.now_ms())?)).await?;
        ok(pb::DeleteAlarmsResponse {})
    }

    async fn set_alarm_state(
        &self,
        req: Request<pb::SetAlarmStateRequest>,
    ) -> Reply<pb::SetAlarmStateResponse> {
        let r = req.into_inner();
        let value = r.state_value.parse::<AlarmState>().map_err(werr)?;
        self.blocking(move |w| {
            Ok(w.set_alarm_state(&r.alarm_name, value, &r.state_reason, &r.state_reason_data)?)
        })
        .await?;
        ok(pb::SetAlarmStateResponse {})
    }

    async fn describe_alarm_history(
        &self,
        req: Request<pb::DescribeAlarmHistoryRequest>,
    ) -> Reply<pb::DescribeAlarmHistoryResponse> {
        let r = req.into_inner();
        let n = limit(r.max_records, 100, 100, "MaxRecords")?;
        let item_type = match r.history_item_type.as_str() {
            "" => None,
            "ConfigurationUpdate" => Some(HistoryItemType::ConfigurationUpdate),
            "StateUpdate" => Some(HistoryItemType::StateUpdate),
            "Action" => Some(HistoryItemType::Action),
            other => {
                return Err(
                    ServiceError::invalid(format!("unknown HistoryItemType {other:?}")).into()
                );
            }
        };
        let kind = kinds(&r.alarm_types)?;
        let q = HistoryQuery {
            alarm_name: (!r.alarm_name.is_empty()).then_some(r.alarm_name),
            item_type,
            start_ms: r.start_date,
            end_ms: r.end_date,
        };
        let items: Vec<_> = self
            .watch
            .alarms()
            .history(&q)
            .into_iter()
            .filter(|h| kind.is_none_or(|k| h.alarm_kind == k))
            .collect();
        let (items, next_token) = page(items, r.next_token.as_deref(), n)?;
        let alarm_history_items = items
            .into_iter()
            .map(|h| pb::AlarmHistoryItem {
                alarm_name: h.alarm_name,
                alarm_type: kind_name(h.alarm_kind).into(),
                timestamp: h.timestamp_ms,
                history_item_type: format!("{:?}", h.item_type),
                history_summary: h.summary,
                history_data: h.data,
            })
            .collect();
        ok(pb::DescribeAlarmHistoryResponse { alarm_history_items, next_token })
    }

    async fn enable_alarm_actions(
        &self,
        req: Request<pb::EnableAlarmActionsRequest>,
    ) -> Reply<pb::EnableAlarmActionsResponse> {
        let r = req.into_inner();
        self.blocking(move |w| {
            Ok(w.alarms().set_actions_enabled(&r.alarm_names, true, w.now_ms())?)
        })
        .await?;
        ok(pb::EnableAlarmActionsResponse {})
    }

    async fn disable_alarm_actions(
        &self,
        req: Request<pb::DisableAlarmActionsRequest>,
    ) -> Reply<pb::DisableAlarmActionsResponse> {
        let r = req.into_inner();
        self.blocking(move |w| {
            Ok(w.alarms().set_actions_enabled(&r.alarm_names, false, w.now_ms())?)
        })
        .await?;
        ok(pb::DisableAlarmActionsResponse {})
    }

    async fn get_watch_status(
        &self,
        _req: Request<pb::GetWatchStatusRequest>,
    ) -> Reply<pb::GetWatchStatusResponse> {
        let s = self.watch.consumer_status();
        ok(pb::GetWatchStatusResponse {
            consumer_position: s.position.get(),
            committed_lsn: s.committed.get(),
            lag_batches: s.lag(),
            lost_batches: s.lost_batches,
            dropped_alarm_actions: self.watch.dropped_actions(),
        })
    }
}

fn push_alarm(out: &mut pb::DescribeAlarmsResponse, v: AlarmView) {
    match v.definition {
        AlarmDefinition::Metric(a) => {
            let s = a.spec();
            let (statistic, extended_statistic) = match s.statistic {
                p @ Statistic::Percentile(_) => (String::new(), p.to_string()),
                st => (st.to_string(), String::new()),
            };
            out.metric_alarms.push(pb::MetricAlarm {
                alarm_name: s.name.clone(),
                alarm_description: s.description.clone(),
                actions_enabled: s.actions_enabled,
                ok_actions: action_strings(&s.ok_actions),
                alarm_actions: action_strings(&s.alarm_actions),
                insufficient_data_actions: action_strings(&s.insufficient_data_actions),
                state: Some(state_pb(&v.state)),
                alarm_configuration_updated_timestamp: v.configuration_updated_ms,
                metric_name: s.metric.name.clone(),
                namespace: s.metric.namespace.clone(),
                statistic,
                extended_statistic,
                dimensions: dims_pb(&s.metric.dimensions),
                period: s.period.seconds() as i32,
                evaluation_periods: s.evaluation_periods as i32,
                datapoints_to_alarm: s.datapoints_to_alarm as i32,
                threshold: s.threshold,
                comparison_operator: s.comparison.as_str().into(),
                treat_missing_data: s.treat_missing_data.as_str().into(),
                evaluate_low_sample_count_percentile: s
                    .evaluate_low_sample_count_percentile
                    .as_str()
                    .into(),
            });
        }
        AlarmDefinition::Composite(c) => out.composite_alarms.push(pb::CompositeAlarm {
            alarm_name: c.name,
            alarm_description: c.description,
            actions_enabled: c.actions_enabled,
            ok_actions: action_strings(&c.ok_actions),
            alarm_actions: action_strings(&c.alarm_actions),
            insufficient_data_actions: action_strings(&c.insufficient_data_actions),
            state: Some(state_pb(&v.state)),
            alarm_configuration_updated_timestamp: v.configuration_updated_ms,
            alarm_rule: c.rule,
        }),
    }
}
