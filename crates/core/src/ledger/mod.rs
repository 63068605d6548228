//! The ledger state machine: `apply(state, event) -> Result<(), Violation>`.
//!
//! It holds every domain rule (DESIGN.md section 2) and every authorisation
//! rule, and it is the only place they live: the writer applies events with
//! it before anything is appended, and the verifier replays history with it.
//!
//! Each event is handled in two steps. `decide` reads the state, checks every
//! rule and computes the new values of the entities the event touches, as a
//! [`Change`]; `evolve` stores them and cannot fail. So a refused event leaves
//! the state exactly as it was, and an accepted one is applied whole.
//!
//! State grows with keys, funds, sub-funds, investments, schemes (and their
//! amendments), enterprises (and their associations), grants and pieces of
//! evidence, never with the number of events. Each piece of evidence is an
//! entity: its digest maps to the grant and the record that used it, which
//! is what lets "evidence supports spend once" be checked across grants and
//! schemes without reading history.
//!
//! Every figure a rule compares (headroom under each cap, what a grant may be
//! paid now, compliance ratios) is computed by public functions here
//! (`figures.rs`), so the projector and the query API show exactly what the
//! rules enforce instead of re-deriving it.

mod access;
mod associate;
mod figures;
mod fund;
mod grant;
mod violation;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::crypto::KeyId;
use crate::event::{Event, EventBody, EvidenceDigest, FundEstablished, Role, SchemeAmended, SchemeEstablished, Scope, SubFundAdmitted, Text};
use crate::id::{EnterpriseId, EventId, FundId, GrantId, InvestmentId, LedgerId, SchemeId, SubFundId};
use crate::money::Money;
use crate::record::VerifiedEvent;
use crate::time::Date;

pub use access::dual_control_threshold;
pub use figures::{
    government_share, grant_position, headroom, programme_size, subfund_compliance, Bound, Compliance, GrantPosition, Headroom, ProgrammeSize,
    SubFundCompliance, SubFundFigures,
};
pub use grant::{evidence_consulted, terms_in_force};
pub use violation::{Rule, Violation};

/// A registered key, its roles, and whether it was revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    pub holder: Text,
    pub revoked: bool,
    pub roles: Vec<(Role, Scope)>,
}

/// A fund of funds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fund {
    pub terms: FundEstablished,
    /// Government commitments across all its sub-funds.
    pub government_committed: Money,
    pub subfund_count: u32,
}

/// A sub-fund, from the government's side as an LP, plus its portfolio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubFund {
    pub terms: SubFundAdmitted,
    pub market_committed: Money,
    pub government_committed: Money,
    /// Capital calls paid in by the government.
    pub called: Money,
    /// Management fees paid from the government's commitment.
    pub fees: Money,
    pub distributed: Money,
    pub recallable_distributed: Money,
    pub nav: Option<(Date, Money)>,
    pub invested: Money,
    pub invested_hk: Money,
    pub written_off: Money,
    pub production_spend: Money,
    pub investment_count: u32,
    /// Production spend within the sub-fund's investment period (all of it
    /// when the sub-fund has no investment period).
    #[serde(default)]
    pub production_spend_in_period: Money,
}

