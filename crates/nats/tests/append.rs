//! Fenced, pipelined appends against a real nats-server: ordering, headers,
//! fencing, duplicates, racing writers, and reading back.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage as Publish};
use bytes::Bytes;
use common::{bounded, messages, server_version, server_with_ledger};
use fundledger_nats::{get_message, read_from, AppendError, AppendMode, Appender, Broker, OutgoingMessage, PublishReceipt, StoredMessage};
use futures::{StreamExt as _, TryStreamExt as _};

async fn read_all(js: &Broker, stream: &str, filter: Option<&str>, start: u64) -> anyhow::Result<Vec<StoredMessage>> {
    let replay = read_from(js, stream, filter, start).await?;
    bounded("replay", replay.try_collect::<Vec<_>>()).await?.map_err(Into::into)
}

#[tokio::test]
async fn ten_thousand_messages_land_in_order_with_their_headers() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let appender = Appender::new(js.clone(), &streams.events_stream);
    assert_eq!(appender.last_sequence().await?, 0);
    let batch = messages("hk", "a", 10_000)?;
    let receipts = bounded("append", appender.append_batch(1, &batch)).await??;
    let expected: Vec<PublishReceipt> = (1..=10_000).map(|sequence| PublishReceipt { sequence, duplicate: false }).collect();
    assert_eq!(receipts, expected);
    assert_eq!(appender.last_sequence().await?, 10_000);

    // Each message carries its fencing headers.
    let stream = js.raw_jetstream().get_stream(&streams.events_stream).await?;
    for sequence in [1u64, 2, 4_097, 10_000] {
        let raw = stream.get_raw_message(sequence).await?;
        let header = |name: &str| raw.headers.get(name).map(|v| v.as_str().to_string());
        let index = (sequence - 1) as usize;
        assert_eq!(header("Nats-Msg-Id"), Some(format!("a-{index}")));
        assert_eq!(header("Nats-Expected-Last-Sequence"), Some((sequence - 1).to_string()));
        assert_eq!(header("Nats-Expected-Stream"), Some(streams.events_stream.clone()));
        let previous = index.checked_sub(1).map(|p| format!("a-{p}"));
        assert_eq!(header("Nats-Expected-Last-Msg-Id"), previous);
        assert_eq!(raw.subject.as_str(), batch[index].subject);
        assert_eq!(raw.payload, batch[index].payload);
    }

    // The replay returns exactly what was appended.
    let replayed = read_all(&js, &streams.events_stream, None, 1).await?;
    assert_eq!(replayed.len(), batch.len());
    for (i, (stored, sent)) in replayed.iter().zip(&batch).enumerate() {
        assert_eq!(stored.sequence, i as u64 + 1);
        assert_eq!(stored.subject, sent.subject);
        assert_eq!(stored.payload, sent.payload);
        assert_eq!(stored.message_id.as_deref(), Some(sent.message_id.as_str()));
    }
    Ok(())
}

#[tokio::test]
async fn a_stale_or_future_first_sequence_is_fenced_and_appends_nothing() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let appender = Appender::new(js, &streams.events_stream);
    appender.append_batch(1, &messages("hk", "a", 5)?).await?;

    for (first, tag) in [(3u64, "stale"), (1, "genesis"), (7, "gap")] {
        let batch = messages("hk", tag, 3)?;
        match appender.append_batch(first, &batch).await {
            Err(err @ AppendError::Fenced { .. }) => {
                let AppendError::Fenced { index, expected_last_sequence, acknowledged, .. } = &err else { unreachable!() };
                assert_eq!((*index, *expected_last_sequence, *acknowledged), (0, first - 1, 0));
                assert!(err.is_fenced() && !err.outcome_unknown());
            }
            other => panic!("first_sequence {first}: expected Fenced, got {other:?}"),
        }
        assert_eq!(appender.last_sequence().await?, 5, "nothing may land ({tag})");
    }
    // The right sequence still works.
    let receipts = appender.append_batch(6, &messages("hk", "b", 2)?).await?;
    assert_eq!(receipts.iter().map(|r| r.sequence).collect::<Vec<_>>(), vec![6, 7]);
    Ok(())
}

