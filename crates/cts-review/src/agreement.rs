//! Inter-rater agreement between clinician reviews.
//!
//! - [`krippendorff_alpha`]: Krippendorff's alpha for any number of coders,
//!   with missing values, at the nominal, ordinal or interval level.
//! - [`cohen_kappa`]: Cohen's unweighted kappa for two raters on the same
//!   items.
//!
//! Both are plain functions over plain values; which reviews, traces or
//! steps the values come from is the caller's business. Alpha follows the
//! coincidence-matrix formulation of Krippendorff (2011), "Computing
//! Krippendorff's Alpha-Reliability"; the tests check it against the paper's
//! worked example and against the Python `krippendorff` package.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Level of measurement of the coded variable, which picks the difference
/// function δ² between two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Unordered categories: δ² is 0 for equal values, 1 otherwise.
    Nominal,
    /// Ordered categories: δ² is computed on the ranks of the observed
    /// values, weighted by how often each value was used.
    Ordinal,
    /// Equally spaced values: δ² = (c − k)².
    Interval,
}

/// Krippendorff's alpha and the amount of data it rests on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alpha {
    /// 1 − observed/expected disagreement; `None` when undefined (no
    /// pairable values, or fewer than two distinct pairable values).
    pub alpha: Option<f64>,
    /// Pairable units: units with at least two values.
    pub units: usize,
    /// Pairable values: values in pairable units (Krippendorff's n).
    pub values: usize,
    /// Distinct values among the pairable values.
    pub categories: usize,
}

/// Krippendorff's alpha of reliability data at the given level.
///
/// `units` holds one entry per unit (e.g. a trace, or a (trace, step)) with
/// the values the coders gave it; missing values are simply absent, and the
/// order of values within a unit does not matter. Units with fewer than two
/// values are not pairable and are ignored, as Krippendorff defines.
pub fn krippendorff_alpha(units: &[Vec<i64>], level: Level) -> Alpha {
    let pairable: Vec<&[i64]> = units
        .iter()
        .filter(|unit| unit.len() >= 2)
        .map(Vec::as_slice)
        .collect();
    let mut all: Vec<i64> = pairable
        .iter()
        .flat_map(|unit| unit.iter().copied())
        .collect();
    all.sort_unstable();
    let categories = run_lengths(&all);
    let undefined = Alpha {
        alpha: None,
        units: pairable.len(),
        values: all.len(),
        categories: categories.len(),
    };
    if categories.len() < 2 {
        return undefined;
    }
    let delta = Distance::new(level, &categories);

    // Both disagreements are summed over unordered pairs of distinct
    // categories (δ²_cc = 0 and both matrices are symmetric), which halves
    // each side of the ratio alike. On review scales every term is exact in
    // f64; the long sums across category pairs and units are compensated.
    let mut expected = Neumaier::default();
    for (i, &(_, n_i)) in categories.iter().enumerate() {
        for (j, &(_, n_j)) in categories.iter().enumerate().skip(i + 1) {
            expected.add(n_i as f64 * n_j as f64 * delta.squared(i, j));
        }
    }

    let mut observed = Neumaier::default();
    let mut unit_sorted = Vec::new();
    for unit in &pairable {
        unit_sorted.clear();
        unit_sorted.extend_from_slice(unit);
        unit_sorted.sort_unstable();
        let counts: Vec<(usize, u64)> = run_lengths(&unit_sorted)
            .into_iter()
            .map(|(value, count)| (category_index(&categories, value), count))
            .collect();
        let mut within = 0.0;
        for (a, &(i, n_i)) in counts.iter().enumerate() {
            for &(j, n_j) in &counts[a + 1..] {
                within += n_i as f64 * n_j as f64 * delta.squared(i, j);
            }
        }
        if within != 0.0 {
            observed.add(within / (unit.len() - 1) as f64);
        }
    }

    let n = all.len() as f64;
    Alpha {
        alpha: Some(1.0 - (n - 1.0) * observed.sum() / expected.sum()),
        ..undefined
    }
}

