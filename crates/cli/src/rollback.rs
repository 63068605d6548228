//! `fundledger accept-rollback`: the one way to let the writer and the read
//! models start again after the ledger stream lost or changed records they
//! saw acknowledged. It shows exactly what is lost (sequences, count, the
//! acknowledged event ids) and acts only when the operator repeats the count.

use anyhow::{bail, Context, Result};
use clap::Args;
use fundledger_core::rollback::{self, KnownPosition, Rollback};
use fundledger_projector::{Store, StoreError};
use fundledger_writer::recovery;

use crate::nats_args::NatsArgs;

#[derive(Args, Debug)]
pub struct AcceptRollbackArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Accept the loss of exactly this many acknowledged records (the count the
    /// assessment printed). Without it, nothing changes: the assessment is printed.
    #[arg(long, value_name = "RECORDS")]
    pub lose: Option<u64>,
    /// Print the assessment as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The file that tells the next `fundledger serve --operator-key` that an
/// operator accepted a rollback, so its checkpointer signs again from the
/// stream as it is; serve removes it once the checkpointer started.
pub fn acceptance_path(args: &NatsArgs) -> std::path::PathBuf {
    args.data_dir.join(format!("rollback-accepted-{}", args.ledger))
}

/// Removes the acceptance once a checkpointer has started with it.
pub fn acceptance_used(args: &NatsArgs) {
    let path = acceptance_path(args);
    if path.exists() {
        if let Err(error) = std::fs::remove_file(&path) {
            tracing::warn!(%error, path = %path.display(), "could not remove the rollback acceptance");
        }
    }
}

/// The read models' position against the stream (None: no read models).
async fn assess_read_models(args: &NatsArgs, url: &str) -> Result<Option<(KnownPosition, Option<Rollback>)>> {
    let path = crate::read_side::store_path(&args.data_dir);
    if !path.exists() {
        return Ok(None);
    }
    let store = match Store::open(&path, &args.ledger) {
        Ok(store) => store,
        Err(error @ StoreError::Locked { .. }) => return Err(error).context("stop `fundledger serve` first"),
        Err(error) => return Err(error).context("opening the read models"),
    };
    let position = store.position()?;
    let known = KnownPosition { seq: position.seq, hash: position.hash };
    let js = fundledger_nats::Broker::connect(url).await?;
    let stream = fundledger_nats::stream_name(args.ledger.as_str())?;
    let (last, stored) = fundledger_nats::tail_and_message_at(&js, &stream, known.seq).await?;
    Ok(Some((known, rollback::check(known, last, stored.as_deref()).err())))
}

pub async fn run(args: AcceptRollbackArgs) -> Result<()> {
    let mut nats = args.nats.connect_or_embed().await?;
    let config = args.nats.writer_config(&nats.url);
    let writer = recovery::assess(&config).await.context("assessing the writer's index (stop `fundledger serve` first)")?;
    let read_models = assess_read_models(&args.nats, &nats.url).await?;
    let read_rollback = read_models.as_ref().and_then(|(_, rollback)| rollback.clone());
    let lost = writer.rollback.as_ref().map_or(0, Rollback::records_lost).max(read_rollback.as_ref().map_or(0, Rollback::records_lost));
    if args.json {
        let lost_events: Vec<_> = writer.lost_events.iter().map(|(id, seq)| serde_json::json!({"event_id": id, "seq": seq})).collect();
        println!(
            "{}",
            serde_json::json!({
                "ledger": args.nats.ledger.as_str(),
                "stream_last": writer.stream_last,
                "writer": {"known_seq": writer.known.seq, "rollback": writer.rollback.as_ref().map(ToString::to_string)},
                "read_models": read_models.as_ref().map(|(known, rollback)| serde_json::json!({"known_seq": known.seq, "rollback": rollback.as_ref().map(ToString::to_string)})),
                "records_lost": lost,
                "lost_events_total": writer.lost_events_total,
                "lost_events": lost_events,
            })
        );
    } else {
        println!("Ledger {}: the stream ends at record {}.", args.nats.ledger, writer.stream_last);
        match &writer.rollback {
            None => println!("  writer index : holds records up to {}: the stream still has them.", writer.known.seq),
            Some(rollback) => println!("  writer index : {rollback}"),
        }
        match &read_models {
            None => println!("  read models  : none"),
            Some((known, None)) => println!("  read models  : at record {}: the stream still has it.", known.seq),
            Some((_, Some(rollback))) => println!("  read models  : {rollback}"),
        }
        if writer.lost_events_total > 0 {
            println!(
                "Acknowledged events the stream no longer holds as acknowledged ({} in all; their submitters were told they are recorded):",
                writer.lost_events_total
            );
            for (id, seq) in &writer.lost_events {
                println!("  {id} (was record {seq})");
            }
            if writer.lost_events_total > writer.lost_events.len() as u64 {
                println!(
                    "  ... and {} more (--json lists the first {})",
                    writer.lost_events_total - writer.lost_events.len() as u64,
                    recovery::LOST_IDS_LISTED_MAX
                );
            }
        }
    }
    let result = decide(&args, &config, &writer, read_rollback.as_ref(), lost);
    if let Some(embedded) = nats.embedded.as_mut() {
        embedded.stop().await.context("stopping the embedded nats-server")?;
    }
    result
}

fn decide(
    args: &AcceptRollbackArgs,
    config: &fundledger_writer::WriterConfig,
    writer: &recovery::Assessment,
    read_rollback: Option<&Rollback>,
    lost: u64,
) -> Result<()> {
    if lost == 0 {
        if !args.json {
            println!("Nothing to accept: the stream holds every record the writer and the read models saw.");
        }
        return Ok(());
    }
    match args.lose {
        None => bail!("nothing changed. To accept the loss of these {lost} acknowledged records and let the services start again from the stream as it is, run again with --lose {lost}"),
        Some(count) if count != lost => bail!("nothing changed: the stream lost {lost} acknowledged records, not {count}; run again with --lose {lost} to accept it"),
        Some(_) => {}
    }
    if writer.rollback.is_some() {
        recovery::accept(config, writer, writer.rollback.as_ref().map_or(0, Rollback::records_lost)).context("clearing the writer's index")?;
    }
    if read_rollback.is_some() {
        let path = crate::read_side::store_path(&args.nats.data_dir);
        std::fs::remove_dir_all(&path).with_context(|| format!("cannot remove the read models at {}", path.display()))?;
    }
    let accepted = writer.rollback.as_ref().or(read_rollback).map(ToString::to_string).unwrap_or_default();
    let marker = acceptance_path(&args.nats);
    std::fs::write(&marker, format!("{accepted}\n")).with_context(|| format!("cannot write {}", marker.display()))?;
    if !args.json {
        println!("Accepted the loss of {lost} records: the writer re-reads the stream at its next start and the read models are rebuilt from it.");
        println!("Signed checkpoints beyond the stream stay on record: auditors will see the rollback (`fundledger verify` reports it).");
    }
    Ok(())
}
