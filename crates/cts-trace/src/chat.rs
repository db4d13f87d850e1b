//! The chat a trace records: who said what, the sampling parameters, the
//! model that answered and what it cost. Plain data, shared by the model
//! backends (`cts-model` re-exports these types) and the trace document.

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

impl Role {
    /// The role as the chat wire format spells it (`system`, `user`, `assistant`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
