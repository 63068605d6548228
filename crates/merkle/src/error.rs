//! One error type for the whole crate. Proofs, sizes and indexes arrive from
//! outside (clients, the network, a database), so every way they can be wrong
//! is a distinct variant a caller can match on, and each message says what to
//! check or change.

use crate::hash::Hash;
use crate::node::NodeId;

/// Everything that can go wrong building or checking a Merkle proof.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// An inclusion proof was asked for, or checked against, a leaf the tree
    /// does not have (this includes every index in a tree of size 0).
    #[error(
        "leaf index {leaf_index} is out of range for a tree of {tree_size} leaves \
         (valid indexes are 0 to tree_size - 1; an empty tree contains no leaf)"
    )]
    LeafIndexOutOfRange {
        /// The index that was given.
        leaf_index: u64,
        /// The size of the tree it was checked against.
        tree_size: u64,
    },

    /// A consistency proof was asked for from a bigger tree to a smaller one.
    #[error(
        "old tree size {old_size} exceeds new tree size {new_size}; \
         a consistency proof goes from an older (smaller or equal) tree to a newer one"
    )]
    OldSizeExceedsNewSize {
        /// The size of the tree that should be the prefix.
        old_size: u64,
        /// The size of the tree that should extend it.
        new_size: u64,
    },

    /// A consistency proof was asked for from the empty tree. The empty tree
    /// is a prefix of every tree, so RFC 6962 defines no proof for it.
    #[error(
        "a consistency proof needs an old tree size of at least 1 (new size {new_size}); \
         the empty tree is a prefix of every tree, so there is nothing to prove"
    )]
    OldSizeZero {
        /// The size of the newer tree.
        new_size: u64,
    },

    /// The proof has the wrong number of hashes for the sizes (and, for an
    /// inclusion proof, the leaf index) it is checked against.
    #[error(
        "proof has {actual} hashes, but a proof for these tree sizes and indexes has exactly \
         {expected}; the proof was truncated, padded, or belongs to other sizes"
    )]
    ProofLengthMismatch {
        /// The number of hashes the proof must have.
        expected: usize,
        /// The number of hashes it has.
        actual: usize,
    },

    /// The proof is well-formed but does not lead to the given root: the
    /// leaf, a root, the proof or the sizes do not belong together.
    #[error(
        "proof does not match the root of the tree of size {tree_size}: expected root {}, \
         the proof computes {}; the leaf, the roots, the proof or the sizes do not belong together",
        hex::encode(.expected),
        hex::encode(.computed)
    )]
    RootMismatch {
        /// The size of the tree whose root did not match.
        tree_size: u64,
        /// The root the caller expected.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },

    /// The node store lacks a node the computation needs: the store does not
    /// hold a tree that large, or it was not filled with every node that
    /// `CompactRange::append` reported.
    #[error(
        "node {0} is not in the node store; the store holds a smaller tree than requested \
         or is missing nodes reported by CompactRange::append"
    )]
    MissingNode(NodeId),

    /// `CompactRange::from_parts` was given a peak list that cannot belong to
    /// a tree of that size (a tree of `size` leaves has one peak per set bit).
    #[error(
        "a compact range of size {size} has exactly {expected_peak_count} peaks \
         (one per set bit of the size), but {actual_peak_count} were given"
    )]
    MalformedPeaks {
        /// The size that was given.
        size: u64,
        /// `size.count_ones()`.
        expected_peak_count: usize,
        /// The number of peaks that was given.
        actual_peak_count: usize,
    },

    /// The node store itself failed (for example a database read error).
    #[error("reading the node store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),

    /// A hash given as hex text could not be decoded.
    #[error(
        "invalid hash hex ({length} characters): {source}; \
         a hash is exactly 64 hex characters (32 bytes)"
    )]
    InvalidHashHex {
        /// Length of the text in bytes.
        length: usize,
        /// What the hex decoder objected to.
        #[source]
        source: hex::FromHexError,
    },

    /// One element of a hex-encoded proof could not be decoded.
    #[error(
        "invalid hash hex at proof position {position} ({length} characters): {source}; \
         every proof element is exactly 64 hex characters (32 bytes)"
    )]
    InvalidProofHex {
        /// Zero-based position of the bad element in the proof.
        position: usize,
        /// Length of that element in bytes.
        length: usize,
        /// What the hex decoder objected to.
        #[source]
        source: hex::FromHexError,
    },
}

impl MerkleError {
    /// Wraps an error from a [`NodeStore`](crate::NodeStore) implementation.
    pub fn store(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Self::Store(error.into())
    }
}
