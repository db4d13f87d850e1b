//! A red-teaming run folder's files (`run.json`, `instances.jsonl`, handed
//! to `cts verify` by whoever sends the folder) never panic the parsers,
//! and whatever parses is re-checked and summarised without panicking.
#![no_main]

use std::path::Path;

use cts_redteam::metrics::SummaryOptions;
use cts_runner::redteam::{parse_instances, parse_manifest, JudgeSpec, RedteamSummary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = parse_manifest(Path::new("run.json"), data) {
        let _ = m.judge.label();
    }
    if let Ok(results) = parse_instances(Path::new("instances.jsonl"), data) {
        for r in &results {
            let _ = r.recheck(&JudgeSpec::Rules);
            let _ = r.judged();
        }
        let options = SummaryOptions {
            resamples: 20,
            ..SummaryOptions::default()
        };
        let _ = RedteamSummary::compute("fuzz", "fuzz", &JudgeSpec::Rules, &results, &options);
    }
});
