//! Behaviour policies in the store: each version a `policy.registered`
//! event committing to its JSON. Cases link to a policy by the tag
//! `policy:<id>`.

use cts_ledger::{EventDraft, EventKind, Salt};
use sha2::Digest;
use sqlx::Row;

use crate::{AppendHook, Store, StoreError};

/// A behaviour policy version.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// Id (cases carry the tag `policy:<id>`).
    pub id: String,
    /// Version, from 1.
    pub version: i64,
    /// Short title.
    pub title: String,
    /// The behaviour required, in one or two sentences.
    pub behaviour: String,
}

impl Policy {
    /// SHA-256 (hex) of the policy's JSON.
    pub fn digest(&self) -> String {
        hex::encode(sha2::Sha256::digest(
            serde_json::to_vec(self).unwrap_or_default(),
        ))
    }
}

/// A stored policy version and its leaf.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredPolicy {
    /// The policy.
    #[serde(flatten)]
    pub policy: Policy,
    /// Its digest.
    pub digest: String,
    /// The `policy.registered` leaf.
    pub leaf: u64,
}

/// Registers policy versions not yet stored; the same text again is a
/// no-op, a different text under a stored `id` and `version` is refused
/// (versions are immutable). All or nothing. Returns how many were new.
pub async fn register_policies(
    store: &Store,
    actor: &str,
    policies: &[Policy],
) -> Result<usize, StoreError> {
    let mut new = Vec::new();
    for p in policies {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT digest FROM policies WHERE id = ? AND version = ?")
                .bind(&p.id)
                .bind(p.version)
                .fetch_optional(store.db())
                .await?;
        match stored {
            Some(d) if d == p.digest() => {}
            Some(_) => {
                return Err(StoreError::Conflict {
                    what: "policy",
                    id: format!("{}@{}", p.id, p.version),
                    reason:
                        "is already registered with different text; give the change a new version"
                            .into(),
                })
            }
            None => new.push(p.clone()),
        }
    }
    if new.is_empty() {
        return Ok(0);
    }
    let mut events = Vec::new();
    for p in &new {
        events.push(
            EventDraft::new(EventKind::new("policy.registered")?, actor)
                .subject(format!("policy:{}", p.id))
                .body(serde_json::json!({ "id": p.id, "version": p.version, "digest": p.digest() }))
                .attach("policy", serde_json::to_vec(p).unwrap_or_default())
                .prepare(Salt::random)?,
        );
    }
    let n = new.len();
    let hook: AppendHook = Box::new(move |conn, leaves| {
        Box::pin(async move {
            for (p, leaf) in new.iter().zip(leaves) {
                sqlx::query(
                    "INSERT INTO policies (id, version, title, behaviour, digest, leaf) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(&p.id)
                .bind(p.version)
                .bind(&p.title)
                .bind(&p.behaviour)
                .bind(p.digest())
                .bind(leaf.0 as i64)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        })
    });
    store.ledger().append_prepared(events, Some(hook)).await?;
    Ok(n)
}

/// Every policy version, by id then version.
pub async fn list_policies(store: &Store) -> Result<Vec<StoredPolicy>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, version, title, behaviour, digest, leaf FROM policies ORDER BY id, version",
    )
    .fetch_all(store.db())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredPolicy {
                policy: Policy {
                    id: r.try_get(0)?,
                    version: r.try_get(1)?,
                    title: r.try_get(2)?,
                    behaviour: r.try_get(3)?,
                },
                digest: r.try_get(4)?,
                leaf: r.try_get::<i64, _>(5)? as u64,
            })
        })
        .collect()
}
