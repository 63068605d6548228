//! Shared helpers for the system tests in tests/: real nats-server processes
//! on free loopback ports with temporary directories, writers on them, and a
//! small signed scenario to append.

use std::path::Path;
use std::time::Duration;

use fundledger_core::crypto::{sha256, SecretKey};
use fundledger_core::event::*;
use fundledger_core::id::{EventId, LedgerId};
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::SignedEvent;
use fundledger_core::replay::Replay;
use fundledger_core::time::Timestamp;
use fundledger_nats::{EmbeddedNats, EmbeddedOptions};
use fundledger_writer::{Receipt, WriteError, Writer, WriterConfig};

pub mod limbo;

/// Why [`post_batch`] has no answer.
#[derive(Debug)]
pub enum PostError {
    /// Nothing was sent: the connection was refused (no server listens).
    NotSent(String),
    /// The request was sent (or partly) but no complete answer came back.
    NoAnswer(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::NotSent(reason) => write!(formatter, "not sent: {reason}"),
            PostError::NoAnswer(reason) => write!(formatter, "no answer: {reason}"),
        }
    }
}

/// `POST /v1/events` with a JSON array of submissions over plain HTTP/1.1
/// (a connection of its own); the parsed JSON answer, whose `status` is the
/// HTTP status.
pub fn post_batch(address: &str, events: &[SignedEvent]) -> Result<serde_json::Value, PostError> {
    use std::io::{Read, Write};
    let body = format!("[{}]", events.iter().map(SignedEvent::to_submission_json).collect::<Vec<_>>().join(","));
    let mut stream = std::net::TcpStream::connect(address).map_err(|error| PostError::NotSent(error.to_string()))?;
    let no_answer = |error: std::io::Error| PostError::NoAnswer(error.to_string());
    stream.set_read_timeout(Some(Duration::from_millis(TEST_WAIT_MS))).map_err(no_answer)?;
    let request = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(no_answer)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(no_answer)?;
    let (_, json) = answer.split_once("\r\n\r\n").ok_or_else(|| PostError::NoAnswer(format!("no HTTP answer: {answer:?}")))?;
    serde_json::from_str(json).map_err(|error| PostError::NoAnswer(format!("answer is not JSON ({error}): {json:?}")))
}

