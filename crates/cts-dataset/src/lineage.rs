//! Lineage: from an example, a model or a behaviour policy back to the
//! clinicians, reviews, edits, traces and cases behind it, each event with
//! the status of its inclusion proof against the latest signed checkpoint.

use std::collections::BTreeMap;

use cts_ledger::{leaf_hash, LeafIndex, LogVerifier};
use cts_review::review::StepChange;
use cts_store::releases::{ExampleRow, Release, ReviewRole, TrainingRun};
use cts_store::review::{StoredAdjudication, StoredReview};
use cts_store::{ContentState, Store};

use crate::DatasetError;

/// An event in a lineage, with its inclusion-proof status.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Evidence {
    /// Leaf index.
    pub leaf: u64,
    /// "verified against checkpoint of size N", or why not.
    pub proof: String,
    /// Whether the proof verified.
    pub included: bool,
}

/// An edit in a lineage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EditLineage {
    /// The `step.edited` event.
    pub evidence: Evidence,
    /// edited, added or deleted.
    pub change: String,
    /// Step (in the review) or origin (in the model's chain).
    pub step: Option<u64>,
    /// The clinician's text and rationale (None if erased).
    pub content: Option<cts_store::review::StepEdit>,
}

/// A review in a lineage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReviewLineage {
    /// Review id.
    pub id: String,
    /// Reviewer pseudonym.
    pub reviewer: String,
    /// The part it played in qualifying the example (None for examples
    /// indexed before roles were recorded).
    pub role: Option<ReviewRole>,
    /// For the standing review of an adjudicated trace: the adjudication's leaf.
    pub adjudication: Option<u64>,
    /// Version.
    pub version: i64,
    /// When.
    pub submitted: String,
    /// Rubric.
    pub rubric: String,
    /// Ratings.
    pub ratings: BTreeMap<String, u8>,
    /// Step labels in the reviewed chain (−1, 0, +1, or none).
    pub labels: Vec<Option<i8>>,
    /// Safety flags per step of the reviewed chain.
    pub flags: Vec<Vec<String>>,
    /// Overall rationale.
    pub rationale: String,
    /// The `review.submitted` event.
    pub evidence: Evidence,
    /// Its edits.
    pub edits: Vec<EditLineage>,
}

/// A trace in a lineage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceLineage {
    /// Trace id.
    pub id: String,
    /// Model identity.
    pub model: serde_json::Value,
    /// Generation parameters.
    pub params: serde_json::Value,
    /// Prompt template.
    pub template: String,
    /// The `trace.generated` event.
    pub evidence: Evidence,
    /// Adjudications of it.
    pub adjudications: Vec<AdjudicationLineage>,
}

/// An adjudication of a trace in a lineage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdjudicationLineage {
    /// The decision (adjudicator pseudonym, chosen review, rationale).
    #[serde(flatten)]
    pub decision: StoredAdjudication,
    /// The `adjudication.decided` event.
    pub evidence: Evidence,
    /// Whether this decision is the one that qualified the example.
    pub qualified: bool,
}

/// The case in a lineage.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CaseLineage {
    /// Case id.
    pub id: String,
    /// Version.
    pub version: i64,
    /// Specialty.
    pub specialty: String,
    /// Tags.
    pub tags: Vec<String>,
    /// The `case.imported` event.
    pub evidence: Evidence,
}

/// Example → releases → reviews and edits → traces → case.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExampleLineage {
    /// The example as indexed.
    pub example: ExampleRow,
    /// Releases that hold it, with their release events.
    pub releases: Vec<(Release, Evidence)>,
    /// Training runs on those releases.
    pub training_runs: Vec<TrainingRun>,
    /// Reviews behind it.
    pub reviews: Vec<ReviewLineage>,
    /// Traces behind it.
    pub traces: Vec<TraceLineage>,
    /// The case.
    pub case: CaseLineage,
}

