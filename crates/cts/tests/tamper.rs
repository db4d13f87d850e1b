//! Tamper tests on the real SQLite file: every kind of after-the-fact change
//! makes `cts ledger verify` exit non-zero and name the place.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::{Connection, SqliteConnection};

fn cts(project: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cts"));
    cmd.arg("--project").arg(project).args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// A project with 600 events in three appends (three checkpoints), some with content.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let project = common::init_project(dir.path());
    for part in 0..3 {
        let lines: String = (0..200)
            .map(|i| {
                let n = part * 200 + i;
                if n % 50 == 0 {
                    format!("{{\"kind\":\"note.appended\",\"subjects\":[\"note:{n}\"],\"content\":{{\"text\":\"synthetic note {n}\"}}}}\n")
                } else {
                    format!("{{\"kind\":\"note.appended\",\"subjects\":[\"note:{n}\"],\"body\":{{\"n\":{n}}}}}\n")
                }
            })
            .collect();
        let out = cts(&project, &["ledger", "append"], Some(&lines));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = cts(&project, &["ledger", "verify"], None);
    assert!(
        out.status.success(),
        "the untouched log verifies: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (dir, project)
}

async fn sql(project: &Path, statements: &[&str]) {
    let url = format!("sqlite://{}", project.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    for s in statements {
        sqlx::query(s).execute(&mut conn).await.unwrap();
    }
}

/// Runs `cts ledger verify --json`; asserts it fails and returns the first failure.
fn first_failure(project: &Path) -> (String, String) {
    let out = cts(project, &["--json", "ledger", "verify"], None);
    assert!(
        !out.status.success(),
        "verify must fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &report["failures"][0];
    (
        f["place"].as_str().unwrap().to_owned(),
        f["problem"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn changing_one_byte_of_a_stored_event_is_named() {
    let (_d, p) = fixture();
    // note:300 is leaf 301 (leaf 0 is log.created), entry 45 of bundle 1.
    let url = format!("sqlite://{}", p.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let mut bytes: Vec<u8> = sqlx::query_scalar("SELECT entries FROM entry_bundles WHERE idx = 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let needle = b"\"note:300\"";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at + 7] = b'9';
    sqlx::query("UPDATE entry_bundles SET entries = ? WHERE idx = 1")
        .bind(bytes)
        .execute(&mut conn)
        .await
        .unwrap();
    let (place, problem) = first_failure(&p);
    assert_eq!(place, "leaf 301");
    assert!(problem.contains("altered"), "{problem}");
}

#[tokio::test]
async fn deleting_a_row_is_named() {
    let (_d, p) = fixture();
    sql(&p, &["DELETE FROM entry_bundles WHERE idx = 1"]).await;
    let (place, problem) = first_failure(&p);
    assert_eq!(place, "leaf 256");
    assert!(problem.contains("deleted"), "{problem}");
}

#[tokio::test]
async fn swapping_two_rows_is_named() {
    let (_d, p) = fixture();
    sql(
        &p,
        &[
            "UPDATE entry_bundles SET idx = -1 WHERE idx = 0",
            "UPDATE entry_bundles SET idx = 0 WHERE idx = 1",
            "UPDATE entry_bundles SET idx = 1 WHERE idx = -1",
        ],
    )
    .await;
    let (place, problem) = first_failure(&p);
    assert_eq!(place, "leaf 0");
    assert!(
        problem.contains("moved") || problem.contains("altered"),
        "{problem}"
    );
}

#[tokio::test]
async fn truncating_the_log_is_named() {
    let (_d, p) = fixture();
    sql(&p, &["DELETE FROM entry_bundles WHERE idx >= 2"]).await;
    let (place, problem) = first_failure(&p);
    assert_eq!(place, "leaf 512");
    assert!(problem.contains("truncated"), "{problem}");
}

#[tokio::test]
async fn replacing_a_checkpoint_is_named() {
    let (_d, p) = fixture();
    // Re-sign checkpoint #2's text with a key that is not the log's.
    let (skey, _) = cts_ledger::LogSigner::generate(&origin(&p)).unwrap();
    let forged = cts_ledger::LogSigner::from_private_key(&skey)
        .unwrap()
        .sign(cts_ledger::TreeSize(1), cts_ledger::Hash([7; 32]))
        .unwrap();
    let url = format!("sqlite://{}", p.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE checkpoints SET note = ?, size = 1, root = ? WHERE id = 2")
        .bind(forged.note)
        .bind(&[7u8; 32][..])
        .execute(&mut conn)
        .await
        .unwrap();
    let (place, problem) = first_failure(&p);
    assert_eq!(place, "checkpoint #2");
    assert!(problem.contains("signature"), "{problem}");
}

#[tokio::test]
async fn altering_an_event_and_its_leaf_hash_together_is_caught_by_the_checkpoint() {
    let (_d, p) = fixture();
    let url = format!("sqlite://{}", p.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    // Rewrite leaf 6 (note:5) and its stored leaf hash consistently: only the signed root can tell.
    let bundle: Vec<u8> = sqlx::query_scalar("SELECT entries FROM entry_bundles WHERE idx = 0")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let entries: Vec<Vec<u8>> = cts_ledger::tile::split_bundle(&bundle)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    let mut altered = entries.clone();
    altered[6] = String::from_utf8(entries[6].clone())
        .unwrap()
        .replace("\"n\":5", "\"n\":6")
        .into_bytes();
    assert_ne!(altered[6], entries[6]);
    let new_bundle = cts_ledger::tile::encode_bundle(altered.iter().map(Vec::as_slice)).unwrap();
    let mut tile: Vec<u8> =
        sqlx::query_scalar("SELECT hashes FROM tiles WHERE level = 0 AND idx = 0")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    tile[6 * 32..7 * 32].copy_from_slice(&cts_ledger::leaf_hash(&altered[6]).0);
    sqlx::query("UPDATE entry_bundles SET entries = ? WHERE idx = 0")
        .bind(new_bundle)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE tiles SET hashes = ? WHERE level = 0 AND idx = 0")
        .bind(tile)
        .execute(&mut conn)
        .await
        .unwrap();
    let (place, problem) = first_failure(&p);
    assert!(
        place.starts_with("tile 1/") || place.starts_with("checkpoint #"),
        "{place}: {problem}"
    );
    let out = cts(&p, &["--json", "ledger", "verify"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checkpoint_failures: Vec<&str> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["place"].as_str())
        .filter(|p| p.starts_with("checkpoint #"))
        .collect();
    assert!(
        checkpoint_failures.contains(&"checkpoint #1")
            || checkpoint_failures.contains(&"checkpoint #2"),
        "{report}"
    );
}

#[tokio::test]
async fn changed_content_is_named() {
    let (_d, p) = fixture();
    sql(
        &p,
        &["UPDATE content SET bytes = CAST('synthetic note 999' AS BLOB) WHERE leaf = 51"],
    )
    .await;
    let (place, problem) = first_failure(&p);
    assert!(place.starts_with("content "), "{place}");
    assert!(
        problem.contains("does not match its commitment"),
        "{problem}"
    );
}

#[tokio::test]
async fn deleted_content_is_named() {
    let (_d, p) = fixture();
    sql(&p, &["DELETE FROM content WHERE leaf = 101"]).await;
    let (place, problem) = first_failure(&p);
    assert_eq!(place, "leaf 101");
    assert!(problem.contains("not stored"), "{problem}");
}

fn origin(p: &Path) -> String {
    let text = std::fs::read_to_string(p.join("cts.toml")).unwrap();
    let line = text.lines().find(|l| l.starts_with("origin")).unwrap();
    line.split('"').nth(1).unwrap().to_owned()
}
