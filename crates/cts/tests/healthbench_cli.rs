//! `cts eval healthbench` end to end on the real local model (as the
//! answering model and as its own grader, which often answers off-format:
//! re-asks and ungraded criteria are part of what is checked), the run
//! folder verified offline and a changed grade caught, resume from the
//! cache, the table checked against the log, and bad files refused with
//! nothing recorded.

mod common;

use std::path::PathBuf;

use common::{copy_dir, cts, ok, verify};

fn synthetic() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../cts-eval/testdata/healthbench-synthetic.jsonl")
        .display()
        .to_string()
}

#[test]
fn a_rubric_graded_run_on_the_local_model_verifies_resumes_and_catches_a_changed_grade() {
    let tmp = tempfile::tempdir().unwrap();
    let project = common::init_project(tmp.path());
    let data = synthetic();
    let args = [
        "--json",
        "eval",
        "healthbench",
        "--data",
        &data,
        "--model",
        "default",
        "--limit",
        "1",
        "--max-tokens",
        "48",
        "--grader-retries",
        "1",
        "--grader-max-tokens",
        "40",
    ];
    let run = ok(&project, &args);
    let summary = &run["summary"];
    assert_eq!(summary["examples"], 1, "{summary}");
    assert_eq!(summary["criteria"], 3, "{summary}");
    let dir = PathBuf::from(run["dir"].as_str().unwrap());
    let text = std::fs::read_to_string(dir.join("examples.jsonl")).unwrap();
    let r: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(r["example"]["prompt_id"], "synthetic-hb-1");
    let grades = r["grades"].as_array().unwrap();
    assert_eq!(grades.len(), 3);
    let (mut ungraded, mut retries) = (0, 0);
    for g in grades {
        let replies = g["replies"].as_array().unwrap().len();
        assert!((1..=2).contains(&replies), "{g}");
        retries += replies - 1;
        if g["kind"] == "ungraded" {
            ungraded += 1;
            assert_eq!(replies, 2, "ungraded only after every retry: {g}");
        }
    }
    assert_eq!(summary["ungraded_criteria"], ungraded, "{summary}");
    assert_eq!(summary["grader_retries"], retries, "{summary}");
    // The score exists exactly when every criterion was graded, and follows
    // HealthBench's definition: met points over positive points (8 + 5), clipped.
    if ungraded == 0 {
        let points = [8.0, 5.0, -8.0];
        let met: f64 = grades
            .iter()
            .zip(points)
            .filter(|(g, _)| g["met"] == true)
            .map(|(_, p)| p)
            .sum();
        let want = (met / 13.0).clamp(0.0, 1.0);
        assert!((r["score"].as_f64().unwrap() - want).abs() < 1e-12, "{r}");
        assert_eq!(summary["graded"], 1);
    } else {
        assert!(r["score"].is_null(), "{r}");
        assert_eq!(summary["graded"], 0);
    }

    let out = verify(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK: rubric-graded run"));

    // A flipped grade (with its file digest left alone) is caught.
    let copy = tmp.path().join("copy");
    copy_dir(&dir, &copy);
    let flipped = text.replacen("\"met\":true", "\"met\":false", 1);
    let flipped = if flipped == text {
        text.replacen("\"met\":false", "\"met\":true", 1)
    } else {
        flipped
    };
    if flipped != text {
        std::fs::write(copy.join("examples.jsonl"), flipped).unwrap();
        let out = verify(&copy);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("examples.jsonl has changed"));
    }

    // Again: from the cache; the list and the projection check see both runs.
    let again = ok(&project, &args);
    assert_eq!(again["from_cache"], 1, "{again}");
    let list = ok(&project, &["--json", "eval", "healthbench-list"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let out = cts(&project, &["ledger", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_example_file_is_refused_naming_file_line_and_field_and_nothing_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let project = common::init_project(tmp.path());
    let file = tmp.path().join("hb-bad.jsonl");
    let good = std::fs::read_to_string(synthetic()).unwrap();
    let first = good.lines().next().unwrap();
    std::fs::write(
        &file,
        format!(
            "{first}\n{}\n",
            r#"{"prompt_id":"x","prompt":[{"role":"user","content":"[SYNTHETIC] q"}],"rubrics":[{"criterion":"c","points":"five"}]}"#
        ),
    )
    .unwrap();
    let path = file.display().to_string();
    let out = cts(&project, &["eval", "healthbench", "--data", &path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("hb-bad.jsonl:2"), "{err}");
    let list = ok(&project, &["--json", "eval", "healthbench-list"]);
    assert_eq!(list, serde_json::json!([]));
    assert!(!project.join("healthbench").exists());
}
