//! `fundledger serve`: runs the writer (HTTP and NATS request/reply), the
//! projector and the query API (`crate::read_side::ReadSide`) for one ledger.
//! With no NATS URL it starts its own nats-server with JetStream on a
//! free loopback port, keeps its data under the data directory, and stops it
//! on exit.
//!
//! Stopping (SIGTERM from systemd, Docker or Kubernetes, or SIGINT) is
//! orderly, because callers must never lose an answer: the writer refuses new
//! submissions with 503 at once; its HTTP port closes once it has been quiet
//! for `api::QUIET_BEFORE_CLOSE_MS` (the query API's at once) and the NATS
//! submit subscription is drained; every request under way is answered once
//! its batch is acknowledged; the sequencer finishes its batches; the
//! checkpointer signs the tail and stops; the projector commits and
//! acknowledges its batch; last the embedded nats-server is stopped. All of
//! it within [`STOP_TIMEOUT_MS`](crate::shutdown::STOP_TIMEOUT_MS), after which the server is killed. A second
//! signal skips the waiting.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Args;
use fundledger_nats::EmbeddedNats;
use fundledger_writer::{api, Writer, WriterConfig};
use tokio::task::JoinHandle;

use crate::nats_args::{describe_nats, stop_nats, NatsArgs, NatsConnection};
use crate::shutdown::{Stop, StopSignals, ROLES_STOP_TIMEOUT_MS};

/// Bound on signing a last checkpoint at the tail when stopping.
pub const FINAL_CHECKPOINT_TIMEOUT_MS: u64 = 2_000;

/// `serve --append-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AppendModeArg {
    Auto,
    Atomic,
    Pipelined,
}

