//! The verification engine: checks stored records chunk by chunk, in order,
//! and names the first bad one.
//!
//! Per chunk: records are parsed, their bodies checked canonical and their
//! stated hashes recomputed on all cores (rayon; this is the costly part);
//! event ids are looked up in the disk-backed id set; then the core's
//! [`Replay`] checks chain links, batch-verifies signatures on all cores and
//! applies every event to the same state machine the writer uses, which
//! re-checks every business and authorisation rule (signers registered, not
//! revoked, holding the role) as of that point in history. Each record that
//! passed goes into the Merkle tree, whose complete nodes are written to the
//! store, and every checkpoint of that size is checked against the root and
//! head. The sources (JetStream, bundle) only feed chunks.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use fundledger_core::crypto::{Hash, KeyId};
use fundledger_core::event::Event;
use fundledger_core::id::LedgerId;
use fundledger_core::ledger::Ledger;
use fundledger_core::merkle::{leaf_hash, CompactRange};
use fundledger_core::record::Record;
use fundledger_core::replay::{Replay, ReplayError};
use rayon::prelude::*;
use serde::Serialize;

use crate::checkpoints::{CheckedCheckpoint, CheckpointBook};
use crate::failure::{Failure, FailureKind, VerifyError};
use crate::store::{Store, StoreBatch};

/// Records handed to the engine at once: large enough to spread parsing and
/// batch verification over the cores, small enough to keep memory flat.
pub const CHUNK_RECORDS: usize = 4096;

/// A stored record as read: its position in the stream or bundle (1-based) and its bytes.
#[derive(Clone, Debug)]
pub struct RawRecord {
    pub position: u64,
    pub bytes: Bytes,
}

/// What a successful verification checked, for people (`Display`) and machines (JSON).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub ledger: String,
    /// Records in the ledger (the last sequence).
    pub size: u64,
    /// RFC 6962 root over all records.
    pub root: String,
    /// Hash of the last record.
    pub head: String,
    /// The operator key named at genesis (it signs checkpoints).
    pub operator: String,
    /// Whether the auditor pinned the operator key (`--operator`) and it matched.
    pub operator_pinned: bool,
    /// The first record this run checked (1, or the one after a trusted checkpoint).
    pub first_record_checked: u64,
    pub records_checked: u64,
    pub signatures_checked: u64,
    /// Distinct event ids checked for reuse (all of them, across the whole ledger).
    pub event_ids_unique: u64,
    /// Registered keys at the end, and how many of them are revoked.
    pub keys: usize,
    pub keys_revoked: usize,
    /// Every checkpoint checked against the records, by size.
    pub checkpoints: Vec<CheckedCheckpoint>,
    /// Witness key -> the checkpoint sizes it co-signed (verified).
    pub witnesses: BTreeMap<String, Vec<u64>>,
    /// Records after the newest checkpoint (not yet covered by an operator signature).
    pub records_after_newest_checkpoint: u64,
    /// Set when verification started from a trusted checkpoint.
    pub trusted: Option<TrustedStart>,
    /// What was checked, in words.
    pub checks: Vec<String>,
    /// Wall-clock seconds, filled by the caller.
    pub seconds: f64,
}

/// How a verification that started from a trusted checkpoint began.
#[derive(Clone, Debug, Serialize)]
pub struct TrustedStart {
    pub size: u64,
    pub root: String,
    /// The newest checkpoint the consistency proof was checked to.
    pub consistent_to_size: u64,
}

/// The verification state.
pub struct Verifier {
    ledger: LedgerId,
    replay: Replay,
    tree: CompactRange,
    store: Store,
    book: CheckpointBook,
    operator: Option<KeyId>,
    operator_pin: Option<KeyId>,
    capture: Option<String>,
    captured: Option<(u64, Bytes)>,
    first_record: u64,
    records_checked: u64,
    signatures_checked: u64,
    trusted: Option<TrustedStart>,
    /// The size of the newest checkpoint: the state is snapshotted there (a trusted restart point).
    snapshot_at: u64,
    snapshot: Option<Snapshot>,
    /// In a trusted restart: the trusted root, until the consistency proof to the newest checkpoint was checked.
    consistency_pending: Option<Hash>,
}

