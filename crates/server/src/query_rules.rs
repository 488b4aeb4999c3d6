//! The checks of the Queries requests that both front ends share (gRPC's `Queries` service and
//! the HTTP API's Insights operations): times, limits, page sizes and status names as the
//! requests carry them, turned into `logsight-queries`' checked types.

use logsight_queries::{QueryStatus, StartQuery};

use crate::error::ServiceError;

type Result<T> = std::result::Result<T, ServiceError>;

/// A StartQuery request as either front end receives it (times in epoch seconds), checked.
pub fn start_request(
    query: String,
    groups: Vec<String>,
    start_s: i64,
    end_s: i64,
    limit: Option<i32>,
) -> Result<StartQuery> {
    let limit = match limit {
        None => None,
        Some(l) => Some(
            usize::try_from(l)
                .map_err(|_| ServiceError::invalid(format!("limit must be positive, found {l}")))?,
        ),
    };
    Ok(StartQuery::new(query, groups, start_s, end_s, limit)?)
}

/// DescribeQueries' `status` filter: empty is none.
pub fn status_filter(status: &str) -> Result<Option<QueryStatus>> {
    match status {
        "" => Ok(None),
        s => Ok(Some(QueryStatus::from_name(s).ok_or_else(|| {
            ServiceError::invalid(format!(
                "status must be one of Scheduled, Running, Complete, Failed, Cancelled, \
                 Timeout; found {}",
                crate::error::shown(s)
            ))
        })?)),
    }
}

/// GetLogGroupFields' time (epoch seconds; 0: now) in epoch milliseconds.
pub fn fields_time_ms(time_s: i64, now_ms: i64) -> i64 {
    if time_s == 0 { now_ms } else { time_s.saturating_mul(1000) }
}

/// A page size as the requests carry it: 0 is the default, a negative one is refused.
pub fn count(value: i32, field: &str) -> Result<Option<usize>> {
    match value {
        0 => Ok(None),
        v if v < 0 => Err(ServiceError::invalid(format!("{field} must be positive, found {v}"))),
        v => Ok(Some(v as usize)),
    }
}
