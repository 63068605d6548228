//! Proof verification exactly as RFC 9162 sections 2.1.3.2 and 2.1.4.2 spell
//! it out, so the code can be checked line by line against the standard.
//! Everything here runs on untrusted input: sizes, indexes and proofs are
//! checked first and every failure is an error, never a panic.

use crate::error::MerkleError;
use crate::hash::{node_hash, Hash};
use crate::proof::check_consistency_sizes;

/// The number of hashes in an inclusion proof for `leaf_index` in a tree of
/// `tree_size` leaves.
pub fn inclusion_proof_length(leaf_index: u64, tree_size: u64) -> Result<usize, MerkleError> {
    if leaf_index >= tree_size {
        return Err(MerkleError::LeafIndexOutOfRange { leaf_index, tree_size });
    }
    // Below the height where the paths to the leaf and to the last leaf join,
    // every level contributes a sibling; above it only levels where the path
    // is a right child do.
    let inner_height = u64::BITS - (leaf_index ^ (tree_size - 1)).leading_zeros();
    let border_count = leaf_index.checked_shr(inner_height).unwrap_or(0).count_ones();
    Ok((inner_height + border_count) as usize)
}

/// The number of hashes in a consistency proof from `old_size` to
/// `new_size` leaves.
pub fn consistency_proof_length(old_size: u64, new_size: u64) -> Result<usize, MerkleError> {
    check_consistency_sizes(old_size, new_size)?;
    if old_size == new_size {
        return Ok(0);
    }
    // The proof is the inclusion path of the largest perfect subtree ending
    // at old_size, preceded by that subtree's root unless it is the whole old
    // tree (old_size a power of two).
    let boundary_level = old_size.trailing_zeros();
    let path_length = inclusion_proof_length((old_size - 1) >> boundary_level, ((new_size - 1) >> boundary_level) + 1)?;
    let boundary_count = usize::from(!old_size.is_power_of_two());
    Ok(boundary_count + path_length)
}

/// Checks that `leaf` (a leaf hash, i.e. already `leaf_hash`ed) is at
/// `leaf_index` in the tree of `tree_size` leaves whose root is `root`
/// (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, leaf_index: u64, tree_size: u64, proof: &[Hash], root: &Hash) -> Result<(), MerkleError> {
    // Step 1 of the RFC (leaf_index < tree_size) is part of the length check,
    // which also rejects truncated or padded proofs with a precise error.
    let expected = inclusion_proof_length(leaf_index, tree_size)?;
    if proof.len() != expected {
        return Err(MerkleError::ProofLengthMismatch { expected, actual: proof.len() });
    }
    // Steps 2 and 3.
    let mut first_node = leaf_index;
    let mut second_node = tree_size - 1;
    let mut computed = *leaf;
    // Step 4.
    for sibling in proof {
        if second_node == 0 {
            return Err(MerkleError::ProofLengthMismatch { expected, actual: proof.len() });
        }
        if first_node & 1 == 1 || first_node == second_node {
            computed = node_hash(sibling, &computed);
            if first_node & 1 == 0 {
                // The path is on the right edge and has no right sibling at
                // these levels: the node is promoted unchanged.
                while first_node & 1 == 0 && first_node != 0 {
                    first_node >>= 1;
                    second_node >>= 1;
                }
            }
        } else {
            computed = node_hash(&computed, sibling);
        }
        first_node >>= 1;
        second_node >>= 1;
    }
    // Step 5.
    if second_node != 0 {
        return Err(MerkleError::ProofLengthMismatch { expected, actual: proof.len() });
    }
    if computed != *root {
        return Err(MerkleError::RootMismatch { tree_size, expected: *root, computed });
    }
    Ok(())
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the
/// tree of `old_size` leaves with root `old_root` (RFC 9162 section 2.1.4.2).
///
/// `old_size` must be at least 1 (RFC 6962 defines no proof from the empty
/// tree). Equal sizes need an empty proof and equal roots.
pub fn verify_consistency(old_size: u64, new_size: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> Result<(), MerkleError> {
    let expected = consistency_proof_length(old_size, new_size)?;
    if proof.len() != expected {
        return Err(MerkleError::ProofLengthMismatch { expected, actual: proof.len() });
    }
    if old_size == new_size {
        if old_root != new_root {
            return Err(MerkleError::RootMismatch { tree_size: new_size, expected: *new_root, computed: *old_root });
        }
        return Ok(());
    }
    // Step 1 (an empty proof fails) is covered by the length check: a proof
    // between different sizes always has at least one hash.
    debug_assert!(!proof.is_empty());
    // Step 2: a power-of-two old tree is itself the boundary subtree, so its
    // root starts the path; otherwise the proof's first hash does.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            None => return Err(MerkleError::ProofLengthMismatch { expected, actual: 0 }),
        }
    };
    // Step 3.
    let mut first_node = old_size - 1;
    let mut second_node = new_size - 1;
    // Step 4.
    while first_node & 1 == 1 {
        first_node >>= 1;
        second_node >>= 1;
    }
    // Step 5.
    let mut first_root = *seed;
    let mut second_root = *seed;
    // Step 6.
    for sibling in rest {
        if second_node == 0 {
            return Err(MerkleError::ProofLengthMismatch { expected, actual: proof.len() });
        }
        if first_node & 1 == 1 || first_node == second_node {
            first_root = node_hash(sibling, &first_root);
            second_root = node_hash(sibling, &second_root);
            if first_node & 1 == 0 {
                while first_node & 1 == 0 && first_node != 0 {
                    first_node >>= 1;
                    second_node >>= 1;
                }
            }
        } else {
            // Only the new tree has this right sibling.
            second_root = node_hash(&second_root, sibling);
        }
        first_node >>= 1;
        second_node >>= 1;
    }
    // Step 7.
    if second_node != 0 {
        return Err(MerkleError::ProofLengthMismatch { expected, actual: proof.len() });
    }
    if first_root != *old_root {
        return Err(MerkleError::RootMismatch { tree_size: old_size, expected: *old_root, computed: first_root });
    }
    if second_root != *new_root {
        return Err(MerkleError::RootMismatch { tree_size: new_size, expected: *new_root, computed: second_root });
    }
    Ok(())
}
