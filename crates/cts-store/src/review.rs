//! Clinician review in the store: rubrics, the queue with leases, drafts,
//! submitted review versions and adjudication.
//!
//! Blindness, leases and stale-state checks are enforced here, inside the
//! writer's transaction, so no caller can get them wrong: a submit is
//! refused (and nothing is written) when the draft changed since the
//! submitter loaded it, when the reviewer holds no assignment, or when a
//! lapsed lease was taken by someone else.

use cts_ledger::{EventDraft, EventKind, LeafIndex, PreparedEvent, Salt};
use cts_review::disagreement::{self, Policy};
use cts_review::review::StepChange;
use cts_review::{ReviewBody, Rubric};
use serde::{Deserialize, Serialize};
use sqlx::{Row, SqliteConnection};

use crate::users::User;
use crate::{AppendHook, Store, StoreError};

/// How reviewing is set up (from `cts.toml`).
#[derive(Clone, Debug)]
pub struct ReviewConfig {
    /// The rubric new queue entries use.
    pub rubric: Rubric,
    /// Its TOML text.
    pub rubric_source: String,
    /// Reviewers per trace (k).
    pub reviewers_per_trace: u32,
    /// How long a claim holds a trace, seconds.
    pub lease_seconds: i64,
    /// When reviews disagree enough for adjudication.
    pub policy: Policy,
}

/// The event kind of a submitted review version.
pub const REVIEW_SUBMITTED: &str = "review.submitted";

/// The event kind of an adjudicator's decision.
pub const ADJUDICATION_DECIDED: &str = "adjudication.decided";

/// Where a trace stands in the review queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueState {
    /// Waiting for reviewers.
    Open,
    /// Enough reviews, and they agree.
    Complete,
    /// Enough reviews, and two of them disagree.
    Adjudication,
    /// An adjudicator chose the standing review.
    Adjudicated,
}

impl QueueState {
    /// The name the `review_queue.state` column holds.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueState::Open => "open",
            QueueState::Complete => "complete",
            QueueState::Adjudication => "adjudication",
            QueueState::Adjudicated => "adjudicated",
        }
    }
}

/// The first disagreeing pair of current reviews and why they disagree
/// (`review_queue.reasons`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disagreement {
    /// The earlier review's id.
    pub a: String,
    /// The later review's id.
    pub b: String,
    /// Why they disagree.
    pub reasons: Vec<disagreement::Reason>,
}

/// What a submission did to its trace's place in the queue, committed in
/// the `review.submitted` event so that the queue row is a projection of
/// the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueOutcome {
    /// The disagreement policy applied (from `cts.toml` at the time).
    pub policy: Policy,
    /// Reviewers wanted (k).
    pub required: i64,
    /// Distinct reviewers who have submitted, this one included.
    pub submitted: i64,
    /// The state after the submission.
    pub state: QueueState,
    /// Why the trace needs adjudication, if it does.
    pub reasons: Option<Disagreement>,
}

impl QueueOutcome {
    /// The outcome the queue rule gives: `open` below `required` reviewers,
    /// then `adjudication` when any pair of the current reviews (the latest
    /// version of each reviewer, in submission order) disagrees under
    /// `policy`, else `complete`. Pure, so the projection check recomputes
    /// it from the log.
    pub fn compute(
        policy: Policy,
        required: i64,
        submitted: i64,
        latest: &[(&str, &ReviewBody)],
        n_original: usize,
    ) -> QueueOutcome {
        let (state, reasons) = if submitted < required {
            (QueueState::Open, None)
        } else {
            let bodies: Vec<&ReviewBody> = latest.iter().map(|(_, b)| *b).collect();
            match disagreement::needs_adjudication(&bodies, n_original, &policy) {
                Some((i, j, reasons)) => (
                    QueueState::Adjudication,
                    Some(Disagreement {
                        a: latest[i].0.to_owned(),
                        b: latest[j].0.to_owned(),
                        reasons,
                    }),
                ),
                None => (QueueState::Complete, None),
            }
        };
        QueueOutcome {
            policy,
            required,
            submitted,
            state,
            reasons,
        }
    }

    /// The `reasons` column's text (`None`: NULL).
    pub fn reasons_json(&self) -> Option<String> {
        self.reasons
            .as_ref()
            .and_then(|r| serde_json::to_string(r).ok())
    }
}

/// Body of a `step.edited` event (content `edit`: a [`StepEdit`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEdited {
    /// The review the edit belongs to.
    pub review: String,
    /// The step's place in the reviewed chain (None for a deletion).
    pub step: Option<usize>,
    /// The step's place in the model's chain (None for an added step).
    pub origin: Option<usize>,
    /// `edited`, `added` or `deleted`.
    pub change: String,
}

/// Content `edit` of a `step.edited` event: what the clinician changed and
/// why. Fields in alphabetical order, as the committed bytes have them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEdit {
    /// The model's text of the step (None for an added step).
    pub original: Option<String>,
    /// The clinician's rationale.
    pub rationale: Option<String>,
    /// The clinician's text (None for a deletion).
    pub text: Option<String>,
}

/// Body of a `review.submitted` event (content `review`: the review body).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewSubmitted {
    /// `<trace>#<pseudonym>#v<version>`.
    pub review: String,
    /// Trace id.
    pub trace: String,
    /// Version (1 = first submission).
    pub version: i64,
    /// The version this one replaces.
    #[serde(default)]
    pub supersedes: Option<String>,
    /// Rubric key.
    pub rubric: String,
    /// Leaf of the rubric's `rubric.registered` event.
    #[serde(default)]
    pub rubric_leaf: Option<u64>,
    /// Each step's label.
    #[serde(default)]
    pub labels: Vec<Option<i8>>,
    /// Each step's original index (`None`: added by the reviewer).
    #[serde(default)]
    pub origins: Vec<Option<usize>>,
    /// Each step's flags.
    #[serde(default)]
    pub flags: Vec<Vec<String>>,
    /// Original indices of deleted steps.
    #[serde(default)]
    pub deleted: Vec<usize>,
    /// Trace ratings by dimension.
    #[serde(default)]
    pub ratings: std::collections::BTreeMap<String, u8>,
    /// The queue's outcome. Absent from events written before it was
    /// committed; the projection check then leaves the queue state unchecked
    /// until the trace's next submission or adjudication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueOutcome>,
}

impl ReviewSubmitted {
    /// The summary of `body` as its event records it.
    pub fn new(
        review: String,
        trace: String,
        version: i64,
        supersedes: Option<String>,
        rubric: (String, u64),
        body: &ReviewBody,
        queue: QueueOutcome,
    ) -> ReviewSubmitted {
        ReviewSubmitted {
            review,
            trace,
            version,
            supersedes,
            rubric: rubric.0,
            rubric_leaf: Some(rubric.1),
            labels: body.steps.iter().map(|s| s.label).collect(),
            origins: body.steps.iter().map(|s| s.origin).collect(),
            flags: body.steps.iter().map(|s| s.flags.clone()).collect(),
            deleted: body.deleted.iter().map(|d| d.origin).collect(),
            ratings: body.ratings.clone(),
            queue: Some(queue),
        }
    }
}

