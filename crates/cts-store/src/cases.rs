//! Clinical cases in the store: atomic, content-addressed imports, each case
//! a `case.imported` event committing to its canonical JSON.

use cts_cases::Case;
use cts_ledger::{EventDraft, EventKind, LeafIndex};
use sqlx::Row;

use crate::{AppendHook, Store, StoreError};

/// What an import did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ImportSummary {
    /// Cases recorded for the first time.
    pub imported: usize,
    /// Cases recorded as a new version of an existing id.
    pub new_versions: usize,
    /// Cases identical to a stored version (nothing recorded).
    pub unchanged: usize,
    /// Leaves of the events written.
    pub leaves: Vec<LeafIndex>,
}

/// A stored case version.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredCase {
    /// Case id.
    pub id: String,
    /// Version, from 1.
    pub version: i64,
    /// Specialty.
    pub specialty: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Hex SHA-256 of the canonical case JSON.
    pub digest: String,
    /// The `case.imported` leaf.
    pub leaf: u64,
}

/// Imports cases atomically: all are recorded, or none.
///
/// A case identical to its latest stored version is skipped; a changed case
/// with a known id is an error naming it unless `new_version` is set.
/// Each case comes with the PHI kinds found in it when the guard was
/// overridden (`--allow-phi`); a non-empty list is recorded in the event.
pub async fn import_cases(
    store: &Store,
    cases: Vec<(Case, Vec<String>)>,
    actor: &str,
    source_file: &str,
    new_version: bool,
) -> Result<ImportSummary, StoreError> {
    let mut summary = ImportSummary::default();
    let mut drafts = Vec::new();
    let mut rows = Vec::new();
    for (case, phi_kinds) in cases {
        let digest = case.digest();
        let latest = sqlx::query(
            "SELECT version, digest FROM cases WHERE id = ? ORDER BY version DESC LIMIT 1",
        )
        .bind(case.id.as_str())
        .fetch_optional(store.db())
        .await?;
        let version = match latest {
            Some(row) => {
                let (v, d): (i64, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
                if d == digest {
                    summary.unchanged += 1;
                    continue;
                }
                if !new_version {
                    return Err(StoreError::Conflict {
                        what: "case",
                        id: format!("{:?}", case.id.as_str()),
                        reason: format!(
                            "is already stored (version {v}) with other content; pass --new-version to record a new version"
                        ),
                    });
                }
                summary.new_versions += 1;
                v + 1
            }
            None => {
                summary.imported += 1;
                1
            }
        };
        let mut body = serde_json::json!({
            "digest": hex::encode(digest), "version": version, "specialty": case.specialty,
            "tags": case.tags, "source_file": source_file,
        });
        if !phi_kinds.is_empty() {
            body["phi_override"] = serde_json::json!(phi_kinds);
        }
        drafts.push(
            EventDraft::new(EventKind::new("case.imported")?, actor)
                .subject(format!("case:{}", case.id.as_str()))
                .body(body)
                .attach("case", case.canonical_json()),
        );
        rows.push((
            case.id.0.clone(),
            version,
            digest,
            case.specialty.clone(),
            serde_json::to_string(&case.tags).unwrap_or_default(),
        ));
    }
    if drafts.is_empty() {
        return Ok(summary);
    }
    let prepared = drafts
        .into_iter()
        .map(|d| d.prepare(cts_ledger::Salt::random))
        .collect::<Result<Vec<_>, _>>()?;
    let commitments: Vec<[u8; 32]> = prepared.iter().map(|p| p.event.content["case"].0).collect();
    let hook: AppendHook = Box::new(move |conn, leaves| {
        Box::pin(async move {
            for (((id, version, digest, specialty, tags), c), leaf) in
                rows.iter().zip(&commitments).zip(leaves)
            {
                sqlx::query("INSERT INTO cases (id, version, digest, specialty, tags, commitment, leaf) VALUES (?, ?, ?, ?, ?, ?, ?)")
                    .bind(id)
                    .bind(version)
                    .bind(&digest[..])
                    .bind(specialty)
                    .bind(tags)
                    .bind(&c[..])
                    .bind(leaf.0 as i64)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        })
    });
    summary.leaves = store.ledger().append_prepared(prepared, Some(hook)).await?;
    Ok(summary)
}

/// Latest version of every case, by id.
pub async fn list_cases(store: &Store) -> Result<Vec<StoredCase>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, version, specialty, tags, digest, leaf FROM cases c
         WHERE version = (SELECT MAX(version) FROM cases WHERE id = c.id) ORDER BY id",
    )
    .fetch_all(store.db())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredCase {
                id: r.try_get(0)?,
                version: r.try_get(1)?,
                specialty: r.try_get(2)?,
                tags: serde_json::from_str(&r.try_get::<String, _>(3)?).unwrap_or_default(),
                digest: hex::encode(r.try_get::<Vec<u8>, _>(4)?),
                leaf: r.try_get::<i64, _>(5)? as u64,
            })
        })
        .collect()
}

