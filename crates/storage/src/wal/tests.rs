//! Recovery keeps exactly the whole batches: tested by cutting and flipping every byte.

use super::*;

/// Replays, keeping the batches only (most tests here are about batches).
fn replay(dir: &Path, from: &Recovery, mut apply: impl FnMut(WalBatch)) -> Result<Replay> {
    super::replay(dir, from, |r| {
        if let WalRecord::Batch(b) = r {
            apply(b);
        }
    })
}
use crate::fsutil::Perms;

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

fn payload(b: &WalBatch) -> Record {
    let producer = b.producer.as_ref().map(|p| (p.id.as_str(), p.sequence, p.updated));
    let events = b.events.iter().map(|e| (e.timestamp, e.ingestion_time, e.message.as_str()));
    encode_batch(b.stream_id, producer, events)
}

fn fresh(dir: &Path, id: u64, sync: bool) -> Wal {
    Wal::create(dir, id, sync, LastLsns::default(), BTreeMap::new(), Perms::default()).unwrap()
}

fn at(checkpoint: u64, hold: Option<u64>) -> Recovery {
    Recovery { checkpoint, hold, ..Recovery::default() }
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
    assert_eq!(got, vec![want]);
    assert!(r.damage.is_empty());
}

#[test]
fn unknown_record_kinds_are_corruption() {
    let mut p = payload(&batch(1)).0;
    p[0] = 4;
    assert_eq!(decode_batch(&p), None);
}

#[test]
fn a_queued_record_is_durable_once_its_ticket_is() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, true);
    let first = wal.enqueue(&payload(&batch(0))).unwrap();
    let second = wal.enqueue(&payload(&batch(1))).unwrap();
    assert!(second > first);
    wal.wait_durable(first).unwrap();
    let mut got = Vec::new();
    replay(dir.path(), &at(0, None), |b| got.push(b)).unwrap();
    // One flush wrote everything queued, in queue order.
    assert_eq!(got, vec![batch(0), batch(1)]);
    wal.wait_durable(second).unwrap();
}

/// Writes `n` batches, returning the file bytes and the end offset of each record.
fn write_log(n: usize) -> (Vec<u8>, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, true);
    let mut ends = Vec::new();
    let mut end = MAGIC.len();
    for i in 0..n {
        let p = payload(&batch(i));
        wal.append(&p).unwrap();
        end += 8 + p.0.len();
        ends.push(end);
    }
    let bytes = fs::read(dir.path().join(file_name(1))).unwrap();
    assert_eq!(bytes.len(), end);
    (bytes, ends)
}

fn replay_bytes(bytes: &[u8]) -> (Vec<WalBatch>, Replay, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(file_name(1)), bytes).unwrap();
    let mut got = Vec::new();
    // As a fresh store's catalog expects: the first record has LSN 1.
    let r = replay(dir.path(), &Recovery { next_lsn: 1, ..at(0, None) }, |b| got.push(b)).unwrap();
    (got, r, dir)
}

#[test]
fn replays_everything_written() {
    let (bytes, _) = write_log(20);
    let (got, r, _dir) = replay_bytes(&bytes);
    assert_eq!(got, (0..20).map(batch).collect::<Vec<_>>());
    assert!(r.damage.is_empty() && r.missing.is_empty());
}

