//! The read models show the core's figures (issue 19, item 7): random
//! ledgers are built with the core's state machine (every event the core
//! refuses is left out, as the writer would), projected into a store, and
//! every figure a rule uses is read back through the query API and compared
//! with what the core computes over its own state: each grant's position
//! (net eligible spend, reimbursable, schedule, ceiling, disbursable now,
//! overpaid, forfeited, undisbursed), each enterprise's headroom over its
//! group under the terms in force, each sub-fund's compliance figures and
//! the programme's size.

use std::sync::Arc;

use proptest::prelude::*;

use fundledger_core::chain::ChainState;
use fundledger_core::crypto::{sha256, SecretKey};
use fundledger_core::event::*;
use fundledger_core::id::{EnterpriseId, EventId, GrantId, LedgerId};
use fundledger_core::ledger::Ledger;
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::{Record, SignedEvent};
use fundledger_core::time::{civil_from_days, days_from_civil, Date, Timestamp};
use fundledger_projector::query::{self, Query};
use fundledger_projector::{Applier, Delivered, Durability, Store};

/// Random operations per ledger, at most.
const OPERATIONS_MAX: usize = 80;
/// Ledgers tried per run (each is projected into its own RocksDB store).
const CASES: u32 = 64;
const SCHEMES: [&str; 3] = ["capped", "concurrent", "scheduled"];
const ENTERPRISES: u8 = 4;

fn text(value: &str) -> Text {
    Text::parse(value).unwrap()
}

fn digest(label: &str) -> EvidenceDigest {
    EvidenceDigest(sha256(&[label.as_bytes()]))
}

fn date(day: i64) -> Date {
    let (year, month, day) = civil_from_days(days_from_civil(2021, 1, 1) + day);
    format!("{year:04}-{month:02}-{day:02}").parse().unwrap()
}

/// Authors events, keeps those the core accepts and seals them into records.
struct Ledgerbook {
    ledger: LedgerId,
    chain: ChainState,
    core: Ledger,
    records: Vec<Record>,
    operator: SecretKey,
    manager: SecretKey,
    officers: [SecretKey; 2],
    day: i64,
}

impl Ledgerbook {
    fn new() -> Ledgerbook {
        let ledger = LedgerId::parse("t").unwrap();
        let mut book = Ledgerbook {
            chain: ChainState::new(ledger.clone()),
            ledger,
            core: Ledger::new(),
            records: Vec::new(),
            operator: SecretKey::from_seed_label("f/operator"),
            manager: SecretKey::from_seed_label("f/manager"),
            officers: [SecretKey::from_seed_label("f/officer-1"), SecretKey::from_seed_label("f/officer-2")],
            day: 0,
        };
        let operator = book.operator.clone();
        let genesis = Event::LedgerGenesis(LedgerGenesis { name: text("t"), operator: operator.key_id(), operator_holder: text("op") });
        assert!(book.admin(genesis));
        let fund = FundEstablished {
            subfund_target_size_min_cents: Money::hkd(1_000),
            subfund_committed_size_min_cents: Some(Money::hkd(3_000)),
            programme_size_min_cents: Some(Money::hkd(10_000)),
            ..presets::itif_v1("itf")
        };
        assert!(book.admin(Event::FundEstablished(fund)));
        for scheme in Self::schemes() {
            assert!(book.admin(Event::SchemeEstablished(scheme)));
        }
        let roles = [
            (book.manager.key_id(), Role::FundManager, "fund:itf"),
            (book.officers[0].key_id(), Role::GrantOfficer, "ledger"),
            (book.officers[1].key_id(), Role::GrantOfficer, "ledger"),
        ];
        for (key, role, scope) in roles {
            assert!(book.admin(Event::KeyRegistered(KeyRegistered { key, holder: text("someone") })));
            assert!(book.admin(Event::RoleGranted(RoleChange { key, role, scope: Scope::parse(scope).unwrap() })));
        }
        let admitted = SubFundAdmitted {
            fund: "itf".parse().unwrap(),
            subfund: "sf-a".parse().unwrap(),
            name: text("A"),
            theme: "ai-robotics".parse().unwrap(),
            general_partner: text("GP"),
            target_size_cents: Money::hkd(4_000),
            investment_period: Some(Period { starts: date(0), ends: date(40) }),
        };
        assert!(book.manage(Event::SubFundAdmitted(admitted)));
        book
    }

