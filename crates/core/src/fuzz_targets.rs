//! The bodies of the fuzz targets: decoding, canonical encoding and proofs.
//!
//! Why here and not in fuzz/: the same functions run under cargo-fuzz (nightly,
//! fuzz/fuzz_targets/*.rs call them) and on stable in CI (crates/core/tests/fuzz.rs
//! drives them with mutated test vectors), so both exercise one definition.
//! Each function takes any bytes. It must never panic on its own input; it
//! panics only when an invariant breaks (a round trip that changes a value, a
//! proof that verifies after being altered), which is the bug a fuzzer reports.

use serde_json::Value;

use crate::canonical::{canonicalize, is_canonical};
use crate::checkpoint::SignedCheckpoint;
use crate::merkle::{self, Hash, MemoryNodeStore};
use crate::record::{Record, SignedEvent};

/// Largest tree the proof target builds (leaves), to keep each run fast.
pub const PROOF_TREE_LEAVES_MAX: u64 = 300;

/// A submission as the writer receives it (`SignedEvent::from_submission_json`).
/// What parses re-encodes to a submission that parses to the same event.
pub fn submission(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(event) = SignedEvent::from_submission_json(text) else { return };
    let again = SignedEvent::from_submission_json(&event.to_submission_json()).expect("a re-encoded submission parses");
    assert_eq!(again, event, "a submission survives re-encoding");
    assert_eq!(
        canonicalize(&serde_json::from_slice::<Value>(event.canonical_bytes()).expect("canonical bytes are JSON")).ok().as_deref(),
        Some(event.canonical_bytes())
    );
    // Verifying must answer, not panic, whatever the signatures are.
    let _ = event.verify();
}

/// A stored record as read back from the stream (`Record::from_json`). What
/// parses is byte-identical when written again, and its hash is what it states.
pub fn record(data: &[u8]) {
    let Ok(record) = Record::from_json(data) else { return };
    let written = record.to_json();
    let again = Record::from_json(&written).expect("a written record parses");
    assert_eq!(again, record, "a record survives writing and reading");
    assert_eq!(again.to_json(), written, "writing is deterministic");
}

/// RFC 8785 canonicalisation of any JSON: the output is JSON, canonical
/// again (idempotent), and means the same value as the input; the one-pass
/// check [`is_canonical`] accepts only input that canonicalises to itself,
/// and accepts every canonical output.
pub fn canonical(data: &[u8]) {
    let accepted = is_canonical(data);
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        assert!(!accepted, "is_canonical accepted bytes that are not JSON");
        return;
    };
    let Ok(canonical) = canonicalize(&value) else {
        assert!(!accepted, "is_canonical accepted JSON outside the signed subset");
        return;
    };
    if accepted {
        assert_eq!(canonical, data, "is_canonical accepted bytes that canonicalise differently");
    }
    assert!(is_canonical(&canonical), "is_canonical refused a canonical output");
    let reparsed: Value = serde_json::from_slice(&canonical).expect("canonical output is JSON");
    assert_eq!(reparsed, value, "canonical output means the input's value");
    assert_eq!(canonicalize(&reparsed).as_deref(), Ok(&canonical[..]), "canonicalisation is idempotent");
}

/// Proof and checkpoint parsing and verification.
///
/// * The bytes as a signed checkpoint (`SignedCheckpoint::from_json`): what
///   parses round-trips, and checking its signature answers.
/// * The bytes as a JSON proof document (leaf index, sizes, hex hashes):
///   decoding and verifying answer without panicking.
/// * The bytes as numbers and hashes fed straight to the verifiers.
/// * Soundness: a real tree over leaves taken from the bytes; its genuine
///   inclusion and consistency proofs verify, and one altered hash does not.
pub fn proof(data: &[u8]) {
    if let Ok(checkpoint) = SignedCheckpoint::from_json(data) {
        let again = SignedCheckpoint::from_json(&checkpoint.to_json()).expect("a written checkpoint parses");
        assert_eq!(again, checkpoint, "a checkpoint survives writing and reading");
        let _ = checkpoint.verify(&checkpoint.signer);
    }
    if let Ok(document) = serde_json::from_slice::<Value>(data) {
        proof_document(&document);
    }
    raw_proof(data);
    genuine_proofs(data);
}

