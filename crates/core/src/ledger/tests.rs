//! Rule tests read as given (a world) / when (an event) / then (accepted, or
//! refused by a named rule with the state unchanged). `World` is the one
//! helper, so each rule's test is a few lines of data.
//!
//! For every rule with a limit there is a test of the allowed edge (exactly
//! at the limit: accepted) and of the first cent or unit over it (refused by
//! that rule, state unchanged); for rules without a numeric edge, a refusal
//! and the closest valid case.

use super::*;
use crate::crypto::SecretKey;
use crate::event::*;
use crate::id::*;
use crate::presets;
use crate::record::SignedEvent;
use crate::time::Timestamp;

pub(crate) fn money(dollars: u64) -> Money {
    Money::hkd(dollars)
}

pub(crate) fn cents(cents: u64) -> Money {
    Money::from_cents(cents).unwrap()
}

/// A ledger with an admin, fund managers and grant officers, the ITIF fund
/// with one sub-fund (`sf-ai`, theme ai-robotics), and the pilot, NIFS and
/// NIAS schemes (NIAS with its 2025-11-18 amendment). The fund `itf` has the
/// ITIF's terms as recorded before issue 19 ([`presets::itif_v1`]), so the
/// tests of the older rules can use small figures; the tests of the rules
/// issue 19 added use [`presets::itif`] in full.
pub(crate) struct World {
    pub ledger: Ledger,
    pub admin: SecretKey,
    pub manager: SecretKey,
    pub manager_two: SecretKey,
    pub officer: SecretKey,
    pub officer_two: SecretKey,
    pub outsider: SecretKey,
    /// Every accepted event, in order, for replays.
    pub history: Vec<VerifiedEvent>,
    next_id: u64,
}

impl World {
    pub fn empty() -> World {
        World {
            ledger: Ledger::new(),
            admin: SecretKey::from_seed_label("admin"),
            manager: SecretKey::from_seed_label("manager"),
            manager_two: SecretKey::from_seed_label("manager-two"),
            officer: SecretKey::from_seed_label("officer"),
            officer_two: SecretKey::from_seed_label("officer-two"),
            outsider: SecretKey::from_seed_label("outsider"),
            history: Vec::new(),
            next_id: 0,
        }
    }

    pub fn new() -> World {
        let mut world = World::empty();
        let admin = world.admin.clone();
        world.ok(&[&admin], Event::LedgerGenesis(LedgerGenesis { name: text("test"), operator: admin.key_id(), operator_holder: text("operator") }));
        world.ok(&[&admin], Event::FundEstablished(presets::itif_v1("itf")));
        world.ok(&[&admin], Event::SchemeEstablished(presets::pilot_scheme("pilot")));
        world.ok(&[&admin], Event::SchemeEstablished(presets::nifs_scheme("nifs", money(1_000_000_000))));
        world.ok(&[&admin], Event::SchemeEstablished(presets::nias_scheme("nias")));
        world.ok(&[&admin], Event::SchemeAmended(presets::nias_amendment_2025_11_18("nias")));
        for (key, role, scope) in [
            (world.manager.key_id(), Role::FundManager, "fund:itf"),
            (world.manager_two.key_id(), Role::FundManager, "fund:itf"),
            (world.officer.key_id(), Role::GrantOfficer, "ledger"),
            (world.officer_two.key_id(), Role::GrantOfficer, "ledger"),
        ] {
            world.register_with_role(key, role, scope);
        }
        let manager = world.manager.clone();
        world.ok(&[&manager], Event::SubFundAdmitted(subfund("sf-ai", "ai-robotics", money(2_000_000_000))));
        world
    }

    pub fn register_with_role(&mut self, key: KeyId, role: Role, scope: &str) {
        let admin = self.admin.clone();
        if !self.ledger.keys().contains_key(&key) {
            self.ok(&[&admin], Event::KeyRegistered(KeyRegistered { key, holder: text("someone") }));
        }
        self.ok(&[&admin], Event::RoleGranted(RoleChange { key, role, scope: Scope::parse(scope).unwrap() }));
    }

    pub fn sign(&mut self, signers: &[&SecretKey], event: Event) -> VerifiedEvent {
        self.sign_for("test", signers, event)
    }

    /// Signs an event for the ledger named `ledger` (the world's ledger is `test`).
    pub fn sign_for(&mut self, ledger: &str, signers: &[&SecretKey], event: Event) -> VerifiedEvent {
        self.next_id += 1;
        let ledger = LedgerId::parse(ledger).unwrap();
        let occurred_at = Timestamp::from_unix_millis(1_767_225_600_000 + self.next_id as i64 * 86_400_000);
        SignedEvent::author(&ledger, EventId::parse(&format!("e{}", self.next_id)).unwrap(), occurred_at, event, signers).unwrap().verify().unwrap()
    }

    /// Signs an event that occurred at `occurred_at` (RFC 3339).
    pub fn sign_at(&mut self, signers: &[&SecretKey], occurred_at: &str, event: Event) -> VerifiedEvent {
        self.next_id += 1;
        let ledger = LedgerId::parse("test").unwrap();
        SignedEvent::author(&ledger, EventId::parse(&format!("e{}", self.next_id)).unwrap(), Timestamp::parse(occurred_at).unwrap(), event, signers)
            .unwrap()
            .verify()
            .unwrap()
    }

    /// Applies a signed event; on refusal asserts that nothing changed.
    pub fn apply(&mut self, verified: VerifiedEvent) -> Result<(), Violation> {
        let before = self.ledger.clone();
        let result = self.ledger.apply(&verified);
        match &result {
            Ok(()) => self.history.push(verified),
            Err(_) => assert_eq!(self.ledger, before, "a refused event must change nothing"),
        }
        result
    }

    /// Applies an event; on refusal asserts that nothing changed.
    pub fn when(&mut self, signers: &[&SecretKey], event: Event) -> Result<(), Violation> {
        let verified = self.sign(signers, event);
        self.apply(verified)
    }

    #[track_caller]
    pub fn ok(&mut self, signers: &[&SecretKey], event: Event) {
        if let Err(violation) = self.when(signers, event) {
            panic!("expected the event to be accepted, got: {violation}");
        }
    }

    /// Expects a refusal by `rule`; returns the message for further checks.
    #[track_caller]
    pub fn refused(&mut self, rule: Rule, signers: &[&SecretKey], event: Event) -> String {
        match self.when(signers, event) {
            Ok(()) => panic!("expected a refusal by rule {rule}, but the event was accepted"),
            Err(violation) => {
                assert_eq!(violation.rule, rule, "refused by the wrong rule: {violation}");
                violation.message
            }
        }
    }

    #[track_caller]
    pub fn admin_ok(&mut self, event: Event) {
        let admin = self.admin.clone();
        self.ok(&[&admin], event)
    }
    #[track_caller]
    pub fn admin_refused(&mut self, rule: Rule, event: Event) -> String {
        let admin = self.admin.clone();
        self.refused(rule, &[&admin], event)
    }
    #[track_caller]
    pub fn manager_ok(&mut self, event: Event) {
        let manager = self.manager.clone();
        self.ok(&[&manager], event)
    }
    #[track_caller]
    pub fn manager_refused(&mut self, rule: Rule, event: Event) -> String {
        let manager = self.manager.clone();
        self.refused(rule, &[&manager], event)
    }
    /// Signed by both fund managers (dual control).
    #[track_caller]
    pub fn managers_ok(&mut self, event: Event) {
        let (one, two) = (self.manager.clone(), self.manager_two.clone());
        self.ok(&[&one, &two], event)
    }
    #[track_caller]
    pub fn officer_ok(&mut self, event: Event) {
        let officer = self.officer.clone();
        self.ok(&[&officer], event)
    }
    #[track_caller]
    pub fn officer_refused(&mut self, rule: Rule, event: Event) -> String {
        let officer = self.officer.clone();
        self.refused(rule, &[&officer], event)
    }
    /// Signed by both grant officers (dual control).
    #[track_caller]
    pub fn officers_ok(&mut self, event: Event) {
        let (one, two) = (self.officer.clone(), self.officer_two.clone());
        self.ok(&[&one, &two], event)
    }
    #[track_caller]
    pub fn officers_refused(&mut self, rule: Rule, event: Event) -> String {
        let (one, two) = (self.officer.clone(), self.officer_two.clone());
        self.refused(rule, &[&one, &two], event)
    }

    /// Market then government commitments to a sub-fund.
    #[track_caller]
    pub fn commit(&mut self, subfund: &str, market_amount: Money, government_amount: Money) {
        self.manager_ok(market(subfund, market_amount));
        self.manager_ok(government(subfund, government_amount));
    }

    /// A new key holding `role` for `scope`.
    pub fn key_with_role(&mut self, label: &str, role: Role, scope: &str) -> SecretKey {
        let key = SecretKey::from_seed_label(label);
        self.register_with_role(key.key_id(), role, scope);
        key
    }

    /// Approves a grant, verifies enough spend to reimburse `disbursed`, completes it if
    /// the scheme pays on completion, and disburses `disbursed` (when not zero).
    #[track_caller]
    pub fn grant_paid(&mut self, scheme: &str, grant: &str, enterprise: &str, amount: Money, disbursed: Money) {
        self.officers_ok(approve(scheme, grant, enterprise, triple(amount), amount));
        if disbursed.is_zero() {
            return;
        }
        self.officer_ok(spend(grant, triple(disbursed)));
        if self.ledger.schemes()[&SchemeId::parse(scheme).unwrap()].terms.paid_on_completion {
            self.officer_ok(complete(grant));
        }
        self.officers_ok(disburse(grant, disbursed));
    }

    pub fn subfund(&self, id: &str) -> &SubFund {
        &self.ledger.subfunds()[&SubFundId::parse(id).unwrap()]
    }
    pub fn scheme(&self, id: &str) -> &Scheme {
        &self.ledger.schemes()[&SchemeId::parse(id).unwrap()]
    }
    pub fn grant(&self, id: &str) -> &Grant {
        &self.ledger.grants()[&GrantId::parse(id).unwrap()]
    }
    pub fn standing(&self, scheme: &str, enterprise: &str) -> &EnterpriseStanding {
        &self.ledger.enterprises()[&(SchemeId::parse(scheme).unwrap(), EnterpriseId::parse(enterprise).unwrap())]
    }
}

/// Three times an amount: the approved cost at which a 1:2 grant of `amount` is exactly a third.
pub(crate) fn triple(amount: Money) -> Money {
    cents(amount.cents() * 3)
}

pub(crate) fn text(value: &str) -> Text {
    Text::parse(value).unwrap()
}

fn sf(id: &str) -> SubFundId {
    SubFundId::parse(id).unwrap()
}

fn gr(id: &str) -> GrantId {
    GrantId::parse(id).unwrap()
}

pub(crate) fn subfund(id: &str, theme: &str, target: Money) -> SubFundAdmitted {
    subfund_in("itf", id, theme, target)
}

pub(crate) fn subfund_in(fund: &str, id: &str, theme: &str, target: Money) -> SubFundAdmitted {
    SubFundAdmitted {
        fund: FundId::parse(fund).unwrap(),
        subfund: sf(id),
        name: text(id),
        theme: ThemeId::parse(theme).unwrap(),
        general_partner: text("GP Limited"),
        target_size_cents: target,
        investment_period: None,
    }
}

pub(crate) fn admit(fund: &str, id: &str, theme: &str, target: Money) -> Event {
    Event::SubFundAdmitted(subfund_in(fund, id, theme, target))
}

/// The ITIF's terms under another id, with another government capital.
pub(crate) fn fund_with_capital(id: &str, capital: Money) -> Event {
    Event::FundEstablished(FundEstablished { government_capital_cents: capital, ..presets::itif_v1(id) })
}

/// A 1:2 scheme with a budget and no caps; tests add the caps they need.
pub(crate) fn custom_scheme(id: &str, budget: Money) -> SchemeEstablished {
    presets::matching_scheme(id, id, budget)
}

pub(crate) fn market(subfund: &str, amount: Money) -> Event {
    Event::MarketCommitted(MarketCommitted { subfund: sf(subfund), investor: text("Market LP"), amount_cents: amount })
}

pub(crate) fn government(subfund: &str, amount: Money) -> Event {
    Event::GovernmentCommitted(GovernmentCommitted { subfund: sf(subfund), amount_cents: amount })
}

pub(crate) fn call(subfund: &str, amount: Money) -> Event {
    Event::CapitalCalled(CapitalCalled { subfund: sf(subfund), reference: text("call"), amount_cents: amount })
}

pub(crate) fn fee(subfund: &str, amount: Money) -> Event {
    Event::FeeCharged(FeeCharged { subfund: sf(subfund), period: text("2026Q1"), amount_cents: amount })
}

pub(crate) fn distribute(subfund: &str, amount: Money, recallable: bool) -> Event {
    Event::Distributed(Distributed { subfund: sf(subfund), amount_cents: amount, recallable })
}

pub(crate) fn nav(subfund: &str, as_of: &str, amount: Money) -> Event {
    Event::NavReported(NavReported { subfund: sf(subfund), as_of: crate::time::Date::parse(as_of).unwrap(), nav_cents: amount })
}

