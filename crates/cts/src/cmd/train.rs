//! `cts train`: train on a verified release with TRL in a managed Python
//! environment, bring the result back as GGUF, and ledger
//! `training.recorded`. The configuration, runner, pins and progress
//! protocol are `cts-train`'s; this is the process and file glue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use cts_store::releases::{find_release, record_training, NewTrainingRun, Release, TrainingRun};
use cts_train::config::{DigestedFile, CONFIG_FORMAT};
use cts_train::env::{
    check_script, CONVERTER_DIR, CONVERTER_IN_SDIST, CONVERTER_SDIST, DEEPSPEED_PIN, PACKAGES,
};
use cts_train::launcher::{accelerate_command, accelerate_config, Launcher};
use cts_train::runner::{runner_sha256, CONFIG_FILE, RUNNER_FILE, RUNNER_PY};
use cts_train::{Hyperparameters, Method, ProgressEvent, TrainError, TrainerConfig};
use tokio::io::AsyncBufReadExt;

use crate::output::Output;
use crate::project::Project;

/// Arguments of `cts train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The release: its build id, manifest SHA-256 (prefix), name, or folder.
    #[arg(long, required_unless_present = "prepare_env")]
    release: Option<String>,
    /// sft, dpo or kto.
    #[arg(long, required_unless_present = "prepare_env")]
    method: Option<String>,
    /// Base model: `default` (the pinned local model) or a .gguf file.
    #[arg(long, default_value = "default")]
    base: String,
    /// Hyperparameters (TOML; see `cts_train::Hyperparameters`). Unnamed keys keep their defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where the config, runner, log, weights and GGUF go (default: PROJECT/training/RELEASE-METHOD).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Optimizer steps (overrides the config file).
    #[arg(long)]
    max_steps: Option<u32>,
    /// local (run here) or accelerate (write the Accelerate config and print the multi-GPU command; with --run, run it).
    #[arg(long, default_value = "local")]
    launcher: String,
    /// GPU processes for --launcher accelerate (DeepSpeed ZeRO-2); 0 = one CPU process without DeepSpeed.
    #[arg(long, default_value_t = 8)]
    gpus: u32,
    /// With --launcher accelerate: run the command here and record the result like a local run.
    #[arg(long)]
    run: bool,
    /// Only create (or check) the managed Python environment, then exit.
    #[arg(long)]
    prepare_env: bool,
}

/// The managed environment: `$CTS_TRAINENV`, else `trainenv` beside the model cache.
fn env_dir() -> PathBuf {
    match std::env::var_os("CTS_TRAINENV").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => cts_llama::fetch::default_cache_dir()
            .parent()
            .map(|p| p.join("trainenv"))
            .unwrap_or_else(|| PathBuf::from("trainenv")),
    }
}

/// How the environment was obtained.
#[derive(Debug, serde::Serialize)]
struct EnvReport {
    path: String,
    created: bool,
    seconds: f64,
}

fn converter_path(env: &Path) -> PathBuf {
    env.join(CONVERTER_DIR).join(CONVERTER_IN_SDIST)
}

fn env_error(env: &Path, step: &'static str, reason: impl std::fmt::Display) -> TrainError {
    TrainError::Environment {
        env: env.display().to_string(),
        step,
        reason: reason.to_string(),
    }
}

async fn run_quiet(
    env: &Path,
    step: &'static str,
    cmd: &mut tokio::process::Command,
) -> Result<()> {
    tracing::info!(?cmd, "{step}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| env_error(env, step, e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(env_error(env, step, format!("{}\n{}", out.status, tail.join("\n"))).into());
    }
    Ok(())
}

