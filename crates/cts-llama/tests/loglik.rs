//! Log-likelihood scoring against real peers: the local backend against
//! llama-cpp-python's own numbers on the same GGUF (the default model), with
//! and without prefix sharing, and the HTTP backend against llama-cpp-python's
//! OpenAI-compatible server on loopback. Needs the Python environment that
//! `scripts/test` creates (`cts_llama::fetch::test_pyenv_dir()`).
//!
//! The clinical items below are synthetic, written for these tests; no
//! patient data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cts_llama::{fetch_default_model, LocalModel, LocalOptions, PrefixSharing};
use cts_model::http::{HttpConfig, OpenAiModel};
use cts_model::{ContinuationScore, LoglikError, LoglikModel, LoglikRequest};

/// Largest difference allowed between two computations of one log-probability
/// (llama.cpp's CPU kernels give slightly different sums for different batch
/// layouts; the HTTP server also rounds to `f32`).
const TOLERANCE: f64 = 2e-3;

fn cache_dir() -> PathBuf {
    std::env::var_os("CTS_MODEL_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cts-models"))
}

fn model_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| fetch_default_model(&cache_dir()).expect("default model can be fetched"))
}

fn model() -> &'static LocalModel {
    static MODEL: OnceLock<LocalModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        // Flash attention off, as in the llama-cpp-python reference.
        let opts = LocalOptions {
            n_ctx: 2048,
            flash_attention: Some(false),
            ..LocalOptions::default()
        };
        LocalModel::load(model_path(), opts).expect("default model loads")
    })
}

fn python() -> PathBuf {
    let env = cts_llama::fetch::test_pyenv_dir();
    let py = env.join("bin/python");
    assert!(
        py.exists(),
        "{} is missing: these tests need a Python environment with llama-cpp-python[server]; scripts/test creates it",
        py.display()
    );
    py
}

fn request(context: &str, continuations: &[&str]) -> LoglikRequest {
    LoglikRequest {
        context: context.to_owned(),
        continuations: continuations.iter().map(|c| (*c).to_owned()).collect(),
    }
}

/// Synthetic multiple-choice items in the MMLU prompt shape, plus odd cases:
/// multi-token options, a context ending in a space, non-ASCII text.
fn items() -> Vec<LoglikRequest> {
    let letters = [" A", " B", " C", " D"];
    vec![
        request(
            "The following are multiple choice questions (with answers) about clinical knowledge.\n\n\
             Which hormone lowers blood glucose?\nA. Glucagon\nB. Insulin\nC. Cortisol\nD. Adrenaline\nAnswer:",
            &letters,
        ),
        request(
            "Synthetic question: a first-line drug for uncomplicated type 2 diabetes is\nAnswer:",
            &[" metformin", " insulin glargine", " warfarin", " amoxicillin"],
        ),
        request(
            "Which class of drug is propranolol? Answer: ",
            &["β-blocker", "ACE inhibitor", "statin"],
        ),
        request(
            "The maximum daily dose of paracetamol for a healthy adult is",
            &[" 4 g", " 40 g", " 400 mg per kg"],
        ),
        request("Is aspirin an NSAID? Answer:", &[" yes", " no", " maybe"]),
    ]
}

fn scores(
    results: Vec<Result<Vec<ContinuationScore>, LoglikError>>,
) -> Vec<Vec<ContinuationScore>> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("item {i}: {e}")))
        .collect()
}

fn assert_close(a: &[Vec<ContinuationScore>], b: &[Vec<ContinuationScore>], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: item counts");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.len(), y.len(), "{what}: item {i} continuation counts");
        for (c, (s, t)) in x.iter().zip(y).enumerate() {
            assert_eq!(
                s.tokens, t.tokens,
                "{what}: item {i} continuation {c} tokens"
            );
            assert!(
                (s.logprob - t.logprob).abs() <= TOLERANCE,
                "{what}: item {i} continuation {c}: {} vs {}",
                s.logprob,
                t.logprob
            );
            assert_eq!(
                s.is_greedy, t.is_greedy,
                "{what}: item {i} continuation {c} is_greedy"
            );
        }
    }
}