impl SubFund {
    /// Paid-in capital: contributions, i.e. calls and fees.
    pub fn paid_in(&self) -> Money {
        Money::from_cents(self.called.cents() + self.fees.cents()).unwrap_or(Money::MAX)
    }
    /// What the government can still be called for: commitment, plus
    /// recallable distributions, minus what it paid in.
    pub fn uncalled(&self) -> Money {
        Money::from_cents((self.government_committed.cents() + self.recallable_distributed.cents()).saturating_sub(self.paid_in().cents()))
            .unwrap_or(Money::MAX)
    }
    /// Committed size: market plus government commitments.
    pub fn committed_size(&self) -> Money {
        Money::from_cents(self.market_committed.cents() + self.government_committed.cents()).unwrap_or(Money::MAX)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Investment {
    pub subfund: SubFundId,
    pub investee: Text,
    pub cost: Money,
    pub written_off: Money,
    pub hk_enterprise: bool,
    pub production_spend: Money,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scheme {
    /// The terms as established; [`Scheme::terms_on`] applies the amendments.
    pub terms: SchemeEstablished,
    /// Approved amounts of open grants plus net disbursements of closed ones.
    pub committed: Money,
    /// Disbursed, net of clawbacks.
    pub disbursed: Money,
    pub grant_count: u32,
    pub enterprise_count: u32,
    /// Amendments, in order of their effective dates.
    #[serde(default)]
    pub amendments: Vec<SchemeAmended>,
    /// Budget added by amendments.
    #[serde(default)]
    pub budget_top_ups: Money,
}

/// One enterprise's standing in one scheme.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterpriseStanding {
    pub projects: u32,
    pub open_projects: u32,
    /// What its grants hold of the scheme's budget (lifetime basis).
    pub committed: Money,
    /// What its grants of projects not yet closed hold (concurrent basis).
    #[serde(default)]
    pub open_committed: Money,
}

impl EnterpriseStanding {
    /// What one grant adds to its enterprise's standing: a project, open
    /// until closed, holding [`Grant::committed`]. A standing is the sum of
    /// its grants' (a read model that keeps grants rebuilds it with this).
    pub fn of_grant(grant: &Grant) -> EnterpriseStanding {
        let open = grant.status != GrantStatus::Closed;
        EnterpriseStanding {
            projects: 1,
            open_projects: open as u32,
            committed: grant.committed(),
            open_committed: if open { grant.committed() } else { Money::ZERO },
        }
    }
    /// The standing of a group: the members' standings added up.
    pub fn plus(&self, other: &EnterpriseStanding) -> EnterpriseStanding {
        EnterpriseStanding {
            projects: self.projects.saturating_add(other.projects),
            open_projects: self.open_projects.saturating_add(other.open_projects),
            committed: self.committed.checked_add(other.committed).unwrap_or(Money::MAX),
            open_committed: self.open_committed.checked_add(other.open_committed).unwrap_or(Money::MAX),
        }
    }
}

/// Where a piece of evidence was used: it supports spend on one grant once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceUse {
    pub grant: GrantId,
    /// The `grant.spend_verified` event that used it.
    pub event: EventId,
    pub amount: Money,
    /// How much of that spend was disallowed since.
    pub disallowed: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantStatus {
    Open,
    Completed,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    pub scheme: SchemeId,
    pub enterprise: EnterpriseId,
    pub project: Text,
    pub approved_cost: Money,
    pub amount: Money,
    pub verified_spend: Money,
    pub disbursed: Money,
    pub clawed_back: Money,
    pub status: GrantStatus,
    /// Verified spend disallowed since; net eligible spend is verified less this.
    #[serde(default)]
    pub disallowed_spend: Money,
    /// Clawed back for a breach of conditions or on termination: never paid again.
    #[serde(default)]
    pub forfeited: Money,
    #[serde(default)]
    pub milestones_accepted: u32,
}

impl Grant {
    /// Disbursed and not clawed back.
    pub fn net_disbursed(&self) -> Money {
        self.disbursed.saturating_sub(self.clawed_back)
    }
    /// Verified spend less disallowed spend: what the grant reimburses.
    pub fn net_eligible_spend(&self) -> Money {
        self.verified_spend.saturating_sub(self.disallowed_spend)
    }
    /// What this grant holds of its scheme's budget and its enterprise's cap:
    /// a closed grant its net disbursement, an open one its amount less what
    /// was forfeited (never to be paid).
    pub fn committed(&self) -> Money {
        match self.status {
            GrantStatus::Closed => self.net_disbursed(),
            GrantStatus::Open | GrantStatus::Completed => self.amount.saturating_sub(self.forfeited),
        }
    }
}

/// The whole state of one ledger. Serialisable so that a verifier can
/// snapshot it at a checkpoint it verified and resume from there (the
/// snapshot is the auditor's own; nothing else ever reads one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    id: Option<LedgerId>,
    operator: Option<KeyId>,
    keys: BTreeMap<KeyId, KeyState>,
    admin_count: u32,
    funds: BTreeMap<FundId, Fund>,
    subfunds: BTreeMap<SubFundId, SubFund>,
    investments: BTreeMap<InvestmentId, Investment>,
    schemes: BTreeMap<SchemeId, Scheme>,
    enterprises: BTreeMap<(SchemeId, EnterpriseId), EnterpriseStanding>,
    grants: BTreeMap<GrantId, Grant>,
    /// Every piece of evidence that supported spend, by digest.
    #[serde(default)]
    evidence: BTreeMap<EvidenceDigest, EvidenceUse>,
    /// While the shell keeps the evidence on disk ([`Ledger::page_out_evidence`]):
    /// the digests it paged in, whether used or not. `None`: all evidence is here.
    #[serde(skip)]
    evidence_paged_in: Option<BTreeSet<EvidenceDigest>>,
    /// Associated enterprises: each member's group, named by its first member in id order.
    #[serde(default)]
    group_of: BTreeMap<EnterpriseId, EnterpriseId>,
    /// Each group's members, by group.
    #[serde(default)]
    groups: BTreeMap<EnterpriseId, Vec<EnterpriseId>>,
    events_applied: u64,
}

/// The new values of everything one event touches; storing them cannot fail.
#[derive(Default)]
struct Change {
    genesis: Option<(LedgerId, KeyId)>,
    key: Option<(KeyId, KeyState)>,
    admin_count: Option<u32>,
    fund: Option<(FundId, Fund)>,
    subfund: Option<(SubFundId, SubFund)>,
    investment: Option<(InvestmentId, Investment)>,
    scheme: Option<(SchemeId, Scheme)>,
    enterprise: Option<((SchemeId, EnterpriseId), EnterpriseStanding)>,
    grant: Option<(GrantId, Grant)>,
    evidence: Option<(EvidenceDigest, EvidenceUse)>,
    group: Option<GroupChange>,
}

/// A merge of enterprise groups: the groups named in `dissolved` become `group`.
struct GroupChange {
    dissolved: Vec<EnterpriseId>,
    group: EnterpriseId,
    members: Vec<EnterpriseId>,
}

/// Where an event belongs in the subject taxonomy: the ledger, a fund or a scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventScope {
    Ledger,
    Fund(FundId),
    Scheme(SchemeId),
}

