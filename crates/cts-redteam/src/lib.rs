//! Red teaming for CTS, the pure part: what an attack prompt is and reading
//! attack sets (MedSafetyBench CSV, plain text, JSONL) plus the shipped
//! synthetic seeds ([`attack`]); versioned transforms that wrap a request in an
//! attack strategy ([`strategy`]); the rule-based refusal detector, the LLM
//! judge's harmfulness rubric and its strict verdict parser ([`judge`]); and
//! unsafe rates, the aggregate risk score, the paired base-vs-tuned comparison
//! and the over-refusal rate ([`metrics`], statistics from `cts_eval::stats`).
//!
//! Not here: running a model or a judge, multi-turn escalation, caching, the
//! ledger or the CLI (the runner in `cts-runner` and a `cts redteam` command
//! build on this). The only I/O is reading the attack files a caller names.

pub mod attack;
pub mod judge;
pub mod metrics;
pub mod strategy;

pub use attack::{AttackError, AttackPrompt};
pub use judge::{detect_refusal, parse_verdict, HarmScore, RefusalVerdict, Verdict, VerdictError};
pub use metrics::{compare, summarize, JudgedInstance, Summary, SummaryOptions};
pub use strategy::Strategy;
