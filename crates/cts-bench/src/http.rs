//! `cts bench http` and `cts bench stub`: model dispatch over HTTP to a
//! zero-latency OpenAI-compatible stub, CTS's client beside a bare HTTP
//! client in the same run; and the stub itself, for other clients.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

/// The figures of one run.
#[derive(Serialize)]
pub struct HttpFigures {
    requests: usize,
    concurrency: usize,
    cts_requests_per_s: f64,
    cts_p50_us: f64,
    cts_p99_us: f64,
    bare_requests_per_s: f64,
    bare_p50_us: f64,
    bare_p99_us: f64,
    overhead_p50_us: f64,
    overhead_p99_us: f64,
}

const STUB_REPLY: &str = r#"{"id":"x","object":"chat.completion","created":0,"model":"stub","system_fingerprint":"fp_stub","choices":[{"index":0,"message":{"role":"assistant","content":"Step 1: Check the INR.\nFinal answer: B"},"finish_reason":"stop"}],"usage":{"prompt_tokens":40,"completion_tokens":12,"total_tokens":52}}"#;

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q) as usize)
        .copied()
        .unwrap_or(0.0)
}

async fn timed<F, Fut>(requests: usize, concurrency: usize, one: F) -> Result<(f64, Vec<f64>)>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (one, next) = (one.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                let s = Instant::now();
                one().await?;
                lat.push(s.elapsed().as_secs_f64() * 1e6);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::with_capacity(requests);
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Ok((requests as f64 / secs, all))
}

/// The zero-latency stub: every chat completion gets the same canned reply.
fn stub_router() -> axum::Router {
    use axum::routing::post;
    axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async { ([("content-type", "application/json")], STUB_REPLY) }),
    )
}

/// Sends `requests` chat completions, `concurrency` in flight, through
/// CTS's [`OpenAiModel`](cts_model::http::OpenAiModel) and then through a
/// bare reqwest client, to the stub at `url` or to one in this process.
pub async fn run(requests: usize, concurrency: usize, url: Option<String>) -> Result<HttpFigures> {
    let (server, base) = match url {
        Some(url) => (None, url.trim_end_matches('/').to_owned()),
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let server = tokio::spawn(async move { axum::serve(listener, stub_router()).await });
            (Some(server), format!("http://{addr}"))
        }
    };
    let messages = vec![
        cts_model::ChatMessage::new(cts_model::Role::System, "You are a careful clinician."),
        cts_model::ChatMessage::new(
            cts_model::Role::User,
            "Synthetic: patient on warfarin needs analgesia. Which option?",
        ),
    ];
    let params = cts_model::GenerationParams::default();

    let config = cts_model::http::HttpConfig {
        concurrency,
        ..cts_model::http::HttpConfig::new(&base, "stub")
    };
    let model = Arc::new(cts_model::http::OpenAiModel::new(config)?);
    let (m, msgs, p) = (
        model.clone(),
        Arc::new(messages.clone()),
        Arc::new(params.clone()),
    );
    let (cts_rps, cts_lat) = timed(requests, concurrency, move || {
        let (m, msgs, p) = (m.clone(), msgs.clone(), p.clone());
        async move {
            use cts_model::ChatModel;
            m.complete(&msgs, &p, &|_| {}).await?;
            Ok(())
        }
    })
    .await?;

    // Baseline: the same request body with a bare reqwest client, reply parsed as JSON.
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/chat/completions");
    let body = Arc::new(
        serde_json::json!({ "model": "stub", "messages": messages, "temperature": params.temperature,
        "top_p": params.top_p, "seed": params.seed, "max_tokens": params.max_tokens }),
    );
    let (bare_rps, bare_lat) = timed(requests, concurrency, move || {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        async move {
            let v: serde_json::Value = client.post(&url).json(&*body).send().await?.json().await?;
            std::hint::black_box(v);
            Ok(())
        }
    })
    .await?;
    if let Some(server) = server {
        server.abort();
    }
    let (c50, c99, b50, b99) = (
        percentile(&cts_lat, 0.5),
        percentile(&cts_lat, 0.99),
        percentile(&bare_lat, 0.5),
        percentile(&bare_lat, 0.99),
    );
    Ok(HttpFigures {
        requests,
        concurrency,
        cts_requests_per_s: cts_rps,
        cts_p50_us: c50,
        cts_p99_us: c99,
        bare_requests_per_s: bare_rps,
        bare_p50_us: b50,
        bare_p99_us: b99,
        overhead_p50_us: c50 - b50,
        overhead_p99_us: c99 - b99,
    })
}

/// Serves the zero-latency stub on `addr` until the process is killed.
pub async fn serve_stub(addr: SocketAddr) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    eprintln!("zero-latency stub on http://{addr}/v1/chat/completions");
    axum::serve(listener, stub_router()).await?;
    Ok(())
}

impl fmt::Display for HttpFigures {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let f = self;
        write!(
            out,
            "HTTP dispatch, {} requests at concurrency {} to a zero-latency stub on loopback (one run)\n\
             CTS OpenAiModel   {:>9.0} requests/s   latency p50 {:.0} us  p99 {:.0} us\n\
             bare HTTP client  {:>9.0} requests/s   latency p50 {:.0} us  p99 {:.0} us\n\
             CTS overhead per request: p50 {:.0} us, p99 {:.0} us; throughput {:.2}x the bare client\n",
            f.requests, f.concurrency, f.cts_requests_per_s, f.cts_p50_us, f.cts_p99_us,
            f.bare_requests_per_s, f.bare_p50_us, f.bare_p99_us, f.overhead_p50_us, f.overhead_p99_us,
            f.cts_requests_per_s / f.bare_requests_per_s
        )
    }
}
