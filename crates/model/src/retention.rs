//! Retention periods.

use crate::ModelError;

/// The retention periods, in days, that CloudWatch Logs accepts.
pub const VALID_DAYS: [u32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A retention period accepted by CloudWatch. A group without one keeps events forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetentionDays(u32);

impl RetentionDays {
    /// Validates a number of days against [`VALID_DAYS`].
    pub fn new(days: i64) -> Result<Self, ModelError> {
        match u32::try_from(days) {
            Ok(d) if VALID_DAYS.contains(&d) => Ok(Self(d)),
            _ => Err(ModelError::InvalidRetention { days }),
        }
    }

    /// The number of days.
    pub fn days(self) -> u32 {
        self.0
    }

    /// The period in milliseconds.
    pub fn as_millis(self) -> i64 {
        i64::from(self.0) * 24 * 3600 * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_days() {
        for d in VALID_DAYS {
            assert_eq!(RetentionDays::new(d.into()).unwrap().days(), d);
        }
        for d in [0, 2, 31, 3654, -1, i64::MAX] {
            let err = RetentionDays::new(d).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid retention {d} days: must be one of 1, 3,")));
        }
        assert_eq!(RetentionDays::new(1).unwrap().as_millis(), 86_400_000);
    }
}
