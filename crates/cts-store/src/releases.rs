//! Dataset releases and training runs in the store.
//!
//! A release's examples are staged while it is built and count once its
//! `dataset.released` event and row are written (one transaction); a failed
//! build discards them. A training run is a `training.recorded` event
//! naming the release it trained on.

use cts_ledger::{EventDraft, EventKind, Salt};
use sqlx::Row;

use crate::{AppendHook, Store, StoreError};

/// One example of a release, as indexed for lineage and policy queries.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExampleRow {
    /// Example id.
    pub id: String,
    /// Export (sft, dpo, …).
    pub export: String,
    /// Split.
    pub split: String,
    /// Case id.
    pub case_id: String,
    /// Case version.
    pub case_version: i64,
    /// Traces behind it.
    pub traces: Vec<String>,
    /// Every review that qualified it, with the part each played.
    pub reviews: Vec<ExampleReview>,
}

/// The part a review played in qualifying an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewRole {
    /// The review the example is built from (its labels, edits and ratings).
    Standing,
    /// A review of the blind double review that agreed with the standing one.
    Agreeing,
    /// A review the adjudicator weighed and did not choose.
    Considered,
    /// A review left disagreeing, unresolved (a spec with `require = "submitted"`).
    Disagreeing,
}

impl ReviewRole {
    /// The role's name as written in provenance (`standing`, `agreeing`, …).
    pub fn name(self) -> &'static str {
        match self {
            ReviewRole::Standing => "standing",
            ReviewRole::Agreeing => "agreeing",
            ReviewRole::Considered => "considered",
            ReviewRole::Disagreeing => "disagreeing",
        }
    }
}

/// A review behind an indexed example.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "IndexedReview")]
pub struct ExampleReview {
    /// Review id.
    pub id: String,
    /// Its part; None in examples indexed before roles were recorded (a bare id).
    pub role: Option<ReviewRole>,
    /// For the standing review of an adjudicated trace: the
    /// `adjudication.decided` leaf that chose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjudication: Option<u64>,
}

/// How the index holds a review: a bare id (before roles were recorded) or
/// an [`ExampleReview`].
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum IndexedReview {
    Id(String),
    Full {
        id: String,
        role: Option<ReviewRole>,
        #[serde(default)]
        adjudication: Option<u64>,
    },
}

impl From<IndexedReview> for ExampleReview {
    fn from(r: IndexedReview) -> Self {
        match r {
            IndexedReview::Id(id) => ExampleReview {
                id,
                role: None,
                adjudication: None,
            },
            IndexedReview::Full {
                id,
                role,
                adjudication,
            } => ExampleReview {
                id,
                role,
                adjudication,
            },
        }
    }
}

/// A recorded release.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Release {
    /// Build id.
    pub build: String,
    /// Name from the spec.
    pub name: String,
    /// SHA-256 of manifest.json.
    pub manifest_sha256: String,
    /// Ledger size it was built at.
    pub checkpoint_size: u64,
    /// Examples in all exports.
    pub examples: i64,
    /// Examples per export and split.
    pub counts: serde_json::Value,
    /// Folder it was written to.
    pub dir: String,
    /// The `dataset.released` leaf.
    pub leaf: u64,
    /// When.
    pub released: String,
}

/// What to record for a finished build.
#[derive(Clone, Debug)]
pub struct NewRelease {
    /// Build id (its staged examples).
    pub build: String,
    /// Name.
    pub name: String,
    /// SHA-256 of manifest.json, hex.
    pub manifest_sha256: String,
    /// manifest.json itself (committed content of the event).
    pub manifest: Vec<u8>,
    /// Ledger size built at.
    pub checkpoint_size: u64,
    /// Example count.
    pub examples: i64,
    /// Counts per export and split.
    pub counts: serde_json::Value,
    /// Output folder.
    pub dir: String,
}

