//! The core of logsight's Queries API, without any transport: the gRPC service and the HTTP
//! API are thin front ends over it.
//!
//! - [`manager`]: [`QueryManager`] runs queries on the engine (StartQuery, GetQueryResults,
//!   StopQuery, DescribeQueries): a queue in front of a fixed number of slots, so that extra
//!   queries wait as `Scheduled` instead of being refused; results kept for a time and a byte
//!   bound; cancellation through the engine's token.
//! - [`definitions`]: saved queries, persisted atomically in the data directory.
//! - [`records`]: GetLogRecord (from `@ptr`) and GetLogGroupFields.
//!
//! Every call here may block (locks, fsync, storage reads); async callers run them on a
//! blocking thread. Query CPU work runs on the engine's pool.

pub mod definitions;
mod error;
pub mod manager;
pub mod records;

pub use definitions::{DefinitionList, Definitions, PutDefinition, QueryDefinition};
pub use error::{QueryError, Result};
pub use logsight_engine::{EngineConfig, Statistics};
pub use manager::{
    DescribeFilter, Load, ManagerConfig, QueryInfo, QueryList, QueryManager, QueryStatus,
    ResultsPage, StartQuery,
};
pub use records::{FieldShare, RecordField, group_fields, log_record};
