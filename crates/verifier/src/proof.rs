//! Inclusion proof files: one record, its RFC 6962 audit path, and the
//! operator-signed checkpoint whose root the path leads to (docs/FORMAT.md 17).
//!
//! `prove` builds a file after verifying the ledger: the path is read from the
//! Merkle nodes the verification stored on disk (O(log n) reads), never from
//! an in-memory tree of every leaf. `verify-proof` checks one offline with no
//! ledger at hand: the record's own bytes (canonical body, stated hash, actor
//! signatures), its position, the path to the checkpoint's root, the
//! operator's signature on the checkpoint and any witness co-signatures.
//!
//! What a proof shows: this exact record is record `seq` of the ledger whose
//! state at `tree_size` the operator signed. That every rule held up to there
//! is what a full verification (by the witnesses listed, or the auditor) shows.

use fundledger_core::checkpoint::{Cosignature, SignedCheckpoint};
use fundledger_core::crypto::KeyId;
use fundledger_core::merkle::{self, inclusion_proof, leaf_hash, verify_inclusion};
use fundledger_core::record::Record;
use serde::{Deserialize, Serialize};

use crate::engine::Verified;
use crate::failure::{Failure, FailureKind, VerifyError};

pub const PROOF_FORMAT: &str = "fundledger-inclusion-proof";
pub const PROOF_VERSION: u32 = 1;

/// An inclusion proof file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofFile {
    pub format: String,
    pub version: u32,
    pub ledger: String,
    pub seq: u64,
    pub event_id: String,
    /// The stored record, byte for byte, as a JSON string (so reformatting the file cannot change it).
    pub record: String,
    /// `seq - 1`.
    pub leaf_index: u64,
    /// The checkpoint's size.
    pub tree_size: u64,
    /// The audit path, leaf's sibling first, as lowercase hex.
    pub proof: Vec<String>,
    pub checkpoint: SignedCheckpoint,
    /// Co-signatures of that checkpoint by witnesses (auditors).
    pub witnesses: Vec<Cosignature>,
}

/// What a checked proof established.
#[derive(Clone, Debug, Serialize)]
pub struct ProofCheck {
    pub ledger: String,
    pub seq: u64,
    pub event_id: String,
    pub event_type: String,
    pub record_hash: String,
    pub tree_size: u64,
    pub root: String,
    pub issued_at: String,
    pub operator: String,
    pub operator_pinned: bool,
    pub witnesses: Vec<String>,
}

/// Builds the inclusion proof of the record with event id `event_id`
/// against the newest verified checkpoint (which must cover it).
pub fn make_proof(verified: &Verified, event_id: &str) -> Result<InclusionProofFile, VerifyError> {
    let Some(seq) = verified.store.lookup_id(event_id)? else {
        return Err(VerifyError::Input(format!("no record of ledger {} has event id {event_id}", verified.report.ledger)));
    };
    let Some((captured_seq, bytes)) = &verified.captured else {
        return Err(VerifyError::Input(format!("the record of event {event_id} was not kept during verification")));
    };
    debug_assert_eq!(*captured_seq, seq);
    // The newest checkpoint: the one witnesses co-sign.
    let Some(size) = verified.book.checked().last().map(|checkpoint| checkpoint.size).filter(|size| *size >= seq) else {
        return Err(VerifyError::Input(format!(
            "no checkpoint covers record {seq} yet (the newest covers {} records): wait for the next checkpoint and try again",
            verified.book.checked().last().map_or(0, |checkpoint| checkpoint.size)
        )));
    };
    let Some(checkpoint) = verified.book.at(size).next().cloned() else {
        return Err(VerifyError::Input(format!("the checkpoint at size {size} is missing")));
    };
    let path = inclusion_proof(&verified.store, seq - 1, size)
        .map_err(|error| VerifyError::Store { path: verified.store.path().display().to_string(), message: error.to_string() })?;
    let witnesses = verified
        .book
        .witness_statements()
        .filter(|statement| statement.checkpoint.checkpoint == checkpoint.checkpoint)
        .map(|statement| statement.cosignature.clone())
        .collect();
    let record = String::from_utf8(bytes.to_vec()).map_err(|error| VerifyError::Input(format!("record {seq} is not UTF-8: {error}")))?;
    Ok(InclusionProofFile {
        format: PROOF_FORMAT.to_string(),
        version: PROOF_VERSION,
        ledger: verified.report.ledger.clone(),
        seq,
        event_id: event_id.to_string(),
        record,
        leaf_index: seq - 1,
        tree_size: size,
        proof: merkle::proof_to_hex(&path),
        checkpoint,
        witnesses,
    })
}

