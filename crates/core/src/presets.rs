//! The real programmes' terms as data (DESIGN.md section 2, with sources):
//! the I&T Industry-Oriented Fund and the three matching-grant schemes. The
//! rules read these figures from events, never from code, so these presets
//! are only convenient starting points for the CLI, the demo and the tests.
//!
//! Sources (read 2026-12-06; where they are silent the choice is said here):
//!
//! * ITIF: itf.gov.hk ITIF page and news.gov.hk 2025-11-13 (via DESIGN.md 2):
//!   HK$10bn; five themes; sub-funds of at least HK$2bn, all together at
//!   least HK$40bn; the government invests last, at most HK$1bn and 25% of a
//!   sub-fund; at least 50% of each sub-fund's size into Hong Kong
//!   enterprises, at least 25% of it spent by investees on HK production
//!   bases within the investment period. The HK$40bn aim is also quoted by
//!   the Under Secretary for Innovation, Technology and Industry,
//!   https://english.dotdotnews.com/a/202502/15/AP67b048c6e4b079cd3fc69bbe.html
//!   ("expanding the investment scale from HK$10 billion to HK$40 billion";
//!   "half of the fund's investments must be directed towards Hong Kong
//!   enterprises").
//! * NIFS: https://www.smelink.gov.hk/en/web/sme-portal/w/re-industrialisation-funding-scheme.html
//!   (1:2; the lower of one third of the approved project cost or HK$15M per
//!   project; "Project Duration: Normally within 24 months") and
//!   https://www.news.gov.hk/eng/2020/07/20200727/20200727_150305_976.html
//!   ("disbursed upon completion of the project"; open all year, so no
//!   window). The enhancement of 8 January 2024 (2023 Policy Address):
//!   "applicants can handle up to three projects at once, with a total
//!   funding limit of $45m" (hongkongbusiness.hk report of the ITC
//!   announcement): the HK$45M is read as a ceiling across the projects held
//!   at any one time (concurrent basis), not a lifetime cap.
//! * NIAS: the ITC announcement of 2025-11-18, reported at
//!   http://tvnet.hk/index.php/art/detail/id/1577.html (2025-11-19): the
//!   minimum project cost falls from HK$300M to HK$150M, with at least
//!   HK$100M from the enterprise (HK$200M before); applications all year.
//!   The per-project and per-enterprise HK$200M, at most 2 projects and
//!   "normally within 36 months" are from the itf.gov.hk NIAS page (DESIGN.md 2).
//!   The change is recorded as an amendment effective 2025-11-18
//!   ([`nias_amendment_2025_11_18`]), so grants approved before it keep the old terms.
//! * Pilot Scheme (Manufacturing and Production Line Upgrade Support Pilot
//!   Scheme): 2025-26 Budget (HK$100M; 1:2; up to HK$250,000 per
//!   enterprise), launched with the NIAS change (tvnet.hk, above: for
//!   eligible enterprises operating production lines in Hong Kong). DESIGN.md
//!   2 says a two-year pilot for enterprises whose production line has
//!   operated in Hong Kong for at least a year: chosen here as an
//!   application window of 2025-11-18 to 2027-11-17 and the attestation
//!   [`ATTESTATION_HK_PRODUCTION_LINE_1Y`].
//!
//! Choices where the sources are silent: dual control for approvals and
//! government commitments at the same thresholds as the disbursements and
//! calls they precede (HK$10M for NIFS and NIAS approvals, HK$100M for ITIF
//! commitments); the pilot's approvals stay single-signed (at most HK$250,000).

use crate::event::{
    Attestation, CapBasis, DualControlKind, DualControlRule, EvidenceDigest, FundEstablished, Period, SchemeAmended, SchemeEstablished, Text, Theme,
};
use crate::id::{AttestationCode, FundId, SchemeId, ThemeId};
use crate::money::Money;
use crate::time::Date;

fn text(value: &str) -> Text {
    Text::parse(value).unwrap_or_else(|error| panic!("preset text {value:?}: {error}"))
}

