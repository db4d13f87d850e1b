//! The run folder, its ledger event, and the offline check of both.
//!
//! A finished run is a folder `evals/<id>/`:
//!
//! | file | what |
//! |---|---|
//! | `items.jsonl` | one [`ItemResult`] per item: prompt, replies or log-probabilities, answer, gold, correct |
//! | `summary.json` | [`RunSummary`]: accuracy per benchmark and subject (Wilson 95%), macro and micro averages, bootstrap CI, PubMedQA's official accuracy and macro-F1 |
//! | `run.json` | [`RunManifest`]: model identity, configuration, benchmark files with their SHA-256, and the digests of the two files above |
//! | `eval.tlog-proof` | the `eval.completed` event's inclusion proof under a signed checkpoint (tlog-proof@v1), with the event itself |
//! | `evidence/log.pub` | the log's verifier key (an auditor should compare it with the one they hold) |
//!
//! The event ([`cts_store::evals::EvalCompleted`]) commits to `run.json` by
//! digest, and `run.json` to the rest. [`verify_run`] checks the chain with
//! only the verifier key: proof and signature, manifest digest, file
//! digests, every item's answer recomputed from its replies or scores, and
//! the summary recomputed from the items.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cts_eval::stats::{pubmedqa_score, PubmedqaScore};
use cts_eval::summary::{Outcome, Summary};
use cts_eval::BenchmarkKind;
use cts_ledger::bundle::ProofBundle;
use cts_ledger::{Event, LeafIndex, LogSigner, LogVerifier};
use cts_model::ModelIdentity;
use cts_store::evals::{BenchmarkResult, EvalCompleted, EvalResults, EVAL_COMPLETED};
use cts_store::Store;
use serde::{Deserialize, Serialize};

use crate::eval::{EvalConfig, ItemResult, RUNNER_VERSION};
use crate::folder::{
    parse_jsonl, parse_tagged, verify_folder, write_folder, write_items_and_summary,
    write_manifest, RunKind,
};
use crate::{sha256_hex, RunnerError};

/// `run.json`'s format tag.
pub const MANIFEST_FORMAT: &str = "cts-eval-run/v1";

/// A file and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Path (benchmark files: as given; run files: relative to the run folder).
    pub path: String,
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

impl FileDigest {
    /// Reads and hashes `path`, recording it as `name`.
    pub fn of_file(path: &Path, name: &str) -> Result<Self, RunnerError> {
        let bytes = std::fs::read(path).map_err(RunnerError::io(path))?;
        Ok(Self::of_bytes(name, &bytes))
    }

    /// The digest of `bytes`, recorded as `name`.
    pub fn of_bytes(name: &str, bytes: &[u8]) -> Self {
        FileDigest {
            path: name.to_owned(),
            sha256: sha256_hex(bytes),
            bytes: bytes.len() as u64,
        }
    }
}

/// One benchmark a run read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkInput {
    /// Name in reports.
    pub name: String,
    /// Family.
    pub kind: BenchmarkKind,
    /// Items evaluated (after `--limit`).
    pub items: usize,
    /// Items the files hold.
    pub available: usize,
    /// The files read, with digests.
    pub files: Vec<FileDigest>,
    /// What the loader detected (MedMCQA's shape), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected: Option<String>,
}

/// The bootstrap behind the macro interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Resamples.
    pub resamples: usize,
    /// Seed.
    pub seed: u64,
}

/// `run.json`: everything that identifies a run, and digests of its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Run id.
    pub id: String,
    /// When the run finished (RFC 3339, UTC).
    pub created: String,
    /// CTS version that ran it.
    pub cts_version: String,
    /// Scoring rules version ([`RUNNER_VERSION`]).
    pub runner: String,
    /// The model.
    pub model: ModelIdentity,
    /// Its lookup key.
    pub model_key: String,
    /// Mode, template, sampling, samples.
    pub config: EvalConfig,
    /// Items per benchmark asked for (`--limit`), if limited.
    pub limit: Option<usize>,
    /// The macro interval's bootstrap.
    pub bootstrap: Bootstrap,
    /// The benchmarks, in the order given.
    pub benchmarks: Vec<BenchmarkInput>,
    /// `items.jsonl`.
    pub items: FileDigest,
    /// `summary.json`.
    pub summary: FileDigest,
}

/// `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Run id.
    pub id: String,
    /// The model's name.
    pub model: String,
    /// How every number was produced (`generate` or `loglik`).
    pub mode: String,
    /// Template and shots.
    pub template: String,
    /// Accuracy per benchmark and subject, macro and micro.
    pub summary: Summary,
    /// PubMedQA benchmarks: accuracy and macro-F1 as the official scorer computes them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pubmedqa: BTreeMap<String, PubmedqaScore>,
}

