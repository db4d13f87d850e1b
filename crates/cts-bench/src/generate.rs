//! `cts bench generate`: local generation speed next to llama.cpp's own
//! engine (llama-cpp-python, same file and prompt), single sequences and
//! batched decoding.

use std::fmt;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

/// The figures of one run (medians over the repetitions).
#[derive(Serialize)]
pub struct GenerateFigures {
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

/// Runs a benchmark script of `python/` with llama-cpp-python's Python,
/// the prompt on stdin; its JSON output.
fn python_bench(
    python: &std::path::Path,
    script: &str,
    args: &[String],
    prompt: &str,
) -> Result<serde_json::Value> {
    use std::io::Write;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
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

/// Local generation of `tokens` tokens a sequence with `model` (default:
/// the built-in model), `reps` times, beside llama.cpp's own engine run
/// through `python` (llama-cpp-python; default: the test environment).
pub async fn run(
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

impl fmt::Display for GenerateFigures {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let f = self;
        write!(
            out,
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
    }
}
