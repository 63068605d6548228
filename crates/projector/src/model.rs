//! The read models as stored: one document per entity version, in the
//! encoding its type names ([`Stored`]).
//!
//! They hold running totals in exact cents, as the core's state machine keeps
//! them (`fundledger_core::ledger`), plus what readers ask for that the rules
//! do not need (names, dates, counts, the sequence of the last change). Each
//! is written again, whole, under the sequence of every record that changes
//! it, which is what `?as_of=SEQ` reads.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use fundledger_core::crypto::KeyId;
use fundledger_core::event::{CloseReason, FundEstablished, Period, Role, SchemeAmended, SchemeEstablished, Scope, Text};
use fundledger_core::id::{EnterpriseId, FundId, GrantId, InvestmentId, LedgerId, SchemeId, SubFundId, ThemeId};
use fundledger_core::ledger::{self as core, EnterpriseStanding};
use fundledger_core::money::{Money, MoneyError};
use fundledger_core::time::{Date, Timestamp};

/// The ledger itself: its genesis and key counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LedgerModel {
    pub ledger: LedgerId,
    pub name: Text,
    pub operator: KeyId,
    pub operator_holder: Text,
    pub keys_registered: u32,
    pub keys_revoked: u32,
    /// Groups of associated enterprises (`enterprise.associated`), each in id order.
    pub enterprise_groups: Vec<Vec<EnterpriseId>>,
    pub seq: u64,
}

/// A registered key: who holds it, whether it is revoked and the roles it
/// holds, which decide what its holder may read (`core::read_access`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyModel {
    pub key: KeyId,
    pub holder: Text,
    pub revoked: bool,
    pub roles: Vec<(Role, Scope)>,
    pub seq: u64,
}

impl LedgerModel {
    /// The enterprises whose standings count together with `enterprise`'s: its group, or itself alone.
    pub fn associated_with(&self, enterprise: &EnterpriseId) -> Vec<EnterpriseId> {
        self.enterprise_groups.iter().find(|group| group.contains(enterprise)).cloned().unwrap_or_else(|| vec![enterprise.clone()])
    }
}

/// A fund of funds: its terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FundModel {
    pub terms: FundEstablished,
    pub subfund_count: u32,
    pub established_seq: u64,
    pub established_at: Timestamp,
    /// The record that last changed this model.
    pub seq: u64,
}

/// A sub-fund, from the government's side as an LP, and its portfolio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubFundModel {
    pub subfund: SubFundId,
    pub fund: FundId,
    pub name: Text,
    pub theme: ThemeId,
    pub general_partner: Text,
    pub target_size_cents: Money,
    pub market_committed_cents: Money,
    pub market_commitments: u32,
    pub government_committed_cents: Money,
    /// Capital calls paid in by the government.
    pub called_cents: Money,
    /// Management fees paid from the government's commitment.
    pub fees_cents: Money,
    /// Paid-in capital (PIC): calls plus fees.
    pub paid_in_cents: Money,
    pub distributed_cents: Money,
    pub recallable_distributed_cents: Money,
    pub nav_cents: Option<Money>,
    pub nav_as_of: Option<Date>,
    pub invested_cents: Money,
    pub invested_hk_cents: Money,
    pub written_off_cents: Money,
    pub production_spend_cents: Money,
    /// The sub-fund's investment period, when it was admitted with one.
    pub investment_period: Option<Period>,
    /// Production spend within the investment period (all of it without one): what the HK production-base minimum counts.
    pub production_spend_in_period_cents: Money,
    pub investment_count: u32,
    pub admitted_seq: u64,
    pub admitted_at: Timestamp,
    pub seq: u64,
    /// Records about this sub-fund so far.
    pub events: u64,
}

