//! An evaluation run folder's files (`run.json`, `items.jsonl`, handed to
//! `cts verify` by whoever sends the folder) never panic the parsers, and
//! whatever parses re-scores without panicking.
#![no_main]

use std::path::Path;

use cts_runner::eval::ScoringMode;
use cts_runner::record::{parse_items, parse_manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_manifest(Path::new("run.json"), data);
    if let Ok(items) = parse_items(Path::new("items.jsonl"), data) {
        for item in &items {
            let _ = item.rescored(ScoringMode::Loglik);
            let _ = item.rescored(ScoringMode::Generate);
            let _ = item.decision();
        }
    }
});
