//! `bench rebuild` writes a valid synthetic ledger of at least a million
//! signed events into a fresh stream, then measures in the same run (a) the
//! raw rate of fetching that stream with the same ordered read the projector
//! uses and no processing, and (b) a projector rebuild into a new RocksDB
//! database (parse, hash and chain checks, projection, WriteBatches with the
//! position), and their ratio.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_projector::{Projector, ProjectorConfig, Store};
use futures::StreamExt;
use serde_json::json;

/// Target: rebuild records per second on 2 cores (DESIGN.md 6).
const TARGET_RECORDS_PER_SECOND: f64 = 150_000.0;

#[derive(Args, Debug)]
pub struct RebuildArgs {
    /// Events in the synthetic ledger (besides its few setup events).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// NATS server URL; without it an embedded nats-server is started in a temporary directory.
    #[arg(long, env = "FUNDLEDGER_NATS")]
    pub nats: Option<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

fn directory_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| entries.filter_map(|entry| entry.ok()?.metadata().ok()).filter(|metadata| metadata.is_file()).map(|metadata| metadata.len()).sum())
        .unwrap_or(0)
}

pub async fn run(args: RebuildArgs) -> Result<()> {
    if args.events == 0 {
        bail!("--events must be positive");
    }
    let environment = super::Environment::start("rebuild", args.nats.clone()).await?;
    let (nats, ledger, temporary) = (&environment.nats, environment.ledger.clone(), environment.temporary.path());
    let js = fundledger_nats::Broker::connect(&nats.url).await?;
    let progress = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    eprintln!("writing a synthetic ledger of {} signed events...", args.events);
    let synthetic = super::synthetic::publish_ledger(&js, &ledger, args.events, progress).await?;
    let stream = fundledger_nats::stream_name(ledger.as_str())?;

    // (a) Raw fetch of the same stream, no processing.
    eprintln!("fetching the {} records raw...", synthetic.size);
    let started = Instant::now();
    let mut messages = fundledger_nats::read_from(&js, &stream, None, 1).await?;
    let (mut fetched, mut fetched_bytes) = (0u64, 0u64);
    while let Some(message) = messages.next().await {
        let message = message?;
        fetched += 1;
        fetched_bytes += message.payload.len() as u64;
    }
    let raw_elapsed = started.elapsed();
    if fetched != synthetic.size {
        bail!("the raw fetch read {fetched} records, the ledger has {}", synthetic.size);
    }

    // (b) A rebuild of the read models from the stream.
    eprintln!("rebuilding the read models from the {} records...", synthetic.size);
    let path = temporary.join("projector");
    let store = Arc::new(Store::open(&path, &ledger)?);
    let mut projector = Projector::new(store.clone(), js.clone(), ProjectorConfig::new(ledger.clone()))?;
    let started = Instant::now();
    let applied = crate::rebuild::catch_up_with_progress(&mut projector, None, synthetic.size, progress).await;
    let rebuild_elapsed = started.elapsed();
    let applied = applied.context("rebuilding")?;
    let stored = store.position()?;
    if applied != synthetic.size || stored.seq != synthetic.size || stored.hash != *synthetic.chain.head() {
        bail!("the rebuild applied {applied} records up to {} but the ledger has {} records", stored.seq, synthetic.size);
    }
    let database_bytes = directory_bytes(&path);

    let raw_rate = fetched as f64 / raw_elapsed.as_secs_f64();
    let rebuild_rate = applied as f64 / rebuild_elapsed.as_secs_f64();
    let report = json!({
        "records": synthetic.size,
        "record_bytes_average": fetched_bytes / fetched.max(1),
        "raw_fetch": { "records_per_second": raw_rate.round(), "seconds": raw_elapsed.as_secs_f64() },
        "rebuild": { "records_per_second": rebuild_rate.round(), "seconds": rebuild_elapsed.as_secs_f64(), "database_bytes": database_bytes },
        "ratio_rebuild_to_raw": rebuild_rate / raw_rate,
        "targets": { "rebuild_records_per_second_min": TARGET_RECORDS_PER_SECOND, "met": rebuild_rate >= TARGET_RECORDS_PER_SECOND },
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("bench rebuild: {} records, {} bytes per record on average", synthetic.size, fetched_bytes / fetched.max(1));
        println!("  (a) raw fetch of the stream  {:>9.0} records/s  ({:.2} s)", raw_rate, raw_elapsed.as_secs_f64());
        println!(
            "  (b) rebuild into RocksDB     {:>9.0} records/s  ({:.2} s, database {} MB)",
            rebuild_rate,
            rebuild_elapsed.as_secs_f64(),
            database_bytes / 1_000_000
        );
        println!("  ratio (b)/(a)                {:>9.1}%", 100.0 * rebuild_rate / raw_rate);
        println!("  target: at least {TARGET_RECORDS_PER_SECOND:.0} records/s: {}", if rebuild_rate >= TARGET_RECORDS_PER_SECOND { "met" } else { "NOT met" });
    }
    drop(projector);
    drop(store);
    environment.stop().await
}
