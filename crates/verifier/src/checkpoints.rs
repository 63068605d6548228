//! Signed checkpoints and witness co-signatures as the verifier sees them:
//! collected from the checkpoint stream or a bundle, checked against the
//! records when the replay reaches their size, and compared with each other
//! so that two operator-signed trees for one size are reported as a fork.
//!
//! Witness statements travel as `{"checkpoint": <signed checkpoint>,
//! "cosignature": {"witness", "signature"}}` on `fl.<ledger>.witness.<key
//! prefix>`: a statement carries the checkpoint it co-signs, so a witness that
//! was shown a different history than everyone else publishes evidence of it.

use std::collections::BTreeMap;

use fundledger_core::checkpoint::{Checkpoint, Cosignature, SignedCheckpoint};
use fundledger_core::crypto::{Hash, KeyId};
use fundledger_core::id::LedgerId;
use fundledger_core::merkle::{consistency_proof, verify_consistency};
use serde::{Deserialize, Serialize};

use crate::failure::{Failure, FailureKind};
use crate::store::Store;

/// A witness's co-signature with the checkpoint it co-signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessStatement {
    pub checkpoint: SignedCheckpoint,
    pub cosignature: Cosignature,
}

impl WitnessStatement {
    pub fn from_json(bytes: &[u8]) -> Result<WitnessStatement, String> {
        serde_json::from_slice(bytes).map_err(|error| format!("not a witness statement: {error}"))
    }
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Parses a message of the checkpoint stream by its subject: an operator
/// checkpoint, or a witness statement with (a copy of) the checkpoint it co-signs.
pub fn parse_message(subject: &str, payload: &[u8]) -> Result<(SignedCheckpoint, Option<WitnessStatement>), String> {
    if subject.contains(".witness.") {
        let statement = WitnessStatement::from_json(payload)?;
        return Ok((statement.checkpoint.clone(), Some(statement)));
    }
    Ok((SignedCheckpoint::from_json(payload).map_err(|error| error.to_string())?, None))
}

/// The subject token for a witness: the first 16 hex characters of its key.
pub fn witness_token(witness: &KeyId) -> String {
    witness.to_string()[..16].to_string()
}

#[derive(Clone, Debug)]
struct Entry {
    checkpoint: SignedCheckpoint,
    origin: String,
}

/// A checkpoint that was checked against the records.
#[derive(Clone, Debug, Serialize)]
pub struct CheckedCheckpoint {
    pub size: u64,
    pub root: String,
    pub head: String,
    pub issued_at: String,
    /// Keys of the witnesses whose co-signature verified.
    pub witnesses: Vec<String>,
}

/// Every checkpoint and witness statement known to a verification.
#[derive(Clone, Debug, Default)]
pub struct CheckpointBook {
    by_size: BTreeMap<u64, Vec<Entry>>,
    witnesses: Vec<(WitnessStatement, String)>,
    /// Checked checkpoints, by size.
    checked: BTreeMap<u64, CheckedCheckpoint>,
}

impl CheckpointBook {
    pub fn new() -> CheckpointBook {
        CheckpointBook::default()
    }

    /// Adds a signed checkpoint found at `origin` (e.g. "checkpoint stream message 4").
    pub fn add_checkpoint(&mut self, checkpoint: SignedCheckpoint, origin: impl Into<String>) {
        self.by_size.entry(checkpoint.checkpoint.size).or_default().push(Entry { checkpoint, origin: origin.into() });
    }

    /// Adds a witness statement; the checkpoint it carries is checked like any other.
    pub fn add_witness(&mut self, statement: WitnessStatement, origin: impl Into<String>) {
        let origin = origin.into();
        self.add_checkpoint(statement.checkpoint.clone(), format!("{origin} (the checkpoint a witness co-signed)"));
        self.witnesses.push((statement, origin));
    }

    /// Adds a message of the checkpoint stream (see [`parse_message`]).
    pub fn add_message(&mut self, subject: &str, payload: &[u8], origin: String) -> Result<(), String> {
        match parse_message(subject, payload).map_err(|error| format!("{origin}: {error}"))? {
            (_, Some(statement)) => self.add_witness(statement, origin),
            (checkpoint, None) => self.add_checkpoint(checkpoint, origin),
        }
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.by_size.values().map(Vec::len).sum()
    }
    /// Sizes that have at least one checkpoint, ascending.
    pub fn sizes(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_size.keys().copied()
    }
    pub fn largest_size(&self) -> Option<u64> {
        self.by_size.keys().next_back().copied()
    }
    /// Every checkpoint stated for `size`.
    pub fn at(&self, size: u64) -> impl Iterator<Item = &SignedCheckpoint> {
        self.by_size.get(&size).into_iter().flatten().map(|entry| &entry.checkpoint)
    }
    pub fn checked(&self) -> impl Iterator<Item = &CheckedCheckpoint> {
        self.checked.values()
    }
    pub fn witness_statements(&self) -> impl Iterator<Item = &WitnessStatement> {
        self.witnesses.iter().map(|(statement, _)| statement)
    }
    /// Forgets checkpoints below `size` (a trusted restart has checked them before).
    pub fn drop_below(&mut self, size: u64) {
        self.by_size = self.by_size.split_off(&size);
    }

