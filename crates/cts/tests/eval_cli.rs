//! `cts eval` end to end: real benchmark data from `../shared/data`, the
//! real local model (log-likelihood) and a loopback HTTP server
//! (generation), the run folder checked offline, resume after a kill,
//! tampering caught, bad files refused with nothing recorded.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, SqliteConnection};

fn shared_data(rel: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        root.is_dir(),
        "../shared is missing: these tests evaluate on the real data sets in {} (see the README's test section)",
        root.display()
    );
    root.join(rel)
}

use common::{copy_dir, cts, ok, verify};

#[tokio::test(flavor = "multi_thread")]
async fn loglik_run_on_real_mmlu_verifies_offline_resumes_from_cache_and_compares() {
    let tmp = tempfile::tempdir().unwrap();
    let project = common::init_project(tmp.path());
    let mmlu = shared_data("mmlu-medical");
    let bench = format!("mmlu-medical={}", mmlu.display());
    let args = [
        "--json",
        "eval",
        "run",
        "--benchmark",
        &bench,
        "--limit",
        "6",
        "--concurrency",
        "1",
    ];
    let first = ok(&project, &args);
    assert_eq!(first["items"], 6, "{first}");
    assert_eq!(first["from_cache"], 0, "{first}");
    let subjects = first["summary"]["summary"]["subjects"].as_array().unwrap();
    assert_eq!(
        subjects.len(),
        6,
        "--limit takes subjects round-robin: {first}"
    );
    assert_eq!(first["summary"]["mode"], "loglik");
    let dir = PathBuf::from(first["dir"].as_str().unwrap());

    // Offline: only the folder and its key.
    let out = verify(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items = std::fs::read_to_string(dir.join("items.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = items
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    for l in &lines {
        assert_eq!(l["logprobs"].as_array().unwrap().len(), 4, "{l}");
        assert_eq!(l["answer"]["rule"], "loglikelihood", "{l}");
    }

    // The same command again: every item from the cache, a second run recorded.
    let second = ok(&project, &args);
    assert_eq!(second["from_cache"], 6, "{second}");
    assert_ne!(second["id"], first["id"]);
    assert_eq!(
        second["summary"]["summary"]["benchmarks"],
        first["summary"]["summary"]["benchmarks"]
    );

    let cmp = ok(
        &project,
        &[
            "--json",
            "eval",
            "compare",
            first["id"].as_str().unwrap(),
            second["id"].as_str().unwrap(),
        ],
    );
    let row = &cmp["benchmarks"][0];
    assert_eq!(row["items"], 6, "{cmp}");
    assert_eq!(row["difference"]["difference"], 0.0, "{cmp}");
    assert_eq!(row["mcnemar_p"], 1.0, "{cmp}");
    assert!(
        cmp["notes"].to_string().contains("same model"),
        "the comparison says both runs are one model: {cmp}"
    );
    let list = ok(&project, &["--json", "eval", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let fetched = ok(&project, &["--json", "model", "fetch"]);
    let lineage = ok(
        &project,
        &[
            "--json",
            "lineage",
            "--model",
            fetched["path"].as_str().unwrap(),
        ],
    );
    assert_eq!(
        lineage["evaluations"].as_array().map(Vec::len),
        Some(2),
        "the model file leads to its evaluations: {lineage}"
    );
    let shown = ok(
        &project,
        &["--json", "eval", "show", first["id"].as_str().unwrap()],
    );
    assert_eq!(shown["summary"], first["summary"]["summary"]);
    let out = cts(&project, &["ledger", "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Tampering with the folder: each file alone, and items with a manifest to match.
    let flip = |text: &str| -> String {
        let mut v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let c = v["correct"].as_bool().unwrap();
        v["correct"] = (!c).into();
        let rest: Vec<&str> = text.lines().skip(1).collect();
        format!("{v}\n{}\n", rest.join("\n"))
    };
    type Tamper<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: [(&str, Tamper<'_>, &str); 4] = [
        (
            "an item's correctness flipped",
            Box::new(|d: &Path| {
                let t = std::fs::read_to_string(d.join("items.jsonl")).unwrap();
                std::fs::write(d.join("items.jsonl"), flip(&t)).unwrap();
            }),
            "items.jsonl has changed",
        ),
        (
            "the summary's accuracy raised",
            Box::new(|d: &Path| {
                let mut s: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap())
                        .unwrap();
                s["summary"]["benchmarks"][0]["accuracy"]["value"] = 0.99.into();
                std::fs::write(
                    d.join("summary.json"),
                    serde_json::to_vec_pretty(&s).unwrap(),
                )
                .unwrap();
            }),
            "summary.json has changed",
        ),
        (
            "items and the manifest's digest rewritten together",
            Box::new(|d: &Path| {
                let t = std::fs::read_to_string(d.join("items.jsonl")).unwrap();
                let new = flip(&t);
                std::fs::write(d.join("items.jsonl"), &new).unwrap();
                let mut m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(d.join("run.json")).unwrap()).unwrap();
                use sha2::Digest;
                m["items"]["sha256"] = hex::encode(sha2::Sha256::digest(new.as_bytes())).into();
                std::fs::write(d.join("run.json"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
            }),
            "run.json is not the manifest the ledger recorded",
        ),
        (
            "the proof removed",
            Box::new(|d: &Path| std::fs::remove_file(d.join("eval.tlog-proof")).unwrap()),
            "eval.tlog-proof",
        ),
    ];
    for (what, tamper, expect) in cases {
        let copy = tmp.path().join("copy");
        let _ = std::fs::remove_dir_all(&copy);
        copy_dir(&dir, &copy);
        tamper(&copy);
        let out = verify(&copy);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: verify passed");
        assert!(err.contains(expect), "{what}: {err}");
    }

    // The table people read is a projection of the log: a raised figure is named.
    let url = format!("sqlite://{}", project.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE eval_runs SET results = json_set(results, '$.macro_average', 0.99)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let out = cts(&project, &["ledger", "verify"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("eval_runs"), "{text}");
}

#[test]
fn a_bad_benchmark_file_is_refused_naming_file_line_and_field_and_nothing_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let project = common::init_project(tmp.path());
    let file = tmp.path().join("medqa-bad.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"question":"Synthetic: which drug?","options":{"A":"a","B":"b","C":"c","D":"d"},"answer_idx":"B","answer":"b"}"#,
            "\n",
            r#"{"question":"Synthetic: which dose?","options":{"A":"a","B":"b","C":"c","D":"d"},"answer":"b"}"#,
            "\n"
        ),
    )
    .unwrap();
    let bench = format!("medqa={}", file.display());
    let out = cts(&project, &["eval", "run", "--benchmark", &bench]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("medqa-bad.jsonl:2"), "{err}");
    assert!(err.contains("answer_idx"), "{err}");
    let list = ok(&project, &["--json", "eval", "list"]);
    assert_eq!(list, serde_json::json!([]), "nothing recorded");
    assert!(
        !project.join("evals").exists()
            || std::fs::read_dir(project.join("evals"))
                .unwrap()
                .next()
                .is_none()
    );

    let out = cts(&project, &["eval", "run", "--benchmark", "nejm=x.jsonl"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown benchmark"));
    let out = cts(
        &project,
        &[
            "eval",
            "run",
            "--benchmark",
            &bench,
            "--mode",
            "loglik",
            "--template",
            "cot",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("medqa-bad.jsonl:2"),
        "files are read before settings are used: {err}"
    );
}

/// A loopback OpenAI-compatible server that answers every chat with
/// `Answer: B` after `delay`, counting requests.
fn slow_server(delay: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let counted = counted.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(delay);
                    let reply = r#"{"id":"x","object":"chat.completion","created":0,"model":"slow","choices":[{"index":0,"message":{"role":"assistant","content":"Synthetic reply.\nAnswer: B"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}}"#;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        reply.len()
                    );
                    if stream.write_all(head.as_bytes()).is_err()
                        || stream.write_all(reply.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (base, count)
}

#[test]
fn a_killed_generation_run_resumes_where_it_stopped_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let project = common::init_project(tmp.path());
    let (base, requests) = slow_server(Duration::from_millis(150));
    let mmlu = shared_data("mmlu-medical");
    let bench = format!("mmlu-medical={}", mmlu.display());
    let args = [
        "--json",
        "eval",
        "run",
        "--benchmark",
        &bench,
        "--limit",
        "20",
        "--model",
        &base,
        "--mode",
        "generate",
        "--concurrency",
        "1",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(&project)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cache_dir = project.join("evals/cache");
    let cached = || -> usize {
        std::fs::read_dir(&cache_dir)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        std::fs::read_to_string(e.path())
                            .unwrap_or_default()
                            .lines()
                            .count()
                    })
                    .sum()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while cached() < 5 {
        assert!(Instant::now() < deadline, "no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = cached();
    let asked_before = requests.load(Ordering::SeqCst);
    assert!(before < 20, "killed mid-run ({before} cached)");

    let report = ok(&project, &args);
    assert_eq!(report["items"], 20, "{report}");
    assert_eq!(
        report["from_cache"].as_u64().unwrap() as usize,
        before,
        "{report}"
    );
    assert_eq!(
        requests.load(Ordering::SeqCst) - asked_before,
        20 - before,
        "the resumed run asks only for what was not cached"
    );
    let lines = std::fs::read_dir(&cache_dir)
        .unwrap()
        .flatten()
        .next()
        .unwrap();
    let text = std::fs::read_to_string(lines.path()).unwrap();
    let keys: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 20, "one cache line per item");
    assert_eq!(text.lines().count(), 20, "no duplicates");
    let dir = PathBuf::from(report["dir"].as_str().unwrap());
    let items = std::fs::read_to_string(dir.join("items.jsonl")).unwrap();
    assert_eq!(items.lines().count(), 20);
    assert!(
        items.contains("\"rule\":\"marker\""),
        "answers read by the marker rule"
    );
    assert_eq!(report["summary"]["mode"], "generate");
    let out = verify(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
