//! Agreement statistics against their defining properties (proptest) and
//! against an implementation this project did not write: the Python
//! `krippendorff` package, run through `tests/python/krippendorff_reference.py`
//! in the Python environment that `scripts/test` creates (`$CTS_PYENV`).

use std::path::{Path, PathBuf};
use std::process::Command;

use cts_review::agreement::{cohen_kappa, krippendorff_alpha, Alpha, Level};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::json;

const LEVELS: [Level; 3] = [Level::Nominal, Level::Ordinal, Level::Interval];

/// How far our alpha and kappa may sit from the reference values.
const TOLERANCE: f64 = 1e-9;

// ---------------------------------------------------------------------------
// Properties

/// Reliability data: up to 40 units of 0 to 5 values on a 1..=6 scale.
fn units() -> impl Strategy<Value = Vec<Vec<i64>>> {
    prop::collection::vec(prop::collection::vec(1i64..=6, 0..=5), 0..40)
}

/// The same data with units, and values within units, in another order.
fn shuffled(units: &[Vec<i64>], seed: u64) -> Vec<Vec<i64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut units = units.to_vec();
    units.shuffle(&mut rng);
    for unit in &mut units {
        unit.shuffle(&mut rng);
    }
    units
}

fn assert_same_alpha(a: Alpha, b: Alpha) {
    assert_eq!(
        (a.units, a.values, a.categories),
        (b.units, b.values, b.categories)
    );
    match (a.alpha, b.alpha) {
        (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-12, "{x} vs {y}"),
        (x, y) => assert_eq!(x, y),
    }
}

proptest! {
    #[test]
    fn alpha_is_at_most_one(units in units()) {
        for level in LEVELS {
            if let Some(alpha) = krippendorff_alpha(&units, level).alpha {
                prop_assert!(alpha <= 1.0, "{level:?}: {alpha}");
            }
        }
    }

    #[test]
    fn alpha_is_one_when_coders_agree_within_every_unit(
        agreed in prop::collection::vec((1i64..=6, 0usize..=5), 1..30),
    ) {
        let units: Vec<Vec<i64>> = agreed.iter().map(|&(value, coders)| vec![value; coders]).collect();
        let alpha = krippendorff_alpha(&units, Level::Nominal);
        prop_assume!(alpha.categories >= 2);
        for level in LEVELS {
            prop_assert_eq!(krippendorff_alpha(&units, level).alpha, Some(1.0), "{:?}", level);
        }
    }

    #[test]
    fn alpha_does_not_depend_on_unit_or_value_order(units in units(), seed in any::<u64>()) {
        let other = shuffled(&units, seed);
        for level in LEVELS {
            assert_same_alpha(krippendorff_alpha(&units, level), krippendorff_alpha(&other, level));
        }
    }

    #[test]
    fn kappa_is_symmetric_in_the_two_raters(
        pairs in prop::collection::vec((-1i64..=1, -1i64..=1), 0..60),
    ) {
        let swapped: Vec<(i64, i64)> = pairs.iter().map(|&(a, b)| (b, a)).collect();
        prop_assert_eq!(cohen_kappa(&pairs), cohen_kappa(&swapped));
    }
}

// ---------------------------------------------------------------------------
// Reference implementation

fn python() -> PathBuf {
    let Some(env) = std::env::var_os("CTS_PYENV") else {
        panic!(
            "CTS_PYENV is not set: this test checks Krippendorff's alpha against the Python \
             `krippendorff` package. Run scripts/test (which creates the environment), or set \
             CTS_PYENV to a virtual environment that has krippendorff installed."
        );
    };
    let python = Path::new(&env).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: CTS_PYENV must be a virtual environment with krippendorff installed \
         (scripts/test creates one)",
        python.display()
    );
    python
}

/// Random reliability data: `coders` × `units`, values in `range`, each
/// value missing with probability `missing`.
fn random_units(
    seed: u64,
    coders: usize,
    units: usize,
    range: (i64, i64),
    missing: f64,
) -> Vec<Vec<i64>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..units)
        .map(|_| {
            (0..coders)
                .filter_map(|_| {
                    let value = rng.gen_range(range.0..=range.1);
                    (!rng.gen_bool(missing)).then_some(value)
                })
                .collect()
        })
        .collect()
}

fn random_pairs(seed: u64, items: usize, range: (i64, i64), agree: f64) -> Vec<(i64, i64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..items)
        .map(|_| {
            let first = rng.gen_range(range.0..=range.1);
            let second = if rng.gen_bool(agree) {
                first
            } else {
                rng.gen_range(range.0..=range.1)
            };
            (first, second)
        })
        .collect()
}

