//! The server and client commands through the real binary: serve, groups, streams, ingest
//! (with --follow restarts), events, and a kill -9 of the server under concurrent ingest.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use logsight_proto::v1 as pb;

use crate::support::{TestServer, create, logsight, logsight_ok, now_ms, read_all};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Starts `logsight serve` on 127.0.0.1:0 over `data`; returns the child and its endpoint.
pub(crate) fn spawn_server(data: &std::path::Path) -> (Child, String) {
    spawn_server_with(data, &[])
}

/// Like [`spawn_server`], with more arguments for `serve`.
fn spawn_server_with(data: &std::path::Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}"));
    (child, format!("http://{addr}"))
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(ok.success());
}

#[test]
fn client_commands_against_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, ep) = spawn_server(&dir.path().join("data"));
    let out = logsight_ok(&["groups", "create", "app", "--endpoint", &ep], b"");
    assert_eq!(out, "created log group app\n");
    let out = logsight(&["groups", "create", "app", "--endpoint", &ep], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("ResourceAlreadyExistsException: log group \"app\" already exists")
    );
    logsight_ok(&["groups", "retention", "app", "--days", "30", "--endpoint", &ep], b"");
    let out = logsight_ok(&["groups", "list", "--output", "json", "--endpoint", &ep], b"");
    // The audit group /logsight/audit is listed first.
    let g: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(
        (g["log_group_name"].as_str(), g["retention_in_days"].as_i64()),
        (Some("app"), Some(30))
    );
    logsight_ok(&["streams", "create", "--group", "app", "web", "--endpoint", &ep], b"");
    // Text lines into an existing stream, jsonl lines creating their own groups and streams.
    let text: String = (0..2500)
        .map(|i| format!("line {i} {}\n", if i % 10 == 0 { "ERROR" } else { "ok" }))
        .collect();
    let out = logsight_ok(
        &["ingest", "--group", "app", "--stream", "web", "--endpoint", &ep, "-"],
        text.as_bytes(),
    );
    assert!(
        out.contains("read 2500 events") && out.contains("acknowledged 2500, rejected 0, failed 0"),
        "{out}"
    );
    let now = now_ms();
    let jsonl = format!(
        "{{\"timestamp\": {now}, \"message\": \"a1\", \"group\": \"other\", \"stream\": \"x\"}}\n{{\"timestamp\": {}, \"message\": \"a0\", \"group\": \"other\", \"stream\": \"x\"}}\n{{\"timestamp\": 1, \"message\": \"ancient\", \"group\": \"other\", \"stream\": \"y\"}}\n",
        now - 5
    );
    let out = logsight_ok(
        &["ingest", "--format", "jsonl", "--create", "--endpoint", &ep, "-"],
        jsonl.as_bytes(),
    );
    assert!(out.contains("acknowledged 2, rejected 1"), "{out}");
    // Without --create, a missing stream is an error that names it.
    let out = logsight(
        &["ingest", "--group", "app", "--stream", "missing", "--endpoint", &ep, "-"],
        b"x\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log stream \"missing\" does not exist"));
    // events get pages to the end; filter searches.
    let out = logsight_ok(
        &[
            "events",
            "get",
            "--group",
            "app",
            "--stream",
            "web",
            "--output",
            "json",
            "--endpoint",
            &ep,
        ],
        b"",
    );
    assert_eq!(out.lines().count(), 2500);
    let out = logsight_ok(
        &["events", "get", "--group", "other", "--stream", "x", "--endpoint", &ep],
        b"",
    );
    let msgs: Vec<_> = out.lines().map(|l| l.rsplit("  ").next().unwrap()).collect();
    assert_eq!(msgs, ["a0", "a1"], "sorted before sending");
    let out = logsight_ok(
        &[
            "events",
            "filter",
            "--group",
            "app",
            "--pattern",
            "ERROR",
            "--output",
            "json",
            "--endpoint",
            &ep,
        ],
        b"",
    );
    assert_eq!(out.lines().count(), 250);
    let out = logsight_ok(&["streams", "list", "--group", "other", "--endpoint", &ep], b"");
    assert!(out.contains("x") && out.contains("y"), "{out}");
    logsight_ok(&["streams", "delete", "--group", "other", "y", "--endpoint", &ep], b"");
    logsight_ok(&["groups", "delete", "other", "--endpoint", &ep], b"");
    // Graceful stop on SIGTERM.
    signal(&server, "-TERM");
    assert!(server.wait().unwrap().success());
}

