//! `fundledger serve`: runs the writer (HTTP and NATS request/reply), the
//! projector and the query API (`crate::query::ReadSide`) for one ledger.
//! With no NATS URL it starts its own nats-server with JetStream on a
//! free loopback port, keeps its data under the data directory, and stops it
//! on exit.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use fundledger_core::id::LedgerId;
use fundledger_nats::{EmbeddedNats, EmbeddedOptions};
use fundledger_writer::{api, Writer, WriterConfig};

#[derive(Args, Clone, Debug)]
pub struct NatsArgs {
    /// NATS server URL (JetStream enabled); a comma-separated list for a cluster,
    /// with the user in it to log in (`nats://writer:PASSWORD@host:4222`; keep it
    /// in the environment, not on the command line). Without it, an embedded
    /// nats-server is started on a free loopback port, with its data under --data-dir.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: Option<String>,
    /// Where fundledger keeps local state: the writer's idempotency index, the
    /// read models (`projector/`) and the embedded NATS server's data.
    #[arg(long, env = "FUNDLEDGER_DATA_DIR", default_value = ".fundledger")]
    pub data_dir: PathBuf,
    /// The ledger to serve.
    #[arg(long, env = "FUNDLEDGER_LEDGER", default_value = "hk")]
    pub ledger: LedgerId,
    /// JetStream replicas for the ledger streams (1 on one machine, 3 in a cluster).
    #[arg(long, env = "FUNDLEDGER_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
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
    #[command(flatten)]
    pub read: crate::query::ReadArgs,
}

/// A NATS server to use: the one given, or an embedded one (stopped on drop).
pub struct NatsConnection {
    pub url: String,
    pub embedded: Option<EmbeddedNats>,
}

impl NatsArgs {
    pub async fn connect_or_embed(&self) -> Result<NatsConnection> {
        if let Some(url) = &self.nats {
            return Ok(NatsConnection { url: url.clone(), embedded: None });
        }
        let directory = self.data_dir.join("nats");
        std::fs::create_dir_all(&directory).with_context(|| format!("cannot create {}", directory.display()))?;
        let embedded = EmbeddedNats::start(EmbeddedOptions { data_dir: Some(directory), ..EmbeddedOptions::default() })
            .await
            .context("cannot start the embedded nats-server")?;
        Ok(NatsConnection { url: embedded.url(), embedded: Some(embedded) })
    }

    pub fn writer_config(&self, url: &str) -> WriterConfig {
        WriterConfig { replicas: self.replicas, ..WriterConfig::new(self.ledger.clone(), url, self.data_dir.join("writer")) }
    }
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut nats = args.nats.connect_or_embed().await?;
    if args.read.no_writer {
        return crate::query::serve_read_only(&args.read, &args.nats, &mut nats).await;
    }
    let (writer, sequencer) = Writer::start(WriterConfig { allow_old_nats_cluster: args.allow_old_nats_cluster, ..args.nats.writer_config(&nats.url) }).await.context("cannot start the writer")?;
    let listener = tokio::net::TcpListener::bind(args.http).await.with_context(|| format!("cannot listen on {}", args.http))?;
    let status = writer.status();
    eprintln!("fundledger serving ledger {} ({} records, head {})", status.ledger, status.size, &status.head[..16]);
    eprintln!("  writer HTTP API : http://{}", listener.local_addr()?);
    eprintln!("  NATS            : {}{}", fundledger_nats::redact_url(&nats.url), if nats.embedded.is_some() { " (embedded)" } else { "" });
    eprintln!("  submit over NATS: {}", fundledger_nats::request_subject(args.nats.ledger.as_str())?);
    let mut read_side = crate::query::ReadSide::start(&args.read, &args.nats, &nats.url).await?;
    let checkpointer = match &args.operator_key {
        Some(path) => {
            let (operator, _) = crate::keyfile::read(path)?;
            let js = fundledger_nats::connect_jetstream(&nats.url).await?;
            let config = fundledger_verifier::checkpointer::CheckpointerConfig {
                every_records: args.checkpoint_every,
                every: std::time::Duration::from_millis(args.checkpoint_interval_ms.max(1)),
                replicas: args.nats.replicas,
                ..fundledger_verifier::checkpointer::CheckpointerConfig::new(args.nats.ledger.clone(), operator)
            };
            eprintln!("  checkpoints     : {} every {} records or {} ms", fundledger_nats::checkpoint_subject(args.nats.ledger.as_str())?, config.every_records, config.every.as_millis());
            Some(fundledger_verifier::checkpointer::spawn(js, config).await.context("cannot start the checkpointer")?)
        }
        None => None,
    };
    eprintln!("Press Ctrl-C to stop.");
    let checkpointer_stopped = async {
        match checkpointer {
            Some(handle) => handle.join().await,
            None => std::future::pending().await,
        }
    };
    let http = tokio::spawn(api::serve_http(writer.clone(), listener));
    let requests = tokio::spawn(api::serve_nats(writer.clone()));
    tokio::select! {
        result = checkpointer_stopped => { anyhow::bail!("the checkpointer stopped: {}", result.err().map(|error| error.to_string()).unwrap_or_else(|| "no error".to_string())); }
        result = tokio::signal::ctrl_c() => { result.context("waiting for Ctrl-C")?; eprintln!("stopping"); }
        result = http => { result.context("HTTP task")?.context("HTTP server failed")?; }
        result = requests => { result.context("NATS task")?.context("NATS request service failed")?; }
        result = read_side.wait() => { result?; }
        _ = sequencer => { anyhow::bail!("the writer stopped unexpectedly"); }
    }
    if let Some(embedded) = nats.embedded.as_mut() {
        embedded.stop().await.context("stopping the embedded nats-server")?;
    }
    Ok(())
}
