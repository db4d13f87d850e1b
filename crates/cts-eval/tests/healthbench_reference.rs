//! HealthBench scoring against numpy (`tests/python/healthbench_reference.py`
//! in `$CTS_PYENV`): every example score, the mean, and the bootstrap
//! standard error over the same seeded resamples.

use std::path::Path;
use std::process::Command;

use cts_eval::healthbench::{example_score, mean_with_bootstrap};
use cts_eval::stats::SplitMix64;
use serde_json::{json, Value};

#[test]
fn example_scores_mean_and_bootstrap_se_equal_numpy() {
    let env = std::env::var_os("CTS_PYENV").unwrap_or_else(|| {
        panic!("CTS_PYENV is not set: this test checks HealthBench scoring against numpy (scripts/test creates the environment)")
    });
    let python = Path::new(&env).join("bin/python");
    assert!(python.exists(), "{} is missing", python.display());
    // 40 synthetic examples: 2–6 criteria each, points −8..10 (never all
    // non-positive), met drawn from a fixed stream.
    let mut rng = SplitMix64::new(7);
    let examples: Vec<Vec<(f64, bool)>> = (0..40)
        .map(|_| {
            let k = 2 + rng.below(5) as usize;
            let mut ex: Vec<(f64, bool)> = (0..k)
                .map(|_| (rng.below(19) as f64 - 8.0, rng.below(2) == 1))
                .collect();
            ex[0].0 = 1.0 + rng.below(9) as f64;
            ex
        })
        .collect();
    let (resamples, seed) = (500, 42);
    let case = json!({"examples": examples, "resamples": resamples, "seed": seed});
    let mut file = tempfile::NamedTempFile::new().expect("temporary file");
    serde_json::to_writer(&mut file, &case).expect("write the case");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/healthbench_reference.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(file.path())
        .output()
        .expect("run the reference script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("reference JSON");
    let scores: Vec<f64> = examples
        .iter()
        .map(|ex| example_score(ex).expect("a positive criterion"))
        .collect();
    for (i, (ours, theirs)) in scores
        .iter()
        .zip(r["scores"].as_array().expect("scores"))
        .enumerate()
    {
        assert!(
            (ours - theirs.as_f64().expect("f64")).abs() < 1e-12,
            "example {i}"
        );
    }
    let s = mean_with_bootstrap(&scores, resamples, seed).expect("a score");
    assert!((s.mean - r["mean"].as_f64().expect("mean")).abs() < 1e-12);
    assert!(
        (s.bootstrap_se - r["se"].as_f64().expect("se")).abs() < 1e-9,
        "ours {}, numpy {}",
        s.bootstrap_se,
        r["se"]
    );
}
