//! One module per top-level subcommand.

pub mod bench;
pub mod bench_dataset;
pub mod bench_loglik;
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

/// Resolves on Ctrl-C or SIGTERM (what service managers and `docker stop`
/// send), so servers finish in-flight requests and their last checkpoint.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
