//! `logsight test-pattern` end to end: JSON lines out, caret errors with status 2.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(pattern: &str, stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(["test-pattern", "--pattern", pattern, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("logsight runs");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("logsight exits");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

#[test]
fn prints_matches_with_extracted_values() {
    let input =
        "INFO 09/25/2014 12:00:00 GET /x 1200\nERROR 09/25/2014 12:00:02 Failed \"to\" process\r\n";
    let (code, out, _) = run("[w1=ERROR, w2]", input);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "{\"eventNumber\":2,\"eventMessage\":\"ERROR 09/25/2014 12:00:02 Failed \\\"to\\\" process\",\
         \"extractedValues\":{\"$w1\":\"ERROR\",\"$w2\":\"09/25/2014 12:00:02 Failed \\\"to\\\" process\"}}\n"
    );
    let (_, out, _) = run("{ $.latency > 100 }", "{\"latency\":50}\n{\"latency\":150}\n");
    assert_eq!(
        out,
        "{\"eventNumber\":2,\"eventMessage\":\"{\\\"latency\\\":150}\",\"extractedValues\":{\"$.latency\":\"150\"}}\n"
    );
}

#[test]
fn bad_pattern_exits_2_with_a_caret() {
    let (code, out, err) = run("{ $.a IS NOT NULL }", "");
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("  { $.a IS NOT NULL }\n           ^"), "{err}");
}
