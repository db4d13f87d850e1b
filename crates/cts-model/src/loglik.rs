//! Log-likelihood scoring of continuations: the request and score types,
//! the [`LoglikModel`] trait the two backends implement, and the one rule
//! both share for where a context ends and its continuation begins.
//!
//! The convention is lm-evaluation-harness's: a continuation's score is the
//! sum of the log-probabilities of its tokens given the context and the
//! continuation tokens before them; `is_greedy` says whether greedy decoding
//! from the context would have produced exactly those tokens. Trailing
//! whitespace of the context is moved to the front of the continuation
//! before tokenizing ([`split_trailing_whitespace`], lm-eval's `_encode_pair`).
//!
//! Not here: choosing an answer from scores, prompts, statistics (the eval
//! runner), or any inference (`cts-llama`, [`crate::http`]).

use serde::{Deserialize, Serialize};

use crate::{ChatModel, ModelError};

/// One item to score: a context and the continuations to score after it
/// (e.g. a question and its options).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoglikRequest {
    /// The text the continuations follow (prompt, question, "Answer:").
    pub context: String,
    /// The texts to score, in order (e.g. `" A"`, `" B"`, …).
    pub continuations: Vec<String>,
}

/// The score of one continuation given its context.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContinuationScore {
    /// Sum of the natural-log probabilities of the continuation's tokens.
    pub logprob: f64,
    /// Number of continuation tokens summed.
    pub tokens: u32,
    /// Whether every continuation token was the most likely token at its place.
    pub is_greedy: bool,
}

/// Why an item could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum LoglikError {
    /// The backend (or the server behind it) does not return log-probabilities.
    #[error("{backend} cannot score log-likelihoods: {reason}")]
    Unsupported {
        /// `ModelIdentity::backend` of the model asked.
        backend: String,
        /// What showed it (status, missing field).
        reason: String,
    },
    /// Context and continuation do not fit the model's context window.
    #[error("item {item}, continuation {continuation}: {tokens} tokens do not fit the model's window of {limit}")]
    ContextTooLong {
        /// Index of the item in the request slice.
        item: usize,
        /// Index of the continuation in the item.
        continuation: usize,
        /// Context plus continuation tokens.
        tokens: usize,
        /// Most tokens one sequence may hold.
        limit: usize,
    },
    /// The item has no continuations to score.
    #[error("item {item} has no continuations to score")]
    NoContinuations {
        /// Index of the item in the request slice.
        item: usize,
    },
    /// A continuation has no tokens of its own after tokenization.
    #[error("item {item}, continuation {continuation} has no tokens of its own")]
    EmptyContinuation {
        /// Index of the item in the request slice.
        item: usize,
        /// Index of the continuation in the item.
        continuation: usize,
    },
    /// The server answered with log-probabilities that cannot be read.
    #[error("item {item}: malformed log-probabilities: {reason}")]
    Malformed {
        /// Index of the item in the request slice.
        item: usize,
        /// What is wrong.
        reason: String,
    },
    /// The model failed (unreachable, refused, inference error).
    #[error("item {item}: {source}")]
    Model {
        /// Index of the item in the request slice.
        item: usize,
        /// The underlying failure.
        #[source]
        source: ModelError,
    },
}

/// A model that scores continuations by log-likelihood; its identity is its
/// [`ChatModel::identity`].
#[async_trait::async_trait]
pub trait LoglikModel: ChatModel {
    /// Scores every continuation of every request; one result per request,
    /// in order, with one score per continuation, in order. A request that
    /// fails does not fail the others. Backends batch within one call
    /// (local: items packed per decode; HTTP: requests in flight), so pass
    /// many items at once.
    async fn loglik(
        &self,
        requests: &[LoglikRequest],
    ) -> Vec<Result<Vec<ContinuationScore>, LoglikError>>;
}

/// lm-eval's `_encode_pair` rule: trailing whitespace of `context` moves to
/// the front of `continuation`, so that e.g. `"Answer: "` + `"A"` is scored
/// as `"Answer:"` + `" A"`, the way the text is tokenized when joined.
pub fn split_trailing_whitespace<'a>(context: &'a str, continuation: &str) -> (&'a str, String) {
    let trimmed = context.trim_end();
    let moved = &context[trimmed.len()..];
    (trimmed, format!("{moved}{continuation}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_whitespace_moves_to_the_continuation() {
        assert_eq!(
            split_trailing_whitespace("Answer: ", "A"),
            ("Answer:", " A".to_owned())
        );
        assert_eq!(
            split_trailing_whitespace("Answer:\n \t", "B"),
            ("Answer:", "\n \tB".to_owned())
        );
    }

    #[test]
    fn context_without_trailing_whitespace_is_kept() {
        assert_eq!(
            split_trailing_whitespace("Answer:", " C"),
            ("Answer:", " C".to_owned())
        );
        assert_eq!(split_trailing_whitespace("", "x"), ("", "x".to_owned()));
    }

    #[test]
    fn scores_round_trip_through_json() {
        let score = ContinuationScore {
            logprob: -1.25,
            tokens: 2,
            is_greedy: false,
        };
        let json = serde_json::to_string(&score).expect("json");
        assert_eq!(json, r#"{"logprob":-1.25,"tokens":2,"is_greedy":false}"#);
        let back: ContinuationScore = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, score);
    }
}