impl AppendModeArg {
    fn mode(self) -> Option<fundledger_nats::AppendMode> {
        match self {
            AppendModeArg::Auto => None,
            AppendModeArg::Atomic => Some(fundledger_nats::AppendMode::Atomic),
            AppendModeArg::Pipelined => Some(fundledger_nats::AppendMode::PipelinedFenced),
        }
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A TOML file of defaults for these options: each key is an option's name
    /// with `_` (e.g. `data_dir = "/var/lib/fundledger"`, `replicas = 3`); flags and
    /// FUNDLEDGER_* variables override it. Example: ops/fundledger.toml.
    #[arg(long, env = "FUNDLEDGER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Run with --replicas above 1 even on a nats-server older than 2.9.21 (refused otherwise):
    /// before 2.9.21 the clustered checks of the expected-sequence headers that fence appends
    /// raced with concurrent publishes (nats-server #4320, #4365), and such servers lack the
    /// CVE-2023-47090 fix (2.9.23). Upgrade the cluster instead where you can.
    #[arg(long, env = "FUNDLEDGER_ALLOW_OLD_NATS_CLUSTER")]
    pub allow_old_nats_cluster: bool,
    /// How the writer appends its batches. `auto`: all-or-nothing atomic batches where the
    /// server allows them (nats-server 2.12+, stream with allow_atomic), else pipelined publishes
    /// each fenced on its predecessor. Both keep the chain whole against a rival writer
    /// (docs/ARCHITECTURE.md, step 5); `pipelined` has the lower latency (docs/PERFORMANCE.md).
    #[arg(long, env = "FUNDLEDGER_APPEND_MODE", value_enum, default_value_t = AppendModeArg::Auto)]
    pub append_mode: AppendModeArg,
    /// Address for the writer's HTTP API (POST /v1/events, GET /v1/status, /healthz, /readyz, /metrics).
    /// Port 0 takes a free port; the address bound is printed at start.
    #[arg(long, env = "FUNDLEDGER_HTTP", default_value = "127.0.0.1:7400")]
    pub http: SocketAddr,
    /// The operator's key file (the key the genesis names): with it, serve also runs the checkpointer,
    /// which signs a checkpoint (size, Merkle root, chain head) every --checkpoint-every records or
    /// --checkpoint-interval-ms on fl.<ledger>.checkpoint.
    #[arg(long, env = "FUNDLEDGER_OPERATOR_KEY")]
    pub operator_key: Option<PathBuf>,
    /// Sign a checkpoint at every multiple of this many records.
    #[arg(long, env = "FUNDLEDGER_CHECKPOINT_EVERY", default_value_t = fundledger_verifier::checkpointer::CHECKPOINT_EVERY_RECORDS_DEFAULT)]
    pub checkpoint_every: u64,
    /// And at least this often (milliseconds) while records arrive.
    #[arg(long, env = "FUNDLEDGER_CHECKPOINT_INTERVAL_MS", default_value_t = fundledger_verifier::checkpointer::CHECKPOINT_EVERY_MS_DEFAULT)]
    pub checkpoint_interval_ms: u64,
    /// Refuse events whose occurred_at is more than this many milliseconds after this machine's
    /// clock (422 occurred_at_in_future); backdated events are always accepted.
    #[arg(long, env = "FUNDLEDGER_OCCURRED_AT_SKEW_MS", default_value_t = fundledger_core::time::OCCURRED_AT_SKEW_MS_DEFAULT)]
    pub occurred_at_skew_ms: u64,
    #[command(flatten)]
    pub read: crate::read_side::ReadArgs,
}

pub async fn run(args: ServeArgs) -> Result<()> {
    // Caught before anything starts, so that no signal finds the embedded server unattended.
    let mut signals = StopSignals::install()?;
    let mut nats = args.nats.connect_or_embed().await?;
    if args.read.no_writer {
        return crate::read_side::serve_read_only(&args.read, &args.nats, &mut nats, &mut signals).await;
    }
    let outcome = serve_writer(&args, &nats, &mut signals).await;
    let nats_pid = nats.embedded.as_ref().and_then(EmbeddedNats::pid);
    let nats_stopped = stop_nats(&mut nats).await;
    let (signal, signalled, mut stopped) = outcome?;
    nats_stopped?;
    if nats.embedded.is_some() {
        stopped.push(match nats_pid {
            Some(pid) => format!("embedded nats-server (pid {pid})"),
            None => "embedded nats-server".to_string(),
        });
    }
    eprintln!(
        "stopped on {signal} in {:.2} s: {}",
        signalled.elapsed().as_secs_f64(),
        if stopped.is_empty() { "nothing was running".to_string() } else { stopped.join(", ") }
    );
    Ok(())
}

/// The roles of `serve` beside NATS, while they run.
struct Roles {
    writer: Writer,
    sequencer: Option<JoinHandle<()>>,
    http: Option<JoinHandle<std::io::Result<()>>>,
    metrics: Option<JoinHandle<std::io::Result<()>>>,
    requests: Option<JoinHandle<Result<(), fundledger_nats::NatsError>>>,
    read_side: crate::read_side::ReadSide,
    checkpointer: Option<fundledger_verifier::checkpointer::CheckpointerHandle>,
}

/// Resolves when `task` ends (never once it has ended: it is taken).
async fn ended<T>(task: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match task.as_mut() {
        Some(handle) => {
            let result = handle.await;
            *task = None;
            result
        }
        None => std::future::pending().await,
    }
}

/// Runs the roles until a stop signal (or until one fails), then stops them.
/// Returns the signal, when it came and what was stopped.
async fn serve_writer(args: &ServeArgs, nats: &NatsConnection, signals: &mut StopSignals) -> Result<(&'static str, Instant, Vec<String>)> {
    let stop = Stop::new();
    let mut roles = tokio::select! {
        roles = Roles::start(args, nats, &stop) => roles?,
        signal = signals.recv() => {
            eprintln!("{signal} while starting: stopping");
            return Ok((signal, Instant::now(), Vec::new()));
        }
    };
    eprintln!("Press Ctrl-C to stop.");
    let signal = roles.run(signals).await;
    let signalled = Instant::now();
    match &signal {
        Ok(signal) => eprintln!("{signal}: stopping (new submissions are refused with 503; those under way are answered)"),
        Err(error) => eprintln!("error: {error:#}; stopping"),
    }
    let mut stopped = Vec::new();
    let bound = Duration::from_millis(ROLES_STOP_TIMEOUT_MS);
    let finished = tokio::select! {
        result = tokio::time::timeout(bound, roles.stop(&stop, &mut stopped)) => match result {
            Ok(result) => result,
            Err(_) => Err(anyhow!("the roles did not stop within {} ms (stopped: {})", bound.as_millis(), if stopped.is_empty() { "none".to_string() } else { stopped.join(", ") })),
        },
        again = signals.recv() => Err(anyhow!("{again} again: not waiting for the roles to stop")),
    };
    let signal = signal?;
    finished?;
    Ok((signal, signalled, stopped))
}

impl Roles {
    async fn start(args: &ServeArgs, nats: &NatsConnection, stop: &Stop) -> Result<Roles> {
        let (writer, sequencer) = Writer::start(WriterConfig {
            allow_old_nats_cluster: args.allow_old_nats_cluster,
            append_mode: args.append_mode.mode(),
            occurred_at_skew: Duration::from_millis(args.occurred_at_skew_ms),
            ..args.nats.writer_config(&nats.url)
        })
        .await
        .context("cannot start the writer")?;
        let listener = tokio::net::TcpListener::bind(args.http).await.with_context(|| format!("cannot listen on {}", args.http))?;
        let http_options = args.read.http.options()?;
        let status = writer.status();
        eprintln!("fundledger serving ledger {} ({} records, head {})", status.ledger, status.size, &status.head[..16]);
        let limits =
            format!("at most {} connections, {} requests/s per client", http_options.effective_connections_max(), http_options.requests_per_second_per_client);
        eprintln!("  writer HTTP API : {}://{} ({limits})", args.read.http.scheme(), listener.local_addr()?);
        eprintln!("  append mode     : {}", status.append_mode);
        let metrics = match args.read.http.metrics_http {
            Some(address) => {
                let metrics_listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address} for /metrics"))?;
                eprintln!("  metrics         : {}://{}/metrics", args.read.http.scheme(), metrics_listener.local_addr()?);
                let (writer, options, shutdown) = (writer.clone(), http_options.clone(), stop.requested());
                Some(tokio::spawn(async move { api::serve_http_routes(writer, metrics_listener, &options, api::Routes::MetricsOnly, shutdown).await }))
            }
            None => None,
        };
        let routes = if metrics.is_some() { api::Routes::WithoutMetrics } else { api::Routes::All };
        eprintln!("  NATS            : {}", describe_nats(nats));
        eprintln!("  submit over NATS: {}", fundledger_nats::request_subject(args.nats.ledger.as_str())?);
        let read_side = crate::read_side::ReadSide::start(&args.read, &args.nats, &nats.url, stop).await?;
        let checkpointer = match &args.operator_key {
            Some(path) => {
                let (operator, _) = crate::keyfile::read(path)?;
                let js = fundledger_nats::Broker::connect(&nats.url).await?;
                let config = fundledger_verifier::checkpointer::CheckpointerConfig {
                    every_records: args.checkpoint_every,
                    every: std::time::Duration::from_millis(args.checkpoint_interval_ms.max(1)),
                    replicas: args.nats.replicas,
                    rollback_accepted: crate::rollback::acceptance_path(&args.nats).exists(),
                    ..fundledger_verifier::checkpointer::CheckpointerConfig::new(args.nats.ledger.clone(), operator)
                };
                eprintln!(
                    "  checkpoints     : {} every {} records or {} ms",
                    fundledger_nats::checkpoint_subject(args.nats.ledger.as_str())?,
                    config.every_records,
                    config.every.as_millis()
                );
                let handle = fundledger_verifier::checkpointer::spawn(js, config).await.context("cannot start the checkpointer")?;
                // An accepted rollback lets the checkpointer start again once, not for every later rollback.
                crate::rollback::acceptance_used(&args.nats);
                Some(handle)
            }
            None => None,
        };
        let (http_writer, shutdown) = (writer.clone(), stop.requested());
        let http = tokio::spawn(async move { api::serve_http_routes(http_writer, listener, &http_options, routes, shutdown).await });
        let requests = tokio::spawn(api::serve_nats_until(writer.clone(), stop.requested()));
        Ok(Roles { writer, sequencer: Some(sequencer), http: Some(http), metrics, requests: Some(requests), read_side, checkpointer })
    }

