//! Log-likelihood scoring on the local backend: [`LoglikModel`] for
//! [`LocalModel`], with the context of each item decoded once and shared by
//! all of its continuations.
//!
//! How: one llama.cpp context with a *unified* KV cache. The context tokens
//! of an item go into the batch once, tagged with one sequence id per
//! continuation, so their KV cells belong to every continuation's sequence;
//! each continuation then follows in its own sequence, attending to those
//! shared cells (llama.cpp's own multiple-choice scorer in `perplexity`
//! works the same way). Several items are packed into one `llama_decode`
//! while they fit the pack's cells, sequence ids and output rows. The
//! logits of the last context token predict a continuation's first token,
//! those of continuation token `t` predict token `t + 1`; the last
//! continuation token is never decoded. Log-softmax is taken in `f64`.
//!
//! Tokenization follows lm-eval's `_encode_pair`: trailing whitespace of the
//! context moves to the continuation, the context is tokenized alone, the
//! joined text is tokenized whole, and the continuation is what the whole
//! has past the context's length. An empty context is the BOS token (EOS
//! when the model has none), like lm-eval's prefix token.
//!
//! Not here: prompts and answer choice (the eval runner), the HTTP backend
//! (`cts_model::http`).

use std::num::NonZeroU32;
use std::sync::Arc;

use cts_model::loglik::split_trailing_whitespace;
use cts_model::{ContinuationScore, LoglikError, LoglikModel, LoglikRequest, ModelError};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;

use crate::local::{backend, Engine, LocalModel};

/// Whether the continuations of an item share its decoded context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixSharing {
    /// Decode each item's context once for all of its continuations.
    Shared,
    /// Decode context + continuation from scratch for every continuation
    /// (the baseline of `cts bench loglik`, and the check on sharing).
    Off,
}

/// Most KV cells in one pack (one `llama_decode` call); an item larger than
/// this gets a pack of its own size.
const PACK_CELLS: usize = 2048;
/// Tokens per micro-batch inside one `llama_decode`.
const UBATCH_TOKENS: u32 = 512;
/// Most groups (items when sharing) in one pack. One: with several
/// independent groups in one batch, the groups after the first scored
/// differently (by up to ~0.2 nats) from the same group decoded alone, which
/// equals llama-cpp-python's from-scratch numbers; until that is understood,
/// each decode holds one item's context and its continuations.
const PACK_GROUPS: usize = 1;
/// Most sequences in one pack (llama.cpp allows 256).
const PACK_SEQS: usize = 64;
/// Most output rows (tokens with logits) in one pack: each row is a whole
/// vocabulary of `f32`s.
const PACK_OUTPUTS: usize = 256;

/// One item, tokenized.
struct Encoded {
    /// Index in the request slice.
    item: usize,
    context: Vec<LlamaToken>,
    continuations: Vec<Vec<LlamaToken>>,
}

/// Sequences decoded together in one pack: the context once, then the
/// continuations listed (all of the item's when sharing, one otherwise).
struct Group {
    /// Index into the encoded items.
    encoded: usize,
    continuations: Vec<usize>,
    cells: usize,
    outputs: usize,
}

impl Group {
    fn new(encoded: usize, item: &Encoded, continuations: Vec<usize>) -> Self {
        let tails: usize = continuations
            .iter()
            .map(|&c| item.continuations[c].len() - 1)
            .sum();
        Self {
            encoded,
            continuations,
            cells: item.context.len() + tails,
            outputs: 1 + tails,
        }
    }
}

/// Where to read one continuation token's log-probability.
struct Read {
    encoded: usize,
    continuation: usize,
    /// Batch index whose logits predict `token`.
    at: i32,
    token: LlamaToken,
}

impl LocalModel {
    /// Scores every request; blocking (call it from `spawn_blocking` in
    /// async code). See the [module docs](self) for the method.
    pub fn loglik_blocking(
        &self,
        requests: &[LoglikRequest],
        sharing: PrefixSharing,
    ) -> Vec<Result<Vec<ContinuationScore>, LoglikError>> {
        self.engine.loglik(requests, sharing)
    }

    /// Most tokens (context + continuation) one scored sequence may hold:
    /// the smaller of `LocalOptions::n_ctx` and the model's training window.
    pub fn loglik_window(&self) -> usize {
        self.engine.loglik_window()
    }
}

#[async_trait::async_trait]
impl LoglikModel for LocalModel {
    async fn loglik(
        &self,
        requests: &[LoglikRequest],
    ) -> Vec<Result<Vec<ContinuationScore>, LoglikError>> {
        let engine = Arc::clone(&self.engine);
        let owned = requests.to_vec();
        let n = requests.len();
        match tokio::task::spawn_blocking(move || engine.loglik(&owned, PrefixSharing::Shared))
            .await
        {
            Ok(results) => results,
            Err(e) => (0..n)
                .map(|item| {
                    Err(LoglikError::Model {
                        item,
                        source: ModelError::Inference(format!("scoring thread failed: {e}")),
                    })
                })
                .collect(),
        }
    }
}

