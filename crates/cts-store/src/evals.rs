//! Benchmark evaluation runs in the store: the `eval.completed` event and
//! its `eval_runs` row, written in one transaction.
//!
//! The event's body is [`EvalCompleted`], written and read through that type
//! only: it commits to the run folder's manifest (`run.json`) by digest, and
//! through it to the per-item log, the summary and the benchmark files. The
//! folder itself lives beside the project (`evals/<id>/`); an auditor checks
//! it offline with `cts verify` (see `cts-runner`'s `record` module).

use cts_trace::chat::ModelIdentity;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Store, StoreError};

/// The event kind of a finished evaluation run.
pub const EVAL_COMPLETED: &str = "eval.completed";

/// One benchmark's result as the event records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkResult {
    /// Benchmark name (`mmlu-medical`, `medqa`, …).
    pub name: String,
    /// Items answered correctly.
    pub correct: u64,
    /// Items scored.
    pub total: u64,
    /// Items with no parseable answer (counted as wrong).
    pub unparseable: u64,
}

/// What the run found, as the event records it (the figures a claim quotes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalResults {
    /// Per benchmark, sorted by name.
    pub benchmarks: Vec<BenchmarkResult>,
    /// Mean of the per-benchmark accuracies.
    pub macro_average: f64,
    /// All correct over all items.
    pub micro_average: f64,
}

impl EvalResults {
    /// The per-benchmark counts in one line: `mmlu-medical 15/50, pubmedqa 25/30`.
    pub fn counts_text(&self) -> String {
        self.benchmarks
            .iter()
            .map(|b| format!("{} {}/{}", b.name, b.correct, b.total))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Body of an `eval.completed` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalCompleted {
    /// Run id (`eval-…`).
    pub id: String,
    /// SHA-256 (hex) of the run folder's `run.json`.
    pub manifest_sha256: String,
    /// The model evaluated.
    pub model: ModelIdentity,
    /// Key for lookups: the weights' SHA-256 for a local model, `name@url` for HTTP.
    pub model_key: String,
    /// `generate` or `loglik`: how every number of the run was produced.
    pub mode: String,
    /// Prompt template id and shots, e.g. `mcq-plain/v1, 0-shot`.
    pub template: String,
    /// The figures.
    pub results: EvalResults,
}

/// A recorded evaluation run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRun {
    /// The event body.
    #[serde(flatten)]
    pub record: EvalCompleted,
    /// The run folder on this machine.
    pub dir: String,
    /// Leaf of the `eval.completed` event.
    pub leaf: u64,
    /// When it was ledgered.
    pub completed: String,
}

/// Ledgers a finished run (`eval.completed`) and its row; the run folder
/// `dir` must already hold the manifest whose digest the record names.
pub async fn record_eval(
    store: &Store,
    actor: &str,
    record: EvalCompleted,
    dir: &str,
) -> Result<EvalRun, StoreError> {
    let (run, leaf) = crate::run_records::append_run(
        store,
        actor,
        EVAL_COMPLETED,
        "eval",
        &record.id,
        &record.model_key,
        &record,
        |time| EvalRun {
            record: record.clone(),
            dir: dir.to_owned(),
            leaf: 0,
            completed: time,
        },
        crate::run_records::RunTable {
            table: "eval_runs",
            what: "evaluation run",
            insert: insert_row,
        },
    )
    .await?;
    Ok(EvalRun { leaf, ..run })
}

/// [`insert`] as the boxed future the run-record helper takes.
fn insert_row<'c>(
    conn: &'c mut sqlx::SqliteConnection,
    run: &'c EvalRun,
    leaf: u64,
) -> crate::run_records::RowFuture<'c> {
    Box::pin(insert(conn, run, leaf))
}

async fn insert(
    conn: &mut sqlx::SqliteConnection,
    run: &EvalRun,
    leaf: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO eval_runs (id, model_key, model, mode, template, manifest_sha256, results, dir, leaf, completed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&run.record.id)
    .bind(&run.record.model_key)
    .bind(json(&run.record.model))
    .bind(&run.record.mode)
    .bind(&run.record.template)
    .bind(&run.record.manifest_sha256)
    .bind(json(&run.record.results))
    .bind(&run.dir)
    .bind(leaf as i64)
    .bind(&run.completed)
    .execute(conn)
    .await?;
    Ok(())
}

/// A value as JSON text (the store's JSON columns). Plain structs of
/// strings and numbers: encoding cannot fail.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Recorded runs, oldest first; only those of `model` (its key or its name) when given.
pub async fn eval_runs(store: &Store, model: Option<&str>) -> Result<Vec<EvalRun>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, model_key, model, mode, template, manifest_sha256, results, dir, leaf, completed
         FROM eval_runs ORDER BY leaf",
    )
    .fetch_all(store.db())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let id: String = r.try_get(0)?;
        let parse = |i: usize, what: &str| -> Result<String, StoreError> {
            r.try_get(i)
                .map_err(|e| StoreError::Inconsistent(format!("eval run {id}: {what}: {e}")))
        };
        let model_json = parse(2, "model")?;
        let results_json = parse(6, "results")?;
        let run = EvalRun {
            record: EvalCompleted {
                id: id.clone(),
                model_key: r.try_get(1)?,
                model: serde_json::from_str(&model_json)
                    .map_err(|e| StoreError::Inconsistent(format!("eval run {id}: model: {e}")))?,
                mode: r.try_get(3)?,
                template: r.try_get(4)?,
                manifest_sha256: r.try_get(5)?,
                results: serde_json::from_str(&results_json).map_err(|e| {
                    StoreError::Inconsistent(format!("eval run {id}: results: {e}"))
                })?,
            },
            dir: r.try_get(7)?,
            leaf: r.try_get::<i64, _>(8)? as u64,
            completed: r.try_get(9)?,
        };
        let keep = match model {
            None => true,
            Some(m) => run.record.model_key == m || run.record.model.name == m,
        };
        if keep {
            out.push(run);
        }
    }
    Ok(out)
}

/// One recorded run by id.
pub async fn eval_run(store: &Store, id: &str) -> Result<EvalRun, StoreError> {
    eval_runs(store, None)
        .await?
        .into_iter()
        .find(|r| r.record.id == id)
        .ok_or_else(|| StoreError::NotFound {
            what: "evaluation run",
            id: id.to_owned(),
            hint: Some("see `cts eval list`"),
        })
}
