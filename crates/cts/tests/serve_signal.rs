//! `cts serve` stops cleanly on SIGTERM (service managers), not only Ctrl-C.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serve_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::init_project(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(&p)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it says it is serving.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let started = Instant::now();
    while !line.contains("http://") {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 || started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("cts serve did not start");
        }
    }
    let kill = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "cts serve exited with {status} on SIGTERM"
            );
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cts serve ignored SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
