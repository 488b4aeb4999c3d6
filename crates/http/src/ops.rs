//! The operations: each one a request shape (AWS's member names), a response shape, and a
//! `run` over the shared service layer. [`TABLE`] maps an `X-Amz-Target` operation name to
//! its handler; a new operation (StartQuery, PutMetricFilter, ...) is one [`Operation`] impl
//! and one table entry.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Bytes as Body;
use logsight_server::access::Identity;
use logsight_server::audit::ACCOUNT_ID;
use logsight_server::rules::Rejected;
use logsight_server::service::{FilterEvents, GetEvents, StreamOrder};
use logsight_server::{ServiceError, Shared};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Api;
use crate::live_tail;
use crate::metric_filters as mf;
use crate::queries as q;

/// One CloudWatch Logs operation.
pub trait Operation: Serialize + DeserializeOwned + Send + 'static {
    /// The name after `Logs_20140328.` in `X-Amz-Target` (and the IAM action after `logs:`).
    const NAME: &'static str;
    /// Whether it only reads (the audit record's `readOnly`).
    const READ_ONLY: bool;
    /// The response shape.
    type Output: Serialize + Send + 'static;

    /// The log group it acts on, for authorization; `None` for operations over every group.
    fn group(&self) -> Option<&str>;

    /// The log groups it acts on, each authorized; none: every group. Operations naming
    /// several groups (StartQuery) override it.
    fn groups(&self) -> Vec<&str> {
        self.group().into_iter().collect()
    }

    /// Checks that can be made before authorization (fields logsight does not support).
    fn validate(&self) -> Result<(), ServiceError> {
        Ok(())
    }

    /// The audit record's `requestParameters`: the request, without event bodies.
    fn audit_parameters(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Bytes of events this call ingests (admitted against the shared ingest budget).
    fn ingest_bytes(&self) -> usize {
        0
    }

    /// Runs on a blocking thread, over the state both front ends share.
    fn run(self, shared: &Shared, region: &str) -> Result<Self::Output, ServiceError>;
}

/// A successful answer's body.
pub enum Answer {
    /// A JSON document (`application/x-amz-json-1.1`).
    Json(Vec<u8>),
    /// An event stream (`application/vnd.amazon.eventstream`): StartLiveTail's.
    EventStream(axum::body::Body),
}

/// What a handler reports back: the response body or the error, and the audit parameters
/// (null when the body did not parse).
pub struct Handled {
    /// The answer, or the error.
    pub result: Result<Answer, ServiceError>,
    /// For the audit record.
    pub parameters: Value,
    /// For the audit record.
    pub read_only: bool,
}

/// What a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Handled> + Send>>;
/// A handler: the API's state, the authenticated caller, the body.
pub type Handler = fn(Api, Identity, Body) -> HandlerFuture;

/// Every operation logsight serves over HTTP.
pub const TABLE: &[(&str, Handler)] = &[
    (CreateLogGroup::NAME, handler::<CreateLogGroup>),
    (DeleteLogGroup::NAME, handler::<DeleteLogGroup>),
    (DescribeLogGroups::NAME, handler::<DescribeLogGroups>),
    (PutRetentionPolicy::NAME, handler::<PutRetentionPolicy>),
    (DeleteRetentionPolicy::NAME, handler::<DeleteRetentionPolicy>),
    (CreateLogStream::NAME, handler::<CreateLogStream>),
    (DeleteLogStream::NAME, handler::<DeleteLogStream>),
    (DescribeLogStreams::NAME, handler::<DescribeLogStreams>),
    (PutLogEvents::NAME, handler::<PutLogEvents>),
    (GetLogEvents::NAME, handler::<GetLogEvents>),
    (FilterLogEvents::NAME, handler::<FilterLogEvents>),
    (q::StartQuery::NAME, handler::<q::StartQuery>),
    (q::GetQueryResults::NAME, handler::<q::GetQueryResults>),
    (q::StopQuery::NAME, handler::<q::StopQuery>),
    (q::DescribeQueries::NAME, handler::<q::DescribeQueries>),
    (q::GetLogRecord::NAME, handler::<q::GetLogRecord>),
    (q::GetLogGroupFields::NAME, handler::<q::GetLogGroupFields>),
    (q::PutQueryDefinition::NAME, handler::<q::PutQueryDefinition>),
    (q::DescribeQueryDefinitions::NAME, handler::<q::DescribeQueryDefinitions>),
    (q::DeleteQueryDefinition::NAME, handler::<q::DeleteQueryDefinition>),
    (mf::PutMetricFilter::NAME, handler::<mf::PutMetricFilter>),
    (mf::DescribeMetricFilters::NAME, handler::<mf::DescribeMetricFilters>),
    (mf::DeleteMetricFilter::NAME, handler::<mf::DeleteMetricFilter>),
    (mf::TestMetricFilter::NAME, handler::<mf::TestMetricFilter>),
    (live_tail::NAME, live_tail::handler),
];

