//! The versioned prompt that asks a model for a stepwise clinical trace.
//!
//! A [`PromptTemplate`] is fixed text identified by `id` and `version`; its
//! SHA-256 ([`PromptTemplate::sha256`]) lets a stored trace record exactly
//! which wording produced it. Changing any text means a new version.
//!
//! The template asks for numbered steps (which [`mod@crate::segment`] splits on)
//! and a last line `Final answer: <letter or short answer>` (which
//! [`crate::answer`] reads).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// A versioned prompt template. All text is fixed at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptTemplate {
    /// Stable template name, e.g. `cts-stepwise`.
    pub id: &'static str,
    /// Version; bumped whenever any text below changes.
    pub version: u32,
    /// The system message.
    pub system: &'static str,
    /// The user message, with `{question}`, `{options}` and `{answer_format}` slots.
    pub user: &'static str,
    /// What fills `{options}` when there are options; `{option_lines}` holds `A. …` lines.
    pub options_block: &'static str,
    /// What fills `{answer_format}` for a multiple-choice case.
    pub answer_with_options: &'static str,
    /// What fills `{answer_format}` for an open question.
    pub answer_without_options: &'static str,
}

/// The stepwise clinical-reasoning prompt, `cts-stepwise` version 1.
pub const STEPWISE: PromptTemplate = PromptTemplate {
    id: "cts-stepwise",
    version: 1,
    system: "You are a careful clinician answering questions about clinical cases. \
Reason step by step before you answer. Base each step on the facts of the case and on \
established clinical knowledge, say when you make an assumption, and call out \
patient-safety issues such as drug interactions, contraindications and dosing errors. \
This is an evaluation exercise, not the care of a real patient.",
    user: "Clinical case:\n{question}\n{options}\n\
Work through the case in numbered steps, one clinical point per step:\n\
1. ...\n\
2. ...\n\
(as many steps as you need)\n\n\
After the last step, end with one line of exactly this form:\n\
Final answer: {answer_format}",
    options_block: "\nOptions:\n{option_lines}\n",
    answer_with_options: "<the letter of the single best option>",
    answer_without_options: "<a short answer in a few words>",
};

/// The two chat messages a template renders to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RenderedPrompt {
    /// The system message.
    pub system: String,
    /// The user message.
    pub user: String,
}

/// Why a prompt could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    /// The question is empty or only whitespace.
    #[error("the question is empty")]
    EmptyQuestion,
    /// More options than letters A to Z.
    #[error("{0} options given, but options are lettered A to Z (at most 26)")]
    TooManyOptions(usize),
}

impl PromptTemplate {
    /// `id@version`, e.g. `cts-stepwise@1`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    /// The exact text [`PromptTemplate::sha256`] hashes: every field, in a fixed layout.
    pub fn canonical_text(&self) -> String {
        format!(
            "id: {}\nversion: {}\n--- system\n{}\n--- user\n{}\n--- options_block\n{}\n--- answer_with_options\n{}\n--- answer_without_options\n{}\n",
            self.id,
            self.version,
            self.system,
            self.user,
            self.options_block,
            self.answer_with_options,
            self.answer_without_options
        )
    }

    /// SHA-256 of [`PromptTemplate::canonical_text`].
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_text().as_bytes()).into()
    }

    /// [`PromptTemplate::sha256`] as 64 lowercase hex digits.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256())
    }

    /// Renders the messages for a case's question and its options (lettered A, B, … in order).
    pub fn render(
        &self,
        question: &str,
        options: &[String],
    ) -> Result<RenderedPrompt, PromptError> {
        let question = question.trim();
        if question.is_empty() {
            return Err(PromptError::EmptyQuestion);
        }
        if options.len() > 26 {
            return Err(PromptError::TooManyOptions(options.len()));
        }
        let (options_text, answer_format) = if options.is_empty() {
            (String::new(), self.answer_without_options)
        } else {
            let mut lines = String::new();
            for (letter, option) in (b'A'..=b'Z').map(char::from).zip(options) {
                if !lines.is_empty() {
                    lines.push('\n');
                }
                let _ = write!(lines, "{letter}. {}", option.trim());
            }
            (
                fill(self.options_block, &[("option_lines", &lines)]),
                self.answer_with_options,
            )
        };
        Ok(RenderedPrompt {
            system: self.system.to_owned(),
            user: fill(
                self.user,
                &[
                    ("question", question),
                    ("options", &options_text),
                    ("answer_format", answer_format),
                ],
            ),
        })
    }
}

