//! Training on CTS dataset releases with an existing trainer (TRL).
//!
//! CTS does not train: it drives TRL reproducibly and records what it
//! consumed. This crate is the pure part of that: the typed, pinned trainer
//! configuration and its digest (`config.rs`), the Python runner script CTS
//! writes beside it (`runner.rs`), the pinned managed environment
//! (`env.rs`), the progress lines the runner prints and their parser
//! (`progress.rs`), and the `accelerate launch` command and config for a
//! multi-GPU machine (`launcher.rs`).
//!
//! It is not: a process runner, a file writer or a ledger client. The `cts
//! train` command creates the environment, runs the script, shows progress
//! and ledgers `training.recorded`.

pub mod config;
pub mod env;
pub mod launcher;
pub mod progress;
pub mod runner;

pub use config::{Hyperparameters, LoraConfig, Method, TrainerConfig};
pub use progress::{parse_line, ProgressEvent};

/// Errors of this crate, each naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A method that is not `sft`, `dpo` or `kto`.
    #[error("unknown training method {given:?}: use sft, dpo or kto")]
    UnknownMethod {
        /// What was given.
        given: String,
    },
    /// A launcher that is not `local` or `accelerate`.
    #[error("unknown launcher {given:?}: use local or accelerate")]
    UnknownLauncher {
        /// What was given.
        given: String,
    },
    /// A `--config` file that does not parse as hyperparameters.
    #[error("{path}: not a trainer configuration: {reason}")]
    BadConfig {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A hyperparameter out of range.
    #[error("trainer configuration: {field} {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}
