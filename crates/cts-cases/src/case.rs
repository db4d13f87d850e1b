//! The clinical case model and its content digest.
//!
//! A [`Case`] is what a model is asked about. Its digest is the SHA-256 of an
//! RFC 8785 (JCS) canonical JSON encoding, so two byte-for-byte different
//! files that describe the same case give the same digest.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most options a case may have: one per letter `A`..=`Z`.
pub const MAX_OPTIONS: usize = 26;

/// A case identifier, unique within an import file (e.g. `pubmedqa-21645374`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub String);

impl CaseId {
    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CaseId {
    fn from(s: &str) -> Self {
        CaseId(s.to_owned())
    }
}

/// One clinical case: a question, optional lettered options and an optional reference answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Identifier, unique within its source file.
    pub id: CaseId,
    /// Clinical specialty, e.g. `cardiology`.
    pub specialty: String,
    /// The question or vignette put to the model.
    pub question: String,
    /// Multiple-choice options, labelled `A`, `B`, `C`, … in this order; empty for open questions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// The reference answer: an option letter for multiple choice, otherwise free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_answer: Option<String>,
    /// Free-form tags, e.g. `policy:renal-dose`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Where the case came from (data set, author).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Case {
    /// RFC 8785 canonical JSON of the case: the bytes that [`Case::digest`] hashes.
    ///
    /// Absent optional fields and empty lists are omitted, so `"tags": []` and
    /// no `tags` key describe the same case.
    pub fn canonical_json(&self) -> Vec<u8> {
        // A Case holds only strings, lists of strings and an optional string:
        // no floats and no non-string map keys, the only inputs JCS rejects.
        serde_json_canonicalizer::to_vec(self)
            .expect("a Case holds only strings, which JCS always encodes")
    }

    /// SHA-256 of [`Case::canonical_json`]: identical cases have identical digests.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_json()).into()
    }

    /// [`Case::digest`] as 64 lowercase hex digits.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest())
    }

    /// The options with their letters, e.g. `[('A', "Warfarin"), ('B', "Apixaban")]`.
    pub fn labelled_options(&self) -> impl Iterator<Item = (char, &str)> {
        self.options
            .iter()
            .enumerate()
            .filter_map(|(i, o)| option_label(i).map(|l| (l, o.as_str())))
    }

    /// All text fields with their field names (`id`, `question`, `options[0]`, …), for scanning.
    pub fn text_fields(&self) -> Vec<(String, &str)> {
        let mut fields = vec![
            ("id".to_owned(), self.id.as_str()),
            ("specialty".to_owned(), self.specialty.as_str()),
            ("question".to_owned(), self.question.as_str()),
        ];
        for (i, o) in self.options.iter().enumerate() {
            fields.push((format!("options[{i}]"), o.as_str()));
        }
        if let Some(r) = &self.reference_answer {
            fields.push(("reference_answer".to_owned(), r.as_str()));
        }
        for (i, t) in self.tags.iter().enumerate() {
            fields.push((format!("tags[{i}]"), t.as_str()));
        }
        if let Some(s) = &self.source {
            fields.push(("source".to_owned(), s.as_str()));
        }
        fields
    }
}

/// One thing wrong with one field of a case, found by [`Case::problems`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field, e.g. `question` or `options[2]`.
    pub field: String,
    /// What is wrong, phrased to follow `field "…": `.
    pub message: String,
}

