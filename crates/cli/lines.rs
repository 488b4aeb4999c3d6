//! Input line formats shared by `import` and `ingest`: text (one event per line) and JSON
//! lines with optional `group`/`stream` keys that override the command's flags.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use logsight_model::{LogEvent, LogGroupName, LogStreamName, TimestampFormat};
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
    /// Timestamp of text events: a duration ago (15m, 2d), a date (2026-11-26,
    /// "2026-11-26 08:00", UTC), RFC 3339, epoch ms, or now. Default: when the line is read.
    #[arg(long, value_parser = crate::common::parse_time_arg, allow_hyphen_values = true)]
    pub timestamp: Option<i64>,
    /// Read each text line's timestamp from the line itself, like the CloudWatch agent's
    /// datetime_format: a preset (rfc3339, syslog, clf, apache-error, epoch-ms, epoch) or a
    /// strftime format ("%Y-%m-%d %H:%M:%S", "%d/%b/%Y:%H:%M:%S %z"); UTC unless it has %z.
    /// A line without one (a stack trace's continuation) takes the previous line's time.
    #[arg(long, value_parser = parse_timestamp_format)]
    pub timestamp_format: Option<TimestampFormat>,
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
        if self.format == Format::Jsonl && self.timestamp_format.is_some() {
            bail!("--timestamp-format is for text input: jsonl lines carry their own timestamp");
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
    /// `text_ts`, every event `ingestion`), calling `f` with where the line is and the outcome
    /// of [`parse_line`].
    pub fn for_each_event(
        &self,
        inputs: &mut [Input],
        text_ts: i64,
        ingestion: i64,
        mut f: impl FnMut(&LineAt<'_>, ParsedLine) -> Result<()>,
    ) -> Result<()> {
        let mut bytes_done = 0;
        let mut clock = self.clock();
        for input in inputs {
            let stream = self.stream.clone().unwrap_or_else(|| input.name.clone());
            let label = input.label.clone();
            for_each_line(input, |lineno, line| {
                bytes_done += line.len() as u64;
                let stamp = clock.stamp(line, text_ts, ingestion);
                let parsed = parse_line(
                    line,
                    self.format,
                    self.group.as_deref(),
                    &stream,
                    stamp.ms,
                    ingestion,
                );
                f(&LineAt { label: &label, lineno, bytes_done, undated: stamp.undated }, parsed)
            })?;
        }
        Ok(())
    }

    /// The clock that stamps text lines with these flags.
    pub fn clock(&self) -> LineClock {
        LineClock { format: self.timestamp_format.clone(), last: None }
    }
}

fn parse_timestamp_format(s: &str) -> Result<TimestampFormat, String> {
    TimestampFormat::new(s).map_err(|e| e.to_string())
}

/// Stamps text lines: with the time written in them (`--timestamp-format`), else the last
/// time found (a continuation line), else a fallback.
pub struct LineClock {
    format: Option<TimestampFormat>,
    last: Option<i64>,
}

/// A text line's timestamp.
pub struct Stamp {
    /// Epoch milliseconds.
    pub ms: i64,
    /// A `--timestamp-format` was given but found no time in the line.
    pub undated: bool,
}

impl LineClock {
    /// The timestamp of `line`; `fallback` when there is no format or nothing found yet, and
    /// `now` for formats without a year.
    pub fn stamp(&mut self, line: &[u8], fallback: i64, now: i64) -> Stamp {
        let Some(format) = &self.format else { return Stamp { ms: fallback, undated: false } };
        let found = format.find(&String::from_utf8_lossy(line), now);
        if found.is_some() {
            self.last = found;
        }
        Stamp { ms: found.or(self.last).unwrap_or(fallback), undated: found.is_none() }
    }
}

/// Where a line was read.
pub struct LineAt<'a> {
    /// The input's label (a file name, or "stdin").
    pub label: &'a str,
    /// The line's number in its input, from 1.
    pub lineno: u64,
    /// Bytes read so far from all inputs, this line included.
    pub bytes_done: u64,
    /// A `--timestamp-format` found no time in the line (it took the previous line's).
    pub undated: bool,
}

/// One input line read as an event.
#[derive(Debug)]
pub struct ParsedEvent {
    /// The log group.
    pub group: String,
    /// The log stream.
    pub stream: String,
    /// The event.
    pub event: LogEvent,
    /// Whether bytes that are not UTF-8 were replaced with U+FFFD to keep the line.
    pub replaced_invalid_utf8: bool,
}

