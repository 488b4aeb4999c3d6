//! The command line as a newcomer meets it (issue 15): values that start with `-`, closed
//! pipes, reasons for rejections, hints, plain tables, and the conventions users bring from
//! `aws logs`, `logcli` and `psql`. Every test runs the real binary.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use logsight_proto::v1 as pb;
use serde_json::Value;

use crate::support::{TestServer, create, logsight, logsight_ok, now_ms};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Puts `messages` into group/stream at `timestamp` through the API.
fn put(server: &TestServer, group: &str, stream: &str, timestamp: i64, messages: &[String]) {
    rt().block_on(async {
        let mut c = server.client().await;
        for chunk in messages.chunks(5000) {
            c.put_log_events(pb::PutLogEventsRequest {
                log_group_name: group.into(),
                log_stream_name: stream.into(),
                log_events: chunk
                    .iter()
                    .map(|m| pb::InputLogEvent { timestamp, message: m.clone() })
                    .collect(),
                sequence_token: None,
            })
            .await
            .unwrap();
        }
    });
}

/// A server holding group `app`, stream `web`, with `messages` stamped 10 minutes ago.
fn server_with(messages: &[String]) -> TestServer {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "app", &["web"]).await;
    });
    put(&server, "app", "web", now_ms() - 10 * 60_000, messages);
    server
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

/// The child's stdout lines, read on a thread so a test can wait for them with a timeout.
fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines {
            if tx.send(l.unwrap()).is_err() {
                break;
            }
        }
    });
    rx
}

// ---- 1. values that begin with `-` ----

#[test]
fn times_and_patterns_may_begin_with_a_hyphen() {
    let msgs: Vec<String> =
        ["ERROR for user 42", "ERROR for user 7", "INFO user 42"].map(String::from).to_vec();
    let server = server_with(&msgs);
    let ep = &server.endpoint;
    // The README's own example.
    let out = logsight_ok(
        &["events", "filter", "--group", "app", "--pattern", "ERROR \"user 42\"", "--start", "-1h"]
            .iter()
            .chain(&["--end", "-1m", "--endpoint", ep])
            .copied()
            .collect::<Vec<_>>(),
        b"",
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.ends_with("ERROR for user 42\n"), "{out}");
    let out = logsight_ok(
        &["events", "filter", "--group", "app", "--pattern", "-INFO", "--endpoint", ep],
        b"",
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(!out.contains("INFO"), "{out}");
    // test-pattern: an exclusion as the whole pattern.
    let out = logsight(&["test-pattern", "--pattern", "-Failed"], b"Failed login\nok\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    assert!(stdout(&out).contains("\"eventMessage\":\"ok\""));
    // An offline import stamped two days ago, found by a window of relative times.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    logsight_ok(&["import", "--data-dir", data, "--group", "g", "--timestamp", "-2d", "-"], b"x\n");
    let out = logsight_ok(
        &["export", "--data-dir", data, "--group", "g", "--start", "-3d", "--end", "-1d"],
        b"",
    );
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn tail_takes_a_pattern_that_begins_with_a_hyphen() {
    let server = server_with(&[]);
    let mut tail =
        spawn(&["tail", "--group", "app", "--pattern", "-INFO", "--endpoint", &server.endpoint]);
    let rx = stdout_lines(&mut tail);
    let mut got = None;
    for _ in 0..100 {
        put(&server, "app", "web", now_ms(), &["INFO no".into(), "ERROR yes".into()]);
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            got = Some(l);
            break;
        }
        if let Some(status) = tail.try_wait().unwrap() {
            let mut err = String::new();
            tail.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("tail ended with {status}: {err}");
        }
    }
    signal(&tail, "-INT");
    tail.wait().unwrap();
    let got = got.expect("tail printed an event");
    assert!(got.ends_with("ERROR yes"), "{got}");
}

// ---- 2. ingest --follow leaves other files alone ----

#[test]
fn ingest_follow_does_not_touch_a_file_named_like_its_temporary() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    std::fs::write(&file, "one\ntwo\n").unwrap();
    let precious = dir.path().join("app.log.tmp");
    std::fs::write(&precious, "the user's own file").unwrap();
    let mut child = spawn(&[
        "ingest",
        "--follow",
        "--create",
        "--group",
        "g",
        "--stream",
        "s",
        "--endpoint",
        &server.endpoint,
        file.to_str().unwrap(),
    ]);
    let state = dir.path().join("app.log.logsight-offset");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&state).unwrap_or_default().contains("\"offset\":8") {
        assert!(Instant::now() < deadline, "the follower never saved its offset");
        std::thread::sleep(Duration::from_millis(50));
    }
    signal(&child, "-INT");
    assert!(child.wait().unwrap().success());
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "the user's own file");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["app.log", "app.log.logsight-offset", "app.log.tmp"]);
    let _ = child.stdout.take();
}

