//! How the REPL shows a result: a table that fits the terminal (long values cut), one row
//! whole (`.expand`), and a bar chart over time, as the Logs Insights console draws one: the
//! first numeric column of a query grouped `by bin(...)`, or for other queries a histogram of
//! the matched events over the range. Pure: strings in, strings out.

use std::fmt::Write as _;

use logsight_query_lang::insights::{self, Command, Expr};

/// A result as the REPL keeps it: the last one is what `.expand` and `.export` read.
#[derive(Debug, Clone, Default)]
pub struct ResultSet {
    /// Column names, in the query's order.
    pub columns: Vec<String>,
    /// Rows, one cell per column; `None` where the row has no such field.
    pub rows: Vec<Vec<Option<String>>>,
}

/// `s` on one line, at most `max` characters (the last one `…` when cut).
pub fn cut(s: &str, max: usize) -> String {
    let flat: String =
        s.chars().map(|c| if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c }).collect();
    if flat.chars().count() <= max {
        return flat;
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = flat.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Column widths that fit `budget` characters in all: each column as wide as its widest
/// value (`natural`), then the widest shrunk first, none below `min` (or its natural width
/// when that is smaller). The sum may exceed `budget` only when every column is at its floor.
pub fn fit_widths(natural: &[usize], budget: usize, min: usize) -> Vec<usize> {
    let mut w = natural.to_vec();
    let floor = |i: usize| natural[i].min(min);
    while w.iter().sum::<usize>() > budget {
        // The widest column that can still give something.
        let Some((i, _)) = w
            .iter()
            .enumerate()
            .filter(|(i, x)| **x > floor(*i))
            .max_by_key(|(i, x)| (**x, usize::MAX - i))
        else {
            break;
        };
        let excess = w.iter().sum::<usize>() - budget;
        // Down to the next widest column at most, so wide columns shrink together.
        let next =
            w.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, x)| *x).max().unwrap_or(0);
        let give = excess.min(w[i] - floor(i)).min((w[i] - next).max(1));
        w[i] -= give;
    }
    w
}

/// Characters a table with `n` columns spends on borders and padding (`│ a │ b │`).
fn overhead(n: usize) -> usize {
    3 * n + 1
}

