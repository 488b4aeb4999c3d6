//! Unit tests; the reference tables live in `tests/filter_pattern.rs`.
