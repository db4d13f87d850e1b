//! `cts generate`'s engine: run a chat model on cases with the versioned
//! step-by-step prompt, segment each output into steps, and record every
//! sample as a `trace.generated` event with its full trace document.
//!
//! Resumable by construction: a trace's id is derived from the case version,
//! the run (model identity, parameters, template) and the sample number, and
//! ids already stored are skipped. A failure on one case is reported and the
//! others go on.

use std::sync::Arc;

use cts_cases::Case;
use cts_model::{ChatMessage, ChatModel, Completion, GenerationParams, ModelIdentity, Role};
use cts_store::traces::{record_trace, trace_exists, NewTrace};
use cts_store::{Store, StoreError};
use cts_trace::document::{CaseRef, TemplateRef, TraceDocument};
use cts_trace::prompt::{PromptTemplate, STEPWISE};
use cts_trace::segment::segment;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A case version to generate for.
#[derive(Clone, Debug)]
pub struct CaseInput {
    /// The case.
    pub case: Case,
    /// Its stored version.
    pub version: i64,
}

/// How to generate.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Samples per case.
    pub samples: u32,
    /// Cases in flight at once.
    pub concurrency: usize,
    /// Sampling parameters (sample `k` uses seed `seed + k`).
    pub params: GenerationParams,
    /// Actor recorded on the events.
    pub actor: String,
}

/// One case/sample that failed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// Case id.
    pub case_id: String,
    /// Sample number.
    pub sample: u32,
    /// What went wrong.
    pub error: String,
}

/// What a run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GenerateReport {
    /// The run key (model, parameters, template).
    pub run_key: String,
    /// Traces recorded now.
    pub generated: usize,
    /// Traces already stored by an earlier (interrupted) run.
    pub skipped: usize,
    /// Failures; the rest of the run went on.
    pub failed: Vec<Failure>,
    /// Generated tokens in this run.
    pub completion_tokens: u64,
}

/// Errors that stop a run before it starts.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Digest identifying a run: model identity (without the per-response
/// fingerprint), parameters and prompt template.
pub fn run_key(
    model: &ModelIdentity,
    params: &GenerationParams,
    template: &PromptTemplate,
) -> String {
    let identity = ModelIdentity {
        system_fingerprint: None,
        ..model.clone()
    };
    let value = serde_json::json!({ "model": identity, "params": params, "template": template.label(), "template_sha256": template.sha256_hex() });
    let canonical = serde_json_canonicalizer::to_vec(&value).unwrap_or_default();
    hex::encode(&Sha256::digest(canonical)[..8])
}

/// The trace id of a sample.
pub fn trace_id(case_id: &str, version: i64, run_key: &str, sample: u32) -> String {
    format!("{case_id}@v{version}/{run_key}/s{sample}")
}

/// The chat the template renders for a case.
pub fn chat_for(case: &Case, template: &PromptTemplate) -> Result<Vec<ChatMessage>, String> {
    let rendered = template
        .render(&case.question, &case.options)
        .map_err(|e| e.to_string())?;
    Ok(vec![
        ChatMessage::new(Role::System, rendered.system),
        ChatMessage::new(Role::User, rendered.user),
    ])
}

/// The text that is segmented and whose byte spans steps refer to: the
/// content, preceded by `<think>reasoning</think>` when the server returned
/// reasoning separately.
pub fn raw_output(completion: &Completion) -> String {
    match completion
        .reasoning
        .as_deref()
        .filter(|r| !r.trim().is_empty())
    {
        Some(r) => format!("<think>{r}</think>\n{}", completion.content),
        None => completion.content.clone(),
    }
}

