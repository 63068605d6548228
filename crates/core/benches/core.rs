//! Benchmarks of the pure core, per event / record / signature / leaf:
//!
//! * `apply`: the ledger state machine on a realistic mix (grant approvals,
//!   verified spend, disbursements, capital calls) against a populated ledger;
//! * `canonical`: canonical encoding plus the event hash, from the Rust type
//!   and from a submission's JSON text;
//! * `record`: the record hash (what sealing costs), and the stored JSON form
//!   both ways;
//! * `ed25519`: sign, single (strict) verify, batch verify of 64 and 1024;
//! * `merkle`: `CompactRange::append` per leaf.
//!
//! Merkle proofs at 10M leaves are benchmarked in crates/merkle.
//! Run: `cargo bench -p fundledger-core --bench core` (about 2 minutes).

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fundledger_core::canonical::to_canonical_bytes;
use fundledger_core::crypto::{self, domain, BatchItem, KeyId, SecretKey, Signature};
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::ledger::Ledger;
use fundledger_core::merkle::{leaf_hash, CompactRange};
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::{event_hash, record_hash, verify_events, Record, SignedEvent, VerifiedEvent, GENESIS_PREV};
use fundledger_core::time::Timestamp;

fn text(value: &str) -> Text {
    Text::parse(value).unwrap()
}

/// Authors events for one ledger with increasing ids and times.
struct Author {
    ledger: LedgerId,
    next: u64,
}

impl Author {
    fn sign(&mut self, signers: &[&SecretKey], event: Event) -> SignedEvent {
        self.next += 1;
        let occurred_at = Timestamp::from_unix_millis(1_767_225_600_000 + self.next as i64 * 1_000);
        SignedEvent::author(&self.ledger, EventId::parse(&format!("bench-{}", self.next)).unwrap(), occurred_at, event, signers).unwrap()
    }
    fn verified(&mut self, signers: &[&SecretKey], event: Event) -> VerifiedEvent {
        self.sign(signers, event).verify().unwrap()
    }
}

struct World {
    ledger: Ledger,
    author: Author,
    manager: SecretKey,
    officer: SecretKey,
    grants: u64,
}

const SUBFUNDS: usize = 20;
const EXISTING_GRANTS: u64 = 2_000;

fn subfund_id(index: usize) -> SubFundId {
    SubFundId::parse(&format!("sf-{index}")).unwrap()
}

fn grant_id(index: u64) -> GrantId {
    GrantId::parse(&format!("g-{index}")).unwrap()
}

fn approve(index: u64) -> Event {
    Event::GrantApproved(GrantApproved {
        scheme: SchemeId::parse("bench").unwrap(),
        grant: grant_id(index),
        enterprise: EnterpriseId::parse(&format!("br-{index}")).unwrap(),
        enterprise_name: text("Robotics (HK) Ltd"),
        project: text("production line upgrade"),
        approved_cost_cents: Money::hkd(3_000_000),
        grant_cents: Money::hkd(1_000_000),
        duration_months: 24,
        applied_on: None,
        attestations: Vec::new(),
    })
}

/// Verified spend on a grant; `part` tells the grant's invoices apart (one
/// piece of evidence supports spend once).
fn spend(index: u64, part: u8) -> Event {
    let invoice = format!("invoice {index}-{part}");
    Event::SpendVerified(SpendVerified {
        grant: grant_id(index),
        amount_cents: Money::hkd(300_000),
        evidence_sha256: EvidenceDigest(fundledger_core::crypto::sha256(&[invoice.as_bytes()])),
    })
}

fn disburse(index: u64) -> Event {
    Event::GrantDisbursed(GrantDisbursed { grant: grant_id(index), amount_cents: Money::hkd(100_000), payment_reference: text("PAY-2026-0001") })
}

fn call(index: usize) -> Event {
    Event::CapitalCalled(CapitalCalled { subfund: subfund_id(index), reference: text("drawdown"), amount_cents: Money::hkd(1_000_000) })
}

