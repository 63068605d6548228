//! What replaying a whole ledger stream costs the nats-server and the client,
//! for `read_from` (what verify, export and rebuild use) and for the other
//! consumer forms JetStream offers: wall time and core-seconds on each side.
//! The figures behind docs/PERFORMANCE.md ("Reading the stream back"):
//!
//! ```sh
//! cargo run --release -p fundledger-nats --example replay_modes -- 1000000
//! ```
//!
//! It starts its own nats-server (embedded, temporary directory), appends
//! that many 720-byte messages through the writer's fenced `Appender` (so
//! they carry its headers), then replays them once per mode, each mode doing
//! nothing with a message but count its bytes. (A push consumer without flow
//! control is left out: a reader that falls behind loses messages with it.)

use std::time::Instant;

use anyhow::{bail, Context as _};
use async_nats::jetstream::consumer::{pull, AckPolicy};
use bytes::Bytes;
use fundledger_nats::{process_cpu_time, read_from, Appender, EmbeddedNats, EmbeddedOptions, OutgoingMessage, StreamSettings};
use futures::StreamExt as _;

const PAYLOAD_BYTES: usize = 720;
const APPEND_BATCH: usize = 8192;

/// How a mode reads the stream.
#[derive(Clone, Copy)]
enum Mode {
    /// `fundledger_nats::read_from`: an ordered push consumer with flow control.
    ReadFrom,
    /// A pull consumer fetching batches of this many messages.
    Pull(usize),
    /// async-nats's ordered pull consumer (what `follow_from` uses).
    OrderedPull,
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::ReadFrom => "read_from (ordered push)".to_string(),
            Mode::Pull(batch) => format!("pull, batches of {batch}"),
            Mode::OrderedPull => "ordered pull".to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: u64 = match std::env::args().nth(1) {
        Some(text) => text.parse().with_context(|| format!("the message count {text:?} is not a number"))?,
        None => 1_000_000,
    };
    if count == 0 {
        bail!("the message count must be positive");
    }
    let server = EmbeddedNats::start(EmbeddedOptions::default()).await?;
    let js = fundledger_nats::Broker::connect(&server.url()).await?;
    let streams = fundledger_nats::ensure_ledger_streams(&js, "replay", &StreamSettings::default()).await?;
    let subject = fundledger_nats::event_subject("replay", fundledger_nats::ScopeKind::Ledger, "replay", "nav.reported")?;
    let appender = Appender::new(js.clone(), &streams.events_stream);
    let payload = Bytes::from(vec![b'x'; PAYLOAD_BYTES]);
    let started = Instant::now();
    let mut next = 1u64;
    while next <= count {
        let batch: Vec<OutgoingMessage> = (next..=count.min(next + APPEND_BATCH as u64 - 1))
            .map(|sequence| OutgoingMessage { subject: subject.clone(), message_id: format!("event-{sequence}"), payload: payload.clone() })
            .collect();
        appender.append_batch(next, &batch).await?;
        next += batch.len() as u64;
    }
    println!("appended {count} messages of {PAYLOAD_BYTES} bytes in {:.1} s", started.elapsed().as_secs_f64());
    let stream = js.raw_jetstream().get_stream(&streams.events_stream).await?;
    let server_pid = server.pid().context("the embedded server has no process id")?;
    let cpu = |pid: u32| process_cpu_time(pid).unwrap_or_default();

    for mode in [Mode::ReadFrom, Mode::Pull(500), Mode::Pull(20_000), Mode::OrderedPull] {
        let (wall, own, served) = (Instant::now(), cpu(std::process::id()), cpu(server_pid));
        let mut bytes = 0usize;
        match mode {
            Mode::ReadFrom => {
                let mut messages = read_from(&js, &streams.events_stream, None, 1).await?;
                while let Some(message) = messages.next().await {
                    bytes += message?.payload.len();
                }
            }
            Mode::Pull(batch) => {
                let consumer = stream.create_consumer(pull::Config { ack_policy: AckPolicy::None, ..Default::default() }).await?;
                let mut messages = consumer.stream().max_messages_per_batch(batch).max_bytes_per_batch(batch * 1024).messages().await?;
                for _ in 0..count {
                    bytes += messages.next().await.context("the pull consumer ended")??.payload.len();
                }
            }
            Mode::OrderedPull => {
                let mut messages = stream.create_consumer(pull::OrderedConfig::default()).await?.messages().await?;
                for _ in 0..count {
                    bytes += messages.next().await.context("the ordered consumer ended")??.payload.len();
                }
            }
        }
        let (seconds, client_seconds, server_seconds) =
            (wall.elapsed().as_secs_f64(), cpu(std::process::id()).saturating_sub(own).as_secs_f64(), cpu(server_pid).saturating_sub(served).as_secs_f64());
        if bytes != count as usize * PAYLOAD_BYTES {
            bail!("{}: read {bytes} bytes, expected {}", mode.name(), count as usize * PAYLOAD_BYTES);
        }
        let per_message = |core_seconds: f64| core_seconds * 1e6 / count as f64;
        println!(
            "{:<26} {seconds:6.2} s {:>9.0} msg/s   client {client_seconds:5.2} core-s ({:.2} us/msg)   server {server_seconds:5.2} core-s ({:.2} us/msg)",
            mode.name(),
            count as f64 / seconds,
            per_message(client_seconds),
            per_message(server_seconds)
        );
    }
    Ok(())
}
