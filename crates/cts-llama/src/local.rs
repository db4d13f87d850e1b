//! The local GGUF backend: a [`ChatModel`] that runs a model file in-process
//! through llama.cpp.
//!
//! One scheduler serves both entry points: [`ChatModel::complete`] runs it
//! with a single request on a blocking thread and streams text back, and
//! [`LocalModel::complete_batch`] runs many requests with up to
//! `max_parallel` sequences decoded together in one context — one
//! `LlamaBatch` per step holding one token (or a prompt chunk) per sequence,
//! each sequence with its own id, KV stream and sampler.
//!
//! Not here: fetching weights (`fetch`), prompts and segmentation (`cts-trace`).

use std::collections::VecDeque;
use std::fmt;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use cts_model::{
    ChatMessage, ChatModel, Completion, GenerationParams, ModelError, ModelIdentity, Role, Usage,
};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::fetch::sha256_file;
use crate::utf8::Utf8Stream;

/// `ModelIdentity::backend` of this backend.
pub const BACKEND: &str = "local-gguf";

/// Tokens per `llama_decode` call (and the batch's capacity).
const BATCH_TOKENS: usize = 512;

/// Options for loading a local model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalOptions {
    /// Context length per sequence, in tokens (prompt + completion).
    pub n_ctx: u32,
    /// CPU threads; `None` uses all available cores.
    pub n_threads: Option<i32>,
    /// Most sequences decoded together by [`LocalModel::complete_batch`].
    pub max_parallel: usize,
    /// Flash attention on or off; `None` lets llama.cpp decide.
    pub flash_attention: Option<bool>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            n_ctx: 4096,
            n_threads: None,
            max_parallel: 8,
            flash_attention: None,
        }
    }
}

/// A GGUF model loaded in-process; cheap to share, safe to call concurrently.
pub struct LocalModel {
    pub(crate) engine: Arc<Engine>,
}

pub(crate) struct Engine {
    pub(crate) model: LlamaModel,
    template: LlamaChatTemplate,
    pub(crate) identity: ModelIdentity,
    pub(crate) n_ctx: u32,
    pub(crate) n_threads: i32,
    max_parallel: usize,
    pub(crate) flash_attention: Option<bool>,
    /// Creating contexts concurrently is unsound in llama.cpp (it writes to the model).
    pub(crate) context_creation: Mutex<()>,
}

/// A request ready to decode.
struct Prepared {
    prompt: Vec<LlamaToken>,
    params: GenerationParams,
    /// Decode exactly `max_tokens`, feeding end-of-generation tokens back
    /// like any other (fixed-length throughput measurements).
    ignore_eog: bool,
}

/// The llama.cpp backend, initialised once per process.
pub(crate) fn backend() -> Result<&'static LlamaBackend, ModelError> {
    static BACKEND_INIT: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND_INIT
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| ModelError::Unavailable(format!("cannot initialise llama.cpp: {e}")))
}

fn refused(message: String) -> ModelError {
    ModelError::Refused {
        status: 400,
        message,
    }
}