/// What one input line holds: an event, nothing (a blank line), or why it is malformed.
pub type ParsedLine = Result<Option<ParsedEvent>, String>;

/// How much of an input is looked at to tell a binary file, as `grep` does: a NUL byte there.
const BINARY_SNIFF_BYTES: usize = 8 << 10;

/// Whether `head` (the start of an input) looks like a binary file rather than text lines.
pub fn looks_binary(head: &[u8]) -> bool {
    head[..head.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// Input line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One event per line; the whole line is the message.
    Text,
    /// One JSON object per line: {"timestamp": <epoch ms or RFC 3339>, "message": "...",
    /// "group"?, "stream"?}.
    Jsonl,
}

/// A jsonl timestamp: epoch milliseconds, or an RFC 3339 string.
#[derive(Deserialize)]
#[serde(untagged)]
enum JsonTime {
    Millis(i64),
    Text(String),
}

#[derive(Deserialize)]
struct JsonLine {
    timestamp: JsonTime,
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
    /// The size in bytes, when known (a file, or stdin kept in memory).
    pub size: Option<u64>,
    reader: Box<dyn BufRead>,
}

/// The inputs' total size in bytes, if every one's is known (for a progress bar).
pub fn total_size(inputs: &[Input]) -> Option<u64> {
    inputs.iter().map(|i| i.size).sum()
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
            let (reader, name, size): (Box<dyn BufRead>, String, Option<u64>) = if file == "-" {
                if rereadable {
                    let data = match STDIN.get() {
                        Some(d) => d,
                        None => {
                            let mut buf = Vec::new();
                            std::io::stdin().read_to_end(&mut buf).context("reading stdin")?;
                            STDIN.get_or_init(|| buf)
                        }
                    };
                    (Box::new(&data[..]), "stdin".into(), Some(data.len() as u64))
                } else {
                    (Box::new(BufReader::new(std::io::stdin())), "stdin".into(), None)
                }
            } else {
                let f = File::open(file).with_context(|| format!("opening {file}"))?;
                let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
                (Box::new(BufReader::with_capacity(1 << 20, f)), default_stream_name(file), size)
            };
            let label = if file == "-" { "stdin".to_owned() } else { file.clone() };
            let mut reader = reader;
            let head = reader.fill_buf().with_context(|| format!("reading {label}"))?;
            if looks_binary(head) {
                bail!("{label} looks like a binary file (it holds NUL bytes): not reading it");
            }
            Ok(Input { label, name, size, reader })
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

/// Parses one input line into an event; `Ok(None)` for an empty line (a text event needs a
/// message, and a jsonl blank line holds none). Bytes that are not UTF-8 are replaced with
/// U+FFFD rather than dropping the line.
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
    let text = String::from_utf8_lossy(raw);
    let replaced_invalid_utf8 = matches!(text, std::borrow::Cow::Owned(_));
    match format {
        Format::Text => {
            if text.is_empty() {
                return Ok(None);
            }
            let group =
                default_group.ok_or("no log group: --group is required for text input")?.to_owned();
            let event =
                LogEvent::new(text_ts, ingestion, text.into_owned()).map_err(|e| e.to_string())?;
            Ok(Some(ParsedEvent {
                group,
                stream: default_stream.to_owned(),
                event,
                replaced_invalid_utf8,
            }))
        }
        Format::Jsonl => {
            if text.trim().is_empty() {
                return Ok(None);
            }
            let j: JsonLine =
                serde_json::from_str(&text).map_err(|e| format!("invalid JSON line: {e}"))?;
            let group = j
                .group
                .or_else(|| default_group.map(str::to_owned))
                .ok_or("no log group: the line has no \"group\" key and --group was not given")?;
            let stream = j.stream.unwrap_or_else(|| default_stream.to_owned());
            LogGroupName::new(group.as_str()).map_err(|e| e.to_string())?;
            LogStreamName::new(stream.as_str()).map_err(|e| e.to_string())?;
            let timestamp = match j.timestamp {
                JsonTime::Millis(ms) => ms,
                JsonTime::Text(t) => {
                    logsight_model::parse_rfc3339(&t).map_err(|e| e.to_string())?
                }
            };
            let event =
                LogEvent::new(timestamp, ingestion, j.message).map_err(|e| e.to_string())?;
            Ok(Some(ParsedEvent { group, stream, event, replaced_invalid_utf8 }))
        }
    }
}