#[test]
fn truncated_at_every_offset_keeps_exactly_the_whole_records() {
    let (bytes, ends) = write_log(12);
    for len in 0..=bytes.len() {
        let (got, r, dir) = replay_bytes(&bytes[..len]);
        let whole = ends.iter().filter(|&&e| e <= len).count();
        assert_eq!(got, (0..whole).map(batch).collect::<Vec<_>>(), "cut at {len}");
        // The file is left ending at a record boundary, so appending after it is safe.
        let after = fs::metadata(dir.path().join(file_name(1))).unwrap().len() as usize;
        let boundary = if whole == 0 { MAGIC.len() } else { ends[whole - 1] };
        assert_eq!(after, boundary, "cut at {len}");
        assert_eq!(r.damage.is_empty(), len == boundary, "cut at {len}");
        if len != boundary {
            // A torn tail: reported, but no acknowledged record is known lost.
            let d = &r.damage[0];
            let from = if len < MAGIC.len() { 0 } else { boundary };
            assert_eq!((d.offset as usize, d.bytes as usize), (from, len - from), "cut at {len}");
            assert!(d.tail && d.lost_lsns.is_none(), "cut at {len}: {d:?}");
        }
        // Replaying again changes nothing.
        let mut again = Vec::new();
        let r2 = replay(dir.path(), &at(0, None), |b| again.push(b)).unwrap();
        assert_eq!(again, got);
        assert!(r2.damage.is_empty());
    }
}

#[test]
fn a_flipped_bit_in_any_record_loses_that_record_only_and_says_which() {
    let (bytes, ends) = write_log(8);
    for pos in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = bytes.clone();
            bad[pos] ^= bit;
            let (got, r, dir) = replay_bytes(&bad);
            let ctx = format!("flip {bit:#x} at {pos}");
            assert_eq!(r.damage.len(), 1, "{ctx} must be reported once: {:?}", r.damage);
            let d = &r.damage[0];
            if pos < MAGIC.len() {
                assert_eq!(got, (0..8).map(batch).collect::<Vec<_>>(), "{ctx}");
                assert_eq!((d.offset, d.bytes, d.lost_lsns.clone()), (0, 8, None), "{ctx}");
                continue;
            }
            // The record hit, index k, spans [start, ends[k]).
            let k = ends.iter().position(|&e| e > pos).unwrap();
            let start = if k == 0 { MAGIC.len() } else { ends[k - 1] };
            let want: Vec<_> = (0..8).filter(|&i| i != k).map(batch).collect();
            assert_eq!(got, want, "{ctx}");
            assert_eq!((d.offset as usize, d.bytes as usize), (start, ends[k] - start), "{ctx}");
            if k == 7 {
                // The last record: as far as the file shows, a write that never completed.
                assert!(d.tail && d.lost_lsns.is_none(), "{ctx}: {d:?}");
            } else {
                let lsn = k as u64 + 1;
                assert_eq!(d.lost_lsns, Some(lsn..=lsn), "{ctx}");
                assert!(!d.tail, "{ctx}");
            }
            // The damaged bytes are kept aside; the file now holds the whole records only.
            let aside = dir.path().join(format!("{}.corrupt-{start}", file_name(1)));
            assert_eq!(fs::read(aside).unwrap(), &bad[start..ends[k]], "{ctx}");
            let mut again = Vec::new();
            let r2 = replay(dir.path(), &at(0, None), |b| again.push(b)).unwrap();
            assert_eq!(again, want, "{ctx}");
            assert!(r2.damage.is_empty(), "{ctx}");
        }
    }
}

#[test]
fn damage_over_several_records_reports_their_lsns() {
    let (bytes, ends) = write_log(10);
    let mut bad = bytes.clone();
    // Zero records 3, 4 and 5 (LSNs 4..=6) wholesale.
    bad[ends[2]..ends[5]].fill(0);
    let (got, r, _dir) = replay_bytes(&bad);
    let want: Vec<_> = (0..10).filter(|i| !(3..6).contains(i)).map(batch).collect();
    assert_eq!(got, want);
    assert_eq!(r.damage.len(), 1);
    assert_eq!(r.damage[0].lost_lsns, Some(4..=6));
    assert_eq!(r.damage[0].bytes as usize, ends[5] - ends[2]);
    assert!(r.damage[0].to_string().contains("LSNs 4..=6 lost"), "{}", r.damage[0]);
}

