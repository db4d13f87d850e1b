//! Checking a release.
//!
//! [`verify_release`] needs nothing but the release folder and the log's
//! verifier key: the checkpoint's signature, the level-0 hash tiles against
//! its root, every evidence entry against its tile hash, every file against
//! the manifest, and every example against its provenance record (its
//! line's digest, and that each leaf it names holds an event of the right
//! kind, about the right subject, carrying the right commitment — every
//! review that qualified it, and the adjudication that chose the standing
//! one, each trace with exactly one standing review). When the
//! release carries `release.tlog-proof`, that the ledger's
//! `dataset.released` event commits to this very manifest.
//!
//! [`check_against_store`] rebuilds the release from the store at the same
//! checkpoint and names every example the store no longer supports.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use cts_ledger::bundle::ProofBundle;
use cts_ledger::tile::{decode_hash_tile, tiles_for};
use cts_ledger::{hash_from_base64, leaf_hash, Event, Hash, LogSigner, LogVerifier, MemTree};
use cts_store::Store;
use sha2::{Digest, Sha256};

use crate::build::BuildOptions;
use crate::derive::{Provenance, ReviewRef, ReviewRole};
use crate::manifest::{ManifestIn, MANIFEST_FORMAT};
use crate::spec::Spec;
use crate::DatasetError;

/// What a verified release holds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifyReport {
    /// Release name.
    pub name: String,
    /// Log origin.
    pub origin: String,
    /// Checkpoint size.
    pub checkpoint_size: u64,
    /// Examples checked.
    pub examples: u64,
    /// Files checked.
    pub files: usize,
    /// Evidence entries checked.
    pub evidence_leaves: u64,
    /// SHA-256 of manifest.json.
    pub manifest_sha256: String,
    /// The `dataset.released` leaf, when the release carries its proof.
    pub release_leaf: Option<u64>,
}

struct Summary {
    kind: String,
    subjects: Vec<String>,
    commitments: Vec<[u8; 32]>,
}

fn fail(msg: impl Into<String>) -> DatasetError {
    DatasetError::Verify(msg.into())
}

fn read(dir: &Path, rel: &str) -> Result<Vec<u8>, DatasetError> {
    std::fs::read(dir.join(rel)).map_err(|e| fail(format!("{rel}: {e}")))
}

#[derive(serde::Deserialize)]
struct EvidenceLine {
    leaf: u64,
    entry: String,
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: String,
}

