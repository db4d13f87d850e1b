//! When reviews of one trace disagree enough to need an adjudicator.
//!
//! Two reviews disagree when, for any of the model's original steps, their
//! labels have opposite signs (one −1, the other +1; a deleted step counts
//! as −1), or when any trace rating differs by at least
//! [`Policy::rating_gap`]. A neutral 0 against ±1 is not a disagreement in
//! sign. Every pair of submitted reviews is compared.

use serde::{Deserialize, Serialize};

use crate::review::ReviewBody;

/// Thresholds that send a trace to adjudication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// A trace rating difference at least this large is a disagreement (default 2).
    pub rating_gap: u8,
    /// Whether opposite-sign step labels are a disagreement (default true).
    pub step_sign: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            rating_gap: 2,
            step_sign: true,
        }
    }
}

/// One reason two reviews disagree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Step `step` (0-based original index) has labels of opposite sign.
    StepSign {
        /// Original step index.
        step: usize,
        /// First review's label.
        a: i8,
        /// Second review's label.
        b: i8,
    },
    /// Trace rating `dimension` differs by `gap`.
    Rating {
        /// Dimension id.
        dimension: String,
        /// First review's rating.
        a: u8,
        /// Second review's rating.
        b: u8,
    },
}

/// All reasons reviews `a` and `b` of a trace with `n_original` steps disagree.
pub fn compare(a: &ReviewBody, b: &ReviewBody, n_original: usize, policy: &Policy) -> Vec<Reason> {
    let mut out = Vec::new();
    if policy.step_sign {
        let la = a.original_labels(n_original);
        let lb = b.original_labels(n_original);
        for (step, (x, y)) in la.iter().zip(&lb).enumerate() {
            if let (Some(x), Some(y)) = (x, y) {
                if x.signum() * y.signum() < 0 {
                    out.push(Reason::StepSign { step, a: *x, b: *y });
                }
            }
        }
    }
    for (dim, x) in &a.ratings {
        if let Some(y) = b.ratings.get(dim) {
            if x.abs_diff(*y) >= policy.rating_gap {
                out.push(Reason::Rating {
                    dimension: dim.clone(),
                    a: *x,
                    b: *y,
                });
            }
        }
    }
    out
}

/// Whether any pair among `reviews` disagrees, with the reasons of the
/// first disagreeing pair (indices into `reviews`).
pub fn needs_adjudication(
    reviews: &[&ReviewBody],
    n_original: usize,
    policy: &Policy,
) -> Option<(usize, usize, Vec<Reason>)> {
    for i in 0..reviews.len() {
        for j in i + 1..reviews.len() {
            let reasons = compare(reviews[i], reviews[j], n_original, policy);
            if !reasons.is_empty() {
                return Some((i, j, reasons));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{DeletedStep, StepReview};

    fn review(labels: &[i8], rating: u8) -> ReviewBody {
        ReviewBody {
            rubric: "r@1".into(),
            steps: labels
                .iter()
                .enumerate()
                .map(|(i, l)| StepReview {
                    origin: Some(i),
                    text: format!("s{i}"),
                    label: Some(*l),
                    ..StepReview::default()
                })
                .collect(),
            ratings: [("medication_safety".to_string(), rating)].into(),
            ..ReviewBody::default()
        }
    }

    #[test]
    fn opposite_signs_and_rating_gaps_disagree() {
        let p = Policy::default();
        assert!(compare(&review(&[1, 0], 4), &review(&[1, 1], 3), 2, &p).is_empty());
        assert_eq!(
            compare(&review(&[1, -1], 4), &review(&[1, 1], 4), 2, &p),
            vec![Reason::StepSign {
                step: 1,
                a: -1,
                b: 1
            }]
        );
        assert_eq!(compare(&review(&[1], 5), &review(&[1], 3), 1, &p).len(), 1);
        let mut deleted = review(&[1], 4);
        deleted.steps.remove(0);
        deleted.deleted.push(DeletedStep {
            origin: 0,
            rationale: "wrong".into(),
        });
        assert_eq!(compare(&deleted, &review(&[1], 4), 1, &p).len(), 1);
        let loose = Policy {
            rating_gap: 3,
            step_sign: false,
        };
        assert!(compare(&review(&[1, -1], 5), &review(&[1, 1], 3), 2, &loose).is_empty());
    }

    #[test]
    fn any_pair_of_three_can_trigger() {
        let (a, b, c) = (review(&[1], 4), review(&[1], 4), review(&[-1], 4));
        let found = needs_adjudication(&[&a, &b, &c], 1, &Policy::default()).unwrap();
        assert_eq!((found.0, found.1), (0, 2));
        assert!(needs_adjudication(&[&a, &b], 1, &Policy::default()).is_none());
    }
}