/// A ledger with the ITIF fund and 20 sub-funds (committed), the three real
/// schemes plus a large uncapped one, and 2,000 grants already approved.
fn world() -> World {
    let admin = SecretKey::from_seed_label("admin");
    let manager = SecretKey::from_seed_label("manager");
    let officer = SecretKey::from_seed_label("officer");
    let mut author = Author { ledger: LedgerId::parse("bench").unwrap(), next: 0 };
    let mut ledger = Ledger::new();
    fn ok(author: &mut Author, ledger: &mut Ledger, signers: &[&SecretKey], event: Event) {
        let verified = author.verified(signers, event);
        ledger.apply(&verified).unwrap_or_else(|violation| panic!("setup event refused: {violation}"));
    }
    ok(
        &mut author,
        &mut ledger,
        &[&admin],
        Event::LedgerGenesis(LedgerGenesis { name: text("bench"), operator: admin.key_id(), operator_holder: text("operator") }),
    );
    ok(&mut author, &mut ledger, &[&admin], Event::FundEstablished(presets::itif_v1("itf")));
    ok(&mut author, &mut ledger, &[&admin], Event::SchemeEstablished(presets::pilot_scheme("pilot")));
    ok(&mut author, &mut ledger, &[&admin], Event::SchemeEstablished(presets::nifs_scheme("nifs", Money::hkd(1_000_000_000))));
    ok(&mut author, &mut ledger, &[&admin], Event::SchemeEstablished(presets::nias_scheme("nias")));
    let mut bench_scheme = presets::pilot_scheme("bench");
    bench_scheme.budget_cents = Money::hkd(1_000_000_000_000);
    bench_scheme.enterprise_grant_max_cents = None;
    bench_scheme.application_window = None;
    bench_scheme.required_attestations = Vec::new();
    ok(&mut author, &mut ledger, &[&admin], Event::SchemeEstablished(bench_scheme));
    for (key, role, scope) in [(&manager, Role::FundManager, "fund:itf"), (&officer, Role::GrantOfficer, "ledger")] {
        ok(&mut author, &mut ledger, &[&admin], Event::KeyRegistered(KeyRegistered { key: key.key_id(), holder: text("someone") }));
        ok(&mut author, &mut ledger, &[&admin], Event::RoleGranted(RoleChange { key: key.key_id(), role, scope: Scope::parse(scope).unwrap() }));
    }
    for index in 0..SUBFUNDS {
        let theme = presets::ITIF_THEMES[index % presets::ITIF_THEMES.len()].0;
        ok(
            &mut author,
            &mut ledger,
            &[&manager],
            Event::SubFundAdmitted(SubFundAdmitted {
                fund: FundId::parse("itf").unwrap(),
                subfund: subfund_id(index),
                name: text("sub-fund"),
                theme: ThemeId::parse(theme).unwrap(),
                general_partner: text("GP Ltd"),
                target_size_cents: Money::hkd(2_000_000_000),
                investment_period: None,
            }),
        );
        let subfund = subfund_id(index);
        ok(
            &mut author,
            &mut ledger,
            &[&manager],
            Event::MarketCommitted(MarketCommitted { subfund: subfund.clone(), investor: text("LP"), amount_cents: Money::hkd(1_500_000_000) }),
        );
        ok(&mut author, &mut ledger, &[&manager], Event::GovernmentCommitted(GovernmentCommitted { subfund, amount_cents: Money::hkd(500_000_000) }));
    }
    for index in 0..EXISTING_GRANTS {
        ok(&mut author, &mut ledger, &[&officer], approve(index));
    }
    World { ledger, author, manager, officer, grants: EXISTING_GRANTS }
}

/// 1,200 events: per round a grant approval, two rounds of verified spend and
/// disbursement, and a capital call.
fn mix(world: &mut World) -> Vec<VerifiedEvent> {
    let (manager, officer) = (world.manager.clone(), world.officer.clone());
    let mut events = Vec::new();
    for round in 0..200u64 {
        let grant = world.grants + round;
        events.push(world.author.verified(&[&officer], approve(grant)));
        events.push(world.author.verified(&[&officer], spend(grant, 1)));
        events.push(world.author.verified(&[&officer], disburse(grant)));
        events.push(world.author.verified(&[&manager], call(round as usize % SUBFUNDS)));
        events.push(world.author.verified(&[&officer], spend(grant, 2)));
        events.push(world.author.verified(&[&officer], disburse(grant)));
    }
    // The mix must be valid from the world's state, in order.
    let mut check = world.ledger.clone();
    for event in &events {
        check.apply(event).unwrap_or_else(|violation| panic!("bench event {} refused: {violation}", event.body().id));
    }
    events
}