pub(crate) fn invest(subfund: &str, investment: &str, amount: Money) -> Event {
    invest_in(subfund, investment, amount, true)
}

pub(crate) fn invest_in(subfund: &str, investment: &str, amount: Money, innovation_technology: bool) -> Event {
    Event::Invested(Invested {
        subfund: sf(subfund),
        investment: InvestmentId::parse(investment).unwrap(),
        investee: text("Investee Limited"),
        amount_cents: amount,
        hk_enterprise: true,
        innovation_technology,
    })
}

pub(crate) fn write_off(subfund: &str, investment: &str, amount: Money) -> Event {
    Event::WrittenOff(WrittenOff { subfund: sf(subfund), investment: InvestmentId::parse(investment).unwrap(), amount_cents: amount })
}

pub(crate) fn production(subfund: &str, investment: &str, amount: Money) -> Event {
    Event::ProductionSpendReported(ProductionSpendReported {
        subfund: sf(subfund),
        investment: InvestmentId::parse(investment).unwrap(),
        period: text("2026"),
        amount_cents: amount,
        spent_on: None,
    })
}

pub(crate) fn approve(scheme: &str, grant: &str, enterprise: &str, cost: Money, amount: Money) -> Event {
    approve_months(scheme, grant, enterprise, cost, amount, 24)
}

pub(crate) fn approve_months(scheme: &str, grant: &str, enterprise: &str, cost: Money, amount: Money, months: u32) -> Event {
    Event::GrantApproved(GrantApproved {
        scheme: SchemeId::parse(scheme).unwrap(),
        grant: gr(grant),
        enterprise: EnterpriseId::parse(enterprise).unwrap(),
        enterprise_name: text(enterprise),
        project: text("production line upgrade"),
        approved_cost_cents: cost,
        grant_cents: amount,
        duration_months: months,
        applied_on: Some(crate::time::Date::parse("2026-01-01").unwrap()),
        attestations: vec![presets::hk_production_line_attestation(EvidenceDigest([0xa7; 32]))],
    })
}

/// A fresh evidence digest for every call: one piece of evidence supports spend once.
pub(crate) fn fresh_evidence() -> EvidenceDigest {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    EvidenceDigest(crate::crypto::sha256(&[b"test evidence", &next.to_be_bytes()]))
}

pub(crate) fn spend(grant: &str, amount: Money) -> Event {
    spend_with(grant, amount, fresh_evidence())
}

pub(crate) fn spend_with(grant: &str, amount: Money, evidence: EvidenceDigest) -> Event {
    Event::SpendVerified(SpendVerified { grant: gr(grant), amount_cents: amount, evidence_sha256: evidence })
}

pub(crate) fn disallow(grant: &str, amount: Money, evidence: EvidenceDigest) -> Event {
    Event::SpendDisallowed(SpendDisallowed { grant: gr(grant), amount_cents: amount, reason: DisallowanceReason::IneligibleItem, evidence_sha256: evidence })
}

pub(crate) fn complete(grant: &str) -> Event {
    Event::GrantCompleted(GrantCompleted { grant: gr(grant) })
}

pub(crate) fn disburse(grant: &str, amount: Money) -> Event {
    Event::GrantDisbursed(GrantDisbursed { grant: gr(grant), amount_cents: amount, payment_reference: text("PAY") })
}

/// A clawback without a reason code, as recorded before issue 19.
pub(crate) fn clawback(grant: &str, amount: Money) -> Event {
    Event::GrantClawedBack(GrantClawedBack { grant: gr(grant), amount_cents: amount, reason: text("ineligible spend"), reason_code: None })
}

pub(crate) fn clawback_for(grant: &str, amount: Money, code: ClawbackReason) -> Event {
    Event::GrantClawedBack(GrantClawedBack { grant: gr(grant), amount_cents: amount, reason: text("audit finding"), reason_code: Some(code) })
}

pub(crate) fn close(grant: &str) -> Event {
    Event::GrantClosed(GrantClosed { grant: gr(grant), reason: CloseReason::Completed })
}

pub(crate) fn register(key: &SecretKey) -> Event {
    Event::KeyRegistered(KeyRegistered { key: key.key_id(), holder: text("someone") })
}

pub(crate) fn revoke_key(key: &SecretKey) -> Event {
    Event::KeyRevoked(KeyRevoked { key: key.key_id(), reason: text("left") })
}

pub(crate) fn grant_role(key: &SecretKey, role: Role, scope: &str) -> Event {
    Event::RoleGranted(RoleChange { key: key.key_id(), role, scope: Scope::parse(scope).unwrap() })
}

pub(crate) fn revoke_role(key: &SecretKey, role: Role, scope: &str) -> Event {
    Event::RoleRevoked(RoleChange { key: key.key_id(), role, scope: Scope::parse(scope).unwrap() })
}

#[track_caller]
fn assert_names(message: &str, figures: &[&str]) {
    for figure in figures {
        assert!(message.contains(figure), "message should name {figure:?}: {message}");
    }
}

// ---------------------------------------------------------------------------
// Genesis and the ledger's identity.

#[test]
fn genesis_first_refuses_anything_before_genesis() {
    let mut world = World::empty();
    let admin = world.admin.clone();
    let message = world.refused(Rule::GenesisFirst, &[&admin], register(&world.outsider.clone()));
    assert_names(&message, &["key.registered"]);
    world.ok(&[&admin], Event::LedgerGenesis(LedgerGenesis { name: text("test"), operator: admin.key_id(), operator_holder: text("op") }));
    world.ok(&[&admin], register(&world.outsider.clone()));
}

#[test]
fn genesis_once() {
    let mut world = World::new();
    let admin = world.admin.clone();
    world.admin_refused(Rule::GenesisOnce, Event::LedgerGenesis(LedgerGenesis { name: text("again"), operator: admin.key_id(), operator_holder: text("op") }));
}

#[test]
fn genesis_is_signed_by_the_operator_alone() {
    let mut world = World::empty();
    let (admin, manager) = (world.admin.clone(), world.manager.clone());
    let genesis = Event::LedgerGenesis(LedgerGenesis { name: text("test"), operator: admin.key_id(), operator_holder: text("op") });
    world.refused(Rule::GenesisSigner, &[&manager], genesis.clone());
    world.refused(Rule::GenesisSigner, &[&admin, &manager], genesis.clone());
    world.refused(Rule::GenesisSigner, &[&manager, &admin], genesis.clone());
    world.ok(&[&admin], genesis);
    assert_eq!(world.ledger.operator(), Some(&admin.key_id()));
}

#[test]
fn ledger_mismatch_refuses_an_event_for_another_ledger() {
    let mut world = World::new();
    let manager = world.manager.clone();
    let elsewhere = world.sign_for("other", &[&manager], market("sf-ai", money(1)));
    let violation = world.apply(elsewhere).unwrap_err();
    assert_eq!(violation.rule, Rule::LedgerMismatch, "{violation}");
    assert_names(&violation.message, &["other", "test"]);
    world.manager_ok(market("sf-ai", money(1)));
}

// ---------------------------------------------------------------------------
// Signers, keys and roles.

#[test]
fn signer_unknown_until_registered_with_a_role() {
    let mut world = World::new();
    let outsider = world.outsider.clone();
    world.refused(Rule::SignerUnknown, &[&outsider], market("sf-ai", money(1)));
    world.refused(Rule::SignerUnknown, &[&world.manager.clone(), &outsider], market("sf-ai", money(1)));
    world.admin_ok(register(&outsider));
    world.refused(Rule::SignerUnauthorised, &[&outsider], market("sf-ai", money(1)));
    world.admin_ok(grant_role(&outsider, Role::FundManager, "fund:itf"));
    world.ok(&[&outsider], market("sf-ai", money(1)));
}

#[test]
fn signer_unauthorised_names_the_role_and_scope() {
    let mut world = World::new();
    let officer = world.officer.clone();
    let message = world.refused(Rule::SignerUnauthorised, &[&officer], market("sf-ai", money(1)));
    assert_names(&message, &["fund_manager", "fund:itf", "subfund.market_committed"]);
    // Managers do not administer, and the admin does not manage funds or grants.
    world.manager_refused(Rule::SignerUnauthorised, Event::FundEstablished(presets::itif_v1("itf2")));
    world.admin_refused(Rule::SignerUnauthorised, market("sf-ai", money(1)));
    world.admin_refused(Rule::SignerUnauthorised, approve("pilot", "g1", "ent-1", money(3), money(1)));
    world.manager_refused(Rule::SignerUnauthorised, approve("pilot", "g1", "ent-1", money(3), money(1)));
    world.manager_ok(market("sf-ai", money(1)));
}

#[test]
fn revoked_keys_sign_nothing_but_what_they_signed_before_stays_valid() {
    let mut world = World::new();
    world.commit("sf-ai", money(300), money(100));
    world.manager_ok(call("sf-ai", money(40)));
    let manager = world.manager.clone();
    world.admin_ok(revoke_key(&manager));
    // The state keeps what the key signed before it was revoked.
    assert_eq!(world.subfund("sf-ai").called, money(40));
    assert_eq!(world.subfund("sf-ai").government_committed, money(100));
    assert!(world.ledger.keys()[&manager.key_id()].revoked);
    let message = world.manager_refused(Rule::SignerRevoked, call("sf-ai", money(1)));
    assert_names(&message, &[&manager.key_id().to_string()]);
    // Also as a co-signer, and even alongside a valid key.
    let two = world.manager_two.clone();
    world.refused(Rule::SignerRevoked, &[&two, &manager], call("sf-ai", money(1)));
    world.ok(&[&two], call("sf-ai", money(1)));
    // A verifier replaying the history judges each event against the state of its time.
    let mut replayed = Ledger::new();
    for event in &world.history {
        replayed.apply(event).expect("history replays");
    }
    assert_eq!(replayed, world.ledger);
}

#[test]
fn a_role_scoped_to_one_fund_does_not_authorise_another() {
    let mut world = World::new();
    world.admin_ok(Event::FundEstablished(presets::itif_v1("itf2")));
    let other = world.key_with_role("manager-itf2", Role::FundManager, "fund:itf2");
    world.manager_refused(Rule::SignerUnauthorised, admit("itf2", "sf-two", "semiconductors", money(2_000_000_000)));
    world.ok(&[&other], admit("itf2", "sf-two", "semiconductors", money(2_000_000_000)));
    let message = world.manager_refused(Rule::SignerUnauthorised, market("sf-two", money(1)));
    assert_names(&message, &["fund:itf2"]);
    world.refused(Rule::SignerUnauthorised, &[&other], market("sf-ai", money(1)));
    world.ok(&[&other], market("sf-two", money(1)));
    world.manager_ok(market("sf-ai", money(1)));
    // Dual control needs both signers authorised for the fund in question.
    world.commit("sf-ai", money(3_000_000_000), money(1_000_000_000));
    let manager = world.manager.clone();
    world.refused(Rule::SignerUnauthorised, &[&manager, &other], call("sf-ai", money(100_000_000)));
}

#[test]
fn a_role_scoped_to_one_scheme_does_not_authorise_another() {
    let mut world = World::new();
    let pilot_officer = world.key_with_role("officer-pilot", Role::GrantOfficer, "scheme:pilot");
    let message = world.refused(Rule::SignerUnauthorised, &[&pilot_officer], approve("nifs", "g1", "ent-1", money(300), money(100)));
    assert_names(&message, &["grant_officer", "scheme:nifs"]);
    world.ok(&[&pilot_officer], approve("pilot", "g1", "ent-1", money(300), money(100)));
    world.officer_ok(approve("nifs", "g2", "ent-1", money(300), money(100)));
    world.refused(Rule::SignerUnauthorised, &[&pilot_officer], spend("g2", money(3)));
    world.ok(&[&pilot_officer], spend("g1", money(3)));
}

#[test]
fn a_role_at_ledger_scope_authorises_every_fund_and_scheme() {
    let mut world = World::new();
    world.admin_ok(Event::FundEstablished(presets::itif_v1("itf2")));
    let everywhere = world.key_with_role("manager-everywhere", Role::FundManager, "ledger");
    world.ok(&[&everywhere], admit("itf2", "sf-two", "semiconductors", money(2_000_000_000)));
    world.ok(&[&everywhere], market("sf-two", money(1)));
    world.ok(&[&everywhere], market("sf-ai", money(1)));
    // The world's officers hold grant_officer at ledger scope.
    for scheme in ["pilot", "nifs", "nias"] {
        world.officer_ok(approve(scheme, &format!("g-{scheme}"), "ent-1", money(150_000_000), money(1)));
    }
    // A fund-scoped admin role does not exist; a ledger-scoped manager is not an admin.
    world.refused(Rule::SignerUnauthorised, &[&everywhere], Event::FundEstablished(presets::itif_v1("itf3")));
}

#[test]
fn key_registered_twice_even_after_revocation() {
    let mut world = World::new();
    let manager = world.manager.clone();
    let message = world.admin_refused(Rule::KeyRegisteredTwice, register(&manager));
    assert_names(&message, &[&manager.key_id().to_string()]);
    world.admin_ok(revoke_key(&manager));
    let message = world.admin_refused(Rule::KeyRegisteredTwice, register(&manager));
    assert_names(&message, &["revoked"]);
    world.admin_ok(register(&world.outsider.clone()));
}

