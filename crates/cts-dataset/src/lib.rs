//! Alignment dataset releases from clinician reviews.
//!
//! A [`spec::Spec`] says which reviewed traces qualify, how cases split
//! and which trainer formats to write; [`build::build`] streams the
//! reviewed state of the ledger at a signed checkpoint and writes the
//! release: one JSONL file per export and split, a provenance file beside
//! each (the events behind every example), offline evidence (the signed
//! checkpoint, level-0 hash tiles and the entries named) and
//! `manifest.json`. [`verify`] checks a release offline with nothing but
//! the verifier key, or against the store.
//!
//! Not here: reading the store (`cts-store::datasets`), the CLI (`cts`).

pub mod build;
pub mod derive;
pub mod lineage;
pub mod manifest;
pub mod policy;
pub mod spec;
pub mod split;
pub mod verify;

pub use spec::{Spec, SpecError};

/// Why building or verifying a release failed.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The spec is malformed.
    #[error("{0}")]
    Spec(#[from] SpecError),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] cts_store::StoreError),
    /// Reading or writing files failed.
    #[error("{0}")]
    Io(String),
    /// A request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The spec selects nothing.
    #[error("empty release: {0}")]
    Empty(String),
    /// Stored content or rows disagree with the ledger.
    #[error("the store was altered: {0}")]
    Tampered(String),
    /// An example's provenance does not verify.
    #[error("example {example} ({file} line {line}): {reason}")]
    Provenance {
        /// Example id.
        example: String,
        /// File.
        file: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The release as a whole does not verify.
    #[error("{0}")]
    Verify(String),
}
