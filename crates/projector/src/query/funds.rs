//! A fund and its sub-funds: the government's position, performance and
//! compliance figures, summed in exact cents from the sub-funds' versions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use fundledger_core::event::{FundEstablished, Theme};
use fundledger_core::id::FundId;
use fundledger_core::ledger::{self as core, ProgrammeSize};
use fundledger_core::money::Money;

use super::{add, Query, QueryError};
use crate::keys::Kind;
use crate::model::{FlowKind, FundModel, InvestmentModel, SubFundModel};
use crate::performance::{irr, multiples, CashFlow, Irr, Multiples, Share};

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
    /// Adds one sub-fund; fails, rather than showing a wrong total, when a sum exceeds the largest amount.
    fn add(&mut self, model: &SubFundModel, flows: &[CashFlow]) -> Result<(), QueryError> {
        self.subfunds += 1;
        self.target = add(self.target, model.target_size_cents, "target sizes")?;
        self.market = add(self.market, model.market_committed_cents, "market commitments")?;
        self.committed = add(self.committed, model.government_committed_cents, "government commitments")?;
        self.called = add(self.called, model.called_cents, "calls")?;
        self.fees = add(self.fees, model.fees_cents, "fees")?;
        self.paid_in = add(self.paid_in, model.paid_in_cents, "paid-in capital")?;
        self.uncalled = add(self.uncalled, model.uncalled(), "uncalled commitments")?;
        self.distributed = add(self.distributed, model.distributed_cents, "distributions")?;
        self.recallable = add(self.recallable, model.recallable_distributed_cents, "recallable distributions")?;
        self.nav = add(self.nav, model.nav_cents.unwrap_or(Money::ZERO), "NAVs")?;
        self.invested = add(self.invested, model.invested_cents, "investments")?;
        self.invested_hk = add(self.invested_hk, model.invested_hk_cents, "HK investments")?;
        self.written_off = add(self.written_off, model.written_off_cents, "write-offs")?;
        self.production = add(self.production, model.production_spend_cents, "production spend")?;
        self.flows.extend_from_slice(flows);
        Ok(())
    }

    fn figures(&self) -> Result<Figures, QueryError> {
        let multiples = multiples(self.paid_in, self.distributed, self.nav)
            .ok_or_else(|| QueryError::Overflow(format!("distributions {} plus NAV {} exceed the largest amount", self.distributed, self.nav)))?;
        Ok(Figures {
            subfunds: self.subfunds,
            target_size_cents: self.target,
            market_committed_cents: self.market,
            committed_cents: self.committed,
            committed_size_cents: add(self.market, self.committed, "committed sizes")?,
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
        })
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
        committed_size = add(committed_size, committed_size_of(&subfund)?, "committed sizes")?;
        let flows = cash_flows(query, &subfund)?;
        totals.add(&subfund, &flows)?;
        themes.entry(subfund.theme.to_string()).or_default().add(&subfund, &flows)?;
        gps.entry(subfund.general_partner.to_string()).or_default().add(&subfund, &flows)?;
        let mut single = Accumulator::default();
        single.add(&subfund, &flows)?;
        lines.push(Line { key: subfund.subfund.to_string(), name: subfund.name.to_string(), figures: single.figures()? });
    }
    let theme_name = |theme: &str| model.terms.themes.iter().find(|candidate: &&Theme| candidate.id.as_str() == theme).map(|theme| theme.name.to_string());
    let by_theme = model
        .terms
        .themes
        .iter()
        .map(|theme| {
            let figures = themes.get(theme.id.as_str()).map(Accumulator::figures).unwrap_or_else(|| Accumulator::default().figures())?;
            Ok(Line { key: theme.id.to_string(), name: theme.name.to_string(), figures })
        })
        .chain(
            themes
                .iter()
                .filter(|(theme, _)| theme_name(theme).is_none())
                .map(|(theme, totals)| Ok(Line { key: theme.clone(), name: theme.clone(), figures: totals.figures()? })),
        )
        .collect::<Result<_, QueryError>>()?;
    let by_gp = gps.iter().map(|(gp, totals)| Ok(Line { key: gp.clone(), name: gp.clone(), figures: totals.figures()? })).collect::<Result<_, QueryError>>()?;
    let figures = totals.figures()?;
    Ok(FundView {
        fund: model.terms.fund.clone(),
        name: model.terms.name.to_string(),
        capital_cents: model.terms.government_capital_cents,
        // For display: capital not yet committed, floored at zero (the core keeps commitments within the capital).
        uncommitted_capital_cents: model.terms.government_capital_cents.saturating_sub(figures.committed_cents),
        terms: model.terms.clone(),
        totals: figures,
        by_theme,
        by_subfund: lines,
        by_gp,
        programme_size: core::programme_size(&model.terms, committed_size),
    })
}

