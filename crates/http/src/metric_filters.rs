//! The metric-filter operations (PutMetricFilter, DescribeMetricFilters, DeleteMetricFilter,
//! TestMetricFilter) in AWS's shapes, over the server's one Watch side: the rules are
//! `logsight-watch`'s and `logsight_server::watch_grpc`'s, shared with the gRPC `Watch` service.

use std::collections::BTreeMap;

use logsight_server::watch_grpc::{describe_metric_filters, one_transformation, put_metric_filter};
use logsight_server::{ServiceError, Shared};
use logsight_watch::{FilterQuery, FilterSpec, MetricFilter, test_metric_filter};
use serde::{Deserialize, Serialize};

use crate::ops::{Empty, Operation, unsupported};

/// A metric transformation, as PutMetricFilter takes it and DescribeMetricFilters shows it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricTransformation {
    metric_name: String,
    metric_namespace: String,
    metric_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_value: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    dimensions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
}

/// PutMetricFilter.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutMetricFilter {
    log_group_name: String,
    filter_name: String,
    filter_pattern: String,
    metric_transformations: Vec<MetricTransformation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apply_on_transformed_logs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field_selection_criteria: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    emit_system_field_dimensions: Option<Vec<String>>,
}

impl Operation for PutMetricFilter {
    const NAME: &'static str = "PutMetricFilter";
    const READ_ONLY: bool = false;
    type Output = Empty;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn validate(&self) -> Result<(), ServiceError> {
        // logsight has no transformers, field selection or system-field dimensions.
        unsupported("applyOnTransformedLogs", self.apply_on_transformed_logs == Some(true))?;
        unsupported("fieldSelectionCriteria", self.field_selection_criteria.is_some())?;
        unsupported(
            "emitSystemFieldDimensions",
            self.emit_system_field_dimensions.as_ref().is_some_and(|d| !d.is_empty()),
        )
    }
    fn audit_parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "logGroupName": self.log_group_name,
            "filterName": self.filter_name,
            "filterPattern": self.filter_pattern,
        })
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Empty, ServiceError> {
        let t = one_transformation(self.metric_transformations)?;
        let spec = FilterSpec {
            group: self.log_group_name,
            name: self.filter_name,
            pattern: self.filter_pattern,
            metric_name: t.metric_name,
            namespace: t.metric_namespace,
            value: t.metric_value,
            default_value: t.default_value,
            dimensions: t.dimensions,
            unit: t.unit.filter(|u| !u.is_empty()),
        };
        put_metric_filter(shared.watch(), shared.service().store(), spec)?;
        Ok(Empty {})
    }
}

/// DescribeMetricFilters.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeMetricFilters {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_group_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    filter_name_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric_namespace: Option<String>,
}

/// A metric filter as DescribeMetricFilters shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricFilterOut {
    filter_name: String,
    filter_pattern: String,
    metric_transformations: Vec<MetricTransformation>,
    creation_time: i64,
    log_group_name: String,
    apply_on_transformed_logs: bool,
}

impl From<&MetricFilter> for MetricFilterOut {
    fn from(f: &MetricFilter) -> Self {
        let s = f.spec();
        MetricFilterOut {
            filter_name: s.name.clone(),
            filter_pattern: s.pattern.clone(),
            metric_transformations: vec![MetricTransformation {
                metric_name: s.metric_name.clone(),
                metric_namespace: s.namespace.clone(),
                metric_value: s.value.clone(),
                default_value: s.default_value,
                dimensions: s.dimensions.clone(),
                unit: s.unit.clone(),
            }],
            creation_time: f.created_ms(),
            log_group_name: s.group.clone(),
            apply_on_transformed_logs: false,
        }
    }
}

/// DescribeMetricFilters' response.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricFilters {
    metric_filters: Vec<MetricFilterOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

impl Operation for DescribeMetricFilters {
    const NAME: &'static str = "DescribeMetricFilters";
    const READ_ONLY: bool = true;
    type Output = MetricFilters;
    fn group(&self) -> Option<&str> {
        self.log_group_name.as_deref()
    }
    fn run(self, shared: &Shared, _: &str) -> Result<MetricFilters, ServiceError> {
        let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let q = FilterQuery {
            group: self.log_group_name,
            name_prefix: nonempty(self.filter_name_prefix),
            metric_name: nonempty(self.metric_name),
            namespace: nonempty(self.metric_namespace),
        };
        let (items, next_token) = describe_metric_filters(
            shared.watch(),
            &q,
            self.limit.unwrap_or(0),
            self.next_token.as_deref(),
        )?;
        Ok(MetricFilters {
            metric_filters: items.iter().map(|f| MetricFilterOut::from(&**f)).collect(),
            next_token,
        })
    }
}

/// DeleteMetricFilter.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteMetricFilter {
    log_group_name: String,
    filter_name: String,
}

impl Operation for DeleteMetricFilter {
    const NAME: &'static str = "DeleteMetricFilter";
    const READ_ONLY: bool = false;
    type Output = Empty;
    fn group(&self) -> Option<&str> {
        Some(&self.log_group_name)
    }
    fn run(self, shared: &Shared, _: &str) -> Result<Empty, ServiceError> {
        shared.watch().filters().delete(&self.log_group_name, &self.filter_name)?;
        Ok(Empty {})
    }
}

/// TestMetricFilter.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestMetricFilter {
    filter_pattern: String,
    /// Missing is none, refused by the rule of 1 to 50 messages.
    #[serde(default)]
    log_event_messages: Vec<String>,
}

/// One matching message.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchRecord {
    event_number: u64,
    event_message: String,
    extracted_values: BTreeMap<String, String>,
}

/// TestMetricFilter's response.
#[derive(Debug, Serialize)]
pub struct Matches {
    matches: Vec<MatchRecord>,
}

impl Operation for TestMetricFilter {
    const NAME: &'static str = "TestMetricFilter";
    const READ_ONLY: bool = true;
    type Output = Matches;
    fn group(&self) -> Option<&str> {
        None
    }
    fn audit_parameters(&self) -> serde_json::Value {
        // The messages are event bodies: only their count is recorded.
        serde_json::json!({
            "filterPattern": self.filter_pattern,
            "logEventMessageCount": self.log_event_messages.len(),
        })
    }
    fn run(self, _: &Shared, _: &str) -> Result<Matches, ServiceError> {
        let matches = test_metric_filter(&self.filter_pattern, &self.log_event_messages)?
            .into_iter()
            .map(|m| MatchRecord {
                event_number: m.event_number,
                event_message: m.message,
                extracted_values: m.extracted,
            })
            .collect();
        Ok(Matches { matches })
    }
}
