//! Auditing with the real `fundledger` binary: tampered ledgers (in audit
//! bundles, and written into fresh nats-servers with raw publishes) must fail
//! `fundledger verify`, which must name the exact first bad record (sequence
//! and event id) and the kind of check; and the honest path end to end:
//! writer + checkpointer on a real nats-server, verify, export, offline
//! verify, prove, verify-proof, witness, tail --verify.

use std::path::Path;

use fundledger_core::chain::ChainState;
use fundledger_core::checkpoint::{Checkpoint, SignedCheckpoint};
use fundledger_core::crypto::{Hash, SecretKey};
use fundledger_core::event::{Event, EvidenceDigest, KeyRevoked, SpendVerified};
use fundledger_core::merkle::{leaf_hash, CompactRange};
use fundledger_core::money::Money;
use fundledger_core::record::{verify_events, Record, SignedEvent};
use fundledger_core::time::Timestamp;
use fundledger_system_tests::{cli, ledger_id, start_nats, text, Actors};
use fundledger_verifier::bundle::{BundleHeader, BundleWriter, BUNDLE_FORMAT, BUNDLE_VERSION};
use serde_json::Value;

/// Records in the honest test ledger, and where its checkpoints are.
const NAV_REPORTS: u32 = 30;
const CHECKPOINT_SIZES: [u64; 2] = [20, 35];

fn recorded_at(seq: u64) -> Timestamp {
    Timestamp::from_unix_millis(1_790_000_000_000 + seq as i64 * 1_000)
}

/// An honest ledger: the support scenario's setup, NAV reports and pilot grants, sealed in order.
fn honest_events(actors: &Actors) -> Vec<SignedEvent> {
    let mut events = actors.setup();
    for number in 0..NAV_REPORTS {
        events.push(actors.nav_report(number));
        if number % 10 == 3 {
            events.push(actors.pilot_grant(number));
        }
    }
    events
}

/// Seals events as records 1..n; each is verified and applied so the honest ledger is valid.
fn seal(events: Vec<SignedEvent>) -> Vec<Record> {
    let mut chain = ChainState::new(ledger_id());
    let mut state = fundledger_core::ledger::Ledger::new();
    let mut records = Vec::new();
    for verified in verify_events(events) {
        let verified = verified.expect("honest events verify");
        state.apply(&verified).unwrap_or_else(|violation| panic!("honest event {} refused: {violation}", verified.body().id));
        let record = chain.seal_next(recorded_at(chain.size() + 1), verified.into_signed());
        chain.append(&record, |_, _| {}).expect("chains");
        records.push(record);
    }
    records
}

/// Re-seals records from index `from` on (new seq, prev and hash), as a tamperer who rewrites the chain would.
fn reseal(records: &mut [Record], from: usize) {
    for index in from..records.len() {
        let prev = if index == 0 { [0; 32] } else { records[index - 1].hash };
        let record = &records[index];
        records[index] = Record::seal(record.ledger.clone(), index as u64 + 1, prev, record.recorded_at.clone(), record.event.clone());
    }
}

fn root_of(records: &[Record], size: u64) -> Hash {
    let mut tree = CompactRange::new();
    for record in &records[..size as usize] {
        tree.append(leaf_hash(&record.hash), |_, _| {});
    }
    tree.root()
}

fn checkpoint(records: &[Record], size: u64, operator: &SecretKey) -> SignedCheckpoint {
    Checkpoint { ledger: ledger_id(), size, root: root_of(records, size), head: records[size as usize - 1].hash, issued_at: recorded_at(size + 1) }
        .sign(operator)
}

/// Writes a bundle of these record lines and checkpoints.
fn write_bundle(path: &Path, lines: &[Vec<u8>], checkpoints: &[SignedCheckpoint]) {
    let header = BundleHeader {
        format: BUNDLE_FORMAT.to_string(),
        version: BUNDLE_VERSION,
        ledger: "test".to_string(),
        exported_at: "2026-06-01T00:00:00Z".to_string(),
        source: "tests/audit.rs".to_string(),
    };
    let mut writer = BundleWriter::create(path, &header, true).expect("creates the bundle");
    for checkpoint in checkpoints {
        writer.checkpoint(checkpoint).expect("writes");
    }
    for line in lines {
        writer.record(line).expect("writes");
    }
    writer.finish().expect("finishes");
}

