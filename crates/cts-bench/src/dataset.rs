//! `cts bench dataset`: release build throughput and peak memory at two
//! store sizes, next to a baseline that only streams the same content out
//! of SQLite into a file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cts_ledger::LogVerifier;
use cts_store::Store;
use serde::Serialize;

use crate::{baseline, Progress};

/// What this benchmark needs from the `cts` binary, which builds the
/// releases it times.
pub struct Cli<'a> {
    /// The `cts` executable, run as `cts dataset build`.
    pub exe: PathBuf,
    /// Creates a project in a folder with a log origin.
    pub init_project: &'a dyn Fn(&Path, &str) -> Result<NewProject>,
}

/// A project made by [`Cli::init_project`].
pub struct NewProject {
    /// Its database file.
    pub database: PathBuf,
    /// Its log's verifier key.
    pub verifier: LogVerifier,
}

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
    cli: &Cli<'_>,
    progress: &Progress,
) -> Result<(BuildFigures, f64)> {
    let NewProject {
        database: db,
        verifier,
    } = (cli.init_project)(&dir.join("project"), "bench.cts.invalid/log")?;
    let store = Store::open(&db).await?;
    let rubric = cts_review::Rubric::default_medication_safety();
    let bar = progress(traces, "seeding");
    let started = Instant::now();
    let cases = (traces / 5).max(1) as usize;
    cts_store::seed::seed_reviews(&store, &rubric, cases, traces, per_trace, &|n| {
        bar.set_position(n)
    })
    .await?;
    bar.finish_and_clear();
    let seed_s = started.elapsed().as_secs_f64();

    // `cts ledger verify` on the same store: the log audit, then the tables against the log.
    let started = Instant::now();
    let audit = store.ledger().audit(&verifier, &|_| {}).await?;
    let audit_s = started.elapsed().as_secs_f64();
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
    let rows = baseline::dump_content(&store, &dir.join("dump.jsonl")).await?;
    let baseline_dump_s = started.elapsed().as_secs_f64();
    tracing::debug!(rows, baseline_dump_s, "baseline dump");
    drop(store);

    let spec = dir.join("spec.toml");
    std::fs::write(&spec, SPEC)?;
    let started = Instant::now();
    let run = Command::new(&cli.exe)
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

/// Builds a release from a store of `traces / 10` and one of `traces`
/// reviewed traces (`per_trace` reviews each), in `dir` (default: a
/// temporary folder).
pub async fn run(
    dir: Option<PathBuf>,
    traces: u64,
    per_trace: usize,
    cli: &Cli<'_>,
    progress: &Progress,
) -> Result<DatasetBenchFigures> {
    let (dir, _tmp) = crate::scratch(dir)?;
    let small_dir = dir.join("small");
    let full_dir = dir.join("full");
    std::fs::create_dir_all(&small_dir)?;
    std::fs::create_dir_all(&full_dir)?;
    let (small, s1) = one(&small_dir, (traces / 10).max(10), per_trace, cli, progress).await?;
    let (full, s2) = one(&full_dir, traces, per_trace, cli, progress).await?;
    Ok(DatasetBenchFigures {
        rss_full_vs_small: full.peak_rss_mib / small.peak_rss_mib.max(1e-9),
        build_rss_full_vs_small: full.build_rss_mib / small.build_rss_mib.max(1e-9),
        small,
        full,
        seed_s: s1 + s2,
    })
}

impl fmt::Display for DatasetBenchFigures {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let f = self;
        let row = |b: &BuildFigures| {
            format!(
                "{:>7} traces: {:>8} examples in {:>6.2} s = {:>8.0} examples/s ({:>7.0} traces/s), peak RSS {:>6.1} MiB (ledger tree {:.1} MiB); baseline dump {:>5.2} s, build/dump {:.2}x\n         verify: log audit {:>9.0} leaves/s; tables against the log {:>9.0} rows/s ({:.0} events/s, {:.2} s)\n",
                b.traces, b.examples, b.build_s, b.examples_per_s, b.traces_per_s, b.peak_rss_mib, b.ledger_tree_mib, b.baseline_dump_s, b.build_vs_dump,
                b.audit_leaves_per_s, b.projection_rows_per_s, b.projection_events_per_s, b.projection_s
            )
        };
        write!(
            out,
            "dataset release benchmark (all six exports, provenance, evidence, example index; seeded in {:.0} s)\n{}{}peak memory full/small: {:.2}x for 10x the examples ({:.2}x without the ledger tree)\n",
            f.seed_s, row(&f.small), row(&f.full), f.rss_full_vs_small, f.build_rss_full_vs_small
        )
    }
}
