//! `fundledger-verifier`: what lets an auditor prove, without trusting the
//! operator, that a ledger is complete and untampered and that every rule
//! held at every step.
//!
//! * [`engine`]: the checks, chunk by chunk, naming the first bad record.
//! * [`source`]: records from JetStream or an audit bundle, pipelined into the engine; export.
//! * [`store`]: the disk-backed id set and Merkle node store (RocksDB), so memory stays flat.
//! * [`checkpoints`]: signed checkpoints and witness statements, fork detection.
//! * [`bundle`]: the offline audit bundle format.
//! * [`trusted`]: starting from a checkpoint verified before.
//! * [`options`]: how a verification runs (store, pinned operator, trusted start, progress).
//! * [`proof`]: inclusion proof files, built from stored nodes and checked offline.
//! * [`checkpointer`]: the operator's role that signs checkpoints every N records or T seconds.
//! * [`follow`]: the verifying subscriber behind `fundledger tail --verify`.
//!
//! Every rule lives in `fundledger-core`: the engine replays the same state
//! machine ([`fundledger_core::replay::Replay`]) the writer applies.

pub mod bundle;
pub mod checkpointer;
pub mod checkpoints;
pub mod engine;
pub mod failure;
pub mod follow;
mod id_filter;
mod node_files;
pub mod options;
pub mod proof;
pub mod source;
pub mod store;
pub mod trusted;

pub use checkpoints::{CheckpointBook, WitnessStatement};
pub use engine::{RawRecord, Report, Verified, Verifier};
pub use failure::{Failure, FailureKind, VerifyError};
pub use follow::{follow_nats, Followed, Follower};
pub use options::{Progress, VerifyOptions};
pub use source::{export_nats, read_checkpoints, verify_bundle, verify_nats, witness_nats, Exported};
pub use store::Store;

/// Now, as a ledger timestamp (the shell's clock; the core never reads one).
pub fn now() -> fundledger_core::time::Timestamp {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0);
    fundledger_core::time::Timestamp::from_unix_millis(millis)
}
