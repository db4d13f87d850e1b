//! `cts init`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use cts_ledger::{EventDraft, EventKind};
use cts_store::Store;

use crate::output::Output;
use crate::project::Project;

/// Arguments of `cts init`.
#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Folder to create the project in.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The log's origin (its name in checkpoints); default `cts.local/<folder>-<random>`.
    #[arg(long)]
    origin: Option<String>,
}

/// Creates the project, its database and a first `log.created` event and checkpoint.
pub async fn run(args: InitArgs, out: &Output) -> Result<ExitCode> {
    let project = Project::init(&args.dir, args.origin.as_deref())?;
    let store = Store::open(&project.database_path()).await?;
    let verifier = project.verifier()?;
    let leaf = store.ledger()
        .append(
            EventDraft::new(EventKind::new("log.created")?, project.actor())
                .subject(format!("log:{}", project.config.log.origin))
                .body(serde_json::json!({ "origin": project.config.log.origin, "verifier_key": verifier.key_text() })),
        )
        .await?;
    let cp = store.ledger().checkpoint(project.signer()?).await?;
    out.emit(
        &serde_json::json!({
            "project": project.dir, "origin": project.config.log.origin,
            "verifier_key": verifier.key_text(), "leaf": leaf, "checkpoint": cp.id,
        }),
        || {
            format!(
                "Created CTS project in {}\n  log origin:    {}\n  verifier key:  {}\n  signing key:   {} (mode 0600; keep it secret)\n",
                project.dir.display(),
                project.config.log.origin,
                verifier.key_text(),
                project.dir.join(&project.config.log.signing_key).display()
            )
        },
    );
    Ok(ExitCode::SUCCESS)
}
