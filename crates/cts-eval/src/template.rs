//! Versioned prompt templates for benchmark items: zero- or k-shot, plain or chain-of-thought.
//!
//! A [`TemplateId`] names one exact prompt text; the tests pin each text, so
//! a change to the wording needs a new id (and old results keep theirs). The
//! format follows the MMLU paper and lm-evaluation-harness: a header line,
//! the exemplars with their answers, then the item ending in `Answer:`.
//!
//! ```text
//! The following are multiple choice questions (with answers) about anatomy.
//!
//! <exemplar question>
//! A. …
//! B. …
//! Answer: C
//!
//! <item question>
//! A. …
//! Answer:
//! ```
//!
//! Chain-of-thought asks for reasoning and a last line `Answer: X` and ends
//! with `Answer: Let's think step by step.`; exemplars keep their bare answers.
//! For log-likelihood scoring, [`Template::continuations`] gives the text
//! each option's score is read from (` A`, ` B`, … after `Answer:`).
//!
//! Not here: chat formatting (the model backend applies its chat template).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::item::{BenchItem, BenchmarkKind};

/// A named, versioned prompt text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TemplateId {
    /// Question, lettered options, `Answer:`; the model answers with a letter.
    #[serde(rename = "mcq-plain/v1")]
    McqPlainV1,
    /// As plain, but asks for step-by-step reasoning before a last line `Answer: X`.
    #[serde(rename = "mcq-cot/v1")]
    McqCotV1,
}

impl TemplateId {
    /// The id as recorded with results: `mcq-plain/v1`, `mcq-cot/v1`.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateId::McqPlainV1 => "mcq-plain/v1",
            TemplateId::McqCotV1 => "mcq-cot/v1",
        }
    }

    /// True for chain-of-thought templates (generation only; no log-likelihood).
    pub fn is_chain_of_thought(self) -> bool {
        self == TemplateId::McqCotV1
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A template with its shot count: renders prompts for items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// Which prompt text.
    pub id: TemplateId,
    /// How many exemplars precede the item (0 = zero-shot).
    pub shots: usize,
}

impl Template {
    /// The prompt for `item`, with up to [`Template::shots`] of `pool` as exemplars.
    ///
    /// Exemplars come from [`select_shots`]: same subject first, never the item itself.
    pub fn render(&self, item: &BenchItem, pool: &[BenchItem]) -> String {
        let mut out = header(item);
        if self.id.is_chain_of_thought() {
            out.push_str(" Think step by step, then give your final answer on a last line of the form \"Answer: X\", where X is the letter of one option.");
        }
        out.push_str("\n\n");
        for shot in select_shots(pool, item, self.shots) {
            block(&mut out, shot);
            out.push_str("Answer: ");
            out.push_str(&shot.gold);
            out.push_str("\n\n");
        }
        block(&mut out, item);
        out.push_str("Answer:");
        if self.id.is_chain_of_thought() {
            out.push_str(" Let's think step by step.");
        }
        out
    }

    /// The continuations a log-likelihood scorer compares, one per option, in option order.
    pub fn continuations(item: &BenchItem) -> Vec<String> {
        item.labels().map(|l| format!(" {l}")).collect()
    }
}

/// Up to `k` exemplars from `pool` for `item`: same subject first, in pool
/// order, then others; never an item with the same id or digest.
pub fn select_shots<'p>(pool: &'p [BenchItem], item: &BenchItem, k: usize) -> Vec<&'p BenchItem> {
    if k == 0 {
        return Vec::new();
    }
    let digest = item.digest_hex();
    let usable = |p: &&BenchItem| p.id != item.id && p.digest_hex() != digest;
    let same = pool
        .iter()
        .filter(|p| p.subject == item.subject)
        .filter(usable);
    let other = pool
        .iter()
        .filter(|p| p.subject != item.subject)
        .filter(usable);
    same.chain(other).take(k).collect()
}

fn header(item: &BenchItem) -> String {
    match item.kind {
        BenchmarkKind::Pubmedqa => "The following are questions about biomedical research abstracts, each answered yes, no or maybe.".to_owned(),
        _ => {
            let topic = item
                .subject
                .as_deref()
                .filter(|_| item.kind == BenchmarkKind::MmluMedical)
                .map_or_else(|| "medicine".to_owned(), |s| s.replace('_', " "));
            format!("The following are multiple choice questions (with answers) about {topic}.")
        }
    }
}

fn block(out: &mut String, item: &BenchItem) {
    if let Some(context) = item.context.as_deref().filter(|c| !c.trim().is_empty()) {
        out.push_str("Context: ");
        out.push_str(context.trim());
        out.push('\n');
    }
    if item.kind == BenchmarkKind::Pubmedqa {
        out.push_str("Question: ");
    }
    out.push_str(item.question.trim());
    out.push('\n');
    for o in &item.options {
        out.push_str(&o.label);
        out.push_str(". ");
        out.push_str(o.text.trim());
        out.push('\n');
    }
}
