//! The Logs Insights operations (StartQuery, GetQueryResults, StopQuery, DescribeQueries,
//! GetLogRecord, GetLogGroupFields) and the saved-query operations, in AWS's shapes, over the
//! server's one `QueryManager` and saved queries: the checks are `logsight_server::query_rules`'s
//! and `logsight-queries`'s, shared with the gRPC `Queries` service.
//!
//! Authorization is the gRPC gate's: StartQuery needs `logs:StartQuery` on each group it names
//! (on every group when the query names them with `SOURCE`), GetLogGroupFields its action on its
//! group, the others their action on every group.

use std::collections::BTreeMap;

use logsight_queries::{DescribeFilter, PutDefinition, Statistics};
use logsight_server::query_rules::{count, fields_time_ms, start_request, status_filter};
use logsight_server::{ServiceError, Shared};
use serde::{Deserialize, Serialize};

use crate::ops::{Operation, group_name, group_of, one_group};

/// The only query language logsight runs.
const LANGUAGE: &str = "CWLI";

fn language(l: &Option<String>) -> Result<(), ServiceError> {
    match l.as_deref() {
        None | Some(LANGUAGE) => Ok(()),
        Some(other) => Err(ServiceError::invalid(format!(
            "queryLanguage {} is not supported by logsight (only {LANGUAGE})",
            logsight_server::error::shown(other)
        ))),
    }
}

/// StartQuery.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_identifiers: Option<Vec<String>>,
    start_time: i64,
    end_time: i64,
    query_string: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<i32>,
}

impl StartQuery {
    /// The groups named by whichever of the three members is given (none: `SOURCE`).
    fn named_groups(&self) -> Result<Vec<&str>, ServiceError> {
        let given = [
            self.log_group_name.is_some(),
            self.log_group_names.is_some(),
            self.log_group_identifiers.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(ServiceError::invalid(
                "give only one of logGroupName, logGroupNames and logGroupIdentifiers",
            ));
        }
        Ok(match (&self.log_group_name, &self.log_group_names, &self.log_group_identifiers) {
            (Some(n), _, _) => vec![n.as_str()],
            (_, Some(ns), _) => ns.iter().map(String::as_str).collect(),
            (_, _, Some(ids)) => ids.iter().map(|i| group_name(i)).collect(),
            _ => vec![],
        })
    }
}

/// StartQuery's response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryId {
    query_id: String,
}

impl Operation for StartQuery {
    const NAME: &'static str = "StartQuery";
    const READ_ONLY: bool = true;
    type Output = QueryId;
    fn group(&self) -> Option<&str> {
        None
    }
    fn groups(&self) -> Vec<&str> {
        self.named_groups().unwrap_or_default()
    }
    fn validate(&self) -> Result<(), ServiceError> {
        language(&self.query_language)?;
        self.named_groups().map(|_| ())
    }
    fn run(self, shared: &Shared, _: &str) -> Result<QueryId, ServiceError> {
        let groups = self.named_groups()?.into_iter().map(str::to_owned).collect();
        let start =
            start_request(self.query_string, groups, self.start_time, self.end_time, self.limit)?;
        Ok(QueryId { query_id: shared.queries().start(start)? })
    }
}

/// GetQueryResults.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetQueryResults {
    query_id: String,
    /// A page of the results (reference §5.4; the Rust SDK's model has neither member, and
    /// its callers get the first 10,000 rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_items: Option<i32>,
}

/// One `{field, value}` of a result row.
#[derive(Debug, Serialize)]
pub struct ResultField {
    field: String,
    value: String,
}

/// A query's statistics, as doubles (CloudWatch's shape).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryStatistics {
    records_matched: f64,
    records_scanned: f64,
    bytes_scanned: f64,
    log_groups_scanned: f64,
    estimated_records_skipped: f64,
    estimated_bytes_skipped: f64,
}

impl From<Statistics> for QueryStatistics {
    fn from(s: Statistics) -> Self {
        QueryStatistics {
            records_matched: s.records_matched as f64,
            records_scanned: s.records_scanned as f64,
            bytes_scanned: s.bytes_scanned as f64,
            log_groups_scanned: s.log_groups_scanned as f64,
            estimated_records_skipped: s.estimated_records_skipped as f64,
            estimated_bytes_skipped: s.estimated_bytes_skipped as f64,
        }
    }
}