// ---- 4. a closed pipe ends the command quietly ----

#[test]
fn a_closed_pipe_ends_reading_commands_quietly() {
    // 20,000 lines of 60 bytes: far more than a pipe buffer holds.
    let msgs: Vec<String> = (0..20_000).map(|i| format!("{i:08} {}", "x".repeat(50))).collect();
    let server = server_with(&msgs);
    let ep = &server.endpoint;
    for args in [
        vec!["events", "filter", "--group", "app"],
        vec!["events", "get", "--group", "app", "--stream", "web", "--limit", "20000"],
    ] {
        let mut args = args;
        args.extend(["--endpoint", ep]);
        let mut child = spawn(&args);
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(first.contains("xxxx"), "{first}");
        // The reader is dropped here: the pipe is closed, as `| head -1` does.
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

// ---- 5. rejections say why; nothing stored is a failure ----

#[test]
fn ingest_says_why_events_were_rejected_and_fails_when_none_is_stored() {
    let server = server_with(&[]);
    let ep = &server.endpoint;
    let line = |ts: i64, m: &str| format!("{{\"timestamp\": {ts}, \"message\": \"{m}\"}}\n");
    let old: String = (0..2000).map(|i| line(1_000 + i, "old")).collect();
    let args = ["ingest", "--format", "jsonl", "--group", "app", "--stream", "web"];
    let out = logsight(&[&args[..], &["--endpoint", ep, "-"]].concat(), old.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let all = stdout(&out) + &stderr(&out);
    assert!(all.contains("rejected 2000 (2000 too old)"), "{all}");
    assert!(all.contains("nothing was stored"), "{all}");
    // One too old, one too new (more than 2 hours ahead), one fine.
    let now = now_ms();
    let mixed = line(1_000, "old") + &line(now, "fine") + &line(now + 3 * 3_600_000, "new");
    let out = logsight(&[&args[..], &["--endpoint", ep, "-"]].concat(), mixed.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let all = stdout(&out) + &stderr(&out);
    assert!(all.contains("acknowledged 1, rejected 2 (1 too old, 1 too new)"), "{all}");
}

// ---- 6. the README's --follow example; a hint for a missing group ----

#[test]
fn readme_follow_examples_create_their_group_and_a_missing_group_hints_how() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let follows: Vec<&str> =
        readme.lines().filter(|l| l.contains("ingest") && l.contains("--follow")).collect();
    assert!(!follows.is_empty());
    for l in follows.iter().filter(|l| l.trim_start().starts_with("logsight ")) {
        assert!(l.contains("--create"), "without --create the example fails: {l}");
    }
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    std::fs::write(&file, "one\n").unwrap();
    for follow in [true, false] {
        let mut args = vec!["ingest", "--group", "app", "--endpoint", &server.endpoint];
        if follow {
            args.push("--follow");
        }
        args.push(file.to_str().unwrap());
        let child = spawn(&args);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("log group \"app\" does not exist"), "{err}");
        assert!(err.contains("--create"), "a hint names --create: {err}");
    }
}

// ---- 7. blank lines, many bad lines, invalid UTF-8, binary files ----

#[test]
fn text_input_skips_blank_lines_and_keeps_invalid_utf8_lines() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = logsight(
        &["import", "--data-dir", data, "--group", "g", "--stream", "s", "-"],
        b"first\n\n  \ncaf\xe9 latin-1\n\r\nlast\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "blank lines are not malformed");
    assert!(stdout(&out).contains("1 line not valid UTF-8"), "{}", stdout(&out));
    assert!(stdout(&out).contains("skipped 0 malformed lines"), "{}", stdout(&out));
    let export = logsight_ok(&["export", "--data-dir", data, "--group", "g"], b"");
    let msgs: Vec<String> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["message"].as_str().unwrap().to_owned())
        .collect();
    // A whitespace-only line is a message; only empty lines are skipped.
    assert_eq!(msgs, ["first", "  ", "caf\u{FFFD} latin-1", "last"]);
}

#[test]
fn a_binary_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = dir.path().join("core.bin");
    let mut bytes = b"\x7fELF\x02\x01\x01\0\0\0\0".to_vec();
    bytes.extend((0..4096u32).map(|i| (i % 251) as u8));
    std::fs::write(&bin, &bytes).unwrap();
    let out = logsight(
        &["import", "--data-dir", data.to_str().unwrap(), "--group", "g", bin.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("binary"), "{}", stderr(&out));
    let server = server_with(&[]);
    let out = logsight(
        &["ingest", "--group", "app", "--endpoint", &server.endpoint, bin.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("binary"), "{}", stderr(&out));
}

#[test]
fn ingest_counts_the_bad_lines_it_does_not_show() {
    let server = server_with(&[]);
    let mut input = String::from("{\"timestamp\": 1, \"message\": \"x\"}\n");
    input.push_str(&"not json\n".repeat(25));
    let input = input.replace("\"timestamp\": 1", &format!("\"timestamp\": {}", now_ms()));
    let out = logsight(
        &["ingest", "--format", "jsonl", "--group", "app", "--stream", "web"]
            .iter()
            .chain(&["--endpoint", &server.endpoint, "-"])
            .copied()
            .collect::<Vec<_>>(),
        input.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches(": skipped: ").count(), 20, "{err}");
    assert!(err.contains("... and 5 more skipped lines"), "{err}");
}

// ---- 8. unknown streams and inverted ranges ----

#[test]
fn unknown_streams_and_inverted_ranges_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    logsight_ok(&["import", "--data-dir", data, "--group", "g", "--stream", "s", "-"], b"x\n");
    let out = logsight(&["export", "--data-dir", data, "--group", "g", "--stream", "nope"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("log stream \"nope\" does not exist"), "{}", stderr(&out));
    let out = logsight(
        &["export", "--data-dir", data, "--group", "g", "--start", "-1h", "--end", "-2h"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--start"), "{}", stderr(&out));

    let server = server_with(&["x".into()]);
    let ep = &server.endpoint;
    let out = logsight(
        &["events", "filter", "--group", "app", "--stream", "nosuch", "--endpoint", ep],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("log stream \"nosuch\" does not exist"), "{}", stderr(&out));
    for cmd in [&["filter", "--group", "app"][..], &["get", "--group", "app", "--stream", "web"]] {
        let mut args = vec!["events"];
        args.extend(cmd);
        args.extend(["--start", "2026-01-02", "--end", "2026-01-01", "--endpoint", ep]);
        let out = logsight(&args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("is after --end"), "{}", stderr(&out));
    }
}

// ---- 9. connection errors ----

#[test]
fn connection_errors_read_once_and_hint_at_the_server() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ep = format!("http://127.0.0.1:{port}");
    let out = logsight(&["groups", "list", "--endpoint", &ep], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("onnection refused").count(), 1, "{err}");
    assert!(err.contains("logsight serve"), "{err}");
    // HOST:PORT without a scheme is accepted.
    let server = server_with(&[]);
    let bare = server.endpoint.trim_start_matches("http://");
    let out = logsight_ok(&["groups", "list", "--output", "json", "--endpoint", bare], b"");
    assert!(out.contains("\"app\""), "{out}");
    // The endpoint may come from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(["groups", "list", "--output", "json"])
        .env("LOGSIGHT_ENDPOINT", &server.endpoint)
        .output()
        .unwrap();
    assert!(stdout(&out).contains("\"app\""), "{}", stderr(&out));
    // Nonsense is an error that says what is expected, once.
    let out = logsight(&["groups", "list", "--endpoint", "http://exa mple:1"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).matches("http://HOST:PORT").count(), 1, "{}", stderr(&out));
}

// ---- 10. tables and counts ----

/// The character column where `needle` starts in `line`.
fn col(line: &str, needle: &str) -> usize {
    line[..line.find(needle).unwrap_or_else(|| panic!("{needle:?} in {line:?}"))].chars().count()
}

#[test]
fn tables_fit_long_names_and_counts_read_as_english() {
    let server = server_with(&[]);
    let long = "a-very-long-log-group-name-that-is-longer-than-forty-characters";
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, long, &["s"]).await;
    });
    let out = logsight_ok(&["groups", "list", "--endpoint", &server.endpoint], b"");
    let header = out.lines().find(|l| l.contains("GROUP")).unwrap();
    for name in ["app ", long] {
        let row = out.lines().find(|l| l.trim_start().starts_with(name)).unwrap();
        // The creation time (20..-..-..T) starts right under CREATED.
        assert_eq!(col(header, "CREATED"), col(row, "20"), "{out}");
    }

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let jsonl = "{\"timestamp\": 5, \"message\": \"m\", \"group\": \"one\"}\n{\"timestamp\": 5, \"message\": \"m\", \"group\": \"two\"}\n";
    let out = logsight_ok(
        &["import", "--data-dir", data, "--format", "jsonl", "--stream", "s", "-"],
        jsonl.as_bytes(),
    );
    assert!(out.contains("into 2 streams of 2 groups"), "{out}");
    let out = logsight_ok(&["import", "--data-dir", data, "--group", "solo", "-"], b"x\n");
    assert!(
        out.contains("imported 1 event ") && out.contains("into 1 stream of 1 group "),
        "{out}"
    );
    // One segment file holds both groups' blocks: the table does not sum per-group segment
    // counts into a total that disagrees with them.
    let out = logsight_ok(&["inspect", "--data-dir", data], b"");
    assert!(!out.contains("SEGMENTS"), "{out}");
    let doc: Value = serde_json::from_str(&logsight_ok(
        &["inspect", "--data-dir", data, "--output", "json"],
        b"",
    ))
    .unwrap();
    let segments = doc["totals"]["segments"].as_u64().unwrap();
    let noun = if segments == 1 { "segment file" } else { "segment files" };
    assert!(out.contains(&format!("{segments} {noun}")), "{out}");
}

