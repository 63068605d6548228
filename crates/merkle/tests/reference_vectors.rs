//! Published reference values, so the crate is checked against other RFC 6962
//! implementations rather than only against itself.
//!
//! Sources (read through the stored copy of github.com/transparency-dev/merkle):
//! - `rfc6962/rfc6962_test.go` (TestRFC6962Hasher): empty root and leaf hashes.
//! - `proof/verify_test.go`: the 8-leaf reference tree (the same leaves as
//!   certificate-transparency's merkle_tree_test.cc), its roots for sizes 1..8,
//!   its inclusion proofs (`inclusionProofs`, whose leaf numbers are 1-based)
//!   and consistency proofs (`consistencyProofs`), and the corruptions in
//!   `corruptInclusionProof` / `corruptConsistencyProof` that must be rejected.
//! - `proof/proof_test.go` (TestInclusion, TestConsistency): which stored
//!   nodes a proof is made of, for trees of up to 95 leaves.

mod support;

use fundledger_merkle::*;
use support::*;

fn hash(text: &str) -> Hash {
    hash_from_hex(text).expect("reference hash is valid hex")
}

fn hashes(texts: &[&str]) -> Vec<Hash> {
    texts.iter().map(|text| hash(text)).collect()
}

/// Leaf inputs of the reference tree, hex-encoded.
const REFERENCE_LEAF_INPUTS_HEX: [&str; 8] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/// Roots of the reference tree for sizes 1..=8.
const REFERENCE_ROOTS_HEX: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// `sha256SomeHash` in verify_test.go: an arbitrary wrong hash.
const SOME_HASH_HEX: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

struct InclusionVector {
    leaf_index: u64,
    tree_size: u64,
    proof: &'static [&'static str],
}

