//! Stopping `fundledger serve`: SIGTERM (what systemd, Docker and Kubernetes
//! send) and SIGINT stop it cleanly, exit 0 within the bound and take the
//! embedded nats-server with them; under load every HTTP request gets a
//! complete answer and every acknowledged event is in the stream at its
//! acknowledged sequence; and a serve killed with SIGKILL leaves no orphaned
//! nats-server either (the child gets SIGTERM when its parent dies).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_core::record::SignedEvent;
use fundledger_system_tests::cli::Serve;
use fundledger_system_tests::*;

/// `fundledger serve`'s bound on a clean stop (crates/cli/src/serve.rs `STOP_TIMEOUT_MS`).
const STOP_BOUND_MS: u64 = 10_000;
/// Bound on an orphaned nats-server exiting after its parent was killed.
const ORPHAN_EXIT_MS: u64 = 10_000;
const POLL_MS: u64 = 20;

/// The embedded nats-server's pid, from serve's start-up line `NATS : url (embedded, pid N)`.
fn embedded_pid(log: &str) -> u32 {
    log.lines()
        .find_map(|line| line.split_once("(embedded, pid ")?.1.strip_suffix(')')?.parse().ok())
        .unwrap_or_else(|| panic!("serve names its embedded nats-server's pid:\n{log}"))
}

/// True if `pid` no longer runs (gone, or a zombie nobody reaped yet).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !is_gone(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(POLL_MS));
    }
    true
}

fn stops_cleanly_on(signal: &str) {
    let mut serve = Serve::start("shutdown");
    let nats = embedded_pid(&serve.log());
    assert!(!is_gone(nats), "the embedded nats-server runs");
    let signalled = Instant::now();
    serve.signal(signal);
    let status = serve
        .wait_exit(Duration::from_millis(STOP_BOUND_MS))
        .unwrap_or_else(|| panic!("serve did not stop within {STOP_BOUND_MS} ms of SIG{signal}:\n{}", serve.log()));
    let took = signalled.elapsed();
    let log = serve.log();
    assert_eq!(status.code(), Some(0), "a clean stop exits 0:\n{log}");
    assert!(wait_gone(nats, Duration::from_millis(POLL_MS * 5)), "the embedded nats-server {nats} stopped with serve:\n{log}");
    assert!(log.contains(&format!("stopped on SIG{signal} in ")), "serve says it stopped:\n{log}");
    for role in [
        "writer HTTP API",
        "NATS submit subscription",
        "writer (ledger at 0 records)",
        "projector and query API",
        &format!("embedded nats-server (pid {nats})"),
    ] {
        assert!(log.contains(role), "the stop line names {role}:\n{log}");
    }
    assert!(took < Duration::from_millis(STOP_BOUND_MS), "stopped in {took:?}");
}

#[test]
fn sigterm_stops_serve_and_its_embedded_nats_server_with_exit_code_0() {
    stops_cleanly_on("TERM");
}

#[test]
fn sigint_stops_serve_and_its_embedded_nats_server_with_exit_code_0() {
    stops_cleanly_on("INT");
}

#[test]
fn an_embedded_nats_server_exits_by_itself_when_serve_is_killed_with_sigkill() {
    let mut serve = Serve::start("orphan");
    let nats = embedded_pid(&serve.log());
    serve.signal("KILL");
    assert!(serve.wait_exit(Duration::from_millis(STOP_BOUND_MS)).is_some(), "serve dies of SIGKILL");
    assert!(wait_gone(nats, Duration::from_millis(ORPHAN_EXIT_MS)), "the nats-server {nats} of a killed serve exits within {ORPHAN_EXIT_MS} ms");
}

/// What one loading client saw.
#[derive(Default)]
struct Seen {
    acknowledged: Vec<(String, u64, String, bool)>,
    refused_shutting_down: usize,
    not_sent: usize,
    failures: Vec<String>,
}

