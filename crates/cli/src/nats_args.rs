//! Where the NATS server is (`--nats`, or an embedded nats-server under
//! `--data-dir`), shared by `serve`, `rebuild`, `accept-rollback`, `demo` and
//! the benchmarks, and stopping an embedded server within its share of the
//! stop budget.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use fundledger_core::id::LedgerId;
use fundledger_nats::{EmbeddedNats, EmbeddedOptions};
use fundledger_writer::WriterConfig;

use crate::shutdown::NATS_STOP_TIMEOUT_MS;

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

/// A NATS server to use: the one given, or an embedded one (killed on drop;
/// [`stop_nats`] stops it gracefully).
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

/// The NATS server for the start-up log: its URL without password, and the
/// embedded server's pid.
pub fn describe_nats(nats: &NatsConnection) -> String {
    let url = fundledger_nats::redact_url(&nats.url);
    match nats.embedded.as_ref().and_then(EmbeddedNats::pid) {
        Some(pid) => format!("{url} (embedded, pid {pid})"),
        None if nats.embedded.is_some() => format!("{url} (embedded)"),
        None => url,
    }
}

/// Stops the embedded nats-server, if any, within [`NATS_STOP_TIMEOUT_MS`] (then kills it).
pub async fn stop_nats(nats: &mut NatsConnection) -> Result<()> {
    match nats.embedded.as_mut() {
        Some(embedded) => embedded.stop_within(Duration::from_millis(NATS_STOP_TIMEOUT_MS)).await.context("stopping the embedded nats-server"),
        None => Ok(()),
    }
}
