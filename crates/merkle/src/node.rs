//! Addresses of complete, aligned subtrees. Proof generation only ever reads
//! nodes by these addresses, which is what lets a store keep a flat
//! `(level, index) -> hash` table instead of a pointer-based tree.

use std::fmt;

/// Position of a complete, aligned subtree.
///
/// Level 0 holds the leaf hashes; node `(level, index)` covers the leaves
/// `[index << level, (index + 1) << level)`. Only nodes whose whole leaf range
/// exists are ever stored: the partial subtrees on the right edge of a tree
/// whose size is not a power of two have no `NodeId` and are recomputed from
/// stored nodes when needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves; 0 for a leaf.
    pub level: u8,
    /// Position among the nodes of the same level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// The node at `level` and `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// The leaf node for the leaf at `leaf_index`.
    pub const fn leaf(leaf_index: u64) -> Self {
        Self { level: 0, index: leaf_index }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "(level {}, index {})", self.level, self.index)?;
        // The leaf range is what an operator needs to find the gap in a store;
        // it is omitted only for ids too large to describe a real leaf range.
        if let Some(first_leaf) = self.index.checked_shl(u32::from(self.level)) {
            if first_leaf >> self.level == self.index {
                let width = 1u128 << self.level;
                let end_leaf = u128::from(first_leaf) + width;
                write!(formatter, " covering leaves [{first_leaf}, {end_leaf})")?;
            }
        }
        Ok(())
    }
}

/// The complete subtrees that make up the leaf range `[start, end)`, from the
/// rightmost (smallest) to the leftmost (largest).
///
/// `start` must be aligned to a power of two at least `end - start` (true for
/// `[0, size)` and for every right-edge subtree a proof needs), so the range
/// splits into one perfect subtree per set bit of its length.
pub(crate) fn right_edge_subtrees_right_to_left(start: u64, end: u64) -> impl Iterator<Item = NodeId> {
    debug_assert!(start <= end, "range [{start}, {end}) is reversed");
    let length = end - start;
    debug_assert!(
        length.checked_next_power_of_two().map_or(start == 0, |width| start & (width - 1) == 0),
        "range [{start}, {end}) does not start on a boundary of its own width"
    );
    let mut remaining_length = length;
    let mut right_end = end;
    std::iter::from_fn(move || {
        if remaining_length == 0 {
            return None;
        }
        let level = remaining_length.trailing_zeros();
        let subtree_start = right_end - (1u64 << level);
        remaining_length &= remaining_length - 1;
        right_end = subtree_start;
        // level < 64 because remaining_length != 0, so it fits in u8.
        Some(NodeId::new(level as u8, subtree_start >> level))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_edge_of_seven_leaves() {
        let ids: Vec<_> = right_edge_subtrees_right_to_left(0, 7).collect();
        assert_eq!(ids, vec![NodeId::new(0, 6), NodeId::new(1, 2), NodeId::new(2, 0)]);
    }

    #[test]
    fn right_edge_of_aligned_partial_range() {
        // Leaves [8, 13): a 4-subtree at 8..12 and a leaf at 12.
        let ids: Vec<_> = right_edge_subtrees_right_to_left(8, 13).collect();
        assert_eq!(ids, vec![NodeId::new(0, 12), NodeId::new(2, 2)]);
    }

    #[test]
    fn right_edge_of_maximum_size() {
        let ids: Vec<_> = right_edge_subtrees_right_to_left(0, u64::MAX).collect();
        assert_eq!(ids.len(), 64);
        assert_eq!(ids[0], NodeId::new(0, u64::MAX - 1));
        assert_eq!(ids[63], NodeId::new(63, 0));
    }

    #[test]
    fn display_names_the_leaf_range() {
        assert_eq!(NodeId::new(2, 3).to_string(), "(level 2, index 3) covering leaves [12, 16)");
        assert_eq!(NodeId::new(200, 3).to_string(), "(level 200, index 3)");
    }
}