impl FieldProblem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Case {
    /// Everything wrong with this case, or an empty list if it is valid.
    ///
    /// Rules: `id` is non-empty without whitespace or control characters;
    /// `specialty` and `question` are non-blank; options, tags, `source` and
    /// `reference_answer` are non-blank when present; at most 26 options; and a
    /// one-letter `reference_answer` on a multiple-choice case names an option.
    pub fn problems(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        let id = self.id.as_str();
        if id.is_empty() {
            out.push(FieldProblem::new("id", NON_EMPTY));
        } else if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            out.push(FieldProblem::new(
                "id",
                "must not contain whitespace or control characters",
            ));
        }
        for (field, value) in [("specialty", &self.specialty), ("question", &self.question)] {
            if value.trim().is_empty() {
                out.push(FieldProblem::new(field, NON_EMPTY));
            }
        }
        if self.options.len() > MAX_OPTIONS {
            out.push(FieldProblem::new(
                "options",
                format!(
                    "at most {MAX_OPTIONS} options (A to Z), found {}",
                    self.options.len()
                ),
            ));
        }
        for (list, name) in [(&self.options, "options"), (&self.tags, "tags")] {
            for (i, item) in list.iter().enumerate() {
                if item.trim().is_empty() {
                    out.push(FieldProblem::new(format!("{name}[{i}]"), NON_EMPTY));
                }
            }
        }
        for (field, value) in [
            ("reference_answer", &self.reference_answer),
            ("source", &self.source),
        ] {
            if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
                out.push(FieldProblem::new(
                    field,
                    "must be a non-empty string when present",
                ));
            }
        }
        if let Some(answer) = &self.reference_answer {
            let n = self.options.len().min(MAX_OPTIONS);
            if let Some(letter) = single_letter(answer) {
                if n > 0 && !(0..n).any(|i| option_label(i) == Some(letter)) {
                    let last = option_label(n - 1).unwrap_or('Z');
                    out.push(FieldProblem::new(
                        "reference_answer",
                        format!("option letter {letter} is not among the options A to {last}"),
                    ));
                }
            }
        }
        out
    }
}

const NON_EMPTY: &str = "must be a non-empty string";

/// `Some('B')` if `s`, trimmed, is one ASCII uppercase letter.
fn single_letter(s: &str) -> Option<char> {
    let mut chars = s.trim().chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_uppercase() => Some(c),
        _ => None,
    }
}

/// The letter for the option at `index` (`0` → `A`), or `None` past `Z`.
pub fn option_label(index: usize) -> Option<char> {
    if index < MAX_OPTIONS {
        // index < 26, so the cast and the addition stay within ASCII.
        Some(char::from(b'A' + index as u8))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> Case {
        Case {
            id: CaseId::from("c1"),
            specialty: "cardiology".into(),
            question: "Which anticoagulant?".into(),
            options: vec!["Warfarin".into(), "Apixaban".into()],
            reference_answer: Some("B".into()),
            tags: vec!["policy:renal-dose".into()],
            source: None,
        }
    }

    #[test]
    fn identical_cases_have_identical_digests() {
        assert_eq!(case().digest(), case().digest());
    }

    #[test]
    fn any_field_change_changes_the_digest() {
        let mut other = case();
        other.question.push(' ');
        assert_ne!(case().digest(), other.digest());
    }

    #[test]
    fn canonical_json_sorts_keys_and_omits_absent_fields() {
        let json = String::from_utf8(case().canonical_json()).unwrap();
        assert_eq!(
            json,
            r#"{"id":"c1","options":["Warfarin","Apixaban"],"question":"Which anticoagulant?","reference_answer":"B","specialty":"cardiology","tags":["policy:renal-dose"]}"#
        );
    }

    #[test]
    fn digest_ignores_json_key_order_and_empty_lists() {
        let a: Case =
            serde_json::from_str(r#"{"question":"Q","id":"x","specialty":"s","tags":[]}"#).unwrap();
        let b: Case = serde_json::from_str(r#"{"id":"x","specialty":"s","question":"Q"}"#).unwrap();
        assert_eq!(a.digest_hex(), b.digest_hex());
    }

    #[test]
    fn a_valid_case_has_no_problems() {
        assert_eq!(case().problems(), vec![]);
    }

    #[test]
    fn blank_question_is_a_problem() {
        let mut c = case();
        c.question = "  ".into();
        assert_eq!(c.problems(), vec![FieldProblem::new("question", NON_EMPTY)]);
    }

    #[test]
    fn reference_letter_outside_the_options_is_a_problem() {
        let mut c = case();
        c.reference_answer = Some("C".into());
        let problems = c.problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "reference_answer");
        assert!(
            problems[0].message.contains("A to B"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn free_text_reference_on_an_open_case_is_fine() {
        let mut c = case();
        c.options.clear();
        c.reference_answer = Some("Stop the NSAID".into());
        assert!(c.problems().is_empty());
    }

    #[test]
    fn id_with_whitespace_is_a_problem() {
        let mut c = case();
        c.id = CaseId::from("case 1");
        assert_eq!(c.problems()[0].field, "id");
    }

    #[test]
    fn option_labels_run_from_a_to_z() {
        assert_eq!(option_label(0), Some('A'));
        assert_eq!(option_label(25), Some('Z'));
        assert_eq!(option_label(26), None);
    }
}
