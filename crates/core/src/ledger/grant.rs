//! Rules of matching-grant schemes (government 1 : enterprise 2 and the like).
//!
//! Every limit is the scheme's own data (`scheme.established`, changed for
//! later approvals by effective-dated `scheme.amended`): the ratio, the caps
//! per project and per enterprise (lifetime or concurrent, counted over a
//! group of associated enterprises), the minimum project cost and enterprise
//! contribution, project counts and durations, the application window, the
//! attestations an approval needs, the payment schedule and the budget.
//!
//! Grants are paid on a reimbursement basis: net disbursement, plus what was
//! forfeited, never exceeds the government's share of *net eligible* spend
//! (verified less disallowed), nor the approved grant; a payment schedule
//! adds an initial payment and milestone instalments. One piece of evidence
//! supports spend once in the whole ledger. A clawback names its reason:
//! for ineligible spend or overpayment it returns at most what the grant is
//! overpaid (so the same spend is never paid twice), and money recovered for
//! a breach or on termination is never paid again. Approvals never commit
//! more than the budget or an enterprise's cap. Closing a grant returns what
//! was not disbursed; a clawback returns money.

use std::borrow::Cow;

use super::access::check_dual_control_rules;
use super::figures::grant_position;
use super::fund::percent;
use super::{add, not_found, positive, Change, EnterpriseStanding, EvidenceUse, Grant, GrantStatus, Ledger, Rule, Scheme, Violation};
use crate::event::{
    CapBasis, DualControlKind, Event, EventBody, EvidenceDigest, GrantApproved, GrantClawedBack, GrantClosed, GrantCompleted, GrantDisbursed,
    MilestoneAccepted, PaymentSchedule, Period, SchemeAmended, SchemeEstablished, SpendDisallowed, SpendVerified, ATTESTATIONS_MAX, BASIS_POINTS_ONE,
    MILESTONES_MAX,
};
use crate::id::{EnterpriseId, GrantId};
use crate::money::Money;
use crate::time::Date;

/// The evidence whose use an event's rule consults: the spend it verifies
/// or disallows. A shell that pages evidence pages these in first.
pub fn evidence_consulted(event: &Event) -> Option<EvidenceDigest> {
    match event {
        Event::SpendVerified(data) => Some(data.evidence_sha256),
        Event::SpendDisallowed(data) => Some(data.evidence_sha256),
        _ => None,
    }
}

fn ratio_text(scheme: &Scheme) -> String {
    format!("{}:{}", scheme.terms.government_ratio, scheme.terms.enterprise_ratio)
}

fn invalid<T>(message: String) -> Result<T, Violation> {
    Err(Violation::new(Rule::InvalidParameter, message))
}

impl Scheme {
    /// The government's share of `cost` at the scheme's ratio, rounded down.
    pub fn government_share_of(&self, cost: Money) -> Money {
        super::government_share(&self.terms, cost)
    }

    /// The budget: as established plus every top-up.
    pub fn budget(&self) -> Money {
        self.terms.budget_cents.checked_add(self.budget_top_ups).unwrap_or(Money::MAX)
    }

    /// The terms for a grant approved on `date` ([`terms_in_force`]), with
    /// `budget_cents` the budget including every top-up.
    pub fn terms_on(&self, date: &Date) -> SchemeEstablished {
        let mut terms = terms_in_force(&self.terms, &self.amendments, date);
        terms.budget_cents = self.budget();
        terms
    }
}

/// The terms for a grant approved on `date`: the established terms with
/// every amendment effective on or before that date applied, in the order
/// recorded (which is the order of their effective dates). Budget top-ups
/// are not terms: they add to the budget when recorded.
pub fn terms_in_force(established: &SchemeEstablished, amendments: &[SchemeAmended], date: &Date) -> SchemeEstablished {
    let mut terms = established.clone();
    for amendment in amendments.iter().filter(|amendment| amendment.effective_from <= *date) {
        apply_amendment(&mut terms, amendment);
    }
    terms
}

