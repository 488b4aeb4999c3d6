//! `logsight repl` driven through a pseudo-terminal against the real server: tables with the
//! right numbers, history across sessions, Tab completion, Ctrl-C stopping a query, carets
//! under malformed queries; and piped stdin printing JSON.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expectrl::Expect;
use logsight_proto::v1 as pb;

use crate::support::{TestServer, create, now_ms};

/// How long any expected output may take to appear (generous: the machine is shared).
const PATIENCE: Duration = Duration::from_secs(120);

/// The REPL in a pseudo-terminal, with everything it printed so far.
struct Repl {
    session: expectrl::session::OsSession,
    raw: Vec<u8>,
    /// Cursor-position queries answered so far.
    answered: usize,
    /// Output before this byte of the stripped text was already matched.
    seen: usize,
}

impl Repl {
    fn spawn(server: &TestServer, history: &Path, extra: &[&str]) -> Repl {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_logsight"));
        cmd.args(["repl", "--endpoint", &server.endpoint, "--history"])
            .arg(history)
            .args(extra)
            .env("TERM", "xterm-256color")
            .env_remove("LOGSIGHT_ENDPOINT");
        let mut session = expectrl::Session::spawn(cmd).expect("spawn the REPL in a pty");
        session.get_process_mut().set_window_size(160, 50).unwrap();
        let mut repl = Repl { session, raw: Vec::new(), answered: 0, seen: 0 };
        repl.wait_for("logsight> ");
        repl
    }

