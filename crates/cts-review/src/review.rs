//! What a clinician records for one trace, and the rules it must meet.
//!
//! A [`ReviewBody`] lists the reviewed chain as it stands after the
//! clinician's edits: each [`StepReview`] either keeps or rewrites one of
//! the model's original steps (`origin` = its index) or is a step the
//! clinician added (`origin` = `None`). Original steps that were removed are
//! listed in `deleted`, each with a rationale. Every step carries a label
//! (−1/0/+1) and safety flags; the trace carries one rating per rubric
//! dimension and a rationale.
//!
//! Drafts use the same shape with fields still missing; [`ReviewBody::validate`]
//! is the submit-time check.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rubric::Rubric;

/// Longest step text accepted (characters).
pub const MAX_STEP_CHARS: usize = 8_000;
/// Most steps in a reviewed chain.
pub const MAX_STEPS: usize = 200;
/// Longest rationale accepted (characters).
pub const MAX_RATIONALE_CHARS: usize = 8_000;

/// A clinician's review of one trace (a draft until validated).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// The rubric used, `id@version`.
    pub rubric: String,
    /// The reviewed chain, in order.
    pub steps: Vec<StepReview>,
    /// Original steps the reviewer removed.
    #[serde(default)]
    pub deleted: Vec<DeletedStep>,
    /// Trace rating per rubric dimension id.
    #[serde(default)]
    pub ratings: BTreeMap<String, u8>,
    /// Free-text rationale for the trace ratings.
    #[serde(default)]
    pub rationale: String,
    /// The final answer as the reviewer corrected it; `None` when the
    /// model's stands (and then absent from the JSON, so reviews written
    /// before this field existed keep their bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// One step of the reviewed chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepReview {
    /// Index of the model's original step, or `None` for an added step.
    #[serde(default)]
    pub origin: Option<usize>,
    /// The step's text as the reviewer leaves it.
    pub text: String,
    /// −1 wrong or unsafe, 0 neutral, +1 correct and useful.
    #[serde(default)]
    pub label: Option<i8>,
    /// Safety flag ids from the rubric.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Why the text was changed or added (required then).
    #[serde(default)]
    pub edit_rationale: Option<String>,
}

/// An original step the reviewer removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletedStep {
    /// Index of the original step.
    pub origin: usize,
    /// Why it was removed.
    pub rationale: String,
}

/// A review that cannot be submitted, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ReviewError {
    /// Path of the field, e.g. `steps[3].label` or `ratings.medication_safety`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn err(field: impl Into<String>, reason: impl Into<String>) -> ReviewError {
    ReviewError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// How one step changed relative to the model's original.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum StepChange<'a> {
    /// Kept verbatim.
    Kept,
    /// Rewritten from the original text.
    Edited {
        /// The model's text.
        original: &'a str,
    },
    /// Added by the reviewer.
    Added,
}

impl ReviewBody {
    /// A fresh draft for a trace: the original steps, unlabelled.
    pub fn draft_for(rubric: &Rubric, original_steps: &[String]) -> ReviewBody {
        ReviewBody {
            rubric: rubric.key(),
            steps: original_steps
                .iter()
                .enumerate()
                .map(|(i, text)| StepReview {
                    origin: Some(i),
                    text: text.clone(),
                    ..StepReview::default()
                })
                .collect(),
            ..ReviewBody::default()
        }
    }

