//! The event catalogue: every fact the ledger can record, as the actor signs it.
//!
//! An event body is `{v, id, ledger, type, data, occurred_at, signers}`. Its
//! wire form is a permanent, versioned contract (docs/FORMAT.md, schemas/):
//! unknown fields and unknown types are refused, money is integer cents, and
//! a change of meaning is a new `type` or a new `v`, never an edit.
//!
//! Scheme and fund parameters (ratios, caps, budgets) are data carried by
//! `fund.established` and `scheme.established`, so a new scheme needs no code.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::crypto::{Hash, KeyId};
use crate::id::{AttestationCode, EnterpriseId, EventId, FundId, GrantId, InvestmentId, LedgerId, SchemeId, SubFundId, ThemeId};
use crate::money::Money;
use crate::time::{Date, Timestamp};

/// The version of the event body format this code writes and reads.
pub const EVENT_FORMAT_VERSION: u32 = 1;
/// Free text (names, reasons, references): 1 to this many characters.
pub const TEXT_LENGTH_MAX: usize = 512;
/// Signers on one event.
pub const SIGNERS_MAX: usize = 8;
/// Themes of one fund.
pub const THEMES_MAX: usize = 32;
/// Basis points in one whole (100%).
pub const BASIS_POINTS_ONE: u32 = 10_000;
/// Dual-control rules in one fund's or scheme's terms.
pub const DUAL_CONTROL_RULES_MAX: usize = 16;
/// Attestations a scheme may require, and an approval may carry.
pub const ATTESTATIONS_MAX: usize = 16;
/// Milestone instalments in one payment schedule.
pub const MILESTONES_MAX: usize = 24;
/// Enterprises named in one association event.
pub const ASSOCIATED_ENTERPRISES_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    #[error("event body is not valid: {0}")]
    Body(String),
    #[error("unknown event type {0:?}; see schemas/ for the catalogue")]
    UnknownType(String),
    #[error("data of a {event_type} event is not valid: {message}")]
    Data { event_type: &'static str, message: String },
    #[error("event format version {0} is not supported (this build reads version {EVENT_FORMAT_VERSION})")]
    Version(u32),
    #[error("event has {0} signers; 1 to {SIGNERS_MAX} are required")]
    SignerCount(usize),
    #[error("signer {0} is listed twice")]
    DuplicateSigner(KeyId),
}

/// Free text that people read: names, reasons, references.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Text(#[schemars(length(min = 1, max = 512))] String);

impl Text {
    pub fn parse(text: &str) -> Result<Text, String> {
        let characters = text.chars().count();
        if characters == 0 || characters > TEXT_LENGTH_MAX {
            return Err(format!("text must be 1 to {TEXT_LENGTH_MAX} characters, got {characters}"));
        }
        if text.chars().any(char::is_control) {
            return Err("text may not contain control characters".to_string());
        }
        Ok(Text(text.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for Text {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Text::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A SHA-256 digest of a piece of evidence (an invoice, audited accounts):
/// the document is anchored, never stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EvidenceDigest(pub Hash);

impl fmt::Display for EvidenceDigest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&hex::encode(self.0))
    }
}

impl Serialize for EvidenceDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(self.0))
    }
}
impl<'de> Deserialize<'de> for EvidenceDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        crate::crypto::hash_from_hex("evidence sha256", &text).map(EvidenceDigest).map_err(serde::de::Error::custom)
    }
}
impl JsonSchema for EvidenceDigest {
    fn schema_name() -> String {
        "EvidenceDigest".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject { instance_type: Some(schemars::schema::InstanceType::String.into()), ..Default::default() };
        schema.string().pattern = Some("^[0-9a-f]{64}$".to_string());
        schema.metadata().description = Some("SHA-256 of the evidence document, lowercase hex.".to_string());
        schema.into()
    }
}

/// What a key may sign. Roles are granted for a [`Scope`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Ledger administration: keys, roles, establishing funds and schemes. Ledger scope only.
    Admin,
    /// Records sub-fund events (commitments, calls, distributions, NAV, investments, fees) in its funds.
    FundManager,
    /// Records grant events (approvals, verified spend, disbursements, clawbacks, closures) in its schemes.
    GrantOfficer,
    /// Reads everything through the query API (docs/QUERYING.md); signs no event. Ledger scope only.
    Auditor,
    /// Reads everything, for reporting services that build their own views; signs no event. Ledger scope only.
    Reporting,
}

