//! What a gRPC call asks for, read from its request message before it runs: the IAM action,
//! the log groups it acts on (for authorization) and the audit record's `requestParameters`
//! (never event bodies), as the HTTP operations report them.
//!
//! Only calls whose request is one message are described here; IngestStream's batches are
//! authorized one by one as they arrive (`grpc`).

use bytes::{Buf, Bytes};
use logsight_proto::v1 as pb;
use prost::Message;
use serde_json::{Value, json};

use crate::error::ServiceError;
use logsight_model::limits::EVENT_OVERHEAD_BYTES;

/// The path prefix of the `Logs` service's methods.
pub const LOGS_PREFIX: &str = "/logsight.v1.Logs/";
/// The path prefix of the `Watch` service's methods.
pub const WATCH_PREFIX: &str = "/logsight.v1.Watch/";
/// The path prefix of the Queries service's methods.
const QUERIES_PREFIX: &str = "/logsight.v1.Queries/";
/// Methods whose request is a stream of messages: their body is not signed (the client signs
/// `UNSIGNED-PAYLOAD`) and each message is authorized as it arrives.
pub const STREAMING_REQUESTS: &[&str] = &["/logsight.v1.Logs/IngestStream"];

/// What a call asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// The IAM action, `logs:CreateLogGroup` or `cloudwatch:PutMetricAlarm`.
    pub action: String,
    /// The log groups it acts on; none: every group (`log-group:*`) for a `logs:` action, `*`
    /// for a `cloudwatch:` one.
    pub groups: Vec<String>,
    /// The audit record's `requestParameters`.
    pub parameters: Value,
    /// Whether it only reads.
    pub read_only: bool,
}

