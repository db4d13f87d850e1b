//! A CTS project folder: `cts.toml`, the SQLite database and the log's keys.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cts_ledger::{LogSigner, LogVerifier};
use serde::{Deserialize, Serialize};

/// Name of the configuration file that marks a project folder.
pub const CONFIG_FILE: &str = "cts.toml";

/// `cts.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The transparency log.
    pub log: LogConfig,
    /// The embedded database.
    pub database: DatabaseConfig,
    /// The model traces are generated with.
    #[serde(default)]
    pub model: ModelConfig,
    /// Clinician review.
    #[serde(default)]
    pub review: ReviewSection,
    /// The review workbench server.
    #[serde(default)]
    pub serve: ServeSection,
    /// Benchmark evaluation (`cts eval`).
    #[serde(default)]
    pub eval: EvalSection,
    /// Witnesses every signed checkpoint is submitted to (`[[witness]]` tables).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witness: Vec<WitnessPeer>,
}

/// `[eval]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Where `cts eval run --benchmark NAME` (no `=PATH`) finds the public
    /// benchmarks: `<data_dir>/pubmedqa`, `<data_dir>/mmlu-medical`.
    /// Default: `$CTS_BENCH_DATA`, else `../shared/data` from the project's
    /// parent folder or the current folder, where it exists.
    pub data_dir: Option<PathBuf>,
}

/// One `[[witness]]` table: a C2SP tlog-witness to collect cosignatures from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessPeer {
    /// Submission prefix (`/add-checkpoint` is appended), e.g. `http://127.0.0.1:7380`.
    pub url: String,
    /// The witness's verifier key: the key text, or a file relative to the project.
    pub key: String,
}

/// `[review]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewSection {
    /// `default` (the built-in medication-safety rubric) or a path to a rubric TOML file.
    pub rubric: String,
    /// Clinicians who review each trace (k).
    pub reviewers_per_trace: u32,
    /// How long claiming a trace holds it, minutes.
    pub lease_minutes: u32,
    /// A trace rating difference at least this large sends the trace to adjudication.
    pub rating_gap: u8,
    /// Whether step labels of opposite sign send the trace to adjudication.
    pub step_sign: bool,
}

impl Default for ReviewSection {
    fn default() -> Self {
        Self {
            rubric: "default".into(),
            reviewers_per_trace: 2,
            lease_minutes: 30,
            rating_gap: 2,
            step_sign: true,
        }
    }
}

/// `[serve]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    /// Address to listen on (loopback by default).
    pub listen: String,
    /// Session lifetime, hours.
    pub session_hours: u32,
    /// Sign-in attempts per client address per minute.
    pub login_attempts_per_minute: u32,
    /// Sign a checkpoint this often while the log grows, seconds.
    pub checkpoint_seconds: u64,
}

impl Default for ServeSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            session_hours: 12,
            login_attempts_per_minute: 10,
            checkpoint_seconds: 30,
        }
    }
}

/// `[model]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `default` (the built-in SmolLM2-135M-Instruct, fetched on first use),
    /// a path to a `.gguf` file, or the base URL of an OpenAI-compatible server.
    pub source: String,
    /// Model name to request from an HTTP server.
    pub http_model: String,
    /// Name of the environment variable holding the HTTP API key (the key is never stored).
    pub api_key_env: Option<String>,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus sampling mass.
    pub top_p: f32,
    /// Seed (sample k uses seed + k).
    pub seed: u64,
    /// Most tokens per trace.
    pub max_tokens: u32,
    /// Per-request timeout for HTTP servers, seconds.
    pub timeout_s: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            source: "default".into(),
            http_model: "default".into(),
            api_key_env: None,
            temperature: 0.7,
            top_p: 0.95,
            seed: 42,
            max_tokens: 384,
            timeout_s: 120,
        }
    }
}

/// `[log]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The log's name: first line of every checkpoint and the key name.
    pub origin: String,
    /// Private signing key, relative to the project (mode 0600).
    pub signing_key: PathBuf,
    /// Public verifier key, relative to the project.
    pub verifier_key: PathBuf,
    /// Who the CLI records as the actor of its events (`cli:<operator>`);
    /// default: the operating-system user running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Fewest `[[witness]]` cosignatures a checkpoint must get for the
    /// command that signs it to succeed; default 0: a witness that fails is
    /// a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_quorum: Option<usize>,
}

/// `[database]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// SQLite file, relative to the project.
    pub path: PathBuf,
}

/// An opened project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project folder.
    pub dir: PathBuf,
    /// Its configuration.
    pub config: Config,
}

fn default_origin(dir: &Path) -> String {
    let name: String = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("project")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let tag: u32 = rand::random();
    format!("cts.local/{name}-{tag:08x}")
}