/// The handler of `operation`.
pub fn lookup(operation: &str) -> Option<Handler> {
    TABLE.iter().find(|(name, _)| *name == operation).map(|(_, h)| *h)
}

fn handler<O: Operation>(api: Api, identity: Identity, body: Body) -> HandlerFuture {
    Box::pin(async move {
        let shared = api.shared();
        let req: O = match parse(&body) {
            Ok(r) => r,
            Err(e) => {
                return Handled {
                    result: Err(e),
                    parameters: Value::Null,
                    read_only: O::READ_ONLY,
                };
            }
        };
        let parameters = req.audit_parameters();
        let result = call(shared, &identity, req).await.map(Answer::Json);
        Handled { result, parameters, read_only: O::READ_ONLY }
    })
}

pub(crate) fn parse<O: DeserializeOwned>(body: &[u8]) -> Result<O, ServiceError> {
    // An empty body is an empty object, as the SDKs send for operations without input.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ServiceError::Serialization(format!(
            "the request body is not valid for this operation: {e}"
        ))
    })
}

async fn call<O: Operation>(
    shared: &Arc<Shared>,
    identity: &Identity,
    req: O,
) -> Result<Vec<u8>, ServiceError> {
    req.validate()?;
    let groups = req.groups();
    if groups.is_empty() {
        shared.access().authorize(identity, O::NAME, None)?;
    }
    for group in groups {
        shared.access().authorize(identity, O::NAME, Some(group))?;
    }
    let bytes = req.ingest_bytes();
    let _permit = if bytes > 0 { Some(shared.admission().reserve(bytes).await?) } else { None };
    let region = identity.region.clone();
    let out = shared.on_blocking(move |s| req.run(s, &region)).await?;
    serde_json::to_vec(&out)
        .map_err(|e| ServiceError::Internal(format!("encoding the response: {e}")))
}

/// A log group's name from an identifier: its name, or its ARN (with or without `:*`).
pub(crate) fn group_name(identifier: &str) -> &str {
    identifier
        .split_once(":log-group:")
        .map_or(identifier, |(_, rest)| rest.strip_suffix(":*").unwrap_or(rest))
}

/// The group named by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
pub(crate) fn group_of<'a>(
    name: &'a Option<String>,
    identifier: &'a Option<String>,
) -> Option<&'a str> {
    match (name, identifier) {
        (Some(n), _) => Some(n),
        (None, Some(id)) => Some(group_name(id)),
        (None, None) => None,
    }
}

pub(crate) fn one_group<'a>(
    name: &'a Option<String>,
    identifier: &'a Option<String>,
) -> Result<&'a str, ServiceError> {
    if name.is_some() && identifier.is_some() {
        return Err(ServiceError::invalid(
            "logGroupName and logGroupIdentifier can not both be given",
        ));
    }
    group_of(name, identifier)
        .ok_or_else(|| ServiceError::invalid("logGroupName or logGroupIdentifier is required"))
}

pub(crate) fn unsupported(field: &str, present: bool) -> Result<(), ServiceError> {
    if present {
        Err(ServiceError::invalid(format!("{field} is not supported by logsight")))
    } else {
        Ok(())
    }
}

pub(crate) fn group_arn(region: &str, name: &str) -> String {
    format!("arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{name}")
}

/// An empty response.
#[derive(Debug, Serialize)]
pub struct Empty {}

// ---- log groups ----

/// CreateLogGroup.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLogGroup {
    log_group_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<String>,
    /// Accepted and not stored (logsight has no tags yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tags: Option<serde_json::Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_class: Option<String>,
}

impl Operation for CreateLogGroup {
    const NAME: &'static str = "CreateLogGroup";
    const READ_ONLY: bool = false;
    type Output = Empty;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn validate(&self) -> Result<(), ServiceError> {
        unsupported("kmsKeyId", self.kms_key_id.is_some())?;
        match self.log_group_class.as_deref() {
            None | Some("STANDARD") => Ok(()),
            Some(c) => Err(ServiceError::invalid(format!(
                "logGroupClass {c:?} is not supported by logsight (only STANDARD)"
            ))),
        }
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Empty, ServiceError> {
        shared.service().create_group(&self.log_group_name).map(|()| Empty {})
    }
}

/// DeleteLogGroup.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteLogGroup {
    log_group_name: String,
}

