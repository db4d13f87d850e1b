//! The event envelope every CTS state change is recorded as, and its
//! canonical, versioned byte encoding (the log entry).
//!
//! Entry encoding, version 1: the event as JSON, canonicalized with RFC 8785
//! (JSON Canonicalization Scheme: sorted keys, no insignificant whitespace,
//! ECMAScript number formatting), UTF-8. The envelope carries `"v":1`; a
//! decoder rejects unknown versions and unknown envelope fields, and an entry
//! whose bytes are not the canonical encoding of what they decode to.
//!
//! Large or sensitive content never enters the entry: an event names it and
//! holds a salted commitment (see [`crate::commitment`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::commitment::{Commitment, Opening, Salt};
use crate::Hash;

/// Version of the envelope and its canonical encoding.
pub const ENVELOPE_VERSION: u32 = 1;

/// Largest entry the log accepts: C2SP entry bundles prefix entries with a 16-bit length.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// Kind of an event: dot-separated lowercase words, e.g. `case.imported`.
///
/// The set is open; the kinds CTS itself writes are listed in [`EventKind::KNOWN`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventKind(String);

impl EventKind {
    /// Kinds CTS writes, with what each records (documented in ARCHITECTURE.md too).
    pub const KNOWN: &'static [(&'static str, &'static str)] = &[
        (
            "log.created",
            "the log was created; body names the origin and verifier key",
        ),
        (
            "note.appended",
            "a free-form event appended by a script through `cts ledger append`",
        ),
        (
            "content.redacted",
            "stored content was erased; subject `content:<commitment>`",
        ),
        ("case.imported", "a clinical case (content: the case JSON)"),
        (
            "trace.generated",
            "a model's reasoning trace for a case (content: prompt and output)",
        ),
        ("review.submitted", "a clinician's rubric review of a trace"),
        (
            "step.edited",
            "a clinician's edit of a reasoning step (content: new text, rationale)",
        ),
        (
            "adjudication.decided",
            "an adjudicator's decision on disagreeing reviews",
        ),
        (
            "dataset.released",
            "a dataset release (content: its manifest)",
        ),
        ("training.recorded", "a training run on a dataset release"),
        (
            "policy.registered",
            "a behaviour-policy version (content: the policy JSON)",
        ),
        ("eval.completed", "an evaluation run and its results"),
        (
            "redteam.completed",
            "a red-teaming run: attacks, replies, judgments and rates",
        ),
        (
            "healthbench.completed",
            "a rubric-graded evaluation run (HealthBench format): answers, grades, score",
        ),
        (
            "rubric.registered",
            "a rubric version was first used (content: its TOML text)",
        ),
        (
            "user.created",
            "an account was created; subject `user:<pseudonym>`, body its role",
        ),
        ("user.role_changed", "an account's role was changed"),
        ("user.disabled", "an account was disabled or re-enabled"),
        (
            "user.renamed",
            "an account's login name was changed (content: the new name)",
        ),
    ];

    /// Validates and wraps a kind.
    pub fn new(kind: &str) -> Result<Self, EventError> {
        let valid = kind.len() <= 64
            && kind.contains('.')
            && kind.split('.').all(|word| {
                let mut chars = word.chars();
                matches!(chars.next(), Some('a'..='z'))
                    && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
            });
        if valid {
            Ok(Self(kind.to_owned()))
        } else {
            Err(EventError::Invalid {
                field: "kind",
                reason: format!(
                    "{kind:?} is not dot-separated lowercase words like \"case.imported\""
                ),
            })
        }
    }

    /// The kind as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One recorded state change: `{v, kind, actor, time, subjects, content, body}`.
///
/// Fields are declared in RFC 8785 key order, so serializing them in
/// declaration order is already canonical (see [`Event::encode`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Who did it: `user:<name>`, `cli:<os user>`, `system`, `model:<id>`.
    pub actor: String,
    /// Kind-specific structured details (small; no free text that could hold PHI).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub body: serde_json::Value,
    /// Named commitments to content stored beside the log.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub content: BTreeMap<String, Commitment>,
    /// What happened.
    pub kind: EventKind,
    /// Ids of the things the event is about, `type:id` (e.g. `case:htn-001`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// When, RFC 3339 in UTC with millisecond precision.
    pub time: String,
    /// Envelope version, [`ENVELOPE_VERSION`].
    pub v: u32,
}

