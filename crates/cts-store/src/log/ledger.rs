//! The log engine's handle: durable, group-committed appends and the reads
//! around them.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cts_ledger::event::EventDraft;
use cts_ledger::proof::verify_consistency;
use cts_ledger::tile::{
    decode_hash_tile, encode_bundle, encode_hash_tile, split_bundle, TILE_HEIGHT, TILE_WIDTH,
};
use cts_ledger::{
    Commitment, EventKind, Hash, LeafIndex, LogSigner, MemTree, Opening, PreparedEvent, Salt,
    TreeSize,
};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::db::{open_pool_to, options, Schema};
use crate::StoreError;

/// Largest number of events one group commit takes.
const MAX_BATCH_EVENTS: usize = 8192;

type AppendReply = oneshot::Sender<Result<Vec<LeafIndex>, StoreError>>;
type AppendWork = (Vec<PreparedEvent>, Vec<Commitment>, Option<AppendHook>);

type HookFuture<'c> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'c>>;

/// Domain writes that must commit or fail together with a request's events.
///
/// Runs inside the request's savepoint on the writer's connection, with the
/// leaf indices the events received.
pub type AppendHook =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection, &'c [LeafIndex]) -> HookFuture<'c> + Send>;

type CheckpointFuture = Pin<Box<dyn Future<Output = Result<StoredCheckpoint, StoreError>> + Send>>;

/// Runs after every checkpoint [`Ledger::checkpoint`] signs, with the
/// checkpoint as stored; returns it as it should be handed on. The `cts`
/// binary collects witness cosignatures here (and stores them with
/// [`Ledger::replace_checkpoint_note`]), so every signing path, whichever
/// crate calls it, is witnessed without network code in the store.
pub type CheckpointHook = Arc<dyn Fn(Ledger, StoredCheckpoint) -> CheckpointFuture + Send + Sync>;

enum Command {
    Append {
        events: Vec<PreparedEvent>,
        redactions: Vec<Commitment>,
        hook: Option<AppendHook>,
        reply: oneshot::Sender<Result<Vec<LeafIndex>, StoreError>>,
    },
    Checkpoint {
        signer: Arc<LogSigner>,
        reply: oneshot::Sender<Result<StoredCheckpoint, StoreError>>,
    },
    Refresh {
        reply: oneshot::Sender<Result<TreeSize, StoreError>>,
    },
}

/// A signed checkpoint as stored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoredCheckpoint {
    /// Row id, 1-based, in signing order.
    pub id: i64,
    /// Tree size.
    pub size: TreeSize,
    /// Root hash.
    #[serde(serialize_with = "ser_hash")]
    pub root: Hash,
    /// The signed note.
    #[serde(serialize_with = "ser_note")]
    pub note: Vec<u8>,
    /// When it was signed.
    pub signed_at: String,
}

fn ser_hash<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&cts_ledger::hash_to_base64(h))
}

fn ser_note<S: serde::Serializer>(n: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(n))
}

/// What is stored for a commitment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentState {
    /// Content and salt are present.
    Present {
        /// Leaf of the event that committed to it.
        leaf: LeafIndex,
        /// The content with its salt.
        opening: Opening,
    },
    /// Content was erased by the `content.redacted` event at `redacted_at`.
    Redacted {
        /// Leaf of the event that committed to it.
        leaf: LeafIndex,
        /// Leaf of the redaction event.
        redacted_at: LeafIndex,
    },
}

struct Shared {
    tree: RwLock<MemTree>,
    on_checkpoint: RwLock<Option<CheckpointHook>>,
    committed: AtomicU64,
    commits: AtomicU64,
}

/// Handle to the log engine; cheap to clone. Held inside a [`crate::Store`],
/// which adds the domain tables' pool.
#[derive(Clone)]
pub struct Ledger {
    pool: SqlitePool,
    path: std::path::PathBuf,
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("committed", &self.shared.committed)
            .finish_non_exhaustive()
    }
}

fn i64_of(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::OutOfRange(n))
}

fn hash_of(bytes: &[u8], what: &str) -> Result<Hash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| StoreError::Inconsistent(format!("{what} is not a 32-byte hash")))
}