/// Checks leaf `leaf`'s inclusion against the latest signed checkpoint.
pub async fn evidence(
    store: &Store,
    verifier: &LogVerifier,
    leaf: u64,
) -> Result<Evidence, DatasetError> {
    let Some(cp) = store.ledger().latest_checkpoint().await? else {
        return Ok(Evidence {
            leaf,
            proof: "no signed checkpoint yet".into(),
            included: false,
        });
    };
    if leaf >= cp.size.0 {
        return Ok(Evidence {
            leaf,
            proof: format!(
                "after the latest checkpoint (size {}); sign a new one",
                cp.size.0
            ),
            included: false,
        });
    }
    let entry = store.ledger().entry(LeafIndex(leaf)).await?;
    let proof = store
        .ledger()
        .inclusion_proof(LeafIndex(leaf), cp.size)
        .await?;
    let signed = verifier
        .open(&cp.note)
        .map_err(|e| DatasetError::Verify(format!("latest checkpoint: {e}")))?;
    Ok(
        match cts_ledger::proof::verify_inclusion(
            LeafIndex(leaf),
            signed.size,
            leaf_hash(&entry),
            &proof,
            signed.root,
        ) {
            Ok(()) => Evidence {
                leaf,
                proof: format!("included in signed checkpoint of size {}", signed.size.0),
                included: true,
            },
            Err(e) => Evidence {
                leaf,
                proof: format!("inclusion proof FAILED: {e}"),
                included: false,
            },
        },
    )
}

async fn review_lineage(
    store: &Store,
    verifier: &LogVerifier,
    r: StoredReview,
    role: Option<ReviewRole>,
    adjudication: Option<u64>,
) -> Result<ReviewLineage, DatasetError> {
    let mut edits = Vec::new();
    for &leaf in &r.edit_leaves {
        let event = cts_ledger::Event::decode(&store.ledger().entry(LeafIndex(leaf)).await?)
            .map_err(|e| DatasetError::Verify(format!("leaf {leaf}: {e}")))?;
        let mut content = None;
        if let Some(c) = event.content.values().next() {
            if let ContentState::Present { opening, .. } = store.ledger().content(c).await? {
                content = serde_json::from_slice(&opening.content).ok();
            }
        }
        let body: Option<cts_store::review::StepEdited> =
            serde_json::from_value(event.body.clone()).ok();
        edits.push(EditLineage {
            evidence: evidence(store, verifier, leaf).await?,
            change: body.as_ref().map(|b| b.change.clone()).unwrap_or_default(),
            step: body
                .as_ref()
                .and_then(|b| b.step.or(b.origin))
                .map(|n| n as u64),
            content,
        });
    }
    Ok(ReviewLineage {
        evidence: evidence(store, verifier, r.leaf).await?,
        id: r.id,
        reviewer: r.reviewer,
        role,
        adjudication,
        version: r.version,
        submitted: r.submitted,
        rubric: r.rubric,
        labels: r.body.steps.iter().map(|s| s.label).collect(),
        flags: r.body.steps.iter().map(|s| s.flags.clone()).collect(),
        ratings: r.body.ratings,
        rationale: r.body.rationale,
        edits,
    })
}

