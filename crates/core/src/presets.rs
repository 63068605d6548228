//! The real programmes' terms as data (DESIGN.md section 2, with sources):
//! the I&T Industry-Oriented Fund and the three matching-grant schemes. The
//! rules read these figures from events, never from code, so these presets
//! are only convenient starting points for the CLI, the demo and the tests.

use crate::event::{FundEstablished, SchemeEstablished, Text, Theme};
use crate::id::{FundId, SchemeId, ThemeId};
use crate::money::Money;

fn text(value: &str) -> Text {
    Text::parse(value).unwrap_or_else(|error| panic!("preset text {value:?}: {error}"))
}

/// The five themes of the I&T Industry-Oriented Fund.
pub const ITIF_THEMES: [(&str, &str); 5] = [
    ("life-health", "Life and health technology"),
    ("ai-robotics", "Artificial intelligence and robotics"),
    ("semiconductors", "Semiconductors and smart devices"),
    ("digitalisation", "Digitalisation and upgrading"),
    ("future-sustainable", "Future and sustainable development"),
];

/// The I&T Industry-Oriented Fund (source: itf.gov.hk; news.gov.hk 2025-11-13):
/// HK$10bn, at most HK$1bn and 25% per sub-fund, sub-funds of at least HK$2bn,
/// 50% into Hong Kong enterprises, 25% of fund size on HK production bases.
pub fn itif(fund: &str) -> FundEstablished {
    FundEstablished {
        fund: FundId::parse(fund).unwrap_or_else(|error| panic!("{error}")),
        name: text("I&T Industry-Oriented Fund"),
        government_capital_cents: Money::hkd(10_000_000_000),
        themes: ITIF_THEMES
            .iter()
            .map(|(id, name)| Theme { id: ThemeId::parse(id).unwrap_or_else(|error| panic!("{error}")), name: text(name) })
            .collect(),
        government_commitment_per_subfund_max_cents: Money::hkd(1_000_000_000),
        government_share_max_bps: 2_500,
        subfund_target_size_min_cents: Money::hkd(2_000_000_000),
        hk_enterprise_share_min_bps: 5_000,
        hk_production_spend_min_bps: 2_500,
        dual_control_threshold_cents: Money::hkd(100_000_000),
    }
}

/// A 1:2 matching-grant scheme with a budget and no caps: the base the
/// presets (and tests of new schemes) add their limits to.
pub fn matching_scheme(id: &str, name: &str, budget: Money) -> SchemeEstablished {
    SchemeEstablished {
        scheme: SchemeId::parse(id).unwrap_or_else(|error| panic!("{error}")),
        name: text(name),
        budget_cents: budget,
        government_ratio: 1,
        enterprise_ratio: 2,
        project_grant_max_cents: None,
        enterprise_grant_max_cents: None,
        project_cost_min_cents: None,
        enterprise_contribution_min_cents: None,
        projects_per_enterprise_max: None,
        concurrent_projects_per_enterprise_max: None,
        project_duration_months_max: None,
        paid_on_completion: false,
        dual_control_threshold_cents: Money::hkd(10_000_000),
    }
}

/// Manufacturing and Production Line Upgrade Support Pilot Scheme:
/// HK$100M, 1:2, at most HK$250,000 per enterprise.
pub fn pilot_scheme(id: &str) -> SchemeEstablished {
    SchemeEstablished {
        enterprise_grant_max_cents: Some(Money::hkd(250_000)),
        ..matching_scheme(id, "Manufacturing and Production Line Upgrade Support Pilot Scheme", Money::hkd(100_000_000))
    }
}

/// New Industrialisation Funding Scheme: 1:2, the lower of 1/3 of the
/// approved cost or HK$15M per project, up to 3 concurrent projects and
/// HK$45M per enterprise, paid on completion. Its budget is part of the ITF;
/// the figure here is an allocation for the ledger to police.
pub fn nifs_scheme(id: &str, budget: Money) -> SchemeEstablished {
    SchemeEstablished {
        project_grant_max_cents: Some(Money::hkd(15_000_000)),
        enterprise_grant_max_cents: Some(Money::hkd(45_000_000)),
        concurrent_projects_per_enterprise_max: Some(3),
        paid_on_completion: true,
        ..matching_scheme(id, "New Industrialisation Funding Scheme", budget)
    }
}

/// New Industrialisation Acceleration Scheme: HK$10bn, 1:2, the lower of 1/3
/// of approved cost or HK$200M; project cost at least HK$150M with at least
/// HK$100M from the enterprise; at most 2 projects and HK$200M per
/// enterprise; normally within 36 months.
pub fn nias_scheme(id: &str) -> SchemeEstablished {
    SchemeEstablished {
        project_grant_max_cents: Some(Money::hkd(200_000_000)),
        enterprise_grant_max_cents: Some(Money::hkd(200_000_000)),
        project_cost_min_cents: Some(Money::hkd(150_000_000)),
        enterprise_contribution_min_cents: Some(Money::hkd(100_000_000)),
        projects_per_enterprise_max: Some(2),
        project_duration_months_max: Some(36),
        ..matching_scheme(id, "New Industrialisation Acceleration Scheme", Money::hkd(10_000_000_000))
    }
}
