//! Putting benchmark items to a model: the per-item work of `cts eval run`.
//!
//! Two scoring modes, never mixed inside one run (the run records which):
//!
//! - **generate**: the rendered prompt goes to the model as one user
//!   message; the answer is read from the reply by `cts_eval::extract`
//!   (documented rules; an unparseable reply is wrong and counted apart).
//!   With `samples > 1` (self-consistency) each sample has its own seed and
//!   the most frequent extracted answer wins (ties: the one reached first;
//!   unparseable samples do not vote).
//! - **loglik**: the prompt is the context and each option's ` X` the
//!   continuation; the option with the highest summed log-probability is
//!   the answer (lm-evaluation-harness's `acc`; ties: the first option).
//!
//! Items are dispatched with bounded concurrency (generation: one request
//! per item sample, up to `concurrency` in flight; log-likelihood: chunks
//! of items per call, up to `concurrency` chunks in flight). Every finished
//! item is appended to the [`ItemCache`] under [`item_key`] before the next
//! one is counted, so a killed run loses nothing it reported as done; the
//! results come back in item order whatever order they finished in.

use std::collections::BTreeMap;
use std::sync::Arc;

use cts_eval::{extract, is_correct, BenchItem, Extraction, Rule, Template};
use cts_model::{
    ChatMessage, ContinuationScore, GenerationParams, LoglikModel, LoglikRequest, ModelIdentity,
    Role,
};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::cache::ItemCache;
use crate::{sha256_hex, RunnerError};

/// Version of the per-item record and the runner's scoring rules (part of every cache key).
pub const RUNNER_VERSION: &str = "cts-eval-runner/v1";

/// Items per log-likelihood call.
const LOGLIK_CHUNK: usize = 8;

/// How answers are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoringMode {
    /// Generate a reply and extract the answer.
    Generate,
    /// Pick the option with the highest log-likelihood.
    Loglik,
}

impl ScoringMode {
    /// `generate` or `loglik`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoringMode::Generate => "generate",
            ScoringMode::Loglik => "loglik",
        }
    }
}

/// Everything about a run that changes its per-item results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Scoring mode.
    pub mode: ScoringMode,
    /// Prompt template and shots.
    pub template: Template,
    /// Sampling parameters (generation only; recorded either way).
    pub params: GenerationParams,
    /// Samples per item for self-consistency (generation only; 1 = none).
    pub samples: u32,
}

impl EvalConfig {
    /// Checks that the settings can work together.
    pub fn validate(&self) -> Result<(), RunnerError> {
        if self.samples == 0 {
            return Err(RunnerError::Settings("--samples must be at least 1".into()));
        }
        if self.mode == ScoringMode::Loglik {
            if self.template.id.is_chain_of_thought() {
                return Err(RunnerError::Settings(format!(
                    "template {} asks for reasoning: it needs --mode generate",
                    self.template.id
                )));
            }
            if self.samples > 1 {
                return Err(RunnerError::Settings(
                    "--samples (self-consistency) needs --mode generate".into(),
                ));
            }
        }
        if self.mode == ScoringMode::Generate && self.samples > 1 && self.params.temperature <= 0.0
        {
            return Err(RunnerError::Settings(
                "--samples above 1 with temperature 0 would repeat one answer: set --temperature above 0".into(),
            ));
        }
        Ok(())
    }

    /// Template id and shots as one label (`mcq-plain/v1, 0-shot`).
    pub fn template_label(&self) -> String {
        format!("{}, {}-shot", self.template.id, self.template.shots)
    }
}

/// The model and configuration part of every cache key: runs agree on an
/// item's result only if they agree on all of this.
pub fn config_key(identity: &ModelIdentity, config: &EvalConfig) -> String {
    #[derive(Serialize)]
    struct Key<'a> {
        runner: &'a str,
        backend: &'a str,
        name: &'a str,
        weights_sha256: Option<&'a str>,
        base_url: Option<&'a str>,
        mode: ScoringMode,
        template: &'a Template,
        params: Option<&'a GenerationParams>,
        samples: u32,
    }
    let key = Key {
        runner: RUNNER_VERSION,
        backend: &identity.backend,
        name: &identity.name,
        weights_sha256: identity.weights_sha256.as_deref(),
        base_url: identity.base_url.as_deref(),
        mode: config.mode,
        template: &config.template,
        params: (config.mode == ScoringMode::Generate).then_some(&config.params),
        samples: config.samples,
    };
    // Strings, numbers and plain structs: JCS cannot fail on them.
    sha256_hex(&serde_json_canonicalizer::to_vec(&key).unwrap_or_default())
}

/// The item part of a cache key: what the model sees (the prompt, shots
/// included) and what it is scored against.
pub fn item_key(item: &BenchItem, prompt: &str) -> String {
    sha256_hex(format!("{}\n{}", item.digest_hex(), prompt).as_bytes())
}

