//! The log's Merkle tree held in memory, as `tlog_tiles` sees it.
//!
//! `MemTree` keeps every complete-subtree hash, level by level, and serves
//! them to `tlog_tiles` through its `HashReader` trait; all Merkle math
//! (appending, roots, inclusion and consistency proofs) is `tlog_tiles`'s,
//! which ports Go's `golang.org/x/mod/sumdb/tlog` and follows RFC 6962/9162.
//! Storage keeps only the C2SP tiles (level 0 = leaf hashes, ~32 B per leaf);
//! the in-between levels are rebuilt here in memory.

use tlog_tiles::{split_stored_hash_index, Error as TlogError, HashReader};

use crate::{Hash, LeafIndex, TreeSize};

/// Errors from tree operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    /// A proof or root was asked for a tree larger than the one held.
    #[error("tree size {asked} is larger than the log ({held} leaves)")]
    TooLarge {
        /// Size asked for.
        asked: u64,
        /// Size held.
        held: u64,
    },
    /// A leaf outside the tree was asked for.
    #[error("leaf {leaf} is not in a tree of size {size}")]
    LeafOutOfRange {
        /// Leaf asked for.
        leaf: u64,
        /// Tree size.
        size: u64,
    },
    /// Consistency between sizes in the wrong order.
    #[error("cannot prove consistency from size {from} to the smaller size {to}")]
    Backwards {
        /// Older size.
        from: u64,
        /// Newer size.
        to: u64,
    },
    /// The underlying tlog library failed.
    #[error("merkle tree: {0}")]
    Tlog(String),
}

impl From<TlogError> for TreeError {
    fn from(e: TlogError) -> Self {
        TreeError::Tlog(e.to_string())
    }
}

/// All complete-subtree hashes of a log, in memory.
#[derive(Clone, Debug, Default)]
pub struct MemTree {
    /// `levels[l][n]` is the hash of the complete subtree of height `l` at position `n`.
    levels: Vec<Vec<Hash>>,
}

