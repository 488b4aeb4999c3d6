//! Alarm actions, off the evaluation path: a bounded queue and one worker thread that writes
//! each state change to the log group `/logsight/alarms` and runs the alarm's actions
//! (`webhook:URL`, POSTed with a timeout and retries; `exec:PROGRAM`, with the event on stdin).
//! A full queue drops the change's actions (counted and logged), never blocking evaluation.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Sender, TrySendError, bounded};
use logsight_alarms::AlarmAction;
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Clock, StorageError, Store};

use crate::alarm_book::{AlarmRegistry, Transition};
use crate::error::Result;

/// The log group every state change is written to.
pub const ALARM_LOG_GROUP: &str = "/logsight/alarms";
/// Its stream.
pub const ALARM_LOG_STREAM: &str = "state-changes";

/// Where state-change events are written.
pub trait AlarmEventSink: Send + Sync {
    /// Stores one event (a JSON document) at `timestamp_ms`.
    fn write_event(&self, timestamp_ms: i64, event: &str) -> Result<()>;
}

impl AlarmEventSink for Store {
    fn write_event(&self, timestamp_ms: i64, event: &str) -> Result<()> {
        let group = LogGroupName::new(ALARM_LOG_GROUP).expect("a valid group name");
        let stream = LogStreamName::new(ALARM_LOG_STREAM).expect("a valid stream name");
        match self.create_group(&group) {
            Ok(()) | Err(StorageError::GroupExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        match self.create_stream(&group, &stream) {
            Ok(()) | Err(StorageError::StreamExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let e = LogEvent::new(timestamp_ms, timestamp_ms, event)
            .map_err(|e| crate::WatchError::invalid("event", e.to_string()))?;
        Ok(self.append(ALARM_LOG_GROUP, ALARM_LOG_STREAM, &[e])?)
    }
}

/// Tuning of actions.
#[derive(Debug, Clone)]
pub struct ActionOptions {
    /// State changes waiting for their actions, at most.
    pub queue: usize,
    /// One webhook attempt's timeout.
    pub webhook_timeout: Duration,
    /// Webhook attempts, at most.
    pub webhook_attempts: u32,
    /// Pause before the second attempt; doubled for each further one.
    pub retry_backoff: Duration,
    /// An `exec:` program is killed after this long.
    pub exec_timeout: Duration,
}

impl Default for ActionOptions {
    fn default() -> Self {
        ActionOptions {
            queue: 1_000,
            webhook_timeout: Duration::from_secs(5),
            webhook_attempts: 3,
            retry_backoff: Duration::from_millis(500),
            exec_timeout: Duration::from_secs(10),
        }
    }
}

/// The queue and its worker.
#[derive(Debug)]
pub struct Dispatcher {
    tx: Option<Sender<Transition>>,
    dropped: Arc<AtomicU64>,
    worker: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// Starts the worker.
    pub fn start(
        sink: Arc<dyn AlarmEventSink>,
        registry: Arc<AlarmRegistry>,
        clock: Arc<dyn Clock>,
        options: ActionOptions,
    ) -> Dispatcher {
        let (tx, rx) = bounded::<Transition>(options.queue);
        let worker = std::thread::Builder::new()
            .name("alarm-actions".into())
            .spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(options.webhook_timeout)).build().into();
                for t in rx {
                    if let Err(e) = sink.write_event(clock.now_ms(), &t.event) {
                        tracing::warn!(alarm = %t.alarm_name, error = %e, "writing the alarm state change to {ALARM_LOG_GROUP}");
                    }
                    for action in &t.actions {
                        let summary = match run_action(&agent, action, &t.event, &options) {
                            Ok(()) => format!("Successfully executed action {action}"),
                            Err(e) => {
                                tracing::warn!(alarm = %t.alarm_name, %action, error = %e, "alarm action failed");
                                format!("Failed to execute action {action}: {e}")
                            }
                        };
                        if let Err(e) = registry.record_action(&t.alarm_name, t.alarm_kind, summary, clock.now_ms()) {
                            tracing::warn!(error = %e, "recording an alarm action in the history");
                        }
                    }
                }
            })
            .expect("spawning the alarm action thread");
        Dispatcher { tx: Some(tx), dropped: Arc::new(AtomicU64::new(0)), worker: Some(worker) }
    }

    /// Queues a state change; `false` (and counted) when the queue is full.
    pub fn submit(&self, t: Transition) -> bool {
        let Some(tx) = &self.tx else { return false };
        match tx.try_send(t) {
            Ok(()) => true,
            Err(TrySendError::Full(t) | TrySendError::Disconnected(t)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(alarm = %t.alarm_name, "alarm action queue full: this state change's actions are dropped");
                false
            }
        }
    }

    /// State changes dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Lets the worker finish the queue, then stops it.
    pub fn shutdown(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The webhook answered with an error or could not be reached, after every attempt.
    #[error("webhook failed after {attempts} attempts: {last}")]
    Webhook {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: String,
    },
    /// The program could not be started, failed, or ran too long.
    #[error("program {program}: {message}")]
    Exec {
        /// The program.
        program: String,
        /// What happened.
        message: String,
    },
}

fn run_action(
    agent: &ureq::Agent,
    action: &AlarmAction,
    event: &str,
    options: &ActionOptions,
) -> Result<(), ActionError> {
    match action {
        AlarmAction::Webhook(url) => {
            let mut last = String::new();
            let mut pause = options.retry_backoff;
            for attempt in 1..=options.webhook_attempts.max(1) {
                match agent
                    .post(url.as_str())
                    .header("Content-Type", "application/json")
                    .send(event)
                {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
                if attempt < options.webhook_attempts {
                    std::thread::sleep(pause);
                    pause *= 2;
                }
            }
            Err(ActionError::Webhook { attempts: options.webhook_attempts.max(1), last })
        }
        AlarmAction::Exec(program) => {
            let fail = |message: String| ActionError::Exec { program: program.clone(), message };
            let mut child = Command::new(program)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| fail(e.to_string()))?;
            if let Some(mut stdin) = child.stdin.take() {
                // A program that does not read its input is not a failure.
                let _ = stdin.write_all(event.as_bytes());
            }
            let deadline = Instant::now() + options.exec_timeout;
            loop {
                match child.try_wait().map_err(|e| fail(e.to_string()))? {
                    Some(status) if status.success() => return Ok(()),
                    Some(status) => return Err(fail(format!("exited with {status}"))),
                    None if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(fail(format!("killed after {:?}", options.exec_timeout)));
                    }
                    None => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;

    use logsight_storage::ManualClock;
    use parking_lot::Mutex;

    use super::*;
    use crate::alarm_book::{AlarmKind, HistoryItemType, HistoryQuery, StateInfo};
    use logsight_alarms::AlarmState;

    #[derive(Default)]
    struct Sink(Mutex<Vec<String>>);
    impl AlarmEventSink for Sink {
        fn write_event(&self, _: i64, event: &str) -> Result<()> {
            self.0.lock().push(event.to_owned());
            Ok(())
        }
    }

    fn transition(actions: Vec<AlarmAction>) -> Transition {
        let s = |value| StateInfo {
            value,
            reason: "r".into(),
            reason_data: String::new(),
            updated_ms: 0,
            transitioned_ms: 0,
        };
        Transition {
            alarm_name: "a".into(),
            alarm_kind: AlarmKind::MetricAlarm,
            old: s(AlarmState::Ok),
            new: s(AlarmState::Alarm),
            actions,
            event: r#"{"detail":{"alarmName":"a"}}"#.into(),
        }
    }

    /// Answers 500 to the first request, then 200; returns the bodies received.
    fn flaky_server() -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            for (i, stream) in listener.incoming().take(2).enumerate() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                bodies.push(String::from_utf8(body).unwrap());
                let status = if i == 0 { "500 Internal Server Error" } else { "200 OK" };
                write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
            }
            bodies
        });
        (url, handle)
    }

    #[test]
    fn webhooks_are_retried_and_every_change_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(AlarmRegistry::open(dir.path()).unwrap());
        let sink = Arc::new(Sink::default());
        let (url, server) = flaky_server();
        let options =
            ActionOptions { retry_backoff: Duration::from_millis(10), ..Default::default() };
        let mut d = Dispatcher::start(
            sink.clone(),
            registry.clone(),
            Arc::new(ManualClock::new(5)),
            options,
        );
        assert!(d.submit(transition(vec![
            AlarmAction::Webhook(url),
            AlarmAction::Exec("/nonexistent/program".into())
        ])));
        d.shutdown();
        let bodies = server.join().unwrap();
        assert_eq!(bodies.len(), 2, "one failed attempt, one retry");
        assert!(bodies.iter().all(|b| b.contains("\"alarmName\":\"a\"")));
        assert_eq!(sink.0.lock().len(), 1);
        let q = HistoryQuery { item_type: Some(HistoryItemType::Action), ..Default::default() };
        let mut summaries: Vec<_> = registry.history(&q).into_iter().map(|h| h.summary).collect();
        summaries.sort();
        assert!(
            summaries[0].starts_with("Failed to execute action exec:/nonexistent/program"),
            "{summaries:?}"
        );
        assert!(summaries[1].starts_with("Successfully executed action webhook:"), "{summaries:?}");
    }

