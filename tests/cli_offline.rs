//! import, export and inspect through the real binary.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{loghub_dir, logsight, logsight_ok};

fn dir_arg(dir: &tempfile::TempDir) -> String {
    dir.path().join("data").to_string_lossy().into_owned()
}

#[test]
fn import_reports_malformed_lines_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(&dir);
    let input = b"{\"timestamp\": 5, \"message\": \"ok one\"}\nnot json\n{\"timestamp\": 6}\n{\"timestamp\": 7, \"message\": \"ok two\", \"stream\": \"other\"}\n";
    let out =
        logsight(&["import", "--data-dir", &data, "--group", "g", "--format", "jsonl", "-"], input);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdin:2: skipped: invalid JSON line"), "{stderr}");
    assert!(
        stderr.contains("stdin:3: skipped: invalid JSON line: missing field `message`"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 2 events"));
    let export = logsight_ok(&["export", "--data-dir", &data, "--group", "g"], b"");
    let lines: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["message"], "ok one");
    assert_eq!(lines[0]["stream"], "stdin");
    assert_eq!(lines[1]["stream"], "other");
}

#[test]
fn strict_import_of_bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(&dir);
    let input = b"{\"timestamp\": 5, \"message\": \"fine\"}\n{\"timestamp\": \"x\", \"message\": \"bad\"}\n";
    let out = logsight(
        &["import", "--data-dir", &data, "--group", "g", "--format", "jsonl", "--strict", "-"],
        input,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stdin:2:") && stderr.contains("nothing imported"), "{stderr}");
    let inspect = logsight_ok(&["inspect", "--data-dir", &data, "--output", "json"], b"");
    let doc: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(doc["groups"], json!([]));
}

#[test]
fn bad_names_and_missing_group_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(&dir);
    let out = logsight(&["import", "--data-dir", &data, "--group", "has space", "-"], b"x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid log group name \"has space\""));
    let out = logsight(&["import", "--data-dir", &data, "-"], b"x\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--group is required for text input"));
    let out = logsight(&["export", "--data-dir", &data, "--group", "missing"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("log group \"missing\" does not exist"));
    let out = logsight(&["export", "--data-dir", &data, "--group", "g", "--start", "soon"], b"");
    assert_eq!(out.status.code(), Some(2), "clap rejects a bad time");
}

#[test]
fn loghub_samples_import_and_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(&dir);
    let files: Vec<String> = ["Apache_2k.log", "HDFS_2k.log"]
        .iter()
        .map(|f| loghub_dir().join(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec![
        "import",
        "--data-dir",
        &data,
        "--group",
        "loghub",
        "--timestamp",
        "2024-05-01T00:00:00Z",
    ];
    args.extend(files.iter().map(String::as_str));
    let out = logsight_ok(&args, b"");
    assert!(out.contains("imported 4000 events"), "{out}");
    let doc: Value = serde_json::from_str(&logsight_ok(
        &["inspect", "--data-dir", &data, "--output", "json"],
        b"",
    ))
    .unwrap();
    let g = &doc["groups"][0];
    assert_eq!(g["name"], "loghub");
    assert_eq!(g["events"], 4000);
    let raw: u64 = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().map(str::len).sum::<usize>() as u64)
        .sum();
    assert_eq!(g["raw_bytes"], raw);
    let stored = g["stored_bytes"].as_u64().unwrap();
    let on_disk: u64 = std::fs::read_dir(dir.path().join("data/segments"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(stored, on_disk, "stored bytes count every segment byte");
    assert_eq!(doc["totals"]["events"], 4000);
    assert_eq!(g["streams"].as_array().unwrap().len(), 2);
    let table = logsight_ok(&["inspect", "--data-dir", &data], b"");
    assert!(table.contains("HDFS_2k.log") && table.contains("TOTAL"), "{table}");
    let export = logsight_ok(
        &["export", "--data-dir", &data, "--group", "loghub", "--stream", "Apache_2k.log"],
        b"",
    );
    let first: Value = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    assert_eq!(first["timestamp"], 1_714_521_600_000i64);
    assert_eq!(export.lines().count(), 2000);
}

fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{1,20}",
        "\\PC{1,30}",
        Just("quote \" backslash \\ tab \t newline \n".to_string())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Whatever is imported comes back out of export, in timestamp order.
    #[test]
    fn import_export_round_trip(
        events in proptest::collection::vec((0usize..3, -5i64..1_000_000, message()), 1..60)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir_arg(&dir);
        let mut input = String::new();
        for (s, ts, m) in &events {
            input.push_str(&json!({"timestamp": ts, "message": m, "stream": format!("s{s}")}).to_string());
            input.push('\n');
        }
        logsight_ok(&["import", "--data-dir", &data, "--group", "g", "--format", "jsonl", "-"], input.as_bytes());
        let export = logsight_ok(&["export", "--data-dir", &data, "--group", "g"], b"");
        let got: Vec<(String, i64, String)> = export.lines().map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["stream"].as_str().unwrap().to_owned(), v["timestamp"].as_i64().unwrap(), v["message"].as_str().unwrap().to_owned())
        }).collect();
        prop_assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "timestamp order");
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want: Vec<(String, i64, String)> = events.iter().map(|(s, ts, m)| (format!("s{s}"), *ts, m.clone())).collect();
        want.sort();
        prop_assert_eq!(got_sorted, want);
    }
}

#[test]
fn compact_merges_every_import_into_one_segment_and_changes_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir_arg(&dir);
    // Five imports of 40 streams each: five seals (which the importing store partly merges in
    // the background), every group's streams sharing blocks.
    for round in 0..5 {
        let input: String = (0..40)
            .map(|s| {
                let ts = 1_700_000_000_000i64 + round * 1000 + s;
                format!(
                    "{{\"timestamp\": {ts}, \"message\": \"round {round} stream {s}\", \"stream\": \"i-{s:02}\"}}\n"
                )
            })
            .collect();
        logsight_ok(
            &["import", "--data-dir", &data, "--group", "fleet", "--format", "jsonl", "-"],
            input.as_bytes(),
        );
    }
    let export = || logsight_ok(&["export", "--data-dir", &data, "--group", "fleet"], b"");
    let before = export();
    let segments = |data: &str| {
        let doc: Value = serde_json::from_str(&logsight_ok(
            &["inspect", "--data-dir", data, "--output", "json"],
            b"",
        ))
        .unwrap();
        doc["segments"].as_array().unwrap().len()
    };
    let n = segments(&data);
    assert!(n >= 2, "{n} segments");
    let out = logsight_ok(&["compact", "--data-dir", &data], b"");
    assert!(out.contains(&format!("compacted {n} segments into 1")), "{out}");
    assert_eq!(segments(&data), 1);
    assert_eq!(export(), before);
    assert_eq!(before.lines().count(), 200);
}
