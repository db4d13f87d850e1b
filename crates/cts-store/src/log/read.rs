//! The log's reads that domain code needs in bulk, kept here so that only
//! the log engine names its tables: entries in leaf order, content
//! openings by commitment, and the content check of edit events.

use cts_ledger::{Commitment, Opening, Salt, TreeSize};
use rusqlite::OptionalExtension;
use sqlx::Row;

use super::Ledger;
use crate::StoreError;

type SaltAndBytes = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Looks up content openings by commitment on a rusqlite connection (a
/// blocking pass: the projection check, rebuild).
pub struct ContentLookup<'c> {
    opening: rusqlite::Statement<'c>,
    state: rusqlite::Statement<'c>,
}

impl<'c> ContentLookup<'c> {
    /// Prepares the lookups on `conn`.
    pub fn new(conn: &'c rusqlite::Connection) -> Result<Self, StoreError> {
        Ok(Self {
            opening: conn.prepare("SELECT salt, bytes FROM content WHERE commitment = ?")?,
            state: conn
                .prepare("SELECT bytes IS NULL, redacted_leaf FROM content WHERE commitment = ?")?,
        })
    }

    /// The content behind `c` if it is present and opens its commitment.
    pub fn get(&mut self, c: &Commitment) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<SaltAndBytes> = self
            .opening
            .query_row([&c.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match row {
            Some((Some(salt), Some(bytes))) => <[u8; 32]>::try_from(salt.as_slice())
                .ok()
                .map(|s| Opening::new(Salt(s), bytes))
                .filter(|o| o.opens(c))
                .map(|o| o.content),
            _ => None,
        })
    }

    /// Whether the content behind `c` is erased, and the leaf of the
    /// redaction that erased it; `None` when the log holds no row for `c`.
    pub fn erasure(&mut self, c: &Commitment) -> Result<Option<(bool, Option<i64>)>, StoreError> {
        Ok(self
            .state
            .query_row([&c.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}

/// Calls `f` with every entry bundle of the log in order, as (bundle
/// index, bytes), on `conn` (a blocking pass).
pub fn for_each_bundle_blocking(
    conn: &rusqlite::Connection,
    mut f: impl FnMut(i64, &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare("SELECT idx, entries FROM entry_bundles ORDER BY idx")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let idx: i64 = row.get(0)?;
        let bytes = row
            .get_ref(1)?
            .as_blob()
            .map_err(|e| StoreError::Inconsistent(format!("entry bundle {idx}: {e}")))?;
        f(idx, bytes)?;
    }
    Ok(())
}

impl Ledger {
    /// Calls `f` with every entry bundle of the log in order, as (bundle
    /// index, bytes), 64 bundles per query: the plainest pass over the
    /// events (the audit benchmark's baseline).
    pub async fn for_each_bundle(
        &self,
        mut f: impl FnMut(i64, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut next: i64 = 0;
        loop {
            let rows = sqlx::query(
                "SELECT idx, entries FROM entry_bundles WHERE idx >= ? ORDER BY idx LIMIT 64",
            )
            .bind(next)
            .fetch_all(self.pool())
            .await?;
            let Some(last) = rows.last() else { break };
            next = last.try_get::<i64, _>(0)? + 1;
            for r in &rows {
                f(r.try_get(0)?, r.try_get(1)?)?;
            }
        }
        Ok(())
    }

    /// Calls `f` with the stored bytes of every piece of content, in the
    /// order of the leaves that committed to them; erased content is
    /// skipped. No opening is checked (the dataset benchmark's baseline).
    pub async fn for_each_content<E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        use futures_util::StreamExt;
        let mut rows =
            sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT bytes FROM content ORDER BY leaf")
                .fetch(self.pool());
        while let Some(row) = rows.next().await {
            if let Some(bytes) = row.map_err(StoreError::from)? {
                f(&bytes)?;
            }
        }
        Ok(())
    }

    /// Bytes of hashes stored in the log's tiles.
    pub async fn hash_tile_bytes(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(SUM(length(hashes)), 0) FROM tiles")
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Checks the content of `step.edited` events at `leaves` against their
    /// commitments; returns what is wrong with the first that fails.
    pub async fn check_edit_content(&self, leaves: &[u64]) -> Result<Option<String>, StoreError> {
        for &leaf in leaves {
            let rows = sqlx::query(
                "SELECT commitment, salt, bytes, redacted_leaf FROM content WHERE leaf = ?",
            )
            .bind(leaf as i64)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                return Ok(Some(format!("edit at leaf {leaf}: its content is missing")));
            }
            for row in rows {
                let raw: Vec<u8> = row.try_get(0)?;
                let commitment = <[u8; 32]>::try_from(raw.as_slice())
                    .map(Commitment)
                    .map_err(|_| {
                        StoreError::Inconsistent(format!(
                            "edit at leaf {leaf}: malformed commitment"
                        ))
                    })?;
                if row.try_get::<Option<i64>, _>(3)?.is_some() {
                    continue;
                }
                let salt: Option<Vec<u8>> = row.try_get(1)?;
                let bytes: Option<Vec<u8>> = row.try_get(2)?;
                let intact = match (salt, bytes) {
                    (Some(salt), Some(bytes)) => <[u8; 32]>::try_from(salt.as_slice())
                        .map(|s| Opening::new(Salt(s), bytes).opens(&commitment))
                        .unwrap_or(false),
                    _ => false,
                };
                if !intact {
                    return Ok(Some(format!(
                        "edit at leaf {leaf}: stored content does not match its commitment {commitment}"
                    )));
                }
            }
        }
        Ok(None)
    }
}

/// Calls `f` with the entry of every leaf below `size` that `wanted`
/// accepts, in leaf order, reading the entry bundles in one pass on the
/// calling thread (call it from a blocking task).
pub fn for_each_entry_blocking<E: From<StoreError>>(
    path: &std::path::Path,
    size: TreeSize,
    wanted: impl Fn(u64) -> bool,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let width = cts_ledger::tile::TILE_WIDTH;
    let conn = crate::db::bulk_connection(path, true)?;
    let mut stmt = conn
        .prepare("SELECT idx, entries FROM entry_bundles WHERE idx < ?1 ORDER BY idx")
        .map_err(StoreError::from)?;
    let mut rows = stmt
        .query([size.0.div_ceil(width) as i64])
        .map_err(StoreError::from)?;
    let mut expect = 0u64;
    while let Some(row) = rows.next().map_err(StoreError::from)? {
        let idx = row.get::<_, i64>(0).map_err(StoreError::from)? as u64;
        if idx != expect {
            return Err(
                StoreError::Inconsistent(format!("entry bundle {expect} is missing")).into(),
            );
        }
        expect += 1;
        let start = idx * width;
        let end = (start + width).min(size.0);
        if !(start..end).any(&wanted) {
            continue;
        }
        let bytes = row
            .get_ref(1)
            .map_err(StoreError::from)?
            .as_blob()
            .map_err(|e| StoreError::Inconsistent(format!("entry bundle {idx}: {e}")))?;
        let entries = cts_ledger::tile::split_bundle(bytes)
            .map_err(|e| StoreError::Inconsistent(format!("entry bundle {idx}: {e}")))?;
        for (i, entry) in entries.into_iter().enumerate() {
            let leaf = start + i as u64;
            if leaf < end && wanted(leaf) {
                f(leaf, entry)?;
            }
        }
    }
    if expect < size.0.div_ceil(width) {
        return Err(StoreError::Inconsistent(format!("entry bundle {expect} is missing")).into());
    }
    Ok(())
}