/// `inclusionProofs` from verify_test.go, with the 1-based leaf numbers
/// converted to 0-based indexes.
const INCLUSION_VECTORS: [InclusionVector; 5] = [
    InclusionVector { leaf_index: 0, tree_size: 1, proof: &[] },
    InclusionVector {
        leaf_index: 0,
        tree_size: 8,
        proof: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    InclusionVector {
        leaf_index: 5,
        tree_size: 8,
        proof: &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    InclusionVector { leaf_index: 2, tree_size: 3, proof: &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
    InclusionVector {
        leaf_index: 1,
        tree_size: 5,
        proof: &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    },
];

struct ConsistencyVector {
    old_size: u64,
    new_size: u64,
    proof: &'static [&'static str],
}

/// `consistencyProofs` from verify_test.go.
const CONSISTENCY_VECTORS: [ConsistencyVector; 5] = [
    ConsistencyVector { old_size: 1, new_size: 1, proof: &[] },
    ConsistencyVector {
        old_size: 1,
        new_size: 8,
        proof: &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    },
    ConsistencyVector {
        old_size: 6,
        new_size: 8,
        proof: &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
    ConsistencyVector {
        old_size: 2,
        new_size: 5,
        proof: &["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
    },
    ConsistencyVector {
        old_size: 6,
        new_size: 7,
        proof: &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    },
];

fn reference_leaf_hashes() -> Vec<Hash> {
    REFERENCE_LEAF_INPUTS_HEX.iter().map(|input| leaf_hash(&hex::decode(input).expect("reference leaf is valid hex"))).collect()
}

fn reference_store() -> MemoryNodeStore {
    MemoryNodeStore::from_leaves(reference_leaf_hashes())
}

fn reference_root(size: u64) -> Hash {
    hash(REFERENCE_ROOTS_HEX[(size - 1) as usize])
}

#[test]
fn hasher_matches_rfc6962_test_go() {
    assert_eq!(hash_to_hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(hash_to_hex(&leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    assert_eq!(hash_to_hex(&leaf_hash(b"L123456")), "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
    // The empty tree and the tree with one empty leaf must differ.
    assert_ne!(empty_root(), leaf_hash(b""));
    // Node hashing is ordered and domain-separated from leaf hashing.
    let (left, right) = (leaf_hash(b"Hello"), leaf_hash(b"World"));
    assert_ne!(node_hash(&left, &right), node_hash(&right, &left));
    assert_ne!(node_hash(&left, &right), leaf_hash(&[left, right].concat()));
}

#[test]
fn roots_for_sizes_1_to_8() {
    let leaves = reference_leaf_hashes();
    let store = reference_store();
    let mut range = CompactRange::new();
    assert_eq!(range.root(), empty_root());
    assert_eq!(root_at(&store, 0).ok(), Some(empty_root()));
    for (count, leaf) in leaves.iter().enumerate() {
        range.append(*leaf, |_, _| {});
        let size = count as u64 + 1;
        let expected = reference_root(size);
        assert_eq!(range.root(), expected, "CompactRange root at size {size}");
        assert_eq!(root_at(&store, size).ok(), Some(expected), "root_at({size})");
        assert_eq!(naive_root(&leaves[..size as usize]), expected, "naive root at {size}");
    }
}

#[test]
fn published_inclusion_proofs_are_generated_and_verified() {
    let store = reference_store();
    for vector in &INCLUSION_VECTORS {
        let (index, size) = (vector.leaf_index, vector.tree_size);
        let expected = hashes(vector.proof);
        let generated = inclusion_proof(&store, index, size).expect("proof generation");
        assert_eq!(generated, expected, "inclusion proof for leaf {index} in tree {size}");
        assert_eq!(inclusion_proof_length(index, size).ok(), Some(expected.len()));
        let leaf = reference_leaf_hashes()[index as usize];
        let root = reference_root(size);
        verify_inclusion(&leaf, index, size, &expected, &root).unwrap_or_else(|error| panic!("leaf {index} in tree {size}: {error}"));
    }
}

/// The probes of `corruptInclusionProof` in verify_test.go; every one must fail.
#[test]
fn corrupted_published_inclusion_proofs_are_rejected() {
    let some_hash = hash(SOME_HASH_HEX);
    for vector in INCLUSION_VECTORS.iter().skip(1) {
        let (index, size) = (vector.leaf_index, vector.tree_size);
        let proof = hashes(vector.proof);
        let leaf = reference_leaf_hashes()[index as usize];
        let root = reference_root(size);
        let mut probes: Vec<(String, Hash, u64, u64, Vec<Hash>, Hash)> = vec![
            ("index - 1".into(), leaf, index.wrapping_sub(1), size, proof.clone(), root),
            ("index + 1".into(), leaf, index + 1, size, proof.clone(), root),
            ("index ^ 2".into(), leaf, index ^ 2, size, proof.clone(), root),
            ("size * 2".into(), leaf, index, size * 2, proof.clone(), root),
            ("size / 2".into(), leaf, index, size / 2, proof.clone(), root),
            ("wrong leaf".into(), leaf_hash(b"WrongLeaf"), index, size, proof.clone(), root),
            ("empty root".into(), leaf, index, size, proof.clone(), empty_root()),
            ("random root".into(), leaf, index, size, proof.clone(), some_hash),
            ("trailing root".into(), leaf, index, size, [proof.clone(), vec![root]].concat(), root),
            ("preceding root".into(), leaf, index, size, [vec![root], proof.clone()].concat(), root),
        ];
        for position in 0..proof.len() {
            let mut modified = proof.clone();
            modified[position][0] ^= 8;
            probes.push((format!("modified proof[{position}]"), leaf, index, size, modified, root));
        }
        if !proof.is_empty() {
            let removed = proof[..proof.len() - 1].to_vec();
            probes.push(("removed component".into(), leaf, index, size, removed, root));
        }
        if proof.len() > 1 {
            let inserted = [vec![proof[0], some_hash], proof[1..].to_vec()].concat();
            probes.push(("inserted component".into(), leaf, index, size, inserted, root));
        }
        for (description, leaf, index, size, proof, root) in probes {
            assert!(
                verify_inclusion(&leaf, index, size, &proof, &root).is_err(),
                "{description} verified for vector (leaf {}, size {})",
                vector.leaf_index,
                vector.tree_size
            );
        }
    }
}

#[test]
fn published_consistency_proofs_are_generated_and_verified() {
    let store = reference_store();
    for vector in &CONSISTENCY_VECTORS {
        let (old_size, new_size) = (vector.old_size, vector.new_size);
        let expected = hashes(vector.proof);
        let generated = consistency_proof(&store, old_size, new_size).expect("proof generation");
        assert_eq!(generated, expected, "consistency proof {old_size} -> {new_size}");
        assert_eq!(consistency_proof_length(old_size, new_size).ok(), Some(expected.len()));
        verify_consistency(old_size, new_size, &reference_root(old_size), &reference_root(new_size), &expected)
            .unwrap_or_else(|error| panic!("{old_size} -> {new_size}: {error}"));
    }
}

/// The probes of `corruptConsistencyProof` in verify_test.go; every one must
/// fail.
#[test]
fn corrupted_published_consistency_proofs_are_rejected() {
    let wrong_root = leaf_hash(b"WrongRoot");
    for vector in CONSISTENCY_VECTORS.iter().filter(|vector| !vector.proof.is_empty()) {
        let (old_size, new_size) = (vector.old_size, vector.new_size);
        let proof = hashes(vector.proof);
        let (old_root, new_root) = (reference_root(old_size), reference_root(new_size));
        let mut probes: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            ("old - 1".into(), old_size - 1, new_size, old_root, new_root, proof.clone()),
            ("old + 1".into(), old_size + 1, new_size, old_root, new_root, proof.clone()),
            ("old ^ 2".into(), old_size ^ 2, new_size, old_root, new_root, proof.clone()),
            ("new * 2".into(), old_size, new_size * 2, old_root, new_root, proof.clone()),
            ("new / 2".into(), old_size, new_size / 2, old_root, new_root, proof.clone()),
            ("wrong old root".into(), old_size, new_size, wrong_root, new_root, proof.clone()),
            ("wrong new root".into(), old_size, new_size, old_root, wrong_root, proof.clone()),
            ("swapped roots".into(), old_size, new_size, new_root, old_root, proof.clone()),
            ("empty proof".into(), old_size, new_size, old_root, new_root, Vec::new()),
            ("trailing old root".into(), old_size, new_size, old_root, new_root, [proof.clone(), vec![old_root]].concat()),
            ("trailing new root".into(), old_size, new_size, old_root, new_root, [proof.clone(), vec![new_root]].concat()),
            ("preceding old root".into(), old_size, new_size, old_root, new_root, [vec![old_root], proof.clone()].concat()),
            ("preceding new root".into(), old_size, new_size, old_root, new_root, [vec![new_root], proof.clone()].concat()),
            ("preceding proof[0]".into(), old_size, new_size, old_root, new_root, [vec![proof[0]], proof.clone()].concat()),
            ("truncated proof".into(), old_size, new_size, old_root, new_root, proof[..proof.len() - 1].to_vec()),
        ];
        for position in 0..proof.len() {
            let mut modified = proof.clone();
            modified[position][0] ^= 16;
            probes.push((format!("modified proof[{position}]"), old_size, new_size, old_root, new_root, modified));
        }
        for (description, old_size, new_size, old_root, new_root, proof) in probes {
            assert!(
                verify_consistency(old_size, new_size, &old_root, &new_root, &proof).is_err(),
                "{description} verified for vector {} -> {}",
                vector.old_size,
                vector.new_size
            );
        }
    }
}

fn id(level: u8, index: u64) -> NodeId {
    NodeId::new(level, index)
}

fn inclusion_reads(leaf_index: u64, tree_size: u64) -> Vec<NodeId> {
    let store = RecordingStore::default();
    inclusion_proof(&store, leaf_index, tree_size).expect("proof generation");
    store.reads.into_inner()
}

fn consistency_reads(old_size: u64, new_size: u64) -> Vec<NodeId> {
    let store = RecordingStore::default();
    consistency_proof(&store, old_size, new_size).expect("proof generation");
    store.reads.into_inner()
}

/// TestInclusion in proof_test.go lists the stored nodes each proof is made
/// of (a partial right-edge subtree appears as the stored nodes it is
/// recomputed from, rightmost first). Reading exactly those nodes shows both
/// the proof structure and that no leaf below a complete subtree is read.
#[test]
fn inclusion_proofs_read_the_published_node_lists() {
    let cases: Vec<(u64, u64, Vec<NodeId>)> = vec![
        (1, 0, vec![]),
        (2, 0, vec![id(0, 1)]),
        (2, 1, vec![id(0, 0)]),
        (3, 1, vec![id(0, 0), id(0, 2)]),
        (7, 0, vec![id(0, 1), id(1, 1), id(0, 6), id(1, 2)]),
        (7, 1, vec![id(0, 0), id(1, 1), id(0, 6), id(1, 2)]),
        (7, 2, vec![id(0, 3), id(1, 0), id(0, 6), id(1, 2)]),
        (7, 3, vec![id(0, 2), id(1, 0), id(0, 6), id(1, 2)]),
        (7, 4, vec![id(0, 5), id(0, 6), id(2, 0)]),
        (7, 5, vec![id(0, 4), id(0, 6), id(2, 0)]),
        (7, 6, vec![id(1, 2), id(2, 0)]),
        (4, 2, vec![id(0, 3), id(1, 0)]),
        (5, 3, vec![id(0, 2), id(1, 0), id(0, 4)]),
        (6, 3, vec![id(0, 2), id(1, 0), id(1, 2)]),
        (6, 4, vec![id(0, 5), id(2, 0)]),
        (15, 10, vec![id(0, 11), id(1, 4), id(0, 14), id(1, 6), id(3, 0)]),
        (31, 24, vec![id(0, 25), id(1, 13), id(0, 30), id(1, 14), id(3, 2), id(4, 0)]),
        (95, 81, vec![id(0, 80), id(1, 41), id(2, 21), id(0, 94), id(1, 46), id(2, 22), id(4, 4), id(6, 0)]),
    ];
    for (tree_size, leaf_index, expected) in cases {
        assert_eq!(inclusion_reads(leaf_index, tree_size), expected, "leaf {leaf_index} in tree {tree_size}");
    }
}

/// TestConsistency in proof_test.go, read the same way.
#[test]
fn consistency_proofs_read_the_published_node_lists() {
    let cases: Vec<(u64, u64, Vec<NodeId>)> = vec![
        (1, 2, vec![id(0, 1)]),
        (1, 4, vec![id(0, 1), id(1, 1)]),
        (1, 6, vec![id(0, 1), id(1, 1), id(1, 2)]),
        (2, 3, vec![id(0, 2)]),
        (2, 8, vec![id(1, 1), id(2, 1)]),
        (3, 7, vec![id(0, 2), id(0, 3), id(1, 0), id(0, 6), id(1, 2)]),
        (4, 7, vec![id(0, 6), id(1, 2)]),
        (5, 7, vec![id(0, 4), id(0, 5), id(0, 6), id(2, 0)]),
        (6, 7, vec![id(1, 2), id(0, 6), id(2, 0)]),
        (7, 8, vec![id(0, 6), id(0, 7), id(1, 2), id(2, 0)]),
        (1, 1, vec![]),
        (2, 2, vec![]),
        (3, 3, vec![]),
        (4, 4, vec![]),
        (5, 5, vec![]),
        (7, 7, vec![]),
        (8, 8, vec![]),
        (2, 4, vec![id(1, 1)]),
        (3, 5, vec![id(0, 2), id(0, 3), id(1, 0), id(0, 4)]),
        (3, 6, vec![id(0, 2), id(0, 3), id(1, 0), id(1, 2)]),
        (4, 6, vec![id(1, 2)]),
        (1, 7, vec![id(0, 1), id(1, 1), id(0, 6), id(1, 2)]),
        (10, 15, vec![id(1, 4), id(1, 5), id(0, 14), id(1, 6), id(3, 0)]),
        (24, 31, vec![id(3, 2), id(0, 30), id(1, 14), id(2, 6), id(4, 0)]),
        (81, 95, vec![id(0, 80), id(0, 81), id(1, 41), id(2, 21), id(0, 94), id(1, 46), id(2, 22), id(4, 4), id(6, 0)]),
    ];
    for (old_size, new_size, expected) in cases {
        assert_eq!(consistency_reads(old_size, new_size), expected, "consistency {old_size} -> {new_size}");
    }
}

/// proof_test.go's error cases for generation.
#[test]
fn published_generation_error_cases() {
    let store = RecordingStore::default();
    for (tree_size, leaf_index) in [(0, 0), (0, 1), (1, 2), (0, 3), (7, 8)] {
        assert!(matches!(inclusion_proof(&store, leaf_index, tree_size), Err(MerkleError::LeafIndexOutOfRange { .. })));
    }
    for (old_size, new_size) in [(5, 0), (9, 8)] {
        assert!(matches!(consistency_proof(&store, old_size, new_size), Err(MerkleError::OldSizeExceedsNewSize { .. })));
    }
    assert!(store.reads.borrow().is_empty(), "rejected requests read nothing");
}
