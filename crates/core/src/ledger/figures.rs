//! The figures the rules compare, as public functions: what a grant may be
//! paid now, the headroom under each of a scheme's caps for an enterprise
//! (or its group), the ITIF compliance ratios of a sub-fund and the
//! programme's total size. The rules call these same functions, so a read
//! model that shows them shows exactly what the ledger enforces.
//!
//! The functions take terms and figures, not the ledger, so a read model that
//! keeps the same figures (the projector's) calls them directly; the
//! `Ledger` methods at the end are the same functions over the ledger's state.
//!
//! All arithmetic is exact: cents, and ratios compared in 128 bits. In JSON
//! (the query API shows these figures whole) amounts end in `_cents`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{EnterpriseStanding, Grant, GrantStatus, Ledger, SubFund};
use crate::event::{CapBasis, FundEstablished, SchemeEstablished, BASIS_POINTS_ONE};
use crate::id::{EnterpriseId, FundId, GrantId, SchemeId, SubFundId};
use crate::money::Money;
use crate::time::Date;

/// Where a grant stands against the reimbursement rule and its payment schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GrantPosition {
    /// Verified spend less disallowed spend.
    #[serde(rename = "net_eligible_spend_cents")]
    pub net_eligible_spend: Money,
    /// The government's share of net eligible spend at the scheme's ratio.
    #[serde(rename = "reimbursable_cents")]
    pub reimbursable: Money,
    /// With a payment schedule: the initial payment plus the instalments of accepted milestones.
    #[serde(rename = "scheduled_cents")]
    pub scheduled: Option<Money>,
    /// The most that net disbursement plus forfeited money may reach now:
    /// the lower of the approved grant and what reimbursement (and the schedule) allow.
    #[serde(rename = "ceiling_cents")]
    pub ceiling: Money,
    #[serde(rename = "net_disbursed_cents")]
    pub net_disbursed: Money,
    /// Clawed back for a breach of conditions or on termination: never paid again.
    #[serde(rename = "forfeited_cents")]
    pub forfeited: Money,
    /// What may be paid now: zero when the grant is closed, or not completed
    /// in a scheme that pays on completion.
    #[serde(rename = "disbursable_now_cents")]
    pub disbursable_now: Money,
    /// Net disbursement plus forfeited above the ceiling (after disallowed
    /// spend): what a clawback for ineligible spend or overpayment may return.
    #[serde(rename = "overpaid_cents")]
    pub overpaid: Money,
    /// The approved grant less net disbursement and forfeited money.
    #[serde(rename = "undisbursed_cents")]
    pub undisbursed: Money,
}

/// `amount * bps / 10000`, rounded down.
fn share_bps(amount: Money, bps: u64) -> Money {
    amount.mul_div_floor(bps.min(BASIS_POINTS_ONE as u64), BASIS_POINTS_ONE as u64).unwrap_or(Money::MAX)
}

/// The government's share of `cost` at the scheme's ratio, rounded down
/// (1 part in 3 at 1:2): what a grant may be of its approved cost, and what
/// it reimburses of net eligible spend.
pub fn government_share(terms: &SchemeEstablished, cost: Money) -> Money {
    let parts = terms.government_ratio as u64 + terms.enterprise_ratio as u64;
    cost.mul_div_floor(terms.government_ratio as u64, parts).unwrap_or(Money::MAX)
}

/// The position of `grant` under its scheme's `terms` (as established:
/// ratio, payment schedule and payment on completion are not amended).
pub fn grant_position(terms: &SchemeEstablished, grant: &Grant) -> GrantPosition {
    let net_eligible_spend = grant.net_eligible_spend();
    let reimbursable = government_share(terms, net_eligible_spend);
    let (scheduled, earned) = match &terms.payment_schedule {
        None => (None, reimbursable),
        Some(schedule) => {
            let accepted = schedule.milestone_instalments_bps.iter().take(grant.milestones_accepted as usize);
            let bps = schedule.initial_payment_bps as u64 + accepted.map(|&bps| bps as u64).sum::<u64>();
            let scheduled = share_bps(grant.amount, bps);
            let earned = if schedule.instalments_reimburse_spend {
                share_bps(grant.amount, schedule.initial_payment_bps as u64).max(scheduled.min(reimbursable))
            } else {
                scheduled
            };
            (Some(scheduled), earned)
        }
    };
    let ceiling = grant.amount.min(earned);
    let net_disbursed = grant.net_disbursed();
    let paid = net_disbursed.checked_add(grant.forfeited).unwrap_or(Money::MAX);
    let payable = grant.status != GrantStatus::Closed && (!terms.paid_on_completion || grant.status == GrantStatus::Completed);
    GrantPosition {
        net_eligible_spend,
        reimbursable,
        scheduled,
        ceiling,
        net_disbursed,
        forfeited: grant.forfeited,
        disbursable_now: if payable { ceiling.saturating_sub(paid) } else { Money::ZERO },
        overpaid: paid.saturating_sub(ceiling),
        undisbursed: grant.amount.saturating_sub(paid),
    }
}

