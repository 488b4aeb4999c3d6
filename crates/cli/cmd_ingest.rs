//! `logsight ingest`: ship files or stdin to a server, like the CloudWatch agent.
//!
//! A reader thread parses lines (the same formats as `import`) and cuts batches at the
//! PutLogEvents limits (sorted by timestamp, at most 24 h each); one sender task per stream
//! sends them concurrently with retries and backoff on UNAVAILABLE / RESOURCE_EXHAUSTED.
//! With `--follow` one file is tailed as it grows, as an idempotent producer: the pending lines
//! of every stream are cut into batches at one file offset, which is each batch's sequence
//! number, and the batches are sent one at a time through IngestStream tagged with a producer
//! id kept in the state file. Before a group of batches is sent, the state file records its cut
//! offset; once all are acknowledged, it records that offset as done. A restart after a kill
//! cuts the same lines at the same offset again, so a batch the server had acknowledged
//! comes back as a duplicate and is skipped: no line is lost or stored twice.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use logsight_model::LogEvent;
use logsight_model::limits::{
    EVENT_OVERHEAD_BYTES, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_BATCH_SPAN_MS,
};
use logsight_proto::v1 as pb;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::client::{Client, DEFAULT_ENDPOINT, ENDPOINT_ENV, connect, runtime, with_retry};
use crate::common::{count, now_ms};
use crate::lines::{InputArgs, ParsedEvent, looks_binary, open_inputs, parse_line};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Server endpoint (http://HOST:PORT or HOST:PORT).
    #[arg(long, env = ENDPOINT_ENV, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(flatten)]
    input: InputArgs,
    /// Create missing log groups and streams.
    #[arg(long)]
    create: bool,
    /// Keep following the (single) file as it grows, until Ctrl-C. The state file keeps the
    /// offset of acknowledged lines and a producer id, so a restart (even after kill -9)
    /// neither loses nor repeats a line.
    #[arg(long)]
    follow: bool,
    /// State file for --follow. Default: FILE.logsight-offset beside the file.
    #[arg(long)]
    state_file: Option<PathBuf>,
}

/// One batch ready to send.
#[derive(Debug)]
struct Batch {
    group: String,
    stream: String,
    events: Vec<pb::InputLogEvent>,
    /// For --follow: the file offset at which this batch's group was cut (past the last line
    /// of every batch in it), which is the batch's sequence number.
    cut: Option<u64>,
    /// For --follow: the group's last batch, after which the cut offset is done.
    closes_group: bool,
}

