//! `pattern` gives the same patterns whichever way the rows are read: buffered or sealed,
//! in small or large blocks (so with different constants folded into the templates), from
//! stored templates or from message text split at query time.

use std::path::Path;
use std::sync::Arc;

use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig};
use logsight_storage::Store;

mod common;

fn sample(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(common::loghub_dir().join(name)).expect("sample");
    text.lines().map(str::to_string).collect()
}

/// A store holding `lines` in two streams (alternating chunks of 250), sealed in blocks of
/// `block_bytes` when `seal`, else all buffered.
fn store(dir: &Path, lines: &[String], block_bytes: usize, seal: bool) -> Arc<Store> {
    common::two_stream_store(dir, lines, block_bytes, 250, if seal { lines.len() } else { 0 })
}

fn run(store: &Arc<Store>, query: &str) -> Vec<Vec<Option<String>>> {
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let req = common::request("g", query);
    engine.run(&DataSource::new(store.clone()), &req, &CancelToken::new()).unwrap().rows
}

#[test]
fn every_read_path_gives_the_same_patterns() {
    for name in ["OpenSSH_2k.log", "HDFS_2k.log", "Linux_2k.log", "Apache_2k.log"] {
        let lines = sample(name);
        let tmp = tempfile::tempdir().unwrap();
        let reference = {
            let s = store(&tmp.path().join("buffered"), &lines, 1 << 20, false);
            run(&s, "pattern @message")
        };
        let counted: u64 =
            reference.iter().map(|r| r[2].as_deref().unwrap().parse::<u64>().unwrap()).sum();
        assert_eq!(counted, lines.len() as u64, "{name}: every line counted once");
        for (k, block_bytes) in [4 << 10, 64 << 10, 1 << 20].into_iter().enumerate() {
            let s = store(&tmp.path().join(format!("sealed{k}")), &lines, block_bytes, true);
            assert_eq!(run(&s, "pattern @message"), reference, "{name}, {block_bytes}-byte blocks");
            assert_eq!(
                run(&s, "parse @message \"*\" as m | pattern m"),
                reference,
                "{name}: text split at query time"
            );
            assert_eq!(
                run(&s, "filter @logStream = \"a\" or @logStream = \"b\" | pattern @message"),
                reference,
                "{name}: through a filter"
            );
        }
    }
}

#[test]
fn explain_shows_templates_read_instead_of_messages() {
    let lines = sample("OpenSSH_2k.log");
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), &lines[..100], 1 << 20, true);
    let engine = Engine::new(EngineConfig { threads: 1, ..Default::default() });
    let req = |q: &str| common::request("g", q);
    let source = DataSource::new(s);
    let plan = engine.explain(&source, &req("pattern @message")).unwrap();
    assert!(plan.contains("columns: timestamps, message templates\n"), "{plan}");
    assert!(plan.contains("sink: counts per stored message template"), "{plan}");
    let plan = engine.explain(&source, &req("fields @message as m | pattern m")).unwrap();
    assert!(plan.contains("columns: timestamps, messages"), "{plan}");
    assert!(plan.contains("values split into templates per unit"), "{plan}");
}

#[test]
fn later_commands_see_the_pattern_fields() {
    let lines = sample("HDFS_2k.log");
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), &lines, 64 << 10, true);
    let rows =
        run(&s, "pattern @message | filter @severityLabel = \"Warning\" | display @sampleCount");
    // The WARN lines of the sample: `grep -c ' WARN ' HDFS_2k.log`.
    assert_eq!(rows, [[Some("80".to_string())]]);
    let rows = run(&s, "pattern @message | stats sum(@sampleCount) as n, count(*) as patterns");
    assert_eq!(rows[0][0].as_deref(), Some("2000"));
    // Patterns of a stats result: rows in memory, split as one unit.
    let rows = run(&s, "stats count(*) by @logStream | pattern @logStream");
    assert_eq!(rows.len(), 2, "{rows:?}");
}