/// GetQueryResults' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResults {
    query_language: &'static str,
    results: Vec<Vec<ResultField>>,
    statistics: QueryStatistics,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl Operation for GetQueryResults {
    const NAME: &'static str = "GetQueryResults";
    const READ_ONLY: bool = true;
    type Output = QueryResults;
    fn group(&self) -> Option<&str> {
        None
    }
    fn run(self, shared: &Shared, _: &str) -> Result<QueryResults, ServiceError> {
        let max = count(self.max_items.unwrap_or(0), "maxItems")?;
        let page = shared.queries().results(&self.query_id, self.next_token.as_deref(), max)?;
        // Each row holds only the fields it has, `@ptr` included, as CloudWatch's.
        let results = page
            .rows
            .iter()
            .map(|row| {
                page.columns
                    .iter()
                    .zip(row)
                    .filter_map(|(c, v)| {
                        v.as_ref().map(|v| ResultField { field: c.clone(), value: v.clone() })
                    })
                    .collect()
            })
            .collect();
        Ok(QueryResults {
            query_language: LANGUAGE,
            results,
            statistics: page.statistics.into(),
            status: page.status.as_str(),
            next_token: page.next_token,
        })
    }
}

/// StopQuery.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopQuery {
    query_id: String,
}

/// `{"success": true}`, the answer of StopQuery and DeleteQueryDefinition.
#[derive(Debug, Serialize)]
pub struct Success {
    success: bool,
}

impl Operation for StopQuery {
    const NAME: &'static str = "StopQuery";
    const READ_ONLY: bool = false;
    type Output = Success;
    fn group(&self) -> Option<&str> {
        None
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Success, ServiceError> {
        shared.queries().stop(&self.query_id)?;
        Ok(Success { success: true })
    }
}

/// DescribeQueries.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeQueries {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_results: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_language: Option<String>,
}

/// A query as DescribeQueries lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryInfo {
    query_language: &'static str,
    query_id: String,
    query_string: String,
    status: &'static str,
    create_time: i64,
    query_duration: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_group_name: Option<String>,
    bytes_scanned: f64,
}

/// DescribeQueries' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Queries {
    queries: Vec<QueryInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl Operation for DescribeQueries {
    const NAME: &'static str = "DescribeQueries";
    const READ_ONLY: bool = true;
    type Output = Queries;
    fn group(&self) -> Option<&str> {
        None
    }
    fn validate(&self) -> Result<(), ServiceError> {
        language(&self.query_language)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Queries, ServiceError> {
        let filter = DescribeFilter {
            group: self.log_group_name,
            status: status_filter(self.status.as_deref().unwrap_or(""))?,
        };
        let max = count(self.max_results.unwrap_or(0), "maxResults")?;
        let list = shared.queries().describe(&filter, max, self.next_token.as_deref())?;
        Ok(Queries {
            queries: list
                .queries
                .into_iter()
                .map(|q| QueryInfo {
                    query_language: LANGUAGE,
                    query_id: q.id,
                    query_string: q.query,
                    status: q.status.as_str(),
                    create_time: q.create_time_ms,
                    query_duration: q.duration_ms,
                    log_group_name: q.groups.into_iter().next(),
                    bytes_scanned: q.bytes_scanned as f64,
                })
                .collect(),
            next_token: list.next_token,
        })
    }
}

/// GetLogRecord.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogRecord {
    log_record_pointer: String,
    /// logsight masks nothing, so unmasking changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unmask: Option<bool>,
}

/// GetLogRecord's response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    log_record: BTreeMap<String, String>,
}

impl Operation for GetLogRecord {
    const NAME: &'static str = "GetLogRecord";
    const READ_ONLY: bool = true;
    type Output = LogRecord;
    fn group(&self) -> Option<&str> {
        None
    }
    fn run(self, shared: &Shared, _: &str) -> Result<LogRecord, ServiceError> {
        let store = shared.service().store();
        let fields = logsight_queries::log_record(store, &self.log_record_pointer)?;
        Ok(LogRecord { log_record: fields.into_iter().map(|f| (f.name, f.value)).collect() })
    }
}

/// GetLogGroupFields.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogGroupFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time: Option<i64>,
}

