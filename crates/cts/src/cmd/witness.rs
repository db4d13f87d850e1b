//! `cts witness …`: run a C2SP tlog-witness for other CTS logs; and the
//! witness parts of every signing path (collect cosignatures from the
//! `[[witness]]`es of `cts.toml`: [`install`] for all, strictly for
//! `cts ledger checkpoint`) and of `cts verify --witness` (require them).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cts_ledger::{LogVerifier, TreeSize};
use cts_store::{Ledger, Store, StoredCheckpoint};
use cts_witness::client::{submit, WitnessEndpoint};
use cts_witness::state::StateDir;
use cts_witness::{
    add_signature_lines, open_cosigned, CosignatureVerifier, CosignedCheckpoint, Cosigner, Witness,
    WitnessPolicy,
};
use serde::{Deserialize, Serialize};

use crate::output::Output;
use crate::project::{read_verifier, Project};

/// The configuration file of a witness folder.
pub const WITNESS_CONFIG: &str = "witness.toml";

/// `cts witness` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum WitnessCommand {
    /// Create a witness folder: its Ed25519 cosigning key (mode 0600), verifier key, witness.toml and state/.
    Init {
        /// The folder to create.
        dir: PathBuf,
        /// The witness's name (the key name in its cosignature lines), e.g. witness.example.org/w1.
        #[arg(long)]
        name: String,
    },
    /// Run the witness: POST /add-checkpoint (C2SP tlog-witness) for the logs it follows.
    Serve {
        /// The witness folder (from `cts witness init`).
        #[arg(long)]
        dir: PathBuf,
        /// Address to listen on (port 0 picks a free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: String,
        /// A log to follow, by its verifier key (file or key text; its name is the origin).
        /// Adds to the `logs` of witness.toml. Repeatable.
        #[arg(long = "log", value_name = "VKEY")]
        logs: Vec<PathBuf>,
    },
}

/// `witness.toml`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessConfig {
    /// The witness's name.
    name: String,
    /// Private cosigning key, relative to the folder (mode 0600).
    signing_key: PathBuf,
    /// Public verifier key, relative to the folder.
    verifier_key: PathBuf,
    /// Per-log state files, relative to the folder.
    state: PathBuf,
    /// Verifier keys of the logs followed: key text, or files relative to the folder.
    #[serde(default)]
    logs: Vec<String>,
}

/// Runs a witness subcommand.
pub async fn run(cmd: WitnessCommand, out: &Output) -> Result<ExitCode> {
    match cmd {
        WitnessCommand::Init { dir, name } => init(&dir, &name, out),
        WitnessCommand::Serve { dir, listen, logs } => serve(&dir, &listen, &logs, out).await,
    }
}

fn init(dir: &Path, name: &str, out: &Output) -> Result<ExitCode> {
    let config_path = dir.join(WITNESS_CONFIG);
    if config_path.exists() {
        bail!(
            "{} already exists: {} is already a witness folder",
            config_path.display(),
            dir.display()
        );
    }
    let (skey, vkey) = Cosigner::generate(name)?;
    fs::create_dir_all(dir.join("state")).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let config = WitnessConfig {
        name: name.to_owned(),
        signing_key: "witness.key".into(),
        verifier_key: "witness.pub".into(),
        state: "state".into(),
        logs: Vec::new(),
    };
    let key_path = dir.join(&config.signing_key);
    let mut key = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("creating {}", key_path.display()))?;
    key.write_all(format!("{skey}\n").as_bytes())?;
    key.sync_all()?;
    fs::write(dir.join(&config.verifier_key), format!("{vkey}\n"))?;
    let text = format!(
        "# CTS witness (C2SP tlog-witness). `logs`: verifier keys of the logs it\n# follows, as key text or files relative to this folder.\n{}",
        toml::to_string_pretty(&config)?
    );
    fs::write(&config_path, text)?;
    out.emit(&serde_json::json!({ "dir": dir, "name": name, "vkey": vkey }), || {
        format!(
            "witness {name} created in {}\nverifier key ({}): {vkey}\nadd logs to {} or pass --log VKEY to `cts witness serve`\n",
            dir.display(),
            dir.join("witness.pub").display(),
            config_path.display()
        )
    });
    Ok(ExitCode::SUCCESS)
}

fn read_cosigner(path: &Path) -> Result<Cosigner> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:o}); run `chmod 600` on it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Cosigner::from_private_key(&text)
        .with_context(|| format!("{}: not a witness key", path.display()))
}

