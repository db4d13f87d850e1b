//! C2SP `tlog-cosignature` v1: Ed25519 cosignatures (signature type 0x04)
//! over checkpoints, their keys and how to read them from a note.
//!
//! The signed message is `cosignature/v1\ntime <T>\n` followed by the whole
//! checkpoint body; the note signature is the 8-byte big-endian `T`
//! followed by the 64-byte Ed25519 signature. The key ID hashes the name,
//! a newline, the type byte 0x04 and the public key, so a cosignature can
//! never be taken for a log signature made with the same key (type 0x01).
//!
//! Not here: what a witness checks before it cosigns (`witness.rs`), and
//! quorum policies (`policy.rs`). No I/O.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use cts_ledger::{CheckpointError, LogVerifier, SignedCheckpoint};
use ed25519_dalek::{Signature as EdSignature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use signed_note::{Note, Signature, VerifierList};

/// Signature type byte of Ed25519 `cosignature/v1` keys (C2SP signed-note).
pub const COSIGNATURE_V1_TYPE: u8 = 0x04;

/// Length of a cosignature's signature bytes: timestamp and Ed25519 signature.
pub const COSIGNATURE_V1_LEN: usize = 8 + 64;

/// Errors making, reading or checking cosignatures.
#[derive(Debug, thiserror::Error)]
pub enum CosignatureError {
    /// The witness name cannot be a signed-note key name.
    #[error("witness name {0:?} must be non-empty and contain no spaces or '+'")]
    BadName(String),
    /// The private key text is malformed.
    #[error("malformed witness signing key: {reason}")]
    BadSigningKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The verifier key text is malformed.
    #[error("malformed witness verifier key {key:?}: {reason}")]
    BadVerifierKey {
        /// The key text as given (public).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The text to cosign is not a C2SP checkpoint.
    #[error("the text to cosign is not a C2SP checkpoint")]
    NotACheckpoint,
    /// The timestamp is beyond 2^63 - 1.
    #[error("cosignature time {0} is beyond 2^63 - 1")]
    TimeOutOfRange(u64),
    /// The note or the signature lines are malformed.
    #[error("malformed note or signature lines: {0}")]
    MalformedNote(String),
    /// The log's own signature does not hold.
    #[error(transparent)]
    Log(#[from] CheckpointError),
    /// A signature line from a known witness key does not verify.
    #[error("the cosignature of witness {witness} (key {key_id:08x}) does not verify")]
    BadCosignature {
        /// Witness name.
        witness: String,
        /// Key ID in the signature line.
        key_id: u32,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Key ID of an Ed25519 cosignature key: SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4].
pub fn cosignature_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([COSIGNATURE_V1_TYPE]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The message a `cosignature/v1` signs: header, time line and the checkpoint body.
///
/// The body must be a C2SP checkpoint (extension lines are allowed and signed).
pub fn signed_message(time: u64, checkpoint_body: &[u8]) -> Result<Vec<u8>, CosignatureError> {
    if time > i64::MAX as u64 {
        return Err(CosignatureError::TimeOutOfRange(time));
    }
    tlog_tiles::Checkpoint::from_bytes(checkpoint_body)
        .map_err(|_| CosignatureError::NotACheckpoint)?;
    let mut m = format!("cosignature/v1\ntime {time}\n").into_bytes();
    m.extend_from_slice(checkpoint_body);
    Ok(m)
}

/// The time of a cosignature (seconds since the Unix epoch), from its signature bytes.
pub fn cosignature_time(signature: &[u8]) -> Option<u64> {
    if signature.len() != COSIGNATURE_V1_LEN {
        return None;
    }
    let t = u64::from_be_bytes(signature[..8].try_into().ok()?);
    (t <= i64::MAX as u64).then_some(t)
}

fn valid_name(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

/// A witness's cosigning key.
pub struct Cosigner {
    name: String,
    key: SigningKey,
    key_id: u32,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// Generates a fresh key: (private key text, verifier key text).
    ///
    /// The private key is `PRIVATE+KEY+<name>+<id>+base64(0x04 ‖ seed)`, as
    /// Go's `transparency-dev/formats` writes cosigner keys; the verifier key
    /// is the C2SP vkey `<name>+<id>+base64(0x04 ‖ public key)`.
    pub fn generate(name: &str) -> Result<(String, String), CosignatureError> {
        if !valid_name(name) {
            return Err(CosignatureError::BadName(name.into()));
        }
        let mut seed = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
        let c = Self::from_seed(name, seed)?;
        Ok((c.private_key_text(), c.verifier_key()))
    }

    fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, CosignatureError> {
        if !valid_name(name) {
            return Err(CosignatureError::BadName(name.into()));
        }
        let key = SigningKey::from_bytes(&seed);
        let key_id = cosignature_key_id(name, key.verifying_key().as_bytes());
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    fn private_key_text(&self) -> String {
        let mut k = vec![COSIGNATURE_V1_TYPE];
        k.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(k)
        )
    }

    /// Loads a private key text (`PRIVATE+KEY+name+id+base64(0x04 ‖ seed)`).
    pub fn from_private_key(text: &str) -> Result<Self, CosignatureError> {
        let bad = |reason| CosignatureError::BadSigningKey { reason };
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(bad("it does not start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected PRIVATE+KEY+name+id+key"));
        };
        if id.len() != 8 {
            return Err(bad("the key ID is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("the key ID is not hex"))?;
        let raw = BASE64
            .decode(b64)
            .map_err(|_| bad("the key is not base64"))?;
        let (&ty, seed) = raw.split_first().ok_or(bad("the key is empty"))?;
        if ty != COSIGNATURE_V1_TYPE {
            return Err(bad("not a cosignature/v1 key (type byte is not 0x04)"));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| bad("the Ed25519 seed is not 32 bytes"))?;
        let c = Self::from_seed(name, seed)?;
        if c.key_id != id {
            return Err(bad("the key ID does not match the name and key"));
        }
        Ok(c)
    }

    /// The witness name (the key name in signature lines).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The C2SP verifier key text (`name+id+base64(0x04 ‖ public key)`).
    pub fn verifier_key(&self) -> String {
        let mut k = vec![COSIGNATURE_V1_TYPE];
        k.extend_from_slice(self.key.verifying_key().as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(k))
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// Cosigns a checkpoint body (the note text, without signature lines) at `time`.
    pub fn cosign(&self, checkpoint_body: &[u8], time: u64) -> Result<Signature, CosignatureError> {
        let msg = signed_message(time, checkpoint_body)?;
        let sig = self.key.sign(&msg);
        let mut bytes = Vec::with_capacity(COSIGNATURE_V1_LEN);
        bytes.extend_from_slice(&time.to_be_bytes());
        bytes.extend_from_slice(&sig.to_bytes());
        Signature::new(self.name.clone(), self.key_id, bytes)
            .map_err(|e| CosignatureError::Sign(e.to_string()))
    }
}

/// Verifies `cosignature/v1` signatures of one witness key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key: VerifyingKey,
    key_id: u32,
}

impl CosignatureVerifier {
    /// Parses a C2SP verifier key of type 0x04 (`name+id+base64(0x04 ‖ public key)`).
    pub fn new(vkey: &str) -> Result<Self, CosignatureError> {
        let vkey = vkey.trim();
        let bad = |reason| CosignatureError::BadVerifierKey {
            key: vkey.to_owned(),
            reason,
        };
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name+id+key"));
        };
        if !valid_name(name) {
            return Err(bad("the name is empty or has spaces or '+'"));
        }
        if id.len() != 8 {
            return Err(bad("the key ID is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("the key ID is not hex"))?;
        let raw = BASE64
            .decode(b64)
            .map_err(|_| bad("the key is not base64"))?;
        let (&ty, key) = raw.split_first().ok_or(bad("the key is empty"))?;
        if ty != COSIGNATURE_V1_TYPE {
            return Err(bad(
                "not a cosignature/v1 key (type byte is not 0x04; a log key has 0x01)",
            ));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("the Ed25519 key is not 32 bytes"))?;
        if cosignature_key_id(name, &key) != id {
            return Err(bad("the key ID does not match the name and key"));
        }
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 point"))?;
        Ok(Self {
            name: name.to_owned(),
            key,
            key_id: id,
        })
    }

    /// The witness name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The C2SP verifier key text.
    pub fn key_text(&self) -> String {
        let mut k = vec![COSIGNATURE_V1_TYPE];
        k.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, BASE64.encode(k))
    }
}

impl signed_note::Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some(time) = cosignature_time(sig) else {
            return false;
        };
        let Ok(m) = signed_message(time, msg) else {
            return false;
        };
        let Ok(s) = EdSignature::from_slice(&sig[8..]) else {
            return false;
        };
        self.key.verify_strict(&m, &s).is_ok()
    }
}

/// One verified cosignature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cosignature {
    /// Witness name.
    pub witness: String,
    /// Key ID, 8 hex digits.
    pub key_id: String,
    /// When the witness cosigned, seconds since the Unix epoch.
    pub time: u64,
}

/// A checkpoint opened with the log's key, with the cosignatures that verified.
#[derive(Clone, Debug, PartialEq)]
pub struct CosignedCheckpoint {
    /// The checkpoint, its log signature checked.
    pub checkpoint: SignedCheckpoint,
    /// Cosignatures from the given witness keys, one per key, in note order.
    pub cosignatures: Vec<Cosignature>,
}

/// Opens a checkpoint note: checks the log's signature and origin, then
/// every signature line from one of `witnesses`.
///
/// Lines from other keys are ignored; a line from a given witness key that
/// does not verify is an error (someone altered the note).
pub fn open_cosigned(
    note_bytes: &[u8],
    log: &LogVerifier,
    witnesses: &[CosignatureVerifier],
) -> Result<CosignedCheckpoint, CosignatureError> {
    let checkpoint = log.open(note_bytes)?;
    let note =
        Note::from_bytes(note_bytes).map_err(|e| CosignatureError::MalformedNote(e.to_string()))?;
    let list = VerifierList::new(
        witnesses
            .iter()
            .map(|w| Box::new(w.clone()) as Box<dyn signed_note::Verifier>)
            .collect(),
    );
    let verified = match note.verify(&list) {
        Ok((verified, _)) => verified,
        Err(signed_note::NoteError::UnverifiedNote) => Vec::new(),
        Err(signed_note::NoteError::InvalidSignature { name, id }) => {
            return Err(CosignatureError::BadCosignature {
                witness: name,
                key_id: id,
            })
        }
        Err(e) => return Err(CosignatureError::MalformedNote(e.to_string())),
    };
    let cosignatures = verified
        .iter()
        .filter_map(|s| {
            Some(Cosignature {
                witness: s.name().to_owned(),
                key_id: format!("{:08x}", s.id()),
                time: cosignature_time(s.signature())?,
            })
        })
        .collect();
    Ok(CosignedCheckpoint {
        checkpoint,
        cosignatures,
    })
}

/// Splits a note into its body (with the final newline) and signature lines.
fn split_note(note: &[u8]) -> Result<(&[u8], Vec<&[u8]>), CosignatureError> {
    let malformed = || CosignatureError::MalformedNote("no blank line before signatures".into());
    let at = note
        .windows(2)
        .rposition(|w| w == b"\n\n")
        .ok_or_else(malformed)?;
    let sigs = &note[at + 2..];
    let sigs = sigs.strip_suffix(b"\n").ok_or_else(malformed)?;
    Ok((&note[..=at], sigs.split(|&b| b == b'\n').collect()))
}

/// Adds signature lines (as a witness answers them) to a signed note.
///
/// A line from a key that already signed the note replaces that key's line;
/// the result must still parse as a signed note.
pub fn add_signature_lines(note: &[u8], lines: &[u8]) -> Result<Vec<u8>, CosignatureError> {
    let malformed = |e: signed_note::NoteError| CosignatureError::MalformedNote(e.to_string());
    let (body, existing) = split_note(note)?;
    let mut added = Vec::new();
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        added.push(Signature::from_bytes(line).map_err(malformed)?);
    }
    let mut out = body.to_vec();
    out.push(b'\n');
    for line in existing {
        let sig = Signature::from_bytes(line).map_err(malformed)?;
        if !added
            .iter()
            .any(|a| a.name() == sig.name() && a.id() == sig.id())
        {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    for sig in &added {
        out.extend_from_slice(&sig.to_bytes());
    }
    Note::from_bytes(&out).map_err(malformed)?;
    Ok(out)
}

/// The body of a signed note (its text with the final newline, no signature lines).
pub fn note_body(note: &[u8]) -> Result<&[u8], CosignatureError> {
    Ok(split_note(note)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cts_ledger::{Hash, LogSigner, TreeSize};

    /// A third-party vector: keys, checkpoint and cosignature line produced
    /// by Go's `github.com/transparency-dev/formats` v0.1.1
    /// (`note.NewSignerForCosignatureV1`) with `golang.org/x/mod/sumdb/note`
    /// for the log signature, from fixed seeds. See `testdata/README.md`.
    const VECTOR: &str = include_str!("../testdata/cosignature-v1.txt");

    fn vector(field: &str) -> String {
        VECTOR
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}: ")))
            .unwrap_or_else(|| panic!("testdata/cosignature-v1.txt has no {field}"))
            .replace("\\n", "\n")
    }

    #[test]
    fn reproduces_the_reference_cosignature_byte_for_byte() {
        let c = Cosigner::from_private_key(&vector("witness-skey")).unwrap();
        assert_eq!(c.verifier_key(), vector("witness-vkey"));
        let time: u64 = vector("time").parse().unwrap();
        let sig = c.cosign(vector("text").as_bytes(), time).unwrap();
        assert_eq!(
            String::from_utf8(sig.to_bytes()).unwrap(),
            vector("witness-line")
        );
    }

    #[test]
    fn reference_note_opens_with_log_and_witness_keys() {
        let note = format!(
            "{}\n{}{}",
            vector("text"),
            vector("log-line"),
            vector("witness-line")
        );
        let log = LogVerifier::new(&vector("log-vkey")).unwrap();
        let w = CosignatureVerifier::new(&vector("witness-vkey")).unwrap();
        let opened = open_cosigned(note.as_bytes(), &log, &[w]).unwrap();
        assert_eq!(opened.checkpoint.size, TreeSize(1234));
        assert_eq!(
            opened.cosignatures,
            vec![Cosignature {
                witness: "witness.example.com/vector".into(),
                key_id: "416f103d".into(),
                time: vector("time").parse().unwrap(),
            }]
        );
    }

    #[test]
    fn key_id_commits_to_the_cosignature_type() {
        let w = CosignatureVerifier::new(&vector("witness-vkey")).unwrap();
        assert_eq!(w.key_id(), 0x416f_103d);
        let key = w.key.to_bytes();
        assert_ne!(
            signed_note::key_id(w.name(), &[&[1u8][..], &key].concat()),
            w.key_id()
        );
        // A log key (type 0x01) is not accepted as a witness key, nor the reverse.
        assert!(CosignatureVerifier::new(&vector("log-vkey")).is_err());
        assert!(LogVerifier::new(&vector("witness-vkey")).is_err());
    }

    fn log_note(size: u64) -> (LogVerifier, Vec<u8>) {
        let (skey, vkey) = LogSigner::generate("cts.test/log").unwrap();
        let cp = LogSigner::from_private_key(&skey)
            .unwrap()
            .sign(TreeSize(size), Hash([7; 32]))
            .unwrap();
        (LogVerifier::new(&vkey).unwrap(), cp.note)
    }

    #[test]
    fn generated_key_round_trips_through_a_note() {
        let (skey, vkey) = Cosigner::generate("witness.test/w1").unwrap();
        let c = Cosigner::from_private_key(&skey).unwrap();
        assert_eq!(c.verifier_key(), vkey);
        let (log, note) = log_note(5);
        let line = c.cosign(note_body(&note).unwrap(), 1_700_000_000).unwrap();
        let cosigned = add_signature_lines(&note, &line.to_bytes()).unwrap();
        let v = CosignatureVerifier::new(&vkey).unwrap();
        let opened = open_cosigned(&cosigned, &log, std::slice::from_ref(&v)).unwrap();
        assert_eq!(opened.cosignatures.len(), 1);
        assert_eq!(opened.cosignatures[0].time, 1_700_000_000);
        // The log's own check ignores the cosignature.
        assert_eq!(log.open(&cosigned).unwrap().size, TreeSize(5));
        // Without the witness key nothing is counted.
        assert!(open_cosigned(&cosigned, &log, &[])
            .unwrap()
            .cosignatures
            .is_empty());
    }

    #[test]
    fn altered_cosignature_or_time_is_rejected() {
        let (skey, vkey) = Cosigner::generate("witness.test/w1").unwrap();
        let c = Cosigner::from_private_key(&skey).unwrap();
        let v = CosignatureVerifier::new(&vkey).unwrap();
        let (log, note) = log_note(5);
        let sig = c.cosign(note_body(&note).unwrap(), 1_700_000_000).unwrap();
        for i in [0, 7, 8, 71] {
            let mut bytes = sig.signature().to_vec();
            bytes[i] ^= 1;
            let forged = Signature::new(sig.name().into(), sig.id(), bytes).unwrap();
            let cosigned = add_signature_lines(&note, &forged.to_bytes()).unwrap();
            assert!(matches!(
                open_cosigned(&cosigned, &log, std::slice::from_ref(&v)),
                Err(CosignatureError::BadCosignature { .. })
            ));
        }
    }

    #[test]
    fn a_second_line_from_the_same_key_replaces_the_first() {
        let (skey, _) = Cosigner::generate("witness.test/w1").unwrap();
        let c = Cosigner::from_private_key(&skey).unwrap();
        let (_, note) = log_note(5);
        let body = note_body(&note).unwrap().to_vec();
        let once = add_signature_lines(&note, &c.cosign(&body, 1).unwrap().to_bytes()).unwrap();
        let twice = add_signature_lines(&once, &c.cosign(&body, 2).unwrap().to_bytes()).unwrap();
        assert_eq!(once.len(), twice.len());
        assert!(twice.starts_with(&note));
    }

    #[test]
    fn malformed_keys_give_typed_errors() {
        assert!(matches!(
            Cosigner::generate("has space"),
            Err(CosignatureError::BadName(_))
        ));
        for text in ["", "PRIVATE+KEY+w+zz+AA==", "PRIVATE+KEY+w+00000000+!!"] {
            assert!(matches!(
                Cosigner::from_private_key(text),
                Err(CosignatureError::BadSigningKey { .. })
            ));
        }
        for text in ["", "w+00000000", "w+00000000+BAAA", "w+xyz+BA=="] {
            assert!(matches!(
                CosignatureVerifier::new(text),
                Err(CosignatureError::BadVerifierKey { .. })
            ));
        }
    }

    #[test]
    fn only_checkpoints_are_cosigned() {
        let (skey, _) = Cosigner::generate("witness.test/w1").unwrap();
        let c = Cosigner::from_private_key(&skey).unwrap();
        assert!(matches!(
            c.cosign(b"not a checkpoint\n", 1),
            Err(CosignatureError::NotACheckpoint)
        ));
        let (_, note) = log_note(1);
        assert!(matches!(
            c.cosign(note_body(&note).unwrap(), u64::MAX),
            Err(CosignatureError::TimeOutOfRange(_))
        ));
    }
}
