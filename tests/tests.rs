mod placeholder {}
mod test_pattern_cli;