impl RunSummary {
    /// Summarises `results` (the macro interval from `bootstrap`).
    pub fn compute(
        id: &str,
        model: &str,
        config: &EvalConfig,
        results: &[ItemResult],
        bootstrap: Bootstrap,
    ) -> RunSummary {
        let outcomes: Vec<Outcome> = results
            .iter()
            .map(|r| Outcome {
                benchmark: r.benchmark.clone(),
                subject: r.subject.clone(),
                correct: r.correct,
                unparseable: r.unparseable(),
            })
            .collect();
        let mut by_bench: BTreeMap<&str, (Vec<&str>, Vec<Option<&str>>)> = BTreeMap::new();
        for r in results.iter().filter(|r| !r.decisions.is_empty()) {
            if let Some(gold) = r.gold_decision() {
                let e = by_bench.entry(&r.benchmark).or_default();
                e.0.push(gold);
                e.1.push(r.decision());
            }
        }
        RunSummary {
            id: id.to_owned(),
            model: model.to_owned(),
            mode: config.mode.as_str().to_owned(),
            template: config.template_label(),
            summary: Summary::from_outcomes(&outcomes, bootstrap.resamples, bootstrap.seed),
            pubmedqa: by_bench
                .into_iter()
                .filter_map(|(b, (g, p))| Some((b.to_owned(), pubmedqa_score(&g, &p)?)))
                .collect(),
        }
    }

    /// The figures the ledger event records.
    pub fn results(&self) -> EvalResults {
        let avg = self.summary.averages;
        EvalResults {
            benchmarks: self
                .summary
                .benchmarks
                .iter()
                .map(|r| BenchmarkResult {
                    name: r.benchmark.clone(),
                    correct: r.accuracy.correct,
                    total: r.accuracy.total,
                    unparseable: r.unparseable,
                })
                .collect(),
            macro_average: avg.map_or(0.0, |a| a.macro_average),
            micro_average: avg.map_or(0.0, |a| a.micro_average),
        }
    }

    /// The terminal table: accuracy rows, averages, and PubMedQA's official figures.
    pub fn render(&self) -> String {
        let mut out = format!(
            "run {} — model {}, mode {}, template {}\n",
            self.id, self.model, self.mode, self.template
        );
        out.push_str(&self.summary.render_table());
        for (name, s) in &self.pubmedqa {
            out.push_str(&format!(
                "{name} (official scorer): accuracy {:.1}%, macro-F1 {:.1}% over {} items\n",
                100.0 * s.accuracy,
                100.0 * s.macro_f1,
                s.items
            ));
        }
        out
    }
}

/// What to record about a finished run.
pub struct NewRun<'a> {
    /// Where run folders go (`<project>/evals`).
    pub evals_dir: &'a Path,
    /// The model.
    pub model: ModelIdentity,
    /// The configuration.
    pub config: EvalConfig,
    /// `--limit`.
    pub limit: Option<usize>,
    /// The macro interval's bootstrap.
    pub bootstrap: Bootstrap,
    /// The benchmarks read.
    pub benchmarks: Vec<BenchmarkInput>,
    /// The results, in item order.
    pub results: &'a [ItemResult],
}

/// A recorded run.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRun {
    /// Its folder.
    pub dir: PathBuf,
    /// Leaf of the `eval.completed` event.
    pub leaf: u64,
    /// The manifest.
    pub manifest: RunManifest,
    /// The summary.
    pub summary: RunSummary,
}

/// A run id `<prefix>-<time>-<digest>`: the time and a digest of what makes the run.
pub(crate) fn run_id(prefix: &str, created: &chrono::DateTime<chrono::Utc>, key: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        created.format("%Y%m%dT%H%M%SZ"),
        &sha256_hex(
            format!("{key}{}", created.timestamp_nanos_opt().unwrap_or_default()).as_bytes()
        )[..8]
    )
}

