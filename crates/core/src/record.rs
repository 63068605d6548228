//! Signed events and records: the bytes that are signed, hashed and chained.
//!
//! * `event_hash  = SHA-256("fundledger/v1/event\0" || JCS(body))`
//! * signature i  = Ed25519(signer i, `"fundledger/v1/event-signature\0" || event_hash`)
//! * `record_hash = SHA-256("fundledger/v1/record\0" || u64be(seq) || prev
//!   || u16be(len ledger) || ledger || u16be(len recorded_at) || recorded_at
//!   || event_hash || u16be(signature count) || signatures)`
//!
//! docs/FORMAT.md is the normative text; the test vectors there are produced
//! by this module. A stored record carries its body in canonical form byte
//! for byte, so verifiers hash exactly what they read, and a body that is not
//! canonical is itself evidence of tampering.

use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::canonical::{canonical_value_length, canonicalize, is_canonical, plain_run, CanonicalError};
use crate::crypto::{self, domain, sha256, CryptoError, Hash, KeyId, SecretKey, Signature};
use crate::event::{BodyContent, Event, EventBody, EventError};
use crate::id::EventId;
use crate::id::LedgerId;
use crate::time::Timestamp;

/// The version of the record envelope format.
pub const RECORD_FORMAT_VERSION: u32 = 1;
/// The largest event body accepted, in canonical bytes.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// The chain's starting point: the `prev` of record 1.
pub const GENESIS_PREV: Hash = [0u8; 32];

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmissionError {
    #[error("submission is not valid JSON of the form {{\"body\": {{...}}, \"signatures\": [...]}}: {0}")]
    Json(String),
    #[error("event body is {0} bytes; at most {BODY_BYTES_MAX} are accepted")]
    TooLarge(usize),
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("event lists {signers} signers but carries {signatures} signatures")]
    SignatureCount { signers: usize, signatures: usize },
    #[error("signature {index} (by key {key}) does not verify over the event")]
    BadSignature { index: usize, key: KeyId },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the keys given do not match the event's signers")]
    SignerKeys,
}

/// An event body with its canonical bytes, hash and signatures; not yet verified.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedEvent {
    body: EventBody,
    canonical: Vec<u8>,
    event_hash: Hash,
    signatures: Vec<Signature>,
}

/// A signed event whose every signature verified. Only verification makes one,
/// and the state machine accepts nothing else.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedEvent(SignedEvent);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubmission<'a> {
    #[serde(borrow)]
    body: &'a RawValue,
    signatures: Vec<Signature>,
}

/// `SHA-256("fundledger/v1/event\0" || canonical body)`.
pub fn event_hash(canonical_body: &[u8]) -> Hash {
    sha256(&[domain::EVENT, canonical_body])
}

impl SignedEvent {
    /// Signs a body with the keys of its `signers`, in order.
    pub fn sign(body: EventBody, keys: &[&SecretKey]) -> Result<SignedEvent, SubmissionError> {
        let key_ids: Vec<KeyId> = keys.iter().map(|key| key.key_id()).collect();
        if key_ids != body.signers {
            return Err(SubmissionError::SignerKeys);
        }
        body.check_signers()?;
        let canonical = crate::canonical::to_canonical_bytes(&body)?;
        let event_hash = event_hash(&canonical);
        let signatures = keys.iter().map(|key| key.sign(domain::EVENT_SIGNATURE, &event_hash)).collect();
        Ok(SignedEvent { body, canonical, event_hash, signatures })
    }

    /// Builds the body of an event for `ledger` and signs it with `signers`, in order.
    pub fn author(ledger: &LedgerId, id: EventId, occurred_at: Timestamp, event: Event, signers: &[&SecretKey]) -> Result<SignedEvent, SubmissionError> {
        let body = EventBody {
            v: crate::event::EVENT_FORMAT_VERSION,
            id,
            ledger: ledger.clone(),
            occurred_at,
            signers: signers.iter().map(|key| key.key_id()).collect(),
            event,
        };
        Self::sign(body, signers)
    }

