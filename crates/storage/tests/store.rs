//! Contract tests of the store through its public API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use logsight_model::{LogEvent, LogGroupName, LogStreamName, ProducerId, RetentionDays, TimeRange};
use logsight_storage::{
    AppendOutcome, ArtifactKind, CommittedBatch, CompactionPolicy, Direction, Directory, Event,
    Lsn, ManualClock, Position, Producer, RamDirectory, ReadOptions, SegmentChange, StorageError,
    Store, StoreOptions,
};
use proptest::prelude::*;

fn opts() -> StoreOptions {
    StoreOptions { background: false, sync: false, block_bytes: 300, ..Default::default() }
}

fn names(g: &str, s: &str) -> (LogGroupName, LogStreamName) {
    (LogGroupName::new(g).unwrap(), LogStreamName::new(s).unwrap())
}

fn setup(store: &Store, g: &str, streams: &[&str]) {
    let group = LogGroupName::new(g).unwrap();
    store.create_group(&group).unwrap();
    for s in streams {
        store.create_stream(&group, &LogStreamName::new(*s).unwrap()).unwrap();
    }
}

fn ev(ts: i64, msg: &str) -> LogEvent {
    LogEvent::new(ts, ts + 1, msg).unwrap()
}

/// Reads everything by paging with `page` events per call.
fn read_all(
    store: &Store,
    group: &str,
    stream: Option<&str>,
    range: TimeRange,
    direction: Direction,
    page: usize,
) -> Vec<Event> {
    let mut out = Vec::new();
    let mut from: Option<Position> = None;
    loop {
        let opts = ReadOptions { range, direction, from, limit: page, ..Default::default() };
        let p = match stream {
            Some(s) => store.read_stream(group, s, &opts).unwrap(),
            None => store.read_group(group, None, &opts).unwrap(),
        };
        out.extend(p.events);
        if !p.more {
            return out;
        }
        from = p.next;
    }
}

fn messages(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.message.clone()).collect()
}

#[test]
fn read_after_write_then_seal_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    setup(&store, "g", &["s"]);
    store.append("g", "s", &[ev(30, "c"), ev(10, "a"), ev(20, "b")]).unwrap();
    let want = ["a", "b", "c"];
    let check = |store: &Store| {
        let fwd = read_all(store, "g", Some("s"), TimeRange::ALL, Direction::Forward, 2);
        assert_eq!(messages(&fwd), want);
        let back = read_all(store, "g", Some("s"), TimeRange::ALL, Direction::Backward, 1);
        assert_eq!(messages(&back), ["c", "b", "a"]);
        let mid = read_all(
            store,
            "g",
            Some("s"),
            TimeRange::new(Some(20), Some(30)),
            Direction::Forward,
            5,
        );
        assert_eq!(messages(&mid), ["b"]);
    };
    check(&store);
    drop(store);
    // Recovered from the WAL alone.
    let store = Store::open(dir.path(), opts()).unwrap();
    check(&store);
    store.flush().unwrap();
    assert_eq!(store.stats().segments, 1);
    assert_eq!(store.stats().buffered_events, 0);
    check(&store);
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    check(&store);
    let s = &store.streams("g").unwrap()[0];
    assert_eq!(
        (s.events, s.first_event_timestamp, s.last_event_timestamp),
        (3, Some(10), Some(30))
    );
    assert_eq!(s.last_ingestion_time, Some(31));
    let g = store.group("g").unwrap();
    assert_eq!((g.events, g.raw_bytes, g.segments), (3, 3, 1));
    assert_eq!(g.stored_bytes, store.stats().segment_bytes);
}

#[test]
fn segments_can_live_in_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let ram = RamDirectory::new();
    let opts = || StoreOptions { segments: Some(Arc::new(ram.clone())), ..opts() };
    let store = Store::open(dir.path(), opts()).unwrap();
    setup(&store, "g", &["s"]);
    for round in 0..3 {
        store.append("g", "s", &[ev(round * 10, &format!("event {round}"))]).unwrap();
        store.flush().unwrap();
    }
    assert_eq!(ram.list().unwrap().len(), 3);
    store.compact_all(|_| {}).unwrap();
    drop(store);
    // The segment lives in the RAM directory only; the data directory holds the WAL and catalog.
    assert_eq!(ram.list().unwrap().len(), 1);
    assert!(
        std::fs::read_dir(dir.path().join("segments")).map_or(true, |mut d| d.next().is_none())
    );
    let store = Store::open(dir.path(), opts()).unwrap();
    let all = read_all(&store, "g", Some("s"), TimeRange::ALL, Direction::Forward, 10);
    assert_eq!(messages(&all), ["event 0", "event 1", "event 2"]);
}

/// Appends `msg` as batch `seq` of producer `p`.
/// Reads every committed batch after `after`, a few events per call.
fn committed(store: &Store, mut after: Lsn) -> Vec<CommittedBatch> {
    let mut out = Vec::new();
    loop {
        let page = store.read_committed(after, 3, Duration::ZERO).unwrap();
        let Some(last) = page.last() else { return out };
        after = last.lsn;
        out.extend(page);
    }
}

fn committed_messages(batches: &[CommittedBatch]) -> Vec<String> {
    batches.iter().flat_map(|b| b.events.iter().map(|e| e.message.to_string())).collect()
}

