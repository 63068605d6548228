//! A broken rule is a value, not a panic: it names the rule (a stable code
//! that clients and the HTTP API can match on) and the figures involved.

use std::fmt;

use thiserror::Error;

macro_rules! rules {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal ),* $(,)?) => {
        /// Every rule the state machine enforces, with its stable code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Rule { $( $(#[$doc])* $variant, )* }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];
            /// The stable code, e.g. `government_commitment_cap`.
            pub fn code(self) -> &'static str {
                match self { $(Rule::$variant => $code,)* }
            }
        }
    };
}

rules! {
    /// The first record of a ledger must be `ledger.genesis`.
    GenesisFirst = "genesis_first",
    /// A ledger has exactly one genesis.
    GenesisOnce = "genesis_once",
    /// Genesis is signed by the operator key it names, alone.
    GenesisSigner = "genesis_signer",
    /// An event is for the ledger it is recorded in.
    LedgerMismatch = "ledger_mismatch",
    /// Every signer is a registered key.
    SignerUnknown = "signer_unknown",
    /// A revoked key signs nothing.
    SignerRevoked = "signer_revoked",
    /// Every signer holds the role the event needs, for its fund or scheme.
    SignerUnauthorised = "signer_unauthorised",
    /// Money leaving the government at or above the threshold needs two distinct authorised signers.
    DualControl = "dual_control",
    /// A key is registered once, and a revoked key never returns.
    KeyRegisteredTwice = "key_registered_twice",
    /// The key must be registered and not revoked.
    KeyUnusable = "key_unusable",
    /// A role is granted once per scope, and only a granted role can be revoked.
    RoleState = "role_state",
    /// The admin, auditor and reporting roles exist only at ledger scope.
    AdminScope = "admin_scope",
    /// The ledger must keep at least one admin.
    LastAdmin = "last_admin",
    /// Ids of funds, sub-funds, investments, schemes and grants are unique.
    AlreadyExists = "already_exists",
    /// The event refers to something that does not exist.
    NotFound = "not_found",
    /// Parameters must make sense (shares at most 100%, ratios positive, ...).
    InvalidParameter = "invalid_parameter",
    /// Amounts that move money are positive.
    AmountPositive = "amount_positive",
    /// A sum would exceed the largest representable amount.
    AmountOverflow = "amount_overflow",
    /// A sub-fund's target size is at least the fund's minimum.
    SubFundTargetSizeMin = "subfund_target_size_min",
    /// A sub-fund's theme is one of its fund's themes.
    ThemeUnknown = "theme_unknown",
    /// The government's commitment to one sub-fund is at most the per-sub-fund cap.
    GovernmentCommitmentCap = "government_commitment_cap",
    /// The government's commitment is at most its maximum share of the sub-fund's committed size.
    GovernmentShareMax = "government_share_max",
    /// Government commitments across sub-funds fit the fund's government capital.
    FundCapital = "fund_capital",
    /// Calls and fees fit the uncalled commitment (recallable distributions restore it).
    UncalledCommitment = "uncalled_commitment",
    /// Recallable distributions never exceed paid-in capital.
    RecallableDistribution = "recallable_distribution",
    /// NAV reports never go back in time.
    NavDateOrder = "nav_date_order",
    /// Sub-funds invest only in I&T / new-industrialisation enterprises.
    InnovationTechnologyOnly = "innovation_technology_only",
    /// Investments fit the sub-fund's committed capital.
    InvestmentCapacity = "investment_capacity",
    /// Write-offs never exceed an investment's remaining cost.
    WriteOffCost = "write_off_cost",
    /// An investment is referred to through its own sub-fund.
    InvestmentSubFund = "investment_subfund",
    /// A grant is at most the government's share of the approved project cost (1 part in 3 at 1:2).
    GrantCostShare = "grant_cost_share",
    /// A grant is at most the scheme's per-project cap.
    ProjectGrantCap = "project_grant_cap",
    /// An enterprise's grants in a scheme are at most the per-enterprise cap.
    EnterpriseGrantCap = "enterprise_grant_cap",
    /// An enterprise has at most so many projects in a scheme.
    ProjectsPerEnterprise = "projects_per_enterprise",
    /// An enterprise has at most so many open projects at once in a scheme.
    ConcurrentProjects = "concurrent_projects",
    /// A project's approved cost is at least the scheme's minimum.
    ProjectCostMin = "project_cost_min",
    /// The enterprise's own contribution is at least the scheme's minimum.
    EnterpriseContributionMin = "enterprise_contribution_min",
    /// A project's duration is at most the scheme's maximum.
    ProjectDurationMax = "project_duration_max",
    /// A scheme's commitments never exceed its budget.
    SchemeBudget = "scheme_budget",
    /// Verified spend never exceeds the approved project cost.
    SpendExceedsCost = "spend_exceeds_cost",
    /// The grant is in a state that allows the event (open, completed, closed).
    GrantStatus = "grant_status",
    /// Net disbursement (plus forfeited money) is at most the government's share of net eligible spend: verified less disallowed (reimbursement basis).
    ReimbursementShare = "reimbursement_share",
    /// Net disbursement is at most the approved grant.
    ApprovedGrant = "approved_grant",
    /// A clawback never exceeds what was disbursed and not yet clawed back.
    ClawbackExceedsDisbursed = "clawback_exceeds_disbursed",
    /// One piece of evidence supports spend once in a ledger, across grants and schemes.
    EvidenceReused = "evidence_reused",
    /// A disallowance names evidence of spend on the same grant, and disallows at most that spend.
    DisallowanceEvidence = "disallowance_evidence",
    /// A clawback for ineligible spend or overpayment returns at most what the grant is overpaid.
    ClawbackReason = "clawback_reason",
    /// With a payment schedule, net disbursement is at most the initial payment and accepted instalments (and reimbursement where the terms say so).
    PaymentSchedule = "payment_schedule",
    /// Milestones are accepted in order, and only those the schedule has.
    MilestoneOrder = "milestone_order",
    /// An application was received within the scheme's application window.
    ApplicationWindow = "application_window",
    /// An approval carries every attestation the scheme requires.
    AttestationMissing = "attestation_missing",
    /// Scheme amendments are recorded in order of their effective dates.
    AmendmentOrder = "amendment_order",
    /// The government commits last: the sub-fund's committed size with its commitment reaches the minimum size.
    SubFundCommittedSizeMin = "subfund_committed_size_min",
    /// Production spend of a sub-fund with an investment period says when it was spent.
    ProductionSpendDate = "production_spend_date",
}

impl fmt::Display for Rule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.code())
    }
}

/// An event that breaks a rule. Applying it changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} (rule {rule})")]
pub struct Violation {
    pub rule: Rule,
    pub message: String,
}

impl Violation {
    pub fn new(rule: Rule, message: impl Into<String>) -> Violation {
        Violation { rule, message: message.into() }
    }
}