/// An honest ledger with its checkpoints, ready to be tampered with.
struct Fixture {
    actors: Actors,
    records: Vec<Record>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let actors = Actors::new("audit");
        let records = seal(honest_events(&actors));
        assert!(records.len() as u64 > CHECKPOINT_SIZES[1], "the fixture ledger must reach its checkpoints");
        Fixture { actors, records, dir: tempfile::Builder::new().prefix("fundledger-audit-").tempdir().expect("temporary directory") }
    }

    fn lines(&self) -> Vec<Vec<u8>> {
        self.records.iter().map(Record::to_json).collect()
    }

    fn checkpoints(&self) -> Vec<SignedCheckpoint> {
        CHECKPOINT_SIZES.iter().map(|size| checkpoint(&self.records, *size, &self.actors.operator)).collect()
    }

    /// The index (0-based) of the first NAV report at or after `seq`.
    fn nav_at_or_after(&self, seq: u64) -> usize {
        (seq as usize - 1..self.records.len()).find(|index| matches!(self.records[*index].body().event, Event::NavReported(_))).expect("a NAV report follows")
    }

    fn event_id(&self, index: usize) -> String {
        self.records[index].body().id.to_string()
    }

    /// Runs `fundledger verify --bundle` on these lines and checkpoints; returns (exit ok, JSON output).
    fn verify(&self, name: &str, lines: &[Vec<u8>], checkpoints: &[SignedCheckpoint]) -> (bool, Value, cli::Output) {
        self.verify_with(name, lines, checkpoints, &[])
    }

    /// [`Fixture::verify`] with more arguments for `verify`.
    fn verify_with(&self, name: &str, lines: &[Vec<u8>], checkpoints: &[SignedCheckpoint], arguments: &[&str]) -> (bool, Value, cli::Output) {
        let path = self.dir.path().join(format!("{name}.bundle"));
        write_bundle(&path, lines, checkpoints);
        let path = path.display().to_string();
        let output = cli::run(&[&["verify", "--bundle", &path, "--json"], arguments].concat(), None, None);
        let json: Value = serde_json::from_str(output.stdout.trim()).unwrap_or_else(|error| panic!("verify --json printed no JSON ({error}):\n{output}"));
        (output.success(), json, output)
    }

    /// Asserts that verification fails at record `seq` (with `event_id`) for a `kind` check.
    fn assert_fails(&self, name: &str, lines: &[Vec<u8>], checkpoints: &[SignedCheckpoint], seq: u64, event_id: Option<&str>, kind: &str) -> String {
        let (ok, json, output) = self.verify(name, lines, checkpoints);
        assert!(!ok, "{name}: verify must fail:\n{output}");
        assert_eq!(json["ok"], false, "{name}:\n{output}");
        let failure = &json["failure"];
        assert_eq!(failure["seq"], seq, "{name}: wrong first bad record:\n{output}");
        assert_eq!(failure["event_id"].as_str(), event_id, "{name}: wrong event id:\n{output}");
        assert_eq!(failure["kind"], kind, "{name}: wrong kind of failure:\n{output}");
        assert!(output.stderr.contains("VERIFICATION FAILED"), "{name}: a failure is loud:\n{output}");
        failure["reason"].as_str().unwrap_or_default().to_string()
    }
}

#[test]
fn an_honest_bundle_verifies_with_its_checkpoints() {
    let fixture = Fixture::new();
    let (ok, json, output) = fixture.verify("honest", &fixture.lines(), &fixture.checkpoints());
    assert!(ok, "{output}");
    let report = &json["report"];
    assert_eq!(report["size"], fixture.records.len() as u64, "{output}");
    assert_eq!(report["head"], hex::encode(fixture.records.last().expect("records").hash), "{output}");
    assert_eq!(report["root"], hex::encode(root_of(&fixture.records, fixture.records.len() as u64)), "{output}");
    assert_eq!(report["checkpoints"].as_array().map(Vec::len), Some(2), "{output}");
    assert_eq!(report["signatures_checked"], fixture.records.len() as u64, "{output}");
    // Human output says what was checked.
    let path = fixture.dir.path().join("honest.bundle");
    let human = cli::run(&["verify", "--bundle", &path.display().to_string()], None, None);
    assert!(human.success(), "{human}");
    for expected in ["verified", "Merkle root", "chain head", "signatures verify", "every business rule held", "checkpoint(s) signed by the operator"] {
        assert!(human.stdout.contains(expected), "missing {expected:?}:\n{human}");
    }
}

#[test]
fn a_changed_byte_in_a_body_is_named() {
    let fixture = Fixture::new();
    let index = fixture.nav_at_or_after(15);
    let mut lines = fixture.lines();
    let text = String::from_utf8(lines[index].clone()).expect("utf-8");
    let changed = text.replacen("\"nav_cents\":100000", "\"nav_cents\":900000", 1);
    assert_ne!(changed, text);
    lines[index] = changed.into_bytes();
    let reason = fixture.assert_fails("body-byte", &lines, &fixture.checkpoints(), index as u64 + 1, Some(&fixture.event_id(index)), "malformed");
    assert!(reason.contains("hash"), "{reason}");

    // A tamperer who also recomputes every hash after it is caught by the actor's signature.
    let mut records = fixture.records.clone();
    let record = &records[index];
    let json = String::from_utf8(record.to_json()).expect("utf-8").replacen("\"nav_cents\":100000", "\"nav_cents\":900000", 1);
    let tampered = Record::from_json(json.as_bytes()).map(|_| ()).err();
    assert!(tampered.is_some(), "the stated hash no longer matches");
    let body = String::from_utf8(record.event.canonical_bytes().to_vec()).expect("utf-8").replacen("\"nav_cents\":100000", "\"nav_cents\":900000", 1);
    let event = SignedEvent::from_canonical(body.into_bytes(), record.event.signatures().to_vec()).expect("still a well-formed event");
    records[index] = Record::seal(record.ledger.clone(), record.seq, record.prev, record.recorded_at.clone(), event);
    reseal(&mut records, index);
    let lines: Vec<Vec<u8>> = records.iter().map(Record::to_json).collect();
    fixture.assert_fails("body-byte-resealed", &lines, &fixture.checkpoints(), index as u64 + 1, Some(&fixture.event_id(index)), "signature");
}