/// llama-cpp-python's scores for `items`, computed from scratch.
fn reference(items: &[LoglikRequest]) -> Vec<Vec<ContinuationScore>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/llama_cpp_loglik.py");
    let input = serde_json::json!({
        "model": model_path(),
        "n_ctx": 2048,
        "threads": 2,
        "items": items,
    });
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("request written");
    let out = child.wait_with_output().expect("python runs");
    assert!(
        out.status.success(),
        "llama_cpp_loglik.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("reference scores parse")
}

#[test]
fn local_scores_equal_llama_cpp_python_on_the_same_gguf() {
    let items = items();
    let ours = scores(model().loglik_blocking(&items, PrefixSharing::Shared));
    assert_close(&ours, &reference(&items), "local vs llama-cpp-python");
    // Multi-token options really are several tokens, and a probability is one.
    assert!(ours[1][1].tokens > 1, "{:?}", ours[1][1]);
    assert!(ours
        .iter()
        .flatten()
        .all(|s| s.logprob < 0.0 && s.logprob.is_finite()));
}

#[test]
fn prefix_sharing_gives_the_numbers_of_scoring_each_option_from_scratch() {
    let items = items();
    let shared = scores(model().loglik_blocking(&items, PrefixSharing::Shared));
    let scratch = scores(model().loglik_blocking(&items, PrefixSharing::Off));
    assert_close(&shared, &scratch, "shared vs from scratch");
}

#[test]
fn items_scored_in_one_call_score_as_they_do_alone() {
    let items = items();
    let together = scores(model().loglik_blocking(&items, PrefixSharing::Shared));
    let alone: Vec<_> = items
        .iter()
        .flat_map(|item| {
            scores(model().loglik_blocking(std::slice::from_ref(item), PrefixSharing::Shared))
        })
        .collect();
    assert_close(&together, &alone, "together vs alone");
}

/// A tiny deterministic generator, so the property runs over fixed cases.
fn lcg(state: &mut u64) -> usize {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 33) as usize
}

#[test]
fn a_continuation_scores_as_the_sum_of_its_words_scored_in_turn() {
    // Words start with a space, so (GPT-2 style pre-tokenization) a phrase's
    // tokens are its words' tokens, and the chain rule must hold:
    // log p(w1 w2 … | ctx) = Σ log p(wk | ctx w1 … wk-1).
    let words = [
        " the",
        " patient",
        " has",
        " acute",
        " kidney",
        " injury",
        " after",
        " contrast",
        " with",
        " raised",
        " creatinine",
        " and",
        " low",
        " urine",
        " output",
    ];
    let context = "Synthetic case summary:";
    let mut state = 7;
    for case in 0..6 {
        let n = 2 + lcg(&mut state) % 4;
        let phrase: Vec<&str> = (0..n)
            .map(|_| words[lcg(&mut state) % words.len()])
            .collect();
        let whole = scores(model().loglik_blocking(
            &[request(context, &[&phrase.concat()])],
            PrefixSharing::Shared,
        ))[0][0];
        let steps: Vec<LoglikRequest> = (0..n)
            .map(|k| request(&format!("{context}{}", phrase[..k].concat()), &[phrase[k]]))
            .collect();
        let parts = scores(model().loglik_blocking(&steps, PrefixSharing::Shared));
        let sum: f64 = parts.iter().map(|p| p[0].logprob).sum();
        let tokens: u32 = parts.iter().map(|p| p[0].tokens).sum();
        let greedy = parts.iter().all(|p| p[0].is_greedy);
        assert_eq!(whole.tokens, tokens, "case {case}: {phrase:?}");
        assert!(
            (whole.logprob - sum).abs() <= TOLERANCE,
            "case {case}: {phrase:?}: {} vs {sum}",
            whole.logprob
        );
        assert_eq!(whole.is_greedy, greedy, "case {case}: {phrase:?}");
    }
}

