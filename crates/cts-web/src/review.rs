//! The review flow's pages: queue, review page, history and adjudication
//! (the review script's drafts and submissions are in [`crate::api`]).

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use cts_review::review::{word_diff, DiffOp, StepChange};
use cts_review::{ReviewBody, Rubric};
use cts_store::review::{self as store, StoredReview};
use cts_store::users::Role;

use crate::auth::{encode_component, Session};
use crate::error::WebError;
use crate::layout::Nav;
use crate::Shared;

/// `?trace=ID`.
#[derive(serde::Deserialize)]
pub struct TraceQuery {
    pub(crate) trace: String,
}

/// Admits the roles that review.
pub(crate) fn reviewer(session: &Session) -> Result<(), WebError> {
    session.require(&[Role::Clinician, Role::Adjudicator])
}

fn review_url(trace: &str) -> String {
    format!("/review?trace={}", encode_component(trace))
}

async fn rubric_of(state: &Shared, key: &str) -> Result<Rubric, WebError> {
    if key == state.review.rubric.key() {
        return Ok(state.review.rubric.clone());
    }
    Ok(store::rubric(&state.store, key).await?.0)
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    nav: Nav,
    progress: store::Progress,
    held: Option<String>,
    recent: Vec<StoredReview>,
    empty: bool,
}

/// `?empty=1` after a claim found nothing.
#[derive(serde::Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    empty: Option<u8>,
}

/// GET /queue: the reviewer's progress and recent reviews.
pub async fn queue_page(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<QueueQuery>,
) -> Result<Response, WebError> {
    reviewer(&session)?;
    store::sync_queue(&state.store, &state.review).await?;
    let progress = store::progress(&state.store, &session.user).await?;
    let held = if progress.in_hand > 0 {
        store::claim_next(&state.store, &session.user, &state.review).await?
    } else {
        None
    };
    let page = QueuePage {
        nav: Nav::of(&session),
        progress,
        held,
        recent: store::reviews_by_user(&state.store, &session.user, 20).await?,
        empty: q.empty.is_some(),
    };
    Ok(Html(page.render()?).into_response())
}

/// POST /queue/claim: lease the next trace and open it.
pub async fn claim(State(state): State<Shared>, session: Session) -> Result<Response, WebError> {
    reviewer(&session)?;
    store::sync_queue(&state.store, &state.review).await?;
    match store::claim_next(&state.store, &session.user, &state.review).await? {
        Some(trace) => Ok(Redirect::to(&review_url(&trace)).into_response()),
        None => Ok(Redirect::to("/queue?empty=1").into_response()),
    }
}

/// POST /review/release?trace=: give the lease back.
pub async fn release(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
) -> Result<Response, WebError> {
    reviewer(&session)?;
    store::release(&state.store, &session.user, &q.trace).await?;
    Ok(Redirect::to("/queue").into_response())
}

/// POST /review/revise?trace=: start a new version of a submitted review.
pub async fn revise(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
) -> Result<Response, WebError> {
    reviewer(&session)?;
    store::check_assigned(&state.store, &session.user, &q.trace).await?;
    store::start_revision(&state.store, &session.user, &q.trace).await?;
    Ok(Redirect::to(&review_url(&q.trace)).into_response())
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    nav: Nav,
    trace_id: String,
    question: String,
    options: Vec<(char, String)>,
    specialty: String,
    answer: String,
    model: String,
    rubric: Rubric,
    state_json: String,
    submitted_versions: i64,
    editing: bool,
    progress: store::Progress,
}

/// Data the review script starts from (embedded as JSON).
#[derive(serde::Serialize)]
struct ReviewState<'a> {
    trace: &'a str,
    /// Whose page this is: local draft copies are keyed by user and trace.
    user: &'a str,
    original: &'a [String],
    body: ReviewBody,
    revision: i64,
    editing: bool,
    rubric: &'a Rubric,
    /// The model's final answer (the reviewer may correct it).
    answer: Option<&'a str>,
}

