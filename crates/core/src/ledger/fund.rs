//! Rules of the I&T Industry-Oriented Fund: a government fund of funds that
//! commits, as the last LP, to sub-funds run by market GPs.
//!
//! The limits are the fund's own terms (`fund.established`), e.g. for the
//! ITIF: at most HK$1bn and at most 25% of a sub-fund's committed size from
//! the government, sub-funds of at least HK$2bn, HK$10bn in all. The
//! government invests last: with `subfund_committed_size_min_cents` in the
//! terms it commits only once the sub-fund's actual commitments, its own
//! included, reach the minimum size. The 50% Hong Kong share and the 25%
//! production-base spend are measured against the sub-fund's size and
//! reported (`figures.rs`), not enforced per event: they are targets over the
//! investment period. Investing in non-I&T enterprises is refused outright.

use super::access::check_dual_control_rules;
use super::{add, not_found, positive, Change, Fund, Investment, Ledger, Rule, SubFund, Violation};
use crate::event::{
    Distributed, DualControlKind, EventBody, FundEstablished, GovernmentCommitted, Invested, MarketCommitted, NavReported, ProductionSpendReported,
    SubFundAdmitted, WrittenOff, BASIS_POINTS_ONE, THEMES_MAX,
};
use crate::id::SubFundId;
use crate::money::Money;

pub(super) use crate::money::percent;

fn bps(value: u32) -> String {
    format!("{}.{:02}%", value / 100, value % 100)
}

impl Ledger {
    fn subfund(&self, id: &SubFundId) -> Result<&SubFund, Violation> {
        self.subfunds.get(id).ok_or_else(|| not_found("sub-fund", id))
    }

    pub(super) fn decide_fund_established(&self, data: &FundEstablished) -> Result<Change, Violation> {
        if self.funds.contains_key(&data.fund) {
            return Err(Violation::new(Rule::AlreadyExists, format!("fund {} already exists", data.fund)));
        }
        let invalid = |message: String| Err(Violation::new(Rule::InvalidParameter, message));
        for (name, value) in [
            ("government_share_max_bps", data.government_share_max_bps),
            ("hk_enterprise_share_min_bps", data.hk_enterprise_share_min_bps),
            ("hk_production_spend_min_bps", data.hk_production_spend_min_bps),
        ] {
            if value > BASIS_POINTS_ONE {
                return invalid(format!("{name} is {value}, above {BASIS_POINTS_ONE} (100%)"));
            }
        }
        positive(data.government_capital_cents, "government capital")?;
        positive(data.government_commitment_per_subfund_max_cents, "per-sub-fund commitment cap")?;
        if data.themes.is_empty() || data.themes.len() > THEMES_MAX {
            return invalid(format!("a fund needs 1 to {THEMES_MAX} themes, got {}", data.themes.len()));
        }
        for (index, theme) in data.themes.iter().enumerate() {
            if data.themes[..index].iter().any(|earlier| earlier.id == theme.id) {
                return invalid(format!("theme {} is listed twice", theme.id));
            }
        }
        check_dual_control_rules(&data.dual_control, true)?;
        let fund = Fund { terms: data.clone(), government_committed: Money::ZERO, subfund_count: 0 };
        Ok(Change { fund: Some((data.fund.clone(), fund)), ..Change::default() })
    }