    /// Parses a submission `{"body": {...}, "signatures": ["hex", ...]}`.
    /// The body may arrive in any JSON layout; what is signed is its canonical form.
    pub fn from_submission_json(json: &str) -> Result<SignedEvent, SubmissionError> {
        let raw: RawSubmission = serde_json::from_str(json).map_err(|error| SubmissionError::Json(error.to_string()))?;
        let body = raw.body.get().as_bytes();
        let canonical = if is_canonical(body) {
            body.to_vec()
        } else {
            let value: serde_json::Value = serde_json::from_slice(body).map_err(|error| SubmissionError::Json(error.to_string()))?;
            canonicalize(&value).map_err(|error| error.quoting(raw.body.get()))?
        };
        Self::from_canonical(canonical, raw.signatures)
    }

    /// Builds from body bytes known to be canonical and the signatures.
    pub fn from_canonical(canonical: Vec<u8>, signatures: Vec<Signature>) -> Result<SignedEvent, SubmissionError> {
        let canonical = String::from_utf8(canonical).map_err(|error| SubmissionError::Json(error.to_string()))?;
        SignedEvent::from_canonical_text(canonical, signatures)
    }

    /// [`from_canonical`](Self::from_canonical) for bytes already known to be text.
    fn from_canonical_text(canonical: String, signatures: Vec<Signature>) -> Result<SignedEvent, SubmissionError> {
        if canonical.len() > BODY_BYTES_MAX {
            return Err(SubmissionError::TooLarge(canonical.len()));
        }
        let body = EventBody::from_json(&canonical)?;
        let canonical = canonical.into_bytes();
        if body.signers.len() != signatures.len() {
            return Err(SubmissionError::SignatureCount { signers: body.signers.len(), signatures: signatures.len() });
        }
        let event_hash = event_hash(&canonical);
        Ok(SignedEvent { body, canonical, event_hash, signatures })
    }

    pub fn body(&self) -> &EventBody {
        &self.body
    }
    pub fn canonical_bytes(&self) -> &[u8] {
        &self.canonical
    }
    pub fn event_hash(&self) -> &Hash {
        &self.event_hash
    }
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The message signer i signed: `"fundledger/v1/event-signature\0" || event_hash`.
    pub fn signed_message(&self) -> Vec<u8> {
        [domain::EVENT_SIGNATURE, &self.event_hash[..]].concat()
    }

    /// The submission JSON (`{"body":..., "signatures":[...]}`) with the body canonical.
    pub fn to_submission_json(&self) -> String {
        let mut out = String::with_capacity(self.canonical.len() + 160 * self.signatures.len() + 32);
        out.push_str("{\"body\":");
        out.push_str(std::str::from_utf8(&self.canonical).unwrap_or("null"));
        out.push_str(",\"signatures\":[");
        push_hex_list(&mut out, &self.signatures);
        out.push_str("]}");
        out
    }

    /// Verifies every signature one by one.
    pub fn verify(self) -> Result<VerifiedEvent, SubmissionError> {
        self.check_signatures()?;
        Ok(VerifiedEvent(self))
    }

    /// Checks every signature one by one, naming the first that fails.
    fn check_signatures(&self) -> Result<(), SubmissionError> {
        for (index, (key, signature)) in self.body.signers.iter().zip(&self.signatures).enumerate() {
            crypto::verify(key, domain::EVENT_SIGNATURE, &self.event_hash, signature).map_err(|_| SubmissionError::BadSignature { index, key: *key })?;
        }
        Ok(())
    }
}

fn push_hex_list(out: &mut String, signatures: &[Signature]) {
    for (index, signature) in signatures.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(&hex::encode(signature.0));
        out.push('"');
    }
}

/// Whether every signature of every event verifies, checked as one batch.
fn batch_verifies<'a>(events: impl Iterator<Item = &'a SignedEvent> + Clone) -> bool {
    let messages: Vec<Vec<u8>> = events.clone().map(SignedEvent::signed_message).collect();
    let items: Vec<crypto::BatchItem> = events
        .zip(&messages)
        .flat_map(|(event, message)| {
            event.body.signers.iter().zip(&event.signatures).map(move |(key, signature)| crypto::BatchItem { key, message, signature })
        })
        .collect();
    crypto::verify_batch(&items).is_ok()
}