#[test]
fn a_changed_byte_in_a_signature_is_named() {
    let fixture = Fixture::new();
    let index = 12;
    let mut records = fixture.records.clone();
    let mut signatures = records[index].event.signatures().to_vec();
    signatures[0].0[10] ^= 0x01;
    let event = SignedEvent::from_canonical(records[index].event.canonical_bytes().to_vec(), signatures).expect("well-formed");
    let record = &records[index];
    records[index] = Record::seal(record.ledger.clone(), record.seq, record.prev, record.recorded_at.clone(), event);
    // As stored, without fixing the hash: the record's stated hash is wrong.
    let mut lines = fixture.lines();
    let original = String::from_utf8(fixture.records[index].to_json()).expect("utf-8");
    let tampered_text = String::from_utf8(records[index].to_json()).expect("utf-8");
    let stated_hash = hex::encode(fixture.records[index].hash);
    let tampered_with_old_hash = tampered_text.replace(&hex::encode(records[index].hash), &stated_hash);
    assert_ne!(tampered_with_old_hash, original);
    lines[index] = tampered_with_old_hash.into_bytes();
    fixture.assert_fails("signature-byte", &lines, &fixture.checkpoints(), index as u64 + 1, Some(&fixture.event_id(index)), "malformed");
    // With every hash after it recomputed: the signature itself does not verify.
    reseal(&mut records, index);
    let lines: Vec<Vec<u8>> = records.iter().map(Record::to_json).collect();
    let reason = fixture.assert_fails("signature-byte-resealed", &lines, &fixture.checkpoints(), index as u64 + 1, Some(&fixture.event_id(index)), "signature");
    assert!(reason.contains("signature"), "{reason}");
}

#[test]
fn a_deleted_record_is_named() {
    let fixture = Fixture::new();
    let mut lines = fixture.lines();
    lines.remove(9);
    // Position 10 now holds record 11.
    let reason = fixture.assert_fails("deleted", &lines, &fixture.checkpoints(), 10, Some(&fixture.event_id(10)), "chain");
    assert!(reason.contains("record 11") && reason.contains("position 10"), "{reason}");
}

#[test]
fn swapped_records_are_named() {
    let fixture = Fixture::new();
    let mut lines = fixture.lines();
    lines.swap(16, 17);
    fixture.assert_fails("swapped", &lines, &fixture.checkpoints(), 17, Some(&fixture.event_id(17)), "chain");
}

#[test]
fn an_inserted_record_is_named() {
    let fixture = Fixture::new();
    // A validly signed NAV report by the authorised manager, sealed as record 15 after record 14.
    let forged = fixture.actors.nav_report(999);
    let mut records = fixture.records.clone();
    let record = Record::seal(ledger_id(), 15, records[13].hash, recorded_at(15), forged.clone());
    records.insert(14, record);
    let lines: Vec<Vec<u8>> = records.iter().map(Record::to_json).collect();
    // The original record 15 no longer links: it is stored at position 16.
    fixture.assert_fails("inserted", &lines, &fixture.checkpoints(), 16, Some(&fixture.event_id(14)), "chain");
    // A tamperer who re-seals everything after it: the operator's checkpoint at size 20 exposes it.
    reseal(&mut records, 15);
    let lines: Vec<Vec<u8>> = records.iter().map(Record::to_json).collect();
    let reason = fixture.assert_fails("inserted-resealed", &lines, &fixture.checkpoints(), 20, Some(&records[19].body().id.to_string()), "checkpoint");
    assert!(reason.contains("root"), "{reason}");
}

#[test]
fn a_record_re_signed_by_another_valid_key_is_named() {
    let fixture = Fixture::new();
    let index = fixture.nav_at_or_after(18);
    let mut records = fixture.records.clone();
    // Re-signed by the grant officer: a registered, valid key, but not a fund manager of this fund.
    let mut body = records[index].body().clone();
    body.signers = vec![fixture.actors.officer.key_id()];
    let resigned = SignedEvent::sign(body, &[&fixture.actors.officer]).expect("signs");
    let record = &records[index];
    records[index] = Record::seal(record.ledger.clone(), record.seq, record.prev, record.recorded_at.clone(), resigned);
    reseal(&mut records, index);
    let lines: Vec<Vec<u8>> = records.iter().map(Record::to_json).collect();
    let reason = fixture.assert_fails("resigned", &lines, &fixture.checkpoints(), index as u64 + 1, Some(&fixture.event_id(index)), "rule");
    assert!(reason.contains("refuses"), "{reason}");
    // Without re-sealing the chain, its stated hash no longer matches.
    let mut lines = fixture.lines();
    let text =
        String::from_utf8(records[index].to_json()).expect("utf-8").replace(&hex::encode(records[index].hash), &hex::encode(fixture.records[index].hash));
    lines[index] = text.into_bytes();
    fixture.assert_fails("resigned-hash", &lines, &fixture.checkpoints(), index as u64 + 1, Some(&fixture.event_id(index)), "malformed");
}

#[test]
fn a_truncated_tail_behind_a_checkpoint_is_named() {
    let fixture = Fixture::new();
    let mut lines = fixture.lines();
    lines.truncate(31);
    let reason = fixture.assert_fails("truncated", &lines, &fixture.checkpoints(), 32, None, "truncated");
    assert!(reason.contains("size 35") && reason.contains("32..35"), "{reason}");
}

#[test]
fn a_forked_checkpoint_is_named() {
    let fixture = Fixture::new();
    // The operator also signed another history of size 20 (record 20 replaced by a key revocation).
    let mut other = fixture.records.clone();
    let forged =
        fixture.actors.sign(Event::KeyRevoked(KeyRevoked { key: fixture.actors.outsider.key_id(), reason: text("fork") }), &[&fixture.actors.operator]);
    let record = &other[19];
    other[19] = Record::seal(record.ledger.clone(), record.seq, record.prev, record.recorded_at.clone(), forged);
    let mut checkpoints = fixture.checkpoints();
    checkpoints.push(checkpoint(&other, 20, &fixture.actors.operator));
    let reason = fixture.assert_fails("fork", &fixture.lines(), &checkpoints, 20, Some(&fixture.event_id(19)), "fork");
    assert!(reason.contains("matches the records"), "{reason}");
}

