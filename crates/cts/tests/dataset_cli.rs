//! The dataset, lineage, training and policy commands end to end, as a user
//! runs them: build a release from reviews, verify it offline and against
//! the store, record a training run, and trace an example, the model and a
//! behaviour policy back to the clinicians.

mod common;

use std::path::Path;
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

#[tokio::test]
async fn release_training_and_lineage_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::init_project(dir.path());
    {
        // 40 reviewed traces over 8 synthetic cases, two clinicians each.
        let store = cts_store::Store::open(&p.join("cts.db")).await.unwrap();
        let rubric = cts_review::Rubric::default_medication_safety();
        cts_store::seed::seed_reviews(&store, &rubric, 8, 40, 2, &|_| {})
            .await
            .unwrap();
    }

    let policies = ok(cts(&p, &["--json", "policy", "import", "--builtin"]));
    assert_eq!(policies["registered"], 10);
    let again = ok(cts(&p, &["--json", "policy", "import", "--builtin"]));
    assert_eq!(
        again["registered"], 0,
        "registering the same versions again is a no-op"
    );

    let spec = dir.path().join("spec.toml");
    let out = cts(&p, &["dataset", "init-spec", spec.to_str().unwrap()]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "formats = [\"sft\", \"dpo\", \"kto\", \"prm\"]",
        "formats = [\"sft\", \"dpo\", \"kto\", \"prm\", \"prm-rich\"]",
    );
    std::fs::write(&spec, text).unwrap();
    let rel = dir.path().join("release");
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
    assert!(built["leaf"].is_u64(), "{built}");
    assert!(built["peak_rss_mib"].as_f64().unwrap() > 0.0);
    let list = ok(cts(&p, &["--json", "dataset", "list"]));
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Offline: nothing but the key (and no project).
    let offline_verify = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_cts"))
            .args(["--json", "verify"])
            .arg(&rel)
            .arg("--key")
            .arg(p.join("keys/log.pub"))
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap();
        ok(out)
    };
    let v = offline_verify(&[]);
    assert_eq!(v["examples"], built["examples"]);
    assert_eq!(v["release_leaf"], built["leaf"]);
    let checked = ok(cts(
        &p,
        &["--json", "dataset", "verify", rel.to_str().unwrap()],
    ));
    assert_eq!(checked["ok"], true, "{checked}");
    assert_eq!(checked["checked_against_store"], true);

    // A training run on the release.
    let weights = dir.path().join("tuned.gguf");
    std::fs::write(&weights, b"synthetic weights for the test").unwrap();
    let config = dir.path().join("sft.yaml");
    std::fs::write(&config, "learning_rate: 2.0e-5\nnum_train_epochs: 1\n").unwrap();
    let record = [
        "training",
        "record",
        "--dataset",
        "medication-safety",
        "--base-model",
        "HuggingFaceTB/SmolLM2-135M-Instruct@main",
        "--config",
        config.to_str().unwrap(),
        "--output-model",
        weights.to_str().unwrap(),
    ];
    let run = ok(cts(&p, &[&["--json"][..], &record].concat()));
    let sha = run["output_key"].as_str().unwrap().to_owned();
    assert_eq!(
        sha.len(),
        64,
        "a local output model is identified by its SHA-256"
    );
    assert_eq!(
        run["base_model"]["name"],
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    );
    assert_eq!(run["base_model"]["revision"], "main");
    let dup = cts(&p, &record);
    assert!(!dup.status.success(), "the same run twice is refused");
    assert_eq!(
        ok(cts(&p, &["--json", "training", "list"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The same, offline from the release alone: an example and a policy back
    // to the clinicians (pseudonyms in the verified review events).
    let sft = ["train", "validation", "test"]
        .iter()
        .map(|s| rel.join(format!("sft/{s}.jsonl")))
        .find(|f| f.exists())
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&sft)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let id = first["id"].as_str().unwrap();
    let traced = offline_verify(&["--example", id]);
    let ex = &traced["examples"][0];
    assert_eq!(ex["id"], id);
    assert_eq!(ex["case"]["kind"], "case.imported");
    for r in ex["reviews"].as_array().unwrap() {
        assert_eq!(r["kind"], "review.submitted");
        assert!(r["actor"].as_str().unwrap().starts_with("user:R-"), "{r}");
    }
    let by_policy = offline_verify(&["--policy", "anticoag-nsaid"]);
    let examples = by_policy["examples"].as_array().unwrap();
    assert!(!examples.is_empty());
    for e in examples {
        let tags = e["case"]["body"]["tags"].as_array().unwrap();
        assert!(tags.iter().any(|t| t == "policy:anticoag-nsaid"), "{e}");
    }

    // An example back to the clinicians, from the store.
    let lineage = ok(cts(&p, &["--json", "lineage", id]));
    assert_eq!(lineage["example"]["id"], id);
    let reviews = lineage["reviews"].as_array().unwrap();
    assert!(!reviews.is_empty());
    for r in reviews {
        assert!(
            r["reviewer"].as_str().unwrap().starts_with("R-"),
            "reviewers appear by pseudonym"
        );
        assert_eq!(r["evidence"]["included"], true, "{r}");
        assert!(!r["rationale"].as_str().unwrap().is_empty());
    }
    assert_eq!(lineage["traces"][0]["evidence"]["included"], true);
    assert_eq!(lineage["case"]["evidence"]["included"], true);
    assert_eq!(lineage["training_runs"][0]["output_key"], sha.as_str());
    let text = cts(&p, &["lineage", id]);
    assert!(text.status.success());
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("review "),
        "human-readable lineage"
    );

    // An example that qualified through the blind double review names both
    // clinicians, with their roles and labels, from the store and offline.
    let agreed: serde_json::Value = ["train", "validation", "test"]
        .iter()
        .map(|s| rel.join(format!("provenance/sft/{s}.jsonl")))
        .filter(|f| f.exists())
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .find(|p| p["basis"] == "agreed")
        .expect("an example the two reviewers agreed on");
    let agreed_id = agreed["id"].as_str().unwrap();
    let lineage = ok(cts(&p, &["--json", "lineage", agreed_id]));
    let reviews = lineage["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 2, "{lineage}");
    assert_eq!(reviews[0]["role"], "standing");
    assert_eq!(reviews[1]["role"], "agreeing");
    assert_ne!(reviews[0]["reviewer"], reviews[1]["reviewer"]);
    for r in reviews {
        assert!(!r["labels"].as_array().unwrap().is_empty(), "{r}");
    }
    let text = String::from_utf8_lossy(&cts(&p, &["lineage", agreed_id]).stdout).into_owned();
    for r in reviews {
        assert!(
            text.contains(r["reviewer"].as_str().unwrap()),
            "both clinicians in the text lineage: {text}"
        );
    }
    assert!(
        text.contains("standing review") && text.contains("agreeing review"),
        "{text}"
    );
    let traced = offline_verify(&["--example", agreed_id]);
    let offline = traced["examples"][0]["reviews"].as_array().unwrap();
    assert_eq!(offline.len(), 2);
    assert_eq!(offline[0]["role"], "standing");
    assert_eq!(offline[1]["role"], "agreeing");
    assert_eq!(
        offline[0]["actor"].as_str().unwrap(),
        format!("user:{}", reviews[0]["reviewer"].as_str().unwrap())
    );

    // The model back to its data and reviewers.
    let model = ok(cts(&p, &["--json", "lineage", "--model", &sha]));
    assert_eq!(model["runs"].as_array().unwrap().len(), 1);
    assert!(
        model["reviewers"].as_object().unwrap().len() >= 2,
        "{model}"
    );
    assert!(
        model["policies"]
            .as_object()
            .unwrap()
            .contains_key("anticoag-nsaid"),
        "{model}"
    );

    // A behaviour policy back to the cases, reviews, releases and runs.
    let trace = ok(cts(&p, &["--json", "policy", "trace", "anticoag-nsaid"]));
    assert!(!trace["cases"].as_array().unwrap().is_empty());
    assert!(trace["cases"][0]["reviews"].as_array().unwrap().len() >= 2);
    assert_eq!(trace["releases"].as_array().unwrap().len(), 1);
    assert_eq!(trace["training_runs"].as_array().unwrap().len(), 1);
    let unknown = cts(&p, &["policy", "trace", "no-such-policy"]);
    assert!(!unknown.status.success());

    // Bad input: a spec error names the line; an empty selection is refused.
    let build_with = |text: &str, out: &str| {
        std::fs::write(&spec, text).unwrap();
        let target = dir.path().join(out);
        let args = [
            "dataset",
            "build",
            "--spec",
            spec.to_str().unwrap(),
            "--out",
            target.to_str().unwrap(),
        ];
        let run = cts(&p, &args);
        assert!(!run.status.success());
        assert!(!target.exists(), "a failed build leaves nothing");
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    let err = build_with("name = \"x\"\n[select]\nmin_reviews = \"two\"\n", "bad");
    assert!(err.contains("spec.toml:3"), "{err}");
    let err = build_with(
        "name = \"x\"\n[select]\nspecialties = [\"none-such\"]\n",
        "empty",
    );
    assert!(err.contains("empty release"), "{err}");
}
