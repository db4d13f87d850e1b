//! Storage for CTS in embedded SQLite: the log engine ([`log`]) and the
//! domain tables projected from it, joined in one [`Store`] handle.
//!
//! One writer task owns the write connection and group-commits appends: a
//! batch of requests becomes one `BEGIN IMMEDIATE … COMMIT` with
//! `synchronous=FULL`, so an append is acknowledged only once it is durable,
//! and a crash leaves either the whole batch or none of it. Each request is
//! its own savepoint, so one bad request fails alone. The tiles written in
//! the same transaction keep the tree and the events in agreement.
//!
//! Not here: Merkle math, encodings and signatures (`cts-ledger`).

pub mod cases;
pub mod datasets;
mod db;
mod error;
pub mod evals;
pub mod healthbench;
pub mod log;
pub mod policies;
pub mod projection;
pub mod redteam;
pub mod releases;
pub mod review;
mod run_records;
pub mod seed;
mod store;
pub mod traces;
pub mod users;

pub use db::{migrations_before, options as connect_options, Schema, UNIQUE_NAMES};
pub use error::StoreError;
pub use log::{
    anchor_path, AppendHook, AuditFailure, AuditReport, CheckpointHook, ContentPresence,
    ContentState, Ledger, StoredCheckpoint,
};
pub use store::Store;