/// Whether `serde_json::Map` iterates keys in sorted order in this build
/// (it does unless some crate enables serde_json's `preserve_order`).
fn maps_are_sorted() -> bool {
    static SORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SORTED.get_or_init(|| {
        let mut m = serde_json::Map::new();
        m.insert("b".into(), serde_json::Value::Null);
        m.insert("a".into(), serde_json::Value::Null);
        m.keys().next().map(String::as_str) == Some("a")
    })
}

/// The first integer in `v` that an IEEE double cannot hold exactly.
///
/// An integer beyond ±2^53 is still accepted when its decimal digits are
/// exactly the RFC 8785 rendering of the nearest double (as
/// `-498561464862907600` is for the double -4.985614648629076e17): such a
/// number is what canonicalization itself produces for large doubles, so an
/// entry that holds one must decode and re-encode to the same bytes.
fn inexact_integer(v: &serde_json::Value) -> Option<&serde_json::Number> {
    const EXACT: u64 = 1 << 53;
    match v {
        serde_json::Value::Number(n) => {
            let too_big = n.as_i64().is_some_and(|i| i.unsigned_abs() > EXACT)
                || n.as_u64().is_some_and(|u| u > EXACT);
            (too_big && !is_canonical_double(n)).then_some(n)
        }
        serde_json::Value::Array(a) => a.iter().find_map(inexact_integer),
        serde_json::Value::Object(m) => m.values().find_map(inexact_integer),
        _ => None,
    }
}

/// Whether `n`, read as a double, is rendered by RFC 8785 as exactly `n`.
fn is_canonical_double(n: &serde_json::Number) -> bool {
    n.as_f64()
        .and_then(|f| serde_json_canonicalizer::to_string(&f).ok())
        .is_some_and(|s| s == n.to_string())
}

/// Whether plain `serde_json` output of `v` is already RFC 8785 canonical:
/// no floating-point numbers (whose formatting differs) and no keys with
/// characters from U+E000 up (where UTF-8 and UTF-16 key orders differ).
/// Integers are within ±2^53 or already canonical ([`Event::validate`]
/// refuses others).
fn plain_is_canonical(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.is_i64() || n.is_u64(),
        serde_json::Value::Array(a) => a.iter().all(plain_is_canonical),
        serde_json::Value::Object(m) => m
            .iter()
            .all(|(k, v)| k.chars().all(|c| c < '\u{e000}') && plain_is_canonical(v)),
        _ => true,
    }
}

/// Errors building, encoding or decoding an event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// A field of the envelope is invalid.
    #[error("field \"{field}\": {reason}")]
    Invalid {
        /// Name of the envelope field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The encoded entry is larger than [`MAX_ENTRY_BYTES`].
    #[error("the encoded event is {0} bytes; at most {MAX_ENTRY_BYTES} are allowed (move large content into an attachment)")]
    TooLarge(usize),
    /// The entry is not valid JSON for an event envelope.
    #[error("not an event envelope: {0}")]
    Decode(String),
    /// The entry decodes but is not byte-identical to its canonical encoding.
    #[error("entry is not in canonical (RFC 8785) form")]
    NotCanonical,
}

