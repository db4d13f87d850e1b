//! The trace document: everything one generated trace records — the case and
//! prompt template it came from, the chat sent, the model and parameters, the
//! raw output, its segmentation and the answer read from it. Generation writes
//! it, and the store, the workbench, dataset releases and the CLI read it,
//! only through [`TraceDocument`]. Its bytes are committed to in the log, so
//! they must not change for a document that exists.
//!
//! Not here: the trace row and its event (`cts-store::traces`).

use serde::{Deserialize, Serialize};

use crate::chat::{ChatMessage, GenerationParams, ModelIdentity, Usage};
use crate::segment::{Segmentation, Step, StepKind};

/// The document version this crate writes. Version 1 documents carry no `v`
/// member (every document written so far); a later version will.
pub const VERSION: u32 = 1;

/// One generated trace, as stored (content-committed) in the log.
///
/// Write it with [`TraceDocument::to_json`], not `serde_json::to_vec`: the
/// stored form has every object's keys in sorted order and `f32` parameters
/// widened to `f64`, as the document has been written since version 1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceDocument {
    /// Document version; absent in version 1 documents.
    #[serde(default = "version_1", skip_serializing_if = "is_version_1")]
    pub v: u32,
    /// The trace id (`case@vN/run/sK`).
    pub trace_id: String,
    /// The case the trace answers.
    pub case: CaseRef,
    /// The prompt template that rendered the chat.
    pub template: TemplateRef,
    /// The chat sent to the model.
    pub prompt: Vec<ChatMessage>,
    /// The model that answered.
    pub model: ModelIdentity,
    /// The sampling parameters.
    pub params: GenerationParams,
    /// The text that was segmented (reasoning in `<think>` when the server
    /// returned it separately, then the content).
    pub raw_output: String,
    /// The raw output split into steps and an answer.
    pub segmentation: Segmentation,
    /// The option letter read from the answer, if any.
    pub answer_choice: Option<char>,
    /// The case's reference answer, if it has one.
    pub reference_answer: Option<String>,
    /// Why generation stopped (`stop`, `length`, …).
    pub finish_reason: String,
    /// Tokens and timings.
    pub usage: Usage,
}

/// Which case (and version) a trace answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRef {
    /// Case id.
    pub id: String,
    /// Case version.
    pub version: i64,
}

/// Which prompt template rendered the chat.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    /// Template label (`name@version`).
    pub label: String,
    /// SHA-256 (hex) of the template's canonical text.
    pub sha256: String,
}

fn version_1() -> u32 {
    1
}

fn is_version_1(v: &u32) -> bool {
    *v == 1
}

impl TraceDocument {
    /// The stored bytes: compact JSON, keys sorted at every level.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        // Through a `Value`, whose maps sort their keys: the form the
        // document has had since it was first written as a `json!` literal.
        serde_json::to_vec(&serde_json::to_value(self)?)
    }

    /// Reads stored bytes; a version this crate does not know is an error.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let doc: Self = serde_json::from_slice(bytes)?;
        if doc.v != VERSION {
            return Err(serde::de::Error::custom(format!(
                "trace document version {} is not supported (this build reads version {VERSION})",
                doc.v
            )));
        }
        Ok(doc)
    }

    /// The model's step texts, in order (what review origins index).
    pub fn step_texts(&self) -> Vec<String> {
        self.segmentation
            .steps
            .iter()
            .map(|s| s.text.clone())
            .collect()
    }

    /// The model's final answer text, if it gave one.
    pub fn answer_text(&self) -> Option<&str> {
        self.segmentation.answer.as_ref().map(|(a, _)| a.as_str())
    }

    /// A document with the given chat, steps and answer and nothing else, for
    /// seeding tests and benchmarks: there is no raw output, so every span is
    /// empty.
    pub fn synthetic(
        trace_id: &str,
        prompt: Vec<ChatMessage>,
        steps: &[impl AsRef<str>],
        answer: Option<&str>,
    ) -> Self {
        Self {
            v: VERSION,
            trace_id: trace_id.to_owned(),
            prompt,
            segmentation: Segmentation {
                reasoning_span: 0..0,
                answer: answer.map(|a| (a.to_owned(), 0..0)),
                steps: steps
                    .iter()
                    .enumerate()
                    .map(|(index, text)| Step {
                        index,
                        text: text.as_ref().to_owned(),
                        span: 0..0,
                        kind: StepKind::Paragraph,
                    })
                    .collect(),
                boundary: Default::default(),
            },
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents written by generation before the type existed (by `cts
    /// generate` with the default local model).
    const STORED: [&str; 2] = [
        include_str!("../testdata/trace-v1-steps.json"),
        include_str!("../testdata/trace-v1-answer.json"),
    ];

    #[test]
    fn stored_documents_serialize_to_their_exact_bytes() {
        for stored in STORED {
            let doc = TraceDocument::from_json(stored.as_bytes()).unwrap();
            assert_eq!(doc.v, 1);
            assert_eq!(
                String::from_utf8(doc.to_json().unwrap()).unwrap(),
                stored.trim_end()
            );
        }
    }

    #[test]
    fn stored_documents_read_as_generation_wrote_them() {
        let doc = TraceDocument::from_json(STORED[1].as_bytes()).unwrap();
        assert_eq!(doc.case.id, "synthetic-medsafe-002");
        assert_eq!(doc.answer_choice, Some('C'));
        assert_eq!(doc.params.temperature, 0.7);
        assert_eq!(doc.prompt[0].role, crate::chat::Role::System);
        assert!(doc.step_texts().is_empty());
        assert!(doc.answer_text().unwrap().starts_with("C. "));
    }

    #[test]
    fn version_1_documents_have_no_version_member() {
        let doc = TraceDocument::synthetic("t", Vec::new(), &["a"], Some("B"));
        let json: serde_json::Value = serde_json::from_slice(&doc.to_json().unwrap()).unwrap();
        assert!(json.get("v").is_none());
        assert_eq!(
            TraceDocument::from_json(&doc.to_json().unwrap()).unwrap(),
            doc
        );
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let mut doc = TraceDocument::synthetic("t", Vec::new(), &["a"], None);
        doc.v = 2;
        let err = TraceDocument::from_json(&doc.to_json().unwrap()).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }
}
