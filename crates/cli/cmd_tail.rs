//! `logsight tail`: recent events and then new ones, like `aws logs tail`.
//!
//! `--since T` first prints the events from T until now (FilterLogEvents, per group); then,
//! unless `--since` was given without `--follow`, a live tail session (StartLiveTail) prints
//! new events until Ctrl-C. When the server ends a session (3 h by default), a new one starts.
//! History and live events do not overlap: the history leaves out what was ingested after
//! the session started, which the session delivers.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use logsight_proto::v1 as pb;
use tokio_stream::StreamExt;

use pb::start_live_tail_response::ResponseStream as Response;

use crate::client::{
    Client, DEFAULT_ENDPOINT, ENDPOINT_ENV, EventFormat, connect, runtime, status_error,
};
use crate::common::{now_ms, parse_time_arg};
use crate::print::{Event, EventPrinter};

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Server endpoint (http://HOST:PORT or HOST:PORT).
    #[arg(long, env = ENDPOINT_ENV, default_value = DEFAULT_ENDPOINT)]
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
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pattern: String,
    /// First print the events since this time: a duration ago (10m, 1h, 2d), a date, RFC 3339,
    /// or epoch ms. Then stop, unless --follow is given.
    #[arg(long, value_parser = parse_time_arg, allow_hyphen_values = true)]
    since: Option<i64>,
    /// Keep following new events after the --since history (the default without --since).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Output format.
    #[arg(long, visible_alias = "output", value_enum, default_value_t = EventFormat::Detailed)]
    format: EventFormat,
}

/// Prints the events since `since` that were ingested before `before` (epoch ms).
async fn history(
    c: &mut Client,
    args: &TailArgs,
    since: i64,
    before: i64,
    out: &mut EventPrinter,
) -> Result<()> {
    // FilterLogEvents takes one prefix: one call per prefix (or one call without any).
    let prefixes: Vec<Option<String>> = if args.stream_prefixes.is_empty() {
        vec![None]
    } else {
        args.stream_prefixes.iter().cloned().map(Some).collect()
    };
    for group in &args.groups {
        crate::cmd_events::check_streams_exist(c, group, &args.streams).await?;
        for prefix in &prefixes {
            let mut token = None;
            loop {
                let r = c
                    .filter_log_events(pb::FilterLogEventsRequest {
                        log_group_name: group.clone(),
                        log_stream_names: args.streams.clone(),
                        log_stream_name_prefix: prefix.clone(),
                        start_time: Some(since),
                        end_time: None,
                        filter_pattern: args.pattern.clone(),
                        next_token: token.take(),
                        limit: Some(10_000),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                for e in r.events.iter().filter(|e| e.ingestion_time < before) {
                    out.print(&Event {
                        group: Some(group),
                        stream: Some(&e.log_stream_name),
                        timestamp: e.timestamp,
                        ingestion_time: e.ingestion_time,
                        message: &e.message,
                    })?;
                }
                out.flush()?;
                match r.next_token {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
    }
    Ok(())
}

/// How a live tail session ended.
enum Ended {
    /// Ctrl-C, or the server closed the stream.
    Stopped,
    /// The server's session timeout: a new session may start.
    TimedOut,
}

/// Starts a live tail session.
async fn start(
    c: &mut Client,
    args: &TailArgs,
) -> Result<tonic::Streaming<pb::StartLiveTailResponse>> {
    Ok(c.start_live_tail(pb::StartLiveTailRequest {
        log_group_names: args.groups.clone(),
        log_stream_names: args.streams.clone(),
        log_stream_name_prefixes: args.stream_prefixes.clone(),
        log_event_filter_pattern: args.pattern.clone(),
    })
    .await
    .map_err(status_error)?
    .into_inner())
}

/// Prints a session's updates until it ends or `stop` completes.
async fn follow(
    mut stream: tonic::Streaming<pb::StartLiveTailResponse>,
    out: &mut EventPrinter,
    stop: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> Result<Ended> {
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = &mut *stop => return Ok(Ended::Stopped),
        };
        let Some(msg) = msg else { return Ok(Ended::Stopped) };
        let msg = match msg {
            Ok(m) => m,
            // The normal end of a session: not a failure of the command.
            Err(s) if s.message().starts_with("SessionTimeoutException") => {
                eprintln!("live tail session ended by the server: {}", s.message());
                return Ok(Ended::TimedOut);
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
        for e in &update.session_results {
            out.print(&Event {
                group: Some(&e.log_group_name),
                stream: Some(&e.log_stream_name),
                timestamp: e.timestamp,
                ingestion_time: e.ingestion_time,
                message: &e.message,
            })?;
        }
        out.flush()?;
    }
}

pub fn run(args: TailArgs) -> Result<ExitCode> {
    runtime()?.block_on(async move {
        let mut c = connect(&args.endpoint).await?;
        let mut out = EventPrinter::new(args.format);
        let following = args.follow || args.since.is_none();
        // The session starts before the history is read, so no event falls between them; one
        // ingested while the session was being set up may show twice, none goes missing.
        let mut session = if following { Some(start(&mut c, &args).await?) } else { None };
        let started = now_ms();
        if let Some(since) = args.since {
            history(&mut c, &args, since, started, &mut out).await?;
        }
        let stop = crate::cmd_serve::shutdown_signal();
        tokio::pin!(stop);
        while let Some(stream) = session.take() {
            match follow(stream, &mut out, &mut stop).await? {
                Ended::Stopped => break,
                Ended::TimedOut => {
                    eprintln!("(starting a new live tail session)");
                    session = Some(start(&mut c, &args).await?);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