#[test]
fn key_unusable_for_roles_and_revocation() {
    let mut world = World::new();
    let outsider = world.outsider.clone();
    world.admin_refused(Rule::KeyUnusable, grant_role(&outsider, Role::FundManager, "fund:itf"));
    world.admin_refused(Rule::KeyUnusable, revoke_key(&outsider));
    world.admin_refused(Rule::KeyUnusable, revoke_role(&outsider, Role::FundManager, "fund:itf"));
    let manager = world.manager.clone();
    world.admin_ok(revoke_key(&manager));
    world.admin_refused(Rule::KeyUnusable, revoke_key(&manager));
    world.admin_refused(Rule::KeyUnusable, grant_role(&manager, Role::GrantOfficer, "ledger"));
    world.admin_refused(Rule::KeyUnusable, revoke_role(&manager, Role::FundManager, "fund:itf"));
    world.admin_ok(register(&outsider));
    world.admin_ok(grant_role(&outsider, Role::FundManager, "fund:itf"));
}

#[test]
fn role_state_grant_once_and_revoke_only_what_is_held() {
    let mut world = World::new();
    let manager = world.manager.clone();
    world.admin_refused(Rule::RoleState, grant_role(&manager, Role::FundManager, "fund:itf"));
    world.admin_refused(Rule::RoleState, revoke_role(&manager, Role::GrantOfficer, "ledger"));
    world.admin_refused(Rule::RoleState, revoke_role(&manager, Role::FundManager, "ledger"));
    // The same role at another scope is a different grant.
    world.admin_ok(grant_role(&manager, Role::FundManager, "ledger"));
    world.admin_ok(revoke_role(&manager, Role::FundManager, "fund:itf"));
    world.manager_ok(market("sf-ai", money(1)));
    world.admin_ok(revoke_role(&manager, Role::FundManager, "ledger"));
    world.manager_refused(Rule::SignerUnauthorised, market("sf-ai", money(1)));
    world.admin_ok(grant_role(&manager, Role::FundManager, "fund:itf"));
    world.manager_ok(market("sf-ai", money(1)));
}

#[test]
fn admin_role_exists_only_at_ledger_scope() {
    let mut world = World::new();
    let manager = world.manager.clone();
    world.admin_refused(Rule::AdminScope, grant_role(&manager, Role::Admin, "fund:itf"));
    world.admin_refused(Rule::AdminScope, grant_role(&manager, Role::Admin, "scheme:pilot"));
    world.admin_ok(grant_role(&manager, Role::Admin, "ledger"));
    world.manager_ok(Event::FundEstablished(presets::itif_v1("itf2")));
}

#[test]
fn the_last_admin_cannot_go() {
    let mut world = World::new();
    let admin = world.admin.clone();
    world.admin_refused(Rule::LastAdmin, revoke_key(&admin));
    world.admin_refused(Rule::LastAdmin, revoke_role(&admin, Role::Admin, "ledger"));
    let second = world.key_with_role("second-admin", Role::Admin, "ledger");
    world.ok(&[&second], revoke_key(&admin));
    world.refused(Rule::LastAdmin, &[&second], revoke_role(&second, Role::Admin, "ledger"));
    world.refused(Rule::LastAdmin, &[&second], revoke_key(&second));
    let third = SecretKey::from_seed_label("third-admin");
    world.ok(&[&second], register(&third));
    world.ok(&[&second], grant_role(&third, Role::Admin, "ledger"));
    world.ok(&[&third], revoke_role(&second, Role::Admin, "ledger"));
    world.refused(Rule::SignerUnauthorised, &[&second], register(&world.outsider.clone()));
}

// ---------------------------------------------------------------------------
// Existence and parameters.

#[test]
fn ids_are_unique() {
    let mut world = World::new();
    world.admin_refused(Rule::AlreadyExists, Event::FundEstablished(presets::itif_v1("itf")));
    world.admin_refused(Rule::AlreadyExists, Event::SchemeEstablished(presets::pilot_scheme("pilot")));
    world.manager_refused(Rule::AlreadyExists, Event::SubFundAdmitted(subfund("sf-ai", "life-health", money(2_000_000_000))));
    world.commit("sf-ai", money(300), money(100));
    world.manager_ok(invest("sf-ai", "inv-1", money(10)));
    world.manager_refused(Rule::AlreadyExists, invest("sf-ai", "inv-1", money(10)));
    world.officer_ok(approve("pilot", "g1", "ent-1", money(300), money(100)));
    let message = world.officer_refused(Rule::AlreadyExists, approve("nifs", "g1", "ent-2", money(300), money(100)));
    assert_names(&message, &["g1"]);
    // Fresh ids are fine.
    world.admin_ok(Event::FundEstablished(presets::itif_v1("itf2")));
    world.admin_ok(Event::SchemeEstablished(presets::pilot_scheme("pilot2")));
    world.manager_ok(Event::SubFundAdmitted(subfund("sf-life", "life-health", money(2_000_000_000))));
    world.manager_ok(invest("sf-ai", "inv-2", money(10)));
    world.officer_ok(approve("nifs", "g2", "ent-2", money(300), money(100)));
}

#[test]
fn references_to_things_that_do_not_exist() {
    let mut world = World::new();
    let message = world.manager_refused(Rule::NotFound, market("sf-nope", money(1)));
    assert_names(&message, &["sf-nope"]);
    world.manager_refused(Rule::NotFound, admit("nope", "sf-x", "ai-robotics", money(2_000_000_000)));
    world.officer_refused(Rule::NotFound, approve("nope", "g1", "ent-1", money(3), money(1)));
    world.officer_refused(Rule::NotFound, spend("g-nope", money(1)));
    world.officer_refused(Rule::NotFound, disburse("g-nope", money(1)));
    world.manager_refused(Rule::NotFound, write_off("sf-ai", "inv-nope", money(1)));
    world.manager_refused(Rule::NotFound, production("sf-ai", "inv-nope", money(1)));
    let manager = world.manager.clone();
    world.admin_refused(Rule::NotFound, grant_role(&manager, Role::FundManager, "fund:nope"));
    world.admin_refused(Rule::NotFound, grant_role(&manager, Role::GrantOfficer, "scheme:nope"));
    world.admin_ok(grant_role(&manager, Role::GrantOfficer, "scheme:pilot"));
    world.manager_ok(market("sf-ai", money(1)));
}

#[test]
fn fund_parameters_must_make_sense() {
    let mut world = World::new();
    let share = |bps| Event::FundEstablished(FundEstablished { government_share_max_bps: bps, ..presets::itif_v1("f1") });
    let message = world.admin_refused(Rule::InvalidParameter, share(10_001));
    assert_names(&message, &["government_share_max_bps", "10001"]);
    world.admin_refused(Rule::InvalidParameter, Event::FundEstablished(FundEstablished { hk_enterprise_share_min_bps: 10_001, ..presets::itif_v1("f1") }));
    world.admin_refused(Rule::InvalidParameter, Event::FundEstablished(FundEstablished { hk_production_spend_min_bps: 10_001, ..presets::itif_v1("f1") }));
    world.admin_refused(Rule::InvalidParameter, Event::FundEstablished(FundEstablished { themes: vec![], ..presets::itif_v1("f1") }));
    let mut twice = presets::itif_v1("f1");
    twice.themes.push(twice.themes[0].clone());
    world.admin_refused(Rule::InvalidParameter, Event::FundEstablished(twice));
    world.admin_refused(Rule::AmountPositive, fund_with_capital("f1", Money::ZERO));
    world.admin_refused(
        Rule::AmountPositive,
        Event::FundEstablished(FundEstablished { government_commitment_per_subfund_max_cents: Money::ZERO, ..presets::itif_v1("f1") }),
    );
    world.admin_ok(share(10_000));
}

#[test]
fn scheme_parameters_must_make_sense() {
    let mut world = World::new();
    let scheme = || custom_scheme("s1", money(1_000));
    world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(SchemeEstablished { government_ratio: 0, ..scheme() }));
    world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(SchemeEstablished { enterprise_ratio: 0, ..scheme() }));
    world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(SchemeEstablished { project_grant_max_cents: Some(Money::ZERO), ..scheme() }));
    world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(SchemeEstablished { enterprise_grant_max_cents: Some(Money::ZERO), ..scheme() }));
    world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(SchemeEstablished { projects_per_enterprise_max: Some(0), ..scheme() }));
    world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(SchemeEstablished { concurrent_projects_per_enterprise_max: Some(0), ..scheme() }));
    world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(SchemeEstablished { project_duration_months_max: Some(0), ..scheme() }));
    world.admin_refused(Rule::AmountPositive, Event::SchemeEstablished(SchemeEstablished { budget_cents: Money::ZERO, ..scheme() }));
    world.admin_ok(Event::SchemeEstablished(SchemeEstablished {
        government_ratio: 1,
        enterprise_ratio: 1,
        project_grant_max_cents: Some(cents(1)),
        enterprise_grant_max_cents: Some(cents(1)),
        projects_per_enterprise_max: Some(1),
        concurrent_projects_per_enterprise_max: Some(1),
        project_duration_months_max: Some(1),
        budget_cents: cents(1),
        ..scheme()
    }));
}

#[test]
fn amounts_that_move_money_are_positive() {
    let mut world = World::new();
    world.manager_refused(Rule::AmountPositive, market("sf-ai", Money::ZERO));
    world.commit("sf-ai", money(300), money(100));
    world.manager_refused(Rule::AmountPositive, government("sf-ai", Money::ZERO));
    world.manager_refused(Rule::AmountPositive, call("sf-ai", Money::ZERO));
    world.manager_refused(Rule::AmountPositive, fee("sf-ai", Money::ZERO));
    world.manager_refused(Rule::AmountPositive, distribute("sf-ai", Money::ZERO, false));
    world.manager_refused(Rule::AmountPositive, invest("sf-ai", "inv-1", Money::ZERO));
    world.manager_ok(call("sf-ai", cents(1)));
    world.manager_ok(fee("sf-ai", cents(1)));
    world.manager_ok(distribute("sf-ai", cents(1), false));
    world.manager_ok(invest("sf-ai", "inv-1", cents(1)));
    world.manager_refused(Rule::AmountPositive, write_off("sf-ai", "inv-1", Money::ZERO));
    world.manager_refused(Rule::AmountPositive, production("sf-ai", "inv-1", Money::ZERO));
    world.manager_ok(write_off("sf-ai", "inv-1", cents(1)));
    world.manager_ok(production("sf-ai", "inv-1", cents(1)));
    world.officer_refused(Rule::AmountPositive, approve("pilot", "g1", "ent-1", Money::ZERO, Money::ZERO));
    world.officer_refused(Rule::AmountPositive, approve("pilot", "g1", "ent-1", money(3), Money::ZERO));
    world.officer_ok(approve("pilot", "g1", "ent-1", cents(3), cents(1)));
    world.officer_refused(Rule::AmountPositive, spend("g1", Money::ZERO));
    world.officer_ok(spend("g1", cents(3)));
    world.officer_refused(Rule::AmountPositive, disburse("g1", Money::ZERO));
    world.officer_ok(disburse("g1", cents(1)));
    world.officer_refused(Rule::AmountPositive, clawback("g1", Money::ZERO));
    world.officer_ok(clawback("g1", cents(1)));
    // A NAV of zero is a valuation, not a movement of money.
    world.manager_ok(nav("sf-ai", "2026-03-31", Money::ZERO));
}

#[test]
fn amount_overflow_is_refused_not_wrapped() {
    let mut world = World::new();
    world.manager_ok(market("sf-ai", Money::MAX));
    let message = world.manager_refused(Rule::AmountOverflow, market("sf-ai", cents(1)));
    assert_names(&message, &["exceeds the largest amount"]);
    assert_eq!(world.subfund("sf-ai").market_committed, Money::MAX);
    // The government commitment would overflow the committed size too.
    world.manager_refused(Rule::AmountOverflow, government("sf-ai", cents(1)));
}

/// A fund whose limits are the largest amounts, so paid-in capital can be
/// pushed to the edge of `Money` with recallable distributions.
fn huge_fund_world() -> (World, SecretKey) {
    let mut world = World::new();
    world.admin_ok(Event::FundEstablished(FundEstablished {
        government_capital_cents: Money::MAX,
        government_commitment_per_subfund_max_cents: Money::MAX,
        government_share_max_bps: 10_000,
        subfund_target_size_min_cents: Money::ZERO,
        dual_control_threshold_cents: Money::MAX,
        ..presets::itif_v1("huge")
    }));
    let manager = world.key_with_role("manager-huge", Role::FundManager, "fund:huge");
    world.ok(&[&manager], admit("huge", "sf-huge", "ai-robotics", cents(1)));
    // Commitment 2^52 cents, all called, all distributed as recallable:
    // commitment + recallable = 2^53 cents, one more than the largest amount.
    let half = cents(1 << 52);
    world.ok(&[&manager], government("sf-huge", half));
    world.ok(&[&manager], call("sf-huge", half));
    world.ok(&[&manager], distribute("sf-huge", half, true));
    (world, manager)
}

