//! JSON Lines importer: one case object per line.
//!
//! Fields: `id`, `specialty`, `question` (required strings), and optional
//! `options` (array of strings), `reference_answer` (string), `tags` (array of
//! strings), `source` (string). An optional field may also be `null`. Unknown
//! fields are an error, so a typo such as `refrence_answer` is caught rather
//! than silently dropped. Blank lines are skipped.

use std::path::Path;

use serde_json::{Map, Value};

use super::{read_text, strip_bom, ImportError, Issues, ParsedCase};
use crate::case::{Case, CaseId};

/// The fields a JSONL case object may have.
pub const JSONL_FIELDS: [&str; 7] = [
    "id",
    "specialty",
    "question",
    "options",
    "reference_answer",
    "tags",
    "source",
];

/// Parses JSONL `text`; `file` names the file in problem messages.
pub fn parse_jsonl(file: &str, text: &str) -> Result<Vec<ParsedCase>, ImportError> {
    let mut issues = Issues::new(file);
    let mut cases = Vec::new();
    for (i, line) in strip_bom(text).lines().enumerate() {
        if issues.is_full() {
            issues.truncated = true;
            break;
        }
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                issues.push(line_no, None, "must be a JSON object");
                continue;
            }
            Err(e) => {
                issues.push(line_no, None, format!("invalid JSON: {e}"));
                continue;
            }
        };
        if let Some(case) = case_from_object(&object, line_no, &mut issues) {
            issues.check(case, line_no, &mut cases);
        }
    }
    issues.finish(cases)
}

/// Reads and parses the JSONL file at `path`.
pub fn read_jsonl(path: &Path) -> Result<Vec<ParsedCase>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_jsonl(&file, &text)
}

/// Builds a case from one object, reporting type problems; `None` if there were any.
fn case_from_object(object: &Map<String, Value>, line: usize, issues: &mut Issues) -> Option<Case> {
    let before = issues.seen;
    for key in object.keys() {
        if !JSONL_FIELDS.contains(&key.as_str()) {
            issues.push(
                line,
                Some(key),
                format!(
                    "unknown field (expected one of: {})",
                    JSONL_FIELDS.join(", ")
                ),
            );
        }
    }
    let mut required = |name: &str| match object.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => {
            issues.push(line, Some(name), "must be a non-empty string");
            String::new()
        }
        None => {
            issues.push(line, Some(name), "is required (a non-empty string)");
            String::new()
        }
    };
    let id = required("id");
    let specialty = required("specialty");
    let question = required("question");
    let options = string_list(object, "options", line, issues);
    let tags = string_list(object, "tags", line, issues);
    let reference_answer = optional_string(object, "reference_answer", line, issues);
    let source = optional_string(object, "source", line, issues);
    if issues.seen != before {
        return None;
    }
    Some(Case {
        id: CaseId(id),
        specialty,
        question,
        options,
        reference_answer,
        tags,
        source,
    })
}

fn optional_string(
    object: &Map<String, Value>,
    name: &str,
    line: usize,
    issues: &mut Issues,
) -> Option<String> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            issues.push(line, Some(name), "must be a string when present");
            None
        }
    }
}

