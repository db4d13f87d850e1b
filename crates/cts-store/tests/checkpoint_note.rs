//! `Ledger::replace_checkpoint_note`: a stored checkpoint may gain signature
//! lines (witness cosignatures), never lose one or change its body.

use std::sync::Arc;

use cts_ledger::{EventDraft, EventKind, LogSigner, LogVerifier};
use cts_store::{Store, StoreError};

const EXTRA: &str = "\u{2014} witness.test/w1 AAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n";

#[tokio::test]
async fn a_checkpoint_note_gains_lines_but_keeps_its_body_and_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let (skey, vkey) = LogSigner::generate("cts.test/store").unwrap();
    let signer = Arc::new(LogSigner::from_private_key(&skey).unwrap());
    store
        .ledger()
        .append(EventDraft::new(
            EventKind::new("note.appended").unwrap(),
            "test:runner",
        ))
        .await
        .unwrap();
    let cp = store.ledger().checkpoint(signer.clone()).await.unwrap();
    let note = String::from_utf8(cp.note.clone()).unwrap();

    let longer = format!("{note}{EXTRA}");
    let stored = store
        .ledger()
        .replace_checkpoint_note(cp.id, longer.as_bytes())
        .await
        .unwrap();
    assert_eq!(stored.note, longer.as_bytes());
    let latest = store.ledger().latest_checkpoint().await.unwrap().unwrap();
    assert_eq!(latest.note, longer.as_bytes());
    // The log's key still opens it, and signing again at the same size returns it.
    LogVerifier::new(&vkey).unwrap().open(&latest.note).unwrap();
    assert_eq!(
        store.ledger().checkpoint(signer).await.unwrap().note,
        longer.as_bytes()
    );

    // Another body, a dropped log signature, or a line that is no signature: refused, nothing written.
    let other_body = longer.replacen("\n1\n", "\n2\n", 1);
    let log_line = note.lines().last().unwrap();
    let dropped = longer.replace(&format!("{log_line}\n"), "");
    let junk = format!("{longer}not a signature\n");
    for bad in [other_body, dropped, junk] {
        assert!(matches!(
            store
                .ledger()
                .replace_checkpoint_note(cp.id, bad.as_bytes())
                .await,
            Err(StoreError::Invalid { field: "note", .. })
        ));
    }
    assert_eq!(
        store
            .ledger()
            .latest_checkpoint()
            .await
            .unwrap()
            .unwrap()
            .note,
        longer.as_bytes()
    );
    assert!(matches!(
        store
            .ledger()
            .replace_checkpoint_note(cp.id + 100, longer.as_bytes())
            .await,
        Err(StoreError::NotFound { .. })
    ));
}