impl Ledger {
    /// Opens the log in the database at `path` (migrating the file as far as
    /// `schema` allows) and starts its writer. Through [`crate::Store::open_to`].
    pub(crate) async fn open_to(path: &Path, schema: Schema) -> Result<Self, StoreError> {
        let pool = open_pool_to(path, schema).await?;
        let conn = SqliteConnection::connect_with(&options(path)).await?;
        let shared = Arc::new(Shared {
            tree: RwLock::new(MemTree::new()),
            on_checkpoint: RwLock::new(None),
            committed: AtomicU64::new(0),
            commits: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel(1024);
        let writer = Writer {
            conn,
            shared: shared.clone(),
            anchor: anchor_path(path),
            loaded: false,
            tail: Vec::new(),
            pending_tail: None,
        };
        tokio::spawn(writer.run(rx));
        let ledger = Self {
            pool,
            path: path.to_owned(),
            tx,
            shared,
        };
        ledger.refresh().await?;
        Ok(ledger)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log's connection pool: its own reads (this module only).
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A pool on the same file for the domain tables ([`crate::Store::db`]).
    pub(crate) fn domain_pool(&self) -> SqlitePool {
        self.pool.clone()
    }

    async fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Picks up leaves other processes appended; returns the committed size.
    pub async fn refresh(&self) -> Result<TreeSize, StoreError> {
        self.send(|reply| Command::Refresh { reply }).await
    }

    /// Size of the tree as last seen by this process.
    pub fn committed_size(&self) -> TreeSize {
        TreeSize(self.shared.committed.load(Ordering::Acquire))
    }

    /// Group commits of appends made by this process so far.
    pub fn commit_count(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Appends one event; returns its leaf once durable.
    pub async fn append(&self, draft: EventDraft) -> Result<LeafIndex, StoreError> {
        let leaves = self.append_batch(vec![draft], None).await?;
        leaves.into_iter().next().ok_or(StoreError::EmptyAppend)
    }

    /// Appends events atomically (all or none), running `hook` in the same
    /// transaction; returns their leaves once durable.
    pub async fn append_batch(
        &self,
        drafts: Vec<EventDraft>,
        hook: Option<AppendHook>,
    ) -> Result<Vec<LeafIndex>, StoreError> {
        let events = drafts
            .into_iter()
            .map(|d| d.prepare(Salt::random))
            .collect::<Result<Vec<_>, _>>()?;
        self.append_prepared(events, hook).await
    }

    /// Appends already prepared events atomically.
    pub async fn append_prepared(
        &self,
        events: Vec<PreparedEvent>,
        hook: Option<AppendHook>,
    ) -> Result<Vec<LeafIndex>, StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        self.send(|reply| Command::Append {
            events,
            redactions: Vec::new(),
            hook,
            reply,
        })
        .await
    }

    /// Erases the content behind `commitment`, recording a `content.redacted` event.
    pub async fn redact(
        &self,
        commitment: Commitment,
        actor: &str,
        reason: &str,
    ) -> Result<LeafIndex, StoreError> {
        let draft = EventDraft::new(EventKind::new("content.redacted")?, actor)
            .subject(format!("content:{commitment}"))
            .body(serde_json::json!({ "reason": reason }));
        let event = draft.prepare(Salt::random)?;
        let leaves = self
            .send(|reply| Command::Append {
                events: vec![event],
                redactions: vec![commitment],
                hook: None,
                reply,
            })
            .await?;
        leaves.into_iter().next().ok_or(StoreError::EmptyAppend)
    }

    /// Signs a checkpoint of the current tree, after checking it is
    /// consistent with the last one (returns the last one if the tree has
    /// not grown), then runs the checkpoint hook, if one is set.
    pub async fn checkpoint(&self, signer: Arc<LogSigner>) -> Result<StoredCheckpoint, StoreError> {
        let cp = self.checkpoint_unwitnessed(signer).await?;
        let hook = self
            .shared
            .on_checkpoint
            .read()
            .ok()
            .and_then(|h| h.clone());
        match hook {
            Some(hook) => hook(self.clone(), cp).await,
            None => Ok(cp),
        }
    }

    /// Signs a checkpoint as [`Ledger::checkpoint`] does, without running
    /// the checkpoint hook (for a caller that collects cosignatures itself).
    pub async fn checkpoint_unwitnessed(
        &self,
        signer: Arc<LogSigner>,
    ) -> Result<StoredCheckpoint, StoreError> {
        self.send(|reply| Command::Checkpoint { signer, reply })
            .await
    }

    /// Sets the hook every clone of this handle runs after signing a
    /// checkpoint (replacing any earlier one).
    pub fn on_checkpoint(&self, hook: CheckpointHook) {
        if let Ok(mut slot) = self.shared.on_checkpoint.write() {
            *slot = Some(hook);
        }
    }

    /// Entry bytes of a leaf.
    pub async fn entry(&self, leaf: LeafIndex) -> Result<Vec<u8>, StoreError> {
        let mut entries = self
            .entries(leaf, LeafIndex(leaf.0.saturating_add(1)))
            .await?;
        entries.pop().ok_or_else(|| StoreError::NotFound {
            what: "leaf",
            id: leaf.to_string(),
            hint: None,
        })
    }

    /// Entry bytes of leaves `start..end`, in order.
    pub async fn entries(
        &self,
        start: LeafIndex,
        end: LeafIndex,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        if end <= start {
            return Ok(Vec::new());
        }
        let (first, last) = (start.0 / TILE_WIDTH, (end.0 - 1) / TILE_WIDTH);
        let rows = sqlx::query(
            "SELECT idx, entries FROM entry_bundles WHERE idx >= ? AND idx <= ? ORDER BY idx",
        )
        .bind(i64_of(first)?)
        .bind(i64_of(last)?)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity((end.0 - start.0) as usize);
        for (expect, row) in (first..).zip(rows.iter()) {
            let idx = row.try_get::<i64, _>(0)? as u64;
            if idx != expect {
                return Err(StoreError::Inconsistent(format!(
                    "entry bundle {expect} (leaves from {}) is missing",
                    expect * TILE_WIDTH
                )));
            }
            let bytes: &[u8] = row.try_get(1)?;
            let entries = split_bundle(bytes)
                .map_err(|e| StoreError::Inconsistent(format!("entry bundle {idx}: {e}")))?;
            for (i, e) in entries.into_iter().enumerate() {
                let leaf = idx * TILE_WIDTH + i as u64;
                if (start.0..end.0).contains(&leaf) {
                    out.push(e.to_vec());
                }
            }
        }
        if (out.len() as u64) < end.0 - start.0 {
            return Err(StoreError::NotFound {
                what: "leaf",
                id: (start.0 + out.len() as u64).to_string(),
                hint: None,
            });
        }
        Ok(out)
    }

    /// Every stored checkpoint, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows =
            sqlx::query("SELECT id, size, root, note, signed_at FROM checkpoints ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(checkpoint_row).collect()
    }

    /// The latest checkpoint, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query(
            "SELECT id, size, root, note, signed_at FROM checkpoints ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(checkpoint_row).transpose()
    }

    /// The latest checkpoint of exactly `size` leaves.
    pub async fn checkpoint_of_size(&self, size: TreeSize) -> Result<StoredCheckpoint, StoreError> {
        let row = sqlx::query("SELECT id, size, root, note, signed_at FROM checkpoints WHERE size = ? ORDER BY id DESC LIMIT 1")
            .bind(i64_of(size.0)?)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "checkpoint of size",
                id: size.to_string(),
                hint: None,
            })?;
        checkpoint_row(&row)
    }

