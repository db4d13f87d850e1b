//! A per-item result cache for resumable runs.
//!
//! One JSONL file per model and configuration (the caller names it by a
//! digest of both), one line `{"key": …, "value": …}` per finished item,
//! appended and flushed as each item finishes. A run that is killed loses at
//! most the line being written: [`ItemCache::open`] drops a torn last line
//! (one without its newline) and truncates the file back to the last whole
//! line. A damaged line anywhere else is an error naming the file and line,
//! never silently skipped. The file is locked while open, so two runs with
//! the same model and settings cannot interleave their lines.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::RunnerError;

#[derive(Serialize, Deserialize)]
struct Line<T> {
    key: String,
    value: T,
}

/// An open cache file: what it held when opened, and a handle to append to.
pub struct ItemCache<T> {
    path: PathBuf,
    file: File,
    entries: HashMap<String, T>,
}

impl<T: Serialize + DeserializeOwned + Clone> ItemCache<T> {
    /// Opens (creating) `dir/name.jsonl`, reads what it holds and locks it.
    pub fn open(dir: &Path, name: &str) -> Result<Self, RunnerError> {
        std::fs::create_dir_all(dir).map_err(RunnerError::io(dir))?;
        let path = dir.join(format!("{name}.jsonl"));
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(RunnerError::io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(RunnerError::CacheBusy { path });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(RunnerError::io(&path)(e)),
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(RunnerError::io(&path))?;
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if whole < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = bytes.len() - whole,
                "dropping a torn last line (the previous run was stopped while writing it)"
            );
            file.set_len(whole as u64).map_err(RunnerError::io(&path))?;
            file.seek(SeekFrom::End(0))
                .map_err(RunnerError::io(&path))?;
        }
        let mut entries = HashMap::new();
        for (i, line) in bytes[..whole].split(|b| *b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let parsed: Line<T> =
                serde_json::from_slice(line).map_err(|e| RunnerError::Format {
                    path: path.clone(),
                    line: Some(i + 1),
                    reason: format!(
                        "damaged cache line ({e}); delete the file to start this configuration afresh"
                    ),
                })?;
            entries.insert(parsed.key, parsed.value);
        }
        Ok(ItemCache {
            path,
            file,
            entries,
        })
    }

    /// The cached value for `key`.
    pub fn get(&self, key: &str) -> Option<&T> {
        self.entries.get(key)
    }

    /// Values cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `value` under `key` and flushes it to the file.
    pub fn put(&mut self, key: &str, value: &T) -> Result<(), RunnerError> {
        let mut line = serde_json::to_vec(&Line {
            key: key.to_owned(),
            value,
        })
        .map_err(|e| RunnerError::Format {
            path: self.path.clone(),
            line: None,
            reason: format!("cannot encode a result: {e}"),
        })?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(RunnerError::io(&self.path))?;
        self.entries.insert(key.to_owned(), value.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_reopening_and_a_torn_line_is_dropped() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let mut c: ItemCache<u32> = ItemCache::open(dir.path(), "c").expect("open");
            c.put("a", &1).expect("put");
            c.put("b", &2).expect("put");
        }
        let path = dir.path().join("c.jsonl");
        let mut f = OpenOptions::new().append(true).open(&path).expect("f");
        f.write_all(br#"{"key":"c","val"#).expect("torn");
        drop(f);
        let mut c: ItemCache<u32> = ItemCache::open(dir.path(), "c").expect("reopen");
        assert_eq!(
            (c.get("a"), c.get("b"), c.get("c")),
            (Some(&1), Some(&2), None)
        );
        c.put("c", &3).expect("put");
        drop(c);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 3, "{text}");
        let c: ItemCache<u32> = ItemCache::open(dir.path(), "c").expect("reopen");
        assert_eq!(c.get("c"), Some(&3));
    }

    #[test]
    fn a_damaged_middle_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("c.jsonl"),
            "{\"key\":\"a\",\"value\":1}\nnot json\n{\"key\":\"b\",\"value\":2}\n",
        )
        .expect("write");
        let err = ItemCache::<u32>::open(dir.path(), "c")
            .err()
            .expect("must fail")
            .to_string();
        assert!(err.contains("c.jsonl:2"), "{err}");
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_cache() {
        let dir = tempfile::tempdir().expect("tmp");
        let _first: ItemCache<u32> = ItemCache::open(dir.path(), "c").expect("open");
        assert!(matches!(
            ItemCache::<u32>::open(dir.path(), "c"),
            Err(RunnerError::CacheBusy { .. })
        ));
    }
}