#[test]
fn consumers_read_every_committed_batch_once_across_seals_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    // Creating the group and streams are logged records (LSNs 1-3) but not batches: no
    // consumer sees them, and the committed LSN counts batches.
    setup(&store, "g", &["a", "b"]);
    store.hold_committed("metrics", Lsn::ZERO).unwrap();
    assert_eq!(store.committed_lsn(), Lsn::ZERO);
    for i in 0..6 {
        let stream = if i % 2 == 0 { "a" } else { "b" };
        store.append("g", stream, &[ev(i, &format!("m{i}")), ev(i, &format!("n{i}"))]).unwrap();
        if i == 2 {
            store.flush().unwrap(); // sealed, yet kept for the consumer
        }
    }
    assert_eq!(store.committed_lsn(), Lsn::new(9));
    let all = committed(&store, Lsn::ZERO);
    assert_eq!(all.iter().map(|b| b.lsn.get()).collect::<Vec<_>>(), [4, 5, 6, 7, 8, 9]);
    assert_eq!(all[1].stream.as_ref(), "b");
    assert_eq!(committed_messages(&all[..2]), ["m0", "n0", "m1", "n1"]);
    // The consumer persisted up to LSN 7 (its fourth batch) and the store restarts after a
    // seal.
    store.hold_committed("metrics", Lsn::new(7)).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.committed_lsn(), Lsn::new(9));
    let rest = committed(&store, Lsn::new(7));
    assert_eq!(committed_messages(&rest), ["m4", "n4", "m5", "n5"]);
    assert!(matches!(
        store.read_committed(Lsn::new(4), 10, Duration::ZERO),
        Err(StorageError::LsnUnavailable { requested: 4, .. })
    ));
    // LSNs continue across the restart; a waiting reader wakes for the next batch, not for
    // the catalog change logged before it (LSN 10).
    std::thread::scope(|s| {
        let reader = s.spawn(|| store.read_committed(Lsn::new(9), 10, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        store
            .create_stream(&LogGroupName::new("g").unwrap(), &LogStreamName::new("c").unwrap())
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        store.append("g", "c", &[ev(9, "late")]).unwrap();
        let got = reader.join().unwrap().unwrap();
        assert_eq!(got[0].lsn, Lsn::new(11));
        assert_eq!(committed_messages(&got), ["late"]);
    });
    // Released, the sealed WAL goes at the next seal.
    store.release_committed("metrics").unwrap();
    store.flush().unwrap();
    assert!(store.read_committed(Lsn::new(4), 10, Duration::ZERO).is_err());
    assert!(matches!(
        store.hold_committed("late-comer", Lsn::ZERO),
        Err(StorageError::LsnUnavailable { .. })
    ));
}

#[test]
fn stream_pages_walk_names_in_order_under_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let names: Vec<String> =
        (0..40).map(|i| format!("{}-{i:02}", ["app", "web", "apple"][i % 3])).collect();
    setup(&store, "g", &names.iter().map(String::as_str).collect::<Vec<_>>());
    store.append("g", "web-01", &[ev(5, "x"), ev(7, "y")]).unwrap();
    for (prefix, page) in [("", 7), ("app", 4), ("apple", 100), ("web-0", 1), ("zzz", 3)] {
        let mut want: Vec<&String> = names.iter().filter(|n| n.starts_with(prefix)).collect();
        want.sort();
        let (mut got, mut after) = (Vec::new(), None::<String>);
        loop {
            let p = store.streams_page("g", prefix, after.as_deref(), page).unwrap();
            assert!(p.streams.len() <= page);
            after = p.streams.last().map(|s| s.name.clone());
            got.extend(p.streams);
            if !p.more {
                break;
            }
        }
        let got_names: Vec<&String> = got.iter().map(|s| &s.name).collect();
        assert_eq!(got_names, want, "prefix {prefix:?}, pages of {page}");
        // Statistics are those of the full listing.
        let full = store.streams("g").unwrap();
        for s in &got {
            assert_eq!(Some(s), full.iter().find(|f| f.name == s.name));
        }
    }
    let web01 = store.streams_page("g", "web-01", None, 1).unwrap();
    assert_eq!((web01.streams[0].events, web01.more), (2, false));
    assert!(matches!(store.streams_page("nope", "", None, 5), Err(StorageError::GroupNotFound(_))));
}

#[test]
fn artifacts_live_and_die_with_their_segments() {
    let dir = tempfile::tempdir().unwrap();
    let index = ArtifactKind::new("index").unwrap();
    let files = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d.join("segments"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let store = Store::open(dir.path(), opts()).unwrap();
    let changes = store.watch_segments();
    setup(&store, "g", &["s"]);
    for round in 0..2 {
        store.append("g", "s", &[ev(round, &format!("event {round}"))]).unwrap();
        store.flush().unwrap();
    }
    let sealed: Vec<SegmentChange> = changes.try_iter().collect();
    assert_eq!(sealed, [SegmentChange::Added(1), SegmentChange::Added(2)]);
    // A builder catches up on what lacks its artifact, and registers one.
    assert_eq!(store.segments_without(&index), [1, 2]);
    // Registered by a logged change (the WAL), not a rewrite of the catalog file; the reopen
    // below finds it by replay.
    let catalog = std::fs::read(dir.path().join("catalog.json")).unwrap();
    assert!(store.put_artifact(1, &index, b"postings of segment 1").unwrap());
    assert_eq!(std::fs::read(dir.path().join("catalog.json")).unwrap(), catalog);
    assert_eq!(store.segments_without(&index), [2]);
    assert_eq!(&store.artifact(1, &index).unwrap().unwrap()[..], b"postings of segment 1");
    assert!(store.artifact(2, &index).unwrap().is_none());
    // An unregistered artifact file (a build that crashed before its commit) goes at open;
    // the registered one stays.
    std::fs::write(dir.path().join("segments").join("0000000000000002.index"), b"half").unwrap();
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(&store.artifact(1, &index).unwrap().unwrap()[..], b"postings of segment 1");
    assert!(!files(dir.path()).contains(&"0000000000000002.index".to_owned()));
    // A merge removes both segments with the artifact and announces its output.
    let changes = store.watch_segments();
    store.compact_all(|_| {}).unwrap();
    let merged: Vec<SegmentChange> = changes.try_iter().collect();
    assert_eq!(
        merged,
        [SegmentChange::Removed(1), SegmentChange::Removed(2), SegmentChange::Added(3)]
    );
    assert_eq!(files(dir.path()), ["0000000000000003.seg"]);
    assert_eq!(store.segments_without(&index), [3]);
    // An artifact for a segment merged away is refused and leaves no file.
    assert!(!store.put_artifact(1, &index, b"late").unwrap());
    assert_eq!(files(dir.path()), ["0000000000000003.seg"]);
}

#[test]
fn catalog_changes_are_logged_and_recovered_without_rewriting_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.json");
    let (g, a) = names("g", "a");
    let b = LogStreamName::new("b").unwrap();
    // Retention is set below; at this time it keeps every event.
    let clock = Arc::new(ManualClock::new(100));
    let opts = || StoreOptions { clock: clock.clone(), ..opts() };
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        let empty_catalog = std::fs::read(&catalog).unwrap();
        setup(&store, "g", &["a", "b"]);
        store.append("g", "a", &[ev(1, "old a")]).unwrap();
        // Deleted and created again: the new stream must not see the old one's events.
        store.delete_stream(&g, &a).unwrap();
        store.create_stream(&g, &a).unwrap();
        store.append("g", "a", &[ev(2, "new a")]).unwrap();
        store.set_retention(&g, Some(RetentionDays::new(7).unwrap())).unwrap();
        // None of this rewrote the catalog file (written empty when the store was made): each
        // change is one WAL record.
        assert_eq!(std::fs::read(&catalog).unwrap(), empty_catalog);
    }
    let check = |store: &Store| {
        let streams: Vec<String> =
            store.streams("g").unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(streams, ["a", "b"]);
        let all = read_all(store, "g", Some("a"), TimeRange::ALL, Direction::Forward, 10);
        assert_eq!(messages(&all), ["new a"]);
        assert_eq!(store.retention_days("g").unwrap(), Some(7));
    };
    let store = Store::open(dir.path(), opts()).unwrap();
    check(&store);
    // A seal with nothing buffered but logged changes still checkpoints the catalog, so the
    // WAL files holding them can go.
    store.delete_stream(&g, &b).unwrap();
    store.create_stream(&g, &b).unwrap();
    let before = std::fs::read(&catalog).unwrap();
    store.flush().unwrap();
    assert_ne!(std::fs::read(&catalog).unwrap(), before);
    store.flush().unwrap();
    assert_eq!(store.stats().wal_bytes, 8, "only the new, empty WAL file is left");
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    check(&store);
    assert_eq!(store.streams("g").unwrap()[1].events, 0);
}

