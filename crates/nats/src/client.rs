//! Connecting to NATS with the crate's bounded timeouts.
//!
//! Why a helper: every wait in the ledger is bounded. async-nats leaves the
//! initial connect and JetStream API requests to defaults that callers tend to
//! forget; connecting here fixes them to named limits in one place.

use std::time::Duration;

use async_nats::jetstream;

use crate::error::NatsError;

/// Bound on establishing the TCP/NATS connection.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Bound on core request/reply and JetStream API requests.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Bound on waiting for a publish ack (the JetStream context's timeout).
pub const ACK_TIMEOUT_MS: u64 = 10_000;

/// Connects to `url` (a comma-separated list is allowed) with the crate's
/// timeouts; the client reconnects on its own after a server restart.
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
    let addresses = url
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<async_nats::ServerAddr>()
                .map_err(|source| NatsError::InvalidUrl {
                    url: part.to_string(),
                    source,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addresses.is_empty() {
        return Err(NatsError::InvalidUrl {
            url: url.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no server address"),
        });
    }
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
        .request_timeout(Some(Duration::from_millis(REQUEST_TIMEOUT_MS)))
        .connect(addresses)
        .await
        .map_err(|source| NatsError::Connect {
            url: url.to_string(),
            source,
        })
}

/// A JetStream context on `client` whose acks and API requests are bounded by
/// [`ACK_TIMEOUT_MS`].
pub fn jetstream_context(client: async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(Duration::from_millis(ACK_TIMEOUT_MS))
        .build(client)
}

/// [`connect`] followed by [`jetstream_context`].
pub async fn connect_jetstream(url: &str) -> Result<jetstream::Context, NatsError> {
    Ok(jetstream_context(connect(url).await?))
}