/// Body of an `adjudication.decided` event (content `decision`: the
/// rationale). It moves the trace's queue state to `adjudicated`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjudicationDecided {
    /// Trace id.
    pub trace: String,
    /// Decision version for the trace (1 = first).
    pub version: i64,
    /// The review that stands.
    pub chosen: String,
    /// Every current review the adjudicator weighed.
    pub considered: Vec<String>,
}

/// A queue entry.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QueueEntry {
    /// Trace id.
    pub trace_id: String,
    /// Case specialty.
    pub specialty: String,
    /// Rubric key.
    pub rubric: String,
    /// Reviewers wanted.
    pub required: i64,
    /// Reviewers who submitted.
    pub submitted: i64,
    /// open, complete, adjudication or adjudicated.
    pub state: String,
    /// Why it needs adjudication (JSON), if it does.
    pub reasons: Option<serde_json::Value>,
}

/// A submitted review version.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredReview {
    /// `<trace>#<pseudonym>#v<version>`.
    pub id: String,
    /// Trace id.
    pub trace_id: String,
    /// Reviewer's account id.
    pub user_id: i64,
    /// Reviewer's pseudonym.
    pub reviewer: String,
    /// 1 for the first submission, then each revision.
    pub version: i64,
    /// Rubric key.
    pub rubric: String,
    /// What was submitted.
    pub body: ReviewBody,
    /// The `review.submitted` leaf.
    pub leaf: u64,
    /// The `step.edited` leaves.
    pub edit_leaves: Vec<u64>,
    /// When.
    pub submitted: String,
}

/// A decision on a disagreement.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredAdjudication {
    /// Trace id.
    pub trace_id: String,
    /// 1, then higher when a revision reopened the trace.
    pub version: i64,
    /// Adjudicator's pseudonym.
    pub adjudicator: String,
    /// The review that stands.
    pub chosen: String,
    /// Why.
    pub rationale: String,
    /// The `adjudication.decided` leaf.
    pub leaf: u64,
    /// When.
    pub decided: String,
}

/// The most open traces [`progress`] counts: each counted trace costs two
/// index lookups on every page load: with 15,000 open traces queued, a cap
/// of 1,000 gave the review page 431 requests/s against 1,954 with this cap
/// (`cts bench review`, 2026-12-01); pages show "100+" at the cap.
pub const AVAILABLE_CAP: i64 = 100;

/// The reviewer's view of their queue.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Progress {
    /// Traces this reviewer has submitted.
    pub done: i64,
    /// Traces this reviewer holds a live lease on, not yet submitted.
    pub in_hand: i64,
    /// Traces still open to this reviewer (their specialties, not yet
    /// theirs, with room), counted up to [`AVAILABLE_CAP`] so the count
    /// stays cheap on large queues.
    pub available: i64,
}

impl Progress {
    /// `available` as pages show it: "100+" at [`AVAILABLE_CAP`].
    pub fn available_text(&self) -> String {
        if self.available >= AVAILABLE_CAP {
            format!("{AVAILABLE_CAP}+")
        } else {
            self.available.to_string()
        }
    }
}

/// Everything the review page shows about a trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceForReview {
    /// Trace row.
    pub trace: crate::traces::StoredTrace,
    /// The model's original steps.
    pub steps: Vec<String>,
    /// The final answer the model gave, if found.
    pub answer: Option<String>,
    /// The case (None if erased).
    pub case: Option<cts_cases::Case>,
    /// Queue entry (None if not queued).
    pub queue: Option<QueueEntry>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn first_leaf(leaves: Vec<LeafIndex>) -> Result<LeafIndex, StoreError> {
    leaves.into_iter().next().ok_or(StoreError::EmptyAppend)
}

/// Registers a rubric version the first time it is used (`rubric.registered`,
/// committing to its text). Registering the same text again is a no-op; a
/// different text under a registered `id@version` is refused: versions are
/// immutable.
pub async fn register_rubric(
    store: &Store,
    actor: &str,
    rubric: &Rubric,
    source: &str,
) -> Result<u64, StoreError> {
    let key = rubric.key();
    let digest = rubric.digest();
    let existing = sqlx::query("SELECT digest, leaf FROM rubrics WHERE key = ?")
        .bind(&key)
        .fetch_optional(store.db())
        .await?;
    if let Some(row) = existing {
        let stored: String = row.try_get(0)?;
        if stored != digest {
            return Err(StoreError::Conflict {
                what: "rubric",
                id: key.to_string(),
                reason: "is already registered with different content; rubric versions are immutable, so give the changed rubric a new version".into(),
            });
        }
        return Ok(row.try_get::<i64, _>(1)? as u64);
    }
    let draft = EventDraft::new(EventKind::new("rubric.registered")?, actor)
        .subject(format!("rubric:{key}"))
        .body(serde_json::json!({ "rubric": key, "digest": digest }))
        .attach("rubric", source.as_bytes().to_vec());
    let prepared = draft.prepare(Salt::random)?;
    let created = prepared.event.time.clone();
    let source = source.to_owned();
    let hook: AppendHook = Box::new(move |conn, leaves| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO rubrics (key, digest, source, leaf, created) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&key)
            .bind(&digest)
            .bind(&source)
            .bind(leaves[0].0 as i64)
            .bind(&created)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    });
    Ok(first_leaf(
        store
            .ledger()
            .append_prepared(vec![prepared], Some(hook))
            .await?,
    )?
    .0)
}

/// A registered rubric by key, with its source text and leaf.
pub async fn rubric(store: &Store, key: &str) -> Result<(Rubric, String, u64), StoreError> {
    let row = sqlx::query("SELECT source, leaf FROM rubrics WHERE key = ?")
        .bind(key)
        .fetch_optional(store.db())
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "rubric",
            id: format!("{key:?}"),
            hint: None,
        })?;
    let source: String = row.try_get(0)?;
    let rubric = Rubric::parse(&source, key)
        .map_err(|e| StoreError::Inconsistent(format!("stored rubric {key}: {e}")))?;
    Ok((rubric, source, row.try_get::<i64, _>(1)? as u64))
}

/// Every registered rubric, by key.
pub async fn rubrics(store: &Store) -> Result<Vec<Rubric>, StoreError> {
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM rubrics ORDER BY key")
        .fetch_all(store.db())
        .await?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        out.push(rubric(store, &key).await?.0);
    }
    Ok(out)
}

/// Puts every trace not yet queued into the review queue with the
/// configured rubric and k. Returns how many were added.
pub async fn sync_queue(store: &Store, cfg: &ReviewConfig) -> Result<u64, StoreError> {
    let r = sqlx::query(
        "INSERT INTO review_queue (trace_id, specialty, rubric, required, submitted, state, seq)
         SELECT t.id, c.specialty, ?1, ?2, 0, 'open',
                (SELECT COALESCE(MAX(seq), 0) FROM review_queue) + ROW_NUMBER() OVER (ORDER BY t.leaf)
         FROM traces t JOIN cases c ON c.id = t.case_id AND c.version = t.case_version
         WHERE NOT EXISTS (SELECT 1 FROM review_queue q WHERE q.trace_id = t.id)",
    )
    .bind(cfg.rubric.key())
    .bind(i64::from(cfg.reviewers_per_trace))
    .execute(store.db())
    .await?;
    Ok(r.rows_affected())
}

