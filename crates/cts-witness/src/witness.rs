//! The witness state machine (C2SP `tlog-witness` `add-checkpoint`), pure.
//!
//! Per log origin the witness remembers the latest tree it cosigned. It
//! cosigns a new checkpoint only if the log's key signed it, the client's
//! old size is that remembered size, and a consistency proof leads from the
//! remembered root to the new one. So it never cosigns a rollback (a smaller
//! tree) or a fork (another root at the same size, or a tree the remembered
//! one is not a prefix of).
//!
//! Not here: storing the state (`state.rs`), HTTP (`server.rs`), the clock.

use std::collections::BTreeMap;

use cts_ledger::proof::verify_consistency;
use cts_ledger::{CheckpointError, Hash, LogVerifier, SignedCheckpoint, TreeSize};
use signed_note::Note;

use crate::cosignature::{CosignatureError, Cosigner};
use crate::request::{AddCheckpointRequest, RequestError};

/// The latest tree a witness cosigned for one log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WitnessedTree {
    /// Tree size.
    pub size: TreeSize,
    /// Root hash.
    pub root: Hash,
}

/// Why the witness refuses to cosign; each maps to the HTTP status the spec names.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The body is not a well-formed request (400).
    #[error("malformed request: {0}")]
    Malformed(#[from] RequestError),
    /// The checkpoint is not a signed C2SP checkpoint (400).
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// The witness does not know the log (404).
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// No signature from the log's key verifies (403).
    #[error("checkpoint of {origin} is not signed by its known key: {reason}")]
    NotSigned {
        /// Log origin.
        origin: String,
        /// What failed.
        reason: String,
    },
    /// The old size is above the checkpoint's size (400): the client asks
    /// the witness to roll the log back.
    #[error("old size {old} is above the checkpoint size {size}: refusing a rollback")]
    OldSizeAboveCheckpoint {
        /// Old size in the request.
        old: u64,
        /// Checkpoint size.
        size: u64,
    },
    /// The old size is not the size the witness last cosigned (409, body: that size).
    #[error("old size {old} is not the witnessed size {witnessed}")]
    OldSizeMismatch {
        /// Old size in the request.
        old: u64,
        /// The size the witness last cosigned.
        witnessed: u64,
    },
    /// Same size as the witnessed tree, another root: a fork (409).
    #[error("fork: the log's tree of size {size} has root {witnessed} at the witness but {submitted} in this checkpoint")]
    Fork {
        /// Tree size.
        size: u64,
        /// Root the witness cosigned (base64).
        witnessed: String,
        /// Root in the checkpoint (base64).
        submitted: String,
    },
    /// A proof was sent from the empty tree (400).
    #[error("a consistency proof from size 0 must be empty")]
    ProofFromEmptyTree,
    /// The consistency proof does not verify (422): the new tree does not
    /// extend the witnessed one.
    #[error("consistency proof from size {old} to {size} does not verify: {reason}")]
    Inconsistent {
        /// Old size.
        old: u64,
        /// Checkpoint size.
        size: u64,
        /// What failed.
        reason: String,
    },
    /// Cosigning failed (500).
    #[error("cosigning failed: {0}")]
    Cosign(#[from] CosignatureError),
}

impl Refusal {
    /// The HTTP status C2SP tlog-witness prescribes.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_)
            | Self::MalformedCheckpoint(_)
            | Self::OldSizeAboveCheckpoint { .. }
            | Self::ProofFromEmptyTree => 400,
            Self::NotSigned { .. } => 403,
            Self::UnknownOrigin(_) => 404,
            Self::OldSizeMismatch { .. } | Self::Fork { .. } => 409,
            Self::Inconsistent { .. } => 422,
            Self::Cosign(_) => 500,
        }
    }

    /// Whether the checkpoint was validly signed by the log and still
    /// refused: evidence of log misbehaviour worth keeping in the logs.
    pub fn is_evidence(&self) -> bool {
        matches!(
            self,
            Self::OldSizeAboveCheckpoint { .. } | Self::Fork { .. } | Self::Inconsistent { .. }
        )
    }
}