#[test]
fn sigterm_under_load_answers_every_request_and_keeps_every_acknowledged_event() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let nats = runtime.block_on(start_nats());
    let data = tempfile::tempdir().unwrap();
    let mut serve = Serve::start_on("test", &nats.url(), data.path());
    let actors = Actors::new("shutdown");
    let setup = post_batch(&serve.address, &actors.setup()).unwrap();
    assert_eq!(setup["refused"], 0, "{setup}");
    let events: Vec<SignedEvent> = (0..60_000).map(|n| actors.nav_report(n)).collect();

    // Three clients post batches until they are refused or the port is closed.
    let stopping = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = events
        .chunks(events.len() / 3)
        .map(|share| {
            let (share, address, stopping) = (share.to_vec(), serve.address.clone(), stopping.clone());
            std::thread::spawn(move || {
                let mut seen = Seen::default();
                for batch in share.chunks(100) {
                    match post_batch(&address, batch) {
                        Ok(answer) if answer["status"] == 503 => {
                            assert_eq!(answer["error"]["code"], "unavailable", "{answer}");
                            seen.refused_shutting_down += 1;
                            break;
                        }
                        Ok(answer) => {
                            assert_eq!(answer["status"], 200, "{answer}");
                            let receipts = receipts(&answer);
                            for result in answer["results"].as_array().into_iter().flatten() {
                                let refused = result.get("error").is_some();
                                if refused && (result["status"] != 503 || result["error"]["code"] != "unavailable") {
                                    seen.failures.push(format!("an event was refused for another reason than the stop: {result}"));
                                }
                            }
                            seen.acknowledged.extend(receipts);
                        }
                        Err(PostError::NotSent(_)) if stopping.load(Ordering::SeqCst) => {
                            seen.not_sent += 1;
                            break;
                        }
                        Err(error) => {
                            seen.failures.push(format!("stopping: {}, {error}", stopping.load(Ordering::SeqCst)));
                            break;
                        }
                    }
                }
                seen
            })
        })
        .collect();
    let started = Instant::now();
    while runtime.block_on(stream_size(&nats.url())) < 3_000 {
        assert!(started.elapsed() < Duration::from_millis(TEST_WAIT_MS), "the load did not start:\n{}", serve.log());
        std::thread::sleep(Duration::from_millis(5));
    }
    stopping.store(true, Ordering::SeqCst);
    let signalled = Instant::now();
    serve.signal("TERM");
    let status =
        serve.wait_exit(Duration::from_millis(STOP_BOUND_MS)).unwrap_or_else(|| panic!("serve did not stop within {STOP_BOUND_MS} ms:\n{}", serve.log()));
    let took = signalled.elapsed();
    let seen: Vec<Seen> = clients.into_iter().map(|client| client.join().unwrap()).collect();
    let log = serve.log();
    assert_eq!(status.code(), Some(0), "a clean stop under load exits 0 (took {took:?}):\n{log}");
    let failures: Vec<&String> = seen.iter().flat_map(|seen| &seen.failures).collect();
    assert!(failures.is_empty(), "every request got a complete answer: {failures:?}\n{log}");
    assert!(seen.iter().all(|seen| seen.refused_shutting_down + seen.not_sent == 1), "every client was stopped by a 503 or a closed port");
    assert!(seen.iter().any(|seen| seen.refused_shutting_down > 0), "the writer answered 503 while stopping");

    let acknowledged: Vec<_> = seen.iter().flat_map(|seen| &seen.acknowledged).collect();
    let replayed = runtime.block_on(replay_stream(&nats.url())).expect("the chain verifies after the stop");
    let setup_records = actors.setup().len();
    assert!(!acknowledged.is_empty() && replayed.len() < setup_records + events.len(), "the stop came under load");
    for (id, seq, _, _) in &acknowledged {
        assert_eq!(replayed.get(*seq as usize - 1).map(|(_, at)| at), Some(id), "acknowledged {id} is at {seq}");
    }
    // A stop answers everything it appended: nothing is in the stream that no caller was told of.
    assert_eq!(replayed.len(), setup_records + acknowledged.len(), "every record appended was acknowledged to its caller");
}
