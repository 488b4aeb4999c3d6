//! `logsight metrics`: list metrics, get a metric's statistics (a sparkline, or JSON), put a
//! datapoint, over the API.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use logsight_proto::v1 as pb;
use serde_json::json;

use crate::client::{
    DEFAULT_ENDPOINT, Output, client_runtime, connect_watch, fmt_ts, status_error,
};
use crate::cmd_metric_filters::pairs;
use crate::common::{now_ms, parse_time_arg};

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Server endpoint.
    #[arg(long, global = true, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(subcommand)]
    command: MetricsCommand,
}

#[derive(Debug, Subcommand)]
enum MetricsCommand {
    /// List metrics.
    List {
        /// Only this namespace.
        #[arg(long, default_value = "")]
        namespace: String,
        /// Only this metric name.
        #[arg(long, default_value = "")]
        metric_name: String,
        /// `NAME` or `NAME=VALUE`: only metrics with that dimension (repeatable).
        #[arg(long = "dimension")]
        dimensions: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// A metric's statistic per period: a sparkline and the values, or JSON.
    Get {
        /// The namespace.
        #[arg(long)]
        namespace: String,
        /// The metric name.
        #[arg(long)]
        metric_name: String,
        /// `NAME=VALUE` (repeatable): the series' exact dimensions.
        #[arg(long = "dimension")]
        dimensions: Vec<String>,
        /// SampleCount, Average, Sum, Minimum, Maximum or a percentile pNN.
        #[arg(long, default_value = "Sum")]
        statistic: String,
        /// Seconds per datapoint (a multiple of 10).
        #[arg(long, default_value_t = 60)]
        period: i32,
        /// From (RFC 3339, epoch ms, or relative like `1h` ago); default 3 hours ago.
        #[arg(long, value_parser = parse_time_arg)]
        start: Option<i64>,
        /// To; default now.
        #[arg(long, value_parser = parse_time_arg)]
        end: Option<i64>,
        /// Output format: a sparkline and a table, or a JSON array.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Send one datapoint (PutMetricData).
    Put {
        /// The namespace.
        #[arg(long)]
        namespace: String,
        /// The metric name.
        #[arg(long)]
        metric_name: String,
        /// `NAME=VALUE` (repeatable).
        #[arg(long = "dimension")]
        dimensions: Vec<String>,
        /// The value.
        #[arg(long, required_unless_present = "statistic_values")]
        value: Option<f64>,
        /// Many samples as a statistic set, `SAMPLECOUNT,SUM,MIN,MAX` (instead of --value).
        #[arg(long, conflicts_with = "value", value_parser = parse_statistic_set)]
        statistic_values: Option<pb::StatisticSet>,
        /// When; default now.
        #[arg(long, value_parser = parse_time_arg)]
        timestamp: Option<i64>,
        /// A CloudWatch unit.
        #[arg(long, default_value = "")]
        unit: String,
    },
}

/// `SAMPLECOUNT,SUM,MIN,MAX`; the server checks the numbers.
fn parse_statistic_set(s: &str) -> std::result::Result<pb::StatisticSet, String> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<std::result::Result<_, _>>()?;
    match parts[..] {
        [sample_count, sum, minimum, maximum] => {
            Ok(pb::StatisticSet { sample_count, sum, minimum, maximum })
        }
        _ => Err(format!("expected SAMPLECOUNT,SUM,MIN,MAX (4 numbers), got {}", parts.len())),
    }
}

fn dimensions(list: &[String]) -> Result<Vec<pb::Dimension>> {
    Ok(pairs(list, "--dimension")?
        .into_iter()
        .map(|(name, value)| pb::Dimension { name, value })
        .collect())
}

/// The statistic's JSON key: `sum`, `sample_count`, `p99`.
fn json_key(statistic: &str) -> String {
    match statistic {
        "SampleCount" => "sample_count".into(),
        s => s.to_ascii_lowercase(),
    }
}

/// One block character per value, scaled between the smallest and the largest.
pub fn sparkline(values: &[f64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi) =
        values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(*v), h.max(*v)));
    values
        .iter()
        .map(
            |v| {
                if hi > lo {
                    BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
                } else {
                    BARS[3]
                }
            },
        )
        .collect()
}

