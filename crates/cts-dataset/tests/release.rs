//! Dataset releases on the real SQLite file: what is selected, the shapes
//! trainers consume, reproducibility at a checkpoint, offline provenance,
//! tampering named by example, erasure, and refusal of empty selections.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{fixture, lines, SPEC};
use cts_dataset::verify::{check_against_store, verify_release};
use cts_dataset::DatasetError;

fn roles(messages: &serde_json::Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(m["content"].is_string(), "{m}");
            assert_eq!(
                m.as_object().unwrap().len(),
                2,
                "only role and content: {m}"
            );
            m["role"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn files_of(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[tokio::test]
async fn a_release_selects_shapes_verifies_and_reproduces() {
    let f = fixture().await;
    let out = f.path("release-a");
    let report = f.build(SPEC, &out, None, true).await.unwrap();
    assert!(report.leaf.is_some(), "the release is ledgered");
    assert_eq!(report.tally.traces, 12);
    assert_eq!(report.tally.qualified, 12, "{:?}", report.tally);

    // Selection: the unsafe unedited trace (3) teaches nothing but the PRM;
    // the edited one (1) gives a corrected-vs-original pair; the disputed
    // one (5) stands on the adjudicator's choice.
    let mut sft_traces = BTreeSet::new();
    let mut prm_traces = BTreeSet::new();
    let mut bases = BTreeSet::new();
    let mut split_of_case: BTreeMap<String, String> = BTreeMap::new();
    for file in ["sft", "dpo", "dpo-flat", "kto", "prm", "prm-rich"] {
        for split in ["train", "validation", "test"] {
            let p = out.join(format!("provenance/{file}/{split}.jsonl"));
            if !p.exists() {
                continue;
            }
            let data = lines(&out.join(format!("{file}/{split}.jsonl")));
            let prov = lines(&p);
            assert_eq!(data.len(), prov.len());
            for (d, p) in data.iter().zip(&prov) {
                assert_eq!(d["id"], p["id"]);
                let case = p["case"]["id"].as_str().unwrap().to_owned();
                let prev = split_of_case.insert(case.clone(), split.to_owned());
                assert!(
                    prev.is_none() || prev.as_deref() == Some(split),
                    "case {case} leaks across splits"
                );
                bases.insert(p["basis"].as_str().unwrap().to_owned());
                let trace = p["traces"][0]["id"].as_str().unwrap().to_owned();
                match file {
                    "sft" => {
                        assert_eq!(roles(&d["messages"]), ["system", "user", "assistant"]);
                        sft_traces.insert(trace);
                    }
                    "dpo" => {
                        assert_eq!(roles(&d["prompt"]), ["system", "user"]);
                        assert_eq!(roles(&d["chosen"]), ["assistant"]);
                        assert_eq!(roles(&d["rejected"]), ["assistant"]);
                        assert_ne!(d["chosen"], d["rejected"]);
                    }
                    "dpo-flat" => {
                        assert!(
                            d["prompt"].is_string()
                                && d["chosen"].is_string()
                                && d["rejected"].is_string()
                        );
                    }
                    "kto" => {
                        assert_eq!(roles(&d["completion"]), ["assistant"]);
                        assert!(d["label"].is_boolean());
                    }
                    "prm" => {
                        assert!(d["prompt"].is_string());
                        assert_eq!(
                            d["completions"].as_array().unwrap().len(),
                            d["labels"].as_array().unwrap().len()
                        );
                        assert!(d["labels"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .all(|l| l.is_boolean()));
                        prm_traces.insert(trace);
                    }
                    _ => {
                        assert_eq!(d["steps"].as_array().unwrap().len(), 3);
                        assert_eq!(d["steps"][0]["reviewers"].as_array().unwrap().len(), 2);
                    }
                }
            }
        }
    }
    assert!(
        !sft_traces.contains(&f.traces[3]),
        "an unedited unsafe step keeps the trace out of SFT"
    );
    assert!(
        prm_traces.contains(&f.traces[3]),
        "its step labels still train the PRM"
    );
    assert!(sft_traces.contains(&f.traces[1]) && sft_traces.contains(&f.traces[5]));
    assert!(
        bases.contains("adjudicated") && bases.contains("agreed"),
        "{bases:?}"
    );
    assert!(
        bases.iter().any(|b| b.starts_with("ranked:")),
        "sample pairs ranked by rating: {bases:?}"
    );
    let sft: Vec<_> = ["train", "validation", "test"]
        .iter()
        .flat_map(|s| {
            let p = out.join(format!("sft/{s}.jsonl"));
            if p.exists() {
                lines(&p)
            } else {
                Vec::new()
            }
        })
        .collect();
    let corrected = sft
        .iter()
        .find(|d| {
            d["messages"][2]["content"]
                .as_str()
                .unwrap()
                .contains("gastrointestinal bleeding")
        })
        .expect("the clinician's edit is the assistant turn");
    assert!(corrected["messages"][2]["content"]
        .as_str()
        .unwrap()
        .ends_with("Final answer: B"));

    // Offline verification with only the key.
    let v = verify_release(&out, &f.verifier).unwrap();
    assert_eq!(v.examples, report.examples);
    assert_eq!(v.release_leaf, report.leaf);
    assert!(
        check_against_store(&f.store, f.signer.clone(), &f.verifier, &out)
            .await
            .unwrap()
            .is_empty()
    );

    // Later activity does not change a rebuild at the same checkpoint.
    let t = &f.traces[0];
    let revision = cts_store::review::reviews_of_trace(&f.store, t)
        .await
        .unwrap();
    assert!(!revision.is_empty());
    f.store
        .ledger()
        .append(
            cts_ledger::EventDraft::new(
                cts_ledger::EventKind::new("note.appended").unwrap(),
                "test",
            )
            .body(serde_json::json!({"n": 1})),
        )
        .await
        .unwrap();
    let again = f.path("release-b");
    let r2 = f
        .build(SPEC, &again, Some(report.checkpoint_size), false)
        .await
        .unwrap();
    assert_eq!(r2.manifest_sha256, report.manifest_sha256);
    let (mut a, b) = (files_of(&out), files_of(&again));
    a.remove("release.tlog-proof");
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(
            b[k] == *v,
            "{k} differs between builds at the same checkpoint"
        );
    }
}

#[tokio::test]
async fn tampering_is_named_by_example() {
    let f = fixture().await;
    let out = f.path("release");
    f.build(SPEC, &out, None, true).await.unwrap();

    // 1. A changed example line in the release.
    let copy = f.path("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for (rel, bytes) in files_of(&out) {
        let p = copy.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    let sft_file = ["train", "validation", "test"]
        .iter()
        .map(|s| copy.join(format!("sft/{s}.jsonl")))
        .find(|p| p.exists())
        .unwrap();
    let text = std::fs::read_to_string(&sft_file).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    std::fs::write(&sft_file, text.replacen("Paracetamol", "Ibuprofen", 1)).unwrap();
    match verify_release(&copy, &f.verifier) {
        Err(DatasetError::Provenance { example, .. }) => assert_eq!(example, id),
        other => panic!("expected the altered example to be named, got {other:?}"),
    }

    // 2. An evidence entry that is not the logged one.
    let copy2 = f.path("copy2");
    std::fs::create_dir_all(&copy2).unwrap();
    for (rel, bytes) in files_of(&out) {
        let p = copy2.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let bytes = if rel == "evidence/entries.jsonl" {
            String::from_utf8(bytes)
                .unwrap()
                .replacen("review.submitted", "review.submittex", 1)
                .into_bytes()
        } else {
            bytes
        };
        std::fs::write(p, bytes).unwrap();
    }
    let err = verify_release(&copy2, &f.verifier).unwrap_err().to_string();
    assert!(err.contains("SHA-256") || err.contains("hash"), "{err}");

    // 3. A review altered in the store after the release.
    let prov = lines(
        &out.join(
            sft_file
                .strip_prefix(&copy)
                .unwrap()
                .to_string_lossy()
                .replace("sft/", "provenance/sft/"),
        ),
    );
    let review_id = prov[0]["reviews"][0]["id"].as_str().unwrap().to_owned();
    let commitment = hex::decode(prov[0]["reviews"][0]["commitment"].as_str().unwrap()).unwrap();
    let stored = cts_store::review::review_by_id(&f.store, &review_id)
        .await
        .unwrap();
    let mut body = stored.body.clone();
    body.rationale = "Changed afterwards by someone with database access.".into();
    sqlx::query("UPDATE content SET bytes = ? WHERE commitment = ?")
        .bind(serde_json::to_vec(&body).unwrap())
        .bind(&commitment)
        .execute(f.store.db())
        .await
        .unwrap();
    let mismatches = check_against_store(&f.store, f.signer.clone(), &f.verifier, &out)
        .await
        .unwrap();
    assert!(mismatches.iter().any(|m| m.example == id), "{mismatches:?}");
    assert!(
        mismatches.iter().all(|m| m.reason.contains("commitment")),
        "{mismatches:?}"
    );
    // The offline check of the release itself still passes: the release is intact.
    verify_release(&out, &f.verifier).unwrap();
    // And a new build refuses to use altered content.
    let err = f
        .build(SPEC, &f.path("after-tamper"), None, false)
        .await
        .unwrap_err();
    assert!(matches!(err, DatasetError::Tampered(_)), "{err}");
    assert!(!f.path("after-tamper").exists());
}

#[tokio::test]
async fn an_altered_edit_is_named_by_example() {
    let f = fixture().await;
    let out = f.path("release");
    f.build(SPEC, &out, None, false).await.unwrap();
    // The edit events of trace 1's reviews.
    let reviews = cts_store::review::reviews_of_trace(&f.store, &f.traces[1])
        .await
        .unwrap();
    let leaf = reviews[0].edit_leaves[0];
    sqlx::query("UPDATE content SET bytes = ? WHERE leaf = ?")
        .bind(br#"{"original":"x","text":"forged","rationale":"forged"}"#.to_vec())
        .bind(leaf as i64)
        .execute(f.store.db())
        .await
        .unwrap();
    let mismatches = check_against_store(&f.store, f.signer.clone(), &f.verifier, &out)
        .await
        .unwrap();
    assert!(!mismatches.is_empty());
    assert!(
        mismatches
            .iter()
            .all(|m| m.reason.contains(&format!("leaf {leaf}"))),
        "{mismatches:?}"
    );
}

#[tokio::test]
async fn erased_content_is_never_exported() {
    let f = fixture().await;
    let (trace, _) = cts_store::traces::get_trace(&f.store, &f.traces[0])
        .await
        .unwrap();
    let entry = f
        .store
        .ledger()
        .entry(cts_ledger::LeafIndex(trace.leaf))
        .await
        .unwrap();
    let event = cts_ledger::Event::decode(&entry).unwrap();
    let commitment = *event.content.values().next().unwrap();
    f.store
        .ledger()
        .redact(commitment, "test", "patient request")
        .await
        .unwrap();
    let out = f.path("release");
    let report = f.build(SPEC, &out, None, false).await.unwrap();
    assert_eq!(report.tally.redacted, 1);
    let all = files_of(&out);
    for (k, v) in &all {
        if k.starts_with("provenance/") {
            assert!(
                !String::from_utf8_lossy(v).contains(&f.traces[0]),
                "{k} names the erased trace"
            );
        }
    }
    let manifest: serde_json::Value = serde_json::from_slice(&all["manifest.json"]).unwrap();
    assert_eq!(manifest["tally"]["redacted"], 1);
}

#[tokio::test]
async fn an_empty_selection_is_an_error_and_leaves_nothing() {
    let f = fixture().await;
    let spec = SPEC.replace(
        "min_reviews = 2",
        "min_reviews = 2\nspecialties = [\"dermatology-not-here\"]",
    );
    let out = f.path("empty");
    let err = f.build(&spec, &out, None, true).await.unwrap_err();
    assert!(matches!(err, DatasetError::Empty(_)), "{err}");
    assert!(!out.exists());
    assert!(cts_store::releases::releases(&f.store)
        .await
        .unwrap()
        .is_empty());
    let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM release_examples")
        .fetch_one(f.store.db())
        .await
        .unwrap();
    assert_eq!(staged, 0);
    // A checkpoint that was never signed.
    let err = f
        .build(SPEC, &f.path("x"), Some(3), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--at-checkpoint 3"), "{err}");
}

#[tokio::test]
async fn a_row_pointing_at_other_content_stops_the_build() {
    let f = fixture().await;
    // Trace 0's row now names trace 1's content: that content opens its own
    // commitment, so only the event at trace 0's leaf can tell.
    let (t0, _) = cts_store::traces::get_trace(&f.store, &f.traces[0])
        .await
        .unwrap();
    sqlx::query(
        "UPDATE traces SET commitment = (SELECT commitment FROM traces WHERE id = ?) WHERE id = ?",
    )
    .bind(&f.traces[1])
    .bind(&f.traces[0])
    .execute(f.store.db())
    .await
    .unwrap();
    let out = f.path("release");
    let err = f.build(SPEC, &out, None, true).await.unwrap_err();
    assert!(matches!(err, DatasetError::Tampered(_)), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("leaf {}", t0.leaf)) && message.contains("its event carries"),
        "{message}"
    );
    assert!(!out.exists());
    let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM release_examples")
        .fetch_one(f.store.db())
        .await
        .unwrap();
    assert_eq!(staged, 0);
}