/// A checkpoint the log's key signed, with the request it came in.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    /// The request.
    pub request: AddCheckpointRequest,
    /// The checkpoint, its signature checked.
    pub checkpoint: SignedCheckpoint,
}

/// A witness: its cosigning key and the logs it follows.
#[derive(Debug)]
pub struct Witness {
    cosigner: Cosigner,
    logs: BTreeMap<String, LogVerifier>,
}

/// Errors configuring a witness.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Two keys for one origin.
    #[error("log {0:?} is configured twice")]
    DuplicateLog(String),
}

fn origin_of(note: &[u8]) -> Result<String, Refusal> {
    let note = Note::from_bytes(note).map_err(|e| Refusal::MalformedCheckpoint(e.to_string()))?;
    let text = note.text();
    let end = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
    String::from_utf8(text[..end].to_vec())
        .map_err(|_| Refusal::MalformedCheckpoint("origin is not UTF-8".into()))
}

impl Witness {
    /// A witness following `logs` (each log's origin is its key name).
    pub fn new(cosigner: Cosigner, logs: Vec<LogVerifier>) -> Result<Self, ConfigError> {
        let mut map = BTreeMap::new();
        for log in logs {
            let origin = log.origin().to_owned();
            if map.insert(origin.clone(), log).is_some() {
                return Err(ConfigError::DuplicateLog(origin));
            }
        }
        Ok(Self {
            cosigner,
            logs: map,
        })
    }

    /// The witness's cosigning key.
    pub fn cosigner(&self) -> &Cosigner {
        &self.cosigner
    }

