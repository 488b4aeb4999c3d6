//! Alarms, as pure functions: the alarm model ([`model`]), CloudWatch's evaluation of a metric
//! alarm over a window of datapoints ([`evaluate`]) and composite alarm rules ([`composite`]).
//!
//! Nothing here reads a clock, a file or a metric: the caller fetches the datapoints of
//! [`evaluation_window`] for the time it chooses and passes them to [`evaluate`], so both
//! tables of the reference (§4.3) are tests, row by row.

pub mod composite;
pub mod error;
pub mod evaluate;
pub mod model;

pub use composite::{AlarmRule, StateLookup};
pub use error::AlarmError;
pub use evaluate::{Datapoint, EvaluationWindow, Outcome, evaluate, evaluation_window};
pub use model::{
    AlarmAction, AlarmSpec, AlarmState, ComparisonOperator, LowSampleCount, MetricAlarm, MetricRef,
    Period, Statistic, TreatMissingData,
};
