use cts_llama::*;
use cts_model::*;
#[tokio::main]
async fn main() {
    let path = fetch_default_model(&default_cache_dir()).unwrap();
    let model = LocalModel::load(
        &path,
        LocalOptions {
            n_ctx: 2048,
            n_threads: None,
            max_parallel: 4,
        },
    )
    .unwrap();
    let chat = |q: &str| {
        vec![
            ChatMessage::new(
                Role::System,
                "You are a careful clinical assistant. Answer briefly.",
            ),
            ChatMessage::new(Role::User, q),
        ]
    };
    let g = GenerationParams {
        temperature: 0.0,
        top_p: 1.0,
        seed: 1,
        max_tokens: 40,
    };
    let m = chat("Write the units µg, °C and mmol/L, each with a one-line explanation.");
    let pieces = std::sync::Mutex::new(Vec::new());
    let d = model
        .complete(
            &m,
            &GenerationParams {
                max_tokens: 64,
                ..g.clone()
            },
            &|p| pieces.lock().unwrap().push(p.to_owned()),
        )
        .await
        .unwrap();
    println!(
        "STREAM {:?}\n{:?}",
        d.content,
        pieces
            .lock()
            .unwrap()
            .iter()
            .filter(|p| !p.is_ascii())
            .collect::<Vec<_>>()
    );
    let qs = [
        "What is the antidote for opioid overdose?",
        "Can ibuprofen be taken during the third trimester of pregnancy?",
    ];
    for q in qs {
        let d = model.complete(&chat(q), &g, &|_| {}).await.unwrap();
        println!("SEQ {:?} {:?}", d.content, d.usage);
    }
    let reqs: Vec<_> = qs.iter().map(|q| (chat(q), g.clone())).collect();
    for r in model.complete_batch(&reqs) {
        let d = r.unwrap();
        println!("BAT {:?} {} {:?}", d.content, d.finish_reason, d.usage);
    }
}