    async fn ensure(&self, size: TreeSize) -> Result<(), StoreError> {
        if self.committed_size() < size {
            let now = self.refresh().await?;
            if now < size {
                return Err(StoreError::LogTooShort {
                    size: now,
                    asked: size,
                });
            }
        }
        Ok(())
    }

    /// Runs `f` on the in-memory tree, which holds at least `size` committed leaves.
    pub async fn with_tree<T>(
        &self,
        size: TreeSize,
        f: impl FnOnce(&MemTree) -> T,
    ) -> Result<T, StoreError> {
        self.ensure(size).await?;
        let tree = self
            .shared
            .tree
            .read()
            .map_err(|_| StoreError::WriterGone)?;
        Ok(f(&tree))
    }

    /// A `tlog-proof@v1` bundle for `leaf` under the signed checkpoint `cp`:
    /// the entry, its inclusion proof and the checkpoint note.
    pub async fn proof_bundle(
        &self,
        leaf: LeafIndex,
        cp: &StoredCheckpoint,
    ) -> Result<cts_ledger::bundle::ProofBundle, StoreError> {
        Ok(cts_ledger::bundle::ProofBundle {
            extra: Some(self.entry(leaf).await?),
            index: leaf,
            proof: self.inclusion_proof(leaf, cp.size).await?,
            checkpoint: cp.note.clone(),
        })
    }

    /// Inclusion proof of `leaf` in the tree of `size` leaves.
    pub async fn inclusion_proof(
        &self,
        leaf: LeafIndex,
        size: TreeSize,
    ) -> Result<Vec<Hash>, StoreError> {
        Ok(self
            .with_tree(size, |t| t.inclusion_proof(leaf, size))
            .await??)
    }

    /// Consistency proof between two tree sizes.
    pub async fn consistency_proof(
        &self,
        from: TreeSize,
        to: TreeSize,
    ) -> Result<Vec<Hash>, StoreError> {
        Ok(self
            .with_tree(to, |t| t.consistency_proof(from, to))
            .await??)
    }

    /// Root of the tree of `size` leaves.
    pub async fn root(&self, size: TreeSize) -> Result<Hash, StoreError> {
        Ok(self.with_tree(size, |t| t.root(size)).await??)
    }

