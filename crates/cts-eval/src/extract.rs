//! Reading the chosen option back out of a model's output.
//!
//! Rules, tried in this order; the first that gives an answer wins:
//!
//! 1. **Marker** — after the *last* final-answer marker (`Answer: X`,
//!    `ANSWER: X`, `Final answer: X`, `The answer is (X)`, …; the markers of
//!    [`cts_trace::answer`]), an option letter in any of the forms
//!    [`cts_trace::answer_choice`] reads (`C`, `(C)`, `C.`, `**C**`, `\boxed{C}`).
//! 2. **Marker, option text** — after that marker, the text of exactly one
//!    option at the start (`Answer: Apixaban`, `Answer: yes`), case and
//!    trailing punctuation ignored.
//! 3. **Bare letter** — no marker: the whole output is a letter form
//!    (`C`, `(C)`, `C. Warfarin`).
//! 4. **Parenthesised letter** — `(X)` with a valid option letter appears
//!    in the output, and every such `(X)` names the same option.
//! 5. **Option text** — the output (trimmed, case and trailing punctuation
//!    ignored) is one option's text, or starts with it followed by a
//!    sentence break (`Yes, because …`, `Maybe.`).
//!
//! Anything else is [`Extraction::Unparseable`]: scored as wrong and counted
//! separately, never guessed. This module does not decide correctness.

use std::sync::LazyLock;

use cts_trace::answer::{answer_choice, last_marker};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::item::BenchItem;

/// Which rule read the answer (recorded in per-item logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A letter after the last final-answer marker.
    Marker,
    /// An option's text after the last final-answer marker.
    MarkerText,
    /// The whole output is a letter form.
    BareLetter,
    /// Every `(X)` in the output names the same option.
    Parenthesised,
    /// The output is (or starts with) one option's text.
    OptionText,
    /// Not read from text: the option with the highest log-likelihood (log-likelihood mode).
    Loglikelihood,
}

/// What [`extract`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Extraction {
    /// An option was named.
    Answer {
        /// The option's label (`C`).
        label: String,
        /// The rule that found it.
        rule: Rule,
    },
    /// No rule gave an option.
    Unparseable,
}

impl Extraction {
    /// The label found, if any.
    pub fn label(&self) -> Option<&str> {
        match self {
            Extraction::Answer { label, .. } => Some(label),
            Extraction::Unparseable => None,
        }
    }
}

/// True when `extraction` names `item`'s gold option; an unparseable answer is wrong.
pub fn is_correct(item: &BenchItem, extraction: &Extraction) -> bool {
    extraction.label() == Some(item.gold.as_str())
}

/// The decision text an extraction names for a PubMedQA item (`yes`, `no`,
/// `maybe`), as [`crate::stats::pubmedqa_score`] takes it; `None` when unparseable.
pub fn decision<'i>(item: &'i BenchItem, extraction: &Extraction) -> Option<&'i str> {
    extraction.label().and_then(|l| item.option_text(l))
}

static PAREN_LETTER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\(([A-Z])\)").ok());

/// The option `output` names for `item`, by the rules in the module docs.
pub fn extract(output: &str, item: &BenchItem) -> Extraction {
    let n = item.options.len();
    let found = |label: String, rule| Extraction::Answer { label, rule };
    if let Some(marker) = last_marker(output) {
        let tail = &output[marker.end..];
        if let Some(letter) = answer_choice(tail, n) {
            return found(letter.to_string(), Rule::Marker);
        }
        if let Some(label) = option_text_at_start(tail, item) {
            return found(label, Rule::MarkerText);
        }
    } else if let Some(letter) = answer_choice(output, n) {
        return found(letter.to_string(), Rule::BareLetter);
    }
    if let Some(label) = parenthesised(output, item) {
        return found(label, Rule::Parenthesised);
    }
    if let Some(label) = option_text_at_start(output, item) {
        return found(label, Rule::OptionText);
    }
    Extraction::Unparseable
}

fn parenthesised(output: &str, item: &BenchItem) -> Option<String> {
    let mut named: Option<&str> = None;
    for caps in PAREN_LETTER.as_ref()?.captures_iter(output) {
        let letter = caps.get(1)?.as_str();
        if item.option_text(letter).is_none() {
            continue;
        }
        match named {
            Some(first) if first != letter => return None,
            _ => named = Some(letter),
        }
    }
    named.map(str::to_owned)
}

/// Lowercase, inner whitespace collapsed, surrounding quotes, emphasis and punctuation removed.
fn normalise(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .join(" ")
        .to_lowercase()
        .trim_matches(|c: char| "*_`'\"“”.!;:,".contains(c))
        .to_owned()
}

/// The one option whose text `text` is, or begins with before a sentence break.
fn option_text_at_start(text: &str, item: &BenchItem) -> Option<String> {
    let said = normalise(text);
    if said.is_empty() {
        return None;
    }
    let mut matches = item.options.iter().filter(|o| {
        let option = normalise(&o.text);
        !option.is_empty()
            && (said == option
                || said.strip_prefix(&option).is_some_and(|rest| {
                    rest.starts_with(['.', ',', ';', ':', '!', '\n']) || rest.starts_with(" -")
                }))
    });
    let first = matches.next()?;
    matches.next().is_none().then(|| first.label.clone())
}
