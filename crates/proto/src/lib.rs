//! logsight's gRPC API: the code generated from `proto/logs.proto` and `proto/watch.proto`
//! (package `logsight.v1`).
//!
//! Generated code, and the [`codec`] it uses. The server converts these wire types to and from
//! the domain types of `logsight-model` by hand; nothing else depends on this crate but the
//! server and the CLI.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

pub mod codec;

/// Package `logsight.v1`: services `Logs` and `Watch` and their messages.
pub mod v1 {
    tonic::include_proto!("logsight.v1");
}