    /// The stored state of a commitment.
    pub async fn content(&self, commitment: &Commitment) -> Result<ContentState, StoreError> {
        let row = sqlx::query(
            "SELECT leaf, salt, bytes, redacted_leaf FROM content WHERE commitment = ?",
        )
        .bind(&commitment.0[..])
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "content with commitment",
            id: commitment.to_string(),
            hint: None,
        })?;
        let leaf = LeafIndex(row.try_get::<i64, _>(0)? as u64);
        let redacted: Option<i64> = row.try_get(3)?;
        if let Some(at) = redacted {
            return Ok(ContentState::Redacted {
                leaf,
                redacted_at: LeafIndex(at as u64),
            });
        }
        let salt: Option<Vec<u8>> = row.try_get(1)?;
        let bytes: Option<Vec<u8>> = row.try_get(2)?;
        let (Some(salt), Some(bytes)) = (salt, bytes) else {
            return Err(StoreError::Inconsistent(format!(
                "content {commitment} is missing but was never redacted"
            )));
        };
        let salt = Salt(<[u8; 32]>::try_from(salt.as_slice()).map_err(|_| {
            StoreError::Inconsistent(format!("content {commitment} has a malformed salt"))
        })?);
        Ok(ContentState::Present {
            leaf,
            opening: Opening::new(salt, bytes),
        })
    }

    /// Replaces the note of checkpoint `id` with the same checkpoint carrying
    /// more signatures (witness cosignatures). The note body and every
    /// signature line already stored must be unchanged; otherwise nothing is
    /// written.
    pub async fn replace_checkpoint_note(
        &self,
        id: i64,
        note: &[u8],
    ) -> Result<StoredCheckpoint, StoreError> {
        fn split(note: &[u8]) -> Option<(&[u8], Vec<&[u8]>)> {
            let at = note.windows(2).rposition(|w| w == b"\n\n")?;
            let sigs = note[at + 2..].strip_suffix(b"\n")?;
            Some((&note[..at], sigs.split(|&b| b == b'\n').collect()))
        }
        let row =
            sqlx::query("SELECT id, size, root, note, signed_at FROM checkpoints WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    what: "checkpoint",
                    id: format!("#{id}"),
                    hint: None,
                })?;
        let stored = checkpoint_row(&row)?;
        let (old_body, old_sigs) = split(&stored.note).ok_or_else(|| {
            StoreError::Inconsistent(format!("checkpoint #{id}: stored note is malformed"))
        })?;
        let (new_body, new_sigs) = split(note).ok_or_else(|| StoreError::Invalid {
            field: "note",
            reason: format!("the new note of checkpoint #{id} is not a signed note"),
        })?;
        if old_body != new_body {
            return Err(StoreError::Invalid {
                field: "note",
                reason: format!(
                    "the new note of checkpoint #{id} has another body; only signatures may be added"
                ),
            });
        }
        if let Some(lost) = old_sigs.iter().find(|s| !new_sigs.contains(s)) {
            return Err(StoreError::Invalid {
                field: "note",
                reason: format!(
                    "the new note of checkpoint #{id} drops the signature line {:?}",
                    String::from_utf8_lossy(lost)
                ),
            });
        }
        if let Some(bad) = new_sigs
            .iter()
            .find(|s| !s.starts_with("\u{2014} ".as_bytes()))
        {
            return Err(StoreError::Invalid {
                field: "note",
                reason: format!(
                    "in the new note of checkpoint #{id}, {:?} is not a signature line",
                    String::from_utf8_lossy(bad)
                ),
            });
        }
        // Compare-and-swap: a concurrent replacement makes this one fail, not vanish.
        let done = sqlx::query("UPDATE checkpoints SET note = ? WHERE id = ? AND note = ?")
            .bind(note)
            .bind(id)
            .bind(&stored.note[..])
            .execute(&self.pool)
            .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict {
                what: "checkpoint",
                id: format!("#{id}"),
                reason: "changed meanwhile; nothing was written".into(),
            });
        }
        // The copy kept beside the database carries the cosignatures too
        // when it is this checkpoint.
        let anchor = self.anchor_path();
        if let Ok(kept) = std::fs::read(&anchor) {
            if split(&kept).is_some_and(|(body, _)| body == new_body) {
                write_anchor(&anchor, note)?;
            }
        }
        Ok(StoredCheckpoint {
            note: note.to_vec(),
            ..stored
        })
    }

    /// Whether the content behind each commitment is stored, erased or
    /// missing, without reading it: one primary-key lookup per commitment,
    /// for reading the log page by page (`cts ledger list`). A commitment
    /// with no row at all comes back as [`ContentPresence::Missing`].
    pub async fn content_presence(
        &self,
        commitments: &[Commitment],
    ) -> Result<Vec<ContentPresence>, StoreError> {
        // Well under SQLite's limit on bound parameters.
        const CHUNK: usize = 500;
        let mut found = std::collections::HashMap::with_capacity(commitments.len());
        for chunk in commitments.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            // typeof() reads a column's type from the record header, not the content.
            let sql = format!(
                "SELECT commitment, redacted_leaf, typeof(salt) <> 'null' AND typeof(bytes) <> 'null'
                 FROM content WHERE commitment IN ({marks})"
            );
            let mut query = sqlx::query(&sql);
            for c in chunk {
                query = query.bind(&c.0[..]);
            }
            for row in query.fetch_all(&self.pool).await? {
                let key: Vec<u8> = row.try_get(0)?;
                let redacted: Option<i64> = row.try_get(1)?;
                let present: i64 = row.try_get(2)?;
                let state = match (redacted, present != 0) {
                    (Some(at), _) => ContentPresence::Redacted {
                        redacted_at: LeafIndex(at as u64),
                    },
                    (None, true) => ContentPresence::Present,
                    (None, false) => ContentPresence::Missing,
                };
                found.insert(key, state);
            }
        }
        Ok(commitments
            .iter()
            .map(|c| {
                found
                    .get(&c.0[..])
                    .copied()
                    .unwrap_or(ContentPresence::Missing)
            })
            .collect())
    }
}

/// Whether committed content is stored, without the content itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentPresence {
    /// Content and salt are present.
    Present,
    /// Erased by the `content.redacted` event at `redacted_at`.
    Redacted {
        /// Leaf of the redaction event.
        redacted_at: LeafIndex,
    },
    /// Neither stored nor erased by a `content.redacted` event.
    Missing,
}

fn checkpoint_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        id: row.try_get(0)?,
        size: TreeSize(row.try_get::<i64, _>(1)? as u64),
        root: hash_of(&row.try_get::<Vec<u8>, _>(2)?, "checkpoint root")?,
        note: row.try_get(3)?,
        signed_at: row.try_get(4)?,
    })
}

