//! logsight's integration tests: one binary, a module per area.

mod cli_offline;
mod server_api;
mod server_cli;
mod support;
