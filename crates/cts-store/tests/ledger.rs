//! The ledger on a real SQLite file: appends, atomicity, checkpoints,
//! proofs, redaction and several handles on one database.

use std::sync::Arc;

use cts_ledger::bundle::ProofBundle;
use cts_ledger::proof::{verify_consistency, verify_inclusion};
use cts_ledger::{leaf_hash, EventDraft, EventKind, LeafIndex, LogSigner, LogVerifier, TreeSize};
use cts_store::{AppendHook, ContentState, Ledger, StoreError};

fn note(i: u64) -> EventDraft {
    EventDraft::new(EventKind::new("note.appended").unwrap(), "test:runner")
        .subject(format!("note:{i}"))
        .body(serde_json::json!({ "i": i }))
}

fn keys() -> (Arc<LogSigner>, LogVerifier) {
    let (skey, vkey) = LogSigner::generate("cts.test/store").unwrap();
    (
        Arc::new(LogSigner::from_private_key(&skey).unwrap()),
        LogVerifier::new(&vkey).unwrap(),
    )
}

#[tokio::test]
async fn appends_get_consecutive_leaves_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cts.db");
    let ledger = Ledger::open(&db).await.unwrap();
    let mut leaves = Vec::new();
    for i in 0..300 {
        leaves.push(ledger.append(note(i)).await.unwrap());
    }
    assert_eq!(leaves, (0..300).map(LeafIndex).collect::<Vec<_>>());
    let root = ledger.root(TreeSize(300)).await.unwrap();
    drop(ledger);
    let again = Ledger::open(&db).await.unwrap();
    assert_eq!(again.committed_size(), TreeSize(300));
    assert_eq!(again.root(TreeSize(300)).await.unwrap(), root);
    let entry = again.entry(LeafIndex(257)).await.unwrap();
    assert!(String::from_utf8(entry).unwrap().contains("\"note:257\""));
    assert!(matches!(
        again.entry(LeafIndex(300)).await,
        Err(StoreError::NotFound { what: "leaf", .. })
    ));
}

#[tokio::test]
async fn concurrent_appends_are_group_committed_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("cts.db")).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let l = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..50 {
                got.push(l.append(note(t * 1000 + i)).await.unwrap().0);
            }
            got
        }));
    }
    let mut all: Vec<u64> = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(all, (0..800).collect::<Vec<_>>());
    assert!(
        ledger.commit_count() < 800,
        "appends were batched into fewer commits"
    );
    assert_eq!(
        ledger
            .entries(LeafIndex(0), LeafIndex(800))
            .await
            .unwrap()
            .len(),
        800
    );
}

