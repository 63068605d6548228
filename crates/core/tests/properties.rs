//! Property tests over random histories, through the public API only.
//!
//! * Random histories (most events valid, many refused) never break an
//!   invariant of the ledger's state, and a refused event changes nothing.
//!   Among them: random sequences of spend, disallowance, disbursement and
//!   clawback (with and without reasons, with payment schedules and evidence
//!   re-used on purpose) never pay a grant more than the approved grant, and
//!   no event but a disallowance ever makes a grant more overpaid than it was
//!   (net disbursement plus forfeited money above the government's share of
//!   net eligible spend and the schedule), so nothing is paid twice.
//! * Replaying a history is deterministic, and refused events are invisible.
//! * Any single-byte change to any stored record of a history is detected by
//!   a verifier at that record or earlier.

use fundledger_core::chain::ChainState;
use fundledger_core::crypto::sha256;
use fundledger_core::crypto::SecretKey;
use fundledger_core::event::*;
use fundledger_core::id::*;
use fundledger_core::ledger::{GrantStatus, Ledger};
use fundledger_core::money::Money;
use fundledger_core::presets;
use fundledger_core::record::{Record, SignedEvent, VerifiedEvent};
use fundledger_core::time::{Date, Timestamp};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------
// The world the histories run in.

const LEDGER: &str = "prop";
const FUNDS: [&str; 2] = ["itf", "small"];
/// Admitted at setup: sf-* in the ITIF, sm-* in the small fund; sx-* only by random events.
const SUBFUNDS: [&str; 7] = ["sf-0", "sf-1", "sm-0", "sm-1", "sm-2", "sx-0", "sx-1"];
const SCHEMES: [&str; 5] = ["pilot", "nifs", "nias", "tiny", "tinyc"];
const ENTERPRISES: usize = 3;

struct Keys {
    admin: SecretKey,
    /// Fund manager for both funds.
    manager: SecretKey,
    /// Fund manager at ledger scope; it may be revoked by a random event.
    manager_two: SecretKey,
    /// Grant officer at ledger scope.
    officer: SecretKey,
    /// Grant officer for the tiny schemes only; it may be revoked by a random event.
    officer_two: SecretKey,
}

fn keys() -> Keys {
    Keys {
        admin: SecretKey::from_seed_label("prop-admin"),
        manager: SecretKey::from_seed_label("prop-manager"),
        manager_two: SecretKey::from_seed_label("prop-manager-two"),
        officer: SecretKey::from_seed_label("prop-officer"),
        officer_two: SecretKey::from_seed_label("prop-officer-two"),
    }
}

fn text(value: &str) -> Text {
    Text::parse(value).unwrap()
}
fn hkd(dollars: u64) -> Money {
    Money::hkd(dollars)
}
fn cents(cents: u64) -> Money {
    Money::from_cents(cents).unwrap()
}
fn sf(index: usize) -> SubFundId {
    SubFundId::parse(SUBFUNDS[index % SUBFUNDS.len()]).unwrap()
}

/// Which sub-fund, investment or grant an operation is about: mostly one
/// that exists at that point of the history, sometimes one that does not.
#[derive(Clone, Copy, Debug)]
struct Pick {
    existing: bool,
    index: Index,
}

fn pick() -> impl Strategy<Value = Pick> {
    (prop::bool::weighted(0.92), any::<Index>()).prop_map(|(existing, index)| Pick { existing, index })
}

impl Pick {
    fn among<K: Clone>(self, existing: Vec<&K>, missing: impl FnOnce(usize) -> K) -> K {
        if self.existing && !existing.is_empty() {
            existing[self.index.index(existing.len())].clone()
        } else {
            missing(self.index.index(3))
        }
    }
    fn subfund(self, ledger: &Ledger) -> SubFundId {
        self.among(ledger.subfunds().keys().collect(), |i| SubFundId::parse(&format!("sf-missing-{i}")).unwrap())
    }
    fn investment(self, ledger: &Ledger) -> InvestmentId {
        self.among(ledger.investments().keys().collect(), |i| InvestmentId::parse(&format!("inv-missing-{i}")).unwrap())
    }
    fn grant(self, ledger: &Ledger) -> GrantId {
        self.among(ledger.grants().keys().collect(), |i| GrantId::parse(&format!("g-missing-{i}")).unwrap())
    }
    /// A grant that is not closed, if there is one.
    fn open_grant(self, ledger: &Ledger) -> GrantId {
        let open: Vec<&GrantId> = ledger.grants().iter().filter(|(_, grant)| grant.status != GrantStatus::Closed).map(|(id, _)| id).collect();
        if open.is_empty() || !self.existing {
            self.grant(ledger)
        } else {
            open[self.index.index(open.len())].clone()
        }
    }
}

/// A small fund and small schemes, so random amounts hit every limit often.
fn small_fund() -> FundEstablished {
    FundEstablished {
        // Less than its three sub-funds' caps together.
        government_capital_cents: hkd(4_000),
        government_commitment_per_subfund_max_cents: hkd(2_000),
        subfund_target_size_min_cents: hkd(1_000),
        dual_control_threshold_cents: hkd(1_500),
        // The government commits last, once a sub-fund reaches HK$5,000.
        subfund_committed_size_min_cents: Some(hkd(5_000)),
        programme_size_min_cents: Some(hkd(20_000)),
        dual_control: vec![DualControlRule { kind: DualControlKind::GovernmentCommitment, threshold_cents: hkd(1_500) }],
        ..presets::itif("small")
    }
}

/// Small caps; the per-enterprise cap counts open projects only (concurrent).
fn tiny_scheme(id: &str) -> SchemeEstablished {
    SchemeEstablished {
        project_grant_max_cents: Some(hkd(3_000)),
        enterprise_grant_max_cents: Some(hkd(5_000)),
        project_cost_min_cents: Some(hkd(300)),
        enterprise_contribution_min_cents: Some(hkd(200)),
        projects_per_enterprise_max: Some(4),
        concurrent_projects_per_enterprise_max: Some(2),
        project_duration_months_max: Some(36),
        paid_on_completion: false,
        dual_control_threshold_cents: hkd(2_000),
        enterprise_cap_basis: Some(CapBasis::Concurrent),
        ..presets::matching_scheme(id, id, hkd(10_000))
    }
}

