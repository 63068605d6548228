//! A grant scheme and each enterprise's standing in it (its grants, what
//! they hold and the headroom left under the caps), and an enterprise's
//! standings across the schemes it has grants in.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use fundledger_core::event::SchemeEstablished;
use fundledger_core::id::{EnterpriseId, GrantId, SchemeId};
use fundledger_core::ledger::{self as core, EnterpriseStanding, GrantPosition};
use fundledger_core::money::Money;
use fundledger_core::time::{Date, Timestamp};

use super::events::event_at;
use super::{add, Query, QueryError};
use crate::keys::Kind;
use crate::model::{standing_of, GrantModel, GrantStatusView, LedgerModel, SchemeModel};
use crate::performance::Share;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GrantLine {
    pub grant: GrantId,
    pub project: String,
    pub status: GrantStatusView,
    pub grant_cents: Money,
    pub verified_spend_cents: Money,
    pub net_disbursed_cents: Money,
    /// What may be paid now (the core's `grant_position`): the ceiling less net disbursement and forfeited money.
    pub disbursable_now_cents: Money,
}

/// One enterprise's standing in one scheme, as served (the core keeps its own as `EnterpriseStanding`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Standing")]
pub struct StandingView {
    pub scheme: SchemeId,
    pub enterprise: EnterpriseId,
    pub enterprise_name: String,
    pub grant_count: u32,
    pub open_grant_count: u32,
    /// What its grants hold of the scheme's budget and of its cap.
    pub committed_cents: Money,
    /// Eligible project spend verified (the spend the grant matches).
    pub verified_spend_cents: Money,
    /// Verified spend less disallowed spend.
    pub net_eligible_spend_cents: Money,
    /// The government's share of net eligible spend at the scheme's ratio.
    pub reimbursable_cents: Money,
    /// Disbursed, net of clawbacks.
    pub disbursed_cents: Money,
    pub disbursable_now_cents: Money,
    /// Room under each cap for the enterprise and its associated enterprises, under the terms in force
    /// on the date of the answer's last record (the core's `headroom`); null members where the scheme sets no such cap.
    pub headroom: core::Headroom,
    pub grants: Vec<GrantLine>,
}

fn grant_line(grant: &GrantModel, position: &GrantPosition) -> GrantLine {
    GrantLine {
        grant: grant.grant.clone(),
        project: grant.project.to_string(),
        status: grant.status,
        grant_cents: grant.grant_cents,
        verified_spend_cents: grant.verified_spend_cents,
        net_disbursed_cents: position.net_disbursed,
        disbursable_now_cents: position.disbursable_now,
    }
}

/// The date of the answer's last record: the terms in force then are the ones headroom is measured under.
pub(super) fn answer_date(query: &Query) -> Result<Option<Date>, QueryError> {
    if query.seq == 0 {
        return Ok(None);
    }
    let event = event_at(query, query.seq)?;
    Ok(Timestamp::parse(&event.occurred_at).ok().map(|at| at.date()))
}

/// An enterprise's group and the group's standing in `scheme`: the members' grants added up as the core adds them.
fn group_standing(
    query: &Query,
    scheme: &SchemeId,
    enterprise: &EnterpriseId,
    own: &[GrantModel],
) -> Result<(Vec<EnterpriseId>, EnterpriseStanding), QueryError> {
    let ledger: Option<LedgerModel> = query.version(Kind::Ledger, query.reader.ledger().as_str())?;
    let group = ledger.map(|ledger| ledger.associated_with(enterprise)).unwrap_or_else(|| vec![enterprise.clone()]);
    let mut standing = standing_of(own);
    for member in group.iter().filter(|member| *member != enterprise) {
        let grants = grants_of(query, Kind::Enterprise, member.as_str())?;
        standing = standing.plus(&standing_of(grants.iter().filter(|grant| grant.scheme == *scheme)));
    }
    Ok((group, standing))
}

