//! CTS's performance benchmarks (`cts bench …`): every figure is measured
//! next to a baseline run in the same process, so the ratios mean something
//! on any machine.
//!
//! - [`ledger`]: durable appends, the full audit and inclusion proofs, beside plain SQLite.
//! - [`generate`]: local generation beside llama.cpp's own engine (llama-cpp-python).
//! - [`throughput`]: prompt and generation rates of a [`cts_llama::LocalModel`].
//! - [`review`]: the workbench under `wrk` load, beside `/healthz`.
//! - [`dataset`]: release builds at two store sizes, beside streaming the content out.
//! - [`loglik`]: log-likelihood scoring with prefix sharing, beside scoring from scratch.
//! - [`http`]: CTS's OpenAI-compatible client beside a bare HTTP client, and the zero-latency stub.
//! - [`redteam`]: red-team dispatch beside the benchmark runner's.
//! - [`baseline`]: the plain-SQLite baselines.
//!
//! Each benchmark returns its figures, which serialize as the `--json`
//! output and display as the text report.
//!
//! Not here: argument parsing and output (`cts bench` in the `cts` binary),
//! and the synthetic reviewed stores they seed (`cts_store::seed`, shared
//! with tests).

pub mod baseline;
pub mod dataset;
pub mod generate;
pub mod http;
pub mod ledger;
pub mod loglik;
pub mod redteam;
pub mod review;
pub mod throughput;

use std::path::PathBuf;

/// Makes the progress bar of a stage from its length and a word for what it
/// does; the CLI draws them on stderr, or hides them.
pub type Progress = std::sync::Arc<dyn Fn(u64, &str) -> indicatif::ProgressBar + Send + Sync>;

/// Peak resident memory of this process, MiB (0 where /proc is absent).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The scratch folder of a run: `dir`, created if missing, or else a
/// temporary folder removed when the returned guard drops.
fn scratch(dir: Option<PathBuf>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            Ok((dir, None))
        }
        None => {
            let tmp = tempfile::tempdir()?;
            Ok((tmp.path().to_path_buf(), Some(tmp)))
        }
    }
}