/// 1:1, paid on completion, no caps but the budget; an initial payment and
/// two milestone instalments, bounded by reimbursement.
fn tinyc_scheme() -> SchemeEstablished {
    SchemeEstablished {
        payment_schedule: Some(PaymentSchedule {
            initial_payment_bps: 1_000,
            milestone_instalments_bps: vec![4_000, 5_000],
            instalments_reimburse_spend: true,
        }),
        government_ratio: 1,
        enterprise_ratio: 1,
        budget_cents: hkd(6_000),
        project_grant_max_cents: None,
        enterprise_grant_max_cents: None,
        project_cost_min_cents: None,
        enterprise_contribution_min_cents: None,
        projects_per_enterprise_max: None,
        concurrent_projects_per_enterprise_max: None,
        project_duration_months_max: None,
        paid_on_completion: true,
        dual_control_threshold_cents: hkd(1_000),
        ..tiny_scheme("tinyc")
    }
}

fn role(key: &SecretKey, role: Role, scope: &str) -> Event {
    Event::RoleGranted(RoleChange { key: key.key_id(), role, scope: Scope::parse(scope).unwrap() })
}

fn admit(fund: &str, subfund: &str, theme: &str, target: Money) -> Event {
    Event::SubFundAdmitted(SubFundAdmitted {
        fund: FundId::parse(fund).unwrap(),
        subfund: SubFundId::parse(subfund).unwrap(),
        name: text(subfund),
        theme: ThemeId::parse(theme).unwrap(),
        general_partner: text("GP Limited"),
        target_size_cents: target,
        investment_period: None,
    })
}

/// The pilot's attestation (harmless elsewhere) and an application date in its window.
fn application() -> (Option<Date>, Vec<Attestation>) {
    (Some(Date::parse("2026-01-01").unwrap()), vec![presets::hk_production_line_attestation(EvidenceDigest(sha256(&[b"line"])))])
}

/// The events every history starts with, and who signs each.
fn setup(keys: &Keys) -> Vec<(Vec<&SecretKey>, Event)> {
    let admin = vec![&keys.admin];
    let manager = vec![&keys.manager];
    let mut events = vec![
        (
            admin.clone(),
            Event::LedgerGenesis(LedgerGenesis { name: text("property ledger"), operator: keys.admin.key_id(), operator_holder: text("operator") }),
        ),
        (admin.clone(), Event::FundEstablished(presets::itif("itf"))),
        (admin.clone(), Event::FundEstablished(small_fund())),
        (admin.clone(), Event::SchemeEstablished(presets::pilot_scheme("pilot"))),
        (admin.clone(), Event::SchemeEstablished(presets::nifs_scheme("nifs", hkd(1_000_000_000)))),
        (admin.clone(), Event::SchemeEstablished(presets::nias_scheme("nias"))),
        (admin.clone(), Event::SchemeAmended(presets::nias_amendment_2025_11_18("nias"))),
        (admin.clone(), Event::SchemeEstablished(tiny_scheme("tiny"))),
        (admin.clone(), Event::SchemeEstablished(tinyc_scheme())),
    ];
    for (key, holder) in [(&keys.manager, "manager"), (&keys.manager_two, "manager two"), (&keys.officer, "officer"), (&keys.officer_two, "officer two")] {
        events.push((admin.clone(), Event::KeyRegistered(KeyRegistered { key: key.key_id(), holder: text(holder) })));
    }
    events.push((admin.clone(), role(&keys.manager, Role::FundManager, "fund:itf")));
    events.push((admin.clone(), role(&keys.manager, Role::FundManager, "fund:small")));
    events.push((admin.clone(), role(&keys.manager_two, Role::FundManager, "ledger")));
    events.push((admin.clone(), role(&keys.officer, Role::GrantOfficer, "ledger")));
    for scheme in ["tiny", "tinyc", "nifs", "nias"] {
        events.push((admin.clone(), role(&keys.officer_two, Role::GrantOfficer, &format!("scheme:{scheme}"))));
    }
    drop(admin);
    events.push((manager.clone(), admit("itf", "sf-0", "ai-robotics", hkd(2_000_000_000))));
    events.push((manager.clone(), admit("itf", "sf-1", "semiconductors", hkd(3_000_000_000))));
    for id in ["sm-0", "sm-1", "sm-2"] {
        events.push((manager.clone(), admit("small", id, "digitalisation", hkd(1_000))));
    }
    events.push((manager.clone(), market_event(sf(0), hkd(3_000_000_000))));
    events.push((vec![&keys.manager, &keys.manager_two], Event::GovernmentCommitted(GovernmentCommitted { subfund: sf(0), amount_cents: hkd(500_000_000) })));
    events.push((manager.clone(), market_event(sf(2), hkd(4_000))));
    events.push((manager.clone(), Event::GovernmentCommitted(GovernmentCommitted { subfund: sf(2), amount_cents: hkd(1_000) })));
    events.push((
        manager,
        Event::Invested(Invested {
            subfund: sf(0),
            investment: InvestmentId::parse("inv-setup").unwrap(),
            investee: text("Investee Limited"),
            amount_cents: hkd(100_000_000),
            hk_enterprise: true,
            innovation_technology: true,
        }),
    ));
    // One grant in each scheme, with some verified spend.
    let officers = vec![&keys.officer, &keys.officer_two];
    for (scheme, cost) in [("pilot", hkd(600_000)), ("nifs", hkd(30_000_000)), ("nias", hkd(300_000_000)), ("tiny", hkd(6_000)), ("tinyc", hkd(4_000))] {
        let grant = GrantId::parse(&format!("g-{scheme}")).unwrap();
        let parts = if scheme == "tinyc" { 2 } else { 3 };
        let signers = if scheme == "pilot" { vec![&keys.officer] } else { officers.clone() };
        let (applied_on, attestations) = application();
        events.push((
            signers,
            Event::GrantApproved(GrantApproved {
                scheme: SchemeId::parse(scheme).unwrap(),
                grant: grant.clone(),
                enterprise: EnterpriseId::parse("ent-0").unwrap(),
                enterprise_name: text("Enterprise Limited"),
                project: text("production line"),
                approved_cost_cents: cost,
                grant_cents: cost.mul_div_floor(1, parts).unwrap(),
                duration_months: 24,
                applied_on,
                attestations,
            }),
        ));
        let evidence = EvidenceDigest(sha256(&[b"setup invoice", grant.as_str().as_bytes()]));
        events.push((
            vec![&keys.officer],
            Event::SpendVerified(SpendVerified { grant, amount_cents: cost.mul_div_floor(1, 2).unwrap(), evidence_sha256: evidence }),
        ));
    }
    events
}

fn market_event(subfund: SubFundId, amount: Money) -> Event {
    Event::MarketCommitted(MarketCommitted { subfund, investor: text("Market LP"), amount_cents: amount })
}

