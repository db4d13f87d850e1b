//! The witness server on loopback, fed by real CTS ledgers (SQLite files):
//! it cosigns a growing log, refuses rollbacks and forks, and remembers
//! across restarts; the client follows a 409 to the witnessed size.

use std::path::Path;
use std::sync::Arc;

use cts_ledger::{EventDraft, EventKind, LogSigner, LogVerifier, TreeSize};
use cts_store::{Store, StoredCheckpoint};
use cts_witness::client::{submit, ClientError, WitnessEndpoint};
use cts_witness::server::{router, AppState};
use cts_witness::state::StateDir;
use cts_witness::{add_signature_lines, open_cosigned, CosignatureVerifier, Cosigner, Witness};
use tokio::task::JoinHandle;

const ORIGIN: &str = "cts.test/witnessed-log";

struct Keys {
    signer: Arc<LogSigner>,
    verifier: LogVerifier,
    witness_skey: String,
    witness_key: CosignatureVerifier,
}

fn keys() -> Keys {
    let (skey, vkey) = LogSigner::generate(ORIGIN).unwrap();
    let (wskey, wvkey) = Cosigner::generate("witness.test/w1").unwrap();
    Keys {
        signer: Arc::new(LogSigner::from_private_key(&skey).unwrap()),
        verifier: LogVerifier::new(&vkey).unwrap(),
        witness_skey: wskey,
        witness_key: CosignatureVerifier::new(&wvkey).unwrap(),
    }
}

/// A running witness: its address and the task serving it.
struct Running {
    url: String,
    task: JoinHandle<()>,
}

async fn start(keys: &Keys, state: &Path) -> Running {
    let witness = Witness::new(
        Cosigner::from_private_key(&keys.witness_skey).unwrap(),
        vec![keys.verifier.clone()],
    )
    .unwrap();
    let app = Arc::new(AppState::new(witness, StateDir::open(state).unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router(app)).await.unwrap();
    });
    Running { url, task }
}

/// Events with fixed times, so two ledgers given the same numbers hold the same entries.
async fn append(store: &Store, numbers: std::ops::Range<u64>) {
    for i in numbers {
        let mut d = EventDraft::new(EventKind::new("note.appended").unwrap(), "test:runner")
            .subject(format!("note:{i}"))
            .body(serde_json::json!({ "i": i }));
        d.time = Some("2026-01-01T00:00:00Z".into());
        store.ledger().append(d).await.unwrap();
    }
}

async fn cosign(
    w: &Running,
    keys: &Keys,
    store: &Store,
    cp: &StoredCheckpoint,
    hint: u64,
) -> Result<Vec<u8>, ClientError> {
    let endpoint = WitnessEndpoint {
        url: w.url.clone(),
        key: keys.witness_key.clone(),
    };
    let size = cp.size;
    submit(
        &reqwest::Client::new(),
        &endpoint,
        &cp.note,
        size,
        TreeSize(hint),
        |from| {
            let l = store.clone();
            async move { l.ledger().consistency_proof(from, size).await }
        },
    )
    .await
}

fn assert_cosigned(keys: &Keys, cp: &StoredCheckpoint, lines: &[u8]) {
    let note = add_signature_lines(&cp.note, lines).unwrap();
    let opened = open_cosigned(
        &note,
        &keys.verifier,
        std::slice::from_ref(&keys.witness_key),
    )
    .unwrap();
    assert_eq!(opened.checkpoint.size, cp.size);
    assert_eq!(opened.cosignatures.len(), 1);
}

