//! C2SP `tlog-tiles` layout: tile paths and entry bundles.
//!
//! `tlog_tiles` speaks Go sumdb paths (`tile/8/0/…`, with the height); C2SP
//! fixes the height at 8 and drops it: `tile/<L>/<N>[.p/<W>]` for hash tiles
//! and `tile/entries/<N>[.p/<W>]` for entry bundles. This module is that
//! adapter, plus the bundle encoding (each entry prefixed by a big-endian
//! 16-bit length).

use crate::{Hash, TreeSize};

/// Tile height fixed by C2SP.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Errors decoding tiles and bundles.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TileError {
    /// An entry bundle ended inside an entry.
    #[error("entry bundle is truncated at byte {0}")]
    TruncatedBundle(usize),
    /// A bundle held another number of entries than its path says.
    #[error("entry bundle holds {found} entries, expected {expected}")]
    BundleCount {
        /// Entries expected.
        expected: usize,
        /// Entries found.
        found: usize,
    },
    /// A hash tile's length is not its width × 32.
    #[error("hash tile is {found} bytes, expected {expected}")]
    TileLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// An entry too long for a bundle.
    #[error("entry of {0} bytes does not fit a 16-bit length")]
    EntryTooLong(usize),
}

fn encode_index(mut n: u64) -> String {
    let mut s = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        s = format!("x{:03}/{s}", n % 1000);
    }
    s
}

fn partial_suffix(width: u64) -> String {
    if width == TILE_WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    }
}

/// Path of hash tile `index` at tile level `level` with `width` hashes.
pub fn hash_tile_path(level: u8, index: u64, width: u64) -> String {
    format!(
        "tile/{level}/{}{}",
        encode_index(index),
        partial_suffix(width)
    )
}

/// Path of entry bundle `index` holding `width` entries.
pub fn entries_path(index: u64, width: u64) -> String {
    format!(
        "tile/entries/{}{}",
        encode_index(index),
        partial_suffix(width)
    )
}

/// One tile of a tree of a given size: `(level, index, width)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileCoord {
    /// Tile level (tree level `8 × level`).
    pub level: u8,
    /// Index within the level.
    pub index: u64,
    /// Number of hashes (1..=256).
    pub width: u64,
}

impl TileCoord {
    /// The hash tile's C2SP path.
    pub fn path(&self) -> String {
        hash_tile_path(self.level, self.index, self.width)
    }

    /// The range of tree-level positions it covers.
    pub fn range(&self) -> (u64, u64) {
        let start = self.index * TILE_WIDTH;
        (start, start + self.width)
    }
}

/// Every hash tile of a tree of `size` leaves (full tiles and the partial right edge).
pub fn tiles_for(size: TreeSize) -> Vec<TileCoord> {
    let mut out = Vec::new();
    let mut level = 0u8;
    loop {
        let hashes_at_level = size.0 >> (u32::from(level) * u32::from(TILE_HEIGHT));
        if hashes_at_level == 0 {
            break;
        }
        for index in 0..hashes_at_level.div_ceil(TILE_WIDTH) {
            let width = (hashes_at_level - index * TILE_WIDTH).min(TILE_WIDTH);
            out.push(TileCoord {
                level,
                index,
                width,
            });
        }
        level += 1;
    }
    out
}

/// Entry bundles of a tree of `size` leaves: `(index, width)`.
pub fn bundles_for(size: TreeSize) -> impl Iterator<Item = (u64, u64)> {
    (0..size.0.div_ceil(TILE_WIDTH)).map(move |i| (i, (size.0 - i * TILE_WIDTH).min(TILE_WIDTH)))
}

/// Encodes entries as a C2SP entry bundle.
pub fn encode_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLong(e.len()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits a C2SP entry bundle into its entries.
pub fn split_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::with_capacity(TILE_WIDTH as usize);
    let mut at = 0;
    while at < bytes.len() {
        let Some(len) = bytes.get(at..at + 2) else {
            return Err(TileError::TruncatedBundle(at));
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some(entry) = bytes.get(at + 2..at + 2 + len) else {
            return Err(TileError::TruncatedBundle(at));
        };
        out.push(entry);
        at += 2 + len;
    }
    Ok(out)
}

/// Decodes a C2SP entry bundle that must hold exactly `expected` entries.
pub fn decode_bundle(bytes: &[u8], expected: usize) -> Result<Vec<&[u8]>, TileError> {
    let out = split_bundle(bytes)?;
    if out.len() != expected {
        return Err(TileError::BundleCount {
            expected,
            found: out.len(),
        });
    }
    Ok(out)
}

/// Concatenates hashes into tile bytes.
pub fn encode_hash_tile(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// Splits tile bytes holding `width` hashes.
pub fn decode_hash_tile(bytes: &[u8], width: u64) -> Result<Vec<Hash>, TileError> {
    let expected = usize::try_from(width)
        .unwrap_or(usize::MAX)
        .saturating_mul(32);
    if bytes.len() != expected {
        return Err(TileError::TileLength {
            expected,
            found: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            Hash(h)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_c2sp() {
        assert_eq!(hash_tile_path(0, 0, 256), "tile/0/000");
        assert_eq!(hash_tile_path(1, 1234067, 256), "tile/1/x001/x234/067");
        assert_eq!(hash_tile_path(0, 1234067, 5), "tile/0/x001/x234/067.p/5");
        assert_eq!(entries_path(1000, 17), "tile/entries/x001/000.p/17");
    }

    #[test]
    fn tiles_cover_every_level() {
        let t = tiles_for(TreeSize(256 * 256 + 3));
        assert_eq!(t.iter().filter(|c| c.level == 0).count(), 257);
        assert_eq!(
            t.last(),
            Some(&TileCoord {
                level: 2,
                index: 0,
                width: 1
            })
        );
        assert_eq!(tiles_for(TreeSize(0)), vec![]);
        assert_eq!(
            tiles_for(TreeSize(5)),
            vec![TileCoord {
                level: 0,
                index: 0,
                width: 5
            }]
        );
    }

    #[test]
    fn bundle_round_trips_and_rejects_truncation() {
        let entries: Vec<&[u8]> = vec![b"a", b"", b"xyz"];
        let b = encode_bundle(entries.iter().copied()).unwrap();
        assert_eq!(decode_bundle(&b, 3).unwrap(), entries);
        assert!(decode_bundle(&b[..b.len() - 1], 3).is_err());
        assert!(decode_bundle(&b, 2).is_err());
    }
}
