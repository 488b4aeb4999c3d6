//! `logsight tail`: a live tail session (StartLiveTail) over one or more groups, until Ctrl-C
//! or until the server ends the session (3 h by default).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use logsight_proto::v1 as pb;
use serde_json::json;
use tokio_stream::StreamExt;

use pb::start_live_tail_response::ResponseStream as Response;

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
    #[arg(long = "stream", conflicts_with = "stream_prefixes")]
    streams: Vec<String>,
    /// Only streams whose names start with this (repeatable; only with one group).
    #[arg(long = "stream-prefix")]
    stream_prefixes: Vec<String>,
    /// CloudWatch filter pattern.
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
            .start_live_tail(pb::StartLiveTailRequest {
                log_group_names: args.groups,
                log_stream_names: args.streams,
                log_stream_name_prefixes: args.stream_prefixes,
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
            let msg = match msg {
                Ok(m) => m,
                // The normal end of a session: not a failure of the command.
                Err(s) if s.message().starts_with("SessionTimeoutException") => {
                    eprintln!("live tail session ended by the server: {}", s.message());
                    break;
                }
                Err(s) => return Err(status_error(s)),
            };
            let Some(Response::SessionUpdate(update)) = msg.response_stream else { continue };
            let meta = update.session_metadata.unwrap_or_default();
            if meta.dropped_events > 0 {
                eprintln!(
                    "(fell behind: the server dropped {} events this client did not read in time)",
                    meta.dropped_events
                );
            }
            if meta.sampled {
                eprintln!(
                    "(sampled: more events matched than one update holds; showing {} of them)",
                    update.session_results.len()
                );
            }
            for e in update.session_results {
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
