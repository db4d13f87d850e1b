//! The `/api` group: the JSON endpoints the review script (`static/app.js`)
//! calls — load and autosave a draft, submit, diff an edit. Nested under
//! `/api` with its own layer (no session: a JSON 401) and its own error
//! type ([`ApiError`], JSON), so handlers use plain `?`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cts_review::review::word_diff;
use cts_review::ReviewBody;
use cts_store::review as store;

use crate::auth::Session;
use crate::error::{ApiError, WebError};
use crate::review::{reviewer, TraceQuery};
use crate::Shared;

/// The routes under `/api`.
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/draft", get(get_draft).put(put_draft))
        .route("/submit", post(submit))
        .route("/diff", post(diff))
        .route_layer(axum::middleware::from_fn(crate::auth::require_session))
}

/// A draft or submission from the review script.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftIn {
    body: ReviewBody,
    revision: i64,
    /// The browser tab's random id (see [`store::DraftSource`]).
    #[serde(default)]
    client: Option<String>,
    /// The tab's change counter.
    #[serde(default)]
    seq: Option<i64>,
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, WebError> {
    serde_json::from_slice(bytes).map_err(|e| WebError::bad_request(format!("request body: {e}")))
}

/// GET /api/draft?trace=: the caller's draft.
pub async fn get_draft(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
) -> Result<Response, ApiError> {
    reviewer(&session)?;
    store::check_assigned(&state.store, &session.user, &q.trace).await?;
    let draft = store::load_draft(&state.store, &session.user, &q.trace).await?;
    Ok(Json(match draft {
        Some((body, revision)) => serde_json::json!({ "body": body, "revision": revision }),
        None => serde_json::json!({ "body": null, "revision": 0 }),
    })
    .into_response())
}

/// PUT /api/draft?trace=: autosave. 409 when another tab saved first.
pub async fn put_draft(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    reviewer(&session)?;
    let input: DraftIn = parse_json(&bytes)?;
    let client = input.client.unwrap_or_default();
    if client.len() > 64
        || !client
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(WebError::bad_request("client: up to 64 letters, digits or '-'").into());
    }
    let source = store::DraftSource {
        client,
        seq: input.seq.unwrap_or(0),
    };
    let revision = store::save_draft_from(
        &state.store,
        &session.user,
        &q.trace,
        &input.body,
        input.revision,
        &source,
    )
    .await?;
    Ok(Json(serde_json::json!({ "revision": revision })).into_response())
}

/// POST /api/submit?trace=: submit the review (immutable once done).
pub async fn submit(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    reviewer(&session)?;
    let input: DraftIn = parse_json(&bytes)?;
    let done = store::submit(
        &state.store,
        &state.review,
        &session.user,
        &q.trace,
        input.body,
        input.revision,
    )
    .await?;
    // Nothing here depends on the other reviews of the trace (not even
    // whether they agree): a reviewer's answers reveal nothing about them.
    Ok(Json(serde_json::json!({
        "id": done.id, "version": done.version, "leaf": done.leaf, "edit_leaves": done.edit_leaves,
    }))
    .into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffIn {
    original: String,
    text: String,
}

/// POST /api/diff: word-level diff of an edit against the original.
pub async fn diff(session: Session, bytes: Bytes) -> Result<Response, ApiError> {
    reviewer(&session)?;
    let input: DiffIn = parse_json(&bytes)?;
    Ok(Json(word_diff(&input.original, &input.text)).into_response())
}