pub fn run(args: MetricsArgs) -> Result<ExitCode> {
    client_runtime()?.block_on(async move {
        let mut c = connect_watch(&args.endpoint).await?;
        match args.command {
            MetricsCommand::List { namespace, metric_name, dimensions, output } => {
                let filters = dimensions
                    .iter()
                    .map(|d| match d.split_once('=') {
                        Some((k, v)) => pb::DimensionFilter { name: k.into(), value: Some(v.into()) },
                        None => pb::DimensionFilter { name: d.clone(), value: None },
                    })
                    .collect::<Vec<_>>();
                let mut token = None;
                loop {
                    let r = c
                        .list_metrics(pb::ListMetricsRequest {
                            namespace: namespace.clone(),
                            metric_name: metric_name.clone(),
                            dimensions: filters.clone(),
                            next_token: token.take(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    for m in r.metrics {
                        let dims: Vec<String> = m.dimensions.iter().map(|d| format!("{}={}", d.name, d.value)).collect();
                        match output {
                            Output::Json => {
                                let d: serde_json::Map<_, _> =
                                    m.dimensions.into_iter().map(|d| (d.name, serde_json::Value::String(d.value))).collect();
                                println!("{}", json!({"namespace": m.namespace, "metric_name": m.metric_name, "dimensions": d}));
                            }
                            Output::Table => println!("{:<24} {:<32} {}", m.namespace, m.metric_name, dims.join(" ")),
                        }
                    }
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
            }
            MetricsCommand::Get { namespace, metric_name, dimensions: dims, statistic, period, start, end, output } => {
                let end = end.unwrap_or_else(now_ms);
                let start = start.unwrap_or(end - 3 * 3_600_000);
                if period <= 0 {
                    bail!("--period must be positive");
                }
                let extended = statistic.starts_with('p');
                let r = c
                    .get_metric_statistics(pb::GetMetricStatisticsRequest {
                        namespace,
                        metric_name,
                        dimensions: dimensions(&dims)?,
                        start_time: start,
                        end_time: end,
                        period,
                        statistics: if extended { vec![] } else { vec![statistic.clone()] },
                        extended_statistics: if extended { vec![statistic.clone()] } else { vec![] },
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                let points: Vec<(i64, f64)> = r
                    .datapoints
                    .iter()
                    .filter_map(|d| {
                        let v = match statistic.as_str() {
                            "SampleCount" => d.sample_count,
                            "Average" => d.average,
                            "Sum" => d.sum,
                            "Minimum" => d.minimum,
                            "Maximum" => d.maximum,
                            p => d.extended_statistics.get(p).copied(),
                        };
                        Some((d.timestamp, v?))
                    })
                    .collect();
                match output {
                    Output::Json => {
                        let key = json_key(&statistic);
                        let rows: Vec<_> = points.iter().map(|(t, v)| json!({"timestamp": t, key.clone(): v})).collect();
                        println!("{}", serde_json::Value::Array(rows));
                    }
                    Output::Table => {
                        if points.is_empty() {
                            println!("no datapoints");
                        } else {
                            let values: Vec<f64> = points.iter().map(|p| p.1).collect();
                            println!("{}", sparkline(&values));
                            for (t, v) in points {
                                println!("{:<26} {v}", fmt_ts(t));
                            }
                        }
                    }
                }
            }
            MetricsCommand::Put {
                namespace,
                metric_name,
                dimensions: dims,
                value,
                statistic_values,
                timestamp,
                unit,
            } => {
                c.put_metric_data(pb::PutMetricDataRequest {
                    namespace,
                    metric_data: vec![pb::MetricDatum {
                        metric_name,
                        dimensions: dimensions(&dims)?,
                        timestamp: timestamp.unwrap_or(0),
                        value,
                        values: vec![],
                        unit,
                        statistic_values,
                    }],
                })
                .await
                .map_err(status_error)?;
                println!("sent");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_min_and_max() {
        assert_eq!(sparkline(&[0.0, 7.0, 3.5, 7.0]), "▁█▅█");
        assert_eq!(sparkline(&[2.0, 2.0]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }
}