fn standing(query: &Query, scheme: &SchemeModel, enterprise: &EnterpriseId, grants: &[GrantModel], on: Option<&Date>) -> Result<StandingView, QueryError> {
    let terms = &scheme.terms;
    let (group, group_standing) = group_standing(query, &terms.scheme, enterprise, grants)?;
    let in_force = match on {
        Some(date) => scheme.terms_on(date),
        None => terms.clone(),
    };
    // Headroom under the budget, floored at zero as the core's `headroom` takes it.
    let budget_left = scheme.budget().saturating_sub(scheme.committed_cents);
    let mut out = StandingView {
        scheme: terms.scheme.clone(),
        enterprise: enterprise.clone(),
        enterprise_name: grants.last().map(|grant| grant.enterprise_name.to_string()).unwrap_or_default(),
        grant_count: grants.len() as u32,
        open_grant_count: 0,
        committed_cents: Money::ZERO,
        verified_spend_cents: Money::ZERO,
        net_eligible_spend_cents: Money::ZERO,
        reimbursable_cents: Money::ZERO,
        disbursed_cents: Money::ZERO,
        disbursable_now_cents: Money::ZERO,
        headroom: core::headroom(&in_force, budget_left, group, &group_standing),
        grants: Vec::new(),
    };
    for grant in grants {
        let position = grant.position(terms);
        if grant.status != GrantStatusView::Closed {
            out.open_grant_count += 1;
        }
        out.committed_cents = add(out.committed_cents, grant.committed(), "commitments")?;
        out.verified_spend_cents = add(out.verified_spend_cents, grant.verified_spend_cents, "verified spend")?;
        out.net_eligible_spend_cents = add(out.net_eligible_spend_cents, position.net_eligible_spend, "net eligible spend")?;
        out.reimbursable_cents = add(out.reimbursable_cents, position.reimbursable, "reimbursable spend")?;
        out.disbursed_cents = add(out.disbursed_cents, position.net_disbursed, "disbursements")?;
        out.disbursable_now_cents = add(out.disbursable_now_cents, position.disbursable_now, "disbursable now")?;
        out.grants.push(grant_line(grant, &position));
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SchemeView {
    pub scheme: SchemeId,
    pub name: String,
    pub terms: SchemeEstablished,
    /// Amendments, in order of their effective dates.
    pub amendments: Vec<fundledger_core::event::SchemeAmended>,
    /// The budget as established plus every top-up.
    pub budget_cents: Money,
    /// Every grant ever approved, gross.
    pub approved_cents: Money,
    /// What holds the budget: open grants' amounts plus closed grants' net disbursements.
    pub committed_cents: Money,
    /// Disbursed, net of clawbacks.
    pub disbursed_cents: Money,
    pub clawed_back_cents: Money,
    /// Budget less commitments.
    pub remaining_cents: Money,
    /// Commitments / budget.
    pub utilisation: Share,
    /// Net disbursed / commitments.
    pub disbursed_share: Share,
    pub grant_count: u32,
    pub open_grant_count: u32,
    pub enterprise_count: u32,
    /// Each enterprise's standing; present on `GET /v1/schemes/{id}`, empty in lists.
    pub enterprises: Vec<StandingView>,
}

fn scheme_view(model: SchemeModel, enterprises: Vec<StandingView>) -> SchemeView {
    let terms = &model.terms;
    let budget = model.budget();
    SchemeView {
        scheme: terms.scheme.clone(),
        name: terms.name.to_string(),
        amendments: model.amendments.clone(),
        budget_cents: budget,
        approved_cents: model.approved_cents,
        committed_cents: model.committed_cents,
        disbursed_cents: model.disbursed_cents,
        clawed_back_cents: model.clawed_back_cents,
        // For display: the budget left, floored at zero (commitments never exceed the budget under the core's rules).
        remaining_cents: budget.saturating_sub(model.committed_cents),
        utilisation: Share::of(model.committed_cents, budget),
        disbursed_share: Share::of(model.disbursed_cents, model.committed_cents),
        grant_count: model.grant_count,
        open_grant_count: model.open_grant_count,
        enterprise_count: model.enterprise_count,
        enterprises,
        terms: model.terms,
    }
}

pub(super) fn grants_of(query: &Query, kind: Kind, id: &str) -> Result<Vec<GrantModel>, QueryError> {
    let mut grants = Vec::new();
    for grant in query.children(kind, id, Kind::Grant)? {
        grants.push(query.require::<GrantModel>(Kind::Grant, &grant)?);
    }
    Ok(grants)
}

pub fn scheme(query: &Query, id: &str) -> Result<SchemeView, QueryError> {
    let model: SchemeModel = query.require(Kind::Scheme, id)?;
    let mut by_enterprise: BTreeMap<EnterpriseId, Vec<GrantModel>> = BTreeMap::new();
    for grant in grants_of(query, Kind::Scheme, id)? {
        by_enterprise.entry(grant.enterprise.clone()).or_default().push(grant);
    }
    let on = answer_date(query)?;
    let mut enterprises = Vec::new();
    for (enterprise, grants) in &by_enterprise {
        enterprises.push(standing(query, &model, enterprise, grants, on.as_ref())?);
    }
    Ok(scheme_view(model, enterprises))
}

pub fn schemes(query: &Query) -> Result<Vec<SchemeView>, QueryError> {
    query.directory(Kind::Scheme)?.iter().map(|id| Ok(scheme_view(query.require(Kind::Scheme, id)?, Vec::new()))).collect()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnterpriseView {
    pub enterprise: EnterpriseId,
    pub name: String,
    /// Its standing in each scheme it has grants in.
    pub schemes: Vec<StandingView>,
}

pub fn enterprise(query: &Query, id: &str) -> Result<EnterpriseView, QueryError> {
    let enterprise = EnterpriseId::parse(id).map_err(|error| QueryError::BadRequest(error.to_string()))?;
    let grants = grants_of(query, Kind::Enterprise, id)?;
    if grants.is_empty() {
        return Err(QueryError::NotFound { kind: "enterprise", id: id.to_string(), as_of: query.as_of() });
    }
    let mut by_scheme: BTreeMap<SchemeId, Vec<GrantModel>> = BTreeMap::new();
    for grant in grants {
        by_scheme.entry(grant.scheme.clone()).or_default().push(grant);
    }
    let on = answer_date(query)?;
    let mut schemes = Vec::new();
    for (scheme_id, grants) in &by_scheme {
        let scheme: SchemeModel = query.require(Kind::Scheme, scheme_id.as_str())?;
        schemes.push(standing(query, &scheme, &enterprise, grants, on.as_ref())?);
    }
    let name = schemes.last().map(|standing| standing.enterprise_name.clone()).unwrap_or_default();
    Ok(EnterpriseView { enterprise, name, schemes })
}
