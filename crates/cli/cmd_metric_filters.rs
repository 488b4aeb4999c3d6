//! `logsight metric-filters`: put, list, delete and test metric filters, over the API.

use std::collections::HashMap;
use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use logsight_proto::v1 as pb;
use serde_json::json;

use crate::client::{
    DEFAULT_ENDPOINT, Output, client_runtime, connect_watch, fmt_ts, status_error,
};

#[derive(Debug, Args)]
pub struct MetricFiltersArgs {
    /// Server endpoint.
    #[arg(long, global = true, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(subcommand)]
    command: FiltersCommand,
}

#[derive(Debug, Subcommand)]
enum FiltersCommand {
    /// Create or replace a metric filter; it counts events accepted from now on.
    Put {
        /// The log group.
        #[arg(long)]
        group: String,
        /// The filter's name.
        #[arg(long)]
        name: String,
        /// The filter pattern (`ERROR`, `{ $.latency > 100 }`, `[ip, user, status, bytes]`).
        #[arg(long)]
        pattern: String,
        /// The metric's name.
        #[arg(long)]
        metric_name: String,
        /// The metric's namespace.
        #[arg(long)]
        namespace: String,
        /// `1`, a number, `$.field` or `$name`.
        #[arg(long, default_value = "1")]
        metric_value: String,
        /// Reported for a minute with events but no match (not with dimensions).
        #[arg(long)]
        default_value: Option<f64>,
        /// `NAME=$field`, at most 3.
        #[arg(long = "dimension", value_name = "NAME=$FIELD")]
        dimensions: Vec<String>,
        /// A CloudWatch unit (Count, Seconds, Bytes, ...).
        #[arg(long)]
        unit: Option<String>,
    },
    /// List metric filters in name order.
    List {
        /// Only this group's.
        #[arg(long)]
        group: Option<String>,
        /// Only names starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete a metric filter.
    Delete {
        /// The log group.
        #[arg(long)]
        group: String,
        /// The filter's name.
        #[arg(long)]
        name: String,
    },
    /// Test a pattern on messages (arguments, or lines of stdin), as TestMetricFilter.
    Test {
        /// The filter pattern.
        #[arg(long)]
        pattern: String,
        /// Messages; stdin's lines when none are given.
        messages: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

/// `NAME=VALUE` pairs.
pub fn pairs(list: &[String], what: &str) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|p| {
            let (k, v) =
                p.split_once('=').with_context(|| format!("{what} {p:?} is not NAME=VALUE"))?;
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

pub fn run(args: MetricFiltersArgs) -> Result<ExitCode> {
    client_runtime()?.block_on(async move {
        let mut c = connect_watch(&args.endpoint).await?;
        match args.command {
            FiltersCommand::Put { group, name, pattern, metric_name, namespace, metric_value, default_value, dimensions, unit } => {
                let dimensions: HashMap<String, String> = pairs(&dimensions, "--dimension")?.into_iter().collect();
                c.put_metric_filter(pb::PutMetricFilterRequest {
                    log_group_name: group.clone(),
                    filter_name: name.clone(),
                    filter_pattern: pattern,
                    metric_transformations: vec![pb::MetricTransformation {
                        metric_name,
                        metric_namespace: namespace,
                        metric_value,
                        default_value,
                        dimensions,
                        unit: unit.unwrap_or_default(),
                    }],
                })
                .await
                .map_err(status_error)?;
                println!("metric filter {name} on {group} applies to events from now on");
            }
            FiltersCommand::Delete { group, name } => {
                c.delete_metric_filter(pb::DeleteMetricFilterRequest { log_group_name: group.clone(), filter_name: name.clone() })
                    .await
                    .map_err(status_error)?;
                println!("deleted metric filter {name} from {group}");
            }
            FiltersCommand::List { group, prefix, output } => {
                let mut token = None;
                let mut rows = Vec::new();
                loop {
                    let r = c
                        .describe_metric_filters(pb::DescribeMetricFiltersRequest {
                            log_group_name: group.clone(),
                            filter_name_prefix: prefix.clone(),
                            next_token: token.take(),
                            ..Default::default()
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    rows.extend(r.metric_filters);
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                for f in &rows {
                    let t = f.metric_transformations.first().cloned().unwrap_or_default();
                    match output {
                        Output::Json => println!(
                            "{}",
                            json!({"log_group_name": f.log_group_name, "filter_name": f.filter_name, "filter_pattern": f.filter_pattern,
                                   "creation_time": f.creation_time, "metric_namespace": t.metric_namespace, "metric_name": t.metric_name,
                                   "metric_value": t.metric_value, "default_value": t.default_value, "dimensions": t.dimensions, "unit": t.unit})
                        ),
                        Output::Table => println!(
                            "{:<24} {:<24} {:<28} {:<24} {}",
                            f.log_group_name,
                            f.filter_name,
                            format!("{}/{}", t.metric_namespace, t.metric_name),
                            fmt_ts(f.creation_time),
                            f.filter_pattern
                        ),
                    }
                }
            }
            FiltersCommand::Test { pattern, messages, output } => {
                let messages = if messages.is_empty() {
                    std::io::stdin().lock().lines().collect::<Result<Vec<_>, _>>().context("reading stdin")?
                } else {
                    messages
                };
                if messages.is_empty() {
                    bail!("give messages as arguments or on stdin");
                }
                let r = c
                    .test_metric_filter(pb::TestMetricFilterRequest { filter_pattern: pattern, log_event_messages: messages })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for m in r.matches {
                    let mut values: Vec<_> = m.extracted_values.into_iter().collect();
                    values.sort();
                    match output {
                        Output::Json => println!(
                            "{}",
                            json!({"event_number": m.event_number, "event_message": m.event_message,
                                   "extracted_values": values.into_iter().collect::<std::collections::BTreeMap<_, _>>()})
                        ),
                        Output::Table => {
                            let vals = values.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
                            println!("{:>3} {}  {}", m.event_number, m.event_message, vals);
                        }
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
