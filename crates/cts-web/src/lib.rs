//! The CTS review workbench: a server-rendered web application over the
//! embedded store.
//!
//! Pages are askama templates; a small hand-written script (`static/app.js`)
//! adds keyboard control, inline editing and autosave to the review page.
//! Every asset is compiled into the binary: the page makes no request
//! outside this server.
//!
//! Every authorization decision is made here, on the server, per request:
//! [`auth`] resolves the session cookie to a user, checks the CSRF token of
//! every state-changing request, and each handler states the roles it
//! admits. The store enforces what depends on data (assignments, blindness,
//! stale drafts) inside its transactions.

mod api;
mod audit;
pub mod auth;
mod error;
mod layout;
mod pages;
mod review;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use cts_ledger::checkpoint::{LogSigner, LogVerifier};
use cts_store::review::ReviewConfig;
use cts_store::Store;

pub use error::{ApiError, WebError};

/// Largest request body accepted (bytes).
pub const MAX_BODY: usize = 256 * 1024;

/// Everything a request handler needs.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Review settings.
    pub review: ReviewConfig,
    /// Signs checkpoints (auditor proofs need one covering the leaf).
    pub signer: Arc<LogSigner>,
    /// Checks what we hand out.
    pub verifier: LogVerifier,
    /// Session lifetime, seconds.
    pub session_seconds: i64,
    /// Login attempts per client address per minute.
    pub login_limiter: auth::RateLimiter,
}

/// Shared state.
pub type Shared = Arc<AppState>;

/// The application's routes.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(pages::healthz))
        .route("/static/{file}", get(pages::asset))
        .route("/favicon.ico", get(pages::favicon))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/", get(pages::home))
        .route("/queue", get(review::queue_page))
        .route("/queue/claim", post(review::claim))
        .route("/review", get(review::review_page))
        .route("/review/release", post(review::release))
        .route("/review/revise", post(review::revise))
        .route("/history", get(review::history_page))
        .route("/adjudication", get(review::adjudication_queue))
        .route("/adjudication/trace", get(review::adjudication_page))
        .route("/adjudication/decide", post(review::decide))
        .route("/agreement", get(pages::agreement_page))
        .route("/audit", get(audit::audit_page))
        .route("/audit/leaf", get(audit::leaf_page))
        .route("/audit/bundle", get(audit::bundle))
        .route(
            "/admin/users",
            get(pages::users_page).post(pages::create_user),
        )
        .nest("/api", api::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::session_layer,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(auth::security_headers))
        .with_state(state)
}

/// Serves the workbench on `listener` until `shutdown` resolves. Also signs
/// a checkpoint every `checkpoint_every` while the log grows, so auditors
/// always find recent events covered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    checkpoint_every: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cp_state = state.clone();
    let checkpointer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(checkpoint_every);
        loop {
            tick.tick().await;
            if let Err(e) = checkpoint_if_grown(&cp_state).await {
                tracing::warn!("periodic checkpoint failed: {e}");
            }
        }
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    checkpointer.abort();
    result
}

/// Signs a checkpoint when the log has grown past the latest one.
pub async fn checkpoint_if_grown(state: &AppState) -> Result<(), cts_store::StoreError> {
    state.store.ledger().refresh().await?;
    let size = state.store.ledger().committed_size();
    let latest = state.store.ledger().latest_checkpoint().await?;
    if latest.is_none_or(|c| c.size.0 < size.0) {
        state
            .store
            .ledger()
            .checkpoint(state.signer.clone())
            .await?;
    }
    Ok(())
}
