//! Both HTTP ports under abuse (issue 21): `fundledger serve` under a file
//! limit of 256 holds more idle and slow connections than that limit (nothing
//! sent; half a header block; 10 bytes of a 1,000-byte body), and /healthz,
//! a submission and the query API's /v1/status still answer; the slow
//! connections are closed after the timeouts; HTTPS with a self-signed
//! certificate answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fundledger_system_tests::cli::{self, Serve};
use fundledger_system_tests::{post_batch, Actors};

/// The open-file limit `fundledger serve` runs under.
const FILE_LIMIT: u64 = 256;
/// Connections held against the writer's port: more than the file limit.
const HELD_CONNECTIONS: usize = 300;
const HEADER_TIMEOUT_MS: u64 = 2_000;
const BODY_TIMEOUT_MS: u64 = 2_000;
const IDLE_TIMEOUT_MS: u64 = 3_000;
/// Slack for a timeout to fire and the close to be seen.
const SLACK_MS: u64 = 2_500;

fn hardened_serve() -> Serve {
    let (header, body, idle) = (HEADER_TIMEOUT_MS.to_string(), BODY_TIMEOUT_MS.to_string(), IDLE_TIMEOUT_MS.to_string());
    let args = ["--http-header-timeout-ms", &header, "--http-body-timeout-ms", &body, "--http-idle-timeout-ms", &idle, "--metrics-token", "s3cret"];
    Serve::start_with("test", &args, Some(FILE_LIMIT), true)
}

/// Opens a connection that sends `prefix` and then nothing.
fn hold(address: &str, prefix: &str) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.write_all(prefix.as_bytes()).ok()?;
    Some(stream)
}

const HALF_HEADER: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
fn slow_body(address: &str) -> String {
    format!("POST /v1/events HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{{\"body\":")
}

/// Waits until the server closes `stream` (EOF or reset); what it sent before, and when.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    stream.set_read_timeout(Some(within)).ok()?;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some((String::from_utf8_lossy(&answer).into_owned(), started.elapsed())),
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some((String::from_utf8_lossy(&answer).into_owned(), started.elapsed()))
            }
            Err(_) => return None,
        }
        if started.elapsed() > within {
            return None;
        }
    }
}

#[test]
fn more_idle_and_slow_connections_than_the_file_limit_leave_healthz_and_submissions_answering() {
    let serve = hardened_serve();
    let slow = slow_body(&serve.address);
    let mut held: Vec<TcpStream> = Vec::new();
    for index in 0..HELD_CONNECTIONS {
        let prefix = match index % 3 {
            0 => "",
            1 => HALF_HEADER,
            _ => slow.as_str(),
        };
        held.extend(hold(&serve.address, prefix));
    }
    let query_address = serve.query_url.trim_start_matches("http://").to_string();
    for _ in 0..HELD_CONNECTIONS / 3 {
        held.extend(hold(&query_address, ""));
    }
    assert!(held.len() > FILE_LIMIT as usize, "only {} connections were opened", held.len());
    let started = Instant::now();
    assert_eq!(cli::http_get_status(&serve.address, "/healthz"), Some(200), "writer /healthz while {} connections are held:\n{}", held.len(), serve.log());
    let answer = post_batch(&serve.address, &Actors::new("limits").setup()[..1]).expect("a submission is answered");
    assert_eq!(answer["results"][0]["status"], 201, "{answer}");
    assert_eq!(cli::http_get_status(&query_address, "/v1/status"), Some(200), "query /v1/status:\n{}", serve.log());
    assert_eq!(cli::http_get_status(&serve.address, "/metrics"), Some(401), "/metrics without the token");
    let answered = started.elapsed();
    assert!(answered < Duration::from_millis(HEADER_TIMEOUT_MS), "the answers took {answered:?}: they waited for timeouts");
    // Every held connection is closed by the server once the timeouts pass.
    let bound = Duration::from_millis(IDLE_TIMEOUT_MS.max(HEADER_TIMEOUT_MS).max(BODY_TIMEOUT_MS) + SLACK_MS);
    let open = held
        .iter_mut()
        .map(|stream| closed_within(stream, bound.saturating_sub(started.elapsed()).max(Duration::from_millis(100))))
        .filter(Option::is_none)
        .count();
    assert_eq!(open, 0, "connections still open {bound:?} after the flood");
    let accept_errors = serve.log().matches("accept error").count();
    assert!(accept_errors <= 5, "accept errors are logged at most every 5 s, not in a loop: {accept_errors}");
}