#[tokio::test]
async fn witness_cosigns_a_growing_log_and_follows_a_stale_old_size() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let w = start(&keys, &dir.path().join("state")).await;
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    append(&store, 0..5).await;
    let cp5 = store
        .ledger()
        .checkpoint(keys.signer.clone())
        .await
        .unwrap();
    assert_cosigned(
        &keys,
        &cp5,
        &cosign(&w, &keys, &store, &cp5, 0).await.unwrap(),
    );
    append(&store, 5..300).await;
    let cp300 = store
        .ledger()
        .checkpoint(keys.signer.clone())
        .await
        .unwrap();
    // A right guess (5) and then a wrong one (0, answered by 409 "300"): both end cosigned.
    assert_cosigned(
        &keys,
        &cp300,
        &cosign(&w, &keys, &store, &cp300, 5).await.unwrap(),
    );
    append(&store, 300..301).await;
    let cp301 = store
        .ledger()
        .checkpoint(keys.signer.clone())
        .await
        .unwrap();
    assert_cosigned(
        &keys,
        &cp301,
        &cosign(&w, &keys, &store, &cp301, 0).await.unwrap(),
    );
    // The same checkpoint again is cosigned again.
    assert_cosigned(
        &keys,
        &cp301,
        &cosign(&w, &keys, &store, &cp301, 301).await.unwrap(),
    );
    w.task.abort();
}

#[tokio::test]
async fn rollback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let w = start(&keys, &dir.path().join("state")).await;
    let store = Store::open(&dir.path().join("live.db")).await.unwrap();
    append(&store, 0..10).await;
    let cp10 = store
        .ledger()
        .checkpoint(keys.signer.clone())
        .await
        .unwrap();
    cosign(&w, &keys, &store, &cp10, 0).await.unwrap();
    // The same log restored from an older copy: its first 6 entries, signed again.
    let old = Store::open(&dir.path().join("restored.db")).await.unwrap();
    append(&old, 0..6).await;
    let cp6 = old.ledger().checkpoint(keys.signer.clone()).await.unwrap();
    assert_eq!(cp6.root, store.ledger().root(TreeSize(6)).await.unwrap());
    for hint in [0, 6, 10] {
        match cosign(&w, &keys, &old, &cp6, hint).await {
            Err(ClientError::WitnessAhead {
                witnessed: 10,
                size: 6,
                ..
            }) => {}
            other => panic!("hint {hint}: {other:?}"),
        }
    }
    // Sent raw with the witnessed size as old size: 400.
    let body = cts_witness::AddCheckpointRequest {
        old_size: TreeSize(10),
        proof: vec![],
        checkpoint: cp6.note.clone(),
    }
    .encode();
    let resp = reqwest::Client::new()
        .post(format!("{}/add-checkpoint", w.url))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    w.task.abort();
}

#[tokio::test]
async fn fork_is_refused_at_the_same_size_and_beyond() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let w = start(&keys, &dir.path().join("state")).await;
    let store = Store::open(&dir.path().join("live.db")).await.unwrap();
    append(&store, 0..8).await;
    let cp = store
        .ledger()
        .checkpoint(keys.signer.clone())
        .await
        .unwrap();
    cosign(&w, &keys, &store, &cp, 0).await.unwrap();
    // Another history under the same key: entry 3 differs.
    let fork = Store::open(&dir.path().join("fork.db")).await.unwrap();
    append(&fork, 0..3).await;
    append(&fork, 1003..1004).await;
    append(&fork, 4..8).await;
    let forked8 = fork.ledger().checkpoint(keys.signer.clone()).await.unwrap();
    assert_ne!(forked8.root, cp.root);
    match cosign(&w, &keys, &fork, &forked8, 8).await {
        Err(ClientError::Refused { status: 409, .. }) => {}
        other => panic!("{other:?}"),
    }
    append(&fork, 8..12).await;
    let forked12 = fork.ledger().checkpoint(keys.signer.clone()).await.unwrap();
    match cosign(&w, &keys, &fork, &forked12, 8).await {
        Err(ClientError::Refused { status: 422, .. }) => {}
        other => panic!("{other:?}"),
    }
    // The genuine log still grows under the witness.
    append(&store, 8..12).await;
    let cp12 = store
        .ledger()
        .checkpoint(keys.signer.clone())
        .await
        .unwrap();
    assert_cosigned(
        &keys,
        &cp12,
        &cosign(&w, &keys, &store, &cp12, 8).await.unwrap(),
    );
    w.task.abort();
}

