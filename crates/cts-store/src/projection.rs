//! The domain tables as projections of the log.
//!
//! Every row that carries meaning (an account's role, a case's specialty, a
//! trace's answer, a review's labels, an adjudication, a policy, a release, a
//! training run, the queue's count of reviewers, k, state and reasons) is
//! derivable from the events in the log and the content they commit to.
//! [`check`] replays the log, derives what each table must hold, and compares
//! that with what it holds, naming the first differing row and the event it
//! should come from. [`rebuild`] writes the derived rows into a new database.
//!
//! The documented exceptions, which never enter the log: password hashes
//! (bound to their `user.created` event by a digest, `credential`, so a
//! swapped hash is detected), sessions, login throttling counters, drafts,
//! unsubmitted leases, the queue's rubric, specialty and order, a release's
//! output folder and its example index (an index of the release's own files,
//! which the manifest digest in the log binds), and an evaluation,
//! red-teaming or rubric-graded run's folder (its manifest digest is in the
//! `eval.completed`, `redteam.completed` or `healthbench.completed` event).
//!
//! The queue's state and reasons are checked twice: the row must say what
//! the trace's last `review.submitted` (its committed [`QueueOutcome`]) or
//! `adjudication.decided` event says, and the committed outcome must be what
//! [`QueueOutcome::compute`] makes of the current reviews' committed bodies
//! under the committed policy. Submissions written before the outcome was
//! committed leave the state, k and reasons unchecked until the trace's next
//! submission or adjudication (as accounts made before credentials were
//! bound leave their password hash unchecked).
//!
//! Not here: the log's own integrity (entries, tiles, checkpoints, content
//! commitments) — that is [`crate::audit`], which runs first.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use cts_ledger::tile::{split_bundle, TILE_WIDTH};
use cts_ledger::{Commitment, Event};
use rusqlite::types::Value;
use sha2::Digest;

use crate::db::bulk_connection;
use crate::log::read::{for_each_bundle_blocking, ContentLookup};
use crate::log::AuditFailure;
use crate::review::{AdjudicationDecided, QueueOutcome, QueueState, ReviewSubmitted};
use crate::StoreError;
use cts_review::ReviewBody;

const MAX_FAILURES: usize = 100;

/// How a column's values compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Exact SQLite value.
    Exact,
    /// JSON text compared as parsed JSON (formatting may differ).
    Json,
}

/// A table that is a projection of the log: how to read its rows by key.
struct Table {
    name: &'static str,
    /// SQL selecting the key first, then `columns` in order.
    select: &'static str,
    columns: &'static [(&'static str, Kind)],
}

use Kind::{Exact, Json};

const TABLES: &[Table] = &[
    Table {
        name: "cases",
        select: "SELECT id || '@v' || version, digest, specialty, tags, commitment, leaf FROM cases",
        columns: &[
            ("digest", Exact),
            ("specialty", Exact),
            ("tags", Json),
            ("commitment", Exact),
            ("leaf", Exact),
        ],
    },
    Table {
        name: "traces",
        select: "SELECT id, case_id, case_version, sample, run_key, model, params, template, answer_choice,
                 steps, prompt_tokens, completion_tokens, prompt_ms, generation_ms, commitment, leaf, created FROM traces",
        columns: &[
            ("case_id", Exact),
            ("case_version", Exact),
            ("sample", Exact),
            ("run_key", Exact),
            ("model", Json),
            ("params", Json),
            ("template", Exact),
            ("answer_choice", Exact),
            ("steps", Exact),
            ("prompt_tokens", Exact),
            ("completion_tokens", Exact),
            ("prompt_ms", Exact),
            ("generation_ms", Exact),
            ("commitment", Exact),
            ("leaf", Exact),
            ("created", Exact),
        ],
    },
    Table {
        name: "users",
        select: "SELECT pseudonym, role, specialties, disabled, username, password_hash FROM users",
        columns: &[
            ("role", Exact),
            ("specialties", Json),
            ("disabled", Exact),
            ("username", Exact),
            ("credential", Exact),
        ],
    },
    Table {
        name: "rubrics",
        select: "SELECT key, digest, source, leaf, created FROM rubrics",
        columns: &[
            ("digest", Exact),
            ("source", Exact),
            ("leaf", Exact),
            ("created", Exact),
        ],
    },
    Table {
        name: "reviews",
        select: "SELECT r.id, r.trace_id, u.pseudonym, r.version, r.rubric, r.body, r.commitment, r.leaf,
                 r.edit_leaves, r.submitted FROM reviews r LEFT JOIN users u ON u.id = r.user_id",
        columns: &[
            ("trace_id", Exact),
            ("reviewer", Exact),
            ("version", Exact),
            ("rubric", Exact),
            ("body", Json),
            ("commitment", Exact),
            ("leaf", Exact),
            ("edit_leaves", Json),
            ("submitted", Exact),
        ],
    },
    Table {
        name: "adjudications",
        select: "SELECT a.trace_id || '#' || a.version, u.pseudonym, a.chosen, a.rationale, a.leaf, a.decided
                 FROM adjudications a LEFT JOIN users u ON u.id = a.user_id",
        columns: &[
            ("adjudicator", Exact),
            ("chosen", Exact),
            ("rationale", Exact),
            ("leaf", Exact),
            ("decided", Exact),
        ],
    },
    Table {
        name: "policies",
        select: "SELECT id || '@v' || version, title, behaviour, digest, leaf FROM policies",
        columns: &[
            ("title", Exact),
            ("behaviour", Exact),
            ("digest", Exact),
            ("leaf", Exact),
        ],
    },
    Table {
        name: "releases",
        select: "SELECT build, name, manifest_sha256, checkpoint_size, examples, counts, leaf, released FROM releases",
        columns: &[
            ("name", Exact),
            ("manifest_sha256", Exact),
            ("checkpoint_size", Exact),
            ("examples", Exact),
            ("counts", Json),
            ("leaf", Exact),
            ("released", Exact),
        ],
    },
    Table {
        name: "eval_runs",
        select: "SELECT id, model_key, model, mode, template, manifest_sha256, results, leaf, completed FROM eval_runs",
        columns: &[
            ("model_key", Exact),
            ("model", Json),
            ("mode", Exact),
            ("template", Exact),
            ("manifest_sha256", Exact),
            ("results", Json),
            ("leaf", Exact),
            ("completed", Exact),
        ],
    },
    Table {
        name: "healthbench_runs",
        select: "SELECT id, model_key, model, grader, manifest_sha256, results, leaf, completed FROM healthbench_runs",
        columns: &[
            ("model_key", Exact),
            ("model", Json),
            ("grader", Exact),
            ("manifest_sha256", Exact),
            ("results", Json),
            ("leaf", Exact),
            ("completed", Exact),
        ],
    },
    Table {
        name: "redteam_runs",
        select: "SELECT id, target_key, target, judge, strategies, manifest_sha256, results, leaf, completed FROM redteam_runs",
        columns: &[
            ("target_key", Exact),
            ("target", Json),
            ("judge", Exact),
            ("strategies", Json),
            ("manifest_sha256", Exact),
            ("results", Json),
            ("leaf", Exact),
            ("completed", Exact),
        ],
    },
    Table {
        name: "training_runs",
        select: "SELECT id, build, base_model, output_model, config_sha256, trainer, leaf, recorded FROM training_runs",
        columns: &[
            ("build", Exact),
            ("base_model", Json),
            ("output_model", Json),
            ("config_sha256", Exact),
            ("trainer", Exact),
            ("leaf", Exact),
            ("recorded", Exact),
        ],
    },
    Table {
        name: "review_queue",
        select: "SELECT trace_id, submitted, required, state, reasons FROM review_queue",
        columns: &[
            ("submitted", Exact),
            ("required", Exact),
            ("state", Exact),
            ("reasons", Json),
        ],
    },
    Table {
        name: "assignments",
        select: "SELECT a.trace_id || '#' || u.pseudonym, a.submitted FROM assignments a
                 LEFT JOIN users u ON u.id = a.user_id WHERE a.submitted = 1",
        columns: &[("submitted", Exact)],
    },
];

