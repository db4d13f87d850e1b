//! The trainer configuration: everything the runner script reads, typed and
//! pinned, and the digest `training.recorded` commits to.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::TrainError;

/// Version of [`TrainerConfig`]'s layout, read by the runner script.
pub const CONFIG_FORMAT: &str = "cts-train-config/1";

/// A training method, and the release export it trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Supervised fine-tuning on `sft/` (`messages`), TRL's `SFTTrainer`.
    Sft,
    /// Direct preference optimization on `dpo/` (`prompt`/`chosen`/`rejected`), `DPOTrainer`.
    Dpo,
    /// Kahneman–Tversky optimization on `kto/` (`prompt`/`completion`/`label`), `KTOTrainer`.
    Kto,
}

impl Method {
    /// The release folder of this method's export.
    pub fn export(self) -> &'static str {
        match self {
            Method::Sft => "sft",
            Method::Dpo => "dpo",
            Method::Kto => "kto",
        }
    }

    /// TRL's trainer class.
    pub fn trainer_class(self) -> &'static str {
        match self {
            Method::Sft => "SFTTrainer",
            Method::Dpo => "DPOTrainer",
            Method::Kto => "KTOTrainer",
        }
    }

    /// The columns the trainer reads (others, such as `id`, are dropped).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Method::Sft => &["messages"],
            Method::Dpo => &["prompt", "chosen", "rejected"],
            Method::Kto => &["prompt", "completion", "label"],
        }
    }

    /// Smallest per-device batch the trainer accepts (KTO refuses 1).
    pub fn min_batch(self) -> u32 {
        match self {
            Method::Kto => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.export())
    }
}

impl FromStr for Method {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sft" => Ok(Method::Sft),
            "dpo" => Ok(Method::Dpo),
            "kto" => Ok(Method::Kto),
            other => Err(TrainError::UnknownMethod {
                given: other.to_owned(),
            }),
        }
    }
}

/// LoRA adapter settings (PEFT).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank.
    pub r: u32,
    /// Scaling numerator.
    pub alpha: u32,
    /// Dropout on the adapter input.
    pub dropout: f64,
    /// Modules adapted.
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 8,
            alpha: 16,
            dropout: 0.05,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
        }
    }
}

/// The knobs a `--config` TOML file may set; every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hyperparameters {
    /// Optimizer steps (the run stops there even mid-epoch).
    pub max_steps: u32,
    /// Per-device batch size.
    pub batch_size: u32,
    /// Gradient accumulation steps.
    pub gradient_accumulation_steps: u32,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Longest tokenized example (longer ones are truncated).
    pub max_length: u32,
    /// Seed for data order, initialisation and dropout.
    pub seed: u64,
    /// DPO/KTO inverse temperature.
    pub beta: f64,
    /// LoRA adapters (unused with `full_fine_tune`).
    pub lora: LoraConfig,
    /// Train every weight instead of LoRA adapters.
    pub full_fine_tune: bool,
    /// GGUF tensor type of the converted model (llama.cpp converter's `--outtype`).
    pub gguf_outtype: String,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Self {
            max_steps: 20,
            batch_size: 1,
            gradient_accumulation_steps: 1,
            learning_rate: 1e-4,
            max_length: 512,
            seed: 42,
            beta: 0.1,
            lora: LoraConfig::default(),
            full_fine_tune: false,
            gguf_outtype: "q8_0".into(),
        }
    }
}

/// llama.cpp converter output types this build accepts.
const OUTTYPES: &[&str] = &["f32", "f16", "bf16", "q8_0"];