#[test]
fn tail_command_prints_new_events() {
    let server = TestServer::start();
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, "g", &["s"]).await;
    });
    let mut tail = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args([
            "tail",
            "--group",
            "g",
            "--pattern",
            "ERROR",
            "--output",
            "json",
            "--endpoint",
            &server.endpoint,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut tail);
    // Keep putting until the tail (which connects asynchronously) reports one.
    let got = rt().block_on(async {
        let mut c = server.client().await;
        for _ in 0..100 {
            c.put_log_events(pb::PutLogEventsRequest {
                log_group_name: "g".into(),
                log_stream_name: "s".into(),
                log_events: vec![
                    pb::InputLogEvent { timestamp: now_ms(), message: "INFO no".into() },
                    pb::InputLogEvent { timestamp: now_ms(), message: "ERROR yes".into() },
                ],
                sequence_token: None,
            })
            .await
            .unwrap();
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                return l;
            }
        }
        panic!("tail printed nothing");
    });
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!((v["group"].as_str(), v["message"].as_str()), (Some("g"), Some("ERROR yes")));
    signal(&tail, "-INT");
    assert!(tail.wait().unwrap().success());
}

#[test]
fn tail_command_notes_sampling_and_starts_a_new_session_after_a_timeout() {
    // The serve config sets the session's timing.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.json");
    std::fs::write(
        &config,
        r#"{"live_tail_update_interval_ms": 200, "live_tail_timeout_ms": 3000}"#,
    )
    .unwrap();
    let (mut server, endpoint) =
        spawn_server_with(&dir.path().join("data"), &["--config", config.to_str().unwrap()]);
    let connect =
        || async { pb::logs_client::LogsClient::connect(endpoint.clone()).await.unwrap() };
    rt().block_on(async {
        let mut c = connect().await;
        create(&mut c, "g", &["s"]).await;
    });
    let mut tail = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(["tail", "--group", "g", "--endpoint", &endpoint])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut tail);
    let err_rx = {
        let lines = BufReader::new(tail.stderr.take().unwrap()).lines();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in lines {
                if tx.send(l.unwrap()).is_err() {
                    break;
                }
            }
        });
        rx
    };
    // Puts batches of `n` events until the tail prints one whose message starts with `tag`.
    let put_until_printed = |tag: &str, n: usize| {
        rt().block_on(async {
            let mut c = connect().await;
            for _ in 0..300 {
                let now = now_ms();
                c.put_log_events(pb::PutLogEventsRequest {
                    log_group_name: "g".into(),
                    log_stream_name: "s".into(),
                    log_events: (0..n)
                        .map(|i| pb::InputLogEvent { timestamp: now, message: format!("{tag}{i}") })
                        .collect(),
                    sequence_token: None,
                })
                .await
                .unwrap();
                while let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                    if l.contains(&format!("  {tag}")) {
                        return;
                    }
                }
            }
            panic!("tail printed no {tag} event");
        })
    };
    // 600 events per batch: every update that holds any is a sample of 500.
    put_until_printed("e", 600);
    // The session ends 3 s after it started; the command starts another and goes on.
    let mut stderr = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stderr.iter().any(|l: &String| l.contains("starting a new live tail session")) {
        assert!(Instant::now() < deadline, "no new session: {stderr:?}");
        assert!(tail.try_wait().unwrap().is_none(), "tail ended: {stderr:?}");
        if let Ok(l) = err_rx.recv_timeout(Duration::from_millis(100)) {
            stderr.push(l);
        }
    }
    put_until_printed("after", 1);
    signal(&tail, "-INT");
    assert!(tail.wait().unwrap().success());
    stderr.extend(err_rx.try_iter());
    let stderr = stderr.join("\n");
    assert!(
        stderr
            .contains("(sampled: more events matched than one update holds; showing 500 of them)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "live tail session ended by the server: SessionTimeoutException: live tail session "
        ) && stderr.contains("reached the maximum session duration of 3s"),
        "{stderr}"
    );
    signal(&server, "-TERM");
    assert!(server.wait().unwrap().success());
}

/// The child's stdout lines, read on a thread so a test can wait for them with a timeout.
fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
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

/// Counts events of g/s over the API until `want` or a timeout.
fn wait_for(server: &TestServer, want: usize) -> Vec<String> {
    wait_for_within(server, want, Duration::from_secs(30))
}

