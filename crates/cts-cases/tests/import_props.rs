//! Property tests: importers never panic, and valid cases survive a round trip.

use cts_cases::import::{
    parse_bench_jsonl, parse_csv, parse_jsonl, parse_medmcqa, parse_medqa, parse_mmlu,
    parse_pubmedqa, parse_pubmedqa_ground_truth, CSV_COLUMNS,
};
use cts_cases::{option_label, Case, CaseId};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn non_blank() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("non-blank", |s| !s.trim().is_empty())
}

/// A string that survives CSV list splitting: no `|`, no surrounding whitespace.
fn list_item() -> impl Strategy<Value = String> {
    "[^|\\s]([^|]{0,15}[^|\\s])?"
}

fn valid_case(item: BoxedStrategy<String>) -> impl Strategy<Value = Case> {
    (
        "[a-z0-9][a-z0-9._:-]{0,24}",
        non_blank(),
        non_blank(),
        vec(item.clone(), 0..6),
        vec(item, 0..4),
        option::of(non_blank()),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(
            |(id, specialty, question, options, tags, source, pick, text_answer)| {
                let reference_answer = if options.is_empty() || text_answer {
                    // Free text that is never mistaken for an option letter.
                    Some(format!("answer {}", pick.index(1000)))
                } else {
                    option_label(pick.index(options.len())).map(String::from)
                };
                Case {
                    id: CaseId(id),
                    specialty,
                    question,
                    options,
                    reference_answer,
                    tags,
                    source,
                }
            },
        )
}

fn with_unique_ids(mut cases: Vec<Case>) -> Vec<Case> {
    for (i, c) in cases.iter_mut().enumerate() {
        c.id = CaseId(format!("{}-{i}", c.id));
    }
    cases
}

proptest! {
    #[test]
    fn jsonl_parser_never_panics(text in any::<String>()) {
        let _ = parse_jsonl("p.jsonl", &text);
    }

    #[test]
    fn jsonl_parser_never_panics_on_json_like_text(text in r#"[{}\[\]":, a-z0-9\n]{0,200}"#) {
        let _ = parse_jsonl("p.jsonl", &text);
    }

    #[test]
    fn csv_parser_never_panics(text in any::<String>()) {
        let _ = parse_csv("p.csv", &text);
    }

    #[test]
    fn csv_parser_never_panics_after_a_valid_header(body in r#"[a-zA-Z0-9,|" \r\n]{0,200}"#) {
        let _ = parse_csv("p.csv", &format!("{}\n{body}", CSV_COLUMNS.join(",")));
    }

    #[test]
    fn mmlu_and_pubmedqa_parsers_never_panic(text in any::<String>()) {
        let _ = parse_mmlu("anatomy_test.csv", &text);
        let _ = parse_pubmedqa("ori_pqal.json", &text);
    }

    #[test]
    fn benchmark_parsers_never_panic(text in any::<String>()) {
        let _ = parse_medqa("m.jsonl", &text);
        let _ = parse_medmcqa("m.jsonl", &text);
        let _ = parse_bench_jsonl("b.jsonl", &text);
        let _ = parse_pubmedqa_ground_truth("t.json", &text);
    }

    #[test]
    fn benchmark_records_always_name_one_of_their_options(
        text in r#"[{}\[\]":, a-zA-E0-9\n]{0,200}"#,
        prefix in prop::sample::select(vec![
            r#"{"question":"q","options":{"A":"x","B":"y"},"answer_idx":"#,
            r#"{"question":"q","choices":["x","y"],"answer":"#,
            r#"{"question":"q","options":["x","y"],"answer":"#,
        ]),
    ) {
        let text = format!("{prefix}{text}");
        if let Ok(records) = parse_medqa("m.jsonl", &text) {
            prop_assert!(records.iter().all(|r| r.gold_text().is_some()));
        }
        if let Ok(file) = parse_medmcqa("m.jsonl", &text) {
            prop_assert!(file.records.iter().all(|r| r.gold_text().is_some()));
        }
        if let Ok(records) = parse_bench_jsonl("b.jsonl", &text) {
            prop_assert!(records.iter().all(|r| r.gold_text().is_some()));
        }
    }

    #[test]
    fn valid_cases_round_trip_through_jsonl(cases in vec(valid_case(non_blank().boxed()), 1..5)) {
        let cases = with_unique_ids(cases);
        let text: String = cases
            .iter()
            .map(|c| serde_json::to_string(c).map(|line| line + "\n"))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed = parse_jsonl("p.jsonl", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Vec<Case> = parsed.into_iter().map(|p| p.case).collect();
        prop_assert_eq!(back, cases);
    }

    #[test]
    fn valid_cases_round_trip_through_csv(cases in vec(valid_case(list_item().boxed()), 1..5)) {
        let cases = with_unique_ids(cases);
        let mut writer = csv::Writer::from_writer(Vec::new());
        let write = || -> Result<Vec<u8>, Box<dyn std::error::Error>> {
            writer.write_record(CSV_COLUMNS)?;
            for c in &cases {
                writer.write_record([
                    c.id.as_str(),
                    &c.specialty,
                    &c.question,
                    &c.options.join("|"),
                    c.reference_answer.as_deref().unwrap_or_default(),
                    &c.tags.join("|"),
                    c.source.as_deref().unwrap_or_default(),
                ])?;
            }
            Ok(writer.into_inner()?)
        };
        let bytes = write().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed = parse_csv("p.csv", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Vec<Case> = parsed.into_iter().map(|p| p.case).collect();
        prop_assert_eq!(back, cases);
    }

    #[test]
    fn digest_depends_only_on_content(case in valid_case(non_blank().boxed())) {
        let reparsed: Case = serde_json::from_str(
            &serde_json::to_string_pretty(&case).map_err(|e| TestCaseError::fail(e.to_string()))?,
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(reparsed.digest(), case.digest());
    }
}
