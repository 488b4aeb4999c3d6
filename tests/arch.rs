//! The crate map as a test: which internal crates each crate may depend on, and which
//! external ones it must not. Reads the manifests, so a new edge fails here first.

use std::collections::BTreeMap;
use std::path::Path;

/// Crate directory → internal crates it may use. `.` is the root package, the `logsight`
/// binary: the top of the map, which may use every crate.
const ALLOWED: &[(&str, &[&str])] = &[
    (
        ".",
        &[
            "logsight-model",
            "logsight-query-lang",
            "logsight-storage",
            "logsight-columns",
            "logsight-proto",
            "logsight-server",
            "logsight-engine",
            "logsight-alarms",
            "logsight-metrics",
            "logsight-watch",
            "logsight-auth",
            "logsight-http",
            "logsight-queries",
            "logsight-index",
        ],
    ),
    ("crates/model", &[]),
    ("query-lang", &[]),
    ("crates/storage", &["logsight-model"]),
    ("crates/columns", &["logsight-storage"]),
    ("crates/proto", &[]),
    (
        "crates/server",
        &[
            "logsight-storage",
            "logsight-columns",
            "logsight-model",
            "logsight-proto",
            "logsight-query-lang",
            "logsight-alarms",
            "logsight-metrics",
            "logsight-watch",
            "logsight-auth",
            "logsight-queries",
            "logsight-index",
            "logsight-engine",
        ],
    ),
    ("crates/auth", &[]),
    (
        "crates/http",
        &[
            "logsight-server",
            "logsight-auth",
            "logsight-model",
            "logsight-queries",
            "logsight-watch",
        ],
    ),
    (
        "crates/engine",
        &[
            "logsight-storage",
            "logsight-columns",
            "logsight-model",
            "logsight-query-lang",
            "logsight-index",
        ],
    ),
    ("crates/index", &["logsight-storage", "logsight-model"]),
    (
        "crates/queries",
        &["logsight-engine", "logsight-columns", "logsight-storage", "logsight-model"],
    ),
    ("crates/alarms", &["logsight-model", "logsight-query-lang"]),
    ("crates/metrics", &[]),
    (
        "crates/watch",
        &[
            "logsight-alarms",
            "logsight-metrics",
            "logsight-model",
            "logsight-query-lang",
            "logsight-storage",
        ],
    ),
];

/// Crates the map already places but that are not built yet (the next issues'); every other
/// listed crate must exist, so a renamed or moved crate cannot silently escape the checks.
const PLANNED: &[&str] = &[];

/// Crate directory → external crates it must not use (the design's "knows nothing of" rules).
const BANNED: &[(&str, &[&str])] = &[
    // The index is pure data: no runtime, no transport; storage alone maps files and runs zstd.
    ("crates/index", &["tokio", "tonic", "prost", "logsight-proto", "zstd", "memmap2"]),
    ("crates/columns", &["tokio", "tonic", "prost", "tantivy"]),
    ("crates/model", &["tokio", "tonic", "prost", "tantivy", "zstd", "memmap2"]),
    ("query-lang", &["tokio", "tonic", "prost", "tantivy", "zstd", "memmap2"]),
    ("crates/storage", &["tokio", "tonic", "prost"]),
    ("crates/alarms", &["tokio", "tonic", "prost", "zstd", "memmap2", "ureq"]),
    ("crates/metrics", &["tokio", "tonic", "prost"]),
    ("crates/watch", &["tokio", "tonic", "prost"]),
    ("crates/engine", &["tokio", "tonic", "prost", "logsight-proto"]),
    // The query manager is transport-free: the front ends bring the runtime.
    ("crates/queries", &["tokio", "tonic", "prost", "logsight-proto", "axum"]),
    // Authentication is pure: no runtime, no transport.
    ("crates/auth", &["tokio", "tonic", "prost", "axum", "hyper"]),
    // The HTTP API knows no gRPC and no storage internals.
    ("crates/http", &["tonic", "prost", "logsight-storage", "logsight-proto"]),
];

/// The dependency names in a manifest's `[dependencies]` table.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                out.push(name.to_owned());
            }
        }
    }
    out
}

#[test]
fn crates_depend_only_downward() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let allowed: BTreeMap<_, _> = ALLOWED.iter().copied().collect();
    let banned: BTreeMap<_, _> = BANNED.iter().copied().collect();
    for (dir, may_use) in &allowed {
        let path = root.join(dir).join("Cargo.toml");
        let manifest = match std::fs::read_to_string(&path) {
            Ok(m) => m,
            Err(_) if PLANNED.contains(dir) => continue,
            Err(e) => panic!("{dir} is in the crate map but {} is unreadable: {e}", path.display()),
        };
        for dep in dependencies(&manifest) {
            if dep.starts_with("logsight-") {
                assert!(may_use.contains(&dep.as_str()), "{dir} must not depend on {dep}");
            }
            if let Some(ban) = banned.get(dir) {
                assert!(!ban.contains(&dep.as_str()), "{dir} must not depend on {dep}");
            }
        }
    }
}

#[test]
fn every_workspace_member_is_in_the_crate_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("members = ["))
        .expect("a members list on one line");
    for member in members.trim_end_matches(']').split(',').map(|m| m.trim().trim_matches('"')) {
        assert!(ALLOWED.iter().any(|(dir, _)| *dir == member), "{member} is not in the crate map");
    }
}

#[test]
fn the_manifest_parser_sees_dependencies() {
    let deps = dependencies(
        "[package]\nname = \"x\"\n[dependencies]\na.workspace = true\nb = \"1\"\n[dev-dependencies]\nc = \"1\"\n",
    );
    assert_eq!(deps, ["a", "b"]);
}