fn alpha_cases() -> Vec<Vec<Vec<i64>>> {
    let mut cases = vec![
        // Krippendorff (2011), the worked example with missing values.
        vec![
            vec![1, 1, 1],
            vec![2, 2, 3, 2],
            vec![3, 3, 3, 3],
            vec![3, 3, 3, 3],
            vec![2, 2, 2, 2],
            vec![1, 2, 3, 4],
            vec![4, 4, 4, 4],
            vec![1, 1, 2, 1],
            vec![2, 2, 2, 2],
            vec![5, 5, 5],
            vec![1, 1],
            vec![3],
        ],
        // PRM800K-style step labels.
        vec![
            vec![-1, 0],
            vec![1, 1],
            vec![1, 0, 1],
            vec![-1, -1],
            vec![0],
            vec![1, -1],
        ],
        // Undefined: one value throughout, one pairable value, nothing pairable.
        vec![vec![2, 2], vec![2, 2, 2]],
        vec![vec![2, 2], vec![7]],
        vec![vec![1], vec![2], vec![]],
        // A single unit.
        vec![vec![1, 3, 3, 4]],
    ];
    let shapes: [(usize, usize, (i64, i64), f64); 10] = [
        (2, 10, (1, 2), 0.0),
        (2, 50, (1, 5), 0.1),
        (3, 30, (1, 3), 0.3),
        (4, 12, (1, 5), 0.25),
        (5, 80, (-1, 1), 0.4),
        (3, 200, (1, 7), 0.2),
        (6, 40, (0, 100), 0.5),
        (2, 5, (1, 4), 0.6),
        (10, 25, (-20, 20), 0.3),
        (3, 60, (1, 10), 0.0),
    ];
    for (seed, &(coders, units, range, missing)) in shapes.iter().enumerate() {
        cases.push(random_units(seed as u64, coders, units, range, missing));
    }
    cases
}

fn kappa_cases() -> Vec<Vec<(i64, i64)>> {
    let mut cases = vec![
        vec![],
        vec![(1, 1), (1, 1)],
        vec![(1, 1), (1, 0), (0, 1), (0, 0)],
        vec![(0, 1), (1, 0)],
    ];
    let shapes: [(usize, (i64, i64), f64); 6] = [
        (10, (0, 1), 0.5),
        (50, (-1, 1), 0.7),
        (200, (1, 5), 0.3),
        (7, (1, 3), 0.0),
        (500, (1, 10), 0.9),
        (30, (0, 2), 1.0),
    ];
    for (seed, &(items, range, agree)) in shapes.iter().enumerate() {
        cases.push(random_pairs(100 + seed as u64, items, range, agree));
    }
    cases
}

#[derive(Deserialize)]
struct Reference {
    alpha: Vec<AlphaReference>,
    kappa: Vec<KappaReference>,
}

#[derive(Deserialize)]
struct AlphaReference {
    nominal: Option<f64>,
    ordinal: Option<f64>,
    interval: Option<f64>,
}

#[derive(Deserialize)]
struct KappaReference {
    kappa: Option<f64>,
    observed: f64,
    expected: f64,
}

fn reference(alpha: &[Vec<Vec<i64>>], kappa: &[Vec<(i64, i64)>]) -> Reference {
    let mut cases = tempfile::NamedTempFile::new().expect("create a temporary file");
    serde_json::to_writer(&mut cases, &json!({ "alpha": alpha, "kappa": kappa }))
        .expect("write the cases");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/krippendorff_reference.py");
    let python = python();
    let out = Command::new(&python)
        .arg(&script)
        .arg(cases.path())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    assert!(
        out.status.success(),
        "{} {} failed (is krippendorff installed in CTS_PYENV?):\n{}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "reference output is not the expected JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn assert_agrees(what: &str, ours: Option<f64>, theirs: Option<f64>) {
    match (ours, theirs) {
        (Some(x), Some(y)) => assert!(
            (x - y).abs() <= TOLERANCE,
            "{what}: ours {x}, reference {y}"
        ),
        (x, y) => assert_eq!(x, y, "{what}: ours vs reference"),
    }
}

#[test]
fn alpha_and_kappa_match_the_python_reference() {
    let alpha = alpha_cases();
    let kappa = kappa_cases();
    let reference = reference(&alpha, &kappa);
    assert_eq!(reference.alpha.len(), alpha.len());
    assert_eq!(reference.kappa.len(), kappa.len());

    let mut defined = 0;
    for (i, (units, theirs)) in alpha.iter().zip(&reference.alpha).enumerate() {
        for (level, theirs) in
            LEVELS
                .into_iter()
                .zip([theirs.nominal, theirs.ordinal, theirs.interval])
        {
            let ours = krippendorff_alpha(units, level).alpha;
            assert_agrees(&format!("alpha case {i}, {level:?}"), ours, theirs);
            defined += usize::from(ours.is_some());
        }
    }
    // Guard against a reference that silently returns nothing.
    assert!(
        defined >= 3 * (alpha.len() - 4),
        "only {defined} defined alphas"
    );

    for (i, (pairs, theirs)) in kappa.iter().zip(&reference.kappa).enumerate() {
        let ours = cohen_kappa(pairs);
        assert_agrees(&format!("kappa case {i}"), ours.kappa, theirs.kappa);
        assert_agrees(
            &format!("observed agreement, case {i}"),
            Some(ours.observed),
            Some(theirs.observed),
        );
        assert_agrees(
            &format!("expected agreement, case {i}"),
            Some(ours.expected),
            Some(theirs.expected),
        );
    }
}