    /// A capped lifetime scheme, a concurrent one paid on completion, and one with a payment schedule.
    fn schemes() -> Vec<SchemeEstablished> {
        let base = |id: &str| presets::matching_scheme(id, id, Money::hkd(1_000_000));
        vec![
            SchemeEstablished {
                project_grant_max_cents: Some(Money::hkd(200_000)),
                enterprise_grant_max_cents: Some(Money::hkd(300_000)),
                enterprise_cap_basis: Some(CapBasis::Lifetime),
                projects_per_enterprise_max: Some(3),
                ..base(SCHEMES[0])
            },
            SchemeEstablished {
                enterprise_grant_max_cents: Some(Money::hkd(300_000)),
                enterprise_cap_basis: Some(CapBasis::Concurrent),
                concurrent_projects_per_enterprise_max: Some(2),
                paid_on_completion: true,
                ..base(SCHEMES[1])
            },
            SchemeEstablished {
                payment_schedule: Some(PaymentSchedule {
                    initial_payment_bps: 2_000,
                    milestone_instalments_bps: vec![3_000, 5_000],
                    instalments_reimburse_spend: true,
                }),
                ..base(SCHEMES[2])
            },
        ]
    }

    /// Adds `event` signed by `signers` if the core accepts it; returns whether it did.
    fn try_add(&mut self, event: Event, signers: &[&SecretKey]) -> bool {
        let id = EventId::parse(&format!("e-{}", self.records.len() + 1)).unwrap();
        let (year, month, day) = civil_from_days(days_from_civil(2021, 1, 1) + self.day);
        let at = Timestamp::parse(&format!("{year:04}-{month:02}-{day:02}T00:00:00Z")).unwrap();
        let signed = SignedEvent::author(&self.ledger, id, at, event, signers).unwrap();
        let verified = signed.clone().verify().unwrap();
        if self.core.apply(&verified).is_err() {
            return false;
        }
        let record = self.chain.seal_next(Timestamp::parse("2026-01-01T00:00:00Z").unwrap(), signed);
        self.chain.append(&record, |_, _| {}).unwrap();
        self.records.push(record);
        true
    }

    fn admin(&mut self, event: Event) -> bool {
        let operator = self.operator.clone();
        self.try_add(event, &[&operator])
    }
    fn manage(&mut self, event: Event) -> bool {
        let manager = self.manager.clone();
        self.try_add(event, &[&manager])
    }
    fn officers(&mut self, event: Event) -> bool {
        let [one, two] = self.officers.clone();
        self.try_add(event, &[&one, &two])
    }

    fn grants(&self) -> Vec<GrantId> {
        self.core.grants().keys().cloned().collect()
    }

