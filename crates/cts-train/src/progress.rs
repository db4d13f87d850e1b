//! The runner's progress protocol: one JSON object per stdout line, tagged
//! by `event`. Anything else on stdout (a library's print) is not progress.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A line the runner prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ProgressEvent {
    /// A stage started (`load`, `dequantize`, `train`, `merge`, `convert`).
    Stage {
        /// Stage name.
        name: String,
    },
    /// The trainer logged (every optimizer step).
    Log {
        /// Optimizer steps done.
        step: u64,
        /// Steps the run will take.
        max_steps: u64,
        /// Training loss of the logged step, when the trainer gave one.
        loss: Option<f64>,
        /// Input tokens the trainer has seen so far.
        tokens: Option<u64>,
    },
    /// Training finished: the trainer's own measurements.
    Trained {
        /// Trainer-measured training seconds.
        train_runtime: f64,
        /// Trainer-measured optimizer steps per second.
        steps_per_second: f64,
        /// Trainer-measured samples per second.
        samples_per_second: f64,
        /// Input tokens seen (the trainer's count).
        tokens: u64,
        /// Last logged loss.
        loss: Option<f64>,
    },
    /// Everything written; the runner exits 0 right after.
    Done {
        /// The converted GGUF.
        gguf: String,
        /// The merged Hugging Face weights folder.
        hf_dir: String,
        /// Installed versions of the libraries that trained (name → version).
        versions: BTreeMap<String, String>,
    },
}

/// Parses one stdout line; `None` for lines that are not progress events.
pub fn parse_line(line: &str) -> Option<ProgressEvent> {
    let t = line.trim();
    if !t.starts_with('{') {
        return None;
    }
    serde_json::from_str(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_line_parses() {
        let e = parse_line(r#"{"event":"log","step":1,"max_steps":2,"loss":2.5,"tokens":310}"#);
        assert_eq!(
            e,
            Some(ProgressEvent::Log {
                step: 1,
                max_steps: 2,
                loss: Some(2.5),
                tokens: Some(310)
            })
        );
    }

    #[test]
    fn library_noise_is_not_progress() {
        assert_eq!(parse_line("Converting tensors: 100%"), None);
        assert_eq!(parse_line(r#"{"not": "an event"}"#), None);
        assert_eq!(parse_line(r#"{"event":"log","step":"x"}"#), None);
    }

    #[test]
    fn done_round_trips() {
        let e = ProgressEvent::Done {
            gguf: "o/model.gguf".into(),
            hf_dir: "o/hf".into(),
            versions: [("trl".to_owned(), "1.16.0".to_owned())].into(),
        };
        assert_eq!(parse_line(&serde_json::to_string(&e).unwrap()), Some(e));
    }
}
