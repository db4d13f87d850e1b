//! `cts bench`: performance figures, each next to a baseline run in the same
//! process. The benchmarks live in `cts-bench`; this is their command line.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::output::Output;
use crate::project::Project;

/// `cts bench` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Durable append throughput, full-audit throughput, proof latency and storage of the ledger.
    Ledger {
        /// Events to append.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Concurrent producers.
        #[arg(long, default_value_t = 8)]
        producers: u64,
        /// Events per append call (each call is atomic).
        #[arg(long, default_value_t = 256)]
        batch: u64,
        /// Inclusion proofs to time.
        #[arg(long, default_value_t = 100_000)]
        proofs: u64,
        /// Scratch folder (default: a temporary folder, removed afterwards).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Local generation speed next to llama.cpp's own (llama-cpp-python, same file and prompt), and batched decoding.
    Generate {
        /// GGUF model (default: the built-in model).
        #[arg(long)]
        model: Option<std::path::PathBuf>,
        /// Tokens to generate per sequence.
        #[arg(long, default_value_t = 128)]
        tokens: u32,
        /// Python with llama-cpp-python (default: $CTS_PYENV/bin/python, else ~/.cache/cts/pyenv-test/bin/python, what scripts/test creates).
        #[arg(long)]
        python: Option<std::path::PathBuf>,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// The review workbench under load (wrk on loopback): review page and submit next to /healthz.
    Review {
        /// Traces in the store (each reviewed --reviews-per-trace times).
        #[arg(long, default_value_t = 100_000)]
        traces: u64,
        /// Submitted reviews per trace.
        #[arg(long, default_value_t = 2)]
        reviews_per_trace: usize,
        /// wrk connections.
        #[arg(long, default_value_t = 16)]
        connections: u32,
        /// Seconds per load run.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Scratch folder (default: a temporary folder, removed afterwards).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Dataset release build: examples/s and peak memory at N/10 and N traces, next to streaming the same content out of SQLite.
    Dataset {
        /// Reviewed traces in the larger store.
        #[arg(long, default_value_t = 100_000)]
        traces: u64,
        /// Reviews per trace.
        #[arg(long, default_value_t = 2)]
        reviews_per_trace: usize,
        /// Scratch folder (default: a temporary folder, removed afterwards).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Log-likelihood scoring of 4-option MMLU-medical items on the local model: the context decoded once per item (prefix sharing) next to every option from scratch.
    Loglik {
        /// The mmlu-medical folder (with test/ and dev/ CSVs).
        #[arg(long)]
        data: std::path::PathBuf,
        /// Test items to score (round-robin over the six subjects).
        #[arg(long, default_value_t = 50)]
        items: usize,
        /// Few-shot examples from each subject's dev split.
        #[arg(long, default_value_t = 0)]
        shots: usize,
        /// GGUF model (default: the built-in model).
        #[arg(long)]
        model: Option<std::path::PathBuf>,
        /// Text put before every context, e.g. the model's BOS token written
        /// out (`<|im_start|>` for the default model), to score the token
        /// sequence a server that adds BOS scores.
        #[arg(long, default_value = "")]
        context_prefix: String,
    },
    /// A zero-latency OpenAI-compatible stub (`/v1/chat/completions`) on ADDR, until killed: the peer for `bench http --url` and other clients.
    Stub {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8099")]
        addr: std::net::SocketAddr,
    },
    /// Red-team dispatch (target + LLM judge per instance, cached) against a zero-latency stub, vs the benchmark runner's dispatch.
    Redteam {
        /// Attack instances (two requests each).
        #[arg(long, default_value_t = 20_000)]
        instances: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// HTTP model dispatch against a zero-latency local stub: CTS's client vs a bare HTTP client.
    Http {
        /// Requests to send.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Base URL of a running stub (e.g. `bench stub`) instead of one in this process.
        #[arg(long)]
        url: Option<String>,
    },
}

/// Runs a bench subcommand.
pub async fn run(cmd: BenchCommand, out: &Output) -> Result<ExitCode> {
    let json = out.json;
    let progress: cts_bench::Progress =
        Arc::new(move |len, what: &str| Output { json }.progress(len, what));
    match cmd {
        BenchCommand::Review {
            traces,
            reviews_per_trace,
            connections,
            seconds,
            dir,
        } => {
            let f = cts_bench::review::run(
                dir,
                traces,
                reviews_per_trace.max(1),
                connections.max(1),
                seconds.max(1),
                &progress,
            )
            .await?;
            out.emit(&f, || f.to_string());
        }
        BenchCommand::Dataset {
            traces,
            reviews_per_trace,
            dir,
        } => {
            let init_project = |dir: &std::path::Path, origin: &str| {
                let project = Project::init(dir, Some(origin))?;
                Ok(cts_bench::dataset::NewProject {
                    database: project.database_path(),
                    verifier: project.verifier()?,
                })
            };
            let cli = cts_bench::dataset::Cli {
                exe: std::env::current_exe().context("locating the cts binary")?,
                init_project: &init_project,
            };
            let f = cts_bench::dataset::run(dir, traces, reviews_per_trace.max(1), &cli, &progress)
                .await?;
            out.emit(&f, || f.to_string());
        }
        BenchCommand::Ledger {
            events,
            producers,
            batch,
            proofs,
            dir,
        } => {
            let f = cts_bench::ledger::run(
                dir,
                events,
                producers.max(1),
                batch.max(1),
                proofs,
                &progress,
            )
            .await?;
            out.emit(&f, || f.to_string());
        }
        BenchCommand::Loglik {
            data,
            items,
            shots,
            model,
            context_prefix,
        } => {
            let f = cts_bench::loglik::run(model, data, items, shots, &context_prefix, &progress)
                .await?;
            out.emit(&f, || f.to_string());
        }
        BenchCommand::Generate {
            model,
            tokens,
            python,
            reps,
        } => {
            let f = cts_bench::generate::run(model, tokens, python, reps.max(1)).await?;
            out.emit(&f, || f.to_string());
        }
        BenchCommand::Stub { addr } => cts_bench::http::serve_stub(addr).await?,
        BenchCommand::Redteam {
            instances,
            concurrency,
        } => {
            let f = cts_bench::redteam::run(instances.max(1), concurrency.max(1)).await?;
            out.emit(&f, || f.to_string());
        }
        BenchCommand::Http {
            requests,
            concurrency,
            url,
        } => {
            let f = cts_bench::http::run(requests.max(1), concurrency.max(1), url).await?;
            out.emit(&f, || f.to_string());
        }
    }
    Ok(ExitCode::SUCCESS)
}