#[tokio::test]
async fn a_message_id_already_in_the_window_is_a_duplicate() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let appender = Appender::new(js.clone(), &streams.events_stream);
    let first = messages("hk", "a", 3)?;
    appender.append_batch(1, &first).await?;

    // A new message, then one reusing a-1 (stored at 2), then another new one.
    let mut batch = messages("hk", "b", 3)?;
    batch[1].message_id = "a-1".into();
    match appender.append_batch(4, &batch).await {
        Err(AppendError::Duplicate { index, sequence, expected_sequence, acknowledged, message_id }) => {
            assert_eq!((index, sequence, expected_sequence, acknowledged), (1, 2, 5, 1));
            assert_eq!(message_id, "a-1");
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }
    assert_eq!(appender.last_sequence().await?, 4, "only the message before the duplicate lands");
    let stored = get_message(&js, &streams.events_stream, 4).await?;
    assert_eq!(stored.and_then(|m| m.message_id), Some("b-0".to_string()));

    // Retrying the first batch where it landed stores nothing either way,
    // but how the server says so depends on its release.
    let version = server_version(&js)?;
    let retried = appender.append_batch(1, &first).await;
    if version.checks_last_sequence_before_duplicates() {
        // 2.12 on: the first message expects an empty stream, which ends at 4.
        match retried {
            Err(AppendError::Fenced { index: 0, expected_last_sequence: 0, acknowledged: 0, detail }) => {
                assert!(detail.contains("wrong last sequence"), "{version}: {detail}")
            }
            other => panic!("{version}: expected Fenced at message 0, got {other:?}"),
        }
    } else {
        // 2.9 to 2.11: every id is recognised at exactly the expected sequence.
        assert_eq!(retried?, (1..=3).map(|sequence| PublishReceipt { sequence, duplicate: true }).collect::<Vec<_>>(), "{version}");
    }
    assert_eq!(appender.last_sequence().await?, 4);
    Ok(())
}

#[tokio::test]
async fn get_message_finds_stored_messages_and_nothing_beyond_the_tail() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let appender = Appender::new(js.clone(), &streams.events_stream);
    let batch = messages("hk", "a", 3)?;
    appender.append_batch(1, &batch).await?;
    let second = get_message(&js, &streams.events_stream, 2).await?;
    let second = second.ok_or_else(|| anyhow::anyhow!("message 2 missing"))?;
    assert_eq!((second.sequence, second.payload.clone()), (2, batch[1].payload.clone()));
    assert_eq!(second.message_id.as_deref(), Some("a-1"));
    assert!(get_message(&js, &streams.events_stream, 4).await?.is_none());
    Ok(())
}

/// What a racing writer managed: the ids it sent and how many of them landed.
fn landed(batch: &[OutgoingMessage], result: &Result<Vec<PublishReceipt>, AppendError>) -> Vec<String> {
    let count = match result {
        Ok(receipts) => receipts.len(),
        Err(err) => err.acknowledged(),
    };
    batch[..count].iter().map(|m| m.message_id.clone()).collect()
}