/// Checks a proof file offline. `operator`, when given, is the key the
/// auditor knows to be the ledger's operator; otherwise the key that signed
/// the checkpoint is reported for the auditor to compare.
pub fn verify_proof(bytes: &[u8], operator: Option<&KeyId>) -> Result<ProofCheck, VerifyError> {
    let file: InclusionProofFile = serde_json::from_slice(bytes).map_err(|error| VerifyError::Input(format!("not an inclusion proof file: {error}")))?;
    if file.format != PROOF_FORMAT || file.version != PROOF_VERSION {
        return Err(VerifyError::Input(format!("unsupported proof format {} version {}", file.format, file.version)));
    }
    let seq = file.seq;
    let fail = |kind, reason: String| -> VerifyError { Failure::new(seq, Some(file.event_id.clone()), kind, reason).into() };
    let record = Record::from_json(file.record.as_bytes()).map_err(|error| fail(FailureKind::Malformed, error.to_string()))?;
    if record.seq != seq || record.body().id.as_str() != file.event_id || record.ledger.as_str() != file.ledger {
        return Err(fail(
            FailureKind::Malformed,
            format!("the record is {} of ledger {} (event {}), not what the proof names", record.seq, record.ledger, record.body().id),
        ));
    }
    let Some(leaf_index) = seq.checked_sub(1) else {
        return Err(fail(FailureKind::Malformed, "the proof is for record 0, but records are numbered from 1".to_string()));
    };
    if file.leaf_index != leaf_index {
        return Err(fail(FailureKind::Malformed, format!("leaf index {} is not seq - 1 = {leaf_index}", file.leaf_index)));
    }
    let event_type = record.body().type_name().to_string();
    record.event.clone().verify().map_err(|error| fail(FailureKind::Signature, error.to_string()))?;
    let checkpoint = &file.checkpoint;
    if checkpoint.checkpoint.ledger.as_str() != file.ledger || checkpoint.checkpoint.size != file.tree_size {
        return Err(fail(FailureKind::Checkpoint, "the checkpoint is for another ledger or size than the proof".to_string()));
    }
    if let Some(operator) = operator {
        if checkpoint.signer != *operator {
            return Err(fail(FailureKind::Operator, format!("the checkpoint is signed by {}, not by the operator {operator}", checkpoint.signer)));
        }
    }
    checkpoint.verify(&checkpoint.signer).map_err(|error| fail(FailureKind::Checkpoint, error.to_string()))?;
    let path = merkle::proof_from_hex(&file.proof).map_err(|error| fail(FailureKind::Malformed, error.to_string()))?;
    verify_inclusion(&leaf_hash(&record.hash), file.leaf_index, file.tree_size, &path, &checkpoint.checkpoint.root)
        .map_err(|error| fail(FailureKind::Checkpoint, format!("the audit path does not lead to the checkpoint's root: {error}")))?;
    let mut witnesses = Vec::new();
    for cosignature in &file.witnesses {
        cosignature.verify(&checkpoint.checkpoint).map_err(|error| fail(FailureKind::Witness, error.to_string()))?;
        witnesses.push(cosignature.witness.to_string());
    }
    Ok(ProofCheck {
        ledger: file.ledger.clone(),
        seq,
        event_id: file.event_id.clone(),
        event_type,
        record_hash: hex::encode(record.hash),
        tree_size: file.tree_size,
        root: hex::encode(checkpoint.checkpoint.root),
        issued_at: checkpoint.checkpoint.issued_at.to_string(),
        operator: checkpoint.signer.to_string(),
        operator_pinned: operator.is_some(),
        witnesses,
    })
}
