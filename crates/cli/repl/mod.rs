//! `logsight repl`: an interactive Logs Insights console in the terminal (and `logsight query`
//! with no query text). One module per job:
//! - [`editor`]: the line editor (reedline): history file, highlighting, completion, the
//!   multi-line rule, the prompt;
//! - [`lang`]: what the editor knows of the query language (pure);
//! - [`meta`]: the `.` commands (pure);
//! - [`render`]: tables, `.expand`, charts and the histogram (pure);
//! - [`runner`]: where queries run: a server (RunQuery) or the engine in-process;
//! - this file: the session, its state and its two loops (a terminal, or queries piped in).

mod editor;
mod lang;
pub mod meta;
mod render;
mod runner;

use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use reedline::{EditCommand, Signal};

use crate::client::{DEFAULT_ENDPOINT, ENDPOINT_ENV};
use crate::cmd_query::{EXIT_MALFORMED, Output, Stats, print_csv, print_json};
use crate::common::{human_bytes, now_ms};
use lang::Vocabulary;
use meta::{Meta, Range};
use render::ResultSet;
use runner::{Failure, Request, Runner};

/// Open an interactive query console (or run queries read from stdin).
#[derive(Debug, clap::Args)]
pub struct ReplArgs {
    /// Query this server (http://HOST:PORT or HOST:PORT); the default unless --data-dir is
    /// given.
    #[arg(long, env = ENDPOINT_ENV)]
    pub endpoint: Option<String>,
    /// Query this data directory in-process (no server).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Log group to query (repeatable); `.groups` changes them.
    #[arg(long)]
    pub group: Vec<String>,
    /// The time range: a duration before each query (15m, 1h, 7d) or a start time; `.range`
    /// changes it.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// A range set by `logsight query --start/--end`, which wins over `since`.
    #[arg(skip)]
    pub fixed: Option<Range>,
    /// Output format; default `table` on a terminal, `json` when stdin is piped.
    #[arg(long, value_enum)]
    pub output: Option<Output>,
    /// The history file; default `repl_history` in the user's data directory
    /// (`~/.local/share/logsight` on Linux).
    #[arg(long, env = editor::HISTORY_ENV, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

pub use editor::HISTORY_ENV;

impl ReplArgs {
    /// The REPL that `logsight query` without a query opens, over the same source, groups,
    /// range and output.
    pub fn from_query(q: crate::cmd_query::QueryArgs) -> ReplArgs {
        let fixed = match (q.start, q.end) {
            (Some(s), Some(e)) => Some(Range::Between(s, e)),
            (Some(s), None) => Some(Range::Since(s)),
            (None, Some(e)) => Some(Range::Between(e - 3_600_000, e)),
            (None, None) => None,
        };
        ReplArgs {
            endpoint: q.endpoint,
            data_dir: q.data_dir,
            group: q.group,
            since: "1h".to_string(),
            fixed,
            output: q.output,
            history: q.history,
        }
    }
}

/// Runs `logsight repl`: interactive when stdin is a terminal, else each query read from
/// stdin in turn (exit 2 if one was malformed, 1 if one failed otherwise).
pub fn run(args: ReplArgs) -> Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    let runner = match &args.data_dir {
        Some(dir) => Runner::open(dir)?,
        None => Runner::connect(args.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT))?,
    };
    let range = match args.fixed {
        Some(r) => r,
        None => Range::parse(&[args.since.as_str()], now_ms()).context("reading --since")?,
    };
    let output = args.output.unwrap_or(if interactive { Output::Table } else { Output::Json });
    let mut session = Session {
        runner,
        groups: args.group,
        range,
        output,
        interactive,
        last: None,
        vocab: Arc::new(Mutex::new(Vocabulary::default())),
    };
    if interactive { session.interactive(args.history) } else { session.piped() }
}

