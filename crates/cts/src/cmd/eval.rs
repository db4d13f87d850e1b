//! `cts eval …`: clinical benchmark evaluation — run, compare, list, show.
//!
//! Glue only: benchmarks load through `cts_eval`, items run through
//! `cts_runner::eval` (cached per item, so a killed run resumes), and the
//! run folder, its `eval.completed` event and its proof are written by
//! `cts_runner::record`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cts_eval::load::{MmluSplit, PubmedqaSetting};
use cts_eval::{BenchItem, BenchmarkKind, BenchmarkSpec, Template, TemplateId};
use cts_runner::cache::ItemCache;
use cts_runner::eval::{config_key, prepare, EvalConfig, ScoringMode};
use cts_runner::record::{read_run, BenchmarkInput, Bootstrap, FileDigest, NewRun};

use crate::output::Output;
use crate::project::Project;

/// `cts eval` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum EvalCommand {
    /// Evaluate a model on clinical benchmarks; ledgers the result (`eval.completed`).
    Run(RunArgs),
    /// Paired comparison of two runs on the items both hold (e.g. base vs tuned).
    Compare {
        /// Run A: a run id or a run folder (e.g. the base model).
        a: String,
        /// Run B: a run id or a run folder (e.g. the tuned model).
        b: String,
    },
    /// List recorded evaluation runs.
    List {
        /// Only runs of this model (its key — weights SHA-256 — or its name).
        #[arg(long)]
        model: Option<String>,
    },
    /// Show one run's summary table.
    Show {
        /// Run id or run folder.
        run: String,
    },
    /// Rubric-graded open-ended evaluation (HealthBench format): the model answers, a grader grades each criterion; ledgers `healthbench.completed`.
    Healthbench(HealthbenchArgs),
    /// List recorded rubric-graded (HealthBench-format) runs.
    HealthbenchList {
        /// Only runs of this model (its key or its name).
        #[arg(long)]
        model: Option<String>,
    },
}

/// Arguments of `cts eval healthbench`.
#[derive(clap::Args, Debug)]
pub struct HealthbenchArgs {
    /// Example files, repeatable: JSONL, or a .json file holding one example or an array.
    #[arg(long = "data", required = true, value_name = "FILE")]
    data: Vec<PathBuf>,
    /// Model: `default`, a .gguf path, or an OpenAI-compatible base URL (default: cts.toml [model] source).
    #[arg(long)]
    model: Option<String>,
    /// Grader model (default: the model itself; a stronger grader gives a more trustworthy score).
    #[arg(long)]
    grader: Option<String>,
    /// Re-asks of the grader after a malformed grade.
    #[arg(long, default_value_t = 2)]
    grader_retries: u32,
    /// Most tokens per grader reply.
    #[arg(long, default_value_t = 256)]
    grader_max_tokens: u32,
    /// At most this many examples per file, in file order.
    #[arg(long)]
    limit: Option<usize>,
    /// Examples in flight at once.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 512)]
    max_tokens: u32,
    /// Sampling seed (default: cts.toml [model] seed). Also seeds the bootstrap.
    #[arg(long)]
    seed: Option<u64>,
    /// Bootstrap resamples for the standard errors.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
}

/// How answers are obtained.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ModeArg {
    /// Generate a reply and read the answer from it.
    Generate,
    /// Pick the option with the highest log-likelihood (lm-evaluation-harness's convention).
    Loglik,
}

/// Prompt style.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum TemplateArg {
    /// Question, options, `Answer:` (template mcq-plain/v1).
    Plain,
    /// Asks for step-by-step reasoning, then `Answer: X` (template mcq-cot/v1; generation only).
    Cot,
}

/// PubMedQA setting.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PubmedqaArg {
    /// Question and abstract without its conclusion (the standard setting).
    ReasoningRequired,
    /// Question, abstract and the long answer.
    ReasoningFree,
}

