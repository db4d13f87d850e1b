//! Prints the default model's greedy answer to a medication-safety question;
//! its output is `testdata/smollm2-sample.txt`:
//! `cargo run --release -p cts-llama --example sample > crates/cts-llama/testdata/smollm2-sample.txt`.

use cts_llama::{default_cache_dir, fetch_default_model, LocalModel, LocalOptions};
use cts_model::{ChatMessage, ChatModel, GenerationParams, Role};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = fetch_default_model(&default_cache_dir())?;
    let model = LocalModel::load(&path, LocalOptions::default())?;
    let messages = [
        ChatMessage::new(
            Role::System,
            "You are a careful clinical assistant. Think step by step.",
        ),
        ChatMessage::new(
            Role::User,
            "A 78-year-old patient on warfarin for atrial fibrillation is prescribed \
             clarithromycin for pneumonia. Is this combination safe? Explain step by step \
             what could go wrong and what should be done, as a numbered list of steps.",
        ),
    ];
    let params = GenerationParams {
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
        max_tokens: 400,
    };
    let done = model.complete(&messages, &params, &|_| {}).await?;
    print!("{}", done.content);
    Ok(())
}
