//! The REPL's meta commands (`.groups`, `.range`, ...): parsing a line into a [`Meta`], and
//! the time range they set. Pure: no I/O, `now` is an argument.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::ValueEnum;

use crate::cmd_query::Output;

/// One meta command, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Meta {
    /// `.groups`: list the groups; `.groups G ...`: select them.
    Groups(Vec<String>),
    /// `.range 15m` or `.range START END`.
    Range(Range),
    /// `.output table|json|csv`.
    Output(Output),
    /// `.explain QUERY`.
    Explain(String),
    /// `.fields`: the selected groups' discovered fields.
    Fields,
    /// `.save NAME`: save the last query under this name.
    Save(String),
    /// `.load NAME`: put a saved query into the editor.
    Load(String),
    /// `.saved`: list saved queries.
    Saved,
    /// `.export FILE`: the last result as CSV (`.csv`) or JSON lines (anything else).
    Export(PathBuf),
    /// `.expand N`: row N of the last result, every field whole.
    Expand(usize),
    /// `.help`.
    Help,
    /// `.quit` (or `.exit`).
    Quit,
}

/// The time range queries run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The last this many milliseconds up to the moment each query starts.
    Last(i64),
    /// From this epoch millisecond up to the moment each query starts.
    Since(i64),
    /// A fixed window, epoch milliseconds, both inclusive.
    Between(i64, i64),
}

impl Range {
    /// The window for a query starting at `now_ms`: (start, end), both inclusive.
    pub fn resolve(self, now_ms: i64) -> (i64, i64) {
        match self {
            Range::Last(ms) => (now_ms - ms, now_ms),
            Range::Since(start) => (start, now_ms),
            Range::Between(start, end) => (start, end),
        }
    }

    /// Reads `.range`'s arguments (or `--since`): one time (a duration ago, `15m`, stays
    /// relative to each query's start; an absolute time is a fixed start), or two.
    pub fn parse(args: &[&str], now_ms: i64) -> Result<Range> {
        let time = |s: &str| {
            logsight_model::parse_time(s, now_ms).with_context(|| format!("reading {s:?}"))
        };
        match args {
            [one] => {
                let start = time(one)?;
                // A duration ago moves with `now`; an absolute time does not.
                let relative =
                    logsight_model::parse_time(one, now_ms + 1).is_ok_and(|later| later != start);
                Ok(if relative { Range::Last(now_ms - start) } else { Range::Since(start) })
            }
            [start, end] => {
                let (s, e) = (time(start)?, time(end)?);
                if s > e {
                    bail!("the range starts after it ends");
                }
                Ok(Range::Between(s, e))
            }
            _ => bail!("usage: .range 15m, or .range START END"),
        }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::client::fmt_ts;
        match *self {
            Range::Last(ms) => write!(f, "the last {}", human_duration(ms)),
            Range::Since(s) => write!(f, "{} to now", fmt_ts(s)),
            Range::Between(s, e) => write!(f, "{} to {}", fmt_ts(s), fmt_ts(e)),
        }
    }
}

/// `90_000` as `1m30s`.
fn human_duration(ms: i64) -> String {
    let mut s = ms / 1000;
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    if out.is_empty() { format!("{ms}ms") } else { out }
}

/// The meta commands with a one-line description each, for `.help` and completion.
pub const COMMANDS: [(&str, &str); 12] = [
    (".groups", "[G ...]  list the log groups, or select the ones to query"),
    (".range", "15m | START END  the time range (relative ranges move with now)"),
    (".output", "table|json|csv  how results are printed"),
    (".explain", "QUERY  the plan (in-process) or the canonical form of a query"),
    (".fields", "the fields discovered in the selected groups"),
    (".save", "NAME  save the last query (and the groups) under NAME"),
    (".load", "NAME  put a saved query into the editor"),
    (".saved", "list the saved queries"),
    (".export", "FILE  write the last result: CSV if FILE ends in .csv, else JSON lines"),
    (".expand", "N  show row N of the last result whole"),
    (".help", "this help"),
    (".quit", "leave (Ctrl-D too)"),
];

/// Whether `line` is a meta command rather than a query.
pub fn is_meta(line: &str) -> bool {
    line.trim_start().starts_with('.')
}

