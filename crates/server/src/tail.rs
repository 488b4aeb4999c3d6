//! Live tail with CloudWatch's StartLiveTail semantics.
//!
//! The service publishes each batch after it is durable to a bounded broadcast channel per group
//! ([`TailHub`]). A session ([`start`]) filters what its groups publish and, once per update
//! interval, closes an update of at most 500 events: a uniform random sample when more matched,
//! so a burst costs a session bounded work and the client a bounded read. Closed updates wait
//! in a queue of at most 10 updates or 5,000 events; a client that reads too slowly loses the
//! oldest ones and is told how many events it lost, so it always sees the newest events.
//! [`SessionBuffer`] holds that sampling and queueing, free of tokio so it is tested directly.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use logsight_model::{LogEvent, LogGroupName, LogStreamName, ModelError};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{StreamExt, StreamMap};

use crate::error::ServiceError;
use crate::filter::{self, Matcher};

/// One durable batch, as tail subscribers see it.
#[derive(Debug)]
pub struct Appended {
    /// Group.
    pub group: String,
    /// Stream.
    pub stream: String,
    /// The events.
    pub events: Vec<LogEvent>,
}

/// Batches buffered per group for a session before it starts skipping. Sessions read their
/// channels continuously (a slow client backs up the session's own queue, not this), so only a
/// starved session task ever skips.
const CAPACITY: usize = 256;

/// The fan-out of appended events, one broadcast channel per group with subscribers.
#[derive(Debug, Default)]
pub struct TailHub {
    groups: Mutex<HashMap<String, broadcast::Sender<Arc<Appended>>>>,
}

impl TailHub {
    /// Subscribes to a group's appends.
    pub fn subscribe(&self, group: &str) -> broadcast::Receiver<Arc<Appended>> {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.entry(group.to_owned()).or_insert_with(|| broadcast::channel(CAPACITY).0).subscribe()
    }

    /// Ends the sessions following a deleted group: their subscriptions close once they have
    /// read what was published before, and each session ends with ResourceNotFoundException.
    pub fn end_group(&self, group: &str) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.remove(group);
    }

    /// Publishes a durable batch to the group's subscribers, if it has any.
    pub fn publish(&self, group: &str, stream: &str, events: Vec<LogEvent>) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = groups.get(group) else { return };
        if tx.receiver_count() == 0 {
            groups.remove(group);
            return;
        }
        let batch = Appended { group: group.into(), stream: stream.into(), events };
        let _ = tx.send(Arc::new(batch));
    }
}

/// Most groups one session may follow.
pub const MAX_GROUPS: usize = 10;

/// Which streams of its (single) group a session follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFilter {
    /// Every stream.
    All,
    /// Streams with exactly these names.
    Names(Vec<LogStreamName>),
    /// Streams whose names start with one of these.
    Prefixes(Vec<String>),
}

/// A validated StartLiveTail request.
#[derive(Debug, Clone)]
pub struct TailSpec {
    /// The groups, 1 to [`MAX_GROUPS`], each once.
    pub groups: Vec<LogGroupName>,
    /// The streams followed.
    pub streams: StreamFilter,
    /// The filter pattern as given.
    pub pattern: String,
    matcher: Matcher,
}