// ---- 11. serve: colour, dependency logs, the data directory ----

/// Runs `serve` with `env`, makes one API call, stops it; returns its stderr.
fn serve_once(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logsight"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("LOGSIGHT_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    logsight_ok(&["groups", "create", "g", "--endpoint", &format!("http://{addr}")], b"");
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    stderr(&out)
}

#[test]
fn serve_logs_plainly_when_not_on_a_terminal() {
    let err = serve_once(&[]);
    assert!(err.contains("logsight server started"), "{err}");
    assert!(!err.contains('\x1b'), "no colour codes in a file: {err:?}");
    let err = serve_once(&[("LOGSIGHT_LOG", "debug")]);
    assert!(!err.contains('\x1b'), "{err:?}");
    for noisy in ["h2::", "hyper::", "hyper_util::", "tower::"] {
        assert!(!err.contains(noisy), "LOGSIGHT_LOG=debug shows {noisy} frames: {err}");
    }
}

#[test]
fn serve_on_a_taken_port_creates_no_data_directory() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = logsight(&["serve", "--listen", &addr, "--data-dir", data.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&addr), "{}", stderr(&out));
    assert!(!data.exists(), "serve created {} though it could not listen", data.display());
}

// ---- 12. an empty query ----

#[test]
fn an_empty_query_is_an_error() {
    for q in ["", "   ", "\n"] {
        let out = logsight(&["query", "--check", q], b"");
        assert_eq!(out.status.code(), Some(2), "{q:?}: {}", stdout(&out));
        assert!(stdout(&out).is_empty(), "{q:?}");
        assert!(stderr(&out).contains("empty"), "{q:?}: {}", stderr(&out));
    }
}

