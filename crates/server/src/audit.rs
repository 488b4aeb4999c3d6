//! The audit trail: every API call, on either protocol, allowed or refused, becomes a
//! CloudTrail-shaped JSON event in the log group [`AUDIT_GROUP`].
//!
//! A call hands its record to a bounded queue and goes on; one task drains the queue in
//! batches into the store (durable like any append: WAL and fsync) and publishes them to live
//! tails. When the queue is full a call waits at most [`ENQUEUE_WAIT`] for room; past that the
//! record is dropped, counted and logged at error level, so auditing never holds a call for
//! long.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{StorageError, Store};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{ServiceError, error_code};
use crate::tail::{TailHub, new_id};

/// The audit log group.
pub const AUDIT_GROUP: &str = "/logsight/audit";
/// Its one stream.
pub const AUDIT_STREAM: &str = "trail";
/// The shortest retention the audit group may be given, in days.
pub const AUDIT_MIN_RETENTION_DAYS: i64 = 90;
/// Records waiting to be written at most.
pub const QUEUE_CAPACITY: usize = 16_384;
/// How long a call waits for room in a full queue before its record is dropped.
pub const ENQUEUE_WAIT: Duration = Duration::from_millis(100);
/// The account id in ARNs and records (logsight has one account).
pub const ACCOUNT_ID: &str = "000000000000";
/// The event source of records.
pub const EVENT_SOURCE: &str = "logs.logsight";

/// A change to a log group through the API, as the audit group's append-only rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupChange {
    /// CreateLogStream.
    CreateStream,
    /// DeleteLogStream.
    DeleteStream,
    /// DeleteLogGroup.
    DeleteGroup,
    /// PutLogEvents / IngestStream.
    PutEvents,
    /// PutRetentionPolicy with these days, or DeleteRetentionPolicy (`None`: never expire).
    Retention(Option<i64>),
}

/// The audit group is append-only through the API: only the server writes into it, nobody
/// deletes it or its stream, and its retention never goes below
/// [`AUDIT_MIN_RETENTION_DAYS`]. Whoever asks, with any policy.
pub fn check_change(group: &str, change: GroupChange) -> Result<(), ServiceError> {
    if group != AUDIT_GROUP {
        return Ok(());
    }
    let what = match change {
        GroupChange::Retention(None) => return Ok(()),
        GroupChange::Retention(Some(d)) if d >= AUDIT_MIN_RETENTION_DAYS => return Ok(()),
        GroupChange::Retention(Some(d)) => {
            format!(
                "its retention can not be set below {AUDIT_MIN_RETENTION_DAYS} days ({d} asked)"
            )
        }
        GroupChange::CreateStream => "streams can not be created in it".into(),
        GroupChange::DeleteStream => "its stream can not be deleted".into(),
        GroupChange::DeleteGroup => "it can not be deleted".into(),
        GroupChange::PutEvents => "only the server writes events into it".into(),
    };
    Err(ServiceError::AccessDenied(format!(
        "the audit log group {AUDIT_GROUP} is append-only: {what}"
    )))
}

/// The protocol a call came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The CloudWatch Logs JSON 1.1 protocol.
    Http,
    /// The gRPC API.
    Grpc,
}

/// Who made a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The server runs without `--auth`: calls carry no identity.
    Anonymous,
    /// A verified principal.
    Principal {
        /// Its name.
        name: String,
        /// The access key id it signed with.
        access_key_id: String,
    },
    /// Authentication failed; the access key id the request claimed, if any.
    Unauthenticated {
        /// The claimed access key id.
        access_key_id: Option<String>,
    },
}

/// How a call failed: the exception name and the message, for its audit record and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    code: String,
    message: String,
}

impl Failure {
    /// A failure with exception `code` (`AccessDeniedException`) and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure { code: code.into(), message: message.into() }
    }

    /// The exception name.
    pub fn code(&self) -> &str {
        &self.code
    }
}

impl From<&ServiceError> for Failure {
    fn from(e: &ServiceError) -> Self {
        Failure::new(error_code(e).0, e.to_string())
    }
}

/// One API call as the audit trail records it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The CloudWatch operation name (`PutLogEvents`).
    pub operation: String,
    /// The protocol.
    pub protocol: Protocol,
    /// Who.
    pub caller: Caller,
    /// From where.
    pub source_ip: Option<IpAddr>,
    /// The client's `User-Agent`.
    pub user_agent: String,
    /// The region the request was signed for (or the server's default).
    pub region: String,
    /// The request id the caller was given.
    pub request_id: String,
    /// Whether the operation only reads.
    pub read_only: bool,
    /// The parameters, without event bodies (PutLogEvents records counts and bytes).
    pub request_parameters: serde_json::Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<String>,
    account_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
}

#[derive(Serialize)]
struct AdditionalData {
    protocol: Protocol,
}

