//! Building a release: stream the reviewed state at a checkpoint, derive
//! examples, write each export and its provenance, the evidence an auditor
//! needs offline, and the manifest; then ledger the release.
//!
//! The release is written into a temporary folder beside the target and
//! renamed into place only when complete, so a failed build leaves nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use cts_ledger::{LeafIndex, LogSigner, LogVerifier, TreeSize};
use cts_review::Rubric;
use cts_store::releases::{ExampleReview, ExampleRow, NewRelease};
use cts_store::{Store, StoreError, StoredCheckpoint};
use sha2::{Digest, Sha256};

use crate::derive::{derive_group, Example, Provenance, Tally};
use crate::manifest::{CheckpointInfo, EvidenceInfo, FileEntry, Manifest, MANIFEST_FORMAT};
use crate::spec::{Format, Spec};
use crate::split::SPLITS;
use crate::DatasetError;

/// How to build.
pub struct BuildOptions {
    /// The spec.
    pub spec: Spec,
    /// Output folder (must not exist, or be empty).
    pub out: PathBuf,
    /// Build at this stored checkpoint size instead of signing a new one.
    pub at_checkpoint: Option<u64>,
    /// Ledger the release (`dataset.released`) and index its examples.
    pub record: bool,
    /// Actor recorded on the release event.
    pub actor: String,
    /// Leave out traces whose content fails its commitment instead of
    /// failing (for checking an existing release against the store).
    pub allow_tampered: bool,
    /// Called with the number of traces read so far.
    pub progress: Box<dyn Fn(u64) + Send + Sync>,
}

/// What a build produced.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildReport {
    /// Build id (also the release's id in the ledger).
    pub build: String,
    /// Release name.
    pub name: String,
    /// Output folder.
    pub dir: PathBuf,
    /// Ledger size the release was built from.
    pub checkpoint_size: u64,
    /// SHA-256 of manifest.json.
    pub manifest_sha256: String,
    /// Examples in all exports.
    pub examples: u64,
    /// Examples per export and split.
    pub counts: BTreeMap<String, BTreeMap<String, u64>>,
    /// Selection tally.
    pub tally: Tally,
    /// Leaves whose entries the evidence holds.
    pub evidence_leaves: u64,
    /// The `dataset.released` leaf, when recorded.
    pub leaf: Option<u64>,
}

struct Sink {
    path: String,
    prov_path: String,
    file: std::io::BufWriter<std::fs::File>,
    prov: std::io::BufWriter<std::fs::File>,
    hash: Sha256,
    prov_hash: Sha256,
    bytes: u64,
    examples: u64,
}

struct LeafSet {
    bits: Vec<u64>,
    count: u64,
}

impl LeafSet {
    fn new(size: u64) -> Self {
        LeafSet {
            bits: vec![0; size.div_ceil(64) as usize],
            count: 0,
        }
    }

