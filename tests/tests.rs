//! logsight's integration tests: one binary, a module per area.

mod arch;
mod cli_conventions;
mod cli_offline;
mod compression;
mod data_dir_faults;
mod grpc_auth;
mod http_api;
mod http_queries;
mod live_tail;
mod queries_api;
mod query_cli;
mod repl;
mod server_api;
mod server_cli;
mod server_hardening;
mod soak;
mod support;
mod test_pattern_cli;
mod tls;
mod watch_api;
