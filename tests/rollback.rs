//! Rollback drills: the ledger stream is replaced, under running services,
//! by a copy of a prefix of itself (what a lagging replica elected leader, or
//! a store restored from an old backup, shows). A stream that went backward
//! is an incident: the writer, the projector, the checkpointer and a
//! verifying tail must each refuse, loudly and naming the sequences, and
//! nothing may rebuild from the shorter stream until an operator accepts the
//! loss with `fundledger accept-rollback`, which first says what is lost.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_projector::{Projector, ProjectorConfig, Store};
use fundledger_system_tests::cli;
use fundledger_system_tests::*;
use fundledger_verifier::checkpointer::{self, CheckpointerConfig};
use fundledger_verifier::{FailureKind, VerifyError};
use fundledger_writer::WriteError;

/// Records the stream keeps when it is rolled back.
const KEPT_RECORDS: u64 = 12;

/// Polls `probe` until it gives a value, for at most [`TEST_WAIT_MS`].
async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_millis(TEST_WAIT_MS);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deletes the ledger stream and refills it with its first `kept` messages,
/// byte for byte, on the same subjects with the same message ids.
async fn roll_back(js: &fundledger_nats::Broker, kept: u64) {
    let stream = fundledger_nats::stream_name("test").unwrap();
    let mut prefix = Vec::new();
    for seq in 1..=kept {
        prefix.push(fundledger_nats::get_message(js, &stream, seq).await.unwrap().expect("the prefix is stored"));
    }
    js.raw_jetstream().delete_stream(&stream).await.expect("the stream can be deleted (deny_delete is about messages)");
    fundledger_nats::ensure_ledger_streams(js, "test", &fundledger_nats::StreamSettings::default()).await.expect("recreated");
    for message in prefix {
        let publish = async_nats::jetstream::message::PublishMessage::build().payload(message.payload).message_id(message.message_id.unwrap_or_default());
        js.raw_jetstream().send_publish(message.subject, publish).await.unwrap().await.expect("the prefix is stored again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_rolled_back_under_running_services_is_refused_by_each_until_an_operator_accepts_it() {
    let nats = start_nats().await;
    let url = nats.url();
    let data = tempfile::tempdir().unwrap();
    let writer = start_writer(&url, &data.path().join("writer")).await;
    let js = fundledger_nats::Broker::connect(&url).await.unwrap();
    let actors = Actors::new("rollback");

    // The running services: checkpointer, projector and a verifying tail.
    let config = CheckpointerConfig { every_records: 10, every: Duration::from_millis(200), ..CheckpointerConfig::new(ledger_id(), actors.operator.clone()) };
    let checkpoints = checkpointer::spawn(js.clone(), config).await.unwrap();
    let store = Arc::new(Store::open(&data.path().join("projector"), &ledger_id()).unwrap());
    let projector = Projector::new(store.clone(), js.clone(), ProjectorConfig::new(ledger_id())).unwrap();
    let (stop_projector, projector_stopped) = tokio::sync::oneshot::channel::<()>();
    let projecting = tokio::spawn(projector.run(async move {
        let _ = projector_stopped.await;
    }));
    let tail_js = js.clone();
    let followed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tail_followed = followed.clone();
    let tail = tokio::spawn(async move {
        fundledger_verifier::follow::follow_nats(&tail_js, &ledger_id(), |item| {
            if let fundledger_verifier::Followed::Record(_) = item {
                tail_followed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            ControlFlow::Continue(())
        })
        .await
    });

    let mut events = actors.setup();
    events.extend((0..30).map(|number| actors.nav_report(number)));
    let receipts = append_all(&writer, events).await;
    let size = receipts.len() as u64;
    assert!(size > KEPT_RECORDS + 10);
    checkpoints.checkpoint_at_least(size).await.expect("a checkpoint at the tail before the rollback");

    eventually("the tail to verify every record", || (followed.load(std::sync::atomic::Ordering::SeqCst) == size).then_some(())).await;
    roll_back(&js, KEPT_RECORDS).await;

    // The writer: not ready, the reason names the sequences, and a submission is refused 503.
    let incident = eventually("the writer's incident", || writer.status().incident).await;
    assert!(incident.contains(&format!("records {} to {size}", KEPT_RECORDS + 1)), "{incident}");
    assert!(!writer.status().ready);
    let refused = refused(&writer, actors.nav_report(1_000)).await;
    assert!(matches!(refused, WriteError::Rollback(_)), "{refused:?}");
    assert_eq!((refused.http_status(), refused.code()), (503, "ledger_rollback"));
    assert_eq!(stream_size(&url).await, KEPT_RECORDS, "nothing was appended on the shorter stream");

    // The projector: stops applying and says why; the models keep what they had.
    let projector_incident = eventually("the projector's incident", || store.incident()).await;
    assert!(projector_incident.contains("ledger rollback"), "{projector_incident}");
    assert_eq!(store.position().unwrap().seq, size);

    // The verifying tail: fails at the first record lost.
    let failure = tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), tail).await.expect("the tail stops").unwrap();
    match failure {
        Err(VerifyError::Failed(failure)) => {
            assert_eq!((failure.kind, failure.seq), (FailureKind::Rollback, KEPT_RECORDS + 1), "{failure}");
        }
        other => panic!("the tail must fail with a rollback, got {other:?}"),
    }

    // The checkpointer: signs nothing more.
    let answer = tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), checkpoints.checkpoint_at_least(KEPT_RECORDS)).await.expect("answers");
    let error = answer.expect_err("no checkpoint over a rollback").to_string();
    assert!(error.contains("refuses to sign") && error.contains("ledger rollback"), "{error}");

    // An auditor's verify: the signed checkpoints name the first missing record.
    match fundledger_verifier::verify_nats(&js, &ledger_id(), fundledger_verifier::VerifyOptions::default()).await {
        Err(VerifyError::Failed(failure)) => assert_eq!((failure.kind, failure.seq), (FailureKind::Truncated, KEPT_RECORDS + 1), "{failure}"),
        other => panic!("verify must report the truncation, got {:?}", other.map(|verified| verified.report)),
    }

    // A restarted writer still refuses.
    let _ = stop_projector.send(());
    projecting.await.unwrap().unwrap();
    drop(store);
    drop(writer);
    tokio::time::sleep(Duration::from_millis(200)).await; // the sequencer releases the index
    let (restarted, _) =
        fundledger_writer::Writer::start(fundledger_writer::WriterConfig::new(ledger_id(), &url, data.path().join("writer"))).await.expect("starts, refusing");
    let incident = restarted.status().incident.expect("a restarted writer still sees the rollback");
    assert!(incident.contains(&format!("records {} to {size}", KEPT_RECORDS + 1)), "{incident}");
    drop(restarted);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The operator: without the count nothing changes; with it, the services start again.
    let data_dir = data.path().to_str().unwrap();
    let lost = size - KEPT_RECORDS;
    let shown = tokio::task::spawn_blocking({
        let (url, data_dir) = (url.clone(), data_dir.to_string());
        move || cli::run(&["accept-rollback", "--nats", &url, "--data-dir", &data_dir, "--ledger", "test"], None, None)
    })
    .await
    .unwrap();
    assert!(!shown.success(), "{shown}");
    assert!(shown.stderr.contains(&format!("--lose {lost}")), "{shown}");
    assert!(shown.stdout.contains(&format!("records {} to {size}", KEPT_RECORDS + 1)), "{shown}");
    let last_lost = &receipts.last().unwrap().event_id;
    assert!(shown.stdout.contains(last_lost.as_str()), "the lost event ids are listed: {shown}");
    let accepted = tokio::task::spawn_blocking({
        let (url, data_dir, lost) = (url.clone(), data_dir.to_string(), lost.to_string());
        move || cli::run(&["accept-rollback", "--nats", &url, "--data-dir", &data_dir, "--ledger", "test", "--lose", &lost], None, None)
    })
    .await
    .unwrap();
    assert!(accepted.success(), "{accepted}");
    let writer = start_writer(&url, &data.path().join("writer")).await;
    assert_eq!(writer.status().incident, None);
    let receipt = append_all(&writer, vec![actors.nav_report(2_000)]).await;
    assert_eq!(receipt[0].seq, KEPT_RECORDS + 1);
}
