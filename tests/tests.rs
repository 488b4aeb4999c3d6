//! Integration tests: one binary, one module per area.
mod placeholder {}
// `logsight query --check`, through the built binary.
mod query_cli;
