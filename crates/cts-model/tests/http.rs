//! The OpenAI-compatible HTTP backend against servers on loopback: wiremock
//! for the protocol, and a raw TCP server where chunk boundaries matter.
//!
//! The test that sets an API-key variable lives in `http_auth.rs`: setting
//! the environment must not race with the other tests of one process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cts_model::http::{Backoff, ConfigError, HttpConfig, OpenAiModel};
use cts_model::{ChatMessage, ChatModel, Completion, GenerationParams, ModelError, Role};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ENDPOINT: &str = "/v1/chat/completions";

/// A config for `base_url` whose retries wait milliseconds, not seconds.
fn fast_config(base_url: &str) -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        max_retries: 4,
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            retry_after_cap: Duration::from_secs(60),
        },
        ..HttpConfig::new(base_url, "test-model")
    }
}

fn model(config: HttpConfig) -> OpenAiModel {
    OpenAiModel::new(config).expect("valid config")
}

fn messages() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new(Role::System, "You are a careful clinician."),
        ChatMessage::new(Role::User, "A 58-year-old with chest pain…"),
    ]
}

fn params() -> GenerationParams {
    GenerationParams {
        temperature: 0.2,
        top_p: 0.9,
        seed: 1234,
        max_tokens: 256,
    }
}

fn answer_body(content: &str) -> serde_json::Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}
    })
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(answer_body("Start a β-blocker."))
}

/// Runs one chat, returning the result and every piece `on_text` received.
async fn chat(model: &OpenAiModel) -> (Result<Completion, ModelError>, Vec<String>) {
    let seen = Mutex::new(Vec::new());
    let on_text = |text: &str| seen.lock().expect("lock").push(text.to_owned());
    let result = model.complete(&messages(), &params(), &on_text).await;
    (result, seen.into_inner().expect("lock"))
}

async fn attempts(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .len()
}

#[tokio::test]
async fn whole_answer_carries_content_reasoning_usage_and_fingerprint() {
    let server = MockServer::start().await;
    let expected_request = json!({
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You are a careful clinician."},
            {"role": "user", "content": "A 58-year-old with chest pain…"}
        ],
        "temperature": 0.2, "top_p": 0.9, "seed": 1234, "max_tokens": 256, "stream": false
    });
    let body = json!({
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "Answer: B", "reasoning_content": "ST elevation, so…"},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 31, "completion_tokens": 12},
        "system_fingerprint": "fp_abc123"
    });
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .and(body_partial_json(expected_request))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let model = model(fast_config(&server.uri()));
    assert_eq!(model.identity().system_fingerprint, None);

    let (result, seen) = chat(&model).await;
    let completion = result.expect("completion");

    assert_eq!(completion.content, "Answer: B");
    assert_eq!(completion.reasoning.as_deref(), Some("ST elevation, so…"));
    assert_eq!(completion.finish_reason, "stop");
    assert_eq!(
        (
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens
        ),
        (31, 12)
    );
    assert!(completion.usage.prompt_ms >= 0.0 && completion.usage.generation_ms >= 0.0);
    assert_eq!(completion.model.backend, "openai-http");
    assert_eq!(completion.model.name, "test-model");
    assert_eq!(
        completion.model.base_url.as_deref(),
        Some(server.uri().as_str())
    );
    assert_eq!(
        completion.model.system_fingerprint.as_deref(),
        Some("fp_abc123")
    );
    assert_eq!(
        model.identity().system_fingerprint.as_deref(),
        Some("fp_abc123")
    );
    assert_eq!(seen, vec!["Answer: B"]);
}

#[tokio::test]
async fn base_url_ending_in_v1_reaches_the_same_endpoint() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    let model = model(fast_config(&format!("{}/v1/", server.uri())));

    let (result, _) = chat(&model).await;

    assert_eq!(
        result.expect("completion").model.base_url.as_deref(),
        Some(server.uri().as_str())
    );
}

#[tokio::test]
async fn inline_think_tags_pass_through_untouched() {
    let server = MockServer::start().await;
    let content = "<think>\nRule out dissection first.\n</think>\nAnswer: C";
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer_body(content)))
        .mount(&server)
        .await;

    let (result, _) = chat(&model(fast_config(&server.uri()))).await;
    let completion = result.expect("completion");

    assert_eq!(completion.content, content);
    assert_eq!(completion.reasoning, None);
}

const SSE_BODY: &str = concat!(
    ": keep-alive\r\n\r\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"HR 48; \"}}],\"system_fingerprint\":\"fp_stream\"}\r\n\r\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hold the dose.\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Stop the β-blocker; \"}}]}\n\n",
    "data:{\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"atropine 500 µg if HR ≥ 40 fails.\"}}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":9}}\n\n",
    "data: [DONE]\n\n",
);

