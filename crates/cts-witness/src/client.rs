//! Submitting a checkpoint to a witness (C2SP `tlog-witness` client side).
//!
//! The client starts from a guess of the witness's old size, proves
//! consistency from there, and when the witness answers 409 with the size it
//! actually holds, proves from that size and tries again. The answer's
//! signature lines are kept only if they verify under the witness's key.
//!
//! Not here: where proofs come from (the caller's closure) or storing notes.

use std::future::Future;

use cts_ledger::{Hash, TreeSize};
use signed_note::{Note, VerifierList};

use crate::cosignature::{add_signature_lines, CosignatureVerifier};
use crate::request::AddCheckpointRequest;
use crate::server::SIZE_CONTENT_TYPE;

/// How many times a 409 with a new size is followed.
const MAX_ATTEMPTS: usize = 3;

/// A witness to submit to.
#[derive(Clone, Debug)]
pub struct WitnessEndpoint {
    /// Submission prefix, e.g. `http://127.0.0.1:7380` (`/add-checkpoint` is appended).
    pub url: String,
    /// The witness's cosignature verifier key.
    pub key: CosignatureVerifier,
}

/// Why a witness gave no cosignature.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent or the answer read.
    #[error("witness {url}: {source}")]
    Http {
        /// Witness URL.
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The witness refused the checkpoint.
    #[error("witness {url} refused the checkpoint ({status}): {message}")]
    Refused {
        /// Witness URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The witness's explanation.
        message: String,
    },
    /// The witness has cosigned a larger tree of this log than the one submitted:
    /// the log was rolled back (or the witness saw a fork).
    #[error("witness {url} has cosigned {witnessed} leaves of this log but the checkpoint has {size}: the log is behind what was witnessed")]
    WitnessAhead {
        /// Witness URL.
        url: String,
        /// Size the witness holds.
        witnessed: u64,
        /// Size submitted.
        size: u64,
    },
    /// The consistency proof for the witness's size could not be made.
    #[error("witness {url}: no consistency proof from size {from}: {reason}")]
    Proof {
        /// Witness URL.
        url: String,
        /// Size the proof starts from.
        from: u64,
        /// Why.
        reason: String,
    },
    /// The answer is not a cosignature from the expected key.
    #[error("witness {url}: bad answer: {reason}")]
    BadAnswer {
        /// Witness URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The witness kept answering 409.
    #[error("witness {url}: still conflicting after {MAX_ATTEMPTS} attempts")]
    TooManyConflicts {
        /// Witness URL.
        url: String,
    },
}

/// Submits `note` (a checkpoint of `size` leaves) to `witness`, starting from
/// the guess `old` for the witness's size; `proof(from)` gives the consistency
/// proof from `from` leaves to `size`. Returns the verified cosignature lines.
pub async fn submit<F, Fut, E>(
    http: &reqwest::Client,
    witness: &WitnessEndpoint,
    note: &[u8],
    size: TreeSize,
    old: TreeSize,
    mut proof: F,
) -> Result<Vec<u8>, ClientError>
where
    F: FnMut(TreeSize) -> Fut,
    Fut: Future<Output = Result<Vec<Hash>, E>>,
    E: std::fmt::Display,
{
    let url = witness.url.trim_end_matches('/').to_owned();
    let endpoint = format!("{url}/add-checkpoint");
    let http_err = |source| ClientError::Http {
        url: url.clone(),
        source,
    };
    let mut old = if old > size { TreeSize(0) } else { old };
    for _ in 0..MAX_ATTEMPTS {
        let hashes = if old.0 == 0 || old == size {
            Vec::new()
        } else {
            proof(old).await.map_err(|e| ClientError::Proof {
                url: url.clone(),
                from: old.0,
                reason: e.to_string(),
            })?
        };
        let body = AddCheckpointRequest {
            old_size: old,
            proof: hashes,
            checkpoint: note.to_vec(),
        }
        .encode();
        let resp = http
            .post(&endpoint)
            .body(body)
            .send()
            .await
            .map_err(http_err)?;
        let status = resp.status().as_u16();
        let is_size = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(SIZE_CONTENT_TYPE));
        let text = resp.bytes().await.map_err(http_err)?;
        match status {
            200 => return verify_answer(&url, witness, note, &text),
            409 if is_size => {
                let witnessed: u64 = std::str::from_utf8(&text)
                    .ok()
                    .and_then(|s| s.strip_suffix('\n'))
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| ClientError::BadAnswer {
                        url: url.clone(),
                        reason: "409 without a decimal size".into(),
                    })?;
                if witnessed > size.0 {
                    return Err(ClientError::WitnessAhead {
                        url,
                        witnessed,
                        size: size.0,
                    });
                }
                if witnessed == old.0 {
                    return Err(ClientError::BadAnswer {
                        url,
                        reason: format!("409 naming the size {witnessed} that was sent"),
                    });
                }
                tracing::debug!(witness = %url, from = old.0, to = witnessed, "witness holds another size; retrying");
                old = TreeSize(witnessed);
            }
            _ => {
                return Err(ClientError::Refused {
                    url,
                    status,
                    message: String::from_utf8_lossy(&text)
                        .trim()
                        .chars()
                        .take(500)
                        .collect(),
                })
            }
        }
    }
    Err(ClientError::TooManyConflicts { url })
}

/// Keeps the answer's lines from the witness's key, each verified on the note.
fn verify_answer(
    url: &str,
    witness: &WitnessEndpoint,
    note: &[u8],
    answer: &[u8],
) -> Result<Vec<u8>, ClientError> {
    let bad = |reason: String| ClientError::BadAnswer {
        url: url.to_owned(),
        reason,
    };
    let merged = add_signature_lines(note, answer).map_err(|e| bad(e.to_string()))?;
    let parsed = Note::from_bytes(&merged).map_err(|e| bad(e.to_string()))?;
    let list = VerifierList::new(vec![Box::new(witness.key.clone())]);
    let (verified, _) = parsed.verify(&list).map_err(|e| {
        bad(format!(
            "no valid cosignature from {}: {e}",
            witness.key.name()
        ))
    })?;
    Ok(verified.iter().flat_map(|s| s.to_bytes()).collect())
}
