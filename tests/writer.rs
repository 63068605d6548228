//! The writer against real nats-server processes: appending and reading back,
//! refusals that append nothing, idempotency across restarts and beyond the
//! JetStream duplicate window, racing writers that never fork the chain, and
//! a writer stopped mid-load that loses and duplicates nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fundledger_core::event::*;
use fundledger_core::money::Money;
use fundledger_system_tests::*;
use fundledger_writer::api::handle_submission;
use fundledger_writer::{Writer, WriterConfig};

/// An answer as a client sees it: its status and its JSON.
struct JsonAnswer {
    status: u16,
    body: serde_json::Value,
}

async fn submit_json(writer: &fundledger_writer::Writer, request: &[u8]) -> JsonAnswer {
    let answer = handle_submission(writer, request).await;
    JsonAnswer { status: answer.status, body: serde_json::to_value(&answer.body).expect("answers serialise") }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_and_reads_back_a_verifiable_chain() {
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let actors = Actors::new("read");
    let mut events = actors.setup();
    events.extend((0..50).map(|n| actors.pilot_grant(n)));
    let ids: Vec<String> = events.iter().map(|event| event.body().id.to_string()).collect();
    let receipts = append_all(&writer, events).await;
    let sequences: Vec<u64> = receipts.iter().map(|receipt| receipt.seq).collect();
    assert_eq!(sequences, (1..=ids.len() as u64).collect::<Vec<_>>(), "records get consecutive sequences from 1");
    assert!(receipts.iter().all(|receipt| !receipt.duplicate));
    let replayed = replay_stream(&nats.url()).await.expect("the stream verifies");
    assert_eq!(replayed.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>(), ids);
    let status = writer.status();
    assert_eq!(status.size, ids.len() as u64);
    assert_eq!(status.head, receipts.last().unwrap().record_hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_is_refused_and_appends_nothing() {
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let actors = Actors::new("bad");
    append_all(&writer, actors.setup()).await;
    let subfund = || "sf-ai".parse().unwrap();

    // A second fund manager co-signs: the commitment is above the dual-control threshold.
    let manager_two = fundledger_core::crypto::SecretKey::from_seed_label("system/manager-two");
    let scope = fundledger_core::event::Scope::parse("fund:itf").unwrap();
    append_all(
        &writer,
        vec![
            actors.sign(Event::KeyRegistered(KeyRegistered { key: manager_two.key_id(), holder: text("second manager") }), &[&actors.operator]),
            actors.sign(Event::RoleGranted(RoleChange { key: manager_two.key_id(), role: Role::FundManager, scope }), &[&actors.operator]),
        ],
    )
    .await;
    let size = stream_size(&nats.url()).await;
    let cap = refused(
        &writer,
        actors.sign(
            Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund(), amount_cents: Money::hkd(1_200_000_000) }),
            &[&actors.manager, &manager_two],
        ),
    )
    .await;
    assert_eq!((cap.code(), cap.http_status()), ("government_commitment_cap", 422));
    assert!(cap.to_string().contains("HK$1,200,000,000.00") && cap.to_string().contains("HK$1,000,000,000.00 per-sub-fund cap"), "{cap}");

    // HK$2.4bn of market money allows at most HK$800M (25%); one cent more is refused.
    let share = refused(
        &writer,
        actors.sign(
            Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund(), amount_cents: Money::from_cents(80_000_000_001).unwrap() }),
            &[&actors.manager, &manager_two],
        ),
    )
    .await;
    assert_eq!(share.code(), "government_share_max", "{share}");

    let unauthorised = refused(&writer, actors.pilot_grant_signed_by(1, &actors.manager)).await;
    assert_eq!((unauthorised.code(), unauthorised.http_status()), ("signer_unauthorised", 403));

    let unknown = refused(&writer, actors.pilot_grant_signed_by(2, &actors.outsider)).await;
    assert_eq!(unknown.code(), "signer_unknown");

    let mut tampered = actors.pilot_grant(3).to_submission_json();
    tampered = tampered.replace("\"grant_cents\":10000000", "\"grant_cents\":9000000");
    let answer = submit_json(&writer, tampered.as_bytes()).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "bad_signature");

    for (request, code) in [("{not json", "malformed_request"), ("[]", "malformed_request"), (r#"{"body":{},"signatures":[]}"#, "invalid_event")] {
        let answer = submit_json(&writer, request.as_bytes()).await;
        assert_eq!(answer.status, 400, "{request}: {}", answer.body);
        let found = answer.body["error"]["code"].as_str().or_else(|| answer.body["results"][0]["error"]["code"].as_str());
        assert_eq!(found, Some(code), "{request}: {}", answer.body);
    }
    let unknown_field = actors.pilot_grant(4).to_submission_json().replace("\"duration_months\":12", "\"duration_months\":12,\"bonus\":1");
    let answer = submit_json(&writer, unknown_field.as_bytes()).await;
    assert_eq!(answer.body["error"]["code"], "invalid_event", "{}", answer.body);
    let negative = actors.pilot_grant(5).to_submission_json().replace("\"grant_cents\":10000000", "\"grant_cents\":-10000000");
    let answer = submit_json(&writer, negative.as_bytes()).await;
    assert!(answer.body["error"]["message"].as_str().unwrap_or("").contains("negative"), "{}", answer.body);
    // A number outside signed JSON's integers is quoted as sent, with its path.
    let exponent = actors.pilot_grant(5).to_submission_json().replace("\"grant_cents\":10000000", "\"grant_cents\":1e7");
    let answer = submit_json(&writer, exponent.as_bytes()).await;
    let message = answer.body["error"]["message"].as_str().unwrap_or("");
    assert!(answer.body["error"]["code"] == "invalid_event" && message.contains("number 1e7 at $.data.grant_cents"), "{}", answer.body);
    for deep in [format!("{}1{}", "[".repeat(5000), "]".repeat(5000)), format!("{}{}", "{\"a\":".repeat(5000), "}".repeat(5000))] {
        let answer = submit_json(&writer, deep.as_bytes()).await;
        assert!(answer.status == 400 || answer.body["accepted"] == 0, "deeply nested JSON is refused: {}", answer.body);
    }

    assert_eq!(stream_size(&nats.url()).await, size, "refused input must append nothing");
    // A batch is judged event by event: the good one lands, the bad one is refused.
    let batch = format!("[{},{}]", actors.pilot_grant(6).to_submission_json(), actors.pilot_grant_signed_by(7, &actors.manager).to_submission_json());
    let answer = submit_json(&writer, batch.as_bytes()).await;
    assert_eq!((answer.body["accepted"].as_u64(), answer.body["refused"].as_u64()), (Some(1), Some(1)), "{}", answer.body);
    assert_eq!(stream_size(&nats.url()).await, size + 1);
    replay_stream(&nats.url()).await.expect("the stream still verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_return_the_original_and_conflicts_are_refused_after_restarts_and_beyond_the_window() {
    let nats = start_nats().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = WriterConfig::new(ledger_id(), nats.url(), dir.path());
    config.duplicate_window = Duration::from_secs(1);
    let actors = Actors::new("dup");
    let event = actors.pilot_grant(1);
    let conflicting = actors.sign_with_id(event.body().id.as_str(), actors.pilot_grant(2).body().event.clone(), &[&actors.officer]);
    let original = {
        let writer = start_writer_with(config.clone()).await;
        append_all(&writer, actors.setup()).await;
        let original = append_all(&writer, vec![event.clone()]).await.remove(0);
        let again = append_all(&writer, vec![event.clone()]).await.remove(0);
        assert!(again.duplicate && again.seq == original.seq && again.record_hash == original.record_hash);
        let twice = actors.pilot_grant(9);
        let both = append_all(&writer, vec![twice.clone(), twice]).await;
        assert!(!both[0].duplicate && both[1].duplicate && both[0].seq == both[1].seq, "the same event twice in one batch is recorded once");
        original
    };
    let size = stream_size(&nats.url()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // past JetStream's duplicate window
    let (writer, task) = Writer::start(config.clone()).await.expect("the writer starts again");
    let again = append_all(&writer, vec![event.clone()]).await.remove(0);
    assert!(again.duplicate && again.seq == original.seq, "after a restart and beyond the window: {again:?}");
    let conflict = refused(&writer, conflicting.clone()).await;
    assert_eq!((conflict.code(), conflict.http_status()), ("id_conflict", 409));
    // The index may be deleted only once the writer has closed it: its task ends when the last handle drops.
    drop(writer);
    tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), task).await.expect("the writer stops in time").expect("the writer task");
    std::fs::remove_dir_all(dir.path()).unwrap();
    let writer = start_writer_with(config).await;
    let again = append_all(&writer, vec![event]).await.remove(0);
    assert!(again.duplicate && again.seq == original.seq, "with the index rebuilt from the stream: {again:?}");
    assert_eq!(refused(&writer, conflicting).await.code(), "id_conflict");
    assert_eq!(stream_size(&nats.url()).await, size, "duplicates and conflicts append nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_racing_on_one_ledger_never_fork_the_chain() {
    let nats = start_nats().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let actors = Actors::new("race");
    let writer_a = start_writer(&nats.url(), dir_a.path()).await;
    append_all(&writer_a, actors.setup()).await;
    let writer_b = start_writer(&nats.url(), dir_b.path()).await;
    let (events_a, events_b): (Vec<_>, Vec<_>) =
        (0..400).map(|n| actors.pilot_grant(n)).partition(|event| event.body().id.as_str().ends_with(['0', '2', '4', '6', '8']));
    let submit = |writer: fundledger_writer::Writer, events: Vec<fundledger_core::record::SignedEvent>| {
        tokio::spawn(async move {
            let mut receipts = Vec::new();
            for chunk in events.chunks(20) {
                for outcome in writer.submit(chunk.to_vec()).await {
                    receipts.push(outcome);
                }
            }
            receipts
        })
    };
    let (a, b) = tokio::join!(submit(writer_a.clone(), events_a), submit(writer_b.clone(), events_b));
    let receipts: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    let acknowledged: BTreeMap<String, u64> =
        receipts.iter().filter_map(|outcome| outcome.as_ref().ok()).map(|receipt| (receipt.event_id.clone(), receipt.seq)).collect();
    let replayed = replay_stream(&nats.url()).await.expect("one chain, no fork: every record links to its predecessor");
    let in_stream: BTreeMap<String, u64> = replayed.iter().map(|(seq, id)| (id.clone(), *seq)).collect();
    assert_eq!(in_stream.len(), replayed.len(), "no event appears twice");
    for (id, seq) in &acknowledged {
        assert_eq!(in_stream.get(id), Some(seq), "acknowledged event {id} is in the stream at its sequence");
    }
    for outcome in &receipts {
        if let Err(error) = outcome {
            assert_eq!(error.code(), "unavailable", "a writer that loses the race says so and appends nothing: {error}");
        }
    }
    assert_eq!(receipts.len(), 400, "every event gets an answer");
    let by_writer = |digits: [char; 5]| acknowledged.keys().filter(|id| id.ends_with(digits)).count();
    assert!(by_writer(['0', '2', '4', '6', '8']) > 0 && by_writer(['1', '3', '5', '7', '9']) > 0, "both writers make progress despite fencing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stopped_mid_load_loses_no_acknowledged_event_and_duplicates_none() {
    let nats = start_nats().await;
    let dir = tempfile::tempdir().unwrap();
    let actors = Actors::new("crash");
    let events: Vec<_> = (0..20_000).map(|n| actors.nav_report(n)).collect();
    let config = WriterConfig::new(ledger_id(), nats.url(), dir.path());
    let (writer, sequencer) = fundledger_writer::Writer::start(config.clone()).await.unwrap();
    append_all(&writer, actors.setup()).await;
    let load = {
        let (writer, events) = (writer.clone(), events.clone());
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for chunk in events.chunks(100) {
                acknowledged.extend(writer.submit(chunk.to_vec()).await.into_iter().flatten());
            }
            acknowledged
        })
    };
    let started = std::time::Instant::now();
    while writer.status().size < 1_000 && started.elapsed() < Duration::from_millis(TEST_WAIT_MS) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sequencer.abort(); // the writer dies mid-load, between or during appends
    let acknowledged = load.await.unwrap();
    assert!(acknowledged.len() < events.len(), "the writer was stopped before the load finished");
    // A new writer starts from the stream; clients retry everything.
    let writer = start_writer_with(config).await;
    let retried = append_all(&writer, events.clone()).await;
    for receipt in &acknowledged {
        let retry = retried.iter().find(|retry| retry.event_id == receipt.event_id).unwrap();
        assert!(retry.duplicate && retry.seq == receipt.seq && retry.record_hash == receipt.record_hash, "acknowledged {receipt:?} kept: {retry:?}");
    }
    let replayed = replay_stream(&nats.url()).await.expect("the stream verifies");
    let ids: BTreeSet<&String> = replayed.iter().map(|(_, id)| id).collect();
    assert_eq!(ids.len(), replayed.len(), "no duplicates");
    assert!(events.iter().all(|event| ids.contains(&event.body().id.to_string())), "nothing lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submits_over_nats_request_reply_and_http() {
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    tokio::spawn(fundledger_writer::api::serve_nats(writer.clone()));
    let actors = Actors::new("doors");
    let client = async_nats::connect(nats.url()).await.unwrap();
    let subject = fundledger_nats::request_subject("test").unwrap();
    let setup: Vec<String> = actors.setup().iter().map(|event| event.to_submission_json()).collect();
    let request = format!("[{}]", setup.join(","));
    let mut reply = None;
    for _ in 0..50 {
        // The subscription may take a moment to be registered.
        if let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(500), client.request(subject.clone(), request.clone().into())).await {
            reply = Some(message);
            break;
        }
    }
    let reply: serde_json::Value = serde_json::from_slice(&reply.expect("a NATS reply").payload).unwrap();
    assert_eq!(reply["accepted"].as_u64(), Some(setup.len() as u64), "{reply}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(fundledger_writer::api::serve_http(writer.clone(), listener));
    let body = actors.pilot_grant(1).to_submission_json();
    let response = http_post(address, "/v1/events", &body).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("\"seq\":"), "{response}");
    let malformed = http_post(address, "/v1/events", "{oops").await;
    assert!(malformed.starts_with("HTTP/1.1 400") && malformed.contains("malformed_request"), "{malformed}");

    // Every kind of answer is what the writer's OpenAPI document (served, and committed) says, strictly.
    let served = http_get(address, "/openapi.json").await;
    let document: serde_json::Value = serde_json::from_str(answer_body(&served)).expect("the document is JSON");
    let committed = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/api/writer-openapi.json")).expect("committed");
    assert!(answer_body(&served) == committed, "the served writer OpenAPI document differs from schemas/api/writer-openapi.json");
    let duplicate = http_post(address, "/v1/events", &body).await;
    let batch = http_post(address, "/v1/events", &format!("[{},{}]", actors.pilot_grant(2).to_submission_json(), body)).await;
    let refused = http_post(address, "/v1/events", &actors.pilot_grant_signed_by(3, &actors.outsider).to_submission_json()).await;
    let status = http_get(address, "/v1/status").await;
    for (route, method, answer, code) in [
        ("/v1/events", "post", &response, "201"),
        ("/v1/events", "post", &duplicate, "200"),
        ("/v1/events", "post", &batch, "200"),
        ("/v1/events", "post", &malformed, "400"),
        ("/v1/events", "post", &refused, "403"),
        ("/v1/status", "get", &status, "200"),
    ] {
        assert!(answer.starts_with(&format!("HTTP/1.1 {code}")), "{answer}");
        let json: serde_json::Value = serde_json::from_str(answer_body(answer)).expect("a JSON answer");
        fundledger_system_tests::assert_matches_document(&document, method, route, code, &json);
    }
}