impl HashReader for MemTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes
            .iter()
            .map(|&i| {
                let (level, n) = split_stored_hash_index(i);
                self.levels
                    .get(usize::from(level))
                    .and_then(|l| l.get(usize::try_from(n).ok()?))
                    .copied()
                    .ok_or(TlogError::IndexesNotInTree)
            })
            .collect()
    }
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree built from leaf hashes in order.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Hash>) -> Result<Self, TreeError> {
        let mut t = Self::new();
        for h in leaves {
            t.push(h)?;
        }
        Ok(t)
    }

    /// Number of leaves.
    pub fn size(&self) -> TreeSize {
        TreeSize(self.levels.first().map_or(0, |l| l.len() as u64))
    }

    /// Appends a leaf hash and returns its index.
    pub fn push(&mut self, leaf_hash: Hash) -> Result<LeafIndex, TreeError> {
        let n = self.size().0;
        let hashes = tlog_tiles::stored_hashes_for_record_hash(n, leaf_hash, self)?;
        for (level, h) in hashes.into_iter().enumerate() {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            debug_assert_eq!(row.len() as u64, n >> level);
            row.push(h);
        }
        Ok(LeafIndex(n))
    }

    /// Makes room for `leaves` more leaves at every level, so that growing
    /// to a known size allocates once instead of doubling.
    pub fn reserve_exact(&mut self, leaves: u64) {
        let target = self.size().0 + leaves;
        let mut level = 0;
        while target >> level > 0 {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            let want = usize::try_from(target >> level).unwrap_or(usize::MAX);
            row.reserve_exact(want.saturating_sub(row.len()));
            level += 1;
        }
    }

    /// Appends many leaf hashes at once; same result as pushing them one by
    /// one, but computes each new complete subtree with one `node_hash` and
    /// no per-leaf allocation.
    pub fn extend(&mut self, leaf_hashes: &[Hash]) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].extend_from_slice(leaf_hashes);
        let mut level = 0;
        loop {
            let (lower, upper) = self.levels.split_at_mut(level + 1);
            let children = &lower[level];
            if children.len() < 2 {
                break;
            }
            if upper.is_empty() {
                self.levels.push(Vec::new());
                continue;
            }
            let parents = &mut upper[0];
            let complete = children.len() / 2;
            for i in parents.len()..complete {
                parents.push(tlog_tiles::node_hash(children[2 * i], children[2 * i + 1]));
            }
            level += 1;
        }
    }

    /// Drops leaves beyond `size` (used to undo an append that did not commit).
    pub fn truncate(&mut self, size: TreeSize) {
        for (level, row) in self.levels.iter_mut().enumerate() {
            let keep = usize::try_from(size.0 >> level).unwrap_or(usize::MAX);
            row.truncate(keep);
        }
        while self.levels.last().is_some_and(Vec::is_empty) {
            self.levels.pop();
        }
    }

    /// Hash of leaf `i`.
    pub fn leaf_hash(&self, i: LeafIndex) -> Option<Hash> {
        self.levels
            .first()?
            .get(usize::try_from(i.0).ok()?)
            .copied()
    }

    /// The hashes at tree level `level`, positions `start..end`.
    pub fn level_slice(&self, level: u8, start: u64, end: u64) -> Option<&[Hash]> {
        let row = self.levels.get(usize::from(level))?;
        row.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    fn check_size(&self, size: TreeSize) -> Result<(), TreeError> {
        let held = self.size().0;
        if size.0 > held {
            return Err(TreeError::TooLarge {
                asked: size.0,
                held,
            });
        }
        Ok(())
    }

    /// Root hash of the tree's first `size` leaves.
    pub fn root(&self, size: TreeSize) -> Result<Hash, TreeError> {
        self.check_size(size)?;
        Ok(tlog_tiles::tree_hash(size.0, self)?)
    }

    /// Inclusion proof of `leaf` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, leaf: LeafIndex, size: TreeSize) -> Result<Vec<Hash>, TreeError> {
        self.check_size(size)?;
        if leaf.0 >= size.0 {
            return Err(TreeError::LeafOutOfRange {
                leaf: leaf.0,
                size: size.0,
            });
        }
        Ok(tlog_tiles::prove_record(size.0, leaf.0, self)?)
    }

    /// Consistency proof that the tree of `from` leaves is a prefix of the tree of `to` leaves.
    pub fn consistency_proof(&self, from: TreeSize, to: TreeSize) -> Result<Vec<Hash>, TreeError> {
        self.check_size(to)?;
        if from.0 > to.0 {
            return Err(TreeError::Backwards {
                from: from.0,
                to: to.0,
            });
        }
        if from.0 == 0 || from.0 == to.0 {
            return Ok(Vec::new());
        }
        Ok(tlog_tiles::prove_tree(to.0, from.0, self)?)
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.levels.iter().map(|l| l.capacity() * 32).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf_hash;

    fn tree(n: u64) -> MemTree {
        MemTree::from_leaf_hashes((0..n).map(|i| leaf_hash(&i.to_be_bytes()))).unwrap()
    }

    #[test]
    fn empty_tree_root_is_sha256_of_nothing() {
        assert_eq!(tree(0).root(TreeSize(0)).unwrap(), tlog_tiles::EMPTY_HASH);
    }

    #[test]
    fn truncate_restores_the_earlier_tree() {
        let mut t = tree(37);
        let small = tree(20);
        t.truncate(TreeSize(20));
        assert_eq!(t.size(), TreeSize(20));
        assert_eq!(
            t.root(TreeSize(20)).unwrap(),
            small.root(TreeSize(20)).unwrap()
        );
        t.push(leaf_hash(&20u64.to_be_bytes())).unwrap();
        assert_eq!(
            t.root(TreeSize(21)).unwrap(),
            tree(21).root(TreeSize(21)).unwrap()
        );
    }

    #[test]
    fn roots_of_prefixes_match_smaller_trees() {
        let big = tree(300);
        for n in [1, 2, 3, 7, 8, 9, 255, 256, 257, 299] {
            assert_eq!(
                big.root(TreeSize(n)).unwrap(),
                tree(n).root(TreeSize(n)).unwrap(),
                "size {n}"
            );
        }
    }

    #[test]
    fn extend_builds_the_same_tree_as_push() {
        for (a, b) in [
            (0u64, 1u64),
            (0, 300),
            (5, 3),
            (255, 2),
            (256, 256),
            (1000, 37),
        ] {
            let mut t = tree(a);
            let more: Vec<_> = (a..a + b).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            t.extend(&more);
            let want = tree(a + b);
            let size = TreeSize(a + b);
            assert_eq!(t.root(size).unwrap(), want.root(size).unwrap(), "{a}+{b}");
            assert_eq!(t.levels, want.levels, "{a}+{b}");
            t.push(leaf_hash(b"next")).unwrap();
        }
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let t = tree(5);
        assert!(t.root(TreeSize(6)).is_err());
        assert!(t.inclusion_proof(LeafIndex(5), TreeSize(5)).is_err());
        assert!(t.consistency_proof(TreeSize(4), TreeSize(3)).is_err());
    }
}
