//! Fault tests: real processes killed at a bad moment. A `fundledger serve`
//! writer is SIGKILLed under load and restarted; every event it acknowledged
//! must be in the ledger exactly once, at the sequence and hash it
//! acknowledged, and the chain must verify. A publish held in limbo and
//! stored only after the writer gave up on it and appended the batch again
//! must not break the chain either.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_core::record::SignedEvent;
use fundledger_system_tests::cli::Serve;
use fundledger_system_tests::*;

#[test]
fn a_writer_killed_with_sigkill_under_load_keeps_every_acknowledged_event_exactly_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let nats = runtime.block_on(start_nats());
    let data = tempfile::tempdir().unwrap();
    let mut serve = Serve::start_on("test", &nats.url(), data.path());
    let actors = Actors::new("sigkill");
    let setup = post_batch(&serve.address, &actors.setup()).unwrap();
    assert_eq!(setup["refused"], 0, "{setup}");
    let events: Vec<SignedEvent> = (0..30_000).map(|n| actors.nav_report(n)).collect();

    // Two clients load the writer; each keeps what was acknowledged to it.
    let killed = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = events
        .chunks(events.len() / 2)
        .map(|share| {
            let (share, address, killed) = (share.to_vec(), serve.address.clone(), killed.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for batch in share.chunks(100) {
                    match post_batch(&address, batch) {
                        Ok(answer) => acknowledged.extend(receipts(&answer)),
                        Err(_) if killed.load(Ordering::SeqCst) => break,
                        Err(error) => panic!("the writer failed before it was killed: {error}"),
                    }
                }
                acknowledged
            })
        })
        .collect();
    let started = Instant::now();
    while runtime.block_on(stream_size(&nats.url())) < 3_000 {
        assert!(started.elapsed() < Duration::from_millis(TEST_WAIT_MS), "the load did not start:\n{}", serve.log());
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.store(true, Ordering::SeqCst);
    serve.kill();
    let acknowledged: Vec<_> = clients.into_iter().flat_map(|client| client.join().unwrap()).collect();
    let size_at_kill = runtime.block_on(stream_size(&nats.url()));
    assert!(!acknowledged.is_empty(), "some events were acknowledged before the kill");
    assert!(size_at_kill < events.len() as u64, "the writer was killed before the load finished");

    // A new writer on the same index and stream; the clients retry everything.
    let serve = Serve::start_on("test", &nats.url(), data.path());
    let mut retried: BTreeMap<String, (u64, String, bool)> = BTreeMap::new();
    for batch in events.chunks(1_000) {
        let answer = post_batch(&serve.address, batch).unwrap();
        assert_eq!(answer["refused"], 0, "a retry was refused: {answer}");
        for (id, seq, hash, duplicate) in receipts(&answer) {
            retried.insert(id, (seq, hash, duplicate));
        }
    }
    for (id, seq, hash, _) in &acknowledged {
        let (retry_seq, retry_hash, duplicate) = &retried[id];
        assert!(
            *duplicate && retry_seq == seq && retry_hash == hash,
            "{id} acknowledged at {seq} ({hash}) but the retry says {retried:?}",
            retried = retried[id]
        );
    }
    let replayed = runtime.block_on(replay_stream(&nats.url())).expect("the chain verifies after the kill");
    let ids: BTreeSet<&String> = replayed.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), replayed.len(), "no event is recorded twice");
    assert!(events.iter().all(|event| ids.contains(&event.body().id.to_string())), "nothing is lost");
    for (id, seq, _, _) in &acknowledged {
        assert_eq!(replayed.get(*seq as usize - 1).map(|(_, at)| at), Some(id), "acknowledged {id} is at {seq}");
    }
}

