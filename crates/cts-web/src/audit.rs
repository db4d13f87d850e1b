//! Auditor view: recent events, any leaf with its inclusion proof against
//! the latest checkpoint, and the proof bundle (`tlog-proof@v1`) that
//! `cts verify` checks offline.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use cts_ledger::bundle::ProofBundle;
use cts_ledger::{Event, LeafIndex};
use cts_store::users::Role;
use cts_store::StoredCheckpoint;

use crate::auth::Session;
use crate::error::WebError;
use crate::layout::Nav;
use crate::Shared;

fn auditor(session: &Session) -> Result<(), WebError> {
    session.require(&[Role::Auditor, Role::Admin])
}

/// A ledger event as listed.
pub struct EventRow {
    /// Leaf index.
    pub leaf: u64,
    /// Kind.
    pub kind: String,
    /// Actor.
    pub actor: String,
    /// Subjects, joined.
    pub subjects: String,
    /// Traces among the subjects (each links to its review history).
    pub traces: Vec<String>,
    /// Time.
    pub time: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    size: u64,
    checkpoint: Option<StoredCheckpoint>,
    events: Vec<EventRow>,
    verifier_key: String,
}

/// GET /audit: the latest 200 events.
pub async fn audit_page(
    State(state): State<Shared>,
    session: Session,
) -> Result<Response, WebError> {
    auditor(&session)?;
    crate::checkpoint_if_grown(&state).await?;
    let size = state.store.ledger().committed_size().0;
    let start = size.saturating_sub(200);
    let entries = state
        .store
        .ledger()
        .entries(LeafIndex(start), LeafIndex(size))
        .await?;
    let mut events = Vec::new();
    for (i, e) in entries.iter().enumerate().rev() {
        let leaf = start + i as u64;
        match Event::decode(e) {
            Ok(ev) => events.push(EventRow {
                leaf,
                kind: ev.kind.as_str().to_owned(),
                traces: ev
                    .subjects
                    .iter()
                    .filter_map(|s| s.strip_prefix("trace:"))
                    .map(str::to_owned)
                    .collect(),
                actor: ev.actor,
                subjects: ev.subjects.join(" "),
                time: ev.time,
            }),
            Err(err) => events.push(EventRow {
                leaf,
                kind: "(undecodable)".into(),
                actor: String::new(),
                subjects: err.to_string(),
                traces: Vec::new(),
                time: String::new(),
            }),
        }
    }
    let page = AuditPage {
        nav: Nav::of(&session),
        size,
        checkpoint: state.store.ledger().latest_checkpoint().await?,
        events,
        verifier_key: state.verifier.key_text().to_owned(),
    };
    Ok(Html(page.render()?).into_response())
}

/// `?n=LEAF`.
#[derive(serde::Deserialize)]
pub struct LeafQuery {
    n: u64,
}

/// The bundle proving leaf `n` against the latest checkpoint (signing a new
/// one if none covers it yet), checked before it is handed out.
async fn proof_bundle(state: &Shared, n: u64) -> Result<(ProofBundle, StoredCheckpoint), WebError> {
    state.store.ledger().refresh().await?;
    if n >= state.store.ledger().committed_size().0 {
        return Err(WebError::not_found(format!(
            "leaf {n} is not in the log (size {})",
            state.store.ledger().committed_size().0
        )));
    }
    let leaf = LeafIndex(n);
    let cp = match state.store.ledger().latest_checkpoint().await? {
        Some(cp) if cp.size.0 > n => cp,
        _ => {
            state
                .store
                .ledger()
                .checkpoint(state.signer.clone())
                .await?
        }
    };
    let bundle = state.store.ledger().proof_bundle(leaf, &cp).await?;
    bundle.verify(&state.verifier, None).map_err(|e| {
        WebError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("the proof for leaf {n} does not verify: {e}"),
        )
    })?;
    Ok((bundle, cp))
}

#[derive(Template)]
#[template(path = "leaf.html")]
struct LeafPage {
    nav: Nav,
    leaf: u64,
    kind: String,
    entry: String,
    proof: Vec<String>,
    checkpoint: String,
    checkpoint_size: u64,
}

/// GET /audit/leaf?n=: one event with its inclusion proof.
pub async fn leaf_page(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<LeafQuery>,
) -> Result<Response, WebError> {
    auditor(&session)?;
    let (bundle, cp) = proof_bundle(&state, q.n).await?;
    let entry = bundle.extra.clone().unwrap_or_default();
    let event = Event::decode(&entry).ok();
    let pretty = event
        .as_ref()
        .and_then(|e| serde_json::to_string_pretty(e).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&entry).into_owned());
    let page = LeafPage {
        nav: Nav::of(&session),
        leaf: q.n,
        kind: event
            .map(|e| e.kind.as_str().to_owned())
            .unwrap_or_default(),
        entry: pretty,
        proof: bundle
            .proof
            .iter()
            .map(cts_ledger::hash_to_base64)
            .collect(),
        checkpoint: String::from_utf8_lossy(&cp.note).into_owned(),
        checkpoint_size: cp.size.0,
    };
    Ok(Html(page.render()?).into_response())
}

/// GET /audit/bundle?n=: the proof bundle as a download.
pub async fn bundle(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<LeafQuery>,
) -> Result<Response, WebError> {
    auditor(&session)?;
    let (bundle, _) = proof_bundle(&state, q.n).await?;
    let disposition = format!("attachment; filename=\"leaf-{}.tlog-proof\"", q.n);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bundle.to_text(),
    )
        .into_response())
}
