//! The read side of `fundledger serve`: the projector (keeping the RocksDB
//! read models under `<data-dir>/projector`) and the query API, started beside
//! the writer or alone with `--no-writer`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use fundledger_projector::api::{ApiConfig, Reads};
use fundledger_projector::{Projector, ProjectorConfig, Store};

use crate::nats_args::{describe_nats, stop_nats, NatsArgs, NatsConnection};
use crate::shutdown::{Stop, StopSignals, ROLES_STOP_TIMEOUT_MS};

/// The read-side roles of `fundledger serve`.
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// Address for the query API (GET /v1/portfolio, /v1/funds/{id}, ..., /openapi.json).
    /// Port 0 takes a free port; the address bound is printed at start.
    #[arg(long, env = "FUNDLEDGER_QUERY_HTTP", default_value = fundledger_projector::api::DEFAULT_ADDRESS)]
    pub query_http: SocketAddr,
    /// Do not run the projector (which keeps the read models in <data-dir>/projector); implies --no-query-api.
    #[arg(long, env = "FUNDLEDGER_NO_PROJECTOR")]
    pub no_projector: bool,
    /// Do not serve the query API.
    #[arg(long, env = "FUNDLEDGER_NO_QUERY_API")]
    pub no_query_api: bool,
    /// Do not run the writer (run only the read side, e.g. beside a writer elsewhere).
    #[arg(long, env = "FUNDLEDGER_NO_WRITER")]
    pub no_writer: bool,
    /// The projector's durable JetStream consumer name.
    #[arg(long, env = "FUNDLEDGER_PROJECTOR_NAME", default_value = fundledger_projector::consumer::DEFAULT_DURABLE_NAME)]
    pub projector_name: String,
    /// Who reads what through the query API. `keys`: readers sign in with a key registered on the
    /// ledger (`fundledger portfolio --key FILE`, ...) and read what its roles allow (admin, auditor and
    /// reporting everything, a fund manager its funds, a grant officer its schemes); without a key,
    /// the public aggregates only (fund totals, scheme budgets and utilisation). `open`: everyone
    /// reads everything, for a port only trusted readers can reach.
    #[arg(long, env = "FUNDLEDGER_READS", value_enum, default_value_t = ReadsArg::Keys)]
    pub reads: ReadsArg,
    /// How long a reader's session lasts, in seconds (a revoked key or role loses access at once).
    #[arg(long, env = "FUNDLEDGER_SESSION_TTL_S", default_value_t = fundledger_projector::sessions::SESSION_TTL_DEFAULT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub session_ttl_s: u64,
    #[command(flatten)]
    pub http: crate::http_args::HttpArgs,
}

/// `--reads`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadsArg {
    /// Sign in with a registered key; public aggregates without one.
    Keys,
    /// Everyone reads everything.
    Open,
}

impl ReadArgs {
    fn api_config(&self) -> ApiConfig {
        let reads = match self.reads {
            ReadsArg::Keys => Reads::Keys,
            ReadsArg::Open => Reads::Open,
        };
        ApiConfig { reads, session_ttl: Duration::from_secs(self.session_ttl_s) }
    }
}

/// Where the read models of a data directory live.
pub fn store_path(data_dir: &Path) -> PathBuf {
    data_dir.join("projector")
}