/// Arguments of `cts eval run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A benchmark as NAME[=PATH], repeatable. NAME: medqa, medmcqa, pubmedqa,
    /// mmlu-medical, or custom (JSONL with question/options/answer). pubmedqa
    /// and mmlu-medical default to the shared data folder (see [eval] data_dir).
    #[arg(long = "benchmark", required = true, value_name = "NAME[=PATH]")]
    benchmarks: Vec<String>,
    /// Model: `default`, a .gguf path, or an OpenAI-compatible base URL (default: cts.toml [model] source).
    #[arg(long)]
    model: Option<String>,
    /// Scoring mode (default: loglik for local models, generate for servers).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Prompt template.
    #[arg(long, value_enum, default_value = "plain")]
    template: TemplateArg,
    /// Exemplars before each item (MMLU: from the subject's dev split; others: other items of the same file).
    #[arg(long, default_value_t = 0)]
    shots: usize,
    /// At most this many items per benchmark, taken round-robin across subjects in file order.
    #[arg(long)]
    limit: Option<usize>,
    /// Requests (generation) or item batches (log-likelihood) in flight at once.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Sampling seed (default: cts.toml [model] seed); sample k uses seed + k. Also seeds the bootstrap.
    #[arg(long)]
    seed: Option<u64>,
    /// Self-consistency: samples per item, majority vote (generation only).
    #[arg(long, default_value_t = 1)]
    samples: u32,
    /// Sampling temperature (generation; default 0, greedy, or cts.toml's with --samples > 1).
    #[arg(long)]
    temperature: Option<f32>,
    /// Most tokens per reply (generation; default 64 plain, cts.toml's max_tokens for cot).
    #[arg(long)]
    max_tokens: Option<u32>,
    /// PubMedQA setting.
    #[arg(long, value_enum, default_value = "reasoning-required")]
    pubmedqa_setting: PubmedqaArg,
    /// Bootstrap resamples for the macro average's interval.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
}

