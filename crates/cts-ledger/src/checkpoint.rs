//! C2SP `tlog-checkpoint` checkpoints signed as C2SP `signed-note`s with Ed25519.
//!
//! The log's key name is its origin (the first checkpoint line), so a
//! verifier key `origin+keyid+base64` is all an auditor needs.

use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::Checkpoint;

use crate::{Hash, TreeSize};

/// Errors making or opening checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The origin cannot be a signed-note key name.
    #[error("log origin {0:?} must be non-empty and contain no spaces or '+'")]
    BadOrigin(String),
    /// The private key text is malformed.
    #[error("malformed log signing key")]
    BadSigningKey,
    /// The verifier key text is malformed.
    #[error("malformed verifier key (expected name+keyid+base64)")]
    BadVerifierKey,
    /// The note is not a well-formed signed note.
    #[error("not a signed note: {0}")]
    MalformedNote(String),
    /// The note is not signed by the expected key, or the signature is bad.
    #[error("checkpoint signature does not verify with key {key}: {reason}")]
    BadSignature {
        /// Key name+id expected.
        key: String,
        /// What failed.
        reason: String,
    },
    /// The signed text is not a C2SP checkpoint.
    #[error("signed text is not a C2SP checkpoint")]
    MalformedCheckpoint,
    /// The checkpoint is for another log.
    #[error("checkpoint origin {found:?} is not this log's origin {expected:?}")]
    WrongOrigin {
        /// Origin the verifier expects.
        expected: String,
        /// Origin in the checkpoint.
        found: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A checkpoint with its signed-note bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedCheckpoint {
    /// The log's origin.
    pub origin: String,
    /// Tree size.
    pub size: TreeSize,
    /// Root hash.
    pub root: Hash,
    /// The whole signed note, as served at `/checkpoint`.
    pub note: Vec<u8>,
}

fn valid_origin(origin: &str) -> bool {
    signed_note::is_key_name_valid(origin)
}

/// The log's signing key.
pub struct LogSigner {
    signer: StandardSigner,
    origin: String,
    verifier: LogVerifier,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl LogSigner {
    /// Generates a fresh key for `origin`: (private key text, verifier key text).
    pub fn generate(origin: &str) -> Result<(String, String), CheckpointError> {
        if !valid_origin(origin) {
            return Err(CheckpointError::BadOrigin(origin.into()));
        }
        Ok(signed_note::generate_key(&mut rand_core::OsRng, origin))
    }

    /// Loads a private key text (`PRIVATE+KEY+origin+id+base64`).
    pub fn from_private_key(skey: &str) -> Result<Self, CheckpointError> {
        let skey = skey.trim();
        let signer = StandardSigner::new(skey).map_err(|_| CheckpointError::BadSigningKey)?;
        let origin = signed_note::Signer::name(&signer).to_owned();
        let verifier = LogVerifier::new(&verifier_key_of(skey, &origin)?)?;
        Ok(Self {
            signer,
            origin,
            verifier,
        })
    }

    /// The verifier of this key: what the signer checks earlier checkpoints
    /// with before it signs a new one (never an unsigned database column).
    pub fn verifier(&self) -> &LogVerifier {
        &self.verifier
    }

    /// The origin this key signs for.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Signs a checkpoint for a tree.
    pub fn sign(&self, size: TreeSize, root: Hash) -> Result<SignedCheckpoint, CheckpointError> {
        let cp = Checkpoint::new(&self.origin, size.0, root, "")
            .map_err(|_| CheckpointError::BadOrigin(self.origin.clone()))?;
        let mut note = Note::new(&cp.to_bytes(), &[])
            .map_err(|e| CheckpointError::MalformedNote(e.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| CheckpointError::Sign(e.to_string()))?;
        Ok(SignedCheckpoint {
            origin: self.origin.clone(),
            size,
            root,
            note: note.to_bytes(),
        })
    }
}

/// The verifier key text of a private key text `PRIVATE+KEY+name+id+base64(alg||seed)`
/// (already validated by `StandardSigner::new`, which checks the id).
fn verifier_key_of(skey: &str, name: &str) -> Result<String, CheckpointError> {
    use base64::Engine;
    // The base64 key may itself contain '+': it is everything after the fourth.
    let encoded = skey
        .splitn(5, '+')
        .nth(4)
        .ok_or(CheckpointError::BadSigningKey)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| CheckpointError::BadSigningKey)?;
    let seed: [u8; 32] = bytes
        .get(1..)
        .and_then(|s| s.try_into().ok())
        .ok_or(CheckpointError::BadSigningKey)?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    Ok(signed_note::new_ed25519_verifier_key(
        name,
        &key.verifying_key(),
    ))
}

/// Verifies checkpoints with the log's public key and nothing else.
#[derive(Clone, Debug)]
pub struct LogVerifier {
    vkey: String,
    origin: String,
}

impl LogVerifier {
    /// Parses a verifier key text (`origin+keyid+base64`).
    pub fn new(vkey: &str) -> Result<Self, CheckpointError> {
        let vkey = vkey.trim();
        let v = StandardVerifier::new(vkey).map_err(|_| CheckpointError::BadVerifierKey)?;
        let origin = signed_note::Verifier::name(&v).to_owned();
        Ok(Self {
            vkey: vkey.to_owned(),
            origin,
        })
    }

    /// The origin (key name) this key verifies.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key text.
    pub fn key_text(&self) -> &str {
        &self.vkey
    }

    /// Checks the signature and origin of a signed checkpoint note and parses it.
    pub fn open(&self, note_bytes: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        let note = Note::from_bytes(note_bytes)
            .map_err(|e| CheckpointError::MalformedNote(e.to_string()))?;
        let verifier =
            StandardVerifier::new(&self.vkey).map_err(|_| CheckpointError::BadVerifierKey)?;
        let list = VerifierList::new(vec![Box::new(verifier)]);
        note.verify(&list)
            .map_err(|e| CheckpointError::BadSignature {
                key: self.vkey.split('+').take(2).collect::<Vec<_>>().join("+"),
                reason: e.to_string(),
            })?;
        let cp = Checkpoint::from_bytes(note.text())
            .map_err(|_| CheckpointError::MalformedCheckpoint)?;
        if cp.origin() != self.origin {
            return Err(CheckpointError::WrongOrigin {
                expected: self.origin.clone(),
                found: cp.origin().to_owned(),
            });
        }
        Ok(SignedCheckpoint {
            origin: cp.origin().to_owned(),
            size: TreeSize(cp.size()),
            root: *cp.hash(),
            note: note_bytes.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_checkpoint_opens_with_its_key_only() {
        let (skey, vkey) = LogSigner::generate("cts.test/log").unwrap();
        let signer = LogSigner::from_private_key(&skey).unwrap();
        let cp = signer.sign(TreeSize(3), Hash([9; 32])).unwrap();
        let text = String::from_utf8(cp.note.clone()).unwrap();
        assert!(text.starts_with("cts.test/log\n3\nCQkJ"), "{text}");
        assert!(text.contains("\n\n\u{2014} cts.test/log "), "{text}");
        let opened = LogVerifier::new(&vkey).unwrap().open(&cp.note).unwrap();
        assert_eq!(opened, cp);

        let (_, other) = LogSigner::generate("cts.test/log").unwrap();
        assert!(LogVerifier::new(&other).unwrap().open(&cp.note).is_err());
    }

    #[test]
    fn signer_derives_its_own_verifier_key() {
        // Many keys, so that some base64 texts contain '+'.
        for _ in 0..64 {
            let (skey, vkey) = LogSigner::generate("cts.test/log").unwrap();
            let signer = LogSigner::from_private_key(&skey).unwrap();
            assert_eq!(signer.verifier().key_text(), vkey);
            let cp = signer.sign(TreeSize(1), Hash([1; 32])).unwrap();
            assert_eq!(signer.verifier().open(&cp.note).unwrap(), cp);
        }
    }

    #[test]
    fn altered_checkpoint_is_rejected() {
        let (skey, vkey) = LogSigner::generate("cts.test/log").unwrap();
        let cp = LogSigner::from_private_key(&skey)
            .unwrap()
            .sign(TreeSize(3), Hash([9; 32]))
            .unwrap();
        let altered = String::from_utf8(cp.note)
            .unwrap()
            .replacen("\n3\n", "\n4\n", 1);
        assert!(matches!(
            LogVerifier::new(&vkey).unwrap().open(altered.as_bytes()),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn origin_with_space_is_refused() {
        assert!(matches!(
            LogSigner::generate("my log"),
            Err(CheckpointError::BadOrigin(_))
        ));
    }
}
