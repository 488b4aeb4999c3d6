//! Helpers shared by the integration tests.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs the `logsight` binary with `args`, feeding `stdin`.
pub fn logsight(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsight"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the logsight binary runs");
    child.stdin.take().expect("piped").write_all(stdin).expect("stdin accepted");
    child.wait_with_output().expect("logsight finishes")
}

/// Like [`logsight`], asserting success and returning stdout.
pub fn logsight_ok(args: &[&str], stdin: &[u8]) -> String {
    let out = logsight(args, stdin);
    assert!(
        out.status.success(),
        "logsight {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The Loghub samples shipped beside the repository.
pub fn loghub_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets/loghub"))
}
