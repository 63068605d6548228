//! Connecting to NATS with the crate's bounded timeouts.
//!
//! Why a helper: every wait in the ledger is bounded. async-nats leaves the
//! initial connect and JetStream API requests to defaults that callers tend to
//! forget; connecting here fixes them to named limits in one place.

use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use futures::StreamExt as _;

use crate::error::NatsError;

/// Bound on establishing the TCP/NATS connection.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Bound on core request/reply and JetStream API requests.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Bound on waiting for a publish ack (the JetStream context's timeout).
pub const ACK_TIMEOUT_MS: u64 = 10_000;

/// Connects to `url` (a comma-separated list is allowed) with the crate's
/// timeouts; the client reconnects on its own after a server restart.
///
/// A user and password in the URL (`nats://writer:secret@host:4222`) log in
/// as that user (async-nats itself ignores them). When several URLs carry
/// credentials they must be the same; errors and logs show the URL with the
/// password replaced by `***` (see [`redact_url`]).
pub(crate) async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    let addresses = url
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<async_nats::ServerAddr>().map_err(|source| NatsError::InvalidUrl { url: part.to_string(), source }))
        .collect::<Result<Vec<_>, _>>()?;
    if addresses.is_empty() {
        return Err(NatsError::InvalidUrl { url: redact_url(url), source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no server address") });
    }
    let mut credentials: Option<(String, Option<String>)> = None;
    for address in addresses.iter().filter(|address| address.has_user_pass()) {
        let found = (percent_decode(address.username().unwrap_or_default()), address.password().map(percent_decode));
        match &credentials {
            Some(first) if *first != found => {
                return Err(NatsError::InvalidUrl {
                    url: redact_url(url),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the server URLs carry different users or passwords"),
                })
            }
            _ => credentials = Some(found),
        }
    }
    let mut options = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
        .request_timeout(Some(Duration::from_millis(REQUEST_TIMEOUT_MS)));
    match credentials {
        Some((user, Some(password))) => options = options.user_and_password(user, password),
        // `nats://TOKEN@host`: a token, as nats-server's own URL form has it.
        Some((token, None)) => options = options.token(token),
        None => {}
    }
    options.connect(addresses).await.map_err(|source| NatsError::Connect { url: redact_url(url), source })
}

/// Decodes `%XX` escapes (URL userinfo is percent-encoded); bad escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with every password replaced by `***`, for logs and errors
/// (`nats://writer:***@127.0.0.1:4222`). Parts that do not parse are kept.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|part| {
            let trimmed = part.trim();
            let Some((scheme, rest)) = trimmed.split_once("://") else {
                return trimmed.to_string();
            };
            match rest.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                    None => format!("{scheme}://{userinfo}@{host}"),
                },
                None => trimmed.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A connection to the broker with its JetStream context: what the writer,
/// projector and verifier hold and hand to this crate's functions. The
/// client inside stays in this crate, so no broker type leaks out of it;
/// what callers need from the connection itself is a method here.
#[derive(Clone, Debug)]
pub struct Broker {
    js: jetstream::Context,
}

/// A request received on a subject this process answers ([`Broker::serve_requests`]).
pub struct Request {
    /// The request's bytes.
    pub payload: Bytes,
    reply: Option<async_nats::Subject>,
}

impl Request {
    /// Whether the sender waits for an answer (a plain publish does not).
    pub fn wants_reply(&self) -> bool {
        self.reply.is_some()
    }
}

/// The requests arriving on a subscription, in order ([`Broker::serve_requests`]).
pub struct Requests {
    subject: String,
    subscriber: async_nats::Subscriber,
}

impl Requests {
    /// The next request, or `None` once the subscription is drained or closed. Cancel safe.
    pub async fn next(&mut self) -> Option<Request> {
        self.subscriber.next().await.map(|message| Request { payload: message.payload, reply: message.reply })
    }

    /// Stops receiving new requests; those already delivered are still returned by [`Requests::next`].
    pub async fn drain(&mut self) -> Result<(), NatsError> {
        self.subscriber.drain().await.map_err(|error| NatsError::jetstream(format!("draining the subscription to {}", self.subject), error))
    }
}

