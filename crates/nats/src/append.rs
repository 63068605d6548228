//! The single writer's fenced, pipelined appends.
//!
//! Why fenced: the ledger is hash-chained, so record `n` is only valid at
//! stream sequence `n`. Each message therefore carries the sequence the stream
//! must end at before it is stored (`Nats-Expected-Last-Sequence`); if another
//! writer appended first, the server refuses the message and the writer learns
//! it lost the race instead of forking the chain.
//!
//! Why also `Nats-Expected-Last-Msg-Id`: messages are pipelined (thousands in
//! flight), and the sequence check alone cannot stop a hole. If a rival writer
//! slips one message in while ours are in flight, our message `i` is refused
//! but message `i + 1` — which expects exactly the sequence the rival's message
//! now occupies — would be stored, leaving our record `i` missing from the
//! chain. Requiring every message after the first to follow its predecessor's
//! message id closes that gap, so what lands of a batch is always a contiguous
//! prefix of it at the expected sequences. (Verified on nats-server 2.9.10
//! and 2.15.1: the sequence check also applies to an expected last sequence
//! of 0. De-duplication comes before both expectations on 2.9 to 2.11; from
//! 2.12 on the expected last sequence comes first, so a stored message sent
//! again behind its old predecessor is fenced, not acknowledged as a
//! duplicate: a caller that re-reads the tail after any failure, as the
//! writer does, needs neither; see
//! [`crate::server_version::LAST_SEQUENCE_BEFORE_DUPLICATES_MIN_VERSION`].)
//!
//! Why `acknowledged` on every error: the caller must know exactly which prefix
//! of the batch is in the stream to continue the chain correctly.
//!
//! Why two modes ([`AppendMode`]): nats-server 2.12 and later store an
//! *atomic batch* (ADR-50: `Nats-Batch-Id`, `Nats-Batch-Sequence`,
//! `Nats-Batch-Commit`) all or nothing, so a batch lands whole right behind
//! the tail it was planned on or not at all, and a failed append leaves no
//! prefix to account for. Inside an atomic batch the server accepts
//! `Nats-Msg-Id` on every message and `Nats-Expected-Last-Sequence` on the
//! first only, and refuses `Nats-Expected-Last-Msg-Id` (10177; checked on
//! 2.15.1). Sequence fencing alone cannot tell our record `n` from a rival's
//! record `n`, so an atomic batch is only sent once the tail it continues is
//! proven ours: the previous atomic batch's commit was acknowledged by this
//! appender, or the stream's message at that sequence carries the expected
//! message id. Atomic batches are therefore sent one after the other; the
//! caller's planning still overlaps them. Older servers, and streams without
//! `allow_atomic`, get the pipelined, per-message fenced mode above.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::header::{
    HeaderMap, NATS_BATCH_COMMIT, NATS_BATCH_COMMIT_FINAL, NATS_BATCH_ID, NATS_BATCH_SEQUENCE, NATS_EXPECTED_LAST_SEQUENCE, NATS_EXPECTED_STREAM,
    NATS_MESSAGE_ID,
};
use async_nats::jetstream::{
    self,
    context::{PublishAckFuture, PublishError, PublishErrorKind},
    message::PublishMessage,
    publish::PublishAck,
};
use bytes::Bytes;
use futures::stream::{FuturesOrdered, StreamExt as _};

use crate::client::Broker;
use crate::error::NatsError;

/// Default and largest number of publishes awaiting their acks at once.
pub const IN_FLIGHT_MAX: usize = 4096;
/// Longest message id accepted (the id is a header value).
pub const MESSAGE_ID_LENGTH_MAX: usize = 256;
/// Bound on a stream-info request made by [`Appender::last_sequence`].
pub const STREAM_INFO_TIMEOUT_MS: u64 = 10_000;
/// Messages in one atomic batch, at most (the server's limit, ADR-50).
pub const ATOMIC_BATCH_MESSAGES_MAX: usize = 1000;

/// The JetStream error for an atomic batch holding a message id already in
/// the duplicate window (async-nats `ATOMIC_PUBLISH_CONTAINS_DUPLICATE_MESSAGE`).
const ATOMIC_DUPLICATE_ERROR: jetstream::ErrorCode = jetstream::ErrorCode(10201);

/// How an [`Appender`] writes a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendMode {
    /// Every message published on its own, pipelined, each fenced on its
    /// predecessor (`Nats-Expected-Last-Sequence` and
    /// `Nats-Expected-Last-Msg-Id`): a contiguous prefix of a batch may land.
    /// Works on every server.
    PipelinedFenced,
    /// All-or-nothing atomic batches of at most [`ATOMIC_BATCH_MESSAGES_MAX`]
    /// messages, each fenced on the stream's last sequence and sent once the
    /// tail it continues is proven to be the one it was planned on.
    /// nats-server 2.12+ and a stream with `allow_atomic`.
    Atomic,
}

impl AppendMode {
    /// The mode's name as logs and benchmarks print it.
    pub fn name(self) -> &'static str {
        match self {
            AppendMode::PipelinedFenced => "pipelined-fenced",
            AppendMode::Atomic => "atomic",
        }
    }
}

impl std::fmt::Display for AppendMode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The subject, normally built by [`crate::subjects::event_subject`].
    pub subject: String,
    /// Sent as `Nats-Msg-Id`; the server de-duplicates on it within the
    /// stream's duplicate window. Must be non-empty, printable ASCII without
    /// spaces, at most [`MESSAGE_ID_LENGTH_MAX`] bytes.
    pub message_id: String,
    /// The record's bytes.
    pub payload: Bytes,
}

