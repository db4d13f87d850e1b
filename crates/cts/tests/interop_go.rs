//! Interoperability: Go's `golang.org/x/mod/sumdb/{note,tlog}`, which shares
//! no code with `cts-ledger`, accepts the checkpoints, inclusion proofs and
//! consistency proofs that the `cts` binary produces, and rejects altered ones.
//!
//! The Go side is `tests/interop/go/main.go`, built offline in GOPATH mode
//! against the Debian packages `golang-go` and `golang-golang-x-mod-dev`.
//! Without them these tests fail rather than skip, so a missing toolchain is
//! never mistaken for a pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use cts_ledger::bundle::ProofBundle;
use serde_json::{json, Value};
use tempfile::TempDir;

const INSTALL_HINT: &str = "install golang-go and golang-golang-x-mod-dev; .ci/run does";
/// Where Debian's golang-golang-x-mod-dev puts its sources.
const GOPATH: &str = "/usr/share/gocode";
/// Events appended after `cts init` (which logs leaf 0), one `cts ledger append` each;
/// every append signs a checkpoint, at sizes 13, 23, 32 and 41.
const BATCHES: [usize; 4] = [12, 10, 9, 9];
const PROVEN_LEAVES: [u64; 8] = [0, 1, 12, 13, 22, 31, 32, 40];
/// Older checkpoints the consistency proofs start from: an odd size and a power of two.
const OLD_SIZES: [u64; 2] = [13, 32];

/// A project with 41 entries, and the Go verifier built next to it.
struct Fixture {
    dir: TempDir,
    go_verifier: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let go_verifier = build_go_verifier(dir.path());
        let fixture = Self { dir, go_verifier };
        fixture.cts(&["init", &fixture.project().to_string_lossy()], "");
        let mut n = 0;
        for batch in BATCHES {
            let lines: Vec<String> = (0..batch)
                .map(|_| {
                    n += 1;
                    json!({"kind": "note.appended", "body": {"i": n}}).to_string()
                })
                .collect();
            fixture.cts(&["ledger", "append"], &lines.join("\n"));
        }
        fixture
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    /// Runs `cts --json --project … ARGS` with `stdin`, and returns its parsed output.
    fn cts(&self, args: &[&str], stdin: &str) -> Value {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cts"))
            .arg("--json")
            .arg("--project")
            .arg(self.project())
            .args(args)
            .env_remove("CTS_PROJECT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cts");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes())
            .expect("write cts stdin");
        let out = child.wait_with_output().expect("wait for cts");
        assert!(out.status.success(), "cts {args:?} failed:\n{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("cts --json prints JSON")
    }

