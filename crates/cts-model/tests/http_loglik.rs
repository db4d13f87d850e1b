//! Log-likelihood scoring over `/v1/completions` against wiremock servers on
//! loopback: what is sent, how echoed log-probabilities add up, and which
//! servers get the typed "unsupported" error. The real-server comparison
//! (llama-cpp-python's server against the local backend) is in
//! `crates/cts-llama/tests/loglik.rs`.

use std::time::Duration;

use cts_model::http::{Backoff, HttpConfig, OpenAiModel};
use cts_model::{LoglikError, LoglikModel, LoglikRequest};
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const COMPLETIONS: &str = "/v1/completions";

fn model(base_url: &str) -> OpenAiModel {
    OpenAiModel::new(HttpConfig {
        timeout: Duration::from_secs(10),
        max_retries: 2,
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            retry_after_cap: Duration::from_secs(1),
        },
        ..HttpConfig::new(base_url, "test-model")
    })
    .expect("valid config")
}

fn request(context: &str, continuations: &[&str]) -> LoglikRequest {
    LoglikRequest {
        context: context.to_owned(),
        continuations: continuations.iter().map(|c| (*c).to_owned()).collect(),
    }
}

/// An echo answer for "Answer: β-blocker" (synthetic) with one generated
/// token; tokens "Answer", ":", " β", "-blocker", "\n".
fn echo_body() -> serde_json::Value {
    json!({
        "id": "cmpl-1", "object": "text_completion",
        "choices": [{
            "index": 0, "text": "Answer: β-blocker\n", "finish_reason": "length",
            "logprobs": {
                "tokens": ["Answer", ":", " β", "-blocker", "\n"],
                "text_offset": [0, 6, 7, 9, 17],
                "token_logprobs": [null, -0.5, -2.0, -0.25, -0.1],
                "top_logprobs": [null, {":": -0.5}, {" α": -1.0, " β": -2.0}, {"-blocker": -0.25}, {"\n": -0.1}]
            }
        }]
    })
}

#[tokio::test]
async fn echoed_logprobs_of_the_continuation_are_summed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .and(body_partial_json(json!({
            "model": "test-model", "prompt": "Answer: β-blocker",
            "echo": true, "logprobs": 1, "max_tokens": 1, "temperature": 0.0
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(echo_body()))
        .expect(1)
        .mount(&server)
        .await;
    // The context's trailing space moves to the continuation (lm-eval's rule).
    let results = model(&server.uri())
        .loglik(&[request("Answer: ", &["β-blocker"])])
        .await;
    let scores = results.into_iter().next().expect("one").expect("scored");
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0].logprob, -2.25);
    assert_eq!(scores[0].tokens, 2);
    assert!(!scores[0].is_greedy, "\" α\" was likelier than \" β\"");
}

#[tokio::test]
async fn a_chat_only_server_is_unsupported() {
    // No /v1/completions route: wiremock answers 404, like a chat-only server.
    let server = MockServer::start().await;
    let results = model(&server.uri())
        .loglik(&[request("Answer:", &[" yes", " no"])])
        .await;
    match &results[0] {
        Err(LoglikError::Unsupported { backend, reason }) => {
            assert_eq!(backend, "openai-http");
            assert!(reason.contains("404"), "{reason}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_ignores_logprobs_is_unsupported() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"index": 0, "text": "Answer: yes\n", "finish_reason": "length"}]
        })))
        .mount(&server)
        .await;
    let results = model(&server.uri())
        .loglik(&[request("Answer:", &[" yes"])])
        .await;
    assert!(
        matches!(&results[0], Err(LoglikError::Unsupported { reason, .. }) if reason.contains("logprobs")),
        "{:?}",
        results[0]
    );
}

#[tokio::test]
async fn a_server_error_about_logprobs_is_unsupported_without_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "error": {"message": "logprobs is not supported for models created with logits_all=False"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let results = model(&server.uri())
        .loglik(&[request("Answer:", &[" yes"])])
        .await;
    assert!(
        matches!(&results[0], Err(LoglikError::Unsupported { reason, .. }) if reason.contains("500")),
        "{:?}",
        results[0]
    );
}

#[tokio::test]
async fn a_transient_failure_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(COMPLETIONS))
        .respond_with(ResponseTemplate::new(200).set_body_json(echo_body()))
        .mount(&server)
        .await;
    let results = model(&server.uri())
        .loglik(&[request("Answer:", &[" β-blocker"])])
        .await;
    let scores = results.into_iter().next().expect("one").expect("scored");
    assert_eq!(scores[0].tokens, 2);
}

#[tokio::test]
async fn an_empty_context_or_no_continuations_is_refused_before_sending() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(echo_body()))
        .expect(0)
        .mount(&server)
        .await;
    let results = model(&server.uri())
        .loglik(&[request("  ", &[" yes"]), request("Answer:", &[])])
        .await;
    assert!(
        matches!(results[0], Err(LoglikError::Unsupported { .. })),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(results[1], Err(LoglikError::NoContinuations { item: 1 })),
        "{:?}",
        results[1]
    );
}
