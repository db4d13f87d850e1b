//! The model backends against real peers this project did not write:
//! `cts serve-model` answers the official `openai` Python client, and
//! `cts generate` runs against `llama-cpp-python`'s OpenAI-compatible server
//! serving the same default GGUF. Both need the Python environment that
//! `scripts/test` creates (`cts_llama::fetch::test_pyenv_dir()`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn cts() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cts"))
}

fn python() -> PathBuf {
    let env = cts_llama::fetch::test_pyenv_dir();
    let py = env.join("bin/python");
    assert!(
        py.exists(),
        "{} is missing: these tests need a Python environment with llama-cpp-python[server] and openai; scripts/test creates it",
        py.display()
    );
    py
}

fn default_model() -> PathBuf {
    let out = cts().args(["--json", "model", "fetch"]).output().unwrap();
    assert!(
        out.status.success(),
        "cts model fetch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    PathBuf::from(v["path"].as_str().unwrap())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_http(url: &str, limit: Duration) {
    let start = Instant::now();
    let (host, path) = url.trim_start_matches("http://").split_once('/').unwrap();
    while start.elapsed() < limit {
        if let Ok(mut s) = std::net::TcpStream::connect(host) {
            use std::io::{Read, Write};
            let _ = write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{url} did not come up within {limit:?}");
}

/// Starts `cts serve-model` on a free loopback port; returns it and its base URL.
fn serve_model(model: &Path) -> (Killed, String) {
    let mut child = cts()
        .args(["serve-model", "--listen", "127.0.0.1:0", "--model"])
        .arg(model)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Killed(child);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (server, url)
}

#[test]
fn serve_model_answers_the_official_openai_client() {
    let py = python();
    let model = default_model();
    let (_server, base) = serve_model(&model);
    wait_http(&format!("{}/models", base), Duration::from_secs(60));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/openai_client.py");
    let out = Command::new(py).arg(script).arg(&base).output().unwrap();
    assert!(
        out.status.success(),
        "openai client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["models"][0], "SmolLM2-135M-Instruct.Q4_1.gguf");
    let content = v["content"].as_str().unwrap();
    assert!(!content.trim().is_empty(), "{v}");
    assert!(v["usage"]["completion"].as_u64().unwrap() > 0, "{v}");
    assert!(
        v["fingerprint"].as_str().unwrap().starts_with("cts-"),
        "{v}"
    );
    assert!(
        v["stream_chunks"].as_u64().unwrap() > 1,
        "the answer streamed in pieces: {v}"
    );
    assert_eq!(
        v["streamed"].as_str().unwrap(),
        content,
        "greedy, same seed: streamed text equals the plain answer"
    );
    assert!(
        ["stop", "length"].contains(&v["stream_finish"].as_str().unwrap()),
        "{v}"
    );
}

/// llama-cpp-python's OpenAI-compatible server on the default model, with
/// `extra` arguments; the guard stops it, the string is its base URL.
fn llama_cpp_python_server(extra: &[&str]) -> (Killed, String) {
    let port = free_port();
    let server = Command::new(python())
        .args(["-m", "llama_cpp.server", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--n_ctx", "2048"])
        .args(extra)
        .arg("--model")
        .arg(default_model())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Killed(server);
    let base = format!("http://127.0.0.1:{port}");
    wait_http(&format!("{base}/v1/models"), Duration::from_secs(120));
    (server, base)
}

#[test]
fn generate_runs_against_llama_cpp_python_server() {
    let (_server, base) = llama_cpp_python_server(&[]);

    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    let run = |args: &[&str]| {
        let out = cts()
            .arg("--project")
            .arg(&project)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cts {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(cts()
        .arg("init")
        .arg(&project)
        .output()
        .unwrap()
        .status
        .success());
    run(&["cases", "import", "--synthetic"]);
    let report = run(&[
        "--json",
        "generate",
        "--cases",
        "synthetic-medsafe-001,synthetic-medsafe-002",
        "--model",
        &base,
        "--max-tokens",
        "48",
        "--temperature",
        "0",
        "--concurrency",
        "2",
    ]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["generated"], 2, "{report}");
    let traces: serde_json::Value =
        serde_json::from_str(&run(&["--json", "traces", "list"])).unwrap();
    let t = &traces[0];
    assert_eq!(t["model"]["backend"], "openai-http");
    assert_eq!(
        t["model"]["base_url"]
            .as_str()
            .unwrap()
            .trim_end_matches('/'),
        base
    );
    assert!(t["completion_tokens"].as_i64().unwrap() > 0);
    let again: serde_json::Value = serde_json::from_str(&run(&[
        "--json",
        "generate",
        "--cases",
        "synthetic-medsafe-001,synthetic-medsafe-002",
        "--model",
        &base,
        "--max-tokens",
        "48",
        "--temperature",
        "0",
    ]))
    .unwrap();
    assert_eq!(
        (again["generated"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(2)),
        "re-running resumes"
    );
    run(&["ledger", "verify"]);
}

#[test]
fn eval_runs_against_llama_cpp_python_server_in_both_modes() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mmlu-medical");
    assert!(
        shared.is_dir(),
        "../shared is missing: this test evaluates on the real MMLU-medical files in {}",
        shared.display()
    );
    let (_server, base) = llama_cpp_python_server(&["--logits_all", "true"]);

    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    assert!(cts().arg("init").arg(&project).status().unwrap().success());
    let bench = format!("mmlu-medical={}", shared.display());
    // llama-cpp-python builds every echoed token's log-probabilities in
    // Python (seconds per request on two cores): one item is enough to show
    // the path works; the local backend's tests cover scoring at size.
    let run = |mode: &str, limit: &str| -> serde_json::Value {
        let out = cts()
            .arg("--project")
            .arg(&project)
            .args([
                "--json",
                "eval",
                "run",
                "--benchmark",
                &bench,
                "--limit",
                limit,
                "--model",
                &base,
                "--mode",
                mode,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "eval --mode {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let generated = run("generate", "2");
    assert_eq!(generated["items"], 2, "{generated}");
    assert_eq!(generated["summary"]["mode"], "generate");
    let scored = run("loglik", "1");
    assert_eq!(scored["items"], 1, "{scored}");
    let dir = PathBuf::from(scored["dir"].as_str().unwrap());
    let items = std::fs::read_to_string(dir.join("items.jsonl")).unwrap();
    for line in items.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let scores = v["logprobs"].as_array().unwrap();
        assert_eq!(scores.len(), 4, "{v}");
        assert!(
            scores.iter().all(|s| s["logprob"].as_f64().unwrap() < 0.0),
            "{v}"
        );
    }
    let out = cts().arg("verify").arg(&dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cts()
        .arg("--project")
        .arg(&project)
        .args(["--json", "eval", "compare"])
        .arg(generated["id"].as_str().unwrap())
        .arg(scored["id"].as_str().unwrap())
        .output()
        .unwrap();
    let cmp: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cmp["benchmarks"][0]["items"], 1, "{cmp}");
    assert_eq!(cmp["only_in_a"], 1, "{cmp}");
    assert!(
        cmp["notes"].to_string().contains("differ in scoring"),
        "a generate-vs-loglik comparison says so: {cmp}"
    );
}

#[test]
fn redteam_runs_against_llama_cpp_python_server() {
    let (_server, base) = llama_cpp_python_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    assert!(cts().arg("init").arg(&project).status().unwrap().success());
    let out = cts()
        .arg("--project")
        .arg(&project)
        .args([
            "--json",
            "redteam",
            "run",
            "--model",
            &base,
            "--limit",
            "2",
            "--strategies",
            "direct,roleplay",
            "--max-tokens",
            "24",
            "--concurrency",
            "4",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redteam run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 2 attacks × 2 strategies, and 2 benign requests.
    assert_eq!(run["instances"], 6, "{run}");
    assert_eq!(run["summary"]["judged"], 4, "{run}");
    assert_eq!(run["summary"]["over_refusal"]["total"], 2, "{run}");
    let run_dir = PathBuf::from(run["dir"].as_str().unwrap());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["target"]["backend"], "openai-http", "{manifest}");
    assert_eq!(manifest["target"]["base_url"], base.as_str(), "{manifest}");
    let out = cts().arg("verify").arg(&run_dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn healthbench_runs_against_llama_cpp_python_server() {
    let (_server, base) = llama_cpp_python_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    assert!(cts().arg("init").arg(&project).status().unwrap().success());
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cts-eval/testdata/healthbench-synthetic.jsonl");
    let out = cts()
        .arg("--project")
        .arg(&project)
        .args(["--json", "eval", "healthbench", "--data"])
        .arg(&data)
        .args([
            "--model",
            &base,
            "--limit",
            "1",
            "--max-tokens",
            "24",
            "--grader-retries",
            "0",
            "--grader-max-tokens",
            "32",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "eval healthbench: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(run["summary"]["criteria"], 3, "{run}");
    let run_dir = PathBuf::from(run["dir"].as_str().unwrap());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(manifest["model"]["backend"], "openai-http", "{manifest}");
    assert_eq!(manifest["grader"]["model"]["base_url"], base.as_str());
    let out = cts().arg("verify").arg(&run_dir).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
