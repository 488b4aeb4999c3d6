//! Golden query files (`tests/golden/*.test`, sqllogictest style): a data set, then cases of
//! `query` (text, `----`, a header line and the expected rows, cells joined by ` | `) or
//! `error` (text, `----`, a piece of the expected message). Expected rows are computed
//! independently of the engine (grep over the samples, or `golden/data/expect_*.py`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

mod common;
use common::loghub_dir;

/// 2024-05-01 00:00:00 UTC.
const BASE: i64 = 1_714_521_600_000;

/// Stores `lines` in `group`, line i at BASE + i seconds, in the stream `stream(i)`.
fn load(store: &Store, group: &str, lines: &[String], stream: impl Fn(usize) -> String) {
    let g = LogGroupName::new(group).unwrap();
    if store.group(group).is_err() {
        store.create_group(&g).unwrap();
    }
    let mut by_stream: std::collections::BTreeMap<String, Vec<LogEvent>> = Default::default();
    for (i, line) in lines.iter().enumerate() {
        let ts = BASE + i as i64 * 1000;
        by_stream.entry(stream(i)).or_default().push(LogEvent::new(ts, ts, line.clone()).unwrap());
    }
    for (s, events) in by_stream {
        let _ = store.create_stream(&g, &LogStreamName::new(&s).unwrap());
        for chunk in events.chunks(500) {
            store.append(group, &s, chunk).unwrap();
        }
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn build(data: &str, dir: &Path) -> (Arc<Store>, String) {
    let opts = StoreOptions {
        sync: false,
        background: false,
        block_bytes: 16 << 10,
        ..Default::default()
    };
    let store = Store::open(dir, opts).unwrap();
    let group = match data {
        "loghub" => {
            let hub = loghub_dir();
            load(&store, "loghub", &lines(&hub.join("Apache_2k.log")), |_| "Apache".into());
            load(&store, "loghub", &lines(&hub.join("HDFS_2k.log")), |_| "HDFS".into());
            "loghub"
        }
        "openssh" => {
            let hub = loghub_dir();
            load(&store, "openssh", &lines(&hub.join("OpenSSH_2k.log")), |_| "sshd".into());
            "openssh"
        }
        "requests" => {
            let file =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/data/requests.jsonl");
            load(&store, "requests", &lines(&file), |i| format!("web-{}", i % 3));
            "requests"
        }
        other => panic!("unknown data set {other}"),
    };
    // Half the data sealed into segments, the rest still buffered: both paths are scanned.
    store.flush().unwrap();
    // Indexed, so the queries below run with the index's pruning (and again without it).
    store.derive_missing(&logsight_index::IndexDeriver::new()).unwrap();
    (Arc::new(store), group.to_string())
}

#[derive(Debug)]
enum Case {
    Rows { query: String, expected: Vec<String> },
    Error { query: String, message: String },
}

fn parse_file(text: &str) -> (String, Vec<Case>) {
    let mut data = String::new();
    let mut cases = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_end();
        if let Some(d) = line.strip_prefix("data: ") {
            data = d.to_string();
        } else if line == "query" || line == "error" {
            let mut query = Vec::new();
            for l in lines.by_ref() {
                if l == "----" {
                    break;
                }
                query.push(l);
            }
            let mut body = Vec::new();
            while let Some(l) = lines.next_if(|l| !l.trim().is_empty()) {
                body.push(l.to_string());
            }
            let query = query.join("\n");
            cases.push(if line == "query" {
                Case::Rows { query, expected: body }
            } else {
                Case::Error { query, message: body.join("\n") }
            });
        }
    }
    (data, cases)
}

#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "golden files exist");
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in files {
        let (data, cases) = parse_file(&std::fs::read_to_string(&file).unwrap());
        let tmp = tempfile::tempdir().unwrap();
        let (store, group) = build(&data, tmp.path());
        let source = DataSource::new(store.clone());
        let unindexed = DataSource::without_index(store.clone());
        // Every case twice: JSON fields parsed from messages, then read from the JSON field
        // columns (which must change nothing).
        let runs = cases.iter().map(|c| (c, false)).chain(cases.iter().map(|c| (c, true)));
        let mut built = false;
        for (case, columns) in runs {
            if columns && !built {
                built = true;
                let report = store.derive_missing(&logsight_columns::ColumnsDeriver::default());
                assert!(report.unwrap().failed.is_empty());
            }
            let mode = if columns { " (JSON field columns)" } else { "" };
            ran += 1;
            let (query, result) = match case {
                Case::Rows { query, .. } | Case::Error { query, .. } => {
                    let req = QueryRequest {
                        query: query.clone(),
                        groups: vec![group.clone()],
                        start_ms: 0,
                        end_ms: i64::MAX / 2,
                        limit: None,
                    };
                    let result = engine.run(&source, &req, &CancelToken::new());
                    // The index changes speed, never results.
                    let scanned = engine.run(&unindexed, &req, &CancelToken::new());
                    let shown = |r: &logsight_engine::Result<logsight_engine::QueryResult>| {
                        r.as_ref()
                            .map(|r| (r.columns.clone(), r.rows.clone()))
                            .map_err(|e| e.to_string())
                    };
                    if shown(&result) != shown(&scanned) {
                        failures.push(format!(
                            "{}: {query}\n  differs with the index off",
                            file.display()
                        ));
                    }
                    (query, result)
                }
            };
            match (case, result) {
                (Case::Rows { expected, .. }, Ok(r)) => {
                    let mut got = vec![r.columns.join(" | ")];
                    got.extend(r.rows.iter().map(|row| {
                        row.iter()
                            .map(|c| c.clone().unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(" | ")
                    }));
                    if &got != expected {
                        failures.push(format!(
                            "{}{mode}: {query}\n  expected:\n    {}\n  got:\n    {}",
                            file.display(),
                            expected.join("\n    "),
                            got.join("\n    ")
                        ));
                    }
                }
                (Case::Rows { .. }, Err(e)) => {
                    failures.push(format!("{}{mode}: {query}\n  failed: {e}", file.display()))
                }
                (Case::Error { message, .. }, Err(e)) => {
                    let text = e.render(query);
                    if !text.contains(message.as_str()) {
                        failures.push(format!(
                            "{}: {query}\n  error {text:?} lacks {message:?}",
                            file.display()
                        ));
                    }
                }
                (Case::Error { .. }, Ok(_)) => {
                    failures.push(format!("{}: {query}\n  ran, but should fail", file.display()))
                }
            }
        }
    }
    assert!(ran >= 40, "ran {ran} cases");
    assert!(failures.is_empty(), "{} golden failures:\n{}", failures.len(), failures.join("\n\n"));
}