/// Stages examples on a thread of its own with its own connection: rows go
/// into a temporary table as the build streams them (no write lock, no
/// log), and [`Stager::finish`] copies them into `release_examples` in one
/// transaction. Inserting straight into the indexed table, a transaction per
/// batch, rewrote the same randomly placed index pages on every commit and
/// grew superlinearly (11 s for 320,000 rows against 2 s this way).
pub struct Stager {
    tx: Option<std::sync::mpsc::SyncSender<Vec<ExampleRow>>>,
    thread: Option<std::thread::JoinHandle<Result<u64, StoreError>>>,
    /// Set by [`Stager::finish`]; a stager dropped without it copies nothing.
    keep: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Stager {
    /// Starts staging for `build` into the database at `ledger`'s path.
    pub fn start(store: &Store, build: &str) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<ExampleRow>>(4);
        let path = store.path().to_owned();
        let build = build.to_owned();
        let keep = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let keep_here = keep.clone();
        let thread = std::thread::spawn(move || -> Result<u64, StoreError> {
            let mut conn = crate::db::bulk_connection(&path, false)?;
            // The staged rows go to a temporary file, not memory (the
            // bundled SQLite keeps temporary tables in memory by default):
            // memory stays flat however many examples a release has. The
            // final copy keeps up to 16 MiB of index pages cached.
            conn.pragma_update(None, "temp_store", "FILE")?;
            conn.pragma_update(Some(rusqlite::DatabaseName::Main), "cache_size", -16384)?;
            conn.execute_batch(
                "CREATE TEMP TABLE staged (id TEXT NOT NULL, export TEXT NOT NULL, split TEXT NOT NULL,
                   case_id TEXT NOT NULL, case_version INTEGER NOT NULL, traces TEXT NOT NULL, reviews TEXT NOT NULL)",
            )?;
            conn.pragma_update(Some(rusqlite::DatabaseName::Temp), "cache_size", -2048)?;
            let mut n = 0u64;
            for batch in rx {
                let tx = conn.transaction()?;
                {
                    let mut stmt = tx.prepare_cached(
                        "INSERT INTO temp.staged (id, export, split, case_id, case_version, traces, reviews)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?;
                    for r in &batch {
                        stmt.execute(rusqlite::params![
                            r.id,
                            r.export,
                            r.split,
                            r.case_id,
                            r.case_version,
                            serde_json::to_string(&r.traces).unwrap_or_default(),
                            serde_json::to_string(&r.reviews).unwrap_or_default(),
                        ])?;
                    }
                }
                tx.commit()?;
                n += batch.len() as u64;
            }
            if !keep_here.load(std::sync::atomic::Ordering::SeqCst) {
                // The build failed: the temporary table goes with the connection.
                return Ok(0);
            }
            // The build finished writing: one transaction.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO release_examples (build, id, export, split, case_id, case_version, traces, reviews)
                 SELECT ?1, id, export, split, case_id, case_version, traces, reviews FROM temp.staged",
                [&build],
            )?;
            tx.commit()?;
            Ok(n)
        });
        Stager {
            tx: Some(tx),
            thread: Some(thread),
            keep,
        }
    }

    /// Queues a batch (blocks while 4 batches wait).
    pub fn send(&self, batch: Vec<ExampleRow>) -> Result<(), StoreError> {
        match &self.tx {
            Some(tx) => tx.send(batch).map_err(|_| stager_failed()),
            None => Err(stager_failed()),
        }
    }

    /// Waits for every batch, then copies them into the index in one
    /// transaction; returns how many rows were.
    pub fn finish(mut self) -> Result<u64, StoreError> {
        self.keep.store(true, std::sync::atomic::Ordering::SeqCst);
        self.tx = None;
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| stager_failed())?,
            None => Err(stager_failed()),
        }
    }
}

fn stager_failed() -> StoreError {
    StoreError::Inconsistent("the example index writer stopped".into())
}

impl Drop for Stager {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Deletes the staged examples of a build that did not finish.
pub async fn discard_build(store: &Store, build: &str) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM release_examples WHERE build = ? AND build NOT IN (SELECT build FROM releases)",
    )
    .bind(build)
    .execute(store.db())
    .await?;
    Ok(())
}