/// Verifies the signatures of many events in one batch; when the batch fails
/// it falls back to one by one, so each event gets its own precise answer.
pub fn verify_events(events: Vec<SignedEvent>) -> Vec<Result<VerifiedEvent, SubmissionError>> {
    if batch_verifies(events.iter()) {
        return events.into_iter().map(|event| Ok(VerifiedEvent(event))).collect();
    }
    events.into_iter().map(SignedEvent::verify).collect()
}

/// A stored record and the verdict on its signatures, reached on any thread
/// ahead of the in-order replay (`Replay::check_prepared_with_nodes`), so a
/// verifier checks the signatures of one chunk while it replays the chunk
/// before. Only [`verify_record_signatures`] and [`verify_record_batch`] make one.
#[derive(Clone, Debug)]
pub struct PreparedRecord {
    /// Boxed: a chunk's records change hands several times between parsing and replay.
    record: Box<Record>,
    signatures: Result<(), SubmissionError>,
}

impl PreparedRecord {
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The record's envelope, and its event as verified if every signature
    /// verified, or else the event's id and the first bad signature.
    pub fn into_parts(self) -> (RecordEnvelope, Result<VerifiedEvent, (EventId, SubmissionError)>) {
        let Record { ledger, seq, prev, recorded_at, event, hash } = *self.record;
        let event = match self.signatures {
            Ok(()) => Ok(VerifiedEvent(event)),
            Err(error) => Err((event.body.id, error)),
        };
        (RecordEnvelope { ledger, seq, prev, recorded_at, hash }, event)
    }
}

/// A record without its event: what the chain checks.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordEnvelope {
    pub ledger: LedgerId,
    pub seq: u64,
    pub prev: Hash,
    pub recorded_at: Timestamp,
    pub hash: Hash,
}

/// Checks the signatures of stored records on all cores (rayon), batch by
/// batch as [`verify_events`] does. Computation only, no I/O.
pub fn verify_record_signatures(records: Vec<Record>) -> Vec<PreparedRecord> {
    on_all_cores(records, verify_record_batch)
}

/// [`verify_record_signatures`] on this thread, as one batch: for callers
/// that spread their own work over the cores.
pub fn verify_record_batch(records: Vec<Record>) -> Vec<PreparedRecord> {
    let all_verify = batch_verifies(records.iter().map(|record| &record.event));
    records
        .into_iter()
        .map(|record| {
            let signatures = if all_verify { Ok(()) } else { record.event.check_signatures() };
            PreparedRecord { record: Box::new(record), signatures }
        })
        .collect()
}

/// Chunk size for batch verification on all cores: large enough for batch
/// verification to pay off, small enough to spread over the cores. With the
/// terms of each signer coalesced, a batch of 512 costs about a fifth less
/// per signature than one of 128 (docs/PERFORMANCE.md); 1,024 gained nothing
/// beyond the noise and halves the parallelism of a 1,000-event submission.
pub const VERIFY_CHUNK_EVENTS: usize = 512;

/// [`verify_events`] over chunks on all cores (rayon). Computation only, no I/O.
pub fn verify_events_parallel(events: Vec<SignedEvent>) -> Vec<Result<VerifiedEvent, SubmissionError>> {
    on_all_cores(events, verify_events)
}

/// `batch` over chunks of [`VERIFY_CHUNK_EVENTS`] items on all cores, results in order.
fn on_all_cores<T: Send, R: Send>(items: Vec<T>, batch: impl Fn(Vec<T>) -> Vec<R> + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    if items.len() <= VERIFY_CHUNK_EVENTS {
        return batch(items);
    }
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(items.len() / VERIFY_CHUNK_EVENTS + 1);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(VERIFY_CHUNK_EVENTS).collect());
    }
    let done: Vec<Vec<R>> = chunks.into_par_iter().map(batch).collect();
    done.into_iter().flatten().collect()
}

