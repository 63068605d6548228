//! The projector: reads a ledger stream and commits its projection.
//!
//! How it never skips and never double-applies:
//! * Records are applied strictly in sequence: a record is applied only if
//!   its sequence is the stored position + 1 (and it links to the last applied
//!   hash). Anything at or before the position is a redelivery and is only
//!   acknowledged; anything after a gap makes the projector read the missing
//!   records straight from the stream first.
//! * The position is committed in the same WriteBatch as the changes
//!   ([`crate::store`]), and messages are acknowledged only after that commit.
//! * On start it catches up from the RocksDB position with an ordered read of
//!   the stream, not from the durable consumer's ack floor, so a model that
//!   was deleted, restored from a backup or killed mid-batch resumes exactly
//!   where its own data ends. Only then does it attach the durable consumer
//!   (created to start at the position + 1 if it does not exist yet) for new
//!   records. Two instances sharing a durable name split its deliveries, and
//!   each fills its gaps from the stream; two sharing a store take turns under
//!   its commit lock, each continuing from what the other committed. An instance that receives nothing for
//!   [`IDLE_CATCH_UP_MS`] reads any records it missed from the stream, so
//!   every instance reaches the tail whichever of them the deliveries went to.
//!
//! Reading and applying run concurrently: an async task fetches chunks of
//! messages while a blocking thread parses (on all cores for big chunks),
//! applies and commits the previous chunk.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use thiserror::Error;
use tokio::sync::{mpsc, watch};

use fundledger_core::id::LedgerId;
use fundledger_nats::NatsError;

use crate::projection::{Changes, Position, Projection, ProjectionError};
use crate::record::{parse_record, ProjectedRecord};
use crate::store::{Durability, Store, StoreError};

/// Records applied and committed in one WriteBatch, at most.
pub const BATCH_RECORDS_MAX: usize = 4096;
/// Chunks in flight between the reader and the applier.
pub const PIPELINE_CHUNKS_MAX: usize = 4;
/// In a rebuild, decided chunks waiting for the commit thread.
const BULK_COMMITS_IN_FLIGHT_MAX: usize = 2;
/// Chunks at least this big are parsed on all cores.
const PARALLEL_PARSE_RECORDS_MIN: usize = 256;
/// Wait before re-attaching the durable consumer after a broker error.
pub const RETRY_PAUSE_MS: u64 = 1_000;
/// How long JetStream waits for an acknowledgement before redelivering.
pub const ACK_WAIT_MS: u64 = 30_000;
/// Unacknowledged deliveries at most per durable consumer.
pub const ACK_PENDING_MAX: i64 = 16_384;
/// With no delivery for this long, the projector checks the stream's tail and reads what it missed.
pub const IDLE_CATCH_UP_MS: u64 = 500;
/// How long a stopping projector waits for its last acknowledgements to reach the server.
pub const ACK_FLUSH_TIMEOUT_MS: u64 = 2_000;
/// The default durable consumer name.
pub const DEFAULT_DURABLE_NAME: &str = "projector";

/// For `/metrics` (fundledger-metrics): the position the read models reflect,
/// and how many records of the stream they do not reflect yet.
fn record_progress(position: u64, lag_records: u64) {
    fundledger_metrics::metrics::gauge!("fundledger_projector_position").set(position as f64);
    fundledger_metrics::metrics::gauge!("fundledger_projector_lag_records").set(lag_records as f64);
}

#[derive(Debug, Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error(transparent)]
    Nats(#[from] NatsError),
    #[error("durable consumer {name}: {message}")]
    Consumer { name: String, message: String },
    #[error("durable consumer name {0:?} must be 1 to 64 of A-Z a-z 0-9 _ -")]
    DurableName(String),
    #[error("the projector's apply thread failed: {0}")]
    Thread(String),
    /// The stream lost or changed a record the read models reflect.
    #[error("{0}")]
    Rollback(fundledger_core::rollback::Rollback),
}