impl Role {
    /// Roles that exist only for the whole ledger.
    pub fn is_ledger_wide(self) -> bool {
        matches!(self, Role::Admin | Role::Auditor | Role::Reporting)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Role::Admin => "admin",
            Role::FundManager => "fund_manager",
            Role::GrantOfficer => "grant_officer",
            Role::Auditor => "auditor",
            Role::Reporting => "reporting",
        })
    }
}

/// Where a role applies: the whole ledger, one fund, or one scheme.
/// Wire form: `ledger`, `fund:<fund id>`, `scheme:<scheme id>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Ledger,
    Fund(FundId),
    Scheme(SchemeId),
}

impl Scope {
    pub fn parse(text: &str) -> Result<Scope, String> {
        if text == "ledger" {
            return Ok(Scope::Ledger);
        }
        match text.split_once(':') {
            Some(("fund", id)) => FundId::parse(id).map(Scope::Fund).map_err(|e| e.to_string()),
            Some(("scheme", id)) => SchemeId::parse(id).map(Scope::Scheme).map_err(|e| e.to_string()),
            _ => Err(format!("scope {text:?} must be \"ledger\", \"fund:<id>\" or \"scheme:<id>\"")),
        }
    }
}
impl fmt::Display for Scope {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Ledger => formatter.write_str("ledger"),
            Scope::Fund(fund) => write!(formatter, "fund:{fund}"),
            Scope::Scheme(scheme) => write!(formatter, "scheme:{scheme}"),
        }
    }
}
impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Scope::parse(text)
    }
}
impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Scope::parse(&text).map_err(serde::de::Error::custom)
    }
}
impl JsonSchema for Scope {
    fn schema_name() -> String {
        "Scope".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject { instance_type: Some(schemars::schema::InstanceType::String.into()), ..Default::default() };
        schema.string().pattern = Some("^(ledger|fund:[a-z0-9][a-z0-9_-]{0,63}|scheme:[a-z0-9][a-z0-9_-]{0,63})$".to_string());
        schema.into()
    }
}

// ---------------------------------------------------------------------------
// Ledger administration.

/// The first record of every ledger: names it and its operator, whose key
/// becomes the first admin and signs checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerGenesis {
    pub name: Text,
    pub operator: KeyId,
    pub operator_holder: Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRegistered {
    pub key: KeyId,
    /// Who holds the key (a person or a service).
    pub holder: Text,
}

/// A revoked key signs nothing from this record on, and cannot return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRevoked {
    pub key: KeyId,
    pub reason: Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub key: KeyId,
    pub role: Role,
    pub scope: Scope,
}

// ---------------------------------------------------------------------------
// The I&T Industry-Oriented Fund (fund of funds).

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    pub id: ThemeId,
    pub name: Text,
}

/// A government fund of funds and the rules its sub-funds must keep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FundEstablished {
    pub fund: FundId,
    pub name: Text,
    /// The government's total capital for the fund (HK$10bn for the ITIF).
    pub government_capital_cents: Money,
    pub themes: Vec<Theme>,
    /// Cap on the government's commitment to one sub-fund (HK$1bn).
    pub government_commitment_per_subfund_max_cents: Money,
    /// The government's share of a sub-fund's committed size, at most (2500 = 25%).
    pub government_share_max_bps: u32,
    /// A sub-fund's target size, at least (HK$2bn).
    pub subfund_target_size_min_cents: Money,
    /// Share of investment into Hong Kong enterprises a sub-fund must reach (5000 = 50%); reported.
    pub hk_enterprise_share_min_bps: u32,
    /// HK production-base spend by investees, as a share of fund size (2500 = 25%); reported.
    pub hk_production_spend_min_bps: u32,
    /// Capital calls and fees at or above this need two distinct authorised signers.
    pub dual_control_threshold_cents: Money,
    /// The government, investing last, commits only when the sub-fund's actual
    /// committed size (market plus government, this commitment included)
    /// reaches this (HK$2bn for the ITIF). Absent: not checked (records before 2026-12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subfund_committed_size_min_cents: Option<Money>,
    /// All sub-funds' committed sizes together, at least (HK$40bn for the ITIF); reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme_size_min_cents: Option<Money>,
    /// Further dual-control thresholds by event kind (fund kinds only); the
    /// lowest threshold that applies to an event wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub dual_control: Vec<DualControlRule>,
}