/// A field GetLogGroupFields reports.
#[derive(Debug, Serialize)]
pub struct LogGroupField {
    name: String,
    percent: u32,
}

/// GetLogGroupFields' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroupFields {
    log_group_fields: Vec<LogGroupField>,
}

impl Operation for GetLogGroupFields {
    const NAME: &'static str = "GetLogGroupFields";
    const READ_ONLY: bool = true;
    type Output = LogGroupFields;
    fn group(&self) -> Option<&str> {
        group_of(&self.log_group_name, &self.log_group_identifier)
    }
    fn validate(&self) -> Result<(), ServiceError> {
        one_group(&self.log_group_name, &self.log_group_identifier).map(|_| ())
    }
    fn run(self, shared: &Shared, _: &str) -> Result<LogGroupFields, ServiceError> {
        let group = one_group(&self.log_group_name, &self.log_group_identifier)?;
        let time_ms = fields_time_ms(self.time.unwrap_or(0), shared.now_ms());
        let fields = shared.queries().group_fields(group, time_ms)?;
        Ok(LogGroupFields {
            log_group_fields: fields
                .into_iter()
                .map(|f| LogGroupField { name: f.name, percent: f.percent })
                .collect(),
        })
    }
}

/// PutQueryDefinition.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutQueryDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_language: Option<String>,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_definition_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_names: Option<Vec<String>>,
    query_string: String,
    /// The SDKs' idempotency token; accepted (a put is a full overwrite, so repeating it is
    /// harmless once the id is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_token: Option<String>,
}

/// PutQueryDefinition's response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryDefinitionId {
    query_definition_id: String,
}

impl Operation for PutQueryDefinition {
    const NAME: &'static str = "PutQueryDefinition";
    const READ_ONLY: bool = false;
    type Output = QueryDefinitionId;
    fn group(&self) -> Option<&str> {
        None
    }
    fn validate(&self) -> Result<(), ServiceError> {
        language(&self.query_language)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<QueryDefinitionId, ServiceError> {
        let put = PutDefinition::new(
            self.query_definition_id.filter(|id| !id.is_empty()),
            self.name,
            self.query_string,
            self.log_group_names.unwrap_or_default(),
        )?;
        let query_definition_id = shared.query_definitions().put(put, shared.now_ms())?;
        Ok(QueryDefinitionId { query_definition_id })
    }
}

/// DescribeQueryDefinitions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeQueryDefinitions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    query_definition_name_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_results: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// A saved query.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryDefinition {
    query_language: &'static str,
    query_definition_id: String,
    name: String,
    query_string: String,
    last_modified: i64,
    log_group_names: Vec<String>,
}

/// DescribeQueryDefinitions' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryDefinitions {
    query_definitions: Vec<QueryDefinition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl Operation for DescribeQueryDefinitions {
    const NAME: &'static str = "DescribeQueryDefinitions";
    const READ_ONLY: bool = true;
    type Output = QueryDefinitions;
    fn group(&self) -> Option<&str> {
        None
    }
    fn validate(&self) -> Result<(), ServiceError> {
        language(&self.query_language)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<QueryDefinitions, ServiceError> {
        let max = count(self.max_results.unwrap_or(0), "maxResults")?;
        let list = shared.query_definitions().describe(
            self.query_definition_name_prefix.as_deref().filter(|p| !p.is_empty()),
            max,
            self.next_token.as_deref(),
        )?;
        Ok(QueryDefinitions {
            query_definitions: list
                .definitions
                .into_iter()
                .map(|d| QueryDefinition {
                    query_language: LANGUAGE,
                    query_definition_id: d.id,
                    name: d.name,
                    query_string: d.query,
                    last_modified: d.last_modified_ms,
                    log_group_names: d.log_group_names,
                })
                .collect(),
            next_token: list.next_token,
        })
    }
}

/// DeleteQueryDefinition.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteQueryDefinition {
    query_definition_id: String,
}

impl Operation for DeleteQueryDefinition {
    const NAME: &'static str = "DeleteQueryDefinition";
    const READ_ONLY: bool = false;
    type Output = Success;
    fn group(&self) -> Option<&str> {
        None
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Success, ServiceError> {
        shared.query_definitions().delete(&self.query_definition_id)?;
        Ok(Success { success: true })
    }
}