#[tokio::test]
async fn racing_appenders_never_both_win_a_sequence() -> anyhow::Result<()> {
    const ROUNDS: usize = 10;
    const BATCH: usize = 2_000;
    let (server, js, streams) = server_with_ledger("hk").await?;
    // Separate connections, as two writer processes would have.
    let js_b = Broker::connect(&server.url()).await?;
    let a = Appender::new(js.clone(), &streams.events_stream);
    let b = Appender::new(js_b, &streams.events_stream);
    let mut expected_ids: Vec<String> = Vec::new();

    for round in 0..ROUNDS {
        let batch_a = messages("hk", &format!("a{round}"), BATCH)?;
        let batch_b = messages("hk", &format!("b{round}"), BATCH)?;
        let tail = a.last_sequence().await?;
        // Both predict the same next sequence and start together.
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let (ba, bb) = (barrier.clone(), barrier);
        let fa = async {
            ba.wait().await;
            a.append_batch(tail + 1, &batch_a).await
        };
        let fb = async {
            bb.wait().await;
            b.append_batch(tail + 1, &batch_b).await
        };
        let (result_a, result_b) = bounded("race", futures::future::join(fa, fb)).await?;
        for (name, result) in [("a", &result_a), ("b", &result_b)] {
            if let Err(err) = result {
                assert!(err.is_fenced(), "round {round}: writer {name} failed with {err}");
            }
        }
        assert!(result_a.is_err() || result_b.is_err(), "round {round}: both writers claim sequence {}", tail + 1);
        let ids_a = landed(&batch_a, &result_a);
        let ids_b = landed(&batch_b, &result_b);
        // Whatever landed is one writer's prefix followed by the other's.
        let stored = read_all(&js, &streams.events_stream, None, tail + 1).await?;
        let stored_ids: Vec<String> = stored.iter().filter_map(|m| m.message_id.clone()).collect();
        assert_eq!(stored.len(), ids_a.len() + ids_b.len(), "round {round}");
        let a_first = [ids_a.clone(), ids_b.clone()].concat();
        let b_first = [ids_b.clone(), ids_a.clone()].concat();
        assert!(stored_ids == a_first || stored_ids == b_first, "round {round}: the stream interleaves the writers");
        for (offset, message) in stored.iter().enumerate() {
            assert_eq!(message.sequence, tail + 1 + offset as u64, "round {round}: gap");
        }
        // Every receipt names the sequence its message is stored at.
        let position: HashMap<&str, u64> = stored.iter().filter_map(|m| m.message_id.as_deref().map(|id| (id, m.sequence))).collect();
        for (batch, result) in [(&batch_a, &result_a), (&batch_b, &result_b)] {
            if let Ok(receipts) = result {
                for (message, receipt) in batch.iter().zip(receipts) {
                    assert_eq!(position.get(message.message_id.as_str()), Some(&receipt.sequence));
                }
            }
        }
        expected_ids.extend(stored_ids);
    }
    // The whole stream is contiguous, and no id appears twice.
    let all = read_all(&js, &streams.events_stream, None, 1).await?;
    assert_eq!(all.len(), expected_ids.len());
    let mut seen = HashMap::new();
    for message in &all {
        let id = message.message_id.clone().unwrap_or_default();
        assert!(seen.insert(id, message.sequence).is_none(), "duplicate id in the stream");
    }
    Ok(())
}