/// A compliance figure as served: the core's `Compliance`, with its share for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Compliance")]
pub struct ComplianceView {
    pub share: Share,
    /// The bound in basis points (10000 = 100%).
    pub bound_bps: u32,
    /// `max` (the share must not exceed the bound) or `min` (it must reach it).
    pub bound: String,
    /// Whether the bound holds now; null when there is nothing to measure yet.
    pub met: Option<bool>,
}

impl From<core::Compliance> for ComplianceView {
    fn from(figure: core::Compliance) -> ComplianceView {
        ComplianceView { share: Share::of(figure.part, figure.whole), bound_bps: figure.bound_bps, bound: figure.bound.as_str().to_string(), met: figure.met }
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
    pub government_share: ComplianceView,
    /// The fund's cap on the government's commitment to one sub-fund.
    pub government_commitment_max_cents: Money,
    /// Investment into Hong Kong enterprises / the sub-fund's committed size, at least the fund's minimum (50%).
    pub hk_enterprise_share: ComplianceView,
    /// Investees' spend on HK production bases within the investment period / the sub-fund's committed size, at least the fund's minimum (25%).
    pub hk_production_spend: ComplianceView,
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
    single.add(&model, &flows)?;
    let size = committed_size_of(&model)?;
    let mut investments = Vec::new();
    for investment in query.children(Kind::SubFund, id, Kind::Investment)? {
        investments.push(query.require::<InvestmentModel>(Kind::Investment, &investment)?);
    }
    let compliance = core::subfund_compliance(terms, &model.figures());
    Ok(SubFundView {
        theme_name: terms.themes.iter().find(|theme| theme.id == model.theme).map(|theme| theme.name.to_string()),
        committed_size_cents: size,
        uncalled_cents: model.uncalled(),
        figures: single.figures()?,
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

/// A sub-fund's committed size; the projection refuses a record that makes it overflow, so an error here means the read models disagree with it.
fn committed_size_of(model: &SubFundModel) -> Result<Money, QueryError> {
    model.committed_size().map_err(|_| QueryError::Overflow(format!("sub-fund {}: committed size overflows", model.subfund)))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FundSummary {
    pub fund: FundId,
    pub name: String,
    pub capital_cents: Money,
    pub totals: Figures,
}

/// Every fund's totals.
pub fn funds(query: &Query) -> Result<Vec<FundSummary>, QueryError> {
    let mut funds = Vec::new();
    for id in query.directory(Kind::Fund)? {
        let view = fund(query, &id)?;
        funds.push(FundSummary { fund: view.fund, name: view.name, capital_cents: view.capital_cents, totals: view.totals });
    }
    Ok(funds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_shows_the_cores_figure() {
        let shown = ComplianceView::from(core::Compliance::at_most(Money::hkd(25), Money::hkd(100), 2500));
        assert_eq!((shown.met, shown.bound.as_str(), shown.share.bps), (Some(true), "max", Some(2500)));
        let shown = ComplianceView::from(core::Compliance::at_least(Money::ZERO, Money::ZERO, 5000));
        assert_eq!((shown.met, shown.bound.as_str()), (None, "min"));
    }

    #[test]
    fn fund_totals_that_exceed_the_largest_amount_fail_instead_of_saturating() {
        let mut totals = Accumulator::default();
        let mut model = subfund_with_nav(Money::MAX);
        totals.add(&model, &[]).unwrap();
        model.nav_cents = Some(Money::from_cents(1).unwrap());
        let error = totals.add(&model, &[]).unwrap_err();
        assert!(matches!(&error, QueryError::Overflow(message) if message.contains("NAVs")), "{error}");
    }

    fn subfund_with_nav(nav: Money) -> SubFundModel {
        use fundledger_core::event::Text;
        use fundledger_core::time::Timestamp;
        SubFundModel {
            subfund: "sf-1".parse().unwrap(),
            fund: "itif".parse().unwrap(),
            name: Text::parse("Sub-fund").unwrap(),
            theme: "ai".parse().unwrap(),
            general_partner: Text::parse("GP").unwrap(),
            target_size_cents: Money::ZERO,
            market_committed_cents: Money::ZERO,
            market_commitments: 0,
            government_committed_cents: Money::ZERO,
            called_cents: Money::ZERO,
            fees_cents: Money::ZERO,
            paid_in_cents: Money::ZERO,
            distributed_cents: Money::ZERO,
            recallable_distributed_cents: Money::ZERO,
            nav_cents: Some(nav),
            nav_as_of: None,
            invested_cents: Money::ZERO,
            invested_hk_cents: Money::ZERO,
            written_off_cents: Money::ZERO,
            production_spend_cents: Money::ZERO,
            investment_period: None,
            production_spend_in_period_cents: Money::ZERO,
            investment_count: 0,
            admitted_seq: 1,
            admitted_at: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            seq: 1,
            events: 1,
        }
    }
}