    /// Checks what holds even for a draft: the shape fits the original trace
    /// and sizes are bounded. Drafts may still lack labels and ratings.
    pub fn validate_shape(&self, original_steps: &[String]) -> Result<(), ReviewError> {
        if self.steps.len() > MAX_STEPS {
            return Err(err(
                "steps",
                format!("at most {MAX_STEPS} steps are allowed"),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut last_origin: Option<usize> = None;
        for (i, step) in self.steps.iter().enumerate() {
            if step.text.chars().count() > MAX_STEP_CHARS {
                return Err(err(
                    format!("steps[{i}].text"),
                    format!("longer than {MAX_STEP_CHARS} characters"),
                ));
            }
            if let Some(o) = step.origin {
                if o >= original_steps.len() {
                    return Err(err(
                        format!("steps[{i}].origin"),
                        format!(
                            "the trace has {} steps; there is no step {o}",
                            original_steps.len()
                        ),
                    ));
                }
                if !seen.insert(o) {
                    return Err(err(
                        format!("steps[{i}].origin"),
                        format!("original step {o} appears twice"),
                    ));
                }
                if last_origin.is_some_and(|l| o < l) {
                    return Err(err(
                        format!("steps[{i}].origin"),
                        "original steps must keep their order".to_string(),
                    ));
                }
                last_origin = Some(o);
            }
            if let Some(r) = &step.edit_rationale {
                if r.chars().count() > MAX_RATIONALE_CHARS {
                    return Err(err(
                        format!("steps[{i}].edit_rationale"),
                        format!("longer than {MAX_RATIONALE_CHARS} characters"),
                    ));
                }
            }
        }
        for (i, d) in self.deleted.iter().enumerate() {
            if d.origin >= original_steps.len() {
                return Err(err(
                    format!("deleted[{i}].origin"),
                    format!("the trace has no step {}", d.origin),
                ));
            }
            if !seen.insert(d.origin) {
                return Err(err(
                    format!("deleted[{i}].origin"),
                    format!(
                        "original step {} is both kept and deleted, or deleted twice",
                        d.origin
                    ),
                ));
            }
            if d.rationale.chars().count() > MAX_RATIONALE_CHARS {
                return Err(err(
                    format!("deleted[{i}].rationale"),
                    format!("longer than {MAX_RATIONALE_CHARS} characters"),
                ));
            }
        }
        if self.rationale.chars().count() > MAX_RATIONALE_CHARS {
            return Err(err(
                "rationale",
                format!("longer than {MAX_RATIONALE_CHARS} characters"),
            ));
        }
        if let Some(a) = &self.answer {
            if a.chars().count() > MAX_STEP_CHARS {
                return Err(err(
                    "answer",
                    format!("longer than {MAX_STEP_CHARS} characters"),
                ));
            }
        }
        if seen.len() != original_steps.len() {
            let missing = (0..original_steps.len())
                .find(|o| !seen.contains(o))
                .unwrap_or_default();
            return Err(err(
                "steps",
                format!("original step {missing} is neither kept nor deleted"),
            ));
        }
        Ok(())
    }

    /// The save-time check: the shape, the rubric, and every label, flag
    /// and rating present being one the rubric allows (a draft may still
    /// lack some; [`ReviewBody::validate`] requires them all). A draft that
    /// passes fails submit only for what is missing.
    pub fn validate_draft(
        &self,
        rubric: &Rubric,
        original_steps: &[String],
    ) -> Result<(), ReviewError> {
        if self.rubric != rubric.key() {
            return Err(err(
                "rubric",
                format!(
                    "review names rubric {:?} but the trace is reviewed with {}",
                    self.rubric,
                    rubric.key()
                ),
            ));
        }
        self.validate_shape(original_steps)?;
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(l) = step.label {
                if !(-1..=1).contains(&l) {
                    return Err(err(
                        format!("steps[{i}].label"),
                        format!("{l} is not one of -1, 0, 1"),
                    ));
                }
            }
            let mut flags = BTreeSet::new();
            for f in &step.flags {
                if rubric.flag(f).is_none() {
                    return Err(err(
                        format!("steps[{i}].flags"),
                        format!("{f:?} is not a flag of {}", rubric.key()),
                    ));
                }
                if !flags.insert(f) {
                    return Err(err(
                        format!("steps[{i}].flags"),
                        format!("{f:?} is set twice"),
                    ));
                }
            }
        }
        for (id, v) in &self.ratings {
            let Some(dim) = rubric.dimension(id) else {
                return Err(err(
                    format!("ratings.{id}"),
                    format!("not a dimension of {}", rubric.key()),
                ));
            };
            if !(dim.min..=dim.max).contains(v) {
                return Err(err(
                    format!("ratings.{id}"),
                    format!("{v} is outside {}..={}", dim.min, dim.max),
                ));
            }
        }
        Ok(())
    }

    /// The submit-time check: shape, plus every label, flag, rating and
    /// rationale the rubric requires.
    pub fn validate(&self, rubric: &Rubric, original_steps: &[String]) -> Result<(), ReviewError> {
        if self.rubric != rubric.key() {
            return Err(err(
                "rubric",
                format!(
                    "review names rubric {:?} but the trace is reviewed with {}",
                    self.rubric,
                    rubric.key()
                ),
            ));
        }
        self.validate_shape(original_steps)?;
        if self.answer.as_deref().is_some_and(|a| a.trim().is_empty()) {
            return Err(err(
                "answer",
                "an empty corrected answer (undo the correction instead)",
            ));
        }
        if self.steps.is_empty() {
            return Err(err("steps", "a reviewed chain needs at least one step"));
        }
        let min_edit = rubric.edit_rationale_min_chars;
        for (i, step) in self.steps.iter().enumerate() {
            if step.text.trim().is_empty() {
                return Err(err(
                    format!("steps[{i}].text"),
                    "empty step (delete it instead)",
                ));
            }
            match step.label {
                Some(-1..=1) => {}
                Some(l) => {
                    return Err(err(
                        format!("steps[{i}].label"),
                        format!("{l} is not one of -1, 0, 1"),
                    ))
                }
                None => {
                    return Err(err(
                        format!("steps[{i}].label"),
                        format!("step {} has no label", i + 1),
                    ))
                }
            }
            let mut flags = BTreeSet::new();
            for f in &step.flags {
                if rubric.flag(f).is_none() {
                    return Err(err(
                        format!("steps[{i}].flags"),
                        format!("{f:?} is not a flag of {}", rubric.key()),
                    ));
                }
                if !flags.insert(f) {
                    return Err(err(
                        format!("steps[{i}].flags"),
                        format!("{f:?} is set twice"),
                    ));
                }
            }
            if self.change(i, original_steps) != StepChange::Kept {
                let r = step.edit_rationale.as_deref().unwrap_or("").trim();
                if r.chars().count() < min_edit {
                    return Err(err(
                        format!("steps[{i}].edit_rationale"),
                        format!(
                            "step {} was {}; give a rationale of at least {min_edit} characters",
                            i + 1,
                            if step.origin.is_some() {
                                "edited"
                            } else {
                                "added"
                            }
                        ),
                    ));
                }
            }
        }
        for (i, d) in self.deleted.iter().enumerate() {
            if d.rationale.trim().chars().count() < min_edit {
                return Err(err(
                    format!("deleted[{i}].rationale"),
                    format!("deleting original step {} needs a rationale of at least {min_edit} characters", d.origin + 1),
                ));
            }
        }
        for dim in &rubric.dimensions {
            match self.ratings.get(&dim.id) {
                Some(v) if (dim.min..=dim.max).contains(v) => {}
                Some(v) => {
                    return Err(err(
                        format!("ratings.{}", dim.id),
                        format!("{v} is outside {}..={}", dim.min, dim.max),
                    ))
                }
                None => {
                    return Err(err(
                        format!("ratings.{}", dim.id),
                        format!("{} is not rated", dim.title),
                    ))
                }
            }
        }
        if let Some(extra) = self.ratings.keys().find(|k| rubric.dimension(k).is_none()) {
            return Err(err(
                format!("ratings.{extra}"),
                format!("not a dimension of {}", rubric.key()),
            ));
        }
        if rubric.rationale.required
            && self.rationale.trim().chars().count() < rubric.rationale.min_chars
        {
            return Err(err(
                "rationale",
                format!(
                    "a rationale of at least {} characters is required",
                    rubric.rationale.min_chars
                ),
            ));
        }
        Ok(())
    }

    /// How step `i` of the reviewed chain relates to the original.
    pub fn change<'a>(&self, i: usize, original_steps: &'a [String]) -> StepChange<'a> {
        match self.steps.get(i).and_then(|s| s.origin.map(|o| (s, o))) {
            None => StepChange::Added,
            Some((s, o)) => match original_steps.get(o) {
                Some(orig) if *orig == s.text => StepChange::Kept,
                Some(orig) => StepChange::Edited { original: orig },
                None => StepChange::Added,
            },
        }
    }