fn specialty_filter(user: &User) -> String {
    serde_json::to_string(&user.specialties).unwrap_or_else(|_| "[]".into())
}

/// The reviewer's queue counts.
pub async fn progress(store: &Store, user: &User) -> Result<Progress, StoreError> {
    let t = now();
    let row = sqlx::query(
        "SELECT
           (SELECT COUNT(*) FROM assignments WHERE user_id = ?1 AND submitted = 1),
           (SELECT COUNT(*) FROM assignments WHERE user_id = ?1 AND submitted = 0 AND leased_until > ?2),
           (SELECT COUNT(*) FROM (SELECT 1 FROM review_queue q
             WHERE q.state = 'open'
               AND (json_array_length(?3) = 0 OR q.specialty IN (SELECT value FROM json_each(?3)))
               AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.trace_id = q.trace_id AND a.user_id = ?1)
               AND (SELECT COUNT(*) FROM assignments a WHERE a.trace_id = q.trace_id
                     AND (a.submitted = 1 OR a.leased_until > ?2)) < q.required
             LIMIT ?4))",
    )
    .bind(user.id)
    .bind(t)
    .bind(specialty_filter(user))
    .bind(AVAILABLE_CAP)
    .fetch_one(store.db())
    .await?;
    Ok(Progress {
        done: row.try_get(0)?,
        in_hand: row.try_get(1)?,
        available: row.try_get(2)?,
    })
}

/// The trace this reviewer should work on: one they already hold, or a new
/// lease on the next open trace of their specialties that they have not
/// reviewed and that still needs reviewers. `None` when nothing is left.
pub async fn claim_next(
    store: &Store,
    user: &User,
    cfg: &ReviewConfig,
) -> Result<Option<String>, StoreError> {
    let t = now();
    let held: Option<String> = sqlx::query_scalar(
        "SELECT trace_id FROM assignments WHERE user_id = ? AND submitted = 0 AND leased_until > ?
         ORDER BY leased_until LIMIT 1",
    )
    .bind(user.id)
    .bind(t)
    .fetch_optional(store.db())
    .await?;
    if held.is_some() {
        return Ok(held);
    }
    // The claim is one statement, so two reviewers racing for the last slot
    // cannot both get it (SQLite serializes writers).
    let claimed: Option<String> = sqlx::query_scalar(
        "INSERT INTO assignments (trace_id, user_id, leased_until, submitted)
         SELECT q.trace_id, ?1, ?3, 0 FROM review_queue q
          WHERE q.state = 'open'
            AND (json_array_length(?4) = 0 OR q.specialty IN (SELECT value FROM json_each(?4)))
            AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.trace_id = q.trace_id AND a.user_id = ?1 AND (a.submitted = 1 OR a.leased_until > ?2))
            AND (SELECT COUNT(*) FROM assignments a WHERE a.trace_id = q.trace_id
                  AND (a.submitted = 1 OR a.leased_until > ?2)) < q.required
          ORDER BY q.seq LIMIT 1
         ON CONFLICT (trace_id, user_id) DO UPDATE SET leased_until = excluded.leased_until
         RETURNING trace_id",
    )
    .bind(user.id)
    .bind(t)
    .bind(t + cfg.lease_seconds)
    .bind(specialty_filter(user))
    .fetch_optional(store.db())
    .await?;
    Ok(claimed)
}

/// Leases one given trace to `user` when the queue would: open, of their
/// specialties, not theirs already, with room. Returns whether it did (an
/// existing live lease of theirs is renewed).
pub async fn claim_trace(
    store: &Store,
    user: &User,
    trace_id: &str,
    cfg: &ReviewConfig,
) -> Result<bool, StoreError> {
    let t = now();
    let claimed: Option<String> = sqlx::query_scalar(
        "INSERT INTO assignments (trace_id, user_id, leased_until, submitted)
         SELECT q.trace_id, ?1, ?3, 0 FROM review_queue q
          WHERE q.trace_id = ?5 AND q.state = 'open'
            AND (json_array_length(?4) = 0 OR q.specialty IN (SELECT value FROM json_each(?4)))
            AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.trace_id = q.trace_id AND a.user_id = ?1 AND a.submitted = 1)
            AND (SELECT COUNT(*) FROM assignments a WHERE a.trace_id = q.trace_id AND a.user_id <> ?1
                  AND (a.submitted = 1 OR a.leased_until > ?2)) < q.required
         ON CONFLICT (trace_id, user_id) DO UPDATE SET leased_until = excluded.leased_until
         RETURNING trace_id",
    )
    .bind(user.id)
    .bind(t)
    .bind(t + cfg.lease_seconds)
    .bind(specialty_filter(user))
    .bind(trace_id)
    .fetch_optional(store.db())
    .await?;
    Ok(claimed.is_some())
}

/// Gives a lease back to the queue: the lease ends now, so the slot is free
/// for another reviewer. The row stays (as a lapsed lease does), so the
/// reviewer stays blind to the trace's other reviews and may claim it again.
pub async fn release(store: &Store, user: &User, trace_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE assignments SET leased_until = 0 WHERE trace_id = ? AND user_id = ? AND submitted = 0")
        .bind(trace_id)
        .bind(user.id)
        .execute(store.db())
        .await?;
    Ok(())
}

/// Whether `user` may work on `trace_id`: a live lease, or a submitted
/// review (revisions). Errors with `Denied` otherwise.
pub async fn check_assigned(store: &Store, user: &User, trace_id: &str) -> Result<(), StoreError> {
    let row = sqlx::query(
        "SELECT leased_until, submitted FROM assignments WHERE trace_id = ? AND user_id = ?",
    )
    .bind(trace_id)
    .bind(user.id)
    .fetch_optional(store.db())
    .await?;
    match row {
        Some(r) if r.try_get::<i64, _>(1)? == 1 || r.try_get::<i64, _>(0)? > now() => Ok(()),
        Some(_) => Err(StoreError::Denied {
            action: "work on this trace",
            reason: format!("your lease on {trace_id} has lapsed; claim it again from the queue"),
        }),
        None => Err(StoreError::Denied {
            action: "work on this trace",
            reason: format!("trace {trace_id} is not assigned to you"),
        }),
    }
}

/// Whether `user` holds an assignment on `trace_id`: `None` for none,
/// `Some(false)` while it is open (leased, not submitted; a lapsed lease
/// still counts), `Some(true)` once submitted. Reviewers of a trace see only
/// their own reviews of it.
pub async fn assignment_of(
    store: &Store,
    user: &User,
    trace_id: &str,
) -> Result<Option<bool>, StoreError> {
    let submitted: Option<i64> =
        sqlx::query_scalar("SELECT submitted FROM assignments WHERE trace_id = ? AND user_id = ?")
            .bind(trace_id)
            .bind(user.id)
            .fetch_optional(store.db())
            .await?;
    Ok(submitted.map(|s| s == 1))
}

/// The queue entry of a trace.
pub async fn queue_entry(store: &Store, trace_id: &str) -> Result<Option<QueueEntry>, StoreError> {
    let row = sqlx::query(
        "SELECT trace_id, specialty, rubric, required, submitted, state, reasons FROM review_queue WHERE trace_id = ?",
    )
    .bind(trace_id)
    .fetch_optional(store.db())
    .await?;
    row.as_ref().map(queue_row).transpose()
}

