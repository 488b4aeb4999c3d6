//! FilterLogEvents as an engine plan: every page, in order, against storage's own ordered read
//! (the oracle: its merge numbers each stream's events at a timestamp), with the index on and
//! off giving the same events and the same cuts, and a rare term decoding only the blocks the
//! index names.

use std::sync::Arc;
use std::time::Duration;

use logsight_engine::{
    DataSource, Engine, EngineConfig, EventCut, EventsPage, FilterEventsPlan, FoundEvent,
    ScanBudget, StreamSelection,
};
use logsight_index::IndexDeriver;
use logsight_model::{LogEvent, LogGroupName, LogStreamName, TimeRange};
use logsight_query_lang::pattern::FilterPattern;
use logsight_storage::{ReadOptions, Store, StoreOptions};
use proptest::prelude::*;

mod common;
use common::loghub_dir;

const BASE: i64 = 1_714_521_600_000;
const STREAMS: usize = 12;

fn sample_lines() -> Vec<String> {
    let mut out = Vec::new();
    for f in ["OpenSSH_2k.log", "HDFS_2k.log", "Apache_2k.log", "Zookeeper_2k.log"] {
        let text = std::fs::read_to_string(loghub_dir().join(f)).unwrap();
        out.extend(text.lines().take(700).map(str::to_owned));
    }
    out
}