#[tokio::test]
async fn a_writer_cutting_in_mid_batch_fences_the_rest_of_the_batch() -> anyhow::Result<()> {
    const BATCH: usize = 2_000;
    const CUT_IN_AFTER: u64 = 50;
    const ATTEMPTS_MAX: usize = 5;
    let (server, js, streams) = server_with_ledger("hk").await?;
    // A waits for each ack before its next send, so B can get in between.
    let a = Appender::new(js.clone(), &streams.events_stream).with_in_flight_max(1);
    let b = Appender::new(Broker::connect(&server.url()).await?, &streams.events_stream);
    for attempt in 0..ATTEMPTS_MAX {
        let tail = a.last_sequence().await?;
        let batch_a = messages("hk", &format!("a{attempt}"), BATCH)?;
        let rivals = messages("hk", &format!("b{attempt}"), BATCH)?;
        let fa = a.append_batch(tail + 1, &batch_a);
        // B appends single messages at the tail it sees until one lands.
        let fb = async {
            let mut tries = 0usize;
            loop {
                let seen = b.last_sequence().await?;
                if seen < tail + CUT_IN_AFTER {
                    continue;
                }
                match b.append_batch(seen + 1, &rivals[tries..=tries]).await {
                    Ok(receipts) => return anyhow::Ok((tries, receipts[0].sequence)),
                    Err(err) if err.is_fenced() && tries + 1 < BATCH => tries += 1,
                    Err(err) => return Err(err.into()),
                }
            }
        };
        let (result_a, landed_b) = bounded("cut-in", futures::future::join(fa, fb)).await?;
        let (b_index, b_sequence) = landed_b?;
        let stored = read_all(&js, &streams.events_stream, None, tail + 1).await?;
        let ids: Vec<String> = stored.iter().filter_map(|m| m.message_id.clone()).collect();
        match result_a {
            Err(AppendError::Fenced { index, acknowledged, expected_last_sequence, .. }) => {
                // A's first `acknowledged` messages, then B's, and nothing else of A.
                assert_eq!(index, acknowledged);
                assert!(acknowledged as u64 >= CUT_IN_AFTER);
                assert_eq!(expected_last_sequence, tail + acknowledged as u64);
                assert_eq!(b_sequence, tail + acknowledged as u64 + 1);
                let mut expected: Vec<String> = batch_a[..acknowledged].iter().map(|m| m.message_id.clone()).collect();
                expected.push(rivals[b_index].message_id.clone());
                assert_eq!(ids, expected);
                assert_eq!(a.last_sequence().await?, b_sequence);
                return Ok(());
            }
            Ok(receipts) => {
                // B only got in after A had finished: try again.
                assert_eq!(receipts.len(), BATCH);
                assert_eq!(b_sequence, tail + BATCH as u64 + 1);
                assert_eq!(ids.len(), BATCH + 1);
            }
            Err(other) => panic!("A failed with {other}"),
        }
    }
    panic!("B never cut into A's batch in {ATTEMPTS_MAX} attempts");
}

#[tokio::test]
async fn read_from_filters_and_stops_at_the_tail_of_the_call() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let appender = Appender::new(js.clone(), &streams.events_stream);
    let batch = messages("hk", "a", 300)?;
    appender.append_batch(1, &batch).await?;
    let name = &streams.events_stream;

    // By scheme, by type, from a start sequence.
    let scheme = read_all(&js, name, Some("fl.hk.ev.scheme.nias.>"), 1).await?;
    assert_eq!(scheme.len(), 100);
    assert!(scheme.iter().all(|m| m.subject.starts_with("fl.hk.ev.scheme.nias.")));
    let typed = read_all(&js, name, Some("fl.hk.ev.*.*.grant.disbursed"), 1).await?;
    assert_eq!(typed.len(), 150);
    assert!(typed.windows(2).all(|w| w[0].sequence < w[1].sequence));
    let tail = read_all(&js, name, None, 291).await?;
    assert_eq!(tail.iter().map(|m| m.sequence).collect::<Vec<_>>(), (291..=300).collect::<Vec<_>>());
    // Nothing matches / nothing left: the replay ends at once.
    assert!(read_all(&js, name, Some("fl.hk.ev.fund.nobody.>"), 1).await?.is_empty());
    assert!(read_all(&js, name, None, 301).await?.is_empty());
    // A filter whose last match is before the tail still ends.
    let early = read_all(&js, name, Some("fl.hk.ev.scheme.nias.>"), 298).await?;
    assert_eq!(early.iter().map(|m| m.sequence).collect::<Vec<_>>(), vec![298]);

    // Appends during a replay do not extend it.
    let replay = read_from(&js, name, None, 1).await?;
    appender.append_batch(301, &messages("hk", "late", 50)?).await?;
    let replayed: Vec<_> = bounded("replay", replay.try_collect::<Vec<_>>()).await??;
    assert_eq!(replayed.len(), 300);
    Ok(())
}

