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
/// (see `cli::announced_address`).
fn serve_read_side(nats_url: &str, data_dir: &Path, log: &Path) -> Child {
    let log_file = std::fs::File::create(log).expect("creates the log");
    let mut command = cli::command();
    command
        .args(["serve", "--no-writer", "--ledger", "test", "--nats", nats_url, "--query-http", "127.0.0.1:0", "--data-dir"])
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
