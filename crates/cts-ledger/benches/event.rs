//! Cost of preparing a ~350-byte event: canonical encoding and leaf hash.
// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]
use criterion::{criterion_group, criterion_main, Criterion};
use cts_ledger::{EventDraft, EventKind, Salt};

fn draft() -> EventDraft {
    let mut d = EventDraft::new(EventKind::new("review.submitted").unwrap(), "user:clinician-042")
        .subject("trace:t00001234")
        .subject("case:c000077")
        .body(serde_json::json!({
            "rubric": "medication-safety@1",
            "ratings": {"correctness": 4, "medication_safety": 2, "guidelines": 5, "usefulness": 3, "transparency": 1},
            "step_labels": [1, 0, -1, 1, 1], "flags": ["dose_error"], "review": "r0000001234",
        }));
    d.time = Some("2026-11-25T12:00:00.000Z".into());
    d
}

fn bench(c: &mut Criterion) {
    let d = draft();
    c.bench_function("prepare_event", |b| {
        b.iter(|| d.clone().prepare(|| Salt([0; 32])).unwrap())
    });
    let e = d.clone().prepare(|| Salt([0; 32])).unwrap().event;
    c.bench_function("jcs_to_vec", |b| {
        b.iter(|| serde_json_canonicalizer::to_vec(&e).unwrap())
    });
    c.bench_function("serde_json_to_vec", |b| {
        b.iter(|| serde_json::to_vec(&e).unwrap())
    });
    c.bench_function("validate", |b| b.iter(|| e.validate().unwrap()));
    c.bench_function("clone_draft", |b| b.iter(|| d.clone()));
}

criterion_group!(benches, bench);
criterion_main!(benches);
