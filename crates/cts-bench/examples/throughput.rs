//! Prints prompt and generation throughput of the default model, one
//! sequence at a time and batched: `cargo run --release -p cts-bench --example throughput`.

use cts_bench::throughput::{bench_batch, bench_generate};
use cts_llama::{default_cache_dir, fetch_default_model, LocalModel, LocalOptions};
use cts_model::{ChatMessage, Role};

const QUESTIONS: [&str; 8] = [
    "What is the antidote for opioid overdose?",
    "Can ibuprofen be taken during the third trimester of pregnancy?",
    "What should be monitored in a patient on lithium?",
    "Why is grapefruit juice a concern with simvastatin?",
    "What is the maximum daily dose of paracetamol for a healthy adult?",
    "Which drugs interact dangerously with warfarin?",
    "Is it safe to combine an SSRI with tramadol?",
    "How should metformin be managed before contrast imaging?",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n_tokens = 128;
    let path = fetch_default_model(&default_cache_dir())?;
    let model = LocalModel::load(
        &path,
        LocalOptions {
            n_ctx: 1024,
            ..LocalOptions::default()
        },
    )?;
    let prompts: Vec<Vec<ChatMessage>> = QUESTIONS
        .iter()
        .map(|q| {
            vec![
                ChatMessage::new(Role::System, "You are a careful clinical assistant."),
                ChatMessage::new(Role::User, *q),
            ]
        })
        .collect();

    let start = std::time::Instant::now();
    let mut tokens = 0.0;
    for prompt in &prompts {
        let t = bench_generate(&model, prompt, n_tokens)?;
        println!(
            "single: prompt {:8.1} tok/s  generation {:7.1} tok/s",
            t.prompt_tokens_per_s, t.gen_tokens_per_s
        );
        tokens += f64::from(n_tokens);
    }
    println!(
        "8 cases one at a time: {:.1} s wall (<= {tokens} tokens)",
        start.elapsed().as_secs_f64()
    );

    let start = std::time::Instant::now();
    let t = bench_batch(&model, &prompts, n_tokens)?;
    println!(
        "8 cases batched (max_parallel {}): prompt {:.1} tok/s, generation {:.1} tok/s aggregate, {:.1} s wall",
        model.max_parallel(),
        t.prompt_tokens_per_s,
        t.gen_tokens_per_s,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
