//! The quarterly report: each sub-fund's and scheme's flows in a calendar
//! quarter and cumulative to its end, by the events' dates (CSV form:
//! [`super::report_csv`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use fundledger_core::id::{FundId, SchemeId, SubFundId};
use fundledger_core::money::Money;
use fundledger_core::time::{civil_from_days, days_from_civil, Date};

use super::{add, Query, QueryError};
use crate::keys::Kind;
use crate::model::{FlowKind, SchemeModel, SubFundModel};
use crate::performance::{Multiple, Share};

/// Versions a report walks back to find the NAV as of a quarter's end, at most.
pub const REPORT_NAV_VERSIONS_MAX: usize = 100_000;

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

pub(super) fn date_of(days: i64) -> String {
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
    pub dpi: Multiple,
    pub rvpi: Multiple,
    pub tvpi: Multiple,
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
            dpi: Multiple::new(0, 0),
            rvpi: Multiple::new(0, 0),
            tvpi: Multiple::new(0, 0),
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
                *in_quarter = add(*in_quarter, amount, "flows in the quarter")?;
            }
            *cumulative = add(*cumulative, amount, "flows to the quarter's end")?;
        }
        if let Some((nav, as_of)) = nav_at(query, &model, end)? {
            row.nav_cents = Some(nav);
            row.nav_as_of = Some(as_of);
        }
        let nav = row.nav_cents.unwrap_or(Money::ZERO);
        row.dpi = Multiple::of(row.distributed_cents, row.paid_in_cents);
        row.rvpi = Multiple::of(nav, row.paid_in_cents);
        row.tvpi = Multiple::of(add(row.distributed_cents, nav, "distributions plus NAV")?, row.paid_in_cents);
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
                    row.approved_cents = add(row.approved_cents, amount, "approved grants")?;
                    if inside {
                        row.approved_in_quarter_cents = add(row.approved_in_quarter_cents, amount, "approved grants in the quarter")?;
                        row.grants_approved_in_quarter += 1;
                    }
                }
                FlowKind::Disbursement => {
                    row.disbursed_cents = add(row.disbursed_cents, amount, "disbursements")?;
                    if inside {
                        row.disbursed_in_quarter_cents = add(row.disbursed_in_quarter_cents, amount, "disbursements in the quarter")?;
                    }
                }
                FlowKind::Clawback => {
                    // Floored at zero: flows are summed by the actors' dates, which the rules do not
                    // order, so a clawback may be dated before the disbursement it returns.
                    row.disbursed_cents = row.disbursed_cents.saturating_sub(amount);
                    if inside {
                        row.clawed_back_in_quarter_cents = add(row.clawed_back_in_quarter_cents, amount, "clawbacks in the quarter")?;
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
}
