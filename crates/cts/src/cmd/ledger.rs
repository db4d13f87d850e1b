//! `cts ledger …`: append, show, checkpoint, proof, consistency, verify, export, redact, list.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cts_ledger::export::{bundle_file, hash_tile_files};
use cts_ledger::tile::{bundles_for, TILE_WIDTH};
use cts_ledger::{
    hash_to_base64, leaf_hash, Commitment, Event, EventDraft, EventKind, LeafIndex, TreeSize,
};
use cts_store::{ContentPresence, ContentState, Store, StoredCheckpoint};
use serde::Deserialize;

use crate::output::Output;
use crate::project::Project;

/// `cts ledger` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum LedgerCommand {
    /// Append events read as JSON from stdin (one object, or one per line); all or none.
    ///
    /// Each object: {"kind": "note.appended", "subjects": ["case:c1"], "body": {...},
    /// "content": {"name": "text to commit to"}, "actor": "optional", "time": "optional RFC 3339"}.
    Append {
        /// Do not sign a new checkpoint afterwards.
        #[arg(long)]
        no_checkpoint: bool,
    },
    /// Show the event at a leaf, with the state of its content.
    Show {
        /// Leaf index.
        leaf: u64,
        /// Print the stored content too.
        #[arg(long)]
        content: bool,
    },
    /// Sign a checkpoint of the current tree (after checking consistency with the last one),
    /// and collect cosignatures from the [[witness]]es of cts.toml.
    Checkpoint {
        /// List every stored checkpoint instead.
        #[arg(long)]
        list: bool,
    },
    /// Write a C2SP tlog-proof@v1 bundle (entry included) for a leaf.
    Proof {
        /// Leaf index.
        #[arg(long)]
        leaf: u64,
        /// Prove against the checkpoint of this tree size (default: latest; signs one if none covers the leaf).
        #[arg(long)]
        size: Option<u64>,
        /// Output file (default: leaf-<N>.tlog-proof).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Consistency proof between two tree sizes.
    Consistency {
        /// Older tree size.
        #[arg(long)]
        from: u64,
        /// Newer tree size.
        #[arg(long)]
        to: u64,
    },
    /// Full audit: recompute the tree from every event; check tiles, checkpoints and content,
    /// and every domain table against the events it is derived from.
    Verify,
    /// Reconstruct every domain table from the log alone into a new database file.
    Rebuild {
        /// The new database file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the log as static C2SP tiles + checkpoint + verifier key into a folder.
    Export {
        /// Destination folder.
        dir: PathBuf,
    },
    /// Erase stored content (right to erasure); the log records a content.redacted event.
    Redact {
        /// Commitment (hex) of the content to erase.
        commitment: String,
        /// Why (recorded in the log).
        #[arg(long)]
        reason: String,
    },
    /// Read the log in order, one line per event: leaf, time, kind, actor, subjects, content state.
    ///
    /// Streams page by page, so it never holds the whole log. `--json` writes JSON Lines.
    List {
        /// Only events of this kind; `PREFIX*` matches kinds starting with PREFIX (e.g. `review.*`). Repeat for several.
        #[arg(long)]
        kind: Vec<String>,
        /// Only events about this subject (`type:id`); `PREFIX*` matches by prefix (e.g. `trace:c1@*`). Repeat for several.
        #[arg(long)]
        subject: Vec<String>,
        /// Start at this leaf.
        #[arg(long, default_value_t = 0)]
        since: u64,
        /// Stop after this many listed events.
        #[arg(long)]
        limit: Option<u64>,
    },
}

/// Runs a ledger subcommand.
pub async fn run(cmd: LedgerCommand, project: Option<&Path>, out: &Output) -> Result<ExitCode> {
    let project = Project::find(project)?;
    // The audit must open a tampered store to name what is wrong; every other
    // command refuses a store that is behind its signed checkpoint.
    let store = if matches!(cmd, LedgerCommand::Verify | LedgerCommand::Rebuild { .. }) {
        Store::open(&project.database_path()).await?
    } else {
        project.open_store().await?
    };
    match cmd {
        LedgerCommand::Append { no_checkpoint } => {
            append(&project, &store, no_checkpoint, out).await
        }
        LedgerCommand::Show { leaf, content } => show(&store, LeafIndex(leaf), content, out).await,
        LedgerCommand::Checkpoint { list } => checkpoint(&project, &store, list, out).await,
        LedgerCommand::Proof {
            leaf,
            size,
            out: file,
        } => proof(&project, &store, LeafIndex(leaf), size, file, out).await,
        LedgerCommand::Consistency { from, to } => {
            consistency(&store, TreeSize(from), TreeSize(to), out).await
        }
        LedgerCommand::Verify => verify(&project, &store, out).await,
        LedgerCommand::Rebuild { out: to } => rebuild(&project, &store, &to, out).await,
        LedgerCommand::Export { dir } => export(&project, &store, &dir, out).await,
        LedgerCommand::Redact { commitment, reason } => {
            redact(&project, &store, &commitment, &reason, out).await
        }
        LedgerCommand::List {
            kind,
            subject,
            since,
            limit,
        } => {
            let filter = ListFilter {
                kinds: kind,
                subjects: subject,
                since: LeafIndex(since),
                limit,
            };
            list(&store, &filter, out).await
        }
    }
}

/// One event of `cts ledger append`. Actor and time are not fields: CTS
/// stamps them (the operator and the clock), so input cannot back-date an
/// event or attribute it to someone else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppendInput {
    kind: String,
    #[serde(default)]
    subjects: Vec<String>,
    #[serde(default)]
    body: serde_json::Value,
    #[serde(default)]
    content: BTreeMap<String, String>,
}

