//! `fundledger bench`: throughput and latency measured beside a baseline in
//! the same run, on the same NATS server, so the figures are ratios that mean
//! something on any machine.

mod append;
mod cpu;
mod rebuild;
pub mod synthetic;
mod verify;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use fundledger_core::id::LedgerId;

use crate::nats_args::{NatsArgs, NatsConnection};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Append throughput and latency: the ledger's append path vs raw JetStream publishes of the same bytes.
    Append(append::AppendArgs),
    /// Full verification of a big ledger, from JetStream and from an audit bundle, vs pure ed25519 batch verification of the same signatures.
    Verify(verify::VerifyBenchArgs),
    /// Projector rebuild of a big ledger into RocksDB vs raw fetching of the same stream.
    Rebuild(rebuild::RebuildArgs),
}

pub async fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Append(args) => append::run(args).await,
        BenchCommand::Verify(args) => verify::run(args).await,
        BenchCommand::Rebuild(args) => rebuild::run(args).await,
    }
}

pub(crate) fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// What every bench starts from: a temporary directory, a ledger of its own
/// (named for the bench and the run) and a NATS server: the one given, or an
/// embedded one in the temporary directory.
pub(crate) struct Environment {
    pub temporary: tempfile::TempDir,
    pub run_id: String,
    pub ledger: LedgerId,
    pub nats: NatsConnection,
}

impl Environment {
    pub async fn start(bench: &str, nats: Option<String>) -> Result<Environment> {
        let temporary = tempfile::tempdir().context("cannot create a temporary directory")?;
        let run_id = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0));
        let ledger = LedgerId::parse(&format!("bench-{bench}-{run_id}"))?;
        let nats = NatsArgs { nats, data_dir: temporary.path().to_path_buf(), ledger: ledger.clone(), replicas: 1 }.connect_or_embed().await?;
        Ok(Environment { temporary, run_id, ledger, nats })
    }

    /// The embedded nats-server's process id: its CPU time can be read (not a server given with `--nats`).
    pub fn server_pid(&self) -> Option<u32> {
        self.nats.embedded.as_ref().and_then(fundledger_nats::EmbeddedNats::pid)
    }

    /// Stops the embedded server (if any) before its directory goes.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(server) = self.nats.embedded.as_mut() {
            server.stop().await?;
        }
        Ok(())
    }
}