impl Hyperparameters {
    /// Parses a `--config` TOML file's text (`path` names it in errors).
    pub fn from_toml(text: &str, path: &str) -> Result<Self, TrainError> {
        toml::from_str(text).map_err(|e| TrainError::BadConfig {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Checks ranges, including the method's smallest batch.
    pub fn validate(&self, method: Method) -> Result<(), TrainError> {
        let bad = |field, reason: String| Err(TrainError::Invalid { field, reason });
        if self.max_steps == 0 {
            return bad("max_steps", "must be at least 1".into());
        }
        if self.batch_size < method.min_batch() {
            return bad(
                "batch_size",
                format!(
                    "{} is below {}'s smallest batch, {}",
                    self.batch_size,
                    method.trainer_class(),
                    method.min_batch()
                ),
            );
        }
        if self.gradient_accumulation_steps == 0 {
            return bad("gradient_accumulation_steps", "must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(
                "learning_rate",
                format!("{} is not positive", self.learning_rate),
            );
        }
        if self.max_length < 16 {
            return bad(
                "max_length",
                format!("{} is below 16 tokens", self.max_length),
            );
        }
        if !self.full_fine_tune && (self.lora.r == 0 || self.lora.target_modules.is_empty()) {
            return bad("lora", "needs r ≥ 1 and at least one target module".into());
        }
        if !OUTTYPES.contains(&self.gguf_outtype.as_str()) {
            return bad(
                "gguf_outtype",
                format!("{:?} is not one of {OUTTYPES:?}", self.gguf_outtype),
            );
        }
        Ok(())
    }
}

/// A file with its SHA-256 (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestedFile {
    /// Path as the runner opens it.
    pub path: String,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The complete configuration of one training run; the runner script reads
/// only this, so its digest pins the run (with the pinned environment).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerConfig {
    /// [`CONFIG_FORMAT`].
    pub format: String,
    /// The method.
    pub method: Method,
    /// The release: its build id.
    pub release_build: String,
    /// SHA-256 of the release's manifest.json.
    pub release_manifest_sha256: String,
    /// The training split of the method's export.
    pub train_file: DigestedFile,
    /// The base model (a GGUF file).
    pub base_model: DigestedFile,
    /// Knobs.
    pub hyperparameters: Hyperparameters,
    /// The pinned Python packages (`name==version`), see [`crate::env`].
    pub packages: Vec<String>,
    /// Where the runner writes its work and results.
    pub output_dir: String,
    /// The llama.cpp converter script.
    pub converter: String,
}

impl TrainerConfig {
    /// The bytes written to `trainer-config.json` and committed to by the ledger event.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct serializes its fields in declaration order: stable bytes.
        let mut b = serde_json::to_vec_pretty(self).unwrap_or_default();
        b.push(b'\n');
        b
    }

    /// SHA-256 of [`Self::to_bytes`], hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_method_is_named() {
        let e = "ppo".parse::<Method>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown training method \"ppo\": use sft, dpo or kto"
        );
    }

    #[test]
    fn kto_refuses_a_batch_of_one() {
        let h = Hyperparameters::default();
        assert!(h.validate(Method::Sft).is_ok());
        let e = h.validate(Method::Kto).unwrap_err().to_string();
        assert!(e.contains("batch_size") && e.contains("KTOTrainer"), "{e}");
    }

    #[test]
    fn config_file_overrides_only_what_it_names() {
        let h = Hyperparameters::from_toml("max_steps = 2\nmax_length = 64\n", "c.toml").unwrap();
        assert_eq!(h.max_steps, 2);
        assert_eq!(h.max_length, 64);
        assert_eq!(h.lora, LoraConfig::default());
        assert!(!h.full_fine_tune);
    }

    #[test]
    fn config_file_with_an_unknown_key_is_refused_by_name() {
        let e = Hyperparameters::from_toml("max_stepz = 2\n", "c.toml").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("c.toml:") && s.contains("max_stepz"), "{s}");
    }

    #[test]
    fn lora_settings_and_full_fine_tuning_round_trip() {
        let h = Hyperparameters::from_toml(
            "[lora]\nr = 4\nalpha = 8\ndropout = 0.0\ntarget_modules = [\"q_proj\"]\n",
            "c",
        )
        .unwrap();
        assert_eq!(h.lora.r, 4);
        let full = Hyperparameters::from_toml("full_fine_tune = true\n", "c").unwrap();
        assert!(full.full_fine_tune && full.validate(Method::Dpo).is_ok());
        let back: Hyperparameters =
            serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn digest_changes_with_any_knob() {
        let c = TrainerConfig {
            format: CONFIG_FORMAT.into(),
            method: Method::Sft,
            release_build: "b".into(),
            release_manifest_sha256: "m".into(),
            train_file: DigestedFile {
                path: "t".into(),
                sha256: "s".into(),
            },
            base_model: DigestedFile {
                path: "g".into(),
                sha256: "h".into(),
            },
            hyperparameters: Hyperparameters::default(),
            packages: vec![],
            output_dir: "o".into(),
            converter: "c".into(),
        };
        let mut d = c.clone();
        d.hyperparameters.seed = 7;
        assert_ne!(c.digest(), d.digest());
        assert_eq!(c.digest(), c.clone().digest());
        let back: TrainerConfig = serde_json::from_slice(&c.to_bytes()).unwrap();
        assert_eq!(back, c);
    }
}
