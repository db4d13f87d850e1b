//! Loaders on the real shared PubMedQA and MMLU-medical data and on synthetic
//! fixtures in the real MedQA and MedMCQA shapes.

mod common;

use std::collections::BTreeMap;

use common::{fixture, shared_data};
use cts_cases::import::MedmcqaShape;
use cts_eval::item::BenchmarkKind;
use cts_eval::load::{load, load_mmlu, BenchmarkSpec, LoadError, MmluSplit, PubmedqaSetting};

fn counts<'a>(labels: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for l in labels {
        *out.entry(l.to_owned()).or_insert(0) += 1;
    }
    out
}

#[test]
fn pubmedqa_test_split_has_the_500_ground_truth_pmids() {
    let spec = BenchmarkSpec::new(BenchmarkKind::Pubmedqa, shared_data("pubmedqa"));
    let b = load(&spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.items.len(), 500);
    assert_eq!(b.files.len(), 2);
    let by_text = counts(b.items.iter().map(|i| i.gold_text()));
    assert_eq!(
        by_text,
        BTreeMap::from([
            ("maybe".to_owned(), 55),
            ("no".to_owned(), 169),
            ("yes".to_owned(), 276)
        ])
    );
    // Ground-truth order: its first key is 12377809.
    assert_eq!(b.items[0].id, "pubmedqa-12377809");
    let first = &b.items[0];
    assert!(first
        .context
        .as_deref()
        .is_some_and(|c| !c.contains("CONCLUSION")));
    assert_eq!(
        first.labels().collect::<Vec<_>>(),
        ["A", "B", "C"],
        "yes/no/maybe are options A, B, C"
    );
}

#[test]
fn pubmedqa_reasoning_free_adds_the_long_answer() {
    let mut spec = BenchmarkSpec::new(BenchmarkKind::Pubmedqa, shared_data("pubmedqa"));
    spec.pubmedqa_setting = PubmedqaSetting::ReasoningFree;
    let b = load(&spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.items.len(), 500);
    assert!(b.items.iter().all(|i| i
        .context
        .as_deref()
        .is_some_and(|c| c.contains("\nCONCLUSION: "))));
}

#[test]
fn pubmedqa_ground_truth_disagreeing_with_ori_pqal_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        shared_data("pubmedqa/ori_pqal.json"),
        dir.path().join("ori_pqal.json"),
    )
    .unwrap();
    // 21645374 is "yes" in ori_pqal.json.
    std::fs::write(
        dir.path().join("test_ground_truth.json"),
        "{\n  \"21645374\": \"no\",\n  \"99\": \"yes\"\n}\n",
    )
    .unwrap();
    let err = load(&BenchmarkSpec::new(BenchmarkKind::Pubmedqa, dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("test_ground_truth.json:2: field \"21645374\": label \"no\" disagrees with final_decision"),
        "{msg}"
    );
    assert!(
        msg.contains("test_ground_truth.json:3: field \"99\": PMID is not in ori_pqal.json"),
        "{msg}"
    );
}

#[test]
fn pubmedqa_missing_ground_truth_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ori_pqal.json"), "{}").unwrap();
    let err = load(&BenchmarkSpec::new(BenchmarkKind::Pubmedqa, dir.path())).unwrap_err();
    assert!(matches!(err, LoadError::Missing { .. }), "{err}");
    assert!(
        err.to_string().contains("test_ground_truth.json: missing"),
        "{err}"
    );
}

#[test]
fn mmlu_medical_test_split_has_1089_items_over_six_subjects() {
    let spec = BenchmarkSpec::new(BenchmarkKind::MmluMedical, shared_data("mmlu-medical"));
    let b = load(&spec).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.items.len(), 1089);
    assert_eq!(b.files.len(), 6);
    let per_subject = counts(b.items.iter().map(|i| i.subject.as_deref().unwrap_or("")));
    assert_eq!(
        per_subject,
        BTreeMap::from(
            [
                ("anatomy", 135),
                ("clinical_knowledge", 265),
                ("college_biology", 144),
                ("college_medicine", 173),
                ("medical_genetics", 100),
                ("professional_medicine", 272)
            ]
            .map(|(s, n)| (s.to_owned(), n))
        )
    );
    let prof: Vec<_> = b
        .items
        .iter()
        .filter(|i| i.subject.as_deref() == Some("professional_medicine"))
        .map(|i| i.gold.as_str())
        .collect();
    assert_eq!(
        counts(prof.into_iter()),
        BTreeMap::from(
            [("A", 50), ("B", 55), ("C", 45), ("D", 122)].map(|(l, n)| (l.to_owned(), n))
        )
    );
}

