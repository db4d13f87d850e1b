//! `cts generate`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use cts_generate::{generate, CaseInput, GenerateOptions};

use crate::output::Output;
use crate::project::Project;

/// Arguments of `cts generate`.
#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// Which cases: `all`, `specialty:NAME`, `tag:TAG`, `prefix*`, or ids separated by commas.
    #[arg(long, default_value = "all")]
    cases: String,
    /// Model: `default`, a .gguf path, or an OpenAI-compatible base URL (default: cts.toml [model] source).
    #[arg(long)]
    model: Option<String>,
    /// Samples per case.
    #[arg(long, default_value_t = 1)]
    samples: u32,
    /// Cases in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Most tokens per trace (default: cts.toml [model] max_tokens).
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Sampling temperature (default: cts.toml [model] temperature).
    #[arg(long)]
    temperature: Option<f32>,
}

/// Runs `cts generate`.
pub async fn run_generate(
    args: GenerateArgs,
    project: Option<&Path>,
    out: &Output,
) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let store = project.open_store().await?;
    let cases: Vec<CaseInput> = cts_store::cases::select_cases(&store, &args.cases)
        .await?
        .into_iter()
        .map(|(case, version)| CaseInput { case, version })
        .collect();
    if cases.is_empty() {
        bail!(
            "no cases match {:?}; import some with `cts cases import`",
            args.cases
        );
    }
    let mut params = super::model::params(&project.config.model);
    if let Some(m) = args.max_tokens {
        params.max_tokens = m;
    }
    if let Some(t) = args.temperature {
        params.temperature = t;
    }
    let model = super::model::open(
        args.model.as_deref(),
        &project.config.model,
        args.concurrency,
    )
    .await?;
    let opts = GenerateOptions {
        samples: args.samples.max(1),
        concurrency: args.concurrency,
        params,
        actor: project.actor(),
    };
    let bar = out.progress((cases.len() as u64) * u64::from(opts.samples), "generating");
    let progress_bar = bar.clone();
    let report = generate(
        &store,
        model,
        cases,
        &opts,
        Arc::new(move |done, total| {
            progress_bar.set_length(total as u64);
            progress_bar.set_position(done as u64);
        }),
    )
    .await?;
    bar.finish_and_clear();
    if report.generated > 0 {
        store.ledger().checkpoint(project.signer()?).await?;
    }
    out.emit(&report, || {
        let mut s = format!(
            "run {}: {} traces generated, {} already present (resumed), {} failed, {} tokens\n",
            report.run_key,
            report.generated,
            report.skipped,
            report.failed.len(),
            report.completion_tokens
        );
        for f in &report.failed {
            s.push_str(&format!(
                "  failed: {} sample {}: {}\n",
                f.case_id, f.sample, f.error
            ));
        }
        s
    });
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