impl LocalModel {
    /// Loads a GGUF file, hashing it for the model identity.
    pub fn load(path: &Path, opts: LocalOptions) -> Result<Self, ModelError> {
        if opts.n_ctx < 2 {
            return Err(ModelError::Unavailable(format!(
                "n_ctx must be at least 2, got {}",
                opts.n_ctx
            )));
        }
        if opts.max_parallel == 0 || opts.max_parallel > BATCH_TOKENS {
            return Err(ModelError::Unavailable(format!(
                "max_parallel must be in 1..={BATCH_TOKENS}, got {}",
                opts.max_parallel
            )));
        }
        let n_threads = match opts.n_threads {
            Some(n) if n < 1 => {
                return Err(ModelError::Unavailable(format!(
                    "n_threads must be positive, got {n}"
                )))
            }
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map_or(1, |n| i32::try_from(n.get()).unwrap_or(i32::MAX)),
        };
        let backend = backend()?;
        let weights_sha256 = sha256_file(path).map_err(|e| {
            ModelError::Unavailable(format!("cannot read model file {}: {e}", path.display()))
        })?;
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| {
                ModelError::Unavailable(format!("cannot load GGUF model {}: {e}", path.display()))
            })?;
        let template = chat_template(&model, path);
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let identity = ModelIdentity {
            backend: BACKEND.to_owned(),
            name,
            weights_sha256: Some(weights_sha256),
            base_url: None,
            system_fingerprint: None,
        };
        Ok(Self {
            engine: Arc::new(Engine {
                model,
                template,
                identity,
                n_ctx: opts.n_ctx,
                n_threads,
                max_parallel: opts.max_parallel,
                flash_attention: opts.flash_attention,
                context_creation: Mutex::new(()),
            }),
        })
    }

    /// Completes several chats, decoding up to `max_parallel` of them
    /// together; blocking (call it from `spawn_blocking` in async code).
    pub fn complete_batch(
        &self,
        requests: &[(Vec<ChatMessage>, GenerationParams)],
    ) -> Vec<Result<Completion, ModelError>> {
        self.run_batch(requests, false)
    }

    /// Like [`Self::complete_batch`], but every request decodes exactly its
    /// `max_tokens`, end-of-generation tokens included: the fixed-length
    /// workload of throughput measurements (as llama.cpp's batched-bench).
    pub fn complete_batch_fixed_length(
        &self,
        requests: &[(Vec<ChatMessage>, GenerationParams)],
    ) -> Vec<Result<Completion, ModelError>> {
        self.run_batch(requests, true)
    }

    fn run_batch(
        &self,
        requests: &[(Vec<ChatMessage>, GenerationParams)],
        ignore_eog: bool,
    ) -> Vec<Result<Completion, ModelError>> {
        let prepared = requests
            .iter()
            .map(|(messages, params)| {
                self.engine.prepare(messages, params).map(|mut p| {
                    p.ignore_eog = ignore_eog;
                    p
                })
            })
            .collect();
        self.engine.run(prepared, &mut |_, _| true)
    }

    /// The chat prompt exactly as the model sees it, after its chat template.
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        self.engine.render(messages)
    }

    /// Most sequences decoded together by [`Self::complete_batch`].
    pub fn max_parallel(&self) -> usize {
        self.engine.max_parallel
    }
}

impl fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalModel")
            .field("identity", &self.engine.identity)
            .field("n_ctx", &self.engine.n_ctx)
            .field("n_threads", &self.engine.n_threads)
            .field("max_parallel", &self.engine.max_parallel)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl ChatModel for LocalModel {
    fn identity(&self) -> ModelIdentity {
        self.engine.identity.clone()
    }

    async fn complete(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
        on_text: &(dyn for<'a> Fn(&'a str) + Send + Sync),
    ) -> Result<Completion, ModelError> {
        let engine = Arc::clone(&self.engine);
        let messages = messages.to_vec();
        let params = params.clone();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let worker = tokio::task::spawn_blocking(move || {
            let prepared = engine.prepare(&messages, &params);
            // A closed channel means the caller went away: stop generating.
            let mut emit = |_: usize, piece: &str| tx.send(piece.to_owned()).is_ok();
            engine.run(vec![prepared], &mut emit).pop()
        });
        while let Some(piece) = rx.recv().await {
            on_text(&piece);
        }
        let result = worker
            .await
            .map_err(|e| ModelError::Inference(format!("inference thread failed: {e}")))?;
        result.unwrap_or_else(|| Err(ModelError::Inference("no result".into())))
    }
}

