//! The PHI guard on arbitrary UTF-8: never a panic; findings are in-bounds, on
//! character boundaries, sorted and non-overlapping.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let findings = cts_cases::phi::scan(text);
    let mut end = 0;
    for f in &findings {
        assert!(f.span.start >= end && f.span.start < f.span.end);
        assert!(text.get(f.span.clone()).is_some());
        end = f.span.end;
    }
});
