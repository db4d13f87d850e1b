//! `cts cases import` on benchmark formats and hostile files: the benchmark
//! loaders feed the importer, an empty file or a stray CSV quote is an error
//! with a non-zero exit, and the PHI guard names kind and place but never the
//! identifier it found.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cts(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cts"))
        .arg("--project")
        .arg(project)
        .args(args)
        .output()
        .unwrap()
}

fn eval_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../cts-eval/testdata")
        .join(name)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn medqa_and_medmcqa_files_import_as_cases() {
    let dir = tempfile::tempdir().unwrap();
    let project = common::init_project(dir.path());
    let medqa = eval_fixture("medqa-5opt.jsonl");
    let out = cts(
        &project,
        &[
            "cases",
            "import",
            medqa.to_str().unwrap(),
            "--format",
            "medqa",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("2 cases read; 2 imported"),
        "{}",
        text(&out)
    );

    let medmcqa = eval_fixture("medmcqa-choices.jsonl");
    let out = cts(
        &project,
        &[
            "cases",
            "import",
            medmcqa.to_str().unwrap(),
            "--format",
            "medmcqa",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("MedMCQA shape: choices list"),
        "{}",
        text(&out)
    );

    let custom = eval_fixture("custom.jsonl");
    let out = cts(
        &project,
        &[
            "cases",
            "import",
            custom.to_str().unwrap(),
            "--format",
            "bench-jsonl",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));

    let out = cts(&project, &["--json", "cases", "list"]);
    let list = String::from_utf8_lossy(&out.stdout);
    for id in ["medqa-2", "medmcqa-1", "renal-001"] {
        assert!(list.contains(id), "{id} missing from {list}");
    }
}

#[test]
fn an_empty_file_fails_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let project = common::init_project(dir.path());
    for (name, format) in [
        ("empty.jsonl", "jsonl"),
        ("empty.csv", "csv"),
        ("e.jsonl", "medqa"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, "\n").unwrap();
        let out = cts(
            &project,
            &[
                "cases",
                "import",
                file.to_str().unwrap(),
                "--format",
                format,
            ],
        );
        assert!(!out.status.success(), "{format}: {}", text(&out));
        assert!(
            text(&out).contains("the file holds no records"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn a_stray_quote_after_a_closing_quote_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let project = common::init_project(dir.path());
    let file = dir.path().join("cases.csv");
    std::fs::write(&file, "id,specialty,question\nc1,renal,\"Dose?\"x\n").unwrap();
    let out = cts(&project, &["cases", "import", file.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "cases.csv:2: malformed CSV: a quoted field has text after its closing quote"
        ),
        "{}",
        text(&out)
    );
}

#[test]
fn the_phi_guard_names_kind_and_place_but_not_the_identifier() {
    let dir = tempfile::tempdir().unwrap();
    let project = common::init_project(dir.path());
    let file = dir.path().join("cases.jsonl");
    let identifiers = [
        "14-Mar-1956",
        "02115",
        "020 7946 0958",
        "03/14/2021",
        "93-year-old",
    ];
    std::fs::write(
        &file,
        "{\"id\": \"c1\", \"specialty\": \"renal\", \"question\": \"[synthetic] DOB: 14-Mar-1956, ZIP 02115, tel 020 7946 0958.\"}\n\
         {\"id\": \"c2\", \"specialty\": \"renal\", \"question\": \"[synthetic] Admitted on 03/14/2021, a 93-year-old man.\"}\n",
    )
    .unwrap();
    let out = cts(&project, &["cases", "import", file.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    let shown = text(&out);
    for kind in [
        "date of birth",
        "ZIP code",
        "phone number",
        "admission, discharge or death date",
        "age over 89",
    ] {
        assert!(shown.contains(kind), "{kind} not named in {shown}");
    }
    for id in identifiers {
        assert!(!shown.contains(id), "the message repeats {id}: {shown}");
    }
    let out = cts(&project, &["--json", "cases", "list"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}