/// A proof as docs/vectors/vectors.json writes one: `leaf_hash`, `leaf_index`,
/// `tree_size`, `root`, or `old_size`, `new_size`, `old_root`, `new_root`;
/// and `path`, hex hashes.
fn proof_document(document: &Value) {
    let number = |name: &str| document.get(name).and_then(Value::as_u64).unwrap_or(0);
    let hash = |name: &str| document.get(name).and_then(Value::as_str).and_then(|text| merkle::hash_from_hex(text).ok()).unwrap_or([0; 32]);
    let strings: Vec<&str> = document.get("path").and_then(Value::as_array).map(|list| list.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let Ok(path) = merkle::proof_from_hex(&strings) else { return };
    assert_eq!(merkle::proof_to_hex(&path), strings.iter().map(|text| text.to_ascii_lowercase()).collect::<Vec<_>>(), "hex proofs round-trip");
    let (leaf, leaf_index, tree_size, root) = (hash("leaf_hash"), number("leaf_index"), number("tree_size"), hash("root"));
    if merkle::verify_inclusion(&leaf, leaf_index, tree_size, &path, &root).is_ok() {
        for (position, _) in path.iter().enumerate() {
            let mut altered = path.clone();
            altered[position][0] ^= 1;
            assert!(merkle::verify_inclusion(&leaf, leaf_index, tree_size, &altered, &root).is_err(), "an altered inclusion proof fails");
        }
    }
    let (old_size, new_size, old_root, new_root) = (number("old_size"), number("new_size"), hash("old_root"), hash("new_root"));
    if merkle::verify_consistency(old_size, new_size, &old_root, &new_root, &path).is_ok() && old_size != new_size {
        let mut altered_root = new_root;
        altered_root[31] ^= 1;
        assert!(merkle::verify_consistency(old_size, new_size, &old_root, &altered_root, &path).is_err(), "another new root fails");
    }
}

fn raw_proof(data: &[u8]) {
    let word = |offset: usize| data.get(offset..offset + 8).map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))).unwrap_or(0);
    let (first, second) = (word(0), word(8));
    let hashes: Vec<Hash> = data.get(16..).unwrap_or_default().chunks_exact(32).map(|chunk| chunk.try_into().unwrap_or([0; 32])).collect();
    let (leaf, root) = (hashes.first().copied().unwrap_or([0; 32]), hashes.last().copied().unwrap_or([0; 32]));
    let _ = merkle::inclusion_proof_length(first, second);
    let _ = merkle::consistency_proof_length(first, second);
    let _ = merkle::verify_inclusion(&leaf, first, second, &hashes, &root);
    let _ = merkle::verify_consistency(first, second, &leaf, &root, &hashes);
}

fn genuine_proofs(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let leaves: Vec<Hash> = rest.chunks(4).take(PROOF_TREE_LEAVES_MAX as usize).map(merkle::leaf_hash).collect();
    let size = leaves.len() as u64;
    if size == 0 {
        return;
    }
    let store = MemoryNodeStore::from_leaves(leaves.iter().copied());
    let root = merkle::root_at(&store, size).expect("the root of a stored tree");
    let index = u64::from(selector) % size;
    let path = merkle::inclusion_proof(&store, index, size).expect("an inclusion proof within the tree");
    if let Err(error) = merkle::verify_inclusion(&leaves[index as usize], index, size, &path, &root) {
        panic!("a genuine inclusion proof of leaf {index} in {size} verifies: {error}");
    }
    let old_size = 1 + u64::from(selector) % size;
    let old_root = merkle::root_at(&store, old_size).expect("an older root");
    let consistency = merkle::consistency_proof(&store, old_size, size).expect("a consistency proof");
    if let Err(error) = merkle::verify_consistency(old_size, size, &old_root, &root, &consistency) {
        panic!("a genuine consistency proof from {old_size} to {size} verifies: {error}");
    }
    // Altering any one bit of the path must make it fail.
    if !path.is_empty() {
        let mut altered = path.clone();
        let which = usize::from(selector) % altered.len();
        altered[which][usize::from(selector) % 32] ^= 1 << (selector % 8);
        assert!(merkle::verify_inclusion(&leaves[index as usize], index, size, &altered, &root).is_err(), "an altered inclusion proof fails");
    }
    let mut wrong_leaf = leaves[index as usize];
    wrong_leaf[0] ^= 0x80;
    assert!(merkle::verify_inclusion(&wrong_leaf, index, size, &path, &root).is_err(), "another leaf's proof fails");
    if !consistency.is_empty() {
        let mut altered = consistency.clone();
        let which = usize::from(selector) % altered.len();
        altered[which][31] ^= 1;
        assert!(merkle::verify_consistency(old_size, size, &old_root, &root, &altered).is_err(), "an altered consistency proof fails");
    }
}