/// One item's result: what was asked, what came back, how it was scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    /// Benchmark name.
    pub benchmark: String,
    /// Item id within the benchmark.
    pub id: String,
    /// Subject, if any.
    pub subject: Option<String>,
    /// [`BenchItem::digest_hex`] (pairs items across runs).
    pub item_sha256: String,
    /// The prompt as sent (before the backend's chat template).
    pub prompt: String,
    /// Option labels in order.
    pub labels: Vec<String>,
    /// The gold label.
    pub gold: String,
    /// For PubMedQA: the decision texts of the options (`yes`, `no`, `maybe`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<String>,
    /// Generation: the raw replies, one per sample.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Generation: the answer read from each reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extractions: Vec<Extraction>,
    /// Log-likelihood: one score per option, in option order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logprobs: Vec<ContinuationScore>,
    /// The answer the item is scored on.
    pub answer: Extraction,
    /// Whether it is the gold label.
    pub correct: bool,
}

impl ItemResult {
    /// True when no answer could be read.
    pub fn unparseable(&self) -> bool {
        matches!(self.answer, Extraction::Unparseable)
    }

    /// The decision text the answer names (PubMedQA scoring); `None` when unparseable.
    pub fn decision(&self) -> Option<&str> {
        let label = self.answer.label()?;
        let i = self.labels.iter().position(|l| l == label)?;
        self.decisions.get(i).map(String::as_str)
    }

    /// The gold decision text (PubMedQA scoring).
    pub fn gold_decision(&self) -> Option<&str> {
        let i = self.labels.iter().position(|l| *l == self.gold)?;
        self.decisions.get(i).map(String::as_str)
    }

    /// Recomputes the answer and correctness from the recorded replies or
    /// scores (what an offline check does); `None` if they do not agree.
    pub fn rescored(&self, mode: ScoringMode) -> Option<(Extraction, bool)> {
        let answer = match mode {
            ScoringMode::Loglik => loglik_answer(&self.labels, &self.logprobs)?,
            ScoringMode::Generate => majority(&self.extractions),
        };
        let correct = answer.label() == Some(self.gold.as_str());
        Some((answer, correct))
    }
}

/// The answer of a log-likelihood item: the first option with the highest score.
pub fn loglik_answer(labels: &[String], scores: &[ContinuationScore]) -> Option<Extraction> {
    if labels.len() != scores.len() || scores.is_empty() {
        return None;
    }
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if s.logprob > scores[best].logprob {
            best = i;
        }
    }
    Some(Extraction::Answer {
        label: labels[best].clone(),
        rule: Rule::Loglikelihood,
    })
}

/// The majority answer of several samples (ties: the answer reached first;
/// unparseable samples do not vote; all unparseable: unparseable).
pub fn majority(extractions: &[Extraction]) -> Extraction {
    let mut votes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, e) in extractions.iter().enumerate() {
        if let Some(label) = e.label() {
            votes.entry(label).or_insert((0, i)).0 += 1;
        }
    }
    let best = votes
        .iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)));
    best.map_or(Extraction::Unparseable, |(_, &(_, first))| {
        extractions[first].clone()
    })
}

/// One item ready to go: the item, its prompt and its cache key.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The item.
    pub item: BenchItem,
    /// The rendered prompt.
    pub prompt: String,
    /// [`item_key`].
    pub key: String,
}

/// Renders every item's prompt with `template`, exemplars from `pool_of(item)`.
pub fn prepare<'p>(
    items: Vec<BenchItem>,
    template: &Template,
    pool_of: impl Fn(&BenchItem) -> &'p [BenchItem],
) -> Vec<Prepared> {
    items
        .into_iter()
        .map(|item| {
            let prompt = template.render(&item, pool_of(&item));
            let key = item_key(&item, &prompt);
            Prepared { item, prompt, key }
        })
        .collect()
}

fn base_result(p: &Prepared) -> ItemResult {
    let item = &p.item;
    ItemResult {
        benchmark: item.benchmark.clone(),
        id: item.id.clone(),
        subject: item.subject.clone(),
        item_sha256: item.digest_hex(),
        prompt: p.prompt.clone(),
        labels: item.labels().map(str::to_owned).collect(),
        gold: item.gold.clone(),
        decisions: if item.kind.is_yes_no_maybe() {
            item.options.iter().map(|o| o.text.clone()).collect()
        } else {
            Vec::new()
        },
        outputs: Vec::new(),
        extractions: Vec::new(),
        logprobs: Vec::new(),
        answer: Extraction::Unparseable,
        correct: false,
    }
}

/// What a run did: results in item order and how many came from the cache.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// One result per prepared item, in order.
    pub results: Vec<ItemResult>,
    /// Results taken from the cache rather than the model.
    pub from_cache: usize,
}