fn bench_apply(c: &mut Criterion) {
    let mut world = world();
    let events = mix(&mut world);
    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("mixed_events", |b| {
        b.iter_batched(
            || world.ledger.clone(),
            |mut ledger| {
                for event in &events {
                    ledger.apply(event).unwrap();
                }
                ledger
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// A typical signed event: a grant approval (about 430 bytes canonical).
fn typical_event() -> SignedEvent {
    let officer = SecretKey::from_seed_label("officer");
    let mut author = Author { ledger: LedgerId::parse("hk").unwrap(), next: 0 };
    author.sign(&[&officer], approve(42))
}

fn bench_canonical(c: &mut Criterion) {
    let signed = typical_event();
    let body = signed.body().clone();
    let submission = signed.to_submission_json();
    let mut group = c.benchmark_group("canonical");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_and_hash_body", |b| {
        b.iter(|| {
            let canonical = to_canonical_bytes(black_box(&body)).unwrap();
            event_hash(&canonical)
        })
    });
    group.bench_function("parse_submission", |b| b.iter(|| SignedEvent::from_submission_json(black_box(&submission)).unwrap()));
    group.finish();
}

fn bench_record(c: &mut Criterion) {
    let signed = typical_event();
    let ledger = LedgerId::parse("hk").unwrap();
    let recorded_at = Timestamp::parse("2026-03-02T09:00:00.000Z").unwrap();
    let record = Record::seal(ledger.clone(), 1_000_000, GENESIS_PREV, recorded_at.clone(), signed.clone());
    let json = record.to_json();
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));
    group.bench_function("record_hash", |b| {
        b.iter(|| record_hash(black_box(&ledger), 1_000_000, &GENESIS_PREV, &recorded_at, signed.event_hash(), signed.signatures()))
    });
    group.bench_function("to_json", |b| b.iter(|| black_box(&record).to_json()));
    group.bench_function("from_json", |b| b.iter(|| Record::from_json(black_box(&json)).unwrap()));
    group.finish();
}

fn signed_messages(count: usize) -> (Vec<KeyId>, Vec<Vec<u8>>, Vec<Signature>) {
    let keys: Vec<SecretKey> = (0..16).map(|index| SecretKey::from_seed_label(&format!("signer-{index}"))).collect();
    let mut ids = Vec::new();
    let mut messages = Vec::new();
    let mut signatures = Vec::new();
    for index in 0..count {
        let key = &keys[index % keys.len()];
        let hash = crypto::sha256(&[&index.to_be_bytes()]);
        ids.push(key.key_id());
        messages.push([domain::EVENT_SIGNATURE, &hash].concat());
        signatures.push(key.sign(domain::EVENT_SIGNATURE, &hash));
    }
    (ids, messages, signatures)
}

fn bench_ed25519(c: &mut Criterion) {
    let key = SecretKey::from_seed_label("officer");
    let hash = *typical_event().event_hash();
    let signature = key.sign(domain::EVENT_SIGNATURE, &hash);
    let id = key.key_id();
    let mut group = c.benchmark_group("ed25519");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| b.iter(|| key.sign(domain::EVENT_SIGNATURE, black_box(&hash))));
    group.bench_function("verify_single", |b| b.iter(|| crypto::verify(&id, domain::EVENT_SIGNATURE, black_box(&hash), &signature).unwrap()));
    for count in [64usize, 1024] {
        let (ids, messages, signatures) = signed_messages(count);
        let items: Vec<BatchItem> = (0..count).map(|index| BatchItem { key: &ids[index], message: &messages[index], signature: &signatures[index] }).collect();
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(format!("verify_batch_{count}"), |b| b.iter(|| crypto::verify_batch(black_box(&items)).unwrap()));
    }
    // What the writer and verifier call: batch verification of whole events.
    let officer = SecretKey::from_seed_label("officer");
    let mut author = Author { ledger: LedgerId::parse("hk").unwrap(), next: 0 };
    let events: Vec<SignedEvent> = (0..1024).map(|index| author.sign(&[&officer], disburse(index))).collect();
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("verify_events_1024", |b| b.iter_batched(|| events.clone(), verify_events, BatchSize::LargeInput));
    group.finish();
}

fn bench_merkle(c: &mut Criterion) {
    const LEAVES: usize = 4096;
    let leaves: Vec<[u8; 32]> = (0..LEAVES as u64).map(|index| leaf_hash(&crypto::sha256(&[&index.to_be_bytes()]))).collect();
    // Start from a tree of about a million leaves, so the edge has many peaks.
    let mut start = CompactRange::new();
    for index in 0..1_000_003u64 {
        start.append(leaf_hash(&index.to_be_bytes()), |_, _| {});
    }
    let mut group = c.benchmark_group("merkle");
    group.throughput(Throughput::Elements(LEAVES as u64));
    group.bench_function("compact_range_append", |b| {
        b.iter_batched(
            || start.clone(),
            |mut range| {
                for leaf in &leaves {
                    range.append(*leaf, |_, _| {});
                }
                range
            },
            BatchSize::SmallInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("root", |b| b.iter(|| black_box(&start).root()));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench_apply, bench_canonical, bench_record, bench_ed25519, bench_merkle
}
criterion_main!(benches);
