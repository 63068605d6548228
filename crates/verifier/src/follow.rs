//! A verifying subscriber: for reporting services that build their own views
//! from the ledger stream and must not build them on a tampered history.
//!
//! [`Follower`] checks each record as it arrives, exactly as a full
//! verification does (canonical body, stated hash, chain link, signatures,
//! the state machine's rules, event-id uniqueness on disk), and each
//! checkpoint against the tree it has built; it stops at the first gap,
//! break or fork with a [`Failure`]. [`follow_nats`] drives one from
//! JetStream (the ledger stream and the checkpoint stream together) and
//! hands every verified record to the caller.
//!
//! Memory stays flat: event ids and Merkle nodes live on disk (the verifier's
//! store: RocksDB and flat node files), so
//! a checkpoint that arrives after the records it covers is checked against
//! the root and leaf read back from the stored nodes.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use fundledger_core::checkpoint::SignedCheckpoint;
use fundledger_core::crypto::{Hash, KeyId};
use fundledger_core::event::Event;
use fundledger_core::id::LedgerId;
use fundledger_core::merkle::{leaf_hash, root_at, NodeId, NodeStore};
use fundledger_core::replay::{Replay, VerifiedRecord};
use futures::StreamExt as _;

use crate::checkpoints::{CheckpointBook, WitnessStatement};
use crate::failure::{Failure, FailureKind, VerifyError};
use crate::store::{Store, StoreBatch};

/// What the follower passes on.
#[derive(Debug)]
pub enum Followed {
    /// A record that passed every check.
    Record(Box<VerifiedRecord>),
    /// A checkpoint (or the checkpoint of a witness statement) that matches the records.
    Checkpoint { size: u64, root: Hash, witness: Option<KeyId> },
}

/// A checkpoint waiting for its size, with the witness statement that carried it.
type Pending = (SignedCheckpoint, Option<WitnessStatement>);

pub struct Follower {
    ledger: LedgerId,
    replay: Replay,
    store: Store,
    operator: Option<KeyId>,
    /// Checkpoints for sizes not reached yet.
    pending: BTreeMap<u64, Vec<Pending>>,
}

impl Follower {
    /// A follower from the start of `ledger`, with its ids and Merkle nodes in a temporary store.
    pub fn new(ledger: LedgerId) -> Result<Follower, VerifyError> {
        let store = Store::temporary(ledger.as_str())?;
        Ok(Follower { replay: Replay::new(ledger.clone()), ledger, store, operator: None, pending: BTreeMap::new() })
    }

    pub fn size(&self) -> u64 {
        self.replay.chain().size()
    }

    /// Checks the record stored at `position`; it must be the next one.
    pub fn accept_record(&mut self, position: u64, bytes: &[u8]) -> Result<(VerifiedRecord, Vec<Followed>), VerifyError> {
        let expected = self.size() + 1;
        if position != expected {
            return Err(Failure::new(
                expected,
                None,
                FailureKind::Gap,
                format!("the stream delivered record {position} when record {expected} was due: records are missing (a gap) or repeated"),
            )
            .into());
        }
        let record = Replay::parse(position, bytes).map_err(|error| crate::engine::parse_failure(error, bytes))?;
        let event_id = record.body().id.to_string();
        if let Some(earlier) = self.store.lookup_id(&event_id)? {
            return Err(Failure::new(
                position,
                Some(event_id.clone()),
                FailureKind::DuplicateId,
                format!("event id {event_id} was already used by record {earlier}"),
            )
            .into());
        }
        let mut batch = StoreBatch::default();
        let mut verified = None;
        self.replay
            .check_chunk_with_nodes(vec![record], |id, hash| batch.put_node(id, hash), |record| verified = Some(record.clone()))
            .map_err(Failure::from)?;
        let Some(verified) = verified else {
            return Err(VerifyError::Input("the replay accepted a record without reporting it".to_string()));
        };
        batch.put_id(&event_id, position, self.store.ids_cf()?);
        self.store.commit(batch)?;
        if let Event::LedgerGenesis(genesis) = &verified.event.body().event {
            self.operator = Some(genesis.operator);
        }
        crate::engine::count_verified(1);
        let mut followed = Vec::new();
        for (checkpoint, statement) in self.pending.remove(&position).unwrap_or_default() {
            followed.push(self.check_checkpoint(checkpoint, statement, &verified.hash, Some(&event_id))?);
        }
        Ok((verified, followed))
    }

    /// Checks a checkpoint (or witness statement) now if its size was
    /// reached, against the stored tree; otherwise when the size is reached.
    pub fn accept_checkpoint(&mut self, checkpoint: SignedCheckpoint, statement: Option<WitnessStatement>) -> Result<Option<Followed>, VerifyError> {
        let size = checkpoint.checkpoint.size;
        if size > self.size() {
            self.pending.entry(size).or_default().push((checkpoint, statement));
            return Ok(None);
        }
        // Record `size` is behind us: its leaf is stored, and a stated head is right only if its leaf hash is that leaf.
        let stored_leaf = if size == 0 { None } else { self.store.node(NodeId::leaf(size - 1)).map_err(|error| self.store.merkle_error(error))? };
        let head = checkpoint.checkpoint.head;
        if stored_leaf != Some(leaf_hash(&head)) {
            return Err(Failure::new(
                size,
                None,
                FailureKind::Checkpoint,
                format!("the operator's checkpoint states chain head {} for size {size}, but record {size} has another hash", hex::encode(head)),
            )
            .into());
        }
        self.check_checkpoint(checkpoint, statement, &head, None).map(Some)
    }

