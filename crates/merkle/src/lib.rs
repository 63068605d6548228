//! RFC 6962 / RFC 9162 Merkle tree over fundledger record hashes.
//!
//! Why this crate exists: the ledger's records are sha256-chained, which
//! proves order but makes proving one record or an append-only history cost
//! O(n). A Merkle tree over the record hashes gives O(log n) inclusion and
//! consistency proofs that any RFC 6962 client (certificate-transparency
//! tooling included) can check.
//!
//! It is pure: no I/O, no clock, no randomness, no async. A writer keeps only
//! a [`CompactRange`] (at most 64 hashes) and persists the complete-subtree
//! nodes that [`CompactRange::append`] reports; a server builds proofs for any
//! past tree size from those nodes through a [`NodeStore`] with O(log n)
//! reads; a verifier needs only sizes, roots and proofs.
//!
//! ```
//! use fundledger_merkle::*;
//!
//! let mut store = MemoryNodeStore::new();
//! let mut range = CompactRange::new();
//! for record in 0u8..10 {
//!     store.append(&mut range, leaf_hash(&[record; 32]));
//! }
//! let root = range.root();
//! let proof = inclusion_proof(&store, 3, 10)?;
//! verify_inclusion(&leaf_hash(&[3; 32]), 3, 10, &proof, &root)?;
//!
//! let old_root = root_at(&store, 6)?;
//! let proof = consistency_proof(&store, 6, 10)?;
//! verify_consistency(6, 10, &old_root, &root, &proof)?;
//! # Ok::<(), MerkleError>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compact;
mod encoding;
mod error;
mod hash;
mod node;
mod proof;
mod store;
mod verify;

pub use compact::CompactRange;
pub use encoding::{hash_from_hex, hash_to_hex, proof_from_hex, proof_to_hex};
pub use error::MerkleError;
pub use hash::{empty_root, leaf_hash, node_hash, Hash};
pub use node::NodeId;
pub use proof::{consistency_proof, inclusion_proof, root_at};
pub use store::{MemoryNodeStore, NodeStore};
pub use verify::{consistency_proof_length, inclusion_proof_length, verify_consistency, verify_inclusion};