impl Broker {
    /// Connects to `url` as `connect` does, with JetStream acks and API
    /// requests bounded by [`ACK_TIMEOUT_MS`].
    pub async fn connect(url: &str) -> Result<Broker, NatsError> {
        Ok(Broker::on(connect(url).await?))
    }

    fn on(client: async_nats::Client) -> Broker {
        Broker { js: jetstream::ContextBuilder::new().timeout(Duration::from_millis(ACK_TIMEOUT_MS)).build(client) }
    }

    pub(crate) fn js(&self) -> &jetstream::Context {
        &self.js
    }

    /// The JetStream context itself, for this crate's tests and examples that
    /// probe the broker below the ledger's API; the ledger's crates do not
    /// depend on async-nats and never call it.
    #[doc(hidden)]
    pub fn raw_jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// `None` while connected; else why not (the client reconnects by itself).
    pub fn disconnected(&self) -> Option<String> {
        match self.js.client().connection_state() {
            async_nats::connection::State::Connected => None,
            state => Some(format!("connection {state}")),
        }
    }

    /// The version the connected server announced.
    pub fn server_version(&self) -> String {
        self.js.client().server_info().version
    }

    /// Sends what is buffered on the connection (acknowledgements, replies).
    pub async fn flush(&self) -> Result<(), NatsError> {
        self.js.client().flush().await.map_err(|error| NatsError::jetstream("flush the connection".to_string(), error))
    }

    /// Sends `payload` as a request on `subject` and waits at most `timeout` for the answer.
    pub async fn request(&self, subject: String, payload: Vec<u8>, timeout: Duration) -> Result<Bytes, NatsError> {
        let operation = || format!("request on {subject}");
        let answer = tokio::time::timeout(timeout, self.js.client().request(subject.clone(), payload.into()))
            .await
            .map_err(|elapsed| NatsError::jetstream(operation(), elapsed))?
            .map_err(|error| NatsError::jetstream(operation(), error))?;
        Ok(answer.payload)
    }

    /// Receives the requests sent to `subject`, shared with the other members of `queue`.
    pub async fn serve_requests(&self, subject: String, queue: &str) -> Result<Requests, NatsError> {
        let subscriber = self
            .js
            .client()
            .queue_subscribe(subject.clone(), queue.to_string())
            .await
            .map_err(|error| NatsError::jetstream(format!("subscribing to {subject}"), error))?;
        Ok(Requests { subject, subscriber })
    }

    /// Answers `request` (nothing if it wants no answer).
    pub async fn reply(&self, request: &Request, payload: Vec<u8>) -> Result<(), NatsError> {
        let Some(reply) = request.reply.clone() else { return Ok(()) };
        self.js.client().publish(reply, payload.into()).await.map_err(|error| NatsError::jetstream("send a reply".to_string(), error))
    }

    /// Publishes `payload` on `subject` into JetStream with message id
    /// `message_id` (de-duplicated within the stream's window) and returns the
    /// sequence it was stored at, waiting at most `timeout` for the ack.
    pub async fn publish_with_id(&self, subject: String, payload: &[u8], message_id: &str, timeout: Duration) -> Result<u64, NatsError> {
        let publish = jetstream::message::PublishMessage::build().payload(payload.to_vec().into()).message_id(message_id);
        let operation = || format!("publish on {subject}");
        let ack = tokio::time::timeout(timeout, async {
            self.js
                .send_publish(subject.clone(), publish)
                .await
                .map_err(|error| NatsError::jetstream(operation(), error))?
                .await
                .map_err(|error| NatsError::jetstream(operation(), error))
        })
        .await
        .map_err(|elapsed| NatsError::jetstream(operation(), elapsed))??;
        Ok(ack.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, redact_url};

    #[test]
    fn userinfo_is_percent_decoded() {
        assert_eq!(percent_decode("a%40b%3Ac"), "a@b:c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(
            redact_url("nats://writer:s3cr:et@127.0.0.1:4222, nats://writer:s3cr:et@h2:4222"),
            "nats://writer:***@127.0.0.1:4222,nats://writer:***@h2:4222"
        );
        assert_eq!(redact_url("nats://token@h:1"), "nats://token@h:1");
    }
}
