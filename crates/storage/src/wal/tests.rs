//! Recovery keeps exactly the whole batches: tested by cutting and flipping every byte.

use super::*;

fn batch(i: usize) -> WalBatch {
    let events = (0..(i % 4) + 1)
        .map(|j| WalEvent {
            timestamp: 1_000 + (i * 10 + j) as i64,
            ingestion_time: 5,
            message: format!("batch {i} event {j} ünïcode"),
        })
        .collect();
    // Every other batch is idempotent, so both record kinds are cut and flipped.
    let producer = (i % 2 == 1).then(|| WalProducer {
        id: format!("producer-{}", i % 5),
        sequence: i as u64 * 7,
        updated: -(i as i64) * 1_000,
    });
    // Written into a fresh log, batch `i` gets LSN `i + 1`.
    WalBatch { lsn: Some(i as u64 + 1), stream_id: i as u64 % 3, producer, events }
}

/// Record `i` of a test log: every fifth is a catalog change, the rest batches.
fn rec(i: usize) -> WalRecord {
    if i % 5 == 2 {
        let change = format!("{{\"create_stream\":{i}}}").into_bytes();
        WalRecord::Catalog { lsn: i as u64 + 1, change }
    } else {
        WalRecord::Batch(batch(i))
    }
}

fn encode(r: &WalRecord) -> Record {
    match r {
        WalRecord::Batch(b) => payload(b),
        WalRecord::Catalog { change, .. } => encode_catalog(change),
    }
}

/// Replays `dir`, keeping the batches only.
fn replay_batches(dir: &Path, checkpoint: u64, hold: Option<u64>) -> (Vec<WalBatch>, Replay) {
    let mut got = Vec::new();
    let r = replay(dir, checkpoint, hold, |rec| {
        if let WalRecord::Batch(b) = rec {
            got.push(b);
        }
    })
    .unwrap();
    (got, r)
}

fn payload(b: &WalBatch) -> Record {
    let producer = b.producer.as_ref().map(|p| (p.id.as_str(), p.sequence, p.updated));
    let events = b.events.iter().map(|e| (e.timestamp, e.ingestion_time, e.message.as_str()));
    encode_batch(b.stream_id, producer, events)
}

fn fresh(dir: &Path, id: u64, sync: bool) -> Wal {
    Wal::create(dir, id, sync, LastLsns::default(), BTreeMap::new()).unwrap()
}

#[test]
fn records_of_the_first_format_still_replay() {
    // A kind 1 record as written before producers existed: stream 7, one event
    // (ts 3, ingest -1, "hi").
    let old = [1u8, 7, 1, 6, 1, 2, b'h', b'i'];
    let event = WalEvent { timestamp: 3, ingestion_time: -1, message: "hi".into() };
    let want = WalBatch { lsn: None, stream_id: 7, producer: None, events: vec![event] };
    assert_eq!(decode_batch(&old), Some(want.clone()));
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&(old.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(&old).to_le_bytes());
    bytes.extend_from_slice(&old);
    let (got, r, _dir) = replay_bytes(&bytes);
    assert_eq!(got, vec![WalRecord::Batch(want)]);
    assert!(r.cut.is_empty());
}

#[test]
fn unknown_record_kinds_are_corruption() {
    let mut p = payload(&batch(1)).0;
    p[0] = 5;
    assert_eq!(decode_record(&p), None);
}

#[test]
fn a_queued_record_is_durable_once_its_ticket_is() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, true);
    let first = wal.enqueue(&payload(&batch(0))).unwrap();
    let second = wal.enqueue(&payload(&batch(1))).unwrap();
    assert!(second > first);
    wal.wait_durable(first).unwrap();
    let (got, _) = replay_batches(dir.path(), 0, None);
    // One flush wrote everything queued, in queue order.
    assert_eq!(got, vec![batch(0), batch(1)]);
    wal.wait_durable(second).unwrap();
}

/// Writes `n` records, returning the file bytes and the end offset of each record.
fn write_log(n: usize) -> (Vec<u8>, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, true);
    let mut ends = Vec::new();
    let mut end = MAGIC.len();
    for i in 0..n {
        let p = encode(&rec(i));
        assert_eq!(wal.append(&p).unwrap(), i as u64 + 1);
        end += 8 + p.0.len();
        ends.push(end);
    }
    let bytes = fs::read(dir.path().join(file_name(1))).unwrap();
    assert_eq!(bytes.len(), end);
    (bytes, ends)
}

fn replay_bytes(bytes: &[u8]) -> (Vec<WalRecord>, Replay, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(file_name(1)), bytes).unwrap();
    let mut got = Vec::new();
    let r = replay(dir.path(), 0, None, |b| got.push(b)).unwrap();
    (got, r, dir)
}

