//! Arbitrary text through the parser: segment files and inline expressions. Errors are
//! fine; panics, hangs and stack overflows are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = segql_grammar::parse_file("fuzz.seg", text);
        let _ = segql_grammar::parse_expr("fuzz", text);
    }
});