struct Writer {
    conn: SqliteConnection,
    shared: Arc<Shared>,
    /// The latest signed checkpoint, kept outside the database.
    anchor: std::path::PathBuf,
    loaded: bool,
    /// Entries of the last, partial entry bundle (size % 256 of them).
    tail: Vec<Vec<u8>>,
    /// The tail after the transaction in progress, once it commits.
    pending_tail: Option<Vec<Vec<u8>>>,
}

struct Outcome {
    reply: AppendReply,
    result: Result<Vec<LeafIndex>, StoreError>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(first) = rx.recv().await {
            let mut cmds = vec![first];
            let mut weight = 1;
            while weight < MAX_BATCH_EVENTS {
                match rx.try_recv() {
                    Ok(cmd) => {
                        weight += match &cmd {
                            Command::Append { events, .. } => events.len(),
                            _ => 1,
                        };
                        cmds.push(cmd);
                    }
                    Err(_) => break,
                }
            }
            self.process(cmds).await;
        }
    }

    async fn process(&mut self, cmds: Vec<Command>) {
        let mut work: Vec<AppendWork> = Vec::new();
        let mut pending: Vec<AppendReply> = Vec::new();
        let mut refreshes = Vec::new();
        let mut checkpoints = Vec::new();
        for cmd in cmds {
            match cmd {
                Command::Append {
                    events,
                    redactions,
                    hook,
                    reply,
                } => {
                    work.push((events, redactions, hook));
                    pending.push(reply);
                }
                Command::Refresh { reply } => refreshes.push(reply),
                Command::Checkpoint { signer, reply } => checkpoints.push((signer, reply)),
            }
        }
        if !work.is_empty() || !refreshes.is_empty() {
            let reply_count = work.len();
            match self.append_group(work, pending).await {
                Ok(outcomes) => {
                    let size = TreeSize(self.shared.committed.load(Ordering::Acquire));
                    for o in outcomes {
                        let _ = o.reply.send(o.result);
                    }
                    for r in refreshes {
                        let _ = r.send(Ok(size));
                    }
                }
                Err((e, replies)) => {
                    tracing::error!(error = %e, requests = reply_count, "group commit failed");
                    let msg = e.to_string();
                    for r in replies {
                        let _ = r.send(Err(StoreError::NotCommitted {
                            reason: msg.clone(),
                        }));
                    }
                    for r in refreshes {
                        let _ = r.send(Err(StoreError::NotCommitted {
                            reason: msg.clone(),
                        }));
                    }
                }
            }
        }
        for (signer, reply) in checkpoints {
            let result = self.sign_checkpoint(&signer).await;
            let _ = reply.send(result);
        }
    }

    /// Loads leaves committed by anyone (this process at start, or another process) into the tree.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        let last = sqlx::query("SELECT idx, entries FROM entry_bundles ORDER BY idx DESC LIMIT 1")
            .fetch_optional(&mut self.conn)
            .await?;
        let (db_size, tail) = match last {
            None => (0, Vec::new()),
            Some(row) => {
                let idx = row.try_get::<i64, _>(0)? as u64;
                let bytes: &[u8] = row.try_get(1)?;
                let entries = split_bundle(bytes)
                    .map_err(|e| StoreError::Inconsistent(format!("entry bundle {idx}: {e}")))?;
                let size = idx * TILE_WIDTH + entries.len() as u64;
                let tail = if entries.len() as u64 == TILE_WIDTH {
                    Vec::new()
                } else {
                    entries.iter().map(|e| e.to_vec()).collect()
                };
                (size, tail)
            }
        };
        let have = self
            .shared
            .tree
            .read()
            .map_err(|_| StoreError::WriterGone)?
            .size()
            .0;
        if db_size < have {
            return Err(StoreError::Inconsistent(format!(
                "the database holds {db_size} leaves but {have} were committed before; run `cts ledger verify`"
            )));
        }
        if db_size > have || !self.loaded {
            // A few tiles per query, each added with one `extend`: memory
            // holds the tree and one chunk of tiles, not every row at once.
            let mut next = have / TILE_WIDTH;
            // Reserve once, on the first load; later catch-ups grow the
            // tree like appends do (doubling), instead of reallocating it
            // exactly every time the slack runs out.
            let mut reserved = self.loaded;
            loop {
                let rows = sqlx::query(
                    "SELECT idx, hashes FROM tiles WHERE level = 0 AND idx >= ? ORDER BY idx LIMIT 64",
                )
                .bind(i64_of(next)?)
                .fetch_all(&mut self.conn)
                .await?;
                if rows.is_empty() {
                    break;
                }
                let mut tree = self
                    .shared
                    .tree
                    .write()
                    .map_err(|_| StoreError::WriterGone)?;
                if !reserved {
                    // Room for the log plus a few thousand appends, so that a
                    // command appending after loading does not double it.
                    let missing = db_size.saturating_sub(tree.size().0);
                    tree.reserve_exact(missing + 16 * TILE_WIDTH);
                    reserved = true;
                }
                for row in rows {
                    let idx = row.try_get::<i64, _>(0)? as u64;
                    next = idx + 1;
                    let bytes: &[u8] = row.try_get(1)?;
                    let width = bytes.len() as u64 / 32;
                    let hashes = decode_hash_tile(bytes, width)
                        .map_err(|e| StoreError::Inconsistent(format!("tile 0/{idx}: {e}")))?;
                    // The leaves of this tile the tree lacks, up to the log's size.
                    let start = idx * TILE_WIDTH;
                    let size = tree.size().0;
                    if start > size {
                        break;
                    }
                    let from = (size - start) as usize;
                    let to = hashes.len().min(db_size.saturating_sub(start) as usize);
                    if from < to {
                        tree.extend(&hashes[from..to]);
                    }
                }
            }
            let tree = self
                .shared
                .tree
                .read()
                .map_err(|_| StoreError::WriterGone)?;
            if tree.size().0 != db_size {
                return Err(StoreError::Inconsistent(format!(
                    "the tiles hold {} leaf hashes but the entry bundles hold {db_size} leaves; run `cts ledger verify`",
                    tree.size()
                )));
            }
            self.loaded = true;
        }
        self.tail = tail;
        self.shared.committed.store(db_size, Ordering::Release);
        Ok(())
    }

    async fn append_group(
        &mut self,
        work: Vec<AppendWork>,
        pending: Vec<AppendReply>,
    ) -> Result<Vec<Outcome>, (StoreError, Vec<AppendReply>)> {
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut self.conn).await {
            return Err((e.into(), pending));
        }
        let result = self.append_in_transaction(work).await;
        let base = TreeSize(self.shared.committed.load(Ordering::Acquire));
        let results = match result {
            Ok(results) => results,
            Err(e) => {
                self.roll_back(base).await;
                return Err((e, pending));
            }
        };
        if let Err(e) = sqlx::query("COMMIT").execute(&mut self.conn).await {
            self.roll_back(base).await;
            return Err((e.into(), pending));
        }
        let size = self
            .shared
            .tree
            .read()
            .map(|t| t.size().0)
            .unwrap_or(base.0);
        if let Some(tail) = self.pending_tail.take() {
            self.tail = tail;
        }
        self.shared.committed.store(size, Ordering::Release);
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        Ok(pending
            .into_iter()
            .zip(results)
            .map(|(reply, result)| Outcome { reply, result })
            .collect())
    }

    /// Abandons the transaction in progress: nothing of it stays in the
    /// database, the pending tail or the in-memory tree.
    async fn roll_back(&mut self, base: TreeSize) {
        let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
        self.pending_tail = None;
        if let Ok(mut t) = self.shared.tree.write() {
            t.truncate(base);
        }
    }

    async fn append_in_transaction(
        &mut self,
        work: Vec<AppendWork>,
    ) -> Result<Vec<Result<Vec<LeafIndex>, StoreError>>, StoreError> {
        self.catch_up().await?;
        let base = self.shared.committed.load(Ordering::Acquire);
        let mut next = base;
        let mut fresh: Vec<Vec<u8>> = Vec::new();
        let mut results = Vec::with_capacity(work.len());
        for (events, redactions, hook) in work {
            sqlx::query("SAVEPOINT request")
                .execute(&mut self.conn)
                .await?;
            let leaves: Vec<LeafIndex> = (0..events.len() as u64)
                .map(|i| LeafIndex(next + i))
                .collect();
            match self
                .write_request(&events, &redactions, hook, &leaves)
                .await
            {
                Ok(()) => {
                    sqlx::query("RELEASE request")
                        .execute(&mut self.conn)
                        .await?;
                    let mut tree = self
                        .shared
                        .tree
                        .write()
                        .map_err(|_| StoreError::WriterGone)?;
                    let hashes: Vec<Hash> = events.iter().map(|e| e.leaf_hash).collect();
                    tree.extend(&hashes);
                    drop(tree);
                    next += events.len() as u64;
                    fresh.extend(events.into_iter().map(|e| e.entry));
                    results.push(Ok(leaves));
                }
                Err(e) => {
                    sqlx::query("ROLLBACK TO request")
                        .execute(&mut self.conn)
                        .await?;
                    sqlx::query("RELEASE request")
                        .execute(&mut self.conn)
                        .await?;
                    results.push(Err(e));
                }
            }
        }
        if next > base {
            self.write_bundles(base, fresh).await?;
            self.write_tiles(TreeSize(base), TreeSize(next)).await?;
        }
        Ok(results)
    }

    async fn write_request(
        &mut self,
        events: &[PreparedEvent],
        redactions: &[Commitment],
        hook: Option<AppendHook>,
        leaves: &[LeafIndex],
    ) -> Result<(), StoreError> {
        for (e, leaf) in events.iter().zip(leaves) {
            for opening in &e.openings {
                sqlx::query(
                    "INSERT INTO content (commitment, leaf, salt, bytes) VALUES (?, ?, ?, ?)",
                )
                .bind(&opening.commitment().0[..])
                .bind(leaf.0 as i64)
                .bind(&opening.salt.0[..])
                .bind(&opening.content[..])
                .execute(&mut self.conn)
                .await?;
            }
        }
        if let Some(last) = leaves.last() {
            for c in redactions {
                let done = sqlx::query(
                    "UPDATE content SET salt = NULL, bytes = NULL, redacted_leaf = ? WHERE commitment = ? AND redacted_leaf IS NULL",
                )
                .bind(last.0 as i64)
                .bind(&c.0[..])
                .execute(&mut self.conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::NotFound {
                        what: "unredacted content with commitment",
                        id: c.to_string(),
                        hint: None,
                    });
                }
                // A submitted review keeps a working copy of its committed
                // body beside its row (queues and revisions read it): erase
                // it too, leaving only the rubric it was made with.
                sqlx::query(
                    "UPDATE reviews SET body = json_object('rubric', json_extract(body, '$.rubric'), 'steps', json('[]'))
                     WHERE commitment = ?",
                )
                .bind(&c.0[..])
                .execute(&mut self.conn)
                .await?;
            }
        }
        if let Some(hook) = hook {
            hook(&mut self.conn, leaves).await?;
        }
        Ok(())
    }

    /// Writes the entry bundles from leaf `base` on: the old partial bundle
    /// completed with `fresh` entries, then new bundles. The new partial
    /// bundle becomes the tail once the transaction commits.
    async fn write_bundles(&mut self, base: u64, fresh: Vec<Vec<u8>>) -> Result<(), StoreError> {
        let mut combined = self.tail.clone();
        combined.extend(fresh);
        let first = base / TILE_WIDTH;
        for (i, chunk) in combined.chunks(TILE_WIDTH as usize).enumerate() {
            let bytes =
                encode_bundle(chunk.iter().map(Vec::as_slice)).map_err(StoreError::Bundle)?;
            sqlx::query("INSERT OR REPLACE INTO entry_bundles (idx, entries) VALUES (?, ?)")
                .bind(i64_of(first + i as u64)?)
                .bind(bytes)
                .execute(&mut self.conn)
                .await?;
        }
        let keep = combined.len() % TILE_WIDTH as usize;
        self.pending_tail = Some(combined.split_off(combined.len() - keep));
        Ok(())
    }

    /// Rewrites every hash tile that changed between two sizes.
    async fn write_tiles(&mut self, old: TreeSize, new: TreeSize) -> Result<(), StoreError> {
        let mut updates = Vec::new();
        {
            let tree = self
                .shared
                .tree
                .read()
                .map_err(|_| StoreError::WriterGone)?;
            for tile_level in 0u8.. {
                let shift = u32::from(tile_level) * u32::from(TILE_HEIGHT);
                if shift >= 64 {
                    break;
                }
                let (old_count, new_count) = (old.0 >> shift, new.0 >> shift);
                if new_count == old_count {
                    break;
                }
                for idx in old_count / TILE_WIDTH..=(new_count - 1) / TILE_WIDTH {
                    let start = idx * TILE_WIDTH;
                    let end = (start + TILE_WIDTH).min(new_count);
                    let hashes = tree
                        .level_slice(tile_level * TILE_HEIGHT, start, end)
                        .ok_or_else(|| {
                            StoreError::Inconsistent("tree is shorter than its tiles".into())
                        })?;
                    updates.push((tile_level, idx, encode_hash_tile(hashes)));
                }
            }
        }
        for (level, idx, bytes) in updates {
            sqlx::query("INSERT OR REPLACE INTO tiles (level, idx, hashes) VALUES (?, ?, ?)")
                .bind(i64::from(level))
                .bind(idx as i64)
                .bind(bytes)
                .execute(&mut self.conn)
                .await?;
        }
        Ok(())
    }

    async fn sign_checkpoint(
        &mut self,
        signer: &LogSigner,
    ) -> Result<StoredCheckpoint, StoreError> {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut self.conn)
            .await?;
        let result = self.sign_in_transaction(signer).await;
        match &result {
            Ok(cp) => {
                sqlx::query("COMMIT").execute(&mut self.conn).await?;
                // After the commit: a crash in between leaves the file one
                // checkpoint behind the database, which is still consistent.
                let newer = match read_anchor(&self.anchor, signer.verifier())? {
                    Some(a) => a.size < cp.size,
                    None => true,
                };
                if newer {
                    write_anchor(&self.anchor, &cp.note)?;
                }
            }
            Err(_) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut self.conn).await;
            }
        }
        result
    }

    /// The kind of the log's first event.
    async fn first_kind(&mut self) -> Result<Option<String>, StoreError> {
        let bundle: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT entries FROM entry_bundles WHERE idx = 0")
                .fetch_optional(&mut self.conn)
                .await?;
        let Some(bundle) = bundle else {
            return Ok(None);
        };
        let entries = split_bundle(&bundle)
            .map_err(|e| StoreError::Inconsistent(format!("entry bundle 0: {e}")))?;
        Ok(entries
            .first()
            .and_then(|e| cts_ledger::Event::decode(e).ok())
            .map(|e| e.kind.as_str().to_owned()))
    }

    async fn sign_in_transaction(
        &mut self,
        signer: &LogSigner,
    ) -> Result<StoredCheckpoint, StoreError> {
        self.catch_up().await?;
        let size = TreeSize(self.shared.committed.load(Ordering::Acquire));
        let verifier = signer.verifier();
        let last = sqlx::query(
            "SELECT id, size, root, note, signed_at FROM checkpoints ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut self.conn)
        .await?
        .as_ref()
        .map(checkpoint_row)
        .transpose()?;
        // What was signed, never the unsigned columns beside it: the latest
        // stored note and the copy kept outside the database, each opened
        // with the log's key.
        let mut signed = Vec::new();
        if let Some(l) = &last {
            let opened = verifier
                .open(&l.note)
                .map_err(|source| StoreError::Unverified {
                    what: format!("checkpoint #{}", l.id),
                    source,
                })?;
            signed.push((format!("checkpoint #{}", l.id), opened));
        } else if size.0 > 1
            && read_anchor(&self.anchor, verifier)?.is_none()
            && self.first_kind().await?.as_deref() == Some("log.created")
        {
            // `cts init` records `log.created` and signs at once (at size 1),
            // so such a log grown past it without any checkpoint had its
            // checkpoints deleted.
            return Err(StoreError::Inconsistent(format!(
                "the log holds {size} leaves but no signed checkpoint, in the database or in {}; refusing to sign (run `cts ledger verify`)",
                self.anchor.display()
            )));
        }
        if let Some(a) = read_anchor(&self.anchor, verifier)? {
            signed.push((format!("the checkpoint in {}", self.anchor.display()), a));
        }
        let root = {
            let tree = self
                .shared
                .tree
                .read()
                .map_err(|_| StoreError::WriterGone)?;
            let root = tree.root(size)?;
            for (what, cp) in &signed {
                if cp.size > size {
                    return Err(StoreError::Inconsistent(format!(
                        "{what} signed {} leaves but the log holds {size}; refusing to sign",
                        cp.size
                    )));
                }
                if cp.size.0 > 0 {
                    let proof = tree.consistency_proof(cp.size, size)?;
                    verify_consistency(cp.size, size, cp.root, root, &proof).map_err(|e| {
                        StoreError::Inconsistent(format!(
                            "the tree of {size} leaves is not consistent with {what} ({} leaves): {e}; refusing to sign",
                            cp.size
                        ))
                    })?;
                }
            }
            root
        };
        if let (Some(last), Some((_, opened))) = (&last, signed.first()) {
            if opened.size == size && opened.root == root {
                return Ok(last.clone());
            }
        }
        let signed = signer.sign(size, root)?;
        let signed_at = cts_ledger::event::now_rfc3339();
        let id: i64 = sqlx::query_scalar("INSERT INTO checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?) RETURNING id")
            .bind(i64_of(size.0)?)
            .bind(&root.0[..])
            .bind(&signed.note[..])
            .bind(&signed_at)
            .fetch_one(&mut self.conn)
            .await?;
        Ok(StoredCheckpoint {
            id,
            size,
            root,
            note: signed.note,
            signed_at,
        })
    }
}

