//! MMLU CSV import on arbitrary UTF-8: all or nothing, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = cts_cases::import::parse_mmlu("anatomy_test.csv", text);
});
