//! The statistics behind an accuracy claim, as plain functions over counts and outcomes.
//!
//! Every function matches a reference implementation, checked in
//! `tests/stats_reference.rs` against scipy, statsmodels and scikit-learn:
//!
//! | function | what | reference |
//! |---|---|---|
//! | [`wilson`] | Wilson score interval for a proportion | statsmodels `proportion_confint(method="wilson")` |
//! | [`macro_micro`] | unweighted mean of per-benchmark accuracies, and pooled accuracy | numpy means |
//! | [`bootstrap_macro`] | percentile bootstrap CI for the macro average, items resampled within each benchmark | numpy `percentile` (linear) on the same resampled values |
//! | [`pubmedqa_score`] | accuracy and macro-F1 as PubMedQA's `evaluation.py` | scikit-learn `accuracy_score`, `f1_score(average="macro")` |
//! | [`mcnemar_exact`] | exact McNemar test (two-sided binomial on the discordant pairs) | statsmodels `mcnemar(table, exact=True)` |
//! | [`holm`] | Holm step-down adjusted p-values | statsmodels `multipletests(method="holm")` |
//! | [`paired_difference`] | accuracy difference with the Wald interval for paired proportions (Agresti, *Categorical Data Analysis*, 3rd ed., §11.1.1) | scipy `norm.ppf` and the multinomial covariance |
//! | [`cohens_h`] | Cohen's h effect size | statsmodels `proportion_effectsize` |
//!
//! The bootstrap uses its own SplitMix64 generator so a seed gives the same
//! interval on every platform and in every future version; a library RNG may
//! change its stream between releases.
//!
//! Not here: what counts as correct (see [`crate::extract`]) or how results are stored.

use serde::{Deserialize, Serialize};

/// The standard normal quantile for a two-sided 95% interval (scipy `norm.ppf(0.975)`).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A closed interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// Wilson score interval for `successes` out of `trials` at normal quantile `z`; `None` for no trials.
pub fn wilson(successes: u64, trials: u64, z: f64) -> Option<Interval> {
    if trials == 0 || successes > trials {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let dist = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(Interval {
        low: (center - dist).max(0.0),
        high: (center + dist).min(1.0),
    })
}

/// An accuracy with its count and Wilson 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Items answered correctly.
    pub correct: u64,
    /// Items scored.
    pub total: u64,
    /// `correct / total`.
    pub value: f64,
    /// Wilson 95% interval.
    pub ci95: Interval,
}

/// Accuracy of `correct` out of `total` with its Wilson 95% interval; `None` for no items.
pub fn accuracy(correct: u64, total: u64) -> Option<Accuracy> {
    Some(Accuracy {
        correct,
        total,
        value: correct as f64 / total as f64,
        ci95: wilson(correct, total, Z_95)?,
    })
}

/// The macro average (plain mean of per-benchmark accuracies) beside the micro average (pooled).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MacroMicro {
    /// Mean of the per-benchmark accuracies, each benchmark weighing the same.
    pub macro_average: f64,
    /// All correct items over all items, each item weighing the same.
    pub micro_average: f64,
    /// Benchmarks averaged.
    pub benchmarks: usize,
    /// Items pooled.
    pub items: u64,
}

/// Macro and micro averages of `(correct, total)` per benchmark; `None` if any benchmark is empty or none given.
pub fn macro_micro(groups: &[(u64, u64)]) -> Option<MacroMicro> {
    if groups.is_empty() || groups.iter().any(|&(c, t)| t == 0 || c > t) {
        return None;
    }
    let macro_average = groups
        .iter()
        .map(|&(c, t)| c as f64 / t as f64)
        .sum::<f64>()
        / groups.len() as f64;
    let (correct, items) = groups
        .iter()
        .fold((0u64, 0u64), |(c, t), &(gc, gt)| (c + gc, t + gt));
    Some(MacroMicro {
        macro_average,
        micro_average: correct as f64 / items as f64,
        benchmarks: groups.len(),
        items,
    })
}

/// A reproducible 64-bit generator (SplitMix64, Steele, Lea and Flood 2014).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` without modulo bias (Lemire 2019); `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// The `q`-th quantile (0..=1) of `sorted` by linear interpolation (numpy's default); `None` if empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// The macro averages of `resamples` bootstrap resamples, items drawn with replacement within each benchmark.
///
/// `outcomes[b]` holds benchmark `b`'s per-item correctness. Same seed, same values.
pub fn bootstrap_macro_values(outcomes: &[Vec<bool>], resamples: usize, seed: u64) -> Vec<f64> {
    if outcomes.is_empty() || outcomes.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let mut rng = SplitMix64::new(seed);
    (0..resamples)
        .map(|_| {
            outcomes
                .iter()
                .map(|items| {
                    let n = items.len() as u64;
                    let hits = (0..n).filter(|_| items[rng.below(n) as usize]).count();
                    hits as f64 / n as f64
                })
                .sum::<f64>()
                / outcomes.len() as f64
        })
        .collect()
}

/// Percentile bootstrap interval for the macro average at `level` (e.g. 0.95); `None` if a benchmark is empty.
pub fn bootstrap_macro(
    outcomes: &[Vec<bool>],
    resamples: usize,
    seed: u64,
    level: f64,
) -> Option<Interval> {
    let mut values = bootstrap_macro_values(outcomes, resamples, seed);
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(Interval {
        low: quantile(&values, tail)?,
        high: quantile(&values, 1.0 - tail)?,
    })
}