// ---------------------------------------------------------------------------
// Random operations.

/// Who signs: the usual key alone, two keys (dual control), or a key without the role.
#[derive(Clone, Copy, Debug)]
enum Signers {
    One,
    Two,
    Wrong,
}

/// An amount: absolute, or a share of the headroom the rule in question
/// leaves at that point of the history (per mille, plus or minus a cent), so
/// that exact edges and first cents over are common.
#[derive(Clone, Copy, Debug)]
enum Amount {
    Absolute(u64),
    Headroom { per_mille: u64, jitter: i64 },
}

impl Amount {
    fn of(self, headroom: Money) -> Money {
        match self {
            Amount::Absolute(value) => cents(value),
            Amount::Headroom { per_mille, jitter } => {
                let value = headroom.cents() as i128 * per_mille as i128 / 1000 + jitter as i128;
                cents(value.clamp(0, Money::MAX.cents() as i128) as u64)
            }
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Admit {
        fund: usize,
        subfund: usize,
        target: Amount,
    },
    Market {
        subfund: Pick,
        amount: Amount,
    },
    Government {
        subfund: Pick,
        amount: Amount,
    },
    Call {
        subfund: Pick,
        amount: Amount,
        signers: Signers,
    },
    Fee {
        subfund: Pick,
        amount: Amount,
        signers: Signers,
    },
    Distribute {
        subfund: Pick,
        amount: Amount,
        recallable: bool,
    },
    Nav {
        subfund: Pick,
        day: u32,
        amount: Amount,
    },
    /// A new investment, or (when not `fresh`) one whose id may be taken.
    Invest {
        subfund: Pick,
        fresh: bool,
        investment: Pick,
        amount: Amount,
        hk: bool,
        innovation: bool,
    },
    /// Through the investment's own sub-fund when `own` (and it exists), else through `subfund`.
    WriteOff {
        subfund: Pick,
        investment: Pick,
        own: bool,
        amount: Amount,
    },
    Production {
        subfund: Pick,
        investment: Pick,
        own: bool,
        amount: Amount,
    },
    /// The cost is a share of a scale that suits the scheme; the grant a percentage of the cost.
    Approve {
        scheme: usize,
        fresh: bool,
        grant: Pick,
        enterprise: usize,
        cost: Amount,
        percent: u64,
        months: u32,
        signers: Signers,
    },
    /// With fresh evidence, or (when `reuse`) evidence that already supports spend.
    Spend {
        grant: Pick,
        amount: Amount,
        reuse: bool,
        evidence: Index,
    },
    /// Of evidence of the grant's own spend (mostly), within what it supports (mostly).
    Disallow {
        grant: Pick,
        own: bool,
        evidence: Index,
        amount: Amount,
    },
    Milestone {
        grant: Pick,
        skip: bool,
    },
    Complete {
        grant: Pick,
    },
    Disburse {
        grant: Pick,
        amount: Amount,
        signers: Signers,
    },
    /// `reason` 0: none (as before issue 19); 1 to 4: the four reason codes.
    Clawback {
        grant: Pick,
        amount: Amount,
        reason: usize,
    },
    Associate {
        first: usize,
        second: usize,
    },
    Close {
        grant: Pick,
        reason: usize,
    },
    RevokeSecondKeys {
        manager: bool,
    },
}

/// Absolute amounts on several scales (cents, the small fund's and schemes'
/// dollars, the real programmes'), or shares of the headroom, often exactly all of it.
fn amount() -> impl Strategy<Value = Amount> {
    let per_mille = prop_oneof![3 => Just(1000u64), 3 => 0u64..1000, 1 => 1000u64..1200];
    prop_oneof![
        1 => (0u64..=10_000).prop_map(Amount::Absolute),
        1 => (0u64..=600_000).prop_map(Amount::Absolute),
        1 => (0u64..=300_000_000_000).prop_map(Amount::Absolute),
        6 => (per_mille, -1i64..=1).prop_map(|(per_mille, jitter)| Amount::Headroom { per_mille, jitter }),
    ]
}

fn signers() -> impl Strategy<Value = Signers> {
    prop_oneof![6 => Just(Signers::One), 3 => Just(Signers::Two), 1 => Just(Signers::Wrong)]
}

fn op() -> impl Strategy<Value = Op> {
    let fresh = prop::bool::weighted(0.9);
    let own = prop::bool::weighted(0.85);
    prop_oneof![
        1 => (0..FUNDS.len(), 0..SUBFUNDS.len(), amount()).prop_map(|(fund, subfund, target)| Op::Admit { fund, subfund, target }),
        3 => (pick(), amount()).prop_map(|(subfund, amount)| Op::Market { subfund, amount }),
        3 => (pick(), amount()).prop_map(|(subfund, amount)| Op::Government { subfund, amount }),
        4 => (pick(), amount(), signers()).prop_map(|(subfund, amount, signers)| Op::Call { subfund, amount, signers }),
        2 => (pick(), amount(), signers()).prop_map(|(subfund, amount, signers)| Op::Fee { subfund, amount, signers }),
        3 => (pick(), amount(), any::<bool>()).prop_map(|(subfund, amount, recallable)| Op::Distribute { subfund, amount, recallable }),
        1 => (pick(), 0u32..400, amount()).prop_map(|(subfund, day, amount)| Op::Nav { subfund, day, amount }),
        3 => (pick(), fresh, pick(), amount(), any::<bool>(), prop::bool::weighted(0.9)).prop_map(
            |(subfund, fresh, investment, amount, hk, innovation)| Op::Invest { subfund, fresh, investment, amount, hk, innovation }
        ),
        2 => (pick(), pick(), own, amount()).prop_map(|(subfund, investment, own, amount)| Op::WriteOff { subfund, investment, own, amount }),
        1 => (pick(), pick(), own, amount()).prop_map(|(subfund, investment, own, amount)| Op::Production { subfund, investment, own, amount }),
        5 => (0..SCHEMES.len(), fresh, pick(), 0..ENTERPRISES, amount(), 0u64..=40, 1u32..=40, signers()).prop_map(
            |(scheme, fresh, grant, enterprise, cost, percent, months, signers)| Op::Approve { scheme, fresh, grant, enterprise, cost, percent, months, signers }
        ),
        6 => (pick(), amount(), prop::bool::weighted(0.1), any::<Index>()).prop_map(|(grant, amount, reuse, evidence)| Op::Spend { grant, amount, reuse, evidence }),
        3 => (pick(), prop::bool::weighted(0.9), any::<Index>(), amount()).prop_map(|(grant, own, evidence, amount)| Op::Disallow { grant, own, evidence, amount }),
        1 => (pick(), prop::bool::weighted(0.1)).prop_map(|(grant, skip)| Op::Milestone { grant, skip }),
        2 => pick().prop_map(|grant| Op::Complete { grant }),
        7 => (pick(), amount(), signers()).prop_map(|(grant, amount, signers)| Op::Disburse { grant, amount, signers }),
        4 => (pick(), amount(), 0usize..5).prop_map(|(grant, amount, reason)| Op::Clawback { grant, amount, reason }),
        1 => (0..ENTERPRISES + 1, 0..ENTERPRISES + 1).prop_map(|(first, second)| Op::Associate { first, second }),
        1 => (pick(), 0usize..3).prop_map(|(grant, reason)| Op::Close { grant, reason }),
        1 => any::<bool>().prop_map(|manager| Op::RevokeSecondKeys { manager }),
    ]
}

/// Only the operations that move a grant's money: spend (sometimes on
/// evidence already used), disallowance, milestones, disbursement and clawback.
fn money_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..SCHEMES.len(), pick(), 0..ENTERPRISES, amount(), signers()).prop_map(|(scheme, grant, enterprise, cost, signers)| Op::Approve {
            scheme,
            fresh: true,
            grant,
            enterprise,
            cost,
            percent: 0,
            months: 12,
            signers
        }),
        6 => (pick(), amount(), prop::bool::weighted(0.15), any::<Index>()).prop_map(|(grant, amount, reuse, evidence)| Op::Spend { grant, amount, reuse, evidence }),
        4 => (pick(), prop::bool::weighted(0.95), any::<Index>(), amount()).prop_map(|(grant, own, evidence, amount)| Op::Disallow { grant, own, evidence, amount }),
        1 => (pick(), prop::bool::weighted(0.1)).prop_map(|(grant, skip)| Op::Milestone { grant, skip }),
        1 => pick().prop_map(|grant| Op::Complete { grant }),
        8 => (pick(), amount(), signers()).prop_map(|(grant, amount, signers)| Op::Disburse { grant, amount, signers }),
        6 => (pick(), amount(), 0usize..5).prop_map(|(grant, amount, reason)| Op::Clawback { grant, amount, reason }),
        1 => (pick(), 0usize..3).prop_map(|(grant, reason)| Op::Close { grant, reason }),
    ]
}

