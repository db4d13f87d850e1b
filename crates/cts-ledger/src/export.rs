//! Offline verification of a static C2SP tile export.
//!
//! Given only a way to read files by path and the log's verifier key, checks
//! the signed checkpoint, decodes every entry bundle, recomputes the tree,
//! and checks the root and every hash tile against it.

use std::collections::BTreeMap;

use crate::checkpoint::{CheckpointError, LogVerifier};
use crate::event::{Event, EventError};
use crate::tile::{
    bundles_for, decode_bundle, decode_hash_tile, entries_path, tiles_for, TileCoord, TileError,
    TILE_HEIGHT,
};
use crate::tree::{MemTree, TreeError};
use crate::{leaf_hash, Hash, TreeSize};

/// Where the exported files are read from (a folder, an HTTP mirror, …).
pub trait TileSource {
    /// Bytes of the file at `path` (relative to the export root), or `None` if absent.
    fn read(&self, path: &str) -> std::io::Result<Option<Vec<u8>>>;
}

/// Why an export failed to verify.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is missing.
    #[error("{0}: missing")]
    Missing(String),
    /// The checkpoint does not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A bundle or tile is malformed.
    #[error("{path}: {source}")]
    Tile {
        /// File path.
        path: String,
        /// Cause.
        source: TileError,
    },
    /// An entry is not a valid CTS event.
    #[error("leaf {leaf}: {source}")]
    Entry {
        /// Leaf index.
        leaf: u64,
        /// Cause.
        source: EventError,
    },
    /// Recomputing the tree failed.
    #[error("tree: {0}")]
    Tree(#[from] TreeError),
    /// The entries do not hash to the signed root.
    #[error("entries hash to root {computed} but the checkpoint signs {signed}")]
    RootMismatch {
        /// Root recomputed from entries.
        computed: String,
        /// Root in the checkpoint.
        signed: String,
    },
    /// A hash tile disagrees with the entries.
    #[error("{path}: hash {position} does not match the hash recomputed from the entries")]
    TileMismatch {
        /// Tile path.
        path: String,
        /// Position within the tile.
        position: usize,
    },
}

/// What a verified export holds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportReport {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash, base64.
    pub root: String,
    /// Hash tiles checked.
    pub tiles_checked: usize,
    /// Events per kind.
    pub kinds: BTreeMap<String, u64>,
}

fn read(src: &impl TileSource, path: &str) -> Result<Vec<u8>, ExportError> {
    src.read(path)
        .map_err(|source| ExportError::Io {
            path: path.into(),
            source,
        })?
        .ok_or_else(|| ExportError::Missing(path.into()))
}

/// Verifies an export against the log's verifier key.
pub fn verify_export(
    src: &impl TileSource,
    verifier: &LogVerifier,
) -> Result<ExportReport, ExportError> {
    let checkpoint = verifier.open(&read(src, "checkpoint")?)?;
    let size = checkpoint.size;
    let mut tree = MemTree::new();
    let mut kinds = BTreeMap::new();
    for (index, width) in bundles_for(size) {
        let path = entries_path(index, width);
        let bytes = read(src, &path)?;
        let entries =
            decode_bundle(&bytes, width as usize).map_err(|source| ExportError::Tile {
                path: path.clone(),
                source,
            })?;
        for (i, entry) in entries.into_iter().enumerate() {
            let leaf = index * crate::tile::TILE_WIDTH + i as u64;
            let event =
                Event::decode(entry).map_err(|source| ExportError::Entry { leaf, source })?;
            *kinds.entry(event.kind.as_str().to_owned()).or_insert(0) += 1;
            tree.push(leaf_hash(entry))?;
        }
    }
    let computed = tree.root(size)?;
    if computed != checkpoint.root {
        return Err(ExportError::RootMismatch {
            computed: crate::hash_to_base64(&computed),
            signed: crate::hash_to_base64(&checkpoint.root),
        });
    }
    let tiles = tiles_for(size);
    for coord in &tiles {
        let path = coord.path();
        let got = decode_hash_tile(&read(src, &path)?, coord.width).map_err(|source| {
            ExportError::Tile {
                path: path.clone(),
                source,
            }
        })?;
        let want = tile_hashes(&tree, coord)?;
        if let Some(position) = got.iter().zip(want).position(|(a, b)| a != b) {
            return Err(ExportError::TileMismatch { path, position });
        }
    }
    Ok(ExportReport {
        origin: checkpoint.origin,
        size: size.0,
        root: crate::hash_to_base64(&checkpoint.root),
        tiles_checked: tiles.len(),
        kinds,
    })
}

/// The hashes of one tile, from the tree.
fn tile_hashes<'a>(tree: &'a MemTree, coord: &TileCoord) -> Result<&'a [Hash], TreeError> {
    let (start, end) = coord.range();
    tree.level_slice(coord.level * TILE_HEIGHT, start, end)
        .ok_or(TreeError::TooLarge {
            asked: end,
            held: tree.size().0,
        })
}

/// One hash tile of the tree, as `(path, bytes)`.
pub fn hash_tile_file(tree: &MemTree, coord: &TileCoord) -> Result<(String, Vec<u8>), ExportError> {
    let hashes = tile_hashes(tree, coord)?;
    Ok((coord.path(), crate::tile::encode_hash_tile(hashes)))
}

/// Hash tiles of the tree of `size` leaves, as `(path, bytes)`.
pub fn hash_tile_files(
    tree: &MemTree,
    size: TreeSize,
) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    tiles_for(size)
        .iter()
        .map(|coord| hash_tile_file(tree, coord))
        .collect()
}

/// Entry bundle `index` holding `entries`, as `(path, bytes)`.
pub fn bundle_file(index: u64, entries: &[&[u8]]) -> Result<(String, Vec<u8>), ExportError> {
    let path = entries_path(index, entries.len() as u64);
    let bytes = crate::tile::encode_bundle(entries.iter().copied()).map_err(|source| {
        ExportError::Tile {
            path: path.clone(),
            source,
        }
    })?;
    Ok((path, bytes))
}