#[test]
fn mmlu_dev_split_gives_five_shots_per_subject() {
    let b =
        load_mmlu(&shared_data("mmlu-medical"), MmluSplit::Dev).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.items.len(), 30);
    let per_subject = counts(b.items.iter().map(|i| i.subject.as_deref().unwrap_or("")));
    assert!(per_subject.values().all(|&n| n == 5), "{per_subject:?}");
}

#[test]
fn mmlu_folder_missing_a_subject_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        shared_data("mmlu-medical/test/anatomy_test.csv"),
        dir.path().join("anatomy_test.csv"),
    )
    .unwrap();
    let err = load(&BenchmarkSpec::new(BenchmarkKind::MmluMedical, dir.path())).unwrap_err();
    assert!(
        err.to_string()
            .contains("clinical_knowledge_test.csv: missing"),
        "{err}"
    );
}

#[test]
fn medqa_four_and_five_option_fixtures_load() {
    let four = load(&BenchmarkSpec::new(
        BenchmarkKind::Medqa,
        fixture("medqa-4opt.jsonl"),
    ))
    .unwrap();
    assert_eq!(four.items.len(), 3);
    assert!(four.items.iter().all(|i| i.options.len() == 4));
    assert_eq!(four.items[1].gold_text(), "Intravenous calcium gluconate");
    let five = load(&BenchmarkSpec::new(
        BenchmarkKind::Medqa,
        fixture("medqa-5opt.jsonl"),
    ))
    .unwrap();
    assert!(five.items.iter().all(|i| i.options.len() == 5));
    assert_eq!(five.items[1].gold, "E");
    assert_eq!(five.items[1].subject.as_deref(), Some("step1"));
}

#[test]
fn medmcqa_detects_each_shape_and_reads_the_same_answers() {
    let mut golds = Vec::new();
    for (file, shape) in [
        ("medmcqa-original.jsonl", MedmcqaShape::Original),
        ("medmcqa-options.jsonl", MedmcqaShape::Options),
        ("medmcqa-choices.jsonl", MedmcqaShape::Choices),
    ] {
        let b = load(&BenchmarkSpec::new(BenchmarkKind::Medmcqa, fixture(file))).unwrap();
        assert_eq!(b.medmcqa_shape, Some(shape), "{file}");
        golds.push(
            b.items
                .iter()
                .map(|i| (i.gold.clone(), i.gold_text().to_owned()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(golds[0], golds[1]);
    assert_eq!(golds[1], golds[2]);
    assert_eq!(golds[0][1], ("C".to_owned(), "135-145".to_owned()));
}

#[test]
fn custom_benchmark_takes_its_name() {
    let mut spec = BenchmarkSpec::new(BenchmarkKind::Custom, fixture("custom.jsonl"));
    spec.name = Some("renal-safety".to_owned());
    let b = load(&spec).unwrap();
    assert_eq!(b.name, "renal-safety");
    assert!(b.items.iter().all(|i| i.benchmark == "renal-safety"));
    assert_eq!(
        b.items[1]
            .context
            .as_deref()
            .map(|c| c.starts_with("[synthetic]")),
        Some(true)
    );
}

#[test]
fn a_bad_record_fails_the_whole_file_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medqa.jsonl");
    let good = std::fs::read_to_string(fixture("medqa-4opt.jsonl")).unwrap();
    let bad = good.replacen("\"answer_idx\": \"C\"", "\"answer_idx\": \"F\"", 1);
    std::fs::write(&path, bad).unwrap();
    let err = load(&BenchmarkSpec::new(BenchmarkKind::Medqa, &path)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: field \"answer_idx\": must be one of the option labels A to D (found \"F\")",
            path.display()
        )
    );
}

#[test]
fn an_empty_benchmark_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.jsonl");
    std::fs::write(&path, "").unwrap();
    for kind in [
        BenchmarkKind::Medqa,
        BenchmarkKind::Medmcqa,
        BenchmarkKind::Custom,
    ] {
        let err = load(&BenchmarkSpec::new(kind, &path)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("the file holds no records (it is empty or blank)"),
            "{kind}: {err}"
        );
    }
}

#[test]
fn item_digest_ignores_file_and_line_but_not_content() {
    let b = load(&BenchmarkSpec::new(
        BenchmarkKind::Medqa,
        fixture("medqa-4opt.jsonl"),
    ))
    .unwrap();
    let mut moved = b.items[0].clone();
    moved.file = "elsewhere.jsonl".into();
    moved.line = 99;
    assert_eq!(moved.digest_hex(), b.items[0].digest_hex());
    let mut changed = b.items[0].clone();
    changed.gold = "A".into();
    assert_ne!(changed.digest_hex(), b.items[0].digest_hex());
}