/// The kinds of event dual control can be set for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DualControlKind {
    /// `subfund.government_committed` (fund terms).
    GovernmentCommitment,
    /// `subfund.capital_called` (fund terms).
    CapitalCall,
    /// `subfund.fee_charged` (fund terms).
    Fee,
    /// `subfund.invested` (fund terms).
    Investment,
    /// `grant.approved`, by the grant amount (scheme terms).
    GrantApproval,
    /// `grant.spend_verified` (scheme terms).
    SpendVerification,
    /// `grant.disbursed` (scheme terms).
    Disbursement,
    /// `grant.clawed_back` (scheme terms).
    Clawback,
}

impl DualControlKind {
    /// Whether the kind belongs in a fund's terms (else in a scheme's).
    pub fn is_fund_kind(self) -> bool {
        matches!(self, Self::GovernmentCommitment | Self::CapitalCall | Self::Fee | Self::Investment)
    }
}

impl fmt::Display for DualControlKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::GovernmentCommitment => "government_commitment",
            Self::CapitalCall => "capital_call",
            Self::Fee => "fee",
            Self::Investment => "investment",
            Self::GrantApproval => "grant_approval",
            Self::SpendVerification => "spend_verification",
            Self::Disbursement => "disbursement",
            Self::Clawback => "clawback",
        })
    }
}

/// Events of `kind` whose amount is at or above `threshold_cents` need two
/// distinct authorised signers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DualControlRule {
    pub kind: DualControlKind,
    pub threshold_cents: Money,
}

/// A span of calendar days, both ends included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub starts: Date,
    pub ends: Date,
}

impl Period {
    pub fn contains(&self, date: &Date) -> bool {
        self.starts <= *date && *date <= self.ends
    }
}

impl fmt::Display for Period {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} to {}", self.starts, self.ends)
    }
}

/// A sub-fund (a Cap. 637 limited partnership run by a GP) joins a fund under a theme.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubFundAdmitted {
    pub fund: FundId,
    pub subfund: SubFundId,
    pub name: Text,
    pub theme: ThemeId,
    pub general_partner: Text,
    pub target_size_cents: Money,
    /// The investment period: production spend counts towards the HK
    /// production-base figure only when spent within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub investment_period: Option<Period>,
}

/// A market co-investor commits capital to a sub-fund.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketCommitted {
    pub subfund: SubFundId,
    pub investor: Text,
    pub amount_cents: Money,
}

/// The government commits capital to a sub-fund, as the last LP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GovernmentCommitted {
    pub subfund: SubFundId,
    pub amount_cents: Money,
}

/// A capital call paid in by the government (a contribution; part of paid-in capital).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapitalCalled {
    pub subfund: SubFundId,
    pub reference: Text,
    pub amount_cents: Money,
}

/// A distribution to the government; a recallable one restores unfunded commitment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Distributed {
    pub subfund: SubFundId,
    pub amount_cents: Money,
    pub recallable: bool,
}

/// The net asset value of the government's interest in a sub-fund, as of a date.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NavReported {
    pub subfund: SubFundId,
    pub as_of: Date,
    pub nav_cents: Money,
}

/// A sub-fund invests in an enterprise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Invested {
    pub subfund: SubFundId,
    pub investment: InvestmentId,
    pub investee: Text,
    pub amount_cents: Money,
    /// A Hong Kong enterprise, or one with substantive operations in Hong Kong.
    pub hk_enterprise: bool,
    /// An I&T / new-industrialisation enterprise (required: 100% of investments).
    pub innovation_technology: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WrittenOff {
    pub subfund: SubFundId,
    pub investment: InvestmentId,
    pub amount_cents: Money,
}

/// A management fee paid from the government's commitment (part of paid-in capital).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeCharged {
    pub subfund: SubFundId,
    pub period: Text,
    pub amount_cents: Money,
}

/// Spend by an investee on a Hong Kong production base.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductionSpendReported {
    pub subfund: SubFundId,
    pub investment: InvestmentId,
    pub period: Text,
    pub amount_cents: Money,
    /// When it was spent (the last day of the period it covers); required
    /// for a sub-fund admitted with an investment period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spent_on: Option<Date>,
}

