//! MedQA JSONL import on arbitrary UTF-8: all or nothing, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(records) = cts_cases::import::parse_medqa("fuzz.jsonl", text) {
        // Every record names its gold option, and becomes a valid case.
        assert!(records.iter().all(|r| r.gold_text().is_some()));
        let _ = cts_cases::import::records_to_cases("fuzz.jsonl", &records, "medqa", "fuzz");
    }
});