/// The open namespaces `cts ledger append` writes; every kind a CTS command
/// writes is reserved to that command.
const OPEN_KINDS: &[&str] = &["note.", "ext."];

/// Whether scripts may append events of this kind.
fn appendable(kind: &EventKind) -> bool {
    OPEN_KINDS.iter().any(|p| kind.as_str().starts_with(p))
        && (kind.as_str() == "note.appended"
            || !EventKind::KNOWN.iter().any(|(k, _)| *k == kind.as_str()))
}

/// Parses `cts ledger append` input: one JSON object, or JSON Lines.
fn parse_append_input(text: &str, actor: &str) -> Result<Vec<EventDraft>> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        bail!("stdin: no event given (expected a JSON object or JSON Lines)");
    }
    let items: Vec<(usize, &str)> = if serde_json::from_str::<serde_json::Value>(trimmed).is_ok() {
        vec![(1, trimmed)]
    } else {
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.trim().is_empty())
            .collect()
    };
    let mut drafts = Vec::with_capacity(items.len());
    for (line, item) in items {
        let input: AppendInput =
            serde_json::from_str(item).with_context(|| format!("stdin:{line}"))?;
        let kind = EventKind::new(&input.kind).with_context(|| format!("stdin:{line}"))?;
        if !appendable(&kind) {
            bail!(
                "stdin:{line}: field kind: {kind:?} is reserved to the CTS command that records it; \
                 `cts ledger append` writes only the open namespaces {}",
                OPEN_KINDS.iter().map(|p| format!("{p}*")).collect::<Vec<_>>().join(" and ")
            );
        }
        let mut draft = EventDraft::new(kind, actor).body(input.body);
        draft.subjects = input.subjects;
        draft.attachments = input
            .content
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        // Validate now, so a bad line is reported with its number and nothing is appended.
        draft
            .clone()
            .prepare(cts_ledger::Salt::random)
            .with_context(|| format!("stdin:{line}"))?;
        drafts.push(draft);
    }
    Ok(drafts)
}

