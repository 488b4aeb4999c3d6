//! Compiles the first line of the input as a filter pattern and matches the other lines.
//!
//! Checks that nothing panics, that `matches` and `extract` agree, and that errors point
//! inside the pattern.

#![no_main]

use libfuzzer_sys::fuzz_target;
use logsight_query_lang::pattern::FilterPattern;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, messages) = text.split_once('\n').unwrap_or((&text, ""));
    match FilterPattern::compile(pattern) {
        Ok(p) => {
            for message in messages.split('\n') {
                assert_eq!(p.matches(message), p.extract(message).is_some());
            }
        }
        Err(e) => {
            assert!(e.offset <= pattern.chars().count());
            let _ = e.render(pattern);
        }
    }
});