fn fund_signers(keys: &Keys, signers: Signers) -> Vec<&SecretKey> {
    match signers {
        Signers::One => vec![&keys.manager],
        Signers::Two => vec![&keys.manager, &keys.manager_two],
        Signers::Wrong => vec![&keys.manager, &keys.officer],
    }
}

fn grant_signers(keys: &Keys, signers: Signers) -> Vec<&SecretKey> {
    match signers {
        Signers::One => vec![&keys.officer],
        Signers::Two => vec![&keys.officer, &keys.officer_two],
        Signers::Wrong => vec![&keys.manager],
    }
}

fn less(a: Money, b: Money) -> Money {
    a.saturating_sub(b)
}

/// The event an operation stands for at this point of the history, and who signs it.
fn event_of<'k>(keys: &'k Keys, ledger: &Ledger, op: &Op) -> (Vec<&'k SecretKey>, Event) {
    let manager = vec![&keys.manager];
    let officer = vec![&keys.officer];
    let subfund_at = |id: &SubFundId| ledger.subfunds().get(id);
    let grant_at = |id: &GrantId| ledger.grants().get(id);
    // Where an investment is referred to: its own sub-fund, or any other.
    let through = |investment: &InvestmentId, own: bool, subfund: Pick| match ledger.investments().get(investment) {
        Some(existing) if own => existing.subfund.clone(),
        _ => subfund.subfund(ledger),
    };
    match op.clone() {
        Op::Admit { fund, subfund, target } => {
            let minimum = ledger.funds().get(&FundId::parse(FUNDS[fund]).unwrap()).map_or(Money::ZERO, |f| f.terms.subfund_target_size_min_cents);
            let themes = ["ai-robotics", "life-health"];
            (vec![&keys.manager_two], admit(FUNDS[fund], SUBFUNDS[subfund], themes[subfund % 2], target.of(minimum)))
        }
        Op::Market { subfund, amount } => {
            let id = subfund.subfund(ledger);
            // Enough market money for the government's largest commitment (three times the cap).
            let headroom = subfund_at(&id).map_or(Money::ZERO, |s| {
                let cap = ledger.funds()[&s.terms.fund].terms.government_commitment_per_subfund_max_cents;
                less(cap.mul_div_floor(3, 1).unwrap(), s.market_committed)
            });
            (manager, market_event(id, amount.of(headroom)))
        }
        Op::Government { subfund, amount } => {
            let id = subfund.subfund(ledger);
            // The tightest of the cap, the 25% share (market / 3) and the fund's capital.
            let headroom = subfund_at(&id).map_or(Money::ZERO, |s| {
                let fund = &ledger.funds()[&s.terms.fund];
                let cap = less(fund.terms.government_commitment_per_subfund_max_cents, s.government_committed);
                let share = less(s.market_committed.mul_div_floor(1, 3).unwrap(), s.government_committed);
                let capital = less(fund.terms.government_capital_cents, fund.government_committed);
                cap.min(share).min(capital)
            });
            (manager, Event::GovernmentCommitted(GovernmentCommitted { subfund: id, amount_cents: amount.of(headroom) }))
        }
        Op::Call { subfund, amount, signers } => {
            let id = subfund.subfund(ledger);
            let headroom = subfund_at(&id).map_or(Money::ZERO, |s| s.uncalled());
            (fund_signers(keys, signers), Event::CapitalCalled(CapitalCalled { subfund: id, reference: text("call"), amount_cents: amount.of(headroom) }))
        }
        Op::Fee { subfund, amount, signers } => {
            let id = subfund.subfund(ledger);
            let headroom = subfund_at(&id).map_or(Money::ZERO, |s| s.uncalled());
            (fund_signers(keys, signers), Event::FeeCharged(FeeCharged { subfund: id, period: text("2026Q1"), amount_cents: amount.of(headroom) }))
        }
        Op::Distribute { subfund, amount, recallable } => {
            let id = subfund.subfund(ledger);
            let headroom = subfund_at(&id).map_or(Money::ZERO, |s| if recallable { less(s.paid_in(), s.recallable_distributed) } else { s.paid_in() });
            (manager, Event::Distributed(Distributed { subfund: id, amount_cents: amount.of(headroom), recallable }))
        }
        Op::Nav { subfund, day, amount } => {
            let id = subfund.subfund(ledger);
            let (year, month, day) = fundledger_core::time::civil_from_days(20_454 + day as i64);
            let as_of = Date::parse(&format!("{year:04}-{month:02}-{day:02}")).unwrap();
            let paid_in = subfund_at(&id).map_or(Money::ZERO, |s| s.paid_in());
            (manager, Event::NavReported(NavReported { subfund: id, as_of, nav_cents: amount.of(paid_in) }))
        }
        Op::Invest { subfund, fresh, investment, amount, hk, innovation } => {
            let id = subfund.subfund(ledger);
            let investment = if fresh { InvestmentId::parse(&format!("inv-{}", ledger.investments().len())).unwrap() } else { investment.investment(ledger) };
            let headroom = subfund_at(&id).map_or(Money::ZERO, |s| less(s.committed_size(), s.invested));
            (
                manager,
                Event::Invested(Invested {
                    subfund: id,
                    investment,
                    investee: text("Investee Limited"),
                    amount_cents: amount.of(headroom),
                    hk_enterprise: hk,
                    innovation_technology: innovation,
                }),
            )
        }
        Op::WriteOff { subfund, investment, own, amount } => {
            let investment = investment.investment(ledger);
            let headroom = ledger.investments().get(&investment).map_or(Money::ZERO, |i| less(i.cost, i.written_off));
            let subfund = through(&investment, own, subfund);
            (manager, Event::WrittenOff(WrittenOff { subfund, investment, amount_cents: amount.of(headroom) }))
        }
        Op::Production { subfund, investment, own, amount } => {
            let investment = investment.investment(ledger);
            let cost = ledger.investments().get(&investment).map_or(Money::ZERO, |i| i.cost);
            let subfund = through(&investment, own, subfund);
            (
                manager,
                Event::ProductionSpendReported(ProductionSpendReported {
                    subfund,
                    investment,
                    period: text("2026"),
                    amount_cents: amount.of(cost),
                    spent_on: None,
                }),
            )
        }
        Op::Approve { scheme, fresh, grant, enterprise, cost, percent, months, signers } => {
            let scale = [hkd(900_000), hkd(50_000_000), hkd(700_000_000), hkd(10_000), hkd(7_000)][scheme];
            let cost = cost.of(scale);
            // Percent 0 stands for exactly the government's share; above it the grant is too large.
            let parts = if SCHEMES[scheme] == "tinyc" { 2 } else { 3 };
            let amount = if percent == 0 { cost.mul_div_floor(1, parts) } else { cost.mul_div_floor(percent, 100) }.unwrap();
            let grant = if fresh { GrantId::parse(&format!("g-{}", ledger.grants().len())).unwrap() } else { grant.grant(ledger) };
            let (applied_on, attestations) = application();
            (
                grant_signers(keys, signers),
                Event::GrantApproved(GrantApproved {
                    scheme: SchemeId::parse(SCHEMES[scheme]).unwrap(),
                    grant,
                    enterprise: EnterpriseId::parse(&format!("ent-{enterprise}")).unwrap(),
                    enterprise_name: text("Enterprise Limited"),
                    project: text("production line"),
                    approved_cost_cents: cost,
                    grant_cents: amount,
                    duration_months: months,
                    applied_on,
                    attestations,
                }),
            )
        }
        Op::Spend { grant, amount, reuse, evidence } => {
            let grant = grant.open_grant(ledger);
            let headroom = grant_at(&grant).map_or(Money::ZERO, |g| less(g.approved_cost, g.verified_spend));
            let used: Vec<&EvidenceDigest> = ledger.evidence().keys().collect();
            let evidence = if reuse && !used.is_empty() {
                *used[evidence.index(used.len())]
            } else {
                // Unused: accepted spends always add one piece of evidence.
                EvidenceDigest(sha256(&[b"prop invoice", &(ledger.evidence().len() as u64).to_be_bytes()]))
            };
            (officer, Event::SpendVerified(SpendVerified { grant, amount_cents: amount.of(headroom), evidence_sha256: evidence }))
        }
        Op::Disallow { grant, own, evidence, amount } => {
            let grant = grant.grant(ledger);
            let pieces: Vec<(&EvidenceDigest, Money)> = ledger
                .evidence()
                .iter()
                .filter(|(_, used)| (used.grant == grant) == own)
                .map(|(digest, used)| (digest, less(used.amount, used.disallowed)))
                .collect();
            let (digest, headroom) = if pieces.is_empty() {
                (EvidenceDigest(sha256(&[b"never used"])), Money::ZERO)
            } else {
                let (digest, left) = pieces[evidence.index(pieces.len())];
                (*digest, left)
            };
            let reason = DisallowanceReason::IneligibleItem;
            (officer, Event::SpendDisallowed(SpendDisallowed { grant, amount_cents: amount.of(headroom), reason, evidence_sha256: digest }))
        }
        Op::Milestone { grant, skip } => {
            let grant = grant.open_grant(ledger);
            let next = grant_at(&grant).map_or(1, |g| g.milestones_accepted + 1 + u32::from(skip));
            (officer, Event::MilestoneAccepted(MilestoneAccepted { grant, milestone: next, evidence_sha256: EvidenceDigest(sha256(&[b"milestone"])) }))
        }
        Op::Associate { first, second } => {
            let enterprises = vec![EnterpriseId::parse(&format!("ent-{first}")).unwrap(), EnterpriseId::parse(&format!("ent-{second}")).unwrap()];
            (
                officer,
                Event::EnterprisesAssociated(EnterprisesAssociated {
                    enterprises,
                    basis: text("common owner"),
                    evidence_sha256: EvidenceDigest(sha256(&[b"register"])),
                }),
            )
        }
        Op::Complete { grant } => (officer, Event::GrantCompleted(GrantCompleted { grant: grant.open_grant(ledger) })),
        Op::Disburse { grant, amount, signers } => {
            let grant = grant.open_grant(ledger);
            // What the rules allow now, or (paid on completion, not completed) what they would.
            let headroom = ledger.grant_position(&grant).map_or(Money::ZERO, |p| less(p.ceiling, p.net_disbursed.checked_add(p.forfeited).unwrap()));
            (grant_signers(keys, signers), Event::GrantDisbursed(GrantDisbursed { grant, amount_cents: amount.of(headroom), payment_reference: text("PAY") }))
        }
        Op::Clawback { grant, amount, reason } => {
            let grant = grant.grant(ledger);
            let codes = [
                None,
                Some(ClawbackReason::IneligibleSpend),
                Some(ClawbackReason::Overpayment),
                Some(ClawbackReason::BreachOfConditions),
                Some(ClawbackReason::Termination),
            ];
            let reason_code = codes[reason];
            let headroom = match reason_code {
                Some(ClawbackReason::IneligibleSpend | ClawbackReason::Overpayment) => ledger.grant_position(&grant).map_or(Money::ZERO, |p| p.overpaid),
                _ => grant_at(&grant).map_or(Money::ZERO, |g| g.net_disbursed()),
            };
            (officer, Event::GrantClawedBack(GrantClawedBack { grant, amount_cents: amount.of(headroom), reason: text("audit"), reason_code }))
        }
        Op::Close { grant, reason } => {
            let reason = [CloseReason::Completed, CloseReason::Withdrawn, CloseReason::Terminated][reason];
            (officer, Event::GrantClosed(GrantClosed { grant: grant.open_grant(ledger), reason }))
        }
        Op::RevokeSecondKeys { manager } => {
            let key = if manager { &keys.manager_two } else { &keys.officer_two };
            (vec![&keys.admin], Event::KeyRevoked(KeyRevoked { key: key.key_id(), reason: text("rotated") }))
        }
    }
}

