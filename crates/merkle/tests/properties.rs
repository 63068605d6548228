//! Property tests: proof generation from stored nodes agrees with the naive
//! RFC 6962 recursion at every size, and verification accepts exactly the
//! honest proofs (any change to leaf, index, root, history or proof fails).

mod support;

use fundledger_merkle::*;
use proptest::prelude::*;
use support::*;

/// A store and compact range over `leaves`, built by appending.
fn build(leaves: &[Hash]) -> (MemoryNodeStore, CompactRange) {
    let mut store = MemoryNodeStore::new();
    let mut range = CompactRange::new();
    for leaf in leaves {
        store.append(&mut range, *leaf);
    }
    (store, range)
}

/// Old sizes worth checking against `new_size` besides random ones: the
/// smallest, the largest, and the powers of two where proofs change shape.
fn interesting_old_sizes(new_size: usize) -> Vec<usize> {
    let mut sizes = vec![1, new_size, new_size.saturating_sub(1).max(1)];
    let mut power = 1;
    while power <= new_size {
        sizes.push(power);
        if power < new_size {
            sizes.push(power + 1);
        }
        power *= 2;
    }
    sizes
}

/// Checks one consistency pair against the naive proof and every tampering.
fn check_consistency_pair(store: &MemoryNodeStore, leaves: &[Hash], old_size: usize, tamper_bit: usize) -> Result<(), TestCaseError> {
    let new_size = leaves.len();
    let (old, new) = (old_size as u64, new_size as u64);
    let old_root = naive_root(&leaves[..old_size]);
    let new_root = naive_root(leaves);
    let proof = consistency_proof(store, old, new).map_err(|error| TestCaseError::fail(format!("{old} -> {new}: {error}")))?;
    prop_assert_eq!(&proof, &naive_consistency_proof(old_size, leaves), "{} -> {}", old, new);
    prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof).is_ok(), "honest proof {} -> {} rejected", old, new);
    // A different history: one leaf of the old prefix replaced.
    let changed_position = tamper_bit % old_size;
    let mut forged_leaves = leaves.to_vec();
    forged_leaves[changed_position] = flip_bit(&forged_leaves[changed_position], tamper_bit);
    let forged_old_root = naive_root(&forged_leaves[..old_size]);
    if old_size == new_size {
        prop_assert!(verify_consistency(old, new, &forged_old_root, &new_root, &proof).is_err());
    } else {
        prop_assert!(verify_consistency(old, new, &forged_old_root, &new_root, &proof).is_err());
        let forged_proof = naive_consistency_proof(old_size, &forged_leaves);
        let forged_new_root = naive_root(&forged_leaves);
        // The forged history is self-consistent...
        prop_assert!(verify_consistency(old, new, &forged_old_root, &forged_new_root, &forged_proof).is_ok());
        // ...but neither extends, nor is extended by, the real one.
        prop_assert!(verify_consistency(old, new, &forged_old_root, &new_root, &forged_proof).is_err());
        prop_assert!(verify_consistency(old, new, &old_root, &forged_new_root, &forged_proof).is_err());
        prop_assert!(verify_consistency(old, new, &old_root, &forged_new_root, &proof).is_err());
    }
    // Wrong roots.
    prop_assert!(verify_consistency(old, new, &flip_bit(&old_root, tamper_bit), &new_root, &proof).is_err());
    prop_assert!(verify_consistency(old, new, &old_root, &flip_bit(&new_root, tamper_bit), &proof).is_err());
    // Tampered proofs.
    if !proof.is_empty() {
        let position = tamper_bit % proof.len();
        let mut modified = proof.clone();
        modified[position] = flip_bit(&modified[position], tamper_bit);
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &modified).is_err());
        let truncated = &proof[..proof.len() - 1];
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, truncated).is_err());
        let preceded = [vec![proof[0]], proof.clone()].concat();
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &preceded).is_err());
    }
    let extended = [proof.clone(), vec![new_root]].concat();
    prop_assert!(verify_consistency(old, new, &old_root, &new_root, &extended).is_err());
    Ok(())
}

/// Small trees, every pair: cheap enough to be exhaustive.
#[test]
fn consistency_for_every_pair_up_to_64_leaves() {
    let leaves = test_leaves(64, 7);
    let (store, _) = build(&leaves);
    for new_size in 1..=leaves.len() {
        for old_size in 1..=new_size {
            check_consistency_pair(&store, &leaves[..new_size], old_size, old_size * 31 + new_size)
                .unwrap_or_else(|error| panic!("{old_size} -> {new_size}: {error}"));
        }
    }
}

