//! Rubric-graded open-ended evaluation (HealthBench format) on the shared
//! runner: what `cts eval healthbench` does.
//!
//! Each example's conversation goes to the model; the reply is graded
//! criterion by criterion by a grader model (`cts_eval::healthbench`'s
//! versioned prompt, temperature 0, a strict JSON grade, re-asked with the
//! parse error up to `max_retries` times, every reply recorded). An example
//! with every criterion graded gets HealthBench's score (met points over
//! positive points, clipped to [0, 1]); one with an ungraded criterion is
//! **ungraded**: counted, reported, left out of the mean (never guessed).
//! Results are cached per example (resume after a stop), written to
//! `healthbench/<id>/` (`examples.jsonl`, `summary.json`, `run.json`,
//! `healthbench.tlog-proof`, `evidence/log.pub`) and committed by a
//! `healthbench.completed` event; [`verify_healthbench_run`] re-parses every
//! grade and recomputes every score and the summary offline.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cts_eval::healthbench::{
    example_score, grader_prompt, parse_grade, summarize, Example, GradedExample,
    HealthbenchSummary, GRADER_ID,
};
use cts_ledger::{LogSigner, LogVerifier};
use cts_model::{ChatMessage, GenerationParams, LoglikModel, ModelIdentity, Role};
use cts_store::healthbench::{HealthbenchCompleted, HealthbenchResults, HEALTHBENCH_COMPLETED};
use cts_store::Store;
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::cache::ItemCache;
use crate::folder::{
    parse_jsonl, parse_tagged, verify_folder, write_folder, write_items_and_summary,
    write_manifest, RunKind,
};
use crate::record::{run_id, write_proof, Bootstrap, FileDigest};
use crate::{sha256_hex, RunnerError};

/// Version of the per-example record and the runner's rules (part of every cache key).
pub const HEALTHBENCH_RUNNER_VERSION: &str = "cts-healthbench-runner/v1";
/// `run.json`'s format tag.
pub const MANIFEST_FORMAT: &str = "cts-healthbench-run/v1";
/// The proof bundle's file name in a run folder.
pub const PROOF_FILE: &str = "healthbench.tlog-proof";

/// The grader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraderSpec {
    /// The grader model.
    pub model: ModelIdentity,
    /// Grader prompt id ([`GRADER_ID`]).
    pub prompt: String,
    /// Re-asks after a malformed grade.
    pub max_retries: u32,
    /// The grader's sampling (temperature 0).
    pub params: GenerationParams,
}

impl GraderSpec {
    /// `<name> (<key>) with healthbench-grader/v1`.
    pub fn label(&self) -> String {
        format!(
            "{} ({}) with {}",
            self.model.name,
            crate::models::model_key(&self.model),
            self.prompt
        )
    }
}

/// One criterion's grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum CriterionGrade {
    /// The grader answered.
    Graded {
        /// Whether the criterion is met.
        met: bool,
        /// The grader's explanation.
        explanation: String,
        /// Every grader reply, the parsed one last.
        replies: Vec<String>,
    },
    /// No readable grade within the retries.
    Ungraded {
        /// Every grader reply.
        replies: Vec<String>,
        /// Why the last did not read.
        error: String,
    },
}

impl CriterionGrade {
    /// Met or not, if graded.
    pub fn met(&self) -> Option<bool> {
        match self {
            CriterionGrade::Graded { met, .. } => Some(*met),
            CriterionGrade::Ungraded { .. } => None,
        }
    }

    /// The grader replies.
    pub fn replies(&self) -> &[String] {
        match self {
            CriterionGrade::Graded { replies, .. } | CriterionGrade::Ungraded { replies, .. } => {
                replies
            }
        }
    }
}

/// One example's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleResult {
    /// The example as read.
    pub example: Example,
    /// SHA-256 of the example's canonical JSON (pairs examples across runs).
    pub example_sha256: String,
    /// The model's reply.
    pub response: String,
    /// Why the model stopped.
    pub finish_reason: String,
    /// One grade per criterion, in rubric order.
    pub grades: Vec<CriterionGrade>,
    /// The example's score, when every criterion was graded.
    pub score: Option<f64>,
}

