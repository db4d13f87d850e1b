//! Baselines for `cts bench`: the same rows inserted into plain SQLite.

use std::path::Path;

use sqlx::{Connection, QueryBuilder, SqliteConnection};

use crate::db::options;
use crate::StoreError;

/// Inserts `(kind, entry)` rows into a plain table with the ledger's
/// settings (WAL, `synchronous=FULL`), `batch` rows per transaction, in
/// multi-row statements — what a careful application would do without a log.
pub async fn plain_insert(
    path: &Path,
    rows: &[(String, Vec<u8>)],
    batch: usize,
) -> Result<(), StoreError> {
    let mut conn = SqliteConnection::connect_with(&options(path)).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS plain (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, entry BLOB NOT NULL)")
        .execute(&mut conn)
        .await?;
    let mut id: i64 = 0;
    for tx_rows in rows.chunks(batch.max(1)) {
        let mut tx = conn.begin().await?;
        for chunk in tx_rows.chunks(500) {
            let mut q = QueryBuilder::new("INSERT INTO plain (id, kind, entry) ");
            q.push_values(chunk, |mut b, (kind, entry)| {
                b.push_bind(id)
                    .push_bind(kind.as_str())
                    .push_bind(&entry[..]);
                id += 1;
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
