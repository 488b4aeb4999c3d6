//! A filter on `@message` screens sealed blocks' templates before decoding them: the
//! answers must be those of a naive scan of the same lines, whatever the regex (anchors,
//! flags, multi-line, empty matches), however the events are stored (buffered, sealed in
//! small or large blocks, both at once), and whatever else the filter says.

use std::path::Path;
use std::sync::Arc;

use logsight_engine::{CancelToken, DataSource, Engine, EngineConfig, QueryRequest};
use logsight_storage::Store;

mod common;

/// Loghub lines and a few lines made to test the edges: neighbours that would match if
/// read as one text, multi-line messages, non-ASCII.
fn lines() -> Vec<String> {
    let mut out = Vec::new();
    for name in ["HDFS_2k.log", "OpenSSH_2k.log", "Linux_2k.log", "Mac_2k.log", "Apache_2k.log"] {
        let text = std::fs::read_to_string(common::loghub_dir().join(name)).expect("sample");
        out.extend(text.lines().take(600).map(str::to_string));
    }
    let edges = [
        "xa",
        " b",
        "ends 12",
        "34 starts",
        "two\nlines 5",
        "a\tb",
        "x",
        "port 22 from 10.1.2.3",
        "10.1.2.3:",
        "8080 next",
        "ERROR héllo 7",
        "error: wörld 8",
        "Error\n  at X.y(Z.java:12)",
    ];
    for i in 0..400 {
        out.push(format!("{} {i}", edges[i % edges.len()]));
        out.push(edges[i % edges.len()].to_string());
    }
    // JSON request logs, some with an address and port in a value.
    for i in 0..600 {
        let peer = if i % 7 == 0 {
            format!("10.0.{}.{}:{}", i % 3, i % 250, 8000 + i)
        } else {
            "-".into()
        };
        out.push(format!(
            r#"{{"level":"{}","path":"/api/v{}/items/{i}","status":{},"latency_ms":{}.{},"peer":"{peer}"}}"#,
            ["INFO", "WARN", "ERROR"][i % 3],
            i % 4,
            200 + (i % 5) * 100,
            i % 97,
            i % 10
        ));
    }
    out
}

/// Events of `lines` in streams `a` and `b` (alternating chunks of 100); the first `sealed`
/// are sealed in blocks of `block_bytes`, the rest left buffered.
fn store(dir: &Path, lines: &[String], block_bytes: usize, sealed: usize) -> Arc<Store> {
    common::two_stream_store(dir, lines, block_bytes, 100, sealed)
}

fn request(query: &str) -> QueryRequest {
    QueryRequest { limit: Some(10_000), ..common::request("g", query) }
}

fn run(store: &Arc<Store>, query: &str) -> Vec<Vec<Option<String>>> {
    let engine = Engine::new(EngineConfig { threads: 2, ..Default::default() });
    let source = DataSource::without_index(store.clone());
    engine.run(&source, &request(query), &CancelToken::new()).unwrap().rows
}

/// The filters, each with the naive test of a line (and its stream) it stands for.
type Oracle = Box<dyn Fn(&str, &str) -> bool>;

fn cases() -> Vec<(String, Oracle)> {
    let regexes = [
        r"\d+\.\d+\.\d+\.\d+:\d{4,5}",
        r"(?i)error",
        r"^\w+ \d+",
        r"\d+$",
        r"a\s+b",
        r"1234",
        r"(?m)^lines \d$",
        r"(?s)two.lines",
        r"x*",
        r"\bport\b",
        r"[^\x00-\x7f]",
        r"Failed password for \w+",
        r"^$",
    ];
    let mut out: Vec<(String, Oracle)> = Vec::new();
    for r in regexes {
        let re = regex::Regex::new(r).unwrap();
        let q = format!("filter @message like /{r}/");
        out.push((q, Box::new(move |m, _| re.is_match(m))));
        let re = regex::Regex::new(r).unwrap();
        let q = format!("filter @logStream = \"a\" and @message =~ /{r}/ and @message like /./");
        out.push((
            q,
            Box::new(move |m, s| s == "a" && re.is_match(m) && m.contains(|c| c != '\n')),
        ));
        let re = regex::Regex::new(r).unwrap();
        let q = format!("filter @message not like /{r}/");
        out.push((q, Box::new(move |m, _| !re.is_match(m))));
    }
    for text in ["Failed password", "10.1.2.3", "héllo", " b"] {
        let q = format!("filter @message like {text:?} or @message like \"zz\"");
        out.push((q, Box::new(move |m, _| m.contains(text) || m.contains("zz"))));
        let q = format!("filter @message like {text:?}");
        out.push((q, Box::new(move |m, _| m.contains(text))));
    }
    out
}