/// Events of a part: stream `n % STREAMS`; runs of 7 share a timestamp, so one stream's
/// events at one timestamp span blocks, seals and the buffer.
fn append(store: &Store, lines: &[String], offset: usize) {
    let mut by_stream: Vec<Vec<LogEvent>> = vec![Vec::new(); STREAMS];
    for (i, l) in lines.iter().enumerate() {
        let n = offset + i;
        let ts = BASE + (n / (7 * STREAMS)) as i64 * 1000;
        by_stream[n % STREAMS].push(LogEvent::new(ts, ts, l.clone()).unwrap());
    }
    for (s, events) in by_stream.iter().enumerate().filter(|(_, e)| !e.is_empty()) {
        store.append("g", &format!("s-{s:02}"), events).unwrap();
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
}

/// Three parts: sealed and indexed, sealed without an index yet, buffered. With `seal_all`,
/// every part is sealed and indexed.
fn fixture(seal_all: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let opts =
        StoreOptions { sync: false, background: false, block_bytes: 4 << 10, ..Default::default() };
    let store = Arc::new(Store::open(dir.path(), opts).unwrap());
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    for s in 0..STREAMS {
        store
            .create_stream(&g, &LogStreamName::new(format!("s-{s:02}").as_str()).unwrap())
            .unwrap();
    }
    let mut lines = sample_lines();
    lines.insert(1234, "rare: the needle qz17kvw9xqp3mr8t sits here".into());
    let n = lines.len();
    let (a, rest) = lines.split_at(n / 2);
    let (b, c) = rest.split_at(rest.len() / 2);
    append(&store, a, 0);
    store.flush().unwrap();
    store.derive_missing(&IndexDeriver::new()).unwrap();
    append(&store, b, a.len());
    store.flush().unwrap();
    append(&store, c, a.len() + b.len());
    if seal_all {
        store.flush().unwrap();
        store.derive_missing(&IndexDeriver::new()).unwrap();
    }
    Fixture { _dir: dir, store }
}

fn engine() -> Engine {
    Engine::new(EngineConfig { threads: 2, ..Default::default() })
}

fn plan(pattern: &str, limit: usize, from: Option<EventCut>) -> FilterEventsPlan {
    FilterEventsPlan {
        group: "g".into(),
        streams: StreamSelection::All,
        range: TimeRange::ALL,
        pattern: FilterPattern::compile(pattern).unwrap(),
        limit,
        max_bytes: 1 << 20,
        from,
        budget: ScanBudget { events: usize::MAX, time: Duration::from_secs(3600) },
    }
}

/// Every page of a search: the pages' events and the cuts that ended them.
fn pages(engine: &Engine, source: &DataSource, p: FilterEventsPlan) -> Vec<EventsPage> {
    let mut out = Vec::new();
    let mut p = p;
    loop {
        let page = engine.filter_events(source, &p).unwrap();
        let next = page.next;
        out.push(page);
        match next {
            Some(c) => p.from = Some(c),
            None => return out,
        }
    }
}

/// The oracle: storage's ordered read of the whole group, filtered by the pattern.
fn oracle(store: &Store, pattern: &str) -> Vec<FoundEvent> {
    let p = FilterPattern::compile(pattern).unwrap();
    let opts = ReadOptions { limit: usize::MAX, max_bytes: usize::MAX, ..Default::default() };
    let page = store.read_group("g", None, &opts).unwrap();
    assert!(!page.more);
    page.events
        .into_iter()
        .filter(|e| p.matches(&e.message))
        .map(|e| FoundEvent {
            stream: e.stream,
            stream_id: e.stream_id,
            timestamp: e.timestamp,
            ordinal: e.ordinal,
            ingestion_time: e.ingestion_time,
            message: e.message,
        })
        .collect()
}

fn flatten(pages: &[EventsPage]) -> Vec<FoundEvent> {
    pages.iter().flat_map(|p| p.events.iter().cloned()).collect()
}

fn cuts(pages: &[EventsPage]) -> Vec<Option<EventCut>> {
    pages.iter().map(|p| p.next).collect()
}

#[test]
fn pages_follow_storage_order_and_ordinals_with_and_without_the_index() {
    let f = fixture(false);
    let engine = engine();
    let on = DataSource::new(f.store.clone());
    let off = DataSource::without_index(f.store.clone());
    for pattern in
        ["", "Failed password", "\"Received block\"", "INFO -PacketResponder", "%blk_-?[0-9]+%"]
    {
        let want = oracle(&f.store, pattern);
        assert!(!want.is_empty(), "{pattern}");
        for limit in [1, 7, 100, 10_000] {
            if pattern.is_empty() && limit == 1 {
                continue; // 2,800 pages; 7 at a time cuts inside runs of one timestamp too
            }
            let a = pages(&engine, &on, plan(pattern, limit, None));
            let b = pages(&engine, &off, plan(pattern, limit, None));
            assert_eq!(flatten(&a), want, "{pattern:?} by {limit}, index on");
            assert_eq!(flatten(&b), want, "{pattern:?} by {limit}, index off");
            assert_eq!(cuts(&a), cuts(&b), "{pattern:?} by {limit}: cuts differ");
            // A page ends after its last event, or the search is complete.
            for p in &a[..a.len() - 1] {
                let last = p.events.last().unwrap();
                let cut = p.next.unwrap();
                assert_eq!(
                    (cut.timestamp, cut.stream, cut.ordinal),
                    (last.timestamp, last.stream_id, last.ordinal + 1)
                );
            }
        }
    }
}

#[test]
// The needle is long: a short token is held by a few 3-byte gram keys at 3 bits each, and
// the filters let about one block in twenty through for it (crates/index/src/lib.rs).
fn a_rare_term_decodes_only_the_blocks_the_index_names() {
    let f = fixture(true);
    let engine = engine();
    let blocks = f.store.stats().blocks;
    assert!(blocks > 20, "{blocks} blocks");
    let on = DataSource::new(f.store.clone());
    let off = DataSource::without_index(f.store.clone());
    let p = plan("qz17kvw9xqp3mr8t", 100, None);
    let hit = engine.filter_events(&on, &p).unwrap();
    assert_eq!(hit.events.len(), 1);
    assert_eq!(hit.events[0].message, "rare: the needle qz17kvw9xqp3mr8t sits here");
    assert_eq!(hit.next, None);
    let s = hit.statistics;
    assert_eq!(s.blocks_decoded, 1, "{s:?}");
    assert_eq!(s.blocks_pruned + 1, s.units, "{s:?}");
    assert!(hit.pushed_down.contains("qz17kvw9xqp3mr8t"), "{}", hit.pushed_down);
    let scan = engine.filter_events(&off, &p).unwrap();
    assert_eq!(scan.events, hit.events);
    assert_eq!(scan.statistics.blocks_decoded, blocks, "{:?}", scan.statistics);
    // A JSON pattern requires no literal: nothing is pushed down, nothing pruned.
    let json = engine.filter_events(&on, &plan("{ $.a = 1 }", 100, None)).unwrap();
    assert_eq!(json.statistics.blocks_pruned, 0);
    assert!(json.pushed_down.is_empty());
}

#[test]
fn a_small_scan_budget_pages_through_every_match_once() {
    let f = fixture(false);
    let engine = engine();
    for source in [DataSource::new(f.store.clone()), DataSource::without_index(f.store.clone())] {
        let mut p = plan("Failed", 10_000, None);
        p.budget = ScanBudget { events: 100, time: Duration::from_secs(3600) };
        let got = pages(&engine, &source, p);
        assert!(got.len() > 5, "{} pages", got.len());
        assert!(got.iter().all(|p| p.statistics.events_examined <= 100));
        assert_eq!(flatten(&got), oracle(&f.store, "Failed"));
    }
}

#[test]
fn stream_selection_and_range() {
    let f = fixture(false);
    let engine = engine();
    let source = DataSource::new(f.store.clone());
    let mut p = plan("", 10_000, None);
    p.streams = StreamSelection::Names(vec!["s-03".into(), "nope".into(), "s-01".into()]);
    let page = engine.filter_events(&source, &p).unwrap();
    assert_eq!(page.searched, ["s-03", "s-01"]);
    assert!(page.events.iter().all(|e| &*e.stream == "s-01" || &*e.stream == "s-03"));
    let want: Vec<FoundEvent> = oracle(&f.store, "")
        .into_iter()
        .filter(|e| &*e.stream == "s-01" || &*e.stream == "s-03")
        .collect();
    assert_eq!(flatten(&pages(&engine, &source, p)), want);
    let mut p = plan("", 10_000, None);
    p.streams = StreamSelection::Prefix("s-1".into());
    let page = engine.filter_events(&source, &p).unwrap();
    assert_eq!(page.searched, ["s-10", "s-11"]);
    let mut p = plan("", 10_000, None);
    p.range = TimeRange::new(Some(BASE + 3000), Some(BASE + 5000));
    let got = flatten(&pages(&engine, &source, p));
    assert_eq!(got.len(), 2 * 7 * STREAMS);
    assert!(got.iter().all(|e| (BASE + 3000..BASE + 5000).contains(&e.timestamp)));
    let mut p = plan("", 10, None);
    p.group = "missing".into();
    assert!(engine.filter_events(&source, &p).is_err());
}

/// Words of the samples, for random patterns.
fn words() -> Vec<String> {
    let mut w: Vec<String> = sample_lines()
        .iter()
        .flat_map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    w.sort();
    w.dedup();
    w
}

fn pattern_of(words: &[String], shape: u8, a: usize, b: usize) -> String {
    let (x, y) = (&words[a % words.len()], &words[b % words.len()]);
    match shape % 7 {
        0 => x.clone(),
        1 => format!("{x} {y}"),
        2 => format!("\"{x}\""),
        3 => format!("?{x} ?{y}"),
        4 => format!("{x} -{y}"),
        5 => format!("%{x}%"),
        _ => format!("%{}%", &x[..2]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Random patterns from the samples' words: the index changes neither events nor cuts.
    #[test]
    fn index_on_and_off_give_the_same_pages(shape in 0u8..7, a in 0usize..100_000, b in 0usize..100_000, limit in 1usize..300) {
        let (f, words) = FIXTURE.with(|x| x.clone());
        let pattern = pattern_of(&words, shape, a, b);
        let engine = engine();
        let on = pages(&engine, &DataSource::new(f.store.clone()), plan(&pattern, limit, None));
        let off = pages(&engine, &DataSource::without_index(f.store.clone()), plan(&pattern, limit, None));
        prop_assert_eq!(flatten(&on), oracle(&f.store, &pattern), "{}", pattern);
        prop_assert_eq!(flatten(&on), flatten(&off), "{}", pattern);
        prop_assert_eq!(cuts(&on), cuts(&off), "{}", pattern);
    }
}

thread_local! {
    static FIXTURE: (Arc<Fixture>, Arc<Vec<String>>) = (Arc::new(fixture(false)), Arc::new(words()));
}
