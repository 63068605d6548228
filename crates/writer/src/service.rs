//! The writer: the only appender of a ledger.
//!
//! Callers verify signatures (in parallel, on their own tasks) and hand
//! verified events to one sequencer task. The sequencer owns the ledger state,
//! the chain and the appender: it groups waiting submissions into a batch,
//! checks ids against the idempotency index, applies each event with the core
//! state machine, seals the accepted ones onto the chain and publishes them in
//! one pipelined, fenced append. Callers are answered only after JetStream
//! acknowledged, with each record's sequence and hash.
//!
//! Any append failure (another writer appended, the broker timed out) leaves
//! the in-memory state ahead of the stream, so the sequencer re-reads the
//! stream from the start and plans the batch again: events that did land are
//! then found in the index and answered with their original records.
//!
//! A stream that no longer holds a record this writer saw acknowledged (it
//! is shorter, or holds another record there) is never re-read as the truth:
//! the writer enters an incident, answers every submission 503
//! `ledger_rollback`, reports not ready, and stays so until an operator runs
//! `fundledger accept-rollback` (see [`crate::recovery`]). It checks at every
//! load and, while idle, every [`STREAM_WATCH_INTERVAL_MS`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fundledger_core::chain::ChainState;
use fundledger_core::crypto::Hash;
use fundledger_core::id::LedgerId;
use fundledger_core::ledger::{EventScope, Ledger};
use fundledger_core::record::{verify_events_parallel, Record, SignedEvent, VerifiedEvent};
use fundledger_core::replay::{Replay, ReplayError};
use fundledger_core::rollback::{self, KnownPosition, Rollback};
use fundledger_core::time::Timestamp;
use fundledger_nats::{AppendError, AppendMode, Appender, OutgoingMessage, ScopeKind, StreamSettings};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::error::{WriteError, WriterError};
use crate::index::{IdIndex, IndexedEvent};

/// Events appended in one pipelined batch, at most.
pub const BATCH_EVENTS_MAX: usize = 4096;
/// Submissions waiting for the sequencer, at most; callers wait beyond it.
pub const QUEUE_SUBMISSIONS_MAX: usize = 1024;
/// Events in one submission (one HTTP request or NATS message), at most.
pub const SUBMISSION_EVENTS_MAX: usize = 10_000;
/// Batches planned and handed to the connection whose acks are awaited, at
/// most: while one batch waits for its acks the next is planned and sent.
pub const BATCHES_IN_FLIGHT_MAX: usize = 2;
/// Times a batch is re-planned after failed appends before giving up.
pub const APPEND_ATTEMPTS_MAX: u32 = 4;
/// Records replayed per chunk on load (signatures verified per chunk in parallel).
pub const REPLAY_CHUNK_RECORDS: usize = 2048;
/// While idle, how often the writer checks that the stream still holds its
/// last acknowledged record.
pub const STREAM_WATCH_INTERVAL_MS: u64 = 1_000;

#[derive(Clone, Debug)]
pub struct WriterConfig {
    pub ledger: LedgerId,
    pub nats_url: String,
    /// Holds the idempotency index (a cache of the stream; safe to delete).
    pub data_dir: PathBuf,
    pub replicas: usize,
    /// JetStream's de-duplication window for the streams; the writer's own
    /// index keeps idempotency beyond it.
    pub duplicate_window: Duration,
    /// How batches are appended; `None`: the best the stream allows (atomic
    /// batches on nats-server 2.12+, else pipelined-fenced). Forcing
    /// [`AppendMode::Atomic`] on a stream without `allow_atomic` fails every append.
    pub append_mode: Option<AppendMode>,
    /// Start with `replicas > 1` even on a nats-server older than 2.9.21
    /// (`fundledger_nats::server_version` says why that is refused otherwise).
    pub allow_old_nats_cluster: bool,
    /// How far an event's `occurred_at` may be ahead of this writer's clock
    /// (later: refused, `occurred_at_in_future`); backdated events always pass.
    pub occurred_at_skew: Duration,
}

