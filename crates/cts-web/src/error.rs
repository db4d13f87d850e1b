//! Errors as HTTP responses: a status and a message that names what was
//! wrong, as HTML for pages and JSON for `/api/*`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cts_store::StoreError;

/// A request that failed.
#[derive(Debug)]
pub struct WebError {
    /// HTTP status.
    pub status: StatusCode,
    /// What to tell the user.
    pub message: String,
    /// Answer as JSON (API routes) rather than HTML.
    pub json: bool,
}

impl WebError {
    /// An error with a status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        WebError {
            status,
            message: message.into(),
            json: false,
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
    /// The same error, answered as JSON.
    pub fn as_json(mut self) -> Self {
        self.json = true;
        self
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Invalid(_) | StoreError::Event(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Denied(_) => StatusCode::FORBIDDEN,
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

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if self.json {
            let body = serde_json::json!({ "error": self.message, "status": self.status.as_u16() });
            return (self.status, axum::Json(body)).into_response();
        }
        let page = crate::pages::ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or(""),
            message: &self.message,
        };
        match askama::Template::render(&page) {
            Ok(html) => (self.status, axum::response::Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}