/// The server's acknowledgement of one stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The stream sequence the message is stored at.
    pub sequence: u64,
    /// True when the server already had this message id stored at exactly
    /// this sequence (an idempotent retry of a batch that had landed, as
    /// nats-server before 2.12 answers it; 2.12 and later refuse such a retry
    /// as fenced). The message was not stored again.
    pub duplicate: bool,
}

/// Why an append did not fully succeed.
///
/// Every variant says how many leading messages of the batch are known to be
/// stored (`acknowledged`), at sequences `first_sequence ..
/// first_sequence + acknowledged`. Because each message is fenced on its
/// predecessor, whatever landed is a contiguous prefix of the batch at the
/// expected sequences: for [`AppendError::Fenced`], [`AppendError::Duplicate`]
/// and [`AppendError::InvalidBatch`] nothing after `acknowledged` was stored;
/// for [`AppendError::Timeout`], [`AppendError::Broker`] and
/// [`AppendError::Interrupted`] the message at `acknowledged` and some after it
/// may have been stored — re-read the tail with [`Appender::last_sequence`].
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stream did not end where the writer expected: another writer has
    /// appended (JetStream error 10071 "wrong last sequence", or 10070 "wrong
    /// last msg ID" for a message after the first). The caller must re-read
    /// the tail and rebuild its state; it is no longer the only writer.
    #[error(
        "append fenced at message {index}: the stream no longer ends at sequence \
         {expected_last_sequence} (another writer appended; re-read the tail); \
         {acknowledged} earlier messages of the batch were stored; server said: {detail}"
    )]
    Fenced {
        /// Index in the batch of the refused message.
        index: usize,
        /// The last sequence that message expected the stream to have.
        expected_last_sequence: u64,
        /// Leading messages of the batch that were stored.
        acknowledged: usize,
        /// The server's description.
        detail: String,
    },

    /// The message id is already in the stream's duplicate window, at another
    /// sequence than the one this message was meant for; it was not stored.
    #[error(
        "message {index} (id {message_id:?}) duplicates the message stored at sequence {sequence}, \
         not at the expected sequence {expected_sequence}; it was not stored; \
         {acknowledged} earlier messages of the batch were stored"
    )]
    Duplicate {
        /// Index in the batch.
        index: usize,
        /// The message id.
        message_id: String,
        /// Where the server has the earlier message with this id.
        sequence: u64,
        /// Where this message should have gone.
        expected_sequence: u64,
        /// Leading messages of the batch that were stored.
        acknowledged: usize,
    },

    /// An atomic batch was refused whole because one of its message ids is in
    /// the stream's duplicate window (JetStream 10201): some message of it is
    /// already stored, e.g. a late publish of an earlier attempt landed.
    /// Nothing from `index` on was stored; re-read the tail.
    #[error(
        "the atomic batch of messages {index}..{end} holds a message id already in the stream's \
         duplicate window; nothing of it was stored; {acknowledged} earlier messages of the batch \
         were stored; server said: {detail}"
    )]
    DuplicateBatch {
        /// Index in the batch of the atomic batch's first message.
        index: usize,
        /// Index after its last message.
        end: usize,
        /// Leading messages of the batch that were stored.
        acknowledged: usize,
        /// The server's description.
        detail: String,
    },

    /// The server stored a message somewhere other than expected. The fencing
    /// headers should make this impossible; treat the stream as suspect.
    #[error(
        "message {index} was stored at sequence {actual_sequence} of stream {actual_stream:?}, \
         expected sequence {expected_sequence} of {expected_stream:?}; \
         {acknowledged} earlier messages of the batch were stored"
    )]
    SequenceMismatch {
        /// Index in the batch.
        index: usize,
        /// Where it should have gone.
        expected_sequence: u64,
        /// Where the server says it went.
        actual_sequence: u64,
        /// The stream the appender writes to.
        expected_stream: String,
        /// The stream the server named.
        actual_stream: String,
        /// Leading messages of the batch that were stored.
        acknowledged: usize,
    },

    /// A message was stored after an earlier one of the same batch was refused:
    /// the server did not enforce the fencing headers. The stream has a hole.
    #[error(
        "message {stored_index} was stored at sequence {sequence} although message \
         {refused_index} of the same batch was refused; the stream's fencing did not hold"
    )]
    FencingViolated {
        /// The refused message.
        refused_index: usize,
        /// The later message that was stored.
        stored_index: usize,
        /// Where it was stored.
        sequence: u64,
        /// Leading messages of the batch that were stored (up to `stored_index`).
        acknowledged: usize,
    },

    /// No acknowledgement arrived within the JetStream context's timeout. The
    /// message may or may not be stored; re-read the tail.
    #[error(
        "no acknowledgement for message {index} in time; it and later messages may or may not be \
         stored (re-read the tail); {acknowledged} earlier messages of the batch were stored"
    )]
    Timeout {
        /// Index in the batch.
        index: usize,
        /// Leading messages of the batch known to be stored.
        acknowledged: usize,
    },

    /// Any other client or server failure (no stream for the subject, a broken
    /// connection, a payload over the server's limit, ...). Messages from
    /// `acknowledged` on may or may not be stored; re-read the tail.
    #[error(
        "publishing message {index} failed: {source}; {acknowledged} earlier messages of the batch \
         were stored (later ones may or may not be; re-read the tail)"
    )]
    Broker {
        /// Index in the batch.
        index: usize,
        /// Leading messages of the batch known to be stored.
        acknowledged: usize,
        /// The client's error.
        #[source]
        source: jetstream::context::PublishError,
    },

    /// The batch stopped short without a failure of its own to report.
    #[error(
        "the batch stopped after {acknowledged} of {total} messages without a per-message error; \
         re-read the tail"
    )]
    Interrupted {
        /// Leading messages of the batch known to be stored.
        acknowledged: usize,
        /// The batch's length.
        total: usize,
    },

    /// The batch was refused before anything was sent.
    #[error("invalid batch: {reason}")]
    InvalidBatch {
        /// What is wrong.
        reason: String,
    },
}

