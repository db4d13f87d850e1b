//! One module per top-level subcommand.

pub mod bench;
pub mod bench_dataset;
pub mod bench_review;
pub mod cases;
pub mod dataset;
pub mod generate;
pub mod init;
pub mod ledger;
pub mod model;
pub mod provenance;
pub mod rubric;
pub mod serve;
pub mod serve_model;
pub mod user;
pub mod verify;

/// The actor recorded for commands run from the CLI: `cli:<OS user>`.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}