impl Event {
    /// Checks the envelope's fields.
    pub fn validate(&self) -> Result<(), EventError> {
        if self.v != ENVELOPE_VERSION {
            return Err(EventError::Invalid {
                field: "v",
                reason: format!("unsupported envelope version {}", self.v),
            });
        }
        EventKind::new(self.kind.as_str())?;
        if self.actor.is_empty()
            || self.actor.len() > 200
            || self.actor.chars().any(char::is_control)
        {
            return Err(EventError::Invalid {
                field: "actor",
                reason: "must be 1 to 200 printable characters".into(),
            });
        }
        if chrono::DateTime::parse_from_rfc3339(&self.time).is_err() {
            return Err(EventError::Invalid {
                field: "time",
                reason: format!("{:?} is not an RFC 3339 timestamp", self.time),
            });
        }
        for subject in &self.subjects {
            let ok = subject
                .split_once(':')
                .is_some_and(|(t, id)| !t.is_empty() && !id.is_empty())
                && subject.len() <= 256
                && !subject.chars().any(char::is_control);
            if !ok {
                return Err(EventError::Invalid {
                    field: "subjects",
                    reason: format!("{subject:?} is not of the form type:id"),
                });
            }
        }
        if let Some(n) = inexact_integer(&self.body) {
            return Err(EventError::Invalid {
                field: "body",
                reason: format!("integer {n} is beyond ±2^53, which RFC 8785 JSON cannot hold exactly; write it as a string"),
            });
        }
        for name in self.content.keys() {
            if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                return Err(EventError::Invalid {
                    field: "content",
                    reason: format!(
                        "attachment name {name:?} must be 1 to 64 printable characters"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Canonical entry bytes (RFC 8785), after validation.
    ///
    /// Fast path: when the body holds no floats and no keys that sort
    /// differently in UTF-16, plain `serde_json` output of the
    /// alphabetically declared envelope is byte-identical to RFC 8785
    /// (same escaping, sorted maps); otherwise `serde_json_canonicalizer`
    /// does the full canonicalization. A property test checks they agree.
    pub fn encode(&self) -> Result<Vec<u8>, EventError> {
        self.validate()?;
        let fast = maps_are_sorted()
            && plain_is_canonical(&self.body)
            && self
                .content
                .keys()
                .chain(&self.subjects)
                .all(|k| k.chars().all(|c| c < '\u{e000}'));
        let bytes = if fast {
            serde_json::to_vec(self)
        } else {
            serde_json_canonicalizer::to_vec(self)
        }
        .map_err(|e| EventError::Decode(e.to_string()))?;
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EventError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Decodes an entry and checks that it is valid and canonical.
    pub fn decode(entry: &[u8]) -> Result<Self, EventError> {
        let event: Event =
            serde_json::from_slice(entry).map_err(|e| EventError::Decode(e.to_string()))?;
        if event.encode()? != entry {
            return Err(EventError::NotCanonical);
        }
        Ok(event)
    }

    /// The commitment named `content:<hex>` subjects refer to, for redaction events.
    pub fn redacted_commitments(&self) -> impl Iterator<Item = Commitment> + '_ {
        let redaction = self.kind.as_str() == "content.redacted";
        self.subjects
            .iter()
            .filter(move |_| redaction)
            .filter_map(|s| s.strip_prefix("content:"))
            .filter_map(|hex| hex.parse().ok())
    }
}

/// The current time in the envelope's format.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An event as a caller describes it, before time, salts and encoding.
#[derive(Clone, Debug)]
pub struct EventDraft {
    /// What happened.
    pub kind: EventKind,
    /// Who did it.
    pub actor: String,
    /// Explicit time; `None` means now.
    pub time: Option<String>,
    /// Ids of the things the event is about.
    pub subjects: Vec<String>,
    /// Kind-specific details.
    pub body: serde_json::Value,
    /// Content to store beside the log and commit to, by name.
    pub attachments: Vec<(String, Vec<u8>)>,
}

impl EventDraft {
    /// A draft with no subjects, body or attachments.
    pub fn new(kind: EventKind, actor: impl Into<String>) -> Self {
        Self {
            kind,
            actor: actor.into(),
            time: None,
            subjects: Vec::new(),
            body: serde_json::Value::Null,
            attachments: Vec::new(),
        }
    }

    /// Adds a subject id.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subjects.push(subject.into());
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = body;
        self
    }

    /// Adds named content to commit to.
    pub fn attach(mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        self.attachments.push((name.into(), bytes.into()));
        self
    }

    /// Commits to the attachments with fresh salts, fills in the time and
    /// encodes the entry. `salt` is called once per attachment.
    pub fn prepare(self, mut salt: impl FnMut() -> Salt) -> Result<PreparedEvent, EventError> {
        let mut content = BTreeMap::new();
        let mut openings = Vec::with_capacity(self.attachments.len());
        for (name, bytes) in self.attachments {
            let opening = Opening::new(salt(), bytes);
            if content.insert(name.clone(), opening.commitment()).is_some() {
                return Err(EventError::Invalid {
                    field: "content",
                    reason: format!("attachment {name:?} given twice"),
                });
            }
            openings.push(opening);
        }
        let event = Event {
            actor: self.actor,
            body: self.body,
            content,
            kind: self.kind,
            subjects: self.subjects,
            time: self.time.unwrap_or_else(now_rfc3339),
            v: ENVELOPE_VERSION,
        };
        let entry = event.encode()?;
        let leaf_hash = crate::leaf_hash(&entry);
        Ok(PreparedEvent {
            event,
            entry,
            leaf_hash,
            openings,
        })
    }
}

/// An event ready to append: its entry bytes, leaf hash and content openings.
#[derive(Clone, Debug)]
pub struct PreparedEvent {
    /// The envelope.
    pub event: Event,
    /// Canonical entry bytes.
    pub entry: Vec<u8>,
    /// RFC 9162 leaf hash of the entry.
    pub leaf_hash: Hash,
    /// Content and salts behind the event's commitments.
    pub openings: Vec<Opening>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> EventDraft {
        EventDraft {
            time: Some("2026-01-02T03:04:05.678Z".into()),
            ..EventDraft::new(EventKind::new("case.imported").unwrap(), "cli:alice")
                .subject("case:c1")
                .body(serde_json::json!({"z": 1, "a": [true, null, 1.5]}))
                .attach("case", b"{\"q\":\"...\"}".to_vec())
        }
    }

    #[test]
    fn encoding_is_canonical_and_round_trips() {
        let prepared = draft().prepare(|| Salt([7; 32])).unwrap();
        let text = String::from_utf8(prepared.entry.clone()).unwrap();
        assert!(text.starts_with("{\"actor\":\"cli:alice\",\"body\":{\"a\":[true,null,1.5],\"z\":1},\"content\":{\"case\":\""));
        assert_eq!(Event::decode(&prepared.entry).unwrap(), prepared.event);
    }

    #[test]
    fn same_draft_and_salt_give_identical_bytes() {
        let a = draft().prepare(|| Salt([1; 32])).unwrap();
        let b = draft().prepare(|| Salt([1; 32])).unwrap();
        assert_eq!(a.entry, b.entry);
        let c = draft().prepare(|| Salt([2; 32])).unwrap();
        assert_ne!(
            a.entry, c.entry,
            "a different salt must change the commitment"
        );
    }

    #[test]
    fn non_canonical_entry_is_rejected() {
        let prepared = draft().prepare(|| Salt([7; 32])).unwrap();
        let mut spaced = b" ".to_vec();
        spaced.extend_from_slice(&prepared.entry);
        assert!(matches!(
            Event::decode(&spaced),
            Err(EventError::NotCanonical)
        ));
    }

    #[test]
    fn unknown_envelope_field_is_rejected() {
        let entry =
            br#"{"actor":"a","extra":1,"kind":"x.y","time":"2026-01-02T03:04:05.678Z","v":1}"#;
        assert!(matches!(Event::decode(entry), Err(EventError::Decode(_))));
    }

    #[test]
    fn bad_kinds_are_rejected() {
        for bad in [
            "",
            "case",
            "Case.imported",
            "case..x",
            "case.imported!",
            ".x",
        ] {
            assert!(EventKind::new(bad).is_err(), "{bad:?} accepted");
        }
        for (good, _) in EventKind::KNOWN {
            assert!(EventKind::new(good).is_ok());
        }
    }

    #[test]
    fn oversized_event_is_rejected() {
        let big = "x".repeat(MAX_ENTRY_BYTES);
        let d = draft().body(serde_json::json!({ "big": big }));
        assert!(matches!(
            d.prepare(|| Salt([0; 32])),
            Err(EventError::TooLarge(_))
        ));
    }

    #[test]
    fn large_integers_are_refused_unless_already_canonical_doubles() {
        // 2^53 + 1 has no double: refused, so nothing is silently rounded.
        let d = draft().body(serde_json::json!({ "n": 9_007_199_254_740_993_u64 }));
        assert!(matches!(
            d.prepare(|| Salt([0; 32])),
            Err(EventError::Invalid { field: "body", .. })
        ));
        // A large double is written by RFC 8785 as integer digits; that entry
        // must decode (as an integer) and re-encode to the same bytes.
        let d = draft().body(serde_json::json!({ "n": -4.985614648629076e17 }));
        let prepared = d.prepare(|| Salt([0; 32])).unwrap();
        let text = String::from_utf8(prepared.entry.clone()).unwrap();
        assert!(text.contains("\"n\":-498561464862907600"), "{text}");
        let decoded = Event::decode(&prepared.entry).unwrap();
        assert_eq!(decoded.encode().unwrap(), prepared.entry);
    }
}
