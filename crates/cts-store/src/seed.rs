//! Synthetic reviewed stores for tests and benchmarks: cases, traces and
//! submitted reviews written through the real ledger, every row a
//! projection of its event.
//!
//! Not here: the benchmarks themselves (`cts-bench`).

use crate::review::ReviewConfig;
use crate::StoreError;

/// Imports the first `n` built-in synthetic cases as `actor`; returns them.
pub async fn import_synthetic_cases(
    store: &crate::Store,
    actor: &str,
    n: usize,
) -> Result<Vec<cts_cases::Case>, StoreError> {
    let cases: Vec<_> = cts_cases::synthetic::quickstart_cases()
        .into_iter()
        .take(n)
        .map(|c| (c, Vec::new()))
        .collect();
    crate::cases::import_cases(store, cases.clone(), actor, "synthetic", false).await?;
    Ok(cases.into_iter().map(|(c, _)| c).collect())
}

/// Registers the built-in medication-safety rubric as `actor`; returns a
/// review set-up that queues traces under it, with the default
/// disagreement policy.
pub async fn medication_safety_review(
    store: &crate::Store,
    actor: &str,
    reviewers_per_trace: u32,
    lease_seconds: i64,
) -> Result<ReviewConfig, StoreError> {
    let cfg = ReviewConfig {
        rubric: cts_review::Rubric::default_medication_safety(),
        rubric_source: cts_review::rubric::DEFAULT_MEDICATION_SAFETY.into(),
        reviewers_per_trace,
        lease_seconds,
        policy: Default::default(),
    };
    crate::review::register_rubric(store, actor, &cfg.rubric, &cfg.rubric_source).await?;
    Ok(cfg)
}

/// What [`seed_reviews`] made.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SeedReport {
    /// Traces recorded (each a `trace.generated` event).
    pub traces: u64,
    /// Reviews submitted (each a `review.submitted` event).
    pub reviews: u64,
    /// Reviewer accounts used.
    pub reviewers: usize,
    /// Log size afterwards.
    pub log_size: u64,
}