/// Verifies a release folder offline (see the module docs).
pub fn verify_release(dir: &Path, verifier: &LogVerifier) -> Result<VerifyReport, DatasetError> {
    let manifest_bytes = read(dir, "manifest.json")?;
    let manifest: ManifestIn =
        serde_json::from_slice(&manifest_bytes).map_err(|e| fail(format!("manifest.json: {e}")))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(fail(format!(
            "manifest.json: format {:?} is not {MANIFEST_FORMAT:?}",
            manifest.format
        )));
    }
    let manifest_sha256 = hex::encode(Sha256::digest(&manifest_bytes));

    // The signed checkpoint and the tree under it.
    let cp = verifier
        .open(&read(dir, &manifest.evidence.checkpoint)?)
        .map_err(|e| fail(format!("{}: {e}", manifest.evidence.checkpoint)))?;
    if cp.size.0 != manifest.checkpoint.size
        || hash_from_base64(&manifest.checkpoint.root) != Some(cp.root)
    {
        return Err(fail(
            "manifest.json: its checkpoint differs from the signed evidence/checkpoint",
        ));
    }
    let mut leaves: Vec<Hash> = Vec::with_capacity(cp.size.0 as usize);
    for coord in tiles_for(cp.size).into_iter().filter(|c| c.level == 0) {
        let rel = format!("evidence/{}", coord.path());
        let hashes = decode_hash_tile(&read(dir, &rel)?, coord.width)
            .map_err(|e| fail(format!("{rel}: {e}")))?;
        leaves.extend(hashes);
    }
    let tree = MemTree::from_leaf_hashes(leaves.iter().copied())
        .map_err(|e| fail(format!("evidence tiles: {e}")))?;
    let root = tree
        .root(cp.size)
        .map_err(|e| fail(format!("evidence tiles: {e}")))?;
    if root != cp.root {
        return Err(fail(
            "evidence tiles: the leaf hashes do not hash to the signed root",
        ));
    }

    // Evidence entries.
    let entries_bytes = read(dir, &manifest.evidence.entries)?;
    if hex::encode(Sha256::digest(&entries_bytes)) != manifest.evidence.entries_sha256 {
        return Err(fail(format!(
            "{}: its SHA-256 differs from the manifest's",
            manifest.evidence.entries
        )));
    }
    let mut events: HashMap<u64, Summary> = HashMap::new();
    for (i, line) in entries_bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let e: EvidenceLine = serde_json::from_slice(line).map_err(|err| {
            fail(format!(
                "{} line {}: {err}",
                manifest.evidence.entries,
                i + 1
            ))
        })?;
        let hash = leaves.get(e.leaf as usize).ok_or_else(|| {
            fail(format!(
                "{} line {}: leaf {} lies beyond the checkpoint",
                manifest.evidence.entries,
                i + 1,
                e.leaf
            ))
        })?;
        if leaf_hash(e.entry.as_bytes()) != *hash {
            return Err(fail(format!(
                "{} line {}: the entry of leaf {} does not hash to the leaf hash under the signed root",
                manifest.evidence.entries,
                i + 1,
                e.leaf
            )));
        }
        let event = Event::decode(e.entry.as_bytes())
            .map_err(|err| fail(format!("leaf {}: {err}", e.leaf)))?;
        events.insert(
            e.leaf,
            Summary {
                kind: event.kind.as_str().to_owned(),
                subjects: event.subjects.clone(),
                commitments: event.content.values().map(|c| c.0).collect(),
            },
        );
    }

    // Files and examples.
    for f in &manifest.files {
        check_file(dir, f, &events)?;
    }

    // The release event, when present.
    let proof_path = dir.join("release.tlog-proof");
    let release_leaf = if proof_path.exists() {
        let bytes =
            std::fs::read(&proof_path).map_err(|e| fail(format!("release.tlog-proof: {e}")))?;
        let bundle =
            ProofBundle::parse(&bytes).map_err(|e| fail(format!("release.tlog-proof: {e}")))?;
        let verified = bundle
            .verify(verifier, None)
            .map_err(|e| fail(format!("release.tlog-proof: {e}")))?;
        let event =
            Event::decode(&verified.entry).map_err(|e| fail(format!("release.tlog-proof: {e}")))?;
        if event.kind.as_str() != "dataset.released"
            || event.body.get("manifest_sha256").and_then(|v| v.as_str()) != Some(&manifest_sha256)
        {
            return Err(fail(
                "release.tlog-proof: the ledgered dataset.released event does not commit to this manifest.json",
            ));
        }
        Some(verified.index.0)
    } else {
        None
    };
    Ok(VerifyReport {
        name: manifest.name,
        origin: cp.origin,
        checkpoint_size: cp.size.0,
        examples: manifest.examples,
        files: manifest.files.len(),
        evidence_leaves: events.len() as u64,
        manifest_sha256,
        release_leaf,
    })
}