/// The digest that binds an account's password hash to its `user.created`
/// event: SHA-256 of `cts-credential-v1\0 ‖ pseudonym ‖ \0 ‖ PHC string`,
/// hex. The PHC string carries a random salt, so the digest reveals nothing
/// about the password.
pub fn credential_digest(pseudonym: &str, password_hash: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"cts-credential-v1\0");
    h.update(pseudonym.as_bytes());
    h.update(b"\0");
    h.update(password_hash.as_bytes());
    hex::encode(h.finalize())
}

/// One derived row: the event it comes from and its columns (`None`: the log
/// cannot say, e.g. the content it depends on was erased).
#[derive(Clone, Debug)]
struct Derived {
    leaf: u64,
    columns: Vec<Option<Value>>,
}

/// What the log says every projection table must hold.
#[derive(Default)]
struct Projection {
    tables: BTreeMap<&'static str, BTreeMap<String, Derived>>,
    /// Reviewers per trace, for the queue count.
    reviewers: BTreeMap<String, (u64, std::collections::BTreeSet<String>)>,
    /// Per trace, each reviewer's latest review (leaf, id), for recomputing
    /// the queue's outcome from the bodies the `reviews` rows derive.
    current: BTreeMap<String, BTreeMap<String, (u64, String)>>,
    /// Per trace, the queue row its last outcome-bearing event says.
    queue: BTreeMap<String, QueueDerived>,
    /// Content rows erased by a `content.redacted` event, and by which leaf.
    redactions: Vec<(Commitment, u64)>,
    findings: Vec<AuditFailure>,
    events: u64,
}

/// What the log says a trace's queue row holds beyond its count (`None`:
/// the log cannot say, see the module doc).
#[derive(Clone, Debug, Default)]
struct QueueDerived {
    leaf: u64,
    required: Option<i64>,
    state: Option<QueueState>,
    /// The `reasons` column: JSON text or NULL.
    reasons: Option<Value>,
}

/// Result of comparing the tables with the log.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ProjectionReport {
    /// Events replayed.
    pub events: u64,
    /// Rows compared, per table.
    pub rows: BTreeMap<String, u64>,
    /// Everything found wrong, first failure first (at most 100).
    pub failures: Vec<AuditFailure>,
}

impl ProjectionReport {
    /// Whether every table agrees with the log.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Rows compared in all tables.
    pub fn total_rows(&self) -> u64 {
        self.rows.values().sum()
    }
}

fn text(v: &serde_json::Value) -> Option<Value> {
    match v {
        serde_json::Value::Null => Some(Value::Null),
        serde_json::Value::String(s) => Some(Value::Text(s.clone())),
        other => Some(Value::Text(other.to_string())),
    }
}

fn int(v: &serde_json::Value) -> Option<Value> {
    v.as_i64().map(Value::Integer)
}

fn subject<'e>(e: &'e Event, prefix: &str) -> Option<&'e str> {
    e.subjects.iter().find_map(|s| s.strip_prefix(prefix))
}

/// A content row's salt and bytes (both gone once erased).
/// The content named `name` in `e`, parsed as JSON, if it opens its commitment.
fn content_json(
    content: &mut ContentLookup<'_>,
    e: &Event,
    name: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    let Some(c) = e.content.get(name) else {
        return Ok(None);
    };
    Ok(content
        .get(c)?
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()))
}

impl Projection {
    fn put(&mut self, table: &'static str, key: String, leaf: u64, columns: Vec<Option<Value>>) {
        let rows = self.tables.entry(table).or_default();
        if let Some(prev) = rows.get(&key) {
            let place = format!("leaf {leaf}");
            let problem = format!(
                "{table} {key:?} was already recorded by leaf {}; the log records it twice",
                prev.leaf
            );
            self.fail(place, problem);
            return;
        }
        rows.insert(key, Derived { leaf, columns });
    }

    fn fail(&mut self, place: String, problem: String) {
        if self.findings.len() < MAX_FAILURES {
            self.findings.push(AuditFailure { place, problem });
        }
    }

    /// Changes one column of an earlier row (role changes, disabling,
    /// renames; `None`: the log cannot say, e.g. an erased name).
    fn amend(
        &mut self,
        table: &'static str,
        key: &str,
        column: usize,
        value: Option<Value>,
        leaf: u64,
    ) {
        match self.tables.get_mut(table).and_then(|t| t.get_mut(key)) {
            Some(row) => {
                row.columns[column] = value;
                row.leaf = leaf;
            }
            None => self.fail(
                format!("leaf {leaf}"),
                format!("changes {table} {key:?}, which no earlier event created"),
            ),
        }
    }

