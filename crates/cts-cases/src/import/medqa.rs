//! MedQA (USMLE) importer: one JSON object per line.
//!
//! Shape, as released by the MedQA authors (4- and 5-option variants):
//! `{"question": …, "options": {"A": …, …, "D"|"E": …}, "answer_idx": "C",
//! "answer": "<text of C>", "meta_info": "step1"}`. `answer`, when present,
//! must equal the text of the `answer_idx` option (a mismatch means a broken
//! file). `meta_info` becomes the subject. Other fields (`metamap_phrases`)
//! are ignored. Records get ids `medqa-<n>`, `n` the 1-based record number,
//! because the files carry none. Blank lines are skipped.

use std::path::Path;

use super::bench::{finish_records, json_object, BenchRecord, Fields};
use super::{read_text, strip_bom, ImportError, Issues};

/// Parses MedQA JSONL `text`; `file` names the file in problem messages.
pub fn parse_medqa(file: &str, text: &str) -> Result<Vec<BenchRecord>, ImportError> {
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
        let mut fields = Fields {
            object: &object,
            line: line_no,
            issues: &mut issues,
        };
        let question = fields.text("question");
        let options = fields.lettered_options("options");
        let gold = options
            .as_deref()
            .and_then(|o| fields.gold_label("answer_idx", o));
        let answer = fields.optional_text("answer");
        let subject = fields.optional_text("meta_info");
        let (Some(question), Some(options), Some(gold)) = (question, options, gold) else {
            continue;
        };
        let record = BenchRecord {
            id: format!("medqa-{n}"),
            line: line_no,
            subject,
            question,
            options,
            gold,
            context: None,
            long_answer: None,
            explanation: None,
        };
        if let Some(answer) = answer {
            if record.gold_text().map(str::trim) != Some(answer.trim()) {
                issues.push(
                    line_no,
                    Some("answer"),
                    format!(
                        "does not match the text of option {} named by answer_idx",
                        record.gold
                    ),
                );
                continue;
            }
        }
        records.push(record);
    }
    finish_records(issues, records)
}

/// Reads and parses the MedQA JSONL file at `path`.
pub fn read_medqa(path: &Path) -> Result<Vec<BenchRecord>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_medqa(&file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUR: &str = r#"{"question": "Synthetic: which drug?", "answer": "Apixaban", "options": {"A": "Warfarin", "B": "Apixaban", "C": "Aspirin", "D": "Heparin"}, "meta_info": "step1", "answer_idx": "B", "metamap_phrases": ["drug"]}"#;

    #[test]
    fn reads_a_four_option_record() {
        let records = parse_medqa("medqa.jsonl", FOUR).unwrap();
        let r = &records[0];
        assert_eq!(r.id, "medqa-1");
        assert_eq!(r.options.len(), 4);
        assert_eq!(r.gold, "B");
        assert_eq!(r.gold_text(), Some("Apixaban"));
        assert_eq!(r.subject.as_deref(), Some("step1"));
    }

    #[test]
    fn answer_text_must_match_answer_idx() {
        let text = FOUR.replace("\"answer\": \"Apixaban\"", "\"answer\": \"Aspirin\"");
        let err = parse_medqa("m.jsonl", &text).unwrap_err();
        assert_eq!(
            err.issues()[0].to_string(),
            "m.jsonl:1: field \"answer\": does not match the text of option B named by answer_idx"
        );
    }

    #[test]
    fn answer_idx_outside_the_options_names_the_field() {
        let text = FOUR.replace("\"answer_idx\": \"B\"", "\"answer_idx\": \"E\"");
        let err = parse_medqa("m.jsonl", &format!("\n{text}")).unwrap_err();
        assert_eq!(
            err.issues()[0].to_string(),
            "m.jsonl:2: field \"answer_idx\": must be one of the option labels A to D (found \"E\")"
        );
    }

    #[test]
    fn option_keys_must_be_consecutive_letters() {
        let text = FOUR.replace("\"D\": \"Heparin\"", "\"F\": \"Heparin\"");
        let err = parse_medqa("m.jsonl", &text).unwrap_err();
        assert!(
            err.to_string()
                .contains("field \"options\": keys must be consecutive"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_file_is_an_error() {
        let err = parse_medqa("m.jsonl", "\n  \n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.jsonl:0: the file holds no records (it is empty or blank)"
        );
    }
}