#[tokio::test]
async fn follow_from_delivers_the_backlog_then_new_appends() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let appender = Appender::new(js.clone(), &streams.events_stream);
    appender.append_batch(1, &messages("hk", "a", 10)?).await?;
    let mut follow = fundledger_nats::follow_from(&js, &streams.events_stream, Some("fl.hk.ev.>"), 6).await?;
    let mut sequences = Vec::new();
    while sequences.len() < 5 {
        let next = bounded("backlog", follow.next()).await?;
        sequences.push(next.ok_or_else(|| anyhow::anyhow!("ended"))??.sequence);
    }
    appender.append_batch(11, &messages("hk", "b", 3)?).await?;
    while sequences.len() < 8 {
        let next = bounded("new message", follow.next()).await?;
        sequences.push(next.ok_or_else(|| anyhow::anyhow!("ended"))??.sequence);
    }
    assert_eq!(sequences, (6..=13).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn raw_publish_batch_stores_payloads_in_order() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let payloads: Vec<Bytes> = (0..1_000).map(|i| Bytes::from(format!("p{i}"))).collect();
    let receipts = bounded("raw", fundledger_nats::raw_publish_batch(&js, "fl.hk.ev.fund.f.raw.test", &payloads)).await??;
    assert_eq!(receipts.iter().map(|r| r.sequence).collect::<Vec<_>>(), (1..=1_000).collect::<Vec<_>>());
    let stored = read_all(&js, &streams.events_stream, None, 1).await?;
    assert_eq!(stored.iter().map(|m| m.payload.clone()).collect::<Vec<_>>(), payloads);
    assert!(stored.iter().all(|m| m.message_id.is_none()));
    Ok(())
}

/// Pins down the nats-server behaviour the fencing relies on, so a server
/// upgrade that changes it fails here rather than in production.
#[tokio::test]
async fn the_server_enforces_what_the_fencing_relies_on() -> anyhow::Result<()> {
    let (_server, js, _) = server_with_ledger("hk").await?;
    let version = server_version(&js)?;
    let subject = "fl.hk.ev.fund.f.test.event";
    let publish = |p: Publish| {
        let js = js.clone();
        async move { js.raw_jetstream().send_publish(subject, p).await?.await }
    };
    let body = || Publish::build().payload(Bytes::from_static(b"x"));
    // An expected last sequence of 0 is checked, not ignored.
    assert_eq!(publish(body().expected_last_sequence(0).message_id("m1")).await?.sequence, 1);
    let err = publish(body().expected_last_sequence(0).message_id("m2")).await;
    assert!(matches!(err.map_err(|e| e.kind()), Err(PublishErrorKind::WrongLastSequence)));
    // A stored id whose expected last sequence holds is a duplicate, not stored again.
    let dup = publish(body().expected_last_sequence(1).message_id("m1")).await?;
    assert!(dup.duplicate && dup.sequence == 1, "{version}: {dup:?}");
    // A stored id published again with its old expectation: before 2.12 the
    // duplicate window comes first; from 2.12 on the expected last sequence does.
    let again = publish(body().expected_last_sequence(0).message_id("m1")).await;
    if version.checks_last_sequence_before_duplicates() {
        assert!(matches!(again.map_err(|e| e.kind()), Err(PublishErrorKind::WrongLastSequence)), "{version}");
    } else {
        let dup = again?;
        assert!(dup.duplicate && dup.sequence == 1, "{version}: {dup:?}");
    }
    // The duplicate window comes before the expected last message id on both.
    let dup = publish(body().expected_last_message_id("zz").message_id("m1")).await?;
    assert!(dup.duplicate && dup.sequence == 1, "{version}: {dup:?}");
    // The last message id is compared.
    let err = publish(body().expected_last_sequence(1).expected_last_message_id("zz").message_id("m3")).await;
    assert!(matches!(err.map_err(|e| e.kind()), Err(PublishErrorKind::WrongLastMessageId)));
    assert_eq!(publish(body().expected_last_sequence(1).expected_last_message_id("m1").message_id("m3")).await?.sequence, 2);
    Ok(())
}

