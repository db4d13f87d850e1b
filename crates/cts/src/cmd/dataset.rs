//! `cts dataset …`: build, list and verify dataset releases.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cts_dataset::build::{build, BuildOptions};
use cts_dataset::spec::DEFAULT_SPEC;
use cts_dataset::verify::{check_against_store, verify_release};
use cts_dataset::Spec;

use crate::output::Output;
use crate::project::{read_verifier, Project};

/// `cts dataset` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum DatasetCommand {
    /// Write a spec with every option at its default, to edit.
    InitSpec {
        /// Where to write it.
        #[arg(default_value = "dataset.toml")]
        file: PathBuf,
    },
    /// Build a release from the current reviews: exports, provenance, offline evidence and manifest; ledger it.
    Build {
        /// The dataset spec (TOML; `cts dataset init-spec` writes one).
        #[arg(long)]
        spec: PathBuf,
        /// Output folder (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Build at this stored checkpoint size (reproduces an earlier release
        /// byte for byte) instead of signing a new checkpoint.
        #[arg(long)]
        at_checkpoint: Option<u64>,
        /// Write the files only: no dataset.released event, no example index.
        #[arg(long)]
        no_record: bool,
    },
    /// List recorded releases.
    List,
    /// Verify a release offline and, inside a project, against the store.
    Verify {
        /// The release folder.
        dir: PathBuf,
        /// The log's verifier key (file or text). Default: the project's, else the release's own copy.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Only the offline checks, even inside a project.
        #[arg(long)]
        offline: bool,
    },
}

