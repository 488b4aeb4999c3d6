//! The compression target as a regression test: ratios are deterministic, unlike timings.

use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};

use crate::support::loghub_dir;

/// Each Loghub sample imported as one stream of its own group; the ratio counts every byte of
/// the segment files (blocks, directories, footers) against the message bytes.
#[test]
fn loghub_geometric_mean_ratio_is_at_least_12x() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { sync: false, background: false, ..Default::default() };
    let store = Store::open(dir.path(), opts).unwrap();
    let mut files: Vec<_> =
        std::fs::read_dir(loghub_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.to_string_lossy().ends_with("_2k.log"));
    files.sort();
    assert_eq!(files.len(), 16);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().replace("_2k.log", "");
        let (g, s) =
            (LogGroupName::new(name.as_str()).unwrap(), LogStreamName::new("sample").unwrap());
        store.create_group(&g).unwrap();
        store.create_stream(&g, &s).unwrap();
        let events: Vec<LogEvent> = std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(|l| LogEvent::new(1_700_000_000_000, 1_700_000_000_000, l).unwrap())
            .collect();
        store.append(&name, "sample", &events).unwrap();
    }
    store.flush().unwrap();
    let groups = store.groups();
    let log_sum: f64 =
        groups.iter().map(|g| (g.raw_bytes as f64 / g.stored_bytes as f64).ln()).sum();
    let geomean = (log_sum / groups.len() as f64).exp();
    let stored: u64 = groups.iter().map(|g| g.stored_bytes).sum();
    assert_eq!(stored, store.stats().segment_bytes, "every segment byte is attributed");
    assert!(geomean >= 12.0, "geometric mean ratio {geomean:.2}x is below the 12x target");
}
