//! The service logic in plain Rust: validation, paging and tokens over the store. Synchronous:
//! the front ends (gRPC, HTTP) call it from blocking threads through [`on_blocking_thread`],
//! never from the runtime's workers.

use std::cmp::Ordering;
use std::sync::Arc;

use logsight_engine::{
    DataSource, Engine, EngineError, EventCut, FilterEventsPlan, ScanBudget, StreamSelection,
};
use logsight_model::{LogGroupName, LogStreamName, ProducerId, RetentionDays, TimeRange};
use logsight_storage::{
    AppendOutcome, Clock, Direction, GroupInfo, Position, Producer, ReadOptions, StorageError,
    Store, StreamInfo,
};

use crate::audit::{GroupChange, check_change};
use crate::error::{Result, ServiceError, shown};
use crate::filter;
use crate::rules::{self, Rejected};
use crate::tail::TailHub;
use crate::token::{Scope, Streams, TokenKey};

/// Most bytes of messages in one page of events, as CloudWatch (1 MB).
pub const PAGE_BYTES: usize = 1 << 20;
/// How much one FilterLogEvents call may scan before it returns a (possibly empty) page with a
/// token to continue, so a pattern that rarely matches keeps every page interactive. The
/// engine applies it ([`logsight_engine::ScanBudget`]).
pub type FilterBudget = ScanBudget;

/// Events examined between looks at the clock.
pub use logsight_engine::TIME_CHECK_EVERY;

/// The service over one store.
pub struct Service {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    hub: Arc<TailHub>,
    tokens: TokenKey,
    filter_budget: FilterBudget,
    /// FilterLogEvents runs as a plan of the query engine, on its pool.
    engine: Arc<Engine>,
    source: DataSource,
}

/// How DescribeLogStreams orders streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    /// By name.
    Name,
    /// By last event time, then name.
    LastEventTime,
}

/// The outcome of PutLogEvents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Events stored.
    pub accepted: usize,
    /// Events rejected.
    pub rejected: Rejected,
    /// The producer's batch was stored before; nothing was stored now.
    pub duplicate: bool,
}

/// A GetLogEvents request.
#[derive(Debug, Clone, Default)]
pub struct GetEvents {
    /// Group.
    pub group: String,
    /// Stream.
    pub stream: String,
    /// Inclusive start.
    pub start: Option<i64>,
    /// Exclusive end.
    pub end: Option<i64>,
    /// Token from an earlier page.
    pub token: Option<String>,
    /// Most events.
    pub limit: Option<i32>,
    /// Oldest first when no token is given.
    pub start_from_head: bool,
}

/// A GetLogEvents page.
#[derive(Debug, Clone)]
pub struct EventsPage {
    /// Events, oldest first.
    pub events: Vec<logsight_storage::Event>,
    /// Token for the next newer page.
    pub forward: String,
    /// Token for the next older page.
    pub backward: String,
}

/// A FilterLogEvents request.
#[derive(Debug, Clone, Default)]
pub struct FilterEvents {
    /// Group.
    pub group: String,
    /// Restrict to these streams.
    pub streams: Vec<String>,
    /// Restrict to streams with this prefix.
    pub prefix: Option<String>,
    /// Inclusive start.
    pub start: Option<i64>,
    /// Exclusive end.
    pub end: Option<i64>,
    /// Filter pattern.
    pub pattern: String,
    /// Token from an earlier page.
    pub token: Option<String>,
    /// Most events.
    pub limit: Option<i32>,
}

/// One FilterLogEvents match.
#[derive(Debug, Clone)]
pub struct FilteredEvent {
    /// The event.
    pub event: logsight_engine::FoundEvent,
    /// Unique within the search: timestamp and rank among events of that timestamp.
    pub event_id: String,
}

/// A FilterLogEvents page.
#[derive(Debug, Clone)]
pub struct FilterPage {
    /// Matches, by timestamp across streams.
    pub events: Vec<FilteredEvent>,
    /// The streams searched.
    pub searched: Vec<String>,
    /// Where to continue; `None` once the search is complete.
    pub next: Option<String>,
}

fn group_name(name: &str) -> Result<LogGroupName> {
    Ok(LogGroupName::new(name)?)
}

fn stream_name(name: &str) -> Result<LogStreamName> {
    Ok(LogStreamName::new(name)?)
}

/// The order of DescribeLogStreams and its paging token: (last event time or 0, name).
fn stream_key(order: StreamOrder, s: &StreamInfo) -> (i64, &str) {
    match order {
        StreamOrder::Name => (0, s.name.as_str()),
        StreamOrder::LastEventTime => (s.last_event_timestamp.unwrap_or(i64::MIN), &s.name),
    }
}

