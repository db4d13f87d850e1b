//! The OpenAI-compatible HTTP backend: [`OpenAiModel`] speaks
//! `POST {base_url}/v1/chat/completions` to vLLM, llama.cpp server, Ollama,
//! TGI or a hosted API, whole or streamed (SSE).
//!
//! It also scores continuations ([`LoglikModel`]) the way lm-eval's
//! `local-completions` and `gguf` models do: one `POST /v1/completions` per
//! continuation with the joined text as the prompt, `echo: true`,
//! `logprobs: 1` and `max_tokens: 1`, summing the echoed log-probabilities
//! of the tokens whose `text_offset` falls in the continuation. A server
//! without the endpoint, or one that leaves out the echoed log-probabilities
//! or offsets, gives [`LoglikError::Unsupported`].
//!
//! It retries what a retry can fix (429, 500, 502, 503, 504, connection
//! errors, timeouts) with exponential backoff and full jitter, honouring
//! `Retry-After`; it refuses at once what it cannot (other 4xx), and it caps
//! requests in flight with a semaphore. The API key is read from an
//! environment variable once, at construction, and never logged.
//!
//! Not here: prompts (`cts-trace`), local models (`cts-llama`).

mod backoff;
mod sse;
pub mod wire;

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Response, StatusCode, Url};
use tokio::sync::Semaphore;

pub use backoff::Backoff;

use crate::loglik::split_trailing_whitespace;
use crate::{
    ChatMessage, ChatModel, Completion, ContinuationScore, GenerationParams, LoglikError,
    LoglikModel, LoglikRequest, ModelError, ModelIdentity, Usage,
};
use sse::{data_payload, LineBuffer};
use wire::{
    error_message, json_error_message, score_echo, truncate_chars, ChatChunk, ChatRequest,
    ChatResponse, CompletionResponse, EchoProblem, ScoreRequest, StreamedAnswer,
};

/// `ModelIdentity::backend` of this backend.
pub const BACKEND: &str = "openai-http";

/// Longest piece of an unreadable body quoted in an error.
const MAX_QUOTE_CHARS: usize = 200;

/// How to reach an OpenAI-compatible server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// Server root such as `http://127.0.0.1:8080`; a trailing `/v1` is accepted.
    pub base_url: String,
    /// The `model` sent with every request.
    pub model: String,
    /// Name of the environment variable that holds the API key (sent as `Authorization: Bearer`).
    pub api_key_env: Option<String>,
    /// Limit on one request, from sending it to the end of the (streamed) body.
    pub timeout: Duration,
    /// Limit on opening a connection.
    pub connect_timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Most requests in flight at once through one [`OpenAiModel`].
    pub concurrency: usize,
    /// Whether to stream the answer (SSE).
    pub stream: bool,
    /// Waits between retries.
    pub backoff: Backoff,
}

impl HttpConfig {
    /// A config with defaults: no API key, 300 s per request, 10 s to connect,
    /// 4 retries, 8 requests in flight, no streaming, default backoff.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key_env: None,
            timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            max_retries: 4,
            concurrency: 8,
            stream: false,
            backoff: Backoff::default(),
        }
    }
}

/// Why an [`OpenAiModel`] cannot be built from an [`HttpConfig`].
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The base URL is not an `http(s)` URL.
    #[error("invalid base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given, credentials masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API key variable is unset, empty or not Unicode.
    #[error("API key variable {var} is not set (or is empty); export it or drop api_key_env")]
    MissingApiKey {
        /// The variable's name.
        var: String,
    },
    /// The API key cannot be sent in an HTTP header.
    #[error("API key in {var} contains characters not allowed in an HTTP header")]
    InvalidApiKey {
        /// The variable's name.
        var: String,
    },
    /// `concurrency` is 0.
    #[error("concurrency must be at least 1")]
    ZeroConcurrency,
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl From<ConfigError> for ModelError {
    fn from(e: ConfigError) -> Self {
        ModelError::Unavailable(e.to_string())
    }
}

/// A chat model behind an OpenAI-compatible HTTP server.
#[derive(Debug)]
pub struct OpenAiModel {
    client: reqwest::Client,
    endpoint: Url,
    /// `{root}/v1/completions`, for log-likelihood scoring.
    completions: Url,
    /// The server root as shown in identities: no credentials, no `/v1`.
    base_url: String,
    model: String,
    /// Marked sensitive, so `Debug` never prints it.
    authorization: Option<HeaderValue>,
    stream: bool,
    max_retries: u32,
    backoff: Backoff,
    permits: Semaphore,
    last_fingerprint: Mutex<Option<String>>,
}

