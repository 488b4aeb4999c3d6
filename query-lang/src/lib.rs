//! logsight's two languages, as syntax: text in, a typed tree or a precise error out.
//!
//! - [`insights`]: the Logs Insights pipeline language (`fields | filter | stats ...`): lexer,
//!   AST, nom parser, canonical printer. It knows no storage, schema or engine; meaning is
//!   checked later by the planner.
//! - [`pattern`]: CloudWatch filter patterns (terms, `%regex%`, `{ $.json }`, `[space, delimited]`),
//!   compiled into matchers used by FilterLogEvents, metric filters and live tail.

pub mod insights;
pub mod pattern;
