//! Every statistic against an implementation CTS did not write: statsmodels,
//! scipy, scikit-learn and numpy, run through `tests/python/stats_reference.py`
//! in the Python environment that `scripts/test` creates (`$CTS_PYENV`); and
//! PubMedQA's published reference figures on the real shared test split.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::shared_data;
use cts_eval::stats::{
    bootstrap_macro, bootstrap_macro_values, cohens_h, holm, macro_micro, mcnemar_exact,
    paired_difference, pubmedqa_score, quantile, wilson, PairedTable, SplitMix64,
    UNPARSEABLE_CLASS, Z_95,
};
use serde::Deserialize;
use serde_json::json;

/// How far our figures may sit from the reference values.
const TOLERANCE: f64 = 1e-9;

fn python() -> PathBuf {
    let Some(env) = std::env::var_os("CTS_PYENV") else {
        panic!(
            "CTS_PYENV is not set: this test checks cts-eval's statistics against statsmodels, \
             scipy and scikit-learn. Run scripts/test (which creates the environment), or set \
             CTS_PYENV to a virtual environment that has them installed."
        );
    };
    let python = Path::new(&env).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: CTS_PYENV must be a virtual environment with statsmodels, scipy and \
         scikit-learn installed (scripts/test creates one)",
        python.display()
    );
    python
}

#[derive(Deserialize)]
struct Reference {
    wilson: Vec<[f64; 2]>,
    mcnemar: Vec<f64>,
    holm: Vec<Vec<f64>>,
    paired: Vec<[f64; 3]>,
    cohen_h: Vec<f64>,
    pubmedqa: Vec<[f64; 2]>,
    quantile: Vec<Vec<f64>>,
    macro_: Vec<[f64; 2]>,
}

fn reference(cases: &serde_json::Value) -> Reference {
    let mut file = tempfile::NamedTempFile::new().expect("create a temporary file");
    serde_json::to_writer(&mut file, cases).expect("write the cases");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/stats_reference.py");
    let python = python();
    let out = Command::new(&python)
        .arg(&script)
        .arg(file.path())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{} {} failed (are statsmodels, scipy and scikit-learn installed in CTS_PYENV?):\n{}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).replace("\"macro\"", "\"macro_\"");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("reference output is not the expected JSON ({e}):\n{text}"))
}

fn close(what: &str, ours: f64, theirs: f64) {
    assert!(
        (ours - theirs).abs() <= TOLERANCE,
        "{what}: ours {ours} vs reference {theirs}"
    );
}

fn tables(rng: &mut SplitMix64) -> Vec<[u64; 4]> {
    let mut out = vec![
        [10, 0, 0, 10],
        [0, 1, 0, 0],
        [40, 3, 9, 48],
        [500, 80, 120, 300],
        [2000, 700, 760, 1000],
        [0, 0, 5, 0],
        [1, 0, 0, 0],
    ];
    for _ in 0..40 {
        let scale = 1 + rng.below(300);
        out.push([0; 4].map(|_| rng.below(scale)));
    }
    out.retain(|t| t.iter().sum::<u64>() > 0);
    out
}

fn table(t: [u64; 4]) -> PairedTable {
    PairedTable {
        both: t[0],
        only_a: t[1],
        only_b: t[2],
        neither: t[3],
    }
}

