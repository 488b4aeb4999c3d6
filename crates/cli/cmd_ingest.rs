//! `logsight ingest`: ship files or stdin to a server, like the CloudWatch agent.
//!
//! A reader thread parses lines (the same formats as `import`) and cuts batches at the
//! PutLogEvents limits (sorted by timestamp, at most 24 h each); one sender task per stream
//! sends them concurrently with retries and backoff on UNAVAILABLE / RESOURCE_EXHAUSTED.
//! With `--follow` one file is tailed as it grows: batches are sent in order by one sender,
//! and the file offset after each acknowledged batch is saved to a state file, so a restart
//! resumes exactly where the acknowledged data ends.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Seek, SeekFrom};
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

use crate::client::{Client, DEFAULT_ENDPOINT, connect, runtime, with_retry};
use crate::common::now_ms;
use crate::lines::{InputArgs, for_each_line, open_inputs, parse_line};

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Server endpoint.
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    endpoint: String,
    #[command(flatten)]
    input: InputArgs,
    /// Create missing log groups and streams.
    #[arg(long)]
    create: bool,
    /// Keep following the (single) file as it grows, until Ctrl-C, remembering the offset
    /// of acknowledged lines in the state file.
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
    /// For --follow: the file offset just past the batch's last line.
    end_offset: Option<u64>,
}

/// Counters shared by the reader, the senders and the progress display.
#[derive(Debug, Default)]
struct Totals {
    read: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Totals {
    fn fail(&self, events: u64, why: String) {
        self.failed.fetch_add(events, Ordering::Relaxed);
        let mut e = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if e.is_none() {
            *e = Some(why);
        }
    }
}

/// (group, stream) to its pending (timestamp, message) events and their batch bytes.
type Pending = HashMap<(String, String), (Vec<(i64, String)>, usize)>;

/// Events waiting per stream, cut into batches at the API's limits.
#[derive(Default)]
struct Batcher {
    pending: Pending,
}

impl Batcher {
    fn push(
        &mut self,
        group: String,
        stream: String,
        event: LogEvent,
        out: &mut impl FnMut(Batch),
    ) {
        let size = event.message.len() + EVENT_OVERHEAD_BYTES;
        let key = (group, stream);
        let full = self
            .pending
            .get(&key)
            .is_some_and(|(v, b)| v.len() >= MAX_BATCH_EVENTS || b + size > MAX_BATCH_BYTES);
        if full {
            self.flush_one(&key, None, out);
        }
        let (v, b) = self.pending.entry(key).or_default();
        v.push((event.timestamp, event.message));
        *b += size;
    }

    /// Whether adding an event of `size` bytes to the stream's batch would cut it first.
    fn would_cut(&self, group: &str, stream: &str, size: usize) -> bool {
        self.pending.iter().any(|((g, s), (v, b))| {
            g == group && s == stream && (v.len() >= MAX_BATCH_EVENTS || b + size > MAX_BATCH_BYTES)
        })
    }

    fn flush_one(
        &mut self,
        key: &(String, String),
        end_offset: Option<u64>,
        out: &mut impl FnMut(Batch),
    ) {
        let Some((mut events, _)) = self.pending.remove(key) else { return };
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
                end_offset: if i + 1 == n { end_offset } else { None },
            });
        }
    }

    fn flush_all(&mut self, end_offset: Option<u64>, out: &mut impl FnMut(Batch)) {
        let mut keys: Vec<_> = self.pending.keys().cloned().collect();
        keys.sort();
        let n = keys.len();
        for (i, k) in keys.iter().enumerate() {
            self.flush_one(k, if i + 1 == n { end_offset } else { None }, out);
        }
    }
}