fn apply_amendment(terms: &mut SchemeEstablished, amendment: &SchemeAmended) {
    let money = [
        (&mut terms.project_grant_max_cents, amendment.project_grant_max_cents),
        (&mut terms.enterprise_grant_max_cents, amendment.enterprise_grant_max_cents),
        (&mut terms.project_cost_min_cents, amendment.project_cost_min_cents),
        (&mut terms.enterprise_contribution_min_cents, amendment.enterprise_contribution_min_cents),
    ];
    for (term, change) in money {
        if change.is_some() {
            *term = change;
        }
    }
    let counts = [
        (&mut terms.projects_per_enterprise_max, amendment.projects_per_enterprise_max),
        (&mut terms.concurrent_projects_per_enterprise_max, amendment.concurrent_projects_per_enterprise_max),
        (&mut terms.project_duration_months_max, amendment.project_duration_months_max),
    ];
    for (term, change) in counts {
        if change.is_some() {
            *term = change;
        }
    }
    if amendment.application_window.is_some() {
        terms.application_window = amendment.application_window.clone();
    }
}

fn check_period(name: &str, period: &Option<Period>) -> Result<(), Violation> {
    match period {
        Some(period) if period.ends < period.starts => invalid(format!("{name} {period} ends before it starts")),
        _ => Ok(()),
    }
}

/// The caps and counts a scheme's terms (or an amendment) set: present ones
/// must be positive, since an absent one means no limit.
fn check_limits(
    project_grant_max: Option<Money>,
    enterprise_grant_max: Option<Money>,
    projects_per_enterprise_max: Option<u32>,
    concurrent_projects_max: Option<u32>,
    duration_months_max: Option<u32>,
) -> Result<(), Violation> {
    for (name, cap) in [("project_grant_max_cents", project_grant_max), ("enterprise_grant_max_cents", enterprise_grant_max)] {
        if cap == Some(Money::ZERO) {
            return invalid(format!("{name} is zero; leave it out for no cap"));
        }
    }
    for (name, count) in [
        ("projects_per_enterprise_max", projects_per_enterprise_max),
        ("concurrent_projects_per_enterprise_max", concurrent_projects_max),
        ("project_duration_months_max", duration_months_max),
    ] {
        if count == Some(0) {
            return invalid(format!("{name} is zero; leave it out for no limit"));
        }
    }
    Ok(())
}