/// Adds two amounts or names the overflow.
fn add(a: Money, b: Money, what: &str) -> Result<Money, Violation> {
    a.checked_add(b).map_err(|_| Violation::new(Rule::AmountOverflow, format!("{what}: {a} + {b} exceeds the largest amount")))
}

fn positive(amount: Money, what: &str) -> Result<(), Violation> {
    if amount.is_zero() {
        return Err(Violation::new(Rule::AmountPositive, format!("{what} must be positive, got {amount}")));
    }
    Ok(())
}

fn not_found(kind: &str, id: &dyn std::fmt::Display) -> Violation {
    Violation::new(Rule::NotFound, format!("{kind} {id} does not exist"))
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Applies one verified event, or refuses it and changes nothing.
    pub fn apply(&mut self, event: &VerifiedEvent) -> Result<(), Violation> {
        let change = self.decide(event.body())?;
        self.evolve(change);
        Ok(())
    }

    /// Checks an event against the state without applying it.
    pub fn check(&self, event: &VerifiedEvent) -> Result<(), Violation> {
        self.decide(event.body()).map(|_| ())
    }

    fn decide(&self, body: &EventBody) -> Result<Change, Violation> {
        match (&self.id, &body.event) {
            (None, Event::LedgerGenesis(genesis)) => return access::genesis(body, genesis),
            (None, other) => {
                return Err(Violation::new(Rule::GenesisFirst, format!("the first event of a ledger must be ledger.genesis, got {}", other.type_name())))
            }
            (Some(id), Event::LedgerGenesis(_)) => return Err(Violation::new(Rule::GenesisOnce, format!("ledger {id} already has its genesis"))),
            (Some(id), _) if *id != body.ledger => {
                return Err(Violation::new(Rule::LedgerMismatch, format!("event is for ledger {} but this is ledger {id}", body.ledger)))
            }
            (Some(_), _) => {}
        }
        let (role, scope) = self.required_role(&body.event)?;
        self.authorise(body, role, &scope)?;
        match &body.event {
            Event::LedgerGenesis(_) => unreachable!("handled above"),
            Event::KeyRegistered(data) => self.decide_key_registered(data),
            Event::KeyRevoked(data) => self.decide_key_revoked(data),
            Event::RoleGranted(data) => self.decide_role_granted(data),
            Event::RoleRevoked(data) => self.decide_role_revoked(data),
            Event::FundEstablished(data) => self.decide_fund_established(data),
            Event::SubFundAdmitted(data) => self.decide_subfund_admitted(data),
            Event::MarketCommitted(data) => self.decide_market_committed(data),
            Event::GovernmentCommitted(data) => self.decide_government_committed(data, body),
            Event::CapitalCalled(data) => self.decide_contribution(&data.subfund, data.amount_cents, false, body),
            Event::FeeCharged(data) => self.decide_contribution(&data.subfund, data.amount_cents, true, body),
            Event::Distributed(data) => self.decide_distributed(data),
            Event::NavReported(data) => self.decide_nav_reported(data),
            Event::Invested(data) => self.decide_invested(data, body),
            Event::WrittenOff(data) => self.decide_written_off(data),
            Event::ProductionSpendReported(data) => self.decide_production_spend(data),
            Event::SchemeEstablished(data) => self.decide_scheme_established(data),
            Event::GrantApproved(data) => self.decide_grant_approved(data, body),
            Event::SpendVerified(data) => self.decide_spend_verified(data, body),
            Event::GrantCompleted(data) => self.decide_grant_completed(data),
            Event::GrantDisbursed(data) => self.decide_grant_disbursed(data, body),
            Event::GrantClawedBack(data) => self.decide_grant_clawed_back(data, body),
            Event::GrantClosed(data) => self.decide_grant_closed(data),
            Event::SchemeAmended(data) => self.decide_scheme_amended(data),
            Event::SpendDisallowed(data) => self.decide_spend_disallowed(data),
            Event::MilestoneAccepted(data) => self.decide_milestone_accepted(data),
            Event::EnterprisesAssociated(data) => self.decide_enterprises_associated(data),
        }
    }

    fn evolve(&mut self, change: Change) {
        if let Some((id, operator)) = change.genesis {
            self.id = Some(id);
            self.operator = Some(operator);
        }
        if let Some((key, state)) = change.key {
            self.keys.insert(key, state);
        }
        if let Some(count) = change.admin_count {
            self.admin_count = count;
        }
        if let Some((id, fund)) = change.fund {
            self.funds.insert(id, fund);
        }
        if let Some((id, subfund)) = change.subfund {
            self.subfunds.insert(id, subfund);
        }
        if let Some((id, investment)) = change.investment {
            self.investments.insert(id, investment);
        }
        if let Some((id, scheme)) = change.scheme {
            self.schemes.insert(id, scheme);
        }
        if let Some((id, standing)) = change.enterprise {
            self.enterprises.insert(id, standing);
        }
        if let Some((id, grant)) = change.grant {
            self.grants.insert(id, grant);
        }
        if let Some((digest, used)) = change.evidence {
            self.evidence.insert(digest, used);
        }
        if let Some(change) = change.group {
            for dissolved in &change.dissolved {
                self.groups.remove(dissolved);
            }
            for member in &change.members {
                self.group_of.insert(member.clone(), change.group.clone());
            }
            self.groups.insert(change.group, change.members);
        }
        self.events_applied += 1;
        debug_assert!(self.id.is_some() && self.admin_count >= 1, "a ledger past genesis always has an admin");
    }

    /// The fund or scheme an event belongs to, for the subject taxonomy.
    /// Events about unknown sub-funds or grants fall back to the ledger scope
    /// (they are refused by `apply` anyway).
    pub fn event_scope(&self, event: &Event) -> EventScope {
        if let Event::SchemeAmended(data) = event {
            return EventScope::Scheme(data.scheme.clone());
        }
        match self.required_role(event) {
            Ok((_, Scope::Fund(fund))) => EventScope::Fund(fund),
            Ok((_, Scope::Scheme(scheme))) => EventScope::Scheme(scheme),
            _ => EventScope::Ledger,
        }
    }

    pub fn id(&self) -> Option<&LedgerId> {
        self.id.as_ref()
    }
    /// The operator's key, named at genesis; it signs checkpoints.
    pub fn operator(&self) -> Option<&KeyId> {
        self.operator.as_ref()
    }
    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }
    pub fn keys(&self) -> &BTreeMap<KeyId, KeyState> {
        &self.keys
    }
    pub fn funds(&self) -> &BTreeMap<FundId, Fund> {
        &self.funds
    }
    pub fn subfunds(&self) -> &BTreeMap<SubFundId, SubFund> {
        &self.subfunds
    }
    pub fn investments(&self) -> &BTreeMap<InvestmentId, Investment> {
        &self.investments
    }
    pub fn schemes(&self) -> &BTreeMap<SchemeId, Scheme> {
        &self.schemes
    }
    pub fn enterprises(&self) -> &BTreeMap<(SchemeId, EnterpriseId), EnterpriseStanding> {
        &self.enterprises
    }
    pub fn grants(&self) -> &BTreeMap<GrantId, Grant> {
        &self.grants
    }
    /// Every piece of evidence that supported spend, with where it was used
    /// (while evidence is paged out: only what is paged in).
    pub fn evidence(&self) -> &BTreeMap<EvidenceDigest, EvidenceUse> {
        &self.evidence
    }

    /// Where a piece of evidence was used. While evidence is paged, the
    /// shell must have paged this digest in: otherwise "unused" would be a
    /// guess, and the rule's verdict with it.
    fn evidence_use(&self, digest: &EvidenceDigest) -> Option<&EvidenceUse> {
        if let Some(paged_in) = &self.evidence_paged_in {
            assert!(paged_in.contains(digest), "evidence {digest} consulted without being paged in");
        }
        self.evidence.get(digest)
    }

    /// Pages in what the shell stores of these digests (`None`: never used),
    /// before applying events whose [`evidence_consulted`] they are. With
    /// paging, a shell keeps the evidence of a long ledger on disk and the
    /// state's memory stays flat; the rules are the same.
    pub fn page_in_evidence(&mut self, entries: impl IntoIterator<Item = (EvidenceDigest, Option<EvidenceUse>)>) {
        let paged_in = self.evidence_paged_in.get_or_insert_with(BTreeSet::new);
        for (digest, used) in entries {
            paged_in.insert(digest);
            if let Some(used) = used {
                self.evidence.insert(digest, used);
            }
        }
    }

    /// Takes every piece of evidence held (paged in, or recorded since) for
    /// the shell to store; from then on evidence is paged. Storing what is
    /// returned, by digest, over what was stored, keeps the shell's copy whole.
    pub fn page_out_evidence(&mut self) -> BTreeMap<EvidenceDigest, EvidenceUse> {
        self.evidence_paged_in = Some(BTreeSet::new());
        std::mem::take(&mut self.evidence)
    }
    /// Groups of associated enterprises, by group (its first member in id order).
    pub fn enterprise_groups(&self) -> &BTreeMap<EnterpriseId, Vec<EnterpriseId>> {
        &self.groups
    }
    /// The enterprises whose standings count together with `enterprise`'s:
    /// its group, or itself alone.
    pub fn associated_with(&self, enterprise: &EnterpriseId) -> Vec<EnterpriseId> {
        self.group_of.get(enterprise).and_then(|group| self.groups.get(group)).cloned().unwrap_or_else(|| vec![enterprise.clone()])
    }
    /// An enterprise's standing in a scheme counted over its group.
    pub fn group_standing(&self, scheme: &SchemeId, enterprise: &EnterpriseId) -> EnterpriseStanding {
        self.associated_with(enterprise)
            .iter()
            .filter_map(|member| self.enterprises.get(&(scheme.clone(), member.clone())))
            .fold(EnterpriseStanding::default(), |total, standing| total.plus(standing))
    }
}

#[cfg(test)]
mod tests;