    pub(super) fn decide_subfund_admitted(&self, data: &SubFundAdmitted) -> Result<Change, Violation> {
        let fund = self.funds.get(&data.fund).ok_or_else(|| not_found("fund", &data.fund))?;
        if self.subfunds.contains_key(&data.subfund) {
            return Err(Violation::new(Rule::AlreadyExists, format!("sub-fund {} already exists", data.subfund)));
        }
        if !fund.terms.themes.iter().any(|theme| theme.id == data.theme) {
            let themes: Vec<&str> = fund.terms.themes.iter().map(|theme| theme.id.as_str()).collect();
            return Err(Violation::new(Rule::ThemeUnknown, format!("theme {} is not a theme of fund {} ({})", data.theme, data.fund, themes.join(", "))));
        }
        if let Some(period) = &data.investment_period {
            if period.ends < period.starts {
                return Err(Violation::new(Rule::InvalidParameter, format!("the investment period {period} ends before it starts")));
            }
        }
        let minimum = fund.terms.subfund_target_size_min_cents;
        if data.target_size_cents < minimum {
            return Err(Violation::new(
                Rule::SubFundTargetSizeMin,
                format!("sub-fund target size {} is below the fund's minimum of {minimum}", data.target_size_cents),
            ));
        }
        let subfund = SubFund {
            terms: data.clone(),
            market_committed: Money::ZERO,
            government_committed: Money::ZERO,
            called: Money::ZERO,
            fees: Money::ZERO,
            distributed: Money::ZERO,
            recallable_distributed: Money::ZERO,
            nav: None,
            invested: Money::ZERO,
            invested_hk: Money::ZERO,
            written_off: Money::ZERO,
            production_spend: Money::ZERO,
            investment_count: 0,
            production_spend_in_period: Money::ZERO,
        };
        let mut fund = fund.clone();
        fund.subfund_count += 1;
        Ok(Change { fund: Some((data.fund.clone(), fund)), subfund: Some((data.subfund.clone(), subfund)), ..Change::default() })
    }

    pub(super) fn decide_market_committed(&self, data: &MarketCommitted) -> Result<Change, Violation> {
        let subfund = self.subfund(&data.subfund)?;
        positive(data.amount_cents, "a market commitment")?;
        let mut subfund = subfund.clone();
        subfund.market_committed = add(subfund.market_committed, data.amount_cents, "market commitments")?;
        add(subfund.market_committed, subfund.government_committed, "committed size")?;
        Ok(Change { subfund: Some((data.subfund.clone(), subfund)), ..Change::default() })
    }

    pub(super) fn decide_government_committed(&self, data: &GovernmentCommitted, body: &EventBody) -> Result<Change, Violation> {
        let subfund = self.subfund(&data.subfund)?;
        let fund = &self.funds[&subfund.terms.fund];
        positive(data.amount_cents, "a government commitment")?;
        Self::dual_control_for(body, data.amount_cents, None, &fund.terms.dual_control, DualControlKind::GovernmentCommitment)?;
        let government = add(subfund.government_committed, data.amount_cents, "government commitment")?;
        let cap = fund.terms.government_commitment_per_subfund_max_cents;
        if government > cap {
            return Err(Violation::new(
                Rule::GovernmentCommitmentCap,
                format!(
                    "government commitment {government} to sub-fund {} exceeds the {cap} per-sub-fund cap{}",
                    data.subfund,
                    if subfund.government_committed.is_zero() { String::new() } else { format!(" ({} already committed)", subfund.government_committed) }
                ),
            ));
        }
        let size = add(government, subfund.market_committed, "committed size")?;
        let share_max = fund.terms.government_share_max_bps;
        // government / size <= share_max / 10000, exactly, in 128 bits.
        if government.cents() as u128 * BASIS_POINTS_ONE as u128 > share_max as u128 * size.cents() as u128 {
            return Err(Violation::new(
                Rule::GovernmentShareMax,
                format!(
                    "government commitment {government} would be {} of sub-fund {}'s committed size {size} (market {}), above the {} maximum",
                    percent(government, size),
                    data.subfund,
                    subfund.market_committed,
                    bps(share_max)
                ),
            ));
        }
        Self::check_committed_size_min(fund, subfund, &data.subfund, size)?;
        let fund_total = add(fund.government_committed, data.amount_cents, "fund commitments")?;
        let capital = fund.terms.government_capital_cents;
        if fund_total > capital {
            return Err(Violation::new(
                Rule::FundCapital,
                format!("government commitments of fund {} would total {fund_total}, above its government capital of {capital}", subfund.terms.fund),
            ));
        }
        let mut fund = fund.clone();
        fund.government_committed = fund_total;
        let mut subfund = subfund.clone();
        subfund.government_committed = government;
        Ok(Change { fund: Some((subfund.terms.fund.clone(), fund)), subfund: Some((data.subfund.clone(), subfund)), ..Change::default() })
    }