impl VerifiedEvent {
    pub fn body(&self) -> &EventBody {
        &self.0.body
    }
    pub fn signed(&self) -> &SignedEvent {
        &self.0
    }
    pub fn into_signed(self) -> SignedEvent {
        self.0
    }
    /// The keys whose signatures verified (the body's signers).
    pub fn signers(&self) -> &[KeyId] {
        &self.0.body.signers
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record is not valid JSON: {0}")]
    Json(String),
    #[error("record format version {0} is not supported")]
    Version(u32),
    #[error("record body is not in canonical (RFC 8785) form")]
    NotCanonical,
    #[error("record body is not valid: {0}")]
    Body(#[from] SubmissionError),
    #[error("record states hash {stated} but its contents hash to {computed}")]
    HashMismatch { stated: String, computed: String },
    #[error("record is for ledger {record} but the body is for ledger {body}")]
    LedgerMismatch { record: String, body: String },
}

/// One entry of the chain: the signed event and the writer's envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub ledger: LedgerId,
    pub seq: u64,
    pub prev: Hash,
    pub recorded_at: Timestamp,
    pub event: SignedEvent,
    pub hash: Hash,
}

/// A stored record as [`Record::read_stored`] reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    pub ledger: LedgerId,
    pub seq: u64,
    pub prev: Hash,
    pub hash: Hash,
    pub recorded_at: Timestamp,
    pub id: EventId,
    pub occurred_at: Timestamp,
    pub event: Event,
}

/// A stored record's envelope as read, before anything in it is checked.
#[derive(Debug, PartialEq)]
struct Envelope<'a> {
    v: u32,
    ledger: LedgerId,
    seq: u64,
    prev: std::borrow::Cow<'a, str>,
    recorded_at: Timestamp,
    body: &'a str,
    /// Whether reading it already found the body canonical.
    body_canonical: bool,
    signatures: Vec<Signature>,
    hash: std::borrow::Cow<'a, str>,
}

