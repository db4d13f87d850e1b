//! Storage for CTS: the ledger, its content and checkpoints in embedded SQLite.
//!
//! One writer task owns the write connection and group-commits appends: a
//! batch of requests becomes one `BEGIN IMMEDIATE … COMMIT` with
//! `synchronous=FULL`, so an append is acknowledged only once it is durable,
//! and a crash leaves either the whole batch or none of it. Each request is
//! its own savepoint, so one bad request fails alone. The tiles written in
//! the same transaction keep the tree and the events in agreement.
//!
//! Not here: Merkle math, encodings and signatures (`cts-ledger`).

pub mod audit;
pub mod cases;
pub mod datasets;
mod db;
mod error;
pub mod evals;
pub mod healthbench;
mod ledger;
pub mod policies;
pub mod projection;
pub mod redteam;
pub mod releases;
pub mod review;
mod run_records;
pub mod seed;
pub mod traces;
pub mod users;

pub use audit::{audit, audit_anchor, audit_ledger, AuditFailure, AuditReport};
pub use db::{
    migrations_before, open_pool, open_pool_to, options as connect_options, Schema, UNIQUE_NAMES,
};
pub use error::StoreError;
pub use ledger::{
    anchor_path, AppendHook, CheckpointHook, ContentPresence, ContentState, Ledger,
    StoredCheckpoint,
};