/// GET /review?trace=: the review page for an assigned trace.
pub async fn review_page(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
) -> Result<Response, WebError> {
    reviewer(&session)?;
    store::check_assigned(&state.store, &session.user, &q.trace).await?;
    let view = store::trace_for_review(&state.store, &q.trace).await?;
    let queue = view.queue.as_ref().ok_or_else(|| {
        WebError::not_found(format!("trace {} is not in the review queue", q.trace))
    })?;
    let rubric = rubric_of(&state, &queue.rubric).await?;
    let mine: Vec<StoredReview> = store::reviews_of_trace(&state.store, &q.trace)
        .await?
        .into_iter()
        .filter(|r| r.user_id == session.user.id)
        .collect();
    let draft = store::load_draft(&state.store, &session.user, &q.trace).await?;
    let editing = draft.is_some() || mine.is_empty();
    let (body, revision) = match draft {
        Some(d) => d,
        None => match mine.last() {
            Some(r) => (r.body.clone(), 0),
            None => (ReviewBody::draft_for(&rubric, &view.steps), 0),
        },
    };
    let review_state = ReviewState {
        trace: &q.trace,
        user: &session.user.pseudonym,
        original: &view.steps,
        body,
        revision,
        editing,
        rubric: &rubric,
        answer: view.answer.as_deref(),
    };
    // Escape '<' so no text in the JSON can close the script element.
    let state_json = serde_json::to_string(&review_state)
        .map_err(|e| WebError::bad_request(e.to_string()))?
        .replace('<', "\\u003c");
    let (question, options, specialty) = match &view.case {
        Some(c) => (
            c.question.clone(),
            c.options
                .iter()
                .enumerate()
                .map(|(i, o)| ((b'A' + i as u8) as char, o.clone()))
                .collect(),
            c.specialty.clone(),
        ),
        None => (
            "(this case's text was erased)".into(),
            Vec::new(),
            queue.specialty.clone(),
        ),
    };
    let page = ReviewPage {
        nav: Nav::of(&session),
        trace_id: q.trace.clone(),
        question,
        options,
        specialty,
        answer: view
            .answer
            .clone()
            .unwrap_or_else(|| "(no final answer found)".into()),
        model: view.trace.model["name"]
            .as_str()
            .unwrap_or("model")
            .to_owned(),
        rubric,
        state_json,
        submitted_versions: mine.len() as i64,
        editing,
        progress: store::progress(&state.store, &session.user).await?,
    };
    Ok(Html(page.render()?).into_response())
}

/// One reviewed step as shown in history and adjudication.
pub struct StepView {
    /// Position in the reviewed chain (1-based) or "—" for a deletion.
    pub position: String,
    /// Label as text.
    pub label: String,
    /// CSS class of the label.
    pub label_class: &'static str,
    /// Flags.
    pub flags: Vec<String>,
    /// kept, edited, added or deleted.
    pub change: &'static str,
    /// Diff against the original (one Equal op when kept).
    pub diff: Vec<DiffOp>,
    /// The step's text as the reviewer left it (shown clean beside the diff).
    pub clean: String,
    /// Rationale of the change.
    pub rationale: String,
}

/// A review version as shown.
pub struct ReviewView {
    /// Review id.
    pub id: String,
    /// Reviewer pseudonym.
    pub reviewer: String,
    /// Version.
    pub version: i64,
    /// When.
    pub submitted: String,
    /// Ledger leaf.
    pub leaf: u64,
    /// Edit leaves.
    pub edit_leaves: Vec<u64>,
    /// Steps.
    pub steps: Vec<StepView>,
    /// (dimension title, rating).
    pub ratings: Vec<(String, String)>,
    /// Rationale.
    pub rationale: String,
    /// The final answer as corrected by the reviewer, if they did.
    pub answer: Option<String>,
    /// Whether it is this reviewer's latest.
    pub latest: bool,
}

fn label_text(l: Option<i8>) -> (String, &'static str) {
    match l {
        Some(-1) => ("−1".into(), "neg"),
        Some(0) => ("0".into(), "neu"),
        Some(1) => ("+1".into(), "pos"),
        _ => ("?".into(), ""),
    }
}

