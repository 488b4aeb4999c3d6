//! `logsight query --check`: canonical form and exit 0, or a rendered error and exit 2.

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
fn running_a_query_needs_the_engine() {
    let out = logsight_query(&["fields @message"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs the query engine"));
}