impl TailSpec {
    /// Checks a request against CloudWatch's rules: 1 to 10 groups, stream names or prefixes
    /// (not both) only with one group, a valid filter pattern.
    pub fn new(
        groups: Vec<String>,
        stream_names: Vec<String>,
        stream_prefixes: Vec<String>,
        pattern: String,
    ) -> Result<Self, ServiceError> {
        if groups.is_empty() || groups.len() > MAX_GROUPS {
            return Err(ServiceError::invalid(format!(
                "log_group_names holds {} names: must be 1 to {MAX_GROUPS}",
                groups.len()
            )));
        }
        let groups = groups.into_iter().map(LogGroupName::new).collect::<Result<Vec<_>, _>>()?;
        let mut seen = HashSet::new();
        if let Some(twice) = groups.iter().find(|g| !seen.insert(g.as_str())) {
            return Err(ServiceError::invalid(format!(
                "log_group_names holds {:?} more than once",
                twice.as_str()
            )));
        }
        let streams = match (stream_names.is_empty(), stream_prefixes.is_empty()) {
            (true, true) => StreamFilter::All,
            (false, false) => {
                return Err(ServiceError::invalid(
                    "give log_stream_names or log_stream_name_prefixes, not both",
                ));
            }
            (false, true) => StreamFilter::Names(
                stream_names.into_iter().map(LogStreamName::new).collect::<Result<_, _>>()?,
            ),
            (true, false) => {
                for p in &stream_prefixes {
                    // A prefix obeys the rules of the names it selects.
                    if let Err(ModelError::InvalidStreamName { name, rule }) =
                        LogStreamName::new(p.as_str())
                    {
                        return Err(ServiceError::invalid(format!(
                            "invalid log stream name prefix {name:?}: {rule}"
                        )));
                    }
                }
                StreamFilter::Prefixes(stream_prefixes)
            }
        };
        if groups.len() > 1 {
            let field = match streams {
                StreamFilter::All => None,
                StreamFilter::Names(_) => Some("log_stream_names"),
                StreamFilter::Prefixes(_) => Some("log_stream_name_prefixes"),
            };
            if let Some(field) = field {
                return Err(ServiceError::invalid(format!(
                    "{field} can only be given with exactly one log group"
                )));
            }
        }
        let matcher = filter::compile(&pattern)?;
        Ok(TailSpec { groups, streams, pattern, matcher })
    }

    /// Whether the session follows `stream`.
    pub fn follows_stream(&self, stream: &str) -> bool {
        match &self.streams {
            StreamFilter::All => true,
            StreamFilter::Names(names) => names.iter().any(|n| n.as_str() == stream),
            StreamFilter::Prefixes(prefixes) => prefixes.iter().any(|p| stream.starts_with(p)),
        }
    }

    /// Whether `message` matches the filter pattern.
    pub fn matches(&self, message: &str) -> bool {
        self.matcher.matches(message)
    }

    /// The stream names and the stream prefixes followed (at most one list is not empty), as
    /// the session's start message lists them.
    pub fn listed_streams(&self) -> (Vec<String>, Vec<String>) {
        match &self.streams {
            StreamFilter::All => (vec![], vec![]),
            StreamFilter::Names(n) => (n.iter().map(|n| n.to_string()).collect(), vec![]),
            StreamFilter::Prefixes(p) => (vec![], p.clone()),
        }
    }
}

/// One matched event, as a session delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailEvent {
    /// Group.
    pub group: String,
    /// Stream.
    pub stream: String,
    /// Event time, epoch ms.
    pub timestamp: i64,
    /// When the server stored it, epoch ms.
    pub ingestion_time: i64,
    /// The message.
    pub message: String,
}

/// What matched during one update interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// At most [`Limits::results_per_update`] events, in the order they were appended.
    pub events: Vec<TailEvent>,
    /// The events are only part of what matched: a uniform random sample because more matched
    /// than fit, or the fan-out skipped batches.
    pub sampled: bool,
    /// Events of updates dropped since the previous update delivered, because the client read
    /// too slowly.
    pub dropped_events: u64,
}

/// A session's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most events in one update.
    pub results_per_update: usize,
    /// Most closed updates waiting for the client.
    pub queued_updates: usize,
    /// Most events in the updates waiting for the client.
    pub queued_events: usize,
}

impl Limits {
    /// CloudWatch's: 500 events per update; 10 updates or 5,000 events buffered.
    pub const CLOUDWATCH: Limits =
        Limits { results_per_update: 500, queued_updates: 10, queued_events: 5000 };
}

/// A session's sampling and queueing: events are offered as they match, an update is closed
/// each interval, and updates are taken as the client can receive them.
#[derive(Debug)]
pub struct SessionBuffer {
    limits: Limits,
    rng: SmallRng,
    /// The reservoir of the open interval, each event with its arrival number.
    sample: Vec<(u64, TailEvent)>,
    /// Events offered in the open interval.
    matched: u64,
    /// The fan-out skipped batches during the open interval.
    skipped: bool,
    queue: VecDeque<Update>,
    queued_events: usize,
    /// Events dropped from the queue and not yet reported.
    dropped: u64,
}

