//! logsight's integration tests: one binary, a module per area.

mod arch;
mod cli_offline;
mod compression;
mod query_cli;
mod support;
mod test_pattern_cli;
