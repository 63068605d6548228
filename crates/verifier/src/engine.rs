//! The verification engine: checks stored records chunk by chunk, in order,
//! and names the first bad one.
//!
//! Per chunk: records are parsed, their bodies checked canonical, their
//! stated hashes recomputed and their signatures batch-verified on all cores
//! (rayon; this is the costly part, and it needs no state, so it runs
//! chunks ahead); event ids are looked up in the disk-backed id set; then the
//! core's [`Replay`] checks each chain link in order, takes the signature
//! verdict and applies every event to the same state machine the writer uses,
//! which re-checks every business and authorisation rule (signers registered,
//! not revoked, holding the role) as of that point in history. The complete
//! Merkle nodes the chain's tree gains are written to the store with the ids;
//! a chunk is split after every size a checkpoint states, where the
//! checkpoints are checked against the chain's root and head. The sources
//! (JetStream, bundle) only feed chunks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use fundledger_core::crypto::{Hash, KeyId};
use fundledger_core::event::{Event, EvidenceDigest};
use fundledger_core::id::LedgerId;
use fundledger_core::ledger::{evidence_consulted, Ledger};
use fundledger_core::merkle::CompactRange;
use fundledger_core::record::{verify_record_batch, PreparedRecord, VERIFY_CHUNK_EVENTS};
use fundledger_core::replay::{Replay, ReplayError};
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
    /// Records after this are listed in the store's tail (their ids, and
    /// what they changed of the evidence), so that a trusted restart from
    /// the store's snapshot forgets them: the snapshot size in a fresh run,
    /// the trusted size in a resumed one (which may fail before its snapshot).
    tail_from: u64,
    snapshot: Option<Snapshot>,
    /// In a trusted restart: the trusted checkpoint's root, the start of the consistency proof.
    trusted_root: Option<Hash>,
}

/// The state after the records of the newest checkpoint: where a later
/// verification can resume (`--save-trusted`, `--trusted`).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub size: u64,
    pub ledger: Ledger,
    pub tree: CompactRange,
}

/// A chunk of raw records with the result of parsing each and checking its signatures.
pub struct ParsedChunk {
    raw: Vec<RawRecord>,
    parsed: Vec<Result<PreparedRecord, Failure>>,
}