    #[test]
    fn exec_gets_the_event_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        let script = dir.path().join("hook.sh");
        std::fs::write(&script, format!("#!/bin/sh\ncat > {}\n", out.display())).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let registry = Arc::new(AlarmRegistry::open(dir.path()).unwrap());
        let mut d = Dispatcher::start(
            Arc::new(Sink::default()),
            registry,
            Arc::new(ManualClock::new(5)),
            ActionOptions::default(),
        );
        d.submit(transition(vec![AlarmAction::Exec(script.display().to_string())]));
        d.shutdown();
        assert_eq!(std::fs::read_to_string(out).unwrap(), r#"{"detail":{"alarmName":"a"}}"#);
    }

    #[test]
    fn a_full_queue_drops_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(AlarmRegistry::open(dir.path()).unwrap());
        // A webhook to a port that accepts nothing in time keeps the worker busy.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let options = ActionOptions {
            queue: 1,
            webhook_attempts: 1,
            webhook_timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let mut d = Dispatcher::start(
            Arc::new(Sink::default()),
            registry,
            Arc::new(ManualClock::new(5)),
            options,
        );
        let accepted = (0..5)
            .filter(|_| d.submit(transition(vec![AlarmAction::Webhook(url.clone())])))
            .count();
        assert!(accepted < 5, "submit returns false at once when the queue is full");
        assert_eq!(d.dropped(), 5 - accepted as u64);
        d.shutdown();
    }
}