fn queue_row(r: &sqlx::sqlite::SqliteRow) -> Result<QueueEntry, StoreError> {
    let reasons: Option<String> = r.try_get(6)?;
    Ok(QueueEntry {
        trace_id: r.try_get(0)?,
        specialty: r.try_get(1)?,
        rubric: r.try_get(2)?,
        required: r.try_get(3)?,
        submitted: r.try_get(4)?,
        state: r.try_get(5)?,
        reasons: reasons.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

/// Queue entries in a state (e.g. `adjudication`), in queue order.
pub async fn queue_in_state(
    store: &Store,
    state: &str,
    limit: i64,
) -> Result<Vec<QueueEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT trace_id, specialty, rubric, required, submitted, state, reasons FROM review_queue
         WHERE state = ? ORDER BY seq LIMIT ?",
    )
    .bind(state)
    .bind(limit)
    .fetch_all(store.db())
    .await?;
    rows.iter().map(queue_row).collect()
}

/// Traces awaiting adjudication that `user` may decide (none they hold an
/// assignment on: listing those would tell a reviewer their review
/// disagreed), in queue order.
pub async fn adjudication_open_to(
    store: &Store,
    user: &User,
    limit: i64,
) -> Result<Vec<QueueEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT trace_id, specialty, rubric, required, submitted, state, reasons FROM review_queue q
         WHERE state = 'adjudication'
           AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.trace_id = q.trace_id AND a.user_id = ?)
         ORDER BY seq LIMIT ?",
    )
    .bind(user.id)
    .bind(limit)
    .fetch_all(store.db())
    .await?;
    rows.iter().map(queue_row).collect()
}

/// The trace with its case and original steps, for the review page.
pub async fn trace_for_review(store: &Store, trace_id: &str) -> Result<TraceForReview, StoreError> {
    let (trace, document) = crate::traces::get_trace(store, trace_id).await?;
    let (steps, answer) = match &document {
        Some(doc) => (doc.step_texts(), doc.answer_text().map(str::to_owned)),
        None => (Vec::new(), None),
    };
    let case = match crate::cases::case_at(store, &trace.case_id, Some(trace.case_version)).await {
        Ok(c) => c,
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    Ok(TraceForReview {
        queue: queue_entry(store, trace_id).await?,
        trace,
        steps,
        answer,
        case,
    })
}

/// The reviewer's draft of a trace and its revision, if any.
pub async fn load_draft(
    store: &Store,
    user: &User,
    trace_id: &str,
) -> Result<Option<(ReviewBody, i64)>, StoreError> {
    let row = sqlx::query("SELECT body, revision FROM drafts WHERE trace_id = ? AND user_id = ?")
        .bind(trace_id)
        .bind(user.id)
        .fetch_optional(store.db())
        .await?;
    match row {
        None => Ok(None),
        Some(r) => {
            let body: String = r.try_get(0)?;
            let body = serde_json::from_str(&body)
                .map_err(|e| StoreError::Inconsistent(format!("draft of {trace_id}: {e}")))?;
            Ok(Some((body, r.try_get(1)?)))
        }
    }
}

/// Which browser tab saves a draft: its random id (kept across reloads of
/// that tab) and its change counter, which only grows. Lets a reload of one
/// tab, or a save flushed as the page was left, never count as a second tab
/// editing the same draft.
#[derive(Clone, Debug, Default)]
pub struct DraftSource {
    /// The tab's random id; empty when unknown (every mismatch conflicts).
    pub client: String,
    /// The tab's change counter at this save.
    pub seq: i64,
}

/// Saves a draft (autosave) with no tab identity: see [`save_draft_from`].
pub async fn save_draft(
    store: &Store,
    user: &User,
    trace_id: &str,
    body: &ReviewBody,
    base_revision: i64,
) -> Result<i64, StoreError> {
    save_draft_from(
        store,
        user,
        trace_id,
        body,
        base_revision,
        &DraftSource::default(),
    )
    .await
}

/// Saves a draft (autosave) and returns its new revision.
///
/// The body must already be valid as far as it goes (rubric, shape, and
/// every label, flag and rating present), so a saved draft fails submit
/// only for what is missing. `base_revision` is the revision the editor
/// loaded (0 for none). The save is one atomic statement, so concurrent
/// saves never fail inside SQLite: it is refused with `Conflict` when the
/// stored revision differs, unless the stored draft came from the same tab
/// (`source.client`) at a lower `seq`, which is that tab's own earlier save
/// (a reload raced its flush). A save from that tab at a lower or equal
/// `seq` than stored is stale and changes nothing (the stored revision is
/// returned). Once a review is submitted, only [`start_revision`] opens a
/// new draft.
pub async fn save_draft_from(
    store: &Store,
    user: &User,
    trace_id: &str,
    body: &ReviewBody,
    base_revision: i64,
    source: &DraftSource,
) -> Result<i64, StoreError> {
    write_draft(store, user, trace_id, body, base_revision, source, false).await
}

async fn write_draft(
    store: &Store,
    user: &User,
    trace_id: &str,
    body: &ReviewBody,
    base_revision: i64,
    source: &DraftSource,
    revising: bool,
) -> Result<i64, StoreError> {
    check_assigned(store, user, trace_id).await?;
    let trace = trace_for_review(store, trace_id).await?;
    let queue = trace.queue.as_ref().ok_or_else(|| StoreError::NotFound {
        what: "queued trace",
        id: trace_id.to_owned(),
        hint: None,
    })?;
    let (rubric, _, _) = rubric(store, &queue.rubric).await?;
    body.validate_draft(&rubric, &trace.steps)?;
    let json = serde_json::to_string(body).map_err(|source| StoreError::Encode {
        what: "review draft",
        source,
    })?;
    let saved: Option<i64> = sqlx::query_scalar(
        "INSERT INTO drafts (trace_id, user_id, body, revision, updated, client, seq)
         SELECT ?1, ?2, ?3, 1, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?5, ?6
          WHERE EXISTS (SELECT 1 FROM drafts WHERE trace_id = ?1 AND user_id = ?2)
             OR (?4 = 0 AND (?7 OR NOT EXISTS (SELECT 1 FROM assignments
                   WHERE trace_id = ?1 AND user_id = ?2 AND submitted = 1)))
         ON CONFLICT (trace_id, user_id) DO UPDATE SET
           body = excluded.body, revision = drafts.revision + 1, updated = excluded.updated,
           client = excluded.client, seq = excluded.seq
         WHERE drafts.revision = ?4 OR (?5 <> '' AND drafts.client = ?5 AND drafts.seq < ?6)
         RETURNING revision",
    )
    .bind(trace_id)
    .bind(user.id)
    .bind(&json)
    .bind(base_revision)
    .bind(&source.client)
    .bind(source.seq)
    .bind(revising)
    .fetch_optional(store.db())
    .await?;
    if let Some(revision) = saved {
        return Ok(revision);
    }
    let stored =
        sqlx::query("SELECT revision, client, seq FROM drafts WHERE trace_id = ? AND user_id = ?")
            .bind(trace_id)
            .bind(user.id)
            .fetch_optional(store.db())
            .await?;
    match stored {
        Some(r) => {
            let (revision, client, seq): (i64, String, i64) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if !source.client.is_empty() && client == source.client && seq >= source.seq {
                return Ok(revision);
            }
            Err(StoreError::Conflict {
                what: "your draft of trace",
                id: trace_id.to_owned(),
                reason: format!(
                    "was saved elsewhere (revision {revision} now, you edited revision {base_revision}); reload to continue"
                ),
            })
        }
        None if base_revision != 0 => Err(StoreError::Conflict {
            what: "your draft of trace",
            id: trace_id.to_owned(),
            reason: "was submitted or discarded elsewhere; reload".into(),
        }),
        None => Err(StoreError::Conflict {
            what: "your review of trace",
            id: trace_id.to_owned(),
            reason: "is already submitted; use Revise to start a new version".into(),
        }),
    }
}

/// Result of a submit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Submitted {
    /// The new review version's id.
    pub id: String,
    /// Its version.
    pub version: i64,
    /// The `review.submitted` leaf.
    pub leaf: u64,
    /// The `step.edited` leaves.
    pub edit_leaves: Vec<u64>,
}