fn sign(keys: &[&SecretKey], index: usize, event: Event) -> VerifiedEvent {
    let ledger = LedgerId::parse(LEDGER).unwrap();
    let occurred_at = Timestamp::from_unix_millis(1_767_225_600_000 + index as i64 * 3_600_000);
    SignedEvent::author(&ledger, EventId::parse(&format!("e-{index}")).unwrap(), occurred_at, event, keys)
        .expect("test events sign")
        .verify()
        .expect("test signatures verify")
}

/// The setup followed by the operations, signed and verified, in order. Each
/// operation's amounts are worked out against the state its predecessors
/// left (on a scratch ledger); the tests then apply the events themselves.
fn history(keys: &Keys, ops: &[Op]) -> Vec<VerifiedEvent> {
    let mut scratch = Ledger::new();
    let mut events = Vec::with_capacity(ops.len() + 32);
    for (signers, event) in setup(keys) {
        let event = sign(&signers, events.len(), event);
        scratch.apply(&event).expect("the setup is valid");
        events.push(event);
    }
    for op in ops {
        let (signers, event) = event_of(keys, &scratch, op);
        let event = sign(&signers, events.len(), event);
        let _ = scratch.apply(&event);
        events.push(event);
    }
    events
}

// ---------------------------------------------------------------------------
// Invariants, over the public read API.

