//! Errors of the storage layer.

use cts_ledger::{checkpoint::CheckpointError, event::EventError, tree::TreeError};

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A bulk read (rusqlite) failed.
    #[error("database: {0}")]
    Read(#[from] rusqlite::Error),
    /// Migrating the schema failed.
    #[error("database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An event is invalid.
    #[error("event: {0}")]
    Event(#[from] EventError),
    /// The tree could not answer.
    #[error("{0}")]
    Tree(#[from] TreeError),
    /// A checkpoint could not be made or read.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The stored log contradicts itself; nothing was signed.
    #[error("log is inconsistent: {0}")]
    Inconsistent(String),
    /// Something asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A request was refused.
    #[error("{0}")]
    Invalid(String),
    /// The request was made against a stale state (another tab, another
    /// reviewer); nothing was changed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The actor may not do this.
    #[error("not allowed: {0}")]
    Denied(String),
    /// A checkpoint was signed and stored, but fewer witnesses cosigned it
    /// than the configuration requires.
    #[error("witnessing: {0}")]
    Unwitnessed(String),
    /// The store holds accounts whose usernames differ only in case (an
    /// earlier release allowed them); this release makes usernames unique
    /// regardless of case, so its schema migration cannot run until all but
    /// one of each group are renamed. Nothing was migrated.
    #[error(
        "{}: accounts whose usernames differ only in case: {}; usernames are now unique \
         regardless of case, so this store cannot be upgraded until all but one name of \
         each group is changed with `cts user rename OLD NEW` (ledgered; it runs on this \
         store as it is)",
        path.display(),
        groups.iter().map(|g| g.join(" / ")).collect::<Vec<_>>().join("; ")
    )]
    CaseDuplicateUsernames {
        /// The database file.
        path: std::path::PathBuf,
        /// Each group of equal-but-for-case names.
        groups: Vec<Vec<String>>,
    },
    /// The writer task has stopped.
    #[error("the ledger writer has stopped")]
    WriterGone,
}