impl SessionBuffer {
    /// An empty buffer whose sampling draws from a generator seeded with `seed`.
    pub fn new(limits: Limits, seed: u64) -> Self {
        SessionBuffer {
            limits,
            rng: SmallRng::seed_from_u64(seed),
            sample: Vec::new(),
            matched: 0,
            skipped: false,
            queue: VecDeque::new(),
            queued_events: 0,
            dropped: 0,
        }
    }

    /// Offers a matched event to the open interval. Reservoir sampling (Algorithm R) keeps every
    /// offered event in the update with equal probability; `event` is only built for events
    /// that are kept, which keeps a burst cheap.
    pub fn offer(&mut self, event: impl FnOnce() -> TailEvent) {
        let n = self.matched;
        self.matched += 1;
        let max = self.limits.results_per_update;
        if self.sample.len() < max {
            self.sample.push((n, event()));
        } else {
            let j = self.rng.random_range(0..=n);
            if let Some(slot) = usize::try_from(j).ok().and_then(|j| self.sample.get_mut(j)) {
                *slot = (n, event());
            }
        }
    }

    /// Notes that the fan-out skipped batches, so the open interval's update is incomplete.
    pub fn skipped(&mut self) {
        self.skipped = true;
    }

    /// Closes the open interval into an update (empty when nothing matched) and queues it,
    /// dropping the oldest queued updates beyond the limits.
    pub fn close_interval(&mut self) {
        let mut sample = std::mem::take(&mut self.sample);
        sample.sort_unstable_by_key(|(n, _)| *n);
        let update = Update {
            sampled: self.skipped || self.matched > sample.len() as u64,
            events: sample.into_iter().map(|(_, e)| e).collect(),
            dropped_events: 0,
        };
        self.matched = 0;
        self.skipped = false;
        self.queued_events += update.events.len();
        self.queue.push_back(update);
        while self.queue.len() > self.limits.queued_updates
            || self.queued_events > self.limits.queued_events
        {
            let Some(old) = self.queue.pop_front() else { break };
            self.queued_events -= old.events.len();
            self.dropped += old.events.len() as u64;
        }
    }

    /// Whether a closed update is waiting.
    pub fn has_update(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The oldest waiting update, carrying the count of events dropped before it.
    pub fn next_update(&mut self) -> Option<Update> {
        let mut update = self.queue.pop_front()?;
        self.queued_events -= update.events.len();
        update.dropped_events = std::mem::take(&mut self.dropped);
        Some(update)
    }
}

/// How often sessions send updates and how long they last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Time between updates; CloudWatch's is 1 s.
    pub update_interval: Duration,
    /// Session length; CloudWatch's is 3 h.
    pub timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { update_interval: Duration::from_secs(1), timeout: Duration::from_secs(3 * 3600) }
    }
}

/// What a session sends after its start.
#[derive(Debug)]
pub enum SessionMessage {
    /// One interval's update.
    Update(Update),
    /// The session is over (it timed out); the last message.
    End(ServiceError),
}

