//! The log engine: the tamper-evident transparency log and nothing else.
//!
//! It owns four tables, private to this module: `entry_bundles` (the events,
//! 256 to a bundle), `tiles` (the Merkle tree's hash tiles), `content` (the
//! salted openings of content commitments) and `checkpoints` (signed notes
//! and their cosignatures). No SQL outside this module names them.
//!
//! What the rest of the store (the domain tables: cases, traces, users,
//! review, datasets, releases, policies, run records) gets from it is the
//! seam a second backend (PostgreSQL) will implement:
//!
//! - **writes**: [`Ledger::append_prepared`] (and its shorthands) with an
//!   [`AppendHook`] that writes domain rows in the same transaction as the
//!   events, so a table row exists only if its event does;
//! - **log reads**: entries, content openings, checkpoints and proofs through
//!   [`Ledger`]'s methods, and, for bulk passes on a blocking thread,
//!   [`read::for_each_entry_blocking`] and [`read::ContentLookup`];
//! - **audit**: [`Ledger::audit`] and [`Ledger::audit_anchor`] check the log
//!   alone; the projection check (`crate::projection`) then checks the
//!   domain tables against it.
//!
//! Domain reads use the [`crate::Store`]'s own pool, never the log's.

/// The log engine's tables, in the order a rebuild copies them.
pub const TABLES: [&str; 4] = ["entry_bundles", "tiles", "content", "checkpoints"];

/// SQL text: ` LEFT JOIN` of the log's content openings as `$alias` on the
/// commitment column `$on`, for domain queries that read openings in bulk
/// (a release build). The join gives `$alias.salt`, `$alias.bytes` and
/// `$alias.redacted_leaf`; the caller checks each opening against its
/// commitment.
macro_rules! content_join {
    ($alias:literal, $on:literal) => {
        concat!(
            " LEFT JOIN content ",
            $alias,
            " ON ",
            $alias,
            ".commitment = ",
            $on,
            " "
        )
    };
}
pub(crate) use content_join;

pub mod audit;
mod ledger;
pub mod read;

pub use audit::{AuditFailure, AuditReport};
pub use ledger::{
    anchor_path, AppendHook, CheckpointHook, ContentPresence, ContentState, Ledger,
    StoredCheckpoint,
};