// ---- habits: aws logs tail, logcli, psql ----

#[test]
fn tail_since_prints_history_then_follows() {
    let server = server_with(&[]);
    let ep = &server.endpoint;
    put(&server, "app", "web", now_ms() - 2 * 3_600_000, &["two hours ago".into()]);
    put(&server, "app", "web", now_ms() - 30 * 60_000, &["half an hour ago".into()]);
    // History only: --since without --follow prints and ends, as `aws logs tail` does.
    let out = logsight_ok(
        &["tail", "--group", "app", "--since", "1h", "--format", "json"]
            .iter()
            .chain(&["--endpoint", ep])
            .copied()
            .collect::<Vec<_>>(),
        b"",
    );
    let msgs: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(msgs.len(), 1, "{out}");
    assert_eq!(msgs[0]["message"], "half an hour ago");
    assert_eq!((msgs[0]["group"].as_str(), msgs[0]["stream"].as_str()), (Some("app"), Some("web")));
    // History, then new events.
    let mut tail = spawn(&[
        "tail",
        "--group",
        "app",
        "--since",
        "90m",
        "--follow",
        "--format",
        "short",
        "--endpoint",
        ep,
    ]);
    let rx = stdout_lines(&mut tail);
    let first = rx.recv_timeout(Duration::from_secs(30)).expect("history printed");
    assert!(first.ends_with("  half an hour ago"), "{first}");
    let mut live = None;
    for _ in 0..100 {
        put(&server, "app", "web", now_ms(), &["live".into()]);
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            live = Some(l);
            break;
        }
    }
    signal(&tail, "-INT");
    assert!(tail.wait().unwrap().success());
    let live = live.expect("a live event printed");
    // short: the time and the message only.
    assert!(live.ends_with("Z  live") && !live.contains("web"), "{live}");
}

