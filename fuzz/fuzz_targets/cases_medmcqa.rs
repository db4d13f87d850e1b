//! MedMCQA JSONL import (all three shapes) on arbitrary UTF-8: all or nothing, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(file) = cts_cases::import::parse_medmcqa("fuzz.jsonl", text) {
        assert!(file.records.iter().all(|r| r.gold_text().is_some()));
    }
});
