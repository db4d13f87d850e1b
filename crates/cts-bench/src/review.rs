//! `cts bench review`: the workbench under load. Seeds a store with many
//! traces and reviews through the real ledger, serves it on loopback, and
//! drives the review page, the submit endpoint and `/healthz` (the
//! baseline: the same server doing no work) with `wrk`, in one run.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cts_ledger::checkpoint::{LogSigner, LogVerifier};
use cts_store::review::ReviewConfig;
use cts_store::users::{self, Login, Role};
use cts_store::Store;
use serde::Serialize;

use crate::Progress;

/// Clinicians submitting in the submit load (one session each).
const SUBMITTERS: usize = 16;
/// Open traces leased for the submit load per second of `--seconds`: every
/// request submits a review nobody has submitted before, so none is a
/// replay (refused since the first submit) or a race with another
/// reviewer's submit on the same trace (a conflict). More than the endpoint
/// manages a second; a run that exhausts them wraps and shows errors.
const OPEN_TRACES_PER_SECOND: usize = 1_500;

/// One wrk run.
#[derive(Debug, Serialize)]
pub struct LoadFigures {
    /// What was requested.
    pub target: String,
    /// Requests per second.
    pub requests_per_s: f64,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Responses other than 2xx/3xx.
    pub errors: u64,
}

/// The whole benchmark.
#[derive(Debug, Serialize)]
pub struct ReviewBenchFigures {
    /// What the store held.
    pub seed: cts_store::seed::SeedReport,
    /// Seconds to seed.
    pub seed_s: f64,
    /// Connections and seconds per run.
    pub connections: u32,
    /// Seconds per run.
    pub seconds: u32,
    /// Baseline: /healthz.
    pub healthz: LoadFigures,
    /// GET /review of an assigned trace.
    pub review_page: LoadFigures,
    /// GET /review again after the submit set's open traces were queued.
    pub review_page_open_queue: LoadFigures,
    /// Open traces queued and leased for the submit load.
    pub open_traces: usize,
    /// POST /api/submit, each the first review of its (clinician, trace)
    /// pair: a durable `review.submitted` event, rows and queue state.
    pub submit: LoadFigures,
    /// review page requests/s ÷ healthz requests/s.
    pub review_page_vs_healthz: f64,
}

fn parse_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