    /// Adds `leaf`; whether it was new.
    fn insert(&mut self, leaf: u64) -> Result<bool, DatasetError> {
        let (w, b) = ((leaf / 64) as usize, leaf % 64);
        let word = self.bits.get_mut(w).ok_or_else(|| {
            DatasetError::Store(StoreError::Inconsistent(format!(
                "leaf {leaf} lies beyond the checkpoint"
            )))
        })?;
        if *word & (1 << b) == 0 {
            *word |= 1 << b;
            self.count += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn contains(&self, leaf: u64) -> bool {
        self.bits
            .get((leaf / 64) as usize)
            .is_some_and(|w| w & (1 << (leaf % 64)) != 0)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Example index rows per staged batch.
const STAGE_BATCH: usize = 512;

/// Every leaf a provenance record names, with the content commitment the
/// leaf's event must carry (None for edits, whose content is not exported).
pub fn provenance_leaves(p: &Provenance) -> Vec<(u64, Option<&str>)> {
    let mut out = vec![(p.case.leaf, Some(p.case.commitment.as_str()))];
    for t in &p.traces {
        out.push((t.leaf, Some(t.commitment.as_str())));
    }
    for r in &p.reviews {
        out.push((r.leaf, Some(r.commitment.as_str())));
        out.extend(r.edit_leaves.iter().map(|&l| (l, None)));
    }
    for a in &p.adjudications {
        out.push((a.leaf, None));
    }
    out
}

struct Writer {
    tmp: PathBuf,
    sinks: BTreeMap<(Format, usize), Sink>,
    leaves: LeafSet,
    /// The first 8 bytes of the commitment each named leaf's event must
    /// carry, once per leaf (16 bytes a leaf), sorted before use. The
    /// offline verifier checks the whole commitment named in the provenance;
    /// this catches a row that points at other content before a release is
    /// written.
    commitments: Vec<(u64, u64)>,
    stager: Option<cts_store::releases::Stager>,
    batch: Vec<ExampleRow>,
    examples: u64,
}

/// Examples per export and split.
type Counts = BTreeMap<String, BTreeMap<String, u64>>;

/// The example index copying into the store on its own thread.
type Indexing = std::thread::JoinHandle<Result<u64, StoreError>>;

impl Writer {
    /// A writer into `tmp` for a checkpoint of `size` leaves, staging the
    /// example index when given a stager.
    fn new(tmp: &Path, size: TreeSize, stager: Option<cts_store::releases::Stager>) -> Self {
        Writer {
            tmp: tmp.to_owned(),
            sinks: BTreeMap::new(),
            leaves: LeafSet::new(size.0),
            commitments: Vec::new(),
            stager,
            batch: Vec::with_capacity(STAGE_BATCH),
            examples: 0,
        }
    }

    fn sink(&mut self, format: Format, split: &'static str) -> Result<&mut Sink, DatasetError> {
        let si = SPLITS.iter().position(|s| *s == split).unwrap_or(0);
        if !self.sinks.contains_key(&(format, si)) {
            let rel = format!("{}/{split}.jsonl", format.name());
            let prov_rel = format!("provenance/{}/{split}.jsonl", format.name());
            for r in [&rel, &prov_rel] {
                let p = self.tmp.join(r);
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir).map_err(io(dir))?;
                }
            }
            let open = |r: &str| -> Result<std::io::BufWriter<std::fs::File>, DatasetError> {
                let p = self.tmp.join(r);
                Ok(std::io::BufWriter::with_capacity(
                    1 << 16,
                    std::fs::File::create(&p).map_err(io(&p))?,
                ))
            };
            let sink = Sink {
                file: open(&rel)?,
                prov: open(&prov_rel)?,
                path: rel,
                prov_path: prov_rel,
                hash: Sha256::new(),
                prov_hash: Sha256::new(),
                bytes: 0,
                examples: 0,
            };
            self.sinks.insert((format, si), sink);
        }
        self.sinks
            .get_mut(&(format, si))
            .ok_or_else(|| DatasetError::Worker("sink vanished".into()))
    }

    fn write(&mut self, ex: Example) -> Result<(), DatasetError> {
        for (leaf, commitment) in provenance_leaves(&ex.provenance) {
            if !self.leaves.insert(leaf)? {
                continue;
            }
            if let Some(c) = commitment {
                self.commitments.push((leaf, commitment_prefix(c)?));
            }
        }
        let prov_line =
            serde_json::to_string(&ex.provenance).map_err(|source| DatasetError::Encode {
                what: "provenance".into(),
                source,
            })?;
        if let Some(stager) = &self.stager {
            let p = &ex.provenance;
            self.batch.push(ExampleRow {
                id: p.id.clone(),
                export: ex.format.name().into(),
                split: ex.split.into(),
                case_id: p.case.id.clone(),
                case_version: p.case.version,
                traces: p.traces.iter().map(|t| t.id.clone()).collect(),
                reviews: p
                    .reviews
                    .iter()
                    .map(|r| ExampleReview {
                        id: r.id.clone(),
                        role: r.role,
                        adjudication: p
                            .adjudications
                            .iter()
                            .find(|a| a.chosen == r.id)
                            .map(|a| a.leaf),
                    })
                    .collect(),
            });
            if self.batch.len() >= STAGE_BATCH {
                stager.send(std::mem::take(&mut self.batch))?;
            }
        }
        let tmp = self.tmp.clone();
        let sink = self.sink(ex.format, ex.split)?;
        for (w, h, line) in [
            (&mut sink.file, &mut sink.hash, ex.line.as_bytes()),
            (&mut sink.prov, &mut sink.prov_hash, prov_line.as_bytes()),
        ] {
            w.write_all(line).map_err(io(&tmp))?;
            w.write_all(b"\n").map_err(io(&tmp))?;
            h.update(line);
            h.update(b"\n");
        }
        sink.bytes += ex.line.len() as u64 + 1;
        sink.examples += 1;
        self.examples += 1;
        Ok(())
    }

    /// Sends the last staged batch and starts copying the example index into
    /// the store on its own thread (none when the build is not recorded).
    fn start_indexing(&mut self) -> Result<Option<Indexing>, DatasetError> {
        let Some(stager) = self.stager.take() else {
            return Ok(None);
        };
        if !self.batch.is_empty() {
            stager.send(std::mem::take(&mut self.batch))?;
        }
        Ok(Some(std::thread::spawn(move || stager.finish())))
    }

    /// Flushes and syncs every export file and its provenance; the
    /// manifest's file entries and the examples per export and split.
    fn close_sinks(&mut self) -> Result<(Vec<FileEntry>, Counts), DatasetError> {
        let tmp = &self.tmp;
        let mut files = Vec::new();
        let mut counts = Counts::new();
        for ((format, si), mut sink) in std::mem::take(&mut self.sinks) {
            sink.file.flush().map_err(io(tmp))?;
            sink.prov.flush().map_err(io(tmp))?;
            sink.file.get_ref().sync_all().map_err(io(tmp))?;
            sink.prov.get_ref().sync_all().map_err(io(tmp))?;
            counts
                .entry(format.name().into())
                .or_default()
                .insert(SPLITS[si].into(), sink.examples);
            files.push(FileEntry {
                path: sink.path,
                export: format.name().into(),
                split: SPLITS[si].into(),
                examples: sink.examples,
                bytes: sink.bytes,
                sha256: hex::encode(sink.hash.finalize()),
                provenance: sink.prov_path,
                provenance_sha256: hex::encode(sink.prov_hash.finalize()),
            });
        }
        Ok((files, counts))
    }
}

/// Builds a release (see the module docs). `signer` signs the checkpoint
/// the build reads at (when `at_checkpoint` is not given) and the one that
/// covers the release event.
pub async fn build(
    store: &Store,
    signer: Arc<LogSigner>,
    verifier: &LogVerifier,
    opts: BuildOptions,
) -> Result<BuildReport, DatasetError> {
    let build_id = hex::encode(rand::random::<[u8; 12]>());
    let out = opts.out.clone();
    if out.exists() && std::fs::read_dir(&out).map_err(io(&out))?.next().is_some() {
        return Err(DatasetError::OutputNotEmpty(out));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "release".into());
    let tmp = out.with_file_name(format!(".{name}.building-{build_id}"));
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let result = build_into(store, &signer, verifier, &opts, &build_id, &tmp).await;
    match result {
        Ok((mut report, manifest)) => {
            if out.exists() {
                std::fs::remove_dir(&out).map_err(io(&out))?;
            }
            std::fs::rename(&tmp, &out).map_err(io(&out))?;
            report.dir = out.clone();
            if opts.record {
                report.leaf = Some(
                    ledger_release(store, signer, verifier, &opts.actor, &report, manifest).await?,
                );
            }
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            let _ = cts_store::releases::discard_build(store, &build_id).await;
            Err(e)
        }
    }
}

/// Ledgers a built release moved into place at `report.dir`
/// (`dataset.released`, with its example index), then writes
/// `release.tlog-proof` there: the event's inclusion proof in a new
/// checkpoint, checked first. Returns the event's leaf; a failed record
/// discards the staged index.
async fn ledger_release(
    store: &Store,
    signer: Arc<LogSigner>,
    verifier: &LogVerifier,
    actor: &str,
    report: &BuildReport,
    manifest: Vec<u8>,
) -> Result<u64, DatasetError> {
    let recorded = cts_store::releases::record_release(
        store,
        actor,
        NewRelease {
            build: report.build.clone(),
            name: report.name.clone(),
            manifest_sha256: report.manifest_sha256.clone(),
            manifest,
            checkpoint_size: report.checkpoint_size,
            examples: report.examples as i64,
            counts: serde_json::to_value(&report.counts).unwrap_or_default(),
            dir: report.dir.display().to_string(),
        },
    )
    .await;
    let leaf = match recorded {
        Ok(l) => l,
        Err(e) => {
            let _ = cts_store::releases::discard_build(store, &report.build).await;
            return Err(e.into());
        }
    };
    let cp = store.ledger().checkpoint(signer).await?;
    let bundle = store.ledger().proof_bundle(LeafIndex(leaf), &cp).await?;
    bundle
        .verify(verifier, None)
        .map_err(DatasetError::ReleaseProof)?;
    let p = report.dir.join("release.tlog-proof");
    std::fs::write(&p, bundle.to_text()).map_err(io(&p))?;
    Ok(leaf)
}

/// Writes the release into `tmp`, step by step: read the checkpoint and
/// rubrics, derive and write the examples, close the export files, write
/// the evidence while the example index is copied, write the manifest.
/// Returns the report and the manifest's bytes.
async fn build_into(
    store: &Store,
    signer: &Arc<LogSigner>,
    verifier: &LogVerifier,
    opts: &BuildOptions,
    build_id: &str,
    tmp: &Path,
) -> Result<(BuildReport, Vec<u8>), DatasetError> {
    let cp = read_checkpoint(store, signer, opts.at_checkpoint).await?;
    let rubrics = rubrics_by_key(store).await?;
    let stager = opts
        .record
        .then(|| cts_store::releases::Stager::start(store, build_id));
    let mut w = Writer::new(tmp, cp.size, stager);
    let b = BuildContext {
        store,
        verifier,
        opts,
        tmp,
        cp,
        started: Instant::now(),
    };
    let tally = b.derive_examples(&rubrics, &mut w).await?;
    b.check_selection(&tally, w.examples)?;
    // Copying the staged index into the store (a write on the stager's
    // thread) overlaps syncing the files and writing the evidence (reads).
    let indexing = w.start_indexing()?;
    let (files, counts) = w.close_sinks()?;
    tracing::debug!(seconds = b.started.elapsed().as_secs_f64(), "files synced");
    let evidence_leaves = w.leaves.count;
    let evidence = b.evidence_while_indexing(&mut w, indexing).await?;
    let bytes = b.write_manifest(files, evidence, w.examples, &tally)?;
    let report = BuildReport {
        build: build_id.to_owned(),
        name: opts.spec.name.clone(),
        dir: tmp.to_owned(),
        checkpoint_size: b.cp.size.0,
        manifest_sha256: hex::encode(Sha256::digest(&bytes)),
        examples: w.examples,
        counts,
        tally,
        evidence_leaves,
        leaf: None,
    };
    Ok((report, bytes))
}

/// The checkpoint a build reads at: the stored one of size `at`, or a
/// newly signed one.
async fn read_checkpoint(
    store: &Store,
    signer: &Arc<LogSigner>,
    at: Option<u64>,
) -> Result<StoredCheckpoint, DatasetError> {
    Ok(match at {
        Some(size) => store.ledger().checkpoint_of_size(TreeSize(size)).await.map_err(|_| {
            DatasetError::Invalid(format!(
                "--at-checkpoint {size}: no signed checkpoint of that size is stored (see `cts ledger checkpoints`)"
            ))
        })?,
        None => store.ledger().checkpoint(signer.clone()).await?,
    })
}

/// Every registered rubric by its key (`id@version`).
async fn rubrics_by_key(store: &Store) -> Result<HashMap<String, Rubric>, DatasetError> {
    Ok(cts_store::review::rubrics(store)
        .await?
        .into_iter()
        .map(|r| (r.key(), r))
        .collect())
}

/// What the steps of one build share.
struct BuildContext<'a> {
    store: &'a Store,
    verifier: &'a LogVerifier,
    opts: &'a BuildOptions,
    /// The folder the release is written into.
    tmp: &'a Path,
    /// The checkpoint the release is built from.
    cp: StoredCheckpoint,
    /// When deriving began (the debug log's timings).
    started: Instant,
}

impl BuildContext<'_> {
    /// Streams every case group at the checkpoint, derives its examples
    /// and writes them; the selection tally.
    async fn derive_examples(
        &self,
        rubrics: &HashMap<String, Rubric>,
        w: &mut Writer,
    ) -> Result<Tally, DatasetError> {
        let mut tally = Tally::default();
        let mut traces_read = 0u64;
        cts_store::datasets::for_each_case_group(self.store, self.cp.size, |group| {
            let (examples, t) = derive_group(&self.opts.spec, rubrics, &group);
            traces_read += group.traces.len() as u64;
            (self.opts.progress)(traces_read);
            tally.merge(t);
            for ex in examples {
                w.write(ex)?;
            }
            Ok::<(), DatasetError>(())
        })
        .await?;
        tracing::debug!(
            seconds = self.started.elapsed().as_secs_f64(),
            examples = w.examples,
            "examples written"
        );
        Ok(tally)
    }