fn sum(values: impl Iterator<Item = Money>) -> u128 {
    values.map(|value| value.cents() as u128).sum()
}

fn c(value: Money) -> u128 {
    value.cents() as u128
}

fn check_invariants(ledger: &Ledger) -> Result<(), TestCaseError> {
    for (id, fund) in ledger.funds() {
        let subfunds: Vec<_> = ledger.subfunds().values().filter(|s| s.terms.fund == *id).collect();
        prop_assert_eq!(c(fund.government_committed), sum(subfunds.iter().map(|s| s.government_committed)), "fund {} commitments", id);
        prop_assert!(fund.government_committed <= fund.terms.government_capital_cents, "fund {} over capital", id);
        prop_assert_eq!(fund.subfund_count as usize, subfunds.len());
    }
    for (id, subfund) in ledger.subfunds() {
        let terms = &ledger.funds()[&subfund.terms.fund].terms;
        let (government, market) = (c(subfund.government_committed), c(subfund.market_committed));
        prop_assert!(subfund.government_committed <= terms.government_commitment_per_subfund_max_cents, "{} over the cap", id);
        prop_assert!(government * 10_000 <= terms.government_share_max_bps as u128 * (government + market), "{} over the share", id);
        let paid_in = c(subfund.called) + c(subfund.fees);
        prop_assert_eq!(c(subfund.paid_in()), paid_in);
        prop_assert!(paid_in <= government + c(subfund.recallable_distributed), "{} paid in more than committed", id);
        prop_assert!(subfund.recallable_distributed <= subfund.paid_in(), "{} recallable above paid in", id);
        prop_assert!(subfund.recallable_distributed <= subfund.distributed);
        prop_assert!(c(subfund.invested) <= government + market, "{} invested above committed capital", id);
        prop_assert!(subfund.invested_hk <= subfund.invested && subfund.written_off <= subfund.invested);
        let investments: Vec<_> = ledger.investments().values().filter(|i| i.subfund == *id).collect();
        prop_assert_eq!(c(subfund.invested), sum(investments.iter().map(|i| i.cost)));
        prop_assert_eq!(c(subfund.invested_hk), sum(investments.iter().filter(|i| i.hk_enterprise).map(|i| i.cost)));
        prop_assert_eq!(c(subfund.written_off), sum(investments.iter().map(|i| i.written_off)));
        prop_assert_eq!(c(subfund.production_spend), sum(investments.iter().map(|i| i.production_spend)));
        prop_assert_eq!(subfund.investment_count as usize, investments.len());
    }
    for (id, investment) in ledger.investments() {
        prop_assert!(investment.written_off <= investment.cost, "investment {} written off above cost", id);
        prop_assert!(ledger.subfunds().contains_key(&investment.subfund));
    }
    for (id, grant) in ledger.grants() {
        let scheme = &ledger.schemes()[&grant.scheme];
        let (g, e) = (scheme.terms.government_ratio as u128, scheme.terms.enterprise_ratio as u128);
        prop_assert!(grant.clawed_back <= grant.disbursed, "grant {} clawed back more than disbursed", id);
        prop_assert!(c(grant.net_disbursed()) + c(grant.forfeited) <= c(grant.amount), "grant {} above its amount", id);
        prop_assert!(grant.forfeited <= grant.clawed_back, "grant {} forfeited more than clawed back", id);
        prop_assert!(grant.disallowed_spend <= grant.verified_spend, "grant {} disallowed more than verified", id);
        let evidence: Vec<_> = ledger.evidence().values().filter(|used| used.grant == *id).collect();
        prop_assert_eq!(c(grant.verified_spend), sum(evidence.iter().map(|used| used.amount)), "grant {} spend is its evidence", id);
        prop_assert_eq!(c(grant.disallowed_spend), sum(evidence.iter().map(|used| used.disallowed)), "grant {} disallowed", id);
        if scheme.terms.payment_schedule.is_none() && grant.disallowed_spend.is_zero() {
            prop_assert!(
                (c(grant.net_disbursed()) + c(grant.forfeited)) * (g + e) <= c(grant.verified_spend) * g,
                "grant {} above its share of verified spend",
                id
            );
        }
        prop_assert!(grant.verified_spend <= grant.approved_cost, "grant {} spend above cost", id);
        prop_assert!(c(grant.amount) * (g + e) <= c(grant.approved_cost) * g, "grant {} above its share of cost", id);
        if let Some(cap) = scheme.terms.project_grant_max_cents {
            prop_assert!(grant.amount <= cap, "grant {} above the project cap", id);
        }
        prop_assert!(ledger.enterprises().contains_key(&(grant.scheme.clone(), grant.enterprise.clone())));
    }
    for (id, scheme) in ledger.schemes() {
        let grants: Vec<_> = ledger.grants().values().filter(|g| g.scheme == *id).collect();
        prop_assert_eq!(c(scheme.committed), sum(grants.iter().map(|g| g.committed())), "scheme {} commitments", id);
        prop_assert!(scheme.committed <= scheme.terms.budget_cents, "scheme {} over budget", id);
        prop_assert_eq!(c(scheme.disbursed), sum(grants.iter().map(|g| g.net_disbursed())), "scheme {} disbursements", id);
        prop_assert_eq!(scheme.grant_count as usize, grants.len());
        let enterprises = ledger.enterprises().keys().filter(|(scheme, _)| scheme == id).count();
        prop_assert_eq!(scheme.enterprise_count as usize, enterprises);
    }
    for ((scheme_id, enterprise), standing) in ledger.enterprises() {
        let terms = &ledger.schemes()[scheme_id].terms;
        let grants: Vec<_> = ledger.grants().values().filter(|g| g.scheme == *scheme_id && g.enterprise == *enterprise).collect();
        prop_assert_eq!(c(standing.committed), sum(grants.iter().map(|g| g.committed())), "{}/{} commitments", scheme_id, enterprise);
        let open_committed = sum(grants.iter().filter(|g| g.status != GrantStatus::Closed).map(|g| g.committed()));
        prop_assert_eq!(c(standing.open_committed), open_committed, "{}/{} open commitments", scheme_id, enterprise);
        if let Some(cap) = terms.enterprise_grant_max_cents {
            let held = if terms.enterprise_cap_basis == Some(CapBasis::Concurrent) { standing.open_committed } else { standing.committed };
            prop_assert!(held <= cap, "{}/{} over the enterprise cap", scheme_id, enterprise);
        }
        let open = grants.iter().filter(|g| g.status != GrantStatus::Closed).count();
        prop_assert_eq!(standing.open_projects as usize, open, "{}/{} open projects", scheme_id, enterprise);
        prop_assert_eq!(standing.projects as usize, grants.len());
        if let Some(maximum) = terms.projects_per_enterprise_max {
            prop_assert!(standing.projects <= maximum);
        }
        if let Some(maximum) = terms.concurrent_projects_per_enterprise_max {
            prop_assert!(standing.open_projects <= maximum);
        }
    }
    Ok(())
}