/// One stored message: its stream sequence and its bytes.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub seq: u64,
    pub payload: Bytes,
}

/// The synchronous half: applies delivered records to the projection and commits them.
pub struct Applier {
    store: Arc<Store>,
    projection: Projection,
    changes: Changes,
    /// Shared with a rebuild's commit thread, which moves it commit by commit.
    position: Arc<watch::Sender<u64>>,
}

/// What deciding a chunk gave: the records applied, the positions before and
/// after, and the failure that stopped it, if any.
struct Step {
    applied: Applied,
    from: Position,
    to: Position,
    failure: Option<ProjectionError>,
}

/// A decided chunk's changes, to be committed in order by another thread.
struct BulkCommit {
    changes: Changes,
    from: Position,
    to: Position,
}

impl BulkCommit {
    /// Commits, and gives the buffer back.
    fn write(self, store: &Store) -> Result<Changes, StoreError> {
        store.begin().commit(&self.changes, self.from, self.to, Durability::Bulk)?;
        Ok(self.changes)
    }
}

/// What one call to [`Applier::apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub applied: u64,
    /// Deliveries at or before the position (redeliveries): acknowledged, not applied.
    pub skipped: u64,
}

impl Applier {
    pub fn new(store: Arc<Store>) -> Result<Applier, ProjectorError> {
        let projection = store.load()?;
        let (position, _) = watch::channel(projection.position().seq);
        let position = Arc::new(position);
        Ok(Applier { store, projection, changes: Changes::default(), position })
    }

    pub fn position(&self) -> Position {
        self.projection.position()
    }

    /// Follows the applied position (the sequence of the last committed record).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.position.subscribe()
    }

    /// Applies the deliveries that continue the projection, in order, and
    /// commits them with the position in one WriteBatch. Deliveries at or
    /// before the position are skipped. Stops at the first delivery after a
    /// gap: the caller fills the gap and calls again.
    pub fn apply(&mut self, deliveries: &[Delivered], durability: Durability) -> Result<Applied, ProjectorError> {
        let store = Arc::clone(&self.store);
        let writing = store.begin();
        if self.store.position()? != self.projection.position() {
            // Another instance sharing the store committed: continue from its state.
            self.projection = self.store.load()?;
            self.position.send_replace(self.projection.position().seq);
        }
        let mut changes = std::mem::take(&mut self.changes);
        let step = self.decide(deliveries, &mut changes);
        if step.to != step.from {
            if let Err(error) = writing.commit(&changes, step.from, step.to, durability) {
                // The in-memory projection is ahead of the store: take the store's.
                self.projection = self.store.load()?;
                return Err(error.into());
            }
            self.position.send_replace(step.to.seq);
        }
        self.changes = changes;
        match step.failure {
            Some(error) => Err(error.into()),
            None => Ok(step.applied),
        }
    }

    /// [`apply`](Self::apply) for a rebuild into a new database that no other
    /// instance writes to: the commit is returned to be written by another
    /// thread, in order, while this one decides the next chunk.
    fn decide_bulk(&mut self, deliveries: &[Delivered], mut changes: Changes) -> (Option<BulkCommit>, Step) {
        let step = self.decide(deliveries, &mut changes);
        changes.sort();
        let commit = (step.to != step.from).then_some(BulkCommit { changes, from: step.from, to: step.to });
        (commit, step)
    }

    /// Decides the deliveries that continue the projection into `changes`
    /// (cleared first), up to the first failure.
    fn decide(&mut self, deliveries: &[Delivered], changes: &mut Changes) -> Step {
        changes.clear();
        let start = self.projection.position();
        let first_new = deliveries.iter().position(|delivery| delivery.seq > start.seq).unwrap_or(deliveries.len());
        let mut step = Step { applied: Applied { applied: 0, skipped: first_new as u64 }, from: start, to: start, failure: None };
        let contiguous = deliveries[first_new..].iter().enumerate().take_while(|(offset, delivery)| delivery.seq == start.seq + 1 + *offset as u64).count();
        let fresh = &deliveries[first_new..first_new + contiguous];
        if fresh.is_empty() {
            return step;
        }
        let parsed: Vec<Result<ProjectedRecord, String>> = if fresh.len() >= PARALLEL_PARSE_RECORDS_MIN {
            use rayon::prelude::*;
            fresh.par_iter().map(|delivery| parse_record(&delivery.payload)).collect()
        } else {
            fresh.iter().map(|delivery| parse_record(&delivery.payload)).collect()
        };
        for (delivery, record) in fresh.iter().zip(parsed) {
            let result = record.map_err(|reason| ProjectionError::Malformed { seq: delivery.seq, reason }).and_then(|record| {
                if record.seq != delivery.seq {
                    return Err(ProjectionError::Chain {
                        seq: delivery.seq,
                        reason: format!("the record says it is record {} but it is stored at position {}", record.seq, delivery.seq),
                    });
                }
                self.projection.apply(&delivery.payload, &record, changes)
            });
            if let Err(error) = result {
                step.failure = Some(error);
                break;
            }
            step.applied.applied += 1;
        }
        step.to = self.projection.position();
        step
    }

    /// Persists bulk commits.
    pub fn flush(&self) -> Result<(), ProjectorError> {
        Ok(self.store.flush()?)
    }
}

