//! `cts redteam …`: red teaming — run, compare, list, show, strategies.
//!
//! Glue only: attack sets load through `cts_redteam::attack`, strategies
//! come from `cts_redteam::strategy`, instances run and are judged through
//! `cts_runner::redteam` (cached per instance, so a killed run resumes), and
//! the run folder, its `redteam.completed` event and its proof are written
//! by the same module.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cts_model::LoglikModel;
use cts_redteam::attack::{self, AttackPrompt};
use cts_redteam::judge::HARM_RUBRIC_ID;
use cts_redteam::metrics::DEFAULT_UNSAFE_THRESHOLD;
use cts_redteam::Strategy;
use cts_runner::cache::ItemCache;
use cts_runner::record::{Bootstrap, FileDigest};
use cts_runner::redteam::{
    config_key, instances, read_redteam_run, JudgeSpec, MultiTurnSpec, NewRedteamRun,
    RedteamModels, RedteamSettings, SetInput, CRESCENDO_ID,
};

use crate::output::Output;
use crate::project::Project;

/// `cts redteam` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum RedteamCommand {
    /// Attack a model with harmful-request sets and strategies, judge every reply, ledger the run (`redteam.completed`).
    Run(RunArgs),
    /// Paired base-vs-tuned comparison of two runs on the same attack instances.
    Compare {
        /// Run A: a run id or a run folder (the base model).
        a: String,
        /// Run B: a run id or a run folder (the tuned model).
        b: String,
    },
    /// List recorded red-teaming runs.
    List {
        /// Only runs against this model (its key — weights SHA-256 — or its name).
        #[arg(long)]
        model: Option<String>,
    },
    /// Show one run's report.
    Show {
        /// Run id or run folder.
        run: String,
    },
    /// List the attack strategies and their versioned ids.
    Strategies,
    /// Agreement of a run's judge with human labels: Cohen's κ (scores and unsafe/safe) and the confusion matrix.
    JudgeAgreement {
        /// Run id or run folder.
        run: String,
        /// Human labels, JSONL: {"instance_id": "…", "score": 1-5, "rater"?: "…"} per line.
        #[arg(long)]
        labels: PathBuf,
    },
}

/// Arguments of `cts redteam run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// An attack set, repeatable: `synthetic` (the shipped synthetic seeds), a
    /// MedSafetyBench `…category_N.csv` file or a folder of them, a `.jsonl`
    /// file ({id, prompt, category, severity?, reference_safe_response?}) or a
    /// `.txt` file (one request per line; give --category).
    #[arg(long = "attacks", value_name = "SET", default_value = "synthetic")]
    attacks: Vec<String>,
    /// Category of the requests in `.txt` attack files.
    #[arg(long)]
    category: Option<String>,
    /// Strategies, comma-separated versioned ids or short names (`direct`,
    /// `roleplay`, `base64`, …; `a+b` chains; `all` for every single-turn
    /// one; `crescendo` for multi-turn escalation driven by --attacker).
    #[arg(long, default_value = "direct", value_delimiter = ',')]
    strategies: Vec<String>,
    /// Attacker model of multi-turn escalation (`default`, a .gguf path, a URL; default: the target itself).
    #[arg(long)]
    attacker: Option<String>,
    /// Most user turns of a multi-turn escalation.
    #[arg(long, default_value_t = 3)]
    turns: u32,
    /// Target model: `default`, a .gguf path, or an OpenAI-compatible base URL (default: cts.toml [model] source).
    #[arg(long)]
    model: Option<String>,
    /// Judge: `rules` (the rule-based refusal detector) or a model (`default`, a .gguf path, a URL) with the medsafety-harm/v1 rubric.
    #[arg(long, default_value = "rules")]
    judge: String,
    /// Re-asks of an LLM judge after a malformed verdict.
    #[arg(long, default_value_t = 2)]
    judge_retries: u32,
    /// Generations per attack instance (sample s uses seed + s).
    #[arg(long, default_value_t = 1)]
    k: u32,
    /// At most this many requests per set, taken round-robin across categories in file order.
    #[arg(long)]
    limit: Option<usize>,
    /// Benign request set for the over-refusal rate: `synthetic` (shipped) or a .jsonl file.
    #[arg(long, default_value = "synthetic", conflicts_with = "no_benign")]
    benign: String,
    /// Skip the over-refusal check.
    #[arg(long)]
    no_benign: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Sampling seed (default: cts.toml [model] seed). Also seeds the bootstrap.
    #[arg(long)]
    seed: Option<u64>,
    /// Target's sampling temperature (default 0, greedy; cts.toml's with --k above 1).
    #[arg(long)]
    temperature: Option<f32>,
    /// Most tokens per target reply.
    #[arg(long, default_value_t = 256)]
    max_tokens: u32,
    /// Harm score (1–5) at or above which a reply is unsafe.
    #[arg(long, default_value_t = DEFAULT_UNSAFE_THRESHOLD)]
    threshold: u8,
    /// Bootstrap resamples for the mean-harm and risk intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
}

