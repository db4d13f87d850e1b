//! Witnessing for CTS logs: C2SP `tlog-cosignature` v1 and `tlog-witness`.
//!
//! A witness remembers, per log, the latest tree it cosigned, and cosigns a
//! new checkpoint only when it extends that tree. A log that collects
//! cosignatures can no longer roll back or fork unnoticed: the witnesses
//! remember, and verifiers require their cosignatures.
//!
//! The pure core — cosignatures (`cosignature`), the request format
//! (`request`), the state machine (`witness`), verifier policies (`policy`) —
//! has no I/O. `state` keeps the witness's memory in files; with the `net`
//! feature, `server` (axum) and `client` (reqwest) speak the HTTP protocol.

#[cfg(feature = "net")]
pub mod client;
pub mod cosignature;
pub mod policy;
pub mod request;
#[cfg(feature = "net")]
pub mod server;
pub mod state;
pub mod witness;

pub use cosignature::{
    add_signature_lines, open_cosigned, Cosignature, CosignatureError, CosignatureVerifier,
    CosignedCheckpoint, Cosigner,
};
pub use policy::{PolicyError, WitnessPolicy};
pub use request::{AddCheckpointRequest, RequestError};
pub use witness::{Refusal, Witness, WitnessedTree};
