//! Pure core of the CTS transparency log.
//!
//! Bytes in, bytes out: event envelopes and their canonical encoding, salted
//! content commitments, the RFC 9162 Merkle tree (through `tlog_tiles`), C2SP
//! signed checkpoints (through `signed_note`), inclusion and consistency
//! proofs, `tlog-proof@v1` bundles and C2SP tile paths and entry bundles.
//!
//! This crate knows nothing about files, databases or the network; the
//! storage crate (`cts-store`) and the CLI sit around it.

pub mod bundle;
pub mod checkpoint;
pub mod commitment;
pub mod event;
pub mod export;
pub mod proof;
pub mod tile;
pub mod tree;

pub use checkpoint::{CheckpointError, LogSigner, LogVerifier, SignedCheckpoint};
pub use commitment::{hex32, Commitment, Opening, Salt};
pub use event::{Event, EventDraft, EventError, EventKind, PreparedEvent};
pub use tlog_tiles::Hash;
pub use tree::MemTree;

/// Position of an entry in the log, counted from zero.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct LeafIndex(pub u64);

/// Number of entries in a tree.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TreeSize(pub u64);

impl std::fmt::Display for LeafIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for TreeSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// RFC 9162 leaf hash of an entry: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// Standard base64 of a hash, as used in checkpoints and proofs.
pub fn hash_to_base64(h: &Hash) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(h.0)
}

/// Parses a standard-base64 hash.
pub fn hash_from_base64(s: &str) -> Option<Hash> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    let arr: [u8; 32] = bytes.try_into().ok()?;
    Some(Hash(arr))
}
