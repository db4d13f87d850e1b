//! What every run folder (evaluation, red teaming, rubric-graded) shares:
//! a JSONL file of per-unit records and `summary.json`, bound by digest in
//! `run.json`, written under a temporary name and renamed only when whole;
//! read back with file and line in every error; checked offline from the
//! proof bundle to the file digests.

use std::path::{Path, PathBuf};

use cts_ledger::LogVerifier;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::record::{json_pretty, proven_event, FileDigest, Proven};
use crate::{sha256_hex, RunnerError};

/// Runs `write` on a temporary folder beside `root/id` and renames it to
/// `root/id` once it succeeded; nothing is left behind if it fails.
pub(crate) fn write_folder<T>(
    root: &Path,
    id: &str,
    write: impl FnOnce(&Path) -> Result<T, RunnerError>,
) -> Result<(PathBuf, T), RunnerError> {
    let dir = root.join(id);
    let tmp = root.join(format!(".tmp-{id}"));
    std::fs::create_dir_all(&tmp).map_err(RunnerError::io(&tmp))?;
    let written = match write(&tmp) {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &dir).map_err(RunnerError::io(&dir))?;
    Ok((dir, written))
}

/// Writes `items_name` (one JSON line per record) and `summary.json` into
/// `dir`; their digests, for the manifest.
pub(crate) fn write_items_and_summary<T: Serialize, S: Serialize>(
    dir: &Path,
    items_name: &str,
    items: &[T],
    summary: &S,
) -> Result<(FileDigest, FileDigest), RunnerError> {
    let items_path = dir.join(items_name);
    let mut bytes = Vec::new();
    for (i, r) in items.iter().enumerate() {
        bytes.extend(serde_json::to_vec(r).map_err(|e| RunnerError::Format {
            path: items_path.clone(),
            line: Some(i + 1),
            reason: format!("cannot encode the record: {e}"),
        })?);
        bytes.push(b'\n');
    }
    std::fs::write(&items_path, &bytes).map_err(RunnerError::io(&items_path))?;
    let summary_path = dir.join("summary.json");
    let summary_bytes = json_pretty(summary, &summary_path)?;
    std::fs::write(&summary_path, &summary_bytes).map_err(RunnerError::io(&summary_path))?;
    Ok((
        FileDigest::of_bytes(items_name, &bytes),
        FileDigest::of_bytes("summary.json", &summary_bytes),
    ))
}

/// Writes `run.json` into `dir`; its bytes (whose digest the ledger event records).
pub(crate) fn write_manifest<M: Serialize>(
    dir: &Path,
    manifest: &M,
) -> Result<Vec<u8>, RunnerError> {
    let path = dir.join("run.json");
    let bytes = json_pretty(manifest, &path)?;
    std::fs::write(&path, &bytes).map_err(RunnerError::io(&path))?;
    Ok(bytes)
}

