//! `cts train` end to end: refusals before anything runs, the accelerate
//! plan, and a real (one-step, CPU) TRL run on a release built here whose
//! GGUF the local backend loads and which the ledger traces back.
//!
//! The runs need the managed training environment that `scripts/test`
//! creates (`$CTS_TRAINENV`); without it they fail and say how to make it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cts(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(project)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// The error text of a command that must fail.
fn refused(out: Output) -> String {
    assert!(
        !out.status.success(),
        "expected a refusal; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A project with reviewed synthetic cases and a built release; (project, release folder).
async fn project_with_release(dir: &Path) -> (PathBuf, PathBuf) {
    let p = common::init_project(dir);
    {
        let store = cts_store::Store::open(&p.join("cts.db")).await.unwrap();
        let rubric = cts_review::Rubric::default_medication_safety();
        cts_store::seed::seed_reviews(&store, &rubric, 4, 12, 2, &|_| {})
            .await
            .unwrap();
    }
    let spec = dir.join("spec.toml");
    assert!(cts(&p, &["dataset", "init-spec", spec.to_str().unwrap()])
        .status
        .success());
    let rel = dir.join("release");
    let built = ok(cts(
        &p,
        &[
            "--json",
            "dataset",
            "build",
            "--spec",
            spec.to_str().unwrap(),
            "--out",
            rel.to_str().unwrap(),
        ],
    ));
    assert!(built["examples"].as_u64().unwrap() > 0, "{built}");
    (p, rel)
}

fn runs(p: &Path) -> usize {
    ok(cts(p, &["--json", "training", "list"]))
        .as_array()
        .unwrap()
        .len()
}

/// The managed training environment, or a failure that says how to make one.
fn train_env() -> PathBuf {
    let Some(env) = std::env::var_os("CTS_TRAINENV") else {
        panic!(
            "CTS_TRAINENV is not set: this test trains with TRL in the managed training \
             environment. Run scripts/test, or `cts train --prepare-env` (it creates ~/.cache/cts/trainenv) \
             and set CTS_TRAINENV to that folder."
        );
    };
    let env = PathBuf::from(env);
    assert!(
        env.join("bin/python").is_file(),
        "{}/bin/python is missing: create the environment with `cts train --prepare-env` \
         (CTS_TRAINENV={})",
        env.display(),
        env.display()
    );
    env
}

/// A small, fast config: one step on short sequences.
fn tiny_config(dir: &Path) -> PathBuf {
    let c = dir.join("tiny.toml");
    std::fs::write(&c, "max_steps = 1\nmax_length = 64\n").unwrap();
    c
}

#[tokio::test]
async fn unknown_method_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = project_with_release(dir.path()).await;
    let err = refused(cts(
        &p,
        &["train", "--release", "medication-safety", "--method", "ppo"],
    ));
    assert!(err.contains("unknown training method \"ppo\""), "{err}");
    assert_eq!(runs(&p), 0);
}

#[tokio::test]
async fn missing_base_model_is_refused_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = project_with_release(dir.path()).await;
    let missing = dir.path().join("no-such-model.gguf");
    let err = refused(cts(
        &p,
        &[
            "train",
            "--release",
            "medication-safety",
            "--method",
            "sft",
            "--base",
            missing.to_str().unwrap(),
        ],
    ));
    assert!(
        err.contains("base model") && err.contains("no-such-model.gguf"),
        "{err}"
    );
    let not_gguf = dir.path().join("weights.bin");
    std::fs::write(&not_gguf, b"not a model").unwrap();
    let err = refused(cts(
        &p,
        &[
            "train",
            "--release",
            "medication-safety",
            "--method",
            "sft",
            "--base",
            not_gguf.to_str().unwrap(),
        ],
    ));
    assert!(err.contains("not a GGUF file"), "{err}");
    assert_eq!(runs(&p), 0);
}

#[tokio::test]
async fn release_that_fails_verification_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let (p, rel) = project_with_release(dir.path()).await;
    let train = rel.join("sft/train.jsonl");
    let mut text = std::fs::read_to_string(&train).unwrap();
    text = text.replacen("\"content\":\"", "\"content\":\"(altered) ", 1);
    std::fs::write(&train, text).unwrap();
    let err = refused(cts(
        &p,
        &[
            "train",
            "--release",
            rel.to_str().unwrap(),
            "--method",
            "sft",
        ],
    ));
    assert!(err.contains("does not verify"), "{err}");
    assert!(err.contains("refusing to train"), "{err}");
    assert_eq!(runs(&p), 0);
    assert!(
        !p.join("training").exists(),
        "nothing is written for a refused release"
    );
}