    /// The government invests last: the sub-fund's committed size with this
    /// commitment must reach the fund's minimum size (when the terms set one).
    fn check_committed_size_min(fund: &Fund, subfund: &SubFund, id: &SubFundId, size: Money) -> Result<(), Violation> {
        let Some(minimum) = fund.terms.subfund_committed_size_min_cents else {
            return Ok(());
        };
        if size < minimum {
            return Err(Violation::new(
                Rule::SubFundCommittedSizeMin,
                format!(
                    "sub-fund {id}'s committed size with this commitment would be {size} (market {}), below the minimum size of {minimum}: the government commits last",
                    subfund.market_committed
                ),
            ));
        }
        Ok(())
    }

    /// A capital call or a management fee: both are paid in from the uncalled commitment.
    pub(super) fn decide_contribution(&self, id: &SubFundId, amount: Money, is_fee: bool, body: &EventBody) -> Result<Change, Violation> {
        let subfund = self.subfund(id)?;
        let what = if is_fee { "a management fee" } else { "a capital call" };
        positive(amount, what)?;
        let fund = &self.funds[&subfund.terms.fund];
        let kind = if is_fee { DualControlKind::Fee } else { DualControlKind::CapitalCall };
        Self::dual_control_for(body, amount, Some(fund.terms.dual_control_threshold_cents), &fund.terms.dual_control, kind)?;
        // Paid-in capital itself must stay representable: overflow is refused, never saturated.
        let paid_in = add(subfund.paid_in(), amount, "paid-in capital")?;
        let uncalled = subfund.uncalled();
        if amount > uncalled {
            return Err(Violation::new(
                Rule::UncalledCommitment,
                format!(
                    "{what} of {amount} to sub-fund {id} exceeds the uncalled commitment of {uncalled} (commitment {}, recallable distributions {}, paid in {})",
                    subfund.government_committed,
                    subfund.recallable_distributed,
                    subfund.paid_in()
                ),
            ));
        }
        let mut subfund = subfund.clone();
        if is_fee {
            subfund.fees = add(subfund.fees, amount, "fees")?;
        } else {
            subfund.called = add(subfund.called, amount, "calls")?;
        }
        debug_assert_eq!(subfund.paid_in(), paid_in);
        debug_assert!(paid_in.cents() <= subfund.government_committed.cents() + subfund.recallable_distributed.cents());
        Ok(Change { subfund: Some((id.clone(), subfund)), ..Change::default() })
    }

    pub(super) fn decide_distributed(&self, data: &Distributed) -> Result<Change, Violation> {
        let subfund = self.subfund(&data.subfund)?;
        positive(data.amount_cents, "a distribution")?;
        let mut subfund = subfund.clone();
        subfund.distributed = add(subfund.distributed, data.amount_cents, "distributions")?;
        if data.recallable {
            let recallable = add(subfund.recallable_distributed, data.amount_cents, "recallable distributions")?;
            let paid_in = subfund.paid_in();
            if recallable > paid_in {
                return Err(Violation::new(
                    Rule::RecallableDistribution,
                    format!("recallable distributions from sub-fund {} would total {recallable}, above its paid-in capital of {paid_in}", data.subfund),
                ));
            }
            subfund.recallable_distributed = recallable;
        }
        Ok(Change { subfund: Some((data.subfund.clone(), subfund)), ..Change::default() })
    }

    pub(super) fn decide_nav_reported(&self, data: &NavReported) -> Result<Change, Violation> {
        let subfund = self.subfund(&data.subfund)?;
        if let Some((latest, _)) = &subfund.nav {
            if data.as_of < *latest {
                return Err(Violation::new(
                    Rule::NavDateOrder,
                    format!("NAV of sub-fund {} as of {} is older than the latest NAV, as of {latest}", data.subfund, data.as_of),
                ));
            }
        }
        let mut subfund = subfund.clone();
        subfund.nav = Some((data.as_of.clone(), data.nav_cents));
        Ok(Change { subfund: Some((data.subfund.clone(), subfund)), ..Change::default() })
    }