/// The running projector and query API of `fundledger serve`.
pub struct ReadSide {
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl ReadSide {
    /// Starts the roles `args` asks for and prints where they are; they run
    /// until `stop` is requested (see [`ReadSide::finish`]).
    pub async fn start(args: &ReadArgs, nats: &NatsArgs, url: &str, stop: &Stop) -> Result<ReadSide> {
        if args.no_projector {
            return Ok(ReadSide { task: None });
        }
        let path = store_path(&nats.data_dir);
        std::fs::create_dir_all(&nats.data_dir).with_context(|| format!("cannot create {}", nats.data_dir.display()))?;
        let store = Arc::new(Store::open(&path, &nats.ledger)?);
        // The stream is the writer's to create: until it exists the projector retries.
        let js = fundledger_nats::Broker::connect(url).await?;
        let config = ProjectorConfig { durable_name: args.projector_name.clone(), ..ProjectorConfig::new(nats.ledger.clone()) };
        let projector = Projector::new(store.clone(), js, config)?;
        eprintln!("  projector       : {} (durable consumer {}, at record {})", path.display(), args.projector_name, projector.position());
        let api = if args.no_query_api {
            None
        } else {
            let listener =
                tokio::net::TcpListener::bind(args.query_http).await.with_context(|| format!("cannot listen on {} for the query API", args.query_http))?;
            let reads = match args.reads {
                ReadsArg::Keys => "readers sign in with a registered key; public aggregates without one",
                ReadsArg::Open => "open: everyone reads everything",
            };
            eprintln!("  query API       : {}://{} (GET /openapi.json; {reads})", args.http.scheme(), listener.local_addr()?);
            let options = args.http.options()?;
            let hide_metrics = args.http.metrics_http.is_some();
            let (store, shutdown, config) = (store.clone(), stop.requested(), args.api_config());
            Some(tokio::spawn(async move { fundledger_projector::api::serve_with(store, listener, &options, hide_metrics, config, shutdown).await }))
        };
        let stop = stop.clone();
        let task = tokio::spawn(async move {
            // The projector commits and acknowledges the batch it is applying, then stops.
            let projecting = projector.run(stop.requested());
            tokio::pin!(projecting);
            match api {
                Some(mut api) => tokio::select! {
                    result = &mut projecting => {
                        result.context("the projector stopped")?;
                        api.await.context("query API task")?.context("the query API failed")
                    }
                    result = &mut api => {
                        result.context("query API task")?.context("the query API failed")?;
                        if !stop.is_requested() {
                            bail!("the query API stopped");
                        }
                        projecting.await.context("the projector stopped")
                    }
                },
                None => projecting.await.context("the projector stopped"),
            }
        });
        Ok(ReadSide { task: Some(task) })
    }

    /// Resolves if a role stops by itself (with its error); never if none runs.
    pub async fn wait(&mut self) -> Result<()> {
        match self.task.as_mut() {
            Some(task) => {
                let result = task.await;
                self.task = None;
                result.context("read-side task")?
            }
            None => std::future::pending().await,
        }
    }

    /// After the stop was requested: waits until the projector committed its
    /// last batch and the query API answered its last requests. True if
    /// anything was running.
    pub async fn finish(&mut self) -> Result<bool> {
        match self.task.take() {
            Some(task) => task.await.context("read-side task")?.map(|()| true),
            None => Ok(false),
        }
    }
}

/// `fundledger serve --no-writer`: only the projector and the query API.
pub async fn serve_read_only(args: &ReadArgs, nats_args: &NatsArgs, nats: &mut NatsConnection, signals: &mut StopSignals) -> Result<()> {
    if args.http.metrics_http.is_some() {
        bail!("--metrics-http serves the writer's /metrics; with --no-writer use --metrics-token instead");
    }
    eprintln!("fundledger serving the read side of ledger {} (no writer)", nats_args.ledger);
    eprintln!("  NATS            : {}", describe_nats(nats));
    let stop = Stop::new();
    let mut read_side = ReadSide::start(args, nats_args, &nats.url, &stop).await?;
    if read_side.task.is_none() {
        bail!("--no-writer with --no-projector leaves nothing to run");
    }
    eprintln!("Press Ctrl-C to stop.");
    let result = tokio::select! {
        signal = signals.recv() => {
            eprintln!("{signal}: stopping");
            stop.request();
            let bound = Duration::from_millis(ROLES_STOP_TIMEOUT_MS);
            tokio::select! {
                result = tokio::time::timeout(bound, read_side.finish()) => match result {
                    Ok(result) => result.map(|_| ()),
                    Err(_) => Err(anyhow!("the projector and query API did not stop within {} ms", bound.as_millis())),
                },
                signal = signals.recv() => Err(anyhow!("{signal} again: not waiting for the projector")),
            }
        }
        result = read_side.wait() => result,
    };
    let stopped_nats = stop_nats(nats).await;
    result?;
    stopped_nats?;
    eprintln!("stopped: projector, query API{}", if nats.embedded.is_some() { ", embedded nats-server" } else { "" });
    Ok(())
}
