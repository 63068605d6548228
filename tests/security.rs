//! Security, against real nats-server processes and the real writer.
//!
//! * NATS: a server started from ops/nats/single.conf and ops/nats/accounts.conf
//!   (ports, store and ledger id adapted) gives each user least privilege:
//!   anonymous clients are refused, the writer appends, a submitter submits,
//!   readers read (the projector user runs a real projector), and nobody but
//!   the writer publishes to the ledger subjects or may delete or purge
//!   anything (nats-server answers "Permissions Violation" and nothing changes).
//! * The ledger stream itself refuses message deletes, purges and clearing
//!   those flags, whoever asks (a server without accounts).
//! * The writer's HTTP API answers unsigned, wrongly signed, revoked-key and
//!   unauthorised-role events with typed errors, refuses oversized bodies with
//!   413 and deeply nested JSON with 400 (a well-formed nested array is a batch
//!   whose one event is refused), appends nothing for any of them, and keeps
//!   serving afterwards.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fundledger_core::crypto::{domain, SecretKey};
use fundledger_core::event::*;
use fundledger_nats::{EmbeddedNats, EmbeddedOptions};
use fundledger_system_tests::*;
use fundledger_writer::api;

/// How long a request waits for an answer that a refused request never gets.
const REFUSED_REQUEST_WAIT_MS: u64 = 750;

/// The password of each example user in ops/nats/accounts.conf.
fn example_password(user: &str) -> String {
    format!("example-{user}-password")
}

fn ops_nats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ops").join("nats")
}

/// `text` with every `from` replaced; panics if `from` does not occur, so a
/// changed ops file cannot silently leave a test on the wrong settings.
fn replace_present(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "expected {from:?} in the ops config");
    text.replace(from, to)
}

/// ops/nats/accounts.conf for ledger `test` instead of `hk`.
pub(crate) fn accounts_for_test_ledger() -> String {
    let accounts = std::fs::read_to_string(ops_nats_dir().join("accounts.conf")).expect("reads ops/nats/accounts.conf");
    let accounts = replace_present(&replace_present(&accounts, "FUNDLEDGER_HK", "FUNDLEDGER_TEST"), "fl.hk.", "fl.test.");
    assert!(!accounts.contains(".hk.") && !accounts.contains("_HK"), "every ledger-specific line is adapted");
    accounts
}

/// A nats-server running ops/nats/single.conf with ops/nats/accounts.conf,
/// for ledger `test` instead of `hk`, on a free loopback port.
struct SecuredNats {
    server: EmbeddedNats,
    _dir: tempfile::TempDir,
}

impl SecuredNats {
    async fn start() -> SecuredNats {
        let dir = tempfile::Builder::new().prefix("fundledger-security-").tempdir().expect("temporary directory");
        let single = std::fs::read_to_string(ops_nats_dir().join("single.conf")).expect("reads ops/nats/single.conf");
        let store = dir.path().join("store");
        let single = replace_present(&single, "store_dir: \"/var/lib/fundledger/nats\"", &format!("store_dir: {:?}", store.display().to_string()));
        // The monitoring port is fixed in the file; a test must not take it.
        let single = replace_present(&single, "http: \"127.0.0.1:8222\"", "");
        std::fs::write(dir.path().join("single.conf"), single).expect("writes the config");
        std::fs::write(dir.path().join("accounts.conf"), accounts_for_test_ledger()).expect("writes the accounts");
        let server = EmbeddedNats::start(EmbeddedOptions {
            data_dir: Some(dir.path().join("log")),
            config_file: Some(dir.path().join("single.conf")),
            ..EmbeddedOptions::default()
        })
        .await
        .expect("nats-server starts with the ops config");
        SecuredNats { server, _dir: dir }
    }

    /// The URL with `user`'s example credentials, as `fundledger --nats` takes it.
    fn url(&self, user: &str) -> String {
        format!("nats://{user}:{}@127.0.0.1:{}", example_password(user), self.server.port())
    }

