//! Log-likelihood scoring on the local backend: [`LoglikModel`] for
//! [`LocalModel`], with the context of each item decoded once and shared by
//! all of its continuations.
//!
//! How: one llama.cpp context with one sequence. An item's context is
//! decoded once; its last row of logits predicts the first token of every
//! continuation. For each continuation of two or more tokens, the previous
//! continuation's KV cells and the context's last cell are removed and the
//! context's last token is decoded again together with the continuation
//! (never a one-token decode: llama.cpp's CPU path for a single token gives
//! numbers up to ~0.15 nats away from its batched path, which from-scratch
//! scoring and llama-cpp-python take). Continuation token `t` predicts token
//! `t + 1`; the last continuation token is never decoded. Log-softmax is
//! taken in `f64`.
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

/// Tokens per micro-batch inside one `llama_decode`.
const UBATCH_TOKENS: u32 = 512;

/// One item, tokenized.
struct Encoded {
    /// Index in the request slice.
    item: usize,
    context: Vec<LlamaToken>,
    continuations: Vec<Vec<LlamaToken>>,
}

/// The log-softmax of one row of logits, computed once and read for many
/// tokens (the context's last row predicts the first token of every option).
struct LogSoftmax<'a> {
    logits: &'a [f32],
    /// `max + ln Σ exp(l - max)`, in `f64`.
    log_norm: f64,
    /// The first index of the largest logit.
    argmax: usize,
}

impl<'a> LogSoftmax<'a> {
    fn new(logits: &'a [f32]) -> Self {
        let mut max = f64::NEG_INFINITY;
        let mut argmax = 0;
        for (i, &l) in logits.iter().enumerate() {
            if f64::from(l) > max {
                max = f64::from(l);
                argmax = i;
            }
        }
        let sum: f64 = logits.iter().map(|&l| (f64::from(l) - max).exp()).sum();
        Self {
            logits,
            log_norm: max + sum.ln(),
            argmax,
        }
    }

    /// `(log p(token), token is the argmax)`; `None` outside the vocabulary.
    fn of(&self, token: LlamaToken) -> Option<(f64, bool)> {
        let index = usize::try_from(token.0).ok()?;
        let logit = f64::from(*self.logits.get(index)?);
        Some((logit - self.log_norm, index == self.argmax))
    }
}

