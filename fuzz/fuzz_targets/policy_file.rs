//! Behaviour-policy files on arbitrary UTF-8: a located error or policies, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = cts_dataset::policy::parse_policies(text, "fuzz.toml");
});