#[tokio::test]
async fn a_failing_hook_rolls_back_its_own_request_only() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("cts.db")).await.unwrap();
    sqlx::query("CREATE TABLE things (leaf INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        .execute(ledger.pool())
        .await
        .unwrap();
    let hook = |name: &'static str| -> AppendHook {
        Box::new(move |conn, leaves| {
            Box::pin(async move {
                sqlx::query("INSERT INTO things (leaf, name) VALUES (?, ?)")
                    .bind(leaves[0].0 as i64)
                    .bind(name)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
    };
    let a = ledger
        .append_batch(vec![note(1), note(2)], Some(hook("a")))
        .await
        .unwrap();
    assert_eq!(a, vec![LeafIndex(0), LeafIndex(1)]);
    let dup = ledger.append_batch(vec![note(3)], Some(hook("a"))).await;
    assert!(
        dup.is_err(),
        "the hook's unique violation fails the request"
    );
    let b = ledger
        .append_batch(vec![note(4)], Some(hook("b")))
        .await
        .unwrap();
    assert_eq!(
        b,
        vec![LeafIndex(2)],
        "the failed request left no leaf behind"
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM things")
        .fetch_one(ledger.pool())
        .await
        .unwrap();
    assert_eq!(rows, 2);
    let (_, verifier) = keys();
    let report = cts_store::audit(ledger.pool(), &verifier, &|_| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!(report.leaves, 3);
}

#[tokio::test]
async fn an_invalid_event_fails_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("cts.db")).await.unwrap();
    let bad = note(2).body(serde_json::json!({ "big": "x".repeat(70_000) }));
    assert!(ledger.append_batch(vec![note(1), bad], None).await.is_err());
    assert_eq!(ledger.refresh().await.unwrap(), TreeSize(0));
}

#[tokio::test]
async fn checkpoints_are_signed_consistent_and_prove_inclusion() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("cts.db")).await.unwrap();
    let (signer, verifier) = keys();
    for i in 0..10 {
        ledger.append(note(i)).await.unwrap();
    }
    let first = ledger.checkpoint(signer.clone()).await.unwrap();
    let same = ledger.checkpoint(signer.clone()).await.unwrap();
    assert_eq!(first.id, same.id, "an unchanged tree is not signed twice");
    for i in 10..700 {
        ledger.append(note(i)).await.unwrap();
    }
    let second = ledger.checkpoint(signer.clone()).await.unwrap();
    assert_eq!((first.size, second.size), (TreeSize(10), TreeSize(700)));
    let opened = verifier.open(&second.note).unwrap();
    assert_eq!(opened.root, second.root);

    let proof = ledger
        .consistency_proof(first.size, second.size)
        .await
        .unwrap();
    verify_consistency(first.size, second.size, first.root, second.root, &proof).unwrap();
    for leaf in [0u64, 9, 255, 256, 699] {
        let entry = ledger.entry(LeafIndex(leaf)).await.unwrap();
        let proof = ledger
            .inclusion_proof(LeafIndex(leaf), second.size)
            .await
            .unwrap();
        verify_inclusion(
            LeafIndex(leaf),
            second.size,
            leaf_hash(&entry),
            &proof,
            second.root,
        )
        .unwrap();
        let bundle = ProofBundle {
            extra: Some(entry),
            index: LeafIndex(leaf),
            proof,
            checkpoint: second.note.clone(),
        };
        bundle.verify(&verifier, None).unwrap();
    }
    assert_eq!(ledger.checkpoints().await.unwrap().len(), 2);
}

#[tokio::test]
async fn redaction_erases_content_and_the_log_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("cts.db")).await.unwrap();
    let (signer, verifier) = keys();
    let leaf = ledger
        .append(note(1).attach("vignette", b"synthetic case text".to_vec()))
        .await
        .unwrap();
    let event = cts_ledger::Event::decode(&ledger.entry(leaf).await.unwrap()).unwrap();
    let c = event.content["vignette"];
    assert!(matches!(
        ledger.content(&c).await.unwrap(),
        ContentState::Present { .. }
    ));
    ledger.checkpoint(signer.clone()).await.unwrap();
    let at = ledger
        .redact(c, "test:dpo", "erasure request 42")
        .await
        .unwrap();
    ledger.checkpoint(signer).await.unwrap();
    assert_eq!(
        ledger.content(&c).await.unwrap(),
        ContentState::Redacted {
            leaf,
            redacted_at: at
        }
    );
    assert!(
        ledger.redact(c, "test:dpo", "again").await.is_err(),
        "cannot erase twice"
    );
    let report = cts_store::audit(ledger.pool(), &verifier, &|_| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!((report.content_checked, report.content_redacted), (0, 1));
}

#[tokio::test]
async fn two_handles_on_one_database_never_fork_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cts.db");
    let a = Ledger::open(&db).await.unwrap();
    let b = Ledger::open(&db).await.unwrap();
    let (signer, verifier) = keys();
    for i in 0..40 {
        let l = if i % 3 == 0 { &a } else { &b };
        l.append(note(i)).await.unwrap();
        if i % 7 == 0 {
            l.checkpoint(signer.clone()).await.unwrap();
        }
    }
    a.checkpoint(signer.clone()).await.unwrap();
    b.checkpoint(signer).await.unwrap();
    let report = cts_store::audit(a.pool(), &verifier, &|_| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!(report.leaves, 40);
}
