//! `logsight test-pattern`: CloudWatch's TestMetricFilter on the command line.
//!
//! Reads log events, one per line, and prints one JSON object per matching line:
//! `{"eventNumber":N,"eventMessage":"...","extractedValues":{"$name":"value",...}}`, with
//! `eventNumber` counting input lines from 1 and extracted values in pattern order. A pattern
//! that does not compile is reported with a caret under the offending character, exit status 2.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use logsight_query_lang::pattern::FilterPattern;

/// Tests a filter pattern against log lines, like CloudWatch's TestMetricFilter.
#[derive(Debug, clap::Args)]
pub struct TestPatternArgs {
    /// The filter pattern: terms, "quoted phrases", %regex%, { $.json = value } or
    /// [space, delimited, fields].
    #[arg(long, allow_hyphen_values = true)]
    pub pattern: String,
    /// File with one log event per line; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
}

/// Runs the command; exit status 2 if the pattern does not compile.
pub fn run(args: TestPatternArgs) -> anyhow::Result<ExitCode> {
    let pattern = match FilterPattern::compile(&args.pattern) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", e.render(&args.pattern));
            return Ok(ExitCode::from(2));
        }
    };
    let input: Box<dyn BufRead> = match &args.input {
        Some(path) if path.as_os_str() != "-" => Box::new(BufReader::new(
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
        _ => Box::new(io::stdin().lock()),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    match test_lines(&pattern, input, &mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`| head`) is a normal way to stop reading.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("cannot test the pattern"),
    }
}

/// Writes one JSON line per matching input line.
fn test_lines(
    pattern: &FilterPattern,
    mut input: impl BufRead,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut event_number: u64 = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        event_number += 1;
        let line = String::from_utf8_lossy(&buf);
        let message = line.trim_end_matches(['\n', '\r']);
        let Some(extracted) = pattern.extract(message) else { continue };
        write!(
            out,
            "{{\"eventNumber\":{event_number},\"eventMessage\":{},\"extractedValues\":{{",
            json(message)
        )?;
        for (i, (key, value)) in extracted.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(out, "{sep}{}:{}", json(key), json(value))?;
        }
        out.write_all(b"}}\n")?;
    }
}

/// A JSON string literal; object keys are written by hand to keep the pattern's order.
fn json(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