fn put(store: &Store, stream: &str, p: &ProducerId, seq: u64, msg: &str) -> AppendOutcome {
    let producer = Some(Producer { id: p, sequence: seq });
    store.append_idempotent("g", stream, &[ev(seq as i64, msg)], producer).unwrap()
}

#[test]
fn idempotent_appends_survive_replay_and_sealing() {
    let dir = tempfile::tempdir().unwrap();
    let p = ProducerId::new("client-1").unwrap();
    let dup = |last| AppendOutcome::Duplicate { last_sequence: last };
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        setup(&store, "g", &["s", "t"]);
        assert_eq!(put(&store, "s", &p, 10, "a"), AppendOutcome::Appended);
        assert_eq!(put(&store, "s", &p, 10, "a again"), dup(10));
        assert_eq!(put(&store, "s", &p, 3, "older"), dup(10));
        // The same producer in another stream has its own sequence.
        assert_eq!(put(&store, "t", &p, 3, "t1"), AppendOutcome::Appended);
        // Appends without a producer are never deduplicated.
        store.append("g", "s", &[ev(11, "plain")]).unwrap();
        store.append("g", "s", &[ev(11, "plain")]).unwrap();
    }
    // Replay path: the marks come back from the WAL.
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(put(&store, "s", &p, 10, "a again"), dup(10));
        assert_eq!(put(&store, "t", &p, 3, "t1 again"), dup(3));
        assert_eq!(put(&store, "s", &p, 20, "b"), AppendOutcome::Appended);
        store.flush().unwrap();
        assert_eq!(store.stats().buffered_events, 0);
        assert_eq!(store.stats().wal_bytes, 8, "only the new, empty WAL file is left");
    }
    // Catalog path: the WAL that held the marks is gone.
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        assert_eq!(put(&store, "s", &p, 20, "b again"), dup(20));
        assert_eq!(put(&store, "s", &p, 15, "older"), dup(20));
        assert_eq!(put(&store, "t", &p, 3, "t1 again"), dup(3));
        let all = read_all(&store, "g", Some("s"), TimeRange::ALL, Direction::Forward, 100);
        assert_eq!(messages(&all), ["a", "plain", "plain", "b"]);
        let t = read_all(&store, "g", Some("t"), TimeRange::ALL, Direction::Forward, 100);
        assert_eq!(messages(&t), ["t1"]);
        // Deleting a stream forgets its producers; a new stream of that name starts afresh.
        let (g, s) = names("g", "s");
        store.delete_stream(&g, &s).unwrap();
        store.create_stream(&g, &s).unwrap();
        assert_eq!(put(&store, "s", &p, 20, "fresh"), AppendOutcome::Appended);
    }
}

#[test]
fn racing_duplicates_store_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions { sync: true, ..opts() }).unwrap();
    setup(&store, "g", &["s"]);
    let p = ProducerId::new("racer").unwrap();
    let appended = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for seq in 1..=50 {
                    if put(&store, "s", &p, seq, &format!("m{seq}")) == AppendOutcome::Appended {
                        appended.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let all = read_all(&store, "g", Some("s"), TimeRange::ALL, Direction::Forward, 1000);
    assert_eq!(all.len(), appended.into_inner());
    let mut seen = messages(&all);
    seen.dedup();
    assert_eq!(seen.len(), all.len(), "a batch was stored twice");
    assert!(seen.contains(&"m50".to_owned()));
}

#[test]
fn names_and_lifecycle_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let (g, s) = names("g", "s");
    assert!(matches!(store.create_stream(&g, &s), Err(StorageError::GroupNotFound(_))));
    store.create_group(&g).unwrap();
    assert!(matches!(store.create_group(&g), Err(StorageError::GroupExists(_))));
    store.create_stream(&g, &s).unwrap();
    assert!(matches!(store.create_stream(&g, &s), Err(StorageError::StreamExists { .. })));
    assert!(matches!(
        store.append("g", "nope", &[ev(1, "x")]),
        Err(StorageError::StreamNotFound { .. })
    ));
    assert!(matches!(
        store.append("nope", "s", &[ev(1, "x")]),
        Err(StorageError::GroupNotFound(_))
    ));
    let bad = ReadOptions {
        from: Some("garbage".parse().unwrap_or(Position {
            direction: Direction::Backward,
            timestamp: 0,
            stream: 0,
            ordinal: 0,
        })),
        ..Default::default()
    };
    assert!(matches!(store.read_stream("g", "s", &bad), Err(StorageError::InvalidArgument(_))));
    assert!("x/1/2/3".parse::<Position>().is_err());
    assert!("f/1/2".parse::<Position>().is_err());
    assert!("f/1/2/3/4".parse::<Position>().is_err());
    let p: Position = "b/-1/2/3".parse().unwrap();
    assert_eq!(p.to_string(), "b/-1/2/3");
    assert!(matches!(Store::open(dir.path(), opts()), Err(StorageError::Locked(_))));
}