impl Engine {
    fn loglik_window(&self) -> usize {
        self.n_ctx.min(self.model.n_ctx_train()).max(1) as usize
    }

    fn loglik(
        &self,
        requests: &[LoglikRequest],
        sharing: PrefixSharing,
    ) -> Vec<Result<Vec<ContinuationScore>, LoglikError>> {
        let mut results: Vec<Option<Result<Vec<ContinuationScore>, LoglikError>>> =
            requests.iter().map(|_| None).collect();
        let mut encoded = Vec::new();
        for (item, request) in requests.iter().enumerate() {
            match self.encode(item, request) {
                Ok(e) => encoded.push(e),
                Err(e) => results[item] = Some(Err(e)),
            }
        }
        let groups: Vec<Group> = encoded
            .iter()
            .enumerate()
            .flat_map(|(i, item)| {
                let all = 0..item.continuations.len();
                match sharing {
                    PrefixSharing::Shared => vec![Group::new(i, item, all.collect())],
                    PrefixSharing::Off => all.map(|c| Group::new(i, item, vec![c])).collect(),
                }
            })
            .collect();
        if !groups.is_empty() {
            match self.score_groups(&encoded, &groups) {
                Ok(scores) => {
                    for (item, scores) in encoded.iter().zip(scores) {
                        results[item.item] = Some(Ok(scores));
                    }
                }
                Err(fatal) => {
                    for item in &encoded {
                        results[item.item] = Some(Err(LoglikError::Model {
                            item: item.item,
                            source: ModelError::Inference(fatal.clone()),
                        }));
                    }
                }
            }
        }
        results
            .into_iter()
            .enumerate()
            .map(|(item, r)| {
                r.unwrap_or_else(|| {
                    Err(LoglikError::Model {
                        item,
                        source: ModelError::Inference("item was not scored".into()),
                    })
                })
            })
            .collect()
    }

    /// Tokenizes one request the lm-eval way and checks it fits.
    fn encode(&self, item: usize, request: &LoglikRequest) -> Result<Encoded, LoglikError> {
        if request.continuations.is_empty() {
            return Err(LoglikError::NoContinuations { item });
        }
        let window = self.loglik_window();
        let vocab = self.model.vocab();
        let tokenize = |text: &str| {
            let mut tokens = Vec::new();
            if vocab.should_add_bos() {
                tokens.push(vocab.bos());
            }
            tokens.extend(vocab.tokenize(text.as_bytes(), false, true));
            tokens
        };
        // The split of the context depends only on the context: tokenize it once.
        let (ctx, _) = split_trailing_whitespace(&request.context, "");
        let context = if ctx.is_empty() {
            let bos = vocab.bos();
            vec![if bos.0 >= 0 { bos } else { vocab.eos() }]
        } else {
            tokenize(ctx)
        };
        let mut continuations = Vec::with_capacity(request.continuations.len());
        for (c, continuation) in request.continuations.iter().enumerate() {
            let (ctx, cont) = split_trailing_whitespace(&request.context, continuation);
            let tokens = if ctx.is_empty() {
                let whole = tokenize(&cont);
                let skip = usize::from(vocab.should_add_bos() && !whole.is_empty());
                whole[skip..].to_vec()
            } else {
                let whole = tokenize(&format!("{ctx}{cont}"));
                whole.get(context.len()..).unwrap_or_default().to_vec()
            };
            if tokens.is_empty() {
                return Err(LoglikError::EmptyContinuation {
                    item,
                    continuation: c,
                });
            }
            // The last continuation token is scored, never fed.
            let fed = context.len() + tokens.len() - 1;
            if fed > window {
                return Err(LoglikError::ContextTooLong {
                    item,
                    continuation: c,
                    tokens: fed,
                    limit: window,
                });
            }
            continuations.push(tokens);
        }
        Ok(Encoded {
            item,
            context,
            continuations,
        })
    }

