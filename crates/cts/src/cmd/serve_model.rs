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
use cts_model::http::wire::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, Message, WireUsage,
};
use cts_model::{ChatModel, GenerationParams, Role};

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
    let req: ChatRequest<'static> = match serde_json::from_slice(&body) {
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
    let name = req
        .model
        .as_deref()
        .map_or_else(|| state.model.identity().name, str::to_owned);
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = format!("chatcmpl-{:016x}", rand::random::<u64>());
    let system_fingerprint = fingerprint(state.model.as_ref());
    if !req.stream {
        return match state.model.complete(&req.messages, &params, &|_| {}).await {
            Ok(c) => Json(ChatResponse {
                choices: vec![Choice {
                    finish_reason: Some(c.finish_reason),
                    index: 0,
                    message: Message {
                        content: Some(c.content),
                        role: Some(Role::Assistant),
                        ..Message::default()
                    },
                }],
                created: Some(created),
                id: Some(id),
                model: Some(name),
                object: Some("chat.completion".into()),
                system_fingerprint: Some(system_fingerprint),
                usage: Some(WireUsage::new(
                    c.usage.prompt_tokens,
                    c.usage.completion_tokens,
                )),
            })
            .into_response(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ChatChunk>();
    let chunk = move |delta: Message, finish_reason: Option<String>| ChatChunk {
        choices: vec![ChunkChoice {
            delta,
            finish_reason,
            index: 0,
        }],
        created: Some(created),
        id: Some(id.clone()),
        model: Some(name.clone()),
        object: Some("chat.completion.chunk".into()),
        system_fingerprint: Some(system_fingerprint.clone()),
        ..ChatChunk::default()
    };
    let text = |t: &str| Message {
        content: Some(t.to_owned()),
        ..Message::default()
    };
    let model = state.model.clone();
    tokio::spawn(async move {
        let first = Message {
            role: Some(Role::Assistant),
            ..text("")
        };
        let _ = tx.send(chunk(first, None));
        let text_tx = tx.clone();
        let text_chunk = chunk.clone();
        let on_text = move |t: &str| {
            let _ = text_tx.send(text_chunk(text(t), None));
        };
        match model.complete(&req.messages, &params, &on_text).await {
            Ok(c) => {
                let _ = tx.send(chunk(Message::default(), Some(c.finish_reason)));
            }
            Err(e) => {
                let _ = tx.send(ChatChunk {
                    error: Some(serde_json::json!({ "message": e.to_string() })),
                    ..ChatChunk::default()
                });
            }
        }
    });
    let stream = futures_util::stream::unfold((rx, false), |(mut rx, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Some(chunk) => Some((
                Ok::<_, Infallible>(
                    Event::default().data(serde_json::to_string(&chunk).unwrap_or_default()),
                ),
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