fn review_view(
    r: &StoredReview,
    rubric: &Rubric,
    original: &[String],
    all: &[StoredReview],
) -> ReviewView {
    let mut steps = Vec::new();
    for (i, s) in r.body.steps.iter().enumerate() {
        let (label, label_class) = label_text(s.label);
        let (change, diff) = match r.body.change(i, original) {
            StepChange::Kept => ("kept", vec![DiffOp::Equal(s.text.clone())]),
            StepChange::Edited { original } => ("edited", word_diff(original, &s.text)),
            StepChange::Added => ("added", vec![DiffOp::Insert(s.text.clone())]),
        };
        steps.push(StepView {
            position: (i + 1).to_string(),
            label,
            label_class,
            flags: s.flags.clone(),
            change,
            diff,
            clean: s.text.clone(),
            rationale: s.edit_rationale.clone().unwrap_or_default(),
        });
    }
    for d in &r.body.deleted {
        steps.push(StepView {
            position: "—".into(),
            label: "−1".into(),
            label_class: "neg",
            flags: Vec::new(),
            change: "deleted",
            diff: vec![DiffOp::Delete(
                original.get(d.origin).cloned().unwrap_or_default(),
            )],
            clean: String::new(),
            rationale: d.rationale.clone(),
        });
    }
    ReviewView {
        id: r.id.clone(),
        reviewer: r.reviewer.clone(),
        version: r.version,
        submitted: r.submitted.clone(),
        leaf: r.leaf,
        edit_leaves: r.edit_leaves.clone(),
        steps,
        ratings: rubric
            .dimensions
            .iter()
            .map(|d| {
                (
                    d.title.clone(),
                    r.body
                        .ratings
                        .get(&d.id)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "—".into()),
                )
            })
            .collect(),
        rationale: r.body.rationale.clone(),
        answer: r.body.answer.clone(),
        latest: !all
            .iter()
            .any(|o| o.user_id == r.user_id && o.version > r.version),
    }
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    nav: Nav,
    trace_id: String,
    reviews: Vec<ReviewView>,
    adjudications: Vec<store::StoredAdjudication>,
    show_leaves: bool,
}

/// GET /history?trace=: every version of the reviews of a trace the caller
/// may see: clinicians, and anyone holding an assignment on the trace (an
/// adjudicator who also reviews it), see only their own; other
/// adjudicators, auditors, admins and researchers (pseudonyms only) see all.
pub async fn history_page(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
) -> Result<Response, WebError> {
    let all = store::reviews_of_trace(&state.store, &q.trace).await?;
    let reviewer_of_trace = store::assignment_of(&state.store, &session.user, &q.trace)
        .await?
        .is_some();
    let own_only = session.user.role == Role::Clinician || reviewer_of_trace;
    let visible: Vec<&StoredReview> = match own_only {
        true => {
            let mine: Vec<&StoredReview> = all
                .iter()
                .filter(|r| r.user_id == session.user.id)
                .collect();
            if mine.is_empty() {
                return Err(WebError::forbidden("you have not reviewed this trace"));
            }
            mine
        }
        false => all.iter().collect(),
    };
    let view = store::trace_for_review(&state.store, &q.trace).await?;
    let mut reviews = Vec::new();
    for r in visible {
        let rubric = rubric_of(&state, &r.rubric).await?;
        reviews.push(review_view(r, &rubric, &view.steps, &all));
    }
    let page = HistoryPage {
        nav: Nav::of(&session),
        trace_id: q.trace.clone(),
        reviews,
        adjudications: if own_only {
            Vec::new()
        } else {
            store::adjudications_of(&state.store, &q.trace).await?
        },
        show_leaves: matches!(session.user.role, Role::Auditor | Role::Admin),
    };
    Ok(Html(page.render()?).into_response())
}

