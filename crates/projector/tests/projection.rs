//! The projection over a real RocksDB store, without a broker: hand-computed
//! metrics (the ILPA check and an IRR), agreement with the core state machine,
//! history (`as_of`), chain checks, redelivery, two appliers on one store, and
//! byte-identical models whatever the batching.

use std::sync::Arc;

use fundledger_core::chain::ChainState;
use fundledger_core::crypto::{sha256, SecretKey};
use fundledger_core::event::*;
use fundledger_core::id::{EventId, LedgerId};
use fundledger_core::ledger::Ledger;
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::{Record, SignedEvent};
use fundledger_core::time::Timestamp;
use fundledger_projector::query::{self, Query};
use fundledger_projector::{Applier, Delivered, Durability, ProjectorError, Store};

fn text(value: &str) -> Text {
    Text::parse(value).unwrap()
}

/// Authors, checks (with the core) and seals events into records.
struct Builder {
    ledger: LedgerId,
    chain: ChainState,
    core: Ledger,
    records: Vec<Record>,
    operator: SecretKey,
    manager: SecretKey,
    officer: SecretKey,
}

impl Builder {
    fn new() -> Builder {
        let ledger = LedgerId::parse("t").unwrap();
        let mut builder = Builder {
            chain: ChainState::new(ledger.clone()),
            ledger,
            core: Ledger::new(),
            records: Vec::new(),
            operator: SecretKey::from_seed_label("p/operator"),
            manager: SecretKey::from_seed_label("p/manager"),
            officer: SecretKey::from_seed_label("p/officer"),
        };
        let operator = builder.operator.clone();
        builder.add_by(
            "2021-01-01T00:00:00Z",
            Event::LedgerGenesis(LedgerGenesis { name: text("t"), operator: operator.key_id(), operator_holder: text("op") }),
            &operator,
        );
        let mut fund = presets::itif("itf");
        fund.subfund_target_size_min_cents = Money::hkd(1_000);
        fund.subfund_committed_size_min_cents = None;
        fund.programme_size_min_cents = None;
        builder.add_by("2021-01-01T00:00:00Z", Event::FundEstablished(fund), &operator);
        builder.add_by(
            "2021-01-01T00:00:00Z",
            Event::SchemeEstablished(SchemeEstablished { application_window: None, required_attestations: Vec::new(), ..presets::pilot_scheme("pilot") }),
            &operator,
        );
        builder.add_by(
            "2021-01-01T00:00:00Z",
            Event::SchemeEstablished(SchemeEstablished { dual_control: Vec::new(), ..presets::nifs_scheme("nifs", Money::hkd(1_000_000_000)) }),
            &operator,
        );
        for (key, role, scope) in [(builder.manager.key_id(), Role::FundManager, "fund:itf"), (builder.officer.key_id(), Role::GrantOfficer, "ledger")] {
            builder.add_by("2021-01-01T00:00:00Z", Event::KeyRegistered(KeyRegistered { key, holder: text("someone") }), &operator);
            builder.add_by("2021-01-01T00:00:00Z", Event::RoleGranted(RoleChange { key, role, scope: Scope::parse(scope).unwrap() }), &operator);
        }
        builder
    }

    fn add_by(&mut self, at: &str, event: Event, signer: &SecretKey) -> u64 {
        let id = EventId::parse(&format!("e-{}", self.records.len() + 1)).unwrap();
        let signed = SignedEvent::author(&self.ledger, id, Timestamp::parse(at).unwrap(), event, &[signer]).unwrap();
        let verified = signed.clone().verify().unwrap();
        self.core.apply(&verified).unwrap_or_else(|violation| panic!("the core refuses a test event: {violation}"));
        let record = self.chain.seal_next(Timestamp::parse("2026-01-01T00:00:00Z").unwrap(), signed);
        self.chain.append(&record, |_, _| {}).unwrap();
        self.records.push(record);
        self.records.len() as u64
    }

    fn fund(&mut self, at: &str, event: Event) -> u64 {
        let manager = self.manager.clone();
        self.add_by(at, event, &manager)
    }

    fn grant(&mut self, at: &str, event: Event) -> u64 {
        let officer = self.officer.clone();
        self.add_by(at, event, &officer)
    }

