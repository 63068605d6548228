//! The partly signed submission: how an event travels between co-signers for
//! dual control (docs/FORMAT.md, section 12.1).
//!
//! ```json
//! {"body":<canonical body>,"signatures":["<128 hex>",null]}
//! ```
//!
//! One entry per signer of the body, in the order of its `signers`, `null`
//! where that signer has not signed yet. Once none is missing, the text is
//! byte for byte the submission of section 12 ([`SignedEvent::to_submission_json`]).
//!
//! Read from a file and printed by `fundledger sign`; this module only parses,
//! checks, signs and serialises (no I/O), so every co-signer's tool agrees on
//! what a partly signed submission is.

use serde_json::Value;
use thiserror::Error;

use crate::canonical::{canonicalize, CanonicalError};
use crate::crypto::{self, domain, CryptoError, Hash, KeyId, SecretKey, Signature};
use crate::event::{EventBody, EventError};
use crate::record::{event_hash, SignedEvent, SubmissionError};

/// Why a partly signed submission (or a bare body to sign) is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PartlySignedError {
    #[error("not JSON: {0}")]
    Json(String),
    #[error("\"signatures\" must be an array of hex signatures or null")]
    SignaturesNotArray,
    #[error("unknown field {0:?}; a submission has only \"body\" and \"signatures\"")]
    UnknownField(String),
    #[error("the event body must be a JSON object")]
    BodyNotObject,
    #[error("the body cannot be canonicalised: {0}")]
    Canonical(#[from] CanonicalError),
    #[error("not a valid event body: {0}")]
    Body(#[from] EventError),
    #[error("{signatures} signatures for {signers} signers; give one per signer (null where missing)")]
    SignatureCount { signers: usize, signatures: usize },
    #[error("signature {index} must be a hex string or null")]
    SignatureNotText { index: usize },
    #[error("signature {index}: {source}")]
    SignatureHex { index: usize, source: CryptoError },
    #[error("signature {index} (by {}) does not verify over this body; the body changed after it was signed", .key.short())]
    BadSignature { index: usize, key: KeyId },
    #[error("key {} is not among the body's signers [{}]; the body lists who signs it", .key.short(), .signers.iter().map(KeyId::short).collect::<Vec<_>>().join(", "))]
    NotASigner { key: KeyId, signers: Vec<KeyId> },
}

/// An event body in canonical form with one signature slot per signer, some
/// possibly empty. Every signature present verifies over the body.
#[derive(Clone, Debug, PartialEq)]
pub struct PartlySigned {
    canonical: String,
    body: EventBody,
    event_hash: Hash,
    signatures: Vec<Option<Signature>>,
}

impl PartlySigned {
    /// Parses what a co-signer is handed: a partly signed submission
    /// `{"body", "signatures"}` (signatures absent, null or `[]` when none is
    /// there yet), or a bare event body. A body without `signers` gets
    /// `default_signers` (the keys about to sign, in order).
    pub fn parse(json: &str, default_signers: &[KeyId]) -> Result<PartlySigned, PartlySignedError> {
        let input: Value = serde_json::from_str(json).map_err(|error| PartlySignedError::Json(error.to_string()))?;
        let (mut body, existing) = match input {
            Value::Object(mut object) if object.contains_key("body") => {
                let body = object.remove("body").unwrap_or(Value::Null);
                let signatures = match object.remove("signatures") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items,
                    Some(_) => return Err(PartlySignedError::SignaturesNotArray),
                };
                if let Some(other) = object.keys().next() {
                    return Err(PartlySignedError::UnknownField(other.clone()));
                }
                (body, signatures)
            }
            other => (other, Vec::new()),
        };
        let Some(object) = body.as_object_mut() else { return Err(PartlySignedError::BodyNotObject) };
        if !object.contains_key("signers") {
            let signers: Vec<Value> = default_signers.iter().map(|key| Value::String(key.to_string())).collect();
            object.insert("signers".to_string(), Value::Array(signers));
        }
        let canonical = canonicalize(&body)?;
        let canonical = String::from_utf8(canonical).map_err(|error| PartlySignedError::Json(error.to_string()))?;
        let parsed = EventBody::from_json(&canonical)?;
        let hash = event_hash(canonical.as_bytes());
        let signers = &parsed.signers;
        if !existing.is_empty() && existing.len() != signers.len() {
            return Err(PartlySignedError::SignatureCount { signers: signers.len(), signatures: existing.len() });
        }
        let mut signatures: Vec<Option<Signature>> = vec![None; signers.len()];
        for (index, item) in existing.iter().enumerate() {
            match item {
                Value::Null => {}
                Value::String(text) => {
                    let signature = Signature::parse(text).map_err(|source| PartlySignedError::SignatureHex { index, source })?;
                    crypto::verify(&signers[index], domain::EVENT_SIGNATURE, &hash, &signature)
                        .map_err(|_| PartlySignedError::BadSignature { index, key: signers[index] })?;
                    signatures[index] = Some(signature);
                }
                _ => return Err(PartlySignedError::SignatureNotText { index }),
            }
        }
        Ok(PartlySigned { canonical, body: parsed, event_hash: hash, signatures })
    }

    pub fn body(&self) -> &EventBody {
        &self.body
    }

    /// The body's canonical text (what is signed, hashed and recorded).
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// One slot per signer, in the order of the body's `signers`.
    pub fn signatures(&self) -> &[Option<Signature>] {
        &self.signatures
    }

    /// Signs with `key`, which must be one of the body's signers (signing again replaces its signature).
    pub fn sign(&mut self, key: &SecretKey) -> Result<(), PartlySignedError> {
        let key_id = key.key_id();
        let Some(position) = self.body.signers.iter().position(|signer| *signer == key_id) else {
            return Err(PartlySignedError::NotASigner { key: key_id, signers: self.body.signers.clone() });
        };
        self.signatures[position] = Some(key.sign(domain::EVENT_SIGNATURE, &self.event_hash));
        Ok(())
    }

    /// The signers who have not signed yet, in order.
    pub fn missing(&self) -> Vec<KeyId> {
        self.body.signers.iter().zip(&self.signatures).filter(|(_, signature)| signature.is_none()).map(|(signer, _)| *signer).collect()
    }

    /// The complete submission, once every signer has signed (checked as the writer would).
    pub fn complete(&self) -> Option<Result<SignedEvent, SubmissionError>> {
        let signatures: Option<Vec<Signature>> = self.signatures.iter().copied().collect();
        signatures.map(|signatures| SignedEvent::from_canonical(self.canonical.clone().into_bytes(), signatures))
    }

    /// `{"body":<canonical body>,"signatures":[...]}`, `null` where a signature is missing.
    /// Complete, it is byte for byte [`SignedEvent::to_submission_json`].
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.canonical.len() + 160 * self.signatures.len() + 32);
        out.push_str("{\"body\":");
        out.push_str(&self.canonical);
        out.push_str(",\"signatures\":[");
        for (index, signature) in self.signatures.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            match signature {
                Some(signature) => {
                    out.push('"');
                    out.push_str(&signature.to_string());
                    out.push('"');
                }
                None => out.push_str("null"),
            }
        }
        out.push_str("]}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, GrantCompleted};
    use crate::id::{EventId, LedgerId};
    use crate::time::Timestamp;

    fn keys() -> (SecretKey, SecretKey) {
        (SecretKey::from_seed_label("partly/officer"), SecretKey::from_seed_label("partly/approver"))
    }

    fn signed(signers: &[&SecretKey]) -> SignedEvent {
        let event = Event::GrantCompleted(GrantCompleted { grant: "g-1".parse().unwrap() });
        SignedEvent::author(&LedgerId::parse("hk").unwrap(), EventId::parse("ev-1").unwrap(), Timestamp::parse("2026-01-02T03:04:05Z").unwrap(), event, signers)
            .unwrap()
    }

    fn body_text(event: &SignedEvent) -> String {
        String::from_utf8(event.canonical_bytes().to_vec()).unwrap()
    }

    #[test]
    fn co_signers_complete_a_submission_byte_for_byte() {
        let (officer, approver) = keys();
        let whole = signed(&[&officer, &approver]);
        let mut partly = PartlySigned::parse(&body_text(&whole), &[]).unwrap();
        assert_eq!(partly.missing(), vec![officer.key_id(), approver.key_id()]);
        partly.sign(&officer).unwrap();
        let handed_over = partly.to_json();
        assert_eq!(handed_over, format!("{{\"body\":{},\"signatures\":[\"{}\",null]}}", body_text(&whole), whole.signatures()[0]));
        assert!(partly.complete().is_none());
        let mut second = PartlySigned::parse(&handed_over, &[]).unwrap();
        assert_eq!(second.missing(), vec![approver.key_id()]);
        second.sign(&approver).unwrap();
        assert!(second.missing().is_empty());
        assert_eq!(second.to_json(), whole.to_submission_json());
        let complete = second.complete().unwrap().unwrap();
        assert_eq!(complete, whole);
        assert!(complete.verify().is_ok());
    }

    #[test]
    fn a_body_without_signers_is_signed_by_the_keys_given() {
        let (officer, _) = keys();
        let whole = signed(&[&officer]);
        let mut value: Value = serde_json::from_str(&body_text(&whole)).unwrap();
        value.as_object_mut().unwrap().remove("signers");
        let mut partly = PartlySigned::parse(&value.to_string(), &[officer.key_id()]).unwrap();
        partly.sign(&officer).unwrap();
        assert_eq!(partly.to_json(), whole.to_submission_json());
    }

    #[test]
    fn any_layout_of_a_submission_reads_as_its_canonical_body() {
        let (officer, approver) = keys();
        let whole = signed(&[&officer, &approver]);
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&whole.to_submission_json()).unwrap()).unwrap();
        let partly = PartlySigned::parse(&pretty, &[]).unwrap();
        assert!(partly.missing().is_empty());
        assert_eq!(partly.to_json(), whole.to_submission_json());
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let (officer, approver) = keys();
        let whole = signed(&[&officer, &approver]);
        let body = body_text(&whole);
        let sig = whole.signatures()[0].to_string();
        let parse = |text: String| PartlySigned::parse(&text, &[]).unwrap_err();
        assert!(matches!(parse("{".to_string()), PartlySignedError::Json(_)));
        assert_eq!(parse(format!("{{\"body\":{body},\"signatures\":\"x\"}}")), PartlySignedError::SignaturesNotArray);
        assert_eq!(parse(format!("{{\"body\":{body},\"extra\":1}}")), PartlySignedError::UnknownField("extra".to_string()));
        assert_eq!(parse("[1]".to_string()), PartlySignedError::BodyNotObject);
        assert_eq!(parse(format!("{{\"body\":{body},\"signatures\":[null]}}")), PartlySignedError::SignatureCount { signers: 2, signatures: 1 });
        assert_eq!(parse(format!("{{\"body\":{body},\"signatures\":[1,null]}}")), PartlySignedError::SignatureNotText { index: 0 });
        assert!(matches!(parse(format!("{{\"body\":{body},\"signatures\":[\"zz\",null]}}")), PartlySignedError::SignatureHex { index: 0, .. }));
        // The first signature placed second: it does not verify for that signer.
        assert_eq!(parse(format!("{{\"body\":{body},\"signatures\":[null,\"{sig}\"]}}")), PartlySignedError::BadSignature { index: 1, key: approver.key_id() });
        let changed = body.replace("g-1", "g-2");
        assert_eq!(
            parse(format!("{{\"body\":{changed},\"signatures\":[\"{sig}\",null]}}")),
            PartlySignedError::BadSignature { index: 0, key: officer.key_id() }
        );
        let stranger = SecretKey::from_seed_label("partly/stranger");
        let mut partly = PartlySigned::parse(&body, &[]).unwrap();
        let refused = partly.sign(&stranger).unwrap_err();
        assert!(matches!(refused, PartlySignedError::NotASigner { .. }));
        assert!(refused.to_string().contains("is not among the body's signers"), "{refused}");
    }
}