/// Applies every chunk from `receiver`, committing each before the next.
fn apply_all(mut applier: Applier, mut receiver: mpsc::Receiver<Vec<Delivered>>) -> (Applier, Result<u64, ProjectorError>) {
    let mut total = 0;
    while let Some(chunk) = receiver.blocking_recv() {
        match applier.apply(&chunk, Durability::Logged) {
            Ok(applied) => total += applied.applied,
            Err(error) => return (applier, Err(error)),
        }
    }
    (applier, Ok(total))
}

/// Applies every chunk from `receiver` into a database being rebuilt: a
/// commit thread writes each chunk's WriteBatch (in order, without the WAL)
/// while this thread decides the next one, and hands the chunk's buffer back
/// for reuse. Flushed at the end, even after an error: logged commits must
/// never follow unflushed bulk ones.
fn apply_all_bulk(mut applier: Applier, mut receiver: mpsc::Receiver<Vec<Delivered>>) -> (Applier, Result<u64, ProjectorError>) {
    let store = applier.store.clone();
    if let Err(error) = store.begin_bulk() {
        return (applier, Err(error.into()));
    }
    let position = applier.position.clone();
    let (commits, pending) = std::sync::mpsc::sync_channel::<BulkCommit>(BULK_COMMITS_IN_FLIGHT_MAX);
    let (recycle, recycled) = std::sync::mpsc::channel::<Changes>();
    let committer = std::thread::spawn(move || {
        pending.into_iter().try_for_each(|commit| {
            let committed = commit.to.seq;
            let changes = commit.write(&store)?;
            position.send_replace(committed); // progress bars follow the commits
            let _ = recycle.send(changes); // the applier may have stopped
            Ok::<(), StoreError>(())
        })
    });
    let mut total = 0;
    let mut failure = None;
    while let Some(chunk) = receiver.blocking_recv() {
        let (commit, step) = applier.decide_bulk(&chunk, recycled.try_recv().unwrap_or_default());
        total += step.applied.applied;
        if commit.is_some_and(|commit| commits.send(commit).is_err()) {
            break; // the commit thread stopped on an error, reported below
        }
        if let Some(error) = step.failure {
            failure = Some(ProjectorError::from(error));
            break;
        }
    }
    drop(commits);
    let committed = match committer.join() {
        Ok(written) => written.map_err(ProjectorError::from),
        Err(_) => Err(ProjectorError::Thread("the commit thread panicked".to_string())),
    };
    let flushed = applier.flush();
    let result = match (committed, failure, flushed) {
        (Err(error), _, _) => Err(error),
        (Ok(()), Some(error), _) => Err(error),
        (Ok(()), None, Err(error)) => Err(error),
        (Ok(()), None, Ok(())) => Ok(total),
    };
    if result.is_err() {
        // What was decided may be ahead of what was committed: continue from the store.
        match applier.store.load() {
            Ok(projection) => applier.projection = projection,
            Err(error) => return (applier, Err(error.into())),
        }
    }
    applier.position.send_replace(applier.projection.position().seq);
    (applier, result)
}

