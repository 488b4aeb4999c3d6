//! The tonic adapter: wire types in, service calls on blocking threads, wire types out.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

use logsight_proto::v1 as pb;
use logsight_proto::v1::logs_server::Logs;
use logsight_storage::{GroupInfo, StreamInfo};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::access::Identity;
use crate::admission::Admission;
use crate::error::{ServiceError, error_code};
use crate::rules::Rejected;
use crate::service::{FilterEvents, GetEvents, PutOutcome, Service, StreamOrder};
use crate::tail::{self, SessionMessage, TailSpec};

type Reply<T> = Result<Response<T>, Status>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Batches one IngestStream call may have in flight at once.
const INGEST_WINDOW: usize = 8;

/// The `Logs` gRPC service.
#[derive(Clone)]
pub struct LogsService {
    service: Arc<Service>,
    /// The in-flight budget; a decoded batch holds its bytes of it while it is stored.
    admission: Admission,
    tail_timing: tail::Timing,
    stopping: watch::Receiver<bool>,
    /// Metric filters: counted in DescribeLogGroups, deleted with their group.
    metric_filters: Option<Arc<logsight_watch::Watch>>,
    /// Authorizes each IngestStream batch (the gate authorizes every other call whole).
    access: Option<Arc<crate::Shared>>,
}

impl LogsService {
    /// Attaches the Watch side, whose metric filters belong to log groups.
    pub(crate) fn with_watch(mut self, watch: Arc<logsight_watch::Watch>) -> Self {
        self.metric_filters = Some(watch);
        self
    }

    /// Authorizes IngestStream batches with the access control of `shared`.
    pub(crate) fn with_access(mut self, shared: Arc<crate::Shared>) -> Self {
        self.access = Some(shared);
        self
    }

    fn metric_filter_count(&self, group: &str) -> i32 {
        self.metric_filters.as_ref().map_or(0, |w| w.filters().count(group) as i32)
    }

    pub(crate) fn new(
        service: Arc<Service>,
        admission: Admission,
        tail_timing: tail::Timing,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        LogsService {
            service,
            admission,
            tail_timing,
            stopping,
            metric_filters: None,
            access: None,
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        crate::service::on_blocking_thread(self.service.clone(), f).await
    }

    async fn put(
        &self,
        group: String,
        stream: String,
        events: Vec<pb::InputLogEvent>,
        producer: Option<(String, u64)>,
    ) -> Result<PutOutcome, ServiceError> {
        let bytes = crate::rules::batch_bytes(events.iter().map(|e| e.message.as_str()));
        let _reservation = self.admission.reserve(bytes).await?;
        let events: Vec<(i64, String)> =
            events.into_iter().map(|e| (e.timestamp, e.message)).collect();
        self.blocking(move |s| {
            let producer = producer.as_ref().map(|(id, seq)| (id.as_str(), *seq));
            s.put_events(&group, &stream, events, producer)
        })
        .await
    }

    /// Stores one IngestStream batch sent by `identity` (set by the gate); its
    /// acknowledgement.
    async fn ingest(
        &self,
        batch: pb::IngestStreamRequest,
        identity: Option<&Identity>,
    ) -> pb::IngestStreamResponse {
        let id = batch.batch_id;
        let put = async {
            if let Some(shared) = &self.access {
                let access = shared.access();
                match identity {
                    Some(who) => {
                        access.authorize(who, "PutLogEvents", Some(&batch.log_group_name))?
                    }
                    None if access.required() => {
                        return Err(ServiceError::MissingAuthentication(
                            "the call was not authenticated".into(),
                        ));
                    }
                    None => {}
                }
            }
            let producer = wire_producer(batch.producer_id, batch.sequence)?;
            self.put(batch.log_group_name, batch.log_stream_name, batch.log_events, producer).await
        };
        match put.await {
            Ok(out) => pb::IngestStreamResponse {
                batch_id: id,
                accepted: out.accepted as i32,
                rejected_log_events_info: rejected_info(out.rejected),
                duplicate: out.duplicate,
                ..Default::default()
            },
            Err(e) => ack_error(id, &e),
        }
    }
}

fn ack_error(batch_id: u64, e: &ServiceError) -> pb::IngestStreamResponse {
    let (name, code) = error_code(e);
    pb::IngestStreamResponse {
        batch_id,
        error_type: name.into(),
        error_code: code as i32,
        error_message: e.to_string(),
        retry_after_ms: e.retry_after_ms().map(|m| m as i64),
        ..Default::default()
    }
}

/// The producer of an IngestStream batch: none when `producer_id` is empty, which a set
/// `sequence` contradicts.
fn wire_producer(id: String, sequence: u64) -> Result<Option<(String, u64)>, ServiceError> {
    match (id.is_empty(), sequence) {
        (true, 0) => Ok(None),
        (true, _) => Err(ServiceError::invalid(format!(
            "sequence is {sequence} but producer_id is empty: an idempotent batch needs both"
        ))),
        (false, _) => Ok(Some((id, sequence))),
    }
}

fn rejected_info(r: Rejected) -> Option<pb::RejectedLogEventsInfo> {
    let idx = |i: Option<usize>| i.map(|i| i32::try_from(i).unwrap_or(i32::MAX));
    r.any().then(|| pb::RejectedLogEventsInfo {
        too_new_log_event_start_index: idx(r.too_new_start),
        too_old_log_event_end_index: idx(r.too_old_end),
        expired_log_event_end_index: idx(r.expired_end),
    })
}

fn group_pb(g: GroupInfo, metric_filter_count: i32) -> pb::LogGroup {
    pb::LogGroup {
        arn: format!("arn:logsight:logs:local:000000000000:log-group:{}:*", g.name),
        log_group_name: g.name,
        creation_time: g.creation_time,
        retention_in_days: g.retention_days.map(|d| d as i32),
        metric_filter_count,
        stored_bytes: g.stored_bytes as i64,
        buffered_bytes: g.buffered_bytes as i64,
    }
}

fn stream_pb(group: &str, s: StreamInfo) -> pb::LogStream {
    pb::LogStream {
        arn: format!(
            "arn:logsight:logs:local:000000000000:log-group:{group}:log-stream:{}",
            s.name
        ),
        log_stream_name: s.name,
        creation_time: s.creation_time,
        first_event_timestamp: s.first_event_timestamp,
        last_event_timestamp: s.last_event_timestamp,
        last_ingestion_time: s.last_ingestion_time,
        stored_bytes: s.stored_bytes as i64,
    }
}

fn ok<T>(t: T) -> Reply<T> {
    Ok(Response::new(t))
}

#[tonic::async_trait]
impl Logs for LogsService {
    async fn create_log_group(
        &self,
        req: Request<pb::CreateLogGroupRequest>,
    ) -> Reply<pb::CreateLogGroupResponse> {
        let r = req.into_inner();
        self.blocking(move |s| s.create_group(&r.log_group_name)).await?;
        ok(pb::CreateLogGroupResponse {})
    }