/// The stored text of a case's latest version, or why it is unavailable.
pub async fn case_json(store: &Store, id: &str) -> Result<Option<Case>, StoreError> {
    case_at(store, id, None).await
}

/// The stored text of one version of a case (the latest when `None`);
/// `Ok(None)` when its content was erased.
pub async fn case_at(
    store: &Store,
    id: &str,
    version: Option<i64>,
) -> Result<Option<Case>, StoreError> {
    // The row holds the commitment of its `case.imported` event (written in
    // the same transaction), so no entry needs decoding here.
    let raw: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT commitment FROM cases WHERE id = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
    )
    .bind(id)
    .bind(version)
    .fetch_optional(store.db())
    .await?;
    let Some(raw) = raw else {
        return Err(StoreError::NotFound {
            what: "case",
            id: format!("{id:?}"),
            hint: None,
        });
    };
    let commitment = cts_ledger::Commitment(
        <[u8; 32]>::try_from(raw.as_slice())
            .map_err(|_| StoreError::Inconsistent(format!("case {id:?}: malformed commitment")))?,
    );
    match store.ledger().content(&commitment).await? {
        crate::ContentState::Present { opening, .. } => serde_json::from_slice(&opening.content)
            .map(Some)
            .map_err(|e| StoreError::Inconsistent(format!("case {id:?}: {e}"))),
        crate::ContentState::Redacted { .. } => Ok(None),
    }
}

/// The `case.imported` leaf of a case version.
pub async fn case_leaf(store: &Store, id: &str, version: i64) -> Result<u64, StoreError> {
    let leaf: Option<i64> =
        sqlx::query_scalar("SELECT leaf FROM cases WHERE id = ? AND version = ?")
            .bind(id)
            .bind(version)
            .fetch_optional(store.db())
            .await?;
    leaf.map(|l| l as u64).ok_or_else(|| StoreError::NotFound {
        what: "case",
        id: format!("{id:?} version {version}"),
        hint: None,
    })
}

/// Latest versions of the cases a selector names, with their text.
///
/// Selector: `all`; `specialty:NAME`; `tag:TAG`; `prefix*`; or a
/// comma-separated list of ids. Erased cases are skipped. An unknown id is an error.
pub async fn select_cases(store: &Store, selector: &str) -> Result<Vec<(Case, i64)>, StoreError> {
    let all = list_cases(store).await?;
    let chosen: Vec<&StoredCase> = if selector == "all" {
        all.iter().collect()
    } else if let Some(s) = selector.strip_prefix("specialty:") {
        all.iter().filter(|c| c.specialty == s).collect()
    } else if let Some(t) = selector.strip_prefix("tag:") {
        all.iter()
            .filter(|c| c.tags.iter().any(|x| x == t))
            .collect()
    } else if let Some(p) = selector.strip_suffix('*') {
        all.iter().filter(|c| c.id.starts_with(p)).collect()
    } else {
        let mut out = Vec::new();
        for id in selector.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            out.push(
                all.iter()
                    .find(|c| c.id == id)
                    .ok_or_else(|| StoreError::NotFound {
                        what: "case",
                        id: format!("{id:?}"),
                        hint: None,
                    })?,
            );
        }
        out
    };
    let mut cases = Vec::with_capacity(chosen.len());
    for c in chosen {
        if let Some(case) = case_json(store, &c.id).await? {
            cases.push((case, c.version));
        }
    }
    Ok(cases)
}