#[test]
fn contributions_do_not_depend_on_debug_assertions() {
    let (mut world, manager) = huge_fund_world();
    // Paid in becomes 2^52 + 1 cents: representable, within the uncalled 2^52 cents.
    world.ok(&[&manager], fee("sf-huge", cents(1)));
    assert_eq!(world.subfund("sf-huge").paid_in(), cents((1 << 52) + 1));
}

#[test]
fn paid_in_capital_never_saturates() {
    let (mut world, manager) = huge_fund_world();
    let half = 1u64 << 52;
    world.ok(&[&manager], fee("sf-huge", cents(half - 1)));
    assert_eq!(world.subfund("sf-huge").paid_in(), Money::MAX);
    assert_eq!(world.subfund("sf-huge").uncalled(), cents(1));
    // Paid in would be 2^53 cents, one more than the largest amount.
    world.refused(Rule::AmountOverflow, &[&manager], call("sf-huge", cents(1)));
}

// ---------------------------------------------------------------------------
// The I&T Industry-Oriented Fund.

#[test]
fn subfund_theme_must_be_one_of_the_funds_themes() {
    let mut world = World::new();
    let message = world.manager_refused(Rule::ThemeUnknown, Event::SubFundAdmitted(subfund("sf-space", "space", money(2_000_000_000))));
    assert_names(&message, &["space", "itf", "life-health", "ai-robotics", "future-sustainable"]);
    world.manager_ok(Event::SubFundAdmitted(subfund("sf-space", "future-sustainable", money(2_000_000_000))));
}

#[test]
fn subfund_target_size_is_at_least_2bn() {
    let mut world = World::new();
    world.manager_ok(Event::SubFundAdmitted(subfund("sf-edge", "semiconductors", money(2_000_000_000))));
    let under = cents(money(2_000_000_000).cents() - 1);
    let message = world.manager_refused(Rule::SubFundTargetSizeMin, Event::SubFundAdmitted(subfund("sf-under", "semiconductors", under)));
    assert_names(&message, &["HK$1,999,999,999.99", "HK$2,000,000,000.00"]);
}

#[test]
fn government_commitment_cap_edge_and_first_cent_over() {
    let mut world = World::new();
    world.manager_ok(market("sf-ai", money(3_000_000_000)));
    world.manager_ok(government("sf-ai", money(1_000_000_000)));
    let message = world.manager_refused(Rule::GovernmentCommitmentCap, government("sf-ai", cents(1)));
    assert!(message.contains("HK$1,000,000,000.01") && message.contains("HK$1,000,000,000.00"), "{message}");
    assert_names(&message, &["(HK$1,000,000,000.00 already committed)"]);
}

#[test]
fn government_commitment_cap_in_two_steps() {
    let mut world = World::new();
    world.manager_ok(market("sf-ai", money(4_000_000_000)));
    world.manager_ok(government("sf-ai", money(600_000_000)));
    world.manager_refused(Rule::GovernmentCommitmentCap, government("sf-ai", cents(money(400_000_000).cents() + 1)));
    world.manager_ok(government("sf-ai", money(400_000_000)));
}

#[test]
fn government_commitment_cap_message_names_the_figures() {
    let mut world = World::new();
    world.manager_ok(market("sf-ai", money(4_000_000_000)));
    let message = world.manager_refused(Rule::GovernmentCommitmentCap, government("sf-ai", money(1_200_000_000)));
    assert!(message.contains("government commitment HK$1,200,000,000.00"), "{message}");
    assert!(message.contains("exceeds the HK$1,000,000,000.00 per-sub-fund cap"), "{message}");
}

#[test]
fn government_share_edge_is_exactly_25_percent() {
    let mut world = World::new();
    world.manager_ok(market("sf-ai", money(300)));
    world.manager_ok(government("sf-ai", money(100)));
    let message = world.manager_refused(Rule::GovernmentShareMax, government("sf-ai", cents(1)));
    assert!(message.contains("25.00%"), "{message}");
}

#[test]
fn government_is_the_last_lp_market_must_be_three_times() {
    let mut world = World::new();
    // No market commitment yet: not even a cent.
    world.manager_refused(Rule::GovernmentShareMax, government("sf-ai", cents(1)));
    world.manager_ok(market("sf-ai", cents(299_999_999_999)));
    // Market HK$2,999,999,999.99 allows HK$999,999,999.99 (exactly 3x), not HK$1bn.
    let message = world.manager_refused(Rule::GovernmentShareMax, government("sf-ai", money(1_000_000_000)));
    assert_names(&message, &["HK$1,000,000,000.00", "HK$3,999,999,999.99", "HK$2,999,999,999.99", "25.00% maximum"]);
    world.manager_ok(government("sf-ai", cents(99_999_999_999)));
    // More market money makes room for more government money.
    world.manager_ok(market("sf-ai", cents(3)));
    world.manager_ok(government("sf-ai", cents(1)));
    assert_eq!(world.subfund("sf-ai").government_committed, money(1_000_000_000));
}

#[test]
fn fund_capital_is_10bn_across_ten_subfunds() {
    let mut world = World::new();
    let themes = ["life-health", "ai-robotics", "semiconductors", "digitalisation", "future-sustainable"];
    let mut subfunds = vec!["sf-ai".to_string()];
    for index in 1..11 {
        let id = format!("sf-{index}");
        world.manager_ok(Event::SubFundAdmitted(subfund(&id, themes[index % 5], money(4_000_000_000))));
        subfunds.push(id);
    }
    for id in &subfunds {
        world.manager_ok(market(id, money(3_000_000_000)));
    }
    for id in &subfunds[..10] {
        world.managers_ok(government(id, money(1_000_000_000)));
    }
    let fund = &world.ledger.funds()[&FundId::parse("itf").unwrap()];
    assert_eq!((fund.government_committed, fund.subfund_count), (money(10_000_000_000), 11));
    let message = world.manager_refused(Rule::FundCapital, government("sf-10", cents(1)));
    assert_names(&message, &["HK$10,000,000,000.01", "HK$10,000,000,000.00", "itf"]);
}

#[test]
fn fund_capital_of_a_smaller_fund() {
    let mut world = World::new();
    world.admin_ok(fund_with_capital("small", money(1_500_000_000)));
    let manager = world.key_with_role("manager-small", Role::FundManager, "fund:small");
    for id in ["sf-a", "sf-b"] {
        world.ok(&[&manager], admit("small", id, "digitalisation", money(2_000_000_000)));
        world.ok(&[&manager], market(id, money(3_000_000_000)));
    }
    world.ok(&[&manager], government("sf-a", money(1_000_000_000)));
    world.refused(Rule::FundCapital, &[&manager], government("sf-b", cents(money(500_000_000).cents() + 1)));
    world.ok(&[&manager], government("sf-b", money(500_000_000)));
    world.refused(Rule::FundCapital, &[&manager], government("sf-b", cents(1)));
    // The ITIF's own capital is untouched by the other fund.
    world.commit("sf-ai", money(3_000_000_000), money(1_000_000_000));
}

#[test]
fn calls_and_fees_fit_the_uncalled_commitment() {
    let mut world = World::new();
    world.manager_refused(Rule::UncalledCommitment, call("sf-ai", cents(1)));
    world.commit("sf-ai", money(300), money(100));
    world.manager_ok(call("sf-ai", money(60)));
    world.manager_refused(Rule::UncalledCommitment, fee("sf-ai", cents(4_001)));
    world.manager_ok(fee("sf-ai", money(40)));
    let message = world.manager_refused(Rule::UncalledCommitment, call("sf-ai", cents(1)));
    assert_names(&message, &["HK$0.01", "HK$0.00", "commitment HK$100.00", "paid in HK$100.00"]);
    world.manager_refused(Rule::UncalledCommitment, fee("sf-ai", cents(1)));
    assert_eq!(world.subfund("sf-ai").paid_in(), money(100));
}

#[test]
fn a_recallable_distribution_restores_uncalled_commitment() {
    let mut world = World::new();
    world.commit("sf-ai", money(300), money(100));
    world.manager_ok(call("sf-ai", money(100)));
    world.manager_ok(distribute("sf-ai", money(50), false));
    world.manager_refused(Rule::UncalledCommitment, call("sf-ai", cents(1)));
    world.manager_ok(distribute("sf-ai", money(30), true));
    assert_eq!(world.subfund("sf-ai").uncalled(), money(30));
    world.manager_refused(Rule::UncalledCommitment, call("sf-ai", cents(3_001)));
    world.manager_ok(call("sf-ai", money(20)));
    world.manager_ok(fee("sf-ai", money(10)));
    world.manager_refused(Rule::UncalledCommitment, fee("sf-ai", cents(1)));
    assert_eq!(world.subfund("sf-ai").paid_in(), money(130));
}

#[test]
fn recallable_distributions_are_at_most_paid_in() {
    let mut world = World::new();
    world.commit("sf-ai", money(300), money(100));
    world.manager_refused(Rule::RecallableDistribution, distribute("sf-ai", cents(1), true));
    world.manager_ok(call("sf-ai", money(60)));
    world.manager_ok(fee("sf-ai", money(10)));
    world.manager_ok(distribute("sf-ai", money(50), true));
    let message = world.manager_refused(Rule::RecallableDistribution, distribute("sf-ai", cents(2_001), true));
    assert_names(&message, &["HK$70.01", "HK$70.00"]);
    world.manager_ok(distribute("sf-ai", money(20), true));
    world.manager_refused(Rule::RecallableDistribution, distribute("sf-ai", cents(1), true));
    // Ordinary distributions (returns) are not limited by paid-in capital.
    world.manager_ok(distribute("sf-ai", money(1_000), false));
    assert_eq!(world.subfund("sf-ai").distributed, money(1_070));
}

#[test]
fn dual_control_for_capital_calls_at_the_threshold() {
    let mut world = World::new();
    world.commit("sf-ai", money(3_000_000_000), money(1_000_000_000));
    let threshold = money(100_000_000);
    let message = world.manager_refused(Rule::DualControl, call("sf-ai", threshold));
    assert_names(&message, &["HK$100,000,000.00", "two distinct authorised signers, got 1"]);
    world.managers_ok(call("sf-ai", threshold));
    world.manager_ok(call("sf-ai", cents(threshold.cents() - 1)));
    // Two signers, one not authorised for the fund: refused.
    let (manager, officer) = (world.manager.clone(), world.officer.clone());
    world.refused(Rule::SignerUnauthorised, &[&manager, &officer], call("sf-ai", threshold));
    world.refused(Rule::SignerUnauthorised, &[&officer, &manager], call("sf-ai", threshold));
}

#[test]
fn dual_control_for_fees_at_the_threshold() {
    let mut world = World::new();
    world.commit("sf-ai", money(3_000_000_000), money(1_000_000_000));
    let threshold = money(100_000_000);
    world.manager_refused(Rule::DualControl, fee("sf-ai", threshold));
    world.managers_ok(fee("sf-ai", threshold));
    world.manager_ok(fee("sf-ai", cents(threshold.cents() - 1)));
    let (manager, outsider) = (world.manager.clone(), world.outsider.clone());
    world.refused(Rule::SignerUnknown, &[&manager, &outsider], fee("sf-ai", threshold));
    let admin = world.admin.clone();
    world.refused(Rule::SignerUnauthorised, &[&manager, &admin], fee("sf-ai", threshold));
}

#[test]
fn dual_control_needs_two_distinct_signers() {
    let mut world = World::new();
    world.commit("sf-ai", money(3_000_000_000), money(1_000_000_000));
    let manager = world.manager.clone();
    let ledger = LedgerId::parse("test").unwrap();
    let signed = SignedEvent::author(
        &ledger,
        EventId::parse("twice").unwrap(),
        Timestamp::parse("2026-06-01T00:00:00Z").unwrap(),
        call("sf-ai", money(100_000_000)),
        &[&manager, &manager],
    );
    // Either the duplicate signer is refused when signing or verifying, or dual control refuses it.
    if let Ok(verified) = signed.map_err(|e| e.to_string()).and_then(|s| s.verify().map_err(|e| e.to_string())) {
        let violation = world.apply(verified).expect_err("one key signing twice is not dual control");
        assert_eq!(violation.rule, Rule::DualControl, "{violation}");
    }
}

#[test]
fn nav_reports_never_go_back_in_time() {
    let mut world = World::new();
    world.manager_ok(nav("sf-ai", "2026-03-31", money(10)));
    let message = world.manager_refused(Rule::NavDateOrder, nav("sf-ai", "2026-03-30", money(11)));
    assert_names(&message, &["2026-03-30", "2026-03-31"]);
    // The same date again is a restatement; a later one is fine.
    world.manager_ok(nav("sf-ai", "2026-03-31", money(12)));
    world.manager_ok(nav("sf-ai", "2026-06-30", money(13)));
    assert_eq!(world.subfund("sf-ai").nav.as_ref().map(|(_, value)| *value), Some(money(13)));
}

#[test]
fn subfunds_invest_only_in_innovation_and_technology() {
    let mut world = World::new();
    world.commit("sf-ai", money(300), money(100));
    let message = world.manager_refused(Rule::InnovationTechnologyOnly, invest_in("sf-ai", "inv-1", money(10), false));
    assert_names(&message, &["sf-ai", "Investee Limited"]);
    world.manager_ok(invest_in("sf-ai", "inv-1", money(10), true));
}

