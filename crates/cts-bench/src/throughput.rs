//! Throughput measurements of a [`LocalModel`], for choosing `max_parallel`
//! and for reporting; greedy decoding, wall-clock timings from [`Usage`].
//!
//! [`Usage`]: cts_model::Usage

use std::time::Instant;

use cts_llama::LocalModel;
use cts_model::{ChatMessage, GenerationParams, ModelError};

/// Tokens per second of prompt processing and of generation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    /// Prompt tokens processed per second.
    pub prompt_tokens_per_s: f64,
    /// Completion tokens generated per second.
    pub gen_tokens_per_s: f64,
}

fn greedy(n_tokens: u32) -> GenerationParams {
    GenerationParams {
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
        max_tokens: n_tokens,
    }
}

fn per_s(tokens: u32, ms: f64) -> f64 {
    if ms > 0.0 {
        f64::from(tokens) * 1000.0 / ms
    } else {
        0.0
    }
}

/// One greedy completion of up to `n_tokens`; rates from its own [`cts_model::Usage`].
pub fn bench_generate(
    model: &LocalModel,
    prompt_messages: &[ChatMessage],
    n_tokens: u32,
) -> Result<Throughput, ModelError> {
    let mut results = model.complete_batch(&[(prompt_messages.to_vec(), greedy(n_tokens))]);
    let completion = results
        .pop()
        .unwrap_or_else(|| Err(ModelError::Inference("no result".into())))?;
    Ok(Throughput {
        prompt_tokens_per_s: per_s(completion.usage.prompt_tokens, completion.usage.prompt_ms),
        gen_tokens_per_s: per_s(
            completion.usage.completion_tokens,
            completion.usage.generation_ms,
        ),
    })
}

/// All `prompts` at once through [`LocalModel::complete_batch`]; aggregate
/// rates: all prompt tokens over the longest prompt phase, all completion
/// tokens over the rest of the wall-clock time.
pub fn bench_batch(
    model: &LocalModel,
    prompts: &[Vec<ChatMessage>],
    n_tokens: u32,
) -> Result<Throughput, ModelError> {
    let requests: Vec<_> = prompts
        .iter()
        .map(|m| (m.clone(), greedy(n_tokens)))
        .collect();
    let start = Instant::now();
    let results = model.complete_batch(&requests);
    let wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    let (mut prompt_tokens, mut gen_tokens, mut prompt_ms) = (0u32, 0u32, 0f64);
    for result in results {
        let usage = result?.usage;
        prompt_tokens += usage.prompt_tokens;
        gen_tokens += usage.completion_tokens;
        prompt_ms = prompt_ms.max(usage.prompt_ms);
    }
    Ok(Throughput {
        prompt_tokens_per_s: per_s(prompt_tokens, prompt_ms),
        gen_tokens_per_s: per_s(gen_tokens, wall_ms - prompt_ms),
    })
}
