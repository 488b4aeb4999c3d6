//! Data shared by the benchmarks: real Loghub lines.

#![allow(dead_code)]

use std::path::Path;

/// Every line of the 16 Loghub samples, in file order (about 32,000 lines of ~140 bytes).
pub fn loghub_lines() -> Vec<String> {
    // LOGSIGHT_LOGHUB overrides the location; otherwise the nearest ancestor's
    // shared/datasets/loghub (worktrees sit deeper than the main checkout).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var("LOGSIGHT_LOGHUB").map(std::path::PathBuf::from).unwrap_or_else(|_| {
        root.ancestors()
            .skip(1)
            .map(|a| a.join("shared/datasets/loghub"))
            .find(|p| p.is_dir())
            .unwrap_or_else(|| root.join("../shared/datasets/loghub"))
    });
    let dir = dir.as_path();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the Loghub samples are in ../shared/datasets/loghub")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .expect("readable sample")
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Peak resident memory of this process (VmHWM), in bytes, where Linux reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
