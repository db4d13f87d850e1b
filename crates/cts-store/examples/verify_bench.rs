//! Times the two parts of `cts ledger verify` on a store seeded through the
//! real ledger (synthetic cases, N traces with two reviews each): the log
//! audit (leaves/s) and the projection check that replays the events and
//! compares every domain table (rows/s), the second reported against the
//! first as measured in the same run. The same figures come out of
//! `cts bench dataset`; this example needs no model backend to build.
//!
//! `cargo run --release -p cts-store --example verify_bench -- [TRACES]`

use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let traces: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("cts.db");
    let store = cts_store::Store::open(&db).await?;
    let rubric = cts_review::Rubric::default_medication_safety();
    let started = Instant::now();
    let cases = (traces / 5).max(1) as usize;
    cts_store::seed::seed_reviews(&store, &rubric, cases, traces, 2, &|_| {}).await?;
    let seed_s = started.elapsed().as_secs_f64();
    let (skey, vkey) = cts_ledger::LogSigner::generate("bench.cts.invalid/verify")?;
    store
        .ledger()
        .checkpoint(std::sync::Arc::new(
            cts_ledger::LogSigner::from_private_key(&skey)?,
        ))
        .await?;
    let verifier = cts_ledger::LogVerifier::new(&vkey)?;

    let started = Instant::now();
    let audit = store.ledger().audit(&verifier, &|_| {}).await?;
    let audit_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let projection =
        tokio::task::spawn_blocking(move || cts_store::projection::check(&db, &|_| {})).await??;
    let projection_s = started.elapsed().as_secs_f64();
    if !audit.ok() || !projection.ok() {
        return Err(format!(
            "the seeded store does not verify: {:?}",
            audit.failures.iter().chain(&projection.failures).next()
        )
        .into());
    }
    let rows = projection.total_rows();
    println!(
        "{traces} traces, {} events (seeded in {seed_s:.1} s)\n\
         log audit:        {:>10.0} leaves/s ({audit_s:.2} s)\n\
         projection check: {:>10.0} rows/s, {:.0} events/s ({rows} rows, {projection_s:.2} s) = {:.2}x the audit's time\n\
         rows per table: {:?}",
        audit.leaves,
        audit.leaves as f64 / audit_s,
        rows as f64 / projection_s,
        projection.events as f64 / projection_s,
        projection_s / audit_s,
        projection.rows
    );
    Ok(())
}
