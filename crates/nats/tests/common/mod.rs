//! Shared set-up for the integration tests: a private nats-server per test and
//! message builders.
//!
//! Why per-test servers: tests run in parallel and kill/restart servers; a
//! shared server (let alone the system one on 4222) would couple them.

#![allow(dead_code)]

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use fundledger_nats::{ensure_ledger_streams, event_subject, Broker, EmbeddedNats, EmbeddedOptions, LedgerStreams, OutgoingMessage, ScopeKind, StreamSettings};

/// Bound on any single wait in a test.
pub const TEST_WAIT_TIMEOUT_MS: u64 = 20_000;

/// A fresh server with the ledger `ledger`'s streams.
pub async fn server_with_ledger(ledger: &str) -> anyhow::Result<(EmbeddedNats, Broker, LedgerStreams)> {
    let server = EmbeddedNats::start(EmbeddedOptions::default()).await?;
    assert_ne!(server.port(), 4222, "tests must never use the system nats-server");
    let js = Broker::connect(&server.url()).await?;
    let streams = ensure_ledger_streams(&js, ledger, &StreamSettings::default()).await?;
    Ok((server, js, streams))
}

/// `count` messages with ids `<tag>-<i>`, spread over a few funds and schemes,
/// each payload naming its tag and index.
pub fn messages(ledger: &str, tag: &str, count: usize) -> anyhow::Result<Vec<OutgoingMessage>> {
    (0..count)
        .map(|i| {
            let (kind, id) = match i % 3 {
                0 => (ScopeKind::Scheme, "nias"),
                1 => (ScopeKind::Fund, "f-1"),
                _ => (ScopeKind::Ledger, ledger),
            };
            let event_type = if i % 2 == 0 { "grant.disbursed" } else { "fund.topped_up" };
            Ok(OutgoingMessage {
                subject: event_subject(ledger, kind, id, event_type)?,
                message_id: format!("{tag}-{i}"),
                payload: Bytes::from(format!("{{\"tag\":\"{tag}\",\"i\":{i}}}")),
            })
        })
        .collect()
}

/// Runs `future` with the test bound.
pub async fn bounded<T>(what: &str, future: impl std::future::IntoFuture<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(Duration::from_millis(TEST_WAIT_TIMEOUT_MS), future.into_future())
        .await
        .with_context(|| format!("{what} took longer than {TEST_WAIT_TIMEOUT_MS} ms"))
}

/// The version of the server `js` is connected to (what tests branch on
/// where nats-server releases differ).
pub fn server_version(js: &Broker) -> anyhow::Result<fundledger_nats::ServerVersion> {
    let reported = js.raw_jetstream().client().server_info().version;
    reported.parse().with_context(|| format!("the server reported version {reported:?}"))
}
