//! The witness's memory on disk: one small JSON file per log, written
//! atomically (temporary file, fsync, rename, fsync of the folder), so a
//! crash leaves either the old or the new state and a restart remembers.
//!
//! Not here: deciding what to store (`witness.rs`). One process per folder:
//! the server serializes its own requests; two servers on one folder would
//! race.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use cts_ledger::{hash_from_base64, hash_to_base64, TreeSize};
use sha2::{Digest, Sha256};

use crate::witness::WitnessedTree;

/// Errors reading or writing the state folder.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A state file is not what this witness writes.
    #[error("{path}: malformed witness state: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// What is stored per log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogState {
    /// The log's origin.
    pub origin: String,
    /// Size of the latest cosigned tree.
    pub size: u64,
    /// Its root hash, base64.
    pub root: String,
    /// The checkpoint note that was cosigned (as the log sent it).
    pub checkpoint: String,
    /// When it was cosigned, seconds since the Unix epoch.
    pub cosigned_at: u64,
}

impl LogState {
    /// The witnessed tree.
    pub fn tree(&self) -> Option<WitnessedTree> {
        Some(WitnessedTree {
            size: TreeSize(self.size),
            root: hash_from_base64(&self.root)?,
        })
    }

    /// The state after cosigning `tree` from `checkpoint` at `time`.
    pub fn new(origin: &str, tree: WitnessedTree, checkpoint: &[u8], time: u64) -> Self {
        Self {
            origin: origin.to_owned(),
            size: tree.size.0,
            root: hash_to_base64(&tree.root),
            checkpoint: String::from_utf8_lossy(checkpoint).into_owned(),
            cosigned_at: time,
        }
    }
}

/// The folder of per-log state files.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Opens (creating if needed) a state folder.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        fs::create_dir_all(dir).map_err(|source| StateError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The file holding `origin`'s state: named by a digest, since origins hold slashes.
    pub fn path_of(&self, origin: &str) -> PathBuf {
        let d = Sha256::digest(origin.as_bytes());
        self.dir.join(format!("{}.json", hex::encode(&d[..16])))
    }

    /// The stored state of `origin`, if the witness ever cosigned for it.
    pub fn load(&self, origin: &str) -> Result<Option<LogState>, StateError> {
        let path = self.path_of(origin);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Io { path, source }),
        };
        let malformed = |reason: String| StateError::Malformed {
            path: path.clone(),
            reason,
        };
        let state: LogState =
            serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
        if state.origin != origin {
            return Err(malformed(format!(
                "holds the state of {:?}, not {origin:?}",
                state.origin
            )));
        }
        if state.tree().is_none() {
            return Err(malformed("root is not a base64 32-byte hash".into()));
        }
        Ok(Some(state))
    }

    /// Replaces `state.origin`'s state atomically and durably.
    pub fn store(&self, state: &LogState) -> Result<(), StateError> {
        let path = self.path_of(&state.origin);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StateError::Io { path, source }
        };
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Malformed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let tmp = path.with_extension("json.tmp");
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cts_ledger::Hash;

    #[test]
    fn state_survives_reopening_and_is_replaced_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(tmp.path()).unwrap();
        assert_eq!(dir.load("example.com/log").unwrap(), None);
        let t = WitnessedTree {
            size: TreeSize(3),
            root: Hash([1; 32]),
        };
        dir.store(&LogState::new("example.com/log", t, b"note\n", 5))
            .unwrap();
        let t2 = WitnessedTree {
            size: TreeSize(9),
            root: Hash([2; 32]),
        };
        dir.store(&LogState::new("example.com/log", t2, b"note\n", 6))
            .unwrap();
        let again = StateDir::open(tmp.path()).unwrap();
        let s = again.load("example.com/log").unwrap().unwrap();
        assert_eq!(s.tree(), Some(t2));
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_state_file_for_another_origin_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(tmp.path()).unwrap();
        let t = WitnessedTree {
            size: TreeSize(3),
            root: Hash([1; 32]),
        };
        dir.store(&LogState::new("a.example/log", t, b"n\n", 1))
            .unwrap();
        std::fs::copy(dir.path_of("a.example/log"), dir.path_of("b.example/log")).unwrap();
        assert!(matches!(
            dir.load("b.example/log"),
            Err(StateError::Malformed { .. })
        ));
    }
}