/// The state after the records of the newest checkpoint: where a later
/// verification can resume (`--save-trusted`, `--trusted`).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub size: u64,
    pub ledger: Ledger,
    pub tree: CompactRange,
}

/// A chunk of raw records with the result of parsing each.
pub struct ParsedChunk {
    raw: Vec<RawRecord>,
    parsed: Vec<Result<Record, Failure>>,
}

impl ParsedChunk {
    pub fn len(&self) -> usize {
        self.raw.len()
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// The outcome of a successful verification.
pub struct Verified {
    pub report: Report,
    /// The ledger state after the last record.
    pub ledger: Ledger,
    /// The record asked for with `capture`, if it was found: (seq, bytes).
    pub captured: Option<(u64, Bytes)>,
    pub book: CheckpointBook,
    /// The store holding the ids and Merkle nodes (proofs are read from it).
    pub store: Store,
    /// The state at the newest verified checkpoint.
    pub snapshot: Option<Snapshot>,
    /// The operator key named at genesis.
    pub operator: KeyId,
}

impl Verifier {
    /// A verifier starting at the beginning of the ledger, with an empty store.
    pub fn new(ledger: LedgerId, store: Store, book: CheckpointBook, operator_pin: Option<KeyId>, capture: Option<String>) -> Result<Verifier, VerifyError> {
        store.clear()?;
        let snapshot_at = book.largest_size().unwrap_or(0);
        Ok(Verifier {
            snapshot_at,
            snapshot: None,
            consistency_pending: None,
            replay: Replay::new(ledger.clone()),
            ledger,
            tree: CompactRange::new(),
            store,
            book,
            operator: None,
            operator_pin,
            capture,
            captured: None,
            first_record: 1,
            records_checked: 0,
            signatures_checked: 0,
            trusted: None,
        })
    }

    /// A verifier resuming after records that were verified before (a trusted checkpoint).
    pub(crate) fn resume(parts: ResumeParts) -> Verifier {
        let size = parts.tree.size();
        let mut book = parts.book;
        book.drop_below(size + 1);
        Verifier {
            snapshot_at: book.largest_size().unwrap_or(0),
            snapshot: None,
            consistency_pending: Some(parts.trusted_root),
            ledger: parts.ledger,
            replay: parts.replay,
            tree: parts.tree,
            store: parts.store,
            book,
            operator: Some(parts.operator),
            operator_pin: parts.operator_pin,
            capture: parts.capture,
            captured: None,
            first_record: size + 1,
            records_checked: 0,
            signatures_checked: 0,
            trusted: Some(parts.trusted),
        }
    }

    /// Records verified so far (the ledger's size up to here).
    pub fn size(&self) -> u64 {
        self.tree.size()
    }
    pub fn book(&self) -> &CheckpointBook {
        &self.book
    }

    /// Parses a chunk on all cores: the costly part (canonical form, hashes),
    /// needing no state, so a pipeline runs it ahead of [`check_parsed`](Self::check_parsed).
    pub fn parse(raw: Vec<RawRecord>) -> ParsedChunk {
        let parsed = raw.par_iter().map(|record| Replay::parse(record.position, &record.bytes).map_err(|error| parse_failure(error, &record.bytes))).collect();
        ParsedChunk { raw, parsed }
    }

    /// Checks the next chunk of records, in order. On the first bad record
    /// it returns the failure; nothing is committed for that chunk then.
    pub fn check(&mut self, raw: Vec<RawRecord>) -> Result<(), VerifyError> {
        self.check_parsed(Self::parse(raw))
    }

    /// [`check`](Self::check) for a chunk parsed by [`parse`](Self::parse).
    /// Verified records are counted in `fundledger_verifier_records_verified_total`
    /// (`/metrics`; its rate is the verification rate).
    pub fn check_parsed(&mut self, chunk: ParsedChunk) -> Result<(), VerifyError> {
        let records = chunk.len() as u64;
        self.check_split(chunk)?;
        count_verified(records);
        Ok(())
    }

    fn check_split(&mut self, mut chunk: ParsedChunk) -> Result<(), VerifyError> {
        if chunk.raw.is_empty() {
            return Ok(());
        }
        // The snapshot is taken between chunks: split the chunk at its size.
        let snapshot_at = self.snapshot_at;
        if let Some(split) = chunk.raw.iter().position(|record| record.position == snapshot_at) {
            let rest = ParsedChunk { raw: chunk.raw.split_off(split + 1), parsed: chunk.parsed.split_off(split + 1) };
            self.check_part(chunk)?;
            if self.tree.size() == snapshot_at {
                self.snapshot = Some(Snapshot { size: snapshot_at, ledger: self.replay.ledger().clone(), tree: self.tree.clone() });
            }
            return self.check_part(rest);
        }
        self.check_part(chunk)
    }

    fn check_part(&mut self, chunk: ParsedChunk) -> Result<(), VerifyError> {
        let ParsedChunk { raw, parsed } = chunk;
        if raw.is_empty() {
            return Ok(());
        }
        debug_assert_eq!(raw.len(), parsed.len());
        let first_position = raw[0].position;
        let mut records = Vec::with_capacity(parsed.len());
        let mut parse_failure = None;
        for result in parsed {
            match result {
                Ok(record) => records.push(record),
                Err(failure) => {
                    parse_failure = Some(failure);
                    break;
                }
            }
        }
        let duplicate_failure = self.find_duplicate(&mut records)?;

        let Verifier { ledger, replay, tree, store, book, operator, operator_pin, capture, captured, records_checked, signatures_checked, snapshot_at, .. } = self;
        let ids_cf = store.ids_cf()?;
        let nodes_cf = store.nodes_cf()?;
        let tail_cf = store.tail_cf()?;
        let snapshot_at = *snapshot_at;
        let mut batch = StoreBatch::default();
        let mut early_failure: Option<Failure> = None;
        let mut capture_seq = None;
        let result = replay.check_chunk(records, |record| {
            let event_id = record.event.body().id.as_str();
            tree.append(leaf_hash(&record.hash), |id, hash| batch.put_node(id, hash, nodes_cf));
            batch.put_id(event_id, record.seq, ids_cf);
            if record.seq > snapshot_at {
                batch.put_tail(record.seq, event_id, tail_cf);
            }
            *records_checked += 1;
            *signatures_checked += record.event.signers().len() as u64;
            if capture.as_deref() == Some(event_id) {
                capture_seq = Some(record.seq);
            }
            if early_failure.is_some() {
                return;
            }
            if let Event::LedgerGenesis(genesis) = &record.event.body().event {
                // The state machine has just accepted it as the one genesis, signed by this key.
                *operator = Some(genesis.operator);
                if let Some(pinned) = operator_pin {
                    if *pinned != genesis.operator {
                        early_failure = Some(Failure::new(
                            record.seq,
                            Some(event_id.to_string()),
                            FailureKind::Operator,
                            format!("the genesis names operator key {}, but the auditor expects {pinned}: this is not the ledger you think it is", genesis.operator),
                        ));
                        return;
                    }
                }
            }
            let Some(operator) = operator.as_ref() else { return };
            if let Err(failure) = book.check_at(record.seq, ledger, operator, &tree.root(), &record.hash, Some(event_id)) {
                early_failure = Some(failure);
            }
        });
        if let Some(failure) = early_failure {
            return Err(failure.into());
        }
        result.map_err(Failure::from)?;
        if let Some(failure) = duplicate_failure {
            return Err(failure.into());
        }
        if let Some(failure) = parse_failure {
            return Err(failure.into());
        }
        debug_assert_eq!(tree.root(), replay.chain().root(), "the verifier's tree and the replay's chain must agree");
        if let Some(seq) = capture_seq {
            let index = (seq - first_position) as usize;
            *captured = raw.get(index).map(|record| (seq, record.bytes.clone()));
        }
        store.commit(batch)?;
        self.check_consistency_when_reached()
    }

    /// In a trusted restart, once the newest checkpoint is reached: its
    /// consistency proof from the trusted checkpoint, from the stored nodes.
    fn check_consistency_when_reached(&mut self) -> Result<(), VerifyError> {
        let (Some(trusted_root), Some(trusted)) = (self.consistency_pending, self.trusted.as_ref()) else { return Ok(()) };
        let newest = trusted.consistent_to_size;
        if self.tree.size() < newest {
            return Ok(());
        }
        let Some(newest_root) = self.book.checked().find(|checkpoint| checkpoint.size == newest).and_then(|checkpoint| hex::decode(&checkpoint.root).ok()) else {
            return Ok(());
        };
        let newest_root: Hash = newest_root.try_into().map_err(|_| VerifyError::Input("a checked root is not 32 bytes".to_string()))?;
        crate::trusted::check_consistency(&self.store, trusted.size, &trusted_root, newest, &newest_root, None)?;
        self.consistency_pending = None;
        Ok(())
    }

    /// Finds the first record whose event id an earlier record used (in the
    /// store or earlier in this chunk), truncates `records` before it and
    /// returns the failure.
    fn find_duplicate(&self, records: &mut Vec<Record>) -> Result<Option<Failure>, VerifyError> {
        let ids: Vec<&str> = records.iter().map(|record| record.body().id.as_str()).collect();
        let known = self.store.lookup_ids(&ids)?;
        let mut seen: HashMap<&str, u64> = HashMap::with_capacity(ids.len());
        let mut found = None;
        for (index, (id, earlier)) in ids.iter().zip(known).enumerate() {
            let seq = records[index].seq;
            let earlier = earlier.or_else(|| seen.get(id).copied());
            if let Some(earlier) = earlier {
                found = Some((index, Failure::new(seq, Some(id.to_string()), FailureKind::DuplicateId, format!("event id {id} was already used by record {earlier}"))));
                break;
            }
            seen.insert(id, seq);
        }
        drop(seen);
        drop(ids);
        Ok(found.map(|(index, failure)| {
            records.truncate(index);
            failure
        }))
    }

    /// Ends the verification: checks that no checkpoint lies beyond the last
    /// record, makes the store durable, and reports.
    pub fn finish(self) -> Result<Verified, VerifyError> {
        let size = self.tree.size();
        if size == 0 {
            return Err(Failure::new(1, None, FailureKind::Truncated, "the ledger has no records: not even its genesis").into());
        }
        self.book.check_end(size, self.operator.as_ref())?;
        let Some(operator) = self.operator else {
            return Err(Failure::new(1, None, FailureKind::Rule, "no genesis was verified, so the operator key is unknown").into());
        };
        if let Some(snapshot) = &self.snapshot {
            self.store.put_snapshot_size(snapshot.size)?;
        }
        self.store.flush()?;
        let ledger_state = self.replay.ledger().clone();
        let checkpoints: Vec<CheckedCheckpoint> = self.book.checked().cloned().collect();
        let mut witnesses: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for checkpoint in &checkpoints {
            for witness in &checkpoint.witnesses {
                witnesses.entry(witness.clone()).or_default().push(checkpoint.size);
            }
        }
        let newest = checkpoints.last().map(|checkpoint| checkpoint.size).or(self.trusted.as_ref().map(|trusted| trusted.size));
        let keys = ledger_state.keys();
        let mut checks = vec![
            format!("records {}..{size}: each parses, its body is canonical (RFC 8785) and its stated hash is right", self.first_record),
            "each record links to the previous one (sequence and previous hash): nothing missing, inserted or reordered".to_string(),
            format!("{} signatures verify (ed25519)", self.signatures_checked),
            "every signer was registered, not revoked and held the required role at that point of history".to_string(),
            "every business rule held: the same state machine the writer uses accepted every event".to_string(),
            format!("no event id is used twice ({} ids, kept on disk)", size),
        ];
        if checkpoints.is_empty() {
            checks.push("no checkpoint signed by the operator covers these records yet".to_string());
        } else {
            checks.push(format!(
                "{} checkpoint(s) signed by the operator {}: each root and head equals the one the records give, and no two differ for one size (no fork)",
                checkpoints.len(),
                operator.short()
            ));
        }
        if !witnesses.is_empty() {
            checks.push(format!("{} witness co-signature(s) verify", witnesses.values().map(Vec::len).sum::<usize>()));
        }
        if let Some(trusted) = &self.trusted {
            checks.insert(
                0,
                format!(
                    "started from the trusted checkpoint at size {}: the newest checkpoint (size {}) is consistent with it (RFC 6962 consistency proof)",
                    trusted.size, trusted.consistent_to_size
                ),
            );
        }
        if self.operator_pin.is_some() {
            checks.push(format!("the genesis names the operator key the auditor expected ({operator})"));
        }
        let report = Report {
            ledger: self.ledger.to_string(),
            size,
            root: hex::encode(self.tree.root()),
            head: hex::encode(self.replay.chain().head()),
            operator: operator.to_string(),
            operator_pinned: self.operator_pin.is_some(),
            first_record_checked: self.first_record,
            records_checked: self.records_checked,
            signatures_checked: self.signatures_checked,
            event_ids_unique: size,
            keys: keys.len(),
            keys_revoked: keys.values().filter(|key| key.revoked).count(),
            checkpoints,
            witnesses,
            records_after_newest_checkpoint: size - newest.unwrap_or(0),
            trusted: self.trusted,
            checks,
            seconds: 0.0,
        };
        Ok(Verified {
            report,
            ledger: ledger_state,
            captured: self.captured,
            book: self.book,
            store: self.store,
            snapshot: self.snapshot,
            operator,
        })
    }
}

/// Counts records that passed every check, for `/metrics`.
pub(crate) fn count_verified(records: u64) {
    fundledger_metrics::metrics::counter!("fundledger_verifier_records_verified_total").increment(records);
}

/// A record that failed to parse, as a failure naming the event id it
/// claims (`body.id`) when its JSON gets that far: the record is not
/// trusted, but the auditor can still find the event it pretends to be.
pub(crate) fn parse_failure(error: ReplayError, bytes: &[u8]) -> Failure {
    let mut failure = Failure::from(error);
    if failure.event_id.is_none() {
        failure.event_id = claimed_event_id(bytes);
    }
    failure
}

fn claimed_event_id(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let id = value.get("body")?.get("id")?.as_str()?;
    fundledger_core::id::EventId::parse(id).ok().map(|id| id.to_string())
}

/// What a verifier resuming from a trusted checkpoint starts with.
pub(crate) struct ResumeParts {
    pub ledger: LedgerId,
    pub replay: Replay,
    pub tree: CompactRange,
    pub store: Store,
    pub book: CheckpointBook,
    pub operator: KeyId,
    pub operator_pin: Option<KeyId>,
    pub capture: Option<String>,
    pub trusted: TrustedStart,
    pub trusted_root: Hash,
}

impl std::fmt::Display for Report {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(formatter, "ledger {} verified: {} records", self.ledger, self.size)?;
        writeln!(formatter, "  Merkle root  {}", self.root)?;
        writeln!(formatter, "  chain head   {}", self.head)?;
        writeln!(formatter, "  operator     {}{}", self.operator, if self.operator_pinned { " (pinned)" } else { " (not pinned: pass --operator KEY to check it)" })?;
        match self.checkpoints.last() {
            Some(newest) => writeln!(
                formatter,
                "  checkpoints  {} checked, newest at size {} issued {}{}",
                self.checkpoints.len(),
                newest.size,
                newest.issued_at,
                if self.records_after_newest_checkpoint > 0 { format!("; {} newer records not yet checkpointed", self.records_after_newest_checkpoint) } else { String::new() }
            )?,
            None => writeln!(formatter, "  checkpoints  none{}", if self.trusted.is_some() { " newer than the trusted one" } else { "" })?,
        }
        for (witness, sizes) in &self.witnesses {
            writeln!(formatter, "  witness      {witness} co-signed size(s) {}", sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))?;
        }
        writeln!(formatter, "Checked:")?;
        for check in &self.checks {
            writeln!(formatter, "  - {check}")?;
        }
        write!(formatter, "{} records checked in {:.2} s ({:.0} records/s)", self.records_checked, self.seconds, self.records_checked as f64 / self.seconds.max(1e-9))
    }
}