    /// Checks every checkpoint of `size` against the tree the records give
    /// at that size: the operator's signature, the ledger, the root and the
    /// head, and that no two state different trees (a fork). `record_event_id`
    /// is the event id of record `size`, for the failure message.
    pub fn check_at(&mut self, size: u64, ledger: &LedgerId, operator: &KeyId, root: &Hash, head: &Hash, record_event_id: Option<&str>) -> Result<(), Failure> {
        let Some(entries) = self.by_size.get(&size) else { return Ok(()) };
        let fail = |kind, reason: String| Failure::new(size, record_event_id.map(str::to_string), kind, reason);
        for entry in entries {
            let checkpoint = &entry.checkpoint;
            if checkpoint.checkpoint.ledger != *ledger {
                return Err(fail(
                    FailureKind::Checkpoint,
                    format!("{}: the checkpoint is for ledger {}, not {ledger}", entry.origin, checkpoint.checkpoint.ledger),
                ));
            }
            checkpoint
                .verify(operator)
                .map_err(|error| fail(FailureKind::Checkpoint, format!("{}: {error} (the operator named at genesis is {operator})", entry.origin)))?;
        }
        // All signed by the operator: any two different statements for one size are a fork.
        let mut trees: Vec<(&Hash, &Hash, &str)> = Vec::new();
        for entry in entries {
            let statement = (&entry.checkpoint.checkpoint.root, &entry.checkpoint.checkpoint.head, entry.origin.as_str());
            if !trees.iter().any(|(root, head, _)| *root == statement.0 && *head == statement.1) {
                trees.push(statement);
            }
        }
        if trees.len() > 1 {
            let listed: Vec<String> = trees
                .iter()
                .map(|(tree_root, tree_head, origin)| {
                    let matches = if *tree_root == root && *tree_head == head { ", which matches the records" } else { "" };
                    format!("root {} head {} ({origin}{matches})", hex::encode(tree_root), hex::encode(tree_head))
                })
                .collect();
            return Err(fail(FailureKind::Fork, format!("fork: the operator signed {} different trees for size {size}: {}", trees.len(), listed.join("; "))));
        }
        for entry in entries {
            let stated = &entry.checkpoint.checkpoint;
            if stated.root != *root {
                return Err(fail(
                    FailureKind::Checkpoint,
                    format!(
                        "{}: the operator's checkpoint states root {} for size {size}, but records 1..{size} give root {}",
                        entry.origin,
                        hex::encode(stated.root),
                        hex::encode(root)
                    ),
                ));
            }
            if stated.head != *head {
                return Err(fail(
                    FailureKind::Checkpoint,
                    format!(
                        "{}: the operator's checkpoint states chain head {} for size {size}, but record {size} has hash {}",
                        entry.origin,
                        hex::encode(stated.head),
                        hex::encode(head)
                    ),
                ));
            }
        }
        let first = &entries[0].checkpoint.checkpoint;
        let mut witnesses = Vec::new();
        for (statement, origin) in &self.witnesses {
            if statement.checkpoint.checkpoint.size != size {
                continue;
            }
            // The statement's checkpoint passed the checks above (it is one of the entries).
            statement.cosignature.verify(&statement.checkpoint.checkpoint).map_err(|error| fail(FailureKind::Witness, format!("{origin}: {error}")))?;
            let witness = statement.cosignature.witness.to_string();
            if !witnesses.contains(&witness) {
                witnesses.push(witness);
            }
        }
        self.checked.insert(
            size,
            CheckedCheckpoint { size, root: hex::encode(first.root), head: hex::encode(first.head), issued_at: first.issued_at.to_string(), witnesses },
        );
        Ok(())
    }

    /// After the last record (`size` records in all): a checkpoint beyond the
    /// end means records the operator signed for are missing.
    pub fn check_end(&self, size: u64, operator: Option<&KeyId>) -> Result<(), Failure> {
        let Some((&beyond, entries)) = self.by_size.range(size + 1..).next() else { return Ok(()) };
        let entry = &entries[0];
        let signed = match operator {
            Some(operator) => match entry.checkpoint.verify(operator) {
                Ok(()) => "signed by the operator".to_string(),
                Err(error) => format!("whose signature does not verify: {error}"),
            },
            None => "(no genesis, so no operator key to check it with)".to_string(),
        };
        Err(Failure::new(
            size + 1,
            None,
            FailureKind::Truncated,
            format!(
                "missing: {} is a checkpoint at size {beyond} {signed}, but the ledger ends at record {size}: records {}..{beyond} were removed or withheld",
                entry.origin,
                size + 1
            ),
        ))
    }
}

/// Checks the RFC 6962 consistency proof from the trusted checkpoint to the
/// newest one, built from the stored nodes.
pub(crate) fn check_consistency(store: &Store, trusted_size: u64, trusted_root: &Hash, newest: &Checkpoint) -> Result<(), Failure> {
    let newest_size = newest.size;
    let fail = |reason: String| Failure::new(newest_size, None, FailureKind::Consistency, reason);
    let proof = consistency_proof(store, trusted_size, newest_size).map_err(|error| fail(format!("cannot build the consistency proof: {error}")))?;
    verify_consistency(trusted_size, newest_size, trusted_root, &newest.root, &proof)
        .map_err(|error| fail(format!("the checkpoint at size {newest_size} is not consistent with the trusted checkpoint at size {trusted_size}: {error}")))
}