    /// The Go verifier's input for the latest checkpoint: every proven leaf, and a
    /// consistency proof from `old_size`.
    fn go_input(&self, old_size: u64) -> Value {
        let vkey = std::fs::read_to_string(self.project().join("keys/log.pub"))
            .expect("read keys/log.pub");
        let bundles: Vec<ProofBundle> = PROVEN_LEAVES.iter().map(|&i| self.bundle(i)).collect();
        let checkpoint = &bundles[0].checkpoint;
        assert!(
            bundles.iter().all(|b| &b.checkpoint == checkpoint),
            "all proofs are against the latest checkpoint"
        );
        let checkpoint = String::from_utf8(checkpoint.clone()).expect("checkpoint is UTF-8");
        let size: u64 = checkpoint
            .lines()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("size line");

        let old = self.checkpoint_of_size(old_size);
        let consistency = self.cts(
            &[
                "ledger",
                "consistency",
                "--from",
                &old_size.to_string(),
                "--to",
                &size.to_string(),
            ],
            "",
        );
        assert_eq!(
            consistency["from_root"], old["root"],
            "old root of size {old_size}"
        );

        json!({
            "vkey": vkey.trim(),
            "checkpoint": checkpoint,
            "inclusion": bundles.iter().map(|b| json!({
                "index": b.index.0,
                "entry_b64": BASE64.encode(b.extra.as_deref().expect("cts puts the entry in extra")),
                "proof": b.proof.iter().map(cts_ledger::hash_to_base64).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "consistency": {
                "old_size": old_size,
                "old_root": old["root"],
                "proof": consistency["proof"],
            },
        })
    }

    fn bundle(&self, leaf: u64) -> ProofBundle {
        let file = self.dir.path().join(format!("leaf-{leaf}.tlog-proof"));
        self.cts(
            &[
                "ledger",
                "proof",
                "--leaf",
                &leaf.to_string(),
                "--out",
                &file.to_string_lossy(),
            ],
            "",
        );
        let bytes = std::fs::read(&file).expect("read proof bundle");
        ProofBundle::parse(&bytes).expect("cts writes a valid tlog-proof")
    }

    fn checkpoint_of_size(&self, size: u64) -> Value {
        let all = self.cts(&["ledger", "checkpoint", "--list"], "");
        let all = all.as_array().expect("checkpoint list is an array");
        all.iter()
            .find(|cp| cp["size"] == size)
            .unwrap_or_else(|| panic!("no checkpoint of size {size} in {all:?}"))
            .clone()
    }

    /// Runs the Go verifier on `input`.
    fn go_verify(&self, input: &Value) -> Output {
        let path = self.dir.path().join("interop-input.json");
        std::fs::write(&path, input.to_string()).expect("write Go input");
        Command::new(&self.go_verifier)
            .arg(&path)
            .output()
            .expect("run the Go verifier")
    }
}

/// Builds `tests/interop/go` into `dir`, offline, in GOPATH mode.
fn build_go_verifier(dir: &Path) -> PathBuf {
    let go_version = Command::new("go").arg("version").output();
    if !go_version.is_ok_and(|o| o.status.success()) {
        panic!("the `go` command is not available: {INSTALL_HINT}");
    }
    if !Path::new(GOPATH)
        .join("src/golang.org/x/mod/sumdb/tlog")
        .is_dir()
    {
        panic!("{GOPATH}/src/golang.org/x/mod/sumdb is missing: {INSTALL_HINT}");
    }
    let bin = dir.join("interop");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg("main.go")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/go"))
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"),
        )
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "building the Go verifier failed ({INSTALL_HINT}):\n{}",
        text(&out)
    );
    bin
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_rejected(out: &Output, reason: &str) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "Go verifier must reject:\n{}",
        text(out)
    );
    assert!(
        text(out).contains(reason),
        "expected {reason:?} in:\n{}",
        text(out)
    );
}

#[test]
fn go_accepts_checkpoint_inclusion_and_consistency_proofs() {
    let fixture = Fixture::new();
    for old_size in OLD_SIZES {
        let out = fixture.go_verify(&fixture.go_input(old_size));
        assert!(
            out.status.success(),
            "Go verifier rejected ours:\n{}",
            text(&out)
        );
        assert!(
            text(&out).starts_with("OK checkpoint ") && text(&out).contains(" size 41;"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn go_rejects_an_entry_with_a_flipped_byte() {
    let fixture = Fixture::new();
    let mut input = fixture.go_input(OLD_SIZES[0]);
    let leaf = &mut input["inclusion"][3];
    let mut entry = BASE64
        .decode(leaf["entry_b64"].as_str().expect("entry"))
        .expect("base64");
    entry[5] ^= 0x01;
    leaf["entry_b64"] = json!(BASE64.encode(entry));
    assert_rejected(&fixture.go_verify(&input), "leaf 13 in tree of size 41");
}

#[test]
fn go_rejects_a_checkpoint_whose_root_line_was_altered() {
    let fixture = Fixture::new();
    let mut input = fixture.go_input(OLD_SIZES[0]);
    let note = input["checkpoint"].as_str().expect("checkpoint").to_owned();
    let mut lines: Vec<&str> = note.split('\n').collect();
    let other_root = fixture.checkpoint_of_size(OLD_SIZES[0])["root"]
        .as_str()
        .expect("root")
        .to_owned();
    assert_ne!(lines[2], other_root);
    lines[2] = &other_root;
    input["checkpoint"] = json!(lines.join("\n"));
    assert_rejected(&fixture.go_verify(&input), "checkpoint note:");
}

#[test]
fn go_rejects_a_consistency_proof_from_another_old_root() {
    let fixture = Fixture::new();
    let mut input = fixture.go_input(OLD_SIZES[0]);
    input["consistency"]["old_root"] = fixture.checkpoint_of_size(23)["root"].clone();
    assert_rejected(&fixture.go_verify(&input), "consistency 13 -> 41");
}
