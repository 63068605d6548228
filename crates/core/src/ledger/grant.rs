//! Rules of matching-grant schemes (government 1 : enterprise 2 and the like).
//!
//! Every limit is the scheme's own data (`scheme.established`): the ratio,
//! the caps per project and per enterprise, the minimum project cost and
//! enterprise contribution, project counts and the budget. Grants are paid on
//! a reimbursement basis: net disbursement never exceeds the government's
//! share of verified spend, nor the approved grant; approvals never commit
//! more than the budget or an enterprise's cap. Closing a grant returns what
//! was not disbursed; a clawback returns money.

use super::fund::percent;
use super::{add, not_found, positive, Change, EnterpriseStanding, Grant, GrantStatus, Ledger, Rule, Scheme, Violation};
use crate::event::{EventBody, GrantApproved, GrantClawedBack, GrantClosed, GrantCompleted, GrantDisbursed, SchemeEstablished, SpendVerified};
use crate::id::GrantId;
use crate::money::Money;

fn ratio_text(scheme: &Scheme) -> String {
    format!("{}:{}", scheme.terms.government_ratio, scheme.terms.enterprise_ratio)
}

impl Scheme {
    /// The government's share of `cost` at the scheme's ratio, rounded down.
    pub fn government_share_of(&self, cost: Money) -> Money {
        let parts = self.terms.government_ratio as u64 + self.terms.enterprise_ratio as u64;
        cost.mul_div_floor(self.terms.government_ratio as u64, parts).unwrap_or(Money::MAX)
    }
}

impl Ledger {
    fn grant(&self, id: &GrantId) -> Result<&Grant, Violation> {
        self.grants.get(id).ok_or_else(|| not_found("grant", id))
    }

    fn require_not_closed(grant: &Grant, id: &GrantId, what: &str) -> Result<(), Violation> {
        if grant.status == GrantStatus::Closed {
            return Err(Violation::new(Rule::GrantStatus, format!("grant {id} is closed; {what} is no longer possible")));
        }
        Ok(())
    }

    pub(super) fn decide_scheme_established(&self, data: &SchemeEstablished) -> Result<Change, Violation> {
        if self.schemes.contains_key(&data.scheme) {
            return Err(Violation::new(Rule::AlreadyExists, format!("scheme {} already exists", data.scheme)));
        }
        let invalid = |message: String| Err(Violation::new(Rule::InvalidParameter, message));
        if data.government_ratio == 0 || data.enterprise_ratio == 0 {
            return invalid(format!("the ratio {}:{} must have both parts positive", data.government_ratio, data.enterprise_ratio));
        }
        positive(data.budget_cents, "a scheme budget")?;
        for (name, cap) in [
            ("project_grant_max_cents", data.project_grant_max_cents),
            ("enterprise_grant_max_cents", data.enterprise_grant_max_cents),
        ] {
            if cap == Some(Money::ZERO) {
                return invalid(format!("{name} is zero; leave it out for no cap"));
            }
        }
        for (name, count) in [
            ("projects_per_enterprise_max", data.projects_per_enterprise_max),
            ("concurrent_projects_per_enterprise_max", data.concurrent_projects_per_enterprise_max),
            ("project_duration_months_max", data.project_duration_months_max),
        ] {
            if count == Some(0) {
                return invalid(format!("{name} is zero; leave it out for no limit"));
            }
        }
        let scheme = Scheme { terms: data.clone(), committed: Money::ZERO, disbursed: Money::ZERO, grant_count: 0, enterprise_count: 0 };
        Ok(Change { scheme: Some((data.scheme.clone(), scheme)), ..Change::default() })
    }