/// Builds the trace document and row for one completion.
pub fn build_trace(
    input: &CaseInput,
    sample: u32,
    run: &str,
    params: &GenerationParams,
    messages: &[ChatMessage],
    completion: &Completion,
) -> NewTrace {
    let raw = raw_output(completion);
    let seg = segment(&raw);
    let answer_choice = seg
        .answer
        .as_ref()
        .and_then(|(text, _)| cts_trace::answer::answer_choice(text, input.case.options.len()))
        .filter(|_| !input.case.options.is_empty());
    let id = trace_id(input.case.id.as_str(), input.version, run, sample);
    let document = TraceDocument {
        v: cts_trace::document::VERSION,
        trace_id: id.clone(),
        case: CaseRef {
            id: input.case.id.as_str().to_owned(),
            version: input.version,
        },
        template: TemplateRef {
            label: STEPWISE.label(),
            sha256: STEPWISE.sha256_hex(),
        },
        prompt: messages.to_vec(),
        model: completion.model.clone(),
        params: params.clone(),
        raw_output: raw,
        segmentation: seg,
        answer_choice,
        reference_answer: input.case.reference_answer.clone(),
        finish_reason: completion.finish_reason.clone(),
        usage: completion.usage.clone(),
    };
    NewTrace {
        id,
        case_id: input.case.id.0.clone(),
        case_version: input.version,
        sample: i64::from(sample),
        run_key: run.to_owned(),
        model: serde_json::to_value(&completion.model).unwrap_or_default(),
        params: serde_json::to_value(params).unwrap_or_default(),
        template: STEPWISE.label(),
        answer_choice,
        steps: document.segmentation.steps.len(),
        prompt_tokens: completion.usage.prompt_tokens,
        completion_tokens: completion.usage.completion_tokens,
        prompt_ms: completion.usage.prompt_ms,
        generation_ms: completion.usage.generation_ms,
        document: document.to_json().unwrap_or_default(),
    }
}

/// Runs `model` on every case × sample not yet stored; `progress` is called
/// after each finished (or failed) sample with (done, total).
pub async fn generate(
    store: &Store,
    model: Arc<dyn ChatModel>,
    cases: Vec<CaseInput>,
    opts: &GenerateOptions,
    progress: Arc<dyn Fn(usize, usize) + Send + Sync>,
) -> Result<GenerateReport, GenerateError> {
    let run = run_key(&model.identity(), &opts.params, &STEPWISE);
    let mut report = GenerateReport {
        run_key: run.clone(),
        ..GenerateReport::default()
    };
    let mut todo = Vec::new();
    for input in cases {
        for sample in 0..opts.samples {
            if trace_exists(
                store,
                &trace_id(input.case.id.as_str(), input.version, &run, sample),
            )
            .await?
            {
                report.skipped += 1;
            } else {
                todo.push((input.clone(), sample));
            }
        }
    }
    let total = todo.len();
    let permits = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (input, sample) in todo {
        let (store, model, permits, run) =
            (store.clone(), model.clone(), permits.clone(), run.clone());
        let mut params = opts.params.clone();
        params.seed = params.seed.wrapping_add(u64::from(sample));
        let actor = opts.actor.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let case_id = input.case.id.0.clone();
            let result = async {
                let messages = chat_for(&input.case, &STEPWISE)?;
                let completion = model
                    .complete(&messages, &params, &|_| {})
                    .await
                    .map_err(|e| e.to_string())?;
                let trace = build_trace(&input, sample, &run, &params, &messages, &completion);
                let tokens = u64::from(trace.completion_tokens);
                record_trace(&store, trace, &actor)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<u64, String>(tokens)
            }
            .await;
            (case_id, sample, result)
        });
    }
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        done += 1;
        match joined {
            Ok((_, _, Ok(tokens))) => {
                report.generated += 1;
                report.completion_tokens += tokens;
            }
            Ok((case_id, sample, Err(error))) => {
                tracing::warn!(case = %case_id, sample, %error, "generation failed");
                report.failed.push(Failure {
                    case_id,
                    sample,
                    error,
                });
            }
            Err(e) => report.failed.push(Failure {
                case_id: "?".into(),
                sample: 0,
                error: format!("task failed: {e}"),
            }),
        }
        progress(done, total);
    }
    report
        .failed
        .sort_by(|a, b| (&a.case_id, a.sample).cmp(&(&b.case_id, b.sample)));
    Ok(report)
}