/// Cohen's kappa and its parts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kappa {
    /// (observed − expected) / (1 − expected); `None` when there are no
    /// items or expected agreement is 1 (both raters used one same category).
    pub kappa: Option<f64>,
    /// Number of items rated by both raters.
    pub n: usize,
    /// Observed agreement: share of items on which the raters agree (0 when
    /// n = 0).
    pub observed: f64,
    /// Agreement expected by chance from each rater's marginal distribution
    /// (0 when n = 0).
    pub expected: f64,
}

/// Cohen's (unweighted) kappa for two raters on the same items, one
/// `(first rater, second rater)` pair per item.
pub fn cohen_kappa(pairs: &[(i64, i64)]) -> Kappa {
    let n = pairs.len();
    if n == 0 {
        return Kappa {
            kappa: None,
            n,
            observed: 0.0,
            expected: 0.0,
        };
    }
    // Work in integers scaled by n² so that kappa is one exact ratio,
    // rounded once.
    let mut marginals: BTreeMap<i64, (u128, u128)> = BTreeMap::new();
    let mut agreements: u128 = 0;
    for &(a, b) in pairs {
        marginals.entry(a).or_default().0 += 1;
        marginals.entry(b).or_default().1 += 1;
        agreements += u128::from(a == b);
    }
    let n_items = n as u128;
    let chance: u128 = marginals
        .values()
        .map(|&(first, second)| first * second)
        .sum();
    let all = n_items * n_items;
    let kappa = (chance != all).then(|| {
        let numerator = (agreements * n_items) as i128 - chance as i128;
        numerator as f64 / (all - chance) as f64
    });
    Kappa {
        kappa,
        n,
        observed: agreements as f64 / n_items as f64,
        expected: chance as f64 / all as f64,
    }
}

/// `(value, count)` for each run of equal values in a sorted slice.
fn run_lengths(sorted: &[i64]) -> Vec<(i64, u64)> {
    let mut runs: Vec<(i64, u64)> = Vec::new();
    for &value in sorted {
        match runs.last_mut() {
            Some((last, count)) if *last == value => *count += 1,
            _ => runs.push((value, 1)),
        }
    }
    runs
}

fn category_index(categories: &[(i64, u64)], value: i64) -> usize {
    categories
        .binary_search_by_key(&value, |&(category, _)| category)
        .unwrap_or_else(|_| unreachable!("every pairable value is a category"))
}

/// δ² between categories, addressed by their index in the sorted list of
/// pairable categories.
enum Distance<'a> {
    Nominal,
    /// Prefix sums of the category counts: `prefix[i]` = Σ_{g<i} n_g.
    Ordinal {
        categories: &'a [(i64, u64)],
        prefix: Vec<u64>,
    },
    Interval {
        categories: &'a [(i64, u64)],
    },
}

impl<'a> Distance<'a> {
    fn new(level: Level, categories: &'a [(i64, u64)]) -> Self {
        match level {
            Level::Nominal => Distance::Nominal,
            Level::Ordinal => {
                let prefix = std::iter::once(0)
                    .chain(categories.iter().scan(0, |total, &(_, count)| {
                        *total += count;
                        Some(*total)
                    }))
                    .collect();
                Distance::Ordinal { categories, prefix }
            }
            Level::Interval => Distance::Interval { categories },
        }
    }

    /// δ² for categories `i < j`.
    fn squared(&self, i: usize, j: usize) -> f64 {
        match self {
            Distance::Nominal => 1.0,
            Distance::Ordinal { categories, prefix } => {
                // 2·(Σ_{g=i..j} n_g − (n_i + n_j)/2), an integer; squaring
                // it and dividing by 4 is exact.
                let between = prefix[j + 1] - prefix[i];
                let twice = 2 * between - categories[i].1 - categories[j].1;
                let twice = twice as f64;
                twice * twice / 4.0
            }
            Distance::Interval { categories } => {
                let difference = (i128::from(categories[j].0) - i128::from(categories[i].0)) as f64;
                difference * difference
            }
        }
    }
}