    fn deliveries(&self) -> Vec<Delivered> {
        self.records.iter().map(|record| Delivered { seq: record.seq, payload: record.to_json().into() }).collect()
    }
}

fn admit(builder: &mut Builder, subfund: &str, theme: &str, gp: &str) {
    builder.fund(
        "2021-01-01T00:00:00Z",
        Event::SubFundAdmitted(SubFundAdmitted {
            fund: "itf".parse().unwrap(),
            subfund: subfund.parse().unwrap(),
            name: text(&format!("{subfund} fund")),
            theme: theme.parse().unwrap(),
            general_partner: text(gp),
            target_size_cents: Money::hkd(4_000),
            investment_period: None,
        }),
    );
}

/// The ILPA-style worked example: commitment 800, paid-in 720, distributions 540, NAV 480,
/// with dated flows: -720 on 2021-01-01, +540 on 2022-01-01, NAV 480 as of 2023-01-01.
fn ilpa(builder: &mut Builder) {
    admit(builder, "sf-a", "ai-robotics", "GP A");
    let subfund = || "sf-a".parse().unwrap();
    builder.fund("2021-01-01T00:00:00Z", Event::MarketCommitted(MarketCommitted { subfund: subfund(), investor: text("LP"), amount_cents: Money::hkd(2_400) }));
    builder.fund("2021-01-01T00:00:00Z", Event::GovernmentCommitted(GovernmentCommitted { subfund: subfund(), amount_cents: Money::hkd(800) }));
    builder.fund("2021-01-01T00:00:00Z", Event::CapitalCalled(CapitalCalled { subfund: subfund(), reference: text("call 1"), amount_cents: Money::hkd(700) }));
    builder.fund("2021-01-01T00:00:00Z", Event::FeeCharged(FeeCharged { subfund: subfund(), period: text("2021"), amount_cents: Money::hkd(20) }));
    builder.fund("2022-01-01T00:00:00Z", Event::Distributed(Distributed { subfund: subfund(), amount_cents: Money::hkd(540), recallable: false }));
    builder
        .fund("2023-01-02T00:00:00Z", Event::NavReported(NavReported { subfund: subfund(), as_of: "2023-01-01".parse().unwrap(), nav_cents: Money::hkd(480) }));
}

fn open(directory: &tempfile::TempDir, name: &str) -> Arc<Store> {
    Arc::new(Store::open(&directory.path().join(name), &LedgerId::parse("t").unwrap()).unwrap())
}

fn project(store: &Arc<Store>, deliveries: &[Delivered], chunk: usize, durability: Durability) {
    let mut applier = Applier::new(store.clone()).unwrap();
    for part in deliveries.chunks(chunk) {
        applier.apply(part, durability).unwrap();
    }
    if durability == Durability::Bulk {
        applier.flush().unwrap();
    }
}

#[test]
fn ilpa_check_and_irr_through_the_read_models() {
    let mut builder = Builder::new();
    ilpa(&mut builder);
    let directory = tempfile::tempdir().unwrap();
    let store = open(&directory, "models");
    project(&store, &builder.deliveries(), 1000, Durability::Logged);
    let reader = store.reader().unwrap();
    let query = Query::new(&reader, None).unwrap();
    let view = query::subfund(&query, "sf-a").unwrap();
    let figures = &view.figures;
    assert_eq!(figures.committed_cents, Money::hkd(800));
    assert_eq!(figures.paid_in_cents, Money::hkd(720));
    assert_eq!(figures.uncalled_cents, Money::hkd(80));
    assert_eq!(figures.distributed_cents, Money::hkd(540));
    assert_eq!(figures.nav_cents, Money::hkd(480));
    assert_eq!(figures.multiples.dpi.display, "0.75x");
    assert_eq!(figures.multiples.rvpi.display, "0.67x");
    assert_eq!(figures.multiples.tvpi.display, "1.42x");
    // -720 + 540 / (1 + r) + 480 / (1 + r)^2 = 0: with x = 1 / (1 + r),
    // 480x^2 + 540x - 720 = 0, x = (-540 + sqrt(540^2 + 4 * 480 * 720)) / 960.
    let x = (-540.0 + (540.0f64 * 540.0 + 4.0 * 480.0 * 720.0).sqrt()) / 960.0;
    let expected = 1.0 / x - 1.0;
    let rate = figures.irr.rate.unwrap();
    assert!((rate - expected).abs() < 1e-9, "IRR {rate} vs {expected}");
    assert_eq!(figures.irr.display, "27.35%");
    // Government share 800 / 3200 = 25%: at the maximum, allowed.
    assert_eq!(view.government_share.share.bps, Some(2500));
    assert_eq!(view.government_share.met, Some(true));
    // The fund totals are the sub-fund's; its theme line too.
    let fund = query::fund(&query, "itf").unwrap();
    assert_eq!(fund.totals.multiples.tvpi.display, "1.42x");
    assert_eq!(fund.uncommitted_capital_cents, Money::hkd(10_000_000_000 - 800));
    let theme = fund.by_theme.iter().find(|line| line.key == "ai-robotics").unwrap();
    assert_eq!(theme.figures.paid_in_cents, Money::hkd(720));
    assert_eq!(fund.by_gp.len(), 1);
}

