//! The API key of the HTTP backend: read from the named environment variable
//! at construction, sent as `Authorization: Bearer`, never shown.
//!
//! Setting a variable while other threads read the environment is a data
//! race, so the one test that sets it has this process to itself.

use cts_model::http::{HttpConfig, OpenAiModel};
use cts_model::{ChatMessage, ChatModel, GenerationParams, Role};
use serde_json::json;
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY_VAR: &str = "CTS_MODEL_TEST_API_KEY";
const KEY: &str = "sk-test-0123456789";

#[tokio::test]
async fn api_key_from_the_named_variable_is_sent_as_bearer_and_never_shown() {
    std::env::set_var(KEY_VAR, KEY);
    let server = MockServer::start().await;
    let body = json!({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]});
    Mock::given(method("POST"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;
    let config = HttpConfig {
        api_key_env: Some(KEY_VAR.into()),
        ..HttpConfig::new(server.uri(), "m")
    };
    let model = OpenAiModel::new(config.clone()).expect("key is set");

    let messages = [ChatMessage::new(Role::User, "hi")];
    let completion = model
        .complete(&messages, &GenerationParams::default(), &|_| {})
        .await
        .expect("completion");

    assert_eq!(completion.content, "ok");
    assert!(!format!("{model:?}").contains(KEY), "Debug shows the key");
    assert!(
        !format!("{config:?}").contains(KEY),
        "the config holds the key"
    );
    assert!(
        !format!("{:?}", model.identity()).contains(KEY),
        "the identity holds the key"
    );
}