impl SubFundModel {
    /// Committed size: market plus government commitments. The projection
    /// refuses a record that makes it overflow, so an error means the read
    /// model disagrees with the projection.
    pub fn committed_size(&self) -> Result<Money, MoneyError> {
        self.market_committed_cents.checked_add(self.government_committed_cents)
    }
    /// What the government can still be called for: commitment plus recallable
    /// distributions, less paid-in, floored at zero as the core's `SubFund::uncalled` is.
    pub fn uncalled(&self) -> Money {
        // Exactly the core's arithmetic: both terms are below 2^53, so their sum fits in a u64, and the
        // result is at most the commitment (recallable distributions never exceed paid-in), so it is an amount.
        let (committed, recallable) = (self.government_committed_cents.cents(), self.recallable_distributed_cents.cents());
        Money::from_cents((committed + recallable).saturating_sub(self.paid_in_cents.cents())).unwrap_or(Money::MAX)
    }
    /// What the core measures this sub-fund's compliance from.
    pub fn figures(&self) -> core::SubFundFigures {
        core::SubFundFigures {
            market_committed: self.market_committed_cents,
            government_committed: self.government_committed_cents,
            invested_hk: self.invested_hk_cents,
            production_spend_in_period: self.production_spend_in_period_cents,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvestmentModel {
    pub investment: InvestmentId,
    pub subfund: SubFundId,
    pub investee: Text,
    pub cost_cents: Money,
    pub written_off_cents: Money,
    pub hk_enterprise: bool,
    pub innovation_technology: bool,
    pub production_spend_cents: Money,
    pub invested_seq: u64,
    pub invested_at: Timestamp,
    pub seq: u64,
}

/// A matching-grant scheme and its budget position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SchemeModel {
    pub terms: SchemeEstablished,
    /// Every grant ever approved, gross.
    pub approved_cents: Money,
    /// What holds the budget: approved amounts of open grants plus net disbursements of closed ones.
    pub committed_cents: Money,
    /// Disbursed, net of clawbacks.
    pub disbursed_cents: Money,
    pub clawed_back_cents: Money,
    pub grant_count: u32,
    pub open_grant_count: u32,
    pub enterprise_count: u32,
    /// Amendments (`scheme.amended`), in order of their effective dates.
    #[serde(default)]
    pub amendments: Vec<SchemeAmended>,
    /// Budget added by amendments.
    #[serde(default)]
    pub budget_top_ups_cents: Money,
    pub established_seq: u64,
    pub established_at: Timestamp,
    pub seq: u64,
}

impl SchemeModel {
    /// The scheme as the core keeps it, for the core's figures.
    pub fn core(&self) -> core::Scheme {
        core::Scheme {
            terms: self.terms.clone(),
            committed: self.committed_cents,
            disbursed: self.disbursed_cents,
            grant_count: self.grant_count,
            enterprise_count: self.enterprise_count,
            amendments: self.amendments.clone(),
            budget_top_ups: self.budget_top_ups_cents,
        }
    }
    /// The budget including every top-up (the core's `Scheme::budget`).
    pub fn budget(&self) -> Money {
        self.core().budget()
    }
    /// The terms in force for a grant approved on `date` (the core's `Scheme::terms_on`).
    pub fn terms_on(&self, date: &Date) -> SchemeEstablished {
        self.core().terms_on(date)
    }
}

/// The core's `GrantStatus` as the read models store and serve it (snake_case;
/// the variants' order is part of the stored encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "GrantStatus")]
pub enum GrantStatusView {
    Open,
    Completed,
    Closed,
}

impl From<GrantStatusView> for core::GrantStatus {
    fn from(status: GrantStatusView) -> core::GrantStatus {
        match status {
            GrantStatusView::Open => core::GrantStatus::Open,
            GrantStatusView::Completed => core::GrantStatus::Completed,
            GrantStatusView::Closed => core::GrantStatus::Closed,
        }
    }
}

/// One grant (one approved project).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GrantModel {
    pub grant: GrantId,
    pub scheme: SchemeId,
    pub enterprise: EnterpriseId,
    pub enterprise_name: Text,
    pub project: Text,
    pub approved_cost_cents: Money,
    pub grant_cents: Money,
    pub duration_months: u32,
    pub verified_spend_cents: Money,
    /// Disbursed, gross.
    pub disbursed_cents: Money,
    pub clawed_back_cents: Money,
    /// Verified spend disallowed since (`grant.spend_disallowed`).
    pub disallowed_spend_cents: Money,
    /// Clawed back for a breach of conditions or on termination: never paid again.
    pub forfeited_cents: Money,
    /// Milestones of the payment schedule accepted so far.
    pub milestones_accepted: u32,
    pub status: GrantStatusView,
    pub close_reason: Option<CloseReason>,
    pub approved_seq: u64,
    pub approved_at: Timestamp,
    pub seq: u64,
    pub events: u64,
}

impl GrantModel {
    pub fn net_disbursed(&self) -> Money {
        self.core().net_disbursed()
    }
    /// What the grant holds of its scheme's budget and its enterprise's cap (the core's `Grant::committed`).
    pub fn committed(&self) -> Money {
        self.core().committed()
    }
    /// The grant as the core keeps it, for the core's figures.
    pub fn core(&self) -> core::Grant {
        core::Grant {
            scheme: self.scheme.clone(),
            enterprise: self.enterprise.clone(),
            project: self.project.clone(),
            approved_cost: self.approved_cost_cents,
            amount: self.grant_cents,
            verified_spend: self.verified_spend_cents,
            disbursed: self.disbursed_cents,
            clawed_back: self.clawed_back_cents,
            status: self.status.into(),
            disallowed_spend: self.disallowed_spend_cents,
            forfeited: self.forfeited_cents,
            milestones_accepted: self.milestones_accepted,
        }
    }
    /// Where the grant stands under its scheme's terms (the core's `grant_position`).
    pub fn position(&self, terms: &SchemeEstablished) -> core::GrantPosition {
        core::grant_position(terms, &self.core())
    }
}

/// The standing of an enterprise (or, added up, a group) from its grants in one scheme, as the core keeps it.
pub fn standing_of<'a>(grants: impl IntoIterator<Item = &'a GrantModel>) -> EnterpriseStanding {
    grants.into_iter().map(|grant| EnterpriseStanding::of_grant(&grant.core())).fold(EnterpriseStanding::default(), |total, one| total.plus(&one))
}

