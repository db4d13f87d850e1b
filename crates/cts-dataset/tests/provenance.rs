//! Complete provenance on the real SQLite file: every review that qualified
//! an example (both reviews of the blind double review, or the reviews and
//! the adjudication that chose the standing one) is named in SFT, DPO, KTO
//! and PRM provenance, in lineage and offline; tampering with a review that
//! does not stand is still named by example; the offline verifier refuses a
//! provenance line whose extra leaves are of the wrong kind or whose roles
//! do not add up.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{fixture, SPEC};
use cts_dataset::derive::{Provenance, ReviewRole};
use cts_dataset::lineage::example_lineage;
use cts_dataset::verify::{check_against_store, trace_offline, verify_release, OfflineQuery};
use cts_dataset::DatasetError;
use sha2::{Digest, Sha256};

/// Every (provenance file, record) of a release, for the given exports.
fn records(out: &Path, exports: &[&str]) -> Vec<(PathBuf, Provenance)> {
    let mut all = Vec::new();
    for export in exports {
        for split in ["train", "validation", "test"] {
            let p = out.join(format!("provenance/{export}/{split}.jsonl"));
            if !p.exists() {
                continue;
            }
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                all.push((p.clone(), serde_json::from_str(line).unwrap()));
            }
        }
    }
    all
}

fn roles(p: &Provenance) -> Vec<ReviewRole> {
    p.reviews.iter().map(|r| r.role.unwrap()).collect()
}

fn reviewers(p: &Provenance) -> BTreeSet<String> {
    p.reviews.iter().map(|r| r.reviewer.clone()).collect()
}

