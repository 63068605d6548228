//! Replaying stored records: the check every reader of a ledger makes.
//!
//! For each record, in order: it parses, its body is canonical and its stated
//! hash is right; it is the next link of the chain; every signature verifies;
//! and the state machine accepts it, which re-checks every domain and
//! authorisation rule as of that point in history. The first record that
//! fails is named with the reason. The writer replays its stream this way on
//! start, and the verifier does it for auditors.
//!
//! Records are checked in chunks so that signatures can be batch-verified on
//! all cores; the answer is still exactly the first bad record.

use serde::Serialize;
use thiserror::Error;

use crate::chain::ChainState;
use crate::crypto::Hash;
use crate::id::LedgerId;
use crate::ledger::Ledger;
use crate::merkle::NodeId;
use crate::record::{verify_record_signatures, PreparedRecord, Record, VerifiedEvent};
use crate::time::Timestamp;

/// Which check a record (or checkpoint) failed: the failure kinds of
/// FORMAT.md 15-17, named once. Replay reports the first four; the
/// verifier the rest (ids, checkpoints, witnesses, bundles, following).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Not a record, its body is not canonical, or its stated hash is wrong.
    Malformed,
    /// Missing, repeated, reordered or inserted: the chain does not link.
    Chain,
    /// A signature does not verify.
    Signature,
    /// The state machine refuses it: a business or authorisation rule did not hold
    /// (an unregistered, revoked or unauthorised signer included).
    Rule,
    /// Its event id was already used by an earlier record.
    DuplicateId,
    /// Records the operator signed a checkpoint for are not in the ledger.
    Truncated,
    /// A signed checkpoint does not match the records, or is not signed by the operator.
    Checkpoint,
    /// Two operator-signed checkpoints state different trees for one size.
    Fork,
    /// A witness co-signature does not verify.
    Witness,
    /// The newest checkpoint is not consistent with a checkpoint the auditor trusted.
    Consistency,
    /// The ledger's genesis names another operator than the one the auditor pinned.
    Operator,
    /// A subscriber saw a sequence gap in the stream.
    Gap,
    /// The audit bundle's own structure is wrong (header, counts, key list).
    Bundle,
    /// While following, the stream went backward: a record already verified
    /// (or checkpointed) is no longer in it as it was. Reported at the first
    /// record lost or changed.
    Rollback,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Malformed => "malformed",
            FailureKind::Chain => "chain",
            FailureKind::Signature => "signature",
            FailureKind::Rule => "rule",
            FailureKind::DuplicateId => "duplicate_id",
            FailureKind::Truncated => "truncated",
            FailureKind::Checkpoint => "checkpoint",
            FailureKind::Fork => "fork",
            FailureKind::Witness => "witness",
            FailureKind::Consistency => "consistency",
            FailureKind::Operator => "operator",
            FailureKind::Gap => "gap",
            FailureKind::Bundle => "bundle",
            FailureKind::Rollback => "rollback",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("record {seq}{}: {reason}", .event_id.as_ref().map(|id| format!(" (event {id})")).unwrap_or_default())]
pub struct ReplayError {
    pub seq: u64,
    pub event_id: Option<String>,
    pub kind: FailureKind,
    pub reason: String,
}

/// A record that passed every check.
#[derive(Clone, Debug)]
pub struct VerifiedRecord {
    pub seq: u64,
    pub hash: Hash,
    pub recorded_at: Timestamp,
    pub event: VerifiedEvent,
}

/// The state of a replay: the ledger state and the chain so far.
#[derive(Clone, Debug)]
pub struct Replay {
    ledger: Ledger,
    chain: ChainState,
}

impl Replay {
    pub fn new(ledger: LedgerId) -> Replay {
        Replay { ledger: Ledger::new(), chain: ChainState::new(ledger) }
    }

    /// Resumes after records verified before: the ledger state and chain as
    /// they stood after them (the verifier's trusted restart point).
    pub fn resume(ledger: Ledger, chain: ChainState) -> Replay {
        Replay { ledger, chain }
    }

    /// Parses a stored record found at stream sequence `stored_seq`.
    pub fn parse(stored_seq: u64, bytes: &[u8]) -> Result<Record, ReplayError> {
        let record = Record::from_json(bytes).map_err(|error| ReplayError {
            seq: stored_seq,
            event_id: None,
            kind: FailureKind::Malformed,
            reason: error.to_string(),
        })?;
        if record.seq != stored_seq {
            return Err(ReplayError {
                seq: stored_seq,
                event_id: Some(record.body().id.to_string()),
                kind: FailureKind::Chain,
                reason: format!("the record says it is record {} but it is stored at position {stored_seq}", record.seq),
            });
        }
        Ok(record)
    }

    /// Checks and applies records in order; `on_record` sees each one that
    /// passed. Stops at the first record that fails.
    pub fn check_chunk(&mut self, records: Vec<Record>, on_record: impl FnMut(&VerifiedRecord)) -> Result<(), ReplayError> {
        self.check_chunk_with_nodes(records, |_, _| {}, on_record)
    }

    /// [`check_chunk`](Self::check_chunk) that also hands every Merkle node
    /// the chain completes to `on_node`, for a verifier that stores them to
    /// build proofs.
    pub fn check_chunk_with_nodes(
        &mut self,
        records: Vec<Record>,
        on_node: impl FnMut(NodeId, &Hash),
        on_record: impl FnMut(&VerifiedRecord),
    ) -> Result<(), ReplayError> {
        self.check_prepared_with_nodes(verify_record_signatures(records), on_node, on_record)
    }

    /// The in-order part of the check, for records whose signatures were
    /// checked ahead ([`verify_record_signatures`], on all cores): for each
    /// record, the chain link, then its signatures' verdict, then the state
    /// machine. On failure, nodes already handed to `on_node` for that
    /// record are to be discarded with the rest of the chunk.
    pub fn check_prepared_with_nodes(
        &mut self,
        records: Vec<PreparedRecord>,
        mut on_node: impl FnMut(NodeId, &Hash),
        mut on_record: impl FnMut(&VerifiedRecord),
    ) -> Result<(), ReplayError> {
        for prepared in records {
            let (envelope, event) = prepared.into_parts();
            let seq = envelope.seq;
            if let Err(error) = self.chain.append_envelope(&envelope, &mut on_node) {
                let event_id = match &event {
                    Ok(event) => event.body().id.to_string(),
                    Err((id, _)) => id.to_string(),
                };
                return Err(ReplayError { seq, event_id: Some(event_id), kind: FailureKind::Chain, reason: error.to_string() });
            }
            let event =
                event.map_err(|(id, error)| ReplayError { seq, event_id: Some(id.to_string()), kind: FailureKind::Signature, reason: error.to_string() })?;
            self.ledger.apply(&event).map_err(|violation| ReplayError {
                seq,
                event_id: Some(event.body().id.to_string()),
                kind: FailureKind::Rule,
                reason: format!("the state machine refuses it: {violation}"),
            })?;
            on_record(&VerifiedRecord { seq, hash: envelope.hash, recorded_at: envelope.recorded_at, event });
        }
        Ok(())
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
    /// For a shell that pages state in and out around a part ([`Ledger::page_in_evidence`]).
    pub fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }
    pub fn chain(&self) -> &ChainState {
        &self.chain
    }
    pub fn into_parts(self) -> (Ledger, ChainState) {
        (self.ledger, self.chain)
    }
}