fn date(value: &str) -> Date {
    Date::parse(value).unwrap_or_else(|error| panic!("preset date {value:?}: {error}"))
}

fn scheme_id(id: &str) -> SchemeId {
    SchemeId::parse(id).unwrap_or_else(|error| panic!("{error}"))
}

/// The five themes of the I&T Industry-Oriented Fund.
pub const ITIF_THEMES: [(&str, &str); 5] = [
    ("life-health", "Life and health technology"),
    ("ai-robotics", "Artificial intelligence and robotics"),
    ("semiconductors", "Semiconductors and smart devices"),
    ("digitalisation", "Digitalisation and upgrading"),
    ("future-sustainable", "Future and sustainable development"),
];

/// The attestation the Pilot Scheme requires: a production line operating in
/// Hong Kong for at least a year.
pub const ATTESTATION_HK_PRODUCTION_LINE_1Y: &str = "hk-production-line-1y";

/// ITIF: dual control for government commitments at or above this.
const ITIF_COMMITMENT_DUAL_CONTROL: Money = Money::hkd(100_000_000);
/// NIFS and NIAS: dual control for approvals and disbursements at or above this.
const SCHEME_DUAL_CONTROL: Money = Money::hkd(10_000_000);

/// The I&T Industry-Oriented Fund (source: itf.gov.hk; news.gov.hk 2025-11-13):
/// HK$10bn, at most HK$1bn and 25% per sub-fund, sub-funds of at least HK$2bn
/// (the government committing only once a sub-fund's commitments reach it),
/// HK$40bn across sub-funds, 50% of each sub-fund's size into Hong Kong
/// enterprises, 25% of it on HK production bases.
pub fn itif(fund: &str) -> FundEstablished {
    FundEstablished {
        fund: FundId::parse(fund).unwrap_or_else(|error| panic!("{error}")),
        name: text("I&T Industry-Oriented Fund"),
        government_capital_cents: Money::hkd(10_000_000_000),
        themes: ITIF_THEMES.iter().map(|(id, name)| Theme { id: ThemeId::parse(id).unwrap_or_else(|error| panic!("{error}")), name: text(name) }).collect(),
        government_commitment_per_subfund_max_cents: Money::hkd(1_000_000_000),
        government_share_max_bps: 2_500,
        subfund_target_size_min_cents: Money::hkd(2_000_000_000),
        hk_enterprise_share_min_bps: 5_000,
        hk_production_spend_min_bps: 2_500,
        dual_control_threshold_cents: Money::hkd(100_000_000),
        subfund_committed_size_min_cents: Some(Money::hkd(2_000_000_000)),
        programme_size_min_cents: Some(Money::hkd(40_000_000_000)),
        dual_control: vec![DualControlRule { kind: DualControlKind::GovernmentCommitment, threshold_cents: ITIF_COMMITMENT_DUAL_CONTROL }],
    }
}

/// The ITIF's terms as the ledger recorded them before issue 19 (no minimum
/// committed size, no programme size, no dual control for commitments): what
/// older records carry, and a base for tests of the rules it already had.
pub fn itif_v1(fund: &str) -> FundEstablished {
    FundEstablished { subfund_committed_size_min_cents: None, programme_size_min_cents: None, dual_control: Vec::new(), ..itif(fund) }
}

/// A 1:2 matching-grant scheme with a budget and no caps: the base the
/// presets (and tests of new schemes) add their limits to.
pub fn matching_scheme(id: &str, name: &str, budget: Money) -> SchemeEstablished {
    SchemeEstablished {
        scheme: scheme_id(id),
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
        dual_control_threshold_cents: SCHEME_DUAL_CONTROL,
        enterprise_cap_basis: None,
        application_window: None,
        payment_schedule: None,
        required_attestations: Vec::new(),
        dual_control: Vec::new(),
    }
}

