//! The OpenAI wire formats: chat completions (what we send, what we read
//! back, how streamed chunks add up to one answer — the same types
//! `cts serve-model` writes) and the legacy completions endpoint with
//! echoed prompt log-probabilities, read into continuation scores. Pure
//! data, no I/O.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::{ChatMessage, GenerationParams, Role};

/// The request body of `POST /v1/chat/completions`: what [`OpenAiModel`]
/// sends and what `cts serve-model` reads. Every sampling parameter is
/// optional on the wire (a server fills in its defaults); CTS always sends
/// them.
///
/// [`OpenAiModel`]: super::OpenAiModel
#[derive(Debug, Serialize, Deserialize)]
pub struct ChatRequest<'a> {
    /// Model name (a server that serves one model may ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Cow<'a, str>>,
    /// The conversation.
    pub messages: Cow<'a, [ChatMessage]>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Sampling seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Largest completion, tokens (newer clients call it `max_completion_tokens`).
    #[serde(
        default,
        alias = "max_completion_tokens",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tokens: Option<u32>,
    /// Answer as server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// Asks a streaming server for a final chunk with token counts (sent;
    /// `cts serve-model` does not read it).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

/// Asks a streaming server for a final chunk with token counts.
#[derive(Debug, Serialize)]
pub struct StreamOptions {
    /// Whether to send the counts.
    pub include_usage: bool,
}

impl<'a> ChatRequest<'a> {
    /// The request CTS sends: every sampling parameter of `params`, and
    /// token counts asked for when streaming.
    pub fn new(
        model: &'a str,
        messages: &'a [ChatMessage],
        params: &GenerationParams,
        stream: bool,
    ) -> Self {
        Self {
            model: Some(Cow::Borrowed(model)),
            messages: Cow::Borrowed(messages),
            temperature: Some(params.temperature),
            top_p: Some(params.top_p),
            seed: Some(params.seed),
            max_tokens: Some(params.max_tokens),
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
        }
    }
}

// The response types below serve both sides: CTS reads them from servers,
// `cts serve-model` writes them. Their fields are declared in alphabetical
// order, the order `cts serve-model` has always written, and the fields
// only a writer fills are never read (`skip_deserializing`), so a server
// that sends them in another shape is still understood.

/// Token counts as servers report them.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct WireUsage {
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u32,
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_tokens: u32,
    /// Both (written, not read).
    #[serde(skip_deserializing)]
    pub total_tokens: u32,
}

impl WireUsage {
    /// Counts with their total.
    pub fn new(prompt_tokens: u32, completion_tokens: u32) -> Self {
        WireUsage {
            completion_tokens,
            prompt_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// A whole (non-streamed) response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The answers (CTS asks for one).
    pub choices: Vec<Choice>,
    /// Unix time of the answer, seconds (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// The answer's id (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model's name (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `chat.completion` (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The serving configuration's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

/// One choice of a whole response.
#[derive(Debug, Serialize, Deserialize)]
pub struct Choice {
    /// Why generation stopped (`stop`, `length`, …).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Its place among the choices (written, not read).
    #[serde(skip_deserializing)]
    pub index: u32,
    /// The answer.
    pub message: Message,
}

/// Text of a message or of a streamed delta. Reasoning arrives as
/// `reasoning_content` (vLLM, DeepSeek) or `reasoning` (some newer servers).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Message {
    /// The answer's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Reasoning text, as some servers name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Reasoning text, as vLLM and DeepSeek name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Who speaks (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl Message {
    /// The reasoning text, whichever field carried it.
    pub(crate) fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }
}

/// One streamed `data:` payload.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChatChunk {
    /// The choices' deltas (CTS asks for one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<ChunkChoice>,
    /// Unix time of the answer, seconds (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// Some servers (vLLM) report a failure mid-stream this way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// The answer's id (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model's name (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `chat.completion.chunk` (written, not read).
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The serving configuration's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// Token counts (in the last chunk, when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

/// One choice of a streamed chunk.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Message,
    /// Why generation stopped, in the last chunk (`null` before).
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Its place among the choices (written, not read).
    #[serde(skip_deserializing)]
    pub index: u32,
}

