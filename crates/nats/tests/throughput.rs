//! Measures fenced `append_batch` against raw pipelined JetStream publishes of
//! the same bytes on an embedded server. Ignored by default (it measures, it
//! does not check); run with
//! `cargo test -p fundledger-nats --release --test throughput -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use bytes::Bytes;
use fundledger_nats::{
    ensure_ledger_streams, event_subject, raw_publish_batch, Appender, Broker, EmbeddedNats, EmbeddedOptions, OutgoingMessage, ScopeKind, StreamSettings,
};

const MESSAGES: usize = 100_000;
const PAYLOAD_BYTES: usize = 700;
const ROUNDS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: prints figures"]
async fn append_batch_versus_raw_publish() -> anyhow::Result<()> {
    let server = EmbeddedNats::start(EmbeddedOptions::default()).await?;
    let js = Broker::connect(&server.url()).await?;
    let payload = |i: usize| {
        let mut bytes = format!("{{\"i\":{i},\"pad\":\"").into_bytes();
        bytes.resize(PAYLOAD_BYTES - 2, b'x');
        bytes.extend_from_slice(b"\"}");
        Bytes::from(bytes)
    };
    let mut best_raw = f64::MAX;
    let mut best_append = f64::MAX;
    for round in 0..ROUNDS {
        let raw_ledger = format!("raw{round}");
        let fenced_ledger = format!("fenced{round}");
        ensure_ledger_streams(&js, &raw_ledger, &StreamSettings::default()).await?;
        let streams = ensure_ledger_streams(&js, &fenced_ledger, &StreamSettings::default()).await?;
        let raw_subject = event_subject(&raw_ledger, ScopeKind::Scheme, "nias", "grant.disbursed")?;
        let subject = event_subject(&fenced_ledger, ScopeKind::Scheme, "nias", "grant.disbursed")?;
        let payloads: Vec<Bytes> = (0..MESSAGES).map(payload).collect();
        let messages: Vec<OutgoingMessage> = payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| OutgoingMessage { subject: subject.clone(), message_id: format!("rec-{i:016x}"), payload: payload.clone() })
            .collect();

        let started = Instant::now();
        let receipts = raw_publish_batch(&js, &raw_subject, &payloads).await?;
        let raw = started.elapsed().as_secs_f64();
        assert_eq!(receipts.len(), MESSAGES);

        let appender = Appender::new(js.clone(), &streams.events_stream);
        let started = Instant::now();
        let receipts = appender.append_batch(1, &messages).await?;
        let fenced = started.elapsed().as_secs_f64();
        assert_eq!(receipts.len(), MESSAGES);
        eprintln!("round {round}: raw {:.0} msg/s, append_batch {:.0} msg/s", MESSAGES as f64 / raw, MESSAGES as f64 / fenced);
        best_raw = best_raw.min(raw);
        best_append = best_append.min(fenced);
    }
    let raw_rate = MESSAGES as f64 / best_raw;
    let append_rate = MESSAGES as f64 / best_append;
    eprintln!(
        "{MESSAGES} x {PAYLOAD_BYTES} B, best of {ROUNDS}: raw_publish_batch {raw_rate:.0} msg/s \
         ({:.1} MB/s), append_batch {append_rate:.0} msg/s ({:.1} MB/s), ratio {:.2}",
        raw_rate * PAYLOAD_BYTES as f64 / 1e6,
        append_rate * PAYLOAD_BYTES as f64 / 1e6,
        append_rate / raw_rate
    );
    Ok(())
}