    /// Records what a `review.submitted` event says of its trace's queue row,
    /// after checking the committed outcome against the reviewer count and
    /// against the outcome recomputed from the current reviews.
    fn queue_outcome(
        &mut self,
        leaf: u64,
        trace: &str,
        committed: Option<&QueueOutcome>,
        reviewers: i64,
    ) {
        let Some(q) = committed else {
            // Written before outcomes were committed: the log cannot say.
            self.queue.insert(
                trace.to_owned(),
                QueueDerived {
                    leaf,
                    ..QueueDerived::default()
                },
            );
            return;
        };
        self.queue.insert(
            trace.to_owned(),
            QueueDerived {
                leaf,
                required: Some(q.required),
                state: Some(q.state),
                reasons: Some(q.reasons_json().map_or(Value::Null, Value::Text)),
            },
        );
        if q.submitted != reviewers {
            self.fail(
                format!("leaf {leaf}"),
                format!(
                    "review.submitted commits {} reviewers of {trace}, but the log holds {reviewers}",
                    q.submitted
                ),
            );
            return;
        }
        let steps = self
            .tables
            .get("traces")
            .and_then(|t| t.get(trace))
            .and_then(|r| match r.columns[8] {
                Some(Value::Integer(n)) => usize::try_from(n).ok(),
                _ => None,
            });
        let mut latest: Vec<&(u64, String)> = self
            .current
            .get(trace)
            .into_iter()
            .flat_map(|m| m.values())
            .collect();
        latest.sort_by_key(|(l, _)| *l);
        let reviews = self.tables.get("reviews");
        let bodies: Option<Vec<(&str, ReviewBody)>> = latest
            .iter()
            .map(|(_, id)| {
                let body = match reviews?.get(id)?.columns[4].as_ref()? {
                    Value::Text(t) => serde_json::from_str::<ReviewBody>(t).ok()?,
                    _ => return None,
                };
                Some((id.as_str(), body))
            })
            .collect();
        // An erased review or trace leaves nothing to recompute from.
        let (Some(steps), Some(bodies)) = (steps, bodies) else {
            return;
        };
        let bodies: Vec<(&str, &ReviewBody)> = bodies.iter().map(|(id, b)| (*id, b)).collect();
        let want = QueueOutcome::compute(q.policy, q.required, q.submitted, &bodies, steps);
        if want.state != q.state || want.reasons != q.reasons {
            let problem = format!(
                "review.submitted commits queue state {} for {trace}, but its current reviews under the committed policy make it {}{}",
                q.state.as_str(),
                want.state.as_str(),
                if want.state == q.state { " with other reasons" } else { "" }
            );
            self.fail(format!("leaf {leaf}"), problem);
        }
    }

