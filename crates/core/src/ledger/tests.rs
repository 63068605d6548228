//! Rule tests read as given (a world) / when (an event) / then (accepted, or
//! refused by a named rule with the state unchanged). `World` is the one
//! helper, so each rule's test is a few lines of data.

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
/// NIAS schemes.
pub(crate) struct World {
    pub ledger: Ledger,
    pub admin: SecretKey,
    pub manager: SecretKey,
    pub manager_two: SecretKey,
    pub officer: SecretKey,
    pub officer_two: SecretKey,
    pub outsider: SecretKey,
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
            next_id: 0,
        }
    }

    pub fn new() -> World {
        let mut world = World::empty();
        let admin = world.admin.clone();
        world.ok(&[&admin], Event::LedgerGenesis(LedgerGenesis { name: text("test"), operator: admin.key_id(), operator_holder: text("operator") }));
        world.ok(&[&admin], Event::FundEstablished(presets::itif("itf")));
        world.ok(&[&admin], Event::SchemeEstablished(presets::pilot_scheme("pilot")));
        world.ok(&[&admin], Event::SchemeEstablished(presets::nifs_scheme("nifs", money(1_000_000_000))));
        world.ok(&[&admin], Event::SchemeEstablished(presets::nias_scheme("nias")));
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
        self.next_id += 1;
        let ledger = LedgerId::parse("test").unwrap();
        let occurred_at = Timestamp::from_unix_millis(1_767_225_600_000 + self.next_id as i64 * 86_400_000);
        SignedEvent::author(&ledger, EventId::parse(&format!("e{}", self.next_id)).unwrap(), occurred_at, event, signers)
            .unwrap()
            .verify()
            .unwrap()
    }

    /// Applies an event; on refusal asserts that nothing changed.
    pub fn when(&mut self, signers: &[&SecretKey], event: Event) -> Result<(), Violation> {
        let verified = self.sign(signers, event);
        let before = self.ledger.clone();
        let result = self.ledger.apply(&verified);
        if result.is_err() {
            assert_eq!(self.ledger, before, "a refused event must change nothing");
        }
        result
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

    pub fn manager_ok(&mut self, event: Event) {
        let manager = self.manager.clone();
        self.ok(&[&manager], event)
    }
    pub fn manager_refused(&mut self, rule: Rule, event: Event) -> String {
        let manager = self.manager.clone();
        self.refused(rule, &[&manager], event)
    }
    pub fn officer_ok(&mut self, event: Event) {
        let officer = self.officer.clone();
        self.ok(&[&officer], event)
    }
    pub fn officer_refused(&mut self, rule: Rule, event: Event) -> String {
        let officer = self.officer.clone();
        self.refused(rule, &[&officer], event)
    }
}

pub(crate) fn text(value: &str) -> Text {
    Text::parse(value).unwrap()
}

pub(crate) fn subfund(id: &str, theme: &str, target: Money) -> SubFundAdmitted {
    SubFundAdmitted {
        fund: FundId::parse("itf").unwrap(),
        subfund: SubFundId::parse(id).unwrap(),
        name: text(id),
        theme: ThemeId::parse(theme).unwrap(),
        general_partner: text("GP Limited"),
        target_size_cents: target,
    }
}

pub(crate) fn market(subfund: &str, amount: Money) -> Event {
    Event::MarketCommitted(MarketCommitted { subfund: SubFundId::parse(subfund).unwrap(), investor: text("Market LP"), amount_cents: amount })
}

pub(crate) fn government(subfund: &str, amount: Money) -> Event {
    Event::GovernmentCommitted(GovernmentCommitted { subfund: SubFundId::parse(subfund).unwrap(), amount_cents: amount })
}

pub(crate) fn call(subfund: &str, amount: Money) -> Event {
    Event::CapitalCalled(CapitalCalled { subfund: SubFundId::parse(subfund).unwrap(), reference: text("call"), amount_cents: amount })
}

pub(crate) fn approve(scheme: &str, grant: &str, enterprise: &str, cost: Money, amount: Money) -> Event {
    Event::GrantApproved(GrantApproved {
        scheme: SchemeId::parse(scheme).unwrap(),
        grant: GrantId::parse(grant).unwrap(),
        enterprise: EnterpriseId::parse(enterprise).unwrap(),
        enterprise_name: text(enterprise),
        project: text("production line upgrade"),
        approved_cost_cents: cost,
        grant_cents: amount,
        duration_months: 24,
    })
}

pub(crate) fn spend(grant: &str, amount: Money) -> Event {
    Event::SpendVerified(SpendVerified { grant: GrantId::parse(grant).unwrap(), amount_cents: amount, evidence_sha256: EvidenceDigest([7; 32]) })
}

pub(crate) fn disburse(grant: &str, amount: Money) -> Event {
    Event::GrantDisbursed(GrantDisbursed { grant: GrantId::parse(grant).unwrap(), amount_cents: amount, payment_reference: text("PAY") })
}

#[test]
fn government_commitment_cap_edge_and_first_cent_over() {
    let mut world = World::new();
    world.manager_ok(market("sf-ai", money(3_000_000_000)));
    world.manager_ok(government("sf-ai", money(1_000_000_000)));
    let message = world.manager_refused(Rule::GovernmentCommitmentCap, government("sf-ai", cents(1)));
    assert!(message.contains("HK$1,000,000,000.01") && message.contains("HK$1,000,000,000.00"), "{message}");
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
fn grant_cost_share_edge_and_first_cent_over() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(300_000), money(100_000)));
    world.officer_refused(Rule::GrantCostShare, approve("pilot", "g2", "ent-2", money(300_000), cents(10_000_001)));
}

#[test]
fn disbursement_is_limited_to_a_third_of_verified_spend() {
    let mut world = World::new();
    world.officer_ok(approve("pilot", "g1", "ent-1", money(750_000), money(250_000)));
    world.officer_ok(spend("g1", money(300)));
    world.officer_ok(disburse("g1", money(100)));
    let message = world.officer_refused(Rule::ReimbursementShare, disburse("g1", cents(1)));
    assert!(message.contains("1:2") && message.contains("HK$300.00"), "{message}");
}

#[test]
fn unauthorised_and_revoked_signers_are_refused() {
    let mut world = World::new();
    let outsider = world.outsider.clone();
    world.refused(Rule::SignerUnknown, &[&outsider], market("sf-ai", money(1)));
    let officer = world.officer.clone();
    world.refused(Rule::SignerUnauthorised, &[&officer], market("sf-ai", money(1)));
    let admin = world.admin.clone();
    world.ok(&[&admin], Event::KeyRevoked(KeyRevoked { key: world.manager.key_id(), reason: text("left") }));
    world.manager_refused(Rule::SignerRevoked, market("sf-ai", money(1)));
}