/// Connections that each trickle a body in hold no slot the port needs: at
/// the connection cap, the quietest of them is closed for a new client, long
/// before the body timeout would close it.
#[test]
fn slow_bodies_filling_the_connection_cap_do_not_keep_healthz_out() {
    const CAP: usize = 8;
    let (cap, body_timeout) = (CAP.to_string(), "60000".to_string());
    let serve = Serve::start_with("test", &["--http-connections-max", &cap, "--http-body-timeout-ms", &body_timeout], None, true);
    let slow = slow_body(&serve.address);
    let mut held: Vec<TcpStream> = (0..CAP).filter_map(|_| hold(&serve.address, &slow)).collect();
    assert_eq!(held.len(), CAP, "every slow client connects");
    // Let the server read each request's headers, so every held connection has a request under way.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    assert_eq!(cli::http_get_status(&serve.address, "/healthz"), Some(200), "/healthz with {CAP} slow bodies held:\n{}", serve.log());
    assert!(started.elapsed() < Duration::from_millis(HEADER_TIMEOUT_MS), "it waited {:?}", started.elapsed());
    // The quietest slow client was closed to make room, not kept to the 60 s body timeout.
    let closed = held.iter_mut().filter_map(|stream| closed_within(stream, Duration::from_millis(200))).count();
    assert!(closed >= 1, "no slow client was closed for /healthz");
}

#[test]
fn slow_clients_are_closed_after_the_header_and_body_timeouts() {
    let serve = hardened_serve();
    let opened = Instant::now();
    let mut nothing = hold(&serve.address, "").expect("connects");
    let mut half = hold(&serve.address, HALF_HEADER).expect("connects");
    let mut body = hold(&serve.address, &slow_body(&serve.address)).expect("connects");
    let bound = Duration::from_millis(HEADER_TIMEOUT_MS + SLACK_MS);
    for (name, stream) in [("nothing sent", &mut nothing), ("half a header block", &mut half)] {
        closed_within(stream, bound.saturating_sub(opened.elapsed()).max(Duration::from_millis(100)))
            .unwrap_or_else(|| panic!("{name}: not closed within {bound:?}"));
        let after = opened.elapsed();
        assert!(after >= Duration::from_millis(HEADER_TIMEOUT_MS / 2), "{name}: closed after {after:?}, before the timeout");
    }
    let (answer, _) = closed_within(&mut body, Duration::from_millis(BODY_TIMEOUT_MS + SLACK_MS)).expect("10 bytes of 1,000: closed");
    let after = opened.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "a body that stops gets 408: {answer:?}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(after >= Duration::from_millis(BODY_TIMEOUT_MS / 2) && after < Duration::from_millis(BODY_TIMEOUT_MS + SLACK_MS), "{after:?}");
}

/// A self-signed certificate for `localhost` made with the openssl command
/// (rcgen could not be fetched in the offline build this test was written in).
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl made a certificate");
    (cert, key)
}

#[test]
fn serve_with_a_certificate_answers_over_https_only() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (cert, key) = self_signed(dir.path());
    let (cert_arg, key_arg) = (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned());
    let serve = Serve::start_with("test", &["--tls-cert", &cert_arg, "--tls-key", &key_arg], None, false);
    assert!(serve.log().contains("writer HTTP API : https://"), "{}", serve.log());
    let url = format!("https://{}/healthz", serve.address);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let output = std::process::Command::new("curl").args(["-sS", "--max-time", "5", "--cacert", &cert_arg, &url]).output().expect("curl runs");
        if output.status.success() {
            break String::from_utf8_lossy(&output.stdout).into_owned();
        }
        assert!(Instant::now() < deadline, "no https answer: {}\n{}", String::from_utf8_lossy(&output.stderr), serve.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(body, "ok");
    assert_eq!(cli::http_get_status(&serve.address, "/healthz"), None, "plain HTTP gets no answer on a TLS port");
}