    /// One random operation: `kind` picks it, the rest pick its subject and amount.
    fn operate(&mut self, kind: u8, pick: u8, other: u8, amount: u64) {
        self.day += 1;
        let grants = self.grants();
        let grant = (!grants.is_empty()).then(|| grants[pick as usize % grants.len()].clone());
        let enterprise = |number: u8| -> EnterpriseId { format!("ent-{}", number % ENTERPRISES).parse().unwrap() };
        let cents = Money::from_cents(amount).unwrap();
        match (kind % 13, grant) {
            (0 | 1, _) => {
                let number = self.records.len();
                let scheme = SCHEMES[pick as usize % SCHEMES.len()];
                let grant_cents = Money::from_cents(amount % 30_000_000 + 100).unwrap();
                let approved = GrantApproved {
                    scheme: scheme.parse().unwrap(),
                    grant: format!("g-{number}").parse().unwrap(),
                    enterprise: enterprise(other),
                    enterprise_name: text("Enterprise Ltd"),
                    project: text("Line"),
                    approved_cost_cents: Money::from_cents(grant_cents.cents() * 3).unwrap(),
                    grant_cents,
                    duration_months: 12,
                    applied_on: None,
                    attestations: Vec::new(),
                };
                self.officers(Event::GrantApproved(approved));
            }
            (2 | 3, Some(grant)) => {
                let evidence = digest(&format!("spend {}", self.records.len()));
                self.officers(Event::SpendVerified(SpendVerified { grant, amount_cents: cents, evidence_sha256: evidence }));
            }
            (4, Some(grant)) => {
                let used: Vec<EvidenceDigest> = self.core.evidence().iter().filter(|(_, used)| used.grant == grant).map(|(digest, _)| *digest).collect();
                if let Some(evidence) = used.get(other as usize % used.len().max(1)) {
                    let supported = &self.core.evidence()[evidence];
                    let left = supported.amount.saturating_sub(supported.disallowed);
                    let amount = if other.is_multiple_of(2) { Money::from_cents(left.cents() / 2 + 1).unwrap() } else { cents };
                    let data = SpendDisallowed { grant, amount_cents: amount, reason: DisallowanceReason::IneligibleItem, evidence_sha256: *evidence };
                    self.officers(Event::SpendDisallowed(data));
                }
            }
            (5 | 6, Some(grant)) => {
                let payable = self.core.grant_position(&grant).map(|position| position.disbursable_now).unwrap_or(Money::ZERO);
                let amount = if other.is_multiple_of(3) { cents } else { payable };
                self.officers(Event::GrantDisbursed(GrantDisbursed { grant, amount_cents: amount, payment_reference: text("PAY") }));
            }
            (7, Some(grant)) => {
                let codes = [
                    None,
                    Some(ClawbackReason::IneligibleSpend),
                    Some(ClawbackReason::Overpayment),
                    Some(ClawbackReason::BreachOfConditions),
                    Some(ClawbackReason::Termination),
                ];
                let position = self.core.grant_position(&grant);
                let amount = match position {
                    Some(position) if other.is_multiple_of(2) && !position.overpaid.is_zero() => position.overpaid,
                    _ => cents,
                };
                let data = GrantClawedBack { grant, amount_cents: amount, reason: text("audit"), reason_code: codes[other as usize % codes.len()] };
                self.officers(Event::GrantClawedBack(data));
            }
            (8, Some(grant)) => {
                let milestone = self.core.grants()[&grant].milestones_accepted + 1;
                self.officers(Event::MilestoneAccepted(MilestoneAccepted {
                    grant,
                    milestone,
                    evidence_sha256: digest(&format!("milestone {}", self.records.len())),
                }));
            }
            (9, Some(grant)) => {
                let event = if other.is_multiple_of(2) {
                    Event::GrantCompleted(GrantCompleted { grant })
                } else {
                    Event::GrantClosed(GrantClosed { grant, reason: CloseReason::Completed })
                };
                self.officers(event);
            }
            (10, _) => {
                let data = EnterprisesAssociated {
                    enterprises: vec![enterprise(pick), enterprise(other)],
                    basis: text("common owner"),
                    evidence_sha256: digest("owner"),
                };
                self.officers(Event::EnterprisesAssociated(data));
            }
            (11, _) => {
                let amended = SchemeAmended {
                    budget_top_up_cents: other.is_multiple_of(2).then(|| Money::from_cents(amount % 10_000_000).unwrap()),
                    project_grant_max_cents: other.is_multiple_of(3).then(|| Money::from_cents(amount % 30_000_000 + 1).unwrap()),
                    enterprise_grant_max_cents: other.is_multiple_of(5).then(|| Money::from_cents(amount % 40_000_000 + 1).unwrap()),
                    projects_per_enterprise_max: other.is_multiple_of(7).then_some(other as u32 % 4 + 1),
                    ..SchemeAmended::new(SCHEMES[pick as usize % SCHEMES.len()].parse().unwrap(), date(self.day + other as i64 % 5), text("amended"))
                };
                self.admin(Event::SchemeAmended(amended));
            }
            (12, _) => self.fund_operation(pick, other, cents),
            _ => {}
        }
    }