/// The model's own chat template, or ChatML when it has none usable.
fn chat_template(model: &LlamaModel, path: &Path) -> LlamaChatTemplate {
    let chatml = || LlamaChatTemplate::new("chatml").unwrap_or_else(|_| unreachable!("no NUL"));
    let probe = LlamaChatMessage::new("user".into(), "ping".into());
    match (model.chat_template(None), probe) {
        (Ok(template), Ok(probe)) => {
            if model.apply_chat_template(&template, &[probe], true).is_ok() {
                return template;
            }
            tracing::warn!(model = %path.display(), "llama.cpp cannot apply the model's chat template; falling back to ChatML");
        }
        (Err(e), _) => {
            tracing::warn!(model = %path.display(), error = %e, "model has no chat template; falling back to ChatML");
        }
        (_, Err(_)) => {}
    }
    chatml()
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Rejects sampling parameters llama.cpp cannot honour.
fn check_params(params: &GenerationParams) -> Result<(), ModelError> {
    let (t, p) = (params.temperature, params.top_p);
    if !t.is_finite() || t < 0.0 {
        return Err(refused(format!(
            "temperature must be a finite number >= 0, got {t}"
        )));
    }
    if !(p > 0.0 && p <= 1.0) {
        return Err(refused(format!("top_p must be in (0, 1], got {p}")));
    }
    Ok(())
}

/// The sampler of one sequence (checked parameters): greedy at temperature
/// 0, else top-p, temperature and a seeded draw.
fn sampler(params: &GenerationParams) -> LlamaSampler {
    if params.temperature == 0.0 {
        return LlamaSampler::greedy();
    }
    let mut chain = Vec::with_capacity(3);
    if params.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(params.top_p, 1));
    }
    chain.push(LlamaSampler::temp(params.temperature));
    chain.push(LlamaSampler::dist(sampler_seed(params.seed)));
    LlamaSampler::chain_simple(chain)
}

/// Folds the 64-bit seed into llama.cpp's 32 bits, avoiding `u32::MAX`,
/// which llama.cpp reads as "pick a random seed".
fn sampler_seed(seed: u64) -> u32 {
    let folded = (seed ^ (seed >> 32)) as u32;
    if folded == u32::MAX {
        u32::MAX - 1
    } else {
        folded
    }
}

/// One sequence being decoded in a slot of the shared context.
struct Slot {
    request: usize,
    seq: i32,
    prompt: Vec<LlamaToken>,
    /// Prompt tokens already in the batch.
    fed: usize,
    /// Next KV position of this sequence.
    n_past: i32,
    max_tokens: u32,
    ignore_eog: bool,
    sampler: LlamaSampler,
    text: Utf8Stream,
    content: String,
    generated: u32,
    /// Batch index whose logits to sample after this step.
    logits_at: Option<i32>,
    /// Last sampled token, to feed in the next step.
    next: Option<LlamaToken>,
    started: Instant,
    first_token: Option<Instant>,
}

enum Step {
    Continue,
    Done(&'static str),
    Cancelled,
}

impl Engine {
    fn render(&self, messages: &[ChatMessage]) -> Result<String, ModelError> {
        let chat = messages
            .iter()
            .map(|m| LlamaChatMessage::new(role_name(m.role).to_owned(), m.content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| refused(format!("message cannot be passed to llama.cpp: {e}")))?;
        self.model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| ModelError::Inference(format!("cannot apply chat template: {e}")))
    }

    fn prepare(
        &self,
        messages: &[ChatMessage],
        params: &GenerationParams,
    ) -> Result<Prepared, ModelError> {
        check_params(params)?;
        let text = self.render(messages)?;
        let prompt = self.model.vocab().tokenize(text.as_bytes(), true, true);
        if prompt.is_empty() {
            return Err(refused("the prompt is empty".into()));
        }
        if prompt.len() >= self.n_ctx as usize {
            return Err(refused(format!(
                "the prompt has {} tokens but the context holds {} (raise LocalOptions::n_ctx)",
                prompt.len(),
                self.n_ctx
            )));
        }
        Ok(Prepared {
            prompt,
            params: params.clone(),
            ignore_eog: false,
        })
    }