/// What one scoring request got back.
enum Scored {
    /// A completions response.
    Response(CompletionResponse),
    /// The server has no such endpoint or refuses echoed log-probabilities.
    Unsupported(String),
}

/// How one attempt failed.
enum Failure {
    /// Worth another attempt.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Final: returned as is.
    Final(ModelError),
}

impl OpenAiModel {
    /// Builds the client; reads the API key from `config.api_key_env` now.
    pub fn new(config: HttpConfig) -> Result<Self, ConfigError> {
        if config.concurrency == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        let (endpoint, base_url) = endpoint_of(&config.base_url)?;
        let mut completions = endpoint.clone();
        let root = endpoint
            .path()
            .trim_end_matches("/chat/completions")
            .to_owned();
        completions.set_path(&format!("{root}/completions"));
        let authorization = match &config.api_key_env {
            None => None,
            Some(var) => Some(bearer_from_env(var)?),
        };
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // A redirected POST turns into a GET; better to say so than to follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cts-model/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Client(describe(&e)))?;
        Ok(Self {
            client,
            endpoint,
            completions,
            base_url,
            model: config.model,
            authorization,
            stream: config.stream,
            max_retries: config.max_retries,
            backoff: config.backoff,
            permits: Semaphore::new(config.concurrency),
            last_fingerprint: Mutex::new(None),
        })
    }

    fn identity_with(&self, system_fingerprint: Option<String>) -> ModelIdentity {
        ModelIdentity {
            backend: BACKEND.to_owned(),
            name: self.model.clone(),
            weights_sha256: None,
            base_url: Some(self.base_url.clone()),
            system_fingerprint,
        }
    }

    fn remember_fingerprint(&self, fingerprint: &Option<String>) {
        if fingerprint.is_some() {
            let mut last = self
                .last_fingerprint
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            last.clone_from(fingerprint);
        }
    }

    /// One request, start to finish.
    async fn attempt(
        &self,
        body: &[u8],
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Completion, Failure> {
        let started = Instant::now();
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if self.stream {
            request = request.header(ACCEPT, "text/event-stream");
        }
        let response = request.send().await.map_err(transport_failure)?;
        let headers_at = Instant::now();
        if !response.status().is_success() {
            return Err(status_failure(response).await);
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        // A server that ignores `stream: true` answers with plain JSON; take it.
        if self.stream && is_sse {
            self.read_stream(response, started, on_text).await
        } else {
            self.read_whole(response, started, headers_at, on_text)
                .await
        }
    }

    async fn read_whole(
        &self,
        response: Response,
        started: Instant,
        headers_at: Instant,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Completion, Failure> {
        let bytes = response.bytes().await.map_err(transport_failure)?;
        let done = Instant::now();
        let parsed: ChatResponse = serde_json::from_slice(&bytes).map_err(|e| {
            let quote = truncate_chars(&String::from_utf8_lossy(&bytes), MAX_QUOTE_CHARS);
            Failure::Final(ModelError::Malformed(format!("{e}; body: {quote}")))
        })?;
        let Some(choice) = parsed.choices.into_iter().next() else {
            return Err(Failure::Final(ModelError::Malformed(
                "response has no choices".into(),
            )));
        };
        let reasoning = choice
            .message
            .reasoning_text()
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let content = choice.message.content.unwrap_or_default();
        if !content.is_empty() {
            on_text(&content);
        }
        self.remember_fingerprint(&parsed.system_fingerprint);
        let usage = parsed.usage.unwrap_or_default();
        Ok(Completion {
            content,
            reasoning,
            finish_reason: choice.finish_reason.unwrap_or_else(|| "unknown".into()),
            usage: Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                prompt_ms: millis(headers_at - started),
                generation_ms: millis(done - headers_at),
            },
            model: self.identity_with(parsed.system_fingerprint),
        })
    }

    async fn read_stream(
        &self,
        mut response: Response,
        started: Instant,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Completion, Failure> {
        let mut lines = LineBuffer::default();
        let mut stream = StreamState::default();
        let mut done = false;
        'read: loop {
            let bytes = match response.chunk().await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => break,
                Err(e) => return Err(stream.cut(&describe(&e))),
            };
            lines.feed(&bytes);
            while let Some(line) = lines.next_line() {
                if stream.line(line, on_text)? {
                    done = true;
                    break 'read;
                }
            }
        }
        if !done {
            if let Some(line) = lines.finish() {
                done = stream.line(line, on_text)?;
            }
        }
        // Without [DONE], a finish_reason still shows the answer is complete.
        if !done && stream.answer.finish_reason.is_none() {
            return Err(stream.cut("ended without [DONE] or a finish_reason"));
        }
        let StreamState {
            answer,
            first_token,
            ..
        } = stream;
        let end = Instant::now();
        let first_token = first_token.unwrap_or(end);
        self.remember_fingerprint(&answer.system_fingerprint);
        let usage = answer.usage.unwrap_or_default();
        Ok(Completion {
            content: answer.content,
            reasoning: Some(answer.reasoning).filter(|r| !r.is_empty()),
            finish_reason: answer.finish_reason.unwrap_or_else(|| "unknown".into()),
            usage: Usage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                prompt_ms: millis(first_token - started),
                generation_ms: millis(end - first_token),
            },
            model: self.identity_with(answer.system_fingerprint),
        })
    }
}