/// A scenario touching every event type the models follow.
fn scenario(builder: &mut Builder) {
    ilpa(builder);
    admit(builder, "sf-b", "semiconductors", "GP B");
    let b = || "sf-b".parse().unwrap();
    builder.fund("2021-02-01T00:00:00Z", Event::MarketCommitted(MarketCommitted { subfund: b(), investor: text("LP 2"), amount_cents: Money::hkd(3_000) }));
    builder.fund("2021-02-01T00:00:00Z", Event::GovernmentCommitted(GovernmentCommitted { subfund: b(), amount_cents: Money::hkd(1_000) }));
    builder.fund("2021-03-01T00:00:00Z", Event::CapitalCalled(CapitalCalled { subfund: b(), reference: text("c"), amount_cents: Money::hkd(600) }));
    builder.fund("2021-06-01T00:00:00Z", Event::Distributed(Distributed { subfund: b(), amount_cents: Money::hkd(100), recallable: true }));
    for (investment, hk) in [("inv-1", true), ("inv-2", false)] {
        builder.fund(
            "2021-04-01T00:00:00Z",
            Event::Invested(Invested {
                subfund: b(),
                investment: investment.parse().unwrap(),
                investee: text("Co"),
                amount_cents: Money::hkd(1_000),
                hk_enterprise: hk,
                innovation_technology: true,
            }),
        );
    }
    builder.fund("2021-05-01T00:00:00Z", Event::WrittenOff(WrittenOff { subfund: b(), investment: "inv-2".parse().unwrap(), amount_cents: Money::hkd(100) }));
    builder.fund(
        "2021-05-01T00:00:00Z",
        Event::ProductionSpendReported(ProductionSpendReported {
            subfund: b(),
            investment: "inv-1".parse().unwrap(),
            period: text("2021"),
            amount_cents: Money::hkd(1_000),
            spent_on: None,
        }),
    );
    let approve = |builder: &mut Builder, scheme: &str, grant: &str, enterprise: &str, cost: u64, amount: u64| {
        builder.grant(
            "2021-03-01T00:00:00Z",
            Event::GrantApproved(GrantApproved {
                scheme: scheme.parse().unwrap(),
                grant: grant.parse().unwrap(),
                enterprise: enterprise.parse().unwrap(),
                enterprise_name: text("Enterprise Ltd"),
                project: text("Line"),
                approved_cost_cents: Money::hkd(cost),
                grant_cents: Money::hkd(amount),
                duration_months: 12,
                applied_on: None,
                attestations: Vec::new(),
            }),
        )
    };
    approve(builder, "pilot", "p-1", "ent-1", 300_000, 100_000);
    approve(builder, "pilot", "p-2", "ent-1", 300_000, 100_000);
    approve(builder, "pilot", "p-3", "ent-2", 150_000, 50_000);
    approve(builder, "nifs", "n-1", "ent-1", 30_000_000, 10_000_000);
    let spend = |builder: &mut Builder, grant: &str, amount: u64| {
        builder.grant(
            "2021-04-01T00:00:00Z",
            Event::SpendVerified(SpendVerified {
                grant: grant.parse().unwrap(),
                amount_cents: Money::hkd(amount),
                evidence_sha256: EvidenceDigest(sha256(&[grant.as_bytes()])),
            }),
        )
    };
    spend(builder, "p-1", 150_000);
    spend(builder, "p-3", 150_000);
    spend(builder, "n-1", 3_000_000);
    let disburse = |builder: &mut Builder, grant: &str, amount: u64| {
        builder.grant(
            "2021-05-01T00:00:00Z",
            Event::GrantDisbursed(GrantDisbursed { grant: grant.parse().unwrap(), amount_cents: Money::hkd(amount), payment_reference: text("PAY") }),
        )
    };
    disburse(builder, "p-1", 50_000);
    disburse(builder, "p-3", 50_000);
    builder.grant(
        "2021-06-01T00:00:00Z",
        Event::GrantClawedBack(GrantClawedBack { grant: "p-1".parse().unwrap(), amount_cents: Money::hkd(10_000), reason: text("audit"), reason_code: None }),
    );
    builder.grant("2021-07-01T00:00:00Z", Event::GrantClosed(GrantClosed { grant: "p-1".parse().unwrap(), reason: CloseReason::Completed }));
    builder.grant(
        "2021-07-01T00:00:00Z",
        Event::GrantClawedBack(GrantClawedBack {
            grant: "p-1".parse().unwrap(),
            amount_cents: Money::hkd(5_000),
            reason: text("late audit"),
            reason_code: None,
        }),
    );
    builder.grant("2021-08-01T00:00:00Z", Event::GrantCompleted(GrantCompleted { grant: "n-1".parse().unwrap() }));
    disburse(builder, "n-1", 1_000_000);
}

