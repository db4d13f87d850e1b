//! Opening a model from what a user typed, and naming it by a stable key.
//!
//! A source is `default` (the built-in local GGUF, fetched and checked on
//! first use), a path to a `.gguf` file (run locally through llama.cpp), or
//! the base URL of an OpenAI-compatible server (`http://…`, `https://…`).
//! Both backends implement [`LoglikModel`], so one handle serves generation
//! and log-likelihood scoring; a server without `echo`/`logprobs` says so
//! when scoring is first asked of it.

use std::sync::Arc;
use std::time::Duration;

use cts_model::{LoglikModel, ModelIdentity};

use crate::RunnerError;

/// How to reach an HTTP model (from the project's `[model]` settings).
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// The `model` field sent to the server.
    pub model: String,
    /// Environment variable holding the API key, if any.
    pub api_key_env: Option<String>,
    /// Request timeout.
    pub timeout: Duration,
}

/// True when `source` names an OpenAI-compatible server.
pub fn is_http(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Opens `source` for up to `parallel` requests at once.
pub async fn open(
    source: &str,
    http: &HttpSettings,
    parallel: usize,
) -> Result<Arc<dyn LoglikModel>, RunnerError> {
    let failed = |reason: String| RunnerError::ModelOpen {
        source_name: source.to_owned(),
        reason,
    };
    if is_http(source) {
        let config = cts_model::http::HttpConfig {
            timeout: http.timeout,
            concurrency: parallel.max(1),
            api_key_env: http.api_key_env.clone(),
            ..cts_model::http::HttpConfig::new(source, &http.model)
        };
        let model = cts_model::http::OpenAiModel::new(config).map_err(|e| failed(e.to_string()))?;
        return Ok(Arc::new(model));
    }
    open_local(source, parallel).await
}

#[cfg(feature = "local")]
async fn open_local(source: &str, parallel: usize) -> Result<Arc<dyn LoglikModel>, RunnerError> {
    let failed = |reason: String| RunnerError::ModelOpen {
        source_name: source.to_owned(),
        reason,
    };
    let path = if source == "default" {
        let dir = cts_llama::fetch::default_cache_dir();
        tokio::task::spawn_blocking(move || cts_llama::fetch::fetch_default_model(&dir))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(format!("{e:#}")))?
    } else {
        std::path::PathBuf::from(source)
    };
    if !path.is_file() {
        return Err(failed(format!(
            "{}: no such model file (give `default`, a .gguf path or an http(s):// server URL)",
            path.display()
        )));
    }
    let opts = cts_llama::local::LocalOptions {
        max_parallel: parallel.max(1),
        ..cts_llama::local::LocalOptions::default()
    };
    let model =
        tokio::task::spawn_blocking(move || cts_llama::local::LocalModel::load(&path, opts))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(format!("{e:#}")))?;
    Ok(Arc::new(model))
}

#[cfg(not(feature = "local"))]
async fn open_local(source: &str, _parallel: usize) -> Result<Arc<dyn LoglikModel>, RunnerError> {
    Err(RunnerError::ModelOpen {
        source_name: source.to_owned(),
        reason: "this build has no local backend (cts-runner without its `local` feature)".into(),
    })
}

/// The key a model's results are filed under: the weights' SHA-256 for a
/// local file (the same key `cts training record` gives a tuned model), or
/// `name@base-url` for a server.
pub fn model_key(identity: &ModelIdentity) -> String {
    match (&identity.weights_sha256, &identity.base_url) {
        (Some(sha), _) => sha.clone(),
        (None, Some(url)) => format!("{}@{}", identity.name, url),
        (None, None) => identity.name.clone(),
    }
}
