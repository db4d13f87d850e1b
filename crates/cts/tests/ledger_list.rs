//! `cts ledger list` as an auditor runs it: every event in leaf order, the
//! kind, subject, `--since` and `--limit` filters, JSON Lines, and erased
//! content shown as redacted.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn cts(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(project)
        .args(args)
        .output()
        .unwrap()
}

fn stdout_of(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `cts --json ledger list ARGS…`, one JSON value per line.
fn list(project: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let text = stdout_of(cts(
        project,
        &[&["--json", "ledger", "list"][..], args].concat(),
    ));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

fn append(project: &Path, input: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(project)
        .args(["ledger", "append"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    stdout_of(child.wait_with_output().unwrap());
}

fn leaves(events: &[serde_json::Value]) -> Vec<u64> {
    events.iter().map(|e| e["leaf"].as_u64().unwrap()).collect()
}

#[test]
fn ledger_list_filters_streams_json_lines_and_shows_redaction() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::init_project(dir.path());
    let before = list(&p, &[]);
    append(
        &p,
        concat!(
            r#"{"kind": "note.appended", "subjects": ["case:synthetic-1"], "content": {"text": "synthetic note one (test data)"}}"#,
            "\n",
            r#"{"kind": "note.appended", "subjects": ["case:synthetic-2"], "content": {"text": "synthetic note two (test data)"}}"#,
            "\n",
            r#"{"kind": "ext.marker", "subjects": ["case:synthetic-1", "run:r1"]}"#,
            "\n",
        ),
    );

    // Everything, in leaf order, each line a complete event.
    let all = list(&p, &[]);
    assert_eq!(all.len(), before.len() + 3);
    assert_eq!(leaves(&all), (0..all.len() as u64).collect::<Vec<_>>());
    for e in &all {
        for field in ["time", "kind", "actor"] {
            assert!(e[field].is_string(), "{field}: {e}");
        }
        assert!(e["subjects"].is_array() && e["content"].is_array(), "{e}");
    }
    let first_note = before.len() as u64;

    // Kind: exact, or by prefix.
    let notes = list(&p, &["--kind", "note.appended"]);
    assert_eq!(leaves(&notes), [first_note, first_note + 1]);
    assert_eq!(notes[0]["content"][0]["name"], "text");
    assert_eq!(notes[0]["content"][0]["state"], "present");
    let kinds = list(&p, &["--kind", "note.*", "--kind", "ext.marker"]);
    assert_eq!(leaves(&kinds), [first_note, first_note + 1, first_note + 2]);

    // Subject: exact, or by prefix; combined with kind.
    let about = list(&p, &["--subject", "case:synthetic-1"]);
    assert_eq!(leaves(&about), [first_note, first_note + 2]);
    let prefixed = list(&p, &["--subject", "case:synthetic-*", "--kind", "note.*"]);
    assert_eq!(leaves(&prefixed), [first_note, first_note + 1]);
    assert!(list(&p, &["--subject", "case:none-such"]).is_empty());

    // --since and --limit.
    let since = list(&p, &["--since", &(first_note + 1).to_string()]);
    assert_eq!(leaves(&since), [first_note + 1, first_note + 2]);
    let limited = list(&p, &["--limit", "2"]);
    assert_eq!(leaves(&limited), [0, 1]);
    let limited = list(&p, &["--since", &first_note.to_string(), "--limit", "1"]);
    assert_eq!(leaves(&limited), [first_note]);
    assert!(list(&p, &["--since", "1000000"]).is_empty());

    // Erase the first note's content: the listing shows it redacted, and
    // the erasure itself as an event.
    let commitment = notes[0]["content"][0]["commitment"].as_str().unwrap();
    stdout_of(cts(
        &p,
        &[
            "ledger",
            "redact",
            commitment,
            "--reason",
            "synthetic erasure request",
        ],
    ));
    let notes = list(&p, &["--kind", "note.appended"]);
    let erased = &notes[0]["content"][0];
    assert_eq!(erased["state"], "redacted", "{erased}");
    let at = erased["redacted_at"].as_u64().unwrap();
    assert_eq!(notes[1]["content"][0]["state"], "present");
    let redaction = list(&p, &["--since", &at.to_string(), "--limit", "1"]);
    assert_eq!(redaction[0]["kind"], "content.redacted");

    // The text form: one line per event, content state inline.
    let text = stdout_of(cts(&p, &["ledger", "list", "--kind", "note.appended"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("note.appended") && lines[0].contains("case:synthetic-1"));
    assert!(
        lines[0].contains(&format!("text=redacted@{at}")),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("text=present"), "{}", lines[1]);
}