#[test]
fn investments_fit_committed_capital() {
    let mut world = World::new();
    world.manager_refused(Rule::InvestmentCapacity, invest("sf-ai", "inv-0", cents(1)));
    world.commit("sf-ai", money(300), money(100));
    world.manager_ok(invest("sf-ai", "inv-1", money(250)));
    let message = world.manager_refused(Rule::InvestmentCapacity, invest("sf-ai", "inv-2", cents(15_001)));
    assert_names(&message, &["HK$400.01", "HK$400.00"]);
    world.manager_ok(invest("sf-ai", "inv-2", money(150)));
    // Write-offs do not free capacity.
    world.manager_ok(write_off("sf-ai", "inv-2", money(150)));
    world.manager_refused(Rule::InvestmentCapacity, invest("sf-ai", "inv-3", cents(1)));
}

#[test]
fn write_offs_never_exceed_cost() {
    let mut world = World::new();
    world.commit("sf-ai", money(300), money(100));
    world.manager_ok(invest("sf-ai", "inv-1", money(100)));
    world.manager_ok(write_off("sf-ai", "inv-1", money(60)));
    let message = world.manager_refused(Rule::WriteOffCost, write_off("sf-ai", "inv-1", cents(4_001)));
    assert_names(&message, &["HK$100.01", "HK$100.00", "HK$60.00 already written off"]);
    world.manager_ok(write_off("sf-ai", "inv-1", money(40)));
    world.manager_refused(Rule::WriteOffCost, write_off("sf-ai", "inv-1", cents(1)));
    assert_eq!(world.subfund("sf-ai").written_off, money(100));
}

#[test]
fn investments_are_referred_to_through_their_own_subfund() {
    let mut world = World::new();
    world.manager_ok(Event::SubFundAdmitted(subfund("sf-chips", "semiconductors", money(2_000_000_000))));
    world.commit("sf-ai", money(300), money(100));
    world.manager_ok(invest("sf-ai", "inv-1", money(100)));
    let message = world.manager_refused(Rule::InvestmentSubFund, write_off("sf-chips", "inv-1", money(1)));
    assert_names(&message, &["inv-1", "sf-ai", "sf-chips"]);
    world.manager_refused(Rule::InvestmentSubFund, production("sf-chips", "inv-1", money(1)));
    world.manager_ok(write_off("sf-ai", "inv-1", money(1)));
    world.manager_ok(production("sf-ai", "inv-1", money(1)));
    assert_eq!(world.subfund("sf-ai").production_spend, money(1));
}

// ---------------------------------------------------------------------------
// Matching-grant schemes.

#[test]
fn grant_cost_share_edge_and_first_cent_over() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(300_000), money(100_000)));
    world.officer_refused(Rule::GrantCostShare, approve("pilot", "g2", "ent-2", money(300_000), cents(10_000_001)));
}

#[test]
fn grant_cost_share_rounds_a_third_down() {
    let mut world = World::new();
    // A third of HK$100.00 is HK$33.33 (and a third of a cent is nothing).
    let message = world.officer_refused(Rule::GrantCostShare, approve("pilot", "g1", "ent-1", money(100), cents(3_334)));
    assert_names(&message, &["HK$33.34", "1:2", "HK$100.00", "HK$33.33"]);
    world.officer_ok(approve("pilot", "g1", "ent-1", money(100), cents(3_333)));
    world.officer_refused(Rule::GrantCostShare, approve("pilot", "g2", "ent-1", cents(2), cents(1)));
    world.officer_ok(approve("pilot", "g2", "ent-1", cents(3), cents(1)));
}

#[test]
fn nifs_project_cap_is_15m() {
    let mut world = World::new();
    world.officers_ok(approve("nifs", "g1", "ent-1", money(45_000_000), money(15_000_000)));
    let over = cents(money(15_000_000).cents() + 1);
    let message = world.officers_refused(Rule::ProjectGrantCap, approve("nifs", "g2", "ent-2", triple(over), over));
    assert_names(&message, &["HK$15,000,000.01", "HK$15,000,000.00", "nifs"]);
}

#[test]
fn nias_project_cap_is_200m() {
    let mut world = World::new();
    world.officers_ok(approve("nias", "g1", "ent-1", money(600_000_000), money(200_000_000)));
    let over = cents(money(200_000_000).cents() + 1);
    let message = world.officers_refused(Rule::ProjectGrantCap, approve("nias", "g2", "ent-2", triple(over), over));
    assert_names(&message, &["HK$200,000,000.01", "HK$200,000,000.00"]);
}

#[test]
fn pilot_enterprise_cap_is_250k() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(450_000), money(150_000)));
    world.officer_ok(approve("pilot", "g2", "ent-1", money(300_000), money(100_000)));
    let message = world.officer_refused(Rule::EnterpriseGrantCap, approve("pilot", "g3", "ent-1", cents(3), cents(1)));
    assert_names(&message, &["ent-1", "HK$250,000.01", "HK$250,000.00 per-enterprise cap", "(HK$250,000.00 already committed)"]);
    // Another enterprise has its own cap.
    world.officer_ok(approve("pilot", "g3", "ent-2", money(750_000), money(250_000)));
}

/// Issue 19 changed this test: NIFS's HK$45M is a ceiling across the
/// projects an enterprise holds at any one time, not a lifetime cap.
#[test]
fn nifs_enterprise_cap_is_45m_at_any_one_time() {
    let mut world = World::new();
    world.grant_paid("nifs", "g1", "ent-1", money(15_000_000), Money::ZERO);
    world.grant_paid("nifs", "g2", "ent-1", money(15_000_000), Money::ZERO);
    // Exactly HK$45M, three projects at once: accepted.
    world.grant_paid("nifs", "g3", "ent-1", money(15_000_000), cents(1));
    let standing = world.standing("nifs", "ent-1");
    assert_eq!((standing.committed, standing.open_committed), (money(45_000_000), money(45_000_000)));
    // Closing g3 after paying one cent frees its slot and all of its share of the ceiling.
    world.officer_ok(close("g3"));
    let standing = world.standing("nifs", "ent-1");
    assert_eq!((standing.committed, standing.open_committed), (cents(money(30_000_000).cents() + 1), money(30_000_000)));
    world.officers_ok(approve("nifs", "g4", "ent-1", money(45_000_000), money(15_000_000)));
    // A fourth, fifth and sixth project after three closed ones: accepted (lifetime HK$75M).
    for grant in ["g1", "g2", "g4"] {
        world.officer_ok(close(grant));
    }
    for grant in ["g5", "g6", "g7"] {
        world.officers_ok(approve("nifs", grant, "ent-1", money(45_000_000), money(15_000_000)));
    }
    assert_eq!(world.standing("nifs", "ent-1").projects, 7);
    let message = world.officer_refused(Rule::ConcurrentProjects, approve("nifs", "g8", "ent-1", cents(3), cents(1)));
    assert_names(&message, &["already has 3 open projects"]);
}

#[test]
fn a_concurrent_enterprise_cap_counts_open_projects_only() {
    let mut world = World::new();
    world.admin_ok(Event::SchemeEstablished(SchemeEstablished {
        enterprise_grant_max_cents: Some(money(1_000)),
        enterprise_cap_basis: Some(CapBasis::Concurrent),
        ..custom_scheme("conc", money(100_000))
    }));
    world.officer_ok(approve("conc", "g1", "ent-1", money(1_800), money(600)));
    world.officer_ok(approve("conc", "g2", "ent-1", money(1_200), money(400)));
    let message = world.officer_refused(Rule::EnterpriseGrantCap, approve("conc", "g3", "ent-1", cents(3), cents(1)));
    assert_names(&message, &["HK$1,000.01", "HK$1,000.00 per-enterprise cap at any one time", "(HK$1,000.00 already committed)"]);
    // g1 closes having paid HK$100: the ceiling counts only g2 now.
    world.officer_ok(spend("g1", money(300)));
    world.officer_ok(disburse("g1", money(100)));
    world.officer_ok(close("g1"));
    world.officer_refused(Rule::EnterpriseGrantCap, approve("conc", "g3", "ent-1", money(3_000), cents(60_001)));
    world.officer_ok(approve("conc", "g3", "ent-1", money(1_800), money(600)));
    let headroom = world
        .ledger
        .headroom(&SchemeId::parse("conc").unwrap(), &EnterpriseId::parse("ent-1").unwrap(), &crate::time::Date::parse("2026-06-01").unwrap())
        .unwrap();
    assert_eq!((headroom.enterprise_grant, headroom.next_grant_max), (Some(Money::ZERO), Money::ZERO));
}

#[test]
fn nias_enterprise_cap_is_200m() {
    let mut world = World::new();
    world.officers_ok(approve("nias", "g1", "ent-1", money(450_000_000), money(150_000_000)));
    world.officers_refused(Rule::EnterpriseGrantCap, approve("nias", "g2", "ent-1", money(300_000_000), cents(money(50_000_000).cents() + 1)));
    world.officers_ok(approve("nias", "g2", "ent-1", money(150_000_000), money(50_000_000)));
    assert_eq!(world.standing("nias", "ent-1").committed, money(200_000_000));
}

#[test]
fn nias_allows_two_projects_per_enterprise_even_after_closing() {
    let mut world = World::new();
    world.officers_ok(approve("nias", "g1", "ent-1", money(150_000_000), money(10_000_000)));
    world.officers_ok(approve("nias", "g2", "ent-1", money(150_000_000), money(10_000_000)));
    let message = world.officers_refused(Rule::ProjectsPerEnterprise, approve("nias", "g3", "ent-1", money(150_000_000), money(10_000_000)));
    assert_names(&message, &["ent-1", "already has 2 projects", "maximum is 2"]);
    // The limit counts projects, not open ones.
    world.officer_ok(close("g1"));
    world.officers_refused(Rule::ProjectsPerEnterprise, approve("nias", "g3", "ent-1", money(150_000_000), money(10_000_000)));
    world.officers_ok(approve("nias", "g3", "ent-2", money(150_000_000), money(10_000_000)));
}

#[test]
fn nifs_allows_three_concurrent_projects_and_closing_frees_a_slot() {
    let mut world = World::new();
    for grant in ["g1", "g2", "g3"] {
        world.officer_ok(approve("nifs", grant, "ent-1", money(3_000_000), money(1_000_000)));
    }
    let message = world.officer_refused(Rule::ConcurrentProjects, approve("nifs", "g4", "ent-1", money(3_000_000), money(1_000_000)));
    assert_names(&message, &["already has 3 open projects", "maximum at once is 3"]);
    // Completed is not closed: the project still counts.
    world.officer_ok(complete("g2"));
    world.officer_refused(Rule::ConcurrentProjects, approve("nifs", "g4", "ent-1", money(3_000_000), money(1_000_000)));
    world.officer_ok(close("g2"));
    assert_eq!(world.standing("nifs", "ent-1").open_projects, 2);
    world.officer_ok(approve("nifs", "g4", "ent-1", money(3_000_000), money(1_000_000)));
    assert_eq!(world.standing("nifs", "ent-1").projects, 4);
}

#[test]
fn nias_project_cost_is_at_least_150m() {
    let mut world = World::new();
    let under = cents(money(150_000_000).cents() - 1);
    let message = world.officer_refused(Rule::ProjectCostMin, approve("nias", "g1", "ent-1", under, money(1)));
    assert_names(&message, &["HK$149,999,999.99", "HK$150,000,000.00", "nias"]);
    world.officer_ok(approve("nias", "g1", "ent-1", money(150_000_000), money(1)));
}

#[test]
fn nias_enterprise_contribution_is_at_least_100m() {
    // NIAS at the edge: cost HK$150M, grant a third, the enterprise puts in exactly HK$100M.
    let mut world = World::new();
    world.officers_ok(approve("nias", "g1", "ent-1", money(150_000_000), money(50_000_000)));
    // With NIAS's own figures the cost minimum and the 1:2 ratio already imply
    // the contribution minimum, so the first cent under needs a scheme without a cost minimum.
    world.admin_ok(Event::SchemeEstablished(SchemeEstablished {
        project_cost_min_cents: None,
        enterprise_contribution_min_cents: Some(money(100_000_000)),
        ..presets::nias_scheme("nias-open")
    }));
    let cost = cents(money(150_000_000).cents() - 2);
    let grant = cents(money(50_000_000).cents() - 1);
    let message = world.officers_refused(Rule::EnterpriseContributionMin, approve("nias-open", "g2", "ent-1", cost, grant));
    assert_names(&message, &["HK$99,999,999.99", "HK$100,000,000.00"]);
    world.officers_ok(approve("nias-open", "g2", "ent-1", cost, cents(grant.cents() - 1)));
}

#[test]
fn nias_projects_run_at_most_36_months() {
    let mut world = World::new();
    let message = world.officer_refused(Rule::ProjectDurationMax, approve_months("nias", "g1", "ent-1", money(150_000_000), money(1), 37));
    assert_names(&message, &["37 months", "36 months"]);
    world.officer_ok(approve_months("nias", "g1", "ent-1", money(150_000_000), money(1), 36));
}