/// The record, with CloudTrail's member names (reference §6).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: UserIdentity<'a>,
    event_time: String,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: String,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: &'a serde_json::Value,
    response_elements: Option<()>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: String,
    read_only: bool,
    event_type: &'static str,
    management_event: bool,
    event_category: &'static str,
    api_version: &'static str,
    recipient_account_id: &'static str,
    additional_event_data: AdditionalData,
}

/// The JSON text of `call`'s record, completed at `now_ms` with `outcome`.
pub fn record_json(call: &Call, outcome: Result<(), &Failure>, now_ms: i64) -> String {
    let identity = match &call.caller {
        Caller::Anonymous => UserIdentity {
            kind: "Unknown",
            principal_id: None,
            arn: None,
            account_id: ACCOUNT_ID,
            access_key_id: None,
            user_name: None,
        },
        Caller::Principal { name, access_key_id } => UserIdentity {
            kind: "IAMUser",
            principal_id: Some(access_key_id),
            arn: Some(format!("arn:aws:iam::{ACCOUNT_ID}:user/{name}")),
            account_id: ACCOUNT_ID,
            access_key_id: Some(access_key_id),
            user_name: Some(name),
        },
        Caller::Unauthenticated { access_key_id } => UserIdentity {
            kind: "Unknown",
            principal_id: None,
            arn: None,
            account_id: ACCOUNT_ID,
            access_key_id: access_key_id.as_deref(),
            user_name: None,
        },
    };
    let (error_code, error_message) = match outcome {
        Ok(()) => (None, None),
        Err(f) => (Some(f.code.as_str()), Some(f.message.as_str())),
    };
    let event_time = chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let record = Record {
        event_version: "1.11",
        user_identity: identity,
        event_time,
        event_source: EVENT_SOURCE,
        event_name: &call.operation,
        aws_region: &call.region,
        source_ip_address: call.source_ip.map_or_else(|| "unknown".into(), |ip| ip.to_string()),
        user_agent: &call.user_agent,
        error_code,
        error_message,
        request_parameters: &call.request_parameters,
        response_elements: None,
        request_id: &call.request_id,
        event_id: new_id(),
        read_only: call.read_only,
        event_type: "AwsApiCall",
        management_event: true,
        event_category: "Management",
        api_version: "20140328",
        recipient_account_id: ACCOUNT_ID,
        additional_event_data: AdditionalData { protocol: call.protocol },
    };
    serde_json::to_string(&record).expect("records serialize")
}

/// A record waiting to be written.
#[derive(Debug)]
struct Pending {
    time_ms: i64,
    json: String,
}

/// Counters of the audit trail.
#[derive(Debug, Default)]
pub struct AuditStats {
    /// Records written.
    pub written: AtomicU64,
    /// Records dropped because the queue stayed full.
    pub dropped: AtomicU64,
    /// Records lost because the store refused the append.
    pub failed: AtomicU64,
}

/// The writer of the audit trail.
#[derive(Debug)]
pub struct Auditor {
    tx: Mutex<Option<mpsc::Sender<Pending>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<AuditStats>,
}

