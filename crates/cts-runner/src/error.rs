//! Errors of the runner, each naming what failed, its id and its path.

use std::path::PathBuf;

/// Why a run, a comparison or a verification failed.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file or line does not read as what it must be.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line, for JSONL files.
        line: Option<usize>,
        /// What is wrong.
        reason: String,
    },
    /// Another process holds the cache.
    #[error("{}: another `cts eval run` with the same model and settings is using this cache; wait for it or stop it", path.display())]
    CacheBusy {
        /// The cache file.
        path: PathBuf,
    },
    /// A benchmark could not be loaded (file, line and field named).
    #[error(transparent)]
    Load(#[from] cts_eval::LoadError),
    /// The model could not be opened.
    #[error("model {source_name}: {reason}")]
    ModelOpen {
        /// What was asked for (`default`, a path, a URL).
        source_name: String,
        /// Why it failed.
        reason: String,
    },
    /// The model failed on an item; results so far are cached.
    #[error("{benchmark} item {item}: {reason} ({cached} items are cached: run the same command again to continue)")]
    Item {
        /// Benchmark name.
        benchmark: String,
        /// Item id.
        item: String,
        /// What failed.
        reason: String,
        /// Items whose results are in the cache.
        cached: usize,
    },
    /// The settings cannot work together.
    #[error("{0}")]
    Settings(String),
    /// The ledger refused the record.
    #[error("ledger: {0}")]
    Store(#[from] cts_store::StoreError),
    /// A run folder does not verify.
    #[error("{}: does not verify: {reason}", path.display())]
    Verify {
        /// The run folder.
        path: PathBuf,
        /// The first check that failed.
        reason: String,
    },
    /// Two runs cannot be compared.
    #[error("cannot compare: {0}")]
    Compare(String),
}

impl RunnerError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RunnerError {
        let path = path.into();
        move |source| RunnerError::Io { path, source }
    }
}