/// The body of a raw HTTP/1.1 answer (sent whole, not chunked, by these servers).
fn answer_body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// A minimal HTTP/1.1 GET over a raw socket.
async fn http_get(address: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// A minimal HTTP/1.1 POST over a raw socket (no client library needed).
async fn http_post(address: std::net::SocketAddr, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request =
        format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// A replicated ledger needs a server whose clustered streams fence
/// concurrent appends (2.9.21 on, nats-server #4320). On Debian's 2.9.10,
/// which scripts/setup keeps installed, a 3-replica writer is refused before
/// it creates anything, with the version and the reason; forced, it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_writer_on_a_nats_server_before_2_9_21_is_refused_with_the_reason_unless_forced() {
    let old_server = std::path::PathBuf::from(fundledger_nats::embedded::FALLBACK_SERVER_BINARY);
    let cluster = fundledger_nats::EmbeddedCluster::start_with_binary(3, Some(old_server.clone()))
        .await
        .unwrap_or_else(|error| panic!("a 3-node cluster of {} (scripts/setup installs Debian's nats-server): {error}", old_server.display()));
    let broker = fundledger_nats::Broker::connect(&cluster.url_list()).await.unwrap();
    let reported = broker.server_version();
    let version: fundledger_nats::ServerVersion = reported.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = WriterConfig { replicas: 3, ..WriterConfig::new(ledger_id(), cluster.url_list(), dir.path()) };
    let refused = fundledger_writer::Writer::start(config.clone()).await;
    if version >= fundledger_nats::server_version::CLUSTER_FENCING_MIN_VERSION {
        // Debian moved past the old release: nothing to refuse on this machine.
        assert!(refused.is_ok(), "nats-server {version} is new enough for 3 replicas");
        return;
    }
    let message = match refused {
        Ok(_) => panic!("a 3-replica writer on nats-server {version} must be refused"),
        Err(error) => error.to_string(),
    };
    for part in [reported.as_str(), "3-replica", "#4320", "2.9.21", "--allow-old-nats-cluster"] {
        assert!(message.contains(part), "the refusal names {part:?}: {message}");
    }
    let stream = fundledger_nats::stream_name("test").unwrap();
    assert!(broker.raw_jetstream().get_stream(&stream).await.is_err(), "nothing was created before the refusal");

    let writer = start_writer_with(WriterConfig { allow_old_nats_cluster: true, ..config }).await;
    let receipts = append_all(&writer, Actors::new("old").setup()).await;
    assert_eq!(stream_size(&cluster.url_list()).await, receipts.len() as u64, "forced, the writer appends");
}

/// While the NATS server is down a submission is answered 503 at once (not
/// after the broker's timeouts) and the writer reports not ready with the
/// reason; once the server is back it appends again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_nats_is_down_submissions_fail_fast_and_readiness_says_why() {
    let mut ledger = TestLedger::start().await;
    let actors = Actors::new("fastfail");
    append_all(&ledger.writer, actors.setup()).await;
    ledger.nats.kill();
    let deadline = std::time::Instant::now() + Duration::from_millis(TEST_WAIT_MS);
    while ledger.writer.status().ready {
        assert!(std::time::Instant::now() < deadline, "the writer still says ready with NATS down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reason = ledger.writer.unavailable_reason().expect("a reason while NATS is down");
    assert!(reason.contains("NATS server cannot be reached"), "{reason}");
    let started = std::time::Instant::now();
    let error = refused(&ledger.writer, actors.nav_report(1)).await;
    let waited = started.elapsed();
    assert!(matches!(error, fundledger_writer::WriteError::Unavailable(_)), "{error:?}");
    // Before, a submission waited for the broker's timeouts (10 s and more).
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    ledger.nats.restart().await.expect("nats-server restarts");
    let deadline = std::time::Instant::now() + Duration::from_millis(TEST_WAIT_MS);
    while !ledger.writer.status().ready {
        assert!(std::time::Instant::now() < deadline, "the writer is not ready again after NATS came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let receipts = append_all(&ledger.writer, vec![actors.nav_report(2)]).await;
    assert!(!receipts[0].duplicate);
}

/// `POST` with a given `Content-Type` header line (or none) over a raw socket.
async fn http_post_typed(address: std::net::SocketAddr, content_type: Option<&str>, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let header = content_type.map(|value| format!("Content-Type: {value}\r\n")).unwrap_or_default();
    let request = format!("POST /v1/events HTTP/1.1\r\nHost: test\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn dated(actors: &Actors, id: &str, occurred_at: &str) -> fundledger_core::record::SignedEvent {
    let event = actors.nav_report(900);
    let body = event.body();
    let at = fundledger_core::time::Timestamp::parse(occurred_at).unwrap();
    fundledger_core::record::SignedEvent::author(&ledger_id(), fundledger_core::id::EventId::parse(id).unwrap(), at, body.event.clone(), &[&actors.manager])
        .unwrap()
}

/// Issue 21, item 5: Content-Type required, occurred_at not in the future,
/// batches count new and replayed events apart, an invalid key is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_is_strict_about_media_type_future_dates_replays_and_keys() {
    let TestLedger { nats: _nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let actors = Actors::new("strict");
    let setup = actors.setup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(fundledger_writer::api::serve_http(writer.clone(), listener));
    let body = setup[0].to_submission_json();
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let response = http_post_typed(address, content_type, &body).await;
        assert!(response.starts_with("HTTP/1.1 415") && response.contains("\"code\":\"unsupported_media_type\""), "{content_type:?}: {response}");
    }
    let response = http_post_typed(address, Some("application/json; charset=utf-8"), &body).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let batch =
        |events: &[fundledger_core::record::SignedEvent]| format!("[{}]", events.iter().map(|event| event.to_submission_json()).collect::<Vec<_>>().join(","));
    let answer = submit_json(&writer, batch(&setup).as_bytes()).await;
    assert_eq!(
        (answer.body["appended"].as_u64(), answer.body["duplicates"].as_u64(), answer.body["refused"].as_u64()),
        (Some(setup.len() as u64 - 1), Some(1), Some(0)),
        "{}",
        answer.body
    );
    assert_eq!(answer.body["accepted"].as_u64(), Some(setup.len() as u64), "accepted stays appended + duplicates");

    let future = dated(&actors, "strict-future", "9999-12-31T23:59:59Z");
    let answer = submit_json(&writer, future.to_submission_json().as_bytes()).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], "occurred_at_in_future");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("9999-12-31T23:59:59Z"), "{}", answer.body);
    let past = dated(&actors, "strict-past", "2001-01-01T00:00:00Z");
    assert_eq!(submit_json(&writer, past.to_submission_json().as_bytes()).await.status, 201, "backdated events stay allowed");

    // A signer key that is not a point on the curve.
    let not_a_point = (0u8..=255)
        .map(|first| format!("{first:02x}{}", "11".repeat(31)))
        .find(|text| fundledger_core::crypto::KeyId::parse(text).is_err())
        .expect("some 32-byte strings are not curve points");
    let manager = actors.manager.key_id().to_string();
    let forged = actors.nav_report(901).to_submission_json().replace(&manager, &not_a_point);
    let answer = submit_json(&writer, forged.as_bytes()).await;
    assert_eq!(answer.body["error"]["code"], "invalid_key", "{}", answer.body);
    assert_eq!(answer.status, 400);
}