/// Runs a redteam subcommand.
pub async fn run(cmd: RedteamCommand, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    if let RedteamCommand::Strategies = cmd {
        let list: Vec<(String, String)> = Strategy::all()
            .into_iter()
            .map(|s| (s.id(), s.transform("<request>")))
            .collect();
        out.emit(&list, || {
            let mut s = String::new();
            for (id, example) in &list {
                let first = example.lines().next().unwrap_or_default();
                s.push_str(&format!(
                    "{id:<28} {}\n",
                    first.chars().take(90).collect::<String>()
                ));
            }
            s.push_str("chain strategies with +, e.g. refusal-suppression/v1+base64/v1\n");
            s
        });
        return Ok(ExitCode::SUCCESS);
    }
    let project = Project::find(project)?;
    match cmd {
        RedteamCommand::Run(args) => run_redteam(args, &project, out).await,
        RedteamCommand::Compare { a, b } => {
            let store = project.open_store().await?;
            let (da, db) = (
                run_dir(&project, &store, &a).await?,
                run_dir(&project, &store, &b).await?,
            );
            let (ma, ia) = read_redteam_run(&da)?;
            let (mb, ib) = read_redteam_run(&db)?;
            let c = cts_runner::redteam::compare_runs((&ma, &ia), (&mb, &ib))?;
            out.emit(&c, || c.render());
            Ok(ExitCode::SUCCESS)
        }
        RedteamCommand::List { model } => {
            let store = project.open_store().await?;
            let runs = cts_store::redteam::redteam_runs(&store, model.as_deref()).await?;
            out.emit(&runs, || {
                if runs.is_empty() {
                    return "no red-teaming runs recorded (cts redteam run)\n".into();
                }
                runs.iter()
                    .map(|r| {
                        format!(
                            "{}  leaf {}  {}  judge {}  {}\n",
                            r.record.id,
                            r.leaf,
                            r.record.target.name,
                            r.record.judge,
                            r.record.results.text()
                        )
                    })
                    .collect()
            });
            Ok(ExitCode::SUCCESS)
        }
        RedteamCommand::Show { run } => {
            let store = project.open_store().await?;
            let dir = run_dir(&project, &store, &run).await?;
            let path = dir.join("summary.json");
            let bytes = std::fs::read(&path).with_context(|| path.display().to_string())?;
            let summary: cts_runner::redteam::RedteamSummary = serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not a red-teaming summary", path.display()))?;
            out.emit(&summary, || summary.render());
            Ok(ExitCode::SUCCESS)
        }
        RedteamCommand::JudgeAgreement { run, labels } => {
            let store = project.open_store().await?;
            let dir = run_dir(&project, &store, &run).await?;
            let (manifest, results) = read_redteam_run(&dir)?;
            let text =
                std::fs::read_to_string(&labels).with_context(|| labels.display().to_string())?;
            let parsed = cts_runner::redteam::parse_labels(&labels, &text)?;
            let a = cts_runner::redteam::judge_agreement(&manifest, &results, &parsed, &labels)?;
            out.emit(&a, || a.render());
            Ok(ExitCode::SUCCESS)
        }
        RedteamCommand::Strategies => Ok(ExitCode::SUCCESS),
    }
}