#[test]
fn deleting_a_stream_removes_its_data_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    setup(&store, "g", &["a", "b"]);
    store.append("g", "a", &[ev(1, "a1"), ev(2, "a2")]).unwrap();
    store.append("g", "b", &[ev(1, "b1")]).unwrap();
    store.flush().unwrap();
    store.append("g", "a", &[ev(3, "a3")]).unwrap();
    let (g, a) = names("g", "a");
    store.delete_stream(&g, &a).unwrap();
    store.create_stream(&g, &a).unwrap();
    assert!(read_all(&store, "g", Some("a"), TimeRange::ALL, Direction::Forward, 10).is_empty());
    assert_eq!(
        messages(&read_all(&store, "g", None, TimeRange::ALL, Direction::Forward, 10)),
        ["b1"]
    );
    // The segment was rewritten without stream a's block.
    let bytes_before = store.stats().segment_bytes;
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert!(read_all(&store, "g", Some("a"), TimeRange::ALL, Direction::Forward, 10).is_empty());
    assert_eq!(store.stats().segment_bytes, bytes_before);
    store.delete_group(&g).unwrap();
    assert_eq!(store.stats().segments, 0);
    assert!(matches!(store.group("g"), Err(StorageError::GroupNotFound(_))));
}

#[test]
fn retention_hides_then_deletes_old_events() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400_000;
    let clock = Arc::new(ManualClock::new(100 * day));
    let store = Store::open(dir.path(), StoreOptions { clock: clock.clone(), ..opts() }).unwrap();
    setup(&store, "g", &["s"]);
    store.append("g", "s", &[ev(90 * day, "old")]).unwrap();
    store.flush().unwrap();
    store.append("g", "s", &[ev(99 * day, "new")]).unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().segments, 2);
    let (g, _) = names("g", "s");
    store.set_retention(&g, Some(RetentionDays::new(7).unwrap())).unwrap();
    assert_eq!(
        messages(&read_all(&store, "g", Some("s"), TimeRange::ALL, Direction::Forward, 10)),
        ["new"]
    );
    assert_eq!(store.stats().segments, 1, "the expired segment is deleted");
    clock.set(120 * day);
    store.enforce_retention().unwrap();
    assert_eq!(store.stats().segments, 0);
    assert!(read_all(&store, "g", Some("s"), TimeRange::ALL, Direction::Forward, 10).is_empty());
}

#[test]
fn damaged_block_is_reported_and_the_rest_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    setup(&store, "g", &["a", "b"]);
    store.append("g", "a", &[ev(1, "first segment")]).unwrap();
    store.flush().unwrap();
    store.append("g", "b", &[ev(2, "second segment")]).unwrap();
    store.flush().unwrap();
    drop(store);
    let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    bytes[10] ^= 0xff; // inside the first block
    std::fs::write(&segs[0], bytes).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let err = store.read_stream("g", "a", &ReadOptions::default()).unwrap_err();
    match &err {
        StorageError::Corruption { file, offset, .. } => {
            assert_eq!(file, &segs[0]);
            assert_eq!(*offset, 8);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("block checksum mismatch"), "{err}");
    let page = store.read_stream("g", "b", &ReadOptions::default()).unwrap();
    assert_eq!(messages(&page.events), ["second segment"]);
}

#[test]
fn damaged_segment_footer_is_quarantined_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    setup(&store, "g", &["a"]);
    store.append("g", "a", &[ev(1, "x")]).unwrap();
    store.flush().unwrap();
    drop(store);
    let seg =
        std::fs::read_dir(dir.path().join("segments")).unwrap().next().unwrap().unwrap().path();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 3).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.stats().damaged_segments.len(), 1);
    assert!(store.stats().damaged_segments[0].contains("footer"), "{:?}", store.stats());
    store.append("g", "a", &[ev(2, "y")]).unwrap();
    assert_eq!(
        messages(&store.read_stream("g", "a", &ReadOptions::default()).unwrap().events),
        ["y"]
    );
}

#[test]
fn scan_prunes_by_stream_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions { block_bytes: 10, ..opts() }).unwrap();
    setup(&store, "g", &["a", "b"]);
    for i in 0..10 {
        store.append("g", "a", &[ev(i * 100, &format!("a event {i:03}"))]).unwrap();
        store.append("g", "b", &[ev(i * 100, &format!("b event {i:03}"))]).unwrap();
    }
    store.flush().unwrap();
    store.append("g", "a", &[ev(2000, "a buffered")]).unwrap();
    let plan = store
        .plan_scan("g", Some(&["a".to_string()]), TimeRange::new(Some(250), Some(2001)))
        .unwrap();
    assert_eq!(plan.blocks_total, 20);
    assert_eq!(plan.blocks_scanned(), 7, "blocks of a from t=300 to t=900");
    let seen = parking_lot::Mutex::new(Vec::new());
    plan.run(2, |_, block, runs| {
        for run in runs {
            for i in run.rows.clone() {
                let stream = plan.streams[run.index].to_string();
                seen.lock().push((stream, block.message(i).to_owned()));
            }
        }
        Ok(())
    })
    .unwrap();
    let mut seen = seen.into_inner();
    seen.sort();
    let mut want: Vec<_> = (3..10).map(|i| ("a".to_string(), format!("a event {i:03}"))).collect();
    want.push(("a".into(), "a buffered".into()));
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn streams_share_blocks_and_reads_see_only_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions { block_bytes: 1 << 20, ..opts() }).unwrap();
    let streams: Vec<String> = (0..50).map(|i| format!("i-{i:02}")).collect();
    let names: Vec<&str> = streams.iter().map(String::as_str).collect();
    setup(&store, "fleet", &names);
    setup(&store, "other", &["x"]);
    for round in 0..4 {
        for (i, s) in names.iter().enumerate() {
            let t = round * 1000 + i as i64;
            store.append("fleet", s, &[ev(t, &format!("{s} round {round}"))]).unwrap();
        }
        store.append("other", "x", &[ev(round, "other group")]).unwrap();
    }
    store.flush().unwrap();
    // One block per group: 50 streams share one.
    assert_eq!(store.stats().blocks, 2);
    let g = store.group("fleet").unwrap();
    assert_eq!((g.blocks, g.segments, g.events), (1, 1, 200));
    let one = read_all(&store, "fleet", Some("i-07"), TimeRange::ALL, Direction::Forward, 3);
    assert_eq!(messages(&one), (0..4).map(|r| format!("i-07 round {r}")).collect::<Vec<_>>());
    let s = store.streams("fleet").unwrap();
    let s7 = s.iter().find(|s| s.name == "i-07").unwrap();
    assert_eq!(
        (s7.events, s7.first_event_timestamp, s7.last_event_timestamp),
        (4, Some(7), Some(3007))
    );
    assert!(s7.stored_bytes > 0 && s7.stored_bytes < g.stored_bytes / 10);
    let all = read_all(&store, "fleet", None, TimeRange::ALL, Direction::Backward, 7);
    assert_eq!(all.len(), 200);
    assert_eq!(all[0].message, "i-49 round 3");
    let plan =
        store.plan_scan("fleet", Some(&["i-03".into(), "i-40".into()]), TimeRange::ALL).unwrap();
    let rows = parking_lot::Mutex::new(0);
    plan.run(1, |_, _, runs| {
        assert!(runs.iter().map(|r| &*plan.streams[r.index]).all(|s| s == "i-03" || s == "i-40"));
        *rows.lock() += runs.iter().map(|r| r.rows.len()).sum::<usize>();
        Ok(())
    })
    .unwrap();
    assert_eq!(rows.into_inner(), 8);
}

