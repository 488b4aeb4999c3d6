//! The index over real segments: built through the store's derive seam, asked which blocks
//! may match, checked against a scan of every block (the oracle), and damaged on purpose.

use std::sync::Arc;

use logsight_index::{
    BuildOptions, IndexDeriver, Lookup, Requirement, SegmentIndex, TextIndex, TokenPolicy,
    segment_index,
};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{DecodedBlock, Store, StoreOptions};
use proptest::prelude::*;

/// A store of one sealed segment with many small blocks: `messages[i]` goes to stream
/// `i % streams`.
fn store_of(dir: &std::path::Path, messages: &[String], streams: usize) -> Arc<Store> {
    let opts =
        StoreOptions { background: false, sync: false, block_bytes: 256, ..Default::default() };
    let store = Arc::new(Store::open(dir, opts).unwrap());
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    for s in 0..streams {
        store.create_stream(&g, &LogStreamName::new(format!("s{s}").as_str()).unwrap()).unwrap();
    }
    for s in 0..streams {
        let events: Vec<LogEvent> = messages
            .iter()
            .enumerate()
            .filter(|(i, _)| i % streams == s)
            .map(|(i, m)| LogEvent::new(1_000 + i as i64, 1, m.clone()).unwrap())
            .collect();
        if !events.is_empty() {
            store.append("g", &format!("s{s}"), &events).unwrap();
        }
    }
    store.flush().unwrap();
    store
}

/// For each block of the only segment: whether some message contains `needle`.
fn oracle(store: &Store, needle: &str) -> Vec<bool> {
    let id = store.segments()[0].id;
    let seg = store.segment(id).unwrap();
    let mut block = DecodedBlock::default();
    (0..seg.blocks().len())
        .map(|i| {
            seg.decode_block(i, &mut block).unwrap();
            (0..block.len()).any(|r| block.message(r).contains(needle))
        })
        .collect()
}

fn lines() -> Vec<String> {
    (0..400)
        .map(|i| match i % 4 {
            0 => format!("INFO request {i} served in {}ms path=/api/v{}", i * 7 % 300, i % 3),
            1 => format!("Failed password for user{i} from 10.0.{}.{} port 22 ssh2", i % 7, i),
            2 => format!("WARN disk /dev/sda{} at {}% Grüße", i % 5, i % 100),
            _ => format!("ERROR timeout contacting db-{} after {} retries", i % 11, i % 4),
        })
        .chain(std::iter::once("needle-7f3a9c2e unique marker".to_string()))
        .collect()
}

#[test]
fn a_needle_is_found_in_its_block_only_and_others_are_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_of(tmp.path(), &lines(), 8);
    let report = store.derive_missing(&IndexDeriver::new()).unwrap();
    assert_eq!(report.built, 1);
    let seg = store.segment(store.segments()[0].id).unwrap();
    assert!(seg.blocks().len() > 20, "{} blocks", seg.blocks().len());
    let index = TextIndex::new(store.clone());
    let req = Requirement::substring(b"7f3a9c2e");
    let Lookup::Candidates(c) = index.lookup(seg.id(), seg.blocks().len(), &req) else {
        panic!("indexed segment not looked up")
    };
    let truth = oracle(&store, "7f3a9c2e");
    assert_eq!(truth.iter().filter(|b| **b).count(), 1);
    // The filters have false positives: a few other blocks may be kept, never the one.
    assert!(c.count() <= 1 + truth.len() / 10, "{} of {} blocks kept", c.count(), truth.len());
    for (i, t) in truth.iter().enumerate() {
        assert!(!t || c.contains(i), "block {i}");
    }
    // A word present everywhere prunes nothing; one absent prunes everything.
    let Lookup::Candidates(all) =
        index.lookup(seg.id(), seg.blocks().len(), &Requirement::substring(b"ss"))
    else {
        panic!()
    };
    assert!(all.count() >= truth.len() / 4);
    let Lookup::Candidates(none) =
        index.lookup(seg.id(), seg.blocks().len(), &Requirement::substring(b" zebra "))
    else {
        panic!()
    };
    assert_eq!(none.count(), 0);
}

#[test]
fn a_segment_without_its_artifact_is_unindexed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_of(tmp.path(), &lines(), 3);
    let seg = store.segments()[0].clone();
    let index = TextIndex::new(store.clone());
    let req = Requirement::substring(b"timeout");
    assert!(matches!(index.lookup(seg.id, seg.blocks as usize, &req), Lookup::Unindexed));
}

