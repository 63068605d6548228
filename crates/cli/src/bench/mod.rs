//! `fundledger bench`: throughput and latency measured beside a baseline in
//! the same run, on the same NATS server, so the figures are ratios that mean
//! something on any machine.

mod append;
mod rebuild;
pub mod synthetic;
mod verify;

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Append throughput and latency: the ledger's append path vs raw JetStream publishes of the same bytes.
    Append(append::AppendArgs),
    /// Full verification of a big ledger from JetStream vs pure ed25519 batch verification of the same signatures.
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