#[async_trait::async_trait]
impl ChatModel for OpenAiModel {
    fn identity(&self) -> ModelIdentity {
        let last = self
            .last_fingerprint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.identity_with(last)
    }

    async fn complete(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &(dyn for<'a> Fn(&'a str) + Send + Sync),
    ) -> Result<Completion, ModelError> {
        let request = ChatRequest::new(&self.model, messages, params, self.stream);
        let body = serde_json::to_vec(&request)
            .map_err(|e| ModelError::Inference(format!("cannot encode the request: {e}")))?;
        self.with_retries(|| self.attempt(&body, on_text)).await
    }
}

#[async_trait::async_trait]
impl LoglikModel for OpenAiModel {
    async fn loglik(
        &self,
        requests: &[LoglikRequest],
    ) -> Vec<Result<Vec<ContinuationScore>, LoglikError>> {
        let items = requests
            .iter()
            .enumerate()
            .map(|(item, request)| async move {
                if request.continuations.is_empty() {
                    return Err(LoglikError::NoContinuations { item });
                }
                let scores =
                    futures_util::future::join_all(request.continuations.iter().enumerate().map(
                        |(c, continuation)| self.score(item, c, &request.context, continuation),
                    ))
                    .await;
                scores.into_iter().collect()
            });
        futures_util::future::join_all(items).await
    }
}

