//! A full disk, simulated by the WAL's and the sealer's fault seams: writes fail with an error
//! that says so, and resume by themselves once space returns, with nothing lost or doubled.

use super::*;
use crate::read::ReadOptions;

fn opts() -> StoreOptions {
    StoreOptions { background: false, sync: true, ..Default::default() }
}

fn ev(ts: i64, msg: &str) -> LogEvent {
    LogEvent::new(ts, ts, msg).unwrap()
}

fn messages(store: &Store) -> Vec<String> {
    let page = store.read_stream("g", "s", &ReadOptions::default()).unwrap();
    page.events.into_iter().map(|e| e.message).collect()
}

fn setup(dir: &Path) -> Store {
    let store = Store::open(dir, opts()).unwrap();
    store.create_group(&LogGroupName::new("g").unwrap()).unwrap();
    let (g, s) = (LogGroupName::new("g").unwrap(), LogStreamName::new("s").unwrap());
    store.create_stream(&g, &s).unwrap();
    store
}

const ENOSPC: i32 = 28;

#[test]
fn a_failed_log_write_pauses_writes_until_the_log_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let store = setup(dir.path());
    store.append("g", "s", &[ev(1, "before")]).unwrap();
    *store.inner.wal.fail_next_flush.lock() = Some(ENOSPC);
    let err = store.append("g", "s", &[ev(2, "never acknowledged")]).unwrap_err();
    assert!(matches!(err, StorageError::Poisoned(_)), "{err}");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(store.append("g", "s", &[ev(3, "still paused")]).is_err());
    // The background thread's retry (here called directly) re-opens the log.
    store.flush().unwrap();
    store.append("g", "s", &[ev(4, "after")]).unwrap();
    assert_eq!(messages(&store), ["before", "after"]);
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(messages(&store), ["before", "after"]);
    assert!(store.stats().wal_losses.is_empty(), "{:?}", store.stats().wal_losses);
}

#[test]
fn a_batch_that_failed_is_not_taken_for_a_duplicate_when_resent() {
    let dir = tempfile::tempdir().unwrap();
    let store = setup(dir.path());
    let p = ProducerId::new("agent-1").unwrap();
    let put = |seq: u64, msg: &str| {
        store.append_idempotent(
            "g",
            "s",
            &[ev(seq as i64, msg)],
            Some(Producer { id: &p, sequence: seq }),
        )
    };
    assert_eq!(put(1, "one").unwrap(), AppendOutcome::Appended);
    *store.inner.wal.fail_next_flush.lock() = Some(ENOSPC);
    assert!(put(2, "two").is_err());
    store.flush().unwrap();
    // The failed batch's mark was rolled back with it: the resend is stored, once.
    assert_eq!(put(2, "two").unwrap(), AppendOutcome::Appended);
    assert_eq!(put(2, "two").unwrap(), AppendOutcome::Duplicate { last_sequence: 2 });
    assert_eq!(put(1, "one").unwrap(), AppendOutcome::Duplicate { last_sequence: 2 });
    assert_eq!(messages(&store), ["one", "two"]);
}

#[test]
fn a_failed_seal_is_retried_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = setup(dir.path());
    store.append("g", "s", &[ev(1, "a")]).unwrap();
    store.inner.fail_seals.store(2, Ordering::Relaxed);
    let err = store.flush().unwrap_err();
    assert!(err.to_string().contains("No space left on device"), "{err}");
    // Still readable, and writes go on meanwhile.
    store.append("g", "s", &[ev(2, "b")]).unwrap();
    assert_eq!(messages(&store), ["a", "b"]);
    assert!(store.flush().is_err(), "the second injected failure");
    store.flush().unwrap();
    assert_eq!(store.stats().segments, 2, "the retried seal, then the next");
    assert_eq!(messages(&store), ["a", "b"]);
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(messages(&store), ["a", "b"]);
    assert_eq!(store.stats().buffered_events, 0);
}