    fn apply(
        &mut self,
        leaf: u64,
        e: &Event,
        content: &mut ContentLookup<'_>,
    ) -> Result<(), StoreError> {
        self.events += 1;
        let b = &e.body;
        let commitment = |name: &str| e.content.get(name).map(|c| Value::Blob(c.0.to_vec()));
        match e.kind.as_str() {
            "case.imported" => {
                let Some(id) = subject(e, "case:") else {
                    {
                        self.fail(format!("leaf {leaf}"), "case.imported names no case".into());
                        return Ok(());
                    }
                };
                let digest = b["digest"].as_str().and_then(|d| hex::decode(d).ok());
                self.put(
                    "cases",
                    format!("{id}@v{}", b["version"]),
                    leaf,
                    vec![
                        digest.map(Value::Blob),
                        text(&b["specialty"]),
                        text(&b["tags"]),
                        commitment("case"),
                        Some(Value::Integer(leaf as i64)),
                    ],
                );
            }
            "trace.generated" => {
                let (Some(id), Some(case)) = (subject(e, "trace:"), subject(e, "case:")) else {
                    {
                        self.fail(
                            format!("leaf {leaf}"),
                            "trace.generated names no trace or case".into(),
                        );
                        return Ok(());
                    }
                };
                let usage = content_json(content, e, "trace")?.map(|d| d["usage"].clone());
                let ms = |k: &str| usage.as_ref().and_then(|u| u[k].as_f64()).map(Value::Real);
                self.put(
                    "traces",
                    id.to_owned(),
                    leaf,
                    vec![
                        Some(Value::Text(case.to_owned())),
                        int(&b["case_version"]),
                        int(&b["sample"]),
                        text(&b["run_key"]),
                        text(&b["model"]),
                        text(&b["params"]),
                        text(&b["template"]),
                        text(&b["answer_choice"]),
                        int(&b["steps"]),
                        int(&b["prompt_tokens"]),
                        int(&b["completion_tokens"]),
                        ms("prompt_ms"),
                        ms("generation_ms"),
                        commitment("trace"),
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
            }
            "user.created" => {
                let Some(p) = subject(e, "user:") else {
                    {
                        self.fail(format!("leaf {leaf}"), "user.created names no user".into());
                        return Ok(());
                    }
                };
                let username = match e.content.get("username") {
                    Some(c) => content
                        .get(c)?
                        .and_then(|b| String::from_utf8(b).ok())
                        .map(Value::Text),
                    // Accounts made before usernames were committed.
                    None => None,
                };
                self.put(
                    "users",
                    p.to_owned(),
                    leaf,
                    vec![
                        text(&b["role"]),
                        text(&b["specialties"]),
                        Some(Value::Integer(0)),
                        username,
                        b["credential"].as_str().map(|s| Value::Text(s.to_owned())),
                    ],
                );
            }
            "user.renamed" => {
                let Some(p) = subject(e, "user:") else {
                    self.fail(format!("leaf {leaf}"), "user.renamed names no user".into());
                    return Ok(());
                };
                let Some(c) = e.content.get("username") else {
                    self.fail(
                        format!("leaf {leaf}"),
                        "user.renamed commits no name".into(),
                    );
                    return Ok(());
                };
                // An erased name: the log cannot say what it is (None).
                let name = content.get(c)?.and_then(|b| String::from_utf8(b).ok());
                self.amend("users", p, 3, name.map(Value::Text), leaf);
            }
            "user.role_changed" | "user.disabled" => {
                let Some(p) = subject(e, "user:") else {
                    {
                        self.fail(format!("leaf {leaf}"), format!("{} names no user", e.kind));
                        return Ok(());
                    }
                };
                let (column, value) = if e.kind.as_str() == "user.role_changed" {
                    (0, text(&b["role"]))
                } else {
                    (
                        2,
                        b["disabled"]
                            .as_bool()
                            .map(|d| Value::Integer(i64::from(d))),
                    )
                };
                match value {
                    Some(v) => self.amend("users", p, column, Some(v), leaf),
                    None => self.fail(format!("leaf {leaf}"), format!("{} has no value", e.kind)),
                }
            }
            "rubric.registered" => {
                let source = match e.content.get("rubric") {
                    Some(c) => content
                        .get(c)?
                        .and_then(|b| String::from_utf8(b).ok())
                        .map(Value::Text),
                    None => None,
                };
                self.put(
                    "rubrics",
                    b["rubric"].as_str().unwrap_or_default().to_owned(),
                    leaf,
                    vec![
                        text(&b["digest"]),
                        source,
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
            }
            crate::review::REVIEW_SUBMITTED => {
                let reviewer = e.actor.strip_prefix("user:").unwrap_or_default().to_owned();
                let record: ReviewSubmitted = match serde_json::from_value(b.clone()) {
                    Ok(r) => r,
                    Err(err) => {
                        self.fail(
                            format!("leaf {leaf}"),
                            format!("review.submitted body does not read: {err}"),
                        );
                        return Ok(());
                    }
                };
                let (id, trace) = (record.review.as_str(), record.trace.as_str());
                if subject(e, "review:") != Some(id) || subject(e, "trace:") != Some(trace) {
                    self.fail(
                        format!("leaf {leaf}"),
                        "review.submitted: its subjects and body name different reviews or traces"
                            .into(),
                    );
                }
                let body = content_json(content, e, "review")?.map(|v| Value::Text(v.to_string()));
                self.put(
                    "reviews",
                    id.to_owned(),
                    leaf,
                    vec![
                        Some(Value::Text(trace.to_owned())),
                        Some(Value::Text(reviewer.clone())),
                        Some(Value::Integer(record.version)),
                        Some(Value::Text(record.rubric.clone())),
                        body,
                        commitment("review"),
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text("[]".into())),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
                let entry = self
                    .reviewers
                    .entry(trace.to_owned())
                    .or_insert((leaf, Default::default()));
                entry.0 = leaf;
                entry.1.insert(reviewer.clone());
                let reviewers = entry.1.len() as i64;
                self.current
                    .entry(trace.to_owned())
                    .or_default()
                    .insert(reviewer.clone(), (leaf, id.to_owned()));
                self.queue_outcome(leaf, trace, record.queue.as_ref(), reviewers);
                let key = format!("{trace}#{reviewer}");
                if !self
                    .tables
                    .get("assignments")
                    .is_some_and(|t| t.contains_key(&key))
                {
                    self.put("assignments", key, leaf, vec![Some(Value::Integer(1))]);
                }
            }
            "step.edited" => {
                let Some(review) = b["review"].as_str() else {
                    {
                        self.fail(format!("leaf {leaf}"), "step.edited names no review".into());
                        return Ok(());
                    }
                };
                let found = self
                    .tables
                    .get_mut("reviews")
                    .and_then(|t| t.get_mut(review))
                    .filter(|r| r.leaf < leaf);
                match found {
                    Some(row) => {
                        let mut leaves: Vec<u64> = match &row.columns[7] {
                            Some(Value::Text(t)) => serde_json::from_str(t).unwrap_or_default(),
                            _ => Vec::new(),
                        };
                        leaves.push(leaf);
                        row.columns[7] = serde_json::to_string(&leaves).ok().map(Value::Text);
                    }
                    None => self.fail(
                        format!("leaf {leaf}"),
                        format!("step.edited refers to review {review:?}, which no earlier event submitted"),
                    ),
                }
            }
            crate::review::ADJUDICATION_DECIDED => {
                let record: AdjudicationDecided = match serde_json::from_value(b.clone()) {
                    Ok(r) => r,
                    Err(err) => {
                        self.fail(
                            format!("leaf {leaf}"),
                            format!("adjudication.decided body does not read: {err}"),
                        );
                        return Ok(());
                    }
                };
                let (trace, chosen) = (record.trace.as_str(), record.chosen.as_str());
                let reviews = self.tables.get("reviews");
                let exists = |id: &str| {
                    reviews.and_then(|t| t.get(id)).is_some_and(|r| {
                        r.leaf < leaf && r.columns[0] == Some(Value::Text(trace.to_owned()))
                    })
                };
                if let Some(missing) = std::iter::once(chosen)
                    .chain(record.considered.iter().map(String::as_str))
                    .find(|id| !exists(id))
                {
                    self.fail(
                        format!("leaf {leaf}"),
                        format!("adjudication of {trace} refers to review {missing:?}, which no earlier event submitted for that trace"),
                    );
                }
                let rationale = content_json(content, e, "decision")?
                    .and_then(|d| d["rationale"].as_str().map(|s| Value::Text(s.to_owned())));
                let adjudicator = e.actor.strip_prefix("user:").unwrap_or_default();
                let queue = self.queue.entry(trace.to_owned()).or_default();
                let before = queue.state;
                queue.leaf = leaf;
                queue.state = Some(QueueState::Adjudicated);
                if let Some(state) = before.filter(|s| *s != QueueState::Adjudication) {
                    self.fail(
                        format!("leaf {leaf}"),
                        format!(
                            "adjudication of {trace} decided while the log has it {}, not awaiting adjudication",
                            state.as_str()
                        ),
                    );
                }
                self.put(
                    "adjudications",
                    format!("{trace}#{}", record.version),
                    leaf,
                    vec![
                        Some(Value::Text(adjudicator.to_owned())),
                        Some(Value::Text(chosen.to_owned())),
                        rationale,
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
            }
            "policy.registered" => {
                let policy = content_json(content, e, "policy")?;
                let field = |k: &str| {
                    policy
                        .as_ref()
                        .and_then(|p| p[k].as_str().map(|s| Value::Text(s.to_owned())))
                };
                self.put(
                    "policies",
                    format!("{}@v{}", b["id"].as_str().unwrap_or_default(), b["version"]),
                    leaf,
                    vec![
                        field("title"),
                        field("behaviour"),
                        text(&b["digest"]),
                        Some(Value::Integer(leaf as i64)),
                    ],
                );
            }
            "dataset.released" => {
                self.put(
                    "releases",
                    b["build"].as_str().unwrap_or_default().to_owned(),
                    leaf,
                    vec![
                        text(&b["name"]),
                        text(&b["manifest_sha256"]),
                        int(&b["checkpoint_size"]),
                        int(&b["examples"]),
                        text(&b["counts"]),
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
            }
            "training.recorded" => {
                let (Some(id), Some(build)) = (subject(e, "training:"), subject(e, "release:"))
                else {
                    {
                        self.fail(
                            format!("leaf {leaf}"),
                            "training.recorded names no run or release".into(),
                        );
                        return Ok(());
                    }
                };
                self.put(
                    "training_runs",
                    id.to_owned(),
                    leaf,
                    vec![
                        Some(Value::Text(build.to_owned())),
                        text(&b["base_model"]),
                        text(&b["output_model"]),
                        text(&b["config_sha256"]),
                        text(&b["trainer"]),
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
            }
            crate::healthbench::HEALTHBENCH_COMPLETED => {
                let record: crate::healthbench::HealthbenchCompleted =
                    match serde_json::from_value(b.clone()) {
                        Ok(r) => r,
                        Err(err) => {
                            self.fail(
                                format!("leaf {leaf}"),
                                format!("healthbench.completed body does not read: {err}"),
                            );
                            return Ok(());
                        }
                    };
                if subject(e, "healthbench:") != Some(record.id.as_str()) {
                    self.fail(
                        format!("leaf {leaf}"),
                        format!(
                            "healthbench.completed subject does not name its run {}",
                            record.id
                        ),
                    );
                    return Ok(());
                }
                self.put(
                    "healthbench_runs",
                    record.id.clone(),
                    leaf,
                    vec![
                        Some(Value::Text(record.model_key.clone())),
                        text(&b["model"]),
                        Some(Value::Text(record.grader.clone())),
                        Some(Value::Text(record.manifest_sha256.clone())),
                        text(&b["results"]),
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
            }
            crate::redteam::REDTEAM_COMPLETED => {
                let record: crate::redteam::RedteamCompleted =
                    match serde_json::from_value(b.clone()) {
                        Ok(r) => r,
                        Err(err) => {
                            self.fail(
                                format!("leaf {leaf}"),
                                format!("redteam.completed body does not read: {err}"),
                            );
                            return Ok(());
                        }
                    };
                if subject(e, "redteam:") != Some(record.id.as_str()) {
                    self.fail(
                        format!("leaf {leaf}"),
                        format!(
                            "redteam.completed subject does not name its run {}",
                            record.id
                        ),
                    );
                    return Ok(());
                }
                self.put(
                    "redteam_runs",
                    record.id.clone(),
                    leaf,
                    vec![
                        Some(Value::Text(record.target_key.clone())),
                        text(&b["target"]),
                        Some(Value::Text(record.judge.clone())),
                        text(&b["strategies"]),
                        Some(Value::Text(record.manifest_sha256.clone())),
                        text(&b["results"]),
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
            }
            crate::evals::EVAL_COMPLETED => {
                let record: crate::evals::EvalCompleted = match serde_json::from_value(b.clone()) {
                    Ok(r) => r,
                    Err(err) => {
                        self.fail(
                            format!("leaf {leaf}"),
                            format!("eval.completed body does not read: {err}"),
                        );
                        return Ok(());
                    }
                };
                if subject(e, "eval:") != Some(record.id.as_str()) {
                    self.fail(
                        format!("leaf {leaf}"),
                        format!("eval.completed subject does not name its run {}", record.id),
                    );
                    return Ok(());
                }
                self.put(
                    "eval_runs",
                    record.id.clone(),
                    leaf,
                    vec![
                        Some(Value::Text(record.model_key.clone())),
                        text(&b["model"]),
                        Some(Value::Text(record.mode.clone())),
                        Some(Value::Text(record.template.clone())),
                        Some(Value::Text(record.manifest_sha256.clone())),
                        text(&b["results"]),
                        Some(Value::Integer(leaf as i64)),
                        Some(Value::Text(e.time.clone())),
                    ],
                );
            }
            "content.redacted" => {
                for c in e
                    .subjects
                    .iter()
                    .filter_map(|s| s.strip_prefix("content:")?.parse::<Commitment>().ok())
                {
                    self.redactions.push((c, leaf));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// JSON equality as RFC 8785 sees it: numbers compare by value, so the
/// `0.0` a row was written with equals the `0` its canonical event holds.
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (a, b) {
        (J::Number(x), J::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn same(kind: Kind, derived: &Value, stored: &Value) -> bool {
    match (kind, derived, stored) {
        (Kind::Json, Value::Text(a), Value::Text(b)) => {
            match (
                serde_json::from_str::<serde_json::Value>(a),
                serde_json::from_str::<serde_json::Value>(b),
            ) {
                (Ok(a), Ok(b)) => json_eq(&a, &b),
                _ => false,
            }
        }
        // Reals stored by SQLite come back bit-for-bit; integers may be read back as reals.
        (_, Value::Real(a), Value::Integer(b)) | (_, Value::Integer(b), Value::Real(a)) => {
            *a == *b as f64
        }
        (_, a, b) => a == b,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Text(t) if t.chars().count() > 80 => {
            format!("{:?}…", t.chars().take(80).collect::<String>())
        }
        Value::Text(t) => format!("{t:?}"),
        Value::Blob(b) => hex::encode(b),
    }
}

/// Replays the log (read on the connection `conn`) into a projection.
fn replay(
    conn: &rusqlite::Connection,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Projection, StoreError> {
    let mut projection = Projection::default();
    let mut content = ContentLookup::new(conn)?;
    for_each_bundle_blocking(conn, |idx, bytes| {
        let entries = split_bundle(bytes)
            .map_err(|e| StoreError::Inconsistent(format!("entry bundle {idx}: {e}")))?;
        for (i, entry) in entries.iter().enumerate() {
            let leaf = idx as u64 * TILE_WIDTH + i as u64;
            match Event::decode(entry) {
                Ok(event) => projection.apply(leaf, &event, &mut content)?,
                Err(e) => projection.fail(
                    format!("leaf {leaf}"),
                    format!("not a valid CTS event: {e}"),
                ),
            }
        }
        progress(projection.events);
        Ok(())
    })?;
    let counts: Vec<(String, u64, i64)> = projection
        .reviewers
        .iter()
        .map(|(t, (leaf, who))| (t.clone(), *leaf, who.len() as i64))
        .collect();
    for (trace, leaf, n) in counts {
        let q = projection.queue.remove(&trace).unwrap_or_default();
        projection.put(
            "review_queue",
            trace,
            leaf.max(q.leaf),
            vec![
                Some(Value::Integer(n)),
                q.required.map(Value::Integer),
                q.state.map(|s| Value::Text(s.as_str().to_owned())),
                q.reasons,
            ],
        );
    }
    Ok(projection)
}

/// Compares every projection table with what the log says it must hold.
fn compare(
    conn: &rusqlite::Connection,
    mut projection: Projection,
) -> Result<ProjectionReport, StoreError> {
    let mut report = ProjectionReport {
        events: projection.events,
        ..ProjectionReport::default()
    };
    let mut found = std::mem::take(&mut projection.findings);
    let mut add = |place: String, problem: String| {
        if found.len() < MAX_FAILURES {
            found.push(AuditFailure { place, problem });
        }
    };
    for table in TABLES {
        let mut derived = projection.tables.remove(table.name).unwrap_or_default();
        let mut stmt = conn.prepare(table.select)?;
        let mut rows = stmt.query([])?;
        let mut count = 0u64;
        // Rows whose failures are reported in leaf order, so the first names the earliest event.
        let mut problems: Vec<(u64, String, String)> = Vec::new();
        while let Some(row) = rows.next()? {
            count += 1;
            let key: String = match row.get::<_, Option<String>>(0)? {
                Some(k) => k,
                None => {
                    problems.push((
                        u64::MAX,
                        format!("{} row", table.name),
                        "a row without a key (its account is gone)".into(),
                    ));
                    continue;
                }
            };
            let place = format!("{} {key:?}", table.name);
            let Some(d) = derived.remove(&key) else {
                if table.name == "review_queue" {
                    let submitted: i64 = row.get(1)?;
                    let state: String = row.get(3)?;
                    let reasons: Option<String> = row.get(4)?;
                    if submitted == 0 && state == "open" && reasons.is_none() {
                        continue; // queued, not yet reviewed: nothing in the log yet
                    }
                    if submitted == 0 {
                        problems.push((u64::MAX, place, format!("column state holds {state:?} (or reasons are set), but no event in the log reviewed this trace: it must be \"open\"")));
                        continue;
                    }
                }
                problems.push((u64::MAX, place, "no event in the log records this row (it was inserted or re-keyed in the database)".into()));
                continue;
            };
            for (i, (column, kind)) in table.columns.iter().enumerate() {
                let Some(want) = &d.columns[i] else { continue };
                let got: Value = if table.name == "users" && *column == "credential" {
                    // The stored hash is bound by its digest, never compared as such.
                    match row.get::<_, Option<String>>(i + 1)? {
                        Some(h) => Value::Text(credential_digest(&key, &h)),
                        None => Value::Null,
                    }
                } else {
                    row.get(i + 1)?
                };
                if !same(*kind, want, &got) {
                    let problem = if *column == "credential" {
                        format!(
                            "the password hash is not the one bound to the account by leaf {}",
                            d.leaf
                        )
                    } else {
                        format!(
                            "column {column} holds {} but the log (leaf {}) says {}",
                            show(&got),
                            d.leaf,
                            show(want)
                        )
                    };
                    problems.push((d.leaf, place.clone(), problem));
                    break;
                }
            }
        }
        for (key, d) in derived {
            if table.name == "review_queue" {
                // Traces are queued only where the workbench runs.
                continue;
            }
            problems.push((
                d.leaf,
                format!("{} {key:?}", table.name),
                format!(
                    "missing: leaf {} records it but the table has no such row",
                    d.leaf
                ),
            ));
        }
        problems.sort_by_key(|p| p.0);
        for (_, place, problem) in problems {
            add(place, problem);
        }
        report.rows.insert(table.name.to_owned(), count);
    }
    // An erasure event means the content is gone.
    let mut content = ContentLookup::new(conn)?;
    for (c, leaf) in &projection.redactions {
        let state = content.erasure(c)?;
        match state {
            Some((true, Some(at))) if at as u64 == *leaf => {}
            Some((false, _)) => add(
                format!("leaf {leaf}"),
                format!("records the erasure of content {c}, but that content is still stored"),
            ),
            Some(_) => add(
                format!("leaf {leaf}"),
                format!(
                    "records the erasure of content {c}, but the content row names another erasure"
                ),
            ),
            None => add(
                format!("leaf {leaf}"),
                format!("records the erasure of content {c}, which no event committed to"),
            ),
        }
    }
    report.failures = found;
    Ok(report)
}

/// Replays the log of the database at `path` and compares every projection
/// table with it. `progress` is called with the number of events replayed.
pub fn check(path: &Path, progress: &(dyn Fn(u64) + Sync)) -> Result<ProjectionReport, StoreError> {
    let conn = bulk_connection(path, true)?;
    conn.execute_batch("BEGIN")?;
    let projection = replay(&conn, progress)?;
    let report = compare(&conn, projection);
    let _ = conn.execute_batch("COMMIT");
    report
}

/// What [`rebuild`] wrote.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RebuildReport {
    /// Events replayed.
    pub events: u64,
    /// Rows written, per table.
    pub rows: BTreeMap<String, u64>,
    /// Accounts whose password hash could not be carried over (not bound
    /// to the log, or bound to another): they cannot sign in until reset.
    pub accounts_without_password: Vec<String>,
}

/// Reconstructs the projection tables from the log alone into a new
/// database at `out` (which must not exist): the log tables are copied, then
/// every projection row is derived from the events. What the log does not
/// hold is documented in the module doc; of it, only password hashes whose
/// binding verifies and the queue's rubric, specialty and order (and, for
/// traces whose events predate committed queue outcomes, k, state and
/// reasons) are carried over from the old database.
pub fn rebuild(
    source: &Path,
    out: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<RebuildReport, StoreError> {
    if out.exists() {
        return Err(StoreError::Invalid {
            field: "output",
            reason: format!("{} exists; rebuild writes a new database", out.display()),
        });
    }
    let old = bulk_connection(source, true)?;
    old.execute_batch("BEGIN")?;
    let projection = replay(&old, progress)?;
    if let Some(f) = projection.findings.first() {
        return Err(StoreError::Inconsistent(format!(
            "the log cannot be replayed: {f}"
        )));
    }
    let tmp = out.with_extension("rebuild-tmp");
    let _ = std::fs::remove_file(&tmp);
    let result = write_rebuild(&old, &tmp, projection);
    let _ = old.execute_batch("COMMIT");
    match result {
        Ok(report) => {
            std::fs::rename(&tmp, out).map_err(|source| StoreError::File {
                doing: "moving the rebuilt database to",
                path: out.to_owned(),
                source,
            })?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn col(d: &Derived, i: usize) -> Value {
    d.columns[i].clone().unwrap_or(Value::Null)
}

fn write_rebuild(
    old: &rusqlite::Connection,
    path: &Path,
    mut p: Projection,
) -> Result<RebuildReport, StoreError> {
    // The schema comes from the migrations, as any new store's does.
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::Runtime)?;
        rt.block_on(async {
            let pool = crate::db::open_pool(path).await?;
            pool.close().await;
            Ok::<_, StoreError>(())
        })?;
    }
    let mut report = RebuildReport {
        events: p.events,
        ..RebuildReport::default()
    };
    let mut new = rusqlite::Connection::open(path)?;
    let tx = new.transaction()?;
    tx.execute(
        "ATTACH DATABASE ?1 AS old",
        [old.path().unwrap_or_default()],
    )?;
    for t in crate::log::TABLES {
        let n = tx.execute(&format!("INSERT INTO main.{t} SELECT * FROM old.{t}"), [])?;
        report.rows.insert(t.to_owned(), n as u64);
    }
    let mut bump = |t: &str| *report.rows.entry(t.to_owned()).or_default() += 1;
    let empty = BTreeMap::new();
    let table = |p: &Projection, t: &str| p.tables.get(t).cloned().unwrap_or_else(|| empty.clone());

    // Accounts: role, specialties and state from the log; the username from
    // the log where it was committed; the password hash only where its
    // binding verifies.
    let old_users: HashMap<String, (String, String, String)> = {
        let mut stmt =
            old.prepare("SELECT pseudonym, username, password_hash, created FROM users")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let mut user_ids: HashMap<String, i64> = HashMap::new();
    for (pseudonym, d) in table(&p, "users") {
        let (old_name, old_hash, created) = old_users.get(&pseudonym).cloned().unwrap_or_default();
        let username = match &d.columns[3] {
            Some(Value::Text(u)) => u.clone(),
            _ if !old_name.is_empty() => old_name,
            _ => pseudonym.clone(),
        };
        let bound = matches!(&d.columns[4], Some(Value::Text(c)) if *c == credential_digest(&pseudonym, &old_hash));
        let hash = if bound {
            old_hash
        } else {
            report.accounts_without_password.push(username.clone());
            "!".to_owned() // no password verifies against this
        };
        tx.execute(
            "INSERT INTO users (username, pseudonym, role, specialties, password_hash, disabled, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rusqlite::params![username, pseudonym, col(&d, 0), col(&d, 1), hash, col(&d, 2), created],
        )?;
        user_ids.insert(pseudonym, tx.last_insert_rowid());
        bump("users");
    }
    let uid = |pseudonym: &Value| match pseudonym {
        Value::Text(p) => user_ids.get(p).copied().map_or(Value::Null, Value::Integer),
        _ => Value::Null,
    };
    for (key, d) in table(&p, "cases") {
        let (id, version) = key.rsplit_once("@v").unwrap_or((&key, "0"));
        tx.execute(
            "INSERT INTO cases (id, version, digest, specialty, tags, commitment, leaf) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rusqlite::params![id, version.parse::<i64>().unwrap_or(0), col(&d, 0), col(&d, 1), col(&d, 2), col(&d, 3), col(&d, 4)],
        )?;
        bump("cases");
    }
    for (id, d) in table(&p, "traces") {
        let mut values = vec![Value::Text(id)];
        values.extend((0..16).map(|i| col(&d, i)));
        // Timings live in the trace's content; an erased trace keeps zeros.
        for i in [12, 13] {
            if values[i] == Value::Null {
                values[i] = Value::Real(0.0);
            }
        }
        tx.execute(
            "INSERT INTO traces (id, case_id, case_version, sample, run_key, model, params, template, answer_choice,
             steps, prompt_tokens, completion_tokens, prompt_ms, generation_ms, commitment, leaf, created)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rusqlite::params_from_iter(values),
        )?;
        bump("traces");
    }
    for (key, d) in table(&p, "rubrics") {
        tx.execute(
            "INSERT INTO rubrics (key, digest, source, leaf, created) VALUES (?, ?, ?, ?, ?)",
            rusqlite::params![key, col(&d, 0), col(&d, 1), col(&d, 2), col(&d, 3)],
        )?;
        bump("rubrics");
    }
    for (id, d) in table(&p, "reviews") {
        let body = match col(&d, 4) {
            Value::Null => Value::Text(
                serde_json::json!({ "rubric": col_text(&d, 3), "steps": [] }).to_string(),
            ),
            b => b,
        };
        tx.execute(
            "INSERT INTO reviews (id, trace_id, user_id, version, rubric, body, commitment, leaf, edit_leaves, submitted)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rusqlite::params![id, col(&d, 0), uid(&col(&d, 1)), col(&d, 2), col(&d, 3), body, col(&d, 5), col(&d, 6), col(&d, 7), col(&d, 8)],
        )?;
        bump("reviews");
    }
    for (key, _) in table(&p, "assignments") {
        let (trace, pseudonym) = key.rsplit_once('#').unwrap_or((&key, ""));
        tx.execute(
            "INSERT INTO assignments (trace_id, user_id, leased_until, submitted) VALUES (?, ?, 0, 1)",
            rusqlite::params![trace, uid(&Value::Text(pseudonym.to_owned()))],
        )?;
        bump("assignments");
    }
    for (key, d) in table(&p, "adjudications") {
        let (trace, version) = key.rsplit_once('#').unwrap_or((&key, "0"));
        tx.execute(
            "INSERT INTO adjudications (trace_id, version, user_id, chosen, rationale, leaf, decided) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rusqlite::params![trace, version.parse::<i64>().unwrap_or(0), uid(&col(&d, 0)), col(&d, 1), col_or(&d, 2, ""), col(&d, 3), col(&d, 4)],
        )?;
        bump("adjudications");
    }
    for (key, d) in table(&p, "policies") {
        let (id, version) = key.rsplit_once("@v").unwrap_or((&key, "0"));
        tx.execute(
            "INSERT INTO policies (id, version, title, behaviour, digest, leaf) VALUES (?, ?, ?, ?, ?, ?)",
            rusqlite::params![id, version.parse::<i64>().unwrap_or(0), col_or(&d, 0, ""), col_or(&d, 1, ""), col(&d, 2), col(&d, 3)],
        )?;
        bump("policies");
    }
    for (build, d) in table(&p, "releases") {
        tx.execute(
            "INSERT INTO releases (build, name, manifest_sha256, checkpoint_size, examples, counts, dir, leaf, released)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE((SELECT dir FROM old.releases WHERE build = ?1), ''), ?7, ?8)",
            rusqlite::params![build, col(&d, 0), col(&d, 1), col(&d, 2), col(&d, 3), col(&d, 4), col(&d, 5), col(&d, 6)],
        )?;
        bump("releases");
    }
    tx.execute(
        "INSERT INTO release_examples SELECT * FROM old.release_examples WHERE build IN (SELECT build FROM main.releases)",
        [],
    )?;
    for (id, d) in table(&p, "training_runs") {
        tx.execute(
            "INSERT INTO training_runs (id, build, base_model, output_model, output_key, config_sha256, trainer, leaf, recorded)
             VALUES (?1, ?2, ?3, ?4, COALESCE((SELECT output_key FROM old.training_runs WHERE id = ?1), ''), ?5, ?6, ?7, ?8)",
            rusqlite::params![id, col(&d, 0), col(&d, 1), col(&d, 2), col(&d, 3), col(&d, 4), col(&d, 5), col(&d, 6)],
        )?;
        bump("training_runs");
    }
    for (id, d) in table(&p, "eval_runs") {
        tx.execute(
            "INSERT INTO eval_runs (id, model_key, model, mode, template, manifest_sha256, results, dir, leaf, completed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE((SELECT dir FROM old.eval_runs WHERE id = ?1), ''), ?8, ?9)",
            rusqlite::params![id, col(&d, 0), col(&d, 1), col(&d, 2), col(&d, 3), col(&d, 4), col(&d, 5), col(&d, 6), col(&d, 7)],
        )?;
        bump("eval_runs");
    }
    for (id, d) in table(&p, "redteam_runs") {
        tx.execute(
            "INSERT INTO redteam_runs (id, target_key, target, judge, strategies, manifest_sha256, results, dir, leaf, completed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, COALESCE((SELECT dir FROM old.redteam_runs WHERE id = ?1), ''), ?8, ?9)",
            rusqlite::params![id, col(&d, 0), col(&d, 1), col(&d, 2), col(&d, 3), col(&d, 4), col(&d, 5), col(&d, 6), col(&d, 7)],
        )?;
        bump("redteam_runs");
    }
    for (id, d) in table(&p, "healthbench_runs") {
        tx.execute(
            "INSERT INTO healthbench_runs (id, model_key, model, grader, manifest_sha256, results, dir, leaf, completed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE((SELECT dir FROM old.healthbench_runs WHERE id = ?1), ''), ?7, ?8)",
            rusqlite::params![id, col(&d, 0), col(&d, 1), col(&d, 2), col(&d, 3), col(&d, 4), col(&d, 5), col(&d, 6)],
        )?;
        bump("healthbench_runs");
    }
    // The queue: its rubric, specialty and order from the old database;
    // the count of reviewers, and k, state and reasons where the log
    // commits them, from the log (elsewhere the old row's).
    tx.execute(
        "INSERT INTO review_queue (trace_id, specialty, rubric, required, submitted, state, reasons, seq)
         SELECT q.trace_id, q.specialty, q.rubric, q.required, 0, q.state, q.reasons, q.seq
         FROM old.review_queue q WHERE q.trace_id IN (SELECT id FROM main.traces)",
        [],
    )?;
    for (trace, d) in p.tables.remove("review_queue").unwrap_or_default() {
        tx.execute(
            "UPDATE review_queue SET submitted = ? WHERE trace_id = ?",
            rusqlite::params![col(&d, 0), trace],
        )?;
        if let (Some(required), Some(state), Some(reasons)) =
            (&d.columns[1], &d.columns[2], &d.columns[3])
        {
            tx.execute(
                "UPDATE review_queue SET required = ?, state = ?, reasons = ? WHERE trace_id = ?",
                rusqlite::params![required, state, reasons, trace],
            )?;
        } else if let Some(state) = &d.columns[2] {
            tx.execute(
                "UPDATE review_queue SET state = ? WHERE trace_id = ?",
                rusqlite::params![state, trace],
            )?;
        }
    }
    tx.commit()?;
    new.execute("DETACH DATABASE old", [])?;
    Ok(report)
}

fn col_text(d: &Derived, i: usize) -> String {
    match col(d, i) {
        Value::Text(t) => t,
        _ => String::new(),
    }
}

fn col_or(d: &Derived, i: usize, default: &str) -> Value {
    match col(d, i) {
        Value::Null => Value::Text(default.to_owned()),
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_columns_compare_numbers_by_value_and_nothing_else_loosely() {
        let t = |s: &str| Value::Text(s.to_owned());
        assert!(same(
            Kind::Json,
            &t(r#"{"t":0,"p":[1]}"#),
            &t(r#"{"p":[1.0],"t":0.0}"#)
        ));
        assert!(!same(Kind::Json, &t(r#"{"t":0}"#), &t(r#"{"t":0.5}"#)));
        assert!(!same(Kind::Json, &t(r#"{"t":0}"#), &t(r#"{"t":0,"x":1}"#)));
        assert!(!same(Kind::Json, &t(r#"{"t":"0"}"#), &t(r#"{"t":0}"#)));
        assert!(!same(Kind::Json, &t("not json"), &t("not json")));
        assert!(same(Kind::Exact, &Value::Real(1.0), &Value::Integer(1)));
        assert!(!same(Kind::Exact, &t("0"), &Value::Integer(0)));
    }
}
