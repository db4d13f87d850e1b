//! `cts generate` and `cts traces …`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Result};
use cts_generate::{generate, CaseInput, GenerateOptions};
use cts_store::traces::{get_trace, list_traces};

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

/// `cts traces` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum TracesCommand {
    /// List traces.
    List {
        /// Only this case's traces.
        #[arg(long)]
        case: Option<String>,
    },
    /// Show one trace: prompt, output, steps, answer.
    Show {
        /// Trace id.
        id: String,
    },
}

/// Runs `cts generate`.
pub async fn run_generate(
    args: GenerateArgs,
    project: Option<&Path>,
    out: &Output,
) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let ledger = project.open_ledger().await?;
    let cases: Vec<CaseInput> = cts_store::cases::select_cases(&ledger, &args.cases)
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
        &ledger,
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
        ledger.checkpoint(project.signer()?).await?;
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

/// Runs a traces subcommand.
pub async fn run_traces(
    cmd: TracesCommand,
    project: Option<&Path>,
    out: &Output,
) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let ledger = project.open_ledger().await?;
    match cmd {
        TracesCommand::List { case } => {
            let traces = list_traces(&ledger, case.as_deref()).await?;
            out.emit(&traces, || {
                traces
                    .iter()
                    .map(|t| {
                        format!(
                            "{:<60} steps {:<3} answer {:<2} tokens {:<5} leaf {}\n",
                            t.id,
                            t.steps,
                            t.answer_choice.as_deref().unwrap_or("-"),
                            t.completion_tokens,
                            t.leaf
                        )
                    })
                    .collect()
            });
        }
        TracesCommand::Show { id } => {
            let (trace, document) = get_trace(&ledger, &id).await?;
            let value = serde_json::json!({ "trace": trace, "document": document });
            out.emit(&value, || {
                let Some(doc) = &document else {
                    return format!("trace {id} (leaf {}): content erased\n", trace.leaf);
                };
                let mut s = format!(
                    "trace {id} (leaf {}), model {}\n",
                    trace.leaf, trace.model["name"]
                );
                for (i, step) in doc.segmentation.steps.iter().enumerate() {
                    s.push_str(&format!("  step {}: {}\n", i + 1, step.text));
                }
                s.push_str(&format!(
                    "  answer: {}\n",
                    doc.answer_text().unwrap_or("(none)")
                ));
                s
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
