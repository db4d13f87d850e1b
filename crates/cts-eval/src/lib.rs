//! Clinical benchmark evaluation for CTS, the pure part: what a benchmark item
//! is ([`item`]), reading MedQA, MedMCQA, PubMedQA, MMLU-medical and user
//! benchmark files into items ([`load`]), the versioned prompts that put an
//! item to a model ([`template`]), reading the chosen option back out of a
//! model's output ([`extract`]), the statistics a claim about accuracy needs
//! ([`stats`]) and the per-benchmark table ([`summary`]).
//!
//! Not here: running a model, caching, the ledger or the CLI. A runner (the
//! `cts eval` command) loads items with [`load::load`], renders each with a
//! [`template::Template`], sends the prompt to a model, reads the answer with
//! [`extract::extract`], and feeds the per-item outcomes to [`stats`] and
//! [`summary`]. The only I/O is reading the benchmark files a caller names.

pub mod extract;
pub mod healthbench;
pub mod item;
pub mod load;
pub mod stats;
pub mod summary;
pub mod template;

pub use extract::{decision, extract, is_correct, Extraction, Rule};
pub use item::{BenchItem, BenchmarkKind};
pub use load::{load, BenchmarkSpec, LoadError, LoadedBenchmark};
pub use template::{Template, TemplateId};