/// What the writer acknowledged in a batch answer: (event id, seq, record hash, duplicate).
pub fn receipts(answer: &serde_json::Value) -> Vec<(String, u64, String, bool)> {
    answer["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .filter_map(|result| {
                    let receipt = result.get("receipt")?;
                    Some((
                        receipt["event_id"].as_str()?.to_string(),
                        receipt["seq"].as_u64()?,
                        receipt["record_hash"].as_str()?.to_string(),
                        receipt["duplicate"].as_bool()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Bound on any single wait in a system test.
pub const TEST_WAIT_MS: u64 = 30_000;

/// A fresh nats-server with JetStream in a temporary directory.
pub async fn start_nats() -> EmbeddedNats {
    EmbeddedNats::start(EmbeddedOptions::default()).await.expect("nats-server starts (apt-get install nats-server)")
}

pub fn ledger_id() -> LedgerId {
    LedgerId::parse("test").expect("valid ledger id")
}

/// Starts a writer for ledger `test` on `url`, keeping its index in `data_dir`.
pub async fn start_writer(url: &str, data_dir: &Path) -> Writer {
    start_writer_with(WriterConfig::new(ledger_id(), url, data_dir)).await
}

pub async fn start_writer_with(config: WriterConfig) -> Writer {
    let (writer, _task) =
        tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), Writer::start(config)).await.expect("writer starts in time").expect("writer starts");
    writer
}

/// A ledger of its own for one test: a nats-server and a writer whose index
/// lives in a temporary directory (both gone when it is dropped).
pub struct TestLedger {
    pub nats: EmbeddedNats,
    pub writer: Writer,
    /// Bind it (`writer_dir: _writer_dir`) to keep the directory while the writer runs.
    pub writer_dir: tempfile::TempDir,
}

impl TestLedger {
    pub async fn start() -> TestLedger {
        let nats = start_nats().await;
        let writer_dir = tempfile::tempdir().expect("temporary directory");
        let writer = start_writer(&nats.url(), writer_dir.path()).await;
        TestLedger { nats, writer, writer_dir }
    }

    pub fn url(&self) -> String {
        self.nats.url()
    }
}

pub fn text(value: &str) -> Text {
    Text::parse(value).expect("valid text")
}

/// Keys and helpers to author events for ledger `test`.
pub struct Actors {
    pub operator: SecretKey,
    pub manager: SecretKey,
    pub officer: SecretKey,
    pub officer_two: SecretKey,
    pub outsider: SecretKey,
    next: std::cell::Cell<u64>,
    prefix: String,
}

impl Actors {
    pub fn new(prefix: &str) -> Actors {
        Actors {
            operator: SecretKey::from_seed_label("system/operator"),
            manager: SecretKey::from_seed_label("system/manager"),
            officer: SecretKey::from_seed_label("system/officer"),
            officer_two: SecretKey::from_seed_label("system/officer-two"),
            outsider: SecretKey::from_seed_label("system/outsider"),
            next: std::cell::Cell::new(0),
            prefix: prefix.to_string(),
        }
    }

    /// Signs `event` with a fresh id.
    pub fn sign(&self, event: Event, signers: &[&SecretKey]) -> SignedEvent {
        self.next.set(self.next.get() + 1);
        let id = format!("{}-{:06}", self.prefix, self.next.get());
        self.sign_with_id(&id, event, signers)
    }

    pub fn sign_with_id(&self, id: &str, event: Event, signers: &[&SecretKey]) -> SignedEvent {
        let occurred_at = Timestamp::parse("2026-02-01T10:00:00Z").expect("timestamp");
        SignedEvent::author(&ledger_id(), EventId::parse(id).expect("event id"), occurred_at, event, signers).expect("signs")
    }

    /// Genesis, the ITIF fund with sub-fund `sf-ai` (HK$2.4bn market money in),
    /// the NIAS and Pilot schemes, and roles for the manager and officers.
    pub fn setup(&self) -> Vec<SignedEvent> {
        let operator = &self.operator;
        let mut events = vec![
            self.sign_with_id(
                "setup-genesis",
                Event::LedgerGenesis(LedgerGenesis { name: text("system test"), operator: operator.key_id(), operator_holder: text("operator") }),
                &[operator],
            ),
            self.sign(Event::FundEstablished(presets::itif("itf")), &[operator]),
            self.sign(Event::SchemeEstablished(presets::nias_scheme("nias")), &[operator]),
            self.sign(Event::SchemeEstablished(presets::pilot_scheme("pilot")), &[operator]),
        ];
        for (key, role, scope) in [
            (self.manager.key_id(), Role::FundManager, "fund:itf"),
            (self.officer.key_id(), Role::GrantOfficer, "ledger"),
            (self.officer_two.key_id(), Role::GrantOfficer, "ledger"),
        ] {
            events.push(self.sign(Event::KeyRegistered(KeyRegistered { key, holder: text("someone") }), &[operator]));
            events.push(self.sign(Event::RoleGranted(RoleChange { key, role, scope: Scope::parse(scope).expect("scope") }), &[operator]));
        }
        events.push(self.sign(
            Event::SubFundAdmitted(SubFundAdmitted {
                fund: "itf".parse().expect("id"),
                subfund: "sf-ai".parse().expect("id"),
                name: text("AI Fund I"),
                theme: "ai-robotics".parse().expect("id"),
                general_partner: text("GP Limited"),
                target_size_cents: Money::hkd(4_000_000_000),
                investment_period: None,
            }),
            &[&self.manager],
        ));
        events.push(self.sign(
            Event::MarketCommitted(MarketCommitted { subfund: "sf-ai".parse().expect("id"), investor: text("LP"), amount_cents: Money::hkd(2_400_000_000) }),
            &[&self.manager],
        ));
        events
    }

    /// A NAV report for sub-fund `sf-ai` (always valid; many fit in any test).
    pub fn nav_report(&self, number: u32) -> SignedEvent {
        self.sign(
            Event::NavReported(NavReported {
                subfund: "sf-ai".parse().expect("id"),
                as_of: "2026-03-31".parse().expect("date"),
                nav_cents: Money::from_cents(1_000_000 + number as u64).expect("amount"),
            }),
            &[&self.manager],
        )
    }

    /// A pilot grant approval for enterprise `number` (HK$100,000 of HK$300,000 cost).
    pub fn pilot_grant(&self, number: u32) -> SignedEvent {
        self.pilot_grant_signed_by(number, &self.officer)
    }

    pub fn pilot_grant_signed_by(&self, number: u32, signer: &SecretKey) -> SignedEvent {
        self.sign(
            Event::GrantApproved(GrantApproved {
                scheme: "pilot".parse().expect("id"),
                grant: format!("pilot-{}-{number}", self.prefix).parse().expect("id"),
                enterprise: format!("ent-{}-{number}", self.prefix).parse().expect("id"),
                enterprise_name: text("Enterprise Limited"),
                project: text("Upgrade"),
                approved_cost_cents: Money::hkd(300_000),
                grant_cents: Money::hkd(100_000),
                duration_months: 12,
                applied_on: Some("2026-01-15".parse().expect("date")),
                attestations: vec![presets::hk_production_line_attestation(EvidenceDigest(sha256(&[
                    b"attestation ",
                    self.prefix.as_bytes(),
                    &number.to_be_bytes(),
                ])))],
            }),
            &[signer],
        )
    }
}

/// Submits events that must all be appended; returns their receipts.
pub async fn append_all(writer: &Writer, events: Vec<SignedEvent>) -> Vec<Receipt> {
    writer
        .submit(events)
        .await
        .into_iter()
        .map(|outcome| outcome.unwrap_or_else(|error| panic!("expected the event to be appended, got [{}] {error}", error.code())))
        .collect()
}

/// Submits one event that must be refused; returns the error.
pub async fn refused(writer: &Writer, event: SignedEvent) -> WriteError {
    match writer.submit(vec![event]).await.into_iter().next() {
        Some(Err(error)) => error,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Reads ledger `test` back from the stream and checks every record (hash,
/// chain, signatures, rules). Returns the records' (seq, event id) in order.
pub async fn replay_stream(url: &str) -> Result<Vec<(u64, String)>, String> {
    use futures::StreamExt;
    let js = fundledger_nats::Broker::connect(url).await.map_err(|error| error.to_string())?;
    let stream = fundledger_nats::stream_name("test").map_err(|error| error.to_string())?;
    let mut messages = fundledger_nats::read_from(&js, &stream, None, 1).await.map_err(|error| error.to_string())?;
    let mut records = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.map_err(|error| error.to_string())?;
        records.push(Replay::parse(message.sequence, &message.payload).map_err(|error| error.to_string())?);
    }
    let mut replay = Replay::new(ledger_id());
    let mut seen = Vec::new();
    replay.check_chunk(records, |record| seen.push((record.seq, record.event.body().id.to_string()))).map_err(|error| error.to_string())?;
    Ok(seen)
}

/// The stream's last sequence.
pub async fn stream_size(url: &str) -> u64 {
    let js = fundledger_nats::Broker::connect(url).await.expect("connects");
    let stream = fundledger_nats::stream_name("test").expect("name");
    fundledger_nats::append::last_sequence(&js, &stream).await.expect("stream info")
}

// ===========================================================================
// BEGIN section owned by the CLI tests (tests/cli.rs): the `fundledger`
// binary, `fundledger serve` as a child process, and running CLI commands.
// Please add other helpers outside this section.
// ===========================================================================

pub mod cli {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    /// Environment variable naming a prebuilt `fundledger` binary to test instead of building one.
    pub const BINARY_ENV: &str = "FUNDLEDGER_BIN";
    /// Bound on one CLI command.
    pub const COMMAND_TIMEOUT_MS: u64 = 30_000;
    /// Bound on `fundledger serve` becoming ready.
    pub const SERVE_READY_TIMEOUT_MS: u64 = 30_000;
    /// Bound on `fundledger serve` stopping after SIGINT before it is killed.
    pub const SERVE_STOP_TIMEOUT_MS: u64 = 10_000;
    const POLL_MS: u64 = 20;
    /// Environment variables the CLI reads; cleared so the caller's shell cannot steer a test.
    const CLI_ENV: [&str; 8] = [
        "FUNDLEDGER_KEY",
        "FUNDLEDGER_LEDGER",
        "FUNDLEDGER_WRITER",
        "FUNDLEDGER_VIA_NATS",
        "FUNDLEDGER_NATS",
        "FUNDLEDGER_DATA_DIR",
        "FUNDLEDGER_HTTP",
        "FUNDLEDGER_REPLICAS",
    ];

    /// The `fundledger` binary: `$FUNDLEDGER_BIN`, else built once per test
    /// run with `cargo build` (the root package cannot use
    /// `CARGO_BIN_EXE_fundledger`, which only names binaries of its own package).
    pub fn binary() -> PathBuf {
        static BINARY: OnceLock<PathBuf> = OnceLock::new();
        BINARY.get_or_init(build_binary).clone()
    }

    fn build_binary() -> PathBuf {
        if let Some(path) = std::env::var_os(BINARY_ENV) {
            return PathBuf::from(path);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            // The same selection as `cargo test --workspace` (all members, test
            // targets, so dev-dependency features too): cargo then resolves the
            // same features and reuses its artifacts. `-p fundledger` alone would
            // resolve build-script features differently and compile RocksDB again.
            .args(["build", "--workspace", "--bins", "--tests", "--message-format=json-render-diagnostics"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(output.status.success(), "cargo build -p fundledger failed ({})", output.status);
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| {
                message["reason"] == "compiler-artifact"
                    && message["target"]["name"] == "fundledger"
                    && message["target"]["kind"][0] == "bin"
                    && message["profile"]["test"] == false
            })
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo build names the fundledger executable")
    }

    /// What a finished command left.
    #[derive(Debug)]
    pub struct Output {
        pub code: Option<i32>,
        pub stdout: String,
        pub stderr: String,
    }

    impl Output {
        pub fn success(&self) -> bool {
            self.code == Some(0)
        }
    }

    impl std::fmt::Display for Output {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(formatter, "exit {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
        }
    }

    /// A `fundledger` command with the CLI's environment variables cleared.
    pub fn command() -> Command {
        let mut command = Command::new(binary());
        for name in CLI_ENV {
            command.env_remove(name);
        }
        command.env("NO_COLOR", "1");
        command
    }

    /// Runs `fundledger args...` (bounded by [`COMMAND_TIMEOUT_MS`]), with `stdin` as its input.
    pub fn run(args: &[&str], writer: Option<&str>, stdin: Option<&str>) -> Output {
        let mut command = command();
        command.args(args);
        if let Some(url) = writer {
            command.env("FUNDLEDGER_WRITER", url);
        }
        run_command(command, stdin)
    }

    pub fn run_command(mut command: Command, stdin: Option<&str>) -> Output {
        command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(text.as_bytes()).expect("writes stdin");
        }
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let out = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let deadline = Instant::now() + Duration::from_millis(COMMAND_TIMEOUT_MS);
        let status = loop {
            match child.try_wait().expect("waits for the command") {
                Some(status) => break status,
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("{command:?} did not finish within {COMMAND_TIMEOUT_MS} ms");
                }
                None => std::thread::sleep(Duration::from_millis(POLL_MS)),
            }
        };
        Output { code: status.code(), stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() }
    }

    /// A free TCP port on 127.0.0.1 (free when asked; another process may take
    /// it later). Only for addresses nothing must answer on: a server under
    /// test listens on port 0 and is found with [`announced_address`].
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("binds a loopback port").port()
    }

    /// The `host:port` a fundledger process announced in its log on the line
    /// `<label> : http://host:port...`, if it has yet. Servers under test bind
    /// port 0 and are reached this way: a port picked free beforehand can be
    /// taken by another test before the server binds it.
    pub fn announced_address(log: &Path, label: &str) -> Option<String> {
        let text = std::fs::read_to_string(log).ok()?;
        text.lines().find_map(|line| {
            let rest = line.trim_start().strip_prefix(label)?.trim_start().strip_prefix(':')?.trim_start();
            let rest = rest.strip_prefix("http://").or_else(|| rest.strip_prefix("https://"))?;
            rest.split(['/', ' ']).next().map(str::to_string)
        })
    }

    /// Waits until `child` announces `label` in `log` (see [`announced_address`]).
    pub fn wait_for_address(child: &mut Child, log: &Path, label: &str) -> String {
        wait_for(child, log, &format!("announcing its {label}"), || announced_address(log, label))
    }

    /// Polls `probe` until it gives a value, failing with `log` if `child`
    /// exits first or [`SERVE_READY_TIMEOUT_MS`] passes.
    fn wait_for<T>(child: &mut Child, log: &Path, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_millis(SERVE_READY_TIMEOUT_MS);
        loop {
            if let Some(value) = probe() {
                return value;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the process exited ({status}) before {what}:\n{}", std::fs::read_to_string(log).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "not {what} within {SERVE_READY_TIMEOUT_MS} ms:\n{}", std::fs::read_to_string(log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }

    /// `GET path` over plain HTTP/1.1; the status code, if the server answered.
    pub fn http_get_status(address: &str, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect_timeout(&address.parse().ok()?, Duration::from_millis(500)).ok()?;
        stream.set_read_timeout(Some(Duration::from_millis(2_000))).ok()?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split_whitespace().nth(1)?.parse().ok()
    }

    /// `fundledger serve` as a child process in its own process group, with
    /// an embedded nats-server and data in a temporary directory. Dropping it
    /// sends SIGINT (a clean stop), then SIGKILLs the group if needed.
    pub struct Serve {
        child: Child,
        /// `host:port` of the writer's HTTP API.
        pub address: String,
        /// `http://host:port`.
        pub url: String,
        /// `http://host:port` of the query API.
        pub query_url: String,
        log: PathBuf,
        data_dir: PathBuf,
        _dir: tempfile::TempDir,
    }

    impl Serve {
        /// Starts `fundledger serve` for ledger `ledger` and waits until `/readyz` answers 200.
        pub fn start(ledger: &str) -> Serve {
            Serve::spawn(ledger, None, None)
        }

        /// Starts `fundledger serve` on an existing NATS server, keeping its
        /// state in `data_dir` (both outlive it, so it can be restarted).
        pub fn start_on(ledger: &str, nats_url: &str, data_dir: &Path) -> Serve {
            Serve::spawn(ledger, Some(nats_url), Some(data_dir))
        }

        fn spawn(ledger: &str, nats_url: Option<&str>, data_dir: Option<&Path>) -> Serve {
            Serve::spawn_with(ledger, nats_url, data_dir, &[], None, true)
        }

        /// Starts `fundledger serve` with `extra` arguments, under an open-file
        /// limit of `file_limit` (soft and hard) if given; waits for `/readyz`
        /// over plain HTTP only if `plain_http`.
        pub fn start_with(ledger: &str, extra: &[&str], file_limit: Option<u64>, plain_http: bool) -> Serve {
            Serve::spawn_with(ledger, None, None, extra, file_limit, plain_http)
        }

        fn spawn_with(ledger: &str, nats_url: Option<&str>, data_dir: Option<&Path>, extra: &[&str], file_limit: Option<u64>, plain_http: bool) -> Serve {
            use std::os::unix::process::CommandExt;
            let dir = tempfile::Builder::new().prefix("fundledger-cli-test-").tempdir().expect("temporary directory");
            let data_dir = data_dir.map(Path::to_path_buf).unwrap_or_else(|| dir.path().join("data"));
            let log = dir.path().join("serve.log");
            let log_file = std::fs::File::create(&log).expect("creates the log");
            let mut command = command();
            command.args(["serve", "--http", "127.0.0.1:0", "--query-http", "127.0.0.1:0", "--ledger", ledger, "--data-dir"]).arg(&data_dir);
            if let Some(url) = nats_url {
                command.args(["--nats", url]);
            }
            command.args(extra);
            // Reads are open in these tests unless one asks for signed-in reads (tests/projector.rs does).
            if !extra.contains(&"--reads") {
                command.args(["--reads", "open"]);
            }
            if let Some(limit) = file_limit {
                // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
                unsafe {
                    command.pre_exec(move || {
                        let rlimit = libc::rlimit { rlim_cur: limit as libc::rlim_t, rlim_max: limit as libc::rlim_t };
                        if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                            Ok(())
                        } else {
                            Err(std::io::Error::last_os_error())
                        }
                    });
                }
            }
            command.stdin(Stdio::null()).stdout(log_file.try_clone().expect("log handle")).stderr(log_file).process_group(0);
            let child = command.spawn().unwrap_or_else(|error| panic!("cannot start fundledger serve: {error}"));
            // Owned by `serve` from here, so that a failed wait still stops it.
            let mut serve = Serve { child, address: String::new(), url: String::new(), query_url: String::new(), log, data_dir, _dir: dir };
            serve.address = wait_for_address(&mut serve.child, &serve.log, "writer HTTP API");
            serve.url = format!("http://{}", serve.address);
            serve.query_url = format!("http://{}", wait_for_address(&mut serve.child, &serve.log, "query API"));
            if !plain_http {
                return serve;
            }
            let address = serve.address.clone();
            wait_for(&mut serve.child, &serve.log, "being ready (GET /readyz)", || (http_get_status(&address, "/readyz") == Some(200)).then_some(()));
            serve
        }

        /// The process id of `fundledger serve`.
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// Sends `signal` (`TERM`, `INT`, `KILL`, ...) to `fundledger serve`
        /// alone, not to its process group (its nats-server is left to it).
        pub fn signal(&self, signal: &str) {
            let status = Command::new("kill").args([format!("-{signal}"), self.child.id().to_string()]).status().expect("kill runs");
            assert!(status.success(), "kill -{signal} {} failed", self.child.id());
        }

        /// Waits at most `within` for `fundledger serve` to exit (and reaps it).
        pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
            let deadline = Instant::now() + within;
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Some(status);
                }
                if Instant::now() >= deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(POLL_MS));
            }
        }

        /// Kills the server's process group with SIGKILL (no clean stop) and reaps it.
        pub fn kill(&mut self) {
            let pid = self.child.id().to_string();
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
            let _ = self.child.wait();
        }

        /// What the server wrote to stdout and stderr so far.
        pub fn log(&self) -> String {
            std::fs::read_to_string(&self.log).unwrap_or_default()
        }

        /// The data directory given to `--data-dir`.
        pub fn data_dir(&self) -> PathBuf {
            self.data_dir.clone()
        }

        pub fn log_path(&self) -> &Path {
            &self.log
        }
    }

    impl Drop for Serve {
        fn drop(&mut self) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            let pid = self.child.id().to_string();
            let _ = Command::new("kill").args(["-INT", &pid]).status();
            let deadline = Instant::now() + Duration::from_millis(SERVE_STOP_TIMEOUT_MS);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(POLL_MS));
            }
            // It did not stop: kill the process group we started (serve and its
            // nats-server). The child is not reaped yet, so the group id is still ours.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stderr(Stdio::null()).status();
            let _ = self.child.wait();
        }
    }
}

