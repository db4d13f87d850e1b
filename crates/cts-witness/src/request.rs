//! The C2SP `tlog-witness` `add-checkpoint` request body: an `old <size>`
//! line, up to 63 base64 consistency-proof hashes, an empty line, then the
//! signed checkpoint note.
//!
//! Parsing only checks the framing; whether the note is signed, by whom, and
//! whether the proof holds is the witness's business (`witness.rs`).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use cts_ledger::{Hash, TreeSize};

/// Most proof lines a request may carry (C2SP tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;

/// Largest request body accepted, bytes: a checkpoint with a hundred
/// signatures and a full proof fit with room to spare.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Why a request body is malformed. Lines are counted from 1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The body is larger than [`MAX_REQUEST_BYTES`].
    #[error("request body of {bytes} bytes is larger than {max}")]
    TooLarge {
        /// Body size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A line before the checkpoint does not end in a newline.
    #[error("line {line}: not terminated by a newline")]
    Unterminated {
        /// Line number.
        line: usize,
    },
    /// The first line is not `old <size>` in canonical decimal.
    #[error("line 1: expected \"old <size>\" in decimal without leading zeroes, found {found:?}")]
    BadOldSize {
        /// The line as found (lossy, at most 80 characters).
        found: String,
    },
    /// A proof line is not the base64 of a 32-byte hash.
    #[error("line {line}: a consistency proof line must be the base64 of a 32-byte hash")]
    BadProofLine {
        /// Line number.
        line: usize,
    },
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("more than {MAX_PROOF_LINES} consistency proof lines")]
    TooManyProofLines,
    /// Nothing follows the empty line.
    #[error("no checkpoint after the empty line")]
    NoCheckpoint,
}

/// A parsed `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq)]
pub struct AddCheckpointRequest {
    /// Size of the checkpoint the client believes the witness last cosigned.
    pub old_size: TreeSize,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as sent.
    pub checkpoint: Vec<u8>,
}

fn lossy(line: &[u8]) -> String {
    String::from_utf8_lossy(line).chars().take(80).collect()
}

fn parse_size(line: &[u8]) -> Option<u64> {
    let digits = line.strip_prefix(b"old ")?;
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
    {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl AddCheckpointRequest {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge {
                bytes: body.len(),
                max: MAX_REQUEST_BYTES,
            });
        }
        let mut rest = body;
        let mut next_line = |n: usize| -> Result<&[u8], RequestError> {
            let at = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(RequestError::Unterminated { line: n })?;
            let line = &rest[..at];
            rest = &rest[at + 1..];
            Ok(line)
        };
        let first = next_line(1)?;
        let old_size = parse_size(first).ok_or_else(|| RequestError::BadOldSize {
            found: lossy(first),
        })?;
        let mut proof = Vec::new();
        let mut n = 1;
        loop {
            n += 1;
            let line = next_line(n)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(RequestError::TooManyProofLines);
            }
            let hash = BASE64
                .decode(line)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or(RequestError::BadProofLine { line: n })?;
            proof.push(Hash(hash));
        }
        if rest.is_empty() {
            return Err(RequestError::NoCheckpoint);
        }
        Ok(Self {
            old_size: TreeSize(old_size),
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The request body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old_size.0).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(BASE64.encode(h.0).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &[u8] = b"example.com/log\n5\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n\n\xe2\x80\x94 example.com/log AAAA\n";

    #[test]
    fn request_round_trips() {
        let r = AddCheckpointRequest {
            old_size: TreeSize(3),
            proof: vec![Hash([1; 32]), Hash([2; 32])],
            checkpoint: NOTE.to_vec(),
        };
        assert_eq!(AddCheckpointRequest::parse(&r.encode()), Ok(r));
    }

    #[test]
    fn spec_example_parses() {
        let body = "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let r = AddCheckpointRequest::parse(body.as_bytes()).unwrap();
        assert_eq!(r.old_size, TreeSize(20_852_014));
        assert_eq!(r.proof.len(), 2);
        assert!(r.checkpoint.starts_with(b"example.com/behind-the-sofa\n"));
    }

    #[test]
    fn old_size_must_be_canonical_decimal() {
        for first in [
            "old 01",
            "old -1",
            "old ",
            "old 1 ",
            "new 1",
            "old 99999999999999999999",
            "old 0x1",
        ] {
            let body = format!("{first}\n\n{}", String::from_utf8_lossy(NOTE));
            assert!(
                matches!(
                    AddCheckpointRequest::parse(body.as_bytes()),
                    Err(RequestError::BadOldSize { .. })
                ),
                "{first:?}"
            );
        }
        let zero = format!("old 0\n\n{}", String::from_utf8_lossy(NOTE));
        assert_eq!(
            AddCheckpointRequest::parse(zero.as_bytes())
                .unwrap()
                .old_size,
            TreeSize(0)
        );
    }

    #[test]
    fn malformed_bodies_give_typed_errors_with_lines() {
        let p = |s: &str| AddCheckpointRequest::parse(s.as_bytes());
        assert_eq!(p("old 1"), Err(RequestError::Unterminated { line: 1 }));
        assert_eq!(
            p("old 1\nAAAA"),
            Err(RequestError::Unterminated { line: 2 })
        );
        assert_eq!(
            p("old 1\nAAAA\n\nx\n"),
            Err(RequestError::BadProofLine { line: 2 })
        );
        assert_eq!(p("old 1\n\n"), Err(RequestError::NoCheckpoint));
        let many = format!(
            "old 1\n{}\nx\n",
            format!("{}\n", BASE64.encode([0u8; 32])).repeat(64)
        );
        assert_eq!(p(&many), Err(RequestError::TooManyProofLines));
        let huge = "a".repeat(MAX_REQUEST_BYTES + 1);
        assert!(matches!(p(&huge), Err(RequestError::TooLarge { .. })));
    }

    proptest::proptest! {
        #[test]
        fn any_body_parses_or_fails_cleanly_and_what_parses_re_encodes(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)
        ) {
            if let Ok(r) = AddCheckpointRequest::parse(&body) {
                proptest::prop_assert_eq!(AddCheckpointRequest::parse(&r.encode()), Ok(r));
            }
        }

        #[test]
        fn well_framed_requests_round_trip(
            old in 0u64..u64::MAX,
            hashes in proptest::collection::vec(proptest::prelude::any::<[u8; 32]>(), 0..=MAX_PROOF_LINES),
            tail in "[a-z/.]{1,20}\n[0-9]{1,5}\n",
        ) {
            let r = AddCheckpointRequest {
                old_size: TreeSize(old),
                proof: hashes.into_iter().map(Hash).collect(),
                checkpoint: tail.into_bytes(),
            };
            proptest::prop_assert_eq!(AddCheckpointRequest::parse(&r.encode()), Ok(r));
        }
    }
}
