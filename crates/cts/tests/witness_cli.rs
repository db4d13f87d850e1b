//! Witnessing end to end with the `cts` binary: `cts witness serve` on
//! loopback, `cts ledger checkpoint` collecting its cosignature into the
//! stored note, `cts verify --witness` requiring it (export, proof bundle),
//! and a rolled-back database refused by the witness.

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
    let mut config = std::fs::read_to_string(project.join("cts.toml")).unwrap();
    config.push_str(&format!(
        "\n[[witness]]\nurl = \"{}\"\nkey = \"{}\"\n",
        w1.url, w1_key
    ));
    std::fs::write(project.join("cts.toml"), config).unwrap();
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

    // The database restored from the earlier copy (3 + 4 leaves behind 3 + 4 + 5):
    // the witness remembers the larger tree and refuses to cosign the older one.
    copy_db(&saved, &project);
    let err = fails(&project, &["ledger", "checkpoint"]);
    assert!(
        err.contains("the log is behind what was witnessed"),
        "{err}"
    );
}
