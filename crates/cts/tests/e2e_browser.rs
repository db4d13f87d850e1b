//! The review workbench in a real browser: `cts serve` on loopback, driven
//! by headless Chromium through playwright-core (`tests/e2e/review.spec.mjs`)
//! over traces the default local model generated. Two clinicians disagree,
//! an adjudicator decides and an auditor downloads a proof bundle, which is
//! then checked offline with `cts verify`, and the whole log with
//! `cts ledger verify`.
//!
//! Needs Debian's `chromium`, Node with the packages of `tests/e2e`
//! (`npm ci`) and the default model; `scripts/test` installs all three.
//! Screenshots of every page land in `$CARGO_TARGET_TMPDIR/e2e-screens`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Accounts the scenario signs in as: (name, role).
const USERS: [(&str, &str); 4] = [
    ("clin1", "clinician"),
    ("clin2", "clinician"),
    ("adj", "adjudicator"),
    ("aud", "auditor"),
];

/// Cases whose traces the clinicians review.
const CASES: &str = "synthetic-medsafe-001,synthetic-medsafe-002";

fn cts() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cts"))
}

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// A password per account that passes the strength check (and does not
/// contain the username).
fn password(user: &str) -> String {
    let n: u32 = user.bytes().map(u32::from).sum();
    format!("quartz-lantern-{n}-violet-tractor")
}

fn show(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cts --project PROJECT ARGS` and returns its standard output.
fn run(project: &Path, args: &[&str]) -> String {
    let out = cts()
        .arg("--project")
        .arg(project)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "cts {args:?} failed:\n{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The browser, Node and the script's packages, or a failure saying how to get them.
fn require_browser_tools() -> PathBuf {
    const HOW: &str = "run scripts/test, which installs Debian's chromium and the e2e packages";
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.is_file(),
        "{} is missing: the browser test needs Chromium; {HOW}",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node is missing or broken ({node:?}): the browser test needs Node 20 or later; {HOW}"
    );
    let dir = e2e_dir();
    if !dir.join("node_modules/playwright-core").is_dir() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output();
        assert!(
            out.as_ref().is_ok_and(|o| o.status.success()),
            "npm ci in {} failed: {}; {HOW}",
            dir.display(),
            match &out {
                Ok(o) => show(o),
                Err(e) => e.to_string(),
            }
        );
    }
    chromium
}

/// Fails unless `cts model fetch` has put the default model in the cache.
fn require_default_model() {
    let path = cts_llama::fetch::default_cache_dir().join(cts_llama::fetch::DEFAULT_MODEL_FILE);
    assert!(
        path.is_file(),
        "{} is missing: run `cts model fetch` (scripts/test does) before this test",
        path.display()
    );
}

/// A project with two generated traces, k = 2 reviewers per trace, and the
/// scenario's accounts.
fn project(dir: &Path) -> PathBuf {
    let project = dir.join("p");
    let out = cts().arg("init").arg(&project).output().unwrap();
    assert!(out.status.success(), "cts init:\n{}", show(&out));
    let config_path = project.join("cts.toml");
    let mut config: toml::Table = std::fs::read_to_string(&config_path)
        .unwrap()
        .parse()
        .unwrap();
    let review = config
        .entry("review")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    review
        .as_table_mut()
        .unwrap()
        .insert("reviewers_per_trace".into(), toml::Value::Integer(2));
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    run(&project, &["cases", "import", "--synthetic"]);
    let report: serde_json::Value = serde_json::from_str(&run(
        &project,
        &[
            "--json",
            "generate",
            "--cases",
            CASES,
            "--max-tokens",
            "256",
        ],
    ))
    .unwrap();
    assert_eq!(report["generated"], 2, "{report}");

    for (name, role) in USERS {
        let mut child = cts()
            .arg("--project")
            .arg(&project)
            .args(["user", "add", name, "--role", role, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", password(name)).unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "cts user add {name}:\n{}", show(&out));
    }
    project
}

/// `cts serve`, killed when dropped (also when the test fails).
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    /// Starts the workbench on a port the system picks and reads it from the
    /// JSON `cts --json serve` prints before serving.
    fn start(project: &Path, log: PathBuf) -> Server {
        let mut child = cts()
            .arg("--project")
            .arg(project)
            .args(["--json", "serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut server = Server {
            child,
            port: 0,
            log,
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut text = String::new();
        let started: serde_json::Value = loop {
            match lines.next() {
                Some(Ok(line)) => text.push_str(&line),
                _ => panic!(
                    "cts serve exited before saying where it listens: {text}\n{}",
                    server.log_text()
                ),
            }
            if let Ok(v) = serde_json::from_str(&text) {
                break v;
            }
        };
        let listen = started["listen"].as_str().unwrap_or_default();
        server.port = listen
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {started}"));
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        server.wait_healthy(Duration::from_secs(30));
        server
    }

    fn wait_healthy(&self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = write!(s, "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut reply = String::new();
                let _ = s.read_to_string(&mut reply);
                if reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "/healthz did not answer 200 within {limit:?}\n{}",
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("cts serve log ({}):\n{log}", self.log.display())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn clinicians_adjudicator_and_auditor_work_through_the_browser() {
    let chromium = require_browser_tools();
    require_default_model();
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let screens = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-screens");
    let _ = std::fs::remove_dir_all(&screens);

    let server = Server::start(&project, dir.path().join("serve.log"));
    let started = Instant::now();
    let mut node = Command::new("node");
    node.arg("review.spec.mjs")
        .current_dir(e2e_dir())
        // localhost, not 127.0.0.1: Chromium keeps Secure cookies on plain
        // HTTP only for localhost.
        .env("BASE_URL", format!("http://localhost:{}", server.port))
        .env("OUT_DIR", &screens)
        .env("CHROMIUM", &chromium);
    for (name, _) in USERS {
        node.env(format!("{}_PASSWORD", name.to_uppercase()), password(name));
    }
    let out = node.output().unwrap();
    assert!(
        out.status.success(),
        "the browser scenario failed (screenshots in {}):\n{}\n{}",
        screens.display(),
        show(&out),
        server.log_text()
    );
    println!(
        "browser scenario: {:.1} s\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
    );
    drop(server);

    let bundle = screens.join("leaf.tlog-proof");
    let out = cts()
        .arg("verify")
        .arg(&bundle)
        .arg("--key")
        .arg(project.join("keys/log.pub"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cts verify {}:\n{}",
        bundle.display(),
        show(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("review.submitted"),
        "the auditor's bundle proves a review: {}",
        show(&out)
    );
    run(&project, &["ledger", "verify"]);
}