#[test]
fn events_get_pages_newest_first_and_resumes_with_a_token() {
    let server = server_with(&[]);
    let ep = &server.endpoint;
    let base = now_ms() - 60_000;
    for i in 0..5 {
        put(&server, "app", "web", base + i, &[format!("m{i}")]);
    }
    let get = |extra: &[&str]| {
        let mut args =
            vec!["events", "get", "--group", "app", "--stream", "web", "--output", "raw"];
        args.extend(extra);
        args.extend(["--endpoint", ep]);
        logsight(&args, b"")
    };
    let out = get(&["--order", "newest-first", "--limit", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "m4\nm3\n", "raw: messages only, newest first");
    let err = stderr(&out);
    let token = err
        .split("--next-token ")
        .nth(1)
        .and_then(|t| t.split([')', ' ', '\n']).next())
        .unwrap_or_else(|| panic!("a token to resume with: {err}"));
    let out = get(&["--order", "newest-first", "--next-token", token]);
    assert_eq!(stdout(&out), "m2\nm1\nm0\n", "{}", stderr(&out));
    // Not a terminal: every event, oldest first, as scripts expect.
    assert_eq!(stdout(&get(&[])), "m0\nm1\nm2\nm3\nm4\n");
    let out = get(&["--limit", "3"]);
    assert_eq!(stdout(&out), "m0\nm1\nm2\n");
    let err = stderr(&out);
    let token = err.split("--next-token ").nth(1).unwrap().split([')', ' ', '\n']).next().unwrap();
    assert_eq!(stdout(&get(&["--next-token", token])), "m3\nm4\n");
}

#[test]
fn completions_and_man_page_come_from_the_command_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let out = logsight_ok(&["completions", shell], b"");
        assert!(out.contains("logsight") && out.contains("timestamp-format"), "{shell}");
    }
    let man = logsight_ok(&["man"], b"");
    assert!(man.contains(".TH logsight"), "{}", &man[..man.len().min(300)]);
    let dir = tempfile::tempdir().unwrap();
    logsight_ok(&["man", "--dir", dir.path().to_str().unwrap()], b"");
    assert!(dir.path().join("logsight-events-get.1").is_file());
}