    /// Whether the reviewer changed the chain at all (edits, additions, deletions).
    pub fn is_edited(&self, original_steps: &[String]) -> bool {
        !self.deleted.is_empty()
            || (0..self.steps.len()).any(|i| self.change(i, original_steps) != StepChange::Kept)
    }

    /// Label of each original step (`None` when deleted; deleted steps count
    /// as −1 for disagreement), indexed by origin.
    pub fn original_labels(&self, n_original: usize) -> Vec<Option<i8>> {
        let mut out = vec![None; n_original];
        for s in &self.steps {
            if let Some(o) = s.origin.filter(|o| *o < n_original) {
                out[o] = s.label;
            }
        }
        for d in &self.deleted {
            if d.origin < n_original {
                out[d.origin] = Some(-1);
            }
        }
        out
    }
}

/// One token of a word-level diff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", content = "text", rename_all = "lowercase")]
pub enum DiffOp {
    /// Unchanged text.
    Equal(String),
    /// Text only in the original.
    Delete(String),
    /// Text only in the edit.
    Insert(String),
}

/// Word-level diff from `original` to `edited` (Unicode word boundaries,
/// whitespace kept), with adjacent operations of one kind merged, and a
/// run of only whitespace between two changes folded into them, so that
/// "a b" → "c d" reads as `-a b- +c d+` with its spaces, not as alternating
/// single words glued together. Concatenating the equal and deleted parts
/// gives `original`; the equal and inserted parts give `edited`.
pub fn word_diff(original: &str, edited: &str) -> Vec<DiffOp> {
    let raw = raw_word_diff(original, edited);
    let mut out: Vec<DiffOp> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let op = &raw[i];
        let between_changes = matches!(op, DiffOp::Equal(t) if t.chars().all(char::is_whitespace))
            && i > 0
            && i + 1 < raw.len()
            && !matches!(raw[i - 1], DiffOp::Equal(_))
            && !matches!(raw[i + 1], DiffOp::Equal(_));
        if between_changes {
            let DiffOp::Equal(space) = op else {
                unreachable!("checked above")
            };
            // Gather the changes on both sides of the space into one
            // delete and one insert.
            let mut del = String::new();
            let mut ins = String::new();
            while let Some(last) = out.last() {
                match last {
                    DiffOp::Delete(t) => del.insert_str(0, t),
                    DiffOp::Insert(t) => ins.insert_str(0, t),
                    DiffOp::Equal(_) => break,
                }
                out.pop();
            }
            del.push_str(space);
            ins.push_str(space);
            if !del.is_empty() {
                out.push(DiffOp::Delete(del));
            }
            if !ins.is_empty() {
                out.push(DiffOp::Insert(ins));
            }
            i += 1;
            continue;
        }
        let n = out.len();
        match (out.last_mut(), op) {
            (Some(DiffOp::Equal(a)), DiffOp::Equal(b))
            | (Some(DiffOp::Delete(a)), DiffOp::Delete(b))
            | (Some(DiffOp::Insert(a)), DiffOp::Insert(b)) => a.push_str(b),
            (Some(DiffOp::Insert(a)), DiffOp::Delete(b)) if n >= 2 => {
                // Keep deletions before insertions within a change.
                let ins = std::mem::take(a);
                out.pop();
                match out.last_mut() {
                    Some(DiffOp::Delete(d)) => d.push_str(b),
                    _ => out.push(DiffOp::Delete(b.clone())),
                }
                out.push(DiffOp::Insert(ins));
            }
            _ => out.push(op.clone()),
        }
        i += 1;
    }
    out
}

