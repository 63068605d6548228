//! Test-only helpers shared by the integration tests: an independent, naive
//! implementation of RFC 6962 section 2.1 written straight from the RFC text
//! (recursive, O(n) per call, hashing with `sha2` directly rather than through
//! the crate), plus small stores used to observe or break proof generation.
#![allow(dead_code)]

use std::cell::RefCell;

use fundledger_merkle::{Hash, MerkleError, NodeId, NodeStore};
use sha2::{Digest, Sha256};

/// RFC 6962: `MTH({d(0)}) = SHA-256(0x00 || d(0))`.
pub fn naive_leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(data);
    hasher.finalize().into()
}

fn naive_node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// "The largest power of two smaller than n" (RFC 6962 section 2.1), n > 1.
fn split_point(n: usize) -> usize {
    assert!(n > 1);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// `MTH(D[n])` over already-hashed leaves.
pub fn naive_root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hashes[0],
        n => {
            let k = split_point(n);
            naive_node_hash(&naive_root(&leaf_hashes[..k]), &naive_root(&leaf_hashes[k..]))
        }
    }
}

/// `PATH(m, D[n])` (RFC 6962 section 2.1.1).
pub fn naive_inclusion_proof(m: usize, leaf_hashes: &[Hash]) -> Vec<Hash> {
    let n = leaf_hashes.len();
    assert!(m < n);
    if n == 1 {
        return Vec::new();
    }
    let k = split_point(n);
    if m < k {
        let mut path = naive_inclusion_proof(m, &leaf_hashes[..k]);
        path.push(naive_root(&leaf_hashes[k..]));
        path
    } else {
        let mut path = naive_inclusion_proof(m - k, &leaf_hashes[k..]);
        path.push(naive_root(&leaf_hashes[..k]));
        path
    }
}

/// `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)` (RFC 6962 section 2.1.2).
pub fn naive_consistency_proof(m: usize, leaf_hashes: &[Hash]) -> Vec<Hash> {
    assert!(0 < m && m <= leaf_hashes.len());
    naive_subproof(m, leaf_hashes, true)
}

fn naive_subproof(m: usize, leaf_hashes: &[Hash], whole_old_tree: bool) -> Vec<Hash> {
    let n = leaf_hashes.len();
    if m == n {
        return if whole_old_tree { Vec::new() } else { vec![naive_root(leaf_hashes)] };
    }
    let k = split_point(n);
    if m <= k {
        let mut proof = naive_subproof(m, &leaf_hashes[..k], whole_old_tree);
        proof.push(naive_root(&leaf_hashes[k..]));
        proof
    } else {
        let mut proof = naive_subproof(m - k, &leaf_hashes[k..], false);
        proof.push(naive_root(&leaf_hashes[..k]));
        proof
    }
}

/// Distinct, reproducible leaf hashes for tests.
pub fn test_leaves(count: usize, seed: u64) -> Vec<Hash> {
    (0..count as u64)
        .map(|index| {
            let mut data = seed.to_be_bytes().to_vec();
            data.extend_from_slice(&index.to_be_bytes());
            naive_leaf_hash(&data)
        })
        .collect()
}

/// Flips one bit of a hash.
pub fn flip_bit(hash: &Hash, bit: usize) -> Hash {
    let mut flipped = *hash;
    flipped[(bit / 8) % 32] ^= 1 << (bit % 8);
    flipped
}

/// A store that has every node (each with a made-up hash) and records which
/// ones were read, in order: used to check what proof generation reads.
#[derive(Default)]
pub struct RecordingStore {
    pub reads: RefCell<Vec<NodeId>>,
}

impl NodeStore for RecordingStore {
    fn node(&self, id: NodeId) -> Result<Option<Hash>, MerkleError> {
        self.reads.borrow_mut().push(id);
        let mut data = vec![id.level];
        data.extend_from_slice(&id.index.to_be_bytes());
        Ok(Some(naive_leaf_hash(&data)))
    }
}

/// A store whose every read fails, as a database might.
pub struct FailingStore;

#[derive(Debug)]
pub struct DiskFailure;

impl std::fmt::Display for DiskFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("simulated disk failure")
    }
}

impl std::error::Error for DiskFailure {}

impl NodeStore for FailingStore {
    fn node(&self, _id: NodeId) -> Result<Option<Hash>, MerkleError> {
        Err(MerkleError::store(DiskFailure))
    }
}