/// Fills a store for the workbench and dataset benchmarks: `cases` synthetic
/// cases (copies of the built-in set under new ids; 0 means the built-in 20
/// as they are), `traces` traces spread over them, and `per_trace` submitted reviews of each by
/// distinct clinicians, through the real ledger (every trace and review is
/// an event with its content, committed with its rows). Each trace's queue
/// state is what the default disagreement policy makes of its reviews
/// (complete, or adjudication where two disagree), committed in the last
/// review's event as the workbench does. `progress` is called with traces
/// done.
pub async fn seed_reviews(
    store: &crate::Store,
    rubric: &cts_review::Rubric,
    cases: usize,
    traces: u64,
    per_trace: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SeedReport, StoreError> {
    use cts_ledger::{EventDraft, EventKind, Salt};
    use cts_trace::chat::{ChatMessage, Role as ChatRole};
    use cts_trace::TraceDocument;

    let builtin = cts_cases::synthetic::quickstart_cases();
    let cases: Vec<(cts_cases::Case, Vec<String>)> = if cases == 0 {
        builtin.into_iter().map(|c| (c, Vec::new())).collect()
    } else {
        (0..cases)
            .map(|i| {
                let mut c = builtin[i % builtin.len()].clone();
                c.id = cts_cases::CaseId(format!("{}-b{i}", c.id.as_str()));
                (c, Vec::new())
            })
            .collect()
    };
    crate::cases::import_cases(store, cases.clone(), "bench:seed", "synthetic", false).await?;
    let mut reviewers = Vec::new();
    for i in 0..per_trace.max(2) * 5 {
        let name = format!("bench-clinician-{i}");
        let user = match crate::users::user_by_name(store, &name).await? {
            Some(u) => u,
            None => {
                crate::users::add_user(
                    store,
                    "bench:seed",
                    &name,
                    "quartz lantern violet tractor 0123",
                    crate::users::Role::Clinician,
                    &[],
                )
                .await?
            }
        };
        reviewers.push(user);
    }
    let rubric_leaf = crate::review::register_rubric(
        store,
        "bench:seed",
        rubric,
        cts_review::rubric::DEFAULT_MEDICATION_SAFETY,
    )
    .await?;
    let policy = cts_review::disagreement::Policy::default();
    let steps: Vec<String> = vec![
        "The patient is anticoagulated with warfarin.".into(),
        "Adding an NSAID raises the bleeding risk.".into(),
        "Paracetamol is the safer analgesic at standard doses.".into(),
        "Check the INR if any interacting drug is started.".into(),
    ];
    let mut done = 0u64;
    let chunk = 500u64;
    while done < traces {
        let n = chunk.min(traces - done);
        let mut events = Vec::new();
        let mut rows = Vec::new();
        for t in done..done + n {
            let (case, _) = &cases[(t as usize) % cases.len()];
            let trace_id = format!("{}@v1/bench/s{t}", case.id.as_str());
            // Samples of a case differ in their last step.
            let mut steps = steps.clone();
            if let Some(last) = steps.last_mut() {
                last.push_str(&format!(" (sample {})", t as usize / cases.len()));
            }
            let mut doc = TraceDocument::synthetic(
                &trace_id,
                vec![
                    ChatMessage::new(ChatRole::System, "You are a careful clinician answering questions about clinical cases. Reason step by step. (synthetic benchmark)"),
                    ChatMessage::new(ChatRole::User, format!("Clinical case:\n{}\n\nWork through the case in numbered steps, then end with: Final answer: <letter>", case.question)),
                ],
                &steps,
                Some("B"),
            );
            doc.usage.prompt_ms = 1.0;
            doc.usage.generation_ms = 1.0;
            let ev = EventDraft::new(EventKind::new("trace.generated")?, "bench:seed")
                .subject(format!("trace:{trace_id}"))
                .subject(format!("case:{}", case.id.as_str()))
                // Everything the trace row holds, so the row is a projection of the event.
                .body(serde_json::json!({
                    "case_version": 1, "sample": 0, "run_key": "bench", "model": { "name": "bench" },
                    "params": {}, "template": "cts-stepwise@1", "steps": steps.len(),
                    "answer_choice": "B", "prompt_tokens": 1, "completion_tokens": 1,
                }))
                .attach("trace", doc.to_json().unwrap_or_default())
                .prepare(Salt::random)?;
            let commitment = ev.event.content["trace"].0;
            let created = ev.event.time.clone();
            events.push(ev);
            let mut reviews = Vec::new();
            let mut bodies: Vec<(String, cts_review::ReviewBody)> = Vec::new();
            for k in 0..per_trace {
                let user = &reviewers[(t as usize + k) % reviewers.len()];
                let mut body = cts_review::ReviewBody::draft_for(rubric, &steps);
                for (i, s) in body.steps.iter_mut().enumerate() {
                    s.label = Some(if (t as usize + i + k).is_multiple_of(7) {
                        0
                    } else {
                        1
                    });
                }
                for d in &rubric.dimensions {
                    body.ratings
                        .insert(d.id.clone(), 3 + ((t as usize + k) % 3) as u8);
                }
                body.rationale = "Benchmark review: reasoning is sound and safe.".into();
                let review_id = format!("{trace_id}#{}#v1", user.pseudonym);
                let json = serde_json::to_vec(&body).unwrap_or_default();
                bodies.push((review_id.clone(), body.clone()));
                let latest: Vec<(&str, &cts_review::ReviewBody)> =
                    bodies.iter().map(|(id, b)| (id.as_str(), b)).collect();
                // The queue's outcome is what the workbench would commit.
                let outcome = crate::review::QueueOutcome::compute(
                    policy,
                    per_trace as i64,
                    k as i64 + 1,
                    &latest,
                    steps.len(),
                );
                let summary = crate::review::ReviewSubmitted::new(
                    review_id.clone(),
                    trace_id.clone(),
                    1,
                    None,
                    (rubric.key(), rubric_leaf),
                    &body,
                    outcome,
                );
                let summary =
                    serde_json::to_value(&summary).map_err(|source| StoreError::Encode {
                        what: "review summary",
                        source,
                    })?;
                let ev = EventDraft::new(
                    EventKind::new(crate::review::REVIEW_SUBMITTED)?,
                    user.actor(),
                )
                .subject(format!("review:{review_id}"))
                .subject(format!("trace:{trace_id}"))
                .body(summary)
                .attach("review", json.clone())
                .prepare(Salt::random)?;
                let c = ev.event.content["review"].0;
                let at = ev.event.time.clone();
                events.push(ev);
                reviews.push((review_id, user.id, json, c, at));
            }
            let latest: Vec<(&str, &cts_review::ReviewBody)> =
                bodies.iter().map(|(id, b)| (id.as_str(), b)).collect();
            let outcome = crate::review::QueueOutcome::compute(
                policy,
                per_trace as i64,
                per_trace as i64,
                &latest,
                steps.len(),
            );
            rows.push((
                trace_id,
                case.id.as_str().to_owned(),
                case.specialty.clone(),
                commitment,
                created,
                reviews,
                if bodies.is_empty() {
                    ("open", None) // nothing reviewed it
                } else {
                    (outcome.state.as_str(), outcome.reasons_json())
                },
            ));
        }
        let rubric_key = rubric.key();
        let k = per_trace as i64;
        let hook: crate::AppendHook = Box::new(move |conn, leaves| {
            Box::pin(async move {
                let mut leaf = leaves.iter();
                for (
                    trace_id,
                    case_id,
                    specialty,
                    commitment,
                    created,
                    reviews,
                    (state, reasons),
                ) in &rows
                {
                    let tl = leaf.next().map(|l| l.0 as i64).unwrap_or(-1);
                    sqlx::query(
                        "INSERT INTO traces (id, case_id, case_version, sample, run_key, model, params, template, answer_choice,
                         steps, prompt_tokens, completion_tokens, prompt_ms, generation_ms, commitment, leaf, created)
                         VALUES (?, ?, 1, 0, 'bench', '{\"name\":\"bench\"}', '{}', 'cts-stepwise@1', 'B', 4, 1, 1, 1.0, 1.0, ?, ?, ?)",
                    )
                    .bind(trace_id)
                    .bind(case_id)
                    .bind(&commitment[..])
                    .bind(tl)
                    .bind(created)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO review_queue (trace_id, specialty, rubric, required, submitted, state, reasons, seq)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(trace_id)
                    .bind(specialty)
                    .bind(&rubric_key)
                    .bind(k)
                    .bind(reviews.len() as i64)
                    .bind(*state)
                    .bind(reasons)
                    .bind(tl)
                    .execute(&mut *conn)
                    .await?;
                    for (review_id, user_id, json, c, at) in reviews {
                        let rl = leaf.next().map(|l| l.0 as i64).unwrap_or(-1);
                        sqlx::query(
                            "INSERT INTO reviews (id, trace_id, user_id, version, rubric, body, commitment, leaf, edit_leaves, submitted)
                             VALUES (?, ?, ?, 1, ?, ?, ?, ?, '[]', ?)",
                        )
                        .bind(review_id)
                        .bind(trace_id)
                        .bind(user_id)
                        .bind(&rubric_key)
                        .bind(String::from_utf8_lossy(json).as_ref())
                        .bind(&c[..])
                        .bind(rl)
                        .bind(at)
                        .execute(&mut *conn)
                        .await?;
                        sqlx::query("INSERT INTO assignments (trace_id, user_id, leased_until, submitted) VALUES (?, ?, 0, 1)")
                            .bind(trace_id)
                            .bind(user_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(())
            })
        });
        store.ledger().append_prepared(events, Some(hook)).await?;
        done += n;
        progress(done);
    }
    Ok(SeedReport {
        traces,
        reviews: traces * per_trace as u64,
        reviewers: reviewers.len(),
        log_size: store.ledger().committed_size().0,
    })
}
