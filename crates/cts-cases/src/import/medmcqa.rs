//! MedMCQA importer: one JSON object per line, in any of three shapes.
//!
//! - [`MedmcqaShape::Original`], as released by the MedMCQA authors:
//!   `{"id", "question", "opa", "opb", "opc", "opd", "cop": 1..=4,
//!   "choice_type", "exp", "subject_name", "topic_name"}`. `cop` is 1-based;
//!   a `cop` of 0 is refused with a hint, because the 0-based export of the
//!   same data would otherwise be read one option off.
//! - [`MedmcqaShape::Options`]: `{"question", "options": {"A".."D"},
//!   "answer_idx": "B"}` (the MedQA-like reformatting).
//! - [`MedmcqaShape::Choices`]: `{"question", "choices": ["A. …", …],
//!   "answer": 0-based index}`; a leading `A. `/`A) ` label is stripped.
//!
//! The first record decides the shape and every other record must have the
//! same one. `subject_name` (or `subject`) becomes the subject, `exp` the
//! explanation. Ids are `medmcqa-<id>` when a record has an `id`, otherwise
//! `medmcqa-<n>` with `n` the 1-based record number. Other fields are ignored.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::bench::{finish_records, json_object, letters, BenchOption, BenchRecord, Fields};
use super::{read_text, strip_bom, ImportError, Issues};

/// Which of the MedMCQA shapes a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MedmcqaShape {
    /// `opa`..`opd` with a 1-based `cop`.
    Original,
    /// An `options` object keyed `A`..`D` with a letter `answer_idx`.
    Options,
    /// A `choices` list with a 0-based integer `answer`.
    Choices,
}

impl fmt::Display for MedmcqaShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MedmcqaShape::Original => "original (opa..opd, cop 1-4)",
            MedmcqaShape::Options => "options object (A..D, answer_idx)",
            MedmcqaShape::Choices => "choices list (answer 0-based)",
        })
    }
}

impl MedmcqaShape {
    fn of(object: &Map<String, Value>) -> Option<Self> {
        if object.contains_key("opa") || object.contains_key("cop") {
            Some(MedmcqaShape::Original)
        } else if object.contains_key("options") {
            Some(MedmcqaShape::Options)
        } else if object.contains_key("choices") {
            Some(MedmcqaShape::Choices)
        } else {
            None
        }
    }
}

/// MedMCQA records and the shape the file was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MedmcqaFile {
    /// The shape every record of the file has.
    pub shape: MedmcqaShape,
    /// The records in file order.
    pub records: Vec<BenchRecord>,
}