fn review_id(trace_id: &str, pseudonym: &str, version: i64) -> String {
    format!("{trace_id}#{pseudonym}#v{version}")
}

/// Submits a review: validates it against the rubric, then writes the
/// `review.submitted` event (content: the review), one `step.edited` event
/// per edited, added or deleted step (content: original, new text,
/// rationale), the review row, and the queue's new state, all in one
/// transaction. The draft at `base_revision` is consumed.
pub async fn submit(
    store: &Store,
    cfg: &ReviewConfig,
    user: &User,
    trace_id: &str,
    body: ReviewBody,
    base_revision: i64,
) -> Result<Submitted, StoreError> {
    let submission = Submission::validate(store, user, trace_id, body, base_revision).await?;
    // The queue's outcome is committed in the event, so it is computed
    // before the write and checked again under the write lock.
    let outcome = submission.queue_outcome(store, cfg.policy).await?;
    let mut events = vec![submission.submitted_event(outcome.clone())?];
    events.extend(submission.edit_events()?);
    let rows = submission.rows(&events[0], outcome);
    let leaves = store
        .ledger()
        .append_prepared(events, Some(rows.into_hook()))
        .await?;
    Ok(Submitted {
        id: submission.id,
        version: submission.version,
        leaf: leaves[0].0,
        edit_leaves: leaves[1..].iter().map(|l| l.0).collect(),
    })
}

/// A submission that passed validation: the review, the version it
/// becomes, and what its events and rows need to know of the trace.
struct Submission<'a> {
    user: &'a User,
    trace_id: &'a str,
    /// The trace's case.
    case_id: String,
    /// The model's steps, which the review's origins index.
    original: Vec<String>,
    /// The trace's place in the queue, as read before the write.
    queue: QueueEntry,
    /// The rubric's key and the leaf of its `rubric.registered` event.
    rubric: (String, u64),
    body: ReviewBody,
    /// The body as committed and stored.
    body_json: String,
    /// The draft revision the submitter loaded.
    base_revision: i64,
    /// The submitter's latest earlier version, if any.
    previous: Option<i64>,
    /// The new version.
    version: i64,
    /// The new version's id.
    id: String,
}

impl<'a> Submission<'a> {
    /// Checks that `user` holds `trace_id` and that `body` is complete under
    /// the rubric the trace is queued with; numbers the new version.
    async fn validate(
        store: &Store,
        user: &'a User,
        trace_id: &'a str,
        body: ReviewBody,
        base_revision: i64,
    ) -> Result<Submission<'a>, StoreError> {
        check_assigned(store, user, trace_id).await?;
        let view = trace_for_review(store, trace_id).await?;
        let queue = view.queue.ok_or_else(|| StoreError::NotFound {
            what: "queued trace",
            id: trace_id.to_owned(),
            hint: None,
        })?;
        let (rubric, _, rubric_leaf) = rubric(store, &queue.rubric).await?;
        body.validate(&rubric, &view.steps)?;
        let previous: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM reviews WHERE trace_id = ? AND user_id = ?",
        )
        .bind(trace_id)
        .bind(user.id)
        .fetch_one(store.db())
        .await?;
        let version = previous.unwrap_or(0) + 1;
        let body_json = serde_json::to_string(&body).map_err(|source| StoreError::Encode {
            what: "review body",
            source,
        })?;
        Ok(Submission {
            user,
            trace_id,
            case_id: view.trace.case_id,
            original: view.steps,
            queue,
            rubric: (rubric.key(), rubric_leaf),
            body,
            body_json,
            base_revision,
            previous,
            version,
            id: review_id(trace_id, &user.pseudonym, version),
        })
    }

    /// The queue's outcome once this review counts: the latest review of
    /// each other reviewer, then this one.
    async fn queue_outcome(
        &self,
        store: &Store,
        policy: Policy,
    ) -> Result<QueueOutcome, StoreError> {
        let mut conn = store.db().acquire().await?;
        let others = latest_bodies(&mut conn, self.trace_id, Some(self.user.id)).await?;
        let mut latest: Vec<(&str, &ReviewBody)> =
            others.iter().map(|(id, b)| (id.as_str(), b)).collect();
        latest.push((self.id.as_str(), &self.body));
        Ok(QueueOutcome::compute(
            policy,
            self.queue.required,
            self.queue.submitted + i64::from(self.previous.is_none()),
            &latest,
            self.original.len(),
        ))
    }

    /// The `review.submitted` event: the review's summary and the queue
    /// outcome it commits, with the body as content `review`.
    fn submitted_event(&self, outcome: QueueOutcome) -> Result<PreparedEvent, StoreError> {
        let supersedes = self
            .previous
            .map(|v| review_id(self.trace_id, &self.user.pseudonym, v));
        let summary = ReviewSubmitted::new(
            self.id.clone(),
            self.trace_id.to_owned(),
            self.version,
            supersedes,
            self.rubric.clone(),
            &self.body,
            outcome,
        );
        let summary = serde_json::to_value(&summary).map_err(|source| StoreError::Encode {
            what: "review summary",
            source,
        })?;
        Ok(
            EventDraft::new(EventKind::new(REVIEW_SUBMITTED)?, self.user.actor())
                .subject(format!("review:{}", self.id))
                .subject(format!("trace:{}", self.trace_id))
                .subject(format!("case:{}", self.case_id))
                .body(summary)
                .attach("review", self.body_json.as_bytes())
                .prepare(Salt::random)?,
        )
    }

    /// One `step.edited` event per edited, added or deleted step, in the
    /// review's order of steps, deletions last.
    fn edit_events(&self) -> Result<Vec<PreparedEvent>, StoreError> {
        let body = &self.body;
        let mut events = Vec::new();
        for (i, s) in body.steps.iter().enumerate() {
            match body.change(i, &self.original) {
                StepChange::Kept => {}
                StepChange::Edited { original } => events.push(self.edit_event(
                    Some(i),
                    s.origin,
                    "edited",
                    StepEdit {
                        original: Some(original.to_owned()),
                        rationale: s.edit_rationale.clone(),
                        text: Some(s.text.clone()),
                    },
                )?),
                StepChange::Added => events.push(self.edit_event(
                    Some(i),
                    None,
                    "added",
                    StepEdit {
                        original: None,
                        rationale: s.edit_rationale.clone(),
                        text: Some(s.text.clone()),
                    },
                )?),
            }
        }
        for d in &body.deleted {
            events.push(self.edit_event(
                None,
                Some(d.origin),
                "deleted",
                StepEdit {
                    original: self.original.get(d.origin).cloned(),
                    rationale: Some(d.rationale.clone()),
                    text: None,
                },
            )?);
        }
        Ok(events)
    }

    /// A `step.edited` event of this review (content `edit`: original, new
    /// text, rationale).
    fn edit_event(
        &self,
        step: Option<usize>,
        origin: Option<usize>,
        change: &str,
        content: StepEdit,
    ) -> Result<PreparedEvent, StoreError> {
        let body = StepEdited {
            review: self.id.clone(),
            step,
            origin,
            change: change.to_owned(),
        };
        Ok(
            EventDraft::new(EventKind::new("step.edited")?, self.user.actor())
                .subject(format!("review:{}", self.id))
                .subject(format!("trace:{}", self.trace_id))
                .body(serde_json::to_value(&body).map_err(|e| StoreError::Encode {
                    what: "step.edited body",
                    source: e,
                })?)
                .attach(
                    "edit",
                    serde_json::to_vec(&content).map_err(|e| StoreError::Encode {
                        what: "step.edited content",
                        source: e,
                    })?,
                )
                .prepare(Salt::random)?,
        )
    }

    /// The rows to write with `submitted` (this review's `review.submitted`
    /// event), which commits `outcome`.
    fn rows(&self, submitted: &PreparedEvent, outcome: QueueOutcome) -> ReviewRows {
        ReviewRows {
            user_id: self.user.id,
            trace_id: self.trace_id.to_owned(),
            review_id: self.id.clone(),
            version: self.version,
            base_revision: self.base_revision,
            rubric: self.rubric.0.clone(),
            body_json: self.body_json.clone(),
            commitment: submitted.event.content["review"].0,
            submitted_at: submitted.event.time.clone(),
            n_original: self.original.len(),
            outcome,
        }
    }
}

