//! Verification of inclusion and consistency proofs.
//!
//! Thin guards around `tlog_tiles::check_record` / `check_tree`: inputs from
//! outside (a bundle, an export, a test vector) are bounds-checked first so
//! that no proof, however malformed, can make the library misbehave.

use crate::{Hash, LeafIndex, TreeSize};

/// Longest proof a tree of 2^64 leaves can need.
pub const MAX_PROOF_HASHES: usize = 64;

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf {leaf} is not in a tree of size {size}")]
    LeafOutOfRange {
        /// Leaf index.
        leaf: u64,
        /// Tree size.
        size: u64,
    },
    /// Sizes that no consistency proof can relate.
    #[error("no consistency proof relates size {from} to size {to}")]
    BadSizes {
        /// Older size.
        from: u64,
        /// Newer size.
        to: u64,
    },
    /// More hashes than any tree needs.
    #[error("proof has {0} hashes; no tree needs more than {MAX_PROOF_HASHES}")]
    TooLong(usize),
    /// The proof does not lead to the expected root.
    #[error("proof does not verify against the root")]
    Mismatch,
}

/// Checks that `leaf_hash` is leaf `leaf` of the tree of `size` leaves with root `root`.
pub fn verify_inclusion(
    leaf: LeafIndex,
    size: TreeSize,
    leaf_hash: Hash,
    proof: &[Hash],
    root: Hash,
) -> Result<(), ProofError> {
    if leaf.0 >= size.0 {
        return Err(ProofError::LeafOutOfRange {
            leaf: leaf.0,
            size: size.0,
        });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooLong(proof.len()));
    }
    tlog_tiles::check_record(&proof.to_vec(), size.0, root, leaf.0, leaf_hash)
        .map_err(|_| ProofError::Mismatch)
}

/// Checks that the tree of `from` leaves with root `from_root` is a prefix of
/// the tree of `to` leaves with root `to_root`.
///
/// As in RFC 9162 §2.1.4.2, equal sizes need an empty proof and equal roots.
/// A check from the empty tree proves nothing and is refused, as
/// transparency-dev's reference verifier does; callers treat an empty
/// earlier tree as trivially consistent.
pub fn verify_consistency(
    from: TreeSize,
    to: TreeSize,
    from_root: Hash,
    to_root: Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if from.0 > to.0 || from.0 == 0 {
        return Err(ProofError::BadSizes {
            from: from.0,
            to: to.0,
        });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooLong(proof.len()));
    }
    tlog_tiles::check_tree(&proof.to_vec(), to.0, to_root, from.0, from_root)
        .map_err(|_| ProofError::Mismatch)
}
