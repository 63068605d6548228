//! Operations:
//! * ops/start-cluster.sh, as a person runs it: it starts the 3-node cluster of
//!   ops/nats/cluster/ with the users of ops/nats/accounts.conf (a copy of the
//!   three for ledger `test`, on free ports and a temporary directory here),
//!   the writer user creates the ledger streams with 3 replicas and appends, a
//!   reporting user reads the ledger back, and `stop` ends every node.
//! * The writer's `/metrics`, `/healthz` and `/readyz`.
//! * `fundledger serve` options from flags, environment and a config file.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use fundledger_system_tests::*;
use fundledger_writer::{api, WriterConfig};

use crate::security::http;

/// Attempts to find three runs of three free consecutive ports.
const PORT_SEARCH_ATTEMPTS_MAX: usize = 50;

/// A base port such that base..base+3 are free on 127.0.0.1 (free when asked).
fn free_port_run(avoid: &[u16]) -> u16 {
    for attempt in 0..PORT_SEARCH_ATTEMPTS_MAX {
        let base = TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("binds a loopback port").port();
        let clear_of_others = avoid.iter().all(|other| base.abs_diff(*other) >= 3);
        if base < 65_000 && clear_of_others && (base..base + 3).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return base;
        }
        assert!(attempt + 1 < PORT_SEARCH_ATTEMPTS_MAX, "no run of 3 free ports found");
    }
    unreachable!()
}

/// The cluster started by the script; `stop` runs when dropped, also on a panic.
struct ScriptCluster {
    /// `ops/`: the script and node configs as they are, accounts.conf for ledger `test`; `run/`: the run directory.
    dir: tempfile::TempDir,
    ports: [u16; 3],
}

impl ScriptCluster {
    fn new(ports: [u16; 3]) -> ScriptCluster {
        let dir = tempfile::Builder::new().prefix("fundledger-ops-").tempdir().unwrap();
        let ops = Path::new(env!("CARGO_MANIFEST_DIR")).join("ops");
        std::fs::create_dir_all(dir.path().join("ops/nats/cluster")).unwrap();
        for file in ["start-cluster.sh", "nats/cluster/n1.conf", "nats/cluster/n2.conf", "nats/cluster/n3.conf"] {
            std::fs::copy(ops.join(file), dir.path().join("ops").join(file)).unwrap_or_else(|error| panic!("copies ops/{file}: {error}"));
        }
        std::fs::write(dir.path().join("ops/nats/accounts.conf"), crate::security::accounts_for_test_ledger()).unwrap();
        ScriptCluster { dir, ports }
    }

    fn run(&self, argument: &str) -> Output {
        let [client, route, http] = self.ports;
        Command::new("bash")
            .arg(self.dir.path().join("ops/start-cluster.sh"))
            .arg(argument)
            .env("FUNDLEDGER_CLUSTER_DIR", self.dir.path().join("run"))
            .env("FUNDLEDGER_CLUSTER_PORT", client.to_string())
            .env("FUNDLEDGER_CLUSTER_ROUTE_PORT", route.to_string())
            .env("FUNDLEDGER_CLUSTER_HTTP_PORT", http.to_string())
            .env("FUNDLEDGER_CLUSTER_TIMEOUT", "30")
            // The copied script cannot see the checkout's pinned server: name the one the other tests run.
            .env("FUNDLEDGER_NATS_SERVER", fundledger_nats::embedded::find_server_binary().expect("a nats-server (scripts/setup installs it)"))
            .output()
            .expect("bash runs the script")
    }

    fn url(&self, user: &str) -> String {
        (0..3).map(|node| format!("nats://{user}:example-{user}-password@127.0.0.1:{}", self.ports[0] + node)).collect::<Vec<_>>().join(",")
    }
}

impl Drop for ScriptCluster {
    fn drop(&mut self) {
        let _ = self.run("stop");
    }
}