/// A streamed answer so far.
#[derive(Debug, Default)]
pub(crate) struct StreamedAnswer {
    pub content: String,
    pub reasoning: String,
    pub finish_reason: Option<String>,
    pub usage: Option<WireUsage>,
    pub system_fingerprint: Option<String>,
}

/// What one chunk added.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkDelta<'a> {
    /// New message text, to hand on as it streams.
    pub content: Option<&'a str>,
    /// Whether any token (content or reasoning) arrived.
    pub any_token: bool,
}

impl StreamedAnswer {
    /// Adds a chunk (only the first choice: we always ask for one).
    pub(crate) fn apply<'c>(&mut self, chunk: &'c ChatChunk) -> ChunkDelta<'c> {
        if chunk.system_fingerprint.is_some() {
            self.system_fingerprint
                .clone_from(&chunk.system_fingerprint);
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        let mut delta = ChunkDelta::default();
        let Some(choice) = chunk.choices.first() else {
            return delta;
        };
        if let Some(reasoning) = choice.delta.reasoning_text().filter(|r| !r.is_empty()) {
            self.reasoning.push_str(reasoning);
            delta.any_token = true;
        }
        if let Some(content) = choice.delta.content.as_deref().filter(|c| !c.is_empty()) {
            self.content.push_str(content);
            delta.content = Some(content);
            delta.any_token = true;
        }
        if choice.finish_reason.is_some() {
            self.finish_reason.clone_from(&choice.finish_reason);
        }
        delta
    }
}

/// The request body of `POST /v1/completions` that scores a prompt: the
/// prompt echoed with the log-probability of each of its tokens (and the
/// top one), one generated token that is ignored (some servers refuse 0 or
/// read it as "no limit").
#[derive(Debug, Serialize)]
pub(crate) struct ScoreRequest<'a> {
    pub model: &'a str,
    pub prompt: &'a str,
    pub max_tokens: u32,
    pub temperature: f32,
    pub logprobs: u32,
    pub echo: bool,
}

impl<'a> ScoreRequest<'a> {
    pub(crate) fn new(model: &'a str, prompt: &'a str) -> Self {
        Self {
            model,
            prompt,
            max_tokens: 1,
            temperature: 0.0,
            logprobs: 1,
            echo: true,
        }
    }
}

/// A `/v1/completions` response.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionResponse {
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
    #[serde(default)]
    pub system_fingerprint: Option<String>,
}

/// One choice of a `/v1/completions` response.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionChoice {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub logprobs: Option<WireLogprobs>,
}

/// The legacy `logprobs` object: one entry per token of the echoed prompt
/// and of the generated text.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireLogprobs {
    /// `null` for the first token, which has no context.
    #[serde(default)]
    pub token_logprobs: Option<Vec<Option<f64>>>,
    #[serde(default)]
    pub top_logprobs: Option<Vec<Option<HashMap<String, f64>>>>,
    /// Character offset of each token in the returned text.
    #[serde(default)]
    pub text_offset: Option<Vec<usize>>,
}

/// Why echoed log-probabilities do not give a score.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EchoProblem {
    /// The server left out what scoring needs: it does not support it.
    Unsupported(String),
    /// The continuation has no tokens of its own.
    NoTokens,
    /// The fields are there but do not add up.
    Malformed(String),
}

