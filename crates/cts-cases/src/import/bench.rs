//! The benchmark record: one multiple-choice item as a benchmark file states it.
//!
//! The benchmark importers (MedQA, MedMCQA, PubMedQA, MMLU and the user
//! benchmark JSONL) read their files into [`BenchRecord`]s, which then become
//! either [`Case`]s (for `cts cases import`, through [`BenchRecord::to_case`])
//! or evaluation items (in `cts-eval`). Parsing lives here once so the two
//! uses cannot drift apart. This module knows nothing about prompts, scoring
//! or models.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Issues;
use crate::case::{option_label, Case, CaseId};

/// One labelled answer option, e.g. `B` / `Apixaban`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchOption {
    /// The option's label as the prompt shows it: `A`, `B`, … (PubMedQA too: `A` = yes).
    pub label: String,
    /// The option's text.
    pub text: String,
}

/// One benchmark item as read from its file, before it is a case or an evaluation item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchRecord {
    /// Identifier unique within the file, e.g. `medqa-12`, `pubmedqa-21645374`.
    pub id: String,
    /// 1-based line where the record starts in its file.
    pub line: usize,
    /// Subject or exam part when the file gives one (`anatomy`, `step1`, `Pharmacology`).
    pub subject: Option<String>,
    /// The question stem.
    pub question: String,
    /// The options in the order the file gives them, labelled `A`, `B`, … consecutively.
    pub options: Vec<BenchOption>,
    /// Label of the correct option (`C`).
    pub gold: String,
    /// Passage the question is about (PubMedQA's labelled abstract sections), if any.
    pub context: Option<String>,
    /// PubMedQA's long answer (the abstract's conclusion), for the reasoning-free setting.
    pub long_answer: Option<String>,
    /// The file's explanation of the answer (MedMCQA `exp`), never shown to a model.
    pub explanation: Option<String>,
}

impl BenchRecord {
    /// The text of the gold option.
    pub fn gold_text(&self) -> Option<&str> {
        self.options
            .iter()
            .find(|o| o.label == self.gold)
            .map(|o| o.text.as_str())
    }

    /// The record as a reviewable case: tags `[<benchmark>]` (plus `<benchmark>:<subject>`).
    ///
    /// The context, when there is one, follows the question after a
    /// `Context:` line; the long answer and explanation are left out because
    /// they give the answer away. The reference answer is the gold label.
    pub fn to_case(&self, benchmark: &str, source: &str) -> Case {
        let mut question = self.question.clone();
        if let Some(context) = self.context.as_deref().filter(|c| !c.is_empty()) {
            question.push_str("\n\nContext:\n");
            question.push_str(context);
        }
        let mut tags = vec![benchmark.to_owned()];
        if let Some(subject) = &self.subject {
            tags.push(format!("{benchmark}:{subject}"));
        }
        Case {
            id: CaseId(self.id.clone()),
            specialty: self.subject.clone().unwrap_or_else(|| "general".to_owned()),
            question,
            options: self.options.iter().map(|o| o.text.clone()).collect(),
            reference_answer: Some(self.gold.clone()),
            tags,
            source: Some(source.to_owned()),
        }
    }
}

/// The labels `A`, `B`, … for `n` options, as strings.
pub(super) fn letters(n: usize) -> Vec<String> {
    (0..n)
        .filter_map(option_label)
        .map(|c| c.to_string())
        .collect()
}

/// Reads typed fields of one JSON object, reporting problems against its line.
pub(super) struct Fields<'a, 'i> {
    pub(super) object: &'a Map<String, Value>,
    pub(super) line: usize,
    pub(super) issues: &'i mut Issues,
}

