//! Reading the ledger stream back: replay, single messages and tailing.
//!
//! Why an ordered consumer: replay, rebuild and verification read the whole
//! log front to back, once, and must see every message in sequence order. An
//! ordered consumer is ephemeral and unacknowledged, which is the fastest way
//! JetStream offers to stream a log, and it re-creates itself from the last
//! sequence it delivered if it sees a gap (a lost message, or one the client
//! dropped because the reader fell behind). A replay uses the push form, with
//! server flow control: on nats-server 2.9 it streams 1.4 to 1.8 times as fast
//! as a pull consumer asking for 500 messages at a time, and costs the server
//! less per message than any pull form (`examples/replay_modes.rs`,
//! docs/PERFORMANCE.md). Following the tail uses the pull form.
//!
//! Why a replay ends at the tail "as of the call": a writer may be appending
//! while a verifier replays; fixing the end point when the replay starts makes
//! it terminate and makes its result well-defined.

use std::time::{Duration, SystemTime};

use async_nats::jetstream::{
    self,
    consumer::{pull::OrderedConfig, push, DeliverPolicy, FromConsumer, IntoConsumerConfig},
    stream::RawMessageErrorKind,
};
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt as _};
use futures::FutureExt as _;

use crate::client::Broker;
use crate::error::NatsError;

/// The header carrying a message's id.
pub const MESSAGE_ID_HEADER: &str = "Nats-Msg-Id";
/// A replay fails if no message arrives for this long while more are due.
pub const REPLAY_IDLE_TIMEOUT_MS: u64 = 30_000;
/// The filter matching every subject.
const ALL_SUBJECTS: &str = ">";
/// Bound on the requests that set up a read (stream info, message lookups).
pub const READ_SETUP_TIMEOUT_MS: u64 = 10_000;
/// Bound on one attempt to create the ordered consumer.
pub const CONSUMER_CREATE_ATTEMPT_TIMEOUT_MS: u64 = 5_000;
/// Attempts to create the ordered consumer before giving up.
pub const CONSUMER_CREATE_ATTEMPTS_MAX: u32 = 4;
/// Pause between those attempts.
const CONSUMER_CREATE_RETRY_PAUSE_MS: u64 = 250;

/// A message as stored in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its stream sequence.
    pub sequence: u64,
    /// Its subject.
    pub subject: String,
    /// Its bytes.
    pub payload: Bytes,
    /// Its `Nats-Msg-Id` header, if it had one.
    pub message_id: Option<String>,
    /// When the server stored it.
    pub published_at: SystemTime,
}

/// A stream of stored messages in sequence order.
pub type MessageStream = BoxStream<'static, Result<StoredMessage, NatsError>>;

/// Replays `stream_name` from `start_sequence` (1 = the beginning; 0 is taken
/// as 1) up to the stream's last sequence as of this call, optionally only the
/// messages matching `filter_subject`, then ends.
///
/// A stall of more than [`REPLAY_IDLE_TIMEOUT_MS`] or a consumer error ends
/// the replay with an error item, so a replay never silently stops short.
pub async fn read_from(broker: &Broker, stream_name: &str, filter_subject: Option<&str>, start_sequence: u64) -> Result<MessageStream, NatsError> {
    let js = broker.js();
    let start_sequence = start_sequence.max(1);
    let stream = get_stream(js, stream_name).await?;
    let target = stream.cached_info().state.last_sequence;
    if target < start_sequence {
        return Ok(stream::empty().boxed());
    }
    // Asked of the stream leader: the consumer may sit on a replica that lags.
    match next_matching(&stream, stream_name, filter_subject, start_sequence).await? {
        Some(sequence) if sequence <= target => {}
        _ => return Ok(stream::empty().boxed()),
    }
    let config = push::OrderedConfig {
        deliver_subject: js.client().new_inbox(),
        filter_subject: filter_subject.unwrap_or_default().to_string(),
        deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
        ..push::OrderedConfig::default()
    };
    let consumer = create_ordered(&stream, stream_name, config).await?;
    let messages = consumer
        .messages()
        .await
        .map_err(|err| NatsError::jetstream(format!("ordered consumer on {stream_name}"), err))?
        .map(|item| item.map_err(|err| err.to_string()))
        .boxed();
    let state = Replay {
        messages,
        handle: stream,
        filter: filter_subject.map(str::to_string),
        stream: stream_name.to_string(),
        target,
        reached: start_sequence - 1,
        done: false,
    };
    Ok(stream::unfold(state, Replay::step).boxed())
}