const SSE_CONTENT: &str = "Stop the β-blocker; atropine 500 µg if HR ≥ 40 fails.";

/// Serves one HTTP response whose SSE `body` goes out `piece` bytes at a time,
/// each flushed on its own, so chunk boundaries fall inside lines and characters.
async fn serve_in_pieces(body: &'static str, piece: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        socket.set_nodelay(true).expect("nodelay");
        read_request(&mut socket).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
        socket.write_all(head.as_bytes()).await.expect("write head");
        for bytes in body.as_bytes().chunks(piece) {
            socket.write_all(bytes).await.expect("write piece");
            socket.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        socket.shutdown().await.expect("shutdown");
    });
    format!("http://{addr}")
}

/// Reads a request's head and its `content-length` body, so closing the
/// socket afterwards does not reset the connection.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut buf).await.expect("read request");
        assert!(n > 0, "client closed early");
        request.extend_from_slice(&buf[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("content-length"))
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = socket.read(&mut buf).await.expect("read body");
        assert!(n > 0, "client closed early");
        request.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn streamed_answer_survives_chunks_split_inside_lines_and_characters() {
    // 7-byte pieces split `data:` prefixes, `\r\n` pairs and every
    // multi-byte character of "β", "µ" and "≥" somewhere along the way.
    let base_url = serve_in_pieces(SSE_BODY, 7).await;
    let model = model(HttpConfig {
        stream: true,
        ..fast_config(&base_url)
    });

    let (result, seen) = chat(&model).await;
    let completion = result.expect("completion");

    assert_eq!(completion.content, SSE_CONTENT);
    assert_eq!(seen.concat(), SSE_CONTENT);
    assert_eq!(seen.len(), 2, "one call per content delta");
    assert_eq!(
        completion.reasoning.as_deref(),
        Some("HR 48; hold the dose.")
    );
    assert_eq!(completion.finish_reason, "stop");
    assert_eq!(
        (
            completion.usage.prompt_tokens,
            completion.usage.completion_tokens
        ),
        (40, 9)
    );
    assert_eq!(
        completion.model.system_fingerprint.as_deref(),
        Some("fp_stream")
    );
    assert_eq!(
        model.identity().system_fingerprint.as_deref(),
        Some("fp_stream")
    );
}

#[tokio::test]
async fn streaming_request_asks_for_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ENDPOINT))
        .and(body_partial_json(
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_raw(SSE_BODY, "text/event-stream"))
        .expect(1)
        .mount(&server)
        .await;
    let model = model(HttpConfig {
        stream: true,
        ..fast_config(&server.uri())
    });

    let (result, _) = chat(&model).await;

    assert_eq!(result.expect("completion").content, SSE_CONTENT);
}

#[tokio::test]
async fn stream_cut_after_text_is_a_final_malformed_error() {
    let server = MockServer::start().await;
    let cut = SSE_BODY
        .split("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},")
        .next()
        .expect("prefix");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(cut, "text/event-stream"))
        .mount(&server)
        .await;
    let model = model(HttpConfig {
        stream: true,
        ..fast_config(&server.uri())
    });

    let (result, seen) = chat(&model).await;

    match result {
        Err(ModelError::Malformed(message)) => assert!(message.contains("stream cut"), "{message}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(
        seen.concat(),
        SSE_CONTENT,
        "text already handed on stays handed on"
    );
    assert_eq!(attempts(&server).await, 1, "no retry once text was emitted");
}

#[tokio::test]
async fn stream_cut_before_any_text_is_retried() {
    let server = MockServer::start().await;
    let reasoning_only = SSE_BODY
        .split("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\"")
        .next()
        .expect("prefix");
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(reasoning_only, "text/event-stream"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(SSE_BODY, "text/event-stream"))
        .mount(&server)
        .await;
    let model = model(HttpConfig {
        stream: true,
        ..fast_config(&server.uri())
    });

    let (result, seen) = chat(&model).await;

    let completion = result.expect("completion");
    assert_eq!(completion.content, SSE_CONTENT);
    assert_eq!(
        completion.reasoning.as_deref(),
        Some("HR 48; hold the dose."),
        "reasoning of the cut attempt is dropped"
    );
    assert_eq!(seen.concat(), SSE_CONTENT);
    assert_eq!(attempts(&server).await, 2);
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"error": {"message": "slow down"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok())
        .mount(&server)
        .await;
    let model = model(fast_config(&server.uri()));

    let started = Instant::now();
    let (result, _) = chat(&model).await;

    assert_eq!(result.expect("completion").content, "Start a β-blocker.");
    assert_eq!(attempts(&server).await, 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn server_error_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok())
        .mount(&server)
        .await;

    let (result, _) = chat(&model(fast_config(&server.uri()))).await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(attempts(&server).await, 2);
}