/// A whole-stream replay is pushed by the server (an ordered push consumer):
/// a reader that stops taking messages for a while, with more pending than
/// the client buffers, still gets every message once, in order (flow control
/// holds the server back; a message the client dropped makes the ordered
/// consumer re-create itself after the last one delivered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_survives_a_reader_that_pauses() -> anyhow::Result<()> {
    const MESSAGES: usize = 80_000; // more than async-nats buffers per subscription (65,536)
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let appender = Appender::new(js.clone(), &streams.events_stream);
    let all = messages("hk", "p", MESSAGES)?;
    for (index, chunk) in all.chunks(4096).enumerate() {
        appender.append_batch(1 + (index * 4096) as u64, chunk).await?;
    }
    let mut replay = read_from(&js, &streams.events_stream, None, 1).await?;
    let first = bounded("first message", replay.next()).await?.ok_or_else(|| anyhow::anyhow!("ended"))??;
    assert_eq!(first.sequence, 1);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let rest: Vec<_> = bounded("the rest", replay.try_collect::<Vec<_>>()).await??;
    assert_eq!(rest.len(), MESSAGES - 1);
    assert!(rest.iter().zip(2u64..).all(|(message, sequence)| message.sequence == sequence), "every message once, in order");
    Ok(())
}

/// On a server with atomic batch publish the ledger stream allows it and an
/// appender for it writes atomic batches; on an older one, pipelined-fenced.
#[tokio::test]
async fn the_appender_picks_the_mode_the_server_and_stream_allow() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    let supported = fundledger_nats::server_supports_atomic_publish(&js);
    assert_eq!(streams.atomic_publish, supported);
    assert_eq!(streams.events_info.config.allow_atomic_publish, supported);
    let appender = Appender::for_stream(js, &streams.events_info);
    let expected = if supported { AppendMode::Atomic } else { AppendMode::PipelinedFenced };
    assert_eq!(appender.mode(), expected);
    Ok(())
}

/// An event stream created before atomic batches were used gets
/// `allow_atomic` on a server that supports it; nothing else changes.
#[tokio::test]
async fn an_existing_stream_is_given_allow_atomic_where_the_server_supports_it() -> anyhow::Result<()> {
    let server = fundledger_nats::EmbeddedNats::start(fundledger_nats::EmbeddedOptions::default()).await?;
    let js = Broker::connect(&server.url()).await?;
    let old = fundledger_nats::streams::ledger_stream_config(
        fundledger_nats::stream_name("hk")?,
        vec![fundledger_nats::ledger_events_filter("hk")?],
        "fundledger events of ledger hk".to_string(),
        &fundledger_nats::StreamSettings::default(),
    );
    js.raw_jetstream().create_stream(old).await?;
    let streams = fundledger_nats::ensure_ledger_streams(&js, "hk", &fundledger_nats::StreamSettings::default()).await?;
    assert!(!streams.events_created);
    assert_eq!(streams.atomic_publish, fundledger_nats::server_supports_atomic_publish(&js));
    let info = js.raw_jetstream().get_stream(&streams.events_stream).await?.cached_info().clone();
    assert_eq!(info.config.allow_atomic_publish, streams.atomic_publish);
    assert!(info.config.deny_delete && info.config.deny_purge);
    Ok(())
}