/// What kind of money moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    MarketCommitment,
    GovernmentCommitment,
    CapitalCall,
    Fee,
    Distribution,
    GrantApproval,
    Disbursement,
    Clawback,
    /// A grant closed: what it no longer holds returns to the budget.
    Release,
}

/// A dated movement of money in a sub-fund or scheme (cash flows for IRR, quarterly reports).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Flow {
    pub seq: u64,
    pub kind: FlowKind,
    /// When it happened, per the actor (the event's `occurred_at`).
    pub occurred_at: Timestamp,
    pub amount_cents: Money,
    /// Distributions: whether it restores unfunded commitment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recallable: bool,
    /// Scheme flows: the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantId>,
}

/// How the values of a model's versions are encoded.
///
/// Postcard (the fields in declaration order, integers as varints) unless the
/// type has fields that its serde form leaves out when empty, which postcard
/// cannot represent: the scheme (its terms are an event with optional caps)
/// and the flows. A rebuild writes a version per record, and in JSON the field
/// names alone were a third of the bytes it wrote.
pub trait Stored: Serialize + DeserializeOwned {
    const BINARY: bool = true;

    /// Appends the encoded value to `out`.
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let failure = if Self::BINARY {
            postcard::to_io(self, out).err().map(|error| error.to_string())
        } else {
            serde_json::to_writer(out, self).err().map(|error| error.to_string())
        };
        failure.map_or(Ok(()), |error| Err(format!("cannot encode a model: {error}")))
    }

    /// Decodes a whole value: trailing bytes are an error.
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        if !Self::BINARY {
            return serde_json::from_slice(bytes).map_err(|error| error.to_string());
        }
        match postcard::take_from_bytes(bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(format!("{} bytes after the value", rest.len())),
            Err(error) => Err(error.to_string()),
        }
    }
}