#[tokio::test]
async fn agreed_and_adjudicated_examples_name_every_qualifying_review() {
    let f = fixture().await;
    let out = f.path("release");
    f.build(SPEC, &out, None, true).await.unwrap();
    let (agreed, disputed) = (&f.traces[0], &f.traces[5]);
    let adjudication = cts_store::review::adjudications_of(&f.store, disputed)
        .await
        .unwrap()
        .remove(0);

    let mut seen = BTreeSet::new();
    for (file, p) in records(&out, &["sft", "dpo", "dpo-flat", "kto", "prm", "prm-rich"]) {
        if p.basis.starts_with("ranked:") {
            // A pair of samples: each trace with every review that qualified it.
            assert_eq!(p.traces.len(), 2);
            assert_eq!(p.reviews.len(), 4, "{file:?}: {p:?}");
            continue;
        }
        // Every trace of the fixture has two reviews, by two clinicians.
        assert_eq!(reviewers(&p).len(), 2, "both clinicians: {file:?}");
        let export = file.parent().unwrap().file_name().unwrap().to_owned();
        match p.basis.as_str() {
            "agreed" => {
                assert_eq!(
                    roles(&p),
                    [ReviewRole::Standing, ReviewRole::Agreeing],
                    "{file:?}"
                );
                assert!(p.adjudications.is_empty());
            }
            "adjudicated" => {
                assert_eq!(p.traces[0].id, *disputed);
                assert_eq!(
                    roles(&p),
                    [ReviewRole::Standing, ReviewRole::Considered],
                    "{file:?}"
                );
                assert_eq!(p.adjudications.len(), 1);
                assert_eq!(p.adjudications[0].chosen, p.reviews[0].id);
                assert_eq!(p.adjudications[0].leaf, adjudication.leaf);
                assert_eq!(p.adjudications[0].adjudicator, f.adjudicator.pseudonym);
            }
            other => panic!("unexpected basis {other}"),
        }
        seen.insert((p.basis.clone(), export.to_string_lossy().into_owned()));
    }
    for export in ["sft", "dpo", "kto", "prm"] {
        assert!(
            seen.contains(&("agreed".to_owned(), export.to_owned())),
            "{export}: no agreed example ({seen:?})"
        );
    }
    // The disputed trace's chain is not edited: no corrected-vs-original pair.
    for export in ["sft", "kto", "prm"] {
        assert!(
            seen.contains(&("adjudicated".to_owned(), export.to_owned())),
            "{export}: no adjudicated example ({seen:?})"
        );
    }
    // The offline check covers every named leaf.
    verify_release(&out, &f.verifier).unwrap();

    // Lineage from the store, and offline from the release alone.
    f.store.ledger().checkpoint(f.signer.clone()).await.unwrap();
    for (trace, other_role) in [
        (agreed, ReviewRole::Agreeing),
        (disputed, ReviewRole::Considered),
    ] {
        let (_, p) = records(&out, &["sft"])
            .into_iter()
            .find(|(_, p)| p.traces[0].id == *trace)
            .unwrap();
        let l = example_lineage(&f.store, &f.verifier, &p.id).await.unwrap();
        let got: Vec<_> = l.reviews.iter().map(|r| r.role).collect();
        assert_eq!(got, [Some(ReviewRole::Standing), Some(other_role)]);
        let names: BTreeSet<_> = l.reviews.iter().map(|r| r.reviewer.clone()).collect();
        assert_eq!(names, reviewers(&p));
        for r in &l.reviews {
            assert!(r.reviewer.starts_with("R-"), "by pseudonym: {}", r.reviewer);
            assert_eq!(r.labels.len(), 3, "the reviewer's step labels");
            assert!(!r.rationale.is_empty());
            assert!(r.evidence.included, "{:?}", r.evidence);
        }
        let adjudications = &l.traces[0].adjudications;
        if trace == disputed {
            assert_eq!(l.reviews[0].adjudication, Some(adjudication.leaf));
            assert!(adjudications.len() == 1 && adjudications[0].qualified);
            assert_eq!(adjudications[0].decision.rationale, adjudication.rationale);
        } else {
            assert!(adjudications.is_empty());
        }

        let (_, offline) = trace_offline(&out, &f.verifier, OfflineQuery::Example(&p.id)).unwrap();
        let ex = &offline[0];
        assert_eq!(ex.reviews.len(), 2);
        assert_eq!(ex.reviews[0].role, Some(ReviewRole::Standing));
        assert_eq!(ex.reviews[1].role, Some(other_role));
        let actors: BTreeSet<_> = ex.reviews.iter().map(|r| r.event.actor.clone()).collect();
        let expected: BTreeSet<_> = reviewers(&p).iter().map(|r| format!("user:{r}")).collect();
        assert_eq!(actors, expected);
        for r in &ex.reviews {
            assert_eq!(r.event.kind, "review.submitted");
            assert_eq!(r.event.body["labels"].as_array().unwrap().len(), 3);
        }
        assert_eq!(ex.adjudications.len(), usize::from(trace == disputed));
    }
}

#[tokio::test]
async fn tampering_a_review_that_does_not_stand_is_named_by_example() {
    let f = fixture().await;
    let out = f.path("release");
    f.build(SPEC, &out, None, true).await.unwrap();
    let (_, p) = records(&out, &["sft"])
        .into_iter()
        .find(|(_, p)| p.traces[0].id == f.traces[0])
        .unwrap();
    let agreeing = &p.reviews[1];
    assert_eq!(agreeing.role, Some(ReviewRole::Agreeing));
    let stored = cts_store::review::review_by_id(&f.store, &agreeing.id)
        .await
        .unwrap();
    let mut body = stored.body.clone();
    body.steps[0].label = Some(-1);
    sqlx::query("UPDATE content SET bytes = ? WHERE commitment = ?")
        .bind(serde_json::to_vec(&body).unwrap())
        .bind(hex::decode(&agreeing.commitment).unwrap())
        .execute(f.store.db())
        .await
        .unwrap();
    let mismatches = check_against_store(&f.store, f.signer.clone(), &f.verifier, &out)
        .await
        .unwrap();
    let named = mismatches
        .iter()
        .find(|m| m.example == p.id)
        .unwrap_or_else(|| panic!("{} is not named: {mismatches:?}", p.id));
    assert!(named.reason.contains("commitment"), "{named:?}");
    // The release itself is intact; a new build refuses the altered review.
    verify_release(&out, &f.verifier).unwrap();
    let err = f
        .build(SPEC, &f.path("after"), None, false)
        .await
        .unwrap_err();
    assert!(matches!(err, DatasetError::Tampered(_)), "{err}");
}