/// Runs an eval subcommand.
pub async fn run(cmd: EvalCommand, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    let project = Project::find(project)?;
    match cmd {
        EvalCommand::Run(args) => run_eval(args, &project, out).await,
        EvalCommand::Compare { a, b } => {
            let store = project.open_store().await?;
            let (da, db) = (
                run_dir(&project, &store, &a).await?,
                run_dir(&project, &store, &b).await?,
            );
            let (ma, ia) = read_run(&da)?;
            let (mb, ib) = read_run(&db)?;
            let c = cts_runner::compare::compare((&ma, &ia), (&mb, &ib))?;
            out.emit(&c, || c.render());
            Ok(ExitCode::SUCCESS)
        }
        EvalCommand::List { model } => {
            let store = project.open_store().await?;
            let runs = cts_store::evals::eval_runs(&store, model.as_deref()).await?;
            out.emit(&runs, || {
                if runs.is_empty() {
                    return "no evaluation runs recorded (cts eval run)\n".into();
                }
                let mut s = String::new();
                for r in &runs {
                    let benches = r.record.results.counts_text();
                    s.push_str(&format!(
                        "{}  leaf {}  {}  {} ({})  macro {:.1}%  {}\n",
                        r.record.id,
                        r.leaf,
                        r.record.model.name,
                        r.record.mode,
                        r.record.template,
                        100.0 * r.record.results.macro_average,
                        benches
                    ));
                }
                s
            });
            Ok(ExitCode::SUCCESS)
        }
        EvalCommand::Healthbench(args) => run_healthbench(args, &project, out).await,
        EvalCommand::HealthbenchList { model } => {
            let store = project.open_store().await?;
            let runs = cts_store::healthbench::healthbench_runs(&store, model.as_deref()).await?;
            out.emit(&runs, || {
                if runs.is_empty() {
                    return "no rubric-graded runs recorded (cts eval healthbench)\n".into();
                }
                runs.iter()
                    .map(|r| {
                        format!(
                            "{}  leaf {}  {}  grader {}  {}\n",
                            r.record.id,
                            r.leaf,
                            r.record.model.name,
                            r.record.grader,
                            r.record.results.text()
                        )
                    })
                    .collect()
            });
            Ok(ExitCode::SUCCESS)
        }
        EvalCommand::Show { run } => {
            let store = project.open_store().await?;
            let dir = run_dir(&project, &store, &run).await?;
            let path = dir.join("summary.json");
            let bytes = std::fs::read(&path).with_context(|| path.display().to_string())?;
            let summary: cts_runner::record::RunSummary = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a run summary", path.display()))?;
            out.emit(&summary, || summary.render());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A run's folder from its id (looked up in the ledger's table) or a path.
async fn run_dir(project: &Project, store: &cts_store::Store, run: &str) -> Result<PathBuf> {
    let path = PathBuf::from(run);
    if cts_runner::record::is_run_folder(&path) {
        return Ok(path);
    }
    let recorded = cts_store::evals::eval_run(store, run).await?;
    let dir = PathBuf::from(&recorded.dir);
    if cts_runner::record::is_run_folder(&dir) {
        return Ok(dir);
    }
    let local = project.dir.join("evals").join(run);
    if cts_runner::record::is_run_folder(&local) {
        return Ok(local);
    }
    bail!(
        "run {run} is recorded at leaf {} but its folder {} is gone",
        recorded.leaf,
        recorded.dir
    )
}

/// Where the shared public benchmarks are, if anywhere.
fn data_dir(project: &Project) -> Option<PathBuf> {
    if let Some(d) = &project.config.eval.data_dir {
        return Some(project.dir.join(d));
    }
    if let Some(d) = std::env::var_os("CTS_BENCH_DATA").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let candidates = [
        project.dir.parent().map(|p| p.join("../shared/data")),
        Some(PathBuf::from("../shared/data")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

/// Parses `NAME[=PATH]` into a load spec.
fn benchmark_spec(arg: &str, project: &Project, args: &RunArgs) -> Result<BenchmarkSpec> {
    let (name, path) = match arg.split_once('=') {
        Some((n, p)) => (n.trim(), Some(PathBuf::from(p))),
        None => (arg.trim(), None),
    };
    let Some(kind) = BenchmarkKind::from_name(name) else {
        bail!("--benchmark {arg}: unknown benchmark {name:?} (medqa, medmcqa, pubmedqa, mmlu-medical, custom)");
    };
    let path = match path {
        Some(p) => p,
        None => {
            let folder = match kind {
                BenchmarkKind::Pubmedqa => "pubmedqa",
                BenchmarkKind::MmluMedical => "mmlu-medical",
                _ => bail!("--benchmark {name} needs a file: --benchmark {name}=PATH"),
            };
            let Some(dir) = data_dir(project) else {
                bail!(
                    "--benchmark {name}: no data folder found; give --benchmark {name}=PATH, set [eval] data_dir in cts.toml or $CTS_BENCH_DATA"
                );
            };
            dir.join(folder)
        }
    };
    let mut spec = BenchmarkSpec::new(kind, path.clone());
    if kind == BenchmarkKind::Custom {
        spec.name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| format!("custom:{s}"));
    }
    spec.pubmedqa_setting = match args.pubmedqa_setting {
        PubmedqaArg::ReasoningRequired => PubmedqaSetting::ReasoningRequired,
        PubmedqaArg::ReasoningFree => PubmedqaSetting::ReasoningFree,
    };
    Ok(spec)
}

/// At most `limit` items, round-robin across subjects in order of first appearance.
fn limit_items(items: Vec<BenchItem>, limit: Option<usize>) -> Vec<BenchItem> {
    let Some(limit) = limit else { return items };
    if items.len() <= limit {
        return items;
    }
    let mut subjects: Vec<(Option<String>, std::collections::VecDeque<BenchItem>)> = Vec::new();
    for item in items {
        match subjects.iter_mut().find(|(s, _)| *s == item.subject) {
            Some((_, q)) => q.push_back(item),
            None => subjects.push((item.subject.clone(), [item].into())),
        }
    }
    let mut out = Vec::with_capacity(limit);
    while out.len() < limit {
        let mut took = false;
        for (_, q) in subjects.iter_mut() {
            if out.len() == limit {
                break;
            }
            if let Some(item) = q.pop_front() {
                out.push(item);
                took = true;
            }
        }
        if !took {
            break;
        }
    }
    out
}

async fn run_eval(args: RunArgs, project: &Project, out: &Output) -> Result<ExitCode> {
    // Load everything first: a bad file stops the run before any model call.
    let mut loaded = Vec::new();
    let mut names = BTreeSet::new();
    for arg in &args.benchmarks {
        let spec = benchmark_spec(arg, project, &args)?;
        let bench = cts_eval::load(&spec)?;
        if !names.insert(bench.name.clone()) {
            bail!("--benchmark {arg}: benchmark {} is given twice", bench.name);
        }
        let pool =
            if args.shots > 0 && spec.kind == BenchmarkKind::MmluMedical && spec.path.is_dir() {
                cts_eval::load::load_mmlu(&spec.path, MmluSplit::Dev)?.items
            } else {
                bench.items.clone()
            };
        loaded.push((spec, bench, pool));
    }
    let source = args
        .model
        .clone()
        .unwrap_or_else(|| project.config.model.source.clone());
    let local = !cts_runner::models::is_http(&source);
    let mode = match args.mode {
        Some(ModeArg::Generate) => ScoringMode::Generate,
        Some(ModeArg::Loglik) => ScoringMode::Loglik,
        None if local && matches!(args.template, TemplateArg::Plain) && args.samples == 1 => {
            ScoringMode::Loglik
        }
        None => ScoringMode::Generate,
    };
    let template = Template {
        id: match args.template {
            TemplateArg::Plain => TemplateId::McqPlainV1,
            TemplateArg::Cot => TemplateId::McqCotV1,
        },
        shots: args.shots,
    };
    let mut params = super::model::params(&project.config.model);
    params.temperature = args.temperature.unwrap_or(if args.samples > 1 {
        params.temperature
    } else {
        0.0
    });
    params.max_tokens = args
        .max_tokens
        .unwrap_or(if template.id.is_chain_of_thought() {
            params.max_tokens
        } else {
            64
        });
    if let Some(seed) = args.seed {
        params.seed = seed;
    }
    let config = EvalConfig {
        mode,
        template,
        params: params.clone(),
        samples: args.samples,
    };
    config.validate()?;

    let mut inputs = Vec::new();
    let mut prepared = Vec::new();
    for (spec, bench, pool) in &loaded {
        let available = bench.items.len();
        let items = limit_items(bench.items.clone(), args.limit);
        let files = bench
            .files
            .iter()
            .map(|f| FileDigest::of_file(f, &f.display().to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        inputs.push(BenchmarkInput {
            name: bench.name.clone(),
            kind: spec.kind,
            items: items.len(),
            available,
            files,
            detected: bench.medmcqa_shape.map(|s| format!("{s:?}")),
        });
        prepared.extend(prepare(items, &template, |_| pool.as_slice()));
    }
    if prepared.is_empty() {
        bail!("the benchmarks hold no items");
    }
    // The ledger is opened (and checked against its anchor) before the model is loaded.
    let store = project.open_store().await?;
    let http = cts_runner::models::HttpSettings {
        model: project.config.model.http_model.clone(),
        api_key_env: project.config.model.api_key_env.clone(),
        timeout: Duration::from_secs(project.config.model.timeout_s),
    };
    let model = cts_runner::models::open(&source, &http, args.concurrency).await?;
    let identity = model.identity();
    let evals_dir = project.dir.join("evals");
    let mut cache = ItemCache::open(&evals_dir.join("cache"), &config_key(&identity, &config))?;
    let bar = out.progress(prepared.len() as u64, "items");
    let started = Instant::now();
    let outcome = cts_runner::eval::run(
        model,
        &prepared,
        &config,
        args.concurrency,
        &mut cache,
        &|n| bar.inc(n),
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    let fresh = outcome.results.len() - outcome.from_cache;
    let signer = project.signer()?;
    let verifier = project.verifier()?;
    let recorded = cts_runner::record::record_run(
        NewRun {
            evals_dir: &evals_dir,
            model: identity,
            config,
            limit: args.limit,
            bootstrap: Bootstrap {
                resamples: args.bootstrap,
                seed: params.seed,
            },
            benchmarks: inputs,
            results: &outcome.results,
        },
        &store,
        signer,
        &verifier,
        &project.actor(),
    )
    .await?;
    #[derive(serde::Serialize)]
    struct Report<'a> {
        id: &'a str,
        dir: &'a Path,
        leaf: u64,
        items: usize,
        from_cache: usize,
        seconds: f64,
        items_per_s: f64,
        summary: &'a cts_runner::record::RunSummary,
    }
    let report = Report {
        id: &recorded.manifest.id,
        dir: &recorded.dir,
        leaf: recorded.leaf,
        items: outcome.results.len(),
        from_cache: outcome.from_cache,
        seconds,
        items_per_s: if seconds > 0.0 {
            fresh as f64 / seconds
        } else {
            0.0
        },
        summary: &recorded.summary,
    };
    out.emit(&report, || {
        format!(
            "{}\n{} items ({} from the cache) in {:.1} s; recorded as eval.completed at leaf {}\nrun folder: {} (check it offline: cts verify {})\n",
            recorded.summary.render().trim_end(),
            report.items,
            report.from_cache,
            seconds,
            recorded.leaf,
            recorded.dir.display(),
            recorded.dir.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}

async fn run_healthbench(
    args: HealthbenchArgs,
    project: &Project,
    out: &Output,
) -> Result<ExitCode> {
    use cts_runner::healthbench::{config_key, grader_spec, NewHealthbenchRun};
    // Read every file first: a bad file stops the run before any model call.
    let mut examples = Vec::new();
    let mut files = Vec::new();
    let mut ids = BTreeSet::new();
    for path in &args.data {
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        let mut parsed = cts_eval::healthbench::parse_examples(&path.display().to_string(), &text)?;
        if let Some(limit) = args.limit {
            parsed.truncate(limit);
        }
        for e in &parsed {
            if !ids.insert(e.prompt_id.clone()) {
                bail!(
                    "{}: prompt_id {} also occurs in an earlier --data file",
                    path.display(),
                    e.prompt_id
                );
            }
        }
        examples.extend(parsed);
        files.push(FileDigest::of_bytes(
            &path.display().to_string(),
            text.as_bytes(),
        ));
    }
    let mut params = super::model::params(&project.config.model);
    params.temperature = 0.0;
    params.max_tokens = args.max_tokens;
    if let Some(seed) = args.seed {
        params.seed = seed;
    }
    let store = project.open_store().await?;
    let http = cts_runner::models::HttpSettings {
        model: project.config.model.http_model.clone(),
        api_key_env: project.config.model.api_key_env.clone(),
        timeout: Duration::from_secs(project.config.model.timeout_s),
    };
    let source = args
        .model
        .clone()
        .unwrap_or_else(|| project.config.model.source.clone());
    let model = cts_runner::models::open(&source, &http, args.concurrency)
        .await
        .context("--model")?;
    let grader = match args.grader.as_deref() {
        None => model.clone(),
        Some(g) if g == source => model.clone(),
        Some(g) => cts_runner::models::open(g, &http, args.concurrency)
            .await
            .context("--grader")?,
    };
    let mut spec = grader_spec(grader.identity(), args.grader_retries, params.seed);
    spec.params.max_tokens = args.grader_max_tokens;
    let identity = model.identity();
    let dir = project.dir.join("healthbench");
    let mut cache = ItemCache::open(&dir.join("cache"), &config_key(&identity, &params, &spec))?;
    let bar = out.progress(examples.len() as u64, "examples");
    let started = Instant::now();
    let outcome = cts_runner::healthbench::run(
        model,
        grader,
        &params,
        &spec,
        &examples,
        args.concurrency,
        &mut cache,
        &|n| bar.inc(n),
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    let recorded = cts_runner::healthbench::record_healthbench_run(
        NewHealthbenchRun {
            dir: &dir,
            model: identity,
            params: params.clone(),
            grader: spec,
            limit: args.limit,
            bootstrap: Bootstrap {
                resamples: args.bootstrap,
                seed: params.seed,
            },
            files,
            results: &outcome.results,
        },
        &store,
        project.signer()?,
        &project.verifier()?,
        &project.actor(),
    )
    .await?;
    #[derive(serde::Serialize)]
    struct Report<'a> {
        id: &'a str,
        dir: &'a Path,
        leaf: u64,
        examples: usize,
        from_cache: usize,
        seconds: f64,
        summary: &'a cts_runner::healthbench::HealthbenchRunSummary,
    }
    let report = Report {
        id: &recorded.manifest.id,
        dir: &recorded.dir,
        leaf: recorded.leaf,
        examples: outcome.results.len(),
        from_cache: outcome.from_cache,
        seconds,
        summary: &recorded.summary,
    };
    out.emit(&report, || {
        format!(
            "{}\n{} examples ({} from the cache) in {:.1} s; recorded as healthbench.completed at leaf {}\nrun folder: {} (check it offline: cts verify {})\n",
            recorded.summary.render().trim_end(),
            report.examples,
            report.from_cache,
            seconds,
            recorded.leaf,
            recorded.dir.display(),
            recorded.dir.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}
