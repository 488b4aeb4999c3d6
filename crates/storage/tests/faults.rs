//! A data directory damaged or tampered with: what the store refuses, recovers and reports.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use logsight_model::{LogEvent, LogGroupName, LogStreamName, RetentionDays, TimeRange};
use logsight_storage::{
    Direction, Perms, Position, ReadOptions, StorageError, Store, StoreOptions,
};

fn opts() -> StoreOptions {
    StoreOptions { background: false, sync: true, block_bytes: 300, ..Default::default() }
}

fn setup(store: &Store, g: &str, streams: &[&str]) {
    let group = LogGroupName::new(g).unwrap();
    store.create_group(&group).unwrap();
    for s in streams {
        store.create_stream(&group, &LogStreamName::new(*s).unwrap()).unwrap();
    }
}

/// 2026-09-21: within the ten-year retention `populated` sets.
const T0: i64 = 1_790_000_000_000;

fn ev(ts: i64, msg: &str) -> LogEvent {
    LogEvent::new(T0 + ts, T0 + ts + 1, msg).unwrap()
}

/// Every event of a group as (stream, message), in timestamp order.
fn all(store: &Store, group: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut from: Option<Position> = None;
    loop {
        let o = ReadOptions {
            range: TimeRange::ALL,
            direction: Direction::Forward,
            from,
            limit: 7,
            ..Default::default()
        };
        let p = store.read_group(group, None, &o).unwrap();
        out.extend(p.events.into_iter().map(|e| (e.stream.to_string(), e.message)));
        if !p.more {
            return out;
        }
        from = p.next;
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// A store with two sealed segments and events only in the WAL, one stream created after the
/// last seal.
fn populated(dir: &Path) {
    let store = Store::open(dir, opts()).unwrap();
    setup(&store, "app", &["web-1", "web-2"]);
    setup(&store, "db", &["pg"]);
    store
        .set_retention(&LogGroupName::new("db").unwrap(), Some(RetentionDays::new(3653).unwrap()))
        .unwrap();
    store.append("app", "web-1", &[ev(10, "GET /"), ev(30, "GET /a")]).unwrap();
    store.append("db", "pg", &[ev(20, "checkpoint")]).unwrap();
    store.flush().unwrap();
    store.append("app", "web-2", &[ev(40, "POST /b")]).unwrap();
    store.flush().unwrap();
    store.append("app", "web-1", &[ev(50, "only in the WAL")]).unwrap();
    setup(&store, "late", &["new"]);
    store.append("late", "new", &[ev(60, "stream born after the last seal")]).unwrap();
}

#[test]
fn a_missing_catalog_is_refused_and_repair_rebuilds_it_from_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let before = files(&dir.path().join("segments"));
    assert_eq!(before.len(), 2);
    fs::remove_file(dir.path().join("catalog.json")).unwrap();
    let err = Store::open(dir.path(), opts()).err().expect("must refuse");
    assert!(matches!(err, StorageError::CatalogMissing { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("0000000000000001.seg") && msg.contains("logsight repair"), "{msg}");
    // Nothing was deleted or set aside.
    assert_eq!(files(&dir.path().join("segments")), before);
    assert!(!dir.path().join("lost+found").exists());

    let report = Store::repair(dir.path(), Perms::default()).unwrap();
    assert_eq!((report.segments, report.described_segments), (2, 2));
    // The group and stream created after the last seal are named by their logged creation.
    assert_eq!((report.unnamed_groups, report.unnamed_streams), (0, 0), "{report:?}");
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(
        all(&store, "app"),
        pairs(&[
            ("web-1", "GET /"),
            ("web-1", "GET /a"),
            ("web-2", "POST /b"),
            ("web-1", "only in the WAL")
        ])
    );
    assert_eq!(all(&store, "db"), pairs(&[("pg", "checkpoint")]));
    assert_eq!(store.retention_days("db").unwrap(), Some(3653));
    assert_eq!(all(&store, "late"), pairs(&[("new", "stream born after the last seal")]));
    assert!(store.groups().iter().all(|g| !g.name.starts_with("recovered-")));
    // The rebuilt store works on: new groups and appends, a seal, a restart.
    setup(&store, "fresh", &["s"]);
    store.append("app", "web-2", &[ev(70, "after repair")]).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(all(&store, "app").len(), 5);
    // An intact catalog is not rebuilt over.
    drop(store);
    assert!(matches!(
        Store::repair(dir.path(), Perms::default()),
        Err(StorageError::InvalidArgument(_))
    ));
}

#[test]
fn a_damaged_catalog_is_set_aside_by_repair() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let path = dir.path().join("catalog.json");
    let mut bytes = fs::read(&path).unwrap();
    bytes[5] ^= 1;
    fs::write(&path, &bytes).unwrap();
    assert!(matches!(Store::open(dir.path(), opts()), Err(StorageError::Corruption { .. })));
    let report = Store::repair(dir.path(), Perms::default()).unwrap();
    assert_eq!(report.set_aside, [dir.path().join("lost+found/catalog.json")]);
    assert_eq!(fs::read(&report.set_aside[0]).unwrap(), bytes);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(all(&store, "app").len(), 4);
}

#[test]
fn first_format_segments_are_repaired_under_recovered_names() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-store");
    for sub in ["segments", "wal"] {
        fs::create_dir_all(dir.path().join(sub)).unwrap();
        for f in files(&src.join(sub)) {
            fs::copy(&f, dir.path().join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
    assert!(matches!(Store::open(dir.path(), opts()), Err(StorageError::CatalogMissing { .. })));
    let report = Store::repair(dir.path(), Perms::default()).unwrap();
    assert_eq!(report.described_segments, 0);
    let store = Store::open(dir.path(), opts()).unwrap();
    // The fixture holds 7 events (5 in group web, 2 in jobs): all are back.
    let total: u64 = store.groups().iter().map(|g| g.events).sum();
    assert_eq!(total, 7);
    assert!(store.groups().iter().all(|g| g.name.starts_with("recovered-group-")));
}

#[test]
fn segment_files_the_catalog_does_not_list_are_set_aside_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let segs = files(&dir.path().join("segments"));
    let stray = dir.path().join("segments/00000000000000ff.seg");
    fs::copy(&segs[0], &stray).unwrap();
    fs::write(dir.path().join("segments/0000000000000100.seg.tmp"), b"half").unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(files(&dir.path().join("segments")), segs);
    let kept = dir.path().join("lost+found/00000000000000ff.seg");
    assert_eq!(fs::read(kept).unwrap(), fs::read(&segs[0]).unwrap());
    assert_eq!(all(&store, "app").len(), 4);
}

#[test]
fn deleting_files_cannot_defeat_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    // Whatever files an operator (or an earlier version's LOCK) leaves or deletes...
    for f in files(dir.path()) {
        if f.is_file() {
            fs::remove_file(f).unwrap();
        }
    }
    assert!(matches!(Store::open(dir.path(), opts()), Err(StorageError::Locked(_))));
    assert!(matches!(Store::verify(dir.path()), Err(StorageError::Locked(_))));
    drop(store);
    drop(Store::open(dir.path(), opts()).unwrap());
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn files_are_private_by_default_and_modes_are_configurable() {
    for (perms, file, dirm) in
        [(Perms::default(), 0o600, 0o700), (Perms { file: 0o640, dir: 0o750 }, 0o640, 0o750)]
    {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        populated_with(&dir, perms);
        for d in [dir.clone(), dir.join("segments"), dir.join("wal")] {
            assert_eq!(mode(&d), dirm, "{}", d.display());
        }
        let mut checked = 0;
        for f in
            [vec![dir.join("catalog.json")], files(&dir.join("segments")), files(&dir.join("wal"))]
                .concat()
        {
            assert_eq!(mode(&f), file, "{}", f.display());
            checked += 1;
        }
        assert!(checked >= 3);
    }
}

fn populated_with(dir: &Path, perms: Perms) {
    let store = Store::open(dir, StoreOptions { perms, ..opts() }).unwrap();
    setup(&store, "g", &["s"]);
    store.append("g", "s", &[ev(1, "secret")]).unwrap();
    store.flush().unwrap();
    store.append("g", "s", &[ev(2, "also secret")]).unwrap();
}

#[test]
fn restarts_do_not_pile_up_empty_log_files() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let before = files(&dir.path().join("wal"));
    for _ in 0..5 {
        drop(Store::open(dir.path(), opts()).unwrap());
    }
    let after = files(&dir.path().join("wal"));
    assert!(after.len() <= before.len() + 1, "{before:?} -> {after:?}");
    let store = Store::open(dir.path(), opts()).unwrap();
    store.flush().unwrap();
    drop(store);
    for _ in 0..3 {
        drop(Store::open(dir.path(), opts()).unwrap());
    }
    assert_eq!(files(&dir.path().join("wal")).len(), 1);
}

/// The only log file with records, and its bytes.
fn wal_file(dir: &Path) -> (PathBuf, Vec<u8>) {
    let f = files(&dir.join("wal")).into_iter().rev().find(|f| fs::metadata(f).unwrap().len() > 8);
    let f = f.expect("a log file with records");
    let b = fs::read(&f).unwrap();
    (f, b)
}

#[test]
fn a_flipped_bit_early_in_the_log_loses_one_batch_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    // Creating the group and stream are logged (LSNs 1 and 2); a seal checkpoints them, so
    // the newest log holds the ten batches only (LSNs 3 to 12).
    setup(&store, "g", &["s"]);
    store.flush().unwrap();
    for i in 0..10 {
        store.append("g", "s", &[ev(i, &format!("batch {i}"))]).unwrap();
    }
    drop(store);
    let (path, mut bytes) = wal_file(dir.path());
    // Records are the same size here; flip a byte in the middle of the second one.
    let rec = (bytes.len() - 8) / 10;
    bytes[8 + rec + rec / 2] ^= 0x20;
    fs::write(&path, &bytes).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let want: Vec<String> = (0..10).filter(|&i| i != 1).map(|i| format!("batch {i}")).collect();
    let got: Vec<String> = all(&store, "g").into_iter().map(|(_, m)| m).collect();
    assert_eq!(got, want);
    let losses = store.stats().wal_losses;
    assert_eq!(losses.len(), 1, "{losses:?}");
    assert!(
        losses[0].contains("LSNs 4..=4 lost")
            && losses[0].contains(&format!("{rec} damaged bytes")),
        "{losses:?}"
    );
    // The loss is reported by verify too, before recovery changes anything.
    drop(store);
}

#[test]
fn a_deleted_or_emptied_log_is_reported_against_the_catalog() {
    for damage in ["delete dir", "truncate"] {
        let dir = tempfile::tempdir().unwrap();
        populated(dir.path());
        // A restart: the checkpoint's file (LSNs 10 to 13: a batch, the late group and stream,
        // a batch) is closed and a new one begun.
        drop(Store::open(dir.path(), opts()).unwrap());
        match damage {
            "delete dir" => fs::remove_dir_all(dir.path().join("wal")).unwrap(),
            _ => {
                let (f, _) = wal_file(dir.path());
                fs::write(&f, b"LSWAL001").unwrap();
            }
        }
        let verify = Store::verify(dir.path()).unwrap();
        let store = Store::open(dir.path(), opts()).unwrap();
        let losses = store.stats().wal_losses;
        assert_eq!(losses.len(), 1, "{damage}: {losses:?}");
        assert!(losses[0].contains("missing"), "{damage}: {losses:?}");
        assert!(losses[0].contains("from LSN 10"), "{losses:?}");
        assert!(!verify.is_clean(), "{damage}: {verify:?}");
    }
}

#[test]
fn verify_and_inspect_find_a_block_damaged_inside_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let clean = Store::verify(dir.path()).unwrap();
    assert!(clean.is_clean(), "{clean:?}");
    assert!(clean.blocks >= 3 && clean.segments == 2 && clean.wal_records == 4, "{clean:?}");
    let seg = files(&dir.path().join("segments"))[0].clone();
    let mut bytes = fs::read(&seg).unwrap();
    bytes[12] ^= 0x01; // inside the first block
    fs::write(&seg, &bytes).unwrap();
    let report = Store::verify(dir.path()).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(report.problems[0].contains("block checksum mismatch"), "{report:?}");
    let store = Store::open(dir.path(), opts()).unwrap();
    assert!(store.stats().damaged_segments.is_empty(), "the footer is whole");
    let damaged = store.damaged_blocks();
    assert_eq!(damaged.len(), 1);
    assert!(damaged[0].contains(&seg.display().to_string()), "{damaged:?}");
    // Reads through it fail as corruption, never as a short answer.
    let err = store.read_group("app", None, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, StorageError::Corruption { .. }), "{err}");
}