impl Operation for DeleteLogGroup {
    const NAME: &'static str = "DeleteLogGroup";
    const READ_ONLY: bool = false;
    type Output = Empty;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Empty, ServiceError> {
        logsight_server::shared::delete_log_group(
            shared.service(),
            Some(shared.watch()),
            &self.log_group_name,
        )
        .map(|()| Empty {})
    }
}

/// DescribeLogGroups.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogGroups {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// A log group as DescribeLogGroups shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroup {
    log_group_name: String,
    creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention_in_days: Option<u32>,
    metric_filter_count: usize,
    arn: String,
    log_group_arn: String,
    stored_bytes: u64,
    log_group_class: &'static str,
}

/// DescribeLogGroups' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroups {
    log_groups: Vec<LogGroup>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl Operation for DescribeLogGroups {
    const NAME: &'static str = "DescribeLogGroups";
    const READ_ONLY: bool = true;
    type Output = LogGroups;
    fn group(&self) -> Option<&str> {
        None
    }
    fn validate(&self) -> Result<(), ServiceError> {
        unsupported("logGroupNamePattern", self.log_group_name_pattern.is_some())
    }
    fn run(self, shared: &Shared, region: &str) -> Result<LogGroups, ServiceError> {
        let prefix = self.log_group_name_prefix.unwrap_or_default();
        let (groups, next_token) =
            shared.service().describe_groups(&prefix, self.limit, self.next_token.as_deref())?;
        let log_groups = groups
            .into_iter()
            .map(|g| {
                let arn = group_arn(region, &g.name);
                LogGroup {
                    creation_time: g.creation_time,
                    retention_in_days: g.retention_days,
                    metric_filter_count: shared.metric_filter_count(&g.name),
                    arn: format!("{arn}:*"),
                    log_group_arn: arn,
                    stored_bytes: g.stored_bytes,
                    log_group_class: "STANDARD",
                    log_group_name: g.name,
                }
            })
            .collect();
        Ok(LogGroups { log_groups, next_token })
    }
}

/// PutRetentionPolicy.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutRetentionPolicy {
    log_group_name: String,
    retention_in_days: i64,
}

impl Operation for PutRetentionPolicy {
    const NAME: &'static str = "PutRetentionPolicy";
    const READ_ONLY: bool = false;
    type Output = Empty;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Empty, ServiceError> {
        shared
            .service()
            .put_retention(&self.log_group_name, self.retention_in_days)
            .map(|()| Empty {})
    }
}

/// DeleteRetentionPolicy.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRetentionPolicy {
    log_group_name: String,
}

impl Operation for DeleteRetentionPolicy {
    const NAME: &'static str = "DeleteRetentionPolicy";
    const READ_ONLY: bool = false;
    type Output = Empty;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Empty, ServiceError> {
        shared.service().delete_retention(&self.log_group_name).map(|()| Empty {})
    }
}

// ---- log streams ----

/// CreateLogStream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateLogStream {
    log_group_name: String,
    log_stream_name: String,
}

impl Operation for CreateLogStream {
    const NAME: &'static str = "CreateLogStream";
    const READ_ONLY: bool = false;
    type Output = Empty;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Empty, ServiceError> {
        shared
            .service()
            .create_stream(&self.log_group_name, &self.log_stream_name)
            .map(|()| Empty {})
    }
}

/// DeleteLogStream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteLogStream {
    log_group_name: String,
    log_stream_name: String,
}

impl Operation for DeleteLogStream {
    const NAME: &'static str = "DeleteLogStream";
    const READ_ONLY: bool = false;
    type Output = Empty;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Empty, ServiceError> {
        shared
            .service()
            .delete_stream(&self.log_group_name, &self.log_stream_name)
            .map(|()| Empty {})
    }
}

/// DescribeLogStreams.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeLogStreams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_stream_name_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    descending: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// A log stream as DescribeLogStreams shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStream {
    log_stream_name: String,
    creation_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_event_timestamp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_ingestion_time: Option<i64>,
    arn: String,
    stored_bytes: u64,
}

