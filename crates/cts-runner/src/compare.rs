//! The paired comparison of two runs on the same items (base vs tuned).
//!
//! Items are paired by benchmark and item digest (what the model saw and the
//! gold label), so the two runs may have listed them in any order; items in
//! only one run are counted and left out. Per benchmark: both accuracies,
//! the difference B − A with its paired 95% interval, the exact McNemar
//! test on the discordant pairs, Holm's correction across benchmarks, and
//! Cohen's h. Every statistic comes from `cts_eval::stats`, each checked
//! against statsmodels or scipy in the test suite. Pure: no I/O.

use std::collections::{BTreeMap, HashMap};

use cts_eval::stats::{
    accuracy, cohens_h, holm, mcnemar_exact, paired_difference, Accuracy, PairedDifference,
    PairedTable,
};
use serde::Serialize;

use crate::eval::ItemResult;
use crate::record::RunManifest;
use crate::RunnerError;

/// One side of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    /// Run id.
    pub id: String,
    /// Model name.
    pub model: String,
    /// Model key.
    pub model_key: String,
    /// Mode.
    pub mode: String,
    /// Template label.
    pub template: String,
}

impl Side {
    fn of(m: &RunManifest) -> Side {
        Side {
            id: m.id.clone(),
            model: m.model.name.clone(),
            model_key: m.model_key.clone(),
            mode: m.config.mode.as_str().to_owned(),
            template: m.config.template_label(),
        }
    }
}

/// One benchmark's paired comparison.
#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkComparison {
    /// Benchmark name.
    pub benchmark: String,
    /// Paired items.
    pub items: u64,
    /// Run A's accuracy on the paired items.
    pub a: Accuracy,
    /// Run B's accuracy on the paired items.
    pub b: Accuracy,
    /// The 2×2 table (`only_a`: A right and B wrong).
    pub table: PairedTable,
    /// B − A with its paired 95% interval (Wald, on the paired proportions).
    pub difference: PairedDifference,
    /// Exact McNemar p-value (two-sided binomial on the discordant pairs).
    pub mcnemar_p: f64,
    /// Holm-adjusted p-value across the benchmarks compared.
    pub holm_p: f64,
    /// Cohen's h of B against A.
    pub cohens_h: f64,
}

/// A comparison of two runs.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Run A (e.g. the base model).
    pub a: Side,
    /// Run B (e.g. the tuned model).
    pub b: Side,
    /// Per benchmark, sorted by name.
    pub benchmarks: Vec<BenchmarkComparison>,
    /// Items only run A holds.
    pub only_in_a: usize,
    /// Items only run B holds.
    pub only_in_b: usize,
    /// Differences between the runs other than the model that the reader should know.
    pub notes: Vec<String>,
}

type Key<'r> = (&'r str, &'r str, usize);

fn keyed(results: &[ItemResult]) -> HashMap<Key<'_>, bool> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    results
        .iter()
        .map(|r| {
            let n = seen.entry((&r.benchmark, &r.item_sha256)).or_default();
            *n += 1;
            (
                (r.benchmark.as_str(), r.item_sha256.as_str(), *n),
                r.correct,
            )
        })
        .collect()
}

/// Compares run A with run B on the items both hold.
pub fn compare(
    a: (&RunManifest, &[ItemResult]),
    b: (&RunManifest, &[ItemResult]),
) -> Result<Comparison, RunnerError> {
    let ka = keyed(a.1);
    let kb = keyed(b.1);
    let mut paired: BTreeMap<&str, (Vec<bool>, Vec<bool>)> = BTreeMap::new();
    for (key, &correct_a) in &ka {
        if let Some(&correct_b) = kb.get(key) {
            let e = paired.entry(key.0).or_default();
            e.0.push(correct_a);
            e.1.push(correct_b);
        }
    }
    let pairs: usize = paired.values().map(|v| v.0.len()).sum();
    if pairs == 0 {
        return Err(RunnerError::Compare(format!(
            "runs {} and {} have no items in common (same benchmark, same question, options and gold)",
            a.0.id, b.0.id
        )));
    }
    let mut benchmarks = Vec::new();
    for (name, (oa, ob)) in &paired {
        let table = PairedTable::from_outcomes(ob, oa)
            .ok_or_else(|| RunnerError::Compare("unequal pairing".into()))?;
        let n = oa.len() as u64;
        let count = |o: &[bool]| o.iter().filter(|c| **c).count() as u64;
        let (acc_a, acc_b) = (accuracy(count(oa), n), accuracy(count(ob), n));
        let (Some(acc_a), Some(acc_b), Some(difference)) =
            (acc_a, acc_b, paired_difference(&table))
        else {
            continue;
        };
        benchmarks.push(BenchmarkComparison {
            benchmark: (*name).to_owned(),
            items: n,
            a: acc_a,
            b: acc_b,
            // Stored the reader's way round: only_a = A right, B wrong.
            table: PairedTable {
                both: table.both,
                only_a: table.only_b,
                only_b: table.only_a,
                neither: table.neither,
            },
            difference,
            mcnemar_p: mcnemar_exact(&table),
            holm_p: 0.0,
            cohens_h: cohens_h(acc_b.value, acc_a.value),
        });
    }
    let adjusted = holm(&benchmarks.iter().map(|c| c.mcnemar_p).collect::<Vec<_>>());
    for (c, p) in benchmarks.iter_mut().zip(adjusted) {
        c.holm_p = p;
    }
    let mut notes = Vec::new();
    let (sa, sb) = (Side::of(a.0), Side::of(b.0));
    if sa.mode != sb.mode || sa.template != sb.template {
        notes.push(format!(
            "the runs differ in scoring ({} / {} against {} / {}): the difference measures that as well as the models",
            sa.mode, sa.template, sb.mode, sb.template
        ));
    }
    if a.0.config.params != b.0.config.params && sa.mode == "generate" {
        notes.push("the runs used different sampling parameters".into());
    }
    if sa.model_key == sb.model_key {
        notes.push("both runs evaluated the same model".into());
    }
    Ok(Comparison {
        only_in_a: ka.len() - pairs,
        only_in_b: kb.len() - pairs,
        a: sa,
        b: sb,
        benchmarks,
        notes,
    })
}

impl Comparison {
    /// The terminal table.
    pub fn render(&self) -> String {
        let mut out = format!(
            "A: {} ({}, {}, {})\nB: {} ({}, {}, {})\n",
            self.a.id,
            self.a.model,
            self.a.mode,
            self.a.template,
            self.b.id,
            self.b.model,
            self.b.mode,
            self.b.template
        );
        out.push_str(&format!(
            "{:<22} {:>6} {:>7} {:>7} {:>24} {:>9} {:>9} {:>7}\n",
            "benchmark", "n", "acc A", "acc B", "B − A (paired 95% CI)", "McNemar p", "Holm p", "h"
        ));
        for c in &self.benchmarks {
            out.push_str(&format!(
                "{:<22} {:>6} {:>6.1}% {:>6.1}% {:>+7.1} pp ({:+.1}, {:+.1}) {:>9.4} {:>9.4} {:>+7.3}\n",
                c.benchmark,
                c.items,
                100.0 * c.a.value,
                100.0 * c.b.value,
                100.0 * c.difference.difference,
                100.0 * c.difference.ci95.low,
                100.0 * c.difference.ci95.high,
                c.mcnemar_p,
                c.holm_p,
                c.cohens_h
            ));
        }
        out.push_str(&format!(
            "discordant pairs decide McNemar; items in only one run: A {}, B {}\n",
            self.only_in_a, self.only_in_b
        ));
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }
}
