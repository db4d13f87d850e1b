//! Opening the SQLite database with the settings the ledger's guarantees need.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::StoreError;

/// How long a connection waits for another's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection options: WAL, `synchronous=FULL` (a commit is fsync'd), a busy
/// timeout, foreign keys. Public (as `connect_options`) so that benchmark
/// baselines use plain SQLite on the same terms as the ledger.
pub fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::from_str("sqlite:")
        .unwrap_or_default()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
}

/// A rusqlite connection to the same file for bulk work on a blocking
/// thread (dataset reads, the example index), with the pool's busy timeout.
pub(crate) fn bulk_connection(
    path: &Path,
    read_only: bool,
) -> Result<rusqlite::Connection, StoreError> {
    use rusqlite::OpenFlags;
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// How far [`open_pool_to`] may bring a store's schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// Every migration (what every command but one uses).
    Current,
    /// For `cts user rename` only: a store still holding usernames that
    /// differ only in case stops before [`UNIQUE_NAMES`], so that the
    /// duplicates can be renamed (ledgered) before that migration makes
    /// names unique regardless of case. Any other store migrates fully.
    BeforeUniqueNames,
}

/// The migration that makes usernames unique regardless of case
/// (`0007_workbench.sql`).
pub const UNIQUE_NAMES: i64 = 7;

/// Opens (creating if needed) the database at `path` and brings its schema up to date.
pub async fn open_pool(path: &Path) -> Result<SqlitePool, StoreError> {
    open_pool_to(path, Schema::Current).await
}

/// Opens the database at `path` and migrates it as far as `schema` allows.
///
/// Before [`UNIQUE_NAMES`] runs, accounts whose usernames differ only in
/// case (which releases before it allowed) are looked for: the migration
/// would fail on them with a bare constraint message. With
/// [`Schema::Current`] they are a [`StoreError::CaseDuplicateUsernames`]
/// naming every group, and nothing is migrated past the schema the store
/// already had.
pub async fn open_pool_to(path: &Path, schema: Schema) -> Result<SqlitePool, StoreError> {
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options(path))
        .await?;
    let duplicates = if applied(&pool, UNIQUE_NAMES).await? {
        Vec::new()
    } else {
        case_duplicate_usernames(&pool).await?
    };
    if duplicates.is_empty() {
        sqlx::migrate!("./migrations").run(&pool).await?;
        return Ok(pool);
    }
    migrations_before(UNIQUE_NAMES).run(&pool).await?;
    match schema {
        Schema::BeforeUniqueNames => Ok(pool),
        Schema::Current => Err(StoreError::CaseDuplicateUsernames {
            path: path.to_owned(),
            groups: duplicates,
        }),
    }
}

/// The schema migrations older than `version` (a store as a release before
/// `version` left it; tests build such stores with it).
pub fn migrations_before(version: i64) -> sqlx::migrate::Migrator {
    sqlx::migrate::Migrator {
        migrations: sqlx::migrate!("./migrations")
            .migrations
            .iter()
            .filter(|m| m.version < version)
            .cloned()
            .collect(),
        ..sqlx::migrate::Migrator::DEFAULT
    }
}

/// Whether migration `version` has been applied (false on a new file).
async fn applied(pool: &SqlitePool, version: i64) -> Result<bool, StoreError> {
    let has_table: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await?;
    if has_table.is_none() {
        return Ok(false);
    }
    let row: Option<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE version = ? AND success")
            .bind(version)
            .fetch_optional(pool)
            .await?;
    Ok(row.is_some())
}

/// Groups of usernames equal when case is ignored (each group sorted, the
/// groups in name order); empty on a store without accounts.
pub(crate) async fn case_duplicate_usernames(
    pool: &SqlitePool,
) -> Result<Vec<Vec<String>>, StoreError> {
    let has_users: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'users'",
    )
    .fetch_optional(pool)
    .await?;
    if has_users.is_none() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT username FROM users WHERE username COLLATE NOCASE IN
           (SELECT username FROM users GROUP BY username COLLATE NOCASE HAVING count(*) > 1)
         ORDER BY username COLLATE NOCASE, username",
    )
    .fetch_all(pool)
    .await?;
    let mut groups: Vec<Vec<String>> = Vec::new();
    for name in names {
        match groups.last_mut() {
            Some(g) if g[0].eq_ignore_ascii_case(&name) => g.push(name),
            _ => groups.push(vec![name]),
        }
    }
    Ok(groups)
}
