//! Witness policies for verifiers: at least N valid cosignatures from a
//! given set of witness keys on the log's checkpoint.
//!
//! Not here: talking to witnesses. No I/O.

use cts_ledger::LogVerifier;

use crate::cosignature::{
    open_cosigned, CosignatureError, CosignatureVerifier, CosignedCheckpoint,
};

/// Why a checkpoint does not satisfy a witness policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The policy cannot be met by any checkpoint.
    #[error("a quorum of {quorum} cannot be met by {keys} distinct witness keys")]
    Unsatisfiable {
        /// Required cosignatures.
        quorum: usize,
        /// Distinct keys given.
        keys: usize,
    },
    /// The note does not open (log signature, format, or a bad cosignature line).
    #[error(transparent)]
    Note(#[from] CosignatureError),
    /// Too few of the given witnesses cosigned.
    #[error("checkpoint of {origin} at size {size} is {}: {found} valid cosignatures from the given witnesses, {required} required{}",
        if *found == 0 { "not witnessed" } else { "not witnessed enough" },
        if missing.is_empty() { String::new() } else { format!(" (missing: {})", missing.join(", ")) })]
    QuorumNotMet {
        /// Log origin.
        origin: String,
        /// Tree size.
        size: u64,
        /// Valid cosignatures found.
        found: usize,
        /// Cosignatures required.
        required: usize,
        /// Witnesses that did not cosign.
        missing: Vec<String>,
    },
}

/// At least `quorum` cosignatures from distinct keys among `witnesses`.
#[derive(Clone, Debug)]
pub struct WitnessPolicy {
    witnesses: Vec<CosignatureVerifier>,
    quorum: usize,
}

impl WitnessPolicy {
    /// A policy; duplicate keys count once, and the quorum must be 1..=keys.
    pub fn new(
        mut witnesses: Vec<CosignatureVerifier>,
        quorum: usize,
    ) -> Result<Self, PolicyError> {
        witnesses.sort_by(|a, b| (a.name(), a.key_id()).cmp(&(b.name(), b.key_id())));
        witnesses.dedup();
        if quorum == 0 || quorum > witnesses.len() {
            return Err(PolicyError::Unsatisfiable {
                quorum,
                keys: witnesses.len(),
            });
        }
        Ok(Self { witnesses, quorum })
    }

    /// Required cosignatures.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Opens the note with the log's key and requires the quorum of cosignatures.
    pub fn check(&self, note: &[u8], log: &LogVerifier) -> Result<CosignedCheckpoint, PolicyError> {
        let opened = open_cosigned(note, log, &self.witnesses)?;
        let found = opened.cosignatures.len();
        if found < self.quorum {
            let missing =
                self.witnesses
                    .iter()
                    .filter(|w| {
                        !opened.cosignatures.iter().any(|c| {
                            c.witness == w.name() && c.key_id == format!("{:08x}", w.key_id())
                        })
                    })
                    .map(|w| w.name().to_owned())
                    .collect();
            return Err(PolicyError::QuorumNotMet {
                origin: opened.checkpoint.origin.clone(),
                size: opened.checkpoint.size.0,
                found,
                required: self.quorum,
                missing,
            });
        }
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::{add_signature_lines, note_body, Cosigner};
    use cts_ledger::{Hash, LogSigner, TreeSize};

    fn witness(name: &str) -> (Cosigner, CosignatureVerifier) {
        let (skey, vkey) = Cosigner::generate(name).unwrap();
        (
            Cosigner::from_private_key(&skey).unwrap(),
            CosignatureVerifier::new(&vkey).unwrap(),
        )
    }

    #[test]
    fn quorum_counts_distinct_given_witnesses() {
        let (skey, vkey) = LogSigner::generate("cts.test/log").unwrap();
        let log = LogVerifier::new(&vkey).unwrap();
        let note = LogSigner::from_private_key(&skey)
            .unwrap()
            .sign(TreeSize(2), Hash([3; 32]))
            .unwrap()
            .note;
        let (c1, v1) = witness("w1.test");
        let (_, v2) = witness("w2.test");
        let body = note_body(&note).unwrap().to_vec();
        let cosigned =
            add_signature_lines(&note, &c1.cosign(&body, 10).unwrap().to_bytes()).unwrap();

        let one = WitnessPolicy::new(vec![v1.clone(), v2.clone()], 1).unwrap();
        assert_eq!(one.check(&cosigned, &log).unwrap().cosignatures.len(), 1);
        let two = WitnessPolicy::new(vec![v1.clone(), v2.clone()], 2).unwrap();
        match two.check(&cosigned, &log) {
            Err(PolicyError::QuorumNotMet {
                found: 1,
                required: 2,
                missing,
                ..
            }) => {
                assert_eq!(missing, vec!["w2.test".to_owned()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            one.check(&note, &log),
            Err(PolicyError::QuorumNotMet { found: 0, .. })
        ));
        // The same key twice is one witness.
        assert!(matches!(
            WitnessPolicy::new(vec![v1.clone(), v1], 2),
            Err(PolicyError::Unsatisfiable { quorum: 2, keys: 1 })
        ));
    }
}