fn raw_word_diff(original: &str, edited: &str) -> Vec<DiffOp> {
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .diff_unicode_words(original, edited);
    let mut out: Vec<DiffOp> = Vec::new();
    for change in diff.iter_all_changes() {
        let text = change.value();
        let op = match change.tag() {
            similar::ChangeTag::Equal => DiffOp::Equal(text.to_string()),
            similar::ChangeTag::Delete => DiffOp::Delete(text.to_string()),
            similar::ChangeTag::Insert => DiffOp::Insert(text.to_string()),
        };
        match (out.last_mut(), op) {
            (Some(DiffOp::Equal(a)), DiffOp::Equal(b))
            | (Some(DiffOp::Delete(a)), DiffOp::Delete(b))
            | (Some(DiffOp::Insert(a)), DiffOp::Insert(b)) => a.push_str(&b),
            (_, op) => out.push(op),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original() -> Vec<String> {
        vec![
            "Warfarin interacts with NSAIDs.".to_string(),
            "Ibuprofen 400 mg is fine.".to_string(),
            "Answer: B".to_string(),
        ]
    }

    fn complete(rubric: &Rubric) -> ReviewBody {
        let mut body = ReviewBody::draft_for(rubric, &original());
        for s in &mut body.steps {
            s.label = Some(1);
        }
        for d in &rubric.dimensions {
            body.ratings.insert(d.id.clone(), 4);
        }
        body.rationale = "Reasoning is correct and safe overall.".into();
        body
    }

    #[test]
    fn a_complete_review_validates() {
        let rubric = Rubric::default_medication_safety();
        complete(&rubric).validate(&rubric, &original()).unwrap();
    }

    #[test]
    fn missing_label_rating_and_rationale_are_named() {
        let rubric = Rubric::default_medication_safety();
        let mut b = complete(&rubric);
        b.steps[1].label = None;
        assert_eq!(
            b.validate(&rubric, &original()).unwrap_err().field,
            "steps[1].label"
        );
        let mut b = complete(&rubric);
        b.ratings.remove("medication_safety");
        assert_eq!(
            b.validate(&rubric, &original()).unwrap_err().field,
            "ratings.medication_safety"
        );
        let mut b = complete(&rubric);
        b.rationale = "ok".into();
        assert_eq!(
            b.validate(&rubric, &original()).unwrap_err().field,
            "rationale"
        );
        let mut b = complete(&rubric);
        b.steps[0].flags = vec!["no-such-flag".into()];
        assert_eq!(
            b.validate(&rubric, &original()).unwrap_err().field,
            "steps[0].flags"
        );
    }

    #[test]
    fn edits_additions_and_deletions_need_rationale() {
        let rubric = Rubric::default_medication_safety();
        let mut b = complete(&rubric);
        b.steps[1].text = "Ibuprofen should be avoided; use paracetamol.".into();
        assert_eq!(
            b.validate(&rubric, &original()).unwrap_err().field,
            "steps[1].edit_rationale"
        );
        b.steps[1].edit_rationale = Some("NSAID with warfarin raises bleeding risk".into());
        b.validate(&rubric, &original()).unwrap();
        assert!(b.is_edited(&original()));

        let mut b = complete(&rubric);
        let removed = b.steps.remove(1);
        assert_eq!(b.validate(&rubric, &original()).unwrap_err().field, "steps");
        b.deleted.push(DeletedStep {
            origin: removed.origin.unwrap(),
            rationale: "unsafe advice".into(),
        });
        b.validate(&rubric, &original()).unwrap();
        assert_eq!(b.original_labels(3), vec![Some(1), Some(-1), Some(1)]);

        let mut b = complete(&rubric);
        b.steps.insert(
            1,
            StepReview {
                text: "Check INR.".into(),
                label: Some(1),
                ..StepReview::default()
            },
        );
        assert_eq!(
            b.validate(&rubric, &original()).unwrap_err().field,
            "steps[1].edit_rationale"
        );
    }

    #[test]
    fn shape_errors_are_caught_in_drafts() {
        let rubric = Rubric::default_medication_safety();
        let mut b = complete(&rubric);
        b.steps[2].origin = Some(0);
        assert!(b.validate_shape(&original()).is_err());
        let mut b = complete(&rubric);
        b.steps.swap(0, 1);
        assert_eq!(
            b.validate_shape(&original()).unwrap_err().reason,
            "original steps must keep their order"
        );
        let mut b = complete(&rubric);
        b.steps[0].origin = Some(9);
        assert!(b.validate_shape(&original()).is_err());
    }

    #[test]
    fn word_diff_marks_changed_words() {
        let d = word_diff("Give ibuprofen 400 mg.", "Give paracetamol 500 mg.");
        assert_eq!(
            d,
            vec![
                DiffOp::Equal("Give ".into()),
                DiffOp::Delete("ibuprofen 400".into()),
                DiffOp::Insert("paracetamol 500".into()),
                DiffOp::Equal(" mg.".into()),
            ]
        );
    }

    /// The equal and deleted parts give the original back, the equal and
    /// inserted parts the edit, and changed words keep their spaces.
    #[test]
    fn word_diff_keeps_spaces_and_both_texts() {
        let cases = [
            ("take aspirin daily with food", "take ibuprofen twice daily"),
            ("a b c d", "w x c y z"),
            (
                "Warfarin interacts with NSAIDs.",
                "NSAIDs raise bleeding risk.",
            ),
            ("", "new text"),
            ("old text", ""),
        ];
        for (a, b) in cases {
            let d = word_diff(a, b);
            let old: String = d
                .iter()
                .filter_map(|o| match o {
                    DiffOp::Equal(t) | DiffOp::Delete(t) => Some(t.as_str()),
                    DiffOp::Insert(_) => None,
                })
                .collect();
            let new: String = d
                .iter()
                .filter_map(|o| match o {
                    DiffOp::Equal(t) | DiffOp::Insert(t) => Some(t.as_str()),
                    DiffOp::Delete(_) => None,
                })
                .collect();
            assert_eq!((old.as_str(), new.as_str()), (a, b), "{d:?}");
            for w in d.windows(2) {
                let glued = matches!((&w[0], &w[1]), (DiffOp::Delete(x), DiffOp::Delete(y)) | (DiffOp::Insert(x), DiffOp::Insert(y)) if !x.is_empty() && !y.is_empty());
                assert!(!glued, "adjacent runs of one kind are merged: {d:?}");
            }
        }
        assert_eq!(
            word_diff("a b c d", "w x c y z")[..2],
            [DiffOp::Delete("a b".into()), DiffOp::Insert("w x".into())]
        );
    }
}
