//! Answers over one consistent snapshot of the read models.
//!
//! Every answer says the ledger sequence it reflects (`seq`): the store's
//! position, or `as_of` when the caller asks for a past position. Every
//! entity model keeps a version per record that changed it, so any past
//! position is answered exactly; flows and indexes are filtered by sequence.
//! Aggregates (fund totals by theme, sub-fund and GP, enterprise standings)
//! are summed here from the entity versions, in exact cents.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use fundledger_core::event::{FundEstablished, SchemeEstablished, Theme};
use fundledger_core::id::{EnterpriseId, FundId, GrantId, SchemeId, SubFundId};
use fundledger_core::ledger::{self as core, EnterpriseStanding, GrantPosition, ProgrammeSize};
use fundledger_core::money::Money;
use fundledger_core::time::{civil_from_days, days_from_civil, Date, Timestamp};

use crate::keys::Kind;
use crate::metrics::{irr, multiples, CashFlow, Irr, Multiples, Ratio, Share};
use crate::model::*;
use crate::store::{Reader, StoreError};

/// Events returned by one page, at most.
pub const EVENTS_PAGE_MAX: usize = 1_000;
/// Events returned by one page unless asked otherwise.
pub const EVENTS_PAGE_DEFAULT: usize = 100;
/// Versions a report walks back to find the NAV as of a quarter's end, at most.
pub const REPORT_NAV_VERSIONS_MAX: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error("{kind} {id} does not exist{}", .as_of.map(|seq| format!(" as of record {seq}")).unwrap_or_default())]
    NotFound { kind: &'static str, id: String, as_of: Option<u64> },
    #[error("as_of {as_of} is ahead of the read models, which are at record {position}")]
    AsOfAhead { as_of: u64, position: u64 },
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An answer and the ledger position it reflects.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct Answer<T> {
    pub ledger: String,
    /// The ledger sequence this answer reflects (the last record it includes).
    pub seq: u64,
    /// The read models' position when answering (equal to `seq` unless `as_of` was given).
    pub position: u64,
    pub data: T,
}

/// Where an answer reads: the position and the sequence it reflects.
pub struct Query<'r, 'a> {
    reader: &'r Reader<'a>,
    seq: u64,
}

impl<'r, 'a> Query<'r, 'a> {
    pub fn new(reader: &'r Reader<'a>, as_of: Option<u64>) -> Result<Self, QueryError> {
        let position = reader.position().seq;
        let seq = match as_of {
            Some(as_of) if as_of > position => return Err(QueryError::AsOfAhead { as_of, position }),
            Some(as_of) => as_of,
            None => position,
        };
        Ok(Query { reader, seq })
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn answer<T>(&self, data: T) -> Answer<T> {
        Answer { ledger: self.reader.ledger().to_string(), seq: self.seq, position: self.reader.position().seq, data }
    }

    fn as_of(&self) -> Option<u64> {
        (self.seq != self.reader.position().seq).then_some(self.seq)
    }

    fn version<T: Stored>(&self, kind: Kind, id: &str) -> Result<Option<T>, QueryError> {
        Ok(self.reader.version::<T>(kind, id, self.seq)?.map(|(_, model)| model))
    }

    fn require<T: Stored>(&self, kind: Kind, id: &str) -> Result<T, QueryError> {
        self.version(kind, id)?.ok_or_else(|| QueryError::NotFound { kind: kind.as_str(), id: id.to_string(), as_of: self.as_of() })
    }

    fn directory(&self, kind: Kind) -> Result<Vec<String>, QueryError> {
        Ok(self.reader.directory(kind)?.into_iter().filter(|(_, seq)| *seq <= self.seq).map(|(id, _)| id).collect())
    }

    fn children(&self, kind: Kind, id: &str, child: Kind) -> Result<Vec<String>, QueryError> {
        Ok(self.reader.children(kind, id, child)?.into_iter().filter(|(_, seq)| *seq <= self.seq).map(|(id, _)| id).collect())
    }
}

fn sum(a: Money, b: Money) -> Money {
    a.checked_add(b).unwrap_or(Money::MAX)
}

// ---------------------------------------------------------------------------
// Funds and sub-funds.

/// The government's position in one or more sub-funds, and its metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Figures {
    pub subfunds: u32,
    pub target_size_cents: Money,
    pub market_committed_cents: Money,
    /// The government's commitments.
    pub committed_cents: Money,
    /// Market plus government commitments.
    pub committed_size_cents: Money,
    pub called_cents: Money,
    pub fees_cents: Money,
    /// Paid-in capital (PIC): calls plus fees.
    pub paid_in_cents: Money,
    /// Commitment plus recallable distributions, less paid-in.
    pub uncalled_cents: Money,
    pub distributed_cents: Money,
    /// Distributions that restored uncalled commitment.
    pub recallable_distributed_cents: Money,
    /// The sum of the latest NAVs.
    pub nav_cents: Money,
    pub invested_cents: Money,
    pub invested_hk_cents: Money,
    pub written_off_cents: Money,
    pub production_spend_cents: Money,
    /// DPI, RVPI and TVPI, exact.
    pub multiples: Multiples,
    /// Since-inception IRR from dated contributions and distributions with the latest NAVs as terminal inflows.
    pub irr: Irr,
}

#[derive(Default)]
struct Accumulator {
    subfunds: u32,
    target: Money,
    market: Money,
    committed: Money,
    called: Money,
    fees: Money,
    paid_in: Money,
    uncalled: Money,
    distributed: Money,
    recallable: Money,
    nav: Money,
    invested: Money,
    invested_hk: Money,
    written_off: Money,
    production: Money,
    flows: Vec<CashFlow>,
}

impl Accumulator {
    fn add(&mut self, model: &SubFundModel, flows: &[CashFlow]) {
        self.subfunds += 1;
        self.target = sum(self.target, model.target_size_cents);
        self.market = sum(self.market, model.market_committed_cents);
        self.committed = sum(self.committed, model.government_committed_cents);
        self.called = sum(self.called, model.called_cents);
        self.fees = sum(self.fees, model.fees_cents);
        self.paid_in = sum(self.paid_in, model.paid_in_cents);
        self.uncalled = sum(self.uncalled, model.uncalled());
        self.distributed = sum(self.distributed, model.distributed_cents);
        self.recallable = sum(self.recallable, model.recallable_distributed_cents);
        self.nav = sum(self.nav, model.nav_cents.unwrap_or(Money::ZERO));
        self.invested = sum(self.invested, model.invested_cents);
        self.invested_hk = sum(self.invested_hk, model.invested_hk_cents);
        self.written_off = sum(self.written_off, model.written_off_cents);
        self.production = sum(self.production, model.production_spend_cents);
        self.flows.extend_from_slice(flows);
    }

    fn figures(&self) -> Figures {
        let multiples = multiples(self.paid_in, self.distributed, self.nav).unwrap_or_else(|| Multiples {
            paid_in_cents: self.paid_in,
            distributed_cents: self.distributed,
            nav_cents: self.nav,
            dpi: Ratio::of(self.distributed, self.paid_in),
            rvpi: Ratio::of(self.nav, self.paid_in),
            tvpi: Ratio::new(u64::MAX, self.paid_in.cents()),
        });
        Figures {
            subfunds: self.subfunds,
            target_size_cents: self.target,
            market_committed_cents: self.market,
            committed_cents: self.committed,
            committed_size_cents: sum(self.market, self.committed),
            called_cents: self.called,
            fees_cents: self.fees,
            paid_in_cents: self.paid_in,
            uncalled_cents: self.uncalled,
            distributed_cents: self.distributed,
            recallable_distributed_cents: self.recallable,
            nav_cents: self.nav,
            invested_cents: self.invested,
            invested_hk_cents: self.invested_hk,
            written_off_cents: self.written_off,
            production_spend_cents: self.production,
            multiples,
            irr: irr(&self.flows),
        }
    }
}

/// The investor-side cash flows of a sub-fund up to `seq`: contributions out,
/// distributions in, and its latest NAV in on its date.
fn cash_flows(query: &Query, model: &SubFundModel) -> Result<Vec<CashFlow>, QueryError> {
    let mut flows: Vec<CashFlow> = query
        .reader
        .flows(Kind::SubFund, model.subfund.as_str(), query.seq)?
        .into_iter()
        .filter_map(|flow| {
            let cents = flow.amount_cents.cents() as i128;
            let day = flow.occurred_at.days_since_epoch();
            match flow.kind {
                FlowKind::CapitalCall | FlowKind::Fee => Some(CashFlow { day, cents: -cents }),
                FlowKind::Distribution => Some(CashFlow { day, cents }),
                _ => None,
            }
        })
        .collect();
    if let (Some(nav), Some(as_of)) = (model.nav_cents, &model.nav_as_of) {
        if !nav.is_zero() {
            flows.push(CashFlow { day: as_of.days_since_epoch(), cents: nav.cents() as i128 });
        }
    }
    Ok(flows)
}

/// One line of a breakdown: a theme, a GP or a sub-fund.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Line {
    /// The theme id, GP name or sub-fund id.
    pub key: String,
    pub name: String,
    pub figures: Figures,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FundView {
    pub fund: FundId,
    pub name: String,
    /// The government's capital for the fund.
    pub capital_cents: Money,
    /// Capital not yet committed to sub-funds.
    pub uncommitted_capital_cents: Money,
    pub terms: FundEstablished,
    pub totals: Figures,
    pub by_theme: Vec<Line>,
    pub by_subfund: Vec<Line>,
    pub by_gp: Vec<Line>,
    /// The sub-funds' committed sizes together against the programme's minimum size (the core's `programme_size`).
    pub programme_size: ProgrammeSize,
}

pub fn fund(query: &Query, id: &str) -> Result<FundView, QueryError> {
    let model: FundModel = query.require(Kind::Fund, id)?;
    let mut totals = Accumulator::default();
    let mut themes: BTreeMap<String, Accumulator> = BTreeMap::new();
    let mut gps: BTreeMap<String, Accumulator> = BTreeMap::new();
    let mut lines = Vec::new();
    let mut committed_size = Money::ZERO;
    for subfund_id in query.children(Kind::Fund, id, Kind::SubFund)? {
        let subfund: SubFundModel = query.require(Kind::SubFund, &subfund_id)?;
        committed_size = sum(committed_size, subfund.committed_size());
        let flows = cash_flows(query, &subfund)?;
        totals.add(&subfund, &flows);
        themes.entry(subfund.theme.to_string()).or_default().add(&subfund, &flows);
        gps.entry(subfund.general_partner.to_string()).or_default().add(&subfund, &flows);
        let mut single = Accumulator::default();
        single.add(&subfund, &flows);
        lines.push(Line { key: subfund.subfund.to_string(), name: subfund.name.to_string(), figures: single.figures() });
    }
    let theme_name = |theme: &str| model.terms.themes.iter().find(|candidate: &&Theme| candidate.id.as_str() == theme).map(|theme| theme.name.to_string());
    let by_theme = model
        .terms
        .themes
        .iter()
        .map(|theme| {
            let figures = themes.get(theme.id.as_str()).map(Accumulator::figures).unwrap_or_else(|| Accumulator::default().figures());
            Line { key: theme.id.to_string(), name: theme.name.to_string(), figures }
        })
        .chain(themes.iter().filter(|(theme, _)| theme_name(theme).is_none()).map(|(theme, totals)| Line {
            key: theme.clone(),
            name: theme.clone(),
            figures: totals.figures(),
        }))
        .collect();
    let figures = totals.figures();
    Ok(FundView {
        fund: model.terms.fund.clone(),
        name: model.terms.name.to_string(),
        capital_cents: model.terms.government_capital_cents,
        uncommitted_capital_cents: model.terms.government_capital_cents.saturating_sub(figures.committed_cents),
        terms: model.terms.clone(),
        totals: figures,
        by_theme,
        by_subfund: lines,
        by_gp: gps.iter().map(|(gp, totals)| Line { key: gp.clone(), name: gp.clone(), figures: totals.figures() }).collect(),
        programme_size: core::programme_size(&model.terms, committed_size),
    })
}

/// A compliance figure: a share and the bound it is held to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Compliance {
    pub share: Share,
    /// The bound in basis points (10000 = 100%).
    pub bound_bps: u32,
    /// `max` (the share must not exceed the bound) or `min` (it must reach it).
    pub bound: String,
    /// Whether the bound holds now; null when there is nothing to measure yet.
    pub met: Option<bool>,
}