#[test]
fn a_context_longer_than_the_window_is_a_typed_error_and_spares_the_others() {
    let long = "The synthetic note repeats itself. ".repeat(600);
    let requests = [request(&long, &[" yes", " no"]), items().remove(4)];
    let results = model().loglik_blocking(&requests, PrefixSharing::Shared);
    match &results[0] {
        Err(LoglikError::ContextTooLong {
            item: 0,
            tokens,
            limit,
            ..
        }) => {
            assert_eq!(*limit, model().loglik_window());
            assert!(tokens > limit, "{tokens} > {limit}");
        }
        other => panic!("expected ContextTooLong, got {other:?}"),
    }
    assert!(results[1].is_ok(), "{:?}", results[1]);
}

#[test]
fn empty_continuations_and_items_without_options_are_refused() {
    let results = model().loglik_blocking(
        &[request("Answer:", &[" yes", ""]), request("Answer:", &[])],
        PrefixSharing::Shared,
    );
    assert!(
        matches!(
            results[0],
            Err(LoglikError::EmptyContinuation {
                item: 0,
                continuation: 1
            })
        ),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(results[1], Err(LoglikError::NoContinuations { item: 1 })),
        "{:?}",
        results[1]
    );
}

#[tokio::test]
async fn the_async_trait_gives_the_blocking_scores() {
    let items = items();
    let via_trait = scores(LoglikModel::loglik(model(), &items).await);
    let blocking = scores(model().loglik_blocking(&items, PrefixSharing::Shared));
    assert_eq!(via_trait, blocking);
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn wait_http(host: &str, path: &str, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(mut s) = std::net::TcpStream::connect(host) {
            use std::io::Read;
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("http://{host}{path} did not come up within {limit:?}");
}

/// llama-cpp-python's OpenAI-compatible server on a free loopback port.
fn llama_cpp_server(extra: &[&str]) -> (Killed, String) {
    let port = free_port();
    let child = Command::new(python())
        .args(["-m", "llama_cpp.server", "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["--n_ctx", "2048", "--n_threads", "2", "--model"])
        .arg(model_path())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("llama_cpp.server starts");
    let server = Killed(child);
    let host = format!("127.0.0.1:{port}");
    wait_http(&host, "/v1/models", Duration::from_secs(120));
    (server, format!("http://{host}"))
}

fn http_model(base: &str) -> OpenAiModel {
    OpenAiModel::new(HttpConfig {
        concurrency: 4,
        max_retries: 1,
        ..HttpConfig::new(base, "default")
    })
    .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_scores_from_llama_cpp_python_server_equal_local_scores() {
    // llama-cpp-python 0.3.16 pairs each echoed token with the log-probability
    // of the token after it when the model adds no BOS token (SmolLM2 adds
    // none), so the server is started with BOS on, and the local side scores
    // the same token sequence: the BOS token written out at the front of the
    // context.
    let (_server, base) =
        llama_cpp_server(&["--kv_overrides", "tokenizer.ggml.add_bos_token=bool:true"]);
    let items = items();
    let over_http = scores(http_model(&base).loglik(&items).await);
    let with_bos: Vec<LoglikRequest> = items
        .iter()
        .map(|r| LoglikRequest {
            context: format!("<|im_start|>{}", r.context),
            continuations: r.continuations.clone(),
        })
        .collect();
    let local = scores(model().loglik_blocking(&with_bos, PrefixSharing::Shared));
    assert_close(&over_http, &local, "HTTP vs local");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_logprobs_gives_the_unsupported_error() {
    let (_server, base) = llama_cpp_server(&["--logits_all", "false"]);
    let results = http_model(&base).loglik(&items()[..1]).await;
    match &results[0] {
        Err(LoglikError::Unsupported { backend, reason }) => {
            assert_eq!(backend, "openai-http");
            assert!(reason.contains("logprobs"), "{reason}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}
