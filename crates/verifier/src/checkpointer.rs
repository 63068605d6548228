//! The checkpointer: the operator's role that signs checkpoints.
//!
//! It follows the ledger stream, re-checks every record's stated hash and
//! chain link (never signing a broken chain), keeps the Merkle tree's compact
//! range (O(log n) memory), and publishes a [`SignedCheckpoint`] on
//! `fl.<ledger>.checkpoint`:
//!
//! * at every size that is a multiple of `every_records` (deterministic: the
//!   same ledger always gets checkpoints at the same sizes, with the same
//!   roots and heads; only `issued_at` differs);
//! * every `every` of wall-clock time when records arrived since the last one;
//! * on request ([`CheckpointerHandle::checkpoint_at_least`]), e.g. at the
//!   end of the demo.
//!
//! It runs beside the writer, not inside it, so the writer's sequencer does
//! not wait on it; a checkpoint is therefore always a little behind the tail.
//! On start it reads the last checkpoint it published and never re-issues a
//! size at or below it.
//!
//! It never signs over a rollback: if the stream no longer holds a record it
//! followed, or the last checkpoint's record (the stream is shorter than the
//! checkpoint, or holds another record at its size), it logs the incident,
//! sets `fundledger_checkpointer_rollback_detected`, and signs nothing more
//! (requests are answered with the reason) until it is restarted after an
//! operator accepted the rollback (`CheckpointerConfig::rollback_accepted`). The message id `checkpoint-<size>` makes a re-publish
//! within the stream's duplicate window a no-op.

use std::time::Duration;

use fundledger_core::chain::ChainState;
use fundledger_core::checkpoint::{Checkpoint, SignedCheckpoint};
use fundledger_core::crypto::SecretKey;
use fundledger_core::event::Event;
use fundledger_core::id::LedgerId;
use fundledger_core::record::Record;
use fundledger_core::rollback::{self, KnownPosition, Rollback};
use fundledger_nats::StreamSettings;
use futures::StreamExt as _;
use tokio::sync::{mpsc, oneshot};

use crate::failure::{Failure, FailureKind, VerifyError};

/// Default: a checkpoint every this many records.
pub const CHECKPOINT_EVERY_RECORDS_DEFAULT: u64 = 1000;
/// Default: a checkpoint at least this often while records arrive.
pub const CHECKPOINT_EVERY_MS_DEFAULT: u64 = 10_000;
/// Bound on publishing one checkpoint.
pub const CHECKPOINT_PUBLISH_TIMEOUT_MS: u64 = 10_000;
/// Requests waiting for the checkpointer at once.
const REQUESTS_MAX: usize = 64;

#[derive(Clone)]
pub struct CheckpointerConfig {
    pub ledger: LedgerId,
    /// The operator key (the one the genesis names).
    pub operator: SecretKey,
    pub every_records: u64,
    pub every: Duration,
    /// Replicas for the ledger streams, should the checkpointer create them.
    pub replicas: usize,
    /// An operator accepted a rollback of the stream (`fundledger
    /// accept-rollback`): a last checkpoint beyond what the stream holds is
    /// left on record (auditors see the fork) and signing starts again.
    pub rollback_accepted: bool,
}

impl CheckpointerConfig {
    pub fn new(ledger: LedgerId, operator: SecretKey) -> CheckpointerConfig {
        CheckpointerConfig {
            ledger,
            operator,
            every_records: CHECKPOINT_EVERY_RECORDS_DEFAULT,
            every: Duration::from_millis(CHECKPOINT_EVERY_MS_DEFAULT),
            replicas: 1,
            rollback_accepted: false,
        }
    }
}

type Reply = oneshot::Sender<Result<SignedCheckpoint, String>>;

/// A running checkpointer.
pub struct CheckpointerHandle {
    requests: mpsc::Sender<(u64, Reply)>,
    task: tokio::task::JoinHandle<Result<(), VerifyError>>,
}

impl CheckpointerHandle {
    /// Waits until a checkpoint of at least `size` records is published and returns it.
    pub async fn checkpoint_at_least(&self, size: u64) -> Result<SignedCheckpoint, VerifyError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send((size, reply)).await.map_err(|_| VerifyError::Input("the checkpointer has stopped".to_string()))?;
        answer.await.map_err(|_| VerifyError::Input("the checkpointer stopped before answering".to_string()))?.map_err(VerifyError::Input)
    }

    /// Waits for the checkpointer to stop (it only stops on an error).
    pub async fn join(self) -> Result<(), VerifyError> {
        self.task.await.map_err(|error| VerifyError::Input(format!("the checkpointer task failed: {error}")))?
    }

    /// Like [`CheckpointerHandle::join`], keeping the handle (to ask for a
    /// last checkpoint and abort it when stopping). Not to be awaited again
    /// once it returned.
    pub async fn stopped(&mut self) -> Result<(), VerifyError> {
        (&mut self.task).await.map_err(|error| VerifyError::Input(format!("the checkpointer task failed: {error}")))?
    }

    pub fn abort(&self) {
        self.task.abort();
    }
}

