//! `logsight query`: `--check` (canonical form, or a rendered error and exit 2) and queries run
//! in-process on a data directory.

use std::process::{Command, Output};

fn logsight_query(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logsight"))
        .arg("query")
        .args(args)
        .output()
        .expect("run logsight")
}

#[test]
fn check_prints_the_canonical_form() {
    let out = logsight_query(&["--check", "FIELDS @timestamp | where x=1 # c\n| Limit 5"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fields @timestamp | filter x = 1 | limit 5\n"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn check_reports_a_malformed_query_with_a_caret_and_exit_code_2() {
    let out = logsight_query(&["--check", "stats coutn(*) by bin(5m)"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unknown function `coutn`, did you mean `count`?\n --> line 1, column 7\n  |\n\
         1 | stats coutn(*) by bin(5m)\n  |       ^^^^^\n"
    );
}

#[test]
fn without_a_data_directory_a_query_goes_to_the_server() {
    // Port 1 on loopback: nothing listens there.
    let out = logsight_query(&["--endpoint", "127.0.0.1:1", "fields @message"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
    let out = logsight_query(&["--endpoint", "127.0.0.1:1", "--explain", "fields @message"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-dir"));
}

/// A data directory with three events in group `app` (streams `a` and `b`) at
/// 2024-05-01 00:00:01, :02 and :03 UTC.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_string_lossy().into_owned();
    let input = concat!(
        r#"{"timestamp": 1714521601000, "stream": "a", "message": "{\"status\": 200, \"path\": \"/x,y\"}"}"#,
        "\n",
        r#"{"timestamp": 1714521602000, "stream": "b", "message": "plain text 503"}"#,
        "\n",
        r#"{"timestamp": 1714521603000, "stream": "a", "message": "{\"status\": \"404\", \"path\": \"/z\"}"}"#,
        "\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(["import", "--data-dir", &data, "--group", "app", "--format", "jsonl", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    dir
}

fn run_query(dir: &tempfile::TempDir, extra: &[&str], query: &str) -> Output {
    let data = dir.path().to_string_lossy().into_owned();
    let mut args = vec![
        "--data-dir",
        &data,
        "--group",
        "app",
        "--start",
        "2024-05-01T00:00:00Z",
        "--end",
        "2024-05-01T01:00:00Z",
    ];
    args.extend_from_slice(extra);
    args.push(query);
    logsight_query(&args)
}

#[test]
fn json_output_keeps_the_query_field_order_and_statistics_go_to_stderr() {
    let dir = data_dir();
    let out = run_query(
        &dir,
        &["--output", "json"],
        "fields status, path, @timestamp | filter status in [404, 200]",
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Newest first; keys in the query's order (not sorted), every value a string.
    let expected = "[\n  {\"status\": \"404\", \"path\": \"/z\", \"@timestamp\": \"2024-05-01 00:00:03.000\"},\n  \
                    {\"status\": \"200\", \"path\": \"/x,y\", \"@timestamp\": \"2024-05-01 00:00:01.000\"}\n]\n";
    assert_eq!(stdout, expected);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 records matched, 3 scanned"), "{stderr}");
}

#[test]
fn csv_and_table_outputs() {
    let dir = data_dir();
    let out = run_query(
        &dir,
        &["--output", "csv"],
        "stats count(*) as n by @logStream | sort @logStream",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "@logStream,n\na,2\nb,1\n");
    let out =
        run_query(&dir, &["--output", "csv"], "filter ispresent(path) | fields path | limit 1");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "path\n/z\n");
    let out = run_query(&dir, &["--output", "csv"], "filter path like ',' | fields path");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "path\n\"/x,y\"\n");
    let out = run_query(&dir, &[], "stats count(*) as n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n-\n3\n");
}

#[test]
fn explain_prints_the_plan() {
    let dir = data_dir();
    let out = run_query(&dir, &["--explain"], "stats count(*) by bin(5m)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("columns: timestamps\n"), "{stdout}");
    assert!(stdout.contains("index pushdown: none"), "{stdout}");
    assert!(stdout.contains("count from timestamps alone"), "{stdout}");
    let out = run_query(&dir, &["--explain"], "filter @logStream = 'b' | fields @message");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("streams: only b"), "{stdout}");
    // Streams a and b share the group's one block: its 3 events are scanned, b's row kept.
    assert!(stdout.contains("scan: 1 units (3 events)"), "{stdout}");
}

#[test]
fn invalid_queries_exit_2_and_unknown_groups_name_the_exception() {
    let dir = data_dir();
    let out = run_query(&dir, &[], "fields a | dedup a | sort a");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("only `limit` may follow `dedup`") && stderr.contains("^^^^^^"),
        "{stderr}"
    );
    let out = run_query(&dir, &[], "stats coutn(*)");
    assert_eq!(out.status.code(), Some(2));
    let data = dir.path().to_string_lossy().into_owned();
    let out = logsight_query(&["--data-dir", &data, "--group", "nope", "fields @message"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ResourceNotFoundException"));
}

#[test]
fn reindex_builds_the_index_that_queries_then_prune_with() {
    let dir = data_dir();
    let data = dir.path().to_string_lossy().into_owned();
    let reindex = || {
        Command::new(env!("CARGO_BIN_EXE_logsight"))
            .args(["reindex", "--data-dir", &data])
            .output()
            .expect("run logsight")
    };
    let out = reindex();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("built 1 index artifacts"), "{stdout}");
    // Again: the artifact is dropped and built anew.
    let out = reindex();
    assert!(String::from_utf8_lossy(&out.stderr).contains("dropped 1 index artifacts"));
    let out = run_query(&dir, &["--explain"], "filter @message like ' zebra ' | fields @message");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("index pushdown: @message tokens zebra\n"), "{stdout}");
    assert!(stdout.contains("index: 1 blocks (3 events,"), "{stdout}");
    let out = run_query(
        &dir,
        &["--output", "csv"],
        "filter @message like 'plain text' | fields @message",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "@message\nplain text 503\n");
}