/// Parses a meta command line (it starts with `.`).
pub fn parse(line: &str, now_ms: i64) -> Result<Meta> {
    let line = line.trim();
    let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let args: Vec<&str> = rest.split_whitespace().collect();
    let one = |what: &str| match args.as_slice() {
        [a] => Ok(a.to_string()),
        _ => Err(anyhow!("usage: {name} {what}")),
    };
    let none =
        |m: Meta| if args.is_empty() { Ok(m) } else { Err(anyhow!("{name} takes no arguments")) };
    match name {
        ".groups" => Ok(Meta::Groups(args.iter().map(|s| s.to_string()).collect())),
        ".range" => Range::parse(&args, now_ms).map(Meta::Range),
        ".output" => {
            let v = one("table|json|csv")?;
            Output::from_str(&v, true)
                .map(Meta::Output)
                .map_err(|_| anyhow!("unknown output {v:?}: table, json or csv"))
        }
        ".explain" if rest.is_empty() => bail!("usage: .explain QUERY"),
        ".explain" => Ok(Meta::Explain(rest.to_string())),
        ".fields" => none(Meta::Fields),
        // Names may hold spaces: the rest of the line is the name.
        ".save" if rest.is_empty() => bail!("usage: .save NAME"),
        ".save" => Ok(Meta::Save(rest.to_string())),
        ".load" if rest.is_empty() => bail!("usage: .load NAME"),
        ".load" => Ok(Meta::Load(rest.to_string())),
        ".saved" => none(Meta::Saved),
        ".export" if rest.is_empty() => bail!("usage: .export FILE"),
        ".export" => Ok(Meta::Export(PathBuf::from(rest))),
        ".expand" => {
            let n = one("N")?;
            match n.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Meta::Expand(n)),
                _ => bail!("row numbers start at 1, found {n:?}"),
            }
        }
        ".help" | ".h" | ".?" => Ok(Meta::Help),
        ".quit" | ".exit" | ".q" => Ok(Meta::Quit),
        other => bail!("unknown command {other}; .help lists them"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_521_600_000; // 2024-05-01T00:00:00Z

    fn p(line: &str) -> Meta {
        parse(line, NOW).unwrap()
    }

    #[test]
    fn commands_parse_to_their_meaning() {
        assert_eq!(p(".groups"), Meta::Groups(vec![]));
        assert_eq!(p(".groups app  web "), Meta::Groups(vec!["app".into(), "web".into()]));
        assert_eq!(p(".range 15m"), Meta::Range(Range::Last(15 * 60_000)));
        assert_eq!(p(".range 1h30m"), Meta::Range(Range::Last(90 * 60_000)));
        assert_eq!(
            p(".range 2024-04-30T00:00:00Z 2024-04-30T01:00:00Z"),
            Meta::Range(Range::Between(NOW - 86_400_000, NOW - 86_400_000 + 3_600_000))
        );
        assert_eq!(p(".range 2024-04-30"), Meta::Range(Range::Since(NOW - 86_400_000)));
        assert_eq!(p(".output JSON"), Meta::Output(Output::Json));
        assert_eq!(p(".output csv"), Meta::Output(Output::Csv));
        assert_eq!(
            p(".explain stats count(*) by bin(5m)"),
            Meta::Explain("stats count(*) by bin(5m)".into())
        );
        assert_eq!(p(".save errors by host"), Meta::Save("errors by host".into()));
        assert_eq!(p(".load errors"), Meta::Load("errors".into()));
        assert_eq!(p(".export /tmp/out.csv"), Meta::Export("/tmp/out.csv".into()));
        assert_eq!(p(".expand 3"), Meta::Expand(3));
        assert_eq!(p("  .quit"), Meta::Quit);
        assert_eq!(p(".fields"), Meta::Fields);
        assert_eq!(p(".saved"), Meta::Saved);
        assert_eq!(p(".help"), Meta::Help);
    }

    #[test]
    fn mistakes_are_refused_with_the_usage() {
        for bad in [
            ".range",
            ".range 1h 2h 3h",
            ".range soon",
            ".range 2024-05-01 2024-04-01",
            ".output yaml",
            ".output",
            ".expand 0",
            ".expand x",
            ".expand",
            ".explain",
            ".save",
            ".fields now",
            ".frobnicate",
        ] {
            assert!(parse(bad, NOW).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn ranges_resolve_against_the_moment_a_query_starts() {
        assert_eq!(Range::Last(1000).resolve(5000), (4000, 5000));
        assert_eq!(Range::Since(10).resolve(5000), (10, 5000));
        assert_eq!(Range::Between(1, 2).resolve(5000), (1, 2));
        assert_eq!(Range::Last(90 * 60_000).to_string(), "the last 1h30m");
    }

    #[test]
    fn every_meta_command_is_listed_for_help_and_parses() {
        for (name, _) in COMMANDS {
            let needs_arg =
                [".range", ".output", ".explain", ".save", ".load", ".export", ".expand"];
            let line =
                if needs_arg.contains(&name) { format!("{name} ") } else { name.to_string() };
            // Without its argument a command that needs one says how to use it.
            assert_eq!(parse(&line, NOW).is_ok(), !needs_arg.contains(&name), "{name}");
        }
    }
}
