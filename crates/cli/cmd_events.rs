//! `logsight events get|filter`: read a stream, or search a group, over the API.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use logsight_proto::v1 as pb;
use serde_json::json;

use crate::client::{DEFAULT_ENDPOINT, Output, connect, fmt_ts, runtime, status_error};
use crate::common::parse_time_arg;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Server endpoint.
    #[arg(long, global = true, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(subcommand)]
    command: EventsCommand,
}

/// The time window, limit and output flags both subcommands take.
#[derive(Debug, Args)]
struct Window {
    /// Start (inclusive): RFC 3339, epoch ms, or relative (-15m, -2h, -7d, now).
    #[arg(long, value_parser = parse_time_arg)]
    start: Option<i64>,
    /// End (exclusive), same forms as --start.
    #[arg(long, value_parser = parse_time_arg)]
    end: Option<i64>,
    /// Most events to print in all.
    #[arg(long)]
    limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Read one stream's events in time order (GetLogEvents, paged to the end).
    Get {
        /// The log group.
        #[arg(long)]
        group: String,
        /// The log stream.
        #[arg(long)]
        stream: String,
        #[command(flatten)]
        window: Window,
    },
    /// Search a group's events with a filter pattern (FilterLogEvents, paged to the end).
    Filter {
        /// The log group.
        #[arg(long)]
        group: String,
        /// CloudWatch filter pattern (terms, "phrases", JSON or space-delimited); empty
        /// matches everything.
        #[arg(long, default_value = "")]
        pattern: String,
        /// Only these streams (repeatable).
        #[arg(long = "stream", conflicts_with = "prefix")]
        streams: Vec<String>,
        /// Only streams whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
        #[command(flatten)]
        window: Window,
    },
}

fn print_event(output: Output, stream: Option<&str>, ts: i64, ingestion: i64, message: &str) {
    match output {
        Output::Json => {
            let mut v = json!({"timestamp": ts, "ingestion_time": ingestion, "message": message});
            if let Some(s) = stream {
                v["stream"] = json!(s);
            }
            println!("{v}");
        }
        Output::Table => match stream {
            Some(s) => println!("{}  {s}  {message}", fmt_ts(ts)),
            None => println!("{}  {message}", fmt_ts(ts)),
        },
    }
}

pub fn run(args: EventsArgs) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut c = connect(&args.endpoint).await?;
        match args.command {
            EventsCommand::Get { group, stream, window: Window { start, end, limit, output } } => {
                let mut left = limit.unwrap_or(usize::MAX);
                let mut token: Option<String> = None;
                while left > 0 {
                    let r = c
                        .get_log_events(pb::GetLogEventsRequest {
                            log_group_name: group.clone(),
                            log_stream_name: stream.clone(),
                            start_time: start,
                            end_time: end,
                            next_token: token.clone(),
                            limit: Some(left.min(10_000) as i32),
                            start_from_head: Some(true),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    for e in r.events.iter().take(left) {
                        print_event(output, None, e.timestamp, e.ingestion_time, &e.message);
                    }
                    left = left.saturating_sub(r.events.len());
                    if token.as_deref() == Some(r.next_forward_token.as_str()) {
                        break;
                    }
                    token = Some(r.next_forward_token);
                }
            }
            EventsCommand::Filter {
                group,
                pattern,
                streams,
                prefix,
                window: Window { start, end, limit, output },
            } => {
                let mut left = limit.unwrap_or(usize::MAX);
                let mut token: Option<String> = None;
                while left > 0 {
                    let r = c
                        .filter_log_events(pb::FilterLogEventsRequest {
                            log_group_name: group.clone(),
                            log_stream_names: streams.clone(),
                            log_stream_name_prefix: prefix.clone(),
                            start_time: start,
                            end_time: end,
                            filter_pattern: pattern.clone(),
                            next_token: token.take(),
                            limit: Some(left.min(10_000) as i32),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    for e in r.events.iter().take(left) {
                        print_event(
                            output,
                            Some(&e.log_stream_name),
                            e.timestamp,
                            e.ingestion_time,
                            &e.message,
                        );
                    }
                    left = left.saturating_sub(r.events.len());
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