    /// A client logged in as `user` that records the errors the server sends
    /// (a permissions violation arrives as an asynchronous `-ERR`).
    async fn client(&self, user: &str) -> Watched {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        let client = async_nats::ConnectOptions::with_user_and_password(user.to_string(), example_password(user))
            // A refused request is never answered: each costs this long.
            .request_timeout(Some(Duration::from_millis(REFUSED_REQUEST_WAIT_MS)))
            .event_callback(move |event| {
                let sink = sink.clone();
                async move {
                    if let async_nats::Event::ServerError(error) = event {
                        sink.lock().expect("error list").push(error.to_string());
                    }
                }
            })
            .connect(self.server.url())
            .await
            .unwrap_or_else(|error| panic!("{user} logs in: {error}"));
        Watched { user: user.to_string(), client, errors }
    }
}

struct Watched {
    user: String,
    client: async_nats::Client,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Watched {
    /// Waits until the server reported a permissions violation naming `subject`.
    async fn expect_violation(&self, subject: &str) {
        let deadline = Instant::now() + Duration::from_millis(TEST_WAIT_MS);
        loop {
            {
                let errors = self.errors.lock().expect("error list");
                if errors.iter().any(|error| error.contains("Permissions Violation") && error.contains(subject)) {
                    return;
                }
                assert!(Instant::now() < deadline, "{}: no permissions violation for {subject}; server errors: {errors:?}", self.user);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Publishes to `subject` (a message to the ledger, say), which must be refused.
    async fn publish_refused(&self, subject: &str, payload: &str) {
        self.client.publish(subject.to_string(), payload.to_string().into()).await.expect("the client sends");
        self.client.flush().await.expect("flushes");
        self.expect_violation(subject).await;
    }

    /// Sends a JetStream API request, which must be refused: no answer comes and
    /// the server reports the violation.
    async fn request_refused(&self, subject: &str, payload: &str) {
        let answer = self.client.request(subject.to_string(), payload.to_string().into()).await;
        assert!(answer.is_err(), "{}: {subject} was answered: {:?}", self.user, answer.map(|message| message.payload));
        self.expect_violation(subject).await;
    }
}

/// The event and checkpoint streams' last sequences.
async fn stream_sizes(url: &str) -> (u64, u64) {
    let js = fundledger_nats::Broker::connect(url).await.expect("connects");
    let events = fundledger_nats::append::last_sequence(&js, &fundledger_nats::stream_name("test").expect("name")).await.expect("info");
    let checkpoints = fundledger_nats::append::last_sequence(&js, &fundledger_nats::checkpoint_stream_name("test").expect("name")).await.expect("info");
    (events, checkpoints)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_users_from_the_ops_config_have_least_privilege() {
    let nats = SecuredNats::start().await;
    let anonymous = async_nats::ConnectOptions::new().connect(nats.server.url()).await;
    assert!(anonymous.is_err(), "a client without credentials is refused");
    let wrong = async_nats::ConnectOptions::with_user_and_password("reporting".into(), "guess".into()).connect(nats.server.url()).await;
    assert!(wrong.is_err(), "a wrong password is refused");

    // The writer user creates the streams and appends.
    let dir = tempfile::tempdir().unwrap();
    let writer = start_writer(&nats.url("writer"), dir.path()).await;
    let actors = Actors::new("perm");
    append_all(&writer, actors.setup()).await;
    append_all(&writer, (0..5).map(|n| actors.pilot_grant(n)).collect()).await;

    // A submitter submits over NATS request/reply; the writer answers (allow_responses).
    tokio::spawn(api::serve_nats(writer.clone()));
    let submitter = nats.client("submitter").await;
    let request = actors.pilot_grant(10).to_submission_json();
    let mut reply = None;
    for _ in 0..20 {
        // The writer's subscription may take a moment to be registered.
        if let Ok(message) = submitter.client.request("fl.test.submit", request.clone().into()).await {
            reply = Some(message);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply: serde_json::Value = serde_json::from_slice(&reply.expect("the writer answers the submitter").payload).unwrap();
    assert_eq!(reply["status"], 201, "{reply}");
    submitter.publish_refused("fl.test.ev.ledger.test.ledger.opened", "{}").await;
    submitter.request_refused("$JS.API.STREAM.INFO.FUNDLEDGER_TEST", "").await;

    let before = stream_sizes(&nats.url("reporting")).await;
    assert_eq!(before.0, actors.setup().len() as u64 + 6);

    // Readers read the whole ledger and verify it.
    for reader in ["reporting", "projector", "auditor"] {
        let replayed = replay_stream(&nats.url(reader)).await.unwrap_or_else(|error| panic!("{reader} reads the ledger: {error}"));
        assert_eq!(replayed.len() as u64, before.0, "{reader} sees every record");
        let js = fundledger_nats::Broker::connect(&nats.url(reader)).await.expect("connects");
        let first = fundledger_nats::get_message(&js, "FUNDLEDGER_TEST", 1).await.unwrap_or_else(|error| panic!("{reader} gets a message: {error}"));
        assert!(!first.expect("record 1 exists").payload.is_empty());
    }

    // Readers write nothing and delete nothing.
    let record = r#"{"v":1}"#;
    for reader in ["reporting", "projector"] {
        let client = nats.client(reader).await;
        client.publish_refused("fl.test.ev.ledger.test.ledger.opened", record).await;
        client.publish_refused("fl.test.checkpoint", record).await;
        client.publish_refused("fl.test.witness.abcdef", record).await;
        client.publish_refused("fl.test.submit", record).await;
        client.request_refused("$JS.API.STREAM.DELETE.FUNDLEDGER_TEST", "").await;
        client.request_refused("$JS.API.STREAM.PURGE.FUNDLEDGER_TEST", "").await;
        client.request_refused("$JS.API.STREAM.MSG.DELETE.FUNDLEDGER_TEST", r#"{"seq":1}"#).await;
        client.request_refused("$JS.API.STREAM.UPDATE.FUNDLEDGER_TEST", "{}").await;
        client.request_refused("$JS.API.STREAM.CREATE.FUNDLEDGER_TEST_COPY", r#"{"name":"FUNDLEDGER_TEST_COPY","subjects":["fl.test.>"]}"#).await;
    }

    // The auditor reads, and publishes only its witness co-signatures.
    let auditor = nats.client("auditor").await;
    auditor.publish_refused("fl.test.ev.ledger.test.ledger.opened", record).await;
    auditor.publish_refused("fl.test.checkpoint", record).await;
    auditor.request_refused("$JS.API.STREAM.DELETE.FUNDLEDGER_TEST_CHECKPOINTS", "").await;
    auditor.request_refused("$JS.API.STREAM.PURGE.FUNDLEDGER_TEST_CHECKPOINTS", "").await;
    let auditor_js = fundledger_nats::Broker::connect(&nats.url("auditor")).await.expect("connects");
    let ack = auditor_js.raw_jetstream().publish("fl.test.witness.abcdef", "{}".into()).await.expect("publishes").await;
    assert!(ack.is_ok(), "the auditor may publish a witness co-signature: {ack:?}");

    // Even the writer user may not delete or purge.
    let writer_client = nats.client("writer").await;
    writer_client.request_refused("$JS.API.STREAM.DELETE.FUNDLEDGER_TEST", "").await;
    writer_client.request_refused("$JS.API.STREAM.PURGE.FUNDLEDGER_TEST", "").await;
    writer_client.request_refused("$JS.API.STREAM.MSG.DELETE.FUNDLEDGER_TEST", r#"{"seq":1}"#).await;
    writer_client.request_refused("$JS.API.STREAM.DELETE.FUNDLEDGER_TEST_CHECKPOINTS", "").await;
    writer_client.publish_refused("fl.other.ev.ledger.other.ledger.opened", record).await;

    let after = stream_sizes(&nats.url("reporting")).await;
    assert_eq!(after, (before.0, before.1 + 1), "only the auditor's co-signature was added");
    let replayed = replay_stream(&nats.url("reporting")).await.expect("the ledger still verifies");
    assert_eq!(replayed.len() as u64, before.0);

    // The projector user's rights suffice to keep read models: it catches up,
    // then follows its durable consumer (deliveries and acks) to a new record.
    let store = std::sync::Arc::new(fundledger_projector::Store::open(&dir.path().join("models"), &ledger_id()).expect("the read models open"));
    let js = fundledger_nats::Broker::connect(&nats.url("projector")).await.expect("the projector user connects");
    let projector = fundledger_projector::Projector::new(store, js, fundledger_projector::ProjectorConfig::new(ledger_id())).expect("a projector");
    let mut position = projector.subscribe();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(projector.run(async move {
        let _ = stopped.await;
    }));
    let wait = Duration::from_millis(TEST_WAIT_MS);
    tokio::time::timeout(wait, position.wait_for(|seq| *seq == before.0)).await.expect("the projector catches up in time").expect("it runs");
    append_all(&writer, vec![actors.pilot_grant(11)]).await;
    tokio::time::timeout(wait, position.wait_for(|seq| *seq == before.0 + 1)).await.expect("the projector follows in time").expect("it runs");
    let _ = stop.send(());
    running.await.expect("the projector task").expect("the projector stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_stream_refuses_message_deletes_purges_and_unsetting_its_guards() {
    // No accounts here: whoever asks, the stream's own settings refuse.
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let actors = Actors::new("guard");
    append_all(&writer, actors.setup()).await;
    let size = stream_size(&nats.url()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    for name in ["FUNDLEDGER_TEST", "FUNDLEDGER_TEST_CHECKPOINTS"] {
        let stream = js.get_stream(name).await.unwrap();
        let purge = stream.purge().await;
        assert!(purge.as_ref().is_err_and(|error| error.to_string().contains("not permitted")), "{name}: purge refused: {purge:?}");
        if name == "FUNDLEDGER_TEST" {
            let delete = stream.delete_message(1).await;
            assert!(delete.as_ref().is_err_and(|error| error.to_string().contains("not permitted")), "{name}: message delete refused: {delete:?}");
            // An erase (delete with overwrite) is the same API without `no_erase`.
            let erase = client.request(format!("$JS.API.STREAM.MSG.DELETE.{name}"), r#"{"seq":2}"#.into()).await.expect("the server answers");
            let answer: serde_json::Value = serde_json::from_slice(&erase.payload).expect("a JSON answer");
            assert!(answer["error"]["description"].as_str().is_some_and(|text| text.contains("not permitted")), "{name}: message erase refused: {answer}");
        }
        let mut config = stream.cached_info().config.clone();
        config.deny_delete = false;
        let update = js.update_stream(config.clone()).await;
        assert!(update.is_err(), "{name}: deny_delete cannot be cleared: {update:?}");
        config.deny_delete = true;
        config.deny_purge = false;
        let update = js.update_stream(config).await;
        assert!(update.is_err(), "{name}: deny_purge cannot be cleared: {update:?}");
        let info = js.get_stream(name).await.unwrap().cached_info().config.clone();
        assert!(info.deny_delete && info.deny_purge, "{name}: the guards stay set");
    }
    assert_eq!(stream_size(&nats.url()).await, size);
    replay_stream(&nats.url()).await.expect("the ledger still verifies");
}

/// One HTTP/1.1 exchange over a raw socket: the status and the body. The body
/// is written from a task of its own, so a server that answers (413) before
/// reading it all is seen.
pub(crate) async fn http(address: std::net::SocketAddr, method: &str, path: &str, body: Vec<u8>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(address).await.expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let sent_bytes = body.len();
    let head =
        format!("{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let sending = tokio::spawn(async move {
        // The server may close early (a refused body); that is not a test failure.
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
        // Keep the write side open until the answer is read: hyper closes a
        // connection whose client half-closes before it answered.
        std::future::pending::<()>().await;
        drop(writer);
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), reader.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "the server answers {method} {path} in time");
    sending.abort();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer to {method} {path} ({sent_bytes} bytes sent): {text:.300}"));
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    (status, body)
}

fn error_code(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|error| panic!("a JSON answer ({error}): {body:.300}"));
    value["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_refuses_unsigned_forged_revoked_unauthorised_oversized_and_nested_requests() {
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let actors = Actors::new("http");
    append_all(&writer, actors.setup()).await;
    // A grant officer whose key is then revoked.
    let revoked = SecretKey::from_seed_label("system/revoked-officer");
    append_all(
        &writer,
        vec![
            actors.sign(Event::KeyRegistered(KeyRegistered { key: revoked.key_id(), holder: text("former officer") }), &[&actors.operator]),
            actors.sign(
                Event::RoleGranted(RoleChange { key: revoked.key_id(), role: Role::GrantOfficer, scope: Scope::parse("ledger").unwrap() }),
                &[&actors.operator],
            ),
            actors.sign(Event::KeyRevoked(KeyRevoked { key: revoked.key_id(), reason: text("left the office") }), &[&actors.operator]),
        ],
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(api::serve_http(writer.clone(), listener));
    let size = stream_size(&nats.url()).await;
    let post = |body: String| http(address, "POST", "/v1/events", body.into_bytes());

    let event = actors.pilot_grant(1);
    let signature = event.signatures()[0].to_string();
    let good = event.to_submission_json();

    // Unsigned: no signatures for a listed signer, or no signatures field at all.
    let (status, body) = post(good.replace(&format!("[\"{signature}\"]"), "[]")).await;
    assert_eq!((status, error_code(&body).as_str()), (401, "bad_signature"), "{body}");
    assert!(body.contains("1 signers but carries 0 signatures"), "{body}");
    let (status, body) = post(good.replace(&format!(",\"signatures\":[\"{signature}\"]"), "")).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "invalid_event"), "{body}");
    assert!(body.contains("signatures"), "{body}");

    // Wrongly signed: another key's signature over the right event, and the
    // right key's signature over another event.
    let forged = actors.outsider.sign(domain::EVENT_SIGNATURE, event.event_hash()).to_string();
    let (status, body) = post(good.replace(&signature, &forged)).await;
    assert_eq!((status, error_code(&body).as_str()), (401, "bad_signature"), "{body}");
    let replayed_signature = actors.pilot_grant(2).signatures()[0].to_string();
    let (status, body) = post(good.replace(&signature, &replayed_signature)).await;
    assert_eq!((status, error_code(&body).as_str()), (401, "bad_signature"), "{body}");
    let (status, body) = post(good.replace(&signature, &"0".repeat(127))).await;
    assert_eq!((status, error_code(&body).as_str()), (400, "invalid_event"), "a malformed signature: {body}");

    // A revoked key, and a key without the role.
    let (status, body) = post(actors.pilot_grant_signed_by(3, &revoked).to_submission_json()).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "signer_revoked"), "{body}");
    let (status, body) = post(actors.pilot_grant_signed_by(4, &actors.manager).to_submission_json()).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "signer_unauthorised"), "{body}");
    let (status, body) = post(actors.pilot_grant_signed_by(5, &actors.outsider).to_submission_json()).await;
    assert_eq!((status, error_code(&body).as_str()), (403, "signer_unknown"), "{body}");

    // Oversized: one byte over the limit is refused before it is parsed.
    let oversized = vec![b' '; api::REQUEST_BYTES_MAX + 1];
    let (status, body) = http(address, "POST", "/v1/events", oversized).await;
    assert_eq!(status, 413, "{body:.300}");
    assert_eq!(error_code(&body), "request_too_large", "{body:.300}");

    // Deeply nested JSON (100,000 levels) is refused without harm.
    for nested in ["{\"body\":".repeat(100_000), "[".repeat(100_000)] {
        let (status, body) = post(nested).await;
        assert_eq!((status, error_code(&body).as_str()), (400, "malformed_request"), "{body:.300}");
    }
    // Well-formed nesting is a batch of one submission, which is refused.
    let (status, body) = post(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))).await;
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|error| panic!("a JSON answer ({error}): {body:.300}"));
    assert_eq!(
        (status, &answer["refused"], &answer["results"][0]["error"]["code"]),
        (200, &serde_json::json!(1), &serde_json::json!("invalid_event")),
        "{body:.300}"
    );
    let (status, body) = post(format!("{{\"body\":{}1{},\"signatures\":[]}}", "[".repeat(100_000), "]".repeat(100_000))).await;
    assert_eq!(status, 400, "{body:.300}");

    // Nothing was appended, and the server still works.
    assert_eq!(stream_size(&nats.url()).await, size, "refused requests append nothing");
    assert_eq!(http(address, "GET", "/healthz", Vec::new()).await.0, 200);
    let (status, body) = post(good).await;
    assert_eq!(status, 201, "a good event is still appended: {body}");
    assert_eq!(stream_size(&nats.url()).await, size + 1);
    replay_stream(&nats.url()).await.expect("the ledger verifies");
}