#[test]
fn the_models_agree_with_the_core_state_machine() {
    let mut builder = Builder::new();
    scenario(&mut builder);
    let directory = tempfile::tempdir().unwrap();
    let store = open(&directory, "models");
    project(&store, &builder.deliveries(), 7, Durability::Logged);
    let reader = store.reader().unwrap();
    let query = Query::new(&reader, None).unwrap();
    for (id, core) in builder.core.subfunds() {
        let view = query::subfund(&query, id.as_str()).unwrap();
        let model = &view.model;
        assert_eq!(model.market_committed_cents, core.market_committed, "{id}");
        assert_eq!(model.government_committed_cents, core.government_committed, "{id}");
        assert_eq!(model.paid_in_cents, core.paid_in(), "{id}");
        assert_eq!(view.uncalled_cents, core.uncalled(), "{id}");
        assert_eq!(model.distributed_cents, core.distributed, "{id}");
        assert_eq!(model.recallable_distributed_cents, core.recallable_distributed, "{id}");
        assert_eq!(model.nav_cents, core.nav.as_ref().map(|(_, nav)| *nav), "{id}");
        assert_eq!(
            (model.invested_cents, model.invested_hk_cents, model.written_off_cents, model.production_spend_cents),
            (core.invested, core.invested_hk, core.written_off, core.production_spend),
            "{id}"
        );
        assert_eq!(model.investment_count, core.investment_count);
    }
    for (id, core) in builder.core.schemes() {
        let view = query::scheme(&query, id.as_str()).unwrap();
        assert_eq!(view.committed_cents, core.committed, "{id}");
        assert_eq!(view.disbursed_cents, core.disbursed, "{id}");
        assert_eq!((view.grant_count, view.enterprise_count), (core.grant_count, core.enterprise_count), "{id}");
        for standing in &view.enterprises {
            let core_standing = &builder.core.enterprises()[&(id.clone(), standing.enterprise.clone())];
            assert_eq!(standing.committed_cents, core_standing.committed, "{id} {}", standing.enterprise);
            assert_eq!(standing.open_grant_count, core_standing.open_projects);
            assert_eq!(standing.grant_count, core_standing.projects);
        }
    }
    for (id, core) in builder.core.grants() {
        let view = query::grant(&query, id.as_str()).unwrap();
        assert_eq!(
            (view.model.verified_spend_cents, view.model.disbursed_cents, view.model.clawed_back_cents),
            (core.verified_spend, core.disbursed, core.clawed_back),
            "{id}"
        );
        assert_eq!(view.net_disbursed_cents, core.net_disbursed());
        assert_eq!(format!("{:?}", view.model.status), format!("{:?}", core.status));
    }
    // Pilot: ent-1 holds p-2 (100,000) and p-1's net disbursement after closure (50,000 - 15,000 clawed back):
    // 135,000 of its 250,000 cap, so 115,000 of headroom.
    let pilot = query::scheme(&query, "pilot").unwrap();
    let ent1 = pilot.enterprises.iter().find(|standing| standing.enterprise.as_str() == "ent-1").unwrap();
    assert_eq!(ent1.committed_cents, Money::hkd(135_000));
    assert_eq!(ent1.headroom.enterprise_grant, Some(Money::hkd(115_000)));
    // p-3: 150,000 verified, one third reimbursable = 50,000, all paid: nothing more now.
    let p3 = query::grant(&query, "p-3").unwrap();
    assert_eq!((p3.reimbursable_cents, p3.disbursable_now_cents), (Money::hkd(50_000), Money::ZERO));
    // n-1 pays on completion: 1,000,000 of 1,000,000 reimbursable paid.
    let enterprise = query::enterprise(&query, "ent-1").unwrap();
    assert_eq!(enterprise.schemes.len(), 2);
    // Events by entity: a grant's history, a fund's events include its sub-funds'.
    // p-1: approved, spend verified, disbursed, clawed back, closed, clawed back again.
    assert_eq!(query::grant(&query, "p-1").unwrap().history.len(), 6);
    let fund_events = query::events(&query, &query::EventFilter { fund: Some("itf".to_string()), limit: Some(1000), ..Default::default() }).unwrap();
    let expected = builder
        .records
        .iter()
        .filter(|record| matches!(record.body().event, Event::FundEstablished(_)) || record.body().type_name().starts_with("subfund."))
        .count();
    assert_eq!(fund_events.events.len(), expected);
    let event = query::event(&query, "e-3").unwrap();
    assert_eq!(event.event_type, "scheme.established");
    let report = query::quarterly_report(&query, query::Quarter::parse("2021Q1").unwrap()).unwrap();
    let a = report.subfunds.iter().find(|row| row.subfund.as_str() == "sf-a").unwrap();
    assert_eq!((a.called_in_quarter_cents, a.fees_in_quarter_cents, a.distributed_in_quarter_cents), (Money::hkd(700), Money::hkd(20), Money::ZERO));
    assert_eq!(a.nav_cents, None, "the NAV is dated 2023");
    let csv = query::report_csv(&report);
    assert!(csv.contains("subfund,2021Q1,itf,sf-a,"), "{csv}");
}

