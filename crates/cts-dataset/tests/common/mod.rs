//! A reviewed project on the real SQLite file: six synthetic cases, two
//! samples each, two clinicians reviewing every trace (with edits, an unsafe
//! flag left unedited, a disagreement and its adjudication).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cts_dataset::build::{build, BuildOptions, BuildReport};
use cts_dataset::{DatasetError, Spec};
use cts_ledger::{LogSigner, LogVerifier};
use cts_review::ReviewBody;
use cts_store::review::{self, ReviewConfig};
use cts_store::traces::NewTrace;
use cts_store::users::{self, Role, User};
use cts_store::{seed, Store};
use cts_trace::chat::{ChatMessage, Role as ChatRole};
use cts_trace::TraceDocument;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub signer: Arc<LogSigner>,
    pub verifier: LogVerifier,
    pub cfg: ReviewConfig,
    pub traces: Vec<String>,
    pub adjudicator: User,
}

pub const STEPS: [&str; 3] = [
    "The patient takes warfarin, an anticoagulant.",
    "Ibuprofen is an NSAID and raises the bleeding risk with warfarin.",
    "Paracetamol at standard doses is the safer analgesic here.",
];

/// The model's steps for a sample: the second sample ends differently.
pub fn steps_for(sample: i64) -> Vec<String> {
    let mut steps: Vec<String> = STEPS.iter().map(|s| s.to_string()).collect();
    if sample == 1 {
        steps[2] = "Naproxen for a few days would also be acceptable.".into();
    }
    steps
}

pub fn trace_doc(id: &str, case: &cts_cases::Case, sample: i64) -> TraceDocument {
    TraceDocument::synthetic(
        id,
        vec![
            ChatMessage::new(
                ChatRole::System,
                "You are a careful clinician. (synthetic test)",
            ),
            ChatMessage::new(
                ChatRole::User,
                format!(
                    "Clinical case:\n{}\n\nFinal answer: <letter>",
                    case.question
                ),
            ),
        ],
        &steps_for(sample),
        Some("B"),
    )
}

/// What reviewer `who` (0 or 1) says about trace `t` (its index).
fn body_for(cfg: &ReviewConfig, t: usize, who: usize) -> ReviewBody {
    let original = steps_for((t % 2) as i64);
    let mut b = ReviewBody::draft_for(&cfg.rubric, &original);
    for s in &mut b.steps {
        s.label = Some(1);
    }
    let sample = t % 2;
    let rating = if sample == 0 { 5 } else { 3 };
    for d in &cfg.rubric.dimensions {
        b.ratings.insert(d.id.clone(), rating);
    }
    b.rationale = "Reasoning checked against the case; see step labels.".into();
    match t {
        // Both reviewers correct step 2 (the edit makes an SFT/DPO pair).
        1 => {
            b.steps[1].label = Some(-1);
            b.steps[1].text = "Ibuprofen is an NSAID; with warfarin it raises the risk of gastrointestinal bleeding, so avoid it.".into();
            b.steps[1].edit_rationale = Some("Name the bleeding risk and the action.".into());
            b.steps[1].flags = vec!["unsafe-recommendation".into()];
            b.steps[1].label = Some(1);
        }
        // An unsafe flag left on an unedited step: PRM only.
        3 => {
            b.steps[2].label = Some(-1);
            b.steps[2].flags = vec!["dose-error".into()];
        }
        // Opposite labels: a disagreement the adjudicator settles.
        5 if who == 1 => b.steps[0].label = Some(-1),
        _ => {}
    }
    b
}

pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let (skey, vkey) = LogSigner::generate("cts.test/dataset").unwrap();
    let signer = Arc::new(LogSigner::from_private_key(&skey).unwrap());
    let verifier = LogVerifier::new(&vkey).unwrap();
    let cases = seed::import_synthetic_cases(&store, "test", 6)
        .await
        .unwrap();
    let mut traces = Vec::new();
    for case in &cases {
        for sample in 0..2 {
            let id = format!("{}@v1/run/s{sample}", case.id.as_str());
            cts_store::traces::record_trace(
                &store,
                NewTrace {
                    id: id.clone(),
                    case_id: case.id.as_str().into(),
                    case_version: 1,
                    sample,
                    run_key: "run".into(),
                    model: serde_json::json!({"name": "test-model", "sha256": "00"}),
                    params: serde_json::json!({"temperature": 0.7, "seed": sample}),
                    template: "cts-stepwise@1".into(),
                    answer_choice: Some('B'),
                    steps: STEPS.len(),
                    prompt_tokens: 10,
                    completion_tokens: 20,
                    prompt_ms: 1.0,
                    generation_ms: 2.0,
                    document: trace_doc(&id, case, sample).to_json().unwrap(),
                },
                "test",
            )
            .await
            .unwrap();
            traces.push(id);
        }
    }
    let cfg = seed::medication_safety_review(&store, "test", 2, 3600)
        .await
        .unwrap();
    review::sync_queue(&store, &cfg).await.unwrap();
    let mut reviewers = Vec::new();
    for name in ["ann", "ben"] {
        reviewers.push(
            users::add_user(
                &store,
                "test",
                name,
                "a long password",
                Role::Clinician,
                &[],
            )
            .await
            .unwrap(),
        );
    }
    for (who, user) in reviewers.iter().enumerate() {
        while let Some(trace) = review::claim_next(&store, user, &cfg).await.unwrap() {
            let t = traces.iter().position(|x| *x == trace).unwrap();
            review::submit(&store, &cfg, user, &trace, body_for(&cfg, t, who), 0)
                .await
                .unwrap();
        }
    }
    let adjudicator = users::add_user(
        &store,
        "test",
        "adj",
        "a long password",
        Role::Adjudicator,
        &[],
    )
    .await
    .unwrap();
    let disputed = &traces[5];
    let reviews = review::reviews_of_trace(&store, disputed).await.unwrap();
    assert_eq!(reviews.len(), 2);
    review::adjudicate(
        &store,
        &adjudicator,
        disputed,
        &reviews[0].id,
        "Step 1 is correct as written; the patient is on warfarin.",
    )
    .await
    .unwrap();
    Fixture {
        dir,
        store,
        signer,
        verifier,
        cfg,
        traces,
        adjudicator,
    }
}

pub const SPEC: &str = r#"
name = "test-release"
seed = 7

[select]
require = "agreed-or-adjudicated"
min_reviews = 2

[split]
train = 0.5
validation = 0.25
test = 0.25

[exports]
formats = ["sft", "dpo", "dpo-flat", "kto", "prm", "prm-rich"]
"#;

impl Fixture {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub async fn build(
        &self,
        spec: &str,
        out: &Path,
        at: Option<u64>,
        record: bool,
    ) -> Result<BuildReport, DatasetError> {
        build(
            &self.store,
            self.signer.clone(),
            &self.verifier,
            BuildOptions {
                spec: Spec::parse(spec, "spec.toml")?,
                out: out.to_owned(),
                at_checkpoint: at,
                record,
                actor: "test".into(),
                allow_tampered: false,
                progress: Box::new(|_| {}),
            },
        )
        .await
    }
}

/// Every JSON line of a file.
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