#[test]
fn scheme_budget_is_never_over_committed() {
    let mut world = World::new();
    world.admin_ok(Event::SchemeEstablished(custom_scheme("tiny", money(1_000))));
    world.officer_ok(approve("tiny", "g1", "ent-1", money(1_800), money(600)));
    world.officer_ok(approve("tiny", "g2", "ent-2", money(1_200), money(400)));
    let message = world.officer_refused(Rule::SchemeBudget, approve("tiny", "g3", "ent-3", cents(3), cents(1)));
    assert_names(&message, &["HK$1,000.01", "HK$1,000.00 budget", "HK$1,000.00 already committed", "HK$0.00 remaining"]);
    // Closing a grant returns what it did not disburse.
    world.officer_ok(spend("g2", money(300)));
    world.officer_ok(disburse("g2", money(100)));
    world.officer_ok(close("g2"));
    assert_eq!(world.scheme("tiny").committed, money(700));
    world.officer_refused(Rule::SchemeBudget, approve("tiny", "g3", "ent-3", money(3_000), cents(30_001)));
    world.officer_ok(approve("tiny", "g3", "ent-3", money(900), money(300)));
}

#[test]
fn verified_spend_never_exceeds_the_approved_cost() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(300_000), money(100_000)));
    world.officer_ok(spend("g1", money(200_000)));
    let message = world.officer_refused(Rule::SpendExceedsCost, spend("g1", cents(10_000_001)));
    assert_names(&message, &["HK$300,000.01", "HK$300,000.00", "HK$200,000.00 already verified"]);
    world.officer_ok(spend("g1", money(100_000)));
    world.officer_refused(Rule::SpendExceedsCost, spend("g1", cents(1)));
}

#[test]
fn disbursement_is_limited_to_a_third_of_verified_spend() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(750_000), money(250_000)));
    world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(1)));
    world.officer_ok(spend("g1", money(300)));
    world.officer_ok(disburse("g1", money(100)));
    let message = world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(1)));
    assert!(message.contains("1:2") && message.contains("HK$300.00"), "{message}");
    assert_names(&message, &["HK$100.01", "HK$100.00"]);
    // A third of HK$100.01 more is HK$33.33 (rounded down).
    world.officer_ok(spend("g1", cents(10_001)));
    world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(3_334)));
    world.officer_ok(disburse("g1", cents(3_333)));
}

#[test]
fn net_disbursement_never_exceeds_the_approved_grant() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(750_000), money(100_000)));
    world.officer_ok(spend("g1", money(750_000)));
    world.officer_ok(disburse("g1", money(60_000)));
    let message = world.officer_refused(Rule::ApprovedGrant, disburse("g1", cents(4_000_001)));
    assert_names(&message, &["HK$100,000.01", "HK$100,000.00"]);
    world.officer_ok(disburse("g1", money(40_000)));
    world.officer_refused(Rule::ApprovedGrant, disburse("g1", cents(1)));
    // A clawback makes room again, up to the approved grant.
    world.officer_ok(clawback("g1", money(5_000)));
    world.officer_refused(Rule::ApprovedGrant, disburse("g1", cents(500_001)));
    world.officer_ok(disburse("g1", money(5_000)));
    assert_eq!(world.grant("g1").net_disbursed(), money(100_000));
}

#[test]
fn dual_control_for_grant_disbursements_at_the_threshold() {
    let mut world = World::new();
    world.officers_ok(approve("nias", "g1", "ent-1", money(150_000_000), money(50_000_000)));
    world.officer_ok(spend("g1", money(90_000_000)));
    let threshold = money(10_000_000);
    let message = world.officer_refused(Rule::DualControl, disburse("g1", threshold));
    assert_names(&message, &["HK$10,000,000.00", "got 1"]);
    world.officers_ok(disburse("g1", threshold));
    world.officer_ok(disburse("g1", cents(threshold.cents() - 1)));
    let (officer, manager) = (world.officer.clone(), world.manager.clone());
    world.refused(Rule::SignerUnauthorised, &[&officer, &manager], disburse("g1", threshold));
    // An officer scoped to another scheme is not authorised either.
    let pilot_officer = world.key_with_role("officer-pilot", Role::GrantOfficer, "scheme:pilot");
    world.refused(Rule::SignerUnauthorised, &[&officer, &pilot_officer], disburse("g1", threshold));
    let nias_officer = world.key_with_role("officer-nias", Role::GrantOfficer, "scheme:nias");
    world.ok(&[&officer, &nias_officer], disburse("g1", threshold));
}

#[test]
fn nifs_pays_only_on_completion() {
    let mut world = World::new();
    world.officer_ok(approve("nifs", "g1", "ent-1", money(3_000_000), money(1_000_000)));
    world.officer_ok(spend("g1", money(3_000_000)));
    let message = world.officer_refused(Rule::GrantStatus, disburse("g1", money(1)));
    assert_names(&message, &["pays on completion", "g1"]);
    world.officer_ok(complete("g1"));
    world.officer_ok(disburse("g1", money(1_000_000)));
    // Pilot grants pay as spend is verified, before completion.
    world.officer_ok(approve("pilot", "g2", "ent-1", money(3_000), money(1_000)));
    world.officer_ok(spend("g2", money(300)));
    world.officer_ok(disburse("g2", money(100)));
}

#[test]
fn grant_status_allows_each_step_once() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(3_000), money(1_000)));
    world.officer_ok(spend("g1", money(300)));
    world.officer_ok(complete("g1"));
    world.officer_refused(Rule::GrantStatus, complete("g1"));
    // Completed grants still take spend and payments.
    world.officer_ok(spend("g1", money(300)));
    world.officer_ok(disburse("g1", money(100)));
    world.officer_ok(close("g1"));
    world.officer_refused(Rule::GrantStatus, close("g1"));
    world.officer_refused(Rule::GrantStatus, complete("g1"));
    world.officer_refused(Rule::GrantStatus, spend("g1", money(1)));
    let message = world.officer_refused(Rule::GrantStatus, disburse("g1", money(1)));
    assert_names(&message, &["g1", "closed"]);
    // An open grant can be closed without completion (withdrawn).
    world.officer_ok(approve("pilot", "g2", "ent-2", money(3_000), money(1_000)));
    world.officer_ok(close("g2"));
}

#[test]
fn clawbacks_never_exceed_what_was_disbursed() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(3_000), money(1_000)));
    world.officer_refused(Rule::ClawbackExceedsDisbursed, clawback("g1", cents(1)));
    world.officer_ok(spend("g1", money(300)));
    world.officer_ok(disburse("g1", money(100)));
    let message = world.officer_refused(Rule::ClawbackExceedsDisbursed, clawback("g1", cents(10_001)));
    assert_names(&message, &["HK$100.01", "HK$100.00"]);
    world.officer_ok(clawback("g1", money(60)));
    world.officer_refused(Rule::ClawbackExceedsDisbursed, clawback("g1", cents(4_001)));
    world.officer_ok(clawback("g1", money(40)));
    assert_eq!((world.grant("g1").net_disbursed(), world.scheme("pilot").disbursed), (Money::ZERO, Money::ZERO));
}

#[test]
fn closing_returns_undisbursed_money_to_the_budget_and_the_enterprise() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(750_000), money(250_000)));
    world.officer_ok(spend("g1", money(300)));
    world.officer_ok(disburse("g1", money(100)));
    assert_eq!(world.scheme("pilot").committed, money(250_000));
    world.officer_refused(Rule::EnterpriseGrantCap, approve("pilot", "g2", "ent-1", cents(3), cents(1)));
    world.officer_ok(close("g1"));
    assert_eq!(world.scheme("pilot").committed, money(100));
    assert_eq!(world.scheme("pilot").disbursed, money(100));
    let standing = world.standing("pilot", "ent-1");
    assert_eq!((standing.committed, standing.open_projects, standing.projects), (money(100), 0, 1));
    // The enterprise's headroom is the cap less what it kept.
    world.officer_refused(Rule::EnterpriseGrantCap, approve("pilot", "g2", "ent-1", money(750_000), cents(24_990_001)));
    world.officer_ok(approve("pilot", "g2", "ent-1", money(750_000), money(249_900)));
}

#[test]
fn clawback_after_close_returns_money_to_the_budget_and_the_enterprise() {
    let mut world = World::new();
    world.admin_ok(Event::SchemeEstablished(SchemeEstablished { enterprise_grant_max_cents: Some(money(1_000)), ..custom_scheme("tiny", money(1_000)) }));
    world.officer_ok(approve("tiny", "g1", "ent-1", money(3_000), money(1_000)));
    world.officer_ok(spend("g1", money(3_000)));
    world.officer_ok(disburse("g1", money(1_000)));
    world.officer_ok(close("g1"));
    assert_eq!(world.scheme("tiny").committed, money(1_000));
    world.officer_refused(Rule::SchemeBudget, approve("tiny", "g2", "ent-2", cents(3), cents(1)));
    world.officer_ok(clawback("g1", money(400)));
    assert_eq!((world.scheme("tiny").committed, world.scheme("tiny").disbursed), (money(600), money(600)));
    assert_eq!(world.standing("tiny", "ent-1").committed, money(600));
    world.officer_refused(Rule::SchemeBudget, approve("tiny", "g2", "ent-2", money(3_000), cents(40_001)));
    world.officer_ok(approve("tiny", "g2", "ent-2", money(1_200), money(400)));
    // A clawback from an open grant returns nothing to the budget: the grant still holds its amount.
    world.officer_ok(spend("g2", money(300)));
    world.officer_ok(disburse("g2", money(100)));
    world.officer_ok(clawback("g2", money(100)));
    assert_eq!(world.scheme("tiny").committed, money(1_000));
}

#[test]
fn percentages_in_messages_are_percentages() {
    let mut world = World::new();
    world.manager_ok(market("sf-ai", money(300)));
    // HK$100.01 of HK$400.01 is 25.0018...%, shown as 25.00%.
    let message = world.manager_refused(Rule::GovernmentShareMax, government("sf-ai", cents(10_001)));
    assert_names(&message, &["would be 25.00% of sub-fund"]);
    world.officer_ok(approve("pilot", "g1", "ent-1", money(3_000), money(1_000)));
    world.officer_ok(spend("g1", money(300)));
    // HK$100.01 of HK$300.00 is 33.3366...%, shown as 33.33%.
    let message = world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(10_001)));
    assert_names(&message, &["(33.33% of verified spend)"]);
}

// ---------------------------------------------------------------------------
// Issue 19: reimbursement that cannot pay twice, evidence used once.

fn grant_id(id: &str) -> GrantId {
    gr(id)
}

#[test]
fn money_clawed_back_for_ineligible_spend_is_never_paid_again() {
    // Given a pilot grant paid HK$30,000 against HK$90,000 of verified spend.
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(750_000), money(250_000)));
    let invoice = fresh_evidence();
    world.officer_ok(spend_with("g1", money(90_000), invoice));
    world.officers_ok(disburse("g1", money(30_000)));
    // A clawback for ineligible spend needs the spend disallowed first.
    let message = world.officers_refused(Rule::ClawbackReason, clawback_for("g1", money(30_000), ClawbackReason::IneligibleSpend));
    assert_names(&message, &["ineligible_spend", "overpaid, which is HK$0.00", "disallow the spend first"]);
    // When HK$60,000 of it is disallowed, the grant is overpaid by HK$20,000 ...
    world.officer_ok(disallow("g1", money(60_000), invoice));
    let position = world.ledger.grant_position(&grant_id("g1")).unwrap();
    assert_eq!((position.net_eligible_spend, position.reimbursable, position.overpaid), (money(30_000), money(10_000), money(20_000)));
    // ... which is what may be clawed back for it, not a cent more.
    world.officers_refused(Rule::ClawbackReason, clawback_for("g1", cents(2_000_001), ClawbackReason::IneligibleSpend));
    // All of it disallowed: all HK$30,000 is returned.
    world.officer_ok(disallow("g1", money(30_000), invoice));
    world.officers_ok(clawback_for("g1", money(30_000), ClawbackReason::IneligibleSpend));
    // Then disbursing HK$30,000 again against the same spend is refused.
    let message = world.officers_refused(Rule::ReimbursementShare, disburse("g1", money(30_000)));
    assert_names(&message, &["net eligible spend HK$0.00 (verified HK$90,000.00 less disallowed HK$90,000.00)"]);
    world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(1)));
    // New, eligible spend on other evidence is reimbursed as usual.
    world.officer_ok(spend("g1", money(90_000)));
    world.officers_ok(disburse("g1", money(30_000)));
    world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(1)));
}

#[test]
fn a_clawback_without_a_reason_code_returns_money_payable_again_within_the_rule() {
    // Records before issue 19 carry no reason code: money returned, payable
    // again only within the government's share of net eligible spend.
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(750_000), money(250_000)));
    world.officer_ok(spend("g1", money(90_000)));
    world.officers_ok(disburse("g1", money(30_000)));
    world.officers_ok(clawback("g1", money(30_000)));
    world.officers_ok(disburse("g1", money(30_000)));
    world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(1)));
}

