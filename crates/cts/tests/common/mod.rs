//! Shared by the command-line tests (each test binary uses a part of it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `cts init DIR/p`, asserting it succeeds; the project folder.
pub fn init_project(dir: &Path) -> PathBuf {
    let project = dir.join("p");
    let out = Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("init")
        .arg(&project)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cts init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    project
}

/// `cts --project PROJECT ARGS…`, whatever its outcome.
pub fn cts(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(project)
        .args(args)
        .output()
        .unwrap()
}

/// `cts --project PROJECT ARGS…`, asserting it succeeds; its stdout as JSON (null if it is not).
pub fn ok(project: &Path, args: &[&str]) -> serde_json::Value {
    let out = cts(project, args);
    assert!(
        out.status.success(),
        "cts {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// `cts verify DIR` (offline: no project).
pub fn verify(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("verify")
        .arg(dir)
        .output()
        .unwrap()
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
