//! `fundledger rebuild`: drops the read models and builds them anew from the
//! ledger stream (beside the old ones, then swapped in), refusing to rebuild
//! quietly from a stream that lost what the old models reflect.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use fundledger_projector::{Durability, Projector, ProjectorConfig, Store, StoreError};

use crate::nats_args::NatsArgs;
use crate::read_side::store_path;

#[derive(Args, Debug)]
pub struct RebuildArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Builds the read models anew from the stream beside the old ones, then swaps them in.
pub async fn rebuild(args: RebuildArgs) -> Result<()> {
    let mut nats = args.nats.connect_or_embed().await?;
    let path = store_path(&args.nats.data_dir);
    std::fs::create_dir_all(&args.nats.data_dir).with_context(|| format!("cannot create {}", args.nats.data_dir.display()))?;
    // The models are never swapped under a running projector (a model of another
    // ledger or layout version is what a rebuild replaces, so only the lock counts).
    let old = match Store::open(&path, &args.nats.ledger) {
        Err(error @ StoreError::Locked { .. }) => return Err(error).context("stop `fundledger serve` first"),
        Ok(old) => old.position().ok(),
        Err(_) => None,
    };
    let fresh = args.nats.data_dir.join("projector.rebuild");
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh).with_context(|| format!("cannot remove the unfinished rebuild at {}", fresh.display()))?;
    }
    let js = fundledger_nats::Broker::connect(&nats.url).await?;
    let stream = fundledger_nats::stream_name(args.nats.ledger.as_str())?;
    let tail = fundledger_nats::append::last_sequence(&js, &stream)
        .await
        .with_context(|| format!("ledger {} has no stream {stream} on this NATS server", args.nats.ledger))?;
    if let Some(position) = old {
        // Never rebuild quietly from a stream that lost what the old models reflect.
        let known = fundledger_core::rollback::KnownPosition { seq: position.seq, hash: position.hash };
        let (last, stored) = fundledger_nats::tail_and_message_at(&js, &stream, known.seq).await?;
        if let Err(rollback) = fundledger_core::rollback::check(known, last, stored.as_deref()) {
            bail!("{rollback}. Nothing was rebuilt: `fundledger accept-rollback` shows what is lost and accepts it");
        }
    }
    let started = std::time::Instant::now();
    let store = Arc::new(Store::open(&fresh, &args.nats.ledger)?);
    let mut projector = Projector::new(store.clone(), js, ProjectorConfig::new(args.nats.ledger.clone()))?;
    let applied = catch_up_with_progress(&mut projector, Some(tail), tail, !args.json).await.context("rebuilding the read models")?;
    let elapsed = started.elapsed();
    drop(projector);
    let store = Arc::try_unwrap(store).map_err(|_| anyhow!("the new read models are still in use"))?;
    drop(store);
    if path.exists() {
        std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove the old read models at {}", path.display()))?;
    }
    std::fs::rename(&fresh, &path).with_context(|| format!("cannot move {} to {}", fresh.display(), path.display()))?;
    let rate = applied as f64 / elapsed.as_secs_f64().max(1e-9);
    if args.json {
        println!(
            "{}",
            serde_json::json!({"ledger": args.nats.ledger.as_str(), "records": applied, "seconds": elapsed.as_secs_f64(), "records_per_second": rate, "path": path.display().to_string()})
        );
    } else {
        println!(
            "Rebuilt the read models of ledger {} from {applied} records in {:.2} s ({rate:.0} records/s): {}",
            args.nats.ledger,
            elapsed.as_secs_f64(),
            path.display()
        );
    }
    if let Some(embedded) = nats.embedded.as_mut() {
        embedded.stop().await.context("stopping the embedded nats-server")?;
    }
    Ok(())
}

pub fn progress_bar(total: u64, visible: bool) -> indicatif::ProgressBar {
    if !visible || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("projecting {bar:40} {human_pos}/{human_len} records ({per_sec}, {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Applies the stream in bulk up to `until` (the tail if `None`), showing a
/// progress bar out of `total` records when `visible`.
pub async fn catch_up_with_progress(
    projector: &mut Projector,
    until: Option<u64>,
    total: u64,
    visible: bool,
) -> Result<u64, fundledger_projector::ProjectorError> {
    let bar = progress_bar(total, visible);
    let mut position = projector.subscribe();
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            while position.changed().await.is_ok() {
                bar.set_position(*position.borrow());
            }
        })
    };
    let applied = projector.catch_up(until, Durability::Bulk).await;
    ticker.abort();
    bar.finish_and_clear();
    applied
}