fn check_limit(limit: Option<i32>, max: i32, default: i32) -> Result<usize> {
    match limit {
        None => Ok(default as usize),
        Some(l) if (1..=max).contains(&l) => Ok(l as usize),
        Some(l) => {
            Err(ServiceError::invalid(format!("limit {l} is out of range: must be 1 to {max}")))
        }
    }
}

fn bad_token(token: &str) -> ServiceError {
    ServiceError::invalid(format!("invalid next_token {:?}", shown(token)))
}

fn opposite(d: Direction) -> Direction {
    match d {
        Direction::Forward => Direction::Backward,
        Direction::Backward => Direction::Forward,
    }
}

impl Service {
    /// A service over `store`, publishing appends to `hub`, signing paging tokens with `tokens`
    /// and running FilterLogEvents on `engine` over `source` (the query manager's, so there is
    /// one executor), each call bounded by `filter_budget`.
    pub fn new(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        hub: Arc<TailHub>,
        tokens: TokenKey,
        filter_budget: FilterBudget,
        engine: Arc<Engine>,
        source: DataSource,
    ) -> Self {
        Service { store, clock, hub, tokens, filter_budget, engine, source }
    }

    /// Where appends are published for live tails.
    pub fn hub(&self) -> &Arc<TailHub> {
        &self.hub
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// CreateLogGroup.
    pub fn create_group(&self, name: &str) -> Result<()> {
        Ok(self.store.create_group(&group_name(name)?)?)
    }

    /// DeleteLogGroup; live tail sessions following the group end.
    pub fn delete_group(&self, name: &str) -> Result<()> {
        check_change(name, GroupChange::DeleteGroup)?;
        let g = group_name(name)?;
        self.store.delete_group(&g)?;
        self.hub.end_group(g.as_str());
        Ok(())
    }

    /// PutRetentionPolicy.
    pub fn put_retention(&self, name: &str, days: i64) -> Result<()> {
        let g = group_name(name)?;
        let days = RetentionDays::new(days)?;
        check_change(name, GroupChange::Retention(Some(days.days().into())))?;
        Ok(self.store.set_retention(&g, Some(days))?)
    }

    /// DeleteRetentionPolicy.
    pub fn delete_retention(&self, name: &str) -> Result<()> {
        check_change(name, GroupChange::Retention(None))?;
        Ok(self.store.set_retention(&group_name(name)?, None)?)
    }

    /// DescribeLogGroups: groups with `prefix`, in ASCII order, a page at a time.
    pub fn describe_groups(
        &self,
        prefix: &str,
        limit: Option<i32>,
        token: Option<&str>,
    ) -> Result<(Vec<GroupInfo>, Option<String>)> {
        let limit = check_limit(limit, 50, 50)?;
        let after = match token {
            Some(t) => Some(t.strip_prefix("g:").ok_or_else(|| bad_token(t))?.to_owned()),
            None => None,
        };
        let mut groups: Vec<GroupInfo> = self
            .store
            .groups()
            .into_iter()
            .filter(|g| g.name.starts_with(prefix))
            .filter(|g| after.as_ref().is_none_or(|a| g.name.as_str() > a.as_str()))
            .collect(); // `Store::groups` lists them in name (ASCII) order already
        let next = (groups.len() > limit).then(|| format!("g:{}", groups[limit - 1].name));
        groups.truncate(limit);
        Ok((groups, next))
    }

    /// CreateLogStream.
    pub fn create_stream(&self, group: &str, stream: &str) -> Result<()> {
        check_change(group, GroupChange::CreateStream)?;
        Ok(self.store.create_stream(&group_name(group)?, &stream_name(stream)?)?)
    }

    /// DeleteLogStream.
    pub fn delete_stream(&self, group: &str, stream: &str) -> Result<()> {
        check_change(group, GroupChange::DeleteStream)?;
        Ok(self.store.delete_stream(&group_name(group)?, &stream_name(stream)?)?)
    }

    /// DescribeLogStreams.
    pub fn describe_streams(
        &self,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        descending: bool,
        limit: Option<i32>,
        token: Option<&str>,
    ) -> Result<(Vec<StreamInfo>, Option<String>)> {
        group_name(group)?;
        let limit = check_limit(limit, 50, 50)?;
        if order == StreamOrder::LastEventTime && !prefix.is_empty() {
            return Err(ServiceError::invalid(format!(
                "Cannot order by LastEventTime with a logStreamNamePrefix (prefix {:?})",
                shown(prefix)
            )));
        }
        let after: Option<(i64, String)> = match token {
            None => None,
            Some(t) => {
                let bad = || bad_token(t);
                let (ts, name) =
                    t.strip_prefix("s:").and_then(|r| r.split_once(':')).ok_or_else(bad)?;
                Some((ts.parse().map_err(|_| bad())?, name.to_owned()))
            }
        };
        if order == StreamOrder::Name && !descending {
            // The common listing reads one page of the catalog, however large the group.
            let after = after.as_ref().map(|(_, name)| name.as_str());
            let page = self.store.streams_page(group, prefix, after, limit)?;
            let next = page.more.then(|| page.streams.last().map(|s| format!("s:0:{}", s.name)));
            return Ok((page.streams, next.flatten()));
        }
        let cmp = |a: (i64, &str), b: (i64, &str)| if descending { b.cmp(&a) } else { a.cmp(&b) };
        let mut streams: Vec<StreamInfo> = self
            .store
            .streams(group)?
            .into_iter()
            .filter(|s| s.name.starts_with(prefix))
            .filter(|s| {
                after.as_ref().is_none_or(|(ts, name)| {
                    cmp(stream_key(order, s), (*ts, name.as_str())) == Ordering::Greater
                })
            })
            .collect();
        streams.sort_by(|a, b| cmp(stream_key(order, a), stream_key(order, b)));
        let next = (streams.len() > limit).then(|| {
            let (ts, name) = stream_key(order, &streams[limit - 1]);
            format!("s:{ts}:{name}")
        });
        streams.truncate(limit);
        Ok((streams, next))
    }

    /// PutLogEvents: checks the batch, stores the accepted events durably, then publishes them
    /// to live tails. With a producer `(id, sequence)` the append is idempotent: a batch the
    /// store already holds is reported as a duplicate and neither stored nor published again.
    pub fn put_events(
        &self,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
        producer: Option<(&str, u64)>,
    ) -> Result<PutOutcome> {
        let g = group_name(group)?;
        let s = stream_name(stream)?;
        check_change(group, GroupChange::PutEvents)?;
        let producer = match producer {
            Some((id, sequence)) => Some((ProducerId::new(id)?, sequence)),
            None => None,
        };
        let retention =
            self.store.retention_days(g.as_str())?.and_then(|d| RetentionDays::new(d.into()).ok());
        let checked = rules::check_batch(events, self.clock.now_ms(), retention)?;
        if checked.accepted.is_empty() {
            // Nothing to store, but the stream must still exist.
            if !self.store.has_stream(g.as_str(), s.as_str())? {
                return Err(ServiceError::NotFound(format!(
                    "log stream {:?} does not exist in log group {:?}",
                    s.as_str(),
                    g.as_str()
                )));
            }
        } else {
            let producer =
                producer.as_ref().map(|(id, sequence)| Producer { id, sequence: *sequence });
            let outcome = self.store.append_idempotent(
                g.as_str(),
                s.as_str(),
                &checked.accepted,
                producer,
            )?;
            if let AppendOutcome::Duplicate { .. } = outcome {
                return Ok(PutOutcome {
                    accepted: 0,
                    rejected: Rejected::default(),
                    duplicate: true,
                });
            }
        }
        let accepted = checked.accepted.len();
        if accepted > 0 {
            self.hub.publish(g.as_str(), s.as_str(), checked.accepted);
        }
        Ok(PutOutcome { accepted, rejected: checked.rejected, duplicate: false })
    }

    /// GetLogEvents: one page of a stream, with forward and backward tokens. When the end is
    /// reached, the token for that direction equals the one sent.
    pub fn get_events(&self, req: &GetEvents) -> Result<EventsPage> {
        let g = group_name(&req.group)?;
        let s = stream_name(&req.stream)?;
        let limit = check_limit(req.limit, 10_000, 10_000)?;
        let scope = Scope::get_events(g.as_str(), s.as_str());
        let from = req.token.as_deref().map(|t| self.tokens.open(&scope, t)).transpose()?;
        let direction = match from {
            Some(p) => p.direction,
            None if req.start_from_head => Direction::Forward,
            None => Direction::Backward,
        };
        let range = TimeRange::new(req.start, req.end);
        let (g, s) = (g.as_str(), s.as_str());
        let page = self.store.read_stream(
            g,
            s,
            &ReadOptions { range, direction, from, limit, max_bytes: PAGE_BYTES },
        )?;
        // The ends of the range, as positions.
        let edge = |d: Direction| match d {
            Direction::Forward => Position::at_time(d, range.start.unwrap_or(i64::MIN)),
            Direction::Backward => Position::at_time(d, range.end.unwrap_or(i64::MAX)),
        };
        let same = page.next.or(from).unwrap_or_else(|| edge(direction));
        // The other way continues from the page's first event, or from where this page was
        // to start: the same cut, read backward.
        let other = match (page.events.first(), from) {
            (Some(first), _) => Position::after(opposite(direction), first),
            (None, Some(p)) => p.reversed(),
            (None, None) => edge(opposite(direction)),
        };
        let mut events = page.events;
        let (forward, backward) = match direction {
            Direction::Forward => (same, other),
            Direction::Backward => {
                events.reverse();
                (other, same)
            }
        };
        Ok(EventsPage {
            events,
            forward: self.tokens.issue(&scope, forward),
            backward: self.tokens.issue(&scope, backward),
        })
    }

    /// FilterLogEvents: matching events of a group, by timestamp across streams. Checks the
    /// request and its token here; the page is a plan of the query engine.
    pub fn filter_events(&self, req: &FilterEvents) -> Result<FilterPage> {
        let g = group_name(&req.group)?;
        let limit = check_limit(req.limit, 10_000, 10_000)?;
        if !req.streams.is_empty() && req.prefix.is_some() {
            return Err(ServiceError::invalid(
                "log_stream_names and log_stream_name_prefix can not both be given",
            ));
        }
        if req.streams.len() > 100 {
            return Err(ServiceError::invalid(format!(
                "log_stream_names holds {} names, more than the limit of 100",
                req.streams.len()
            )));
        }
        let matcher = filter::compile(&req.pattern)?;
        let (scope_streams, streams) = match (&req.prefix, req.streams.is_empty()) {
            (_, false) => {
                (Streams::Names(&req.streams), StreamSelection::Names(req.streams.clone()))
            }
            (Some(p), true) => (Streams::Prefix(p), StreamSelection::Prefix(p.clone())),
            (None, true) => (Streams::All, StreamSelection::All),
        };
        let scope = Scope::filter_events(g.as_str(), scope_streams);
        let from = match req.token.as_deref() {
            Some(t) => match self.tokens.open(&scope, t)? {
                p if p.direction == Direction::Forward => {
                    Some(EventCut { timestamp: p.timestamp, stream: p.stream, ordinal: p.ordinal })
                }
                _ => return Err(bad_token(t)),
            },
            None => None,
        };
        let plan = FilterEventsPlan {
            group: g.as_str().to_owned(),
            streams,
            range: TimeRange::new(req.start, req.end),
            pattern: matcher.pattern().clone(),
            limit,
            max_bytes: PAGE_BYTES,
            from,
            budget: self.filter_budget,
        };
        let page = self.engine.filter_events(&self.source, &plan).map_err(engine_error)?;
        let next = page.next.map(|c| {
            let at = Position {
                direction: Direction::Forward,
                timestamp: c.timestamp,
                stream: c.stream,
                ordinal: c.ordinal,
            };
            self.tokens.issue(&scope, at)
        });
        let events = page
            .events
            .into_iter()
            .map(|e| FilteredEvent {
                event_id: format!("{}-{}-{}", e.timestamp, e.stream_id, e.ordinal),
                event: e,
            })
            .collect();
        Ok(FilterPage { events, searched: page.searched, next })
    }
}

/// The engine's errors as the service's: a missing group or damaged data as storage reports
/// them.
fn engine_error(e: EngineError) -> ServiceError {
    match e {
        EngineError::GroupNotFound(g) => StorageError::GroupNotFound(g).into(),
        EngineError::InvalidArgument(m) => ServiceError::invalid(m),
        EngineError::Storage(e) => match e.downcast::<StorageError>() {
            Ok(s) => (*s).into(),
            Err(e) => ServiceError::Internal(e.to_string()),
        },
        other => ServiceError::Internal(other.to_string()),
    }
}

/// Runs `f` on `state` (the service, the Watch side, the query manager) on a blocking thread:
/// storage and engine calls never run on the runtime's workers. Every front end (gRPC, HTTP)
/// and every service goes through this one helper.
pub async fn on_blocking_thread<S, T>(
    state: Arc<S>,
    f: impl FnOnce(&S) -> Result<T> + Send + 'static,
) -> Result<T>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| ServiceError::Internal(format!("blocking task failed: {e}")))?
}
