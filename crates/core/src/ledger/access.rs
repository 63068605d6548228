//! Who may sign what: key registration and revocation, roles scoped to the
//! ledger, a fund or a scheme, and dual control over money leaving the
//! government. Authorisation is judged against the state at that point in
//! history, so a key revoked later still validly signed what it signed before.
//!
//! Dual control is data: each fund's and scheme's terms say, per event kind,
//! the amount at or above which two distinct authorised signers are needed.

use super::{not_found, Change, KeyState, Ledger, Rule, Violation};
use crate::crypto::KeyId;
use crate::event::{
    DualControlKind, DualControlRule, Event, EventBody, KeyRegistered, KeyRevoked, LedgerGenesis, Role, RoleChange, Scope, DUAL_CONTROL_RULES_MAX,
};
use crate::money::Money;

pub(super) fn genesis(body: &EventBody, genesis: &LedgerGenesis) -> Result<Change, Violation> {
    if body.signers != [genesis.operator] {
        return Err(Violation::new(Rule::GenesisSigner, format!("ledger.genesis must be signed by the operator key {} alone", genesis.operator)));
    }
    let operator = KeyState { holder: genesis.operator_holder.clone(), revoked: false, roles: vec![(Role::Admin, Scope::Ledger)] };
    Ok(Change { genesis: Some((body.ledger.clone(), genesis.operator)), key: Some((genesis.operator, operator)), admin_count: Some(1), ..Change::default() })
}

