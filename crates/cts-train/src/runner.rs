//! The Python runner script CTS writes beside `trainer-config.json`. It is
//! fixed text: everything run-specific is in the config, so the config's
//! digest plus this script's digest pin what ran.

use sha2::{Digest, Sha256};

/// The runner (`python runner.py trainer-config.json`).
pub const RUNNER_PY: &str = include_str!("runner.py");

/// The file name CTS writes the runner to.
pub const RUNNER_FILE: &str = "runner.py";

/// The file name CTS writes the config to.
pub const CONFIG_FILE: &str = "trainer-config.json";

/// SHA-256 of the runner script, hex.
pub fn runner_sha256() -> String {
    hex::encode(Sha256::digest(RUNNER_PY.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_reads_the_config_format_it_is_given() {
        assert!(RUNNER_PY.contains(crate::config::CONFIG_FORMAT));
        for class in ["SFTTrainer", "DPOTrainer", "KTOTrainer"] {
            assert!(RUNNER_PY.contains(class), "{class}");
        }
    }
}