/// What a submit writes beside its events, in their transaction: the
/// review row, the assignment marked submitted, the draft consumed and the
/// queue's new state, each after checking nothing moved since the
/// submission was validated.
struct ReviewRows {
    user_id: i64,
    trace_id: String,
    review_id: String,
    version: i64,
    /// The draft revision the submitter loaded.
    base_revision: i64,
    /// Rubric key.
    rubric: String,
    body_json: String,
    /// The body's content commitment in the `review.submitted` event.
    commitment: [u8; 32],
    /// The event's time.
    submitted_at: String,
    /// How many steps the model wrote.
    n_original: usize,
    /// The queue outcome the event commits.
    outcome: QueueOutcome,
}

impl ReviewRows {
    /// The append hook that writes the rows.
    fn into_hook(self) -> AppendHook {
        Box::new(move |conn, leaves| Box::pin(self.write(conn, leaves)))
    }

    /// Checks, then writes every row; any conflict fails the whole
    /// append, events included.
    async fn write(
        self,
        conn: &mut SqliteConnection,
        leaves: &[LeafIndex],
    ) -> Result<(), StoreError> {
        // Re-check under the write lock: nothing may have moved since the
        // checks before the events were drafted.
        self.check_version_and_draft(conn).await?;
        let (required, first_time) = self.check_place(conn).await?;
        self.write_review(conn, leaves).await?;
        update_queue_state(
            conn,
            &self.trace_id,
            required,
            first_time,
            self.n_original,
            &self.outcome,
        )
        .await
    }

