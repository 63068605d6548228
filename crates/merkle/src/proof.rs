//! Proof generation from stored complete-subtree nodes, for any past tree
//! size. Every hash a proof needs is either a stored complete aligned subtree
//! or the root of a partial subtree on the tree's right edge, which is
//! recomputed from at most 64 stored nodes, so each call costs O(log n) reads
//! and never touches the leaves of a big subtree.

use crate::error::MerkleError;
use crate::hash::{empty_root, node_hash, Hash};
use crate::node::{right_edge_subtrees_right_to_left, NodeId};
use crate::store::{read_node, NodeStore};
use crate::verify::{consistency_proof_length, inclusion_proof_length};

/// The RFC 6962 root (Merkle Tree Hash) of the first `size` leaves.
pub fn root_at(store: &impl NodeStore, size: u64) -> Result<Hash, MerkleError> {
    right_edge_root(store, 0, size)
}

/// The RFC 6962 section 2.1.1 audit path `PATH(leaf_index, D[tree_size])`,
/// ordered from the leaf's sibling up to the child of the root.
pub fn inclusion_proof(store: &impl NodeStore, leaf_index: u64, tree_size: u64) -> Result<Vec<Hash>, MerkleError> {
    // Also rejects leaf_index >= tree_size.
    let length = inclusion_proof_length(leaf_index, tree_size)?;
    let mut proof = Vec::with_capacity(length);
    push_path_to_root(store, NodeId::leaf(leaf_index), tree_size, &mut proof)?;
    debug_assert_eq!(proof.len(), length);
    Ok(proof)
}

/// The RFC 6962 section 2.1.2 consistency proof `PROOF(old_size,
/// D[new_size])`. Empty when the sizes are equal.
pub fn consistency_proof(store: &impl NodeStore, old_size: u64, new_size: u64) -> Result<Vec<Hash>, MerkleError> {
    let length = consistency_proof_length(old_size, new_size)?;
    let mut proof = Vec::with_capacity(length);
    if old_size == new_size {
        return Ok(proof);
    }
    // The largest perfect subtree ending exactly at old_size is where the old
    // tree's right edge meets the new tree: the proof is this node followed by
    // its path to the new root (RFC 6962 SUBPROOF unrolled).
    let level = old_size.trailing_zeros();
    let boundary = NodeId::new(level as u8, (old_size - 1) >> level);
    // When old_size is a power of two that node is the old root, which the
    // verifier already has, so RFC 6962 leaves it out.
    if boundary.index != 0 {
        proof.push(read_node(store, boundary)?);
    }
    push_path_to_root(store, boundary, new_size, &mut proof)?;
    debug_assert_eq!(proof.len(), length);
    Ok(proof)
}

/// Shared argument checks for generating and verifying consistency proofs.
pub(crate) fn check_consistency_sizes(old_size: u64, new_size: u64) -> Result<(), MerkleError> {
    if old_size > new_size {
        return Err(MerkleError::OldSizeExceedsNewSize { old_size, new_size });
    }
    if old_size == 0 {
        return Err(MerkleError::OldSizeZero { new_size });
    }
    Ok(())
}

/// Appends to `proof` the sibling hashes on the path from the complete node
/// `node` to the root of the tree of `tree_size` leaves, bottom-up.
fn push_path_to_root(store: &impl NodeStore, node: NodeId, tree_size: u64, proof: &mut Vec<Hash>) -> Result<(), MerkleError> {
    let level = u32::from(node.level);
    debug_assert!(tree_size > 0);
    // The node at `level` that contains the tree's last leaf.
    let last_index = (tree_size - 1) >> level;
    debug_assert!(node.index <= last_index, "node {node} is outside tree {tree_size}");
    // Below the height where the paths to `node` and to the last leaf join,
    // siblings are ordinary subtrees; the last of them is the right edge of the
    // tree and may be partial.
    let inner_height = u64::BITS - (node.index ^ last_index).leading_zeros();
    for height in 0..inner_height {
        let sibling = NodeId::new((level + height) as u8, (node.index >> height) ^ 1);
        if height + 1 == inner_height {
            let sibling_start = sibling.index << sibling.level;
            proof.push(right_edge_root(store, sibling_start, tree_size)?);
        } else {
            proof.push(read_node(store, sibling)?);
        }
    }
    // Above that height the path runs along the right edge: a node there has a
    // sibling only when it is a right child, and that sibling is complete.
    let mut height = inner_height;
    let mut ancestor = node.index.checked_shr(inner_height).unwrap_or(0);
    while ancestor != 0 {
        if ancestor & 1 == 1 {
            proof.push(read_node(store, NodeId::new((level + height) as u8, ancestor - 1))?);
        }
        ancestor >>= 1;
        height += 1;
    }
    Ok(())
}

/// The root of the leaves `[start, end)`, where `start` is aligned to a power
/// of two at least `end - start`: the whole tree, or a right-edge subtree.
fn right_edge_root(store: &impl NodeStore, start: u64, end: u64) -> Result<Hash, MerkleError> {
    let mut root: Option<Hash> = None;
    for id in right_edge_subtrees_right_to_left(start, end) {
        let left = read_node(store, id)?;
        root = Some(match root {
            None => left,
            Some(right) => node_hash(&left, &right),
        });
    }
    Ok(root.unwrap_or_else(empty_root))
}
