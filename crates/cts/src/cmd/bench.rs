//! `cts bench`: performance figures, each next to a baseline run in the same process.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use cts_ledger::{EventDraft, EventKind, LeafIndex, Salt, TreeSize};
use cts_store::Ledger;
use serde::Serialize;
use sqlx::Row;

use crate::output::Output;

/// `cts bench` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Durable append throughput, full-audit throughput, proof latency and storage of the ledger.
    Ledger {
        /// Events to append.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Concurrent producers.
        #[arg(long, default_value_t = 8)]
        producers: u64,
        /// Events per append call (each call is atomic).
        #[arg(long, default_value_t = 256)]
        batch: u64,
        /// Inclusion proofs to time.
        #[arg(long, default_value_t = 100_000)]
        proofs: u64,
        /// Scratch folder (default: a temporary folder, removed afterwards).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Local generation speed next to llama.cpp's own (llama-cpp-python, same file and prompt), and batched decoding.
    Generate {
        /// GGUF model (default: the built-in model).
        #[arg(long)]
        model: Option<std::path::PathBuf>,
        /// Tokens to generate per sequence.
        #[arg(long, default_value_t = 128)]
        tokens: u32,
        /// Python with llama-cpp-python (default: $CTS_PYENV/bin/python, else ~/.cache/cts/pyenv-test/bin/python, what scripts/test creates).
        #[arg(long)]
        python: Option<std::path::PathBuf>,
        /// Repetitions (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: usize,
    },
    /// The review workbench under load (wrk on loopback): review page and submit next to /healthz.
    Review {
        /// Traces in the store (each reviewed --reviews-per-trace times).
        #[arg(long, default_value_t = 100_000)]
        traces: u64,
        /// Submitted reviews per trace.
        #[arg(long, default_value_t = 2)]
        reviews_per_trace: usize,
        /// wrk connections.
        #[arg(long, default_value_t = 16)]
        connections: u32,
        /// Seconds per load run.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// Scratch folder (default: a temporary folder, removed afterwards).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Dataset release build: examples/s and peak memory at N/10 and N traces, next to streaming the same content out of SQLite.
    Dataset {
        /// Reviewed traces in the larger store.
        #[arg(long, default_value_t = 100_000)]
        traces: u64,
        /// Reviews per trace.
        #[arg(long, default_value_t = 2)]
        reviews_per_trace: usize,
        /// Scratch folder (default: a temporary folder, removed afterwards).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Log-likelihood scoring of 4-option MMLU-medical items on the local model: the context decoded once per item (prefix sharing) next to every option from scratch.
    Loglik {
        /// The mmlu-medical folder (with test/ and dev/ CSVs).
        #[arg(long)]
        data: std::path::PathBuf,
        /// Test items to score (round-robin over the six subjects).
        #[arg(long, default_value_t = 50)]
        items: usize,
        /// Few-shot examples from each subject's dev split.
        #[arg(long, default_value_t = 0)]
        shots: usize,
        /// GGUF model (default: the built-in model).
        #[arg(long)]
        model: Option<std::path::PathBuf>,
        /// Text put before every context, e.g. the model's BOS token written
        /// out (`<|im_start|>` for the default model), to score the token
        /// sequence a server that adds BOS scores.
        #[arg(long, default_value = "")]
        context_prefix: String,
    },
    /// A zero-latency OpenAI-compatible stub (`/v1/chat/completions`) on ADDR, until killed: the peer for `bench http --url` and other clients.
    Stub {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8099")]
        addr: std::net::SocketAddr,
    },
    /// Red-team dispatch (target + LLM judge per instance, cached) against a zero-latency stub, vs the benchmark runner's dispatch.
    Redteam {
        /// Attack instances (two requests each).
        #[arg(long, default_value_t = 20_000)]
        instances: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// HTTP model dispatch against a zero-latency local stub: CTS's client vs a bare HTTP client.
    Http {
        /// Requests to send.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Base URL of a running stub (e.g. `bench stub`) instead of one in this process.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Serialize)]
struct LedgerFigures {
    events: u64,
    entry_bytes_avg: f64,
    encode_events_per_s_one_core: f64,
    append_events_per_s: f64,
    group_commits: u64,
    baseline_plain_insert_rows_per_s: f64,
    append_vs_plain_insert: f64,
    audit_leaves_per_s: f64,
    baseline_read_and_hash_rows_per_s: f64,
    audit_vs_read_and_hash: f64,
    proof_p50_us: f64,
    proof_p99_us: f64,
    proof_max_us: f64,
    tree_root_us: f64,
    hash_bytes_per_leaf: f64,
    peak_rss_mib: f64,
}

const FIXED_TIME: &str = "2026-11-25T12:00:00.000Z";

/// A ~300-byte `review.submitted` event, deterministic in `i`.
fn bench_draft(i: u64) -> Result<EventDraft> {
    let mut d = EventDraft::new(EventKind::new("review.submitted")?, format!("user:clinician-{:03}", i % 97))
        .subject(format!("trace:t{:08}", i / 2))
        .subject(format!("case:c{:06}", i / 16))
        .body(serde_json::json!({
            "rubric": "medication-safety@1",
            "ratings": {"correctness": 1 + i % 5, "medication_safety": 1 + (i / 5) % 5, "guidelines": 1 + (i / 25) % 5,
                        "usefulness": 1 + (i / 7) % 5, "transparency": 1 + (i / 11) % 5},
            "step_labels": [1, 0, -1, 1, 1],
            "flags": ["dose_error"],
            "review": format!("r{i:010}"),
        }));
    d.time = Some(FIXED_TIME.into());
    Ok(d)
}

/// Peak resident memory of this process, MiB (0 where /proc is absent).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Runs a bench subcommand.
pub async fn run(cmd: BenchCommand, out: &Output) -> Result<ExitCode> {
    match cmd {
        BenchCommand::Review {
            traces,
            reviews_per_trace,
            connections,
            seconds,
            dir,
        } => {
            let tmp = tempfile::tempdir()?;
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            std::fs::create_dir_all(&dir)?;
            let f = super::bench_review::run(
                &dir,
                traces,
                reviews_per_trace.max(1),
                connections.max(1),
                seconds.max(1),
                out,
            )
            .await?;
            out.emit(&f, || {
                let row = |l: &super::bench_review::LoadFigures| {
                    format!(
                        "{:<18} {:>9.0} req/s   p50 {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   errors {}\n",
                        l.target, l.requests_per_s, l.p50_ms, l.p90_ms, l.p99_ms, l.errors
                    )
                };
                format!(
                    "review workbench benchmark: {} traces, {} reviews, log size {} (seeded in {:.1} s); wrk {} connections x {} s each, on loopback\n{}{}{}review page throughput is {:.2}x /healthz in the same run\n",
                    f.seed.traces, f.seed.reviews, f.seed.log_size, f.seed_s, f.connections, f.seconds,
                    row(&f.healthz), row(&f.review_page), row(&f.submit), f.review_page_vs_healthz
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Dataset {
            traces,
            reviews_per_trace,
            dir,
        } => {
            let tmp = tempfile::tempdir()?;
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            std::fs::create_dir_all(&dir)?;
            let f = super::bench_dataset::run(&dir, traces, reviews_per_trace.max(1), out).await?;
            out.emit(&f, || {
                let row = |b: &super::bench_dataset::BuildFigures| {
                    format!(
                        "{:>7} traces: {:>8} examples in {:>6.2} s = {:>8.0} examples/s ({:>7.0} traces/s), peak RSS {:>6.1} MiB (ledger tree {:.1} MiB); baseline dump {:>5.2} s, build/dump {:.2}x\n         verify: log audit {:>9.0} leaves/s; tables against the log {:>9.0} rows/s ({:.0} events/s, {:.2} s)\n",
                        b.traces, b.examples, b.build_s, b.examples_per_s, b.traces_per_s, b.peak_rss_mib, b.ledger_tree_mib, b.baseline_dump_s, b.build_vs_dump,
                        b.audit_leaves_per_s, b.projection_rows_per_s, b.projection_events_per_s, b.projection_s
                    )
                };
                format!(
                    "dataset release benchmark (all six exports, provenance, evidence, example index; seeded in {:.0} s)\n{}{}peak memory full/small: {:.2}x for 10x the examples ({:.2}x without the ledger tree)\n",
                    f.seed_s, row(&f.small), row(&f.full), f.rss_full_vs_small, f.build_rss_full_vs_small
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Ledger {
            events,
            producers,
            batch,
            proofs,
            dir,
        } => {
            let tmp = tempfile::tempdir()?;
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            std::fs::create_dir_all(&dir)?;
            let figures =
                bench_ledger(&dir, events, producers.max(1), batch.max(1), proofs, out).await?;
            out.emit(&figures, || {
                format!(
                    "ledger benchmark, {} events of ~{:.0} B (this machine, one run; ratios are against baselines in the same run)\n\
                     event encoding        {:>12.0} events/s  (canonical JSON + leaf hash, one core)\n\
                     durable append        {:>12.0} events/s  ({} group commits)\n\
                     plain SQLite insert   {:>12.0} rows/s    -> append is {:.2}x the baseline\n\
                     full audit (verify)   {:>12.0} leaves/s\n\
                     read + leaf hash (1 core){:>10.0} rows/s    -> audit is {:.2}x the baseline\n\
                     inclusion proof       p50 {:.2} us, p99 {:.2} us, max {:.1} us (tree root {:.2} us)\n\
                     hash storage          {:.2} B per leaf\n\
                     peak memory           {:.0} MiB\n",
                    figures.events, figures.entry_bytes_avg, figures.encode_events_per_s_one_core, figures.append_events_per_s, figures.group_commits,
                    figures.baseline_plain_insert_rows_per_s, figures.append_vs_plain_insert,
                    figures.audit_leaves_per_s, figures.baseline_read_and_hash_rows_per_s, figures.audit_vs_read_and_hash,
                    figures.proof_p50_us, figures.proof_p99_us, figures.proof_max_us, figures.tree_root_us,
                    figures.hash_bytes_per_leaf, figures.peak_rss_mib
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Loglik {
            data,
            items,
            shots,
            model,
            context_prefix,
        } => {
            let f =
                super::bench_loglik::run(model, data, items, shots, &context_prefix, out).await?;
            out.emit(&f, || {
                let row = |m: &super::bench_loglik::ModeFigures| {
                    format!(
                        "{:<14} {:>8.2} items/s  ({:>6.2} s)  accuracy {:.3}\n",
                        m.mode, m.items_per_s, m.seconds, m.accuracy
                    )
                };
                format!(
                    "log-likelihood scoring, {} ({} MMLU-medical test items, 4 options, {}-shot, mean context {:.0} chars; one run on this machine)\n{}{}prefix sharing is {:.2}x scoring from scratch; largest log-probability difference {:.2e}, {} items choose differently\n",
                    f.model, f.items, f.shots, f.mean_prompt_chars,
                    row(&f.shared), row(&f.scratch), f.speedup, f.max_abs_logprob_diff, f.disagreements
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Generate {
            model,
            tokens,
            python,
            reps,
        } => {
            let f = bench_generate(model, tokens, python, reps.max(1)).await?;
            out.emit(&f, || {
                format!(
                    "local generation, {} ({} tokens a sequence, flash attention {}, median of {} runs on this machine)\n\
                     single sequence    CTS prompt {:>7.1} tok/s  generation {:>7.1} tok/s\n\
                     llama.cpp (python) prompt {:>7.1} tok/s  generation {:>7.1} tok/s\n\
                     ratio              prompt {:.2}x, generation {:.2}x of llama.cpp (median of paired runs)\n\
                     8 cases end to end sequential {:.1} tok/s, batched {:.1} tok/s -> {:.2}x\n\
                     decoding only      1 sequence {:.1} tok/s, 8 together {:.1} tok/s aggregate -> {:.2}x\n\
                     llama.cpp's own    1 sequence {:.1} tok/s, 8 together {:.1} tok/s aggregate -> {:.2}x (no sampling)\n",
                    f.model, f.tokens, if f.flash_attention { "on" } else { "off" }, f.reps,
                    f.cts_prompt_tps, f.cts_gen_tps, f.llama_prompt_tps, f.llama_gen_tps,
                    f.prompt_ratio, f.gen_ratio,
                    f.sequential_tps, f.batched_tps, f.batched_tps / f.sequential_tps,
                    f.single_decode_tps, f.batched_decode_tps, f.batched_decode_tps / f.single_decode_tps,
                    f.llama_single_decode_tps, f.llama_batched_decode_tps,
                    f.llama_batched_decode_tps / f.llama_single_decode_tps
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Stub { addr } => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            eprintln!("zero-latency stub on http://{addr}/v1/chat/completions");
            axum::serve(listener, stub_router()).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Redteam {
            instances,
            concurrency,
        } => {
            let f =
                super::bench_redteam::bench_redteam(instances.max(1), concurrency.max(1)).await?;
            out.emit(&f, || {
                format!(
                    "red-team dispatch, {} instances at concurrency {} against a zero-latency stub on loopback (one run)\n\
                     red-team runner  {:>9.0} instances/s ({:.0} requests/s: target + judge, verdict parsed, cached)\n\
                     benchmark runner {:>9.0} items/s (one generation each, answer extracted, cached)\n\
                     ratio {:.2}x (two requests per instance against one per item)\n",
                    f.instances, f.concurrency, f.redteam_instances_per_s, f.redteam_requests_per_s,
                    f.eval_items_per_s, f.ratio
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Http {
            requests,
            concurrency,
            url,
        } => {
            let f = bench_http(requests.max(1), concurrency.max(1), url).await?;
            out.emit(&f, || {
                format!(
                    "HTTP dispatch, {} requests at concurrency {} to a zero-latency stub on loopback (one run)\n\
                     CTS OpenAiModel   {:>9.0} requests/s   latency p50 {:.0} us  p99 {:.0} us\n\
                     bare HTTP client  {:>9.0} requests/s   latency p50 {:.0} us  p99 {:.0} us\n\
                     CTS overhead per request: p50 {:.0} us, p99 {:.0} us; throughput {:.2}x the bare client\n",
                    f.requests, f.concurrency, f.cts_requests_per_s, f.cts_p50_us, f.cts_p99_us,
                    f.bare_requests_per_s, f.bare_p50_us, f.bare_p99_us, f.overhead_p50_us, f.overhead_p99_us,
                    f.cts_requests_per_s / f.bare_requests_per_s
                )
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[derive(Serialize)]
struct HttpFigures {
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

async fn bench_http(
    requests: usize,
    concurrency: usize,
    url: Option<String>,
) -> Result<HttpFigures> {
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

async fn bench_ledger(
    dir: &std::path::Path,
    events: u64,
    producers: u64,
    batch: u64,
    proofs: u64,
    out: &Output,
) -> Result<LedgerFigures> {
    let ledger_db = dir.join("bench-ledger.db");
    let plain_db = dir.join("bench-plain.db");
    for p in [&ledger_db, &plain_db] {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
    }

    // 1. Durable appends from concurrent producers, encoding included.
    let ledger = Ledger::open(&ledger_db).await?;
    // Inputs are built first; the timing covers preparing (encoding, hashing) and appending them.
    let mut inputs: Vec<Vec<Vec<EventDraft>>> = (0..producers).map(|_| Vec::new()).collect();
    for (n, start) in (0..events).step_by(batch as usize).enumerate() {
        let end = (start + batch).min(events);
        inputs[n % producers as usize]
            .push((start..end).map(bench_draft).collect::<Result<Vec<_>>>()?);
    }
    let bar = Arc::new(out.progress(events, "appending"));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for batches in inputs {
        let ledger = ledger.clone();
        let bar = bar.clone();
        tasks.push(tokio::spawn(async move {
            for drafts in batches {
                let n = drafts.len() as u64;
                let prepared = drafts
                    .into_iter()
                    .map(|d| d.prepare(Salt::random))
                    .collect::<Result<Vec<_>, _>>()?;
                ledger.append_prepared(prepared, None).await?;
                bar.inc(n);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("producer panicked")??;
    }
    let append_s = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let commits = ledger.commit_count();

    // 2. Baseline: the same rows, plain multi-row inserts, same average transaction size.
    let start = Instant::now();
    let rows: Vec<(String, Vec<u8>)> = (0..events)
        .map(|i| {
            Ok((
                "review.submitted".to_string(),
                bench_draft(i)?.prepare(|| Salt([0; 32]))?.entry,
            ))
        })
        .collect::<Result<_>>()?;
    let encode_s = start.elapsed().as_secs_f64();
    let entry_bytes_avg =
        rows.iter().map(|r| r.1.len()).sum::<usize>() as f64 / events.max(1) as f64;
    let per_tx = (events / commits.max(1)).max(1) as usize;
    let start = Instant::now();
    cts_store::bench::plain_insert(&plain_db, &rows, per_tx).await?;
    let plain_s = start.elapsed().as_secs_f64();
    drop(rows);

    // 3. Full audit vs. reading the rows and hashing them.
    let verifier_key = {
        let (skey, vkey) = cts_ledger::LogSigner::generate("cts.bench/ledger")?;
        let signer = Arc::new(cts_ledger::LogSigner::from_private_key(&skey)?);
        ledger.checkpoint(signer).await?;
        cts_ledger::LogVerifier::new(&vkey)?
    };
    let bar = out.progress(events, "auditing");
    let start = Instant::now();
    let report = cts_store::audit(ledger.pool(), &verifier_key, &|n| bar.set_position(n)).await?;
    let audit_s = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    anyhow::ensure!(
        report.leaves == events,
        "audit saw {} leaves, expected {events}",
        report.leaves
    );
    let start = Instant::now();
    let mut next: i64 = 0;
    let mut hashed = 0u64;
    loop {
        let rows = sqlx::query(
            "SELECT idx, entries FROM entry_bundles WHERE idx >= ? ORDER BY idx LIMIT 64",
        )
        .bind(next)
        .fetch_all(ledger.pool())
        .await?;
        let Some(last) = rows.last() else { break };
        next = last.try_get::<i64, _>(0)? + 1;
        for r in &rows {
            let bundle: &[u8] = r.try_get(1)?;
            for e in cts_ledger::tile::split_bundle(bundle)? {
                std::hint::black_box(cts_ledger::leaf_hash(e));
                hashed += 1;
            }
        }
    }
    let read_hash_s = start.elapsed().as_secs_f64();
    anyhow::ensure!(hashed == events, "baseline read {hashed} rows");

    // 4. Inclusion proofs at full size, timed one by one.
    let size = TreeSize(events);
    let (mut lat, root_us) = ledger
        .with_tree(size, |t| {
            let mut lat = Vec::with_capacity(proofs as usize);
            let mut leaf = 0u64;
            for _ in 0..proofs {
                leaf = (leaf + 7_919) % events;
                let s = Instant::now();
                let p = t.inclusion_proof(LeafIndex(leaf), size);
                lat.push(s.elapsed().as_secs_f64() * 1e6);
                std::hint::black_box(p.ok());
            }
            let s = Instant::now();
            for _ in 0..1000 {
                std::hint::black_box(t.root(size).ok());
            }
            (lat, s.elapsed().as_secs_f64() * 1e3)
        })
        .await?;
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };

    let tile_bytes: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(length(hashes)), 0) FROM tiles")
        .fetch_one(ledger.pool())
        .await?;
    let ev = events as f64;
    Ok(LedgerFigures {
        events,
        entry_bytes_avg,
        encode_events_per_s_one_core: ev / encode_s,
        append_events_per_s: ev / append_s,
        group_commits: commits,
        baseline_plain_insert_rows_per_s: ev / plain_s,
        append_vs_plain_insert: plain_s / append_s,
        audit_leaves_per_s: ev / audit_s,
        baseline_read_and_hash_rows_per_s: ev / read_hash_s,
        audit_vs_read_and_hash: read_hash_s / audit_s,
        proof_p50_us: pct(0.50),
        proof_p99_us: pct(0.99),
        proof_max_us: lat.last().copied().unwrap_or(0.0),
        tree_root_us: root_us,
        hash_bytes_per_leaf: tile_bytes as f64 / ev,
        peak_rss_mib: peak_rss_mib(),
    })
}

#[derive(Serialize)]
struct GenerateFigures {
    model: String,
    reps: usize,
    /// Tokens generated per sequence (fixed length on both sides).
    tokens: u32,
    /// Flash attention in both engines.
    flash_attention: bool,
    cts_prompt_tps: f64,
    cts_gen_tps: f64,
    llama_prompt_tps: f64,
    llama_gen_tps: f64,
    /// Median over repetitions of CTS over llama.cpp, each pair run back to back.
    gen_ratio: f64,
    prompt_ratio: f64,
    /// 8 real cases end to end (prompts, early stops): one at a time.
    sequential_tps: f64,
    /// The same 8 cases through one batched call.
    batched_tps: f64,
    /// Generation only, fixed length: one sequence.
    single_decode_tps: f64,
    /// Generation only, fixed length: 8 sequences decoded together, aggregate.
    batched_decode_tps: f64,
    /// llama.cpp's own decoding (as its batched-bench: no sampling), one sequence.
    llama_single_decode_tps: f64,
    /// llama.cpp's own decoding, 8 sequences together, aggregate: the
    /// ceiling of batching on this machine and model.
    llama_batched_decode_tps: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs a benchmark script of `tests/python` with llama-cpp-python's
/// Python, the prompt on stdin; its JSON output.
fn python_bench(
    python: &std::path::Path,
    script: &str,
    args: &[String],
    prompt: &str,
) -> Result<serde_json::Value> {
    use std::io::Write;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut child = std::process::Command::new(python)
        .arg(&script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("running {}", python.display()))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(prompt.as_bytes())?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "{} failed", script.display());
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The arguments every llama.cpp benchmark script takes.
fn llama_args(model: &std::path::Path, tokens: u32, flash_attention: bool) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    vec![
        model.display().to_string(),
        tokens.to_string(),
        threads.to_string(),
        if flash_attention { "1" } else { "0" }.into(),
    ]
}

/// llama.cpp's own batched decoding through llama-cpp-python's low-level
/// API: aggregate tokens/s of `n_seq` sequences.
fn llama_cpp_batched(
    python: &std::path::Path,
    model: &std::path::Path,
    prompt: &str,
    tokens: u32,
    flash_attention: bool,
    n_seq: usize,
) -> Result<f64> {
    let mut args = llama_args(model, tokens, flash_attention);
    args.push(n_seq.to_string());
    let v = python_bench(python, "llama_cpp_batched_bench.py", &args, prompt)?;
    Ok(v["tokens_per_s"].as_f64().unwrap_or(0.0))
}

/// One run of llama.cpp's own engine through llama-cpp-python; (prompt, generation) tokens/s.
fn llama_cpp_python(
    python: &std::path::Path,
    model: &std::path::Path,
    prompt: &str,
    tokens: u32,
    flash_attention: bool,
) -> Result<(f64, f64)> {
    let args = llama_args(model, tokens, flash_attention);
    let v = python_bench(python, "llama_cpp_bench.py", &args, prompt)?;
    Ok((
        v["prompt_tokens_per_s"].as_f64().unwrap_or(0.0),
        v["gen_tokens_per_s"].as_f64().unwrap_or(0.0),
    ))
}

async fn bench_generate(
    model: Option<std::path::PathBuf>,
    tokens: u32,
    python: Option<std::path::PathBuf>,
    reps: usize,
) -> Result<GenerateFigures> {
    let path = match model {
        Some(p) => p,
        None => {
            let dir = cts_llama::fetch::default_cache_dir();
            tokio::task::spawn_blocking(move || cts_llama::fetch::fetch_default_model(&dir))
                .await??
        }
    };
    let python = python.unwrap_or_else(|| cts_llama::fetch::test_pyenv_dir().join("bin/python"));
    anyhow::ensure!(
        python.exists(),
        "{} not found: create it as scripts/test does, or pass --python",
        python.display()
    );
    let chats: Vec<Vec<cts_model::ChatMessage>> = cts_cases::synthetic::quickstart_cases()
        .iter()
        .take(8)
        .map(|c| {
            cts_generate::chat_for(c, &cts_trace::prompt::STEPWISE).map_err(anyhow::Error::msg)
        })
        .collect::<Result<_>>()?;
    // CTS's default: llama.cpp's "auto", which turns flash attention on for
    // this CPU; llama.cpp's own run below gets the same setting.
    let flash_attention = true;
    let p = path.clone();
    tokio::task::spawn_blocking(move || -> Result<GenerateFigures> {
        let model = cts_llama::local::LocalModel::load(
            &p,
            cts_llama::local::LocalOptions {
                flash_attention: Some(flash_attention),
                ..cts_llama::local::LocalOptions::default()
            },
        )?;
        let text = model.render_prompt(&chats[0])?;
        let greedy = cts_model::GenerationParams {
            temperature: 0.0,
            top_p: 1.0,
            seed: 1,
            max_tokens: tokens,
        };
        let rate = |n: u32, ms: f64| {
            if ms > 0.0 {
                f64::from(n) * 1000.0 / ms
            } else {
                0.0
            }
        };
        // Single sequence against llama.cpp, each repetition a CTS run and
        // a llama.cpp run back to back, so that drift in this machine's
        // speed hits both alike.
        let (mut cp, mut cg, mut lp, mut lg, mut rp, mut rg) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..reps {
            let c = model
                .complete_batch_fixed_length(&[(chats[0].clone(), greedy.clone())])
                .pop()
                .context("no result")??;
            // The first token comes with the prompt: generation_ms covers
            // the decoding of the other n - 1 (llama.cpp's run times n evals).
            let (p_tps, g_tps) = (
                rate(c.usage.prompt_tokens, c.usage.prompt_ms),
                rate(
                    c.usage.completion_tokens.saturating_sub(1),
                    c.usage.generation_ms,
                ),
            );
            let (l_p, l_g) = llama_cpp_python(&python, &p, &text, tokens, flash_attention)?;
            cp.push(p_tps);
            cg.push(g_tps);
            lp.push(l_p);
            lg.push(l_g);
            rp.push(p_tps / l_p.max(1e-9));
            rg.push(g_tps / l_g.max(1e-9));
        }
        // Batched against one at a time: the 8 cases end to end, and the
        // decoding phase alone at a fixed length.
        let (mut seq, mut bat, mut one, mut eight) = (vec![], vec![], vec![], vec![]);
        let (mut l_one, mut l_eight) = (vec![], vec![]);
        for _ in 0..reps {
            let start = Instant::now();
            let mut generated = 0u32;
            for chat in &chats {
                for r in model.complete_batch(&[(chat.clone(), greedy.clone())]) {
                    let u = r?.usage;
                    tracing::debug!(usage = ?u, "one case alone");
                    generated += u.completion_tokens;
                }
            }
            seq.push(f64::from(generated) / start.elapsed().as_secs_f64());
            let requests: Vec<_> = chats.iter().map(|c| (c.clone(), greedy.clone())).collect();
            let start = Instant::now();
            let mut generated = 0u32;
            for r in model.complete_batch(&requests) {
                let u = r?.usage;
                tracing::debug!(usage = ?u, "one case of the batch");
                generated += u.completion_tokens;
            }
            bat.push(f64::from(generated) / start.elapsed().as_secs_f64());

            let c = model
                .complete_batch_fixed_length(&[(chats[0].clone(), greedy.clone())])
                .pop()
                .context("no result")??;
            one.push(rate(
                c.usage.completion_tokens.saturating_sub(1),
                c.usage.generation_ms,
            ));
            let start = Instant::now();
            let (mut generated, mut prompt_ms) = (0u32, 0f64);
            for r in model.complete_batch_fixed_length(&requests) {
                let u = r?.usage;
                generated += u.completion_tokens;
                prompt_ms = prompt_ms.max(u.prompt_ms);
            }
            // Generation only: the wall time after the last prompt was in.
            let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
            eight.push(rate(generated, wall_ms - prompt_ms));
            l_one.push(llama_cpp_batched(
                &python,
                &p,
                &text,
                tokens,
                flash_attention,
                1,
            )?);
            l_eight.push(llama_cpp_batched(
                &python,
                &p,
                &text,
                tokens,
                flash_attention,
                chats.len(),
            )?);
        }
        Ok(GenerateFigures {
            model: p
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            reps,
            tokens,
            flash_attention,
            cts_prompt_tps: median(cp),
            cts_gen_tps: median(cg),
            llama_prompt_tps: median(lp),
            llama_gen_tps: median(lg),
            gen_ratio: median(rg),
            prompt_ratio: median(rp),
            sequential_tps: median(seq),
            batched_tps: median(bat),
            single_decode_tps: median(one),
            batched_decode_tps: median(eight),
            llama_single_decode_tps: median(l_one),
            llama_batched_decode_tps: median(l_eight),
        })
    })
    .await?
}
