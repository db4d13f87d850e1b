//! `cts verify`: offline checks of proof bundles and tile exports with only
//! the verifier key — no project, no database.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use cts_ledger::bundle::ProofBundle;
use cts_ledger::export::{verify_export, TileSource};
use cts_ledger::{hash_to_base64, Event};

use crate::cmd::witness;
use crate::output::Output;
use crate::project::read_verifier;

/// Arguments of `cts verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A .tlog-proof bundle, a folder written by `cts ledger export`, a dataset release folder, or an evaluation, red-teaming or rubric-graded run folder.
    path: PathBuf,
    /// The log's verifier key: a file (e.g. keys/log.pub) or the key text. Default: log.pub inside an export folder.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The entry bytes, when the bundle does not carry them.
    #[arg(long)]
    entry: Option<PathBuf>,
    /// For a dataset release: trace this example back to the clinicians and events behind it, from the release alone.
    #[arg(long, conflicts_with = "policy")]
    example: Option<String>,
    /// For a dataset release: every example built from cases tagged with this behaviour policy, and who reviewed them.
    #[arg(long)]
    policy: Option<String>,
    /// Require a cosignature from this witness on the checkpoint (verifier key file or text). Repeatable.
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<PathBuf>,
    /// How many of the --witness keys must have cosigned (default: all).
    #[arg(long)]
    witness_quorum: Option<usize>,
}

struct Folder<'a>(&'a Path);