async fn append(
    project: &Project,
    store: &Store,
    no_checkpoint: bool,
    out: &Output,
) -> Result<ExitCode> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading stdin")?;
    let drafts = parse_append_input(&text, &project.actor())?;
    let leaves = store.ledger().append_batch(drafts, None).await?;
    let cp = if no_checkpoint {
        None
    } else {
        Some(store.ledger().checkpoint(project.signer()?).await?)
    };
    out.emit(
        &serde_json::json!({ "leaves": leaves, "checkpoint": cp.as_ref().map(|c| c.id) }),
        || {
            let list: Vec<String> = leaves.iter().map(ToString::to_string).collect();
            let mut s = format!(
                "appended {} event(s): leaves {}\n",
                leaves.len(),
                list.join(", ")
            );
            if let Some(cp) = &cp {
                s.push_str(&format!("checkpoint #{} at size {}\n", cp.id, cp.size));
            }
            s
        },
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(
    store: &Store,
    leaf: LeafIndex,
    with_content: bool,
    out: &Output,
) -> Result<ExitCode> {
    let entry = store.ledger().entry(leaf).await?;
    let event = Event::decode(&entry).with_context(|| format!("leaf {leaf}"))?;
    let mut content = serde_json::Map::new();
    for (name, c) in &event.content {
        let state = match store.ledger().content(c).await {
            Ok(ContentState::Present { opening, .. }) => {
                let mut v = serde_json::json!({ "commitment": c, "state": "present", "bytes": opening.content.len() });
                if with_content {
                    v["text"] = String::from_utf8_lossy(&opening.content)
                        .into_owned()
                        .into();
                }
                v
            }
            Ok(ContentState::Redacted { redacted_at, .. }) => {
                serde_json::json!({ "commitment": c, "state": "redacted", "redacted_at": redacted_at })
            }
            Err(e) => {
                serde_json::json!({ "commitment": c, "state": "missing", "error": e.to_string() })
            }
        };
        content.insert(name.clone(), state);
    }
    let value = serde_json::json!({
        "leaf": leaf, "leaf_hash": hash_to_base64(&leaf_hash(&entry)), "event": event, "content": content,
    });
    out.emit(&value, || {
        let mut s = format!(
            "leaf {leaf}  {}  {}  by {}\n",
            event.time, event.kind, event.actor
        );
        if !event.subjects.is_empty() {
            s.push_str(&format!("  subjects: {}\n", event.subjects.join(", ")));
        }
        if !event.body.is_null() {
            s.push_str(&format!("  body: {}\n", event.body));
        }
        for (name, state) in &content {
            s.push_str(&format!("  content {name}: {}\n", state));
        }
        s
    });
    Ok(ExitCode::SUCCESS)
}

fn checkpoint_text(cp: &StoredCheckpoint) -> String {
    format!(
        "checkpoint #{} size {} root {} signed {}\n",
        cp.id,
        cp.size,
        hash_to_base64(&cp.root),
        cp.signed_at
    )
}

async fn checkpoint(
    project: &Project,
    store: &Store,
    list: bool,
    out: &Output,
) -> Result<ExitCode> {
    if list {
        let all = store.ledger().checkpoints().await?;
        out.emit(&all, || all.iter().map(checkpoint_text).collect());
    } else {
        // Strict here: every witness must answer (other signing paths only warn).
        let cp = store
            .ledger()
            .checkpoint_unwitnessed(project.signer()?)
            .await?;
        let cp = crate::cmd::witness::collect_cosignatures(project, store.ledger(), cp).await?;
        out.emit(&cp, || {
            format!(
                "{}\n{}",
                checkpoint_text(&cp),
                String::from_utf8_lossy(&cp.note)
            )
        });
    }
    Ok(ExitCode::SUCCESS)
}

async fn proof(
    project: &Project,
    store: &Store,
    leaf: LeafIndex,
    size: Option<u64>,
    file: Option<PathBuf>,
    out: &Output,
) -> Result<ExitCode> {
    // An unknown leaf fails here, before a checkpoint is signed for it.
    store.ledger().entry(leaf).await?;
    let cp = match size {
        Some(s) => store.ledger().checkpoint_of_size(TreeSize(s)).await?,
        None => match store.ledger().latest_checkpoint().await? {
            Some(cp) if cp.size.0 > leaf.0 => cp,
            _ => store.ledger().checkpoint(project.signer()?).await?,
        },
    };
    let bundle = store.ledger().proof_bundle(leaf, &cp).await?;
    // Check what we hand out before writing it.
    bundle
        .verify(&project.verifier()?, None)
        .context("the proof bundle does not verify")?;
    let path = file.unwrap_or_else(|| PathBuf::from(format!("leaf-{leaf}.tlog-proof")));
    write_atomic(&path, &bundle.to_text())?;
    out.emit(&serde_json::json!({ "file": path, "leaf": leaf, "size": cp.size, "checkpoint": cp.id }), || {
        format!("wrote {} (leaf {leaf} in checkpoint #{} of size {})\nverify offline with: cts verify {} --key {}\n",
            path.display(), cp.id, cp.size, path.display(), project.dir.join(&project.config.log.verifier_key).display())
    });
    Ok(ExitCode::SUCCESS)
}

async fn consistency(
    store: &Store,
    from: TreeSize,
    to: TreeSize,
    out: &Output,
) -> Result<ExitCode> {
    let proof = store.ledger().consistency_proof(from, to).await?;
    let (r1, r2) = (
        store.ledger().root(from).await?,
        store.ledger().root(to).await?,
    );
    if from.0 > 0 && from != to {
        cts_ledger::proof::verify_consistency(from, to, r1, r2, &proof)
            .context("consistency proof does not verify")?;
    }
    let hashes: Vec<String> = proof.iter().map(hash_to_base64).collect();
    out.emit(
        &serde_json::json!({ "from": from, "to": to, "from_root": hash_to_base64(&r1), "to_root": hash_to_base64(&r2), "proof": hashes }),
        || format!("size {from} root {}\nsize {to} root {}\nproof:\n{}\n", hash_to_base64(&r1), hash_to_base64(&r2), hashes.join("\n")),
    );
    Ok(ExitCode::SUCCESS)
}

async fn verify(project: &Project, store: &Store, out: &Output) -> Result<ExitCode> {
    let verifier = project.verifier()?;
    let size = store.ledger().committed_size();
    let bar = out.progress(size.0, "auditing the log");
    let mut report = store
        .ledger()
        .audit(&verifier, &|n| bar.set_position(n))
        .await?;
    report
        .failures
        .extend(store.ledger().audit_anchor(&verifier).await?);
    bar.finish_and_clear();
    let bar = out.progress(size.0, "checking the tables against the log");
    let db = project.database_path();
    let projection = {
        let bar = bar.clone();
        tokio::task::spawn_blocking(move || {
            cts_store::projection::check(&db, &|n| bar.set_position(n))
        })
        .await??
    };
    bar.finish_and_clear();
    let ok = report.ok() && projection.ok();
    out.emit(
        &serde_json::json!({
            "ok": ok,
            "leaves": report.leaves, "root": report.root, "checkpoints": report.checkpoints,
            "content_checked": report.content_checked, "content_redacted": report.content_redacted,
            "projection": { "events": projection.events, "rows": projection.rows },
            "failures": report.failures.iter().chain(&projection.failures).collect::<Vec<_>>(),
        }),
        || {
            let mut s = String::new();
            if report.ok() {
                s.push_str(&format!(
                    "OK: {} leaves recomputed (root {}), {} checkpoints verified, {} content items match their commitments, {} redacted\n",
                    report.leaves, report.root, report.checkpoints, report.content_checked, report.content_redacted
                ));
            }
            if projection.ok() {
                s.push_str(&format!(
                    "OK: {} rows of {} tables match the {} events they derive from\n",
                    projection.total_rows(),
                    projection.rows.len(),
                    projection.events
                ));
            }
            let mut failures = report.failures.iter().chain(&projection.failures);
            if let Some(first) = failures.next() {
                s.push_str(&format!("FAILED: first problem: {first}\n"));
                for f in failures {
                    s.push_str(&format!("  also: {f}\n"));
                }
            }
            s
        },
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn rebuild(project: &Project, store: &Store, to: &Path, out: &Output) -> Result<ExitCode> {
    let verifier = project.verifier()?;
    let bar = out.progress(store.ledger().committed_size().0, "auditing the log");
    let mut audit = store
        .ledger()
        .audit(&verifier, &|n| bar.set_position(n))
        .await?;
    audit
        .failures
        .extend(store.ledger().audit_anchor(&verifier).await?);
    bar.finish_and_clear();
    if let Some(first) = audit.failures.first() {
        bail!("the log itself does not verify, so nothing can be rebuilt from it: {first}");
    }
    let bar = out.progress(store.ledger().committed_size().0, "replaying");
    let (db, dest) = (project.database_path(), to.to_owned());
    let report = {
        let bar = bar.clone();
        tokio::task::spawn_blocking(move || {
            cts_store::projection::rebuild(&db, &dest, &|n| bar.set_position(n))
        })
        .await??
    };
    bar.finish_and_clear();
    // The new database carries the same log: the same checkpoint file applies.
    if let Some(anchor) = store.ledger().anchor(&verifier)? {
        write_atomic(&cts_store::anchor_path(to), &anchor.note)?;
    }
    out.emit(&report, || {
        let mut s = format!(
            "rebuilt {} from {} events: {}\n",
            to.display(),
            report.events,
            report
                .rows
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !report.accounts_without_password.is_empty() {
            s.push_str(&format!(
                "these accounts' password hashes are not bound to the log and were not carried over; they cannot sign in: {}\n",
                report.accounts_without_password.join(", ")
            ));
        }
        s.push_str("drafts, unsubmitted leases and sessions are not in the log and were not carried over\n");
        s
    });
    Ok(ExitCode::SUCCESS)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

async fn export(project: &Project, store: &Store, dir: &Path, out: &Output) -> Result<ExitCode> {
    let cp = store.ledger().checkpoint(project.signer()?).await?;
    let size = cp.size;
    let bar = out.progress(size.0, "exporting");
    let tiles = store
        .ledger()
        .with_tree(size, |t| hash_tile_files(t, size))
        .await??;
    let mut files = 0usize;
    for (path, bytes) in &tiles {
        write_atomic(&dir.join(path), bytes)?;
        files += 1;
    }
    const BUNDLES_PER_READ: u64 = 64;
    let bundles: Vec<(u64, u64)> = bundles_for(size).collect();
    for group in bundles.chunks(BUNDLES_PER_READ as usize) {
        let start = group[0].0 * TILE_WIDTH;
        let end = start + group.iter().map(|b| b.1).sum::<u64>();
        let entries = store
            .ledger()
            .entries(LeafIndex(start), LeafIndex(end))
            .await?;
        for (i, (index, width)) in group.iter().enumerate() {
            let from = i * TILE_WIDTH as usize;
            let slice: Vec<&[u8]> = entries[from..from + *width as usize]
                .iter()
                .map(Vec::as_slice)
                .collect();
            let (path, bytes) = bundle_file(*index, &slice)?;
            write_atomic(&dir.join(path), &bytes)?;
            files += 1;
        }
        bar.set_position(end);
    }
    bar.finish_and_clear();
    let verifier = project.verifier()?;
    write_atomic(
        &dir.join("log.pub"),
        format!("{}\n", verifier.key_text()).as_bytes(),
    )?;
    // The checkpoint goes last: a reader never sees a checkpoint whose tiles are not there yet.
    write_atomic(&dir.join("checkpoint"), &cp.note)?;
    out.emit(&serde_json::json!({ "dir": dir, "size": size, "files": files + 2, "checkpoint": cp.id }), || {
        format!("exported {} leaves as {} files into {}\nverify offline with: cts verify {} --key {}\n",
            size, files + 2, dir.display(), dir.display(), dir.join("log.pub").display())
    });
    Ok(ExitCode::SUCCESS)
}

async fn redact(
    project: &Project,
    store: &Store,
    commitment: &str,
    reason: &str,
    out: &Output,
) -> Result<ExitCode> {
    let c: Commitment = commitment
        .parse()
        .with_context(|| format!("{commitment:?} is not a 64-digit hex commitment"))?;
    let leaf = store.ledger().redact(c, &project.actor(), reason).await?;
    let cp = store.ledger().checkpoint(project.signer()?).await?;
    out.emit(
        &serde_json::json!({ "leaf": leaf, "commitment": c, "checkpoint": cp.id }),
        || {
            format!(
                "erased content {c}; recorded as leaf {leaf} (checkpoint #{})\n",
                cp.id
            )
        },
    );
    Ok(ExitCode::SUCCESS)
}

/// What `cts ledger list` shows of an event; one JSON line each with `--json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ListedEvent {
    /// Leaf index.
    pub leaf: u64,
    /// When (as the event records it).
    pub time: String,
    /// Event kind.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// What it is about.
    pub subjects: Vec<String>,
    /// The content it commits to, by name, with its stored state.
    pub content: Vec<ListedContent>,
}

/// A named commitment of a listed event.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ListedContent {
    /// The content's name in the event.
    pub name: String,
    /// Its commitment (hex).
    pub commitment: Commitment,
    /// `present`, `redacted` or `missing`.
    pub state: String,
    /// The `content.redacted` leaf, when erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_at: Option<u64>,
}

/// The filters of `cts ledger list`.
struct ListFilter {
    kinds: Vec<String>,
    subjects: Vec<String>,
    since: LeafIndex,
    limit: Option<u64>,
}

/// `pattern` is a value, or `PREFIX*` for values starting with PREFIX.
fn matches_pattern(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

impl ListFilter {
    fn wants(&self, event: &Event) -> bool {
        (self.kinds.is_empty()
            || self
                .kinds
                .iter()
                .any(|k| matches_pattern(k, event.kind.as_str())))
            && (self.subjects.is_empty()
                || self
                    .subjects
                    .iter()
                    .any(|p| event.subjects.iter().any(|s| matches_pattern(p, s))))
    }
}

/// Leaves read per page: 16 entry bundles.
const LIST_PAGE: u64 = 16 * TILE_WIDTH;

/// `cts ledger list`: pages of entry bundles in leaf order, each page's
/// content states in one lookup, lines written as they are ready.
async fn list(store: &Store, filter: &ListFilter, out: &Output) -> Result<ExitCode> {
    use std::io::Write;
    let size = store.ledger().refresh().await?.0;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut listed = 0u64;
    let mut start = filter.since.0;
    'pages: while start < size && filter.limit.is_none_or(|l| listed < l) {
        let end = start.saturating_add(LIST_PAGE).min(size);
        tracing::debug!(start, end, "reading log page");
        let mut events = Vec::new();
        for (leaf, entry) in (start..).zip(
            store
                .ledger()
                .entries(LeafIndex(start), LeafIndex(end))
                .await?,
        ) {
            let event = Event::decode(&entry).with_context(|| format!("leaf {leaf}"))?;
            if filter.wants(&event) {
                events.push((leaf, event));
            }
        }
        let commitments: Vec<Commitment> = events
            .iter()
            .flat_map(|(_, e)| e.content.values().copied())
            .collect();
        let mut states = store
            .ledger()
            .content_presence(&commitments)
            .await?
            .into_iter();
        for (leaf, event) in events {
            if filter.limit.is_some_and(|l| listed >= l) {
                break 'pages;
            }
            let content = event
                .content
                .iter()
                .map(|(name, c)| {
                    let (state, redacted_at) = match states.next() {
                        Some(ContentPresence::Present) => ("present", None),
                        Some(ContentPresence::Redacted { redacted_at }) => {
                            ("redacted", Some(redacted_at.0))
                        }
                        Some(ContentPresence::Missing) | None => ("missing", None),
                    };
                    ListedContent {
                        name: name.clone(),
                        commitment: *c,
                        state: state.into(),
                        redacted_at,
                    }
                })
                .collect();
            let item = ListedEvent {
                leaf,
                time: event.time,
                kind: event.kind.as_str().to_owned(),
                actor: event.actor,
                subjects: event.subjects,
                content,
            };
            let line = if out.json {
                serde_json::to_string(&item).context("encoding an event")?
            } else {
                listed_text(&item)
            };
            // A closed pipe (`cts ledger list | head`) ends the listing quietly.
            if writeln!(stdout, "{line}").is_err() {
                return Ok(ExitCode::SUCCESS);
            }
            listed += 1;
        }
        if stdout.flush().is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        start = end;
    }
    let _ = stdout.flush();
    Ok(ExitCode::SUCCESS)
}

/// One text line of `cts ledger list`.
fn listed_text(e: &ListedEvent) -> String {
    let subjects = if e.subjects.is_empty() {
        "-".to_owned()
    } else {
        e.subjects.join(",")
    };
    let mut line = format!(
        "{:>8}  {}  {:<22} {:<20} {subjects}",
        e.leaf, e.time, e.kind, e.actor
    );
    for c in &e.content {
        match c.redacted_at {
            Some(at) => line.push_str(&format!("  {}=redacted@{at}", c.name)),
            None => line.push_str(&format!("  {}={}", c.name, c.state)),
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_input_accepts_an_object_or_json_lines() {
        assert_eq!(
            parse_append_input(r#"{"kind":"note.appended","body":{"a":1}}"#, "cli:test")
                .unwrap()
                .len(),
            1
        );
        let lines = "{\"kind\":\"note.appended\"}\n\n{\"kind\":\"note.appended\",\"content\":{\"t\":\"x\"}}\n";
        assert_eq!(parse_append_input(lines, "cli:test").unwrap().len(), 2);
    }

    #[test]
    fn append_input_errors_name_the_line_and_field() {
        let lines = "{\"kind\":\"note.appended\"}\n{\"kind\":\"note.appended\",\"subjects\":[\"nocolon\"]}\n";
        let err = format!("{:#}", parse_append_input(lines, "cli:test").unwrap_err());
        assert!(err.contains("stdin:2") && err.contains("subjects"), "{err}");
        let err = format!(
            "{:#}",
            parse_append_input("{\"kind\":\"Bad\"}", "cli:test").unwrap_err()
        );
        assert!(err.contains("stdin:1") && err.contains("kind"), "{err}");
        let err = format!(
            "{:#}",
            parse_append_input("{\"kind\":\"note.b\",\"colour\":1}", "cli:test").unwrap_err()
        );
        assert!(err.contains("stdin:1") && err.contains("colour"), "{err}");
    }

    #[test]
    fn append_refuses_reserved_kinds_and_stamped_fields() {
        for kind in [
            "content.redacted",
            "review.submitted",
            "user.created",
            "case.imported",
            "log.created",
            "dataset.released",
            "eval.completed",
            "note.other",
        ] {
            let input = format!("{{\"kind\":\"{kind}\"}}");
            let result = parse_append_input(&input, "cli:test");
            if kind == "note.other" {
                assert!(result.is_ok(), "{kind} is in the open namespace");
            } else {
                let err = format!("{:#}", result.unwrap_err());
                assert!(err.contains("stdin:1") && err.contains("reserved"), "{err}");
            }
        }
        assert!(parse_append_input(r#"{"kind":"ext.lab.result"}"#, "cli:test").is_ok());
        for field in [
            r#""actor":"user:R-00000000""#,
            r#""time":"2020-01-01T00:00:00.000Z""#,
        ] {
            let input = format!("{{\"kind\":\"note.appended\",{field}}}");
            let err = format!("{:#}", parse_append_input(&input, "cli:test").unwrap_err());
            assert!(
                err.contains("stdin:1") && err.contains("unknown field"),
                "{err}"
            );
        }
        let drafts = parse_append_input(r#"{"kind":"note.appended"}"#, "cli:operator").unwrap();
        assert_eq!(drafts[0].actor, "cli:operator");
        assert!(drafts[0].time.is_none(), "time is stamped on append");
    }
}
