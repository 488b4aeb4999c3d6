//! Recovery keeps exactly the whole batches: tested by cutting and flipping every byte.

use super::*;

fn batch(i: usize) -> WalBatch {
    let events = (0..(i % 4) + 1)
        .map(|j| (1_000 + (i * 10 + j) as i64, 5, format!("batch {i} event {j} ünïcode")))
        .collect();
    // Every other batch is idempotent, so both record kinds are cut and flipped.
    let producer = (i % 2 == 1).then(|| WalProducer {
        id: format!("producer-{}", i % 5),
        sequence: i as u64 * 7,
        updated: -(i as i64) * 1_000,
    });
    WalBatch { stream_id: i as u64 % 3, producer, events }
}

fn payload(b: &WalBatch) -> Vec<u8> {
    let producer = b.producer.as_ref().map(|p| (p.id.as_str(), p.sequence, p.updated));
    encode_batch(b.stream_id, producer, b.events.iter().map(|(t, i, m)| (*t, *i, m.as_str())))
}

#[test]
fn records_of_the_first_format_still_replay() {
    // A kind 1 record as written before producers existed: stream 7, one event
    // (ts 3, ingest -1, "hi").
    let old = [1u8, 7, 1, 6, 1, 2, b'h', b'i'];
    let want = WalBatch { stream_id: 7, producer: None, events: vec![(3, -1, "hi".into())] };
    assert_eq!(decode_batch(&old), Some(want.clone()));
    assert_eq!(payload(&want), old);
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&(old.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(&old).to_le_bytes());
    bytes.extend_from_slice(&old);
    let (got, r, _dir) = replay_bytes(&bytes);
    assert_eq!(got, vec![want]);
    assert!(r.cut.is_empty());
}

#[test]
fn unknown_record_kinds_are_corruption() {
    let mut p = payload(&batch(1));
    p[0] = 3;
    assert_eq!(decode_batch(&p), None);
}

#[test]
fn a_queued_record_is_durable_once_its_ticket_is() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::create(dir.path(), 1, true).unwrap();
    let first = wal.enqueue(&payload(&batch(0))).unwrap();
    let second = wal.enqueue(&payload(&batch(1))).unwrap();
    assert!(second > first);
    wal.wait_durable(first).unwrap();
    let mut got = Vec::new();
    replay(dir.path(), 0, |b| got.push(b)).unwrap();
    // One flush wrote everything queued, in queue order.
    assert_eq!(got, vec![batch(0), batch(1)]);
    wal.wait_durable(second).unwrap();
}

/// Writes `n` batches, returning the file bytes and the end offset of each record.
fn write_log(n: usize) -> (Vec<u8>, Vec<usize>) {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::create(dir.path(), 1, true).unwrap();
    let mut ends = Vec::new();
    let mut end = MAGIC.len();
    for i in 0..n {
        let p = payload(&batch(i));
        wal.append(&p).unwrap();
        end += 8 + p.len();
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
    let r = replay(dir.path(), 0, |b| got.push(b)).unwrap();
    (got, r, dir)
}

#[test]
fn replays_everything_written() {
    let (bytes, _) = write_log(20);
    let (got, r, _dir) = replay_bytes(&bytes);
    assert_eq!(got, (0..20).map(batch).collect::<Vec<_>>());
    assert!(r.cut.is_empty());
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
        assert_eq!(r.cut.is_empty(), len == boundary, "cut at {len}");
        // Replaying again changes nothing.
        let mut again = Vec::new();
        let r2 = replay(dir.path(), 0, |b| again.push(b)).unwrap();
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
            assert_eq!(got, (0..want).map(batch).collect::<Vec<_>>(), "flip {bit:#x} at {pos}");
            assert_eq!(r.cut.len(), 1, "flip at {pos} must be reported");
        }
    }
}

#[test]
fn checkpoint_removes_sealed_files() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::create(dir.path(), 1, false).unwrap();
    wal.append(&payload(&batch(0))).unwrap();
    assert_eq!(wal.rotate().unwrap(), 1);
    wal.append(&payload(&batch(1))).unwrap();
    let mut got = Vec::new();
    let r = replay(dir.path(), 2, |b| got.push(b)).unwrap();
    assert_eq!(got, vec![batch(1)]);
    assert_eq!(r.last_id, 2);
    assert!(!dir.path().join(file_name(1)).exists());
}

#[test]
fn concurrent_appenders_share_fsyncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::create(dir.path(), 1, true).unwrap();
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
    replay(dir.path(), 0, |b| got.push(b)).unwrap();
    assert_eq!(got.len(), 200);
    let mut want: Vec<_> = (0..4).flat_map(|t| (0..50).map(move |i| batch(t * 1000 + i))).collect();
    let key = |b: &WalBatch| b.events[0].2.clone();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want);
}