/// Parses JSONL `bytes` into records; errors name `path` and the line.
pub fn parse_jsonl<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<Vec<T>, RunnerError> {
    let text = std::str::from_utf8(bytes).map_err(|e| RunnerError::Format {
        path: path.to_owned(),
        line: None,
        reason: e.to_string(),
    })?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| RunnerError::Format {
                path: path.to_owned(),
                line: Some(i + 1),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Parses a manifest and checks its format tag against `want`.
pub(crate) fn parse_tagged<T: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
    format_of: impl Fn(&T) -> &str,
    want: &str,
) -> Result<T, RunnerError> {
    let manifest: T = serde_json::from_slice(bytes).map_err(|e| RunnerError::Format {
        path: path.to_owned(),
        line: Some(e.line()),
        reason: e.to_string(),
    })?;
    let format = format_of(&manifest);
    if format != want {
        return Err(RunnerError::Format {
            path: path.to_owned(),
            line: None,
            reason: format!("format {format:?} is not {want:?}"),
        });
    }
    Ok(manifest)
}

/// The chain every run folder's check starts with.
pub(crate) struct Chain<R> {
    /// The proven event's body.
    pub record: R,
    /// The proof's facts.
    pub proven: Proven,
    /// `run.json`'s bytes, whose digest the event records.
    pub manifest_bytes: Vec<u8>,
}

/// Verifies `dir/proof_name` (an event of `kind`), reads its body as `R`
/// and checks `run.json`'s digest against `manifest_sha256(&record)`.
pub(crate) fn check_chain<R: DeserializeOwned>(
    dir: &Path,
    proof_name: &str,
    kind: &str,
    verifier: &LogVerifier,
    manifest_sha256: impl Fn(&R) -> &str,
) -> Result<Chain<R>, RunnerError> {
    let fail = |reason: String| RunnerError::Verify {
        path: dir.to_owned(),
        reason,
    };
    let proven = proven_event(dir, proof_name, kind, verifier)?;
    let record: R = serde_json::from_value(proven.event.body.clone())
        .map_err(|e| fail(format!("the {kind} body: {e}")))?;
    let path = dir.join("run.json");
    let manifest_bytes = std::fs::read(&path).map_err(RunnerError::io(&path))?;
    let want = manifest_sha256(&record);
    if sha256_hex(&manifest_bytes) != want {
        return Err(fail(format!(
            "run.json is not the manifest the ledger recorded (its SHA-256 differs from {want})"
        )));
    }
    Ok(Chain {
        record,
        proven,
        manifest_bytes,
    })
}

/// Reads each file of `dir` named by a digest and checks it against it.
pub(crate) fn read_checked(dir: &Path, files: &[&FileDigest]) -> Result<Vec<Vec<u8>>, RunnerError> {
    files
        .iter()
        .map(|want| {
            let path = dir.join(&want.path);
            let bytes = std::fs::read(&path).map_err(RunnerError::io(&path))?;
            if sha256_hex(&bytes) != want.sha256 {
                return Err(RunnerError::Verify {
                    path: dir.to_owned(),
                    reason: format!(
                        "{} has changed since the run (its SHA-256 differs from run.json's)",
                        want.path
                    ),
                });
            }
            Ok(bytes)
        })
        .collect()
}

/// One kind of run folder, for [`verify_folder`]: its files, its event,
/// and how a unit and the summary are re-derived.
pub(crate) trait RunKind {
    /// The ledger event's body.
    type Record: DeserializeOwned;
    /// `run.json`.
    type Manifest: DeserializeOwned;
    /// One line of the records file.
    type Item: DeserializeOwned;
    /// `summary.json`.
    type Summary: DeserializeOwned + PartialEq;
    /// The event's figures.
    type Figures: PartialEq;
    /// The proof bundle's file name.
    const PROOF: &'static str;
    /// The event kind.
    const KIND: &'static str;
    /// The records file's name.
    const ITEMS: &'static str;
    /// `run.json`'s format tag.
    const FORMAT: &'static str;
    /// The manifest digest the event records.
    fn manifest_sha256(record: &Self::Record) -> &str;
    /// The manifest's format tag.
    fn format(manifest: &Self::Manifest) -> &str;
    /// Whether the manifest names the event's run and model.
    fn same_run(manifest: &Self::Manifest, record: &Self::Record) -> bool;
    /// The digests of the records file and the summary.
    fn files(manifest: &Self::Manifest) -> [&FileDigest; 2];
    /// Re-derives one record; what disagrees, naming the unit.
    fn recheck(manifest: &Self::Manifest, item: &Self::Item) -> Result<(), String>;
    /// Recomputes the summary from the records.
    fn summarize(manifest: &Self::Manifest, items: &[Self::Item]) -> Self::Summary;
    /// The figures the event records, from a summary.
    fn figures(manifest: &Self::Manifest, summary: &Self::Summary) -> Self::Figures;
    /// The event's figures.
    fn recorded_figures(record: &Self::Record) -> &Self::Figures;
}

/// A run folder checked from its proof to its figures.
pub(crate) struct Verified<K: RunKind> {
    /// The event's body.
    pub record: K::Record,
    /// The proof's facts.
    pub proven: Proven,
    /// The manifest.
    pub manifest: K::Manifest,
    /// The records.
    pub items: Vec<K::Item>,
}

/// Checks a run folder with only the log's verifier key: the proof and
/// event, the manifest digest, the file digests, every record re-derived,
/// the summary recomputed, and the event's figures.
pub(crate) fn verify_folder<K: RunKind>(
    dir: &Path,
    verifier: &LogVerifier,
) -> Result<Verified<K>, RunnerError> {
    let fail = |reason: String| RunnerError::Verify {
        path: dir.to_owned(),
        reason,
    };
    let chain = check_chain(dir, K::PROOF, K::KIND, verifier, K::manifest_sha256)?;
    let manifest: K::Manifest = parse_tagged(
        &dir.join("run.json"),
        &chain.manifest_bytes,
        K::format,
        K::FORMAT,
    )?;
    if !K::same_run(&manifest, &chain.record) {
        return Err(fail(
            "run.json names another run or model than the event".into(),
        ));
    }
    let [items_bytes, summary_bytes]: [Vec<u8>; 2] = read_checked(dir, &K::files(&manifest))?
        .try_into()
        .map_err(|_| fail("two files were read".into()))?;
    let items: Vec<K::Item> = parse_jsonl(&dir.join(K::ITEMS), &items_bytes)?;
    for (i, item) in items.iter().enumerate() {
        K::recheck(&manifest, item)
            .map_err(|reason| fail(format!("{}:{}: {reason}", K::ITEMS, i + 1)))?;
    }
    let summary: K::Summary =
        serde_json::from_slice(&summary_bytes).map_err(|e| fail(format!("summary.json: {e}")))?;
    let again = K::summarize(&manifest, &items);
    if again != summary {
        return Err(fail(format!(
            "summary.json does not follow from {} (recomputed figures differ)",
            K::ITEMS
        )));
    }
    if K::figures(&manifest, &again) != *K::recorded_figures(&chain.record) {
        return Err(fail(format!(
            "the figures in the ledger event differ from those recomputed from {}",
            K::ITEMS
        )));
    }
    Ok(Verified {
        record: chain.record,
        proven: chain.proven,
        manifest,
        items,
    })
}
