//! StartLiveTail over HTTP: the request in AWS's shape, a session from the server's one live
//! tail machinery (`logsight_server::tail`, shared with gRPC), and its messages as an AWS event
//! stream (`application/vnd.amazon.eventstream`), framed by `aws-smithy-eventstream`: a
//! `sessionStart` event, a `sessionUpdate` event every update interval, and the end as an
//! exception message (`SessionTimeoutException` after the session's length;
//! `SessionStreamingException` for anything else, such as the group being deleted).

use std::collections::HashMap;
use std::convert::Infallible;

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::body::Bytes;
use logsight_server::access::Identity;
use logsight_server::error_code;
use logsight_server::tail::{self, SessionMessage, TailSpec, Update};
use logsight_server::{ServiceError, Shared};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::Api;
use crate::ops::{Answer, Handled, HandlerFuture, group_name, parse};

/// The operation's name.
pub const NAME: &str = "StartLiveTail";

/// StartLiveTail.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartLiveTail {
    log_group_identifiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_stream_names: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_stream_name_prefixes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_event_filter_pattern: Option<String>,
}

/// The `sessionStart` event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionStart {
    request_id: String,
    session_id: String,
    log_group_identifiers: Vec<String>,
    log_stream_names: Vec<String>,
    log_stream_name_prefixes: Vec<String>,
    log_event_filter_pattern: String,
}

/// The `sessionUpdate` event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionUpdate {
    session_metadata: SessionMetadata,
    session_results: Vec<LogEvent>,
}

