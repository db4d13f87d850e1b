//! Asking a model for a structured answer (a judge's verdict, a grader's
//! grade) and asking again when the reply does not parse.

use cts_model::{ChatMessage, ChatModel, GenerationParams, ModelError, Role};

/// What came of asking: the parsed answer (or the last parse error) and every reply.
#[derive(Debug, Clone)]
pub struct Asked<T> {
    /// The answer, or why the last reply did not parse.
    pub parsed: Result<T, String>,
    /// Every reply, in order (the parsed one last).
    pub replies: Vec<String>,
}

impl<T> Asked<T> {
    /// Re-asks made (replies − 1).
    pub fn retries(&self) -> u32 {
        self.replies.len().saturating_sub(1) as u32
    }
}

/// Sends `prompt` to `model`; while `parse` rejects the reply and fewer
/// than `max_retries` re-asks were made, appends the reply and `reask(error)`
/// to the conversation and asks again. A model failure is an error; a reply
/// still unparsed after the retries is `Ok` with `parsed: Err(…)`.
pub async fn ask_until_parsed<T>(
    model: &dyn ChatModel,
    prompt: String,
    params: &GenerationParams,
    max_retries: u32,
    parse: impl Fn(&str) -> Result<T, String>,
    reask: impl Fn(&str) -> String,
) -> Result<Asked<T>, ModelError> {
    let mut messages = vec![ChatMessage::new(Role::User, prompt)];
    let mut replies = Vec::new();
    loop {
        let text = model.complete(&messages, params, &|_| {}).await?.content;
        replies.push(text.clone());
        match parse(&text) {
            Ok(v) => {
                return Ok(Asked {
                    parsed: Ok(v),
                    replies,
                })
            }
            Err(e) if replies.len() > max_retries as usize => {
                return Ok(Asked {
                    parsed: Err(e),
                    replies,
                })
            }
            Err(e) => {
                messages.push(ChatMessage::new(Role::Assistant, text));
                messages.push(ChatMessage::new(Role::User, reask(&e)));
            }
        }
    }
}