impl Ledger {
    /// The role an event needs and the scope it needs it for.
    pub(super) fn required_role(&self, event: &Event) -> Result<(Role, Scope), Violation> {
        let fund_of = |subfund: &crate::id::SubFundId| {
            self.subfunds.get(subfund).map(|s| Scope::Fund(s.terms.fund.clone())).ok_or_else(|| not_found("sub-fund", subfund))
        };
        let scheme_of = |grant: &crate::id::GrantId| self.grants.get(grant).map(|g| Scope::Scheme(g.scheme.clone())).ok_or_else(|| not_found("grant", grant));
        Ok(match event {
            Event::LedgerGenesis(_)
            | Event::KeyRegistered(_)
            | Event::KeyRevoked(_)
            | Event::RoleGranted(_)
            | Event::RoleRevoked(_)
            | Event::FundEstablished(_)
            | Event::SchemeEstablished(_)
            | Event::SchemeAmended(_) => (Role::Admin, Scope::Ledger),
            Event::EnterprisesAssociated(_) => (Role::GrantOfficer, Scope::Ledger),
            Event::SubFundAdmitted(data) => {
                if !self.funds.contains_key(&data.fund) {
                    return Err(not_found("fund", &data.fund));
                }
                (Role::FundManager, Scope::Fund(data.fund.clone()))
            }
            Event::MarketCommitted(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::GovernmentCommitted(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::CapitalCalled(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::Distributed(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::NavReported(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::Invested(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::WrittenOff(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::FeeCharged(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::ProductionSpendReported(data) => (Role::FundManager, fund_of(&data.subfund)?),
            Event::GrantApproved(data) => {
                if !self.schemes.contains_key(&data.scheme) {
                    return Err(not_found("scheme", &data.scheme));
                }
                (Role::GrantOfficer, Scope::Scheme(data.scheme.clone()))
            }
            Event::SpendVerified(data) => (Role::GrantOfficer, scheme_of(&data.grant)?),
            Event::GrantCompleted(data) => (Role::GrantOfficer, scheme_of(&data.grant)?),
            Event::GrantDisbursed(data) => (Role::GrantOfficer, scheme_of(&data.grant)?),
            Event::GrantClawedBack(data) => (Role::GrantOfficer, scheme_of(&data.grant)?),
            Event::GrantClosed(data) => (Role::GrantOfficer, scheme_of(&data.grant)?),
            Event::SpendDisallowed(data) => (Role::GrantOfficer, scheme_of(&data.grant)?),
            Event::MilestoneAccepted(data) => (Role::GrantOfficer, scheme_of(&data.grant)?),
        })
    }

    /// Every signer must be registered, not revoked, and hold `role` for
    /// `scope` (or for the whole ledger).
    pub(super) fn authorise(&self, body: &EventBody, role: Role, scope: &Scope) -> Result<(), Violation> {
        for signer in &body.signers {
            let key = self.keys.get(signer).ok_or_else(|| Violation::new(Rule::SignerUnknown, format!("signer {signer} is not a registered key")))?;
            if key.revoked {
                return Err(Violation::new(Rule::SignerRevoked, format!("signer {signer} ({}) was revoked and can sign nothing", key.holder)));
            }
            let holds = key.roles.iter().any(|(held, held_scope)| *held == role && (held_scope == scope || *held_scope == Scope::Ledger));
            if !holds {
                return Err(Violation::new(
                    Rule::SignerUnauthorised,
                    format!("signer {signer} ({}) does not hold the {role} role for {scope}, which {} needs", key.holder, body.type_name()),
                ));
            }
        }
        Ok(())
    }

    /// Dual control for an event of `kind`: the lowest of the legacy
    /// threshold (if the kind has one) and the terms' rules for the kind.
    pub(super) fn dual_control_for(
        body: &EventBody,
        amount: Money,
        legacy: Option<Money>,
        rules: &[DualControlRule],
        kind: DualControlKind,
    ) -> Result<(), Violation> {
        match dual_control_threshold(legacy, rules, kind) {
            Some(threshold) => Self::dual_control(body, amount, threshold, &format!("a {} ({kind})", body.type_name())),
            None => Ok(()),
        }
    }

    /// Two distinct authorised signers for an amount at or above the threshold.
    pub(super) fn dual_control(body: &EventBody, amount: Money, threshold: Money, what: &str) -> Result<(), Violation> {
        if amount >= threshold && body.signers.len() < 2 {
            return Err(Violation::new(
                Rule::DualControl,
                format!(
                    "{what} of {amount} is at or above the dual-control threshold of {threshold} and needs two distinct authorised signers, got {}",
                    body.signers.len()
                ),
            ));
        }
        Ok(())
    }

    fn usable_key(&self, key: &KeyId) -> Result<&KeyState, Violation> {
        match self.keys.get(key) {
            None => Err(Violation::new(Rule::KeyUnusable, format!("key {key} is not registered"))),
            Some(state) if state.revoked => Err(Violation::new(Rule::KeyUnusable, format!("key {key} ({}) is revoked", state.holder))),
            Some(state) => Ok(state),
        }
    }

    fn is_admin(state: &KeyState) -> bool {
        !state.revoked && state.roles.contains(&(Role::Admin, Scope::Ledger))
    }

    pub(super) fn decide_key_registered(&self, data: &KeyRegistered) -> Result<Change, Violation> {
        if let Some(existing) = self.keys.get(&data.key) {
            return Err(Violation::new(
                Rule::KeyRegisteredTwice,
                format!("key {} is already registered (holder {}{})", data.key, existing.holder, if existing.revoked { ", revoked" } else { "" }),
            ));
        }
        let state = KeyState { holder: data.holder.clone(), revoked: false, roles: Vec::new() };
        Ok(Change { key: Some((data.key, state)), ..Change::default() })
    }

    pub(super) fn decide_key_revoked(&self, data: &KeyRevoked) -> Result<Change, Violation> {
        let state = self.usable_key(&data.key)?;
        let mut admin_count = self.admin_count;
        if Self::is_admin(state) {
            if admin_count <= 1 {
                return Err(Violation::new(Rule::LastAdmin, format!("revoking key {} would leave the ledger with no admin", data.key)));
            }
            admin_count -= 1;
        }
        let revoked = KeyState { revoked: true, ..state.clone() };
        Ok(Change { key: Some((data.key, revoked)), admin_count: Some(admin_count), ..Change::default() })
    }

    fn check_scope_exists(&self, scope: &Scope) -> Result<(), Violation> {
        match scope {
            Scope::Ledger => Ok(()),
            Scope::Fund(fund) if !self.funds.contains_key(fund) => Err(not_found("fund", fund)),
            Scope::Scheme(scheme) if !self.schemes.contains_key(scheme) => Err(not_found("scheme", scheme)),
            _ => Ok(()),
        }
    }

    pub(super) fn decide_role_granted(&self, data: &RoleChange) -> Result<Change, Violation> {
        let state = self.usable_key(&data.key)?;
        if data.role.is_ledger_wide() && data.scope != Scope::Ledger {
            return Err(Violation::new(Rule::AdminScope, format!("the {} role is granted only for the whole ledger, not for {}", data.role, data.scope)));
        }
        self.check_scope_exists(&data.scope)?;
        if state.roles.contains(&(data.role, data.scope.clone())) {
            return Err(Violation::new(Rule::RoleState, format!("key {} already holds {} for {}", data.key, data.role, data.scope)));
        }
        let mut granted = state.clone();
        granted.roles.push((data.role, data.scope.clone()));
        let admin_count = if data.role == Role::Admin { add_count(self.admin_count)? } else { self.admin_count };
        Ok(Change { key: Some((data.key, granted)), admin_count: Some(admin_count), ..Change::default() })
    }

    pub(super) fn decide_role_revoked(&self, data: &RoleChange) -> Result<Change, Violation> {
        let state = self.usable_key(&data.key)?;
        let position = state
            .roles
            .iter()
            .position(|held| *held == (data.role, data.scope.clone()))
            .ok_or_else(|| Violation::new(Rule::RoleState, format!("key {} does not hold {} for {}", data.key, data.role, data.scope)))?;
        let mut admin_count = self.admin_count;
        if data.role == Role::Admin {
            if admin_count <= 1 {
                return Err(Violation::new(Rule::LastAdmin, format!("revoking admin from key {} would leave the ledger with no admin", data.key)));
            }
            admin_count -= 1;
        }
        let mut revoked = state.clone();
        revoked.roles.remove(position);
        Ok(Change { key: Some((data.key, revoked)), admin_count: Some(admin_count), ..Change::default() })
    }
}

/// The threshold at or above which an event of `kind` needs two signers, if any.
pub fn dual_control_threshold(legacy: Option<Money>, rules: &[DualControlRule], kind: DualControlKind) -> Option<Money> {
    rules.iter().filter(|rule| rule.kind == kind).map(|rule| rule.threshold_cents).chain(legacy).min()
}

/// Dual-control rules must be of the right domain, listed once each.
pub(super) fn check_dual_control_rules(rules: &[DualControlRule], fund_terms: bool) -> Result<(), Violation> {
    let invalid = |message: String| Err(Violation::new(Rule::InvalidParameter, message));
    if rules.len() > DUAL_CONTROL_RULES_MAX {
        return invalid(format!("{} dual-control rules, at most {DUAL_CONTROL_RULES_MAX}", rules.len()));
    }
    for (index, rule) in rules.iter().enumerate() {
        if rule.kind.is_fund_kind() != fund_terms {
            let place = if fund_terms { "a fund's" } else { "a scheme's" };
            return invalid(format!("dual control for {} does not belong in {place} terms", rule.kind));
        }
        if rules[..index].iter().any(|earlier| earlier.kind == rule.kind) {
            return invalid(format!("dual control for {} is listed twice", rule.kind));
        }
    }
    Ok(())
}

fn add_count(count: u32) -> Result<u32, Violation> {
    count.checked_add(1).ok_or_else(|| Violation::new(Rule::AmountOverflow, "too many admins"))
}