/// Settings of a projector.
#[derive(Clone, Debug)]
pub struct ProjectorConfig {
    pub ledger: LedgerId,
    /// The durable consumer's name; instances with the same name share its deliveries.
    pub durable_name: String,
}

impl ProjectorConfig {
    pub fn new(ledger: LedgerId) -> ProjectorConfig {
        ProjectorConfig { ledger, durable_name: DEFAULT_DURABLE_NAME.to_string() }
    }
}

/// The projector of one ledger into one store.
pub struct Projector {
    applier: Option<Applier>,
    js: fundledger_nats::Broker,
    stream: String,
    config: ProjectorConfig,
    position: watch::Receiver<u64>,
}

fn valid_durable_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

impl Projector {
    pub fn new(store: Arc<Store>, js: fundledger_nats::Broker, config: ProjectorConfig) -> Result<Projector, ProjectorError> {
        if !valid_durable_name(&config.durable_name) {
            return Err(ProjectorError::DurableName(config.durable_name));
        }
        assert_eq!(store.ledger(), &config.ledger, "the store and the projector are for the same ledger");
        let stream = fundledger_nats::stream_name(config.ledger.as_str())?;
        let applier = Applier::new(store)?;
        let position = applier.subscribe();
        fundledger_metrics::describe_gauge("fundledger_projector_position", "Sequence of the last record applied to the read models.");
        fundledger_metrics::describe_gauge("fundledger_projector_lag_records", "Records in the stream not yet applied to the read models.");
        fundledger_metrics::describe_gauge(
            "fundledger_projector_rollback_detected",
            "1 when the stream lost or changed a record the read models reflect (the projector stopped applying).",
        );
        Ok(Projector { applier: Some(applier), js, stream, config, position })
    }