pub(crate) fn json_pretty<T: Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, RunnerError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| RunnerError::Format {
        path: path.to_owned(),
        line: None,
        reason: format!("cannot encode: {e}"),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes the run folder, ledgers `eval.completed` and writes the proof.
/// Nothing is left behind if the ledger refuses the record.
pub async fn record_run(
    run: NewRun<'_>,
    store: &Store,
    signer: Arc<LogSigner>,
    verifier: &LogVerifier,
    actor: &str,
) -> Result<RecordedRun, RunnerError> {
    let created = chrono::Utc::now();
    let model_key = crate::models::model_key(&run.model);
    let id = run_id(
        "eval",
        &created,
        &crate::eval::config_key(&run.model, &run.config),
    );
    let (dir, (manifest, summary, manifest_bytes)) = write_folder(run.evals_dir, &id, |tmp| {
        let summary = RunSummary::compute(
            &id,
            &run.model.name,
            &run.config,
            run.results,
            run.bootstrap,
        );
        let (items, summary_file) =
            write_items_and_summary(tmp, "items.jsonl", run.results, &summary)?;
        let manifest = RunManifest {
            format: MANIFEST_FORMAT.to_owned(),
            id: id.clone(),
            created: created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            cts_version: env!("CARGO_PKG_VERSION").to_owned(),
            runner: RUNNER_VERSION.to_owned(),
            model: run.model.clone(),
            model_key: model_key.clone(),
            config: run.config.clone(),
            limit: run.limit,
            bootstrap: run.bootstrap,
            benchmarks: run.benchmarks.clone(),
            items,
            summary: summary_file,
        };
        let bytes = write_manifest(tmp, &manifest)?;
        Ok((manifest, summary, bytes))
    })?;
    let record = EvalCompleted {
        id: id.clone(),
        manifest_sha256: sha256_hex(&manifest_bytes),
        model: run.model.clone(),
        model_key,
        mode: run.config.mode.as_str().to_owned(),
        template: run.config.template_label(),
        results: summary.results(),
    };
    let recorded =
        match cts_store::evals::record_eval(store, actor, record, &dir.display().to_string()).await
        {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        };
    write_proof(
        store,
        signer,
        verifier,
        recorded.leaf,
        &dir,
        "eval.tlog-proof",
    )
    .await?;
    Ok(RecordedRun {
        dir,
        leaf: recorded.leaf,
        manifest,
        summary,
    })
}

/// Writes `proof_name` (the event's inclusion under a fresh signed
/// checkpoint, e.g. `eval.tlog-proof`) and `evidence/log.pub` into `dir`.
pub async fn write_proof(
    store: &Store,
    signer: Arc<LogSigner>,
    verifier: &LogVerifier,
    leaf: u64,
    dir: &Path,
    proof_name: &str,
) -> Result<(), RunnerError> {
    let cp = store.ledger().checkpoint(signer).await?;
    let bundle = store.ledger().proof_bundle(LeafIndex(leaf), &cp).await?;
    bundle
        .verify(verifier, None)
        .map_err(|e| RunnerError::Verify {
            path: dir.to_owned(),
            reason: format!("the fresh proof does not verify: {e}"),
        })?;
    let evidence = dir.join("evidence");
    std::fs::create_dir_all(&evidence).map_err(RunnerError::io(&evidence))?;
    let key = evidence.join("log.pub");
    std::fs::write(&key, verifier.key_text()).map_err(RunnerError::io(&key))?;
    let path = dir.join(proof_name);
    std::fs::write(&path, bundle.to_text()).map_err(RunnerError::io(&path))?;
    Ok(())
}

/// True when `dir` looks like a run folder.
pub fn is_run_folder(dir: &Path) -> bool {
    dir.join("run.json").is_file() && dir.join("items.jsonl").is_file()
}

/// Reads a run folder's manifest and per-item results (no verification).
pub fn read_run(dir: &Path) -> Result<(RunManifest, Vec<ItemResult>), RunnerError> {
    let manifest_path = dir.join("run.json");
    let bytes = std::fs::read(&manifest_path).map_err(RunnerError::io(&manifest_path))?;
    let manifest = parse_manifest(&manifest_path, &bytes)?;
    let items_path = dir.join("items.jsonl");
    let items = std::fs::read(&items_path).map_err(RunnerError::io(&items_path))?;
    Ok((manifest, parse_items(&items_path, &items)?))
}

/// Reads `run.json`'s bytes as a manifest of this format; `path` names it in errors.
pub fn parse_manifest(path: &Path, bytes: &[u8]) -> Result<RunManifest, RunnerError> {
    parse_tagged(path, bytes, |m: &RunManifest| &m.format, MANIFEST_FORMAT)
}

/// Reads `items.jsonl`'s bytes, one result per line; errors name `path` and the line.
pub fn parse_items(path: &Path, bytes: &[u8]) -> Result<Vec<ItemResult>, RunnerError> {
    parse_jsonl(path, bytes)
}

/// An event proven by a run folder's proof bundle.
pub(crate) struct Proven {
    /// The event.
    pub event: Event,
    /// Its leaf.
    pub leaf: u64,
    /// The log's origin line.
    pub origin: String,
    /// Size of the checkpoint the proof is against.
    pub checkpoint_size: u64,
}

/// Reads `dir/proof_name`, verifies it with `verifier` and returns the
/// proven event, which must be of `kind`.
pub(crate) fn proven_event(
    dir: &Path,
    proof_name: &str,
    kind: &str,
    verifier: &LogVerifier,
) -> Result<Proven, RunnerError> {
    let fail = |reason: String| RunnerError::Verify {
        path: dir.to_owned(),
        reason,
    };
    let path = dir.join(proof_name);
    let bytes = std::fs::read(&path).map_err(RunnerError::io(&path))?;
    let bundle = ProofBundle::parse(&bytes).map_err(|e| fail(format!("{proof_name}: {e}")))?;
    let verified = bundle
        .verify(verifier, None)
        .map_err(|e| fail(format!("{proof_name}: {e}")))?;
    let event =
        Event::decode(&verified.entry).map_err(|e| fail(format!("the proven entry: {e}")))?;
    if event.kind.as_str() != kind {
        return Err(fail(format!(
            "the proven entry is a {} event, not {kind}",
            event.kind.as_str()
        )));
    }
    Ok(Proven {
        event,
        leaf: verified.index.0,
        origin: verified.checkpoint.origin.clone(),
        checkpoint_size: verified.checkpoint.size.0,
    })
}

/// What an offline check of a run folder established.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedRun {
    /// Run id.
    pub id: String,
    /// The model.
    pub model: ModelIdentity,
    /// Mode and template.
    pub mode: String,
    /// Template label.
    pub template: String,
    /// Items checked.
    pub items: usize,
    /// Leaf of the `eval.completed` event.
    pub leaf: u64,
    /// The log's origin line.
    pub origin: String,
    /// Size of the checkpoint the proof is against.
    pub checkpoint_size: u64,
    /// Macro and micro averages as recorded.
    pub results: EvalResults,
}

