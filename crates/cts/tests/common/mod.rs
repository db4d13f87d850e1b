//! Shared by the command-line tests.

use std::path::{Path, PathBuf};
use std::process::Command;

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