fn check_file(
    dir: &Path,
    f: &crate::manifest::FileEntry,
    events: &HashMap<u64, Summary>,
) -> Result<(), DatasetError> {
    let open = |rel: &str| -> Result<std::io::BufReader<std::fs::File>, DatasetError> {
        Ok(std::io::BufReader::new(
            std::fs::File::open(dir.join(rel)).map_err(|e| fail(format!("{rel}: {e}")))?,
        ))
    };
    let mut data = open(&f.path)?.lines();
    let mut prov = open(&f.provenance)?.lines();
    let (mut h_data, mut h_prov) = (Sha256::new(), Sha256::new());
    let mut n = 0u64;
    loop {
        let (d, p) = (data.next(), prov.next());
        let (d, p) = match (d, p) {
            (None, None) => break,
            (Some(d), Some(p)) => (
                d.map_err(|e| fail(format!("{}: {e}", f.path)))?,
                p.map_err(|e| fail(format!("{}: {e}", f.provenance)))?,
            ),
            _ => {
                return Err(fail(format!(
                    "{} and {} have different numbers of lines",
                    f.path, f.provenance
                )))
            }
        };
        n += 1;
        h_data.update(d.as_bytes());
        h_data.update(b"\n");
        h_prov.update(p.as_bytes());
        h_prov.update(b"\n");
        let record: Provenance = serde_json::from_str(&p)
            .map_err(|e| fail(format!("{} line {n}: {e}", f.provenance)))?;
        let bad = |reason: String| DatasetError::Provenance {
            example: record.id.clone(),
            file: f.path.clone(),
            line: n,
            reason,
        };
        let id: IdOnly = serde_json::from_str(&d)
            .map_err(|e| bad(format!("not a JSON record with an id: {e}")))?;
        if id.id != record.id {
            return Err(bad(format!(
                "the line holds example {:?}, its provenance names {:?}",
                id.id, record.id
            )));
        }
        if hex::encode(Sha256::digest(d.as_bytes())) != record.sha256 {
            return Err(bad("the example was altered after the release was built (its SHA-256 differs from its provenance record)".into()));
        }
        check_provenance(&record, events).map_err(bad)?;
    }
    if n != f.examples {
        return Err(fail(format!(
            "{}: {n} lines, the manifest says {}",
            f.path, f.examples
        )));
    }
    if hex::encode(h_data.finalize()) != f.sha256 {
        return Err(fail(format!(
            "{}: its SHA-256 differs from the manifest's",
            f.path
        )));
    }
    if hex::encode(h_prov.finalize()) != f.provenance_sha256 {
        return Err(fail(format!(
            "{}: its SHA-256 differs from the manifest's",
            f.provenance
        )));
    }
    Ok(())
}

fn check_provenance(p: &Provenance, events: &HashMap<u64, Summary>) -> Result<(), String> {
    let check = |leaf: u64,
                 kind: &str,
                 subjects: &[String],
                 commitment: Option<&str>|
     -> Result<(), String> {
        let e = events
            .get(&leaf)
            .ok_or_else(|| format!("leaf {leaf} is not in the release's evidence"))?;
        if e.kind != kind {
            return Err(format!("leaf {leaf} is a {} event, not {kind}", e.kind));
        }
        for s in subjects {
            if !e.subjects.contains(s) {
                return Err(format!("leaf {leaf} ({kind}) is not about {s}"));
            }
        }
        if let Some(c) = commitment {
            let mut raw = [0u8; 32];
            hex::decode_to_slice(c, &mut raw).map_err(|e| format!("commitment {c}: {e}"))?;
            if !e.commitments.contains(&raw) {
                return Err(format!("leaf {leaf} ({kind}) does not commit to the content the example was built from"));
            }
        }
        Ok(())
    };
    check(
        p.case.leaf,
        "case.imported",
        &[format!("case:{}", p.case.id)],
        Some(&p.case.commitment),
    )?;
    let trace_ids: HashSet<&str> = p.traces.iter().map(|t| t.id.as_str()).collect();
    for t in &p.traces {
        check(
            t.leaf,
            "trace.generated",
            &[format!("trace:{}", t.id), format!("case:{}", p.case.id)],
            Some(&t.commitment),
        )?;
    }
    for r in &p.reviews {
        check(
            r.leaf,
            "review.submitted",
            &[format!("review:{}", r.id)],
            Some(&r.commitment),
        )?;
        let about = events
            .get(&r.leaf)
            .map(|e| {
                e.subjects.iter().any(|s| {
                    s.strip_prefix("trace:")
                        .is_some_and(|t| trace_ids.contains(t))
                })
            })
            .unwrap_or(false);
        if !about {
            return Err(format!(
                "review {} (leaf {}) is not about this example's trace",
                r.id, r.leaf
            ));
        }
        for &l in &r.edit_leaves {
            check(l, "step.edited", &[format!("review:{}", r.id)], None)?;
        }
    }
    for a in &p.adjudications {
        check(
            a.leaf,
            "adjudication.decided",
            &[format!("trace:{}", a.trace), format!("review:{}", a.chosen)],
            None,
        )?;
    }
    check_roles(p, events)
}