async fn serve(dir: &Path, listen: &str, extra: &[PathBuf], out: &Output) -> Result<ExitCode> {
    let config_path = dir.join(WITNESS_CONFIG);
    let text = fs::read_to_string(&config_path).with_context(|| {
        format!(
            "reading {} (run `cts witness init` first)",
            config_path.display()
        )
    })?;
    let config: WitnessConfig = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].lines().count().max(1));
        anyhow::anyhow!(
            "{}:{}: {}",
            config_path.display(),
            line.map_or("?".into(), |l| l.to_string()),
            e.message()
        )
    })?;
    let cosigner = read_cosigner(&dir.join(&config.signing_key))?;
    if cosigner.name() != config.name {
        bail!(
            "{} is the key of {:?} but {} names the witness {:?}",
            config.signing_key.display(),
            cosigner.name(),
            config_path.display(),
            config.name
        );
    }
    let mut logs: Vec<LogVerifier> = Vec::new();
    for (i, key) in config.logs.iter().enumerate() {
        let v = LogVerifier::new(key)
            .or_else(|_| read_verifier(&dir.join(key)))
            .with_context(|| format!("{}: logs[{i}]", config_path.display()))?;
        logs.push(v);
    }
    for key in extra {
        logs.push(read_verifier(key).with_context(|| format!("--log {}", key.display()))?);
    }
    if logs.is_empty() {
        bail!(
            "the witness follows no log: list verifier keys in {} or pass --log VKEY",
            config_path.display()
        );
    }
    let origins: Vec<String> = logs.iter().map(|l| l.origin().to_owned()).collect();
    let vkey = cosigner.verifier_key();
    let name = cosigner.name().to_owned();
    let witness = Witness::new(cosigner, logs)?;
    let state = StateDir::open(&dir.join(&config.state))?;
    let app = Arc::new(cts_witness::server::AppState::new(witness, state));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    out.emit(
        &serde_json::json!({ "listen": format!("http://{addr}"), "name": name, "vkey": vkey, "logs": origins }),
        || format!("witness {name} listening on http://{addr}\nvkey {vkey}\nlogs: {}\n", origins.join(", ")),
    );
    let _ = std::io::stdout().flush();
    axum::serve(listener, cts_witness::server::router(app))
        .with_graceful_shutdown(crate::cmd::shutdown_signal())
        .await
        .context("witness server")?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a witness verifier key: the key text, or a file (relative to `base`).
fn read_witness_key(key: &str, base: &Path) -> Result<CosignatureVerifier> {
    if let Ok(v) = CosignatureVerifier::new(key) {
        return Ok(v);
    }
    let path = base.join(key);
    let text = fs::read_to_string(&path)
        .with_context(|| format!("reading witness key {}", path.display()))?;
    CosignatureVerifier::new(&text)
        .with_context(|| format!("{}: not a witness verifier key", path.display()))
}

/// How many earlier checkpoints are searched for this witness's last cosignature.
const HINT_SCAN: usize = 64;

/// What submitting a checkpoint to the `[[witness]]`es gave.
struct Collected {
    /// The checkpoint as stored, with every cosignature that came back.
    cp: StoredCheckpoint,
    /// Witnesses whose valid cosignature the note now carries.
    cosigned: usize,
    /// One line per witness that failed.
    failures: Vec<String>,
}

/// Submits `cp` to every `[[witness]]` of cts.toml (with `again` false,
/// only those whose cosignature its note does not carry yet) and stores the
/// cosignatures that came back in its note (and in the checkpoint file
/// beside the database).
async fn collect(
    project: &Project,
    ledger: &Ledger,
    cp: StoredCheckpoint,
    again: bool,
) -> Result<Collected> {
    let log = project.verifier()?;
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut earlier = None;
    let mut note = cp.note.clone();
    let mut failures = Vec::new();
    let mut cosigned = 0;
    for (i, peer) in project.config.witness.iter().enumerate() {
        let key = read_witness_key(&peer.key, &project.dir)
            .with_context(|| format!("cts.toml: witness[{i}].key"))?;
        let has = |note: &[u8]| {
            open_cosigned(note, &log, std::slice::from_ref(&key))
                .is_ok_and(|o| !o.cosignatures.is_empty())
        };
        let had = has(&note);
        if !again && had {
            cosigned += 1; // e.g. a checkpoint re-signed at an unchanged size
            continue;
        }
        if earlier.is_none() {
            earlier = Some(ledger.checkpoints().await?);
        }
        // Start from the last checkpoint this witness cosigned; a 409 corrects a wrong guess.
        let hint = earlier
            .iter()
            .flatten()
            .rev()
            .filter(|e| e.id != cp.id && e.size <= cp.size)
            .take(HINT_SCAN)
            .find(|e| has(&e.note))
            .map_or(TreeSize(0), |e| e.size);
        let endpoint = WitnessEndpoint {
            url: peer.url.clone(),
            key,
        };
        let size = cp.size;
        let result = submit(&http, &endpoint, &cp.note, size, hint, |from| {
            let ledger = ledger.clone();
            async move { ledger.consistency_proof(from, size).await }
        })
        .await;
        match result
            .map_err(anyhow::Error::from)
            .and_then(|lines| add_signature_lines(&note, &lines).map_err(anyhow::Error::from))
        {
            Ok(merged) => {
                tracing::info!(witness = %peer.url, size = size.0, "cosigned");
                // A witness asked again cosigns anew (its line carries a
                // new timestamp); a stored note never loses a signature
                // line, so the one it already carries stays.
                if !had {
                    note = merged;
                }
                cosigned += 1;
            }
            Err(e) => failures.push(format!("witness {}: {e:#}", peer.url)),
        }
    }
    let cp = if note != cp.note {
        ledger.replace_checkpoint_note(cp.id, &note).await?
    } else {
        cp
    };
    Ok(Collected {
        cp,
        cosigned,
        failures,
    })
}