    pub(super) fn decide_invested(&self, data: &Invested, body: &EventBody) -> Result<Change, Violation> {
        let subfund = self.subfund(&data.subfund)?;
        let fund = &self.funds[&subfund.terms.fund];
        Self::dual_control_for(body, data.amount_cents, None, &fund.terms.dual_control, DualControlKind::Investment)?;
        if self.investments.contains_key(&data.investment) {
            return Err(Violation::new(Rule::AlreadyExists, format!("investment {} already exists", data.investment)));
        }
        positive(data.amount_cents, "an investment")?;
        if !data.innovation_technology {
            return Err(Violation::new(
                Rule::InnovationTechnologyOnly,
                format!("sub-fund {} may invest only in I&T / new-industrialisation enterprises; {} is not one", data.subfund, data.investee),
            ));
        }
        let invested = add(subfund.invested, data.amount_cents, "investments")?;
        let size = subfund.committed_size();
        if invested > size {
            return Err(Violation::new(
                Rule::InvestmentCapacity,
                format!("investments of sub-fund {} would total {invested}, above its committed capital of {size}", data.subfund),
            ));
        }
        let mut subfund = subfund.clone();
        subfund.invested = invested;
        if data.hk_enterprise {
            subfund.invested_hk = add(subfund.invested_hk, data.amount_cents, "HK investments")?;
        }
        subfund.investment_count += 1;
        let investment = Investment {
            subfund: data.subfund.clone(),
            investee: data.investee.clone(),
            cost: data.amount_cents,
            written_off: Money::ZERO,
            hk_enterprise: data.hk_enterprise,
            production_spend: Money::ZERO,
        };
        Ok(Change { subfund: Some((data.subfund.clone(), subfund)), investment: Some((data.investment.clone(), investment)), ..Change::default() })
    }

    fn investment_of(&self, subfund: &SubFundId, id: &crate::id::InvestmentId) -> Result<&Investment, Violation> {
        let investment = self.investments.get(id).ok_or_else(|| not_found("investment", id))?;
        if investment.subfund != *subfund {
            return Err(Violation::new(Rule::InvestmentSubFund, format!("investment {id} belongs to sub-fund {}, not {subfund}", investment.subfund)));
        }
        Ok(investment)
    }

    pub(super) fn decide_written_off(&self, data: &WrittenOff) -> Result<Change, Violation> {
        let subfund = self.subfund(&data.subfund)?;
        let investment = self.investment_of(&data.subfund, &data.investment)?;
        positive(data.amount_cents, "a write-off")?;
        let written_off = add(investment.written_off, data.amount_cents, "write-offs")?;
        if written_off > investment.cost {
            return Err(Violation::new(
                Rule::WriteOffCost,
                format!(
                    "write-offs of investment {} would total {written_off}, above its cost of {} ({} already written off)",
                    data.investment, investment.cost, investment.written_off
                ),
            ));
        }
        let mut investment = investment.clone();
        investment.written_off = written_off;
        let mut subfund = subfund.clone();
        subfund.written_off = add(subfund.written_off, data.amount_cents, "write-offs")?;
        Ok(Change { subfund: Some((data.subfund.clone(), subfund)), investment: Some((data.investment.clone(), investment)), ..Change::default() })
    }

    pub(super) fn decide_production_spend(&self, data: &ProductionSpendReported) -> Result<Change, Violation> {
        let subfund = self.subfund(&data.subfund)?;
        let investment = self.investment_of(&data.subfund, &data.investment)?;
        positive(data.amount_cents, "production spend")?;
        let in_period = Self::production_spend_in_period(subfund, data)?;
        let mut investment = investment.clone();
        investment.production_spend = add(investment.production_spend, data.amount_cents, "production spend")?;
        let mut subfund = subfund.clone();
        subfund.production_spend = add(subfund.production_spend, data.amount_cents, "production spend")?;
        if in_period {
            subfund.production_spend_in_period = add(subfund.production_spend_in_period, data.amount_cents, "production spend")?;
        }
        Ok(Change { subfund: Some((data.subfund.clone(), subfund)), investment: Some((data.investment.clone(), investment)), ..Change::default() })
    }

    /// Whether production spend counts towards the HK production-base figure:
    /// spent within the investment period, or always when the sub-fund has none.
    fn production_spend_in_period(subfund: &SubFund, data: &ProductionSpendReported) -> Result<bool, Violation> {
        let Some(period) = &subfund.terms.investment_period else {
            return Ok(true);
        };
        match &data.spent_on {
            Some(date) => Ok(period.contains(date)),
            None => Err(Violation::new(
                Rule::ProductionSpendDate,
                format!("sub-fund {} has an investment period ({period}), so production spend must say when it was spent (spent_on)", data.subfund),
            )),
        }
    }
}