/// A copy of the release whose first provenance line of `export` with
/// basis `basis` is changed by `edit`, with the manifest's digest of that
/// file updated to match and the release proof dropped: only the checks of
/// each named leaf stand between the forgery and a passing verification.
/// Returns the copy and the edited example's id.
fn forged(
    out: &Path,
    to: &Path,
    export: &str,
    basis: &str,
    edit: impl FnOnce(&mut Provenance),
) -> (PathBuf, String) {
    copy_dir(out, to);
    let (file, p) = records(to, &[export])
        .into_iter()
        .find(|(_, p)| p.basis == basis)
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let old_sha = hex::encode(Sha256::digest(text.as_bytes()));
    let mut changed = p.clone();
    edit(&mut changed);
    let new_text: String = text
        .lines()
        .map(|l| {
            let r: Provenance = serde_json::from_str(l).unwrap();
            let r = if r.id == p.id { changed.clone() } else { r };
            serde_json::to_string(&r).unwrap() + "\n"
        })
        .collect();
    std::fs::write(&file, &new_text).unwrap();
    let new_sha = hex::encode(Sha256::digest(new_text.as_bytes()));
    let manifest = std::fs::read_to_string(to.join("manifest.json")).unwrap();
    assert!(manifest.contains(&old_sha));
    std::fs::write(
        to.join("manifest.json"),
        manifest.replace(&old_sha, &new_sha),
    )
    .unwrap();
    std::fs::remove_file(to.join("release.tlog-proof")).unwrap();
    (to.to_owned(), p.id)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

fn refused(dir: &Path, verifier: &cts_ledger::LogVerifier, id: &str) -> String {
    match verify_release(dir, verifier) {
        Err(DatasetError::Provenance {
            example, reason, ..
        }) => {
            assert_eq!(example, id);
            reason
        }
        other => panic!("expected example {id} to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn the_offline_verifier_refuses_forged_review_and_adjudication_leaves() {
    let f = fixture().await;
    let out = f.path("release");
    f.build(SPEC, &out, None, true).await.unwrap();
    verify_release(&out, &f.verifier).unwrap();

    // The agreeing review's leaf points at another event of the evidence (the trace's).
    let (dir, id) = forged(&out, &f.path("kind"), "sft", "agreed", |p| {
        p.reviews[1].leaf = p.traces[0].leaf;
    });
    let reason = refused(&dir, &f.verifier, &id);
    assert!(
        reason.contains("trace.generated event, not review.submitted"),
        "{reason}"
    );

    // The agreeing review keeps its leaf but claims other content.
    let (dir, id) = forged(&out, &f.path("content"), "kto", "agreed", |p| {
        p.reviews[1].commitment = p.reviews[0].commitment.clone();
    });
    let reason = refused(&dir, &f.verifier, &id);
    assert!(
        reason.contains("does not commit to the content"),
        "{reason}"
    );

    // The adjudication's leaf points at a review event.
    let (dir, id) = forged(&out, &f.path("adjudication"), "prm", "adjudicated", |p| {
        p.adjudications[0].leaf = p.reviews[1].leaf;
    });
    let reason = refused(&dir, &f.verifier, &id);
    assert!(
        reason.contains("review.submitted event, not adjudication.decided"),
        "{reason}"
    );

    // Roles that do not add up: the overruled review claims to stand too …
    let (dir, id) = forged(&out, &f.path("two-standing"), "sft", "adjudicated", |p| {
        p.reviews[1].role = Some(ReviewRole::Standing);
    });
    let reason = refused(&dir, &f.verifier, &id);
    assert!(reason.contains("2 standing reviews"), "{reason}");

    // … or the adjudication that weighed it is left out.
    let (dir, id) = forged(
        &out,
        &f.path("no-adjudication"),
        "sft",
        "adjudicated",
        |p| {
            p.adjudications.clear();
        },
    );
    let reason = refused(&dir, &f.verifier, &id);
    assert!(reason.contains("no adjudication"), "{reason}");
}
