//! One module per top-level subcommand.

pub mod bench;
pub mod cases;
pub mod dataset;
pub mod eval;
pub mod generate;
pub mod init;
pub mod ledger;
pub mod model;
pub mod provenance;
pub mod redteam;
pub mod rubric;
pub mod serve;
pub mod serve_model;
pub mod traces;
pub mod train;
pub mod user;
pub mod verify;
pub mod witness;

/// The actor recorded for commands run from the CLI: `cli:<OS user>`.
pub fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(os_user_name)
        .unwrap_or_else(|| "unknown".into());
    format!("cli:{user}")
}

/// The name of the user running this process, from its uid and
/// `/etc/passwd` (when `USER` is unset, as under service managers and CI),
/// else `uid-<n>`.
fn os_user_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid.to_string()).then(|| name.to_owned())
    });
    Some(name.unwrap_or_else(|| format!("uid-{uid}")))
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
