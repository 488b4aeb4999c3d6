//! `logsight events get|filter`: read a stream, or search a group, over the API.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use logsight_proto::v1 as pb;

use crate::client::{
    Client, DEFAULT_ENDPOINT, ENDPOINT_ENV, EventFormat, client_runtime, connect, status_error,
};
use crate::common::{check_window, parse_time_arg};
use crate::print::{Event, EventPrinter, read_spinner};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Server endpoint (http://HOST:PORT or HOST:PORT).
    #[arg(long, global = true, env = ENDPOINT_ENV, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(subcommand)]
    command: EventsCommand,
}

/// The time window, paging and output flags both subcommands take.
#[derive(Debug, Args)]
struct Window {
    /// Start (inclusive): a duration ago (15m, 2h, 7d), a date (2026-11-26, "2026-11-26 08:00",
    /// UTC), RFC 3339, epoch ms, or now.
    #[arg(long, value_parser = parse_time_arg, allow_hyphen_values = true)]
    start: Option<i64>,
    /// End (exclusive), same forms as --start.
    #[arg(long, value_parser = parse_time_arg, allow_hyphen_values = true)]
    end: Option<i64>,
    /// Most events to print in all. When it cuts the output short, the token to resume with
    /// is printed on stderr. Default: all (`events get` on a terminal: the newest 100).
    #[arg(long)]
    limit: Option<usize>,
    /// Resume where an earlier call stopped (the token it printed on stderr).
    #[arg(long)]
    next_token: Option<String>,
    /// Output format.
    #[arg(long, visible_alias = "format", value_enum)]
    output: Option<EventFormat>,
}

/// Which end of a stream `events get` starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Order {
    /// Oldest first, from the start of the window.
    OldestFirst,
    /// Newest first, from the end of the window.
    NewestFirst,
}

/// Events `events get` prints on a terminal when no --limit is given.
const INTERACTIVE_LIMIT: usize = 100;

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Read one stream's events (GetLogEvents, paged). Default: every event oldest first;
    /// on a terminal the newest 100, newest first.
    Get {
        /// The log group.
        #[arg(long)]
        group: String,
        /// The log stream.
        #[arg(long)]
        stream: String,
        /// Order of the events. Default: newest-first on a terminal, oldest-first otherwise.
        #[arg(long, value_enum)]
        order: Option<Order>,
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
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        pattern: String,
        /// Only these streams (repeatable).
        #[arg(long = "stream", conflicts_with = "stream_prefix")]
        streams: Vec<String>,
        /// Only streams whose name starts with this.
        #[arg(long, visible_alias = "prefix")]
        stream_prefix: Option<String>,
        #[command(flatten)]
        window: Window,
    },
}

/// Fails unless every one of `streams` exists in `group`: an unknown stream would otherwise
/// match nothing and look like an empty result.
pub async fn check_streams_exist(c: &mut Client, group: &str, streams: &[String]) -> Result<()> {
    for name in streams {
        let r = c
            .describe_log_streams(pb::DescribeLogStreamsRequest {
                log_group_name: group.to_owned(),
                log_stream_name_prefix: name.clone(),
                limit: Some(50),
                ..Default::default()
            })
            .await
            .map_err(status_error)?
            .into_inner();
        if !r.log_streams.iter().any(|s| &s.log_stream_name == name) {
            bail!(
                "log stream {name:?} does not exist in log group {group:?}\n\
                 hint: `logsight streams list --group {group}` shows its streams"
            );
        }
    }
    Ok(())
}

fn resume_hint(token: &str) {
    eprintln!("(more events: resume with --next-token {token})");
}

pub fn run(args: EventsArgs) -> Result<ExitCode> {
    client_runtime()?.block_on(async move {
        let mut c = connect(&args.endpoint).await?;
        match args.command {
            EventsCommand::Get { group, stream, order, window } => {
                let Window { start, end, limit, next_token, output } = window;
                check_window(start, end)?;
                let interactive = std::io::stdout().is_terminal();
                let order = order.unwrap_or(if interactive {
                    Order::NewestFirst
                } else {
                    Order::OldestFirst
                });
                let limit = limit.or(interactive.then_some(INTERACTIVE_LIMIT));
                let mut out = EventPrinter::new(output.unwrap_or(EventFormat::Short));
                let mut left = limit.unwrap_or(usize::MAX);
                let mut token = next_token;
                let spinner = read_spinner();
                let mut printed = 0usize;
                while left > 0 {
                    let r = c
                        .get_log_events(pb::GetLogEventsRequest {
                            log_group_name: group.clone(),
                            log_stream_name: stream.clone(),
                            start_time: start,
                            end_time: end,
                            next_token: token.clone(),
                            limit: Some(left.min(10_000) as i32),
                            start_from_head: Some(order == Order::OldestFirst),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    // A backward page comes oldest first: print it the other way round.
                    let page: Box<dyn Iterator<Item = &pb::OutputLogEvent>> = match order {
                        Order::OldestFirst => Box::new(r.events.iter()),
                        Order::NewestFirst => Box::new(r.events.iter().rev()),
                    };
                    for e in page.take(left) {
                        out.print(&Event {
                            group: Some(&group),
                            stream: Some(&stream),
                            timestamp: e.timestamp,
                            ingestion_time: e.ingestion_time,
                            message: &e.message,
                        })?;
                    }
                    out.flush()?;
                    printed += r.events.len().min(left);
                    if let Some(s) = &spinner {
                        s.set_message(format!("{printed} events"));
                    }
                    left = left.saturating_sub(r.events.len());
                    let next = match order {
                        Order::OldestFirst => r.next_forward_token,
                        Order::NewestFirst => r.next_backward_token,
                    };
                    // The same token back means the end of the stream in that direction.
                    if token.as_deref() == Some(next.as_str()) || r.events.is_empty() {
                        break;
                    }
                    if left == 0 {
                        resume_hint(&next);
                    }
                    token = Some(next);
                }
            }
            EventsCommand::Filter { group, pattern, streams, stream_prefix, window } => {
                let Window { start, end, limit, next_token, output } = window;
                check_window(start, end)?;
                check_streams_exist(&mut c, &group, &streams).await?;
                let mut out = EventPrinter::new(output.unwrap_or(EventFormat::Detailed));
                let mut left = limit.unwrap_or(usize::MAX);
                let mut token = next_token;
                let spinner = read_spinner();
                let mut printed = 0usize;
                while left > 0 {
                    let r = c
                        .filter_log_events(pb::FilterLogEventsRequest {
                            log_group_name: group.clone(),
                            log_stream_names: streams.clone(),
                            log_stream_name_prefix: stream_prefix.clone(),
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
                        out.print(&Event {
                            group: None,
                            stream: Some(&e.log_stream_name),
                            timestamp: e.timestamp,
                            ingestion_time: e.ingestion_time,
                            message: &e.message,
                        })?;
                    }
                    out.flush()?;
                    printed += r.events.len().min(left);
                    if let Some(s) = &spinner {
                        s.set_message(format!("{printed} events"));
                    }
                    left = left.saturating_sub(r.events.len());
                    match r.next_token {
                        Some(t) if left == 0 => resume_hint(&t),
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