impl OpenAiModel {
    /// Runs `once` until it succeeds, fails for good, or the retries are
    /// spent, holding a request permit for each attempt.
    async fn with_retries<T, F, Fut>(&self, mut once: F) -> Result<T, ModelError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut last = String::new();
        for attempt in 0..=self.max_retries {
            // The permit covers one attempt, not the waits between attempts,
            // so a request backing off does not hold a slot others could use.
            let outcome = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| ModelError::Unavailable("request limiter closed".into()))?;
                once().await
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Transient {
                    reason,
                    retry_after,
                }) => {
                    last = reason;
                    if attempt < self.max_retries {
                        tokio::time::sleep(self.backoff.wait(attempt, retry_after)).await;
                    }
                }
            }
        }
        Err(ModelError::GaveUp {
            attempts: self.max_retries.saturating_add(1),
            last,
        })
    }

    /// Scores one continuation of item `item`.
    async fn score(
        &self,
        item: usize,
        continuation: usize,
        context: &str,
        text: &str,
    ) -> Result<ContinuationScore, LoglikError> {
        let unsupported = |reason: String| LoglikError::Unsupported {
            backend: BACKEND.to_owned(),
            reason,
        };
        let (ctx, cont) = split_trailing_whitespace(context, text);
        if ctx.is_empty() {
            return Err(unsupported(
                "an empty context: over /v1/completions the first echoed token has no log-probability".into(),
            ));
        }
        let prompt = format!("{ctx}{cont}");
        let body = serde_json::to_vec(&ScoreRequest::new(&self.model, &prompt)).map_err(|e| {
            LoglikError::Model {
                item,
                source: ModelError::Inference(format!("cannot encode the request: {e}")),
            }
        })?;
        let response = match self
            .with_retries(|| self.score_attempt(&body))
            .await
            .map_err(|source| LoglikError::Model { item, source })?
        {
            Scored::Response(r) => r,
            Scored::Unsupported(reason) => return Err(unsupported(reason)),
        };
        self.remember_fingerprint(&response.system_fingerprint);
        let choice = response
            .choices
            .first()
            .ok_or_else(|| LoglikError::Malformed {
                item,
                reason: "the response has no choices".into(),
            })?;
        match score_echo(choice, &prompt, ctx.chars().count()) {
            Ok((logprob, tokens, is_greedy)) => Ok(ContinuationScore {
                logprob,
                tokens,
                is_greedy,
            }),
            Err(EchoProblem::Unsupported(reason)) => Err(unsupported(reason)),
            Err(EchoProblem::NoTokens) => {
                Err(LoglikError::EmptyContinuation { item, continuation })
            }
            Err(EchoProblem::Malformed(reason)) => Err(LoglikError::Malformed { item, reason }),
        }
    }

    /// One scoring request, start to finish.
    async fn score_attempt(&self, body: &[u8]) -> Result<Scored, Failure> {
        let mut request = self
            .client
            .post(self.completions.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let response = request.send().await.map_err(transport_failure)?;
        let status = response.status();
        if matches!(
            status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
        ) {
            return Ok(Scored::Unsupported(format!(
                "POST /v1/completions answered HTTP {status}"
            )));
        }
        if !status.is_success() {
            let failure = status_failure(response).await;
            // An error that names what scoring needs is the server saying it
            // cannot (llama-cpp-python answers 500 "logprobs is not supported
            // for models created with logits_all=False"): retrying won't help.
            let message = match &failure {
                Failure::Final(ModelError::Refused { message, .. }) => Some(message),
                Failure::Final(ModelError::Unavailable(message)) => Some(message),
                Failure::Transient { reason, .. } if status != StatusCode::TOO_MANY_REQUESTS => {
                    Some(reason)
                }
                _ => None,
            };
            if let Some(message) = message {
                let lower = message.to_lowercase();
                if lower.contains("logprob") || lower.contains("echo") {
                    return Ok(Scored::Unsupported(format!(
                        "POST /v1/completions answered HTTP {status}: {message}"
                    )));
                }
            }
            return Err(failure);
        }
        let bytes = response.bytes().await.map_err(transport_failure)?;
        serde_json::from_slice(&bytes)
            .map(Scored::Response)
            .map_err(|e| {
                let quote = truncate_chars(&String::from_utf8_lossy(&bytes), MAX_QUOTE_CHARS);
                Failure::Final(ModelError::Malformed(format!("{e}; body: {quote}")))
            })
    }
}

/// A streamed answer being read.
#[derive(Default)]
struct StreamState {
    answer: StreamedAnswer,
    first_token: Option<Instant>,
    /// Whether `on_text` has been called.
    emitted: bool,
}

impl StreamState {
    /// Takes one SSE line; true once `[DONE]` arrives.
    fn line(
        &mut self,
        line: Result<String, std::string::FromUtf8Error>,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<bool, Failure> {
        let line = line.map_err(|e| {
            Failure::Final(ModelError::Malformed(format!(
                "stream line is not UTF-8: {e}"
            )))
        })?;
        let Some(data) = data_payload(&line) else {
            return Ok(false);
        };
        if data.trim() == "[DONE]" {
            return Ok(true);
        }
        let chunk: ChatChunk = serde_json::from_str(data).map_err(|e| {
            let quote = truncate_chars(data, MAX_QUOTE_CHARS);
            Failure::Final(ModelError::Malformed(format!(
                "stream chunk {e}; data: {quote}"
            )))
        })?;
        if let Some(error) = &chunk.error {
            let message = json_error_message(error).unwrap_or_else(|| error.to_string());
            return Err(Failure::Final(ModelError::Inference(message)));
        }
        let delta = self.answer.apply(&chunk);
        if delta.any_token && self.first_token.is_none() {
            self.first_token = Some(Instant::now());
        }
        if let Some(text) = delta.content {
            on_text(text);
            self.emitted = true;
        }
        Ok(false)
    }

    /// The stream stopped early. Retrying is safe only before `on_text` saw
    /// any text: after that, a second attempt would hand the caller a second,
    /// different beginning, so the cut is final.
    fn cut(&self, why: &str) -> Failure {
        if self.emitted {
            let chars = self.answer.content.chars().count();
            Failure::Final(ModelError::Malformed(format!(
                "stream cut after {chars} characters of text: {why}"
            )))
        } else {
            Failure::Transient {
                reason: format!("stream cut before any text: {why}"),
                retry_after: None,
            }
        }
    }
}

/// A failed send or body read: everything but a malformed request is worth a retry.
fn transport_failure(e: reqwest::Error) -> Failure {
    let e = e.without_url();
    if e.is_builder() {
        return Failure::Final(ModelError::Unavailable(describe(&e)));
    }
    let reason = if e.is_timeout() {
        format!("timed out: {}", describe(&e))
    } else {
        describe(&e)
    };
    Failure::Transient {
        reason,
        retry_after: None,
    }
}

/// A non-2xx answer.
async fn status_failure(response: Response) -> Failure {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| backoff::parse_retry_after(v, SystemTime::now()));
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let message = match response.bytes().await {
        Ok(body) => error_message(&body),
        Err(e) => format!("(error body unreadable: {})", describe(&e.without_url())),
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::INTERNAL_SERVER_ERROR
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Failure::Transient {
            reason: format!("HTTP {status}: {message}"),
            retry_after,
        },
        s if s.is_client_error() => Failure::Final(ModelError::Refused {
            status: s.as_u16(),
            message,
        }),
        s if s.is_redirection() => Failure::Final(ModelError::Unavailable(format!(
            "HTTP {s}: redirected to {}; set base_url to the final address",
            location.as_deref().unwrap_or("(no Location)")
        ))),
        s => Failure::Final(ModelError::Unavailable(format!("HTTP {s}: {message}"))),
    }
}

