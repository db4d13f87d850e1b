//! `cts rubric`: show and check review rubrics.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::output::Output;
use crate::project::Project;

/// `cts rubric …`.
#[derive(Subcommand, Debug)]
pub enum RubricCommand {
    /// Print the rubric the project reviews with (TOML; --json for the parsed form).
    Show,
    /// Check a rubric file; errors name the line and field.
    Check {
        /// The rubric TOML file.
        file: PathBuf,
    },
}

/// Runs a `cts rubric` command.
pub async fn run(cmd: RubricCommand, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    match cmd {
        RubricCommand::Show => {
            let cfg = Project::find(project)?.review_config()?;
            out.emit(&cfg.rubric, || cfg.rubric_source.clone());
        }
        RubricCommand::Check { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let rubric = cts_review::Rubric::parse(&text, &file.display().to_string())?;
            out.emit(
                &serde_json::json!({ "rubric": rubric.key(), "digest": rubric.digest(), "ok": true }),
                || format!("{}: {} is valid (digest {})\n", file.display(), rubric.key(), rubric.digest()),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