impl WriterConfig {
    /// One replica, the default duplicate window.
    pub fn new(ledger: LedgerId, nats_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> WriterConfig {
        WriterConfig {
            ledger,
            nats_url: nats_url.into(),
            data_dir: data_dir.into(),
            replicas: 1,
            duplicate_window: Duration::from_millis(fundledger_nats::streams::DUPLICATE_WINDOW_DEFAULT_MS),
            append_mode: None,
            allow_old_nats_cluster: false,
            occurred_at_skew: Duration::from_millis(fundledger_core::time::OCCURRED_AT_SKEW_MS_DEFAULT),
        }
    }
}

pub use fundledger_core::wire::{Receipt, WriterStatus};

/// A started batch (by number) and how its append ended.
type BatchDone = (u64, Result<(), AppendError>);

type Outcome = Result<Receipt, WriteError>;

struct Job {
    events: Vec<Result<VerifiedEvent, WriteError>>,
    reply: oneshot::Sender<Vec<Outcome>>,
}

/// A handle to a running writer; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    status: Arc<RwLock<WriterStatus>>,
    ledger: LedgerId,
    broker: fundledger_nats::Broker,
    /// Set by [`Writer::shut_down`], shared by every clone.
    closing: Arc<AtomicBool>,
    occurred_at_skew_ms: u64,
}

/// Why a submission made after [`Writer::shut_down`] is refused (503, `unavailable`).
pub const SHUTTING_DOWN: &str = "the writer is shutting down";

/// Why nothing can be appended right now without waiting, if so: the writer
/// is stopping, or its connection to NATS is down (a submission would only
/// wait for the broker's timeouts). Callers are answered 503 at once.
fn refusal_now(closing: bool, broker: &fundledger_nats::Broker) -> Option<String> {
    if closing {
        return Some(SHUTTING_DOWN.to_string());
    }
    broker.disconnected().map(|state| format!("the NATS server cannot be reached ({state}); the client reconnects by itself"))
}

fn now() -> Timestamp {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    Timestamp::from_unix_millis(millis)
}