/// Each trace has one standing review; an adjudication of it chose that
/// review; reviews named as weighed by an adjudicator come with the
/// adjudication. Releases built before roles were recorded name none.
fn check_roles(p: &Provenance, events: &HashMap<u64, Summary>) -> Result<(), String> {
    if p.reviews.iter().all(|r| r.role.is_none()) {
        return Ok(());
    }
    if let Some(r) = p.reviews.iter().find(|r| r.role.is_none()) {
        return Err(format!("review {} has no role", r.id));
    }
    for t in &p.traces {
        let subject = format!("trace:{}", t.id);
        let about = |r: &&ReviewRef| {
            events
                .get(&r.leaf)
                .is_some_and(|e| e.subjects.contains(&subject))
        };
        let standing: Vec<&ReviewRef> = p
            .reviews
            .iter()
            .filter(about)
            .filter(|r| r.role == Some(ReviewRole::Standing))
            .collect();
        let [standing] = standing[..] else {
            return Err(format!(
                "trace {}: {} standing reviews are named, not one",
                t.id,
                standing.len()
            ));
        };
        let adjudication = p.adjudications.iter().find(|a| a.trace == t.id);
        if let Some(a) = adjudication {
            if a.chosen != standing.id {
                return Err(format!(
                    "trace {}: the adjudication (leaf {}) chose {}, not the standing review {}",
                    t.id, a.leaf, a.chosen, standing.id
                ));
            }
        }
        if let Some(r) = p
            .reviews
            .iter()
            .filter(about)
            .find(|r| r.role == Some(ReviewRole::Considered))
        {
            if adjudication.is_none() {
                return Err(format!(
                    "review {} is named as weighed by an adjudicator, but no adjudication of trace {} is named",
                    r.id, t.id
                ));
            }
        }
    }
    Ok(())
}

/// An example the store no longer supports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Mismatch {
    /// Example id.
    pub example: String,
    /// Its file.
    pub file: String,
    /// What is wrong.
    pub reason: String,
}

