//! What can go wrong, in two kinds that an auditor must never confuse:
//!
//! * [`Failure`]: the ledger is not what it claims to be. It names the first
//!   bad record (its sequence and, when the record could be read, its event
//!   id), what kind of check failed and why. Nothing after it is trusted.
//! * [`VerifyError`]: the verification could not be carried out (NATS down,
//!   unreadable file, disk full). It says nothing about the ledger.

use fundledger_core::replay::ReplayError;
use serde::Serialize;
use thiserror::Error;

pub use fundledger_core::replay::FailureKind;

/// The first bad record of a ledger, and why.
///
/// `seq` 0 means the failure is not about one record (a malformed message on
/// the checkpoint stream, the bundle's own structure).
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[error("{}{}: {kind}: {reason}", if *.seq == 0 { "checkpoints/bundle".to_string() } else { format!("record {}", .seq) }, .event_id.as_ref().map(|id| format!(" (event {id})")).unwrap_or_default())]
pub struct Failure {
    /// The sequence (1-based position) of the first bad record; 0 when no record is to blame.
    pub seq: u64,
    /// Its event id, when the record could be read.
    pub event_id: Option<String>,
    pub kind: FailureKind,
    pub reason: String,
}

impl Failure {
    pub fn new(seq: u64, event_id: Option<String>, kind: FailureKind, reason: impl Into<String>) -> Failure {
        Failure { seq, event_id, kind, reason: reason.into() }
    }
}

impl From<ReplayError> for Failure {
    fn from(error: ReplayError) -> Failure {
        Failure { seq: error.seq, event_id: error.event_id, kind: error.kind, reason: error.reason }
    }
}

/// Why a verification (or proof, export, follow) did not reach a verdict, or
/// the verdict that the ledger is bad.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The ledger failed a check: this is the verdict.
    #[error("verification failed at {0}")]
    Failed(Failure),
    /// Reading from NATS failed.
    #[error("reading from NATS failed: {0}")]
    Nats(#[from] fundledger_nats::NatsError),
    /// The verifier's own RocksDB store failed.
    #[error("the verifier's store at {path} failed: {message}")]
    Store { path: String, message: String },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// The input is not usable (a bad argument, an unreadable proof or trust file).
    #[error("{0}")]
    Input(String),
}

impl VerifyError {
    pub fn io(path: &std::path::Path, error: impl std::fmt::Display) -> VerifyError {
        VerifyError::Io { path: path.display().to_string(), message: error.to_string() }
    }
    /// The failure, when the verdict is that the ledger is bad.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            VerifyError::Failed(failure) => Some(failure),
            _ => None,
        }
    }
}

impl From<Failure> for VerifyError {
    fn from(failure: Failure) -> VerifyError {
        VerifyError::Failed(failure)
    }
}