/// Files 1..=3 holding LSNs 1-3, 4-6, 7-9 (file 4 empty, current).
fn three_files(dir: &Path) {
    let wal = fresh(dir, 1, false);
    for i in 0..9 {
        wal.append(&payload(&batch(i))).unwrap();
        if i % 3 == 2 {
            wal.rotate().unwrap();
        }
    }
}

#[test]
fn records_missing_between_files_or_after_the_checkpoint_are_reported() {
    // A deleted middle file: LSNs 4..=6 are missing before file 3.
    let dir = tempfile::tempdir().unwrap();
    three_files(dir.path());
    fs::remove_file(dir.path().join(file_name(2))).unwrap();
    let r = replay(dir.path(), &at(1, None), |_| ()).unwrap();
    let m = Missing { first: 4, last: Some(6), file: dir.path().join(file_name(3)) };
    assert_eq!(r.missing, [m]);
    // A file cut back to its header: the same, and the catalog's next LSN (the checkpoint's
    // first record) counts too: LSNs 1..=3 are gone with file 1.
    let dir = tempfile::tempdir().unwrap();
    three_files(dir.path());
    fs::write(dir.path().join(file_name(2)), MAGIC).unwrap();
    fs::remove_file(dir.path().join(file_name(1))).unwrap();
    let r = replay(dir.path(), &Recovery { next_lsn: 1, ..at(1, None) }, |_| ()).unwrap();
    let m = Missing { first: 1, last: Some(6), file: dir.path().join(file_name(3)) };
    assert_eq!(r.missing, [m]);
    // The whole log gone while the catalog expects records from LSN 10 in file 4.
    let dir = tempfile::tempdir().unwrap();
    let r = replay(dir.path(), &Recovery { next_lsn: 10, ..at(4, None) }, |_| ()).unwrap();
    let m = Missing { first: 10, last: None, file: dir.path().join(file_name(4)) };
    assert_eq!(r.missing, std::slice::from_ref(&m));
    assert!(m.to_string().contains("from LSN 10"), "{m}");
    // Nothing is reported when everything expected is there.
    let dir = tempfile::tempdir().unwrap();
    three_files(dir.path());
    let r = replay(dir.path(), &Recovery { next_lsn: 4, ..at(2, None) }, |_| ()).unwrap();
    assert!(r.missing.is_empty() && r.damage.is_empty(), "{r:?}");
}

#[test]
fn empty_files_are_reused_or_removed_not_piled_up() {
    let dir = tempfile::tempdir().unwrap();
    three_files(dir.path());
    // Earlier starts left empty files 5 and 6 beside the empty current file 4.
    for id in [5, 6] {
        fs::write(dir.path().join(file_name(id)), MAGIC).unwrap();
    }
    let r = replay(dir.path(), &at(4, None), |_| ()).unwrap();
    assert_eq!(r.reusable, Some(6));
    assert_eq!(list(dir.path()).unwrap(), [6]);
    assert!(r.missing.is_empty() && r.damage.is_empty());
}

#[test]
fn checkpoint_removes_sealed_files() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, false);
    wal.append(&payload(&batch(0))).unwrap();
    assert_eq!(wal.rotate().unwrap(), 1);
    wal.append(&payload(&batch(1))).unwrap();
    let mut got = Vec::new();
    let r = replay(dir.path(), &at(2, None), |b| got.push(b)).unwrap();
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
    let mut got = Vec::new();
    replay(dir.path(), &at(0, None), |b| got.push(b)).unwrap();
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
    let mut got = Vec::new();
    let r = replay(dir.path(), &at(0, None), |b| got.push(b)).unwrap();
    assert_eq!(lsns(&got), [1, 2, 3, 4, 5]);
    assert_eq!(r.last_lsn, 5);
    let last = LastLsns { record: r.last_lsn, batch: r.last_batch_lsn };
    let wal = Wal::create(dir.path(), r.last_id + 1, false, last, r.first_lsns, Perms::default())
        .unwrap();
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
    let mut got = Vec::new();
    let r = replay(dir.path(), &at(4, Some(5)), |b| got.push(b)).unwrap();
    assert!(got.is_empty());
    assert!(dir.path().join(file_name(2)).exists() && dir.path().join(file_name(3)).exists());
    assert_eq!(r.first_lsns.keys().copied().collect::<Vec<_>>(), [2, 3]);
    // Once the consumer passes LSN 6 file 2 goes, and without holds everything sealed goes.
    let r = replay(dir.path(), &at(4, Some(6)), |_| ()).unwrap();
    assert!(!dir.path().join(file_name(2)).exists());
    assert_eq!(r.first_lsns.keys().copied().collect::<Vec<_>>(), [3]);
    replay(dir.path(), &at(4, None), |_| ()).unwrap();
    assert!(!dir.path().join(file_name(3)).exists());
}