/// A continuation's log-probability, token count and greediness from the
/// echoed `prompt` = context + continuation, where the continuation starts
/// at character `boundary`: its tokens are those whose offset lies in
/// `boundary..` the end of the prompt (what follows is generated text). A
/// token is greedy when its log-probability is the largest of its top ones
/// (lm-eval's `local-completions` rule).
pub(crate) fn score_echo(
    choice: &CompletionChoice,
    prompt: &str,
    boundary: usize,
) -> Result<(f64, u32, bool), EchoProblem> {
    let unsupported = |what: &str| EchoProblem::Unsupported(what.to_owned());
    if let Some(text) = &choice.text {
        if !text.starts_with(prompt) {
            return Err(unsupported(
                "the returned text does not start with the prompt (echo not honoured)",
            ));
        }
    }
    let lp = choice
        .logprobs
        .as_ref()
        .ok_or_else(|| unsupported("the response has no logprobs"))?;
    let offsets = lp
        .text_offset
        .as_ref()
        .ok_or_else(|| unsupported("logprobs has no text_offset"))?;
    let logprobs = lp
        .token_logprobs
        .as_ref()
        .ok_or_else(|| unsupported("logprobs has no token_logprobs"))?;
    let top = lp
        .top_logprobs
        .as_ref()
        .ok_or_else(|| unsupported("logprobs has no top_logprobs"))?;
    if offsets.first().is_none_or(|&o| o != 0) {
        return Err(unsupported(
            "the token offsets do not start at the prompt (echo not honoured)",
        ));
    }
    if logprobs.len() != offsets.len() || top.len() != offsets.len() {
        return Err(EchoProblem::Malformed(format!(
            "{} offsets, {} log-probabilities and {} top entries",
            offsets.len(),
            logprobs.len(),
            top.len()
        )));
    }
    let end = prompt.chars().count();
    let (mut sum, mut count, mut greedy) = (0.0, 0u32, true);
    for (i, &offset) in offsets.iter().enumerate() {
        if offset < boundary || offset >= end {
            continue;
        }
        let value = logprobs[i].ok_or_else(|| {
            EchoProblem::Malformed(format!(
                "token {i} of the continuation has no log-probability"
            ))
        })?;
        if !value.is_finite() && value != f64::NEG_INFINITY {
            return Err(EchoProblem::Malformed(format!(
                "token {i} has log-probability {value}"
            )));
        }
        let best = top[i]
            .as_ref()
            .and_then(|t| t.values().copied().reduce(f64::max))
            .ok_or_else(|| {
                EchoProblem::Malformed(format!("token {i} of the continuation has no top entries"))
            })?;
        sum += value;
        count += 1;
        greedy &= value >= best;
    }
    if count == 0 {
        return Err(EchoProblem::NoTokens);
    }
    Ok((sum, count, greedy))
}

/// Longest server message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 500;

/// The server's error message from an error body: `{"error": {"message": …}}`,
/// `{"error": "…"}`, `{"message": …}`, `{"detail": …}`, or the text itself.
pub(crate) fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| json_error_message(&v))
        .unwrap_or_else(|| text.trim().to_owned());
    truncate_chars(&message, MAX_MESSAGE_CHARS)
}

/// The message inside a JSON error value, if it has one.
pub(crate) fn json_error_message(value: &serde_json::Value) -> Option<String> {
    let pick = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => {
            o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
        }
        _ => None,
    };
    ["error", "message", "detail"]
        .iter()
        .find_map(|key| value.get(key).and_then(pick))
        .or_else(|| pick(value))
}

