//! `cts model …` and model selection: `default` (the built-in local GGUF),
//! a `.gguf` path, or an OpenAI-compatible server's base URL.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cts_model::{ChatModel, GenerationParams};

use crate::output::Output;
use crate::project::ModelConfig;

/// `cts model` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ModelCommand {
    /// Fetch the default model (SmolLM2-135M-Instruct Q4_1 GGUF) into the cache and check its SHA-256.
    Fetch {
        /// Cache folder (default: $CTS_MODEL_CACHE, else ~/.cache/cts/models).
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

/// Runs a model subcommand.
pub async fn run(cmd: ModelCommand, out: &Output) -> Result<ExitCode> {
    match cmd {
        ModelCommand::Fetch { cache } => {
            let dir = cache.unwrap_or_else(cts_llama::fetch::default_cache_dir);
            let path =
                tokio::task::spawn_blocking(move || cts_llama::fetch::fetch_default_model(&dir))
                    .await??;
            out.emit(&serde_json::json!({ "path": path }), || {
                format!("default model ready: {}\n", path.display())
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Generation parameters from the config.
pub fn params(cfg: &ModelConfig) -> GenerationParams {
    GenerationParams {
        temperature: cfg.temperature,
        top_p: cfg.top_p,
        seed: cfg.seed,
        max_tokens: cfg.max_tokens,
    }
}

/// Opens the model named by `source` (overriding the config's).
pub async fn open(
    source: Option<&str>,
    cfg: &ModelConfig,
    parallel: usize,
) -> Result<Arc<dyn ChatModel>> {
    let source = source.unwrap_or(&cfg.source);
    if source.starts_with("http://") || source.starts_with("https://") {
        let config = cts_model::http::HttpConfig {
            timeout: Duration::from_secs(cfg.timeout_s),
            concurrency: parallel.max(1),
            api_key_env: cfg.api_key_env.clone(),
            ..cts_model::http::HttpConfig::new(source, &cfg.http_model)
        };
        let model = cts_model::http::OpenAiModel::new(config)
            .with_context(|| format!("model server {source}"))?;
        return Ok(Arc::new(model));
    }
    let path = if source == "default" {
        let dir = cts_llama::fetch::default_cache_dir();
        tokio::task::spawn_blocking(move || cts_llama::fetch::fetch_default_model(&dir)).await??
    } else {
        PathBuf::from(source)
    };
    open_local(&path, parallel).await
}

async fn open_local(path: &Path, parallel: usize) -> Result<Arc<dyn ChatModel>> {
    let path = path.to_path_buf();
    let opts = cts_llama::local::LocalOptions {
        max_parallel: parallel.max(1),
        ..cts_llama::local::LocalOptions::default()
    };
    let model =
        tokio::task::spawn_blocking(move || cts_llama::local::LocalModel::load(&path, opts))
            .await?
            .context("loading the local model")?;
    Ok(Arc::new(model))
}