/// The chat-completions URL and the root shown in identities (no credentials, no `/v1`).
fn endpoint_of(base_url: &str) -> Result<(Url, String), ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidBaseUrl {
        url: mask_credentials(base_url),
        reason,
    };
    let mut url = Url::parse(base_url.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "a query or fragment has no place in a base URL".into(),
        ));
    }
    let root = url.path().trim_end_matches('/');
    let root = root.strip_suffix("/v1").unwrap_or(root).to_owned();
    url.set_path(&format!("{root}/v1/chat/completions"));
    let mut shown = url.clone();
    // Cannot fail on an http(s) URL with a host, which `Url::parse` guaranteed.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_path(&root);
    let shown = shown.as_str().trim_end_matches('/').to_owned();
    Ok((url, shown))
}

/// `scheme://user:pass@host…` → `scheme://***@host…`, for error messages.
fn mask_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// `Bearer <key>` from the variable `var`, marked sensitive.
fn bearer_from_env(var: &str) -> Result<HeaderValue, ConfigError> {
    let key = std::env::var(var)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| ConfigError::MissingApiKey {
            var: var.to_owned(),
        })?;
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.trim())).map_err(|_| {
        ConfigError::InvalidApiKey {
            var: var.to_owned(),
        }
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// An error and its causes, `outer: inner: …`.
fn describe(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_with_or_without_v1_reaches_the_same_endpoint() {
        for base in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/v1",
            "http://127.0.0.1:8080/v1/",
        ] {
            let (endpoint, shown) = endpoint_of(base).expect("valid");
            assert_eq!(
                endpoint.as_str(),
                "http://127.0.0.1:8080/v1/chat/completions",
                "{base}"
            );
            assert_eq!(shown, "http://127.0.0.1:8080", "{base}");
        }
        let (endpoint, shown) = endpoint_of("https://example.test/proxy/v1").expect("valid");
        assert_eq!(
            endpoint.as_str(),
            "https://example.test/proxy/v1/chat/completions"
        );
        assert_eq!(shown, "https://example.test/proxy");
    }

    #[test]
    fn identity_base_url_drops_credentials() {
        let (_, shown) = endpoint_of("http://user:secret@127.0.0.1:9/v1").expect("valid");
        assert_eq!(shown, "http://127.0.0.1:9");
    }

    #[test]
    fn bad_base_urls_are_refused_with_credentials_masked() {
        let err = endpoint_of("ftp://user:secret@host/").expect_err("not http");
        assert!(!err.to_string().contains("secret"), "{err}");
        let err = endpoint_of("http://user:secret@[bad/").expect_err("unparseable");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(endpoint_of("127.0.0.1:8080").is_err());
        assert!(endpoint_of("http://h/?x=1").is_err());
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let config = HttpConfig {
            concurrency: 0,
            ..HttpConfig::new("http://127.0.0.1:9", "m")
        };
        assert!(matches!(
            OpenAiModel::new(config),
            Err(ConfigError::ZeroConcurrency)
        ));
    }
}