    /// Fails on tampered content (unless allowed) and on a release with no
    /// examples, saying what was left out.
    fn check_selection(&self, tally: &Tally, examples: u64) -> Result<(), DatasetError> {
        if !tally.tampered.is_empty() && !self.opts.allow_tampered {
            let (trace, why) = &tally.tampered[0];
            return Err(DatasetError::Tampered(format!(
                "trace {trace}: {why} ({} traces affected); run `cts ledger verify`",
                tally.tampered.len()
            )));
        }
        if examples == 0 {
            return Err(DatasetError::Empty(format!(
                "the spec selects no examples at checkpoint {} ({} traces read, {} qualified; left out: {})",
                self.cp.size.0,
                tally.traces,
                tally.qualified,
                serde_json::to_string(&tally.excluded).unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Writes `evidence/` (see [`write_evidence`]), then waits for the
    /// example index to be copied; an indexing failure is reported before
    /// an evidence one.
    async fn evidence_while_indexing(
        &self,
        w: &mut Writer,
        indexing: Option<Indexing>,
    ) -> Result<EvidenceInfo, DatasetError> {
        let evidence = write_evidence(self.store, self.verifier, &self.cp, w, self.tmp).await;
        if let Some(indexing) = indexing {
            indexing
                .join()
                .map_err(|_| DatasetError::Worker("the example index writer panicked".into()))??;
            tracing::debug!(
                seconds = self.started.elapsed().as_secs_f64(),
                "example index copied"
            );
        }
        let evidence = evidence?;
        tracing::debug!(
            seconds = self.started.elapsed().as_secs_f64(),
            leaves = evidence.leaves,
            "evidence written"
        );
        Ok(evidence)
    }

    /// Writes `manifest.json`; its bytes.
    fn write_manifest(
        &self,
        files: Vec<FileEntry>,
        evidence: EvidenceInfo,
        examples: u64,
        tally: &Tally,
    ) -> Result<Vec<u8>, DatasetError> {
        let spec = &self.opts.spec;
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            name: spec.name.clone(),
            spec: spec.clone(),
            checkpoint: CheckpointInfo {
                origin: self.verifier.origin().to_owned(),
                size: self.cp.size.0,
                root: cts_ledger::hash_to_base64(&self.cp.root),
                note: String::from_utf8_lossy(&self.cp.note).into_owned(),
            },
            examples,
            files,
            evidence,
            tally: tally.clone(),
        };
        let bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|source| DatasetError::Encode {
                what: "manifest".into(),
                source,
            })?;
        let p = self.tmp.join("manifest.json");
        std::fs::write(&p, &bytes).map_err(io(&p))?;
        Ok(bytes)
    }
}

/// Bytes of evidence lines handed from the reading thread to the writing one at a time.
const EVIDENCE_CHUNK: usize = 1 << 18;

/// Writes `evidence/`: the signed checkpoint, the verifier key, the level-0
/// hash tiles of the tree at the checkpoint, and the entries of every leaf
/// an example names, checking each entry carries the commitment used.
///
/// One blocking thread reads the entry bundles, checks and encodes the
/// lines; another writes and hashes them, a chunk at a time.
async fn write_evidence(
    store: &Store,
    verifier: &LogVerifier,
    cp: &StoredCheckpoint,
    w: &mut Writer,
    tmp: &Path,
) -> Result<EvidenceInfo, DatasetError> {
    let dir = tmp.join("evidence");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    std::fs::write(dir.join("checkpoint"), &cp.note).map_err(io(&dir))?;
    std::fs::write(dir.join("log.pub"), verifier.key_text()).map_err(io(&dir))?;
    let n_tiles = store
        .ledger()
        .with_tree(cp.size, |tree| write_leaf_tiles(tree, cp.size, &dir))
        .await??;
    let leaves = std::mem::replace(&mut w.leaves, LeafSet::new(0));
    let mut commitments = std::mem::take(&mut w.commitments);
    commitments.sort_unstable_by_key(|(leaf, _)| *leaf);
    let db = store.path().to_owned();
    let size = cp.size;
    let path = dir.join("entries.jsonl");
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let writer = std::thread::spawn({
        let path = path.clone();
        move || -> Result<String, DatasetError> {
            let mut file = std::fs::File::create(&path).map_err(io(&path))?;
            let mut hash = Sha256::new();
            for chunk in rx {
                file.write_all(&chunk).map_err(io(&path))?;
                hash.update(&chunk);
            }
            file.sync_all().map_err(io(&path))?;
            Ok(hex::encode(hash.finalize()))
        }
    });
    let read = tokio::task::spawn_blocking(move || -> Result<u64, DatasetError> {
        let mut written = 0u64;
        let mut next = commitments.iter().peekable();
        let mut chunk = Vec::with_capacity(EVIDENCE_CHUNK + 4096);
        let gone = || DatasetError::Worker("the evidence writer stopped".into());
        cts_store::log::read::for_each_entry_blocking(
            &db,
            size,
            |l| leaves.contains(l),
            |leaf, entry| {
                while next.peek().is_some_and(|(l, _)| *l < leaf) {
                    next.next();
                }
                if let Some((_, want)) = next.next_if(|(l, _)| *l == leaf) {
                    check_commitment(leaf, entry, *want)?;
                }
                let text = std::str::from_utf8(entry)
                    .map_err(|e| DatasetError::Tampered(format!("leaf {leaf}: {e}")))?;
                serde_json::to_writer(&mut chunk, &EvidenceLine { leaf, entry: text }).map_err(
                    |source| DatasetError::Encode {
                        what: format!("entry {leaf}"),
                        source,
                    },
                )?;
                chunk.push(b'\n');
                if chunk.len() >= EVIDENCE_CHUNK {
                    let full =
                        std::mem::replace(&mut chunk, Vec::with_capacity(EVIDENCE_CHUNK + 4096));
                    tx.send(full).map_err(|_| gone())?;
                }
                written += 1;
                Ok::<(), DatasetError>(())
            },
        )?;
        if !chunk.is_empty() {
            tx.send(chunk).map_err(|_| gone())?;
        }
        Ok(written)
    })
    .await
    .map_err(|e| DatasetError::Worker(format!("reading evidence: {e}")));
    let wrote = writer
        .join()
        .map_err(|_| DatasetError::Worker("the evidence writer panicked".into()))?;
    let written = read??;
    let sha = wrote?;
    Ok(EvidenceInfo {
        checkpoint: "evidence/checkpoint".into(),
        verifier_key: "evidence/log.pub".into(),
        tiles: n_tiles,
        entries: "evidence/entries.jsonl".into(),
        entries_sha256: sha,
        leaves: written,
    })
}

/// Writes the level-0 hash tiles of the tree of `size` leaves under `dir`,
/// one at a time; returns how many.
fn write_leaf_tiles(
    tree: &cts_ledger::MemTree,
    size: TreeSize,
    dir: &Path,
) -> Result<u64, DatasetError> {
    let mut n = 0;
    for coord in cts_ledger::tile::tiles_for(size)
        .iter()
        .filter(|c| c.level == 0)
    {
        let (path, bytes) =
            cts_ledger::export::hash_tile_file(tree, coord).map_err(DatasetError::Tiles)?;
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&p, bytes).map_err(io(&p))?;
        n += 1;
    }
    Ok(n)
}

/// The first 8 bytes of a hex commitment.
fn commitment_prefix(hex_commitment: &str) -> Result<u64, DatasetError> {
    let mut raw = [0u8; 8];
    hex_commitment
        .get(..16)
        .ok_or_else(|| DatasetError::BadCommitment {
            commitment: hex_commitment.to_owned(),
            reason: "too short".into(),
        })
        .and_then(|h| {
            hex::decode_to_slice(h, &mut raw).map_err(|e| DatasetError::BadCommitment {
                commitment: hex_commitment.to_owned(),
                reason: e.to_string(),
            })
        })?;
    Ok(u64::from_be_bytes(raw))
}

/// The commitments an event entry names, read without decoding the rest.
#[derive(serde::Deserialize)]
struct EntryContent<'a> {
    #[serde(borrow, default)]
    content: BTreeMap<&'a str, &'a str>,
}

/// Fails unless the event at `leaf` names a commitment starting with `want`.
fn check_commitment(leaf: u64, entry: &[u8], want: u64) -> Result<(), DatasetError> {
    let named: EntryContent = serde_json::from_slice(entry)
        .map_err(|e| DatasetError::Tampered(format!("leaf {leaf}: {e}")))?;
    for c in named.content.values() {
        if commitment_prefix(c).ok() == Some(want) {
            return Ok(());
        }
    }
    Err(DatasetError::Tampered(format!(
        "leaf {leaf}: the stored row's content commitment ({want:016x}…) is not the one its event carries; run `cts ledger verify`"
    )))
}

#[derive(serde::Serialize)]
struct EvidenceLine<'a> {
    entry: &'a str,
    leaf: u64,
}