impl AppendError {
    /// How many leading messages of the batch are known to be stored.
    pub fn acknowledged(&self) -> usize {
        match self {
            AppendError::Fenced { acknowledged, .. }
            | AppendError::Duplicate { acknowledged, .. }
            | AppendError::DuplicateBatch { acknowledged, .. }
            | AppendError::SequenceMismatch { acknowledged, .. }
            | AppendError::FencingViolated { acknowledged, .. }
            | AppendError::Timeout { acknowledged, .. }
            | AppendError::Broker { acknowledged, .. }
            | AppendError::Interrupted { acknowledged, .. } => *acknowledged,
            AppendError::InvalidBatch { .. } => 0,
        }
    }

    /// True if another writer appended (the caller is no longer the writer).
    pub fn is_fenced(&self) -> bool {
        matches!(self, AppendError::Fenced { .. })
    }

    /// True if messages from [`AppendError::acknowledged`] on may have been
    /// stored regardless: the caller must re-read the tail to know.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, AppendError::Timeout { .. } | AppendError::Broker { .. })
    }
}

/// Appends batches of messages to one stream with sequence fencing.
#[derive(Debug, Clone)]
pub struct Appender {
    js: jetstream::Context,
    stream_name: String,
    in_flight_max: usize,
    mode: AppendMode,
    /// The last message this appender (or a clone) saw committed: its
    /// sequence and message id. An atomic batch continuing exactly there
    /// needs no look-up to prove the tail is ours.
    committed: Arc<Mutex<Option<(u64, String)>>>,
}

impl Appender {
    /// An appender for `stream_name` (the stream must already exist) in the
    /// [`AppendMode::PipelinedFenced`] mode, which every server supports.
    /// Acks are awaited for at most the context's timeout (async-nats
    /// default 5 s).
    pub fn new(broker: Broker, stream_name: impl Into<String>) -> Appender {
        Appender {
            js: broker.js().clone(),
            stream_name: stream_name.into(),
            in_flight_max: IN_FLIGHT_MAX,
            mode: AppendMode::PipelinedFenced,
            committed: Arc::new(Mutex::new(None)),
        }
    }

    /// An appender for the stream described by `info`, in the best mode it
    /// allows: [`AppendMode::Atomic`] when the stream has `allow_atomic`
    /// (which [`crate::streams::ensure_ledger_streams`] sets on servers that
    /// support it), else [`AppendMode::PipelinedFenced`]. Logs the choice.
    pub fn for_stream(broker: Broker, info: &jetstream::stream::Info) -> Appender {
        let mode = if info.config.allow_atomic_publish { AppendMode::Atomic } else { AppendMode::PipelinedFenced };
        let server = broker.server_version();
        tracing::info!(stream = %info.config.name, %mode, %server, "appending in {mode} mode");
        Appender::new(broker, info.config.name.clone()).with_mode(mode)
    }

    /// Uses `mode`. [`AppendMode::Atomic`] on a stream without `allow_atomic`
    /// fails every append ([`AppendError::Broker`], JetStream 10174).
    pub fn with_mode(mut self, mode: AppendMode) -> Appender {
        self.mode = mode;
        self
    }

    /// The mode this appender writes in.
    pub fn mode(&self) -> AppendMode {
        self.mode
    }

    /// Limits the publishes awaiting acks at once to `in_flight_max`, clamped
    /// to `1..=IN_FLIGHT_MAX`.
    pub fn with_in_flight_max(mut self, in_flight_max: usize) -> Appender {
        self.in_flight_max = in_flight_max.clamp(1, IN_FLIGHT_MAX);
        self
    }

    /// The stream this appender writes to.
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    /// The stream's last sequence (0 when empty), as the server reports it now.
    pub async fn last_sequence(&self) -> Result<u64, NatsError> {
        last_sequence_on(&self.js, &self.stream_name).await
    }

    /// Appends `messages` so that message `i` is stored at stream sequence
    /// `first_sequence + i`, or not at all.
    ///
    /// Message `i` is published with `Nats-Msg-Id: message_id`,
    /// `Nats-Expected-Stream: <stream>`, `Nats-Expected-Last-Sequence:
    /// first_sequence - 1 + i` and, for `i > 0`, `Nats-Expected-Last-Msg-Id:
    /// <message_id of message i - 1>`. Up to the in-flight limit are pipelined
    /// on the context's connection. Each ack is checked for the stream name,
    /// the sequence and the duplicate flag.
    ///
    /// After the first refusal no further messages are sent (a lost ack does
    /// not stop sending: the message may have landed). Messages already in
    /// flight are always awaited, so [`AppendError::acknowledged`] counts every
    /// message whose storage is proven — by its own ack or a later one's.
    ///
    /// In [`AppendMode::Atomic`] the batch goes as atomic batches of at most
    /// [`ATOMIC_BATCH_MESSAGES_MAX`] (`Nats-Msg-Id` and `Nats-Expected-Stream`
    /// on every message, `Nats-Expected-Last-Sequence` on each one's first),
    /// one after the other; `acknowledged` is then always a whole number of
    /// atomic batches, and a refused one stored nothing. An id already in the
    /// duplicate window refuses its whole atomic batch
    /// ([`AppendError::DuplicateBatch`]) instead of acknowledging it as a
    /// duplicate.
    pub async fn append_batch(&self, first_sequence: u64, messages: &[OutgoingMessage]) -> Result<Vec<PublishReceipt>, AppendError> {
        self.append_batch_after(first_sequence, None, messages, None).await
    }

