//! The parallel engine against a naive single-threaded reference over random events and
//! random queries. Queries come from a small generator of structured specs; the reference
//! interprets the spec directly with plain loops, sharing no code with the engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use logsight_storage::{Store, StoreOptions};
use proptest::prelude::*;

const BASE: i64 = 1_714_521_600_000;

#[derive(Debug, Clone)]
struct Ev {
    ts: i64,
    stream: usize,
    /// `Some(a, b)`: a JSON message `{"a":a,"b":"b"}`; `None`: plain text.
    json: Option<(i64, String)>,
    text: String,
}

impl Ev {
    fn message(&self) -> String {
        match &self.json {
            Some((a, b)) => format!("{{\"a\":{a},\"b\":\"{b}\"}}"),
            None => self.text.clone(),
        }
    }
}

#[derive(Debug, Clone)]
enum Filter {
    None,
    AGreater(i64),
    BEquals(String),
    MessageContains(String),
}

#[derive(Debug, Clone)]
enum Shape {
    CountSumByB,
    NewestFirst(usize),
    SortADesc(usize),
    CountByBin,
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (
            0usize..3,
            prop::option::of((-50i64..50, prop::sample::select(vec!["x", "y", "zz"]))),
            "[a-c][a-c ]{0,5}",
            0i64..900,
        ),
        0..200,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            // Unique timestamps (i seconds plus a sub-second jitter), so "newest first" has no ties.
            .map(|(i, (stream, json, text, jitter))| Ev {
                ts: BASE + i as i64 * 1000 + jitter,
                stream,
                json: json.map(|(a, b)| (a, b.to_string())),
                text,
            })
            .collect()
    })
}

fn filters() -> impl Strategy<Value = Filter> {
    prop_oneof![
        Just(Filter::None),
        (-50i64..50).prop_map(Filter::AGreater),
        prop::sample::select(vec!["x", "y", "zz"]).prop_map(|b| Filter::BEquals(b.into())),
        "[a-c]{1,2}".prop_map(Filter::MessageContains),
    ]
}

fn shapes() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::CountSumByB),
        (1usize..30).prop_map(Shape::NewestFirst),
        (1usize..30).prop_map(Shape::SortADesc),
        Just(Shape::CountByBin),
    ]
}

fn query_text(f: &Filter, s: &Shape) -> String {
    let filter = match f {
        Filter::None => String::new(),
        Filter::AGreater(k) => format!("filter a > {k} | "),
        Filter::BEquals(b) => format!("filter b = \"{b}\" | "),
        Filter::MessageContains(t) => format!("filter @message like \"{t}\" | "),
    };
    let rest = match s {
        Shape::CountSumByB => "stats count(*) as n, sum(a) as s by b".to_string(),
        Shape::NewestFirst(k) => format!("fields @timestamp, a, @logStream | limit {k}"),
        Shape::SortADesc(k) => {
            format!("filter ispresent(a) | sort a desc | fields a, @timestamp | limit {k}")
        }
        Shape::CountByBin => "stats count(*) as n by bin(1m)".to_string(),
    };
    format!("{filter}{rest}")
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// The reference: plain loops over the events.
fn reference(evs: &[Ev], f: &Filter, s: &Shape) -> Vec<Vec<String>> {
    let keep = |e: &&Ev| match f {
        Filter::None => true,
        Filter::AGreater(k) => e.json.as_ref().is_some_and(|(a, _)| a > k),
        Filter::BEquals(b) => e.json.as_ref().is_some_and(|(_, x)| x == b),
        Filter::MessageContains(t) => e.message().contains(t.as_str()),
    };
    let mut kept: Vec<&Ev> = evs.iter().filter(keep).collect();
    kept.sort_by_key(|e| std::cmp::Reverse(e.ts));
    match s {
        Shape::CountSumByB => {
            // Null group first, then b ascending (x < y < zz).
            let mut groups: BTreeMap<Option<String>, (i64, Option<i64>)> = BTreeMap::new();
            for e in &kept {
                let g = groups.entry(e.json.as_ref().map(|(_, b)| b.clone())).or_default();
                g.0 += 1;
                if let Some((a, _)) = &e.json {
                    g.1 = Some(g.1.unwrap_or(0) + a);
                }
            }
            groups
                .into_iter()
                .map(|(b, (n, s))| {
                    vec![
                        b.unwrap_or_default(),
                        n.to_string(),
                        s.map(|s| s.to_string()).unwrap_or_default(),
                    ]
                })
                .collect()
        }
        Shape::NewestFirst(k) => kept
            .iter()
            .take(*k)
            .map(|e| {
                vec![
                    time(e.ts),
                    e.json.as_ref().map(|(a, _)| a.to_string()).unwrap_or_default(),
                    format!("s{}", e.stream),
                ]
            })
            .collect(),
        Shape::SortADesc(k) => {
            let mut with_a: Vec<&&Ev> = kept.iter().filter(|e| e.json.is_some()).collect();
            // Stable: equal `a` keep newest first.
            with_a.sort_by_key(|e| std::cmp::Reverse(e.json.as_ref().unwrap().0));
            with_a
                .iter()
                .take(*k)
                .map(|e| vec![e.json.as_ref().unwrap().0.to_string(), time(e.ts)])
                .collect()
        }
        Shape::CountByBin => {
            let mut bins: BTreeMap<i64, u64> = BTreeMap::new();
            for e in &kept {
                *bins.entry(e.ts.div_euclid(60_000) * 60_000).or_default() += 1;
            }
            bins.into_iter().map(|(b, n)| vec![time(b), n.to_string()]).collect()
        }
    }
}

fn store_of(evs: &[Ev], dir: &std::path::Path, seal: bool) -> Arc<Store> {
    let opts =
        StoreOptions { sync: false, background: false, block_bytes: 512, ..Default::default() };
    let store = Store::open(dir, opts).unwrap();
    let g = LogGroupName::new("g").unwrap();
    store.create_group(&g).unwrap();
    for s in 0..3 {
        store.create_stream(&g, &LogStreamName::new(format!("s{s}")).unwrap()).unwrap();
    }
    for e in evs {
        let ev = LogEvent::new(e.ts, e.ts, e.message()).unwrap();
        store.append("g", &format!("s{}", e.stream), &[ev]).unwrap();
    }
    if seal {
        store.flush().unwrap();
    }
    Arc::new(store)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference(evs in events(), f in filters(), s in shapes(), seal in any::<bool>(), columns in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of(&evs, dir.path(), seal);
        if columns {
            store.derive_missing(&logsight_columns::ColumnsDeriver::default()).unwrap();
        }
        let source = DataSource::new(store);
        let engine = Engine::new(EngineConfig { threads: 3, ..Default::default() });
        let query = query_text(&f, &s);
        let req = QueryRequest { query: query.clone(), groups: vec!["g".into()], start_ms: 0, end_ms: i64::MAX / 2, limit: None };
        let got = engine.run(&source, &req, &CancelToken::new()).unwrap();
        let got: Vec<Vec<String>> = got.rows.into_iter().map(|r| r.into_iter().map(Option::unwrap_or_default).collect()).collect();
        let mut want = reference(&evs, &f, &s);
        if matches!(s, Shape::CountSumByB) && want.is_empty() {
            want = Vec::new();
        }
        prop_assert_eq!(got, want, "query: {}", query);
    }
}