/// Atomic mode: a batch larger than the server's atomic limit lands whole, in
/// order, with its ids; a stale batch, a batch holding an id already stored,
/// and a batch continuing a message id that is not the tail land not at all.
#[tokio::test]
async fn atomic_batches_land_whole_right_behind_their_tail_or_not_at_all() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    if !streams.atomic_publish {
        eprintln!("skipped: the server has no atomic batch publish");
        return Ok(());
    }
    let appender = Appender::for_stream(js.clone(), &streams.events_info);
    assert_eq!(appender.mode(), AppendMode::Atomic);
    const COUNT: usize = 2 * fundledger_nats::ATOMIC_BATCH_MESSAGES_MAX + 500;
    let batch = messages("hk", "a", COUNT)?;
    let receipts = bounded("atomic append", appender.append_batch(1, &batch)).await??;
    assert_eq!(receipts.iter().map(|r| r.sequence).collect::<Vec<_>>(), (1..=COUNT as u64).collect::<Vec<_>>());
    let replayed = read_all(&js, &streams.events_stream, None, 1).await?;
    assert_eq!(replayed.len(), COUNT);
    for (stored, sent) in replayed.iter().zip(&batch) {
        assert_eq!(stored.message_id.as_deref(), Some(sent.message_id.as_str()));
        assert_eq!((&stored.subject, &stored.payload), (&sent.subject, &sent.payload));
    }
    let tail = COUNT as u64;

    // Stale: fenced at its first message, nothing stored.
    match appender.append_batch(tail, &messages("hk", "stale", 3)?).await {
        Err(AppendError::Fenced { index: 0, acknowledged: 0, .. }) => {}
        other => panic!("expected Fenced, got {other:?}"),
    }
    // One id already stored: the whole atomic batch is refused.
    let mut duplicate = messages("hk", "d", 3)?;
    duplicate[2].message_id = "a-7".into();
    match appender.append_batch(tail + 1, &duplicate).await {
        Err(AppendError::DuplicateBatch { index: 0, end: 3, acknowledged: 0, .. }) => {}
        other => panic!("expected DuplicateBatch, got {other:?}"),
    }
    // Continuing a message id that is not the stream's last: nothing is sent.
    let fresh = Appender::for_stream(js.clone(), &streams.events_info);
    match fresh.append_batch_after(tail + 1, Some("a-7"), &messages("hk", "c", 2)?, None).await {
        Err(AppendError::Fenced { index: 0, acknowledged: 0, .. }) => {}
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert_eq!(appender.last_sequence().await?, tail, "nothing of the refused batches landed");
    // Continuing the real last id (looked up by a fresh appender) works.
    let last_id = batch[COUNT - 1].message_id.clone();
    let receipts = fresh.append_batch_after(tail + 1, Some(&last_id), &messages("hk", "c", 2)?, None).await?;
    assert_eq!(receipts.iter().map(|r| r.sequence).collect::<Vec<_>>(), vec![tail + 1, tail + 2]);
    Ok(())
}

/// Two atomic appenders racing from the same tail: exactly one batch lands,
/// whole; the other is fenced and stores nothing.
#[tokio::test]
async fn racing_atomic_appenders_never_interleave() -> anyhow::Result<()> {
    let (server, js, streams) = server_with_ledger("hk").await?;
    if !streams.atomic_publish {
        eprintln!("skipped: the server has no atomic batch publish");
        return Ok(());
    }
    let a = Appender::for_stream(js.clone(), &streams.events_info);
    let b = Appender::for_stream(Broker::connect(&server.url()).await?, &streams.events_info);
    for round in 0..5 {
        let tail = a.last_sequence().await?;
        let batch_a = messages("hk", &format!("a{round}"), 1_500)?;
        let batch_b = messages("hk", &format!("b{round}"), 1_500)?;
        let (result_a, result_b) = bounded("race", futures::future::join(a.append_batch(tail + 1, &batch_a), b.append_batch(tail + 1, &batch_b))).await?;
        let landed_a = landed(&batch_a, &result_a);
        let landed_b = landed(&batch_b, &result_b);
        for result in [&result_a, &result_b] {
            if let Err(err) = result {
                assert!(err.is_fenced(), "round {round}: {err}");
                // Whole atomic batches only.
                assert_eq!(err.acknowledged() % fundledger_nats::ATOMIC_BATCH_MESSAGES_MAX, 0);
            }
        }
        let stored: Vec<String> = read_all(&js, &streams.events_stream, None, tail + 1).await?.into_iter().filter_map(|m| m.message_id).collect();
        assert!(
            stored == [landed_a.clone(), landed_b.clone()].concat() || stored == [landed_b, landed_a].concat(),
            "round {round}: the stream interleaves the writers"
        );
    }
    Ok(())
}

