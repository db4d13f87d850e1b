//! `cts serve`: the clinician review workbench.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::output::Output;
use crate::project::Project;

/// Arguments of `cts serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default from cts.toml `[serve] listen`, 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
}

/// Starts the workbench and serves until Ctrl-C.
pub async fn run(args: ServeArgs, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let store = project.open_store().await?;
    let review = project.review_config()?;
    cts_store::review::register_rubric(
        &store,
        &project.actor(),
        &review.rubric,
        &review.rubric_source,
    )
    .await
    .context("registering the review rubric")?;
    let queued = cts_store::review::sync_queue(&store, &review).await?;
    let admins = cts_store::users::list_users(&store)
        .await?
        .iter()
        .filter(|u| u.role == cts_store::users::Role::Admin && !u.disabled)
        .count();
    let listen = args
        .listen
        .unwrap_or_else(|| project.config.serve.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let serve = &project.config.serve;
    let state = Arc::new(cts_web::AppState {
        store,
        review,
        signer: project.signer()?,
        verifier: project.verifier()?,
        session_seconds: i64::from(serve.session_hours.max(1)) * 3600,
        login_limiter: cts_web::auth::RateLimiter::new(serve.login_attempts_per_minute.max(1)),
    });
    out.emit(
        &serde_json::json!({ "url": format!("http://{addr}/"), "listen": addr.to_string(), "queued": queued, "admins": admins }),
        || {
            let mut s = format!("CTS workbench on http://{addr}/ (Ctrl-C stops)\n");
            if queued > 0 {
                s.push_str(&format!("{queued} new trace(s) queued for review\n"));
            }
            if admins == 0 {
                s.push_str("no admin account yet: create one with `cts user add NAME --role admin`\n");
            }
            s
        },
    );
    cts_web::serve(
        listener,
        state,
        Duration::from_secs(serve.checkpoint_seconds.max(1)),
        super::shutdown_signal(),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
