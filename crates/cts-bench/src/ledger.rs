//! `cts bench ledger`: durable append throughput, full-audit throughput,
//! inclusion-proof latency and hash storage of the ledger, each beside a
//! baseline in the same run (plain SQLite inserts; reading and hashing the
//! entries).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use cts_ledger::{EventDraft, EventKind, LeafIndex, Salt, TreeSize};
use cts_store::Store;
use serde::Serialize;

use crate::{baseline, Progress};

/// The figures of one run.
#[derive(Serialize)]
pub struct LedgerFigures {
    events: u64,
    entry_bytes_avg: f64,
    encode_events_per_s_one_core: f64,
    append_events_per_s: f64,
    group_commits: u64,
    baseline_plain_insert_rows_per_s: f64,
    append_vs_plain_insert: f64,
    audit_leaves_per_s: f64,
    baseline_read_and_hash_rows_per_s: f64,
    audit_vs_read_and_hash: f64,
    proof_p50_us: f64,
    proof_p99_us: f64,
    proof_max_us: f64,
    tree_root_us: f64,
    hash_bytes_per_leaf: f64,
    peak_rss_mib: f64,
}

const FIXED_TIME: &str = "2026-11-25T12:00:00.000Z";

/// A ~300-byte `review.submitted` event, deterministic in `i`.
fn bench_draft(i: u64) -> Result<EventDraft> {
    let mut d = EventDraft::new(EventKind::new("review.submitted")?, format!("user:clinician-{:03}", i % 97))
        .subject(format!("trace:t{:08}", i / 2))
        .subject(format!("case:c{:06}", i / 16))
        .body(serde_json::json!({
            "rubric": "medication-safety@1",
            "ratings": {"correctness": 1 + i % 5, "medication_safety": 1 + (i / 5) % 5, "guidelines": 1 + (i / 25) % 5,
                        "usefulness": 1 + (i / 7) % 5, "transparency": 1 + (i / 11) % 5},
            "step_labels": [1, 0, -1, 1, 1],
            "flags": ["dose_error"],
            "review": format!("r{i:010}"),
        }));
    d.time = Some(FIXED_TIME.into());
    Ok(d)
}

