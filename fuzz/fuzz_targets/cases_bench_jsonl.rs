//! User benchmark JSONL import on arbitrary UTF-8: all or nothing, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(records) = cts_cases::import::parse_bench_jsonl("fuzz.jsonl", text) {
        assert!(records.iter().all(|r| r.gold_text().is_some()));
    }
});
