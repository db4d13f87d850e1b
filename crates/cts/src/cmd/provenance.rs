//! `cts lineage`, `cts training …` and `cts policy …`: what a model was
//! trained on, who reviewed it, and how each safety behaviour was controlled.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cts_dataset::lineage::{example_lineage, model_lineage, policy_trace, Evidence};
use cts_dataset::policy::{parse_policies, MEDICATION_SAFETY_POLICIES};
use cts_store::releases::{find_release, record_training, training_runs, NewTrainingRun};
use sha2::Digest;

use crate::output::Output;
use crate::project::Project;

/// Arguments of `cts lineage`.
#[derive(clap::Args, Debug)]
pub struct LineageArgs {
    /// An example id (the `id` field of any exported line).
    #[arg(required_unless_present = "model")]
    example: Option<String>,
    /// Instead: what this model was trained on (a local file, found by its SHA-256; or a recorded name).
    #[arg(long, conflicts_with = "example")]
    model: Option<String>,
}

/// `cts training` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum TrainingCommand {
    /// Ledger a training run on a release.
    Record {
        /// The release: its build id, manifest SHA-256 (prefix) or name.
        #[arg(long)]
        dataset: String,
        /// The base model: a local weights file or folder (hashed), or NAME[@REVISION].
        #[arg(long)]
        base_model: String,
        /// The trainer's config file (hashed and committed to).
        #[arg(long)]
        config: PathBuf,
        /// The trained model: a local weights file or folder (hashed), or NAME[@REVISION].
        #[arg(long)]
        output_model: String,
        /// The trainer used.
        #[arg(long, default_value = "trl")]
        trainer: String,
    },
    /// List recorded training runs.
    List,
}

/// `cts policy` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Register the behaviour policies in a TOML file (new versions only; a changed text needs a new version).
    Import {
        /// The file (omit with --builtin).
        #[arg(required_unless_present = "builtin")]
        file: Option<PathBuf>,
        /// Register the policies shipped for the synthetic medication-safety cases.
        #[arg(long, conflicts_with = "file")]
        builtin: bool,
    },
    /// List registered policies.
    List,
    /// Show how a behaviour was controlled: linked cases, clinician reviews, dataset examples, releases, training runs.
    Trace {
        /// Policy id.
        policy: String,
    },
}

fn mark(e: &Evidence) -> String {
    if e.included {
        format!("leaf {} ✓", e.leaf)
    } else {
        format!("leaf {} ({})", e.leaf, e.proof)
    }
}