impl<'a> Fields<'a, '_> {
    /// A required non-blank string.
    pub(super) fn text(&mut self, name: &str) -> Option<String> {
        match self.object.get(name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(_) => {
                self.issues
                    .push(self.line, Some(name), "must be a non-empty string");
                None
            }
            None => {
                self.issues
                    .push(self.line, Some(name), "is required (a non-empty string)");
                None
            }
        }
    }

    /// An optional string; `null`, absent and blank all read as `None`.
    pub(super) fn optional_text(&mut self, name: &str) -> Option<String> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.trim().is_empty()),
            Some(_) => {
                self.issues
                    .push(self.line, Some(name), "must be a string when present");
                None
            }
        }
    }

    /// An optional identifier: a string or an integer.
    pub(super) fn optional_id(&mut self, name: &str) -> Option<String> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
            Some(_) => {
                self.issues.push(
                    self.line,
                    Some(name),
                    "must be a non-empty string or a whole number when present",
                );
                None
            }
        }
    }

    /// A required integer in `range`.
    pub(super) fn integer(
        &mut self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
        hint: &str,
    ) -> Option<i64> {
        let value = self.object.get(name);
        match value.and_then(Value::as_i64) {
            Some(n) if range.contains(&n) => Some(n),
            Some(n) => {
                self.issues.push(
                    self.line,
                    Some(name),
                    format!(
                        "must be a whole number from {} to {} (found {n}){hint}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            None => {
                let what = if value.is_some() {
                    "must be"
                } else {
                    "is required:"
                };
                self.issues.push(
                    self.line,
                    Some(name),
                    format!(
                        "{what} a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// A required object of options keyed `A`, `B`, … consecutively (at least two).
    pub(super) fn lettered_options(&mut self, name: &str) -> Option<Vec<BenchOption>> {
        let Some(Value::Object(map)) = self.object.get(name) else {
            let what = if self.object.contains_key(name) {
                "must be an object of options keyed A, B, C, …"
            } else {
                "is required (an object of options keyed A, B, C, …)"
            };
            self.issues.push(self.line, Some(name), what);
            return None;
        };
        let expected = letters(map.len());
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        if map.len() < 2 || map.len() > 26 || keys.iter().zip(&expected).any(|(k, e)| *k != e) {
            let found: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
            self.issues.push(
                self.line,
                Some(name),
                format!(
                    "keys must be consecutive letters from A (2 to 26 options), found {}",
                    found.join(", ")
                ),
            );
            return None;
        }
        let before = self.issues.seen;
        let mut options = Vec::with_capacity(map.len());
        for label in expected {
            match map.get(&label) {
                Some(Value::String(s)) if !s.trim().is_empty() => options.push(BenchOption {
                    label,
                    text: s.clone(),
                }),
                _ => self.issues.push(
                    self.line,
                    Some(&format!("{name}.{label}")),
                    "must be a non-empty string",
                ),
            }
        }
        (self.issues.seen == before).then_some(options)
    }

    /// A required label naming one of `options`.
    pub(super) fn gold_label(&mut self, name: &str, options: &[BenchOption]) -> Option<String> {
        let label = self.text(name)?;
        let label = label.trim().to_owned();
        if options.iter().any(|o| o.label == label) {
            Some(label)
        } else {
            let last = options.last().map_or("A", |o| o.label.as_str());
            self.issues.push(
                self.line,
                Some(name),
                format!("must be one of the option labels A to {last} (found \"{label}\")"),
            );
            None
        }
    }
}

/// Parses one non-blank JSONL line as an object, reporting a problem otherwise.
pub(super) fn json_object(
    line: &str,
    line_no: usize,
    issues: &mut Issues,
) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => Some(map),
        Ok(_) => {
            issues.push(line_no, None, "must be a JSON object");
            None
        }
        Err(e) => {
            issues.push(line_no, None, format!("invalid JSON: {e}"));
            None
        }
    }
}

/// Checks ids are unique and the file is not empty; returns the records if nothing went wrong.
pub(super) fn finish_records(
    mut issues: Issues,
    records: Vec<BenchRecord>,
) -> Result<Vec<BenchRecord>, super::ImportError> {
    let mut first_line: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for r in &records {
        match first_line.get(r.id.as_str()) {
            Some(&first) => issues.push(
                r.line,
                Some("id"),
                format!("duplicate id \"{}\" (first used on line {first})", r.id),
            ),
            None => {
                first_line.insert(r.id.as_str(), r.line);
            }
        }
    }
    issues.into_result(records)
}

/// Turns records into validated cases (all or nothing), e.g. for `cts cases import`.
pub fn records_to_cases(
    file: &str,
    records: &[BenchRecord],
    benchmark: &str,
    source: &str,
) -> Result<Vec<super::ParsedCase>, super::ImportError> {
    let mut issues = Issues::new(file);
    let mut cases = Vec::with_capacity(records.len());
    for r in records {
        issues.check(r.to_case(benchmark, source), r.line, &mut cases);
    }
    issues.finish(cases)
}