/// The message of a unary call's body: one length-prefixed, uncompressed message.
fn message(body: &Bytes) -> Result<Bytes, ServiceError> {
    let bad = |why: &str| ServiceError::invalid(format!("the request body {why}"));
    if body.len() < 5 {
        return Err(bad("is shorter than a gRPC message header"));
    }
    if body[0] != 0 {
        return Err(bad("is compressed; logsight accepts uncompressed messages"));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() - 5 != len {
        return Err(bad("is not exactly one message"));
    }
    Ok(body.slice(5..))
}

fn decode<M: Message + Default>(msg: Bytes) -> Result<M, ServiceError> {
    M::decode(msg).map_err(|e| ServiceError::invalid(format!("malformed request message: {e}")))
}

/// PutLogEvents with each event left undecoded but its message: counting events and bytes
/// neither copies nor validates the messages (the service does, once).
#[derive(Clone, PartialEq, Message)]
struct PutLogEventsHead {
    #[prost(string, tag = "1")]
    log_group_name: String,
    #[prost(string, tag = "2")]
    log_stream_name: String,
    #[prost(bytes = "bytes", repeated, tag = "3")]
    log_events: Vec<Bytes>,
}

#[derive(Clone, PartialEq, Message)]
struct EventHead {
    #[prost(bytes = "bytes", tag = "2")]
    message: Bytes,
}

fn logs(op: &str, groups: Vec<String>, parameters: Value, read_only: bool) -> Described {
    Described { action: format!("logs:{op}"), groups, parameters, read_only }
}

fn cloudwatch(op: &str, parameters: Value, read_only: bool) -> Described {
    Described { action: format!("cloudwatch:{op}"), groups: vec![], parameters, read_only }
}

/// Describes the call to `path` whose body (the length-prefixed request message) is `body`.
/// A method this table does not know (a service added later) is the action `logs:<Method>` on
/// every group, with no parameters.
pub fn describe(path: &str, body: &Bytes) -> Result<Described, ServiceError> {
    if let Some(op) = path.strip_prefix(LOGS_PREFIX) {
        return describe_logs(op, message(body)?);
    }
    if let Some(op) = path.strip_prefix(WATCH_PREFIX) {
        return describe_watch(op, message(body)?);
    }
    if let Some(op) = path.strip_prefix(QUERIES_PREFIX) {
        return describe_queries(op, message(body)?);
    }
    let method = path.rsplit('/').next().unwrap_or(path);
    Ok(logs(method, vec![], Value::Null, false))
}

fn describe_logs(op: &str, msg: Bytes) -> Result<Described, ServiceError> {
    Ok(match op {
        // These requests share one wire shape: a log group name in field 1.
        "CreateLogGroup" | "DeleteLogGroup" | "DeleteRetentionPolicy" => {
            let r: pb::DeleteLogGroupRequest = decode(msg)?;
            let p = json!({"logGroupName": r.log_group_name});
            logs(op, vec![r.log_group_name], p, false)
        }
        "DescribeLogGroups" => {
            let r: pb::DescribeLogGroupsRequest = decode(msg)?;
            let p = json!({"logGroupNamePrefix": r.log_group_name_prefix, "limit": r.limit});
            logs(op, vec![], p, true)
        }
        "PutRetentionPolicy" => {
            let r: pb::PutRetentionPolicyRequest = decode(msg)?;
            let p =
                json!({"logGroupName": r.log_group_name, "retentionInDays": r.retention_in_days});
            logs(op, vec![r.log_group_name], p, false)
        }
        // Same wire shape: group and stream names.
        "CreateLogStream" | "DeleteLogStream" => {
            let r: pb::CreateLogStreamRequest = decode(msg)?;
            let p = json!({"logGroupName": r.log_group_name, "logStreamName": r.log_stream_name});
            logs(op, vec![r.log_group_name], p, false)
        }
        "DescribeLogStreams" => {
            let r: pb::DescribeLogStreamsRequest = decode(msg)?;
            let p = json!({
                "logGroupName": r.log_group_name,
                "logStreamNamePrefix": r.log_stream_name_prefix,
                "descending": r.descending,
                "limit": r.limit,
            });
            logs(op, vec![r.log_group_name], p, true)
        }
        "PutLogEvents" => {
            let r: PutLogEventsHead = decode(msg)?;
            let mut bytes = 0;
            for e in &r.log_events {
                let e: EventHead = decode(e.clone())?;
                bytes += e.message.remaining() + EVENT_OVERHEAD_BYTES;
            }
            let p = json!({
                "logGroupName": r.log_group_name,
                "logStreamName": r.log_stream_name,
                "eventCount": r.log_events.len(),
                "bytes": bytes,
            });
            logs(op, vec![r.log_group_name], p, false)
        }
        "GetLogEvents" => {
            let r: pb::GetLogEventsRequest = decode(msg)?;
            let p = json!({
                "logGroupName": r.log_group_name,
                "logStreamName": r.log_stream_name,
                "startTime": r.start_time,
                "endTime": r.end_time,
                "limit": r.limit,
                "startFromHead": r.start_from_head,
            });
            logs(op, vec![r.log_group_name], p, true)
        }
        "FilterLogEvents" => {
            let r: pb::FilterLogEventsRequest = decode(msg)?;
            let p = json!({
                "logGroupName": r.log_group_name,
                "logStreamNames": r.log_stream_names,
                "logStreamNamePrefix": r.log_stream_name_prefix,
                "startTime": r.start_time,
                "endTime": r.end_time,
                "filterPattern": r.filter_pattern,
                "limit": r.limit,
            });
            logs(op, vec![r.log_group_name], p, true)
        }
        "StartLiveTail" => {
            let r: pb::StartLiveTailRequest = decode(msg)?;
            let p = json!({
                "logGroupIdentifiers": r.log_group_names,
                "logStreamNames": r.log_stream_names,
                "logStreamNamePrefixes": r.log_stream_name_prefixes,
                "logEventFilterPattern": r.log_event_filter_pattern,
            });
            // No group: StartLiveTail refuses the call itself; authorize it on every group.
            logs(op, r.log_group_names, p, true)
        }
        _ => logs(op, vec![], Value::Null, false),
    })
}

/// Queries are `logs:` actions, as in CloudWatch; a query is authorized on the groups it names
/// (on every group when it names them with `SOURCE`).
fn describe_queries(op: &str, msg: Bytes) -> Result<Described, ServiceError> {
    Ok(match op {
        "StartQuery" | "RunQuery" => {
            let r: pb::StartQueryRequest = decode(msg)?;
            let p = json!({
                "logGroupNames": r.log_group_names,
                "startTime": r.start_time,
                "endTime": r.end_time,
                "queryString": r.query_string,
                "limit": r.limit,
            });
            // RunQuery is StartQuery with its results streamed: one permission for both.
            logs("StartQuery", r.log_group_names, p, true)
        }
        "GetLogGroupFields" => {
            let r: pb::GetLogGroupFieldsRequest = decode(msg)?;
            let p = json!({"logGroupName": r.log_group_name, "time": r.time});
            logs(op, vec![r.log_group_name], p, true)
        }
        "StopQuery" | "PutQueryDefinition" | "DeleteQueryDefinition" => {
            logs(op, vec![], Value::Null, false)
        }
        _ => logs(op, vec![], Value::Null, true),
    })
}

fn describe_watch(op: &str, msg: Bytes) -> Result<Described, ServiceError> {
    Ok(match op {
        "PutMetricFilter" => {
            let r: pb::PutMetricFilterRequest = decode(msg)?;
            let p = json!({
                "logGroupName": r.log_group_name,
                "filterName": r.filter_name,
                "filterPattern": r.filter_pattern,
            });
            logs(op, vec![r.log_group_name], p, false)
        }
        "DeleteMetricFilter" => {
            let r: pb::DeleteMetricFilterRequest = decode(msg)?;
            let p = json!({"logGroupName": r.log_group_name, "filterName": r.filter_name});
            logs(op, vec![r.log_group_name], p, false)
        }
        "DescribeMetricFilters" => {
            let r: pb::DescribeMetricFiltersRequest = decode(msg)?;
            let p = json!({
                "logGroupName": r.log_group_name,
                "filterNamePrefix": r.filter_name_prefix,
                "metricName": r.metric_name,
                "metricNamespace": r.metric_namespace,
            });
            logs(op, r.log_group_name.into_iter().collect(), p, true)
        }
        "TestMetricFilter" => {
            let r: pb::TestMetricFilterRequest = decode(msg)?;
            let p = json!({
                "filterPattern": r.filter_pattern,
                "logEventMessageCount": r.log_event_messages.len(),
            });
            logs(op, vec![], p, true)
        }
        "PutMetricAlarm" => {
            let r: pb::PutMetricAlarmRequest = decode(msg)?;
            let p = json!({
                "alarmName": r.alarm_name,
                "namespace": r.namespace,
                "metricName": r.metric_name,
                "alarmActions": r.alarm_actions,
                "okActions": r.ok_actions,
                "insufficientDataActions": r.insufficient_data_actions,
            });
            cloudwatch(op, p, false)
        }
        "PutCompositeAlarm" => {
            let r: pb::PutCompositeAlarmRequest = decode(msg)?;
            let p = json!({
                "alarmName": r.alarm_name,
                "alarmRule": r.alarm_rule,
                "alarmActions": r.alarm_actions,
                "okActions": r.ok_actions,
                "insufficientDataActions": r.insufficient_data_actions,
            });
            cloudwatch(op, p, false)
        }
        // Same wire shape: alarm names in field 1.
        "DeleteAlarms" | "EnableAlarmActions" | "DisableAlarmActions" => {
            let r: pb::DeleteAlarmsRequest = decode(msg)?;
            cloudwatch(op, json!({"alarmNames": r.alarm_names}), false)
        }
        "SetAlarmState" => {
            let r: pb::SetAlarmStateRequest = decode(msg)?;
            let p = json!({"alarmName": r.alarm_name, "stateValue": r.state_value});
            cloudwatch(op, p, false)
        }
        "PutMetricData" => {
            let r: pb::PutMetricDataRequest = decode(msg)?;
            let p = json!({"namespace": r.namespace, "metricDataCount": r.metric_data.len()});
            cloudwatch(op, p, false)
        }
        "GetMetricStatistics" => {
            let r: pb::GetMetricStatisticsRequest = decode(msg)?;
            let p = json!({
                "namespace": r.namespace,
                "metricName": r.metric_name,
                "startTime": r.start_time,
                "endTime": r.end_time,
                "period": r.period,
            });
            cloudwatch(op, p, true)
        }
        "ListMetrics" => {
            let r: pb::ListMetricsRequest = decode(msg)?;
            cloudwatch(op, json!({"namespace": r.namespace, "metricName": r.metric_name}), true)
        }
        "DescribeAlarms" => {
            let r: pb::DescribeAlarmsRequest = decode(msg)?;
            let p = json!({"alarmNames": r.alarm_names, "alarmNamePrefix": r.alarm_name_prefix});
            cloudwatch(op, p, true)
        }
        "DescribeAlarmHistory" => {
            let r: pb::DescribeAlarmHistoryRequest = decode(msg)?;
            cloudwatch(op, json!({"alarmName": r.alarm_name}), true)
        }
        "GetMetricData" | "GetWatchStatus" => cloudwatch(op, json!({}), true),
        _ => cloudwatch(op, Value::Null, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(m: &impl Message) -> Bytes {
        let body = m.encode_to_vec();
        let mut out = vec![0];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out.into()
    }

    #[test]
    fn calls_name_their_action_groups_and_parameters() {
        let put = pb::PutLogEventsRequest {
            log_group_name: "/app/web".into(),
            log_stream_name: "host-1".into(),
            log_events: vec![
                pb::InputLogEvent { timestamp: 1, message: "secret payload".into() },
                pb::InputLogEvent { timestamp: 2, message: "é".into() },
            ],
            sequence_token: None,
        };
        let d = describe("/logsight.v1.Logs/PutLogEvents", &framed(&put)).unwrap();
        assert_eq!(d.action, "logs:PutLogEvents");
        assert_eq!(d.groups, ["/app/web"]);
        // 14 and 2 bytes of UTF-8, plus CloudWatch's 26 bytes per event.
        assert_eq!(
            d.parameters,
            json!({"logGroupName": "/app/web", "logStreamName": "host-1", "eventCount": 2, "bytes": 14 + 2 + 2 * 26})
        );
        assert!(!d.read_only && !d.parameters.to_string().contains("secret payload"));

        let tail = pb::StartLiveTailRequest {
            log_group_names: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let d = describe("/logsight.v1.Logs/StartLiveTail", &framed(&tail)).unwrap();
        assert_eq!(
            (d.action.as_str(), d.groups.len(), d.read_only),
            ("logs:StartLiveTail", 2, true)
        );

        let d = describe(
            "/logsight.v1.Logs/DescribeLogGroups",
            &framed(&pb::DescribeLogGroupsRequest::default()),
        )
        .unwrap();
        assert!(d.groups.is_empty() && d.read_only);

        let alarm = pb::PutMetricAlarmRequest {
            alarm_name: "a".into(),
            alarm_actions: vec!["exec:/bin/true".into()],
            ..Default::default()
        };
        let d = describe("/logsight.v1.Watch/PutMetricAlarm", &framed(&alarm)).unwrap();
        assert_eq!(d.action, "cloudwatch:PutMetricAlarm");
        assert_eq!(d.parameters["alarmActions"], json!(["exec:/bin/true"]));
        let mf =
            pb::DeleteMetricFilterRequest { log_group_name: "g".into(), filter_name: "f".into() };
        let d = describe("/logsight.v1.Watch/DeleteMetricFilter", &framed(&mf)).unwrap();
        assert_eq!(
            (d.action.as_str(), d.groups.as_slice()),
            ("logs:DeleteMetricFilter", &["g".to_string()][..])
        );

        // RunQuery is StartQuery streamed: one permission, on the groups the query names.
        let q = pb::StartQueryRequest {
            log_group_names: vec!["a".into(), "b".into()],
            query_string: "stats count(*)".into(),
            ..Default::default()
        };
        for method in ["StartQuery", "RunQuery"] {
            let d = describe(&format!("/logsight.v1.Queries/{method}"), &framed(&q)).unwrap();
            assert_eq!(
                (d.action.as_str(), d.groups.as_slice(), d.read_only),
                ("logs:StartQuery", &["a".to_string(), "b".to_string()][..], true)
            );
            assert_eq!(d.parameters["queryString"], json!("stats count(*)"));
        }
        // A method no table knows (a service added later) is a logs: action on every group.
        let d = describe("/logsight.v1.Later/DoIt", &Bytes::new()).unwrap();
        assert_eq!((d.action.as_str(), d.groups.len()), ("logs:DoIt", 0));
    }

    #[test]
    fn bodies_that_are_not_one_plain_message_are_refused() {
        let one = framed(&pb::CreateLogGroupRequest { log_group_name: "g".into() });
        let path = "/logsight.v1.Logs/CreateLogGroup";
        let mut two = one.to_vec();
        two.extend_from_slice(&one);
        let mut compressed = one.to_vec();
        compressed[0] = 1;
        for bad in [
            Bytes::new(),
            one.slice(..4),
            one.slice(..one.len() - 1),
            two.into(),
            compressed.into(),
        ] {
            let e = describe(path, &bad).unwrap_err();
            assert!(matches!(e, ServiceError::InvalidParameter(_)), "{bad:?}: {e:?}");
        }
        // A string field holding bytes that are not UTF-8.
        let bad: Bytes = vec![0, 0, 0, 0, 3, 0x0a, 1, 0xff].into();
        assert!(describe(path, &bad).is_err());
    }
}