    /// The sequence of the last committed record, as it moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.position.clone()
    }

    pub fn position(&self) -> u64 {
        *self.position.borrow()
    }

    fn applier(&mut self) -> Result<Applier, ProjectorError> {
        self.applier.take().ok_or_else(|| ProjectorError::Thread("a previous catch-up was interrupted".to_string()))
    }

    /// Reads the stream from the position + 1 up to its tail as of this call
    /// (or up to `up_to`) and applies it. Returns the records applied.
    /// `Durability::Bulk` is for building models that are thrown away if the
    /// build does not finish (`fundledger rebuild`): a crash loses its unflushed commits.
    pub async fn catch_up(&mut self, up_to: Option<u64>, durability: Durability) -> Result<u64, ProjectorError> {
        let start = self.position() + 1;
        let tail = self.check_stream().await?;
        let target = up_to.map_or(tail, |limit| limit.min(tail));
        if target < start {
            record_progress(self.position(), tail.saturating_sub(self.position()));
            return Ok(0);
        }
        let applier = self.applier()?;
        let (sender, receiver) = mpsc::channel::<Vec<Delivered>>(PIPELINE_CHUNKS_MAX);
        let worker = tokio::task::spawn_blocking(move || match durability {
            Durability::Logged => apply_all(applier, receiver),
            Durability::Bulk => apply_all_bulk(applier, receiver),
        });
        let read = async {
            let mut messages = fundledger_nats::read_from(&self.js, &self.stream, None, start).await?;
            let mut chunk = Vec::with_capacity(BATCH_RECORDS_MAX);
            while let Some(message) = messages.next().await {
                let message = message?;
                if message.sequence > target {
                    break;
                }
                let last = message.sequence == target;
                chunk.push(Delivered { seq: message.sequence, payload: message.payload });
                if (chunk.len() == BATCH_RECORDS_MAX || last)
                    && sender.send(std::mem::replace(&mut chunk, Vec::with_capacity(BATCH_RECORDS_MAX))).await.is_err()
                {
                    break; // the applier stopped; its error is reported below
                }
                if last {
                    break;
                }
            }
            if !chunk.is_empty() {
                let _ = sender.send(chunk).await;
            }
            drop(sender);
            Ok::<(), ProjectorError>(())
        };
        let read_result = read.await;
        let (applier, applied) = worker.await.map_err(|error| ProjectorError::Thread(error.to_string()))?;
        self.applier = Some(applier);
        let applied = applied?;
        read_result?;
        record_progress(self.position(), tail.saturating_sub(self.position()));
        Ok(applied)
    }

    /// The stream's last sequence, once it is checked to still hold the last
    /// applied record: a stream that went backward is a [`ProjectorError::Rollback`],
    /// never a reason to re-apply from it.
    async fn check_stream(&self) -> Result<u64, ProjectorError> {
        let position = self.applier.as_ref().map(Applier::position).ok_or_else(|| ProjectorError::Thread("a previous catch-up was interrupted".to_string()))?;
        let known = fundledger_core::rollback::KnownPosition { seq: position.seq, hash: position.hash };
        let (tail, stored) = fundledger_nats::tail_and_message_at(&self.js, &self.stream, known.seq).await?;
        fundledger_core::rollback::check(known, tail, stored.as_deref()).map_err(ProjectorError::Rollback)?;
        Ok(tail)
    }

    /// Applies deliveries from the durable consumer, filling any gap first.
    async fn apply_live(&mut self, deliveries: Vec<Delivered>) -> Result<(), ProjectorError> {
        let mut remaining = deliveries;
        loop {
            let mut applier = self.applier()?;
            let (applier, result, remaining_after) = tokio::task::spawn_blocking(move || {
                let result = applier.apply(&remaining, Durability::Logged);
                (applier, result, remaining)
            })
            .await
            .map_err(|error| ProjectorError::Thread(error.to_string()))?;
            self.applier = Some(applier);
            result?;
            let position = self.position();
            remaining = remaining_after.into_iter().filter(|delivery| delivery.seq > position).collect();
            let Some(first) = remaining.first() else {
                return Ok(());
            };
            // A gap: read the missing records straight from the stream.
            let gap_end = first.seq - 1;
            tracing::debug!(position, gap_end, "filling a gap from the stream");
            self.catch_up(Some(gap_end), Durability::Logged).await?;
            if self.position() < gap_end {
                return Err(ProjectorError::Consumer {
                    name: self.config.durable_name.clone(),
                    message: format!("records {} to {gap_end} could not be read from the stream", self.position() + 1),
                });
            }
        }
    }

    async fn deliveries(&self) -> Result<fundledger_nats::Deliveries, ProjectorError> {
        let consumer = fundledger_nats::DurableConsumer {
            stream: self.stream.clone(),
            name: self.config.durable_name.clone(),
            description: format!("fundledger projector of ledger {}", self.config.ledger),
            start_sequence: self.position() + 1,
            ack_wait: Duration::from_millis(ACK_WAIT_MS),
            max_ack_pending: ACK_PENDING_MAX,
        };
        consumer.deliveries(&self.js).await.map_err(|error| ProjectorError::Consumer { name: consumer.name.clone(), message: error.to_string() })
    }

    /// Runs until `shutdown` resolves or the stream holds something that
    /// cannot be projected. Broker errors are retried.
    ///
    /// `shutdown` is heeded between batches: a batch being applied is
    /// committed and acknowledged first, and the acknowledgements are flushed
    /// to the server, so a clean stop leaves nothing to redeliver.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), ProjectorError> {
        let shutdown = shutdown.shared();
        loop {
            let stop = shutdown.clone();
            let attempt = async {
                tokio::select! {
                    _ = stop.clone() => return Ok(()),
                    result = self.catch_up(None, Durability::Logged) => { result?; }
                }
                let mut messages = tokio::select! {
                    _ = stop.clone() => return Ok(()),
                    deliveries = self.deliveries() => deliveries?,
                };
                let name = self.config.durable_name.clone();
                loop {
                    // Instances sharing the durable consumer each get only part of the
                    // deliveries: one that gets none for a while reads what it missed.
                    let next = tokio::select! {
                        biased;
                        _ = stop.clone() => return Ok(()),
                        next = tokio::time::timeout(Duration::from_millis(IDLE_CATCH_UP_MS), messages.next()) => next,
                    };
                    let first = match next {
                        Err(_) => {
                            tokio::select! {
                                _ = stop.clone() => return Ok(()),
                                result = self.catch_up(None, Durability::Logged) => { result?; }
                            }
                            continue;
                        }
                        Ok(None) => return Err(ProjectorError::Consumer { name, message: "the message stream ended".to_string() }),
                        Ok(Some(first)) => first,
                    };
                    let mut batch = vec![first];
                    while batch.len() < BATCH_RECORDS_MAX {
                        match messages.next().now_or_never() {
                            Some(Some(next)) => batch.push(next),
                            _ => break,
                        }
                    }
                    let mut received = Vec::with_capacity(batch.len());
                    let mut pending = 0;
                    for item in batch {
                        let delivery = item.map_err(|error| ProjectorError::Consumer { name: name.clone(), message: error.to_string() })?;
                        pending = delivery.pending;
                        received.push((Delivered { seq: delivery.seq, payload: delivery.payload.clone() }, delivery));
                    }
                    received.sort_by_key(|(delivery, _)| delivery.seq);
                    let deliveries: Vec<Delivered> = received.iter().map(|(delivery, _)| delivery.clone()).collect();
                    self.apply_live(deliveries).await?;
                    record_progress(self.position(), pending);
                    for (_, message) in &received {
                        // Acknowledged after the commit: a crash before this only means a redelivery, which is skipped.
                        if let Err(error) = message.ack().await {
                            tracing::warn!(%error, "acknowledging a projected record failed; it will be redelivered and skipped");
                        }
                    }
                }
            };
            let outcome: Result<(), ProjectorError> = attempt.await;
            match outcome {
                Ok(()) => {
                    // Stopping: the acknowledgements are only buffered on the connection so far.
                    match tokio::time::timeout(Duration::from_millis(ACK_FLUSH_TIMEOUT_MS), self.js.flush()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => tracing::warn!(%error, "projector: flushing the last acknowledgements failed; those records will be redelivered and skipped"),
                        Err(_) => tracing::warn!("projector: the last acknowledgements were not flushed within {ACK_FLUSH_TIMEOUT_MS} ms; those records will be redelivered and skipped"),
                    }
                    tracing::info!(position = self.position(), "projector stopped");
                    return Ok(());
                }
                Err(ProjectorError::Rollback(rollback)) => {
                    // Keep answering what the models reflect, marked not ready; apply nothing more.
                    tracing::error!(
                        ledger = %self.config.ledger,
                        known_seq = rollback.known().seq,
                        first_bad_seq = rollback.first_bad_seq(),
                        "LEDGER ROLLBACK: {rollback}; the projector stops applying until an operator runs `fundledger accept-rollback`"
                    );
                    fundledger_metrics::metrics::gauge!("fundledger_projector_rollback_detected").set(1.0);
                    if let Some(applier) = &self.applier {
                        applier.store.set_incident(rollback.to_string());
                    }
                    shutdown.clone().await;
                    return Ok(());
                }
                Err(error @ (ProjectorError::Projection(_) | ProjectorError::Store(_) | ProjectorError::DurableName(_) | ProjectorError::Thread(_))) => {
                    return Err(error)
                }
                Err(error) => {
                    tracing::warn!(%error, "projector: broker error, retrying");
                    tokio::select! {
                        _ = shutdown.clone() => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)) => {}
                    }
                }
            }
        }
    }
}