/// DescribeLogStreams' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStreams {
    log_streams: Vec<LogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl Operation for DescribeLogStreams {
    const NAME: &'static str = "DescribeLogStreams";
    const READ_ONLY: bool = true;
    type Output = LogStreams;
    fn group(&self) -> Option<&str> {
        group_of(&self.log_group_name, &self.log_group_identifier)
    }
    fn validate(&self) -> Result<(), ServiceError> {
        one_group(&self.log_group_name, &self.log_group_identifier).map(|_| ())
    }
    fn run(self, shared: &Shared, region: &str) -> Result<LogStreams, ServiceError> {
        let group = one_group(&self.log_group_name, &self.log_group_identifier)?.to_owned();
        let order = match self.order_by.as_deref() {
            None | Some("LogStreamName") => StreamOrder::Name,
            Some("LastEventTime") => StreamOrder::LastEventTime,
            Some(o) => {
                return Err(ServiceError::invalid(format!(
                    "orderBy {o:?} is not LogStreamName or LastEventTime"
                )));
            }
        };
        let (streams, next_token) = shared.service().describe_streams(
            &group,
            self.log_stream_name_prefix.as_deref().unwrap_or(""),
            order,
            self.descending.unwrap_or(false),
            self.limit,
            self.next_token.as_deref(),
        )?;
        let arn = group_arn(region, &group);
        let log_streams = streams
            .into_iter()
            .map(|s| LogStream {
                arn: format!("{arn}:log-stream:{}", s.name),
                creation_time: s.creation_time,
                first_event_timestamp: s.first_event_timestamp,
                last_event_timestamp: s.last_event_timestamp,
                last_ingestion_time: s.last_ingestion_time,
                stored_bytes: s.stored_bytes,
                log_stream_name: s.name,
            })
            .collect();
        Ok(LogStreams { log_streams, next_token })
    }
}

// ---- events ----

/// An event sent to PutLogEvents.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputLogEvent {
    timestamp: i64,
    message: String,
}

/// PutLogEvents.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutLogEvents {
    log_group_name: String,
    log_stream_name: String,
    log_events: Vec<InputLogEvent>,
    /// Accepted and ignored, as CloudWatch does since 2023.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sequence_token: Option<String>,
}

/// PutLogEvents' `rejectedLogEventsInfo`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedLogEventsInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    too_new_log_event_start_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    too_old_log_event_end_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expired_log_event_end_index: Option<usize>,
}

/// PutLogEvents' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PutLogEventsOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected_log_events_info: Option<RejectedLogEventsInfo>,
}

fn rejected_info(r: Rejected) -> Option<RejectedLogEventsInfo> {
    r.any().then_some(RejectedLogEventsInfo {
        too_new_log_event_start_index: r.too_new_start,
        too_old_log_event_end_index: r.too_old_end,
        expired_log_event_end_index: r.expired_end,
    })
}

impl Operation for PutLogEvents {
    const NAME: &'static str = "PutLogEvents";
    const READ_ONLY: bool = false;
    type Output = PutLogEventsOutput;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn audit_parameters(&self) -> Value {
        serde_json::json!({
            "logGroupName": self.log_group_name,
            "logStreamName": self.log_stream_name,
            "eventCount": self.log_events.len(),
            "bytes": self.ingest_bytes(),
        })
    }
    fn ingest_bytes(&self) -> usize {
        logsight_server::rules::batch_bytes(self.log_events.iter().map(|e| e.message.as_str()))
    }
    fn run(self, shared: &Shared, _: &str) -> Result<PutLogEventsOutput, ServiceError> {
        let events = self.log_events.into_iter().map(|e| (e.timestamp, e.message)).collect();
        let out = shared.service().put_events(
            &self.log_group_name,
            &self.log_stream_name,
            events,
            None,
        )?;
        Ok(PutLogEventsOutput { rejected_log_events_info: rejected_info(out.rejected) })
    }
}

/// GetLogEvents.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogEvents {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_identifier: Option<String>,
    log_stream_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_from_head: Option<bool>,
}

/// An event GetLogEvents returns.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputLogEvent {
    timestamp: i64,
    message: String,
    ingestion_time: i64,
}

/// GetLogEvents' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetLogEventsOutput {
    events: Vec<OutputLogEvent>,
    next_forward_token: String,
    next_backward_token: String,
}