    fn completion(&self, content: String, finish_reason: &str, usage: Usage) -> Completion {
        Completion {
            content,
            reasoning: None,
            finish_reason: finish_reason.to_owned(),
            usage,
            model: self.identity.clone(),
        }
    }

    /// Decodes all requests; `emit(request, text)` receives streamed text and
    /// returns `false` to cancel that request.
    fn run(
        &self,
        prepared: Vec<Result<Prepared, ModelError>>,
        emit: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Vec<Result<Completion, ModelError>> {
        let mut results: Vec<Option<Result<Completion, ModelError>>> =
            prepared.iter().map(|_| None).collect();
        let mut queue = VecDeque::new();
        for (i, request) in prepared.into_iter().enumerate() {
            match request {
                Err(e) => results[i] = Some(Err(e)),
                Ok(p) if p.params.max_tokens == 0 => {
                    let usage = Usage {
                        prompt_tokens: count(p.prompt.len()),
                        ..Usage::default()
                    };
                    results[i] = Some(Ok(self.completion(String::new(), "length", usage)));
                }
                Ok(p) => queue.push_back((i, p)),
            }
        }
        if !queue.is_empty() {
            if let Err(fatal) = self.decode(queue, &mut results, emit) {
                for slot in results.iter_mut().filter(|r| r.is_none()) {
                    *slot = Some(Err(ModelError::Inference(fatal.clone())));
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ModelError::Inference("request was not run".into()))))
            .collect()
    }

    /// The scheduler: fills free slots from the queue, builds one batch per
    /// step (pending tokens first, then prompt chunks), decodes, samples.
    fn decode(
        &self,
        mut queue: VecDeque<(usize, Prepared)>,
        results: &mut [Option<Result<Completion, ModelError>>],
        emit: &mut dyn FnMut(usize, &str) -> bool,
    ) -> Result<(), String> {
        let n_slots = self.max_parallel.min(queue.len()).max(1);
        // Size each sequence's KV stream for the longest request, not for n_ctx.
        let per_seq = queue
            .iter()
            .map(|(_, p)| {
                (p.prompt.len() as u64 + u64::from(p.params.max_tokens)).min(u64::from(self.n_ctx))
            })
            .max()
            .unwrap_or(u64::from(self.n_ctx));
        // llama.cpp pads n_ctx to a multiple of 256 and then splits it evenly
        // between sequences; pad each stream so the split is exact.
        let per_seq = per_seq.div_ceil(256) * 256;
        let total = u32::try_from(per_seq * n_slots as u64).map_err(|_| {
            format!("{n_slots} sequences of {per_seq} tokens do not fit one context")
        })?;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(total))
            .with_n_batch(BATCH_TOKENS as u32)
            .with_n_ubatch(BATCH_TOKENS as u32)
            .with_n_seq_max(n_slots as u32)
            .with_kv_unified(false)
            .with_n_threads(self.n_threads)
            .with_n_threads_batch(self.n_threads);
        let params = match self.flash_attention {
            None => params,
            Some(on) => params.with_flash_attention_policy(i32::from(on)),
        };
        let backend = backend().map_err(|e| e.to_string())?;
        let mut ctx = {
            let _guard = self
                .context_creation
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.model
                .new_context(backend, params)
                .map_err(|e| format!("cannot create a llama.cpp context of {total} tokens: {e}"))?
        };
        // llama.cpp rounds each sequence's stream up; use what it gave us.
        let seq_capacity = i32::try_from(ctx.n_ctx() as usize / n_slots).unwrap_or(i32::MAX);
        let vocab = self.model.vocab();
        let mut batch = LlamaBatch::new(BATCH_TOKENS, 1);
        let mut slots: Vec<Option<Slot>> = (0..n_slots).map(|_| None).collect();

        // The first `n_slots` requests usually share a long prefix (system
        // prompt, instructions): decode it once in sequence 0 and copy its KV
        // stream to the other sequences.
        let started = Instant::now();
        let shared = shared_prefix(queue.iter().take(n_slots).map(|(_, p)| &p.prompt[..]));
        let shared = if n_slots > 1 && shared >= SHARED_PREFIX_MIN {
            shared
        } else {
            0
        };
        tracing::debug!(n_slots, per_seq, shared, "decoding a batch");
        if shared > 0 {
            let prefix = &queue[0].1.prompt[..shared];
            for (c, chunk) in prefix.chunks(BATCH_TOKENS).enumerate() {
                batch.clear();
                for (i, &token) in chunk.iter().enumerate() {
                    let pos = i32::try_from(c * BATCH_TOKENS + i).unwrap_or(i32::MAX);
                    batch
                        .add(token, pos, &[0], false)
                        .map_err(|e| e.to_string())?;
                }
                ctx.decode(&mut batch)
                    .map_err(|e| format!("llama_decode failed: {e}"))?;
            }
            for seq in 1..n_slots as i32 {
                ctx.copy_kv_cache_seq(0, seq, None, None)
                    .map_err(|e| format!("cannot copy the shared prefix to sequence {seq}: {e}"))?;
            }
        }
        // Slots filled before this step start after the shared prefix.
        let mut prefilled = if shared > 0 { n_slots } else { 0 };

        loop {
            for (seq, entry) in slots.iter_mut().enumerate() {
                if entry.is_some() {
                    continue;
                }
                let Some((request, p)) = queue.pop_front() else {
                    break;
                };
                let seq = seq as i32;
                let skip = if prefilled > 0 {
                    prefilled -= 1;
                    shared
                } else {
                    ctx.clear_kv_cache_seq(Some(seq as u32), None, None)
                        .map_err(|e| format!("cannot clear sequence {seq}: {e}"))?;
                    0
                };
                *entry = Some(Slot {
                    request,
                    seq,
                    prompt: p.prompt,
                    fed: skip,
                    n_past: i32::try_from(skip).unwrap_or(i32::MAX),
                    max_tokens: p.params.max_tokens,
                    ignore_eog: p.ignore_eog,
                    sampler: sampler(&p.params),
                    text: Utf8Stream::new(),
                    content: String::new(),
                    generated: 0,
                    logits_at: None,
                    next: None,
                    started: if skip > 0 { started } else { Instant::now() },
                    first_token: None,
                });
            }
            if slots.iter().all(Option::is_none) {
                if queue.is_empty() {
                    return Ok(());
                }
                continue;
            }

            batch.clear();
            for slot in slots.iter_mut().flatten() {
                if let Some(token) = slot.next.take() {
                    batch
                        .add(token, slot.n_past, &[slot.seq], true)
                        .map_err(|e| e.to_string())?;
                    slot.logits_at = Some(batch.n_tokens() - 1);
                    slot.n_past += 1;
                }
            }
            for slot in slots.iter_mut().flatten() {
                while slot.fed < slot.prompt.len() && (batch.n_tokens() as usize) < BATCH_TOKENS {
                    let last = slot.fed + 1 == slot.prompt.len();
                    batch
                        .add(slot.prompt[slot.fed], slot.n_past, &[slot.seq], last)
                        .map_err(|e| e.to_string())?;
                    if last {
                        slot.logits_at = Some(batch.n_tokens() - 1);
                    }
                    slot.fed += 1;
                    slot.n_past += 1;
                }
            }
            ctx.decode(&mut batch)
                .map_err(|e| format!("llama_decode failed: {e}"))?;

            for entry in &mut slots {
                let Some(slot) = entry.as_mut() else { continue };
                let Some(idx) = slot.logits_at.take() else {
                    continue;
                };
                let token = slot.sampler.sample(&ctx, idx);
                let now = Instant::now();
                slot.first_token.get_or_insert(now);
                let step = if vocab.is_eog(token) && !slot.ignore_eog {
                    Step::Done("stop")
                } else {
                    slot.generated += 1;
                    let piece = slot.text.push(&vocab.token_to_piece(token, false, None));
                    if !piece.is_empty() && !emit(slot.request, &piece) {
                        Step::Cancelled
                    } else {
                        slot.content.push_str(&piece);
                        if slot.generated >= slot.max_tokens || slot.n_past >= seq_capacity {
                            Step::Done("length")
                        } else {
                            slot.next = Some(token);
                            Step::Continue
                        }
                    }
                };
                match step {
                    Step::Continue => {}
                    Step::Cancelled => {
                        results[slot.request] =
                            Some(Err(ModelError::Inference("cancelled by the caller".into())));
                        *entry = None;
                    }
                    Step::Done(reason) => {
                        let tail = slot.text.finish();
                        if !tail.is_empty() {
                            // The caller may have gone; the result is complete either way.
                            let _ = emit(slot.request, &tail);
                            slot.content.push_str(&tail);
                        }
                        let first = slot.first_token.unwrap_or(now);
                        let usage = Usage {
                            prompt_tokens: count(slot.prompt.len()),
                            completion_tokens: slot.generated,
                            prompt_ms: ms(first - slot.started),
                            generation_ms: ms(now - first),
                        };
                        let content = std::mem::take(&mut slot.content);
                        results[slot.request] = Some(Ok(self.completion(content, reason, usage)));
                        *entry = None;
                    }
                }
            }
        }
    }
}

/// Shortest common prefix worth decoding once and copying between sequences.
const SHARED_PREFIX_MIN: usize = 32;

/// Length of the prefix all `prompts` share, leaving each at least one token
/// of its own (whose logits start its generation); 0 when there are none.
fn shared_prefix<'a>(mut prompts: impl Iterator<Item = &'a [LlamaToken]>) -> usize {
    let Some(first) = prompts.next() else {
        return 0;
    };
    let mut len = first.len().saturating_sub(1);
    for p in prompts {
        len = len.min(p.len().saturating_sub(1));
        len = first[..len]
            .iter()
            .zip(p)
            .take_while(|(a, b)| a == b)
            .count();
    }
    len
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_that_folds_to_llama_random_marker_is_moved() {
        assert_ne!(sampler_seed(0xFFFF_FFFF), u32::MAX);
        assert_eq!(sampler_seed(7), 7);
    }

    #[test]
    fn distinct_high_bits_give_distinct_seeds() {
        assert_ne!(sampler_seed(1), sampler_seed(1 | (1 << 40)));
    }

    #[test]
    fn shared_prefix_leaves_each_prompt_a_token() {
        let t = |v: &[i32]| v.iter().map(|&i| LlamaToken(i)).collect::<Vec<_>>();
        let (a, b, c) = (t(&[1, 2, 3, 4]), t(&[1, 2, 3, 5, 6]), t(&[1, 2, 3]));
        assert_eq!(shared_prefix([&a[..], &b[..]].into_iter()), 3);
        assert_eq!(shared_prefix([&a[..], &c[..]].into_iter()), 2);
        assert_eq!(shared_prefix([&a[..]].into_iter()), 3);
        assert_eq!(shared_prefix(std::iter::empty()), 0);
        assert_eq!(shared_prefix([&t(&[9, 1])[..], &a[..]].into_iter()), 0);
    }

    #[test]
    fn invalid_top_p_is_refused() {
        let params = GenerationParams {
            top_p: 0.0,
            ..GenerationParams::default()
        };
        assert!(matches!(
            check_params(&params),
            Err(ModelError::Refused { status: 400, .. })
        ));
    }

    #[test]
    fn negative_temperature_is_refused() {
        let params = GenerationParams {
            temperature: -1.0,
            ..GenerationParams::default()
        };
        assert!(matches!(
            check_params(&params),
            Err(ModelError::Refused { .. })
        ));
    }
}
