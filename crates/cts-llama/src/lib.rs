//! The local GGUF backend of CTS: chat models run in-process through
//! llama.cpp (`llama-cpp-2`), implementing [`cts_model::ChatModel`].
//!
//! - [`fetch`]: downloads and verifies the default model (SmolLM2-135M-Instruct Q4_1).
//! - [`local`]: [`LocalModel`], single streamed completions and batched decoding.
//! - [`loglik`]: log-likelihood scoring of continuations with the context decoded once per item.
//!
//! Not here: the trait and the HTTP backend (`cts-model`), prompts (`cts-trace`),
//! throughput benchmarks (`cts-bench`).
//!
//! llama.cpp's own logs are forwarded to `tracing` (INFO and up at load time;
//! filter them with e.g. `RUST_LOG=llama_cpp_2=warn`).

pub mod fetch;
pub mod local;
pub mod loglik;
mod utf8;

pub use fetch::{
    default_cache_dir, fetch_default_model, sha256_file, FetchError, DEFAULT_MODEL_FILE,
    DEFAULT_MODEL_SHA256, DEFAULT_MODEL_SIZE,
};
pub use local::{LocalModel, LocalOptions};
pub use loglik::PrefixSharing;