#[test]
fn sealing_in_the_background_under_backpressure_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let o = StoreOptions {
        background: true,
        seal_bytes: 4_000,
        max_buffer_bytes: 8_000,
        seal_age: Duration::from_millis(20),
        // Seals only, so the segment count below counts them.
        background_compaction: false,
        ..opts()
    };
    let store = Store::open(dir.path(), o).unwrap();
    setup(&store, "g", &["s0", "s1", "s2", "s3"]);
    std::thread::scope(|sc| {
        for t in 0..4 {
            let store = &store;
            sc.spawn(move || {
                for i in 0..300 {
                    let m = format!("thread {t} event {i:04} {}", "x".repeat(i % 50));
                    store.append("g", &format!("s{t}"), &[ev(i as i64, &m)]).unwrap();
                }
            });
        }
    });
    assert!(store.stats().segments > 3, "{:?}", store.stats());
    let all = read_all(&store, "g", None, TimeRange::ALL, Direction::Forward, 77);
    assert_eq!(all.len(), 1200);
    assert!(all.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
}

/// A straightforward oracle of the store's order: by timestamp, then stream, then arrival.
fn oracle(events: &[(usize, i64, String)], range: TimeRange, dir: Direction) -> Vec<String> {
    let mut v: Vec<(i64, usize, usize, &String)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| range.contains(e.1))
        .map(|(i, e)| (e.1, e.0, i, &e.2))
        .collect();
    v.sort();
    if dir == Direction::Backward {
        v.reverse();
    }
    v.into_iter().map(|e| e.3.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Paged reads across sealed and buffered data equal a sorted oracle, in both directions,
    /// whatever the page size and wherever seals fall.
    #[test]
    fn paged_group_reads_match_the_oracle(
        batches in proptest::collection::vec(
            (0usize..3, proptest::collection::vec(0i64..40, 1..8), any::<bool>()), 1..25),
        page in 1usize..7,
        start in proptest::option::of(0i64..40),
        len in 0i64..50,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions { block_bytes: 40, ..opts() }).unwrap();
        setup(&store, "g", &["s0", "s1", "s2"]);
        let mut all = Vec::new();
        for (n, (stream, times, seal)) in batches.iter().enumerate() {
            let evs: Vec<LogEvent> = times.iter().enumerate()
                .map(|(j, t)| ev(*t, &format!("b{n}e{j}"))).collect();
            store.append("g", &format!("s{stream}"), &evs).unwrap();
            // Within a stream, the store keeps arrival order among equal timestamps.
            all.extend(evs.iter().map(|e| (*stream, e.timestamp(), e.message().to_owned())));
            if *seal {
                store.flush().unwrap();
            }
        }
        let range = TimeRange::new(start, start.map(|s| s + len));
        // The same reads before and after compaction (which merges the seals' segments).
        for compacted in [false, true] {
            if compacted {
                store.compact_all(|_| ()).unwrap();
                prop_assert!(store.stats().segments <= 1);
            }
            for dir in [Direction::Forward, Direction::Backward] {
                let got = messages(&read_all(&store, "g", None, range, dir, page));
                prop_assert_eq!(got, oracle(&all, range, dir));
                let s1: Vec<_> = all.iter().filter(|e| e.0 == 1).cloned().collect();
                let got = messages(&read_all(&store, "g", Some("s1"), range, dir, page));
                prop_assert_eq!(got, oracle(&s1, range, dir));
            }
        }
    }
}

/// The child half of the crash test: appends forever, printing each acknowledged batch.
#[test]
#[ignore = "run as a child process by kill_9_loses_no_acknowledged_batch"]
fn crash_child() {
    use std::io::Write;
    let Ok(dir) = std::env::var("LOGSIGHT_CRASH_DIR") else { return };
    let round: usize = std::env::var("LOGSIGHT_CRASH_ROUND").unwrap().parse().unwrap();
    // Small seals merged as soon as there are two, so kills land during merges too.
    let compaction = CompactionPolicy { fan_in: 2, ..CompactionPolicy::default() };
    let o = StoreOptions {
        seal_bytes: 20_000,
        seal_age: Duration::from_millis(30),
        compaction,
        ..StoreOptions::default()
    };
    let store = Store::open(&dir, o).unwrap();
    let stdout = parking_lot::Mutex::new(std::io::stdout());
    std::thread::scope(|sc| {
        for t in 0..4 {
            let (store, stdout) = (&store, &stdout);
            sc.spawn(move || {
                for n in 0.. {
                    let id = format!("r{round}t{t}n{n}");
                    let evs: Vec<LogEvent> = (0..(n % 7) + 1)
                        .map(|j| ev(n as i64, &format!("{id} part {j} of {}", (n % 7) + 1)))
                        .collect();
                    store.append("g", &format!("s{t}"), &evs).unwrap();
                    let mut out = stdout.lock();
                    writeln!(out, "ack {id} {}", evs.len()).unwrap();
                    out.flush().unwrap();
                }
            });
        }
        // A fleet's short-lived streams: created (a logged catalog change), written once.
        let (store, stdout) = (&store, &stdout);
        sc.spawn(move || {
            let g = LogGroupName::new("g").unwrap();
            for n in 0.. {
                let name = format!("r{round}c{n}");
                store.create_stream(&g, &LogStreamName::new(name.clone()).unwrap()).unwrap();
                writeln!(stdout.lock(), "created {name}").unwrap();
                let id = format!("r{round}c{n}e");
                store.append("g", &name, &[ev(n, &format!("{id} part 0 of 1"))]).unwrap();
                let mut out = stdout.lock();
                writeln!(out, "ack {id} 1").unwrap();
                out.flush().unwrap();
            }
        });
    });
}