/// The lineage of example `id`.
pub async fn example_lineage(
    store: &Store,
    verifier: &LogVerifier,
    id: &str,
) -> Result<ExampleLineage, DatasetError> {
    let found = cts_store::releases::find_example(store, id).await?;
    let Some((_, example)) = found.first().cloned() else {
        return Err(DatasetError::Invalid(format!(
            "no example {id:?} in any recorded release (ids are in the first field of every exported line)"
        )));
    };
    let mut releases = Vec::new();
    let mut training_runs = Vec::new();
    let all_runs = cts_store::releases::training_runs(store, None).await?;
    for (release, _) in found {
        training_runs.extend(
            all_runs
                .iter()
                .filter(|r| r.build == release.build)
                .cloned(),
        );
        let ev = evidence(store, verifier, release.leaf).await?;
        releases.push((release, ev));
    }
    let mut reviews = Vec::new();
    for er in &example.reviews {
        let r = cts_store::review::review_by_id(store, &er.id).await?;
        reviews.push(review_lineage(store, verifier, r, er.role, er.adjudication).await?);
    }
    let mut traces = Vec::new();
    for tid in &example.traces {
        let (t, _) = cts_store::traces::get_trace(store, tid).await?;
        let mut adjudications = Vec::new();
        for a in cts_store::review::adjudications_of(store, tid).await? {
            let qualified = example
                .reviews
                .iter()
                .any(|r| r.adjudication == Some(a.leaf));
            adjudications.push(AdjudicationLineage {
                evidence: evidence(store, verifier, a.leaf).await?,
                decision: a,
                qualified,
            });
        }
        traces.push(TraceLineage {
            evidence: evidence(store, verifier, t.leaf).await?,
            id: t.id,
            model: t.model,
            params: t.params,
            template: t.template,
            adjudications,
        });
    }
    let case = cts_store::cases::list_cases(store)
        .await?
        .into_iter()
        .find(|c| c.id == example.case_id)
        .ok_or_else(|| DatasetError::Invalid(format!("case {} is not stored", example.case_id)))?;
    let case_leaf =
        cts_store::cases::case_leaf(store, &example.case_id, example.case_version).await?;
    Ok(ExampleLineage {
        case: CaseLineage {
            id: case.id,
            version: example.case_version,
            specialty: case.specialty,
            tags: case.tags,
            evidence: evidence(store, verifier, case_leaf).await?,
        },
        example,
        releases,
        training_runs,
        reviews,
        traces,
    })
}

/// What a model was trained on and who reviewed it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelLineage {
    /// The runs whose output is the model.
    pub runs: Vec<(TrainingRun, Evidence)>,
    /// The releases they trained on.
    pub releases: Vec<(Release, Evidence)>,
    /// Reviewers (pseudonyms) behind the examples, with review counts.
    pub reviewers: BTreeMap<String, u64>,
    /// Cases behind the examples.
    pub cases: u64,
    /// Policies (`policy:` tags) the cases are linked to, with case counts.
    pub policies: BTreeMap<String, u64>,
}

/// The lineage of a model (output of recorded training runs).
pub async fn model_lineage(
    store: &Store,
    verifier: &LogVerifier,
    model: &str,
) -> Result<ModelLineage, DatasetError> {
    let runs = cts_store::releases::training_runs(store, Some(model)).await?;
    if runs.is_empty() {
        return Err(DatasetError::Invalid(format!(
            "no recorded training run produced {model:?} (give its SHA-256, name or path as recorded; see `cts training list`)"
        )));
    }
    let mut out = ModelLineage {
        runs: Vec::new(),
        releases: Vec::new(),
        reviewers: BTreeMap::new(),
        cases: 0,
        policies: BTreeMap::new(),
    };
    let mut builds = Vec::new();
    for run in runs {
        let ev = evidence(store, verifier, run.leaf).await?;
        if !builds.contains(&run.build) {
            builds.push(run.build.clone());
        }
        out.runs.push((run, ev));
    }
    for build in &builds {
        let release = cts_store::releases::find_release(store, build).await?;
        let ev = evidence(store, verifier, release.leaf).await?;
        let summary = cts_store::releases::release_summary(store, build).await?;
        for (who, n) in summary.reviewers {
            *out.reviewers.entry(who).or_insert(0) += n;
        }
        out.cases += summary.cases;
        for (p, n) in summary.policies {
            *out.policies.entry(p).or_insert(0) += n;
        }
        out.releases.push((release, ev));
    }
    Ok(out)
}

/// A case linked to a policy, with what was done with it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PolicyCase {
    /// Case id.
    pub id: String,
    /// Latest version.
    pub version: i64,
    /// Traces generated.
    pub traces: u64,
    /// Current reviews (latest version per reviewer), with reviewer,
    /// ratings and the number of steps flagged or labelled −1.
    pub reviews: Vec<PolicyReview>,
    /// Dataset examples built from it: (release build, example).
    pub examples: Vec<(String, ExampleRow)>,
}

/// A review in a policy trace.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PolicyReview {
    /// Review id.
    pub id: String,
    /// Reviewer pseudonym.
    pub reviewer: String,
    /// When.
    pub submitted: String,
    /// Ratings.
    pub ratings: BTreeMap<String, u8>,
    /// Steps labelled −1.
    pub negative_steps: usize,
    /// Flags raised, by flag id.
    pub flags: BTreeMap<String, usize>,
    /// Steps the reviewer edited, added or deleted (None when the trace's
    /// content was erased).
    pub edits: Option<usize>,
    /// The `review.submitted` event.
    pub evidence: Evidence,
}