fn add_token(
    score: &mut ContinuationScore,
    row: &LogSoftmax<'_>,
    token: LlamaToken,
) -> Result<(), String> {
    let (logprob, greedy) = row
        .of(token)
        .ok_or_else(|| format!("token {} is outside the vocabulary", token.0))?;
    score.logprob += logprob;
    score.tokens += 1;
    score.is_greedy &= greedy;
    Ok(())
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
        if !encoded.is_empty() {
            match self.score_items(&encoded, sharing) {
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

    /// Decodes every item, one sequence at a time; the scores of each
    /// encoded item, in order.
    ///
    /// Every `llama_decode` holds the tokens of one sequence only: with
    /// several sequences in one micro-batch (continuations sharing context
    /// cells, or several items packed together) this llama.cpp scored every
    /// sequence after the first differently from the same tokens decoded
    /// alone (see ARCHITECTURE.md, "Log-likelihood scoring").
    fn score_items(
        &self,
        encoded: &[Encoded],
        sharing: PrefixSharing,
    ) -> Result<Vec<Vec<ContinuationScore>>, String> {
        let largest = encoded
            .iter()
            .map(|e| e.context.len() + e.continuations.iter().map(Vec::len).max().unwrap_or(1) - 1)
            .max()
            .unwrap_or(1);
        let cells = largest.max(1).div_ceil(256) * 256;
        let n_cells = u32::try_from(cells).map_err(|_| format!("{cells} cells are too many"))?;
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_cells))
            .with_n_batch(n_cells)
            .with_n_ubatch(UBATCH_TOKENS.min(n_cells))
            .with_n_seq_max(1)
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
        let mut batch = LlamaBatch::new(cells, 1);
        let mut all = Vec::with_capacity(encoded.len());
        for item in encoded {
            let mut scores = vec![
                ContinuationScore {
                    logprob: 0.0,
                    tokens: 0,
                    is_greedy: true,
                };
                item.continuations.len()
            ];
            let start = item.context.len();
            match sharing {
                PrefixSharing::Shared => {
                    ctx.clear_kv_cache();
                    batch.clear();
                    batch
                        .add_sequence(&item.context, 0, false)
                        .map_err(|e| e.to_string())?;
                    ctx.decode(&mut batch)
                        .map_err(|e| format!("llama_decode failed: {e}"))?;
                    let last = batch.n_tokens() - 1;
                    {
                        let row = LogSoftmax::new(ctx.get_logits_ith(last));
                        for (score, tokens) in scores.iter_mut().zip(&item.continuations) {
                            add_token(score, &row, tokens[0])?;
                        }
                    }
                    for (score, tokens) in scores.iter_mut().zip(&item.continuations) {
                        if tokens.len() < 2 {
                            continue;
                        }
                        // Drop the previous option's cells and the context's
                        // last one, and decode that token again in front of
                        // the option: a decode of one token takes llama.cpp's
                        // matrix-vector path, which gives other numbers (by
                        // up to ~0.15 nats) than the batched path that the
                        // context and from-scratch scoring take.
                        let from =
                            u32::try_from(start - 1).map_err(|_| "context too long".to_owned())?;
                        ctx.clear_kv_cache_seq(Some(0), Some(from), None)
                            .map_err(|e| e.to_string())?;
                        batch.clear();
                        batch
                            .add(item.context[start - 1], (start - 1) as i32, &[0], false)
                            .map_err(|e| e.to_string())?;
                        feed(&mut batch, tokens, start, 0)?;
                        ctx.decode(&mut batch)
                            .map_err(|e| format!("llama_decode failed: {e}"))?;
                        for (t, &token) in tokens.iter().enumerate().skip(1) {
                            add_token(
                                score,
                                &LogSoftmax::new(ctx.get_logits_ith(t as i32)),
                                token,
                            )?;
                        }
                    }
                }
                PrefixSharing::Off => {
                    for (score, tokens) in scores.iter_mut().zip(&item.continuations) {
                        ctx.clear_kv_cache();
                        batch.clear();
                        let last = item.context.len() - 1;
                        for (pos, &token) in item.context.iter().enumerate() {
                            batch
                                .add(token, pos as i32, &[0], pos == last)
                                .map_err(|e| e.to_string())?;
                        }
                        feed(&mut batch, tokens, start, 0)?;
                        ctx.decode(&mut batch)
                            .map_err(|e| format!("llama_decode failed: {e}"))?;
                        for (t, &token) in tokens.iter().enumerate() {
                            let at = (last + t) as i32;
                            add_token(score, &LogSoftmax::new(ctx.get_logits_ith(at)), token)?;
                        }
                    }
                }
            }
            all.push(scores);
        }
        Ok(all)
    }
}

/// Adds all but the last of `tokens` at positions `start..` of sequence
/// `seq`, each with logits (the last token is scored, never fed).
fn feed(
    batch: &mut LlamaBatch,
    tokens: &[LlamaToken],
    start: usize,
    seq: i32,
) -> Result<(), String> {
    for (t, &token) in tokens[..tokens.len() - 1].iter().enumerate() {
        batch
            .add(token, (start + t) as i32, &[seq], true)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The natural-log probability of `token` under `logits` (log-softmax in
/// `f64`), and whether `token` is the argmax (the first, on ties); `None`
/// when `token` is outside `logits`.
pub fn token_logprob(logits: &[f32], token: LlamaToken) -> Option<(f64, bool)> {
    LogSoftmax::new(logits).of(token)
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
