//! `cts bench dataset`: release build throughput and peak memory at two
//! store sizes, next to a baseline that only streams the same content out
//! of SQLite into a file.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cts_store::Ledger;
use serde::Serialize;

use crate::output::Output;
use crate::project::Project;

/// One build, run as its own `cts dataset build` process.
#[derive(Serialize)]
pub struct BuildFigures {
    /// Traces in the store.
    pub traces: u64,
    /// Examples written (all exports).
    pub examples: u64,
    /// Wall time of the build process, s.
    pub build_s: f64,
    /// Examples per second.
    pub examples_per_s: f64,
    /// Traces per second.
    pub traces_per_s: f64,
    /// Peak resident memory of the build process, MiB.
    pub peak_rss_mib: f64,
    /// Of which the ledger's in-memory tree (held by every command that
    /// opens the ledger, 64 bytes a leaf), MiB.
    pub ledger_tree_mib: f64,
    /// Peak memory less the ledger's tree: what the build itself holds, MiB.
    pub build_rss_mib: f64,
    /// Baseline: seconds to stream every content row of the same store into a file.
    pub baseline_dump_s: f64,
    /// Build time over baseline time.
    pub build_vs_dump: f64,
    /// The log part of `cts ledger verify` on the same store: leaves per second.
    pub audit_leaves_per_s: f64,
    /// Its projection check (replay every event, compare every domain table): seconds.
    pub projection_s: f64,
    /// Table rows compared per second by the projection check.
    pub projection_rows_per_s: f64,
    /// Events replayed per second by the projection check.
    pub projection_events_per_s: f64,
}

/// Both sizes.
#[derive(Serialize)]
pub struct DatasetBenchFigures {
    /// The smaller store (a tenth of the traces).
    pub small: BuildFigures,
    /// The full store.
    pub full: BuildFigures,
    /// Peak memory of the full build over the small one (examples grew 10x).
    pub rss_full_vs_small: f64,
    /// The same without the ledger's tree.
    pub build_rss_full_vs_small: f64,
    /// Seconds spent seeding.
    pub seed_s: f64,
}

const SPEC: &str = r#"
name = "bench"
seed = 1
[select]
require = "agreed-or-adjudicated"
min_reviews = 2
[exports]
formats = ["sft", "dpo", "dpo-flat", "kto", "prm", "prm-rich"]
"#;

async fn one(
    dir: &Path,
    traces: u64,
    per_trace: usize,
    out: &Output,
) -> Result<(BuildFigures, f64)> {
    let project = Project::init(&dir.join("project"), Some("bench.cts.invalid/log"))?;
    let ledger = Ledger::open(&project.database_path()).await?;
    let rubric = cts_review::Rubric::default_medication_safety();
    let bar = out.progress(traces, "seeding");
    let started = Instant::now();
    let cases = (traces / 5).max(1) as usize;
    cts_store::bench::seed_reviews(&ledger, &rubric, cases, traces, per_trace, &|n| {
        bar.set_position(n)
    })
    .await?;
    bar.finish_and_clear();
    let seed_s = started.elapsed().as_secs_f64();

    // `cts ledger verify` on the same store: the log audit, then the tables against the log.
    let verifier = project.verifier()?;
    let started = Instant::now();
    let audit = cts_store::audit(ledger.pool(), &verifier, &|_| {}).await?;
    let audit_s = started.elapsed().as_secs_f64();
    let db = project.database_path();
    let started = Instant::now();
    let projection =
        tokio::task::spawn_blocking(move || cts_store::projection::check(&db, &|_| {})).await??;
    let projection_s = started.elapsed().as_secs_f64();
    if !audit.ok() || !projection.ok() {
        bail!(
            "the seeded store does not verify: {:?}",
            audit.failures.iter().chain(&projection.failures).next()
        );
    }

    let started = Instant::now();
    let rows = cts_store::bench::dump_content(&ledger, &dir.join("dump.jsonl")).await?;
    let baseline_dump_s = started.elapsed().as_secs_f64();
    tracing::debug!(rows, baseline_dump_s, "baseline dump");
    drop(ledger);

    let spec = dir.join("spec.toml");
    std::fs::write(&spec, SPEC)?;
    let exe = std::env::current_exe().context("locating the cts binary")?;
    let started = Instant::now();
    let run = Command::new(exe)
        .arg("--project")
        .arg(dir.join("project"))
        .args(["--json", "dataset", "build", "--spec"])
        .arg(&spec)
        .arg("--out")
        .arg(dir.join("release"))
        .output()?;
    let build_s = started.elapsed().as_secs_f64();
    if !run.status.success() {
        bail!(
            "dataset build failed: {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let report: serde_json::Value =
        serde_json::from_slice(&run.stdout).context("reading the build's JSON")?;
    let examples = report["examples"].as_u64().unwrap_or(0);
    Ok((
        BuildFigures {
            traces,
            examples,
            build_s,
            examples_per_s: examples as f64 / build_s,
            traces_per_s: traces as f64 / build_s,
            peak_rss_mib: report["peak_rss_mib"].as_f64().unwrap_or(0.0),
            ledger_tree_mib: report["ledger_tree_mib"].as_f64().unwrap_or(0.0),
            build_rss_mib: report["peak_rss_mib"].as_f64().unwrap_or(0.0)
                - report["ledger_tree_mib"].as_f64().unwrap_or(0.0),
            baseline_dump_s,
            build_vs_dump: build_s / baseline_dump_s,
            audit_leaves_per_s: audit.leaves as f64 / audit_s,
            projection_s,
            projection_rows_per_s: projection.total_rows() as f64 / projection_s,
            projection_events_per_s: projection.events as f64 / projection_s,
        },
        seed_s,
    ))
}

/// Runs the benchmark in `dir`.
pub async fn run(
    dir: &Path,
    traces: u64,
    per_trace: usize,
    out: &Output,
) -> Result<DatasetBenchFigures> {
    let small_dir = dir.join("small");
    let full_dir = dir.join("full");
    std::fs::create_dir_all(&small_dir)?;
    std::fs::create_dir_all(&full_dir)?;
    let (small, s1) = one(&small_dir, (traces / 10).max(10), per_trace, out).await?;
    let (full, s2) = one(&full_dir, traces, per_trace, out).await?;
    Ok(DatasetBenchFigures {
        rss_full_vs_small: full.peak_rss_mib / small.peak_rss_mib.max(1e-9),
        build_rss_full_vs_small: full.build_rss_mib / small.build_rss_mib.max(1e-9),
        small,
        full,
        seed_s: s1 + s2,
    })
}