#[test]
fn overpayment_returns_at_most_what_is_overpaid() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(3_000), money(1_000)));
    let invoice = fresh_evidence();
    world.officer_ok(spend_with("g1", money(300), invoice));
    world.officer_ok(disburse("g1", money(100)));
    world.officer_refused(Rule::ClawbackReason, clawback_for("g1", cents(1), ClawbackReason::Overpayment));
    world.officer_ok(disallow("g1", money(30), invoice));
    // A third of HK$270 is HK$90: HK$10 overpaid.
    world.officer_refused(Rule::ClawbackReason, clawback_for("g1", cents(1_001), ClawbackReason::Overpayment));
    world.officer_ok(clawback_for("g1", money(10), ClawbackReason::Overpayment));
    assert_eq!(world.ledger.grant_position(&grant_id("g1")).unwrap().overpaid, Money::ZERO);
}

#[test]
fn money_recovered_for_a_breach_is_never_paid_again() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(3_000), money(1_000)));
    world.officer_ok(spend("g1", money(300)));
    world.officer_ok(disburse("g1", money(100)));
    world.officer_ok(clawback_for("g1", money(40), ClawbackReason::BreachOfConditions));
    // Paid 60, forfeited 40: the HK$100 share of spend is used up.
    let message = world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(1)));
    assert_names(&message, &["(plus HK$40.00 forfeited)"]);
    let position = world.ledger.grant_position(&grant_id("g1")).unwrap();
    assert_eq!((position.net_disbursed, position.forfeited, position.disbursable_now, position.undisbursed), (money(60), money(40), Money::ZERO, money(900)));
    // The forfeited money leaves the budget and the enterprise's commitments.
    assert_eq!(world.scheme("pilot").committed, money(960));
    assert_eq!(world.standing("pilot", "ent-1").committed, money(960));
    // Termination forfeits too; the approved grant bounds net disbursement plus forfeited money.
    world.officer_ok(spend("g1", money(2_700)));
    world.officer_ok(clawback_for("g1", money(60), ClawbackReason::Termination));
    world.officer_refused(Rule::ApprovedGrant, disburse("g1", cents(90_001)));
    world.officer_ok(disburse("g1", money(900)));
    assert_eq!(world.ledger.grant_position(&grant_id("g1")).unwrap().undisbursed, Money::ZERO);
}

#[test]
fn evidence_reused_names_the_record_that_used_it_first() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(300_000), money(100_000)));
    world.officer_ok(approve("nifs", "g2", "ent-2", money(300_000), money(100_000)));
    world.officer_ok(approve("pilot", "g3", "ent-3", money(300_000), money(100_000)));
    let invoice = fresh_evidence();
    world.officer_ok(spend_with("g1", money(1_000), invoice));
    let first = world.history.last().unwrap().body().id.to_string();
    let used = &world.ledger.evidence()[&invoice];
    assert_eq!((used.grant.as_str(), used.event.as_str(), used.amount), ("g1", first.as_str(), money(1_000)));
    // On another scheme's grant, another grant of the same scheme, or the same grant again: refused.
    let message = world.officer_refused(Rule::EvidenceReused, spend_with("g2", money(1_000), invoice));
    assert_names(&message, &[&invoice.to_string(), "grant g1", &format!("(record {first})")]);
    world.officer_refused(Rule::EvidenceReused, spend_with("g3", money(1), invoice));
    world.officer_refused(Rule::EvidenceReused, spend_with("g1", money(1), invoice));
    world.officer_ok(spend("g2", money(1_000)));
}

#[test]
fn a_disallowance_names_evidence_of_spend_on_the_grant() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(3_000), money(1_000)));
    world.officer_ok(approve("pilot", "g2", "ent-2", money(3_000), money(1_000)));
    let (mine, theirs) = (fresh_evidence(), fresh_evidence());
    world.officer_ok(spend_with("g1", money(300), mine));
    world.officer_ok(spend_with("g2", money(300), theirs));
    let message = world.officer_refused(Rule::DisallowanceEvidence, disallow("g1", money(1), fresh_evidence()));
    assert_names(&message, &["supports no verified spend"]);
    let message = world.officer_refused(Rule::DisallowanceEvidence, disallow("g1", money(1), theirs));
    assert_names(&message, &["grant g2, not on grant g1"]);
    world.officer_ok(disallow("g1", money(200), mine));
    let message = world.officer_refused(Rule::DisallowanceEvidence, disallow("g1", cents(10_001), mine));
    assert_names(&message, &["HK$300.01", "HK$300.00 of spend", "(HK$200.00 already disallowed)"]);
    world.officer_ok(disallow("g1", money(100), mine));
    world.officer_refused(Rule::AmountPositive, disallow("g1", Money::ZERO, mine));
    assert_eq!(world.grant("g1").net_eligible_spend(), Money::ZERO);
    // A closed grant can still be found to have ineligible spend (audit after closure).
    world.officer_ok(close("g2"));
    world.officer_ok(disallow("g2", money(300), theirs));
}

// ---------------------------------------------------------------------------
// Issue 19: schemes as data.

fn scheduled_scheme(id: &str, reimburse: bool) -> Event {
    Event::SchemeEstablished(SchemeEstablished {
        payment_schedule: Some(PaymentSchedule {
            initial_payment_bps: 2_000,
            milestone_instalments_bps: vec![3_000, 5_000],
            instalments_reimburse_spend: reimburse,
        }),
        ..custom_scheme(id, money(100_000))
    })
}

fn milestone(grant: &str, number: u32) -> Event {
    Event::MilestoneAccepted(MilestoneAccepted { grant: gr(grant), milestone: number, evidence_sha256: fresh_evidence() })
}

#[test]
fn a_payment_schedule_pays_the_initial_payment_then_instalments_within_reimbursement() {
    let mut world = World::new();
    world.admin_ok(scheduled_scheme("sched", true));
    world.officer_ok(approve("sched", "g1", "ent-1", money(3_000), money(1_000)));
    // 20% on approval, before any spend.
    world.officer_ok(disburse("g1", money(200)));
    let message = world.officer_refused(Rule::PaymentSchedule, disburse("g1", cents(1)));
    assert_names(&message, &["HK$200.01", "HK$200.00 payable now", "0 accepted milestones"]);
    // Milestones are accepted in order.
    let message = world.officer_refused(Rule::MilestoneOrder, milestone("g1", 2));
    assert_names(&message, &["the next is 1"]);
    world.officer_ok(milestone("g1", 1));
    // 50% scheduled, but instalments also need spend: a third of HK$900 is HK$300.
    world.officer_refused(Rule::PaymentSchedule, disburse("g1", cents(1)));
    world.officer_ok(spend("g1", money(900)));
    world.officer_ok(disburse("g1", money(100)));
    world.officer_refused(Rule::PaymentSchedule, disburse("g1", cents(1)));
    world.officer_ok(milestone("g1", 2));
    world.officer_refused(Rule::MilestoneOrder, milestone("g1", 3));
    assert_eq!(world.ledger.grant_position(&grant_id("g1")).unwrap().scheduled, Some(money(1_000)));
}

#[test]
fn a_payment_schedule_without_reimbursement_pays_by_milestones() {
    let mut world = World::new();
    world.admin_ok(scheduled_scheme("sched", false));
    world.officer_ok(approve("sched", "g1", "ent-1", money(3_000), money(1_000)));
    world.officer_ok(milestone("g1", 1));
    world.officer_ok(disburse("g1", money(500)));
    world.officer_refused(Rule::PaymentSchedule, disburse("g1", cents(1)));
    // A scheme without a schedule has no milestones.
    world.officer_ok(approve("pilot", "g2", "ent-1", money(3_000), money(1_000)));
    let message = world.officer_refused(Rule::MilestoneOrder, milestone("g2", 1));
    assert_names(&message, &["has 0 milestones"]);
}

#[test]
fn payment_schedules_and_windows_must_make_sense() {
    let mut world = World::new();
    let over = SchemeEstablished {
        payment_schedule: Some(PaymentSchedule { initial_payment_bps: 5_001, milestone_instalments_bps: vec![5_000], instalments_reimburse_spend: true }),
        ..custom_scheme("s1", money(1_000))
    };
    let message = world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(over));
    assert_names(&message, &["10001 basis points"]);
    let backwards = SchemeEstablished {
        application_window: Some(Period { starts: crate::time::Date::parse("2026-01-02").unwrap(), ends: crate::time::Date::parse("2026-01-01").unwrap() }),
        ..custom_scheme("s1", money(1_000))
    };
    world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(backwards));
    let fund_kind = SchemeEstablished {
        dual_control: vec![DualControlRule { kind: DualControlKind::CapitalCall, threshold_cents: money(1) }],
        ..custom_scheme("s1", money(1_000))
    };
    let message = world.admin_refused(Rule::InvalidParameter, Event::SchemeEstablished(fund_kind));
    assert_names(&message, &["capital_call", "a scheme's terms"]);
    let scheme_kind =
        FundEstablished { dual_control: vec![DualControlRule { kind: DualControlKind::Disbursement, threshold_cents: money(1) }], ..presets::itif("f1") };
    world.admin_refused(Rule::InvalidParameter, Event::FundEstablished(scheme_kind));
    world.admin_ok(Event::SchemeEstablished(SchemeEstablished {
        payment_schedule: Some(PaymentSchedule { initial_payment_bps: 5_000, milestone_instalments_bps: vec![5_000], instalments_reimburse_spend: true }),
        ..custom_scheme("s1", money(1_000))
    }));
}

fn approve_applied(grant: &str, applied_on: Option<&str>) -> Event {
    let mut event = approve("pilot", grant, "ent-1", money(3_000), money(1_000));
    if let Event::GrantApproved(data) = &mut event {
        data.applied_on = applied_on.map(|date| crate::time::Date::parse(date).unwrap());
    }
    event
}

#[test]
fn the_pilot_receives_applications_within_its_two_year_window() {
    let mut world = World::new();
    let message = world.officer_refused(Rule::ApplicationWindow, approve_applied("g1", None));
    assert_names(&message, &["2025-11-18 to 2027-11-17", "applied_on"]);
    let message = world.officer_refused(Rule::ApplicationWindow, approve_applied("g1", Some("2027-11-18")));
    assert_names(&message, &["received on 2027-11-18", "outside"]);
    world.officer_refused(Rule::ApplicationWindow, approve_applied("g1", Some("2025-11-17")));
    // An application is received before it is approved.
    let message = world.officer_refused(Rule::ApplicationWindow, approve_applied("g1", Some("2027-11-17")));
    assert_names(&message, &["before its application was received on 2027-11-17"]);
    let officer = world.officer.clone();
    let last_day = world.sign_at(&[&officer], "2027-11-17T12:00:00Z", approve_applied("g1", Some("2027-11-17")));
    world.apply(last_day).unwrap();
    world.officer_ok(approve_applied("g2", Some("2025-11-18")));
}

#[test]
fn the_pilot_requires_the_production_line_attestation() {
    let mut world = World::new();
    let mut event = approve("pilot", "g1", "ent-1", money(3_000), money(1_000));
    if let Event::GrantApproved(data) = &mut event {
        data.attestations.clear();
    }
    let message = world.officer_refused(Rule::AttestationMissing, event);
    assert_names(&message, &["hk-production-line-1y", "g1"]);
    world.officer_ok(approve("pilot", "g1", "ent-1", money(3_000), money(1_000)));
    // Schemes that require nothing accept approvals without attestations.
    world.admin_ok(Event::SchemeEstablished(custom_scheme("plain", money(1_000))));
    world.officer_ok(Event::GrantApproved(GrantApproved { attestations: Vec::new(), applied_on: None, ..approve_data("plain", "g2") }));
}

fn approve_data(scheme: &str, grant: &str) -> GrantApproved {
    match approve(scheme, grant, "ent-1", money(3), money(1)) {
        Event::GrantApproved(data) => data,
        _ => unreachable!(),
    }
}

#[test]
fn nias_thresholds_changed_on_2025_11_18_for_grants_approved_from_then() {
    let mut world = World::new();
    let officers = [world.officer.clone(), world.officer_two.clone()];
    let signers = [&officers[0], &officers[1]];
    // Approved on 2025-11-17: the terms as launched (HK$300M, HK$200M).
    let applied = |mut event: Event| {
        if let Event::GrantApproved(data) = &mut event {
            data.applied_on = Some(crate::time::Date::parse("2025-11-01").unwrap());
        }
        event
    };
    let before = world.sign_at(&signers, "2025-11-17T23:59:59Z", applied(approve("nias", "g1", "ent-1", money(150_000_000), money(50_000_000))));
    let violation = world.apply(before).unwrap_err();
    assert_eq!(violation.rule, Rule::ProjectCostMin, "{violation}");
    assert_names(&violation.message, &["HK$300,000,000.00", "terms in force on 2025-11-17"]);
    // Approved on 2025-11-18: the amended terms (HK$150M, HK$100M).
    let from = world.sign_at(&signers, "2025-11-18T00:00:00Z", applied(approve("nias", "g1", "ent-1", money(150_000_000), money(50_000_000))));
    world.apply(from).unwrap();
    let terms = world.scheme("nias").terms_on(&crate::time::Date::parse("2025-11-18").unwrap());
    assert_eq!((terms.project_cost_min_cents, terms.enterprise_contribution_min_cents), (Some(money(150_000_000)), Some(money(100_000_000))));
    // Amendments are recorded in order of their effective dates.
    let backdated = SchemeAmended { effective_from: crate::time::Date::parse("2025-11-17").unwrap(), ..presets::nias_amendment_2025_11_18("nias") };
    let message = world.admin_refused(Rule::AmendmentOrder, Event::SchemeAmended(backdated));
    assert_names(&message, &["2025-11-17", "2025-11-18"]);
    let nothing = SchemeAmended { project_cost_min_cents: None, enterprise_contribution_min_cents: None, ..presets::nias_amendment_2025_11_18("nias") };
    world.admin_refused(Rule::InvalidParameter, Event::SchemeAmended(nothing));
}