#[test]
fn replays_everything_written() {
    let (bytes, _) = write_log(20);
    let (got, r, _dir) = replay_bytes(&bytes);
    assert_eq!(got, (0..20).map(rec).collect::<Vec<_>>());
    assert!(r.cut.is_empty());
}

#[test]
fn truncated_at_every_offset_keeps_exactly_the_whole_records() {
    let (bytes, ends) = write_log(12);
    for len in 0..=bytes.len() {
        let (got, r, dir) = replay_bytes(&bytes[..len]);
        let whole = ends.iter().filter(|&&e| e <= len).count();
        assert_eq!(got, (0..whole).map(rec).collect::<Vec<_>>(), "cut at {len}");
        // The file is left ending at a record boundary, so appending after it is safe.
        let after = fs::metadata(dir.path().join(file_name(1))).unwrap().len() as usize;
        let boundary = if whole == 0 { MAGIC.len() } else { ends[whole - 1] };
        assert_eq!(after, boundary, "cut at {len}");
        assert_eq!(r.cut.is_empty(), len == boundary, "cut at {len}");
        // Replaying again changes nothing.
        let mut again = Vec::new();
        let r2 = replay(dir.path(), 0, None, |b| again.push(b)).unwrap();
        assert_eq!(again, got);
        assert!(r2.cut.is_empty());
    }
}

#[test]
fn a_flipped_bit_in_any_record_keeps_the_records_before_it() {
    let (bytes, ends) = write_log(8);
    for pos in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = bytes.clone();
            bad[pos] ^= bit;
            let (got, r, _dir) = replay_bytes(&bad);
            let before = ends.iter().filter(|&&e| e <= pos).count();
            let want = if pos < MAGIC.len() { 0 } else { before };
            assert_eq!(got, (0..want).map(rec).collect::<Vec<_>>(), "flip {bit:#x} at {pos}");
            assert_eq!(r.cut.len(), 1, "flip at {pos} must be reported");
        }
    }
}

#[test]
fn checkpoint_removes_sealed_files() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, false);
    wal.append(&payload(&batch(0))).unwrap();
    assert_eq!(wal.rotate().unwrap(), 1);
    wal.append(&payload(&batch(1))).unwrap();
    let (got, r) = replay_batches(dir.path(), 2, None);
    assert_eq!(got, vec![batch(1)]);
    assert_eq!(r.last_id, 2);
    assert!(!dir.path().join(file_name(1)).exists());
}

#[test]
fn concurrent_appenders_share_fsyncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, true);
    std::thread::scope(|s| {
        for t in 0..4 {
            let wal = &wal;
            s.spawn(move || {
                for i in 0..50 {
                    wal.append(&payload(&batch(t * 1000 + i))).unwrap();
                }
            });
        }
    });
    let (mut got, _) = replay_batches(dir.path(), 0, None);
    assert_eq!(got.len(), 200);
    let mut want: Vec<_> = (0..4).flat_map(|t| (0..50).map(move |i| batch(t * 1000 + i))).collect();
    let key = |b: &WalBatch| b.events[0].message.clone();
    got.iter_mut().for_each(|b| b.lsn = None);
    want.iter_mut().for_each(|b| b.lsn = None);
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
}

fn lsns(batches: &[WalBatch]) -> Vec<u64> {
    batches.iter().map(|b| b.lsn.unwrap()).collect()
}

#[test]
fn lsns_grow_by_one_and_continue_after_replay() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, false);
    assert_eq!(
        (0..5).map(|i| wal.append(&payload(&batch(i))).unwrap()).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(wal.durable_lsn(), 5);
    drop(wal);
    let (got, r) = replay_batches(dir.path(), 0, None);
    assert_eq!(lsns(&got), [1, 2, 3, 4, 5]);
    assert_eq!(r.last_lsn, 5);
    let last = LastLsns { record: r.last_lsn, batch: r.last_batch_lsn };
    let wal = Wal::create(dir.path(), r.last_id + 1, false, last, r.first_lsns).unwrap();
    assert_eq!(wal.append(&payload(&batch(5))).unwrap(), 6);
}

#[test]
fn read_after_walks_files_in_lsn_order_within_the_event_budget() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, false);
    for i in 0..30 {
        wal.append(&payload(&batch(i))).unwrap();
        if i % 7 == 6 {
            wal.rotate().unwrap();
        }
    }
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = match wal.read_after(after, 5).map(|(b, _)| b) {
            Ok(p) => p,
            Err(e) => panic!("{e:?}"),
        };
        if page.is_empty() {
            break;
        }
        // At least one batch, and more only while within 5 events.
        let events: usize = page.iter().map(|b| b.events.len()).sum();
        assert!(page.len() == 1 || events <= 5 + page.last().unwrap().events.len());
        after = page.last().unwrap().lsn.unwrap();
        seen.extend(page);
    }
    assert_eq!(seen, (0..30).map(batch).collect::<Vec<_>>());
    // A read from any position starts right after it, hint or not.
    for from in [0, 3, 7, 8, 21, 29] {
        let page = wal.read_after(from, 1).map(|(b, _)| b).map_err(|e| format!("{e:?}")).unwrap();
        assert_eq!(page[0].lsn, Some(from + 1));
    }
    assert!(
        wal.read_after(30, 10).map(|(b, _)| b).map_err(|e| format!("{e:?}")).unwrap().is_empty()
    );
}