/// Submits `events` from two clients in submissions of 100, retrying what
/// was not acknowledged until everything is. Returns each event's first
/// acknowledgement (seq, record hash) and how many submissions of an event
/// failed (and were retried). Only "unavailable" failures are acceptable.
async fn load_until_acknowledged(writer: &fundledger_writer::Writer, events: Vec<SignedEvent>) -> (BTreeMap<String, (u64, String)>, usize) {
    let deadline = Instant::now() + Duration::from_millis(4 * TEST_WAIT_MS);
    let clients: Vec<_> = events
        .chunks(events.len().div_ceil(2))
        .map(|share| {
            let (writer, mut waiting) = (writer.clone(), share.to_vec());
            tokio::spawn(async move {
                let mut acknowledged: BTreeMap<String, (u64, String)> = BTreeMap::new();
                let mut failures = 0;
                while !waiting.is_empty() {
                    assert!(Instant::now() < deadline, "{} events still not acknowledged", waiting.len());
                    let mut retry = Vec::new();
                    for batch in waiting.chunks(100) {
                        for (event, outcome) in batch.iter().zip(writer.submit(batch.to_vec()).await) {
                            match outcome {
                                Ok(receipt) => {
                                    let first = acknowledged.entry(receipt.event_id.clone()).or_insert((receipt.seq, receipt.record_hash.clone()));
                                    assert_eq!(*first, (receipt.seq, receipt.record_hash.clone()), "an acknowledgement changed");
                                }
                                Err(fundledger_writer::WriteError::Unavailable(_)) => {
                                    failures += 1;
                                    retry.push(event.clone());
                                }
                                Err(error) => panic!("{} refused under faults: {error}", event.body().id),
                            }
                        }
                    }
                    if !retry.is_empty() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    waiting = retry;
                }
                (acknowledged, failures)
            })
        })
        .collect();
    let mut acknowledged = BTreeMap::new();
    let mut failures = 0;
    for client in clients {
        let (acks, failed) = client.await.expect("a load client panicked");
        acknowledged.extend(acks);
        failures += failed;
    }
    (acknowledged, failures)
}

