//! Paths shared by the cts-eval tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Path of `rel` under the shared data folder; fails loudly if the folder is missing.
pub fn shared_data(rel: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        root.is_dir(),
        "../shared is missing: these tests read the real PubMedQA and MMLU-medical data from {} \
         (the `shared/` folder next to the repository checkout). Put it back rather than \
         skipping these tests.",
        root.display()
    );
    root.join(rel)
}

/// Path of a synthetic fixture under `testdata/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}