/// A fresh random identifier in the UUID text form, for request and session ids.
pub fn new_id() -> String {
    let v: u128 = rand::random();
    let h = format!("{v:032x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Starts a session: subscribes to its groups now (so every batch published after this returns
/// is seen) and runs it on a task that ends on timeout, when the client goes away, or when
/// `stopping` turns true. The receiver yields its updates, then its end.
pub fn start(
    hub: &TailHub,
    spec: TailSpec,
    session_id: String,
    timing: Timing,
    stopping: watch::Receiver<bool>,
) -> mpsc::Receiver<SessionMessage> {
    let mut subs = StreamMap::new();
    for g in &spec.groups {
        // A subscription closes only when its group is deleted ([`TailHub::end_group`]); the
        // `None` after its last batch says so.
        let batches = BroadcastStream::new(hub.subscribe(g.as_str())).map(Some);
        let sub: Subscription = Box::pin(batches.chain(tokio_stream::once(None)));
        subs.insert(g.as_str().to_owned(), sub);
    }
    // One slot: the session's own queue is where a slow client's backlog waits and is trimmed.
    let (tx, rx) = mpsc::channel(1);
    let buffer = SessionBuffer::new(Limits::CLOUDWATCH, rand::random());
    tokio::spawn(run(spec, session_id, subs, buffer, timing, tx, stopping));
    rx
}

/// A started session, as its first message describes it.
#[derive(Debug)]
pub struct Session {
    /// The StartLiveTail request's id.
    pub request_id: String,
    /// The session's id.
    pub session_id: String,
    /// What it follows.
    pub spec: TailSpec,
    /// Its updates, then its end.
    pub messages: mpsc::Receiver<SessionMessage>,
}

/// StartLiveTail on either front end: starts a session ([`start`]) on the service's fan-out,
/// then checks that every group exists. Checked once subscribed, so a group deleted before the
/// check is refused and one deleted after it ends the session: no session outlives its group.
pub async fn open(
    service: Arc<crate::service::Service>,
    spec: TailSpec,
    timing: Timing,
    stopping: watch::Receiver<bool>,
) -> Result<Session, ServiceError> {
    let session_id = new_id();
    let messages = start(service.hub(), spec.clone(), session_id.clone(), timing, stopping);
    let groups: Vec<String> = spec.groups.iter().map(|g| g.to_string()).collect();
    crate::service::on_blocking_thread(service, move |s| {
        // The retention lookup is the catalog-only existence check.
        for g in &groups {
            s.store().retention_days(g)?;
        }
        Ok(())
    })
    .await?;
    Ok(Session { request_id: new_id(), session_id, spec, messages })
}

/// A session's feed from one group: batches, then `None` if the group is deleted.
type Subscription = std::pin::Pin<
    Box<
        dyn tokio_stream::Stream<Item = Option<Result<Arc<Appended>, BroadcastStreamRecvError>>>
            + Send,
    >,
>;

async fn run(
    spec: TailSpec,
    session_id: String,
    mut subs: StreamMap<String, Subscription>,
    mut buffer: SessionBuffer,
    timing: Timing,
    tx: mpsc::Sender<SessionMessage>,
    mut stopping: watch::Receiver<bool>,
) {
    // tokio's interval panics on zero.
    let period = timing.update_interval.max(Duration::from_millis(1));
    let began = Instant::now();
    let mut ticks = tokio::time::interval_at(began + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = tokio::time::sleep_until(began + timing.timeout);
    tokio::pin!(deadline);
    let end = loop {
        tokio::select! {
            _ = stopping.wait_for(|s| *s) => return,
            _ = &mut deadline => break ServiceError::SessionTimeout(format!(
                "live tail session {session_id} reached the maximum session duration of {}; \
                 start a new session to go on",
                human(timing.timeout)
            )),
            permit = tx.reserve(), if buffer.has_update() => match permit {
                Ok(permit) => {
                    if let Some(u) = buffer.next_update() {
                        permit.send(SessionMessage::Update(u));
                    }
                }
                Err(_) => return,
            },
            _ = tx.closed(), if !buffer.has_update() => return,
            _ = ticks.tick() => buffer.close_interval(),
            Some((group, got)) = subs.next() => match got {
                Some(Ok(batch)) => offer_batch(&spec, &mut buffer, &batch),
                Some(Err(BroadcastStreamRecvError::Lagged(n))) => {
                    tracing::warn!(%group, batches = n, session = %session_id,
                        "live tail session fell behind the fan-out; skipping");
                    buffer.skipped();
                }
                None => break ServiceError::NotFound(format!(
                    "log group {:?} was deleted; live tail session {session_id} ended",
                    crate::error::shown(&group)
                )),
            },
        }
    };
    // Ended: deliver the last partial interval and what is still queued, then the status.
    buffer.close_interval();
    let messages = std::iter::from_fn(|| buffer.next_update().map(SessionMessage::Update))
        .chain(std::iter::once(SessionMessage::End(end)));
    for m in messages {
        tokio::select! {
            sent = tx.send(m) => if sent.is_err() { return },
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}

fn offer_batch(spec: &TailSpec, buffer: &mut SessionBuffer, batch: &Appended) {
    if !spec.follows_stream(&batch.stream) {
        return;
    }
    for e in batch.events.iter().filter(|e| spec.matches(e.message())) {
        buffer.offer(|| TailEvent {
            group: batch.group.clone(),
            stream: batch.stream.clone(),
            timestamp: e.timestamp(),
            ingestion_time: e.ingestion_time(),
            message: e.message().to_owned(),
        });
    }
}

/// A duration in the largest whole unit that states it exactly: `3h`, `90s`, `1500ms`.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".into(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: usize) -> TailEvent {
        TailEvent {
            group: "g".into(),
            stream: "s".into(),
            timestamp: i as i64,
            ingestion_time: 0,
            message: i.to_string(),
        }
    }

    fn ids(u: &Update) -> Vec<i64> {
        u.events.iter().map(|e| e.timestamp).collect()
    }

    #[test]
    fn an_interval_within_the_limit_is_delivered_whole_and_in_order() {
        let mut b = SessionBuffer::new(Limits::CLOUDWATCH, 1);
        assert!(!b.has_update());
        for i in 0..500 {
            b.offer(|| ev(i));
        }
        b.close_interval();
        b.close_interval();
        let u = b.next_update().unwrap();
        assert_eq!(ids(&u), (0..500).collect::<Vec<_>>());
        assert!(!u.sampled);
        assert_eq!(b.next_update().unwrap(), Update::default(), "an idle interval is an update");
        assert_eq!(b.next_update(), None);
    }

    #[test]
    fn a_busy_interval_is_a_uniform_sample_in_arrival_order() {
        const RUNS: usize = 400;
        let mut hits = vec![0usize; 1000];
        for seed in 0..RUNS as u64 {
            let mut b = SessionBuffer::new(Limits::CLOUDWATCH, seed);
            for i in 0..1000 {
                b.offer(|| ev(i));
            }
            b.close_interval();
            let u = b.next_update().unwrap();
            assert!(u.sampled);
            let got = ids(&u);
            assert_eq!(got.len(), 500);
            assert!(got.windows(2).all(|w| w[0] < w[1]), "arrival order, no repeats");
            for i in got {
                hits[i as usize] += 1;
            }
        }
        // Each event is kept with probability 1/2: over 400 runs, 200 ± 30 (about 3 sigma)
        // per event, and the early and late halves alike.
        for (i, h) in hits.iter().enumerate() {
            assert!((140..=260).contains(h), "event {i} kept {h} times of {RUNS}");
        }
        let first: usize = hits[..500].iter().sum();
        let second: usize = hits[500..].iter().sum();
        assert!(first.abs_diff(second) < RUNS * 500 / 50, "{first} vs {second}");
    }

    #[test]
    fn only_kept_events_are_built() {
        let mut b = SessionBuffer::new(Limits::CLOUDWATCH, 7);
        let mut built = 0;
        for i in 0..100_000 {
            b.offer(|| {
                built += 1;
                ev(i)
            });
        }
        // 500 + Σ 500/n for n in 501..=100000, about 500 * (1 + ln 200) ≈ 3,150.
        assert!(built < 5000, "{built}");
    }

    #[test]
    fn a_slow_client_loses_the_oldest_updates_and_is_told() {
        let mut b = SessionBuffer::new(Limits::CLOUDWATCH, 1);
        for round in 0..13 {
            for i in 0..round {
                b.offer(|| ev(round * 100 + i));
            }
            b.close_interval();
        }
        // 13 updates of 0..=12 events; 10 fit, so those of 0, 1 and 2 events went.
        let u = b.next_update().unwrap();
        assert_eq!(u.dropped_events, 3);
        assert_eq!(ids(&u), (300..303).collect::<Vec<_>>());
        let rest: Vec<Update> = std::iter::from_fn(|| b.next_update()).collect();
        assert_eq!(rest.len(), 9);
        assert!(rest.iter().all(|u| u.dropped_events == 0), "reported once");
        b.close_interval();
        assert_eq!(b.next_update().unwrap().dropped_events, 0);
    }

    #[test]
    fn the_event_limit_also_drops_the_oldest() {
        let limits = Limits { results_per_update: 3, queued_updates: 10, queued_events: 5 };
        let mut b = SessionBuffer::new(limits, 1);
        for round in 0..3 {
            for i in 0..3 {
                b.offer(|| ev(round * 10 + i));
            }
            b.close_interval();
        }
        // 9 events queued over a limit of 5: the first two updates went.
        let u = b.next_update().unwrap();
        assert_eq!((ids(&u), u.dropped_events), (vec![20, 21, 22], 6));
        assert!(!b.has_update());
    }

    #[test]
    fn skipped_batches_mark_the_update_sampled() {
        let mut b = SessionBuffer::new(Limits::CLOUDWATCH, 1);
        b.offer(|| ev(1));
        b.skipped();
        b.close_interval();
        b.close_interval();
        assert!(b.next_update().unwrap().sampled);
        assert!(!b.next_update().unwrap().sampled, "only the interval that skipped");
    }

    fn spec(groups: &[&str], names: &[&str], prefixes: &[&str], pattern: &str) -> String {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
        match TailSpec::new(v(groups), v(names), v(prefixes), pattern.into()) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn request_rules() {
        let eleven: Vec<String> = (0..11).map(|i| format!("g{i}")).collect();
        let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
        assert_eq!(spec(&eleven[..10], &[], &[], ""), "ok");
        assert_eq!(spec(&eleven, &[], &[], ""), "log_group_names holds 11 names: must be 1 to 10");
        assert_eq!(spec(&[], &[], &[], ""), "log_group_names holds 0 names: must be 1 to 10");
        assert_eq!(spec(&["g", "g"], &[], &[], ""), "log_group_names holds \"g\" more than once");
        assert!(spec(&["aws/x"], &[], &[], "").starts_with("invalid log group name \"aws/x\""));
        assert_eq!(
            spec(&["g"], &["a"], &["b"], ""),
            "give log_stream_names or log_stream_name_prefixes, not both"
        );
        assert_eq!(
            spec(&["g", "h"], &["a"], &[], ""),
            "log_stream_names can only be given with exactly one log group"
        );
        assert_eq!(
            spec(&["g", "h"], &[], &["a"], ""),
            "log_stream_name_prefixes can only be given with exactly one log group"
        );
        assert!(spec(&["g"], &["a:b"], &[], "").starts_with("invalid log stream name \"a:b\""));
        assert!(
            spec(&["g"], &[], &[""], "")
                .starts_with("invalid log stream name prefix \"\": must not be empty")
        );
        assert!(spec(&["g"], &[], &[], "%(a)%").starts_with("invalid filter pattern"));
        assert_eq!(spec(&["g"], &["a", "b"], &[], "ERROR"), "ok");
    }

    #[test]
    fn streams_and_pattern_select_events() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
        let s = TailSpec::new(v(&["g"]), vec![], v(&["web-", "api"]), "ERROR".into()).unwrap();
        assert!(s.follows_stream("web-1") && s.follows_stream("api") && !s.follows_stream("db"));
        assert!(s.matches("an ERROR here") && !s.matches("fine"));
        let s = TailSpec::new(v(&["g"]), v(&["web-1"]), vec![], String::new()).unwrap();
        assert!(s.follows_stream("web-1") && !s.follows_stream("web-10"));
        assert!(s.matches("anything"));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(human(Duration::from_secs(90)), "90s");
        assert_eq!(human(Duration::from_secs(120)), "2m");
        assert_eq!(human(Duration::from_millis(1500)), "1500ms");
        let id = new_id();
        assert_eq!((id.len(), id.matches('-').count()), (36, 4));
        assert_ne!(id, new_id());
    }
}