/// Every event is in the chain exactly once, at its acknowledged sequence,
/// and the chain verifies (hashes, links, signatures, rules).
async fn assert_ledger_holds(url: &str, events: &[SignedEvent], acknowledged: &BTreeMap<String, (u64, String)>) {
    let replayed = replay_stream(url).await.expect("the chain verifies");
    let ids: BTreeSet<&String> = replayed.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), replayed.len(), "no event is recorded twice");
    for event in events {
        let id = event.body().id.to_string();
        let (seq, _) = acknowledged.get(&id).unwrap_or_else(|| panic!("{id} was never acknowledged"));
        assert_eq!(replayed.get(*seq as usize - 1).map(|(_, at)| at), Some(&id), "acknowledged {id} is at {seq}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_server_killed_and_restarted_under_load_loses_nothing() {
    let mut nats = start_nats().await;
    let dir = tempfile::tempdir().unwrap();
    let writer = start_writer(&nats.url(), dir.path()).await;
    let actors = Actors::new("natskill");
    let setup = append_all(&writer, actors.setup()).await.len() as u64;
    let events: Vec<SignedEvent> = (0..20_000).map(|n| actors.nav_report(n)).collect();
    let load = {
        let (writer, events) = (writer.clone(), events.clone());
        tokio::spawn(async move { load_until_acknowledged(&writer, events).await })
    };
    let started = Instant::now();
    while writer.status().size < 3_000 {
        assert!(started.elapsed() < Duration::from_millis(TEST_WAIT_MS), "the load did not start");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    nats.kill();
    let killed_at = writer.status().size;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    nats.restart().await.expect("nats-server restarts on its data");
    let (acknowledged, failures) = load.await.unwrap();
    let status = writer.status();
    assert!(killed_at < setup + events.len() as u64, "the server was killed mid-load");
    // The outage shows as failed submissions that the client retried, as a
    // reload, or not at all when the NATS client's reconnect buffer bridged
    // it before any ack timed out; in every case nothing may be lost.
    eprintln!("outage seen by the clients as {failures} failed submissions; writer reloads: {}", status.reloads_since_start);
    assert_ledger_holds(&nats.url(), &events, &acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_r3_cluster_loses_nothing_when_a_node_dies_under_load() {
    let mut cluster = fundledger_nats::EmbeddedCluster::start(3).await.expect("a 3-node cluster starts");
    let dir = tempfile::tempdir().unwrap();
    let config = fundledger_writer::WriterConfig { replicas: 3, ..fundledger_writer::WriterConfig::new(ledger_id(), cluster.url_list(), dir.path()) };
    let writer = start_writer_with(config).await;
    let actors = Actors::new("nodekill");
    let setup = append_all(&writer, actors.setup()).await.len() as u64;
    let events: Vec<SignedEvent> = (0..10_000).map(|n| actors.nav_report(n)).collect();
    let load = {
        let (writer, events) = (writer.clone(), events.clone());
        tokio::spawn(async move { load_until_acknowledged(&writer, events).await })
    };
    let started = Instant::now();
    while writer.status().size < 2_000 {
        assert!(started.elapsed() < Duration::from_millis(TEST_WAIT_MS), "the load did not start");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Kill the node leading the ledger stream: the hardest case.
    let js = fundledger_nats::Broker::connect(&cluster.url_list()).await.unwrap();
    let mut stream = js.raw_jetstream().get_stream(fundledger_nats::stream_name("test").unwrap()).await.unwrap();
    let leader = stream.info().await.unwrap().cluster.as_ref().and_then(|cluster| cluster.leader.clone()).expect("the stream has a leader");
    let node: usize = leader.strip_prefix('n').and_then(|index| index.parse().ok()).expect("node names are n<index>");
    cluster.kill_node(node).unwrap();
    let killed_at = writer.status().size;
    let (acknowledged, _) = load.await.unwrap();
    assert!(killed_at < setup + events.len() as u64, "the node was killed mid-load");
    cluster.restart_node(node).await.expect("the node rejoins");
    assert_ledger_holds(&cluster.url_list(), &events, &acknowledged).await;
}

/// A cluster can store a publish whose ack never came, after the writer gave
/// up on it: a leader change forwards it late. Staged here exactly with a
/// proxy that holds a batch's publishes until the writer has timed out,
/// re-read the stream and starts appending the batch again; the held
/// publishes then land first. nats-server before 2.12 de-duplicates the
/// retry onto them; 2.12 and later refuse it (a plain publish as fenced: the
/// expected last sequence is checked before the duplicate window; an atomic
/// batch as holding an id already stored), and the writer re-reads the
/// stream and answers the events from it. `scripts/test` runs this on
/// both. The writer must have sealed the retry with the same bytes, or its
/// next record links to a hash that is not in the chain (seen once in the
/// cluster test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_stored_late_after_the_writer_retried_do_not_break_the_chain() {
    let nats = start_nats().await;
    let proxy = fundledger_system_tests::limbo::LimboProxy::start(&nats.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let writer = start_writer(&proxy.url(), dir.path()).await;
    let actors = Actors::new("limbo");
    append_all(&writer, actors.setup()).await;
    let held: Vec<SignedEvent> = (0..3).map(|n| actors.pilot_grant(n)).collect();
    proxy.hold_next("fl.test.ev.", held.len());
    let receipts = tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), append_all(&writer, held.clone())).await.expect("the retry is answered in time");
    assert_eq!(proxy.released(), Some(held.len()), "the first attempt was held and stored late, just before the retry");
    assert!(writer.status().reloads_since_start > 0, "the writer gave up on the first attempt and re-read the stream");
    let next = append_all(&writer, vec![actors.pilot_grant(3)]).await.remove(0);

    let replayed = replay_stream(&nats.url()).await.expect("the chain verifies after the late publishes");
    assert_eq!(replayed.last().map(|(seq, id)| (*seq, id.clone())), Some((next.seq, next.event_id.clone())));
    let js = fundledger_nats::Broker::connect(&nats.url()).await.unwrap();
    let stream = fundledger_nats::stream_name("test").unwrap();
    for receipt in receipts.iter().chain([&next]) {
        let stored = fundledger_nats::get_message(&js, &stream, receipt.seq).await.unwrap().expect("the acknowledged record is stored");
        let record = fundledger_core::record::Record::from_json(&stored.payload).unwrap();
        assert_eq!(
            (record.body().id.to_string(), hex::encode(record.hash)),
            (receipt.event_id.clone(), receipt.record_hash.clone()),
            "the writer acknowledged the record that is stored at {}",
            receipt.seq
        );
    }
    assert_eq!(writer.status().head, next.record_hash, "the writer's head is the stream's");
}

/// The interleaving of docs/ARCHITECTURE.md step 5, staged exactly: writer
/// A's publishes are held by the proxy (its first message of the batch
/// lands, the rest wait), the client gives up on A and resubmits the same
/// events to writer B, B appends them, and only then does the proxy deliver
/// A's late publishes. A's and B's records of the same events at the same
/// sequences differ only in `recorded_at`; the late publishes must neither
/// land behind B's records nor be taken for them (with message ids equal to
/// the event ids, A acknowledged its own records while the stream held
/// B's). Runs on the server FUNDLEDGER_NATS_SERVER names, in the append mode
/// the server allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rival_writer_given_the_same_events_while_publishes_are_held_does_not_break_the_chain() {
    const HELD: usize = 2;
    let nats = start_nats().await;
    let proxy = fundledger_system_tests::limbo::LimboProxy::start(&nats.url()).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let writer_a = start_writer(&proxy.url(), dir_a.path()).await;
    let actors = Actors::new("rival");
    let mut acknowledged: Vec<fundledger_writer::Receipt> = append_all(&writer_a, actors.setup()).await;
    let writer_b = start_writer(&nats.url(), dir_b.path()).await;
    eprintln!("append modes: A {}, B {}", writer_a.status().append_mode, writer_b.status().append_mode);

    // A's batch: the first publish goes through, the next HELD are held.
    let events: Vec<SignedEvent> = (0..=HELD as u32).map(|n| actors.pilot_grant(n)).collect();
    proxy.hold_after("fl.test.ev.", 1, HELD);
    let submitted_to_a = {
        let (writer, events) = (writer_a.clone(), events.clone());
        tokio::spawn(async move { writer.submit(events).await })
    };
    let started = Instant::now();
    while proxy.held() < HELD {
        assert!(started.elapsed() < Duration::from_millis(TEST_WAIT_MS), "A's publishes were not held");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The client gives up on A and resubmits the same events to B.
    let from_b = tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), append_all(&writer_b, events.clone())).await.expect("B answers in time");
    for receipt in &from_b[1..] {
        assert!(!receipt.duplicate, "B appended {} itself, at {}", receipt.event_id, receipt.seq);
    }
    // Only now do A's publishes arrive.
    assert_eq!(proxy.release().await, HELD);
    let from_a = tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), submitted_to_a).await.expect("A answers in time").unwrap();
    let from_a: Vec<fundledger_writer::Receipt> = from_a.into_iter().map(|outcome| outcome.expect("A answers every event")).collect();
    for (a, b) in from_a.iter().zip(&from_b) {
        assert_eq!((a.seq, &a.record_hash), (b.seq, &b.record_hash), "A and B answer {} with the same record", a.event_id);
    }
    acknowledged.extend(from_a);
    acknowledged.extend(from_b);
    // Both writers go on appending on the same chain.
    acknowledged.extend(append_all(&writer_a, vec![actors.pilot_grant(HELD as u32 + 1)]).await);
    acknowledged.extend(append_all(&writer_b, vec![actors.pilot_grant(HELD as u32 + 2)]).await);

    let replayed = replay_stream(&nats.url()).await.expect("the chain verifies: every record links to the one before");
    let ids: BTreeSet<&String> = replayed.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), replayed.len(), "no event is recorded twice");
    let js = fundledger_nats::Broker::connect(&nats.url()).await.unwrap();
    let stream = fundledger_nats::stream_name("test").unwrap();
    for receipt in &acknowledged {
        let stored = fundledger_nats::get_message(&js, &stream, receipt.seq).await.unwrap().expect("the acknowledged record is stored");
        let record = fundledger_core::record::Record::from_json(&stored.payload).unwrap();
        assert_eq!(
            (record.body().id.to_string(), hex::encode(record.hash)),
            (receipt.event_id.clone(), receipt.record_hash.clone()),
            "the record acknowledged at {} is the one stored there",
            receipt.seq
        );
    }
}