#[test]
fn a_reused_event_id_is_named() {
    let fixture = Fixture::new();
    let mut records = fixture.records.clone();
    let reused = fixture.records[14].body().id.to_string();
    let event = fixture.actors.sign_with_id(
        &reused,
        Event::KeyRevoked(KeyRevoked { key: fixture.actors.officer_two.key_id(), reason: text("again") }),
        &[&fixture.actors.operator],
    );
    let record = &records[25];
    records[25] = Record::seal(record.ledger.clone(), record.seq, record.prev, record.recorded_at.clone(), event);
    reseal(&mut records, 25);
    let lines: Vec<Vec<u8>> = records.iter().map(Record::to_json).collect();
    let reason = fixture.assert_fails("reused-id", &lines, &[], 26, Some(&reused), "duplicate_id");
    assert!(reason.contains("record 15"), "{reason}");
}

/// Records sealed by the operator straight after the honest ones (no writer in the way).
fn seal_after(records: &mut Vec<Record>, events: Vec<fundledger_core::record::SignedEvent>) {
    for event in events {
        let seq = records.len() as u64 + 1;
        let prev = records.last().map_or([0; 32], |record| record.hash);
        records.push(Record::seal(ledger_id(), seq, prev, recorded_at(seq), event));
    }
}

#[test]
fn reused_evidence_sealed_by_the_operator_is_named() {
    // Issue 19: one piece of evidence supports spend once. Two pilot grants' spend on the same
    // invoice, validly signed by the officer and sealed by the operator without the writer: the
    // verifier's state machine refuses the second at its record, as a rule.
    let fixture = Fixture::new();
    let mut records = fixture.records.clone();
    let invoice = EvidenceDigest(fundledger_core::crypto::sha256(&[b"one invoice"]));
    let spend = |number: u32| {
        let grant = format!("pilot-audit-{number}").parse().expect("id");
        fixture
            .actors
            .sign(Event::SpendVerified(SpendVerified { grant, amount_cents: Money::hkd(30_000), evidence_sha256: invoice }), &[&fixture.actors.officer])
    };
    seal_after(&mut records, vec![spend(3), spend(13)]);
    let lines: Vec<Vec<u8>> = records.iter().map(Record::to_json).collect();
    let last = records.len();
    let reason = fixture.assert_fails("evidence-reused", &lines, &fixture.checkpoints(), last as u64, Some(&records[last - 1].body().id.to_string()), "rule");
    assert!(reason.contains("evidence_reused") && reason.contains("pilot-audit-3"), "{reason}");
}