fn check_schedule(schedule: &Option<PaymentSchedule>) -> Result<(), Violation> {
    let Some(schedule) = schedule else {
        return Ok(());
    };
    if schedule.milestone_instalments_bps.len() > MILESTONES_MAX {
        return invalid(format!("{} milestones, at most {MILESTONES_MAX}", schedule.milestone_instalments_bps.len()));
    }
    if schedule.milestone_instalments_bps.contains(&0) {
        return invalid("a milestone instalment of 0 basis points; leave the milestone out".to_string());
    }
    let total: u64 = schedule.initial_payment_bps as u64 + schedule.milestone_instalments_bps.iter().map(|&bps| bps as u64).sum::<u64>();
    if total > BASIS_POINTS_ONE as u64 {
        return invalid(format!("the payment schedule pays {total} basis points of the grant, above {BASIS_POINTS_ONE} (100%)"));
    }
    Ok(())
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
        if data.government_ratio == 0 || data.enterprise_ratio == 0 {
            return invalid(format!("the ratio {}:{} must have both parts positive", data.government_ratio, data.enterprise_ratio));
        }
        positive(data.budget_cents, "a scheme budget")?;
        check_limits(
            data.project_grant_max_cents,
            data.enterprise_grant_max_cents,
            data.projects_per_enterprise_max,
            data.concurrent_projects_per_enterprise_max,
            data.project_duration_months_max,
        )?;
        check_period("the application window", &data.application_window)?;
        check_schedule(&data.payment_schedule)?;
        check_dual_control_rules(&data.dual_control, false)?;
        if data.required_attestations.len() > ATTESTATIONS_MAX {
            return invalid(format!("{} required attestations, at most {ATTESTATIONS_MAX}", data.required_attestations.len()));
        }
        for (index, code) in data.required_attestations.iter().enumerate() {
            if data.required_attestations[..index].contains(code) {
                return invalid(format!("attestation {code} is required twice"));
            }
        }
        let scheme = Scheme {
            terms: data.clone(),
            committed: Money::ZERO,
            disbursed: Money::ZERO,
            grant_count: 0,
            enterprise_count: 0,
            amendments: Vec::new(),
            budget_top_ups: Money::ZERO,
        };
        Ok(Change { scheme: Some((data.scheme.clone(), scheme)), ..Change::default() })
    }

    pub(super) fn decide_scheme_amended(&self, data: &SchemeAmended) -> Result<Change, Violation> {
        let scheme = self.schemes.get(&data.scheme).ok_or_else(|| not_found("scheme", &data.scheme))?;
        if let Some(latest) = scheme.amendments.last() {
            if data.effective_from < latest.effective_from {
                return Err(Violation::new(
                    Rule::AmendmentOrder,
                    format!(
                        "an amendment of scheme {} effective from {} comes before its latest amendment, effective from {}",
                        data.scheme, data.effective_from, latest.effective_from
                    ),
                ));
            }
        }
        check_limits(
            data.project_grant_max_cents,
            data.enterprise_grant_max_cents,
            data.projects_per_enterprise_max,
            data.concurrent_projects_per_enterprise_max,
            data.project_duration_months_max,
        )?;
        check_period("the application window", &data.application_window)?;
        let changes_money = [
            data.budget_top_up_cents,
            data.project_grant_max_cents,
            data.enterprise_grant_max_cents,
            data.project_cost_min_cents,
            data.enterprise_contribution_min_cents,
        ]
        .iter()
        .any(Option::is_some);
        let changes_count =
            [data.projects_per_enterprise_max, data.concurrent_projects_per_enterprise_max, data.project_duration_months_max].iter().any(Option::is_some);
        if !changes_money && !changes_count && data.application_window.is_none() {
            return invalid(format!("the amendment of scheme {} changes nothing", data.scheme));
        }
        let mut scheme = scheme.clone();
        if let Some(top_up) = data.budget_top_up_cents {
            positive(top_up, "a budget top-up")?;
            scheme.budget_top_ups = add(scheme.budget_top_ups, top_up, "budget top-ups")?;
            add(scheme.terms.budget_cents, scheme.budget_top_ups, "the scheme budget")?;
        }
        scheme.amendments.push(data.clone());
        Ok(Change { scheme: Some((data.scheme.clone(), scheme)), ..Change::default() })
    }

    pub(super) fn decide_grant_approved(&self, data: &GrantApproved, body: &EventBody) -> Result<Change, Violation> {
        let scheme = self.schemes.get(&data.scheme).ok_or_else(|| not_found("scheme", &data.scheme))?;
        if self.grants.contains_key(&data.grant) {
            return Err(Violation::new(Rule::AlreadyExists, format!("grant {} already exists", data.grant)));
        }
        positive(data.approved_cost_cents, "approved project cost")?;
        positive(data.grant_cents, "a grant")?;
        let approved_on = body.occurred_at.date();
        // Most schemes are never amended: their terms are read in place.
        let terms = if scheme.amendments.is_empty() {
            Cow::Borrowed(&scheme.terms)
        } else {
            Cow::Owned(terms_in_force(&scheme.terms, &scheme.amendments, &approved_on))
        };
        Self::dual_control_for(body, data.grant_cents, None, &scheme.terms.dual_control, DualControlKind::GrantApproval)?;
        Self::check_application(&terms, data, &approved_on)?;
        Self::check_project(scheme, &terms, data, &approved_on)?;
        let key = (data.scheme.clone(), data.enterprise.clone());
        let standing = self.enterprises.get(&key).cloned().unwrap_or_default();
        let enterprise_committed = self.check_enterprise_limits(&terms, data)?;
        let committed = add(scheme.committed, data.grant_cents, "scheme commitments")?;
        let budget = scheme.budget();
        if committed > budget {
            return Err(Violation::new(
                Rule::SchemeBudget,
                format!(
                    "grant {} would commit {committed} of scheme {}'s {budget} budget ({} already committed, {} remaining)",
                    data.grant_cents,
                    data.scheme,
                    scheme.committed,
                    budget.saturating_sub(scheme.committed)
                ),
            ));
        }
        let is_new_enterprise = standing.projects == 0;
        let mut scheme = scheme.clone();
        scheme.committed = committed;
        scheme.grant_count += 1;
        if is_new_enterprise {
            scheme.enterprise_count += 1;
        }
        debug_assert!(enterprise_committed >= data.grant_cents);
        let standing = EnterpriseStanding {
            projects: standing.projects + 1,
            open_projects: standing.open_projects + 1,
            committed: add(standing.committed, data.grant_cents, "enterprise commitments")?,
            open_committed: add(standing.open_committed, data.grant_cents, "enterprise commitments")?,
        };
        let record = Grant {
            scheme: data.scheme.clone(),
            enterprise: data.enterprise.clone(),
            project: data.project.clone(),
            approved_cost: data.approved_cost_cents,
            amount: data.grant_cents,
            verified_spend: Money::ZERO,
            disbursed: Money::ZERO,
            clawed_back: Money::ZERO,
            status: GrantStatus::Open,
            disallowed_spend: Money::ZERO,
            forfeited: Money::ZERO,
            milestones_accepted: 0,
        };
        Ok(Change {
            scheme: Some((data.scheme.clone(), scheme)),
            enterprise: Some((key, standing)),
            grant: Some((data.grant.clone(), record)),
            ..Change::default()
        })
    }

    /// The application date, the window and the eligibility attestations.
    fn check_application(terms: &SchemeEstablished, data: &GrantApproved, approved_on: &Date) -> Result<(), Violation> {
        if let Some(window) = &terms.application_window {
            match &data.applied_on {
                Some(applied) if window.contains(applied) => {}
                Some(applied) => {
                    return Err(Violation::new(
                        Rule::ApplicationWindow,
                        format!(
                            "the application of grant {} was received on {applied}, outside scheme {}'s application window {window}",
                            data.grant, data.scheme
                        ),
                    ))
                }
                None => {
                    return Err(Violation::new(
                        Rule::ApplicationWindow,
                        format!(
                            "scheme {} receives applications from {window}; grant {} must say when it was applied for (applied_on)",
                            data.scheme, data.grant
                        ),
                    ))
                }
            }
        }
        if let Some(applied) = &data.applied_on {
            if applied > approved_on {
                return Err(Violation::new(
                    Rule::ApplicationWindow,
                    format!("grant {} is approved on {approved_on}, before its application was received on {applied}", data.grant),
                ));
            }
        }
        if data.attestations.len() > ATTESTATIONS_MAX {
            return invalid(format!("{} attestations, at most {ATTESTATIONS_MAX}", data.attestations.len()));
        }
        let missing: Vec<&str> = terms
            .required_attestations
            .iter()
            .filter(|code| !data.attestations.iter().any(|attestation| attestation.code == **code))
            .map(|code| code.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Violation::new(
                Rule::AttestationMissing,
                format!("scheme {} requires the attestations {} with evidence; grant {} lacks them", data.scheme, missing.join(", "), data.grant),
            ));
        }
        Ok(())
    }

    /// The project's own limits: cost, share, per-project cap, contribution, duration.
    fn check_project(scheme: &Scheme, terms: &SchemeEstablished, data: &GrantApproved, approved_on: &Date) -> Result<(), Violation> {
        let (grant, cost) = (data.grant_cents, data.approved_cost_cents);
        let dated = if !scheme.amendments.is_empty() { format!(" (terms in force on {approved_on})") } else { String::new() };
        if let Some(minimum) = terms.project_cost_min_cents {
            if cost < minimum {
                return Err(Violation::new(
                    Rule::ProjectCostMin,
                    format!("approved project cost {cost} is below scheme {}'s minimum of {minimum}{dated}", data.scheme),
                ));
            }
        }
        let share = scheme.government_share_of(cost);
        if grant > share {
            return Err(Violation::new(
                Rule::GrantCostShare,
                format!("grant {grant} exceeds the government's {} share of the approved project cost {cost}, which is {share}", ratio_text(scheme)),
            ));
        }
        if let Some(cap) = terms.project_grant_max_cents {
            if grant > cap {
                return Err(Violation::new(Rule::ProjectGrantCap, format!("grant {grant} exceeds scheme {}'s per-project cap of {cap}{dated}", data.scheme)));
            }
        }
        if let Some(minimum) = terms.enterprise_contribution_min_cents {
            let contribution = cost.saturating_sub(grant);
            if contribution < minimum {
                return Err(Violation::new(
                    Rule::EnterpriseContributionMin,
                    format!("the enterprise's own contribution {contribution} (cost {cost} less grant {grant}) is below the minimum of {minimum}{dated}"),
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
        Ok(())
    }

    /// Project counts and the per-enterprise cap, over the enterprise's group
    /// of associated enterprises. Returns what the cap counts with this grant.
    fn check_enterprise_limits(&self, terms: &SchemeEstablished, data: &GrantApproved) -> Result<Money, Violation> {
        let group = self.associated_with(&data.enterprise);
        let standing = self.group_standing(&data.scheme, &data.enterprise);
        let who = enterprise_text(&data.enterprise, &group);
        if let Some(maximum) = terms.projects_per_enterprise_max {
            if standing.projects >= maximum {
                return Err(Violation::new(
                    Rule::ProjectsPerEnterprise,
                    format!("{who} already has {} projects in scheme {}, the maximum is {maximum}", standing.projects, data.scheme),
                ));
            }
        }
        if let Some(maximum) = terms.concurrent_projects_per_enterprise_max {
            if standing.open_projects >= maximum {
                return Err(Violation::new(
                    Rule::ConcurrentProjects,
                    format!("{who} already has {} open projects in scheme {}, the maximum at once is {maximum}", standing.open_projects, data.scheme),
                ));
            }
        }
        let concurrent = terms.enterprise_cap_basis == Some(CapBasis::Concurrent);
        let held = if concurrent { standing.open_committed } else { standing.committed };
        let total = add(held, data.grant_cents, "enterprise commitments")?;
        if let Some(cap) = terms.enterprise_grant_max_cents {
            if total > cap {
                let basis = if concurrent { " at any one time (open projects)" } else { "" };
                return Err(Violation::new(
                    Rule::EnterpriseGrantCap,
                    format!(
                        "grants to {who} in scheme {} would total {total}, above the {cap} per-enterprise cap{basis} ({held} already committed)",
                        data.scheme
                    ),
                ));
            }
        }
        Ok(total)
    }

    pub(super) fn decide_spend_verified(&self, data: &SpendVerified, body: &EventBody) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        Self::require_not_closed(grant, &data.grant, "verifying spend")?;
        positive(data.amount_cents, "verified spend")?;
        let scheme = &self.schemes[&grant.scheme];
        Self::dual_control_for(body, data.amount_cents, None, &scheme.terms.dual_control, DualControlKind::SpendVerification)?;
        if let Some(first) = self.evidence_use(&data.evidence_sha256) {
            return Err(Violation::new(
                Rule::EvidenceReused,
                format!(
                    "evidence {} already supports spend of {} on grant {} (record {}); one piece of evidence supports spend once",
                    data.evidence_sha256, first.amount, first.grant, first.event
                ),
            ));
        }
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
        let used = EvidenceUse { grant: data.grant.clone(), event: body.id.clone(), amount: data.amount_cents, disallowed: Money::ZERO };
        Ok(Change { grant: Some((data.grant.clone(), grant)), evidence: Some((data.evidence_sha256, used)), ..Change::default() })
    }

    pub(super) fn decide_spend_disallowed(&self, data: &SpendDisallowed) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        positive(data.amount_cents, "disallowed spend")?;
        let used = match self.evidence_use(&data.evidence_sha256) {
            Some(used) if used.grant == data.grant => used,
            Some(used) => {
                return Err(Violation::new(
                    Rule::DisallowanceEvidence,
                    format!("evidence {} supports spend on grant {}, not on grant {}", data.evidence_sha256, used.grant, data.grant),
                ))
            }
            None => {
                return Err(Violation::new(
                    Rule::DisallowanceEvidence,
                    format!("evidence {} supports no verified spend; a disallowance names the evidence of the spend it disallows", data.evidence_sha256),
                ))
            }
        };
        let disallowed = add(used.disallowed, data.amount_cents, "disallowed spend")?;
        if disallowed > used.amount {
            return Err(Violation::new(
                Rule::DisallowanceEvidence,
                format!(
                    "disallowing {} would bring what is disallowed of evidence {} to {disallowed}, above the {} of spend it supports ({} already disallowed)",
                    data.amount_cents, data.evidence_sha256, used.amount, used.disallowed
                ),
            ));
        }
        let mut used = used.clone();
        used.disallowed = disallowed;
        let mut grant = grant.clone();
        grant.disallowed_spend = add(grant.disallowed_spend, data.amount_cents, "disallowed spend")?;
        debug_assert!(grant.disallowed_spend <= grant.verified_spend);
        Ok(Change { grant: Some((data.grant.clone(), grant)), evidence: Some((data.evidence_sha256, used)), ..Change::default() })
    }

    pub(super) fn decide_milestone_accepted(&self, data: &MilestoneAccepted) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        Self::require_not_closed(grant, &data.grant, "accepting a milestone")?;
        let scheme = &self.schemes[&grant.scheme];
        let count = scheme.terms.payment_schedule.as_ref().map_or(0, |schedule| schedule.milestone_instalments_bps.len());
        let next = grant.milestones_accepted.saturating_add(1);
        if data.milestone != next || data.milestone as usize > count {
            return Err(Violation::new(
                Rule::MilestoneOrder,
                format!(
                    "milestone {} of grant {}: scheme {} has {count} milestones and {} are accepted, so the next is {}",
                    data.milestone,
                    data.grant,
                    grant.scheme,
                    grant.milestones_accepted,
                    if (next as usize) <= count { next.to_string() } else { "none".to_string() }
                ),
            ));
        }
        let mut grant = grant.clone();
        grant.milestones_accepted = next;
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
        let terms = &scheme.terms;
        Self::dual_control_for(body, data.amount_cents, Some(terms.dual_control_threshold_cents), &terms.dual_control, DualControlKind::Disbursement)?;
        if terms.paid_on_completion && grant.status != GrantStatus::Completed {
            return Err(Violation::new(Rule::GrantStatus, format!("scheme {} pays on completion, and grant {} is not completed", grant.scheme, data.grant)));
        }
        let net = add(grant.net_disbursed(), data.amount_cents, "disbursements")?;
        let paid = add(net, grant.forfeited, "disbursements")?;
        let forfeited = if grant.forfeited.is_zero() { String::new() } else { format!(" (plus {} forfeited)", grant.forfeited) };
        if paid > grant.amount {
            return Err(Violation::new(
                Rule::ApprovedGrant,
                format!(
                    "disbursement of {} would bring grant {}'s net disbursement to {net}{forfeited}, above the approved grant of {}",
                    data.amount_cents, data.grant, grant.amount
                ),
            ));
        }
        let position = grant_position(&scheme.terms, grant);
        if paid > position.ceiling {
            return Err(Self::over_ceiling(scheme, grant, data, net, &forfeited, &position));
        }
        let mut scheme = scheme.clone();
        scheme.disbursed = add(scheme.disbursed, data.amount_cents, "scheme disbursements")?;
        debug_assert!(scheme.disbursed <= scheme.committed, "net disbursement stays within commitments");
        let mut grant = grant.clone();
        grant.disbursed = add(grant.disbursed, data.amount_cents, "disbursements")?;
        Ok(Change { scheme: Some((grant.scheme.clone(), scheme)), grant: Some((data.grant.clone(), grant)), ..Change::default() })
    }

    /// The refusal of a disbursement above what the grant may be paid now.
    fn over_ceiling(scheme: &Scheme, grant: &Grant, data: &GrantDisbursed, net: Money, forfeited: &str, position: &super::GrantPosition) -> Violation {
        let spend = grant.net_eligible_spend();
        let spend_text = if grant.disallowed_spend.is_zero() {
            format!("verified spend {spend}")
        } else {
            format!("net eligible spend {spend} (verified {} less disallowed {})", grant.verified_spend, grant.disallowed_spend)
        };
        match position.scheduled {
            None => Violation::new(
                Rule::ReimbursementShare,
                format!(
                    "disbursement of {} would bring grant {}'s net disbursement to {net}{forfeited} ({} of {}), above the government's {} share of {spend_text}, which is {}",
                    data.amount_cents,
                    data.grant,
                    percent(net, spend),
                    if grant.disallowed_spend.is_zero() { "verified spend" } else { "net eligible spend" },
                    ratio_text(scheme),
                    position.reimbursable
                ),
            ),
            Some(scheduled) => Violation::new(
                Rule::PaymentSchedule,
                format!(
                    "disbursement of {} would bring grant {}'s net disbursement to {net}{forfeited}, above the {} payable now: the initial payment and {} accepted milestones make {scheduled}, and the government's {} share of {spend_text} is {}",
                    data.amount_cents,
                    data.grant,
                    position.ceiling,
                    grant.milestones_accepted,
                    ratio_text(scheme),
                    position.reimbursable
                ),
            ),
        }
    }

    pub(super) fn decide_grant_clawed_back(&self, data: &GrantClawedBack, body: &EventBody) -> Result<Change, Violation> {
        let grant = self.grant(&data.grant)?;
        positive(data.amount_cents, "a clawback")?;
        let scheme = &self.schemes[&grant.scheme];
        Self::dual_control_for(body, data.amount_cents, None, &scheme.terms.dual_control, DualControlKind::Clawback)?;
        let net = grant.net_disbursed();
        if data.amount_cents > net {
            return Err(Violation::new(
                Rule::ClawbackExceedsDisbursed,
                format!("clawback of {} from grant {} exceeds its net disbursement of {net}", data.amount_cents, data.grant),
            ));
        }
        let mut updated = grant.clone();
        updated.clawed_back = add(grant.clawed_back, data.amount_cents, "clawbacks")?;
        match data.reason_code {
            Some(code) if code.forfeits() => updated.forfeited = add(grant.forfeited, data.amount_cents, "forfeited")?,
            Some(code) => {
                let position = grant_position(&scheme.terms, grant);
                if data.amount_cents > position.overpaid {
                    return Err(Violation::new(
                        Rule::ClawbackReason,
                        format!(
                            "a clawback for {code} returns at most what grant {} is overpaid, which is {} (net disbursement {net}, payable at most {}); disallow the spend first, or name breach_of_conditions or termination",
                            data.grant,
                            position.overpaid,
                            position.ceiling
                        ),
                    ));
                }
            }
            None => {}
        }
        let mut scheme = scheme.clone();
        scheme.disbursed = scheme.disbursed.saturating_sub(data.amount_cents);
        let key = (grant.scheme.clone(), grant.enterprise.clone());
        let mut standing = self.enterprises.get(&key).cloned().unwrap_or_default();
        // A closed grant holds only its net disbursement, and forfeited money
        // is never paid, so either returns to the budget and the enterprise's headroom.
        let released = grant.committed().saturating_sub(updated.committed());
        scheme.committed = scheme.committed.saturating_sub(released);
        release(&mut standing, grant, released);
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
        standing.open_committed = standing.open_committed.saturating_sub(grant.committed());
        standing.open_projects = standing.open_projects.saturating_sub(1);
        Ok(Change {
            scheme: Some((grant.scheme.clone(), scheme)),
            enterprise: Some((key, standing)),
            grant: Some((data.grant.clone(), closed)),
            ..Change::default()
        })
    }
}

/// What a grant no longer holds leaves the enterprise's commitments (and its
/// open commitments while the grant is not closed).
fn release(standing: &mut EnterpriseStanding, grant: &Grant, released: Money) {
    standing.committed = standing.committed.saturating_sub(released);
    if grant.status != GrantStatus::Closed {
        standing.open_committed = standing.open_committed.saturating_sub(released);
    }
}

/// "enterprise X" or "enterprise X (with associated A, B)".
fn enterprise_text(enterprise: &EnterpriseId, group: &[EnterpriseId]) -> String {
    let others: Vec<&str> = group.iter().filter(|member| *member != enterprise).map(|member| member.as_str()).collect();
    if others.is_empty() {
        format!("enterprise {enterprise}")
    } else {
        format!("enterprise {enterprise} (with associated {})", others.join(", "))
    }
}
