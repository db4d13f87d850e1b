//! C2SP `tlog-proof@v1` bundles: an offline-verifiable proof that an entry
//! is in the log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64 of the entry>      (CTS puts the entry itself here)
//! index <leaf index>
//! <base64 inclusion-proof hash>    (zero or more lines)
//!
//! <signed checkpoint note>
//! ```

use base64::Engine;

use crate::checkpoint::{CheckpointError, LogVerifier, SignedCheckpoint};
use crate::proof::{verify_inclusion, ProofError, MAX_PROOF_HASHES};
use crate::{hash_from_base64, hash_to_base64, leaf_hash, Hash, LeafIndex};

const HEADER: &str = "c2sp.org/tlog-proof@v1";
const MAX_BUNDLE_BYTES: usize = 1 << 20;

/// A parsed `tlog-proof@v1` bundle.
#[derive(Clone, Debug, PartialEq)]
pub struct ProofBundle {
    /// Application data; in CTS, the entry bytes.
    pub extra: Option<Vec<u8>>,
    /// Leaf index of the entry.
    pub index: LeafIndex,
    /// Inclusion proof hashes.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note the proof is against.
    pub checkpoint: Vec<u8>,
}

/// Why a bundle was rejected.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The text is not a well-formed bundle.
    #[error("malformed tlog-proof (line {line}): {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint does not verify.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof does not verify.
    #[error("inclusion proof for leaf {index}: {source}")]
    Proof {
        /// Leaf index.
        index: u64,
        /// Why.
        source: ProofError,
    },
    /// No entry given and none in `extra`.
    #[error("the bundle carries no entry (no extra line) and none was given")]
    NoEntry,
}

fn malformed(line: usize, reason: impl Into<String>) -> BundleError {
    BundleError::Malformed {
        line,
        reason: reason.into(),
    }
}

impl ProofBundle {
    /// Encodes the bundle.
    pub fn to_text(&self) -> Vec<u8> {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!(
                "extra {}\n",
                base64::engine::general_purpose::STANDARD.encode(extra)
            ));
        }
        out.push_str(&format!("index {}\n", self.index.0));
        for h in &self.proof {
            out.push_str(&hash_to_base64(h));
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }

    /// Parses a bundle strictly.
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(malformed(
                0,
                format!("larger than {MAX_BUNDLE_BYTES} bytes"),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| malformed(0, "not UTF-8"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| malformed(0, "no blank line before the checkpoint"))?;
        let mut lines = head.split('\n').enumerate().map(|(i, l)| (i + 1, l));
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(malformed(1, format!("first line must be {HEADER:?}"))),
        }
        let (mut n, mut line) = lines
            .next()
            .ok_or_else(|| malformed(2, "missing index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            let data = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| malformed(n, "extra is not standard base64"))?;
            extra = Some(data);
            (n, line) = lines
                .next()
                .ok_or_else(|| malformed(n + 1, "missing index line"))?;
        }
        let digits = line
            .strip_prefix("index ")
            .ok_or_else(|| malformed(n, "expected \"index N\""))?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        let index = digits
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| malformed(n, "index is not a decimal number without leading zeros"))?;
        let mut proof = Vec::new();
        for (n, line) in lines {
            if proof.len() == MAX_PROOF_HASHES {
                return Err(malformed(n, "too many proof hashes"));
            }
            proof.push(
                hash_from_base64(line).ok_or_else(|| malformed(n, "not a base64 SHA-256 hash"))?,
            );
        }
        Ok(Self {
            extra,
            index: LeafIndex(index),
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Verifies the checkpoint's signature and the entry's inclusion under it.
    ///
    /// `entry` overrides the bundle's `extra`; one of the two must be present.
    pub fn verify(
        &self,
        verifier: &LogVerifier,
        entry: Option<&[u8]>,
    ) -> Result<VerifiedEntry, BundleError> {
        let checkpoint = verifier.open(&self.checkpoint)?;
        let entry = entry
            .or(self.extra.as_deref())
            .ok_or(BundleError::NoEntry)?;
        verify_inclusion(
            self.index,
            checkpoint.size,
            leaf_hash(entry),
            &self.proof,
            checkpoint.root,
        )
        .map_err(|source| BundleError::Proof {
            index: self.index.0,
            source,
        })?;
        Ok(VerifiedEntry {
            index: self.index,
            entry: entry.to_vec(),
            checkpoint,
        })
    }
}

/// An entry proven to be in a log under a verified checkpoint.
#[derive(Clone, Debug)]
pub struct VerifiedEntry {
    /// Leaf index.
    pub index: LeafIndex,
    /// Entry bytes.
    pub entry: Vec<u8>,
    /// The verified checkpoint.
    pub checkpoint: SignedCheckpoint,
}
