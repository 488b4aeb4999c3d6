//! One period's aggregate of samples, and the resolutions they are kept at.

use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

/// The relative error of [`Aggregate::percentile`]: a returned value is within 1% of a
/// sample whose rank is the requested one (DDSketch's guarantee, with at most 2,048 bins).
pub const PERCENTILE_RELATIVE_ERROR: f64 = 0.01;

/// Sample count, sum, minimum, maximum and a percentile sketch of one period's samples.
#[derive(Clone, Serialize, Deserialize)]
pub struct Aggregate {
    sketch: DDSketch,
}

impl std::fmt::Debug for Aggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aggregate")
            .field("sample_count", &self.sample_count())
            .field("sum", &self.sum())
            .field("minimum", &self.minimum())
            .field("maximum", &self.maximum())
            .finish()
    }
}

impl Default for Aggregate {
    fn default() -> Self {
        Aggregate { sketch: DDSketch::new(Config::new(PERCENTILE_RELATIVE_ERROR, 2048, 1.0e-9)) }
    }
}

impl Aggregate {
    /// An aggregate of one sample.
    pub fn of(value: f64) -> Aggregate {
        let mut a = Aggregate::default();
        a.add(value);
        a
    }

    /// Adds a sample. Non-finite values are the caller's to refuse.
    pub fn add(&mut self, value: f64) {
        self.sketch.add(value);
    }

    /// Merges another aggregate into this one.
    pub fn merge(&mut self, other: &Aggregate) {
        // Both sketches are built with the same configuration, the only case merge refuses.
        self.sketch.merge(&other.sketch).expect("aggregates share one sketch configuration");
    }

    /// Number of samples.
    pub fn sample_count(&self) -> f64 {
        self.sketch.count() as f64
    }

    /// Sum of the samples (0 when empty).
    pub fn sum(&self) -> f64 {
        self.sketch.sum().unwrap_or(0.0)
    }

    /// Sum / count (`None` when empty).
    pub fn average(&self) -> Option<f64> {
        (self.sketch.count() > 0).then(|| self.sum() / self.sample_count())
    }

    /// Smallest sample.
    pub fn minimum(&self) -> Option<f64> {
        self.sketch.min()
    }

    /// Largest sample.
    pub fn maximum(&self) -> Option<f64> {
        self.sketch.max()
    }

    /// The `p`th percentile (`0 < p < 100`), within [`PERCENTILE_RELATIVE_ERROR`].
    pub fn percentile(&self, p: f64) -> Option<f64> {
        self.sketch.quantile(p / 100.0).ok().flatten()
    }
}

/// The bucket sizes samples are kept at, finest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    /// 10-second buckets (high resolution), kept 3 hours.
    TenSeconds,
    /// 1-minute buckets, kept 15 days.
    Minute,
    /// 5-minute buckets, kept 63 days.
    FiveMinutes,
    /// 1-hour buckets, kept 455 days (15 months).
    Hour,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 4] =
        [Resolution::TenSeconds, Resolution::Minute, Resolution::FiveMinutes, Resolution::Hour];

    /// Bucket size in ms.
    pub fn bucket_ms(self) -> i64 {
        match self {
            Resolution::TenSeconds => 10_000,
            Resolution::Minute => 60_000,
            Resolution::FiveMinutes => 300_000,
            Resolution::Hour => 3_600_000,
        }
    }

    /// How long buckets are kept, in ms (CloudWatch's retention schedule).
    pub fn retention_ms(self) -> i64 {
        const DAY: i64 = 86_400_000;
        match self {
            Resolution::TenSeconds => 3 * 3_600_000,
            Resolution::Minute => 15 * DAY,
            Resolution::FiveMinutes => 63 * DAY,
            Resolution::Hour => 455 * DAY,
        }
    }

    /// The start of the bucket holding `timestamp_ms`.
    pub fn bucket_of(self, timestamp_ms: i64) -> i64 {
        timestamp_ms.div_euclid(self.bucket_ms()) * self.bucket_ms()
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_count_sum_min_max() {
        let mut a = Aggregate::default();
        assert_eq!(a.sample_count(), 0.0);
        assert_eq!(a.average(), None);
        for v in [3.0, -1.0, 10.0] {
            a.add(v);
        }
        let mut b = Aggregate::of(2.0);
        b.merge(&a);
        assert_eq!(b.sample_count(), 4.0);
        assert_eq!(b.sum(), 14.0);
        assert_eq!(b.minimum(), Some(-1.0));
        assert_eq!(b.maximum(), Some(10.0));
        assert_eq!(b.average(), Some(3.5));
    }

    #[test]
    fn percentiles_are_within_the_stated_error() {
        let mut a = Aggregate::default();
        // 1..=10_000 shuffled by a multiplicative step (no repeats, not sorted).
        for i in 0..10_000u64 {
            a.add(((i * 7_919) % 10_000 + 1) as f64);
        }
        for p in [50.0, 90.0, 99.0, 99.9] {
            let exact = (p / 100.0 * 9_999.0_f64).floor() + 1.0;
            let got = a.percentile(p).unwrap();
            assert!(
                (got - exact).abs() <= exact * PERCENTILE_RELATIVE_ERROR + 1.0,
                "p{p}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn buckets_floor_negative_times_too() {
        assert_eq!(Resolution::Minute.bucket_of(-1), -60_000);
        assert_eq!(Resolution::TenSeconds.bucket_of(19_999), 10_000);
    }
}