// ---------------------------------------------------------------------------
// Matching-grant schemes.

/// A matching-grant scheme and all its parameters; absent caps do not apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeEstablished {
    pub scheme: SchemeId,
    pub name: Text,
    pub budget_cents: Money,
    /// Government parts per `enterprise_ratio` enterprise parts (1 : 2).
    pub government_ratio: u32,
    pub enterprise_ratio: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_grant_max_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_grant_max_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_cost_min_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_contribution_min_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects_per_enterprise_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_projects_per_enterprise_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_duration_months_max: Option<u32>,
    /// Disbursements only after the project is completed (NIFS).
    pub paid_on_completion: bool,
    /// Disbursements at or above this need two distinct authorised signers.
    pub dual_control_threshold_cents: Money,
    /// What `enterprise_grant_max_cents` counts: every grant ever (lifetime,
    /// the default) or the grants of projects not yet closed (concurrent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_cap_basis: Option<CapBasis>,
    /// Applications are received within this window (approvals name the date applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_window: Option<Period>,
    /// Initial payment and milestone instalments; absent: paid on reimbursement only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_schedule: Option<PaymentSchedule>,
    /// Eligibility attestations every approval must carry, each with evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub required_attestations: Vec<AttestationCode>,
    /// Further dual-control thresholds by event kind (scheme kinds only); the
    /// lowest threshold that applies to an event wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub dual_control: Vec<DualControlRule>,
}

/// What a per-enterprise cap counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapBasis {
    /// Every grant the enterprise (or its group) was ever approved, less what closed grants left undisbursed.
    Lifetime,
    /// Only the grants of projects not yet closed ("at any one time").
    Concurrent,
}

/// When a grant may be paid besides reimbursement: an initial payment on
/// approval and instalments as milestones are accepted, as shares of the
/// approved grant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentSchedule {
    /// Payable on approval, before any spend (basis points of the grant).
    pub initial_payment_bps: u32,
    /// Each milestone's instalment, in order (basis points of the grant);
    /// with the initial payment at most 10000 in all.
    #[schemars(length(max = 24))]
    pub milestone_instalments_bps: Vec<u32>,
    /// Instalments (not the initial payment) are also bounded by the
    /// government's share of net eligible spend.
    pub instalments_reimburse_spend: bool,
}

/// An eligibility attestation with the evidence that supports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub code: AttestationCode,
    pub evidence_sha256: EvidenceDigest,
}

/// Changes a scheme's terms for grants approved on or after `effective_from`,
/// and may top its budget up (at once). Absent members keep their terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemeAmended {
    pub scheme: SchemeId,
    pub effective_from: Date,
    /// Why, and the published source of the change.
    pub reason: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_top_up_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_grant_max_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_grant_max_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_cost_min_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise_contribution_min_cents: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects_per_enterprise_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_projects_per_enterprise_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_duration_months_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_window: Option<Period>,
}

impl SchemeAmended {
    /// An amendment that changes nothing yet: set the members that change.
    pub fn new(scheme: SchemeId, effective_from: Date, reason: Text) -> SchemeAmended {
        SchemeAmended {
            scheme,
            effective_from,
            reason,
            budget_top_up_cents: None,
            project_grant_max_cents: None,
            enterprise_grant_max_cents: None,
            project_cost_min_cents: None,
            enterprise_contribution_min_cents: None,
            projects_per_enterprise_max: None,
            concurrent_projects_per_enterprise_max: None,
            project_duration_months_max: None,
            application_window: None,
        }
    }
}

/// Enterprises under common ownership: per-enterprise caps and project
/// counts apply to the group from this record on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterprisesAssociated {
    #[schemars(length(min = 2, max = 32))]
    pub enterprises: Vec<EnterpriseId>,
    /// The basis (e.g. common shareholder and the share held).
    pub basis: Text,
    pub evidence_sha256: EvidenceDigest,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantApproved {
    pub scheme: SchemeId,
    pub grant: GrantId,
    pub enterprise: EnterpriseId,
    pub enterprise_name: Text,
    pub project: Text,
    pub approved_cost_cents: Money,
    pub grant_cents: Money,
    pub duration_months: u32,
    /// When the application was received; required by a scheme with an application window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_on: Option<Date>,
    /// The eligibility attestations the scheme requires, with evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub attestations: Vec<Attestation>,
}