/// Parses MedMCQA JSONL `text` in whichever shape its first record has.
pub fn parse_medmcqa(file: &str, text: &str) -> Result<MedmcqaFile, ImportError> {
    let mut issues = Issues::new(file);
    let mut records = Vec::new();
    let mut shape: Option<(MedmcqaShape, usize)> = None;
    let mut n = 0usize;
    for (i, line) in strip_bom(text).lines().enumerate() {
        if issues.is_full() {
            issues.truncated = true;
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        n += 1;
        let line_no = i + 1;
        let Some(object) = json_object(line, line_no, &mut issues) else {
            continue;
        };
        let Some(this) = MedmcqaShape::of(&object) else {
            issues.push(
                line_no,
                None,
                "not a MedMCQA record: expected opa..opd and cop, an options object, or a choices list",
            );
            continue;
        };
        match shape {
            None => shape = Some((this, line_no)),
            Some((first, first_line)) if first != this => {
                issues.push(
                    line_no,
                    None,
                    format!("record is in the {this} shape, but the file started in the {first} shape on line {first_line}"),
                );
                continue;
            }
            Some(_) => {}
        }
        let mut fields = Fields {
            object: &object,
            line: line_no,
            issues: &mut issues,
        };
        let id = fields.optional_id("id");
        let question = fields.text("question");
        let subject = fields
            .optional_text("subject_name")
            .or_else(|| fields.optional_text("subject"));
        let explanation = fields.optional_text("exp");
        let choice = match this {
            MedmcqaShape::Original => original(&mut fields),
            MedmcqaShape::Options => fields.lettered_options("options").and_then(|o| {
                let gold = fields.gold_label("answer_idx", &o)?;
                Some((o, gold))
            }),
            MedmcqaShape::Choices => choices(&mut fields),
        };
        let (Some(question), Some((options, gold))) = (question, choice) else {
            continue;
        };
        records.push(BenchRecord {
            id: format!("medmcqa-{}", id.unwrap_or_else(|| n.to_string())),
            line: line_no,
            subject,
            question,
            options,
            gold,
            context: None,
            long_answer: None,
            explanation,
        });
    }
    let records = finish_records(issues, records)?;
    let shape = shape.map_or(MedmcqaShape::Original, |(s, _)| s);
    Ok(MedmcqaFile { shape, records })
}

/// Reads and parses the MedMCQA JSONL file at `path`.
pub fn read_medmcqa(path: &Path) -> Result<MedmcqaFile, ImportError> {
    let (file, text) = read_text(path)?;
    parse_medmcqa(&file, &text)
}

fn original(fields: &mut Fields<'_, '_>) -> Option<(Vec<BenchOption>, String)> {
    let texts: Vec<Option<String>> = ["opa", "opb", "opc", "opd"]
        .iter()
        .map(|name| fields.text(name))
        .collect();
    let cop = fields.integer(
        "cop",
        1..=4,
        " (1 = opa; a 0 suggests a 0-based export: convert it or use the choices shape)",
    );
    let texts: Option<Vec<String>> = texts.into_iter().collect();
    let (texts, cop) = (texts?, cop?);
    let labels = letters(4);
    let gold = labels.get(usize::try_from(cop - 1).ok()?)?.clone();
    let options = labels
        .into_iter()
        .zip(texts)
        .map(|(label, text)| BenchOption { label, text })
        .collect();
    Some((options, gold))
}

fn choices(fields: &mut Fields<'_, '_>) -> Option<(Vec<BenchOption>, String)> {
    let line = fields.line;
    let list = match fields.object.get("choices") {
        Some(Value::Array(list)) if (2..=26).contains(&list.len()) => list,
        _ => {
            fields
                .issues
                .push(line, Some("choices"), "must be a list of 2 to 26 strings");
            return None;
        }
    };
    let labels = letters(list.len());
    let mut options = Vec::with_capacity(list.len());
    for (i, (value, label)) in list.iter().zip(labels).enumerate() {
        match value.as_str().map(|s| strip_label(s, &label)) {
            Some(text) if !text.trim().is_empty() => options.push(BenchOption {
                label,
                text: text.to_owned(),
            }),
            _ => fields.issues.push(
                line,
                Some(&format!("choices[{i}]")),
                "must be a non-empty string",
            ),
        }
    }
    let max = i64::try_from(list.len()).ok()? - 1;
    let answer = fields.integer("answer", 0..=max, " (0 = the first choice)");
    if options.len() != list.len() {
        return None;
    }
    let gold = options.get(usize::try_from(answer?).ok()?)?.label.clone();
    Some((options, gold))
}

/// `"A. Warfarin"` → `"Warfarin"` when the prefix is this option's own label.
fn strip_label<'s>(text: &'s str, label: &str) -> &'s str {
    let trimmed = text.trim_start();
    trimmed
        .strip_prefix(label)
        .and_then(|rest| rest.strip_prefix(['.', ')', ':']))
        .map_or(text, str::trim_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_shape_uses_one_based_cop() {
        let text = r#"{"id": "abc-1", "question": "Synthetic: Q?", "opa": "w", "opb": "x", "opc": "y", "opd": "z", "cop": 3, "choice_type": "single", "exp": "because", "subject_name": "Pharmacology", "topic_name": null}"#;
        let file = parse_medmcqa("m.jsonl", text).unwrap();
        assert_eq!(file.shape, MedmcqaShape::Original);
        let r = &file.records[0];
        assert_eq!((r.id.as_str(), r.gold.as_str()), ("medmcqa-abc-1", "C"));
        assert_eq!(r.gold_text(), Some("y"));
        assert_eq!(r.subject.as_deref(), Some("Pharmacology"));
        assert_eq!(r.explanation.as_deref(), Some("because"));
    }

    #[test]
    fn zero_cop_is_refused_with_a_hint() {
        let text = r#"{"question": "Q", "opa": "w", "opb": "x", "opc": "y", "opd": "z", "cop": 0}"#;
        let err = parse_medmcqa("m.jsonl", text).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "m.jsonl:1: field \"cop\": must be a whole number from 1 to 4 (found 0)"
            ),
            "{msg}"
        );
        assert!(msg.contains("0-based"), "{msg}");
    }

    #[test]
    fn choices_shape_is_zero_based_and_strips_labels() {
        let text = r#"{"question": "Q", "choices": ["A. w", "B) x", "y", "D: z"], "answer": 1}"#;
        let file = parse_medmcqa("m.jsonl", text).unwrap();
        assert_eq!(file.shape, MedmcqaShape::Choices);
        let r = &file.records[0];
        assert_eq!(r.gold, "B");
        let texts: Vec<_> = r.options.iter().map(|o| o.text.as_str()).collect();
        assert_eq!(texts, ["w", "x", "y", "z"]);
        assert_eq!(r.id, "medmcqa-1");
    }

    #[test]
    fn options_shape_reads_answer_idx() {
        let text = r#"{"question": "Q", "options": {"A": "w", "B": "x", "C": "y", "D": "z"}, "answer_idx": "D"}"#;
        let file = parse_medmcqa("m.jsonl", text).unwrap();
        assert_eq!(file.shape, MedmcqaShape::Options);
        assert_eq!(file.records[0].gold, "D");
    }

    #[test]
    fn mixed_shapes_are_an_error_naming_both_lines() {
        let text = "{\"question\": \"Q\", \"choices\": [\"w\", \"x\"], \"answer\": 0}\n{\"question\": \"Q\", \"opa\": \"w\", \"opb\": \"x\", \"opc\": \"y\", \"opd\": \"z\", \"cop\": 1}\n";
        let err = parse_medmcqa("m.jsonl", text).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("m.jsonl:2: record is in the original"),
            "{err}"
        );
        assert!(err.to_string().contains("on line 1"), "{err}");
    }

    #[test]
    fn answer_out_of_range_names_the_field() {
        let text = r#"{"question": "Q", "choices": ["w", "x"], "answer": 2}"#;
        let err = parse_medmcqa("m.jsonl", text).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "m.jsonl:1: field \"answer\": must be a whole number from 0 to 1 (found 2)"
            ),
            "{err}"
        );
    }
}