#[derive(Debug, Serialize)]
struct SessionMetadata {
    sampled: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent {
    log_stream_name: String,
    log_group_identifier: String,
    message: String,
    timestamp: i64,
    ingestion_time: i64,
}

/// The handler of [`NAME`] (its answer is a stream, not one JSON document).
pub fn handler(api: Api, identity: Identity, body: Bytes) -> HandlerFuture {
    Box::pin(async move {
        let req: StartLiveTail = match parse(&body) {
            Ok(r) => r,
            Err(e) => return Handled { result: Err(e), parameters: Value::Null, read_only: true },
        };
        let parameters = serde_json::to_value(&req).unwrap_or(Value::Null);
        let result = start(&api, &identity, req).await;
        Handled { result, parameters, read_only: true }
    })
}

async fn start(api: &Api, identity: &Identity, req: StartLiveTail) -> Result<Answer, ServiceError> {
    let shared: &Shared = api.shared();
    let names: Vec<String> =
        req.log_group_identifiers.iter().map(|i| group_name(i).to_owned()).collect();
    // As the gRPC gate: each group authorized; none (refused below) authorized on every group.
    if names.is_empty() {
        shared.access().authorize(identity, NAME, None)?;
    }
    for g in &names {
        shared.access().authorize(identity, NAME, Some(g))?;
    }
    // Results name their group as the request did (a name or an ARN).
    let identifiers: HashMap<String, String> =
        names.iter().cloned().zip(req.log_group_identifiers.iter().cloned()).collect();
    let spec = TailSpec::new(
        names,
        req.log_stream_names.unwrap_or_default(),
        req.log_stream_name_prefixes.unwrap_or_default(),
        req.log_event_filter_pattern.unwrap_or_default(),
    )?;
    let (stream_names, prefixes) = spec.listed_streams();
    let session =
        tail::open(shared.service().clone(), spec, api.tail_timing(), api.stopping().clone())
            .await?;
    let first = event(
        "sessionStart",
        &SessionStart {
            request_id: session.request_id,
            session_id: session.session_id,
            log_group_identifiers: req.log_group_identifiers,
            log_stream_names: stream_names,
            log_stream_name_prefixes: prefixes,
            log_event_filter_pattern: session.spec.pattern.clone(),
        },
    );
    let rest = ReceiverStream::new(session.messages).map(move |m| match m {
        SessionMessage::Update(u) => session_update(u, &identifiers),
        SessionMessage::End(e) => exception(&e),
    });
    let frames = tokio_stream::once(first).chain(rest).map(Ok::<Bytes, Infallible>);
    Ok(Answer::EventStream(axum::body::Body::from_stream(frames)))
}

/// One update as a framed `sessionUpdate` event; each event names its group by `identifiers`
/// (group name → the identifier the request gave). Once per session and update interval: up
/// to 500 events, measured by `benches/http_live_tail.rs`.
pub fn session_update(u: Update, identifiers: &HashMap<String, String>) -> Bytes {
    event("sessionUpdate", &update(u, identifiers))
}

fn update(u: Update, identifiers: &HashMap<String, String>) -> SessionUpdate {
    SessionUpdate {
        session_metadata: SessionMetadata { sampled: u.sampled || u.dropped_events > 0 },
        session_results: u
            .events
            .into_iter()
            .map(|e| LogEvent {
                log_group_identifier: identifiers.get(&e.group).cloned().unwrap_or(e.group),
                log_stream_name: e.stream,
                message: e.message,
                timestamp: e.timestamp,
                ingestion_time: e.ingestion_time,
            })
            .collect(),
    }
}

fn string(s: &'static str) -> HeaderValue {
    HeaderValue::String(s.into())
}

/// An `event` message of type `event_type` with a JSON payload.
pub fn event(event_type: &'static str, payload: &impl Serialize) -> Bytes {
    let json = serde_json::to_vec(payload).unwrap_or_default();
    frame(
        Message::new(json)
            .add_header(Header::new(":message-type", string("event")))
            .add_header(Header::new(":event-type", string(event_type)))
            .add_header(Header::new(":content-type", string("application/json"))),
    )
}

/// The `exception` message that ends a session: its modeled type (`SessionTimeoutException`,
/// else `SessionStreamingException`) and the error's message.
pub fn exception(e: &ServiceError) -> Bytes {
    let (kind, message) = match e {
        ServiceError::SessionTimeout(_) => ("SessionTimeoutException", e.to_string()),
        other => ("SessionStreamingException", format!("{}: {other}", error_code(other).0)),
    };
    let json = serde_json::json!({ "message": message }).to_string();
    frame(
        Message::new(json)
            .add_header(Header::new(":message-type", string("exception")))
            .add_header(Header::new(":exception-type", string(kind)))
            .add_header(Header::new(":content-type", string("application/json"))),
    )
}

fn frame(message: Message) -> Bytes {
    let mut out = Vec::new();
    // Framing fails only beyond the format's limits (a message over 16 MiB: 500 events of up
    // to 1 MiB each can exceed it); the client is then told, rather than sent a cut message.
    match aws_smithy_eventstream::frame::write_message_to(&message, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(err) => {
            tracing::warn!(error = %err, "a live tail message could not be framed");
            let e = ServiceError::Internal(format!("a live tail update could not be sent: {err}"));
            let json = serde_json::json!({ "message": e.to_string() }).to_string();
            let mut out = Vec::new();
            let m = Message::new(json)
                .add_header(Header::new(":message-type", string("exception")))
                .add_header(Header::new(":exception-type", string("SessionStreamingException")))
                .add_header(Header::new(":content-type", string("application/json")));
            let _ = aws_smithy_eventstream::frame::write_message_to(&m, &mut out);
            Bytes::from(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    /// The headers of a decoded message, as strings.
    fn headers(m: &Message) -> HashMap<String, String> {
        m.headers()
            .iter()
            .map(|h| {
                (h.name().as_str().to_owned(), h.value().as_string().unwrap().as_str().to_owned())
            })
            .collect()
    }

    #[test]
    fn events_are_framed_with_their_type_and_checksums() {
        let bytes = event("sessionUpdate", &serde_json::json!({"a": 1}));
        // Prelude: total length, headers length, prelude CRC; the total is the frame's size.
        let total = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(total, bytes.len());
        let prelude_crc = u32::from_be_bytes(bytes[8..12].try_into().unwrap());
        assert_eq!(prelude_crc, crc32(&bytes[..8]));
        let message_crc = u32::from_be_bytes(bytes[total - 4..].try_into().unwrap());
        assert_eq!(message_crc, crc32(&bytes[..total - 4]));
        let m = read_message_from(bytes.clone()).unwrap();
        let h = headers(&m);
        assert_eq!(h[":message-type"], "event");
        assert_eq!(h[":event-type"], "sessionUpdate");
        assert_eq!(&m.payload()[..], br#"{"a":1}"#);
        // A flipped payload bit fails the message checksum.
        let mut bad = bytes.to_vec();
        bad[total - 6] ^= 1;
        assert!(read_message_from(Bytes::from(bad)).is_err());
    }

    #[test]
    fn sessions_end_with_a_modeled_exception() {
        let m = read_message_from(exception(&ServiceError::SessionTimeout("over".into()))).unwrap();
        assert_eq!(headers(&m)[":exception-type"], "SessionTimeoutException");
        let m = read_message_from(exception(&ServiceError::NotFound("gone".into()))).unwrap();
        let h = headers(&m);
        assert_eq!(
            (h[":message-type"].as_str(), h[":exception-type"].as_str()),
            ("exception", "SessionStreamingException")
        );
        let body: Value = serde_json::from_slice(m.payload()).unwrap();
        assert!(
            body["message"].as_str().unwrap().starts_with("ResourceNotFoundException: "),
            "{body}"
        );
    }

    /// CRC-32 (IEEE), bit by bit: the checksum the event-stream format specifies, computed
    /// independently of the framing crate.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