/// Eligible project spend verified against evidence (anchored by its SHA-256).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendVerified {
    pub grant: GrantId,
    pub amount_cents: Money,
    pub evidence_sha256: EvidenceDigest,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCompleted {
    pub grant: GrantId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantDisbursed {
    pub grant: GrantId,
    pub amount_cents: Money,
    pub payment_reference: Text,
}

/// Money returned from a grant. With a `reason_code`, ineligible spend and
/// overpayment return at most what the grant is overpaid (disallow the spend
/// first), and money recovered for a breach of conditions or on termination
/// is never paid again. Without one (records before 2026-12): money returned,
/// payable again within the reimbursement rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantClawedBack {
    pub grant: GrantId,
    pub amount_cents: Money,
    pub reason: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<ClawbackReason>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClawbackReason {
    IneligibleSpend,
    BreachOfConditions,
    Overpayment,
    Termination,
}

impl ClawbackReason {
    /// Money recovered for this reason is never paid again on the grant.
    pub fn forfeits(self) -> bool {
        matches!(self, Self::BreachOfConditions | Self::Termination)
    }
}

impl fmt::Display for ClawbackReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::IneligibleSpend => "ineligible_spend",
            Self::BreachOfConditions => "breach_of_conditions",
            Self::Overpayment => "overpayment",
            Self::Termination => "termination",
        })
    }
}

/// Why verified spend is disallowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DisallowanceReason {
    IneligibleItem,
    NotIncurred,
    OutsideProjectPeriod,
    InsufficientEvidence,
    DuplicateClaim,
}

/// Verified spend found ineligible (on audit, say): net eligible spend is
/// verified less disallowed, and the reimbursement rule uses it.
/// `evidence_sha256` names the evidence whose spend is disallowed: it must
/// support spend on this grant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendDisallowed {
    pub grant: GrantId,
    pub amount_cents: Money,
    pub reason: DisallowanceReason,
    pub evidence_sha256: EvidenceDigest,
}

/// A milestone of a grant's payment schedule is accepted (in order, from 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneAccepted {
    pub grant: GrantId,
    pub milestone: u32,
    pub evidence_sha256: EvidenceDigest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Completed,
    Withdrawn,
    Terminated,
}

/// A grant is closed: what was not disbursed returns to the scheme's budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantClosed {
    pub grant: GrantId,
    pub reason: CloseReason,
}

// ---------------------------------------------------------------------------
// The catalogue.

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident($data:ident) = $name:literal => $code:literal ),* $(,)?) => {
        /// Every kind of event, with its data. Wire form: `"type"` and `"data"`.
        #[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
        #[serde(tag = "type", content = "data")]
        pub enum Event {
            $( $(#[$doc])* #[serde(rename = $name)] $variant($data), )*
        }

        impl Event {
            /// Every event type, in catalogue order.
            pub const TYPES: &'static [&'static str] = &[$($name),*];

            /// Every event type and its stable code, in catalogue order.
            pub const CODES: &'static [(&'static str, u8)] = &[$(($name, $code)),*];

            pub fn type_name(&self) -> &'static str {
                match self { $(Event::$variant(_) => $name,)* }
            }

            /// The event type's stable code: what stores keep instead of the
            /// name (the projector's index of events by entity). A code never
            /// changes and is never reused, whatever the catalogue's order.
            pub fn code(&self) -> u8 {
                match self { $(Event::$variant(_) => $code,)* }
            }

            /// The event type whose stable code is `code`.
            pub fn type_of_code(code: u8) -> Option<&'static str> {
                match code { $($code => Some($name),)* _ => None }
            }

            /// The event's `data` as JSON (the wire form's `data` member).
            pub fn data_json(&self) -> Result<serde_json::Value, serde_json::Error> {
                match self { $(Event::$variant(data) => serde_json::to_value(data),)* }
            }

            /// Parses the `data` of an event of type `event_type`.
            pub fn from_parts(event_type: &str, data: &str) -> Result<Event, EventError> {
                match event_type {
                    $($name => serde_json::from_str::<$data>(data)
                        .map(Event::$variant)
                        .map_err(|error| EventError::Data { event_type: $name, message: error.to_string() }),)*
                    other => Err(EventError::UnknownType(other.chars().take(64).collect())),
                }
            }

            /// The JSON Schema of each event type's `data`, by type name.
            pub fn data_schemas() -> Vec<(&'static str, schemars::schema::RootSchema)> {
                vec![$(($name, schemars::schema_for!($data)),)*]
            }
        }
    };
}

