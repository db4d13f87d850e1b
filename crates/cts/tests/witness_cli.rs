//! Witnessing end to end with the `cts` binary: `cts witness serve` on
//! loopback, `cts ledger checkpoint` collecting its cosignature into the
//! stored note, `cts verify --witness` requiring it (export, proof bundle),
//! a rolled-back database (with or without its checkpoints, and grown into
//! a fork) refused by the witness, and the checkpoints other commands sign
//! (`cts ledger append`, `cts dataset build`) cosigned too.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn cts(project: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(project)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn ok(project: &Path, args: &[&str], stdin: &str) -> String {
    let out = cts(project, args, stdin);
    assert!(
        out.status.success(),
        "cts {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(project: &Path, args: &[&str]) -> String {
    let out = cts(project, args, "");
    assert!(
        !out.status.success(),
        "cts {args:?} should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `cts witness serve` child, killed on drop.
struct WitnessProcess {
    child: Child,
    url: String,
    vkey: PathBuf,
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn witness(root: &Path, name: &str, log_key: &Path) -> WitnessProcess {
    let dir = root.join(name.replace('/', "-"));
    ok(
        root,
        &["witness", "init", &dir.to_string_lossy(), "--name", name],
        "",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_cts"))
        .args(["witness", "serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .arg("--log")
        .arg(log_key)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .rsplit(' ')
        .next()
        .filter(|u| u.starts_with("http://"))
        .unwrap_or_else(|| panic!("witness did not print its address: {first:?}"))
        .to_owned();
    WitnessProcess {
        child,
        url,
        vkey: dir.join("witness.pub"),
    }
}

/// Adds `w` to the project's `[[witness]]` list in cts.toml.
fn add_witness(project: &Path, w: &WitnessProcess) {
    let mut config = std::fs::read_to_string(project.join("cts.toml")).unwrap();
    config.push_str(&format!(
        "\n[[witness]]\nurl = \"{}\"\nkey = \"{}\"\n",
        w.url,
        w.vkey.to_string_lossy()
    ));
    std::fs::write(project.join("cts.toml"), config).unwrap();
}

fn append(project: &Path, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"kind":"note.appended","body":{{"i":{i}}}}}"#))
        .collect();
    ok(project, &["ledger", "append"], &lines.join("\n"));
}

fn copy_db(project: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["cts.db", "cts.db-wal", "cts.db-shm"] {
        let from = project.join(f);
        if from.exists() {
            std::fs::copy(&from, to.join(f)).unwrap();
        } else {
            let _ = std::fs::remove_file(to.join(f));
        }
    }
}

#[test]
fn witnessed_checkpoints_verify_and_a_rollback_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let project = common::init_project(tmp.path());
    let log_key = project.join("keys/log.pub");
    let w1 = witness(tmp.path(), "witness.test/w1", &log_key);
    let w2 = witness(tmp.path(), "witness.test/w2", &log_key);
    let w1_key = w1.vkey.to_string_lossy().into_owned();
    let w2_key = w2.vkey.to_string_lossy().into_owned();

    // Before any witness is configured: an export verifies, but not under a witness policy.
    append(&project, 3);
    let plain = tmp.path().join("plain-export");
    ok(
        &project,
        &["ledger", "export", &plain.to_string_lossy()],
        "",
    );
    ok(&project, &["verify", &plain.to_string_lossy()], "");
    let err = fails(
        &project,
        &["verify", &plain.to_string_lossy(), "--witness", &w1_key],
    );
    assert!(err.contains("not witnessed"), "{err}");

    // Configure w1 only; the checkpoint collects its cosignature.
    add_witness(&project, &w1);
    append(&project, 4);
    let saved = tmp.path().join("saved");
    copy_db(&project, &saved);
    let text = ok(&project, &["ledger", "checkpoint"], "");
    assert!(text.contains("\u{2014} witness.test/w1 "), "{text}");
    append(&project, 5);
    let text = ok(&project, &["ledger", "checkpoint"], "");
    assert!(text.contains("\u{2014} witness.test/w1 "), "{text}");
    // The audit still passes with the cosigned note stored.
    ok(&project, &["ledger", "verify"], "");

    let export = tmp.path().join("export");
    ok(
        &project,
        &["ledger", "export", &export.to_string_lossy()],
        "",
    );
    let out = ok(
        &project,
        &["verify", &export.to_string_lossy(), "--witness", &w1_key],
        "",
    );
    assert!(
        out.contains("witnessed: 1 valid cosignatures, 1 required"),
        "{out}"
    );
    let bundle = tmp.path().join("leaf-2.tlog-proof");
    ok(
        &project,
        &[
            "ledger",
            "proof",
            "--leaf",
            "2",
            "--out",
            &bundle.to_string_lossy(),
        ],
        "",
    );
    ok(
        &project,
        &[
            "verify",
            &bundle.to_string_lossy(),
            "--key",
            &log_key.to_string_lossy(),
            "--witness",
            &w1_key,
        ],
        "",
    );

    // Quorum 2 with only w1 cosigning fails; quorum 1 of the two passes.
    let err = fails(
        &project,
        &[
            "verify",
            &export.to_string_lossy(),
            "--witness",
            &w1_key,
            "--witness",
            &w2_key,
        ],
    );
    assert!(
        err.contains("1 valid cosignatures from the given witnesses, 2 required"),
        "{err}"
    );
    assert!(err.contains("witness.test/w2"), "{err}");
    ok(
        &project,
        &[
            "verify",
            &export.to_string_lossy(),
            "--witness",
            &w1_key,
            "--witness",
            &w2_key,
            "--witness-quorum",
            "1",
        ],
        "",
    );
    let err = fails(
        &project,
        &[
            "verify",
            &export.to_string_lossy(),
            "--witness",
            &w1_key,
            "--witness-quorum",
            "2",
        ],
    );
    assert!(err.contains("cannot be met"), "{err}");

    // A release folder: the policy applies to its evidence/checkpoint (checked
    // before the release itself, which here is only a stub and fails after).
    let release = tmp.path().join("release");
    std::fs::create_dir_all(release.join("evidence")).unwrap();
    std::fs::write(release.join("manifest.json"), "{}").unwrap();
    std::fs::copy(
        export.join("checkpoint"),
        release.join("evidence/checkpoint"),
    )
    .unwrap();
    std::fs::copy(&log_key, release.join("evidence/log.pub")).unwrap();
    let err = fails(
        &project,
        &["verify", &release.to_string_lossy(), "--witness", &w2_key],
    );
    assert!(err.contains("not witnessed"), "{err}");
    let err = fails(
        &project,
        &["verify", &release.to_string_lossy(), "--witness", &w1_key],
    );
    assert!(!err.contains("witnessed"), "{err}");

    // The database restored from the earlier copy (3 + 4 leaves behind 3 + 4 + 5):
    // the witness remembers the larger tree and refuses to cosign the older one.
    copy_db(&saved, &project);
    // The checkpoint kept beside the database refuses the restored copy first…
    let err = fails(&project, &["ledger", "checkpoint"]);
    assert!(err.contains("rolled back"), "{err}");
    // …and an attacker who controls the folder removes that file too: then the
    // witness is what still remembers.
    std::fs::remove_file(project.join("cts.db.checkpoint")).unwrap();
    let err = fails(&project, &["ledger", "checkpoint"]);
    assert!(
        err.contains("the log is behind what was witnessed"),
        "{err}"
    );
    // Deleting every stored checkpoint as well does not help: the witness remembers.
    delete_checkpoints(&project);
    let err = fails(&project, &["ledger", "checkpoint"]);
    assert!(
        err.contains("the log is behind what was witnessed"),
        "{err}"
    );
    // Growing the restored copy past the witnessed size makes another history (a fork):
    // no consistency proof leads from the witnessed tree to it.
    append(&project, 10);
    let err = fails(&project, &["ledger", "checkpoint"]);
    assert!(
        err.contains("(422)") && err.contains("does not verify"),
        "{err}"
    );
}

#[tokio::test]
async fn every_signing_path_collects_cosignatures() {
    let tmp = tempfile::tempdir().unwrap();
    let project = common::init_project(tmp.path());
    {
        let store = cts_store::Store::open(&project.join("cts.db"))
            .await
            .unwrap();
        let rubric = cts_review::Rubric::default_medication_safety();
        cts_store::seed::seed_reviews(&store, &rubric, 4, 8, 2, &|_| {})
            .await
            .unwrap();
    }
    let log_key = project.join("keys/log.pub");
    let w1 = witness(tmp.path(), "witness.test/w1", &log_key);
    let w1_key = w1.vkey.to_string_lossy().into_owned();
    add_witness(&project, &w1);
    let line = "\u{2014} witness.test/w1 ";

    // `cts ledger append`: its checkpoint carries the cosignature, in the
    // store and in the checkpoint file beside the database.
    let out = ok(
        &project,
        &["--json", "ledger", "append"],
        r#"{"kind":"note.appended","body":{"i":1}}"#,
    );
    let appended: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list: serde_json::Value = serde_json::from_str(&ok(
        &project,
        &["--json", "ledger", "checkpoint", "--list"],
        "",
    ))
    .unwrap();
    let stored = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == appended["checkpoint"])
        .unwrap();
    assert!(stored["note"].as_str().unwrap().contains(line), "{stored}");
    let kept = std::fs::read_to_string(project.join("cts.db.checkpoint")).unwrap();
    assert!(kept.contains(line), "{kept}");
    let bundle = tmp.path().join("leaf-0.tlog-proof");
    ok(
        &project,
        &[
            "ledger",
            "proof",
            "--leaf",
            "0",
            "--out",
            &bundle.to_string_lossy(),
        ],
        "",
    );
    let out = ok(
        &project,
        &[
            "verify",
            &bundle.to_string_lossy(),
            "--key",
            &log_key.to_string_lossy(),
            "--witness",
            &w1_key,
        ],
        "",
    );
    assert!(out.contains("witnessed: 1 valid cosignatures"), "{out}");

    // `cts dataset build` (in cts-dataset): the release's evidence checkpoint is cosigned.
    let spec = tmp.path().join("spec.toml");
    ok(
        &project,
        &["dataset", "init-spec", &spec.to_string_lossy()],
        "",
    );
    let release = tmp.path().join("release");
    ok(
        &project,
        &[
            "dataset",
            "build",
            "--spec",
            &spec.to_string_lossy(),
            "--out",
            &release.to_string_lossy(),
        ],
        "",
    );
    ok(
        &project,
        &["verify", &release.to_string_lossy(), "--witness", &w1_key],
        "",
    );

    // A witness that is down is a warning; the checkpoint is signed all the same…
    drop(w1);
    let out = cts(
        &project,
        &["ledger", "append"],
        r#"{"kind":"note.appended","body":{"i":2}}"#,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("not cosigned"), "{err}");
    // …unless cts.toml requires a quorum of witnesses.
    let config = std::fs::read_to_string(project.join("cts.toml"))
        .unwrap()
        .replacen("[log]\n", "[log]\nwitness_quorum = 1\n", 1);
    std::fs::write(project.join("cts.toml"), config).unwrap();
    let out = cts(
        &project,
        &["ledger", "append"],
        r#"{"kind":"note.appended","body":{"i":3}}"#,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("witness_quorum = 1"), "{err}");
}

fn delete_checkpoints(project: &Path) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", project.join("cts.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM checkpoints")
            .execute(&mut conn)
            .await
            .unwrap();
    });
}

/// Builds `tests/interop/go-cosignature` offline (GOPATH mode against the
/// Debian packages `golang-go` and `golang-golang-x-mod-dev`, as the other
/// Go interop test does); fails rather than skips without them.
fn build_go_cosignature_verifier(dir: &Path) -> PathBuf {
    const HINT: &str = "install golang-go and golang-golang-x-mod-dev; .ci/run does";
    assert!(
        Path::new("/usr/share/gocode/src/golang.org/x/mod/sumdb/note").is_dir(),
        "golang.org/x/mod/sumdb/note is missing: {HINT}"
    );
    let bin = dir.join("go-cosignature");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg("main.go")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/go-cosignature"))
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-cache"),
        )
        .output()
        .unwrap_or_else(|e| panic!("the `go` command is not available ({e}): {HINT}"));
    assert!(
        out.status.success(),
        "building the Go cosignature verifier failed ({HINT}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

#[test]
fn go_verifies_the_log_signature_and_the_cosignature_of_a_stored_note() {
    let tmp = tempfile::tempdir().unwrap();
    let go = build_go_cosignature_verifier(tmp.path());
    let project = common::init_project(tmp.path());
    let log_key = project.join("keys/log.pub");
    let w1 = witness(tmp.path(), "witness.test/go", &log_key);
    add_witness(&project, &w1);
    append(&project, 6);
    ok(&project, &["ledger", "checkpoint"], "");
    let export = tmp.path().join("export");
    ok(
        &project,
        &["ledger", "export", &export.to_string_lossy()],
        "",
    );
    let note = export.join("checkpoint");
    let run = |note: &Path| {
        Command::new(&go)
            .arg(note)
            .arg(&log_key)
            .arg(&w1.vkey)
            .output()
            .unwrap()
    };
    let out = run(&note);
    assert!(
        out.status.success(),
        "Go rejects the cosigned checkpoint: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // One flipped bit in the cosignature's Ed25519 part: Go refuses the note.
    let text = std::fs::read_to_string(&note).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("\u{2014} witness.test/go "))
        .unwrap();
    let b64 = line.rsplit(' ').next().unwrap();
    let mut raw = base64_decode(b64);
    raw[4 + 8 + 10] ^= 1;
    let forged = text.replace(b64, &base64_encode(&raw));
    let forged_path = tmp.path().join("forged-checkpoint");
    std::fs::write(&forged_path, forged).unwrap();
    let out = run(&forged_path);
    assert!(!out.status.success(), "Go accepts a forged cosignature");
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
