//! Rubric documents on arbitrary UTF-8: a located error or a rubric, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = cts_review::Rubric::parse(text, "fuzz.toml");
});
