//! What the writer answers when it does not append an event: a typed error
//! with a stable code (the rule's code for rule violations), an HTTP status,
//! and a message naming the rule and the figures. Clients match on `code`.

use fundledger_core::crypto::CryptoError;
use fundledger_core::event::EventError;
use fundledger_core::ledger::{Rule, Violation};
use fundledger_core::record::SubmissionError;
use thiserror::Error;

/// The end of `CryptoError::BadPublicKey`'s message (its Display), which serde keeps.
const INVALID_KEY_TEXT: &str = "is not a valid ed25519 public key";

/// Why one submitted event was not appended. Nothing was appended for it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteError {
    /// The submission could not be parsed, or the body breaks the format.
    #[error("{0}")]
    Invalid(String),
    /// A signature does not verify over the event.
    #[error("{0}")]
    BadSignature(String),
    /// A signer's public key is not a valid ed25519 key (not a curve point, or of small order).
    #[error("{0}")]
    InvalidKey(String),
    /// `occurred_at` is later than the writer's clock plus the allowed skew.
    #[error("{0}")]
    InFuture(fundledger_core::time::InFuture),
    /// A domain or authorisation rule refused the event.
    #[error("{0}")]
    Violation(Violation),
    /// The id was used before for a different event.
    #[error("event id {id} is already used by the different event recorded at sequence {seq}")]
    IdConflict { id: String, seq: u64 },
    /// The ledger could not be reached or is being rebuilt; safe to retry.
    #[error("the writer cannot append right now: {0}; nothing was appended, retry later")]
    Unavailable(String),
    /// The stream lost or changed records this writer saw acknowledged: the
    /// writer refuses to append until an operator has dealt with it.
    #[error("the writer refuses to append: {0}; nothing was appended (an operator must investigate: docs/OPERATIONS.md, \"Ledger rollback\")")]
    Rollback(String),
}

impl From<SubmissionError> for WriteError {
    fn from(error: SubmissionError) -> WriteError {
        match error {
            SubmissionError::Crypto(CryptoError::BadPublicKey(_)) | SubmissionError::Crypto(CryptoError::BadHex { what: "public key", .. }) => {
                WriteError::InvalidKey(error.to_string())
            }
            // Keys in a body are parsed by serde, which keeps only the message of
            // `CryptoError::BadPublicKey`: recognise it by its text.
            SubmissionError::Json(ref message) | SubmissionError::Event(EventError::Body(ref message)) if message.contains(INVALID_KEY_TEXT) => {
                WriteError::InvalidKey(error.to_string())
            }
            // A missing signature is an authentication failure like a wrong one.
            SubmissionError::BadSignature { .. } | SubmissionError::Crypto(_) | SubmissionError::SignatureCount { .. } => {
                WriteError::BadSignature(error.to_string())
            }
            other => WriteError::Invalid(other.to_string()),
        }
    }
}

pub use fundledger_core::wire::{ErrorBody, ErrorKind};

fn is_access_rule(rule: Rule) -> bool {
    matches!(rule, Rule::SignerUnknown | Rule::SignerRevoked | Rule::SignerUnauthorised | Rule::DualControl | Rule::GenesisSigner)
}

impl WriteError {
    pub fn code(&self) -> &'static str {
        match self {
            WriteError::Invalid(_) => "invalid_event",
            WriteError::InvalidKey(_) => "invalid_key",
            WriteError::InFuture(_) => "occurred_at_in_future",
            WriteError::BadSignature(_) => "bad_signature",
            WriteError::Violation(violation) => violation.rule.code(),
            WriteError::IdConflict { .. } => "id_conflict",
            WriteError::Unavailable(_) => "unavailable",
            WriteError::Rollback(_) => "ledger_rollback",
        }
    }

    /// The HTTP status: 400 invalid (also an invalid key), 422 dated in the future, 401 bad signature, 403 not authorised,
    /// 409 id conflict, 422 rule violation, 503 unavailable or ledger rollback.
    pub fn http_status(&self) -> u16 {
        match self {
            WriteError::Invalid(_) | WriteError::InvalidKey(_) => 400,
            WriteError::InFuture(_) => 422,
            WriteError::BadSignature(_) => 401,
            WriteError::Violation(violation) if is_access_rule(violation.rule) => 403,
            WriteError::Violation(_) => 422,
            WriteError::IdConflict { .. } => 409,
            WriteError::Unavailable(_) | WriteError::Rollback(_) => 503,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            WriteError::Invalid(_) | WriteError::InvalidKey(_) | WriteError::InFuture(_) => ErrorKind::Invalid,
            WriteError::BadSignature(_) => ErrorKind::Unauthorised,
            WriteError::Violation(violation) if is_access_rule(violation.rule) => ErrorKind::Unauthorised,
            WriteError::Violation(_) => ErrorKind::RuleViolation,
            WriteError::IdConflict { .. } => ErrorKind::Conflict,
            WriteError::Unavailable(_) | WriteError::Rollback(_) => ErrorKind::Unavailable,
        }
    }

    pub fn body(&self, event_id: Option<String>) -> ErrorBody {
        ErrorBody { code: self.code().to_string(), kind: Some(self.kind()), message: self.to_string(), event_id }
    }
}

/// Why the writer could not start or had to stop.
#[derive(Debug, Error)]
pub enum WriterError {
    #[error(transparent)]
    Nats(#[from] fundledger_nats::NatsError),
    #[error("idempotency index at {path}: {message}")]
    Index { path: String, message: String },
    #[error("the ledger stream is corrupt at record {seq}: {reason}; run `fundledger verify` for a full report")]
    Corrupt { seq: u64, reason: String },
    #[error("the writer has stopped")]
    Stopped,
    /// The stream no longer holds what this writer saw acknowledged.
    #[error("{0}")]
    Rollback(fundledger_core::rollback::Rollback),
}