/// How much each grant is overpaid: net disbursement plus forfeited money
/// above what the rules allow it now.
fn overpaid(ledger: &Ledger) -> Vec<(GrantId, Money)> {
    ledger.grants().keys().map(|id| (id.clone(), ledger.grant_position(id).unwrap().overpaid)).collect()
}

/// Nothing is paid twice: no event but a disallowance (which pays nothing)
/// makes any grant more overpaid than it was.
fn check_never_paid_twice(before: &Ledger, after: &Ledger, event: &VerifiedEvent, accepted: bool) -> Result<(), TestCaseError> {
    if matches!(event.body().event, Event::SpendDisallowed(_)) {
        return Ok(());
    }
    let earlier: std::collections::BTreeMap<GrantId, Money> = overpaid(before).into_iter().collect();
    for (id, now) in overpaid(after) {
        let was = earlier.get(&id).copied().unwrap_or(Money::ZERO);
        prop_assert!(now <= was, "{} made grant {} overpaid by {} (was {})", event.body().type_name(), id, now, was);
    }
    // A payment, if accepted, leaves the grant within its share of net eligible spend (and schedule).
    if let (Event::GrantDisbursed(data), true) = (&event.body().event, accepted) {
        if let Some(position) = after.grant_position(&data.grant) {
            let paid = position.net_disbursed.checked_add(position.forfeited).unwrap();
            prop_assert!(paid <= position.ceiling, "a disbursement left grant {} paid {} above {}", data.grant, paid, position.ceiling);
            if position.scheduled.is_none() {
                prop_assert!(
                    paid <= position.reimbursable,
                    "grant {} paid {} above its share of net eligible spend {}",
                    data.grant,
                    paid,
                    position.reimbursable
                );
            }
        }
    }
    Ok(())
}

/// Applies every event, checking the invariants after each step and that a
/// refused event changed nothing; returns the accepted events.
fn run(ledger: &mut Ledger, events: &[VerifiedEvent]) -> Result<Vec<VerifiedEvent>, TestCaseError> {
    let mut accepted = Vec::new();
    for event in events {
        let before = ledger.clone();
        let checked = ledger.check(event);
        let result = ledger.apply(event);
        prop_assert_eq!(checked.is_ok(), result.is_ok(), "check and apply disagree on {}", event.body().type_name());
        match result {
            Ok(()) => accepted.push(event.clone()),
            Err(violation) => {
                prop_assert_eq!(checked.unwrap_err(), violation);
                prop_assert!(*ledger == before, "a refused {} changed the state", event.body().type_name());
            }
        }
        check_invariants(ledger)?;
        check_never_paid_twice(&before, ledger, event, accepted.last() == Some(event))?;
    }
    prop_assert_eq!(ledger.events_applied(), accepted.len() as u64);
    Ok(accepted)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_histories_never_break_an_invariant(ops in vec(op(), 1..150)) {
        let keys = keys();
        let events = history(&keys, &ops);
        let mut ledger = Ledger::new();
        let accepted = run(&mut ledger, &events)?;
        // The setup is always accepted.
        prop_assert!(accepted.len() >= setup(&keys).len());
    }

    /// Issue 19: random sequences of spend, disallowance, disbursement and
    /// clawback never pay a grant more than the government's share of net
    /// eligible spend, the approved grant or any cap (checked after every
    /// event by `run`: invariants and `check_never_paid_twice`).
    #[test]
    fn reimbursement_never_pays_twice(ops in vec(money_op(), 1..200)) {
        let keys = keys();
        let events = history(&keys, &ops);
        let mut ledger = Ledger::new();
        run(&mut ledger, &events)?;
    }

    #[test]
    fn replaying_a_history_is_deterministic(ops in vec(op(), 1..150)) {
        let keys = keys();
        let events = history(&keys, &ops);
        let (mut first, mut second) = (Ledger::new(), Ledger::new());
        let accepted: Vec<VerifiedEvent> = events.iter().filter(|event| first.apply(event).is_ok()).cloned().collect();
        for event in &events {
            let _ = second.apply(event);
        }
        prop_assert!(first == second, "two replays of the same history differ");
        // Refused events leave no trace: the accepted ones alone give the same state.
        let mut third = Ledger::new();
        for event in &accepted {
            prop_assert!(third.apply(event).is_ok(), "an accepted event is refused on replay");
        }
        prop_assert!(first == third, "replaying only the accepted events differs");
    }
}

