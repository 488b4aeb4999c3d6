//! The integration test binary: one module per area.

mod placeholder {}
mod test_pattern_cli;