    /// Origins of the logs this witness follows.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.logs.keys().map(String::as_str)
    }

    /// Parses a request body and checks the checkpoint's signature (400, 403, 404).
    pub fn open(&self, body: &[u8]) -> Result<SignedRequest, Refusal> {
        let request = AddCheckpointRequest::parse(body)?;
        let origin = origin_of(&request.checkpoint)?;
        let log = self
            .logs
            .get(&origin)
            .ok_or_else(|| Refusal::UnknownOrigin(origin.clone()))?;
        let checkpoint = log.open(&request.checkpoint).map_err(|e| match e {
            CheckpointError::BadSignature { reason, .. } => Refusal::NotSigned {
                origin: origin.clone(),
                reason,
            },
            other => Refusal::MalformedCheckpoint(other.to_string()),
        })?;
        if request.old_size > checkpoint.size {
            return Err(Refusal::OldSizeAboveCheckpoint {
                old: request.old_size.0,
                size: checkpoint.size.0,
            });
        }
        Ok(SignedRequest {
            request,
            checkpoint,
        })
    }

    /// Checks a signed request against the latest tree cosigned for its log
    /// (`None`: never) and returns the tree to remember (409, 422).
    pub fn check(
        &self,
        signed: &SignedRequest,
        latest: Option<WitnessedTree>,
    ) -> Result<WitnessedTree, Refusal> {
        let old = signed.request.old_size;
        let cp = &signed.checkpoint;
        let witnessed = latest.map_or(TreeSize(0), |t| t.size);
        if old != witnessed {
            return Err(Refusal::OldSizeMismatch {
                old: old.0,
                witnessed: witnessed.0,
            });
        }
        let new = WitnessedTree {
            size: cp.size,
            root: cp.root,
        };
        let Some(latest) = latest.filter(|t| t.size.0 > 0) else {
            if !signed.request.proof.is_empty() {
                return Err(Refusal::ProofFromEmptyTree);
            }
            return Ok(new);
        };
        if latest.size == cp.size && latest.root != cp.root {
            return Err(Refusal::Fork {
                size: cp.size.0,
                witnessed: cts_ledger::hash_to_base64(&latest.root),
                submitted: cts_ledger::hash_to_base64(&cp.root),
            });
        }
        verify_consistency(
            latest.size,
            cp.size,
            latest.root,
            cp.root,
            &signed.request.proof,
        )
        .map_err(|e| Refusal::Inconsistent {
            old: latest.size.0,
            size: cp.size.0,
            reason: e.to_string(),
        })?;
        Ok(new)
    }

    /// The response body: this witness's cosignature line for the checkpoint at `time`.
    pub fn cosign(&self, signed: &SignedRequest, time: u64) -> Result<Vec<u8>, Refusal> {
        let body = crate::cosignature::note_body(&signed.checkpoint.note)?;
        Ok(self.cosigner.cosign(body, time)?.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cts_ledger::{LogSigner, MemTree};

    struct Log {
        skey: String,
        signer: LogSigner,
        verifier: LogVerifier,
        tree: MemTree,
    }

    impl Log {
        fn new() -> Self {
            let (skey, vkey) = LogSigner::generate("cts.test/log").unwrap();
            Self {
                signer: LogSigner::from_private_key(&skey).unwrap(),
                skey,
                verifier: LogVerifier::new(&vkey).unwrap(),
                tree: MemTree::new(),
            }
        }

        fn grow(&mut self, n: usize) {
            for _ in 0..n {
                let i = self.tree.size().0;
                self.tree
                    .push(cts_ledger::leaf_hash(&i.to_be_bytes()))
                    .unwrap();
            }
        }

        fn request(&self, old: u64) -> Vec<u8> {
            let size = self.tree.size();
            let root = self.tree.root(size).unwrap();
            let proof = if old == 0 {
                vec![]
            } else {
                self.tree.consistency_proof(TreeSize(old), size).unwrap()
            };
            AddCheckpointRequest {
                old_size: TreeSize(old),
                proof,
                checkpoint: self.signer.sign(size, root).unwrap().note,
            }
            .encode()
        }
    }

    fn witness(log: &Log) -> Witness {
        let (skey, _) = Cosigner::generate("witness.test/w1").unwrap();
        Witness::new(
            Cosigner::from_private_key(&skey).unwrap(),
            vec![log.verifier.clone()],
        )
        .unwrap()
    }

    fn submit(
        w: &Witness,
        body: &[u8],
        latest: Option<WitnessedTree>,
    ) -> Result<WitnessedTree, Refusal> {
        let signed = w.open(body)?;
        let t = w.check(&signed, latest)?;
        w.cosign(&signed, 1)?;
        Ok(t)
    }

    #[test]
    fn cosigns_a_growing_log() {
        let mut log = Log::new();
        let w = witness(&log);
        log.grow(3);
        let t = submit(&w, &log.request(0), None).unwrap();
        log.grow(5);
        let t = submit(&w, &log.request(3), Some(t)).unwrap();
        assert_eq!(t.size, TreeSize(8));
        // Resubmitting the same tree is fine.
        assert_eq!(submit(&w, &log.request(8), Some(t)).unwrap(), t);
    }

    #[test]
    fn stale_old_size_gets_a_conflict_naming_the_witnessed_size() {
        let mut log = Log::new();
        let w = witness(&log);
        log.grow(4);
        let t = submit(&w, &log.request(0), None).unwrap();
        log.grow(4);
        let r = submit(&w, &log.request(0), Some(t)).unwrap_err();
        assert!(
            matches!(
                r,
                Refusal::OldSizeMismatch {
                    old: 0,
                    witnessed: 4
                }
            ),
            "{r}"
        );
        assert_eq!(r.status(), 409);
    }

    #[test]
    fn rollback_is_refused() {
        let mut log = Log::new();
        let w = witness(&log);
        log.grow(4);
        let small = log.request(0);
        log.grow(4);
        let t = submit(&w, &log.request(0), None).unwrap();
        // The smaller tree, claiming the witnessed size as old size.
        let mut req = AddCheckpointRequest::parse(&small).unwrap();
        req.old_size = t.size;
        let r = submit(&w, &req.encode(), Some(t)).unwrap_err();
        assert!(
            matches!(r, Refusal::OldSizeAboveCheckpoint { old: 8, size: 4 }),
            "{r}"
        );
        assert!(r.is_evidence());
        // Or claiming its own size: the witness answers with its size.
        let r = submit(&w, &log_request_at(&small, 4), Some(t)).unwrap_err();
        assert!(
            matches!(r, Refusal::OldSizeMismatch { witnessed: 8, .. }),
            "{r}"
        );
    }

    fn log_request_at(body: &[u8], old: u64) -> Vec<u8> {
        let mut req = AddCheckpointRequest::parse(body).unwrap();
        req.old_size = TreeSize(old);
        req.proof.clear();
        req.encode()
    }

    #[test]
    fn fork_at_the_same_size_is_refused() {
        let mut log = Log::new();
        let w = witness(&log);
        log.grow(4);
        let t = submit(&w, &log.request(0), None).unwrap();
        let forged = log.signer.sign(TreeSize(4), Hash([9; 32])).unwrap().note;
        let body = AddCheckpointRequest {
            old_size: TreeSize(4),
            proof: vec![],
            checkpoint: forged,
        }
        .encode();
        let r = submit(&w, &body, Some(t)).unwrap_err();
        assert!(matches!(r, Refusal::Fork { size: 4, .. }), "{r}");
        assert_eq!(r.status(), 409);
    }

    #[test]
    fn fork_that_extends_another_tree_fails_the_proof() {
        let mut log = Log::new();
        let w = witness(&log);
        log.grow(4);
        let t = submit(&w, &log.request(0), None).unwrap();
        // Another history of 6 leaves, signed by the same key.
        let mut other = Log {
            skey: log.skey.clone(),
            signer: LogSigner::from_private_key(&log.skey).unwrap(),
            verifier: log.verifier.clone(),
            tree: MemTree::new(),
        };
        for i in 100u64..106 {
            other
                .tree
                .push(cts_ledger::leaf_hash(&i.to_be_bytes()))
                .unwrap();
        }
        let r = submit(&w, &other.request(4), Some(t)).unwrap_err();
        assert!(
            matches!(
                r,
                Refusal::Inconsistent {
                    old: 4,
                    size: 6,
                    ..
                }
            ),
            "{r}"
        );
        assert_eq!(r.status(), 422);
    }

    #[test]
    fn unknown_log_and_wrong_key_are_refused() {
        let mut log = Log::new();
        let w = witness(&log);
        let mut stranger = Log::new();
        stranger.grow(2);
        let r = submit(&w, &stranger.request(0), None).unwrap_err();
        // Same origin ("cts.test/log"), another key: not signed by the known key.
        assert!(matches!(r, Refusal::NotSigned { .. }), "{r}");
        assert_eq!(r.status(), 403);
        let (skey, _) = LogSigner::generate("cts.test/other").unwrap();
        log.grow(1);
        let cp = LogSigner::from_private_key(&skey)
            .unwrap()
            .sign(TreeSize(1), log.tree.root(TreeSize(1)).unwrap())
            .unwrap();
        let body = AddCheckpointRequest {
            old_size: TreeSize(0),
            proof: vec![],
            checkpoint: cp.note,
        }
        .encode();
        let r = submit(&w, &body, None).unwrap_err();
        assert!(matches!(r, Refusal::UnknownOrigin(_)), "{r}");
        assert_eq!(r.status(), 404);
    }

    #[test]
    fn proof_from_the_empty_tree_is_refused() {
        let mut log = Log::new();
        let w = witness(&log);
        log.grow(2);
        let mut req = AddCheckpointRequest::parse(&log.request(0)).unwrap();
        req.proof.push(Hash([1; 32]));
        let r = submit(&w, &req.encode(), None).unwrap_err();
        assert!(matches!(r, Refusal::ProofFromEmptyTree), "{r}");
    }
}