    async fn delete_log_group(
        &self,
        req: Request<pb::DeleteLogGroupRequest>,
    ) -> Reply<pb::DeleteLogGroupResponse> {
        let r = req.into_inner();
        let watch = self.metric_filters.clone();
        self.blocking(move |s| {
            crate::shared::delete_log_group(s, watch.as_deref(), &r.log_group_name)
        })
        .await?;
        ok(pb::DeleteLogGroupResponse {})
    }

    async fn describe_log_groups(
        &self,
        req: Request<pb::DescribeLogGroupsRequest>,
    ) -> Reply<pb::DescribeLogGroupsResponse> {
        let r = req.into_inner();
        let (groups, next_token) = self
            .blocking(move |s| {
                s.describe_groups(&r.log_group_name_prefix, r.limit, r.next_token.as_deref())
            })
            .await?;
        ok(pb::DescribeLogGroupsResponse {
            log_groups: groups
                .into_iter()
                .map(|g| {
                    let count = self.metric_filter_count(&g.name);
                    group_pb(g, count)
                })
                .collect(),
            next_token,
        })
    }

    async fn put_retention_policy(
        &self,
        req: Request<pb::PutRetentionPolicyRequest>,
    ) -> Reply<pb::PutRetentionPolicyResponse> {
        let r = req.into_inner();
        self.blocking(move |s| s.put_retention(&r.log_group_name, r.retention_in_days.into()))
            .await?;
        ok(pb::PutRetentionPolicyResponse {})
    }

    async fn delete_retention_policy(
        &self,
        req: Request<pb::DeleteRetentionPolicyRequest>,
    ) -> Reply<pb::DeleteRetentionPolicyResponse> {
        let r = req.into_inner();
        self.blocking(move |s| s.delete_retention(&r.log_group_name)).await?;
        ok(pb::DeleteRetentionPolicyResponse {})
    }

