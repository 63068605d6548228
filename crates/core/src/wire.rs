//! The JSON answers the services give, typed once: the writer serialises
//! them, and the CLI and other clients read them back, so no crate walks an
//! answer as untyped JSON (FORMAT.md and SUBSCRIBING.md describe the same
//! shapes for other clients).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The answer for one appended (or previously appended) event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Receipt {
    pub event_id: String,
    pub seq: u64,
    /// The record's hash, 64 lowercase hex digits.
    pub record_hash: String,
    /// True when this event was already recorded: this is the original record.
    pub duplicate: bool,
}

/// What kind of refusal an error is: what a client can do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A rule of the programme refused it: the figures are in the message.
    RuleViolation,
    /// The signer may not do this (unknown, revoked, lacking the role, a second signer missing).
    Unauthorised,
    /// The request or event is not well formed.
    Invalid,
    /// The event id was used for another event.
    Conflict,
    /// Nothing could be appended now: retry later (or, for a rollback, an operator must act).
    Unavailable,
}

impl ErrorKind {
    /// Its JSON name (also a metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RuleViolation => "rule_violation",
            ErrorKind::Unauthorised => "unauthorised",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
        }
    }
}

/// The JSON form of an error, the same over HTTP and NATS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code: a rule code like `government_commitment_cap`,
    /// or one of `invalid_event`, `invalid_key`, `occurred_at_in_future`,
    /// `bad_signature`, `id_conflict`, `unavailable`, `ledger_rollback`,
    /// `malformed_request`, `request_too_large`, `unsupported_media_type`,
    /// `request_timeout`, `rate_limited`.
    pub code: String,
    /// Absent in answers the HTTP layer gives before a request reaches the
    /// service (`request_timeout`, `rate_limited`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

impl std::fmt::Display for ErrorBody {
    /// `refused [code]: message`.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "refused [{}]: {}", self.code, self.message)
    }
}

/// A whole request refused, by the query API or by the HTTP layer in front
/// of either API: `{"status": n, "error": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Refusal {
    /// The HTTP status it was answered with.
    pub status: u16,
    pub error: ErrorBody,
}

impl Refusal {
    /// A refusal with no kind (those are the writer's).
    pub fn new(status: u16, code: &str, message: String) -> Refusal {
        Refusal { status, error: ErrorBody { code: code.to_string(), kind: None, message, event_id: None } }
    }
}

/// The answer for one submitted event, or for a whole request refused
/// before its events were looked at: a receipt or an error, never both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventAnswer {
    /// The HTTP status (201 appended, 200 already recorded, 4xx/5xx refused).
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl EventAnswer {
    pub fn receipt(status: u16, receipt: Receipt) -> EventAnswer {
        EventAnswer { status, receipt: Some(receipt), error: None }
    }
    pub fn error(status: u16, error: ErrorBody) -> EventAnswer {
        EventAnswer { status, receipt: None, error: Some(error) }
    }
}

/// The answer for a batch (a JSON array of submissions): one result per
/// event, in order, always with status 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BatchAnswer {
    pub status: u16,
    /// Newly appended.
    pub appended: usize,
    /// Already recorded (their original receipts are in `results`).
    pub duplicates: usize,
    pub refused: usize,
    /// `appended` + `duplicates`, kept for clients written before those two.
    pub accepted: usize,
    pub results: Vec<EventAnswer>,
}

/// Any answer to a submission request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SubmitAnswer {
    Batch(BatchAnswer),
    Event(EventAnswer),
}

/// Where the ledger stands, as the writer last saw it (`GET /v1/status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WriterStatus {
    pub ledger: String,
    pub size: u64,
    pub head: String,
    pub root: String,
    pub ready: bool,
    pub appended_since_start: u64,
    pub refused_since_start: u64,
    pub reloads_since_start: u64,
    /// Set when the stream lost or changed a record this writer saw
    /// acknowledged: the writer refuses to append (see the module doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// How batches are appended: `atomic` or `pipelined-fenced`.
    pub append_mode: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_in_their_documented_shapes() {
        let receipt = Receipt { event_id: "e1".to_string(), seq: 7, record_hash: "ab".repeat(32), duplicate: false };
        let single = SubmitAnswer::Event(EventAnswer::receipt(201, receipt.clone()));
        let json = serde_json::to_value(&single).unwrap();
        assert_eq!(json, serde_json::json!({"status": 201, "receipt": {"event_id": "e1", "seq": 7, "record_hash": "ab".repeat(32), "duplicate": false}}));
        assert_eq!(serde_json::from_value::<SubmitAnswer>(json).unwrap(), single);

        let error = ErrorBody {
            code: "scheme_budget".to_string(),
            kind: Some(ErrorKind::RuleViolation),
            message: "over".to_string(),
            event_id: Some("e2".to_string()),
        };
        let batch = SubmitAnswer::Batch(BatchAnswer {
            status: 200,
            appended: 1,
            duplicates: 0,
            refused: 1,
            accepted: 1,
            results: vec![EventAnswer::receipt(201, receipt), EventAnswer::error(422, error.clone())],
        });
        let json = serde_json::to_value(&batch).unwrap();
        assert_eq!(
            json["results"][1],
            serde_json::json!({"status": 422, "error": {"code": "scheme_budget", "kind": "rule_violation", "message": "over", "event_id": "e2"}})
        );
        assert_eq!(serde_json::from_value::<SubmitAnswer>(json).unwrap(), batch);
        assert_eq!(error.to_string(), "refused [scheme_budget]: over");
        for kind in [ErrorKind::RuleViolation, ErrorKind::Unauthorised, ErrorKind::Invalid, ErrorKind::Conflict, ErrorKind::Unavailable] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }

        // The HTTP layer's own refusals carry no kind.
        let limited: SubmitAnswer = serde_json::from_str(r#"{"status": 429, "error": {"code": "rate_limited", "message": "slow down"}}"#).unwrap();
        let SubmitAnswer::Event(limited) = limited else { panic!("a single answer") };
        assert_eq!(limited.status, 429);
        assert_eq!(limited.error.map(|error| error.kind), Some(None));
        let refusal = Refusal::new(404, "not_found", "no fund f9".to_string());
        let json = serde_json::to_value(&refusal).unwrap();
        assert_eq!(json, serde_json::json!({"status": 404, "error": {"code": "not_found", "message": "no fund f9"}}));
        assert_eq!(serde_json::from_value::<Refusal>(json).unwrap(), refusal);
    }
}