    /// Waits for a stop signal (`Ok`, its name) or for a role to stop by itself (`Err`).
    async fn run(&mut self, signals: &mut StopSignals) -> Result<&'static str> {
        let Roles { sequencer, http, requests, read_side, checkpointer, .. } = self;
        let checkpointer_stopped = async {
            match checkpointer.as_mut() {
                Some(handle) => handle.stopped().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            signal = signals.recv() => Ok(signal),
            result = checkpointer_stopped => Err(anyhow!("the checkpointer stopped: {}", result.err().map(|error| error.to_string()).unwrap_or_else(|| "no error".to_string()))),
            result = ended(http) => Err(match result.context("HTTP task")? { Ok(()) => anyhow!("the HTTP server stopped"), Err(error) => anyhow!(error).context("HTTP server failed") }),
            result = ended(requests) => Err(match result.context("NATS task")? { Ok(()) => anyhow!("the NATS request service stopped"), Err(error) => anyhow!(error).context("NATS request service failed") }),
            result = read_side.wait() => Err(result.err().unwrap_or_else(|| anyhow!("the projector stopped"))),
            _ = ended(sequencer) => Err(anyhow!("the writer stopped unexpectedly")),
        }
    }

    /// Stops every role in order, naming each in `stopped` once it has.
    async fn stop(self, stop: &Stop, stopped: &mut Vec<String>) -> Result<()> {
        let Roles { writer, sequencer, http, metrics, requests, mut read_side, checkpointer } = self;
        writer.shut_down();
        stop.request();
        if let Some(http) = http {
            http.await.context("HTTP task")?.context("HTTP server failed")?;
            stopped.push("writer HTTP API".to_string());
        }
        if let Some(metrics) = metrics {
            metrics.await.context("metrics task")?.context("metrics listener failed")?;
            stopped.push("metrics listener".to_string());
        }
        if let Some(requests) = requests {
            requests.await.context("NATS task")?.context("NATS request service failed")?;
            stopped.push("NATS submit subscription".to_string());
        }
        // Every caller is answered: what the writer has is all acknowledged.
        let size = writer.status().size;
        drop(writer);
        if let Some(sequencer) = sequencer {
            sequencer.await.context("the writer's sequencer failed")?;
            stopped.push(format!("writer (ledger at {size} records)"));
        }
        if let Some(checkpointer) = checkpointer {
            if size > 0 {
                let bound = Duration::from_millis(FINAL_CHECKPOINT_TIMEOUT_MS);
                match tokio::time::timeout(bound, checkpointer.checkpoint_at_least(size)).await {
                    Ok(Ok(checkpoint)) => stopped.push(format!("checkpointer (last checkpoint at {} records)", checkpoint.checkpoint.size)),
                    Ok(Err(error)) => {
                        eprintln!("warning: no checkpoint at the tail: {error}");
                        stopped.push("checkpointer".to_string());
                    }
                    Err(_) => {
                        eprintln!("warning: no checkpoint at the tail within {} ms; the next start signs it", bound.as_millis());
                        stopped.push("checkpointer".to_string());
                    }
                }
            } else {
                stopped.push("checkpointer".to_string());
            }
            checkpointer.abort();
        }
        if read_side.finish().await? {
            stopped.push("projector and query API".to_string());
        }
        Ok(())
    }
}
