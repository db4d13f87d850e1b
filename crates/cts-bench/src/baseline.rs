//! The plain-SQLite baselines the ledger and dataset figures are measured
//! against: what a careful application would do without a log.
//!
//! A baseline is the least work that reaches the same bytes, without CTS's
//! code in between: the log's bundles and content come through the log
//! engine's plain scans (`Ledger::for_each_bundle`, `for_each_content`),
//! which run one query each and check nothing.

use std::path::Path;

use anyhow::{Context, Result};
use cts_store::Store;
use sqlx::{Connection, QueryBuilder, SqliteConnection};

/// Inserts `(kind, entry)` rows into a plain table with the ledger's
/// settings (WAL, `synchronous=FULL`), `batch` rows per transaction, in
/// multi-row statements — what a careful application would do without a log.
pub async fn plain_insert(path: &Path, rows: &[(String, Vec<u8>)], batch: usize) -> Result<()> {
    let mut conn = SqliteConnection::connect_with(&cts_store::connect_options(path)).await?;
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

/// Reads every entry bundle of the log in order and hashes each entry as a
/// leaf, on one core: the audit's least possible work. Returns the entries hashed.
pub async fn read_and_hash(store: &Store) -> Result<u64> {
    let mut hashed = 0u64;
    store
        .ledger()
        .for_each_bundle(|idx, bundle| {
            let entries = cts_ledger::tile::split_bundle(bundle).map_err(|e| {
                cts_store::StoreError::Inconsistent(format!("entry bundle {idx}: {e}"))
            })?;
            for e in entries {
                std::hint::black_box(cts_ledger::leaf_hash(e));
                hashed += 1;
            }
            Ok(())
        })
        .await?;
    Ok(hashed)
}

/// Bytes of hashes stored in the log's tiles.
pub async fn hash_tile_bytes(store: &Store) -> Result<i64> {
    Ok(store.ledger().hash_tile_bytes().await?)
}

/// Baseline for the dataset benchmark: streams every content row of the
/// store, in log order, into a file, one line each (no parsing, no
/// derivation, no hashing). Returns the rows written.
pub async fn dump_content(store: &Store, out: &Path) -> Result<u64> {
    use std::io::Write;
    let file = std::fs::File::create(out).with_context(|| format!("{}", out.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
    let mut n = 0u64;
    store
        .ledger()
        .for_each_content(|bytes| {
            w.write_all(bytes)
                .and_then(|_| w.write_all(b"\n"))
                .with_context(|| format!("{}", out.display()))?;
            n += 1;
            anyhow::Ok(())
        })
        .await?;
    w.flush().with_context(|| format!("{}", out.display()))?;
    w.get_ref()
        .sync_all()
        .with_context(|| format!("{}", out.display()))?;
    Ok(n)
}