    pub(super) fn decide_grant_approved(&self, data: &GrantApproved) -> Result<Change, Violation> {
        let scheme = self.schemes.get(&data.scheme).ok_or_else(|| not_found("scheme", &data.scheme))?;
        if self.grants.contains_key(&data.grant) {
            return Err(Violation::new(Rule::AlreadyExists, format!("grant {} already exists", data.grant)));
        }
        positive(data.approved_cost_cents, "approved project cost")?;
        positive(data.grant_cents, "a grant")?;
        let terms = &scheme.terms;
        let (grant, cost) = (data.grant_cents, data.approved_cost_cents);
        if let Some(minimum) = terms.project_cost_min_cents {
            if cost < minimum {
                return Err(Violation::new(
                    Rule::ProjectCostMin,
                    format!("approved project cost {cost} is below scheme {}'s minimum of {minimum}", data.scheme),
                ));
            }
        }
        let share = scheme.government_share_of(cost);
        if grant > share {
            return Err(Violation::new(
                Rule::GrantCostShare,
                format!(
                    "grant {grant} exceeds the government's {} share of the approved project cost {cost}, which is {share}",
                    ratio_text(scheme)
                ),
            ));
        }
        if let Some(cap) = terms.project_grant_max_cents {
            if grant > cap {
                return Err(Violation::new(Rule::ProjectGrantCap, format!("grant {grant} exceeds scheme {}'s per-project cap of {cap}", data.scheme)));
            }
        }
        if let Some(minimum) = terms.enterprise_contribution_min_cents {
            let contribution = cost.saturating_sub(grant);
            if contribution < minimum {
                return Err(Violation::new(
                    Rule::EnterpriseContributionMin,
                    format!("the enterprise's own contribution {contribution} (cost {cost} less grant {grant}) is below the minimum of {minimum}"),
                ));
            }
        }
        if let Some(months) = terms.project_duration_months_max {
            if data.duration_months > months {
                return Err(Violation::new(
                    Rule::ProjectDurationMax,
                    format!("project duration of {} months exceeds scheme {}'s maximum of {months} months", data.duration_months, data.scheme),
                ));
            }
        }
        let key = (data.scheme.clone(), data.enterprise.clone());
        let standing = self.enterprises.get(&key).cloned().unwrap_or_default();
        let is_new_enterprise = standing.projects == 0;
        if let Some(maximum) = terms.projects_per_enterprise_max {
            if standing.projects >= maximum {
                return Err(Violation::new(
                    Rule::ProjectsPerEnterprise,
                    format!("enterprise {} already has {} projects in scheme {}, the maximum is {maximum}", data.enterprise, standing.projects, data.scheme),
                ));
            }
        }
        if let Some(maximum) = terms.concurrent_projects_per_enterprise_max {
            if standing.open_projects >= maximum {
                return Err(Violation::new(
                    Rule::ConcurrentProjects,
                    format!(
                        "enterprise {} already has {} open projects in scheme {}, the maximum at once is {maximum}",
                        data.enterprise, standing.open_projects, data.scheme
                    ),
                ));
            }
        }
        let enterprise_committed = add(standing.committed, grant, "enterprise commitments")?;
        if let Some(cap) = terms.enterprise_grant_max_cents {
            if enterprise_committed > cap {
                return Err(Violation::new(
                    Rule::EnterpriseGrantCap,
                    format!(
                        "grants to enterprise {} in scheme {} would total {enterprise_committed}, above the {cap} per-enterprise cap ({} already committed)",
                        data.enterprise, data.scheme, standing.committed
                    ),
                ));
            }
        }
        let committed = add(scheme.committed, grant, "scheme commitments")?;
        if committed > terms.budget_cents {
            return Err(Violation::new(
                Rule::SchemeBudget,
                format!(
                    "grant {grant} would commit {committed} of scheme {}'s {} budget ({} already committed, {} remaining)",
                    data.scheme,
                    terms.budget_cents,
                    scheme.committed,
                    terms.budget_cents.saturating_sub(scheme.committed)
                ),
            ));
        }
        let mut scheme = scheme.clone();
        scheme.committed = committed;
        scheme.grant_count += 1;
        if is_new_enterprise {
            scheme.enterprise_count += 1;
        }
        let standing = EnterpriseStanding { projects: standing.projects + 1, open_projects: standing.open_projects + 1, committed: enterprise_committed };
        let record = Grant {
            scheme: data.scheme.clone(),
            enterprise: data.enterprise.clone(),
            project: data.project.clone(),
            approved_cost: cost,
            amount: grant,
            verified_spend: Money::ZERO,
            disbursed: Money::ZERO,
            clawed_back: Money::ZERO,
            status: GrantStatus::Open,
        };
        Ok(Change {
            scheme: Some((data.scheme.clone(), scheme)),
            enterprise: Some((key, standing)),
            grant: Some((data.grant.clone(), record)),
            ..Change::default()
        })
    }

