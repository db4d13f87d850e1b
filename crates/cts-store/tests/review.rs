//! Review queue rules on the real SQLite file: leases lapse and return to
//! the queue, k limits reviewers, specialties route, submits are checked
//! against leases, and every review is a verifiable ledger event.

use cts_review::Rubric;
use cts_store::review::{self, ReviewConfig};
use cts_store::traces::NewTrace;
use cts_store::users::{self, Role, User};
use cts_store::{seed, Store};

async fn setup(
    lease_seconds: i64,
    k: u32,
) -> (tempfile::TempDir, Store, ReviewConfig, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let cases = seed::import_synthetic_cases(&store, "test", 3)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for case in &cases {
        let id = format!("{}@v1/run/s0", case.id.as_str());
        let doc = cts_trace::TraceDocument::synthetic(&id, Vec::new(), &["one", "two"], Some("A"));
        cts_store::traces::record_trace(
            &store,
            NewTrace {
                id: id.clone(),
                case_id: case.id.as_str().into(),
                case_version: 1,
                sample: 0,
                run_key: "run".into(),
                model: serde_json::json!({}),
                params: serde_json::json!({}),
                template: "t".into(),
                answer_choice: None,
                steps: 2,
                prompt_tokens: 0,
                completion_tokens: 0,
                prompt_ms: 0.0,
                generation_ms: 0.0,
                document: doc.to_json().unwrap(),
            },
            "test",
        )
        .await
        .unwrap();
        ids.push(id);
    }
    let cfg = seed::medication_safety_review(&store, "test", k, lease_seconds)
        .await
        .unwrap();
    assert_eq!(review::sync_queue(&store, &cfg).await.unwrap(), 3);
    assert_eq!(
        review::sync_queue(&store, &cfg).await.unwrap(),
        0,
        "queueing is idempotent"
    );
    (dir, store, cfg, ids)
}

/// `setup`, then two clinicians with no specialty: ann and ben.
async fn setup_with_two_reviewers(
    lease_seconds: i64,
    k: u32,
) -> (
    tempfile::TempDir,
    Store,
    ReviewConfig,
    Vec<String>,
    User,
    User,
) {
    let (dir, store, cfg, ids) = setup(lease_seconds, k).await;
    let ann = user(&store, "ann", &[]).await;
    let ben = user(&store, "ben", &[]).await;
    (dir, store, cfg, ids, ann, ben)
}

async fn user(store: &Store, name: &str, specialties: &[&str]) -> User {
    let s: Vec<String> = specialties.iter().map(|s| s.to_string()).collect();
    users::add_user(store, "test", name, "a long password", Role::Clinician, &s)
        .await
        .unwrap()
}

fn complete(cfg: &ReviewConfig, label: i8) -> cts_review::ReviewBody {
    let mut b = cts_review::ReviewBody::draft_for(&cfg.rubric, &["one".into(), "two".into()]);
    for s in &mut b.steps {
        s.label = Some(label);
    }
    for d in &cfg.rubric.dimensions {
        b.ratings.insert(d.id.clone(), 3);
    }
    b.rationale = "rationale long enough for the rubric".into();
    b
}

#[tokio::test]
async fn lapsed_leases_return_to_the_queue_and_k_limits_reviewers() {
    let (_dir, store, cfg, ids, a, b) = setup_with_two_reviewers(0, 1).await;
    // A lease of 0 seconds lapses at once: b can take the same trace.
    let first = review::claim_next(&store, &a, &cfg).await.unwrap().unwrap();
    assert_eq!(first, ids[0]);
    let second = review::claim_next(&store, &b, &cfg).await.unwrap().unwrap();
    assert_eq!(
        second, ids[0],
        "the lapsed lease returned the trace to the queue"
    );
    // a's lapsed lease no longer lets a save a draft.
    let err = review::save_draft(&store, &a, &ids[0], &complete(&cfg, 1), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, cts_store::StoreError::Denied { .. }), "{err}");

    let (_dir, store, cfg, ids, a, b) = setup_with_two_reviewers(3600, 1).await;
    assert_eq!(
        review::claim_next(&store, &a, &cfg).await.unwrap().unwrap(),
        ids[0]
    );
    // Asking again returns the trace a already holds, not a new one.
    assert_eq!(
        review::claim_next(&store, &a, &cfg).await.unwrap().unwrap(),
        ids[0]
    );
    // k = 1: b gets the next trace.
    assert_eq!(
        review::claim_next(&store, &b, &cfg).await.unwrap().unwrap(),
        ids[1]
    );
    review::submit(&store, &cfg, &a, &ids[0], complete(&cfg, 1), 0)
        .await
        .unwrap();
    let entry = review::queue_entry(&store, &ids[0]).await.unwrap().unwrap();
    assert_eq!((entry.state.as_str(), entry.submitted), ("complete", 1));
    // Releasing a lease frees the place.
    review::release(&store, &b, &ids[1]).await.unwrap();
    let c = user(&store, "cat", &[]).await;
    assert_eq!(
        review::claim_next(&store, &c, &cfg).await.unwrap().unwrap(),
        ids[1]
    );
    let p = review::progress(&store, &a).await.unwrap();
    assert_eq!((p.done, p.in_hand), (1, 0));
}

