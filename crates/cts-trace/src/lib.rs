//! Pure functions over model reasoning traces: split a raw completion into
//! reasoning steps and a final answer, read an option letter from the answer,
//! and render the versioned prompt that asked for the trace; and the trace
//! document that records it all (`document`), with the chat types it holds
//! (`chat`).
//!
//! Nothing here touches a model, a file or a database; every function maps
//! strings to plain data and is safe on arbitrary input. This crate does not
//! depend on `cts-cases`: callers pass the question and options as plain text.

pub mod answer;
pub mod chat;
pub mod document;
pub mod prompt;
pub mod segment;

pub use answer::answer_choice;
pub use document::TraceDocument;
pub use prompt::{PromptError, PromptTemplate, RenderedPrompt, STEPWISE};
pub use segment::{segment, Boundary, Segmentation, Step, StepKind};