impl<'a> Envelope<'a> {
    fn read(json: &'a [u8]) -> Result<Envelope<'a>, RecordError> {
        if let Some(envelope) = Envelope::read_as_written(json) {
            return Ok(envelope);
        }
        let raw: RawRecord = serde_json::from_slice(json).map_err(|error| RecordError::Json(error.to_string()))?;
        let RawRecord { v, ledger, seq, prev, recorded_at, body, signatures, hash } = raw;
        Ok(Envelope { v, ledger, seq, prev, recorded_at, body: body.get(), body_canonical: false, signatures, hash })
    }

    /// Reads a record laid out exactly as [`Record::to_json`] writes it
    /// (every stored record), with no JSON parser: the canonical-form
    /// scanner finds where the body ends, and its strings are taken as they
    /// are. Anything else, or anything that does not parse, gives `None`,
    /// and the JSON parser reads it (and names what is wrong): so for what
    /// it accepts, it gives what the parser gives, and is twice as fast.
    fn read_as_written(json: &'a [u8]) -> Option<Envelope<'a>> {
        let text = std::str::from_utf8(json).ok()?;
        let (ledger, rest) = plain_string(text.strip_prefix("{\"v\":1,\"ledger\":\"")?)?;
        let rest = rest.strip_prefix(",\"seq\":")?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (seq, rest) = rest.split_at(digits);
        if seq.starts_with('0') && seq.len() > 1 {
            return None;
        }
        let seq: u64 = seq.parse().ok()?;
        let (prev, rest) = plain_string(rest.strip_prefix(",\"prev\":\"")?)?;
        let (recorded_at, rest) = plain_string(rest.strip_prefix(",\"recorded_at\":\"")?)?;
        let rest = rest.strip_prefix(",\"body\":")?;
        let (body, rest) = rest.split_at(canonical_value_length(rest)?);
        let mut rest = rest.strip_prefix(",\"signatures\":[")?;
        let mut signatures = Vec::with_capacity(1);
        if let Some(after) = rest.strip_prefix(']') {
            rest = after;
        } else {
            loop {
                let (signature, after) = plain_string(rest.strip_prefix('"')?)?;
                signatures.push(Signature::parse(signature).ok()?);
                if let Some(after) = after.strip_prefix(',') {
                    rest = after;
                } else {
                    rest = after.strip_prefix(']')?;
                    break;
                }
            }
        }
        let (hash, rest) = plain_string(rest.strip_prefix(",\"hash\":\"")?)?;
        if rest != "}" {
            return None;
        }
        Some(Envelope {
            v: 1,
            ledger: LedgerId::parse(ledger).ok()?,
            seq,
            prev: prev.into(),
            recorded_at: Timestamp::parse(recorded_at).ok()?,
            body,
            body_canonical: true,
            signatures,
            hash: hash.into(),
        })
    }
}

/// The text of a JSON string up to its closing quote, and what follows that,
/// if the string has no escapes and no control characters (so the text is its value).
fn plain_string(text: &str) -> Option<(&str, &str)> {
    let end = plain_run(text.as_bytes());
    // The quote is ASCII, so both slices end at character boundaries.
    (text.as_bytes().get(end) == Some(&b'"')).then(|| (&text[..end], &text[end + 1..]))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord<'a> {
    v: u32,
    ledger: LedgerId,
    seq: u64,
    prev: std::borrow::Cow<'a, str>,
    recorded_at: Timestamp,
    #[serde(borrow)]
    body: &'a RawValue,
    signatures: Vec<Signature>,
    hash: std::borrow::Cow<'a, str>,
}

/// The record hash of an envelope (see the module doc for the layout).
pub fn record_hash(ledger: &LedgerId, seq: u64, prev: &Hash, recorded_at: &Timestamp, event_hash: &Hash, signatures: &[Signature]) -> Hash {
    let ledger = ledger.as_str().as_bytes();
    let recorded_at = recorded_at.as_str().as_bytes();
    debug_assert!(ledger.len() <= u16::MAX as usize && recorded_at.len() <= u16::MAX as usize);
    let mut bytes = Vec::with_capacity(domain::RECORD.len() + 8 + 32 + 4 + ledger.len() + recorded_at.len() + 32 + 2 + 64 * signatures.len());
    bytes.extend_from_slice(domain::RECORD);
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(prev);
    bytes.extend_from_slice(&(ledger.len() as u16).to_be_bytes());
    bytes.extend_from_slice(ledger);
    bytes.extend_from_slice(&(recorded_at.len() as u16).to_be_bytes());
    bytes.extend_from_slice(recorded_at);
    bytes.extend_from_slice(event_hash);
    bytes.extend_from_slice(&(signatures.len() as u16).to_be_bytes());
    for signature in signatures {
        bytes.extend_from_slice(&signature.0);
    }
    sha256(&[&bytes])
}

impl Record {
    /// Seals a signed event as record `seq` after `prev`.
    pub fn seal(ledger: LedgerId, seq: u64, prev: Hash, recorded_at: Timestamp, event: SignedEvent) -> Record {
        let hash = record_hash(&ledger, seq, &prev, &recorded_at, &event.event_hash, &event.signatures);
        Record { ledger, seq, prev, recorded_at, event, hash }
    }

    /// Reads a stored record for a reader that verifies no signature (the
    /// projector): the stated hash is recomputed from the stored bytes, which
    /// pins the body to what the writer sealed, but the body is not
    /// re-canonicalised and the signer keys are not checked, the two costly
    /// parts of [`Record::from_json`]. The chain link is the caller's.
    pub fn read_stored(json: &[u8]) -> Result<StoredRecord, RecordError> {
        let raw = Envelope::read(json)?;
        if raw.v != RECORD_FORMAT_VERSION {
            return Err(RecordError::Version(raw.v));
        }
        let body_bytes = raw.body.as_bytes();
        let BodyContent { id, ledger, occurred_at, event } = EventBody::content_from_json(raw.body).map_err(SubmissionError::from)?;
        if ledger != raw.ledger {
            return Err(RecordError::LedgerMismatch { record: raw.ledger.to_string(), body: ledger.to_string() });
        }
        let prev = crypto::hash_from_hex("prev", &raw.prev).map_err(|error| RecordError::Json(error.to_string()))?;
        let stated = crypto::hash_from_hex("hash", &raw.hash).map_err(|error| RecordError::Json(error.to_string()))?;
        let computed = record_hash(&raw.ledger, raw.seq, &prev, &raw.recorded_at, &event_hash(body_bytes), &raw.signatures);
        if computed != stated {
            return Err(RecordError::HashMismatch { stated: hex::encode(stated), computed: hex::encode(computed) });
        }
        Ok(StoredRecord { ledger: raw.ledger, seq: raw.seq, prev, hash: stated, recorded_at: raw.recorded_at, id, occurred_at, event })
    }

    /// Parses a stored record and checks what it can alone: canonical body,
    /// body for the same ledger, and the stated hash. Signatures, the chain
    /// link and the rules are checked by their owners.
    pub fn from_json(json: &[u8]) -> Result<Record, RecordError> {
        let raw = Envelope::read(json)?;
        if raw.v != RECORD_FORMAT_VERSION {
            return Err(RecordError::Version(raw.v));
        }
        let body_bytes = raw.body.as_bytes();
        if !raw.body_canonical && !is_canonical(body_bytes) {
            // The slow path names what is wrong (a number outside the subset, nesting) or says not canonical.
            let value: serde_json::Value = serde_json::from_slice(body_bytes).map_err(|error| RecordError::Json(error.to_string()))?;
            if canonicalize(&value).map_err(SubmissionError::from)? != body_bytes {
                return Err(RecordError::NotCanonical);
            }
        }
        let event = SignedEvent::from_canonical_text(raw.body.to_string(), raw.signatures)?;
        if event.body.ledger != raw.ledger {
            return Err(RecordError::LedgerMismatch { record: raw.ledger.to_string(), body: event.body.ledger.to_string() });
        }
        let prev = crypto::hash_from_hex("prev", &raw.prev).map_err(|error| RecordError::Json(error.to_string()))?;
        let stated = crypto::hash_from_hex("hash", &raw.hash).map_err(|error| RecordError::Json(error.to_string()))?;
        let record = Record::seal(raw.ledger, raw.seq, prev, raw.recorded_at, event);
        if record.hash != stated {
            return Err(RecordError::HashMismatch { stated: hex::encode(stated), computed: hex::encode(record.hash) });
        }
        Ok(record)
    }

    /// The stored JSON form; the body is written in its canonical bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let body = std::str::from_utf8(&self.event.canonical).unwrap_or("null");
        let mut out = String::with_capacity(body.len() + 300 + 132 * self.event.signatures.len());
        out.push_str("{\"v\":1,\"ledger\":\"");
        out.push_str(self.ledger.as_str());
        out.push_str("\",\"seq\":");
        out.push_str(&self.seq.to_string());
        out.push_str(",\"prev\":\"");
        out.push_str(&hex::encode(self.prev));
        out.push_str("\",\"recorded_at\":\"");
        out.push_str(self.recorded_at.as_str());
        out.push_str("\",\"body\":");
        out.push_str(body);
        out.push_str(",\"signatures\":[");
        push_hex_list(&mut out, &self.event.signatures);
        out.push_str("],\"hash\":\"");
        out.push_str(&hex::encode(self.hash));
        out.push_str("\"}");
        out.into_bytes()
    }

    pub fn body(&self) -> &EventBody {
        self.event.body()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, GrantCompleted};
    use crate::id::{EventId, GrantId};

    fn body(key: &SecretKey) -> EventBody {
        EventBody {
            v: 1,
            id: EventId::parse("e1").unwrap(),
            ledger: LedgerId::parse("hk").unwrap(),
            occurred_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            signers: vec![key.key_id()],
            event: Event::GrantCompleted(GrantCompleted { grant: GrantId::parse("g1").unwrap() }),
        }
    }

    #[test]
    fn submissions_round_trip_and_verify() {
        let key = SecretKey::from_seed_label("alice");
        let signed = SignedEvent::sign(body(&key), &[&key]).unwrap();
        let parsed = SignedEvent::from_submission_json(&signed.to_submission_json()).unwrap();
        assert_eq!(parsed, signed);
        assert!(parsed.verify().is_ok());
        // Layout does not matter for a submission: the canonical form is signed.
        let spaced = signed.to_submission_json().replace(",\"", ", \"");
        assert!(SignedEvent::from_submission_json(&spaced).unwrap().verify().is_ok());
    }

    #[test]
    fn a_wrong_signature_is_named() {
        let key = SecretKey::from_seed_label("alice");
        let other = SecretKey::from_seed_label("mallory");
        let mut signed = SignedEvent::sign(body(&key), &[&key]).unwrap();
        signed.signatures[0] = other.sign(domain::EVENT_SIGNATURE, &signed.event_hash);
        assert!(matches!(signed.clone().verify(), Err(SubmissionError::BadSignature { index: 0, .. })));
        let results = verify_events(vec![SignedEvent::sign(body(&key), &[&key]).unwrap(), signed]);
        assert!(results[0].is_ok());
        assert!(results[1].is_err());
    }

    #[test]
    fn records_round_trip_and_detect_changes() {
        let key = SecretKey::from_seed_label("alice");
        let signed = SignedEvent::sign(body(&key), &[&key]).unwrap();
        let record = Record::seal(LedgerId::parse("hk").unwrap(), 1, GENESIS_PREV, Timestamp::parse("2026-01-01T00:00:01Z").unwrap(), signed);
        let json = record.to_json();
        assert_eq!(Record::from_json(&json).unwrap(), record);
        let text = String::from_utf8(json).unwrap();
        let spaced = text.replace("{\"grant\"", "{ \"grant\"");
        assert_eq!(Record::from_json(spaced.as_bytes()), Err(RecordError::NotCanonical));
        let reseq = text.replace("\"seq\":1", "\"seq\":2");
        assert!(matches!(Record::from_json(reseq.as_bytes()), Err(RecordError::HashMismatch { .. })));
    }

    /// The envelope as the JSON parser reads it, marked as the fast reader marks it.
    fn by_parser(json: &[u8]) -> Option<Envelope<'_>> {
        let RawRecord { v, ledger, seq, prev, recorded_at, body, signatures, hash } = serde_json::from_slice(json).ok()?;
        Some(Envelope { v, ledger, seq, prev, recorded_at, body: body.get(), body_canonical: is_canonical(body.get().as_bytes()), signatures, hash })
    }