/// Manufacturing and Production Line Upgrade Support Pilot Scheme:
/// HK$100M, 1:2, at most HK$250,000 per enterprise, a two-year application
/// window from 2025-11-18, and an attestation (with evidence) that the
/// enterprise's production line has operated in Hong Kong for at least a year.
pub fn pilot_scheme(id: &str) -> SchemeEstablished {
    SchemeEstablished {
        enterprise_grant_max_cents: Some(Money::hkd(250_000)),
        enterprise_cap_basis: Some(CapBasis::Lifetime),
        application_window: Some(Period { starts: date("2025-11-18"), ends: date("2027-11-17") }),
        required_attestations: vec![AttestationCode::parse(ATTESTATION_HK_PRODUCTION_LINE_1Y).unwrap_or_else(|error| panic!("{error}"))],
        ..matching_scheme(id, "Manufacturing and Production Line Upgrade Support Pilot Scheme", Money::hkd(100_000_000))
    }
}

/// The Pilot Scheme's attestation, with the digest of its evidence.
pub fn hk_production_line_attestation(evidence: EvidenceDigest) -> Attestation {
    Attestation { code: AttestationCode::parse(ATTESTATION_HK_PRODUCTION_LINE_1Y).unwrap_or_else(|error| panic!("{error}")), evidence_sha256: evidence }
}

/// New Industrialisation Funding Scheme: 1:2, the lower of 1/3 of the
/// approved cost or HK$15M per project, up to 3 projects at any one time with
/// HK$45M across them (concurrent), normally within 24 months, paid on
/// completion. Its budget is part of the ITF; the figure here is an
/// allocation for the ledger to police.
pub fn nifs_scheme(id: &str, budget: Money) -> SchemeEstablished {
    SchemeEstablished {
        project_grant_max_cents: Some(Money::hkd(15_000_000)),
        enterprise_grant_max_cents: Some(Money::hkd(45_000_000)),
        enterprise_cap_basis: Some(CapBasis::Concurrent),
        concurrent_projects_per_enterprise_max: Some(3),
        project_duration_months_max: Some(24),
        paid_on_completion: true,
        dual_control: vec![DualControlRule { kind: DualControlKind::GrantApproval, threshold_cents: SCHEME_DUAL_CONTROL }],
        ..matching_scheme(id, "New Industrialisation Funding Scheme", budget)
    }
}

/// New Industrialisation Acceleration Scheme as launched: HK$10bn, 1:2, the
/// lower of 1/3 of approved cost or HK$200M; project cost at least HK$300M
/// with at least HK$200M from the enterprise; at most 2 projects and HK$200M
/// per enterprise; normally within 36 months. Record
/// [`nias_amendment_2025_11_18`] after it for the current thresholds.
pub fn nias_scheme(id: &str) -> SchemeEstablished {
    SchemeEstablished {
        project_grant_max_cents: Some(Money::hkd(200_000_000)),
        enterprise_grant_max_cents: Some(Money::hkd(200_000_000)),
        enterprise_cap_basis: Some(CapBasis::Lifetime),
        project_cost_min_cents: Some(Money::hkd(300_000_000)),
        enterprise_contribution_min_cents: Some(Money::hkd(200_000_000)),
        projects_per_enterprise_max: Some(2),
        project_duration_months_max: Some(36),
        dual_control: vec![DualControlRule { kind: DualControlKind::GrantApproval, threshold_cents: SCHEME_DUAL_CONTROL }],
        ..matching_scheme(id, "New Industrialisation Acceleration Scheme", Money::hkd(10_000_000_000))
    }
}

/// NIAS from 2025-11-18: project cost at least HK$150M, at least HK$100M
/// from the enterprise (ITC announcement; tvnet.hk 2025-11-19).
pub fn nias_amendment_2025_11_18(id: &str) -> SchemeAmended {
    SchemeAmended {
        project_cost_min_cents: Some(Money::hkd(150_000_000)),
        enterprise_contribution_min_cents: Some(Money::hkd(100_000_000)),
        ..SchemeAmended::new(
            scheme_id(id),
            date("2025-11-18"),
            text("ITC, 18 November 2025: NIAS minimum project cost lowered from HK$300M to HK$150M, enterprise contribution from HK$200M to HK$100M"),
        )
    }
}
