//! Imports the real PubMedQA and MMLU files from `../shared/data` and checks
//! them against the counts their READMEs publish.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use cts_cases::import::{read_mmlu, read_pubmedqa, MMLU_SPLITS};
use cts_cases::ParsedCase;

/// Path of `rel` under the shared data folder; fails loudly if the folder is missing.
fn shared_data(rel: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        root.is_dir(),
        "../shared is missing: these tests read the real data sets from {} \
         (the `shared/` folder next to the repository checkout). Put it back rather \
         than skipping these tests.",
        root.display()
    );
    root.join(rel)
}

fn pubmedqa() -> Vec<ParsedCase> {
    let path = shared_data("pubmedqa/ori_pqal.json");
    read_pubmedqa(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pubmedqa_imports_all_1000_records_in_file_order() {
    let cases = pubmedqa();
    assert_eq!(cases.len(), 1000);
    assert_eq!(cases[0].case.id.as_str(), "pubmedqa-21645374");
    assert_eq!(cases[0].line, 2);
    assert!(cases.windows(2).all(|w| w[0].line < w[1].line));
}

#[test]
fn pubmedqa_labels_match_the_published_counts() {
    let mut counts = BTreeMap::new();
    for c in pubmedqa() {
        *counts
            .entry(c.case.reference_answer.unwrap_or_default())
            .or_insert(0) += 1;
    }
    let expected: BTreeMap<String, i32> = [("yes", 552), ("no", 338), ("maybe", 110)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(counts, expected);
}

#[test]
fn pubmedqa_test_split_labels_agree_with_ground_truth() {
    let text = std::fs::read_to_string(shared_data("pubmedqa/test_ground_truth.json"))
        .unwrap_or_else(|e| panic!("test_ground_truth.json: {e}"));
    let truth: BTreeMap<String, String> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("test_ground_truth.json: {e}"));
    assert_eq!(truth.len(), 500);
    let by_id: BTreeMap<String, String> = pubmedqa()
        .into_iter()
        .map(|c| (c.case.id.0, c.case.reference_answer.unwrap_or_default()))
        .collect();
    for (pmid, label) in truth {
        assert_eq!(
            by_id.get(&format!("pubmedqa-{pmid}")),
            Some(&label),
            "{pmid}"
        );
    }
}

#[test]
fn pubmedqa_cases_have_the_fixed_shape() {
    for c in pubmedqa() {
        assert_eq!(c.case.options, vec!["yes", "no", "maybe"]);
        assert_eq!(c.case.tags, vec!["pubmedqa"]);
        assert_eq!(c.case.source.as_deref(), Some("PubMedQA (ori_pqal.json)"));
        assert!(c.case.question.contains("\n\nContext:\n"), "{}", c.case.id);
    }
}

#[test]
fn pubmedqa_digests_are_stable_across_imports() {
    let a: Vec<_> = pubmedqa().iter().map(|c| c.case.digest()).collect();
    let b: Vec<_> = pubmedqa().iter().map(|c| c.case.digest()).collect();
    assert_eq!(a, b);
    assert_eq!(a.iter().collect::<HashSet<_>>().len(), 1000);
}

/// (subject, dev, val, test) record counts from the MMLU README.
const MMLU_COUNTS: [(&str, usize, usize, usize); 6] = [
    ("anatomy", 5, 14, 135),
    ("clinical_knowledge", 5, 29, 265),
    ("college_biology", 5, 16, 144),
    ("college_medicine", 5, 22, 173),
    ("medical_genetics", 5, 11, 100),
    ("professional_medicine", 5, 31, 272),
];

fn mmlu(subject: &str, split: &str) -> Vec<ParsedCase> {
    let path = shared_data(&format!("mmlu-medical/{split}/{subject}_{split}.csv"));
    read_mmlu(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn mmlu_files_import_with_the_published_counts() {
    let mut total_test = 0;
    for (subject, dev, val, test) in MMLU_COUNTS {
        for (split, n) in MMLU_SPLITS.iter().zip([dev, val, test]) {
            let cases = mmlu(subject, split);
            assert_eq!(cases.len(), n, "{subject} {split}");
            for c in &cases {
                assert_eq!(c.case.specialty, subject);
                assert_eq!(c.case.options.len(), 4);
            }
        }
        total_test += test;
    }
    assert_eq!(total_test, 1089);
}

#[test]
fn mmlu_ids_name_subject_split_and_row() {
    let cases = mmlu("clinical_knowledge", "test");
    assert_eq!(cases[0].case.id.as_str(), "mmlu-clinical_knowledge-test-1");
    assert_eq!(
        cases[264].case.id.as_str(),
        "mmlu-clinical_knowledge-test-265"
    );
}

#[test]
fn mmlu_professional_medicine_answer_distribution_matches_readme() {
    let mut counts = BTreeMap::new();
    for c in mmlu("professional_medicine", "test") {
        *counts
            .entry(c.case.reference_answer.unwrap_or_default())
            .or_insert(0) += 1;
    }
    let got: Vec<_> = counts.into_iter().collect();
    assert_eq!(
        got,
        vec![
            ("A".to_owned(), 50),
            ("B".to_owned(), 55),
            ("C".to_owned(), 45),
            ("D".to_owned(), 122)
        ]
    );
}

#[test]
fn mmlu_ids_are_unique_across_all_files() {
    let mut seen = HashSet::new();
    for (subject, ..) in MMLU_COUNTS {
        for split in MMLU_SPLITS {
            for c in mmlu(subject, split) {
                assert!(seen.insert(c.case.id.0.clone()), "duplicate {}", c.case.id);
            }
        }
    }
    assert_eq!(seen.len(), 30 + 123 + 1089);
}

/// The PHI guard's findings in the published data sets, all of them: one
/// exam vignette mentions "a 102-year-old grandmother", an age over 89 that
/// HIPAA's safe harbor counts as an identifier (relatives included). Nothing
/// else in 1,000 abstracts and 1,089 questions trips it.
#[test]
fn phi_guard_findings_in_the_published_data_sets_are_known() {
    let mut cases = pubmedqa();
    for (subject, ..) in MMLU_COUNTS {
        cases.extend(mmlu(subject, "test"));
    }
    let found: Vec<(String, String, cts_cases::PhiKind, String)> = cases
        .iter()
        .flat_map(|c| {
            cts_cases::phi::scan_case(&c.case).into_iter().map(|f| {
                let text = c
                    .case
                    .text_fields()
                    .into_iter()
                    .find(|(name, _)| *name == f.field)
                    .map(|(_, t)| t[f.finding.span.clone()].to_owned())
                    .unwrap_or_default();
                (c.case.id.to_string(), f.field, f.finding.kind, text)
            })
        })
        .collect();
    assert_eq!(
        found,
        vec![(
            "mmlu-professional_medicine-test-154".to_owned(),
            "question".to_owned(),
            cts_cases::PhiKind::AgeOver89,
            "102".to_owned()
        )]
    );
}