#[tokio::test]
async fn specialties_route_traces() {
    let (_dir, store, cfg, ids) = setup(3600, 2).await;
    let entry = review::queue_entry(&store, &ids[2]).await.unwrap().unwrap();
    let other = user(&store, "elsewhere", &["no-such-specialty"]).await;
    assert_eq!(
        review::claim_next(&store, &other, &cfg).await.unwrap(),
        None
    );
    let fitting = user(&store, "fits", &[entry.specialty.as_str()]).await;
    let got = review::claim_next(&store, &fitting, &cfg)
        .await
        .unwrap()
        .unwrap();
    let got_entry = review::queue_entry(&store, &got).await.unwrap().unwrap();
    assert_eq!(got_entry.specialty, entry.specialty);
}

#[tokio::test]
async fn rubric_versions_are_immutable_and_reviews_verify() {
    let (_dir, store, cfg, ids) = setup(3600, 2).await;
    let changed = cfg
        .rubric_source
        .replace("title = \"Medication safety\"", "title = \"Changed\"");
    let parsed = Rubric::parse(&changed, "changed.toml").unwrap();
    assert_eq!(parsed.key(), cfg.rubric.key());
    let err = review::register_rubric(&store, "test", &parsed, &changed)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    // Same text again: a no-op returning the same leaf.
    let a = review::register_rubric(&store, "test", &cfg.rubric, &cfg.rubric_source)
        .await
        .unwrap();
    let b = review::register_rubric(&store, "test", &cfg.rubric, &cfg.rubric_source)
        .await
        .unwrap();
    assert_eq!(a, b);

    let x = user(&store, "xavi", &[]).await;
    review::claim_next(&store, &x, &cfg).await.unwrap();
    let mut body = complete(&cfg, 1);
    body.steps[0].text = "one, corrected".into();
    body.steps[0].edit_rationale = Some("clarified".into());
    let done = review::submit(&store, &cfg, &x, &ids[0], body, 0)
        .await
        .unwrap();
    assert_eq!(done.edit_leaves.len(), 1);
    let entry = cts_ledger::Event::decode(
        &store
            .ledger()
            .entry(cts_ledger::LeafIndex(done.edit_leaves[0]))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(entry.kind.as_str(), "step.edited");
    assert_eq!(entry.actor, x.actor());
    let (skey, vkey) = cts_ledger::LogSigner::generate("cts.test/review").unwrap();
    store
        .ledger()
        .checkpoint(std::sync::Arc::new(
            cts_ledger::LogSigner::from_private_key(&skey).unwrap(),
        ))
        .await
        .unwrap();
    let report = store
        .ledger()
        .audit(&cts_ledger::LogVerifier::new(&vkey).unwrap(), &|_| {})
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(report.content_checked >= 3);
    // The tables the review wrote (review, edit leaves, assignment, queue
    // count, account, rubric) are exactly what the log says.
    let projection = cts_store::projection::check(store.path(), &|_| {}).unwrap();
    assert!(projection.ok(), "{:?}", projection.failures);
    assert_eq!(projection.rows["reviews"], 1);
    assert_eq!(projection.rows["assignments"], 1);
}

#[tokio::test]
async fn erasing_a_review_erases_its_working_copy() {
    let (_dir, store, cfg, ids) = setup(3600, 2).await;
    let x = user(&store, "xena", &[]).await;
    review::claim_next(&store, &x, &cfg).await.unwrap();
    let mut body = complete(&cfg, 1);
    body.rationale = "a rationale the clinician asked to erase".into();
    review::submit(&store, &cfg, &x, &ids[0], body, 0)
        .await
        .unwrap();
    let (id, commitment): (String, Vec<u8>) =
        sqlx::query_as("SELECT id, commitment FROM reviews WHERE trace_id = ?")
            .bind(&ids[0])
            .fetch_one(store.db())
            .await
            .unwrap();
    let commitment = cts_ledger::Commitment(commitment.try_into().unwrap());
    store
        .ledger()
        .redact(commitment, "test", "clinician request")
        .await
        .unwrap();
    let stored: String = sqlx::query_scalar("SELECT body FROM reviews WHERE id = ?")
        .bind(&id)
        .fetch_one(store.db())
        .await
        .unwrap();
    assert!(!stored.contains("erase"), "{stored}");
    // What is left still reads as a review body (the queue and revisions
    // read it), with the rubric it was made with and nothing else.
    let left: cts_review::ReviewBody = serde_json::from_str(&stored).unwrap();
    assert_eq!(left.rubric, cfg.rubric.key());
    assert!(left.steps.is_empty() && left.rationale.is_empty());
    // The erased review still agrees with the log (its body as erased), and
    // the erasure event is matched by erased content.
    let projection = cts_store::projection::check(store.path(), &|_| {}).unwrap();
    assert!(projection.ok(), "{:?}", projection.failures);
}

/// Failures of the projection check whose place is the queue row of `trace`.
fn queue_failures(store: &Store, trace: &str) -> Vec<String> {
    let report = cts_store::projection::check(store.path(), &|_| {}).unwrap();
    report
        .failures
        .iter()
        .filter(|f| f.place == format!("review_queue {trace:?}"))
        .map(|f| f.problem.clone())
        .collect()
}

#[tokio::test]
async fn queue_state_is_a_projection_of_a_disagreeing_double_review_and_its_adjudication() {
    let (_dir, store, cfg, ids, a, b) = setup_with_two_reviewers(3600, 2).await;
    let j = user(&store, "jo", &[]).await;
    for u in [&a, &b] {
        assert_eq!(
            review::claim_next(&store, u, &cfg).await.unwrap().unwrap(),
            ids[0]
        );
    }
    let first = review::submit(&store, &cfg, &a, &ids[0], complete(&cfg, 1), 0)
        .await
        .unwrap();
    let entry = review::queue_entry(&store, &ids[0]).await.unwrap().unwrap();
    assert_eq!((entry.state.as_str(), entry.submitted), ("open", 1));
    // Opposite labels on every step: the two reviews disagree.
    let second = review::submit(&store, &cfg, &b, &ids[0], complete(&cfg, -1), 0)
        .await
        .unwrap();
    let entry = review::queue_entry(&store, &ids[0]).await.unwrap().unwrap();
    assert_eq!(entry.state, "adjudication");
    let reasons = entry.reasons.unwrap();
    assert_eq!(
        (reasons["a"].as_str(), reasons["b"].as_str()),
        (Some(first.id.as_str()), Some(second.id.as_str()))
    );
    // The event commits the outcome the row holds.
    let event = cts_ledger::Event::decode(
        &store
            .ledger()
            .entry(cts_ledger::LeafIndex(second.leaf))
            .await
            .unwrap(),
    )
    .unwrap();
    let body: review::ReviewSubmitted = serde_json::from_value(event.body).unwrap();
    let outcome = body.queue.unwrap();
    assert_eq!(
        (outcome.state, outcome.required, outcome.submitted),
        (review::QueueState::Adjudication, 2, 2)
    );
    assert_eq!(outcome.policy, cfg.policy);
    let report = cts_store::projection::check(store.path(), &|_| {}).unwrap();
    assert!(report.ok(), "{:?}", report.failures);

    review::adjudicate(
        &store,
        &j,
        &ids[0],
        &first.id,
        "the first review reads the chart correctly",
    )
    .await
    .unwrap();
    let entry = review::queue_entry(&store, &ids[0]).await.unwrap().unwrap();
    assert_eq!(entry.state, "adjudicated");
    let report = cts_store::projection::check(store.path(), &|_| {}).unwrap();
    assert!(report.ok(), "{:?}", report.failures);

    // Reopening the decided trace in the database is named.
    sqlx::query("UPDATE review_queue SET state = 'adjudication' WHERE trace_id = ?")
        .bind(&ids[0])
        .execute(store.db())
        .await
        .unwrap();
    let found = queue_failures(&store, &ids[0]);
    assert!(
        found.iter().any(|f| f.contains("column state")),
        "{found:?}"
    );
}

#[tokio::test]
async fn a_committed_queue_outcome_that_its_reviews_contradict_is_named() {
    let (_dir, store, cfg, ids, a, b) = setup_with_two_reviewers(3600, 2).await;
    for u in [&a, &b] {
        review::claim_next(&store, u, &cfg).await.unwrap();
    }
    let first = review::submit(&store, &cfg, &a, &ids[0], complete(&cfg, 1), 0)
        .await
        .unwrap();
    // A writer that computed the outcome wrongly: the reviews disagree, the
    // event says complete.
    let body = complete(&cfg, -1);
    let id = format!("{}#{}#v1", ids[0], b.pseudonym);
    let wrong = review::QueueOutcome {
        policy: cfg.policy,
        required: 2,
        submitted: 2,
        state: review::QueueState::Complete,
        reasons: None,
    };
    let (_, _, rubric_leaf) = review::rubric(&store, &cfg.rubric.key()).await.unwrap();
    let summary = review::ReviewSubmitted::new(
        id.clone(),
        ids[0].clone(),
        1,
        None,
        (cfg.rubric.key(), rubric_leaf),
        &body,
        wrong,
    );
    store
        .ledger()
        .append(
            cts_ledger::EventDraft::new(
                cts_ledger::EventKind::new(review::REVIEW_SUBMITTED).unwrap(),
                b.actor(),
            )
            .subject(format!("review:{id}"))
            .subject(format!("trace:{}", ids[0]))
            .body(serde_json::to_value(&summary).unwrap())
            .attach("review", serde_json::to_vec(&body).unwrap()),
        )
        .await
        .unwrap();
    let report = cts_store::projection::check(store.path(), &|_| {}).unwrap();
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.problem.contains("commits queue state complete")
                && f.problem.contains("make it adjudication")),
        "{:?} (first review {})",
        report.failures,
        first.id
    );
}
