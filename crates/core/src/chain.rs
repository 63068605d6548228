//! The hash chain and Merkle tree position of a ledger, in O(log n) memory.
//!
//! The writer seals each new record onto the chain; the projector, the
//! verifier and subscribers re-check each record they read against the same
//! state ("check on write, check again on read").

use thiserror::Error;

use crate::crypto::Hash;
use crate::id::LedgerId;
use crate::merkle::{self, CompactRange, NodeId};
use crate::record::{Record, RecordEnvelope, SignedEvent, GENESIS_PREV};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    #[error("record {seq} belongs to ledger {found}, expected {expected}")]
    Ledger { seq: u64, expected: String, found: String },
    #[error("expected record {expected} next, found record {found} (a record is missing, repeated or out of order)")]
    Sequence { expected: u64, found: u64 },
    #[error("record {seq} links to previous hash {found}, but record {} has hash {expected}", .seq - 1)]
    Link { seq: u64, expected: String, found: String },
}

/// Where a ledger's chain stands: its size, its head hash, and the right edge
/// of its Merkle tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainState {
    ledger: LedgerId,
    head: Hash,
    tree: CompactRange,
}

impl ChainState {
    pub fn new(ledger: LedgerId) -> ChainState {
        ChainState { ledger, head: GENESIS_PREV, tree: CompactRange::new() }
    }

    /// Resumes from a known position (e.g. a trusted checkpoint's tree edge).
    pub fn resume(ledger: LedgerId, head: Hash, tree: CompactRange) -> ChainState {
        ChainState { ledger, head, tree }
    }

    pub fn ledger(&self) -> &LedgerId {
        &self.ledger
    }
    /// Number of records in the chain, which is also the last sequence number.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }
    pub fn head(&self) -> &Hash {
        &self.head
    }
    pub fn root(&self) -> Hash {
        self.tree.root()
    }
    pub fn tree(&self) -> &CompactRange {
        &self.tree
    }

    /// Seals the next record (without appending it): the writer publishes it
    /// first and calls [`ChainState::append`] once it is acknowledged.
    pub fn seal_next(&self, recorded_at: Timestamp, event: SignedEvent) -> Record {
        Record::seal(self.ledger.clone(), self.size() + 1, self.head, recorded_at, event)
    }

    /// Checks that `record` is the next link of this chain.
    pub fn check_next(&self, record: &Record) -> Result<(), ChainError> {
        self.check_link(&record.ledger, record.seq, &record.prev)
    }

    fn check_link(&self, ledger: &LedgerId, seq: u64, prev: &Hash) -> Result<(), ChainError> {
        if *ledger != self.ledger {
            return Err(ChainError::Ledger { seq, expected: self.ledger.to_string(), found: ledger.to_string() });
        }
        if seq != self.size() + 1 {
            return Err(ChainError::Sequence { expected: self.size() + 1, found: seq });
        }
        if *prev != self.head {
            return Err(ChainError::Link { seq, expected: hex::encode(self.head), found: hex::encode(prev) });
        }
        Ok(())
    }

    /// Checks and appends the next record; `on_node` receives every Merkle
    /// node the append completes (to be stored for proofs) .
    pub fn append(&mut self, record: &Record, on_node: impl FnMut(NodeId, &Hash)) -> Result<(), ChainError> {
        self.append_link(&record.ledger, record.seq, &record.prev, &record.hash, on_node)
    }

    /// [`append`](Self::append) for a record's envelope.
    pub fn append_envelope(&mut self, envelope: &RecordEnvelope, on_node: impl FnMut(NodeId, &Hash)) -> Result<(), ChainError> {
        self.append_link(&envelope.ledger, envelope.seq, &envelope.prev, &envelope.hash, on_node)
    }

    fn append_link(&mut self, ledger: &LedgerId, seq: u64, prev: &Hash, hash: &Hash, on_node: impl FnMut(NodeId, &Hash)) -> Result<(), ChainError> {
        self.check_link(ledger, seq, prev)?;
        self.tree.append(merkle::leaf_hash(hash), on_node);
        self.head = *hash;
        debug_assert_eq!(self.tree.size(), seq);
        Ok(())
    }
}