    fn fund_operation(&mut self, pick: u8, other: u8, cents: Money) {
        let subfund: fundledger_core::id::SubFundId = "sf-a".parse().unwrap();
        let event = match pick % 4 {
            0 => Event::MarketCommitted(MarketCommitted { subfund, investor: text("LP"), amount_cents: cents }),
            1 => Event::GovernmentCommitted(GovernmentCommitted { subfund, amount_cents: cents }),
            2 => Event::Invested(Invested {
                subfund,
                investment: format!("inv-{}", self.records.len()).parse().unwrap(),
                investee: text("Investee"),
                amount_cents: cents,
                hk_enterprise: other.is_multiple_of(2),
                innovation_technology: true,
            }),
            _ => {
                let investments: Vec<_> = self.core.investments().keys().cloned().collect();
                let Some(investment) = investments.get(other as usize % investments.len().max(1)).cloned() else { return };
                let spent_on = (!other.is_multiple_of(5)).then(|| date(other as i64 % 80));
                Event::ProductionSpendReported(ProductionSpendReported { subfund, investment, period: text("period"), amount_cents: cents, spent_on })
            }
        };
        self.manage(event);
    }

    fn deliveries(&self) -> Vec<Delivered> {
        self.records.iter().map(|record| Delivered { seq: record.seq, payload: record.to_json().into() }).collect()
    }
}

/// Projects the ledger and compares every figure the query API shows with the core's.
fn compare(book: &Ledgerbook) {
    let directory = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&directory.path().join("models"), &book.ledger).unwrap());
    let mut applier = Applier::new(store.clone()).unwrap();
    applier.apply(&book.deliveries(), Durability::Logged).unwrap();
    let reader = store.reader().unwrap();
    let query = Query::new(&reader, None).unwrap();
    let core = &book.core;
    for id in core.grants().keys() {
        let view = query::grant(&query, id.as_str()).unwrap();
        assert_eq!(Some(view.position.clone()), core.grant_position(id), "grant {id}");
        assert_eq!((view.disbursable_now_cents, view.undisbursed_cents), (view.position.disbursable_now, view.position.undisbursed));
    }
    let on = book.records.last().unwrap().body().occurred_at.date();
    for id in core.schemes().keys() {
        let view = query::scheme(&query, id.as_str()).unwrap();
        assert_eq!((view.budget_cents, view.committed_cents), (core.schemes()[id].budget(), core.schemes()[id].committed), "scheme {id}");
        for standing in &view.enterprises {
            assert_eq!(Some(standing.headroom.clone()), core.headroom(id, &standing.enterprise, &on), "headroom of {} in {id}", standing.enterprise);
        }
    }
    for id in core.subfunds().keys() {
        let view = query::subfund(&query, id.as_str()).unwrap();
        let figures = core.subfund_compliance(id).unwrap();
        let shown = [&view.government_share, &view.hk_enterprise_share, &view.hk_production_spend];
        let computed = [&figures.government_share, &figures.hk_enterprise_share, &figures.hk_production_spend];
        for (shown, computed) in shown.into_iter().zip(computed) {
            assert_eq!(
                (shown.met, shown.bound_bps, shown.share.part_cents, shown.share.whole_cents),
                (computed.met, computed.bound_bps, computed.part.cents(), computed.whole.cents()),
                "sub-fund {id}"
            );
        }
        assert_eq!(view.hk_production_spend_target_cents, figures.hk_production_spend.target());
        assert_eq!(view.committed_size_min_met, figures.committed_size_min_met);
    }
    let fund = query::fund(&query, "itf").unwrap();
    assert_eq!(Some(fund.programme_size), core.programme_size(&"itf".parse().unwrap()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn the_query_api_shows_the_cores_figures(operations in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), 0u64..40_000_000), 1..OPERATIONS_MAX)) {
        let mut book = Ledgerbook::new();
        for (kind, pick, other, amount) in operations {
            book.operate(kind, pick, other, amount);
        }
        compare(&book);
    }
}

/// A fixed ledger that reaches every operation, so the comparison never passes for want of events.
#[test]
fn a_ledger_with_every_new_event_shows_the_cores_figures() {
    let mut book = Ledgerbook::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..600 {
        let before = book.records.len();
        let draw = next();
        book.operate(draw as u8, (draw >> 8) as u8, (draw >> 16) as u8, (draw >> 24) % 40_000_000);
        if book.records.len() > before {
            seen.insert(book.records.last().unwrap().body().type_name().to_string());
        }
    }
    for kind in ["grant.spend_disallowed", "grant.milestone_accepted", "enterprise.associated", "scheme.amended", "grant.clawed_back", "grant.disbursed"] {
        assert!(seen.contains(kind), "the fixed ledger never recorded {kind}: {seen:?}");
    }
    compare(&book);
}