impl ExampleResult {
    /// Re-derives every grade from the grader's last reply and the score
    /// from the grades; the first disagreement, if any.
    pub fn recheck(&self, grader: &GraderSpec) -> Result<(), String> {
        if self.grades.len() != self.example.rubrics.len() {
            return Err("not one grade per criterion".into());
        }
        if example_digest(&self.example) != self.example_sha256 {
            return Err("the example is not the one its digest names".into());
        }
        for (i, g) in self.grades.iter().enumerate() {
            let replies = g.replies();
            if replies.is_empty() || replies.len() > grader.max_retries as usize + 1 {
                return Err(format!(
                    "criterion {}: the grader replies do not fit the retries",
                    i + 1
                ));
            }
            for earlier in &replies[..replies.len() - 1] {
                if parse_grade(earlier).is_ok() {
                    return Err(format!(
                        "criterion {}: an earlier reply was already a grade",
                        i + 1
                    ));
                }
            }
            let last = parse_grade(&replies[replies.len() - 1]);
            match (g, last) {
                (
                    CriterionGrade::Graded {
                        met, explanation, ..
                    },
                    Ok(p),
                ) if p.met == *met && p.explanation == *explanation => {}
                (CriterionGrade::Ungraded { .. }, Err(_))
                    if replies.len() == grader.max_retries as usize + 1 => {}
                _ => {
                    return Err(format!(
                        "criterion {}: the recorded grade is not the grader's last reply",
                        i + 1
                    ))
                }
            }
        }
        if self.score != score_of(&self.example, &self.grades) {
            return Err("the score does not follow from the grades".into());
        }
        Ok(())
    }
}

fn score_of(example: &Example, grades: &[CriterionGrade]) -> Option<f64> {
    let pairs: Option<Vec<(f64, bool)>> = example
        .rubrics
        .iter()
        .zip(grades)
        .map(|(c, g)| Some((c.points, g.met()?)))
        .collect();
    example_score(&pairs?)
}

/// SHA-256 of the example's canonical JSON (RFC 8785).
pub fn example_digest(example: &Example) -> String {
    // Strings, finite numbers and lists: canonical JSON cannot fail on them.
    sha256_hex(&serde_json_canonicalizer::to_vec(example).unwrap_or_default())
}

/// The model and configuration part of every cache key.
pub fn config_key(model: &ModelIdentity, params: &GenerationParams, grader: &GraderSpec) -> String {
    #[derive(Serialize)]
    struct Key<'a> {
        runner: &'a str,
        backend: &'a str,
        name: &'a str,
        weights_sha256: Option<&'a str>,
        base_url: Option<&'a str>,
        params: &'a GenerationParams,
        grader: &'a GraderSpec,
    }
    let key = Key {
        runner: HEALTHBENCH_RUNNER_VERSION,
        backend: &model.backend,
        name: &model.name,
        weights_sha256: model.weights_sha256.as_deref(),
        base_url: model.base_url.as_deref(),
        params,
        grader,
    };
    sha256_hex(&serde_json_canonicalizer::to_vec(&key).unwrap_or_default())
}

fn role(r: &str) -> Role {
    match r {
        "assistant" => Role::Assistant,
        "system" | "developer" => Role::System,
        _ => Role::User,
    }
}

fn reask(error: &str) -> String {
    format!(
        "Your reply could not be read: {error}. Answer again with only a JSON object \
         {{\"explanation\": \"<one or two sentences>\", \"criteria_met\": true or false}}."
    )
}

async fn run_example(
    model: &dyn LoglikModel,
    grader: &dyn LoglikModel,
    params: &GenerationParams,
    spec: &GraderSpec,
    example: &Example,
) -> Result<ExampleResult, String> {
    let messages: Vec<ChatMessage> = example
        .prompt
        .iter()
        .map(|m| ChatMessage::new(role(&m.role), m.content.clone()))
        .collect();
    let completion = model
        .complete(&messages, params, &|_| {})
        .await
        .map_err(|e| format!("model: {e}"))?;
    let mut grades = Vec::with_capacity(example.rubrics.len());
    for criterion in &example.rubrics {
        let asked = crate::ask::ask_until_parsed(
            grader,
            grader_prompt(&example.prompt, &completion.content, criterion),
            &spec.params,
            spec.max_retries,
            parse_grade,
            reask,
        )
        .await
        .map_err(|e| format!("grader model: {e}"))?;
        grades.push(match asked.parsed {
            Ok(g) => CriterionGrade::Graded {
                met: g.met,
                explanation: g.explanation,
                replies: asked.replies,
            },
            Err(error) => CriterionGrade::Ungraded {
                replies: asked.replies,
                error,
            },
        });
    }
    Ok(ExampleResult {
        example: example.clone(),
        example_sha256: example_digest(example),
        score: score_of(example, &grades),
        response: completion.content,
        finish_reason: completion.finish_reason,
        grades,
    })
}