#[test]
fn screened_scans_answer_as_a_naive_scan() {
    let lines = lines();
    let streams: Vec<&str> =
        (0..lines.len()).map(|i| if (i / 100) % 2 == 0 { "a" } else { "b" }).collect();
    let tmp = tempfile::tempdir().unwrap();
    let stores = [
        ("buffered", store(&tmp.path().join("buffered"), &lines, 1 << 20, usize::MAX)),
        ("4 KiB blocks", store(&tmp.path().join("small"), &lines, 4 << 10, lines.len())),
        ("1 MiB blocks", store(&tmp.path().join("large"), &lines, 1 << 20, lines.len())),
        ("sealed and buffered", store(&tmp.path().join("mixed"), &lines, 64 << 10, 3_000)),
    ];
    for (filter, oracle) in cases() {
        let mut expected: Vec<String> = lines
            .iter()
            .zip(&streams)
            .filter(|(l, s)| oracle(l, s))
            .map(|(l, _)| l.clone())
            .collect();
        expected.sort();
        let count = expected.len().to_string();
        for (shape, s) in &stores {
            let rows = run(s, &format!("{filter} | stats count(*)"));
            assert_eq!(rows, vec![vec![Some(count.clone())]], "{filter} ({shape})");
            if expected.len() <= 10_000 {
                let rows = run(s, &format!("{filter} | display @message"));
                let mut got: Vec<String> =
                    rows.into_iter().map(|r| r[0].clone().unwrap()).collect();
                got.sort();
                assert!(got == expected, "{filter} ({shape}): the matching messages, whole");
            }
        }
    }
}

/// The DuckDB comparison's query 4 (`benches/compare_duckdb.py`), as it is sent there.
#[test]
fn the_comparison_regex_query_counts_as_a_naive_scan() {
    let lines = lines();
    let re = regex::Regex::new(r"\d+\.\d+\.\d+\.\d+:\d{4,5}").unwrap();
    let expected = lines.iter().filter(|l| re.is_match(l)).count();
    assert!(expected > 80, "the data holds matches ({expected})");
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), &lines, 64 << 10, 4_000);
    let rows = run(&s, r"filter @message like /\d+\.\d+\.\d+\.\d+:\d{4,5}/ | stats count(*) as n");
    assert_eq!(rows, vec![vec![Some(expected.to_string())]]);
}

#[test]
fn explain_says_when_templates_are_screened() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path(), &lines()[..200], 1 << 20, 200);
    let engine = Engine::new(EngineConfig { threads: 1, ..Default::default() });
    let source = DataSource::without_index(s);
    let explain = |q: &str| engine.explain(&source, &request(q)).unwrap();
    let plan = explain(r"filter @message like /\d+:\d{4}/ and @logStream = 'a' | stats count(*)");
    assert!(plan.contains(r"message templates screened by @message like /\d+:\d{4}/"), "{plan}");
    let plan = explain("filter @message like \"Failed\" | stats count(*)");
    assert!(plan.contains("message templates screened by @message like \"Failed\""), "{plan}");
    for q in [
        r"filter @message not like /\d+/",
        r"filter @message like /a/ or @logStream = 'b'",
        r"fields @message as m | filter m like /a/",
        r"parse @message 'x *' as m | filter @message like /a/",
        r"filter @message like /a/ | pattern @message",
    ] {
        assert!(!explain(q).contains("screened"), "{q}: {}", explain(q));
    }
}