#[test]
fn as_of_answers_the_past_exactly() {
    let mut builder = Builder::new();
    ilpa(&mut builder);
    let before_distribution = builder.records.len() as u64 - 2;
    let directory = tempfile::tempdir().unwrap();
    let store = open(&directory, "models");
    project(&store, &builder.deliveries(), 3, Durability::Logged);
    let reader = store.reader().unwrap();
    let past = Query::new(&reader, Some(before_distribution)).unwrap();
    let view = query::subfund(&past, "sf-a").unwrap();
    assert_eq!(view.figures.distributed_cents, Money::ZERO);
    assert_eq!(view.figures.paid_in_cents, Money::hkd(720));
    assert_eq!(past.answer(()).seq, before_distribution);
    assert!(query::subfund(&Query::new(&reader, Some(3)).unwrap(), "sf-a").is_err(), "not admitted yet");
    assert!(matches!(Query::new(&reader, Some(10_000)), Err(query::QueryError::AsOfAhead { .. })));
}

#[test]
fn batching_and_durability_do_not_change_a_byte() {
    let mut builder = Builder::new();
    scenario(&mut builder);
    let deliveries = builder.deliveries();
    let directory = tempfile::tempdir().unwrap();
    let one_by_one = open(&directory, "one");
    project(&one_by_one, &deliveries, 1, Durability::Logged);
    let bulk = open(&directory, "bulk");
    project(&bulk, &deliveries, 4096, Durability::Bulk);
    // Redelivered, overlapping and out-of-order chunks: each record applied exactly once.
    let messy = open(&directory, "messy");
    let mut applier = Applier::new(messy.clone()).unwrap();
    applier.apply(&deliveries[..10], Durability::Logged).unwrap();
    let outcome = applier.apply(&deliveries[5..20], Durability::Logged).unwrap();
    assert_eq!((outcome.applied, outcome.skipped), (10, 5));
    let gap = applier.apply(&deliveries[25..], Durability::Logged).unwrap();
    assert_eq!(gap.applied, 0, "a delivery after a gap is not applied");
    applier.apply(&deliveries, Durability::Logged).unwrap();
    assert_eq!(applier.position().seq, deliveries.len() as u64);
    let expected = one_by_one.dump().unwrap();
    assert_eq!(bulk.dump().unwrap(), expected);
    assert_eq!(messy.dump().unwrap(), expected);
    // Reopened, the projection resumes where it was and applies nothing twice.
    drop(applier);
    let mut again = Applier::new(messy.clone()).unwrap();
    assert_eq!(again.apply(&deliveries, Durability::Logged).unwrap().applied, 0);
    assert_eq!(messy.dump().unwrap(), expected);
}

