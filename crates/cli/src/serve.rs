//! `fundledger serve`: runs the writer (HTTP and NATS request/reply) for one
//! ledger. With no NATS URL it starts its own nats-server with JetStream on a
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
    /// NATS server URL (JetStream enabled). Without it, an embedded nats-server
    /// is started on a free loopback port, with its data under --data-dir.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: Option<String>,
    /// Where fundledger keeps local state: the writer's idempotency index and
    /// the embedded NATS server's data.
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
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Address for the writer's HTTP API (POST /v1/events, GET /v1/status, /healthz, /readyz).
    #[arg(long, env = "FUNDLEDGER_HTTP", default_value = "127.0.0.1:7400")]
    pub http: SocketAddr,
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
    let (writer, sequencer) = Writer::start(args.nats.writer_config(&nats.url)).await.context("cannot start the writer")?;
    let listener = tokio::net::TcpListener::bind(args.http).await.with_context(|| format!("cannot listen on {}", args.http))?;
    let status = writer.status();
    eprintln!("fundledger serving ledger {} ({} records, head {})", status.ledger, status.size, &status.head[..16]);
    eprintln!("  writer HTTP API : http://{}", listener.local_addr()?);
    eprintln!("  NATS            : {}{}", nats.url, if nats.embedded.is_some() { " (embedded)" } else { "" });
    eprintln!("  submit over NATS: {}", fundledger_nats::request_subject(args.nats.ledger.as_str())?);
    eprintln!("Press Ctrl-C to stop.");
    let http = tokio::spawn(api::serve_http(writer.clone(), listener));
    let requests = tokio::spawn(api::serve_nats(writer.clone()));
    tokio::select! {
        result = tokio::signal::ctrl_c() => { result.context("waiting for Ctrl-C")?; eprintln!("stopping"); }
        result = http => { result.context("HTTP task")?.context("HTTP server failed")?; }
        result = requests => { result.context("NATS task")?.context("NATS request service failed")?; }
        _ = sequencer => { anyhow::bail!("the writer stopped unexpectedly"); }
    }
    if let Some(embedded) = nats.embedded.as_mut() {
        embedded.stop().await.context("stopping the embedded nats-server")?;
    }
    Ok(())
}
