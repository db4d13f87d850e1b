//! `cts bench loglik`: log-likelihood scoring of 4-option MMLU-medical test
//! items on the local model, with each item's context decoded once for its
//! options (prefix sharing) next to scoring every option from scratch (the
//! baseline), in the same run on the same items.
//!
//! The prompt is lm-evaluation-harness's MMLU format (a subject line, then
//! `question\nA. …\nB. …\nC. …\nD. …\nAnswer:` with continuations `" A"` …
//! `" D"`), zero-shot or k-shot from the subject's dev split.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use cts_cases::Case;
use cts_llama::{LocalModel, LocalOptions, PrefixSharing};
use cts_model::{ContinuationScore, LoglikRequest};
use serde::Serialize;

use crate::Progress;

/// The six MMLU subjects of `shared/data/mmlu-medical`.
const SUBJECTS: [&str; 6] = [
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "medical_genetics",
    "professional_medicine",
];
const LETTERS: [&str; 4] = ["A", "B", "C", "D"];
/// Items handed to the scorer at a time (the progress bar's step).
const CHUNK: usize = 16;

/// One scoring mode's run.
#[derive(Serialize)]
pub struct ModeFigures {
    /// `shared-prefix` or `from-scratch`.
    pub mode: &'static str,
    /// Wall time, s.
    pub seconds: f64,
    /// Items scored per second (4 options each).
    pub items_per_s: f64,
    /// Fraction of items whose highest-scoring option is the gold answer.
    pub accuracy: f64,
}

/// What `cts bench loglik` reports.
#[derive(Serialize)]
pub struct LoglikFigures {
    /// Model file.
    pub model: String,
    /// Items scored in each mode.
    pub items: usize,
    /// Few-shot examples per prompt.
    pub shots: usize,
    /// Mean context length, characters.
    pub mean_prompt_chars: f64,
    /// Prefix sharing.
    pub shared: ModeFigures,
    /// Baseline: every option from scratch.
    pub scratch: ModeFigures,
    /// Shared items/s over baseline items/s.
    pub speedup: f64,
    /// Largest difference of one option's log-probability between the modes.
    pub max_abs_logprob_diff: f64,
    /// Items whose chosen option differs between the modes.
    pub disagreements: usize,
}

/// An item: the prompt's context and the gold letter index.
struct Item {
    request: LoglikRequest,
    gold: usize,
}

fn subject_line(subject: &str) -> String {
    format!(
        "The following are multiple choice questions (with answers) about {}.\n\n",
        subject.replace('_', " ")
    )
}

fn question_block(case: &Case) -> String {
    let mut text = format!("{}\n", case.question.trim());
    for (letter, option) in LETTERS.iter().zip(&case.options) {
        text.push_str(&format!("{letter}. {option}\n"));
    }
    text.push_str("Answer:");
    text
}

fn read_split(dir: &Path, subject: &str, split: &str) -> Result<Vec<Case>> {
    let path = dir.join(split).join(format!("{subject}_{split}.csv"));
    let parsed = cts_cases::import::read_mmlu(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parsed.into_iter().map(|p| p.case).collect())
}

/// `n` test items taken round-robin over the six subjects, in file order.
fn load_items(dir: &Path, n: usize, shots: usize, context_prefix: &str) -> Result<Vec<Item>> {
    ensure!(
        dir.join("test").is_dir(),
        "{} has no test/ folder: pass --data with the mmlu-medical folder (see its README.md)",
        dir.display()
    );
    let mut per_subject = Vec::new();
    for subject in SUBJECTS {
        let test = read_split(dir, subject, "test")?;
        let mut prefix = subject_line(subject);
        if shots > 0 {
            let dev = read_split(dir, subject, "dev")?;
            ensure!(
                dev.len() >= shots,
                "{subject} has {} dev items, fewer than --shots {shots}",
                dev.len()
            );
            for case in &dev[..shots] {
                let answer = case.reference_answer.as_deref().unwrap_or_default();
                prefix.push_str(&format!("{} {answer}\n\n", question_block(case)));
            }
        }
        per_subject.push((prefix, test.into_iter()));
    }
    let mut items = Vec::with_capacity(n);
    while items.len() < n {
        let before = items.len();
        for (prefix, cases) in &mut per_subject {
            if items.len() == n {
                break;
            }
            let Some(case) = cases.next() else { continue };
            let gold = LETTERS
                .iter()
                .position(|l| case.reference_answer.as_deref() == Some(*l))
                .with_context(|| format!("{}: no answer letter", case.id.0))?;
            items.push(Item {
                request: LoglikRequest {
                    context: format!("{context_prefix}{prefix}{}", question_block(&case)),
                    continuations: LETTERS.iter().map(|l| format!(" {l}")).collect(),
                },
                gold,
            });
        }
        if items.len() == before {
            bail!("only {} test items in {}", items.len(), dir.display());
        }
    }
    Ok(items)
}

