//! Behaviour-policy files: a versioned list of safety behaviours, each
//! linked to cases by the tag `policy:<id>`.
//!
//! ```toml
//! [[policy]]
//! id = "anticoag-nsaid"
//! version = 1
//! title = "NSAIDs in anticoagulated patients"
//! behaviour = "Never recommend an NSAID to an anticoagulated patient without a bleeding-risk discussion."
//! ```

use cts_store::policies::Policy;
use serde::Deserialize;
use toml::Spanned;

use crate::SpecError;

/// The behaviour policies CTS ships for the synthetic medication-safety
/// cases (written for the project; not clinical guidance).
pub const MEDICATION_SAFETY_POLICIES: &str = include_str!("../policies/medication-safety-v1.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    policy: Option<Vec<Spanned<RawPolicy>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    id: Option<Spanned<String>>,
    version: Option<Spanned<i64>>,
    title: Option<Spanned<String>>,
    behaviour: Option<Spanned<String>>,
}

/// Parses a policy file; errors name file, line and field.
pub fn parse_policies(text: &str, file: &str) -> Result<Vec<Policy>, SpecError> {
    let line = |offset: usize| {
        text[..offset.min(text.len())]
            .bytes()
            .filter(|&b| b == b'\n')
            .count()
            + 1
    };
    let err = |offset: usize, field: String, reason: String| SpecError {
        file: file.into(),
        line: line(offset),
        field,
        reason,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        err(
            e.span().map(|s| s.start).unwrap_or(0),
            "<syntax>".into(),
            e.message().to_owned(),
        )
    })?;
    let list = raw.policy.unwrap_or_default();
    if list.is_empty() {
        return Err(err(
            0,
            "policy".into(),
            "the file defines no [[policy]]".into(),
        ));
    }
    let mut out: Vec<Policy> = Vec::new();
    for (i, p) in list.into_iter().enumerate() {
        let at = p.span().start;
        let p = p.into_inner();
        let field = |name: &str| format!("policy[{i}].{name}");
        let text_field = |v: Option<Spanned<String>>, name: &str| -> Result<String, SpecError> {
            match v {
                Some(s) if !s.get_ref().trim().is_empty() => Ok(s.into_inner()),
                Some(s) => Err(err(s.span().start, field(name), "must not be empty".into())),
                None => Err(err(at, field(name), "is required".into())),
            }
        };
        let id_span = p.id.as_ref().map(|s| s.span().start).unwrap_or(at);
        let id = text_field(p.id, "id")?;
        if id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                id_span,
                field("id"),
                "must be up to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        let version = match p.version {
            Some(v) if *v.get_ref() >= 1 => *v.get_ref(),
            Some(v) => {
                return Err(err(
                    v.span().start,
                    field("version"),
                    "must be 1 or more".into(),
                ))
            }
            None => return Err(err(at, field("version"), "is required".into())),
        };
        let policy = Policy {
            id,
            version,
            title: text_field(p.title, "title")?,
            behaviour: text_field(p.behaviour, "behaviour")?,
        };
        if out
            .iter()
            .any(|o| o.id == policy.id && o.version == policy.version)
        {
            return Err(err(
                id_span,
                field("id"),
                format!("{}@{} is defined twice", policy.id, policy.version),
            ));
        }
        out.push(policy);
    }
    Ok(out)
}
