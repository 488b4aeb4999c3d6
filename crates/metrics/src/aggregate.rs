//! One period's aggregate of samples, and the resolutions they are kept at.

use serde::{Deserialize, Serialize};
use sketches_ddsketch::{Config, DDSketch};

use crate::error::{MetricsError, Result};

/// The relative error of [`Aggregate::percentile`]: a returned value is within 1% of a
/// sample whose rank is the requested one (DDSketch's guarantee, with at most 2,048 bins).
pub const PERCENTILE_RELATIVE_ERROR: f64 = 0.01;

/// Sample count, sum, minimum, maximum and a percentile sketch of one period's samples.
///
/// Samples sent as statistic sets (PutMetricData's `StatisticValues`) are known only by their
/// count, sum, minimum and maximum: they are kept beside the sketch, count in every other
/// statistic, and make percentiles unavailable for the period, as in CloudWatch. A set whose
/// samples are all one value (minimum = maximum, at most [`MAX_EXPANDED_SET`] samples) is
/// added to the sketch as that many samples instead, so percentiles stay available.
#[derive(Clone, Serialize, Deserialize)]
pub struct Aggregate {
    sketch: DDSketch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sets: Option<StatisticSet>,
}

/// A statistic set whose samples are all one value is expanded into the sketch up to this many
/// samples; beyond, it stays a set (and percentiles are unavailable).
pub const MAX_EXPANDED_SET: f64 = 1_000.0;

/// Samples known only by their count, sum, minimum and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StatisticSet {
    sample_count: f64,
    sum: f64,
    minimum: f64,
    maximum: f64,
}

impl StatisticSet {
    /// Checks what CloudWatch requires of `StatisticValues`: finite numbers, a positive
    /// sample count, and minimum ≤ maximum.
    pub fn new(sample_count: f64, sum: f64, minimum: f64, maximum: f64) -> Result<StatisticSet> {
        let fields = [
            ("SampleCount", sample_count),
            ("Sum", sum),
            ("Minimum", minimum),
            ("Maximum", maximum),
        ];
        if let Some((field, v)) = fields.iter().find(|(_, v)| !v.is_finite()) {
            return Err(MetricsError::invalid(field, format!("{v} is not a finite number")));
        }
        if sample_count <= 0.0 {
            return Err(MetricsError::invalid(
                "SampleCount",
                format!("{sample_count} must be positive"),
            ));
        }
        if minimum > maximum {
            return Err(MetricsError::invalid(
                "Minimum",
                format!("{minimum} is greater than the Maximum {maximum}"),
            ));
        }
        Ok(StatisticSet { sample_count, sum, minimum, maximum })
    }

    /// How many samples.
    pub fn sample_count(&self) -> f64 {
        self.sample_count
    }

    /// Their sum.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The smallest.
    pub fn minimum(&self) -> f64 {
        self.minimum
    }

    /// The largest.
    pub fn maximum(&self) -> f64 {
        self.maximum
    }

    fn merge(&mut self, o: &StatisticSet) {
        self.sample_count += o.sample_count;
        self.sum += o.sum;
        self.minimum = self.minimum.min(o.minimum);
        self.maximum = self.maximum.max(o.maximum);
    }
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
        Aggregate {
            sketch: DDSketch::new(Config::new(PERCENTILE_RELATIVE_ERROR, 2048, 1.0e-9)),
            sets: None,
        }
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

    /// Adds the samples of a statistic set.
    pub fn add_set(&mut self, set: StatisticSet) {
        let whole = set.sample_count.fract() == 0.0 && set.sample_count <= MAX_EXPANDED_SET;
        if set.minimum == set.maximum && whole {
            for _ in 0..set.sample_count as u32 {
                self.sketch.add(set.minimum);
            }
            return;
        }
        match &mut self.sets {
            Some(s) => s.merge(&set),
            None => self.sets = Some(set),
        }
    }

    /// Merges another aggregate into this one.
    pub fn merge(&mut self, other: &Aggregate) {
        // Both sketches are built with the same configuration, the only case merge refuses.
        self.sketch.merge(&other.sketch).expect("aggregates share one sketch configuration");
        if let Some(set) = &other.sets {
            match &mut self.sets {
                Some(s) => s.merge(set),
                None => self.sets = Some(*set),
            }
        }
    }

    /// Number of samples.
    pub fn sample_count(&self) -> f64 {
        self.sketch.count() as f64 + self.sets.map_or(0.0, |s| s.sample_count)
    }

    /// Sum of the samples (0 when empty).
    pub fn sum(&self) -> f64 {
        self.sketch.sum().unwrap_or(0.0) + self.sets.map_or(0.0, |s| s.sum)
    }

    /// Sum / count (`None` when empty).
    pub fn average(&self) -> Option<f64> {
        (self.sample_count() > 0.0).then(|| self.sum() / self.sample_count())
    }

    /// Smallest sample.
    pub fn minimum(&self) -> Option<f64> {
        let set = self.sets.map(|s| s.minimum);
        match (self.sketch.min(), set) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Largest sample.
    pub fn maximum(&self) -> Option<f64> {
        let set = self.sets.map(|s| s.maximum);
        match (self.sketch.max(), set) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The `p`th percentile (`0 < p < 100`), within [`PERCENTILE_RELATIVE_ERROR`]; `None`
    /// when empty or when the period holds statistic sets (their samples are unknown).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.sets.is_some() {
            return None;
        }
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
    fn statistic_sets_count_everywhere_but_in_percentiles() {
        let mut a = Aggregate::of(4.0);
        a.add_set(StatisticSet::new(10.0, 55.0, 1.0, 10.0).unwrap());
        let mut b = Aggregate::default();
        b.add_set(StatisticSet::new(2.0, 30.0, 12.0, 18.0).unwrap());
        a.merge(&b);
        assert_eq!(a.sample_count(), 13.0);
        assert_eq!(a.sum(), 89.0);
        assert_eq!(a.minimum(), Some(1.0));
        assert_eq!(a.maximum(), Some(18.0));
        assert_eq!(a.percentile(50.0), None, "samples of a set are unknown");
        // A set of equal samples is those samples: percentiles stay available.
        let mut c = Aggregate::of(1.0);
        c.add_set(StatisticSet::new(3.0, 6.0, 2.0, 2.0).unwrap());
        assert_eq!(c.sample_count(), 4.0);
        let p50 = c.percentile(50.0).unwrap();
        assert!((p50 - 2.0).abs() <= 2.0 * PERCENTILE_RELATIVE_ERROR, "{p50}");
        // Sets survive the record and snapshot format.
        let back: Aggregate = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!((back.sample_count(), back.sum(), back.percentile(50.0)), (13.0, 89.0, None));
    }

    #[test]
    fn statistic_sets_are_checked() {
        for (n, sum, min, max, field) in [
            (0.0, 0.0, 0.0, 0.0, "SampleCount"),
            (-1.0, 0.0, 0.0, 0.0, "SampleCount"),
            (1.0, f64::NAN, 0.0, 0.0, "Sum"),
            (1.0, 1.0, 2.0, 1.0, "Minimum"),
            (1.0, 1.0, 0.0, f64::INFINITY, "Maximum"),
        ] {
            match StatisticSet::new(n, sum, min, max) {
                Err(MetricsError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn buckets_floor_negative_times_too() {
        assert_eq!(Resolution::Minute.bucket_of(-1), -60_000);
        assert_eq!(Resolution::TenSeconds.bucket_of(19_999), 10_000);
    }
}