#[test]
fn scheme_amendments_are_published_under_their_scheme() {
    let world = World::new();
    let amended = Event::SchemeAmended(presets::nias_amendment_2025_11_18("nias"));
    assert_eq!(world.ledger.event_scope(&amended), EventScope::Scheme(SchemeId::parse("nias").unwrap()));
}

#[test]
fn a_budget_top_up_makes_room_at_once() {
    let mut world = World::new();
    world.admin_ok(Event::SchemeEstablished(custom_scheme("tiny", money(1_000))));
    world.officer_ok(approve("tiny", "g1", "ent-1", money(3_000), money(1_000)));
    world.officer_refused(Rule::SchemeBudget, approve("tiny", "g2", "ent-2", cents(3), cents(1)));
    let top_up = SchemeAmended {
        budget_top_up_cents: Some(money(500)),
        project_cost_min_cents: None,
        enterprise_contribution_min_cents: None,
        effective_from: crate::time::Date::parse("2027-01-01").unwrap(),
        ..presets::nias_amendment_2025_11_18("tiny")
    };
    world.admin_ok(Event::SchemeAmended(top_up));
    assert_eq!(world.scheme("tiny").budget(), money(1_500));
    world.officer_refused(Rule::SchemeBudget, approve("tiny", "g2", "ent-2", money(3_000), cents(50_001)));
    world.officer_ok(approve("tiny", "g2", "ent-2", money(1_500), money(500)));
}

#[test]
fn nifs_projects_run_at_most_24_months() {
    let mut world = World::new();
    let message = world.officer_refused(Rule::ProjectDurationMax, approve_months("nifs", "g1", "ent-1", money(3_000_000), money(1_000_000), 25));
    assert_names(&message, &["25 months", "24 months"]);
    world.officer_refused(Rule::ProjectDurationMax, approve_months("nifs", "g1", "ent-1", money(3_000_000), money(1_000_000), 48));
    world.officer_ok(approve_months("nifs", "g1", "ent-1", money(3_000_000), money(1_000_000), 24));
}

// ---------------------------------------------------------------------------
// Issue 19: associated enterprises.

fn associate(enterprises: &[&str]) -> Event {
    Event::EnterprisesAssociated(EnterprisesAssociated {
        enterprises: enterprises.iter().map(|id| EnterpriseId::parse(id).unwrap()).collect(),
        basis: text("common shareholder holding 60%"),
        evidence_sha256: fresh_evidence(),
    })
}

#[test]
fn associated_enterprises_share_the_per_enterprise_cap() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(450_000), money(150_000)));
    world.officer_ok(approve("pilot", "g2", "ent-2", money(300_000), money(100_000)));
    world.officer_ok(associate(&["ent-2", "ent-1"]));
    let message = world.officer_refused(Rule::EnterpriseGrantCap, approve("pilot", "g3", "ent-2", cents(3), cents(1)));
    assert_names(&message, &["enterprise ent-2 (with associated ent-1)", "HK$250,000.01", "(HK$250,000.00 already committed)"]);
    world.officer_refused(Rule::EnterpriseGrantCap, approve("pilot", "g3", "ent-1", cents(3), cents(1)));
    let headroom = world
        .ledger
        .headroom(&SchemeId::parse("pilot").unwrap(), &EnterpriseId::parse("ent-1").unwrap(), &crate::time::Date::parse("2026-06-01").unwrap())
        .unwrap();
    assert_eq!((headroom.group.len(), headroom.enterprise_grant), (2, Some(Money::ZERO)));
    // An unrelated enterprise keeps its own cap.
    world.officer_ok(approve("pilot", "g3", "ent-3", money(750_000), money(250_000)));
}

#[test]
fn associated_enterprises_share_project_counts_and_groups_merge() {
    let mut world = World::new();
    world.officers_ok(approve("nias", "g1", "ent-a", money(150_000_000), money(1)));
    world.officers_ok(approve("nias", "g2", "ent-b", money(150_000_000), money(1)));
    world.officers_ok(approve("nias", "g3", "ent-c", money(150_000_000), money(1)));
    world.officer_ok(associate(&["ent-a", "ent-b"]));
    let message = world.officer_refused(Rule::ProjectsPerEnterprise, approve("nias", "g4", "ent-a", money(150_000_000), money(1)));
    assert_names(&message, &["enterprise ent-a (with associated ent-b)", "already has 2 projects"]);
    world.officer_ok(approve("nias", "g4", "ent-c", money(150_000_000), money(1)));
    world.officer_ok(associate(&["ent-c", "ent-d"]));
    world.officer_ok(associate(&["ent-b", "ent-d"]));
    let groups = world.ledger.enterprise_groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[&EnterpriseId::parse("ent-a").unwrap()].len(), 4);
    let message = world.officer_refused(Rule::AlreadyExists, associate(&["ent-c", "ent-a"]));
    assert_names(&message, &["already associated", "group ent-a"]);
    world.officer_refused(Rule::InvalidParameter, associate(&["ent-x"]));
    world.officer_refused(Rule::InvalidParameter, associate(&["ent-x", "ent-x"]));
    // Recording associations is for grant officers at ledger scope.
    let pilot_officer = world.key_with_role("officer-pilot", Role::GrantOfficer, "scheme:pilot");
    world.refused(Rule::SignerUnauthorised, &[&pilot_officer], associate(&["ent-x", "ent-y"]));
}

// ---------------------------------------------------------------------------
// Issue 19: dual control per event kind.

#[test]
fn dual_control_covers_large_approvals() {
    let mut world = World::new();
    let threshold = money(10_000_000);
    let message = world.officer_refused(Rule::DualControl, approve("nias", "g1", "ent-1", money(150_000_000), threshold));
    assert_names(&message, &["grant_approval", "HK$10,000,000.00", "got 1"]);
    world.officers_ok(approve("nias", "g1", "ent-1", money(150_000_000), threshold));
    world.officer_ok(approve("nias", "g2", "ent-2", money(150_000_000), cents(threshold.cents() - 1)));
    // The pilot's approvals (at most HK$250,000) need one signer.
    world.officer_ok(approve("pilot", "g3", "ent-3", money(750_000), money(250_000)));
}

// ---------------------------------------------------------------------------
// Issue 19: the ITIF as published.

/// The ITIF preset in full as fund `itif`, with a manager, and sub-fund `sf-x`.
fn itif_world() -> (World, SecretKey, SecretKey) {
    let mut world = World::new();
    world.admin_ok(Event::FundEstablished(presets::itif("itif")));
    let one = world.key_with_role("itif-manager", Role::FundManager, "fund:itif");
    let two = world.key_with_role("itif-manager-two", Role::FundManager, "fund:itif");
    let mut admitted = subfund_in("itif", "sf-x", "ai-robotics", money(2_000_000_000));
    admitted.investment_period =
        Some(Period { starts: crate::time::Date::parse("2026-01-01").unwrap(), ends: crate::time::Date::parse("2030-12-31").unwrap() });
    world.ok(&[&one], Event::SubFundAdmitted(admitted));
    (world, one, two)
}

#[test]
fn the_government_commits_last_only_once_the_minimum_size_is_reached() {
    let (mut world, one, two) = itif_world();
    world.ok(&[&one], market("sf-x", money(1_600_000_000)));
    let message = world.refused(Rule::SubFundCommittedSizeMin, &[&one, &two], government("sf-x", cents(money(400_000_000).cents() - 1)));
    assert_names(&message, &["HK$1,999,999,999.99", "(market HK$1,600,000,000.00)", "minimum size of HK$2,000,000,000.00"]);
    // A commitment this large needs two signers.
    let message = world.refused(Rule::DualControl, &[&one], government("sf-x", money(400_000_000)));
    assert_names(&message, &["government_commitment", "HK$100,000,000.00"]);
    world.ok(&[&one, &two], government("sf-x", money(400_000_000)));
    let compliance = world.ledger.subfund_compliance(&sf("sf-x")).unwrap();
    assert_eq!((compliance.committed_size, compliance.committed_size_min_met), (money(2_000_000_000), Some(true)));
    assert_eq!(compliance.government_share.met, Some(true));
}

#[test]
fn production_spend_counts_within_the_investment_period() {
    let (mut world, one, two) = itif_world();
    world.ok(&[&one], market("sf-x", money(3_000_000_000)));
    world.ok(&[&one, &two], government("sf-x", money(1_000_000_000)));
    world.ok(&[&one], invest("sf-x", "inv-x", money(10_000_000)));
    let dated = |date: Option<&str>| match production("sf-x", "inv-x", money(1_000)) {
        Event::ProductionSpendReported(data) => {
            Event::ProductionSpendReported(ProductionSpendReported { spent_on: date.map(|d| crate::time::Date::parse(d).unwrap()), ..data })
        }
        _ => unreachable!(),
    };
    let message = world.refused(Rule::ProductionSpendDate, &[&one], dated(None));
    assert_names(&message, &["2026-01-01 to 2030-12-31", "spent_on"]);
    world.ok(&[&one], dated(Some("2031-01-01")));
    world.ok(&[&one], dated(Some("2030-12-31")));
    world.ok(&[&one], dated(Some("2026-01-01")));
    let subfund = world.subfund("sf-x");
    assert_eq!((subfund.production_spend, subfund.production_spend_in_period), (money(3_000), money(2_000)));
    let compliance = world.ledger.subfund_compliance(&sf("sf-x")).unwrap();
    assert_eq!((compliance.hk_production_spend.part, compliance.hk_production_spend.whole), (money(2_000), money(4_000_000_000)));
    assert_eq!(compliance.hk_production_spend.target(), money(1_000_000_000));
}

#[test]
fn the_hk_share_is_measured_against_the_subfund_size() {
    // The case: 48% of the sub-fund's size in HK enterprises is not 50%.
    let mut world = World::new();
    world.commit("sf-ai", money(3_000_000_000), money(1_000_000_000));
    world.manager_ok(invest("sf-ai", "inv-hk", money(1_920_000_000)));
    let compliance = world.ledger.subfund_compliance(&sf("sf-ai")).unwrap();
    let hk = &compliance.hk_enterprise_share;
    assert_eq!((hk.part, hk.whole, hk.share_bps, hk.met), (money(1_920_000_000), money(4_000_000_000), Some(4_800), Some(false)));
    world.manager_ok(invest("sf-ai", "inv-hk-2", cents(money(80_000_000).cents() - 1)));
    assert_eq!(world.ledger.subfund_compliance(&sf("sf-ai")).unwrap().hk_enterprise_share.met, Some(false));
    world.manager_ok(invest("sf-ai", "inv-hk-3", cents(1)));
    assert_eq!(world.ledger.subfund_compliance(&sf("sf-ai")).unwrap().hk_enterprise_share.met, Some(true));
}

#[test]
fn the_programme_size_is_reported_against_40bn() {
    let (mut world, one, two) = itif_world();
    world.ok(&[&one], market("sf-x", money(3_000_000_000)));
    world.ok(&[&one, &two], government("sf-x", money(1_000_000_000)));
    let programme = world.ledger.programme_size(&FundId::parse("itif").unwrap()).unwrap();
    assert_eq!((programme.committed_size, programme.minimum, programme.met), (money(4_000_000_000), Some(money(40_000_000_000)), Some(false)));
    // A fund recorded before issue 19 has no programme minimum.
    assert_eq!(world.ledger.programme_size(&FundId::parse("itf").unwrap()).unwrap().met, None);
}

#[test]
fn figures_the_disbursement_rule_uses_are_public() {
    let mut world = World::new();
    world.officer_ok(approve("nifs", "g1", "ent-1", money(3_000_000), money(1_000_000)));
    world.officer_ok(spend("g1", money(1_500_000)));
    let position = world.ledger.grant_position(&grant_id("g1")).unwrap();
    // Paid on completion: nothing is disbursable before.
    assert_eq!((position.reimbursable, position.ceiling, position.disbursable_now), (money(500_000), money(500_000), Money::ZERO));
    world.officer_ok(complete("g1"));
    assert_eq!(world.ledger.grant_position(&grant_id("g1")).unwrap().disbursable_now, money(500_000));
    world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(50_000_001)));
    world.officer_ok(disburse("g1", money(500_000)));
    let position = world.ledger.grant_position(&grant_id("g1")).unwrap();
    assert_eq!((position.disbursable_now, position.undisbursed), (Money::ZERO, money(500_000)));
}

#[test]
fn every_rule_has_a_test_here() {
    let source = include_str!("tests.rs");
    let untested: Vec<String> = Rule::ALL.iter().map(|rule| format!("Rule::{rule:?}")).filter(|name| !source.contains(&format!("{name},"))).collect();
    assert!(untested.is_empty(), "rules without a refusal test in ledger/tests.rs: {untested:?}");
}
