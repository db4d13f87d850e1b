//! The ledger on a real SQLite file: appends, atomicity, checkpoints,
//! proofs, redaction and several handles on one database.

use std::sync::Arc;

use cts_ledger::bundle::ProofBundle;
use cts_ledger::proof::{verify_consistency, verify_inclusion};
use cts_ledger::{leaf_hash, EventDraft, EventKind, LeafIndex, LogSigner, LogVerifier, TreeSize};
use cts_store::{AppendHook, ContentState, Store, StoreError};

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
    let store = Store::open(&db).await.unwrap();
    let mut leaves = Vec::new();
    for i in 0..300 {
        leaves.push(store.ledger().append(note(i)).await.unwrap());
    }
    assert_eq!(leaves, (0..300).map(LeafIndex).collect::<Vec<_>>());
    let root = store.ledger().root(TreeSize(300)).await.unwrap();
    drop(store);
    let again = Store::open(&db).await.unwrap();
    assert_eq!(again.ledger().committed_size(), TreeSize(300));
    assert_eq!(again.ledger().root(TreeSize(300)).await.unwrap(), root);
    let entry = again.ledger().entry(LeafIndex(257)).await.unwrap();
    assert!(String::from_utf8(entry).unwrap().contains("\"note:257\""));
    assert!(matches!(
        again.ledger().entry(LeafIndex(300)).await,
        Err(StoreError::NotFound { what: "leaf", .. })
    ));
}

#[tokio::test]
async fn concurrent_appends_are_group_committed_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let l = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..50 {
                got.push(l.ledger().append(note(t * 1000 + i)).await.unwrap().0);
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
        store.ledger().commit_count() < 800,
        "appends were batched into fewer commits"
    );
    assert_eq!(
        store
            .ledger()
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
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    sqlx::query("CREATE TABLE things (leaf INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        .execute(store.db())
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
    let a = store
        .ledger()
        .append_batch(vec![note(1), note(2)], Some(hook("a")))
        .await
        .unwrap();
    assert_eq!(a, vec![LeafIndex(0), LeafIndex(1)]);
    let dup = store
        .ledger()
        .append_batch(vec![note(3)], Some(hook("a")))
        .await;
    assert!(
        dup.is_err(),
        "the hook's unique violation fails the request"
    );
    let b = store
        .ledger()
        .append_batch(vec![note(4)], Some(hook("b")))
        .await
        .unwrap();
    assert_eq!(
        b,
        vec![LeafIndex(2)],
        "the failed request left no leaf behind"
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM things")
        .fetch_one(store.db())
        .await
        .unwrap();
    assert_eq!(rows, 2);
    let (_, verifier) = keys();
    let report = store.ledger().audit(&verifier, &|_| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!(report.leaves, 3);
}

#[tokio::test]
async fn an_invalid_event_fails_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let bad = note(2).body(serde_json::json!({ "big": "x".repeat(70_000) }));
    assert!(store
        .ledger()
        .append_batch(vec![note(1), bad], None)
        .await
        .is_err());
    assert_eq!(store.ledger().refresh().await.unwrap(), TreeSize(0));
}

#[tokio::test]
async fn checkpoints_are_signed_consistent_and_prove_inclusion() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let (signer, verifier) = keys();
    for i in 0..10 {
        store.ledger().append(note(i)).await.unwrap();
    }
    let first = store.ledger().checkpoint(signer.clone()).await.unwrap();
    let same = store.ledger().checkpoint(signer.clone()).await.unwrap();
    assert_eq!(first.id, same.id, "an unchanged tree is not signed twice");
    for i in 10..700 {
        store.ledger().append(note(i)).await.unwrap();
    }
    let second = store.ledger().checkpoint(signer.clone()).await.unwrap();
    assert_eq!((first.size, second.size), (TreeSize(10), TreeSize(700)));
    let opened = verifier.open(&second.note).unwrap();
    assert_eq!(opened.root, second.root);

    let proof = store
        .ledger()
        .consistency_proof(first.size, second.size)
        .await
        .unwrap();
    verify_consistency(first.size, second.size, first.root, second.root, &proof).unwrap();
    for leaf in [0u64, 9, 255, 256, 699] {
        let entry = store.ledger().entry(LeafIndex(leaf)).await.unwrap();
        let proof = store
            .ledger()
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
    assert_eq!(store.ledger().checkpoints().await.unwrap().len(), 2);
}

#[tokio::test]
async fn redaction_erases_content_and_the_log_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let (signer, verifier) = keys();
    let leaf = store
        .ledger()
        .append(note(1).attach("vignette", b"synthetic case text".to_vec()))
        .await
        .unwrap();
    let event = cts_ledger::Event::decode(&store.ledger().entry(leaf).await.unwrap()).unwrap();
    let c = event.content["vignette"];
    assert!(matches!(
        store.ledger().content(&c).await.unwrap(),
        ContentState::Present { .. }
    ));
    store.ledger().checkpoint(signer.clone()).await.unwrap();
    let at = store
        .ledger()
        .redact(c, "test:dpo", "erasure request 42")
        .await
        .unwrap();
    store.ledger().checkpoint(signer).await.unwrap();
    assert_eq!(
        store.ledger().content(&c).await.unwrap(),
        ContentState::Redacted {
            leaf,
            redacted_at: at
        }
    );
    assert!(
        store.ledger().redact(c, "test:dpo", "again").await.is_err(),
        "cannot erase twice"
    );
    let report = store.ledger().audit(&verifier, &|_| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!((report.content_checked, report.content_redacted), (0, 1));
}

#[tokio::test]
async fn two_handles_on_one_database_never_fork_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cts.db");
    let a = Store::open(&db).await.unwrap();
    let b = Store::open(&db).await.unwrap();
    let (signer, verifier) = keys();
    for i in 0..40 {
        let l = if i % 3 == 0 { &a } else { &b };
        l.ledger().append(note(i)).await.unwrap();
        if i % 7 == 0 {
            l.ledger().checkpoint(signer.clone()).await.unwrap();
        }
    }
    a.ledger().checkpoint(signer.clone()).await.unwrap();
    b.ledger().checkpoint(signer).await.unwrap();
    let report = a.ledger().audit(&verifier, &|_| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!(report.leaves, 40);
}
