//! Errors as HTTP responses: a status and a message that names what was
//! wrong, as an HTML page ([`WebError`]) or, under `/api`, as JSON
//! ([`ApiError`]).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cts_store::StoreError;

/// A request that failed, answered as an error page.
#[derive(Debug)]
pub struct WebError {
    /// HTTP status.
    pub status: StatusCode,
    /// What to tell the user.
    pub message: String,
}

/// A failed `/api` request, answered as JSON:
/// `{"error": message, "status": code}`. Anything that becomes a
/// [`WebError`] becomes one, so API handlers use plain `?`.
#[derive(Debug)]
pub struct ApiError(pub WebError);

impl<E: Into<WebError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    /// HTTP status.
    pub status: u16,
    /// Its reason phrase.
    pub reason: &'a str,
    /// What went wrong.
    pub message: &'a str,
}

impl WebError {
    /// An error with a status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        WebError {
            status,
            message: message.into(),
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound { .. } | StoreError::LogTooShort { .. } => StatusCode::NOT_FOUND,
            StoreError::Invalid { .. } | StoreError::Review(_) | StoreError::Event(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            StoreError::Conflict { .. } => StatusCode::CONFLICT,
            StoreError::Denied { .. } => StatusCode::FORBIDDEN,
            _ => {
                tracing::error!("store: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        WebError::new(status, e.to_string())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        tracing::error!("template: {e}");
        WebError::new(StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(e) = self;
        let body = serde_json::json!({ "error": e.message, "status": e.status.as_u16() });
        (e.status, axum::Json(body)).into_response()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or(""),
            message: &self.message,
        };
        match page.render() {
            Ok(html) => (self.status, axum::response::Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}