/// The REPL's state between lines.
struct Session {
    runner: Runner,
    groups: Vec<String>,
    range: Range,
    output: Output,
    interactive: bool,
    /// The last query that ran and its rows (`.save`, `.expand`, `.export`).
    last: Option<(String, ResultSet)>,
    /// Names the completer offers; refreshed when the groups change.
    vocab: Arc<Mutex<Vocabulary>>,
}

/// What a line did.
enum Step {
    /// Ready for the next line.
    Next,
    /// Ready, with this text to edit (`.load`).
    Edit(String),
    /// `.quit`.
    Quit,
    /// The line failed: (malformed query?) — the session goes on, piped runs remember it.
    Failed { malformed: bool },
}

impl Session {
    fn interactive(&mut self, history: Option<PathBuf>) -> Result<ExitCode> {
        let mut editor = editor::build(editor::history_path(history)?, self.vocab.clone())?;
        let prompt = editor::QueryPrompt;
        println!(
            "logsight {}: Logs Insights queries; .help for commands, Ctrl-D to leave.",
            env!("CARGO_PKG_VERSION")
        );
        self.refresh_vocabulary();
        self.describe_scope();
        loop {
            let line = match editor.read_line(&prompt).context("reading the terminal")? {
                Signal::Success(line) => line,
                // Ctrl-C at the prompt drops the line, as shells do.
                Signal::CtrlC => continue,
                Signal::CtrlD => break,
                _ => continue,
            };
            // Saved at once, so a killed session keeps what it ran.
            let _ = editor.sync_history();
            match self.line(&line) {
                Step::Quit => break,
                Step::Edit(text) => editor.run_edit_commands(&[EditCommand::InsertString(text)]),
                Step::Next | Step::Failed { .. } => {}
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Each query on stdin in turn: a line ending in `|` continues on the next, as at the
    /// prompt; `.` commands apply as they come.
    fn piped(&mut self) -> Result<ExitCode> {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input).context("reading stdin")?;
        let (mut malformed, mut failed) = (false, false);
        let mut pending = String::new();
        let mut lines = input.lines().peekable();
        while let Some(line) = lines.next() {
            if !pending.is_empty() {
                pending.push('\n');
            }
            pending.push_str(line);
            if !lang::is_complete(&pending) && lines.peek().is_some() {
                continue;
            }
            let text = std::mem::take(&mut pending);
            if text.trim().is_empty() {
                continue;
            }
            match self.line(&text) {
                Step::Quit => break,
                Step::Edit(query) => {
                    if let Step::Failed { malformed: m } = self.query(&query) {
                        (malformed, failed) = (malformed || m, failed || !m);
                    }
                }
                Step::Failed { malformed: m } => {
                    (malformed, failed) = (malformed || m, failed || !m)
                }
                Step::Next => {}
            }
        }
        Ok(if malformed {
            ExitCode::from(EXIT_MALFORMED)
        } else if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }

    fn line(&mut self, line: &str) -> Step {
        let text = line.trim();
        if text.is_empty() {
            return Step::Next;
        }
        if meta::is_meta(text) {
            return match meta::parse(text, now_ms()).and_then(|m| self.meta(m)) {
                Ok(step) => step,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Step::Failed { malformed: false }
                }
            };
        }
        self.query(line)
    }

    fn request(&self, query: &str) -> Request {
        let (start_ms, end_ms) = self.range.resolve(now_ms());
        Request { query: query.to_string(), groups: self.groups.clone(), start_ms, end_ms }
    }

    fn query(&mut self, query: &str) -> Step {
        let req = self.request(query);
        // Shown from the first report on: by then Ctrl-C is listened for.
        let mut spinner: Option<indicatif::ProgressBar> = None;
        let interactive = self.interactive;
        let mut progress = |s: &Stats| {
            if interactive {
                let bar = spinner.get_or_insert_with(self::spinner);
                bar.set_message(format!("{} records scanned, {} matched", s.scanned, s.matched));
            }
        };
        let outcome = self.runner.run(&req, self.interactive, &mut progress);
        if let Some(bar) = spinner {
            bar.finish_and_clear();
        }
        let done = match outcome {
            Ok(done) => done,
            Err(f) => return report(f),
        };
        let chart = match self.output {
            Output::Table if self.interactive => self.chart(&req, &done.result),
            _ => None,
        };
        let printed = self.print(&done.result, chart.as_deref());
        let s = done.stats;
        eprintln!(
            "{} rows; {} of {} records matched; {} scanned in {} log groups; {:.3} s",
            done.result.rows.len(),
            s.matched,
            s.scanned,
            human_bytes(s.bytes),
            s.groups,
            done.elapsed.as_secs_f64()
        );
        self.last = Some((query.trim().to_string(), done.result));
        match printed {
            Ok(()) => Step::Next,
            Err(e) => report(Failure::Failed(e)),
        }
    }

    /// The chart above a table: the query's own `bin()` series, or a histogram of its matched
    /// events over the range (a second query, `stats count(*) by bin(..)` over the same range
    /// and groups). `None` when there is nothing to draw.
    fn chart(&mut self, req: &Request, result: &ResultSet) -> Option<String> {
        let (width, _) = terminal_size();
        if let Some(series) = render::bin_series(&req.query, result) {
            return Some(render::chart(&series, width, 6));
        }
        let (period_ms, period) =
            render::histogram_period(req.end_ms - req.start_ms, width as i64 - 12);
        let query = render::histogram_query(&req.query, period)?;
        let histogram = Request { query, ..req.clone() };
        let done = self.runner.run(&histogram, true, &mut |_| {}).ok()?;
        let series = render::histogram_series(&done.result, req.start_ms, req.end_ms, period_ms)?;
        (series.values.iter().sum::<f64>() > 0.0).then(|| render::chart(&series, width, 4))
    }

    fn print(&self, result: &ResultSet, chart: Option<&str>) -> Result<()> {
        let mut out = BufWriter::new(std::io::stdout().lock());
        match self.output {
            Output::Table => {
                if let Some(c) = chart {
                    writeln!(out, "{c}")?;
                }
                writeln!(out, "{}", render::table(result, terminal_size().0))?;
            }
            Output::Json => print_json(&mut out, &result.columns, &result.rows)?,
            Output::Csv => print_csv(&mut out, &result.columns, &result.rows)?,
        }
        out.flush().context("writing results")
    }

    fn meta(&mut self, m: Meta) -> Result<Step> {
        match m {
            Meta::Quit => return Ok(Step::Quit),
            Meta::Help => {
                println!(
                    "Type a Logs Insights query and press Enter; a line ending in | continues."
                );
                println!(
                    "Tab completes, Ctrl-R searches the history, Ctrl-C stops a running query."
                );
                for (name, what) in meta::COMMANDS {
                    println!("  {name:<9} {what}");
                }
            }
            Meta::Groups(names) if names.is_empty() => {
                for g in self.runner.groups()? {
                    let mark = if self.groups.contains(&g) { "*" } else { " " };
                    println!("{mark} {g}");
                }
            }
            Meta::Groups(names) => {
                let known = self.runner.groups()?;
                for n in names.iter().filter(|n| !known.contains(n)) {
                    eprintln!("warning: no log group {n:?} (yet)");
                }
                self.groups = names;
                self.refresh_vocabulary();
                self.describe_scope();
            }
            Meta::Range(r) => {
                self.range = r;
                self.describe_scope();
            }
            Meta::Output(o) => self.output = o,
            Meta::Explain(q) => match self.runner.explain(&self.request(&q)) {
                Ok(plan) => println!("{plan}"),
                Err(f) => return Ok(report(f)),
            },
            Meta::Fields => {
                let (_, end) = self.range.resolve(now_ms());
                for (name, pct) in self.runner.fields(&self.groups, end)? {
                    println!("{pct:>4}%  {name}");
                }
            }
            Meta::Save(name) => {
                let Some((query, _)) = &self.last else { bail!("no query has run yet") };
                let id = self.runner.save(&name, query, &self.groups)?;
                println!("saved {name:?} ({id})");
            }
            Meta::Load(name) => {
                let Some(saved) = self.runner.saved()?.into_iter().find(|s| s.name == name) else {
                    bail!("no saved query named {name:?} (.saved lists them)");
                };
                if !saved.groups.is_empty() && saved.groups != self.groups {
                    self.groups = saved.groups;
                    self.refresh_vocabulary();
                    self.describe_scope();
                }
                return Ok(Step::Edit(saved.query));
            }
            Meta::Saved => {
                let mut t = crate::common::table(&["NAME", "GROUPS", "QUERY"], 9);
                for s in self.runner.saved()? {
                    t.add_row(vec![s.name, s.groups.join(","), render::cut(&s.query, 80)]);
                }
                crate::common::write_table(&mut std::io::stdout().lock(), &t)?;
            }
            Meta::Export(path) => {
                let Some((_, result)) = &self.last else { bail!("no result to export yet") };
                export(&path, result)?;
                println!("wrote {} rows to {}", result.rows.len(), path.display());
            }
            Meta::Expand(n) => {
                let Some((_, result)) = &self.last else { bail!("no result yet") };
                match render::expand(result, n) {
                    Some(text) => print!("{text}"),
                    None => bail!("the last result has {} rows", result.rows.len()),
                }
            }
        }
        Ok(Step::Next)
    }

    /// Reloads the group names and the selected groups' fields for completion; a failure only
    /// leaves completion poorer.
    fn refresh_vocabulary(&mut self) {
        let groups = self.runner.groups().unwrap_or_default();
        let (_, end) = self.range.resolve(now_ms());
        let fields = match self.runner.fields(&self.groups, end) {
            Ok(f) => f.into_iter().map(|(name, _)| name).collect(),
            Err(e) => {
                tracing::debug!("discovering fields: {e:#}");
                Vec::new()
            }
        };
        let mut v = self.vocab.lock().unwrap_or_else(|e| e.into_inner());
        *v = Vocabulary { fields, groups };
    }

    fn describe_scope(&self) {
        if self.groups.is_empty() {
            println!("No log groups selected: .groups lists them, .groups NAME ... selects.");
        } else {
            println!("Querying {} over {}.", self.groups.join(", "), self.range);
        }
    }
}

/// Prints why a query gave no rows; the session goes on.
fn report(f: Failure) -> Step {
    match f {
        Failure::Malformed(rendered) => {
            eprint!("{rendered}");
            Step::Failed { malformed: true }
        }
        Failure::Cancelled => {
            eprintln!("query cancelled");
            Step::Failed { malformed: false }
        }
        Failure::Failed(e) => {
            eprintln!("error: {e:#}");
            Step::Failed { malformed: false }
        }
    }
}

/// A spinner on stderr with the query's counters and its elapsed time.
fn spinner() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} running: {msg} [{elapsed}]  Ctrl-C stops",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

/// The terminal's (columns, rows), or 120x40 when stdout is not one.
fn terminal_size() -> (usize, usize) {
    match crossterm::terminal::size() {
        Ok((w, h)) if w > 0 && std::io::stdout().is_terminal() => (w as usize, h as usize),
        _ => (120, 40),
    }
}

/// Writes `result` to `path`: CSV when it ends in `.csv`, else JSON lines.
fn export(path: &std::path::Path, result: &ResultSet) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        print_csv(&mut out, &result.columns, &result.rows)?;
    } else {
        // Keys in the query's column order (a serde_json map would sort them).
        let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        for row in &result.rows {
            let pairs: Vec<String> = result
                .columns
                .iter()
                .zip(row)
                .filter_map(|(c, v)| v.as_deref().map(|v| format!("{}:{}", quote(c), quote(v))))
                .collect();
            writeln!(out, "{{{}}}", pairs.join(","))?;
        }
    }
    out.flush().with_context(|| format!("writing {}", path.display()))
}
