//! Fund performance from integer cents (ILPA / GIPS conventions): the
//! multiples DPI, RVPI and TVPI, shares, and since-inception IRR. (Service
//! metrics, the Prometheus kind, are `fundledger_metrics`'.)
//!
//! PIC is the sum of contributions (capital calls and management fees);
//! DPI = distributions / PIC, RVPI = NAV / PIC, TVPI = (distributions + NAV) / PIC.
//! The ratios are kept exact, as a numerator and a denominator of cents, and
//! rounded only for display (half up, to two decimals: 1.4166..x is 1.42x).
//! Since-inception IRR is solved from dated cash flows (contributions
//! negative, distributions positive, the latest NAV as a terminal inflow),
//! annualised on an actual/365 day count as spreadsheets' XIRR does. An IRR is
//! a rate, not money, so it is a float; its inputs are integer cents.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use fundledger_core::money::Money;

/// An exact multiple of two amounts, e.g. DPI = distributions / paid-in
/// (served under the schema name `Ratio`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Ratio")]
pub struct Multiple {
    pub numerator_cents: u64,
    pub denominator_cents: u64,
    /// The value rounded half up to 4 decimals, e.g. `"0.7500"`; null when the denominator is zero.
    pub decimal: Option<String>,
    /// For people: rounded half up to 2 decimals with an `x`, e.g. `"0.75x"`, or `"n/a"`.
    pub display: String,
}

/// `numerator * 10^places / denominator`, rounded half up, in 128 bits.
fn scaled(numerator: u128, denominator: u128, places: u32) -> u128 {
    debug_assert!(denominator > 0);
    let scale = 10u128.pow(places);
    (numerator * scale * 2 + denominator) / (denominator * 2)
}

fn fixed(value: u128, places: u32) -> String {
    let scale = 10u128.pow(places);
    format!("{}.{:0width$}", value / scale, value % scale, width = places as usize)
}

impl Multiple {
    pub fn new(numerator_cents: u64, denominator_cents: u64) -> Multiple {
        if denominator_cents == 0 {
            return Multiple { numerator_cents, denominator_cents, decimal: None, display: "n/a".to_string() };
        }
        let (numerator, denominator) = (numerator_cents as u128, denominator_cents as u128);
        Multiple {
            numerator_cents,
            denominator_cents,
            decimal: Some(fixed(scaled(numerator, denominator, 4), 4)),
            display: format!("{}x", fixed(scaled(numerator, denominator, 2), 2)),
        }
    }

    pub fn of(numerator: Money, denominator: Money) -> Multiple {
        Multiple::new(numerator.cents(), denominator.cents())
    }
}

/// A share in basis points, exact: `part * 10000 / whole`, rounded down, and whether it meets a bound.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Share {
    pub part_cents: u64,
    pub whole_cents: u64,
    /// `part / whole` in basis points (10000 = 100%), rounded down; null when `whole` is zero.
    pub bps: Option<u64>,
    /// For people, e.g. `"25.00%"` or `"n/a"`.
    pub display: String,
}

impl Share {
    pub fn of(part: Money, whole: Money) -> Share {
        let bps = (!whole.is_zero()).then(|| (part.cents() as u128 * 10_000 / whole.cents() as u128) as u64);
        Share { part_cents: part.cents(), whole_cents: whole.cents(), bps, display: fundledger_core::money::percent(part, whole) }
    }
}

/// The multiples of a position: paid-in capital, distributions and NAV.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Multiples {
    pub paid_in_cents: Money,
    pub distributed_cents: Money,
    pub nav_cents: Money,
    pub dpi: Multiple,
    pub rvpi: Multiple,
    pub tvpi: Multiple,
}

/// DPI, RVPI and TVPI of a position; `None` only if distributions + NAV overflow.
pub fn multiples(paid_in: Money, distributed: Money, nav: Money) -> Option<Multiples> {
    let total_value = distributed.checked_add(nav).ok()?;
    Some(Multiples {
        paid_in_cents: paid_in,
        distributed_cents: distributed,
        nav_cents: nav,
        dpi: Multiple::of(distributed, paid_in),
        rvpi: Multiple::of(nav, paid_in),
        tvpi: Multiple::of(total_value, paid_in),
    })
}

/// One dated cash flow from the investor's side: negative out (contributions), positive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CashFlow {
    /// Days since 1970-01-01.
    pub day: i64,
    pub cents: i128,
}

/// A since-inception IRR, annualised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Irr {
    /// The annual rate as a fraction (0.1307 = 13.07% a year); null when it is undefined
    /// (no contribution, no inflow, or no rate solves it).
    pub rate: Option<f64>,
    /// For people, e.g. `"13.07%"` or `"n/a"`.
    pub display: String,
    /// The number of dated cash flows it was solved from (terminal NAVs included).
    pub cash_flows: usize,
}

/// Lowest rate searched: -99.99% a year.
const IRR_RATE_MIN: f64 = -0.9999;
/// Highest rate searched: a millionfold a year.
const IRR_RATE_MAX: f64 = 1.0e6;
/// Bisection steps at most (each halves the bracket).
const IRR_ITERATIONS_MAX: u32 = 400;
/// Stop when the bracket is narrower than this.
const IRR_TOLERANCE: f64 = 1.0e-12;

/// Net present value at `rate` of flows dated in years after the first.
fn npv(rate: f64, flows: &[(f64, f64)]) -> f64 {
    let base = 1.0 + rate;
    flows.iter().map(|&(years, amount)| amount / base.powf(years)).sum()
}

