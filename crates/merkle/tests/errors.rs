//! Every input a caller or a remote party can get wrong gives a specific
//! error (never a panic), and the message carries the values needed to act.

mod support;

use fundledger_merkle::*;
use support::*;

fn five_leaf_store() -> (MemoryNodeStore, Vec<Hash>) {
    let leaves = test_leaves(5, 3);
    (MemoryNodeStore::from_leaves(leaves.iter().copied()), leaves)
}

#[test]
fn inclusion_proof_for_index_at_or_beyond_size() {
    let (store, _) = five_leaf_store();
    for (leaf_index, tree_size) in [(5, 5), (6, 5), (0, 0), (u64::MAX, 5), (u64::MAX, u64::MAX)] {
        let error = inclusion_proof(&store, leaf_index, tree_size).unwrap_err();
        assert!(matches!(error, MerkleError::LeafIndexOutOfRange { leaf_index: i, tree_size: s } if i == leaf_index && s == tree_size), "{error:?}");
    }
    let message = inclusion_proof(&store, 7, 5).unwrap_err().to_string();
    assert!(message.contains("leaf index 7") && message.contains("5 leaves"), "{message}");
}

#[test]
fn consistency_proof_size_errors() {
    let (store, _) = five_leaf_store();
    let error = consistency_proof(&store, 4, 3).unwrap_err();
    assert!(matches!(error, MerkleError::OldSizeExceedsNewSize { old_size: 4, new_size: 3 }));
    assert!(error.to_string().contains("old tree size 4 exceeds new tree size 3"));
    assert!(matches!(consistency_proof(&store, 0, 3), Err(MerkleError::OldSizeZero { new_size: 3 })));
    assert!(matches!(consistency_proof(&store, 0, 0), Err(MerkleError::OldSizeZero { new_size: 0 })));
    assert_eq!(consistency_proof(&store, 3, 3).ok(), Some(Vec::new()));
}

#[test]
fn requests_beyond_the_stored_tree_name_the_missing_node() {
    let (store, _) = five_leaf_store();
    let missing = |result: Result<_, MerkleError>| match result {
        Err(MerkleError::MissingNode(id)) => id,
        other => panic!("expected MissingNode, got {other:?}"),
    };
    assert_eq!(missing(root_at(&store, 6).map(|_| ())), NodeId::new(1, 2));
    assert_eq!(missing(inclusion_proof(&store, 1, 8).map(|_| ())), NodeId::new(2, 1));
    assert!(consistency_proof(&store, 2, 9).is_err());
    assert!(CompactRange::from_store(&store, 6).is_err());
    let message = root_at(&store, 6).unwrap_err().to_string();
    assert!(message.contains("(level 1, index 2) covering leaves [4, 6)"), "{message}");
}

#[test]
fn store_failures_propagate() {
    let error = inclusion_proof(&FailingStore, 0, 2).unwrap_err();
    assert!(matches!(error, MerkleError::Store(_)));
    assert!(error.to_string().contains("simulated disk failure"));
    assert!(std::error::Error::source(&error).is_some());
    assert!(matches!(root_at(&FailingStore, 3), Err(MerkleError::Store(_))));
    assert!(matches!(consistency_proof(&FailingStore, 3, 4), Err(MerkleError::Store(_))));
    // A store behind a trait object works too.
    let dynamic: &dyn NodeStore = &FailingStore;
    assert!(matches!(root_at(&dynamic, 1), Err(MerkleError::Store(_))));
}

#[test]
fn verify_inclusion_rejects_bad_sizes_and_lengths() {
    let (store, leaves) = five_leaf_store();
    let root = root_at(&store, 5).unwrap();
    let proof = inclusion_proof(&store, 1, 5).unwrap();
    // Index out of range, including the empty tree.
    for (leaf_index, tree_size) in [(5, 5), (0, 0), (u64::MAX, 5)] {
        assert!(matches!(verify_inclusion(&leaves[1], leaf_index, tree_size, &proof, &root), Err(MerkleError::LeafIndexOutOfRange { .. })));
    }
    // An empty proof where one is needed.
    let error = verify_inclusion(&leaves[1], 1, 5, &[], &root).unwrap_err();
    assert!(matches!(error, MerkleError::ProofLengthMismatch { expected: 3, actual: 0 }), "{error:?}");
    assert!(error.to_string().contains("proof has 0 hashes"));
    // A wrong root names both roots.
    let error = verify_inclusion(&leaves[1], 1, 5, &proof, &empty_root()).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, MerkleError::RootMismatch { tree_size: 5, .. }));
    assert!(message.contains(&hash_to_hex(&empty_root())), "{message}");
    // A one-leaf tree: the proof is empty and the root is the leaf.
    assert!(verify_inclusion(&leaves[0], 0, 1, &[], &leaves[0]).is_ok());
    assert!(verify_inclusion(&leaves[0], 0, 1, &[leaves[0]], &leaves[0]).is_err());
}