#[derive(Template)]
#[template(path = "adjudication_queue.html")]
struct AdjudicationQueuePage {
    nav: Nav,
    entries: Vec<store::QueueEntry>,
    /// The trace just decided (confirmation), if any.
    decided: Option<String>,
    /// The next case this adjudicator may decide.
    next: Option<String>,
}

/// `?decided=TRACE` after a decision.
#[derive(serde::Deserialize)]
pub struct DecidedQuery {
    decided: Option<String>,
}

/// GET /adjudication (adjudicator): the cases awaiting a decision, with a
/// confirmation of the last one decided and a link to the next.
pub async fn adjudication_queue(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<DecidedQuery>,
) -> Result<Response, WebError> {
    session.require(&[Role::Adjudicator])?;
    // Traces this adjudicator reviews are left out: that one is listed here
    // would tell them their review disagreed with another.
    let entries = store::adjudication_open_to(&state.store, &session.user, 500).await?;
    let next = entries.first().map(|e| e.trace_id.clone());
    let page = AdjudicationQueuePage {
        nav: Nav::of(&session),
        entries,
        decided: q.decided.filter(|d| !d.is_empty()),
        next,
    };
    Ok(Html(page.render()?).into_response())
}

/// Adjudication grid row: one original step and each reviewer's label.
pub struct GridRow {
    /// 1-based original step number.
    pub number: usize,
    /// The model's text.
    pub text: String,
    /// (label, class, flags) per review, in review order.
    pub cells: Vec<(String, &'static str, String)>,
    /// Whether labels disagree in sign.
    pub conflict: bool,
}

#[derive(Template)]
#[template(path = "adjudication.html")]
struct AdjudicationPage {
    nav: Nav,
    trace_id: String,
    question: String,
    options: Vec<(char, String)>,
    answer: String,
    reviews: Vec<ReviewView>,
    grid: Vec<GridRow>,
    /// Why the trace is here, one sentence each.
    reasons: Vec<String>,
    /// (dimension title, one rating per review, whether they differ by the policy's gap or more).
    ratings: Vec<(String, Vec<String>, bool)>,
    state: String,
}

/// The pseudonym in a review id `<trace>#<pseudonym>#v<version>`.
fn reviewer_of(review_id: &str) -> &str {
    review_id.rsplit('#').nth(1).unwrap_or(review_id)
}

/// The stored reasons (`{"a", "b", "reasons": [...]}`) in words, with
/// 1-based step numbers and dimension titles.
fn reasons_in_words(reasons: &serde_json::Value, rubric: &Rubric) -> Vec<String> {
    let a = reasons["a"]
        .as_str()
        .map(reviewer_of)
        .unwrap_or("one reviewer");
    let b = reasons["b"].as_str().map(reviewer_of).unwrap_or("another");
    let label = |v: &serde_json::Value| label_text(v.as_i64().and_then(|l| i8::try_from(l).ok())).0;
    reasons["reasons"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|r| match r["kind"].as_str() {
                    Some("step_sign") => format!(
                        "Step {}: {a} labelled it {} and {b} {}.",
                        r["step"].as_u64().map_or(0, |s| s + 1),
                        label(&r["a"]),
                        label(&r["b"])
                    ),
                    Some("rating") => {
                        let id = r["dimension"].as_str().unwrap_or("");
                        let title = rubric.dimension(id).map_or(id, |d| d.title.as_str());
                        format!("{title}: {a} rated it {} and {b} {}.", r["a"], r["b"])
                    }
                    _ => r.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// GET /adjudication/trace?trace= (adjudicator): reviews side by side.
pub async fn adjudication_page(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
) -> Result<Response, WebError> {
    session.require(&[Role::Adjudicator])?;
    // Blindness holds for adjudicators who also review: whoever holds an
    // assignment on the trace (open or submitted) never sees this page.
    if store::assignment_of(&state.store, &session.user, &q.trace)
        .await?
        .is_some()
    {
        return Err(WebError::forbidden(
            "you review this trace; another adjudicator decides it",
        ));
    }
    let view = store::trace_for_review(&state.store, &q.trace).await?;
    let queue = view
        .queue
        .clone()
        .ok_or_else(|| WebError::not_found(format!("trace {} is not queued", q.trace)))?;
    if queue.state != "adjudication" {
        return Err(WebError::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "trace {} is {}, not awaiting adjudication",
                q.trace, queue.state
            ),
        ));
    }
    let all = store::reviews_of_trace(&state.store, &q.trace).await?;
    let latest: Vec<&StoredReview> = all
        .iter()
        .filter(|r| {
            !all.iter()
                .any(|o| o.user_id == r.user_id && o.version > r.version)
        })
        .collect();
    let rubric = rubric_of(&state, &queue.rubric).await?;
    let labels: Vec<Vec<Option<i8>>> = latest
        .iter()
        .map(|r| r.body.original_labels(view.steps.len()))
        .collect();
    let grid = view
        .steps
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let cells = latest
                .iter()
                .zip(&labels)
                .map(|(r, l)| {
                    let (t, c) = label_text(l[i]);
                    let flags = r
                        .body
                        .steps
                        .iter()
                        .find(|s| s.origin == Some(i))
                        .map(|s| s.flags.join(", "))
                        .unwrap_or_else(|| {
                            if r.body.deleted.iter().any(|d| d.origin == i) {
                                "deleted".into()
                            } else {
                                String::new()
                            }
                        });
                    (t, c, flags)
                })
                .collect();
            let signs: Vec<i8> = labels.iter().filter_map(|l| l[i]).map(i8::signum).collect();
            GridRow {
                number: i + 1,
                text: text.clone(),
                cells,
                conflict: signs.contains(&1) && signs.contains(&-1),
            }
        })
        .collect();
    let gap = state.review.policy.rating_gap;
    let ratings = rubric
        .dimensions
        .iter()
        .map(|d| {
            let values: Vec<Option<u8>> = latest
                .iter()
                .map(|r| r.body.ratings.get(&d.id).copied())
                .collect();
            let present: Vec<u8> = values.iter().flatten().copied().collect();
            let spread = present
                .iter()
                .max()
                .zip(present.iter().min())
                .map_or(0, |(hi, lo)| hi - lo);
            (
                d.title.clone(),
                values
                    .iter()
                    .map(|v| {
                        v.map_or_else(
                            || "—".to_owned(),
                            |v| {
                                format!(
                                    "{v} · {}",
                                    d.anchors
                                        .get(usize::from(v.saturating_sub(d.min)))
                                        .map_or("", String::as_str)
                                )
                            },
                        )
                    })
                    .collect(),
                spread >= gap,
            )
        })
        .collect();
    let page = AdjudicationPage {
        nav: Nav::of(&session),
        trace_id: q.trace.clone(),
        question: view
            .case
            .as_ref()
            .map(|c| c.question.clone())
            .unwrap_or_default(),
        options: view
            .case
            .as_ref()
            .map(|c| {
                c.options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| ((b'A' + i as u8) as char, o.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        answer: view
            .answer
            .clone()
            .unwrap_or_else(|| "(no final answer found)".into()),
        reviews: latest
            .iter()
            .map(|r| review_view(r, &rubric, &view.steps, &all))
            .collect(),
        grid,
        reasons: queue
            .reasons
            .as_ref()
            .map(|r| reasons_in_words(r, &rubric))
            .unwrap_or_default(),
        ratings,
        state: queue.state,
    };
    Ok(Html(page.render()?).into_response())
}

/// The decision form.
#[derive(serde::Deserialize)]
pub struct DecisionForm {
    chosen: String,
    rationale: String,
}

/// POST /adjudication/decide?trace= (adjudicator).
pub async fn decide(
    State(state): State<Shared>,
    session: Session,
    Query(q): Query<TraceQuery>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, WebError> {
    session.require(&[Role::Adjudicator])?;
    store::adjudicate(
        &state.store,
        &session.user,
        &q.trace,
        &form.chosen,
        &form.rationale,
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/adjudication?decided={}",
        encode_component(&q.trace)
    ))
    .into_response())
}
