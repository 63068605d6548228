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
///
/// A user and password in the URL (`nats://writer:secret@host:4222`) log in
/// as that user (async-nats itself ignores them). When several URLs carry
/// credentials they must be the same; errors and logs show the URL with the
/// password replaced by `***` (see [`redact_url`]).
pub async fn connect(url: &str) -> Result<async_nats::Client, NatsError> {
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

/// A JetStream context on `client` whose acks and API requests are bounded by
/// [`ACK_TIMEOUT_MS`].
pub fn jetstream_context(client: async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new().timeout(Duration::from_millis(ACK_TIMEOUT_MS)).build(client)
}

/// [`connect`] followed by [`jetstream_context`].
pub async fn connect_jetstream(url: &str) -> Result<jetstream::Context, NatsError> {
    Ok(jetstream_context(connect(url).await?))
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