// Each type's code (after `=>`) is its stable number in stores: codes are
// never changed or reused; a new type takes the next unused one.
catalogue! {
    LedgerGenesis(LedgerGenesis) = "ledger.genesis" => 0,
    KeyRegistered(KeyRegistered) = "key.registered" => 1,
    KeyRevoked(KeyRevoked) = "key.revoked" => 2,
    RoleGranted(RoleChange) = "role.granted" => 3,
    RoleRevoked(RoleChange) = "role.revoked" => 4,
    FundEstablished(FundEstablished) = "fund.established" => 5,
    SubFundAdmitted(SubFundAdmitted) = "subfund.admitted" => 6,
    MarketCommitted(MarketCommitted) = "subfund.market_committed" => 7,
    GovernmentCommitted(GovernmentCommitted) = "subfund.government_committed" => 8,
    CapitalCalled(CapitalCalled) = "subfund.capital_called" => 9,
    Distributed(Distributed) = "subfund.distributed" => 10,
    NavReported(NavReported) = "subfund.nav_reported" => 11,
    Invested(Invested) = "subfund.invested" => 12,
    WrittenOff(WrittenOff) = "subfund.written_off" => 13,
    FeeCharged(FeeCharged) = "subfund.fee_charged" => 14,
    ProductionSpendReported(ProductionSpendReported) = "subfund.production_spend_reported" => 15,
    SchemeEstablished(SchemeEstablished) = "scheme.established" => 16,
    GrantApproved(GrantApproved) = "grant.approved" => 17,
    SpendVerified(SpendVerified) = "grant.spend_verified" => 18,
    GrantCompleted(GrantCompleted) = "grant.completed" => 19,
    GrantDisbursed(GrantDisbursed) = "grant.disbursed" => 20,
    GrantClawedBack(GrantClawedBack) = "grant.clawed_back" => 21,
    GrantClosed(GrantClosed) = "grant.closed" => 22,
    SchemeAmended(SchemeAmended) = "scheme.amended" => 23,
    SpendDisallowed(SpendDisallowed) = "grant.spend_disallowed" => 24,
    MilestoneAccepted(MilestoneAccepted) = "grant.milestone_accepted" => 25,
    EnterprisesAssociated(EnterprisesAssociated) = "enterprise.associated" => 26,
}

/// What an actor signs: the event and its metadata.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct EventBody {
    /// Format version; always 1.
    pub v: u32,
    /// Unique forever within the ledger; the idempotency key.
    pub id: EventId,
    /// The ledger this event is for; a signature for one ledger is useless on another.
    pub ledger: LedgerId,
    /// When it happened, per the actor (cash-flow dates for IRR come from here).
    pub occurred_at: Timestamp,
    /// The keys that sign this body, in the order of the signatures.
    pub signers: Vec<KeyId>,
    #[serde(flatten)]
    pub event: Event,
}

/// A body's content without its signers: see [`EventBody::content_from_json`].
#[derive(Clone, Debug, PartialEq)]
pub struct BodyContent {
    pub id: EventId,
    pub ledger: LedgerId,
    pub occurred_at: Timestamp,
    pub event: Event,
}

/// The body as it arrives, before its `data` is parsed by type; `Signers`
/// is `Vec<KeyId>` (keys checked) or `IgnoredAny` (keys skipped).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody<'a, Signers> {
    v: u32,
    id: EventId,
    ledger: LedgerId,
    occurred_at: Timestamp,
    signers: Signers,
    #[serde(rename = "type")]
    event_type: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
}

