//! HealthBench-format example files a user imports, grader replies, and a
//! rubric-graded run folder's files never panic their parsers; whatever
//! parses is scored, re-checked and summarised without panicking.
#![no_main]

use std::path::Path;

use cts_eval::healthbench::{parse_examples, parse_grade};
use cts_runner::healthbench::{parse_manifest, parse_results, HealthbenchRunSummary};
use cts_runner::record::Bootstrap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_examples("fuzz.jsonl", text);
        let _ = parse_grade(text);
    }
    if let Ok(m) = parse_manifest(Path::new("run.json"), data) {
        let _ = m.grader.label();
    }
    if let Ok(results) = parse_results(Path::new("examples.jsonl"), data) {
        let spec = cts_runner::healthbench::grader_spec(Default::default(), 1, 0);
        for r in &results {
            let _ = r.recheck(&spec);
        }
        let boot = Bootstrap {
            resamples: 20,
            seed: 0,
        };
        let _ = HealthbenchRunSummary::compute("fuzz", "fuzz", &spec, &results, boot);
    }
});
