//! Reading a stored record the way a projector needs it, cheaply.
//!
//! The projector trusts the verifier for signatures and rules, but never builds
//! on a broken stream: it recomputes each record's hash from the stored bytes
//! (event hash over the stored body, then the envelope) and the chain link is
//! checked against the last applied record by the projection. What it skips
//! is what makes `Record::from_json` slow: re-canonicalising the body (the
//! hash over the stored bytes already pins them to what the writer sealed) and
//! decompressing every signer's ed25519 point (`KeyId::parse`), since the
//! projector verifies no signature.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use fundledger_core::crypto::{hash_from_hex, Hash, Signature};
use fundledger_core::event::{Event, EVENT_FORMAT_VERSION};
use fundledger_core::id::{EventId, LedgerId};
use fundledger_core::record::{event_hash, record_hash, RECORD_FORMAT_VERSION};
use fundledger_core::time::Timestamp;

/// What the projection reads of a record.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectedRecord {
    pub ledger: LedgerId,
    pub seq: u64,
    pub prev: Hash,
    pub hash: Hash,
    pub recorded_at: Timestamp,
    pub id: EventId,
    pub occurred_at: Timestamp,
    pub event: Event,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord<'a> {
    v: u32,
    ledger: LedgerId,
    seq: u64,
    #[serde(borrow)]
    prev: Cow<'a, str>,
    recorded_at: Timestamp,
    #[serde(borrow)]
    body: &'a RawValue,
    signatures: Vec<Signature>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody<'a> {
    v: u32,
    id: EventId,
    ledger: LedgerId,
    occurred_at: Timestamp,
    #[allow(dead_code)]
    signers: IgnoredAny,
    #[serde(rename = "type", borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Parses a stored record and checks its stated hash against its bytes.
/// The error text says what is wrong; the caller names the sequence.
pub fn parse_record(bytes: &[u8]) -> Result<ProjectedRecord, String> {
    let raw: RawRecord = serde_json::from_slice(bytes).map_err(|error| format!("not a record: {error}"))?;
    if raw.v != RECORD_FORMAT_VERSION {
        return Err(format!("record format version {} is not supported", raw.v));
    }
    let body_bytes = raw.body.get().as_bytes();
    let body: RawBody = serde_json::from_slice(body_bytes).map_err(|error| format!("record body is not valid: {error}"))?;
    if body.v != EVENT_FORMAT_VERSION {
        return Err(format!("event format version {} is not supported", body.v));
    }
    if body.ledger != raw.ledger {
        return Err(format!("record is for ledger {} but its body is for ledger {}", raw.ledger, body.ledger));
    }
    let event = Event::from_parts(&body.event_type, body.data.get()).map_err(|error| error.to_string())?;
    let prev = hash_from_hex("prev", &raw.prev).map_err(|error| error.to_string())?;
    let stated = hash_from_hex("hash", &raw.hash).map_err(|error| error.to_string())?;
    let computed = record_hash(&raw.ledger, raw.seq, &prev, &raw.recorded_at, &event_hash(body_bytes), &raw.signatures);
    if computed != stated {
        return Err(format!("record states hash {} but its contents hash to {}", hex::encode(stated), hex::encode(computed)));
    }
    Ok(ProjectedRecord {
        ledger: raw.ledger,
        seq: raw.seq,
        prev,
        hash: stated,
        recorded_at: raw.recorded_at,
        id: body.id,
        occurred_at: body.occurred_at,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_core::crypto::SecretKey;
    use fundledger_core::event::GrantCompleted;
    use fundledger_core::record::{Record, SignedEvent, GENESIS_PREV};

    fn sample() -> Record {
        let key = SecretKey::from_seed_label("alice");
        let ledger = LedgerId::parse("hk").unwrap();
        let event = Event::GrantCompleted(GrantCompleted { grant: "g1".parse().unwrap() });
        let signed = SignedEvent::author(&ledger, "e1".parse().unwrap(), Timestamp::parse("2026-01-01T00:00:00Z").unwrap(), event, &[&key]).unwrap();
        Record::seal(ledger, 1, GENESIS_PREV, Timestamp::parse("2026-01-01T00:00:01Z").unwrap(), signed)
    }

    #[test]
    fn agrees_with_the_full_parser() {
        let record = sample();
        let json = record.to_json();
        let parsed = parse_record(&json).unwrap();
        let full = Record::from_json(&json).unwrap();
        assert_eq!(parsed.hash, full.hash);
        assert_eq!(parsed.prev, full.prev);
        assert_eq!(parsed.seq, 1);
        assert_eq!(parsed.event, full.body().event);
        assert_eq!(parsed.id, full.body().id);
    }

    #[test]
    fn detects_changed_bytes() {
        let text = String::from_utf8(sample().to_json()).unwrap();
        for (from, to) in [("\"seq\":1", "\"seq\":2"), ("\"g1\"", "\"g2\""), ("2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z")] {
            let changed = text.replace(from, to);
            let error = parse_record(changed.as_bytes()).unwrap_err();
            assert!(error.contains("hash"), "{from}: {error}");
        }
        assert!(parse_record(b"{}").is_err());
        assert!(parse_record(text.replace("\"v\":1,\"ledger\"", "\"v\":2,\"ledger\"").as_bytes()).unwrap_err().contains("version"));
    }
}