fn run_wrk(
    target: &str,
    url: &str,
    connections: u32,
    seconds: u32,
    script: Option<&Path>,
    cookie: &str,
) -> Result<LoadFigures> {
    let mut cmd = Command::new("wrk");
    cmd.arg("-t2")
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("-H")
        .arg(format!("Cookie: cts_session={cookie}"));
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    cmd.arg(url);
    let out = cmd
        .output()
        .context("running wrk (install it with `apt-get install wrk`)")?;
    if !out.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let pct = |p: &str| -> Option<f64> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(p))
            .and_then(|l| parse_ms(l[p.len()..].trim()))
    };
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l["Requests/sec:".len()..].trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    if let Some(l) = text.lines().find(|l| l.starts_with("first error: ")) {
        tracing::warn!("{target}: {l}");
        eprintln!("{target}: {l}");
    }
    let errors = text
        .lines()
        .find(|l| l.trim_start().starts_with("Non-2xx or 3xx responses:"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    Ok(LoadFigures {
        target: target.into(),
        requests_per_s: rps,
        p50_ms: pct("50%").unwrap_or(f64::NAN),
        p90_ms: pct("90%").unwrap_or(f64::NAN),
        p99_ms: pct("99%").unwrap_or(f64::NAN),
        errors,
    })
}

/// Records one trace of the open set the benchmark clinicians claim.
async fn record_open_trace(
    store: &Store,
    trace_id: &str,
    case_id: &str,
    sample: i64,
    run_key: &str,
    steps: usize,
    doc: &cts_trace::TraceDocument,
) -> Result<()> {
    cts_store::traces::record_trace(
        store,
        cts_store::traces::NewTrace {
            id: trace_id.to_owned(),
            case_id: case_id.to_owned(),
            case_version: 1,
            sample,
            run_key: run_key.to_owned(),
            model: serde_json::json!({"name": "bench"}),
            params: serde_json::json!({}),
            template: "cts-stepwise@1".into(),
            answer_choice: Some('B'),
            steps,
            prompt_tokens: 1,
            completion_tokens: 1,
            prompt_ms: 1.0,
            generation_ms: 1.0,
            document: doc.to_json()?,
        },
        "bench:seed",
    )
    .await?;
    Ok(())
}

/// Records `open_traces` open traces of `case` and leases each to one of
/// [`SUBMITTERS`] benchmark clinicians (signed in here): every submit of the
/// load is then the first review of its (clinician, trace) pair. The traces
/// are recorded concurrently, so group commit batches their events.
/// Returns (session, CSRF token, trace) per trace.
async fn lease_submit_set(
    store: &Store,
    case: &cts_cases::Case,
    doc: &cts_trace::TraceDocument,
    steps: usize,
    review: &ReviewConfig,
    open_traces: usize,
    progress: &Progress,
) -> Result<Vec<(String, String, String)>> {
    let ids: Vec<String> = (0..open_traces)
        .map(|i| format!("{}@v1/bench-open/s{i}", case.id.as_str()))
        .collect();
    let bar = progress(open_traces as u64, "open traces");
    for (n, chunk) in ids.chunks(256).enumerate() {
        let recorded = futures_util::future::join_all(chunk.iter().enumerate().map(|(i, id)| {
            let i = n * 256 + i;
            let case_id = case.id.as_str();
            async move {
                if cts_store::traces::trace_exists(store, id).await? {
                    return Ok(());
                }
                record_open_trace(store, id, case_id, i as i64, "bench-open", steps, doc).await
            }
        }))
        .await;
        recorded.into_iter().collect::<Result<Vec<()>>>()?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    cts_store::review::sync_queue(store, review).await?;
    let mut submitters = Vec::with_capacity(SUBMITTERS);
    for i in 0..SUBMITTERS {
        let name = format!("bench-reviewer-{i}");
        let user = match users::user_by_name(store, &name).await? {
            Some(u) => u,
            None => {
                users::add_user(
                    store,
                    "bench:seed",
                    &name,
                    "quartz lantern violet tractor 0123",
                    Role::Clinician,
                    &[],
                )
                .await?
            }
        };
        let Login::Ok { token, csrf, .. } = users::login(
            store,
            &name,
            "quartz lantern violet tractor 0123",
            "127.0.0.1",
            24 * 3600,
        )
        .await?
        else {
            bail!("benchmark clinician {name} could not sign in");
        };
        submitters.push((user, token, csrf));
    }
    // (session, CSRF token, trace) for every submit, trace i leased to
    // clinician i mod SUBMITTERS.
    let mut sessions: Vec<(String, String, String)> = Vec::with_capacity(open_traces);
    for (i, id) in ids.iter().enumerate() {
        let (user, token, csrf) = &submitters[i % SUBMITTERS];
        if !cts_store::review::claim_trace(store, user, id, review).await? {
            bail!("benchmark clinician {} could not lease {id}", user.username);
        }
        sessions.push((token.clone(), csrf.clone(), id.clone()));
    }
    Ok(sessions)
}

/// Seeds a store of `traces` traces reviewed `per_trace` times in `dir`
/// (default: a temporary folder), serves it, and runs `wrk` with
/// `connections` connections for `seconds` seconds on each target.
pub async fn run(
    dir: Option<PathBuf>,
    traces: u64,
    per_trace: usize,
    connections: u32,
    seconds: u32,
    progress: &Progress,
) -> Result<ReviewBenchFigures> {
    let (dir, _tmp) = crate::scratch(dir)?;
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("this benchmark drives the server with wrk: install it with `apt-get install wrk`");
    }
    let store = Store::open(&dir.join("bench.db")).await?;
    let rubric = cts_review::Rubric::default_medication_safety();
    let bar = progress(traces, "seeding");
    let started = Instant::now();
    let seed = cts_store::seed::seed_reviews(&store, &rubric, 0, traces, per_trace, &|n| {
        bar.set_position(n)
    })
    .await?;
    bar.finish_and_clear();
    let seed_s = started.elapsed().as_secs_f64();

    // The set of open traces the submit load reviews is added after the
    // review page is measured (see `lease_submit_set`).
    let review = ReviewConfig {
        rubric: rubric.clone(),
        rubric_source: cts_review::rubric::DEFAULT_MEDICATION_SAFETY.into(),
        reviewers_per_trace: 2,
        lease_seconds: 24 * 3600,
        policy: Default::default(),
    };
    let case = cts_cases::synthetic::quickstart_cases()
        .into_iter()
        .next()
        .context("no synthetic cases")?;
    let steps = [
        "The patient takes warfarin.",
        "NSAIDs raise the bleeding risk.",
        "Paracetamol is safer.",
        "Check the INR.",
    ];
    // One document for every trace of the set; its trace id is left empty.
    let doc = cts_trace::TraceDocument::synthetic("", Vec::new(), &steps, Some("B"));
    cts_store::review::sync_queue(&store, &review).await?;
    let mut body = cts_review::ReviewBody::draft_for(
        &rubric,
        &steps.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    for s in &mut body.steps {
        s.label = Some(1);
    }
    for d in &rubric.dimensions {
        body.ratings.insert(d.id.clone(), 4);
    }
    body.rationale = "Benchmark review: reasoning is sound and safe.".into();
    // The review page is read by a clinician with a draft in progress.
    let reader = match users::user_by_name(&store, "bench-reader").await? {
        Some(u) => u,
        None => {
            users::add_user(
                &store,
                "bench:seed",
                "bench-reader",
                "quartz lantern violet tractor 0123",
                Role::Clinician,
                &[],
            )
            .await?
        }
    };
    let trace_id = format!("{}@v1/bench-reader/s0", case.id.as_str());
    if !cts_store::traces::trace_exists(&store, &trace_id).await? {
        record_open_trace(
            &store,
            &trace_id,
            case.id.as_str(),
            0,
            "bench-reader",
            steps.len(),
            &doc,
        )
        .await?;
    }
    cts_store::review::sync_queue(&store, &review).await?;
    if !cts_store::review::claim_trace(&store, &reader, &trace_id, &review).await? {
        bail!("the benchmark reader could not claim its trace {trace_id}");
    }
    let Login::Ok { token, .. } = users::login(
        &store,
        "bench-reader",
        "quartz lantern violet tractor 0123",
        "127.0.0.1",
        24 * 3600,
    )
    .await?
    else {
        bail!("the benchmark reader could not sign in");
    };
    if cts_store::review::load_draft(&store, &reader, &trace_id)
        .await?
        .is_none()
    {
        cts_store::review::save_draft(&store, &reader, &trace_id, &body, 0).await?;
    }

    let (skey, vkey) = LogSigner::generate("cts.bench/review")?;
    let state = Arc::new(cts_web::AppState {
        store,
        review,
        signer: Arc::new(LogSigner::from_private_key(&skey)?),
        verifier: LogVerifier::new(&vkey)?,
        session_seconds: 24 * 3600,
        login_limiter: cts_web::auth::RateLimiter::new(10),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(cts_web::serve(
        listener,
        state.clone(),
        Duration::from_secs(3600),
        std::future::pending(),
    ));
    let base = format!("http://{addr}");
    let q = cts_web::auth::encode_component(&trace_id);

    let c = connections;
    let secs = seconds;
    let token2 = token.clone();
    let base2 = base.clone();
    let (healthz, review_page) = tokio::task::spawn_blocking(move || -> Result<_> {
        let h = run_wrk(
            "GET /healthz",
            &format!("{base2}/healthz"),
            c,
            secs,
            None,
            &token2,
        )?;
        let r = run_wrk(
            "GET /review",
            &format!("{base2}/review?trace={q}"),
            c,
            secs,
            None,
            &token2,
        )?;
        Ok((h, r))
    })
    .await??;
    let sessions = lease_submit_set(
        &state.store,
        &case,
        &doc,
        steps.len(),
        &state.review,
        OPEN_TRACES_PER_SECOND * seconds as usize,
        progress,
    )
    .await?;
    // The same page again, now that the queue holds that many open traces
    // (the page counts up to `AVAILABLE_CAP` traces the reader could claim).
    let (base3, token3) = (base.clone(), token.clone());
    let q3 = cts_web::auth::encode_component(&trace_id);
    let review_page_open_queue = tokio::task::spawn_blocking(move || {
        run_wrk(
            "GET /review (queue)",
            &format!("{base3}/review?trace={q3}"),
            c,
            secs,
            None,
            &token3,
        )
    })
    .await??;
    // Each wrk thread walks its own half of the pairs, one submit per pair.
    let script = dir.join("submit.lua");
    let payload = serde_json::to_string(&serde_json::json!({ "body": body, "revision": 0 }))?;
    let mut lua = String::from("local pairs = {\n");
    for (token, csrf, trace) in &sessions {
        lua.push_str(&format!(
            "  {{\"{token}\", \"{csrf}\", \"/api/submit?trace={}\"}},\n",
            cts_web::auth::encode_component(trace)
        ));
    }
    lua.push_str(&format!(
        "}}\nlocal body = [==[{payload}]==]\nlocal threads = 0\n\
         function setup(thread) thread:set(\"tid\", threads); threads = threads + 1 end\n\
         local n = 0\n\
         function request()\n\
           local half = #pairs / 2\n\
           local p = pairs[(tid or 0) * half + (n % half) + 1]\n\
           n = n + 1\n\
           return wrk.format(\"POST\", p[3], {{[\"Content-Type\"] = \"application/json\", [\"X-CSRF-Token\"] = p[2], [\"Cookie\"] = \"cts_session=\" .. p[1]}}, body)\n\
         end\n\
         local shown = false\n\
         function response(status, headers, body)\n\
           if status >= 400 and not shown then shown = true; io.write(\"first error: \" .. status .. \" \" .. body .. \"\\n\") end\n\
         end\n"
    ));
    std::fs::write(&script, lua)?;
    let sessions_len = sessions.len();
    let submit = tokio::task::spawn_blocking(move || {
        run_wrk(
            "POST /api/submit",
            &format!("{base}/api/submit"),
            c,
            secs,
            Some(&script),
            &token,
        )
    })
    .await??;
    server.abort();
    let ratio = review_page.requests_per_s / healthz.requests_per_s;
    Ok(ReviewBenchFigures {
        seed,
        seed_s,
        connections,
        seconds,
        healthz,
        review_page,
        review_page_open_queue,
        open_traces: sessions_len,
        submit,
        review_page_vs_healthz: ratio,
    })
}

impl fmt::Display for ReviewBenchFigures {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let f = self;
        let row = |l: &LoadFigures| {
            format!(
                "{:<18} {:>9.0} req/s   p50 {:>7.2} ms   p90 {:>7.2} ms   p99 {:>7.2} ms   errors {}\n",
                l.target, l.requests_per_s, l.p50_ms, l.p90_ms, l.p99_ms, l.errors
            )
        };
        write!(
            out,
            "review workbench benchmark: {} traces, {} reviews, log size {} (seeded in {:.1} s); wrk {} connections x {} s each, on loopback\n{}{}(then {} open traces queued and leased for the submits)\n{}{}review page throughput is {:.2}x /healthz in the same run\n",
            f.seed.traces, f.seed.reviews, f.seed.log_size, f.seed_s, f.connections, f.seconds,
            row(&f.healthz), row(&f.review_page), f.open_traces, row(&f.review_page_open_queue), row(&f.submit), f.review_page_vs_healthz
        )
    }
}