    async fn create_log_stream(
        &self,
        req: Request<pb::CreateLogStreamRequest>,
    ) -> Reply<pb::CreateLogStreamResponse> {
        let r = req.into_inner();
        self.blocking(move |s| s.create_stream(&r.log_group_name, &r.log_stream_name)).await?;
        ok(pb::CreateLogStreamResponse {})
    }

    async fn delete_log_stream(
        &self,
        req: Request<pb::DeleteLogStreamRequest>,
    ) -> Reply<pb::DeleteLogStreamResponse> {
        let r = req.into_inner();
        self.blocking(move |s| s.delete_stream(&r.log_group_name, &r.log_stream_name)).await?;
        ok(pb::DeleteLogStreamResponse {})
    }

    async fn describe_log_streams(
        &self,
        req: Request<pb::DescribeLogStreamsRequest>,
    ) -> Reply<pb::DescribeLogStreamsResponse> {
        let r = req.into_inner();
        let order = match pb::OrderBy::try_from(r.order_by) {
            Ok(pb::OrderBy::LogStreamName) => StreamOrder::Name,
            Ok(pb::OrderBy::LastEventTime) => StreamOrder::LastEventTime,
            Err(_) => {
                return Err(ServiceError::invalid(format!(
                    "order_by {} is not LOG_STREAM_NAME (0) or LAST_EVENT_TIME (1)",
                    r.order_by
                ))
                .into());
            }
        };
        let group = r.log_group_name.clone();
        let (streams, next_token) = self
            .blocking(move |s| {
                s.describe_streams(
                    &r.log_group_name,
                    &r.log_stream_name_prefix,
                    order,
                    r.descending,
                    r.limit,
                    r.next_token.as_deref(),
                )
            })
            .await?;
        ok(pb::DescribeLogStreamsResponse {
            log_streams: streams.into_iter().map(|s| stream_pb(&group, s)).collect(),
            next_token,
        })
    }

    async fn put_log_events(
        &self,
        req: Request<pb::PutLogEventsRequest>,
    ) -> Reply<pb::PutLogEventsResponse> {
        let r = req.into_inner();
        let out = self.put(r.log_group_name, r.log_stream_name, r.log_events, None).await?;
        ok(pb::PutLogEventsResponse {
            next_sequence_token: None,
            rejected_log_events_info: rejected_info(out.rejected),
        })
    }

    async fn get_log_events(
        &self,
        req: Request<pb::GetLogEventsRequest>,
    ) -> Reply<pb::GetLogEventsResponse> {
        let r = req.into_inner();
        let q = GetEvents {
            group: r.log_group_name,
            stream: r.log_stream_name,
            start: r.start_time,
            end: r.end_time,
            token: r.next_token,
            limit: r.limit,
            start_from_head: r.start_from_head.unwrap_or(false),
        };
        let page = self.blocking(move |s| s.get_events(&q)).await?;
        ok(pb::GetLogEventsResponse {
            events: page
                .events
                .into_iter()
                .map(|e| pb::OutputLogEvent {
                    timestamp: e.timestamp,
                    message: e.message,
                    ingestion_time: e.ingestion_time,
                })
                .collect(),
            next_forward_token: page.forward,
            next_backward_token: page.backward,
        })
    }

