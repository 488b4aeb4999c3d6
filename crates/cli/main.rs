//! The `logsight` command.

fn main() {}
