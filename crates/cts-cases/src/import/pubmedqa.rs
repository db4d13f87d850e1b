//! PubMedQA importer for the expert-labelled `ori_pqal.json` file.
//!
//! The file is one JSON object keyed by PubMed ID; see
//! `shared/data/pubmedqa/README.md`. Each record becomes a case:
//!
//! - id `pubmedqa-<pmid>`, tags `["pubmedqa"]`, source [`PUBMEDQA_SOURCE`];
//! - specialty `general`: records carry no specialty, and guessing one from
//!   MeSH terms would be wrong often enough to mislead;
//! - question: `QUESTION`, a blank line, then each context on its own line
//!   prefixed by its section label (`RESULTS: …`). `LONG_ANSWER` (the
//!   abstract's conclusion) is left out because it gives the answer away;
//! - options `yes`, `no`, `maybe`; reference answer `final_decision` as text.
//!
//! Line numbers are exact: a case's line is the line of its PMID key. Records
//! keep the file's order.
//!
//! [`parse_pubmedqa_records`] gives the same records as [`BenchRecord`]s
//! (options `A` = yes, `B` = no, `C` = maybe; gold the label of
//! `final_decision`; the labelled contexts as context and `LONG_ANSWER` as
//! long answer) for evaluation.

use std::fmt;
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::bench::{finish_records, BenchOption, BenchRecord};
use super::{read_text, ImportError, Issues, LineCounter, ParsedCase};

/// The `source` given to every PubMedQA case.
pub const PUBMEDQA_SOURCE: &str = "PubMedQA (ori_pqal.json)";

/// The options of every PubMedQA case, in order (`A` = yes, `B` = no, `C` = maybe).
pub const PUBMEDQA_OPTIONS: [&str; 3] = ["yes", "no", "maybe"];

/// The fields of one record that the importer uses; others are ignored.
#[derive(Deserialize)]
struct Record {
    #[serde(rename = "QUESTION")]
    question: String,
    #[serde(rename = "CONTEXTS")]
    contexts: Vec<String>,
    #[serde(rename = "LABELS", default)]
    labels: Vec<String>,
    #[serde(rename = "LONG_ANSWER", default)]
    long_answer: Option<String>,
    final_decision: String,
}

/// Parses the text of `ori_pqal.json` into cases; `file` names the file in problem messages.
pub fn parse_pubmedqa(file: &str, text: &str) -> Result<Vec<ParsedCase>, ImportError> {
    let records = parse_pubmedqa_records(file, text)?;
    let mut issues = Issues::new(file);
    let mut cases = Vec::with_capacity(records.len());
    for r in &records {
        let mut case = r.to_case("pubmedqa", PUBMEDQA_SOURCE);
        // Cases keep the decision as text, as they always have (digests stay stable).
        case.reference_answer = r.gold_text().map(str::to_owned);
        issues.check(case, r.line, &mut cases);
    }
    issues.finish(cases)
}

/// Parses the text of `ori_pqal.json` into benchmark records, in file order.
pub fn parse_pubmedqa_records(file: &str, text: &str) -> Result<Vec<BenchRecord>, ImportError> {
    let mut issues = Issues::new(file);
    let entries = match ordered_entries(text) {
        Ok(entries) => entries,
        Err(e) => {
            let line = e.line().max(1);
            issues.push(
                line,
                None,
                format!("expected a JSON object keyed by PMID: {e}"),
            );
            return finish_records(issues, Vec::new());
        }
    };
    let mut records = Vec::new();
    let mut lines = LineCounter::new(text);
    for (pmid, raw) in entries {
        if issues.is_full() {
            issues.truncated = true;
            break;
        }
        let line = lines.line_at(offset_in(text, raw.get()));
        if pmid.is_empty() || !pmid.bytes().all(|b| b.is_ascii_digit()) {
            issues.push(
                line,
                None,
                format!("key \"{pmid}\" is not a PMID (digits only)"),
            );
            continue;
        }
        let record: Record = match serde_json::from_str(raw.get()) {
            Ok(r) => r,
            Err(e) => {
                issues.push(line, None, format!("record {pmid}: {e}"));
                continue;
            }
        };
        if !PUBMEDQA_OPTIONS.contains(&record.final_decision.as_str()) {
            issues.push(
                line,
                Some("final_decision"),
                format!(
                    "must be one of yes, no, maybe (found \"{}\")",
                    record.final_decision
                ),
            );
            continue;
        }
        if record.question.trim().is_empty() {
            issues.push(line, Some("QUESTION"), "must be a non-empty string");
            continue;
        }
        let options: Vec<BenchOption> = PUBMEDQA_OPTIONS
            .iter()
            .zip(["A", "B", "C"])
            .map(|(text, label)| BenchOption {
                label: label.to_owned(),
                text: (*text).to_owned(),
            })
            .collect();
        let gold = options
            .iter()
            .find(|o| o.text == record.final_decision)
            .map_or_else(String::new, |o| o.label.clone());
        records.push(BenchRecord {
            id: format!("pubmedqa-{pmid}"),
            line,
            subject: None,
            question: record.question.trim().to_owned(),
            context: context_text(&record),
            long_answer: record.long_answer.filter(|a| !a.trim().is_empty()),
            options,
            gold,
            explanation: None,
        });
    }
    finish_records(issues, records)
}

/// Reads and parses an `ori_pqal.json` file at `path`.
pub fn read_pubmedqa(path: &Path) -> Result<Vec<ParsedCase>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_pubmedqa(&file, &text)
}

/// Reads and parses an `ori_pqal.json` file at `path` into benchmark records.
pub fn read_pubmedqa_records(path: &Path) -> Result<Vec<BenchRecord>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_pubmedqa_records(&file, &text)
}

