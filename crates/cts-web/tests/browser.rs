//! The workbench pages in headless Chromium (playwright-core, driving
//! `crates/cts/tests/e2e/workbench.spec.mjs`) against a real server on
//! loopback over a real SQLite file with hand-written traces, so no model is
//! needed: drafts survive a reload 100 ms after a change, sign-out clears
//! local copies, submit-and-next by keyboard (and the keys it takes), errors
//! where the user acts, a 390 px wide page without horizontal scroll, the
//! no-JavaScript message, the zero-step hint and the agreement table.
//!
//! Needs Debian's `chromium` and Node with the packages of
//! `crates/cts/tests/e2e` (`npm ci`); `scripts/test` installs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cts/tests/e2e")
}

/// Chromium, Node and the script's packages, or a failure saying how to get them.
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
            "npm ci in {} failed: {out:?}; {HOW}",
            dir.display()
        );
    }
    chromium
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_page_in_chromium() {
    let chromium = require_browser_tools();
    // k = 2 reviewers, three traces of three steps, and one trace whose
    // model wrote no step, held by carol (an adjudicator who also reviews).
    let srv = common::start(2, 3).await;
    let case = srv.traces[0].split('@').next().unwrap().to_owned();
    let empty = common::add_trace(&srv.state.store, &case, 1, &[]).await;
    cts_store::review::sync_queue(&srv.state.store, &srv.state.review)
        .await
        .unwrap();
    let carol = cts_store::users::user_by_name(&srv.state.store, "carol")
        .await
        .unwrap()
        .unwrap();
    // The queue would hand out the other traces first.
    assert!(
        cts_store::review::claim_trace(&srv.state.store, &carol, &empty, &srv.state.review)
            .await
            .unwrap()
    );

    let port = srv.base.rsplit(':').next().unwrap().to_owned();
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("workbench-screens");
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut node = Command::new("node");
    node.arg("workbench.spec.mjs")
        .current_dir(e2e_dir())
        // localhost: Chromium keeps Secure cookies on plain HTTP only there.
        .env("BASE_URL", format!("http://localhost:{port}"))
        .env("OUT_DIR", &out_dir)
        .env("CHROMIUM", &chromium)
        .env("PASSWORD", common::PASSWORD)
        .env("EMPTY_TRACE", &empty);
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the browser scenario failed (screenshots in {}):\n{text}",
        out_dir.display()
    );
    println!("{text}");
}