/// Where the latest signed checkpoint of the database at `db` is kept
/// outside it: `<db>.checkpoint`, as C2SP tlog-tiles publishes `checkpoint`.
pub fn anchor_path(db: &Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".checkpoint");
    std::path::PathBuf::from(name)
}

/// Reads and opens the checkpoint kept beside the database; `None` when
/// there is none yet (a store made before it existed).
fn read_anchor(
    path: &Path,
    verifier: &cts_ledger::LogVerifier,
) -> Result<Option<cts_ledger::SignedCheckpoint>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::File {
                doing: "reading",
                path: path.to_owned(),
                source,
            })
        }
    };
    verifier
        .open(&bytes)
        .map(Some)
        .map_err(|source| StoreError::Unverified {
            what: format!("the checkpoint in {}", path.display()),
            source,
        })
}

/// Replaces the file atomically: a temporary file, fsync, rename, fsync of the folder.
fn write_anchor(path: &Path, note: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let io = |source: std::io::Error| StoreError::File {
        doing: "writing",
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(note).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

impl Ledger {
    /// Path of the checkpoint kept outside the database.
    pub fn anchor_path(&self) -> std::path::PathBuf {
        anchor_path(&self.path)
    }

    /// The checkpoint kept outside the database, opened with the log's key.
    pub fn anchor(
        &self,
        verifier: &cts_ledger::LogVerifier,
    ) -> Result<Option<cts_ledger::SignedCheckpoint>, StoreError> {
        read_anchor(&self.anchor_path(), verifier)
    }

    /// Refuses a store whose log is behind, or not consistent with, the
    /// checkpoint kept beside it: the database was rolled back, replaced or
    /// rewritten. Returns that checkpoint when there is one.
    pub async fn check_anchor(
        &self,
        verifier: &cts_ledger::LogVerifier,
    ) -> Result<Option<cts_ledger::SignedCheckpoint>, StoreError> {
        let Some(anchor) = self.anchor(verifier)? else {
            return Ok(None);
        };
        let size = self.refresh().await?;
        if anchor.size > size {
            return Err(StoreError::Inconsistent(format!(
                "the database holds {size} leaves but the checkpoint in {} signs {}: the database was rolled back or replaced",
                self.anchor_path().display(),
                anchor.size
            )));
        }
        if anchor.size.0 > 0 && self.root(anchor.size).await? != anchor.root {
            return Err(StoreError::Inconsistent(format!(
                "the log's first {} leaves hash to another root than the checkpoint in {} signs: the log was rewritten",
                anchor.size,
                self.anchor_path().display()
            )));
        }
        Ok(Some(anchor))
    }
}
