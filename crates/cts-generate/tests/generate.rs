//! The generation engine against a scripted model: traces are recorded and
//! ledgered, a failing case does not stop the others, and a second run
//! resumes without duplicating anything. (The real backends have their own
//! tests in cts-llama and cts-model; the CLI runs the real local model.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cts_generate::{generate, CaseInput, GenerateOptions};
use cts_model::{
    ChatMessage, ChatModel, Completion, GenerationParams, ModelError, ModelIdentity, Usage,
};
use cts_store::Store;

/// Answers with a fixed R1-style output; fails for questions containing "FAIL".
struct Scripted {
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl ChatModel for Scripted {
    fn identity(&self) -> ModelIdentity {
        ModelIdentity {
            backend: "scripted".into(),
            name: "scripted".into(),
            weights_sha256: None,
            base_url: None,
            system_fingerprint: None,
        }
    }

    async fn complete(
        &self,
        messages: &[ChatMessage],
        _: &GenerationParams,
        on_text: &(dyn for<'a> Fn(&'a str) + Send + Sync),
    ) -> Result<Completion, ModelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if messages.iter().any(|m| m.content.contains("FAIL")) {
            return Err(ModelError::Inference("scripted failure".into()));
        }
        let content = "<think>Step 1: Warfarin with ibuprofen raises bleeding risk.\nStep 2: Paracetamol is safer.</think>\nFinal answer: B";
        on_text(content);
        Ok(Completion {
            content: content.into(),
            reasoning: None,
            finish_reason: "stop".into(),
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 20,
                prompt_ms: 1.0,
                generation_ms: 2.0,
            },
            model: self.identity(),
        })
    }
}

fn case(id: &str, question: &str) -> CaseInput {
    let line = format!(
        r#"{{"id":"{id}","specialty":"cardiology","question":"{question}","options":["Ibuprofen","Paracetamol","Naproxen","Aspirin"],"reference_answer":"B"}}"#
    );
    let parsed = cts_cases::import::parse_jsonl("t.jsonl", &line).unwrap();
    CaseInput {
        case: parsed[0].case.clone(),
        version: 1,
    }
}

#[tokio::test]
async fn traces_are_recorded_failures_isolated_and_reruns_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cts.db")).await.unwrap();
    let model = Arc::new(Scripted {
        calls: AtomicUsize::new(0),
    });
    let cases = vec![
        case(
            "a",
            "Synthetic: anticoagulated patient with pain; which analgesic?",
        ),
        case("b", "Synthetic: FAIL this one"),
        case(
            "c",
            "Synthetic: another anticoagulated patient; which analgesic?",
        ),
    ];
    let opts = GenerateOptions {
        samples: 2,
        concurrency: 2,
        params: GenerationParams::default(),
        actor: "test:gen".into(),
    };
    let report = generate(
        &store,
        model.clone(),
        cases.clone(),
        &opts,
        Arc::new(|_, _| {}),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.generated, report.skipped, report.failed.len()),
        (4, 0, 2)
    );
    assert!(report.failed.iter().all(|f| f.case_id == "b"));

    let traces = cts_store::traces::list_traces(&store, None).await.unwrap();
    assert_eq!(traces.len(), 4);
    assert!(traces
        .iter()
        .all(|t| t.steps == 2 && t.answer_choice.as_deref() == Some("B")));
    let (_, doc) = cts_store::traces::get_trace(&store, &traces[0].id)
        .await
        .unwrap();
    let doc = doc.unwrap();
    for step in &doc.segmentation.steps {
        assert_eq!(
            &doc.raw_output[step.span.clone()],
            step.text,
            "spans map back into the raw output"
        );
    }

    let before = model.calls.load(Ordering::SeqCst);
    let again = generate(&store, model.clone(), cases, &opts, Arc::new(|_, _| {}))
        .await
        .unwrap();
    assert_eq!(
        (again.generated, again.skipped),
        (0, 4),
        "stored traces are skipped"
    );
    assert_eq!(
        model.calls.load(Ordering::SeqCst) - before,
        2,
        "only the failed samples are retried"
    );
    assert_eq!(
        cts_store::traces::list_traces(&store, None)
            .await
            .unwrap()
            .len(),
        4,
        "no duplicates"
    );
}
