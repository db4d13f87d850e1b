//! Chat models for CTS: one trait, [`ChatModel`], with two real backends —
//! a local GGUF model through llama.cpp (crate `cts-llama`) and any
//! OpenAI-compatible HTTP server (`http` module: vLLM, llama.cpp server,
//! Ollama, TGI, hosted APIs).
//!
//! [`LoglikModel`] adds log-likelihood scoring of continuations (the
//! lm-evaluation-harness convention for multiple-choice benchmarks) to the
//! same two backends; see [`loglik`].
//!
//! Not here: prompts and step segmentation (`cts-trace`), storage (`cts-store`).

pub mod http;
pub mod loglik;

pub use cts_trace::chat::{ChatMessage, GenerationParams, ModelIdentity, Role, Usage};
pub use loglik::{ContinuationScore, LoglikError, LoglikModel, LoglikRequest};

use serde::{Deserialize, Serialize};

/// A model's answer to one chat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The message content as returned (may contain `<think>…</think>`).
    pub content: String,
    /// Reasoning returned separately (`reasoning_content`, R1-style servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Why generation stopped (`stop`, `length`, …).
    pub finish_reason: String,
    /// Tokens and timings.
    pub usage: Usage,
    /// The model that answered (HTTP: includes the fingerprint of this response).
    pub model: ModelIdentity,
}

/// Errors talking to a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model cannot be loaded or reached.
    #[error("model unavailable: {0}")]
    Unavailable(String),
    /// The request was refused (4xx other than 429).
    #[error("request refused ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Server's message.
        message: String,
    },
    /// Retries were exhausted on 429/5xx/timeouts.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// Last error.
        last: String,
    },
    /// The response could not be understood.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// Inference failed.
    #[error("inference failed: {0}")]
    Inference(String),
}

/// A chat model.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync {
    /// Which model this is.
    fn identity(&self) -> ModelIdentity;

    /// Completes a chat. `on_text` receives generated text as it streams
    /// (whole UTF-8 characters only); backends that cannot stream call it once.
    ///
    /// The `for<'a>` is spelled out because `#[async_trait]` would otherwise
    /// give the `&str` one fixed lifetime, and no text made inside
    /// `complete` could be handed to `on_text`. Implementations must spell it
    /// out the same way.
    async fn complete(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &(dyn for<'a> Fn(&'a str) + Send + Sync),
    ) -> Result<Completion, ModelError>;
}