#[tokio::test]
async fn restarted_witness_remembers_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let state = dir.path().join("state");
    let w = start(&keys, &state).await;
    let store = Store::open(&dir.path().join("live.db")).await.unwrap();
    append(&store, 0..20).await;
    let cp20 = store
        .ledger()
        .checkpoint(keys.signer.clone())
        .await
        .unwrap();
    cosign(&w, &keys, &store, &cp20, 0).await.unwrap();
    w.task.abort();
    let _ = w.task.await;

    let w = start(&keys, &state).await;
    let old = Store::open(&dir.path().join("restored.db")).await.unwrap();
    append(&old, 0..7).await;
    let cp7 = old.ledger().checkpoint(keys.signer.clone()).await.unwrap();
    assert!(matches!(
        cosign(&w, &keys, &old, &cp7, 0).await,
        Err(ClientError::WitnessAhead { witnessed: 20, .. })
    ));
    append(&store, 20..25).await;
    let cp25 = store
        .ledger()
        .checkpoint(keys.signer.clone())
        .await
        .unwrap();
    assert_cosigned(
        &keys,
        &cp25,
        &cosign(&w, &keys, &store, &cp25, 0).await.unwrap(),
    );
    w.task.abort();
}

#[tokio::test]
async fn malformed_and_unknown_requests_get_the_spec_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let w = start(&keys, &dir.path().join("state")).await;
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        let http = http.clone();
        let url = format!("{}/add-checkpoint", w.url);
        async move {
            http.post(url)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(b"old x\n\nnote\n".to_vec()).await, 400);
    let (other_skey, _) = LogSigner::generate("cts.test/unknown").unwrap();
    let other = LogSigner::from_private_key(&other_skey).unwrap();
    let note = other
        .sign(TreeSize(1), cts_ledger::Hash([1; 32]))
        .unwrap()
        .note;
    let body = |note: Vec<u8>| {
        cts_witness::AddCheckpointRequest {
            old_size: TreeSize(0),
            proof: vec![],
            checkpoint: note,
        }
        .encode()
    };
    assert_eq!(post(body(note)).await, 404);
    let (impostor_skey, _) = LogSigner::generate(ORIGIN).unwrap();
    let impostor = LogSigner::from_private_key(&impostor_skey).unwrap();
    let note = impostor
        .sign(TreeSize(1), cts_ledger::Hash([1; 32]))
        .unwrap()
        .note;
    assert_eq!(post(body(note)).await, 403);
    w.task.abort();
}

#[tokio::test]
async fn concurrent_first_submissions_cosign_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let state = dir.path().join("state");
    let w = start(&keys, &state).await;
    let store = Store::open(&dir.path().join("live.db")).await.unwrap();
    let mut bodies = Vec::new();
    for size in 1..=16u64 {
        append(&store, size - 1..size).await;
        let cp = store
            .ledger()
            .checkpoint(keys.signer.clone())
            .await
            .unwrap();
        let body = cts_witness::AddCheckpointRequest {
            old_size: TreeSize(0),
            proof: vec![],
            checkpoint: cp.note.clone(),
        }
        .encode();
        bodies.push((size, body));
    }
    // Every request claims the witness has seen nothing: only one may win,
    // whatever the interleaving; the others learn the winner's size.
    let http = reqwest::Client::new();
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|(size, body)| {
            let http = http.clone();
            let url = format!("{}/add-checkpoint", w.url);
            tokio::spawn(async move {
                let resp = http.post(url).body(body).send().await.unwrap();
                let status = resp.status().as_u16();
                (size, status, resp.text().await.unwrap())
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut answers = Vec::new();
    for t in tasks {
        let (size, status, text) = t.await.unwrap();
        match status {
            200 => won.push(size),
            409 => answers.push(text),
            other => panic!("status {other}: {text}"),
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    let stored = StateDir::open(&state)
        .unwrap()
        .load(ORIGIN)
        .unwrap()
        .unwrap();
    assert_eq!(stored.size, won[0]);
    assert!(
        answers.iter().all(|a| a == &format!("{}\n", won[0])),
        "{answers:?}"
    );
    w.task.abort();
}
