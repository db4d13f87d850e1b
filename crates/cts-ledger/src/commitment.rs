//! Salted SHA-256 commitments to content kept beside the log.
//!
//! `commitment = SHA-256("cts-content-v1" ‖ 0x00 ‖ salt ‖ content)` with a
//! fresh 32-byte random salt per attachment. The salt keeps a commitment to
//! short content (a yes/no rating, a name) from being confirmed by guessing;
//! erasing both salt and content leaves a commitment that reveals nothing,
//! while the log around it still verifies.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"cts-content-v1\0";

/// A 32-byte random salt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Salt(pub [u8; 32]);

impl Salt {
    /// A fresh salt from the operating system's random source.
    pub fn random() -> Self {
        use rand_core::RngCore;
        let mut salt = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut salt);
        Self(salt)
    }
}

/// A commitment to one piece of content; lowercase hex in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Commitment(pub [u8; 32]);

impl Commitment {
    /// Commits to `content` under `salt`.
    pub fn compute(salt: &Salt, content: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(salt.0);
        h.update(content);
        Self(h.finalize().into())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex32(&self.0)
    }
}

/// Lowercase hex of a 32-byte value (a commitment or a SHA-256 digest),
/// through a slice: `hex::encode` goes a character at a time, which showed
/// in dataset-release profiles, where every example names several.
pub fn hex32(bytes: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    // 64 bytes is exactly twice 32: encoding cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

impl std::fmt::Display for Commitment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl std::str::FromStr for Commitment {
    type Err = hex::FromHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Self(out))
    }
}

impl Serialize for Commitment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Commitment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(serde::de::Error::custom(
                "commitment must be 64 lowercase hex digits",
            ));
        }
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Content with the salt that opens its commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// The salt.
    pub salt: Salt,
    /// The content.
    pub content: Vec<u8>,
}

impl Opening {
    /// Wraps content and salt.
    pub fn new(salt: Salt, content: Vec<u8>) -> Self {
        Self { salt, content }
    }

    /// The commitment this opening opens.
    pub fn commitment(&self) -> Commitment {
        Commitment::compute(&self.salt, &self.content)
    }

    /// Whether this opening opens `c`.
    pub fn opens(&self, c: &Commitment) -> bool {
        self.commitment() == *c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_opens_only_its_own_commitment() {
        let o = Opening::new(Salt([3; 32]), b"dose 5 mg".to_vec());
        let c = o.commitment();
        assert!(o.opens(&c));
        let mut altered = o.clone();
        altered.content[0] ^= 1;
        assert!(!altered.opens(&c));
        let resalted = Opening::new(Salt([4; 32]), o.content.clone());
        assert!(!resalted.opens(&c));
    }

    #[test]
    fn hex_round_trips_and_uppercase_is_rejected_in_json() {
        let c = Commitment([0xab; 32]);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Commitment>(&json).unwrap(), c);
        assert!(serde_json::from_str::<Commitment>(&json.to_uppercase()).is_err());
    }
}