#[test]
fn a_corrupt_artifact_is_detected_dropped_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_of(tmp.path(), &lines(), 3);
    store.derive_missing(&IndexDeriver::new()).unwrap();
    let seg = store.segments()[0].clone();
    let kind = logsight_index::kind();
    let path = tmp.path().join("segments").join(format!("{:016x}.index", seg.id));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let index = TextIndex::new(store.clone());
    let req = Requirement::substring(b" timeout ");
    assert!(matches!(index.lookup(seg.id, seg.blocks as usize, &req), Lookup::Corrupt(_)));
    // Dropped: the next look sees no artifact, and the builder makes it again.
    assert!(store.artifact(seg.id, &kind).unwrap().is_none());
    assert!(matches!(index.lookup(seg.id, seg.blocks as usize, &req), Lookup::Unindexed));
    assert_eq!(store.derive_missing(&IndexDeriver::new()).unwrap().built, 1);
    assert!(matches!(index.lookup(seg.id, seg.blocks as usize, &req), Lookup::Candidates(_)));
    // Every flipped byte of an artifact is refused by the reader.
    let good = store.artifact(seg.id, &kind).unwrap().unwrap().to_vec();
    for i in (0..good.len()).step_by(good.len() / 97 + 1) {
        let mut b = good.clone();
        b[i] ^= 1;
        assert!(SegmentIndex::open(&b).is_err(), "flip at {i} not detected");
    }
}

#[test]
fn an_artifact_of_an_earlier_version_is_dropped_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_of(tmp.path(), &lines(), 3);
    store.derive_missing(&IndexDeriver::new()).unwrap();
    let seg = store.segments()[0].clone();
    let kind = logsight_index::kind();
    let path = tmp.path().join("segments").join(format!("{:016x}.index", seg.id));
    // The first version's header (a tantivy index followed): valid then, unreadable now.
    let mut old = b"LSIDX001".to_vec();
    old.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    old.extend_from_slice(&crc32c::crc32c(&old).to_le_bytes());
    std::fs::write(&path, &old).unwrap();
    let index = TextIndex::new(store.clone());
    let req = Requirement::substring(b"7f3a9c2e");
    assert!(matches!(index.lookup(seg.id, seg.blocks as usize, &req), Lookup::Unindexed));
    assert!(store.artifact(seg.id, &kind).unwrap().is_none(), "dropped for rebuild");
    assert_eq!(store.derive_missing(&IndexDeriver::new()).unwrap().built, 1);
    let Lookup::Candidates(c) = index.lookup(seg.id, seg.blocks as usize, &req) else {
        panic!("rebuilt artifact not used")
    };
    assert!(c.count() < seg.blocks as usize);
}

#[test]
fn every_filter_size_and_policy_keeps_every_match() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_of(tmp.path(), &lines(), 5);
    let seg = store.segment(store.segments()[0].id).unwrap();
    for (short_bits, long_bits) in [(1, 1), (3, 8), (4, 10), (12, 16)] {
        for numbers in [false, true] {
            let policy = TokenPolicy { numbers };
            let opts = BuildOptions { policy, short_bits, long_bits };
            let ix = SegmentIndex::open(&segment_index::build(&seg, opts).unwrap()).unwrap();
            for needle in ["user13 ", " from 10.0.", "db-3 after", "Grüße", "7f3a9c2e", " 22 "] {
                let c = ix.candidates(&Requirement::substring(needle.as_bytes())).unwrap();
                for (i, t) in oracle(&store, needle).iter().enumerate() {
                    assert!(!t || c.contains(i), "{opts:?} {needle:?} block {i}");
                }
            }
        }
    }
}

/// Words and separators from which messages and needles are drawn, so needles often hit.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("err".to_string()),
        Just("Error".to_string()),
        Just("x9".to_string()),
        Just("42".to_string()),
        Just("é".to_string()),
        Just(" ".to_string()),
        Just("-".to_string()),
        Just("=".to_string()),
        Just("ab".to_string()),
        Just("A".repeat(70)),
        "[a-c0-2]{1,3}",
    ];
    proptest::collection::vec(piece, 1..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// The index never rules out a block that holds a match, for substrings and regexes.
    #[test]
    fn never_prunes_a_block_holding_a_match(
        messages in proptest::collection::vec(text(), 20..80),
        needle in text(),
        numbers in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let store = store_of(tmp.path(), &messages, 3);
        let seg = store.segment(store.segments()[0].id).unwrap();
        let opts = BuildOptions { policy: TokenPolicy { numbers }, ..BuildOptions::default() };
        let ix = SegmentIndex::open(&segment_index::build(&seg, opts).unwrap()).unwrap();
        let truth = oracle(&store, &needle);
        let c = ix.candidates(&Requirement::substring(needle.as_bytes())).unwrap();
        for (i, t) in truth.iter().enumerate() {
            prop_assert!(!t || c.contains(i), "substring {needle:?} block {i}");
        }
        let re = format!("{}(x|[0-9]+)?", regex_syntax::escape(&needle));
        let r = ix.candidates(&Requirement::regex(&re)).unwrap();
        for (i, t) in truth.iter().enumerate() {
            prop_assert!(!t || r.contains(i), "regex {re:?} block {i}");
        }
    }
}
