//! Per-benchmark and per-subject accuracy with intervals and counts, and its terminal table.
//!
//! [`Summary::from_outcomes`] turns scored items into rows (each with its
//! Wilson 95% interval, item count and unparseable count) plus the macro and
//! micro averages; [`Summary::render_table`] prints them. Pure: no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::{accuracy, bootstrap_macro, macro_micro, Accuracy, Interval, MacroMicro};

/// One scored item, as a summary needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Benchmark name.
    pub benchmark: String,
    /// Subject, if the item has one.
    pub subject: Option<String>,
    /// Whether the extracted answer equals the gold label.
    pub correct: bool,
    /// Whether no answer could be extracted (then `correct` is false).
    pub unparseable: bool,
}

/// One row of the table: a benchmark, or a subject within one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Benchmark name.
    pub benchmark: String,
    /// Subject, for a per-subject row.
    pub subject: Option<String>,
    /// Accuracy, count and interval.
    pub accuracy: Accuracy,
    /// Items with no parseable answer.
    pub unparseable: u64,
}

/// Accuracy per benchmark and per subject, with the macro and micro averages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// One row per benchmark (sorted by name).
    pub benchmarks: Vec<Row>,
    /// One row per (benchmark, subject) where items have subjects.
    pub subjects: Vec<Row>,
    /// Macro and micro averages across benchmarks.
    pub averages: Option<MacroMicro>,
    /// Percentile bootstrap 95% interval of the macro average.
    pub macro_ci95: Option<Interval>,
    /// Bootstrap resamples and seed behind `macro_ci95`.
    pub bootstrap: (usize, u64),
}

#[derive(Default)]
struct Tally {
    outcomes: Vec<bool>,
    unparseable: u64,
}

fn row(benchmark: &str, subject: Option<&str>, t: &Tally) -> Option<Row> {
    let correct = t.outcomes.iter().filter(|c| **c).count() as u64;
    Some(Row {
        benchmark: benchmark.to_owned(),
        subject: subject.map(str::to_owned),
        accuracy: accuracy(correct, t.outcomes.len() as u64)?,
        unparseable: t.unparseable,
    })
}

impl Summary {
    /// Summarises `outcomes`; the macro interval uses `resamples` bootstrap resamples from `seed`.
    pub fn from_outcomes(outcomes: &[Outcome], resamples: usize, seed: u64) -> Summary {
        let mut by_bench: BTreeMap<&str, Tally> = BTreeMap::new();
        let mut by_subject: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
        for o in outcomes {
            let add = |t: &mut Tally| {
                t.outcomes.push(o.correct);
                t.unparseable += u64::from(o.unparseable);
            };
            add(by_bench.entry(&o.benchmark).or_default());
            if let Some(s) = &o.subject {
                add(by_subject
                    .entry((o.benchmark.as_str(), s.as_str()))
                    .or_default());
            }
        }
        let benchmarks: Vec<Row> = by_bench
            .iter()
            .filter_map(|(b, t)| row(b, None, t))
            .collect();
        let subjects = by_subject
            .iter()
            .filter_map(|((b, s), t)| row(b, Some(s), t))
            .collect();
        let counts: Vec<(u64, u64)> = benchmarks
            .iter()
            .map(|r| (r.accuracy.correct, r.accuracy.total))
            .collect();
        let per_bench: Vec<Vec<bool>> = by_bench.into_values().map(|t| t.outcomes).collect();
        Summary {
            benchmarks,
            subjects,
            averages: macro_micro(&counts),
            macro_ci95: bootstrap_macro(&per_bench, resamples, seed, 0.95),
            bootstrap: (resamples, seed),
        }
    }

    /// A plain-text table: one line per benchmark (subjects indented beneath), then the averages.
    pub fn render_table(&self) -> String {
        let mut out = format!(
            "{:<34} {:>7} {:>17} {:>6} {:>11}\n",
            "benchmark / subject", "acc", "95% CI (Wilson)", "n", "unparseable"
        );
        let line = |out: &mut String, name: &str, r: &Row| {
            let ci = format!(
                "{:.1}–{:.1}%",
                100.0 * r.accuracy.ci95.low,
                100.0 * r.accuracy.ci95.high
            );
            out.push_str(&format!(
                "{:<34} {:>6.1}% {:>17} {:>6} {:>11}\n",
                name,
                100.0 * r.accuracy.value,
                ci,
                r.accuracy.total,
                r.unparseable
            ));
        };
        for b in &self.benchmarks {
            line(&mut out, &b.benchmark, b);
            for s in self.subjects.iter().filter(|s| s.benchmark == b.benchmark) {
                line(
                    &mut out,
                    &format!("  {}", s.subject.as_deref().unwrap_or("")),
                    s,
                );
            }
        }
        if let Some(avg) = &self.averages {
            let ci = self.macro_ci95.map_or_else(String::new, |ci| {
                format!(
                    " (bootstrap 95% CI {:.1}–{:.1}%, {} resamples, seed {})",
                    100.0 * ci.low,
                    100.0 * ci.high,
                    self.bootstrap.0,
                    self.bootstrap.1
                )
            });
            out.push_str(&format!(
                "macro average over {} benchmarks: {:.1}%{ci}\nmicro average over {} items: {:.1}%\n",
                avg.benchmarks,
                100.0 * avg.macro_average,
                avg.items,
                100.0 * avg.micro_average
            ));
        }
        out
    }
}
