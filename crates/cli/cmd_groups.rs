//! `logsight groups`: create, list, delete log groups and set their retention, over the API.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use logsight_proto::v1 as pb;
use serde_json::json;

use crate::client::{
    DEFAULT_ENDPOINT, ENDPOINT_ENV, Output, client_runtime, connect, fmt_ts, status_error,
};
use crate::common::{human_bytes, table, write_table};

#[derive(Debug, Args)]
pub struct GroupsArgs {
    /// Server endpoint (http://HOST:PORT or HOST:PORT).
    #[arg(long, global = true, env = ENDPOINT_ENV, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(subcommand)]
    command: GroupsCommand,
}

/// The log group a command acts on: `--group NAME`, as every command names groups. The name
/// as a positional argument, the older spelling, is still taken (hidden from help).
#[derive(Debug, Args)]
struct GroupName {
    /// The log group.
    #[arg(long = "group", value_name = "GROUP", required_unless_present = "positional")]
    flag: Option<String>,
    #[arg(hide = true, value_name = "GROUP", conflicts_with = "flag")]
    positional: Option<String>,
}

impl GroupName {
    fn into_name(self) -> String {
        self.flag.or(self.positional).expect("clap requires one")
    }
}

#[derive(Debug, Subcommand)]
enum GroupsCommand {
    /// Create a log group.
    Create {
        #[command(flatten)]
        name: GroupName,
    },
    /// List log groups in name order.
    List {
        /// Only groups whose name starts with this.
        #[arg(long, visible_alias = "prefix", default_value = "")]
        group_prefix: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Delete a log group and all its events.
    Delete {
        #[command(flatten)]
        name: GroupName,
    },
    /// Set (--days) or remove (--clear) a group's retention.
    Retention {
        #[command(flatten)]
        name: GroupName,
        /// Keep events this many days (1, 3, 5, 7, 14, 30, 60, 90, ... 3653).
        #[arg(long, conflicts_with = "clear")]
        days: Option<i32>,
        /// Keep events forever.
        #[arg(long)]
        clear: bool,
    },
}

pub fn run(args: GroupsArgs) -> Result<ExitCode> {
    client_runtime()?.block_on(async move {
        let mut c = connect(&args.endpoint).await?;
        match args.command {
            GroupsCommand::Create { name } => {
                let name = name.into_name();
                c.create_log_group(pb::CreateLogGroupRequest { log_group_name: name.clone() })
                    .await
                    .map_err(status_error)?;
                println!("created log group {name}");
            }
            GroupsCommand::Delete { name } => {
                let name = name.into_name();
                c.delete_log_group(pb::DeleteLogGroupRequest { log_group_name: name.clone() })
                    .await
                    .map_err(status_error)?;
                println!("deleted log group {name}");
            }
            GroupsCommand::Retention { name, days, clear } => match (name.into_name(), days, clear) {
                (name, Some(days), false) => {
                    c.put_retention_policy(pb::PutRetentionPolicyRequest {
                        log_group_name: name.clone(),
                        retention_in_days: days,
                    })
                    .await
                    .map_err(status_error)?;
                    println!("log group {name} keeps events {days} days");
                }
                (name, None, true) => {
                    c.delete_retention_policy(pb::DeleteRetentionPolicyRequest {
                        log_group_name: name.clone(),
                    })
                    .await
                    .map_err(status_error)?;
                    println!("log group {name} keeps events forever");
                }
                _ => bail!("give --days N or --clear"),
            },
            GroupsCommand::List { group_prefix: prefix, output } => {
                let mut token = None;
                let mut rows = Vec::new();
                loop {
                    let r = c
                        .describe_log_groups(pb::DescribeLogGroupsRequest {
                            log_group_name_prefix: prefix.clone(),
                            limit: None,
                            next_token: token.take(),
                        })
                        .await
                        .map_err(status_error)?
                        .into_inner();
                    rows.extend(r.log_groups);
                    match r.next_token {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                let mut out = std::io::stdout().lock();
                match output {
                    Output::Json => {
                        for g in rows {
                            writeln!(
                                out,
                                "{}",
                                json!({"log_group_name": g.log_group_name, "creation_time": g.creation_time,
                                       "retention_in_days": g.retention_in_days, "stored_bytes": g.stored_bytes,
                                       "buffered_bytes": g.buffered_bytes,
                                       "metric_filter_count": g.metric_filter_count, "arn": g.arn})
                            )?;
                        }
                    }
                    Output::Table => {
                        let mut t =
                            table(&["GROUP", "CREATED", "RETENTION", "STORED", "BUFFERED"], 2);
                        let unsealed = rows.iter().any(|g| g.buffered_bytes > 0);
                        for g in rows {
                            let ret = g.retention_in_days.map_or("never".into(), |d| format!("{d}d"));
                            t.add_row(vec![
                                g.log_group_name,
                                fmt_ts(g.creation_time),
                                ret,
                                human_bytes(g.stored_bytes.max(0) as u64),
                                human_bytes(g.buffered_bytes.max(0) as u64),
                            ]);
                        }
                        write_table(&mut out, &t)?;
                        if unsealed {
                            writeln!(
                                out,
                                "(STORED: compressed bytes in sealed segments; BUFFERED: message \
                                 bytes of recent events in the write-ahead log, not sealed yet)"
                            )?;
                        }
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