/// Like [`read_from`] but never ends: after the current tail it keeps
/// delivering messages as they are appended. Consumer errors are yielded as
/// items and the stream continues (the ordered consumer re-creates itself).
pub async fn follow_from(broker: &Broker, stream_name: &str, filter_subject: Option<&str>, start_sequence: u64) -> Result<MessageStream, NatsError> {
    let js = broker.js();
    let start_sequence = start_sequence.max(1);
    let stream = get_stream(js, stream_name).await?;
    let config = OrderedConfig {
        filter_subject: filter_subject.unwrap_or_default().to_string(),
        deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
        ..OrderedConfig::default()
    };
    let consumer = create_ordered(&stream, stream_name, config).await?;
    let messages = consumer.messages().await.map_err(|err| NatsError::jetstream(format!("ordered consumer on {stream_name}"), err))?;
    let stream_name = stream_name.to_string();
    Ok(messages
        .map(move |item| match item {
            Ok(message) => stored_message(&stream_name, &message),
            Err(err) => Err(NatsError::jetstream(format!("following {stream_name}"), err)),
        })
        .boxed())
}

/// The message at `sequence`, or `None` if there is none (beyond the tail).
pub async fn get_message(broker: &Broker, stream_name: &str, sequence: u64) -> Result<Option<StoredMessage>, NatsError> {
    get_message_on(broker.js(), stream_name, sequence).await
}

pub(crate) async fn get_message_on(js: &jetstream::Context, stream_name: &str, sequence: u64) -> Result<Option<StoredMessage>, NatsError> {
    let operation = || format!("get message {sequence} of {stream_name}");
    let stream = js.get_stream_no_info(stream_name).await.map_err(|err| NatsError::jetstream(operation(), err))?;
    let request = stream.get_raw_message(sequence);
    let result =
        tokio::time::timeout(Duration::from_millis(READ_SETUP_TIMEOUT_MS), request).await.map_err(|elapsed| NatsError::jetstream(operation(), elapsed))?;
    match result {
        Ok(message) => Ok(Some(stored_raw(message))),
        Err(err) if err.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
        Err(err) => Err(NatsError::jetstream(operation(), err)),
    }
}

/// A message read directly from the stream (not through a consumer), as stored.
fn stored_raw(message: jetstream::message::StreamMessage) -> StoredMessage {
    StoredMessage {
        sequence: message.sequence,
        subject: message.subject.to_string(),
        payload: message.payload,
        message_id: message.headers.get(MESSAGE_ID_HEADER).map(|value| value.as_str().to_string()),
        published_at: SystemTime::from(message.time),
    }
}

/// The newest message on `subject` in `stream_name`, or `None` if it has none.
pub async fn last_message_on(broker: &Broker, stream_name: &str, subject: &str) -> Result<Option<StoredMessage>, NatsError> {
    let operation = || format!("last message on {subject} in {stream_name}");
    let stream = broker.js().get_stream_no_info(stream_name).await.map_err(|err| NatsError::jetstream(operation(), err))?;
    let request = stream.get_last_raw_message_by_subject(subject);
    let result =
        tokio::time::timeout(Duration::from_millis(READ_SETUP_TIMEOUT_MS), request).await.map_err(|elapsed| NatsError::jetstream(operation(), elapsed))?;
    match result {
        Ok(message) => Ok(Some(stored_raw(message))),
        Err(err) if err.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
        Err(err) => Err(NatsError::jetstream(operation(), err)),
    }
}

/// The stream's last sequence and the bytes it stores at `sequence` (none
/// when it is shorter or the message is gone): what a service compares with a
/// record it saw acknowledged, to notice a stream that went backward.
pub async fn tail_and_message_at(broker: &Broker, stream_name: &str, sequence: u64) -> Result<(u64, Option<Bytes>), NatsError> {
    let last = crate::append::last_sequence(broker, stream_name).await?;
    if sequence == 0 || sequence > last {
        return Ok((last, None));
    }
    let stored = get_message(broker, stream_name, sequence).await?;
    Ok((last, stored.map(|message| message.payload)))
}

/// The sequence of the first message at or after `from` matching `filter`
/// (all messages if `None`), as the stream leader knows it.
async fn next_matching(stream: &jetstream::stream::Stream, stream_name: &str, filter: Option<&str>, from: u64) -> Result<Option<u64>, NatsError> {
    let operation = || format!("find the next message of {stream_name} from {from}");
    let request = stream.raw_message_builder().sequence(from).next_by_subject(filter.unwrap_or(ALL_SUBJECTS)).send();
    let result =
        tokio::time::timeout(Duration::from_millis(READ_SETUP_TIMEOUT_MS), request).await.map_err(|elapsed| NatsError::jetstream(operation(), elapsed))?;
    match result {
        Ok(message) => Ok(Some(message.sequence)),
        Err(err) if err.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
        Err(err) => Err(NatsError::jetstream(operation(), err)),
    }
}