/// Runs a dataset subcommand.
pub async fn run(cmd: DatasetCommand, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    let open = || async {
        let project = Project::find(project)?;
        let store = project.open_store().await?;
        anyhow::Ok((project, store))
    };
    match cmd {
        DatasetCommand::InitSpec { file } => {
            if file.exists() {
                bail!("{}: already exists", file.display());
            }
            std::fs::write(&file, DEFAULT_SPEC)
                .with_context(|| format!("writing {}", file.display()))?;
            out.emit(&serde_json::json!({ "file": file }), || {
                format!(
                    "wrote {}; edit it, then `cts dataset build --spec {} --out DIR`\n",
                    file.display(),
                    file.display()
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::Verify { dir, key, offline } => {
            verify(project, out, &dir, key.as_deref(), offline).await
        }
        DatasetCommand::Build {
            spec,
            out: dir,
            at_checkpoint,
            no_record,
        } => {
            let (project, store) = open().await?;
            let text = std::fs::read_to_string(&spec)
                .with_context(|| format!("reading {}", spec.display()))?;
            let parsed = Spec::parse(&text, &spec.display().to_string())?;
            let total = cts_store::traces::count_traces(&store).await?;
            let bar = out.progress(total.max(0) as u64, "traces");
            let bar2 = bar.clone();
            let report = build(
                &store,
                project.signer()?,
                &project.verifier()?,
                BuildOptions {
                    spec: parsed,
                    out: dir,
                    at_checkpoint,
                    record: !no_record,
                    actor: project.actor(),
                    allow_tampered: false,
                    progress: Box::new(move |n| bar2.set_position(n)),
                },
            )
            .await?;
            bar.finish_and_clear();
            // The ledger's in-memory tree (every level, 64 bytes a leaf)
            // is held by any command that opens the ledger; reported so the
            // build's own memory can be told from it.
            let tree_bytes = store
                .ledger()
                .with_tree(store.ledger().committed_size(), |t| t.heap_bytes())
                .await?;
            let mut json = serde_json::to_value(&report)?;
            if let Some(o) = json.as_object_mut() {
                o.insert(
                    "peak_rss_mib".into(),
                    serde_json::json!(cts_bench::peak_rss_mib()),
                );
                o.insert(
                    "ledger_tree_mib".into(),
                    serde_json::json!(tree_bytes as f64 / (1024.0 * 1024.0)),
                );
            }
            out.emit(&json, || {
                let mut s = format!(
                    "release {} ({}) written to {}\n  built at checkpoint of size {}; manifest SHA-256 {}\n  {} traces read, {} qualified; {} examples:\n",
                    report.name,
                    report.build,
                    report.dir.display(),
                    report.checkpoint_size,
                    report.manifest_sha256,
                    report.tally.traces,
                    report.tally.qualified,
                    report.examples
                );
                for (export, splits) in &report.counts {
                    let parts: Vec<String> = splits.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    s.push_str(&format!("    {export:<9} {}\n", parts.join(", ")));
                }
                if !report.tally.excluded.is_empty() || report.tally.redacted > 0 {
                    s.push_str(&format!(
                        "  left out: {} (erased content: {})\n",
                        serde_json::to_string(&report.tally.excluded).unwrap_or_default(),
                        report.tally.redacted
                    ));
                }
                match report.leaf {
                    Some(l) => s.push_str(&format!("  ledgered as dataset.released at leaf {l} (proof: release.tlog-proof)\n")),
                    None => s.push_str("  not ledgered (--no-record)\n"),
                }
                s
            });
            Ok(ExitCode::SUCCESS)
        }
        DatasetCommand::List => {
            let (_, store) = open().await?;
            let releases = cts_store::releases::releases(&store).await?;
            out.emit(&releases, || {
                if releases.is_empty() {
                    return "no releases yet (cts dataset build)\n".into();
                }
                let mut s = String::new();
                for r in &releases {
                    s.push_str(&format!(
                        "{}  {:<24} {:>7} examples  checkpoint {:>7}  leaf {:>7}  {}  {}\n",
                        r.build, r.name, r.examples, r.checkpoint_size, r.leaf, r.released, r.dir
                    ));
                }
                s
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn verify(
    project: Option<&Path>,
    out: &Output,
    dir: &Path,
    key: Option<&Path>,
    offline: bool,
) -> Result<ExitCode> {
    let project = if offline {
        None
    } else {
        Project::find(project).ok()
    };
    let (verifier, key_source) = match (key, &project) {
        (Some(k), _) => (read_verifier(k)?, format!("{}", k.display())),
        (None, Some(p)) => (p.verifier()?, "the project's key".into()),
        (None, None) => (
            read_verifier(&dir.join("evidence/log.pub"))?,
            "the release's own copy (pass --key with a key you trust)".into(),
        ),
    };
    let report = verify_release(dir, &verifier)
        .with_context(|| format!("{}: release does not verify", dir.display()))?;
    let mut mismatches = Vec::new();
    let mut checked_store = false;
    if let Some(p) = &project {
        let store = p.open_store().await?;
        mismatches = check_against_store(&store, p.signer()?, &verifier, dir).await?;
        checked_store = true;
    }
    let ok = mismatches.is_empty();
    out.emit(
        &serde_json::json!({ "ok": ok, "report": report, "key": key_source, "checked_against_store": checked_store, "mismatches": mismatches }),
        || {
            let mut s = format!(
                "{}: {} examples in {} files verify against the signed checkpoint of {} (size {}), {} evidence entries (key: {key_source})\n",
                report.name, report.examples, report.files, report.origin, report.checkpoint_size, report.evidence_leaves
            );
            match report.release_leaf {
                Some(l) => s.push_str(&format!("the ledger's dataset.released event at leaf {l} commits to this manifest\n")),
                None => s.push_str("no release.tlog-proof: the release itself was not ledgered\n"),
            }
            if checked_store {
                if ok {
                    s.push_str("the store still derives every example byte for byte\n");
                } else {
                    s.push_str(&format!("FAILED: {} examples no longer match the store:\n", mismatches.len()));
                    for m in mismatches.iter().take(20) {
                        s.push_str(&format!("  {} ({}): {}\n", m.example, m.file, m.reason));
                    }
                }
            }
            s
        },
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