    pub(super) fn decide_spend_verified(&self, data: &SpendVerified) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        Self::require_not_closed(grant, &data.grant, "verifying spend")?;
        positive(data.amount_cents, "verified spend")?;
        let verified = add(grant.verified_spend, data.amount_cents, "verified spend")?;
        if verified > grant.approved_cost {
            return Err(Violation::new(
                Rule::SpendExceedsCost,
                format!(
                    "verified spend on grant {} would total {verified}, above the approved project cost of {} ({} already verified)",
                    data.grant, grant.approved_cost, grant.verified_spend
                ),
            ));
        }
        let mut grant = grant.clone();
        grant.verified_spend = verified;
        Ok(Change { grant: Some((data.grant.clone(), grant)), ..Change::default() })
    }

    pub(super) fn decide_grant_completed(&self, data: &GrantCompleted) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        if grant.status != GrantStatus::Open {
            return Err(Violation::new(Rule::GrantStatus, format!("grant {} is {:?}, only an open grant can be completed", data.grant, grant.status)));
        }
        let mut grant = grant.clone();
        grant.status = GrantStatus::Completed;
        Ok(Change { grant: Some((data.grant.clone(), grant)), ..Change::default() })
    }

    pub(super) fn decide_grant_disbursed(&self, data: &GrantDisbursed, body: &EventBody) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        let scheme = &self.schemes[&grant.scheme];
        Self::require_not_closed(grant, &data.grant, "disbursing")?;
        positive(data.amount_cents, "a disbursement")?;
        Self::dual_control(body, data.amount_cents, scheme.terms.dual_control_threshold_cents, "a disbursement")?;
        if scheme.terms.paid_on_completion && grant.status != GrantStatus::Completed {
            return Err(Violation::new(
                Rule::GrantStatus,
                format!("scheme {} pays on completion, and grant {} is not completed", grant.scheme, data.grant),
            ));
        }
        let net = add(grant.net_disbursed(), data.amount_cents, "disbursements")?;
        if net > grant.amount {
            return Err(Violation::new(
                Rule::ApprovedGrant,
                format!(
                    "disbursement of {} would bring grant {}'s net disbursement to {net}, above the approved grant of {}",
                    data.amount_cents, data.grant, grant.amount
                ),
            ));
        }
        let reimbursable = scheme.government_share_of(grant.verified_spend);
        if net > reimbursable {
            return Err(Violation::new(
                Rule::ReimbursementShare,
                format!(
                    "disbursement of {} would bring grant {}'s net disbursement to {net} ({} of verified spend), above the government's {} share of verified spend {}, which is {reimbursable}",
                    data.amount_cents,
                    data.grant,
                    percent(net, grant.verified_spend),
                    ratio_text(scheme),
                    grant.verified_spend
                ),
            ));
        }
        let mut scheme = scheme.clone();
        scheme.disbursed = add(scheme.disbursed, data.amount_cents, "scheme disbursements")?;
        debug_assert!(scheme.disbursed <= scheme.committed, "net disbursement stays within commitments");
        let mut grant = grant.clone();
        grant.disbursed = add(grant.disbursed, data.amount_cents, "disbursements")?;
        Ok(Change {
            scheme: Some((grant.scheme.clone(), scheme)),
            grant: Some((data.grant.clone(), grant)),
            ..Change::default()
        })
    }

    pub(super) fn decide_grant_clawed_back(&self, data: &GrantClawedBack) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        positive(data.amount_cents, "a clawback")?;
        let net = grant.net_disbursed();
        if data.amount_cents > net {
            return Err(Violation::new(
                Rule::ClawbackExceedsDisbursed,
                format!("clawback of {} from grant {} exceeds its net disbursement of {net}", data.amount_cents, data.grant),
            ));
        }
        let mut scheme = self.schemes[&grant.scheme].clone();
        let key = (grant.scheme.clone(), grant.enterprise.clone());
        let mut standing = self.enterprises.get(&key).cloned().unwrap_or_default();
        let mut updated = grant.clone();
        updated.clawed_back = add(grant.clawed_back, data.amount_cents, "clawbacks")?;
        scheme.disbursed = scheme.disbursed.saturating_sub(data.amount_cents);
        // A closed grant holds only its net disbursement, so money clawed back
        // from it returns to the budget and to the enterprise's headroom.
        let released = grant.committed().saturating_sub(updated.committed());
        scheme.committed = scheme.committed.saturating_sub(released);
        standing.committed = standing.committed.saturating_sub(released);
        Ok(Change {
            scheme: Some((grant.scheme.clone(), scheme)),
            enterprise: Some((key, standing)),
            grant: Some((data.grant.clone(), updated)),
            ..Change::default()
        })
    }

    pub(super) fn decide_grant_closed(&self, data: &GrantClosed) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        Self::require_not_closed(grant, &data.grant, "closing it again")?;
        let mut scheme = self.schemes[&grant.scheme].clone();
        let key = (grant.scheme.clone(), grant.enterprise.clone());
        let mut standing = self.enterprises.get(&key).cloned().unwrap_or_default();
        let mut closed = grant.clone();
        closed.status = GrantStatus::Closed;
        let released = grant.committed().saturating_sub(closed.committed());
        scheme.committed = scheme.committed.saturating_sub(released);
        standing.committed = standing.committed.saturating_sub(released);
        standing.open_projects = standing.open_projects.saturating_sub(1);
        Ok(Change {
            scheme: Some((grant.scheme.clone(), scheme)),
            enterprise: Some((key, standing)),
            grant: Some((data.grant.clone(), closed)),
            ..Change::default()
        })
    }
}
