//! Times: epoch milliseconds, half-open ranges, and parsing what people type.

use chrono::DateTime;

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

/// Parses a user-written time: RFC 3339 (`2024-05-01T12:00:00Z`), epoch milliseconds
/// (`1714564800000`), `now`, or a time relative to `now_ms` (`-15m`, `-2h`, `-7d`, `-30s`,
/// `-1w`; a leading `+` goes forward).
pub fn parse_time(input: &str, now_ms: Timestamp) -> Result<Timestamp, ModelError> {
    let s = input.trim();
    let bad = || ModelError::InvalidTime { input: input.to_owned() };
    if s.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Some(rest) = s.strip_prefix(['-', '+']) {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let split = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (num, unit) = rest.split_at(split);
        let n: i64 = num.parse().map_err(|_| bad())?;
        let unit_ms = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(bad()),
        };
        return n.checked_mul(unit_ms).and_then(|d| now_ms.checked_add(sign * d)).ok_or_else(bad);
    }
    DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).map_err(|_| bad())
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
        ];
        for (input, want) in cases {
            assert_eq!(parse_time(input, now), Ok(want), "{input}");
        }
        for bad in ["", "yesterday", "-15x", "2024-13-01T00:00:00Z", "-m"] {
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