#[tokio::test]
async fn accelerate_launcher_prints_the_command_and_writes_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = project_with_release(dir.path()).await;
    let out_dir = dir.path().join("multi");
    let plan = ok(cts(
        &p,
        &[
            "--json",
            "train",
            "--release",
            "medication-safety",
            "--method",
            "dpo",
            "--launcher",
            "accelerate",
            "--gpus",
            "4",
            "--output",
            out_dir.to_str().unwrap(),
        ],
    ));
    let command = plan["command"].as_str().unwrap();
    assert!(
        command.contains("accelerate.commands.launch --config_file"),
        "{command}"
    );
    assert!(command.ends_with("trainer-config.json"), "{command}");
    let yaml = std::fs::read_to_string(out_dir.join("accelerate.yaml")).unwrap();
    assert!(yaml.contains("distributed_type: DEEPSPEED"));
    assert!(yaml.contains("num_processes: 4"));
    let config: cts_train::TrainerConfig =
        serde_json::from_slice(&std::fs::read(out_dir.join("trainer-config.json")).unwrap())
            .unwrap();
    assert_eq!(config.method, cts_train::Method::Dpo);
    assert_eq!(config.digest(), plan["config_sha256"].as_str().unwrap());
    assert_eq!(runs(&p), 0, "printing a plan records nothing");
}

#[tokio::test]
async fn failed_trainer_run_records_nothing() {
    let env = train_env();
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = project_with_release(dir.path()).await;
    // A GGUF header and nothing after it: the checks pass, the trainer cannot load it.
    let broken = dir.path().join("broken.gguf");
    std::fs::write(&broken, b"GGUF\x03\x00\x00\x00truncated").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(&p)
        .args(["train", "--release", "medication-safety", "--method", "sft"])
        .arg("--base")
        .arg(&broken)
        .env("CTS_TRAINENV", &env)
        .output()
        .unwrap();
    let err = refused(out);
    assert!(err.contains("the trainer failed"), "{err}");
    assert!(err.contains("nothing was recorded"), "{err}");
    assert_eq!(runs(&p), 0);
}

#[tokio::test]
async fn sft_run_trains_converts_loads_and_is_traced_back() {
    let env = train_env();
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = project_with_release(dir.path()).await;
    let out_dir = dir.path().join("tuned");
    let report = ok(Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(&p)
        .args([
            "--json",
            "train",
            "--release",
            "medication-safety",
            "--method",
            "sft",
        ])
        .arg("--config")
        .arg(tiny_config(dir.path()))
        .arg("--output")
        .arg(&out_dir)
        .env("CTS_TRAINENV", &env)
        .output()
        .unwrap());
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());

    // The GGUF is what was recorded.
    let gguf = PathBuf::from(report["gguf"].as_str().unwrap());
    let sha = cts_llama::fetch::sha256_file(&gguf).unwrap();
    assert_eq!(report["gguf_sha256"], sha.as_str());
    assert_eq!(report["run"]["output_key"], sha.as_str());
    assert!(
        report["tokens"].as_u64().unwrap() > 0,
        "the trainer saw tokens"
    );
    assert!(report["tokens_per_second_wall"].as_f64().unwrap() > 0.0);
    assert!(report["tokens_per_second_trainer"].as_f64().unwrap() > 0.0);
    let out_model = &report["run"]["output_model"];
    assert_eq!(out_model["seed"], 42);
    assert_eq!(out_model["versions"]["trl"], "1.16.0");
    assert_eq!(
        out_model["hf_weights"]["model.safetensors"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    // The ledger event commits to the exact config file written.
    let config_bytes = std::fs::read(out_dir.join("trainer-config.json")).unwrap();
    use sha2::Digest;
    assert_eq!(
        report["run"]["config_sha256"],
        hex::encode(sha2::Sha256::digest(&config_bytes)).as_str()
    );
    let listed = ok(cts(&p, &["--json", "training", "list"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["trainer"], "trl 1.16.0 SFTTrainer");

    // Lineage by the GGUF's path finds the release and the clinicians.
    let lineage = ok(cts(
        &p,
        &["--json", "lineage", "--model", gguf.to_str().unwrap()],
    ));
    assert_eq!(lineage["runs"][0][0]["output_key"], sha.as_str());
    assert_eq!(lineage["runs"][0][0]["id"], report["run"]["id"]);
    assert_eq!(
        lineage["runs"][0][1]["included"], true,
        "cts train signs a checkpoint over its own event: {}",
        lineage["runs"][0][1]
    );
    assert_eq!(lineage["releases"][0][1]["included"], true);
    assert!(!lineage["reviewers"].as_object().unwrap().is_empty());

    // The local backend loads the tuned model and generates.
    let model = cts_llama::local::LocalModel::load(
        &gguf,
        cts_llama::local::LocalOptions {
            n_ctx: 512,
            ..Default::default()
        },
    )
    .expect("the converted GGUF loads");
    let ask = vec![cts_model::ChatMessage::new(
        cts_model::Role::User,
        "Name one common side effect of ibuprofen.",
    )];
    let params = cts_model::GenerationParams {
        temperature: 0.0,
        max_tokens: 16,
        ..Default::default()
    };
    let done = model.complete_batch(&[(ask, params)]);
    let text = done[0].as_ref().expect("generation").content.clone();
    assert!(!text.trim().is_empty(), "the tuned model generated nothing");
}