/// How one behaviour was controlled during alignment.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PolicyTrace {
    /// The policy's versions.
    pub policy: Vec<cts_store::policies::StoredPolicy>,
    /// Linked cases.
    pub cases: Vec<PolicyCase>,
    /// Releases that include examples of these cases: build → (release, example count).
    pub releases: Vec<(Release, u64)>,
    /// Training runs on those releases.
    pub training_runs: Vec<TrainingRun>,
    /// Reviewer pseudonym → reviews of linked cases.
    pub reviewers: BTreeMap<String, u64>,
}

/// `cts policy trace POLICY`.
pub async fn policy_trace(
    store: &Store,
    verifier: &LogVerifier,
    id: &str,
) -> Result<PolicyTrace, DatasetError> {
    let policy: Vec<_> = cts_store::policies::list_policies(store)
        .await?
        .into_iter()
        .filter(|p| p.policy.id == id)
        .collect();
    if policy.is_empty() {
        return Err(DatasetError::Invalid(format!(
            "no policy {id:?} is registered (see `cts policy list`; `cts policy import FILE` registers them)"
        )));
    }
    let tag = format!("policy:{id}");
    let mut cases = Vec::new();
    let mut per_release: BTreeMap<String, u64> = BTreeMap::new();
    let mut reviewers: BTreeMap<String, u64> = BTreeMap::new();
    let mut latest: BTreeMap<String, cts_store::cases::StoredCase> = BTreeMap::new();
    for c in cts_store::cases::list_cases(store).await? {
        if c.tags.contains(&tag) {
            latest.insert(c.id.clone(), c);
        }
    }
    for (_, c) in latest {
        let traces = cts_store::traces::list_traces(store, Some(&c.id)).await?;
        let mut reviews = Vec::new();
        for t in &traces {
            let all = cts_store::review::reviews_of_trace(store, &t.id).await?;
            let (_, doc) = cts_store::traces::get_trace(store, &t.id).await?;
            // None when the trace's content was erased: edits cannot be told apart.
            let original = doc.as_ref().map(|d| d.step_texts());
            for r in cts_store::review::current(&all) {
                let mut flags = BTreeMap::new();
                for s in &r.body.steps {
                    for f in &s.flags {
                        *flags.entry(f.clone()).or_insert(0) += 1;
                    }
                }
                let edits = original.as_ref().map(|o| {
                    r.body.deleted.len()
                        + (0..r.body.steps.len())
                            .filter(|&i| r.body.change(i, o) != StepChange::Kept)
                            .count()
                });
                *reviewers.entry(r.reviewer.clone()).or_insert(0) += 1;
                reviews.push(PolicyReview {
                    id: r.id.clone(),
                    reviewer: r.reviewer.clone(),
                    submitted: r.submitted.clone(),
                    ratings: r.body.ratings.clone(),
                    negative_steps: r.body.steps.iter().filter(|s| s.label == Some(-1)).count(),
                    flags,
                    edits,
                    evidence: evidence(store, verifier, r.leaf).await?,
                });
            }
        }
        let examples = cts_store::releases::examples_of_case(store, &c.id).await?;
        for (build, _) in &examples {
            *per_release.entry(build.clone()).or_insert(0) += 1;
        }
        cases.push(PolicyCase {
            id: c.id,
            version: c.version,
            traces: traces.len() as u64,
            reviews,
            examples,
        });
    }
    let mut releases = Vec::new();
    for (build, n) in per_release {
        releases.push((cts_store::releases::find_release(store, &build).await?, n));
    }
    let training_runs = cts_store::releases::training_runs(store, None)
        .await?
        .into_iter()
        .filter(|r| releases.iter().any(|(rel, _)| rel.build == r.build))
        .collect();
    Ok(PolicyTrace {
        policy,
        cases,
        releases,
        training_runs,
        reviewers,
    })
}