fn rejected_count(n: usize, info: Option<&pb::RejectedLogEventsInfo>) -> u64 {
    let Some(r) = info else { return 0 };
    let old =
        r.too_old_log_event_end_index.unwrap_or(0).max(r.expired_log_event_end_index.unwrap_or(0));
    let new = r.too_new_log_event_start_index.map_or(0, |i| n as i64 - i64::from(i));
    (i64::from(old) + new).clamp(0, n as i64) as u64
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
    match res {
        Ok(r) => {
            let rejected = rejected_count(n, r.get_ref().rejected_log_events_info.as_ref());
            totals.acked.fetch_add(n as u64 - rejected, Ordering::Relaxed);
            totals.rejected.fetch_add(rejected, Ordering::Relaxed);
            true
        }
        Err(s) => {
            totals.fail(
                n as u64,
                format!("{}/{}: {}", req.log_group_name, req.log_stream_name, s.message()),
            );
            false
        }
    }
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

#[derive(Debug, Serialize, Deserialize)]
struct FollowState {
    file: String,
    offset: u64,
}

fn save_state(path: &Path, state: &FollowState) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
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
    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let ticker = progress.clone().map(|bar| {
        let totals = totals.clone();
        rt.spawn(async move {
            loop {
                bar.set_message(format!(
                    "read {}  sent {}  acknowledged {}  rejected {}",
                    totals.read.load(Ordering::Relaxed),
                    totals.sent.load(Ordering::Relaxed),
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
        run_follow(&rt, &args, client, totals.clone(), stop)
    } else {
        run_once(&rt, &args, client, totals.clone())
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
    let (sent, acked, rejected, failed) = (
        t.sent.load(Ordering::Relaxed),
        t.acked.load(Ordering::Relaxed),
        t.rejected.load(Ordering::Relaxed),
        t.failed.load(Ordering::Relaxed),
    );
    println!(
        "sent {sent} events in {secs:.2}s ({:.0} events/s): acknowledged {acked}, rejected {rejected}, failed {failed}; skipped {} malformed lines",
        sent as f64 / secs.max(1e-9),
        t.skipped.load(Ordering::Relaxed)
    );
    if let Some(e) = t.first_error.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        eprintln!("error: {e}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn run_once(
    rt: &tokio::runtime::Runtime,
    args: &IngestArgs,
    client: Client,
    totals: Arc<Totals>,
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
    for input in &mut inputs {
        let stream = args.input.stream.clone().unwrap_or_else(|| input.name.clone());
        let label = input.label.clone();
        for_each_line(input, |lineno, line| {
            match parse_line(
                line,
                args.input.format,
                args.input.group.as_deref(),
                &stream,
                text_ts,
                ingestion,
            ) {
                Ok(Some((g, s, e))) => {
                    totals.read.fetch_add(1, Ordering::Relaxed);
                    batcher.push(g, s, e, &mut route);
                }
                Ok(None) => {}
                Err(why) => {
                    if totals.skipped.fetch_add(1, Ordering::Relaxed) < 20 {
                        eprintln!("{label}:{lineno}: skipped: {why}");
                    }
                }
            }
            Ok(())
        })?;
    }
    batcher.flush_all(None, &mut route);
    drop(senders);
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok(())
}

fn run_follow(
    rt: &tokio::runtime::Runtime,
    args: &IngestArgs,
    client: Client,
    totals: Arc<Totals>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let file = args.input.files[0].clone();
    let state_path =
        args.state_file.clone().unwrap_or_else(|| PathBuf::from(format!("{file}.logsight-offset")));
    let mut offset = match std::fs::read(&state_path) {
        Ok(bytes) => {
            let s: FollowState = serde_json::from_slice(&bytes)
                .with_context(|| format!("reading state file {}", state_path.display()))?;
            s.offset
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
    };
    let default_stream = args.input.stream.clone().unwrap_or_else(|| {
        Path::new(&file).file_name().map_or(file.clone(), |n| n.to_string_lossy().into_owned())
    });
    // One sender, in order, so acknowledged offsets only grow.
    let (tx, mut rx) = mpsc::channel::<Batch>(2);
    let sender = {
        let (totals, state_path, file, create) =
            (totals.clone(), state_path.clone(), file.clone(), args.create);
        let mut client = client;
        rt.spawn(async move {
            let mut ready: std::collections::HashSet<(String, String)> = Default::default();
            while let Some(batch) = rx.recv().await {
                let end = batch.end_offset;
                let key = (batch.group.clone(), batch.stream.clone());
                if create && !ready.contains(&key) {
                    if let Err(s) = ensure(&mut client, &key.0, &key.1).await {
                        totals.fail(batch.events.len() as u64, s.message().to_owned());
                        return;
                    }
                    ready.insert(key);
                }
                if !send(&client, &totals, batch).await {
                    // Stop here: the state keeps the last acknowledged offset.
                    return;
                }
                if let Some(offset) = end {
                    let state = FollowState { file: file.clone(), offset };
                    if let Err(e) = save_state(&state_path, &state) {
                        totals.fail(0, format!("{e:#}"));
                        return;
                    }
                }
            }
        })
    };
    let mut batcher = Batcher::default();
    let mut route = |b: Batch| {
        let _ = tx.blocking_send(b);
    };
    let mut reader: Option<BufReader<std::fs::File>> = None;
    let mut line = Vec::new();
    let mut lineno = 0u64;
    while !stop.load(Ordering::SeqCst) && !sender.is_finished() {
        if reader.is_none() {
            match std::fs::File::open(&file) {
                Ok(mut f) => {
                    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                    if len < offset {
                        eprintln!(
                            "{file} is shorter than the saved offset {offset}: it was truncated; starting over"
                        );
                        offset = 0;
                    }
                    f.seek(SeekFrom::Start(offset)).with_context(|| format!("seeking {file}"))?;
                    reader = Some(BufReader::with_capacity(1 << 20, f));
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
            batcher.flush_all(Some(offset), &mut route);
            let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(u64::MAX);
            if len < offset {
                reader = None; // truncated or replaced
                offset = 0;
            }
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let before = offset;
        offset += n as u64;
        lineno += 1;
        let ts = args.input.timestamp.unwrap_or_else(now_ms);
        match parse_line(
            &line,
            args.input.format,
            args.input.group.as_deref(),
            &default_stream,
            ts,
            ts,
        ) {
            Ok(Some((g, s, e))) => {
                totals.read.fetch_add(1, Ordering::Relaxed);
                // Cut every stream's batch at the line boundary, so each acknowledged batch
                // ends at a known offset.
                if batcher.would_cut(&g, &s, e.message.len() + EVENT_OVERHEAD_BYTES) {
                    batcher.flush_all(Some(before), &mut route);
                }
                batcher.push(g, s, e, &mut route);
            }
            Ok(None) => {}
            Err(why) => {
                if totals.skipped.fetch_add(1, Ordering::Relaxed) < 20 {
                    eprintln!("{file}:{lineno}: skipped: {why}");
                }
            }
        }
    }
    batcher.flush_all(Some(offset), &mut route);
    drop(tx);
    rt.block_on(async {
        let _ = sender.await;
    });
    Ok(())
}