    /// Fails when another version was submitted meanwhile, or the draft
    /// is gone or at another revision than the one submitted.
    async fn check_version_and_draft(&self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        let now_version: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM reviews WHERE trace_id = ? AND user_id = ?",
        )
        .bind(&self.trace_id)
        .bind(self.user_id)
        .fetch_one(&mut *conn)
        .await?;
        if now_version.unwrap_or(0) + 1 != self.version {
            return Err(StoreError::Conflict {
                what: "your review of trace",
                id: self.trace_id.clone(),
                reason: "was submitted from another tab; reload".into(),
            });
        }
        let draft_rev: Option<i64> =
            sqlx::query_scalar("SELECT revision FROM drafts WHERE trace_id = ? AND user_id = ?")
                .bind(&self.trace_id)
                .bind(self.user_id)
                .fetch_optional(&mut *conn)
                .await?;
        if now_version.unwrap_or(0) > 0 && draft_rev.is_none() {
            return Err(StoreError::Conflict {
                what: "your review of trace",
                id: self.trace_id.clone(),
                reason: "is already submitted; use Revise to start a new version".into(),
            });
        }
        if draft_rev.unwrap_or(0) != self.base_revision {
            return Err(StoreError::Conflict {
                what: "your draft of trace",
                id: self.trace_id.clone(),
                reason: format!(
                    "changed elsewhere (revision {} now, you submitted revision {}); reload",
                    draft_rev.unwrap_or(0),
                    self.base_revision
                ),
            });
        }
        Ok(())
    }

    /// Fails unless the submitter still has a place among the trace's
    /// reviewers (a lapsed lease keeps it only while a place is free);
    /// the reviewers required, and whether this is the submitter's first
    /// submission of the trace.
    async fn check_place(&self, conn: &mut SqliteConnection) -> Result<(i64, bool), StoreError> {
        let r = sqlx::query(
            "SELECT q.required, a.submitted, a.leased_until,
               (SELECT COUNT(*) FROM assignments b WHERE b.trace_id = q.trace_id AND b.user_id <> ?2
                  AND (b.submitted = 1 OR b.leased_until > ?3))
             FROM review_queue q LEFT JOIN assignments a ON a.trace_id = q.trace_id AND a.user_id = ?2
             WHERE q.trace_id = ?1",
        )
        .bind(&self.trace_id)
        .bind(self.user_id)
        .bind(now())
        .fetch_one(&mut *conn)
        .await?;
        let submitted: Option<i64> = r.try_get(1)?;
        let others: i64 = r.try_get(3)?;
        let required: i64 = r.try_get(0)?;
        if submitted.is_none() {
            return Err(StoreError::Denied {
                action: "submit this review",
                reason: format!("trace {} is not assigned to you", self.trace_id),
            });
        }
        if submitted == Some(0) && others >= required {
            return Err(StoreError::Conflict {
                what: "trace",
                id: self.trace_id.clone(),
                reason: "has no place left for you: your lease lapsed and other reviewers have taken every place".into(),
            });
        }
        Ok((required, submitted == Some(0)))
    }

    /// Inserts the review row (its event at `leaves[0]`, its edits after),
    /// marks the assignment submitted and consumes the draft.
    async fn write_review(
        &self,
        conn: &mut SqliteConnection,
        leaves: &[LeafIndex],
    ) -> Result<(), StoreError> {
        let edit_leaves: Vec<u64> = leaves[1..].iter().map(|l| l.0).collect();
        sqlx::query(
            "INSERT INTO reviews (id, trace_id, user_id, version, rubric, body, commitment, leaf, edit_leaves, submitted)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&self.review_id)
        .bind(&self.trace_id)
        .bind(self.user_id)
        .bind(self.version)
        .bind(&self.rubric)
        .bind(&self.body_json)
        .bind(&self.commitment[..])
        .bind(leaves[0].0 as i64)
        .bind(serde_json::to_string(&edit_leaves).unwrap_or_default())
        .bind(&self.submitted_at)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE assignments SET submitted = 1 WHERE trace_id = ? AND user_id = ?")
            .bind(&self.trace_id)
            .bind(self.user_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM drafts WHERE trace_id = ? AND user_id = ?")
            .bind(&self.trace_id)
            .bind(self.user_id)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

/// The latest version of each reviewer's review of `trace_id`, in
/// submission order, leaving out `except`'s.
async fn latest_bodies(
    conn: &mut SqliteConnection,
    trace_id: &str,
    except: Option<i64>,
) -> Result<Vec<(String, ReviewBody)>, StoreError> {
    let rows = sqlx::query(
        "SELECT r.id, r.body FROM reviews r
         WHERE r.trace_id = ?1 AND r.user_id IS NOT ?2
           AND r.version = (SELECT MAX(version) FROM reviews s WHERE s.trace_id = r.trace_id AND s.user_id = r.user_id)
         ORDER BY r.leaf",
    )
    .bind(trace_id)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            let body: String = r.try_get(1)?;
            Ok((
                r.try_get(0)?,
                serde_json::from_str(&body)
                    .map_err(|e| StoreError::Inconsistent(format!("review body: {e}")))?,
            ))
        })
        .collect()
}

/// Counts the submission and writes the queue's state, after checking
/// under the write lock that it is the outcome the event commits (another
/// reviewer of the same trace may have submitted since it was computed).
async fn update_queue_state(
    conn: &mut SqliteConnection,
    trace_id: &str,
    required: i64,
    first_time: bool,
    n_original: usize,
    committed: &QueueOutcome,
) -> Result<(), StoreError> {
    if first_time {
        sqlx::query("UPDATE review_queue SET submitted = submitted + 1 WHERE trace_id = ?")
            .bind(trace_id)
            .execute(&mut *conn)
            .await?;
    }
    let submitted: i64 =
        sqlx::query_scalar("SELECT submitted FROM review_queue WHERE trace_id = ?")
            .bind(trace_id)
            .fetch_one(&mut *conn)
            .await?;
    let latest = latest_bodies(conn, trace_id, None).await?;
    let latest: Vec<(&str, &ReviewBody)> = latest.iter().map(|(id, b)| (id.as_str(), b)).collect();
    let outcome = QueueOutcome::compute(committed.policy, required, submitted, &latest, n_original);
    if outcome != *committed {
        return Err(StoreError::Conflict {
            what: "trace",
            id: trace_id.to_owned(),
            reason: "had another review submitted at the same moment; submit again".into(),
        });
    }
    sqlx::query("UPDATE review_queue SET state = ?, reasons = ? WHERE trace_id = ?")
        .bind(outcome.state.as_str())
        .bind(outcome.reasons_json())
        .bind(trace_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Starts a revision of the reviewer's latest submitted review: a draft
/// holding it, to be submitted as the next version.
pub async fn start_revision(store: &Store, user: &User, trace_id: &str) -> Result<i64, StoreError> {
    let body: Option<String> = sqlx::query_scalar(
        "SELECT body FROM reviews WHERE trace_id = ? AND user_id = ? ORDER BY version DESC LIMIT 1",
    )
    .bind(trace_id)
    .bind(user.id)
    .fetch_optional(store.db())
    .await?;
    let body = body.ok_or_else(|| StoreError::NotFound {
        what: "review by you of trace",
        id: trace_id.to_owned(),
        hint: None,
    })?;
    let body: ReviewBody =
        serde_json::from_str(&body).map_err(|e| StoreError::Inconsistent(e.to_string()))?;
    let base = load_draft(store, user, trace_id)
        .await?
        .map(|(_, r)| r)
        .unwrap_or(0);
    write_draft(
        store,
        user,
        trace_id,
        &body,
        base,
        &DraftSource::default(),
        true,
    )
    .await
}

const REVIEW_COLUMNS: &str =
    "r.id, r.trace_id, r.user_id, u.pseudonym, r.version, r.rubric, r.body, r.leaf, r.edit_leaves, r.submitted";

fn review_row(r: &sqlx::sqlite::SqliteRow) -> Result<StoredReview, StoreError> {
    let body: String = r.try_get(6)?;
    let edits: String = r.try_get(8)?;
    Ok(StoredReview {
        id: r.try_get(0)?,
        trace_id: r.try_get(1)?,
        user_id: r.try_get(2)?,
        reviewer: r.try_get(3)?,
        version: r.try_get(4)?,
        rubric: r.try_get(5)?,
        body: serde_json::from_str(&body)
            .map_err(|e| StoreError::Inconsistent(format!("review body: {e}")))?,
        leaf: r.try_get::<i64, _>(7)? as u64,
        edit_leaves: serde_json::from_str(&edits)
            .map_err(|e| StoreError::Inconsistent(format!("edit leaves: {e}")))?,
        submitted: r.try_get(9)?,
    })
}

/// The current review of each reviewer among `reviews` (their latest
/// version), in the given order.
pub fn current(reviews: &[StoredReview]) -> Vec<&StoredReview> {
    reviews
        .iter()
        .filter(|r| {
            !reviews
                .iter()
                .any(|o| o.user_id == r.user_id && o.version > r.version)
        })
        .collect()
}

/// Every review version of a trace (all reviewers), oldest first. Callers
/// enforce blindness: a reviewer sees only their own until they submit.
pub async fn reviews_of_trace(
    store: &Store,
    trace_id: &str,
) -> Result<Vec<StoredReview>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.trace_id = ? ORDER BY r.leaf"
    ))
    .bind(trace_id)
    .fetch_all(store.db())
    .await?;
    rows.iter().map(review_row).collect()
}

/// One review version by id.
pub async fn review_by_id(store: &Store, id: &str) -> Result<StoredReview, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.id = ?"
    ))
    .bind(id)
    .fetch_optional(store.db())
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "review",
        id: format!("{id:?}"),
        hint: None,
    })?;
    review_row(&row)
}

/// The latest version of every reviewer's review of every trace (for
/// agreement statistics and datasets), ordered by trace.
pub async fn latest_reviews(store: &Store) -> Result<Vec<StoredReview>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews r JOIN users u ON u.id = r.user_id
         WHERE r.version = (SELECT MAX(version) FROM reviews s WHERE s.trace_id = r.trace_id AND s.user_id = r.user_id)
         ORDER BY r.trace_id, r.leaf"
    ))
    .fetch_all(store.db())
    .await?;
    rows.iter().map(review_row).collect()
}