/// Writes the `dataset.released` event (content: the manifest) and the
/// release row in one transaction; returns the leaf.
pub async fn record_release(
    store: &Store,
    actor: &str,
    release: NewRelease,
) -> Result<u64, StoreError> {
    let prepared = EventDraft::new(EventKind::new("dataset.released")?, actor)
        .subject(format!("release:{}", release.build))
        .body(serde_json::json!({
            "build": release.build, "name": release.name,
            "manifest_sha256": release.manifest_sha256,
            "checkpoint_size": release.checkpoint_size,
            "examples": release.examples, "counts": release.counts,
        }))
        .attach("manifest", release.manifest.clone())
        .prepare(Salt::random)?;
    let released = prepared.event.time.clone();
    let hook: AppendHook = Box::new(move |conn, leaves| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO releases (build, name, manifest_sha256, checkpoint_size, examples, counts, dir, leaf, released)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&release.build)
            .bind(&release.name)
            .bind(&release.manifest_sha256)
            .bind(release.checkpoint_size as i64)
            .bind(release.examples)
            .bind(release.counts.to_string())
            .bind(&release.dir)
            .bind(leaves[0].0 as i64)
            .bind(&released)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    });
    let leaves = store
        .ledger()
        .append_prepared(vec![prepared], Some(hook))
        .await?;
    leaves.first().map(|l| l.0).ok_or(StoreError::EmptyAppend)
}

const RELEASE_COLUMNS: &str =
    "build, name, manifest_sha256, checkpoint_size, examples, counts, dir, leaf, released";

fn release_row(r: &sqlx::sqlite::SqliteRow) -> Result<Release, StoreError> {
    let counts: String = r.try_get(5)?;
    Ok(Release {
        build: r.try_get(0)?,
        name: r.try_get(1)?,
        manifest_sha256: r.try_get(2)?,
        checkpoint_size: r.try_get::<i64, _>(3)? as u64,
        examples: r.try_get(4)?,
        counts: serde_json::from_str(&counts)
            .map_err(|e| StoreError::Inconsistent(format!("release counts: {e}")))?,
        dir: r.try_get(6)?,
        leaf: r.try_get::<i64, _>(7)? as u64,
        released: r.try_get(8)?,
    })
}

/// Every release, oldest first.
pub async fn releases(store: &Store) -> Result<Vec<Release>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {RELEASE_COLUMNS} FROM releases ORDER BY leaf"
    ))
    .fetch_all(store.db())
    .await?;
    rows.iter().map(release_row).collect()
}

/// The release a user names: its build id, its manifest's SHA-256 (or a
/// prefix of at least 8 hex digits), or its name (the latest of that name).
pub async fn find_release(store: &Store, key: &str) -> Result<Release, StoreError> {
    let all = releases(store).await?;
    let hit = all
        .iter()
        .rev()
        .find(|r| r.build == key)
        .or_else(|| {
            all.iter()
                .rev()
                .find(|r| key.len() >= 8 && r.manifest_sha256.starts_with(key))
        })
        .or_else(|| all.iter().rev().find(|r| r.name == key));
    hit.cloned().ok_or_else(|| StoreError::NotFound {
        what: "dataset release",
        id: format!("{key:?}"),
        hint: None,
    })
}

/// The releases holding example `id`, with the example's row.
pub async fn find_example(
    store: &Store,
    id: &str,
) -> Result<Vec<(Release, ExampleRow)>, StoreError> {
    let rows = sqlx::query(
        &format!("SELECT {EXAMPLE_COLUMNS} FROM release_examples e JOIN releases r ON r.build = e.build WHERE e.id = ? ORDER BY r.leaf"),
    )
    .bind(id)
    .fetch_all(store.db())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let build: String = r.try_get(7)?;
        out.push((find_release(store, &build).await?, example_row(r)?));
    }
    Ok(out)
}

/// The columns [`example_row`] reads, then the build (index 7).
const EXAMPLE_COLUMNS: &str =
    "e.id, e.export, e.split, e.case_id, e.case_version, e.traces, e.reviews, e.build";

fn example_row(r: &sqlx::sqlite::SqliteRow) -> Result<ExampleRow, StoreError> {
    let traces: String = r.try_get(5)?;
    let reviews: String = r.try_get(6)?;
    Ok(ExampleRow {
        id: r.try_get(0)?,
        export: r.try_get(1)?,
        split: r.try_get(2)?,
        case_id: r.try_get(3)?,
        case_version: r.try_get(4)?,
        traces: serde_json::from_str(&traces)
            .map_err(|e| StoreError::Inconsistent(format!("example traces: {e}")))?,
        reviews: serde_json::from_str(&reviews)
            .map_err(|e| StoreError::Inconsistent(format!("example reviews: {e}")))?,
    })
}

