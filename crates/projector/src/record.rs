//! Reading a stored record the way a projector needs it, cheaply (the
//! reading itself is the core's [`Record::read_stored`]).
//!
//! The projector trusts the verifier for signatures and rules, but never builds
//! on a broken stream: it recomputes each record's hash from the stored bytes
//! (event hash over the stored body, then the envelope) and the chain link is
//! checked against the last applied record by the projection. What it skips
//! is what makes `Record::from_json` slow: re-canonicalising the body (the
//! hash over the stored bytes already pins them to what the writer sealed) and
//! decompressing every signer's ed25519 point (`KeyId::parse`), since the
//! projector verifies no signature.

use fundledger_core::record::{Record, StoredRecord};

/// What the projection reads of a record.
pub type ProjectedRecord = StoredRecord;

/// Parses a stored record and checks its stated hash against its bytes
/// ([`Record::read_stored`]). The error text says what is wrong; the caller
/// names the sequence.
pub fn parse_record(bytes: &[u8]) -> Result<ProjectedRecord, String> {
    Record::read_stored(bytes).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_core::crypto::SecretKey;
    use fundledger_core::event::{Event, GrantCompleted};
    use fundledger_core::id::LedgerId;
    use fundledger_core::record::{SignedEvent, GENESIS_PREV};
    use fundledger_core::time::Timestamp;

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
