//! The full-text index under queries: it skips blocks, never changes results (differential
//! against the same engine with the index off, over fixed and random filters), finds events
//! sealed after it was built and events still buffered, and survives a damaged artifact.

use std::sync::Arc;

use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryResult};
use logsight_index::IndexDeriver;
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};
use proptest::prelude::*;

mod common;
use common::loghub_dir;

const BASE: i64 = 1_714_521_600_000;
const STREAMS: usize = 24;

/// Lines of three samples, each copy with its digits rotated so nothing repeats verbatim.
fn sample_lines() -> Vec<String> {
    let rotate = |m: &str, by: u32| -> String {
        m.chars()
            .map(|c| c.to_digit(10).map_or(c, |d| char::from_digit((d + by) % 10, 10).unwrap()))
            .collect()
    };
    let mut out = Vec::new();
    for (k, f) in ["OpenSSH_2k.log", "HDFS_2k.log", "Apache_2k.log"].iter().enumerate() {
        let text = std::fs::read_to_string(loghub_dir().join(f)).unwrap();
        out.extend(text.lines().take(1200).map(|l| rotate(l, k as u32)));
    }
    out
}

/// A store whose events arrive in three parts: the first sealed and indexed, the second
/// sealed after the index was built (no artifact yet), the third still buffered.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
}

