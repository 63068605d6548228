//! The compact range: the right edge of a tree in O(log n) memory. A writer
//! appends through it (learning which complete nodes to persist), and a
//! restarted writer or a verifier rebuilds it from `size` plus at most 64
//! hashes instead of replaying every leaf.

use crate::error::MerkleError;
use crate::hash::{empty_root, node_hash, Hash};
use crate::node::{right_edge_subtrees_right_to_left, NodeId};
use crate::store::{read_node, NodeStore};

/// The right edge of a tree of `size` leaves: the roots ("peaks") of its
/// perfect subtrees, one per set bit of `size`, ordered left to right (the
/// largest subtree first).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    /// Invariant: `peaks.len() == size.count_ones()`, and `peaks[i]` is the
    /// root of the i-th perfect subtree from the left.
    peaks: Vec<Hash>,
}

impl CompactRange {
    /// The compact range of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a compact range from a size and its peaks, as previously
    /// returned by [`size`](Self::size) and [`peaks`](Self::peaks).
    ///
    /// Only the count is checked: the peaks are hashes, and whether they are
    /// the right ones can only be established against a trusted root.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Result<Self, MerkleError> {
        let expected_peak_count = size.count_ones() as usize;
        if peaks.len() != expected_peak_count {
            return Err(MerkleError::MalformedPeaks { size, expected_peak_count, actual_peak_count: peaks.len() });
        }
        Ok(Self { size, peaks })
    }

    /// Rebuilds the compact range of the tree of `size` leaves from stored
    /// nodes, with one read per peak.
    pub fn from_store(store: &impl NodeStore, size: u64) -> Result<Self, MerkleError> {
        let mut peaks = right_edge_subtrees_right_to_left(0, size).map(|id| read_node(store, id)).collect::<Result<Vec<_>, _>>()?;
        peaks.reverse();
        Ok(Self { size, peaks })
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peaks, largest subtree first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Where each peak lives in a node store, in the same order as
    /// [`peaks`](Self::peaks).
    pub fn peak_ids(&self) -> Vec<NodeId> {
        let mut ids: Vec<_> = right_edge_subtrees_right_to_left(0, self.size).collect();
        ids.reverse();
        ids
    }

    /// Splits into the size and peaks, e.g. to persist them.
    pub fn into_parts(self) -> (u64, Vec<Hash>) {
        (self.size, self.peaks)
    }

    /// Appends one leaf hash (already `leaf_hash`ed).
    ///
    /// Calls `on_node` for the new leaf node, then for every complete subtree
    /// node the append completes, bottom-up. A caller that persists all of
    /// them has exactly the nodes [`inclusion_proof`](crate::inclusion_proof),
    /// [`consistency_proof`](crate::consistency_proof) and
    /// [`root_at`](crate::root_at) read.
    ///
    /// # Panics
    /// If the tree already has `u64::MAX` leaves.
    pub fn append(&mut self, leaf: Hash, mut on_node: impl FnMut(NodeId, &Hash)) {
        assert!(self.size < u64::MAX, "a Merkle tree cannot hold more than u64::MAX leaves");
        let mut id = NodeId::leaf(self.size);
        let mut hash = leaf;
        on_node(id, &hash);
        // Each trailing one bit of the old size is a peak of the same height as
        // the subtree being carried up; they merge like binary addition.
        while id.index & 1 == 1 {
            // `peaks.len() == size.count_ones()` (checked by every
            // constructor), so there is a peak for every trailing one bit.
            let Some(left) = self.peaks.pop() else { unreachable!("compact range holds fewer peaks than its size has set bits") };
            hash = node_hash(&left, &hash);
            id = NodeId::new(id.level + 1, id.index >> 1);
            on_node(id, &hash);
        }
        self.peaks.push(hash);
        self.size += 1;
        debug_assert_eq!(self.peaks.len(), self.size.count_ones() as usize);
    }

    /// The RFC 6962 root of the tree of the current size (`empty_root()` when
    /// nothing has been appended).
    pub fn root(&self) -> Hash {
        fold_peaks_right_to_left(self.peaks.iter().rev().copied()).unwrap_or_else(empty_root)
    }
}

/// Combines peaks given right to left into the root over all of them: the
/// partial right-edge subtree is hashed first and becomes a right child.
pub(crate) fn fold_peaks_right_to_left(peaks: impl Iterator<Item = Hash>) -> Option<Hash> {
    peaks.reduce(|right, left| node_hash(&left, &right))
}
