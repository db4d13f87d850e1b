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

#![warn(missing_docs)]

pub mod http;
pub mod loglik;

pub use loglik::{ContinuationScore, LoglikError, LoglikModel, LoglikRequest};

use serde::{Deserialize, Serialize};

/// Who speaks a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// System instructions.
    System,
    /// The user (here: the case and the task).
    User,
    /// The model.
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Speaker.
    pub role: Role,
    /// Text.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// Sampling parameters, recorded with every trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    /// Sampling temperature (0 = greedy).
    pub temperature: f32,
    /// Nucleus sampling mass.
    pub top_p: f32,
    /// Random seed.
    pub seed: u64,
    /// Most tokens to generate.
    pub max_tokens: u32,
}

impl Default for GenerationParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.95,
            seed: 42,
            max_tokens: 512,
        }
    }
}

/// Which model produced an output, as precisely as the backend can say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// `local-gguf` or `openai-http`.
    pub backend: String,
    /// Model name (file name for local models, `model` for HTTP).
    pub name: String,
    /// SHA-256 (hex) of the weights file, for local models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
    /// Base URL, for HTTP models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The server's `system_fingerprint`, when it sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// Token counts and timings of one completion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Time to process the prompt (local) or to the first token (HTTP streaming), ms.
    pub prompt_ms: f64,
    /// Time spent generating, ms.
    pub generation_ms: f64,
}

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
