//! Clinical cases for CTS: the [`Case`] model, importers for the file formats
//! cases arrive in, a heuristic PHI guard, and the built-in synthetic
//! quick-start set.
//!
//! This crate is pure: it reads files when asked to, but knows nothing about
//! the database, the ledger, the network or any model.

pub mod case;
pub mod import;
pub mod phi;
pub mod synthetic;

pub use case::{option_label, Case, CaseId, FieldProblem};
pub use import::{ImportError, ImportIssue, ParsedCase};
pub use phi::{PhiFinding, PhiKind};
