//! Answer extraction on a table of real-looking model outputs.

use cts_cases::import::BenchOption;
use cts_eval::extract::{decision, extract, is_correct, Extraction, Rule};
use cts_eval::item::{BenchItem, BenchmarkKind};

fn item(kind: BenchmarkKind, options: &[&str]) -> BenchItem {
    BenchItem {
        benchmark: kind.name().into(),
        kind,
        id: "x".into(),
        file: "x.jsonl".into(),
        line: 1,
        subject: None,
        question: "[synthetic] Q?".into(),
        context: None,
        options: options
            .iter()
            .zip(["A", "B", "C", "D", "E"])
            .map(|(t, l)| BenchOption {
                label: l.into(),
                text: (*t).into(),
            })
            .collect(),
        gold: "A".into(),
    }
}

fn mcq() -> BenchItem {
    item(
        BenchmarkKind::Medqa,
        &[
            "Dabigatran",
            "Apixaban",
            "Rivaroxaban",
            "Edoxaban",
            "Warfarin",
        ],
    )
}

fn yes_no_maybe() -> BenchItem {
    item(BenchmarkKind::Pubmedqa, &["yes", "no", "maybe"])
}

#[test]
fn reads_the_documented_forms() {
    let table: &[(&str, &str, Rule)] = &[
        ("Answer: B", "B", Rule::Marker),
        ("ANSWER: C", "C", Rule::Marker),
        ("answer: (d)", "D", Rule::Marker),
        (" B", "B", Rule::BareLetter),
        ("B", "B", Rule::BareLetter),
        ("(E)", "E", Rule::BareLetter),
        ("B. Apixaban", "B", Rule::BareLetter),
        ("**C**", "C", Rule::BareLetter),
        (
            "Apixaban is renally cleared only ~27%, so it needs the least adjustment.\n\nAnswer: B",
            "B",
            Rule::Marker,
        ),
        (
            "Let's think step by step. Dabigatran is 80% renally cleared, so (A) is a poor choice. \
             Rivaroxaban (C) needs a reduced dose. The answer is (B).",
            "B",
            Rule::Marker,
        ),
        (
            "Step 1: eGFR 25 means severe CKD.\nStep 2: apixaban has the least renal clearance.\nFinal answer: B) Apixaban",
            "B",
            Rule::Marker,
        ),
        ("Therefore, the correct answer is D: Edoxaban.", "D", Rule::Marker),
        ("Answer: Apixaban", "B", Rule::MarkerText),
        ("Answer: **warfarin**.", "E", Rule::MarkerText),
        ("I would choose (C) here.", "C", Rule::Parenthesised),
        ("Option (B) fits best; (B) is right.", "B", Rule::BareLetter),
        ("On balance (B) fits best; (B) is right.", "B", Rule::Parenthesised),
        ("Apixaban", "B", Rule::OptionText),
        ("rivaroxaban.", "C", Rule::OptionText),
        ("$\\boxed{D}$", "D", Rule::BareLetter),
    ];
    for &(output, label, rule) in table {
        assert_eq!(
            extract(output, &mcq()),
            Extraction::Answer {
                label: label.into(),
                rule
            },
            "{output:?}"
        );
    }
}

#[test]
fn reads_yes_no_maybe() {
    let table: &[(&str, &str, Rule)] = &[
        ("yes", "A", Rule::OptionText),
        ("No.", "B", Rule::OptionText),
        ("Maybe", "C", Rule::OptionText),
        (
            "Yes, the trial showed a significant reduction in mortality.",
            "A",
            Rule::OptionText,
        ),
        (
            "The results are mixed.\nAnswer: maybe",
            "C",
            Rule::MarkerText,
        ),
        ("Answer: no", "B", Rule::MarkerText),
        ("Answer: C", "C", Rule::Marker),
        ("**Yes**", "A", Rule::OptionText),
    ];
    for &(output, label, rule) in table {
        assert_eq!(
            extract(output, &yes_no_maybe()),
            Extraction::Answer {
                label: label.into(),
                rule
            },
            "{output:?}"
        );
    }
}

#[test]
fn unparseable_outputs_are_not_guessed() {
    for output in [
        "",
        "   ",
        "I cannot give medical advice.",
        "A patient with AF should get a DOAC.",
        "Both (A) and (C) are reasonable.",
        "B and C",
        "The answer depends on the INR.",
        "Answer:",
        "Apixaban or rivaroxaban",
        "Answer: F",
    ] {
        assert_eq!(
            extract(output, &mcq()),
            Extraction::Unparseable,
            "{output:?}"
        );
    }
    for output in [
        "It is unclear whether yes or no.",
        "Perhaps.",
        "Yesterday's data",
    ] {
        assert_eq!(
            extract(output, &yes_no_maybe()),
            Extraction::Unparseable,
            "{output:?}"
        );
    }
}

#[test]
fn the_last_marker_wins() {
    let out = "The answer is probably A, but on reflection the renal clearance matters.\nAnswer: B";
    assert_eq!(extract(out, &mcq()).label(), Some("B"));
}

#[test]
fn correctness_and_decisions_follow_the_gold_label() {
    let item = mcq();
    assert!(is_correct(&item, &extract("Answer: A", &item)));
    assert!(!is_correct(&item, &extract("Answer: B", &item)));
    assert!(!is_correct(&item, &Extraction::Unparseable));
    let pq = yes_no_maybe();
    assert_eq!(decision(&pq, &extract("Answer: C", &pq)), Some("maybe"));
    assert_eq!(decision(&pq, &extract("No.", &pq)), Some("no"));
    assert_eq!(decision(&pq, &Extraction::Unparseable), None);
}