#[test]
fn timestamps_come_from_the_line_or_as_rfc3339_in_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let apache = crate::support::loghub_dir().join("Apache_2k.log");
    let out = logsight_ok(
        &["import", "--data-dir", data, "--group", "web", "--timestamp-format", "apache-error"]
            .iter()
            .chain(&[apache.to_str().unwrap()])
            .copied()
            .collect::<Vec<_>>(),
        b"",
    );
    assert!(out.contains("imported 2000 events"), "{out}");
    assert!(!out.contains("without a timestamp"), "{out}");
    let export = logsight_ok(&["export", "--data-dir", data, "--group", "web"], b"");
    let first: Value = serde_json::from_str(export.lines().next().unwrap()).unwrap();
    // [Sun Dec 04 04:47:44 2005], the sample's first line.
    assert_eq!(first["timestamp"], 1_133_671_664_000i64);
    // A custom format; a continuation line takes the time of the line before.
    let out = logsight_ok(
        &["import", "--data-dir", data, "--group", "app", "--stream", "s"]
            .iter()
            .chain(&["--timestamp-format", "%Y-%m-%d %H:%M:%S", "-"])
            .copied()
            .collect::<Vec<_>>(),
        b"2024-05-01 12:00:00 boom\n  at frame 1\n",
    );
    assert!(out.contains("1 line without a timestamp took the one before"), "{out}");
    let export = logsight_ok(&["export", "--data-dir", data, "--group", "app"], b"");
    let ts: Vec<i64> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(ts, [1_714_564_800_000, 1_714_564_800_000]);
    // jsonl: RFC 3339 strings as well as epoch milliseconds.
    let jsonl = b"{\"timestamp\": \"2024-05-01T14:00:00+02:00\", \"message\": \"a\"}\n{\"timestamp\": 1714564800001, \"message\": \"b\"}\n{\"timestamp\": \"yesterday\", \"message\": \"c\"}\n";
    let out = logsight(
        &["import", "--data-dir", data, "--group", "j", "--stream", "s", "--format", "jsonl", "-"],
        jsonl,
    );
    assert!(
        stderr(&out).contains("stdin:3: skipped: invalid time \"yesterday\""),
        "{}",
        stderr(&out)
    );
    let export = logsight_ok(&["export", "--data-dir", data, "--group", "j"], b"");
    let ts: Vec<i64> = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(ts, [1_714_564_800_000, 1_714_564_800_001]);
    // A format that cannot be read is refused before anything is read.
    let out = logsight(
        &["import", "--data-dir", data, "--group", "x", "--timestamp-format", "%Q %Z", "-"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

// ---- consistent flags: groups and streams are named with --group and --stream ----

#[test]
fn groups_and_streams_are_named_with_flags_everywhere() {
    let server = TestServer::start();
    let ep = server.endpoint.as_str();
    let ok = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--endpoint", ep]);
        logsight_ok(&all, b"")
    };
    ok(&["groups", "create", "--group", "app"]);
    ok(&["streams", "create", "--group", "app", "--stream", "web-1"]);
    ok(&["groups", "retention", "--group", "app", "--days", "7"]);
    // The older positional spelling still works, unadvertised.
    ok(&["groups", "create", "old"]);
    ok(&["streams", "create", "--group", "app", "web-2"]);
    let out = ok(&["streams", "list", "--group", "app", "--output", "json"]);
    assert!(out.contains("web-1") && out.contains("web-2"), "{out}");
    // One spelling for prefixes: --group-prefix and --stream-prefix (each also --prefix).
    let out = ok(&["groups", "list", "--group-prefix", "ap", "--output", "json"]);
    assert!(out.contains("\"app\"") && !out.contains("\"old\""), "{out}");
    let out = ok(&["groups", "list", "--prefix", "ol", "--output", "json"]);
    assert!(out.contains("\"old\"") && !out.contains("\"app\""), "{out}");
    ok(&["streams", "delete", "--group", "app", "--stream", "web-1"]);
    ok(&["groups", "delete", "--group", "old"]);
    let out = ok(&["groups", "list", "--output", "json"]);
    assert!(!out.contains("\"old\""), "{out}");

    // Neither or both spellings: an error that names the flag.
    let out = logsight(&["groups", "create", "--endpoint", ep], b"");
    assert!(!out.status.success() && stderr(&out).contains("--group"), "{}", stderr(&out));
    let out = logsight(&["groups", "create", "--group", "a", "b", "--endpoint", ep], b"");
    assert!(!out.status.success());
    // Every command that names a group or a stream says --group / --stream in its help.
    for cmd in [
        &["groups", "create"][..],
        &["groups", "delete"],
        &["groups", "retention"],
        &["streams", "create"],
        &["streams", "list"],
        &["events", "get"],
        &["events", "filter"],
        &["tail"],
        &["ingest"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = logsight_ok(&args, b"");
        assert!(help.contains("--group"), "{cmd:?}: {help}");
    }
    for cmd in [&["streams", "create"][..], &["streams", "delete"], &["events", "get"]] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let help = logsight_ok(&args, b"");
        assert!(help.contains("--stream"), "{cmd:?}: {help}");
        assert!(!help.contains("[STREAM]"), "the positional spelling is hidden: {help}");
    }
}

// ---- 10. groups list shows the bytes not sealed yet ----

#[test]
fn groups_list_shows_buffered_bytes() {
    let server = server_with(&["hello".into(), "world!".into(), "é".into()]);
    let out =
        logsight_ok(&["groups", "list", "--output", "json", "--endpoint", &server.endpoint], b"");
    let row: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    // 5 + 6 + 2 bytes of UTF-8, none sealed yet (the seal threshold is 32 MiB).
    assert_eq!(row["buffered_bytes"], 13, "{out}");
    assert_eq!(row["stored_bytes"], 0, "{out}");
    let out = logsight_ok(&["groups", "list", "--endpoint", &server.endpoint], b"");
    let header = out.lines().find(|l| l.contains("GROUP")).unwrap();
    assert!(header.contains("STORED") && header.contains("BUFFERED"), "{out}");
    assert!(out.contains("13 B"), "{out}");
}
