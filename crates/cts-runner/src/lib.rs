//! The evaluation runner of CTS: what `cts eval` (and the red-team and
//! training loops after it) share.
//!
//! - [`models`]: open a model from a source string (`default`, a `.gguf`
//!   path, an OpenAI-compatible base URL) and name it by a stable key.
//! - [`cache`]: a per-item result cache (JSONL, one file per model and
//!   configuration), so a killed run continues where it stopped.
//! - [`eval`]: put benchmark items to a model (generation with answer
//!   extraction, or log-likelihood over the options) with bounded
//!   concurrency, reading and filling the cache.
//! - [`record`]: the run folder (`run.json`, `items.jsonl`,
//!   `summary.json`), its `eval.completed` ledger event and inclusion
//!   proof, and the offline check an auditor runs on it.
//! - [`compare`]: the paired comparison of two runs on the same items.
//! - [`healthbench`]: rubric-graded open-ended evaluation (HealthBench
//!   format): answers, per-criterion grades from a grader model, scores,
//!   the run folder with its `healthbench.completed` event, offline check.
//! - [`ask`]: asking a model for a structured answer, re-asking on a
//!   malformed reply (judges and graders).
//! - [`redteam`]: attack instances put to a target, judged (rules or an
//!   LLM judge with retries), cached, recorded (`redteam.completed`),
//!   verified offline and compared base vs tuned.
//!
//! Pure statistics, loaders, templates and extraction live in `cts-eval`;
//! inference in `cts-model` and `cts-llama`; the ledger in `cts-store`.

pub mod ask;
pub mod cache;
pub mod compare;
pub mod error;
pub mod eval;
pub mod folder;
pub mod healthbench;
pub mod models;
pub mod record;
pub mod redteam;

pub use error::RunnerError;

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
