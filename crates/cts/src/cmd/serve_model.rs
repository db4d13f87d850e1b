//! `cts serve-model`: the configured model as an OpenAI-compatible endpoint
//! on loopback (`/v1/chat/completions`, streaming or not, `/v1/models`,
//! `/healthz`), so other tools can use it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cts_model::{ChatMessage, ChatModel, GenerationParams};
use serde::Deserialize;

use crate::output::Output;
use crate::project::Project;

/// Arguments of `cts serve-model`.
#[derive(clap::Args, Debug)]
pub struct ServeModelArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8088")]
    listen: SocketAddr,
    /// Model: `default`, a .gguf path, or an OpenAI-compatible base URL (default: cts.toml, else `default`).
    #[arg(long)]
    model: Option<String>,
    /// Requests decoded in parallel.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
}

#[derive(Clone)]
struct AppState {
    model: Arc<dyn ChatModel>,
    defaults: GenerationParams,
}

#[derive(Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<ChatMessage>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    seed: Option<u64>,
    #[serde(alias = "max_completion_tokens")]
    max_tokens: Option<u32>,
    #[serde(default)]
    stream: bool,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": { "message": message.into(), "type": "invalid_request_error" } });
    (status, Json(body)).into_response()
}

fn fingerprint(model: &dyn ChatModel) -> String {
    let id = model.identity();
    format!(
        "cts-{}",
        id.weights_sha256
            .as_deref()
            .map_or("remote", |s| &s[..s.len().min(12)])
    )
}

async fn chat(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let req: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid request body: {e}"),
            )
        }
    };
    if req.messages.is_empty() {
        return error(StatusCode::BAD_REQUEST, "messages must not be empty");
    }
    let params = GenerationParams {
        temperature: req.temperature.unwrap_or(state.defaults.temperature),
        top_p: req.top_p.unwrap_or(state.defaults.top_p),
        seed: req.seed.unwrap_or(state.defaults.seed),
        max_tokens: req
            .max_tokens
            .unwrap_or(state.defaults.max_tokens)
            .min(8192),
    };
    let name = req.model.unwrap_or_else(|| state.model.identity().name);
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = format!("chatcmpl-{:016x}", rand::random::<u64>());
    let system_fingerprint = fingerprint(state.model.as_ref());
    if !req.stream {
        return match state.model.complete(&req.messages, &params, &|_| {}).await {
            Ok(c) => Json(serde_json::json!({
                "id": id, "object": "chat.completion", "created": created, "model": name,
                "system_fingerprint": system_fingerprint,
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": c.content }, "finish_reason": c.finish_reason }],
                "usage": { "prompt_tokens": c.usage.prompt_tokens, "completion_tokens": c.usage.completion_tokens,
                           "total_tokens": c.usage.prompt_tokens + c.usage.completion_tokens },
            }))
            .into_response(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let chunk = {
        let (id, name, fp) = (id.clone(), name.clone(), system_fingerprint.clone());
        move |delta: serde_json::Value, finish: Option<&str>| {
            serde_json::json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": name,
                "system_fingerprint": fp, "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        }
    };
    let model = state.model.clone();
    tokio::spawn(async move {
        let _ = tx.send(chunk(
            serde_json::json!({ "role": "assistant", "content": "" }),
            None,
        ));
        let text_tx = tx.clone();
        let text_chunk = chunk.clone();
        let on_text = move |t: &str| {
            let _ = text_tx.send(text_chunk(serde_json::json!({ "content": t }), None));
        };
        match model.complete(&req.messages, &params, &on_text).await {
            Ok(c) => {
                let _ = tx.send(chunk(serde_json::json!({}), Some(&c.finish_reason)));
            }
            Err(e) => {
                let _ = tx.send(serde_json::json!({ "error": { "message": e.to_string() } }));
            }
        }
    });
    let stream = futures_util::stream::unfold((rx, false), |(mut rx, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Some(v) => Some((
                Ok::<_, Infallible>(Event::default().data(v.to_string())),
                (rx, false),
            )),
            None => Some((Ok(Event::default().data("[DONE]")), (rx, true))),
        }
    });
    Sse::new(stream).into_response()
}

async fn models(State(state): State<AppState>) -> Json<serde_json::Value> {
    let id = state.model.identity();
    Json(
        serde_json::json!({ "object": "list", "data": [{ "id": id.name, "object": "model", "owned_by": "cts" }] }),
    )
}

/// Runs `cts serve-model` until interrupted.
pub async fn run(args: ServeModelArgs, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    let config = Project::find(project)
        .map(|p| p.config.model)
        .unwrap_or_default();
    let model = super::model::open(args.model.as_deref(), &config, args.parallel).await?;
    let state = AppState {
        model,
        defaults: super::model::params(&config),
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(1 << 20))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    out.emit(
        &serde_json::json!({ "listening": addr.to_string(), "model": state.model.identity() }),
        || {
            format!(
                "serving {} at http://{addr}/v1 (OpenAI-compatible); Ctrl-C to stop\n",
                state.model.identity().name
            )
        },
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(super::shutdown_signal())
        .await?;
    Ok(ExitCode::SUCCESS)
}
