//! PubMedQA `ori_pqal.json` and `test_ground_truth.json` parsing on arbitrary UTF-8: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = cts_cases::import::parse_pubmedqa("ori_pqal.json", text);
    let _ = cts_cases::import::parse_pubmedqa_ground_truth("test_ground_truth.json", text);
});
