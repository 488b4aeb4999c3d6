//! `logsight streams`: create, list and delete log streams, over the API.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use logsight_proto::v1 as pb;
use serde_json::json;

use crate::client::{
    DEFAULT_ENDPOINT, ENDPOINT_ENV, Output, connect, fmt_ts, runtime, status_error,
};
use crate::common::{table, write_table};

#[derive(Debug, Args)]
pub struct StreamsArgs {
    /// Server endpoint (http://HOST:PORT or HOST:PORT).
    #[arg(long, global = true, env = ENDPOINT_ENV, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(subcommand)]
    command: StreamsCommand,
}

/// Listing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Order {
    /// By stream name.
    Name,
    /// By the time of the last event.
    LastEvent,
}

#[derive(Debug, Subcommand)]
enum StreamsCommand {
    /// Create a log stream.
    Create {
        /// The log group.
        #[arg(long)]
        group: String,
        #[command(flatten)]
        name: StreamName,
    },
    /// List a group's log streams.
    List {
        /// The log group.
        #[arg(long)]
        group: String,
        /// Only streams whose name starts with this (not with --order last-event).
        #[arg(long, visible_alias = "prefix", default_value = "")]
        stream_prefix: String,
        /// Sort order.
        #[arg(long, value_enum, default_value_t = Order::Name)]
        order: Order,
        /// Reverse the order.
        #[arg(long)]
        descending: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete a log stream and its events.
    Delete {
        /// The log group.
        #[arg(long)]
        group: String,
        #[command(flatten)]
        name: StreamName,
    },
}

/// The log stream a command acts on: `--stream NAME`, as every command names streams. The name
/// as a positional argument, the older spelling, is still taken (hidden from help).
#[derive(Debug, Args)]
struct StreamName {
    /// The log stream.
    #[arg(long = "stream", value_name = "STREAM", required_unless_present = "positional")]
    flag: Option<String>,
    #[arg(hide = true, value_name = "STREAM", conflicts_with = "flag")]
    positional: Option<String>,
}

impl StreamName {
    fn into_name(self) -> String {
        self.flag.or(self.positional).expect("clap requires one")
    }
}

pub fn run(args: StreamsArgs) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut c = connect(&args.endpoint).await?;
        match args.command {
            StreamsCommand::Create { group, name } => {
                let name = name.into_name();
                c.create_log_stream(pb::CreateLogStreamRequest {
                    log_group_name: group.clone(),
                    log_stream_name: name.clone(),
                })
                .await
                .map_err(status_error)?;
                println!("created log stream {name} in {group}");
            }
            StreamsCommand::Delete { group, name } => {
                let name = name.into_name();
                c.delete_log_stream(pb::DeleteLogStreamRequest {
                    log_group_name: group.clone(),
                    log_stream_name: name.clone(),
                })
                .await
                .map_err(status_error)?;
                println!("deleted log stream {name} from {group}");
            }
            StreamsCommand::List { group, stream_prefix, order, descending, output } => {
                let order_by = match order {
                    Order::Name => pb::OrderBy::LogStreamName,
                    Order::LastEvent => pb::OrderBy::LastEventTime,
                };
                let mut token = None;
                let mut rows = Vec::new();
                loop {
                    let r = c
                        .describe_log_streams(pb::DescribeLogStreamsRequest {
                            log_group_name: group.clone(),
                            log_stream_name_prefix: stream_prefix.clone(),
                            order_by: order_by as i32,
                            descending,
                            limit: None,
                            next_token: token.take(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    rows.extend(r.log_streams);
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                let ts = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), fmt_ts);
                let mut out = std::io::stdout().lock();
                match output {
                    Output::Json => {
                        for s in rows {
                            writeln!(
                                out,
                                "{}",
                                json!({"log_stream_name": s.log_stream_name, "creation_time": s.creation_time,
                                       "first_event_timestamp": s.first_event_timestamp,
                                       "last_event_timestamp": s.last_event_timestamp,
                                       "last_ingestion_time": s.last_ingestion_time, "arn": s.arn})
                            )?;
                        }
                    }
                    Output::Table => {
                        let mut t = table(&["STREAM", "FIRST EVENT", "LAST EVENT", "LAST INGESTION"], 4);
                        for s in rows {
                            t.add_row(vec![
                                s.log_stream_name,
                                ts(s.first_event_timestamp),
                                ts(s.last_event_timestamp),
                                ts(s.last_ingestion_time),
                            ]);
                        }
                        write_table(&mut out, &t)?;
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