/// Starts the checkpointer for `config.ledger`.
pub async fn spawn(js: fundledger_nats::Broker, config: CheckpointerConfig) -> Result<CheckpointerHandle, VerifyError> {
    if config.every_records == 0 {
        return Err(VerifyError::Input("checkpoints every 0 records: give at least 1".to_string()));
    }
    let settings = StreamSettings { replicas: config.replicas, ..StreamSettings::default() };
    fundledger_nats::ensure_ledger_streams(&js, config.ledger.as_str(), &settings).await?;
    let last = last_checkpoint(&js, &config.ledger).await?;
    let (requests, receiver) = mpsc::channel(REQUESTS_MAX);
    let task = tokio::spawn(run(js, config, last, receiver));
    Ok(CheckpointerHandle { requests, task })
}

/// The newest checkpoint on the checkpoint subject, if any.
pub async fn last_checkpoint(js: &fundledger_nats::Broker, ledger: &LedgerId) -> Result<Option<SignedCheckpoint>, VerifyError> {
    let stream_name = fundledger_nats::checkpoint_stream_name(ledger.as_str())?;
    let subject = fundledger_nats::checkpoint_subject(ledger.as_str())?;
    match fundledger_nats::last_message_on(js, &stream_name, &subject).await? {
        Some(message) => SignedCheckpoint::from_json(&message.payload)
            .map(Some)
            .map_err(|error| Failure::new(0, None, FailureKind::Checkpoint, format!("the last message on {subject}: {error}")).into()),
        None => Ok(None),
    }
}

/// Signs and publishes the checkpoint of `chain` as it stands.
pub async fn publish_checkpoint(js: &fundledger_nats::Broker, chain: &ChainState, operator: &SecretKey) -> Result<SignedCheckpoint, VerifyError> {
    let checkpoint =
        Checkpoint { ledger: chain.ledger().clone(), size: chain.size(), root: chain.root(), head: *chain.head(), issued_at: crate::now() }.sign(operator);
    publish_raw(js, &checkpoint.checkpoint.ledger, &checkpoint.to_json(), &format!("checkpoint-{}", checkpoint.checkpoint.size)).await?;
    Ok(checkpoint)
}

/// Publishes bytes on a ledger's checkpoint subject (also used by tests to publish forged ones).
pub async fn publish_raw(js: &fundledger_nats::Broker, ledger: &LedgerId, payload: &[u8], message_id: &str) -> Result<u64, VerifyError> {
    let subject = fundledger_nats::checkpoint_subject(ledger.as_str())?;
    publish_on(js, subject, payload, message_id).await
}

pub(crate) async fn publish_on(js: &fundledger_nats::Broker, subject: String, payload: &[u8], message_id: &str) -> Result<u64, VerifyError> {
    let timeout = Duration::from_millis(CHECKPOINT_PUBLISH_TIMEOUT_MS);
    Ok(js.publish_with_id(subject, payload, message_id, timeout).await?)
}

/// Where the stream must still hold what was signed or followed: the
/// chain's head, or the last checkpoint's if the chain has not reached it.
fn known_position(chain: &ChainState, last: &Option<SignedCheckpoint>) -> KnownPosition {
    match last {
        Some(checkpoint) if checkpoint.checkpoint.size > chain.size() => KnownPosition { seq: checkpoint.checkpoint.size, hash: checkpoint.checkpoint.head },
        _ => KnownPosition { seq: chain.size(), hash: *chain.head() },
    }
}

/// Does the stream still hold what was signed or followed? A broker that
/// cannot answer now is only logged.
async fn check_stream(js: &fundledger_nats::Broker, stream: &str, known: KnownPosition) -> Result<(), Rollback> {
    match fundledger_nats::tail_and_message_at(js, stream, known.seq).await {
        Ok((tail, stored)) => rollback::check(known, tail, stored.as_deref()),
        Err(error) => {
            tracing::warn!(%error, "checkpointer: could not check the stream's tail; next check in a moment");
            Ok(())
        }
    }
}

/// Signs nothing more: logs the incident loudly and answers every request
/// with it until the handle is dropped.
async fn refuse_after(
    rollback: Rollback,
    ledger: &LedgerId,
    mut requests: mpsc::Receiver<(u64, Reply)>,
    waiting: Vec<(u64, Reply)>,
) -> Result<(), VerifyError> {
    tracing::error!(
        %ledger,
        known_seq = rollback.known().seq,
        first_bad_seq = rollback.first_bad_seq(),
        "LEDGER ROLLBACK: {rollback}; the checkpointer signs nothing more until an operator runs `fundledger accept-rollback` and restarts it"
    );
    fundledger_metrics::metrics::gauge!("fundledger_checkpointer_rollback_detected").set(1.0);
    let reason = format!("the checkpointer refuses to sign: {rollback}");
    for (_, reply) in waiting {
        let _ = reply.send(Err(reason.clone()));
    }
    while let Some((_, reply)) = requests.recv().await {
        let _ = reply.send(Err(reason.clone()));
    }
    Ok(())
}