impl From<core::Compliance> for Compliance {
    fn from(figure: core::Compliance) -> Compliance {
        Compliance {
            share: Share::of(figure.part, figure.whole),
            bound_bps: figure.bound_bps,
            bound: if figure.is_max { "max" } else { "min" }.to_string(),
            met: figure.met,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubFundView {
    #[serde(flatten)]
    pub model: SubFundModel,
    pub theme_name: Option<String>,
    pub committed_size_cents: Money,
    pub uncalled_cents: Money,
    pub figures: Figures,
    /// Government commitment / committed size, at most the fund's maximum (25% for the ITIF).
    pub government_share: Compliance,
    /// The fund's cap on the government's commitment to one sub-fund.
    pub government_commitment_max_cents: Money,
    /// Investment into Hong Kong enterprises / the sub-fund's committed size, at least the fund's minimum (50%).
    pub hk_enterprise_share: Compliance,
    /// Investees' spend on HK production bases within the investment period / the sub-fund's committed size, at least the fund's minimum (25%).
    pub hk_production_spend: Compliance,
    /// The production spend the minimum asks for, in cents (committed size times the minimum share, rounded up).
    pub hk_production_spend_target_cents: Money,
    /// Whether the committed size reaches the fund's minimum sub-fund size; null when the fund sets none.
    pub committed_size_min_met: Option<bool>,
    pub investments: Vec<InvestmentModel>,
}

pub fn subfund(query: &Query, id: &str) -> Result<SubFundView, QueryError> {
    let model: SubFundModel = query.require(Kind::SubFund, id)?;
    let fund: FundModel = query.require(Kind::Fund, model.fund.as_str())?;
    let terms = &fund.terms;
    let flows = cash_flows(query, &model)?;
    let mut single = Accumulator::default();
    single.add(&model, &flows);
    let size = model.committed_size();
    let mut investments = Vec::new();
    for investment in query.children(Kind::SubFund, id, Kind::Investment)? {
        investments.push(query.require::<InvestmentModel>(Kind::Investment, &investment)?);
    }
    let compliance = core::subfund_compliance(terms, &model.figures());
    Ok(SubFundView {
        theme_name: terms.themes.iter().find(|theme| theme.id == model.theme).map(|theme| theme.name.to_string()),
        committed_size_cents: size,
        uncalled_cents: model.uncalled(),
        figures: single.figures(),
        government_commitment_max_cents: terms.government_commitment_per_subfund_max_cents,
        hk_production_spend_target_cents: compliance.hk_production_spend.target(),
        committed_size_min_met: compliance.committed_size_min_met,
        government_share: compliance.government_share.into(),
        hk_enterprise_share: compliance.hk_enterprise_share.into(),
        hk_production_spend: compliance.hk_production_spend.into(),
        investments,
        model,
    })
}

// ---------------------------------------------------------------------------
// Schemes, enterprises and grants.

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GrantLine {
    pub grant: GrantId,
    pub project: String,
    pub status: GrantStatus,
    pub grant_cents: Money,
    pub verified_spend_cents: Money,
    pub net_disbursed_cents: Money,
    /// What may be paid now (the core's `grant_position`): the ceiling less net disbursement and forfeited money.
    pub disbursable_now_cents: Money,
}

/// One enterprise's standing in one scheme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Standing {
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
fn answer_date(query: &Query) -> Result<Option<Date>, QueryError> {
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

fn standing(query: &Query, scheme: &SchemeModel, enterprise: &EnterpriseId, grants: &[GrantModel], on: Option<&Date>) -> Result<Standing, QueryError> {
    let terms = &scheme.terms;
    let (group, group_standing) = group_standing(query, &terms.scheme, enterprise, grants)?;
    let in_force = match on {
        Some(date) => scheme.terms_on(date),
        None => terms.clone(),
    };
    let budget_left = scheme.budget().saturating_sub(scheme.committed_cents);
    let mut out = Standing {
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
        if grant.status != GrantStatus::Closed {
            out.open_grant_count += 1;
        }
        out.committed_cents = sum(out.committed_cents, grant.committed());
        out.verified_spend_cents = sum(out.verified_spend_cents, grant.verified_spend_cents);
        out.net_eligible_spend_cents = sum(out.net_eligible_spend_cents, position.net_eligible_spend);
        out.reimbursable_cents = sum(out.reimbursable_cents, position.reimbursable);
        out.disbursed_cents = sum(out.disbursed_cents, position.net_disbursed);
        out.disbursable_now_cents = sum(out.disbursable_now_cents, position.disbursable_now);
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
    pub enterprises: Vec<Standing>,
}

fn scheme_view(model: SchemeModel, enterprises: Vec<Standing>) -> SchemeView {
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

fn grants_of(query: &Query, kind: Kind, id: &str) -> Result<Vec<GrantModel>, QueryError> {
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
    pub schemes: Vec<Standing>,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GrantView {
    #[serde(flatten)]
    pub model: GrantModel,
    pub net_disbursed_cents: Money,
    /// Where the grant stands (the core's `grant_position`): net eligible spend, what it reimburses,
    /// the schedule, the ceiling, what is disbursable now, overpaid, forfeited and undisbursed.
    pub position: GrantPosition,
    /// The government's share of net eligible spend at the scheme's ratio.
    pub reimbursable_cents: Money,
    pub disbursable_now_cents: Money,
    /// The approved grant less net disbursement and forfeited money.
    pub undisbursed_cents: Money,
    /// Every event of the grant, oldest first (up to the answer's `seq`).
    pub history: Vec<EventView>,
}

pub fn grant(query: &Query, id: &str) -> Result<GrantView, QueryError> {
    let model: GrantModel = query.require(Kind::Grant, id)?;
    let scheme: SchemeModel = query.require(Kind::Scheme, model.scheme.as_str())?;
    let position = model.position(&scheme.terms);
    let mut history = Vec::new();
    let mut after = 0;
    loop {
        let seqs = query.reader.indexed(Kind::Grant, id, after, query.seq, EVENTS_PAGE_MAX)?;
        let Some(&last) = seqs.last() else { break };
        for seq in seqs {
            history.push(event_at(query, seq)?);
        }
        after = last;
    }
    Ok(GrantView {
        net_disbursed_cents: position.net_disbursed,
        reimbursable_cents: position.reimbursable,
        disbursable_now_cents: position.disbursable_now,
        undisbursed_cents: position.undisbursed,
        position,
        model,
        history,
    })
}

// ---------------------------------------------------------------------------
// Events.

/// A record as readers want it: the envelope and the event, signatures left out
/// (`record` has the stored record whole).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventView {
    pub seq: u64,
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: String,
    pub recorded_at: String,
    /// The record hash, hex.
    pub hash: String,
    pub signers: Vec<String>,
    pub data: Value,
    /// The record exactly as stored in the stream (verifiable with the public keys).
    pub record: Value,
}

fn event_view(reader: &Reader, seq: u64, bytes: &[u8]) -> Result<EventView, QueryError> {
    let record: Value = serde_json::from_slice(bytes).map_err(|error| reader.corrupt(format!("record {seq}: {error}")))?;
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let body = &record["body"];
    Ok(EventView {
        seq,
        id: text(&body["id"]),
        event_type: text(&body["type"]),
        occurred_at: text(&body["occurred_at"]),
        recorded_at: text(&record["recorded_at"]),
        hash: text(&record["hash"]),
        signers: body["signers"].as_array().map(|signers| signers.iter().map(text).collect()).unwrap_or_default(),
        data: body["data"].clone(),
        record: record.clone(),
    })
}

fn event_at(query: &Query, seq: u64) -> Result<EventView, QueryError> {
    let bytes = query.reader.record(seq)?.ok_or_else(|| query.reader.corrupt(format!("record {seq} is indexed but not stored")))?;
    event_view(query.reader, seq, &bytes)
}

pub fn event(query: &Query, id: &str) -> Result<EventView, QueryError> {
    let not_found = || QueryError::NotFound { kind: "event", id: id.to_string(), as_of: query.as_of() };
    let seq = query.reader.seq_of_event(id)?.ok_or_else(not_found)?;
    if seq > query.seq {
        return Err(not_found());
    }
    event_at(query, seq)
}

/// Which events to list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventFilter {
    pub fund: Option<String>,
    pub subfund: Option<String>,
    pub scheme: Option<String>,
    pub grant: Option<String>,
    pub enterprise: Option<String>,
    /// Only events after this sequence (for paging: the previous page's `next_after`).
    pub after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventsPage {
    pub events: Vec<EventView>,
    /// Pass as `after` for the next page; null when this page is the last.
    pub next_after: Option<u64>,
}

pub fn events(query: &Query, filter: &EventFilter) -> Result<EventsPage, QueryError> {
    let limit = filter.limit.unwrap_or(EVENTS_PAGE_DEFAULT);
    if limit == 0 || limit > EVENTS_PAGE_MAX {
        return Err(QueryError::BadRequest(format!("limit must be 1 to {EVENTS_PAGE_MAX}, got {limit}")));
    }
    let after = filter.after.unwrap_or(0);
    let given: Vec<(&str, &String)> =
        [("fund", &filter.fund), ("subfund", &filter.subfund), ("scheme", &filter.scheme), ("grant", &filter.grant), ("enterprise", &filter.enterprise)]
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|value| (name, value)))
            .collect();
    if given.len() > 1 {
        return Err(QueryError::BadRequest("give at most one of fund, subfund, scheme, grant and enterprise".to_string()));
    }
    // Each entity's events are the union of its own index and its children's.
    let sources: Option<Vec<(Kind, String)>> = match given.first() {
        None => None,
        Some(("fund", id)) => {
            query.require::<FundModel>(Kind::Fund, id)?;
            let mut sources = vec![(Kind::Fund, id.to_string())];
            sources.extend(query.children(Kind::Fund, id, Kind::SubFund)?.into_iter().map(|child| (Kind::SubFund, child)));
            Some(sources)
        }
        Some(("subfund", id)) => {
            query.require::<SubFundModel>(Kind::SubFund, id)?;
            Some(vec![(Kind::SubFund, id.to_string())])
        }
        Some(("scheme", id)) => {
            query.require::<SchemeModel>(Kind::Scheme, id)?;
            let mut sources = vec![(Kind::Scheme, id.to_string())];
            sources.extend(query.children(Kind::Scheme, id, Kind::Grant)?.into_iter().map(|child| (Kind::Grant, child)));
            Some(sources)
        }
        Some(("grant", id)) => {
            query.require::<GrantModel>(Kind::Grant, id)?;
            Some(vec![(Kind::Grant, id.to_string())])
        }
        Some((_, id)) => {
            let grants = query.children(Kind::Enterprise, id, Kind::Grant)?;
            if grants.is_empty() {
                return Err(QueryError::NotFound { kind: "enterprise", id: id.to_string(), as_of: query.as_of() });
            }
            Some(grants.into_iter().map(|grant| (Kind::Grant, grant)).collect())
        }
    };
    let mut views = Vec::new();
    let more;
    match sources {
        None => {
            let records = query.reader.records(after, query.seq, limit + 1)?;
            more = records.len() > limit;
            for (seq, bytes) in records.into_iter().take(limit) {
                views.push(event_view(query.reader, seq, &bytes)?);
            }
        }
        Some(sources) => {
            let mut seqs = Vec::new();
            for (kind, id) in &sources {
                seqs.extend(query.reader.indexed(*kind, id, after, query.seq, limit + 1)?);
            }
            seqs.sort_unstable();
            seqs.dedup();
            more = seqs.len() > limit;
            for seq in seqs.into_iter().take(limit) {
                views.push(event_at(query, seq)?);
            }
        }
    }
    let next_after = if more { views.last().map(|view| view.seq) } else { None };
    Ok(EventsPage { events: views, next_after })
}

// ---------------------------------------------------------------------------
// Portfolio, status and reports.

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FundSummary {
    pub fund: FundId,
    pub name: String,
    pub capital_cents: Money,
    pub totals: Figures,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Portfolio {
    pub funds: Vec<FundSummary>,
    pub schemes: Vec<SchemeView>,
}

pub fn portfolio(query: &Query) -> Result<Portfolio, QueryError> {
    let mut funds = Vec::new();
    for id in query.directory(Kind::Fund)? {
        let view = fund(query, &id)?;
        funds.push(FundSummary { fund: view.fund, name: view.name, capital_cents: view.capital_cents, totals: view.totals });
    }
    Ok(Portfolio { funds, schemes: schemes(query)? })
}

pub fn funds(query: &Query) -> Result<Vec<FundSummary>, QueryError> {
    Ok(portfolio(query)?.funds)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Status {
    pub ledger: String,
    pub name: Option<String>,
    /// Records projected (the last applied sequence).
    pub records: u64,
    /// The hash of the last applied record, hex.
    pub head: String,
    pub funds: usize,
    pub subfunds: usize,
    pub schemes: usize,
    pub grants: usize,
    pub enterprises: usize,
}

pub fn status(query: &Query) -> Result<Status, QueryError> {
    let position = query.reader.position();
    let ledger: Option<LedgerModel> = query.version(Kind::Ledger, query.reader.ledger().as_str())?;
    Ok(Status {
        ledger: query.reader.ledger().to_string(),
        name: ledger.map(|ledger| ledger.name.to_string()),
        records: position.seq,
        head: hex::encode(position.hash),
        funds: query.directory(Kind::Fund)?.len(),
        subfunds: query.directory(Kind::SubFund)?.len(),
        schemes: query.directory(Kind::Scheme)?.len(),
        grants: query.directory(Kind::Grant)?.len(),
        enterprises: query.directory(Kind::Enterprise)?.len(),
    })
}

/// A calendar quarter, `2026Q1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quarter {
    pub year: i64,
    pub number: u32,
}

impl Quarter {
    pub fn parse(text: &str) -> Result<Quarter, QueryError> {
        let bad = || QueryError::BadRequest(format!("quarter {text:?} must look like 2026Q1 (Q1 to Q4)"));
        let (year, number) = text.split_once(['Q', 'q']).ok_or_else(bad)?;
        let year: i64 = year.trim_end_matches('-').parse().map_err(|_| bad())?;
        let number: u32 = number.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&number) || !(1970..=9999).contains(&year) {
            return Err(bad());
        }
        Ok(Quarter { year, number })
    }
    /// Days since the epoch of its first and last day.
    pub fn days(self) -> (i64, i64) {
        let first_month = 3 * (self.number - 1) + 1;
        let start = days_from_civil(self.year, first_month, 1);
        let end = if self.number == 4 { days_from_civil(self.year + 1, 1, 1) } else { days_from_civil(self.year, first_month + 3, 1) } - 1;
        (start, end)
    }
    pub fn label(self) -> String {
        format!("{}Q{}", self.year, self.number)
    }
}

fn date_of(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubFundQuarter {
    pub fund: FundId,
    pub subfund: SubFundId,
    pub name: String,
    pub theme: String,
    pub general_partner: String,
    /// Commitments dated in the quarter.
    pub government_committed_in_quarter_cents: Money,
    pub market_committed_in_quarter_cents: Money,
    pub called_in_quarter_cents: Money,
    pub fees_in_quarter_cents: Money,
    pub distributed_in_quarter_cents: Money,
    /// Cumulative to the quarter's end (by the events' dates).
    pub government_committed_cents: Money,
    pub market_committed_cents: Money,
    pub paid_in_cents: Money,
    pub distributed_cents: Money,
    /// The latest NAV dated on or before the quarter's end.
    pub nav_cents: Option<Money>,
    pub nav_as_of: Option<Date>,
    pub dpi: Ratio,
    pub rvpi: Ratio,
    pub tvpi: Ratio,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SchemeQuarter {
    pub scheme: SchemeId,
    pub name: String,
    pub budget_cents: Money,
    pub approved_in_quarter_cents: Money,
    pub grants_approved_in_quarter: u32,
    pub disbursed_in_quarter_cents: Money,
    pub clawed_back_in_quarter_cents: Money,
    /// Cumulative to the quarter's end (by the events' dates).
    pub approved_cents: Money,
    pub disbursed_cents: Money,
    /// Net disbursed / approved to the quarter's end.
    pub utilisation: Share,
    /// Approved to the quarter's end / budget.
    pub budget_used: Share,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuarterlyReport {
    pub quarter: String,
    pub from: String,
    pub to: String,
    pub subfunds: Vec<SubFundQuarter>,
    pub schemes: Vec<SchemeQuarter>,
}

/// The NAV dated on or before `end_day`: walks the sub-fund's versions back from the answer's `seq`.
fn nav_at(query: &Query, model: &SubFundModel, end_day: i64) -> Result<Option<(Money, Date)>, QueryError> {
    let mut current = Some((query.seq, model.clone()));
    for _ in 0..REPORT_NAV_VERSIONS_MAX {
        let Some((seq, version)) = current else { return Ok(None) };
        match (&version.nav_cents, &version.nav_as_of) {
            (Some(nav), Some(as_of)) if as_of.days_since_epoch() <= end_day => return Ok(Some((*nav, as_of.clone()))),
            (None, _) | (_, None) => return Ok(None),
            _ => {}
        }
        let previous = version.seq.min(seq).checked_sub(1);
        current = match previous {
            Some(previous) => query.reader.version::<SubFundModel>(Kind::SubFund, model.subfund.as_str(), previous)?,
            None => None,
        };
    }
    Err(QueryError::BadRequest(format!(
        "sub-fund {} has more than {REPORT_NAV_VERSIONS_MAX} versions after the quarter; ask for an earlier as_of",
        model.subfund
    )))
}

pub fn quarterly_report(query: &Query, quarter: Quarter) -> Result<QuarterlyReport, QueryError> {
    let (start, end) = quarter.days();
    let mut subfunds = Vec::new();
    for subfund_id in query.directory(Kind::SubFund)? {
        let model: SubFundModel = query.require(Kind::SubFund, &subfund_id)?;
        let mut row = SubFundQuarter {
            fund: model.fund.clone(),
            subfund: model.subfund.clone(),
            name: model.name.to_string(),
            theme: model.theme.to_string(),
            general_partner: model.general_partner.to_string(),
            government_committed_in_quarter_cents: Money::ZERO,
            market_committed_in_quarter_cents: Money::ZERO,
            called_in_quarter_cents: Money::ZERO,
            fees_in_quarter_cents: Money::ZERO,
            distributed_in_quarter_cents: Money::ZERO,
            government_committed_cents: Money::ZERO,
            market_committed_cents: Money::ZERO,
            paid_in_cents: Money::ZERO,
            distributed_cents: Money::ZERO,
            nav_cents: None,
            nav_as_of: None,
            dpi: Ratio::new(0, 0),
            rvpi: Ratio::new(0, 0),
            tvpi: Ratio::new(0, 0),
        };
        for flow in query.reader.flows(Kind::SubFund, &subfund_id, query.seq)? {
            let day = flow.occurred_at.days_since_epoch();
            if day > end {
                continue;
            }
            let inside = day >= start;
            let amount = flow.amount_cents;
            let (in_quarter, cumulative) = match flow.kind {
                FlowKind::GovernmentCommitment => (&mut row.government_committed_in_quarter_cents, &mut row.government_committed_cents),
                FlowKind::MarketCommitment => (&mut row.market_committed_in_quarter_cents, &mut row.market_committed_cents),
                FlowKind::CapitalCall => (&mut row.called_in_quarter_cents, &mut row.paid_in_cents),
                FlowKind::Fee => (&mut row.fees_in_quarter_cents, &mut row.paid_in_cents),
                FlowKind::Distribution => (&mut row.distributed_in_quarter_cents, &mut row.distributed_cents),
                _ => continue,
            };
            if inside {
                *in_quarter = sum(*in_quarter, amount);
            }
            *cumulative = sum(*cumulative, amount);
        }
        if let Some((nav, as_of)) = nav_at(query, &model, end)? {
            row.nav_cents = Some(nav);
            row.nav_as_of = Some(as_of);
        }
        let nav = row.nav_cents.unwrap_or(Money::ZERO);
        row.dpi = Ratio::of(row.distributed_cents, row.paid_in_cents);
        row.rvpi = Ratio::of(nav, row.paid_in_cents);
        row.tvpi = Ratio::of(sum(row.distributed_cents, nav), row.paid_in_cents);
        subfunds.push(row);
    }
    let mut schemes = Vec::new();
    for scheme_id in query.directory(Kind::Scheme)? {
        let model: SchemeModel = query.require(Kind::Scheme, &scheme_id)?;
        let mut row = SchemeQuarter {
            scheme: model.terms.scheme.clone(),
            name: model.terms.name.to_string(),
            budget_cents: model.terms.budget_cents,
            approved_in_quarter_cents: Money::ZERO,
            grants_approved_in_quarter: 0,
            disbursed_in_quarter_cents: Money::ZERO,
            clawed_back_in_quarter_cents: Money::ZERO,
            approved_cents: Money::ZERO,
            disbursed_cents: Money::ZERO,
            utilisation: Share::of(Money::ZERO, Money::ZERO),
            budget_used: Share::of(Money::ZERO, Money::ZERO),
        };
        for flow in query.reader.flows(Kind::Scheme, &scheme_id, query.seq)? {
            let day = flow.occurred_at.days_since_epoch();
            if day > end {
                continue;
            }
            let inside = day >= start;
            let amount = flow.amount_cents;
            match flow.kind {
                FlowKind::GrantApproval => {
                    row.approved_cents = sum(row.approved_cents, amount);
                    if inside {
                        row.approved_in_quarter_cents = sum(row.approved_in_quarter_cents, amount);
                        row.grants_approved_in_quarter += 1;
                    }
                }
                FlowKind::Disbursement => {
                    row.disbursed_cents = sum(row.disbursed_cents, amount);
                    if inside {
                        row.disbursed_in_quarter_cents = sum(row.disbursed_in_quarter_cents, amount);
                    }
                }
                FlowKind::Clawback => {
                    row.disbursed_cents = row.disbursed_cents.saturating_sub(amount);
                    if inside {
                        row.clawed_back_in_quarter_cents = sum(row.clawed_back_in_quarter_cents, amount);
                    }
                }
                _ => {}
            }
        }
        row.utilisation = Share::of(row.disbursed_cents, row.approved_cents);
        row.budget_used = Share::of(row.approved_cents, row.budget_cents);
        schemes.push(row);
    }
    Ok(QuarterlyReport { quarter: quarter.label(), from: date_of(start), to: date_of(end), subfunds, schemes })
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The report as CSV: one table per section, amounts in cents.
pub fn report_csv(report: &QuarterlyReport) -> String {
    let mut out = String::new();
    out.push_str("section,quarter,fund,subfund,name,theme,general_partner,government_committed_in_quarter_cents,market_committed_in_quarter_cents,called_in_quarter_cents,fees_in_quarter_cents,distributed_in_quarter_cents,government_committed_cents,market_committed_cents,paid_in_cents,distributed_cents,nav_cents,nav_as_of,dpi,rvpi,tvpi\n");
    for row in &report.subfunds {
        let fields = [
            "subfund".to_string(),
            report.quarter.clone(),
            row.fund.to_string(),
            row.subfund.to_string(),
            row.name.clone(),
            row.theme.clone(),
            row.general_partner.clone(),
            row.government_committed_in_quarter_cents.cents().to_string(),
            row.market_committed_in_quarter_cents.cents().to_string(),
            row.called_in_quarter_cents.cents().to_string(),
            row.fees_in_quarter_cents.cents().to_string(),
            row.distributed_in_quarter_cents.cents().to_string(),
            row.government_committed_cents.cents().to_string(),
            row.market_committed_cents.cents().to_string(),
            row.paid_in_cents.cents().to_string(),
            row.distributed_cents.cents().to_string(),
            row.nav_cents.map(|nav| nav.cents().to_string()).unwrap_or_default(),
            row.nav_as_of.as_ref().map(|date| date.to_string()).unwrap_or_default(),
            row.dpi.decimal.clone().unwrap_or_default(),
            row.rvpi.decimal.clone().unwrap_or_default(),
            row.tvpi.decimal.clone().unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|field| csv_field(field)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str("section,quarter,scheme,name,budget_cents,approved_in_quarter_cents,grants_approved_in_quarter,disbursed_in_quarter_cents,clawed_back_in_quarter_cents,approved_cents,disbursed_cents,utilisation_bps,budget_used_bps\n");
    for row in &report.schemes {
        let fields = [
            "scheme".to_string(),
            report.quarter.clone(),
            row.scheme.to_string(),
            row.name.clone(),
            row.budget_cents.cents().to_string(),
            row.approved_in_quarter_cents.cents().to_string(),
            row.grants_approved_in_quarter.to_string(),
            row.disbursed_in_quarter_cents.cents().to_string(),
            row.clawed_back_in_quarter_cents.cents().to_string(),
            row.approved_cents.cents().to_string(),
            row.disbursed_cents.cents().to_string(),
            row.utilisation.bps.map(|bps| bps.to_string()).unwrap_or_default(),
            row.budget_used.bps.map(|bps| bps.to_string()).unwrap_or_default(),
        ];
        out.push_str(&fields.iter().map(|field| csv_field(field)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters() {
        let q = Quarter::parse("2026Q1").unwrap();
        assert_eq!((date_of(q.days().0), date_of(q.days().1)), ("2026-01-01".to_string(), "2026-03-31".to_string()));
        let q4 = Quarter::parse("2025-Q4").unwrap();
        assert_eq!(date_of(q4.days().1), "2025-12-31");
        assert!(Quarter::parse("2026Q5").is_err());
        assert!(Quarter::parse("Q1").is_err());
    }

    #[test]
    fn compliance_shows_the_cores_figure() {
        let shown = Compliance::from(core::Compliance::at_most(Money::hkd(25), Money::hkd(100), 2500));
        assert_eq!((shown.met, shown.bound.as_str(), shown.share.bps), (Some(true), "max", Some(2500)));
        let shown = Compliance::from(core::Compliance::at_least(Money::ZERO, Money::ZERO, 5000));
        assert_eq!((shown.met, shown.bound.as_str()), (None, "min"));
    }
}