/// Neumaier's compensated summation.
#[derive(Default)]
struct Neumaier {
    sum: f64,
    compensation: f64,
}

impl Neumaier {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn sum(&self) -> f64 {
        self.sum + self.compensation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Krippendorff (2011), "C. Nominal data, any number of observers,
    /// missing values": 4 coders (rows) × 12 units (columns), values 1..=5;
    /// 0 marks a missing value.
    fn krippendorff_2011() -> Vec<Vec<i64>> {
        const MISSING: i64 = 0;
        let coders: [[i64; 12]; 4] = [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3],
            [0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0],
        ];
        (0..12)
            .map(|unit| {
                coders
                    .iter()
                    .map(|coder| coder[unit])
                    .filter(|&value| value != MISSING)
                    .collect()
            })
            .collect()
    }

    fn assert_close(actual: Option<f64>, expected: f64, tolerance: f64) {
        let actual = actual.expect("alpha is defined");
        assert!(
            (actual - expected).abs() <= tolerance,
            "got {actual}, expected {expected} ± {tolerance}"
        );
    }

    #[test]
    fn krippendorff_2011_example_nominal_is_0_743() {
        let alpha = krippendorff_alpha(&krippendorff_2011(), Level::Nominal);
        assert_close(alpha.alpha, 0.743, 5e-4);
    }

    #[test]
    fn krippendorff_2011_example_ordinal_is_0_815() {
        let alpha = krippendorff_alpha(&krippendorff_2011(), Level::Ordinal);
        assert_close(alpha.alpha, 0.815, 5e-4);
    }

    #[test]
    fn krippendorff_2011_example_interval_is_0_849() {
        let alpha = krippendorff_alpha(&krippendorff_2011(), Level::Interval);
        assert_close(alpha.alpha, 0.849, 5e-4);
    }

    #[test]
    fn krippendorff_2011_example_nominal_matches_the_exact_fraction() {
        // Off-diagonal coincidences sum to 8 (units 2, 6 and 8); the value
        // counts are n = (9, 13, 10, 5, 3), so Σ_{c≠k} n_c·n_k = 40² − 384.
        let expected = 1.0 - 39.0 * 8.0 / (1600.0 - 384.0);
        assert_close(
            krippendorff_alpha(&krippendorff_2011(), Level::Nominal).alpha,
            expected,
            1e-12,
        );
    }

    #[test]
    fn krippendorff_2011_example_counts_pairable_data_only() {
        let alpha = krippendorff_alpha(&krippendorff_2011(), Level::Nominal);
        assert_eq!((alpha.units, alpha.values, alpha.categories), (11, 40, 5));
    }

    #[test]
    fn alpha_is_undefined_when_all_values_are_identical() {
        let units = vec![vec![2, 2, 2], vec![2, 2], vec![2, 2, 2, 2]];
        for level in [Level::Nominal, Level::Ordinal, Level::Interval] {
            let alpha = krippendorff_alpha(&units, level);
            assert_eq!(alpha.alpha, None);
            assert_eq!((alpha.units, alpha.values, alpha.categories), (3, 9, 1));
        }
    }

    #[test]
    fn alpha_is_undefined_without_pairable_units() {
        let units = vec![vec![1], vec![], vec![3]];
        let alpha = krippendorff_alpha(&units, Level::Nominal);
        assert_eq!(
            alpha,
            Alpha {
                alpha: None,
                units: 0,
                values: 0,
                categories: 0
            }
        );
        assert_eq!(krippendorff_alpha(&[], Level::Interval).alpha, None);
    }

