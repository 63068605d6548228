//! Projector system tests: a `fundledger serve` projector SIGKILLed at random
//! moments (mid-batch, mid-catch-up) and restarted ends byte-identical to a
//! clean `fundledger rebuild`; projectors sharing one durable consumer name
//! (with their own stores, or one store between two) never double-apply; the
//! query API and the CLI's query commands answer with the sequence they
//! reflect, `as_of` included, and serve the committed OpenAPI document; a
//! rebuild that meets a bad record names it and leaves the old models.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_projector::{Durability, Projector, ProjectorConfig, Store};
use fundledger_system_tests::cli;
use fundledger_system_tests::*;

/// NAV reports appended in each round of a test.
const ROUND_EVENTS: u32 = 500;
/// Rounds appended while a projector is killed and restarted, at most: they
/// must outlast the kill cycles, or a fast projector sits at the final tail.
const LIVE_ROUNDS_MAX: u32 = 240;
/// Pause between those rounds.
const LIVE_ROUND_PAUSE_MS: u64 = 250;

fn open_store(path: &Path) -> Store {
    Store::open(path, &ledger_id()).expect("the read models open")
}

/// `fundledger serve --no-writer` with its query API on a port of its choosing
/// (see `cli::announced_address`), reads open to everyone.
fn serve_read_side(nats_url: &str, data_dir: &Path, log: &Path) -> Child {
    serve_read_side_with(nats_url, data_dir, log, "open")
}

