//! `cts cases …`: import clinical cases (JSONL, CSV, PubMedQA, MMLU, MedQA,
//! MedMCQA, a user benchmark JSONL, or the built-in synthetic set) and list them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cts_cases::import::{
    read_bench_jsonl, read_csv, read_jsonl, read_medmcqa, read_medqa, read_mmlu, read_pubmedqa,
    records_to_cases, BenchRecord, ImportError,
};
use cts_cases::{phi, synthetic, ParsedCase};
use cts_store::cases::{import_cases, list_cases};

use crate::output::Output;
use crate::project::Project;

/// Input formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    /// One JSON object per line: id, specialty, question, options, reference_answer, tags, source.
    Jsonl,
    /// CSV with a header row; options and tags are `|`-separated.
    Csv,
    /// PubMedQA's ori_pqal.json.
    Pubmedqa,
    /// An MMLU CSV file (question, A, B, C, D, answer), e.g. clinical_knowledge_test.csv.
    Mmlu,
    /// MedQA (USMLE) JSONL: question, options {A..D|E}, answer_idx, answer, meta_info.
    Medqa,
    /// MedMCQA JSONL: original (opa..opd, cop 1-4), options + answer_idx, or choices + 0-based answer.
    Medmcqa,
    /// A user benchmark JSONL: question, options (object or list), answer label, optional id, subject, context.
    BenchJsonl,
}

/// `cts cases` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum CasesCommand {
    /// Import cases atomically (all or none); identical re-imports are no-ops.
    Import {
        /// File to import (omit with --synthetic).
        file: Option<PathBuf>,
        /// Format (default: from the extension: .jsonl, .csv; PubMedQA for .json).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Import the 20 built-in synthetic medication-safety vignettes.
        #[arg(long, conflicts_with = "file")]
        synthetic: bool,
        /// Record a changed case with a known id as a new version instead of refusing.
        #[arg(long)]
        new_version: bool,
        /// Import even if the PHI guard flags likely identifiers (recorded in the log).
        #[arg(long)]
        allow_phi: bool,
    },
    /// List the latest version of every case.
    List,
}

/// Benchmark records as cases, sourced `<what> (<file name>)`.
fn bench_cases(
    file: &Path,
    records: Result<Vec<BenchRecord>, ImportError>,
    benchmark: &str,
    what: &str,
) -> Result<Vec<ParsedCase>, ImportError> {
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    records_to_cases(
        &file.display().to_string(),
        &records?,
        benchmark,
        &format!("{what} ({name})"),
    )
}

fn read(file: &Path, format: Option<Format>) -> Result<Vec<ParsedCase>> {
    let format = match format {
        Some(f) => f,
        None => match file.extension().and_then(|e| e.to_str()) {
            Some("jsonl") => Format::Jsonl,
            Some("csv") => Format::Csv,
            Some("json") => Format::Pubmedqa,
            _ => bail!(
                "{}: cannot tell the format from the extension; pass --format",
                file.display()
            ),
        },
    };
    let parsed = match format {
        Format::Jsonl => read_jsonl(file),
        Format::Csv => read_csv(file),
        Format::Pubmedqa => read_pubmedqa(file),
        Format::Mmlu => read_mmlu(file),
        Format::Medqa => bench_cases(file, read_medqa(file), "medqa", "MedQA"),
        Format::Medmcqa => {
            let parsed = read_medmcqa(file).map(|f| {
                eprintln!("{}: MedMCQA shape: {}", file.display(), f.shape);
                f.records
            });
            bench_cases(file, parsed, "medmcqa", "MedMCQA")
        }
        Format::BenchJsonl => bench_cases(file, read_bench_jsonl(file), "benchmark", "benchmark"),
    };
    parsed.map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs a cases subcommand.
pub async fn run(cmd: CasesCommand, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let store = project.open_store().await?;
    match cmd {
        CasesCommand::Import {
            file,
            format,
            synthetic,
            new_version,
            allow_phi,
        } => {
            let (label, parsed) = match (&file, synthetic) {
                (Some(f), false) => (f.display().to_string(), read(f, format)?),
                (None, true) => (
                    synthetic::QUICKSTART_FILE.to_string(),
                    synthetic::quickstart_cases()
                        .into_iter()
                        .enumerate()
                        .map(|(i, case)| ParsedCase { case, line: i + 1 })
                        .collect(),
                ),
                _ => bail!("give a FILE to import, or --synthetic"),
            };
            let mut cases = Vec::with_capacity(parsed.len());
            let mut refused = Vec::new();
            for p in parsed {
                let findings = phi::scan_case(&p.case);
                if !findings.is_empty() && !allow_phi {
                    // Name the case by line only when its id is itself flagged:
                    // the message must never repeat an identifier.
                    let id_flagged = findings.iter().any(|f| f.field == "id");
                    for f in findings.iter().take(3) {
                        refused.push(if id_flagged {
                            format!("{label}:{}: {f}", p.line)
                        } else {
                            format!("{label}:{}: case {:?}: {f}", p.line, p.case.id.as_str())
                        });
                    }
                    continue;
                }
                let kinds: Vec<String> = findings
                    .iter()
                    .map(|f| format!("{:?}", f.finding.kind))
                    .collect();
                cases.push((p.case, kinds));
            }
            if !refused.is_empty() {
                bail!(
                    "the PHI guard found likely direct identifiers; nothing was imported (CTS is for de-identified vignettes; --allow-phi overrides and is recorded):\n  {}",
                    refused.join("\n  ")
                );
            }
            let n = cases.len();
            let summary = import_cases(&store, cases, &project.actor(), &label, new_version)
                .await
                .with_context(|| format!("{label}: nothing was imported"))?;
            if !summary.leaves.is_empty() {
                store.ledger().checkpoint(project.signer()?).await?;
            }
            out.emit(&summary, || {
                format!(
                    "{label}: {n} cases read; {} imported, {} new versions, {} unchanged\n",
                    summary.imported, summary.new_versions, summary.unchanged
                )
            });
        }
        CasesCommand::List => {
            let cases = list_cases(&store).await?;
            out.emit(&cases, || {
                cases
                    .iter()
                    .map(|c| {
                        format!(
                            "{:<40} v{} {:<20} leaf {:<6} {}\n",
                            c.id,
                            c.version,
                            c.specialty,
                            c.leaf,
                            c.tags.join(",")
                        )
                    })
                    .collect()
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
