//! `manifest.json`: what a release holds and what it was built from.
//!
//! Deterministic: no clock, no build id, no paths outside the release, so
//! the same ledger state and spec give the same manifest byte for byte.

use serde::{Deserialize, Serialize};

use crate::derive::Tally;
use crate::spec::Spec;

/// Format tag of the manifest.
pub const MANIFEST_FORMAT: &str = "cts-dataset-release/1";

/// The manifest.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Release name (from the spec).
    pub name: String,
    /// The spec, as parsed (defaults filled in).
    pub spec: Spec,
    /// The signed checkpoint the release was built at.
    pub checkpoint: CheckpointInfo,
    /// Examples in all files.
    pub examples: u64,
    /// Export files, by export then split.
    pub files: Vec<FileEntry>,
    /// Offline evidence.
    pub evidence: EvidenceInfo,
    /// Traces read, qualified and left out (with reasons).
    pub tally: Tally,
}

/// The manifest as read back (the spec kept as JSON).
#[derive(Clone, Debug, Deserialize)]
pub struct ManifestIn {
    /// Format tag.
    pub format: String,
    /// Release name.
    pub name: String,
    /// The spec, as JSON.
    pub spec: serde_json::Value,
    /// Checkpoint.
    pub checkpoint: CheckpointInfo,
    /// Example count.
    pub examples: u64,
    /// Files.
    pub files: Vec<FileEntry>,
    /// Evidence.
    pub evidence: EvidenceInfo,
}

/// A checkpoint in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash, base64.
    pub root: String,
    /// The signed note.
    pub note: String,
}

/// One export file and its provenance file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path in the release, e.g. `sft/train.jsonl`.
    pub path: String,
    /// Export.
    pub export: String,
    /// Split.
    pub split: String,
    /// Lines.
    pub examples: u64,
    /// Bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// Its provenance file (line N describes line N).
    pub provenance: String,
    /// SHA-256 of the provenance file, hex.
    pub provenance_sha256: String,
}

/// Where the offline evidence is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceInfo {
    /// Signed checkpoint file.
    pub checkpoint: String,
    /// Verifier key (a copy: auditors should use the key they trust).
    pub verifier_key: String,
    /// Level-0 hash tiles written (C2SP paths under `evidence/`).
    pub tiles: u64,
    /// Entries of every leaf an example names.
    pub entries: String,
    /// SHA-256 of the entries file.
    pub entries_sha256: String,
    /// How many entries.
    pub leaves: u64,
}