/// Rebuilds the release from the store at its checkpoint (nothing is
/// ledgered) and compares it, example by example. Returns the examples the
/// store no longer supports, empty when all match.
pub async fn check_against_store(
    store: &Store,
    signer: Arc<LogSigner>,
    verifier: &LogVerifier,
    dir: &Path,
) -> Result<Vec<Mismatch>, DatasetError> {
    let manifest: ManifestIn = serde_json::from_slice(&read(dir, "manifest.json")?)
        .map_err(|e| fail(format!("manifest.json: {e}")))?;
    let spec = spec_from_json(&manifest.spec)?;
    let scratch = tempdir_beside(dir)?;
    let out = scratch.join("rebuild");
    let rebuilt = crate::build::build(
        store,
        signer,
        verifier,
        BuildOptions {
            spec,
            out: out.clone(),
            at_checkpoint: Some(manifest.checkpoint.size),
            record: false,
            actor: String::new(),
            allow_tampered: true,
            progress: Box::new(|_| {}),
        },
    )
    .await;
    let result = compare(store, dir, &out, &manifest, rebuilt).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn compare(
    store: &Store,
    dir: &Path,
    out: &Path,
    manifest: &ManifestIn,
    rebuilt: Result<crate::build::BuildReport, DatasetError>,
) -> Result<Vec<Mismatch>, DatasetError> {
    let (tampered, have_rebuild): (HashMap<String, String>, bool) = match rebuilt {
        Ok(r) => (r.tally.tampered.into_iter().collect(), true),
        Err(DatasetError::Empty(_)) => (HashMap::new(), false),
        Err(e) => return Err(e),
    };
    let mut mismatches = Vec::new();
    for f in &manifest.files {
        let mut now: HashMap<String, String> = HashMap::new();
        if have_rebuild && out.join(&f.provenance).exists() {
            for p in provenance_records(&out.join(&f.provenance), "rebuild")? {
                let p = p?;
                now.insert(p.id, p.sha256);
            }
        }
        for p in provenance_records(&dir.join(&f.provenance), &f.provenance)? {
            let p = p?;
            let why_trace = p
                .traces
                .iter()
                .find_map(|t| tampered.get(&t.id).map(|w| format!("trace {}: {w}", t.id)));
            let reason = match now.get(&p.id) {
                Some(sha) if *sha == p.sha256 => {
                    let edits: Vec<u64> = p.reviews.iter().flat_map(|r| r.edit_leaves.iter().copied()).collect();
                    store.ledger().check_edit_content(&edits).await?
                }
                Some(_) => Some("the store now derives a different example (a review, edit or trace behind it changed)".into()),
                None => Some(why_trace.unwrap_or_else(|| "the store no longer supports this example (it would not be selected now)".into())),
            };
            if let Some(reason) = reason {
                mismatches.push(Mismatch {
                    example: p.id,
                    file: f.path.clone(),
                    reason,
                });
            }
        }
    }
    Ok(mismatches)
}

/// The records of a provenance file, one per line.
fn provenance_records(
    path: &Path,
    name: &str,
) -> Result<impl Iterator<Item = Result<Provenance, DatasetError>>, DatasetError> {
    let file = std::fs::File::open(path).map_err(|e| fail(format!("{name}: {e}")))?;
    let name = name.to_owned();
    Ok(std::io::BufReader::new(file).lines().map(move |line| {
        let line = line.map_err(|e| fail(format!("{name}: {e}")))?;
        serde_json::from_str(&line).map_err(|e| fail(format!("{name}: {e}")))
    }))
}

fn tempdir_beside(dir: &Path) -> Result<std::path::PathBuf, DatasetError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let p = parent.join(format!(
        ".cts-check-{}",
        hex::encode(rand::random::<[u8; 8]>())
    ));
    std::fs::create_dir_all(&p).map_err(|e| fail(format!("{}: {e}", p.display())))?;
    Ok(p)
}

/// The spec recorded in a manifest.
pub fn spec_from_json(v: &serde_json::Value) -> Result<Spec, DatasetError> {
    Spec::from_json(v).map_err(|e| fail(format!("manifest.json: spec: {e}")))
}

/// One event of an offline trace, as the verified evidence holds it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvidenceEvent {
    /// Leaf index.
    pub leaf: u64,
    /// Event kind.
    pub kind: String,
    /// Who (for clinicians, their pseudonym: `user:R-…`).
    pub actor: String,
    /// When.
    pub time: String,
    /// The event's body (ratings, labels, flags, model identity, tags …).
    pub body: serde_json::Value,
}

/// An example traced offline: its provenance and the verified events behind it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OfflineExample {
    /// Example id.
    pub id: String,
    /// Its file.
    pub file: String,
    /// Why its standing review stands.
    pub basis: String,
    /// The case event (body: specialty, tags incl. `policy:` ids).
    pub case: EvidenceEvent,
    /// Trace events (body: model identity, parameters, template).
    pub traces: Vec<EvidenceEvent>,
    /// Every review that qualified it (actor: the clinician's pseudonym;
    /// body: labels, flags, ratings), standing review first.
    pub reviews: Vec<OfflineReview>,
    /// Edit events.
    pub edits: Vec<EvidenceEvent>,
    /// Adjudication events.
    pub adjudications: Vec<EvidenceEvent>,
}

