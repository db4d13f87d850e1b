//! Reasoning traces in the store: each a `trace.generated` event committing
//! to the full trace document, plus a row for listing and resuming.

use cts_ledger::{EventDraft, EventKind, LeafIndex};
use cts_trace::TraceDocument;
use sqlx::Row;

use crate::{AppendHook, ContentState, Store, StoreError};

/// A trace ready to record.
#[derive(Clone, Debug)]
pub struct NewTrace {
    /// Deterministic id (same case, run and sample → same id).
    pub id: String,
    /// Case id.
    pub case_id: String,
    /// Case version.
    pub case_version: i64,
    /// Sample number, from 0.
    pub sample: i64,
    /// Digest of model identity, parameters and template.
    pub run_key: String,
    /// Model identity (JSON).
    pub model: serde_json::Value,
    /// Generation parameters (JSON).
    pub params: serde_json::Value,
    /// Prompt template label.
    pub template: String,
    /// Option letter found in the answer.
    pub answer_choice: Option<char>,
    /// Number of steps.
    pub steps: usize,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Prompt time, ms.
    pub prompt_ms: f64,
    /// Generation time, ms.
    pub generation_ms: f64,
    /// The full trace document (JSON), stored as committed content.
    pub document: Vec<u8>,
}

/// A stored trace, as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredTrace {
    /// Trace id.
    pub id: String,
    /// Case id.
    pub case_id: String,
    /// Case version.
    pub case_version: i64,
    /// Sample number.
    pub sample: i64,
    /// Model identity.
    pub model: serde_json::Value,
    /// Generation parameters.
    pub params: serde_json::Value,
    /// Prompt template label.
    pub template: String,
    /// Option letter found in the answer.
    pub answer_choice: Option<String>,
    /// Number of steps.
    pub steps: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Generated tokens.
    pub completion_tokens: i64,
    /// Generation time, ms.
    pub generation_ms: f64,
    /// The `trace.generated` leaf.
    pub leaf: u64,
    /// When it was recorded.
    pub created: String,
}

/// Whether a trace id is already stored (generation resumes by skipping it).
pub async fn trace_exists(store: &Store, id: &str) -> Result<bool, StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM traces WHERE id = ?")
        .bind(id)
        .fetch_optional(store.db())
        .await?;
    Ok(found.is_some())
}

/// Records a trace: the event, its content and its row commit together.
pub async fn record_trace(
    store: &Store,
    trace: NewTrace,
    actor: &str,
) -> Result<LeafIndex, StoreError> {
    let body = serde_json::json!({
        "case_version": trace.case_version, "sample": trace.sample, "run_key": trace.run_key,
        "model": trace.model, "params": trace.params, "template": trace.template,
        "steps": trace.steps, "answer_choice": trace.answer_choice.map(String::from),
        "prompt_tokens": trace.prompt_tokens, "completion_tokens": trace.completion_tokens,
    });
    let draft = EventDraft::new(EventKind::new("trace.generated")?, actor)
        .subject(format!("trace:{}", trace.id))
        .subject(format!("case:{}", trace.case_id))
        .body(body)
        .attach("trace", trace.document.clone());
    let prepared = draft.prepare(cts_ledger::Salt::random)?;
    let commitment = prepared.event.content["trace"].0;
    let created = prepared.event.time.clone();
    let hook: AppendHook = Box::new(move |conn, leaves| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO traces (id, case_id, case_version, sample, run_key, model, params, template, answer_choice,
                 steps, prompt_tokens, completion_tokens, prompt_ms, generation_ms, commitment, leaf, created)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&trace.id)
            .bind(&trace.case_id)
            .bind(trace.case_version)
            .bind(trace.sample)
            .bind(&trace.run_key)
            .bind(trace.model.to_string())
            .bind(trace.params.to_string())
            .bind(&trace.template)
            .bind(trace.answer_choice.map(String::from))
            .bind(trace.steps as i64)
            .bind(i64::from(trace.prompt_tokens))
            .bind(i64::from(trace.completion_tokens))
            .bind(trace.prompt_ms)
            .bind(trace.generation_ms)
            .bind(&commitment[..])
            .bind(leaves[0].0 as i64)
            .bind(&created)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    });
    let leaves = store
        .ledger()
        .append_prepared(vec![prepared], Some(hook))
        .await?;
    leaves.into_iter().next().ok_or(StoreError::EmptyAppend)
}

fn stored(r: &sqlx::sqlite::SqliteRow) -> Result<StoredTrace, StoreError> {
    let json = |i: usize| -> Result<serde_json::Value, StoreError> {
        let text: String = r.try_get(i)?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Inconsistent(format!("trace column {i}: {e}")))
    };
    Ok(StoredTrace {
        id: r.try_get(0)?,
        case_id: r.try_get(1)?,
        case_version: r.try_get(2)?,
        sample: r.try_get(3)?,
        model: json(4)?,
        params: json(5)?,
        template: r.try_get(6)?,
        answer_choice: r.try_get(7)?,
        steps: r.try_get(8)?,
        prompt_tokens: r.try_get(9)?,
        completion_tokens: r.try_get(10)?,
        generation_ms: r.try_get(11)?,
        leaf: r.try_get::<i64, _>(12)? as u64,
        created: r.try_get(13)?,
    })
}

const COLUMNS: &str =
    "id, case_id, case_version, sample, model, params, template, answer_choice, steps,
    prompt_tokens, completion_tokens, generation_ms, leaf, created";

/// Traces, optionally of one case, oldest first.
pub async fn list_traces(
    store: &Store,
    case_id: Option<&str>,
) -> Result<Vec<StoredTrace>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM traces WHERE (?1 IS NULL OR case_id = ?1) ORDER BY leaf"
    ))
    .bind(case_id)
    .fetch_all(store.db())
    .await?;
    rows.iter().map(stored).collect()
}

/// One trace with its document (`None` if the content was erased).
pub async fn get_trace(
    store: &Store,
    id: &str,
) -> Result<(StoredTrace, Option<TraceDocument>), StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, commitment FROM traces WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(store.db())
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "trace",
        id: format!("{id:?}"),
        hint: None,
    })?;
    let trace = stored(&row)?;
    let raw: Vec<u8> = row.try_get(14)?;
    let commitment = cts_ledger::Commitment(
        <[u8; 32]>::try_from(raw.as_slice())
            .map_err(|_| StoreError::Inconsistent(format!("trace {id}: bad commitment")))?,
    );
    let document = match store.ledger().content(&commitment).await? {
        ContentState::Present { opening, .. } => Some(
            TraceDocument::from_json(&opening.content)
                .map_err(|e| StoreError::Inconsistent(format!("trace {id}: {e}")))?,
        ),
        ContentState::Redacted { .. } => None,
    };
    Ok((trace, document))
}

/// How many traces are stored.
pub async fn count_traces(store: &Store) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM traces")
        .fetch_one(store.db())
        .await?)
}