fn string_list(
    object: &Map<String, Value>,
    name: &str,
    line: usize,
    issues: &mut Issues,
) -> Vec<String> {
    match object.get(name) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    _ => issues.push(line, Some(&format!("{name}[{i}]")), "must be a string"),
                }
            }
            out
        }
        Some(_) => {
            issues.push(line, Some(name), "must be an array of strings");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(err: ImportError) -> Vec<String> {
        err.issues().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn parses_a_full_case_with_its_line_number() {
        let text = "\n{\"id\":\"a\",\"specialty\":\"cardiology\",\"question\":\"Q?\",\"options\":[\"x\",\"y\"],\"reference_answer\":\"B\",\"tags\":[\"t\"],\"source\":\"me\"}\n";
        let cases = parse_jsonl("cases.jsonl", text).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].line, 2);
        assert_eq!(cases[0].case.options, vec!["x", "y"]);
        assert_eq!(cases[0].case.reference_answer.as_deref(), Some("B"));
    }

    #[test]
    fn empty_question_names_file_line_and_field() {
        let text = "{\"id\":\"a\",\"specialty\":\"s\",\"question\":\"Q\"}\n\n\n\n\n\n{\"id\":\"b\",\"specialty\":\"s\",\"question\":\"\"}\n";
        let err = parse_jsonl("cases.jsonl", text).unwrap_err();
        assert_eq!(
            messages(err),
            vec!["cases.jsonl:7: field \"question\": must be a non-empty string"]
        );
    }

    #[test]
    fn missing_required_field_is_reported() {
        let err = parse_jsonl("f.jsonl", r#"{"id":"a","question":"Q"}"#).unwrap_err();
        assert_eq!(
            messages(err),
            vec!["f.jsonl:1: field \"specialty\": is required (a non-empty string)"]
        );
    }

    #[test]
    fn unknown_field_is_an_error() {
        let err = parse_jsonl(
            "f.jsonl",
            r#"{"id":"a","specialty":"s","question":"Q","refrence_answer":"B"}"#,
        )
        .unwrap_err();
        let msgs = messages(err);
        assert_eq!(msgs.len(), 1);
        assert!(
            msgs[0].starts_with("f.jsonl:1: field \"refrence_answer\": unknown field"),
            "{}",
            msgs[0]
        );
    }

    #[test]
    fn duplicate_ids_name_both_lines() {
        let text = "{\"id\":\"a\",\"specialty\":\"s\",\"question\":\"Q\"}\n{\"id\":\"a\",\"specialty\":\"s\",\"question\":\"Q2\"}\n";
        let err = parse_jsonl("f.jsonl", text).unwrap_err();
        assert_eq!(
            messages(err),
            vec!["f.jsonl:2: field \"id\": duplicate id \"a\" (first used on line 1)"]
        );
    }

    #[test]
    fn wrong_types_are_reported_per_field() {
        let text = r#"{"id":"a","specialty":"s","question":"Q","options":"A|B","tags":["ok",3],"source":7}"#;
        let msgs = messages(parse_jsonl("f.jsonl", text).unwrap_err());
        assert_eq!(
            msgs,
            vec![
                "f.jsonl:1: field \"options\": must be an array of strings",
                "f.jsonl:1: field \"tags[1]\": must be a string",
                "f.jsonl:1: field \"source\": must be a string when present",
            ]
        );
    }

    #[test]
    fn invalid_json_and_non_objects_are_reported() {
        let msgs = messages(parse_jsonl("f.jsonl", "{\"id\":\n[1,2]\n").unwrap_err());
        assert_eq!(msgs.len(), 2);
        assert!(
            msgs[0].starts_with("f.jsonl:1: invalid JSON"),
            "{}",
            msgs[0]
        );
        assert_eq!(msgs[1], "f.jsonl:2: must be a JSON object");
    }

    #[test]
    fn null_optional_fields_are_absent() {
        let text =
            r#"{"id":"a","specialty":"s","question":"Q","options":null,"reference_answer":null}"#;
        let cases = parse_jsonl("f.jsonl", text).unwrap();
        assert!(cases[0].case.options.is_empty());
        assert_eq!(cases[0].case.reference_answer, None);
    }

    #[test]
    fn one_bad_line_rejects_the_whole_file() {
        let text = "{\"id\":\"a\",\"specialty\":\"s\",\"question\":\"Q\"}\nnot json\n";
        assert!(parse_jsonl("f.jsonl", text).is_err());
    }

    #[test]
    fn stops_after_max_issues_and_says_so() {
        let text = "[]\n".repeat(50);
        let err = parse_jsonl("f.jsonl", &text).unwrap_err();
        assert_eq!(err.issues().len(), super::super::MAX_ISSUES);
        assert!(
            err.to_string().contains("stopped after 20 problems"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_a_read_error_naming_the_path() {
        let err = read_jsonl(Path::new("/nonexistent/cases.jsonl")).unwrap_err();
        assert!(matches!(err, ImportError::Read { .. }));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/cases.jsonl: cannot read file"),
            "{err}"
        );
    }

    #[test]
    fn crlf_line_endings_and_bom_are_accepted() {
        let text = "\u{feff}{\"id\":\"a\",\"specialty\":\"s\",\"question\":\"Q\"}\r\n{\"id\":\"b\",\"specialty\":\"s\",\"question\":\"Q\"}\r\n";
        assert_eq!(parse_jsonl("f.jsonl", text).unwrap().len(), 2);
    }
}