    /// [`Appender::append_batch`] for a batch that continues another one
    /// still in flight, so a writer can send batch `n + 1` before batch `n`
    /// is acknowledged.
    ///
    /// `previous_message_id` is the id of the message that must be last in
    /// the stream before this batch (the previous batch's last message): the
    /// first message then also carries `Nats-Expected-Last-Msg-Id`, so if the
    /// previous batch was cut short and a rival's message took its place,
    /// this batch is refused instead of leaving a hole. `sent` is signalled
    /// (or dropped) once every message has been handed to the connection or
    /// sending stopped: only then may the next batch start sending, which
    /// keeps the messages in order on the wire. In [`AppendMode::Atomic`]
    /// `sent` goes when the whole batch is committed or failed, and the
    /// stream's message at `first_sequence - 1` must be `previous_message_id`
    /// (known from this appender's last commit, else looked up) before
    /// anything is sent: else [`AppendError::Fenced`] at index 0.
    pub async fn append_batch_after(
        &self,
        first_sequence: u64,
        previous_message_id: Option<&str>,
        messages: &[OutgoingMessage],
        sent: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Result<Vec<PublishReceipt>, AppendError> {
        validate_batch(first_sequence, messages)?;
        if self.mode == AppendMode::Atomic {
            // The next batch may only go once this one is committed (or
            // failed): `sent` is dropped when this returns.
            let result = self.append_atomic(first_sequence, previous_message_id, messages).await;
            drop(sent);
            return result;
        }
        let started = std::time::Instant::now();
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(messages.len());
        outcomes.resize_with(messages.len(), || None);
        let sent = std::sync::Mutex::new(sent);
        let last = messages.len().saturating_sub(1);
        pipeline(
            messages.len(),
            self.in_flight_max,
            |index| {
                let sending = self.send(first_sequence, previous_message_id, messages, index);
                let sent = &sent;
                async move {
                    let result = sending.await;
                    if index == last {
                        if let Some(sent) = sent.lock().ok().and_then(|mut sent| sent.take()) {
                            let _ = sent.send(());
                        }
                    }
                    result
                }
            },
            |index, delivery| {
                let outcome = match delivery {
                    Delivery::NotSent(err) => Outcome::NotSent(err),
                    Delivery::Acked(result) => classify(&self.stream_name, first_sequence + index as u64, result),
                };
                // After a refusal the rest of the batch would be refused too;
                // after a lost ack the message may have landed, so go on: the
                // fencing decides, and later acks tell which.
                let keep_going = !outcome.is_refusal();
                if !keep_going {
                    // Nothing more will be sent: the next batch may go (it will be fenced).
                    if let Some(sent) = sent.lock().ok().and_then(|mut sent| sent.take()) {
                        drop(sent);
                    }
                }
                outcomes[index] = Some(outcome);
                keep_going
            },
        )
        .await;
        drop(sent);
        let settled = settle(&self.stream_name, first_sequence, messages, outcomes);
        record_batch_metrics(started, messages.len(), settled.is_ok());
        settled
    }

    async fn send(
        &self,
        first_sequence: u64,
        previous_message_id: Option<&str>,
        messages: &[OutgoingMessage],
        index: usize,
    ) -> Result<PublishAckFuture, jetstream::context::PublishError> {
        let message = &messages[index];
        let mut publish = PublishMessage::build()
            .payload(message.payload.clone())
            .message_id(&message.message_id)
            .expected_stream(&self.stream_name)
            .expected_last_sequence(first_sequence - 1 + index as u64);
        let previous = match index.checked_sub(1) {
            Some(previous) => messages.get(previous).map(|message| message.message_id.as_str()),
            None => previous_message_id,
        };
        if let Some(previous) = previous {
            publish = publish.expected_last_message_id(previous);
        }
        self.js.send_publish(message.subject.clone(), publish).await
    }

    /// [`Appender::append_batch_after`] in [`AppendMode::Atomic`]: the batch
    /// as consecutive atomic batches of at most [`ATOMIC_BATCH_MESSAGES_MAX`],
    /// each sent once the one before is committed, the first once the tail
    /// is proven to end with `previous_message_id`.
    async fn append_atomic(
        &self,
        first_sequence: u64,
        previous_message_id: Option<&str>,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<PublishReceipt>, AppendError> {
        let started = std::time::Instant::now();
        let result = self.append_atomic_batches(first_sequence, previous_message_id, messages).await;
        record_batch_metrics(started, messages.len(), result.is_ok());
        result
    }

    async fn append_atomic_batches(
        &self,
        first_sequence: u64,
        previous_message_id: Option<&str>,
        messages: &[OutgoingMessage],
    ) -> Result<Vec<PublishReceipt>, AppendError> {
        if let Some(previous) = previous_message_id {
            self.check_tail(first_sequence - 1, previous).await?;
        }
        let mut receipts = Vec::with_capacity(messages.len());
        for (number, chunk) in messages.chunks(ATOMIC_BATCH_MESSAGES_MAX).enumerate() {
            let offset = number * ATOMIC_BATCH_MESSAGES_MAX;
            let first = first_sequence + offset as u64;
            let last = first + chunk.len() as u64 - 1;
            let outcome = self.commit_atomic(first, chunk, offset).await?;
            match outcome {
                Ok(ack) if ack.stream == self.stream_name && ack.sequence == last => {}
                Ok(ack) => {
                    return Err(AppendError::SequenceMismatch {
                        index: offset + chunk.len() - 1,
                        expected_sequence: last,
                        actual_sequence: ack.sequence,
                        expected_stream: self.stream_name.clone(),
                        actual_stream: ack.stream,
                        acknowledged: offset,
                    })
                }
                Err(err) => return Err(classify_atomic(err, offset, offset + chunk.len(), first)),
            }
            receipts.extend((first..=last).map(|sequence| PublishReceipt { sequence, duplicate: false }));
            if let (Ok(mut committed), Some(message)) = (self.committed.lock(), chunk.last()) {
                *committed = Some((last, message.message_id.clone()));
            }
        }
        Ok(receipts)
    }

    /// Proves that the stream's message at `sequence` is `message_id`: the
    /// last commit this appender saw, or a look-up. The stream is append
    /// only, so a batch fenced on `sequence` then lands right behind it.
    async fn check_tail(&self, sequence: u64, message_id: &str) -> Result<(), AppendError> {
        if sequence == 0 {
            return Err(AppendError::InvalidBatch { reason: format!("a previous message id ({message_id:?}) was given for the first sequence") });
        }
        let known = self.committed.lock().ok().and_then(|committed| committed.clone());
        if known.is_some_and(|(at, id)| at == sequence && id == message_id) {
            return Ok(());
        }
        let stored = crate::read::get_message_on(&self.js, &self.stream_name, sequence).await.map_err(|err| AppendError::Broker {
            index: 0,
            acknowledged: 0,
            source: PublishError::with_source(PublishErrorKind::Other, err),
        })?;
        match stored.and_then(|message| message.message_id) {
            Some(id) if id == message_id => Ok(()),
            found => Err(AppendError::Fenced {
                index: 0,
                expected_last_sequence: sequence,
                acknowledged: 0,
                detail: format!(
                    "the stream's message at sequence {sequence} has message id {found:?}, \
                     not {message_id:?}"
                ),
            }),
        }
    }

    /// Sends one atomic batch (stored at `first ..`) and awaits its commit
    /// acknowledgement. The outer error: a message could not be handed to
    /// the connection (nothing of the batch is committed, the server drops
    /// it after its batch timeout).
    async fn commit_atomic(&self, first: u64, chunk: &[OutgoingMessage], offset: usize) -> Result<AckResult, AppendError> {
        let client = self.js.client();
        let batch_id = client.new_inbox();
        let batch_id = batch_id.rsplit('.').next().unwrap_or(&batch_id).to_string();
        let not_sent = |index: usize, source: PublishError| AppendError::Broker { index, acknowledged: offset, source };
        let last = chunk.len() - 1;
        for (index, message) in chunk.iter().enumerate() {
            let mut headers = HeaderMap::new();
            headers.insert(NATS_BATCH_ID, batch_id.as_str());
            headers.insert(NATS_BATCH_SEQUENCE, (index + 1).to_string());
            headers.insert(NATS_MESSAGE_ID, message.message_id.as_str());
            headers.insert(NATS_EXPECTED_STREAM, self.stream_name.as_str());
            if index == 0 {
                headers.insert(NATS_EXPECTED_LAST_SEQUENCE, (first - 1).to_string());
            }
            if index < last {
                // No reply subject: only the commit is acknowledged.
                client
                    .publish_with_headers(message.subject.clone(), headers, message.payload.clone())
                    .await
                    .map_err(|err| not_sent(offset + index, PublishError::with_source(PublishErrorKind::Other, err)))?;
                continue;
            }
            headers.insert(NATS_BATCH_COMMIT, NATS_BATCH_COMMIT_FINAL);
            let publish = PublishMessage::build().payload(message.payload.clone()).headers(headers);
            let ack = self.js.send_publish(message.subject.clone(), publish).await.map_err(|err| not_sent(offset + index, err))?;
            return Ok(ack.await);
        }
        Err(AppendError::InvalidBatch { reason: "an empty atomic batch".to_string() })
    }
}

/// The error for an atomic batch of messages `index..end` (stored from
/// sequence `first`) whose commit was refused or not acknowledged. Nothing of
/// it is stored unless the outcome is unknown (timeout, broken connection).
fn classify_atomic(err: PublishError, index: usize, end: usize, first: u64) -> AppendError {
    let detail = || std::error::Error::source(&err).map_or_else(|| err.to_string(), ToString::to_string);
    let code = std::error::Error::source(&err).and_then(|source| source.downcast_ref::<jetstream::Error>()).map(|api| api.error_code());
    match err.kind() {
        PublishErrorKind::WrongLastSequence | PublishErrorKind::WrongLastMessageId => {
            AppendError::Fenced { index, expected_last_sequence: first - 1, acknowledged: index, detail: detail() }
        }
        PublishErrorKind::TimedOut => AppendError::Timeout { index, acknowledged: index },
        _ if code == Some(ATOMIC_DUPLICATE_ERROR) => AppendError::DuplicateBatch { index, end, acknowledged: index, detail: detail() },
        _ => AppendError::Broker { index, acknowledged: index, source: err },
    }
}

/// The stream's last sequence (0 when empty), as the server reports it now.
pub async fn last_sequence(broker: &Broker, stream_name: &str) -> Result<u64, NatsError> {
    last_sequence_on(broker.js(), stream_name).await
}

async fn last_sequence_on(js: &jetstream::Context, stream_name: &str) -> Result<u64, NatsError> {
    let operation = || format!("stream info for {stream_name}");
    let request = js.get_stream(stream_name);
    let stream = tokio::time::timeout(Duration::from_millis(STREAM_INFO_TIMEOUT_MS), request)
        .await
        .map_err(|elapsed| NatsError::jetstream(operation(), elapsed))?
        .map_err(|err| NatsError::jetstream(operation(), err))?;
    Ok(stream.cached_info().state.last_sequence)
}

/// Publishes `payloads` to `subject` with the same pipelining as
/// [`Appender::append_batch`] but without any headers or checks beyond the
/// ack itself: the baseline the fenced append is measured against.
pub async fn raw_publish_batch(broker: &Broker, subject: &str, payloads: &[Bytes]) -> Result<Vec<PublishReceipt>, NatsError> {
    let js = broker.js();
    let mut receipts = Vec::with_capacity(payloads.len());
    let mut failure = None;
    pipeline(
        payloads.len(),
        IN_FLIGHT_MAX,
        |index| js.send_publish(subject.to_string(), PublishMessage::build().payload(payloads[index].clone())),
        |_, delivery| match delivery {
            Delivery::Acked(Ok(ack)) => {
                receipts.push(PublishReceipt { sequence: ack.sequence, duplicate: ack.duplicate });
                true
            }
            Delivery::Acked(Err(err)) | Delivery::NotSent(err) => {
                failure.get_or_insert(err);
                false
            }
        },
    )
    .await;
    match failure {
        Some(err) => Err(NatsError::jetstream(format!("publish to {subject}"), err)),
        None => Ok(receipts),
    }
}

type AckResult = Result<PublishAck, jetstream::context::PublishError>;

/// What happened to one message of a pipelined batch.
enum Delivery {
    /// The server answered (or the ack timed out).
    Acked(AckResult),
    /// Publishing failed before the message reached the connection.
    NotSent(jetstream::context::PublishError),
}

/// Publishes messages `0..count` in order with up to `in_flight_max` awaiting
/// acks, and reports each message's delivery, in order, to `on_delivery`.
/// Once `on_delivery` returns false no further messages are sent; those in
/// flight are still awaited and reported. While a send waits (the context's
/// own ack limit may be smaller than ours), acks keep being collected, so the
/// two limits cannot deadlock.
async fn pipeline<S, SendFut>(count: usize, in_flight_max: usize, mut send: S, mut on_delivery: impl FnMut(usize, Delivery) -> bool)
where
    S: FnMut(usize) -> SendFut,
    SendFut: std::future::Future<Output = Result<PublishAckFuture, jetstream::context::PublishError>>,
{
    let mut in_flight = FuturesOrdered::new();
    let mut next = 0usize;
    let mut stop = false;
    loop {
        if !stop && next < count && in_flight.len() < in_flight_max {
            let index = next;
            next += 1;
            let sending = send(index);
            tokio::pin!(sending);
            let sent = loop {
                tokio::select! {
                    biased;
                    sent = &mut sending => break sent,
                    Some((acked, result)) = in_flight.next(), if !in_flight.is_empty() => {
                        if !on_delivery(acked, Delivery::Acked(result)) {
                            stop = true;
                        }
                    }
                }
            };
            match sent {
                Ok(ack) => in_flight.push_back(ack_future(index, ack)),
                Err(err) => {
                    stop = true;
                    // Report after the earlier messages: deliveries stay in order.
                    while let Some((acked, result)) = in_flight.next().await {
                        on_delivery(acked, Delivery::Acked(result));
                    }
                    on_delivery(index, Delivery::NotSent(err));
                }
            }
            continue;
        }
        match in_flight.next().await {
            Some((acked, result)) => {
                if !on_delivery(acked, Delivery::Acked(result)) {
                    stop = true;
                }
            }
            None => break,
        }
    }
}

/// Publish latency for `/metrics`: `fundledger_append_batch_seconds` (first
/// send to last ack of a batch) and `fundledger_append_messages_total`, both
/// labelled `outcome` = `acked` or `failed`.
fn record_batch_metrics(started: std::time::Instant, messages: usize, acked: bool) {
    let outcome = if acked { "acked" } else { "failed" };
    metrics::histogram!("fundledger_append_batch_seconds", "outcome" => outcome).record(started.elapsed().as_secs_f64());
    metrics::counter!("fundledger_append_messages_total", "outcome" => outcome).increment(messages as u64);
}

async fn ack_future(index: usize, ack: PublishAckFuture) -> (usize, AckResult) {
    (index, ack.await)
}

/// What became of one message.
#[derive(Debug)]
enum Outcome {
    Stored(PublishReceipt),
    /// Refused with wrong last sequence / wrong last msg id.
    Fenced(String),
    /// Duplicate id stored elsewhere.
    Duplicate(u64),
    /// Stored at the wrong place.
    Misplaced {
        stream: String,
        sequence: u64,
    },
    /// Refused by the server for another reason (e.g. no stream for the subject).
    Refused(jetstream::context::PublishError),
    /// No ack in time: unknown.
    TimedOut,
    /// Connection or parse failure: unknown.
    Unknown(jetstream::context::PublishError),
    /// Never sent.
    NotSent(jetstream::context::PublishError),
}

impl Outcome {
    /// True if the message is known not to be stored where it belongs
    /// (refused, never sent, or stored elsewhere).
    fn is_refusal(&self) -> bool {
        matches!(self, Outcome::Fenced(_) | Outcome::Duplicate(_) | Outcome::Refused(_) | Outcome::NotSent(_) | Outcome::Misplaced { .. })
    }
}

fn classify(stream_name: &str, expected_sequence: u64, result: AckResult) -> Outcome {
    match result {
        Ok(ack) if ack.stream != stream_name => Outcome::Misplaced { stream: ack.stream, sequence: ack.sequence },
        Ok(ack) if ack.duplicate && ack.sequence == expected_sequence => Outcome::Stored(PublishReceipt { sequence: ack.sequence, duplicate: true }),
        Ok(ack) if ack.duplicate => Outcome::Duplicate(ack.sequence),
        Ok(ack) if ack.sequence != expected_sequence => Outcome::Misplaced { stream: ack.stream, sequence: ack.sequence },
        Ok(ack) => Outcome::Stored(PublishReceipt { sequence: ack.sequence, duplicate: false }),
        Err(err) => match err.kind() {
            PublishErrorKind::WrongLastSequence | PublishErrorKind::WrongLastMessageId => {
                let detail = std::error::Error::source(&err).map_or_else(|| err.to_string(), ToString::to_string);
                Outcome::Fenced(detail)
            }
            PublishErrorKind::TimedOut => Outcome::TimedOut,
            PublishErrorKind::StreamNotFound | PublishErrorKind::MaxPayloadExceeded | PublishErrorKind::MaxAckPending => Outcome::Refused(err),
            PublishErrorKind::BrokenPipe | PublishErrorKind::Other => Outcome::Unknown(err),
        },
    }
}

/// Turns the per-message outcomes into the batch's result.
fn settle(stream_name: &str, first_sequence: u64, messages: &[OutgoingMessage], outcomes: Vec<Option<Outcome>>) -> Result<Vec<PublishReceipt>, AppendError> {
    // A stored message proves all before it are stored (each was fenced on
    // its predecessor), even those whose ack was lost.
    let acknowledged = outcomes.iter().rposition(|o| matches!(o, Some(Outcome::Stored(_)))).map_or(0, |last| last + 1);
    let expected = |index: usize| first_sequence + index as u64;
    let mut receipts = Vec::with_capacity(messages.len());
    for (index, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Some(Outcome::Stored(receipt)) => receipts.push(receipt),
            Some(Outcome::Misplaced { stream, sequence }) => {
                return Err(AppendError::SequenceMismatch {
                    index,
                    expected_sequence: expected(index),
                    actual_sequence: sequence,
                    expected_stream: stream_name.to_string(),
                    actual_stream: stream,
                    acknowledged: index,
                })
            }
            Some(ref refused) if index < acknowledged && refused.is_refusal() => {
                return Err(AppendError::FencingViolated {
                    refused_index: index,
                    stored_index: acknowledged - 1,
                    sequence: expected(acknowledged - 1),
                    acknowledged,
                })
            }
            None if index < acknowledged => {
                return Err(AppendError::FencingViolated {
                    refused_index: index,
                    stored_index: acknowledged - 1,
                    sequence: expected(acknowledged - 1),
                    acknowledged,
                })
            }
            // Ack lost but a later message's ack proves it stored.
            Some(Outcome::TimedOut | Outcome::Unknown(_)) if index < acknowledged => {
                tracing::debug!(index, "ack lost, storage proven by a later ack");
                receipts.push(PublishReceipt { sequence: expected(index), duplicate: false });
            }
            Some(Outcome::Fenced(detail)) => return Err(AppendError::Fenced { index, expected_last_sequence: expected(index) - 1, acknowledged, detail }),
            Some(Outcome::Duplicate(sequence)) => {
                return Err(AppendError::Duplicate {
                    index,
                    message_id: messages[index].message_id.clone(),
                    sequence,
                    expected_sequence: expected(index),
                    acknowledged,
                })
            }
            Some(Outcome::TimedOut) => return Err(AppendError::Timeout { index, acknowledged }),
            Some(Outcome::Refused(source) | Outcome::Unknown(source) | Outcome::NotSent(source)) => {
                return Err(AppendError::Broker { index, acknowledged, source })
            }
            // Unsent although nothing before it failed: cannot happen, but a
            // partial batch must never look like a complete one.
            None => return Err(AppendError::Interrupted { acknowledged, total: messages.len() }),
        }
    }
    Ok(receipts)
}

fn validate_batch(first_sequence: u64, messages: &[OutgoingMessage]) -> Result<(), AppendError> {
    if first_sequence == 0 {
        return Err(AppendError::InvalidBatch { reason: "first_sequence must be at least 1 (stream sequences start at 1)".to_string() });
    }
    if first_sequence.checked_add(messages.len() as u64).is_none() {
        return Err(AppendError::InvalidBatch { reason: format!("first_sequence {first_sequence} + batch length overflows u64") });
    }
    for (index, message) in messages.iter().enumerate() {
        let id = &message.message_id;
        if id.is_empty() || id.len() > MESSAGE_ID_LENGTH_MAX || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AppendError::InvalidBatch {
                reason: format!(
                    "message {index} has message id {id:?}: it must be 1..={MESSAGE_ID_LENGTH_MAX} \
                     printable ASCII characters without spaces"
                ),
            });
        }
        if index > 0 && messages[index - 1].message_id == *id {
            return Err(AppendError::InvalidBatch { reason: format!("messages {} and {index} share the message id {id:?}", index - 1) });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> OutgoingMessage {
        OutgoingMessage { subject: "fl.hk.ev.ledger.hk.ledger.opened".into(), message_id: id.into(), payload: Bytes::from_static(b"x") }
    }

    fn ack(stream: &str, sequence: u64, duplicate: bool) -> AckResult {
        serde_json::from_value(serde_json::json!({
            "stream": stream, "seq": sequence, "duplicate": duplicate
        }))
        .map_err(|err| jetstream::context::PublishError::with_source(PublishErrorKind::Other, err))
    }

    fn err(kind: PublishErrorKind) -> AckResult {
        Err(jetstream::context::PublishError::new(kind))
    }

    fn run(first: u64, results: Vec<AckResult>) -> Result<Vec<PublishReceipt>, AppendError> {
        let messages: Vec<_> = (0..results.len()).map(|i| message(&format!("m{i}"))).collect();
        let outcomes = results.into_iter().enumerate().map(|(i, r)| Some(classify("S", first + i as u64, r))).collect();
        settle("S", first, &messages, outcomes)
    }

    #[test]
    fn batches_are_validated() {
        assert!(matches!(validate_batch(0, &[message("a")]), Err(AppendError::InvalidBatch { .. })));
        assert!(validate_batch(u64::MAX, &[message("a")]).is_err());
        assert!(validate_batch(1, &[message("")]).is_err());
        assert!(validate_batch(1, &[message("a b")]).is_err());
        assert!(validate_batch(1, &[message(&"a".repeat(257))]).is_err());
        assert!(validate_batch(1, &[message("a"), message("a")]).is_err());
        assert!(validate_batch(1, &[message("a"), message("b")]).is_ok());
        assert!(validate_batch(1, &[]).is_ok());
    }

    #[test]
    fn all_acked_gives_receipts() {
        let receipts = run(5, vec![ack("S", 5, false), ack("S", 6, false)]);
        assert_eq!(receipts.ok(), Some(vec![PublishReceipt { sequence: 5, duplicate: false }, PublishReceipt { sequence: 6, duplicate: false }]));
    }

    #[test]
    fn fenced_reports_the_prefix() {
        let result = run(5, vec![ack("S", 5, false), err(PublishErrorKind::WrongLastSequence), err(PublishErrorKind::WrongLastMessageId)]);
        match result {
            Err(AppendError::Fenced { index, expected_last_sequence, acknowledged, .. }) => {
                assert_eq!((index, expected_last_sequence, acknowledged), (1, 5, 1));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn duplicates_at_the_expected_sequence_are_idempotent_retries() {
        let result = run(5, vec![ack("S", 5, true), ack("S", 6, false)]);
        assert_eq!(result.ok().map(|r| r.iter().map(|x| x.duplicate).collect::<Vec<_>>()), Some(vec![true, false]));
        let result = run(5, vec![ack("S", 5, false), ack("S", 2, true)]);
        assert!(matches!(result, Err(AppendError::Duplicate { index: 1, sequence: 2, expected_sequence: 6, acknowledged: 1, .. })));
    }

    #[test]
    fn misplaced_acks_are_mismatches() {
        assert!(matches!(run(5, vec![ack("S", 9, false)]), Err(AppendError::SequenceMismatch { index: 0, actual_sequence: 9, acknowledged: 0, .. })));
        assert!(matches!(run(5, vec![ack("OTHER", 5, false)]), Err(AppendError::SequenceMismatch { index: 0, .. })));
    }

    #[test]
    fn a_lost_ack_is_inferred_from_a_later_one() {
        let result = run(5, vec![err(PublishErrorKind::TimedOut), ack("S", 6, false)]);
        assert_eq!(result.ok().map(|r| r[0].sequence), Some(5));
        let result = run(5, vec![ack("S", 5, false), err(PublishErrorKind::TimedOut), err(PublishErrorKind::TimedOut)]);
        assert!(matches!(result, Err(AppendError::Timeout { index: 1, acknowledged: 1 })));
        let result = run(5, vec![ack("S", 5, false), err(PublishErrorKind::TimedOut), ack("S", 7, false), ack("S", 8, false)]);
        assert_eq!(result.ok().map(|r| r.iter().map(|x| x.sequence).collect::<Vec<_>>()), Some(vec![5, 6, 7, 8]));
        let result = run(5, vec![err(PublishErrorKind::BrokenPipe)]);
        assert!(matches!(result, Err(AppendError::Broker { index: 0, acknowledged: 0, .. })));
    }

    #[test]
    fn a_partial_batch_is_never_ok() {
        let messages: Vec<_> = (0..3).map(|i| message(&format!("m{i}"))).collect();
        let outcomes = vec![Some(classify("S", 5, ack("S", 5, false))), None, None];
        assert!(matches!(settle("S", 5, &messages, outcomes), Err(AppendError::Interrupted { acknowledged: 1, total: 3 })));
    }

    #[test]
    fn a_store_after_a_refusal_is_a_fencing_violation() {
        let result = run(5, vec![err(PublishErrorKind::WrongLastSequence), ack("S", 6, false)]);
        assert!(matches!(result, Err(AppendError::FencingViolated { refused_index: 0, stored_index: 1, sequence: 6, acknowledged: 2 })));
    }
}