fn append(store: &Store, lines: &[String], offset: usize) {
    let mut by_stream: Vec<Vec<LogEvent>> = vec![Vec::new(); STREAMS];
    for (i, l) in lines.iter().enumerate() {
        let n = offset + i;
        let ts = BASE + n as i64 * 1000;
        by_stream[n % STREAMS].push(LogEvent::new(ts, ts, l.clone()).unwrap());
    }
    for (s, events) in by_stream.iter().enumerate().filter(|(_, e)| !e.is_empty()) {
        store.append("g", &format!("i-{s:02}"), events).unwrap();
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let opts =
        StoreOptions { sync: false, background: false, block_bytes: 4 << 10, ..Default::default() };
    let store = Arc::new(Store::open(dir.path(), opts).unwrap());
    store.create_group(&LogGroupName::new("g").unwrap()).unwrap();
    for s in 0..STREAMS {
        store
            .create_stream(
                &LogGroupName::new("g").unwrap(),
                &LogStreamName::new(format!("i-{s:02}").as_str()).unwrap(),
            )
            .unwrap();
    }
    let mut lines = sample_lines();
    lines.push("the needle-one zq81xkv7qwp is here".into());
    let n = lines.len();
    let (a, rest) = lines.split_at(n * 2 / 3);
    append(&store, a, 0);
    store.flush().unwrap();
    assert_eq!(store.derive_missing(&IndexDeriver::new()).unwrap().built, 1);
    let (b, c) = rest.split_at(rest.len() / 2);
    let mut b = b.to_vec();
    b.push("sealed later: needle-two zq82xkv7qwp".into());
    append(&store, &b, a.len());
    store.flush().unwrap();
    let mut c = c.to_vec();
    c.push("buffered: needle-three zq83xkv7qwp".into());
    append(&store, &c, a.len() + b.len());
    Fixture { _dir: dir, store }
}

fn run(engine: &Engine, source: &DataSource, query: &str) -> QueryResult {
    let req = common::request("g", query);
    engine.run(source, &req, &CancelToken::new()).unwrap()
}

fn engine() -> Engine {
    Engine::new(EngineConfig { threads: 2, ..Default::default() })
}

#[test]
fn needles_are_found_in_indexed_unindexed_and_buffered_data_and_blocks_are_skipped() {
    let f = fixture();
    let engine = engine();
    let on = DataSource::new(f.store.clone());
    let off = DataSource::without_index(f.store.clone());
    for (needle, want) in [
        // Needles of 11 bytes: the index's 3-byte grams need each alignment of a fragment inside
        // a token to cover a few grams before the small filters rule a block out reliably.
        ("zq81xkv7qwp", "the needle-one zq81xkv7qwp is here"),
        ("zq82xkv7qwp", "sealed later: needle-two zq82xkv7qwp"),
        ("zq83xkv7qwp", "buffered: needle-three zq83xkv7qwp"),
    ] {
        let q = format!("filter @message like \"{needle}\" | fields @message");
        let r = run(&engine, &on, &q);
        assert_eq!(r.rows, vec![vec![Some(want.to_string())]], "{needle}");
        assert_eq!(r.rows, run(&engine, &off, &q).rows);
        // The indexed segment's other blocks were skipped; the rest was scanned.
        assert!(r.statistics.estimated_records_skipped > 2000, "{:?}", r.statistics);
        assert!(r.statistics.estimated_bytes_skipped > 100_000, "{:?}", r.statistics);
        assert_eq!(r.statistics.index_segments_damaged, 0);
    }
    let plain = run(&engine, &off, "filter @message like \"zq81xkv7qwp\" | fields @message");
    assert_eq!(plain.statistics.estimated_records_skipped, 0);
    let req = common::request("g", "filter @message like /needle-one zq8[0-9]x/");
    let explain = engine.explain(&on, &req).unwrap();
    assert!(
        explain.contains("index pushdown: @message tokens *needle AND one AND zq8*"),
        "{explain}"
    );
    assert!(explain.contains("segments not indexed yet"), "{explain}");
}

#[test]
fn fixed_queries_agree_with_the_index_on_and_off() {
    let f = fixture();
    let engine = engine();
    let on = DataSource::new(f.store.clone());
    let off = DataSource::without_index(f.store.clone());
    let mut skipped = 0;
    for q in [
        "filter @message like \"Failed password for\" | stats count(*) as n by @logStream | sort @logStream",
        "filter @message like \"Failed password for root\" | fields @timestamp, @message | sort @timestamp desc | limit 20",
        "filter @message like /Received block blk_-?[0-9]+ of size/ | stats count(*)",
        "filter @message =~ /(error|notice)\\] \\[client/ | stats count(*) by bin(1h)",
        "filter @message like \"authentication failure\" or @message like \"Invalid user\" | stats count(*)",
        "filter @message like \"session opened\" and @message like \"root\" | limit 5",
        "filter @message like \"jk2_init() Found child\" | stats count(*)",
        "filter @message like \"PacketResponder\" | filter @message like \"terminating\" | stats count(*)",
        "filter @message like \"does-not-occur-anywhere\" | stats count(*)",
        "filter @message not like \"sshd\" | stats count(*)",
    ] {
        let a = run(&engine, &on, q);
        let b = run(&engine, &off, q);
        assert_eq!((&a.columns, &a.rows), (&b.columns, &b.rows), "{q}");
        assert_eq!(a.statistics.records_matched, b.statistics.records_matched, "{q}");
        skipped += a.statistics.estimated_records_skipped;
    }
    assert!(skipped > 0, "the index pruned nothing");
}

#[test]
fn a_damaged_artifact_falls_back_to_scanning_and_is_rebuilt() {
    let f = fixture();
    let engine = engine();
    let kind = logsight_index::kind();
    let seg = f.store.segments()[0].id;
    let path = f._dir.path().join("segments").join(format!("{seg:016x}.index"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let q = "filter @message like \"Failed password for\" | stats count(*)";
    let on = DataSource::new(f.store.clone());
    let r = run(&engine, &on, q);
    assert_eq!(r.rows, run(&engine, &DataSource::without_index(f.store.clone()), q).rows);
    assert_eq!(r.statistics.index_segments_damaged, 1);
    assert_eq!(r.statistics.estimated_records_skipped, 0);
    assert!(f.store.artifact(seg, &kind).unwrap().is_none(), "dropped for rebuild");
    assert!(f.store.derive_missing(&IndexDeriver::new()).unwrap().built >= 1);
    let again = run(&engine, &on, q);
    assert_eq!(again.rows, r.rows);
    assert_eq!(again.statistics.index_segments_damaged, 0);
}

/// Fragments of the data (so filters often match) and odd pieces.
fn fragment() -> impl Strategy<Value = String> {
    let words = prop_oneof![
        Just("Failed"),
        Just("password"),
        Just("for"),
        Just("root"),
        Just("from"),
        Just("blk_"),
        Just("Receiving"),
        Just("block"),
        Just("error"),
        Just("[client"),
        Just("ssh2"),
        Just("port"),
        Just("user"),
        Just("10."),
        Just("jk2_init()"),
        Just("-"),
        Just(" "),
        Just("."),
        Just("an"),
        Just("e"),
        Just("Packet"),
        Just("zq8"),
    ];
    proptest::collection::vec(words, 1..4).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_filters_agree_with_the_index_on_and_off(
        frags in proptest::collection::vec(fragment(), 1..3),
        regex in any::<bool>(),
        or in any::<bool>(),
    ) {
        static FIXTURE: std::sync::OnceLock<(Fixture, Engine)> = std::sync::OnceLock::new();
        let (f, engine) = FIXTURE.get_or_init(|| (fixture(), engine()));
        let cond = |s: &str| {
            if regex {
                format!("@message =~ /{}[a-z]*/", regex_syntax::escape(s).replace('/', "\\/"))
            } else {
                format!("@message like {}", serde_json::to_string(s).unwrap())
            }
        };
        let joined: Vec<String> = frags.iter().map(|s| cond(s)).collect();
        let q = format!("filter {} | stats count(*) as n by @logStream | sort @logStream", joined.join(if or { " or " } else { " and " }));
        let a = run(engine, &DataSource::new(f.store.clone()), &q);
        let b = run(engine, &DataSource::without_index(f.store.clone()), &q);
        prop_assert_eq!(&a.rows, &b.rows, "{}", q);
    }
}