// ---------------------------------------------------------------------------
// Tampering with stored records.

/// Seals the accepted events into a chain of stored records (JSON bytes).
fn seal(events: &[VerifiedEvent]) -> Vec<Vec<u8>> {
    let mut chain = ChainState::new(LedgerId::parse(LEDGER).unwrap());
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let recorded_at = Timestamp::from_unix_millis(1_767_225_600_000 + index as i64 * 3_600_000 + 1_000);
            let record = chain.seal_next(recorded_at, event.signed().clone());
            chain.append(&record, |_, _| {}).expect("a sealed record is the next link");
            record.to_json()
        })
        .collect()
}

/// A verifier reading stored records one by one: it parses each (canonical
/// body, stated hash), checks it is the next link of the chain, verifies its
/// signatures and re-applies it to its own state.
#[derive(Clone)]
struct Verifier {
    chain: ChainState,
    ledger: Ledger,
}

impl Verifier {
    fn new() -> Verifier {
        Verifier { chain: ChainState::new(LedgerId::parse(LEDGER).unwrap()), ledger: Ledger::new() }
    }

    /// Accepts the next stored record, or says why not.
    fn next(&mut self, bytes: &[u8]) -> Result<(), String> {
        let record = Record::from_json(bytes).map_err(|error| error.to_string())?;
        self.chain.append(&record, |_, _| {}).map_err(|error| error.to_string())?;
        let verified = record.event.clone().verify().map_err(|error| error.to_string())?;
        self.ledger.apply(&verified).map_err(|error| error.to_string())
    }
}

/// Verifies records up to and including `last`; the index of the first that fails.
fn verify_chain(records: &[Vec<u8>], last: usize) -> Result<Verifier, usize> {
    let mut verifier = Verifier::new();
    for (index, bytes) in records.iter().enumerate().take(last + 1) {
        verifier.next(bytes).map_err(|_| index)?;
    }
    Ok(verifier)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_single_byte_change_to_a_record_is_detected(
        ops in vec(op(), 1..60),
        changes in vec((any::<Index>(), any::<Index>(), 1u8..=255), 12),
    ) {
        let keys = keys();
        let mut writer = Ledger::new();
        let accepted: Vec<VerifiedEvent> = history(&keys, &ops).into_iter().filter(|event| writer.apply(event).is_ok()).collect();
        let records = seal(&accepted);
        let untouched = verify_chain(&records, records.len()).map(|verifier| verifier.ledger);
        prop_assert!(untouched.as_ref() == Ok(&writer), "the untouched chain must verify to the writer's state");
        for (record, position, delta) in changes {
            let record = record.index(records.len());
            let mut tampered = records.clone();
            let position = position.index(tampered[record].len());
            tampered[record][position] = tampered[record][position].wrapping_add(delta);
            match verify_chain(&tampered, record) {
                Ok(_) => prop_assert!(
                    false,
                    "changing byte {} of record {} to {:?} went undetected: {}",
                    position, record, tampered[record][position] as char, String::from_utf8_lossy(&tampered[record])
                ),
                Err(failed) => prop_assert!(failed <= record, "detected at record {} after the changed record {}", failed, record),
            }
        }
    }
}

/// Every byte of every record of a fixed history, changed in three ways (the
/// next byte value, the ASCII case bit, the high bit), is detected at that record.
#[test]
fn every_byte_of_every_record_matters() {
    let keys = keys();
    let mut events = history(&keys, &[]);
    // A payment signed by two officers, so a record with two signatures is covered.
    let dual = Event::GrantDisbursed(GrantDisbursed { grant: GrantId::parse("g-tiny").unwrap(), amount_cents: hkd(1_000), payment_reference: text("PAY") });
    events.push(sign(&[&keys.officer, &keys.officer_two], events.len(), dual));
    let records = seal(&events);
    let mut verifier = Verifier::new();
    for (index, record) in records.iter().enumerate() {
        for position in 0..record.len() {
            for change in [1u8, 0x20, 0x80] {
                let mut tampered = record.clone();
                tampered[position] ^= change;
                let outcome = verifier.clone().next(&tampered);
                assert!(
                    outcome.is_err(),
                    "record {index}: changing byte {position} ({:?} to {:?}) went undetected",
                    record[position] as char,
                    tampered[position] as char
                );
            }
        }
        verifier.next(record).unwrap_or_else(|error| panic!("record {index} of the untouched chain: {error}"));
    }
    assert_eq!(verifier.ledger.grants()[&GrantId::parse("g-tiny").unwrap()].disbursed, hkd(1_000));
}

/// JSON values of the signed subset, with names and strings that need
/// escapes and characters whose UTF-16 order differs from their byte order.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let text = "[a-c1\"\\\\/\u{1}\u{8}\t\n\r\u{7f}é\u{ff61}\u{1f600} ]{0,6}";
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::from),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(text, inner, 0..6).prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The one-pass check agrees with canonicalisation: it accepts every
    /// canonical form, and any change to one that it still accepts
    /// canonicalises to itself (it never lets a non-canonical body through).
    #[test]
    fn the_one_pass_canonical_check_agrees_with_canonicalisation(value in json_value(), at in any::<Index>(), byte in any::<u8>(), insert in any::<bool>()) {
        use fundledger_core::canonical::{canonicalize, is_canonical};
        let canonical = canonicalize(&value).unwrap();
        prop_assert!(is_canonical(&canonical), "refused {}", String::from_utf8_lossy(&canonical));
        let mut changed = canonical.clone();
        let position = at.index(changed.len() + 1);
        if insert {
            changed.insert(position, byte);
        } else if position < changed.len() {
            changed[position] = byte;
        }
        if is_canonical(&changed) {
            let reparsed: serde_json::Value = serde_json::from_slice(&changed).unwrap();
            prop_assert_eq!(canonicalize(&reparsed).unwrap(), changed);
        }
    }
}
