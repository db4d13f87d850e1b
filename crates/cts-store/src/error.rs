//! Errors of the storage layer.

use cts_ledger::{
    checkpoint::CheckpointError, event::EventError, tile::TileError, tree::TreeError, TreeSize,
};
use cts_review::review::ReviewError;

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
    /// The stored log contradicts itself; nothing was signed. The text
    /// describes the corruption found (which row, which leaf, which root).
    #[error("log is inconsistent: {0}")]
    Inconsistent(String),
    /// A checkpoint the log keeps does not verify with the log's key (it
    /// was forged or its key replaced); nothing was signed.
    #[error("log is inconsistent: {what} does not verify with the log's key ({source})")]
    Unverified {
        /// Which checkpoint: `checkpoint #3`, or the file kept beside the database.
        what: String,
        /// Why it failed to verify.
        source: CheckpointError,
    },
    /// Something asked for does not exist.
    #[error("no {what} {id}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    NotFound {
        /// The kind of thing: `case`, `user`, `checkpoint`, `leaf`.
        what: &'static str,
        /// How it was asked for, quoted where it is free text.
        id: String,
        /// What the user can do about it, e.g. ``see `cts eval list` ``.
        hint: Option<&'static str>,
    },
    /// A tree larger than the log was asked for.
    #[error("the log has {size} leaves, not {asked}")]
    LogTooShort {
        /// Leaves the log holds.
        size: TreeSize,
        /// Size asked for.
        asked: TreeSize,
    },
    /// A request was refused: one of its fields is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field refused: `username`, `password`, `rationale`, …
        field: &'static str,
        /// What is wrong with it and what would be accepted.
        reason: String,
    },
    /// A review body does not satisfy its rubric or the trace it edits.
    #[error("{0}")]
    Review(#[from] ReviewError),
    /// The request was made against a stale state (another tab, another
    /// reviewer) or would overwrite what is recorded; nothing was changed.
    #[error("conflict: {what} {id} {reason}")]
    Conflict {
        /// The kind of thing: `draft of trace`, `rubric`, `user`, …
        what: &'static str,
        /// Which one, quoted where it is free text.
        id: String,
        /// What happened to it and what to do.
        reason: String,
    },
    /// The actor may not do this.
    #[error("not allowed to {action}: {reason}")]
    Denied {
        /// What was attempted: `save this review`, `adjudicate`.
        action: &'static str,
        /// Why not.
        reason: String,
    },
    /// A checkpoint was signed and stored, but fewer witnesses cosigned it
    /// than the configuration requires.
    #[error(
        "witnessing: checkpoint #{checkpoint} (size {size}) is signed and stored with {got} \
         witness cosignatures, fewer than [log] witness_quorum = {need}; {detail}"
    )]
    Unwitnessed {
        /// The checkpoint's id.
        checkpoint: i64,
        /// Its tree size.
        size: TreeSize,
        /// Valid cosignatures collected.
        got: usize,
        /// Cosignatures required.
        need: usize,
        /// Why the others are missing, witness by witness.
        detail: String,
    },
    /// A value could not be encoded as JSON for the log or a table.
    #[error("encoding {what}: {source}")]
    Encode {
        /// What was being encoded: `review body`, `user specialties`.
        what: &'static str,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// An entry could not be packed into an entry bundle.
    #[error("writing an entry bundle: {0}")]
    Bundle(#[source] TileError),
    /// An append was asked to record no events.
    #[error("nothing to append")]
    EmptyAppend,
    /// A number does not fit the database's 64-bit signed integers.
    #[error("{0} is out of range for the database")]
    OutOfRange(u64),
    /// The writer's group commit failed, so this request's events were not
    /// recorded (every request in the group gets the same reason).
    #[error("the batch was not committed: {reason}")]
    NotCommitted {
        /// The failure, as the writer saw it.
        reason: String,
    },
    /// A file beside the database could not be read or written.
    #[error("{doing} {}: {source}", path.display())]
    File {
        /// What was being done: `reading`, `writing`, `moving the rebuilt database to`.
        doing: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A runtime for a blocking caller could not be started.
    #[error("starting a runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Hashing a password failed (the error is shown, not chained: without
    /// its `std` feature, `password-hash`'s error is not a `std` error).
    #[error("password hashing failed: {0}")]
    PasswordHash(argon2::password_hash::Error),
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