/// Step labels as `+1 -1 0 ·` (· for a step left unlabelled).
pub(crate) fn labels_text(labels: &[Option<i8>]) -> String {
    if labels.is_empty() {
        return "(no steps)".into();
    }
    labels
        .iter()
        .map(|l| match l {
            Some(n) if *n > 0 => format!("+{n}"),
            Some(n) => n.to_string(),
            None => "·".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cts lineage`.
pub async fn run_lineage(
    args: LineageArgs,
    project: Option<&Path>,
    out: &Output,
) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let store = project.open_store().await?;
    let verifier = project.verifier()?;
    if let Some(model) = args.model {
        // A local file is found by its SHA-256 (the key `cts train`,
        // `cts training record` and `cts eval run` give it), wherever it was moved since.
        let key = if Path::new(&model).is_file() {
            cts_llama::fetch::sha256_file(Path::new(&model))
                .with_context(|| format!("hashing {model}"))?
        } else {
            model.clone()
        };
        let evaluations = cts_store::evals::eval_runs(&store, Some(&key)).await?;
        let red_teaming = cts_store::redteam::redteam_runs(&store, Some(&key)).await?;
        let l = match model_lineage(&store, &verifier, &key).await {
            Ok(l) => Some(l),
            // A base model has evaluations but no training run behind it.
            Err(_) if !evaluations.is_empty() || !red_teaming.is_empty() => None,
            Err(e) => return Err(e.into()),
        };
        #[derive(serde::Serialize)]
        struct Report<'a> {
            #[serde(flatten)]
            lineage: Option<&'a cts_dataset::lineage::ModelLineage>,
            evaluations: &'a [cts_store::evals::EvalRun],
            red_teaming: &'a [cts_store::redteam::RedteamRun],
        }
        let report = Report {
            lineage: l.as_ref(),
            evaluations: &evaluations,
            red_teaming: &red_teaming,
        };
        out.emit(&report, || {
            let mut s = format!("model {model}\n");
            let mut evals = evaluations_text(&evaluations);
            for r in &red_teaming {
                evals.push_str(&format!(
                    "  red-teamed: {} at leaf {} (judge {}; {}): {}\n",
                    r.record.id,
                    r.leaf,
                    r.record.judge,
                    r.record.strategies.join(", "),
                    r.record.results.text()
                ));
            }
            let Some(l) = &l else {
                return format!("{s}  no recorded training run produced it\n{evals}");
            };
            for (run, ev) in &l.runs {
                s.push_str(&format!(
                    "  trained by run {} ({}, config {}…) on release {}  [{}]\n    base model {}\n",
                    run.id,
                    run.trainer,
                    &run.config_sha256[..12],
                    run.build,
                    mark(ev),
                    run.base_model
                ));
            }
            for (r, ev) in &l.releases {
                s.push_str(&format!(
                    "  release {} ({}): {} examples built at checkpoint {}  [{}]\n",
                    r.name,
                    r.build,
                    r.examples,
                    r.checkpoint_size,
                    mark(ev)
                ));
            }
            s.push_str(&format!(
                "  {} cases; reviewed by {} clinicians:\n",
                l.cases,
                l.reviewers.len()
            ));
            for (who, n) in &l.reviewers {
                s.push_str(&format!("    {who}: {n} reviews\n"));
            }
            if !l.policies.is_empty() {
                s.push_str("  behaviour policies covered (cases):\n");
                for (p, n) in &l.policies {
                    s.push_str(&format!("    {p}: {n}\n"));
                }
            }
            s.push_str(&evals);
            s
        });
        return Ok(ExitCode::SUCCESS);
    }
    let id = args.example.unwrap_or_default();
    let l = example_lineage(&store, &verifier, &id).await?;
    out.emit(&l, || {
        let mut s = format!(
            "example {} ({}, {} split)\n",
            l.example.id, l.example.export, l.example.split
        );
        for (r, ev) in &l.releases {
            s.push_str(&format!(
                "  in release {} ({}) built at checkpoint {}  [{}]\n",
                r.name,
                r.build,
                r.checkpoint_size,
                mark(ev)
            ));
        }
        for run in &l.training_runs {
            s.push_str(&format!(
                "  trained into {} by run {} ({})\n",
                run.output_key, run.id, run.trainer
            ));
        }
        for r in &l.reviews {
            s.push_str(&format!(
                "  {} review {} by {} (v{}, {}, rubric {})  [{}]\n    labels {}\n    ratings {}\n    rationale: {}\n",
                r.role.map_or("a", |role| role.name()),
                r.id,
                r.reviewer,
                r.version,
                r.submitted,
                r.rubric,
                mark(&r.evidence),
                labels_text(&r.labels),
                serde_json::to_string(&r.ratings).unwrap_or_default(),
                r.rationale
            ));
            for e in &r.edits {
                let why = e
                    .content
                    .as_ref()
                    .and_then(|c| c.rationale.as_deref())
                    .unwrap_or("(erased)");
                s.push_str(&format!(
                    "    {} step {}: {why}  [{}]\n",
                    e.change,
                    e.step.map(|n| n.to_string()).unwrap_or_default(),
                    mark(&e.evidence)
                ));
            }
        }
        for t in &l.traces {
            s.push_str(&format!(
                "  trace {}  [{}]\n    model {}\n    params {}  template {}\n",
                t.id,
                mark(&t.evidence),
                t.model,
                t.params,
                t.template
            ));
            for a in &t.adjudications {
                s.push_str(&format!(
                    "    {}adjudicated by {}: {} stands — {}  [{}]\n",
                    if a.qualified { "qualifying: " } else { "" },
                    a.decision.adjudicator,
                    a.decision.chosen,
                    a.decision.rationale,
                    mark(&a.evidence)
                ));
            }
        }
        s.push_str(&format!(
            "  case {} v{} ({}; {})  [{}]\n",
            l.case.id,
            l.case.version,
            l.case.specialty,
            l.case.tags.join(", "),
            mark(&l.case.evidence)
        ));
        s
    });
    Ok(ExitCode::SUCCESS)
}

/// A model's identity: hashed when it is a local file or folder.
fn model_identity(arg: &str) -> Result<(serde_json::Value, String)> {
    let path = Path::new(arg);
    if path.is_file() {
        let sha = cts_llama::fetch::sha256_file(path).with_context(|| format!("hashing {arg}"))?;
        return Ok((serde_json::json!({ "path": arg, "sha256": sha }), sha));
    }
    if path.is_dir() {
        let mut files = Vec::new();
        collect_files(path, path, &mut files)?;
        files.sort();
        let mut listing = String::new();
        for rel in &files {
            let sha = cts_llama::fetch::sha256_file(&path.join(rel))
                .with_context(|| format!("hashing {rel}"))?;
            listing.push_str(&format!("{sha}  {rel}\n"));
        }
        if files.is_empty() {
            bail!("{arg}: the folder is empty");
        }
        let sha = hex::encode(sha2::Sha256::digest(listing.as_bytes()));
        return Ok((
            serde_json::json!({ "path": arg, "sha256": sha, "files": files.len() }),
            sha,
        ));
    }
    if arg.trim().is_empty() {
        bail!("a model must be a local file or folder, or NAME[@REVISION]");
    }
    let (name, revision) = match arg.split_once('@') {
        Some((n, r)) => (n, Some(r)),
        None => (arg, None),
    };
    Ok((
        serde_json::json!({ "name": name, "revision": revision }),
        arg.to_owned(),
    ))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let p = entry.path();
        if p.is_dir() {
            collect_files(root, &p, out)?;
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Runs a training subcommand.
pub async fn run_training(
    cmd: TrainingCommand,
    project: Option<&Path>,
    out: &Output,
) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let store = project.open_store().await?;
    match cmd {
        TrainingCommand::Record {
            dataset,
            base_model,
            config,
            output_model,
            trainer,
        } => {
            let release = find_release(&store, &dataset).await?;
            let config_bytes =
                std::fs::read(&config).with_context(|| format!("reading {}", config.display()))?;
            let (base, _) = model_identity(&base_model)?;
            let (output, key) = model_identity(&output_model)?;
            let run = record_training(
                &store,
                &project.actor(),
                NewTrainingRun {
                    release,
                    base_model: base,
                    output_model: output,
                    output_key: key,
                    config: config_bytes,
                    trainer,
                },
            )
            .await?;
            out.emit(&run, || {
                format!(
                    "recorded training run {} at leaf {}: {} → {} on release {}\n",
                    run.id, run.leaf, run.base_model, run.output_key, run.build
                )
            });
        }
        TrainingCommand::List => {
            let runs = training_runs(&store, None).await?;
            out.emit(&runs, || {
                if runs.is_empty() {
                    return "no training runs recorded (cts training record)\n".into();
                }
                runs.iter()
                    .map(|r| {
                        format!(
                            "{}  {}  release {}  {} → {}  leaf {}  {}\n",
                            r.id,
                            r.trainer,
                            r.build,
                            r.base_model,
                            r.output_key,
                            r.leaf,
                            r.recorded
                        )
                    })
                    .collect()
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a policy subcommand.
pub async fn run_policy(
    cmd: PolicyCommand,
    project: Option<&Path>,
    out: &Output,
) -> Result<ExitCode> {
    let project = Project::find(project)?;
    let store = project.open_store().await?;
    match cmd {
        PolicyCommand::Import { file, builtin } => {
            let (text, name) = match (file, builtin) {
                (_, true) => (
                    MEDICATION_SAFETY_POLICIES.to_owned(),
                    "medication-safety-v1.toml".to_owned(),
                ),
                (Some(f), false) => (
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?,
                    f.display().to_string(),
                ),
                (None, false) => bail!("give a policy file or --builtin"),
            };
            let policies = parse_policies(&text, &name)?;
            let n =
                cts_store::policies::register_policies(&store, &project.actor(), &policies).await?;
            out.emit(
                &serde_json::json!({ "registered": n, "in_file": policies.len() }),
                || {
                    format!(
                        "{n} new policy versions registered ({} in {name})\n",
                        policies.len()
                    )
                },
            );
        }
        PolicyCommand::List => {
            let list = cts_store::policies::list_policies(&store).await?;
            out.emit(&list, || {
                if list.is_empty() {
                    return "no policies registered (cts policy import --builtin)\n".into();
                }
                list.iter()
                    .map(|p| {
                        format!(
                            "{}@{}  {}\n    {}\n",
                            p.policy.id, p.policy.version, p.policy.title, p.policy.behaviour
                        )
                    })
                    .collect()
            });
        }
        PolicyCommand::Trace { policy } => {
            let t = policy_trace(&store, &project.verifier()?, &policy).await?;
            out.emit(&t, || {
                let mut s = String::new();
                for p in &t.policy {
                    s.push_str(&format!(
                        "policy {}@{}: {}\n  {}\n",
                        p.policy.id, p.policy.version, p.policy.title, p.policy.behaviour
                    ));
                }
                s.push_str(&format!(
                    "{} linked cases (tag policy:{policy}):\n",
                    t.cases.len()
                ));
                for c in &t.cases {
                    s.push_str(&format!(
                        "  case {} v{}: {} traces, {} current reviews, {} dataset examples\n",
                        c.id,
                        c.version,
                        c.traces,
                        c.reviews.len(),
                        c.examples.len()
                    ));
                    for r in &c.reviews {
                        s.push_str(&format!(
                            "    {} by {} ({}): {} steps labelled -1, flags {}, edits {}  [{}]\n",
                            r.id,
                            r.reviewer,
                            r.submitted,
                            r.negative_steps,
                            serde_json::to_string(&r.flags).unwrap_or_default(),
                            r.edits
                                .map_or("unknown (trace erased)".into(), |n| n.to_string()),
                            mark(&r.evidence)
                        ));
                    }
                }
                s.push_str(&format!(
                    "reviewed by {} clinicians: {}\n",
                    t.reviewers.len(),
                    t.reviewers
                        .iter()
                        .map(|(k, v)| format!("{k} ({v})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                for (r, n) in &t.releases {
                    s.push_str(&format!(
                        "release {} ({}): {n} examples from these cases\n",
                        r.name, r.build
                    ));
                }
                for run in &t.training_runs {
                    s.push_str(&format!(
                        "training run {} on {} → {}\n",
                        run.id, run.build, run.output_key
                    ));
                }
                if t.releases.is_empty() {
                    s.push_str("no release includes these cases yet\n");
                }
                s
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The evaluation runs of a model, one line each.
fn evaluations_text(runs: &[cts_store::evals::EvalRun]) -> String {
    if runs.is_empty() {
        return "  no evaluation runs recorded (cts eval run --model …)\n".into();
    }
    let mut s = String::from("  evaluations:\n");
    for r in runs {
        let benches = r.record.results.counts_text();
        s.push_str(&format!(
            "    {} at leaf {} ({}, {}): macro {:.1}%  {}\n",
            r.record.id,
            r.leaf,
            r.record.mode,
            r.record.template,
            100.0 * r.record.results.macro_average,
            benches
        ));
    }
    s
}