    /// Decodes all groups in packs; the scores of each encoded item, in order.
    fn score_groups(
        &self,
        encoded: &[Encoded],
        groups: &[Group],
    ) -> Result<Vec<Vec<ContinuationScore>>, String> {
        let largest = groups.iter().map(|g| g.cells).max().unwrap_or(1);
        let cells = largest.max(PACK_CELLS).div_ceil(256) * 256;
        let widest = groups
            .iter()
            .map(|g| g.continuations.len())
            .max()
            .unwrap_or(1);
        if widest > PACK_SEQS {
            return Err(format!(
                "an item has {widest} continuations; at most {PACK_SEQS} are scored together"
            ));
        }
        let n_cells = u32::try_from(cells).map_err(|_| format!("{cells} cells are too many"))?;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_cells))
            .with_n_batch(n_cells)
            .with_n_ubatch(UBATCH_TOKENS.min(n_cells))
            .with_n_seq_max(PACK_SEQS as u32)
            .with_kv_unified(true)
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
                .map_err(|e| format!("cannot create a llama.cpp context of {cells} tokens: {e}"))?
        };
        let mut batch = LlamaBatch::new(cells, PACK_SEQS as i32);
        let mut scores: Vec<Vec<ContinuationScore>> = encoded
            .iter()
            .map(|e| {
                vec![
                    ContinuationScore {
                        logprob: 0.0,
                        tokens: 0,
                        is_greedy: true,
                    };
                    e.continuations.len()
                ]
            })
            .collect();
        let mut reads = Vec::new();
        let mut start = 0;
        while start < groups.len() {
            // Fill one pack.
            let (mut end, mut used_cells, mut seqs, mut outputs) = (start, 0, 0, 0);
            while end < groups.len() {
                let g = &groups[end];
                let fits = end - start < PACK_GROUPS
                    && used_cells + g.cells <= cells
                    && seqs + g.continuations.len() <= PACK_SEQS
                    && outputs + g.outputs <= PACK_OUTPUTS;
                if end > start && !fits {
                    break;
                }
                used_cells += g.cells;
                seqs += g.continuations.len();
                outputs += g.outputs;
                end += 1;
            }
            ctx.clear_kv_cache();
            batch.clear();
            reads.clear();
            let mut next_seq = 0i32;
            for g in &groups[start..end] {
                let item = &encoded[g.encoded];
                let seq_ids: Vec<i32> = (next_seq..).take(g.continuations.len()).collect();
                next_seq += g.continuations.len() as i32;
                let last = item.context.len() - 1;
                for (pos, &token) in item.context.iter().enumerate() {
                    batch
                        .add(token, pos as i32, &seq_ids, pos == last)
                        .map_err(|e| e.to_string())?;
                }
                let context_logits = batch.n_tokens() - 1;
                for (&c, &seq) in g.continuations.iter().zip(&seq_ids) {
                    let tokens = &item.continuations[c];
                    let mut at = context_logits;
                    for (t, &token) in tokens.iter().enumerate() {
                        reads.push(Read {
                            encoded: g.encoded,
                            continuation: c,
                            at,
                            token,
                        });
                        if t + 1 < tokens.len() {
                            batch
                                .add(token, (item.context.len() + t) as i32, &[seq], true)
                                .map_err(|e| e.to_string())?;
                            at = batch.n_tokens() - 1;
                        }
                    }
                }
            }
            ctx.decode(&mut batch)
                .map_err(|e| format!("llama_decode failed: {e}"))?;
            for read in &reads {
                let (logprob, greedy) = token_logprob(ctx.get_logits_ith(read.at), read.token)
                    .ok_or_else(|| format!("token {} is outside the vocabulary", read.token.0))?;
                let score = &mut scores[read.encoded][read.continuation];
                score.logprob += logprob;
                score.tokens += 1;
                score.is_greedy &= greedy;
            }
            start = end;
        }
        Ok(scores)
    }
}

/// The natural-log probability of `token` under `logits` (log-softmax in
/// `f64`), and whether `token` is the argmax (the first, on ties); `None`
/// when `token` is outside `logits`.
pub fn token_logprob(logits: &[f32], token: LlamaToken) -> Option<(f64, bool)> {
    let index = usize::try_from(token.0).ok()?;
    let target = f64::from(*logits.get(index)?);
    let mut max = f64::NEG_INFINITY;
    let mut argmax = 0;
    for (i, &l) in logits.iter().enumerate() {
        if f64::from(l) > max {
            max = f64::from(l);
            argmax = i;
        }
    }
    let sum: f64 = logits.iter().map(|&l| (f64::from(l) - max).exp()).sum();
    Some((target - max - sum.ln(), argmax == index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logprobs_of_all_tokens_sum_to_one() {
        let logits = [1.5f32, -0.25, 3.0, 0.0, 2.75];
        let total: f64 = (0..logits.len() as i32)
            .map(|t| {
                token_logprob(&logits, LlamaToken(t))
                    .expect("in range")
                    .0
                    .exp()
            })
            .sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    #[test]
    fn argmax_is_greedy_and_others_are_not() {
        let logits = [1.0f32, 4.0, 4.0, -2.0];
        assert!(token_logprob(&logits, LlamaToken(1)).expect("in range").1);
        // Ties go to the first, as torch's argmax does.
        assert!(!token_logprob(&logits, LlamaToken(2)).expect("in range").1);
        assert!(!token_logprob(&logits, LlamaToken(0)).expect("in range").1);
    }

    #[test]
    fn logprob_is_stable_for_large_logits() {
        let logits = [1000.0f32, 999.0];
        let (lp, greedy) = token_logprob(&logits, LlamaToken(1)).expect("in range");
        let expected = -1.0 - (1.0 + (-1.0f64).exp()).ln();
        assert!((lp - expected).abs() < 1e-12, "{lp} vs {expected}");
        assert!(!greedy);
    }

    #[test]
    fn tokens_outside_the_vocabulary_are_refused() {
        assert!(token_logprob(&[0.0, 1.0], LlamaToken(2)).is_none());
        assert!(token_logprob(&[0.0, 1.0], LlamaToken(-1)).is_none());
    }
}
