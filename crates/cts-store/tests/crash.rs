//! Crash test: a child process appends in a loop and is killed with SIGKILL
//! at random moments. After every restart each acknowledged leaf is present,
//! the log verifies, and it is consistent with every checkpoint signed
//! before the crash.
//!
//! The child is this same test binary, re-run with `CTS_CRASH_CHILD` set.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cts_ledger::{EventDraft, EventKind, LeafIndex, LogSigner, LogVerifier, TreeSize};
use cts_store::Store;

const ROUNDS: usize = 24;

/// The child: append batches forever, printing `ack <leaf> <marker>` after
/// each durable append and `cp <size> <root>` after each checkpoint.
#[tokio::test]
async fn child_append_loop() {
    let (Ok(db), Ok(skey)) = (
        std::env::var("CTS_CRASH_CHILD"),
        std::env::var("CTS_CRASH_KEY"),
    ) else {
        return; // Only meaningful as the child of crash_at_random_moments_loses_nothing_acknowledged.
    };
    let store = Store::open(std::path::Path::new(&db)).await.unwrap();
    let signer = Arc::new(LogSigner::from_private_key(&skey).unwrap());
    let mut tasks = Vec::new();
    for worker in 0..4u64 {
        let store = store.clone();
        let signer = signer.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0u64.. {
                let marker = format!("w{worker}-{n}-{}", std::process::id());
                let batch: Vec<EventDraft> = (0..1 + n % 5)
                    .map(|k| {
                        EventDraft::new(EventKind::new("note.appended").unwrap(), "test:crash")
                            .subject(format!("note:{marker}-{k}"))
                            .attach("text", format!("content {marker}-{k}").into_bytes())
                    })
                    .collect();
                let leaves = store.ledger().append_batch(batch, None).await.unwrap();
                for (k, leaf) in leaves.iter().enumerate() {
                    println!("ack {} {marker}-{k}", leaf.0);
                }
                if n % 10 == 0 {
                    let cp = store.ledger().checkpoint(signer.clone()).await.unwrap();
                    println!("cp {} {}", cp.size.0, cts_ledger::hash_to_base64(&cp.root));
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_at_random_moments_loses_nothing_acknowledged() {
    if std::env::var("CTS_CRASH_CHILD").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cts.db");
    let (skey, vkey) = LogSigner::generate("cts.test/crash").unwrap();
    let verifier = LogVerifier::new(&vkey).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut signed: Vec<(u64, String)> = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_append_loop",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("CTS_CRASH_CHILD", &db)
            .env("CTS_CRASH_KEY", &skey)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let lifetime = Duration::from_millis(150 + seed % 600);
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
            lines
        });
        let start = Instant::now();
        while start.elapsed() < lifetime {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for line in reader.join().unwrap() {
            let mut parts = line.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("ack"), Some(leaf), Some(marker)) => {
                    acked.push((leaf.parse().unwrap(), marker.to_owned()))
                }
                (Some("cp"), Some(size), Some(root)) => {
                    signed.push((size.parse().unwrap(), root.to_owned()))
                }
                _ => {}
            }
        }

        // Restart: everything acknowledged is there, and it all verifies.
        let store = Store::open(&db).await.unwrap();
        let size = store.ledger().committed_size();
        let entries = store
            .ledger()
            .entries(LeafIndex(0), LeafIndex(size.0))
            .await
            .unwrap();
        for (leaf, marker) in &acked {
            let entry = entries
                .get(*leaf as usize)
                .unwrap_or_else(|| panic!("round {round}: acked leaf {leaf} lost ({size} leaves)"));
            assert!(
                String::from_utf8_lossy(entry).contains(&format!("\"note:{marker}\"")),
                "round {round}: leaf {leaf} holds another event"
            );
        }
        for (cp_size, root) in &signed {
            assert!(
                TreeSize(*cp_size) <= size,
                "round {round}: checkpoint of {cp_size} leaves but only {size} survive"
            );
            let now =
                cts_ledger::hash_to_base64(&store.ledger().root(TreeSize(*cp_size)).await.unwrap());
            assert_eq!(
                &now, root,
                "round {round}: tree is not consistent with the checkpoint of size {cp_size}"
            );
        }
        let report = store.ledger().audit(&verifier, &|_| {}).await.unwrap();
        assert!(report.ok(), "round {round}: {:?}", report.failures);
    }
    assert!(
        acked.len() > 100,
        "the child acknowledged only {} appends",
        acked.len()
    );
    assert!(!signed.is_empty(), "the child signed no checkpoint");
    eprintln!(
        "{ROUNDS} SIGKILLs, {} acknowledged leaves, {} checkpoints: all present and consistent",
        acked.len(),
        signed.len()
    );
}