#[test]
fn verify_consistency_rejects_bad_sizes_and_lengths() {
    let (store, _) = five_leaf_store();
    let old_root = root_at(&store, 3).unwrap();
    let new_root = root_at(&store, 5).unwrap();
    let proof = consistency_proof(&store, 3, 5).unwrap();
    assert!(matches!(verify_consistency(5, 3, &new_root, &old_root, &proof), Err(MerkleError::OldSizeExceedsNewSize { old_size: 5, new_size: 3 })));
    assert!(matches!(verify_consistency(0, 5, &empty_root(), &new_root, &[]), Err(MerkleError::OldSizeZero { new_size: 5 })));
    // An empty proof between different sizes.
    assert!(matches!(verify_consistency(3, 5, &old_root, &new_root, &[]), Err(MerkleError::ProofLengthMismatch { actual: 0, .. })));
    // Equal sizes: only an empty proof and identical roots pass.
    assert!(verify_consistency(5, 5, &new_root, &new_root, &[]).is_ok());
    assert!(matches!(verify_consistency(5, 5, &new_root, &new_root, &[new_root]), Err(MerkleError::ProofLengthMismatch { expected: 0, actual: 1 })));
    assert!(matches!(verify_consistency(5, 5, &old_root, &new_root, &[]), Err(MerkleError::RootMismatch { tree_size: 5, .. })));
    // A wrong old root is reported against the old size.
    assert!(matches!(verify_consistency(3, 5, &new_root, &new_root, &proof), Err(MerkleError::RootMismatch { tree_size: 3, .. })));
}

#[test]
fn huge_sizes_do_not_overflow() {
    let leaf = leaf_hash(b"leaf");
    let garbage = vec![leaf; 64];
    for (leaf_index, tree_size) in [(u64::MAX - 1, u64::MAX), (0, u64::MAX), (1u64 << 63, u64::MAX), ((1u64 << 63) - 1, 1u64 << 63)] {
        let length = inclusion_proof_length(leaf_index, tree_size).unwrap();
        assert!(length <= 64);
        assert!(verify_inclusion(&leaf, leaf_index, tree_size, &garbage[..length], &leaf).is_err());
        assert!(verify_inclusion(&leaf, leaf_index, tree_size, &garbage, &leaf).is_err());
    }
    for (old_size, new_size) in [(u64::MAX - 1, u64::MAX), (1, u64::MAX), (1u64 << 63, u64::MAX)] {
        let length = consistency_proof_length(old_size, new_size).unwrap();
        assert!(length <= 65);
        let proof = vec![leaf; length];
        assert!(verify_consistency(old_size, new_size, &leaf, &leaf, &proof).is_err());
    }
    // A store that has every node: generation at the largest sizes works.
    let store = RecordingStore::default();
    assert_eq!(inclusion_proof(&store, u64::MAX - 1, u64::MAX).unwrap().len(), 63);
    assert_eq!(inclusion_proof(&store, 0, u64::MAX).unwrap().len(), 64);
    assert!(consistency_proof(&store, u64::MAX - 1, u64::MAX).is_ok());
    assert!(root_at(&store, u64::MAX).is_ok());
    assert!(CompactRange::from_store(&store, u64::MAX).is_ok());
}

#[test]
fn garbage_hex_is_rejected() {
    let valid = "ab".repeat(32);
    for garbage in [
        String::new(),
        "zz".repeat(32),
        "a".repeat(63),
        "a".repeat(65),
        "ab".repeat(33),
        "ab".repeat(31),
        format!("0x{}", "ab".repeat(31)),
        format!(" {}", &valid[1..]),
        "é".repeat(32),
    ] {
        let error = hash_from_hex(&garbage).unwrap_err();
        assert!(matches!(error, MerkleError::InvalidHashHex { .. }), "{garbage:?}: {error:?}");
        assert!(error.to_string().contains("64 hex characters"));
        let proof_error = proof_from_hex(&[valid.as_str(), valid.as_str(), garbage.as_str()]).unwrap_err();
        assert!(matches!(proof_error, MerkleError::InvalidProofHex { position: 2, .. }), "{garbage:?}: {proof_error:?}");
    }
    let no_strings: [&str; 0] = [];
    assert_eq!(proof_from_hex(&no_strings).ok(), Some(Vec::new()));
    assert_eq!(hash_from_hex(&valid).ok(), Some([0xab; 32]));
}

#[test]
fn malformed_peaks_message() {
    let error = CompactRange::from_parts(5, vec![empty_root()]).unwrap_err();
    assert!(matches!(error, MerkleError::MalformedPeaks { size: 5, expected_peak_count: 2, actual_peak_count: 1 }));
    assert!(error.to_string().contains("exactly 2 peaks"));
    assert!(CompactRange::from_parts(0, Vec::new()).is_ok());
}

#[test]
#[should_panic(expected = "would leave a gap")]
fn memory_store_rejects_gaps() {
    let mut store = MemoryNodeStore::new();
    store.put(NodeId::leaf(1), empty_root());
}