impl EventBody {
    /// Parses and checks a body from JSON text.
    pub fn from_json(json: &str) -> Result<EventBody, EventError> {
        let raw: RawBody<Vec<KeyId>> = serde_json::from_str(json).map_err(|error| EventError::Body(error.to_string()))?;
        if raw.v != EVENT_FORMAT_VERSION {
            return Err(EventError::Version(raw.v));
        }
        let event = Event::from_parts(&raw.event_type, raw.data.get())?;
        let body = EventBody { v: raw.v, id: raw.id, ledger: raw.ledger, occurred_at: raw.occurred_at, signers: raw.signers, event };
        body.check_signers()?;
        Ok(body)
    }

    /// What a reader that verifies no signature needs of a body: id, ledger,
    /// time and event. The signer keys are skipped, not checked (checking one
    /// costs an ed25519 point decompression).
    pub fn content_from_json(json: &str) -> Result<BodyContent, EventError> {
        let raw: RawBody<serde::de::IgnoredAny> = serde_json::from_str(json).map_err(|error| EventError::Body(error.to_string()))?;
        if raw.v != EVENT_FORMAT_VERSION {
            return Err(EventError::Version(raw.v));
        }
        let event = Event::from_parts(&raw.event_type, raw.data.get())?;
        Ok(BodyContent { id: raw.id, ledger: raw.ledger, occurred_at: raw.occurred_at, event })
    }

    /// One to [`SIGNERS_MAX`] signers, all distinct (dual control counts keys).
    pub fn check_signers(&self) -> Result<(), EventError> {
        if self.signers.is_empty() || self.signers.len() > SIGNERS_MAX {
            return Err(EventError::SignerCount(self.signers.len()));
        }
        for (index, signer) in self.signers.iter().enumerate() {
            if self.signers[..index].contains(signer) {
                return Err(EventError::DuplicateSigner(*signer));
            }
        }
        Ok(())
    }

    pub fn type_name(&self) -> &'static str {
        self.event.type_name()
    }
}