/// Examples of recorded releases whose case is `case_id`.
pub async fn examples_of_case(
    store: &Store,
    case_id: &str,
) -> Result<Vec<(String, ExampleRow)>, StoreError> {
    let rows = sqlx::query(
        &format!("SELECT {EXAMPLE_COLUMNS} FROM release_examples e JOIN releases r ON r.build = e.build WHERE e.case_id = ? ORDER BY r.leaf, e.id"),
    )
    .bind(case_id)
    .fetch_all(store.db())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(7)?, example_row(r)?)))
        .collect()
}

/// A recorded training run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainingRun {
    /// Run id.
    pub id: String,
    /// Release build trained on.
    pub build: String,
    /// Base model identity.
    pub base_model: serde_json::Value,
    /// Output model identity.
    pub output_model: serde_json::Value,
    /// Key the output model is found by.
    pub output_key: String,
    /// SHA-256 of the trainer config.
    pub config_sha256: String,
    /// Trainer name.
    pub trainer: String,
    /// The `training.recorded` leaf.
    pub leaf: u64,
    /// When.
    pub recorded: String,
}

/// What to record about a training run.
#[derive(Clone, Debug)]
pub struct NewTrainingRun {
    /// The release.
    pub release: Release,
    /// Base model identity.
    pub base_model: serde_json::Value,
    /// Output model identity.
    pub output_model: serde_json::Value,
    /// Key for lookups: output weights' SHA-256, or `name@revision`.
    pub output_key: String,
    /// Trainer config bytes (committed content).
    pub config: Vec<u8>,
    /// Trainer name (e.g. trl).
    pub trainer: String,
}

/// Ledgers a training run (`training.recorded`, content: the trainer config).
pub async fn record_training(
    store: &Store,
    actor: &str,
    run: NewTrainingRun,
) -> Result<TrainingRun, StoreError> {
    use sha2::Digest;
    let config_sha256 = hex::encode(sha2::Sha256::digest(&run.config));
    let body = serde_json::json!({
        "release": run.release.build, "manifest_sha256": run.release.manifest_sha256,
        "release_leaf": run.release.leaf,
        "base_model": run.base_model, "output_model": run.output_model,
        "config_sha256": config_sha256, "trainer": run.trainer,
    });
    let id = format!(
        "run-{}",
        &hex::encode(sha2::Sha256::digest(body.to_string().as_bytes()))[..16]
    );
    let prepared = EventDraft::new(EventKind::new("training.recorded")?, actor)
        .subject(format!("training:{id}"))
        .subject(format!("release:{}", run.release.build))
        .body(body)
        .attach("config", run.config)
        .prepare(Salt::random)?;
    let recorded = prepared.event.time.clone();
    let out = TrainingRun {
        id: id.clone(),
        build: run.release.build.clone(),
        base_model: run.base_model,
        output_model: run.output_model,
        output_key: run.output_key,
        config_sha256,
        trainer: run.trainer,
        leaf: 0,
        recorded,
    };
    let row = out.clone();
    let hook: AppendHook = Box::new(move |conn, leaves| {
        Box::pin(async move {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM training_runs WHERE id = ?")
                    .bind(&row.id)
                    .fetch_optional(&mut *conn)
                    .await?;
            if exists.is_some() {
                return Err(StoreError::Conflict {
                    what: "training run",
                    id: row.id.clone(),
                    reason: "(the same release, models, config and trainer) is already recorded"
                        .into(),
                });
            }
            sqlx::query(
                "INSERT INTO training_runs (id, build, base_model, output_model, output_key, config_sha256, trainer, leaf, recorded)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&row.id)
            .bind(&row.build)
            .bind(row.base_model.to_string())
            .bind(row.output_model.to_string())
            .bind(&row.output_key)
            .bind(&row.config_sha256)
            .bind(&row.trainer)
            .bind(leaves[0].0 as i64)
            .bind(&row.recorded)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    });
    let leaves = store
        .ledger()
        .append_prepared(vec![prepared], Some(hook))
        .await?;
    Ok(TrainingRun {
        leaf: leaves.first().map(|l| l.0).unwrap_or_default(),
        ..out
    })
}

/// Training runs, oldest first; only those whose output model matches
/// `model` (its key, or its identity's name) when given.
pub async fn training_runs(
    store: &Store,
    model: Option<&str>,
) -> Result<Vec<TrainingRun>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, build, base_model, output_model, output_key, config_sha256, trainer, leaf, recorded
         FROM training_runs ORDER BY leaf",
    )
    .fetch_all(store.db())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let json = |i: usize| -> Result<serde_json::Value, StoreError> {
            let s: String = r.try_get(i)?;
            serde_json::from_str(&s)
                .map_err(|e| StoreError::Inconsistent(format!("training run: {e}")))
        };
        let run = TrainingRun {
            id: r.try_get(0)?,
            build: r.try_get(1)?,
            base_model: json(2)?,
            output_model: json(3)?,
            output_key: r.try_get(4)?,
            config_sha256: r.try_get(5)?,
            trainer: r.try_get(6)?,
            leaf: r.try_get::<i64, _>(7)? as u64,
            recorded: r.try_get(8)?,
        };
        let matches = match model {
            None => true,
            Some(m) => {
                run.output_key == m
                    || run.output_model.get("name").and_then(|v| v.as_str()) == Some(m)
                    || run.output_model.get("path").and_then(|v| v.as_str()) == Some(m)
            }
        };
        if matches {
            out.push(run);
        }
    }
    Ok(out)
}