    #[test]
    fn alpha_ignores_values_of_unpairable_units() {
        // The lone 9 would add a category if it counted.
        let units = vec![vec![1, 1], vec![2, 2], vec![9]];
        let alpha = krippendorff_alpha(&units, Level::Interval);
        assert_eq!(alpha.alpha, Some(1.0));
        assert_eq!(alpha.categories, 2);
    }

    #[test]
    fn alpha_of_a_single_disagreeing_unit_is_zero() {
        // With one unit, chance is estimated from that unit alone, so the
        // observed disagreement is exactly the expected one.
        for level in [Level::Nominal, Level::Ordinal, Level::Interval] {
            assert_close(
                krippendorff_alpha(&[vec![1, 3, 3]], level).alpha,
                0.0,
                1e-15,
            );
        }
    }

    #[test]
    fn alpha_of_a_single_agreeing_unit_is_undefined() {
        assert_eq!(
            krippendorff_alpha(&[vec![4, 4, 4]], Level::Ordinal).alpha,
            None
        );
    }

    #[test]
    fn alpha_is_one_under_perfect_agreement() {
        let units = vec![vec![1, 1], vec![3, 3, 3], vec![2, 2]];
        for level in [Level::Nominal, Level::Ordinal, Level::Interval] {
            assert_eq!(krippendorff_alpha(&units, level).alpha, Some(1.0));
        }
    }

    #[test]
    fn interval_alpha_handles_extreme_values_without_overflow() {
        let units = vec![vec![i64::MIN, i64::MIN], vec![i64::MAX, i64::MAX]];
        assert_eq!(krippendorff_alpha(&units, Level::Interval).alpha, Some(1.0));
    }

    #[test]
    fn level_serializes_in_lower_case() {
        assert_eq!(
            serde_json::to_string(&Level::Ordinal).unwrap(),
            "\"ordinal\""
        );
    }

    /// Wikipedia, "Cohen's kappa": 50 proposals, 20 yes/yes, 5 yes/no,
    /// 10 no/yes, 15 no/no.
    fn wikipedia_example() -> Vec<(i64, i64)> {
        let mut pairs = Vec::new();
        pairs.extend(std::iter::repeat_n((1, 1), 20));
        pairs.extend(std::iter::repeat_n((1, 0), 5));
        pairs.extend(std::iter::repeat_n((0, 1), 10));
        pairs.extend(std::iter::repeat_n((0, 0), 15));
        pairs
    }

    #[test]
    fn wikipedia_kappa_example_is_0_4() {
        let kappa = cohen_kappa(&wikipedia_example());
        assert_eq!(kappa.n, 50);
        assert_close(kappa.kappa, 0.4, 1e-15);
        assert_close(Some(kappa.observed), 0.7, 1e-15);
        assert_close(Some(kappa.expected), 0.5, 1e-15);
    }

    #[test]
    fn kappa_is_one_under_perfect_agreement() {
        let kappa = cohen_kappa(&[(1, 1), (2, 2), (3, 3), (1, 1)]);
        assert_eq!(kappa.kappa, Some(1.0));
    }

    #[test]
    fn kappa_is_undefined_without_items() {
        let kappa = cohen_kappa(&[]);
        assert_eq!(kappa.kappa, None);
        assert_eq!(kappa.n, 0);
    }

    #[test]
    fn kappa_is_undefined_when_both_raters_use_one_category() {
        let kappa = cohen_kappa(&[(-1, -1), (-1, -1), (-1, -1)]);
        assert_eq!(kappa.kappa, None);
        assert_eq!((kappa.observed, kappa.expected), (1.0, 1.0));
    }

    #[test]
    fn kappa_is_negative_under_systematic_disagreement() {
        let kappa = cohen_kappa(&[(0, 1), (1, 0), (0, 1), (1, 0)]);
        assert_eq!(kappa.kappa, Some(-1.0));
    }
}
