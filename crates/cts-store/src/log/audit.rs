//! Full audit: recompute everything from the stored events and check every
//! stored checkpoint, tile and piece of content against it.

use std::collections::HashMap;

use cts_ledger::proof::verify_consistency;
use cts_ledger::tile::{decode_hash_tile, split_bundle, TILE_HEIGHT, TILE_WIDTH};
use cts_ledger::{leaf_hash, Commitment, Hash, LogVerifier, MemTree, Salt, TreeSize};
use rayon::prelude::*;
use sqlx::{Row, SqlitePool};

use super::Ledger;
use crate::StoreError;

const CHUNK: i64 = 16_384;
const BUNDLES_PER_READ: i64 = 64;
const MAX_FAILURES: usize = 100;

/// One thing found wrong, and where.
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct AuditFailure {
    /// Where: `leaf 17`, `checkpoint #3`, `tile 0/2`, `content <hex>`.
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for AuditFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.problem)
    }
}

/// Result of a full audit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditReport {
    /// Leaves recomputed.
    pub leaves: u64,
    /// Root of the recomputed tree (base64).
    pub root: String,
    /// Checkpoints checked.
    pub checkpoints: usize,
    /// Content rows checked against their commitments.
    pub content_checked: u64,
    /// Content rows erased by redaction.
    pub content_redacted: u64,
    /// Everything found wrong, first failure first (at most 100).
    pub failures: Vec<AuditFailure>,
}

impl AuditReport {
    /// Whether everything holds.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }
}

struct Findings(Vec<AuditFailure>);

impl Findings {
    fn add(&mut self, place: impl Into<String>, problem: impl Into<String>) {
        if self.0.len() < MAX_FAILURES {
            self.0.push(AuditFailure {
                place: place.into(),
                problem: problem.into(),
            });
        }
    }
}

struct Decoded {
    hash: Hash,
    error: Option<String>,
    content: Vec<Commitment>,
    redacts: Vec<Commitment>,
}

/// The envelope fields the audit needs; the rest is skipped unparsed.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    subjects: Vec<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    content: std::collections::BTreeMap<String, Commitment>,
}

/// Hashes an entry and extracts the commitments it makes or erases.
///
/// Integrity rests on the hash; the canonical form was checked on append and
/// is checked again by `cts verify` on an export. Entries that mention no
/// content are not parsed at all, which keeps the audit hash-bound.
fn decode(entry: &[u8]) -> Decoded {
    let hash = leaf_hash(entry);
    let mentions_content = memchr::memmem::find(entry, b"\"content").is_some();
    if !mentions_content {
        return Decoded {
            hash,
            error: None,
            content: Vec::new(),
            redacts: Vec::new(),
        };
    }
    match serde_json::from_slice::<Envelope>(entry) {
        Ok(e) => {
            let redacts = if e.kind == "content.redacted" {
                e.subjects
                    .iter()
                    .filter_map(|s| s.strip_prefix("content:")?.parse().ok())
                    .collect()
            } else {
                Vec::new()
            };
            Decoded {
                hash,
                error: None,
                content: e.content.into_values().collect(),
                redacts,
            }
        }
        Err(err) => Decoded {
            hash,
            error: Some(err.to_string()),
            content: Vec::new(),
            redacts: Vec::new(),
        },
    }
}

