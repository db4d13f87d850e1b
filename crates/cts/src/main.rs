//! `cts`: the command-line tool of CTS — Clinical Trust Signals.
//!
//! Thin glue: parses arguments, finds the project, and calls the library
//! crates. Human output by default, `--json` for scripts.

mod cmd;
mod output;
mod project;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: dataset builds and the
/// workbench allocate many short-lived strings on several threads, where
/// glibc's arenas spent a sixth of a release build in malloc, free and
/// their locks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CTS — Clinical Trust Signals: tie every clinical-AI alignment signal to a
/// verifiable transparency log.
#[derive(Parser, Debug)]
#[command(name = "cts", version, propagate_version = true)]
struct Cli {
    /// Project folder (default: the nearest folder with cts.toml at or above the current one).
    #[arg(long, global = true, env = "CTS_PROJECT")]
    project: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a project: cts.toml, the SQLite database and the log's Ed25519 signing key.
    Init(cmd::init::InitArgs),
    /// Import and list clinical cases (synthetic, JSONL, CSV, PubMedQA, MMLU).
    #[command(subcommand)]
    Cases(cmd::cases::CasesCommand),
    /// Fetch the default local model.
    #[command(subcommand)]
    Model(cmd::model::ModelCommand),
    /// Run a model on cases and record segmented reasoning traces (resumable).
    Generate(cmd::generate::GenerateArgs),
    /// List and show reasoning traces.
    #[command(subcommand)]
    Traces(cmd::traces::TracesCommand),
    /// Serve the clinician review workbench (web application) on loopback.
    Serve(cmd::serve::ServeArgs),
    /// Manage workbench accounts (the first admin comes from here).
    #[command(subcommand)]
    User(cmd::user::UserCommand),
    /// Show or check review rubrics.
    #[command(subcommand)]
    Rubric(cmd::rubric::RubricCommand),
    /// Build, list and verify alignment dataset releases (SFT, DPO, KTO, PRM).
    #[command(subcommand)]
    Dataset(cmd::dataset::DatasetCommand),
    /// Evaluate models on clinical benchmarks (MedQA, MedMCQA, PubMedQA, MMLU-medical), compare runs.
    #[command(subcommand)]
    Eval(cmd::eval::EvalCommand),
    /// Red-team models: harmful-request sets × attack strategies, judged; unsafe rates, risk, base vs tuned.
    #[command(subcommand)]
    Redteam(cmd::redteam::RedteamCommand),
    /// Trace an example, or a trained model, back to the clinicians, reviews, traces and cases behind it.
    Lineage(cmd::provenance::LineageArgs),
    /// Train on a verified release with TRL (SFT, DPO, KTO), convert to GGUF and ledger the run.
    Train(cmd::train::TrainArgs),
    /// Record and list training runs on dataset releases.
    #[command(subcommand)]
    Training(cmd::provenance::TrainingCommand),
    /// Register behaviour policies and trace how each was controlled.
    #[command(subcommand)]
    Policy(cmd::provenance::PolicyCommand),
    /// Serve the model as an OpenAI-compatible endpoint on loopback.
    ServeModel(cmd::serve_model::ServeModelArgs),
    /// Append to, inspect, prove, export and audit the transparency log.
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCommand),
    /// Verify a proof bundle or a tile export offline, with only the verifier key.
    Verify(cmd::verify::VerifyArgs),
    /// Run a C2SP tlog-witness that cosigns other CTS logs' checkpoints (rollbacks and forks refused).
    #[command(subcommand)]
    Witness(cmd::witness::WitnessCommand),
    /// Measure performance (figures as ratios against baselines run alongside).
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let out = output::Output { json: cli.json };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(args) => cmd::init::run(args, &out).await,
            Command::Cases(c) => cmd::cases::run(c, cli.project.as_deref(), &out).await,
            Command::Model(c) => cmd::model::run(c, &out).await,
            Command::Generate(a) => {
                cmd::generate::run_generate(a, cli.project.as_deref(), &out).await
            }
            Command::Traces(c) => cmd::traces::run_traces(c, cli.project.as_deref(), &out).await,
            Command::Serve(a) => cmd::serve::run(a, cli.project.as_deref(), &out).await,
            Command::User(c) => cmd::user::run(c, cli.project.as_deref(), &out).await,
            Command::Rubric(c) => cmd::rubric::run(c, cli.project.as_deref(), &out).await,
            Command::Dataset(c) => cmd::dataset::run(c, cli.project.as_deref(), &out).await,
            Command::Eval(c) => cmd::eval::run(c, cli.project.as_deref(), &out).await,
            Command::Redteam(c) => cmd::redteam::run(c, cli.project.as_deref(), &out).await,
            Command::Lineage(a) => {
                cmd::provenance::run_lineage(a, cli.project.as_deref(), &out).await
            }
            Command::Train(a) => cmd::train::run(a, cli.project.as_deref(), &out).await,
            Command::Training(c) => {
                cmd::provenance::run_training(c, cli.project.as_deref(), &out).await
            }
            Command::Policy(c) => {
                cmd::provenance::run_policy(c, cli.project.as_deref(), &out).await
            }
            Command::ServeModel(a) => cmd::serve_model::run(a, cli.project.as_deref(), &out).await,
            Command::Ledger(c) => cmd::ledger::run(c, cli.project.as_deref(), &out).await,
            Command::Verify(args) => cmd::verify::run(args, &out).await,
            Command::Witness(c) => cmd::witness::run(c, &out).await,
            Command::Bench(c) => cmd::bench::run(c, &out).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            if cli.json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
