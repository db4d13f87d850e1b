//! The witness HTTP server: `POST /add-checkpoint` (C2SP `tlog-witness`).
//!
//! One mutex spans check, persist and cosign, so two requests can never
//! interleave and roll the state back (the race the spec warns about); the
//! new state is on disk before the cosignature leaves.
//!
//! Not here: the rules (`witness.rs`) and the files (`state.rs`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;

use crate::request::MAX_REQUEST_BYTES;
use crate::state::{LogState, StateDir, StateError};
use crate::witness::{Refusal, Witness};

/// Content type of a 409 answer carrying the witnessed size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Shared state of the server.
#[derive(Debug)]
pub struct AppState {
    witness: Witness,
    state: StateDir,
    lock: Mutex<()>,
}

impl AppState {
    /// A server for `witness` keeping its memory in `state`.
    pub fn new(witness: Witness, state: StateDir) -> Self {
        Self {
            witness,
            state,
            lock: Mutex::new(()),
        }
    }
}

/// The router: `POST /add-checkpoint` and `GET /` (the witness's name and key).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/", get(about))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

async fn about(State(app): State<Arc<AppState>>) -> Response {
    let mut text = format!(
        "CTS witness {}\nvkey {}\n",
        app.witness.cosigner().name(),
        app.witness.cosigner().verifier_key()
    );
    for origin in app.witness.origins() {
        text.push_str(&format!("log {origin}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

enum Failure {
    Refused(Refusal),
    State(StateError),
    Task(String),
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Refused(Refusal::OldSizeMismatch { witnessed, .. }) => (
                StatusCode::CONFLICT,
                [(header::CONTENT_TYPE, SIZE_CONTENT_TYPE)],
                format!("{witnessed}\n"),
            )
                .into_response(),
            Failure::Refused(r) => {
                let status =
                    StatusCode::from_u16(r.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, format!("{r}\n")).into_response()
            }
            Failure::State(e) => {
                tracing::error!(error = %e, "witness state");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "witness state unavailable\n",
                )
                    .into_response()
            }
            Failure::Task(e) => {
                tracing::error!(error = %e, "witness state task");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "witness state unavailable\n",
                )
                    .into_response()
            }
        }
    }
}

async fn add_checkpoint(State(app): State<Arc<AppState>>, body: Bytes) -> Response {
    match add(&app, &body).await {
        Ok(lines) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], lines).into_response(),
        Err(f) => f.into_response(),
    }
}

/// Runs file work off the async threads.
async fn on_disk<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StateError> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::Task(e.to_string()))?
        .map_err(Failure::State)
}

async fn add(app: &Arc<AppState>, body: &[u8]) -> Result<Vec<u8>, Failure> {
    let signed = app.witness.open(body).map_err(Failure::Refused)?;
    let origin = signed.checkpoint.origin.clone();
    let _guard = app.lock.lock().await;
    let (dir, o) = (app.state.clone(), origin.clone());
    // `load` has checked the stored root, so `tree()` is `Some` for a stored state.
    let latest = on_disk(move || dir.load(&o)).await?.and_then(|s| s.tree());
    let tree = match app.witness.check(&signed, latest) {
        Ok(t) => t,
        Err(r) => {
            if r.is_evidence() {
                tracing::warn!(origin = %origin, refusal = %r, checkpoint = %String::from_utf8_lossy(&signed.checkpoint.note), "refused a validly signed checkpoint: possible log misbehaviour");
            } else {
                tracing::info!(origin = %origin, refusal = %r, "refused");
            }
            return Err(Failure::Refused(r));
        }
    };
    let time = now();
    let lines = app
        .witness
        .cosign(&signed, time)
        .map_err(Failure::Refused)?;
    let record = LogState::new(&origin, tree, &signed.checkpoint.note, time);
    let dir = app.state.clone();
    on_disk(move || dir.store(&record)).await?;
    tracing::info!(origin = %origin, size = tree.size.0, "cosigned");
    Ok(lines)
}
