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
    /// A release folder that fails offline verification (`cts verify`).
    #[error("release {release} ({dir}) does not verify, refusing to train on it: {reason}")]
    ReleaseUnverified {
        /// The release as given.
        release: String,
        /// Its folder.
        dir: String,
        /// What failed.
        reason: String,
    },
    /// A release without the method's training split.
    #[error("release {release} has no {file} (build the release with the {method} format)")]
    MissingExport {
        /// The release as given.
        release: String,
        /// The file looked for.
        file: String,
        /// The method.
        method: Method,
    },
    /// A base model file that does not exist or is not GGUF.
    #[error("base model {path}: {reason}")]
    MissingBaseModel {
        /// The path given.
        path: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Creating the managed Python environment failed.
    #[error("training environment {env}: {step} failed: {reason}")]
    Environment {
        /// The environment folder.
        env: String,
        /// The step (venv, pip install, converter download, …).
        step: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The trainer exited unsuccessfully; nothing was recorded.
    #[error("the trainer failed ({status}); nothing was recorded. Log: {log}\n{tail}")]
    TrainerFailed {
        /// Exit status.
        status: String,
        /// The full log file.
        log: String,
        /// Its last lines.
        tail: String,
    },
}