#[tokio::test]
async fn bad_request_is_refused_at_once_with_the_servers_message() {
    let server = MockServer::start().await;
    let body =
        json!({"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}});
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(body))
        .mount(&server)
        .await;

    let (result, _) = chat(&model(fast_config(&server.uri()))).await;

    match result {
        Err(ModelError::Refused { status, message }) => {
            assert_eq!(status, 400);
            assert_eq!(message, "max_tokens is too large");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
    assert_eq!(attempts(&server).await, 1);
}

#[tokio::test]
async fn persistent_unavailability_gives_up_after_max_retries_plus_one_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .mount(&server)
        .await;
    let model = model(HttpConfig {
        max_retries: 3,
        ..fast_config(&server.uri())
    });

    let (result, _) = chat(&model).await;

    match result {
        Err(ModelError::GaveUp { attempts, last }) => {
            assert_eq!(attempts, 4);
            assert!(
                last.contains("503") && last.contains("overloaded"),
                "{last}"
            );
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert_eq!(attempts(&server).await, 4);
}

#[tokio::test]
async fn slow_server_times_out_each_attempt_then_gives_up() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok().set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let config = HttpConfig {
        timeout: Duration::from_millis(200),
        max_retries: 1,
        ..fast_config(&server.uri())
    };

    let (result, _) = chat(&model(config)).await;

    match result {
        Err(ModelError::GaveUp { attempts, last }) => {
            assert_eq!(attempts, 2);
            assert!(last.contains("timed out"), "{last}");
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert_eq!(attempts(&server).await, 2);
}

#[tokio::test]
async fn malformed_json_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw("{\"choices\": [", "application/json"),
        )
        .mount(&server)
        .await;

    let (result, _) = chat(&model(fast_config(&server.uri()))).await;

    assert!(
        matches!(result, Err(ModelError::Malformed(_))),
        "{result:?}"
    );
    assert_eq!(attempts(&server).await, 1);
}

#[tokio::test]
async fn unreachable_server_is_retried_then_given_up() {
    // Bind, then drop: nothing listens on this port afterwards.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let model = model(HttpConfig {
        max_retries: 2,
        ..fast_config(&format!("http://{addr}"))
    });

    let (result, _) = chat(&model).await;

    assert!(
        matches!(result, Err(ModelError::GaveUp { attempts: 3, .. })),
        "{result:?}"
    );
}

/// Answers after `delay`, counting requests whose answer is still pending.
struct CountInFlight {
    active: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    delay: Duration,
}

impl Respond for CountInFlight {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        // Count the request as done a little before its answer leaves, so the
        // next request (sent only after an answer arrives) never overlaps it.
        let active = Arc::clone(&self.active);
        let hold = self.delay * 3 / 4;
        std::thread::spawn(move || {
            std::thread::sleep(hold);
            active.fetch_sub(1, Ordering::SeqCst);
        });
        ok().set_delay(self.delay)
    }
}

#[tokio::test]
async fn concurrency_limit_caps_requests_in_flight() {
    let server = MockServer::start().await;
    let most = Arc::new(AtomicUsize::new(0));
    let responder = CountInFlight {
        active: Arc::new(AtomicUsize::new(0)),
        most: Arc::clone(&most),
        delay: Duration::from_millis(200),
    };
    Mock::given(method("POST"))
        .respond_with(responder)
        .mount(&server)
        .await;
    let model = Arc::new(model(HttpConfig {
        concurrency: 3,
        ..fast_config(&server.uri())
    }));

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let model = Arc::clone(&model);
        calls.spawn(async move { model.complete(&messages(), &params(), &|_| {}).await });
    }
    while let Some(joined) = calls.join_next().await {
        joined.expect("task").expect("completion");
    }

    assert_eq!(attempts(&server).await, 20);
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 3, "{most} requests were in flight at once");
    assert!(most >= 2, "requests never overlapped ({most})");
}

#[test]
fn missing_api_key_variable_fails_at_construction() {
    let config = HttpConfig {
        api_key_env: Some("CTS_MODEL_TEST_NO_SUCH_VARIABLE".into()),
        ..HttpConfig::new("http://127.0.0.1:9", "m")
    };

    let err = OpenAiModel::new(config).expect_err("variable is unset");

    assert!(matches!(err, ConfigError::MissingApiKey { .. }), "{err:?}");
    assert!(
        err.to_string().contains("CTS_MODEL_TEST_NO_SUCH_VARIABLE"),
        "{err}"
    );
}