/// Creates the environment unless it already matches the pins.
async fn ensure_env(env: &Path) -> Result<EnvReport> {
    let python = env.join("bin/python");
    let started = Instant::now();
    let matches = python.is_file()
        && converter_path(env).is_file()
        && tokio::process::Command::new(&python)
            .args(["-c", &check_script()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map(|s| s.success())
            .unwrap_or(false);
    if matches {
        return Ok(EnvReport {
            path: env.display().to_string(),
            created: false,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    eprintln!(
        "creating the training environment {} (pinned: {}; pip's cache and configuration are used)",
        env.display(),
        PACKAGES.join(" ")
    );
    if !python.is_file() {
        run_quiet(
            env,
            "python3 -m venv",
            tokio::process::Command::new("python3")
                .arg("-m")
                .arg("venv")
                .arg(env),
        )
        .await?;
    }
    run_quiet(
        env,
        "pip install",
        tokio::process::Command::new(&python)
            .args(["-m", "pip", "install", "-q"])
            .args(PACKAGES),
    )
    .await?;
    if !converter_path(env).is_file() {
        let sdist = env.join("converter-sdist");
        run_quiet(
            env,
            "downloading the llama.cpp converter's source",
            tokio::process::Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "-d",
                ])
                .arg(&sdist)
                .arg(CONVERTER_SDIST),
        )
        .await?;
        let archive = std::fs::read_dir(&sdist)
            .map_err(|e| env_error(env, "finding the converter's source", e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .ok_or_else(|| {
                env_error(
                    env,
                    "finding the converter's source",
                    "no .tar.gz downloaded",
                )
            })?;
        let dir = env.join(CONVERTER_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| env_error(env, "unpacking the converter", e))?;
        run_quiet(
            env,
            "unpacking the converter",
            tokio::process::Command::new("tar")
                .arg("-xzf")
                .arg(&archive)
                .arg("-C")
                .arg(&dir)
                .arg("--strip-components=1"),
        )
        .await?;
        if !converter_path(env).is_file() {
            return Err(env_error(
                env,
                "unpacking the converter",
                format!("{CONVERTER_IN_SDIST} is not in {}", archive.display()),
            )
            .into());
        }
    }
    Ok(EnvReport {
        path: env.display().to_string(),
        created: true,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What `cts train` reports.
#[derive(Debug, serde::Serialize)]
struct TrainReport {
    run: TrainingRun,
    gguf: String,
    gguf_sha256: String,
    config_sha256: String,
    output_dir: String,
    environment: EnvReport,
    /// Seconds per stage, measured by CTS as the runner announced them.
    stages: BTreeMap<String, f64>,
    /// Input tokens the trainer saw.
    tokens: u64,
    /// Tokens over CTS's wall time of the train stage.
    tokens_per_second_wall: f64,
    /// Tokens over the trainer's own `train_runtime`.
    tokens_per_second_trainer: f64,
    steps_per_second_trainer: f64,
    samples_per_second_trainer: f64,
    final_loss: Option<f64>,
}

/// What the accelerate launcher prints.
#[derive(Debug, serde::Serialize)]
struct LaunchPlan {
    command: String,
    /// Packages to add to the managed environment first (DeepSpeed on GPUs).
    requires: Vec<String>,
    accelerate_config: String,
    trainer_config: String,
    config_sha256: String,
}

fn resolve_release_key(given: &str) -> Result<String> {
    let dir = Path::new(given);
    if dir.is_dir() && dir.join("manifest.json").is_file() {
        let bytes = std::fs::read(dir.join("manifest.json"))
            .with_context(|| format!("reading {}/manifest.json", dir.display()))?;
        use sha2::Digest;
        return Ok(hex::encode(sha2::Sha256::digest(bytes)));
    }
    Ok(given.to_owned())
}

fn sha256(path: &Path) -> Result<String> {
    cts_llama::fetch::sha256_file(path).with_context(|| format!("hashing {}", path.display()))
}

async fn base_model(base: &str) -> Result<PathBuf> {
    if base == "default" {
        let dir = cts_llama::fetch::default_cache_dir();
        return Ok(tokio::task::spawn_blocking(move || {
            cts_llama::fetch::fetch_default_model(&dir)
        })
        .await??);
    }
    let p = PathBuf::from(base);
    let reason = if !p.exists() {
        Some("no such file (give a .gguf file, or `default`)")
    } else if !p.is_file() {
        Some("not a file (give a .gguf file, or `default`)")
    } else {
        let mut magic = [0u8; 4];
        use std::io::Read;
        let ok = std::fs::File::open(&p)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok();
        (!ok || &magic != b"GGUF").then_some("not a GGUF file")
    };
    match reason {
        Some(r) => Err(TrainError::MissingBaseModel {
            path: base.to_owned(),
            reason: r.to_owned(),
        }
        .into()),
        None => Ok(p),
    }
}

/// Runs `cts train`.
pub async fn run(args: TrainArgs, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    let env = env_dir();
    if args.prepare_env {
        let report = ensure_env(&env).await?;
        out.emit(&report, || {
            format!(
                "training environment {} {} in {:.1} s\n",
                report.path,
                if report.created { "created" } else { "ready" },
                report.seconds
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    // Everything that can be refused is refused before anything runs.
    let method: Method = args.method.as_deref().unwrap_or_default().parse()?;
    let launcher: Launcher = args.launcher.parse()?;
    if args.run && launcher == Launcher::Local {
        anyhow::bail!("--run goes with --launcher accelerate (a local run always runs)");
    }
    let given = args.release.unwrap_or_default();
    let project = Project::find(project)?;
    let store = project.open_store().await?;
    let release: Release = find_release(&store, &resolve_release_key(&given)?).await?;
    let dir = PathBuf::from(&release.dir);
    let verifier = project.verifier()?;
    let report = cts_dataset::verify::verify_release(&dir, &verifier).map_err(|e| {
        TrainError::ReleaseUnverified {
            release: given.clone(),
            dir: release.dir.clone(),
            reason: e.to_string(),
        }
    })?;
    if report.manifest_sha256 != release.manifest_sha256 {
        return Err(TrainError::ReleaseUnverified {
            release: given,
            dir: release.dir.clone(),
            reason: format!(
                "its manifest.json ({}) is not the one the ledger recorded ({})",
                report.manifest_sha256, release.manifest_sha256
            ),
        }
        .into());
    }
    let train_file = dir.join(method.export()).join("train.jsonl");
    let nonempty = std::fs::metadata(&train_file)
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if !nonempty {
        return Err(TrainError::MissingExport {
            release: given,
            file: train_file.display().to_string(),
            method,
        }
        .into());
    }
    let mut hp = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Hyperparameters::from_toml(&text, &path.display().to_string())?
        }
        None => Hyperparameters::default(),
    };
    if let Some(n) = args.max_steps {
        hp.max_steps = n;
    }
    if method == Method::Kto && args.config.is_none() {
        hp.batch_size = hp.batch_size.max(method.min_batch());
    }
    hp.validate(method)?;
    let base = base_model(&args.base).await?;

    let output = args.output.unwrap_or_else(|| {
        project
            .dir
            .join("training")
            .join(format!("{}-{method}", release.build))
    });
    std::fs::create_dir_all(&output).with_context(|| format!("creating {}", output.display()))?;
    let output = output
        .canonicalize()
        .with_context(|| format!("resolving {}", output.display()))?;
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let config = TrainerConfig {
        format: CONFIG_FORMAT.into(),
        method,
        release_build: release.build.clone(),
        release_manifest_sha256: release.manifest_sha256.clone(),
        train_file: DigestedFile {
            path: abs(&train_file).display().to_string(),
            sha256: sha256(&train_file)?,
        },
        base_model: DigestedFile {
            path: abs(&base).display().to_string(),
            sha256: sha256(&base)?,
        },
        hyperparameters: hp,
        packages: PACKAGES.iter().map(|s| (*s).to_owned()).collect(),
        output_dir: output.display().to_string(),
        converter: converter_path(&abs(&env)).display().to_string(),
    };
    let config_bytes = config.to_bytes();
    let config_path = output.join(CONFIG_FILE);
    let runner_path = output.join(RUNNER_FILE);
    std::fs::write(&config_path, &config_bytes)
        .with_context(|| format!("writing {}", config_path.display()))?;
    std::fs::write(&runner_path, RUNNER_PY)
        .with_context(|| format!("writing {}", runner_path.display()))?;

    let python = env.join("bin/python");
    let mut command = tokio::process::Command::new(&python);
    if launcher == Launcher::Accelerate {
        let yaml = output.join("accelerate.yaml");
        std::fs::write(&yaml, accelerate_config(args.gpus))
            .with_context(|| format!("writing {}", yaml.display()))?;
        let plan = LaunchPlan {
            command: accelerate_command(
                &python.display().to_string(),
                &yaml.display().to_string(),
                &runner_path.display().to_string(),
                &config_path.display().to_string(),
            ),
            requires: if args.gpus > 0 {
                vec![DEEPSPEED_PIN.to_owned()]
            } else {
                Vec::new()
            },
            accelerate_config: yaml.display().to_string(),
            trainer_config: config_path.display().to_string(),
            config_sha256: config.digest(),
        };
        if !args.run {
            out.emit(&plan, || {
                let setup = if plan.requires.is_empty() {
                    String::new()
                } else {
                    format!(
                        "  {} -m pip install {}\n",
                        python.display(),
                        plan.requires.join(" ")
                    )
                };
                format!(
                    "Not run. On a machine with {} GPUs, with the environment of \
                     `cts train --prepare-env`, run:\n{setup}  {}\nor the same `cts train` with \
                     --run, which also records the result. The Accelerate config ({}) is \
                     documented inline.\n",
                    args.gpus, plan.command, plan.accelerate_config
                )
            });
            return Ok(ExitCode::SUCCESS);
        }
        command
            .args(["-m", "accelerate.commands.launch", "--config_file"])
            .arg(&yaml);
    }

    let environment = ensure_env(&env).await?;
    let log_path = output.join("train.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut child = command
        .arg(&runner_path)
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .env("PYTHONUNBUFFERED", "1")
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", python.display()))?;
    let stdout = child.stdout.take().context("the runner's stdout")?;
    let bar = out.progress(config.hyperparameters.max_steps as u64, "load");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut stages: BTreeMap<String, f64> = BTreeMap::new();
    let mut current: Option<(String, Instant)> = None;
    let mut trained = None;
    let mut done = None;
    while let Some(line) = lines
        .next_line()
        .await
        .context("reading the runner's output")?
    {
        let Some(event) = cts_train::parse_line(&line) else {
            tracing::debug!(line, "runner");
            continue;
        };
        match event {
            ProgressEvent::Stage { name } => {
                if let Some((n, t)) = current.take() {
                    stages.insert(n, t.elapsed().as_secs_f64());
                }
                bar.set_message(name.clone());
                current = Some((name, Instant::now()));
            }
            ProgressEvent::Log {
                step, loss, tokens, ..
            } => {
                bar.set_position(step);
                let elapsed = current
                    .as_ref()
                    .map(|(_, t)| t.elapsed().as_secs_f64())
                    .unwrap_or(0.0);
                let tps = tokens.map(|t| t as f64 / elapsed.max(1e-9));
                bar.set_message(format!(
                    "loss {} {}",
                    loss.map(|l| format!("{l:.3}"))
                        .unwrap_or_else(|| "-".into()),
                    tps.map(|t| format!("{t:.0} tok/s")).unwrap_or_default()
                ));
                tracing::info!(step, ?loss, ?tokens, "training");
            }
            ProgressEvent::Trained { .. } => {
                if let Some((n, t)) = current.take() {
                    stages.insert(n, t.elapsed().as_secs_f64());
                }
                trained = Some(event);
            }
            ProgressEvent::Done { .. } => {
                if let Some((n, t)) = current.take() {
                    stages.insert(n, t.elapsed().as_secs_f64());
                }
                done = Some(event);
            }
        }
    }
    let status = child.wait().await.context("waiting for the runner")?;
    bar.finish_and_clear();
    let (
        Some(ProgressEvent::Trained {
            train_runtime,
            steps_per_second,
            samples_per_second,
            tokens,
            loss,
        }),
        Some(ProgressEvent::Done {
            gguf,
            hf_dir,
            versions,
        }),
        true,
    ) = (trained, done, status.success())
    else {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(TrainError::TrainerFailed {
            status: status.to_string(),
            log: log_path.display().to_string(),
            tail: tail.join("\n"),
        }
        .into());
    };

    // CTS hashes what the runner wrote; the runner's word is not the record.
    let gguf_path = PathBuf::from(&gguf);
    let gguf_sha256 = sha256(&gguf_path)?;
    let mut weights = BTreeMap::new();
    for entry in std::fs::read_dir(&hf_dir).with_context(|| format!("reading {hf_dir}"))? {
        let p = entry?.path();
        if p.extension().is_some_and(|e| e == "safetensors") {
            if let Some(name) = p.file_name() {
                weights.insert(name.to_string_lossy().into_owned(), sha256(&p)?);
            }
        }
    }
    let train_wall = stages.get("train").copied().unwrap_or(0.0);
    let trl = versions.get("trl").cloned().unwrap_or_default();
    let run = record_training(
        &store,
        &project.actor(),
        NewTrainingRun {
            release: release.clone(),
            base_model: serde_json::json!({
                "path": config.base_model.path, "sha256": config.base_model.sha256,
            }),
            output_model: serde_json::json!({
                "path": gguf, "sha256": gguf_sha256, "format": "gguf",
                "gguf_outtype": config.hyperparameters.gguf_outtype,
                "hf_weights": weights,
                "method": method, "trainer_class": method.trainer_class(),
                "seed": config.hyperparameters.seed,
                "versions": versions,
                "runner_sha256": runner_sha256(),
                "launcher": args.launcher,
                "tokens": tokens, "train_runtime_s": train_runtime,
            }),
            output_key: gguf_sha256.clone(),
            config: config_bytes,
            trainer: format!("trl {trl} {}", method.trainer_class()),
        },
    )
    .await?;
    // Sign a checkpoint over the new event, so that `cts lineage` and an
    // auditor's proof cover it at once rather than "after the latest checkpoint".
    store.ledger().checkpoint(project.signer()?).await?;
    let report = TrainReport {
        config_sha256: run.config_sha256.clone(),
        run,
        gguf,
        gguf_sha256,
        output_dir: output.display().to_string(),
        environment,
        stages,
        tokens,
        tokens_per_second_wall: tokens as f64 / train_wall.max(1e-9),
        tokens_per_second_trainer: tokens as f64 / train_runtime.max(1e-9),
        steps_per_second_trainer: steps_per_second,
        samples_per_second_trainer: samples_per_second,
        final_loss: loss,
    };
    out.emit(&report, || {
        let stages = report
            .stages
            .iter()
            .map(|(k, v)| format!("{k} {v:.1} s"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "trained {} ({method}, {} steps, final loss {}) on release {}\n  \
             stages: {stages}\n  \
             throughput: {:.1} tokens/s over CTS's wall time of the train stage; the trainer logged \
             {:.1} tokens/s ({} tokens in {:.1} s, {:.3} steps/s)\n  \
             GGUF {} (sha256 {})\n  \
             recorded training run {} at leaf {}; see `cts lineage --model {}`\n",
            report.output_dir,
            config.hyperparameters.max_steps,
            report.final_loss.map(|l| format!("{l:.3}")).unwrap_or_else(|| "-".into()),
            release.name,
            report.tokens_per_second_wall,
            report.tokens_per_second_trainer,
            report.tokens,
            train_runtime,
            report.steps_per_second_trainer,
            report.gguf,
            report.gguf_sha256,
            report.run.id,
            report.run.leaf,
            report.gguf
        )
    });
    Ok(ExitCode::SUCCESS)
}
