//! Input line formats shared by `import` and `ingest`: text (one event per line) and JSON
//! lines with optional `group`/`stream` keys that override the command's flags.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use logsight_model::{LogEvent, LogGroupName, LogStreamName};
use serde::Deserialize;

/// The input flags of `import` and `ingest`: where lines come from and how they map to events.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Log group for the events (jsonl lines may override it with a "group" key).
    #[arg(long)]
    pub group: Option<String>,
    /// Log stream for the events (jsonl lines may override it with a "stream" key).
    /// Default: the file's name, or "stdin".
    #[arg(long)]
    pub stream: Option<String>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Timestamp of text events: RFC 3339, epoch ms, or relative (-15m, -2h, -7d, now).
    /// Default: when the line is read.
    #[arg(long, value_parser = crate::common::parse_time_arg)]
    pub timestamp: Option<i64>,
    /// Input files; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<String>,
}

impl InputArgs {
    /// Checks the flags before any input is read: a group for text input, valid names.
    pub fn validate(&self) -> Result<()> {
        if self.format == Format::Text && self.group.is_none() {
            bail!("--group is required for text input");
        }
        if let Some(g) = &self.group {
            LogGroupName::new(g.as_str())?;
        }
        if let Some(s) = &self.stream {
            LogStreamName::new(s.as_str())?;
        }
        Ok(())
    }

    /// Reads every line of `inputs` and parses it with these flags (text events stamped
    /// `text_ts`, every event `ingestion`), calling `f` with the input's label, the 1-based
    /// line number and the outcome of [`parse_line`].
    pub fn for_each_event(
        &self,
        inputs: &mut [Input],
        text_ts: i64,
        ingestion: i64,
        mut f: impl FnMut(&str, u64, ParsedLine) -> Result<()>,
    ) -> Result<()> {
        for input in inputs {
            let stream = self.stream.clone().unwrap_or_else(|| input.name.clone());
            let label = input.label.clone();
            for_each_line(input, |lineno, line| {
                let parsed = parse_line(
                    line,
                    self.format,
                    self.group.as_deref(),
                    &stream,
                    text_ts,
                    ingestion,
                );
                f(&label, lineno, parsed)
            })?;
        }
        Ok(())
    }
}

/// What one input line holds: (group, stream, event), nothing (a blank trailing line), or why
/// it is malformed.
pub type ParsedLine = Result<Option<(String, String, LogEvent)>, String>;

/// Input line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One event per line; the whole line is the message.
    Text,
    /// One JSON object per line: {"timestamp": <epoch ms>, "message": "...", "group"?, "stream"?}.
    Jsonl,
}

#[derive(Deserialize)]
struct JsonLine {
    timestamp: i64,
    message: String,
    group: Option<String>,
    stream: Option<String>,
}

/// One input: a file, or standard input (read into memory when it must be read twice).
pub struct Input {
    /// Where lines come from, for messages.
    pub label: String,
    /// The default stream name: the file's name, or "stdin".
    pub name: String,
    reader: Box<dyn BufRead>,
}

/// The stream a file's events go to when `--stream` is not given: the file's name.
pub fn default_stream_name(file: &str) -> String {
    Path::new(file).file_name().map_or(file.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Opens the inputs; `rereadable` keeps stdin in memory so it can be read twice.
pub fn open_inputs(files: &[String], rereadable: bool) -> Result<Vec<Input>> {
    static STDIN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    files
        .iter()
        .map(|file| {
            let (reader, name): (Box<dyn BufRead>, String) = if file == "-" {
                if rereadable {
                    let data = match STDIN.get() {
                        Some(d) => d,
                        None => {
                            let mut buf = Vec::new();
                            std::io::stdin().read_to_end(&mut buf).context("reading stdin")?;
                            STDIN.get_or_init(|| buf)
                        }
                    };
                    (Box::new(&data[..]), "stdin".into())
                } else {
                    (Box::new(BufReader::new(std::io::stdin())), "stdin".into())
                }
            } else {
                let f = File::open(file).with_context(|| format!("opening {file}"))?;
                (Box::new(BufReader::with_capacity(1 << 20, f)), default_stream_name(file))
            };
            let label = if file == "-" { "stdin".to_owned() } else { file.clone() };
            Ok(Input { label, name, reader })
        })
        .collect()
}

/// Calls `f` with each line (1-based number, bytes including the newline).
fn for_each_line(input: &mut Input, mut f: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let mut line = Vec::new();
    let mut lineno = 0u64;
    loop {
        line.clear();
        let n = input
            .reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", input.label))?;
        if n == 0 {
            return Ok(());
        }
        lineno += 1;
        f(lineno, &line)?;
    }
}

/// Parses one input line into (group, stream, event); `Ok(None)` for a blank trailing line.
pub fn parse_line(
    raw: &[u8],
    format: Format,
    default_group: Option<&str>,
    default_stream: &str,
    text_ts: i64,
    ingestion: i64,
) -> ParsedLine {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let text = std::str::from_utf8(raw).map_err(|e| format!("not valid UTF-8 ({e})"))?;
    match format {
        Format::Text => {
            if text.is_empty() {
                return Err("empty line (an event needs a message of at least 1 byte)".into());
            }
            let group =
                default_group.ok_or("no log group: --group is required for text input")?.to_owned();
            let event = LogEvent::new(text_ts, ingestion, text).map_err(|e| e.to_string())?;
            Ok(Some((group, default_stream.to_owned(), event)))
        }
        Format::Jsonl => {
            if text.trim().is_empty() {
                return Ok(None);
            }
            let j: JsonLine =
                serde_json::from_str(text).map_err(|e| format!("invalid JSON line: {e}"))?;
            let group = j
                .group
                .or_else(|| default_group.map(str::to_owned))
                .ok_or("no log group: the line has no \"group\" key and --group was not given")?;
            let stream = j.stream.unwrap_or_else(|| default_stream.to_owned());
            LogGroupName::new(group.as_str()).map_err(|e| e.to_string())?;
            LogStreamName::new(stream.as_str()).map_err(|e| e.to_string())?;
            let event =
                LogEvent::new(j.timestamp, ingestion, j.message).map_err(|e| e.to_string())?;
            Ok(Some((group, stream, event)))
        }
    }
}