    fn check_checkpoint(
        &mut self,
        checkpoint: SignedCheckpoint,
        statement: Option<WitnessStatement>,
        head: &Hash,
        event_id: Option<&str>,
    ) -> Result<Followed, VerifyError> {
        let size = checkpoint.checkpoint.size;
        let Some(operator) = self.operator else {
            return Err(Failure::new(size, None, FailureKind::Checkpoint, "a checkpoint arrived before the genesis").into());
        };
        let root = root_at(&self.store, size).map_err(|error| self.store.merkle_error(error))?;
        let mut book = CheckpointBook::new();
        let witness = statement.as_ref().map(|statement| statement.cosignature.witness);
        match statement {
            Some(statement) => book.add_witness(statement, "witness statement"),
            None => book.add_checkpoint(checkpoint, "checkpoint"),
        }
        book.check_at(size, &self.ledger, &operator, &root, head, event_id)?;
        Ok(Followed::Checkpoint { size, root, witness })
    }
}

/// How often a follower checks that the stream still holds the last record it verified.
pub const STREAM_WATCH_INTERVAL_MS: u64 = 1_000;

/// Fails with [`FailureKind::Rollback`] if the stream no longer holds the
/// last record `follower` verified; a broker that cannot answer now is only logged.
async fn check_stream_holds(js: &fundledger_nats::Broker, stream: &str, follower: &Follower) -> Result<(), VerifyError> {
    let known = fundledger_core::rollback::KnownPosition { seq: follower.size(), hash: *follower.replay.chain().head() };
    match fundledger_nats::tail_and_message_at(js, stream, known.seq).await {
        Ok((tail, stored)) => fundledger_core::rollback::check(known, tail, stored.as_deref())
            .map_err(|rollback| Failure::new(rollback.first_bad_seq(), None, FailureKind::Rollback, rollback.to_string()).into()),
        Err(error) => {
            tracing::warn!(%error, "could not check the stream's tail; next check in a moment");
            Ok(())
        }
    }
}

fn checkpoint_of(message: &fundledger_nats::StoredMessage) -> Result<Pending, Failure> {
    crate::checkpoints::parse_message(&message.subject, &message.payload)
        .map_err(|error| Failure::new(0, None, FailureKind::Checkpoint, format!("checkpoint stream message {}: {error}", message.sequence)))
}

/// Follows ledger `ledger` on JetStream from its first record, verifying as
/// it reads, and calls `on_followed` for each verified record and checkpoint
/// until it returns `Break` (then `Ok`) or a check fails (then the failure).
///
/// The checkpoints already published are read first, so each is checked when
/// the records reach its size; later ones as they arrive.
pub async fn follow_nats(js: &fundledger_nats::Broker, ledger: &LedgerId, mut on_followed: impl FnMut(Followed) -> ControlFlow<()>) -> Result<(), VerifyError> {
    let mut follower = Follower::new(ledger.clone())?;
    let backlog = crate::source::read_checkpoint_messages(js, ledger).await?;
    let next_checkpoint = backlog.last().map_or(1, |message| message.sequence + 1);
    for message in &backlog {
        let (checkpoint, statement) = checkpoint_of(message)?;
        follower.accept_checkpoint(checkpoint, statement)?;
    }
    let stream = fundledger_nats::stream_name(ledger.as_str())?;
    let mut records = fundledger_nats::follow_from(js, &stream, None, 1).await?;
    let mut checkpoints = fundledger_nats::follow_from(js, &fundledger_nats::checkpoint_stream_name(ledger.as_str())?, None, next_checkpoint).await?;
    let mut watch = tokio::time::interval(std::time::Duration::from_millis(STREAM_WATCH_INTERVAL_MS));
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = watch.tick() => check_stream_holds(js, &stream, &follower).await?,
            message = records.next() => {
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => { tracing::warn!(%error, "reading the ledger stream failed; the consumer resumes"); continue; }
                    None => return Err(VerifyError::Input("the ledger stream ended".to_string())),
                };
                let (record, followed) = follower.accept_record(message.sequence, &message.payload)?;
                if on_followed(Followed::Record(Box::new(record))).is_break() {
                    return Ok(());
                }
                for item in followed {
                    if on_followed(item).is_break() {
                        return Ok(());
                    }
                }
            }
            message = checkpoints.next() => {
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => { tracing::warn!(%error, "reading the checkpoint stream failed; the consumer resumes"); continue; }
                    None => return Err(VerifyError::Input("the checkpoint stream ended".to_string())),
                };
                let (checkpoint, statement) = checkpoint_of(&message)?;
                if let Some(item) = follower.accept_checkpoint(checkpoint, statement)? {
                    if on_followed(item).is_break() {
                        return Ok(());
                    }
                }
            }
        }
    }
}
