//! The user benchmark format: one multiple-choice item per JSONL line.
//!
//! Fields: `question` (required string); `options`, either an object keyed
//! `A`, `B`, … consecutively or a list of 2 to 26 strings (labelled `A`, `B`,
//! … in order); `answer`, the label of the correct option (required); and
//! optional `id` (a string without whitespace; default `item-<n>`, `n` the
//! 1-based record number), `subject`, `context` (a passage shown with the
//! question) and `explanation` (never shown to a model). Unknown fields are
//! an error, so a typo is caught rather than silently dropped. Blank lines
//! are skipped.

use std::path::Path;

use serde_json::Value;

use super::bench::{finish_records, json_object, letters, BenchOption, BenchRecord, Fields};
use super::{read_text, strip_bom, ImportError, Issues};

/// The fields a user benchmark record may have.
pub const BENCH_JSONL_FIELDS: [&str; 7] = [
    "id",
    "question",
    "options",
    "answer",
    "subject",
    "context",
    "explanation",
];

/// Parses user benchmark JSONL `text`; `file` names the file in problem messages.
pub fn parse_bench_jsonl(file: &str, text: &str) -> Result<Vec<BenchRecord>, ImportError> {
    let mut issues = Issues::new(file);
    let mut records = Vec::new();
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
        for key in object.keys() {
            if !BENCH_JSONL_FIELDS.contains(&key.as_str()) {
                issues.push(
                    line_no,
                    Some(key),
                    format!(
                        "unknown field (expected one of: {})",
                        BENCH_JSONL_FIELDS.join(", ")
                    ),
                );
            }
        }
        let mut fields = Fields {
            object: &object,
            line: line_no,
            issues: &mut issues,
        };
        let id = fields.optional_id("id");
        if id
            .as_deref()
            .is_some_and(|id| id.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            fields.issues.push(
                line_no,
                Some("id"),
                "must not contain whitespace or control characters",
            );
        }
        let question = fields.text("question");
        let options = match object.get("options") {
            Some(Value::Array(list)) => listed_options(list, &mut fields),
            _ => fields.lettered_options("options"),
        };
        let gold = options
            .as_deref()
            .and_then(|o| fields.gold_label("answer", o));
        let subject = fields.optional_text("subject");
        let context = fields.optional_text("context");
        let explanation = fields.optional_text("explanation");
        let (Some(question), Some(options), Some(gold)) = (question, options, gold) else {
            continue;
        };
        if id
            .as_deref()
            .is_some_and(|id| id.contains(char::is_whitespace))
        {
            continue;
        }
        records.push(BenchRecord {
            id: id.unwrap_or_else(|| format!("item-{n}")),
            line: line_no,
            subject,
            question,
            options,
            gold,
            context,
            long_answer: None,
            explanation,
        });
    }
    finish_records(issues, records)
}

/// Reads and parses the user benchmark JSONL file at `path`.
pub fn read_bench_jsonl(path: &Path) -> Result<Vec<BenchRecord>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_bench_jsonl(&file, &text)
}

fn listed_options(list: &[Value], fields: &mut Fields<'_, '_>) -> Option<Vec<BenchOption>> {
    if !(2..=26).contains(&list.len()) {
        fields.issues.push(
            fields.line,
            Some("options"),
            format!("must hold 2 to 26 options, found {}", list.len()),
        );
        return None;
    }
    let before = fields.issues.seen;
    let mut options = Vec::with_capacity(list.len());
    for (i, (value, label)) in list.iter().zip(letters(list.len())).enumerate() {
        match value {
            Value::String(s) if !s.trim().is_empty() => options.push(BenchOption {
                label,
                text: s.clone(),
            }),
            _ => fields.issues.push(
                fields.line,
                Some(&format!("options[{i}]")),
                "must be a non-empty string",
            ),
        }
    }
    (fields.issues.seen == before).then_some(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_list_and_object_options() {
        let text = "{\"id\": \"q1\", \"question\": \"Q\", \"options\": [\"w\", \"x\", \"y\"], \"answer\": \"C\", \"subject\": \"renal\"}\n\n{\"question\": \"Q2\", \"options\": {\"A\": \"yes\", \"B\": \"no\"}, \"answer\": \"A\", \"context\": \"Passage.\"}\n";
        let records = parse_bench_jsonl("b.jsonl", text).unwrap();
        assert_eq!(records[0].id, "q1");
        assert_eq!(records[0].gold_text(), Some("y"));
        assert_eq!(records[1].id, "item-2");
        assert_eq!(records[1].line, 3);
        assert_eq!(records[1].context.as_deref(), Some("Passage."));
    }

    #[test]
    fn unknown_field_is_an_error() {
        let text = r#"{"question": "Q", "options": ["w", "x"], "answer": "A", "answr": "B"}"#;
        let err = parse_bench_jsonl("b.jsonl", text).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("b.jsonl:1: field \"answr\": unknown field"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_ids_are_an_error() {
        let line = r#"{"id": "q", "question": "Q", "options": ["w", "x"], "answer": "A"}"#;
        let err = parse_bench_jsonl("b.jsonl", &format!("{line}\n{line}\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.jsonl:2: field \"id\": duplicate id \"q\" (first used on line 1)"
        );
    }
}