/// What a run did: results in example order and how many came from the cache.
#[derive(Debug, Clone)]
pub struct HealthbenchOutcome {
    /// One result per example, in order.
    pub results: Vec<ExampleResult>,
    /// Results taken from the cache.
    pub from_cache: usize,
}

/// Answers and grades every example not already in `cache`, appending each
/// result as it finishes; `progress(n)` gets the examples just finished.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    model: Arc<dyn LoglikModel>,
    grader: Arc<dyn LoglikModel>,
    params: &GenerationParams,
    spec: &GraderSpec,
    examples: &[Example],
    concurrency: usize,
    cache: &mut ItemCache<ExampleResult>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<HealthbenchOutcome, RunnerError> {
    let keys: Vec<String> = examples.iter().map(example_digest).collect();
    let mut results: Vec<Option<ExampleResult>> = vec![None; examples.len()];
    let mut todo = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match cache.get(key) {
            Some(r) => results[i] = Some(r.clone()),
            None => todo.push(i),
        }
    }
    let from_cache = examples.len() - todo.len();
    progress(from_cache as u64);
    let mut done = stream::iter(todo)
        .map(|i| {
            let (model, grader) = (model.clone(), grader.clone());
            async move {
                let r =
                    run_example(model.as_ref(), grader.as_ref(), params, spec, &examples[i]).await;
                (i, r)
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some((i, result)) = done.next().await {
        let result = result.map_err(|reason| RunnerError::Item {
            benchmark: "healthbench".into(),
            item: examples[i].prompt_id.clone(),
            reason,
            cached: cache.len(),
        })?;
        cache.put(&keys[i], &result)?;
        results[i] = Some(result);
        progress(1);
    }
    Ok(HealthbenchOutcome {
        results: results.into_iter().flatten().collect(),
        from_cache,
    })
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthbenchRunSummary {
    /// Run id.
    pub id: String,
    /// The model's name.
    pub model: String,
    /// The grader ([`GraderSpec::label`]).
    pub grader: String,
    /// Examples answered.
    pub examples: u64,
    /// Examples with every criterion graded.
    pub graded: u64,
    /// Criteria graded in all.
    pub criteria: u64,
    /// Criteria without a readable grade.
    pub ungraded_criteria: u64,
    /// Re-asks of the grader in all.
    pub grader_retries: u64,
    /// Overall, per-axis and per-theme scores over the graded examples.
    pub scores: Option<HealthbenchSummary>,
}

impl HealthbenchRunSummary {
    /// Summarises `results`.
    pub fn compute(
        id: &str,
        model: &str,
        grader: &GraderSpec,
        results: &[ExampleResult],
        bootstrap: Bootstrap,
    ) -> Self {
        let graded: Vec<GradedExample<'_>> = results
            .iter()
            .filter(|r| r.score.is_some())
            .filter_map(|r| {
                Some(GradedExample {
                    example: &r.example,
                    met: r
                        .grades
                        .iter()
                        .map(CriterionGrade::met)
                        .collect::<Option<Vec<_>>>()?,
                })
            })
            .collect();
        let all = results.iter().flat_map(|r| &r.grades);
        HealthbenchRunSummary {
            id: id.to_owned(),
            model: model.to_owned(),
            grader: grader.label(),
            examples: results.len() as u64,
            graded: graded.len() as u64,
            criteria: all.clone().count() as u64,
            ungraded_criteria: all.clone().filter(|g| g.met().is_none()).count() as u64,
            grader_retries: all
                .map(|g| g.replies().len().saturating_sub(1) as u64)
                .sum(),
            scores: summarize(&graded, bootstrap.resamples, bootstrap.seed),
        }
    }

    /// The figures the ledger event records.
    pub fn results(&self) -> HealthbenchResults {
        HealthbenchResults {
            examples: self.examples,
            graded: self.graded,
            score: self.scores.as_ref().map(|s| s.overall.mean),
            bootstrap_se: self.scores.as_ref().map(|s| s.overall.bootstrap_se),
        }
    }

    /// The terminal report.
    pub fn render(&self) -> String {
        let mut out = format!(
            "rubric-graded run {} — model {}, grader {}\n{} examples, {} fully graded; {} criteria, {} ungraded, {} grader retries\n",
            self.id, self.model, self.grader, self.examples, self.graded, self.criteria,
            self.ungraded_criteria, self.grader_retries
        );
        match &self.scores {
            None => out.push_str("no example fully graded: no score\n"),
            Some(s) => {
                out.push_str(&format!(
                    "{:<44} {:>6} {:>8} {:>5}\n",
                    "", "score", "boot SE", "n"
                ));
                let row = |name: &str, sc: &cts_eval::healthbench::Score| {
                    format!(
                        "{name:<44} {:>6.3} {:>8.3} {:>5}\n",
                        sc.mean, sc.bootstrap_se, sc.n
                    )
                };
                out.push_str(&row("overall", &s.overall));
                for (k, v) in &s.per_axis {
                    out.push_str(&row(&format!("  {k}"), v));
                }
                for (k, v) in &s.per_theme {
                    out.push_str(&row(&format!("  {k}"), v));
                }
            }
        }
        out
    }
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthbenchManifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Run id.
    pub id: String,
    /// When the run finished (RFC 3339, UTC).
    pub created: String,
    /// CTS version.
    pub cts_version: String,
    /// [`HEALTHBENCH_RUNNER_VERSION`].
    pub runner: String,
    /// The model.
    pub model: ModelIdentity,
    /// Its lookup key.
    pub model_key: String,
    /// The model's sampling.
    pub params: GenerationParams,
    /// The grader.
    pub grader: GraderSpec,
    /// Examples per file asked for (`--limit`), if limited.
    pub limit: Option<usize>,
    /// The bootstrap behind the standard errors.
    pub bootstrap: Bootstrap,
    /// The example files, with digests.
    pub files: Vec<FileDigest>,
    /// `examples.jsonl`.
    pub examples: FileDigest,
    /// `summary.json`.
    pub summary: FileDigest,
}

/// What to record about a finished run.
pub struct NewHealthbenchRun<'a> {
    /// Where run folders go (`<project>/healthbench`).
    pub dir: &'a Path,
    /// The model.
    pub model: ModelIdentity,
    /// Its sampling.
    pub params: GenerationParams,
    /// The grader.
    pub grader: GraderSpec,
    /// `--limit`.
    pub limit: Option<usize>,
    /// Bootstrap.
    pub bootstrap: Bootstrap,
    /// Example files.
    pub files: Vec<FileDigest>,
    /// Results in example order.
    pub results: &'a [ExampleResult],
}

/// A recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedHealthbenchRun {
    /// Its folder.
    pub dir: PathBuf,
    /// Leaf of the `healthbench.completed` event.
    pub leaf: u64,
    /// The manifest.
    pub manifest: HealthbenchManifest,
    /// The summary.
    pub summary: HealthbenchRunSummary,
}

/// Writes the run folder, ledgers `healthbench.completed` and writes the
/// proof; nothing is left behind if the ledger refuses the record.
pub async fn record_healthbench_run(
    run: NewHealthbenchRun<'_>,
    store: &Store,
    signer: Arc<LogSigner>,
    verifier: &LogVerifier,
    actor: &str,
) -> Result<RecordedHealthbenchRun, RunnerError> {
    let created = chrono::Utc::now();
    let model_key = crate::models::model_key(&run.model);
    let id = run_id(
        "healthbench",
        &created,
        &config_key(&run.model, &run.params, &run.grader),
    );
    let (dir, (manifest, summary, manifest_bytes)) = write_folder(run.dir, &id, |tmp| {
        let summary = HealthbenchRunSummary::compute(
            &id,
            &run.model.name,
            &run.grader,
            run.results,
            run.bootstrap,
        );
        let (examples, summary_file) =
            write_items_and_summary(tmp, "examples.jsonl", run.results, &summary)?;
        let manifest = HealthbenchManifest {
            format: MANIFEST_FORMAT.to_owned(),
            id: id.clone(),
            created: created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            cts_version: env!("CARGO_PKG_VERSION").to_owned(),
            runner: HEALTHBENCH_RUNNER_VERSION.to_owned(),
            model: run.model.clone(),
            model_key: model_key.clone(),
            params: run.params.clone(),
            grader: run.grader.clone(),
            limit: run.limit,
            bootstrap: run.bootstrap,
            files: run.files.clone(),
            examples,
            summary: summary_file,
        };
        let bytes = write_manifest(tmp, &manifest)?;
        Ok((manifest, summary, bytes))
    })?;
    let record = HealthbenchCompleted {
        id: id.clone(),
        manifest_sha256: sha256_hex(&manifest_bytes),
        model: run.model.clone(),
        model_key,
        grader: run.grader.label(),
        results: summary.results(),
    };
    let recorded = match cts_store::healthbench::record_healthbench(
        store,
        actor,
        record,
        &dir.display().to_string(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
    };
    write_proof(store, signer, verifier, recorded.leaf, &dir, PROOF_FILE).await?;
    Ok(RecordedHealthbenchRun {
        dir,
        leaf: recorded.leaf,
        manifest,
        summary,
    })
}

/// True when `dir` looks like a rubric-graded run folder.
pub fn is_healthbench_folder(dir: &Path) -> bool {
    dir.join("run.json").is_file() && dir.join("examples.jsonl").is_file()
}

/// Reads `run.json`'s bytes as a rubric-graded run manifest; `path` names it in errors.
pub fn parse_manifest(path: &Path, bytes: &[u8]) -> Result<HealthbenchManifest, RunnerError> {
    parse_tagged(
        path,
        bytes,
        |m: &HealthbenchManifest| &m.format,
        MANIFEST_FORMAT,
    )
}

/// Reads `examples.jsonl`'s bytes; errors name `path` and the line.
pub fn parse_results(path: &Path, bytes: &[u8]) -> Result<Vec<ExampleResult>, RunnerError> {
    parse_jsonl(path, bytes)
}

/// What an offline check of a rubric-graded run folder established.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedHealthbenchRun {
    /// Run id.
    pub id: String,
    /// The model.
    pub model: ModelIdentity,
    /// The grader label.
    pub grader: String,
    /// Examples checked.
    pub examples: usize,
    /// Leaf of the `healthbench.completed` event.
    pub leaf: u64,
    /// The log's origin line.
    pub origin: String,
    /// Size of the checkpoint the proof is against.
    pub checkpoint_size: u64,
    /// The recorded figures.
    pub results: HealthbenchResults,
}

/// Checks a rubric-graded run folder with only the log's verifier key.
pub fn verify_healthbench_run(
    dir: &Path,
    verifier: &LogVerifier,
) -> Result<VerifiedHealthbenchRun, RunnerError> {
    let v = verify_folder::<HealthbenchRunKind>(dir, verifier)?;
    Ok(VerifiedHealthbenchRun {
        id: v.manifest.id,
        model: v.manifest.model,
        grader: v.record.grader,
        examples: v.items.len(),
        leaf: v.proven.leaf,
        origin: v.proven.origin,
        checkpoint_size: v.proven.checkpoint_size,
        results: v.record.results,
    })
}

/// Rubric-graded run folders, for [`verify_folder`].
struct HealthbenchRunKind;

impl RunKind for HealthbenchRunKind {
    type Record = HealthbenchCompleted;
    type Manifest = HealthbenchManifest;
    type Item = ExampleResult;
    type Summary = HealthbenchRunSummary;
    type Figures = HealthbenchResults;
    const PROOF: &'static str = PROOF_FILE;
    const KIND: &'static str = HEALTHBENCH_COMPLETED;
    const ITEMS: &'static str = "examples.jsonl";
    const FORMAT: &'static str = MANIFEST_FORMAT;
    fn manifest_sha256(record: &HealthbenchCompleted) -> &str {
        &record.manifest_sha256
    }
    fn format(manifest: &HealthbenchManifest) -> &str {
        &manifest.format
    }
    fn same_run(manifest: &HealthbenchManifest, record: &HealthbenchCompleted) -> bool {
        manifest.id == record.id && manifest.model == record.model
    }
    fn files(manifest: &HealthbenchManifest) -> [&FileDigest; 2] {
        [&manifest.examples, &manifest.summary]
    }
    fn recheck(manifest: &HealthbenchManifest, item: &ExampleResult) -> Result<(), String> {
        item.recheck(&manifest.grader)
            .map_err(|reason| format!("example {}: {reason}", item.example.prompt_id))
    }
    fn summarize(manifest: &HealthbenchManifest, items: &[ExampleResult]) -> HealthbenchRunSummary {
        HealthbenchRunSummary::compute(
            &manifest.id,
            &manifest.model.name,
            &manifest.grader,
            items,
            manifest.bootstrap,
        )
    }
    fn figures(_: &HealthbenchManifest, summary: &HealthbenchRunSummary) -> HealthbenchResults {
        summary.results()
    }
    fn recorded_figures(record: &HealthbenchCompleted) -> &HealthbenchResults {
        &record.results
    }
}

/// The grader spec for `model` with the default settings (temperature 0, 256 tokens).
pub fn grader_spec(model: ModelIdentity, max_retries: u32, seed: u64) -> GraderSpec {
    GraderSpec {
        model,
        prompt: GRADER_ID.to_owned(),
        max_retries,
        params: GenerationParams {
            temperature: 0.0,
            top_p: 1.0,
            seed,
            max_tokens: 256,
        },
    }
}
