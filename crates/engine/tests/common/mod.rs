//! What the engine's test binaries share (each uses a part of it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use logsight_engine::QueryRequest;
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

/// 2024-05-01T00:00:00Z, where the test events start.
pub const BASE: i64 = 1_714_521_600_000;

/// The Loghub samples (`shared/datasets/loghub` in an ancestor of the crate).
pub fn loghub_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/datasets/loghub"))
        .find(|p| p.is_dir())
        .expect("the Loghub samples are in shared/datasets/loghub")
}

/// `query` over all of group `group`'s time, with no limit.
pub fn request(group: &str, query: &str) -> QueryRequest {
    QueryRequest {
        query: query.into(),
        groups: vec![group.into()],
        start_ms: 0,
        end_ms: i64::MAX / 2,
        limit: None,
    }
}

/// A store whose group `g` holds `lines`, one a second from [`BASE`], in chunks of `chunk`
/// alternating between streams `a` and `b`; once `sealed` lines are in, they are sealed in
/// blocks of `block_bytes` (the rest stay buffered).
pub fn two_stream_store(
    dir: &Path,
    lines: &[String],
    block_bytes: usize,
    chunk: usize,
    sealed: usize,
) -> Arc<Store> {
    let opts = StoreOptions { sync: false, background: false, block_bytes, ..Default::default() };
    let store = Store::open(dir, opts).unwrap();
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    for s in ["a", "b"] {
        store.create_stream(&g, &LogStreamName::new(s).unwrap()).unwrap();
    }
    let mut done = 0;
    for (i, part) in lines.chunks(chunk).enumerate() {
        let stream = if i % 2 == 0 { "a" } else { "b" };
        let events: Vec<LogEvent> = part
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let ts = BASE + (i * chunk + k) as i64 * 1000;
                LogEvent::new(ts, ts, l.clone()).unwrap()
            })
            .collect();
        store.append("g", stream, &events).unwrap();
        done += part.len();
        if done == sealed {
            store.flush().unwrap();
        }
    }
    Arc::new(store)
}