/// Runs every prepared item not already in `cache` against `model`,
/// appending each result to the cache as it finishes; `progress(n)` is
/// called with the number of items just finished (cached ones included).
pub async fn run(
    model: Arc<dyn LoglikModel>,
    items: &[Prepared],
    config: &EvalConfig,
    concurrency: usize,
    cache: &mut ItemCache<ItemResult>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<RunOutcome, RunnerError> {
    config.validate()?;
    let mut results: Vec<Option<ItemResult>> = vec![None; items.len()];
    let mut todo = Vec::new();
    for (i, p) in items.iter().enumerate() {
        match cache.get(&p.key) {
            Some(r) => results[i] = Some(r.clone()),
            None => todo.push(i),
        }
    }
    let from_cache = items.len() - todo.len();
    progress(from_cache as u64);
    let concurrency = concurrency.max(1);
    match config.mode {
        ScoringMode::Generate => {
            let mut done = stream::iter(todo.iter().copied())
                .map(|i| {
                    let model = model.clone();
                    async move { (i, generate_item(model.as_ref(), &items[i], config).await) }
                })
                .buffer_unordered(concurrency);
            while let Some((i, result)) = done.next().await {
                let result = result.map_err(|reason| item_error(&items[i], reason, cache))?;
                cache.put(&items[i].key, &result)?;
                results[i] = Some(result);
                progress(1);
            }
        }
        ScoringMode::Loglik => {
            let chunks: Vec<Vec<usize>> =
                todo.chunks(LOGLIK_CHUNK).map(<[usize]>::to_vec).collect();
            let mut done = stream::iter(chunks)
                .map(|chunk| {
                    let model = model.clone();
                    async move {
                        let requests: Vec<LoglikRequest> = chunk
                            .iter()
                            .map(|&i| LoglikRequest {
                                context: items[i].prompt.clone(),
                                continuations: Template::continuations(&items[i].item),
                            })
                            .collect();
                        let scores = model.loglik(&requests).await;
                        (chunk, scores)
                    }
                })
                .buffer_unordered(concurrency);
            while let Some((chunk, scores)) = done.next().await {
                for (&i, score) in chunk.iter().zip(scores) {
                    let logprobs =
                        score.map_err(|e| item_error(&items[i], e.to_string(), cache))?;
                    let mut result = base_result(&items[i]);
                    let answer = loglik_answer(&result.labels, &logprobs).ok_or_else(|| {
                        item_error(
                            &items[i],
                            format!(
                                "{} scores for {} options",
                                logprobs.len(),
                                result.labels.len()
                            ),
                            cache,
                        )
                    })?;
                    result.correct = is_correct(&items[i].item, &answer);
                    result.answer = answer;
                    result.logprobs = logprobs;
                    cache.put(&items[i].key, &result)?;
                    results[i] = Some(result);
                    progress(1);
                }
            }
        }
    }
    let results = results.into_iter().flatten().collect::<Vec<_>>();
    debug_assert_eq!(results.len(), items.len());
    Ok(RunOutcome {
        results,
        from_cache,
    })
}

fn item_error(p: &Prepared, reason: String, cache: &ItemCache<ItemResult>) -> RunnerError {
    RunnerError::Item {
        benchmark: p.item.benchmark.clone(),
        item: p.item.id.clone(),
        reason,
        cached: cache.len(),
    }
}

async fn generate_item(
    model: &dyn LoglikModel,
    p: &Prepared,
    config: &EvalConfig,
) -> Result<ItemResult, String> {
    let messages = [ChatMessage::new(Role::User, p.prompt.clone())];
    let mut result = base_result(p);
    for sample in 0..config.samples {
        let params = GenerationParams {
            seed: config.params.seed.wrapping_add(u64::from(sample)),
            ..config.params.clone()
        };
        let completion = model
            .complete(&messages, &params, &|_| {})
            .await
            .map_err(|e| e.to_string())?;
        let extraction = extract(&completion.content, &p.item);
        result.outputs.push(completion.content);
        result.extractions.push(extraction);
    }
    result.answer = majority(&result.extractions);
    result.correct = is_correct(&p.item, &result.answer);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(l: &str) -> Extraction {
        Extraction::Answer {
            label: l.into(),
            rule: Rule::Marker,
        }
    }

    #[test]
    fn majority_counts_votes_and_breaks_ties_by_first_reached() {
        assert_eq!(
            majority(&[answer("B"), answer("A"), answer("A")]),
            answer("A")
        );
        assert_eq!(majority(&[answer("B"), answer("A")]), answer("B"));
        assert_eq!(
            majority(&[
                Extraction::Unparseable,
                answer("C"),
                Extraction::Unparseable
            ]),
            answer("C")
        );
        assert_eq!(
            majority(&[Extraction::Unparseable]),
            Extraction::Unparseable
        );
        assert_eq!(majority(&[]), Extraction::Unparseable);
    }

    #[test]
    fn loglik_answer_is_the_first_highest_score() {
        let s = |logprob| ContinuationScore {
            logprob,
            tokens: 1,
            is_greedy: false,
        };
        let labels: Vec<String> = ["A", "B", "C"].map(String::from).to_vec();
        let pick = |scores: &[ContinuationScore]| {
            loglik_answer(&labels, scores).and_then(|e| e.label().map(str::to_owned))
        };
        assert_eq!(pick(&[s(-3.0), s(-1.0), s(-2.0)]).as_deref(), Some("B"));
        assert_eq!(pick(&[s(-1.0), s(-1.0), s(-2.0)]).as_deref(), Some("A"));
        assert_eq!(pick(&[s(-1.0)]), None, "a score per option is required");
    }
}
