//! The operator's side of a ledger rollback: say exactly what the stream lost
//! compared with what this writer acknowledged, and only then let the writer
//! start again from the stream as it is.
//!
//! Why a separate, explicit step: the writer never heals over a rollback by
//! itself (see [`crate::service`]): the records it acknowledged and the
//! stream no longer holds were promised to their submitters, so accepting
//! their loss is a decision a person makes, knowing which events it concerns.

use fundledger_core::rollback::{self, KnownPosition, Rollback};

use crate::error::WriterError;
use crate::index::IdIndex;
use crate::service::WriterConfig;

/// Event ids listed in an assessment, at most (the count is always exact).
pub const LOST_IDS_LISTED_MAX: usize = 1_000;

/// What the stream holds compared with what the writer's index says was acknowledged.
#[derive(Debug)]
pub struct Assessment {
    pub known: KnownPosition,
    pub stream_last: u64,
    /// `None` when the stream holds every acknowledged record.
    pub rollback: Option<Rollback>,
    /// Acknowledged events from the first lost record on (event id, sequence), in sequence order.
    pub lost_events: Vec<(String, u64)>,
    pub lost_events_total: u64,
}

fn index_path(config: &WriterConfig) -> std::path::PathBuf {
    config.data_dir.join(format!("ids-{}", config.ledger))
}

/// Compares the stream with the writer's index; the writer must not be
/// running (its index is locked while it runs).
pub async fn assess(config: &WriterConfig) -> Result<Assessment, WriterError> {
    let index = IdIndex::open(&index_path(config))?;
    let (seq, hash) = index.position()?;
    let known = KnownPosition { seq, hash };
    let js = fundledger_nats::Broker::connect(&config.nats_url).await?;
    let stream = fundledger_nats::stream_name(config.ledger.as_str())?;
    let (stream_last, stored) = fundledger_nats::tail_and_message_at(&js, &stream, seq).await?;
    let rollback = rollback::check(known, stream_last, stored.as_deref()).err();
    let (lost_events, lost_events_total) = match &rollback {
        Some(rollback) => index.ids_after(rollback.first_bad_seq() - 1, LOST_IDS_LISTED_MAX)?,
        None => (Vec::new(), 0),
    };
    Ok(Assessment { known, stream_last, rollback, lost_events, lost_events_total })
}

/// Forgets what the writer acknowledged: its index is cleared, and its next
/// start reads the stream as it is. Refused unless `records_lost` is the
/// number of acknowledged records the assessment found missing, so nobody
/// accepts a loss they were not shown.
pub fn accept(config: &WriterConfig, assessment: &Assessment, records_lost: u64) -> Result<(), WriterError> {
    let Some(rollback) = &assessment.rollback else {
        return Err(WriterError::Index {
            path: index_path(config).display().to_string(),
            message: "the stream holds every acknowledged record: there is no rollback to accept".to_string(),
        });
    };
    if rollback.records_lost() != records_lost {
        return Err(WriterError::Index {
            path: index_path(config).display().to_string(),
            message: format!("{rollback}; accepting it loses {} records, not {records_lost}", rollback.records_lost()),
        });
    }
    IdIndex::open(&index_path(config))?.clear()
}
