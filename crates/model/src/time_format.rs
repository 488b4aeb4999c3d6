//! Timestamps read from the log line itself, like the CloudWatch agent's `datetime_format`.
//!
//! A format is a preset name or a strftime format (`%Y-%m-%d %H:%M:%S`). It is compiled once
//! into a regex that finds the first place in a line where such a time is written, and the
//! text found is then read with jiff's strptime. Times without an offset are UTC; a format
//! without a year (syslog's `Nov 26 08:00:00`) takes the year of `now`, or the year before
//! when that would put the time more than a day in the future (a December line read in
//! January).

use jiff::fmt::strtime::BrokenDownTime;
use regex::Regex;

use crate::{ModelError, Timestamp};

/// The preset names, with the layouts they stand for.
pub const PRESETS: [&str; 6] = ["rfc3339", "syslog", "clf", "apache-error", "epoch-ms", "epoch"];

/// How the text found in a line becomes a time.
#[derive(Debug, Clone)]
enum Layout {
    /// A strftime format, read with jiff.
    Strftime(String),
    /// RFC 3339 or ISO 8601 (`T` or a space between date and time, `,` or `.` before the
    /// fraction, an optional offset).
    Rfc3339,
    /// Epoch milliseconds.
    EpochMillis,
    /// Epoch seconds, with an optional fraction.
    EpochSeconds,
}

/// A compiled `--timestamp-format`: finds and reads the timestamp in a log line.
#[derive(Debug, Clone)]
pub struct TimestampFormat {
    finder: Regex,
    layout: Layout,
    has_year: bool,
}

impl TimestampFormat {
    /// Compiles a preset (see [`PRESETS`]) or a strftime format.
    pub fn new(spec: &str) -> Result<Self, ModelError> {
        let bad = |why: &str| ModelError::InvalidTimestampFormat {
            format: spec.to_owned(),
            why: why.to_owned(),
        };
        let (pattern, layout) = match spec {
            "rfc3339" | "iso8601" => (
                r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?"
                    .to_owned(),
                Layout::Rfc3339,
            ),
            "epoch-ms" => (r"\b\d{13}\b".to_owned(), Layout::EpochMillis),
            "epoch" => (r"\b\d{10}(?:\.\d{1,9})?\b".to_owned(), Layout::EpochSeconds),
            _ => {
                let format = match spec {
                    "syslog" => "%b %e %H:%M:%S",
                    "clf" => "%d/%b/%Y:%H:%M:%S %z",
                    "apache-error" => "%a %b %d %H:%M:%S%.f %Y",
                    custom => custom,
                };
                let pattern = strftime_regex(format).map_err(|why| bad(&why))?;
                (pattern, Layout::Strftime(format.to_owned()))
            }
        };
        let has_year = match &layout {
            Layout::Strftime(f) => {
                ["%Y", "%y", "%F", "%D", "%s", "%G", "%g"].iter().any(|d| f.contains(d))
            }
            _ => true,
        };
        let finder = Regex::new(&pattern).map_err(|e| bad(&e.to_string()))?;
        Ok(Self { finder, layout, has_year })
    }

    /// The time written in `line`, in epoch milliseconds: its first match that reads as a
    /// valid time. `None` when the line holds none.
    pub fn find(&self, line: &str, now_ms: Timestamp) -> Option<Timestamp> {
        self.finder.find_iter(line).find_map(|m| self.read(m.as_str(), now_ms))
    }

    fn read(&self, text: &str, now_ms: Timestamp) -> Option<Timestamp> {
        match &self.layout {
            Layout::EpochMillis => text.parse().ok(),
            Layout::EpochSeconds => {
                let secs: f64 = text.parse().ok()?;
                Some((secs * 1000.0).round() as i64)
            }
            Layout::Rfc3339 => {
                let t = text.replacen(',', ".", 1);
                crate::parse_rfc3339(&t).ok().or_else(|| {
                    let dt: jiff::civil::DateTime = t.parse().ok()?;
                    utc_ms(dt)
                })
            }
            Layout::Strftime(format) => {
                let mut tm = BrokenDownTime::parse(format, text).ok()?;
                if (tm.offset().is_some() || format.contains("%s")) && self.has_year {
                    return tm.to_timestamp().ok().map(|t| t.as_millisecond());
                }
                if !self.has_year {
                    return self.without_year(&mut tm, now_ms);
                }
                utc_ms(tm.to_datetime().ok()?)
            }
        }
    }

    /// A time written without its year: this year's, unless that is more than a day ahead.
    fn without_year(&self, tm: &mut BrokenDownTime, now_ms: Timestamp) -> Option<Timestamp> {
        let now = jiff::Timestamp::from_millisecond(now_ms).ok()?;
        let year = now.to_zoned_datetime(jiff::tz::TimeZone::UTC).year();
        let offset = tm.offset();
        for y in [year, year - 1] {
            tm.set_year(Some(y)).ok()?;
            let Ok(dt) = tm.to_datetime() else { continue };
            let ms = match offset {
                Some(o) => o.to_timestamp(dt).ok()?.as_millisecond(),
                None => utc_ms(dt)?,
            };
            if ms <= now_ms + 86_400_000 {
                return Some(ms);
            }
        }
        None
    }
}

fn utc_ms(dt: jiff::civil::DateTime) -> Option<Timestamp> {
    jiff::tz::TimeZone::UTC.to_timestamp(dt).ok().map(|t| t.as_millisecond())
}