impl Operation for GetLogEvents {
    const NAME: &'static str = "GetLogEvents";
    const READ_ONLY: bool = true;
    type Output = GetLogEventsOutput;
    fn group(&self) -> Option<&str> {
        group_of(&self.log_group_name, &self.log_group_identifier)
    }
    fn validate(&self) -> Result<(), ServiceError> {
        one_group(&self.log_group_name, &self.log_group_identifier).map(|_| ())
    }
    fn run(self, shared: &Shared, _: &str) -> Result<GetLogEventsOutput, ServiceError> {
        let q = GetEvents {
            group: one_group(&self.log_group_name, &self.log_group_identifier)?.to_owned(),
            stream: self.log_stream_name,
            start: self.start_time,
            end: self.end_time,
            token: self.next_token,
            limit: self.limit,
            start_from_head: self.start_from_head.unwrap_or(false),
        };
        let page = shared.service().get_events(&q)?;
        Ok(GetLogEventsOutput {
            events: page
                .events
                .into_iter()
                .map(|e| OutputLogEvent {
                    timestamp: e.timestamp,
                    message: e.message,
                    ingestion_time: e.ingestion_time,
                })
                .collect(),
            next_forward_token: page.forward,
            next_backward_token: page.backward,
        })
    }
}

/// FilterLogEvents.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterLogEvents {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_stream_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_stream_name_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<i32>,
    /// Ignored, as CloudWatch has since 2019 (results are always interleaved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interleaved: Option<bool>,
}

/// An event FilterLogEvents returns.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilteredLogEvent {
    log_stream_name: String,
    timestamp: i64,
    message: String,
    ingestion_time: i64,
    event_id: String,
}

/// A stream FilterLogEvents searched.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchedLogStream {
    log_stream_name: String,
    searched_completely: bool,
}

/// FilterLogEvents' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterLogEventsOutput {
    events: Vec<FilteredLogEvent>,
    searched_log_streams: Vec<SearchedLogStream>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl Operation for FilterLogEvents {
    const NAME: &'static str = "FilterLogEvents";
    const READ_ONLY: bool = true;
    type Output = FilterLogEventsOutput;
    fn group(&self) -> Option<&str> {
        group_of(&self.log_group_name, &self.log_group_identifier)
    }
    fn validate(&self) -> Result<(), ServiceError> {
        one_group(&self.log_group_name, &self.log_group_identifier).map(|_| ())
    }
    fn run(self, shared: &Shared, _: &str) -> Result<FilterLogEventsOutput, ServiceError> {
        let q = FilterEvents {
            group: one_group(&self.log_group_name, &self.log_group_identifier)?.to_owned(),
            streams: self.log_stream_names.unwrap_or_default(),
            prefix: self.log_stream_name_prefix,
            start: self.start_time,
            end: self.end_time,
            pattern: self.filter_pattern.unwrap_or_default(),
            token: self.next_token,
            limit: self.limit,
        };
        let page = shared.service().filter_events(&q)?;
        let complete = page.next.is_none();
        Ok(FilterLogEventsOutput {
            events: page
                .events
                .into_iter()
                .map(|f| FilteredLogEvent {
                    log_stream_name: f.event.stream.to_string(),
                    timestamp: f.event.timestamp,
                    message: f.event.message,
                    ingestion_time: f.event.ingestion_time,
                    event_id: f.event_id,
                })
                .collect(),
            searched_log_streams: page
                .searched
                .into_iter()
                .map(|n| SearchedLogStream { log_stream_name: n, searched_completely: complete })
                .collect(),
            next_token: page.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_entry_is_unique_and_found() {
        let mut names: Vec<&str> = TABLE.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TABLE.len());
        for n in names {
            assert!(lookup(n).is_some());
        }
        assert!(lookup("StartQuery").is_some());
        assert!(lookup("CreateExportTask").is_none());
    }

    #[test]
    fn group_identifiers_may_be_arns() {
        let id = |s: &str| Some(s.to_owned());
        assert_eq!(group_of(&None, &id("app")), Some("app"));
        assert_eq!(group_of(&None, &id("arn:aws:logs:us-east-1:1:log-group:/a/b:*")), Some("/a/b"));
        assert_eq!(group_of(&None, &id("arn:aws:logs:us-east-1:1:log-group:/a/b")), Some("/a/b"));
        assert!(one_group(&id("a"), &id("a")).is_err());
        assert!(one_group(&None, &None).is_err());
    }

    #[test]
    fn put_log_events_audits_counts_not_bodies() {
        let req: PutLogEvents = parse(
            br#"{"logGroupName":"g","logStreamName":"s","logEvents":[{"timestamp":1,"message":"secret text"},{"timestamp":2,"message":"ab"}]}"#,
        )
        .unwrap();
        let p = req.audit_parameters();
        assert_eq!(
            p,
            serde_json::json!({"logGroupName":"g","logStreamName":"s","eventCount":2,"bytes": 11 + 2 + 2 * 26})
        );
        assert!(!p.to_string().contains("secret"));
    }
}
