//! `cts traces …`: list and show stored reasoning traces.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use cts_store::traces::{get_trace, list_traces};

use crate::output::Output;
use crate::project::Project;

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

/// Runs a traces subcommand.
pub async fn run_traces(
    cmd: TracesCommand,
    project: Option<&Path>,
    out: &Output,
) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let store = project.open_store().await?;
    match cmd {
        TracesCommand::List { case } => {
            let traces = list_traces(&store, case.as_deref()).await?;
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
            let (trace, document) = get_trace(&store, &id).await?;
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