impl Writer {
    /// Connects, creates or checks the ledger streams, opens the index, replays
    /// the stream into memory, and starts the sequencer.
    pub async fn start(config: WriterConfig) -> Result<(Writer, tokio::task::JoinHandle<()>), WriterError> {
        let js = fundledger_nats::Broker::connect(&config.nats_url).await?;
        // Before any stream is created: a replicated ledger on a server that cannot fence it is refused.
        fundledger_nats::check_server_for_replicas(&js, config.replicas, config.allow_old_nats_cluster).map_err(fundledger_nats::NatsError::from)?;
        let settings = StreamSettings { replicas: config.replicas, duplicate_window: config.duplicate_window };
        let streams = fundledger_nats::ensure_ledger_streams(&js, config.ledger.as_str(), &settings).await?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|error| WriterError::Index { path: config.data_dir.display().to_string(), message: error.to_string() })?;
        let index = IdIndex::open(&config.data_dir.join(format!("ids-{}", config.ledger)))?;
        let status = Arc::new(RwLock::new(WriterStatus { ledger: config.ledger.to_string(), ..WriterStatus::default() }));
        let broker = js.clone();
        let mut sequencer = Sequencer {
            appender: appender_for(&config, js.clone(), &streams),
            js,
            stream_name: streams.events_stream,
            ledger_id: config.ledger.clone(),
            ledger: Ledger::new(),
            chain: ChainState::new(config.ledger.clone()),
            planned: Tip::default(),
            pending: HashMap::new(),
            unacknowledged: BTreeMap::new(),
            index,
            status: status.clone(),
            needs_reload: true,
            batches_done: mpsc::unbounded_channel(),
            batches_started: 0,
            sending: None,
            incident: None,
        };
        match sequencer.load().await {
            Ok(()) => {}
            // Started, but refusing: readiness, status and metrics say why.
            Err(WriterError::Rollback(rollback)) => sequencer.enter_incident(rollback),
            Err(error) => return Err(error),
        }
        let mode = sequencer.appender.mode().name().to_string();
        sequencer.publish_status(|status| status.append_mode = mode);
        let (jobs, receiver) = mpsc::channel(QUEUE_SUBMISSIONS_MAX);
        let task = tokio::spawn(sequencer.run(receiver));
        let occurred_at_skew_ms = config.occurred_at_skew.as_millis() as u64;
        Ok((Writer { jobs, status, ledger: config.ledger, broker, closing: Arc::new(AtomicBool::new(false)), occurred_at_skew_ms }, task))
    }

    pub fn ledger(&self) -> &LedgerId {
        &self.ledger
    }

    pub fn status(&self) -> WriterStatus {
        let mut status = self.status.read().map(|status| status.clone()).unwrap_or_default();
        status.ready &= refusal_now(self.is_shutting_down(), &self.broker).is_none();
        status
    }

    /// Refuses every submission from now on with [`SHUTTING_DOWN`] (and reports
    /// not ready); submissions already handed to the sequencer are still
    /// appended and answered. The sequencer finishes its batches and stops
    /// once every handle is dropped (the task [`Writer::start`] returned).
    pub fn shut_down(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// Why a submission would be refused at once now (stopping, NATS down), if so.
    pub fn unavailable_reason(&self) -> Option<String> {
        refusal_now(self.is_shutting_down(), &self.broker)
    }

    /// Refuses an event dated beyond the writer's clock plus the configured skew.
    fn check_occurred_at(&self, event: SignedEvent, now: &Timestamp) -> Result<SignedEvent, WriteError> {
        fundledger_core::time::check_not_in_future(&event.body().occurred_at, now, self.occurred_at_skew_ms).map_err(WriteError::InFuture)?;
        Ok(event)
    }

    /// True once [`Writer::shut_down`] was called on any clone.
    pub fn is_shutting_down(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// The connection the writer uses (for serving NATS request/reply).
    pub fn broker(&self) -> &fundledger_nats::Broker {
        &self.broker
    }

    /// Verifies and appends events, in order; one outcome per event.
    pub async fn submit(&self, events: Vec<SignedEvent>) -> Vec<Outcome> {
        self.submit_parsed(events.into_iter().map(Ok).collect()).await
    }

    /// Like [`Writer::submit`], with parse errors kept in place so that the
    /// answers line up with the request.
    pub async fn submit_parsed(&self, events: Vec<Result<SignedEvent, WriteError>>) -> Vec<Outcome> {
        let count = events.len();
        if let Some(reason) = refusal_now(self.is_shutting_down(), &self.broker) {
            return (0..count).map(|_| Err(WriteError::Unavailable(reason.clone()))).collect();
        }
        let mut errors: Vec<Option<WriteError>> = Vec::with_capacity(count);
        let mut parsed = Vec::with_capacity(count);
        let now = now();
        for event in events {
            let event = event.and_then(|event| self.check_occurred_at(event, &now));
            match event {
                Ok(event) => {
                    errors.push(None);
                    parsed.push(event);
                }
                Err(error) => errors.push(Some(error)),
            }
        }
        let verified = match tokio::task::spawn_blocking(move || verify_events_parallel(parsed)).await {
            Ok(results) => results,
            Err(error) => {
                let message = format!("signature verification failed to run: {error}");
                return (0..count).map(|_| Err(WriteError::Unavailable(message.clone()))).collect();
            }
        };
        let mut verified = verified.into_iter();
        let merged = errors
            .into_iter()
            .map(|error| match error {
                Some(error) => Err(error),
                None => match verified.next() {
                    Some(result) => result.map_err(WriteError::from),
                    None => Err(WriteError::Unavailable("verification lost an event".to_string())),
                },
            })
            .collect();
        self.submit_checked(merged).await
    }

    /// Appends events whose parsing and signature checks already happened;
    /// the errors are passed through in place.
    pub async fn submit_checked(&self, events: Vec<Result<VerifiedEvent, WriteError>>) -> Vec<Outcome> {
        let count = events.len();
        if let Some(reason) = refusal_now(self.is_shutting_down(), &self.broker) {
            return (0..count).map(|_| Err(WriteError::Unavailable(reason.clone()))).collect();
        }
        let (reply, answer) = oneshot::channel();
        if self.jobs.send(Job { events, reply }).await.is_err() {
            return (0..count).map(|_| Err(WriteError::Unavailable("the writer has stopped".to_string()))).collect();
        }
        answer.await.unwrap_or_else(|_| (0..count).map(|_| Err(WriteError::Unavailable("the writer has stopped".to_string()))).collect())
    }
}

struct Sequencer {
    js: fundledger_nats::Broker,
    appender: Appender,
    stream_name: String,
    ledger_id: LedgerId,
    /// The state after every planned event (acknowledged or in flight).
    ledger: Ledger,
    /// The chain of acknowledged records.
    chain: ChainState,
    /// Where the next planned record goes: ahead of `chain` by the records in flight.
    planned: Tip,
    /// Ids of planned records not yet acknowledged (the index only has acknowledged ones).
    pending: HashMap<String, IndexedEvent>,
    /// Records sealed but not yet acknowledged, by sequence; kept across a
    /// reload. See [`Sequencer::seal`].
    unacknowledged: BTreeMap<u64, Sealed>,
    index: IdIndex,
    status: Arc<RwLock<WriterStatus>>,
    needs_reload: bool,
    batches_done: (mpsc::UnboundedSender<BatchDone>, mpsc::UnboundedReceiver<BatchDone>),
    batches_started: u64,
    /// Signalled (or dropped) when the last started batch is all on the
    /// connection: the next batch may be planned before, but sent only after.
    sending: Option<oneshot::Receiver<()>>,
    /// The stream went backward: nothing is appended any more.
    incident: Option<Rollback>,
}

/// What made a sealed record's bytes: the same event at the same sequence
/// after the same previous hash is sealed again with the same time.
struct Sealed {
    prev: Hash,
    event_hash: Hash,
    recorded_at: Timestamp,
}

/// The end of the planned chain.
#[derive(Clone, Debug, Default)]
struct Tip {
    size: u64,
    head: Hash,
    /// The message id of the last planned record, if this writer planned it;
    /// after a reload `None` until [`Sequencer::previous_message_id`] reads
    /// the stream's.
    message_id: Option<String>,
}

/// Hex digits of the record hash in a message id.
pub const MESSAGE_ID_HASH_HEX_CHARS: usize = 16;

/// The `Nats-Msg-Id` of a record: `<event id>/<first 16 hex digits of the
/// record hash>` (docs/FORMAT.md). Bound to the record, not only the event:
/// two writers' records of the same event at the same sequence (they differ
/// in `recorded_at`) have different ids, so neither is de-duplicated onto the
/// other and `Nats-Expected-Last-Msg-Id` only lets a message land behind the
/// very record it links to. The same sealed record retried has the same id
/// and is de-duplicated. `/` never occurs in an event id.
pub fn message_id(event_id: &str, record_hash: &Hash) -> String {
    let hash = hex::encode(record_hash);
    format!("{event_id}/{}", &hash[..MESSAGE_ID_HASH_HEX_CHARS.min(hash.len())])
}

/// The appender in the configured mode, or the best the stream allows.
fn appender_for(config: &WriterConfig, js: fundledger_nats::Broker, streams: &fundledger_nats::LedgerStreams) -> Appender {
    let appender = Appender::for_stream(js, &streams.events_info);
    match config.append_mode {
        Some(mode) if mode != appender.mode() => {
            info!(%mode, "appending in the configured {mode} mode");
            appender.with_mode(mode)
        }
        _ => appender,
    }
}

/// A planned batch whose append is under way.
struct InFlight {
    number: u64,
    jobs: Vec<Job>,
    slots: Vec<Vec<Slot>>,
    records: Vec<Record>,
    /// Set when the append finished (at once for a batch with nothing to append).
    result: Option<Result<(), AppendError>>,
}

/// What planning decided for one submitted event.
enum Slot {
    /// Will be appended as record `index` of the batch.
    Pending(usize),
    /// Same event as record `index` of this batch: answer with that record.
    DuplicateInBatch(usize),
    Done(Outcome),
}

struct Plan {
    slots: Vec<Vec<Slot>>,
    records: Vec<Record>,
    messages: Vec<OutgoingMessage>,
}

fn corrupt_at(seq: u64, reason: impl ToString) -> WriterError {
    WriterError::Corrupt { seq, reason: reason.to_string() }
}

fn corrupt(error: ReplayError) -> WriterError {
    WriterError::Corrupt { seq: error.seq, reason: error.to_string() }
}

fn receipt(record: &Record, duplicate: bool) -> Receipt {
    Receipt { event_id: record.body().id.to_string(), seq: record.seq, record_hash: hex::encode(record.hash), duplicate }
}

/// Takes `first` and whatever else is waiting, up to about a batch of events.
fn gather(first: Job, jobs: &mut mpsc::Receiver<Job>) -> Vec<Job> {
    let mut count = first.events.len();
    let mut batch = vec![first];
    while count < BATCH_EVENTS_MAX {
        match jobs.try_recv() {
            Ok(job) => {
                count += job.events.len();
                batch.push(job);
            }
            Err(_) => break,
        }
    }
    batch
}

impl Sequencer {
    /// Replays the whole stream into a fresh state and catches the index up.
    async fn load(&mut self) -> Result<(), WriterError> {
        let started = std::time::Instant::now();
        self.check_stream().await?;
        let (position, _) = self.index.position()?;
        let mut replay = Replay::new(self.ledger_id.clone());
        let mut messages = fundledger_nats::read_from(&self.js, &self.stream_name, None, 1).await?;
        let mut chunk: Vec<Record> = Vec::with_capacity(REPLAY_CHUNK_RECORDS);
        loop {
            let next = messages.next().await;
            let end = next.is_none();
            if let Some(message) = next {
                let message = message?;
                chunk.push(Replay::parse(message.sequence, &message.payload).map_err(corrupt)?);
            }
            if chunk.len() == REPLAY_CHUNK_RECORDS || (end && !chunk.is_empty()) {
                replay = self.replay_chunk(replay, std::mem::take(&mut chunk), position).await?;
            }
            if end {
                break;
            }
        }
        let (ledger, chain) = replay.into_parts();
        self.ledger = ledger;
        self.planned = Tip { size: chain.size(), head: *chain.head(), message_id: None };
        self.chain = chain;
        self.pending.clear();
        self.unacknowledged = self.unacknowledged.split_off(&(self.chain.size() + 1));
        self.needs_reload = false;
        self.publish_status(|status| status.ready = true);
        info!(ledger = %self.ledger_id, size = self.chain.size(), elapsed_ms = started.elapsed().as_millis() as u64, "ledger loaded");
        Ok(())
    }

    /// Checks a chunk on a blocking thread (signatures on all cores) and
    /// indexes the ids of records past the index position.
    async fn replay_chunk(&self, mut replay: Replay, chunk: Vec<Record>, index_position: u64) -> Result<Replay, WriterError> {
        let (replay, entries) = tokio::task::spawn_blocking(move || {
            let mut entries: Vec<(String, IndexedEvent)> = Vec::new();
            let result = replay.check_chunk(chunk, |record| {
                if record.seq > index_position {
                    let entry = IndexedEvent { seq: record.seq, event_hash: *record.event.signed().event_hash(), record_hash: record.hash };
                    entries.push((record.event.body().id.to_string(), entry));
                }
            });
            result.map(|()| (replay, entries))
        })
        .await
        .map_err(|error| corrupt_at(0, format!("replay task failed: {error}")))?
        .map_err(corrupt)?;
        if let Some((_, last)) = entries.last() {
            let position = (last.seq, last.record_hash);
            self.index.put_all(entries.iter().map(|(id, entry)| (id.as_str(), *entry)), position)?;
        }
        Ok(replay)
    }

    /// The last record this writer knows was acknowledged: its chain's head,
    /// or the index's position if that is further (after a restart).
    fn known_position(&self) -> Result<KnownPosition, WriterError> {
        let (seq, hash) = self.index.position()?;
        Ok(if self.chain.size() >= seq { KnownPosition { seq: self.chain.size(), hash: *self.chain.head() } } else { KnownPosition { seq, hash } })
    }

    /// Fails with [`WriterError::Rollback`] if the stream no longer holds the
    /// last record this writer knows was acknowledged.
    async fn check_stream(&self) -> Result<(), WriterError> {
        let known = self.known_position()?;
        let (last, stored) = fundledger_nats::tail_and_message_at(&self.js, &self.stream_name, known.seq).await?;
        rollback::check(known, last, stored.as_deref()).map_err(WriterError::Rollback)
    }

    /// Stops appending for good (until an operator acts), loudly.
    fn enter_incident(&mut self, rollback: Rollback) {
        error!(
            ledger = %self.ledger_id,
            known_seq = rollback.known().seq,
            known_hash = %hex::encode(rollback.known().hash),
            first_bad_seq = rollback.first_bad_seq(),
            "LEDGER ROLLBACK: {rollback}; the writer refuses every submission until an operator runs `fundledger accept-rollback`"
        );
        fundledger_metrics::metrics::gauge!("fundledger_writer_rollback_detected").set(1.0);
        let text = rollback.to_string();
        self.publish_status(|status| {
            status.ready = false;
            status.incident = Some(text);
        });
        self.needs_reload = true;
        self.incident = Some(rollback);
    }

    /// Answers every event of every job with `error`; nothing was appended for them.
    fn answer_all(jobs: Vec<Job>, error: WriteError) {
        for job in jobs {
            let outcomes = job.events.iter().map(|_| Err(error.clone())).collect();
            let _ = job.reply.send(outcomes);
        }
    }

    /// Answers every job with the incident.
    fn refuse_all(&self, jobs: Vec<Job>) {
        let reason = self.incident.as_ref().map(ToString::to_string).unwrap_or_default();
        Self::answer_all(jobs, WriteError::Rollback(reason));
    }

    /// While idle: does the stream still hold what this writer acknowledged?
    async fn watch_stream(&mut self) {
        match self.check_stream().await {
            Ok(()) => {}
            Err(WriterError::Rollback(rollback)) => self.enter_incident(rollback),
            Err(error) => tracing::debug!(%error, "could not check the stream's tail; next check in a moment"),
        }
    }

    fn publish_status(&self, update: impl FnOnce(&mut WriterStatus)) {
        if let Ok(mut status) = self.status.write() {
            status.size = self.chain.size();
            status.head = hex::encode(self.chain.head());
            status.root = hex::encode(self.chain.root());
            update(&mut status);
        }
    }

    /// The fast path: plan a batch, hand it to the connection, and plan the
    /// next while the first waits for its acks. Batches complete in order; a
    /// failed one takes every later one with it (they are fenced on it), and
    /// all their submissions go through [`Sequencer::process`], which reloads
    /// the ledger and plans them again.
    async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut open = true;
        let mut watch = tokio::time::interval(Duration::from_millis(STREAM_WATCH_INTERVAL_MS));
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while open || !in_flight.is_empty() {
            let may_plan = open && in_flight.len() < BATCHES_IN_FLIGHT_MAX && (!self.needs_reload || in_flight.is_empty());
            let may_watch = in_flight.is_empty() && self.incident.is_none() && !self.needs_reload;
            tokio::select! {
                biased;
                job = jobs.recv(), if may_plan => match job {
                    None => open = false,
                    Some(first) => {
                        let batch = gather(first, &mut jobs);
                        if self.incident.is_some() {
                            self.refuse_all(batch);
                        } else if self.needs_reload {
                            self.process(batch).await;
                        } else {
                            let started = self.start(batch).await;
                            in_flight.push_back(started);
                        }
                    }
                },
                Some((number, result)) = self.batches_done.1.recv(), if !in_flight.is_empty() => {
                    if let Some(batch) = in_flight.iter_mut().find(|batch| batch.number == number) {
                        batch.result = Some(result);
                    }
                }
                _ = watch.tick(), if may_watch => self.watch_stream().await,
            }
            while in_flight.front().is_some_and(|batch| batch.result.is_some()) {
                let Some(mut batch) = in_flight.pop_front() else { break };
                match batch.result.take() {
                    Some(Ok(())) => {
                        self.commit(&batch.records);
                        self.answer(batch.jobs, batch.slots, &batch.records);
                    }
                    Some(Err(error)) => {
                        warn!(%error, "append failed; re-reading the stream before planning again");
                        let mut retry = batch.jobs;
                        // Later batches are fenced on this one: wait until each has finished.
                        let unfinished = in_flight.iter().filter(|later| later.result.is_none()).count();
                        let mut finished = 0;
                        while finished < unfinished {
                            match self.batches_done.1.recv().await {
                                Some(_) => finished += 1,
                                None => break,
                            }
                        }
                        retry.extend(in_flight.drain(..).flat_map(|later| later.jobs));
                        self.sending = None;
                        self.needs_reload = true;
                        self.pause_after(&error, 1).await;
                        self.process(retry).await;
                    }
                    None => {}
                }
            }
        }
    }

    /// Plans a batch and starts appending it once the previous batch is on
    /// the connection, so the messages stay in order on the wire while the
    /// planning overlaps the previous batch's sending.
    async fn start(&mut self, jobs: Vec<Job>) -> InFlight {
        let number = self.batches_started;
        self.batches_started += 1;
        let previous_message_id = match self.previous_message_id().await {
            Ok(id) => id,
            Err(error) => {
                // The first message is still fenced on the sequence.
                warn!(%error, "could not read the stream's last message id");
                None
            }
        };
        let Plan { slots, records, messages } = self.plan(&jobs);
        let mut batch = InFlight { number, jobs, slots, records, result: None };
        let Some(first) = batch.records.first() else {
            batch.result = Some(Ok(()));
            return batch;
        };
        let first_sequence = first.seq;
        if let Some(previous) = self.sending.take() {
            let _ = previous.await;
        }
        let appender = self.appender.clone();
        let done = self.batches_done.0.clone();
        let (sent, all_sent) = oneshot::channel();
        self.sending = Some(all_sent);
        tokio::spawn(async move {
            let result = appender.append_batch_after(first_sequence, previous_message_id.as_deref(), &messages, Some(sent)).await;
            let _ = done.send((number, result.map(|_| ())));
        });
        batch
    }

    /// The message id the next batch must follow: the last planned one, or
    /// after a reload the `Nats-Msg-Id` actually stored at the planned
    /// tail (read, not computed, so a ledger written with older message
    /// ids continues correctly). `None` for an empty ledger.
    async fn previous_message_id(&mut self) -> Result<Option<String>, fundledger_nats::NatsError> {
        if self.planned.message_id.is_some() || self.planned.size == 0 {
            return Ok(self.planned.message_id.clone());
        }
        let stored = fundledger_nats::get_message(&self.js, &self.stream_name, self.planned.size).await?;
        self.planned.message_id = stored.and_then(|message| message.message_id);
        Ok(self.planned.message_id.clone())
    }

    /// A broker in trouble gets time to recover; a rival writer gets a
    /// growing pause so that one of the two wins the next round.
    async fn pause_after(&self, error: &AppendError, attempt: u32) {
        let pause_ms = if error.is_fenced() { 5 * attempt as u64 * attempt as u64 } else { 200 * attempt as u64 };
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
    }

    async fn process(&mut self, jobs: Vec<Job>) {
        for attempt in 1..=APPEND_ATTEMPTS_MAX {
            if self.incident.is_some() {
                return self.refuse_all(jobs);
            }
            if let Some(reason) = refusal_now(false, &self.js) {
                // Fail fast: the queued submissions would only wait for the broker's timeouts.
                return Self::answer_all(jobs, WriteError::Unavailable(reason));
            }
            if self.needs_reload {
                if let Err(error) = self.load().await {
                    if let WriterError::Rollback(rollback) = error {
                        self.enter_incident(rollback);
                        return self.refuse_all(jobs);
                    }
                    warn!(%error, attempt, "reloading the ledger failed");
                    self.publish_status(|status| status.ready = false);
                    tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
                    continue;
                }
                self.publish_status(|status| status.reloads_since_start += 1);
            }
            let previous_message_id = match self.previous_message_id().await {
                Ok(id) => id,
                Err(error) => {
                    warn!(%error, attempt, "could not read the stream's last message id");
                    self.needs_reload = true;
                    continue;
                }
            };
            let plan = self.plan(&jobs);
            if plan.records.is_empty() {
                return self.answer(jobs, plan.slots, &plan.records);
            }
            let first_sequence = self.chain.size() + 1;
            debug_assert_eq!(plan.records[0].seq, first_sequence, "the recovery path plans on the acknowledged chain");
            match self.appender.append_batch_after(first_sequence, previous_message_id.as_deref(), &plan.messages, None).await {
                Ok(_) => {
                    self.commit(&plan.records);
                    return self.answer(jobs, plan.slots, &plan.records);
                }
                Err(error) => {
                    warn!(%error, attempt, "append failed; re-reading the stream before planning again");
                    self.needs_reload = true;
                    self.pause_after(&error, attempt).await;
                }
            }
        }
        Self::answer_all(jobs, WriteError::Unavailable("the ledger stream did not accept the batch after repeated attempts".to_string()));
    }

    /// Decides every event of the batch against the state, applying the
    /// accepted ones and sealing them onto the (not yet advanced) chain.
    fn plan(&mut self, jobs: &[Job]) -> Plan {
        let recorded_at = now();
        let mut seq = self.planned.size;
        let mut prev = self.planned.head;
        let mut in_batch: HashMap<String, usize> = HashMap::new();
        let mut plan = Plan { slots: Vec::with_capacity(jobs.len()), records: Vec::new(), messages: Vec::new() };
        let mut refused = 0u64;
        for job in jobs {
            let mut slots = Vec::with_capacity(job.events.len());
            for event in &job.events {
                let slot = match event {
                    Err(error) => Slot::Done(Err(error.clone())),
                    Ok(event) => self.plan_event(event, &mut in_batch, &mut plan, &mut seq, &mut prev, &recorded_at),
                };
                if matches!(slot, Slot::Done(Err(_))) {
                    refused += 1;
                }
                slots.push(slot);
            }
            plan.slots.push(slots);
        }
        if let Some(last) = plan.messages.last() {
            self.planned = Tip { size: seq, head: prev, message_id: Some(last.message_id.clone()) };
        }
        self.publish_status(|status| status.refused_since_start += refused);
        plan
    }

    fn plan_event(
        &mut self,
        event: &VerifiedEvent,
        in_batch: &mut HashMap<String, usize>,
        plan: &mut Plan,
        seq: &mut u64,
        prev: &mut Hash,
        recorded_at: &Timestamp,
    ) -> Slot {
        let id = event.body().id.as_str();
        let event_hash = event.signed().event_hash();
        if let Some(&index) = in_batch.get(id) {
            let earlier = &plan.records[index];
            return if earlier.event.event_hash() == event_hash {
                Slot::DuplicateInBatch(index)
            } else {
                Slot::Done(Err(WriteError::IdConflict { id: id.to_string(), seq: earlier.seq }))
            };
        }
        let known = match self.pending.get(id) {
            Some(entry) => Ok(Some(*entry)),
            None => self.index.get(id),
        };
        match known {
            Err(error) => return Slot::Done(Err(WriteError::Unavailable(error.to_string()))),
            Ok(Some(entry)) if entry.event_hash == *event_hash => {
                return Slot::Done(Ok(Receipt { event_id: id.to_string(), seq: entry.seq, record_hash: hex::encode(entry.record_hash), duplicate: true }))
            }
            Ok(Some(entry)) => return Slot::Done(Err(WriteError::IdConflict { id: id.to_string(), seq: entry.seq })),
            Ok(None) => {}
        }
        let scope = self.ledger.event_scope(&event.body().event);
        if let Err(violation) = self.ledger.apply(event) {
            return Slot::Done(Err(WriteError::Violation(violation)));
        }
        let (kind, scope_id) = match &scope {
            EventScope::Ledger => (ScopeKind::Ledger, self.ledger_id.as_str()),
            EventScope::Fund(fund) => (ScopeKind::Fund, fund.as_str()),
            EventScope::Scheme(scheme) => (ScopeKind::Scheme, scheme.as_str()),
        };
        let subject = match fundledger_nats::event_subject(self.ledger_id.as_str(), kind, scope_id, event.body().type_name()) {
            Ok(subject) => subject,
            Err(error) => {
                // Ids are validated by the core to be subject-safe, so this cannot
                // happen; the state already changed, so force a reload to undo it.
                self.needs_reload = true;
                return Slot::Done(Err(WriteError::Unavailable(error.to_string())));
            }
        };
        *seq += 1;
        let record = self.seal(*seq, *prev, recorded_at, event);
        *prev = record.hash;
        plan.messages.push(OutgoingMessage { subject, message_id: message_id(id, &record.hash), payload: record.to_json().into() });
        in_batch.insert(id.to_string(), plan.records.len());
        self.pending.insert(id.to_string(), IndexedEvent { seq: record.seq, event_hash: *event_hash, record_hash: record.hash });
        plan.records.push(record);
        Slot::Pending(plan.records.len() - 1)
    }

    /// Seals `event` as record `seq` after `prev`. A record sealed again at
    /// the same place (a batch planned again after a failed append) keeps its
    /// first time, so it has the same bytes and hash: a message of the failed
    /// attempt that the cluster still stores late (forwarded during a leader
    /// change) then links correctly, and its retry is de-duplicated onto it.
    /// With a new time, the late message would pass the fencing (same message
    /// ids at the same sequences) but link to a hash no longer in the chain.
    fn seal(&mut self, seq: u64, prev: Hash, now: &Timestamp, event: &VerifiedEvent) -> Record {
        let event_hash = *event.signed().event_hash();
        let recorded_at = match self.unacknowledged.get(&seq) {
            Some(sealed) if sealed.prev == prev && sealed.event_hash == event_hash => sealed.recorded_at.clone(),
            _ => now.clone(),
        };
        self.unacknowledged.insert(seq, Sealed { prev, event_hash, recorded_at: recorded_at.clone() });
        Record::seal(self.ledger_id.clone(), seq, prev, recorded_at, event.signed().clone())
    }

    /// Advances the chain past acknowledged records and indexes their ids.
    fn commit(&mut self, records: &[Record]) {
        for record in records {
            // The records were sealed on this very chain: a failure is a bug.
            assert!(self.chain.append(record, |_, _| {}).is_ok(), "sealed record {} does not extend the chain", record.seq);
            self.pending.remove(record.body().id.as_str());
        }
        self.unacknowledged = self.unacknowledged.split_off(&(self.chain.size() + 1));
        let entries = records
            .iter()
            .map(|record| (record.body().id.as_str(), IndexedEvent { seq: record.seq, event_hash: *record.event.event_hash(), record_hash: record.hash }));
        let position = (self.chain.size(), *self.chain.head());
        if let Err(error) = self.index.put_all(entries, position) {
            // The records are appended; the index will be caught up on reload.
            warn!(%error, "could not write the idempotency index; reloading");
            self.needs_reload = true;
        }
        self.publish_status(|status| status.appended_since_start += records.len() as u64);
    }

    fn answer(&self, jobs: Vec<Job>, slots: Vec<Vec<Slot>>, records: &[Record]) {
        for (job, slots) in jobs.into_iter().zip(slots) {
            let outcomes = slots
                .into_iter()
                .map(|slot| match slot {
                    Slot::Pending(index) => Ok(receipt(&records[index], false)),
                    Slot::DuplicateInBatch(index) => Ok(receipt(&records[index], true)),
                    Slot::Done(outcome) => outcome,
                })
                .collect();
            let _ = job.reply.send(outcomes);
        }
    }
}