async fn get_stream(js: &jetstream::Context, stream_name: &str) -> Result<jetstream::stream::Stream, NatsError> {
    let operation = || format!("stream info for {stream_name}");
    tokio::time::timeout(Duration::from_millis(READ_SETUP_TIMEOUT_MS), js.get_stream(stream_name))
        .await
        .map_err(|elapsed| NatsError::jetstream(operation(), elapsed))?
        .map_err(|err| NatsError::jetstream(operation(), err))
}

async fn create_ordered<C>(stream: &jetstream::stream::Stream, stream_name: &str, config: C) -> Result<jetstream::consumer::Consumer<C>, NatsError>
where
    C: IntoConsumerConfig + FromConsumer + Clone,
{
    let operation = || format!("create ordered consumer on {stream_name}");
    // Creating a consumer needs the cluster's meta leader, which is briefly
    // missing after a node fails or rejoins: retry a few times.
    let mut attempt = 1;
    loop {
        let result = tokio::time::timeout(Duration::from_millis(CONSUMER_CREATE_ATTEMPT_TIMEOUT_MS), stream.create_consumer(config.clone())).await;
        let error = match result {
            Ok(Ok(consumer)) => return Ok(consumer),
            Ok(Err(err)) => NatsError::jetstream(operation(), err),
            Err(elapsed) => NatsError::jetstream(operation(), elapsed),
        };
        if attempt >= CONSUMER_CREATE_ATTEMPTS_MAX {
            return Err(error);
        }
        tracing::warn!(attempt, error = %error, "creating an ordered consumer failed; retrying");
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(CONSUMER_CREATE_RETRY_PAUSE_MS)).await;
    }
}

fn stored_message(stream_name: &str, message: &jetstream::Message) -> Result<StoredMessage, NatsError> {
    let info = message.info().map_err(|err| NatsError::MalformedMessage { stream: stream_name.to_string(), detail: err.to_string() })?;
    Ok(stored_with_info(message, &info))
}

/// The stored message, given its already parsed `info` (parsing it is a
/// good part of a replay's client-side cost).
fn stored_with_info(message: &jetstream::Message, info: &jetstream::message::Info<'_>) -> StoredMessage {
    StoredMessage {
        sequence: info.stream_sequence,
        subject: message.subject.to_string(),
        payload: message.payload.clone(),
        message_id: message.headers.as_ref().and_then(|headers| headers.get(MESSAGE_ID_HEADER)).map(|value| value.as_str().to_string()),
        published_at: SystemTime::from(info.published),
    }
}

/// State of a terminating replay.
struct Replay {
    messages: BoxStream<'static, Result<jetstream::Message, String>>,
    /// The stream, for asking its leader what is left.
    handle: jetstream::stream::Stream,
    filter: Option<String>,
    stream: String,
    /// The last sequence to deliver.
    target: u64,
    /// The last sequence delivered (or start - 1).
    reached: u64,
    done: bool,
}

impl Replay {
    async fn step(mut self) -> Option<(Result<StoredMessage, NatsError>, Replay)> {
        if self.done {
            return None;
        }
        // Most messages are already buffered: take them without arming the idle timer.
        let next = match self.messages.next().now_or_never() {
            Some(next) => Ok(next),
            None => tokio::time::timeout(Duration::from_millis(REPLAY_IDLE_TIMEOUT_MS), self.messages.next()).await,
        };
        let message = match next {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(err))) => return Some(self.fail(err)),
            Ok(None) => return Some(self.fail("the consumer ended".to_string())),
            Err(_) => return Some(self.fail(format!("no message for {REPLAY_IDLE_TIMEOUT_MS} ms"))),
        };
        let (pending, stored) = match message.info() {
            Ok(info) => (info.pending, stored_with_info(&message, &info)),
            Err(err) => {
                self.done = true;
                let error = NatsError::MalformedMessage { stream: self.stream.clone(), detail: err.to_string() };
                return Some((Err(error), self));
            }
        };
        if stored.sequence > self.target {
            // The next matching message was appended after the replay began.
            return None;
        }
        self.reached = stored.sequence;
        self.done = stored.sequence >= self.target;
        if !self.done && pending == 0 {
            // The consumer sees nothing more matching, but it may sit on a
            // replica that lags: ask the stream leader whether anything
            // matching is left up to the target.
            let next = next_matching(&self.handle, &self.stream, self.filter.as_deref(), stored.sequence + 1).await;
            match next {
                Ok(Some(sequence)) if sequence <= self.target => {}
                Ok(_) => self.done = true,
                Err(err) => {
                    self.done = true;
                    return Some((Err(err), self));
                }
            }
        }
        Some((Ok(stored), self))
    }

    fn fail(mut self, detail: String) -> (Result<StoredMessage, NatsError>, Replay) {
        self.done = true;
        let error = NatsError::ReplayIncomplete { stream: self.stream.clone(), reached: self.reached, target: self.target, detail };
        (Err(error), self)
    }
}