#[test]
fn catalog_records_take_lsns_but_consumers_pass_over_them() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, false);
    // LSN 3 is a catalog change, at the end of file 1; file 2 starts with another (LSN 4).
    let record = |i: u64| {
        if i == 2 || i == 3 {
            WalRecord::Catalog { lsn: i + 1, change: format!("{{\"n\":{i}}}").into_bytes() }
        } else {
            WalRecord::Batch(batch(i as usize))
        }
    };
    for i in 0..6 {
        let encoded = match record(i) {
            WalRecord::Batch(b) => payload(&b),
            WalRecord::Catalog { change, .. } => encode_catalog(&change),
        };
        assert_eq!(wal.append(&encoded).unwrap(), i + 1);
        if i == 2 {
            wal.rotate().unwrap();
        }
    }
    let read = |after| lsns(&wal.read_after(after, 100).map(|(b, _)| b).unwrap_or_default());
    assert_eq!(read(0), [1, 2, 5, 6]);
    assert_eq!(read(2), [5, 6]);
    assert_eq!(read(3), [5, 6]);
    assert!(read(6).is_empty());
    // Batches are what consumers wait for: the last durable one is LSN 6, not a change.
    assert_eq!((wal.durable_lsn(), wal.durable_batch_lsn()), (6, 6));
    wal.append(&encode_catalog(b"{}")).unwrap();
    assert_eq!((wal.durable_lsn(), wal.durable_batch_lsn()), (7, 6));
    drop(wal);
    // Replay hands over both kinds in LSN order, and the first LSN of file 2 is its catalog
    // record's, so retention by holds stays exact.
    let mut got = Vec::new();
    let r = super::replay(dir.path(), &at(0, None), |rec| got.push(rec)).unwrap();
    let mut want: Vec<WalRecord> = (0..6).map(record).collect();
    want.push(WalRecord::Catalog { lsn: 7, change: b"{}".to_vec() });
    assert_eq!(got, want);
    assert_eq!(r.first_lsns.into_iter().collect::<Vec<_>>(), [(1, 1), (2, 4)]);
    assert_eq!((r.last_lsn, r.last_batch_lsn), (7, 6));
}

#[test]
fn a_flipped_bit_in_a_catalog_record_loses_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let wal = fresh(dir.path(), 1, true);
    wal.append(&payload(&batch(0))).unwrap();
    wal.append(&encode_catalog(br#"{"create_group":{"name":"g","id":1,"created":0}}"#)).unwrap();
    wal.append(&payload(&batch(2))).unwrap();
    drop(wal);
    let path = dir.path().join(file_name(1));
    let mut bytes = fs::read(&path).unwrap();
    let catalog_at = bytes.windows(12).position(|w| w == b"create_group").unwrap();
    bytes[catalog_at] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let mut got = Vec::new();
    let r = super::replay(dir.path(), &at(0, None), |rec| got.push(rec)).unwrap();
    assert_eq!(got, [WalRecord::Batch(batch(0)), WalRecord::Batch(batch(2))]);
    assert_eq!(r.damage.len(), 1);
    assert_eq!(r.damage[0].lost_lsns, Some(2..=2));
}