// ===========================================================================
// END section owned by the CLI tests.
// ===========================================================================

/// Checks `answer` against the schema the OpenAPI `document` gives for a
/// `status` answer to `method route`, strictly: an object may hold only the
/// members its schema declares (`unevaluatedProperties: false` is added to
/// every object schema), so the document cannot leave out what is served.
pub fn assert_matches_document(document: &serde_json::Value, method: &str, route: &str, status: &str, answer: &serde_json::Value) {
    let errors = document_errors(document, method, route, status, answer);
    assert!(errors.is_empty(), "{method} {route} {status} does not match the document:\n{}\n{answer}", errors.join("\n"));
}

/// What keeps `answer` from matching the document's schema (see [`assert_matches_document`]).
pub fn document_errors(document: &serde_json::Value, method: &str, route: &str, status: &str, answer: &serde_json::Value) -> Vec<String> {
    fn strict(schema: &mut serde_json::Value) {
        match schema {
            serde_json::Value::Object(members) => {
                if members.contains_key("properties") && !members.contains_key("additionalProperties") {
                    members.insert("unevaluatedProperties".to_string(), serde_json::Value::Bool(false));
                }
                members.values_mut().for_each(strict);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strict),
            _ => {}
        }
    }
    assert_eq!(document["openapi"], "3.1.0");
    let response = &document["paths"][route][method]["responses"][status];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "the document declares no JSON {status} answer for {method} {route}");
    let mut components = document["components"].clone();
    strict(&mut components);
    let mut root = serde_json::json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "components": components});
    for (name, value) in schema.as_object().expect("a schema object") {
        root[name] = value.clone();
    }
    strict(&mut root);
    let validator =
        jsonschema::validator_for(&root).unwrap_or_else(|error| panic!("the schema for {method} {route} {status} is not valid JSON Schema: {error}"));
    validator.iter_errors(answer).map(|error| format!("{} at {}", error, error.instance_path())).take(10).collect()
}