/// Pins down what atomic batches rely on (nats-server 2.12+): the expected
/// last sequence of the first message is checked at the commit, an id in
/// the duplicate window refuses the whole batch, and the expected last
/// message id is refused inside a batch (which is why the appender proves
/// the tail itself).
#[tokio::test]
async fn the_server_enforces_what_atomic_batches_rely_on() -> anyhow::Result<()> {
    let (_server, js, streams) = server_with_ledger("hk").await?;
    if !streams.atomic_publish {
        eprintln!("skipped: the server has no atomic batch publish");
        return Ok(());
    }
    let subject = "fl.hk.ev.fund.f.test.event";
    let batch = |id: &str, headers: Vec<Vec<(&'static str, String)>>| {
        let js = js.clone();
        let id = id.to_string();
        async move {
            let client = js.raw_jetstream().client();
            let count = headers.len();
            let mut ack = None;
            for (index, extra) in headers.into_iter().enumerate() {
                let mut map = async_nats::HeaderMap::new();
                map.insert("Nats-Batch-Id", id.as_str());
                map.insert("Nats-Batch-Sequence", (index + 1).to_string());
                for (name, value) in extra {
                    map.insert(name, value.as_str());
                }
                if index + 1 < count {
                    client.publish_with_headers(subject, map, Bytes::from_static(b"x")).await?;
                } else {
                    map.insert("Nats-Batch-Commit", "1");
                    let publish = Publish::build().payload(Bytes::from_static(b"x")).headers(map);
                    ack = Some(js.raw_jetstream().send_publish(subject, publish).await?.await);
                }
            }
            anyhow::Ok(ack.ok_or_else(|| anyhow::anyhow!("empty batch"))?)
        }
    };
    let code = |result: Result<async_nats::jetstream::publish::PublishAck, jetstream::context::PublishError>| {
        result.err().and_then(|err| std::error::Error::source(&err).and_then(|source| source.downcast_ref::<jetstream::Error>()).map(|api| api.error_code().0))
    };
    let ok = batch("b1", vec![vec![("Nats-Msg-Id", "m1".into()), ("Nats-Expected-Last-Sequence", "0".into())], vec![("Nats-Msg-Id", "m2".into())]]).await?;
    assert_eq!(ok.as_ref().map(|ack| ack.sequence).ok(), Some(2));
    // Stale expected last sequence: nothing stored.
    let stale = batch("b2", vec![vec![("Nats-Msg-Id", "m3".into()), ("Nats-Expected-Last-Sequence", "1".into())], vec![("Nats-Msg-Id", "m4".into())]]).await?;
    assert!(matches!(stale.as_ref().map_err(|e| e.kind()), Err(PublishErrorKind::WrongLastSequence)));
    // An id in the duplicate window refuses the batch (10201); messages are
    // checked in order, each for its id before its expected last sequence
    // (so a batch retried whole is refused as a duplicate, not as stale).
    let duplicate =
        batch("b3", vec![vec![("Nats-Msg-Id", "m1".into()), ("Nats-Expected-Last-Sequence", "0".into())], vec![("Nats-Msg-Id", "m5".into())]]).await?;
    assert_eq!(code(duplicate), Some(10201));
    // No expected last message id inside a batch (10177).
    let chained = batch(
        "b4",
        vec![
            vec![("Nats-Msg-Id", "m6".into()), ("Nats-Expected-Last-Sequence", "2".into()), ("Nats-Expected-Last-Msg-Id", "m2".into())],
            vec![("Nats-Msg-Id", "m7".into())],
        ],
    )
    .await?;
    assert_eq!(code(chained), Some(10177));
    let info = js.raw_jetstream().get_stream(&streams.events_stream).await?.cached_info().clone();
    assert_eq!(info.state.last_sequence, 2, "only the first batch landed");
    Ok(())
}
