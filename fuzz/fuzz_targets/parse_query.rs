//! Fuzzes the Logs Insights parser: no input may panic, errors must lie inside the input,
//! and whatever parses must print to text that parses back to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logsight_query_lang::insights;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match insights::parse(text) {
        Ok(query) => {
            let printed = query.to_string();
            assert_eq!(insights::parse(&printed), Ok(query), "canonical form {printed:?}");
        }
        Err(err) => {
            assert!(err.start <= err.end && err.end <= text.chars().count(), "{err:?}");
            let _ = err.render(text);
        }
    }
});
