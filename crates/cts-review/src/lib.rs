//! Clinician review of reasoning traces, as pure data and rules.
//!
//! - [`rubric`]: versioned rubric documents (TOML) with line-numbered errors,
//!   and the default medication-safety rubric.
//! - [`review`]: what a clinician submits for one trace (step labels, flags,
//!   edits with rationale, trace ratings), its validation against a rubric,
//!   the edited chain and word-level diffs.
//! - [`disagreement`]: when two reviews of a trace disagree enough to need an
//!   adjudicator.
//! - [`agreement`]: inter-rater agreement (Krippendorff's alpha, Cohen's kappa).
//!
//! Storage, the ledger and HTTP live elsewhere (`cts-store`, `cts-web`).

pub mod agreement;
pub mod disagreement;
pub mod review;
pub mod rubric;

pub use review::{DeletedStep, ReviewBody, ReviewError, StepReview};
pub use rubric::{Dimension, Flag, Rubric, RubricError};