/// PubMedQA accuracy and macro-F1, as the official `evaluation.py` computes them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PubmedqaScore {
    /// Fraction of items whose prediction equals the gold decision.
    pub accuracy: f64,
    /// Unweighted mean over labels of one-vs-rest F1 (scikit-learn `average="macro"`).
    pub macro_f1: f64,
    /// Items scored.
    pub items: usize,
    /// Items with no parseable prediction (an extra class for F1, wrong for accuracy).
    pub unparseable: usize,
}

/// The class an unparseable prediction counts as: any string other than the three labels, as in the official scorer.
pub const UNPARSEABLE_CLASS: &str = "<unparseable>";

/// Scores PubMedQA predictions (`yes`/`no`/`maybe`, `None` when unparseable) against gold decisions.
///
/// F1 is computed over the union of gold and predicted labels, so a label
/// never predicted scores 0 and still counts; `None` if the lengths differ or there are no items.
pub fn pubmedqa_score(gold: &[&str], predicted: &[Option<&str>]) -> Option<PubmedqaScore> {
    if gold.len() != predicted.len() || gold.is_empty() {
        return None;
    }
    let predicted: Vec<&str> = predicted
        .iter()
        .map(|p| p.unwrap_or(UNPARSEABLE_CLASS))
        .collect();
    let mut labels: Vec<&str> = gold.iter().chain(&predicted).copied().collect();
    labels.sort_unstable();
    labels.dedup();
    let f1_sum: f64 = labels
        .iter()
        .map(|&label| {
            let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
            for (&g, &p) in gold.iter().zip(&predicted) {
                match (g == label, p == label) {
                    (true, true) => tp += 1,
                    (false, true) => fp += 1,
                    (true, false) => fn_ += 1,
                    (false, false) => {}
                }
            }
            let denom = 2 * tp + fp + fn_;
            if denom == 0 {
                0.0
            } else {
                (2 * tp) as f64 / denom as f64
            }
        })
        .sum();
    let correct = gold.iter().zip(&predicted).filter(|(g, p)| g == p).count();
    Some(PubmedqaScore {
        accuracy: correct as f64 / gold.len() as f64,
        macro_f1: f1_sum / labels.len() as f64,
        items: gold.len(),
        unparseable: predicted
            .iter()
            .filter(|p| **p == UNPARSEABLE_CLASS)
            .count(),
    })
}

/// The 2×2 table of two runs on the same items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedTable {
    /// Both runs correct.
    pub both: u64,
    /// Only run A correct.
    pub only_a: u64,
    /// Only run B correct.
    pub only_b: u64,
    /// Both wrong.
    pub neither: u64,
}

impl PairedTable {
    /// Counts the table from per-item correctness of run A and run B (same items, same order); `None` if lengths differ.
    pub fn from_outcomes(a: &[bool], b: &[bool]) -> Option<Self> {
        if a.len() != b.len() {
            return None;
        }
        let mut t = PairedTable {
            both: 0,
            only_a: 0,
            only_b: 0,
            neither: 0,
        };
        for (&x, &y) in a.iter().zip(b) {
            match (x, y) {
                (true, true) => t.both += 1,
                (true, false) => t.only_a += 1,
                (false, true) => t.only_b += 1,
                (false, false) => t.neither += 1,
            }
        }
        Some(t)
    }

    /// Number of items.
    pub fn items(&self) -> u64 {
        self.both + self.only_a + self.only_b + self.neither
    }
}

/// Natural log of C(n, k).
fn ln_choose(n: u64, k: u64) -> f64 {
    let k = k.min(n - k);
    (0..k)
        .map(|i| ((n - i) as f64).ln() - ((i + 1) as f64).ln())
        .sum()
}

/// P(X ≤ k) for X ~ Binomial(n, 1/2), summed in log space (exact to rounding for any n).
pub fn binomial_half_cdf(k: u64, n: u64) -> f64 {
    if k >= n {
        return 1.0;
    }
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let terms: Vec<f64> = (0..=k).map(|i| ln_choose(n, i) - ln_half_n).collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

/// Exact McNemar p-value: `min(1, 2·P(X ≤ min(b, c)))`, X ~ Binomial(b + c, 1/2).
///
/// As statsmodels `mcnemar(exact=True)`: 1 when there are no discordant pairs.
pub fn mcnemar_exact(table: &PairedTable) -> f64 {
    let n = table.only_a + table.only_b;
    (2.0 * binomial_half_cdf(table.only_a.min(table.only_b), n)).min(1.0)
}

/// Holm step-down adjusted p-values, in the input order (statsmodels `multipletests(method="holm")`).
///
/// A hypothesis is rejected at level α when its adjusted p-value is ≤ α.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let value = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(value);
        adjusted[i] = running;
    }
    adjusted
}

/// The accuracy difference of two runs on the same items, with its paired 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// Accuracy of run A minus accuracy of run B.
    pub difference: f64,
    /// Wald interval for paired proportions: `d ± z·√((b + c) − (b − c)²/n) / n`.
    pub ci95: Interval,
}

/// Accuracy difference (A − B) with the paired Wald 95% interval; `None` for no items.
pub fn paired_difference(table: &PairedTable) -> Option<PairedDifference> {
    let n = table.items();
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let (b, c) = (table.only_a as f64, table.only_b as f64);
    let difference = (b - c) / n;
    let se = ((b + c) - (b - c).powi(2) / n).max(0.0).sqrt() / n;
    Some(PairedDifference {
        difference,
        ci95: Interval {
            low: difference - Z_95 * se,
            high: difference + Z_95 * se,
        },
    })
}

/// Cohen's h between two proportions: `2·asin(√p1) − 2·asin(√p2)`.
pub fn cohens_h(p1: f64, p2: f64) -> f64 {
    2.0 * p1.sqrt().asin() - 2.0 * p2.sqrt().asin()
}
