//! Printing events to stdout in the formats every event command shares, buffered, with a
//! closed pipe reported as an error that `main` turns into a quiet exit.

use std::io::{BufWriter, Stdout, Write};

use serde_json::json;

use crate::client::{EventFormat, fmt_ts};

/// One event as the commands print it; `group` and `stream` when the command knows them.
pub struct Event<'a> {
    pub group: Option<&'a str>,
    pub stream: Option<&'a str>,
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub message: &'a str,
}

/// Writes events to stdout in one format; [`EventPrinter::flush`] after each page or update.
pub struct EventPrinter {
    format: EventFormat,
    out: BufWriter<Stdout>,
}

impl EventPrinter {
    /// A printer in `format`.
    pub fn new(format: EventFormat) -> Self {
        Self { format, out: BufWriter::with_capacity(1 << 16, std::io::stdout()) }
    }

    /// Writes one event.
    pub fn print(&mut self, e: &Event<'_>) -> std::io::Result<()> {
        match self.format {
            EventFormat::Raw => writeln!(self.out, "{}", e.message),
            EventFormat::Short => writeln!(self.out, "{}  {}", fmt_ts(e.timestamp), e.message),
            EventFormat::Detailed => {
                let source = match (e.group, e.stream) {
                    (Some(g), Some(s)) => format!("{g}/{s}  "),
                    (None, Some(s)) => format!("{s}  "),
                    (Some(g), None) => format!("{g}  "),
                    (None, None) => String::new(),
                };
                writeln!(self.out, "{}  {source}{}", fmt_ts(e.timestamp), e.message)
            }
            EventFormat::Json => {
                let mut v = json!({"timestamp": e.timestamp, "ingestion_time": e.ingestion_time,
                                   "message": e.message});
                if let Some(g) = e.group {
                    v["group"] = json!(g);
                }
                if let Some(s) = e.stream {
                    v["stream"] = json!(s);
                }
                writeln!(self.out, "{v}")
            }
        }
    }

    /// Sends what is buffered to stdout.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A progress display on stderr when it is a terminal: a bar with percentage and ETA when the
/// input's size is known, else a spinner. `None` when stderr is not a terminal.
pub fn progress(total_bytes: Option<u64>) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = match total_bytes {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {percent:>3}%  {bytes}/{total_bytes}  {bytes_per_sec}  ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        ),
        None => indicatif::ProgressBar::new_spinner(),
    };
    // Cleared however the command ends, so no stale bar is left on the terminal.
    let bar = bar.with_finish(indicatif::ProgressFinish::AndClear);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

/// A spinner on stderr for a long read whose output goes elsewhere (stdout piped to a file):
/// `None` when stdout is the terminal, where it would be drawn over the events.
pub fn read_spinner() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() { None } else { progress(None) }
}
