//! `logsight alarms`: put, list, delete, history, set-state, enable, disable and composite
//! alarms, over the API.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use logsight_proto::v1 as pb;
use serde_json::json;

use crate::client::{
    DEFAULT_ENDPOINT, Output, client_runtime, connect_watch, fmt_ts, status_error,
};
use crate::cmd_metric_filters::pairs;

#[derive(Debug, Args)]
pub struct AlarmsArgs {
    /// Server endpoint.
    #[arg(long, global = true, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(subcommand)]
    command: AlarmsCommand,
}

/// Actions on entering each state.
#[derive(Debug, Args)]
struct ActionArgs {
    /// On entering ALARM: `webhook:URL` or `exec:PROGRAM` (repeatable).
    #[arg(long = "alarm-action")]
    alarm_actions: Vec<String>,
    /// On entering OK (repeatable).
    #[arg(long = "ok-action")]
    ok_actions: Vec<String>,
    /// On entering INSUFFICIENT_DATA (repeatable).
    #[arg(long = "insufficient-data-action")]
    insufficient_data_actions: Vec<String>,
    /// Create the alarm with its actions disabled.
    #[arg(long)]
    actions_disabled: bool,
}

#[derive(Debug, Subcommand)]
enum AlarmsCommand {
    /// Create or update a metric alarm (an update keeps its state).
    Put {
        /// The alarm's name.
        #[arg(long)]
        name: String,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
        /// The metric's namespace.
        #[arg(long)]
        namespace: String,
        /// The metric's name.
        #[arg(long)]
        metric_name: String,
        /// `NAME=VALUE` (repeatable).
        #[arg(long = "dimension", value_name = "NAME=VALUE")]
        dimensions: Vec<String>,
        /// SampleCount, Average, Sum, Minimum, Maximum or a percentile pNN.
        #[arg(long, default_value = "Sum")]
        statistic: String,
        /// Seconds: 10, 20, 30 or a multiple of 60.
        #[arg(long, default_value_t = 60)]
        period: i32,
        /// N: datapoints considered.
        #[arg(long, default_value_t = 1)]
        evaluation_periods: i32,
        /// M: how many of the N must breach (default N).
        #[arg(long)]
        datapoints_to_alarm: Option<i32>,
        /// The threshold.
        #[arg(long)]
        threshold: f64,
        /// GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold,
        /// LessThanOrEqualToThreshold.
        #[arg(long, default_value = "GreaterThanOrEqualToThreshold")]
        comparison_operator: String,
        /// missing, notBreaching, breaching or ignore.
        #[arg(long, default_value = "missing")]
        treat_missing_data: String,
        /// For a percentile statistic: evaluate, or ignore datapoints with too few samples
        /// (fewer than 10/(1-p), 1,000 for p99) and keep the state.
        #[arg(long, default_value = "evaluate")]
        evaluate_low_sample_count_percentile: String,
        #[command(flatten)]
        actions: ActionArgs,
    },
    /// Create or update a composite alarm over other alarms' states.
    Composite {
        /// The alarm's name.
        #[arg(long)]
        name: String,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
        /// The rule, e.g. `ALARM(a) AND NOT OK(b)`.
        #[arg(long)]
        rule: String,
        #[command(flatten)]
        actions: ActionArgs,
    },
    /// List alarms with their state and reason.
    List {
        /// Only names starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Only alarms in this state (OK, ALARM, INSUFFICIENT_DATA).
        #[arg(long, default_value = "")]
        state: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// List the metric alarms watching one metric (DescribeAlarmsForMetric).
    ForMetric {
        /// The metric's namespace.
        #[arg(long)]
        namespace: String,
        /// The metric's name.
        #[arg(long)]
        metric_name: String,
        /// `NAME=VALUE` (repeatable): only alarms on exactly these dimensions.
        #[arg(long = "dimension", value_name = "NAME=VALUE")]
        dimensions: Vec<String>,
        /// Only alarms on this statistic (SampleCount, Average, Sum, Minimum, Maximum or a
        /// percentile pNN).
        #[arg(long, default_value = "")]
        statistic: String,
        /// Only alarms with this period, in seconds.
        #[arg(long)]
        period: Option<i32>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete alarms (their history stays).
    Delete {
        /// Alarm names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Show alarm history, newest first.
    History {
        /// Only this alarm's.
        #[arg(long)]
        name: Option<String>,
        /// ConfigurationUpdate, StateUpdate or Action.
        #[arg(long = "type", default_value = "")]
        item_type: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Force an alarm's state (actions run; the next evaluation decides again).
    SetState {
        /// The alarm's name.
        #[arg(long)]
        name: String,
        /// OK, ALARM or INSUFFICIENT_DATA.
        #[arg(long)]
        state: String,
        /// Why.
        #[arg(long, default_value = "Set by logsight alarms set-state")]
        reason: String,
    },
    /// Enable the actions of alarms.
    Enable {
        /// Alarm names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Disable the actions of alarms.
    Disable {
        /// Alarm names.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

pub fn run(args: AlarmsArgs) -> Result<ExitCode> {
    client_runtime()?.block_on(async move {
        let mut c = connect_watch(&args.endpoint).await?;
        match args.command {
            AlarmsCommand::Put {
                name,
                description,
                namespace,
                metric_name,
                dimensions,
                statistic,
                period,
                evaluation_periods,
                datapoints_to_alarm,
                threshold,
                comparison_operator,
                treat_missing_data,
                evaluate_low_sample_count_percentile,
                actions,
            } => {
                let (statistic, extended_statistic) =
                    if statistic.starts_with('p') { (String::new(), statistic) } else { (statistic, String::new()) };
                let dimensions = pairs(&dimensions, "--dimension")?
                    .into_iter()
                    .map(|(name, value)| pb::Dimension { name, value })
                    .collect();
                c.put_metric_alarm(pb::PutMetricAlarmRequest {
                    alarm_name: name.clone(),
                    alarm_description: description,
                    actions_enabled: Some(!actions.actions_disabled),
                    ok_actions: actions.ok_actions,
                    alarm_actions: actions.alarm_actions,
                    insufficient_data_actions: actions.insufficient_data_actions,
                    metric_name,
                    namespace,
                    statistic,
                    extended_statistic,
                    dimensions,
                    period,
                    evaluation_periods,
                    datapoints_to_alarm,
                    threshold,
                    comparison_operator,
                    treat_missing_data,
                    evaluate_low_sample_count_percentile,
                })
                .await
                .map_err(status_error)?;
                println!("alarm {name} saved");
            }
            AlarmsCommand::Composite { name, description, rule, actions } => {
                c.put_composite_alarm(pb::PutCompositeAlarmRequest {
                    alarm_name: name.clone(),
                    alarm_description: description,
                    actions_enabled: Some(!actions.actions_disabled),
                    ok_actions: actions.ok_actions,
                    alarm_actions: actions.alarm_actions,
                    insufficient_data_actions: actions.insufficient_data_actions,
                    alarm_rule: rule,
                })
                .await
                .map_err(status_error)?;
                println!("composite alarm {name} saved");
            }
            AlarmsCommand::List { prefix, state, output } => {
                let mut token = None;
                let (mut metric, mut composite) = (Vec::new(), Vec::new());
                loop {
                    let r = c
                        .describe_alarms(pb::DescribeAlarmsRequest {
                            alarm_name_prefix: prefix.clone(),
                            state_value: state.clone(),
                            next_token: token.take(),
                            ..Default::default()
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    metric.extend(r.metric_alarms);
                    composite.extend(r.composite_alarms);
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                let rows = metric.into_iter().map(metric_row).chain(composite.into_iter().map(|a| Row {
                    name: a.alarm_name,
                    kind: "CompositeAlarm",
                    what: a.alarm_rule,
                    state: a.state.unwrap_or_default(),
                    enabled: a.actions_enabled,
                }));
                print_rows(rows, output);
            }
            AlarmsCommand::ForMetric { namespace, metric_name, dimensions, statistic, period, output } => {
                let (statistic, extended_statistic) =
                    if statistic.starts_with('p') { (String::new(), statistic) } else { (statistic, String::new()) };
                let dimensions = pairs(&dimensions, "--dimension")?
                    .into_iter()
                    .map(|(name, value)| pb::Dimension { name, value })
                    .collect();
                let r = c
                    .describe_alarms_for_metric(pb::DescribeAlarmsForMetricRequest {
                        metric_name,
                        namespace,
                        dimensions,
                        statistic,
                        extended_statistic,
                        period: period.unwrap_or(0),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                print_rows(r.metric_alarms.into_iter().map(metric_row), output);
            }
            AlarmsCommand::Delete { names } => {
                c.delete_alarms(pb::DeleteAlarmsRequest { alarm_names: names.clone() }).await.map_err(status_error)?;
                println!("deleted {}", names.join(", "));
            }
            AlarmsCommand::History { name, item_type, output } => {
                let mut token = None;
                loop {
                    let r = c
                        .describe_alarm_history(pb::DescribeAlarmHistoryRequest {
                            alarm_name: name.clone().unwrap_or_default(),
                            history_item_type: item_type.clone(),
                            next_token: token.take(),
                            ..Default::default()
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    for h in r.alarm_history_items {
                        match output {
                            Output::Json => println!(
                                "{}",
                                json!({"alarm_name": h.alarm_name, "alarm_type": h.alarm_type, "timestamp": h.timestamp,
                                       "history_item_type": h.history_item_type, "history_summary": h.history_summary,
                                       "history_data": h.history_data})
                            ),
                            Output::Table => println!(
                                "{:<24} {:<28} {:<19} {}",
                                fmt_ts(h.timestamp),
                                h.alarm_name,
                                h.history_item_type,
                                h.history_summary
                            ),
                        }
                    }
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
            }
            AlarmsCommand::SetState { name, state, reason } => {
                c.set_alarm_state(pb::SetAlarmStateRequest {
                    alarm_name: name.clone(),
                    state_value: state.clone(),
                    state_reason: reason,
                    state_reason_data: String::new(),
                })
                .await
                .map_err(status_error)?;
                println!("alarm {name} set to {state}");
            }
            AlarmsCommand::Enable { names } => {
                c.enable_alarm_actions(pb::EnableAlarmActionsRequest { alarm_names: names.clone() }).await.map_err(status_error)?;
                println!("actions enabled for {}", names.join(", "));
            }
            AlarmsCommand::Disable { names } => {
                c.disable_alarm_actions(pb::DisableAlarmActionsRequest { alarm_names: names.clone() }).await.map_err(status_error)?;
                println!("actions disabled for {}", names.join(", "));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// One alarm as `list` and `for-metric` print it.
struct Row {
    name: String,
    kind: &'static str,
    what: String,
    state: pb::AlarmState,
    enabled: bool,
}

fn metric_row(a: pb::MetricAlarm) -> Row {
    let stat = if a.statistic.is_empty() { &a.extended_statistic } else { &a.statistic };
    let what = format!(
        "{stat}({}/{}) {} {} for {}/{} of {} s",
        a.namespace,
        a.metric_name,
        a.comparison_operator,
        a.threshold,
        a.datapoints_to_alarm,
        a.evaluation_periods,
        a.period
    );
    Row {
        name: a.alarm_name,
        kind: "MetricAlarm",
        what,
        state: a.state.unwrap_or_default(),
        enabled: a.actions_enabled,
    }
}

fn print_rows(rows: impl Iterator<Item = Row>, output: Output) {
    for Row { name, kind, what, state: st, enabled } in rows {
        match output {
            Output::Json => println!(
                "{}",
                json!({"alarm_name": name, "alarm_type": kind, "definition": what,
                       "state_value": st.state_value, "state_reason": st.state_reason,
                       "state_updated_timestamp": st.state_updated_timestamp,
                       "actions_enabled": enabled})
            ),
            Output::Table => {
                println!("{:<28} {:<18} {}", name, st.state_value, what);
                println!(
                    "{:<28} {:<18} {}",
                    "",
                    fmt_ts(st.state_updated_timestamp),
                    st.state_reason
                );
            }
        }
    }
}
