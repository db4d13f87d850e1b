//! The summary: per-benchmark and per-subject rows with Wilson intervals and
//! counts, macro beside micro, and the terminal table.

use cts_eval::summary::{Outcome, Summary};

fn outcome(benchmark: &str, subject: Option<&str>, correct: bool, unparseable: bool) -> Outcome {
    Outcome {
        benchmark: benchmark.into(),
        subject: subject.map(Into::into),
        correct,
        unparseable,
    }
}

fn outcomes() -> Vec<Outcome> {
    vec![
        outcome("medqa", Some("step1"), true, false),
        outcome("medqa", Some("step1"), false, false),
        outcome("medqa", Some("step2&3"), true, false),
        outcome("pubmedqa", None, true, false),
        outcome("pubmedqa", None, false, true),
        outcome("pubmedqa", None, false, false),
        outcome("pubmedqa", None, false, false),
    ]
}

#[test]
fn rows_carry_counts_intervals_and_unparseable() {
    let s = Summary::from_outcomes(&outcomes(), 200, 1);
    assert_eq!(s.benchmarks.len(), 2);
    let pubmed = &s.benchmarks[1];
    assert_eq!((pubmed.accuracy.correct, pubmed.accuracy.total), (1, 4));
    assert_eq!(pubmed.unparseable, 1);
    assert_eq!(s.subjects.len(), 2);
    let avg = s.averages.unwrap();
    assert!((avg.macro_average - (2.0 / 3.0 + 0.25) / 2.0).abs() < 1e-12);
    assert!((avg.micro_average - 3.0 / 7.0).abs() < 1e-12);
    assert_eq!(avg.items, 7);
}

#[test]
fn table_renders_every_row_and_both_averages() {
    let s = Summary::from_outcomes(&outcomes(), 200, 1);
    let table = s.render_table();
    let lines: Vec<&str> = table.lines().collect();
    let expected = [
        "benchmark / subject                    acc   95% CI (Wilson)      n unparseable",
        "medqa                                66.7%        20.8–93.9%      3           0",
        "  step1                              50.0%         9.5–90.5%      2           0",
        "  step2&3                           100.0%       20.7–100.0%      1           0",
        "pubmedqa                             25.0%         4.6–69.9%      4           1",
    ];
    assert_eq!(lines[..5], expected);
    assert!(
        lines[5].starts_with("macro average over 2 benchmarks: 45.8% (bootstrap 95% CI "),
        "{}",
        lines[5]
    );
    assert!(
        lines[5].ends_with(", 200 resamples, seed 1)"),
        "{}",
        lines[5]
    );
    assert_eq!(lines[6], "micro average over 7 items: 42.9%");
}