#[test]
fn statistics_match_statsmodels_scipy_sklearn_and_numpy() {
    let mut rng = SplitMix64::new(12);
    let mut wilson_cases: Vec<[u64; 2]> = vec![
        [0, 1],
        [1, 1],
        [0, 10],
        [10, 10],
        [5, 10],
        [276, 500],
        [1, 1089],
        [550, 1089],
    ];
    for _ in 0..50 {
        let n = 1 + rng.below(3000);
        wilson_cases.push([rng.below(n + 1), n]);
    }
    let paired_cases = tables(&mut rng);
    let mut holm_cases: Vec<Vec<f64>> = vec![
        vec![0.01, 0.04, 0.03, 0.5],
        vec![0.02, 0.02, 0.02],
        vec![1.0, 0.9, 0.001],
        vec![0.3],
    ];
    for _ in 0..20 {
        let m = 1 + rng.below(8) as usize;
        holm_cases.push((0..m).map(|_| rng.below(1_000_001) as f64 / 1e6).collect());
    }
    let cohen_cases: Vec<[f64; 2]> = (0..30)
        .map(|_| {
            [
                rng.below(1001) as f64 / 1000.0,
                rng.below(1001) as f64 / 1000.0,
            ]
        })
        .chain([[0.0, 1.0], [0.5, 0.5], [0.796, 0.552]])
        .collect();
    let labels = ["yes", "no", "maybe"];
    let mut pubmed_cases: Vec<(Vec<&str>, Vec<Option<&str>>)> = Vec::new();
    for i in 0..20 {
        let n = 5 + rng.below(300) as usize;
        let gold: Vec<&str> = (0..n).map(|_| labels[rng.below(3) as usize]).collect();
        let pred: Vec<Option<&str>> = (0..n)
            .map(|_| match rng.below(10) {
                0 if i % 2 == 0 => None,
                k => Some(labels[(k % (if i % 3 == 0 { 2 } else { 3 })) as usize]),
            })
            .collect();
        pubmed_cases.push((gold, pred));
    }
    let quantile_cases: Vec<Vec<f64>> = (0..10)
        .map(|_| {
            let n = 1 + rng.below(500) as usize;
            (0..n)
                .map(|_| rng.below(10_000) as f64 / 10_000.0)
                .collect()
        })
        .collect();
    let qs = [0.0, 0.025, 0.5, 0.975, 1.0];
    let macro_cases: Vec<Vec<[u64; 2]>> = (0..10)
        .map(|_| {
            (0..1 + rng.below(5))
                .map(|_| {
                    let n = 1 + rng.below(1000);
                    [rng.below(n + 1), n]
                })
                .collect()
        })
        .collect();

    let cases = json!({
        "wilson": wilson_cases,
        "mcnemar": paired_cases,
        "holm": holm_cases,
        "paired": paired_cases,
        "cohen_h": cohen_cases,
        "pubmedqa": pubmed_cases.iter().map(|(g, p)| json!({
            "gold": g,
            "pred": p.iter().map(|x| x.unwrap_or(UNPARSEABLE_CLASS)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "quantile": quantile_cases.iter().map(|v| json!({"values": v, "q": qs})).collect::<Vec<_>>(),
        "macro": macro_cases,
    });
    let r = reference(&cases);
    assert_eq!(r.wilson.len(), wilson_cases.len());
    assert_eq!(r.mcnemar.len(), paired_cases.len());
    assert_eq!(r.holm.len(), holm_cases.len());
    assert_eq!(r.paired.len(), paired_cases.len());
    assert_eq!(r.cohen_h.len(), cohen_cases.len());
    assert_eq!(r.pubmedqa.len(), pubmed_cases.len());
    assert_eq!(r.quantile.len(), quantile_cases.len());
    assert_eq!(r.macro_.len(), macro_cases.len());

    for ([s, n], [low, high]) in wilson_cases.iter().zip(&r.wilson) {
        let ours = wilson(*s, *n, Z_95).unwrap();
        close(&format!("wilson({s}, {n}).low"), ours.low, low.max(0.0));
        close(&format!("wilson({s}, {n}).high"), ours.high, high.min(1.0));
    }
    for (t, p) in paired_cases.iter().zip(&r.mcnemar) {
        close(&format!("mcnemar {t:?}"), mcnemar_exact(&table(*t)), *p);
    }
    for (ps, adjusted) in holm_cases.iter().zip(&r.holm) {
        assert_eq!(adjusted.len(), ps.len());
        for (ours, theirs) in holm(ps).iter().zip(adjusted) {
            close(&format!("holm {ps:?}"), *ours, *theirs);
        }
    }
    for (t, [d, low, high]) in paired_cases.iter().zip(&r.paired) {
        let ours = paired_difference(&table(*t)).unwrap();
        close(&format!("difference {t:?}"), ours.difference, *d);
        close(&format!("paired low {t:?}"), ours.ci95.low, *low);
        close(&format!("paired high {t:?}"), ours.ci95.high, *high);
    }
    for ([p1, p2], h) in cohen_cases.iter().zip(&r.cohen_h) {
        close(&format!("cohen h {p1} {p2}"), cohens_h(*p1, *p2), *h);
    }
    for ((gold, pred), [acc, f1]) in pubmed_cases.iter().zip(&r.pubmedqa) {
        let ours = pubmedqa_score(gold, pred).unwrap();
        close("pubmedqa accuracy", ours.accuracy, *acc);
        close("pubmedqa macro-F1", ours.macro_f1, *f1);
    }
    for (values, theirs) in quantile_cases.iter().zip(&r.quantile) {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for (q, t) in qs.iter().zip(theirs) {
            close(&format!("quantile {q}"), quantile(&sorted, *q).unwrap(), *t);
        }
    }
    for (groups, [m, u]) in macro_cases.iter().zip(&r.macro_) {
        let counts: Vec<(u64, u64)> = groups.iter().map(|g| (g[0], g[1])).collect();
        let ours = macro_micro(&counts).unwrap();
        close("macro", ours.macro_average, *m);
        close("micro", ours.micro_average, *u);
    }
}

#[test]
fn bootstrap_interval_is_the_numpy_percentile_of_its_resamples() {
    let mut rng = SplitMix64::new(7);
    let outcomes: Vec<Vec<bool>> = [120usize, 500, 1089]
        .iter()
        .map(|&n| (0..n).map(|_| rng.below(100) < 62).collect())
        .collect();
    let values = bootstrap_macro_values(&outcomes, 1000, 42);
    let cases = json!({
        "wilson": [], "mcnemar": [], "holm": [], "paired": [], "cohen_h": [],
        "pubmedqa": [], "macro": [],
        "quantile": [{"values": values, "q": [0.025, 0.975]}],
    });
    let r = reference(&cases);
    assert_eq!(r.quantile.len(), 1);
    let ci = bootstrap_macro(&outcomes, 1000, 42, 0.95).unwrap();
    close("bootstrap low", ci.low, r.quantile[0][0]);
    close("bootstrap high", ci.high, r.quantile[0][1]);
}

/// PubMedQA's README: reference figures on the 500-PMID test split.
fn pubmedqa_test_split() -> (Vec<String>, HashMap<String, serde_json::Value>) {
    let read = |name: &str| {
        let path = shared_data(&format!("pubmedqa/{name}"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let truth: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&read("test_ground_truth.json")).unwrap();
    let ori: HashMap<String, serde_json::Value> =
        serde_json::from_str(&read("ori_pqal.json")).unwrap();
    (truth.keys().cloned().collect(), ori)
}

#[test]
fn always_yes_on_the_pubmedqa_test_split_gives_0_552_and_0_237() {
    let spec = cts_eval::load::BenchmarkSpec::new(
        cts_eval::item::BenchmarkKind::Pubmedqa,
        shared_data("pubmedqa"),
    );
    let items = cts_eval::load::load(&spec).unwrap().items;
    let gold: Vec<&str> = items.iter().map(|i| i.gold_text()).collect();
    // A model that always answers "Answer: yes", read back as the runner will.
    let yes: Vec<Option<&str>> = items
        .iter()
        .map(|i| cts_eval::extract::decision(i, &cts_eval::extract("Answer: yes", i)))
        .collect();
    assert!(yes.iter().all(|d| *d == Some("yes")));
    let score = pubmedqa_score(&gold, &yes).unwrap();
    assert_eq!(score.items, 500);
    assert_eq!(format!("{:.3}", score.accuracy), "0.552");
    assert_eq!(format!("{:.3}", score.macro_f1), "0.237");
    assert_eq!(format!("{:.4}", score.macro_f1), "0.2371");
}

#[test]
fn single_human_rows_on_the_pubmedqa_test_split_match_the_published_figures() {
    let (pmids, ori) = pubmedqa_test_split();
    for (field, accuracy, macro_f1) in [
        ("reasoning_free_pred", "0.9040", "0.8418"),
        ("reasoning_required_pred", "0.7800", "0.7219"),
    ] {
        let gold: Vec<&str> = pmids
            .iter()
            .map(|p| ori[p]["final_decision"].as_str().unwrap())
            .collect();
        let pred: Vec<Option<&str>> = pmids.iter().map(|p| ori[p][field].as_str()).collect();
        let score = pubmedqa_score(&gold, &pred).unwrap();
        assert_eq!(format!("{:.4}", score.accuracy), accuracy, "{field}");
        assert_eq!(format!("{:.4}", score.macro_f1), macro_f1, "{field}");
    }
}

#[test]
fn bootstrap_is_reproducible_and_close_to_the_normal_interval() {
    let mut rng = SplitMix64::new(3);
    let outcomes = vec![(0..500).map(|_| rng.below(10) < 6).collect::<Vec<bool>>()];
    let a = bootstrap_macro(&outcomes, 2000, 9, 0.95).unwrap();
    assert_eq!(a, bootstrap_macro(&outcomes, 2000, 9, 0.95).unwrap());
    assert_ne!(a, bootstrap_macro(&outcomes, 2000, 10, 0.95).unwrap());
    let p = outcomes[0].iter().filter(|c| **c).count() as f64 / 500.0;
    let normal_width = 2.0 * Z_95 * (p * (1.0 - p) / 500.0).sqrt();
    let width = a.high - a.low;
    assert!(
        (width - normal_width).abs() / normal_width < 0.15,
        "bootstrap width {width} vs normal {normal_width}"
    );
    assert!(a.low < p && p < a.high);
}

#[test]
fn degenerate_inputs_give_none_not_nan() {
    assert!(wilson(0, 0, Z_95).is_none());
    assert!(wilson(3, 2, Z_95).is_none());
    assert!(macro_micro(&[]).is_none());
    assert!(macro_micro(&[(1, 2), (0, 0)]).is_none());
    assert!(bootstrap_macro(&[vec![]], 10, 1, 0.95).is_none());
    assert!(pubmedqa_score(&["yes"], &[]).is_none());
    assert!(paired_difference(&table([0, 0, 0, 0])).is_none());
    assert_eq!(mcnemar_exact(&table([5, 0, 0, 5])), 1.0);
}
