//! logsight's integration tests: one binary, a module per area.

mod cli_offline;
mod support;