#[test]
fn kill_9_loses_no_acknowledged_batch() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), StoreOptions { block_bytes: 10, ..opts() }).unwrap();
        setup(&store, "g", &["s0", "s1", "s2", "s3"]);
    }
    let mut acked: HashMap<String, usize> = HashMap::new();
    let mut acked_streams = Vec::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..12 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env("LOGSIGHT_CRASH_DIR", dir.path())
            .env("LOGSIGHT_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut acks, mut created) = (Vec::new(), Vec::new());
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("ack ") {
                    let (id, n) = rest.split_once(' ').unwrap();
                    acks.push((id.to_owned(), n.parse::<usize>().unwrap()));
                } else if let Some(name) = line.strip_prefix("created ") {
                    created.push(name.to_owned());
                }
            }
            (acks, created)
        });
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(150 + rng % 250));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (acks, created) = reader.join().unwrap();
        assert!(!acks.is_empty(), "round {round}: the child acknowledged nothing");
        acked.extend(acks);
        acked_streams.extend(created);
    }
    let store = Store::open(dir.path(), opts()).unwrap();
    let streams: std::collections::HashSet<String> =
        store.streams("g").unwrap().into_iter().map(|s| s.name).collect();
    for name in &acked_streams {
        assert!(streams.contains(name), "acknowledged stream {name} lost");
    }
    assert!(acked_streams.len() > 12, "streams were created in every round");
    let all = read_all(&store, "g", None, TimeRange::ALL, Direction::Forward, 5_000);
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for e in &all {
        let id = e.message.split(' ').next().unwrap().to_owned();
        seen.entry(id).or_default().push(e.message.clone());
    }
    for (id, n) in &acked {
        let got = seen.get(id).unwrap_or_else(|| panic!("acknowledged batch {id} lost"));
        assert_eq!(got.len(), *n, "batch {id}");
    }
    for (id, msgs) in &seen {
        let total: usize = msgs[0].rsplit(' ').next().unwrap().parse().unwrap();
        let mut sorted = msgs.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), msgs.len(), "batch {id} duplicated");
        assert_eq!(msgs.len(), total, "batch {id} torn");
    }
    assert!(all.len() > 100);
}

/// Copies the committed data directory written by the first storage format (one stream per
/// block, 72-byte directory entries, no group ids in the catalog) to a temporary directory.
fn v1_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-store");
    for sub in ["", "segments", "wal"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for entry in std::fs::read_dir(src.join(sub)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
    dir
}

fn v1_expectations(store: &Store) {
    let web = read_all(store, "web", None, TimeRange::ALL, Direction::Forward, 2);
    assert_eq!(
        messages(&web),
        [
            "late event from b",
            "GET /index.html 200 12ms",
            "GET /login 302 3ms",
            "POST /api/orders 500 87ms",
            "GET /health 200 1ms",
        ]
    );
    let streams: Vec<&str> = web.iter().map(|e| &*e.stream).collect();
    assert_eq!(streams, ["b", "a", "b", "a", "a"]);
    let a = read_all(store, "web", Some("a"), TimeRange::ALL, Direction::Backward, 1);
    assert_eq!(
        a.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
        [1_700_000_005_000, 1_700_000_002_000, 1_700_000_000_000]
    );
    let jobs = read_all(store, "jobs", None, TimeRange::ALL, Direction::Forward, 10);
    assert_eq!(messages(&jobs), ["worker started pid=41", "job 7 done in 1.5s"]);
    let web = store.group("web").unwrap();
    assert_eq!((web.streams, web.events, web.raw_bytes), (2, 5, 103));
}

#[test]
fn first_format_data_directories_still_read() {
    let dir = v1_store();
    let store = Store::open(dir.path(), opts()).unwrap();
    v1_expectations(&store);
    // New data lands beside the old in the new format, and both read together.
    store.append("web", "b", &[ev(1_700_000_006_000, "new format")]).unwrap();
    store.flush().unwrap();
    let web = read_all(&store, "web", None, TimeRange::ALL, Direction::Forward, 3);
    assert_eq!(web.last().unwrap().message, "new format");
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.group("web").unwrap().events, 6);
}

#[test]
fn compaction_rewrites_the_first_format_and_keeps_every_read() {
    let dir = v1_store();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert!(store.segments().iter().all(|s| s.format == 1));
    let report = store.compact_all(|_| ()).unwrap();
    assert_eq!((report.inputs, report.rows_dropped), (2, 0));
    // Every event falls on 2023-11-14, day 19,675 since the epoch.
    let segs = store.segments();
    assert_eq!(segs.len(), 1);
    assert_eq!((segs[0].format, segs[0].events, segs[0].partition_day), (2, 7, Some(19_675)));
    v1_expectations(&store);
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    v1_expectations(&store);
}

#[test]
fn compaction_drops_deleted_streams_and_expired_rows_and_splits_days() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(10 * 86_400_000));
    let store = Store::open(dir.path(), StoreOptions { clock: clock.clone(), ..opts() }).unwrap();
    setup(&store, "g", &["keep", "gone"]);
    let day = 86_400_000;
    for d in 7..10 {
        store.append("g", "keep", &[ev(d * day + 5, &format!("keep day {d}"))]).unwrap();
        store.append("g", "gone", &[ev(d * day + 6, &format!("gone day {d}"))]).unwrap();
        store.flush().unwrap();
    }
    // One seal of two days, too: it writes a segment for each.
    store
        .append("g", "keep", &[ev(8 * day + 9, "late to day 8"), ev(9 * day + 9, "day 9 again")])
        .unwrap();
    store.flush().unwrap();
    let days: Vec<Option<i64>> = store.segments().iter().map(|s| s.partition_day).collect();
    assert_eq!(days, [Some(7), Some(8), Some(9), Some(8), Some(9)]);
    let (g, gone) = names("g", "gone");
    store.delete_stream(&g, &gone).unwrap();
    store.set_retention(&g, Some(RetentionDays::new(3).unwrap())).unwrap();
    clock.set(10 * day + day / 2); // day 7 is now past the 3-day retention
    let report = store.compact_all(|_| ()).unwrap();
    // Days 8 and 9 each merge their two segments, dropping the deleted stream's row in each;
    // day 7 is alone (nothing to merge) and wholly expired, so retention deletes it.
    assert_eq!((report.inputs, report.outputs, report.rows_dropped), (4, 2, 2), "{report:?}");
    store.enforce_retention().unwrap();
    let segs = store.segments();
    let days: Vec<Option<i64>> = segs.iter().map(|s| s.partition_day).collect();
    assert_eq!(days, [Some(8), Some(9)], "{segs:?}");
    let all = read_all(&store, "g", None, TimeRange::ALL, Direction::Forward, 10);
    assert_eq!(messages(&all), ["keep day 8", "late to day 8", "keep day 9", "day 9 again"]);
}