    /// Reads what is there; answers the editor's cursor-position queries as a terminal would.
    fn pump(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        let got = match self.session.try_read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return false,
        };
        self.raw.extend_from_slice(&buf[..got]);
        let asked = self.raw.windows(4).filter(|w| w == b"\x1b[6n").count();
        while self.answered < asked {
            self.session.send("\x1b[1;1R").unwrap();
            self.answered += 1;
        }
        true
    }

    /// The output so far without escape sequences and carriage returns.
    fn text(&self) -> String {
        strip_ansi(&String::from_utf8_lossy(&self.raw))
    }

    /// Waits until `needle` appears in output not matched before; returns that output (up to
    /// and including the needle). Panics with the output after `PATIENCE`.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text();
            if let Some(at) = text[self.seen.min(text.len())..].find(needle) {
                let end = self.seen + at + needle.len();
                let out = text[self.seen..end].to_string();
                self.seen = end;
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {PATIENCE:?}; output:\n{text}"
            );
            if !self.pump() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn send(&mut self, keys: &str) {
        self.session.send(keys).unwrap();
    }

    /// Types a line and presses Enter.
    fn line(&mut self, text: &str) {
        self.send(text);
        self.send("\r");
    }

    /// `.quit`, then waits for the process to end.
    fn quit(mut self) {
        self.line(".quit");
        let deadline = Instant::now() + PATIENCE;
        while self.session.get_process().is_alive().unwrap_or(false) {
            assert!(Instant::now() < deadline, "the REPL did not exit:\n{}", self.text());
            self.pump();
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Drops CSI (`ESC [ ... final`), OSC (`ESC ] ... BEL`) and other two-byte escapes, and `\r`.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&n) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(n) = chars.next() {
                        if n == '\x07' || (n == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The cells of the table rows in `text` (lines with `┆`), trimmed, the row number first.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.contains('┆') && !l.contains('╞'))
        .map(|l| l.trim().trim_matches('│').split('┆').map(|c| c.trim().to_string()).collect())
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// One generated request log: status 500 when i % 7 == 0 (else 200), duration i % 41 ms.
struct Ev {
    ts: i64,
    status: u32,
    duration: u64,
    message: String,
}

/// `n` events, one every `step_ms` from `base`.
fn events(n: usize, base: i64, step_ms: i64) -> Vec<Ev> {
    (0..n)
        .map(|i| {
            let status = if i % 7 == 0 { 500 } else { 200 };
            let duration = (i % 41) as u64;
            Ev {
                ts: base + i as i64 * step_ms,
                status,
                duration,
                message: format!(
                    r#"{{"status":{status},"duration_ms":{duration},"path":"/p{}","seq":{i}}}"#,
                    i % 5
                ),
            }
        })
        .collect()
}

fn ingest(server: &TestServer, group: &str, evs: &[Ev]) {
    rt().block_on(async {
        let mut c = server.client().await;
        create(&mut c, group, &["s"]).await;
        for chunk in evs.chunks(5_000) {
            c.put_log_events(pb::PutLogEventsRequest {
                log_group_name: group.into(),
                log_stream_name: "s".into(),
                log_events: chunk
                    .iter()
                    .map(|e| pb::InputLogEvent { timestamp: e.ts, message: e.message.clone() })
                    .collect(),
                sequence_token: None,
            })
            .await
            .unwrap();
        }
    });
}

/// A server with 700 events in group `web` over the last few minutes.
fn server_with_events() -> (TestServer, Vec<Ev>) {
    let server = TestServer::start();
    let evs = events(700, now_ms() - 300_000, 100);
    ingest(&server, "web", &evs);
    (server, evs)
}

#[test]
fn a_typed_query_shows_a_table_with_the_right_numbers() {
    let (server, evs) = server_with_events();
    let history = tempfile::tempdir().unwrap();
    let mut repl = Repl::spawn(&server, &history.path().join("h"), &["--group", "web"]);
    repl.line("stats count(*) as n, sum(duration_ms) as total by status");
    let out = repl.wait_for("rows;");
    for status in [200u32, 500] {
        let n = evs.iter().filter(|e| e.status == status).count();
        let total: u64 = evs.iter().filter(|e| e.status == status).map(|e| e.duration).sum();
        let row = table_rows(&out)
            .into_iter()
            .find(|r| r.get(1).map(String::as_str) == Some(&*status.to_string()))
            .unwrap_or_else(|| panic!("no row for status {status} in:\n{out}"));
        assert_eq!(row[2], n.to_string(), "count of {status} in:\n{out}");
        assert_eq!(row[3], total.to_string(), "sum of {status} in:\n{out}");
    }
    assert!(out.ends_with("2 rows;"), "{out}");
    let summary = repl.wait_for("\n");
    assert!(summary.starts_with(" 700 of 700 records matched"), "{summary:?}");
    // `by bin()` draws the count over time; .expand shows one row whole.
    repl.line("stats count(*) as n by bin(1m)");
    let out = repl.wait_for("rows;");
    assert!(out.contains("n over time (max "), "{out}");
    repl.line(".expand 1");
    repl.wait_for("bin(1m): ");
    let out = repl.wait_for("\n");
    assert!(out.trim().parse::<i64>().is_err() && out.len() > 20, "a time: {out}");
    let out = repl.wait_for("\n");
    let n = out.trim().strip_prefix("n: ").expect("the count");
    assert!(n.parse::<u64>().unwrap() > 0, "{out}");
    repl.quit();
}

#[test]
fn history_survives_a_restart_and_ctrl_r_finds_it() {
    let (server, _) = server_with_events();
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("nested/history");
    let mut repl = Repl::spawn(&server, &history, &["--group", "web"]);
    repl.line("stats count(*) as remembered_n");
    repl.wait_for("rows;");
    repl.line("fields @message | limit 1");
    repl.wait_for("rows;");
    repl.quit();
    assert!(std::fs::read_to_string(&history).unwrap().contains("remembered_n"));

    let mut repl = Repl::spawn(&server, &history, &["--group", "web"]);
    // Up recalls the newest line (`.quit`), twice the one before, and so on.
    repl.send("\x1b[A");
    repl.wait_for(".quit");
    repl.send("\x1b[A");
    repl.wait_for("limit 1");
    repl.send("\x1b[A");
    repl.wait_for("remembered_n");
    // Ctrl-R searches it.
    repl.send("\x03");
    repl.wait_for("logsight> ");
    repl.send("\x12");
    repl.send("remem");
    repl.wait_for("stats count(*) as remembered_n");
    repl.send("\r");
    repl.send("\r");
    let out = repl.wait_for("rows;");
    let rows = table_rows(&out);
    assert_eq!(rows.last().unwrap()[1], "700", "{out}");
    repl.quit();
}

#[test]
fn tab_completes_a_function_and_a_discovered_field() {
    let (server, evs) = server_with_events();
    let history = tempfile::tempdir().unwrap();
    let mut repl = Repl::spawn(&server, &history.path().join("h"), &["--group", "web"]);
    repl.send("stats count_dist\t");
    repl.wait_for("count_distinct(");
    // `duration_ms` is known only from the group's events (GetLogGroupFields).
    repl.send("dur\t");
    repl.wait_for("duration_ms");
    repl.line(") as d");
    let out = repl.wait_for("rows;");
    let distinct: std::collections::HashSet<u64> = evs.iter().map(|e| e.duration).collect();
    assert_eq!(table_rows(&out).last().unwrap()[1], distinct.len().to_string(), "{out}");
    repl.quit();
}

/// Slow enough to be stopped: a regex per event and an exact distinct count of every message.
const SLOW_QUERY: &str = "parse @message /\"path\":\"(?<p>[^\"]*)\"/ \
                          | stats count_distinct(@message) as d, count(*) as n by p, bin(1s)";

#[test]
fn ctrl_c_stops_the_query_and_the_prompt_returns() {
    // One query slot, taken by queries started first: the REPL's query waits behind them
    // (Scheduled), so it cannot finish before Ctrl-C however fast the machine is.
    let mut opts = logsight_server::ServerOptions::default();
    opts.queries.slots = 1;
    let server = TestServer::start_with(opts);
    let base = now_ms() - 600_000;
    let evs = events(150_000, base, 3);
    ingest(&server, "big", &evs);
    let blocker = format!("{SLOW_QUERY} | sort d desc");
    // Enough blockers to outlast a slow start of the REPL on a loaded machine (each takes
    // tens of milliseconds); they are stopped once the REPL's query is cancelled.
    let blockers: Vec<String> = rt().block_on(async {
        let mut c =
            logsight_proto::v1::queries_client::QueriesClient::connect(server.endpoint.clone())
                .await
                .unwrap();
        let mut ids = Vec::new();
        for _ in 0..500 {
            let r = c
                .start_query(pb::StartQueryRequest {
                    log_group_names: vec!["big".into()],
                    start_time: base / 1000 - 1,
                    end_time: now_ms() / 1000 + 1,
                    query_string: blocker.clone(),
                    limit: None,
                })
                .await
                .unwrap();
            ids.push(r.into_inner().query_id);
        }
        ids
    });
    let history = tempfile::tempdir().unwrap();
    let mut repl = Repl::spawn(&server, &history.path().join("h"), &["--group", "big"]);
    repl.line(SLOW_QUERY);
    // The spinner shows once Ctrl-C is listened for.
    repl.wait_for("running:");
    repl.send("\x03");
    repl.wait_for("query cancelled");
    repl.wait_for("logsight> ");
    // The server stopped the query (StopQuery) rather than finishing it unseen. Its status is
    // final by the time the REPL says so; polled in case the stop went by the closed stream.
    let statuses = rt().block_on(async {
        let mut c =
            logsight_proto::v1::queries_client::QueriesClient::connect(server.endpoint.clone())
                .await
                .unwrap();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let statuses: Vec<String> = c
                .describe_queries(pb::DescribeQueriesRequest::default())
                .await
                .unwrap()
                .into_inner()
                .queries
                .into_iter()
                .filter(|q| q.query_string == SLOW_QUERY)
                .map(|q| q.status)
                .collect();
            let ended = statuses.iter().all(|s| s != "Running" && s != "Scheduled");
            if ended || Instant::now() > deadline {
                return statuses;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    // Stopped, or never started when Ctrl-C beat the call to the server; never finished.
    assert!(statuses.is_empty() || statuses == ["Cancelled"], "{statuses:?}");
    // The blockers have done their part; the next query need not wait for them.
    rt().block_on(async {
        let mut c =
            logsight_proto::v1::queries_client::QueriesClient::connect(server.endpoint.clone())
                .await
                .unwrap();
        for id in blockers {
            // An ended blocker answers that it is not running: fine.
            let _ = c.stop_query(pb::StopQueryRequest { query_id: id }).await;
        }
    });
    // The session goes on.
    repl.line("stats count(*) as n");
    let out = repl.wait_for("rows;");
    assert_eq!(table_rows(&out).last().unwrap()[1], "150000", "{out}");
    repl.quit();
}

#[test]
fn a_session_idle_past_the_servers_keepalive_and_idle_timeout_goes_on() {
    // A person reads a table for minutes before the next query: the connection must answer
    // the server's pings meanwhile, and a connection the server closed as idle is replaced.
    let server = TestServer::start_with(logsight_server::ServerOptions {
        keepalive_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let evs = events(700, now_ms() - 300_000, 100);
    ingest(&server, "web", &evs);
    let history = tempfile::tempdir().unwrap();
    let mut repl = Repl::spawn(&server, &history.path().join("h"), &["--group", "web"]);
    repl.line("stats count(*) as n");
    let out = repl.wait_for("rows;");
    assert_eq!(table_rows(&out).last().unwrap()[1], "700", "{out}");
    std::thread::sleep(Duration::from_millis(1_500));
    repl.line("stats count(*) as again");
    let out = repl.wait_for("rows;");
    assert_eq!(table_rows(&out).last().unwrap()[1], "700", "{out}");
    repl.quit();
}

#[test]
fn a_malformed_query_shows_the_caret_and_the_session_goes_on() {
    let (server, _) = server_with_events();
    let history = tempfile::tempdir().unwrap();
    let mut repl = Repl::spawn(&server, &history.path().join("h"), &["--group", "web"]);
    repl.line("stats coutn(*) by status");
    let out = repl.wait_for("^^^^^");
    assert!(out.contains("unknown function `coutn`, did you mean `count`?"), "{out}");
    assert!(out.contains("1 | stats coutn(*) by status"), "{out}");
    repl.wait_for("logsight> ");
    repl.line("stats count(*) as n");
    let out = repl.wait_for("rows;");
    assert_eq!(table_rows(&out).last().unwrap()[1], "700", "{out}");
    // A meta command's mistake is reported the same way, without ending the session.
    repl.line(".range soon");
    repl.wait_for("error:");
    repl.line(".range 2m");
    repl.wait_for("Querying web over the last 2m.");
    repl.quit();
}

#[test]
fn piped_stdin_runs_each_query_and_prints_json() {
    let (server, evs) = server_with_events();
    let fails = evs.iter().filter(|e| e.status == 500).count();
    let input = "stats count(*) as n\n\
                 filter status = 500 |\n  stats count(*) as n\n\
                 stats coutn(*)\n\
                 .output csv\n\
                 stats count(*) as n\n";
    for command in ["repl", "query"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_logsight"))
            .args([command, "--endpoint", &server.endpoint, "--group", "web"])
            .env("LOGSIGHT_HISTORY", "/nonexistent/never-written")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // One malformed query: exit 2, the others still ran.
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("^^^^^"), "{stderr}");
        let (json, csv) = stdout.split_at(stdout.find("n\n").expect("the CSV header"));
        let values: Vec<serde_json::Value> = serde_json::Deserializer::from_str(json)
            .into_iter::<serde_json::Value>()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            values,
            vec![serde_json::json!([{"n": "700"}]), serde_json::json!([{"n": fails.to_string()}])],
            "{command}: {stdout}"
        );
        assert_eq!(csv, "n\n700\n", "{command}");
    }
}