impl TileSource for Folder<'_> {
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.0.join(path)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Runs `cts verify`.
pub async fn run(args: VerifyArgs, out: &Output) -> Result<ExitCode> {
    if args.path.is_dir() && cts_runner::healthbench::is_healthbench_folder(&args.path) {
        let key = args
            .key
            .unwrap_or_else(|| args.path.join("evidence/log.pub"));
        let verifier = read_verifier(&key)?;
        let report = cts_runner::healthbench::verify_healthbench_run(&args.path, &verifier)?;
        out.emit(&report, || {
            format!(
                "OK: rubric-graded run {} ({} examples, model {}, grader {}) verifies against the signed checkpoint of {} (size {}); healthbench.completed at leaf {}\n  {} — every grade re-parsed, every score and the summary recomputed\n",
                report.id,
                report.examples,
                report.model.name,
                report.grader,
                report.origin,
                report.checkpoint_size,
                report.leaf,
                report.results.text()
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    if args.path.is_dir() && cts_runner::redteam::is_redteam_folder(&args.path) {
        let key = args
            .key
            .unwrap_or_else(|| args.path.join("evidence/log.pub"));
        let verifier = read_verifier(&key)?;
        let report = cts_runner::redteam::verify_redteam_run(&args.path, &verifier)?;
        out.emit(&report, || {
            format!(
                "OK: red-teaming run {} ({} instances, target {}, judge {}) verifies against the signed checkpoint of {} (size {}); redteam.completed at leaf {}\n  {} — every verdict, judgment and the summary recomputed from the instances\n",
                report.id,
                report.instances,
                report.target.name,
                report.judge,
                report.origin,
                report.checkpoint_size,
                report.leaf,
                report.results.text()
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    if args.path.is_dir() && cts_runner::record::is_run_folder(&args.path) {
        let key = args
            .key
            .unwrap_or_else(|| args.path.join("evidence/log.pub"));
        let verifier = read_verifier(&key)?;
        let report = cts_runner::record::verify_run(&args.path, &verifier)?;
        out.emit(&report, || {
            let benches = report.results.counts_text();
            format!(
                "OK: evaluation run {} ({} items, model {}, {} / {}) verifies against the signed checkpoint of {} (size {}); eval.completed at leaf {}\n  {}; macro {:.1}%, micro {:.1}% — every answer and the summary recomputed from the items\n",
                report.id,
                report.items,
                report.model.name,
                report.mode,
                report.template,
                report.origin,
                report.checkpoint_size,
                report.leaf,
                benches,
                100.0 * report.results.macro_average,
                100.0 * report.results.micro_average
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    if args.path.is_dir() && args.path.join("manifest.json").is_file() {
        let key = args
            .key
            .unwrap_or_else(|| args.path.join("evidence/log.pub"));
        let verifier = read_verifier(&key)?;
        let note =
            witness::checkpoint_file(&args.witnesses, &args.path.join("evidence/checkpoint"))?;
        witness::require_witnesses(&args.witnesses, args.witness_quorum, &note, &verifier, out)?;
        let query = match (&args.example, &args.policy) {
            (Some(e), _) => Some(cts_dataset::verify::OfflineQuery::Example(e)),
            (None, Some(p)) => Some(cts_dataset::verify::OfflineQuery::Policy(p)),
            (None, None) => None,
        };
        if let Some(query) = query {
            let (report, examples) =
                cts_dataset::verify::trace_offline(&args.path, &verifier, query)
                    .with_context(|| format!("{}: release does not verify", args.path.display()))?;
            out.emit(&serde_json::json!({ "report": report, "examples": examples }), || {
                let mut s = format!(
                    "OK: release {} verifies against the signed checkpoint of {} (size {}); {} matching examples\n",
                    report.name, report.origin, report.checkpoint_size, examples.len()
                );
                for e in &examples {
                    s.push_str(&format!("example {} ({}, {})\n", e.id, e.file, e.basis));
                    s.push_str(&format!("  case leaf {}: {}\n", e.case.leaf, e.case.body));
                    for t in &e.traces {
                        s.push_str(&format!("  trace leaf {} at {}: model {}\n", t.leaf, t.time, t.body.get("model").cloned().unwrap_or_default()));
                    }
                    for r in &e.reviews {
                        let labels: Vec<Option<i8>> = r.event.body.get("labels").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
                        s.push_str(&format!(
                            "  {} review {} leaf {} by {} at {}\n    labels {}  ratings {}\n",
                            r.role.map_or("a", |role| role.name()), r.id, r.event.leaf, r.event.actor, r.event.time,
                            crate::cmd::provenance::labels_text(&labels),
                            r.event.body.get("ratings").cloned().unwrap_or_default()
                        ));
                    }
                    for r in &e.edits {
                        s.push_str(&format!("  edit leaf {} by {} at {}: {}\n", r.leaf, r.actor, r.time, r.body));
                    }
                    for a in &e.adjudications {
                        s.push_str(&format!("  adjudication leaf {} by {} at {}: {}\n", a.leaf, a.actor, a.time, a.body));
                    }
                }
                s
            });
            return Ok(ExitCode::SUCCESS);
        }
        let report = cts_dataset::verify::verify_release(&args.path, &verifier)
            .with_context(|| format!("{}: release does not verify", args.path.display()))?;
        out.emit(&report, || {
            format!(
                "OK: {} examples of release {} verify against the signed checkpoint of {} (size {}); {}\n",
                report.examples,
                report.name,
                report.origin,
                report.checkpoint_size,
                match report.release_leaf {
                    Some(l) => format!("ledgered as dataset.released at leaf {l}"),
                    None => "not ledgered (no release.tlog-proof)".into(),
                }
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    if args.path.is_dir() {
        let key = args.key.unwrap_or_else(|| args.path.join("log.pub"));
        let verifier = read_verifier(&key)?;
        let note = witness::checkpoint_file(&args.witnesses, &args.path.join("checkpoint"))?;
        witness::require_witnesses(&args.witnesses, args.witness_quorum, &note, &verifier, out)?;
        let report = verify_export(&Folder(&args.path), &verifier)
            .with_context(|| format!("{}: export does not verify", args.path.display()))?;
        out.emit(&report, || {
            format!(
                "OK: {} entries of {} hash to the signed root {} ({} hash tiles checked)\n",
                report.size, report.origin, report.root, report.tiles_checked
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    let key = args.key.context(
        "--key is required to verify a proof bundle (the log's verifier key file or text)",
    )?;
    let verifier = read_verifier(&key)?;
    let bytes =
        std::fs::read(&args.path).with_context(|| format!("reading {}", args.path.display()))?;
    let bundle = ProofBundle::parse(&bytes).with_context(|| args.path.display().to_string())?;
    witness::require_witnesses(
        &args.witnesses,
        args.witness_quorum,
        &bundle.checkpoint,
        &verifier,
        out,
    )?;
    let entry = args
        .entry
        .as_ref()
        .map(std::fs::read)
        .transpose()
        .context("reading --entry")?;
    let verified = bundle
        .verify(&verifier, entry.as_deref())
        .with_context(|| format!("{}: proof does not verify", args.path.display()))?;
    let event = Event::decode(&verified.entry).ok();
    out.emit(
        &serde_json::json!({
            "ok": true, "leaf": verified.index, "origin": verified.checkpoint.origin,
            "size": verified.checkpoint.size, "root": hash_to_base64(&verified.checkpoint.root), "event": event,
        }),
        || {
            let what = event.as_ref().map_or("an opaque entry".to_string(), |e| format!("{} by {} at {}", e.kind, e.actor, e.time));
            format!("OK: leaf {} ({what}) is in {} at size {} (root {})\n",
                verified.index, verified.checkpoint.origin, verified.checkpoint.size, hash_to_base64(&verified.checkpoint.root))
        },
    );
    Ok(ExitCode::SUCCESS)
}
