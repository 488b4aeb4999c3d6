//! `logsight tail`: follow new events of one or more groups until Ctrl-C.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use logsight_proto::v1 as pb;
use serde_json::json;
use tokio_stream::StreamExt;

use crate::client::{DEFAULT_ENDPOINT, Output, connect, fmt_ts, runtime, status_error};

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Server endpoint.
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    /// Log group to follow (repeatable, at most 10).
    #[arg(long = "group", required = true)]
    groups: Vec<String>,
    /// Only these streams (repeatable; only with one group).
    #[arg(long = "stream")]
    streams: Vec<String>,
    /// Filter pattern: terms and "quoted phrases" that must all appear.
    #[arg(long, default_value = "")]
    pattern: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

pub fn run(args: TailArgs) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut c = connect(&args.endpoint).await?;
        let mut stream = c
            .tail(pb::TailRequest {
                log_group_names: args.groups,
                log_stream_names: args.streams,
                log_event_filter_pattern: args.pattern,
            })
            .await
            .map_err(status_error)?
            .into_inner();
        let stop = crate::cmd_serve::shutdown_signal();
        tokio::pin!(stop);
        loop {
            let msg = tokio::select! {
                m = stream.next() => m,
                _ = &mut stop => break,
            };
            let Some(msg) = msg else { break };
            let msg = msg.map_err(status_error)?;
            if msg.dropped > 0 {
                eprintln!("(fell behind: {} batches skipped)", msg.dropped);
            }
            for e in msg.session_results {
                match args.output {
                    Output::Json => println!(
                        "{}",
                        json!({"group": e.log_group_name, "stream": e.log_stream_name,
                               "timestamp": e.timestamp, "ingestion_time": e.ingestion_time,
                               "message": e.message})
                    ),
                    Output::Table => println!(
                        "{}  {}/{}  {}",
                        fmt_ts(e.timestamp),
                        e.log_group_name,
                        e.log_stream_name,
                        e.message
                    ),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