impl<'de> Deserialize<'de> for EventBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        EventBody::from_json(value.get()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(data: &str, event_type: &str) -> String {
        let key = crate::crypto::SecretKey::from_seed_label("alice").key_id();
        format!(r#"{{"v":1,"id":"e1","ledger":"hk","occurred_at":"2026-01-01T00:00:00Z","signers":["{key}"],"type":"{event_type}","data":{data}}}"#)
    }

    #[test]
    fn parses_a_body_and_writes_it_back() {
        let json = body_json(r#"{"grant":"g1","amount_cents":100,"payment_reference":"PAY-1"}"#, "grant.disbursed");
        let body = EventBody::from_json(&json).unwrap();
        assert_eq!(body.type_name(), "grant.disbursed");
        let again = serde_json::to_string(&body).unwrap();
        assert_eq!(EventBody::from_json(&again).unwrap(), body);
    }

    #[test]
    fn refuses_unknown_fields_types_and_bad_values() {
        let unknown_field = body_json(r#"{"grant":"g1","amount_cents":100,"payment_reference":"P","extra":1}"#, "grant.disbursed");
        assert!(matches!(EventBody::from_json(&unknown_field), Err(EventError::Data { .. })));
        let unknown_type = body_json(r#"{}"#, "grant.teleported");
        assert!(matches!(EventBody::from_json(&unknown_type), Err(EventError::UnknownType(_))));
        let negative = body_json(r#"{"grant":"g1","amount_cents":-100,"payment_reference":"P"}"#, "grant.disbursed");
        let message = EventBody::from_json(&negative).unwrap_err().to_string();
        assert!(message.contains("negative"), "{message}");
        let top_level_extra = body_json("{}", "grant.completed").replace("\"v\":1", "\"v\":1,\"x\":2");
        assert!(matches!(EventBody::from_json(&top_level_extra), Err(EventError::Body(_))));
        assert!(matches!(EventBody::from_json("{"), Err(EventError::Body(_))));
        let version = body_json(r#"{"grant":"g1"}"#, "grant.completed").replace("\"v\":1", "\"v\":2");
        assert!(matches!(EventBody::from_json(&version), Err(EventError::Version(2))));
    }

    #[test]
    fn bodies_from_before_issue_19_read_and_write_the_same_bytes() {
        // Absent new members mean the old rules, and are written absent again,
        // so an old record's canonical bytes (hence its hashes) do not change.
        let old = [
            (r#"{"grant":"g1","amount_cents":100,"reason":"audit"}"#, "grant.clawed_back"),
            (
                r#"{"scheme":"s","grant":"g1","enterprise":"e","enterprise_name":"E","project":"P","approved_cost_cents":3,"grant_cents":1,"duration_months":1}"#,
                "grant.approved",
            ),
            (r#"{"fund":"f","subfund":"s","name":"S","theme":"t","general_partner":"G","target_size_cents":1}"#, "subfund.admitted"),
            (r#"{"subfund":"s","investment":"i","period":"2026","amount_cents":1}"#, "subfund.production_spend_reported"),
            (
                r#"{"scheme":"s","name":"S","budget_cents":1,"government_ratio":1,"enterprise_ratio":2,"paid_on_completion":false,"dual_control_threshold_cents":1}"#,
                "scheme.established",
            ),
        ];
        for (data, event_type) in old {
            let json = body_json(data, event_type);
            let body = EventBody::from_json(&json).unwrap();
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            let written = crate::canonical::to_canonical_bytes(&body).unwrap();
            assert_eq!(written, crate::canonical::canonicalize(&value).unwrap(), "{event_type}");
        }
        let fund = serde_json::to_value(crate::presets::itif_v1("itf")).unwrap();
        assert!(fund.get("dual_control").is_none() && fund.get("subfund_committed_size_min_cents").is_none(), "{fund}");
    }

    /// The codes the read models were written with when codes were introduced
    /// (then each type's position in the catalogue): they must never change.
    const CODES_AS_STORED: [(&str, u8); 27] = [
        ("ledger.genesis", 0),
        ("key.registered", 1),
        ("key.revoked", 2),
        ("role.granted", 3),
        ("role.revoked", 4),
        ("fund.established", 5),
        ("subfund.admitted", 6),
        ("subfund.market_committed", 7),
        ("subfund.government_committed", 8),
        ("subfund.capital_called", 9),
        ("subfund.distributed", 10),
        ("subfund.nav_reported", 11),
        ("subfund.invested", 12),
        ("subfund.written_off", 13),
        ("subfund.fee_charged", 14),
        ("subfund.production_spend_reported", 15),
        ("scheme.established", 16),
        ("grant.approved", 17),
        ("grant.spend_verified", 18),
        ("grant.completed", 19),
        ("grant.disbursed", 20),
        ("grant.clawed_back", 21),
        ("grant.closed", 22),
        ("scheme.amended", 23),
        ("grant.spend_disallowed", 24),
        ("grant.milestone_accepted", 25),
        ("enterprise.associated", 26),
    ];

    #[test]
    fn every_type_has_a_distinct_stable_code() {
        assert_eq!(Event::CODES.len(), Event::TYPES.len());
        let mut codes: Vec<u8> = Event::CODES.iter().map(|(_, code)| *code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Event::TYPES.len(), "two event types share a code");
        for (name, code) in Event::CODES {
            assert_eq!(Event::type_of_code(*code), Some(*name));
        }
        for (name, code) in CODES_AS_STORED {
            assert!(Event::CODES.contains(&(name, code)), "{name} must keep code {code}");
        }
        assert_eq!(Event::type_of_code(u8::MAX), None);
    }

    #[test]
    fn an_events_code_is_its_types() {
        let event = Event::GrantCompleted(GrantCompleted { grant: "g1".parse().unwrap() });
        assert_eq!(Event::type_of_code(event.code()), Some(event.type_name()));
        assert_eq!(event.code(), 19);
    }

    #[test]
    fn every_type_has_a_schema() {
        let schemas = Event::data_schemas();
        assert_eq!(schemas.len(), Event::TYPES.len());
    }

    #[test]
    fn codes_print_as_their_wire_names() {
        for kind in [DualControlKind::GovernmentCommitment, DualControlKind::Fee, DualControlKind::GrantApproval, DualControlKind::Clawback] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.to_string());
        }
        for reason in [ClawbackReason::IneligibleSpend, ClawbackReason::BreachOfConditions, ClawbackReason::Overpayment, ClawbackReason::Termination] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.to_string());
        }
    }

    #[test]
    fn scopes_round_trip() {
        for text in ["ledger", "fund:itf", "scheme:nias"] {
            assert_eq!(Scope::parse(text).unwrap().to_string(), text);
        }
        assert!(Scope::parse("fund:").is_err());
        assert!(Scope::parse("grant:x").is_err());
    }
}