/// Events of one stream at one timestamp read in the order of the seals that hold them,
/// through a seal of two days between two seals of one. (A segment spanning days, as seals
/// wrote before they split by day, sits in neither day's partition; merging a day's segments
/// around it would move the later ones' events ahead of its own: `compact.rs`'s unit tests.)
#[test]
fn compaction_keeps_the_order_of_one_timestamp_across_a_seal_of_two_days() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400_000;
    let policy = CompactionPolicy { fan_in: 2, ..CompactionPolicy::default() };
    let store = Store::open(dir.path(), StoreOptions { compaction: policy, ..opts() }).unwrap();
    setup(&store, "g", &["s"]);
    let t = 8 * day + 5;
    store.append("g", "s", &[ev(t, "first, day 8")]).unwrap();
    store.flush().unwrap();
    store.append("g", "s", &[ev(t, "second, spanning"), ev(9 * day + 1, "day 9")]).unwrap();
    store.flush().unwrap();
    store.append("g", "s", &[ev(t, "third, day 8")]).unwrap();
    store.flush().unwrap();
    assert!(store.segments().iter().all(|s| s.partition_day.is_some()), "one day each");
    let order = ["first, day 8", "second, spanning", "third, day 8", "day 9"];
    let read = |store: &Store| {
        messages(&read_all(store, "g", Some("s"), TimeRange::ALL, Direction::Forward, 1))
    };
    assert_eq!(read(&store), order);
    while store.compact_once().unwrap().is_some() {
        assert_eq!(read(&store), order, "after a merge: {:?}", store.segments());
    }
    // Merging everything (the spanning seal with its days) keeps it too.
    store.compact_all(|_| ()).unwrap();
    assert_eq!(read(&store), order);
}

/// `logsight compact` merges a seal spanning days with the seals of those days; another
/// seal spanning days that it takes reaches a further day, whose seals it must take too.
#[test]
fn compacting_everything_keeps_the_order_of_one_timestamp_across_chained_spans() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400_000;
    let store = Store::open(dir.path(), opts()).unwrap();
    setup(&store, "g", &["s"]);
    let t = 7 * day + 5;
    let seals: [&[(i64, &str)]; 3] = [
        &[(5 * day, "day 5"), (6 * day, "day 6")],
        &[(t, "first at t")],
        &[(6 * day + 1, "day 6 again"), (t, "second at t")],
    ];
    for seal in seals {
        let evs: Vec<LogEvent> = seal.iter().map(|(ts, m)| ev(*ts, m)).collect();
        store.append("g", "s", &evs).unwrap();
        store.flush().unwrap();
    }
    let order = ["day 5", "day 6", "day 6 again", "first at t", "second at t"];
    let read = |store: &Store| {
        messages(&read_all(store, "g", Some("s"), TimeRange::ALL, Direction::Forward, 2))
    };
    assert_eq!(read(&store), order);
    store.compact_all(|_| ()).unwrap();
    assert_eq!(read(&store), order, "{:?}", store.segments());
}

#[test]
fn a_snapshot_sees_what_was_there_when_it_was_taken() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    setup(&store, "g", &["a", "b"]);
    setup(&store, "h", &["x"]);
    store.append("g", "a", &[ev(1, "sealed a")]).unwrap();
    store.flush().unwrap();
    store.append("g", "b", &[ev(2, "buffered b")]).unwrap();
    store.append("h", "x", &[ev(3, "buffered x")]).unwrap();
    let snap = store.snapshot(&["g", "h"]).unwrap();
    // Everything after the snapshot: appends, a seal, a merge, a deletion.
    store.append("g", "a", &[ev(4, "later a")]).unwrap();
    store.flush().unwrap();
    store.compact_all(|_| ()).unwrap();
    store
        .delete_stream(&LogGroupName::new("g").unwrap(), &LogStreamName::new("b").unwrap())
        .unwrap();
    let read = |group: &str| {
        let p = snap.read_group(group, None, &ReadOptions::default()).unwrap();
        messages(&p.events)
    };
    assert_eq!(read("g"), ["sealed a", "buffered b"]);
    assert_eq!(read("h"), ["buffered x"]);
    let plan = snap.plan_scan("g", None, TimeRange::ALL).unwrap();
    assert_eq!(plan.units.iter().map(|u| u.count()).sum::<usize>(), 2);
    assert!(matches!(
        snap.read_group("other", None, &ReadOptions::default()),
        Err(StorageError::GroupNotFound(_))
    ));
    // The store itself moved on.
    let now = read_all(&store, "g", None, TimeRange::ALL, Direction::Forward, 10);
    assert_eq!(messages(&now), ["sealed a", "later a"]);
}

#[test]
fn paging_through_one_long_timestamp_returns_each_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions { block_bytes: 2_000, ..opts() }).unwrap();
    setup(&store, "g", &["a", "b"]);
    // 3,000 events at one millisecond in two streams, across two seals and the buffer.
    let mut want = Vec::new();
    for part in 0..3 {
        for s in ["a", "b"] {
            let evs: Vec<LogEvent> =
                (0..500).map(|i| ev(7, &format!("{s} {part} {i:03}"))).collect();
            store.append("g", s, &evs).unwrap();
        }
        if part < 2 {
            store.flush().unwrap();
        }
    }
    // The order among equal timestamps: stream, then arrival.
    for s in ["a", "b"] {
        for part in 0..3 {
            want.extend((0..500).map(|i| format!("{s} {part} {i:03}")));
        }
    }
    for page in [1, 7, 500, 1200] {
        let got = read_all(&store, "g", None, TimeRange::ALL, Direction::Forward, page);
        assert_eq!(messages(&got), want, "page {page}");
        let mut back = read_all(&store, "g", None, TimeRange::ALL, Direction::Backward, page);
        back.reverse();
        assert_eq!(messages(&back), want, "backward, page {page}");
    }
}

/// Reads one stream page by page, `page` events each, returning the events and each page's
/// blocks decoded.
fn pages_of(store: &Store, dir: Direction, page: usize) -> (Vec<Event>, Vec<usize>) {
    let (mut out, mut cost) = (Vec::new(), Vec::new());
    let mut from = None;
    loop {
        let opts = ReadOptions { direction: dir, from, limit: page, ..Default::default() };
        let p = store.read_stream("g", "s", &opts).unwrap();
        cost.push(p.blocks_decoded);
        out.extend(p.events);
        if !p.more {
            return (out, cost);
        }
        from = p.next;
    }
}