/// Checks a run folder with only the log's verifier key: the proof, the
/// event, the manifest digest, the file digests, every item's answer, and
/// the summary.
pub fn verify_run(dir: &Path, verifier: &LogVerifier) -> Result<VerifiedRun, RunnerError> {
    let v = verify_folder::<EvalRunKind>(dir, verifier)?;
    Ok(VerifiedRun {
        id: v.manifest.id,
        model: v.manifest.model,
        mode: v.record.mode,
        template: v.record.template,
        items: v.items.len(),
        leaf: v.proven.leaf,
        origin: v.proven.origin,
        checkpoint_size: v.proven.checkpoint_size,
        results: v.record.results,
    })
}

/// Evaluation run folders, for [`verify_folder`].
struct EvalRunKind;

impl RunKind for EvalRunKind {
    type Record = EvalCompleted;
    type Manifest = RunManifest;
    type Item = ItemResult;
    type Summary = RunSummary;
    type Figures = EvalResults;
    const PROOF: &'static str = "eval.tlog-proof";
    const KIND: &'static str = EVAL_COMPLETED;
    const ITEMS: &'static str = "items.jsonl";
    const FORMAT: &'static str = MANIFEST_FORMAT;
    fn manifest_sha256(record: &EvalCompleted) -> &str {
        &record.manifest_sha256
    }
    fn format(manifest: &RunManifest) -> &str {
        &manifest.format
    }
    fn same_run(manifest: &RunManifest, record: &EvalCompleted) -> bool {
        manifest.id == record.id && manifest.model == record.model
    }
    fn files(manifest: &RunManifest) -> [&FileDigest; 2] {
        [&manifest.items, &manifest.summary]
    }
    fn recheck(manifest: &RunManifest, item: &ItemResult) -> Result<(), String> {
        match item.rescored(manifest.config.mode) {
            Some((answer, correct)) if answer == item.answer && correct == item.correct => Ok(()),
            _ => Err(format!(
                "item {} of {}: its answer or correctness does not follow from its recorded {}",
                item.id,
                item.benchmark,
                if manifest.config.mode == crate::eval::ScoringMode::Loglik {
                    "scores"
                } else {
                    "replies"
                }
            )),
        }
    }
    fn summarize(manifest: &RunManifest, items: &[ItemResult]) -> RunSummary {
        RunSummary::compute(
            &manifest.id,
            &manifest.model.name,
            &manifest.config,
            items,
            manifest.bootstrap,
        )
    }
    fn figures(_: &RunManifest, summary: &RunSummary) -> EvalResults {
        summary.results()
    }
    fn recorded_figures(record: &EvalCompleted) -> &EvalResults {
        &record.results
    }
}