/// Solves `NPV(rate) = 0` for dated flows (actual/365, like XIRR) by bisection,
/// which cannot diverge. Flows need not be sorted.
pub fn irr(flows: &[CashFlow]) -> Irr {
    let undefined = |count| Irr { rate: None, display: "n/a".to_string(), cash_flows: count };
    let has_out = flows.iter().any(|flow| flow.cents < 0);
    let has_in = flows.iter().any(|flow| flow.cents > 0);
    if !has_out || !has_in {
        return undefined(flows.len());
    }
    let first = flows.iter().map(|flow| flow.day).min().unwrap_or(0);
    let dated: Vec<(f64, f64)> = flows.iter().map(|flow| ((flow.day - first) as f64 / 365.0, flow.cents as f64)).collect();
    let (mut low, mut high) = (IRR_RATE_MIN, IRR_RATE_MAX);
    let (mut value_low, value_high) = (npv(low, &dated), npv(high, &dated));
    if !value_low.is_finite() || !value_high.is_finite() || value_low.signum() == value_high.signum() {
        return undefined(flows.len());
    }
    for _ in 0..IRR_ITERATIONS_MAX {
        let middle = low + (high - low) / 2.0;
        let value = npv(middle, &dated);
        if value == 0.0 || (high - low) < IRR_TOLERANCE {
            low = middle;
            high = middle;
            break;
        }
        if value.signum() == value_low.signum() {
            low = middle;
            value_low = value;
        } else {
            high = middle;
        }
    }
    let rate = low + (high - low) / 2.0;
    Irr { rate: Some(rate), display: format!("{:.2}%", rate * 100.0), cash_flows: flows.len() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundledger_core::time::days_from_civil;

    #[test]
    fn ilpa_worked_check() {
        // DESIGN.md: commitment 800, PIC 720, distributions 540, NAV 480.
        let metrics = multiples(Money::hkd(720), Money::hkd(540), Money::hkd(480)).unwrap();
        assert_eq!(metrics.dpi.display, "0.75x");
        assert_eq!(metrics.rvpi.display, "0.67x");
        assert_eq!(metrics.tvpi.display, "1.42x");
        assert_eq!(metrics.dpi.decimal.as_deref(), Some("0.7500"));
        assert_eq!(metrics.rvpi.decimal.as_deref(), Some("0.6667"));
        assert_eq!(metrics.tvpi.decimal.as_deref(), Some("1.4167"));
        assert_eq!((metrics.tvpi.numerator_cents, metrics.tvpi.denominator_cents), (102_000, 72_000));
    }

    #[test]
    fn multiples_are_exact_and_round_half_up() {
        assert_eq!(Multiple::new(1, 8).display, "0.13x"); // 0.125 rounds up
        assert_eq!(Multiple::new(1, 3).decimal.as_deref(), Some("0.3333"));
        assert_eq!(Multiple::new(2, 3).display, "0.67x");
        assert_eq!(Multiple::new(5, 0).display, "n/a");
        assert_eq!(Multiple::new(5, 0).decimal, None);
        let huge = Multiple::new(Money::MAX.cents(), 1);
        assert_eq!(huge.display, format!("{}.00x", Money::MAX.cents()));
        assert_eq!(Share::of(Money::hkd(1), Money::hkd(4)).bps, Some(2500));
        assert_eq!(Share::of(Money::hkd(1), Money::ZERO).display, "n/a");
    }

    fn day(year: i64, month: u32, day: u32) -> i64 {
        days_from_civil(year, month, day)
    }

    #[test]
    fn irr_of_one_year_at_ten_percent() {
        let flows = [CashFlow { day: day(2021, 1, 1), cents: -100_000 }, CashFlow { day: day(2022, 1, 1), cents: 110_000 }];
        let rate = irr(&flows).rate.unwrap();
        assert!((rate - 0.10).abs() < 1e-9, "{rate}");
        assert_eq!(irr(&flows).display, "10.00%");
    }

    #[test]
    fn irr_of_two_inflows_matches_the_closed_form() {
        // -100, +60 after one year, +60 after two: 60x^2 + 60x - 100 = 0 with x = 1/(1+r),
        // x = (-60 + sqrt(60^2 + 4*60*100)) / 120 = 0.884437..., r = 13.066%.
        let flows = [
            CashFlow { day: day(2021, 1, 1), cents: -10_000 },
            CashFlow { day: day(2022, 1, 1), cents: 6_000 },
            CashFlow { day: day(2023, 1, 1), cents: 6_000 },
        ];
        let x = (-60.0 + (3600.0f64 + 24_000.0).sqrt()) / 120.0;
        let expected = 1.0 / x - 1.0;
        let rate = irr(&flows).rate.unwrap();
        assert!((rate - expected).abs() < 1e-9, "{rate} vs {expected}");
        assert_eq!(irr(&flows).display, "13.07%");
    }

    #[test]
    fn irr_with_a_loss_and_undefined_cases() {
        let loss = [CashFlow { day: day(2021, 1, 1), cents: -100 }, CashFlow { day: day(2022, 1, 1), cents: 50 }];
        assert!((irr(&loss).rate.unwrap() + 0.5).abs() < 1e-9);
        assert_eq!(irr(&[CashFlow { day: 0, cents: -5 }]).rate, None);
        assert_eq!(irr(&[CashFlow { day: 0, cents: 5 }]).rate, None);
        assert_eq!(irr(&[]).display, "n/a");
    }
}