    async fn filter_log_events(
        &self,
        req: Request<pb::FilterLogEventsRequest>,
    ) -> Reply<pb::FilterLogEventsResponse> {
        let r = req.into_inner();
        let q = FilterEvents {
            group: r.log_group_name,
            streams: r.log_stream_names,
            prefix: r.log_stream_name_prefix,
            start: r.start_time,
            end: r.end_time,
            pattern: r.filter_pattern,
            token: r.next_token,
            limit: r.limit,
        };
        let page = self.blocking(move |s| s.filter_events(&q)).await?;
        let complete = page.next.is_none();
        ok(pb::FilterLogEventsResponse {
            events: page
                .events
                .into_iter()
                .map(|f| pb::FilteredLogEvent {
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
                .map(|n| pb::SearchedLogStream {
                    log_stream_name: n,
                    searched_completely: complete,
                })
                .collect(),
            next_token: page.next,
        })
    }

    type IngestStreamStream = BoxStream<pb::IngestStreamResponse>;

    async fn ingest_stream(
        &self,
        req: Request<Streaming<pb::IngestStreamRequest>>,
    ) -> Reply<Self::IngestStreamStream> {
        let identity = req.extensions().get::<Identity>().cloned().map(Arc::new);
        let mut incoming = req.into_inner();
        let (tx, rx) = mpsc::channel(INGEST_WINDOW);
        let me = Arc::new(self.clone());
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            // Batches are stored concurrently (up to the window) but acknowledged in the order
            // they arrived, so a retried batch's `duplicate` never overtakes the original's ack.
            let mut inflight: VecDeque<(u64, JoinHandle<pb::IngestStreamResponse>)> =
                VecDeque::new();
            let mut reading = true;
            while reading || !inflight.is_empty() {
                let window_open = reading && inflight.len() < INGEST_WINDOW;
                let oldest = inflight.front_mut().map(|(_, h)| h);
                let has_oldest = oldest.is_some();
                tokio::select! {
                    done = async { oldest.expect("guarded").await }, if has_oldest => {
                        let (id, _) = inflight.pop_front().expect("guarded");
                        let ack = done.unwrap_or_else(|e| {
                            let e = ServiceError::Internal(format!("ingest task failed: {e}"));
                            ack_error(id, &e)
                        });
                        if tx.send(Ok(ack)).await.is_err() {
                            return;
                        }
                    }
                    next = incoming.next(), if window_open => match next {
                        Some(Ok(batch)) => {
                            let (me, who) = (me.clone(), identity.clone());
                            let id = batch.batch_id;
                            let task =
                                tokio::spawn(async move { me.ingest(batch, who.as_deref()).await });
                            inflight.push_back((id, task));
                        }
                        Some(Err(status)) => {
                            tracing::debug!(%status, "ingest stream ended by the client");
                            reading = false;
                        }
                        None => reading = false,
                    },
                    () = async { drop(stopping.wait_for(|s| *s).await) }, if reading => {
                        reading = false;
                    }
                }
            }
        });
        ok(Box::pin(ReceiverStream::new(rx)))
    }

    type StartLiveTailStream = BoxStream<pb::StartLiveTailResponse>;

    async fn start_live_tail(
        &self,
        req: Request<pb::StartLiveTailRequest>,
    ) -> Reply<Self::StartLiveTailStream> {
        let r = req.into_inner();
        let spec = TailSpec::new(
            r.log_group_names,
            r.log_stream_names,
            r.log_stream_name_prefixes,
            r.log_event_filter_pattern,
        )?;
        let (names, prefixes) = spec.listed_streams();
        let session =
            tail::open(self.service.clone(), spec, self.tail_timing, self.stopping.clone()).await?;
        let start = pb::LiveTailSessionStart {
            request_id: session.request_id,
            session_id: session.session_id,
            log_group_names: session.spec.groups.iter().map(|g| g.to_string()).collect(),
            log_stream_names: names,
            log_stream_name_prefixes: prefixes,
            log_event_filter_pattern: session.spec.pattern.clone(),
        };
        let messages = session.messages;
        let start = pb::StartLiveTailResponse {
            response_stream: Some(pb::start_live_tail_response::ResponseStream::SessionStart(
                start,
            )),
        };
        let updates = ReceiverStream::new(messages).map(|m| match m {
            SessionMessage::Update(u) => Ok(pb::StartLiveTailResponse {
                response_stream: Some(pb::start_live_tail_response::ResponseStream::SessionUpdate(
                    update_pb(u),
                )),
            }),
            SessionMessage::End(e) => Err(e.into()),
        });
        ok(Box::pin(tokio_stream::once(Ok(start)).chain(updates)))
    }
}

fn update_pb(u: tail::Update) -> pb::LiveTailSessionUpdate {
    pb::LiveTailSessionUpdate {
        session_metadata: Some(pb::LiveTailSessionMetadata {
            sampled: u.sampled,
            dropped_events: u.dropped_events,
        }),
        session_results: u
            .events
            .into_iter()
            .map(|e| pb::LiveTailSessionLogEvent {
                log_group_name: e.group,
                log_stream_name: e.stream,
                timestamp: e.timestamp,
                ingestion_time: e.ingestion_time,
                message: e.message,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_producer_needs_an_id_for_a_sequence() {
        assert_eq!(wire_producer(String::new(), 0), Ok(None));
        assert_eq!(wire_producer("p".into(), 0), Ok(Some(("p".into(), 0))));
        assert_eq!(wire_producer("p".into(), 9), Ok(Some(("p".into(), 9))));
        let e = wire_producer(String::new(), 9).unwrap_err();
        assert_eq!(error_code(&e).1, tonic::Code::InvalidArgument);
        assert!(e.to_string().contains("producer_id is empty"), "{e}");
    }
}