/// One entry of `test_ground_truth.json`: a PMID and its gold decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroundTruthEntry {
    /// The PubMed ID (digits).
    pub pmid: String,
    /// The gold decision: `yes`, `no` or `maybe`.
    pub label: String,
    /// 1-based line of the entry's key.
    pub line: usize,
}

/// Parses `test_ground_truth.json` (a JSON object PMID → decision), in file order.
pub fn parse_pubmedqa_ground_truth(
    file: &str,
    text: &str,
) -> Result<Vec<GroundTruthEntry>, ImportError> {
    let mut issues = Issues::new(file);
    let entries = match ordered_entries(text) {
        Ok(entries) => entries,
        Err(e) => {
            issues.push(
                e.line().max(1),
                None,
                format!("expected a JSON object mapping PMID to yes, no or maybe: {e}"),
            );
            return issues.into_result(Vec::new());
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    let mut lines = LineCounter::new(text);
    for (pmid, raw) in entries {
        let line = lines.line_at(offset_in(text, raw.get()));
        let label = serde_json::from_str::<String>(raw.get()).ok();
        match label {
            _ if pmid.is_empty() || !pmid.bytes().all(|b| b.is_ascii_digit()) => issues.push(
                line,
                None,
                format!("key \"{pmid}\" is not a PMID (digits only)"),
            ),
            Some(label) if PUBMEDQA_OPTIONS.contains(&label.as_str()) => {
                out.push(GroundTruthEntry { pmid, label, line })
            }
            _ => issues.push(line, Some(&pmid), "must be one of yes, no, maybe"),
        }
    }
    issues.into_result(out)
}

/// Reads and parses `test_ground_truth.json` at `path`.
pub fn read_pubmedqa_ground_truth(path: &Path) -> Result<Vec<GroundTruthEntry>, ImportError> {
    let (file, text) = read_text(path)?;
    parse_pubmedqa_ground_truth(&file, &text)
}

/// Each context on its own line, prefixed by its section label; `None` without contexts.
fn context_text(record: &Record) -> Option<String> {
    let mut out = String::new();
    for (i, context) in record.contexts.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if let Some(label) = record.labels.get(i).filter(|l| !l.trim().is_empty()) {
            out.push_str(label.trim());
            out.push_str(": ");
        }
        out.push_str(context.trim());
    }
    (!record.contexts.is_empty()).then_some(out)
}

/// Byte offset of `inner`, a slice borrowed from `outer`, within `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize)
        .saturating_sub(outer.as_ptr() as usize)
        .min(outer.len())
}

/// The top-level object's entries in file order, values left unparsed.
fn ordered_entries(text: &str) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    struct Entries;

    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<(String, &'de RawValue)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }

    let mut de = serde_json::Deserializer::from_str(text);
    let entries = (&mut de).deserialize_map(Entries)?;
    de.end()?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"{
    "200": {
        "QUESTION": "Does X help?",
        "CONTEXTS": ["We studied X.", "X helped."],
        "LABELS": ["METHODS", "RESULTS"],
        "MESHES": [],
        "YEAR": null,
        "LONG_ANSWER": "X helps.",
        "final_decision": "yes"
    },
    "100": {
        "QUESTION": "Does Y help?",
        "CONTEXTS": ["Y did nothing."],
        "LABELS": ["RESULTS"],
        "final_decision": "no"
    }
}"#;

    #[test]
    fn builds_cases_in_file_order_with_exact_lines() {
        let cases = parse_pubmedqa("ori_pqal.json", TWO).unwrap();
        let ids: Vec<_> = cases.iter().map(|c| c.case.id.as_str()).collect();
        assert_eq!(ids, vec!["pubmedqa-200", "pubmedqa-100"]);
        assert_eq!(cases[0].line, 2);
        assert_eq!(cases[1].line, 11);
    }

    #[test]
    fn question_joins_labelled_contexts_and_omits_the_conclusion() {
        let cases = parse_pubmedqa("ori_pqal.json", TWO).unwrap();
        let c = &cases[0].case;
        assert_eq!(
            c.question,
            "Does X help?\n\nContext:\nMETHODS: We studied X.\nRESULTS: X helped."
        );
        assert!(!c.question.contains("X helps."));
        assert_eq!(c.options, vec!["yes", "no", "maybe"]);
        assert_eq!(c.reference_answer.as_deref(), Some("yes"));
        assert_eq!(c.tags, vec!["pubmedqa"]);
        assert_eq!(c.specialty, "general");
        assert_eq!(c.source.as_deref(), Some(PUBMEDQA_SOURCE));
    }

    #[test]
    fn bad_decision_names_the_line_and_field() {
        let text =
            "{\n\"1\": {\"QUESTION\": \"Q\", \"CONTEXTS\": [], \"final_decision\": \"perhaps\"}\n}";
        let err = parse_pubmedqa("p.json", text).unwrap_err();
        assert_eq!(
            err.issues()[0].to_string(),
            "p.json:2: field \"final_decision\": must be one of yes, no, maybe (found \"perhaps\")"
        );
    }

    #[test]
    fn non_numeric_key_is_rejected() {
        let text = r#"{"abc": {"QUESTION": "Q", "CONTEXTS": [], "final_decision": "yes"}}"#;
        assert!(parse_pubmedqa("p.json", text).is_err());
    }

    #[test]
    fn a_top_level_array_is_rejected() {
        let err = parse_pubmedqa("p.json", "[]").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("p.json:1: expected a JSON object"),
            "{err}"
        );
    }
}