#[test]
fn two_appliers_sharing_a_store_never_double_apply() {
    let mut builder = Builder::new();
    scenario(&mut builder);
    let deliveries = builder.deliveries();
    let directory = tempfile::tempdir().unwrap();
    let reference = open(&directory, "reference");
    project(&reference, &deliveries, 64, Durability::Logged);
    let shared = open(&directory, "shared");
    let mut first = Applier::new(shared.clone()).unwrap();
    let mut second = Applier::new(shared.clone()).unwrap();
    for (index, chunk) in deliveries.chunks(3).enumerate() {
        // Both see every chunk, in turns; the one behind must catch up from the store.
        let (a, b) = if index % 2 == 0 { (&mut first, &mut second) } else { (&mut second, &mut first) };
        a.apply(chunk, Durability::Logged).unwrap();
        b.apply(chunk, Durability::Logged).unwrap();
    }
    assert_eq!(shared.dump().unwrap(), reference.dump().unwrap());
}

#[test]
fn a_broken_chain_or_changed_record_stops_the_projection() {
    let mut builder = Builder::new();
    ilpa(&mut builder);
    let mut deliveries = builder.deliveries();
    let directory = tempfile::tempdir().unwrap();
    // A changed byte: the stated hash no longer matches.
    let store = open(&directory, "changed");
    let original = String::from_utf8(deliveries[9].payload.to_vec()).unwrap();
    let changed = original.replace("\"amount_cents\":", "\"amount_cents\":1");
    assert_ne!(changed, original);
    let mut tampered = deliveries.clone();
    tampered[9].payload = changed.into_bytes().into();
    let mut applier = Applier::new(store.clone()).unwrap();
    let error = applier.apply(&tampered, Durability::Logged).unwrap_err();
    assert!(matches!(&error, ProjectorError::Projection(failure) if failure.seq() == 10), "{error}");
    assert_eq!(store.position().unwrap().seq, 9, "the records before the bad one are committed");
    // A record of another chain at the right sequence: the link is refused.
    let mut other = Builder::new();
    let operator = other.operator.clone();
    for label in ["x", "y"] {
        other.add_by(
            "2021-01-01T00:00:00Z",
            Event::KeyRegistered(KeyRegistered { key: SecretKey::from_seed_label(label).key_id(), holder: text(label) }),
            &operator,
        );
    }
    deliveries.truncate(9);
    let store = open(&directory, "forked");
    let mut applier = Applier::new(store.clone()).unwrap();
    applier.apply(&deliveries, Durability::Logged).unwrap();
    let forked_record = other.records[9].clone();
    assert_eq!(forked_record.seq, 10);
    let error = applier.apply(&[Delivered { seq: 10, payload: forked_record.to_json().into() }], Durability::Logged).unwrap_err();
    assert!(error.to_string().contains("links to previous hash"), "{error}");
    assert_eq!(store.position().unwrap().seq, 9);
}

#[test]
fn models_of_another_layout_version_are_refused_with_the_fix() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("models");
    let ledger = LedgerId::parse("t").unwrap();
    drop(Store::open(&path, &ledger).unwrap());
    {
        // As a build before layout version 2 (JSON versions) left it.
        let db = rocksdb::DB::open_default(&path).unwrap();
        db.put(fundledger_projector::keys::FORMAT, b"1").unwrap();
    }
    let error = Store::open(&path, &ledger).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, fundledger_projector::StoreError::Format { .. }), "{text}");
    let expected = format!("has layout version 1, this build uses {}; run `fundledger rebuild`", fundledger_projector::keys::FORMAT_VERSION);
    assert!(text.contains(&expected), "{text}");
}
