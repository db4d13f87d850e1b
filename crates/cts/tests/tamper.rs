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

/// A project whose domain tables are filled through the real ledger: cases,
/// accounts, a rubric, traces and two reviews each, policies, and one
/// clinician account made by the CLI.
async fn domain_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let project = common::init_project(dir.path());
    {
        let store = cts_store::Store::open(&project.join("cts.db"))
            .await
            .unwrap();
        let rubric = cts_review::Rubric::default_medication_safety();
        cts_store::seed::seed_reviews(&store, &rubric, 3, 6, 2, &|_| {})
            .await
            .unwrap();
    }
    let out = cts(&project, &["policy", "import", "--builtin"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(&project)
        .args(["user", "add", "dr-lee", "--role", "clinician"])
        .env("CTS_PASSWORD", "synthetic test passphrase 9471")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cts(&project, &["--json", "ledger", "verify"], None);
    assert!(
        out.status.success(),
        "the untouched store verifies, tables included: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (dir, project)
}

/// Every failure of `cts ledger verify --json` as "place: problem".
fn failures(project: &Path) -> Vec<String> {
    let out = cts(project, &["--json", "ledger", "verify"], None);
    assert!(
        !out.status.success(),
        "verify must fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f["place"].as_str().unwrap(),
                f["problem"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn every_projection_table_tamper_is_named() {
    // (what the attacker runs, the table and column the audit must name)
    let cases: &[(&str, &str, &str)] = &[
        ("UPDATE users SET role = 'admin' WHERE username = 'dr-lee'", "users", "column role"),
        (
            "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'bench-clinician-0') WHERE username = 'dr-lee'",
            "users",
            "password hash",
        ),
        ("UPDATE users SET username = 'dr-evil' WHERE username = 'dr-lee'", "users", "column username"),
        ("UPDATE users SET disabled = 1 WHERE username = 'dr-lee'", "users", "column disabled"),
        ("UPDATE cases SET specialty = 'oncology' WHERE id = (SELECT MIN(id) FROM cases)", "cases", "column specialty"),
        (
            "UPDATE cases SET commitment = (SELECT commitment FROM traces LIMIT 1) WHERE id = (SELECT MIN(id) FROM cases)",
            "cases",
            "column commitment",
        ),
        ("UPDATE traces SET answer_choice = 'D' WHERE id = (SELECT MIN(id) FROM traces)", "traces", "column answer_choice"),
        ("UPDATE traces SET steps = 9 WHERE id = (SELECT MIN(id) FROM traces)", "traces", "column steps"),
        (
            "UPDATE reviews SET body = json_set(body, '$.steps[0].label', -1) WHERE id = (SELECT MIN(id) FROM reviews)",
            "reviews",
            "column body",
        ),
        (
            "UPDATE reviews SET user_id = (SELECT id FROM users WHERE username = 'dr-lee') WHERE id = (SELECT MIN(id) FROM reviews)",
            "reviews",
            "column reviewer",
        ),
        ("UPDATE policies SET behaviour = 'anything goes' WHERE id = (SELECT MIN(id) FROM policies)", "policies", "column behaviour"),
        ("DELETE FROM policies WHERE id = (SELECT MIN(id) FROM policies)", "policies", "missing"),
        (
            "INSERT INTO rubrics (key, digest, source, leaf, created) VALUES ('forged@9', 'x', 'x', 1, 'now')",
            "rubrics",
            "no event",
        ),
        ("UPDATE review_queue SET submitted = 0 WHERE trace_id = (SELECT MIN(trace_id) FROM review_queue)", "review_queue", "column submitted"),
        // The seeded reviews of every third trace disagree (a rating gap of 2).
        (
            "UPDATE review_queue SET state = 'complete', reasons = NULL WHERE state = 'adjudication'",
            "review_queue",
            "column state",
        ),
        (
            "UPDATE review_queue SET state = 'adjudication' WHERE trace_id = (SELECT MIN(trace_id) FROM review_queue WHERE state = 'complete')",
            "review_queue",
            "column state",
        ),
        (
            "UPDATE review_queue SET reasons = json_set(reasons, '$.reasons[0].b', 9) WHERE trace_id = (SELECT MIN(trace_id) FROM review_queue WHERE state = 'adjudication')",
            "review_queue",
            "column reasons",
        ),
        ("UPDATE review_queue SET required = 1 WHERE trace_id = (SELECT MIN(trace_id) FROM review_queue)", "review_queue", "column required"),
        (
            "INSERT INTO assignments (trace_id, user_id, leased_until, submitted) SELECT MIN(id), (SELECT id FROM users WHERE username = 'dr-lee'), 0, 1 FROM traces",
            "assignments",
            "no event",
        ),
    ];
    for (attack, table, expect) in cases {
        let (_d, p) = domain_fixture().await;
        sql(&p, &[attack]).await;
        let found = failures(&p);
        assert!(
            found
                .iter()
                .any(|f| f.starts_with(&format!("{table} ")) && f.contains(expect)),
            "{attack}: expected a failure naming {table} and {expect:?}, got {found:#?}"
        );
    }
}

#[tokio::test]
async fn a_rebuilt_store_verifies_and_restores_tampered_rows() {
    let (d, p) = domain_fixture().await;
    sql(
        &p,
        &[
            "UPDATE users SET role = 'admin' WHERE username = 'dr-lee'",
            "UPDATE review_queue SET state = 'complete', reasons = NULL WHERE state = 'adjudication'",
        ],
    )
    .await;
    let rebuilt = d.path().join("rebuilt.db");
    let out = cts(
        &p,
        &[
            "--json",
            "ledger",
            "rebuild",
            "--out",
            rebuilt.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"]["reviews"], 12, "{report}");
    // Put the rebuilt database in place of the tampered one.
    std::fs::rename(&rebuilt, p.join("cts.db")).unwrap();
    for ext in ["cts.db-wal", "cts.db-shm"] {
        let _ = std::fs::remove_file(p.join(ext));
    }
    let out = cts(&p, &["--json", "ledger", "verify"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cts(&p, &["--json", "user", "list"], None);
    let users: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lee = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "dr-lee")
        .unwrap();
    assert_eq!(
        lee["role"], "clinician",
        "the role comes from the log: {users}"
    );
    let url = format!("sqlite://{}", p.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let awaiting: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM review_queue WHERE state = 'adjudication' AND reasons IS NOT NULL",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(awaiting, 2, "the queue state comes from the log");
}

#[tokio::test]
async fn a_forged_redaction_is_refused_and_a_restored_erasure_is_named() {
    let (_d, p) = fixture();
    let out = cts(
        &p,
        &["ledger", "append"],
        Some(r#"{"kind":"content.redacted","subjects":["content:00"]}"#),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));
    let out = cts(
        &p,
        &["ledger", "append"],
        Some(r#"{"kind":"note.appended","actor":"user:R-12345678"}"#),
    );
    assert!(
        !out.status.success(),
        "the actor is stamped by CTS, never taken from input"
    );

    // A real erasure, whose content an attacker then puts back.
    let url = format!("sqlite://{}", p.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let (commitment, salt, bytes): (Vec<u8>, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT commitment, salt, bytes FROM content WHERE leaf = 51")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    drop(conn);
    let out = cts(
        &p,
        &[
            "ledger",
            "redact",
            &hex::encode(&commitment),
            "--reason",
            "synthetic erasure test",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cts(&p, &["ledger", "verify"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "UPDATE content SET salt = ?, bytes = ?, redacted_leaf = NULL WHERE commitment = ?",
    )
    .bind(salt)
    .bind(bytes)
    .bind(&commitment)
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let found = failures(&p);
    assert!(
        found
            .iter()
            .any(|f| f.contains("erasure") && f.contains("still stored")),
        "{found:#?}"
    );
}

/// Rewrites leaf 6 and its leaf hash, and the unsigned root column of every
/// checkpoint, so the tables agree with the forged tree.
async fn forge_tree(p: &Path) {
    let url = format!("sqlite://{}", p.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let bundle: Vec<u8> = sqlx::query_scalar("SELECT entries FROM entry_bundles WHERE idx = 0")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let mut entries: Vec<Vec<u8>> = cts_ledger::tile::split_bundle(&bundle)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    entries[6] = String::from_utf8(entries[6].clone())
        .unwrap()
        .replace("\"n\":5", "\"n\":6")
        .into_bytes();
    let mut tile: Vec<u8> =
        sqlx::query_scalar("SELECT hashes FROM tiles WHERE level = 0 AND idx = 0")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    tile[6 * 32..7 * 32].copy_from_slice(&cts_ledger::leaf_hash(&entries[6]).0);
    let bundle = cts_ledger::tile::encode_bundle(entries.iter().map(Vec::as_slice)).unwrap();
    sqlx::query("UPDATE entry_bundles SET entries = ? WHERE idx = 0")
        .bind(bundle)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE tiles SET hashes = ? WHERE level = 0 AND idx = 0")
        .bind(&tile)
        .execute(&mut conn)
        .await
        .unwrap();
    // Recompute every checkpoint's root column over the forged leaves.
    let hashes = cts_ledger::tile::decode_hash_tile(&tile, tile.len() as u64 / 32).unwrap();
    let mut tree = cts_ledger::MemTree::new();
    let rest: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT idx, hashes FROM tiles WHERE level = 0 AND idx > 0 ORDER BY idx")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    tree.extend(&hashes);
    for (_, t) in rest {
        tree.extend(&cts_ledger::tile::decode_hash_tile(&t, t.len() as u64 / 32).unwrap());
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, size FROM checkpoints")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for (id, size) in rows {
        let root = tree.root(cts_ledger::TreeSize(size as u64)).unwrap();
        sqlx::query("UPDATE checkpoints SET root = ? WHERE id = ?")
            .bind(&root.0[..])
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

fn checkpoint_count(p: &Path) -> usize {
    let out = cts(p, &["--json", "ledger", "checkpoint", "--list"], None);
    if !out.status.success() {
        return usize::MAX;
    }
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn the_signer_never_signs_a_forged_tree() {
    let (_d, p) = fixture();
    let before = checkpoint_count(&p);
    forge_tree(&p).await;
    // The file beside the database refuses the store outright…
    let out = cts(
        &p,
        &["ledger", "append"],
        Some(r#"{"kind":"note.appended"}"#),
    );
    assert!(
        !out.status.success(),
        "a forged tree must not be appended to"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rewritten"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // …and without that file the signer checks the signed notes, not the root column.
    std::fs::remove_file(p.join("cts.db.checkpoint")).unwrap();
    let out = cts(
        &p,
        &["ledger", "append"],
        Some(r#"{"kind":"note.appended"}"#),
    );
    assert!(
        !out.status.success(),
        "signing over the forged tree must be refused"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to sign"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("sqlite://{}", p.join("cts.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM checkpoints")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        n as usize, before,
        "no checkpoint was signed over the forged tree"
    );
}

#[tokio::test]
async fn deleting_every_checkpoint_is_named_and_signing_refused() {
    let (_d, p) = fixture();
    sql(&p, &["DELETE FROM checkpoints"]).await;
    let found = failures(&p);
    assert!(
        found.iter().any(|f| f.contains("no signed checkpoint")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|f| f.starts_with("checkpoint file")),
        "{found:#?}"
    );
    // Without the file too, a `cts init` log (whose first event is
    // log.created, signed at once) is not signed over whatever the tables hold.
    std::fs::remove_file(p.join("cts.db.checkpoint")).unwrap();
    let out = cts(&p, &["ledger", "checkpoint"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no signed checkpoint"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_rolled_back_database_is_refused() {
    let (d, p) = fixture();
    // A copy of the database as it was, then more events, then the copy put back.
    let backup = d.path().join("backup.db");
    let out = cts(&p, &["ledger", "checkpoint"], None);
    assert!(out.status.success());
    let url = format!("sqlite://{}", p.join("cts.db").display());
    {
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("VACUUM INTO '{}'", backup.display()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let out = cts(
        &p,
        &["ledger", "append"],
        Some(r#"{"kind":"note.appended"}"#),
    );
    assert!(out.status.success());
    std::fs::copy(&backup, p.join("cts.db")).unwrap();
    for ext in ["cts.db-wal", "cts.db-shm"] {
        let _ = std::fs::remove_file(p.join(ext));
    }
    let out = cts(
        &p,
        &["ledger", "append"],
        Some(r#"{"kind":"note.appended"}"#),
    );
    assert!(!out.status.success(), "a rolled-back store is refused");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rolled back"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = failures(&p);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("checkpoint file") && f.contains("rolled back")),
        "{found:#?}"
    );
}

#[tokio::test]
async fn a_rename_is_ledgered_checked_and_rebuilt() {
    let (d, p) = domain_fixture().await;
    let out = cts(&p, &["user", "rename", "DR-LEE", "dr.lee"], None);
    assert!(!out.status.success(), "the old name must match exactly");
    let out = cts(&p, &["--json", "user", "rename", "dr-lee", "dr.lee"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let renamed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(renamed["username"], "dr.lee");
    let out = cts(&p, &["--json", "ledger", "verify"], None);
    assert!(
        out.status.success(),
        "a rename verifies: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Putting the old name back in the table is named, and a rebuild from
    // the log restores the new one.
    sql(
        &p,
        &["UPDATE users SET username = 'dr-lee' WHERE username = 'dr.lee'"],
    )
    .await;
    let found = failures(&p);
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("users ") && f.contains("column username")),
        "{found:?}"
    );
    let rebuilt = d.path().join("rebuilt.db");
    let out = cts(
        &p,
        &["ledger", "rebuild", "--out", rebuilt.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("sqlite://{}", rebuilt.display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    let names: Vec<String> =
        sqlx::query_scalar("SELECT username FROM users WHERE username LIKE 'dr%'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(names, vec!["dr.lee".to_owned()]);
}