#[test]
fn evidence_kept_in_the_store_is_right_across_trusted_restarts() {
    // Issue 19: the verifier keeps the evidence used so far in its store (memory independent of
    // the number of events). A trusted restart must see evidence used before its checkpoint, and
    // forget what records after it used (it verifies them again) instead of taking that for reuse.
    let fixture = Fixture::new();
    let operator = &fixture.actors.operator;
    let spend = |number: u32, invoice: &[u8]| {
        let grant = format!("pilot-audit-{number}").parse().expect("id");
        let evidence_sha256 = EvidenceDigest(fundledger_core::crypto::sha256(&[invoice]));
        fixture.actors.sign(Event::SpendVerified(SpendVerified { grant, amount_cents: Money::hkd(10_000), evidence_sha256 }), &[&fixture.actors.officer])
    };
    let trusted_size = CHECKPOINT_SIZES[1];
    // Invoice A supports spend at record 31, before the trusted checkpoint; invoice B at the end, after it.
    let mut records: Vec<Record> = fixture.records[..30].to_vec();
    seal_after(&mut records, vec![spend(3, b"invoice A")]);
    seal_after(&mut records, fixture.records[30..].iter().map(|record| record.event.clone()).collect());
    seal_after(&mut records, vec![spend(3, b"invoice B")]);
    let checkpoints = |records: &[Record]| -> Vec<SignedCheckpoint> { CHECKPOINT_SIZES.iter().map(|size| checkpoint(records, *size, operator)).collect() };
    let lines = |records: &[Record]| -> Vec<Vec<u8>> { records.iter().map(Record::to_json).collect() };
    let store = fixture.dir.path().join("store").display().to_string();
    let trusted = fixture.dir.path().join("trusted.json").display().to_string();
    let (ok, _, output) = fixture.verify_with("evidence-first", &lines(&records), &checkpoints(&records), &["--store", &store, "--save-trusted", &trusted]);
    assert!(ok, "{output}");
    let resume = ["--store", store.as_str(), "--trusted", trusted.as_str()];

    // Resumed over the same records, twice: B's spend verifies again both times.
    for name in ["evidence-resumed", "evidence-resumed-again"] {
        let (ok, json, output) = fixture.verify_with(name, &lines(&records), &checkpoints(&records), &resume);
        assert!(ok, "{name}: the records after the trusted checkpoint verify again:\n{output}");
        assert_eq!(json["report"]["records_checked"], records.len() as u64 - trusted_size, "{output}");
    }

    // Invoice A, used before the trusted checkpoint, used again after it: named at that record.
    let mut reused = records.clone();
    seal_after(&mut reused, vec![spend(13, b"invoice A")]);
    let last = reused.len();
    let (ok, json, output) = fixture.verify_with("evidence-reused-after-trusted", &lines(&reused), &checkpoints(&reused), &resume);
    assert!(!ok, "{output}");
    let failure = &json["failure"];
    assert_eq!((failure["seq"].as_u64(), failure["kind"].as_str()), (Some(last as u64), Some("rule")), "{output}");
    let reason = failure["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("evidence_reused") && reason.contains("pilot-audit-3"), "{reason}");
}

#[test]
fn a_trusted_file_from_before_evidence_was_tracked_is_refused() {
    let fixture = Fixture::new();
    let store = fixture.dir.path().join("store").display().to_string();
    let trusted = fixture.dir.path().join("trusted.json");
    let trusted_text = trusted.display().to_string();
    let first = &fixture.lines()[..CHECKPOINT_SIZES[1] as usize];
    let (ok, _, output) = fixture.verify_with("first", first, &fixture.checkpoints(), &["--store", &store, "--save-trusted", &trusted_text]);
    assert!(ok, "{output}");
    // The same file as a build before issue 19 wrote it: version 1, whose state had no evidence digests.
    let mut file: Value = serde_json::from_slice(&std::fs::read(&trusted).expect("written")).expect("json");
    file["version"] = Value::from(1);
    std::fs::write(&trusted, serde_json::to_vec(&file).expect("json")).expect("writes");
    let path = fixture.dir.path().join("old-trusted.bundle");
    write_bundle(&path, &fixture.lines(), &fixture.checkpoints());
    let output = cli::run(&["verify", "--bundle", &path.display().to_string(), "--store", &store, "--trusted", &trusted_text], None, None);
    assert!(!output.success(), "an old trusted file must be refused:\n{output}");
    assert!(output.stderr.contains("evidence") && output.stderr.contains("verify from genesis"), "{output}");
}

#[test]
fn a_trusted_restart_checks_consistency_then_only_the_new_records() {
    let fixture = Fixture::new();
    let store = fixture.dir.path().join("store").display().to_string();
    let trusted = fixture.dir.path().join("trusted.json").display().to_string();
    let trusted_size = CHECKPOINT_SIZES[1];
    let size = fixture.records.len() as u64;
    let operator = &fixture.actors.operator;
    // The first audit: records 1..35, checkpoints at 20 and 35; the newest is saved as trusted.
    let first = &fixture.lines()[..trusted_size as usize];
    let (ok, _, output) = fixture.verify_with("first", first, &fixture.checkpoints(), &["--store", &store, "--save-trusted", &trusted]);
    assert!(ok, "{output}");
    let trusted_file: Value = serde_json::from_slice(&std::fs::read(&trusted).expect("the trusted file is written")).expect("json");
    assert_eq!(trusted_file["checkpoint"]["size"], trusted_size);
    let resume = ["--store", store.as_str(), "--trusted", trusted.as_str()];

    // Since then the operator signed a second tree for size 20: a fork, found against the stored nodes.
    let mut other = fixture.records.clone();
    other[19] = Record::seal(other[19].ledger.clone(), 20, other[19].prev, recorded_at(99), other[19].event.clone());
    let mut forked = fixture.checkpoints();
    forked.push(checkpoint(&other, 20, operator));
    let (ok, json, output) = fixture.verify_with("trusted-fork", &fixture.lines(), &forked, &resume);
    assert!(!ok, "{output}");
    assert_eq!((json["failure"]["kind"].as_str(), json["failure"]["seq"].as_u64()), (Some("fork"), Some(20)), "{output}");

    // A history rewritten before the trusted checkpoint, with a new checkpoint over it: its first new record does not link.
    let mut rewritten = fixture.records.clone();
    rewritten[4] = Record::seal(rewritten[4].ledger.clone(), 5, rewritten[4].prev, recorded_at(77), rewritten[4].event.clone());
    reseal(&mut rewritten, 5);
    let lines: Vec<Vec<u8>> = rewritten.iter().map(Record::to_json).collect();
    let mut checkpoints = fixture.checkpoints();
    checkpoints.push(checkpoint(&rewritten, size, operator));
    let (ok, json, output) = fixture.verify_with("trusted-rewritten", &lines, &checkpoints, &resume);
    assert!(!ok, "{output}");
    assert_eq!(json["failure"]["seq"], trusted_size + 1, "{output}");
    assert_eq!(json["failure"]["event_id"].as_str(), Some(fixture.event_id(trusted_size as usize).as_str()), "{output}");
    assert_eq!(json["failure"]["kind"], "chain", "{output}");

    // The honest ledger, grown to `size` with a new checkpoint at its end: consistent, and only records 36.. are read.
    let mut checkpoints = fixture.checkpoints();
    checkpoints.push(checkpoint(&fixture.records, size, operator));
    let (ok, json, output) = fixture.verify_with("trusted-next", &fixture.lines(), &checkpoints, &[&resume[..], &["--save-trusted", &trusted]].concat());
    assert!(ok, "{output}");
    let report = &json["report"];
    assert_eq!(report["size"], size, "{output}");
    assert_eq!(report["root"], hex::encode(root_of(&fixture.records, size)), "{output}");
    assert_eq!(report["first_record_checked"], trusted_size + 1, "{output}");
    assert_eq!(report["records_checked"], size - trusted_size, "{output}");
    assert_eq!(report["trusted"]["size"], trusted_size, "{output}");
    assert_eq!(report["trusted"]["consistent_to_size"], size, "{output}");
    assert!(report["checks"][0].as_str().unwrap_or_default().contains("consistency proof"), "{output}");

    // Nothing new since: no record to read, and the same checkpoint stays trusted.
    let (ok, json, output) = fixture.verify_with("trusted-again", &fixture.lines(), &checkpoints, &[&resume[..], &["--save-trusted", &trusted]].concat());
    assert!(ok, "{output}");
    assert_eq!((json["report"]["records_checked"].as_u64(), json["report"]["trusted"]["size"].as_u64()), (Some(0), Some(size)), "{output}");
    assert!(json["report"]["checks"][0].as_str().unwrap_or_default().contains("no newer checkpoint"), "{output}");
}

// ---------------------------------------------------------------------------
// Over NATS: tampered streams written with raw publishes into fresh servers.

async fn publish_raw_ledger(url: &str, lines: &[Vec<u8>], checkpoints: &[SignedCheckpoint]) {
    let js = fundledger_nats::Broker::connect(url).await.expect("connects");
    fundledger_nats::ensure_ledger_streams(&js, "test", &fundledger_nats::StreamSettings::default()).await.expect("streams");
    let subject = fundledger_nats::event_subject("test", fundledger_nats::ScopeKind::Ledger, "test", "ledger.genesis").expect("subject");
    let payloads: Vec<bytes::Bytes> = lines.iter().map(|line| bytes::Bytes::from(line.clone())).collect();
    fundledger_nats::raw_publish_batch(&js, &subject, &payloads).await.expect("publishes");
    for (index, checkpoint) in checkpoints.iter().enumerate() {
        fundledger_verifier::checkpointer::publish_raw(&js, &ledger_id(), &checkpoint.to_json(), &format!("test-{index}")).await.expect("publishes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_restart_over_nats_refuses_a_stream_that_lost_what_it_trusted() {
    // A trusted restart reads only the records after its checkpoint: it must still notice that the
    // stream no longer holds the records it verified before (here: cut back to 30 of 35).
    let fixture = Fixture::new();
    let (lines, checkpoints) = (fixture.lines(), fixture.checkpoints());
    let store = fixture.dir.path().join("store").display().to_string();
    let trusted = fixture.dir.path().join("trusted.json").display().to_string();
    let full = start_nats().await;
    publish_raw_ledger(&full.url(), &lines[..CHECKPOINT_SIZES[1] as usize], &checkpoints).await;
    let url = full.url();
    let (store_arg, trusted_arg) = (store.clone(), trusted.clone());
    let first = tokio::task::spawn_blocking(move || {
        cli::run(&["verify", "--nats", &url, "--ledger", "test", "--store", &store_arg, "--save-trusted", &trusted_arg, "--json"], None, None)
    })
    .await
    .expect("runs");
    assert!(first.success(), "{first}");

    let short = start_nats().await;
    publish_raw_ledger(&short.url(), &lines[..30], &checkpoints[..1]).await;
    let url = short.url();
    let resumed = tokio::task::spawn_blocking(move || {
        cli::run(&["verify", "--nats", &url, "--ledger", "test", "--store", &store, "--trusted", &trusted, "--json"], None, None)
    })
    .await
    .expect("runs");
    assert!(!resumed.success(), "a stream shorter than the trusted checkpoint must fail:\n{resumed}");
    let failure = &last_json(&resumed)["failure"];
    assert_eq!((failure["kind"].as_str(), failure["seq"].as_u64()), (Some("rollback"), Some(31)), "{resumed}");
}

/// What a command printed on stdout as JSON: all of it, or else its last line (`tail --json` prints one object a line).
fn last_json(output: &cli::Output) -> Value {
    let last_line = output.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(output.stdout.trim())
        .or_else(|_| serde_json::from_str(last_line))
        .unwrap_or_else(|error| panic!("no JSON on stdout ({error}):\n{output}"))
}

/// Runs `verify --json` and `tail --verify --json` (until record `last`) on ledger `test` at `url`.
async fn verify_and_tail(url: &str, last: usize) -> (cli::Output, cli::Output) {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let verify = cli::run(&["verify", "--nats", &url, "--ledger", "test", "--json"], None, None);
        let tail = cli::run(&["tail", "--nats", &url, "--ledger", "test", "--verify", "--json", "--until", &last.to_string()], None, None);
        (verify, tail)
    })
    .await
    .expect("runs")
}

/// Asserts that both `verify` and `tail --verify` stopped at record `seq` for a `kind` check.
fn assert_both_fail(verify: &cli::Output, tail: &cli::Output, seq: u64, event_id: Option<&str>, kind: &str) {
    for output in [verify, tail] {
        assert!(!output.success(), "{output}");
        let failure = &last_json(output)["failure"];
        assert_eq!((failure["seq"].as_u64(), failure["event_id"].as_str(), failure["kind"].as_str()), (Some(seq), event_id, Some(kind)), "{output}");
    }
    assert!(tail.stderr.contains("STOPPED"), "tail --verify stops loudly:\n{tail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_streams_fail_verify_and_tail_over_nats() {
    let fixture = Fixture::new();
    // An honest stream verifies, and tail --verify passes every record and checkpoint.
    let nats = start_nats().await;
    publish_raw_ledger(&nats.url(), &fixture.lines(), &fixture.checkpoints()).await;
    let (verify, tail) = verify_and_tail(&nats.url(), fixture.records.len()).await;
    assert!(verify.success(), "{verify}");
    assert_eq!(last_json(&verify)["report"]["size"], fixture.records.len() as u64);
    assert!(tail.success(), "{tail}");
    assert_eq!(tail.stdout.lines().filter(|line| line.contains("\"kind\":\"record\"")).count(), fixture.records.len(), "{tail}");

    // A stream missing record 10: position 10 holds record 11.
    let mut lines = fixture.lines();
    lines.remove(9);
    let nats = start_nats().await;
    publish_raw_ledger(&nats.url(), &lines, &fixture.checkpoints()).await;
    let (verify, tail) = verify_and_tail(&nats.url(), lines.len()).await;
    assert_both_fail(&verify, &tail, 10, Some(&fixture.event_id(10)), "chain");

    // An honest stream with a forked checkpoint beside the real one: verify names the fork; the
    // subscriber, which checks each checkpoint as it arrives, finds the one that does not match the records.
    let mut other = fixture.records.clone();
    other[19] = Record::seal(other[19].ledger.clone(), 20, other[19].prev, recorded_at(99), other[19].event.clone());
    let mut checkpoints = fixture.checkpoints();
    checkpoints.push(checkpoint(&other, 20, &fixture.actors.operator));
    let nats = start_nats().await;
    publish_raw_ledger(&nats.url(), &fixture.lines(), &checkpoints).await;
    let (verify, tail) = verify_and_tail(&nats.url(), fixture.records.len()).await;
    assert!(!verify.success() && !tail.success(), "{verify}\n{tail}");
    assert_eq!((last_json(&verify)["failure"]["kind"].as_str(), last_json(&verify)["failure"]["seq"].as_u64()), (Some("fork"), Some(20)), "{verify}");
    assert_eq!(last_json(&tail)["failure"]["seq"], 20, "{tail}");
    assert!(tail.stderr.contains("STOPPED"), "{tail}");
}

// ---------------------------------------------------------------------------
// The honest path end to end, with the real writer and checkpointer.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_checkpointer_verify_export_prove_witness_and_tail() {
    let nats = start_nats().await;
    let url = nats.url();
    let data = tempfile::tempdir().expect("temporary directory");
    let writer = fundledger_system_tests::start_writer(&url, &data.path().join("writer")).await;
    let actors = Actors::new("e2e");
    let js = fundledger_nats::Broker::connect(&url).await.expect("connects");
    let config = fundledger_verifier::checkpointer::CheckpointerConfig {
        every_records: 10,
        every: std::time::Duration::from_secs(3600),
        ..fundledger_verifier::checkpointer::CheckpointerConfig::new(ledger_id(), actors.operator.clone())
    };
    let checkpointer = fundledger_verifier::checkpointer::spawn(js.clone(), config).await.expect("checkpointer starts");
    let mut events = actors.setup();
    events.extend((0..25).map(|number| actors.nav_report(number)));
    let receipts = fundledger_system_tests::append_all(&writer, events).await;
    let size = receipts.len() as u64;
    let tail = checkpointer.checkpoint_at_least(size).await.expect("a checkpoint at the tail");
    assert_eq!(tail.checkpoint.size, size);
    let newest = fundledger_verifier::checkpointer::last_checkpoint(&js, &ledger_id()).await.expect("reads").expect("exists");
    assert_eq!(newest.checkpoint.size, size);
    // Deterministic sizes: every multiple of 10, then the tail.
    let book = fundledger_verifier::read_checkpoints(&js, &ledger_id()).await.expect("reads");
    let sizes: Vec<u64> = book.sizes().collect();
    let mut expected: Vec<u64> = (1..=size / 10).map(|k| k * 10).collect();
    if !size.is_multiple_of(10) {
        expected.push(size);
    }
    assert_eq!(sizes, expected);

    let dir = tempfile::tempdir().expect("temporary directory");
    let operator = actors.operator.key_id().to_string();
    let bundle = dir.path().join("ledger.bundle").display().to_string();
    let store = dir.path().join("store").display().to_string();
    let proof = dir.path().join("proof.json").display().to_string();
    let auditor_key = dir.path().join("auditor.json").display().to_string();
    let trusted = dir.path().join("trusted.json").display().to_string();
    let event_id = receipts[15].event_id.clone();
    let (url_for_cli, store_for_cli, trusted_for_cli) = (url.clone(), store.clone(), trusted.clone());
    let outputs = tokio::task::spawn_blocking(move || {
        let (url, store, trusted) = (url_for_cli, store_for_cli, trusted_for_cli);
        let verify =
            cli::run(&["verify", "--nats", &url, "--ledger", "test", "--operator", &operator, "--store", &store, "--save-trusted", &trusted], None, None);
        let wrong_operator = cli::run(&["verify", "--nats", &url, "--ledger", "test", "--operator", &"ab".repeat(32)], None, None);
        let export = cli::run(&["export", "--nats", &url, "--ledger", "test", "--out", &bundle], None, None);
        let offline = cli::run(&["verify", "--bundle", &bundle, "--operator", &operator, "--json"], None, None);
        let prove = cli::run(&["prove", "--bundle", &bundle, "--event", &event_id, "--out", &proof], None, None);
        let verify_proof = cli::run(&["verify-proof", &proof, "--operator", &operator], None, None);
        let keygen = cli::run(&["keygen", "--out", &auditor_key, "--holder", "Audit Commission"], None, None);
        let witness = cli::run(&["witness", "--nats", &url, "--ledger", "test", "--key", &auditor_key], None, None);
        let after_witness = cli::run(&["verify", "--nats", &url, "--ledger", "test", "--json"], None, None);
        let tail = cli::run(&["tail", "--nats", &url, "--ledger", "test", "--verify", "--until", &size.to_string()], None, None);
        (verify, wrong_operator, export, offline, prove, verify_proof, keygen, witness, after_witness, tail)
    })
    .await
    .expect("runs");
    let (verify, wrong_operator, export, offline, prove, verify_proof, keygen, witness, after_witness, tail_output) = outputs;
    assert!(verify.success(), "{verify}");
    assert!(verify.stdout.contains(&format!("{size} records")) && verify.stdout.contains("(pinned)"), "{verify}");
    assert!(!wrong_operator.success() && wrong_operator.stderr.contains("operator"), "{wrong_operator}");
    assert!(export.success(), "{export}");
    assert!(offline.success(), "{offline}");
    let offline_json: Value = serde_json::from_str(offline.stdout.trim()).expect("json");
    assert_eq!(offline_json["report"]["size"], size);
    assert_eq!(offline_json["report"]["root"], hex::encode(tail.checkpoint.root));
    assert!(prove.success(), "{prove}");
    assert!(verify_proof.success() && verify_proof.stdout.contains("proof verified"), "{verify_proof}");
    // A proof whose record was changed does not verify.
    let mut proof_json: Value = serde_json::from_slice(&std::fs::read(dir.path().join("proof.json")).expect("reads")).expect("json");
    let record = proof_json["record"].as_str().expect("record").replacen("\"nav_cents\":", "\"nav_cents\":1", 1);
    proof_json["record"] = Value::String(record);
    let bad_proof = dir.path().join("bad-proof.json");
    std::fs::write(&bad_proof, proof_json.to_string()).expect("writes");
    let bad = tokio::task::spawn_blocking(move || cli::run(&["verify-proof", &bad_proof.display().to_string()], None, None)).await.expect("runs");
    assert!(!bad.success(), "{bad}");
    // A file that cannot be read is still answered in JSON with --json.
    let missing = dir.path().join("no-such-proof.json").display().to_string();
    let unreadable = tokio::task::spawn_blocking(move || cli::run(&["verify-proof", &missing, "--json"], None, None)).await.expect("runs");
    assert!(!unreadable.success(), "{unreadable}");
    let answer: Value = serde_json::from_str(unreadable.stdout.trim()).unwrap_or_else(|error| panic!("not JSON ({error}): {unreadable}"));
    assert_eq!(answer["ok"], false, "{unreadable}");
    assert!(answer["error"].as_str().is_some_and(|error| error.contains("cannot read")), "{unreadable}");
    assert!(keygen.success(), "{keygen}");
    assert!(witness.success() && witness.stdout.contains("Co-signed"), "{witness}");
    let after: Value = serde_json::from_str(after_witness.stdout.trim()).expect("json");
    assert_eq!(after["report"]["witnesses"].as_object().map(|witnesses| witnesses.len()), Some(1), "{after_witness}");
    assert!(tail_output.success(), "{tail_output}");
    assert_eq!(tail_output.stdout.lines().filter(|line| line.contains("verified (hash")).count() as u64, size, "{tail_output}");

    // The next audit starts from the checkpoint the first one saved: a consistency proof, then only the new records.
    let grown = size + fundledger_system_tests::append_all(&writer, (100..112).map(|number| actors.nav_report(number)).collect()).await.len() as u64;
    checkpointer.checkpoint_at_least(grown).await.expect("a checkpoint at the new tail");
    let next = tokio::task::spawn_blocking(move || {
        cli::run(&["verify", "--nats", &url, "--ledger", "test", "--store", &store, "--trusted", &trusted, "--json"], None, None)
    })
    .await
    .expect("runs");
    assert!(next.success(), "{next}");
    let report = &serde_json::from_str::<Value>(next.stdout.trim()).expect("json")["report"];
    assert_eq!(
        (report["size"].as_u64(), report["first_record_checked"].as_u64(), report["records_checked"].as_u64()),
        (Some(grown), Some(size + 1), Some(grown - size)),
        "{next}"
    );
    assert_eq!((report["trusted"]["size"].as_u64(), report["trusted"]["consistent_to_size"].as_u64()), (Some(size), Some(grown)), "{next}");
    checkpointer.abort();
}

// ---------------------------------------------------------------------------
// The demo verifies what it recorded.

#[test]
fn the_demo_ends_by_verifying_the_ledger_it_recorded() {
    let json = cli::run(&["demo", "--json"], None, None);
    assert!(json.success(), "{json}");
    let summary: Value = serde_json::from_str(json.stdout.trim()).expect("demo --json prints JSON");
    let records = summary["records"].as_u64().expect("records");
    let verification = &summary["verification"];
    assert_eq!(summary["verified"], true, "{json}");
    assert_eq!((verification["size"].as_u64(), verification["records_checked"].as_u64()), (Some(records), Some(records)), "{json}");
    assert_eq!((verification["root"].as_str(), verification["head"].as_str()), (summary["root"].as_str(), summary["head"].as_str()), "{json}");
    // The checkpointer signed the tail, and the verifier pinned the operator key.
    assert_eq!(
        verification["checkpoints"].as_array().and_then(|checkpoints| checkpoints.last()).map(|newest| newest["size"].clone()),
        Some(Value::from(records)),
        "{json}"
    );
    assert_eq!(verification["operator_pinned"], true, "{json}");
    let human = cli::run(&["demo"], None, None);
    assert!(human.success() && human.stdout.contains(&format!("Verified all {records} records")), "{human}");
}

#[test]
fn a_proof_file_for_record_zero_is_refused_as_malformed_not_a_panic() {
    let actors = Actors::new("proof0");
    let mut records = seal(honest_events(&actors));
    // A forger seals the genesis as record 0 (its hash is recomputed, so it parses).
    let genesis = &records[0];
    records[0] = Record::seal(genesis.ledger.clone(), 0, [0; 32], genesis.recorded_at.clone(), genesis.event.clone());
    let file = fundledger_verifier::proof::InclusionProofFile {
        format: fundledger_verifier::proof::PROOF_FORMAT.to_string(),
        version: fundledger_verifier::proof::PROOF_VERSION,
        ledger: ledger_id().to_string(),
        seq: 0,
        event_id: records[0].body().id.to_string(),
        record: String::from_utf8(records[0].to_json()).unwrap(),
        leaf_index: u64::MAX,
        tree_size: 1,
        proof: Vec::new(),
        checkpoint: checkpoint(&records, 1, &actors.operator),
        witnesses: Vec::new(),
    };
    let bytes = serde_json::to_vec(&file).unwrap();
    match fundledger_verifier::proof::verify_proof(&bytes, None) {
        Err(fundledger_verifier::VerifyError::Failed(failure)) => {
            assert_eq!(failure.kind, fundledger_verifier::FailureKind::Malformed, "{failure}");
            assert!(failure.reason.contains("numbered from 1"), "{failure}");
        }
        other => panic!("a record-0 proof must fail as malformed, got {other:?}"),
    }
}
