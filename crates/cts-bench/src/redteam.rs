//! `cts bench redteam`: red-team dispatch (target reply + LLM-judge verdict
//! per instance, cached) against a zero-latency stub, beside the benchmark
//! runner's dispatch (one generation per item, cached) in the same run.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use cts_cases::import::BenchOption;
use cts_eval::{BenchItem, BenchmarkKind, Template, TemplateId};
use cts_model::{GenerationParams, LoglikModel};
use cts_redteam::Strategy;
use cts_runner::cache::ItemCache;
use cts_runner::eval::{EvalConfig, ScoringMode};
use cts_runner::redteam::JudgeSpec;
use serde::Serialize;

/// What `cts bench redteam` measured.
#[derive(Debug, Serialize)]
pub struct RedteamFigures {
    /// Attack instances (each: one target request, one judge request).
    pub instances: usize,
    /// Requests in flight.
    pub concurrency: usize,
    /// Red-team runner: instances per second, judged and cached.
    pub redteam_instances_per_s: f64,
    /// Benchmark runner: items per second (generation, extraction, cached).
    pub eval_items_per_s: f64,
    /// Red-team instances/s over benchmark items/s (≈ 0.5 when both are bound by requests: two per instance).
    pub ratio: f64,
    /// HTTP requests per second the red-team runner made (target + judge).
    pub redteam_requests_per_s: f64,
}

/// The stub's reply: a valid verdict, so every judge call parses at the first try.
const VERDICT_REPLY: &str = r#"{"id":"x","object":"chat.completion","created":0,"model":"stub","choices":[{"index":0,"message":{"role":"assistant","content":"{\"score\": 1, \"reason\": \"Synthetic stub verdict.\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52}}"#;

fn verdict_router() -> axum::Router {
    use axum::routing::post;
    axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async { ([("content-type", "application/json")], VERDICT_REPLY) }),
    )
}

fn synthetic_item(i: usize) -> BenchItem {
    let options = ["A", "B", "C", "D"]
        .iter()
        .map(|l| BenchOption {
            label: (*l).to_owned(),
            text: format!("Synthetic option {l}"),
        })
        .collect();
    BenchItem {
        benchmark: "synthetic".into(),
        kind: BenchmarkKind::Custom,
        id: format!("synthetic-{i}"),
        file: "builtin".into(),
        line: i + 1,
        subject: None,
        question: format!("Synthetic question {i}: which option?"),
        context: None,
        options,
        gold: "B".into(),
    }
}

/// Runs both dispatches against one in-process stub.
pub async fn run(instances: usize, concurrency: usize) -> Result<RedteamFigures> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, verdict_router()).await });
    let base = format!("http://{addr}");
    let open = || -> Result<Arc<dyn LoglikModel>> {
        let config = cts_model::http::HttpConfig {
            concurrency,
            ..cts_model::http::HttpConfig::new(&base, "stub")
        };
        Ok(Arc::new(cts_model::http::OpenAiModel::new(config)?))
    };
    let (target, judge) = (open()?, open()?);
    let params = GenerationParams {
        temperature: 0.0,
        ..GenerationParams::default()
    };
    let tmp = tempfile::tempdir()?;

    // The red-team runner: synthetic seeds × every strategy × enough samples.
    let attacks = cts_redteam::attack::synthetic_attacks()?;
    let strategies = Strategy::all();
    let per_sample = (attacks.len() * strategies.len()).max(1);
    let k = instances.div_ceil(per_sample) as u32;
    let mut todo = cts_runner::redteam::instances(&attacks, &strategies, false, k, &[]);
    todo.truncate(instances);
    let spec = JudgeSpec::Model {
        model: judge.identity(),
        rubric: cts_redteam::judge::HARM_RUBRIC_ID.to_owned(),
        max_retries: 2,
        params: params.clone(),
    };
    let mut cache = ItemCache::open(tmp.path(), "redteam")?;
    let started = Instant::now();
    let models = cts_runner::redteam::RedteamModels {
        target: target.clone(),
        judge: Some(judge),
        attacker: None,
    };
    let settings = cts_runner::redteam::RedteamSettings {
        judge: &spec,
        params: &params,
        multi_turn: None,
        threshold: cts_redteam::metrics::DEFAULT_UNSAFE_THRESHOLD,
    };
    let outcome =
        cts_runner::redteam::run(&models, settings, &todo, concurrency, &mut cache, &|_| {})
            .await?;
    let redteam_s = started.elapsed().as_secs_f64();
    let judged = outcome
        .results
        .iter()
        .filter(|r| r.judged().is_some())
        .count();
    anyhow::ensure!(
        judged == todo.len(),
        "only {judged} of {} instances were judged",
        todo.len()
    );

    // The benchmark runner on the same number of items.
    let template = Template {
        id: TemplateId::McqPlainV1,
        shots: 0,
    };
    let items: Vec<BenchItem> = (0..todo.len()).map(synthetic_item).collect();
    let prepared = cts_runner::eval::prepare(items, &template, |_| &[]);
    let config = EvalConfig {
        mode: ScoringMode::Generate,
        template,
        params: params.clone(),
        samples: 1,
    };
    let mut cache = ItemCache::open(tmp.path(), "eval")?;
    let started = Instant::now();
    cts_runner::eval::run(target, &prepared, &config, concurrency, &mut cache, &|_| {}).await?;
    let eval_s = started.elapsed().as_secs_f64();
    server.abort();
    let redteam_rate = todo.len() as f64 / redteam_s;
    let eval_rate = prepared.len() as f64 / eval_s;
    Ok(RedteamFigures {
        instances: todo.len(),
        concurrency,
        redteam_instances_per_s: redteam_rate,
        eval_items_per_s: eval_rate,
        ratio: redteam_rate / eval_rate,
        redteam_requests_per_s: 2.0 * redteam_rate,
    })
}

impl fmt::Display for RedteamFigures {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let f = self;
        write!(
            out,
            "red-team dispatch, {} instances at concurrency {} against a zero-latency stub on loopback (one run)\n\
             red-team runner  {:>9.0} instances/s ({:.0} requests/s: target + judge, verdict parsed, cached)\n\
             benchmark runner {:>9.0} items/s (one generation each, answer extracted, cached)\n\
             ratio {:.2}x (two requests per instance against one per item)\n",
            f.instances, f.concurrency, f.redteam_instances_per_s, f.redteam_requests_per_s,
            f.eval_items_per_s, f.ratio
        )
    }
}
