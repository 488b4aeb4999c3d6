//! `logsight queries`: a server's queries (list, stop) and saved queries (put, list, delete);
//! and the remote run of `logsight query` over the Queries API's RunQuery stream.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use logsight_proto::v1 as pb;
use logsight_proto::v1::queries_client::QueriesClient;
use logsight_query_lang::insights::ParseError;
use logsight_server::error::{QUERY_ERROR_END, QUERY_ERROR_START};

use crate::client::{DEFAULT_ENDPOINT, ENDPOINT_ENV, Output, client_runtime, fmt_ts, status_error};
use crate::cmd_query::{EXIT_MALFORMED, QueryArgs, Stats, print_results};
use crate::common::{now_ms, table, write_table};

#[derive(Debug, Args)]
pub struct QueriesArgs {
    /// Server endpoint (http://HOST:PORT or HOST:PORT).
    #[arg(long, global = true, env = ENDPOINT_ENV, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(subcommand)]
    command: QueriesCommand,
}

#[derive(Debug, Subcommand)]
enum QueriesCommand {
    /// List the server's queries (kept 7 days after they end), newest first.
    List {
        /// Only queries of this log group.
        #[arg(long)]
        group: Option<String>,
        /// Only queries with this status (Scheduled, Running, Complete, Failed, Cancelled,
        /// Timeout).
        #[arg(long)]
        status: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Stop a scheduled or running query.
    Stop {
        /// The query id (from `queries list`).
        query_id: String,
    },
    /// Saved queries (query definitions).
    Saved {
        #[command(subcommand)]
        command: SavedCommand,
    },
}

#[derive(Debug, Subcommand)]
enum SavedCommand {
    /// Save a query, or with --id replace a saved one; prints its id.
    Put {
        /// Its name (1 to 255 characters).
        #[arg(long)]
        name: String,
        /// Replace this saved query.
        #[arg(long)]
        id: Option<String>,
        /// Log group it runs on (repeatable).
        #[arg(long)]
        group: Vec<String>,
        /// The query text.
        query: String,
    },
    /// List saved queries by name.
    List {
        /// Only names starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete a saved query.
    Delete {
        /// Its id.
        id: String,
    },
}

/// Runs `logsight query` on a server: RunQuery streams progress, then rows, then the final
/// status, so the wall time is the query's, not a polling interval's.
pub fn run_remote(args: &QueryArgs, query: &str, endpoint: &str) -> Result<ExitCode> {
    let end = args.end.unwrap_or_else(now_ms);
    let start = args.start.unwrap_or(end - 3_600_000);
    let limit = match args.limit {
        Some(l) => Some(i32::try_from(l).context("--limit is at most 100,000")?),
        None => None,
    };
    let req = pb::StartQueryRequest {
        log_group_names: args.group.clone(),
        // The API takes whole seconds, both inclusive.
        start_time: start.div_euclid(1000),
        end_time: end.div_euclid(1000),
        query_string: query.to_string(),
        limit,
    };
    client_runtime()?.block_on(async move {
        let started = Instant::now();
        let mut c = crate::client::connect_queries(endpoint).await?;
        let mut stream = match c.run_query(req).await {
            Ok(r) => r.into_inner(),
            Err(s) => return failed(s, query),
        };
        let mut columns: Vec<String> = Vec::new();
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        let last = loop {
            let msg = match stream.message().await {
                Ok(Some(m)) => m,
                Ok(None) => bail!("the server ended the query's stream before its end"),
                Err(s) => return failed(s, query),
            };
            if !msg.columns.is_empty() {
                columns = msg.columns.clone();
            }
            push_rows(&columns, &msg.results, &mut rows);
            if msg.done {
                break msg;
            }
        };
        if last.status != "Complete" {
            let why =
                if last.error.is_empty() { String::new() } else { format!(": {}", last.error) };
            bail!("the query ended {}{why}", last.status);
        }
        let stats = Stats::from(&last.statistics.unwrap_or_default());
        print_results(
            args.output.unwrap_or(crate::cmd_query::Output::Table),
            &columns,
            &rows,
            &stats,
            started,
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

/// A MalformedQueryException is printed with a caret under the offending text (exit 2), as
/// the in-process run prints it; other errors name their exception.
fn failed(s: tonic::Status, query: &str) -> Result<ExitCode> {
    if let Some(rendered) = malformed(&s, query) {
        eprint!("{rendered}");
        return Ok(ExitCode::from(EXIT_MALFORMED));
    }
    Err(status_error(s))
}

/// A MalformedQueryException rendered with a caret under the offending text of `query`;
/// `None` for other errors.
pub fn malformed(s: &tonic::Status, query: &str) -> Option<String> {
    let offset = |key| {
        s.metadata().get(key).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
    };
    let (start, end) = (offset(QUERY_ERROR_START)?, offset(QUERY_ERROR_END)?);
    let message = s.message().strip_prefix("MalformedQueryException: ").unwrap_or(s.message());
    Some(ParseError::new(start, end, message).render(query))
}

pub fn run(args: QueriesArgs) -> Result<ExitCode> {
    client_runtime()?.block_on(async move {
        let mut c = crate::client::connect_queries(&args.endpoint).await?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        match args.command {
            QueriesCommand::List { group, status, output } => {
                let mut all = Vec::new();
                let mut next_token = String::new();
                loop {
                    let r = c
                        .describe_queries(pb::DescribeQueriesRequest {
                            log_group_name: group.clone().unwrap_or_default(),
                            status: status.clone().unwrap_or_default(),
                            max_results: 0,
                            next_token: next_token.clone(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    all.extend(r.queries);
                    if r.next_token.is_empty() {
                        break;
                    }
                    next_token = r.next_token;
                }
                match output {
                    Output::Json => {
                        for q in &all {
                            let v = serde_json::json!({
                                "queryId": q.query_id,
                                "status": q.status,
                                "createTime": q.create_time,
                                "queryDuration": q.query_duration,
                                "bytesScanned": q.bytes_scanned,
                                "logGroupNames": q.log_group_names,
                                "queryString": q.query_string,
                            });
                            writeln!(out, "{v}")?;
                        }
                    }
                    Output::Table => {
                        let mut t = table(&["QUERY ID", "STATUS", "CREATED", "GROUPS", "QUERY"], 9);
                        for q in &all {
                            t.add_row(vec![
                                q.query_id.clone(),
                                q.status.clone(),
                                fmt_ts(q.create_time),
                                q.log_group_names.join(","),
                                one_line(&q.query_string, 60),
                            ]);
                        }
                        write_table(&mut out, &t)?;
                    }
                }
            }
            QueriesCommand::Stop { query_id } => {
                c.stop_query(pb::StopQueryRequest { query_id: query_id.clone() })
                    .await
                    .map_err(status_error)?;
                eprintln!("stopped query {query_id}");
            }
            QueriesCommand::Saved { command } => saved(&mut c, command, &mut out).await?,
        }
        out.flush().context("writing output")?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn saved(
    c: &mut QueriesClient<crate::signing::Signing>,
    command: SavedCommand,
    out: &mut impl Write,
) -> Result<()> {
    match command {
        SavedCommand::Put { name, id, group, query } => {
            let r = c
                .put_query_definition(pb::PutQueryDefinitionRequest {
                    name,
                    query_string: query,
                    log_group_names: group,
                    query_definition_id: id.unwrap_or_default(),
                })
                .await
                .map_err(status_error)?
                .into_inner();
            writeln!(out, "{}", r.query_definition_id)?;
        }
        SavedCommand::List { prefix, output } => {
            let mut all = Vec::new();
            let mut next_token = String::new();
            loop {
                let r = c
                    .describe_query_definitions(pb::DescribeQueryDefinitionsRequest {
                        query_definition_name_prefix: prefix.clone().unwrap_or_default(),
                        max_results: 0,
                        next_token: next_token.clone(),
                    })
                    .await
                    .map_err(status_error)?
                    .into_inner();
                all.extend(r.query_definitions);
                if r.next_token.is_empty() {
                    break;
                }
                next_token = r.next_token;
            }
            match output {
                Output::Json => {
                    for d in &all {
                        let v = serde_json::json!({
                            "queryDefinitionId": d.query_definition_id,
                            "name": d.name,
                            "queryString": d.query_string,
                            "lastModified": d.last_modified,
                            "logGroupNames": d.log_group_names,
                        });
                        writeln!(out, "{v}")?;
                    }
                }
                Output::Table => {
                    let mut t = table(&["ID", "NAME", "GROUPS", "QUERY"], 9);
                    for d in &all {
                        t.add_row(vec![
                            d.query_definition_id.clone(),
                            d.name.clone(),
                            d.log_group_names.join(","),
                            one_line(&d.query_string, 60),
                        ]);
                    }
                    write_table(out, &t)?;
                }
            }
        }
        SavedCommand::Delete { id } => {
            c.delete_query_definition(pb::DeleteQueryDefinitionRequest {
                query_definition_id: id.clone(),
            })
            .await
            .map_err(status_error)?;
            eprintln!("deleted saved query {id}");
        }
    }
    Ok(())
}

/// A query on one line, cut to `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max - 1).collect::<String>())
    }
}

/// Appends RunQuery's `results` to `rows`, one cell per column in `columns`' order (`None`
/// where a row lacks the field).
pub(crate) fn push_rows(
    columns: &[String],
    results: &[pb::ResultRow],
    rows: &mut Vec<Vec<Option<String>>>,
) {
    for r in results {
        let mut cells: HashMap<&str, &str> =
            r.fields.iter().map(|f| (f.field.as_str(), f.value.as_str())).collect();
        rows.push(columns.iter().map(|c| cells.remove(c.as_str()).map(str::to_string)).collect());
    }
}