#[test]
fn read_after_sees_only_durable_records() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, true);
    wal.append(&payload(&batch(0))).unwrap();
    let queued = wal.enqueue(&payload(&batch(1))).unwrap();
    let page = wal.read_after(0, 100).map(|(b, _)| b).map_err(|e| format!("{e:?}")).unwrap();
    assert_eq!(lsns(&page), [1]);
    wal.wait_durable(queued).unwrap();
    let page = wal.read_after(0, 100).map(|(b, _)| b).map_err(|e| format!("{e:?}")).unwrap();
    assert_eq!(lsns(&page), [1, 2]);
    assert_eq!(wal.wait_beyond(2, std::time::Duration::from_millis(10)), 2);
}

#[test]
fn holds_keep_sealed_files_a_consumer_still_needs() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, false);
    // Files 1, 2, 3 hold LSNs 1-3, 4-6, 7-9; file 4 is current.
    for i in 0..9 {
        wal.append(&payload(&batch(i))).unwrap();
        if i % 3 == 2 {
            wal.rotate().unwrap();
        }
    }
    // Everything is sealed (checkpoint 4); a consumer has processed up to LSN 5.
    wal.remove_below(4, Some(5)).unwrap();
    assert!(!dir.path().join(file_name(1)).exists());
    assert!(dir.path().join(file_name(2)).exists());
    let page = wal.read_after(5, 100).map(|(b, _)| b).map_err(|e| format!("{e:?}")).unwrap();
    assert_eq!(lsns(&page), [6, 7, 8, 9]);
    assert!(matches!(wal.read_after(2, 1), Err(ReadError::Unavailable { oldest: 3 })));
    drop(wal);
    // Replay keeps the same files for the same hold, and nothing but file 4 is replayed.
    let (got, r) = replay_batches(dir.path(), 4, Some(5));
    assert!(got.is_empty());
    assert!(dir.path().join(file_name(2)).exists() && dir.path().join(file_name(3)).exists());
    assert_eq!(r.first_lsns.keys().copied().collect::<Vec<_>>(), [2, 3]);
    // Once the consumer passes LSN 6 file 2 goes, and without holds everything sealed goes.
    let r = replay(dir.path(), 4, Some(6), |_| ()).unwrap();
    assert!(!dir.path().join(file_name(2)).exists());
    assert_eq!(r.first_lsns.keys().copied().collect::<Vec<_>>(), [3]);
    replay(dir.path(), 4, None, |_| ()).unwrap();
    assert!(!dir.path().join(file_name(3)).exists());
}

#[test]
fn catalog_records_take_lsns_but_consumers_pass_over_them() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, false);
    // LSN 3 is a catalog change, at the end of file 1; file 2 starts with another (LSN 4).
    for i in 0..6 {
        let r = if i == 2 || i == 3 {
            WalRecord::Catalog { lsn: i + 1, change: b"{}".to_vec() }
        } else {
            WalRecord::Batch(batch(i as usize))
        };
        assert_eq!(wal.append(&encode(&r)).unwrap(), i + 1);
        if i == 2 {
            wal.rotate().unwrap();
        }
    }
    let read = |after| {
        lsns(&wal.read_after(after, 100).map(|(b, _)| b).map_err(|e| format!("{e:?}")).unwrap())
    };
    assert_eq!(read(0), [1, 2, 5, 6]);
    assert_eq!(read(2), [5, 6]);
    assert_eq!(read(3), [5, 6]);
    assert!(read(6).is_empty());
    // Batches are what consumers wait for: the last durable one is LSN 6, not a change.
    assert_eq!((wal.durable_lsn(), wal.durable_batch_lsn()), (6, 6));
    wal.append(&encode_catalog(b"{}")).unwrap();
    assert_eq!((wal.durable_lsn(), wal.durable_batch_lsn()), (7, 6));
    // The first LSN of file 2 is its catalog record's, so retention by holds stays exact.
    drop(wal);
    let (_, r) = replay_batches(dir.path(), 0, None);
    assert_eq!(r.first_lsns.into_iter().collect::<Vec<_>>(), [(1, 1), (2, 4)]);
    assert_eq!((r.last_lsn, r.last_batch_lsn), (7, 6));
}
