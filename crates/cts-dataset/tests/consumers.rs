//! Every export loads with the real consumer: Hugging Face `datasets` (what
//! TRL's SFT, DPO, KTO and PRM trainers read data through), in the Python
//! environment `scripts/test` creates (`$CTS_PYENV`).

mod common;

use std::path::Path;
use std::process::Command;

#[tokio::test]
async fn every_export_loads_with_hugging_face_datasets() {
    let Some(env) = std::env::var_os("CTS_PYENV") else {
        panic!(
            "CTS_PYENV is not set: this test loads every export with the Python `datasets` \
             package. Run scripts/test (which creates the environment), or set CTS_PYENV to a \
             virtual environment with datasets installed."
        );
    };
    let python = Path::new(&env).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing (scripts/test creates it)",
        python.display()
    );
    let f = common::fixture().await;
    let out = f.path("release");
    f.build(common::SPEC, &out, None, true).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/load_release.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(&out)
        .env("HF_DATASETS_OFFLINE", "1")
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", f.path("hf-home"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "datasets refused the release:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for export in ["sft", "dpo", "dpo-flat", "kto", "prm", "prm-rich"] {
        let total: u64 = summary["exports"][export]
            .as_object()
            .unwrap_or_else(|| panic!("{export} missing from {summary}"))
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert!(total > 0, "{export}: no rows loaded");
    }
}