fn text_of(output: &Output) -> String {
    format!("exit {:?}\n--- stdout\n{}--- stderr\n{}", output.status.code(), String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_cluster_script_runs_a_three_node_cluster_that_keeps_r3_streams() {
    let client = free_port_run(&[]);
    let route = free_port_run(&[client]);
    let http = free_port_run(&[client, route]);
    let cluster = ScriptCluster::new([client, route, http]);
    let started = cluster.run("start");
    assert!(started.status.success(), "start-cluster.sh start: {}", text_of(&started));
    let printed = String::from_utf8_lossy(&started.stdout);
    assert!(printed.contains("ready (meta leader fundledger-n") && printed.contains(&format!("nats://127.0.0.1:{client}")), "{printed}");
    let status = cluster.run("status");
    assert!(status.status.success(), "all three nodes run: {}", text_of(&status));
    let again = cluster.run("start");
    assert!(!again.status.success(), "a second start refuses: {}", text_of(&again));

    // The writer user creates R3 streams and appends; a reader reads them back.
    let data = tempfile::tempdir().unwrap();
    let mut config = WriterConfig::new(ledger_id(), cluster.url("writer"), data.path());
    config.replicas = 3;
    // The cluster may still be settling its first stream placement: retry the start briefly.
    let mut writer = None;
    let mut last_error = String::new();
    for _ in 0..10 {
        match tokio::time::timeout(Duration::from_millis(TEST_WAIT_MS), fundledger_writer::Writer::start(config.clone())).await {
            Ok(Ok((started, _task))) => {
                writer = Some(started);
                break;
            }
            Ok(Err(error)) => last_error = error.to_string(),
            Err(_) => last_error = format!("no start within {TEST_WAIT_MS} ms"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let writer = writer.unwrap_or_else(|| panic!("the writer starts on the script's cluster with 3 replicas: {last_error}"));
    let actors = Actors::new("ops");
    let mut events = actors.setup();
    events.extend((0..20).map(|n| actors.pilot_grant(n)));
    let count = events.len();
    append_all(&writer, events).await;
    let js = fundledger_nats::Broker::connect(&cluster.url("reporting")).await.expect("the reporting user connects");
    let mut stream = js.raw_jetstream().get_stream("FUNDLEDGER_TEST").await.expect("stream info");
    let info = stream.info().await.expect("stream info");
    assert_eq!(info.config.num_replicas, 3, "the ledger stream has 3 replicas");
    let cluster_info = info.cluster.as_ref().expect("a clustered stream names its leader");
    assert_eq!(cluster_info.replicas.len(), 2, "a leader and two replicas: {cluster_info:?}");
    let replayed = replay_stream(&cluster.url("reporting")).await.expect("the reader verifies the ledger");
    assert_eq!(replayed.len(), count);
    drop(writer);

    let stopped = cluster.run("stop");
    assert!(stopped.status.success() && String::from_utf8_lossy(&stopped.stdout).matches("stopped node").count() == 3, "{}", text_of(&stopped));
    let status = cluster.run("status");
    assert!(!status.status.success(), "no node runs after stop: {}", text_of(&status));
}

/// The value of the first sample line starting with `prefix` in a Prometheus text answer.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_metrics_count_appends_refusals_by_reason_and_publish_latency() {
    let TestLedger { nats: _nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(api::serve_http(writer.clone(), listener));
    assert_eq!(http(address, "GET", "/healthz", Vec::new()).await.0, 200);
    assert_eq!(http(address, "GET", "/readyz", Vec::new()).await, (200, "ready".to_string()));

    let actors = Actors::new("metrics");
    let setup = actors.setup();
    for event in &setup {
        let (status, body) = http(address, "POST", "/v1/events", event.to_submission_json().into_bytes()).await;
        assert_eq!(status, 201, "{body}");
    }
    let unknown_signer = actors.pilot_grant_signed_by(1, &actors.outsider).to_submission_json();
    assert_eq!(http(address, "POST", "/v1/events", unknown_signer.into_bytes()).await.0, 403);
    assert_eq!(http(address, "POST", "/v1/events", b"{".to_vec()).await.0, 400);

    let (status, text) = http(address, "GET", "/metrics", Vec::new()).await;
    assert_eq!(status, 200, "{text}");
    // One recorder per process, and other tests append beside this one: lower bounds only.
    assert!(text.contains("# HELP fundledger_writer_rejected_total"), "{text}");
    assert!(sample(&text, "fundledger_writer_rejected_total{code=\"signer_unknown\"") >= 1.0);
    assert!(sample(&text, "fundledger_writer_rejected_total{code=\"malformed_request\"") >= 1.0);
    assert!(sample(&text, "fundledger_writer_requests_total{door=\"http\",status=\"201\"}") >= setup.len() as f64);
    assert!(sample(&text, "fundledger_writer_events_appended_total") >= 1.0);
    assert!(sample(&text, "fundledger_append_batch_seconds_count{outcome=\"acked\"}") >= 1.0);
    assert!(sample(&text, "fundledger_append_batch_seconds_bucket{outcome=\"acked\",le=\"10\"}") >= 1.0);
    assert!(sample(&text, "fundledger_writer_request_seconds_count{door=\"http\"}") >= setup.len() as f64 + 2.0);
    assert!(sample(&text, "fundledger_writer_ledger_records") >= 1.0);
}

#[test]
fn serve_options_come_from_flags_then_environment_then_the_config_file() {
    // --help documents every option with its variable.
    let help = cli::run(&["serve", "--help"], None, None);
    assert!(help.success(), "{help}");
    let text = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    for variable in [
        "FUNDLEDGER_CONFIG",
        "FUNDLEDGER_NATS",
        "FUNDLEDGER_DATA_DIR",
        "FUNDLEDGER_LEDGER",
        "FUNDLEDGER_REPLICAS",
        "FUNDLEDGER_HTTP",
        "FUNDLEDGER_OPERATOR_KEY",
        "FUNDLEDGER_LOG_FORMAT",
    ] {
        assert!(text.contains(&format!("[env: {variable}=")), "serve --help names {variable}:\n{}", help.stdout);
    }
    // Nothing listens on these ports: the writer fails to connect and names the URL it used.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fundledger.toml");
    std::fs::write(
        &config,
        format!("nats = \"nats://127.0.0.1:{}\"\ndata_dir = {:?}\nlog_format = \"json\"\n", cli::free_port(), dir.path().display().to_string()),
    )
    .unwrap();
    let failed_with = |env: Option<&str>, flag: Option<&str>| {
        let mut command = cli::command();
        command.args(["serve", "--config"]).arg(&config);
        if let Some(url) = flag {
            command.args(["--nats", url]);
        }
        if let Some(url) = env {
            command.env("FUNDLEDGER_NATS", url);
        }
        let output = cli::run_command(command, None);
        assert!(!output.success(), "{output}");
        output.stderr
    };
    let from_file = std::fs::read_to_string(&config).unwrap();
    let file_url = from_file.lines().next().unwrap().split('"').nth(1).unwrap().to_string();
    assert!(failed_with(None, None).contains(&file_url), "the file's URL is used");
    let env_url = format!("nats://127.0.0.1:{}", cli::free_port());
    assert!(failed_with(Some(&env_url), None).contains(&env_url), "the environment overrides the file");
    let flag_url = format!("nats://127.0.0.1:{}", cli::free_port());
    assert!(failed_with(Some(&env_url), Some(&flag_url)).contains(&flag_url), "a flag overrides both");

    // An unknown key is refused with the list of valid ones.
    std::fs::write(&config, "colour = \"red\"\n").unwrap();
    let output = cli::run_command(
        {
            let mut command = cli::command();
            command.args(["serve", "--config"]).arg(&config);
            command
        },
        None,
    );
    assert_eq!(output.code, Some(2), "{output}");
    assert!(output.stderr.contains("unknown key `colour`") && output.stderr.contains("data_dir"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_has_health_readiness_and_metrics_on_the_writer_and_query_apis() {
    let serve = tokio::task::spawn_blocking(|| cli::Serve::start("test")).await.unwrap();
    let writer: std::net::SocketAddr = serve.address.parse().unwrap();
    let query: std::net::SocketAddr = serve.query_url.trim_start_matches("http://").parse().unwrap();
    for address in [writer, query] {
        assert_eq!(http(address, "GET", "/readyz", Vec::new()).await, (200, "ready".to_string()));
        assert_eq!(http(address, "GET", "/healthz", Vec::new()).await.0, 200);
    }
    let (status, text) = http(writer, "GET", "/metrics", Vec::new()).await;
    assert_eq!(status, 200);
    assert_eq!(sample(&text, "fundledger_writer_ready"), 1.0, "{text}");
    // The projector has read the (empty) stream once it reports its lag.
    let deadline = std::time::Instant::now() + Duration::from_millis(TEST_WAIT_MS);
    loop {
        let (status, text) = http(query, "GET", "/metrics", Vec::new()).await;
        assert_eq!(status, 200);
        if text.contains("fundledger_projector_lag_records 0") {
            assert_eq!(sample(&text, "fundledger_projector_position"), 0.0, "{text}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no projector lag on the query API's /metrics:\n{text}\n{}", serve.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::task::spawn_blocking(move || drop(serve)).await.unwrap();
}

/// A child process killed when dropped, also on a panic.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifying_tail_reports_its_verification_count_on_metrics() {
    let TestLedger { nats, writer, writer_dir: _writer_dir } = TestLedger::start().await;
    let actors = Actors::new("tail");
    let setup = actors.setup();
    append_all(&writer, setup.clone()).await;
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("tail.log");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut command = cli::command();
    command.args(["tail", "--verify", "--ledger", "test", "--nats", &nats.url(), "--metrics", "127.0.0.1:0"]);
    command.stdout(std::process::Stdio::null()).stderr(std::fs::File::create(&log_path).unwrap());
    let mut tail = KillOnDrop(command.spawn().unwrap_or_else(|error| panic!("runs {}: {error}", cli::binary().display())));
    let announced = cli::wait_for_address(&mut tail.0, &log_path, "metrics");
    let address: std::net::SocketAddr = announced.parse().unwrap_or_else(|_| panic!("an address: {announced}"));
    let deadline = std::time::Instant::now() + Duration::from_millis(TEST_WAIT_MS);
    loop {
        if let Ok(Ok((200, text))) = tokio::time::timeout(Duration::from_millis(2_000), tokio::spawn(http(address, "GET", "/metrics", Vec::new()))).await {
            if text.contains("fundledger_verifier_records_verified_total") && sample(&text, "fundledger_verifier_records_verified_total") == setup.len() as f64
            {
                break;
            }
        }
        if let Some(status) = tail.0.try_wait().unwrap() {
            panic!("the tail exited ({status}) before reporting {} verified records:\n{}", setup.len(), log());
        }
        assert!(std::time::Instant::now() < deadline, "the tail did not report {} verified records on /metrics:\n{}", setup.len(), log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(http(address, "GET", "/healthz", Vec::new()).await.0, 200);
}
