//! The query benchmarks' data set (issue 10 §5): deterministic, 24 hours, half JSON request
//! logs in one group (`app`, 100 streams), half Loghub lines in 16 groups (one per sample,
//! 8 streams each). Every copy of a Loghub line has its digits scrambled by a per-copy key,
//! so no line repeats verbatim and numbers do not recur in a pattern a compressor could fold;
//! JSON values come from a xorshift generator, with a unique trace id per event.
//!
//! Events arrive in time order and are sealed every [`SEAL_EVENTS`] events, with the
//! store's own compaction run after each seal: the fleet shape (many streams, many small
//! seals merged in the background), not one bulk import.

#![allow(dead_code)]

use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::Store;

use crate::common;

/// Streams of the JSON group.
pub const JSON_STREAMS: usize = 100;
/// Streams of each text group.
pub const TEXT_STREAMS: usize = 8;
/// 2024-05-01T00:00:00Z.
pub const START: i64 = 1_714_521_600_000;
pub const DAY_MS: i64 = 86_400_000;
/// Events between seals (about 14 minutes of the day at 10 million events).
pub const SEAL_EVENTS: usize = 100_000;
/// The JSON group.
pub const JSON_GROUP: &str = "app";

/// What was loaded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Loaded {
    pub events: u64,
    pub json_events: u64,
    pub text_events: u64,
    /// Message bytes of each half.
    pub json_bytes: u64,
    pub text_bytes: u64,
}

/// The text groups' names, one per Loghub sample (`Apache_2k.log` → `apache`).
pub fn text_groups() -> Vec<String> {
    common::loghub_files()
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.trim_end_matches("_2k.log").to_ascii_lowercase()
        })
        .collect()
}

/// `m` with every ASCII digit replaced by `(d + k) % 10`, where `k` comes from `key` and the
/// digit's position: copies with different keys share no numbers.
pub fn scramble_digits(m: &str, key: u64) -> String {
    let mut state = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    m.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from_digit((d + (state % 10) as u32) % 10, 10).unwrap_or(c)
            }
            None => c,
        })
        .collect()
}

/// A deterministic generator of JSON request logs.
pub struct Requests {
    state: u64,
}

impl Requests {
    pub fn new() -> Requests {
        Requests { state: 0x2545_f491_4f6c_dd1d }
    }

    fn next(&mut self, n: u64) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % n
    }

    /// The next request's log line. About 1 in 50 is an ERROR and 1 in 10 a WARN.
    pub fn message(&mut self) -> String {
        const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
        const PATHS: [&str; 6] =
            ["/api/users", "/api/orders", "/api/cart", "/api/search", "/health", "/login"];
        let level = match self.next(100) {
            0..2 => "ERROR",
            2..12 => "WARN",
            _ => "INFO",
        };
        let status = match level {
            "ERROR" => [500, 502, 503][self.next(3) as usize],
            "WARN" => [400, 404, 429][self.next(3) as usize],
            _ => [200, 201, 204, 304][self.next(4) as usize],
        };
        // A long-tailed latency: mostly tens of ms, sometimes seconds.
        let latency = match self.next(100) {
            0..90 => 5 + self.next(120),
            90..99 => 100 + self.next(900),
            _ => 1_000 + self.next(9_000),
        };
        format!(
            r#"{{"level":"{level}","method":"{}","path":"{}/{}","status":{status},"latency_ms":{latency},"bytes":{},"user":{{"id":{},"region":"r{}"}},"trace_id":"{:016x}{:016x}"}}"#,
            METHODS[self.next(4) as usize],
            PATHS[self.next(6) as usize],
            self.next(100_000),
            self.next(100_000),
            self.next(1_000_000),
            self.next(8),
            self.next(u64::MAX),
            self.next(u64::MAX),
        )
    }
}

impl Default for Requests {
    fn default() -> Self {
        Requests::new()
    }
}

/// Creates the groups and streams and loads `events` events (half JSON, half text) in time
/// order, sealing every [`SEAL_EVENTS`] and compacting as the store's policy asks.
pub fn load(store: &Store, events: usize) -> Loaded {
    let groups = text_groups();
    let mut all = vec![(JSON_GROUP.to_owned(), JSON_STREAMS)];
    all.extend(groups.iter().map(|g| (g.clone(), TEXT_STREAMS)));
    for (g, streams) in &all {
        let name = LogGroupName::new(g.as_str()).expect("valid group");
        store.create_group(&name).expect("new group");
        for s in 0..*streams {
            let stream = LogStreamName::new(format!("{g}-{s:03}")).expect("valid stream");
            store.create_stream(&name, &stream).expect("new stream");
        }
    }
    // Per sample, its lines; text events take the samples in turn, line by line.
    let samples: Vec<Vec<String>> = common::loghub_files()
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .expect("readable sample")
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect();
    let mut requests = Requests::new();
    let mut loaded = Loaded::default();
    // Pending events per (group, stream), flushed at each seal.
    let mut pending: Vec<Vec<Vec<LogEvent>>> =
        all.iter().map(|(_, n)| vec![Vec::new(); *n]).collect();
    let mut text_next = 0usize;
    for i in 0..events {
        let ts = START + (i as i64) * DAY_MS / events as i64;
        if i % 2 == 0 {
            let m = requests.message();
            loaded.json_bytes += m.len() as u64;
            loaded.json_events += 1;
            let stream = (i / 2) % JSON_STREAMS;
            pending[0][stream].push(LogEvent::new(ts, ts, m).expect("valid event"));
        } else {
            let g = text_next % samples.len();
            let turn = text_next / samples.len();
            let lines = &samples[g];
            let (copy, line) = (turn / lines.len(), turn % lines.len());
            text_next += 1;
            let m = scramble_digits(&lines[line], (g * 1_000_003 + copy) as u64);
            loaded.text_bytes += m.len() as u64;
            loaded.text_events += 1;
            pending[g + 1][turn % TEXT_STREAMS].push(LogEvent::new(ts, ts, m).expect("valid"));
        }
        loaded.events += 1;
        if (i + 1) % SEAL_EVENTS == 0 || i + 1 == events {
            for (gi, streams) in pending.iter_mut().enumerate() {
                for (s, evs) in streams.iter_mut().enumerate() {
                    if !evs.is_empty() {
                        let stream = format!("{}-{s:03}", all[gi].0);
                        store.append(&all[gi].0, &stream, evs).expect("append");
                        evs.clear();
                    }
                }
            }
            store.flush().expect("seal");
            while store.compact_once().expect("compaction").is_some() {}
        }
    }
    loaded
}

/// Events to generate: `LOGSIGHT_BENCH_EVENTS` if set to a number, else `default`.
pub fn events_from_env(default: usize) -> usize {
    std::env::var("LOGSIGHT_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