/// Who and what stands behind a release's examples.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReleaseSummary {
    /// Reviewer pseudonym → distinct reviews of theirs behind the examples.
    pub reviewers: std::collections::BTreeMap<String, u64>,
    /// Distinct cases.
    pub cases: u64,
    /// Policy id → distinct cases linked to it.
    pub policies: std::collections::BTreeMap<String, u64>,
}

/// Summarizes a recorded release's examples.
pub async fn release_summary(store: &Store, build: &str) -> Result<ReleaseSummary, StoreError> {
    let mut out = ReleaseSummary::default();
    let rows = sqlx::query(
        "SELECT u.pseudonym, COUNT(DISTINCT r.id)
         FROM release_examples e, json_each(e.reviews) j
         JOIN reviews r ON r.id = (CASE j.type WHEN 'object' THEN json_extract(j.value, '$.id') ELSE j.value END)
         JOIN users u ON u.id = r.user_id
         WHERE e.build = ? GROUP BY u.pseudonym ORDER BY u.pseudonym",
    )
    .bind(build)
    .fetch_all(store.db())
    .await?;
    for r in rows {
        out.reviewers
            .insert(r.try_get(0)?, r.try_get::<i64, _>(1)? as u64);
    }
    out.cases = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(DISTINCT case_id) FROM release_examples WHERE build = ?",
    )
    .bind(build)
    .fetch_one(store.db())
    .await? as u64;
    let rows = sqlx::query(
        "SELECT substr(j.value, 8), COUNT(DISTINCT c.id)
         FROM (SELECT DISTINCT case_id, case_version FROM release_examples WHERE build = ?) e
         JOIN cases c ON c.id = e.case_id AND c.version = e.case_version, json_each(c.tags) j
         WHERE j.value LIKE 'policy:%' GROUP BY j.value ORDER BY j.value",
    )
    .bind(build)
    .fetch_all(store.db())
    .await?;
    for r in rows {
        out.policies
            .insert(r.try_get(0)?, r.try_get::<i64, _>(1)? as u64);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{ExampleReview, ReviewRole};

    #[test]
    fn index_rows_from_before_roles_read_as_role_less_reviews() {
        let old: Vec<ExampleReview> = serde_json::from_str(r#"["t#R-1#v1"]"#).unwrap();
        assert_eq!(old[0].id, "t#R-1#v1");
        assert_eq!(old[0].role, None);
        let new = vec![
            ExampleReview {
                id: "t#R-1#v1".into(),
                role: Some(ReviewRole::Standing),
                adjudication: Some(12),
            },
            ExampleReview {
                id: "t#R-2#v1".into(),
                role: Some(ReviewRole::Considered),
                adjudication: None,
            },
        ];
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(
            text,
            r#"[{"id":"t#R-1#v1","role":"standing","adjudication":12},{"id":"t#R-2#v1","role":"considered"}]"#
        );
        assert_eq!(
            serde_json::from_str::<Vec<ExampleReview>>(&text).unwrap(),
            new
        );
    }
}
