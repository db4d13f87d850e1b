//! Attack sets a user imports (MedSafetyBench CSV, plain text, JSONL) and
//! the replies a judge model writes never panic their parsers; whatever
//! parses transforms under every strategy without panicking.
#![no_main]

use cts_redteam::attack::{parse_jsonl, parse_medsafetybench, parse_plain};
use cts_redteam::{detect_refusal, parse_verdict, Strategy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_verdict(text);
    let _ = detect_refusal(text);
    let category = data.first().map_or(1, |b| b % 10);
    let mut parsed = Vec::new();
    if let Ok(p) = parse_medsafetybench("fuzz_category_1.csv", category, text) {
        parsed.extend(p);
    }
    if let Ok(p) = parse_plain("fuzz.txt", "fuzz", text) {
        parsed.extend(p);
    }
    if let Ok(p) = parse_jsonl("fuzz.jsonl", text) {
        parsed.extend(p);
    }
    for attack in parsed.iter().take(4) {
        for s in Strategy::all() {
            let _ = s.apply(attack);
        }
    }
});