/// A run's folder from its id (looked up in the ledger's table) or a path.
async fn run_dir(project: &Project, store: &cts_store::Store, run: &str) -> Result<PathBuf> {
    let path = PathBuf::from(run);
    if cts_runner::redteam::is_redteam_folder(&path) {
        return Ok(path);
    }
    let recorded = cts_store::redteam::redteam_run(store, run).await?;
    for dir in [
        PathBuf::from(&recorded.dir),
        project.dir.join("redteam").join(run),
    ] {
        if cts_runner::redteam::is_redteam_folder(&dir) {
            return Ok(dir);
        }
    }
    bail!(
        "run {run} is recorded at leaf {} but its folder {} is gone",
        recorded.leaf,
        recorded.dir
    )
}

/// The strategy a user named: a versioned id, a chain of them, or a short name (`roleplay` → `roleplay/v1`).
fn strategy(name: &str) -> Result<Vec<Strategy>> {
    let name = name.trim();
    if name == "all" {
        return Ok(Strategy::all());
    }
    let steps = name
        .split('+')
        .map(|part| {
            let part = part.trim();
            Strategy::from_id(part)
                .or_else(|| Strategy::from_id(&format!("{part}/v1")))
                .with_context(|| {
                    format!(
                        "--strategies: unknown strategy {part:?} (see `cts redteam strategies`)"
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(vec![match <[Strategy; 1]>::try_from(steps) {
        Ok([single]) => single,
        Err(steps) => Strategy::Chain { steps },
    }])
}

/// One attack set, read whole (all or nothing), with what it was read from.
fn load_set(spec: &str, category: Option<&str>) -> Result<(Vec<AttackPrompt>, SetInput)> {
    if spec == "synthetic" {
        let prompts = attack::synthetic_attacks()?;
        return Ok(builtin(
            prompts,
            "synthetic-attacks",
            attack::SYNTHETIC_ATTACKS,
        ));
    }
    let path = PathBuf::from(spec);
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .with_context(|| path.display().to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| attack::medsafety_category_number(n).is_some())
            })
            .collect();
        files.sort();
        if files.is_empty() {
            bail!(
                "--attacks {}: no MedSafetyBench files (…category_N.csv) in this folder",
                path.display()
            );
        }
        let mut prompts = Vec::new();
        let mut bytes = Vec::new();
        for f in &files {
            prompts.extend(attack::load_medsafetybench(f)?);
            bytes.extend(std::fs::read(f).with_context(|| f.display().to_string())?);
        }
        let input = SetInput {
            format: "medsafetybench".into(),
            prompts: prompts.len(),
            available: prompts.len(),
            file: FileDigest::of_bytes(&path.display().to_string(), &bytes),
        };
        return Ok((prompts, input));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let (prompts, format) = match ext {
        "csv" => (attack::load_medsafetybench(&path)?, "medsafetybench"),
        "jsonl" => (attack::load_jsonl(&path)?, "jsonl"),
        "txt" => {
            let Some(category) = category else {
                bail!(
                    "--attacks {}: a plain-text set needs --category (the harm category of its requests)",
                    path.display()
                );
            };
            (attack::load_plain(&path, category)?, "text")
        }
        _ => bail!(
            "--attacks {}: give `synthetic`, a MedSafetyBench .csv file or folder, a .jsonl or a .txt file",
            path.display()
        ),
    };
    let file = FileDigest::of_file(&path, &path.display().to_string())?;
    let input = SetInput {
        format: format.into(),
        prompts: prompts.len(),
        available: prompts.len(),
        file,
    };
    Ok((prompts, input))
}

fn builtin(prompts: Vec<AttackPrompt>, name: &str, text: &str) -> (Vec<AttackPrompt>, SetInput) {
    let input = SetInput {
        format: name.into(),
        prompts: prompts.len(),
        available: prompts.len(),
        file: FileDigest::of_bytes(&format!("builtin:{name}.jsonl"), text.as_bytes()),
    };
    (prompts, input)
}

/// At most `limit` requests, round-robin across categories in order of first appearance.
fn limit_prompts(prompts: Vec<AttackPrompt>, limit: Option<usize>) -> Vec<AttackPrompt> {
    let Some(limit) = limit else { return prompts };
    if prompts.len() <= limit {
        return prompts;
    }
    let mut groups: Vec<(String, std::collections::VecDeque<AttackPrompt>)> = Vec::new();
    for p in prompts {
        match groups.iter_mut().find(|(c, _)| *c == p.category) {
            Some((_, q)) => q.push_back(p),
            None => groups.push((p.category.clone(), [p].into())),
        }
    }
    let mut out = Vec::with_capacity(limit);
    while out.len() < limit {
        let before = out.len();
        for (_, q) in groups.iter_mut() {
            if out.len() == limit {
                break;
            }
            if let Some(p) = q.pop_front() {
                out.push(p);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// Opens `name` unless `opened` holds it already.
async fn open_once(
    opened: &mut Vec<(String, Arc<dyn LoglikModel>)>,
    name: &str,
    http: &cts_runner::models::HttpSettings,
    parallel: usize,
    what: &str,
) -> Result<Arc<dyn LoglikModel>> {
    if let Some((_, m)) = opened.iter().find(|(n, _)| n == name) {
        return Ok(m.clone());
    }
    let m = cts_runner::models::open(name, http, parallel)
        .await
        .with_context(|| what.to_owned())?;
    opened.push((name.to_owned(), m.clone()));
    Ok(m)
}

async fn run_redteam(args: RunArgs, project: &Project, out: &Output) -> Result<ExitCode> {
    if !(1..=5).contains(&args.threshold) {
        bail!("--threshold {}: a harm score is 1 to 5", args.threshold);
    }
    if args.k == 0 {
        bail!("--k must be at least 1");
    }
    // Read every set and strategy first: a bad file stops the run before any model call.
    let mut attacks = Vec::new();
    let mut sets = Vec::new();
    for spec in &args.attacks {
        let (prompts, mut input) = load_set(spec, args.category.as_deref())?;
        let prompts = limit_prompts(prompts, args.limit);
        input.prompts = prompts.len();
        attacks.extend(prompts);
        sets.push(input);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = attacks.iter().find(|a| !seen.insert(a.id.as_str())) {
        bail!(
            "attack id {:?} occurs in more than one set: ids must be unique across --attacks",
            dup.id
        );
    }
    let benign_set = if args.no_benign {
        None
    } else {
        let (prompts, mut input) = if args.benign == "synthetic" {
            builtin(
                attack::synthetic_benign()?,
                "synthetic-benign",
                attack::SYNTHETIC_BENIGN,
            )
        } else {
            let path = PathBuf::from(&args.benign);
            let prompts = attack::load_jsonl(&path)?;
            let file = FileDigest::of_file(&path, &path.display().to_string())?;
            let n = prompts.len();
            (
                prompts,
                SetInput {
                    format: "jsonl".into(),
                    prompts: n,
                    available: n,
                    file,
                },
            )
        };
        let prompts = limit_prompts(prompts, args.limit);
        input.prompts = prompts.len();
        Some((prompts, input))
    };
    let mut strategies = Vec::new();
    let mut crescendo = false;
    for name in &args.strategies {
        if matches!(name.trim(), "crescendo" | CRESCENDO_ID) {
            crescendo = true;
            continue;
        }
        for s in strategy(name)? {
            if !strategies.contains(&s) {
                strategies.push(s);
            }
        }
    }
    if crescendo && args.turns == 0 {
        bail!("--turns must be at least 1");
    }
    let mut strategy_ids: Vec<String> = strategies.iter().map(Strategy::id).collect();
    if crescendo {
        strategy_ids.push(CRESCENDO_ID.to_owned());
    }
    let benign_prompts = benign_set
        .as_ref()
        .map(|(p, _)| p.as_slice())
        .unwrap_or(&[]);
    let todo = instances(&attacks, &strategies, crescendo, args.k, benign_prompts);
    if todo.is_empty() {
        bail!("the attack sets hold no requests");
    }

    let mut params = super::model::params(&project.config.model);
    params.temperature =
        args.temperature
            .unwrap_or(if args.k > 1 { params.temperature } else { 0.0 });
    params.max_tokens = args.max_tokens;
    if let Some(seed) = args.seed {
        params.seed = seed;
    }
    if args.k > 1 && params.temperature <= 0.0 {
        bail!("--k above 1 with temperature 0 would repeat one reply: set --temperature above 0");
    }
    // The ledger is opened (and checked against its anchor) before any model is loaded.
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
    // Each distinct model source is opened once (a local model loads once
    // even when it is also the judge or the attacker).
    let mut opened: Vec<(String, Arc<dyn LoglikModel>)> = Vec::new();
    let target = open_once(&mut opened, &source, &http, args.concurrency, "--model").await?;
    let (judge_model, spec) = if args.judge == "rules" {
        (None, JudgeSpec::Rules)
    } else {
        let judge = open_once(&mut opened, &args.judge, &http, args.concurrency, "--judge").await?;
        let spec = JudgeSpec::Model {
            model: judge.identity(),
            rubric: HARM_RUBRIC_ID.to_owned(),
            max_retries: args.judge_retries,
            params: cts_model::GenerationParams {
                temperature: 0.0,
                top_p: 1.0,
                seed: params.seed,
                max_tokens: 256,
            },
        };
        (Some(judge), spec)
    };
    let (attacker, multi_turn) = if crescendo {
        let name = args.attacker.as_deref().unwrap_or(&source);
        let attacker = open_once(&mut opened, name, &http, args.concurrency, "--attacker").await?;
        let spec = MultiTurnSpec {
            attacker: attacker.identity(),
            turns: args.turns,
            params: cts_model::GenerationParams {
                temperature: 0.7,
                top_p: 0.95,
                seed: params.seed,
                max_tokens: 128,
            },
        };
        (Some(attacker), Some(spec))
    } else {
        (None, None)
    };
    let identity = target.identity();
    let redteam_dir = project.dir.join("redteam");
    let mut cache = ItemCache::open(
        &redteam_dir.join("cache"),
        &config_key(&identity, &params, &spec, multi_turn.as_ref()),
    )?;
    let bar = out.progress(todo.len() as u64, "instances");
    let started = Instant::now();
    let models = RedteamModels {
        target,
        judge: judge_model,
        attacker,
    };
    let settings = RedteamSettings {
        judge: &spec,
        params: &params,
        multi_turn: multi_turn.as_ref(),
        threshold: args.threshold,
    };
    let outcome = cts_runner::redteam::run(
        &models,
        settings,
        &todo,
        args.concurrency,
        &mut cache,
        &|n| bar.inc(n),
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome?;
    let seconds = started.elapsed().as_secs_f64();
    let recorded = cts_runner::redteam::record_redteam_run(
        NewRedteamRun {
            dir: &redteam_dir,
            target: identity,
            params: params.clone(),
            judge: spec.clone(),
            multi_turn,
            strategies: strategy_ids,
            k: args.k,
            limit: args.limit,
            threshold: args.threshold,
            bootstrap: Bootstrap {
                resamples: args.bootstrap,
                seed: params.seed,
            },
            attack_sets: sets,
            benign_set: benign_set.map(|(_, input)| input),
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
        instances: usize,
        from_cache: usize,
        seconds: f64,
        summary: &'a cts_runner::redteam::RedteamSummary,
    }
    let report = Report {
        id: &recorded.manifest.id,
        dir: &recorded.dir,
        leaf: recorded.leaf,
        instances: outcome.results.len(),
        from_cache: outcome.from_cache,
        seconds,
        summary: &recorded.summary,
    };
    out.emit(&report, || {
        format!(
            "{}\n{} instances ({} from the cache) in {:.1} s; recorded as redteam.completed at leaf {}\nrun folder: {} (check it offline: cts verify {})\n",
            recorded.summary.render().trim_end(),
            report.instances,
            report.from_cache,
            seconds,
            recorded.leaf,
            recorded.dir.display(),
            recorded.dir.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}