/// Counters shared by the reader, the senders and the progress display.
#[derive(Debug, Default)]
struct Totals {
    read: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    rejected: AtomicU64,
    /// Of the rejected: older than 14 days, past the group's retention, more than 2 h ahead.
    too_old: AtomicU64,
    expired: AtomicU64,
    too_new: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    /// Lines kept with U+FFFD for bytes that were not UTF-8.
    lossy: AtomicU64,
    /// Lines in which --timestamp-format found no time.
    undated: AtomicU64,
    /// Batches the server had stored already (resent after a restart).
    duplicates: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Totals {
    /// Counts a batch of `n` events that was stored (some perhaps rejected by the server's
    /// rules), or that failed after its retries. Returns whether it was acknowledged.
    fn record(
        &self,
        n: usize,
        outcome: Result<Option<&pb::RejectedLogEventsInfo>, tonic::Status>,
        group: &str,
        stream: &str,
    ) -> bool {
        match outcome {
            Ok(info) => {
                let r = Rejected::of(n, info);
                let rejected = r.total();
                self.acked.fetch_add(n as u64 - rejected, Ordering::Relaxed);
                self.rejected.fetch_add(rejected, Ordering::Relaxed);
                self.too_old.fetch_add(r.too_old, Ordering::Relaxed);
                self.expired.fetch_add(r.expired, Ordering::Relaxed);
                self.too_new.fetch_add(r.too_new, Ordering::Relaxed);
                true
            }
            Err(s) => {
                self.fail(n as u64, format!("{group}/{stream}: {}", s.message()));
                false
            }
        }
    }

    /// Counts a line that could not be read as an event, showing the first few.
    fn skip(&self, at: &str, why: &str, progress: Option<&indicatif::ProgressBar>) {
        if self.skipped.fetch_add(1, Ordering::Relaxed) < SHOWN_SKIPPED {
            let line = format!("{at}: skipped: {why}");
            match progress {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
    }

    /// `rejected N (A too old, B too new, C expired)`, naming only the reasons that occurred.
    fn rejected_summary(&self) -> String {
        let n = self.rejected.load(Ordering::Relaxed);
        let reasons: Vec<String> = [
            (self.too_old.load(Ordering::Relaxed), "too old"),
            (self.too_new.load(Ordering::Relaxed), "too new"),
            (self.expired.load(Ordering::Relaxed), "expired"),
        ]
        .iter()
        .filter(|(k, _)| *k > 0)
        .map(|(k, why)| format!("{k} {why}"))
        .collect();
        if reasons.is_empty() {
            format!("rejected {n}")
        } else {
            format!("rejected {n} ({})", reasons.join(", "))
        }
    }

    fn fail(&self, events: u64, why: String) {
        self.failed.fetch_add(events, Ordering::Relaxed);
        let mut e = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if e.is_none() {
            *e = Some(why);
        }
    }
}

/// One stream's events waiting for a batch.
#[derive(Default)]
struct Pending {
    events: Vec<(i64, String)>,
    bytes: usize,
    min_ts: i64,
    max_ts: i64,
}

impl Pending {
    /// Whether one more event of `size` bytes would break the count or byte limit.
    fn over_limits(&self, size: usize) -> bool {
        self.events.len() >= MAX_BATCH_EVENTS || self.bytes + size > MAX_BATCH_BYTES
    }

    /// Whether an event of `size` bytes at `ts` would break a batch limit.
    fn full_for(&self, size: usize, ts: i64) -> bool {
        !self.events.is_empty()
            && (self.over_limits(size)
                || self.max_ts.max(ts) - self.min_ts.min(ts) > MAX_BATCH_SPAN_MS)
    }
}

/// Events waiting per stream, cut into batches at the API's limits.
#[derive(Default)]
struct Batcher {
    pending: HashMap<(String, String), Pending>,
}

impl Batcher {
    fn push(
        &mut self,
        group: String,
        stream: String,
        event: LogEvent,
        out: &mut impl FnMut(Batch),
    ) {
        let size = event.message().len() + EVENT_OVERHEAD_BYTES;
        let key = (group, stream);
        let ts = event.timestamp();
        if self.pending.get(&key).is_some_and(|p| p.over_limits(size)) {
            self.flush_one(&key, None, false, out);
        }
        let p = self.pending.entry(key).or_default();
        if p.events.is_empty() {
            (p.min_ts, p.max_ts) = (ts, ts);
        }
        p.events.push((ts, event.into_message()));
        p.bytes += size;
        (p.min_ts, p.max_ts) = (p.min_ts.min(ts), p.max_ts.max(ts));
    }

    /// Whether adding an event of `size` bytes at `ts` to the stream's batch would break a
    /// limit (count, bytes or the 24 h span), so the batch must be cut first.
    fn would_cut(&self, group: &str, stream: &str, size: usize, ts: i64) -> bool {
        let key = (group.to_owned(), stream.to_owned());
        self.pending.get(&key).is_some_and(|p| p.full_for(size, ts))
    }

    fn flush_one(
        &mut self,
        key: &(String, String),
        cut: Option<u64>,
        closes_group: bool,
        out: &mut impl FnMut(Batch),
    ) {
        let Some(Pending { mut events, .. }) = self.pending.remove(key) else { return };
        events.sort_by_key(|e| e.0);
        // Cut where the span would pass 24 h.
        let mut chunks: Vec<Vec<(i64, String)>> = Vec::new();
        for e in events {
            match chunks.last_mut() {
                Some(c) if e.0 - c[0].0 <= MAX_BATCH_SPAN_MS => c.push(e),
                _ => chunks.push(vec![e]),
            }
        }
        let n = chunks.len();
        for (i, c) in chunks.into_iter().enumerate() {
            out(Batch {
                group: key.0.clone(),
                stream: key.1.clone(),
                events: c
                    .into_iter()
                    .map(|(timestamp, message)| pb::InputLogEvent { timestamp, message })
                    .collect(),
                cut,
                closes_group: closes_group && i + 1 == n,
            });
        }
    }

    /// Cuts every stream's pending events at once; with `cut`, they form one group.
    fn flush_all(&mut self, cut: Option<u64>, out: &mut impl FnMut(Batch)) {
        let mut keys: Vec<_> = self.pending.keys().cloned().collect();
        keys.sort();
        let n = keys.len();
        for (i, k) in keys.iter().enumerate() {
            self.flush_one(k, cut, i + 1 == n, out);
        }
    }
}

/// Malformed lines shown one by one; the rest are counted.
const SHOWN_SKIPPED: u64 = 20;

/// Why the server rejected some of a batch's events (PutLogEvents' `rejectedLogEventsInfo`:
/// the sorted batch's first events too old or expired, its last ones too new).
#[derive(Debug, Default, PartialEq, Eq)]
struct Rejected {
    too_old: u64,
    expired: u64,
    too_new: u64,
}

impl Rejected {
    fn of(n: usize, info: Option<&pb::RejectedLogEventsInfo>) -> Self {
        let Some(r) = info else { return Self::default() };
        let n = n as i64;
        let too_old = i64::from(r.too_old_log_event_end_index.unwrap_or(0)).clamp(0, n);
        // Expired events past the too-old ones (an event both too old and expired counts once).
        let expired =
            (i64::from(r.expired_log_event_end_index.unwrap_or(0)).clamp(0, n) - too_old).max(0);
        let too_new = r
            .too_new_log_event_start_index
            .map_or(0, |i| n - i64::from(i).clamp(0, n))
            .min(n - too_old - expired);
        Self { too_old: too_old as u64, expired: expired as u64, too_new: too_new as u64 }
    }

    fn total(&self) -> u64 {
        self.too_old + self.expired + self.too_new
    }
}

/// Creates the group and stream unless they exist.
async fn ensure(client: &mut Client, group: &str, stream: &str) -> Result<(), tonic::Status> {
    let exists = |s: &tonic::Status| s.code() == tonic::Code::AlreadyExists;
    let g = group.to_owned();
    match with_retry(8, || {
        let mut c = client.clone();
        let g = g.clone();
        async move { c.create_log_group(pb::CreateLogGroupRequest { log_group_name: g }).await }
    })
    .await
    {
        Err(s) if !exists(&s) => return Err(s),
        _ => {}
    }
    match with_retry(8, || {
        let mut c = client.clone();
        let (g, s) = (group.to_owned(), stream.to_owned());
        async move {
            c.create_log_stream(pb::CreateLogStreamRequest {
                log_group_name: g,
                log_stream_name: s,
            })
            .await
        }
    })
    .await
    {
        Err(s) if !exists(&s) => Err(s),
        _ => Ok(()),
    }
}

/// Sends one batch with retries; records the outcome. Returns whether it was acknowledged.
async fn send(client: &Client, totals: &Totals, batch: Batch) -> bool {
    let n = batch.events.len();
    totals.sent.fetch_add(n as u64, Ordering::Relaxed);
    let req = pb::PutLogEventsRequest {
        log_group_name: batch.group,
        log_stream_name: batch.stream,
        log_events: batch.events,
        sequence_token: None,
    };
    let res = with_retry(30, || {
        let mut c = client.clone();
        let req = req.clone();
        async move { c.put_log_events(req).await }
    })
    .await;
    let outcome = res.as_ref().map(|r| r.get_ref().rejected_log_events_info.as_ref());
    totals.record(n, outcome.map_err(Clone::clone), &req.log_group_name, &req.log_stream_name)
}

/// One sender per stream: creates it if asked, then sends its batches in order.
async fn stream_sender(
    client: Client,
    totals: Arc<Totals>,
    create: bool,
    mut rx: mpsc::Receiver<Batch>,
) {
    let mut client = client;
    let mut ready = !create;
    while let Some(batch) = rx.recv().await {
        if !ready {
            if let Err(s) = ensure(&mut client, &batch.group, &batch.stream).await {
                totals.fail(batch.events.len() as u64, s.message().to_owned());
                continue;
            }
            ready = true;
        }
        send(&client, &totals, batch).await;
    }
}

/// The server's refusal in an IngestStream acknowledgement, as the status a unary call
/// would have failed with, so [`with_retry`] treats both alike.
fn ack_status(ack: &pb::IngestStreamResponse) -> tonic::Status {
    let mut status = tonic::Status::new(ack.error_code.into(), ack.error_message.clone());
    if let Some(ms) = ack.retry_after_ms
        && let Ok(v) = ms.to_string().parse()
    {
        status.metadata_mut().insert(logsight_server::error::RETRY_AFTER_MS, v);
    }
    status
}

/// Sends one batch of `--follow` through IngestStream as `sequence` of `producer`, with
/// retries; a resend the server had stored already is acknowledged as a duplicate. Returns
/// whether it was acknowledged.
async fn send_idempotent(
    client: &Client,
    totals: &Totals,
    batch: Batch,
    producer: &str,
    sequence: u64,
) -> bool {
    let n = batch.events.len();
    totals.sent.fetch_add(n as u64, Ordering::Relaxed);
    let req = pb::IngestStreamRequest {
        batch_id: sequence,
        log_group_name: batch.group,
        log_stream_name: batch.stream,
        log_events: batch.events,
        producer_id: producer.to_owned(),
        sequence,
    };
    let res = with_retry(30, || {
        let mut c = client.clone();
        let req = req.clone();
        async move {
            let mut acks = c.ingest_stream(tokio_stream::once(req)).await?.into_inner();
            let ack = acks.message().await?.ok_or_else(|| {
                tonic::Status::unavailable("the server ended the stream without acknowledging")
            })?;
            if ack.error_type.is_empty() { Ok(ack) } else { Err(ack_status(&ack)) }
        }
    })
    .await;
    if let Ok(ack) = &res
        && ack.duplicate
    {
        totals.duplicates.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    let outcome = res.as_ref().map(|ack| ack.rejected_log_events_info.as_ref());
    totals.record(n, outcome.map_err(Clone::clone), &req.log_group_name, &req.log_stream_name)
}

/// The `--follow` state file. Files written before idempotent ingest hold only `file` and
/// `offset`; they still load, and get a new producer id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FollowState {
    file: String,
    /// Where the lines whose batches are all acknowledged end.
    offset: u64,
    /// This file's producer id: random, new whenever reading starts over at offset 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    producer_id: Option<String>,
    /// The cut offset of the group being sent, if any: a restart cuts the lines from `offset`
    /// at exactly this offset again, so the resent batches carry the same sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sending: Option<u64>,
    /// The file's inode, to notice that it was replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inode: Option<u64>,
}

/// A fresh producer id: a random (v4) UUID as 32 hex digits.
fn new_producer_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.ino())
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> Option<u64> {
    None
}

/// Replaces the state file atomically, so a kill leaves the old or the new state, never a
/// torn one: a uniquely named temporary file in the same directory (never a name a user's
/// file may have), written, synced, then renamed over the state file.
fn save_state(path: &Path, state: &FollowState) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".logsight-state-")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(&serde_json::to_vec(state)?)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Loads the state file, if any.
fn load_state(path: &Path) -> Result<Option<FollowState>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("reading state file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Where to resume `file`: the saved state if it still describes this file, else a fresh
/// start at offset 0 with a new producer id (the file was truncated or replaced, or there is
/// no state yet).
fn resume_state(file: &str, saved: Option<FollowState>) -> FollowState {
    let meta = std::fs::metadata(file).ok();
    let fresh = |inode| FollowState {
        file: file.to_owned(),
        offset: 0,
        producer_id: Some(new_producer_id()),
        sending: None,
        inode,
    };
    let Some(meta) = meta else { return saved.unwrap_or_else(|| fresh(None)) };
    let now = inode(&meta);
    match saved {
        Some(s) if s.offset.max(s.sending.unwrap_or(0)) > meta.len() => {
            eprintln!(
                "{file} is shorter than the saved offset {}: it was truncated; starting over",
                s.offset
            );
            fresh(now)
        }
        Some(s) if s.inode.is_some() && s.inode != now => {
            eprintln!("{file} was replaced since the state was saved; starting over");
            fresh(now)
        }
        Some(s) => FollowState {
            producer_id: Some(s.producer_id.unwrap_or_else(new_producer_id)),
            inode: now,
            ..s
        },
        None => fresh(now),
    }
}

pub fn run(args: IngestArgs) -> Result<ExitCode> {
    args.input.validate()?;
    if args.follow && (args.input.files.len() != 1 || args.input.files[0] == "-") {
        bail!("--follow takes exactly one file (not stdin)");
    }
    let rt = runtime()?;
    let client = rt.block_on(connect(&args.endpoint))?;
    let totals = Arc::new(Totals::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    // Text from stdin or a followed file has no known size: a spinner; files get a bar.
    let size = if args.follow { None } else { known_size(&args.input.files) };
    let progress = crate::print::progress(size);
    let ticker = progress.clone().map(|bar| {
        let totals = totals.clone();
        rt.spawn(async move {
            loop {
                bar.set_message(format!(
                    "read {}  acknowledged {}  rejected {}",
                    totals.read.load(Ordering::Relaxed),
                    totals.acked.load(Ordering::Relaxed),
                    totals.rejected.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    {
        let stop = stop.clone();
        rt.spawn(async move {
            crate::cmd_serve::shutdown_signal().await;
            stop.store(true, Ordering::SeqCst);
        });
    }
    let result = if args.follow {
        run_follow(&rt, &args, client, totals.clone(), stop, progress.as_ref())
    } else {
        run_once(&rt, &args, client, totals.clone(), progress.as_ref())
    };
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    result?;
    let secs = started.elapsed().as_secs_f64();
    let t = &totals;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let (read, acked, failed, skipped) =
        (load(&t.read), load(&t.acked), load(&t.failed), load(&t.skipped));
    if skipped > SHOWN_SKIPPED {
        eprintln!("... and {} more skipped lines", skipped - SHOWN_SKIPPED);
    }
    let mut summary = format!(
        "read {} in {secs:.2}s ({:.0} events/s): acknowledged {acked}, {}, failed {failed}; skipped {}",
        count(read, "event"),
        read as f64 / secs.max(1e-9),
        t.rejected_summary(),
        count(skipped, "malformed line"),
    );
    let lossy = load(&t.lossy);
    if lossy > 0 {
        summary += &format!("; {} not valid UTF-8, kept with U+FFFD", count(lossy, "line"));
    }
    let undated = load(&t.undated);
    if undated > 0 {
        summary += &format!("; {} without a timestamp took the one before", count(undated, "line"));
    }
    println!("{summary}");
    if args.follow {
        // Resent after a restart and recognised by the server: neither stored nor counted above.
        println!("{} already stored, skipped", count(load(&t.duplicates), "batch"));
    }
    if let Some(e) = t.first_error.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        eprintln!("error: {e}");
        if !args.create && e.contains("does not exist") {
            eprintln!(
                "hint: create it first (`logsight groups create --group GROUP`, `logsight streams \
                 create --group GROUP --stream STREAM`), or pass --create to create missing \
                 groups and streams"
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    if read > 0 && acked == 0 && load(&t.duplicates) == 0 {
        eprintln!(
            "error: nothing was stored: the server rejected every event ({})",
            t.rejected_summary()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The files' total size, when every one is a regular file (not stdin).
fn known_size(files: &[String]) -> Option<u64> {
    files
        .iter()
        .map(|f| (f != "-").then(|| std::fs::metadata(f).ok().map(|m| m.len())).flatten())
        .sum()
}

fn run_once(
    rt: &tokio::runtime::Runtime,
    args: &IngestArgs,
    client: Client,
    totals: Arc<Totals>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<()> {
    let handle = rt.handle().clone();
    let mut inputs = open_inputs(&args.input.files, false)?;
    let ingestion = now_ms();
    let text_ts = args.input.timestamp.unwrap_or(ingestion);
    let mut senders: HashMap<(String, String), mpsc::Sender<Batch>> = HashMap::new();
    let mut tasks = Vec::new();
    let mut route = |b: Batch| {
        let key = (b.group.clone(), b.stream.clone());
        let tx = senders.entry(key).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(2);
            tasks.push(handle.spawn(stream_sender(
                client.clone(),
                totals.clone(),
                args.create,
                rx,
            )));
            tx
        });
        // Blocks the reader while this stream's sender is busy: bounded memory.
        let _ = tx.blocking_send(b);
    };
    let mut batcher = Batcher::default();
    args.input.for_each_event(&mut inputs, text_ts, ingestion, |at, parsed| {
        match parsed {
            Ok(Some(p)) => {
                totals.read.fetch_add(1, Ordering::Relaxed);
                totals.lossy.fetch_add(u64::from(p.replaced_invalid_utf8), Ordering::Relaxed);
                totals.undated.fetch_add(u64::from(at.undated), Ordering::Relaxed);
                batcher.push(p.group, p.stream, p.event, &mut route);
            }
            Ok(None) => {}
            Err(why) => totals.skip(&format!("{}:{}", at.label, at.lineno), &why, progress),
        }
        if let Some(bar) = progress
            && at.lineno % 1024 == 0
        {
            bar.set_position(at.bytes_done);
        }
        Ok(())
    })?;
    batcher.flush_all(None, &mut route);
    drop(senders);
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok(())
}

/// A `--follow` batch with the producer (and the file it reads) it belongs to.
struct Followed {
    batch: Batch,
    producer: Arc<str>,
    inode: Option<u64>,
}

fn run_follow(
    rt: &tokio::runtime::Runtime,
    args: &IngestArgs,
    client: Client,
    totals: Arc<Totals>,
    stop: Arc<AtomicBool>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<()> {
    let file = args.input.files[0].clone();
    let state_path =
        args.state_file.clone().unwrap_or_else(|| PathBuf::from(format!("{file}.logsight-offset")));
    let state = resume_state(&file, load_state(&state_path)?);
    let mut offset = state.offset;
    // Set after a restart that may have left a group half acknowledged: the lines up to it
    // are cut there again, and nowhere before.
    let mut replay_until = state.sending.filter(|&cut| cut > offset);
    let producer: Arc<str> = state.producer_id.clone().unwrap_or_else(new_producer_id).into();
    let current = std::cell::RefCell::new((producer, state.inode));
    let default_stream =
        args.input.stream.clone().unwrap_or_else(|| crate::lines::default_stream_name(&file));
    // One sender, one batch at a time: a later batch of a stream stored before an earlier one
    // would make the earlier one look like a duplicate.
    let (tx, mut rx) = mpsc::channel::<Followed>(2);
    let sender = {
        let (totals, state_path, create) = (totals.clone(), state_path.clone(), args.create);
        let mut st = state;
        let mut client = client;
        rt.spawn(async move {
            let mut ready: std::collections::HashSet<(String, String)> = Default::default();
            while let Some(Followed { batch, producer, inode }) = rx.recv().await {
                let cut = batch.cut.expect("--follow cuts every batch at an offset");
                if st.producer_id.as_deref() != Some(&*producer) {
                    // The reader started over on a truncated or replaced file.
                    st.producer_id = Some(producer.to_string());
                    (st.offset, st.sending, st.inode) = (0, None, inode);
                }
                if st.sending != Some(cut) {
                    st.sending = Some(cut);
                    if let Err(e) = save_state(&state_path, &st) {
                        totals.fail(0, format!("{e:#}"));
                        return;
                    }
                }
                let key = (batch.group.clone(), batch.stream.clone());
                if create && !ready.contains(&key) {
                    if let Err(s) = ensure(&mut client, &key.0, &key.1).await {
                        totals.fail(batch.events.len() as u64, s.message().to_owned());
                        return;
                    }
                    ready.insert(key);
                }
                let closes_group = batch.closes_group;
                if !send_idempotent(&client, &totals, batch, &producer, cut).await {
                    // Stop here: the state keeps the last acknowledged offset.
                    return;
                }
                if closes_group {
                    (st.offset, st.sending) = (cut, None);
                    if let Err(e) = save_state(&state_path, &st) {
                        totals.fail(0, format!("{e:#}"));
                        return;
                    }
                }
            }
        })
    };
    let mut batcher = Batcher::default();
    let mut route = |batch: Batch| {
        let (producer, inode) = current.borrow().clone();
        let _ = tx.blocking_send(Followed { batch, producer, inode });
    };
    // Reading starts over at offset 0 as a new producer: the old sequences mean nothing for
    // the new content.
    let start_over = |offset: &mut u64, replay_until: &mut Option<u64>, inode: Option<u64>| {
        *offset = 0;
        *replay_until = None;
        *current.borrow_mut() = (new_producer_id().into(), inode);
    };
    let mut reader: Option<BufReader<std::fs::File>> = None;
    let mut clock = args.input.clock();
    let mut line = Vec::new();
    let mut lineno = 0u64;
    while !stop.load(Ordering::SeqCst) && !sender.is_finished() {
        if reader.is_none() {
            match std::fs::File::open(&file) {
                Ok(mut f) => {
                    let meta = f.metadata().with_context(|| format!("reading {file}"))?;
                    let ino = inode(&meta);
                    let known = current.borrow().1;
                    if meta.len() < offset.max(replay_until.unwrap_or(0)) {
                        eprintln!(
                            "{file} is shorter than the saved offset {offset}: it was truncated; starting over"
                        );
                        start_over(&mut offset, &mut replay_until, ino);
                    } else if known.is_some() && known != ino {
                        eprintln!("{file} was replaced; starting over");
                        start_over(&mut offset, &mut replay_until, ino);
                    } else {
                        current.borrow_mut().1 = ino;
                    }
                    f.seek(SeekFrom::Start(offset)).with_context(|| format!("seeking {file}"))?;
                    let mut r = BufReader::with_capacity(1 << 20, f);
                    if offset == 0
                        && looks_binary(r.fill_buf().with_context(|| format!("reading {file}"))?)
                    {
                        bail!(
                            "{file} looks like a binary file (it holds NUL bytes): not reading it"
                        );
                    }
                    reader = Some(r);
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            }
        }
        let r = reader.as_mut().expect("opened above");
        line.clear();
        let n = r.read_until(b'\n', &mut line).with_context(|| format!("reading {file}"))?;
        if n == 0 || !line.ends_with(b"\n") {
            // At the end, or a line still being written: send what we have, then wait.
            if n > 0 {
                r.seek_relative(-(n as i64)).with_context(|| format!("seeking {file}"))?;
            }
            if replay_until.is_none() {
                batcher.flush_all(Some(offset), &mut route);
            }
            if let Ok(meta) = std::fs::metadata(&file) {
                let known = current.borrow().1;
                if meta.len() < offset || (known.is_some() && inode(&meta) != known) {
                    // Truncated or replaced: what is pending belongs to the old file.
                    batcher.flush_all(Some(offset), &mut route);
                    reader = None;
                    start_over(&mut offset, &mut replay_until, None);
                    continue;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let before = offset;
        offset += n as u64;
        lineno += 1;
        let now = now_ms();
        let stamp = clock.stamp(&line, args.input.timestamp.unwrap_or(now), now);
        if stamp.undated {
            totals.undated.fetch_add(1, Ordering::Relaxed);
        }
        match parse_line(
            &line,
            args.input.format,
            args.input.group.as_deref(),
            &default_stream,
            stamp.ms,
            now,
        ) {
            Ok(Some(ParsedEvent { group: g, stream: s, event: e, replaced_invalid_utf8 })) => {
                totals.read.fetch_add(1, Ordering::Relaxed);
                totals.lossy.fetch_add(u64::from(replaced_invalid_utf8), Ordering::Relaxed);
                // Cut every stream's batch at the line boundary, so each batch's sequence is
                // the offset it ends at.
                let size = e.message().len() + EVENT_OVERHEAD_BYTES;
                if batcher.would_cut(&g, &s, size, e.timestamp()) {
                    batcher.flush_all(Some(before), &mut route);
                }
                batcher.push(g, s, e, &mut route);
            }
            Ok(None) => {}
            Err(why) => totals.skip(&format!("{file}:{lineno}"), &why, progress),
        }
        if let Some(cut) = replay_until
            && offset >= cut
        {
            batcher.flush_all(Some(offset), &mut route);
            replay_until = None;
        }
    }
    // A group being replayed is left for the next run to cut at the same offset.
    if replay_until.is_none() {
        batcher.flush_all(Some(offset), &mut route);
    }
    drop(tx);
    rt.block_on(async {
        let _ = sender.await;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(offset: u64, sending: Option<u64>, inode: Option<u64>) -> FollowState {
        FollowState { file: "f".into(), offset, producer_id: Some("p".into()), sending, inode }
    }

    #[test]
    fn old_state_files_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, r#"{"file":"app.log","offset":42}"#).unwrap();
        let s = load_state(&path).unwrap().unwrap();
        assert_eq!((s.offset, s.producer_id, s.sending), (42, None, None));
        assert_eq!(load_state(&dir.path().join("none")).unwrap(), None);
    }

    #[test]
    fn resume_keeps_the_producer_unless_the_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("app.log");
        std::fs::write(&file, "a\nb\n").unwrap();
        let f = file.to_str().unwrap();
        let ino = inode(&std::fs::metadata(&file).unwrap());
        let same = resume_state(f, Some(state(2, Some(4), ino)));
        assert_eq!(
            (same.offset, same.sending, same.producer_id.as_deref()),
            (2, Some(4), Some("p"))
        );
        // Shorter than the offset or the group being sent: truncated.
        for s in [state(5, None, ino), state(2, Some(5), ino)] {
            let r = resume_state(f, Some(s));
            assert_eq!((r.offset, r.sending), (0, None));
            assert_ne!(r.producer_id.as_deref(), Some("p"));
        }
        if let Some(i) = ino {
            let r = resume_state(f, Some(state(2, None, Some(i + 1))));
            assert_eq!(r.offset, 0, "replaced");
        }
        // A state file without a producer gets one and keeps its offset.
        let old = FollowState { producer_id: None, ..state(2, None, None) };
        let r = resume_state(f, Some(old));
        assert_eq!(r.offset, 2);
        assert_eq!(r.producer_id.unwrap().len(), 32);
    }

    #[test]
    fn the_batcher_cuts_at_a_24_hour_span() {
        let mut b = Batcher::default();
        let ev = |ts| LogEvent::new(ts, ts, "x").unwrap();
        let mut out = Vec::new();
        b.push("g".into(), "s".into(), ev(0), &mut |x| out.push(x));
        assert!(!b.would_cut("g", "s", 30, MAX_BATCH_SPAN_MS));
        assert!(b.would_cut("g", "s", 30, MAX_BATCH_SPAN_MS + 1));
        assert!(b.would_cut("g", "s", 30, -1 - MAX_BATCH_SPAN_MS));
        assert!(!b.would_cut("g", "t", 30, MAX_BATCH_SPAN_MS + 1));
        b.flush_all(Some(9), &mut |x| out.push(x));
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].cut, out[0].closes_group), (Some(9), true));
    }
}