    fn sample_records() -> Vec<Vec<u8>> {
        let (alice, bob) = (SecretKey::from_seed_label("alice"), SecretKey::from_seed_label("bob"));
        let mut two = body(&alice);
        two.signers.push(bob.key_id());
        let at = Timestamp::parse("2026-01-01T00:00:01Z").unwrap();
        let mut unsigned = SignedEvent::sign(body(&alice), &[&alice]).unwrap();
        unsigned.signatures.clear();
        [SignedEvent::sign(body(&alice), &[&alice]).unwrap(), SignedEvent::sign(two, &[&alice, &bob]).unwrap(), unsigned]
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                Record::seal(LedgerId::parse("hk").unwrap(), 1_000_000_007 * index as u64 + 1, [index as u8; 32], at.clone(), event).to_json()
            })
            .collect()
    }

    #[test]
    fn the_written_layout_is_read_without_the_parser_and_as_the_parser_reads_it() {
        for json in sample_records() {
            let fast = Envelope::read_as_written(&json).expect("a written record has the written layout");
            assert_eq!(Some(&fast), by_parser(&json).as_ref());
            assert!(fast.body_canonical);
        }
        // Another layout of the same record goes to the parser, which reads the same values.
        let json = String::from_utf8(sample_records().remove(0)).unwrap();
        let reordered = json.replacen("{\"v\":1,\"ledger\":\"hk\",", "{\"ledger\":\"hk\",\"v\":1,", 1);
        assert_eq!(Envelope::read_as_written(reordered.as_bytes()), None);
        assert_eq!(Record::from_json(reordered.as_bytes()), Record::from_json(json.as_bytes()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// Whatever a changed, inserted or removed byte does to a record, the
        /// fast reader either declines or reads what the parser reads.
        #[test]
        fn the_fast_envelope_reader_never_disagrees_with_the_parser(record in 0usize..3, position in proptest::prelude::any::<proptest::sample::Index>(), byte in proptest::prelude::any::<u8>(), edit in 0u8..3) {
            let mut json = sample_records().remove(record);
            let position = position.index(json.len());
            match edit {
                0 => json[position] = byte,
                1 => json.insert(position, byte),
                _ => {
                    json.remove(position);
                }
            }
            if let Some(fast) = Envelope::read_as_written(&json) {
                let parsed = by_parser(&json);
                proptest::prop_assert_eq!(Some(&fast), parsed.as_ref(), "{}", String::from_utf8_lossy(&json));
            }
        }
    }
}