/// A review behind an example traced offline.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OfflineReview {
    /// Review id.
    pub id: String,
    /// The part it played (None in releases built before roles were recorded).
    pub role: Option<ReviewRole>,
    /// Its verified `review.submitted` event.
    #[serde(flatten)]
    pub event: EvidenceEvent,
}

/// What to trace offline.
#[derive(Clone, Copy, Debug)]
pub enum OfflineQuery<'a> {
    /// One example by id.
    Example(&'a str),
    /// Every example whose case is tagged `policy:<id>`.
    Policy(&'a str),
}

/// Verifies the release (as [`verify_release`]), then answers `query` from
/// its provenance and evidence alone: no database, only the key.
pub fn trace_offline(
    dir: &Path,
    verifier: &LogVerifier,
    query: OfflineQuery,
) -> Result<(VerifyReport, Vec<OfflineExample>), DatasetError> {
    let report = verify_release(dir, verifier)?;
    let manifest: ManifestIn = serde_json::from_slice(&read(dir, "manifest.json")?)
        .map_err(|e| fail(format!("manifest.json: {e}")))?;
    let mut events: HashMap<u64, EvidenceEvent> = HashMap::new();
    for line in read(dir, &manifest.evidence.entries)?.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let e: EvidenceLine =
            serde_json::from_slice(line).map_err(|e| fail(format!("evidence: {e}")))?;
        let ev = Event::decode(e.entry.as_bytes())
            .map_err(|err| fail(format!("leaf {}: {err}", e.leaf)))?;
        events.insert(
            e.leaf,
            EvidenceEvent {
                leaf: e.leaf,
                kind: ev.kind.as_str().to_owned(),
                actor: ev.actor,
                time: ev.time,
                body: ev.body,
            },
        );
    }
    let get = |leaf: u64| {
        events
            .get(&leaf)
            .cloned()
            .ok_or_else(|| fail(format!("leaf {leaf} is not in the evidence")))
    };
    let tag = match query {
        OfflineQuery::Policy(p) => Some(format!("policy:{p}")),
        OfflineQuery::Example(_) => None,
    };
    let mut out = Vec::new();
    for f in &manifest.files {
        for p in provenance_records(&dir.join(&f.provenance), &f.provenance)? {
            let p = p?;
            let wanted = match (query, &tag) {
                (OfflineQuery::Example(id), _) => p.id == id,
                (OfflineQuery::Policy(_), Some(tag)) => get(p.case.leaf)?
                    .body
                    .get("tags")
                    .and_then(|t| t.as_array())
                    .is_some_and(|t| t.iter().any(|v| v.as_str() == Some(tag))),
                _ => false,
            };
            if !wanted {
                continue;
            }
            out.push(OfflineExample {
                id: p.id.clone(),
                file: f.path.clone(),
                basis: p.basis.clone(),
                case: get(p.case.leaf)?,
                traces: p
                    .traces
                    .iter()
                    .map(|t| get(t.leaf))
                    .collect::<Result<_, _>>()?,
                reviews: p
                    .reviews
                    .iter()
                    .map(|r| {
                        Ok(OfflineReview {
                            id: r.id.clone(),
                            role: r.role,
                            event: get(r.leaf)?,
                        })
                    })
                    .collect::<Result<_, DatasetError>>()?,
                edits: p
                    .reviews
                    .iter()
                    .flat_map(|r| r.edit_leaves.iter().map(|&l| get(l)))
                    .collect::<Result<_, _>>()?,
                adjudications: p
                    .adjudications
                    .iter()
                    .map(|a| get(a.leaf))
                    .collect::<Result<_, _>>()?,
            });
        }
    }
    if out.is_empty() {
        return Err(fail(match query {
            OfflineQuery::Example(id) => format!("no example {id:?} in this release"),
            OfflineQuery::Policy(p) => {
                format!("no example of this release comes from a case tagged policy:{p}")
            }
        }));
    }
    Ok((report, out))
}