/// Small trees, every leaf and every other index.
#[test]
fn inclusion_rejects_every_other_index_up_to_40_leaves() {
    let leaves = test_leaves(40, 11);
    let (store, _) = build(&leaves);
    for size in 1..=leaves.len() {
        let root = naive_root(&leaves[..size]);
        for (index, leaf) in leaves[..size].iter().enumerate() {
            let proof = inclusion_proof(&store, index as u64, size as u64).expect("generation");
            for other in 0..size + 2 {
                let verdict = verify_inclusion(leaf, other as u64, size as u64, &proof, &root);
                assert_eq!(verdict.is_ok(), other == index, "leaf {index} as {other} in {size}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn inclusion_proofs_verify_and_reject_tampering(
        size in 1usize..=300,
        seed in any::<u64>(),
        tamper_bit in 0usize..256,
        other_index_offset in 1usize..300,
    ) {
        let leaves = test_leaves(size, seed);
        let (store, range) = build(&leaves);
        let root = naive_root(&leaves);
        prop_assert_eq!(range.root(), root);
        let tree_size = size as u64;
        for index in 0..size {
            let leaf_index = index as u64;
            let proof = inclusion_proof(&store, leaf_index, tree_size)
                .map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert_eq!(&proof, &naive_inclusion_proof(index, &leaves));
            prop_assert_eq!(proof.len(), inclusion_proof_length(leaf_index, tree_size).unwrap_or(usize::MAX));
            let leaf = &leaves[index];
            prop_assert!(verify_inclusion(leaf, leaf_index, tree_size, &proof, &root).is_ok());

            // A different leaf, a different index, a wrong root.
            let other_leaf = leaf_hash(&flip_bit(leaf, tamper_bit));
            prop_assert!(verify_inclusion(&other_leaf, leaf_index, tree_size, &proof, &root).is_err());
            let other_index = ((index + other_index_offset) % (size + 1)) as u64;
            if other_index != leaf_index {
                prop_assert!(verify_inclusion(leaf, other_index, tree_size, &proof, &root).is_err());
            }
            prop_assert!(verify_inclusion(leaf, leaf_index, tree_size, &proof, &flip_bit(&root, tamper_bit)).is_err());
            // Truncated, extended and modified proofs.
            if let Some((_, truncated)) = proof.split_last() {
                let verdict = verify_inclusion(leaf, leaf_index, tree_size, truncated, &root);
                let is_length_mismatch = matches!(verdict, Err(MerkleError::ProofLengthMismatch { .. }));
                prop_assert!(is_length_mismatch);
                let position = tamper_bit % proof.len();
                let mut modified = proof.clone();
                modified[position] = flip_bit(&modified[position], tamper_bit);
                let verdict = verify_inclusion(leaf, leaf_index, tree_size, &modified, &root);
                let is_root_mismatch = matches!(verdict, Err(MerkleError::RootMismatch { .. }));
                prop_assert!(is_root_mismatch);
            }
            let extended = [proof.clone(), vec![root]].concat();
            let verdict = verify_inclusion(leaf, leaf_index, tree_size, &extended, &root);
            let is_length_mismatch = matches!(verdict, Err(MerkleError::ProofLengthMismatch { .. }));
            prop_assert!(is_length_mismatch);
        }
    }

    #[test]
    fn consistency_proofs_verify_and_reject_tampering(
        size in 1usize..=300,
        seed in any::<u64>(),
        random_old_sizes in proptest::collection::vec(1usize..=300, 8),
        tamper_bit in 0usize..256,
    ) {
        let leaves = test_leaves(size, seed);
        let (store, _) = build(&leaves);
        let old_sizes = interesting_old_sizes(size)
            .into_iter()
            .chain(random_old_sizes.into_iter().map(|old_size| (old_size - 1) % size + 1));
        for old_size in old_sizes {
            check_consistency_pair(&store, &leaves, old_size, tamper_bit + old_size)?;
        }
    }

    #[test]
    fn roots_agree_at_every_size(size in 0usize..=300, seed in any::<u64>()) {
        let leaves = test_leaves(size, seed);
        let mut store = MemoryNodeStore::new();
        let mut range = CompactRange::new();
        prop_assert_eq!(range.root(), empty_root());
        for (count, leaf) in leaves.iter().enumerate() {
            store.append(&mut range, *leaf);
            let current_size = count as u64 + 1;
            let naive = naive_root(&leaves[..=count]);
            prop_assert_eq!(range.root(), naive);
            prop_assert_eq!(root_at(&store, current_size).ok(), Some(naive));
        }
        // Roots of every past size stay available from the store.
        for past_size in 0..=size {
            prop_assert_eq!(root_at(&store, past_size as u64).ok(), Some(naive_root(&leaves[..past_size])));
        }
        prop_assert_eq!(store.leaf_count(), size as u64);
        prop_assert_eq!(&MemoryNodeStore::from_leaves(leaves.iter().copied()), &store);
    }

    #[test]
    fn compact_range_round_trips(size in 0usize..=300, seed in any::<u64>()) {
        let leaves = test_leaves(size, seed);
        let (store, range) = build(&leaves);
        let tree_size = size as u64;
        prop_assert_eq!(range.peaks().len(), tree_size.count_ones() as usize);
        let rebuilt = CompactRange::from_parts(range.size(), range.peaks().to_vec())
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        prop_assert_eq!(&rebuilt, &range);
        let (parts_size, parts_peaks) = rebuilt.into_parts();
        prop_assert_eq!(parts_size, tree_size);
        prop_assert_eq!(&parts_peaks[..], range.peaks());
        let from_store = CompactRange::from_store(&store, tree_size).ok();
        prop_assert_eq!(from_store.as_ref(), Some(&range));
        // Each peak id addresses the stored node holding that peak.
        for (peak_id, peak) in range.peak_ids().into_iter().zip(range.peaks()) {
            let stored = store.node(peak_id).ok().flatten();
            prop_assert_eq!(stored.as_ref(), Some(peak));
        }
        // A resumed range keeps producing the same roots and nodes.
        let mut resumed = CompactRange::from_parts(range.size(), range.peaks().to_vec())
            .map_err(|error| TestCaseError::fail(error.to_string()))?;
        let mut original = range.clone();
        let extra = test_leaves(5, seed ^ 1);
        for leaf in extra {
            let mut resumed_nodes = Vec::new();
            let mut original_nodes = Vec::new();
            resumed.append(leaf, |id, hash| resumed_nodes.push((id, *hash)));
            original.append(leaf, |id, hash| original_nodes.push((id, *hash)));
            prop_assert_eq!(resumed_nodes, original_nodes);
            prop_assert_eq!(resumed.root(), original.root());
        }
        // Wrong peak counts are rejected.
        let mut too_many = range.peaks().to_vec();
        too_many.push(empty_root());
        let is_malformed = matches!(
            CompactRange::from_parts(tree_size, too_many),
            Err(MerkleError::MalformedPeaks { .. })
        );
        prop_assert!(is_malformed);
        if !range.peaks().is_empty() {
            let too_few = range.peaks()[1..].to_vec();
            let is_malformed = matches!(
                CompactRange::from_parts(tree_size, too_few),
                Err(MerkleError::MalformedPeaks { .. })
            );
            prop_assert!(is_malformed);
        }
    }

    #[test]
    fn append_reports_each_complete_node_once(size in 0usize..=300, seed in any::<u64>()) {
        let leaves = test_leaves(size, seed);
        let mut range = CompactRange::new();
        let mut reported = Vec::new();
        for leaf in &leaves {
            range.append(*leaf, |id, hash| reported.push((id, *hash)));
        }
        // Exactly the complete subtrees of the tree: n >> level per level.
        let expected_count: u64 = (0..64).map(|level| (size as u64) >> level).sum();
        prop_assert_eq!(reported.len() as u64, expected_count);
        for (id, hash) in reported {
            let start = (id.index << id.level) as usize;
            let end = start + (1usize << id.level);
            prop_assert!(end <= size);
            prop_assert_eq!(hash, naive_root(&leaves[start..end]));
        }
    }

    #[test]
    fn proof_hex_round_trips(size in 1usize..=40, seed in any::<u64>()) {
        let proof = test_leaves(size, seed);
        let text = proof_to_hex(&proof);
        prop_assert!(text.iter().all(|item| item.len() == 64 && item.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))));
        prop_assert_eq!(proof_from_hex(&text).ok(), Some(proof));
    }

    /// Arbitrary sizes, indexes and proofs (including sizes near u64::MAX)
    /// give errors, never panics, and never verify by accident.
    #[test]
    fn verification_of_arbitrary_input_never_panics(
        first_size in any::<u64>(),
        second_size in any::<u64>(),
        small_sizes in (0u64..70, 0u64..70),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..70),
        leaf in any::<[u8; 32]>(),
        root in any::<[u8; 32]>(),
    ) {
        for (a, b) in [(first_size, second_size), small_sizes, (u64::MAX - small_sizes.0, u64::MAX - small_sizes.1)] {
            prop_assert!(verify_inclusion(&leaf, a, b, &proof, &root).is_err() || proof.is_empty() && leaf == root);
            let _ = inclusion_proof_length(a, b);
            let _ = consistency_proof_length(a, b);
            let outcome = verify_consistency(a, b, &leaf, &root, &proof);
            prop_assert!(outcome.is_err() || (a == b && leaf == root && proof.is_empty()));
        }
    }
}