fn wait_for_within(server: &TestServer, want: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    rt().block_on(async {
        let mut c = server.client().await;
        loop {
            let exists = c
                .describe_log_streams(pb::DescribeLogStreamsRequest {
                    log_group_name: "g".into(),
                    ..Default::default()
                })
                .await
                .is_ok_and(|r| !r.into_inner().log_streams.is_empty());
            if !exists {
                assert!(Instant::now() < deadline, "the stream was never created");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let got: Vec<String> =
                read_all(&mut c, "g", "s").await.into_iter().map(|e| e.message).collect();
            if got.len() >= want || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[test]
fn ingest_follow_restarts_neither_lose_nor_repeat_lines() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&file).unwrap();
    let write = |f: &mut std::fs::File, range: std::ops::Range<usize>| {
        let text: String = range.map(|i| format!("line {i:05}\n")).collect();
        f.write_all(text.as_bytes()).unwrap();
        f.flush().unwrap();
    };
    let follow = || {
        Command::new(env!("CARGO_BIN_EXE_logsight"))
            .args([
                "ingest",
                "--follow",
                "--create",
                "--group",
                "g",
                "--stream",
                "s",
                "--endpoint",
                &server.endpoint,
            ])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // 1. 15,000 lines (more than one batch), stopped with Ctrl-C, plus a half-written line.
    write(&mut f, 0..15_000);
    f.write_all(b"line 15").unwrap();
    f.flush().unwrap();
    let mut child = follow();
    assert_eq!(wait_for(&server, 15_000).len(), 15_000);
    signal(&child, "-INT");
    assert!(child.wait().unwrap().success());
    // 2. The line is finished and more arrive while it is down; restart, then kill -9 once idle.
    f.write_all(b"000\n").unwrap();
    write(&mut f, 15_001..16_000);
    let mut child = follow();
    assert_eq!(wait_for(&server, 16_000).len(), 16_000);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    // 3. More lines, restart, stop.
    write(&mut f, 16_000..16_500);
    let mut child = follow();
    let got = wait_for(&server, 16_500);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "-INT");
    assert!(child.wait().unwrap().success());
    let got_after = wait_for_within(&server, 16_501, Duration::from_millis(500));
    assert_eq!(got.len(), got_after.len(), "nothing more after stopping");
    let mut sorted = got.clone();
    sorted.sort();
    let want: Vec<String> = (0..16_500).map(|i| format!("line {i:05}")).collect();
    assert_eq!(sorted, want, "every line exactly once");
    let state = std::fs::read_to_string(dir.path().join("app.log.logsight-offset")).unwrap();
    assert!(
        state.contains(&format!("\"offset\":{}", std::fs::metadata(&file).unwrap().len())),
        "{state}"
    );
}

/// Starts `ingest --follow` of `file` into g/s, its stdout piped.
fn spawn_follow(endpoint: &str, file: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(["ingest", "--follow", "--create", "--group", "g", "--stream", "s"])
        .args(["--endpoint", endpoint])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Stops a follow client with Ctrl-C; returns its summary.
fn interrupt(child: Child) -> String {
    signal(&child, "-INT");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn lines(range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("line {i:05}\n")).collect()
}

fn assert_each_once(got: &[String], n: usize) {
    let mut sorted = got.to_vec();
    sorted.sort();
    let want: Vec<String> = (0..n).map(|i| format!("line {i:05}")).collect();
    assert_eq!(sorted.len(), want.len(), "events stored");
    assert_eq!(sorted, want, "every line exactly once");
}

#[test]
fn ingest_follow_resends_after_a_lost_state_save_are_skipped() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let state_path = dir.path().join("app.log.logsight-offset");
    std::fs::write(&file, lines(0..15_000)).unwrap();
    let child = spawn_follow(&server.endpoint, &file);
    assert_eq!(wait_for(&server, 15_000).len(), 15_000);
    std::thread::sleep(Duration::from_millis(300));
    let summary = interrupt(child);
    assert_eq!(duplicates_in(&summary), 0, "{summary}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let producer = state["producer_id"].as_str().unwrap().to_owned();
    let len = std::fs::metadata(&file).unwrap().len();
    assert_eq!(state["offset"], len);
    // 1. Killed after the last group (cut at the end of the file) was acknowledged but before
    //    the state said so: the first 10,000 lines were the group before. The file grows
    //    meanwhile.
    let mut lost = state.clone();
    lost["offset"] = (10_000 * 11).into();
    lost["sending"] = len.into();
    std::fs::write(&state_path, lost.to_string()).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
    f.write_all(lines(15_000..15_500).as_bytes()).unwrap();
    let child = spawn_follow(&server.endpoint, &file);
    let got = wait_for(&server, 15_500);
    std::thread::sleep(Duration::from_millis(300));
    let summary = interrupt(child);
    assert_eq!(duplicates_in(&summary), 1, "{summary}");
    assert_each_once(&wait_for_within(&server, 15_501, Duration::from_millis(300)), 15_500);
    assert_eq!(got.len(), 15_500);
    // 2. A state file set back to the start with the same producer: everything is resent
    //    and recognised.
    let back = serde_json::json!({
        "file": file.to_str().unwrap(), "offset": 0, "producer_id": producer,
    });
    std::fs::write(&state_path, back.to_string()).unwrap();
    let child = spawn_follow(&server.endpoint, &file);
    let deadline = Instant::now() + Duration::from_secs(30);
    let want = format!("\"offset\":{}", std::fs::metadata(&file).unwrap().len());
    while !std::fs::read_to_string(&state_path).unwrap().contains(&want) {
        assert!(Instant::now() < deadline, "the client never caught up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let summary = interrupt(child);
    assert!(duplicates_in(&summary) > 0, "{summary}");
    assert_each_once(&wait_for_within(&server, 15_501, Duration::from_millis(300)), 15_500);
}

#[test]
fn ingest_follow_killed_at_random_moments_stores_every_line_once() {
    use rand::Rng;
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.log");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&file).unwrap();
    let mut rng = rand::rng();
    let mut written = 0;
    for _ in 0..12 {
        let mut child = spawn_follow(&server.endpoint, &file);
        let until = Instant::now() + Duration::from_millis(rng.random_range(30..400));
        while Instant::now() < until {
            let n = rng.random_range(1..400);
            f.write_all(lines(written..written + n).as_bytes()).unwrap();
            written += n;
            std::thread::sleep(Duration::from_millis(rng.random_range(0..30)));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let child = spawn_follow(&server.endpoint, &file);
    let got = wait_for(&server, written);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(child);
    assert_each_once(&got, written);
    assert_each_once(&wait_for_within(&server, written + 1, Duration::from_millis(300)), written);
}

#[test]
fn kill_9_under_concurrent_ingest_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, ep) = spawn_server(&data);
    let acked: Vec<Vec<String>> = rt().block_on(async {
        let mut c = logsight_proto::v1::logs_client::LogsClient::connect(ep.clone()).await.unwrap();
        create(&mut c, "g", &["s0", "s1", "s2", "s3"]).await;
        let clients = (0..4).map(|k| {
            let mut c = c.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for b in 0.. {
                    let msgs: Vec<String> = (0..500).map(|i| format!("c{k}-b{b}-{i}")).collect();
                    let r = c
                        .put_log_events(pb::PutLogEventsRequest {
                            log_group_name: "g".into(),
                            log_stream_name: format!("s{k}"),
                            log_events: msgs
                                .iter()
                                .map(|m| pb::InputLogEvent {
                                    timestamp: now_ms(),
                                    message: m.clone(),
                                })
                                .collect(),
                            sequence_token: None,
                        })
                        .await;
                    match r {
                        Ok(_) => acked.extend(msgs),
                        Err(_) => return acked,
                    }
                }
                acked
            })
        });
        let handles: Vec<_> = clients.collect();
        tokio::time::sleep(Duration::from_millis(800)).await;
        server.kill().unwrap(); // SIGKILL
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    server.wait().unwrap();
    assert!(
        acked.iter().all(|a| !a.is_empty()),
        "every client got acknowledgements before the kill"
    );
    let (mut server, ep) = spawn_server(&data);
    rt().block_on(async {
        let mut c = logsight_proto::v1::logs_client::LogsClient::connect(ep).await.unwrap();
        for (k, acked) in acked.iter().enumerate() {
            let stored: Vec<String> = read_all(&mut c, "g", &format!("s{k}"))
                .await
                .into_iter()
                .map(|e| e.message)
                .collect();
            let unique: HashSet<&String> = stored.iter().collect();
            assert_eq!(unique.len(), stored.len(), "no event is stored twice");
            for m in acked {
                assert!(unique.contains(m), "acknowledged event {m} is lost");
            }
        }
    });
    signal(&server, "-TERM");
    server.wait().unwrap();
}

/// The count on the summary's "N batch(es) already stored, skipped" line (exactly one).
fn duplicates_in(summary: &str) -> u64 {
    let counts: Vec<u64> = summary
        .lines()
        .filter_map(|l| {
            let l = l.trim().strip_suffix(" already stored, skipped")?;
            l.strip_suffix(" batches").or_else(|| l.strip_suffix(" batch"))
        })
        .map(|n| n.parse().expect("a count"))
        .collect();
    assert_eq!(counts.len(), 1, "one duplicates line in {summary:?}");
    counts[0]
}
