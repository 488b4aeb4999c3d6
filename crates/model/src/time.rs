//! Times: epoch milliseconds, half-open ranges, and parsing what people type.

use crate::ModelError;

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// A half-open time range `[start, end)`; `None` leaves that side open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// Inclusive lower bound.
    pub start: Option<Timestamp>,
    /// Exclusive upper bound.
    pub end: Option<Timestamp>,
}

impl TimeRange {
    /// The range that contains every time.
    pub const ALL: TimeRange = TimeRange { start: None, end: None };

    /// `[start, end)`.
    pub fn new(start: Option<Timestamp>, end: Option<Timestamp>) -> Self {
        Self { start, end }
    }

    /// Whether `t` lies in the range.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start.is_none_or(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }

    /// Whether the closed interval `[min, max]` overlaps the range.
    pub fn overlaps(&self, min: Timestamp, max: Timestamp) -> bool {
        self.start.is_none_or(|s| max >= s) && self.end.is_none_or(|e| min < e)
    }

    /// Whether the range can contain nothing.
    pub fn is_empty(&self) -> bool {
        matches!((self.start, self.end), (Some(s), Some(e)) if s >= e)
    }

    /// The range with its lower bound raised to at least `floor`.
    pub fn clamp_start(self, floor: Option<Timestamp>) -> Self {
        let start = match (self.start, floor) {
            (Some(s), Some(f)) => Some(s.max(f)),
            (s, f) => s.or(f),
        };
        Self { start, end: self.end }
    }
}

/// Parses a user-written time, as `aws logs tail --since` and `logcli` take them:
/// - `now`, or epoch milliseconds (`1714564800000`);
/// - a duration ago: `15m`, `2h`, `7d`, `1w`, `30s`, `1h30m`, `-15m` (a leading `+` goes
///   forward from `now_ms` instead);
/// - RFC 3339 (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00+02:00`);
/// - a date or a date and time without an offset, read as UTC: `2026-11-26`,
///   `2026-11-26 08:00`, `2026-11-26T08:00:30.5`.
pub fn parse_time(input: &str, now_ms: Timestamp) -> Result<Timestamp, ModelError> {
    let s = input.trim();
    let bad = || ModelError::InvalidTime { input: input.to_owned() };
    if s.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if s.starts_with(|c: char| c == '-' || c == '+' || c.is_ascii_digit())
        && let Some(ms) = duration_ms(s.trim_start_matches(['-', '+']))
    {
        let ms = if s.starts_with('+') { ms } else { -ms };
        return now_ms.checked_add(ms).ok_or_else(bad);
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let civil = s
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| {
            s.parse::<jiff::civil::Date>().map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .map_err(|_| bad())?;
    jiff::tz::TimeZone::UTC.to_timestamp(civil).map(|t| t.as_millisecond()).map_err(|_| bad())
}

/// Parses an RFC 3339 time (`2024-05-01T12:00:00Z`, `2024-05-01T14:00:00.5+02:00`), as data
/// carries it, into epoch milliseconds.
pub fn parse_rfc3339(input: &str) -> Result<Timestamp, ModelError> {
    input
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| ModelError::InvalidTime { input: input.to_owned() })
}

/// A friendly duration (`15m`, `1h30m`, `7d`, `250ms`) in milliseconds; days are 24 hours.
fn duration_ms(s: &str) -> Option<i64> {
    // A bare date such as 2026-11-26 also starts with a digit: it is not a duration.
    if !s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let span: jiff::Span = s.parse().ok()?;
    let total =
        span.total((jiff::Unit::Millisecond, jiff::SpanRelativeTo::days_are_24_hours())).ok()?;
    (total.is_finite() && total.abs() < i64::MAX as f64).then_some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let now = 1_700_000_000_000;
        let cases = [
            ("now", now),
            ("NOW", now),
            ("1714564800000", 1_714_564_800_000),
            ("0", 0),
            ("-15m", now - 15 * 60_000),
            ("-2h", now - 2 * 3_600_000),
            ("-7d", now - 7 * 86_400_000),
            ("-30s", now - 30_000),
            ("+1h", now + 3_600_000),
            ("2024-05-01T12:00:00Z", 1_714_564_800_000),
            ("2024-05-01T14:00:00+02:00", 1_714_564_800_000),
            ("2024-05-01T12:00:00.250Z", 1_714_564_800_250),
            // Durations without a sign are in the past, as `--since 1h` means.
            ("1h", now - 3_600_000),
            ("5m", now - 5 * 60_000),
            ("1h30m", now - 90 * 60_000),
            ("2d", now - 2 * 86_400_000),
            ("1w", now - 7 * 86_400_000),
            ("250ms", now - 250),
            // Dates and civil times are UTC: 2026-11-26T00:00:00Z is 1_795_651_200_000.
            ("2026-11-26", 1_795_651_200_000),
            ("2026-11-26 08:00", 1_795_651_200_000 + 8 * 3_600_000),
            ("2026-11-26T08:00:30.5", 1_795_651_200_000 + 8 * 3_600_000 + 30_500),
            (" 2026-11-26 ", 1_795_651_200_000),
        ];
        for (input, want) in cases {
            assert_eq!(parse_time(input, now), Ok(want), "{input}");
        }
        for bad in ["", "yesterday", "-15x", "2024-13-01T00:00:00Z", "-m", "2026-02-30", "h", "1h-"]
        {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        let r = TimeRange::new(Some(10), Some(20));
        assert!(r.contains(10) && r.contains(19) && !r.contains(20) && !r.contains(9));
        assert!(
            r.overlaps(0, 10) && r.overlaps(19, 30) && !r.overlaps(20, 30) && !r.overlaps(0, 9)
        );
        assert!(TimeRange::ALL.contains(i64::MIN) && TimeRange::ALL.overlaps(0, 0));
        assert!(TimeRange::new(Some(5), Some(5)).is_empty());
        assert_eq!(r.clamp_start(Some(15)).start, Some(15));
        assert_eq!(r.clamp_start(Some(5)).start, Some(10));
        assert_eq!(TimeRange::ALL.clamp_start(Some(5)).start, Some(5));
    }
}