/// Room left under each of a scheme's caps for one enterprise (counted over
/// its group of associated enterprises), under the terms in force on a date;
/// `None` where the scheme sets no such limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Headroom {
    /// The enterprise and the enterprises associated with it.
    pub group: Vec<EnterpriseId>,
    /// The per-enterprise cap less what the group's grants hold (lifetime or concurrent, as the terms say).
    #[serde(rename = "enterprise_grant_cents")]
    pub enterprise_grant: Option<Money>,
    /// Projects the group may still be approved for.
    pub projects: Option<u32>,
    /// Further projects it may have open at once.
    pub concurrent_projects: Option<u32>,
    /// The scheme's budget left (shared by every enterprise).
    #[serde(rename = "scheme_budget_cents")]
    pub scheme_budget: Money,
    /// The largest next grant the caps allow: the lower of the per-project
    /// cap, the enterprise's headroom and the budget left; zero when a project count is used up.
    #[serde(rename = "next_grant_max_cents")]
    pub next_grant_max: Money,
}

/// The headroom of an enterprise whose group's standing (the members'
/// standings added up, [`EnterpriseStanding::plus`]) is `standing`, under the
/// `terms` in force (`Scheme::terms_on`), with `budget_left` of the scheme's
/// budget uncommitted. The approval rules refuse exactly what exceeds it.
pub fn headroom(terms: &SchemeEstablished, budget_left: Money, group: Vec<EnterpriseId>, standing: &EnterpriseStanding) -> Headroom {
    let held = if terms.enterprise_cap_basis == Some(CapBasis::Concurrent) { standing.open_committed } else { standing.committed };
    let enterprise_grant = terms.enterprise_grant_max_cents.map(|cap| cap.saturating_sub(held));
    let projects = terms.projects_per_enterprise_max.map(|max| max.saturating_sub(standing.projects));
    let concurrent_projects = terms.concurrent_projects_per_enterprise_max.map(|max| max.saturating_sub(standing.open_projects));
    let mut next = budget_left;
    for cap in [terms.project_grant_max_cents, enterprise_grant].into_iter().flatten() {
        next = next.min(cap);
    }
    if projects == Some(0) || concurrent_projects == Some(0) {
        next = Money::ZERO;
    }
    Headroom { group, enterprise_grant, projects, concurrent_projects, scheme_budget: budget_left, next_grant_max: next }
}

/// Which side of its bound a share must stay on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The share must not exceed the bound.
    Max,
    /// The share must reach the bound.
    Min,
}

impl Bound {
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Max => "max",
            Bound::Min => "min",
        }
    }
}

/// A share held to a bound: `part / whole` at most or at least `bound_bps / 10000`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Compliance {
    #[serde(rename = "part_cents")]
    pub part: Money,
    #[serde(rename = "whole_cents")]
    pub whole: Money,
    /// The share in basis points, rounded down; `None` when `whole` is zero.
    pub share_bps: Option<u64>,
    pub bound_bps: u32,
    /// Whether the share must stay at most (`max`) or reach at least (`min`) the bound.
    pub bound: Bound,
    /// Whether the bound holds, exactly; `None` when there is nothing to measure yet.
    pub met: Option<bool>,
}

impl Compliance {
    pub fn at_most(part: Money, whole: Money, bound_bps: u32) -> Compliance {
        Compliance::of(part, whole, bound_bps, Bound::Max)
    }
    pub fn at_least(part: Money, whole: Money, bound_bps: u32) -> Compliance {
        Compliance::of(part, whole, bound_bps, Bound::Min)
    }
    fn of(part: Money, whole: Money, bound_bps: u32, bound: Bound) -> Compliance {
        let (left, right) = (part.cents() as u128 * BASIS_POINTS_ONE as u128, bound_bps as u128 * whole.cents() as u128);
        let measured = !whole.is_zero();
        Compliance {
            part,
            whole,
            share_bps: measured.then(|| (left / whole.cents() as u128) as u64),
            bound_bps,
            bound,
            met: measured.then_some(match bound {
                Bound::Max => left <= right,
                Bound::Min => left >= right,
            }),
        }
    }
    /// The part that reaches the bound exactly: `whole * bound / 10000`, rounded up.
    pub fn target(&self) -> Money {
        let target = (self.whole.cents() as u128 * self.bound_bps as u128).div_ceil(BASIS_POINTS_ONE as u128);
        Money::from_cents(target.min(Money::MAX.cents() as u128) as u64).unwrap_or(Money::MAX)
    }
}