/// Replaces `{name}` slots in one pass, so braces inside inserted text are left alone.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let slot = after.find('}').and_then(|close| {
            values
                .iter()
                .find(|(name, _)| *name == &after[..close])
                .map(|(_, v)| (close, v))
        });
        match slot {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Vec<String> {
        vec!["Warfarin".into(), "Apixaban".into(), "Aspirin".into()]
    }

    #[test]
    fn stepwise_is_version_1() {
        assert_eq!(STEPWISE.id, "cts-stepwise");
        assert_eq!(STEPWISE.version, 1);
        assert_eq!(STEPWISE.label(), "cts-stepwise@1");
    }

    #[test]
    fn template_hash_is_pinned() {
        // Editing the template text must come with a version bump and a new pin.
        assert_eq!(STEPWISE.sha256_hex(), PINNED_SHA256);
    }

    const PINNED_SHA256: &str = "c2b3430243b85123d76a49069d527809f3d17ef0d0fad01096e2eb9d91de56bc";

    #[test]
    fn hash_changes_with_any_field() {
        let other = PromptTemplate {
            version: 2,
            ..STEPWISE
        };
        assert_ne!(other.sha256(), STEPWISE.sha256());
        let other = PromptTemplate {
            answer_with_options: "<letter>",
            ..STEPWISE
        };
        assert_ne!(other.sha256(), STEPWISE.sha256());
    }

    #[test]
    fn renders_question_and_lettered_options() {
        let p = STEPWISE
            .render("  Which anticoagulant?  ", &options())
            .unwrap();
        assert!(p.user.starts_with("Clinical case:\nWhich anticoagulant?\n\nOptions:\nA. Warfarin\nB. Apixaban\nC. Aspirin\n\n"), "{}", p.user);
        assert!(p.user.contains("numbered steps"));
        assert!(
            p.user
                .ends_with("Final answer: <the letter of the single best option>"),
            "{}",
            p.user
        );
        assert_eq!(p.system, STEPWISE.system);
    }

    #[test]
    fn open_question_asks_for_a_short_answer() {
        let p = STEPWISE.render("What should be done?", &[]).unwrap();
        assert!(!p.user.contains("Options:"));
        assert!(
            p.user
                .starts_with("Clinical case:\nWhat should be done?\n\nWork through"),
            "{}",
            p.user
        );
        assert!(p
            .user
            .ends_with("Final answer: <a short answer in a few words>"));
    }

    #[test]
    fn braces_in_the_case_are_not_treated_as_slots() {
        let p = STEPWISE
            .render("Is {options} a drug? {answer_format}", &[])
            .unwrap();
        assert!(
            p.user.contains("Is {options} a drug? {answer_format}"),
            "{}",
            p.user
        );
    }

    #[test]
    fn rejects_empty_question_and_too_many_options() {
        assert_eq!(STEPWISE.render(" ", &[]), Err(PromptError::EmptyQuestion));
        let many = vec!["x".to_owned(); 27];
        assert_eq!(
            STEPWISE.render("Q", &many),
            Err(PromptError::TooManyOptions(27))
        );
    }

    #[test]
    fn rendered_prompt_ends_with_the_final_answer_format_the_segmenter_reads() {
        let p = STEPWISE.render("Q", &options()).unwrap();
        let last = p.user.lines().last().unwrap_or_default();
        assert!(crate::answer::last_marker(last).is_some(), "{last}");
    }
}
