//! Red-teaming runs in the store: the `redteam.completed` event and its
//! `redteam_runs` row, written in one transaction.
//!
//! The event's body is [`RedteamCompleted`], written and read through that
//! type only: it commits to the run folder's manifest (`run.json`) by
//! digest, and through it to every attack instance, reply and judgment, the
//! summary and the attack-set files. The folder itself lives beside the
//! project (`redteam/<id>/`); an auditor checks it offline with `cts verify`
//! (see `cts-runner`'s `redteam` module).

use cts_trace::chat::ModelIdentity;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Store, StoreError};

/// The event kind of a finished red-teaming run.
pub const REDTEAM_COMPLETED: &str = "redteam.completed";

/// What a red-teaming run found, as the event records it (the figures a claim quotes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedteamResults {
    /// Attack instances put to the model (attacks × strategies × samples).
    pub instances: u64,
    /// Attack instances the judge scored.
    pub judged: u64,
    /// Judged instances scored at or above the threshold.
    pub unsafe_count: u64,
    /// The unsafe threshold (harm score 1–5).
    pub threshold: u8,
    /// The severity-weighted unsafe rate in [0, 1] (absent when nothing was judged).
    pub risk: Option<f64>,
    /// Benign requests put to the model.
    pub benign: u64,
    /// Benign requests it refused.
    pub benign_refused: u64,
}

impl RedteamResults {
    /// `unsafe 3/54 (5.6%), risk 0.061, over-refusal 1/12`.
    pub fn text(&self) -> String {
        let pct = |n: u64, d: u64| {
            if d == 0 {
                "–".to_owned()
            } else {
                format!("{:.1}%", 100.0 * n as f64 / d as f64)
            }
        };
        let mut s = format!(
            "unsafe {}/{} ({})",
            self.unsafe_count,
            self.judged,
            pct(self.unsafe_count, self.judged)
        );
        if let Some(r) = self.risk {
            s.push_str(&format!(", risk {r:.3}"));
        }
        if self.judged < self.instances {
            s.push_str(&format!(", {} unjudged", self.instances - self.judged));
        }
        if self.benign > 0 {
            s.push_str(&format!(
                ", over-refusal {}/{}",
                self.benign_refused, self.benign
            ));
        }
        s
    }
}

/// Body of a `redteam.completed` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedteamCompleted {
    /// Run id (`redteam-…`).
    pub id: String,
    /// SHA-256 (hex) of the run folder's `run.json`.
    pub manifest_sha256: String,
    /// The model attacked.
    pub target: ModelIdentity,
    /// Key for lookups: the weights' SHA-256 for a local model, `name@url` for HTTP.
    pub target_key: String,
    /// The judge: `rules/v1`, or the judge model's name and key with the rubric id.
    pub judge: String,
    /// Versioned strategy ids, in the order applied.
    pub strategies: Vec<String>,
    /// The figures.
    pub results: RedteamResults,
}

/// A recorded red-teaming run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedteamRun {
    /// The event body.
    #[serde(flatten)]
    pub record: RedteamCompleted,
    /// The run folder on this machine.
    pub dir: String,
    /// Leaf of the `redteam.completed` event.
    pub leaf: u64,
    /// When it was ledgered.
    pub completed: String,
}

/// Ledgers a finished run (`redteam.completed`) and its row; the run
/// folder `dir` must already hold the manifest whose digest the record names.
pub async fn record_redteam(
    store: &Store,
    actor: &str,
    record: RedteamCompleted,
    dir: &str,
) -> Result<RedteamRun, StoreError> {
    let (run, leaf) = crate::run_records::append_run(
        store,
        actor,
        REDTEAM_COMPLETED,
        "redteam",
        &record.id,
        &record.target_key,
        &record,
        |time| RedteamRun {
            record: record.clone(),
            dir: dir.to_owned(),
            leaf: 0,
            completed: time,
        },
        crate::run_records::RunTable {
            table: "redteam_runs",
            what: "red-team run",
            insert: insert_row,
        },
    )
    .await?;
    Ok(RedteamRun { leaf, ..run })
}

/// [`insert`] as the boxed future the run-record helper takes.
fn insert_row<'c>(
    conn: &'c mut sqlx::SqliteConnection,
    run: &'c RedteamRun,
    leaf: u64,
) -> crate::run_records::RowFuture<'c> {
    Box::pin(insert(conn, run, leaf))
}

async fn insert(
    conn: &mut sqlx::SqliteConnection,
    run: &RedteamRun,
    leaf: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO redteam_runs (id, target_key, target, judge, strategies, manifest_sha256, results, dir, leaf, completed)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&run.record.id)
    .bind(&run.record.target_key)
    .bind(json(&run.record.target))
    .bind(&run.record.judge)
    .bind(json(&run.record.strategies))
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

/// Recorded runs, oldest first; only those against `model` (its key or its name) when given.
pub async fn redteam_runs(
    store: &Store,
    model: Option<&str>,
) -> Result<Vec<RedteamRun>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, target_key, target, judge, strategies, manifest_sha256, results, dir, leaf, completed
         FROM redteam_runs ORDER BY leaf",
    )
    .fetch_all(store.db())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let id: String = r.try_get(0)?;
        let column = |i: usize, what: &str| -> Result<String, StoreError> {
            r.try_get(i)
                .map_err(|e| StoreError::Inconsistent(format!("red-team run {id}: {what}: {e}")))
        };
        let parse_err = |what: &str, e: serde_json::Error| {
            StoreError::Inconsistent(format!("red-team run {id}: {what}: {e}"))
        };
        let run = RedteamRun {
            record: RedteamCompleted {
                id: id.clone(),
                target_key: r.try_get(1)?,
                target: serde_json::from_str(&column(2, "target")?)
                    .map_err(|e| parse_err("target", e))?,
                judge: r.try_get(3)?,
                strategies: serde_json::from_str(&column(4, "strategies")?)
                    .map_err(|e| parse_err("strategies", e))?,
                manifest_sha256: r.try_get(5)?,
                results: serde_json::from_str(&column(6, "results")?)
                    .map_err(|e| parse_err("results", e))?,
            },
            dir: r.try_get(7)?,
            leaf: r.try_get::<i64, _>(8)? as u64,
            completed: r.try_get(9)?,
        };
        let keep = match model {
            None => true,
            Some(m) => run.record.target_key == m || run.record.target.name == m,
        };
        if keep {
            out.push(run);
        }
    }
    Ok(out)
}

/// One recorded run by id.
pub async fn redteam_run(store: &Store, id: &str) -> Result<RedteamRun, StoreError> {
    redteam_runs(store, None)
        .await?
        .into_iter()
        .find(|r| r.record.id == id)
        .ok_or_else(|| StoreError::NotFound {
            what: "red-team run",
            id: id.to_owned(),
            hint: Some("see `cts redteam list`"),
        })
}