/// For `cts ledger checkpoint`, after it signed `cp`: submits it to every
/// `[[witness]]` of cts.toml, even those whose cosignature it already
/// carries (so the command also asks each witness whether the log is
/// behind what it cosigned), and stores the cosignatures in its note.
///
/// Cosignatures that came back are stored even if another witness failed;
/// then the error names each failure.
pub async fn collect_cosignatures(
    project: &Project,
    ledger: &Ledger,
    cp: StoredCheckpoint,
) -> Result<StoredCheckpoint> {
    if project.config.witness.is_empty() {
        return Ok(cp);
    }
    let Collected {
        cp,
        cosigned,
        failures,
    } = collect(project, ledger, cp, true).await?;
    if !failures.is_empty() {
        bail!(
            "checkpoint #{} (size {}) is signed and stored with {cosigned} of {} witness cosignatures; {}",
            cp.id,
            cp.size,
            project.config.witness.len(),
            failures.join("; ")
        );
    }
    Ok(cp)
}

/// Makes every checkpoint `ledger` signs (`cts ledger append`, `cts serve`,
/// `cts dataset build`, evaluation, red-teaming and training records, …)
/// collect cosignatures from the `[[witness]]`es of cts.toml. A witness that
/// fails is logged as a warning and the checkpoint stands, unless fewer
/// than `[log] witness_quorum` witnesses cosigned it: then the signing
/// fails (the signed checkpoint, with the cosignatures it got, is kept).
pub fn install(project: &Project, store: &Store) {
    if project.config.witness.is_empty() {
        return;
    }
    let project = project.clone();
    store.ledger().on_checkpoint(Arc::new(move |ledger, cp| {
        let project = project.clone();
        Box::pin(async move { witness_checkpoint(&project, &ledger, cp).await })
    }));
}

/// The checkpoint hook [`install`] sets.
async fn witness_checkpoint(
    project: &Project,
    ledger: &Ledger,
    cp: StoredCheckpoint,
) -> Result<StoredCheckpoint, cts_store::StoreError> {
    let quorum = project.config.log.witness_quorum.unwrap_or(0);
    let signed = cp.clone();
    let Collected {
        cp,
        cosigned,
        failures,
    } = match collect(project, ledger, cp, false).await {
        Ok(c) => c,
        // E.g. an unreadable witness key, or a concurrent signer that stored
        // its cosignatures first: the signed checkpoint stands.
        Err(e) if quorum == 0 => {
            tracing::warn!(
                checkpoint = signed.id,
                size = signed.size.0,
                "not cosigned: {e:#}; the checkpoint is signed and stored without witnesses"
            );
            return Ok(signed);
        }
        Err(e) => {
            return Err(cts_store::StoreError::Unwitnessed {
                checkpoint: signed.id,
                size: signed.size,
                got: 0,
                need: quorum,
                detail: format!(
                    "collecting cosignatures failed, so the quorum cannot be met: {e:#}"
                ),
            })
        }
    };
    for failure in &failures {
        tracing::warn!(
            checkpoint = cp.id,
            size = cp.size.0,
            "not cosigned: {failure}; the checkpoint is signed and stored without this witness"
        );
    }
    if cosigned < quorum {
        return Err(cts_store::StoreError::Unwitnessed {
            checkpoint: cp.id,
            size: cp.size,
            got: cosigned,
            need: quorum,
            detail: failures.join("; "),
        });
    }
    Ok(cp)
}

/// For `cts verify --witness KEY… [--witness-quorum N]`: the checkpoint note
/// must carry at least N (default: all) valid cosignatures from the keys.
/// Returns `None` when no witness key was given.
pub fn require_witnesses(
    keys: &[PathBuf],
    quorum: Option<usize>,
    note: &[u8],
    log: &LogVerifier,
    out: &Output,
) -> Result<Option<CosignedCheckpoint>> {
    if keys.is_empty() {
        if quorum.is_some() {
            bail!("--witness-quorum needs --witness keys");
        }
        return Ok(None);
    }
    let cwd = Path::new(".");
    let witnesses = keys
        .iter()
        .map(|k| {
            read_witness_key(&k.to_string_lossy(), cwd)
                .with_context(|| format!("--witness {}", k.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let n = witnesses.len();
    let policy = WitnessPolicy::new(witnesses, quorum.unwrap_or(n))?;
    let opened = policy.check(note, log)?;
    if !out.json {
        let names: Vec<String> = opened
            .cosignatures
            .iter()
            .map(|c| format!("{} (time {})", c.witness, c.time))
            .collect();
        println!(
            "witnessed: {} valid cosignatures, {} required: {}",
            opened.cosignatures.len(),
            policy.quorum(),
            names.join(", ")
        );
    }
    Ok(Some(opened))
}

/// Reads a checkpoint note file for [`require_witnesses`] (an export's `checkpoint`,
/// a release's `evidence/checkpoint`), only when a witness policy is given.
pub fn checkpoint_file(keys: &[PathBuf], path: &Path) -> Result<Vec<u8>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}
