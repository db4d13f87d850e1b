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
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The release folder already holds files.
    #[error("{}: exists and is not empty; choose a new folder for the release", .0.display())]
    OutputNotEmpty(std::path::PathBuf),
    /// Part of a release could not be encoded as JSON.
    #[error("{what}: {source}")]
    Encode {
        /// Which part (`manifest`, `provenance`, `entry 12`).
        what: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// A release's own proof of its `dataset.released` event does not verify
    /// against the log's key.
    #[error("release proof does not verify: {0}")]
    ReleaseProof(#[source] cts_ledger::bundle::BundleError),
    /// The release's hash tiles could not be made from the tree.
    #[error("hash tiles: {0}")]
    Tiles(#[source] cts_ledger::export::ExportError),
    /// A commitment named by an example is not 32-byte hex.
    #[error("commitment {commitment}: {reason}")]
    BadCommitment {
        /// The commitment as written.
        commitment: String,
        /// What is wrong with it.
        reason: String,
    },
    /// One of the build's worker threads or tasks stopped or panicked.
    #[error("{0}")]
    Worker(String),
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
