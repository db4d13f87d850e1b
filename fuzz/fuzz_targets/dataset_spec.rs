//! Dataset specs on arbitrary UTF-8: a located error or a spec, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(spec) = cts_dataset::Spec::parse(text, "fuzz.toml") {
        // What a manifest records must read back to the same spec.
        let json = serde_json::to_value(&spec).expect("a spec serializes");
        assert_eq!(cts_dataset::Spec::from_json(&json).expect("reads back"), spec);
    }
});