/// Creates the audit group and stream if they do not exist.
pub fn ensure_group(store: &Store) -> Result<(), StorageError> {
    let g = LogGroupName::new(AUDIT_GROUP).expect("a valid name");
    let s = LogStreamName::new(AUDIT_STREAM).expect("a valid name");
    match store.create_group(&g) {
        Ok(()) | Err(StorageError::GroupExists(_)) => {}
        Err(e) => return Err(e),
    }
    match store.create_stream(&g, &s) {
        Ok(()) | Err(StorageError::StreamExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

impl Auditor {
    /// Creates the audit group (if needed) and starts the task writing records into it.
    /// Call on a tokio runtime.
    pub fn start(store: Arc<Store>, hub: Arc<TailHub>) -> Result<Auditor, StorageError> {
        ensure_group(&store)?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let stats = Arc::new(AuditStats::default());
        let task = tokio::spawn(drain(store, hub, rx, stats.clone()));
        Ok(Auditor { tx: Mutex::new(Some(tx)), task: Mutex::new(Some(task)), stats })
    }

    /// The counters.
    pub fn stats(&self) -> &AuditStats {
        &self.stats
    }

    /// Records waiting to be written.
    pub fn queue_depth(&self) -> usize {
        self.sender().map_or(0, |tx| QUEUE_CAPACITY - tx.capacity())
    }

    fn sender(&self) -> Option<mpsc::Sender<Pending>> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Queues `call`'s record; waits at most [`ENQUEUE_WAIT`] for room.
    pub async fn record(&self, call: &Call, outcome: Result<(), &Failure>, now_ms: i64) {
        let pending = Pending { time_ms: now_ms, json: record_json(call, outcome, now_ms) };
        let Some(tx) = self.sender() else {
            tracing::error!(operation = %call.operation, "audit trail closed; record dropped");
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if tx.send_timeout(pending, ENQUEUE_WAIT).await.is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(operation = %call.operation, "audit queue full; record dropped");
        }
    }

    /// Stops taking records and waits until every queued one is written.
    pub async fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

async fn drain(
    store: Arc<Store>,
    hub: Arc<TailHub>,
    mut rx: mpsc::Receiver<Pending>,
    stats: Arc<AuditStats>,
) {
    let mut batch = Vec::with_capacity(1024);
    while rx.recv_many(&mut batch, 1024).await > 0 {
        let events: Vec<LogEvent> = batch
            .drain(..)
            .filter_map(|p| match LogEvent::new(p.time_ms, p.time_ms, p.json) {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::error!(error = %e, "audit record refused");
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    None
                }
            })
            .collect();
        let n = events.len() as u64;
        let store = store.clone();
        let written = tokio::task::spawn_blocking(move || {
            store.append(AUDIT_GROUP, AUDIT_STREAM, &events).map(|()| events)
        })
        .await;
        match written {
            Ok(Ok(events)) => {
                stats.written.fetch_add(n, Ordering::Relaxed);
                hub.publish(AUDIT_GROUP, AUDIT_STREAM, events);
            }
            Ok(Err(e)) => {
                stats.failed.fetch_add(n, Ordering::Relaxed);
                tracing::error!(error = %e, records = n, "writing audit records failed");
            }
            Err(e) => {
                stats.failed.fetch_add(n, Ordering::Relaxed);
                tracing::error!(error = %e, records = n, "audit writer task failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(caller: Caller) -> Call {
        Call {
            operation: "PutLogEvents".into(),
            protocol: Protocol::Http,
            caller,
            source_ip: Some("127.0.0.1".parse().unwrap()),
            user_agent: "aws-sdk-rust/1".into(),
            region: "us-east-1".into(),
            request_id: "req-1".into(),
            read_only: false,
            request_parameters: serde_json::json!({"logGroupName": "app", "eventCount": 2}),
        }
    }

    #[test]
    fn the_audit_group_is_append_only() {
        use GroupChange::*;
        let cases = [
            (CreateStream, false),
            (DeleteStream, false),
            (DeleteGroup, false),
            (PutEvents, false),
            (Retention(Some(30)), false),
            (Retention(Some(89)), false),
            (Retention(Some(90)), true),
            (Retention(Some(3653)), true),
            (Retention(None), true),
        ];
        for (change, allowed) in cases {
            let r = check_change(AUDIT_GROUP, change);
            assert_eq!(r.is_ok(), allowed, "{change:?}: {r:?}");
            if let Err(e) = r {
                assert_eq!(error_code(&e).0, "AccessDeniedException");
            }
            assert!(check_change("/logsight/audit2", change).is_ok());
            assert!(check_change("app", change).is_ok());
        }
    }

    #[test]
    fn records_have_cloudtrails_shape() {
        let c = call(Caller::Principal { name: "ingest".into(), access_key_id: "AKID1".into() });
        let v: serde_json::Value =
            serde_json::from_str(&record_json(&c, Ok(()), 1_700_000_000_123)).unwrap();
        assert_eq!(v["eventTime"], "2023-11-14T22:13:20Z");
        assert_eq!(v["eventName"], "PutLogEvents");
        assert_eq!(v["eventSource"], EVENT_SOURCE);
        assert_eq!(v["awsRegion"], "us-east-1");
        assert_eq!(v["sourceIPAddress"], "127.0.0.1");
        assert_eq!(v["userAgent"], "aws-sdk-rust/1");
        assert_eq!(v["userIdentity"]["type"], "IAMUser");
        assert_eq!(v["userIdentity"]["userName"], "ingest");
        assert_eq!(v["userIdentity"]["accessKeyId"], "AKID1");
        assert_eq!(v["requestParameters"]["eventCount"], 2);
        assert_eq!(v["requestID"], "req-1");
        assert_eq!(v["readOnly"], false);
        assert_eq!(v["eventType"], "AwsApiCall");
        assert_eq!(v["additionalEventData"]["protocol"], "http");
        assert!(v.get("errorCode").is_none() && v.get("errorMessage").is_none());
        assert_eq!(v["eventID"].as_str().unwrap().len(), 36);

        let c = call(Caller::Unauthenticated { access_key_id: Some("AKIDX".into()) });
        let e = ServiceError::UnrecognizedClient("unknown key".into());
        let v: serde_json::Value =
            serde_json::from_str(&record_json(&c, Err(&Failure::from(&e)), 0)).unwrap();
        assert_eq!(v["errorCode"], "UnrecognizedClientException");
        assert_eq!(v["errorMessage"], "unknown key");
        assert_eq!(v["userIdentity"]["type"], "Unknown");
        assert_eq!(v["userIdentity"]["accessKeyId"], "AKIDX");
    }
}