/// Appends `events` events from `producers` concurrent producers, `batch`
/// per atomic append, in `dir` (default: a temporary folder), then audits
/// them and times `proofs` inclusion proofs; each stage beside its baseline.
pub async fn run(
    dir: Option<PathBuf>,
    events: u64,
    producers: u64,
    batch: u64,
    proofs: u64,
    progress: &Progress,
) -> Result<LedgerFigures> {
    let (dir, _tmp) = crate::scratch(dir)?;
    let ledger_db = dir.join("bench-ledger.db");
    let plain_db = dir.join("bench-plain.db");
    for p in [&ledger_db, &plain_db] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }

    // 1. Durable appends from concurrent producers, encoding included.
    let store = Store::open(&ledger_db).await?;
    // Inputs are built first; the timing covers preparing (encoding, hashing) and appending them.
    let mut inputs: Vec<Vec<Vec<EventDraft>>> = (0..producers).map(|_| Vec::new()).collect();
    for (n, start) in (0..events).step_by(batch as usize).enumerate() {
        let end = (start + batch).min(events);
        inputs[n % producers as usize]
            .push((start..end).map(bench_draft).collect::<Result<Vec<_>>>()?);
    }
    let bar = Arc::new(progress(events, "appending"));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for batches in inputs {
        let store = store.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            for drafts in batches {
                let n = drafts.len() as u64;
                let prepared = drafts
                    .into_iter()
                    .map(|d| d.prepare(Salt::random))
                    .collect::<Result<Vec<_>, _>>()?;
                store.ledger().append_prepared(prepared, None).await?;
                bar.inc(n);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("producer panicked")??;
    }
    let append_s = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let commits = store.ledger().commit_count();

    // 2. Baseline: the same rows, plain multi-row inserts, same average transaction size.
    let start = Instant::now();
    let rows: Vec<(String, Vec<u8>)> = (0..events)
        .map(|i| {
            Ok((
                "review.submitted".to_string(),
                bench_draft(i)?.prepare(|| Salt([0; 32]))?.entry,
            ))
        })
        .collect::<Result<_>>()?;
    let encode_s = start.elapsed().as_secs_f64();
    let entry_bytes_avg =
        rows.iter().map(|r| r.1.len()).sum::<usize>() as f64 / events.max(1) as f64;
    let per_tx = (events / commits.max(1)).max(1) as usize;
    let start = Instant::now();
    baseline::plain_insert(&plain_db, &rows, per_tx).await?;
    let plain_s = start.elapsed().as_secs_f64();
    drop(rows);

    // 3. Full audit vs. reading the rows and hashing them.
    let verifier_key = {
        let (skey, vkey) = cts_ledger::LogSigner::generate("cts.bench/ledger")?;
        let signer = Arc::new(cts_ledger::LogSigner::from_private_key(&skey)?);
        store.ledger().checkpoint(signer).await?;
        cts_ledger::LogVerifier::new(&vkey)?
    };
    let bar = progress(events, "auditing");
    let start = Instant::now();
    let report = store
        .ledger()
        .audit(&verifier_key, &|n| bar.set_position(n))
        .await?;
    let audit_s = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    anyhow::ensure!(
        report.leaves == events,
        "audit saw {} leaves, expected {events}",
        report.leaves
    );
    let start = Instant::now();
    let hashed = baseline::read_and_hash(&store).await?;
    let read_hash_s = start.elapsed().as_secs_f64();
    anyhow::ensure!(hashed == events, "baseline read {hashed} rows");

    // 4. Inclusion proofs at full size, timed one by one.
    let size = TreeSize(events);
    let (mut lat, root_us) = store
        .ledger()
        .with_tree(size, |t| {
            let mut lat = Vec::with_capacity(proofs as usize);
            let mut leaf = 0u64;
            for _ in 0..proofs {
                leaf = (leaf + 7_919) % events;
                let s = Instant::now();
                let p = t.inclusion_proof(LeafIndex(leaf), size);
                lat.push(s.elapsed().as_secs_f64() * 1e6);
                std::hint::black_box(p.ok());
            }
            let s = Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(t.root(size).ok());
            }
            (lat, s.elapsed().as_secs_f64() * 1e3)
        })
        .await?;
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };

    let tile_bytes = baseline::hash_tile_bytes(&store).await?;
    let ev = events as f64;
    Ok(LedgerFigures {
        events,
        entry_bytes_avg,
        encode_events_per_s_one_core: ev / encode_s,
        append_events_per_s: ev / append_s,
        group_commits: commits,
        baseline_plain_insert_rows_per_s: ev / plain_s,
        append_vs_plain_insert: plain_s / append_s,
        audit_leaves_per_s: ev / audit_s,
        baseline_read_and_hash_rows_per_s: ev / read_hash_s,
        audit_vs_read_and_hash: read_hash_s / audit_s,
        proof_p50_us: pct(0.50),
        proof_p99_us: pct(0.99),
        proof_max_us: lat.last().copied().unwrap_or(0.0),
        tree_root_us: root_us,
        hash_bytes_per_leaf: tile_bytes as f64 / ev,
        peak_rss_mib: crate::peak_rss_mib(),
    })
}

impl fmt::Display for LedgerFigures {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let figures = self;
        write!(
            out,
            "ledger benchmark, {} events of ~{:.0} B (this machine, one run; ratios are against baselines in the same run)\n\
             event encoding        {:>12.0} events/s  (canonical JSON + leaf hash, one core)\n\
             durable append        {:>12.0} events/s  ({} group commits)\n\
             plain SQLite insert   {:>12.0} rows/s    -> append is {:.2}x the baseline\n\
             full audit (verify)   {:>12.0} leaves/s\n\
             read + leaf hash (1 core){:>10.0} rows/s    -> audit is {:.2}x the baseline\n\
             inclusion proof       p50 {:.2} us, p99 {:.2} us, max {:.1} us (tree root {:.2} us)\n\
             hash storage          {:.2} B per leaf\n\
             peak memory           {:.0} MiB\n",
            figures.events, figures.entry_bytes_avg, figures.encode_events_per_s_one_core, figures.append_events_per_s, figures.group_commits,
            figures.baseline_plain_insert_rows_per_s, figures.append_vs_plain_insert,
            figures.audit_leaves_per_s, figures.baseline_read_and_hash_rows_per_s, figures.audit_vs_read_and_hash,
            figures.proof_p50_us, figures.proof_p99_us, figures.proof_max_us, figures.tree_root_us,
            figures.hash_bytes_per_leaf, figures.peak_rss_mib
        )
    }
}
