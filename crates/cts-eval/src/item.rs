//! The evaluation item: one question put to a model, with its options and gold label.
//!
//! A [`BenchItem`] is built by [`crate::load`] from a benchmark file and is
//! what a runner renders, caches (by [`BenchItem::digest_hex`]) and scores.
//! It is serialized into per-item logs, so it is a plain serde type.

use std::fmt;

use cts_cases::import::BenchOption;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The benchmark families CTS reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchmarkKind {
    /// MedQA (USMLE), JSONL, 4 or 5 options.
    Medqa,
    /// MedMCQA, JSONL in one of three shapes, 4 options.
    Medmcqa,
    /// PubMedQA PQA-L test split, yes/no/maybe.
    Pubmedqa,
    /// MMLU, the six medical subjects, 4 options.
    MmluMedical,
    /// A user benchmark in the documented JSONL format.
    Custom,
}

impl BenchmarkKind {
    /// The name used on the command line and in reports: `medqa`, `mmlu-medical`, …
    pub fn name(self) -> &'static str {
        match self {
            BenchmarkKind::Medqa => "medqa",
            BenchmarkKind::Medmcqa => "medmcqa",
            BenchmarkKind::Pubmedqa => "pubmedqa",
            BenchmarkKind::MmluMedical => "mmlu-medical",
            BenchmarkKind::Custom => "custom",
        }
    }

    /// Parses [`BenchmarkKind::name`] back; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            BenchmarkKind::Medqa,
            BenchmarkKind::Medmcqa,
            BenchmarkKind::Pubmedqa,
            BenchmarkKind::MmluMedical,
            BenchmarkKind::Custom,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }

    /// True when the options are PubMedQA's yes/no/maybe decisions rather than lettered answers.
    pub fn is_yes_no_maybe(self) -> bool {
        self == BenchmarkKind::Pubmedqa
    }
}

impl fmt::Display for BenchmarkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One benchmark item ready to be put to a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchItem {
    /// The benchmark's name in reports (`medqa`, `mmlu-medical`, or a user name).
    pub benchmark: String,
    /// Which family it belongs to (decides templates and scoring).
    pub kind: BenchmarkKind,
    /// Identifier unique within the benchmark, e.g. `mmlu-anatomy-test-12`.
    pub id: String,
    /// The file the item was read from, as given to the loader.
    pub file: String,
    /// 1-based line of the item in that file.
    pub line: usize,
    /// Subject (MMLU subject, MedMCQA subject, MedQA exam step), if known.
    pub subject: Option<String>,
    /// The question stem.
    pub question: String,
    /// Passage shown before the question (PubMedQA abstract), if any.
    pub context: Option<String>,
    /// The options, labelled `A`, `B`, … in order.
    pub options: Vec<BenchOption>,
    /// Label of the correct option.
    pub gold: String,
}

impl BenchItem {
    /// The option labels in order (`["A", "B", "C", "D"]`).
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.options.iter().map(|o| o.label.as_str())
    }

    /// Text of the option labelled `label`.
    pub fn option_text(&self, label: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|o| o.label == label)
            .map(|o| o.text.as_str())
    }

    /// Text of the gold option (`yes`, `no` or `maybe` for PubMedQA).
    pub fn gold_text(&self) -> &str {
        self.option_text(&self.gold).unwrap_or_default()
    }

    /// SHA-256 over what the model sees and the gold label (RFC 8785 JSON of
    /// question, context, options and gold), hex: the item part of a cache key.
    ///
    /// File name and line are left out, so moving a file keeps its cache.
    pub fn digest_hex(&self) -> String {
        #[derive(Serialize)]
        struct Seen<'a> {
            question: &'a str,
            context: Option<&'a str>,
            options: &'a [BenchOption],
            gold: &'a str,
        }
        let seen = Seen {
            question: &self.question,
            context: self.context.as_deref(),
            options: &self.options,
            gold: &self.gold,
        };
        // Only strings and lists of string pairs: JCS cannot fail on them; an
        // empty encoding would still give a stable (if useless) digest.
        let bytes = serde_json_canonicalizer::to_vec(&seen).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }
}
