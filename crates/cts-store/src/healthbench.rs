//! Rubric-graded evaluation runs (HealthBench format) in the store: the
//! `healthbench.completed` event and its `healthbench_runs` row, written in
//! one transaction.
//!
//! The event's body is [`HealthbenchCompleted`], written and read through
//! that type only: it commits to the run folder's manifest (`run.json`) by
//! digest, and through it to every answer and criterion grade, the summary
//! and the example files. The folder lives beside the project
//! (`healthbench/<id>/`); an auditor checks it offline with `cts verify`
//! (see `cts-runner`'s `healthbench` module).

use cts_trace::chat::ModelIdentity;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Store, StoreError};

/// The event kind of a finished rubric-graded run.
pub const HEALTHBENCH_COMPLETED: &str = "healthbench.completed";

/// What a rubric-graded run found, as the event records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthbenchResults {
    /// Examples answered.
    pub examples: u64,
    /// Examples with every criterion graded (the score's n).
    pub graded: u64,
    /// Mean example score in [0, 1] (absent when nothing was graded).
    pub score: Option<f64>,
    /// Its bootstrap standard error.
    pub bootstrap_se: Option<f64>,
}

impl HealthbenchResults {
    /// `score 0.412 ± 0.031 over 48 of 50 examples`.
    pub fn text(&self) -> String {
        match (self.score, self.bootstrap_se) {
            (Some(s), Some(se)) => format!(
                "score {s:.3} ± {se:.3} (bootstrap SE) over {} of {} examples",
                self.graded, self.examples
            ),
            _ => format!("no example fully graded ({} answered)", self.examples),
        }
    }
}

/// Body of a `healthbench.completed` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthbenchCompleted {
    /// Run id (`healthbench-…`).
    pub id: String,
    /// SHA-256 (hex) of the run folder's `run.json`.
    pub manifest_sha256: String,
    /// The model evaluated.
    pub model: ModelIdentity,
    /// Key for lookups: the weights' SHA-256 for a local model, `name@url` for HTTP.
    pub model_key: String,
    /// The grader: its model name and key with the grader prompt id.
    pub grader: String,
    /// The figures.
    pub results: HealthbenchResults,
}

/// A recorded rubric-graded run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthbenchRun {
    /// The event body.
    #[serde(flatten)]
    pub record: HealthbenchCompleted,
    /// The run folder on this machine.
    pub dir: String,
    /// Leaf of the `healthbench.completed` event.
    pub leaf: u64,
    /// When it was ledgered.
    pub completed: String,
}

/// Ledgers a finished run (`healthbench.completed`) and its row; the run
/// folder `dir` must already hold the manifest whose digest the record names.
pub async fn record_healthbench(
    store: &Store,
    actor: &str,
    record: HealthbenchCompleted,
    dir: &str,
) -> Result<HealthbenchRun, StoreError> {
    let (run, leaf) = crate::run_records::append_run(
        store,
        actor,
        HEALTHBENCH_COMPLETED,
        "healthbench",
        &record.id,
        &record.model_key,
        &record,
        |time| HealthbenchRun {
            record: record.clone(),
            dir: dir.to_owned(),
            leaf: 0,
            completed: time,
        },
        crate::run_records::RunTable {
            table: "healthbench_runs",
            what: "rubric-graded run",
            insert: insert_row,
        },
    )
    .await?;
    Ok(HealthbenchRun { leaf, ..run })
}

/// [`insert`] as the boxed future the run-record helper takes.
fn insert_row<'c>(
    conn: &'c mut sqlx::SqliteConnection,
    run: &'c HealthbenchRun,
    leaf: u64,
) -> crate::run_records::RowFuture<'c> {
    Box::pin(insert(conn, run, leaf))
}

async fn insert(
    conn: &mut sqlx::SqliteConnection,
    run: &HealthbenchRun,
    leaf: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO healthbench_runs (id, model_key, model, grader, manifest_sha256, results, dir, leaf, completed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&run.record.id)
    .bind(&run.record.model_key)
    .bind(json(&run.record.model))
    .bind(&run.record.grader)
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
pub async fn healthbench_runs(
    store: &Store,
    model: Option<&str>,
) -> Result<Vec<HealthbenchRun>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, model_key, model, grader, manifest_sha256, results, dir, leaf, completed
         FROM healthbench_runs ORDER BY leaf",
    )
    .fetch_all(store.db())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let id: String = r.try_get(0)?;
        let column = |i: usize, what: &str| -> Result<String, StoreError> {
            r.try_get(i).map_err(|e| {
                StoreError::Inconsistent(format!("rubric-graded run {id}: {what}: {e}"))
            })
        };
        let parse_err = |what: &str, e: serde_json::Error| {
            StoreError::Inconsistent(format!("rubric-graded run {id}: {what}: {e}"))
        };
        let run = HealthbenchRun {
            record: HealthbenchCompleted {
                id: id.clone(),
                model_key: r.try_get(1)?,
                model: serde_json::from_str(&column(2, "model")?)
                    .map_err(|e| parse_err("model", e))?,
                grader: r.try_get(3)?,
                manifest_sha256: r.try_get(4)?,
                results: serde_json::from_str(&column(5, "results")?)
                    .map_err(|e| parse_err("results", e))?,
            },
            dir: r.try_get(6)?,
            leaf: r.try_get::<i64, _>(7)? as u64,
            completed: r.try_get(8)?,
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
pub async fn healthbench_run(store: &Store, id: &str) -> Result<HealthbenchRun, StoreError> {
    healthbench_runs(store, None)
        .await?
        .into_iter()
        .find(|r| r.record.id == id)
        .ok_or_else(|| StoreError::NotFound {
            what: "rubric-graded run",
            id: id.to_owned(),
            hint: Some("see `cts eval healthbench-list`"),
        })
}