async fn run(
    js: fundledger_nats::Broker,
    config: CheckpointerConfig,
    last: Option<SignedCheckpoint>,
    mut requests: mpsc::Receiver<(u64, Reply)>,
) -> Result<(), VerifyError> {
    let stream = fundledger_nats::stream_name(config.ledger.as_str())?;
    let mut chain = ChainState::new(config.ledger.clone());
    let mut last = last;
    if let Err(rollback) = check_stream(&js, &stream, known_position(&chain, &last)).await {
        if !config.rollback_accepted {
            return refuse_after(rollback, &config.ledger, requests, Vec::new()).await;
        }
        tracing::warn!("{rollback}; an operator accepted it: signing again from the stream as it is (the earlier checkpoints stay on record)");
        last = None;
    }
    let mut messages = fundledger_nats::follow_from(&js, &stream, None, 1).await?;
    let mut waiting: Vec<(u64, Reply)> = Vec::new();
    // The first tick after one period, not at once: an immediate tick would
    // checkpoint whatever size the stream had reached by the time it fired.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + config.every, config.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let last_size = |last: &Option<SignedCheckpoint>| last.as_ref().map_or(0, |checkpoint| checkpoint.checkpoint.size);
    loop {
        tokio::select! {
            message = messages.next() => {
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "checkpointer: reading the ledger stream failed; the ordered consumer resumes");
                        continue;
                    }
                    None => return Err(VerifyError::Input(format!("the ledger stream {stream} ended"))),
                };
                let record = check_next(&mut chain, &config, message.sequence, &message.payload)?;
                let size = chain.size();
                debug_assert_eq!(size, record);
                if let Some(checkpoint) = last.as_ref().filter(|checkpoint| checkpoint.checkpoint.size == size && checkpoint.checkpoint.head != *chain.head()) {
                    let known = KnownPosition { seq: size, hash: checkpoint.checkpoint.head };
                    let found = format!("record {size} with hash {}", hex::encode(chain.head()));
                    return refuse_after(Rollback::Replaced { known, found }, &config.ledger, requests, waiting).await;
                }
                if size.is_multiple_of(config.every_records) && size > last_size(&last) {
                    last = Some(publish_checkpoint(&js, &chain, &config.operator).await?);
                }
            }
            _ = ticker.tick() => {
                if let Err(rollback) = check_stream(&js, &stream, known_position(&chain, &last)).await {
                    return refuse_after(rollback, &config.ledger, requests, waiting).await;
                }
                if chain.size() > last_size(&last) {
                    last = Some(publish_checkpoint(&js, &chain, &config.operator).await?);
                }
            }
            request = requests.recv() => {
                match request {
                    Some(request) => waiting.push(request),
                    None => return Ok(()),
                }
            }
        }
        // Answer the requests the chain has reached.
        if waiting.iter().any(|(size, _)| *size <= chain.size()) {
            let wanted = waiting.iter().filter(|(size, _)| *size <= chain.size()).map(|(size, _)| *size).max().unwrap_or(0);
            if last_size(&last) < wanted {
                last = Some(publish_checkpoint(&js, &chain, &config.operator).await?);
            }
            if let Some(checkpoint) = &last {
                let (ready, still): (Vec<_>, Vec<_>) = waiting.into_iter().partition(|(size, _)| *size <= checkpoint.checkpoint.size);
                waiting = still;
                for (_, reply) in ready {
                    let _ = reply.send(Ok(checkpoint.clone()));
                }
            }
        }
    }
}

/// Checks record `sequence` and appends it to the chain; returns the new size.
fn check_next(chain: &mut ChainState, config: &CheckpointerConfig, sequence: u64, payload: &[u8]) -> Result<u64, VerifyError> {
    let record = Record::from_json(payload)
        .map_err(|error| Failure::new(sequence, None, FailureKind::Malformed, format!("the checkpointer refuses to sign: {error}")))?;
    let event_id = || Some(record.body().id.to_string());
    if record.seq != sequence {
        return Err(Failure::new(
            sequence,
            event_id(),
            FailureKind::Chain,
            format!("the record says it is record {} but it is stored at {sequence}", record.seq),
        )
        .into());
    }
    if record.seq == 1 {
        match &record.body().event {
            Event::LedgerGenesis(genesis) if genesis.operator == config.operator.key_id() => {}
            Event::LedgerGenesis(genesis) => {
                return Err(VerifyError::Input(format!(
                    "the checkpointer's key {} is not the operator of ledger {}: its genesis names {}",
                    config.operator.key_id(),
                    config.ledger,
                    genesis.operator
                )))
            }
            other => return Err(Failure::new(1, event_id(), FailureKind::Rule, format!("record 1 is {}, not ledger.genesis", other.type_name())).into()),
        }
    }
    chain
        .append(&record, |_, _| {})
        .map_err(|error| Failure::new(sequence, event_id(), FailureKind::Chain, format!("the checkpointer refuses to sign: {error}")))?;
    Ok(chain.size())
}
