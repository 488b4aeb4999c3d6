//! Recovery keeps exactly the whole batches: tested by cutting and flipping every byte.

use super::*;

fn batch(i: usize) -> WalBatch {
    let events = (0..(i % 4) + 1)
        .map(|j| (1_000 + (i * 10 + j) as i64, 5, format!("batch {i} event {j} ünïcode")))
        .collect();
    WalBatch { stream_id: i as u64 % 3, events }
}

fn payload(b: &WalBatch) -> Vec<u8> {
    encode_batch(b.stream_id, b.events.iter().map(|(t, i, m)| (*t, *i, m.as_str())))
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