fn is_number(s: &str) -> bool {
    s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The result as a table `width` characters wide at most, rows numbered from 1 (for
/// `.expand`), numeric columns aligned right.
pub fn table(result: &ResultSet, width: usize) -> String {
    use comfy_table::{Cell, CellAlignment, ContentArrangement, presets};
    let mut headers = vec!["#".to_string()];
    headers.extend(result.columns.iter().cloned());
    let cells: Vec<Vec<String>> = result
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = vec![(i + 1).to_string()];
            r.extend(row.iter().map(|c| cut(c.as_deref().unwrap_or(""), usize::MAX)));
            r
        })
        .collect();
    let natural: Vec<usize> = (0..headers.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .chain([headers[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let widths = fit_widths(&natural, width.saturating_sub(overhead(headers.len())), 8);
    let numeric: Vec<bool> = (0..headers.len())
        .map(|c| {
            c == 0
                || (!cells.is_empty() && cells.iter().all(|r| r[c].is_empty() || is_number(&r[c])))
        })
        .collect();
    let mut t = comfy_table::Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(headers.iter().zip(&widths).map(|(h, w)| Cell::new(cut(h, *w))));
    for r in &cells {
        t.add_row(r.iter().zip(&widths).zip(&numeric).map(|((c, w), num)| {
            let cell = Cell::new(cut(c, *w));
            if *num { cell.set_alignment(CellAlignment::Right) } else { cell }
        }));
    }
    t.to_string()
}

/// Row `n` (from 1) whole: one `field: value` line per field it has.
pub fn expand(result: &ResultSet, n: usize) -> Option<String> {
    let row = result.rows.get(n.checked_sub(1)?)?;
    let name_width = result.columns.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (c, v) in result.columns.iter().zip(row) {
        if let Some(v) = v {
            let _ = writeln!(out, "{c:>name_width$}: {v}");
        }
    }
    Some(out)
}

/// A series to draw: a label for the first and last point and one value per point.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// What is drawn (`count(*)`, `matched events`).
    pub title: String,
    /// The first bucket's label (its time).
    pub from: String,
    /// The last bucket's label.
    pub to: String,
    /// One value per bucket, oldest first.
    pub values: Vec<f64>,
}

/// The `by bin(...)` item of the query's last `stats`: the name of its column.
fn bin_column(query: &insights::Query) -> Option<String> {
    let stats = query.commands.iter().rev().find_map(|c| match c {
        Command::Stats(s) => Some(s),
        _ => None,
    })?;
    stats.by.iter().find_map(|p| match &p.expr {
        Expr::Call(call) if call.name == "bin" => {
            Some(p.alias.as_ref().map_or_else(|| p.expr.to_string(), |a| a.flat_name()))
        }
        _ => None,
    })
}

/// For a query grouped `by bin(...)`: its first numeric column over time, summed over the
/// other `by` groups of a bucket. `None` for other queries, or when no column is numeric.
pub fn bin_series(query: &str, result: &ResultSet) -> Option<Series> {
    let parsed = insights::parse(query).ok()?;
    let bin = bin_column(&parsed)?;
    let x = result.columns.iter().position(|c| *c == bin)?;
    let y = (0..result.columns.len()).find(|&c| {
        c != x
            && result.rows.iter().any(|r| r[c].is_some())
            && result.rows.iter().all(|r| r[c].as_deref().is_none_or(is_number))
    })?;
    let mut points: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for r in &result.rows {
        if let Some(t) = r[x].as_deref() {
            let v = r[y].as_deref().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            *points.entry(t).or_default() += v;
        }
    }
    let from = points.keys().next()?.to_string();
    let to = points.keys().next_back()?.to_string();
    Some(Series {
        title: result.columns[y].clone(),
        from,
        to,
        values: points.into_values().collect(),
    })
}

/// Bucket sizes the histogram picks from, in ms, with their `bin()` spelling; each within
/// the engine's caps (`s` ≤ 60, `m` ≤ 60, `h` ≤ 24).
const PERIODS: [(i64, &str); 14] = [
    (1_000, "1s"),
    (5_000, "5s"),
    (10_000, "10s"),
    (30_000, "30s"),
    (60_000, "1m"),
    (300_000, "5m"),
    (600_000, "10m"),
    (1_800_000, "30m"),
    (3_600_000, "1h"),
    (3 * 3_600_000, "3h"),
    (6 * 3_600_000, "6h"),
    (12 * 3_600_000, "12h"),
    (86_400_000, "1d"),
    (7 * 86_400_000, "1w"),
];

/// The smallest bucket that splits `range_ms` into at most `max_buckets` buckets.
pub fn histogram_period(range_ms: i64, max_buckets: i64) -> (i64, &'static str) {
    PERIODS
        .iter()
        .copied()
        .find(|(ms, _)| range_ms / ms < max_buckets)
        .unwrap_or(PERIODS[PERIODS.len() - 1])
}

/// The query counting `query`'s matched events per bucket of `period`: its commands up to the
/// first `stats`, `sort`, `limit` or `dedup` (what the engine counts as matched), then
/// `stats count(*) by bin(period)`. `None` for a malformed query.
pub fn histogram_query(query: &str, period: &str) -> Option<String> {
    let parsed = insights::parse(query).ok()?;
    let mut kept = insights::Query { commands: Vec::new() };
    for c in parsed.commands {
        match c {
            Command::Stats(_) | Command::Sort(_) | Command::Limit(_) | Command::Dedup(_) => break,
            Command::Display(_) | Command::Fields(_) => {}
            c => kept.commands.push(c),
        }
    }
    let head = kept.to_string();
    let sep = if head.is_empty() { "" } else { " | " };
    Some(format!("{head}{sep}stats count(*) as events by bin({period}) as t"))
}

/// Parses the engine's bucket times (`2024-05-01 00:05:00.000`, UTC) as epoch ms.
fn bucket_ms(t: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.3f")
        .ok()
        .map(|d| d.and_utc().timestamp_millis())
}

/// The histogram's series: one value per bucket of `period_ms` from `start_ms` to `end_ms`
/// (buckets aligned as `bin()` aligns them), zero where the result has none. `rows` are
/// (bucket time, count) as `histogram_query` returns them.
pub fn histogram_series(
    result: &ResultSet,
    start_ms: i64,
    end_ms: i64,
    period_ms: i64,
) -> Option<Series> {
    let t = result.columns.iter().position(|c| c == "t")?;
    let n = result.columns.iter().position(|c| c == "events")?;
    let first = start_ms.div_euclid(period_ms);
    let last = end_ms.div_euclid(period_ms);
    let len = usize::try_from(last - first + 1).ok()?;
    let mut values = vec![0.0; len];
    for r in &result.rows {
        let (Some(at), Some(count)) = (
            r[t].as_deref().and_then(bucket_ms),
            r[n].as_deref().and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        if let Ok(i) = usize::try_from(at.div_euclid(period_ms) - first)
            && i < len
        {
            values[i] += count;
        }
    }
    // Labelled as `bin()` prints its buckets.
    let label = |b: i64| {
        chrono::DateTime::from_timestamp_millis(b * period_ms)
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
    };
    Some(Series { title: "matched events".into(), from: label(first), to: label(last), values })
}

/// `values` squeezed into at most `width` columns, each the largest of the values it covers
/// (so a spike never disappears).
pub fn resample(values: &[f64], width: usize) -> Vec<f64> {
    if values.len() <= width || width == 0 {
        return values.to_vec();
    }
    (0..width)
        .map(|i| {
            let (a, b) = (
                i * values.len() / width,
                ((i + 1) * values.len() / width).max(i * values.len() / width + 1),
            );
            values[a..b].iter().copied().fold(f64::MIN, f64::max)
        })
        .collect()
}

/// Eighths of a block, for the top of a bar.
const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The series as a bar chart `height` lines high and at most `width` wide, with its title and
/// largest value above and the first and last bucket below.
pub fn chart(series: &Series, width: usize, height: usize) -> String {
    let label_width = 10;
    let room = width.saturating_sub(label_width + 1).max(1);
    // Few buckets get wider bars (up to 4 columns each), so a short series still reads.
    let repeat = (room / series.values.len().max(1)).clamp(1, 4);
    let values: Vec<f64> = resample(&series.values, room)
        .into_iter()
        .flat_map(|v| std::iter::repeat_n(v, repeat))
        .collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let mut out = String::new();
    let _ = writeln!(out, "{} over time (max {})", series.title, fmt_num(max));
    for line in (0..height).rev() {
        let mut row = String::new();
        for v in &values {
            let eighths = if max > 0.0 {
                (v.max(0.0) / max * (height * 8) as f64).round() as usize
            } else {
                0
            };
            let here = eighths.saturating_sub(line * 8).min(8);
            row.push(BLOCKS[here]);
        }
        let label = if line + 1 == height {
            fmt_num(max)
        } else if line == 0 {
            "0".to_string()
        } else {
            String::new()
        };
        let _ = writeln!(out, "{label:>label_width$}│{}", row.trim_end());
    }
    let span = values.len();
    let _ = writeln!(out, "{:>label_width$}└{}", "", "─".repeat(span));
    let gap = (span + 1).saturating_sub(series.from.len() + series.to.len()).max(1);
    let _ = writeln!(out, "{:>label_width$} {}{}{}", "", series.from, " ".repeat(gap), series.to);
    out
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v:.3}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_one_line_within_the_width() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("exactly10!", 10), "exactly10!");
        assert_eq!(cut("eleven chars", 10), "eleven ch…");
        assert_eq!(cut("a\nb\tc", 10), "a b c");
        assert_eq!(cut("ééééé", 3), "éé…");
        assert_eq!(cut("x", 0), "");
    }

    #[test]
    fn widths_shrink_the_widest_columns_first() {
        assert_eq!(fit_widths(&[3, 10, 200], 100, 8), vec![3, 10, 87]);
        assert_eq!(fit_widths(&[3, 10, 20], 100, 8), vec![3, 10, 20]);
        // Two wide columns shrink together.
        assert_eq!(fit_widths(&[100, 100], 100, 8), vec![50, 50]);
        // Never below the floor (or a column's own smaller width).
        assert_eq!(fit_widths(&[3, 100, 100], 10, 8), vec![3, 8, 8]);
    }

    fn rs(columns: &[&str], rows: &[&[Option<&str>]]) -> ResultSet {
        ResultSet {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows.iter().map(|r| r.iter().map(|c| c.map(str::to_string)).collect()).collect(),
        }
    }

    #[test]
    fn the_table_fits_the_width_and_numbers_its_rows() {
        let long = "x".repeat(500);
        let r = rs(
            &["@timestamp", "@message"],
            &[&[Some("2024-05-01 00:00:00.000"), Some(&long)], &[Some("t2"), None]],
        );
        let text = table(&r, 80);
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{line:?} is {} wide", line.chars().count());
        }
        assert!(text.contains("…"));
        assert!(text.contains("│ 1 ┆ 2024-05-01 00:00:00.000 ┆ xxx"), "{text}");
        assert!(text.contains("│ 2 ┆ t2"), "{text}");
        let wide = table(&r, 1000);
        assert!(wide.contains(&long));
    }

    #[test]
    fn expand_shows_a_row_whole() {
        let r =
            rs(&["a", "message"], &[&[Some("1"), Some("line one\nline two")], &[None, Some("m")]]);
        assert_eq!(expand(&r, 1).unwrap(), "      a: 1\nmessage: line one\nline two\n");
        assert_eq!(expand(&r, 2).unwrap(), "message: m\n");
        assert!(expand(&r, 0).is_none() && expand(&r, 3).is_none());
    }

    #[test]
    fn a_bin_query_charts_its_first_numeric_column_summed_per_bucket() {
        let r = rs(
            &["host", "t", "n"],
            &[
                &[Some("a"), Some("2024-05-01 00:05:00.000"), Some("3")],
                &[Some("b"), Some("2024-05-01 00:05:00.000"), Some("4")],
                &[Some("a"), Some("2024-05-01 00:00:00.000"), Some("1")],
            ],
        );
        let s = bin_series("stats count(*) as n by host, bin(5m) as t", &r).unwrap();
        assert_eq!(s.values, vec![1.0, 7.0]);
        assert_eq!(
            (s.from.as_str(), s.to.as_str()),
            ("2024-05-01 00:00:00.000", "2024-05-01 00:05:00.000")
        );
        assert_eq!(s.title, "n");
        // The unnamed bin is named by its canonical text.
        let r = rs(&["bin(60s)", "count(*)"], &[&[Some("2024-05-01 00:00:00.000"), Some("2")]]);
        assert_eq!(bin_series("stats count(*) by bin(60s)", &r).unwrap().values, vec![2.0]);
        assert!(bin_series("stats count(*) by host", &r).is_none());
        assert!(bin_series("fields @message", &r).is_none());
    }

    #[test]
    fn the_histogram_counts_what_the_query_matches_per_bucket() {
        assert_eq!(histogram_period(3_600_000, 40), (300_000, "5m"));
        assert_eq!(histogram_period(15 * 60_000, 40), (30_000, "30s"));
        assert_eq!(histogram_period(10_000, 40), (1_000, "1s"));
        assert_eq!(histogram_period(i64::MAX, 40).1, "1w");
        assert_eq!(
            histogram_query("filter x = 1 | fields a | sort @timestamp desc | limit 5", "5m")
                .unwrap(),
            "filter x = 1 | stats count(*) as events by bin(5m) as t"
        );
        assert_eq!(
            histogram_query("fields @message", "1m").unwrap(),
            "stats count(*) as events by bin(1m) as t"
        );
        assert!(histogram_query("filter (", "1m").is_none());
        let start = 1_714_521_600_000; // 2024-05-01T00:00:00Z
        let r = rs(
            &["t", "events"],
            &[
                &[Some("2024-05-01 00:00:00.000"), Some("2")],
                &[Some("2024-05-01 00:10:00.000"), Some("5")],
            ],
        );
        let s = histogram_series(&r, start + 1, start + 14 * 60_000, 300_000).unwrap();
        assert_eq!(s.values, vec![2.0, 0.0, 5.0]);
        assert_eq!(s.from, "2024-05-01 00:00:00.000");
        assert_eq!(s.to, "2024-05-01 00:10:00.000");
    }

    #[test]
    fn charts_keep_spikes_when_squeezed() {
        assert_eq!(resample(&[1.0, 9.0, 2.0, 3.0], 2), vec![9.0, 3.0]);
        assert_eq!(resample(&[1.0, 2.0], 5), vec![1.0, 2.0]);
        let s = Series {
            title: "n".into(),
            from: "a".into(),
            to: "b".into(),
            values: vec![0.0, 4.0, 8.0],
        };
        let text = chart(&s, 14, 2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "n over time (max 8)");
        // Two lines of eight eighths: 8 fills both, 4 half of the lower one.
        assert_eq!(lines[1], "         8│  █");
        assert_eq!(lines[2], "         0│ ██");
        assert!(lines[3].ends_with("└───"));
        // With room to spare, each bucket is drawn wider.
        let text = chart(&s, 80, 2);
        assert_eq!(text.lines().nth(2).unwrap(), "         0│    ████████");
    }
}