/// Recomputes the tree from every stored event and checks every tile,
/// checkpoint (signature, size, root, consistency) and content commitment.
/// `progress` is called with the number of leaves done.
///
/// One function per check, in this order: the stored leaf hashes
/// ([`read_leaf_tiles`]), the events replayed against them
/// ([`replay_entries`]), the higher tiles, the checkpoints and the content.
pub(crate) async fn audit(
    pool: &SqlitePool,
    verifier: &LogVerifier,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<AuditReport, StoreError> {
    let mut found = Findings(Vec::new());
    let stored_leaves = read_leaf_tiles(pool, &mut found).await?;
    let replayed = replay_entries(pool, &stored_leaves, &mut found, progress).await?;
    drop(stored_leaves);
    check_higher_tiles(pool, &replayed.tree, &mut found).await?;
    let checkpoints = check_checkpoints(pool, verifier, &replayed.tree, &mut found).await?;
    let content = check_content(pool, &replayed, &mut found).await?;
    let size = replayed.tree.size();
    let root = replayed.tree.root(size)?;
    Ok(AuditReport {
        leaves: size.0,
        root: cts_ledger::hash_to_base64(&root),
        checkpoints,
        content_checked: content.checked,
        content_redacted: content.redacted,
        failures: found.0,
    })
}

/// The stored leaf hashes (level-0 tiles), to name the first altered leaf.
async fn read_leaf_tiles(pool: &SqlitePool, found: &mut Findings) -> Result<Vec<Hash>, StoreError> {
    let mut stored_leaves: Vec<Hash> = Vec::new();
    let rows = sqlx::query("SELECT idx, hashes FROM tiles WHERE level = 0 ORDER BY idx")
        .fetch_all(pool)
        .await?;
    for row in &rows {
        let idx: i64 = row.try_get(0)?;
        let bytes: Vec<u8> = row.try_get(1)?;
        if idx as u64 * TILE_WIDTH != stored_leaves.len() as u64 || !bytes.len().is_multiple_of(32)
        {
            found.add(
                format!("tile 0/{idx}"),
                "leaf-hash tile is missing, misplaced or malformed",
            );
            break;
        }
        stored_leaves.extend(decode_hash_tile(&bytes, bytes.len() as u64 / 32).unwrap_or_default());
    }
    Ok(stored_leaves)
}

/// What replaying the events yields: the recomputed tree, and which leaf
/// commits to (or erases) each piece of content.
struct Replayed {
    tree: MemTree,
    referenced: HashMap<Commitment, u64>,
    redactions: HashMap<Commitment, u64>,
}

/// Reads every entry bundle in order, hashes its entries in parallel,
/// compares each with its stored leaf hash and builds the tree; names
/// missing, partial and malformed bundles and a truncated log.
async fn replay_entries(
    pool: &SqlitePool,
    stored_leaves: &[Hash],
    found: &mut Findings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Replayed, StoreError> {
    let mut tree = MemTree::new();
    let mut referenced: HashMap<Commitment, u64> = HashMap::new();
    let mut redactions: HashMap<Commitment, u64> = HashMap::new();
    let mut next_bundle: u64 = 0;
    let mut short_bundle: Option<u64> = None;
    loop {
        let rows = sqlx::query(
            "SELECT idx, entries FROM entry_bundles WHERE idx >= ? ORDER BY idx LIMIT ?",
        )
        .bind(next_bundle as i64)
        .bind(BUNDLES_PER_READ)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            break;
        }
        let mut bundles: Vec<(u64, Vec<u8>)> = Vec::with_capacity(rows.len());
        for row in rows {
            bundles.push((row.try_get::<i64, _>(0)? as u64, row.try_get(1)?));
        }
        // Split every bundle of the chunk, then hash all its entries in parallel.
        let mut entries: Vec<&[u8]> = Vec::with_capacity(bundles.len() * TILE_WIDTH as usize);
        for (idx, bytes) in &bundles {
            let at = tree.size().0 + entries.len() as u64;
            if *idx != next_bundle {
                found.add(
                    format!("leaf {at}"),
                    format!("missing: entry bundle {next_bundle} is gone, the next stored one is {idx} (a row was deleted)"),
                );
            }
            if let Some(short) = short_bundle {
                found.add(
                    format!("leaf {at}"),
                    format!("entry bundle {short} is partial but is not the last one"),
                );
            }
            let split = split_bundle(bytes).unwrap_or_else(|e| {
                found.add(
                    format!("leaf {at}"),
                    format!("entry bundle {idx} is malformed: {e}"),
                );
                Vec::new()
            });
            if split.len() as u64 != TILE_WIDTH {
                short_bundle = Some(*idx);
            }
            entries.extend(split);
            next_bundle = idx + 1;
        }
        let decoded: Vec<Decoded> = entries.par_iter().map(|e| decode(e)).collect();
        let hashes: Vec<Hash> = decoded.iter().map(|d| d.hash).collect();
        let base = tree.size().0;
        for (i, d) in decoded.into_iter().enumerate() {
            let position = base + i as u64;
            if let Some(err) = d.error {
                found.add(
                    format!("leaf {position}"),
                    format!("entry is not a valid CTS event: {err}"),
                );
            }
            match stored_leaves.get(position as usize) {
                Some(h) if *h == d.hash => {}
                Some(_) => found.add(
                    format!("leaf {position}"),
                    "entry does not match its stored leaf hash (the event was altered or rows were moved)",
                ),
                None => found.add(format!("leaf {position}"), "no stored leaf hash (tiles are shorter than the events)"),
            }
            for c in d.content {
                referenced.insert(c, position);
            }
            for c in d.redacts {
                redactions.insert(c, position);
            }
        }
        tree.extend(&hashes);
        progress(tree.size().0);
    }
    let size = tree.size();
    if (stored_leaves.len() as u64) > size.0 {
        found.add(
            format!("leaf {}", size.0),
            format!("missing: the tiles commit to {} leaves but only {} events are stored (the log was truncated)", stored_leaves.len(), size.0),
        );
    }
    Ok(Replayed {
        tree,
        referenced,
        redactions,
    })
}

/// Every stored tile above level 0 against the recomputed tree.
async fn check_higher_tiles(
    pool: &SqlitePool,
    tree: &MemTree,
    found: &mut Findings,
) -> Result<(), StoreError> {
    let rows =
        sqlx::query("SELECT level, idx, hashes FROM tiles WHERE level > 0 ORDER BY level, idx")
            .fetch_all(pool)
            .await?;
    for row in rows {
        let (level, idx): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let bytes: Vec<u8> = row.try_get(2)?;
        let start = idx as u64 * TILE_WIDTH;
        let width = bytes.len() as u64 / 32;
        let want = u8::try_from(level)
            .ok()
            .and_then(|l| l.checked_mul(TILE_HEIGHT))
            .and_then(|l| tree.level_slice(l, start, start + width));
        let got = decode_hash_tile(&bytes, width).ok();
        if want.is_none() || got.as_deref() != want {
            found.add(
                format!("tile {level}/{idx}"),
                "hash tile differs from the tree recomputed from the events",
            );
        }
    }
    Ok(())
}

/// Every stored checkpoint: its signature, its columns against its note, its
/// root against the recomputed tree, and consistency with the one before;
/// and a `cts init` log must have at least one. Returns how many were read.
async fn check_checkpoints(
    pool: &SqlitePool,
    verifier: &LogVerifier,
    tree: &MemTree,
    found: &mut Findings,
) -> Result<usize, StoreError> {
    let size = tree.size();
    let rows = sqlx::query("SELECT id, size, root, note FROM checkpoints ORDER BY id")
        .fetch_all(pool)
        .await?;
    let checkpoints = rows.len();
    let mut previous: Option<(i64, TreeSize, Hash)> = None;
    for row in rows {
        let id: i64 = row.try_get(0)?;
        let place = format!("checkpoint #{id}");
        let note: Vec<u8> = row.try_get(3)?;
        let opened = match verifier.open(&note) {
            Ok(o) => o,
            Err(e) => {
                found.add(place, format!("signature or format is invalid: {e}"));
                continue;
            }
        };
        let stored_size = row.try_get::<i64, _>(1)? as u64;
        let stored_root: Vec<u8> = row.try_get(2)?;
        if opened.size.0 != stored_size || opened.root.0[..] != stored_root[..] {
            found.add(
                place.clone(),
                "stored size/root columns differ from the signed note",
            );
        }
        let signed = opened.size;
        if signed > size {
            found.add(
                place,
                format!(
                    "signs {signed} leaves but the log holds only {size} (the log was truncated)"
                ),
            );
            continue;
        }
        let root = tree.root(signed)?;
        if root != opened.root {
            let since = previous.map_or(0, |p| p.1 .0);
            found.add(
                place,
                format!("the events hash to another root at size {signed}: an event among leaves {since}..{signed} was altered after this checkpoint was signed"),
            );
            continue;
        }
        if let Some((pid, psize, proot)) = previous {
            if psize > signed {
                found.add(
                    place.clone(),
                    format!("size {signed} is smaller than checkpoint #{pid}'s {psize}"),
                );
            } else if psize.0 > 0 {
                let proof = tree.consistency_proof(psize, signed)?;
                if verify_consistency(psize, signed, proot, root, &proof).is_err() {
                    found.add(
                        place.clone(),
                        format!("not consistent with checkpoint #{pid}"),
                    );
                }
            }
        }
        previous = Some((id, signed, root));
    }

    let from_init = entries_first_kind(pool).await?.as_deref() == Some("log.created");
    if checkpoints == 0 && size.0 > 1 && from_init {
        found.add(
            "checkpoints",
            format!("the log holds {size} leaves but no signed checkpoint (`cts init` signs one at once, so rows were deleted)"),
        );
    }
    Ok(checkpoints)
}

/// What the content check counted.
struct ContentCounts {
    checked: u64,
    redacted: u64,
}

/// One stored content row, read for the check.
struct ContentRow {
    raw: Vec<u8>,
    leaf: u64,
    salt: Option<Vec<u8>>,
    bytes: Option<Vec<u8>>,
    redacted: Option<i64>,
}

/// Every content row: committed by the leaf it names, opening its
/// commitment (hashed in parallel), or erased by a `content.redacted`
/// event; then every commitment whose row is gone.
async fn check_content(
    pool: &SqlitePool,
    replayed: &Replayed,
    found: &mut Findings,
) -> Result<ContentCounts, StoreError> {
    let mut counts = ContentCounts {
        checked: 0,
        redacted: 0,
    };
    let mut seen = 0usize;
    let mut after: Vec<u8> = Vec::new();
    loop {
        let rows = sqlx::query("SELECT commitment, leaf, salt, bytes, redacted_leaf FROM content WHERE commitment > ? ORDER BY commitment LIMIT ?")
            .bind(&after[..])
            .bind(CHUNK)
            .fetch_all(pool)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        let mut chunk = Vec::with_capacity(rows.len());
        for row in rows {
            chunk.push(ContentRow {
                raw: row.try_get(0)?,
                leaf: row.try_get::<i64, _>(1)? as u64,
                salt: row.try_get(2)?,
                bytes: row.try_get(3)?,
                redacted: row.try_get(4)?,
            });
        }
        // Opening a commitment hashes the whole content: in parallel.
        let opens: Vec<bool> = chunk
            .par_iter()
            .map(
                |r| match (<[u8; 32]>::try_from(r.raw.as_slice()), &r.salt, &r.bytes) {
                    (Ok(c), Some(salt), Some(bytes)) => <[u8; 32]>::try_from(salt.as_slice())
                        .is_ok_and(|s| Commitment::compute(&Salt(s), bytes) == Commitment(c)),
                    _ => false,
                },
            )
            .collect();
        for (row, opens) in chunk.into_iter().zip(opens) {
            let Ok(c) = <[u8; 32]>::try_from(row.raw.as_slice()).map(Commitment) else {
                found.add(
                    format!("content {}", hex::encode(&row.raw)),
                    "malformed commitment",
                );
                continue;
            };
            let place = format!("content {c}");
            let leaf = row.leaf;
            match replayed.referenced.get(&c) {
                Some(&at) if at == leaf => seen += 1,
                Some(&at) => {
                    seen += 1;
                    found.add(
                        place.clone(),
                        format!("stored as committed by leaf {leaf}, but leaf {at} commits to it"),
                    );
                }
                None => found.add(place.clone(), "no event commits to this content"),
            }
            match (row.salt.is_some(), row.bytes.is_some(), row.redacted) {
                (true, true, None) => {
                    counts.checked += 1;
                    if !opens {
                        found.add(
                            place,
                            format!("stored content (leaf {leaf}) does not match its commitment"),
                        );
                    }
                }
                (false, false, Some(at)) => {
                    counts.redacted += 1;
                    if replayed.redactions.get(&c) != Some(&(at as u64)) {
                        found.add(
                            place,
                            format!("erased, but leaf {at} is not a content.redacted event for it"),
                        );
                    }
                }
                _ => found.add(
                    place,
                    format!("content of leaf {leaf} is missing without a redaction"),
                ),
            }
        }
    }
    if seen < replayed.referenced.len() {
        // Name the first event (by leaf) whose content row is gone.
        let mut missing: Vec<(u64, Commitment)> = Vec::new();
        for (c, leaf) in &replayed.referenced {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM content WHERE commitment = ?")
                    .bind(&c.0[..])
                    .fetch_optional(pool)
                    .await?;
            if exists.is_none() {
                missing.push((*leaf, *c));
            }
        }
        missing.sort();
        for (leaf, c) in missing {
            found.add(
                format!("leaf {leaf}"),
                format!("content {c} it commits to is not stored"),
            );
        }
    }
    Ok(counts)
}

/// The kind of the log's first event (`log.created` in a `cts init` project,
/// which signs its first checkpoint at once).
async fn entries_first_kind(pool: &SqlitePool) -> Result<Option<String>, StoreError> {
    let bundle: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT entries FROM entry_bundles WHERE idx = 0")
            .fetch_optional(pool)
            .await?;
    Ok(bundle.and_then(|b| {
        split_bundle(&b)
            .ok()?
            .first()
            .and_then(|e| cts_ledger::Event::decode(e).ok())
            .map(|e| e.kind.as_str().to_owned())
    }))
}

impl Ledger {
    /// [`audit`] of this log: the tree recomputed from every stored event,
    /// every tile, checkpoint and content commitment checked.
    pub async fn audit(
        &self,
        verifier: &LogVerifier,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<AuditReport, StoreError> {
        audit(self.pool(), verifier, progress).await
    }

    /// Checks the signed checkpoint kept outside the database
    /// (`<db>.checkpoint`) against the log and the stored checkpoints: the
    /// log must not be behind it or inconsistent with it, and the database
    /// must still hold it.
    pub async fn audit_anchor(
        &self,
        verifier: &LogVerifier,
    ) -> Result<Vec<AuditFailure>, StoreError> {
        audit_anchor(self, verifier).await
    }
}

async fn audit_anchor(
    ledger: &Ledger,
    verifier: &LogVerifier,
) -> Result<Vec<AuditFailure>, StoreError> {
    let place = format!("checkpoint file {}", ledger.anchor_path().display());
    let anchor = match ledger.check_anchor(verifier).await {
        Ok(Some(a)) => a,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            return Ok(vec![AuditFailure {
                place,
                problem: e.to_string(),
            }])
        }
    };
    let held: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM checkpoints WHERE size = ? AND root = ?")
            .bind(anchor.size.0 as i64)
            .bind(&anchor.root.0[..])
            .fetch_optional(ledger.pool())
            .await?;
    Ok(if held.is_none() {
        vec![AuditFailure {
            place,
            problem: format!(
                "signs {} leaves, a checkpoint the database no longer holds (checkpoint rows were deleted or altered)",
                anchor.size
            ),
        }]
    } else {
        Vec::new()
    })
}