impl Project {
    /// Creates a project in `dir` (which may exist but must not hold a project).
    pub fn init(dir: &Path, origin: Option<&str>) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        let config_path = dir.join(CONFIG_FILE);
        if config_path.exists() {
            bail!(
                "{} already exists: {} is already a CTS project",
                config_path.display(),
                dir.display()
            );
        }
        let origin = origin.map_or_else(|| default_origin(&dir), str::to_owned);
        let (skey, vkey) = LogSigner::generate(&origin)?;
        let config = Config {
            log: LogConfig {
                origin: origin.clone(),
                signing_key: PathBuf::from("keys/log.key"),
                verifier_key: PathBuf::from("keys/log.pub"),
                operator: None,
                witness_quorum: None,
            },
            database: DatabaseConfig {
                path: PathBuf::from("cts.db"),
            },
            model: ModelConfig::default(),
            review: ReviewSection::default(),
            serve: ServeSection::default(),
            eval: EvalSection::default(),
            witness: Vec::new(),
        };
        fs::create_dir_all(dir.join("keys"))?;
        fs::set_permissions(dir.join("keys"), fs::Permissions::from_mode(0o700))?;
        let mut key = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(&config.log.signing_key))
            .context("creating the signing key file")?;
        key.write_all(format!("{skey}\n").as_bytes())?;
        key.sync_all()?;
        fs::write(dir.join(&config.log.verifier_key), format!("{vkey}\n"))?;
        let text = format!(
            "# CTS project configuration. See `cts --help` and README.md.\n{}",
            toml::to_string_pretty(&config)?
        );
        fs::write(&config_path, text)?;
        Ok(Self { dir, config })
    }

    /// Finds the project: `--project DIR`, or the nearest folder above the
    /// current one that holds `cts.toml`.
    pub fn find(explicit: Option<&Path>) -> Result<Self> {
        let dir = match explicit {
            Some(d) => d.to_path_buf(),
            None => {
                let cwd = std::env::current_dir()?;
                cwd.ancestors()
                    .find(|d| d.join(CONFIG_FILE).is_file())
                    .map(Path::to_path_buf)
                    .with_context(|| {
                        format!("no {CONFIG_FILE} in {} or any folder above it; run `cts init` or pass --project DIR", cwd.display())
                    })?
            }
        };
        let path = dir.join(CONFIG_FILE);
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let config: Config = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].lines().count().max(1));
            anyhow::anyhow!(
                "{}:{}: {}",
                path.display(),
                line.map_or("?".into(), |l| l.to_string()),
                e.message()
            )
        })?;
        Ok(Self { dir, config })
    }

    /// Path of the database file.
    pub fn database_path(&self) -> PathBuf {
        self.dir.join(&self.config.database.path)
    }

    /// Review settings with the rubric loaded and validated.
    pub fn review_config(&self) -> Result<cts_store::review::ReviewConfig> {
        let r = &self.config.review;
        let (rubric, source) = if r.rubric == "default" {
            (
                cts_review::Rubric::default_medication_safety(),
                cts_review::rubric::DEFAULT_MEDICATION_SAFETY.to_owned(),
            )
        } else {
            let path = self.dir.join(&r.rubric);
            let text = fs::read_to_string(&path)
                .with_context(|| format!("reading the rubric {}", path.display()))?;
            (
                cts_review::Rubric::parse(&text, &path.display().to_string())?,
                text,
            )
        };
        if !(1..=10).contains(&r.reviewers_per_trace) {
            bail!("cts.toml: review.reviewers_per_trace must be 1 to 10");
        }
        if r.lease_minutes == 0 {
            bail!("cts.toml: review.lease_minutes must be at least 1");
        }
        Ok(cts_store::review::ReviewConfig {
            rubric,
            rubric_source: source,
            reviewers_per_trace: r.reviewers_per_trace,
            lease_seconds: i64::from(r.lease_minutes) * 60,
            policy: cts_review::disagreement::Policy {
                rating_gap: r.rating_gap.max(1),
                step_sign: r.step_sign,
            },
        })
    }

    /// The log's signing key.
    pub fn signer(&self) -> Result<Arc<LogSigner>> {
        let path = self.dir.join(&self.config.log.signing_key);
        let meta = fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); run `chmod 600` on it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let signer = LogSigner::from_private_key(&text)
            .with_context(|| format!("{}: not a signing key", path.display()))?;
        if signer.origin() != self.config.log.origin {
            bail!(
                "{} signs for {:?} but cts.toml names the log {:?}",
                path.display(),
                signer.origin(),
                self.config.log.origin
            );
        }
        Ok(Arc::new(signer))
    }

    /// Opens the project's ledger, refusing a database that is behind or
    /// inconsistent with the signed checkpoint kept beside it. Every
    /// checkpoint it signs collects cosignatures from the `[[witness]]`es.
    pub async fn open_store(&self) -> Result<cts_store::Store> {
        self.open_store_to(cts_store::Schema::Current).await
    }

    /// [`Project::open_store`] with the schema brought only as far as
    /// `schema` allows (`cts user rename` clears usernames that differ only
    /// in case before the migration that forbids them).
    pub async fn open_store_to(&self, schema: cts_store::Schema) -> Result<cts_store::Store> {
        let store = cts_store::Store::open_to(&self.database_path(), schema).await?;
        store
            .ledger()
            .check_anchor(&self.verifier()?)
            .await
            .with_context(|| {
                format!(
                    "refusing to use {} (`cts ledger verify` names what differs)",
                    self.database_path().display()
                )
            })?;
        crate::cmd::witness::install(self, &store);
        Ok(store)
    }

    /// The actor the CLI records: `cli:<operator>` from `[log] operator`,
    /// else the operating-system user. Never taken from event input.
    pub fn actor(&self) -> String {
        match &self.config.log.operator {
            Some(name) if !name.trim().is_empty() => format!("cli:{}", name.trim()),
            _ => crate::cmd::cli_actor(),
        }
    }

    /// The log's verifier key.
    pub fn verifier(&self) -> Result<LogVerifier> {
        let path = self.dir.join(&self.config.log.verifier_key);
        read_verifier(&path)
    }
}

/// Reads a verifier key from a file, or takes the argument as the key text itself.
pub fn read_verifier(arg: &Path) -> Result<LogVerifier> {
    let text = match fs::read_to_string(arg) {
        Ok(t) => t,
        Err(_) if arg.to_string_lossy().contains('+') => arg.to_string_lossy().into_owned(),
        Err(e) => return Err(e).with_context(|| format!("reading verifier key {}", arg.display())),
    };
    LogVerifier::new(&text).with_context(|| format!("{}: not a verifier key", arg.display()))
}