/// The same with `--reads` as given.
fn serve_read_side_with(nats_url: &str, data_dir: &Path, log: &Path, reads: &str) -> Child {
    let log_file = std::fs::File::create(log).expect("creates the log");
    let mut command = cli::command();
    command
        .args(["serve", "--no-writer", "--ledger", "test", "--nats", nats_url, "--query-http", "127.0.0.1:0", "--reads", reads, "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file)
        .process_group(0);
    command.spawn().expect("fundledger serve starts")
}

fn kill(child: &mut Child) {
    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).stderr(Stdio::null()).status();
    let _ = child.wait();
}

/// The body of `GET path` over plain HTTP/1.1, if the server answers.
fn http_body(address: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&address.parse().ok()?, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(2_000))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

/// `records` from the query API's `/v1/status`, if it answers.
fn projected_records(address: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(&http_body(address, "/v1/status")?).ok()?;
    value["data"]["records"].as_u64()
}

/// A test ledger with the setup events, then `rounds` rounds of NAV reports.
async fn backlog(tag: &str, rounds: u32) -> TestLedger {
    let ledger = TestLedger::start().await;
    let actors = Actors::new(tag);
    append_all(&ledger.writer, actors.setup()).await;
    for round in 0..rounds {
        append_all(&ledger.writer, (0..ROUND_EVENTS).map(|index| actors.nav_report(round * ROUND_EVENTS + index)).collect()).await;
    }
    ledger
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_restarts_to_the_models_of_a_clean_rebuild() {
    // A backlog for the first start (a catch-up), then appends while it runs (live commits).
    let TestLedger { nats, writer, writer_dir: _writer_dir } = backlog("kill", 24).await;
    let url = nats.url();
    // Appends go on through every kill cycle (bounded by LIVE_ROUNDS_MAX), so most kills land mid-stream.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let appending = tokio::spawn({
        let stop = stop.clone();
        async move {
            let actors = Actors::new("live");
            for round in 0..LIVE_ROUNDS_MAX {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let mut events: Vec<_> = (0..ROUND_EVENTS).map(|index| actors.nav_report(round * ROUND_EVENTS + index)).collect();
                events.push(actors.pilot_grant(round));
                append_all(&writer, events).await;
                tokio::time::sleep(Duration::from_millis(LIVE_ROUND_PAUSE_MS)).await;
            }
        }
    });
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    let models = data.join("projector");
    let mut positions = Vec::new();
    for cycle in 0..12u64 {
        let mut child = serve_read_side(&url, &data, &dir.path().join(format!("serve-{cycle}.log")));
        tokio::time::sleep(Duration::from_millis(250 + 97 * cycle)).await;
        kill(&mut child);
        let position = open_store(&models).position().expect("position").seq;
        positions.push(position);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    appending.await.expect("the appends finish");
    let tail = stream_size(&url).await;
    let mid_way = positions.iter().filter(|&&position| position > 0 && position < tail).count();
    assert!(mid_way >= 3, "the projector should have been killed part-way at least 3 times: {positions:?} of {tail}");
    // A last run to the tail, killed again once there.
    let last_log = dir.path().join("serve-last.log");
    let mut child = serve_read_side(&url, &data, &last_log);
    let address = cli::wait_for_address(&mut child, &last_log, "query API");
    let deadline = Instant::now() + Duration::from_millis(TEST_WAIT_MS * 2);
    while projected_records(&address) != Some(tail) {
        assert!(
            Instant::now() < deadline,
            "the projector did not reach record {tail}: {:?}\n{}",
            projected_records(&address),
            std::fs::read_to_string(&last_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill(&mut child);

    // A clean rebuild from the stream.
    let clean = dir.path().join("clean");
    let output = cli::run(&["rebuild", "--nats", &url, "--ledger", "test", "--json", "--data-dir", clean.to_str().expect("utf-8 path")], None, None);
    assert!(output.success(), "{output}");
    let restarted = open_store(&models).dump().expect("dump");
    let rebuilt = open_store(&clean.join("projector")).dump().expect("dump");
    assert_eq!(restarted.len(), rebuilt.len(), "the same number of keys");
    for (index, (left, right)) in restarted.iter().zip(&rebuilt).enumerate() {
        assert!(left == right, "entry {index} differs: {:?} vs {:?}", String::from_utf8_lossy(&left.0), String::from_utf8_lossy(&right.0));
    }
    assert_eq!(open_store(&models).position().expect("position").seq, tail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projectors_sharing_a_durable_name_never_double_apply() {
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let url = nats.url();
    let actors = Actors::new("twins");
    append_all(&writer, actors.setup()).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let js = fundledger_nats::Broker::connect(&url).await.expect("connects");
    let config = ProjectorConfig { durable_name: "twins".to_string(), ..ProjectorConfig::new(ledger_id()) };
    // Two instances with their own stores, and two more sharing one store: all on one durable consumer.
    let own_a = Arc::new(open_store(&dir.path().join("a")));
    let own_b = Arc::new(open_store(&dir.path().join("b")));
    let shared = Arc::new(open_store(&dir.path().join("shared")));
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for store in [&own_a, &own_b, &shared, &shared] {
        let projector = Projector::new(store.clone(), js.clone(), config.clone()).expect("projector");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        tasks.push(tokio::spawn(projector.run(async move {
            let _ = stopped.await;
        })));
    }
    for round in 0..12u32 {
        let mut events: Vec<_> = (0..ROUND_EVENTS).map(|index| actors.nav_report(round * ROUND_EVENTS + index)).collect();
        events.push(actors.pilot_grant(round));
        append_all(&writer, events).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let tail = stream_size(&url).await;
    let deadline = Instant::now() + Duration::from_millis(TEST_WAIT_MS);
    for store in [&own_a, &own_b, &shared] {
        while store.position().expect("position").seq < tail {
            assert!(Instant::now() < deadline, "a projector stopped at {} of {tail}", store.position().expect("position").seq);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for stop in stops {
        let _ = stop.send(());
    }
    for task in tasks {
        task.await.expect("projector task").expect("the projector stops cleanly");
    }
    let reference = Arc::new(open_store(&dir.path().join("reference")));
    let mut rebuild = Projector::new(reference.clone(), js.clone(), ProjectorConfig::new(ledger_id())).expect("projector");
    assert_eq!(rebuild.catch_up(None, Durability::Bulk).await.expect("rebuild"), tail);
    let expected = reference.dump().expect("dump");
    for (name, store) in [("a", &own_a), ("b", &own_b), ("shared", &shared)] {
        assert!(store.dump().expect("dump") == expected, "projector store {name} differs from a clean rebuild");
    }
}

/// `fundledger <args> --api URL --json`, parsed.
fn query_json(api: &str, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--api", api, "--json"]);
    let output = cli::run(&all, None, None);
    assert!(output.success(), "{all:?}: {output}");
    serde_json::from_str(&output.stdout).unwrap_or_else(|error| panic!("{all:?} printed no JSON ({error}): {output}"))
}

fn waits_for(address: &str, records: u64, log: &Path) {
    let deadline = Instant::now() + Duration::from_millis(TEST_WAIT_MS);
    while projected_records(address) != Some(records) {
        assert!(Instant::now() < deadline, "the projector did not reach record {records}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_and_cli_answer_with_the_sequence_they_reflect() {
    use fundledger_core::event::*;
    use fundledger_core::money::Money;
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let url = nats.url();
    let actors = Actors::new("query");
    append_all(&writer, actors.setup()).await;
    // The ILPA worked check on sub-fund sf-ai: committed 80, paid in 72, distributed 54, NAV 48 (HK$ millions,
    // each under the dual-control threshold).
    let subfund = || "sf-ai".parse().expect("id");
    let manager = &actors.manager;
    append_all(
        &writer,
        vec![actors.sign(Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund(), amount_cents: Money::hkd(80_000_000) }), &[manager])],
    )
    .await;
    let committed_at = stream_size(&url).await;
    append_all(
        &writer,
        vec![
            actors
                .sign(Event::CapitalCalled(CapitalCalled { subfund: subfund(), reference: text("call 1"), amount_cents: Money::hkd(72_000_000) }), &[manager]),
            actors.sign(Event::Distributed(Distributed { subfund: subfund(), amount_cents: Money::hkd(54_000_000), recallable: false }), &[manager]),
            actors.sign(
                Event::NavReported(NavReported { subfund: subfund(), as_of: "2026-03-31".parse().expect("date"), nav_cents: Money::hkd(48_000_000) }),
                &[manager],
            ),
            actors.pilot_grant(1),
        ],
    )
    .await;
    let tail = stream_size(&url).await;

    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("serve.log");
    let mut child = serve_read_side(&url, &dir.path().join("data"), &log);
    let address = cli::wait_for_address(&mut child, &log, "query API");
    waits_for(&address, tail, &log);
    let api = format!("http://{address}");

    let now = query_json(&api, &["subfund", "show", "sf-ai"]);
    assert_eq!((now["seq"].as_u64(), now["position"].as_u64()), (Some(tail), Some(tail)), "{now}");
    let multiples = &now["data"]["figures"]["multiples"];
    assert_eq!(
        (multiples["dpi"]["display"].as_str(), multiples["rvpi"]["display"].as_str(), multiples["tvpi"]["display"].as_str()),
        (Some("0.75x"), Some("0.67x"), Some("1.42x")),
        "{now}"
    );
    // 80 of 2,480 committed: 3.22%, within the 25% maximum.
    assert_eq!((now["data"]["government_share"]["share"]["bps"].as_u64(), now["data"]["government_share"]["met"].as_bool()), (Some(322), Some(true)));
    let past = query_json(&api, &["subfund", "show", "sf-ai", "--as-of", &committed_at.to_string()]);
    assert_eq!((past["seq"].as_u64(), past["position"].as_u64()), (Some(committed_at), Some(tail)));
    assert_eq!(past["data"]["paid_in_cents"].as_u64(), Some(0), "nothing was called as of record {committed_at}: {past}");

    let portfolio = query_json(&api, &["portfolio"]);
    assert_eq!(portfolio["data"]["funds"][0]["totals"]["paid_in_cents"].as_u64(), Some(7_200_000_000));
    let grant_id = "pilot-query-1";
    let grant = query_json(&api, &["grant", "show", grant_id]);
    assert_eq!(grant["data"]["history"].as_array().map(Vec::len), Some(1));
    let enterprise = query_json(&api, &["enterprise", "show", "ent-query-1"]);
    assert_eq!(enterprise["data"]["schemes"][0]["grants"][0]["grant"].as_str(), Some(grant_id));
    let scheme = query_json(&api, &["scheme", "show", "pilot"]);
    assert_eq!((scheme["data"]["grant_count"].as_u64(), scheme["data"]["committed_cents"].as_u64()), (Some(1), Some(10_000_000)));
    let events = query_json(&api, &["events", "--subfund", "sf-ai"]);
    assert_eq!(events["data"]["events"].as_array().map(Vec::len), Some(6), "admitted, market and government commitments, call, distribution, NAV");
    let refused = cli::run(&["grant", "show", "no-such-grant", "--api", &api], None, None);
    assert!(!refused.success() && refused.stderr.contains("not_found"), "{refused}");
    // A human table names the sequence too.
    let table = cli::run(&["subfund", "show", "sf-ai", "--api", &api], None, None);
    assert!(table.success() && table.stdout.contains(&format!("record {tail}")) && table.stdout.contains("TVPI 1.42x"), "{table}");

    // The quarterly report as CSV, written to a file.
    let report = dir.path().join("2026Q1.csv");
    let output = cli::run(&["report", "--quarter", "2026Q1", "--api", &api, "--out", report.to_str().expect("utf-8 path")], None, None);
    assert!(output.success(), "{output}");
    let csv = std::fs::read_to_string(&report).expect("the report is written");
    let row = csv.lines().find(|line| line.starts_with("subfund,2026Q1,itf,sf-ai,")).unwrap_or_else(|| panic!("no sf-ai row:\n{csv}"));
    assert!(row.contains(",7200000000,5400000000,4800000000,2026-03-31,0.7500,0.6667,1.4167"), "{row}");

    // Every answer is what the served OpenAPI document says, strictly: no member it does not declare.
    let document: serde_json::Value = serde_json::from_str(&http_body(&address, "/openapi.json").expect("the document")).expect("JSON");
    let approval = events["data"]["events"][0]["id"].as_str().expect("an event id").to_string();
    let answers = [
        ("/v1/status", "/v1/status".to_string(), "200"),
        ("/v1/portfolio", "/v1/portfolio".to_string(), "200"),
        ("/v1/funds", "/v1/funds".to_string(), "200"),
        ("/v1/funds/{fund}", "/v1/funds/itf".to_string(), "200"),
        ("/v1/subfunds/{subfund}", "/v1/subfunds/sf-ai".to_string(), "200"),
        ("/v1/subfunds/{subfund}", format!("/v1/subfunds/sf-ai?as_of={committed_at}"), "200"),
        ("/v1/schemes", "/v1/schemes".to_string(), "200"),
        ("/v1/schemes/{scheme}", "/v1/schemes/pilot".to_string(), "200"),
        ("/v1/schemes/{scheme}", "/v1/schemes/nias".to_string(), "200"),
        ("/v1/enterprises/{enterprise}", "/v1/enterprises/ent-query-1".to_string(), "200"),
        ("/v1/grants/{grant}", format!("/v1/grants/{grant_id}"), "200"),
        ("/v1/events", "/v1/events?limit=1000".to_string(), "200"),
        ("/v1/events/{id}", format!("/v1/events/{approval}"), "200"),
        ("/v1/reports/quarterly", "/v1/reports/quarterly?quarter=2026Q1".to_string(), "200"),
        ("/v1/sessions/current", "/v1/sessions/current".to_string(), "200"),
        ("/v1/grants/{grant}", "/v1/grants/no-such-grant".to_string(), "404"),
        ("/v1/events", "/v1/events?after=x".to_string(), "400"),
        ("/v1/portfolio", format!("/v1/portfolio?as_of={}", tail + 1), "409"),
    ];
    for (route, path, status) in answers {
        let (code, answer) = http_call(&address, "GET", &path, &[], None);
        assert_eq!(code.to_string(), status, "{path}: {answer}");
        assert_matches_document(&document, "get", route, status, &answer);
    }
    // The check can fail: a member the document does not declare, or a figure of the wrong type, is caught.
    let mut undeclared = portfolio.clone();
    undeclared["data"]["funds"][0]["totals"]["surprise"] = serde_json::json!(1);
    assert!(!document_errors(&document, "get", "/v1/portfolio", "200", &undeclared).is_empty(), "an undeclared member passed");
    let mut mistyped = portfolio.clone();
    mistyped["seq"] = serde_json::json!("seven");
    assert!(!document_errors(&document, "get", "/v1/portfolio", "200", &mistyped).is_empty(), "a string passed for an integer");

    // Parameters are strict: repeated, empty, out-of-range and malformed ones are refused, in JSON.
    for path in [
        "/v1/events?grant=pilot-query-1&grant=pilot-query-2",
        "/v1/events?fund=",
        "/v1/events?after=9223372036854775808",
        "/v1/events?scheme=Not!An-Id",
        "/v1/grants/%ff%fe",
        "/v1/grants/Not_An_Id",
        "/v1/portfolio?as_of=1&as_of=2",
    ] {
        let (status, body) = http_call(&address, "GET", path, &[], None);
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{path}: {body}");
    }

    // The served OpenAPI document is the committed one.
    let served = http_body(&address, "/openapi.json").expect("the query API answers");
    let committed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/api/openapi.json")).expect("schemas/api/openapi.json");
    assert!(served == committed, "the served OpenAPI document differs from schemas/api/openapi.json");
    kill(&mut child);
}

/// A rebuild that meets a bad record (here one appended past the writer,
/// its sequence changed so that its stated hash no longer holds) fails,
/// names the record, and leaves the read models it would have replaced as
/// they were; the chunks it had already committed were in a database of
/// its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_that_meets_a_bad_record_names_it_and_keeps_the_old_models() {
    // More than a chunk (4,096 records), so the commit thread has written one before the bad record.
    let TestLedger { nats, writer: _writer, writer_dir: _writer_dir } = backlog("bad", 9).await;
    let url = nats.url();
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    let rebuild = || cli::run(&["rebuild", "--nats", &url, "--ledger", "test", "--json", "--data-dir", data.to_str().expect("utf-8 path")], None, None);
    let first = rebuild();
    assert!(first.success(), "{first}");
    let good_tail = stream_size(&url).await;
    let before = open_store(&data.join("projector")).dump().expect("dump");

    let js = fundledger_nats::Broker::connect(&url).await.expect("connects");
    let stream = fundledger_nats::stream_name("test").expect("name");
    let last = fundledger_nats::get_message(&js, &stream, good_tail).await.expect("reads").expect("the last record");
    let text = String::from_utf8(last.payload.to_vec()).expect("a record is text");
    let forged = text.replacen(&format!("\"seq\":{good_tail},"), &format!("\"seq\":{},", good_tail + 1), 1);
    assert_ne!(forged, text, "the sequence is in the record");
    js.raw_jetstream().publish(last.subject.clone(), forged.into()).await.expect("publishes").await.expect("stored past the writer");

    let second = rebuild();
    assert!(!second.success(), "a rebuild over a bad record must fail: {second}");
    let bad = (good_tail + 1).to_string();
    assert!(second.stderr.contains(&bad) && second.stderr.to_lowercase().contains("hash"), "the error names record {bad} and its hash: {second}");
    let after = open_store(&data.join("projector"));
    assert_eq!(after.position().expect("position").seq, good_tail);
    assert!(after.dump().expect("dump") == before, "the read models a failed rebuild would have replaced are unchanged");
}

/// `method path` with `headers` and a JSON `body` over plain HTTP/1.1: the status and the body.
fn http_call(address: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&serde_json::Value>) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("the query API accepts");
    stream.set_read_timeout(Some(Duration::from_millis(TEST_WAIT_MS))).expect("timeout");
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(stream, "{request}\r\n{body}").expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("reads the answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, serde_json::from_str(body).unwrap_or_else(|error| panic!("{method} {path}: the body is not JSON ({error}): {body:?}")))
}

/// Signs in over HTTP with `key`: the bearer token, or the refusal's status and body.
fn sign_in(address: &str, key: &fundledger_core::crypto::SecretKey) -> Result<String, (u16, serde_json::Value)> {
    let public = key.key_id().to_string();
    let (status, challenge) = http_call(address, "POST", "/v1/sessions/challenge", &[], Some(&serde_json::json!({ "key": public })));
    if status != 200 {
        return Err((status, challenge));
    }
    let bytes: [u8; 32] = hex::decode(challenge["challenge"].as_str().expect("challenge")).expect("hex").try_into().expect("32 bytes");
    let signature = fundledger_core::read_access::sign_challenge(key, &ledger_id(), &bytes);
    let request = serde_json::json!({ "key": public, "challenge": challenge["challenge"], "signature": signature.to_string() });
    match http_call(address, "POST", "/v1/sessions", &[], Some(&request)) {
        (200, session) => Ok(session["token"].as_str().expect("token").to_string()),
        refused => Err(refused),
    }
}

/// A key file as `fundledger keygen` writes it.
fn write_key_file(path: &Path, key: &fundledger_core::crypto::SecretKey, holder: &str) {
    let json = serde_json::json!({ "holder": holder, "public": key.key_id().to_string(), "secret": key.to_hex() });
    std::fs::write(path, json.to_string()).expect("writes the key file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_sign_in_with_ledger_keys_and_read_what_their_roles_allow() {
    use fundledger_core::crypto::SecretKey;
    use fundledger_core::event::*;
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let url = nats.url();
    let actors = Actors::new("reads");
    append_all(&writer, actors.setup()).await;
    let grant = "pilot-reads-1";
    append_all(&writer, vec![actors.pilot_grant(1)]).await;
    // Readers of each kind: an auditor and a reporting service for the whole ledger, a grant
    // officer of the pilot scheme only; the setup's fund manager holds fund itf.
    let (auditor, reporting, pilot_officer, stranger) = (
        SecretKey::from_seed_label("reads/auditor"),
        SecretKey::from_seed_label("reads/reporting"),
        SecretKey::from_seed_label("reads/pilot"),
        SecretKey::from_seed_label("reads/stranger"),
    );
    let mut events = Vec::new();
    for (key, role, scope) in
        [(&auditor, Role::Auditor, "ledger"), (&reporting, Role::Reporting, "ledger"), (&pilot_officer, Role::GrantOfficer, "scheme:pilot")]
    {
        events.push(actors.sign(Event::KeyRegistered(KeyRegistered { key: key.key_id(), holder: text("reader") }), &[&actors.operator]));
        events.push(actors.sign(Event::RoleGranted(RoleChange { key: key.key_id(), role, scope: Scope::parse(scope).expect("scope") }), &[&actors.operator]));
    }
    append_all(&writer, events).await;
    let tail = stream_size(&url).await;

    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("serve.log");
    let mut child = serve_read_side_with(&url, &dir.path().join("data"), &log, "keys");
    let address = cli::wait_for_address(&mut child, &log, "query API");
    waits_for(&address, tail, &log);
    let api = format!("http://{address}");

    // Over HTTP: without a session, the public aggregates only.
    let get = |path: &str, token: Option<&str>| {
        let bearer = token.map(|token| format!("Bearer {token}"));
        let headers: Vec<(&str, &str)> = bearer.iter().map(|value| ("Authorization", value.as_str())).collect();
        http_call(&address, "GET", path, &headers, None)
    };
    for path in ["/v1/portfolio", "/v1/funds", "/v1/schemes", "/v1/status"] {
        assert_eq!(get(path, None).0, 200, "{path} is a public aggregate");
    }
    let private = [
        "/v1/funds/itf",
        "/v1/subfunds/sf-ai",
        "/v1/schemes/pilot",
        "/v1/grants/pilot-reads-1",
        "/v1/enterprises/ent-reads-1",
        "/v1/events",
        "/v1/events?grant=pilot-reads-1",
        "/v1/reports/quarterly?quarter=2026Q1",
    ];
    for path in private {
        let (status, body) = get(path, None);
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("sign_in_required")), "{path}: {body}");
    }

    // Each role sees exactly its part.
    let manager = sign_in(&address, &actors.manager).expect("the fund manager signs in");
    let officer = sign_in(&address, &pilot_officer).expect("the pilot's grant officer signs in");
    for (who, token) in [("auditor", sign_in(&address, &auditor).expect("signs in")), ("reporting", sign_in(&address, &reporting).expect("signs in"))] {
        for path in private {
            assert_eq!(get(path, Some(&token)).0, 200, "the {who} role reads {path}");
        }
    }
    let fund_side = ["/v1/funds/itf", "/v1/subfunds/sf-ai", "/v1/events?subfund=sf-ai", "/v1/events?fund=itf"];
    let scheme_side = ["/v1/schemes/pilot", "/v1/grants/pilot-reads-1", "/v1/events?grant=pilot-reads-1", "/v1/events?scheme=pilot"];
    let ledger_side = ["/v1/events", "/v1/enterprises/ent-reads-1", "/v1/reports/quarterly?quarter=2026Q1", "/v1/schemes/nias"];
    for path in fund_side {
        assert_eq!(get(path, Some(&manager)).0, 200, "the fund manager reads {path}");
        let (status, body) = get(path, Some(&officer));
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "the pilot officer may not read {path}: {body}");
    }
    for path in scheme_side {
        assert_eq!(get(path, Some(&officer)).0, 200, "the pilot officer reads {path}");
        assert_eq!(get(path, Some(&manager)).0, 403, "the fund manager may not read {path}");
    }
    for path in ledger_side {
        assert_eq!(get(path, Some(&manager)).0, 403, "the fund manager may not read {path}");
        assert_eq!(get(path, Some(&officer)).0, 403, "the pilot officer may not read {path}");
    }
    // One event by id: the grant's approval is the pilot's, not the fund's.
    let (_, page) = get("/v1/events?grant=pilot-reads-1", Some(&officer));
    let approval = page["data"]["events"][0]["id"].as_str().expect("the approval's id").to_string();
    assert_eq!(get(&format!("/v1/events/{approval}"), Some(&officer)).0, 200);
    assert_eq!(get(&format!("/v1/events/{approval}"), Some(&manager)).0, 403);
    let (status, body) = get("/v1/sessions/current", Some(&officer));
    assert_eq!((status, body["access"]["schemes"][0].as_str(), body["access"]["everything"].as_bool()), (200, Some("pilot"), Some(false)), "{body}");

    // Keys the ledger does not know, and tokens it did not give, are refused.
    let (status, body) = sign_in(&address, &stranger).expect_err("an unregistered key cannot sign in");
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_not_registered")), "{body}");
    let (status, body) = get("/v1/funds/itf", Some("0123456789abcdef"));
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")), "{body}");
    let replayed = http_call(
        &address,
        "POST",
        "/v1/sessions",
        &[],
        Some(&serde_json::json!({"key": auditor.key_id().to_string(), "challenge": "00".repeat(32), "signature": "00".repeat(64)})),
    );
    assert_eq!((replayed.0, replayed.1["error"]["code"].as_str()), (401, Some("sign_in_refused")), "{}", replayed.1);

    // Through the CLI, with --key.
    let (officer_file, manager_file) = (dir.path().join("officer.json"), dir.path().join("manager.json"));
    write_key_file(&officer_file, &pilot_officer, "Pilot officer");
    write_key_file(&manager_file, &actors.manager, "Fund manager");
    let (officer_file, manager_file) = (officer_file.display().to_string(), manager_file.display().to_string());
    let shown = cli::run(&["grant", "show", grant, "--api", &api, "--key", &officer_file, "--json"], None, None);
    assert!(shown.success() && shown.stdout.contains(grant), "{shown}");
    let refused = cli::run(&["grant", "show", grant, "--api", &api, "--key", &manager_file], None, None);
    assert!(!refused.success() && refused.stderr.contains("refused [forbidden]"), "{refused}");
    let anonymous = cli::run(&["grant", "show", grant, "--api", &api], None, None);
    assert!(!anonymous.success() && anonymous.stderr.contains("sign_in_required"), "{anonymous}");
    let subfund = cli::run(&["subfund", "show", "sf-ai", "--api", &api, "--key", &manager_file], None, None);
    assert!(subfund.success(), "{subfund}");
    let portfolio = cli::run(&["portfolio", "--api", &api], None, None);
    assert!(portfolio.success(), "the portfolio is public: {portfolio}");

    // Revoking the officer's key on the ledger ends its reads at once, the open session's too.
    append_all(&writer, vec![actors.sign(Event::KeyRevoked(KeyRevoked { key: pilot_officer.key_id(), reason: text("left") }), &[&actors.operator])]).await;
    waits_for(&address, tail + 1, &log);
    let (status, body) = get("/v1/grants/pilot-reads-1", Some(&officer));
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "a revoked key reads nothing more: {body}");
    let (status, body) = sign_in(&address, &pilot_officer).expect_err("a revoked key cannot sign in");
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("key_revoked")), "{body}");
    let revoked = cli::run(&["grant", "show", grant, "--api", &api, "--key", &officer_file], None, None);
    assert!(!revoked.success() && revoked.stderr.contains("key_revoked"), "{revoked}");
    // Revoking a role does the same for the fund manager's reads of the fund.
    let role = RoleChange { key: actors.manager.key_id(), role: Role::FundManager, scope: Scope::parse("fund:itf").expect("scope") };
    append_all(&writer, vec![actors.sign(Event::RoleRevoked(role), &[&actors.operator])]).await;
    waits_for(&address, tail + 2, &log);
    assert_eq!(get("/v1/funds/itf", Some(&manager)).0, 403, "a revoked role reads nothing more");
    kill(&mut child);
}
