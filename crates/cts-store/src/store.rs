//! The store handle: the log engine plus the domain tables projected from it.

use std::path::Path;

use sqlx::SqlitePool;

use crate::db::Schema;
use crate::log::Ledger;
use crate::StoreError;

/// Handle to a CTS store; cheap to clone.
///
/// Two halves behind one file, joined at one seam:
/// - [`Store::ledger`], the log engine (appends, checkpoints, proofs,
///   content, audit). Every domain change is an event appended through it,
///   with an [`crate::AppendHook`] writing the rows in the same transaction.
/// - [`Store::db`], the pool for the domain tables (cases, traces, users,
///   review, datasets, releases, policies, run records). It never reads or
///   writes the log's tables; the functions in this crate's domain modules
///   take a `&Store` and use these two.
///
/// A PostgreSQL backend implements the same two halves.
#[derive(Clone, Debug)]
pub struct Store {
    ledger: Ledger,
    db: SqlitePool,
}

impl Store {
    /// Opens (creating and migrating if needed) the store at `path` and
    /// starts its log writer.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_to(path, Schema::Current).await
    }

    /// Opens the store with its schema brought only as far as `schema`
    /// allows (see [`Schema::BeforeUniqueNames`], for `cts user rename`).
    pub async fn open_to(path: &Path, schema: Schema) -> Result<Self, StoreError> {
        let ledger = Ledger::open_to(path, schema).await?;
        let db = ledger.domain_pool();
        Ok(Self { ledger, db })
    }

    /// The log engine.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The domain tables' connection pool.
    pub fn db(&self) -> &SqlitePool {
        &self.db
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.ledger.path()
    }
}