/// A reviewer's own submitted reviews, newest first.
pub async fn reviews_by_user(
    store: &Store,
    user: &User,
    limit: i64,
) -> Result<Vec<StoredReview>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews r JOIN users u ON u.id = r.user_id WHERE r.user_id = ? ORDER BY r.leaf DESC LIMIT ?"
    ))
    .bind(user.id)
    .bind(limit)
    .fetch_all(store.db())
    .await?;
    rows.iter().map(review_row).collect()
}

/// Decisions on a trace, oldest first.
pub async fn adjudications_of(
    store: &Store,
    trace_id: &str,
) -> Result<Vec<StoredAdjudication>, StoreError> {
    let rows = sqlx::query(
        "SELECT a.trace_id, a.version, u.pseudonym, a.chosen, a.rationale, a.leaf, a.decided
         FROM adjudications a JOIN users u ON u.id = a.user_id WHERE a.trace_id = ? ORDER BY a.version",
    )
    .bind(trace_id)
    .fetch_all(store.db())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredAdjudication {
                trace_id: r.try_get(0)?,
                version: r.try_get(1)?,
                adjudicator: r.try_get(2)?,
                chosen: r.try_get(3)?,
                rationale: r.try_get(4)?,
                leaf: r.try_get::<i64, _>(5)? as u64,
                decided: r.try_get(6)?,
            })
        })
        .collect()
}

/// Records an adjudicator's decision: which of the latest reviews stands,
/// and why (`adjudication.decided`, content: the rationale). Only a trace in
/// the adjudication queue can be decided, and not by one of its reviewers.
pub async fn adjudicate(
    store: &Store,
    user: &User,
    trace_id: &str,
    chosen: &str,
    rationale: &str,
) -> Result<u64, StoreError> {
    if rationale.trim().chars().count() < 10 {
        return Err(StoreError::Invalid {
            field: "rationale",
            reason: "at least 10 characters are required".into(),
        });
    }
    if rationale.chars().count() > cts_review::review::MAX_RATIONALE_CHARS {
        return Err(StoreError::Invalid {
            field: "rationale",
            reason: format!(
                "at most {} characters",
                cts_review::review::MAX_RATIONALE_CHARS
            ),
        });
    }
    let entry = queue_entry(store, trace_id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "queued trace",
            id: format!("{trace_id:?}"),
            hint: None,
        })?;
    if entry.state != "adjudication" {
        return Err(StoreError::Conflict {
            what: "trace",
            id: trace_id.to_owned(),
            reason: format!("is {}, not awaiting adjudication", entry.state),
        });
    }
    let reviews = reviews_of_trace(store, trace_id).await?;
    if reviews.iter().any(|r| r.user_id == user.id) {
        return Err(StoreError::Denied {
            action: "adjudicate",
            reason: "you reviewed this trace; another adjudicator must decide".into(),
        });
    }
    let latest = current(&reviews);
    if !latest.iter().any(|r| r.id == chosen) {
        return Err(StoreError::Invalid {
            field: "chosen",
            reason: format!("{chosen:?} is not one of the current reviews of {trace_id}"),
        });
    }
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM adjudications WHERE trace_id = ?",
    )
    .bind(trace_id)
    .fetch_one(store.db())
    .await?;
    let decided_body = AdjudicationDecided {
        trace: trace_id.to_owned(),
        version,
        chosen: chosen.to_owned(),
        considered: latest.iter().map(|r| r.id.clone()).collect(),
    };
    let decided_body =
        serde_json::to_value(&decided_body).map_err(|source| StoreError::Encode {
            what: "adjudication",
            source,
        })?;
    let prepared = EventDraft::new(EventKind::new(ADJUDICATION_DECIDED)?, user.actor())
        .subject(format!("trace:{trace_id}"))
        .subject(format!("review:{chosen}"))
        .body(decided_body)
        .attach(
            "decision",
            serde_json::to_vec(&serde_json::json!({ "rationale": rationale })).unwrap_or_default(),
        )
        .prepare(Salt::random)?;
    let decided = prepared.event.time.clone();
    let (tid, uid, ch, ra) = (
        trace_id.to_owned(),
        user.id,
        chosen.to_owned(),
        rationale.to_owned(),
    );
    let hook: AppendHook = Box::new(move |conn, leaves| {
        Box::pin(async move {
            let state: String =
                sqlx::query_scalar("SELECT state FROM review_queue WHERE trace_id = ?")
                    .bind(&tid)
                    .fetch_one(&mut *conn)
                    .await?;
            if state != "adjudication" {
                return Err(StoreError::Conflict {
                    what: "trace",
                    id: tid,
                    reason: "was decided meanwhile".into(),
                });
            }
            sqlx::query(
                "INSERT INTO adjudications (trace_id, version, user_id, chosen, rationale, leaf, decided) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&tid)
            .bind(version)
            .bind(uid)
            .bind(&ch)
            .bind(&ra)
            .bind(leaves[0].0 as i64)
            .bind(&decided)
            .execute(&mut *conn)
            .await?;
            sqlx::query("UPDATE review_queue SET state = 'adjudicated' WHERE trace_id = ?")
                .bind(&tid)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    });
    Ok(first_leaf(
        store
            .ledger()
            .append_prepared(vec![prepared], Some(hook))
            .await?,
    )?
    .0)
}

#[cfg(test)]
mod progress_tests {
    use super::{Progress, AVAILABLE_CAP};

    #[test]
    fn available_shows_a_plus_at_the_cap() {
        let at = |available| Progress {
            available,
            ..Progress::default()
        };
        assert_eq!(at(0).available_text(), "0");
        assert_eq!(at(AVAILABLE_CAP - 1).available_text(), "99");
        assert_eq!(at(AVAILABLE_CAP).available_text(), "100+");
    }
}

#[cfg(test)]
mod step_edit_tests {
    use super::StepEdit;

    /// The typed `edit` content is committed byte for byte as the `json!`
    /// literals that wrote it before (stores written then must still
    /// verify, and the same edit must commit the same bytes).
    #[test]
    fn step_edit_bytes_are_those_of_the_earlier_literal() {
        let cases = [
            (
                StepEdit {
                    original: Some("Start warfarin 10 mg.".into()),
                    rationale: Some("Check INR first (synthetic).".into()),
                    text: Some("Check INR, then dose.".into()),
                },
                serde_json::json!({ "original": "Start warfarin 10 mg.", "text": "Check INR, then dose.", "rationale": "Check INR first (synthetic)." }),
            ),
            (
                StepEdit {
                    original: None,
                    rationale: None,
                    text: Some("Added step.".into()),
                },
                serde_json::json!({ "original": null, "text": "Added step.", "rationale": null }),
            ),
            (
                StepEdit {
                    original: Some("Old step.".into()),
                    rationale: Some("Redundant.".into()),
                    text: None,
                },
                serde_json::json!({ "original": "Old step.", "text": null, "rationale": "Redundant." }),
            ),
        ];
        for (typed, literal) in cases {
            let bytes = serde_json::to_vec(&typed).unwrap();
            assert_eq!(
                String::from_utf8(bytes.clone()).unwrap(),
                String::from_utf8(serde_json::to_vec(&literal).unwrap()).unwrap()
            );
            assert_eq!(serde_json::from_slice::<StepEdit>(&bytes).unwrap(), typed);
        }
    }
}