impl ParsedChunk {
    /// The records as read.
    pub fn records(&self) -> &[RawRecord] {
        &self.raw
    }
    pub fn len(&self) -> usize {
        self.raw.len()
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// A chunk whose batches are being parsed on the rayon pool ([`Verifier::start_parsing`]).
pub struct ParsingChunk {
    /// Records in the chunk.
    len: usize,
    /// One receiver per batch, in order: the batch's records and what parsing
    /// them gave, or `None` if parsing the batch panicked.
    batches: Vec<std::sync::mpsc::Receiver<Option<ReadBatch>>>,
}

/// A batch's records as read, and what parsing them gave.
type ReadBatch = (Vec<RawRecord>, ParsedBatch);

/// The records of a batch, each parsed and signature-checked or the reason it is bad.
type ParsedBatch = Vec<Result<PreparedRecord, Failure>>;

impl ParsingChunk {
    /// Waits for every batch of the chunk to be parsed and verified.
    pub fn wait(self) -> Result<ParsedChunk, VerifyError> {
        // A pool thread blocked here would hold up the very tasks it waits for.
        debug_assert!(rayon::current_thread_index().is_none(), "ParsingChunk::wait called on a rayon thread");
        let mut chunk = ParsedChunk { raw: Vec::with_capacity(self.len), parsed: Vec::with_capacity(self.len) };
        for batch in self.batches {
            let Ok(Some((raw, parsed))) = batch.recv() else {
                return Err(VerifyError::Input("parsing a batch of records failed unexpectedly (a panic); please report this as a bug".to_string()));
            };
            debug_assert_eq!(raw.len(), parsed.len());
            chunk.raw.extend(raw);
            chunk.parsed.extend(parsed);
        }
        debug_assert_eq!(chunk.raw.len(), self.len);
        Ok(chunk)
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
            tail_from: snapshot_at,
            snapshot: None,
            trusted_root: None,
            replay: Replay::new(ledger.clone()),
            ledger,
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
        let size = parts.replay.chain().size();
        let mut book = parts.book;
        book.drop_below(size + 1);
        Verifier {
            snapshot_at: book.largest_size().unwrap_or(0),
            tail_from: size,
            snapshot: None,
            trusted_root: Some(parts.trusted_root),
            ledger: parts.ledger,
            replay: parts.replay,
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
        self.replay.chain().size()
    }

    /// The hash of the last record verified (32 zero bytes before the first).
    pub fn head(&self) -> Hash {
        *self.replay.chain().head()
    }

    /// Starts parsing a chunk on the rayon pool, one task per batch of
    /// [`VERIFY_CHUNK_EVENTS`] records, queued first in, first out, and
    /// returns at once; [`ParsingChunk::wait`] collects the result. This is
    /// the costly part (canonical form, hashes, ed25519), needing no state.
    /// A pipeline starts several chunks ahead of the one it checks, so a core
    /// that finishes its last batch of a chunk goes on with the next chunk's
    /// first batch instead of waiting for the other core to finish the chunk.
    /// Call it from outside the rayon pool: `wait` blocks on the pool's tasks.
    pub fn start_parsing(raw: Vec<RawRecord>) -> ParsingChunk {
        let len = raw.len();
        let mut records = raw.into_iter();
        let mut batches = Vec::with_capacity(len.div_ceil(VERIFY_CHUNK_EVENTS));
        loop {
            let batch: Vec<RawRecord> = records.by_ref().take(VERIFY_CHUNK_EVENTS).collect();
            if batch.is_empty() {
                break;
            }
            let (sender, receiver) = std::sync::mpsc::sync_channel(1);
            rayon::spawn_fifo(move || {
                // A panic on a rayon task would abort the process; here it becomes this chunk's error.
                let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_batch(&batch))).ok();
                let _ = sender.send(parsed.map(|parsed| (batch, parsed)));
            });
            batches.push(receiver);
        }
        ParsingChunk { len, batches }
    }

    /// Checks the next chunk of records, parsed by [`start_parsing`](Self::start_parsing),
    /// in order. On the first bad record it returns the failure; nothing is
    /// committed for that chunk then. Verified records are counted in `fundledger_verifier_records_verified_total`
    /// (`/metrics`; its rate is the verification rate).
    pub fn check_parsed(&mut self, chunk: ParsedChunk) -> Result<(), VerifyError> {
        let records = chunk.len() as u64;
        self.check_split(chunk)?;
        count_verified(records);
        Ok(())
    }

    /// Splits the chunk after each record at whose size a checkpoint is stated
    /// (or the snapshot is due): those are checked against the chain's tree
    /// as it stands between the parts.
    fn check_split(&mut self, mut chunk: ParsedChunk) -> Result<(), VerifyError> {
        while !chunk.raw.is_empty() {
            let end = chunk
                .raw
                .iter()
                .position(|record| record.position == self.snapshot_at || self.book.at(record.position).next().is_some())
                .map_or(chunk.raw.len(), |index| index + 1);
            let rest = ParsedChunk { raw: chunk.raw.split_off(end), parsed: chunk.parsed.split_off(end) };
            let last_event_id = self.check_part(chunk)?;
            self.after_part(last_event_id.as_deref())?;
            chunk = rest;
        }
        Ok(())
    }

    /// At the size a part reached: its checkpoints (the operator's signature,
    /// root, head, forks, witnesses) and the snapshot, if due.
    fn after_part(&mut self, last_event_id: Option<&str>) -> Result<(), VerifyError> {
        let chain = self.replay.chain();
        let size = chain.size();
        if let Some(operator) = self.operator.filter(|_| self.book.at(size).next().is_some()) {
            self.book.check_at(size, &self.ledger, &operator, &chain.root(), chain.head(), last_event_id)?;
        }
        if size == self.snapshot_at {
            self.snapshot = Some(Snapshot { size, ledger: self.replay.ledger().clone(), tree: chain.tree().clone() });
        }
        Ok(())
    }

    /// Checks a part of a chunk and commits what it stores; returns the event id of its last record.
    fn check_part(&mut self, chunk: ParsedChunk) -> Result<Option<String>, VerifyError> {
        let ParsedChunk { raw, parsed } = chunk;
        let (Some(first), Some(last)) = (raw.first(), raw.last()) else { return Ok(None) };
        debug_assert_eq!(raw.len(), parsed.len());
        let (first_position, last_position) = (first.position, last.position);
        let mut records: Vec<PreparedRecord> = Vec::with_capacity(parsed.len());
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

        let Verifier { replay, store, operator, operator_pin, capture, captured, records_checked, signatures_checked, tail_from, .. } = self;
        let ids_cf = store.ids_cf()?;
        let tail_cf = store.tail_cf()?;
        let tail_from = *tail_from;
        let consulted: BTreeSet<EvidenceDigest> = records.iter().filter_map(|record| evidence_consulted(&record.record().body().event)).collect();
        let paged = store.page_in_evidence(consulted)?;
        replay.ledger_mut().page_in_evidence(paged.entries());
        let batch = StoreBatch::default();
        let mut early_failure: Option<Failure> = None;
        let mut capture_seq = None;
        let mut last_event_id = None;
        // Both callbacks write it, never at once (nodes while linking, the rest once verified).
        let batch = std::cell::RefCell::new(batch);
        let result = replay.check_prepared_with_nodes(
            records,
            |id, hash| batch.borrow_mut().put_node(id, hash),
            |record| {
                let mut batch = batch.borrow_mut();
                let event_id = record.event.body().id.as_str();
                batch.put_id(event_id, record.seq, ids_cf);
                if record.seq == last_position {
                    last_event_id = Some(event_id.to_string());
                }
                if record.seq > tail_from {
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
                                format!(
                                    "the genesis names operator key {}, but the auditor expects {pinned}: this is not the ledger you think it is",
                                    genesis.operator
                                ),
                            ));
                        }
                    }
                }
            },
        );
        let mut batch = batch.into_inner();
        let evidence = replay.ledger_mut().page_out_evidence();
        if let Some(failure) = early_failure {
            return Err(failure.into());
        }
        result.map_err(Failure::from)?;
        store.put_evidence(&mut batch, paged, evidence, (first_position > tail_from).then_some(first_position))?;
        if let Some(failure) = duplicate_failure {
            return Err(failure.into());
        }
        if let Some(failure) = parse_failure {
            return Err(failure.into());
        }
        if let Some(seq) = capture_seq {
            let index = (seq - first_position) as usize;
            *captured = raw.get(index).map(|record| (seq, record.bytes.clone()));
        }
        store.commit(batch)?;
        Ok(last_event_id)
    }

    /// Finds the first record whose event id an earlier record used (in the
    /// store or earlier in this chunk), truncates `records` before it and
    /// returns the failure.
    fn find_duplicate(&self, records: &mut Vec<PreparedRecord>) -> Result<Option<Failure>, VerifyError> {
        let ids: Vec<&str> = records.iter().map(|prepared| prepared.record().body().id.as_str()).collect();
        let known = self.store.lookup_ids(&ids)?;
        let mut seen: HashMap<&str, u64> = HashMap::with_capacity(ids.len());
        let mut found = None;
        for (index, (id, earlier)) in ids.iter().zip(known).enumerate() {
            let seq = records[index].record().seq;
            let earlier = earlier.or_else(|| seen.get(id).copied());
            if let Some(earlier) = earlier {
                found = Some((
                    index,
                    Failure::new(seq, Some(id.to_string()), FailureKind::DuplicateId, format!("event id {id} was already used by record {earlier}")),
                ));
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
    pub fn finish(mut self) -> Result<Verified, VerifyError> {
        let size = self.size();
        if size == 0 {
            return Err(Failure::new(1, None, FailureKind::Truncated, "the ledger has no records: not even its genesis").into());
        }
        self.book.check_end(size, self.operator.as_ref())?;
        if let (Some(trusted), Some(trusted_root)) = (self.trusted.as_mut(), self.trusted_root) {
            // The newest checkpoint matched the records; its consistency proof from the trusted one comes from the stored nodes.
            if let Some(newest) = self.book.checked().last().and_then(|checked| self.book.at(checked.size).next()) {
                crate::checkpoints::check_consistency(&self.store, trusted.size, &trusted_root, &newest.checkpoint)?;
                trusted.consistent_to_size = newest.checkpoint.size;
            }
        }
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
        let mut checks = if self.records_checked == 0 {
            vec![format!("no records after record {size} to check")]
        } else {
            vec![
                format!("records {}..{size}: each parses, its body is canonical (RFC 8785) and its stated hash is right", self.first_record),
                "each record links to the previous one (sequence and previous hash): nothing missing, inserted or reordered".to_string(),
                format!("{} signatures verify (ed25519)", self.signatures_checked),
                "every signer was registered, not revoked and held the required role at that point of history".to_string(),
                "every business rule held: the same state machine the writer uses accepted every event".to_string(),
                format!("no event id is used twice ({size} ids, kept on disk)"),
            ]
        };
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
            let consistency = if trusted.consistent_to_size > trusted.size {
                format!("the newest checkpoint (size {}) is consistent with it (RFC 6962 consistency proof from the stored nodes)", trusted.consistent_to_size)
            } else {
                "no newer checkpoint yet".to_string()
            };
            checks.insert(0, format!("started from the trusted checkpoint at size {}: {consistency}", trusted.size));
        }
        if self.operator_pin.is_some() {
            checks.push(format!("the genesis names the operator key the auditor expected ({operator})"));
        }
        let report = Report {
            ledger: self.ledger.to_string(),
            size,
            root: hex::encode(self.replay.chain().root()),
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
        Ok(Verified { report, ledger: ledger_state, captured: self.captured, book: self.book, store: self.store, snapshot: self.snapshot, operator })
    }
}

/// Parses a batch of records and batch-verifies the signatures of those that parsed.
fn parse_batch(raw: &[RawRecord]) -> ParsedBatch {
    let mut records = Vec::with_capacity(raw.len());
    // Whether each position holds a record or a failure, while the records are verified together.
    let mut failures = Vec::with_capacity(raw.len());
    for record in raw {
        match Replay::parse(record.position, &record.bytes) {
            Ok(parsed) => {
                records.push(parsed);
                failures.push(None);
            }
            Err(error) => failures.push(Some(parse_failure(error, &record.bytes))),
        }
    }
    let mut prepared = verify_record_batch(records).into_iter();
    let mut parsed = Vec::with_capacity(raw.len());
    parsed.extend(failures.into_iter().filter_map(|failure| failure.map_or_else(|| prepared.next().map(Ok), |failure| Some(Err(failure)))));
    parsed
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

/// The event id a record that failed to parse claims, if it can be read.
fn claimed_event_id(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claimed {
        body: ClaimedBody,
    }
    #[derive(serde::Deserialize)]
    struct ClaimedBody {
        id: fundledger_core::id::EventId,
    }
    serde_json::from_slice::<Claimed>(bytes).ok().map(|claimed| claimed.body.id.to_string())
}

/// What a verifier resuming from a trusted checkpoint starts with.
pub(crate) struct ResumeParts {
    pub ledger: LedgerId,
    pub replay: Replay,
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
        writeln!(
            formatter,
            "  operator     {}{}",
            self.operator,
            if self.operator_pinned { " (pinned)" } else { " (not pinned: pass --operator KEY to check it)" }
        )?;
        match self.checkpoints.last() {
            Some(newest) => writeln!(
                formatter,
                "  checkpoints  {} checked, newest at size {} issued {}{}",
                self.checkpoints.len(),
                newest.size,
                newest.issued_at,
                if self.records_after_newest_checkpoint > 0 {
                    format!("; {} newer records not yet checkpointed", self.records_after_newest_checkpoint)
                } else {
                    String::new()
                }
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
        write!(
            formatter,
            "{} records checked in {:.2} s ({:.0} records/s)",
            self.records_checked,
            self.seconds,
            self.records_checked as f64 / self.seconds.max(1e-9)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_core::crypto::SecretKey;
    use fundledger_core::event::{EventBody, GrantCompleted};
    use fundledger_core::id::{EventId, GrantId};
    use fundledger_core::record::{Record, SignedEvent};
    use fundledger_core::time::Timestamp;

    /// `count` stored records signed by one key, some of them damaged:
    /// a bad signature, a body that is not JSON, a changed byte in a body.
    fn raw_records(count: u64) -> Vec<RawRecord> {
        let key = SecretKey::from_seed_label("engine-test");
        let ledger = LedgerId::parse("hk").unwrap();
        (1..=count)
            .map(|seq| {
                let body = EventBody {
                    v: 1,
                    id: EventId::parse(&format!("e{seq}")).unwrap(),
                    ledger: ledger.clone(),
                    occurred_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
                    signers: vec![key.key_id()],
                    event: Event::GrantCompleted(GrantCompleted { grant: GrantId::parse("g1").unwrap() }),
                };
                let event = SignedEvent::sign(body, &[&key]).unwrap();
                let record = Record::seal(ledger.clone(), seq, [seq as u8; 32], Timestamp::parse("2026-01-01T00:00:01Z").unwrap(), event);
                let mut bytes = record.to_json();
                match seq {
                    // A signature made over another event: the record hash covers it, so it is re-sealed.
                    7 => {
                        let other = SignedEvent::sign(EventBody { id: EventId::parse("other").unwrap(), ..record.event.body().clone() }, &[&key]).unwrap();
                        let forged = SignedEvent::from_canonical(record.event.canonical_bytes().to_vec(), other.signatures().to_vec()).unwrap();
                        bytes = Record::seal(ledger.clone(), seq, record.prev, record.recorded_at.clone(), forged).to_json();
                    }
                    600 => bytes = b"not json".to_vec(),
                    1000 => {
                        let at = bytes.windows(4).position(|window| window == b"\"g1\"").unwrap();
                        bytes[at + 2] = b'2';
                    }
                    _ => {}
                }
                RawRecord { position: seq, bytes: Bytes::from(bytes) }
            })
            .collect()
    }

    /// The pipeline's batch-by-batch parse gives exactly what parsing the chunk as one batch gives, in order.
    #[test]
    fn parsing_batch_by_batch_on_the_pool_matches_parsing_at_once() {
        let raw = raw_records(VERIFY_CHUNK_EVENTS as u64 * 2 + 77);
        let at_once = ParsedChunk { parsed: parse_batch(&raw), raw: raw.clone() };
        let by_batch = Verifier::start_parsing(raw.clone()).wait().unwrap();
        assert_eq!(by_batch.len(), raw.len());
        assert_eq!(by_batch.raw.iter().map(|record| record.position).collect::<Vec<_>>(), raw.iter().map(|record| record.position).collect::<Vec<_>>());
        let outcome = |chunk: ParsedChunk| -> Vec<Result<(u64, bool), Failure>> {
            chunk.parsed.into_iter().map(|result| result.map(|prepared| (prepared.record().seq, prepared.into_parts().1.is_ok()))).collect()
        };
        let (at_once, by_batch) = (outcome(at_once), outcome(by_batch));
        assert_eq!(at_once, by_batch);
        // The damaged records are the ones named, and only they.
        let bad: Vec<u64> = by_batch.iter().zip(1u64..).filter(|(result, _)| !matches!(result, Ok((_, true)))).map(|(_, seq)| seq).collect();
        assert_eq!(bad, vec![7, 600, 1000]);
        assert!(matches!(by_batch[6], Ok((7, false))), "a bad signature is a verdict on a parsed record");
    }
}