/// A regex that finds text a strftime `format` could have written.
fn strftime_regex(format: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut directives = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            if c.is_whitespace() {
                out.push_str(r"\s+");
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            } else {
                out.push_str(&regex::escape(&c.to_string()));
            }
            continue;
        }
        let mut d = String::new();
        while let Some(&n) = chars.peek() {
            chars.next();
            d.push(n);
            if n != ':' && n != '.' {
                break;
            }
        }
        directives += 1;
        out.push_str(match d.as_str() {
            "%" => "%",
            "Y" => r"\d{4}",
            "y" | "C" | "g" => r"\d{2}",
            "G" => r"\d{4}",
            "m" | "d" | "H" | "I" | "M" | "S" | "U" | "V" | "W" => r"\d{1,2}",
            "e" | "k" | "l" => r"[ \d]?\d",
            "j" => r"\d{1,3}",
            "f" | "N" => r"\d{1,9}",
            ".f" => r"(?:\.\d{1,9})?",
            "b" | "h" | "a" => r"[A-Za-z]{3}",
            "B" | "A" => r"[A-Za-z]+",
            "p" | "P" => r"[AaPp][Mm]",
            "z" => r"[+-]\d{4}(?:\d{2})?",
            ":z" => r"[+-]\d{2}:\d{2}(?::\d{2})?",
            "s" => r"\d{1,19}",
            "u" | "w" => r"\d",
            "T" => r"\d{1,2}:\d{2}:\d{2}",
            "R" => r"\d{1,2}:\d{2}",
            "F" => r"\d{4}-\d{1,2}-\d{1,2}",
            "D" => r"\d{1,2}/\d{1,2}/\d{2}",
            "n" | "t" => r"\s+",
            other => return Err(format!("%{other} cannot be read from a line")),
        });
    }
    if directives == 0 {
        return Err("it has no % directive".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-26T12:00:00Z.
    const NOW: i64 = 1_795_651_200_000 + 12 * 3_600_000;

    fn ms(rfc3339: &str) -> i64 {
        crate::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn presets_and_formats_read_the_loghub_layouts() {
        // (format, line, the time written in it, read independently with parse_rfc3339).
        let cases = [
            ("rfc3339", "2015-07-29 17:41:44,747 - INFO  [QuorumPeer", "2015-07-29T17:41:44.747Z"),
            ("rfc3339", "at 2024-05-01T14:00:00+02:00 ok", "2024-05-01T12:00:00Z"),
            ("iso8601", "x 2024-05-01T12:00:00.250Z y", "2024-05-01T12:00:00.250Z"),
            ("syslog", "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: auth", "2026-06-14T15:16:01Z"),
            ("syslog", "Nov  6 01:02:03 host x", "2026-11-06T01:02:03Z"),
            // A December line read on 26 November is last year's.
            ("syslog", "Dec 10 06:55:46 LabSZ sshd[24200]: reverse", "2025-12-10T06:55:46Z"),
            ("clf", "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /\"", "2000-10-10T20:55:36Z"),
            (
                "apache-error",
                "[Sun Dec 04 04:47:44 2005] [notice] workerEnv",
                "2005-12-04T04:47:44Z",
            ),
            ("%y%m%d %H%M%S", "081109 203615 148 INFO dfs.DataNode", "2008-11-09T20:36:15Z"),
            ("%y/%m/%d %H:%M:%S", "17/06/09 20:10:40 INFO executor", "2017-06-09T20:10:40Z"),
            ("epoch-ms", "ts=1714564800123 msg", "2024-05-01T12:00:00.123Z"),
            ("epoch", "1714564800.5 msg", "2024-05-01T12:00:00.500Z"),
        ];
        for (format, line, want) in cases {
            let f = TimestampFormat::new(format).unwrap();
            assert_eq!(f.find(line, NOW), Some(ms(want)), "{format} in {line:?}");
        }
    }

    #[test]
    fn lines_without_a_time_and_bad_formats() {
        let f = TimestampFormat::new("%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(f.find("no time here", NOW), None);
        // A match that is not a valid time is passed over for a later one.
        assert_eq!(
            f.find("2024-13-99 99:00:00 then 2024-05-01 12:00:00", NOW),
            Some(ms("2024-05-01T12:00:00Z"))
        );
        for bad in ["", "plain text", "%Z %H", "%q"] {
            assert!(TimestampFormat::new(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Whatever time jiff writes with a format, the same format finds in a line.
        #[test]
        fn reads_back_what_a_format_writes(
            ms in 0i64..4_102_444_800_000,
            format in proptest::sample::select(vec![
                "%Y-%m-%d %H:%M:%S%.f", "%d/%b/%Y:%H:%M:%S %z", "%a %b %d %H:%M:%S%.f %Y",
                "%Y%m%dT%H%M%S%.f", "%s",
            ]),
            prefix in "[a-z =\\[]{0,12}",
        ) {
            let t = jiff::Timestamp::from_millisecond(ms).unwrap();
            let written = t.strftime(format).to_string();
            let line = format!("{prefix}{written} message");
            let f = TimestampFormat::new(format).unwrap();
            // Formats without a fraction write whole seconds.
            let want = if format.contains("%.f") { ms } else { ms - ms.rem_euclid(1000) };
            proptest::prop_assert_eq!(f.find(&line, NOW), Some(want), "{}", line);
        }
    }
}