/// The first `max` characters of `text`, marked when cut.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_sampling_parameters_and_stream_options() {
        let messages = [ChatMessage::new(Role::User, "hi")];
        let params = GenerationParams {
            temperature: 0.0,
            top_p: 1.0,
            seed: 7,
            max_tokens: 64,
        };
        let body =
            serde_json::to_value(ChatRequest::new("m", &messages, &params, true)).expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.0, "top_p": 1.0, "seed": 7, "max_tokens": 64,
                "stream": true, "stream_options": {"include_usage": true}
            })
        );
        let body =
            serde_json::to_value(ChatRequest::new("m", &messages, &params, false)).expect("json");
        assert!(body.get("stream_options").is_none());
    }

    #[test]
    fn a_request_cts_sends_is_read_back_as_a_server_reads_it() {
        let messages = [ChatMessage::new(Role::User, "hi")];
        let params = GenerationParams {
            temperature: 0.5,
            top_p: 0.9,
            seed: 7,
            max_tokens: 64,
        };
        let text =
            serde_json::to_string(&ChatRequest::new("m", &messages, &params, true)).expect("json");
        let back: ChatRequest<'static> = serde_json::from_str(&text).expect("read back");
        assert_eq!(back.model.as_deref(), Some("m"));
        assert_eq!(back.messages.len(), 1);
        assert_eq!(
            (back.temperature, back.top_p, back.seed, back.max_tokens),
            (Some(0.5), Some(0.9), Some(7), Some(64))
        );
        assert!(back.stream);
        // What servers fill in themselves may be left out; the newer name
        // of max_tokens is accepted.
        let sparse: ChatRequest<'static> = serde_json::from_str(
            r#"{"messages":[],"max_completion_tokens":5,"stream_options":"ignored"}"#,
        )
        .expect("sparse");
        assert_eq!((sparse.model, sparse.max_tokens), (None, Some(5)));
        assert!(!sparse.stream && sparse.stream_options.is_none());
    }

    #[test]
    fn a_response_is_written_in_alphabetical_order_and_read_back() {
        let response = ChatResponse {
            choices: vec![Choice {
                finish_reason: Some("stop".into()),
                index: 0,
                message: Message {
                    content: Some("B".into()),
                    role: Some(Role::Assistant),
                    ..Message::default()
                },
            }],
            created: Some(1),
            id: Some("x".into()),
            model: Some("m".into()),
            object: Some("chat.completion".into()),
            system_fingerprint: Some("fp".into()),
            usage: Some(WireUsage::new(3, 2)),
        };
        let text = serde_json::to_string(&response).expect("json");
        assert_eq!(
            text,
            r#"{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"B","role":"assistant"}}],"created":1,"id":"x","model":"m","object":"chat.completion","system_fingerprint":"fp","usage":{"completion_tokens":2,"prompt_tokens":3,"total_tokens":5}}"#
        );
        let back: ChatResponse = serde_json::from_str(&text).expect("read back");
        assert_eq!(back.choices[0].message.content.as_deref(), Some("B"));
        assert_eq!(back.system_fingerprint.as_deref(), Some("fp"));
        let usage = back.usage.expect("usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (3, 2));
        // Fields only a writer fills are never read, whatever their shape.
        let odd: ChatResponse = serde_json::from_str(
            r#"{"id":7,"created":"now","choices":[{"index":"0","message":{"role":"tool","content":"A"}}]}"#,
        )
        .expect("odd");
        assert_eq!(odd.choices[0].message.content.as_deref(), Some("A"));
    }

    #[test]
    fn a_chunk_writes_a_null_finish_reason_until_the_last() {
        let chunk = ChatChunk {
            choices: vec![ChunkChoice {
                delta: Message {
                    content: Some("I".into()),
                    ..Message::default()
                },
                finish_reason: None,
                index: 0,
            }],
            id: Some("x".into()),
            ..ChatChunk::default()
        };
        assert_eq!(
            serde_json::to_string(&chunk).expect("json"),
            r#"{"choices":[{"delta":{"content":"I"},"finish_reason":null,"index":0}],"id":"x"}"#
        );
        let error = ChatChunk {
            error: Some(serde_json::json!({"message": "boom"})),
            ..ChatChunk::default()
        };
        assert_eq!(
            serde_json::to_string(&error).expect("json"),
            r#"{"error":{"message":"boom"}}"#
        );
    }

    #[test]
    fn error_message_is_found_in_common_shapes() {
        assert_eq!(
            error_message(br#"{"error":{"message":"bad model","type":"x"}}"#),
            "bad model"
        );
        assert_eq!(error_message(br#"{"error":"no"}"#), "no");
        assert_eq!(
            error_message(br#"{"detail":"missing field"}"#),
            "missing field"
        );
        assert_eq!(error_message(b" plain text \n"), "plain text");
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "µ".repeat(600);
        let cut = truncate_chars(&long, MAX_MESSAGE_CHARS);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn streamed_chunks_add_up() {
        let mut answer = StreamedAnswer::default();
        let chunks = [
            r#"{"choices":[{"delta":{"role":"assistant","reasoning_content":"think"}}],"system_fingerprint":"fp1"}"#,
            r#"{"choices":[{"delta":{"content":"β-"}}]}"#,
            r#"{"choices":[{"delta":{"content":"blocker"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
        ];
        let mut streamed = String::new();
        for chunk in chunks {
            let chunk: ChatChunk = serde_json::from_str(chunk).expect("chunk");
            if let Some(text) = answer.apply(&chunk).content {
                streamed.push_str(text);
            }
        }
        assert_eq!(streamed, "β-blocker");
        assert_eq!(answer.content, "β-blocker");
        assert_eq!(answer.reasoning, "think");
        assert_eq!(answer.finish_reason.as_deref(), Some("stop"));
        assert_eq!(answer.system_fingerprint.as_deref(), Some("fp1"));
        assert_eq!(
            answer.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            Some((3, 4))
        );
    }

    fn echo(text: &str, offsets: &[usize], lps: &[Option<f64>], tops: &[f64]) -> CompletionChoice {
        CompletionChoice {
            text: Some(text.to_owned()),
            logprobs: Some(WireLogprobs {
                token_logprobs: Some(lps.to_vec()),
                top_logprobs: Some(
                    tops.iter()
                        .map(|&t| Some(HashMap::from([("x".to_owned(), t)])))
                        .collect(),
                ),
                text_offset: Some(offsets.to_vec()),
            }),
        }
    }

    #[test]
    fn score_request_echoes_the_prompt_with_logprobs() {
        let body = serde_json::to_value(ScoreRequest::new("m", "Q: x\nAnswer: A")).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"model": "m", "prompt": "Q: x\nAnswer: A", "max_tokens": 1,
                               "temperature": 0.0, "logprobs": 1, "echo": true})
        );
    }

    #[test]
    fn echo_score_sums_the_continuation_and_skips_the_generated_token() {
        // "Answer:" | " Yes" | generated "\n"; tokens "Answer", ":", " Yes", "\n".
        let choice = echo(
            "Answer: Yes\n",
            &[0, 6, 7, 11],
            &[None, Some(-1.0), Some(-0.5), Some(-0.1)],
            &[-1.0, -1.0, -0.5, -0.1],
        );
        let (lp, n, greedy) = score_echo(&choice, "Answer: Yes", 7).expect("scores");
        assert_eq!((lp, n, greedy), (-0.5, 1, true));
        let (lp, n, greedy) = score_echo(&choice, "Answer: Yes", 6).expect("scores");
        assert_eq!((lp, n, greedy), (-1.5, 2, true));
    }

    #[test]
    fn a_token_below_its_top_entry_is_not_greedy() {
        let choice = echo("ab", &[0, 1], &[None, Some(-2.0)], &[0.0, -0.3]);
        assert_eq!(score_echo(&choice, "ab", 1), Ok((-2.0, 1, false)));
    }

    #[test]
    fn missing_logprobs_or_offsets_are_unsupported() {
        let mut choice = echo("ab", &[0, 1], &[None, Some(-2.0)], &[0.0, -0.3]);
        choice.logprobs.as_mut().expect("set").text_offset = None;
        assert!(matches!(
            score_echo(&choice, "ab", 1),
            Err(EchoProblem::Unsupported(_))
        ));
        choice.logprobs = None;
        assert!(matches!(
            score_echo(&choice, "ab", 1),
            Err(EchoProblem::Unsupported(_))
        ));
    }

    #[test]
    fn an_answer_without_the_echoed_prompt_is_unsupported() {
        let choice = echo("c", &[0], &[Some(-0.1)], &[-0.1]);
        assert!(matches!(
            score_echo(&choice, "ab", 1),
            Err(EchoProblem::Unsupported(_))
        ));
    }

    #[test]
    fn null_logprob_inside_the_continuation_is_malformed() {
        let choice = echo(
            "abc",
            &[0, 1, 2],
            &[None, None, Some(-1.0)],
            &[0.0, 0.0, -1.0],
        );
        assert!(matches!(
            score_echo(&choice, "abc", 1),
            Err(EchoProblem::Malformed(_))
        ));
    }

    #[test]
    fn a_continuation_inside_a_context_token_has_no_tokens() {
        // Token "bc" starts before the boundary at 2: it counts as context.
        let choice = echo("abc", &[0, 1], &[None, Some(-1.0)], &[0.0, -1.0]);
        assert_eq!(score_echo(&choice, "abc", 2), Err(EchoProblem::NoTokens));
    }
}
