//! logsight's storage engine.

pub mod msgcodec;
