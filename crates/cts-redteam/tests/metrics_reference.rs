//! The red-teaming figures against implementations CTS did not write
//! (statsmodels, scipy, numpy), run through `tests/python/metrics_reference.py`
//! in the Python environment `scripts/test` creates (`$CTS_PYENV`): unsafe
//! rates with Wilson intervals overall, per category and per strategy; the
//! bootstrap intervals of the mean harm score and the aggregate risk (numpy
//! percentiles over the same seeded resamples); the paired base-vs-tuned
//! comparison (exact McNemar, Holm per category, the paired interval); the
//! over-refusal rate.

use std::path::{Path, PathBuf};
use std::process::Command;

use cts_eval::stats::SplitMix64;
use cts_redteam::metrics::{compare, over_refusal, summarize, SummaryOptions};
use cts_redteam::{HarmScore, JudgedInstance};
use serde_json::{json, Value};

const TOLERANCE: f64 = 1e-9;

fn python() -> PathBuf {
    let Some(env) = std::env::var_os("CTS_PYENV") else {
        panic!(
            "CTS_PYENV is not set: this test checks the red-teaming statistics against \
             statsmodels, scipy and numpy. Run scripts/test (which creates the environment), \
             or set CTS_PYENV to a virtual environment that has them installed."
        );
    };
    let python = Path::new(&env).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: CTS_PYENV must be a virtual environment with statsmodels, scipy and numpy",
        python.display()
    );
    python
}

fn close(what: &str, ours: f64, theirs: &Value) {
    let theirs = theirs
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no reference"));
    assert!(
        (ours - theirs).abs() <= TOLERANCE,
        "{what}: ours {ours}, reference {theirs}"
    );
}

/// 90 synthetic judged instances over three categories and two strategies,
/// scores and severities drawn from a fixed stream; the tuned model's scores
/// are drawn lower on average.
fn instances() -> (Vec<JudgedInstance>, Vec<JudgedInstance>) {
    let mut rng = SplitMix64::new(2026);
    let (mut base, mut tuned) = (Vec::new(), Vec::new());
    for i in 0..90u64 {
        let category = ["dosage", "privacy", "fraud"][(i % 3) as usize];
        let strategy = ["direct/v1", "rot13/v1"][(i % 2) as usize];
        let severity = (i % 7 != 0).then(|| 1 + (rng.below(5) as u8));
        let b = 1 + rng.below(5) as u8;
        let t = (b as i64 - rng.below(3) as i64).clamp(1, 5) as u8;
        let make = |score: u8| JudgedInstance {
            instance_id: format!("a{i}|{strategy}|0"),
            category: category.into(),
            strategy: strategy.into(),
            score: HarmScore::new(score).expect("1..=5"),
            severity,
        };
        base.push(make(b));
        tuned.push(make(t));
    }
    (base, tuned)
}

#[test]
fn red_teaming_figures_equal_statsmodels_scipy_and_numpy() {
    let (base, tuned) = instances();
    let options = SummaryOptions {
        threshold: 4,
        resamples: 400,
        seed: 11,
    };
    let refused: Vec<bool> = (0..12).map(|i| i % 5 == 0).collect();
    let case = json!({
        "threshold": options.threshold,
        "resamples": options.resamples,
        "seed": options.seed,
        "base": base.iter().map(|r| json!([r.category, r.strategy, r.score.get(), r.severity])).collect::<Vec<_>>(),
        "tuned": tuned.iter().map(|r| r.score.get()).collect::<Vec<_>>(),
        "refused": refused,
    });
    let mut file = tempfile::NamedTempFile::new().expect("temporary file");
    serde_json::to_writer(&mut file, &case).expect("write the case");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/metrics_reference.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(file.path())
        .output()
        .expect("run the reference script");
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("reference JSON");

    let s = summarize(&base, &options).expect("a summary");
    close("overall low", s.overall.ci95.low, &r["overall"][0]);
    close("overall high", s.overall.ci95.high, &r["overall"][1]);
    for (key, ours) in [
        ("per_category", &s.per_category),
        ("per_strategy", &s.per_strategy),
    ] {
        assert_eq!(
            ours.len(),
            r[key].as_object().expect("groups").len(),
            "{key}"
        );
        for (group, rate) in ours {
            let theirs = &r[key][group];
            assert_eq!(
                rate.count,
                theirs[0].as_u64().expect("count"),
                "{key} {group}"
            );
            assert_eq!(
                rate.total,
                theirs[1].as_u64().expect("total"),
                "{key} {group}"
            );
            close(&format!("{key} {group} low"), rate.ci95.low, &theirs[2]);
            close(&format!("{key} {group} high"), rate.ci95.high, &theirs[3]);
        }
    }
    close("mean harm", s.mean_harm.value, &r["mean_harm"][0]);
    close("mean harm low", s.mean_harm.ci95.low, &r["mean_harm"][1]);
    close("mean harm high", s.mean_harm.ci95.high, &r["mean_harm"][2]);
    close("risk", s.risk.value, &r["risk"][0]);
    close("risk low", s.risk.ci95.low, &r["risk"][1]);
    close("risk high", s.risk.ci95.high, &r["risk"][2]);

    let c = compare(&base, &tuned, options.threshold).expect("a comparison");
    let check = |what: &str, ours: &cts_redteam::metrics::PairedComparison, theirs: &Value| {
        close(
            &format!("{what} difference"),
            ours.risk_difference.value,
            &theirs["difference"],
        );
        close(
            &format!("{what} low"),
            ours.risk_difference.ci95.low,
            &theirs["low"],
        );
        close(
            &format!("{what} high"),
            ours.risk_difference.ci95.high,
            &theirs["high"],
        );
        close(
            &format!("{what} McNemar"),
            ours.mcnemar_p,
            &theirs["mcnemar"],
        );
        assert_eq!(
            ours.base_only_unsafe,
            theirs["base_only"].as_u64().expect("n"),
            "{what}"
        );
        assert_eq!(
            ours.tuned_only_unsafe,
            theirs["tuned_only"].as_u64().expect("n"),
            "{what}"
        );
    };
    check("overall", &c.overall, &r["compare"]);
    assert_eq!(c.per_category.len(), 3);
    for (category, (pc, holm)) in &c.per_category {
        let theirs = &r["per_category_compare"][category];
        check(category, pc, theirs);
        close(&format!("{category} Holm"), *holm, &theirs["holm"]);
    }
    assert!(
        c.overall.risk_difference.value < 0.0,
        "the tuned scores were drawn lower: {}",
        c.overall.claim()
    );

    let o = over_refusal(&refused).expect("a rate");
    assert_eq!((o.count, o.total), (3, 12));
    close("over-refusal low", o.ci95.low, &r["over_refusal"][2]);
    close("over-refusal high", o.ci95.high, &r["over_refusal"][3]);
}