/// Issue 15: a run of events sharing one timestamp (what text ingest writes) used to make
/// every page decode every block of the run, so paging through it was quadratic. A page now
/// decodes the blocks it returns events from and at most a few where the timestamp starts or
/// ends, however deep into the run it starts.
#[test]
fn a_page_deep_in_one_timestamp_decodes_no_more_than_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions { block_bytes: 1500, ..opts() }).unwrap();
    setup(&store, "g", &["s"]);
    let mut want = Vec::new();
    // Distinct times before and after the run; the run spans two seals and the buffer.
    store.append("g", "s", &[ev(5, "before-1"), ev(7, "before-2")]).unwrap();
    want.extend(["before-1".to_owned(), "before-2".to_owned()]);
    for part in 0..3 {
        let run: Vec<LogEvent> =
            (0..1500).map(|i| ev(10, &format!("same p{part} n{i:05}"))).collect();
        want.extend(run.iter().map(|e| e.message().to_owned()));
        store.append("g", "s", &run).unwrap();
        if part < 2 {
            store.flush().unwrap();
        }
    }
    store.append("g", "s", &[ev(20, "after")]).unwrap();
    want.push("after".to_owned());
    let blocks: usize = store.stats().blocks as usize;
    assert!(blocks > 20, "the run spans many blocks: {blocks}");

    for dir in [Direction::Forward, Direction::Backward] {
        let (events, cost) = pages_of(&store, dir, 50);
        let mut expect = want.clone();
        if dir == Direction::Backward {
            expect.reverse();
        }
        assert_eq!(messages(&events), expect, "{dir:?}");
        // Ordinals count each timestamp's events in arrival order.
        let mut ordinals: Vec<(i64, u64)> =
            events.iter().map(|e| (e.timestamp, e.ordinal)).collect();
        ordinals.sort_unstable();
        let run: Vec<u64> = ordinals.iter().filter(|o| o.0 == 10).map(|o| o.1).collect();
        assert_eq!(run, (0..4500).collect::<Vec<u64>>());
        // Each page of 50 events touches at most the blocks holding them (a block holds more
        // than 50 of these rows) plus the one where the run starts, the one it resumes in
        // and the one where the run ends: never the whole run.
        let worst = cost.iter().max().copied().unwrap_or(0);
        assert!(worst <= 4, "{dir:?}: blocks decoded per page {cost:?} (of {blocks})");
    }
}

/// A position stays exact when the data moves between pages: seals move buffered events into
/// segments, compaction merges segments (new ranks, new blocks), and appends add events at the
/// same timestamps. Every event present at the start is read exactly once, in order, and
/// events added meanwhile are read at most once, in their place.
fn read_while_moving(
    store: &Store,
    stream: Option<&str>,
    dir: Direction,
    page: usize,
    moves: &[u8],
    extra: &mut Vec<(usize, i64, String)>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = None;
    for step in 0.. {
        let opts = ReadOptions { direction: dir, from, limit: page, ..Default::default() };
        let p = match stream {
            Some(s) => store.read_stream("g", s, &opts).unwrap(),
            None => store.read_group("g", None, &opts).unwrap(),
        };
        out.extend(messages(&p.events));
        if !p.more {
            break;
        }
        from = p.next;
        match moves.get(step % moves.len().max(1)).copied().unwrap_or(0) % 5 {
            1 => store.flush().unwrap(),
            2 => {
                store.flush().unwrap();
                store.compact_all(|_| ()).unwrap();
            }
            3 => {
                let (s, t) = (step % 3, stamp((step % 4) as i64));
                let m = format!("x{}", extra.len());
                store.append("g", &format!("s{s}"), &[ev(t, &m)]).unwrap();
                extra.push((s, t, m));
            }
            4 => {
                store.flush().unwrap();
                while store.compact_once().unwrap().is_some() {}
            }
            _ => {}
        }
    }
    out
}

/// The four timestamps of the position tests: two in each of two days, so that seals span
/// days and share timestamps with seals of one day.
fn stamp(t: i64) -> i64 {
    (t / 2) * 86_400_000 + t % 2
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn positions_survive_seals_compactions_and_appends_between_pages(
        batches in proptest::collection::vec(
            (0usize..3, proptest::collection::vec(0i64..4, 1..12), any::<bool>()), 1..12),
        page in 1usize..9,
        moves in proptest::collection::vec(any::<u8>(), 1..8),
        one_stream in any::<bool>(),
        backward in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // Merges as soon as two seals of a partition line up.
        let compaction = CompactionPolicy { fan_in: 2, ..CompactionPolicy::default() };
        let o = StoreOptions { block_bytes: 40, compaction, ..opts() };
        let store = Store::open(dir.path(), o).unwrap();
        setup(&store, "g", &["s0", "s1", "s2"]);
        let mut all = Vec::new();
        for (n, (stream, times, seal)) in batches.iter().enumerate() {
            let evs: Vec<LogEvent> = times.iter().enumerate()
                .map(|(j, t)| ev(stamp(*t), &format!("b{n}e{j}"))).collect();
            store.append("g", &format!("s{stream}"), &evs).unwrap();
            all.extend(evs.iter().map(|e| (*stream, e.timestamp(), e.message().to_owned())));
            if *seal {
                store.flush().unwrap();
            }
        }
        let d = if backward { Direction::Backward } else { Direction::Forward };
        let stream = one_stream.then_some("s1");
        let mut extra = Vec::new();
        let got = read_while_moving(&store, stream, d, page, &moves, &mut extra);
        let keep = |e: &&(usize, i64, String)| stream.is_none() || e.0 == 1;
        let initial: Vec<_> = all.iter().filter(keep).cloned().collect();
        all.extend(extra);
        let everything: Vec<_> = all.iter().filter(keep).cloned().collect();
        // In order: a subsequence of the final order.
        let order = oracle(&everything, TimeRange::ALL, d);
        let mut rest = order.iter();
        for m in &got {
            prop_assert!(rest.any(|o| o == m), "{m} out of order or repeated in {got:?}, order {order:?}");
        }
        // Everything present at the start, exactly once.
        for (_, _, m) in &initial {
            prop_assert_eq!(got.iter().filter(|g| *g == m).count(), 1, "{} in {:?}", m, got);
        }
    }
}