impl Stored for LedgerModel {}
impl Stored for KeyModel {}
/// JSON: the fund's terms leave their optional members out when absent.
impl Stored for FundModel {
    const BINARY: bool = false;
}
impl Stored for SubFundModel {}
impl Stored for InvestmentModel {}
impl Stored for GrantModel {}
impl Stored for SchemeModel {
    const BINARY: bool = false;
}
impl Stored for Flow {
    const BINARY: bool = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_core::crypto::SecretKey;

    fn scheme(caps: bool) -> SchemeModel {
        let cap = caps.then(|| Money::hkd(4_000_000));
        SchemeModel {
            terms: SchemeEstablished {
                scheme: SchemeId::parse("nifs").unwrap(),
                name: Text::parse("New Industrialisation Funding Scheme").unwrap(),
                budget_cents: Money::hkd(1_000_000_000),
                government_ratio: 1,
                enterprise_ratio: 2,
                project_grant_max_cents: cap,
                enterprise_grant_max_cents: cap,
                project_cost_min_cents: None,
                enterprise_contribution_min_cents: cap,
                projects_per_enterprise_max: caps.then_some(3),
                concurrent_projects_per_enterprise_max: None,
                project_duration_months_max: caps.then_some(36),
                paid_on_completion: true,
                dual_control_threshold_cents: Money::hkd(1_000_000),
                enterprise_cap_basis: None,
                application_window: None,
                payment_schedule: None,
                required_attestations: Vec::new(),
                dual_control: Vec::new(),
            },
            approved_cents: Money::hkd(12),
            committed_cents: Money::hkd(12),
            disbursed_cents: Money::ZERO,
            clawed_back_cents: Money::ZERO,
            grant_count: 1,
            open_grant_count: 1,
            enterprise_count: 1,
            amendments: Vec::new(),
            budget_top_ups_cents: Money::ZERO,
            established_seq: 7,
            established_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            seq: 9,
        }
    }

    fn encoded<T: Stored>(value: &T) -> Vec<u8> {
        let mut out = b"prefix".to_vec();
        value.encode_into(&mut out).unwrap();
        out.split_off(6)
    }

    #[test]
    fn versions_decode_to_what_was_encoded_and_nothing_else() {
        let ledger = LedgerModel {
            ledger: LedgerId::parse("hk").unwrap(),
            name: Text::parse("I&T funding").unwrap(),
            operator: SecretKey::from_seed_label("operator").key_id(),
            operator_holder: Text::parse("operator").unwrap(),
            keys_registered: 300,
            keys_revoked: 1,
            enterprise_groups: vec![vec![EnterpriseId::parse("ent-1").unwrap(), EnterpriseId::parse("ent-2").unwrap()]],
            seq: u64::MAX,
        };
        let bytes = encoded(&ledger);
        assert!(LedgerModel::BINARY && bytes.len() < serde_json::to_vec(&ledger).unwrap().len() / 2, "{} bytes", bytes.len());
        assert_eq!(LedgerModel::decode(&bytes).unwrap(), ledger);
        assert!(LedgerModel::decode(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        assert!(LedgerModel::decode(&[bytes.as_slice(), &[0]].concat()).unwrap_err().contains("1 bytes after"));
        assert!(LedgerModel::decode(b"{}").is_err());
        // A scheme's optional caps are left out of its JSON when empty: it stays JSON.
        for caps in [true, false] {
            let model = scheme(caps);
            assert_eq!(SchemeModel::decode(&encoded(&model)).unwrap(), model);
        }
    }
}