/// A sub-fund's compliance figures, each against the sub-fund's committed
/// size (market plus government commitments), as the ITIF states them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubFundCompliance {
    #[serde(rename = "committed_size_cents")]
    pub committed_size: Money,
    /// Government commitment / committed size, at most the fund's maximum (25%).
    pub government_share: Compliance,
    /// Investment into Hong Kong enterprises / committed size, at least the minimum (50%).
    pub hk_enterprise_share: Compliance,
    /// Investees' HK production-base spend within the investment period / committed size, at least the minimum (25%).
    pub hk_production_spend: Compliance,
    /// Committed size against the minimum size the government commits at, when the terms set one.
    pub committed_size_min_met: Option<bool>,
}

/// What a sub-fund's compliance is measured from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubFundFigures {
    #[serde(rename = "market_committed_cents")]
    pub market_committed: Money,
    #[serde(rename = "government_committed_cents")]
    pub government_committed: Money,
    /// Invested into Hong Kong enterprises (at cost).
    #[serde(rename = "invested_hk_cents")]
    pub invested_hk: Money,
    /// Investees' HK production-base spend within the investment period.
    #[serde(rename = "production_spend_in_period_cents")]
    pub production_spend_in_period: Money,
}

impl SubFund {
    pub fn figures(&self) -> SubFundFigures {
        SubFundFigures {
            market_committed: self.market_committed,
            government_committed: self.government_committed,
            invested_hk: self.invested_hk,
            production_spend_in_period: self.production_spend_in_period,
        }
    }
}

/// The compliance figures of a sub-fund under its fund's `terms`.
pub fn subfund_compliance(terms: &FundEstablished, figures: &SubFundFigures) -> SubFundCompliance {
    let size = figures.market_committed.checked_add(figures.government_committed).unwrap_or(Money::MAX);
    SubFundCompliance {
        committed_size: size,
        government_share: Compliance::at_most(figures.government_committed, size, terms.government_share_max_bps),
        hk_enterprise_share: Compliance::at_least(figures.invested_hk, size, terms.hk_enterprise_share_min_bps),
        hk_production_spend: Compliance::at_least(figures.production_spend_in_period, size, terms.hk_production_spend_min_bps),
        committed_size_min_met: terms.subfund_committed_size_min_cents.map(|minimum| size >= minimum),
    }
}

/// All of a fund's sub-funds together against the programme's minimum size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProgrammeSize {
    /// Sum of the sub-funds' committed sizes.
    #[serde(rename = "committed_size_cents")]
    pub committed_size: Money,
    #[serde(rename = "minimum_cents")]
    pub minimum: Option<Money>,
    pub met: Option<bool>,
}

/// `committed_size` (the sum of a fund's sub-funds' committed sizes) against the fund's programme minimum.
pub fn programme_size(terms: &FundEstablished, committed_size: Money) -> ProgrammeSize {
    let minimum = terms.programme_size_min_cents;
    ProgrammeSize { committed_size, minimum, met: minimum.map(|minimum| committed_size >= minimum) }
}

impl Ledger {
    /// The position of a grant; `None` if it does not exist.
    pub fn grant_position(&self, id: &GrantId) -> Option<GrantPosition> {
        let grant = self.grants.get(id)?;
        Some(grant_position(&self.schemes.get(&grant.scheme)?.terms, grant))
    }

    /// The compliance figures of a sub-fund; `None` if it does not exist.
    pub fn subfund_compliance(&self, id: &SubFundId) -> Option<SubFundCompliance> {
        let subfund = self.subfunds.get(id)?;
        Some(subfund_compliance(&self.funds.get(&subfund.terms.fund)?.terms, &subfund.figures()))
    }

    /// A fund's sub-funds together against its programme minimum; `None` if the fund does not exist.
    pub fn programme_size(&self, fund: &FundId) -> Option<ProgrammeSize> {
        let terms = &self.funds.get(fund)?.terms;
        let total = self
            .subfunds
            .values()
            .filter(|subfund| subfund.terms.fund == *fund)
            .fold(Money::ZERO, |total, subfund| total.checked_add(subfund.committed_size()).unwrap_or(Money::MAX));
        Some(programme_size(terms, total))
    }

    /// The headroom of `enterprise` (and its group) in `scheme` under the
    /// terms in force on `on`; `None` if the scheme does not exist.
    pub fn headroom(&self, scheme: &SchemeId, enterprise: &EnterpriseId, on: &Date) -> Option<Headroom> {
        let record = self.schemes.get(scheme)?;
        let budget_left = record.budget().saturating_sub(record.committed);
        let standing = self.group_standing(scheme, enterprise);
        Some(headroom(&record.terms_on(on), budget_left, self.associated_with(enterprise), &standing))
    }
}