fn argmax(scores: &[ContinuationScore]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if s.logprob > scores[best].logprob {
            best = i;
        }
    }
    best
}

/// Scores all items in one mode; its figures and the scores.
fn run_mode(
    model: &LocalModel,
    items: &[Item],
    sharing: PrefixSharing,
    progress: &Progress,
) -> Result<(ModeFigures, Vec<Vec<ContinuationScore>>)> {
    let mode = match sharing {
        PrefixSharing::Shared => "shared-prefix",
        PrefixSharing::Off => "from-scratch",
    };
    let bar = progress(items.len() as u64, mode);
    let started = Instant::now();
    let mut all = Vec::with_capacity(items.len());
    for chunk in items.chunks(CHUNK) {
        let requests: Vec<LoglikRequest> = chunk.iter().map(|i| i.request.clone()).collect();
        for result in model.loglik_blocking(&requests, sharing) {
            all.push(result?);
        }
        bar.inc(chunk.len() as u64);
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let correct = items
        .iter()
        .zip(&all)
        .filter(|(item, scores)| argmax(scores) == item.gold)
        .count();
    let figures = ModeFigures {
        mode,
        seconds,
        items_per_s: items.len() as f64 / seconds.max(f64::EPSILON),
        accuracy: correct as f64 / items.len().max(1) as f64,
    };
    Ok((figures, all))
}

/// Scores `items` MMLU-medical test items from `data` (`shots`-shot, each
/// context after `context_prefix`) on `model` (default: the built-in
/// model), with prefix sharing and then from scratch.
pub async fn run(
    model: Option<PathBuf>,
    data: PathBuf,
    items: usize,
    shots: usize,
    context_prefix: &str,
    progress: &Progress,
) -> Result<LoglikFigures> {
    ensure!(items > 0, "--items must be at least 1");
    let path = match model {
        Some(p) => p,
        None => {
            let dir = cts_llama::fetch::default_cache_dir();
            tokio::task::spawn_blocking(move || cts_llama::fetch::fetch_default_model(&dir))
                .await??
        }
    };
    let items = load_items(&data, items, shots, context_prefix)?;
    let progress = progress.clone();
    tokio::task::spawn_blocking(move || -> Result<LoglikFigures> {
        let model = LocalModel::load(&path, LocalOptions::default())?;
        // Warm up (page in the weights) on a few items, untimed.
        let warm: Vec<LoglikRequest> = items.iter().take(2).map(|i| i.request.clone()).collect();
        for result in model.loglik_blocking(&warm, PrefixSharing::Shared) {
            result?;
        }
        let (shared, a) = run_mode(&model, &items, PrefixSharing::Shared, &progress)?;
        let (scratch, b) = run_mode(&model, &items, PrefixSharing::Off, &progress)?;
        let max_abs_logprob_diff = a
            .iter()
            .flatten()
            .zip(b.iter().flatten())
            .map(|(x, y)| (x.logprob - y.logprob).abs())
            .fold(0.0, f64::max);
        let disagreements = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| argmax(x) != argmax(y))
            .count();
        let mean_prompt_chars = items
            .iter()
            .map(|i| i.request.context.chars().count() as f64)
            .sum::<f64>()
            / items.len() as f64;
        Ok(LoglikFigures {
            model: path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            items: items.len(),
            shots,
            mean_prompt_chars,
            speedup: shared.items_per_s / scratch.items_per_s.max(f64::EPSILON),
            shared,
            scratch,
            max_abs_logprob_diff,
            disagreements,
        })
    })
    .await?
}

impl fmt::Display for LoglikFigures {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let f = self;
        let row = |m: &ModeFigures| {
            format!(
                "{:<14} {:>8.2} items/s  ({:>6.2} s)  accuracy {:.3}\n",
                m.mode, m.items_per_s, m.seconds, m.accuracy
            )
        };
        write!(
            out,
            "log-likelihood scoring, {} ({} MMLU-medical test items, 4 options, {}-shot, mean context {:.0} chars; one run on this machine)\n{}{}prefix sharing is {:.2}x scoring from scratch; largest log-probability difference {:.2e}, {} items choose differently\n",
            f.model, f.items, f.shots, f.mean_prompt_chars,
            row(&f.shared), row(&f.scratch), f.speedup, f.max_abs_logprob_diff, f.disagreements
        )
    }
}
